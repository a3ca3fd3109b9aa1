/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Counted allocation. Every core allocation goes through an mr_mem, which tracks the
 * bytes in use against a budget and can be told to fail after a countdown (tests).
 * Budget exhausted or an injected failure returns NULL: an operating error the caller
 * handles. Real OOM aborts, as g_malloc does. Frees pass the size back, so the counter
 * needs no header per block; tests check counters end at zero.
 */
#ifndef MR_MEM_H
#define MR_MEM_H

#include <stddef.h>
#include <stdint.h>

struct mr_mem {
    size_t used_bytes;      /* bytes currently allocated */
    size_t used_bytes_high; /* high-water mark */
    size_t budget_bytes;    /* 0 = unlimited */
    uint64_t allocs;        /* live allocations */
    int64_t fail_after;     /* < 0: never; otherwise fail when it reaches 0 */
};

void mr_mem_init(struct mr_mem *m, size_t budget_bytes);
/* Asserts that nothing is still allocated. */
void mr_mem_deinit(struct mr_mem *m);

/* Returns NULL when over budget or when an injected failure fires. Zeroed memory. */
void *mr_mem_alloc(struct mr_mem *m, size_t n);
/* Resizes; on failure returns NULL and leaves p untouched. */
void *mr_mem_realloc(struct mr_mem *m, void *p, size_t old_n, size_t new_n);
/* n must be the size that was allocated. NULL p is a no-op. */
void mr_mem_free(struct mr_mem *m, void *p, size_t n);
/* Copies len bytes and a trailing NUL. */
char *mr_mem_strndup(struct mr_mem *m, const char *s, size_t len);

#endif
