/* SPDX-License-Identifier: Apache-2.0 */
/* Counted allocation; see mem.h. */
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

#include "core/assert.h"

void mr_mem_init(struct mr_mem *m, size_t budget_bytes)
{
    memset(m, 0, sizeof(*m));
    m->budget_bytes = budget_bytes;
    m->fail_after = -1;
}

void mr_mem_deinit(struct mr_mem *m)
{
    mr_assert(m->used_bytes == 0);
    mr_assert(m->allocs == 0);
}

static int admit(struct mr_mem *m, size_t grow)
{
    if (m->fail_after == 0) {
        return 0;
    }
    if (m->fail_after > 0) {
        m->fail_after--;
    }
    if (m->budget_bytes != 0 && m->used_bytes + grow > m->budget_bytes) {
        return 0;
    }
    return 1;
}

static void *must(void *p)
{
    if (p == NULL) {
        abort(); /* real OOM: nothing sensible is left to do */
    }
    return p;
}

void *mr_mem_alloc(struct mr_mem *m, size_t n)
{
    mr_assert(n > 0);
    if (!admit(m, n)) {
        return NULL;
    }
    void *p = must(calloc(1, n));
    m->used_bytes += n;
    m->allocs++;
    if (m->used_bytes > m->used_bytes_high) {
        m->used_bytes_high = m->used_bytes;
    }
    return p;
}

void *mr_mem_realloc(struct mr_mem *m, void *p, size_t old_n, size_t new_n)
{
    if (p == NULL) {
        mr_assert(old_n == 0);
        return mr_mem_alloc(m, new_n);
    }
    mr_assert(new_n > 0);
    mr_assert(m->used_bytes >= old_n);
    if (new_n > old_n && !admit(m, new_n - old_n)) {
        return NULL;
    }
    void *q = must(realloc(p, new_n));
    if (new_n > old_n) {
        memset((char *)q + old_n, 0, new_n - old_n);
    }
    m->used_bytes = m->used_bytes - old_n + new_n;
    if (m->used_bytes > m->used_bytes_high) {
        m->used_bytes_high = m->used_bytes;
    }
    return q;
}

void mr_mem_free(struct mr_mem *m, void *p, size_t n)
{
    if (p == NULL) {
        return;
    }
    mr_assert(m->used_bytes >= n);
    mr_assert(m->allocs > 0);
    m->used_bytes -= n;
    m->allocs--;
    free(p);
}

char *mr_mem_strndup(struct mr_mem *m, const char *s, size_t len)
{
    char *d = mr_mem_alloc(m, len + 1);
    if (d == NULL) {
        return NULL;
    }
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}
