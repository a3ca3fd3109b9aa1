/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Streams: configuration and policies over a store; see js_stream.h.
 *
 * Invariants:
 *  - A stream's configuration is checked (defaults filled) before the stream exists.
 *  - Every remembered message id is in the lookup table and in the FIFO, once; the FIFO
 *    is in arrival order, so expiry pops from its head.
 *  - After every publish the stream is within max_msgs, max_bytes and
 *    max_msgs_per_subject (discard old deletes the oldest; discard new refuses first).
 */
#include "core/js/js_stream.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/proto/subject.h"

struct dedup {
    char *id; /* owned; the table's key */
    uint64_t seq;
    int64_t ts_ns;
};

struct mr_js_stream {
    struct mr_mem *mem;
    const struct mr_env *env;
    struct mr_js_stream_cfg cfg;
    struct mr_js_store *store;
    int64_t created_ns;
    GHashTable *dedup; /* id -> struct dedup; lookup only */
    GQueue dedup_fifo; /* the same entries, oldest first */
    char *last_msg_id; /* the last stored Nats-Msg-Id, NULL if none */
    mr_js_stream_admit_fn admit; /* NULL: every stored message stays */
    void *admit_ctx;
};

bool mr_js_err_set(struct mr_js_err *e, int code, int err_code, const char *fmt, ...)
{
    e->code = code;
    e->err_code = err_code;
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(e->description, sizeof(e->description), fmt, ap);
    va_end(ap);
    return false;
}

json_t *mr_js_err_json(const struct mr_js_err *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "code", json_integer(e->code));
    json_object_set_new(o, "err_code", json_integer(e->err_code));
    json_object_set_new(o, "description", json_string(e->description));
    return o;
}

static bool invalid_json(struct mr_js_err *e)
{
    return mr_js_err_set(e, 400, 10025, "invalid JSON");
}

static bool bad_config(struct mr_js_err *e, const char *what)
{
    return mr_js_err_set(e, 500, 10052, "%s", what);
}

void mr_js_random_id(const struct mr_env *env, char *out, size_t len)
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    uint8_t r[64];
    mr_assert(len < sizeof(r));
    env->random(env->ctx, r, len);
    for (size_t i = 0; i < len; i++) {
        out[i] = digits[r[i] % (sizeof(digits) - 1)];
    }
    out[len] = '\0';
}

bool mr_js_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > MR_JS_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= ' ' || c == '.' || c == '*' || c == '>' || c == 0x7f) {
            return false;
        }
    }
    return true;
}

/* ---- decoding ---- */

/* Field readers: a missing or null field leaves the value; a wrong type fails. */
bool mr_js_json_int(json_t *o, const char *key, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v)) {
        return true;
    }
    if (!json_is_integer(v)) {
        return false;
    }
    *out = (int64_t)json_integer_value(v);
    return true;
}

bool mr_js_json_bool(json_t *o, const char *key, bool *out)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v)) {
        return true;
    }
    if (!json_is_boolean(v)) {
        return false;
    }
    *out = json_is_true(v);
    return true;
}

bool mr_js_json_str(json_t *o, const char *key, char **out)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v)) {
        return true;
    }
    if (!json_is_string(v)) {
        return false;
    }
    g_free(*out);
    *out = g_strndup(json_string_value(v), json_string_length(v));
    return true;
}

/* An enum given as one of names (index = value); absent or null leaves it. */
bool mr_js_json_enum(json_t *o, const char *key, const char *const *names, size_t n, int *out)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v)) {
        return true;
    }
    if (!json_is_string(v)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (names[i] != NULL && g_ascii_strcasecmp(json_string_value(v), names[i]) == 0) {
            *out = (int)i;
            return true;
        }
    }
    return false;
}

static bool get_subjects(json_t *o, struct mr_js_stream_cfg *cfg)
{
    json_t *v = json_object_get(o, "subjects");
    if (v == NULL || json_is_null(v)) {
        return true;
    }
    if (!json_is_array(v)) {
        return false;
    }
    size_t n = json_array_size(v);
    cfg->subjects = g_new0(char *, n + 1);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s)) {
            return false;
        }
        cfg->subjects[i] = g_strndup(json_string_value(s), json_string_length(s));
        cfg->subjects_count = i + 1;
    }
    return true;
}

bool mr_js_stream_cfg_from_json(json_t *o, struct mr_js_stream_cfg *cfg, struct mr_js_err *err)
{
    static const char *const retention[] = {"limits", "interest", "workqueue"};
    static const char *const discard[] = {"old", "new"};
    static const char *const storage[] = {NULL, "memory", "file"};
    memset(cfg, 0, sizeof(*cfg));
    if (!json_is_object(o)) {
        return invalid_json(err);
    }
    int ret = 0;
    int disc = 0;
    int stor = 0;
    bool ok = mr_js_json_str(o, "name", &cfg->name) &&
              mr_js_json_str(o, "description", &cfg->description) &&
              get_subjects(o, cfg) && mr_js_json_enum(o, "retention", retention, 3, &ret) &&
              mr_js_json_int(o, "max_consumers", &cfg->max_consumers) &&
              mr_js_json_int(o, "max_msgs", &cfg->max_msgs) &&
              mr_js_json_int(o, "max_bytes", &cfg->max_bytes) &&
              mr_js_json_int(o, "max_age", &cfg->max_age_ns) &&
              mr_js_json_int(o, "max_msgs_per_subject", &cfg->max_msgs_per_subject) &&
              mr_js_json_int(o, "max_msg_size", &cfg->max_msg_size) &&
              mr_js_json_enum(o, "discard", discard, 2, &disc) &&
              mr_js_json_bool(o, "discard_new_per_subject", &cfg->discard_new_per_subject) &&
              mr_js_json_enum(o, "storage", storage, 3, &stor) &&
              mr_js_json_int(o, "num_replicas", &cfg->num_replicas) &&
              mr_js_json_bool(o, "no_ack", &cfg->no_ack) &&
              mr_js_json_int(o, "duplicate_window", &cfg->duplicate_window_ns) &&
              mr_js_json_bool(o, "sealed", &cfg->sealed) &&
              mr_js_json_bool(o, "deny_delete", &cfg->deny_delete) &&
              mr_js_json_bool(o, "deny_purge", &cfg->deny_purge) &&
              mr_js_json_bool(o, "allow_rollup_hdrs", &cfg->allow_rollup_hdrs) &&
              mr_js_json_bool(o, "allow_direct", &cfg->allow_direct) &&
              mr_js_json_bool(o, "mirror_direct", &cfg->mirror_direct);
    /* max_msg_size is an int32 in nats-server: a larger number does not decode. */
    if (!ok || cfg->max_msg_size > INT32_MAX || cfg->max_msg_size < INT32_MIN) {
        mr_js_stream_cfg_free(cfg);
        return invalid_json(err);
    }
    cfg->retention = (enum mr_js_retention)ret;
    cfg->discard = (enum mr_js_discard)disc;
    cfg->storage = (enum mr_js_storage)stor;
    json_t *m = json_object_get(o, "mirror");
    json_t *s = json_object_get(o, "sources");
    cfg->has_mirror = m != NULL && !json_is_null(m);
    cfg->has_sources = s != NULL && json_is_array(s) && json_array_size(s) > 0;
    return true;
}

