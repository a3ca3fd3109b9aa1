/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The configuration loader: walks a parsed tree (core/conf/conf.h) key by key, with
 * nats-server's key names and aliases (server/opts.go), and fills struct mr_config
 * (conf_server.h). Keys are matched case-insensitively; when a key appears twice in
 * one map only the last one counts, as in nats-server. Unknown keys are errors
 * ("unknown field"), except keys that only define a variable.
 *
 * Order: system_account, authorization and accounts go first (users, accounts and their
 * cross-references must be known before anything refers to them), then every other key
 * in file order; whole-config checks (max_payload against max_pending, the system
 * account, no_auth_user, gateway and leafnode references) run last. The first error
 * stops the load.
 *
 * Invariants of a loaded config: every user has a unique name; every user's account,
 * every export's account list and every import's account exist in auth->accounts;
 * every import is authorized by an export of its account; every subject in permissions,
 * exports and imports is valid; default_permissions have been copied into the users they
 * govern (nats-server applies them at load time too), so auth->default_permissions stays
 * NULL. A publish permission with allow_responses but no allow list becomes a deny of
 * ">" (responses are still granted): nats-server's "allow nothing but responses".
 *
 * Ownership: every string and array hanging off the config is GLib-allocated and owned
 * by it (mr_conf_server_deinit, mr_auth_opts_free). Nothing keeps a pointer into the
 * tree; positions of values checked after the walk are borrowed only during the load.
 */
#include "core/conf/conf_server.h"

#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/proto/subject.h"

/* A key's id in its table when Meridian accepts it with a notice, or refuses it. */
#define K_IGNORED (-2)
#define K_REFUSED (-3)
#define KEY_NAMES_MAX 7

#define NS_PER_SEC 1000000000ULL

struct key {
    const char *names[KEY_NAMES_MAX]; /* lower case; the first is the canonical name */
    int id;
    const char *what; /* K_IGNORED, K_REFUSED: the feature, named in the message */
};

/* How a map names a key it does not know (nats-server words it per block). */
enum unknown_style {
    U_FIELD,         /* unknown field "x" */
    U_PERMISSIONS,   /* Unknown field "x" parsing permissions */
    U_SUBJECT_PERMS, /* Unknown field name "x" parsing subject permissions, ... */
    U_LIMITS,        /* Unknown field "x" parsing account limits */
    U_TLS,           /* error parsing tls config, unknown field ["x"] */
};

struct loader {
    struct mr_config *cfg;
    mr_conf_warn_fn warn;
    void *warn_ctx;
    char *err;
    size_t err_len;
    /* Every user name seen (also users that are not loaded), for duplicates. */
    GHashTable *user_names;
    /* Positions of each export and import (in account order), for the checks that
     * run once every account is known. Borrowed from the tree during the load. */
    GArray *export_pos;
    GArray *import_pos;
    /* Values checked after the walk; borrowed from the tree. */
    const struct mr_conf_value *port_v;
    const struct mr_conf_value *http_v;
    const struct mr_conf_value *max_payload_v;
    const struct mr_conf_value *system_account_v;
    const struct mr_conf_value *no_auth_user_v;
    const struct mr_conf_value *leaf_auth_v;
    bool users_listed; /* a users array (authorization or accounts) was given */
};

/* ---------------------------------------------------------------------------------
 * Messages
 * --------------------------------------------------------------------------------- */

G_GNUC_PRINTF(4, 5)
static int fail(struct loader *l, int rc, const struct mr_conf_pos *pos, const char *fmt, ...)
{
    mr_assert(rc < 0);
    char msg[MR_CONF_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (l->err_len == 0) {
        return rc;
    }
    if (pos != NULL && pos->file != NULL) {
        char where[MR_CONF_WHERE_MAX];
        mr_conf_pos_format(pos, where, sizeof(where));
        g_snprintf(l->err, (gulong)l->err_len, "%s: %s", where, msg);
    } else {
        g_strlcpy(l->err, msg, l->err_len);
    }
    return rc;
}

G_GNUC_PRINTF(4, 5)
static void warn(struct loader *l, enum mr_conf_warn_kind kind, const struct mr_conf_pos *pos,
                 const char *fmt, ...)
{
    if (l->warn == NULL) {
        return;
    }
    char msg[MR_CONF_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char line[MR_CONF_MSG_MAX + MR_CONF_WHERE_MAX];
    if (pos != NULL && pos->file != NULL) {
        char where[MR_CONF_WHERE_MAX];
        mr_conf_pos_format(pos, where, sizeof(where));
        g_snprintf(line, sizeof(line), "%s: %s", where, msg);
    } else {
        g_strlcpy(line, msg, sizeof(line));
    }
    l->warn(l->warn_ctx, kind, line);
}

static void where_of(const struct mr_conf_pos *pos, char *buf, size_t len)
{
    buf[0] = '\0';
    if (pos != NULL && pos->file != NULL) {
        mr_conf_pos_format(pos, buf, len);
    }
}

static const char *a_type(enum mr_conf_type t)
{
    switch (t) {
    case MR_CONF_MAP:
        return "a map";
    case MR_CONF_ARRAY:
        return "an array";
    case MR_CONF_STRING:
        return "a string";
    case MR_CONF_INT:
        return "an integer";
    case MR_CONF_FLOAT:
        return "a float";
    case MR_CONF_BOOL:
        return "a boolean";
    }
    return "a value";
}

/* ---------------------------------------------------------------------------------
 * Values
 * --------------------------------------------------------------------------------- */

static int want(struct loader *l, const struct mr_conf_entry *e, enum mr_conf_type t)
{
    if (e->value->type == t) {
        return 0;
    }
    return fail(l, MR_E_INVAL, &e->value->pos, "expected \"%s\" to be %s, got %s", e->key,
                a_type(t), a_type(e->value->type));
}

static int get_str(struct loader *l, const struct mr_conf_entry *e, char **out)
{
    int rc = want(l, e, MR_CONF_STRING);
    if (rc != 0) {
        return rc;
    }
    g_free(*out);
    *out = g_strdup(e->value->u.str.s);
    return 0;
}

static int copy_buf(struct loader *l, const struct mr_conf_value *v, const char *key, const char *s,
                    char *buf, size_t len)
{
    if (strlen(s) >= len) {
        return fail(l, MR_E_INVAL, &v->pos, "\"%s\" is too long (at most %zu bytes)", key, len - 1);
    }
    g_strlcpy(buf, s, len);
    return 0;
}

static int get_buf(struct loader *l, const struct mr_conf_entry *e, char *buf, size_t len)
{
    int rc = want(l, e, MR_CONF_STRING);
    if (rc != 0) {
        return rc;
    }
    return copy_buf(l, e->value, e->key, e->value->u.str.s, buf, len);
}

static int get_bool(struct loader *l, const struct mr_conf_entry *e, bool *out)
{
    int rc = want(l, e, MR_CONF_BOOL);
    if (rc == 0) {
        *out = e->value->u.b;
    }
    return rc;
}

static int get_int(struct loader *l, const struct mr_conf_entry *e, int64_t *out)
{
    int rc = want(l, e, MR_CONF_INT);
    if (rc == 0) {
        *out = e->value->u.i;
    }
    return rc;
}

static int get_int_range(struct loader *l, const struct mr_conf_entry *e, int64_t min, int64_t max,
                         int64_t *out)
{
    int64_t n = 0;
    int rc = get_int(l, e, &n);
    if (rc != 0) {
        return rc;
    }
    if (n < min || n > max) {
        return fail(l, MR_E_INVAL, &e->value->pos,
                    "invalid value %lld for \"%s\": must be between %lld and %lld", (long long)n,
                    e->key, (long long)min, (long long)max);
    }
    *out = n;
    return 0;
}

static int get_i32(struct loader *l, const struct mr_conf_entry *e, int32_t *out)
{
    int64_t n = 0;
    int rc = get_int_range(l, e, INT32_MIN, INT32_MAX, &n);
    if (rc == 0) {
        *out = (int32_t)n;
    }
    return rc;
}

/*
 * A duration: a Go duration string, or (legacy) an integer number of seconds, which
 * nats-server accepts with a warning that makes `nats-server -t` fail.
 */
static int get_duration(struct loader *l, const struct mr_conf_entry *e, uint64_t *out)
{
    const struct mr_conf_value *v = e->value;
    if (v->type != MR_CONF_STRING && v->type != MR_CONF_INT) {
        return fail(l, MR_E_INVAL, &v->pos,
                    "expected \"%s\" to be a duration (\"2s\", \"1m30s\"), got %s", e->key,
                    a_type(v->type));
    }
    bool legacy = false;
    uint64_t ns = 0;
    if (mr_conf_duration_ns(v, &ns, &legacy) != 0) {
        if (v->type == MR_CONF_INT) {
            return fail(l, MR_E_INVAL, &v->pos, "error parsing %s: invalid duration %lld", e->key,
                        (long long)v->u.i);
        }
        return fail(l, MR_E_INVAL, &v->pos, "error parsing %s: time: invalid duration \"%s\"",
                    e->key, v->u.str.s);
    }
    if (legacy) {
        warn(l, MR_CONF_WARN_COMPAT, &v->pos,
             "invalid use of field \"%s\": %s should be converted to a duration", e->key, e->key);
    }
    *out = ns;
    return 0;
}

/*
 * A timeout in seconds (integer or float) or a duration string, as authorization and
 * TLS timeouts are; "what" names the block in nats-server's messages ("authorization",
 * "tls"). An authorization timeout over a minute gets nats-server's warning: it is
 * usually an unquoted duration.
 */
static int get_seconds(struct loader *l, const struct mr_conf_entry *e, const char *what,
                       uint64_t *out)
{
    const struct mr_conf_value *v = e->value;
    double s = 0;
    char shown[64] = "";
    if (v->type == MR_CONF_INT) {
        s = (double)v->u.i;
        g_snprintf(shown, sizeof(shown), "%lld", (long long)v->u.i);
    } else if (v->type == MR_CONF_FLOAT) {
        s = v->u.f;
        g_snprintf(shown, sizeof(shown), "%g", v->u.f);
    } else if (v->type == MR_CONF_STRING) {
        bool legacy = false;
        uint64_t ns = 0;
        if (mr_conf_duration_ns(v, &ns, &legacy) != 0) {
            return fail(l, MR_E_INVAL, &v->pos,
                        "error parsing %s config, '%s' time: invalid duration \"%s\"", what, e->key,
                        v->u.str.s);
        }
        s = (double)ns / (double)NS_PER_SEC;
        g_strlcpy(shown, v->u.str.s, sizeof(shown));
    } else {
        return fail(l, MR_E_INVAL, &v->pos, "error parsing %s config, '%s' wrong type", what,
                    e->key);
    }
    /* 10 years bounds the conversion; nobody waits longer for a handshake. */
    if (!(s >= 0 && s <= 315360000.0)) {
        return fail(l, MR_E_INVAL, &v->pos, "error parsing %s config, '%s' must be positive", what,
                    e->key);
    }
    if (strcmp(what, "authorization") == 0 && s > 60) {
        warn(l, MR_CONF_WARN_COMPAT, &v->pos,
             "invalid use of field \"%s\": timeout of %s (%f seconds) is high, consider keeping "
             "it under 60 seconds. possibly caused by unquoted duration; use '1m' instead of 1m, "
             "for example",
             e->key, shown, s);
    }
    *out = (uint64_t)(s * (double)NS_PER_SEC);
    return 0;
}

/* A string or an array of strings (nats-server's parseStringArray). */
static int get_strings(struct loader *l, const struct mr_conf_entry *e, struct mr_conf_strings *out)
{
    const struct mr_conf_value *v = e->value;
    if (v->type == MR_CONF_STRING) {
        out->items = g_renew(char *, out->items, out->count + 1);
        out->items[out->count++] = g_strdup(v->u.str.s);
        return 0;
    }
    if (v->type != MR_CONF_ARRAY) {
        return fail(l, MR_E_INVAL, &v->pos, "error parsing %s: unsupported type %s", e->key,
                    a_type(v->type));
    }
    for (size_t i = 0; i < v->u.array.count; i++) {
        const struct mr_conf_value *it = v->u.array.items[i];
        if (it->type != MR_CONF_STRING) {
            return fail(l, MR_E_INVAL, &it->pos, "error parsing %s: unsupported type in array: %s",
                        e->key, a_type(it->type));
        }
        out->items = g_renew(char *, out->items, out->count + 1);
        out->items[out->count++] = g_strdup(it->u.str.s);
    }
    return 0;
}

static void strings_clear(struct mr_conf_strings *s)
{
    for (size_t i = 0; i < s->count; i++) {
        g_free(s->items[i]);
    }
    g_free(s->items);
    s->items = NULL;
    s->count = 0;
}

/* Go's strconv.Atoi over a whole string (sign allowed), into an int. */
static bool parse_int(const char *s, int *out)
{
    const char *p = s;
    bool neg = false;
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    if (*p == '\0') {
        return false;
    }
    long long n = 0;
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || n > 100000000LL) {
            return false;
        }
        n = n * 10 + (*p - '0');
    }
    *out = (int)(neg ? -n : n);
    return true;
}

/*
 * "host:port" as Go's net.SplitHostPort reads it ("[::1]:4222" for IPv6), or a bare
 * port number. host is replaced only when the value names one.
 */
static int get_listen(struct loader *l, const struct mr_conf_entry *e, char **host, int *port)
{
    const struct mr_conf_value *v = e->value;
    if (v->type == MR_CONF_INT) {
        if (v->u.i < INT32_MIN || v->u.i > INT32_MAX) {
            return fail(l, MR_E_INVAL, &v->pos, "invalid port %lld", (long long)v->u.i);
        }
        *port = (int)v->u.i;
        return 0;
    }
    if (v->type != MR_CONF_STRING) {
        return fail(l, MR_E_INVAL, &v->pos, "expected port or host:port, got %s", a_type(v->type));
    }
    const char *s = v->u.str.s;
    const char *colon = strrchr(s, ':');
    const char *h = s;
    size_t hlen = colon != NULL ? (size_t)(colon - s) : 0;
    bool ok = colon != NULL;
    if (ok && s[0] == '[') {
        ok = hlen >= 2 && s[hlen - 1] == ']';
        h = s + 1;
        hlen = ok ? hlen - 2 : 0;
    } else if (ok) {
        ok = memchr(s, ':', hlen) == NULL; /* "too many colons" for bare IPv6 */
    }
    if (!ok) {
        return fail(l, MR_E_INVAL, &v->pos, "could not parse address string \"%s\"", s);
    }
    int p = 0;
    if (!parse_int(colon + 1, &p)) {
        return fail(l, MR_E_INVAL, &v->pos, "could not parse port \"%s\"", colon + 1);
    }
    g_free(*host);
    *host = g_strndup(h, hlen);
    *port = p;
    return 0;
}

/* As get_listen, into a fixed host buffer. */
static int get_listen_buf(struct loader *l, const struct mr_conf_entry *e, char *buf, size_t len,
                          int *port)
{
    char *host = NULL;
    int rc = get_listen(l, e, &host, port);
    if (rc == 0 && host != NULL) {
        rc = copy_buf(l, e->value, e->key, host, buf, len);
    }
    g_free(host);
    return rc;
}

static int check_port(struct loader *l, const struct mr_conf_value *v, const char *what, int port)
{
    if (port < -1 || port > 65535) {
        return fail(l, MR_E_INVAL, v != NULL ? &v->pos : NULL,
                    "invalid %s port %d: must be between -1 (random) and 65535", what, port);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------
 * Walking maps
 * --------------------------------------------------------------------------------- */

typedef int (*entry_fn)(struct loader *l, void *target, int id, struct mr_conf_entry *e);

static const struct key *key_find(const struct key *keys, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < KEY_NAMES_MAX && keys[i].names[k] != NULL; k++) {
            if (g_ascii_strcasecmp(keys[i].names[k], name) == 0) {
                return &keys[i];
            }
        }
    }
    return NULL;
}

/* A later entry of the same map has the same key: only the last one counts. */
static bool superseded(const struct mr_conf_value *map, size_t i)
{
    for (size_t j = i + 1; j < map->u.map.count; j++) {
        if (g_ascii_strcasecmp(map->u.map.entries[i].key, map->u.map.entries[j].key) == 0) {
            return true;
        }
    }
    return false;
}

/* As superseded, for maps whose keys are names (accounts): case counts. */
static bool superseded_exact(const struct mr_conf_value *map, size_t i)
{
    for (size_t j = i + 1; j < map->u.map.count; j++) {
        if (strcmp(map->u.map.entries[i].key, map->u.map.entries[j].key) == 0) {
            return true;
        }
    }
    return false;
}

static int unknown(struct loader *l, enum unknown_style style, const struct mr_conf_entry *e)
{
    const struct mr_conf_pos *pos = &e->key_pos;
    switch (style) {
    case U_FIELD:
        break;
    case U_PERMISSIONS:
        return fail(l, MR_E_INVAL, pos, "Unknown field \"%s\" parsing permissions", e->key);
    case U_SUBJECT_PERMS:
        return fail(l, MR_E_INVAL, pos,
                    "Unknown field name \"%s\" parsing subject permissions, only 'allow' or "
                    "'deny' are permitted",
                    e->key);
    case U_LIMITS:
        return fail(l, MR_E_INVAL, pos, "Unknown field \"%s\" parsing account limits", e->key);
    case U_TLS:
        return fail(l, MR_E_INVAL, pos, "error parsing tls config, unknown field [\"%s\"]", e->key);
    }
    return fail(l, MR_E_INVAL, pos, "unknown field \"%s\"", e->key);
}

/*
 * Calls fn for each entry of map whose key is in keys, in file order, skipping entries
 * a later duplicate overrides. Keys the table marks K_IGNORED get a notice and
 * K_REFUSED an MR_E_UNSUPPORTED error; other keys are unknown unless the parser marked
 * them used (a variable). Returns 0 or the first error.
 */
