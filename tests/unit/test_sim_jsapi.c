/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the JetStream replies simulated clients read (sim/sim_jsapi.h): PubAcks,
 * stream info and MSG.GET responses parse, API errors are told apart, malformed replies
 * are errors (never a crash), and payloads are told from corrupt bytes.
 */
#include <check.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sim/sim_jsapi.h"

#define B(s) (const uint8_t *)(s), strlen(s)

START_TEST(puback_gives_stream_seq_and_duplicate)
{
    struct sim_js_reply r;
    ck_assert_int_eq(sim_js_parse_puback(B("{\"stream\":\"ORDERS\",\"seq\":42}"), &r), 0);
    ck_assert(!r.error);
    ck_assert_str_eq(r.stream, "ORDERS");
    ck_assert_uint_eq(r.seq, 42);
    ck_assert(!r.duplicate);
    ck_assert_int_eq(
        sim_js_parse_puback(B("{\"stream\":\"S\",\"domain\":\"d\",\"seq\":7,\"duplicate\":true}"),
                            &r),
        0);
    ck_assert(r.duplicate);
    ck_assert_uint_eq(r.seq, 7);
}
END_TEST

START_TEST(api_error_is_a_reply_with_its_description)
{
    struct sim_js_reply r;
    const char *e = "{\"error\":{\"code\":503,\"err_code\":10077,\"description\":\"store down\"}}";
    ck_assert_int_eq(sim_js_parse_puback(B(e), &r), 0);
    ck_assert(r.error);
    ck_assert_int_eq(r.code, 503);
    ck_assert_str_eq(r.description, "store down");
    ck_assert_int_eq(sim_js_parse_msg_get(B(e), &r), 0);
    ck_assert(r.error);
    ck_assert_ptr_null(r.data);
}
END_TEST

START_TEST(malformed_replies_are_errors)
{
    static const char *const bad[] = {"", "not json", "[1,2]", "{\"stream\":\"S\"}",
                                      "{\"seq\":3}", "{\"stream\":\"S\",\"seq\":-1}",
                                      "{\"state\":{}}", "{\"message\":{\"data\":\"eA==\"}}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sim_js_reply r;
        ck_assert_int_eq(sim_js_parse_puback(B(bad[i]), &r), MR_E_INVAL);
        ck_assert_int_eq(sim_js_parse_info(B(bad[i]), &r), MR_E_INVAL);
        ck_assert_int_eq(sim_js_parse_msg_get(B(bad[i]), &r), MR_E_INVAL);
        ck_assert_ptr_null(r.data);
    }
}
END_TEST

START_TEST(info_gives_last_seq)
{
    struct sim_js_reply r;
    const char *info = "{\"config\":{\"name\":\"S\"},\"state\":{\"messages\":3,\"first_seq\":1,"
                       "\"last_seq\":3}}";
    ck_assert_int_eq(sim_js_parse_info(B(info), &r), 0);
    ck_assert_uint_eq(r.last_seq, 3);
}
END_TEST

START_TEST(msg_get_decodes_base64_data)
{
    struct sim_js_reply r;
    /* "pub:12 xxx" */
    const char *get = "{\"type\":\"io.nats.jetstream.api.v1.stream_msg_get_response\",\"message\":"
                      "{\"subject\":\"o.n\",\"seq\":12,\"data\":\"cHViOjEyIHh4eA==\"}}";
    ck_assert_int_eq(sim_js_parse_msg_get(B(get), &r), 0);
    ck_assert_uint_eq(r.seq, 12);
    ck_assert_uint_eq(r.data_len, 10);
    ck_assert_mem_eq(r.data, "pub:12 xxx", 10);
    sim_js_reply_clear(&r);
    ck_assert_ptr_null(r.data);
}
END_TEST

START_TEST(payload_id_accepts_only_what_a_publisher_sends)
{
    char pub[32];
    uint64_t seq = 0;
    ck_assert(sim_js_payload_id(B("pub:12"), pub, sizeof(pub), &seq));
    ck_assert_str_eq(pub, "pub");
    ck_assert_uint_eq(seq, 12);
    ck_assert(sim_js_payload_id(B("a-1:99 xxxxxxxx"), pub, sizeof(pub), &seq));
    ck_assert_str_eq(pub, "a-1");
    ck_assert_uint_eq(seq, 99);
    static const char *const bad[] = {"", "pub", "pub:", ":12", "pub:1a", "pub:12 xxyx",
                                      "pub:12 xxx\001", "pub:0", "p\177b:3",
                                      "pub:123456789012345678901"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(!sim_js_payload_id(B(bad[i]), pub, sizeof(pub), &seq), "accepted %s",
                      bad[i]);
    }
    ck_assert(!sim_js_payload_id(B("averylongpublishername:1"), pub, 8, &seq));
}
END_TEST

START_TEST(payload_id_rejects_every_single_bit_flip_of_its_padding)
{
    char payload[] = "pub:7 xxxxxxxxxx";
    size_t len = strlen(payload);
    char pub[32];
    uint64_t seq = 0;
    for (size_t bit = 6 * 8; bit < len * 8; bit++) {
        payload[bit / 8] ^= (char)(1 << (bit % 8));
        ck_assert(!sim_js_payload_id((const uint8_t *)payload, len, pub, sizeof(pub), &seq));
        payload[bit / 8] ^= (char)(1 << (bit % 8));
    }
    ck_assert(sim_js_payload_id((const uint8_t *)payload, len, pub, sizeof(pub), &seq));
}
END_TEST

static Suite *sim_jsapi_suite(void)
{
    Suite *s = suite_create("sim_jsapi");
    TCase *tc = tcase_create("replies");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, puback_gives_stream_seq_and_duplicate);
    tcase_add_test(tc, api_error_is_a_reply_with_its_description);
    tcase_add_test(tc, malformed_replies_are_errors);
    tcase_add_test(tc, info_gives_last_seq);
    tcase_add_test(tc, msg_get_decodes_base64_data);
    tcase_add_test(tc, payload_id_accepts_only_what_a_publisher_sends);
    tcase_add_test(tc, payload_id_rejects_every_single_bit_flip_of_its_padding);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sim_jsapi_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
