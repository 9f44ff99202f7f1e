// Daemon shims (signals). Owned by the rtud target.
#ifndef RTU_SHIMS_DAEMON_H
#define RTU_SHIMS_DAEMON_H
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

/// signalfd(2) with SFD_NONBLOCK|SFD_CLOEXEC for `signals` (which the caller
/// has blocked). Exists because <sys/signalfd.h> is not part of Swift's Glibc
/// module. Returns the descriptor or -1 with errno set.
static inline int rtu_signalfd(const sigset_t *signals) {
    return signalfd(-1, signals, SFD_NONBLOCK | SFD_CLOEXEC);
}

/// The signal number in a signalfd record (the record's layout is not
/// imported either).
static inline int rtu_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    return n == (ssize_t)sizeof info ? (int)info.ssi_signo : -1;
}
#endif
