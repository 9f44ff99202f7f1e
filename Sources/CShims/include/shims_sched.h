// Scheduling shims (SCHED_FIFO, affinity, mlockall, eventfd, epoll, clocks).
// Owned by RTUScheduler. Each function exists because Swift cannot express
// the C call directly (cpu_set_t macros, struct layouts of capget, variadic
// prctl) or because a single call site keeps errno handling in one place.
// No function returns -1 with errno set: the error is in the return value,
// not a racy global. Those that return a descriptor or a count return -errno
// on failure; the others return 0 on success or a positive errno value.
#ifndef RTU_SHIMS_SCHED_H
#define RTU_SHIMS_SCHED_H
#include <stdint.h>
#include <stddef.h>

/// Pins the calling thread to one CPU (sched_setaffinity on tid 0).
int rtu_sched_pin_self(int cpu);

/// Switches the calling thread to SCHED_FIFO at `priority`
/// (sched_setscheduler on tid 0). EPERM when neither CAP_SYS_NICE nor
/// RLIMIT_RTPRIO permits it.
int rtu_sched_set_fifo_self(int priority);

/// Sets the calling thread's timer slack (prctl PR_SET_TIMERSLACK). SCHED_OTHER
/// threads get 50 us by default, which would add to every wake-up.
int rtu_sched_set_timerslack_self(unsigned long nanoseconds);

/// mlockall(MCL_CURRENT), then mlockall(MCL_FUTURE | MCL_ONFAULT): what is
/// mapped now is populated and locked; what is mapped later is locked page by
/// page as it is first touched, not populated whole. Sockets' shared rings
/// are mapped later, and populating them would make every idle socket cost
/// both its rings (512 KiB with rtud's) instead of a few pages.
int rtu_sched_lock_memory(void);

/// Whether `cap` (a CAP_* number) is in the process's effective set (capget).
/// 1 yes, 0 no, -errno when capget failed.
int rtu_sched_has_capability(int cap);

/// The CAP_* numbers the scheduler checks, so Swift needs no kernel header.
int rtu_sched_cap_sys_nice(void);
int rtu_sched_cap_ipc_lock(void);

/// Soft RLIMIT_RTPRIO (or RLIMIT_MEMLOCK); UINT64_MAX means unlimited.
uint64_t rtu_sched_rlimit_rtprio(void);
uint64_t rtu_sched_rlimit_memlock(void);

/// Highest SCHED_FIFO priority on this system (sched_get_priority_max).
int rtu_sched_fifo_max_priority(void);

/// CLOCK_MONOTONIC in nanoseconds.
int64_t rtu_sched_monotonic_ns(void);

/// CLOCK_THREAD_CPUTIME_ID of the calling thread in nanoseconds.
int64_t rtu_sched_thread_cpu_ns(void);

/// clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) until `deadline_ns`;
/// returns 0 or EINTR (the caller re-evaluates instead of looping here).
int rtu_sched_sleep_until(int64_t deadline_ns);

/// A non-blocking, close-on-exec eventfd; returns fd or -errno.
int rtu_sched_eventfd(void);

/// Adds 1 to an eventfd. EAGAIN (counter saturated) counts as success: the
/// reader is woken either way.
int rtu_sched_eventfd_ring(int fd);

/// Reads (and so resets) an eventfd; EAGAIN is not an error.
int rtu_sched_eventfd_drain(int fd);

/// An epoll instance watching `event_fd` for input (token 0); returns epfd or -errno.
int rtu_sched_epoll_for(int event_fd);

/// Waits on `epfd` for at most `timeout_ns` (< 0: forever) with nanosecond
/// resolution (epoll_pwait2; epoll_wait would round to milliseconds) and
/// reports up to `max` (at most 16) ready events: the `data.u64` each was
/// registered with goes to `tokens`. Returns their number (0 on timeout) or
/// -errno.
int rtu_sched_epoll_wait_tokens(int epfd, uint64_t *tokens, int max, int64_t timeout_ns);

/// Adds `fd` to `epfd`, edge-triggered for input, with `token` as its data;
/// returns 0 or errno.
int rtu_sched_epoll_watch(int epfd, int fd, uint64_t token);

/// Removes `fd` from `epfd`; returns 0 or errno.
int rtu_sched_epoll_unwatch(int epfd, int fd);

/// Adds `fd` to `epfd` for input, one-shot (EPOLLONESHOT): reported once,
/// then disabled until `rtu_sched_epoll_rearm`. Returns 0 or errno.
int rtu_sched_epoll_watch_oneshot(int epfd, int fd, uint64_t token);

/// Enables a one-shot `fd` again (EPOLL_CTL_MOD). The kernel polls it
/// then, so a descriptor already readable is reported at once: nothing that
/// arrived while it was disabled is missed. Returns 0 or errno.
int rtu_sched_epoll_rearm(int epfd, int fd, uint64_t token);

/// Waits up to `timeout_ns` (< 0: forever) for `fd` to become readable
/// (poll(2) with ppoll's nanosecond timeout); returns 1 readable, 0 timeout,
/// or -errno. EINTR is returned, not retried (the caller re-evaluates).
int rtu_sched_wait_readable(int fd, int64_t timeout_ns);

/// close(2) returning errno.
int rtu_sched_close(int fd);

#endif
