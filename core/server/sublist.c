/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The subject index (see sublist.h for the contract). A trie of nodes, one per token
 * position: each node has a '*' child, a '>' child and literal children; the literal
 * edges of the whole trie live in one GHashTable keyed by (parent node id, token bytes),
 * used for lookup only. Every child is also on its parent's sibling list, which is what
 * check and destroy walk (and lookup scans when a node has few children), so nothing
 * depends on hash order. A node holds its plain subs
 * in an array and its queue subs in per-queue-name groups kept in order of creation;
 * sub->slot is the sub's index in one of those arrays, so removal is O(1) (swap-remove)
 * plus a scan of the node's group names.
 *
 * Match walks the trie depth first with an explicit stack (literal child, then '*', then
 * '>' at each level) and builds the result once, into a single cache entry: plain subs
 * concatenated in walk order, queue subs grouped by queue name in order of first
 * appearance, as nats-server's addNodeToResults/findQSlot group them.
 *
 * Cache: an open-addressing table of 2 * MR_SUBLIST_CACHE_MAX slots (fixed, allocated
 * at create) plus a FIFO list of entries, oldest first; the oldest entry is evicted when
 * the cache is full. Insert/remove drop exactly the entries whose subject the sub's
 * subject matches (mr_subject_matches, the same rule the trie implements).
 *
 * Result lifetime: mr_sublist_match results stay valid until the next insert or remove,
 * even if later matches evict their entry (a fan-out may publish, and so match, again).
 * An evicted non-empty entry therefore moves to a graveyard, freed at the next
 * successful insert or remove; the graveyard holds at most MR_SUBLIST_CACHE_MAX entries
 * and drops its oldest beyond that, so a result outlives at least that many later
 * evictions. Empty results all point at one object owned by the sublist.
 *
 * Memory: nodes, arrays, cache entries and scratch come from the mr_mem given to
 * create; only the GHashTable's own storage uses GLib's allocator. Insert allocates
 * before it changes anything, so MR_E_NOMEM leaves the sublist as it was. Remove never
 * asks for memory (it only frees or shrinks), so it cannot fail on a spent budget. A
 * cache hit allocates nothing; a miss allocates one block for its entry.
 */
#include "core/server/sublist.h"

#include <glib.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/proto/subject.h"

_Static_assert((MR_SUBLIST_CACHE_MAX & (MR_SUBLIST_CACHE_MAX - 1)) == 0,
               "the cache table size is a power of two");
_Static_assert(MR_SUBJECT_TOKENS_MAX < 1024, "trie depth fits the walk stack comfortably");

/* Open-addressing slots: twice the entries, so the load factor stays at or below 1/2. */
#define CACHE_SLOTS (2 * MR_SUBLIST_CACHE_MAX)
/* Evicted-but-maybe-held results kept until the next insert or remove. */
#define GRAVE_MAX MR_SUBLIST_CACHE_MAX
/* The walk holds at most a '*' and a '>' frame per level above the current one. */
#define STACK_MAX (2 * MR_SUBJECT_TOKENS_MAX + 4)
/* Marks a frame whose node is a '>' match: report it, do not descend. */
#define FRAME_EMIT UINT32_MAX
/* Up to this many literal children, lookup scans the sibling list instead of hashing. */
#define SCAN_CHILDREN_MAX 4
/* First capacities of the per-node arrays. */
#define PSUBS_CAP_MIN 4
#define QGROUPS_CAP_MIN 2
#define QSUBS_CAP_MIN 4

enum node_kind {
    NODE_ROOT = 0,
    NODE_LITERAL = 1,
    NODE_PWC = 2,
    NODE_FWC = 3,
};

/* A literal edge: the child's token under its parent. Lives inside the child node. */
struct edge_key {
    uint64_t parent_id;
    const char *tok; /* the child's own copy of the token */
    uint32_t len;
    uint32_t hash;
};

/* The queue subs of one queue name at one node. */
struct qgroup {
    const char *queue; /* always subs[0]->queue: the bytes belong to a sub */
    uint32_t queue_len;
    uint32_t count;
    uint32_t cap;
    struct mr_sub **subs; /* owned, mr_mem */
};

struct node {
    struct node *parent;
    struct node *pwc; /* '*' child or NULL */
    struct node *fwc; /* '>' child or NULL; never has children */
    /* All children (literal, '*', '>'), unordered: check and destroy walk it and
     * lookup scans it when short; its order never reaches a result. */
    struct node *first_child;
    struct node *next_sibling;
    struct node *prev_sibling;
    uint32_t children;
    uint32_t depth; /* tokens from the root; the root is 0 */
    enum node_kind kind;
    uint64_t id; /* unique per sublist; keys the literal edges below this node */
    struct edge_key key;
    struct mr_sub **psubs; /* owned, mr_mem; insertion order perturbed by swap-remove */
    uint32_t psubs_count;
    uint32_t psubs_cap;
    uint32_t qgroups_count;
    uint32_t qgroups_cap;
    struct qgroup *qgroups; /* owned, mr_mem; in order of creation */
    char token[];           /* literal nodes: the token bytes */
};

/* A cached match. One mr_mem block: this header, then the result's qgroups, psubs and
 * queue subs arrays, then the key bytes. */
struct centry {
    struct centry *prev; /* FIFO (or graveyard) neighbours; oldest first */
    struct centry *next;
    const struct mr_sublist_result *res; /* &result, or &sl->empty when nothing matched */
    size_t bytes;                        /* size of the block */
    uint64_t hash;
    const char *key;
    size_t key_len;
    /* mr_sublist_check memo: the insert/remove count when this result was last compared
     * with a fresh match. A result can only go stale through an insert or remove. */
    uint64_t checked_at;
    struct mr_sublist_result result;
};

struct cslot {
    uint64_t hash;
    struct centry *e; /* NULL: free */
};

struct frame {
    struct node *node;
    uint32_t depth; /* tokens consumed to reach node, or FRAME_EMIT */
};

/* The result group a match is building: where its subs go in the entry. */
struct gslot {
    const char *queue;
    uint32_t queue_len;
    uint32_t count;
    uint32_t fill; /* offset in the entry's queue subs array */
};

struct centry_list {
    struct centry *head;
    struct centry *tail;
    uint32_t count;
};

struct mr_sublist {
    struct mr_mem *mem; /* borrowed */
    struct node *root;
    GHashTable *edges; /* struct edge_key * -> struct node *; lookup only */
    uint64_t next_node_id;
    uint64_t seed;  /* keys the edge and cache hashes (mr_sublist_seed) */
    /* mr_sublist_check memo: the cache epoch (see cache_epoch) of the last full cache
     * check; UINT64_MAX before the first. */
    uint64_t cache_checked_epoch;
    /* mr_sublist_check memo: inserts + removes at the last full trie walk. */
    uint64_t trie_checked_at;
    /* mr_sublist_check memo: inserts + removes at the last full cache walk. */
    uint64_t cache_walked_at;
    uint64_t nodes; /* non-root nodes */
    struct mr_sublist_stats stats;
    struct cslot *slots; /* CACHE_SLOTS, allocated at create */
    struct centry_list cache;
    struct centry_list grave;
    struct mr_sublist_result empty; /* all zero, forever */
    /* Match scratch, reused by every miss. */
    struct node **hits;
    uint32_t hits_cap;
    uint32_t groups_cap;
    struct gslot *groups;
    uint32_t *gmap; /* per (hit, node group): index in groups */
    uint32_t gmap_cap;
    struct mr_view tokens[MR_SUBJECT_TOKENS_MAX + 1];
    struct frame stack[STACK_MAX];
};

