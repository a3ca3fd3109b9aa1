/* SPDX-License-Identifier: Apache-2.0 */
/* Intrusive binary min-heap on (key, seq); see heap.h. */
#include "core/heap.h"

#include <glib.h>
#include <stdbool.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"

static bool before(const struct mr_heap_node *a, const struct mr_heap_node *b)
{
    if (a->key != b->key) {
        return a->key < b->key;
    }
    return a->seq < b->seq;
}

static void place(struct mr_heap *h, size_t i, struct mr_heap_node *n)
{
    h->items[i] = n;
    n->index = i;
}

static void sift_up(struct mr_heap *h, size_t i)
{
    struct mr_heap_node *n = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(n, h->items[parent])) {
            break;
        }
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, n);
}

void mr_heap_init(struct mr_heap *h, struct mr_mem *mem)
{
    memset(h, 0, sizeof(*h));
    h->mem = mem;
}

void mr_heap_deinit(struct mr_heap *h)
{
    if (h->mem != NULL) {
        mr_mem_free(h->mem, h->items, h->cap * sizeof(*h->items));
    } else {
        g_free(h->items);
    }
    h->items = NULL;
    h->len = 0;
    h->cap = 0;
}

int mr_heap_reserve(struct mr_heap *h)
{
    if (h->len < h->cap) {
        return MR_OK;
    }
    size_t cap = h->cap == 0 ? 64 : h->cap * 2;
    if (h->mem == NULL) {
        h->items = g_renew(struct mr_heap_node *, h->items, cap);
    } else {
        struct mr_heap_node **items = mr_mem_realloc(h->mem, h->items,
                                                     h->cap * sizeof(*items), cap * sizeof(*items));
        if (items == NULL) {
            return MR_E_NOMEM;
        }
        h->items = items;
    }
    h->cap = cap;
    return MR_OK;
}

void mr_heap_push(struct mr_heap *h, struct mr_heap_node *n)
{
    mr_assert(h->len < h->cap);
    h->len++;
    place(h, h->len - 1, n);
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
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len) {
            break;
        }
        if (child + 1 < h->len && before(h->items[child + 1], h->items[child])) {
            child++;
        }
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, moved);
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
        if (i > 0) {
            mr_assert(!before(h->items[i], h->items[(i - 1) / 2]));
        }
    }
}
