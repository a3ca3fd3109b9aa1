/* SPDX-License-Identifier: Apache-2.0 */
/* Intrusive binary min-heap on (key, seq); see heap.h. */
#include "core/heap.h"

#include <glib.h>
#include <stdbool.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"

static bool before(struct mr_heap_key a, struct mr_heap_key b)
{
    if (a.key != b.key) {
        return a.key < b.key;
    }
    return a.seq < b.seq;
}

static void place(struct mr_heap *h, size_t i, struct mr_heap_node *n, struct mr_heap_key k)
{
    h->items[i] = n;
    h->keys[i] = k;
    n->index = i;
}

static void sift_up(struct mr_heap *h, size_t i)
{
    struct mr_heap_node *n = h->items[i];
    struct mr_heap_key k = h->keys[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(k, h->keys[parent])) {
            break;
        }
        place(h, i, h->items[parent], h->keys[parent]);
        i = parent;
    }
    place(h, i, n, k);
}

/* Bytes of the block holding cap pointers and cap keys. */
static size_t block_bytes(size_t cap)
{
    return cap * (sizeof(struct mr_heap_node *) + sizeof(struct mr_heap_key));
}

void mr_heap_init(struct mr_heap *h, struct mr_mem *mem)
{
    memset(h, 0, sizeof(*h));
    h->mem = mem;
}

void mr_heap_deinit(struct mr_heap *h)
{
    if (h->mem != NULL) {
        mr_mem_free(h->mem, h->items, block_bytes(h->cap));
    } else {
        g_free(h->items);
    }
    h->items = NULL;
    h->keys = NULL;
    h->len = 0;
    h->cap = 0;
}

int mr_heap_reserve(struct mr_heap *h)
{
    if (h->len < h->cap) {
        return MR_OK;
    }
    size_t cap = h->cap == 0 ? 64 : h->cap * 2;
    void *block;
    if (h->mem == NULL) {
        block = g_realloc(h->items, block_bytes(cap));
    } else {
        block = mr_mem_realloc(h->mem, h->items, block_bytes(h->cap), block_bytes(cap));
        if (block == NULL) {
            return MR_E_NOMEM;
        }
    }
    /* The keys follow the pointers, so they move up by the pointers' growth. */
    h->items = block;
    h->keys = (struct mr_heap_key *)(void *)(h->items + cap);
    memmove(h->keys, h->items + h->cap, h->len * sizeof(struct mr_heap_key));
    h->cap = cap;
    return MR_OK;
}

void mr_heap_push(struct mr_heap *h, struct mr_heap_node *n)
{
    mr_assert(h->len < h->cap);
    h->len++;
    place(h, h->len - 1, n, (struct mr_heap_key){n->key, n->seq});
    sift_up(h, h->len - 1);
}

void mr_heap_remove(struct mr_heap *h, struct mr_heap_node *n)
{
    size_t i = n->index;
    mr_assert(i < h->len);
    mr_assert(h->items[i] == n);
    h->len--;
    if (i == h->len) {
        return;
    }
    /* The last node fills the gap, bottom-up (Floyd): the hole at i sinks to a leaf
     * along the smaller children, one comparison a level instead of two, and the moved
     * node rises from there. It came from the bottom, so it rarely rises far; it may
     * also rise above i when it belongs there. */
    struct mr_heap_node *moved = h->items[h->len];
    struct mr_heap_key moved_key = h->keys[h->len];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len) {
            break;
        }
        if (child + 1 < h->len && before(h->keys[child + 1], h->keys[child])) {
            child++;
        }
        place(h, i, h->items[child], h->keys[child]);
        i = child;
    }
    place(h, i, moved, moved_key);
    sift_up(h, i);
}

struct mr_heap_node *mr_heap_top(const struct mr_heap *h)
{
    return h->len > 0 ? h->items[0] : NULL;
}

void mr_heap_check(const struct mr_heap *h)
{
    mr_assert(h->len <= h->cap);
    for (size_t i = 0; i < h->len; i++) {
        mr_assert(h->items[i]->index == i);
        mr_assert(h->keys[i].key == h->items[i]->key);
        mr_assert(h->keys[i].seq == h->items[i]->seq);
        if (i > 0) {
            mr_assert(!before(h->keys[i], h->keys[(i - 1) / 2]));
        }
    }
}
