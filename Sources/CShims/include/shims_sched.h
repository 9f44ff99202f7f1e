// Scheduling shims (SCHED_FIFO, affinity, mlockall, eventfd, clocks). Owned by RTUScheduler.
#ifndef RTU_SHIMS_SCHED_H
#define RTU_SHIMS_SCHED_H
#include <stdint.h>
#include <stddef.h>

#endif