bool mr_js_stream_cfg_decode(const uint8_t *buf, size_t len, struct mr_js_stream_cfg *cfg,
                             struct mr_js_err *err)
{
    memset(cfg, 0, sizeof(*cfg));
    json_t *o = json_loadb((const char *)buf, len, 0, NULL);
    if (o == NULL) {
        return invalid_json(err);
    }
    bool ok = mr_js_stream_cfg_from_json(o, cfg, err);
    json_decref(o);
    return ok;
}

void mr_js_stream_cfg_free(struct mr_js_stream_cfg *cfg)
{
    g_free(cfg->name);
    g_free(cfg->description);
    for (size_t i = 0; i < cfg->subjects_count; i++) {
        g_free(cfg->subjects[i]);
    }
    g_free(cfg->subjects);
    memset(cfg, 0, sizeof(*cfg));
}

void mr_js_stream_cfg_copy(struct mr_js_stream_cfg *dst, const struct mr_js_stream_cfg *src)
{
    *dst = *src;
    dst->name = g_strdup(src->name);
    dst->description = g_strdup(src->description);
    dst->subjects = g_new0(char *, src->subjects_count + 1);
    for (size_t i = 0; i < src->subjects_count; i++) {
        dst->subjects[i] = g_strdup(src->subjects[i]);
    }
}

/* ---- defaults and validation (nats-server's checkStreamCfg, single server) ---- */

static void fill_defaults(struct mr_js_stream_cfg *c, uint64_t dup_max)
{
    if (c->storage == 0) {
        c->storage = MR_JS_STORAGE_FILE;
    }
    if (c->num_replicas == 0) {
        c->num_replicas = 1;
    }
    int64_t *minus_one[] = {&c->max_msgs, &c->max_msgs_per_subject, &c->max_bytes,
                            &c->max_msg_size, &c->max_consumers};
    for (size_t i = 0; i < G_N_ELEMENTS(minus_one); i++) {
        if (*minus_one[i] == 0) {
            *minus_one[i] = -1;
        }
    }
    if (c->duplicate_window_ns == 0 && !c->has_mirror) {
        int64_t window = MR_JS_DUPLICATE_WINDOW_DEFAULT_NS;
        if (dup_max > 0 && (uint64_t)window > dup_max) {
            window = (int64_t)dup_max;
        }
        c->duplicate_window_ns = c->max_age_ns != 0 && c->max_age_ns < window ? c->max_age_ns
                                                                               : window;
    }
    if (c->subjects_count == 0 && !c->has_mirror && !c->has_sources) {
        g_free(c->subjects);
        c->subjects = g_new0(char *, 2);
        c->subjects[0] = g_strdup(c->name);
        c->subjects_count = 1;
    }
}

static bool check_windows(const struct mr_js_stream_cfg *c, uint64_t dup_max,
                          struct mr_js_err *err)
{
    if (c->max_age_ns > 0 && c->max_age_ns < (int64_t)MR_JS_MIN_WINDOW_NS) {
        return bad_config(err, "max age needs to be >= 100ms");
    }
    if (c->duplicate_window_ns < 0) {
        return bad_config(err, "duplicates window can not be negative");
    }
    if (c->max_age_ns != 0 && c->duplicate_window_ns > c->max_age_ns) {
        return bad_config(err, "duplicates window can not be larger then max age");
    }
    if (dup_max > 0 && (uint64_t)c->duplicate_window_ns > dup_max) {
        return mr_js_err_set(err, 500, 10052,
                             "duplicates window can not be larger then server limit of %llus",
                             (unsigned long long)(dup_max / 1000000000ULL));
    }
    if (c->duplicate_window_ns > 0 && c->duplicate_window_ns < (int64_t)MR_JS_MIN_WINDOW_NS) {
        return bad_config(err, "duplicates window needs to be >= 100ms");
    }
    return true;
}

