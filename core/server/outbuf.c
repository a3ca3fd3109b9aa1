/* SPDX-License-Identifier: Apache-2.0 */
/* Chunked output buffers; see outbuf.h. */
#include "core/server/outbuf.h"

#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/limits.h"

struct mr_outbuf_chunk {
    struct mr_outbuf_chunk *next;
    uint32_t start; /* first unread byte */
    uint32_t end;   /* one past the last written byte */
    uint8_t data[MR_OUTBUF_CHUNK_BYTES];
};

void mr_outbuf_pool_init(struct mr_outbuf_pool *pool, struct mr_mem *mem, uint32_t free_max)
{
    memset(pool, 0, sizeof(*pool));
    pool->mem = mem;
    pool->free_max = free_max;
}

void mr_outbuf_pool_deinit(struct mr_outbuf_pool *pool)
{
    while (pool->free_list != NULL) {
        struct mr_outbuf_chunk *c = pool->free_list;
        pool->free_list = c->next;
        mr_mem_free(pool->mem, c, sizeof(*c));
        pool->free_count--;
    }
    mr_assert(pool->free_count == 0);
}

static struct mr_outbuf_chunk *chunk_get(struct mr_outbuf_pool *pool)
{
    struct mr_outbuf_chunk *c = pool->free_list;
    if (c != NULL) {
        pool->free_list = c->next;
        pool->free_count--;
    } else {
        /* Not zeroed on purpose would be faster, but mr_mem zeroes: determinism first. */
        c = mr_mem_alloc(pool->mem, sizeof(*c));
        if (c == NULL) {
            return NULL;
        }
    }
    c->next = NULL;
    c->start = 0;
    c->end = 0;
    return c;
}

static void chunk_put(struct mr_outbuf_pool *pool, struct mr_outbuf_chunk *c)
{
    if (pool->free_count >= pool->free_max) {
        mr_mem_free(pool->mem, c, sizeof(*c));
        return;
    }
    c->next = pool->free_list;
    pool->free_list = c;
    pool->free_count++;
}

void mr_outbuf_init(struct mr_outbuf *ob, struct mr_outbuf_pool *pool)
{
    memset(ob, 0, sizeof(*ob));
    ob->pool = pool;
}

void mr_outbuf_deinit(struct mr_outbuf *ob)
{
    while (ob->head != NULL) {
        struct mr_outbuf_chunk *c = ob->head;
        ob->head = c->next;
        chunk_put(ob->pool, c);
    }
    ob->tail = NULL;
    ob->pending_bytes = 0;
}

int mr_outbuf_append(struct mr_outbuf *ob, const void *p, size_t n)
{
    const uint8_t *src = p;
    struct mr_outbuf_chunk *tail = ob->tail;
    /* Fast path: the bytes fit in the tail chunk. */
    if (tail != NULL && MR_OUTBUF_CHUNK_BYTES - tail->end >= n) {
        memcpy(tail->data + tail->end, src, n);
        tail->end += (uint32_t)n;
        ob->pending_bytes += n;
        return MR_OK;
    }
    /* Slow path: take every chunk needed first, so a failure appends nothing. */
    size_t room = tail != NULL ? MR_OUTBUF_CHUNK_BYTES - tail->end : 0;
    struct mr_outbuf_chunk *first_new = NULL;
    struct mr_outbuf_chunk *last_new = NULL;
    while (room < n) {
        struct mr_outbuf_chunk *c = chunk_get(ob->pool);
        if (c == NULL) {
            while (first_new != NULL) {
                struct mr_outbuf_chunk *next = first_new->next;
                chunk_put(ob->pool, first_new);
                first_new = next;
            }
            return MR_E_NOMEM;
        }
        if (last_new == NULL) {
            first_new = c;
        } else {
            last_new->next = c;
        }
        last_new = c;
        room += MR_OUTBUF_CHUNK_BYTES;
    }
    if (tail == NULL) {
        ob->head = first_new;
    } else {
        tail->next = first_new;
    }
    struct mr_outbuf_chunk *c = tail != NULL ? tail : first_new;
    size_t left = n;
    while (left > 0) {
        mr_assert(c != NULL);
        size_t take = MR_OUTBUF_CHUNK_BYTES - c->end;
        if (take > left) {
            take = left;
        }
        memcpy(c->data + c->end, src, take);
        c->end += (uint32_t)take;
        src += take;
        left -= take;
        if (left > 0) {
            c = c->next;
        }
    }
    if (last_new != NULL) {
        ob->tail = last_new;
    }
    ob->pending_bytes += n;
    return MR_OK;
}

size_t mr_outbuf_peek(const struct mr_outbuf *ob, struct mr_iov *iov, size_t iov_max)
{
    size_t count = 0;
    for (struct mr_outbuf_chunk *c = ob->head; c != NULL && count < iov_max; c = c->next) {
        if (c->end == c->start) {
            continue;
        }
        iov[count].base = c->data + c->start;
        iov[count].len = c->end - c->start;
        count++;
    }
    return count;
}

void mr_outbuf_consume(struct mr_outbuf *ob, size_t n)
{
    mr_assert(n <= ob->pending_bytes);
    ob->pending_bytes -= n;
    while (n > 0) {
        struct mr_outbuf_chunk *c = ob->head;
        mr_assert(c != NULL);
        size_t have = c->end - c->start;
        if (n < have) {
            c->start += (uint32_t)n;
            return;
        }
        n -= have;
        c->start = c->end;
        /* Keep the tail chunk, rewound, so the next append has room without a get. */
        if (c == ob->tail) {
            c->start = 0;
            c->end = 0;
            mr_assert(n == 0);
            break;
        }
        ob->head = c->next;
        chunk_put(ob->pool, c);
    }
    if (ob->pending_bytes == 0 && ob->head != NULL) {
        /* Idle connections hold no chunk. */
        mr_assert(ob->head == ob->tail);
        chunk_put(ob->pool, ob->head);
        ob->head = NULL;
        ob->tail = NULL;
    }
}
