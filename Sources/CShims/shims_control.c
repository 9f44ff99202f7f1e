// Control-socket shims for the Control module; see shims_control.h for the contracts.
#define _GNU_SOURCE
#include "shims_control.h"
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/// Fills `address` for `path`; -ENAMETOOLONG when it (and its NUL) do not fit.
static int unix_address(const char *path, struct sockaddr_un *address) {
    size_t length = strlen(path);
    if (length == 0) return -ENOENT;
    if (length >= sizeof address->sun_path) return -ENAMETOOLONG;
    memset(address, 0, sizeof *address);
    address->sun_family = AF_UNIX;
    memcpy(address->sun_path, path, length);
    return 0;
}

/// A new control socket bound or connected to `path` by `step`; closed on failure.
static int unix_socket(const char *path, int flags,
                       int (*step)(int, const struct sockaddr *, socklen_t)) {
    struct sockaddr_un address;
    int r = unix_address(path, &address);
    if (r < 0) return r;
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | flags, 0);
    if (fd < 0) return -errno;
    // Not retried on EINTR: an interrupted connect(2) goes on in the kernel,
    // and calling it again would fail with EISCONN or EALREADY.
    if (step(fd, (const struct sockaddr *)&address, sizeof address) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int rtu_ctl_connect(const char *path, int nonblocking) {
    return unix_socket(path, nonblocking ? SOCK_NONBLOCK : 0, connect);
}

int rtu_ctl_bind(const char *path) {
    return unix_socket(path, SOCK_NONBLOCK, bind);
}

int rtu_ctl_accept(int fd) {
    int c;
    do { c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); } while (c < 0 && errno == EINTR);
    return c < 0 ? -errno : c;
}

ssize_t rtu_ctl_send(int fd, const void *bytes, size_t length, const int *fds, unsigned count) {
    if (count > RTU_CTL_MAX_SEND_FDS) return -EINVAL;
    union {
        char buffer[CMSG_SPACE(sizeof(int) * RTU_CTL_MAX_SEND_FDS)];
        struct cmsghdr align;
    } control;
    struct iovec iov = { .iov_base = (void *)bytes, .iov_len = length };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (count > 0) {
        memset(&control, 0, sizeof control);
        msg.msg_control = control.buffer;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * count);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * count);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * count);
    }
    ssize_t n;
    do { n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT); } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

ssize_t rtu_ctl_receive(int fd, void *buffer, size_t capacity, int *fds, unsigned *count, int *truncated) {
    union {
        char buffer[CMSG_SPACE(sizeof(int) * RTU_CTL_MAX_RECEIVE_FDS)];
        struct cmsghdr align;
    } control;
    struct iovec iov = { .iov_base = buffer, .iov_len = capacity };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = control.buffer, .msg_controllen = sizeof control.buffer,
    };
    *count = 0;
    *truncated = 0;
    ssize_t n;
    do { n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t carried = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < carried; i++) {
            int received;
            memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof received);
            // The control buffer holds at most RTU_CTL_MAX_RECEIVE_FDS, so this
            // only guards against a kernel that packs differently.
            if (*count < RTU_CTL_MAX_RECEIVE_FDS) fds[(*count)++] = received;
            else close(received);
        }
    }
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
        *truncated = 1;
        for (unsigned i = 0; i < *count; i++) close(fds[i]);
        *count = 0;
    }
    return n;
}

int rtu_ctl_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid) {
    struct ucred credentials;
    socklen_t length = sizeof credentials;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -errno;
    *pid = credentials.pid;
    *uid = credentials.uid;
    *gid = credentials.gid;
    return 0;
}