static bool check_subjects(const struct mr_js_stream_cfg *c, struct mr_js_err *err)
{
    if (c->subjects_count > MR_JS_STREAM_SUBJECTS_MAX) {
        return mr_js_err_set(err, 500, 10052, "too many subjects (at most %d)",
                             MR_JS_STREAM_SUBJECTS_MAX);
    }
    for (size_t i = 0; i < c->subjects_count; i++) {
        const char *s = c->subjects[i];
        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->subjects[j], s) == 0) {
                return bad_config(err, "duplicate subjects detected");
            }
        }
        if (mr_subject_valid(s, strlen(s)) &&
            mr_subject_is_subset(s, strlen(s), "$JS.API.>", 9)) {
            return bad_config(err, "subjects overlap with jetstream api");
        }
        if (!mr_subject_valid(s, strlen(s))) {
            return bad_config(err, "invalid subject");
        }
    }
    for (size_t i = 0; i < c->subjects_count; i++) {
        for (size_t j = 0; j < c->subjects_count; j++) {
            const char *a = c->subjects[i];
            const char *b = c->subjects[j];
            if (i != j && mr_subject_intersects(a, strlen(a), b, strlen(b))) {
                return mr_js_err_set(err, 500, 10052, "subject \"%s\" overlaps with \"%s\"", a,
                                     b);
            }
        }
    }
    return true;
}

bool mr_js_stream_cfg_check(struct mr_js_stream_cfg *c, uint64_t dup_max, struct mr_js_err *err)
{
    if (c->name == NULL || !mr_js_name_valid(c->name, strlen(c->name))) {
        if (c->name != NULL && strlen(c->name) > MR_JS_NAME_MAX) {
            return mr_js_err_set(err, 500, 10052,
                                 "stream name is too long, maximum allowed is %d", MR_JS_NAME_MAX);
        }
        return bad_config(err, "stream name is required and can not contain '.', '*', '>'");
    }
    if (c->description != NULL && strlen(c->description) > MR_JS_DESCRIPTION_MAX) {
        return mr_js_err_set(err, 500, 10052,
                             "stream description is too long, maximum allowed is %d",
                             MR_JS_DESCRIPTION_MAX);
    }
    if (c->num_replicas > 5) {
        return bad_config(err, "maximum replicas is 5");
    }
    if (c->num_replicas < 0) {
        return mr_js_err_set(err, 500, 10133, "replicas count cannot be negative");
    }
    fill_defaults(c, dup_max);
    if (!check_windows(c, dup_max, err)) {
        return false;
    }
    if (c->deny_purge && c->allow_rollup_hdrs) {
        return bad_config(err, "roll-ups require the purge permission");
    }
    if (c->discard_new_per_subject && c->discard != MR_JS_DISCARD_NEW) {
        return bad_config(err, "discard new per subject requires discard new policy to be set");
    }
    if (c->discard_new_per_subject && c->max_msgs_per_subject <= 0) {
        return bad_config(err, "discard new per subject requires max msgs per subject > 0");
    }
    if (c->has_mirror || c->has_sources) {
        return mr_js_err_set(err, 500, 10052, "stream %s are not supported yet",
                             c->has_mirror ? "mirrors" : "sources");
    }
    if (!check_subjects(c, err)) {
        return false;
    }
    if (c->num_replicas > 1) {
        return mr_js_err_set(err, 500, 10074, "replicas > 1 not supported in non-clustered mode");
    }
    return true;
}

bool mr_js_stream_cfg_update_check(const struct mr_js_stream_cfg *old,
                                   const struct mr_js_stream_cfg *c, struct mr_js_err *err)
{
    if (strcmp(c->name, old->name) != 0) {
        return bad_config(err, "stream configuration name must match original");
    }
    if (c->max_consumers != old->max_consumers) {
        return bad_config(err, "stream configuration update can not change MaxConsumers");
    }
    if (c->storage != old->storage) {
        return bad_config(err, "stream configuration update can not change storage type");
    }
    if (c->retention != old->retention) {
        return bad_config(err, "stream configuration update can not change retention policy");
    }
    if (!c->sealed && old->sealed) {
        return bad_config(err, "stream configuration update can not unseal a sealed stream");
    }
    if (!c->deny_delete && old->deny_delete) {
        return bad_config(err, "stream configuration update can not cancel deny message deletes");
    }
    if (!c->deny_purge && old->deny_purge) {
        return bad_config(err, "stream configuration update can not cancel deny purge");
    }
    return true;
}

static bool str_eq(const char *a, const char *b)
{
    return (a == NULL || *a == '\0') ? (b == NULL || *b == '\0') : (b != NULL && strcmp(a, b) == 0);
}

bool mr_js_stream_cfg_equal(const struct mr_js_stream_cfg *a, const struct mr_js_stream_cfg *b)
{
    if (!str_eq(a->name, b->name) || !str_eq(a->description, b->description) ||
        a->subjects_count != b->subjects_count) {
        return false;
    }
    for (size_t i = 0; i < a->subjects_count; i++) {
        if (strcmp(a->subjects[i], b->subjects[i]) != 0) {
            return false;
        }
    }
    return a->retention == b->retention && a->max_consumers == b->max_consumers &&
           a->max_msgs == b->max_msgs && a->max_bytes == b->max_bytes &&
           a->max_age_ns == b->max_age_ns && a->max_msgs_per_subject == b->max_msgs_per_subject &&
           a->max_msg_size == b->max_msg_size && a->discard == b->discard &&
           a->discard_new_per_subject == b->discard_new_per_subject && a->storage == b->storage &&
           a->num_replicas == b->num_replicas && a->no_ack == b->no_ack &&
           a->duplicate_window_ns == b->duplicate_window_ns && a->sealed == b->sealed &&
           a->deny_delete == b->deny_delete && a->deny_purge == b->deny_purge &&
           a->allow_rollup_hdrs == b->allow_rollup_hdrs && a->allow_direct == b->allow_direct &&
           a->mirror_direct == b->mirror_direct;
}

