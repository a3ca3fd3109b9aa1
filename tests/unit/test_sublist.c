/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for core/server/sublist.c: literal and wildcard matching, queue groups
 * grouped by name across patterns, removal and pruning, cache invalidation and bounds,
 * deterministic order, allocation failure injection, and randomized runs compared with a
 * brute-force model built on mr_subject_matches. Every test ends with the sublist
 * destroyed and the mr_mem counters at zero (the fixture's mr_mem_deinit asserts it).
 *
 * Randomized tests use a fixed-seed splitmix64 and print the seed.
 */
#include <check.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/limits.h"
#include "core/mem.h"
#include "core/proto/subject.h"
#include "core/server/sublist.h"

/* A subscription as a test owns it: the mr_sub plus the bytes it points at. */
struct tsub {
    struct mr_sub sub;
    uint32_t id;
    int qidx; /* index of the queue name in the random tests, -1 for none */
    bool live;
    char subject[96];
    char queue[16];
};

static struct mr_mem mem;
static struct mr_sublist *sl;

/* ck_assert records a checkpoint (a write to Check's pipe) on every success, which
 * dominates loops of millions of checks; REQUIRE reports only failures. */
#define REQUIRE(c)                                                                                 \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            ck_abort_msg("requirement failed: %s", #c);                                            \
        }                                                                                          \
    } while (0)

static void setup(void)
{
    mr_mem_init(&mem, 0);
    ck_assert_int_eq(mr_sublist_create(&mem, &sl), 0);
    mr_sublist_check(sl);
}

static void teardown(void)
{
    mr_sublist_check(sl);
    mr_sublist_destroy(sl);
    sl = NULL;
    mr_mem_deinit(&mem);
}

static void tsub_set(struct tsub *t, uint32_t id, const char *subject, const char *queue)
{
    memset(t, 0, sizeof(*t));
    t->id = id;
    t->qidx = -1;
    REQUIRE(strlen(subject) < sizeof(t->subject));
    strcpy(t->subject, subject);
    t->sub.owner = t;
    t->sub.subject = t->subject;
    t->sub.subject_len = (uint32_t)strlen(subject);
    if (queue != NULL) {
        REQUIRE(strlen(queue) < sizeof(t->queue));
        strcpy(t->queue, queue);
        t->sub.queue = t->queue;
        t->sub.queue_len = (uint32_t)strlen(queue);
    }
}

static void add(struct tsub *t, uint32_t id, const char *subject, const char *queue)
{
    tsub_set(t, id, subject, queue);
    ck_assert_int_eq(mr_sublist_insert(sl, &t->sub), 0);
    t->live = true;
    mr_sublist_check(sl);
}

static void del(struct tsub *t)
{
    ck_assert_int_eq(mr_sublist_remove(sl, &t->sub), 0);
    t->live = false;
    mr_sublist_check(sl);
}

static uint32_t sub_id(const struct mr_sub *s)
{
    return ((const struct tsub *)s->owner)->id;
}

/* "p1,p2|queue:q1,q2|queue2:q3": plain ids, then each group, all in result order. */
static const char *sig(const struct mr_sublist_result *r)
{
    static char buf[8192];
    size_t n = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < r->psubs_count; i++) {
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%u", i ? "," : "", sub_id(r->psubs[i]));
    }
    for (uint32_t g = 0; g < r->qgroups_count; g++) {
        const struct mr_sublist_qgroup *q = &r->qgroups[g];
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "|%.*s:", (int)q->queue_len, q->queue);
        for (uint32_t i = 0; i < q->count; i++) {
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%u", i ? "," : "",
                                  sub_id(q->subs[i]));
        }
    }
    ck_assert_uint_lt(n, sizeof(buf));
    return buf;
}

static const char *match_sig(const char *subject)
{
    const struct mr_sublist_result *r = mr_sublist_match(sl, subject, strlen(subject));
    ck_assert_ptr_nonnull(r);
    mr_sublist_check(sl);
    return sig(r);
}

#define EXPECT_MATCH(subject, want) ck_assert_str_eq(match_sig(subject), want)

static struct mr_sublist_stats stats(void)
{
    struct mr_sublist_stats st;
    mr_sublist_stats(sl, &st);
    return st;
}

static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint32_t rng_below(uint64_t *state, uint32_t n)
{
    return (uint32_t)(rng_next(state) % n);
}

/* ---------------------------------------------------------------------------------- */
/* Matching                                                                           */
/* ---------------------------------------------------------------------------------- */

START_TEST(literal_matches_only_the_same_subject)
{
    static struct tsub t[3];
    add(&t[0], 1, "foo.bar", NULL);
    add(&t[1], 2, "foo.baz", NULL);
    add(&t[2], 3, "foo", NULL);
    EXPECT_MATCH("foo.bar", "1");
    EXPECT_MATCH("foo.baz", "2");
    EXPECT_MATCH("foo", "3");
    EXPECT_MATCH("foo.bar.baz", "");
    EXPECT_MATCH("fo", "");
    EXPECT_MATCH("Foo.bar", "");
    ck_assert_int_eq(mr_sublist_has_interest(sl, "foo.bar", 7), 1);
    ck_assert_int_eq(mr_sublist_has_interest(sl, "foo.qux", 7), 0);
}
END_TEST

START_TEST(pwc_matches_exactly_one_token)
{
    static struct tsub t[3];
    add(&t[0], 1, "foo.*", NULL);
    add(&t[1], 2, "*.bar", NULL);
    add(&t[2], 3, "*", NULL);
    EXPECT_MATCH("foo.bar", "1,2");
    EXPECT_MATCH("foo.baz", "1");
    EXPECT_MATCH("qux.bar", "2");
    EXPECT_MATCH("foo", "3");
    EXPECT_MATCH("foo.bar.baz", "");
}
END_TEST

