#include "shims_link.h"
