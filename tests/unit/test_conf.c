/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the configuration language parser (core/conf/conf.c): one table row or
 * test per syntax form and per error (with its exact position), variables, includes,
 * limits, the lookup and duration API, the sample files under tests/conf/ (every valid
 * one parses, every invalid one fails where its first line says) and the mission's
 * example configs.
 *
 * Inputs come from memory through a fake io (a table of files and environment
 * variables); the sample files are read from the source tree, found from __FILE__.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf/conf.h"
#include "core/err.h"

/* ---------------------------------------------------------------------------------- */
/* Fake io                                                                             */

struct fake_file {
    const char *path;
    const char *text;
};

struct fake_env {
    const char *name;
    const char *value;
};

struct fake_io {
    const struct fake_file *files; /* terminated by a NULL path */
    const struct fake_env *env;    /* terminated by a NULL name */
    int reads;
};

static int fake_read(void *ctx, const char *path, char **data, size_t *len, char *err,
                     size_t err_len)
{
    struct fake_io *io = ctx;
    io->reads++;
    for (size_t i = 0; io->files != NULL && io->files[i].path != NULL; i++) {
        if (strcmp(io->files[i].path, path) == 0) {
            *len = strlen(io->files[i].text);
            *data = malloc(*len + 1);
            memcpy(*data, io->files[i].text, *len + 1);
            return 0;
        }
    }
    snprintf(err, err_len, "no such file");
    return MR_E_NOT_FOUND;
}

static const char *fake_get_env(void *ctx, const char *name)
{
    struct fake_io *io = ctx;
    for (size_t i = 0; io->env != NULL && io->env[i].name != NULL; i++) {
        if (strcmp(io->env[i].name, name) == 0) {
            return io->env[i].value;
        }
    }
    return NULL;
}

static struct mr_conf_io make_io(struct fake_io *fake)
{
    struct mr_conf_io io = {fake, fake_read, fake_get_env};
    return io;
}

/* ---------------------------------------------------------------------------------- */
/* Helpers                                                                             */

static struct mr_conf_value *parse_with(const char *text, const struct mr_conf_io *io)
{
    struct mr_conf_value *v = NULL;
    char err[MR_CONF_ERR_MAX];
    int rc = mr_conf_parse("t.conf", text, strlen(text), io, &v, err, sizeof(err));
    ck_assert_msg(rc == 0, "parse failed (%s): %s\ninput:\n%s", mr_err_name(rc), err, text);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->type, MR_CONF_MAP);
    return v;
}

static struct mr_conf_value *parse_ok(const char *text)
{
    return parse_with(text, NULL);
}

/* Parses text expecting an error rc at "t.conf:<at>: " whose message holds fragment. */
static void expect_error_with(const char *text, const struct mr_conf_io *io, int rc_want,
                              const char *at, const char *fragment)
{
    struct mr_conf_value *v = (struct mr_conf_value *)1;
    char err[MR_CONF_ERR_MAX];
    int rc = mr_conf_parse("t.conf", text, strlen(text), io, &v, err, sizeof(err));
    ck_assert_msg(rc == rc_want, "rc %s, want %s (%s)\ninput:\n%s", mr_err_name(rc),
                  mr_err_name(rc_want), err, text);
    ck_assert_ptr_null(v);
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "%s: ", at);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "error \"%s\" is not at %s", err,
                  at);
    ck_assert_msg(strstr(err, fragment) != NULL, "error \"%s\" lacks \"%s\"", err, fragment);
}

/* Follows a dotted path: map keys, or decimal indexes into arrays. */
static struct mr_conf_value *at_path(struct mr_conf_value *v, const char *path)
{
    char seg[128];
    while (v != NULL && *path != '\0') {
        size_t n = strcspn(path, ".");
        ck_assert_uint_lt(n, sizeof(seg));
        memcpy(seg, path, n);
        seg[n] = '\0';
        path += n + (path[n] == '.' ? 1 : 0);
        if (v->type == MR_CONF_ARRAY) {
            size_t i = (size_t)strtoul(seg, NULL, 10);
            v = i < v->u.array.count ? v->u.array.items[i] : NULL;
        } else {
            v = mr_conf_get(v, seg);
        }
    }
    return v;
}

/* A value as text: "i:4222", "s:abc" (bare), "q:abc" (quoted), "b:true", "f:1.5",
 * "map:2", "array:3" (the count). */
static const char *show(const struct mr_conf_value *v, char *buf, size_t len)
{
    if (v == NULL) {
        return "(none)";
    }
    switch (v->type) {
    case MR_CONF_MAP:
        snprintf(buf, len, "map:%zu", v->u.map.count);
        break;
    case MR_CONF_ARRAY:
        snprintf(buf, len, "array:%zu", v->u.array.count);
        break;
    case MR_CONF_STRING:
        snprintf(buf, len, "%c:%s", v->quoted ? 'q' : 's', v->u.str.s);
        ck_assert_uint_eq(strlen(v->u.str.s), v->u.str.len);
        break;
    case MR_CONF_INT:
        snprintf(buf, len, "i:%lld", (long long)v->u.i);
        break;
    case MR_CONF_FLOAT:
        snprintf(buf, len, "f:%g", v->u.f);
        break;
    case MR_CONF_BOOL:
        snprintf(buf, len, "b:%s", v->u.b ? "true" : "false");
        break;
    }
    return buf;
}

static void expect_at(struct mr_conf_value *root, const char *path, const char *want)
{
    char buf[256];
    const char *got = show(at_path(root, path), buf, sizeof(buf));
    ck_assert_msg(strcmp(got, want) == 0, "%s: got %s, want %s", path, got, want);
}

/* One parse, one path, one expected value. */
struct value_case {
    const char *text;
    const char *path;
    const char *want;
};

static void run_value_cases(const struct value_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct mr_conf_value *v = parse_ok(cases[i].text);
        expect_at(v, cases[i].path, cases[i].want);
        mr_conf_free(v);
    }
}

#define RUN_VALUE_CASES(c) run_value_cases((c), sizeof(c) / sizeof((c)[0]))

/* ---------------------------------------------------------------------------------- */
/* Syntax forms                                                                        */

