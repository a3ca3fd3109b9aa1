/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An intrusive binary min-heap on (key, seq): the real env's timers and the simulator's
 * event queue. Equal keys come out in seq order, so timers with the same deadline fire
 * in arming order and simulated events with the same time run in insertion order.
 *
 * Ownership: the heap owns only its array of pointers; nodes live inside their owners'
 * structs (MR_CONTAINER_OF gets the owner back). A node is in at most one heap; its
 * index is the heap's to maintain.
 */
#ifndef MR_HEAP_H
#define MR_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"

#define MR_CONTAINER_OF(ptr, type, member)                                                 \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct mr_heap_node {
    uint64_t key;  /* deadline or event time, ns */
    uint64_t seq;  /* breaks ties: lower first */
    size_t index;  /* position in the heap; the heap's */
};

/* A node's (key, seq), kept in the heap beside its pointer: comparisons read the heap's
 * own arrays, not the nodes, which may be anywhere in memory. */
struct mr_heap_key {
    uint64_t key;
    uint64_t seq;
};

struct mr_heap {
    /* One block of cap node pointers followed by cap keys; items[i] and keys[i] are the
     * same node, whose index is i. */
    struct mr_heap_node **items;
    struct mr_heap_key *keys;
    size_t len;
    size_t cap;
    struct mr_mem *mem; /* NULL: GLib allocation, which aborts on OOM */
};

void mr_heap_init(struct mr_heap *h, struct mr_mem *mem);
/* Frees the array; the nodes are their owners'. */
void mr_heap_deinit(struct mr_heap *h);
/* Makes room for one more node. Returns 0 or MR_E_NOMEM (only with an mr_mem). */
int mr_heap_reserve(struct mr_heap *h);
/* Adds n; room must have been reserved. */
void mr_heap_push(struct mr_heap *h, struct mr_heap_node *n);
/* Removes n, which must be in h. */
void mr_heap_remove(struct mr_heap *h, struct mr_heap_node *n);
/* The smallest (key, seq), or NULL when empty. */
struct mr_heap_node *mr_heap_top(const struct mr_heap *h);
/* Asserts the heap property and every node's index. O(n). */
void mr_heap_check(const struct mr_heap *h);

#endif
