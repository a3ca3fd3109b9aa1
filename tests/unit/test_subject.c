/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for core/proto/subject.c: nats-server's validation rules one by one,
 * tokenizing, matching, and the intersection/subset tables, plus an exhaustive
 * cross-check of intersects/is_subset against matches over a small subject universe.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "core/proto/subject.h"

static bool valid(const char *s)
{
    return mr_subject_valid(s, strlen(s));
}

static bool literal(const char *s)
{
    return mr_subject_valid_literal(s, strlen(s));
}

static bool matches(const char *p, const char *s)
{
    return mr_subject_matches(p, strlen(p), s, strlen(s));
}

static bool intersects(const char *a, const char *b)
{
    return mr_subject_intersects(a, strlen(a), b, strlen(b));
}

static bool subset(const char *a, const char *b)
{
    return mr_subject_is_subset(a, strlen(a), b, strlen(b));
}

struct valid_case {
    const char *s;
    bool valid;
    bool literal;
};

static const struct valid_case valid_cases[] = {
    {"foo", true, true},
    {"foo.bar", true, true},
    {"foo.bar.baz", true, true},
    {"*", true, false},
    {">", true, false},
    {"foo.*", true, false},
    {"*.bar", true, false},
    {"foo.>", true, false},
    {"foo.*.>", true, false},
    {"*.*.*", true, false},
    {"_INBOX.abc123.1", true, true},
    {"$JS.API.STREAM.CREATE.ORDERS", true, true},
    /* Wildcard characters inside a longer token are literal. */
    {"foo>", true, true},
    {"f*o", true, true},
    {"foo.bar>", true, true},
    {"*foo", true, true},
    {">foo", true, true},
    {"foo.**", true, true},
    {"foo.>>", true, true},
    {"foo.>.*x", false, false},
    /* Empty tokens, leading and trailing dots. */
    {"", false, false},
    {".", false, false},
    {"..", false, false},
    {".foo", false, false},
    {"foo.", false, false},
    {"foo..bar", false, false},
    {"foo.bar.", false, false},
    {".>", false, false},
    {"*.", false, false},
    /* '>' only as the last token. */
    {">.foo", false, false},
    {"foo.>.bar", false, false},
    {">.>", false, false},
    {">.*", false, false},
    /* Whitespace anywhere in a token: space, tab, CR, LF, FF. */
    {"foo bar", false, false},
    {"foo\tbar", false, false},
    {"foo\rbar", false, false},
    {"foo\nbar", false, false},
    {"foo\fbar", false, false},
    {" ", false, false},
    {"foo. ", false, false},
    {" .foo", false, false},
    {"foo.\t", false, false},
    /* nats-server's whitespace set has no vertical tab. */
    {"foo\vbar", true, true},
    /* Byte-based: UTF-8 and other bytes are fine, case matters. */
    {"caf\xc3\xa9.men\xc3\xbc", true, true},
    {"\xe6\x97\xa5\xe6\x9c\xac.*", true, false},
    {"\xff\xfe", true, true},
    {"Foo.FOO", true, true},
};

START_TEST(valid_follows_nats_server_rules)
{
    for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
        const struct valid_case *c = &valid_cases[i];
        ck_assert_msg(valid(c->s) == c->valid, "valid(\"%s\")", c->s);
        ck_assert_msg(literal(c->s) == c->literal, "valid_literal(\"%s\")", c->s);
        if (c->valid) {
            ck_assert_msg(mr_subject_has_wildcard(c->s, strlen(c->s)) == !c->literal,
                          "has_wildcard(\"%s\")", c->s);
        }
    }
}
END_TEST

START_TEST(valid_allows_nul_byte_inside_token)
{
    static const char s[] = {'f', '\0', 'o', '.', 'b'};
    ck_assert(mr_subject_valid(s, sizeof(s)));
    ck_assert(mr_subject_valid_literal(s, sizeof(s)));
}
END_TEST

START_TEST(valid_uses_length_not_nul)
{
    ck_assert(mr_subject_valid("foo.bar.", 7));
    ck_assert(!mr_subject_valid("foo.bar", 4));
    ck_assert(!mr_subject_valid(NULL, 0));
}
END_TEST

static void build_tokens(char *buf, size_t n, const char *tok)
{
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            strcat(buf, ".");
        }
        strcat(buf, tok);
    }
}