START_TEST(fwc_matches_all_deeper_tokens)
{
    static struct tsub t[3];
    add(&t[0], 1, "foo.>", NULL);
    add(&t[1], 2, ">", NULL);
    add(&t[2], 3, "foo.bar.>", NULL);
    EXPECT_MATCH("foo", "2");
    EXPECT_MATCH("foo.bar", "1,2");
    EXPECT_MATCH("foo.bar.baz", "3,1,2");
    EXPECT_MATCH("foo.bar.baz.qux", "3,1,2");
    EXPECT_MATCH("bar", "2");
}
END_TEST

START_TEST(mixed_wildcards_match_in_walk_order)
{
    static struct tsub t[7];
    add(&t[0], 1, "a.b.c.d", NULL);
    add(&t[1], 2, "a.*.c.>", NULL);
    add(&t[2], 3, "*.b.*.d", NULL);
    add(&t[3], 4, "a.>", NULL);
    add(&t[4], 5, "*.*.*.*", NULL);
    add(&t[5], 6, "a.b.*", NULL);
    add(&t[6], 7, ">", NULL);
    /* Literal subtree first, then '*', then '>', at every level. */
    EXPECT_MATCH("a.b.c.d", "1,2,4,3,5,7");
    EXPECT_MATCH("a.b.c", "6,4,7");
    EXPECT_MATCH("a.x.c.d.e", "2,4,7");
    EXPECT_MATCH("z.b.y.d", "3,5,7");
}
END_TEST

START_TEST(subjects_deeper_than_token_limit_match_only_fwc)
{
    static struct tsub t[3];
    static char deep[4 * (MR_SUBJECT_TOKENS_MAX + 10)];
    add(&t[0], 1, ">", NULL);
    add(&t[1], 2, "x.>", NULL);
    add(&t[2], 3, "x.*", NULL);
    deep[0] = '\0';
    for (int i = 0; i < MR_SUBJECT_TOKENS_MAX + 5; i++) {
        strcat(deep, i ? ".x" : "x");
    }
    EXPECT_MATCH(deep, "2,1");
}
END_TEST

START_TEST(invalid_publish_subjects_match_nothing_and_are_not_cached)
{
    static struct tsub t[1];
    add(&t[0], 1, ">", NULL);
    static const char *const bad[] = {"", ".", "foo..bar", "foo.", ".foo", "a.b."};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const struct mr_sublist_result *r = mr_sublist_match(sl, bad[i], strlen(bad[i]));
        ck_assert_ptr_nonnull(r);
        ck_assert_uint_eq(r->psubs_count, 0);
        ck_assert_uint_eq(r->qgroups_count, 0);
        ck_assert_int_eq(mr_sublist_has_interest(sl, bad[i], strlen(bad[i])), 0);
    }
    ck_assert_uint_eq(stats().cache_entries, 0);
}
END_TEST

START_TEST(wildcard_tokens_in_published_subject_are_plain_tokens)
{
    static struct tsub t[3];
    add(&t[0], 1, "foo.*", NULL);
    add(&t[1], 2, "foo.>", NULL);
    add(&t[2], 3, "foo.bar", NULL);
    EXPECT_MATCH("foo.*", "1,2");
    EXPECT_MATCH("foo.>", "1,2");
    EXPECT_MATCH("foo.bar", "3,1,2");
}
END_TEST

