/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NATS configuration language (config.md section 1): one pass that lexes and parses
 * at once, because what a byte means depends on where it is (a key, a value, an array).
 * The accepted language is nats-server 2.9.10's (conf/lex.go), checked with
 * `nats-server -t`; where that lexer misbehaves (a key with no value silently dropped,
 * `[1, 2]` rejected, values wrapped around on overflow) we give an error or the obvious
 * value instead. The notable rules copied from it:
 *   - a bare key runs to whitespace, ':' or '='; after it, newlines may come before the
 *     separator; at the top level of a file no newline may follow a separator, inside a
 *     map one may;
 *   - a bare value runs to whitespace, a newline, ';', ',', ']' or '}' and may hold
 *     backslash escapes; a value that starts with a digit becomes a string as soon as a
 *     character appears that a number cannot hold ("2s", "0x10"), except after a float
 *     ("1.5s" is an error); "1.2.3.4:5" is a string, 2006-01-02T15:04:05Z a string;
 *   - escapes are \xXX \t \n \r \" \\ (nats-server has no \uXXXX: it rejects it, so we do);
 *   - a block string is "(" up to a ")" alone on its line, kept verbatim;
 *   - an included file or an environment value is parsed on its own: it sees only its
 *     own variables (and the environment), not the includer's.
 * Where we differ on purpose: "$2b$..." is a literal bcrypt hash like "$2a$..." (libxcrypt
 * writes $2b$; nats-server takes it for a variable); a file may be wrapped in one pair of
 * braces, but a stray '}' or a key after the closing one is an error (2.9.10 skips any
 * '{' and takes '}' as a value end at the top level); "\x00" is an error; nesting,
 * includes and variables are bounded and include or variable cycles are errors (2.9.10
 * recurses until it is killed).
 *
 * Structure: a stack of sources (the file, included files, environment values being
 * re-parsed) and a stack of frames (the maps and arrays being built, one body frame per
 * file, one frame per environment value). Each step of the main loop looks at the top
 * frame's state and consumes input or closes a frame; nothing recurses. Nesting, include
 * depth, total input, tree size and variable lookup work all have bounds below, so any
 * input ends quickly with a tree or an error.
 *
 * Ownership: every value is in exactly one place: in the tree (reachable from the root),
 * in one frame (a map or array still open, with the key it will be stored under), or in
 * a local variable of the function that made it. Errors free the frames, the sources and
 * the partial tree. File names live in the root (struct conf_root) and are freed with
 * it, so positions stay valid as long as the tree. Memory is malloc/free; running out
 * of it aborts, as g_malloc does (the bounds below cap a tree near 64 MB of payload).
 */
#include "core/conf/conf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"

/* Open maps and arrays (MR_CONF_DEPTH_MAX), plus one body frame per file and one frame
 * per environment value being parsed, plus the root. */
#define CONF_ENV_DEPTH_MAX MR_CONF_INCLUDE_DEPTH_MAX
#define CONF_FRAMES_MAX (MR_CONF_DEPTH_MAX + MR_CONF_INCLUDE_DEPTH_MAX + CONF_ENV_DEPTH_MAX + 2)
#define CONF_SOURCES_MAX (MR_CONF_INCLUDE_DEPTH_MAX + CONF_ENV_DEPTH_MAX + 2)
/* Bytes read over all sources: a file may be included many times (not in a cycle), and
 * environment values may reference each other. Over it: MR_E_LIMIT. */
#define CONF_INPUT_BYTES_MAX (4 * (size_t)MR_CONF_FILE_BYTES_MAX)
/* Bytes of the tree (values, entry arrays, strings): variables copy values, so a few
 * lines can double a tree many times. Over it: MR_E_LIMIT. */
#define CONF_TREE_BYTES_MAX ((size_t)64 * 1024 * 1024)
/* Include directives followed in one parse. Over it: MR_E_LIMIT. */
#define CONF_INCLUDES_MAX 1024
/* Map entries compared while resolving variables, so that many references to a large
 * map cannot take quadratic time. Over it: MR_E_LIMIT. */
#define CONF_LOOKUP_STEPS_MAX ((uint64_t)1 << 26)
/* Containers on a path from the root: the root map plus MR_CONF_DEPTH_MAX levels. */
#define CONF_TREE_DEPTH_MAX (MR_CONF_DEPTH_MAX + 1)

_Static_assert(MR_CONF_FILE_BYTES_MAX <= CONF_INPUT_BYTES_MAX,
               "one file of the maximum size must be readable");
_Static_assert(MR_CONF_ERR_MAX >= 128, "error messages need room for a position and a reason");

#define ROOT_MAGIC 0x4d52434fu /* "MRCO": marks the value mr_conf_parse returned */

/* The root map plus the file names that positions point to. */
struct conf_root {
    struct mr_conf_value v; /* first member: &root->v is what callers hold */
    uint32_t magic;
    char **files; /* interned names, owned */
    size_t files_count;
};

enum frame_kind {
    FRAME_BODY,  /* the top level of a file; its map belongs to the frame below or root */
    FRAME_MAP,   /* a map opened with '{' */
    FRAME_ARRAY, /* an array opened with '[' */
    FRAME_ENV,   /* an environment value being parsed; holds the one value it yields */
};

enum frame_state {
    ST_KEY,          /* BODY, MAP: before a key */
    ST_VALUE_END,    /* BODY, MAP: after a value */
    ST_BRACE_CLOSED, /* BODY: after the '}' closing a braced file; only EOF may follow */
    ST_ITEM,         /* ARRAY: before an element */
    ST_ITEM_END,     /* ARRAY: after an element */
    ST_ENV_VALUE,    /* ENV: before the value */
    ST_ENV_END,      /* ENV: after the value */
};

struct frame {
    enum frame_kind kind;
    enum frame_state state;
    struct mr_conf_value *v; /* MAP/ARRAY being filled; ENV: the value once read */
    bool owns_v;             /* false for BODY (the map is the root's or the includer's) */
    char *key;               /* owned: the key v goes under in the frame below, or NULL */
    struct mr_conf_pos key_pos;
    struct mr_conf_pos open_pos; /* the '{' or '[' (BODY: a leading '{') */
    size_t entry_base;           /* BODY: first entry of v that belongs to this file */
    bool braced;                 /* BODY: the file is wrapped in { } */
    bool seen_key;               /* BODY: a key was read, so a '{' can no longer wrap */
};

struct source {
    const char *text; /* borrowed from the caller or `owned` */
    size_t len;
    size_t off;
    uint32_t line; /* of text[off], 1-based */
    uint32_t col;  /* of text[off], 1-based, in characters (UTF-8 lead bytes) */
    char *owned;   /* include data or environment copy, freed with free() */
    const char *name;  /* interned: the file name shown in positions */
    const char *canon; /* interned: the cleaned path, for include cycles */
    bool is_env;
    char *env_name;         /* ENV: the variable, owned */
    struct mr_conf_pos ref; /* ENV: where $NAME was written; values get this position */
    size_t frame_base;      /* index of the frame pushed with this source */
};

struct parser {
    const struct mr_conf_io *io;
    char *err;
    size_t err_len;
    int rc;
    struct conf_root *root;
    struct source src[CONF_SOURCES_MAX];
    size_t src_count;
    struct frame fr[CONF_FRAMES_MAX];
    size_t fr_count;
    size_t nesting; /* open MAP and ARRAY frames */
    size_t input_bytes;
    size_t tree_bytes;
    size_t includes;
    uint64_t lookup_steps;
    char last[96]; /* what the last value was, for "expected ... after <last>" */
};

/* A key just read, and what it will be stored under. */
struct key {
    char *s; /* owned until stored; NULL for array elements and environment values */
    struct mr_conf_pos pos;
    char sep; /* ':' '=' or 0, for messages */
};

/* A growable string. */
struct buf {
    char *d;
    size_t len;
    size_t cap;
};

/* ---------------------------------------------------------------------------------- */
/* Memory                                                                              */

static void *must(void *p)
{
    if (p == NULL) {
        abort(); /* real OOM: nothing sensible is left to do */
    }
    return p;
}

static void *xcalloc(size_t n, size_t size)
{
    return must(calloc(n > 0 ? n : 1, size > 0 ? size : 1));
}

static void *xrealloc(void *p, size_t n)
{
    return must(realloc(p, n > 0 ? n : 1));
}

static char *xstrndup(const char *s, size_t len)
{
    char *d = xcalloc(len + 1, 1);
    memcpy(d, s, len);
    return d;
}

/* Map entries and array items grow by doubling from 4, so the capacity follows from
 * the count and need not be stored: an array is full when its count is 0 or a power
 * of two of at least 4. */
static size_t cap_of(size_t count)
{
    if (count == 0) {
        return 0;
    }
    size_t cap = 4;
    while (cap < count) {
        cap *= 2;
    }
    return cap;
}

static void buf_push(struct buf *b, char c)
{
    if (b->len + 1 >= b->cap) {
        b->cap = b->cap == 0 ? 32 : b->cap * 2;
        b->d = xrealloc(b->d, b->cap);
    }
    b->d[b->len++] = c;
    b->d[b->len] = '\0';
}

/* ---------------------------------------------------------------------------------- */
/* Values                                                                              */