/* ---------------------------------------------------------------------------------- */
/* Hashing and small helpers                                                          */
/* ---------------------------------------------------------------------------------- */

#define HASH_MUL 0x9e3779b97f4a7c15ULL

static uint64_t hash_bytes(const char *p, size_t n, uint64_t seed)
{
    uint64_t h = (seed + 1) * HASH_MUL ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * HASH_MUL;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        uint64_t w = 0;
        memcpy(&w, p, n);
        h = (h ^ w) * HASH_MUL;
        h ^= h >> 29;
    }
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ULL;
    h ^= h >> 32;
    return h;
}

static guint edge_hash(gconstpointer k)
{
    return ((const struct edge_key *)k)->hash;
}

static gboolean edge_equal(gconstpointer a, gconstpointer b)
{
    const struct edge_key *x = a;
    const struct edge_key *y = b;
    return x->parent_id == y->parent_id && x->len == y->len && memcmp(x->tok, y->tok, x->len) == 0;
}

static void edge_key_set(struct edge_key *k, uint64_t parent_id, const char *tok, uint32_t len)
{
    k->parent_id = parent_id;
    k->tok = tok;
    k->len = len;
    /* Node ids start at a seeded base (mr_sublist_seed), which keys this hash. */
    k->hash = (uint32_t)hash_bytes(tok, len, parent_id);
}

static bool tok_is_wild(const char *tok, uint32_t len, char c)
{
    return len == 1 && tok[0] == c;
}

/* Grows an array to hold need elements (doubling). Returns the array, or NULL with the
 * old array untouched when the budget says no. */
static void *grow_array(struct mr_mem *mem, void *arr, uint32_t *cap, size_t elem, uint32_t need,
                        uint32_t cap_min)
{
    if (need <= *cap) {
        mr_assert(arr != NULL);
        return arr;
    }
    uint64_t ncap = *cap != 0 ? *cap : cap_min;
    while (ncap < need) {
        ncap *= 2;
    }
    mr_assert(ncap <= UINT32_MAX);
    void *p = mr_mem_realloc(mem, arr, (size_t)*cap * elem, (size_t)ncap * elem);
    if (p != NULL) {
        *cap = (uint32_t)ncap;
    }
    return p;
}

/* After a removal: frees an empty array, halves a mostly empty one. Never fails. */
static void *shrink_array(struct mr_mem *mem, void *arr, uint32_t *cap, size_t elem, uint32_t count,
                          uint32_t cap_min)
{
    if (count == 0) {
        mr_mem_free(mem, arr, (size_t)*cap * elem);
        *cap = 0;
        return NULL;
    }
    if ((uint64_t)count * 4 > *cap || *cap / 2 < cap_min) {
        return arr;
    }
    void *p = mr_mem_realloc(mem, arr, (size_t)*cap * elem, (size_t)(*cap / 2) * elem);
    mr_assert(p != NULL); /* shrinking is never refused */
    *cap /= 2;
    return p;
}

/*
 * Splits a publish subject into token views, keeping up to MR_SUBJECT_TOKENS_MAX + 1.
 * A subject with more tokens than that reports MR_SUBJECT_TOKENS_MAX + 1: no sub is that
 * deep, so only '>' subs can match it and the walk never looks at the tokens past the
 * cap. Returns 0 for an empty subject or one with an empty token, which nats-server
 * matches against nothing.
 */
static uint32_t split_subject(const char *s, size_t len, struct mr_view *tokens)
{
    if (len == 0) {
        return 0;
    }
    uint32_t count = 0;
    size_t start = 0;
    for (;;) {
        const char *dot = memchr(s + start, '.', len - start);
        size_t end = dot != NULL ? (size_t)(dot - s) : len;
        if (end == start) {
            return 0;
        }
        if (count <= MR_SUBJECT_TOKENS_MAX) {
            tokens[count].ptr = s + start;
            tokens[count].len = (uint32_t)(end - start);
            count++;
        }
        if (dot == NULL) {
            break;
        }
        start = end + 1;
        if (start == len) {
            return 0; /* trailing '.' */
        }
    }
    mr_assert(count >= 1);
    mr_assert(count <= MR_SUBJECT_TOKENS_MAX + 1);
    return count;
}

/* ---------------------------------------------------------------------------------- */
/* Nodes                                                                              */
/* ---------------------------------------------------------------------------------- */

static size_t node_bytes(const struct node *n)
{
    return sizeof(struct node) + (n->kind == NODE_LITERAL ? n->key.len : 0);
}

static bool node_has_subs(const struct node *n)
{
    return n->psubs_count > 0 || n->qgroups_count > 0;
}

static bool node_is_empty(const struct node *n)
{
    return !node_has_subs(n) && n->children == 0;
}

/* A new unlinked node for token tok at depth. */
static struct node *node_new(struct mr_sublist *sl, const struct mr_view *tok, uint32_t depth)
{
    enum node_kind kind = NODE_LITERAL;
    if (tok_is_wild(tok->ptr, tok->len, '*')) {
        kind = NODE_PWC;
    } else if (tok_is_wild(tok->ptr, tok->len, '>')) {
        kind = NODE_FWC;
    }
    size_t extra = kind == NODE_LITERAL ? tok->len : 0;
    struct node *n = mr_mem_alloc(sl->mem, sizeof(*n) + extra);
    if (n == NULL) {
        return NULL;
    }
    n->kind = kind;
    n->depth = depth;
    n->id = sl->next_node_id++;
    if (kind == NODE_LITERAL) {
        memcpy(n->token, tok->ptr, tok->len);
        n->key.len = tok->len;
    }
    mr_assert(node_is_empty(n));
    return n;
}

static void node_free(struct mr_sublist *sl, struct node *n)
{
    mr_assert(!node_has_subs(n));
    mr_assert(n->psubs == NULL);
    mr_assert(n->qgroups == NULL);
    mr_mem_free(sl->mem, n, node_bytes(n));
}

/* Makes c a child of parent; c was created for a token at parent->depth + 1. */
static void node_link(struct mr_sublist *sl, struct node *parent, struct node *c)
{
    mr_assert(c->parent == NULL);
    mr_assert(c->depth == parent->depth + 1);
    c->parent = parent;
    if (c->kind == NODE_PWC) {
        mr_assert(parent->pwc == NULL);
        parent->pwc = c;
    } else if (c->kind == NODE_FWC) {
        mr_assert(parent->fwc == NULL);
        parent->fwc = c;
    } else {
        edge_key_set(&c->key, parent->id, c->token, c->key.len);
        mr_assert(g_hash_table_lookup(sl->edges, &c->key) == NULL);
        g_hash_table_insert(sl->edges, &c->key, c);
    }
    c->next_sibling = parent->first_child;
    if (parent->first_child != NULL) {
        parent->first_child->prev_sibling = c;
    }
    parent->first_child = c;
    parent->children++;
    sl->nodes++;
}