static int walk(struct loader *l, struct mr_conf_value *map, const struct key *keys, size_t n,
                enum unknown_style style, entry_fn fn, void *target)
{
    mr_assert(map->type == MR_CONF_MAP);
    for (size_t i = 0; i < map->u.map.count; i++) {
        struct mr_conf_entry *e = &map->u.map.entries[i];
        bool variable = e->used;
        e->used = true;
        if (superseded(map, i)) {
            continue;
        }
        const struct key *k = key_find(keys, n, e->key);
        if (k == NULL) {
            if (variable) {
                continue;
            }
            return unknown(l, style, e);
        }
        if (k->id == K_IGNORED) {
            warn(l, MR_CONF_WARN_NOTICE, &e->key_pos, "\"%s\": %s is not supported yet, ignored",
                 e->key, k->what);
            continue;
        }
        if (k->id == K_REFUSED) {
            return fail(l, MR_E_UNSUPPORTED, &e->key_pos, "\"%s\": %s is not supported yet", e->key,
                        k->what);
        }
        int rc = fn(l, target, k->id, e);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* The last entry of map named by one of names (in the order given), or NULL. */
static struct mr_conf_entry *find_entry(struct mr_conf_value *map, const char *const *names)
{
    for (size_t k = 0; names[k] != NULL; k++) {
        for (size_t i = map->u.map.count; i > 0; i--) {
            struct mr_conf_entry *e = &map->u.map.entries[i - 1];
            if (g_ascii_strcasecmp(e->key, names[k]) == 0) {
                return e;
            }
        }
    }
    return NULL;
}

static int want_map(struct loader *l, const struct mr_conf_entry *e, const char *what)
{
    if (e->value->type == MR_CONF_MAP) {
        return 0;
    }
    return fail(l, MR_E_INVAL, &e->value->pos, "Expected map to define %s, got %s", what,
                a_type(e->value->type));
}

/* ---------------------------------------------------------------------------------
 * Permissions (config.md section 3)
 * --------------------------------------------------------------------------------- */

static void subject_list_add(struct mr_subject_list *list, const char *s)
{
    list->subjects = g_renew(char *, list->subjects, list->count + 1);
    list->subjects[list->count++] = g_strdup(s);
}

static void subject_list_clear(struct mr_subject_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        g_free(list->subjects[i]);
    }
    g_free(list->subjects);
    list->subjects = NULL;
    list->count = 0;
}

static void subject_list_copy(struct mr_subject_list *dst, const struct mr_subject_list *src)
{
    for (size_t i = 0; i < src->count; i++) {
        subject_list_add(dst, src->subjects[i]);
    }
}

static void permissions_free(struct mr_permissions *p)
{
    if (p == NULL) {
        return;
    }
    subject_list_clear(&p->pub_allow);
    subject_list_clear(&p->pub_deny);
    subject_list_clear(&p->sub_allow);
    subject_list_clear(&p->sub_deny);
    g_free(p);
}

static struct mr_permissions *permissions_copy(const struct mr_permissions *p)
{
    struct mr_permissions *c = g_new0(struct mr_permissions, 1);
    subject_list_copy(&c->pub_allow, &p->pub_allow);
    subject_list_copy(&c->pub_deny, &p->pub_deny);
    subject_list_copy(&c->sub_allow, &p->sub_allow);
    subject_list_copy(&c->sub_deny, &p->sub_deny);
    c->allow_responses = p->allow_responses;
    c->responses_max = p->responses_max;
    c->responses_expires_ns = p->responses_expires_ns;
    return c;
}

/*
 * One permission subject: a valid subject, or "subject queue" (a queue-only subscribe
 * permission), which is stored with a single space. nats-server's checkPermSubjectArray.
 */
static int perm_subject_add(struct loader *l, const struct mr_conf_value *v,
                            struct mr_subject_list *list)
{
    const char *s = v->u.str.s;
    if (mr_subject_valid(s, strlen(s))) {
        subject_list_add(list, s);
        return 0;
    }
    gchar **fields = g_strsplit_set(s, " \t\r\n\f", -1);
    const char *parts[2] = {NULL, NULL};
    size_t n = 0;
    for (size_t i = 0; fields[i] != NULL; i++) {
        if (fields[i][0] != '\0') {
            if (n < 2) {
                parts[n] = fields[i];
            }
            n++;
        }
    }
    int rc = 0;
    if (n != 2) {
        rc = fail(l, MR_E_INVAL, &v->pos, "subject \"%s\" is not a valid subject", s);
    } else if (!mr_subject_valid(parts[0], strlen(parts[0]))) {
        rc = fail(l, MR_E_INVAL, &v->pos, "subject \"%s\" is not a valid subject", parts[0]);
    } else {
        char *joined = g_strdup_printf("%s %s", parts[0], parts[1]);
        subject_list_add(list, joined);
        g_free(joined);
    }
    g_strfreev(fields);
    return rc;
}

/* A subject or an array of subjects (nats-server's parsePermSubjects). */
static int perm_subjects(struct loader *l, const struct mr_conf_value *v,
                         struct mr_subject_list *list)
{
    if (v->type == MR_CONF_STRING) {
        return perm_subject_add(l, v, list);
    }
    if (v->type != MR_CONF_ARRAY) {
        return fail(l, MR_E_INVAL, &v->pos,
                    "Expected subject permissions to be a subject, or array of subjects, got %s",
                    a_type(v->type));
    }
    for (size_t i = 0; i < v->u.array.count; i++) {
        const struct mr_conf_value *it = v->u.array.items[i];
        if (it->type != MR_CONF_STRING) {
            return fail(l, MR_E_INVAL, &it->pos,
                        "Subject in permissions array cannot be cast to string");
        }
        int rc = perm_subject_add(l, it, list);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

enum { P_ALLOW = 1, P_DENY };

static const struct key subject_perm_keys[] = {
    {{"allow"}, P_ALLOW, NULL},
    {{"deny"}, P_DENY, NULL},
};

struct allow_deny {
    struct mr_subject_list *allow;
    struct mr_subject_list *deny;
};

static int subject_perm_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct allow_deny *ad = target;
    struct mr_subject_list *list = id == P_ALLOW ? ad->allow : ad->deny;
    subject_list_clear(list); /* a repeated allow (publish: and pub:) replaces */
    return perm_subjects(l, e->value, list);
}

/* publish/subscribe: a subject, an array (the allow list) or { allow, deny }. */
static int variable_permissions(struct loader *l, struct mr_conf_value *v,
                                struct mr_subject_list *allow, struct mr_subject_list *deny)
{
    subject_list_clear(allow);
    subject_list_clear(deny);
    if (v->type != MR_CONF_MAP) {
        return perm_subjects(l, v, allow);
    }
    struct allow_deny ad = {allow, deny};
    return walk(l, v, subject_perm_keys, G_N_ELEMENTS(subject_perm_keys), U_SUBJECT_PERMS,
                subject_perm_entry, &ad);
}

enum { R_MAX = 1, R_EXPIRES };

static const struct key responses_keys[] = {
    {{"max", "max_msgs", "max_messages", "max_responses"}, R_MAX, NULL},
    {{"expires", "expiration", "ttl"}, R_EXPIRES, NULL},
};

static int responses_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct mr_permissions *p = target;
    if (id == R_MAX) {
        int64_t n = 0;
        int rc = get_int(l, e, &n);
        /* 0 keeps the default (1); a negative value means no limit. */
        if (rc == 0 && n != 0) {
            p->responses_max = n < 0 || n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
        }
        return rc;
    }
    if (e->value->type != MR_CONF_STRING) {
        return fail(l, MR_E_INVAL, &e->value->pos, "error parsing expires, not a duration string");
    }
    const char *s = e->value->u.str.s;
    /* A negative duration means no expiry; 0 keeps the default. */
    if (s[0] == '-') {
        p->responses_expires_ns = 0;
        return 0;
    }
    bool legacy = false;
    uint64_t ns = 0;
    if (mr_conf_duration_ns(e->value, &ns, &legacy) != 0) {
        return fail(l, MR_E_INVAL, &e->value->pos,
                    "error parsing expires: time: invalid duration \"%s\"", s);
    }
    if (ns != 0) {
        p->responses_expires_ns = ns;
    }
    return 0;
}

static int allow_responses(struct loader *l, struct mr_conf_value *v, struct mr_permissions *p)
{
    p->allow_responses = false;
    p->responses_max = 1;
    p->responses_expires_ns = MR_ALLOW_RESPONSES_EXPIRES_DEFAULT_NS;
    if (v->type == MR_CONF_BOOL) {
        p->allow_responses = v->u.b;
        return 0;
    }
    if (v->type != MR_CONF_MAP) {
        return fail(l, MR_E_INVAL, &v->pos,
                    "error parsing response permissions, expected a boolean or a map");
    }
    p->allow_responses = true;
    return walk(l, v, responses_keys, G_N_ELEMENTS(responses_keys), U_PERMISSIONS, responses_entry,
                p);
}

enum { PM_PUBLISH = 1, PM_SUBSCRIBE, PM_RESPONSES };

static const struct key permission_keys[] = {
    {{"publish", "pub", "import"}, PM_PUBLISH, NULL},
    {{"subscribe", "sub", "export"}, PM_SUBSCRIBE, NULL},
    {{"allow_responses", "publish_allow_responses"}, PM_RESPONSES, NULL},
};

static int permission_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct mr_permissions *p = target;
    switch (id) {
    case PM_PUBLISH:
        return variable_permissions(l, e->value, &p->pub_allow, &p->pub_deny);
    case PM_SUBSCRIBE:
        return variable_permissions(l, e->value, &p->sub_allow, &p->sub_deny);
    default:
        return allow_responses(l, e->value, p);
    }
}

/*
 * permissions { publish, subscribe, allow_responses } into a new mr_permissions
 * (*out, owned by the caller). nats-server's parseUserPermissions.
 */
static int parse_permissions(struct loader *l, struct mr_conf_value *v, struct mr_permissions **out)
{
    if (v->type != MR_CONF_MAP) {
        return fail(l, MR_E_INVAL, &v->pos, "Expected permissions to be a map/struct, got %s",
                    a_type(v->type));
    }
    struct mr_permissions *p = g_new0(struct mr_permissions, 1);
    int rc = walk(l, v, permission_keys, G_N_ELEMENTS(permission_keys), U_PERMISSIONS,
                  permission_entry, p);
    if (rc != 0) {
        permissions_free(p);
        return rc;
    }
    /* With allow_responses nats-server turns a missing publish allow list into an empty
     * one: nothing may be published but the granted responses. A deny of everything
     * says the same to a server whose empty allow list means "all". */
    if (p->allow_responses && p->pub_allow.count == 0) {
        subject_list_add(&p->pub_deny, ">");
    }
    permissions_free(*out);
    *out = p;
    return 0;
}

/* ---------------------------------------------------------------------------------
 * Users (authorization.users and accounts.X.users)
 * --------------------------------------------------------------------------------- */

static struct mr_auth_opts *auth_get(struct loader *l)
{
    if (l->cfg->auth == NULL) {
        l->cfg->auth = g_new0(struct mr_auth_opts, 1);
    }
    return l->cfg->auth;
}

enum {
    UK_USER = 1,
    UK_PASSWORD,
    UK_NKEY,
    UK_PERMISSIONS,
    UK_CONNECTION_TYPES,
};

static const struct key user_keys[] = {
    {{"user", "username"}, UK_USER, NULL},
    {{"password", "pass"}, UK_PASSWORD, NULL},
    {{"nkey"}, UK_NKEY, NULL},
    {{"permissions", "permission", "authorization"}, UK_PERMISSIONS, NULL},
    {{"allowed_connection_types", "connection_types", "clients"}, UK_CONNECTION_TYPES, NULL},
    {{"proxy_required"}, K_IGNORED, "proxy protocol"},
};

struct user_entry {
    char *user;
    char *password;
    struct mr_permissions *permissions;
    const struct mr_conf_pos *nkey_pos;
    bool standard_allowed; /* allowed_connection_types lets it use client connections */
};

/* allowed_connection_types: every entry known; records whether STANDARD is in. */
static int connection_types(struct loader *l, const struct mr_conf_entry *e, bool *standard)
{
    static const char *const known[] = {"STANDARD",    "WEBSOCKET", "LEAFNODE",
                                        "LEAFNODE_WS", "MQTT",      "MQTT_WS"};
    struct mr_conf_strings types = {NULL, 0};
    int rc = get_strings(l, e, &types);
    *standard = types.count == 0;
    for (size_t i = 0; rc == 0 && i < types.count; i++) {
        bool ok = false;
        for (size_t k = 0; k < G_N_ELEMENTS(known); k++) {
            ok = ok || g_ascii_strcasecmp(types.items[i], known[k]) == 0;
        }
        if (!ok) {
            rc = fail(l, MR_E_INVAL, &e->value->pos, "unknown connection type \"%s\"",
                      types.items[i]);
        }
        *standard = *standard || g_ascii_strcasecmp(types.items[i], "STANDARD") == 0;
    }
    strings_clear(&types);
    return rc;
}

static int user_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct user_entry *u = target;
    switch (id) {
    case UK_USER:
        return get_str(l, e, &u->user);
    case UK_PASSWORD:
        return get_str(l, e, &u->password);
    case UK_NKEY:
        u->nkey_pos = &e->key_pos;
        return 0;
    case UK_PERMISSIONS:
        return parse_permissions(l, e->value, &u->permissions);
    default:
        return connection_types(l, e, &u->standard_allowed);
    }
}

static struct mr_user_opts *user_add(struct mr_auth_opts *a)
{
    a->users = g_renew(struct mr_user_opts, a->users, a->users_count + 1);
    struct mr_user_opts *u = &a->users[a->users_count++];
    memset(u, 0, sizeof(*u));
    return u;
}

/* One { user, password, permissions } of a users array, added to auth with account
 * (NULL = $G). nats-server's parseUsers. */
static int parse_user(struct loader *l, struct mr_conf_value *v, const char *account)
{
    if (v->type != MR_CONF_MAP) {
        return fail(l, MR_E_INVAL, &v->pos, "Expected user entry to be a map/struct, got %s",
                    a_type(v->type));
    }
    struct user_entry u = {.standard_allowed = true};
    int rc = walk(l, v, user_keys, G_N_ELEMENTS(user_keys), U_FIELD, user_entry, &u);
    if (rc == 0 && u.nkey_pos != NULL) {
        rc = fail(l, MR_E_UNSUPPORTED, u.nkey_pos, "nkey users are not supported yet");
    } else if (rc == 0 && u.user == NULL) {
        rc = fail(l, MR_E_INVAL, &v->pos, "User entry requires a user");
    } else if (rc == 0 && g_hash_table_contains(l->user_names, u.user)) {
        rc = fail(l, MR_E_INVAL, &v->pos, "Duplicate user \"%s\" detected", u.user);
    }
    if (rc != 0) {
        g_free(u.user);
        g_free(u.password);
        permissions_free(u.permissions);
        return rc;
    }
    g_hash_table_add(l->user_names, g_strdup(u.user));
    if (!u.standard_allowed) {
        /* nats-server would never let this user in on a client connection, the only
         * kind Meridian has, so leaving it out changes nothing a client can see. */
        warn(l, MR_CONF_WARN_NOTICE, &v->pos,
             "user \"%s\" may not use client connections (allowed_connection_types): "
             "not loaded",
             u.user);
        g_free(u.user);
        g_free(u.password);
        permissions_free(u.permissions);
        return 0;
    }
    struct mr_user_opts *o = user_add(auth_get(l));
    o->user = u.user;
    o->password = u.password;
    o->permissions = u.permissions;
    o->account = account != NULL ? g_strdup(account) : NULL;
    return 0;
}

static int parse_users(struct loader *l, struct mr_conf_value *v, const char *account)
{
    if (v->type != MR_CONF_ARRAY) {
        return fail(l, MR_E_INVAL, &v->pos, "Expected users field to be an array, got %s",
                    a_type(v->type));
    }
    l->users_listed = true;
    for (size_t i = 0; i < v->u.array.count; i++) {
        int rc = parse_user(l, v->u.array.items[i], account);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Gives users [from, end) without permissions a copy of defaults. */
static void apply_default_permissions(struct mr_auth_opts *a, size_t from,
                                      const struct mr_permissions *defaults)
{
    if (defaults == NULL || a == NULL) {
        return;
    }
    for (size_t i = from; i < a->users_count; i++) {
        if (a->users[i].permissions == NULL) {
            a->users[i].permissions = permissions_copy(defaults);
        }
    }
}

/* ---------------------------------------------------------------------------------
 * authorization {} (config.md section 3)
 * --------------------------------------------------------------------------------- */

enum {
    A_USER = 1,
    A_PASSWORD,
    A_TOKEN,
    A_TIMEOUT,
    A_USERS,
    A_DEFAULT_PERMISSIONS,
};

static const struct key authorization_keys[] = {
    {{"user", "username"}, A_USER, NULL},
    {{"password", "pass"}, A_PASSWORD, NULL},
    {{"token"}, A_TOKEN, NULL},
    {{"timeout"}, A_TIMEOUT, NULL},
    {{"users"}, A_USERS, NULL},
    {{"default_permissions", "default_permission", "permissions"}, A_DEFAULT_PERMISSIONS, NULL},
    {{"auth_callout", "auth_hook"}, K_REFUSED, "auth callout"},
    {{"proxy_required"}, K_IGNORED, "proxy protocol"},
};

struct authz {
    char *user;
    char *password;
    char *token;
    bool timeout_set;
    uint64_t timeout_ns;
    struct mr_conf_value *users; /* parsed after the walk, so defaults can apply */
    struct mr_permissions *defaults;
};

static int authorization_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct authz *a = target;
    switch (id) {
    case A_USER:
        return get_str(l, e, &a->user);
    case A_PASSWORD:
        return get_str(l, e, &a->password);
    case A_TOKEN:
        return get_str(l, e, &a->token);
    case A_TIMEOUT:
        a->timeout_set = true;
        return get_seconds(l, e, "authorization", &a->timeout_ns);
    case A_USERS:
        a->users = e->value;
        return 0;
    default:
        return parse_permissions(l, e->value, &a->defaults);
    }
}

static void authz_clear(struct authz *a)
{
    g_free(a->user);
    g_free(a->password);
    g_free(a->token);
    permissions_free(a->defaults);
}

/* Moves the single user or token of authorization {} into the auth options. */
static int authorization_single(struct loader *l, struct authz *a, const struct mr_conf_pos *pos)
{
    struct mr_auth_opts *auth = auth_get(l);
    if (a->token != NULL) {
        auth->token = a->token;
        a->token = NULL;
    }
    if (a->user == NULL) {
        if (a->password != NULL) {
            warn(l, MR_CONF_WARN_NOTICE, pos, "authorization password without user, ignored");
        }
        return 0;
    }
    mr_assert(auth->users_count == 0);
    g_hash_table_add(l->user_names, g_strdup(a->user));
    struct mr_user_opts *u = user_add(auth);
    u->user = a->user;
    u->password = a->password;
    a->user = NULL;
    a->password = NULL;
    l->cfg->auth_single_user = true;
    return 0;
}

/* The top-level authorization {}: runs before accounts {} (see the file comment). */
static int parse_authorization(struct loader *l, struct mr_conf_entry *e)
{
    int rc = want_map(l, e, "authorization");
    if (rc != 0) {
        return rc;
    }
    struct authz a = {0};
    rc = walk(l, e->value, authorization_keys, G_N_ELEMENTS(authorization_keys), U_FIELD,
              authorization_entry, &a);
    const struct mr_conf_pos *pos = &e->value->pos;
    if (rc == 0 && (a.user != NULL || a.password != NULL) && a.token != NULL) {
        rc = fail(l, MR_E_INVAL, pos, "Cannot have a user/pass and token");
    } else if (rc == 0 && a.users != NULL && a.user != NULL) {
        rc = fail(l, MR_E_INVAL, pos, "Can not have a single user/pass and a users array");
    } else if (rc == 0 && a.users != NULL && a.token != NULL) {
        rc = fail(l, MR_E_INVAL, pos, "Can not have a token and a users array");
    }
    if (rc == 0) {
        struct mr_auth_opts *auth = auth_get(l);
        if (a.timeout_set) {
            auth->timeout_ns = a.timeout_ns;
            l->cfg->server.auth_timeout_ns = a.timeout_ns;
        }
        rc = authorization_single(l, &a, pos);
    }
    if (rc == 0 && a.users != NULL) {
        size_t from = auth_get(l)->users_count;
        rc = parse_users(l, a.users, NULL);
        apply_default_permissions(l->cfg->auth, from, a.defaults);
    }
    authz_clear(&a);
    return rc;
}

/* ---------------------------------------------------------------------------------
 * accounts {} (config.md section 4)
 * --------------------------------------------------------------------------------- */

static struct mr_account_opts *account_find(struct mr_auth_opts *a, const char *name)
{
    for (size_t i = 0; a != NULL && i < a->accounts_count; i++) {
        if (strcmp(a->accounts[i].name, name) == 0) {
            return &a->accounts[i];
        }
    }
    return NULL;
}

static int account_add(struct loader *l, const struct mr_conf_pos *pos, const char *name,
                       size_t *index)
{
    struct mr_auth_opts *a = auth_get(l);
    if (strcmp(name, "$G") == 0) {
        return fail(l, MR_E_INVAL, pos, "\"%s\" is a Reserved Account", name);
    }
    if (account_find(a, name) != NULL) {
        return fail(l, MR_E_INVAL, pos, "Duplicate Account Entry: %s", name);
    }
    a->accounts = g_renew(struct mr_account_opts, a->accounts, a->accounts_count + 1);
    struct mr_account_opts *acc = &a->accounts[a->accounts_count];
    memset(acc, 0, sizeof(*acc));
    acc->name = g_strdup(name);
    acc->max_connections = -1;
    acc->max_subscriptions = -1;
    acc->max_payload = -1;
    *index = a->accounts_count++;
    return 0;
}

/* The account being filled (its index: the array may move while accounts are added). */
struct account_ctx {
    size_t index;
    struct mr_conf_value *users;
    const struct mr_conf_pos *users_pos;
    struct mr_permissions *defaults;
};

static struct mr_account_opts *ctx_account(struct loader *l, const struct account_ctx *c)
{
    mr_assert(c->index < l->cfg->auth->accounts_count);
    return &l->cfg->auth->accounts[c->index];
}

/* --- exports --- */

enum {
    X_STREAM = 1,
    X_SERVICE,
    X_RESPONSE,
    X_THRESHOLD,
    X_ACCOUNTS,
};

static const struct key export_keys[] = {
    {{"stream"}, X_STREAM, NULL},
    {{"service"}, X_SERVICE, NULL},
    {{"response_type", "response"}, X_RESPONSE, NULL},
    {{"response_threshold", "threshold", "response_max_time", "response_time"}, X_THRESHOLD, NULL},
    {{"accounts"}, X_ACCOUNTS, NULL},
    {{"latency"}, K_IGNORED, "service latency tracking"},
    {{"allow_trace"}, K_IGNORED, "message tracing"},
    {{"account_token_position"}, K_REFUSED, "account token position in exports"},
};

struct export_ctx {
    struct mr_export_opts *x;
    bool stream;
    bool service;
    const struct mr_conf_pos *response_pos; /* response_type or response_threshold */
    bool response_seen;
    bool threshold_seen;
};

static int export_subject(struct loader *l, struct export_ctx *c, struct mr_conf_entry *e,
                          bool service)
{
    const char *kind = service ? "service" : "stream";
    if ((service && c->stream) || (!service && c->service)) {
        return fail(l, MR_E_INVAL, &e->value->pos, "Detected %s \"%s\" but already saw a %s", kind,
                    e->value->type == MR_CONF_STRING ? e->value->u.str.s : "",
                    service ? "stream" : "service");
    }
    if (e->value->type != MR_CONF_STRING) {
        return fail(l, MR_E_INVAL, &e->value->pos, "Expected %s name to be string, got %s", kind,
                    a_type(e->value->type));
    }
    const char *s = e->value->u.str.s;
    if (!mr_subject_valid(s, strlen(s))) {
        return fail(l, MR_E_INVAL, &e->value->pos, "Error adding %s export \"%s\": invalid subject",
                    kind, s);
    }
    c->stream = !service;
    c->service = service;
    c->x->service = service;
    g_free(c->x->subject);
    c->x->subject = g_strdup(s);
    return 0;
}

static int export_response(struct loader *l, struct export_ctx *c, struct mr_conf_entry *e)
{
    if (c->response_seen) {
        return fail(l, MR_E_INVAL, &e->value->pos, "Duplicate response type definition");
    }
    c->response_seen = true;
    c->response_pos = &e->value->pos;
    if (e->value->type != MR_CONF_STRING) {
        return fail(l, MR_E_INVAL, &e->value->pos, "Expected response type to be string, got %s",
                    a_type(e->value->type));
    }
    const char *s = e->value->u.str.s;
    if (g_ascii_strcasecmp(s, "single") == 0 || g_ascii_strcasecmp(s, "singleton") == 0) {
        c->x->response_type = MR_RESPONSE_SINGLE;
    } else if (g_ascii_strcasecmp(s, "stream") == 0) {
        c->x->response_type = MR_RESPONSE_STREAM;
    } else if (g_ascii_strcasecmp(s, "chunk") == 0 || g_ascii_strcasecmp(s, "chunked") == 0) {
        c->x->response_type = MR_RESPONSE_CHUNKED;
    } else {
        return fail(l, MR_E_INVAL, &e->value->pos, "Unknown response type: \"%s\"", s);
    }
    return 0;
}

static int export_threshold(struct loader *l, struct export_ctx *c, struct mr_conf_entry *e)
{
    if (c->threshold_seen) {
        return fail(l, MR_E_INVAL, &e->value->pos, "Duplicate response threshold detected");
    }
    c->threshold_seen = true;
    c->response_pos = &e->value->pos;
    bool legacy = false;
    uint64_t ns = 0;
    if (e->value->type != MR_CONF_STRING) {
        return fail(l, MR_E_INVAL, &e->value->pos,
                    "Expected response threshold to be a parseable time duration, got %s",
                    a_type(e->value->type));
    }
    if (mr_conf_duration_ns(e->value, &ns, &legacy) != 0 || ns == 0) {
        return fail(l, MR_E_INVAL, &e->value->pos,
                    "Expected response threshold to be a parseable time duration, got \"%s\"",
                    e->value->u.str.s);
    }
    c->x->response_threshold_ns = ns;
    return 0;
}

static int export_accounts(struct loader *l, struct export_ctx *c, struct mr_conf_entry *e)
{
    int rc = want(l, e, MR_CONF_ARRAY);
    if (rc != 0) {
        return rc;
    }
    struct mr_conf_strings names = {NULL, 0};
    rc = get_strings(l, e, &names);
    if (rc != 0) {
        strings_clear(&names);
        return rc;
    }
    for (size_t i = 0; i < c->x->accounts_count; i++) {
        g_free(c->x->accounts[i]);
    }
    g_free(c->x->accounts);
    c->x->accounts = names.items;
    c->x->accounts_count = names.count;
    return 0;
}

static int export_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct export_ctx *c = target;
    switch (id) {
    case X_STREAM:
        return export_subject(l, c, e, false);
    case X_SERVICE:
        return export_subject(l, c, e, true);
    case X_RESPONSE:
        return export_response(l, c, e);
    case X_THRESHOLD:
        return export_threshold(l, c, e);
    default:
        return export_accounts(l, c, e);
    }
}