START_TEST(partial_wildcard_tokens_are_literal)
{
    static struct tsub t[2];
    add(&t[0], 1, "foo>", NULL);
    add(&t[1], 2, "f*o", NULL);
    EXPECT_MATCH("foo>", "1");
    EXPECT_MATCH("f*o", "2");
    EXPECT_MATCH("foo", "");
    EXPECT_MATCH("fxo", "");
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Queue groups                                                                       */
/* ---------------------------------------------------------------------------------- */

START_TEST(queue_groups_grouped_by_name_across_patterns)
{
    static struct tsub t[7];
    add(&t[0], 1, "foo.bar", "A");
    add(&t[1], 2, "foo.*", "A");
    add(&t[2], 3, "foo.>", "B");
    add(&t[3], 4, "foo.bar", "B");
    add(&t[4], 5, "foo.bar", NULL);
    add(&t[5], 6, ">", "A");
    add(&t[6], 7, "foo.*", NULL);
    EXPECT_MATCH("foo.bar", "5,7|A:1,2,6|B:4,3");
    EXPECT_MATCH("foo.baz", "7|A:2,6|B:3");
    EXPECT_MATCH("qux", "|A:6");
    ck_assert_int_eq(mr_sublist_has_interest(sl, "qux", 3), 1);
}
END_TEST

START_TEST(queue_groups_in_order_of_first_appearance)
{
    static struct tsub t[4];
    add(&t[0], 1, "x.y", "Z");
    add(&t[1], 2, "x.*", "Y");
    add(&t[2], 3, "x.*", "Z");
    add(&t[3], 4, "x.>", "X");
    EXPECT_MATCH("x.y", "|Z:1,3|Y:2|X:4");
    EXPECT_MATCH("x.q", "|Y:2|Z:3|X:4");
}
END_TEST

START_TEST(queue_group_names_are_compared_by_bytes)
{
    static struct tsub t[3];
    add(&t[0], 1, "s", "grp");
    add(&t[1], 2, "s", "grp2");
    add(&t[2], 3, "s", "Grp");
    EXPECT_MATCH("s", "|grp:1|grp2:2|Grp:3");
}
END_TEST

START_TEST(emptied_queue_group_keeps_other_groups_in_creation_order)
{
    static struct tsub t[5];
    add(&t[0], 1, "s", "A");
    add(&t[1], 2, "s", "B");
    add(&t[2], 3, "s", "C");
    add(&t[3], 4, "s", "A");
    EXPECT_MATCH("s", "|A:1,4|B:2|C:3");
    del(&t[0]);
    EXPECT_MATCH("s", "|A:4|B:2|C:3");
    del(&t[3]);
    EXPECT_MATCH("s", "|B:2|C:3");
    add(&t[4], 5, "s", "A");
    EXPECT_MATCH("s", "|B:2|C:3|A:5");
}
END_TEST

START_TEST(queue_name_survives_removal_of_first_member)
{
    /* The group's name bytes belong to a member; after the first member goes, the name
     * must come from one that stays. */
    static struct tsub t[2];
    add(&t[0], 1, "s", "workers");
    add(&t[1], 2, "s", "workers");
    del(&t[0]);
    memset(t[0].queue, 'X', sizeof(t[0].queue) - 1);
    EXPECT_MATCH("s", "|workers:2");
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Insert, remove, pruning                                                            */
/* ---------------------------------------------------------------------------------- */

START_TEST(insert_twice_is_exists_and_remove_unknown_is_not_found)
{
    static struct tsub t[2];
    add(&t[0], 1, "foo", NULL);
    ck_assert_int_eq(mr_sublist_insert(sl, &t[0].sub), MR_E_EXISTS);
    tsub_set(&t[1], 2, "foo", NULL);
    ck_assert_int_eq(mr_sublist_remove(sl, &t[1].sub), MR_E_NOT_FOUND);
    del(&t[0]);
    ck_assert_int_eq(mr_sublist_remove(sl, &t[0].sub), MR_E_NOT_FOUND);
    struct mr_sublist_stats st = stats();
    ck_assert_uint_eq(st.subs, 0);
    ck_assert_uint_eq(st.inserts, 1);
    ck_assert_uint_eq(st.removes, 1);
}
END_TEST

START_TEST(removal_swaps_last_into_the_gap)
{
    static struct tsub t[4];
    add(&t[0], 1, "s", NULL);
    add(&t[1], 2, "s", NULL);
    add(&t[2], 3, "s", NULL);
    add(&t[3], 4, "s", NULL);
    EXPECT_MATCH("s", "1,2,3,4");
    del(&t[1]);
    EXPECT_MATCH("s", "1,4,3");
    del(&t[0]);
    EXPECT_MATCH("s", "3,4");
}
END_TEST

START_TEST(removing_everything_prunes_every_node)
{
    static struct tsub t[64];
    static const char *const subjects[] = {"a", "a.b", "a.b.c",   "a.*.c",   "a.>",
                                           "*", ">",   "x.y.z.w", "x.*.*.w", "a.b.c"};
    size_t base = mem.used_bytes;
    uint64_t base_allocs = mem.allocs;
    size_t n = 0;
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
            const char *q = (i % 3 == 0) ? NULL : (i % 3 == 1 ? "q1" : "q2");
            add(&t[n], (uint32_t)n, subjects[i], q);
            n++;
        }
    }
    ck_assert_uint_gt(mem.used_bytes, base);
    ck_assert_int_eq(mr_sublist_has_interest(sl, "a.b.c", 5), 1);
    /* Remove in an order unrelated to insertion. */
    for (size_t step = 0; step < n; step++) {
        del(&t[(step * 7) % n]);
    }
    ck_assert_uint_eq(stats().subs, 0);
    /* Only nodes and arrays were allocated (no match ran), so all of it is back. */
    ck_assert_uint_eq(mem.used_bytes, base);
    ck_assert_uint_eq(mem.allocs, base_allocs);
    ck_assert_int_eq(mr_sublist_has_interest(sl, "a.b.c", 5), 0);
}
END_TEST

START_TEST(destroy_with_live_subs_frees_everything_and_detaches_subs)
{
    static struct tsub t[4];
    add(&t[0], 1, "a.b", NULL);
    add(&t[1], 2, "a.*", "q");
    add(&t[2], 3, ">", NULL);
    add(&t[3], 4, "a.b.c", "q");
    EXPECT_MATCH("a.b", "1,3|q:2");
    EXPECT_MATCH("a.b.c", "3|q:4");
    mr_sublist_destroy(sl);
    ck_assert_uint_eq(mem.used_bytes, 0);
    ck_assert_uint_eq(mem.allocs, 0);
    for (int i = 0; i < 4; i++) {
        ck_assert_ptr_null(t[i].sub.node);
    }
    /* The detached subs can go into a new sublist. */
    ck_assert_int_eq(mr_sublist_create(&mem, &sl), 0);
    ck_assert_int_eq(mr_sublist_insert(sl, &t[0].sub), 0);
}
END_TEST