json_t *mr_js_stream_cfg_json(const struct mr_js_stream_cfg *c)
{
    static const char *const retention[] = {"limits", "interest", "workqueue"};
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(c->name));
    if (c->description != NULL && c->description[0] != '\0') {
        json_object_set_new(o, "description", json_string(c->description));
    }
    json_t *subs = json_array();
    for (size_t i = 0; i < c->subjects_count; i++) {
        json_array_append_new(subs, json_string(c->subjects[i]));
    }
    json_object_set_new(o, "subjects", subs);
    json_object_set_new(o, "retention", json_string(retention[c->retention]));
    json_object_set_new(o, "max_consumers", json_integer(c->max_consumers));
    json_object_set_new(o, "max_msgs", json_integer(c->max_msgs));
    json_object_set_new(o, "max_bytes", json_integer(c->max_bytes));
    json_object_set_new(o, "max_age", json_integer(c->max_age_ns));
    json_object_set_new(o, "max_msgs_per_subject", json_integer(c->max_msgs_per_subject));
    json_object_set_new(o, "max_msg_size", json_integer(c->max_msg_size));
    json_object_set_new(o, "discard", json_string(c->discard == MR_JS_DISCARD_NEW ? "new" : "old"));
    json_object_set_new(o, "storage",
                        json_string(c->storage == MR_JS_STORAGE_MEMORY ? "memory" : "file"));
    json_object_set_new(o, "num_replicas", json_integer(c->num_replicas));
    if (c->no_ack) {
        json_object_set_new(o, "no_ack", json_true());
    }
    json_object_set_new(o, "duplicate_window", json_integer(c->duplicate_window_ns));
    json_object_set_new(o, "allow_direct", json_boolean(c->allow_direct));
    json_object_set_new(o, "mirror_direct", json_boolean(c->mirror_direct));
    json_object_set_new(o, "sealed", json_boolean(c->sealed));
    json_object_set_new(o, "deny_delete", json_boolean(c->deny_delete));
    json_object_set_new(o, "deny_purge", json_boolean(c->deny_purge));
    json_object_set_new(o, "allow_rollup_hdrs", json_boolean(c->allow_rollup_hdrs));
    if (c->discard_new_per_subject) {
        json_object_set_new(o, "discard_new_per_subject", json_true());
    }
    return o;
}

/* ---- time ---- */

void mr_js_time_format(int64_t wall_ns, char *out, size_t out_len)
{
    if (wall_ns <= 0) {
        (void)snprintf(out, out_len, "0001-01-01T00:00:00Z");
        return;
    }
    int64_t secs = wall_ns / 1000000000LL;
    int64_t nanos = wall_ns % 1000000000LL;
    int64_t days = secs / 86400;
    int64_t rem = secs % 86400;
    /* Civil date from days since 1970-01-01 (proleptic Gregorian). */
    int64_t z = days + 719468;
    int64_t era = z / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    char frac[16] = "";
    if (nanos != 0) {
        (void)snprintf(frac, sizeof(frac), ".%09lld", (long long)nanos);
        size_t n = strlen(frac);
        while (n > 1 && frac[n - 1] == '0') {
            frac[--n] = '\0';
        }
    }
    (void)snprintf(out, out_len, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld%sZ", (long long)y,
                   (long long)m, (long long)d, (long long)(rem / 3600),
                   (long long)(rem % 3600 / 60), (long long)(rem % 60), frac);
}

/* ---- headers ---- */

bool mr_js_header_get(const uint8_t *hdr, size_t hdr_len, const char *key, const uint8_t **val,
                      size_t *val_len)
{
    size_t klen = strlen(key);
    size_t i = 0;
    /* Skip the status line. */
    while (i + 1 < hdr_len && !(hdr[i] == '\r' && hdr[i + 1] == '\n')) {
        i++;
    }
    i += 2;
    while (i < hdr_len) {
        size_t end = i;
        while (end + 1 < hdr_len && !(hdr[end] == '\r' && hdr[end + 1] == '\n')) {
            end++;
        }
        if (end + 1 >= hdr_len) {
            end = hdr_len;
        }
        if (end - i > klen && memcmp(hdr + i, key, klen) == 0 && hdr[i + klen] == ':') {
            size_t b = i + klen + 1;
            size_t e = end;
            while (b < e && (hdr[b] == ' ' || hdr[b] == '\t')) {
                b++;
            }
            while (e > b && (hdr[e - 1] == ' ' || hdr[e - 1] == '\t')) {
                e--;
            }
            *val = hdr + b;
            *val_len = e - b;
            return true;
        }
        i = end + 2;
    }
    return false;
}

/* A header's value as a decimal number; false when absent or not a number. */
static bool header_u64(const uint8_t *hdr, size_t hdr_len, const char *key, uint64_t *out)
{
    const uint8_t *v;
    size_t n;
    if (hdr == NULL || !mr_js_header_get(hdr, hdr_len, key, &v, &n) || n == 0 || n > 20) {
        return false;
    }
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9' || x > (UINT64_MAX - 9) / 10) {
            return false;
        }
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return true;
}

static bool header_eq(const uint8_t *v, size_t n, const char *s)
{
    return n == strlen(s) && memcmp(v, s, n) == 0;
}

/* ---- the stream ---- */

static void dedup_free(gpointer p)
{
    struct dedup *d = p;
    g_free(d->id);
    g_free(d);
}

int mr_js_stream_create(struct mr_mem *mem, const struct mr_env *env,
                        const struct mr_js_stream_cfg *cfg, int64_t created_ns,
                        const struct mr_js_store_cfg *store_cfg,
                        const struct mr_js_store_cbs *cbs, struct mr_js_stream **out,
                        struct mr_js_err *err)
{
    mr_assert(cfg->name != NULL);
    mr_assert(cfg->storage == store_cfg->storage);
    struct mr_js_stream *st = g_new0(struct mr_js_stream, 1);
    st->mem = mem;
    st->env = env;
    st->created_ns = created_ns;
    char msg[MR_ERRMSG_MAX] = "";
    int rc = mr_js_store_create(mem, env, store_cfg, cbs, &st->store, msg, sizeof(msg));
    if (rc != 0) {
        g_free(st);
        mr_js_err_set(err, 500, 10049, "%s", msg[0] != '\0' ? msg : mr_err_text(rc));
        return rc;
    }
    mr_js_stream_cfg_copy(&st->cfg, cfg);
    st->dedup = g_hash_table_new(g_str_hash, g_str_equal);
    g_queue_init(&st->dedup_fifo);
    *out = st;
    return 0;
}