static void node_unlink(struct mr_sublist *sl, struct node *c)
{
    struct node *parent = c->parent;
    mr_assert(parent != NULL);
    mr_assert(parent->children > 0);
    if (c->kind == NODE_PWC) {
        mr_assert(parent->pwc == c);
        parent->pwc = NULL;
    } else if (c->kind == NODE_FWC) {
        mr_assert(parent->fwc == c);
        parent->fwc = NULL;
    } else {
        gboolean removed = g_hash_table_remove(sl->edges, &c->key);
        mr_assert(removed);
    }
    if (c->prev_sibling != NULL) {
        c->prev_sibling->next_sibling = c->next_sibling;
    } else {
        parent->first_child = c->next_sibling;
    }
    if (c->next_sibling != NULL) {
        c->next_sibling->prev_sibling = c->prev_sibling;
    }
    parent->children--;
    sl->nodes--;
}

static struct node *lookup_literal(GHashTable *edges, const struct node *n, const char *tok,
                                   uint32_t len)
{
    uint32_t literals = n->children - (n->pwc != NULL) - (n->fwc != NULL);
    if (literals == 0) {
        return NULL;
    }
    /* Most levels have a child or two: comparing them beats hashing the token. */
    if (literals <= SCAN_CHILDREN_MAX) {
        for (struct node *c = n->first_child; c != NULL; c = c->next_sibling) {
            if (c->kind == NODE_LITERAL && c->key.len == len && memcmp(c->token, tok, len) == 0) {
                return c;
            }
        }
        return NULL;
    }
    struct edge_key k;
    edge_key_set(&k, n->id, tok, len);
    return g_hash_table_lookup(edges, &k);
}

/* The child of n for a sub's token: '*' and '>' tokens are the wildcard children. */
static struct node *child_for_sub_token(struct mr_sublist *sl, struct node *n,
                                        const struct mr_view *tok)
{
    if (tok_is_wild(tok->ptr, tok->len, '*')) {
        return n->pwc;
    }
    if (tok_is_wild(tok->ptr, tok->len, '>')) {
        return n->fwc;
    }
    return lookup_literal(sl->edges, n, tok->ptr, tok->len);
}

