// CShims: the few C calls Swift cannot make directly (ARCHITECTURE.md).
// Every symbol is prefixed `rtu_`. Each area has its own header, owned by the
// module that uses it; this umbrella only includes them.
#ifndef RTU_CSHIMS_H
#define RTU_CSHIMS_H

#include "shims_link.h"
#include "shims_sched.h"
#include "shims_daemon.h"
#include "shims_atomic.h"
#include "shims_service.h"
#include "shims_control.h"
#include "shims_shm.h"

#endif