START_TEST(valid_limits_token_count)
{
    static char buf[4 * (MR_SUBJECT_TOKENS_MAX + 2)];
    build_tokens(buf, MR_SUBJECT_TOKENS_MAX, "a");
    ck_assert(valid(buf));
    ck_assert(literal(buf));
    build_tokens(buf, MR_SUBJECT_TOKENS_MAX - 1, "a");
    strcat(buf, ".>");
    ck_assert(valid(buf));
    build_tokens(buf, MR_SUBJECT_TOKENS_MAX + 1, "a");
    ck_assert(!valid(buf));
    ck_assert(!literal(buf));
}
END_TEST

START_TEST(queue_needs_bytes_without_whitespace)
{
    ck_assert(mr_subject_valid_queue("workers", 7));
    ck_assert(mr_subject_valid_queue("q.with.dots", 11));
    ck_assert(mr_subject_valid_queue("*", 1));
    ck_assert(mr_subject_valid_queue(">", 1));
    ck_assert(mr_subject_valid_queue("caf\xc3\xa9", 5));
    ck_assert(!mr_subject_valid_queue("", 0));
    ck_assert(!mr_subject_valid_queue("a b", 3));
    ck_assert(!mr_subject_valid_queue("a\tb", 3));
    ck_assert(!mr_subject_valid_queue("a\r", 2));
    ck_assert(!mr_subject_valid_queue("\na", 2));
    ck_assert(!mr_subject_valid_queue("a\fb", 3));
}
END_TEST

START_TEST(tokenize_splits_on_dots)
{
    struct mr_view t[8];
    ck_assert_int_eq(mr_subject_tokenize("foo.bar.>", 9, t, 8), 3);
    ck_assert_int_eq(t[0].len, 3);
    ck_assert(memcmp(t[0].ptr, "foo", 3) == 0);
    ck_assert_int_eq(t[1].len, 3);
    ck_assert(memcmp(t[1].ptr, "bar", 3) == 0);
    ck_assert_int_eq(t[2].len, 1);
    ck_assert(t[2].ptr[0] == '>');
    ck_assert_int_eq(mr_subject_tokenize("single", 6, t, 8), 1);
    ck_assert_int_eq(t[0].len, 6);
    ck_assert_int_eq(mr_subject_tokenize("", 0, t, 8), 0);
}
END_TEST

START_TEST(tokenize_reports_empty_tokens_as_empty_views)
{
    struct mr_view t[8];
    ck_assert_int_eq(mr_subject_tokenize("a..b.", 5, t, 8), 4);
    ck_assert_int_eq(t[0].len, 1);
    ck_assert_int_eq(t[1].len, 0);
    ck_assert_int_eq(t[2].len, 1);
    ck_assert_int_eq(t[3].len, 0);
}
END_TEST

START_TEST(tokenize_refuses_more_than_max)
{
    struct mr_view t[3];
    ck_assert_int_eq(mr_subject_tokenize("a.b.c", 5, t, 3), 3);
    ck_assert_int_eq(mr_subject_tokenize("a.b.c.d", 7, t, 3), -1);
    ck_assert_int_eq(mr_subject_tokenize("a", 1, NULL, 0), -1);
}
END_TEST

struct pair_case {
    const char *a;
    const char *b;
    bool want;
};

static const struct pair_case match_cases[] = {
    {"foo", "foo", true},
    {"foo", "bar", false},
    {"foo", "Foo", false},
    {"foo.bar", "foo.bar", true},
    {"foo.bar", "foo", false},
    {"foo", "foo.bar", false},
    {"foo.*", "foo.bar", true},
    {"foo.*", "foo", false},
    {"foo.*", "foo.bar.baz", false},
    {"*", "foo", true},
    {"*", "foo.bar", false},
    {"*.bar", "foo.bar", true},
    {"*.*", "foo.bar", true},
    {"*.*", "foo", false},
    {"foo.>", "foo.bar", true},
    {"foo.>", "foo.bar.baz", true},
    {"foo.>", "foo", false},
    {">", "foo", true},
    {">", "foo.bar.baz", true},
    {"*.>", "foo", false},
    {"*.>", "foo.bar", true},
    {"foo.*.baz", "foo.bar.baz", true},
    {"foo.*.baz", "foo.bar.bax", false},
    {"foo.*.>", "foo.bar.baz.qux", true},
    {"foo.*.>", "foo.bar", false},
    /* Partial wildcards are literal. */
    {"foo>", "foo>", true},
    {"foo>", "foox", false},
    {"f*o", "foo", false},
    {"f*o", "f*o", true},
    {"foo.bar>", "foo.bar.baz", false},
    /* A literal '*' or '>' in the subject is just a token. */
    {"foo.*", "foo.*", true},
    {"foo.>", "foo.>", true},
    {"foo.bar", "foo.*", false},
    {"*", ">", true},
    {"foo.*", "foo.>", true},
    /* Bytes, not characters. */
    {"caf\xc3\xa9.*", "caf\xc3\xa9.x", true},
    {"caf\xc3\xa9", "cafe", false},
};