static int parse_export(struct loader *l, struct account_ctx *ac, struct mr_conf_value *v)
{
    if (v->type != MR_CONF_MAP) {
        return fail(l, MR_E_INVAL, &v->pos, "Export Items should be a map with type entry, got %s",
                    a_type(v->type));
    }
    struct mr_account_opts *acc = ctx_account(l, ac);
    acc->exports = g_renew(struct mr_export_opts, acc->exports, acc->exports_count + 1);
    struct mr_export_opts *x = &acc->exports[acc->exports_count++];
    memset(x, 0, sizeof(*x));
    g_array_append_val(l->export_pos, v->pos);
    struct export_ctx c = {.x = x};
    int rc = walk(l, v, export_keys, G_N_ELEMENTS(export_keys), U_FIELD, export_entry, &c);
    if (rc != 0) {
        return rc;
    }
    if (!c.stream && !c.service) {
        return fail(l, MR_E_INVAL, &v->pos, "Export Items need a \"stream\" or a \"service\"");
    }
    if (c.stream && (c.response_seen || c.threshold_seen)) {
        return fail(l, MR_E_INVAL, c.response_pos, "Detected response directive on non-service");
    }
    return 0;
}

/* --- imports --- */

enum {
    I_STREAM = 1,
    I_SERVICE,
    I_PREFIX,
    I_TO,
    I_SHARE,
};

static const struct key import_keys[] = {
    {{"stream"}, I_STREAM, NULL}, {{"service"}, I_SERVICE, NULL},
    {{"prefix"}, I_PREFIX, NULL}, {{"to"}, I_TO, NULL},
    {{"share"}, I_SHARE, NULL},   {{"allow_trace"}, K_IGNORED, "message tracing"},
};

enum { IA_ACCOUNT = 1, IA_SUBJECT };

static const struct key import_source_keys[] = {
    {{"account"}, IA_ACCOUNT, NULL},
    {{"subject"}, IA_SUBJECT, NULL},
};

struct import_ctx {
    struct mr_import_opts *x;
    bool stream;
    bool service;
    const struct mr_conf_pos *to_pos;
};

static int import_source_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct mr_import_opts *x = target;
    return get_str(l, e, id == IA_ACCOUNT ? &x->account : &x->subject);
}

static int import_source(struct loader *l, struct import_ctx *c, struct mr_conf_entry *e,
                         bool service)
{
    const char *kind = service ? "Service" : "Stream";
    if ((service && c->stream) || (!service && c->service)) {
        return fail(l, MR_E_INVAL, &e->value->pos, "Detected %s but already saw a %s",
                    service ? "service" : "stream", service ? "stream" : "service");
    }
    if (e->value->type != MR_CONF_MAP) {
        return fail(l, MR_E_INVAL, &e->value->pos, "%s entry should be an account map, got %s",
                    kind, a_type(e->value->type));
    }
    int rc = walk(l, e->value, import_source_keys, G_N_ELEMENTS(import_source_keys), U_FIELD,
                  import_source_entry, c->x);
    if (rc != 0) {
        return rc;
    }
    if (c->x->account == NULL || c->x->subject == NULL || c->x->account[0] == '\0' ||
        c->x->subject[0] == '\0') {
        return fail(l, MR_E_INVAL, &e->value->pos, "Expect an account name and a subject");
    }
    const char *s = c->x->subject;
    if (!mr_subject_valid(s, strlen(s))) {
        return fail(l, MR_E_INVAL, &e->value->pos, "Error adding %s import \"%s\": invalid subject",
                    service ? "service" : "stream", s);
    }
    c->stream = !service;
    c->service = service;
    c->x->service = service;
    return 0;
}

static int import_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct import_ctx *c = target;
    switch (id) {
    case I_STREAM:
        return import_source(l, c, e, false);
    case I_SERVICE:
        return import_source(l, c, e, true);
    case I_PREFIX: {
        int rc = get_str(l, e, &c->x->prefix);
        const char *p = c->x->prefix;
        if (rc == 0 && !mr_subject_valid_literal(p, strlen(p))) {
            rc = fail(l, MR_E_INVAL, &e->value->pos, "invalid import prefix \"%s\"", p);
        }
        return rc;
    }
    case I_TO: {
        c->to_pos = &e->value->pos;
        int rc = get_str(l, e, &c->x->to);
        const char *t = c->x->to;
        if (rc == 0 && !mr_subject_valid(t, strlen(t))) {
            rc = fail(l, MR_E_INVAL, &e->value->pos, "invalid import subject \"%s\"", t);
        }
        return rc;
    }
    default: {
        bool share = false;
        return get_bool(l, e, &share);
    }
    }
}

/* A service import's local subject must be unique within its account. */
static int import_check_duplicate(struct loader *l, const struct mr_account_opts *acc,
                                  const struct mr_import_opts *x, const struct mr_conf_pos *pos)
{
    const char *local = x->to != NULL ? x->to : x->subject;
    for (size_t i = 0; i + 1 < acc->imports_count; i++) {
        const struct mr_import_opts *o = &acc->imports[i];
        const char *other = o->to != NULL ? o->to : o->subject;
        if (o->service && strcmp(local, other) == 0) {
            return fail(l, MR_E_INVAL, pos,
                        "Duplicate service import subject \"%s\", previously used in import for "
                        "account \"%s\", subject \"%s\"",
                        local, o->account, o->subject);
        }
    }
    return 0;
}

static int parse_import(struct loader *l, struct account_ctx *ac, struct mr_conf_value *v)
{
    if (v->type != MR_CONF_MAP) {
        return fail(l, MR_E_INVAL, &v->pos, "Import Items should be a map with type entry, got %s",
                    a_type(v->type));
    }
    struct mr_account_opts *acc = ctx_account(l, ac);
    acc->imports = g_renew(struct mr_import_opts, acc->imports, acc->imports_count + 1);
    struct mr_import_opts *x = &acc->imports[acc->imports_count++];
    memset(x, 0, sizeof(*x));
    g_array_append_val(l->import_pos, v->pos);
    struct import_ctx c = {.x = x};
    int rc = walk(l, v, import_keys, G_N_ELEMENTS(import_keys), U_FIELD, import_entry, &c);
    if (rc != 0) {
        return rc;
    }
    if (!c.stream && !c.service) {
        return fail(l, MR_E_INVAL, &v->pos, "Import Items need a \"stream\" or a \"service\"");
    }
    if (c.stream && x->prefix != NULL && x->to != NULL) {
        return fail(l, MR_E_INVAL, c.to_pos,
                    "Stream import can not have a 'prefix' and a 'to' property");
    }
    if (c.service && x->prefix != NULL) {
        return fail(l, MR_E_INVAL, &v->pos, "Service import can not have a 'prefix' property");
    }
    return c.service ? import_check_duplicate(l, acc, x, &v->pos) : 0;
}

typedef int (*item_fn)(struct loader *l, struct account_ctx *ac, struct mr_conf_value *v);

static int parse_items(struct loader *l, struct account_ctx *ac, struct mr_conf_entry *e,
                       const char *what, item_fn fn)
{
    if (e->value->type != MR_CONF_ARRAY) {
        return fail(l, MR_E_INVAL, &e->value->pos, "%s should be an array, got %s", what,
                    a_type(e->value->type));
    }
    for (size_t i = 0; i < e->value->u.array.count; i++) {
        int rc = fn(l, ac, e->value->u.array.items[i]);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* --- limits and jetstream of an account --- */

enum { L_CONNECTIONS = 1, L_SUBSCRIPTIONS, L_PAYLOAD, L_LEAFNODES };

static const struct key limits_keys[] = {
    {{"max_connections", "max_conn"}, L_CONNECTIONS, NULL},
    {{"max_subscriptions", "max_subs"}, L_SUBSCRIPTIONS, NULL},
    {{"max_payload", "max_pay"}, L_PAYLOAD, NULL},
    {{"max_leafnodes", "max_leafs"}, L_LEAFNODES, NULL},
};

static int limits_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct mr_account_opts *acc = ctx_account(l, target);
    int32_t n = 0;
    int rc = get_i32(l, e, &n);
    if (rc != 0) {
        return rc;
    }
    switch (id) {
    case L_CONNECTIONS:
        acc->max_connections = n;
        break;
    case L_SUBSCRIPTIONS:
        acc->max_subscriptions = n;
        break;
    case L_PAYLOAD:
        acc->max_payload = n;
        break;
    default:
        break; /* leaf nodes are not active yet; the value was checked */
    }
    return 0;
}

enum {
    J_MEMORY = 1,
    J_STORE,
    J_STREAMS,
    J_CONSUMERS,
    J_BYTES_REQUIRED,
    J_MEM_STREAM_BYTES,
    J_STORE_STREAM_BYTES,
    J_ACK_PENDING,
};

static const struct key account_js_keys[] = {
    {{"max_memory", "max_mem", "mem", "memory"}, J_MEMORY, NULL},
    {{"max_store", "max_file", "max_disk", "store", "disk"}, J_STORE, NULL},
    {{"max_streams", "streams"}, J_STREAMS, NULL},
    {{"max_consumers", "consumers"}, J_CONSUMERS, NULL},
    {{"max_bytes_required", "max_stream_bytes", "max_bytes"}, J_BYTES_REQUIRED, NULL},
    {{"mem_max_stream_bytes", "memory_max_stream_bytes"}, J_MEM_STREAM_BYTES, NULL},
    {{"disk_max_stream_bytes", "store_max_stream_bytes"}, J_STORE_STREAM_BYTES, NULL},
    {{"max_ack_pending"}, J_ACK_PENDING, NULL},
    {{"cluster_traffic"}, K_IGNORED, "JetStream cluster traffic account"},
};

static int account_js_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct mr_account_jetstream_opts *j = target;
    if (id == J_BYTES_REQUIRED) {
        if (e->value->type != MR_CONF_BOOL) {
            return fail(l, MR_E_INVAL, &e->value->pos, "Expected a parseable bool for \"%s\"",
                        e->key);
        }
        j->max_bytes_required = e->value->u.b;
        return 0;
    }
    if (e->value->type != MR_CONF_INT) {
        return fail(l, MR_E_INVAL, &e->value->pos, "Expected a parseable size for \"%s\", got %s",
                    e->key,
                    e->value->type == MR_CONF_STRING ? e->value->u.str.s : a_type(e->value->type));
    }
    int64_t n = e->value->u.i;
    int64_t *slots[] = {NULL,
                        &j->max_memory,
                        &j->max_store,
                        &j->max_streams,
                        &j->max_consumers,
                        NULL,
                        &j->memory_max_stream_bytes,
                        &j->store_max_stream_bytes,
                        &j->max_ack_pending};
    mr_assert(id > 0 && (size_t)id < G_N_ELEMENTS(slots) && slots[id] != NULL);
    *slots[id] = n;
    return 0;
}

static struct mr_account_jetstream_opts *account_js_add(struct loader *l, const char *account)
{
    struct mr_config *c = l->cfg;
    for (size_t i = 0; i < c->account_jetstream_count; i++) {
        if (strcmp(c->account_jetstream[i].account, account) == 0) {
            return &c->account_jetstream[i];
        }
    }
    c->account_jetstream = g_renew(struct mr_account_jetstream_opts, c->account_jetstream,
                                   c->account_jetstream_count + 1);
    struct mr_account_jetstream_opts *j = &c->account_jetstream[c->account_jetstream_count++];
    *j = (struct mr_account_jetstream_opts){
        .account = g_strdup(account),
        .max_memory = -1,
        .max_store = -1,
        .max_streams = -1,
        .max_consumers = -1,
        .max_ack_pending = -1,
        .memory_max_stream_bytes = -1,
        .store_max_stream_bytes = -1,
    };
    return j;
}

/* jetstream: enabled|disabled|true|false|{ limits } inside an account. */
static int account_jetstream(struct loader *l, struct account_ctx *ac, struct mr_conf_entry *e)
{
    struct mr_conf_value *v = e->value;
    bool on = false;
    if (v->type == MR_CONF_BOOL) {
        on = v->u.b;
    } else if (v->type == MR_CONF_STRING) {
        const char *s = v->u.str.s;
        on = g_ascii_strcasecmp(s, "enabled") == 0 || g_ascii_strcasecmp(s, "enable") == 0;
        if (!on && g_ascii_strcasecmp(s, "disabled") != 0 &&
            g_ascii_strcasecmp(s, "disable") != 0) {
            return fail(l, MR_E_INVAL, &v->pos,
                        "Expected 'enabled' or 'disabled' for string value, got '%s'", s);
        }
    } else if (v->type != MR_CONF_MAP) {
        return fail(l, MR_E_INVAL, &v->pos,
                    "Expected map, bool or string to define JetStream, got %s", a_type(v->type));
    }
    struct mr_account_opts *acc = ctx_account(l, ac);
    acc->jetstream = on || v->type == MR_CONF_MAP;
    if (!acc->jetstream) {
        return 0;
    }
    struct mr_account_jetstream_opts *j = account_js_add(l, acc->name);
    if (v->type != MR_CONF_MAP) {
        return 0;
    }
    return walk(l, v, account_js_keys, G_N_ELEMENTS(account_js_keys), U_FIELD, account_js_entry, j);
}

/* --- one account --- */

enum {
    AC_USERS = 1,
    AC_EXPORTS,
    AC_IMPORTS,
    AC_JETSTREAM,
    AC_DEFAULT_PERMISSIONS,
    AC_LIMITS,
    AC_MAPPINGS,
};

static const struct key account_keys[] = {
    {{"users"}, AC_USERS, NULL},
    {{"exports"}, AC_EXPORTS, NULL},
    {{"imports"}, AC_IMPORTS, NULL},
    {{"jetstream"}, AC_JETSTREAM, NULL},
    {{"default_permissions"}, AC_DEFAULT_PERMISSIONS, NULL},
    {{"limits"}, AC_LIMITS, NULL},
    {{"mappings", "maps"}, AC_MAPPINGS, NULL},
    {{"msg_trace", "trace_dest"}, K_IGNORED, "message tracing"},
    {{"nkey"}, K_REFUSED, "an account nkey (operator mode)"},
};

static int account_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct account_ctx *ac = target;
    switch (id) {
    case AC_USERS:
        ac->users = e->value;
        ac->users_pos = &e->value->pos;
        return 0;
    case AC_EXPORTS:
        return parse_items(l, ac, e, "Exports", parse_export);
    case AC_IMPORTS:
        return parse_items(l, ac, e, "Imports", parse_import);
    case AC_JETSTREAM:
        return account_jetstream(l, ac, e);
    case AC_DEFAULT_PERMISSIONS:
        return parse_permissions(l, e->value, &ac->defaults);
    case AC_LIMITS:
        if (e->value->type != MR_CONF_MAP) {
            return fail(l, MR_E_INVAL, &e->value->pos,
                        "Expected account limits to be a map/struct, got %s",
                        a_type(e->value->type));
        }
        return walk(l, e->value, limits_keys, G_N_ELEMENTS(limits_keys), U_LIMITS, limits_entry,
                    ac);
    default:
        if (e->value->type != MR_CONF_MAP) {
            return fail(l, MR_E_INVAL, &e->value->pos, "Expected a map of subject mappings, got %s",
                        a_type(e->value->type));
        }
        warn(l, MR_CONF_WARN_NOTICE, &e->key_pos,
             "subject mappings are not supported yet, ignored");
        return 0;
    }
}

static int parse_account(struct loader *l, struct mr_conf_entry *e)
{
    if (e->value->type != MR_CONF_MAP) {
        return fail(l, MR_E_INVAL, &e->value->pos, "Expected map entries for accounts");
    }
    struct account_ctx ac = {0};
    int rc = account_add(l, &e->key_pos, e->key, &ac.index);
    if (rc == 0) {
        rc = walk(l, e->value, account_keys, G_N_ELEMENTS(account_keys), U_FIELD, account_entry,
                  &ac);
    }
    /* nats-server: users in accounts exclude a single authorization user or token. */
    if (rc == 0 && ac.users != NULL && ac.users->type == MR_CONF_ARRAY &&
        ac.users->u.array.count > 0) {
        if (l->cfg->auth_single_user) {
            rc = fail(l, MR_E_INVAL, ac.users_pos, "Can not have a single user/pass and accounts");
        } else if (l->cfg->auth->token != NULL) {
            rc = fail(l, MR_E_INVAL, ac.users_pos, "Can not have a token and accounts");
        }
    }
    if (rc == 0 && ac.users != NULL) {
        size_t from = l->cfg->auth->users_count;
        char *name = g_strdup(ctx_account(l, &ac)->name);
        rc = parse_users(l, ac.users, name);
        g_free(name);
        apply_default_permissions(l->cfg->auth, from, ac.defaults);
    }
    permissions_free(ac.defaults);
    return rc;
}

/* Every export's account list and every import's account exist; every import is
 * granted by an export of its account (nats-server: "... not authorized"). */