void mr_js_stream_destroy(struct mr_js_stream *st)
{
    if (st == NULL) {
        return;
    }
    mr_js_store_destroy(st->store);
    g_hash_table_destroy(st->dedup);
    g_queue_clear_full(&st->dedup_fifo, dedup_free);
    g_free(st->last_msg_id);
    mr_js_stream_cfg_free(&st->cfg);
    g_free(st);
}

const struct mr_js_stream_cfg *mr_js_stream_cfg(const struct mr_js_stream *st)
{
    return &st->cfg;
}

struct mr_js_store *mr_js_stream_store(struct mr_js_stream *st)
{
    return st->store;
}

int64_t mr_js_stream_created(const struct mr_js_stream *st)
{
    return st->created_ns;
}

/* Deletes the oldest messages until the stream is within max_msgs and max_bytes. */
static void enforce_limits(struct mr_js_stream *st)
{
    struct mr_js_store_state ss;
    mr_js_store_state(st->store, &ss);
    while (ss.msgs > 0 && ((st->cfg.max_msgs > 0 && ss.msgs > (uint64_t)st->cfg.max_msgs) ||
                           (st->cfg.max_bytes > 0 && ss.bytes > (uint64_t)st->cfg.max_bytes))) {
        uint64_t before = ss.msgs;
        (void)mr_js_store_delete(st->store, ss.first_seq, false); /* failure: next check */
        mr_js_store_state(st->store, &ss);
        if (ss.msgs == before) {
            break; /* the store refused (push back): try at the next publish */
        }
    }
}

static void enforce_per_subject(struct mr_js_stream *st, const char *subject, size_t len)
{
    if (st->cfg.max_msgs_per_subject <= 0) {
        return;
    }
    uint64_t max = (uint64_t)st->cfg.max_msgs_per_subject;
    while (mr_js_store_subject_count(st->store, subject, len) > max) {
        uint64_t first = mr_js_store_first_of(st->store, subject, len);
        if (first == 0 || mr_js_store_delete(st->store, first, false) != 0) {
            break;
        }
    }
}

void mr_js_stream_update(struct mr_js_stream *st, const struct mr_js_stream_cfg *cfg,
                         int64_t now_wall_ns)
{
    struct mr_js_stream_cfg old = st->cfg;
    mr_js_stream_cfg_copy(&st->cfg, cfg);
    mr_js_stream_cfg_free(&old);
    enforce_limits(st);
    (void)mr_js_stream_expire(st, now_wall_ns);
}

static uint64_t stored_size(const struct mr_js_stream *st, size_t subject_len, size_t hdr_len,
                            size_t data_len)
{
    /* The stores' own accounting (js_store.c), which is nats-server's. */
    if (st->cfg.storage == MR_JS_STORAGE_MEMORY) {
        return subject_len + hdr_len + data_len + 16;
    }
    return 22 + subject_len + data_len + 8 + (hdr_len > 0 ? 4 + hdr_len : 0);
}

static void remember_id(struct mr_js_stream *st, const uint8_t *id, size_t id_len, uint64_t seq,
                        int64_t ts)
{
    st->last_msg_id = g_strndup((const char *)id, id_len);
    if (st->cfg.duplicate_window_ns <= 0) {
        return;
    }
    if (g_queue_get_length(&st->dedup_fifo) >= MR_JS_DEDUP_MAX) {
        struct dedup *old = g_queue_pop_head(&st->dedup_fifo);
        g_hash_table_remove(st->dedup, old->id);
        dedup_free(old);
    }
    struct dedup *d = g_new0(struct dedup, 1);
    d->id = g_strndup((const char *)id, id_len);
    d->seq = seq;
    d->ts_ns = ts;
    struct dedup *prev = g_hash_table_lookup(st->dedup, d->id);
    if (prev != NULL) {
        g_hash_table_remove(st->dedup, prev->id);
        g_queue_remove(&st->dedup_fifo, prev);
        dedup_free(prev);
    }
    g_hash_table_insert(st->dedup, d->id, d);
    g_queue_push_tail(&st->dedup_fifo, d);
}

/* The Nats-Expected-* checks, in nats-server's order. */
static bool check_expected(struct mr_js_stream *st, const char *subject, size_t subject_len,
                           const uint8_t *hdr, size_t hdr_len, struct mr_js_err *err)
{
    const uint8_t *v;
    size_t n;
    if (mr_js_header_get(hdr, hdr_len, "Nats-Expected-Stream", &v, &n) && n > 0 &&
        !header_eq(v, n, st->cfg.name)) {
        return mr_js_err_set(err, 400, 10060, "expected stream does not match");
    }
    uint64_t want;
    if (header_u64(hdr, hdr_len, "Nats-Expected-Last-Subject-Sequence", &want)) {
        uint64_t have = mr_js_store_last_of(st->store, subject, subject_len);
        if (have != want) {
            return mr_js_err_set(err, 400, 10071, "wrong last sequence: %llu",
                                 (unsigned long long)have);
        }
    }
    struct mr_js_store_state ss;
    mr_js_store_state(st->store, &ss);
    if (header_u64(hdr, hdr_len, "Nats-Expected-Last-Sequence", &want) && want != ss.last_seq) {
        return mr_js_err_set(err, 400, 10071, "wrong last sequence: %llu",
                             (unsigned long long)ss.last_seq);
    }
    if (mr_js_header_get(hdr, hdr_len, "Nats-Expected-Last-Msg-Id", &v, &n) && n > 0) {
        const char *last = st->last_msg_id != NULL ? st->last_msg_id : "";
        if (!header_eq(v, n, last)) {
            return mr_js_err_set(err, 400, 10070, "wrong last msg ID: %s", last);
        }
    }
    return true;
}