static int node_find_group(const struct node *n, const char *queue, uint32_t len)
{
    for (uint32_t i = 0; i < n->qgroups_count; i++) {
        const struct qgroup *g = &n->qgroups[i];
        if (g->queue_len == len && memcmp(g->queue, queue, len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* ---------------------------------------------------------------------------------- */
/* Match walk                                                                         */
/* ---------------------------------------------------------------------------------- */

struct walk {
    GHashTable *edges;
    const struct mr_view *tokens;
    uint32_t ntok;
    uint32_t top;
    struct frame *stack; /* STACK_MAX frames */
};

static void walk_push(struct walk *w, struct node *n, uint32_t depth)
{
    mr_assert(w->top < STACK_MAX);
    w->stack[w->top].node = n;
    w->stack[w->top].depth = depth;
    w->top++;
}

static void walk_init(struct walk *w, GHashTable *edges, struct node *root,
                      const struct mr_view *tokens, uint32_t ntok, struct frame *stack)
{
    mr_assert(ntok >= 1);
    mr_assert(ntok <= MR_SUBJECT_TOKENS_MAX + 1);
    w->edges = edges;
    w->tokens = tokens;
    w->ntok = ntok;
    w->top = 0;
    w->stack = stack;
    walk_push(w, root, 0);
}

/*
 * Returns the next node whose subs match, in the documented order, or NULL when done.
 * Children are pushed in reverse of the order they are visited: literal, '*', '>'.
 */
static struct node *walk_next(struct walk *w)
{
    while (w->top > 0) {
        struct frame f = w->stack[--w->top];
        struct node *n = f.node;
        if (f.depth == FRAME_EMIT || f.depth == w->ntok) {
            if (node_has_subs(n)) {
                return n;
            }
            continue;
        }
        mr_assert(f.depth == n->depth);
        mr_assert(f.depth < w->ntok);
        if (n->children == 0) {
            continue;
        }
        /* A node with children is above the deepest possible sub, so the token for the
         * next level is among the ones split_subject kept. */
        mr_assert(f.depth < MR_SUBJECT_TOKENS_MAX);
        if (n->fwc != NULL) {
            walk_push(w, n->fwc, FRAME_EMIT);
        }
        if (n->pwc != NULL) {
            walk_push(w, n->pwc, f.depth + 1);
        }
        const struct mr_view *t = &w->tokens[f.depth];
        struct node *c = lookup_literal(w->edges, n, t->ptr, t->len);
        if (c != NULL) {
            walk_push(w, c, f.depth + 1);
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------- */
/* Cache                                                                              */
/* ---------------------------------------------------------------------------------- */

static uint32_t cache_slot_of(const struct mr_sublist *sl, const char *s, size_t len, uint64_t h)
{
    uint32_t mask = CACHE_SLOTS - 1;
    uint32_t i = (uint32_t)h & mask;
    for (;;) {
        const struct centry *e = sl->slots[i].e;
        if (e == NULL) {
            return i;
        }
        if (sl->slots[i].hash == h && e->key_len == len && memcmp(e->key, s, len) == 0) {
            return i;
        }
        i = (i + 1) & mask;
    }
}

/* Empties slot i, shifting later entries of the probe run back so lookups still find
 * them (linear probing without tombstones). */
static void cache_slot_clear(struct mr_sublist *sl, uint32_t i)
{
    uint32_t mask = CACHE_SLOTS - 1;
    uint32_t j = i;
    sl->slots[i].e = NULL;
    for (;;) {
        j = (j + 1) & mask;
        if (sl->slots[j].e == NULL) {
            return;
        }
        uint32_t home = (uint32_t)sl->slots[j].hash & mask;
        /* The entry at j may move to i only if its home is not cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            sl->slots[i] = sl->slots[j];
            sl->slots[j].e = NULL;
            i = j;
        }
    }
}

static void list_append(struct centry_list *l, struct centry *e)
{
    e->prev = l->tail;
    e->next = NULL;
    if (l->tail != NULL) {
        l->tail->next = e;
    } else {
        l->head = e;
    }
    l->tail = e;
    l->count++;
}

static void list_unlink(struct centry_list *l, struct centry *e)
{
    mr_assert(l->count > 0);
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        l->head = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    } else {
        l->tail = e->prev;
    }
    e->prev = NULL;
    e->next = NULL;
    l->count--;
}

static void centry_free(struct mr_sublist *sl, struct centry *e)
{
    mr_mem_free(sl->mem, e, e->bytes);
}

/* Takes e out of the table and the FIFO. */
static void cache_detach(struct mr_sublist *sl, struct centry *e)
{
    uint32_t i = cache_slot_of(sl, e->key, e->key_len, e->hash);
    mr_assert(sl->slots[i].e == e);
    cache_slot_clear(sl, i);
    list_unlink(&sl->cache, e);
}

/* Evicts the oldest entry to make room. Its result may still be held by a caller, so
 * unless it is the shared empty result it waits in the graveyard. */
static void cache_evict_oldest(struct mr_sublist *sl)
{
    struct centry *e = sl->cache.head;
    mr_assert(e != NULL);
    cache_detach(sl, e);
    if (e->res == &sl->empty) {
        centry_free(sl, e);
        return;
    }
    if (sl->grave.count == GRAVE_MAX) {
        struct centry *old = sl->grave.head;
        list_unlink(&sl->grave, old);
        centry_free(sl, old);
    }
    list_append(&sl->grave, e);
}

static void grave_free_all(struct mr_sublist *sl)
{
    while (sl->grave.head != NULL) {
        struct centry *e = sl->grave.head;
        list_unlink(&sl->grave, e);
        centry_free(sl, e);
    }
    mr_assert(sl->grave.count == 0);
}

/* Drops the cached results that sub belongs (or belonged) to: those whose subject its
 * subject matches. Results handed out earlier expire now, per the header. */
static void cache_drop_matching(struct mr_sublist *sl, const struct mr_sub *sub, bool wildcard)
{
    if (sl->cache.count == 0) {
        return;
    }
    if (!wildcard) {
        uint64_t h = hash_bytes(sub->subject, sub->subject_len, sl->seed);
        uint32_t i = cache_slot_of(sl, sub->subject, sub->subject_len, h);
        struct centry *e = sl->slots[i].e;
        if (e != NULL) {
            cache_detach(sl, e);
            centry_free(sl, e);
        }
        return;
    }
    struct centry *e = sl->cache.head;
    while (e != NULL) {
        struct centry *next = e->next;
        if (mr_subject_matches(sub->subject, sub->subject_len, e->key, e->key_len)) {
            cache_detach(sl, e);
            centry_free(sl, e);
        }
        e = next;
    }
}

/* ---------------------------------------------------------------------------------- */
/* Create and destroy                                                                 */
/* ---------------------------------------------------------------------------------- */

int mr_sublist_create(struct mr_mem *mem, struct mr_sublist **out)
{
    mr_assert(mem != NULL);
    mr_assert(out != NULL);
    struct mr_sublist *sl = mr_mem_alloc(mem, sizeof(*sl));
    if (sl == NULL) {
        return MR_E_NOMEM;
    }
    sl->mem = mem;
    sl->slots = mr_mem_alloc(mem, CACHE_SLOTS * sizeof(struct cslot));
    if (sl->slots == NULL) {
        goto fail_slots;
    }
    sl->root = mr_mem_alloc(mem, sizeof(struct node));
    if (sl->root == NULL) {
        goto fail_root;
    }
    sl->root->kind = NODE_ROOT;
    sl->root->id = sl->next_node_id++;
    sl->cache_checked_epoch = UINT64_MAX;
    sl->trie_checked_at = UINT64_MAX;
    sl->cache_walked_at = UINT64_MAX;
    sl->edges = g_hash_table_new(edge_hash, edge_equal);
    *out = sl;
    return 0;

fail_root:
    mr_mem_free(mem, sl->slots, CACHE_SLOTS * sizeof(struct cslot));
fail_slots:
    mr_mem_free(mem, sl, sizeof(*sl));
    return MR_E_NOMEM;
}

static void node_release_subs(struct mr_sublist *sl, struct node *n)
{
    for (uint32_t i = 0; i < n->psubs_count; i++) {
        n->psubs[i]->node = NULL;
        n->psubs[i]->slot = 0;
    }
    mr_mem_free(sl->mem, n->psubs, (size_t)n->psubs_cap * sizeof(struct mr_sub *));
    n->psubs = NULL;
    n->psubs_count = 0;
    for (uint32_t g = 0; g < n->qgroups_count; g++) {
        struct qgroup *q = &n->qgroups[g];
        for (uint32_t i = 0; i < q->count; i++) {
            q->subs[i]->node = NULL;
            q->subs[i]->slot = 0;
        }
        mr_mem_free(sl->mem, q->subs, (size_t)q->cap * sizeof(struct mr_sub *));
    }
    mr_mem_free(sl->mem, n->qgroups, (size_t)n->qgroups_cap * sizeof(struct qgroup));
    n->qgroups = NULL;
    n->qgroups_count = 0;
}

void mr_sublist_seed(struct mr_sublist *sl, uint64_t seed)
{
    mr_assert(sl->nodes == 0);
    mr_assert(sl->stats.subs == 0);
    mr_assert(sl->cache.count == 0);
    /* Half the range, so ids never wrap however many nodes follow. */
    sl->seed = seed;
    sl->root->id = seed >> 1;
    sl->next_node_id = sl->root->id + 1;
}

void mr_sublist_destroy(struct mr_sublist *sl)
{
    if (sl == NULL) {
        return;
    }
    /* Post-order without a stack: descend to a leaf, free it, resume at its parent. */
    struct node *n = sl->root;
    while (n != NULL) {
        if (n->first_child != NULL) {
            n = n->first_child;
            continue;
        }
        struct node *parent = n->parent;
        node_release_subs(sl, n);
        if (parent != NULL) {
            node_unlink(sl, n);
        }
        node_free(sl, n);
        n = parent;
    }
    mr_assert(sl->nodes == 0);
    mr_assert(g_hash_table_size(sl->edges) == 0);
    g_hash_table_destroy(sl->edges);
    while (sl->cache.head != NULL) {
        struct centry *e = sl->cache.head;
        list_unlink(&sl->cache, e);
        centry_free(sl, e);
    }
    grave_free_all(sl);
    struct mr_mem *mem = sl->mem;
    mr_mem_free(mem, sl->hits, (size_t)sl->hits_cap * sizeof(*sl->hits));
    mr_mem_free(mem, sl->groups, (size_t)sl->groups_cap * sizeof(*sl->groups));
    mr_mem_free(mem, sl->gmap, (size_t)sl->gmap_cap * sizeof(*sl->gmap));
    mr_mem_free(mem, sl->slots, CACHE_SLOTS * sizeof(struct cslot));
    mr_mem_free(mem, sl, sizeof(*sl));
}

/* ---------------------------------------------------------------------------------- */
/* Insert and remove                                                                  */
/* ---------------------------------------------------------------------------------- */

static int place_plain(struct mr_sublist *sl, struct node *n, struct mr_sub *sub)
{
    struct mr_sub **arr = grow_array(sl->mem, n->psubs, &n->psubs_cap, sizeof(*arr),
                                     n->psubs_count + 1, PSUBS_CAP_MIN);
    if (arr == NULL) {
        return MR_E_NOMEM;
    }
    n->psubs = arr;
    sub->slot = n->psubs_count;
    n->psubs[n->psubs_count++] = sub;
    return 0;
}

/* Adds a queue sub to its group at n, creating the group (last, in creation order) if
 * needed. Allocates before it changes anything. */
static int place_queue(struct mr_sublist *sl, struct node *n, struct mr_sub *sub)
{
    int gi = node_find_group(n, sub->queue, sub->queue_len);
    if (gi >= 0) {
        struct qgroup *g = &n->qgroups[gi];
        struct mr_sub **arr =
            grow_array(sl->mem, g->subs, &g->cap, sizeof(*arr), g->count + 1, QSUBS_CAP_MIN);
        if (arr == NULL) {
            return MR_E_NOMEM;
        }
        g->subs = arr;
        sub->slot = g->count;
        g->subs[g->count++] = sub;
        return 0;
    }
    struct mr_sub **subs = mr_mem_alloc(sl->mem, QSUBS_CAP_MIN * sizeof(*subs));
    if (subs == NULL) {
        return MR_E_NOMEM;
    }
    struct qgroup *groups = grow_array(sl->mem, n->qgroups, &n->qgroups_cap, sizeof(*groups),
                                       n->qgroups_count + 1, QGROUPS_CAP_MIN);
    if (groups == NULL) {
        mr_mem_free(sl->mem, subs, QSUBS_CAP_MIN * sizeof(*subs));
        return MR_E_NOMEM;
    }
    n->qgroups = groups;
    struct qgroup *g = &n->qgroups[n->qgroups_count++];
    g->queue = sub->queue;
    g->queue_len = sub->queue_len;
    g->count = 1;
    g->cap = QSUBS_CAP_MIN;
    g->subs = subs;
    subs[0] = sub;
    sub->slot = 0;
    return 0;
}

int mr_sublist_insert(struct mr_sublist *sl, struct mr_sub *sub)
{
    mr_assert(sl != NULL);
    mr_assert(sub != NULL);
    mr_assert(mr_subject_valid(sub->subject, sub->subject_len));
    if (sub->queue != NULL) {
        mr_assert(mr_subject_valid_queue(sub->queue, sub->queue_len));
    }
    if (sub->node != NULL) {
        return MR_E_EXISTS;
    }
    uint32_t ntok = split_subject(sub->subject, sub->subject_len, sl->tokens);
    mr_assert(ntok >= 1);
    mr_assert(ntok <= MR_SUBJECT_TOKENS_MAX);

    /* The deepest node that already exists on the path, then new nodes for the rest. */
    struct node *n = sl->root;
    uint32_t depth = 0;
    while (depth < ntok) {
        struct node *c = child_for_sub_token(sl, n, &sl->tokens[depth]);
        if (c == NULL) {
            break;
        }
        n = c;
        depth++;
    }
    struct node *fresh[MR_SUBJECT_TOKENS_MAX];
    uint32_t nfresh = 0;
    for (; depth + nfresh < ntok; nfresh++) {
        fresh[nfresh] = node_new(sl, &sl->tokens[depth + nfresh], depth + nfresh + 1);
        if (fresh[nfresh] == NULL) {
            goto fail;
        }
    }
    struct node *target = nfresh > 0 ? fresh[nfresh - 1] : n;
    int rc = sub->queue == NULL ? place_plain(sl, target, sub) : place_queue(sl, target, sub);
    if (rc != 0) {
        goto fail;
    }

    /* Nothing below can fail. */
    for (uint32_t i = 0; i < nfresh; i++) {
        node_link(sl, i == 0 ? n : fresh[i - 1], fresh[i]);
    }
    sub->node = target;
    sl->stats.subs++;
    sl->stats.inserts++;
    cache_drop_matching(sl, sub, mr_subject_has_wildcard(sub->subject, sub->subject_len));
    grave_free_all(sl);
    mr_assert(target->depth == ntok);
    return 0;

fail:
    for (uint32_t i = 0; i < nfresh; i++) {
        node_free(sl, fresh[i]);
    }
    mr_assert(sub->node == NULL);
    return MR_E_NOMEM;
}

static void remove_plain(struct mr_sublist *sl, struct node *n, struct mr_sub *sub)
{
    mr_assert(sub->slot < n->psubs_count);
    mr_assert(n->psubs[sub->slot] == sub);
    struct mr_sub *last = n->psubs[--n->psubs_count];
    n->psubs[sub->slot] = last;
    last->slot = sub->slot;
    n->psubs = shrink_array(sl->mem, n->psubs, &n->psubs_cap, sizeof(*n->psubs), n->psubs_count,
                            PSUBS_CAP_MIN);
}

static void remove_queue(struct mr_sublist *sl, struct node *n, struct mr_sub *sub)
{
    int gi = node_find_group(n, sub->queue, sub->queue_len);
    mr_assert(gi >= 0);
    struct qgroup *g = &n->qgroups[gi];
    mr_assert(sub->slot < g->count);
    mr_assert(g->subs[sub->slot] == sub);
    struct mr_sub *last = g->subs[--g->count];
    g->subs[sub->slot] = last;
    last->slot = sub->slot;
    g->subs = shrink_array(sl->mem, g->subs, &g->cap, sizeof(*g->subs), g->count, QSUBS_CAP_MIN);
    if (g->count > 0) {
        /* The name's bytes belong to a sub; keep pointing at a member that stays. */
        g->queue = g->subs[0]->queue;
        return;
    }
    /* Close the gap so the remaining groups keep their order of creation. */
    uint32_t after = n->qgroups_count - (uint32_t)gi - 1;
    memmove(&n->qgroups[gi], &n->qgroups[gi + 1], after * sizeof(*n->qgroups));
    n->qgroups_count--;
    n->qgroups = shrink_array(sl->mem, n->qgroups, &n->qgroups_cap, sizeof(*n->qgroups),
                              n->qgroups_count, QGROUPS_CAP_MIN);
}

int mr_sublist_remove(struct mr_sublist *sl, struct mr_sub *sub)
{
    mr_assert(sl != NULL);
    mr_assert(sub != NULL);
    struct node *n = sub->node;
    if (n == NULL) {
        return MR_E_NOT_FOUND;
    }
    /* A sub inserted into another sublist is a caller bug, not "not found". */
    struct node *top = n;
    while (top->parent != NULL) {
        top = top->parent;
    }
    mr_assert(top == sl->root);
    if (sub->queue == NULL) {
        remove_plain(sl, n, sub);
    } else {
        remove_queue(sl, n, sub);
    }
    sub->node = NULL;
    sub->slot = 0;
    while (n != sl->root && node_is_empty(n)) {
        struct node *parent = n->parent;
        node_unlink(sl, n);
        node_free(sl, n);
        n = parent;
    }
    mr_assert(sl->stats.subs > 0);
    sl->stats.subs--;
    sl->stats.removes++;
    cache_drop_matching(sl, sub, mr_subject_has_wildcard(sub->subject, sub->subject_len));
    grave_free_all(sl);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Match                                                                              */
/* ---------------------------------------------------------------------------------- */

/* Totals a miss needs to size its entry. */
struct collected {
    uint32_t hits;
    uint32_t groups;
    uint32_t gmap;
    size_t psubs;
    size_t qsubs;
};

/* The result group named queue among the first count, or count if there is none yet.
 * A linear scan, as nats-server's findQSlot: few groups match one subject. */
static uint32_t gslot_find(const struct gslot *groups, uint32_t count, const char *queue,
                           uint32_t len)
{
    for (uint32_t i = 0; i < count; i++) {
        if (groups[i].queue_len == len && memcmp(groups[i].queue, queue, len) == 0) {
            return i;
        }
    }
    return count;
}

/* Records, for one matching node's queue groups, which result group each one joins. */
static int collect_groups(struct mr_sublist *sl, const struct node *n, struct collected *c)
{
    for (uint32_t j = 0; j < n->qgroups_count; j++) {
        const struct qgroup *g = &n->qgroups[j];
        uint32_t slot = gslot_find(sl->groups, c->groups, g->queue, g->queue_len);
        if (slot == c->groups) {
            struct gslot *gs =
                grow_array(sl->mem, sl->groups, &sl->groups_cap, sizeof(*gs), c->groups + 1, 8);
            if (gs == NULL) {
                return MR_E_NOMEM;
            }
            sl->groups = gs;
            gs[slot] = (struct gslot){.queue = g->queue, .queue_len = g->queue_len};
            c->groups++;
        }
        uint32_t *gm = grow_array(sl->mem, sl->gmap, &sl->gmap_cap, sizeof(*gm), c->gmap + 1, 8);
        if (gm == NULL) {
            return MR_E_NOMEM;
        }
        sl->gmap = gm;
        gm[c->gmap++] = slot;
        sl->groups[slot].count += g->count;
        c->qsubs += g->count;
    }
    return 0;
}

static int collect(struct mr_sublist *sl, uint32_t ntok, struct collected *c)
{
    memset(c, 0, sizeof(*c));
    struct walk w;
    walk_init(&w, sl->edges, sl->root, sl->tokens, ntok, sl->stack);
    struct node *n;
    while ((n = walk_next(&w)) != NULL) {
        struct node **hits =
            grow_array(sl->mem, sl->hits, &sl->hits_cap, sizeof(*hits), c->hits + 1, 8);
        if (hits == NULL) {
            return MR_E_NOMEM;
        }
        sl->hits = hits;
        hits[c->hits++] = n;
        c->psubs += n->psubs_count;
        int rc = collect_groups(sl, n, c);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Copies the collected subs into e's result, in walk order. */
static void fill_result(struct mr_sublist *sl, const struct collected *c, struct centry *e,
                        struct mr_sub **psubs, struct mr_sub **qsubs)
{
    struct mr_sublist_result *r = &e->result;
    uint32_t fill = 0;
    for (uint32_t k = 0; k < c->groups; k++) {
        sl->groups[k].fill = fill;
        r->qgroups[k].count = sl->groups[k].count;
        r->qgroups[k].subs = qsubs + fill;
        fill += sl->groups[k].count;
    }
    size_t pi = 0;
    uint32_t m = 0;
    for (uint32_t h = 0; h < c->hits; h++) {
        const struct node *n = sl->hits[h];
        if (n->psubs_count > 0) {
            memcpy(psubs + pi, n->psubs, n->psubs_count * sizeof(*psubs));
            pi += n->psubs_count;
        }
        for (uint32_t j = 0; j < n->qgroups_count; j++) {
            struct gslot *gs = &sl->groups[sl->gmap[m++]];
            memcpy(qsubs + gs->fill, n->qgroups[j].subs, n->qgroups[j].count * sizeof(*qsubs));
            gs->fill += n->qgroups[j].count;
        }
    }
    for (uint32_t k = 0; k < c->groups; k++) {
        r->qgroups[k].queue = r->qgroups[k].subs[0]->queue;
        r->qgroups[k].queue_len = r->qgroups[k].subs[0]->queue_len;
    }
    mr_assert(pi == c->psubs);
    mr_assert(m == c->gmap);
}

/* Builds and caches the result for a subject not in the cache. */
static const struct mr_sublist_result *match_miss(struct mr_sublist *sl, const char *subject,
                                                  size_t len, uint64_t h)
{
    uint32_t ntok = split_subject(subject, len, sl->tokens);
    if (ntok == 0) {
        return &sl->empty;
    }
    struct collected c;
    if (collect(sl, ntok, &c) != 0) {
        return NULL;
    }
    mr_assert(c.psubs <= UINT32_MAX);
    bool empty = c.psubs == 0 && c.groups == 0;
    size_t qg_bytes = c.groups * sizeof(struct mr_sublist_qgroup);
    size_t ps_bytes = c.psubs * sizeof(struct mr_sub *);
    size_t qs_bytes = c.qsubs * sizeof(struct mr_sub *);
    size_t bytes = sizeof(struct centry) + qg_bytes + ps_bytes + qs_bytes + len;
    if (sl->cache.count == MR_SUBLIST_CACHE_MAX) {
        cache_evict_oldest(sl);
    }
    struct centry *e = mr_mem_alloc(sl->mem, bytes);
    if (e == NULL) {
        /* An empty result needs no storage, so it can still be answered. */
        return empty ? &sl->empty : NULL;
    }
    char *p = (char *)(e + 1);
    e->bytes = bytes;
    e->hash = h;
    e->checked_at = UINT64_MAX;
    e->result.qgroups = c.groups > 0 ? (struct mr_sublist_qgroup *)p : NULL;
    e->result.psubs = c.psubs > 0 ? (struct mr_sub **)(p + qg_bytes) : NULL;
    e->result.psubs_count = (uint32_t)c.psubs;
    e->result.qgroups_count = c.groups;
    struct mr_sub **psubs = (struct mr_sub **)(p + qg_bytes);
    fill_result(sl, &c, e, psubs, psubs + c.psubs);
    char *key = p + qg_bytes + ps_bytes + qs_bytes;
    memcpy(key, subject, len);
    e->key = key;
    e->key_len = len;
    e->res = empty ? &sl->empty : &e->result;
    uint32_t i = cache_slot_of(sl, subject, len, h);
    mr_assert(sl->slots[i].e == NULL);
    sl->slots[i].hash = h;
    sl->slots[i].e = e;
    list_append(&sl->cache, e);
    return e->res;
}

const struct mr_sublist_result *mr_sublist_match(struct mr_sublist *sl, const char *subject,
                                                 size_t len)
{
    mr_assert(sl != NULL);
    mr_assert(len <= MR_SUBJECT_LEN_MAX);
    sl->stats.matches++;
    uint64_t h = hash_bytes(subject, len, sl->seed);
    struct centry *e = sl->slots[cache_slot_of(sl, subject, len, h)].e;
    if (e != NULL) {
        sl->stats.cache_hits++;
        return e->res;
    }
    return match_miss(sl, subject, len, h);
}

int mr_sublist_has_interest(struct mr_sublist *sl, const char *subject, size_t len)
{
    mr_assert(sl != NULL);
    mr_assert(len <= MR_SUBJECT_LEN_MAX);
    uint64_t h = hash_bytes(subject, len, sl->seed);
    const struct centry *e = sl->slots[cache_slot_of(sl, subject, len, h)].e;
    if (e != NULL) {
        return e->res != &sl->empty;
    }
    uint32_t ntok = split_subject(subject, len, sl->tokens);
    if (ntok == 0) {
        return 0;
    }
    struct walk w;
    walk_init(&w, sl->edges, sl->root, sl->tokens, ntok, sl->stack);
    return walk_next(&w) != NULL;
}

void mr_sublist_stats(const struct mr_sublist *sl, struct mr_sublist_stats *out)
{
    mr_assert(sl != NULL);
    mr_assert(out != NULL);
    *out = sl->stats;
    out->cache_entries = sl->cache.count;
    out->fanout_total = 0;
    out->fanout_max = 0;
    for (const struct centry *e = sl->cache.head; e != NULL; e = e->next) {
        uint32_t fanout = e->res->psubs_count + e->res->qgroups_count;
        out->fanout_total += fanout;
        if (fanout > out->fanout_max) {
            out->fanout_max = fanout;
        }
    }
}

/* ---------------------------------------------------------------------------------- */
/* Invariants                                                                         */
/* ---------------------------------------------------------------------------------- */

/* The sub's subject, read from its last token back, spells the path from n to the root. */
static void check_sub_path(const struct node *n, const struct mr_sub *sub)
{
    const char *s = sub->subject;
    size_t end = sub->subject_len;
    const struct node *m = n;
    while (m->kind != NODE_ROOT) {
        size_t start = end;
        while (start > 0 && s[start - 1] != '.') {
            start--;
        }
        const char *tok = s + start;
        size_t len = end - start;
        if (m->kind == NODE_PWC) {
            mr_assert(tok_is_wild(tok, (uint32_t)len, '*'));
        } else if (m->kind == NODE_FWC) {
            mr_assert(tok_is_wild(tok, (uint32_t)len, '>'));
        } else {
            mr_assert(len == m->key.len);
            mr_assert(memcmp(tok, m->token, len) == 0);
        }
        mr_assert((start == 0) == (m->parent->kind == NODE_ROOT));
        end = start > 0 ? start - 1 : 0;
        m = m->parent;
    }
}

static void check_node_subs(const struct node *n, uint64_t *subs)
{
    mr_assert(n->psubs_count <= n->psubs_cap);
    mr_assert((n->psubs_cap == 0) == (n->psubs == NULL));
    for (uint32_t i = 0; i < n->psubs_count; i++) {
        const struct mr_sub *s = n->psubs[i];
        mr_assert(s->node == n);
        mr_assert(s->slot == i);
        mr_assert(s->queue == NULL);
        check_sub_path(n, s);
    }
    *subs += n->psubs_count;
    mr_assert(n->qgroups_count <= n->qgroups_cap);
    mr_assert((n->qgroups_cap == 0) == (n->qgroups == NULL));
    for (uint32_t g = 0; g < n->qgroups_count; g++) {
        const struct qgroup *q = &n->qgroups[g];
        mr_assert(q->count > 0);
        mr_assert(q->count <= q->cap);
        mr_assert(q->queue == q->subs[0]->queue);
        mr_assert(node_find_group(n, q->queue, q->queue_len) == (int)g);
        for (uint32_t i = 0; i < q->count; i++) {
            const struct mr_sub *s = q->subs[i];
            mr_assert(s->node == n);
            mr_assert(s->slot == i);
            mr_assert(s->queue_len == q->queue_len);
            mr_assert(memcmp(s->queue, q->queue, q->queue_len) == 0);
            check_sub_path(n, s);
        }
        *subs += q->count;
    }
}

static void check_children(const struct mr_sublist *sl, const struct node *n)
{
    uint32_t count = 0;
    bool saw_pwc = false;
    bool saw_fwc = false;
    for (const struct node *c = n->first_child; c != NULL; c = c->next_sibling) {
        mr_assert(c->parent == n);
        mr_assert(c->depth == n->depth + 1);
        mr_assert(c->depth <= MR_SUBJECT_TOKENS_MAX);
        if (c->next_sibling != NULL) {
            mr_assert(c->next_sibling->prev_sibling == c);
        }
        if (c->kind == NODE_PWC) {
            mr_assert(n->pwc == c);
            saw_pwc = true;
        } else if (c->kind == NODE_FWC) {
            mr_assert(n->fwc == c);
            mr_assert(c->children == 0);
            saw_fwc = true;
        } else {
            mr_assert(c->kind == NODE_LITERAL);
            mr_assert(c->key.parent_id == n->id);
            mr_assert(c->key.tok == c->token);
            mr_assert(c->key.len > 0);
            mr_assert(!tok_is_wild(c->token, c->key.len, '*'));
            mr_assert(!tok_is_wild(c->token, c->key.len, '>'));
            mr_assert(lookup_literal(sl->edges, n, c->token, c->key.len) == c);
            mr_assert(g_hash_table_lookup(sl->edges, &c->key) == c);
        }
        count++;
    }
    mr_assert(count == n->children);
    mr_assert(saw_pwc == (n->pwc != NULL));
    mr_assert(saw_fwc == (n->fwc != NULL));
    if (n->first_child != NULL) {
        mr_assert(n->first_child->prev_sibling == NULL);
    }
}

static void check_trie(const struct mr_sublist *sl)
{
    const struct node *root = sl->root;
    mr_assert(root->kind == NODE_ROOT);
    mr_assert(root->parent == NULL);
    mr_assert(root->depth == 0);
    uint64_t nodes = 0;
    uint64_t literals = 0;
    uint64_t subs = 0;
    /* Pre-order over the sibling lists, climbing back through parent links. */
    const struct node *n = root;
    while (n != NULL) {
        check_children(sl, n);
        check_node_subs(n, &subs);
        if (n != root) {
            nodes++;
            literals += n->kind == NODE_LITERAL;
            mr_assert(!node_is_empty(n)); /* removal prunes empty nodes */
            mr_assert(n->id < sl->next_node_id);
        }
        if (n->first_child != NULL) {
            n = n->first_child;
            continue;
        }
        while (n != NULL && n->next_sibling == NULL) {
            n = n->parent;
        }
        if (n != NULL) {
            n = n->next_sibling;
        }
    }
    mr_assert(nodes == sl->nodes);
    mr_assert(literals == g_hash_table_size(sl->edges));
    mr_assert(subs == sl->stats.subs);
    mr_assert(sl->stats.subs == sl->stats.inserts - sl->stats.removes);
}

static uint32_t result_group_find(const struct mr_sublist_result *r, const char *queue,
                                  uint32_t len)
{
    for (uint32_t i = 0; i < r->qgroups_count; i++) {
        if (r->qgroups[i].queue_len == len && memcmp(r->qgroups[i].queue, queue, len) == 0) {
            return i;
        }
    }
    return r->qgroups_count;
}

/* Compares a cached result with a fresh walk over the trie, in order. */
static void check_entry_result(const struct mr_sublist *sl, const struct centry *e)
{
    struct mr_view tokens[MR_SUBJECT_TOKENS_MAX + 1];
    struct frame stack[STACK_MAX];
    const struct mr_sublist_result *r = e->res;
    uint32_t ntok = split_subject(e->key, e->key_len, tokens);
    mr_assert(ntok > 0);
    struct walk w;
    struct node *n;
    uint32_t k = 0;
    uint32_t seen = 0;
    walk_init(&w, sl->edges, sl->root, tokens, ntok, stack);
    while ((n = walk_next(&w)) != NULL) {
        for (uint32_t i = 0; i < n->psubs_count; i++) {
            mr_assert(k < r->psubs_count);
            mr_assert(r->psubs[k++] == n->psubs[i]);
        }
        /* Groups appear in the result in order of first appearance in the walk. */
        for (uint32_t j = 0; j < n->qgroups_count; j++) {
            const struct qgroup *g = &n->qgroups[j];
            uint32_t idx = result_group_find(r, g->queue, g->queue_len);
            mr_assert(idx < r->qgroups_count);
            mr_assert(idx <= seen);
            seen += idx == seen;
        }
    }
    mr_assert(k == r->psubs_count);
    mr_assert(seen == r->qgroups_count);
    for (uint32_t i = 0; i < r->psubs_count; i++) {
        const struct mr_sub *s = r->psubs[i];
        mr_assert(mr_subject_matches(s->subject, s->subject_len, e->key, e->key_len));
    }
    for (uint32_t gi = 0; gi < r->qgroups_count; gi++) {
        const struct mr_sublist_qgroup *q = &r->qgroups[gi];
        mr_assert(q->count > 0);
        mr_assert(q->queue == q->subs[0]->queue);
        uint32_t cursor = 0;
        walk_init(&w, sl->edges, sl->root, tokens, ntok, stack);
        while ((n = walk_next(&w)) != NULL) {
            int j = node_find_group(n, q->queue, q->queue_len);
            for (uint32_t i = 0; j >= 0 && i < n->qgroups[j].count; i++) {
                mr_assert(cursor < q->count);
                mr_assert(q->subs[cursor++] == n->qgroups[j].subs[i]);
            }
        }
        mr_assert(cursor == q->count);
        for (uint32_t i = 0; i < q->count; i++) {
            const struct mr_sub *s = q->subs[i];
            mr_assert(mr_subject_matches(s->subject, s->subject_len, e->key, e->key_len));
        }
    }
}

/* Changes whenever the cache can have changed: an insert or remove (drops), or a match
 * that missed (adds, maybe evicts). Cache hits leave it alone. */
static uint64_t cache_epoch(const struct mr_sublist *sl)
{
    return sl->stats.inserts + sl->stats.removes + (sl->stats.matches - sl->stats.cache_hits);
}

uint64_t mr_sublist_epoch(const struct mr_sublist *sl)
{
    return cache_epoch(sl);
}

/* True when a lookup of e's key finds e, as cache_slot_of would: e's probe run from its
 * home slot reaches e before a free slot or another entry with the same key. Compares
 * pointers and hashes first, so a check need not read every key. */
static bool cache_slot_holds(const struct mr_sublist *sl, const struct centry *e)
{
    uint32_t mask = CACHE_SLOTS - 1;
    for (uint32_t i = (uint32_t)e->hash & mask;; i = (i + 1) & mask) {
        const struct cslot *slot = &sl->slots[i];
        if (slot->e == e) {
            return slot->hash == e->hash;
        }
        if (slot->e == NULL) {
            return false;
        }
        if (slot->hash == e->hash && slot->e->key_len == e->key_len &&
            memcmp(slot->e->key, e->key, e->key_len) == 0) {
            return false;
        }
    }
}

static void check_cache(const struct mr_sublist *sl)
{
    mr_assert(sl->cache.count <= MR_SUBLIST_CACHE_MAX);
    /* The simulator checks after every event; most events are cache hits, which cannot
     * break the cache, so the full walk runs once per epoch. */
    if (sl->cache_checked_epoch == cache_epoch(sl)) {
        return;
    }
    uint64_t last_epoch = sl->cache_checked_epoch;
    ((struct mr_sublist *)sl)->cache_checked_epoch = cache_epoch(sl);
    /* With no insert or remove since the last walk, the epoch moved by matches that
     * missed: each appended one entry at the tail (and maybe evicted the oldest). A
     * stream of new subjects (reply inboxes) does that on every match, and a walk of a
     * full cache is a memory miss per entry, so then the newest entry is checked, and
     * the whole cache each time the epoch passes a multiple of 64. */
    uint64_t mutations = sl->stats.inserts + sl->stats.removes;
    if (sl->cache_walked_at == mutations && last_epoch / 64 == cache_epoch(sl) / 64) {
        const struct centry *t = sl->cache.tail;
        if (t != NULL) {
            mr_assert(t->next == NULL);
            mr_assert(t->prev == NULL ? sl->cache.head == t : t->prev->next == t);
            mr_assert(cache_slot_holds(sl, t));
            if (t->checked_at != mutations) {
                mr_assert(t->hash == hash_bytes(t->key, t->key_len, sl->seed));
                check_entry_result(sl, t);
                ((struct centry *)t)->checked_at = mutations;
            }
        }
        return;
    }
    ((struct mr_sublist *)sl)->cache_walked_at = mutations;
    uint32_t count = 0;
    for (const struct centry *e = sl->cache.head; e != NULL; e = e->next) {
        mr_assert(e->prev == NULL ? sl->cache.head == e : e->prev->next == e);
        mr_assert(cache_slot_holds(sl, e));
        bool empty = e->result.psubs_count == 0 && e->result.qgroups_count == 0;
        mr_assert(e->res == (empty ? &sl->empty : &e->result));
        /* Compare with a fresh match once per insert/remove, not on every check: the
         * sim checks after every event, and only a mutation can make a result stale.
         * The key and its hash never change after the entry is made, so rehashing the
         * key (the larger part of a walk over a full cache) goes with it. */
        if (e->checked_at != sl->stats.inserts + sl->stats.removes) {
            mr_assert(e->hash == hash_bytes(e->key, e->key_len, sl->seed));
            check_entry_result(sl, e);
            ((struct centry *)e)->checked_at = sl->stats.inserts + sl->stats.removes;
        }
        count++;
    }
    mr_assert(count == sl->cache.count);
    mr_assert(count <= MR_SUBLIST_CACHE_MAX);
    /* Every entry was found in its slot above; a stray slot can only come from a bug in
     * the same code, so the O(slots) sweep runs on every 64th epoch (a stream of new
     * subjects, such as reply inboxes, changes the epoch on every match). */
    if (cache_epoch(sl) % 64 == 0) {
        uint32_t used = 0;
        for (uint32_t i = 0; i < CACHE_SLOTS; i++) {
            used += sl->slots[i].e != NULL;
        }
        mr_assert(used == count);
    }
    uint32_t graves = 0;
    for (const struct centry *e = sl->grave.head; e != NULL; e = e->next) {
        mr_assert(e->res == &e->result);
        graves++;
    }
    mr_assert(graves == sl->grave.count);
    mr_assert(graves <= GRAVE_MAX);
    mr_assert(sl->empty.psubs_count == 0);
    mr_assert(sl->empty.qgroups_count == 0);
    mr_assert(sl->empty.psubs == NULL);
    mr_assert(sl->empty.qgroups == NULL);
}

void mr_sublist_check(const struct mr_sublist *sl)
{
    mr_assert(sl != NULL);
    mr_assert(sl->mem != NULL);
    mr_assert(sl->root != NULL);
    /* Only an insert or remove changes the trie: walk it once per change. */
    if (sl->trie_checked_at != sl->stats.inserts + sl->stats.removes) {
        check_trie(sl);
        ((struct mr_sublist *)sl)->trie_checked_at = sl->stats.inserts + sl->stats.removes;
    }
    check_cache(sl);
}
