// Counting allocator, LD_PRELOADed into link-bench and alloc-check (the
// integration test AllocationTests): every malloc-family call bumps one
// atomic counter, then forwards to glibc's own implementation (__libc_*).
// The programs find `rtu_malloc_count` with dlsym and read it around their
// measured loops; without the preload link-bench reports "n/a" and
// alloc-check refuses to run.
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static uint64_t count;

uint64_t rtu_malloc_count(void) { return __atomic_load_n(&count, __ATOMIC_RELAXED); }

static inline void bump(void) { __atomic_fetch_add(&count, 1, __ATOMIC_RELAXED); }

void *malloc(size_t n) { bump(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { bump(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { bump(); return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
void *memalign(size_t a, size_t n) { bump(); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { bump(); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    bump();
    void *p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