START_TEST(matches_table)
{
    for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
        const struct pair_case *c = &match_cases[i];
        ck_assert_msg(matches(c->a, c->b) == c->want, "matches(\"%s\", \"%s\")", c->a, c->b);
    }
    ck_assert(!mr_subject_matches("foo", 3, "", 0));
    ck_assert(!mr_subject_matches("", 0, "foo", 3));
}
END_TEST

START_TEST(matches_subjects_deeper_than_token_limit)
{
    static char buf[4 * (MR_SUBJECT_TOKENS_MAX + 10)];
    build_tokens(buf, MR_SUBJECT_TOKENS_MAX + 5, "x");
    ck_assert(matches(">", buf));
    ck_assert(matches("x.>", buf));
    ck_assert(!matches("x.*", buf));
    ck_assert(matches(buf, buf));
}
END_TEST

static const struct pair_case intersect_cases[] = {
    {"foo", "foo", true},
    {"foo", "bar", false},
    {"foo.bar", "foo.*", true},
    {"foo.bar", "foo.>", true},
    {"foo", "foo.>", false},
    {"foo", "*", true},
    {"foo", ">", true},
    {"foo.bar", "*", false},
    {"foo.*", "*.bar", true},
    {"foo.*", "bar.*", false},
    {"foo.*", "foo.*.*", false},
    {"foo.>", "foo.*.*", true},
    {"foo.bar.>", "foo.*", false},
    {"foo.bar.>", "foo.*.>", true},
    {"foo.>", "*.bar.baz", true},
    {"*.>", "foo", false},
    {"*.>", "foo.bar", true},
    {">", "*", true},
    {">", "a.b.c.d", true},
    {"a.*.c", "a.b.*", true},
    {"a.*.c", "a.b.d", false},
    {"foo>", "foo.*", false},
    {"foo>", "*", true},
    {"f*o", "f*o", true},
};

START_TEST(intersects_table_is_symmetric)
{
    for (size_t i = 0; i < sizeof(intersect_cases) / sizeof(intersect_cases[0]); i++) {
        const struct pair_case *c = &intersect_cases[i];
        ck_assert_msg(intersects(c->a, c->b) == c->want, "intersects(\"%s\", \"%s\")", c->a, c->b);
        ck_assert_msg(intersects(c->b, c->a) == c->want, "intersects(\"%s\", \"%s\")", c->b, c->a);
    }
}
END_TEST

static const struct pair_case subset_cases[] = {
    {"foo", "foo", true},       {"foo", "*", true},
    {"foo", ">", true},         {"foo", "foo.>", false},
    {"foo.bar", "foo.>", true}, {"foo.bar", "foo.*", true},
    {"foo.*", "foo.>", true},   {"foo.*", "*.*", true},
    {"foo.*", ">", true},       {"foo.*", "foo.bar", false},
    {"foo.*", "*.bar", false},  {"foo.>", "foo.*", false},
    {"foo.>", "foo.>", true},   {"foo.>", ">", true},
    {"foo.>", "*.>", true},     {"*.>", "foo.>", false},
    {">", "*", false},          {"*", ">", true},
    {">", ">", true},           {"*.*", "*.>", true},
    {"*.>", "*.*", false},      {"a.b.c", "a.*.>", true},
    {"a.*.c", "a.b.c", false},  {"foo>", "*", true},
    {"*", "foo>", false},
};

