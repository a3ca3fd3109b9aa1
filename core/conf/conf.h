/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NATS configuration language (shared reference config.md section 1), parsed into
 * a tree of values that remember where they came from. One parser serves server
 * configs and simulator scenario files.
 *
 * Syntax: `key: value`, `key = value`, `key value`; maps `{}` and arrays `[]` with
 * commas or newlines; `#` and `//` comments; bare, "double" (escapes) and 'single'
 * quoted strings and ( ... ) block strings; integers with size suffixes (1K=1000,
 * 1KB=1KiB=1024, M, MB, G, GB, T, ...); floats; booleans true/false/yes/no/on/off;
 * `$VAR` references (enclosing scopes, inner to outer, then the process environment,
 * re-parsed as a value); `include "file"` relative to the including file, with cycle
 * detection. Durations stay strings ("2s"); mr_conf_duration_ns() interprets them.
 *
 * The core reads no files and no environment: the caller passes a struct mr_conf_io
 * whose read_file and get_env do that (tools and the simulator provide one).
 *
 * Ownership: mr_conf_parse returns a tree the caller frees with mr_conf_free. Every
 * value and key keeps its position (file, line, column; 1-based); file names are owned
 * by the tree. Map entries keep file order (duplicates: the last one wins on lookup,
 * as nats-server does, but all stay in the tree for error reporting).
 */
#ifndef MR_CONF_H
#define MR_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds: nesting depth, include depth, file size. Over them: a parse error. */
#define MR_CONF_DEPTH_MAX 64
#define MR_CONF_INCLUDE_DEPTH_MAX 16
#define MR_CONF_FILE_BYTES_MAX (16 * 1024 * 1024)
#define MR_CONF_ERR_MAX 512

enum mr_conf_type {
    MR_CONF_MAP = 1,
    MR_CONF_ARRAY,
    MR_CONF_STRING,
    MR_CONF_INT,
    MR_CONF_FLOAT,
    MR_CONF_BOOL,
};

struct mr_conf_pos {
    const char *file; /* as given to mr_conf_parse or the include path as resolved */
    uint32_t line;
    uint32_t col;
};

struct mr_conf_value;

struct mr_conf_entry {
    char *key; /* as written (case kept); lookups fold ASCII case */
    struct mr_conf_pos key_pos;
    struct mr_conf_value *value;
    bool used; /* set by lookups, so callers can report unknown keys */
};

struct mr_conf_value {
    enum mr_conf_type type;
    struct mr_conf_pos pos;
    bool quoted; /* STRING: written in quotes (so "$X" was not a variable) */
    union {
        struct {
            struct mr_conf_entry *entries;
            size_t count;
        } map;
        struct {
            struct mr_conf_value **items;
            size_t count;
        } array;
        struct {
            char *s; /* NUL-terminated; len excludes the NUL */
            size_t len;
        } str;
        int64_t i;
        double f;
        bool b;
    } u;
};

struct mr_conf_io {
    void *ctx;
    /* Reads a whole file; *data is freed by the parser with free(). Returns 0 or a
     * negative mr_err, with a reason in err. */
    int (*read_file)(void *ctx, const char *path, char **data, size_t *len, char *err,
                     size_t err_len);
    /* Returns the environment variable or NULL. */
    const char *(*get_env)(void *ctx, const char *name);
};

/*
 * Parses text (the contents of file `path`, used for messages and as the base of
 * relative includes). Returns 0 and *out, or a negative mr_err with err holding
 * "file:line:col: what was wrong (and what was expected)". io may be NULL when the
 * text has no include and no environment variable.
 */
int mr_conf_parse(const char *path, const char *text, size_t len, const struct mr_conf_io *io,
                  struct mr_conf_value **out, char *err, size_t err_len);
/* Reads path through io and parses it. */
int mr_conf_parse_file(const char *path, const struct mr_conf_io *io, struct mr_conf_value **out,
                       char *err, size_t err_len);
void mr_conf_free(struct mr_conf_value *v);

/* Map lookup, ASCII case-insensitive, last duplicate wins; marks the entry used.
 * Returns NULL when map is not a map or has no such key. */
struct mr_conf_value *mr_conf_get(struct mr_conf_value *map, const char *key);
/* As mr_conf_get, trying each alias in order (NULL-terminated list). */
struct mr_conf_value *mr_conf_get_any(struct mr_conf_value *map, const char *const *keys);
/* The entry of a lookup (for its key position), or NULL. */
struct mr_conf_entry *mr_conf_get_entry(struct mr_conf_value *map, const char *key);

/* Interprets a duration: a string in Go syntax ("1m30s", "500ms", "2h") or a bare number
 * of seconds (legacy; *legacy_seconds set so the caller can warn). Returns 0 or
 * MR_E_INVAL. */
int mr_conf_duration_ns(const struct mr_conf_value *v, uint64_t *out, bool *legacy_seconds);
/* Writes "file:line:col" of pos into buf. */
void mr_conf_pos_format(const struct mr_conf_pos *pos, char *buf, size_t len);
/* "map", "array", "string", ... for messages. */
const char *mr_conf_type_name(enum mr_conf_type t);

#endif
