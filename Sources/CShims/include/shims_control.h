// Control-socket shims (AF_UNIX SOCK_SEQPACKET). Owned by the Control module.
//
// Why C: descriptors travel as SCM_RIGHTS control messages, whose buffers are
// laid out with the CMSG_* macros Swift cannot use; SO_PEERCRED fills a
// `struct ucred`, which Glibc only declares under _GNU_SOURCE; `struct
// sockaddr_un` keeps its path in a fixed char array that is clumsy from Swift.
// Every function returns a non-negative value on success and -errno on
// failure, read immediately after the failing call.
#ifndef RTU_SHIMS_CONTROL_H
#define RTU_SHIMS_CONTROL_H
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

/// The most descriptors one received message may carry; a message with more
/// arrives truncated (MSG_CTRUNC) and none of its descriptors are kept.
#define RTU_CTL_MAX_RECEIVE_FDS 16
/// The most descriptors one sent message may carry (the kernel's SCM_MAX_FD).
#define RTU_CTL_MAX_SEND_FDS 253

/// socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC [| SOCK_NONBLOCK]) then
/// connect(2) to `path`. Returns the descriptor or -errno (-ENAMETOOLONG for
/// a path longer than sun_path holds; the socket is closed on failure).
int rtu_ctl_connect(const char *path, int nonblocking);

/// socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK) then
/// bind(2) to `path` (not listen: the caller sets the file's mode first).
/// Returns the descriptor or -errno; the socket is closed on failure.
int rtu_ctl_bind(const char *path);

/// accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC. Returns the descriptor or
/// -errno (-EAGAIN: no connection waits).
int rtu_ctl_accept(int fd);

/// sendmsg(2) of one packet, flags MSG_NOSIGNAL | MSG_DONTWAIT, with `count`
/// descriptors (at most RTU_CTL_MAX_SEND_FDS) in one SCM_RIGHTS message when
/// `count` > 0. Returns the bytes sent or -errno (-EAGAIN: no room now).
ssize_t rtu_ctl_send(int fd, const void *bytes, size_t length, const int *fds, unsigned count);

/// recvmsg(2) of one packet, flags MSG_DONTWAIT | MSG_TRUNC |
/// MSG_CMSG_CLOEXEC, into `buffer`; received descriptors go to `fds`
/// (RTU_CTL_MAX_RECEIVE_FDS entries) and their number to `*count`.
/// Returns the packet's whole length (more than `capacity` when it did not
/// fit) or -errno (-EAGAIN: nothing waits). `*truncated` is 1 when the packet
/// or its descriptors did not fit (MSG_TRUNC, MSG_CTRUNC); the descriptors
/// that did arrive are then closed here and `*count` is 0, so a sender cannot
/// leak descriptors into the receiver by overfilling a message.
ssize_t rtu_ctl_receive(int fd, void *buffer, size_t capacity, int *fds, unsigned *count, int *truncated);

/// getsockopt(SO_PEERCRED): the peer's pid, uid and gid as of connect(2).
/// Returns 0 or -errno.
int rtu_ctl_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid);
#endif
