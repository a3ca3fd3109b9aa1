/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the configuration language parser (core/conf/conf.h).
 *
 * The input is parsed as the file "fuzz.conf" with an io whose read_file serves a few
 * fixed in-memory files (one includes another by a relative path, one includes itself,
 * one is wrapped in braces, and "fuzz.conf" is the input itself, so includes and their
 * cycles are reachable) and whose get_env returns fixed values (numbers, maps, values
 * that reference each other in a cycle, a syntax error, and "IN": the input itself up
 * to its first NUL, so the environment re-parse sees arbitrary text too).
 *
 * It checks the contract: a result is 0 with a tree, or a negative mr_err with no tree
 * and an error that starts with "file:line:col: "; every node of a tree has a valid
 * type, a position with line and column >= 1 and a file name, strings whose length
 * matches, map keys, and no deeper nesting than the bound; lookups return the last
 * duplicate and durations never crash; the same input parses to the same result twice.
 * ASan and LeakSanitizer catch the rest.
 *
 * Canary: with MR_FUZZ_CANARY=1 in the environment, an input starting with "CANARY"
 * aborts, to prove the harness reports a crash (tests/fuzz/README.md).
 *
 * Ownership: the target borrows data; its copies and every tree are freed before it
 * returns.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/conf/conf.h"
#include "core/err.h"

/* Keys of each map checked with mr_conf_get_entry. */
#define FUZZ_LOOKUPS_MAX 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_ctx {
    const char *input;  /* the input bytes (fuzz.conf) */
    size_t input_len;
    const char *in_env; /* the input up to its first NUL, as a C string */
};

static const struct {
    const char *path;
    const char *text;
} fuzz_files[] = {
    {"inc.conf", "a: 1\nm { b: [1, 2kb, \"s\"], c: 1.5 }\n"},
    {"sub/dir.conf", "include ../inc.conf\nc: $a\nd: $PORT\n"},
    {"cyc.conf", "x: 1\ninclude ./cyc.conf\n"},
    {"braced.conf", "{ y: on, z: (\nblock\n) }\n"},
    {"err.conf", "ok: 1\nbad: }\n"},
};

static const struct {
    const char *name;
    const char *value;
} fuzz_env[] = {
    {"PORT", "4222"},     {"TOK", "abc"},       {"MAP", "{a: 1, b: [x, $PORT]}"},
    {"SELF", "$SELF"},    {"A", "$B"},          {"B", "[$A]"},
    {"BAD", "a b"},       {"EMPTY", ""},        {"Q", "\"q\\x41\""},
};

static int fuzz_read(void *ctx, const char *path, char **data, size_t *len, char *err,
                     size_t err_len)
{
    struct fuzz_ctx *f = ctx;
    const char *text = NULL;
    size_t n = 0;
    if (strcmp(path, "fuzz.conf") == 0) {
        text = f->input;
        n = f->input_len;
    }
    for (size_t i = 0; i < sizeof(fuzz_files) / sizeof(fuzz_files[0]); i++) {
        if (strcmp(path, fuzz_files[i].path) == 0) {
            text = fuzz_files[i].text;
            n = strlen(text);
        }
    }
    if (text == NULL) {
        snprintf(err, err_len, "no such file");
        return MR_E_NOT_FOUND;
    }
    *data = malloc(n > 0 ? n : 1);
    mr_assert(*data != NULL);
    memcpy(*data, text, n);
    *len = n;
    return 0;
}

static const char *fuzz_get_env(void *ctx, const char *name)
{
    struct fuzz_ctx *f = ctx;
    if (strcmp(name, "IN") == 0) {
        return f->in_env;
    }
    for (size_t i = 0; i < sizeof(fuzz_env) / sizeof(fuzz_env[0]); i++) {
        if (strcmp(name, fuzz_env[i].name) == 0) {
            return fuzz_env[i].value;
        }
    }
    return NULL;
}

static bool canary_armed(void)
{
    const char *v = getenv("MR_FUZZ_CANARY");
    return v != NULL && strcmp(v, "1") == 0;
}

static void check_pos(const struct mr_conf_pos *pos)
{
    mr_assert(pos->file != NULL);
    mr_assert(pos->line >= 1);
    mr_assert(pos->col >= 1);
}

