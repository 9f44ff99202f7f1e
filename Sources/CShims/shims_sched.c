#include "shims_sched.h"