START_TEST(separators_colon_equals_and_whitespace)
{
    struct mr_conf_value *v = parse_ok("a: 1\nb = 2\nc 3\nd:4\ne=5\nf\t6\ng : 7\nh  =  8\n");
    const char *keys[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    ck_assert_uint_eq(v->u.map.count, 8);
    for (size_t i = 0; i < 8; i++) {
        ck_assert_str_eq(v->u.map.entries[i].key, keys[i]);
        ck_assert_int_eq(v->u.map.entries[i].value->u.i, (int64_t)i + 1);
    }
    mr_conf_free(v);
}
END_TEST

START_TEST(maps_with_or_without_separator_and_nested)
{
    static const struct value_case cases[] = {
        {"cluster { name: c1 }", "cluster.name", "s:c1"},
        {"cluster: { name: c1 }", "cluster.name", "s:c1"},
        {"cluster = { name = c1 }", "cluster.name", "s:c1"},
        {"a { b { c { d: deep } } }", "a.b.c.d", "s:deep"},
        {"a {\n  b: 1,\n  c: 2;\n  d: 3\n}", "a", "map:3"},
        {"a { b: 1, }", "a.b", "i:1"},
        {"a {}", "a", "map:0"},
        {"a {\n\n}", "a", "map:0"},
        {"a { b: 1 }\nc: 2", "c", "i:2"},
        {"a { b:\n  1 }", "a.b", "i:1"},
    };
    RUN_VALUE_CASES(cases);
}
END_TEST

START_TEST(arrays_with_commas_newlines_and_trailing_comma)
{
    static const struct value_case cases[] = {
        {"a: [1, 2, 3]", "a", "array:3"},
        {"a: [1, 2, 3]", "a.2", "i:3"},
        {"a: [\n  x\n  y\n]", "a.1", "s:y"},
        {"a: [x, y,]", "a", "array:2"},
        {"a: [\n  x,\n  y,\n]", "a", "array:2"},
        {"a: []", "a", "array:0"},
        {"a: [[1, 2], [3]]", "a.0.1", "i:2"},
        {"a: [ { name: x }, { name: y } ]", "a.1.name", "s:y"},
        {"a: [\n  { name: x }\n  { name: y }\n]", "a.0.name", "s:x"},
        {"a: [\"q\", 'r', (\nblock\n)\n]", "a.2", "q:\nblock\n"},
        {"a: [1.5, true, -3]", "a.1", "b:true"},
    };
    RUN_VALUE_CASES(cases);
}
END_TEST

START_TEST(comments_hash_and_slash_anywhere)
{
    const char *text = "// first\n"
                       "# second\n"
                       "a: 1 # after a value\n"
                       "b: 2 // after a value\n"
                       "c {\n"
                       "  # in a map\n"
                       "  d: 3 # after a map value\n"
                       "  // in a map\n"
                       "}\n"
                       "e: [\n"
                       "  # in an array\n"
                       "  4 // after an element\n"
                       "  5, # after a comma\n"
                       "]\n"
                       "f: x#y\n"
                       "g: nats://host:4222\n"
                       "# last line, no newline";
    struct mr_conf_value *v = parse_ok(text);
    expect_at(v, "a", "i:1");
    expect_at(v, "b", "i:2");
    expect_at(v, "c.d", "i:3");
    expect_at(v, "e", "array:2");
    expect_at(v, "e.1", "i:5");
    /* Inside a bare value, '#' and "//" are text (nats-server's lexString). */
    expect_at(v, "f", "s:x#y");
    expect_at(v, "g", "s:nats://host:4222");
    ck_assert_uint_eq(v->u.map.count, 6);
    mr_conf_free(v);
}
END_TEST

START_TEST(bare_strings_end_at_terminators)
{
    static const struct value_case cases[] = {
        {"a: hello world2", "a", "(none)"},
        {"a: hello", "a", "s:hello"},
        {"a: hello;", "a", "s:hello"},
        {"a: hello, b: 2", "b", "i:2"},
        {"a { b: x}", "a.b", "s:x"},
        {"a: [x]", "a.0", "s:x"},
        {"a: 127.0.0.1:4222", "a", "s:127.0.0.1:4222"},
        {"a: nats://u:p@h:1", "a", "s:nats://u:p@h:1"},
        {"a: x{y", "a", "s:x{y"},
        {"a: /data/js", "a", "s:/data/js"},
        {"a: tab\\there", "a", "s:tab\there"},
        {"a: ab'", "a", "s:ab"},
        {"a: #notcomment", "a", "s:#notcomment"},
    };
    /* The first row is an error (two words); the rest are values. */
    expect_error_with(cases[0].text, NULL, MR_E_INVAL, "t.conf:1:10", "found \"w\"");
    run_value_cases(cases + 1, sizeof(cases) / sizeof(cases[0]) - 1);
}
END_TEST

START_TEST(double_quoted_strings_with_escapes)
{
    static const struct value_case cases[] = {
        {"a: \"hello world\"", "a", "q:hello world"},
        {"a: \"\"", "a", "q:"},
        {"a: \"t\\tn\\nr\\rq\\\"b\\\\\"", "a", "q:t\tn\nr\rq\"b\\"},
        {"a: \"\\x41\\x62\"", "a", "q:Ab"},
        {"a: \"\\x4a\\x4B\"", "a", "q:JK"},
        {"a: \"a # b // c\"", "a", "q:a # b // c"},
        {"a: \"multi\nline\"", "a", "q:multi\nline"},
        {"a: \"$NOT_A_VAR\"", "a", "q:$NOT_A_VAR"},
        {"a: \"true\"", "a", "q:true"},
        {"a: \"4222\"", "a", "q:4222"},
        {"a: \"caf\xc3\xa9\"", "a", "q:caf\xc3\xa9"},
    };
    RUN_VALUE_CASES(cases);
}
END_TEST

START_TEST(single_quoted_strings_are_raw)
{
    static const struct value_case cases[] = {
        {"a: 'raw \\t $X \"q\"'", "a", "q:raw \\t $X \"q\""},
        {"a: ''", "a", "q:"},
        {"a: 'x, y; z'", "a", "q:x, y; z"},
    };
    RUN_VALUE_CASES(cases);
}
END_TEST

START_TEST(block_strings_keep_text_verbatim)
{
    static const struct value_case cases[] = {
        {"a: (\nline 1\n  line 2 ) not the end\n)\n", "a", "q:\nline 1\n  line 2 ) not the end\n"},
        {"a: (\n)\n", "a", "q:\n"},
        {"a: (\n# not a comment, \"$X\"\n)", "a", "q:\n# not a comment, \"$X\"\n"},
        {"m {\n  a: (\nx\n)\n}\n", "m.a", "q:\nx\n"},
    };
    RUN_VALUE_CASES(cases);
}
END_TEST

START_TEST(integers_with_size_suffixes)
{
    static const struct value_case cases[] = {
        {"a: 0", "a", "i:0"},
        {"a: 4222", "a", "i:4222"},
        {"a: 007", "a", "i:7"},
        {"a: 1k", "a", "i:1000"},
        {"a: 1K", "a", "i:1000"},
        {"a: 1kb", "a", "i:1024"},
        {"a: 1KB", "a", "i:1024"},
        {"a: 1ki", "a", "i:1024"},
        {"a: 1KiB", "a", "i:1024"},
        {"a: 2m", "a", "i:2000000"},
        {"a: 2MB", "a", "i:2097152"},
        {"a: 2mi", "a", "i:2097152"},
        {"a: 2mib", "a", "i:2097152"},
        {"a: 3g", "a", "i:3000000000"},
        {"a: 3gb", "a", "i:3221225472"},
        {"a: 3Gi", "a", "i:3221225472"},
        {"a: 1t", "a", "i:1000000000000"},
        {"a: 1tb", "a", "i:1099511627776"},
        {"a: 1p", "a", "i:1000000000000000"},
        {"a: 1PiB", "a", "i:1125899906842624"},
        {"a: 1e", "a", "i:1000000000000000000"},
        {"a: 1eb", "a", "i:1152921504606846976"},
        {"a: 7EB", "a", "i:8070450532247928832"},
        {"a: 9223372036854775807", "a", "i:9223372036854775807"},
        {"a: 1kb;", "a", "i:1024"},
        {"a: [1kb]", "a.0", "i:1024"},
    };
    RUN_VALUE_CASES(cases);
}
END_TEST

START_TEST(negative_numbers)
{
    static const struct value_case cases[] = {
        {"a: -1", "a", "i:-1"},
        {"a: -0", "a", "i:0"},
        {"a: -1k", "a", "i:-1000"},
        {"a: -2MB", "a", "i:-2097152"},
        {"a: -9223372036854775808", "a", "i:-9223372036854775808"},
        {"a: -8EB", "a", "i:-9223372036854775808"},
        {"a: -1.5", "a", "f:-1.5"},
        {"a: [-1, -2]", "a.1", "i:-2"},
    };
    RUN_VALUE_CASES(cases);
}
END_TEST

START_TEST(floats)
{
    static const struct value_case cases[] = {
        {"a: 1.5", "a", "f:1.5"},
        {"a: 0.25", "a", "f:0.25"},
        {"a: 10.0", "a", "f:10"},
        {"a { b: 2.5 }", "a.b", "f:2.5"},
    };
    RUN_VALUE_CASES(cases);
}
END_TEST

START_TEST(number_like_text_becomes_string)
{
    /* nats-server's lexer turns a value that starts with a digit into a string as soon
     * as a character appears that a number cannot hold. */
    static const struct value_case cases[] = {
        {"a: 2s", "a", "s:2s"},
        {"a: 10ms", "a", "s:10ms"},
        {"a: 1kx", "a", "s:1kx"},
        {"a: 0x10", "a", "s:0x10"},
        {"a: -1kx", "a", "s:-1kx"},
        {"a: 1.2.3", "a", "s:1.2.3"},
        {"a: 127.0.0.1", "a", "s:127.0.0.1"},
        {"a: 10.0.0.1:4222", "a", "s:10.0.0.1:4222"},
        {"a: 2006-01-02T15:04:05Z", "a", "s:2006-01-02T15:04:05Z"},
        {"a: 5m", "a", "i:5000000"},
    };
    RUN_VALUE_CASES(cases);
}
END_TEST

START_TEST(booleans_in_every_spelling)
{
    static const struct value_case cases[] = {
        {"a: true", "a", "b:true"},   {"a: TRUE", "a", "b:true"},  {"a: True", "a", "b:true"},
        {"a: yes", "a", "b:true"},    {"a: YES", "a", "b:true"},   {"a: on", "a", "b:true"},
        {"a: On", "a", "b:true"},     {"a: false", "a", "b:false"}, {"a: FALSE", "a", "b:false"},
        {"a: no", "a", "b:false"},    {"a: No", "a", "b:false"},   {"a: off", "a", "b:false"},
        {"a: OFF", "a", "b:false"},   {"a: \"true\"", "a", "q:true"}, {"a: truex", "a", "s:truex"},
        {"a: tru\\x65", "a", "s:true"}, {"a: [on, off]", "a.1", "b:false"},
    };
    RUN_VALUE_CASES(cases);
}
END_TEST

START_TEST(trailing_semicolons_and_stray_separators)
{
    struct mr_conf_value *v = parse_ok("server_name: \"s1\";\nport: 4222;\na: 1; b: 2, c: 3\n"
                                       "d: 4;;\n;\nm { x: 1; y: 2; ; }\n");
    expect_at(v, "server_name", "q:s1");
    expect_at(v, "port", "i:4222");
    expect_at(v, "c", "i:3");
    expect_at(v, "d", "i:4");
    expect_at(v, "m.y", "i:2");
    ck_assert_uint_eq(v->u.map.count, 7);
    mr_conf_free(v);
}
END_TEST

START_TEST(quoted_keys)
{
    struct mr_conf_value *v =
        parse_ok("\"a b\": 1\n'c.d' = 2\n\"e\" 3\n\"\": 4\n\"include\": 5\nm { \"x:y\": 6 }\n");
    expect_at(v, "a b", "i:1");
    expect_at(v, "e", "i:3");
    ck_assert_str_eq(v->u.map.entries[1].key, "c.d");
    ck_assert_str_eq(v->u.map.entries[3].key, "");
    /* A quoted "include" is an ordinary key. */
    ck_assert_str_eq(v->u.map.entries[4].key, "include");
    ck_assert_str_eq(at_path(v, "m")->u.map.entries[0].key, "x:y");
    mr_conf_free(v);
}
END_TEST

START_TEST(bcrypt_hashes_stay_literal)
{
    static const struct value_case cases[] = {
        {"p: $2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG", "p",
         "s:$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG"},
        {"p: $2b$12$abcdefghijklmnopqrstuv", "p", "s:$2b$12$abcdefghijklmnopqrstuv"},
        {"u { password: $2a$10$x }", "u.password", "s:$2a$10$x"},
    };
    RUN_VALUE_CASES(cases);
}
END_TEST

START_TEST(top_level_braces_wrap_a_file)
{
    struct mr_conf_value *v = parse_ok("# json-like\n{\n  \"port\": 4222,\n"
                                       "  \"m\": {\"a\": [1]}\n}\n// trailing comment\n");
    expect_at(v, "port", "i:4222");
    expect_at(v, "m.a.0", "i:1");
    mr_conf_free(v);
    v = parse_ok("{}");
    ck_assert_uint_eq(v->u.map.count, 0);
    mr_conf_free(v);
}
END_TEST

START_TEST(value_after_key_on_a_later_line)
{
    /* Without a separator nats-server's lexKeyEnd skips newlines before the value. */
    struct mr_conf_value *v = parse_ok("server_name\n\n  s1\nm {\n  k\n  v\n}\n");
    expect_at(v, "server_name", "s:s1");
    expect_at(v, "m.k", "s:v");
    mr_conf_free(v);
}
END_TEST

START_TEST(empty_and_comment_only_inputs_give_an_empty_map)
{
    const char *inputs[] = {"", "\n\n", "# only a comment", "// c\n# d\n", "  \t \n"};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct mr_conf_value *v = parse_ok(inputs[i]);
        ck_assert_uint_eq(v->u.map.count, 0);
        mr_conf_free(v);
    }
}
END_TEST

START_TEST(crlf_line_endings)
{
    struct mr_conf_value *v = parse_ok("a: 1\r\nb {\r\n  c: x\r\n}\r\nd: [1,\r\n 2]\r\n");
    expect_at(v, "a", "i:1");
    expect_at(v, "b.c", "s:x");
    expect_at(v, "d.1", "i:2");
    mr_conf_free(v);
}
END_TEST