static int check_export_accounts(struct loader *l)
{
    struct mr_auth_opts *a = l->cfg->auth;
    size_t n = 0;
    for (size_t i = 0; i < a->accounts_count; i++) {
        for (size_t k = 0; k < a->accounts[i].exports_count; k++, n++) {
            const struct mr_export_opts *x = &a->accounts[i].exports[k];
            const struct mr_conf_pos *pos = &g_array_index(l->export_pos, struct mr_conf_pos, n);
            for (size_t j = 0; j < x->accounts_count; j++) {
                if (account_find(a, x->accounts[j]) == NULL) {
                    return fail(l, MR_E_INVAL, pos, "\"%s\" account not defined for %s export",
                                x->accounts[j], x->service ? "service" : "stream");
                }
            }
        }
    }
    return 0;
}

static bool export_grants(const struct mr_export_opts *x, const struct mr_import_opts *imp,
                          const char *importer)
{
    if (x->service != imp->service ||
        !mr_subject_is_subset(imp->subject, strlen(imp->subject), x->subject, strlen(x->subject))) {
        return false;
    }
    if (x->accounts_count == 0) {
        return true;
    }
    for (size_t j = 0; j < x->accounts_count; j++) {
        if (strcmp(x->accounts[j], importer) == 0) {
            return true;
        }
    }
    return false;
}

static int check_import(struct loader *l, const struct mr_account_opts *importer,
                        const struct mr_import_opts *imp, const struct mr_conf_pos *pos)
{
    const char *kind = imp->service ? "service" : "stream";
    struct mr_account_opts *from = account_find(l->cfg->auth, imp->account);
    if (from == NULL) {
        return fail(l, MR_E_INVAL, pos, "\"%s\" account not defined for %s import", imp->account,
                    kind);
    }
    for (size_t k = 0; k < from->exports_count; k++) {
        if (export_grants(&from->exports[k], imp, importer->name)) {
            return 0;
        }
    }
    return fail(l, MR_E_INVAL, pos, "Error adding %s import \"%s\": %s import not authorized", kind,
                imp->subject, kind);
}

static int check_account_refs(struct loader *l)
{
    struct mr_auth_opts *a = l->cfg->auth;
    if (a == NULL) {
        return 0;
    }
    int rc = check_export_accounts(l);
    size_t n = 0;
    for (size_t i = 0; rc == 0 && i < a->accounts_count; i++) {
        for (size_t k = 0; rc == 0 && k < a->accounts[i].imports_count; k++, n++) {
            const struct mr_conf_pos *pos = &g_array_index(l->import_pos, struct mr_conf_pos, n);
            rc = check_import(l, &a->accounts[i], &a->accounts[i].imports[k], pos);
        }
    }
    return rc;
}

/* accounts: [ names ] or accounts { NAME { ... } }. */
static int parse_accounts(struct loader *l, struct mr_conf_entry *e)
{
    struct mr_conf_value *v = e->value;
    (void)auth_get(l); /* accounts {} alone still makes auth options */
    if (v->type == MR_CONF_ARRAY) {
        for (size_t i = 0; i < v->u.array.count; i++) {
            const struct mr_conf_value *it = v->u.array.items[i];
            size_t index = 0;
            if (it->type != MR_CONF_STRING) {
                return fail(l, MR_E_INVAL, &it->pos, "Expected account name to be a string, got %s",
                            a_type(it->type));
            }
            int rc = account_add(l, &it->pos, it->u.str.s, &index);
            if (rc != 0) {
                return rc;
            }
        }
        return 0;
    }
    if (v->type != MR_CONF_MAP) {
        return fail(l, MR_E_INVAL, &v->pos, "Expected map or array to define accounts, got %s",
                    a_type(v->type));
    }
    for (size_t i = 0; i < v->u.map.count; i++) {
        struct mr_conf_entry *ae = &v->u.map.entries[i];
        bool variable = ae->used;
        ae->used = true;
        if (variable || superseded_exact(v, i)) {
            continue; /* a variable defined inside accounts {}, or overridden */
        }
        int rc = parse_account(l, ae);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------
 * tls {} (config.md section 8): the same shape in every block
 * --------------------------------------------------------------------------------- */

enum {
    TL_CERT = 1,
    TL_KEY,
    TL_CA,
    TL_INSECURE,
    TL_VERIFY,
    TL_VERIFY_AND_MAP,
    TL_VERIFY_KNOWN_URLS,
    TL_TIMEOUT,
    TL_HANDSHAKE_FIRST,
};

static const struct key tls_keys[] = {
    {{"cert_file"}, TL_CERT, NULL},
    {{"key_file"}, TL_KEY, NULL},
    {{"ca_file"}, TL_CA, NULL},
    {{"insecure"}, TL_INSECURE, NULL},
    {{"verify"}, TL_VERIFY, NULL},
    {{"verify_and_map"}, TL_VERIFY_AND_MAP, NULL},
    {{"verify_cert_and_check_known_urls"}, TL_VERIFY_KNOWN_URLS, NULL},
    {{"timeout"}, TL_TIMEOUT, NULL},
    {{"handshake_first", "first", "immediate"}, TL_HANDSHAKE_FIRST, NULL},
    {{"connection_rate_limit"}, K_IGNORED, "TLS connection rate limit"},
    {{"cipher_suites"}, K_REFUSED, "choosing TLS cipher suites"},
    {{"curve_preferences"}, K_REFUSED, "choosing TLS curves"},
    {{"min_version"}, K_REFUSED, "a TLS minimum version"},
    {{"pinned_certs"}, K_REFUSED, "pinned certificates"},
    {{"ocsp_peer"}, K_REFUSED, "OCSP peer verification"},
    {{"cert_store", "cert_match_by", "cert_match", "ca_certs_match", "cert_match_skip_invalid"},
     K_REFUSED,
     "OS certificate stores"},
};

struct tls_ctx {
    struct mr_tls_opts *t;
    bool client_ctx; /* a listener or remote (not a route or gateway) */
};

static int tls_file(struct loader *l, const struct mr_conf_entry *e, const char *name, char *buf,
                    size_t len)
{
    if (e->value->type != MR_CONF_STRING) {
        return fail(l, MR_E_INVAL, &e->value->pos,
                    "error parsing tls config, expected '%s' to be filename", name);
    }
    return copy_buf(l, e->value, e->key, e->value->u.str.s, buf, len);
}

static int tls_bool(struct loader *l, const struct mr_conf_entry *e, const char *name, bool *out)
{
    if (e->value->type != MR_CONF_BOOL) {
        return fail(l, MR_E_INVAL, &e->value->pos,
                    "error parsing tls config, expected '%s' to be a boolean", name);
    }
    *out = e->value->u.b;
    return 0;
}

static int tls_handshake_first(struct loader *l, const struct mr_conf_entry *e, bool *out)
{
    const struct mr_conf_value *v = e->value;
    if (v->type == MR_CONF_BOOL) {
        *out = v->u.b;
        return 0;
    }
    if (v->type != MR_CONF_STRING) {
        return fail(l, MR_E_INVAL, &v->pos, "field \"%s\" should be a boolean or a string, got %s",
                    e->key, a_type(v->type));
    }
    const char *s = v->u.str.s;
    bool legacy = false;
    uint64_t ns = 0;
    if (g_ascii_strcasecmp(s, "true") == 0 || g_ascii_strcasecmp(s, "on") == 0) {
        *out = true;
    } else if (g_ascii_strcasecmp(s, "false") == 0 || g_ascii_strcasecmp(s, "off") == 0) {
        *out = false;
    } else if (g_ascii_strcasecmp(s, "auto") == 0 || g_ascii_strcasecmp(s, "auto_fallback") == 0 ||
               mr_conf_duration_ns(v, &ns, &legacy) == 0) {
        /* A fallback delay (plain-text clients after it) is not supported yet: TLS
         * first, always. */
        warn(l, MR_CONF_WARN_NOTICE, &v->pos,
             "handshake_first fallback to non-TLS clients is not supported yet: TLS first");
        *out = true;
    } else {
        return fail(l, MR_E_INVAL, &v->pos, "field \"%s\"'s value \"%s\" is invalid", e->key, s);
    }
    return 0;
}

static int tls_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct tls_ctx *c = target;
    struct mr_tls_opts *t = c->t;
    bool b = false;
    int rc = 0;
    switch (id) {
    case TL_CERT:
        return tls_file(l, e, "cert_file", t->cert_file, sizeof(t->cert_file));
    case TL_KEY:
        return tls_file(l, e, "key_file", t->key_file, sizeof(t->key_file));
    case TL_CA:
        return tls_file(l, e, "ca_file", t->ca_file, sizeof(t->ca_file));
    case TL_INSECURE:
        return tls_bool(l, e, "insecure", &t->insecure);
    case TL_VERIFY:
        return tls_bool(l, e, "verify", &t->verify);
    case TL_VERIFY_AND_MAP:
        rc = tls_bool(l, e, "verify_and_map", &b);
        t->verify = t->verify || b;
        t->verify_and_map = b;
        return rc;
    case TL_VERIFY_KNOWN_URLS:
        rc = tls_bool(l, e, "verify_cert_and_check_known_urls", &b);
        if (rc == 0 && b && c->client_ctx) {
            return fail(l, MR_E_INVAL, &e->value->pos,
                        "verify_cert_and_check_known_urls not supported in this context");
        }
        t->verify = t->verify || b;
        return rc;
    case TL_TIMEOUT:
        return get_seconds(l, e, "tls", &t->timeout_ns);
    default:
        return tls_handshake_first(l, e, &t->handshake_first);
    }
}

/* A tls {} block into t (enabled). client_ctx: a client, leafnode or websocket
 * listener, or a leafnode remote, where nats-server allows fewer checks. */
static int parse_tls(struct loader *l, struct mr_conf_entry *e, struct mr_tls_opts *t,
                     bool client_ctx)
{
    int rc = want_map(l, e, "tls");
    if (rc != 0) {
        return rc;
    }
    memset(t, 0, sizeof(*t));
    struct tls_ctx c = {t, client_ctx};
    rc = walk(l, e->value, tls_keys, G_N_ELEMENTS(tls_keys), U_TLS, tls_entry, &c);
    if (rc != 0) {
        return rc;
    }
    if (t->cert_file[0] != '\0' && t->key_file[0] == '\0') {
        return fail(l, MR_E_INVAL, &e->value->pos, "missing 'key_file' in TLS configuration");
    }
    if (t->cert_file[0] == '\0' && t->key_file[0] != '\0') {
        return fail(l, MR_E_INVAL, &e->value->pos, "missing 'cert_file' in TLS configuration");
    }
    t->enabled = true;
    return 0;
}

/* ---------------------------------------------------------------------------------
 * Pieces shared by cluster, gateway, leafnodes and websocket
 * --------------------------------------------------------------------------------- */

/* scheme://host[:port][/...] with a non-empty scheme and host. nats-server hands URLs
 * to Go's url.Parse, which takes nearly anything; a URL that cannot name a host is
 * caught here rather than at the first connection attempt. */
static bool url_ok(const char *s)
{
    const char *sep = strstr(s, "://");
    if (sep == NULL || sep == s) {
        return false;
    }
    for (const char *p = s; p < sep; p++) {
        if (!g_ascii_isalnum(*p) && *p != '+' && *p != '-' && *p != '.') {
            return false;
        }
    }
    const char *host = sep + 3;
    const char *at = strchr(host, '@');
    const char *slash = strchr(host, '/');
    if (at != NULL && (slash == NULL || at < slash)) {
        host = at + 1;
    }
    return host[0] != '\0' && host[0] != '/' && host[0] != ':' && strchr(host, ' ') == NULL;
}

/* One URL string, or an array of them ("route", "gateway", "leafnode" in messages). A
 * URL listed twice is dropped with nats-server's warning. */
static int get_urls(struct loader *l, const struct mr_conf_entry *e, const char *typ,
                    bool allow_string, struct mr_conf_strings *out)
{
    const struct mr_conf_value *v = e->value;
    const struct mr_conf_value *one[1] = {v};
    const struct mr_conf_value *const *items = one;
    size_t n = 1;
    if (v->type == MR_CONF_ARRAY) {
        items = (const struct mr_conf_value *const *)v->u.array.items;
        n = v->u.array.count;
    } else if (v->type != MR_CONF_STRING || !allow_string) {
        return fail(l, MR_E_INVAL, &v->pos, "expected \"%s\" to be %s, got %s", e->key,
                    allow_string ? "a URL or an array of URLs" : "an array of URLs",
                    a_type(v->type));
    }
    for (size_t i = 0; i < n; i++) {
        const struct mr_conf_value *it = items[i];
        if (it->type != MR_CONF_STRING) {
            return fail(l, MR_E_INVAL, &it->pos, "expected a %s url string, got %s", typ,
                        a_type(it->type));
        }
        const char *s = g_strstrip(g_strdup(it->u.str.s));
        bool dup = false;
        for (size_t k = 0; k < out->count; k++) {
            dup = dup || strcmp(out->items[k], s) == 0;
        }
        if (dup) {
            warn(l, MR_CONF_WARN_COMPAT, &it->pos,
                 "invalid use of field \"%s\": Duplicate %s entry detected", s, typ);
            g_free((char *)s);
            continue;
        }
        if (!url_ok(s)) {
            fail(l, MR_E_INVAL, &it->pos, "error parsing %s url [\"%s\"]", typ, s);
            g_free((char *)s);
            return MR_E_INVAL;
        }
        out->items = g_renew(char *, out->items, out->count + 1);
        out->items[out->count++] = (char *)s;
    }
    return 0;
}

static bool rtt_ascending(const uint64_t *rtts, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        for (size_t k = 0; k < i; k++) {
            if (rtts[i] != 0 && rtts[i] < rtts[k]) {
                return false;
            }
        }
    }
    return true;
}

static int compression_mode(struct loader *l, const struct mr_conf_value *v,
                            enum mr_compression_mode on, enum mr_compression_mode *out)
{
    static const struct {
        const char *name;
        enum mr_compression_mode mode;
    } modes[] = {
        {"off", MR_COMPRESSION_OFF},
        {"disabled", MR_COMPRESSION_OFF},
        {"false", MR_COMPRESSION_OFF},
        {"accept", MR_COMPRESSION_ACCEPT},
        {"auto", MR_COMPRESSION_S2_AUTO},
        {"s2_auto", MR_COMPRESSION_S2_AUTO},
        {"fast", MR_COMPRESSION_S2_FAST},
        {"s2_fast", MR_COMPRESSION_S2_FAST},
        {"better", MR_COMPRESSION_S2_BETTER},
        {"s2_better", MR_COMPRESSION_S2_BETTER},
        {"best", MR_COMPRESSION_S2_BEST},
        {"s2_best", MR_COMPRESSION_S2_BEST},
        {"s2_uncompressed", MR_COMPRESSION_S2_UNCOMPRESSED},
        {"not supported", MR_COMPRESSION_NOT_SUPPORTED},
        {"not_supported", MR_COMPRESSION_NOT_SUPPORTED},
    };
    const char *s = v->u.str.s;
    if (g_ascii_strcasecmp(s, "on") == 0 || g_ascii_strcasecmp(s, "enabled") == 0 ||
        g_ascii_strcasecmp(s, "true") == 0) {
        *out = on;
        return 0;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
        if (g_ascii_strcasecmp(s, modes[i].name) == 0) {
            *out = modes[i].mode;
            return 0;
        }
    }
    return fail(l, MR_E_INVAL, &v->pos, "unsupported compression mode \"%s\"", s);
}

static int compression_rtts(struct loader *l, const struct mr_conf_value *v,
                            struct mr_compression_opts *c)
{
    if (v->type != MR_CONF_ARRAY) {
        return fail(l, MR_E_INVAL, &v->pos, "expected RTT thresholds to be an array, got %s",
                    a_type(v->type));
    }
    uint64_t rtts[MR_CONF_COMPRESSION_RTT_MAX] = {0};
    size_t n = 0;
    for (size_t i = 0; i < v->u.array.count; i++) {
        const struct mr_conf_value *it = v->u.array.items[i];
        uint64_t ns = 0;
        bool legacy = false;
        if (it->type != MR_CONF_STRING || mr_conf_duration_ns(it, &ns, &legacy) != 0) {
            return fail(l, MR_E_INVAL, &it->pos, "invalid RTT threshold (want a duration)");
        }
        if (n == MR_CONF_COMPRESSION_RTT_MAX) {
            return fail(l, MR_E_INVAL, &v->pos,
                        "compression mode \"s2_auto\" should have no more than 4 RTT thresholds");
        }
        rtts[n++] = ns;
    }
    while (n > 0 && rtts[n - 1] == 0) {
        n--; /* trailing zeros mean "level not used" */
    }
    if (n == 0 || !rtt_ascending(rtts, n)) {
        return fail(l, MR_E_INVAL, &v->pos,
                    n == 0 ? "compression mode \"s2_auto\" requires at least one RTT threshold"
                           : "RTT threshold values should be in ascending order");
    }
    memcpy(c->rtt_thresholds_ns, rtts, sizeof(rtts));
    c->rtt_count = n;
    return 0;
}

static void compression_default_rtts(struct mr_compression_opts *c)
{
    c->rtt_thresholds_ns[0] = 10 * MR_NS_PER_MS;
    c->rtt_thresholds_ns[1] = 50 * MR_NS_PER_MS;
    c->rtt_thresholds_ns[2] = 100 * MR_NS_PER_MS;
    c->rtt_count = 3;
}

/* compression: "mode" | bool | { mode, rtt_thresholds }. on: the block's "on" mode. */
static int parse_compression(struct loader *l, const struct mr_conf_entry *e,
                             enum mr_compression_mode on, struct mr_compression_opts *c)
{
    const struct mr_conf_value *v = e->value;
    memset(c, 0, sizeof(*c));
    int rc = 0;
    if (v->type == MR_CONF_BOOL) {
        c->mode = v->u.b ? on : MR_COMPRESSION_OFF;
    } else if (v->type == MR_CONF_STRING) {
        rc = compression_mode(l, v, on, &c->mode);
    } else if (v->type == MR_CONF_MAP) {
        static const char *const mode_keys[] = {"mode", NULL};
        static const char *const rtt_keys[] = {"rtt_thresholds", "thresholds", "rtts", "rtt", NULL};
        for (size_t i = 0; i < v->u.map.count; i++) {
            const struct mr_conf_entry *ce = &v->u.map.entries[i];
            bool is_mode = g_ascii_strcasecmp(ce->key, mode_keys[0]) == 0;
            bool is_rtt = false;
            for (size_t k = 0; rtt_keys[k] != NULL; k++) {
                is_rtt = is_rtt || g_ascii_strcasecmp(ce->key, rtt_keys[k]) == 0;
            }
            if (!is_mode && !is_rtt) {
                return fail(l, MR_E_INVAL, &ce->key_pos, "unknown field \"%s\"", ce->key);
            }
            if (is_mode && ce->value->type != MR_CONF_STRING) {
                return fail(l, MR_E_INVAL, &ce->value->pos, "expected \"mode\" to be a string");
            }
            rc = is_mode ? compression_mode(l, ce->value, on, &c->mode)
                         : compression_rtts(l, ce->value, c);
            if (rc != 0) {
                return rc;
            }
        }
    } else {
        return fail(l, MR_E_INVAL, &v->pos,
                    "field \"%s\" should be a boolean or a structure, got %s", e->key,
                    a_type(v->type));
    }
    if (rc == 0 && c->mode == MR_COMPRESSION_S2_AUTO && c->rtt_count == 0) {
        compression_default_rtts(c);
    }
    return rc;
}

/* authorization {} of cluster, gateway (route_like) and websocket. */
enum { SA_USER = 1, SA_PASSWORD, SA_TOKEN, SA_TIMEOUT, SA_USERS, SA_PERMISSIONS };

static const struct key simple_auth_keys[] = {
    {{"user", "username"}, SA_USER, NULL},
    {{"password", "pass"}, SA_PASSWORD, NULL},
    {{"token"}, SA_TOKEN, NULL},
    {{"timeout"}, SA_TIMEOUT, NULL},
};

static const struct key route_auth_keys[] = {
    {{"user", "username"}, SA_USER, NULL},
    {{"password", "pass"}, SA_PASSWORD, NULL},
    {{"token"}, SA_TOKEN, NULL},
    {{"timeout"}, SA_TIMEOUT, NULL},
    {{"users"}, SA_USERS, NULL},
    {{"default_permissions", "default_permission", "permissions"}, SA_PERMISSIONS, NULL},
};

struct simple_auth_ctx {
    struct mr_conf_simple_auth *a;
    const struct mr_conf_pos *users_pos;
    struct mr_permissions *permissions;
    const struct mr_conf_pos *permissions_pos;
};

static int simple_auth_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct simple_auth_ctx *c = target;
    switch (id) {
    case SA_USER:
        return get_str(l, e, &c->a->user);
    case SA_PASSWORD:
        return get_str(l, e, &c->a->password);
    case SA_TOKEN:
        return get_str(l, e, &c->a->token);
    case SA_TIMEOUT:
        return get_seconds(l, e, "authorization", &c->a->timeout_ns);
    case SA_USERS:
        c->users_pos = &e->value->pos;
        return 0;
    default:
        c->permissions_pos = &e->key_pos;
        return parse_permissions(l, e->value, &c->permissions);
    }
}

