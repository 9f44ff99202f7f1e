// Service-manager shims (sd_notify). Owned by the Service target.
// No function returns -1 with errno set: failures return -errno.
#ifndef RTU_SHIMS_SERVICE_H
#define RTU_SHIMS_SERVICE_H
#include <stddef.h>

/// Sends `length` bytes at `message` as one datagram to the AF_UNIX address
/// `address` (`address_length` bytes of sun_path: a path with its
/// terminating NUL, or a NUL byte and an abstract name), from a fresh
/// SOCK_DGRAM socket closed afterwards, with an SCM_CREDENTIALS message
/// naming this process (pid, uid, gid), as sd_notify(3) does. Returns 0, or -errno (-ENAMETOOLONG for an address
/// longer than sun_path, -EMSGSIZE for a short send).
///
/// Why C: the CMSG_* macros that lay out the credentials, and struct ucred
/// (a _GNU_SOURCE declaration), are not imported into Swift.
int rtu_notify_send(const char *address, size_t address_length, const void *message, size_t length);

#endif