START_TEST(positions_are_one_based_lines_and_columns)
{
    struct mr_conf_value *v = parse_ok("# c\nport: 4222\n  m {\n    k = \"v\"\n  }\n\xc3\xa9: x\n");
    struct mr_conf_entry *e = mr_conf_get_entry(v, "port");
    ck_assert_str_eq(e->key_pos.file, "t.conf");
    ck_assert_uint_eq(e->key_pos.line, 2);
    ck_assert_uint_eq(e->key_pos.col, 1);
    ck_assert_uint_eq(e->value->pos.line, 2);
    ck_assert_uint_eq(e->value->pos.col, 7);
    e = mr_conf_get_entry(v, "m");
    ck_assert_uint_eq(e->key_pos.col, 3);
    ck_assert_uint_eq(e->value->pos.col, 5); /* the '{' */
    e = mr_conf_get_entry(e->value, "k");
    ck_assert_uint_eq(e->key_pos.line, 4);
    ck_assert_uint_eq(e->key_pos.col, 5);
    ck_assert_uint_eq(e->value->pos.col, 9);
    /* Columns count characters, not bytes. */
    e = &v->u.map.entries[2];
    ck_assert_uint_eq(e->value->pos.line, 6);
    ck_assert_uint_eq(e->value->pos.col, 4);
    ck_assert_uint_eq(v->pos.line, 1);
    ck_assert_uint_eq(v->pos.col, 1);
    mr_conf_free(v);
}
END_TEST

START_TEST(duplicate_keys_last_wins_and_all_stay)
{
    struct mr_conf_value *v = parse_ok("port: 1\nPORT: 2\nm { a: 1 }\nm { b: 2 }\n");
    ck_assert_uint_eq(v->u.map.count, 4);
    expect_at(v, "port", "i:2");
    expect_at(v, "m.b", "i:2");
    ck_assert_ptr_null(at_path(v, "m.a"));
    /* Every duplicate is marked used by the lookup. */
    ck_assert(v->u.map.entries[0].used);
    ck_assert(v->u.map.entries[1].used);
    mr_conf_free(v);
}
END_TEST

START_TEST(config_md_full_example)
{
    static const struct fake_file files[] = {{"sub/inc.conf", "max_payload: 2MB\n"}, {NULL, NULL}};
    static const struct fake_env env[] = {{"HTTPP", "8222"}, {"TOK", "s3cr3t"}, {NULL, NULL}};
    struct fake_io fake = {files, env, 0};
    struct mr_conf_io io = make_io(&fake);
    const char *text = "// comment\n"
                       "PORT = 14299            # hash comment\n"
                       "host 127.0.0.1\n"
                       "server_name: \"s1\";\n"
                       "include \"sub/inc.conf\"  # contains max_payload: 2MB\n"
                       "max_pending = 10MB\n"
                       "ping_interval: \"5s\"\n"
                       "http_port: $HTTPP       # from environment\n"
                       "authorization { token: $TOK }\n"
                       "cluster { name = c1, listen: \"127.0.0.1:16299\" }\n";
    struct mr_conf_value *v = parse_with(text, &io);
    ck_assert_str_eq(v->u.map.entries[0].key, "PORT");
    expect_at(v, "port", "i:14299");
    expect_at(v, "host", "s:127.0.0.1");
    expect_at(v, "server_name", "q:s1");
    expect_at(v, "max_payload", "i:2097152");
    expect_at(v, "max_pending", "i:10485760");
    expect_at(v, "ping_interval", "q:5s");
    expect_at(v, "http_port", "i:8222");
    expect_at(v, "authorization.token", "s:s3cr3t");
    expect_at(v, "cluster.name", "s:c1");
    expect_at(v, "cluster.listen", "q:127.0.0.1:16299");
    uint64_t ns = 0;
    ck_assert_int_eq(mr_conf_duration_ns(mr_conf_get(v, "ping_interval"), &ns, NULL), 0);
    ck_assert_uint_eq(ns, 5000000000u);
    ck_assert_str_eq(mr_conf_get_entry(v, "max_payload")->key_pos.file, "sub/inc.conf");
    ck_assert_uint_eq(v->u.map.count, 9);
    ck_assert_int_eq(fake.reads, 1);
    mr_conf_free(v);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Errors                                                                              */

struct error_case {
    const char *text;
    int rc;
    const char *at; /* "file:line:col" */
    const char *fragment;
};

static const struct error_case error_cases[] = {
    {"port: }", MR_E_INVAL, "t.conf:1:7", "expected a value after \"port:\", found \"}\""},
    {"cluster {\n  port: }\n", MR_E_INVAL, "t.conf:2:9",
     "expected a value after \"port:\", found \"}\""},
    {"port:\n4222\n", MR_E_INVAL, "t.conf:1:6",
     "expected a value after \"port:\", found a newline"},
    {"port", MR_E_INVAL, "t.conf:1:5",
     "expected a value after \"port\", found the end of the file"},
    {"port = ", MR_E_INVAL, "t.conf:1:8", "expected a value after \"port=\""},
    {"a: ;", MR_E_INVAL, "t.conf:1:4", "found \";\""},
    {"a: ,", MR_E_INVAL, "t.conf:1:4", "found \",\""},
    {": 1", MR_E_INVAL, "t.conf:1:1", "expected a key, found \":\""},
    {"= 1", MR_E_INVAL, "t.conf:1:1", "expected a key, found \"=\""},
    {"]", MR_E_INVAL, "t.conf:1:1", "expected a key, found \"]\""},
    {"a: 1\n}\n", MR_E_INVAL, "t.conf:2:1", "no map is open"},
    {"a { ] }", MR_E_INVAL, "t.conf:1:5", "expected a key, found \"]\""},
    {"a { : 1 }", MR_E_INVAL, "t.conf:1:5", "expected a key, found \":\""},
    {"cluster{ name: c1 }", MR_E_INVAL, "t.conf:1:8", "after the key \"cluster\", found \"{\""},
    {"a[0]: 1", MR_E_INVAL, "t.conf:1:2", "after the key \"a\", found \"[\""},
    {"a: \"abc", MR_E_INVAL, "t.conf:1:8", "unterminated string started at 1:4"},
    {"a: \"abc\n\n", MR_E_INVAL, "t.conf:3:1", "unterminated string started at 1:4"},
    {"a: 'abc", MR_E_INVAL, "t.conf:1:8", "unterminated string started at 1:4"},
    {"\"abc: 1", MR_E_INVAL, "t.conf:1:8", "unterminated quoted key started at 1:1"},
    {"a { 'b: 1 }", MR_E_INVAL, "t.conf:1:12", "unterminated quoted key started at 1:5"},
    {"a: (\nabc)\n", MR_E_INVAL, "t.conf:3:1", "unterminated block started at 1:4"},
    {"a: (abc)\n)x\n", MR_E_INVAL, "t.conf:3:1", "unterminated block started at 1:4"},
    {"a {\n b: 1\n", MR_E_INVAL, "t.conf:3:1", "unterminated map started at 1:3"},
    {"a { b: 1", MR_E_INVAL, "t.conf:1:9", "unterminated map started at 1:3"},
    {"a: [1,\n2\n", MR_E_INVAL, "t.conf:3:1", "unterminated array started at 1:4"},
    {"a: [", MR_E_INVAL, "t.conf:1:5", "unterminated array started at 1:4"},
    {"{\na: 1\n", MR_E_INVAL, "t.conf:3:1", "unterminated \"{\" started at 1:1"},
    {"{ a: 1 }\nb: 2\n", MR_E_INVAL, "t.conf:2:1", "after the closing \"}\""},
    {"a: 1\n{ b: 2 }\n", MR_E_INVAL, "t.conf:2:1", "expected a key, found \"{\""},
    {"a: \"\\u0041\"", MR_E_INVAL, "t.conf:1:5", "invalid escape"},
    {"a: \"\\q\"", MR_E_INVAL, "t.conf:1:5", "found \"q\""},
    {"a: x\\q", MR_E_INVAL, "t.conf:1:5", "invalid escape"},
    {"a: \"\\", MR_E_INVAL, "t.conf:1:5", "found the end of the file"},
    {"a: \"\\x4\"", MR_E_INVAL, "t.conf:1:5", "two hexadecimal digits"},
    {"a: \"\\x00\"", MR_E_INVAL, "t.conf:1:5", "NUL"},
    {"a: 9223372036854775808", MR_E_INVAL, "t.conf:1:4",
     "number \"9223372036854775808\" is out of range"},
    {"a: -9223372036854775809", MR_E_INVAL, "t.conf:1:4", "is out of range"},
    {"a: 9999999999999999999999", MR_E_INVAL, "t.conf:1:4", "is out of range"},
    {"a: 8EB", MR_E_INVAL, "t.conf:1:4", "number \"8EB\" is out of range"},
    {"a: 9223372036854775807k", MR_E_INVAL, "t.conf:1:4", "is out of range"},
    {"a: 1kbb", MR_E_INVAL, "t.conf:1:4", "unknown size suffix \"kbb\""},
    {"a: 1mbi", MR_E_INVAL, "t.conf:1:4", "unknown size suffix"},
    {"a: 1kb2", MR_E_INVAL, "t.conf:1:7", "found \"2\""},
    {"a: 1.", MR_E_INVAL, "t.conf:1:6", "expected a digit after \".\""},
    {"a: 1.x", MR_E_INVAL, "t.conf:1:6", "expected a digit after \".\""},
    {"a: .5", MR_E_INVAL, "t.conf:1:4", "must start with a digit"},
    {"a: -", MR_E_INVAL, "t.conf:1:5", "expected a digit after \"-\""},
    {"a: -x", MR_E_INVAL, "t.conf:1:5", "expected a digit after \"-\", found \"x\""},
    {"a: -\t", MR_E_INVAL, "t.conf:1:5", "found a tab"},
    {"a: 1.\r\n", MR_E_INVAL, "t.conf:1:6", "found a carriage return"},
    {"a: -\xc3\xa9", MR_E_INVAL, "t.conf:1:5", "found \"\xc3\xa9\""},
    {"a: -\xc3", MR_E_INVAL, "t.conf:1:5", "found byte 0xc3"},
    {"a: -1x", MR_E_INVAL, "t.conf:1:6", "found \"x\""},
    {"a: 1.5s", MR_E_INVAL, "t.conf:1:7", "after the value of \"a\", found \"s\""},
    {"a: 1e5", MR_E_INVAL, "t.conf:1:6", "found \"5\""}, /* "1e" is 10^18 */
    {"a: 12-3", MR_E_INVAL, "t.conf:1:6", "full Zulu form"},
    {"a: 2020-01-02", MR_E_INVAL, "t.conf:1:14", "expected \"T\" in the date"},
    {"a: 2020-0x", MR_E_INVAL, "t.conf:1:10", "expected a digit in the date"},
    {"a: 1.2.3.4:5a", MR_E_INVAL, "t.conf:1:13", "found \"a\""},
    {"a: [1 2]", MR_E_INVAL, "t.conf:1:7", "after an array element, found \"2\""},
    {"a: [1,,2]", MR_E_INVAL, "t.conf:1:7", "expected a value, found \",\""},
    {"a: [,1]", MR_E_INVAL, "t.conf:1:5", "expected a value, found \",\""},
    {"a: [1; 2]", MR_E_INVAL, "t.conf:1:6", "found \";\""},
    {"a: [1 }", MR_E_INVAL, "t.conf:1:7", "found \"}\""},
    {"a { b: 1 c: 2 }", MR_E_INVAL, "t.conf:1:10", "after the value of \"b\", found \"c\""},
    {"a { b: 1,, c: 2 }", MR_E_INVAL, "t.conf:1:10", "expected a key, found \",\""},
    {"a: 1 2", MR_E_INVAL, "t.conf:1:6", "after the value of \"a\", found \"2\""},
    {"a: # comment", MR_E_INVAL, "t.conf:1:6", "found \"c\""},
    {"a: \"x\"\x01", MR_E_INVAL, "t.conf:1:7", "found byte 0x01"},
    {"a: b\xe2\x82\xac'c", MR_E_INVAL, "t.conf:1:7", "found \"c\""},
    {"a { b { c: 1 }", MR_E_INVAL, "t.conf:1:15", "unterminated map started at 1:3"},
    {"include\n", MR_E_INVAL, "t.conf:1:8",
     "expected a file name after \"include\", found a newline"},
    {"include 1.conf", MR_E_INVAL, "t.conf:1:9", "expected a file name"},
    {"include [x]", MR_E_INVAL, "t.conf:1:9", "expected a file name"},
    {"include \"\"", MR_E_INVAL, "t.conf:1:1", "empty"},
    {"include \"x.conf", MR_E_INVAL, "t.conf:1:16", "unterminated file name started at 1:9"},
    {"include x.conf", MR_E_UNSUPPORTED, "t.conf:1:1", "no file access"},
    {"a: $FOO", MR_E_NOT_FOUND, "t.conf:1:4", "unknown variable \"$FOO\""},
    {"a: $", MR_E_NOT_FOUND, "t.conf:1:4", "unknown variable \"$\""},
    {"m { a: $b, b: 1 }", MR_E_NOT_FOUND, "t.conf:1:8", "unknown variable \"$b\""},
};

START_TEST(each_error_is_reported_at_its_position)
{
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        const struct error_case *c = &error_cases[i];
        expect_error_with(c->text, NULL, c->rc, c->at, c->fragment);
    }
}
END_TEST