/* Refuses a publish that discard new would drop (the stream is full). */
static bool check_discard_new(struct mr_js_stream *st, const char *subject, size_t subject_len,
                              uint64_t size, struct mr_js_err *err)
{
    if (st->cfg.discard != MR_JS_DISCARD_NEW) {
        return true;
    }
    struct mr_js_store_state ss;
    mr_js_store_state(st->store, &ss);
    if (st->cfg.max_msgs > 0 && ss.msgs >= (uint64_t)st->cfg.max_msgs) {
        return mr_js_err_set(err, 503, 10077, "maximum messages exceeded");
    }
    if (st->cfg.max_bytes > 0 && ss.bytes + size > (uint64_t)st->cfg.max_bytes) {
        return mr_js_err_set(err, 503, 10077, "maximum bytes exceeded");
    }
    if (st->cfg.discard_new_per_subject && st->cfg.max_msgs_per_subject > 0 &&
        mr_js_store_subject_count(st->store, subject, subject_len) >=
            (uint64_t)st->cfg.max_msgs_per_subject) {
        return mr_js_err_set(err, 503, 10077, "maximum messages per subject exceeded");
    }
    return true;
}

/* Nats-Rollup: "sub" keeps only the new message on its subject, "all" only it in the
 * stream. Returns 0 (none), 1 (sub), 2 (all), or -1 with err set. */
static int rollup_kind(const struct mr_js_stream *st, const uint8_t *hdr, size_t hdr_len,
                       struct mr_js_err *err)
{
    const uint8_t *v;
    size_t n;
    if (!mr_js_header_get(hdr, hdr_len, "Nats-Rollup", &v, &n) || n == 0) {
        return 0;
    }
    if (!st->cfg.allow_rollup_hdrs || st->cfg.deny_purge) {
        mr_js_err_set(err, 500, 10111, "rollup not permitted");
        return -1;
    }
    if (header_eq(v, n, "sub")) {
        return 1;
    }
    if (header_eq(v, n, "all")) {
        return 2;
    }
    mr_js_err_set(err, 500, 10111, "rollup value invalid: \"%.*s\"", (int)n, (const char *)v);
    return -1;
}

void mr_js_stream_publish(struct mr_js_stream *st, const char *subject, size_t subject_len,
                          const uint8_t *hdr, size_t hdr_len, const uint8_t *data,
                          size_t data_len, int64_t now, struct mr_js_pub_result *res)
{
    memset(res, 0, sizeof(*res));
    if (st->cfg.sealed) {
        mr_js_err_set(&res->err, 400, 10109, "invalid operation on sealed stream");
        return;
    }
    if (hdr_len == 0) {
        hdr = NULL;
    }
    const uint8_t *id = NULL;
    size_t id_len = 0;
    if (hdr != NULL && mr_js_header_get(hdr, hdr_len, "Nats-Msg-Id", &id, &id_len) &&
        id_len > 0) {
        (void)mr_js_stream_expire(st, now);
        char *key = g_strndup((const char *)id, id_len);
        struct dedup *d = g_hash_table_lookup(st->dedup, key);
        g_free(key);
        if (d != NULL) {
            res->seq = d->seq;
            res->duplicate = true;
            return;
        }
    } else {
        id = NULL;
    }
    int rollup = 0;
    if (hdr != NULL) {
        if (!check_expected(st, subject, subject_len, hdr, hdr_len, &res->err)) {
            return;
        }
        rollup = rollup_kind(st, hdr, hdr_len, &res->err);
        if (rollup < 0) {
            return;
        }
    }
    if (st->cfg.max_msg_size >= 0 && hdr_len + data_len > (uint64_t)st->cfg.max_msg_size) {
        mr_js_err_set(&res->err, 400, 10054, "message size exceeds maximum allowed");
        return;
    }
    if (st->admit != NULL && !st->admit(st->admit_ctx, st->cfg.storage, false, &res->err)) {
        return;
    }
    uint64_t size = stored_size(st, subject_len, hdr_len, data_len);
    if (!check_discard_new(st, subject, subject_len, size, &res->err)) {
        return;
    }
    uint64_t seq = 0;
    int rc = mr_js_store_append(st->store, subject, subject_len, hdr, hdr_len, data, data_len, now,
                                &seq);
    if (rc != 0) {
        mr_js_err_set(&res->err, 503, 10077, "%s", mr_err_text(rc));
        return;
    }
    /* The stream's own limits first: the account's usage is judged after them, as
     * nats-server's store applies them inside StoreMsg. */
    enforce_per_subject(st, subject, subject_len);
    enforce_limits(st);
    if (st->admit != NULL && !st->admit(st->admit_ctx, st->cfg.storage, true, &res->err)) {
        /* Refused after storing: the sequence stays used, as in nats-server. */
        (void)mr_js_store_delete(st->store, seq, false);
        return;
    }
    res->seq = seq;
    /* Nats-Expected-Last-Msg-Id compares with the last stored message's id, which is
     * empty when that message had none (nats-server's lmsgId). */
    g_free(st->last_msg_id);
    st->last_msg_id = NULL;
    if (id != NULL) {
        remember_id(st, id, id_len, seq, now);
    }
    uint64_t purged;
    if (rollup == 1) {
        (void)mr_js_store_purge(st->store, subject, subject_len, seq, 0, &purged);
    } else if (rollup == 2) {
        (void)mr_js_store_purge(st->store, NULL, 0, seq, 0, &purged);
    }
}