/*
 * authorization {} of a cluster or gateway (owner "Cluster" or "Gateway": one user, no
 * token, no users) or of websocket (owner NULL: user or token). Cluster permissions in
 * it are deprecated but used when the cluster has none of its own (*perms).
 */
static int parse_simple_auth(struct loader *l, struct mr_conf_entry *e, const char *owner,
                             struct mr_conf_simple_auth *a, struct mr_permissions **perms)
{
    int rc = want_map(l, e, "authorization");
    if (rc != 0) {
        return rc;
    }
    struct simple_auth_ctx c = {.a = a};
    if (owner == NULL) {
        rc = walk(l, e->value, simple_auth_keys, G_N_ELEMENTS(simple_auth_keys), U_FIELD,
                  simple_auth_entry, &c);
    } else {
        rc = walk(l, e->value, route_auth_keys, G_N_ELEMENTS(route_auth_keys), U_FIELD,
                  simple_auth_entry, &c);
    }
    if (rc == 0 && owner != NULL && c.users_pos != NULL) {
        rc = fail(l, MR_E_INVAL, &e->value->pos, "%s authorization does not allow multiple users",
                  owner);
    } else if (rc == 0 && owner != NULL && a->token != NULL) {
        rc = fail(l, MR_E_INVAL, &e->value->pos, "%s authorization does not support tokens", owner);
    }
    if (rc == 0 && c.permissions != NULL && perms != NULL) {
        warn(l, MR_CONF_WARN_COMPAT, c.permissions_pos,
             "invalid use of field \"authorization\": setting \"permissions\" within cluster "
             "authorization block is deprecated");
        if (*perms == NULL) {
            *perms = c.permissions;
            c.permissions = NULL;
        }
    }
    permissions_free(c.permissions);
    return rc;
}

/* ---------------------------------------------------------------------------------
 * cluster {} (config.md section 5)
 * --------------------------------------------------------------------------------- */

enum {
    CL_NAME = 1,
    CL_LISTEN,
    CL_PORT,
    CL_HOST,
    CL_AUTHORIZATION,
    CL_ROUTES,
    CL_TLS,
    CL_ADVERTISE,
    CL_NO_ADVERTISE,
    CL_CONNECT_RETRIES,
    CL_PERMISSIONS,
    CL_POOL_SIZE,
    CL_ACCOUNTS,
    CL_COMPRESSION,
    CL_PING_INTERVAL,
    CL_PING_MAX,
    CL_WRITE_DEADLINE,
};

static const struct key cluster_keys[] = {
    {{"name"}, CL_NAME, NULL},
    {{"listen"}, CL_LISTEN, NULL},
    {{"port"}, CL_PORT, NULL},
    {{"host", "net"}, CL_HOST, NULL},
    {{"authorization"}, CL_AUTHORIZATION, NULL},
    {{"routes"}, CL_ROUTES, NULL},
    {{"tls"}, CL_TLS, NULL},
    {{"advertise", "cluster_advertise"}, CL_ADVERTISE, NULL},
    {{"no_advertise"}, CL_NO_ADVERTISE, NULL},
    {{"connect_retries"}, CL_CONNECT_RETRIES, NULL},
    {{"permissions"}, CL_PERMISSIONS, NULL},
    {{"pool_size"}, CL_POOL_SIZE, NULL},
    {{"accounts"}, CL_ACCOUNTS, NULL},
    {{"compression"}, CL_COMPRESSION, NULL},
    {{"ping_interval"}, CL_PING_INTERVAL, NULL},
    {{"ping_max"}, CL_PING_MAX, NULL},
    {{"write_deadline"}, CL_WRITE_DEADLINE, NULL},
    {{"connect_backoff"}, K_IGNORED, "route connect backoff"},
    {{"write_timeout"}, K_IGNORED, "write timeout policy"},
};

static int name_without_spaces(struct loader *l, struct mr_conf_entry *e, const char *what,
                               char **out)
{
    int rc = get_str(l, e, out);
    if (rc == 0 && strchr(*out, ' ') != NULL) {
        return fail(l, MR_E_INVAL, &e->value->pos, "%s name cannot contain spaces", what);
    }
    return rc;
}

static int cluster_ping_interval(struct loader *l, struct mr_cluster_opts *c,
                                 struct mr_conf_entry *e)
{
    int rc = get_duration(l, e, &c->ping_interval_ns);
    if (rc == 0 && c->ping_interval_ns > MR_CLUSTER_PING_INTERVAL_MAX_NS) {
        warn(l, MR_CONF_WARN_COMPAT, &e->value->pos,
             "Cluster 'ping_interval' will reset to 30s which is the max for routes");
        c->ping_interval_ns = MR_CLUSTER_PING_INTERVAL_MAX_NS;
    }
    return rc;
}

static int cluster_permissions(struct loader *l, struct mr_cluster_opts *c, struct mr_conf_entry *e)
{
    struct mr_permissions *p = NULL;
    int rc = parse_permissions(l, e->value, &p);
    if (rc == 0 && p->allow_responses) {
        rc = fail(l, MR_E_INVAL, &e->value->pos,
                  "Cluster permissions do not support dynamic responses");
    }
    if (rc != 0) {
        permissions_free(p);
        return rc;
    }
    permissions_free(c->permissions);
    c->permissions = p;
    return 0;
}

static int cluster_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct mr_cluster_opts *c = target;
    int64_t n = 0;
    int rc = 0;
    switch (id) {
    case CL_NAME:
        return name_without_spaces(l, e, "cluster", &c->name);
    case CL_LISTEN:
        return get_listen(l, e, &c->host, &c->port);
    case CL_PORT:
        rc = get_int_range(l, e, -1, 65535, &n);
        c->port = (int)n;
        return rc;
    case CL_HOST:
        return get_str(l, e, &c->host);
    case CL_AUTHORIZATION:
        return parse_simple_auth(l, e, "Cluster", &c->auth, &c->permissions);
    case CL_ROUTES:
        strings_clear(&c->routes);
        return get_urls(l, e, "route", false, &c->routes);
    case CL_TLS:
        return parse_tls(l, e, &c->tls, false);
    case CL_ADVERTISE:
        return get_str(l, e, &c->advertise);
    case CL_NO_ADVERTISE:
        return get_bool(l, e, &c->no_advertise);
    case CL_CONNECT_RETRIES:
        return get_i32(l, e, &c->connect_retries);
    case CL_PERMISSIONS:
        return cluster_permissions(l, c, e);
    case CL_POOL_SIZE:
        return get_i32(l, e, &c->pool_size);
    case CL_ACCOUNTS:
        strings_clear(&c->accounts);
        return get_strings(l, e, &c->accounts);
    case CL_COMPRESSION:
        return parse_compression(l, e, MR_COMPRESSION_S2_FAST, &c->compression);
    case CL_PING_INTERVAL:
        return cluster_ping_interval(l, c, e);
    case CL_PING_MAX:
        rc = get_int_range(l, e, 0, INT32_MAX, &n);
        c->ping_max = (uint32_t)n;
        return rc;
    default:
        return get_duration(l, e, &c->write_deadline_ns);
    }
}

static int parse_cluster(struct loader *l, struct mr_conf_entry *e)
{
    struct mr_cluster_opts *c = &l->cfg->cluster;
    if (e->value->type != MR_CONF_MAP) {
        return fail(l, MR_E_INVAL, &e->value->pos, "Expected map to define cluster, got %s",
                    a_type(e->value->type));
    }
    c->present = true;
    where_of(&e->key_pos, c->where, sizeof(c->where));
    int rc = walk(l, e->value, cluster_keys, G_N_ELEMENTS(cluster_keys), U_FIELD, cluster_entry, c);
    if (rc == 0) {
        rc = check_port(l, e->value, "cluster", c->port);
    }
    return rc;
}

/* ---------------------------------------------------------------------------------
 * gateway {} (config.md section 6)
 * --------------------------------------------------------------------------------- */

enum {
    GW_NAME = 1,
    GW_LISTEN,
    GW_PORT,
    GW_HOST,
    GW_AUTHORIZATION,
    GW_TLS,
    GW_ADVERTISE,
    GW_CONNECT_RETRIES,
    GW_GATEWAYS,
    GW_REJECT_UNKNOWN,
    GW_WRITE_DEADLINE,
};

static const struct key gateway_keys[] = {
    {{"name"}, GW_NAME, NULL},
    {{"listen"}, GW_LISTEN, NULL},
    {{"port"}, GW_PORT, NULL},
    {{"host", "net"}, GW_HOST, NULL},
    {{"authorization"}, GW_AUTHORIZATION, NULL},
    {{"tls"}, GW_TLS, NULL},
    {{"advertise"}, GW_ADVERTISE, NULL},
    {{"connect_retries"}, GW_CONNECT_RETRIES, NULL},
    {{"gateways"}, GW_GATEWAYS, NULL},
    {{"reject_unknown_cluster", "reject_unknown"}, GW_REJECT_UNKNOWN, NULL},
    {{"write_deadline"}, GW_WRITE_DEADLINE, NULL},
    {{"connect_backoff"}, K_IGNORED, "gateway connect backoff"},
    {{"write_timeout"}, K_IGNORED, "write timeout policy"},
};

enum { GR_NAME = 1, GR_TLS, GR_URL, GR_URLS };

static const struct key gateway_remote_keys[] = {
    {{"name"}, GR_NAME, NULL},
    {{"tls"}, GR_TLS, NULL},
    {{"url"}, GR_URL, NULL},
    {{"urls"}, GR_URLS, NULL},
};

static int gateway_remote_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct mr_gateway_remote_opts *g = target;
    switch (id) {
    case GR_NAME:
        return get_str(l, e, &g->name);
    case GR_TLS:
        return parse_tls(l, e, &g->tls, false);
    case GR_URL:
        if (e->value->type != MR_CONF_STRING) {
            return want(l, e, MR_CONF_STRING);
        }
        return get_urls(l, e, "gateway", true, &g->urls);
    default:
        strings_clear(&g->urls);
        return get_urls(l, e, "gateway", false, &g->urls);
    }
}

static int parse_gateways(struct loader *l, struct mr_gateway_opts *gw, struct mr_conf_entry *e)
{
    if (e->value->type != MR_CONF_ARRAY) {
        return fail(l, MR_E_INVAL, &e->value->pos, "Expected gateways field to be an array, got %s",
                    a_type(e->value->type));
    }
    for (size_t i = 0; i < e->value->u.array.count; i++) {
        struct mr_conf_value *it = e->value->u.array.items[i];
        if (it->type != MR_CONF_MAP) {
            return fail(l, MR_E_INVAL, &it->pos,
                        "Expected gateway entry to be a map/struct, got %s", a_type(it->type));
        }
        gw->gateways = g_renew(struct mr_gateway_remote_opts, gw->gateways, gw->gateways_count + 1);
        struct mr_gateway_remote_opts *g = &gw->gateways[gw->gateways_count++];
        memset(g, 0, sizeof(*g));
        int rc = walk(l, it, gateway_remote_keys, G_N_ELEMENTS(gateway_remote_keys), U_FIELD,
                      gateway_remote_entry, g);
        if (rc != 0) {
            return rc;
        }
        /* nats-server's validateGatewayOptions, with the entry's position. */
        if (g->name == NULL || g->name[0] == '\0') {
            return fail(l, MR_E_INVAL, &it->pos, "gateway in the list %zu has no name", i);
        }
        if (g->urls.count == 0) {
            return fail(l, MR_E_INVAL, &it->pos, "gateway \"%s\" has no URL", g->name);
        }
    }
    return 0;
}

static int gateway_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct mr_gateway_opts *g = target;
    int64_t n = 0;
    int rc = 0;
    switch (id) {
    case GW_NAME:
        return name_without_spaces(l, e, "gateway", &g->name);
    case GW_LISTEN:
        return get_listen(l, e, &g->host, &g->port);
    case GW_PORT:
        rc = get_int_range(l, e, -1, 65535, &n);
        g->port = (int)n;
        return rc;
    case GW_HOST:
        return get_str(l, e, &g->host);
    case GW_AUTHORIZATION:
        return parse_simple_auth(l, e, "Gateway", &g->auth, NULL);
    case GW_TLS:
        return parse_tls(l, e, &g->tls, false);
    case GW_ADVERTISE:
        return get_str(l, e, &g->advertise);
    case GW_CONNECT_RETRIES:
        return get_i32(l, e, &g->connect_retries);
    case GW_GATEWAYS:
        return parse_gateways(l, g, e);
    case GW_REJECT_UNKNOWN:
        return get_bool(l, e, &g->reject_unknown_cluster);
    default:
        return get_duration(l, e, &g->write_deadline_ns);
    }
}

static int parse_gateway(struct loader *l, struct mr_conf_entry *e)
{
    struct mr_gateway_opts *g = &l->cfg->gateway;
    if (e->value->type != MR_CONF_MAP) {
        return fail(l, MR_E_INVAL, &e->value->pos, "Expected gateway to be a map, got %s",
                    a_type(e->value->type));
    }
    g->present = true;
    where_of(&e->key_pos, g->where, sizeof(g->where));
    int rc = walk(l, e->value, gateway_keys, G_N_ELEMENTS(gateway_keys), U_FIELD, gateway_entry, g);
    if (rc != 0) {
        return rc;
    }
    if (g->name == NULL && g->port == 0) {
        return 0; /* nats-server: an empty gateway {} configures nothing */
    }
    if (g->name == NULL || g->name[0] == '\0') {
        return fail(l, MR_E_INVAL, &e->value->pos, "gateway has no name");
    }
    if (g->port == 0) {
        return fail(l, MR_E_INVAL, &e->value->pos,
                    "gateway \"%s\" has no port specified (select -1 for random port)", g->name);
    }
    return check_port(l, e->value, "gateway", g->port);
}

/* ---------------------------------------------------------------------------------
 * leafnodes {} (config.md section 7)
 * --------------------------------------------------------------------------------- */

enum { LU_USER = 1, LU_PASSWORD, LU_ACCOUNT };

static const struct key leaf_user_keys[] = {
    {{"user", "username"}, LU_USER, NULL},
    {{"password", "pass"}, LU_PASSWORD, NULL},
    {{"account"}, LU_ACCOUNT, NULL},
    {{"nkey"}, K_REFUSED, "nkey users"},
    {{"proxy_required"}, K_IGNORED, "proxy protocol"},
};

static int leaf_user_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct mr_leafnode_user_opts *u = target;
    switch (id) {
    case LU_USER:
        return get_str(l, e, &u->user);
    case LU_PASSWORD:
        return get_str(l, e, &u->password);
    default:
        return get_str(l, e, &u->account);
    }
}

static int parse_leaf_users(struct loader *l, struct mr_leafnode_auth_opts *a,
                            struct mr_conf_value *v)
{
    if (v->type != MR_CONF_ARRAY) {
        return fail(l, MR_E_INVAL, &v->pos, "Expected users field to be an array, got %s",
                    a_type(v->type));
    }
    for (size_t i = 0; i < v->u.array.count; i++) {
        struct mr_conf_value *it = v->u.array.items[i];
        if (it->type != MR_CONF_MAP) {
            return fail(l, MR_E_INVAL, &it->pos, "Expected user entry to be a map/struct, got %s",
                        a_type(it->type));
        }
        a->users = g_renew(struct mr_leafnode_user_opts, a->users, a->users_count + 1);
        struct mr_leafnode_user_opts *u = &a->users[a->users_count++];
        memset(u, 0, sizeof(*u));
        int rc =
            walk(l, it, leaf_user_keys, G_N_ELEMENTS(leaf_user_keys), U_FIELD, leaf_user_entry, u);
        if (rc != 0) {
            return rc;
        }
        for (size_t k = 0; u->user != NULL && k + 1 < a->users_count; k++) {
            if (a->users[k].user != NULL && strcmp(a->users[k].user, u->user) == 0) {
                return fail(l, MR_E_INVAL, &it->pos,
                            "duplicate user \"%s\" detected in leafnode authorization", u->user);
            }
        }
    }
    return 0;
}

enum { LA_USER = 1, LA_PASSWORD, LA_TIMEOUT, LA_USERS, LA_ACCOUNT };

static const struct key leaf_auth_keys[] = {
    {{"user", "username"}, LA_USER, NULL},
    {{"password", "pass"}, LA_PASSWORD, NULL},
    {{"timeout"}, LA_TIMEOUT, NULL},
    {{"users"}, LA_USERS, NULL},
    {{"account"}, LA_ACCOUNT, NULL},
    {{"nkey"}, K_REFUSED, "nkey users"},
    {{"proxy_required"}, K_IGNORED, "proxy protocol"},
};

static int leaf_auth_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct mr_leafnode_auth_opts *a = target;
    switch (id) {
    case LA_USER:
        return get_str(l, e, &a->user);
    case LA_PASSWORD:
        return get_str(l, e, &a->password);
    case LA_TIMEOUT:
        return get_seconds(l, e, "authorization", &a->timeout_ns);
    case LA_USERS:
        return parse_leaf_users(l, a, e->value);
    default:
        return get_str(l, e, &a->account);
    }
}

/* --- remotes --- */

enum {
    LR_URLS = 1,
    LR_ACCOUNT,
    LR_CREDENTIALS,
    LR_NKEY,
    LR_TLS,
    LR_WS_COMPRESSION,
    LR_WS_NO_MASKING,
    LR_HUB,
    LR_DENY_IMPORTS,
    LR_DENY_EXPORTS,
    LR_NO_RANDOMIZE,
    LR_FIRST_INFO_TIMEOUT,
    LR_DISABLED,
    LR_REQUEST_ISOLATION,
    LR_ISOLATE,
    LR_COMPRESSION,
    LR_PROXY,
};

static const struct key leaf_remote_keys[] = {
    {{"url", "urls"}, LR_URLS, NULL},
    {{"account", "local"}, LR_ACCOUNT, NULL},
    {{"credentials", "creds"}, LR_CREDENTIALS, NULL},
    {{"nkey", "seed"}, LR_NKEY, NULL},
    {{"tls"}, LR_TLS, NULL},
    {{"ws_compression", "ws_compress", "websocket_compress", "websocket_compression"},
     LR_WS_COMPRESSION,
     NULL},
    {{"ws_no_masking", "websocket_no_masking"}, LR_WS_NO_MASKING, NULL},
    {{"hub"}, LR_HUB, NULL},
    {{"deny_imports", "deny_import"}, LR_DENY_IMPORTS, NULL},
    {{"deny_exports", "deny_export"}, LR_DENY_EXPORTS, NULL},
    {{"no_randomize", "dont_randomize"}, LR_NO_RANDOMIZE, NULL},
    {{"first_info_timeout"}, LR_FIRST_INFO_TIMEOUT, NULL},
    {{"disabled"}, LR_DISABLED, NULL},
    {{"request_isolation"}, LR_REQUEST_ISOLATION, NULL},
    {{"isolate_leafnode_interest", "isolate"}, LR_ISOLATE, NULL},
    {{"compression"}, LR_COMPRESSION, NULL},
    {{"proxy"}, LR_PROXY, NULL},
    {{"jetstream_cluster_migrate", "js_cluster_migrate"}, K_IGNORED, "JetStream cluster migration"},
    {{"dial_timeout"}, K_IGNORED, "dial timeout"},
    {{"ignore_discovered_servers"}, K_IGNORED, "ignoring discovered servers"},
};

enum { PX_URL = 1, PX_USERNAME, PX_PASSWORD, PX_TIMEOUT };

static const struct key proxy_keys[] = {
    {{"url"}, PX_URL, NULL},
    {{"username"}, PX_USERNAME, NULL},
    {{"password"}, PX_PASSWORD, NULL},
    {{"timeout"}, PX_TIMEOUT, NULL},
};

static int proxy_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct mr_leafnode_proxy_opts *p = target;
    switch (id) {
    case PX_URL:
        return get_str(l, e, &p->url);
    case PX_USERNAME:
        return get_str(l, e, &p->username);
    case PX_PASSWORD:
        return get_str(l, e, &p->password);
    default:
        return get_duration(l, e, &p->timeout_ns);
    }
}

/* deny_imports/deny_exports: permission subjects (a subject or an array). */
static int deny_list(struct loader *l, struct mr_conf_entry *e, struct mr_conf_strings *out)
{
    struct mr_subject_list list = {NULL, 0};
    int rc = perm_subjects(l, e->value, &list);
    if (rc != 0) {
        subject_list_clear(&list);
        return rc;
    }
    strings_clear(out);
    out->items = list.subjects;
    out->count = list.count;
    return 0;
}

