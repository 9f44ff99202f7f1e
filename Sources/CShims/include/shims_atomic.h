// Atomics on raw memory (SharedRings, UserUDP's message rings).
//
// Why a shim: Swift's `Atomic` must own its storage, but a ring shared with
// another thread (or, through a memfd, another process) keeps its indices in
// memory Swift only sees as a raw pointer. These are the C11 builtins on that
// memory; `static inline`, so they compile to single instructions in Swift.
#ifndef RTU_SHIMS_ATOMIC_H
#define RTU_SHIMS_ATOMIC_H

#include <stdint.h>

static inline uint64_t rtu_atomic_load_acquire(const void *p) {
    return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE);
}

static inline uint64_t rtu_atomic_load_relaxed(const void *p) {
    return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
}

static inline void rtu_atomic_store_release(void *p, uint64_t v) {
    __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELEASE);
}

static inline void rtu_atomic_store_relaxed(void *p, uint64_t v) {
    __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELAXED);
}

static inline uint64_t rtu_atomic_exchange(void *p, uint64_t v) {
    return __atomic_exchange_n((uint64_t *)p, v, __ATOMIC_SEQ_CST);
}

/// 32-bit words (a socket region's closed flag sits beside a 32-bit field).
static inline uint32_t rtu_atomic_load_acquire32(const void *p) {
    return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE);
}

static inline void rtu_atomic_store_release32(void *p, uint32_t v) {
    __atomic_store_n((uint32_t *)p, v, __ATOMIC_RELEASE);
}

/// A full (sequentially consistent) fence: the store-then-load handshake of
/// "tell me when you have something" doorbells needs it on both sides.
static inline void rtu_atomic_fence(void) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

#endif