void mr_js_stream_set_admit(struct mr_js_stream *st, mr_js_stream_admit_fn fn, void *ctx)
{
    st->admit = fn;
    st->admit_ctx = ctx;
}

int64_t mr_js_stream_expire(struct mr_js_stream *st, int64_t now)
{
    while (!g_queue_is_empty(&st->dedup_fifo)) {
        struct dedup *d = g_queue_peek_head(&st->dedup_fifo);
        if (d->ts_ns + st->cfg.duplicate_window_ns > now) {
            break;
        }
        g_queue_pop_head(&st->dedup_fifo);
        g_hash_table_remove(st->dedup, d->id);
        dedup_free(d);
    }
    int64_t next = 0;
    if (!g_queue_is_empty(&st->dedup_fifo)) {
        struct dedup *d = g_queue_peek_head(&st->dedup_fifo);
        next = d->ts_ns + st->cfg.duplicate_window_ns;
    }
    if (st->cfg.max_age_ns <= 0) {
        return next;
    }
    struct mr_js_store_state ss;
    mr_js_store_state(st->store, &ss);
    while (ss.msgs > 0) {
        struct mr_js_msg m;
        int rc = mr_js_store_load_next(st->store, NULL, 0, ss.first_seq, &m);
        if (rc == MR_AGAIN) {
            /* Its block is being read: its age is not known yet, look again soon. */
            int64_t due = now + (int64_t)MR_JS_EXPIRE_RETRY_NS;
            next = next == 0 || due < next ? due : next;
            break;
        }
        if (rc != 0) {
            break; /* damaged (reported by the store) or gone: nothing to judge */
        }
        if (m.ts_ns + st->cfg.max_age_ns > now) {
            int64_t due = m.ts_ns + st->cfg.max_age_ns;
            next = next == 0 || due < next ? due : next;
            break;
        }
        if (mr_js_store_delete(st->store, m.seq, false) != 0) {
            break;
        }
        mr_js_store_state(st->store, &ss);
    }
    return next;
}

void mr_js_stream_rebuild_dedup(struct mr_js_stream *st, int64_t now)
{
    struct mr_js_store_state ss;
    mr_js_store_state(st->store, &ss);
    if (ss.msgs == 0) {
        return;
    }
    GPtrArray *found = g_ptr_array_new(); /* struct dedup, newest first */
    uint64_t seen = 0;
    for (uint64_t seq = ss.last_seq; seq >= ss.first_seq && seq > 0; seq--) {
        struct mr_js_msg m;
        int rc = mr_js_store_load(st->store, seq, &m);
        if (rc == MR_E_NOT_FOUND) {
            continue; /* deleted */
        }
        /* A body not in memory (MR_AGAIN) or damaged ends the walk: what was found is
         * kept, older ids are forgotten. */
        if (rc != 0 || m.ts_ns + st->cfg.duplicate_window_ns <= now ||
            ++seen > MR_JS_DEDUP_MAX) {
            break;
        }
        const uint8_t *id;
        size_t id_len;
        bool has = m.hdr != NULL && mr_js_header_get(m.hdr, m.hdr_len, "Nats-Msg-Id", &id,
                                                     &id_len) && id_len > 0;
        if (seq == ss.last_seq && has) {
            st->last_msg_id = g_strndup((const char *)id, id_len);
        }
        if (has) {
            struct dedup *d = g_new0(struct dedup, 1);
            d->id = g_strndup((const char *)id, id_len);
            d->seq = m.seq;
            d->ts_ns = m.ts_ns;
            g_ptr_array_add(found, d);
        }
    }
    for (guint i = found->len; i > 0; i--) {
        struct dedup *d = g_ptr_array_index(found, i - 1);
        if (g_hash_table_contains(st->dedup, d->id)) {
            dedup_free(d); /* a newer message carries the same id */
            continue;
        }
        g_hash_table_insert(st->dedup, d->id, d);
        g_queue_push_tail(&st->dedup_fifo, d);
    }
    g_ptr_array_free(found, TRUE);
}

/* ---- requests ---- */

/* Parses an optional JSON object body: NULL (empty body) is fine; else an object. */
static bool body_object(const uint8_t *body, size_t len, json_t **out, struct mr_js_err *err)
{
    *out = NULL;
    if (len == 0) {
        return true;
    }
    json_t *o = json_loadb((const char *)body, len, 0, NULL);
    if (o == NULL || !json_is_object(o)) {
        json_decref(o);
        return invalid_json(err);
    }
    *out = o;
    return true;
}

bool mr_js_stream_purge(struct mr_js_stream *st, const uint8_t *body, size_t len,
                        uint64_t *purged, struct mr_js_err *err)
{
    *purged = 0;
    if (st->cfg.sealed) {
        return mr_js_err_set(err, 400, 10109, "invalid operation on sealed stream");
    }
    if (st->cfg.deny_purge) {
        return mr_js_err_set(err, 500, 10110, "stream purge not permitted");
    }
    json_t *o;
    if (!body_object(body, len, &o, err)) {
        return false;
    }
    char *filter = NULL;
    int64_t seq = 0;
    int64_t keep = 0;
    bool ok = o == NULL ||
              (mr_js_json_str(o, "filter", &filter) && mr_js_json_int(o, "seq", &seq) &&
               mr_js_json_int(o, "keep", &keep));
    json_decref(o);
    if (!ok || seq < 0 || keep < 0) {
        g_free(filter);
        return invalid_json(err);
    }
    if (seq > 0 && keep > 0) {
        g_free(filter);
        return mr_js_err_set(err, 400, 10003, "bad request");
    }
    if (filter != NULL && filter[0] != '\0' && !mr_subject_valid(filter, strlen(filter))) {
        g_free(filter);
        return mr_js_err_set(err, 500, 10110, "invalid subject filter");
    }
    int rc = mr_js_store_purge(st->store, filter, filter != NULL ? strlen(filter) : 0,
                               (uint64_t)seq, (uint64_t)keep, purged);
    g_free(filter);
    if (rc != 0) {
        return mr_js_err_set(err, 500, 10110, "%s", mr_err_text(rc));
    }
    return true;
}