static int leaf_remote_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct mr_leafnode_remote_opts *r = target;
    switch (id) {
    case LR_URLS:
        strings_clear(&r->urls);
        return get_urls(l, e, "leafnode", true, &r->urls);
    case LR_ACCOUNT:
        return get_str(l, e, &r->account);
    case LR_CREDENTIALS:
        mr_conf_pos_format(&e->value->pos, r->credentials_where, sizeof(r->credentials_where));
        return get_str(l, e, &r->credentials);
    case LR_NKEY:
        /* nats-server 2.9 has no such remote field (its loader calls it unknown), and a
         * Meridian hub has no nkey users to check one against: refused by name rather
         * than connecting without the authentication the config asks for. */
        return fail(l, MR_E_UNSUPPORTED, &e->key_pos,
                    "\"%s\": a leafnode remote cannot authenticate with a bare nkey seed, "
                    "use \"credentials\" (a .creds file with the user JWT and seed)",
                    e->key);
    case LR_TLS:
        return parse_tls(l, e, &r->tls, true);
    case LR_WS_COMPRESSION:
        return get_bool(l, e, &r->ws_compression);
    case LR_WS_NO_MASKING:
        return get_bool(l, e, &r->ws_no_masking);
    case LR_HUB:
        return get_bool(l, e, &r->hub);
    case LR_DENY_IMPORTS:
        return deny_list(l, e, &r->deny_imports);
    case LR_DENY_EXPORTS:
        return deny_list(l, e, &r->deny_exports);
    case LR_NO_RANDOMIZE:
        return get_bool(l, e, &r->no_randomize);
    case LR_FIRST_INFO_TIMEOUT:
        return get_duration(l, e, &r->first_info_timeout_ns);
    case LR_DISABLED:
        return get_bool(l, e, &r->disabled);
    case LR_REQUEST_ISOLATION:
        return get_bool(l, e, &r->request_isolation);
    case LR_ISOLATE:
        return get_bool(l, e, &r->isolate_leafnode_interest);
    case LR_COMPRESSION:
        return parse_compression(l, e, MR_COMPRESSION_S2_AUTO, &r->compression);
    default:
        if (e->value->type != MR_CONF_MAP) {
            return fail(l, MR_E_INVAL, &e->value->pos, "Expected proxy to be a map, got %s",
                        a_type(e->value->type));
        }
        return walk(l, e->value, proxy_keys, G_N_ELEMENTS(proxy_keys), U_FIELD, proxy_entry,
                    &r->proxy);
    }
}

static bool is_ws_url(const char *u)
{
    return g_ascii_strncasecmp(u, "ws://", 5) == 0 || g_ascii_strncasecmp(u, "wss://", 6) == 0;
}

static int parse_remote(struct loader *l, struct mr_leafnode_opts *lo, struct mr_conf_value *v)
{
    if (v->type != MR_CONF_MAP) {
        return fail(l, MR_E_INVAL, &v->pos,
                    "Expected remote leafnode entry to be a map/struct, got %s", a_type(v->type));
    }
    lo->remotes = g_renew(struct mr_leafnode_remote_opts, lo->remotes, lo->remotes_count + 1);
    struct mr_leafnode_remote_opts *r = &lo->remotes[lo->remotes_count++];
    memset(r, 0, sizeof(*r));
    r->compression.mode = MR_COMPRESSION_S2_AUTO;
    compression_default_rtts(&r->compression);
    int rc =
        walk(l, v, leaf_remote_keys, G_N_ELEMENTS(leaf_remote_keys), U_FIELD, leaf_remote_entry, r);
    if (rc != 0) {
        return rc;
    }
    if (r->urls.count == 0) {
        return fail(l, MR_E_INVAL, &v->pos, "remote leafnode has no URL");
    }
    for (size_t i = 1; i < r->urls.count; i++) {
        if (is_ws_url(r->urls.items[i]) != is_ws_url(r->urls.items[0])) {
            return fail(l, MR_E_INVAL, &v->pos,
                        "remote leaf node configuration cannot have a mix of websocket and "
                        "non-websocket urls");
        }
    }
    return 0;
}

/* "X.Y.Z" with an optional "v" before and "-suffix" after, into v[3]. */
static bool parse_semver(const char *s, unsigned v[3])
{
    if (*s == 'v') {
        s++;
    }
    for (size_t i = 0; i < 3; i++) {
        if (!g_ascii_isdigit(*s)) {
            return false;
        }
        unsigned n = 0;
        for (; g_ascii_isdigit(*s) && n < 100000; s++) {
            n = n * 10 + (unsigned)(*s - '0');
        }
        v[i] = n;
        if (i < 2 && *s++ != '.') {
            return false;
        }
    }
    return *s == '\0' || *s == '-';
}

/* min_version: a semantic version, at least 2.8.0 (nats-server's leafnode check). */
static int leaf_min_version(struct loader *l, struct mr_leafnode_opts *lo, struct mr_conf_entry *e)
{
    int rc = get_str(l, e, &lo->min_version);
    if (rc != 0) {
        return rc;
    }
    unsigned v[3] = {0, 0, 0};
    if (!parse_semver(lo->min_version, v)) {
        return fail(l, MR_E_INVAL, &e->value->pos,
                    "invalid leafnode's minimum version: invalid semver");
    }
    if (v[0] < 2 || (v[0] == 2 && v[1] < 8)) {
        return fail(l, MR_E_INVAL, &e->value->pos, "the minimum version should be at least 2.8.0");
    }
    return 0;
}

enum {
    LN_LISTEN = 1,
    LN_PORT,
    LN_HOST,
    LN_AUTHORIZATION,
    LN_REMOTES,
    LN_RECONNECT,
    LN_TLS,
    LN_ADVERTISE,
    LN_NO_ADVERTISE,
    LN_MIN_VERSION,
    LN_COMPRESSION,
    LN_ISOLATE,
    LN_WRITE_DEADLINE,
};

static const struct key leafnode_keys[] = {
    {{"listen"}, LN_LISTEN, NULL},
    {{"port"}, LN_PORT, NULL},
    {{"host", "net"}, LN_HOST, NULL},
    {{"authorization"}, LN_AUTHORIZATION, NULL},
    {{"remotes"}, LN_REMOTES, NULL},
    {{"reconnect", "reconnect_delay", "reconnect_interval"}, LN_RECONNECT, NULL},
    {{"tls"}, LN_TLS, NULL},
    {{"advertise", "leafnode_advertise"}, LN_ADVERTISE, NULL},
    {{"no_advertise"}, LN_NO_ADVERTISE, NULL},
    {{"min_version", "minimum_version"}, LN_MIN_VERSION, NULL},
    {{"compression"}, LN_COMPRESSION, NULL},
    {{"isolate_leafnode_interest", "isolate"}, LN_ISOLATE, NULL},
    {{"write_deadline"}, LN_WRITE_DEADLINE, NULL},
    {{"dial_timeout"}, K_IGNORED, "dial timeout"},
    {{"write_timeout"}, K_IGNORED, "write timeout policy"},
};

static int leafnode_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct mr_leafnode_opts *lo = target;
    int64_t n = 0;
    int rc = 0;
    switch (id) {
    case LN_LISTEN:
        return get_listen(l, e, &lo->host, &lo->port);
    case LN_PORT:
        rc = get_int_range(l, e, -1, 65535, &n);
        lo->port = (int)n;
        return rc;
    case LN_HOST:
        return get_str(l, e, &lo->host);
    case LN_AUTHORIZATION:
        l->leaf_auth_v = e->value;
        rc = want_map(l, e, "leafnode authorization");
        return rc != 0 ? rc
                       : walk(l, e->value, leaf_auth_keys, G_N_ELEMENTS(leaf_auth_keys), U_FIELD,
                              leaf_auth_entry, &lo->auth);
    case LN_REMOTES:
        if (e->value->type != MR_CONF_ARRAY) {
            return fail(l, MR_E_INVAL, &e->value->pos,
                        "Expected remotes field to be an array, got %s", a_type(e->value->type));
        }
        for (size_t i = 0; rc == 0 && i < e->value->u.array.count; i++) {
            rc = parse_remote(l, lo, e->value->u.array.items[i]);
        }
        return rc;
    case LN_RECONNECT:
        return get_duration(l, e, &lo->reconnect_ns);
    case LN_TLS:
        return parse_tls(l, e, &lo->tls, true);
    case LN_ADVERTISE:
        return get_str(l, e, &lo->advertise);
    case LN_NO_ADVERTISE:
        return get_bool(l, e, &lo->no_advertise);
    case LN_MIN_VERSION:
        return leaf_min_version(l, lo, e);
    case LN_COMPRESSION:
        return parse_compression(l, e, MR_COMPRESSION_S2_AUTO, &lo->compression);
    case LN_ISOLATE:
        return get_bool(l, e, &lo->isolate_leafnode_interest);
    default:
        return get_duration(l, e, &lo->write_deadline_ns);
    }
}

static int parse_leafnodes(struct loader *l, struct mr_conf_entry *e)
{
    struct mr_leafnode_opts *lo = &l->cfg->leafnodes;
    if (e->value->type != MR_CONF_MAP) {
        return fail(l, MR_E_INVAL, &e->value->pos, "Expected map to define a leafnode, got %s",
                    a_type(e->value->type));
    }
    lo->present = true;
    where_of(&e->key_pos, lo->where, sizeof(lo->where));
    int rc =
        walk(l, e->value, leafnode_keys, G_N_ELEMENTS(leafnode_keys), U_FIELD, leafnode_entry, lo);
    if (rc == 0 && lo->auth.users_count > 0 && lo->auth.user != NULL) {
        rc = fail(l, MR_E_INVAL, &l->leaf_auth_v->pos,
                  "can not have a single user/pass and a users array");
    }
    if (rc == 0) {
        rc = check_port(l, e->value, "leafnode", lo->port);
    }
    return rc;
}

/* ---------------------------------------------------------------------------------
 * jetstream {} (config.md section 9)
 * --------------------------------------------------------------------------------- */

enum {
    JS_STRICT = 1,
    JS_STORE_DIR,
    JS_SYNC,
    JS_MAX_MEMORY,
    JS_MAX_FILE,
    JS_DOMAIN,
    JS_ENABLED,
    JS_LIMITS,
    JS_UNIQUE_TAG,
    JS_MAX_CATCHUP,
};

static const struct key jetstream_keys[] = {
    {{"strict"}, JS_STRICT, NULL},
    {{"store_dir", "store", "storedir"}, JS_STORE_DIR, NULL},
    {{"sync_interval", "sync"}, JS_SYNC, NULL},
    {{"max_memory_store", "max_mem_store", "max_mem"}, JS_MAX_MEMORY, NULL},
    {{"max_file_store", "max_file"}, JS_MAX_FILE, NULL},
    {{"domain"}, JS_DOMAIN, NULL},
    {{"enabled", "enable"}, JS_ENABLED, NULL},
    {{"limits"}, JS_LIMITS, NULL},
    {{"unique_tag"}, JS_UNIQUE_TAG, NULL},
    {{"max_outstanding_catchup"}, JS_MAX_CATCHUP, NULL},
    {{"key", "ek", "encryption_key", "prev_key", "prev_ek", "prev_encryption_key", "cipher"},
     K_REFUSED,
     "JetStream encryption at rest"},
    {{"tpm"}, K_REFUSED, "JetStream encryption at rest"},
    {{"extension_hint"}, K_IGNORED, "JetStream extension hint"},
    {{"max_buffered_size", "max_buffered_msgs", "request_queue_limit", "info_queue_limit"},
     K_IGNORED,
     "JetStream queue tuning"},
    {{"meta_compact", "meta_compact_size", "meta_compact_sync", "max_concurrent_io"},
     K_IGNORED,
     "JetStream meta tuning"},
};

enum { JL_ACK_PENDING = 1, JL_HA_ASSETS, JL_REQUEST_BATCH, JL_DUPLICATE_WINDOW };

static const struct key jetstream_limits_keys[] = {
    {{"max_ack_pending"}, JL_ACK_PENDING, NULL},
    {{"max_ha_assets"}, JL_HA_ASSETS, NULL},
    {{"max_request_batch"}, JL_REQUEST_BATCH, NULL},
    {{"duplicate_window"}, JL_DUPLICATE_WINDOW, NULL},
    {{"batch"}, K_IGNORED, "atomic batch publish limits"},
};

static int jetstream_limits_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct mr_jetstream_limits_opts *lim = target;
    switch (id) {
    case JL_ACK_PENDING:
        return get_int(l, e, &lim->max_ack_pending);
    case JL_HA_ASSETS:
        return get_int(l, e, &lim->max_ha_assets);
    case JL_REQUEST_BATCH:
        return get_int(l, e, &lim->max_request_batch);
    default: {
        int rc = want(l, e, MR_CONF_STRING);
        return rc != 0 ? rc : get_duration(l, e, &lim->duplicate_window_ns);
    }
    }
}

/* A size: an integer (suffixes already applied by the parser), or a string ending in a
 * single K, M, G or T (binary), nats-server's getStorageSize. */
static int get_storage_size(struct loader *l, const struct mr_conf_entry *e, const char *name,
                            int64_t *out)
{
    const struct mr_conf_value *v = e->value;
    if (v->type == MR_CONF_INT) {
        *out = v->u.i;
        return 0;
    }
    if (v->type != MR_CONF_STRING) {
        return fail(l, MR_E_INVAL, &v->pos, "%s must be int64 or string", name);
    }
    const char *s = v->u.str.s;
    size_t len = strlen(s);
    if (len == 0) {
        *out = 0;
        return 0;
    }
    /* nats-server parses the digits before it looks at the suffix: "1GB" fails on "1G". */
    static const char suffixes[] = "KMGT";
    const char *suffix = strchr(suffixes, s[len - 1]);
    unsigned shift = suffix != NULL ? 10 * (unsigned)(suffix - suffixes + 1) : 0;
    char *digits = g_strndup(s, len - 1);
    gint64 n = 0;
    gboolean ok = g_ascii_string_to_signed(digits, 10, 0, G_MAXINT64 >> shift, &n, NULL);
    g_free(digits);
    if (!ok) {
        return fail(l, MR_E_INVAL, &v->pos, "%s strconv.ParseInt: parsing \"%.*s\": invalid syntax",
                    name, (int)(len - 1), s);
    }
    if (suffix == NULL) {
        return fail(l, MR_E_INVAL, &v->pos, "%s sizes defined as strings must end in K, M, G, T",
                    name);
    }
    *out = (int64_t)n << shift;
    return 0;
}

static int jetstream_store_dir(struct loader *l, const struct mr_conf_entry *e)
{
    if (l->cfg->jetstream.store_dir != NULL) {
        return fail(l, MR_E_INVAL, &e->value->pos, "Duplicate 'store_dir' configuration");
    }
    return get_str(l, e, &l->cfg->jetstream.store_dir);
}

static int jetstream_sync(struct loader *l, struct mr_jetstream_opts *j, struct mr_conf_entry *e)
{
    if (e->value->type == MR_CONF_STRING && g_ascii_strcasecmp(e->value->u.str.s, "always") == 0) {
        j->sync_always = true;
        j->sync_interval_ns = MR_JETSTREAM_SYNC_INTERVAL_DEFAULT_NS;
        return 0;
    }
    j->sync_always = false;
    return get_duration(l, e, &j->sync_interval_ns);
}

static int jetstream_domain(struct loader *l, struct mr_jetstream_opts *j, struct mr_conf_entry *e)
{
    int rc = get_str(l, e, &j->domain);
    if (rc != 0 || j->domain[0] == '\0') {
        return rc;
    }
    char *api = g_strdup_printf("$JS.%s.API.>", j->domain);
    if (!mr_subject_valid(api, strlen(api))) {
        rc = fail(l, MR_E_INVAL, &e->value->pos,
                  "invalid domain name: derived \"%s\" is not a valid subject", api);
    }
    g_free(api);
    return rc;
}

static int jetstream_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct mr_jetstream_opts *j = target;
    int rc = 0;
    switch (id) {
    case JS_STRICT:
        if (e->value->type != MR_CONF_BOOL) {
            return fail(l, MR_E_INVAL, &e->value->pos, "Expected 'true' or 'false' for bool value");
        }
        j->strict = e->value->u.b;
        return 0;
    case JS_STORE_DIR:
        return jetstream_store_dir(l, e);
    case JS_SYNC:
        return jetstream_sync(l, j, e);
    case JS_MAX_MEMORY:
        return get_storage_size(l, e, "max_mem_store", &j->max_memory_store);
    case JS_MAX_FILE:
        return get_storage_size(l, e, "max_file_store", &j->max_file_store);
    case JS_DOMAIN:
        return jetstream_domain(l, j, e);
    case JS_ENABLED:
        return get_bool(l, e, &j->enabled);
    case JS_LIMITS:
        rc = want_map(l, e, "JetStreamLimits");
        return rc != 0
                   ? rc
                   : walk(l, e->value, jetstream_limits_keys, G_N_ELEMENTS(jetstream_limits_keys),
                          U_FIELD, jetstream_limits_entry, &j->limits);
    case JS_UNIQUE_TAG:
        rc = get_str(l, e, &j->unique_tag);
        if (rc == 0) {
            g_strstrip(j->unique_tag);
            for (char *p = j->unique_tag; *p != '\0'; p++) {
                *p = g_ascii_tolower(*p);
            }
        }
        return rc;
    default:
        return get_storage_size(l, e, "max_outstanding_catchup", &j->max_outstanding_catchup);
    }
}

static int parse_jetstream(struct loader *l, struct mr_conf_entry *e)
{
    struct mr_jetstream_opts *j = &l->cfg->jetstream;
    struct mr_conf_value *v = e->value;
    j->present = true;
    where_of(&e->key_pos, j->where, sizeof(j->where));
    if (v->type == MR_CONF_BOOL) {
        j->enabled = v->u.b;
        return 0;
    }
    if (v->type == MR_CONF_STRING) {
        const char *s = v->u.str.s;
        j->enabled = g_ascii_strcasecmp(s, "enabled") == 0 || g_ascii_strcasecmp(s, "enable") == 0;
        if (!j->enabled && g_ascii_strcasecmp(s, "disabled") != 0 &&
            g_ascii_strcasecmp(s, "disable") != 0) {
            return fail(l, MR_E_INVAL, &v->pos,
                        "Expected 'enabled' or 'disabled' for string value, got '%s'", s);
        }
        return 0;
    }
    if (v->type != MR_CONF_MAP) {
        return fail(l, MR_E_INVAL, &v->pos,
                    "Expected map, bool or string to define JetStream, got %s", a_type(v->type));
    }
    j->enabled = true; /* a map enables JetStream unless it says enabled: false */
    return walk(l, v, jetstream_keys, G_N_ELEMENTS(jetstream_keys), U_FIELD, jetstream_entry, j);
}

/* ---------------------------------------------------------------------------------
 * websocket {} (config.md section 10)
 * --------------------------------------------------------------------------------- */

enum {
    WS_LISTEN = 1,
    WS_PORT,
    WS_HOST,
    WS_ADVERTISE,
    WS_NO_TLS,
    WS_TLS,
    WS_SAME_ORIGIN,
    WS_ALLOWED_ORIGINS,
    WS_HANDSHAKE_TIMEOUT,
    WS_COMPRESSION,
    WS_AUTHORIZATION,
    WS_JWT_COOKIE,
    WS_NO_AUTH_USER,
};

static const struct key websocket_keys[] = {
    {{"listen"}, WS_LISTEN, NULL},
    {{"port"}, WS_PORT, NULL},
    {{"host", "net"}, WS_HOST, NULL},
    {{"advertise"}, WS_ADVERTISE, NULL},
    {{"no_tls"}, WS_NO_TLS, NULL},
    {{"tls"}, WS_TLS, NULL},
    {{"same_origin"}, WS_SAME_ORIGIN, NULL},
    {{"allowed_origins", "allowed_origin", "allow_origins", "allow_origin", "origins", "origin"},
     WS_ALLOWED_ORIGINS,
     NULL},
    {{"handshake_timeout"}, WS_HANDSHAKE_TIMEOUT, NULL},
    {{"compression", "compress"}, WS_COMPRESSION, NULL},
    {{"authorization", "authentication"}, WS_AUTHORIZATION, NULL},
    {{"jwt_cookie"}, WS_JWT_COOKIE, NULL},
    {{"no_auth_user"}, WS_NO_AUTH_USER, NULL},
    {{"user_cookie", "pass_cookie", "token_cookie"}, K_IGNORED, "websocket auth cookies"},
    {{"ping_interval"}, K_IGNORED, "websocket ping interval"},
};

static int websocket_handshake_timeout(struct loader *l, struct mr_websocket_opts *w,
                                       struct mr_conf_entry *e)
{
    const struct mr_conf_value *v = e->value;
    if (v->type == MR_CONF_INT) {
        if (v->u.i < 0) {
            return fail(l, MR_E_INVAL, &v->pos, "handshake timeout must be positive");
        }
        w->handshake_timeout_ns = (uint64_t)v->u.i * NS_PER_SEC;
        return 0;
    }
    if (v->type != MR_CONF_STRING) {
        return fail(l, MR_E_INVAL, &v->pos, "error parsing handshake timeout: unsupported type %s",
                    a_type(v->type));
    }
    return get_duration(l, e, &w->handshake_timeout_ns);
}

