/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Micro-benchmark for the sublist (not a unit test): prints nanoseconds per
 * mr_sublist_match for
 *   1. a literal subject found in the match cache,
 *   2. cache misses (more distinct subjects than the cache holds, cycled, so every
 *      match walks the trie, allocates its entry and evicts the oldest),
 *   3. a wildcard-heavy trie of 10k subscriptions, both missing and hitting the cache.
 * Build optimized and without sanitizers, from the project root:
 *   gcc -std=c17 -D_GNU_SOURCE -O2 -I. tests/bench_sublist.c core/server/sublist.c \
 *       core/proto/subject.c core/mem.c core/err.c core/panic.c \
 *       $(pkg-config --cflags --libs glib-2.0) -o /tmp/bench_sublist
 * It owns everything it allocates; subjects come from a fixed-seed generator, so runs
 * differ only by machine noise. Reads the monotonic clock, which tests/ may do.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/limits.h"
#include "core/mem.h"
#include "core/server/sublist.h"

#define SUBJECT_BYTES 64

struct bench_sub {
    struct mr_sub sub;
    char subject[SUBJECT_BYTES];
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void must(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "bench_sublist: %s failed\n", what);
        exit(1);
    }
}

static void report(const char *label, double ns)
{
    printf("%-50s %8.1f ns/match\n", label, ns);
}

static void insert(struct mr_sublist *sl, struct bench_sub *b, const char *subject)
{
    memset(b, 0, sizeof(*b));
    snprintf(b->subject, sizeof(b->subject), "%s", subject);
    b->sub.subject = b->subject;
    b->sub.subject_len = (uint32_t)strlen(b->subject);
    b->sub.owner = b;
    must(mr_sublist_insert(sl, &b->sub) == 0, "insert");
}

/* Matches subjects[i % n] for rounds calls; returns ns per call and the mean fan-out. */
static double run(struct mr_sublist *sl, char (*subjects)[SUBJECT_BYTES], size_t n, size_t rounds,
                  double *fanout)
{
    size_t *lens = malloc(n * sizeof(*lens));
    must(lens != NULL, "malloc");
    for (size_t i = 0; i < n; i++) {
        lens[i] = strlen(subjects[i]);
    }
    uint64_t total = 0;
    uint64_t t0 = now_ns();
    for (size_t r = 0; r < rounds; r++) {
        size_t i = r % n;
        const struct mr_sublist_result *res = mr_sublist_match(sl, subjects[i], lens[i]);
        total += res->psubs_count + res->qgroups_count;
    }
    uint64_t t1 = now_ns();
    free(lens);
    if (fanout != NULL) {
        *fanout = (double)total / (double)rounds;
    }
    return (double)(t1 - t0) / (double)rounds;
}

static void bench_literal(void)
{
    enum { SUBS = 1000, HOT = 256 };
    struct mr_mem mem;
    struct mr_sublist *sl;
    static struct bench_sub subs[SUBS];
    static char hot[HOT][SUBJECT_BYTES];
    mr_mem_init(&mem, 0);
    must(mr_sublist_create(&mem, &sl) == 0, "create");
    char s[SUBJECT_BYTES];
    for (int i = 0; i < SUBS; i++) {
        snprintf(s, sizeof(s), "orders.eu.store%d.created", i);
        insert(sl, &subs[i], s);
    }
    for (int i = 0; i < HOT; i++) {
        snprintf(hot[i], SUBJECT_BYTES, "orders.eu.store%d.created", i * 3);
    }
    run(sl, hot, HOT, HOT, NULL); /* warm the cache */
    double one = run(sl, hot, 1, 20000000, NULL);
    double many = run(sl, hot, HOT, 20000000, NULL);
    report("literal, cache hit (same subject)", one);
    report("literal, cache hit (256 subjects cycled)", many);
    mr_sublist_destroy(sl);
    mr_mem_deinit(&mem);
}

static void bench_miss(void)
{
    enum { SUBS = 10000, PUBS = 4 * MR_SUBLIST_CACHE_MAX };
    struct mr_mem mem;
    struct mr_sublist *sl;
    static struct bench_sub subs[SUBS];
    static char pubs[PUBS][SUBJECT_BYTES];
    mr_mem_init(&mem, 0);
    must(mr_sublist_create(&mem, &sl) == 0, "create");
    char s[SUBJECT_BYTES];
    for (int i = 0; i < SUBS; i++) {
        snprintf(s, sizeof(s), "orders.eu.store%d.created", i);
        insert(sl, &subs[i], s);
    }
    for (int i = 0; i < PUBS; i++) {
        snprintf(pubs[i], SUBJECT_BYTES, "orders.eu.store%d.created", i * 2);
    }
    struct mr_sublist_stats st0;
    struct mr_sublist_stats st1;
    mr_sublist_stats(sl, &st0);
    double ns = run(sl, pubs, PUBS, 2000000, NULL);
    mr_sublist_stats(sl, &st1);
    must(st1.cache_hits == st0.cache_hits, "every match a miss");
    report("literal, cache miss (10k subs, fan-out 1)", ns);
    mr_sublist_destroy(sl);
    mr_mem_deinit(&mem);
}

static void wild_subject(uint64_t *rng, char *out, bool wild)
{
    size_t n = 0;
    for (int d = 0; d < 5; d++) {
        uint64_t roll = rng_next(rng) % 100;
        const char *sep = d ? "." : "";
        if (wild && d >= 2 && roll < 10) {
            n += (size_t)snprintf(out + n, SUBJECT_BYTES - n, "%s>", sep);
            return;
        }
        if (wild && roll < 30) {
            n += (size_t)snprintf(out + n, SUBJECT_BYTES - n, "%s*", sep);
        } else {
            n += (size_t)snprintf(out + n, SUBJECT_BYTES - n, "%sk%u", sep,
                                  (unsigned)(rng_next(rng) % 10));
        }
    }
}

static void bench_wildcards(void)
{
    enum { SUBS = 10000, PUBS = 4 * MR_SUBLIST_CACHE_MAX, HOT = 512 };
    struct mr_mem mem;
    struct mr_sublist *sl;
    static struct bench_sub subs[SUBS];
    static char pubs[PUBS][SUBJECT_BYTES];
    uint64_t rng = 7;
    mr_mem_init(&mem, 0);
    must(mr_sublist_create(&mem, &sl) == 0, "create");
    char s[SUBJECT_BYTES];
    for (int i = 0; i < SUBS; i++) {
        wild_subject(&rng, s, true);
        insert(sl, &subs[i], s);
    }
    for (int i = 0; i < PUBS; i++) {
        wild_subject(&rng, pubs[i], false);
    }
    double fan;
    double miss = run(sl, pubs, PUBS, 400000, &fan);
    char label[64];
    snprintf(label, sizeof(label), "wildcards, cache miss (10k subs, fan-out %.1f)", fan);
    report(label, miss);
    run(sl, pubs, HOT, HOT, NULL);
    double hit = run(sl, pubs, HOT, 20000000, &fan);
    report("wildcards, cache hit (512 subjects cycled)", hit);
    mr_sublist_destroy(sl);
    mr_mem_deinit(&mem);
}

int main(void)
{
    bench_literal();
    bench_miss();
    bench_wildcards();
    return 0;
}