START_TEST(float_beyond_double_range_is_an_error)
{
    char text[512] = "a: 1";
    memset(text + 4, '0', 400);
    strcpy(text + 404, ".5\n");
    expect_error_with(text, NULL, MR_E_INVAL, "t.conf:1:4", "is out of range");
}
END_TEST

START_TEST(nul_byte_is_an_error_at_its_position)
{
    const char text[] = "a: 1\nb: x\0y\n";
    struct mr_conf_value *v = NULL;
    char err[MR_CONF_ERR_MAX];
    int rc = mr_conf_parse("t.conf", text, sizeof(text) - 1, NULL, &v, err, sizeof(err));
    ck_assert_int_eq(rc, MR_E_INVAL);
    ck_assert_ptr_null(v);
    ck_assert_str_eq(err, "t.conf:2:5: NUL byte in the configuration");
}
END_TEST

/* Builds "a: " + depth opening maps + their closes. */
static char *nested_maps(size_t depth, bool arrays)
{
    size_t len = 16 + depth * 8;
    char *s = calloc(len, 1);
    strcpy(s, "a: ");
    for (size_t i = 0; i < depth; i++) {
        strcat(s, arrays ? "[" : "{ b: ");
    }
    strcat(s, "1");
    for (size_t i = 0; i < depth; i++) {
        strcat(s, arrays ? "]" : " }");
    }
    return s;
}

START_TEST(nesting_depth_is_bounded_exactly)
{
    for (int arrays = 0; arrays < 2; arrays++) {
        char *ok = nested_maps(MR_CONF_DEPTH_MAX, arrays);
        struct mr_conf_value *v = parse_ok(ok);
        mr_conf_free(v);
        free(ok);
        char *deep = nested_maps(MR_CONF_DEPTH_MAX + 1, arrays);
        char at[32];
        snprintf(at, sizeof(at), "t.conf:1:%d", arrays ? 4 + MR_CONF_DEPTH_MAX : 4 + 5 * 64);
        expect_error_with(deep, NULL, MR_E_LIMIT, at, "nested deeper than 64");
        free(deep);
    }
}
END_TEST

START_TEST(error_buffer_may_be_small_or_absent)
{
    struct mr_conf_value *v = NULL;
    char err[8];
    memset(err, 'x', sizeof(err));
    ck_assert_int_eq(mr_conf_parse("t.conf", "a: }", 4, NULL, &v, err, sizeof(err)), MR_E_INVAL);
    ck_assert_str_eq(err, "t.conf:");
    ck_assert_int_eq(mr_conf_parse("t.conf", "a: }", 4, NULL, &v, NULL, 0), MR_E_INVAL);
    ck_assert_int_eq(mr_conf_parse("t.conf", "a: }", 4, NULL, &v, err, 0), MR_E_INVAL);
    ck_assert_ptr_null(v);
}
END_TEST

START_TEST(every_prefix_of_valid_inputs_parses_or_fails_cleanly)
{
    static const char *const samples[] = {
        "// c\nPORT = 14299 # c\nhost 127.0.0.1\nserver_name: \"s\\x41\";\n",
        "a { b: [1, 2kb, -3, 1.5, \"x\", 'y', on] }\nc: (\nblock\n)\nd: $a\n",
        "{ \"k\": { \"n\": [ { \"m\": 2006-01-02T15:04:05Z } ] } }",
    };
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        size_t len = strlen(samples[i]);
        for (size_t cut = 0; cut <= len; cut++) {
            /* An exact-size copy, so ASan sees any read past the end. */
            char *copy = malloc(cut > 0 ? cut : 1);
            memcpy(copy, samples[i], cut);
            struct mr_conf_value *v = NULL;
            char err[MR_CONF_ERR_MAX];
            int rc = mr_conf_parse("t.conf", copy, cut, NULL, &v, err, sizeof(err));
            if (rc == 0) {
                ck_assert_ptr_nonnull(v);
                mr_conf_free(v);
            } else {
                ck_assert_ptr_null(v);
                ck_assert_msg(strncmp(err, "t.conf:", 7) == 0, "bad error \"%s\"", err);
            }
            free(copy);
        }
    }
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Variables                                                                           */

START_TEST(variable_defined_earlier_in_the_same_map)
{
    struct mr_conf_value *v = parse_ok("a: 4222\nb: $a\nc: \"x\"\nd: $c\n");
    expect_at(v, "b", "i:4222");
    expect_at(v, "d", "q:x");
    /* The copy takes the reference's position. */
    ck_assert_uint_eq(mr_conf_get(v, "b")->pos.line, 2);
    ck_assert_uint_eq(mr_conf_get(v, "b")->pos.col, 4);
    mr_conf_free(v);
}
END_TEST

START_TEST(variable_lookup_goes_from_inner_to_outer_scope)
{
    struct mr_conf_value *v = parse_ok("x: outer\n"
                                       "m {\n"
                                       "  early: $x\n"
                                       "  x: inner\n"
                                       "  late: $x\n"
                                       "  n { deep: $x, arr: [$x, { y: $x }] }\n"
                                       "}\n"
                                       "after: $x\n");
    expect_at(v, "m.early", "s:outer"); /* the inner x was not defined yet */
    expect_at(v, "m.late", "s:inner");
    expect_at(v, "m.n.deep", "s:inner");
    expect_at(v, "m.n.arr.0", "s:inner");
    expect_at(v, "m.n.arr.1.y", "s:inner");
    expect_at(v, "after", "s:outer"); /* the inner scope is closed */
    mr_conf_free(v);
}
END_TEST

START_TEST(variable_uses_the_last_definition)
{
    struct mr_conf_value *v = parse_ok("x: 1\nx: 2\ny: $x\n");
    expect_at(v, "y", "i:2");
    mr_conf_free(v);
}
END_TEST

START_TEST(variable_copies_maps_and_arrays)
{
    struct mr_conf_value *v = parse_ok("base { a: 1, list: [x, { y: 2 }] }\n"
                                       "copy: $base\n"
                                       "arr: [$base, $base]\n");
    expect_at(v, "copy.a", "i:1");
    expect_at(v, "copy.list.1.y", "i:2");
    expect_at(v, "arr.1.list.0", "s:x");
    /* Deep copies: no node is shared (mr_conf_free would free it twice under ASan). */
    ck_assert_ptr_ne(at_path(v, "copy.list"), at_path(v, "base.list"));
    ck_assert_ptr_ne(at_path(v, "arr.0.a"), at_path(v, "arr.1.a"));
    /* Inner values keep where they were written. */
    ck_assert_uint_eq(at_path(v, "copy.a")->pos.line, 1);
    ck_assert_uint_eq(at_path(v, "copy")->pos.line, 2);
    mr_conf_free(v);
}
END_TEST

START_TEST(variable_marks_its_definition_used)
{
    struct mr_conf_value *v = parse_ok("NAME: x\nserver_name: $NAME\nother: 1\n");
    ck_assert(v->u.map.entries[0].used);
    ck_assert(!v->u.map.entries[1].used);
    ck_assert(!v->u.map.entries[2].used);
    mr_conf_free(v);
}
END_TEST