static int websocket_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    struct mr_websocket_opts *w = target;
    int64_t n = 0;
    int rc = 0;
    switch (id) {
    case WS_LISTEN:
        return get_listen(l, e, &w->host, &w->port);
    case WS_PORT:
        rc = get_int_range(l, e, -1, 65535, &n);
        w->port = (int)n;
        return rc;
    case WS_HOST:
        return get_str(l, e, &w->host);
    case WS_ADVERTISE:
        return get_str(l, e, &w->advertise);
    case WS_NO_TLS:
        return get_bool(l, e, &w->no_tls);
    case WS_TLS:
        return parse_tls(l, e, &w->tls, true);
    case WS_SAME_ORIGIN:
        return get_bool(l, e, &w->same_origin);
    case WS_ALLOWED_ORIGINS:
        strings_clear(&w->allowed_origins);
        return get_strings(l, e, &w->allowed_origins);
    case WS_HANDSHAKE_TIMEOUT:
        return websocket_handshake_timeout(l, w, e);
    case WS_COMPRESSION:
        return get_bool(l, e, &w->compression);
    case WS_AUTHORIZATION:
        return parse_simple_auth(l, e, NULL, &w->auth, NULL);
    case WS_JWT_COOKIE:
        return fail(l, MR_E_UNSUPPORTED, &e->key_pos,
                    "\"jwt_cookie\": JWT authentication is not supported yet");
    default:
        return get_str(l, e, &w->no_auth_user);
    }
}

static int parse_websocket(struct loader *l, struct mr_conf_entry *e)
{
    struct mr_websocket_opts *w = &l->cfg->websocket;
    if (e->value->type != MR_CONF_MAP) {
        return fail(l, MR_E_INVAL, &e->value->pos, "Expected websocket to be a map, got %s",
                    a_type(e->value->type));
    }
    w->present = true;
    where_of(&e->key_pos, w->where, sizeof(w->where));
    int rc = walk(l, e->value, websocket_keys, G_N_ELEMENTS(websocket_keys), U_FIELD,
                  websocket_entry, w);
    if (rc == 0) {
        rc = check_port(l, e->value, "websocket", w->port);
    }
    if (rc == 0 && w->port != 0 && !w->tls.enabled && !w->no_tls) {
        rc = fail(l, MR_E_INVAL, &e->value->pos, "websocket requires TLS configuration");
    }
    return rc;
}

/* ---------------------------------------------------------------------------------
 * Top level (config.md section 2)
 * --------------------------------------------------------------------------------- */

enum {
    T_LISTEN = 1,
    T_HOST,
    T_PORT,
    T_SERVER_NAME,
    T_CLIENT_ADVERTISE,
    T_SERVER_TAGS,
    T_MAX_PAYLOAD,
    T_MAX_PENDING,
    T_MAX_CONTROL_LINE,
    T_MAX_CONNECTIONS,
    T_MAX_SUBS,
    T_MAX_SUB_TOKENS,
    T_PING_INTERVAL,
    T_PING_MAX,
    T_WRITE_DEADLINE,
    T_LAME_DUCK_DURATION,
    T_LAME_DUCK_GRACE,
    T_DEBUG,
    T_TRACE,
    T_TRACE_VERBOSE,
    T_LOGTIME,
    T_LOG_FILE,
    T_PID_FILE,
    T_HTTP,
    T_HTTP_PORT,
    T_AUTHORIZATION,
    T_ACCOUNTS,
    T_SYSTEM_ACCOUNT,
    T_NO_SYSTEM_ACCOUNT,
    T_NO_AUTH_USER,
    T_TLS,
    T_CLUSTER,
    T_GATEWAY,
    T_LEAFNODES,
    T_JETSTREAM,
    T_STORE_DIR,
    T_WEBSOCKET,
    T_MAPPINGS,
};

static const char *const authorization_names[] = {"authorization", NULL};
static const char *const accounts_names[] = {"accounts", NULL};
static const char *const system_account_names[] = {"system_account", "system", NULL};

static const struct key top_keys[] = {
    {{"listen"}, T_LISTEN, NULL},
    {{"host", "net"}, T_HOST, NULL},
    {{"port"}, T_PORT, NULL},
    {{"server_name"}, T_SERVER_NAME, NULL},
    {{"client_advertise"}, T_CLIENT_ADVERTISE, NULL},
    {{"server_tags"}, T_SERVER_TAGS, NULL},
    {{"max_payload"}, T_MAX_PAYLOAD, NULL},
    {{"max_pending"}, T_MAX_PENDING, NULL},
    {{"max_control_line"}, T_MAX_CONTROL_LINE, NULL},
    {{"max_connections", "max_conn"}, T_MAX_CONNECTIONS, NULL},
    {{"max_subscriptions", "max_subs"}, T_MAX_SUBS, NULL},
    {{"max_sub_tokens", "max_subscription_tokens"}, T_MAX_SUB_TOKENS, NULL},
    {{"ping_interval"}, T_PING_INTERVAL, NULL},
    {{"ping_max"}, T_PING_MAX, NULL},
    {{"write_deadline"}, T_WRITE_DEADLINE, NULL},
    {{"lame_duck_duration"}, T_LAME_DUCK_DURATION, NULL},
    {{"lame_duck_grace_period"}, T_LAME_DUCK_GRACE, NULL},
    {{"debug"}, T_DEBUG, NULL},
    {{"trace"}, T_TRACE, NULL},
    {{"trace_verbose"}, T_TRACE_VERBOSE, NULL},
    {{"logtime"}, T_LOGTIME, NULL},
    {{"log_file", "logfile"}, T_LOG_FILE, NULL},
    {{"pid_file", "pidfile"}, T_PID_FILE, NULL},
    {{"http"}, T_HTTP, NULL},
    {{"http_port", "monitor_port"}, T_HTTP_PORT, NULL},
    {{"authorization"}, T_AUTHORIZATION, NULL},
    {{"accounts"}, T_ACCOUNTS, NULL},
    {{"system_account", "system"}, T_SYSTEM_ACCOUNT, NULL},
    {{"no_system_account", "no_system", "no_sys_acc"}, T_NO_SYSTEM_ACCOUNT, NULL},
    {{"no_auth_user"}, T_NO_AUTH_USER, NULL},
    {{"tls"}, T_TLS, NULL},
    {{"cluster"}, T_CLUSTER, NULL},
    {{"gateway"}, T_GATEWAY, NULL},
    {{"leafnodes", "leaf"}, T_LEAFNODES, NULL},
    {{"jetstream"}, T_JETSTREAM, NULL},
    {{"store_dir", "storedir"}, T_STORE_DIR, NULL},
    {{"websocket", "ws"}, T_WEBSOCKET, NULL},
    {{"mappings", "maps"}, T_MAPPINGS, NULL},
    {{"https", "https_port"}, K_REFUSED, "HTTPS monitoring"},
    {{"http_base_path"}, K_IGNORED, "monitoring base path"},
    {{"trace_headers"}, K_IGNORED, "header tracing"},
    {{"logtime_utc"}, K_IGNORED, "UTC log times"},
    {{"log_size_limit", "logfile_size_limit", "log_max_num", "logfile_max_num"},
     K_IGNORED,
     "log rotation"},
    {{"syslog", "remote_syslog"}, K_IGNORED, "syslog"},
    {{"ports_file_dir"}, K_IGNORED, "ports files"},
    {{"prof_port", "prof_block_rate"}, K_IGNORED, "profiling"},
    {{"max_traced_msg_len"}, K_IGNORED, "truncated trace"},
    {{"disable_sublist_cache", "no_sublist_cache"}, K_IGNORED, "sublist cache switch"},
    {{"no_header_support"}, K_IGNORED, "turning headers off"},
    {{"connect_error_reports", "reconnect_error_reports"}, K_IGNORED, "error report intervals"},
    {{"max_closed_clients"}, K_IGNORED, "closed client history size"},
    {{"default_js_domain"}, K_IGNORED, "default JetStream domains"},
    {{"allow_non_tls"}, K_IGNORED, "mixed TLS and plain clients"},
    {{"write_timeout"}, K_IGNORED, "write timeout policy"},
    {{"proxy_protocol"}, K_IGNORED, "proxy protocol"},
    {{"no_fast_producer_stall"}, K_IGNORED, "fast producer stall switch"},
    {{"server_metadata", "feature_flags", "default_sentinel"}, K_IGNORED, "newer server options"},
    {{"operator", "operators", "root", "roots", "root_operator", "root_operators"},
     K_REFUSED,
     "JWT/operator mode"},
    {{"resolver", "account_resolver", "accounts_resolver", "resolver_tls", "resolver_preload",
      "resolver_pinned_accounts"},
     K_REFUSED,
     "JWT/operator mode"},
    {{"trusted", "trusted_keys"}, K_REFUSED, "JWT/operator mode"},
    {{"mqtt"}, K_REFUSED, "MQTT"},
    {{"ocsp", "ocsp_cache"}, K_REFUSED, "OCSP stapling"},
    {{"proxies"}, K_REFUSED, "trusted proxies"},
};

/* A size limit: 0 keeps the default; the result must lie in [min, max]. */
static int top_size(struct loader *l, struct mr_conf_entry *e, int64_t min, int64_t max,
                    int64_t *out)
{
    int64_t n = 0;
    int rc = get_int(l, e, &n);
    if (rc != 0 || n == 0) {
        return rc;
    }
    if (n > INT32_MAX && max <= INT32_MAX) {
        return fail(l, MR_E_INVAL, &e->value->pos, "%s value is too big", e->key);
    }
    if (n < min || n > max) {
        return fail(l, MR_E_INVAL, &e->value->pos,
                    "invalid %s %lld: must be between %lld and %lld (Meridian's limit)", e->key,
                    (long long)n, (long long)min, (long long)max);
    }
    *out = n;
    return 0;
}

static int top_limits(struct loader *l, int id, struct mr_conf_entry *e)
{
    struct mr_server_opts *o = &l->cfg->server;
    int64_t n = 0;
    int rc = 0;
    switch (id) {
    case T_MAX_PAYLOAD:
        l->max_payload_v = e->value;
        n = o->max_payload;
        rc = top_size(l, e, 1, MR_PAYLOAD_MAX, &n);
        o->max_payload = (uint32_t)n;
        return rc;
    case T_MAX_PENDING:
        n = o->max_pending;
        rc = top_size(l, e, 1, MR_PENDING_MAX, &n);
        o->max_pending = n;
        return rc;
    case T_MAX_CONTROL_LINE:
        n = o->max_control_line;
        rc = top_size(l, e, 32, MR_CONTROL_LINE_MAX, &n);
        o->max_control_line = (uint32_t)n;
        return rc;
    case T_MAX_CONNECTIONS:
        /* nats-server: 0 (or less) means no limit; here, the build's maximum. */
        rc = get_int(l, e, &n);
        if (rc == 0 && n > MR_CONNECTIONS_MAX) {
            return fail(l, MR_E_INVAL, &e->value->pos,
                        "invalid %s %lld: must be at most %d (Meridian's limit)", e->key,
                        (long long)n, MR_CONNECTIONS_MAX);
        }
        o->max_connections = n <= 0 ? MR_CONNECTIONS_MAX : (uint32_t)n;
        return rc;
    case T_MAX_SUBS:
        rc = get_int_range(l, e, 0, MR_SUBS_PER_CONN_MAX, &n);
        o->max_subs = (uint32_t)n;
        return rc;
    default:
        rc = get_int(l, e, &n);
        if (rc == 0 && n > 255) {
            return fail(l, MR_E_INVAL, &e->value->pos, "%s value is too big", e->key);
        }
        if (rc == 0 && n <= 0) {
            return fail(l, MR_E_INVAL, &e->value->pos, "%s value can not be negative", e->key);
        }
        warn(l, MR_CONF_WARN_NOTICE, &e->key_pos, "\"%s\" is not supported yet, ignored", e->key);
        return rc;
    }
}

static int top_lame_duck(struct loader *l, int id, struct mr_conf_entry *e)
{
    struct mr_config *c = l->cfg;
    int rc = want(l, e, MR_CONF_STRING);
    bool legacy = false;
    uint64_t ns = 0;
    if (rc == 0 && mr_conf_duration_ns(e->value, &ns, &legacy) != 0) {
        return fail(l, MR_E_INVAL, &e->value->pos,
                    "error parsing %s: time: invalid duration \"%s\"", e->key, e->value->u.str.s);
    }
    if (rc == 0 && id == T_LAME_DUCK_DURATION && ns < 30 * NS_PER_SEC) {
        return fail(l, MR_E_INVAL, &e->value->pos,
                    "invalid lame_duck_duration of %s, minimum is 30 seconds", e->value->u.str.s);
    }
    if (rc == 0) {
        *(id == T_LAME_DUCK_DURATION ? &c->lame_duck_duration_ns : &c->lame_duck_grace_period_ns) =
            ns;
        warn(l, MR_CONF_WARN_NOTICE, &e->key_pos, "\"%s\": lame duck mode is not supported yet",
             e->key);
    }
    return rc;
}

static int top_server(struct loader *l, int id, struct mr_conf_entry *e)
{
    struct mr_server_opts *o = &l->cfg->server;
    int64_t n = 0;
    int rc = 0;
    switch (id) {
    case T_LISTEN:
        l->port_v = e->value;
        return get_listen_buf(l, e, o->host, sizeof(o->host), &o->port);
    case T_HOST:
        return get_buf(l, e, o->host, sizeof(o->host));
    case T_PORT:
        l->port_v = e->value;
        rc = get_int_range(l, e, INT32_MIN, INT32_MAX, &n);
        o->port = (int)n;
        return rc;
    case T_SERVER_NAME:
        rc = get_buf(l, e, o->server_name, sizeof(o->server_name));
        if (rc == 0 && strchr(o->server_name, ' ') != NULL) {
            return fail(l, MR_E_INVAL, &e->value->pos, "server name cannot contain spaces");
        }
        return rc;
    case T_CLIENT_ADVERTISE:
        warn(l, MR_CONF_WARN_NOTICE, &e->key_pos, "\"%s\" is not supported yet, ignored", e->key);
        return get_str(l, e, &l->cfg->client_advertise);
    case T_SERVER_TAGS:
        strings_clear(&l->cfg->server_tags);
        return get_strings(l, e, &l->cfg->server_tags);
    case T_PING_INTERVAL:
        rc = get_duration(l, e, &o->ping_interval_ns);
        o->ping_interval_ns =
            o->ping_interval_ns == 0 ? MR_PING_INTERVAL_DEFAULT_NS : o->ping_interval_ns;
        return rc;
    case T_PING_MAX:
        rc = get_int_range(l, e, 0, INT32_MAX, &n);
        o->ping_max = n == 0 ? MR_PING_MAX_DEFAULT : (uint32_t)n;
        return rc;
    default:
        rc = get_duration(l, e, &o->write_deadline_ns);
        o->write_deadline_ns =
            o->write_deadline_ns == 0 ? MR_WRITE_DEADLINE_DEFAULT_NS : o->write_deadline_ns;
        return rc;
    }
}

static int top_logging(struct loader *l, int id, struct mr_conf_entry *e)
{
    struct mr_config *c = l->cfg;
    switch (id) {
    case T_DEBUG:
        return get_bool(l, e, &c->server.debug);
    case T_TRACE:
    case T_TRACE_VERBOSE:
        return get_bool(l, e, &c->server.trace);
    case T_LOGTIME:
        return get_bool(l, e, &c->logtime);
    case T_LOG_FILE:
        return get_str(l, e, &c->log_file);
    default:
        return get_str(l, e, &c->pid_file);
    }
}

static int top_misc(struct loader *l, int id, struct mr_conf_entry *e)
{
    struct mr_server_opts *o = &l->cfg->server;
    int64_t n = 0;
    int rc = 0;
    switch (id) {
    case T_HTTP:
        l->http_v = e->value;
        return get_listen_buf(l, e, o->http_host, sizeof(o->http_host), &o->http_port);
    case T_HTTP_PORT:
        l->http_v = e->value;
        rc = get_int_range(l, e, INT32_MIN, INT32_MAX, &n);
        o->http_port = (int)n;
        return rc;
    case T_NO_SYSTEM_ACCOUNT:
        return get_bool(l, e, &auth_get(l)->no_system_account);
    case T_NO_AUTH_USER:
        l->no_auth_user_v = e->value;
        return get_str(l, e, &auth_get(l)->no_auth_user);
    case T_TLS:
        rc = parse_tls(l, e, &o->tls, true);
        if (rc == 0 && o->tls.cert_file[0] == '\0') {
            return fail(l, MR_E_INVAL, &e->value->pos, "missing 'cert_file' in TLS configuration");
        }
        return rc;
    case T_STORE_DIR:
        return jetstream_store_dir(l, e);
    case T_MAPPINGS:
        if (e->value->type != MR_CONF_MAP) {
            return fail(l, MR_E_INVAL, &e->value->pos, "Expected a map of subject mappings, got %s",
                        a_type(e->value->type));
        }
        warn(l, MR_CONF_WARN_NOTICE, &e->key_pos,
             "subject mappings are not supported yet, ignored");
        return 0;
    default:
        return 0; /* authorization, accounts, system_account: loaded first */
    }
}

static int top_entry(struct loader *l, void *target, int id, struct mr_conf_entry *e)
{
    (void)target; /* the loader holds the config */
    switch (id) {
    case T_MAX_PAYLOAD:
    case T_MAX_PENDING:
    case T_MAX_CONTROL_LINE:
    case T_MAX_CONNECTIONS:
    case T_MAX_SUBS:
    case T_MAX_SUB_TOKENS:
        return top_limits(l, id, e);
    case T_LAME_DUCK_DURATION:
    case T_LAME_DUCK_GRACE:
        return top_lame_duck(l, id, e);
    case T_DEBUG:
    case T_TRACE:
    case T_TRACE_VERBOSE:
    case T_LOGTIME:
    case T_LOG_FILE:
    case T_PID_FILE:
        return top_logging(l, id, e);
    case T_CLUSTER:
        return parse_cluster(l, e);
    case T_GATEWAY:
        return parse_gateway(l, e);
    case T_LEAFNODES:
        return parse_leafnodes(l, e);
    case T_JETSTREAM:
        return parse_jetstream(l, e);
    case T_WEBSOCKET:
        return parse_websocket(l, e);
    default:
        return id < T_HTTP ? top_server(l, id, e) : top_misc(l, id, e);
    }
}

/* ---------------------------------------------------------------------------------
 * Whole-config checks (nats-server's validateOptions and friends)
 * --------------------------------------------------------------------------------- */

static bool user_exists(const struct loader *l, const char *name)
{
    return g_hash_table_contains(l->user_names, name);
}

static int check_no_auth_user(struct loader *l, const char *name, const struct mr_conf_value *v)
{
    if (name == NULL) {
        return 0;
    }
    const struct mr_conf_pos *pos = v != NULL ? &v->pos : NULL;
    /* nats-server looks in the users lists only, never at a single authorization user. */
    if (!l->users_listed) {
        return fail(l, MR_E_INVAL, pos, "no_auth_user: \"%s\" present, but users are not defined",
                    name);
    }
    if (!user_exists(l, name)) {
        return fail(l, MR_E_INVAL, pos,
                    "no_auth_user: \"%s\" not present as user in authorization block or account "
                    "configuration",
                    name);
    }
    return 0;
}

/* An account a leafnode may bind to: a configured one, $G, or the implicit $SYS. */
static bool leaf_account_ok(struct loader *l, const char *name)
{
    const struct mr_auth_opts *a = l->cfg->auth;
    if (name == NULL || name[0] == '\0' || strcmp(name, "$G") == 0) {
        return true;
    }
    if (account_find(l->cfg->auth, name) != NULL) {
        return true;
    }
    bool implicit_sys = a == NULL || (a->system_account == NULL && !a->no_system_account);
    return implicit_sys && strcmp(name, "$SYS") == 0;
}

static int check_leafnodes(struct loader *l)
{
    const struct mr_leafnode_opts *lo = &l->cfg->leafnodes;
    const struct mr_conf_pos *auth_pos = l->leaf_auth_v != NULL ? &l->leaf_auth_v->pos : NULL;
    if (!leaf_account_ok(l, lo->auth.account)) {
        return fail(l, MR_E_INVAL, auth_pos,
                    "cannot find local account \"%s\" specified in leafnode authorization",
                    lo->auth.account);
    }
    for (size_t i = 0; i < lo->auth.users_count; i++) {
        if (!leaf_account_ok(l, lo->auth.users[i].account)) {
            return fail(l, MR_E_INVAL, auth_pos,
                        "cannot find local account \"%s\" specified in leafnode authorization",
                        lo->auth.users[i].account);
        }
    }
    for (size_t i = 0; i < lo->remotes_count; i++) {
        if (!leaf_account_ok(l, lo->remotes[i].account)) {
            return fail(l, MR_E_INVAL, NULL,
                        "%s: cannot find local account \"%s\" specified in leafnode remote",
                        lo->where, lo->remotes[i].account);
        }
    }
    const struct mr_gateway_opts *g = &l->cfg->gateway;
    bool sys = l->cfg->auth != NULL && l->cfg->auth->system_account != NULL;
    if (lo->port != 0 && (g->name != NULL || g->port != 0) && !sys) {
        return fail(l, MR_E_INVAL, NULL,
                    "%s: leaf nodes and gateways (both being defined) require a system account to "
                    "also be configured",
                    lo->where);
    }
    return 0;
}