static bool is_container(const struct mr_conf_value *v)
{
    return v->type == MR_CONF_MAP || v->type == MR_CONF_ARRAY;
}

static size_t child_count(const struct mr_conf_value *v)
{
    return v->type == MR_CONF_MAP ? v->u.map.count : v->u.array.count;
}

static struct mr_conf_value *child_at(const struct mr_conf_value *v, size_t i)
{
    return v->type == MR_CONF_MAP ? v->u.map.entries[i].value : v->u.array.items[i];
}

/* Frees v and everything under it, iteratively. Partly built containers are fine: only
 * `count` children are complete. */
static void free_value(struct mr_conf_value *v)
{
    struct {
        struct mr_conf_value *v;
        size_t i;
    } st[CONF_TREE_DEPTH_MAX + 1];
    size_t n = 0;
    if (v == NULL) {
        return;
    }
    st[n].v = v;
    st[n].i = 0;
    n++;
    while (n > 0) {
        struct mr_conf_value *top = st[n - 1].v;
        if (!is_container(top)) {
            if (top->type == MR_CONF_STRING) {
                free(top->u.str.s);
            }
            free(top);
            n--;
            continue;
        }
        size_t i = st[n - 1].i;
        if (i < child_count(top)) {
            st[n - 1].i++;
            if (top->type == MR_CONF_MAP) {
                free(top->u.map.entries[i].key);
            }
            /* The parser never builds a tree deeper than CONF_TREE_DEPTH_MAX. */
            mr_assert(n < CONF_TREE_DEPTH_MAX + 1);
            st[n].v = child_at(top, i);
            st[n].i = 0;
            n++;
            continue;
        }
        if (top->type == MR_CONF_MAP) {
            free(top->u.map.entries);
        } else {
            free(top->u.array.items);
        }
        free(top);
        n--;
    }
}

static void free_root(struct conf_root *root)
{
    mr_assert(root->magic == ROOT_MAGIC);
    struct mr_conf_value *v = &root->v;
    /* The root value is embedded in root: free its children, then the root itself. */
    for (size_t i = 0; i < v->u.map.count; i++) {
        free(v->u.map.entries[i].key);
        free_value(v->u.map.entries[i].value);
    }
    free(v->u.map.entries);
    for (size_t i = 0; i < root->files_count; i++) {
        free(root->files[i]);
    }
    free(root->files);
    root->magic = 0;
    free(root);
}

/* ---------------------------------------------------------------------------------- */
/* Errors                                                                              */

static struct source *top_source(struct parser *p)
{
    mr_assert(p->src_count > 0);
    return &p->src[p->src_count - 1];
}

static struct mr_conf_pos here(struct parser *p)
{
    struct source *s = top_source(p);
    if (s->is_env) {
        return s->ref;
    }
    struct mr_conf_pos pos = {s->name, s->line, s->col};
    return pos;
}

/* Records the first error as "file:line:col: message" and returns rc. Errors inside an
 * environment value point at the $NAME reference and say which variable it was. */