START_TEST(deepest_subject_inserts_and_prunes)
{
    static struct tsub t[2];
    static char deep[4 * MR_SUBJECT_TOKENS_MAX];
    deep[0] = '\0';
    for (int i = 0; i < MR_SUBJECT_TOKENS_MAX - 1; i++) {
        strcat(deep, i ? ".x" : "x");
    }
    size_t base = mem.used_bytes;
    tsub_set(&t[0], 1, "", NULL);
    t[0].sub.subject = deep;
    strcat(deep, ".*");
    t[0].sub.subject_len = (uint32_t)strlen(deep);
    ck_assert_int_eq(mr_sublist_insert(sl, &t[0].sub), 0);
    mr_sublist_check(sl);
    static char pub[4 * MR_SUBJECT_TOKENS_MAX];
    strcpy(pub, deep);
    pub[strlen(pub) - 1] = 'y';
    const struct mr_sublist_result *r = mr_sublist_match(sl, pub, strlen(pub));
    ck_assert_uint_eq(r->psubs_count, 1);
    mr_sublist_check(sl);
    ck_assert_int_eq(mr_sublist_remove(sl, &t[0].sub), 0);
    mr_sublist_check(sl);
    ck_assert_uint_eq(stats().cache_entries, 0);
    /* Scratch arrays grew for the match; everything else went away. */
    ck_assert_uint_le(mem.used_bytes, base + 1024);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Cache                                                                              */
/* ---------------------------------------------------------------------------------- */

START_TEST(literal_sub_invalidates_its_cached_subject)
{
    static struct tsub t[2];
    EXPECT_MATCH("foo.bar", "");
    EXPECT_MATCH("foo.baz", "");
    ck_assert_uint_eq(stats().cache_entries, 2);
    add(&t[0], 1, "foo.bar", NULL);
    ck_assert_uint_eq(stats().cache_entries, 1); /* foo.baz stays */
    EXPECT_MATCH("foo.bar", "1");
    EXPECT_MATCH("foo.bar", "1");
    add(&t[1], 2, "foo.bar", "q");
    EXPECT_MATCH("foo.bar", "1|q:2");
    del(&t[0]);
    EXPECT_MATCH("foo.bar", "|q:2");
    del(&t[1]);
    EXPECT_MATCH("foo.bar", "");
    EXPECT_MATCH("foo.baz", "");
}
END_TEST

START_TEST(wildcard_sub_invalidates_exactly_the_subjects_it_matches)
{
    static struct tsub t[2];
    EXPECT_MATCH("a.b", "");
    EXPECT_MATCH("a.c", "");
    EXPECT_MATCH("a.b.c", "");
    EXPECT_MATCH("x.y", "");
    ck_assert_uint_eq(stats().cache_entries, 4);
    add(&t[0], 1, "a.*", NULL);
    ck_assert_uint_eq(stats().cache_entries, 2); /* a.b.c and x.y stay */
    uint64_t hits = stats().cache_hits;
    EXPECT_MATCH("x.y", "");
    EXPECT_MATCH("a.b.c", "");
    ck_assert_uint_eq(stats().cache_hits, hits + 2);
    EXPECT_MATCH("a.b", "1");
    EXPECT_MATCH("a.c", "1");
    add(&t[1], 2, "a.>", "g");
    EXPECT_MATCH("a.b", "1|g:2");
    EXPECT_MATCH("a.b.c", "|g:2");
    EXPECT_MATCH("x.y", "");
    del(&t[0]);
    EXPECT_MATCH("a.b", "|g:2");
    EXPECT_MATCH("a.c", "|g:2");
    del(&t[1]);
    EXPECT_MATCH("a.b", "");
    EXPECT_MATCH("a.b.c", "");
}
END_TEST

START_TEST(fwc_root_sub_invalidates_every_entry)
{
    static struct tsub t[1];
    EXPECT_MATCH("a", "");
    EXPECT_MATCH("b.c", "");
    EXPECT_MATCH("d.e.f", "");
    add(&t[0], 1, ">", NULL);
    ck_assert_uint_eq(stats().cache_entries, 0);
    EXPECT_MATCH("a", "1");
    EXPECT_MATCH("d.e.f", "1");
    del(&t[0]);
    ck_assert_uint_eq(stats().cache_entries, 0);
    EXPECT_MATCH("a", "");
}
END_TEST

START_TEST(cached_literal_wildcard_subject_is_invalidated)
{
    /* A published "foo.*" is cached under that key; the trie treats its '*' as a
     * token, and so must invalidation. */
    static struct tsub t[2];
    EXPECT_MATCH("foo.*", "");
    add(&t[0], 1, "foo.*", NULL);
    EXPECT_MATCH("foo.*", "1");
    add(&t[1], 2, "foo.bar", NULL);
    EXPECT_MATCH("foo.*", "1");
    del(&t[0]);
    EXPECT_MATCH("foo.*", "");
}
END_TEST

START_TEST(cache_hit_allocates_nothing)
{
    static struct tsub t[2];
    add(&t[0], 1, "a.*", NULL);
    add(&t[1], 2, "a.b", "q");
    const struct mr_sublist_result *r1 = mr_sublist_match(sl, "a.b", 3);
    ck_assert_ptr_nonnull(r1);
    size_t used = mem.used_bytes;
    uint64_t allocs = mem.allocs;
    mem.fail_after = 0;
    for (int i = 0; i < 1000; i++) {
        ck_assert_ptr_eq(mr_sublist_match(sl, "a.b", 3), r1);
        ck_assert_int_eq(mr_sublist_has_interest(sl, "a.b", 3), 1);
    }
    mem.fail_after = -1;
    ck_assert_uint_eq(mem.used_bytes, used);
    ck_assert_uint_eq(mem.allocs, allocs);
    struct mr_sublist_stats st = stats();
    ck_assert_uint_eq(st.matches, 1001);
    ck_assert_uint_eq(st.cache_hits, 1000);
}
END_TEST

static void subject_n(char *buf, size_t cap, const char *prefix, uint32_t i)
{
    snprintf(buf, cap, "%s.%06u", prefix, i);
}

START_TEST(cache_is_bounded_and_evicts_oldest_first)
{
    char s[64];
    for (uint32_t i = 0; i < MR_SUBLIST_CACHE_MAX + 10; i++) {
        subject_n(s, sizeof(s), "subj", i);
        ck_assert_ptr_nonnull(mr_sublist_match(sl, s, strlen(s)));
    }
    mr_sublist_check(sl);
    ck_assert_uint_eq(stats().cache_entries, MR_SUBLIST_CACHE_MAX);
    uint64_t hits = stats().cache_hits;
    subject_n(s, sizeof(s), "subj", MR_SUBLIST_CACHE_MAX + 9);
    mr_sublist_match(sl, s, strlen(s));
    subject_n(s, sizeof(s), "subj", 10);
    mr_sublist_match(sl, s, strlen(s));
    ck_assert_uint_eq(stats().cache_hits, hits + 2);
    subject_n(s, sizeof(s), "subj", 9);
    mr_sublist_match(sl, s, strlen(s)); /* evicted: a miss, which evicts subj.10 */
    ck_assert_uint_eq(stats().cache_hits, hits + 2);
    subject_n(s, sizeof(s), "subj", 10);
    mr_sublist_match(sl, s, strlen(s));
    ck_assert_uint_eq(stats().cache_hits, hits + 2);
    ck_assert_uint_eq(stats().cache_entries, MR_SUBLIST_CACHE_MAX);
    mr_sublist_check(sl);
}
END_TEST

START_TEST(cache_miss_in_steady_state_allocates_one_block_and_frees_one)
{
    static struct tsub t[1];
    char s[64];
    /* Empty results: an evicted entry is freed at once. */
    for (uint32_t i = 0; i < MR_SUBLIST_CACHE_MAX; i++) {
        subject_n(s, sizeof(s), "e", i);
        mr_sublist_match(sl, s, strlen(s));
    }
    size_t used = mem.used_bytes;
    uint64_t allocs = mem.allocs;
    for (uint32_t i = MR_SUBLIST_CACHE_MAX; i < 3 * MR_SUBLIST_CACHE_MAX; i++) {
        subject_n(s, sizeof(s), "e", i);
        mem.fail_after = 1; /* exactly one allocation allowed */
        ck_assert_ptr_nonnull(mr_sublist_match(sl, s, strlen(s)));
        mem.fail_after = -1;
        ck_assert_uint_eq(mem.allocs, allocs);
        ck_assert_uint_eq(mem.used_bytes, used);
    }
    /* Non-empty results: evicted entries wait in the bounded graveyard, after which
     * every miss frees as much as it allocates. */
    add(&t[0], 1, "n.*", NULL);
    for (uint32_t i = 0; i < 2 * MR_SUBLIST_CACHE_MAX; i++) {
        subject_n(s, sizeof(s), "n", i);
        ck_assert_uint_eq(mr_sublist_match(sl, s, strlen(s))->psubs_count, 1);
    }
    used = mem.used_bytes;
    allocs = mem.allocs;
    for (uint32_t i = 2 * MR_SUBLIST_CACHE_MAX; i < 3 * MR_SUBLIST_CACHE_MAX; i++) {
        subject_n(s, sizeof(s), "n", i);
        mem.fail_after = 1;
        ck_assert_ptr_nonnull(mr_sublist_match(sl, s, strlen(s)));
        mem.fail_after = -1;
        ck_assert_uint_eq(mem.allocs, allocs);
        ck_assert_uint_eq(mem.used_bytes, used);
    }
    mr_sublist_check(sl);
}
END_TEST

START_TEST(result_outlives_later_evictions_until_next_insert)
{
    static struct tsub t[2];
    char s[64];
    add(&t[0], 1, ">", NULL);
    const struct mr_sublist_result *held = mr_sublist_match(sl, "held", 4);
    ck_assert_uint_eq(held->psubs_count, 1);
    /* As if the fan-out published to many new subjects: "held" is evicted. */
    for (uint32_t i = 0; i < MR_SUBLIST_CACHE_MAX + 100; i++) {
        subject_n(s, sizeof(s), "other", i);
        ck_assert_uint_eq(mr_sublist_match(sl, s, strlen(s))->psubs_count, 1);
    }
    mr_sublist_check(sl);
    /* Still readable (ASan would report a use after free) and unchanged. */
    ck_assert_uint_eq(held->psubs_count, 1);
    ck_assert_ptr_eq(held->psubs[0], &t[0].sub);
    size_t used = mem.used_bytes;
    add(&t[1], 2, "unrelated", NULL); /* the next insert frees the graveyard */
    ck_assert_uint_lt(mem.used_bytes, used);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Allocation failure                                                                 */
/* ---------------------------------------------------------------------------------- */

static const char *const probe_subjects[] = {"a", "a.b", "a.b.c", "a.b.c.d", "q.r", "x"};

/* Tries to insert t with allocation failing after 0, 1, 2, ... allocations: every
 * failure returns MR_E_NOMEM and leaves counters, memory and match results as they
 * were. Returns how many failures it saw before the insert went through. */
static int insert_with_failures(struct tsub *t)
{
    char before[6][256];
    for (size_t i = 0; i < 6; i++) {
        snprintf(before[i], sizeof(before[i]), "%s", match_sig(probe_subjects[i]));
    }
    for (int64_t k = 0;; k++) {
        size_t used = mem.used_bytes;
        uint64_t allocs = mem.allocs;
        struct mr_sublist_stats st = stats();
        mem.fail_after = k;
        int rc = mr_sublist_insert(sl, &t->sub);
        mem.fail_after = -1;
        if (rc == 0) {
            t->live = true;
            mr_sublist_check(sl);
            return (int)k;
        }
        ck_assert_int_eq(rc, MR_E_NOMEM);
        ck_assert_uint_eq(mem.used_bytes, used);
        ck_assert_uint_eq(mem.allocs, allocs);
        ck_assert_ptr_null(t->sub.node);
        struct mr_sublist_stats now = stats();
        ck_assert_uint_eq(now.subs, st.subs);
        ck_assert_uint_eq(now.inserts, st.inserts);
        ck_assert_uint_eq(now.cache_entries, st.cache_entries);
        mr_sublist_check(sl);
        for (size_t i = 0; i < 6; i++) {
            ck_assert_str_eq(match_sig(probe_subjects[i]), before[i]);
        }
        ck_assert_int_lt(k, 64);
    }
}

START_TEST(insert_nomem_leaves_sublist_unchanged)
{
    static struct tsub t[16];
    /* A new path of four nodes plus its array. */
    tsub_set(&t[0], 1, "a.b.c.d", NULL);
    ck_assert_int_eq(insert_with_failures(&t[0]), 5);
    /* A new node under existing ones, with a new queue group. */
    tsub_set(&t[1], 2, "a.b.*", "q1");
    ck_assert_int_ge(insert_with_failures(&t[1]), 2);
    /* Existing node: a second group, then the plain array and group arrays filling up. */
    tsub_set(&t[2], 3, "a.b.*", "q2");
    ck_assert_int_ge(insert_with_failures(&t[2]), 1);
    for (uint32_t i = 3; i < 16; i++) {
        tsub_set(&t[i], i + 1, i % 2 ? "a.b.c.d" : "a.b.*", i % 4 == 0 ? "q1" : NULL);
        insert_with_failures(&t[i]);
    }
    EXPECT_MATCH("a.b.c.d", "1,4,6,8,10,12,14,16");
    /* Removal never allocates. */
    mem.fail_after = 0;
    for (uint32_t i = 0; i < 16; i++) {
        ck_assert_int_eq(mr_sublist_remove(sl, &t[i].sub), 0);
    }
    mem.fail_after = -1;
    ck_assert_uint_eq(stats().subs, 0);
}
END_TEST

START_TEST(match_nomem_returns_null_and_empty_results_still_answer)
{
    static struct tsub t[1];
    add(&t[0], 1, "m.*", NULL);
    mem.fail_after = 0;
    ck_assert_ptr_null(mr_sublist_match(sl, "m.x", 3));
    const struct mr_sublist_result *r = mr_sublist_match(sl, "nobody.here", 11);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->psubs_count, 0);
    ck_assert_int_eq(mr_sublist_has_interest(sl, "m.x", 3), 1);
    mem.fail_after = -1;
    mr_sublist_check(sl);
    EXPECT_MATCH("m.x", "1");
}
END_TEST

START_TEST(create_nomem_frees_what_it_took)
{
    mr_sublist_destroy(sl);
    for (int64_t k = 0; k < 3; k++) {
        struct mr_sublist *other = NULL;
        mem.fail_after = k;
        ck_assert_int_eq(mr_sublist_create(&mem, &other), MR_E_NOMEM);
        ck_assert_uint_eq(mem.used_bytes, 0);
        ck_assert_uint_eq(mem.allocs, 0);
    }
    mem.fail_after = 3;
    ck_assert_int_eq(mr_sublist_create(&mem, &sl), 0);
    mem.fail_after = -1;
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Determinism                                                                        */
/* ---------------------------------------------------------------------------------- */

/* Builds a sublist from a seeded op sequence and appends the signature of a fixed set of
 * matches to out. Extra allocations between ops move every pointer around. */
static void build_and_sign(uint64_t seed, size_t pad, uint64_t hash_seed, GString *out)
{
    static struct tsub pool[200];
    static const char *const toks[] = {"a", "b", "*", ">"};
    static const char *const queues[] = {NULL, "q1", "q2"};
    struct mr_mem m2;
    struct mr_sublist *s2;
    GPtrArray *junk = g_ptr_array_new_with_free_func(g_free);
    mr_mem_init(&m2, 0);
    ck_assert_int_eq(mr_sublist_create(&m2, &s2), 0);
    if (hash_seed != 0) {
        mr_sublist_seed(s2, hash_seed);
    }
    for (uint32_t i = 0; i < 200; i++) {
        char subj[32] = "";
        uint32_t depth = 1 + rng_below(&seed, 3);
        for (uint32_t d = 0; d < depth; d++) {
            const char *tk = toks[rng_below(&seed, d + 1 == depth ? 4 : 3)];
            strcat(subj, d ? "." : "");
            strcat(subj, tk);
        }
        tsub_set(&pool[i], i, subj, queues[rng_below(&seed, 3)]);
        ck_assert_int_eq(mr_sublist_insert(s2, &pool[i].sub), 0);
        g_ptr_array_add(junk, g_malloc(pad + i % 7));
        if (i % 3 == 2) {
            int rc = mr_sublist_remove(s2, &pool[rng_below(&seed, i)].sub);
            ck_assert(rc == 0 || rc == MR_E_NOT_FOUND);
        }
    }
    static const char *const pubs[] = {"a", "b", "a.a", "a.b", "b.a", "a.b.a", "b.b.b"};
    for (size_t i = 0; i < sizeof(pubs) / sizeof(pubs[0]); i++) {
        const struct mr_sublist_result *r = mr_sublist_match(s2, pubs[i], strlen(pubs[i]));
        g_string_append_printf(out, "%s=[%s]\n", pubs[i], sig(r));
    }
    mr_sublist_check(s2);
    mr_sublist_destroy(s2);
    mr_mem_deinit(&m2);
    g_ptr_array_free(junk, TRUE);
}

START_TEST(same_ops_give_same_order_whatever_the_addresses)
{
    GString *a = g_string_new(NULL);
    GString *b = g_string_new(NULL);
    build_and_sign(42, 16, 0, a);
    build_and_sign(42, 4000, 0, b);
    ck_assert_str_eq(a->str, b->str);
    ck_assert_uint_gt(a->len, 50);
    g_string_free(a, TRUE);
    g_string_free(b, TRUE);
}
END_TEST

START_TEST(hash_seed_never_changes_results_or_order)
{
    GString *a = g_string_new(NULL);
    GString *b = g_string_new(NULL);
    build_and_sign(7, 16, 0, a);
    build_and_sign(7, 16, 0xdeadbeefcafef00dULL, b);
    ck_assert_str_eq(a->str, b->str);
    g_string_free(a, TRUE);
    g_string_free(b, TRUE);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Randomized against a brute-force model                                             */
/* ---------------------------------------------------------------------------------- */

static const char *const model_queues[] = {"q0", "q1", "q2", "q3"};

/* Compares one match with the set of live subs mr_subject_matches selects. Order is
 * checked by mr_sublist_check (cached result == fresh walk); here: membership,
 * multiplicity and grouping. */
static void expect_model(struct tsub *pool, size_t n, const char *subject, uint8_t *seen)
{
    size_t len = strlen(subject);
    const struct mr_sublist_result *r = mr_sublist_match(sl, subject, len);
    REQUIRE(r != NULL);
    uint32_t want_p = 0;
    uint32_t want_q = 0;
    uint32_t qmask = 0;
    for (size_t i = 0; i < n; i++) {
        seen[i] = 0;
        if (pool[i].live &&
            mr_subject_matches(pool[i].subject, strlen(pool[i].subject), subject, len)) {
            if (pool[i].qidx < 0) {
                want_p++;
            } else {
                want_q++;
                qmask |= 1u << pool[i].qidx;
            }
        }
    }
    REQUIRE(r->psubs_count == want_p);
    for (uint32_t i = 0; i < r->psubs_count; i++) {
        struct tsub *t = r->psubs[i]->owner;
        REQUIRE(t->live && t->qidx < 0 && !seen[t->id]);
        REQUIRE(mr_subject_matches(t->subject, strlen(t->subject), subject, len));
        seen[t->id] = 1;
    }
    REQUIRE(r->qgroups_count == (uint32_t)__builtin_popcount(qmask));
    uint32_t got_q = 0;
    for (uint32_t g = 0; g < r->qgroups_count; g++) {
        const struct mr_sublist_qgroup *q = &r->qgroups[g];
        for (uint32_t i = 0; i < q->count; i++) {
            struct tsub *t = q->subs[i]->owner;
            REQUIRE(t->live && t->qidx >= 0 && !seen[t->id]);
            REQUIRE(q->queue_len == strlen(model_queues[t->qidx]));
            REQUIRE(memcmp(q->queue, model_queues[t->qidx], q->queue_len) == 0);
            REQUIRE(mr_subject_matches(t->subject, strlen(t->subject), subject, len));
            seen[t->id] = 1;
        }
        got_q += q->count;
    }
    REQUIRE(got_q == want_q);
    REQUIRE(mr_sublist_has_interest(sl, subject, len) == (want_p + want_q > 0));
}

/* A random subject of 1..depth_max tokens from ntoks literals; wildcards only if wild. */
static void random_subject(uint64_t *rng, char *out, size_t cap, uint32_t ntoks, uint32_t depth_max,
                           bool wild)
{
    uint32_t depth = 1 + rng_below(rng, depth_max);
    size_t n = 0;
    for (uint32_t d = 0; d < depth; d++) {
        uint32_t roll = rng_below(rng, 100);
        const char *sep = d ? "." : "";
        if (wild && d + 1 == depth && roll < 8) {
            n += (size_t)snprintf(out + n, cap - n, "%s>", sep);
        } else if (wild && roll < 20) {
            n += (size_t)snprintf(out + n, cap - n, "%s*", sep);
        } else {
            n += (size_t)snprintf(out + n, cap - n, "%st%u", sep, rng_below(rng, ntoks));
        }
    }
    REQUIRE(n < cap);
}

static void random_tsub(uint64_t *rng, struct tsub *t, uint32_t id, uint32_t ntoks,
                        uint32_t depth_max)
{
    char subj[96];
    random_subject(rng, subj, sizeof(subj), ntoks, depth_max, true);
    int qidx = rng_below(rng, 100) < 30 ? (int)rng_below(rng, 4) : -1;
    tsub_set(t, id, subj, qidx >= 0 ? model_queues[qidx] : NULL);
    t->qidx = qidx;
    REQUIRE(mr_subject_valid(t->subject, strlen(t->subject)));
}

START_TEST(random_ops_match_model_with_check_after_every_step)
{
    enum { POOL = 1500, STEPS = 12000 };
    static struct tsub pool[POOL];
    static uint8_t seen[POOL];
    uint64_t seed = 0x5eed0001;
    fprintf(stderr, "random_ops seed %llu\n", (unsigned long long)seed);
    uint64_t rng = seed;
    for (uint32_t i = 0; i < POOL; i++) {
        random_tsub(&rng, &pool[i], i, 5, 4);
    }
    for (uint32_t step = 0; step < STEPS; step++) {
        uint32_t roll = rng_below(&rng, 100);
        struct tsub *t = &pool[rng_below(&rng, POOL)];
        if (roll < 35) {
            int rc = mr_sublist_insert(sl, &t->sub);
            REQUIRE(rc == (t->live ? MR_E_EXISTS : 0));
            t->live = true;
        } else if (roll < 65) {
            int rc = mr_sublist_remove(sl, &t->sub);
            REQUIRE(rc == (t->live ? 0 : MR_E_NOT_FOUND));
            t->live = false;
        } else {
            char subj[96];
            random_subject(&rng, subj, sizeof(subj), 6, 5, rng_below(&rng, 10) == 0);
            expect_model(pool, POOL, subj, seen);
        }
        mr_sublist_check(sl);
    }
    for (uint32_t i = 0; i < POOL; i++) {
        if (pool[i].live) {
            REQUIRE(mr_sublist_remove(sl, &pool[i].sub) == 0);
        }
    }
    REQUIRE(stats().subs == 0);
}
END_TEST

START_TEST(hundred_thousand_subs_inserted_and_removed_in_random_order)
{
    enum { N = 100000 };
    struct tsub *pool = g_new0(struct tsub, N);
    uint32_t *order = g_new(uint32_t, N);
    uint8_t *seen = g_new0(uint8_t, N);
    uint64_t seed = 0x5eed0002;
    fprintf(stderr, "hundred_thousand seed %llu\n", (unsigned long long)seed);
    uint64_t rng = seed;
    size_t base = mem.used_bytes;
    for (uint32_t i = 0; i < N; i++) {
        random_tsub(&rng, &pool[i], i, 16, 6);
        order[i] = i;
    }
    for (int phase = 0; phase < 2; phase++) {
        for (uint32_t i = N - 1; i > 0; i--) {
            uint32_t j = rng_below(&rng, i + 1);
            uint32_t tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        for (uint32_t k = 0; k < N; k++) {
            struct tsub *t = &pool[order[k]];
            if (phase == 0) {
                REQUIRE(mr_sublist_insert(sl, &t->sub) == 0);
            } else {
                REQUIRE(mr_sublist_remove(sl, &t->sub) == 0);
            }
            t->live = phase == 0;
            /* Matches keep the cache busy, so invalidation runs against real entries. */
            char subj[96];
            random_subject(&rng, subj, sizeof(subj), 16, 6, false);
            if (k % 2 == 0) {
                REQUIRE(mr_sublist_match(sl, subj, strlen(subj)) != NULL);
            }
            if (k % 10000 == 0) {
                expect_model(pool, N, subj, seen);
                expect_model(pool, N, "t1.t2", seen);
                expect_model(pool, N, "t3", seen);
            }
            if (k % 25000 == 0) {
                mr_sublist_check(sl);
            }
        }
        mr_sublist_check(sl);
    }
    REQUIRE(stats().subs == 0);
    REQUIRE(stats().inserts == N);
    REQUIRE(stats().removes == N);
    /* Left: the cache (only empty results now) and the match scratch. */
    REQUIRE(mem.used_bytes - base < 256 * 1024);
    g_free(pool);
    g_free(order);
    g_free(seen);
}
END_TEST

static Suite *sublist_suite(void)
{
    Suite *s = suite_create("sublist");
    TCase *tm = tcase_create("match");
    tcase_add_checked_fixture(tm, setup, teardown);
    tcase_set_timeout(tm, 10);
    tcase_add_test(tm, literal_matches_only_the_same_subject);
    tcase_add_test(tm, pwc_matches_exactly_one_token);
    tcase_add_test(tm, fwc_matches_all_deeper_tokens);
    tcase_add_test(tm, mixed_wildcards_match_in_walk_order);
    tcase_add_test(tm, subjects_deeper_than_token_limit_match_only_fwc);
    tcase_add_test(tm, invalid_publish_subjects_match_nothing_and_are_not_cached);
    tcase_add_test(tm, wildcard_tokens_in_published_subject_are_plain_tokens);
    tcase_add_test(tm, partial_wildcard_tokens_are_literal);
    suite_add_tcase(s, tm);

    TCase *tq = tcase_create("queue");
    tcase_add_checked_fixture(tq, setup, teardown);
    tcase_set_timeout(tq, 10);
    tcase_add_test(tq, queue_groups_grouped_by_name_across_patterns);
    tcase_add_test(tq, queue_groups_in_order_of_first_appearance);
    tcase_add_test(tq, queue_group_names_are_compared_by_bytes);
    tcase_add_test(tq, emptied_queue_group_keeps_other_groups_in_creation_order);
    tcase_add_test(tq, queue_name_survives_removal_of_first_member);
    suite_add_tcase(s, tq);

    TCase *tr = tcase_create("insert_remove");
    tcase_add_checked_fixture(tr, setup, teardown);
    tcase_set_timeout(tr, 10);
    tcase_add_test(tr, insert_twice_is_exists_and_remove_unknown_is_not_found);
    tcase_add_test(tr, removal_swaps_last_into_the_gap);
    tcase_add_test(tr, removing_everything_prunes_every_node);
    tcase_add_test(tr, destroy_with_live_subs_frees_everything_and_detaches_subs);
    tcase_add_test(tr, deepest_subject_inserts_and_prunes);
    suite_add_tcase(s, tr);

    TCase *tc = tcase_create("cache");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, literal_sub_invalidates_its_cached_subject);
    tcase_add_test(tc, wildcard_sub_invalidates_exactly_the_subjects_it_matches);
    tcase_add_test(tc, fwc_root_sub_invalidates_every_entry);
    tcase_add_test(tc, cached_literal_wildcard_subject_is_invalidated);
    tcase_add_test(tc, cache_hit_allocates_nothing);
    tcase_add_test(tc, cache_is_bounded_and_evicts_oldest_first);
    tcase_add_test(tc, cache_miss_in_steady_state_allocates_one_block_and_frees_one);
    tcase_add_test(tc, result_outlives_later_evictions_until_next_insert);
    suite_add_tcase(s, tc);

    TCase *tf = tcase_create("nomem");
    tcase_add_checked_fixture(tf, setup, teardown);
    tcase_set_timeout(tf, 30);
    tcase_add_test(tf, insert_nomem_leaves_sublist_unchanged);
    tcase_add_test(tf, match_nomem_returns_null_and_empty_results_still_answer);
    tcase_add_test(tf, create_nomem_frees_what_it_took);
    suite_add_tcase(s, tf);

    TCase *td = tcase_create("determinism");
    tcase_set_timeout(td, 30);
    tcase_add_test(td, same_ops_give_same_order_whatever_the_addresses);
    tcase_add_test(td, hash_seed_never_changes_results_or_order);
    suite_add_tcase(s, td);

    TCase *tx = tcase_create("randomized");
    tcase_add_checked_fixture(tx, setup, teardown);
    tcase_set_timeout(tx, 100);
    tcase_add_test(tx, random_ops_match_model_with_check_after_every_step);
    suite_add_tcase(s, tx);

    TCase *tl = tcase_create("large");
    tcase_add_checked_fixture(tl, setup, teardown);
    tcase_set_timeout(tl, 100);
    tcase_add_test(tl, hundred_thousand_subs_inserted_and_removed_in_random_order);
    suite_add_tcase(s, tl);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sublist_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