static int check_names(struct loader *l)
{
    struct mr_config *c = l->cfg;
    if (c->gateway.name != NULL && c->cluster.name != NULL &&
        strcmp(c->gateway.name, c->cluster.name) != 0) {
        return fail(l, MR_E_INVAL, NULL,
                    "%s: cluster name conflicts between cluster and gateway definitions",
                    c->gateway.where);
    }
    if (c->gateway.name != NULL && c->cluster.name == NULL) {
        c->cluster.name = g_strdup(c->gateway.name); /* not dynamic, as in nats-server */
    }
    return 0;
}

static int check_websocket(struct loader *l)
{
    const struct mr_websocket_opts *w = &l->cfg->websocket;
    if (!w->present || w->port == 0) {
        return 0;
    }
    int rc = check_no_auth_user(l, w->no_auth_user, NULL);
    if (rc == 0 && l->users_listed && w->auth.user != NULL) {
        rc = fail(l, MR_E_INVAL, NULL,
                  "%s: websocket authentication username not compatible with presence of "
                  "users/nkeys",
                  w->where);
    } else if (rc == 0 && l->users_listed && w->auth.token != NULL) {
        rc = fail(l, MR_E_INVAL, NULL,
                  "%s: websocket authentication token not compatible with presence of users/nkeys",
                  w->where);
    }
    return rc;
}

static int check_all(struct loader *l)
{
    struct mr_config *c = l->cfg;
    struct mr_server_opts *o = &c->server;
    int rc = check_port(l, l->port_v, "client", o->port);
    if (rc == 0) {
        rc = check_port(l, l->http_v, "monitoring", o->http_port);
    }
    if (rc == 0 && (int64_t)o->max_payload > o->max_pending) {
        rc = fail(l, MR_E_INVAL, l->max_payload_v != NULL ? &l->max_payload_v->pos : NULL,
                  "max_payload (%u) cannot be higher than max_pending (%lld)", o->max_payload,
                  (long long)o->max_pending);
    }
    const char *sys = c->auth != NULL ? c->auth->system_account : NULL;
    if (rc == 0 && sys != NULL && strcmp(sys, "$SYS") != 0 && account_find(c->auth, sys) == NULL) {
        rc = fail(l, MR_E_INVAL, &l->system_account_v->pos,
                  "error resolving system account \"%s\": account missing", sys);
    }
    if (rc == 0 && c->auth != NULL) {
        rc = check_no_auth_user(l, c->auth->no_auth_user, l->no_auth_user_v);
    }
    if (rc == 0) {
        rc = check_leafnodes(l);
    }
    if (rc == 0) {
        rc = check_names(l);
    }
    return rc == 0 ? check_websocket(l) : rc;
}

/* ---------------------------------------------------------------------------------
 * Loading
 * --------------------------------------------------------------------------------- */

static int load_system_account(struct loader *l, struct mr_conf_value *root)
{
    struct mr_conf_entry *e = find_entry(root, system_account_names);
    if (e == NULL) {
        return 0;
    }
    l->system_account_v = e->value;
    if (e->value->type != MR_CONF_STRING) {
        return fail(l, MR_E_INVAL, &e->value->pos, "system account name must be a string");
    }
    struct mr_auth_opts *a = auth_get(l);
    g_free(a->system_account);
    a->system_account = g_strdup(e->value->u.str.s);
    return 0;
}

static int load_root(struct loader *l, struct mr_conf_value *root)
{
    int rc = load_system_account(l, root);
    struct mr_conf_entry *e = find_entry(root, authorization_names);
    if (rc == 0 && e != NULL) {
        rc = parse_authorization(l, e);
    }
    e = find_entry(root, accounts_names);
    if (rc == 0 && e != NULL) {
        rc = parse_accounts(l, e);
    }
    if (rc == 0) {
        rc = check_account_refs(l);
    }
    if (rc == 0) {
        rc = walk(l, root, top_keys, G_N_ELEMENTS(top_keys), U_FIELD, top_entry, NULL);
    }
    return rc == 0 ? check_all(l) : rc;
}

void mr_conf_server_init(struct mr_config *c)
{
    mr_assert(c != NULL);
    memset(c, 0, sizeof(*c));
    mr_server_opts_default(&c->server);
    c->logtime = true;
    c->lame_duck_duration_ns = MR_LAME_DUCK_DURATION_DEFAULT_NS;
    c->lame_duck_grace_period_ns = MR_LAME_DUCK_GRACE_PERIOD_DEFAULT_NS;
    c->cluster.pool_size = MR_CLUSTER_POOL_SIZE_DEFAULT;
    c->cluster.compression.mode = MR_COMPRESSION_ACCEPT;
    c->leafnodes.compression.mode = MR_COMPRESSION_S2_AUTO;
    compression_default_rtts(&c->leafnodes.compression);
    c->leafnodes.reconnect_ns = MR_LEAFNODE_RECONNECT_DEFAULT_NS;
    c->websocket.handshake_timeout_ns = MR_WEBSOCKET_HANDSHAKE_TIMEOUT_DEFAULT_NS;
    c->jetstream.max_memory_store = -1;
    c->jetstream.max_file_store = -1;
    c->jetstream.sync_interval_ns = MR_JETSTREAM_SYNC_INTERVAL_DEFAULT_NS;
    c->jetstream.strict = true;
}

int mr_conf_server_load(struct mr_conf_value *root, struct mr_config *config, mr_conf_warn_fn warn,
                        void *warn_ctx, char *err, size_t err_len)
{
    mr_assert(root != NULL);
    mr_assert(config != NULL);
    mr_conf_server_init(config);
    if (err_len > 0) {
        err[0] = '\0';
    }
    struct loader l = {
        .cfg = config,
        .warn = warn,
        .warn_ctx = warn_ctx,
        .err = err,
        .err_len = err_len,
        .user_names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
        .export_pos = g_array_new(FALSE, FALSE, sizeof(struct mr_conf_pos)),
        .import_pos = g_array_new(FALSE, FALSE, sizeof(struct mr_conf_pos)),
    };
    int rc = 0;
    if (root->type != MR_CONF_MAP) {
        rc = fail(&l, MR_E_INVAL, &root->pos, "a configuration must be a map of keys, got %s",
                  a_type(root->type));
    } else {
        rc = load_root(&l, root);
    }
    g_hash_table_destroy(l.user_names);
    g_array_free(l.export_pos, TRUE);
    g_array_free(l.import_pos, TRUE);
    if (rc != 0) {
        mr_assert(err_len == 0 || err[0] != '\0');
        mr_conf_server_deinit(config);
        return rc;
    }
    config->server.auth = config->auth;
    config->server.cluster = &config->cluster;
    config->server.gateway = &config->gateway;
    config->server.leafnodes = &config->leafnodes;
    config->server.websocket = &config->websocket;
    return 0;
}

/* ---------------------------------------------------------------------------------
 * Freeing
 * --------------------------------------------------------------------------------- */

static void simple_auth_free(struct mr_conf_simple_auth *a)
{
    g_free(a->user);
    g_free(a->password);
    g_free(a->token);
}

static void cluster_free(struct mr_cluster_opts *c)
{
    g_free(c->name);
    g_free(c->host);
    g_free(c->advertise);
    strings_clear(&c->routes);
    simple_auth_free(&c->auth);
    permissions_free(c->permissions);
    strings_clear(&c->accounts);
}

static void gateway_free(struct mr_gateway_opts *g)
{
    g_free(g->name);
    g_free(g->host);
    g_free(g->advertise);
    simple_auth_free(&g->auth);
    for (size_t i = 0; i < g->gateways_count; i++) {
        g_free(g->gateways[i].name);
        strings_clear(&g->gateways[i].urls);
    }
    g_free(g->gateways);
}

static void leafnodes_free(struct mr_leafnode_opts *lo)
{
    g_free(lo->host);
    g_free(lo->advertise);
    g_free(lo->min_version);
    g_free(lo->auth.user);
    g_free(lo->auth.password);
    g_free(lo->auth.account);
    for (size_t i = 0; i < lo->auth.users_count; i++) {
        g_free(lo->auth.users[i].user);
        g_free(lo->auth.users[i].password);
        g_free(lo->auth.users[i].account);
    }
    g_free(lo->auth.users);
    for (size_t i = 0; i < lo->remotes_count; i++) {
        struct mr_leafnode_remote_opts *r = &lo->remotes[i];
        strings_clear(&r->urls);
        g_free(r->account);
        g_free(r->credentials);
        mr_creds_deinit(&r->creds);
        strings_clear(&r->deny_imports);
        strings_clear(&r->deny_exports);
        g_free(r->proxy.url);
        g_free(r->proxy.username);
        g_free(r->proxy.password);
    }
    g_free(lo->remotes);
}

/* One remote's credentials file: read through io, parsed, or an error naming both. */
static int load_creds(struct mr_leafnode_remote_opts *r, const struct mr_conf_io *io, char *err,
                      size_t err_len)
{
    mr_assert(r->credentials != NULL);
    mr_assert(r->creds.jwt == NULL);
    const char *where = r->credentials_where;
    if (io == NULL || io->read_file == NULL) {
        g_snprintf(err, (gulong)err_len,
                   "%s: Error reading LeafNode Remote Credentials file \"%s\": no file reader",
                   where, r->credentials);
        return MR_E_INVAL;
    }
    char *data = NULL;
    size_t len = 0;
    char why[MR_CONF_MSG_MAX] = "";
    int rc = io->read_file(io->ctx, r->credentials, &data, &len, why, sizeof(why));
    if (rc != 0) {
        g_snprintf(err, (gulong)err_len,
                   "%s: Error reading LeafNode Remote Credentials file \"%s\": %s", where,
                   r->credentials, why);
        return rc < 0 ? rc : MR_E_IO;
    }
    rc = mr_creds_parse(data, len, &r->creds, why, sizeof(why));
    /* The file holds a secret seed: wipe the copy before freeing it. */
    mr_nkey_wipe(data, len);
    free(data);
    if (rc != 0) {
        g_snprintf(err, (gulong)err_len, "%s: LeafNode Remote Credentials file \"%s\" %s", where,
                   r->credentials, why);
        return rc;
    }
    mr_assert(r->creds.jwt != NULL);
    return 0;
}

int mr_conf_server_load_files(struct mr_config *config, const struct mr_conf_io *io, char *err,
                              size_t err_len)
{
    mr_assert(config != NULL);
    struct mr_leafnode_opts *lo = &config->leafnodes;
    for (size_t i = 0; lo->present && i < lo->remotes_count; i++) {
        struct mr_leafnode_remote_opts *r = &lo->remotes[i];
        if (r->credentials == NULL || r->creds.jwt != NULL) {
            continue; /* none, or read by an earlier call */
        }
        int rc = load_creds(r, io, err, err_len);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

void mr_conf_server_deinit(struct mr_config *c)
{
    mr_assert(c != NULL);
    mr_auth_opts_free(c->auth);
    g_free(c->log_file);
    g_free(c->pid_file);
    g_free(c->client_advertise);
    strings_clear(&c->server_tags);
    cluster_free(&c->cluster);
    gateway_free(&c->gateway);
    leafnodes_free(&c->leafnodes);
    g_free(c->jetstream.store_dir);
    g_free(c->jetstream.domain);
    g_free(c->jetstream.unique_tag);
    g_free(c->websocket.host);
    g_free(c->websocket.advertise);
    strings_clear(&c->websocket.allowed_origins);
    simple_auth_free(&c->websocket.auth);
    g_free(c->websocket.no_auth_user);
    g_free(c->websocket.jwt_cookie);
    for (size_t i = 0; i < c->account_jetstream_count; i++) {
        g_free(c->account_jetstream[i].account);
    }
    g_free(c->account_jetstream);
    mr_conf_server_init(c);
}

static void account_free(struct mr_account_opts *acc)
{
    g_free(acc->name);
    for (size_t k = 0; k < acc->exports_count; k++) {
        struct mr_export_opts *x = &acc->exports[k];
        g_free(x->subject);
        for (size_t j = 0; j < x->accounts_count; j++) {
            g_free(x->accounts[j]);
        }
        g_free(x->accounts);
    }
    g_free(acc->exports);
    for (size_t k = 0; k < acc->imports_count; k++) {
        struct mr_import_opts *x = &acc->imports[k];
        g_free(x->account);
        g_free(x->subject);
        g_free(x->prefix);
        g_free(x->to);
    }
    g_free(acc->imports);
}

void mr_auth_opts_free(struct mr_auth_opts *a)
{
    if (a == NULL) {
        return;
    }
    for (size_t i = 0; i < a->users_count; i++) {
        struct mr_user_opts *u = &a->users[i];
        g_free(u->user);
        g_free(u->password);
        g_free(u->nkey);
        g_free(u->account);
        permissions_free(u->permissions);
    }
    g_free(a->users);
    g_free(a->token);
    permissions_free(a->default_permissions);
    for (size_t i = 0; i < a->accounts_count; i++) {
        account_free(&a->accounts[i]);
    }
    g_free(a->accounts);
    g_free(a->system_account);
    g_free(a->no_auth_user);
    g_free(a);
}

/* ---------------------------------------------------------------------------------
 * Command line flags over the file (nats-server's ConfigureOptions)
 * --------------------------------------------------------------------------------- */

static int flag_copy(struct loader *l, const char *flag, const char *v, char *buf, size_t len)
{
    if (strlen(v) >= len) {
        return fail(l, MR_E_INVAL, NULL, "value for flag %s is too long (at most %zu bytes)", flag,
                    len - 1);
    }
    g_strlcpy(buf, v, len);
    return 0;
}

static void flag_str(char **dst, const char *v)
{
    if (v != NULL) {
        g_free(*dst);
        *dst = g_strdup(v);
    }
}

/* The cluster flags (see the header). */
static int flags_cluster(struct loader *l, const struct mr_conf_server_flags *f)
{
    struct mr_cluster_opts *c = &l->cfg->cluster;
    if (f->cluster_listen != NULL) {
        const char *v = f->cluster_listen;
        const char *p = strstr(v, "://");
        p = p != NULL ? p + 3 : v;
        const char *colon = strrchr(p, ':');
        char *end = NULL;
        long port = colon != NULL ? strtol(colon + 1, &end, 10) : 0;
        if (colon == NULL || end == colon + 1 || *end != '\0' || port < -1 || port > 65535) {
            return fail(l, MR_E_INVAL, NULL,
                        "--cluster: \"%s\" is not a listen URL like nats://0.0.0.0:6222", v);
        }
        g_free(c->host);
        c->host = g_strndup(p, (gsize)(colon - p));
        c->port = (int)port;
        if (!c->present) {
            c->present = true;
            snprintf(c->where, sizeof(c->where), "--cluster");
        }
    }
    flag_str(&c->name, f->cluster_name);
    flag_str(&c->advertise, f->cluster_advertise);
    if (f->routes != NULL) {
        strings_clear(&c->routes);
        char **parts = g_strsplit(f->routes, ",", -1);
        for (size_t i = 0; parts[i] != NULL; i++) {
            g_strstrip(parts[i]);
            if (parts[i][0] != '\0') {
                c->routes.items = g_renew(char *, c->routes.items, c->routes.count + 1);
                c->routes.items[c->routes.count++] = g_strdup(parts[i]);
            }
        }
        g_strfreev(parts);
    }
    c->no_advertise = f->no_advertise_set ? f->no_advertise : c->no_advertise;
    c->connect_retries = f->connect_retries_set ? f->connect_retries : c->connect_retries;
    return 0;
}

/* --user, --pass, --auth against the file's authorization (see the header). */
static int flags_auth(struct loader *l, const struct mr_conf_server_flags *f)
{
    struct mr_config *c = l->cfg;
    struct mr_auth_opts *a = c->auth;
    if (f->user == NULL && f->pass == NULL && f->token == NULL) {
        return 0;
    }
    if (a == NULL) {
        struct mr_server_opts *o = &c->server;
        int rc = f->user != NULL ? flag_copy(l, "--user", f->user, o->user, sizeof(o->user)) : 0;
        if (rc == 0 && f->pass != NULL) {
            rc = flag_copy(l, "--pass", f->pass, o->pass, sizeof(o->pass));
        }
        if (rc == 0 && f->token != NULL) {
            rc = flag_copy(l, "--auth", f->token, o->token, sizeof(o->token));
        }
        return rc;
    }
    if (a->users_count > 0 && !c->auth_single_user) {
        warn(l, MR_CONF_WARN_NOTICE, NULL,
             "--user, --pass and --auth are ignored: the configuration file defines users");
        return 0;
    }
    if (f->user != NULL && !c->auth_single_user) {
        mr_assert(a->users_count == 0);
        user_add(a);
        c->auth_single_user = true;
    }
    if (c->auth_single_user) {
        flag_str(&a->users[0].user, f->user);
        flag_str(&a->users[0].password, f->pass);
    } else if (f->pass != NULL) {
        warn(l, MR_CONF_WARN_NOTICE, NULL, "--pass without a user is ignored");
    }
    flag_str(&a->token, f->token);
    if (c->auth_single_user && a->token != NULL) {
        return fail(l, MR_E_INVAL, NULL, "Cannot have a user/pass and token");
    }
    return 0;
}

/* --tls* replace the file's tls {} (nats-server's overrideTLS); --tls=false drops it. */
static int flags_tls(struct loader *l, const struct mr_conf_server_flags *f)
{
    struct mr_tls_opts *t = &l->cfg->server.tls;
    bool any = f->tls_set || f->tls_cert != NULL || f->tls_key != NULL || f->tls_ca != NULL ||
               f->tls_verify_set;
    if (!any) {
        return 0;
    }
    if (f->tls_set && !f->tls) {
        memset(t, 0, sizeof(*t));
        return 0;
    }
    if (f->tls_cert == NULL) {
        return fail(l, MR_E_INVAL, NULL, "TLS Server certificate must be present and valid");
    }
    if (f->tls_key == NULL) {
        return fail(l, MR_E_INVAL, NULL, "TLS Server private key must be present and valid");
    }
    memset(t, 0, sizeof(*t));
    t->enabled = true;
    t->verify = f->tls_verify_set && f->tls_verify;
    int rc = flag_copy(l, "--tlscert", f->tls_cert, t->cert_file, sizeof(t->cert_file));
    if (rc == 0) {
        rc = flag_copy(l, "--tlskey", f->tls_key, t->key_file, sizeof(t->key_file));
    }
    if (rc == 0 && f->tls_ca != NULL) {
        rc = flag_copy(l, "--tlscacert", f->tls_ca, t->ca_file, sizeof(t->ca_file));
    }
    return rc;
}

int mr_conf_server_apply_flags(struct mr_config *c, const struct mr_conf_server_flags *f,
                               mr_conf_warn_fn warn, void *warn_ctx, char *err, size_t err_len)
{
    mr_assert(c != NULL);
    mr_assert(f != NULL);
    struct loader l = {
        .cfg = c, .warn = warn, .warn_ctx = warn_ctx, .err = err, .err_len = err_len};
    struct mr_server_opts *o = &c->server;
    int rc = f->host != NULL ? flag_copy(&l, "-a", f->host, o->host, sizeof(o->host)) : 0;
    if (rc == 0 && f->server_name != NULL) {
        rc = flag_copy(&l, "-n", f->server_name, o->server_name, sizeof(o->server_name));
    }
    if (rc != 0) {
        return rc;
    }
    o->port = f->port_set ? f->port : o->port;
    o->debug = f->debug_set ? f->debug : o->debug;
    o->trace = f->trace_set ? f->trace : o->trace;
    c->logtime = f->logtime_set ? f->logtime : c->logtime;
    o->http_port = f->http_port_set ? f->http_port : o->http_port;
    flag_str(&c->log_file, f->log_file);
    flag_str(&c->pid_file, f->pid_file);
    rc = flags_auth(&l, f);
    if (rc == 0) {
        rc = flags_tls(&l, f);
    }
    if (rc == 0) {
        rc = flags_cluster(&l, f);
    }
    o->auth = c->auth;
    o->cluster = &c->cluster;
    o->gateway = &c->gateway;
    o->leafnodes = &c->leafnodes;
    o->websocket = &c->websocket;
    return rc;
}