__attribute__((format(printf, 4, 5))) static int fail_rc(struct parser *p, int rc,
                                                         const struct mr_conf_pos *pos,
                                                         const char *fmt, ...)
{
    mr_assert(rc < 0);
    if (p->rc != 0) {
        return p->rc;
    }
    p->rc = rc;
    if (p->err == NULL || p->err_len == 0) {
        return rc;
    }
    char msg[MR_CONF_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const struct source *s = p->src_count > 0 ? &p->src[p->src_count - 1] : NULL;
    const char *file = pos->file != NULL ? pos->file : "?";
    if (s != NULL && s->is_env) {
        snprintf(p->err, p->err_len, "%s:%u:%u: in environment variable \"%s\": %s", file,
                 (unsigned)pos->line, (unsigned)pos->col, s->env_name, msg);
    } else {
        snprintf(p->err, p->err_len, "%s:%u:%u: %s", file, (unsigned)pos->line,
                 (unsigned)pos->col, msg);
    }
    return rc;
}

#define fail(p, pos, ...) fail_rc((p), MR_E_INVAL, (pos), __VA_ARGS__)

/* Describes the character at s->off for "found ..." in messages. */
static const char *describe(const struct source *s, char *out, size_t out_len)
{
    if (s->off >= s->len) {
        return s->is_env ? "the end of the value" : "the end of the file";
    }
    unsigned char c = (unsigned char)s->text[s->off];
    if (c == '\n') {
        return "a newline";
    }
    if (c == '\r') {
        return "a carriage return";
    }
    if (c == '\t') {
        return "a tab";
    }
    if (c == '"') {
        return "'\"'";
    }
    if (c >= 0x20 && c < 0x7f) {
        snprintf(out, out_len, "\"%c\"", c);
        return out;
    }
    if (c >= 0xc0 && c < 0xf8) {
        /* Show a whole UTF-8 character when its continuation bytes are there. */
        size_t n = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        size_t i = 1;
        while (i < n && s->off + i < s->len &&
               ((unsigned char)s->text[s->off + i] & 0xc0) == 0x80) {
            i++;
        }
        if (i == n) {
            snprintf(out, out_len, "\"%.*s\"", (int)n, s->text + s->off);
            return out;
        }
    }
    snprintf(out, out_len, "byte 0x%02x", c);
    return out;
}

/* Fails at the current position with "<what>, found <the character here>". */
__attribute__((format(printf, 2, 3))) static int fail_found(struct parser *p, const char *fmt,
                                                            ...)
{
    char what[MR_CONF_ERR_MAX / 2];
    char found[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    struct mr_conf_pos pos = here(p);
    return fail(p, &pos, "%s, found %s", what, describe(top_source(p), found, sizeof(found)));
}

static int account(struct parser *p, size_t bytes)
{
    if (bytes > CONF_TREE_BYTES_MAX - p->tree_bytes) {
        struct mr_conf_pos pos = here(p);
        return fail_rc(p, MR_E_LIMIT, &pos, "configuration too large: the parsed tree would "
                       "exceed %zu bytes", (size_t)CONF_TREE_BYTES_MAX);
    }
    p->tree_bytes += bytes;
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Building the tree                                                                   */

static struct mr_conf_value *new_value(struct parser *p, enum mr_conf_type type,
                                       const struct mr_conf_pos *pos)
{
    if (account(p, sizeof(struct mr_conf_value)) != 0) {
        return NULL;
    }
    struct mr_conf_value *v = xcalloc(1, sizeof(*v));
    v->type = type;
    v->pos = *pos;
    return v;
}

/* Makes a STRING that takes ownership of s (len bytes plus a NUL); frees s on failure. */
static struct mr_conf_value *new_string(struct parser *p, char *s, size_t len, bool quoted,
                                        const struct mr_conf_pos *pos)
{
    if (account(p, len + 1) != 0) {
        free(s);
        return NULL;
    }
    struct mr_conf_value *v = new_value(p, MR_CONF_STRING, pos);
    if (v == NULL) {
        free(s);
        return NULL;
    }
    mr_assert(s[len] == '\0');
    v->u.str.s = s;
    v->u.str.len = len;
    v->quoted = quoted;
    return v;
}

/* Appends an entry to map; takes ownership of key and v, or frees both on failure. */
static int map_append(struct parser *p, struct mr_conf_value *map, char *key,
                      const struct mr_conf_pos *key_pos, struct mr_conf_value *v)
{
    mr_assert(map->type == MR_CONF_MAP);
    mr_assert(key != NULL);
    size_t n = map->u.map.count;
    if (n == cap_of(n)) {
        size_t cap = n == 0 ? 4 : n * 2;
        if (account(p, (cap - n) * sizeof(struct mr_conf_entry) + strlen(key) + 1) != 0) {
            free(key);
            free_value(v);
            return p->rc;
        }
        map->u.map.entries = xrealloc(map->u.map.entries, cap * sizeof(struct mr_conf_entry));
    } else if (account(p, strlen(key) + 1) != 0) {
        free(key);
        free_value(v);
        return p->rc;
    }
    struct mr_conf_entry *e = &map->u.map.entries[n];
    memset(e, 0, sizeof(*e));
    e->key = key;
    e->key_pos = *key_pos;
    e->value = v;
    map->u.map.count = n + 1;
    return 0;
}

/* Appends an item to array; takes ownership of v, or frees it on failure. */
static int array_append(struct parser *p, struct mr_conf_value *array, struct mr_conf_value *v)
{
    mr_assert(array->type == MR_CONF_ARRAY);
    size_t n = array->u.array.count;
    if (n == cap_of(n)) {
        size_t cap = n == 0 ? 4 : n * 2;
        if (account(p, (cap - n) * sizeof(v)) != 0) {
            free_value(v);
            return p->rc;
        }
        array->u.array.items = xrealloc(array->u.array.items, cap * sizeof(v));
    }
    array->u.array.items[n] = v;
    array->u.array.count = n + 1;
    return 0;
}

/* Stores a finished value in the top frame: under key in a map, as the next array item,
 * or as the one value of an environment frame. Takes ownership of key and v. */
static int attach(struct parser *p, char *key, const struct mr_conf_pos *key_pos,
                  struct mr_conf_value *v)
{
    mr_assert(v != NULL);
    mr_assert(p->fr_count > 0);
    struct frame *f = &p->fr[p->fr_count - 1];
    switch (f->kind) {
    case FRAME_BODY:
    case FRAME_MAP:
        snprintf(p->last, sizeof(p->last), "the value of \"%.40s\"", key);
        return map_append(p, f->v, key, key_pos, v);
    case FRAME_ARRAY:
        mr_assert(key == NULL);
        snprintf(p->last, sizeof(p->last), "an array element");
        return array_append(p, f->v, v);
    case FRAME_ENV:
        mr_assert(key == NULL);
        mr_assert(f->v == NULL);
        f->v = v;
        f->state = ST_ENV_END;
        return 0;
    }
    mr_assert(false);
    return MR_E_INVAL;
}

/* A shallow copy of src: scalars whole, containers with room for their children but
 * none yet (count 0). */
static struct mr_conf_value *copy_shallow(struct parser *p, const struct mr_conf_value *src,
                                          const struct mr_conf_pos *pos)
{
    if (src->type == MR_CONF_STRING) {
        return new_string(p, xstrndup(src->u.str.s, src->u.str.len), src->u.str.len,
                          src->quoted, pos);
    }
    struct mr_conf_value *v = new_value(p, src->type, pos);
    if (v == NULL) {
        return NULL;
    }
    v->quoted = src->quoted;
    size_t cap = is_container(src) ? cap_of(child_count(src)) : 0;
    if (src->type == MR_CONF_MAP && cap > 0) {
        if (account(p, cap * sizeof(struct mr_conf_entry)) != 0) {
            free(v);
            return NULL;
        }
        v->u.map.entries = xcalloc(cap, sizeof(struct mr_conf_entry));
    } else if (src->type == MR_CONF_ARRAY && cap > 0) {
        if (account(p, cap * sizeof(struct mr_conf_value *)) != 0) {
            free(v);
            return NULL;
        }
        v->u.array.items = xcalloc(cap, sizeof(struct mr_conf_value *));
    } else if (!is_container(src)) {
        v->u = src->u;
    }
    return v;
}

/* Deep copy for a variable reference, iteratively. The copy's top value takes the
 * reference's position; the rest keep where they were written. room is how many levels
 * of containers may still be opened here. */
static int copy_value(struct parser *p, const struct mr_conf_value *src, size_t room,
                      const struct mr_conf_pos *pos, struct mr_conf_value **out)
{
    struct {
        const struct mr_conf_value *src;
        struct mr_conf_value *dst;
    } st[MR_CONF_DEPTH_MAX + 1];
    size_t n = 0;
    struct mr_conf_value *root = copy_shallow(p, src, pos);
    if (root == NULL) {
        return p->rc;
    }
    if (is_container(src)) {
        if (room == 0) {
            free_value(root);
            return fail_rc(p, MR_E_LIMIT, pos, "maps and arrays nested deeper than %d",
                           MR_CONF_DEPTH_MAX);
        }
        st[n].src = src;
        st[n].dst = root;
        n++;
    }
    while (n > 0) {
        const struct mr_conf_value *s = st[n - 1].src;
        struct mr_conf_value *d = st[n - 1].dst;
        size_t i = child_count(d);
        if (i == child_count(s)) {
            n--;
            continue;
        }
        const struct mr_conf_value *sc = child_at(s, i);
        struct mr_conf_value *dc = copy_shallow(p, sc, &sc->pos);
        if (dc == NULL) {
            free_value(root);
            return p->rc;
        }
        if (s->type == MR_CONF_MAP) {
            const struct mr_conf_entry *se = &s->u.map.entries[i];
            struct mr_conf_entry *de = &d->u.map.entries[i];
            de->key = xstrndup(se->key, strlen(se->key));
            de->key_pos = se->key_pos;
            de->value = dc;
            d->u.map.count = i + 1;
        } else {
            d->u.array.items[i] = dc;
            d->u.array.count = i + 1;
        }
        if (is_container(sc)) {
            if (n + 1 > room) {
                free_value(root);
                return fail_rc(p, MR_E_LIMIT, pos, "maps and arrays nested deeper than %d",
                               MR_CONF_DEPTH_MAX);
            }
            st[n].src = sc;
            st[n].dst = dc;
            n++;
        }
    }
    *out = root;
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Characters and sources                                                              */

static bool is_blank(int c)
{
    return c == ' ' || c == '\t';
}

static bool is_nl(int c)
{
    return c == '\n' || c == '\r';
}

static bool is_space(int c)
{
    return is_blank(c) || is_nl(c) || c == '\v' || c == '\f';
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static bool ascii_ieq(const char *a, const char *b)
{
    while (*a != '\0' && lower((unsigned char)*a) == lower((unsigned char)*b)) {
        a++;
        b++;
    }
    return *a == '\0' && *b == '\0';
}

/* The byte k ahead of the current one, or -1 past the end. */
static int peek(const struct source *s, size_t k)
{
    return k < s->len - s->off ? (unsigned char)s->text[s->off + k] : -1;
}

static void advance(struct source *s)
{
    mr_assert(s->off < s->len);
    unsigned char c = (unsigned char)s->text[s->off++];
    if (c == '\n') {
        s->line++;
        s->col = 1;
    } else if ((c & 0xc0) != 0x80) {
        s->col++;
    }
}

static void skip_blank(struct source *s)
{
    while (is_blank(peek(s, 0))) {
        advance(s);
    }
}

static bool at_comment(const struct source *s)
{
    return peek(s, 0) == '#' || (peek(s, 0) == '/' && peek(s, 1) == '/');
}

/* Skips a comment up to (not including) the end of its line. */
static void skip_comment(struct source *s)
{
    while (peek(s, 0) >= 0 && !is_nl(peek(s, 0))) {
        advance(s);
    }
}

/* Skips whitespace, newlines and comments. */
static void skip_space_comments(struct source *s)
{
    for (;;) {
        if (is_space(peek(s, 0))) {
            advance(s);
        } else if (at_comment(s)) {
            skip_comment(s);
        } else {
            return;
        }
    }
}

static const char *intern(struct parser *p, const char *name)
{
    struct conf_root *r = p->root;
    for (size_t i = 0; i < r->files_count; i++) {
        if (strcmp(r->files[i], name) == 0) {
            return r->files[i];
        }
    }
    size_t n = r->files_count;
    if (n == cap_of(n)) {
        r->files = xrealloc(r->files, (n == 0 ? 4 : n * 2) * sizeof(char *));
    }
    r->files[n] = xstrndup(name, strlen(name));
    r->files_count = n + 1;
    return r->files[n];
}

/* Pushes a source; takes ownership of `owned` (freed with the source, or now on error). */
static int push_source(struct parser *p, const char *text, size_t len, char *owned,
                       const struct mr_conf_pos *at)
{
    if (p->src_count == CONF_SOURCES_MAX) {
        free(owned);
        return fail_rc(p, MR_E_LIMIT, at, "too many nested includes and variables");
    }
    if (len > CONF_INPUT_BYTES_MAX - p->input_bytes) {
        free(owned);
        return fail_rc(p, MR_E_LIMIT, at, "configuration too large: more than %zu bytes read "
                       "with includes and variables", (size_t)CONF_INPUT_BYTES_MAX);
    }
    /* Count at least one byte per source so that empty ones are bounded too. */
    p->input_bytes += len > 0 ? len : 1;
    struct source *s = &p->src[p->src_count++];
    memset(s, 0, sizeof(*s));
    s->text = text;
    s->len = len;
    s->line = 1;
    s->col = 1;
    s->owned = owned;
    s->frame_base = p->fr_count;
    return 0;
}

/* Rejects NUL bytes: strings in the tree are NUL-terminated and the language has no use
 * for them (nats-server's lexer takes a NUL for the end of the input). */
static int check_no_nul(struct parser *p)
{
    struct source *s = top_source(p);
    const char *nul = memchr(s->text, '\0', s->len);
    if (nul == NULL) {
        return 0;
    }
    while (s->text + s->off < nul) {
        advance(s);
    }
    struct mr_conf_pos pos = here(p);
    return fail(p, &pos, "NUL byte in the configuration");
}

static void pop_source(struct parser *p)
{
    struct source *s = top_source(p);
    mr_assert(s->frame_base == p->fr_count);
    free(s->owned);
    free(s->env_name);
    p->src_count--;
}

static void push_frame(struct parser *p, enum frame_kind kind, enum frame_state state,
                       struct mr_conf_value *v, bool owns_v, const struct mr_conf_pos *at)
{
    /* The bounds on nesting, includes and variables keep the stack within its size. */
    mr_assert(p->fr_count < CONF_FRAMES_MAX);
    struct frame *f = &p->fr[p->fr_count++];
    memset(f, 0, sizeof(*f));
    f->kind = kind;
    f->state = state;
    f->v = v;
    f->owns_v = owns_v;
    f->open_pos = *at;
}

/* ---------------------------------------------------------------------------------- */
/* Paths                                                                               */

/* Cleans a path lexically as Go's filepath.Clean does: no empty or "." segments, ".."
 * removes the segment before it. Returns a malloc'd string. */
static char *clean_path(const char *path)
{
    size_t n = strlen(path);
    char *out = xcalloc(n + 2, 1);
    size_t o = 0;
    bool abs = path[0] == '/';
    if (abs) {
        out[o++] = '/';
    }
    size_t base = o;
    size_t i = 0;
    while (i < n) {
        while (i < n && path[i] == '/') {
            i++;
        }
        size_t start = i;
        while (i < n && path[i] != '/') {
            i++;
        }
        size_t len = i - start;
        if (len == 0 || (len == 1 && path[start] == '.')) {
            continue;
        }
        if (len == 2 && path[start] == '.' && path[start + 1] == '.') {
            size_t last = o;
            while (last > base && out[last - 1] != '/') {
                last--;
            }
            bool last_is_up = o - last == 2 && out[last] == '.' && out[last + 1] == '.';
            if (o > base && !last_is_up) {
                o = last > base ? last - 1 : base;
                continue;
            }
            if (abs) {
                continue; /* "/.." is "/" */
            }
        }
        if (o > base) {
            out[o++] = '/';
        }
        memcpy(out + o, path + start, len);
        o += len;
    }
    if (o == 0) {
        out[o++] = '.';
    }
    out[o] = '\0';
    return out;
}

/* Resolves an include path against the directory of the including file. */
static char *resolve_include(const char *including, const char *path)
{
    const char *slash = strrchr(including, '/');
    if (path[0] == '/' || slash == NULL) {
        return clean_path(path);
    }
    /* dir_len + 1 keeps the slash, so "/x.conf" gives the directory "/". */
    size_t dir_len = (size_t)(slash - including) + 1;
    size_t path_len = strlen(path);
    char *joined = xcalloc(dir_len + path_len + 1, 1);
    memcpy(joined, including, dir_len);
    memcpy(joined + dir_len, path, path_len);
    char *clean = clean_path(joined);
    free(joined);
    return clean;
}

/* ---------------------------------------------------------------------------------- */
/* Scalars                                                                             */

/* Reads a backslash escape (the backslash is next) into b: \xXX \t \n \r \" \\. */
static int scan_escape(struct parser *p, struct buf *b)
{
    struct source *s = top_source(p);
    struct mr_conf_pos at = here(p);
    advance(s);
    int c = peek(s, 0);
    switch (c) {
    case 't':
        buf_push(b, '\t');
        break;
    case 'n':
        buf_push(b, '\n');
        break;
    case 'r':
        buf_push(b, '\r');
        break;
    case '"':
        buf_push(b, '"');
        break;
    case '\\':
        buf_push(b, '\\');
        break;
    case 'x': {
        int hi = hex_value(peek(s, 1));
        int lo = hex_value(peek(s, 2));
        if (hi < 0 || lo < 0) {
            return fail(p, &at, "\"\\x\" must be followed by two hexadecimal digits");
        }
        if (hi == 0 && lo == 0) {
            return fail(p, &at, "\"\\x00\" is not allowed: strings cannot hold NUL");
        }
        buf_push(b, (char)(hi * 16 + lo));
        advance(s);
        advance(s);
        break;
    }
    default: {
        char found[32];
        return fail(p, &at, "invalid escape: a backslash must be followed by xXX, t, n, r, "
                    "'\"' or \"\\\", found %s", describe(s, found, sizeof(found)));
    }
    }
    advance(s);
    return 0;
}

/* A "double-quoted" string with escapes; may span lines. */
static int scan_dq(struct parser *p, struct mr_conf_value **out)
{
    struct source *s = top_source(p);
    struct mr_conf_pos at = here(p);
    struct buf b = {0};
    advance(s);
    for (;;) {
        int c = peek(s, 0);
        if (c < 0) {
            free(b.d);
            struct mr_conf_pos pos = here(p);
            return fail(p, &pos, "unterminated string started at %u:%u", (unsigned)at.line,
                        (unsigned)at.col);
        }
        if (c == '"') {
            advance(s);
            break;
        }
        if (c == '\\') {
            if (scan_escape(p, &b) != 0) {
                free(b.d);
                return p->rc;
            }
            continue;
        }
        buf_push(&b, (char)c);
        advance(s);
    }
    size_t len = b.len;
    *out = new_string(p, b.d != NULL ? b.d : xcalloc(1, 1), len, true, &at);
    return *out == NULL ? p->rc : 0;
}

/* Raw text up to the closing quote: 'single-quoted' values and quoted keys. */
static int scan_raw_quoted(struct parser *p, char quote, const char *what, char **s_out,
                           size_t *len_out)
{
    struct source *s = top_source(p);
    struct mr_conf_pos at = here(p);
    advance(s);
    size_t start = s->off;
    while (peek(s, 0) != quote) {
        if (peek(s, 0) < 0) {
            struct mr_conf_pos pos = here(p);
            return fail(p, &pos, "unterminated %s started at %u:%u", what, (unsigned)at.line,
                        (unsigned)at.col);
        }
        advance(s);
    }
    *len_out = s->off - start;
    *s_out = xstrndup(s->text + start, *len_out);
    advance(s);
    return 0;
}

/* A ( block ) string: raw text up to a ")" alone on its line, kept verbatim (with the
 * newlines after "(" and before ")"), as nats-server does. */
static int scan_block(struct parser *p, struct mr_conf_value **out)
{
    struct source *s = top_source(p);
    struct mr_conf_pos at = here(p);
    advance(s);
    size_t start = s->off;
    for (;;) {
        int c = peek(s, 0);
        if (c < 0) {
            struct mr_conf_pos pos = here(p);
            return fail(p, &pos, "unterminated block started at %u:%u (a block ends with "
                        "\")\" alone on a line)", (unsigned)at.line, (unsigned)at.col);
        }
        int next = peek(s, 1);
        if (c == ')' && s->off > start && s->text[s->off - 1] == '\n' &&
            (next < 0 || is_nl(next))) {
            break;
        }
        advance(s);
    }
    size_t len = s->off - start;
    advance(s);
    *out = new_string(p, xstrndup(s->text + start, len), len, true, &at);
    return *out == NULL ? p->rc : 0;
}

static bool ends_bare(int c)
{
    return c < 0 || is_nl(c) || is_blank(c) || c == ';' || c == ',' || c == ']' || c == '}';
}

static bool is_bool_word(const char *s, bool *value)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    for (size_t i = 0; i < 3; i++) {
        if (ascii_ieq(s, yes[i])) {
            *value = true;
            return true;
        }
        if (ascii_ieq(s, no[i])) {
            *value = false;
            return true;
        }
    }
    return false;
}

/* An unquoted value: a string (with escapes), a boolean, a bcrypt hash, or a variable
 * reference, which is returned as *var_name (owned) with *out NULL. A "'" ends it and is
 * dropped, as in nats-server. */
static int scan_bare(struct parser *p, struct mr_conf_value **out, char **var_name)
{
    struct source *s = top_source(p);
    struct mr_conf_pos at = here(p);
    struct buf b = {0};
    bool escaped = false;
    *out = NULL;
    *var_name = NULL;
    while (!ends_bare(peek(s, 0)) && peek(s, 0) != '\'') {
        if (peek(s, 0) == '\\') {
            if (scan_escape(p, &b) != 0) {
                free(b.d);
                return p->rc;
            }
            escaped = true;
            continue;
        }
        buf_push(&b, (char)peek(s, 0));
        advance(s);
    }
    if (peek(s, 0) == '\'') {
        advance(s);
    }
    char *text = b.d != NULL ? b.d : xcalloc(1, 1);
    size_t len = b.len;
    bool value = false;
    if (!escaped && is_bool_word(text, &value)) {
        free(text);
        *out = new_value(p, MR_CONF_BOOL, &at);
        if (*out == NULL) {
            return p->rc;
        }
        (*out)->u.b = value;
        return 0;
    }
    /* "$2a$..." and "$2b$..." are bcrypt hashes, not variables: users write them bare. */
    if (!escaped && text[0] == '$' && strncmp(text + 1, "2a$", 3) != 0 &&
        strncmp(text + 1, "2b$", 3) != 0) {
        memmove(text, text + 1, len);
        *var_name = text;
        return 0;
    }
    *out = new_string(p, text, len, false, &at);
    return *out == NULL ? p->rc : 0;
}

/* Where the source was, to re-read a token as something else. */
struct mark {
    size_t off;
    uint32_t line;
    uint32_t col;
};

static struct mark mark_here(const struct source *s)
{
    struct mark m = {s->off, s->line, s->col};
    return m;
}

static void reset_to(struct source *s, const struct mark *m)
{
    s->off = m->off;
    s->line = m->line;
    s->col = m->col;
}

static int rescan_bare(struct parser *p, const struct mark *m, struct mr_conf_value **out)
{
    char *var = NULL;
    reset_to(top_source(p), m);
    int rc = scan_bare(p, out, &var);
    /* The token starts with a digit or '-', so it cannot be a variable. */
    mr_assert(var == NULL);
    return rc;
}

static bool is_size_letter(int c)
{
    c = lower(c);
    return c == 'k' || c == 'm' || c == 'g' || c == 't' || c == 'p' || c == 'e';
}

/* The multiplier of a size suffix (lower case), or 0 when it is not one. */
static uint64_t suffix_multiplier(const char *suffix)
{
    static const char letters[] = "kmgtpe";
    size_t len = strlen(suffix);
    const char *l = len > 0 ? strchr(letters, suffix[0]) : NULL;
    if (l == NULL) {
        return len == 0 ? 1 : 0;
    }
    unsigned power = (unsigned)(l - letters) + 1;
    bool binary = strcmp(suffix + 1, "b") == 0 || strcmp(suffix + 1, "i") == 0 ||
                  strcmp(suffix + 1, "ib") == 0;
    if (suffix[1] != '\0' && !binary) {
        return 0;
    }
    uint64_t m = 1;
    for (unsigned i = 0; i < power; i++) {
        m *= binary ? 1024 : 1000;
    }
    return m;
}

/* An integer from [m->off, s->off): digits, an optional '-' and a size suffix. */
static int make_int(struct parser *p, const struct mark *m, const struct mr_conf_pos *at,
                    struct mr_conf_value **out)
{
    struct source *s = top_source(p);
    const char *t = s->text + m->off;
    size_t len = s->off - m->off;
    size_t i = t[0] == '-' ? 1 : 0;
    bool neg = i == 1;
    uint64_t mag = 0;
    bool range_ok = true;
    for (; i < len && is_digit(t[i]); i++) {
        uint64_t d = (uint64_t)(t[i] - '0');
        range_ok = range_ok && mag <= (UINT64_MAX - d) / 10;
        mag = range_ok ? mag * 10 + d : mag;
    }
    char suffix[8] = {0};
    size_t slen = len - i;
    for (size_t j = 0; j < slen && j < sizeof(suffix) - 1; j++) {
        suffix[j] = (char)lower((unsigned char)t[i + j]);
    }
    uint64_t mul = slen < sizeof(suffix) ? suffix_multiplier(suffix) : 0;
    if (mul == 0) {
        return fail(p, at, "unknown size suffix \"%.*s\" in \"%.*s\" (use k, kb, ki, kib, m, "
                    "mb, ... e, eb)", (int)slen, t + i, (int)len, t);
    }
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    range_ok = range_ok && mag <= limit / mul;
    if (!range_ok) {
        return fail(p, at, "number \"%.*s\" is out of range", (int)len, t);
    }
    uint64_t value = mag * mul;
    *out = new_value(p, MR_CONF_INT, at);
    if (*out == NULL) {
        return p->rc;
    }
    /* -2^63 has no positive counterpart in int64_t: build it without overflowing. */
    if (neg) {
        (*out)->u.i = value == 0 ? 0 : -(int64_t)(value - 1) - 1;
    } else {
        (*out)->u.i = (int64_t)value;
    }
    return 0;
}

/* YYYY-MM-DDTHH:MM:SSZ; the year has been read and the '-' is next. Kept as a string. */
static int scan_datetime(struct parser *p, const struct mark *m, size_t year_digits,
                         const struct mr_conf_pos *at, struct mr_conf_value **out)
{
    static const char form[] = "-00-00T00:00:00Z";
    struct source *s = top_source(p);
    if (year_digits != 4) {
        return fail_found(p, "expected a date in full Zulu form YYYY-MM-DDTHH:MM:SSZ");
    }
    for (size_t i = 0; form[i] != '\0'; i++) {
        int c = peek(s, 0);
        bool ok = form[i] == '0' ? is_digit(c) : c == form[i];
        if (!ok) {
            if (form[i] == '0') {
                return fail_found(p, "expected a digit in the date");
            }
            return fail_found(p, "expected \"%c\" in the date", form[i]);
        }
        advance(s);
    }
    size_t len = s->off - m->off;
    *out = new_string(p, xstrndup(s->text + m->off, len), len, false, at);
    return *out == NULL ? p->rc : 0;
}

/* After "digits." : a float, or with a second '.' an address like 1.2.3.4:4222 (a
 * string). */
static int scan_float_or_ip(struct parser *p, const struct mark *m, const struct mr_conf_pos *at,
                            struct mr_conf_value **out)
{
    struct source *s = top_source(p);
    advance(s);
    if (!is_digit(peek(s, 0))) {
        return fail_found(p, "expected a digit after \".\" in a number");
    }
    while (is_digit(peek(s, 0))) {
        advance(s);
    }
    size_t len;
    if (peek(s, 0) == '.') {
        while (is_digit(peek(s, 0)) || peek(s, 0) == '.' || peek(s, 0) == ':' ||
               peek(s, 0) == '-') {
            advance(s);
        }
        len = s->off - m->off;
        *out = new_string(p, xstrndup(s->text + m->off, len), len, false, at);
        return *out == NULL ? p->rc : 0;
    }
    len = s->off - m->off;
    char *copy = xstrndup(s->text + m->off, len);
    double f = strtod(copy, NULL);
    free(copy);
    /* Only digits and one '.', so the one failure is a value beyond double's range. */
    if (f > 1.7976931348623157e308 || f < -1.7976931348623157e308) {
        return fail(p, at, "number \"%.*s\" is out of range", (int)len, s->text + m->off);
    }
    *out = new_value(p, MR_CONF_FLOAT, at);
    if (*out == NULL) {
        return p->rc;
    }
    (*out)->u.f = f;
    return 0;
}

/* A value starting with a digit or '-': an integer (with a size suffix), a float, a
 * date, an address, or, for "2s" or "0x10", a bare string. */
static int scan_number(struct parser *p, struct mr_conf_value **out)
{
    struct source *s = top_source(p);
    struct mark m = mark_here(s);
    struct mr_conf_pos at = here(p);
    bool neg = peek(s, 0) == '-';
    if (neg) {
        advance(s);
        if (!is_digit(peek(s, 0))) {
            return fail_found(p, "expected a digit after \"-\"");
        }
    }
    size_t digits = s->off;
    while (is_digit(peek(s, 0))) {
        advance(s);
    }
    digits = s->off - digits;
    int c = peek(s, 0);
    if (!neg && c == '-') {
        return scan_datetime(p, &m, digits, &at, out);
    }
    if (c == '.') {
        return scan_float_or_ip(p, &m, &at, out);
    }
    if (is_size_letter(c)) {
        advance(s);
        while (lower(peek(s, 0)) == 'b' || lower(peek(s, 0)) == 'i') {
            advance(s);
        }
        c = peek(s, 0);
        /* nats-server ends a number at a digit too ("1kb2"): the value-end check then
         * reports the digit. Anything else makes it a string ("1kx", "10ms"). */
        if (ends_bare(c) || is_digit(c)) {
            return make_int(p, &m, &at, out);
        }
        return rescan_bare(p, &m, out);
    }
    if (!neg && !ends_bare(c)) {
        return rescan_bare(p, &m, out);
    }
    return make_int(p, &m, &at, out);
}

/* ---------------------------------------------------------------------------------- */
/* Variables                                                                           */

/* Looks name up in the maps open in the current source, inner to outer; each source
 * sees only its own maps, as nats-server parses includes and environment values on
 * their own. */
static int lookup_scopes(struct parser *p, const char *name, const struct mr_conf_pos *at,
                         struct mr_conf_entry **found)
{
    struct source *s = top_source(p);
    *found = NULL;
    for (size_t i = p->fr_count; i-- > s->frame_base;) {
        struct frame *f = &p->fr[i];
        if (f->kind != FRAME_MAP && f->kind != FRAME_BODY) {
            continue;
        }
        size_t low = f->kind == FRAME_BODY ? f->entry_base : 0;
        for (size_t j = f->v->u.map.count; j-- > low;) {
            if (++p->lookup_steps > CONF_LOOKUP_STEPS_MAX) {
                return fail_rc(p, MR_E_LIMIT, at, "too much work resolving variables");
            }
            if (strcmp(f->v->u.map.entries[j].key, name) == 0) {
                *found = &f->v->u.map.entries[j];
                return 0;
            }
        }
    }
    return 0;
}

/* Fails with the chain of environment variables that leads back to name. */
static int fail_env_cycle(struct parser *p, size_t first, const char *name,
                          const struct mr_conf_pos *at)
{
    char chain[MR_CONF_ERR_MAX / 2];
    size_t o = 0;
    chain[0] = '\0';
    for (size_t i = first; i < p->src_count; i++) {
        if (p->src[i].is_env && o < sizeof(chain)) {
            int w = snprintf(chain + o, sizeof(chain) - o, "$%s -> ", p->src[i].env_name);
            o += w > 0 ? (size_t)w : 0;
        }
    }
    return fail(p, at, "variable reference cycle: %s$%s", chain, name);
}

/* Parses an environment value in place of $name: a source and a frame whose one value
 * goes where the reference was. Takes ownership of k->s. */
static int push_env(struct parser *p, const char *name, const char *value, struct key *k,
                    const struct mr_conf_pos *at)
{
    size_t env_depth = 0;
    for (size_t i = 0; i < p->src_count; i++) {
        if (p->src[i].is_env && strcmp(p->src[i].env_name, name) == 0) {
            free(k->s);
            return fail_env_cycle(p, i, name, at);
        }
        env_depth += p->src[i].is_env ? 1 : 0;
    }
    if (env_depth >= CONF_ENV_DEPTH_MAX) {
        free(k->s);
        return fail_rc(p, MR_E_LIMIT, at, "environment variables nested deeper than %d",
                       CONF_ENV_DEPTH_MAX);
    }
    const char *file = top_source(p)->name;
    size_t len = strlen(value);
    if (push_source(p, NULL, len, xstrndup(value, len), at) != 0) {
        free(k->s);
        return p->rc;
    }
    struct source *s = top_source(p);
    s->text = s->owned;
    s->name = file;
    s->canon = file;
    s->is_env = true;
    s->env_name = xstrndup(name, strlen(name));
    s->ref = *at;
    push_frame(p, FRAME_ENV, ST_ENV_VALUE, NULL, true, at);
    struct frame *f = &p->fr[p->fr_count - 1];
    f->key = k->s;
    f->key_pos = k->pos;
    k->s = NULL;
    return 0;
}

/* Resolves $name: a copy of a value defined earlier in an enclosing map, else the
 * environment value re-parsed as a value. Takes ownership of k->s. */
static int resolve_variable(struct parser *p, const char *name, struct key *k,
                            const struct mr_conf_pos *at)
{
    struct mr_conf_entry *e = NULL;
    if (lookup_scopes(p, name, at, &e) != 0) {
        free(k->s);
        return p->rc;
    }
    if (e != NULL) {
        /* Used as a variable, so callers do not report it as an unknown key. */
        e->used = true;
        struct mr_conf_value *v = NULL;
        if (copy_value(p, e->value, MR_CONF_DEPTH_MAX - p->nesting, at, &v) != 0) {
            free(k->s);
            return p->rc;
        }
        return attach(p, k->s, &k->pos, v);
    }
    const char *value = NULL;
    if (p->io != NULL && p->io->get_env != NULL && name[0] != '\0') {
        value = p->io->get_env(p->io->ctx, name);
    }
    if (value == NULL) {
        free(k->s);
        return fail_rc(p, MR_E_NOT_FOUND, at, "unknown variable \"$%.64s\": not defined "
                       "before in an enclosing map nor in the environment", name);
    }
    return push_env(p, name, value, k, at);
}

/* ---------------------------------------------------------------------------------- */
/* Values after a key or in an array                                                   */

static int open_container(struct parser *p, struct key *k, int c, const struct mr_conf_pos *at)
{
    if (p->nesting >= MR_CONF_DEPTH_MAX) {
        free(k->s);
        return fail_rc(p, MR_E_LIMIT, at, "maps and arrays nested deeper than %d",
                       MR_CONF_DEPTH_MAX);
    }
    struct mr_conf_value *v = new_value(p, c == '{' ? MR_CONF_MAP : MR_CONF_ARRAY, at);
    if (v == NULL) {
        free(k->s);
        return p->rc;
    }
    advance(top_source(p));
    push_frame(p, c == '{' ? FRAME_MAP : FRAME_ARRAY, c == '{' ? ST_KEY : ST_ITEM, v, true, at);
    struct frame *f = &p->fr[p->fr_count - 1];
    f->key = k->s;
    f->key_pos = k->pos;
    k->s = NULL;
    p->nesting++;
    return 0;
}

/* Fails with "expected a value after "key:", found ..." (or in an array, ...). */
static int fail_no_value(struct parser *p, const struct key *k)
{
    if (k->s == NULL) {
        return fail_found(p, "expected a value");
    }
    if (k->sep != 0) {
        return fail_found(p, "expected a value after \"%.40s%c\"", k->s, k->sep);
    }
    return fail_found(p, "expected a value after \"%.40s\"", k->s);
}

/* Reads one value and stores it in the top frame (under k->s in a map), or opens a map,
 * an array or an environment value whose frame stores it when it closes. Takes
 * ownership of k->s. */
static int read_value(struct parser *p, struct key *k)
{
    struct source *s = top_source(p);
    struct mr_conf_pos at = here(p);
    struct mr_conf_value *v = NULL;
    char *var = NULL;
    int c = peek(s, 0);
    int rc;
    if (c == '{' || c == '[') {
        return open_container(p, k, c, &at);
    }
    if (c < 0 || is_nl(c) || c == ',' || c == ';' || c == '}' || c == ']') {
        rc = fail_no_value(p, k);
    } else if (c == '"') {
        rc = scan_dq(p, &v);
    } else if (c == '\'') {
        size_t len = 0;
        char *text = NULL;
        rc = scan_raw_quoted(p, '\'', "string", &text, &len);
        if (rc == 0) {
            v = new_string(p, text, len, true, &at);
            rc = v == NULL ? p->rc : 0;
        }
    } else if (c == '(') {
        rc = scan_block(p, &v);
    } else if (c == '.') {
        rc = fail(p, &at, "a number must start with a digit, not \".\"");
    } else if (c == '-' || is_digit(c)) {
        rc = scan_number(p, &v);
    } else {
        rc = scan_bare(p, &v, &var);
    }
    if (rc != 0) {
        free(k->s);
        return rc;
    }
    if (var != NULL) {
        rc = resolve_variable(p, var, k, &at);
        free(var);
        return rc;
    }
    return attach(p, k->s, &k->pos, v);
}

/* ---------------------------------------------------------------------------------- */
/* Keys and includes                                                                   */

static bool bad_key_start(int c)
{
    return c == ':' || c == '=' || c == ',' || c == ';' || c == '[' || c == ']' || c == '{' ||
           c == '}';
}

static int scan_key(struct parser *p, struct key *k)
{
    struct source *s = top_source(p);
    k->pos = here(p);
    k->sep = 0;
    int c = peek(s, 0);
    if (c == '"' || c == '\'') {
        size_t len = 0;
        return scan_raw_quoted(p, (char)c, "quoted key", &k->s, &len);
    }
    size_t start = s->off;
    for (c = peek(s, 0); c >= 0 && !is_space(c) && c != ':' && c != '='; c = peek(s, 0)) {
        /* nats-server would take the brace into the key ("cluster{") and then fail on
         * what follows; say what is wrong instead. */
        if (c == '{' || c == '}' || c == '[' || c == ']') {
            return fail_found(p, "expected \":\", \"=\" or a space after the key \"%.*s\"",
                              (int)(s->off - start > 40 ? 40 : s->off - start),
                              s->text + start);
        }
        advance(s);
    }
    k->s = xstrndup(s->text + start, s->off - start);
    return 0;
}

/* Fails with the chain of files that leads back to path. */
static int fail_include_cycle(struct parser *p, size_t first, const char *path,
                              const struct mr_conf_pos *at)
{
    char chain[MR_CONF_ERR_MAX / 2];
    size_t o = 0;
    chain[0] = '\0';
    for (size_t i = first; i < p->src_count; i++) {
        if (!p->src[i].is_env && o < sizeof(chain)) {
            int w = snprintf(chain + o, sizeof(chain) - o, "%s -> ", p->src[i].canon);
            o += w > 0 ? (size_t)w : 0;
        }
    }
    return fail(p, at, "include cycle: %s%s", chain, path);
}

/* Checks cycles and depth, reads the file and pushes it with a body frame that adds its
 * keys to the map of frame f. */
static int push_include(struct parser *p, struct frame *f, const char *resolved,
                        const struct mr_conf_pos *at)
{
    size_t files = 0;
    for (size_t i = 0; i < p->src_count; i++) {
        if (!p->src[i].is_env && strcmp(p->src[i].canon, resolved) == 0) {
            return fail_include_cycle(p, i, resolved, at);
        }
        files += p->src[i].is_env ? 0 : 1;
    }
    if (files > MR_CONF_INCLUDE_DEPTH_MAX) {
        return fail_rc(p, MR_E_LIMIT, at, "includes nested deeper than %d",
                       MR_CONF_INCLUDE_DEPTH_MAX);
    }
    if (++p->includes > CONF_INCLUDES_MAX) {
        return fail_rc(p, MR_E_LIMIT, at, "more than %d includes", CONF_INCLUDES_MAX);
    }
    if (p->io == NULL || p->io->read_file == NULL) {
        return fail_rc(p, MR_E_UNSUPPORTED, at, "cannot include \"%s\": no file access",
                       resolved);
    }
    char *data = NULL;
    size_t len = 0;
    char reason[MR_CONF_ERR_MAX / 2] = {0};
    int rc = p->io->read_file(p->io->ctx, resolved, &data, &len, reason, sizeof(reason));
    if (rc != 0) {
        free(data);
        reason[sizeof(reason) - 1] = '\0';
        return fail_rc(p, rc < 0 ? rc : MR_E_IO, at, "cannot read include file \"%s\": %s",
                       resolved, reason[0] != '\0' ? reason : mr_err_text(rc));
    }
    if (len > MR_CONF_FILE_BYTES_MAX) {
        free(data);
        return fail_rc(p, MR_E_LIMIT, at, "include file \"%s\" is larger than %d bytes",
                       resolved, MR_CONF_FILE_BYTES_MAX);
    }
    if (push_source(p, data, len, data, at) != 0) {
        return p->rc;
    }
    struct source *s = top_source(p);
    s->name = intern(p, resolved);
    s->canon = s->name;
    struct mr_conf_pos start = {s->name, 1, 1};
    push_frame(p, FRAME_BODY, ST_KEY, f->v, false, &start);
    p->fr[p->fr_count - 1].entry_base = f->v->u.map.count;
    return check_no_nul(p);
}

/* `include path` (the keyword has been read): path quoted or bare, relative to the
 * directory of the including file. */
static int read_include(struct parser *p, struct frame *f, const struct mr_conf_pos *at)
{
    struct source *s = top_source(p);
    skip_blank(s);
    int c = peek(s, 0);
    if (c < 0 || is_nl(c) || c == '[' || c == '{' || c == '(' || c == '-' || c == '\\' ||
        is_digit(c)) {
        return fail_found(p, "expected a file name after \"include\"");
    }
    char *path = NULL;
    size_t len = 0;
    if (c == '"' || c == '\'') {
        if (scan_raw_quoted(p, (char)c, "file name", &path, &len) != 0) {
            return p->rc;
        }
    } else {
        size_t start = s->off;
        while (!ends_bare(peek(s, 0))) {
            advance(s);
        }
        len = s->off - start;
        path = xstrndup(s->text + start, len);
    }
    if (len == 0) {
        free(path);
        return fail(p, at, "the file name after \"include\" is empty");
    }
    snprintf(p->last, sizeof(p->last), "include \"%.40s\"", path);
    char *resolved = resolve_include(s->name, path);
    free(path);
    f->state = ST_VALUE_END;
    int rc = push_include(p, f, resolved, at);
    free(resolved);
    return rc;
}

/* Reads `key [:|=] value` or `include path` into the map of frame f. */
static int read_entry(struct parser *p, struct frame *f)
{
    struct key k = {0};
    struct source *s = top_source(p);
    bool quoted = peek(s, 0) == '"' || peek(s, 0) == '\'';
    if (scan_key(p, &k) != 0) {
        return p->rc;
    }
    if (!quoted && ascii_ieq(k.s, "include") && is_space(peek(s, 0))) {
        free(k.s);
        return read_include(p, f, &k.pos);
    }
    while (is_space(peek(s, 0))) {
        advance(s);
    }
    if (peek(s, 0) == ':' || peek(s, 0) == '=') {
        k.sep = (char)peek(s, 0);
        advance(s);
        /* At the top level of a file the value must be on the separator's line; inside
         * a map it may be on a later one (nats-server's lexValue / lexMapValue). */
        if (f->kind == FRAME_MAP) {
            while (is_space(peek(s, 0))) {
                advance(s);
            }
        } else {
            skip_blank(s);
        }
    }
    f->state = ST_VALUE_END;
    return read_value(p, &k);
}

/* ---------------------------------------------------------------------------------- */
/* Frame steps                                                                         */

/* Closes the top MAP or ARRAY frame and stores its value in the frame below. */
static int close_container(struct parser *p)
{
    struct frame f = p->fr[--p->fr_count];
    mr_assert(f.kind == FRAME_MAP || f.kind == FRAME_ARRAY);
    mr_assert(p->nesting > 0);
    p->nesting--;
    advance(top_source(p));
    return attach(p, f.key, &f.key_pos, f.v);
}

/* The end of a file: pops its body frame and its source. */
static int end_body(struct parser *p, struct frame *f)
{
    if (f->braced && f->state != ST_BRACE_CLOSED) {
        struct mr_conf_pos pos = here(p);
        return fail(p, &pos, "unterminated \"{\" started at %u:%u", (unsigned)f->open_pos.line,
                    (unsigned)f->open_pos.col);
    }
    struct source *s = top_source(p);
    if (p->fr_count > 1) {
        snprintf(p->last, sizeof(p->last), "include \"%.40s\"", s->name);
    }
    p->fr_count--;
    pop_source(p);
    return 0;
}

static int unterminated(struct parser *p, const struct frame *f)
{
    struct mr_conf_pos pos = here(p);
    return fail(p, &pos, "unterminated %s started at %u:%u",
                f->kind == FRAME_MAP ? "map" : "array", (unsigned)f->open_pos.line,
                (unsigned)f->open_pos.col);
}

/* A '}' in a body: closes a braced file, else there is no map to close. */
static int body_brace(struct parser *p, struct frame *f)
{
    struct source *s = top_source(p);
    if (!f->braced || f->state == ST_BRACE_CLOSED) {
        return fail_found(p, "expected a key (no map is open here)");
    }
    advance(s);
    f->state = ST_BRACE_CLOSED;
    return 0;
}

/* BODY and MAP, before a key. Stray ';' are skipped as nats-server does (`port: 1;;`),
 * and ',' too at the top level. */
static int step_key(struct parser *p, struct frame *f)
{
    struct source *s = top_source(p);
    for (;;) {
        skip_space_comments(s);
        int c = peek(s, 0);
        if (c == ';' || (c == ',' && f->kind == FRAME_BODY)) {
            advance(s);
            continue;
        }
        break;
    }
    int c = peek(s, 0);
    if (f->kind == FRAME_MAP) {
        if (c < 0) {
            return unterminated(p, f);
        }
        if (c == '}') {
            return close_container(p);
        }
    } else {
        if (c < 0) {
            return end_body(p, f);
        }
        if (c == '{' && !f->braced && !f->seen_key) {
            f->braced = true;
            f->open_pos = here(p);
            advance(s);
            return 0;
        }
        if (c == '}') {
            return body_brace(p, f);
        }
    }
    if (bad_key_start(c)) {
        return fail_found(p, "expected a key");
    }
    f->seen_key = true;
    return read_entry(p, f);
}

/* BODY and MAP, after a value: a newline, ';' or ',' ends it; '}' closes the map. */
static int step_value_end(struct parser *p, struct frame *f)
{
    struct source *s = top_source(p);
    skip_blank(s);
    if (at_comment(s)) {
        skip_comment(s);
    }
    int c = peek(s, 0);
    if (is_nl(c) || c == ';' || c == ',') {
        advance(s);
        f->state = ST_KEY;
        return 0;
    }
    if (c < 0) {
        if (f->kind == FRAME_MAP) {
            return unterminated(p, f);
        }
        f->state = ST_KEY;
        return 0;
    }
    if (c == '}') {
        if (f->kind == FRAME_MAP) {
            return close_container(p);
        }
        return body_brace(p, f);
    }
    if (f->kind == FRAME_MAP) {
        return fail_found(p, "expected a newline, \",\", \";\" or \"}\" after %s", p->last);
    }
    return fail_found(p, "expected a newline, \";\" or \",\" after %s", p->last);
}

/* BODY after the '}' of a braced file: only comments and whitespace may follow. */
static int step_brace_closed(struct parser *p, struct frame *f)
{
    struct source *s = top_source(p);
    skip_space_comments(s);
    if (peek(s, 0) >= 0) {
        return fail_found(p, "expected the end of the file after the closing \"}\"");
    }
    return end_body(p, f);
}

/* ARRAY, before an element. */
static int step_item(struct parser *p, struct frame *f)
{
    struct source *s = top_source(p);
    skip_space_comments(s);
    int c = peek(s, 0);
    if (c < 0) {
        return unterminated(p, f);
    }
    if (c == ']') {
        return close_container(p);
    }
    struct key k = {0};
    f->state = ST_ITEM_END;
    return read_value(p, &k);
}

/* ARRAY, after an element: ',' or a newline, or ']'. */
static int step_item_end(struct parser *p, struct frame *f)
{
    struct source *s = top_source(p);
    skip_blank(s);
    if (at_comment(s)) {
        skip_comment(s);
    }
    int c = peek(s, 0);
    if (c == ',' || is_nl(c)) {
        advance(s);
        f->state = ST_ITEM;
        return 0;
    }
    if (c == ']') {
        return close_container(p);
    }
    if (c < 0) {
        return unterminated(p, f);
    }
    return fail_found(p, "expected \",\", a newline or \"]\" after an array element");
}

/* ENV, before its value. An empty value is the empty string, as in nats-server. */
static int step_env_value(struct parser *p, struct frame *f)
{
    struct source *s = top_source(p);
    skip_blank(s);
    if (peek(s, 0) < 0) {
        struct mr_conf_pos at = here(p);
        struct mr_conf_value *v = new_string(p, xcalloc(1, 1), 0, false, &at);
        if (v == NULL) {
            return p->rc;
        }
        return attach(p, NULL, &at, v);
    }
    struct key k = {0};
    f->state = ST_ENV_END;
    return read_value(p, &k);
}

/* ENV, after its value: only whitespace, comments, ';' or ',' may follow. At the end,
 * the value goes where $NAME was written. */
static int step_env_end(struct parser *p, struct frame *f)
{
    struct source *s = top_source(p);
    for (;;) {
        skip_space_comments(s);
        if (peek(s, 0) != ';' && peek(s, 0) != ',') {
            break;
        }
        advance(s);
    }
    if (peek(s, 0) >= 0) {
        return fail_found(p, "expected the end of the value");
    }
    mr_assert(f->v != NULL);
    struct frame done = *f;
    p->fr_count--;
    pop_source(p);
    return attach(p, done.key, &done.key_pos, done.v);
}

static int run(struct parser *p)
{
    while (p->fr_count > 0) {
        struct frame *f = &p->fr[p->fr_count - 1];
        int rc = MR_E_INVAL;
        switch (f->state) {
        case ST_KEY:
            rc = step_key(p, f);
            break;
        case ST_VALUE_END:
            rc = step_value_end(p, f);
            break;
        case ST_BRACE_CLOSED:
            rc = step_brace_closed(p, f);
            break;
        case ST_ITEM:
            rc = step_item(p, f);
            break;
        case ST_ITEM_END:
            rc = step_item_end(p, f);
            break;
        case ST_ENV_VALUE:
            rc = step_env_value(p, f);
            break;
        case ST_ENV_END:
            rc = step_env_end(p, f);
            break;
        }
        if (rc != 0) {
            mr_assert(p->rc != 0);
            return p->rc;
        }
    }
    return 0;
}

/* Frees what the frames and sources still hold after an error. */
static void cleanup(struct parser *p)
{
    while (p->fr_count > 0) {
        struct frame *f = &p->fr[--p->fr_count];
        free(f->key);
        if (f->owns_v) {
            free_value(f->v);
        }
    }
    while (p->src_count > 0) {
        struct source *s = &p->src[--p->src_count];
        free(s->owned);
        free(s->env_name);
    }
}

/* ---------------------------------------------------------------------------------- */
/* API                                                                                 */

int mr_conf_parse(const char *path, const char *text, size_t len, const struct mr_conf_io *io,
                  struct mr_conf_value **out, char *err, size_t err_len)
{
    mr_assert(path != NULL);
    mr_assert(out != NULL);
    mr_assert(text != NULL || len == 0);
    *out = NULL;
    if (err != NULL && err_len > 0) {
        err[0] = '\0';
    }
    struct parser *p = xcalloc(1, sizeof(*p));
    p->io = io;
    p->err = err;
    p->err_len = err_len;
    p->root = xcalloc(1, sizeof(*p->root));
    p->root->magic = ROOT_MAGIC;
    p->root->v.type = MR_CONF_MAP;
    const char *name = intern(p, path);
    struct mr_conf_pos start = {name, 1, 1};
    p->root->v.pos = start;
    int rc;
    if (len > MR_CONF_FILE_BYTES_MAX) {
        rc = fail_rc(p, MR_E_LIMIT, &start, "the file is larger than %d bytes",
                     MR_CONF_FILE_BYTES_MAX);
    } else {
        rc = push_source(p, text != NULL ? text : "", len, NULL, &start);
    }
    if (rc == 0) {
        char *canon = clean_path(path);
        top_source(p)->name = name;
        top_source(p)->canon = intern(p, canon);
        free(canon);
        push_frame(p, FRAME_BODY, ST_KEY, &p->root->v, false, &start);
        rc = check_no_nul(p);
    }
    if (rc == 0) {
        rc = run(p);
    }
    if (rc != 0) {
        cleanup(p);
        free_root(p->root);
    } else {
        mr_assert(p->src_count == 0);
        mr_assert(p->nesting == 0);
        *out = &p->root->v;
    }
    free(p);
    return rc;
}

int mr_conf_parse_file(const char *path, const struct mr_conf_io *io, struct mr_conf_value **out,
                       char *err, size_t err_len)
{
    mr_assert(path != NULL);
    mr_assert(out != NULL);
    mr_assert(io != NULL);
    mr_assert(io->read_file != NULL);
    *out = NULL;
    char *data = NULL;
    size_t len = 0;
    char reason[MR_CONF_ERR_MAX / 2] = {0};
    int rc = io->read_file(io->ctx, path, &data, &len, reason, sizeof(reason));
    if (rc != 0) {
        free(data);
        reason[sizeof(reason) - 1] = '\0';
        if (err != NULL && err_len > 0) {
            snprintf(err, err_len, "%s: cannot read the file: %s", path,
                     reason[0] != '\0' ? reason : mr_err_text(rc));
        }
        return rc < 0 ? rc : MR_E_IO;
    }
    rc = mr_conf_parse(path, data, len, io, out, err, err_len);
    free(data);
    return rc;
}

void mr_conf_free(struct mr_conf_value *v)
{
    if (v == NULL) {
        return;
    }
    /* Only the root that mr_conf_parse returned may be freed: it carries the names. */
    free_root((struct conf_root *)v);
}

struct mr_conf_entry *mr_conf_get_entry(struct mr_conf_value *map, const char *key)
{
    mr_assert(key != NULL);
    if (map == NULL || map->type != MR_CONF_MAP) {
        return NULL;
    }
    /* Every duplicate is marked used, so the earlier ones are not reported as unknown. */
    struct mr_conf_entry *found = NULL;
    for (size_t i = 0; i < map->u.map.count; i++) {
        struct mr_conf_entry *e = &map->u.map.entries[i];
        if (ascii_ieq(e->key, key)) {
            e->used = true;
            found = e;
        }
    }
    return found;
}

struct mr_conf_value *mr_conf_get(struct mr_conf_value *map, const char *key)
{
    struct mr_conf_entry *e = mr_conf_get_entry(map, key);
    return e != NULL ? e->value : NULL;
}

struct mr_conf_value *mr_conf_get_any(struct mr_conf_value *map, const char *const *keys)
{
    mr_assert(keys != NULL);
    for (size_t i = 0; keys[i] != NULL; i++) {
        struct mr_conf_value *v = mr_conf_get(map, keys[i]);
        if (v != NULL) {
            return v;
        }
    }
    return NULL;
}

/* One Go duration unit: its spelling and nanoseconds. */
struct duration_unit {
    const char *name;
    uint64_t ns;
};

static const struct duration_unit duration_units[] = {
    {"ns", 1},
    {"us", 1000},
    {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000}, /* U+03BC Greek mu */
    {"ms", 1000000},
    {"s", 1000000000},
    {"m", 60ull * 1000000000},
    {"h", 3600ull * 1000000000},
};

/* Go's time.ParseDuration, for non-negative results: [+-]? ("0" | (number unit)+) with
 * number = digits [. digits] (at least one digit) and the total at most 2^63-1 ns. */
static int parse_go_duration(const char *s, size_t len, uint64_t *out)
{
    const uint64_t max = (uint64_t)INT64_MAX;
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '-' || s[i] == '+')) {
        neg = s[i] == '-';
        i++;
    }
    if (len - i == 1 && s[i] == '0') {
        *out = 0;
        return 0;
    }
    if (i == len) {
        return MR_E_INVAL;
    }
    uint64_t total = 0;
    while (i < len) {
        uint64_t whole = 0;
        size_t digits = 0;
        for (; i < len && is_digit(s[i]); i++, digits++) {
            uint64_t d = (uint64_t)(s[i] - '0');
            if (whole > (max - d) / 10) {
                return MR_E_INVAL;
            }
            whole = whole * 10 + d;
        }
        uint64_t frac = 0;
        double scale = 1;
        if (i < len && s[i] == '.') {
            for (i++; i < len && is_digit(s[i]); i++, digits++) {
                /* Digits past what 64 bits hold change nothing that survives rounding. */
                if (frac < max / 10) {
                    frac = frac * 10 + (uint64_t)(s[i] - '0');
                    scale *= 10;
                }
            }
        }
        if (digits == 0) {
            return MR_E_INVAL;
        }
        size_t u = i;
        while (i < len && s[i] != '.' && !is_digit(s[i])) {
            i++;
        }
        const struct duration_unit *unit = NULL;
        for (size_t k = 0; k < sizeof(duration_units) / sizeof(duration_units[0]); k++) {
            const char *n = duration_units[k].name;
            if (strlen(n) == i - u && memcmp(n, s + u, i - u) == 0) {
                unit = &duration_units[k];
            }
        }
        if (unit == NULL || whole > max / unit->ns) {
            return MR_E_INVAL;
        }
        uint64_t v = whole * unit->ns;
        v += (uint64_t)((double)frac * ((double)unit->ns / scale));
        if (v > max - total) {
            return MR_E_INVAL;
        }
        total += v;
    }
    if (neg && total != 0) {
        return MR_E_INVAL;
    }
    *out = total;
    return 0;
}

int mr_conf_duration_ns(const struct mr_conf_value *v, uint64_t *out, bool *legacy_seconds)
{
    mr_assert(out != NULL);
    if (legacy_seconds != NULL) {
        *legacy_seconds = false;
    }
    if (v == NULL) {
        return MR_E_INVAL;
    }
    if (v->type == MR_CONF_STRING) {
        return parse_go_duration(v->u.str.s, v->u.str.len, out);
    }
    if (v->type == MR_CONF_INT) {
        if (v->u.i < 0 || v->u.i > INT64_MAX / 1000000000) {
            return MR_E_INVAL;
        }
        *out = (uint64_t)v->u.i * 1000000000u;
    } else if (v->type == MR_CONF_FLOAT) {
        /* The negated test also rejects NaN. */
        if (!(v->u.f >= 0 && v->u.f * 1e9 < 9.2e18)) {
            return MR_E_INVAL;
        }
        *out = (uint64_t)(v->u.f * 1e9);
    } else {
        return MR_E_INVAL;
    }
    if (legacy_seconds != NULL) {
        *legacy_seconds = true;
    }
    return 0;
}

void mr_conf_pos_format(const struct mr_conf_pos *pos, char *buf, size_t len)
{
    mr_assert(pos != NULL);
    if (buf == NULL || len == 0) {
        return;
    }
    snprintf(buf, len, "%s:%u:%u", pos->file != NULL ? pos->file : "?", (unsigned)pos->line,
             (unsigned)pos->col);
}

const char *mr_conf_type_name(enum mr_conf_type t)
{
    switch (t) {
    case MR_CONF_MAP:
        return "map";
    case MR_CONF_ARRAY:
        return "array";
    case MR_CONF_STRING:
        return "string";
    case MR_CONF_INT:
        return "integer";
    case MR_CONF_FLOAT:
        return "float";
    case MR_CONF_BOOL:
        return "boolean";
    }
    return "unknown";
}
