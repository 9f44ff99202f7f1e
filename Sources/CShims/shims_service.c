// Service-manager shims; see include/shims_service.h for why each exists.
#define _GNU_SOURCE
#include "shims_service.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int rtu_notify_send(const char *address, size_t address_length, const void *message, size_t length) {
    struct sockaddr_un sa;
    if (address_length == 0 || address_length > sizeof sa.sun_path) return -ENAMETOOLONG;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, address, address_length);
    // The length counts what the caller gave: a path with its terminating NUL,
    // an abstract name without one (a trailing NUL would be part of the name).
    socklen_t sa_length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + address_length);

    struct iovec iov = { .iov_base = (void *)message, .iov_len = length };
    union {
        struct cmsghdr header;
        char space[CMSG_SPACE(sizeof(struct ucred))];
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = {
        .msg_name = &sa, .msg_namelen = sa_length,
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = &control, .msg_controllen = sizeof control,
    };
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_CREDENTIALS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(struct ucred));
    struct ucred credentials = { .pid = getpid(), .uid = getuid(), .gid = getgid() };
    memcpy(CMSG_DATA(cmsg), &credentials, sizeof credentials);

    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    ssize_t sent;
    do {
        sent = sendmsg(fd, &msg, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    int result = sent < 0 ? -errno : ((size_t)sent == length ? 0 : -EMSGSIZE);
    close(fd);
    return result;
}
