/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A connection's pending output: a chain of fixed-size chunks taken from a pool shared
 * by the server. Appends copy into the tail chunk; the env reads the chunks in place
 * (peek) and releases what it wrote (consume). An idle connection holds no chunk, so
 * thousands of idle connections cost almost nothing. The pool keeps a bounded number of
 * free chunks for reuse, so steady traffic allocates nothing.
 *
 * Ownership: the pool owns free chunks; an outbuf owns the chunks in its chain and
 * returns them to its pool. The pool must outlive every outbuf that uses it.
 */
#ifndef MR_OUTBUF_H
#define MR_OUTBUF_H

#include <stddef.h>
#include <stdint.h>

#include "core/env.h"
#include "core/mem.h"

struct mr_outbuf_chunk;

struct mr_outbuf_pool {
    struct mr_mem *mem;
    struct mr_outbuf_chunk *free_list;
    uint32_t free_count;
    uint32_t free_max; /* chunks kept for reuse; beyond it, freed */
};

struct mr_outbuf {
    struct mr_outbuf_pool *pool;
    struct mr_outbuf_chunk *head; /* oldest; read from here */
    struct mr_outbuf_chunk *tail; /* newest; append here */
    size_t pending_bytes;
};

void mr_outbuf_pool_init(struct mr_outbuf_pool *pool, struct mr_mem *mem, uint32_t free_max);
/* Frees the free chunks; every outbuf must be deinit'ed first. */
void mr_outbuf_pool_deinit(struct mr_outbuf_pool *pool);

void mr_outbuf_init(struct mr_outbuf *ob, struct mr_outbuf_pool *pool);
/* Drops pending bytes and returns the chunks to the pool. */
void mr_outbuf_deinit(struct mr_outbuf *ob);

/* Appends n bytes. Returns 0 or MR_E_NOMEM (then nothing was appended). */
int mr_outbuf_append(struct mr_outbuf *ob, const void *p, size_t n);
/* Fills up to iov_max views of pending bytes, oldest first; returns the count. */
size_t mr_outbuf_peek(const struct mr_outbuf *ob, struct mr_iov *iov, size_t iov_max);
/* Drops n bytes from the front (n <= pending_bytes). */
void mr_outbuf_consume(struct mr_outbuf *ob, size_t n);

#endif