START_TEST(quoted_variable_is_not_expanded)
{
    struct mr_conf_value *v = parse_ok("a: 1\nb: \"$a\"\nc: '$a'\n");
    expect_at(v, "b", "q:$a");
    expect_at(v, "c", "q:$a");
    ck_assert(mr_conf_get(v, "b")->quoted);
    mr_conf_free(v);
}
END_TEST

START_TEST(variable_copy_respects_nesting_depth)
{
    /* A 60-deep value copied 10 levels down would nest 70 deep. */
    char *deep = nested_maps(60, false);
    char *text = malloc(strlen(deep) + 128);
    sprintf(text, "%s\nx { y { z { w { v { u { t { s { r { q: $a } } } } } } } } }\n", deep);
    expect_error_with(text, NULL, MR_E_LIMIT, "t.conf:2:40", "nested deeper than 64");
    free(text);
    free(deep);
}
END_TEST

START_TEST(variable_doubling_is_bounded_by_tree_size)
{
    char *text = malloc(64 * 1024);
    char *o = text;
    o += sprintf(o, "x0: \"");
    for (int i = 0; i < 4000; i++) {
        *o++ = 'a';
    }
    o += sprintf(o, "\"\n");
    for (int i = 1; i < 40; i++) {
        o += sprintf(o, "x%d: [$x%d, $x%d]\n", i, i - 1, i - 1);
    }
    struct mr_conf_value *v = NULL;
    char err[MR_CONF_ERR_MAX];
    int rc = mr_conf_parse("t.conf", text, strlen(text), NULL, &v, err, sizeof(err));
    ck_assert_int_eq(rc, MR_E_LIMIT);
    ck_assert_msg(strstr(err, "too large") != NULL, "%s", err);
    free(text);
}
END_TEST

START_TEST(tree_limit_cleans_up_wherever_it_is_hit)
{
    /* Different string sizes and shapes cross the limit in different allocations (a
     * string, a value, a map's entries, an array's items, a copied key); ASan checks
     * that each failure path frees what it holds. */
    static const char *const shapes[] = {
        "x%d: [$x%d, $x%d]\n",
        "x%d: { a: $x%d, b: $x%d }\n",
        "x%d: { a: [$x%d], bb: { c: $x%d, d: 1 } }\n",
    };
    char *text = malloc(64 * 1024);
    for (size_t shape = 0; shape < sizeof(shapes) / sizeof(shapes[0]); shape++) {
        for (int size = 3000; size < 3016; size++) {
            char *o = text;
            o += sprintf(o, "x0: \"");
            memset(o, 'a', (size_t)size);
            o += size;
            o += sprintf(o, "\"\n");
            for (int i = 1; i < 40; i++) {
                o += sprintf(o, shapes[shape], i, i - 1, i - 1);
            }
            struct mr_conf_value *v = NULL;
            char err[MR_CONF_ERR_MAX];
            int rc = mr_conf_parse("t.conf", text, strlen(text), NULL, &v, err, sizeof(err));
            ck_assert_int_eq(rc, MR_E_LIMIT);
            ck_assert_ptr_null(v);
        }
    }
    free(text);
}
END_TEST

START_TEST(variable_lookups_are_bounded_in_work)
{
    /* 20000 keys then 20000 references to the first: 4e8 comparisons unbounded. */
    size_t cap = 2 * 20000 * 24 + 64;
    char *text = malloc(cap);
    char *o = text;
    for (int i = 0; i < 20000; i++) {
        o += sprintf(o, "k%d: %d\n", i, i);
    }
    for (int i = 0; i < 20000; i++) {
        o += sprintf(o, "r%d: $k0\n", i);
    }
    struct mr_conf_value *v = NULL;
    char err[MR_CONF_ERR_MAX];
    int rc = mr_conf_parse("t.conf", text, strlen(text), NULL, &v, err, sizeof(err));
    ck_assert_int_eq(rc, MR_E_LIMIT);
    ck_assert_msg(strstr(err, "resolving variables") != NULL, "%s", err);
    free(text);
}
END_TEST

START_TEST(env_fallback_values_are_reparsed)
{
    static const struct fake_env env[] = {
        {"PORT", "4222"},      {"TOK", "abc"},        {"QUOTED", "\"4222\""},
        {"SIZE", "2MB"},       {"ON", "yes"},         {"F", "1.5"},
        {"MAP", "{a: 1, b: [x, y]}"}, {"ARR", "[1, 2, 3]"}, {"EMPTY", ""},
        {"BLANKS", "  7  "},   {"CHAIN", "$PORT"},    {"COMMENT", "5; # five"},
        {NULL, NULL},
    };
    struct fake_io fake = {NULL, env, 0};
    struct mr_conf_io io = make_io(&fake);
    struct mr_conf_value *v = parse_with("port: $PORT\ntok: $TOK\nq: $QUOTED\nsize: $SIZE\n"
                                         "on: $ON\nf: $F\nm: $MAP\narr: [$ARR, $TOK]\n"
                                         "e: $EMPTY\nb: $BLANKS\nc: $CHAIN\nd: $COMMENT\n",
                                         &io);
    expect_at(v, "port", "i:4222");
    expect_at(v, "tok", "s:abc");
    expect_at(v, "q", "q:4222");
    expect_at(v, "size", "i:2097152");
    expect_at(v, "on", "b:true");
    expect_at(v, "f", "f:1.5");
    expect_at(v, "m.b.1", "s:y");
    expect_at(v, "arr.0.2", "i:3");
    expect_at(v, "arr.1", "s:abc");
    expect_at(v, "e", "s:");
    expect_at(v, "b", "i:7");
    expect_at(v, "c", "i:4222");
    expect_at(v, "d", "i:5");
    /* Values from the environment carry the position of the reference. */
    struct mr_conf_value *m = mr_conf_get(v, "m");
    ck_assert_str_eq(m->pos.file, "t.conf");
    ck_assert_uint_eq(m->pos.line, 7);
    ck_assert_uint_eq(m->pos.col, 4);
    ck_assert_uint_eq(at_path(v, "m.a")->pos.line, 7);
    mr_conf_free(v);
}
END_TEST

START_TEST(config_variables_win_over_the_environment)
{
    static const struct fake_env env[] = {{"PORT", "9999"}, {NULL, NULL}};
    struct fake_io fake = {NULL, env, 0};
    struct mr_conf_io io = make_io(&fake);
    struct mr_conf_value *v = parse_with("PORT: 1\nport: $PORT\nm { p: $PORT }\n", &io);
    expect_at(v, "port", "i:1");
    expect_at(v, "m.p", "i:1");
    mr_conf_free(v);
}
END_TEST

START_TEST(env_value_sees_only_the_environment)
{
    /* nats-server parses an environment value on its own: X below is the config's, and
     * the environment has none. */
    static const struct fake_env env[] = {{"E", "$X"}, {NULL, NULL}};
    struct fake_io fake = {NULL, env, 0};
    struct mr_conf_io io = make_io(&fake);
    expect_error_with("X: 5\nport: $E\n", &io, MR_E_NOT_FOUND, "t.conf:2:7",
                      "in environment variable \"E\": unknown variable \"$X\"");
}
END_TEST

START_TEST(env_cycles_are_reported_with_the_chain)
{
    static const struct fake_env env[] = {
        {"SELF", "$SELF"}, {"A", "$B"}, {"B", "[1, $C]"}, {"C", "{ x: $A }"}, {NULL, NULL},
    };
    struct fake_io fake = {NULL, env, 0};
    struct mr_conf_io io = make_io(&fake);
    expect_error_with("a: $SELF\n", &io, MR_E_INVAL, "t.conf:1:4",
                      "variable reference cycle: $SELF -> $SELF");
    expect_error_with("\n  a: $A\n", &io, MR_E_INVAL, "t.conf:2:6",
                      "variable reference cycle: $A -> $B -> $C -> $A");
}
END_TEST

START_TEST(env_nesting_is_bounded)
{
    static const struct fake_env env[] = {
        {"V0", "$V1"},   {"V1", "$V2"},   {"V2", "$V3"},   {"V3", "$V4"},   {"V4", "$V5"},
        {"V5", "$V6"},   {"V6", "$V7"},   {"V7", "$V8"},   {"V8", "$V9"},   {"V9", "$V10"},
        {"V10", "$V11"}, {"V11", "$V12"}, {"V12", "$V13"}, {"V13", "$V14"}, {"V14", "$V15"},
        {"V15", "$V16"}, {"V16", "$V17"}, {"V17", "end"},  {NULL, NULL},
    };
    struct fake_io fake = {NULL, env, 0};
    struct mr_conf_io io = make_io(&fake);
    /* V2 .. V17 is 16 environment values deep: the bound. */
    struct mr_conf_value *v = parse_with("a: $V2\n", &io);
    expect_at(v, "a", "s:end");
    mr_conf_free(v);
    expect_error_with("a: $V0\n", &io, MR_E_LIMIT, "t.conf:1:4", "nested deeper than 16");
}
END_TEST

START_TEST(env_value_errors_name_the_variable)
{
    static const struct fake_env env[] = {
        {"BAD", "a b"}, {"OPEN", "{ a: 1"}, {"NL", "\n5"}, {"NUM", "99999999999999999999"},
        {NULL, NULL},
    };
    struct fake_io fake = {NULL, env, 0};
    struct mr_conf_io io = make_io(&fake);
    expect_error_with("x: 1\nport: $BAD\n", &io, MR_E_INVAL, "t.conf:2:7",
                      "in environment variable \"BAD\": expected the end of the value, found "
                      "\"b\"");
    expect_error_with("p: $OPEN", &io, MR_E_INVAL, "t.conf:1:4", "unterminated map");
    expect_error_with("p: $NL", &io, MR_E_INVAL, "t.conf:1:4", "found a newline");
    expect_error_with("p: $NUM", &io, MR_E_INVAL, "t.conf:1:4", "out of range");
}
END_TEST

