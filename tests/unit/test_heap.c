/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the (key, seq) min-heap (core/heap.c) against a brute-force model. */
#include <check.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/heap.h"

#define ITEMS 512

struct item {
    struct mr_heap_node node;
    bool in;
};

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The model's minimum: smallest key, then smallest seq, among items in the heap. */
static struct item *model_min(struct item *items)
{
    struct item *best = NULL;
    for (int i = 0; i < ITEMS; i++) {
        struct item *it = &items[i];
        if (!it->in) {
            continue;
        }
        if (best == NULL || it->node.key < best->node.key ||
            (it->node.key == best->node.key && it->node.seq < best->node.seq)) {
            best = it;
        }
    }
    return best;
}

START_TEST(random_ops_match_model_and_ties_go_by_seq)
{
    struct mr_mem mem;
    mr_mem_init(&mem, 0);
    struct mr_heap h;
    mr_heap_init(&h, &mem);
    static struct item items[ITEMS];
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    uint64_t seq = 0;
    for (int step = 0; step < 20000; step++) {
        struct item *it = &items[next_rand(&rng) % ITEMS];
        switch (next_rand(&rng) % 3) {
        case 0: /* (re)arm: few distinct keys, so ties are common */
            if (it->in) {
                mr_heap_remove(&h, &it->node);
            }
            ck_assert_int_eq(mr_heap_reserve(&h), MR_OK);
            it->node.key = next_rand(&rng) % 16;
            it->node.seq = ++seq;
            mr_heap_push(&h, &it->node);
            it->in = true;
            break;
        case 1:
            if (it->in) {
                mr_heap_remove(&h, &it->node);
                it->in = false;
            }
            break;
        default: {
            struct item *want = model_min(items);
            struct mr_heap_node *top = mr_heap_top(&h);
            if (want == NULL) {
                ck_assert_ptr_null(top);
            } else {
                ck_assert_ptr_eq(top, &want->node);
                mr_heap_remove(&h, top);
                want->in = false;
            }
            break;
        }
        }
        mr_heap_check(&h);
    }
    mr_heap_deinit(&h);
    mr_mem_deinit(&mem);
}
END_TEST

START_TEST(reserve_reports_budget_exhaustion)
{
    struct mr_mem mem;
    mr_mem_init(&mem, 0);
    struct mr_heap h;
    mr_heap_init(&h, &mem);
    mem.fail_after = 0;
    ck_assert_int_eq(mr_heap_reserve(&h), MR_E_NOMEM);
    mem.fail_after = -1;
    ck_assert_int_eq(mr_heap_reserve(&h), MR_OK);
    mr_heap_deinit(&h);
    mr_mem_deinit(&mem);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("heap");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, random_ops_match_model_and_ties_go_by_seq);
    tcase_add_test(tc, reserve_reports_budget_exhaustion);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
