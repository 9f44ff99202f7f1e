// Shared-memory shims (memfd and its seals). Owned by SharedRings.
//
// Why a shim: memfd_create is declared by <sys/mman.h> only under
// _GNU_SOURCE, which Swift's Glibc module is not built with, and fcntl(2) is
// variadic, so F_ADD_SEALS/F_GET_SEALS (also _GNU_SOURCE) cannot be called
// from Swift. Each returns a result or -errno, so Swift never reads errno
// after an intervening call.
#ifndef RTU_SHIMS_SHM_H
#define RTU_SHIMS_SHM_H

/// memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING): the descriptor or -errno.
int rtu_shm_memfd_create(const char *name);

/// fcntl(F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL): the file's
/// size is fixed for good (a peer cannot truncate it under a mapping and make
/// the mapper fault) and no seal can be added or removed. 0 or -errno.
int rtu_shm_seal_size(int fd);

/// Whether fcntl(F_GET_SEALS) shows both F_SEAL_GROW and F_SEAL_SHRINK:
/// 1 yes, 0 no, -errno when the seals cannot be read (EINVAL: not a memfd).
int rtu_shm_size_is_sealed(int fd);

#endif