START_TEST(unknown_variable_names_it_and_its_position)
{
    static const struct fake_env env[] = {{"OTHER", "1"}, {NULL, NULL}};
    struct fake_io fake = {NULL, env, 0};
    struct mr_conf_io io = make_io(&fake);
    expect_error_with("a: 1\nm {\n  b: [1, $FOO]\n}\n", &io, MR_E_NOT_FOUND, "t.conf:3:10",
                      "unknown variable \"$FOO\"");
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Includes                                                                            */

static const struct fake_file include_files[] = {
    {"conf/main.conf", "port: 1\ninclude sub/a.conf\nm {\n  include \"sub/deeper/c.conf\"\n}\n"},
    {"conf/sub/a.conf", "a: 1\ninclude 'deeper/c.conf'\n"},
    {"conf/sub/deeper/c.conf", "c: 3\nup: 1\ninclude ../../top.conf\n"},
    {"conf/top.conf", "top: yes\n"},
    {"conf/override.conf", "port: 2\n"},
    {"conf/braced.conf", "{ b: 1 }\n"},
    {"conf/usevar.conf", "x: $V\n"},
    {"conf/defvar.conf", "V: 7\n"},
    {"conf/cyc_a.conf", "a: 1\ninclude cyc_b.conf\n"},
    {"conf/cyc_b.conf", "b: 1\n  include ./cyc_a.conf\n"},
    {"conf/self.conf", "include self.conf\n"},
    {"conf/bad.conf", "ok: 1\nbad: }\n"},
    {"/abs/x.conf", "abs: 1\n"},
    {NULL, NULL},
};

static struct mr_conf_value *parse_include(const char *text, struct fake_io *fake)
{
    struct mr_conf_io io = make_io(fake);
    struct mr_conf_value *v = NULL;
    char err[MR_CONF_ERR_MAX];
    int rc = mr_conf_parse("conf/main.conf", text, strlen(text), &io, &v, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    return v;
}

static void expect_include_error(const char *text, int rc_want, const char *want)
{
    struct fake_io fake = {include_files, NULL, 0};
    struct mr_conf_io io = make_io(&fake);
    struct mr_conf_value *v = NULL;
    char err[MR_CONF_ERR_MAX];
    int rc = mr_conf_parse("conf/main.conf", text, strlen(text), &io, &v, err, sizeof(err));
    ck_assert_int_eq(rc, rc_want);
    ck_assert_ptr_null(v);
    ck_assert_str_eq(err, want);
}

START_TEST(include_resolves_relative_to_the_including_file)
{
    struct fake_io fake = {include_files, NULL, 0};
    struct mr_conf_value *v = parse_include(include_files[0].text, &fake);
    expect_at(v, "port", "i:1");
    expect_at(v, "a", "i:1");
    expect_at(v, "c", "i:3");
    expect_at(v, "top", "b:true");
    expect_at(v, "m.c", "i:3");
    expect_at(v, "m.top", "b:true");
    ck_assert_int_eq(fake.reads, 5);
    /* Positions name the file each value came from, as resolved. */
    ck_assert_str_eq(mr_conf_get_entry(v, "a")->key_pos.file, "conf/sub/a.conf");
    ck_assert_str_eq(mr_conf_get_entry(v, "c")->key_pos.file, "conf/sub/deeper/c.conf");
    ck_assert_str_eq(mr_conf_get_entry(v, "top")->key_pos.file, "conf/top.conf");
    ck_assert_str_eq(mr_conf_get_entry(v, "port")->key_pos.file, "conf/main.conf");
    /* Keys merge in file order at the point of inclusion. */
    ck_assert_str_eq(v->u.map.entries[1].key, "a");
    ck_assert_str_eq(v->u.map.entries[2].key, "c");
    mr_conf_free(v);
}
END_TEST

START_TEST(include_forms_and_keyword_case)
{
    struct fake_io fake = {include_files, NULL, 0};
    struct mr_conf_value *v = parse_include("include top.conf\nINCLUDE \"braced.conf\"\n"
                                            "Include\t'./sub/../top.conf'; x: 1\n"
                                            "include /../abs/x.conf # comment\n"
                                            "m { include top.conf }\ninclude: 5\n",
                                            &fake);
    expect_at(v, "top", "b:true");
    expect_at(v, "b", "i:1");
    expect_at(v, "x", "i:1");
    expect_at(v, "abs", "i:1");
    expect_at(v, "m.top", "b:true");
    /* With a separator, "include" is an ordinary key. */
    expect_at(v, "include", "i:5");
    mr_conf_free(v);
}
END_TEST

START_TEST(include_later_keys_override_earlier)
{
    struct fake_io fake = {include_files, NULL, 0};
    struct mr_conf_value *v = parse_include("port: 1\ninclude override.conf\n", &fake);
    expect_at(v, "port", "i:2");
    ck_assert_uint_eq(v->u.map.count, 2);
    mr_conf_free(v);
    v = parse_include("include override.conf\nport: 3\n", &fake);
    expect_at(v, "port", "i:3");
    mr_conf_free(v);
}
END_TEST

START_TEST(include_scopes_variables_like_nats_server)
{
    /* The includer's variables are not visible in the included file ... */
    expect_include_error("V: 1\ninclude usevar.conf\n", MR_E_NOT_FOUND,
                         "conf/usevar.conf:1:4: unknown variable \"$V\": not defined before in "
                         "an enclosing map nor in the environment");
    /* ... but keys of an included file are, after the include. */
    struct fake_io fake = {include_files, NULL, 0};
    struct mr_conf_value *v = parse_include("include defvar.conf\nx: $V\n", &fake);
    expect_at(v, "x", "i:7");
    mr_conf_free(v);
}
END_TEST

START_TEST(include_cycle_is_reported_with_the_chain)
{
    expect_include_error("include cyc_a.conf\n", MR_E_INVAL,
                         "conf/cyc_b.conf:2:3: include cycle: conf/cyc_a.conf -> conf/cyc_b.conf "
                         "-> conf/cyc_a.conf");
    expect_include_error("x: 1\ninclude self.conf\n", MR_E_INVAL,
                         "conf/self.conf:1:1: include cycle: conf/self.conf -> conf/self.conf");
    expect_include_error("include ./main.conf\n", MR_E_INVAL,
                         "conf/main.conf:1:1: include cycle: conf/main.conf -> conf/main.conf");
}
END_TEST

START_TEST(include_of_a_missing_file_names_the_including_position)
{
    expect_include_error("a: 1\n  include sub/missing.conf\n", MR_E_NOT_FOUND,
                         "conf/main.conf:2:3: cannot read include file \"conf/sub/missing.conf\": "
                         "no such file");
}
END_TEST

START_TEST(error_inside_an_included_file_names_that_file)
{
    expect_include_error("include bad.conf\n", MR_E_INVAL,
                         "conf/bad.conf:2:6: expected a value after \"bad:\", found \"}\"");
}
END_TEST

START_TEST(include_depth_is_bounded)
{
    /* f0 includes f1 ... includes f<n>: 16 levels below the root file are allowed. */
    struct fake_file files[MR_CONF_INCLUDE_DEPTH_MAX + 3];
    char names[MR_CONF_INCLUDE_DEPTH_MAX + 2][16];
    char texts[MR_CONF_INCLUDE_DEPTH_MAX + 2][40];
    for (int i = 0; i <= MR_CONF_INCLUDE_DEPTH_MAX + 1; i++) {
        snprintf(names[i], sizeof(names[i]), "f%d.conf", i);
        snprintf(texts[i], sizeof(texts[i]), "k%d: %d\ninclude f%d.conf\n", i, i, i + 1);
        files[i].path = names[i];
        files[i].text = texts[i];
    }
    snprintf(texts[MR_CONF_INCLUDE_DEPTH_MAX], sizeof(texts[0]), "last: 1\n");
    files[MR_CONF_INCLUDE_DEPTH_MAX + 2].path = NULL;
    struct fake_io fake = {files, NULL, 0};
    struct mr_conf_io io = make_io(&fake);
    struct mr_conf_value *v = NULL;
    char err[MR_CONF_ERR_MAX];
    ck_assert_int_eq(mr_conf_parse_file("f0.conf", &io, &v, err, sizeof(err)), 0);
    expect_at(v, "last", "i:1");
    mr_conf_free(v);
    /* One more level fails at the include in f16.conf. */
    snprintf(texts[MR_CONF_INCLUDE_DEPTH_MAX], sizeof(texts[0]), "include f17.conf\n");
    ck_assert_int_eq(mr_conf_parse_file("f0.conf", &io, &v, err, sizeof(err)), MR_E_LIMIT);
    ck_assert_str_eq(err, "f16.conf:1:1: includes nested deeper than 16");
}
END_TEST

START_TEST(include_fan_out_is_bounded)
{
    /* Each file includes the next one twice: 2^12 includes without a cycle. */
    struct fake_file files[14];
    char names[13][16];
    char texts[13][64];
    for (int i = 0; i < 13; i++) {
        snprintf(names[i], sizeof(names[i]), "d%d.conf", i);
        if (i < 12) {
            snprintf(texts[i], sizeof(texts[i]), "include d%d.conf\ninclude d%d.conf\n", i + 1,
                     i + 1);
        } else {
            snprintf(texts[i], sizeof(texts[i]), "x: 1\n");
        }
        files[i].path = names[i];
        files[i].text = texts[i];
    }
    files[13].path = NULL;
    struct fake_io fake = {files, NULL, 0};
    struct mr_conf_io io = make_io(&fake);
    struct mr_conf_value *v = NULL;
    char err[MR_CONF_ERR_MAX];
    ck_assert_int_eq(mr_conf_parse_file("d0.conf", &io, &v, err, sizeof(err)), MR_E_LIMIT);
    ck_assert_msg(strstr(err, "more than 1024 includes") != NULL, "%s", err);
}
END_TEST

START_TEST(parse_file_reports_a_read_error)
{
    struct fake_io fake = {include_files, NULL, 0};
    struct mr_conf_io io = make_io(&fake);
    struct mr_conf_value *v = NULL;
    char err[MR_CONF_ERR_MAX];
    ck_assert_int_eq(mr_conf_parse_file("nope.conf", &io, &v, err, sizeof(err)),
                     MR_E_NOT_FOUND);
    ck_assert_ptr_null(v);
    ck_assert_str_eq(err, "nope.conf: cannot read the file: no such file");
    ck_assert_int_eq(mr_conf_parse_file("conf/main.conf", &io, &v, err, sizeof(err)), 0);
    expect_at(v, "m.top", "b:true");
    mr_conf_free(v);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* API                                                                                 */

START_TEST(get_folds_case_and_marks_used)
{
    struct mr_conf_value *v = parse_ok("Port: 1\nHTTP_PORT: 2\nunused: 3\n");
    expect_at(v, "PORT", "i:1");
    ck_assert_ptr_nonnull(mr_conf_get(v, "http_port"));
    ck_assert_ptr_null(mr_conf_get(v, "missing"));
    ck_assert_ptr_null(mr_conf_get(NULL, "port"));
    ck_assert_ptr_null(mr_conf_get(mr_conf_get(v, "port"), "x")); /* not a map */
    ck_assert(v->u.map.entries[0].used);
    ck_assert(v->u.map.entries[1].used);
    ck_assert(!v->u.map.entries[2].used);
    mr_conf_free(v);
}
END_TEST

START_TEST(get_any_tries_aliases_in_order)
{
    struct mr_conf_value *v = parse_ok("monitor_port: 8222\nnet: h\nhost: h2\n");
    static const char *const http[] = {"http_port", "monitor_port", NULL};
    static const char *const host[] = {"host", "net", NULL};
    static const char *const none[] = {"x", "y", NULL};
    expect_at(v, "monitor_port", "i:8222");
    ck_assert_int_eq(mr_conf_get_any(v, http)->u.i, 8222);
    ck_assert_str_eq(mr_conf_get_any(v, host)->u.str.s, "h2");
    ck_assert_ptr_null(mr_conf_get_any(v, none));
    mr_conf_free(v);
}
END_TEST

START_TEST(get_entry_gives_the_key_position)
{
    struct mr_conf_value *v = parse_ok("\n  cluser: 1\n");
    struct mr_conf_entry *e = mr_conf_get_entry(v, "CLUSER");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->key, "cluser");
    char buf[64];
    mr_conf_pos_format(&e->key_pos, buf, sizeof(buf));
    ck_assert_str_eq(buf, "t.conf:2:3");
    ck_assert_ptr_null(mr_conf_get_entry(v, "cluster"));
    mr_conf_free(v);
}
END_TEST

struct duration_case {
    const char *text;
    int rc;
    uint64_t ns;
};

START_TEST(duration_parses_go_syntax)
{
    static const struct duration_case cases[] = {
        {"0", 0, 0},
        {"1s", 0, 1000000000ull},
        {"500ms", 0, 500000000ull},
        {"2h", 0, 7200000000000ull},
        {"1m30s", 0, 90000000000ull},
        {"1.5s", 0, 1500000000ull},
        {".5s", 0, 500000000ull},
        {"1.s", 0, 1000000000ull},
        {"1h2m3s4ms5us6ns", 0, 3723004005006ull},
        {"10us", 0, 10000ull},
        {"10\xc2\xb5s", 0, 10000ull},
        {"10\xce\xbcs", 0, 10000ull},
        {"+5s", 0, 5000000000ull},
        {"-0", 0, 0},
        {"0.000000001s", 0, 1},
        {"2562047h", 0, 9223369200000000000ull},
        {"9223372036s", 0, 9223372036000000000ull},
        {"9223372036854775807ns", 0, 9223372036854775807ull},
        {"", MR_E_INVAL, 0},
        {"5", MR_E_INVAL, 0},
        {"s", MR_E_INVAL, 0},
        {".s", MR_E_INVAL, 0},
        {"1x", MR_E_INVAL, 0},
        {"1 s", MR_E_INVAL, 0},
        {"-1s", MR_E_INVAL, 0},
        {"2562048h", MR_E_INVAL, 0},
        {"9223372037s", MR_E_INVAL, 0},
        {"9223372036854775808ns", MR_E_INVAL, 0},
        {"99999999999999999999s", MR_E_INVAL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "d: \"%s\"\n", cases[i].text);
        struct mr_conf_value *v = parse_ok(text);
        uint64_t ns = 12345;
        bool legacy = true;
        int rc = mr_conf_duration_ns(mr_conf_get(v, "d"), &ns, &legacy);
        ck_assert_msg(rc == cases[i].rc, "\"%s\": rc %d", cases[i].text, rc);
        if (rc == 0) {
            ck_assert_msg(ns == cases[i].ns, "\"%s\": %llu", cases[i].text,
                          (unsigned long long)ns);
            ck_assert(!legacy);
        }
        mr_conf_free(v);
    }
}
END_TEST

START_TEST(duration_bare_numbers_are_legacy_seconds)
{
    struct mr_conf_value *v =
        parse_ok("i: 30\nf: 0.5\nneg: -1\nbig: 9300000000\nb: true\nbare: 2s\nm {}\n");
    uint64_t ns = 0;
    bool legacy = false;
    ck_assert_int_eq(mr_conf_duration_ns(mr_conf_get(v, "i"), &ns, &legacy), 0);
    ck_assert_uint_eq(ns, 30000000000ull);
    ck_assert(legacy);
    ck_assert_int_eq(mr_conf_duration_ns(mr_conf_get(v, "f"), &ns, &legacy), 0);
    ck_assert_uint_eq(ns, 500000000ull);
    ck_assert(legacy);
    ck_assert_int_eq(mr_conf_duration_ns(mr_conf_get(v, "bare"), &ns, &legacy), 0);
    ck_assert_uint_eq(ns, 2000000000ull);
    ck_assert(!legacy);
    ck_assert_int_eq(mr_conf_duration_ns(mr_conf_get(v, "i"), &ns, NULL), 0);
    ck_assert_int_eq(mr_conf_duration_ns(mr_conf_get(v, "neg"), &ns, NULL), MR_E_INVAL);
    ck_assert_int_eq(mr_conf_duration_ns(mr_conf_get(v, "big"), &ns, NULL), MR_E_INVAL);
    ck_assert_int_eq(mr_conf_duration_ns(mr_conf_get(v, "b"), &ns, NULL), MR_E_INVAL);
    ck_assert_int_eq(mr_conf_duration_ns(mr_conf_get(v, "m"), &ns, NULL), MR_E_INVAL);
    ck_assert_int_eq(mr_conf_duration_ns(NULL, &ns, NULL), MR_E_INVAL);
    mr_conf_free(v);
}
END_TEST

START_TEST(type_names_and_pos_format)
{
    ck_assert_str_eq(mr_conf_type_name(MR_CONF_MAP), "map");
    ck_assert_str_eq(mr_conf_type_name(MR_CONF_ARRAY), "array");
    ck_assert_str_eq(mr_conf_type_name(MR_CONF_STRING), "string");
    ck_assert_str_eq(mr_conf_type_name(MR_CONF_INT), "integer");
    ck_assert_str_eq(mr_conf_type_name(MR_CONF_FLOAT), "float");
    ck_assert_str_eq(mr_conf_type_name(MR_CONF_BOOL), "boolean");
    struct mr_conf_pos pos = {"dir/x.conf", 12, 7};
    char buf[64];
    mr_conf_pos_format(&pos, buf, sizeof(buf));
    ck_assert_str_eq(buf, "dir/x.conf:12:7");
    mr_conf_pos_format(&pos, buf, 6);
    ck_assert_str_eq(buf, "dir/x");
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Sample files (tests/conf)                                                           */

/* The source root, found from this file's path (meson compiles with paths relative to
 * the build directory, where tests run) or by looking upwards. */
static const char *source_root(void)
{
    static char root[1024];
    const char *self = __FILE__;
    const char *tail = strstr(self, "tests/unit/test_conf.c");
    const char *candidates[] = {NULL, ".", "..", "../..", "../../.."};
    char first[1024] = ".";
    if (tail != NULL && tail > self) {
        snprintf(first, sizeof(first), "%.*s", (int)(tail - self - 1), self);
    }
    candidates[0] = first;
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        char probe[1200];
        snprintf(probe, sizeof(probe), "%s/tests/conf/valid", candidates[i]);
        DIR *d = opendir(probe);
        if (d != NULL) {
            closedir(d);
            snprintf(root, sizeof(root), "%s", candidates[i]);
            return root;
        }
    }
    ck_abort_msg("cannot find tests/conf from %s", self);
    return NULL;
}

static int disk_read(void *ctx, const char *path, char **data, size_t *len, char *err,
                     size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, err_len, "cannot open");
        return MR_E_NOT_FOUND;
    }
    size_t cap = 1 << 16;
    char *buf = malloc(cap);
    size_t n = 0;
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(f);
    *data = buf;
    *len = n;
    return 0;
}

