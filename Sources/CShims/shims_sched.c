// Scheduling shims for RTUScheduler; see shims_sched.h for the contracts.
#define _GNU_SOURCE
#include "shims_sched.h"
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>

int rtu_sched_pin_self(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : errno;
}

int rtu_sched_set_fifo_self(int priority) {
    struct sched_param p = { .sched_priority = priority };
    return sched_setscheduler(0, SCHED_FIFO, &p) == 0 ? 0 : errno;
}

int rtu_sched_set_timerslack_self(unsigned long nanoseconds) {
    return prctl(PR_SET_TIMERSLACK, nanoseconds, 0, 0, 0) == 0 ? 0 : errno;
}

int rtu_sched_lock_memory(void) {
    if (mlockall(MCL_CURRENT) != 0) return errno;
    // Without MCL_CURRENT this only sets how later mappings are locked; the
    // current ones stay populated and locked.
    return mlockall(MCL_FUTURE | MCL_ONFAULT) == 0 ? 0 : errno;
}

int rtu_sched_has_capability(int cap) {
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2] = {{0}};
    if (syscall(SYS_capget, &hdr, data) != 0) return -errno;
    if (cap < 0 || cap >= 64) return 0;
    return (data[cap / 32].effective >> (cap % 32)) & 1u;
}

int rtu_sched_cap_sys_nice(void) { return CAP_SYS_NICE; }
int rtu_sched_cap_ipc_lock(void) { return CAP_IPC_LOCK; }

static uint64_t soft_limit(int resource) {
    struct rlimit r;
    if (getrlimit(resource, &r) != 0) return 0;
    return r.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)r.rlim_cur;
}

uint64_t rtu_sched_rlimit_rtprio(void) { return soft_limit(RLIMIT_RTPRIO); }
uint64_t rtu_sched_rlimit_memlock(void) { return soft_limit(RLIMIT_MEMLOCK); }

int rtu_sched_fifo_max_priority(void) { return sched_get_priority_max(SCHED_FIFO); }

int64_t rtu_sched_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t rtu_sched_thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int rtu_sched_sleep_until(int64_t deadline_ns) {
    struct timespec ts = { .tv_sec = deadline_ns / 1000000000LL, .tv_nsec = deadline_ns % 1000000000LL };
    return clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

int rtu_sched_eventfd(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

int rtu_sched_eventfd_ring(int fd) {
    uint64_t one = 1;
    for (;;) {
        if (write(fd, &one, sizeof one) == (ssize_t)sizeof one) return 0;
        if (errno == EINTR) continue;
        return errno == EAGAIN ? 0 : errno;
    }
}

int rtu_sched_eventfd_drain(int fd) {
    uint64_t value;
    for (;;) {
        if (read(fd, &value, sizeof value) == (ssize_t)sizeof value) return 0;
        if (errno == EINTR) continue;
        return errno == EAGAIN ? 0 : errno;
    }
}

int rtu_sched_epoll_for(int event_fd) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return -errno;
    struct epoll_event ev = { .events = EPOLLIN, .data = { .u64 = 0 } };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, event_fd, &ev) != 0) {
        int e = errno;
        close(ep);
        return -e;
    }
    return ep;
}

/// A relative timeout in nanoseconds as the timespec pointer epoll_pwait2
/// and ppoll take: `ts` filled, or NULL (wait forever) for a negative one.
static struct timespec *timeout_timespec(int64_t timeout_ns, struct timespec *ts) {
    if (timeout_ns < 0) return NULL;
    ts->tv_sec = timeout_ns / 1000000000LL;
    ts->tv_nsec = timeout_ns % 1000000000LL;
    return ts;
}

int rtu_sched_epoll_wait_tokens(int epfd, uint64_t *tokens, int max, int64_t timeout_ns) {
    struct epoll_event evs[16];
    struct timespec ts;
    if (max > 16) max = 16;
    int n = epoll_pwait2(epfd, evs, max, timeout_timespec(timeout_ns, &ts), NULL);
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) tokens[i] = evs[i].data.u64;
    return n;
}

int rtu_sched_epoll_watch(int epfd, int fd, uint64_t token) {
    struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data = { .u64 = token } };
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : errno;
}

int rtu_sched_epoll_unwatch(int epfd, int fd) {
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL) == 0 ? 0 : errno;
}

int rtu_sched_epoll_watch_oneshot(int epfd, int fd, uint64_t token) {
    struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data = { .u64 = token } };
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : errno;
}

int rtu_sched_epoll_rearm(int epfd, int fd, uint64_t token) {
    struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data = { .u64 = token } };
    return epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) == 0 ? 0 : errno;
}

int rtu_sched_wait_readable(int fd, int64_t timeout_ns) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    struct timespec ts;
    int n = ppoll(&p, 1, timeout_timespec(timeout_ns, &ts), NULL);
    return n >= 0 ? n : -errno;
}

int rtu_sched_close(int fd) { return close(fd) == 0 ? 0 : errno; }