START_TEST(is_subset_table)
{
    for (size_t i = 0; i < sizeof(subset_cases) / sizeof(subset_cases[0]); i++) {
        const struct pair_case *c = &subset_cases[i];
        ck_assert_msg(subset(c->a, c->b) == c->want, "is_subset(\"%s\", \"%s\")", c->a, c->b);
    }
}
END_TEST

/* All valid patterns of up to 3 tokens over {a, b, *, >} and all subjects of up to 4
 * tokens over {a, b, c}: enough that any overlap or counterexample has a witness. */
#define PAT_MAX 128
#define SUBJ_MAX 128

static size_t gen_all(char out[][32], const char *const *alpha, size_t nalpha, size_t depth,
                      bool patterns)
{
    size_t n = 0;
    size_t first = 0;
    for (size_t d = 1; d <= depth; d++) {
        size_t prev_end = n;
        if (d == 1) {
            for (size_t i = 0; i < nalpha; i++) {
                snprintf(out[n++], 32, "%s", alpha[i]);
            }
        } else {
            for (size_t p = first; p < prev_end; p++) {
                for (size_t i = 0; i < nalpha; i++) {
                    size_t len = strlen(out[p]);
                    if (out[p][len - 1] == '>' && patterns) {
                        continue;
                    }
                    size_t alen = strlen(alpha[i]);
                    ck_assert_uint_lt(len + 1 + alen, 32);
                    memcpy(out[n], out[p], len);
                    out[n][len] = '.';
                    memcpy(out[n] + len + 1, alpha[i], alen + 1);
                    n++;
                }
            }
        }
        first = prev_end;
    }
    return n;
}

START_TEST(intersects_and_subset_agree_with_matches_exhaustively)
{
    static char pats[PAT_MAX][32];
    static char subjs[SUBJ_MAX][32];
    static const char *const palpha[] = {"a", "b", "*", ">"};
    static const char *const salpha[] = {"a", "b", "c"};
    size_t np = gen_all(pats, palpha, 4, 3, true);
    size_t ns = gen_all(subjs, salpha, 3, 4, false);
    ck_assert_uint_le(np, PAT_MAX);
    ck_assert_uint_le(ns, SUBJ_MAX);
    for (size_t i = 0; i < np; i++) {
        ck_assert_msg(valid(pats[i]), "%s", pats[i]);
        for (size_t j = 0; j < np; j++) {
            bool any = false;
            bool all = true;
            for (size_t s = 0; s < ns; s++) {
                bool mi = matches(pats[i], subjs[s]);
                bool mj = matches(pats[j], subjs[s]);
                any = any || (mi && mj);
                all = all && (!mi || mj);
            }
            ck_assert_msg(intersects(pats[i], pats[j]) == any, "intersects(%s, %s)", pats[i],
                          pats[j]);
            ck_assert_msg(subset(pats[i], pats[j]) == all, "is_subset(%s, %s)", pats[i], pats[j]);
        }
    }
}
END_TEST

static Suite *subject_suite(void)
{
    Suite *s = suite_create("subject");
    TCase *tv = tcase_create("validate");
    tcase_set_timeout(tv, 10);
    tcase_add_test(tv, valid_follows_nats_server_rules);
    tcase_add_test(tv, valid_allows_nul_byte_inside_token);
    tcase_add_test(tv, valid_uses_length_not_nul);
    tcase_add_test(tv, valid_limits_token_count);
    tcase_add_test(tv, queue_needs_bytes_without_whitespace);
    suite_add_tcase(s, tv);

    TCase *tt = tcase_create("tokenize");
    tcase_set_timeout(tt, 10);
    tcase_add_test(tt, tokenize_splits_on_dots);
    tcase_add_test(tt, tokenize_reports_empty_tokens_as_empty_views);
    tcase_add_test(tt, tokenize_refuses_more_than_max);
    suite_add_tcase(s, tt);

    TCase *tm = tcase_create("compare");
    tcase_set_timeout(tm, 60);
    tcase_add_test(tm, matches_table);
    tcase_add_test(tm, matches_subjects_deeper_than_token_limit);
    tcase_add_test(tm, intersects_table_is_symmetric);
    tcase_add_test(tm, is_subset_table);
    tcase_add_test(tm, intersects_and_subset_agree_with_matches_exhaustively);
    suite_add_tcase(s, tm);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(subject_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