/* The sample environment: env_cycle.conf expects this variable to reference itself. */
static const char *disk_get_env(void *ctx, const char *name)
{
    return strcmp(name, "MR_CONF_TEST_CYCLE") == 0 ? "$MR_CONF_TEST_CYCLE" : NULL;
}

static const struct mr_conf_io disk_io = {NULL, disk_read, disk_get_env};

/* Names of the *.conf files directly in dir, sorted; returns the count. */
static size_t list_confs(const char *dir, char names[][128], size_t max)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".conf") == 0) {
            ck_assert_uint_lt(n, max);
            ck_assert_uint_lt(len, 128);
            memcpy(names[n++], e->d_name, len + 1);
        }
    }
    closedir(d);
    qsort(names, n, 128, (int (*)(const void *, const void *))strcmp);
    return n;
}

START_TEST(every_valid_sample_parses)
{
    char dir[1200];
    snprintf(dir, sizeof(dir), "%s/tests/conf/valid", source_root());
    static char names[64][128];
    size_t n = list_confs(dir, names, 64);
    ck_assert_uint_ge(n, 10);
    for (size_t i = 0; i < n; i++) {
        char path[1400];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        struct mr_conf_value *v = NULL;
        char err[MR_CONF_ERR_MAX];
        int rc = mr_conf_parse_file(path, &disk_io, &v, err, sizeof(err));
        ck_assert_msg(rc == 0, "%s: %s", names[i], err);
        ck_assert_uint_gt(v->u.map.count, 0);
        mr_conf_free(v);
    }
}
END_TEST

/* Reads "# expect: [file:]line:col fragment" from the first line of an invalid sample. */
static void read_expectation(const char *path, char *where, size_t where_len, char *fragment,
                             size_t fragment_len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char line[512] = {0};
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    ck_assert_msg(strncmp(line, "# expect: ", 10) == 0, "%s: no \"# expect:\" line", path);
    const char *p = line + 10;
    size_t w = strcspn(p, " ");
    snprintf(where, where_len, "%.*s", (int)w, p);
    snprintf(fragment, fragment_len, "%s", p[w] == ' ' ? p + w + 1 : "");
}