/* Checks one node (not its children). */
static void check_node(struct mr_conf_value *v)
{
    uint64_t ns = 0;
    bool legacy = false;
    check_pos(&v->pos);
    switch (v->type) {
    case MR_CONF_MAP:
        for (size_t i = 0; i < v->u.map.count; i++) {
            struct mr_conf_entry *e = &v->u.map.entries[i];
            mr_assert(e->key != NULL);
            mr_assert(e->value != NULL);
            check_pos(&e->key_pos);
            /* The last entry with an equal key (ASCII case folded) wins. Only the first
             * keys: variables can copy a large map many times, and this is quadratic. */
            if (i < FUZZ_LOOKUPS_MAX) {
                struct mr_conf_entry *got = mr_conf_get_entry(v, e->key);
                mr_assert(got != NULL);
                mr_assert(got >= e);
            }
        }
        break;
    case MR_CONF_ARRAY:
        for (size_t i = 0; i < v->u.array.count; i++) {
            mr_assert(v->u.array.items[i] != NULL);
        }
        break;
    case MR_CONF_STRING:
        mr_assert(v->u.str.s != NULL);
        mr_assert(strlen(v->u.str.s) == v->u.str.len);
        break;
    case MR_CONF_INT:
    case MR_CONF_FLOAT:
    case MR_CONF_BOOL:
        break;
    default:
        mr_assert(false);
    }
    int rc = mr_conf_duration_ns(v, &ns, &legacy);
    mr_assert(rc == 0 || rc == MR_E_INVAL);
    mr_assert(mr_conf_type_name(v->type) != NULL);
}

/* Walks the whole tree with an explicit stack; the parser bounds its depth. */
static void check_tree(struct mr_conf_value *root)
{
    struct {
        struct mr_conf_value *v;
        size_t i;
    } st[MR_CONF_DEPTH_MAX + 3];
    size_t n = 0;
    mr_assert(root->type == MR_CONF_MAP);
    check_node(root);
    st[n].v = root;
    st[n].i = 0;
    n++;
    while (n > 0) {
        struct mr_conf_value *v = st[n - 1].v;
        size_t count = v->type == MR_CONF_MAP ? v->u.map.count : v->u.array.count;
        if (st[n - 1].i == count) {
            n--;
            continue;
        }
        size_t i = st[n - 1].i++;
        struct mr_conf_value *c =
            v->type == MR_CONF_MAP ? v->u.map.entries[i].value : v->u.array.items[i];
        check_node(c);
        if (c->type == MR_CONF_MAP || c->type == MR_CONF_ARRAY) {
            mr_assert(n < MR_CONF_DEPTH_MAX + 1);
            st[n].v = c;
            st[n].i = 0;
            n++;
        }
    }
}

/* An error reads "file:line:col: message" with line and col >= 1. */
static void check_error(const char *err)
{
    const char *sep = strstr(err, ": ");
    mr_assert(sep != NULL);
    const char *p = sep;
    size_t colons = 0;
    while (p > err && colons < 2) {
        p--;
        if (*p == ':') {
            colons++;
        } else {
            mr_assert(*p >= '0' && *p <= '9');
        }
    }
    mr_assert(colons == 2);
    mr_assert(p > err);
    mr_assert(strtoul(p + 1, NULL, 10) >= 1);
    mr_assert(sep[2] != '\0');
}

static int parse_once(struct fuzz_ctx *f, struct mr_conf_value **v, char *err, size_t err_len)
{
    struct mr_conf_io io = {f, fuzz_read, fuzz_get_env};
    return mr_conf_parse("fuzz.conf", f->input, f->input_len, &io, v, err, err_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (canary_armed() && size >= 6 && memcmp(data, "CANARY", 6) == 0) {
        abort();
    }
    size_t in_len = 0;
    while (in_len < size && data[in_len] != 0) {
        in_len++;
    }
    char *in_env = malloc(in_len + 1);
    mr_assert(in_env != NULL);
    memcpy(in_env, data, in_len);
    in_env[in_len] = '\0';
    struct fuzz_ctx f = {(const char *)data, size, in_env};

    struct mr_conf_value *v = NULL;
    char err[MR_CONF_ERR_MAX];
    int rc = parse_once(&f, &v, err, sizeof(err));
    if (rc == 0) {
        mr_assert(v != NULL);
        check_tree(v);
        mr_conf_free(v);
    } else {
        mr_assert(rc < 0);
        mr_assert(v == NULL);
        check_error(err);
    }

    /* Same input, same result, to the byte of the message. */
    struct mr_conf_value *again = NULL;
    char err2[MR_CONF_ERR_MAX];
    int rc2 = parse_once(&f, &again, err2, sizeof(err2));
    mr_assert(rc2 == rc);
    if (rc2 == 0) {
        mr_conf_free(again);
    } else {
        mr_assert(strcmp(err, err2) == 0);
    }
    free(in_env);
    return 0;
}
