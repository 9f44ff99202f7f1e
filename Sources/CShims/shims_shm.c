// Shared-memory shims; see include/shims_shm.h for why each exists.
#define _GNU_SOURCE
#include "shims_shm.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>

int rtu_shm_memfd_create(const char *name) {
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    return fd >= 0 ? fd : -errno;
}

int rtu_shm_seal_size(int fd) {
    return fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) == 0 ? 0 : -errno;
}

int rtu_shm_size_is_sealed(int fd) {
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0) return -errno;
    int fixed = F_SEAL_GROW | F_SEAL_SHRINK;
    return (seals & fixed) == fixed;
}