START_TEST(every_invalid_sample_fails_where_it_says)
{
    char dir[1200];
    snprintf(dir, sizeof(dir), "%s/tests/conf/invalid", source_root());
    static char names[64][128];
    size_t n = list_confs(dir, names, 64);
    ck_assert_uint_ge(n, 20);
    for (size_t i = 0; i < n; i++) {
        char path[1400];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        char where[256];
        char fragment[256];
        read_expectation(path, where, sizeof(where), fragment, sizeof(fragment));
        struct mr_conf_value *v = NULL;
        char err[MR_CONF_ERR_MAX];
        int rc = mr_conf_parse_file(path, &disk_io, &v, err, sizeof(err));
        ck_assert_msg(rc < 0, "%s parsed but should fail at %s", names[i], where);
        ck_assert_ptr_null(v);
        /* The error's position is everything before the first ": ". "line:col" means
         * this file; "inc/x.conf:line:col" a file it includes (the name ends the path). */
        char pos[1400];
        snprintf(pos, sizeof(pos), "%.*s", (int)(strstr(err, ": ") - err), err);
        char want[1700];
        if (strchr(where, '/') != NULL || strchr(where, '.') != NULL) {
            snprintf(want, sizeof(want), "invalid/%s", where);
            size_t pl = strlen(pos);
            size_t wl = strlen(want);
            ck_assert_msg(pl >= wl && strcmp(pos + pl - wl, want) == 0,
                          "%s: error \"%s\", want at %s", names[i], err, where);
        } else {
            snprintf(want, sizeof(want), "%s:%s", path, where);
            ck_assert_msg(strcmp(pos, want) == 0, "%s: error \"%s\", want at %s", names[i],
                          err, where);
        }
        ck_assert_msg(strstr(err, fragment) != NULL, "%s: error \"%s\" lacks \"%s\"", names[i],
                      err, fragment);
    }
}
END_TEST

static struct mr_conf_value *parse_mission(const char *rel)
{
    char path[1400];
    snprintf(path, sizeof(path), "%s/tests/conf/mission/%s", source_root(), rel);
    struct mr_conf_value *v = NULL;
    char err[MR_CONF_ERR_MAX];
    int rc = mr_conf_parse_file(path, &disk_io, &v, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s: %s", rel, err);
    return v;
}

START_TEST(mission_supercluster_configs_parse_with_their_keys)
{
    for (int r = 1; r <= 3; r++) {
        char rel[64];
        char want[64];
        snprintf(rel, sizeof(rel), "supercluster/region%d.conf", r);
        struct mr_conf_value *v = parse_mission(rel);
        expect_at(v, "port", "i:4222");
        snprintf(want, sizeof(want), "s:region%d", r);
        expect_at(v, "cluster.name", want);
        expect_at(v, "cluster.listen", "s:0.0.0.0:6222");
        expect_at(v, "cluster.routes", "array:3");
        snprintf(want, sizeof(want), "q:nats://region%d-server3:6222", r);
        expect_at(v, "cluster.routes.2", want);
        snprintf(want, sizeof(want), "s:region%d", r);
        expect_at(v, "gateway.name", want);
        expect_at(v, "gateway.port", "i:7222");
        expect_at(v, "gateway.gateways", "array:3");
        expect_at(v, "gateway.gateways.1.name", "q:region2");
        expect_at(v, "gateway.gateways.2.url", "q:nats://region3-gateway:7222");
        expect_at(v, "jetstream.store_dir", "s:/data/jetstream");
        expect_at(v, "jetstream.max_memory_store", "i:1073741824");
        expect_at(v, "jetstream.max_file_store", "i:10737418240");
        ck_assert_uint_eq(v->u.map.count, 4);
        mr_conf_free(v);
    }
}
END_TEST

static void expect_shared_accounts(struct mr_conf_value *v)
{
    expect_at(v, "accounts", "map:2");
    expect_at(v, "accounts.SYS.users.0.user", "s:sys");
    expect_at(v, "accounts.LEAF.users.0.password", "s:leaf");
    expect_at(v, "accounts.LEAF.jetstream", "s:enabled");
    expect_at(v, "system_account", "s:SYS");
}

START_TEST(mission_leafnode_configs_parse_with_their_keys)
{
    struct mr_conf_value *v = parse_mission("leafnode/accounts.conf");
    expect_shared_accounts(v);
    mr_conf_free(v);

    v = parse_mission("leafnode/server.hub.conf");
    expect_at(v, "port", "i:4222");
    expect_at(v, "server_name", "s:hub");
    expect_shared_accounts(v);
    const char *file = mr_conf_get_entry(v, "accounts")->key_pos.file;
    ck_assert_msg(strstr(file, "tests/conf/mission/leafnode/accounts.conf") != NULL, "%s", file);
    expect_at(v, "jetstream.domain", "s:hub");
    expect_at(v, "jetstream.max_file_store", "i:10737418240");
    expect_at(v, "leafnodes.port", "i:7422");
    ck_assert_uint_eq(v->u.map.count, 6);
    mr_conf_free(v);

    v = parse_mission("leafnode/server.leaf.conf");
    expect_at(v, "server_name", "s:leaf-node");
    expect_shared_accounts(v);
    expect_at(v, "jetstream.domain", "s:leaf");
    expect_at(v, "leafnodes.remotes", "array:1");
    expect_at(v, "leafnodes.remotes.0.urls.0", "q:nats://leaf:leaf@0.0.0.0:7422");
    expect_at(v, "leafnodes.remotes.0.account", "q:LEAF");
    ck_assert_uint_eq(v->u.map.count, 6);
    mr_conf_free(v);
}
END_TEST

static Suite *conf_suite(void)
{
    Suite *s = suite_create("conf");

    TCase *tc = tcase_create("syntax");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, separators_colon_equals_and_whitespace);
    tcase_add_test(tc, maps_with_or_without_separator_and_nested);
    tcase_add_test(tc, arrays_with_commas_newlines_and_trailing_comma);
    tcase_add_test(tc, comments_hash_and_slash_anywhere);
    tcase_add_test(tc, bare_strings_end_at_terminators);
    tcase_add_test(tc, double_quoted_strings_with_escapes);
    tcase_add_test(tc, single_quoted_strings_are_raw);
    tcase_add_test(tc, block_strings_keep_text_verbatim);
    tcase_add_test(tc, integers_with_size_suffixes);
    tcase_add_test(tc, negative_numbers);
    tcase_add_test(tc, floats);
    tcase_add_test(tc, number_like_text_becomes_string);
    tcase_add_test(tc, booleans_in_every_spelling);
    tcase_add_test(tc, trailing_semicolons_and_stray_separators);
    tcase_add_test(tc, quoted_keys);
    tcase_add_test(tc, bcrypt_hashes_stay_literal);
    tcase_add_test(tc, top_level_braces_wrap_a_file);
    tcase_add_test(tc, value_after_key_on_a_later_line);
    tcase_add_test(tc, empty_and_comment_only_inputs_give_an_empty_map);
    tcase_add_test(tc, crlf_line_endings);
    tcase_add_test(tc, positions_are_one_based_lines_and_columns);
    tcase_add_test(tc, duplicate_keys_last_wins_and_all_stay);
    tcase_add_test(tc, config_md_full_example);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, each_error_is_reported_at_its_position);
    tcase_add_test(tc, float_beyond_double_range_is_an_error);
    tcase_add_test(tc, nul_byte_is_an_error_at_its_position);
    tcase_add_test(tc, nesting_depth_is_bounded_exactly);
    tcase_add_test(tc, error_buffer_may_be_small_or_absent);
    tcase_add_test(tc, every_prefix_of_valid_inputs_parses_or_fails_cleanly);
    suite_add_tcase(s, tc);

    tc = tcase_create("variables");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, variable_defined_earlier_in_the_same_map);
    tcase_add_test(tc, variable_lookup_goes_from_inner_to_outer_scope);
    tcase_add_test(tc, variable_uses_the_last_definition);
    tcase_add_test(tc, variable_copies_maps_and_arrays);
    tcase_add_test(tc, variable_marks_its_definition_used);
    tcase_add_test(tc, quoted_variable_is_not_expanded);
    tcase_add_test(tc, variable_copy_respects_nesting_depth);
    tcase_add_test(tc, variable_doubling_is_bounded_by_tree_size);
    tcase_add_test(tc, tree_limit_cleans_up_wherever_it_is_hit);
    tcase_add_test(tc, variable_lookups_are_bounded_in_work);
    tcase_add_test(tc, env_fallback_values_are_reparsed);
    tcase_add_test(tc, config_variables_win_over_the_environment);
    tcase_add_test(tc, env_value_sees_only_the_environment);
    tcase_add_test(tc, env_cycles_are_reported_with_the_chain);
    tcase_add_test(tc, env_nesting_is_bounded);
    tcase_add_test(tc, env_value_errors_name_the_variable);
    tcase_add_test(tc, unknown_variable_names_it_and_its_position);
    suite_add_tcase(s, tc);

    tc = tcase_create("includes");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, include_resolves_relative_to_the_including_file);
    tcase_add_test(tc, include_forms_and_keyword_case);
    tcase_add_test(tc, include_later_keys_override_earlier);
    tcase_add_test(tc, include_scopes_variables_like_nats_server);
    tcase_add_test(tc, include_cycle_is_reported_with_the_chain);
    tcase_add_test(tc, include_of_a_missing_file_names_the_including_position);
    tcase_add_test(tc, error_inside_an_included_file_names_that_file);
    tcase_add_test(tc, include_depth_is_bounded);
    tcase_add_test(tc, include_fan_out_is_bounded);
    tcase_add_test(tc, parse_file_reports_a_read_error);
    suite_add_tcase(s, tc);

    tc = tcase_create("api");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, get_folds_case_and_marks_used);
    tcase_add_test(tc, get_any_tries_aliases_in_order);
    tcase_add_test(tc, get_entry_gives_the_key_position);
    tcase_add_test(tc, duration_parses_go_syntax);
    tcase_add_test(tc, duration_bare_numbers_are_legacy_seconds);
    tcase_add_test(tc, type_names_and_pos_format);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, every_valid_sample_parses);
    tcase_add_test(tc, every_invalid_sample_fails_where_it_says);
    tcase_add_test(tc, mission_supercluster_configs_parse_with_their_keys);
    tcase_add_test(tc, mission_leafnode_configs_parse_with_their_keys);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(conf_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
