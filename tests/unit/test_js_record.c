/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the file store's record format and recovery scan (core/js/js_record.h):
 * round trips, every cut of a record is "need more", every flipped bit is caught, and
 * a scan skips damage in the middle and reports a torn tail.
 */
#include <check.h>
#include <glib.h>
#include <string.h>

#include "core/err.h"
#include "core/js/js_record.h"

static size_t encode_msg(uint8_t *buf, size_t cap, uint64_t seq, const char *subj,
                         const char *hdr, const char *data)
{
    struct mr_js_record r = {
        .kind = MR_JS_REC_MSG, .seq = seq, .ts_ns = 1700000000123456789LL + (int64_t)seq,
        .subject = subj, .subject_len = strlen(subj), .hdr = (const uint8_t *)hdr,
        .hdr_len = hdr != NULL ? strlen(hdr) : 0, .data = (const uint8_t *)data,
        .data_len = strlen(data),
    };
    return mr_js_record_encode(&r, buf, cap);
}

START_TEST(message_round_trips)
{
    uint8_t buf[256];
    size_t n = encode_msg(buf, sizeof(buf), 7, "orders.new", "NATS/1.0\r\nA: b\r\n\r\n", "hi");
    ck_assert_uint_eq(n, mr_js_record_size(10, 18, 2));
    struct mr_js_record r;
    ck_assert_int_eq(mr_js_record_decode(buf, n, &r), (int64_t)n);
    ck_assert_int_eq(r.kind, MR_JS_REC_MSG);
    ck_assert_uint_eq(r.seq, 7);
    ck_assert_int_eq(r.ts_ns, 1700000000123456796LL);
    ck_assert_uint_eq(r.subject_len, 10);
    ck_assert(memcmp(r.subject, "orders.new", 10) == 0);
    ck_assert_uint_eq(r.hdr_len, 18);
    ck_assert(memcmp(r.data, "hi", 2) == 0);
    /* Trailing bytes are not part of the record. */
    ck_assert_int_eq(mr_js_record_decode(buf, sizeof(buf), &r), (int64_t)n);
}
END_TEST

START_TEST(every_cut_needs_more)
{
    uint8_t buf[128];
    size_t n = encode_msg(buf, sizeof(buf), 1, "a.b", NULL, "payload");
    for (size_t cut = 0; cut < n; cut++) {
        uint8_t *copy = g_memdup2(buf, cut); /* exact size: ASan sees any over-read */
        struct mr_js_record r;
        ck_assert_int_eq(mr_js_record_decode(copy, cut, &r), MR_AGAIN);
        g_free(copy);
    }
}
END_TEST