bool mr_js_stream_msg_delete(struct mr_js_stream *st, const uint8_t *body, size_t len,
                             struct mr_js_err *err)
{
    if (st->cfg.sealed) {
        return mr_js_err_set(err, 400, 10109, "invalid operation on sealed stream");
    }
    if (st->cfg.deny_delete) {
        return mr_js_err_set(err, 500, 10057, "message delete not permitted");
    }
    json_t *o;
    if (!body_object(body, len, &o, err)) {
        return false;
    }
    int64_t seq = 0;
    bool no_erase = false;
    bool ok = o != NULL && mr_js_json_int(o, "seq", &seq) &&
              mr_js_json_bool(o, "no_erase", &no_erase);
    json_decref(o);
    if (!ok) {
        return o == NULL ? mr_js_err_set(err, 400, 10003, "bad request") : invalid_json(err);
    }
    if (seq <= 0) {
        return mr_js_err_set(err, 400, 10003, "bad request");
    }
    int rc = mr_js_store_delete(st->store, (uint64_t)seq, !no_erase);
    if (rc == MR_E_NOT_FOUND) {
        return mr_js_err_set(err, 400, 10043, "sequence %lld not found", (long long)seq);
    }
    if (rc != 0) {
        return mr_js_err_set(err, 500, 10057, "%s", mr_err_text(rc));
    }
    return true;
}

int mr_js_stream_msg_get(struct mr_js_stream *st, const uint8_t *body, size_t len,
                         const char *direct_subject, struct mr_js_msg *out, struct mr_js_err *err)
{
    int rc;
    if (direct_subject != NULL) {
        rc = mr_js_store_load_last(st->store, direct_subject, strlen(direct_subject), out);
    } else {
        json_t *o;
        if (!body_object(body, len, &o, err)) {
            return MR_E_INVAL;
        }
        int64_t seq = 0;
        char *last = NULL;
        char *next = NULL;
        bool ok = o != NULL && mr_js_json_int(o, "seq", &seq) &&
                  mr_js_json_str(o, "last_by_subj", &last) &&
                  mr_js_json_str(o, "next_by_subj", &next);
        json_decref(o);
        bool has_last = last != NULL && last[0] != '\0';
        bool has_next = next != NULL && next[0] != '\0';
        /* Exactly one of seq, last_by_subj, next_by_subj (next goes with seq). */
        if (!ok || seq < 0 || (seq == 0 && !has_last && !has_next) || (has_last && has_next) ||
            (has_last && seq > 0)) {
            g_free(last);
            g_free(next);
            mr_js_err_set(err, 400, 10003, "bad request");
            return MR_E_INVAL;
        }
        if (has_last) {
            rc = mr_js_store_load_last(st->store, last, strlen(last), out);
        } else if (has_next) {
            rc = mr_js_store_load_next(st->store, next, strlen(next), (uint64_t)seq, out);
        } else {
            rc = mr_js_store_load(st->store, (uint64_t)seq, out);
        }
        g_free(last);
        g_free(next);
    }
    if (rc == MR_AGAIN) {
        return rc;
    }
    if (rc != 0) {
        mr_js_err_set(err, 404, 10037, "no message found");
        return MR_E_NOT_FOUND;
    }
    return 0;
}

struct subjects_ctx {
    json_t *obj;
};

static void add_subject(void *ctx, const char *subject, size_t len, uint64_t count)
{
    struct subjects_ctx *c = ctx;
    char *key = g_strndup(subject, len);
    json_object_set_new(c->obj, key, json_integer((json_int_t)count));
    g_free(key);
}

json_t *mr_js_stream_state_json(struct mr_js_stream *st, const char *filter)
{
    struct mr_js_store_state ss;
    mr_js_store_state(st->store, &ss);
    char t[64];
    json_t *o = json_object();
    json_object_set_new(o, "messages", json_integer((json_int_t)ss.msgs));
    json_object_set_new(o, "bytes", json_integer((json_int_t)ss.bytes));
    /* A stream that never stored anything shows first_seq 0, as nats-server's does. */
    uint64_t first = ss.last_seq == 0 && ss.msgs == 0 ? 0 : ss.first_seq;
    json_object_set_new(o, "first_seq", json_integer((json_int_t)first));
    mr_js_time_format(ss.msgs > 0 ? ss.first_ts_ns : 0, t, sizeof(t));
    json_object_set_new(o, "first_ts", json_string(t));
    json_object_set_new(o, "last_seq", json_integer((json_int_t)ss.last_seq));
    mr_js_time_format(ss.last_ts_ns, t, sizeof(t));
    json_object_set_new(o, "last_ts", json_string(t));
    if (ss.num_deleted > 0) {
        json_object_set_new(o, "num_deleted", json_integer((json_int_t)ss.num_deleted));
    }
    if (ss.num_subjects > 0) {
        json_object_set_new(o, "num_subjects", json_integer((json_int_t)ss.num_subjects));
    }
    if (filter != NULL && filter[0] != '\0' && ss.msgs > 0) {
        struct subjects_ctx c = {json_object()};
        (void)mr_js_store_subjects(st->store, filter, strlen(filter), add_subject, &c);
        if (json_object_size(c.obj) > 0) {
            json_object_set_new(o, "subjects", c.obj);
        } else {
            json_decref(c.obj);
        }
    }
    json_object_set_new(o, "consumer_count", json_integer(0));
    return o;
}
