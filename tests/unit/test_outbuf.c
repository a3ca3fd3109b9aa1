/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the chunked output buffer (core/server/outbuf.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/limits.h"
#include "core/server/outbuf.h"

/* Reads every pending byte through peek into dst; returns the count. */
static size_t drain_all(struct mr_outbuf *ob, uint8_t *dst, size_t step)
{
    size_t total = 0;
    while (ob->pending_bytes > 0) {
        struct mr_iov iov[MR_OUT_IOV_MAX];
        size_t n = mr_outbuf_peek(ob, iov, MR_OUT_IOV_MAX);
        ck_assert_uint_gt(n, 0);
        size_t take = iov[0].len < step ? iov[0].len : step;
        memcpy(dst + total, iov[0].base, take);
        mr_outbuf_consume(ob, take);
        total += take;
    }
    return total;
}

START_TEST(bytes_come_out_in_order_across_chunks)
{
    struct mr_mem mem;
    struct mr_outbuf_pool pool;
    struct mr_outbuf ob;
    mr_mem_init(&mem, 0);
    mr_outbuf_pool_init(&pool, &mem, 4);
    mr_outbuf_init(&ob, &pool);
    size_t total = 3 * MR_OUTBUF_CHUNK_BYTES + 123;
    uint8_t *src = malloc(total);
    uint8_t *dst = malloc(total);
    for (size_t i = 0; i < total; i++) {
        src[i] = (uint8_t)(i * 7 + 3);
    }
    /* Appends of odd sizes, including one larger than a chunk. */
    size_t sizes[] = {1, 17, MR_OUTBUF_CHUNK_BYTES + 5, 4093, 2 * MR_OUTBUF_CHUNK_BYTES};
    size_t off = 0;
    for (size_t i = 0; off < total; i = (i + 1) % 5) {
        size_t n = sizes[i] < total - off ? sizes[i] : total - off;
        ck_assert_int_eq(mr_outbuf_append(&ob, src + off, n), MR_OK);
        off += n;
    }
    ck_assert_uint_eq(ob.pending_bytes, total);
    ck_assert_uint_eq(drain_all(&ob, dst, 1000), total);
    ck_assert_int_eq(memcmp(src, dst, total), 0);
    ck_assert_ptr_null(ob.head); /* idle buffers hold no chunk */
    mr_outbuf_deinit(&ob);
    mr_outbuf_pool_deinit(&pool);
    mr_mem_deinit(&mem);
    free(src);
    free(dst);
}
END_TEST

START_TEST(failed_append_leaves_buffer_unchanged)
{
    struct mr_mem mem;
    struct mr_outbuf_pool pool;
    struct mr_outbuf ob;
    mr_mem_init(&mem, 0);
    mr_outbuf_pool_init(&pool, &mem, 0);
    mr_outbuf_init(&ob, &pool);
    ck_assert_int_eq(mr_outbuf_append(&ob, "hello", 5), MR_OK);
    mem.fail_after = 1; /* the second new chunk fails */
    static uint8_t big[3 * MR_OUTBUF_CHUNK_BYTES];
    ck_assert_int_eq(mr_outbuf_append(&ob, big, sizeof(big)), MR_E_NOMEM);
    ck_assert_uint_eq(ob.pending_bytes, 5);
    mem.fail_after = -1;
    uint8_t dst[5];
    ck_assert_uint_eq(drain_all(&ob, dst, 5), 5);
    ck_assert_int_eq(memcmp(dst, "hello", 5), 0);
    mr_outbuf_deinit(&ob);
    mr_outbuf_pool_deinit(&pool);
    ck_assert_uint_eq(mem.used_bytes, 0);
    mr_mem_deinit(&mem);
}
END_TEST

START_TEST(pool_reuses_chunks_and_respects_free_max)
{
    struct mr_mem mem;
    struct mr_outbuf_pool pool;
    struct mr_outbuf a;
    struct mr_outbuf b;
    mr_mem_init(&mem, 0);
    mr_outbuf_pool_init(&pool, &mem, 1);
    mr_outbuf_init(&a, &pool);
    mr_outbuf_init(&b, &pool);
    ck_assert_int_eq(mr_outbuf_append(&a, "x", 1), MR_OK);
    ck_assert_int_eq(mr_outbuf_append(&b, "y", 1), MR_OK);
    uint64_t allocs = mem.allocs;
    mr_outbuf_consume(&a, 1);
    mr_outbuf_consume(&b, 1);
    ck_assert_uint_eq(pool.free_count, 1); /* one kept, one freed */
    ck_assert_uint_eq(mem.allocs, allocs - 1);
    ck_assert_int_eq(mr_outbuf_append(&a, "z", 1), MR_OK);
    ck_assert_uint_eq(pool.free_count, 0);
    ck_assert_uint_eq(mem.allocs, allocs - 1); /* reused, not allocated */
    mr_outbuf_deinit(&a);
    mr_outbuf_deinit(&b);
    mr_outbuf_pool_deinit(&pool);
    mr_mem_deinit(&mem);
}
END_TEST

START_TEST(peek_is_bounded_by_iov_max)
{
    struct mr_mem mem;
    struct mr_outbuf_pool pool;
    struct mr_outbuf ob;
    mr_mem_init(&mem, 0);
    mr_outbuf_pool_init(&pool, &mem, 8);
    mr_outbuf_init(&ob, &pool);
    static uint8_t big[5 * MR_OUTBUF_CHUNK_BYTES];
    ck_assert_int_eq(mr_outbuf_append(&ob, big, sizeof(big)), MR_OK);
    struct mr_iov iov[3];
    ck_assert_uint_eq(mr_outbuf_peek(&ob, iov, 3), 3);
    mr_outbuf_consume(&ob, 10);
    ck_assert_uint_eq(mr_outbuf_peek(&ob, iov, 3), 3);
    ck_assert_uint_eq(iov[0].len, MR_OUTBUF_CHUNK_BYTES - 10);
    mr_outbuf_deinit(&ob);
    mr_outbuf_pool_deinit(&pool);
    mr_mem_deinit(&mem);
}
END_TEST

static Suite *outbuf_suite(void)
{
    Suite *s = suite_create("outbuf");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, bytes_come_out_in_order_across_chunks);
    tcase_add_test(tc, failed_append_leaves_buffer_unchanged);
    tcase_add_test(tc, pool_reuses_chunks_and_respects_free_max);
    tcase_add_test(tc, peek_is_bounded_by_iov_max);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(outbuf_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