START_TEST(every_flipped_bit_is_caught)
{
    uint8_t buf[128];
    size_t n = encode_msg(buf, sizeof(buf), 3, "a.b", "NATS/1.0\r\n\r\n", "payload");
    for (size_t bit = 0; bit < n * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        struct mr_js_record r;
        int64_t rc = mr_js_record_decode(buf, n, &r);
        /* A length field may now claim more bytes than there are: also not a record. */
        ck_assert_msg(rc == MR_E_IO || rc == MR_E_INVAL || rc == MR_AGAIN,
                      "bit %zu: rc %lld", bit, (long long)rc);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    struct mr_js_record r;
    ck_assert_int_eq(mr_js_record_decode(buf, n, &r), (int64_t)n);
}
END_TEST

START_TEST(kinds_without_bodies)
{
    uint8_t buf[128];
    struct mr_js_record t = {.kind = MR_JS_REC_TOMB, .seq = 9};
    size_t n = mr_js_record_encode(&t, buf, sizeof(buf));
    ck_assert_uint_eq(n, MR_JS_RECORD_OVERHEAD);
    struct mr_js_record r;
    ck_assert_int_eq(mr_js_record_decode(buf, n, &r), (int64_t)n);
    ck_assert_int_eq(r.kind, MR_JS_REC_TOMB);
    ck_assert_uint_eq(r.seq, 9);
    /* An erased record keeps its length and zeroes its payload. */
    struct mr_js_record e = {.kind = MR_JS_REC_ERASED, .seq = 4, .data = (const uint8_t *)"x",
                             .data_len = 20};
    n = mr_js_record_encode(&e, buf, sizeof(buf));
    ck_assert_int_eq(mr_js_record_decode(buf, n, &r), (int64_t)n);
    for (size_t i = 0; i < 20; i++) {
        ck_assert_uint_eq(r.data[i], 0);
    }
    /* Sequence 0 and unknown kinds are not records. */
    struct mr_js_record z = {.kind = MR_JS_REC_MARK, .seq = 1};
    n = mr_js_record_encode(&z, buf, sizeof(buf));
    buf[4] = 9;
    ck_assert_int_eq(mr_js_record_decode(buf, n, &r), MR_E_INVAL);
}
END_TEST

struct seen {
    uint64_t seqs[16];
    size_t offs[16];
    int n;
};

static int collect(void *ctx, const struct mr_js_record *r, size_t off)
{
    struct seen *s = ctx;
    ck_assert_int_lt(s->n, 16);
    s->seqs[s->n] = r->seq;
    s->offs[s->n++] = off;
    return 0;
}

START_TEST(scan_skips_middle_damage_and_reports_torn_tail)
{
    uint8_t block[1024];
    size_t len = 0;
    size_t at[5];
    for (uint64_t seq = 1; seq <= 5; seq++) {
        at[seq - 1] = len;
        len += encode_msg(block + len, sizeof(block) - len, seq, "s.x", NULL, "0123456789");
    }
    /* Damage record 2's payload and cut record 5 short (a torn write). */
    block[at[1] + MR_JS_RECORD_HEAD_BYTES + 5] ^= 0x40;
    size_t torn = len - 7;
    struct seen seen = {0};
    struct mr_js_scan scan;
    ck_assert_int_eq(mr_js_record_scan(block, torn, &scan, collect, &seen), 0);
    ck_assert_int_eq(seen.n, 3);
    ck_assert_uint_eq(seen.seqs[0], 1);
    ck_assert_uint_eq(seen.seqs[1], 3);
    ck_assert_uint_eq(seen.seqs[2], 4);
    ck_assert_uint_eq(seen.offs[1], at[2]);
    ck_assert_uint_eq(scan.records, 3);
    ck_assert_uint_eq(scan.bad_regions, 1);
    ck_assert_uint_eq(scan.bad_bytes, at[2] - at[1]);
    ck_assert_uint_eq(scan.first_bad_off, at[1]);
    ck_assert_uint_eq(scan.valid_end, at[4]);
    ck_assert_uint_eq(scan.tail_bytes, torn - at[4]);
}
END_TEST

START_TEST(scan_of_garbage_finds_nothing)
{
    uint8_t junk[777];
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < sizeof(junk); i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        junk[i] = (uint8_t)x;
    }
    /* Plant a header's magic so the resync has something to try. */
    memcpy(junk + 100, "MRJ1", 4);
    struct mr_js_scan scan;
    ck_assert_int_eq(mr_js_record_scan(junk, sizeof(junk), &scan, NULL, NULL), 0);
    ck_assert_uint_eq(scan.records, 0);
    ck_assert_uint_eq(scan.valid_end, 0);
    ck_assert_uint_eq(scan.tail_bytes, sizeof(junk));
    ck_assert_int_eq(mr_js_record_scan(junk, 0, &scan, NULL, NULL), 0);
    ck_assert_uint_eq(scan.tail_bytes, 0);
}
END_TEST

static Suite *js_record_suite(void)
{
    Suite *s = suite_create("js_record");
    TCase *tc = tcase_create("record");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, message_round_trips);
    tcase_add_test(tc, every_cut_needs_more);
    tcase_add_test(tc, every_flipped_bit_is_caught);
    tcase_add_test(tc, kinds_without_bodies);
    tcase_add_test(tc, scan_skips_middle_damage_and_reports_torn_tail);
    tcase_add_test(tc, scan_of_garbage_finds_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(js_record_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
