/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The subject index: a trie over subject tokens with '*' and '>' nodes, and a bounded
 * match cache. It is the hot path of every publish.
 *
 * Ownership: the sublist stores pointers to caller-owned struct mr_sub; it never frees
 * them. A sub must be zeroed before its first insert, and stay alive and unmoved while
 * inserted; its subject/queue bytes must stay unchanged. Results returned by
 * mr_sublist_match() belong to the sublist and are valid until the next insert or
 * remove (callers that must unsubscribe during a fan-out defer it until the fan-out is
 * done). A cached result evicted by a later match stays readable until then too, for at
 * most 1024 evictions.
 *
 * Order is deterministic (never pointer or hash order): plain subs come in the order of
 * the trie walk (literal token, then '*', then '>' at each level) and, within a node, in
 * insertion order as perturbed by removals (swap-remove, itself deterministic). Queue
 * subs are grouped by queue name across all matching nodes, as nats-server groups
 * them, groups in order of first appearance.
 *
 * Cache: up to MR_SUBLIST_CACHE_MAX literal subjects map to their results. Inserting or
 * removing a sub drops exactly the cached subjects it matches. In the steady state a
 * match allocates nothing.
 */
#ifndef MR_SUBLIST_H
#define MR_SUBLIST_H

#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"

struct mr_sublist;

struct mr_sub {
    void *owner;         /* the connection (or internal handler) that owns it */
    const char *subject; /* valid subject, wildcards allowed */
    uint32_t subject_len;
    const char *queue; /* NULL for a plain subscription */
    uint32_t queue_len;
    uint32_t flags; /* owner's use */
    /* Private to the sublist: position inside its node's array, for O(1) removal. */
    uint32_t slot;
    void *node;
};

struct mr_sublist_qgroup {
    const char *queue;
    uint32_t queue_len;
    uint32_t count;
    struct mr_sub **subs;
};

struct mr_sublist_result {
    uint32_t psubs_count;
    uint32_t qgroups_count;
    struct mr_sub **psubs;
    struct mr_sublist_qgroup *qgroups;
};

struct mr_sublist_stats {
    uint64_t subs;      /* subscriptions inserted now */
    uint64_t inserts;   /* ever */
    uint64_t removes;   /* ever */
    uint64_t matches;   /* mr_sublist_match calls */
    uint64_t cache_hits;
    uint64_t cache_entries;
    /* Over the cached results, as nats-server reports them: fan-out = plain subs + queue
     * groups of a result. */
    uint64_t fanout_total;
    uint32_t fanout_max;
};

/* Allocates through mem. Returns 0 or MR_E_NOMEM. */
int mr_sublist_create(struct mr_mem *mem, struct mr_sublist **out);
/* Keys the sublist's internal hashes with seed, so clients cannot craft tokens or
 * subjects that collide. Only on an empty sublist, right after create. Matching order
 * never depends on it. */
void mr_sublist_seed(struct mr_sublist *sl, uint64_t seed);
/* Frees the trie and cache; the subs themselves belong to their owners. */
void mr_sublist_destroy(struct mr_sublist *sl);

/* Inserts sub (subject must already be valid). Returns 0, MR_E_NOMEM (nothing
 * changed), or MR_E_EXISTS if this exact sub is already inserted. */
int mr_sublist_insert(struct mr_sublist *sl, struct mr_sub *sub);
/* Removes sub. Returns 0 or MR_E_NOT_FOUND. */
int mr_sublist_remove(struct mr_sublist *sl, struct mr_sub *sub);

/* Matches a literal subject. Returns NULL only on MR_E_NOMEM; an empty result when
 * nothing matches. See the lifetime rule above. */
const struct mr_sublist_result *mr_sublist_match(struct mr_sublist *sl, const char *subject,
                                                 size_t len);

/* Changes whenever a result returned earlier may have become invalid: an insert, a
 * remove, or a match that missed the cache (and may have evicted). A caller may keep
 * using a result, and reuse it for the same subject, while the epoch is unchanged. */
uint64_t mr_sublist_epoch(const struct mr_sublist *sl);

/* True if any subscription (plain or queue) matches the literal subject. */
int mr_sublist_has_interest(struct mr_sublist *sl, const char *subject, size_t len);

void mr_sublist_stats(const struct mr_sublist *sl, struct mr_sublist_stats *out);
/* Walks the whole trie and cache and asserts their invariants. O(n). */
void mr_sublist_check(const struct mr_sublist *sl);

#endif
