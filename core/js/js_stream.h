/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JetStream streams on one server: the stream configuration (nats-server 2.9's
 * StreamConfig: decoding, defaults, validation, JSON), and a stream's policies over its
 * message store (js_store.h): what a publish must pass before it is stored
 * (Nats-Expected-* headers, Nats-Msg-Id duplicates, max_msg_size, discard new), the
 * limits applied after it (max_msgs, max_bytes, max_msgs_per_subject, max_age, rollups),
 * purge, message get and delete, and the StreamInfo JSON.
 *
 * Retention interest and workqueue are stored here; the deletions they cause are
 * driven by consumers (js_consumer_api.c deletes acknowledged messages).
 *
 * No I/O of its own and no server knowledge: the owner (js_api.c) feeds it publishes and
 * requests and forwards the store's inputs. Errors are nats-server's API errors
 * (struct mr_js_err: HTTP-like code, err_code from errors.json, description).
 *
 * Ownership: a stream owns its configuration copy and its store; it borrows mem and env.
 */
#ifndef MR_JS_STREAM_H
#define MR_JS_STREAM_H

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/env.h"
#include "core/js/js_store.h"
#include "core/mem.h"

/* nats-server's JSMaxNameLen and JSMaxDescriptionLen. */
#define MR_JS_NAME_MAX 255
#define MR_JS_DESCRIPTION_MAX 4096
/* Subjects one stream may listen on (nats-server has no limit; this bounds the work of
 * the overlap checks, which are quadratic). */
#define MR_JS_STREAM_SUBJECTS_MAX 1024
/* Message ids remembered for duplicate detection per stream; the oldest is forgotten
 * first when a window holds more. */
#define MR_JS_DEDUP_MAX 1000000
#define MR_JS_DUPLICATE_WINDOW_DEFAULT_NS (120ULL * 1000000000ULL)
#define MR_JS_MIN_WINDOW_NS (100ULL * 1000000ULL) /* max_age and duplicate_window >= 100ms */
/* max_age: when the oldest message's body is being read, its age is judged again after
 * this long. */
#define MR_JS_EXPIRE_RETRY_NS (100ULL * 1000000ULL)

/* An API error as nats-server reports it. */
struct mr_js_err {
    int code;     /* 0 = no error */
    int err_code; /* 10xxx */
    char description[512];
};

/* Sets e and returns false, so a check can `return mr_js_err_set(...)`. */
bool mr_js_err_set(struct mr_js_err *e, int code, int err_code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* {"code":..,"err_code":..,"description":..} (new reference). */
json_t *mr_js_err_json(const struct mr_js_err *e);

enum mr_js_retention {
    MR_JS_RETENTION_LIMITS = 0,
    MR_JS_RETENTION_INTEREST = 1,
    MR_JS_RETENTION_WORKQUEUE = 2,
};

enum mr_js_discard {
    MR_JS_DISCARD_OLD = 0,
    MR_JS_DISCARD_NEW = 1,
};

struct mr_js_stream_cfg {
    char *name; /* owned (g_strdup), like every string here */
    char *description;
    char **subjects;
    size_t subjects_count;
    enum mr_js_retention retention;
    int64_t max_consumers;
    int64_t max_msgs;
    int64_t max_bytes;
    int64_t max_age_ns;
    int64_t max_msgs_per_subject;
    int64_t max_msg_size;
    enum mr_js_discard discard;
    bool discard_new_per_subject;
    enum mr_js_storage storage; /* 0 until defaulted */
    int64_t num_replicas;
    bool no_ack;
    int64_t duplicate_window_ns;
    bool sealed;
    bool deny_delete;
    bool deny_purge;
    bool allow_rollup_hdrs;
    bool allow_direct;
    bool mirror_direct;
    bool has_mirror;  /* mirror or sources given: refused for now */
    bool has_sources;
};

/* Decodes a StreamConfig request body into cfg (zeroed first; nothing defaulted). Bad
 * JSON or a field of the wrong type is nats-server's "invalid JSON" (10025). Unknown
 * fields are ignored, as nats-server ignores them. */
bool mr_js_stream_cfg_decode(const uint8_t *buf, size_t len, struct mr_js_stream_cfg *cfg,
                             struct mr_js_err *err);
/* The same from a parsed object (borrowed). */
bool mr_js_stream_cfg_from_json(json_t *obj, struct mr_js_stream_cfg *cfg, struct mr_js_err *err);
/* Fills defaults and checks cfg as nats-server's checkStreamCfg does (single server):
 * name rules, subjects (default [name]), limits, windows. dup_window_max_ns is the
 * server's jetstream.limits.duplicate_window (0 = none). */
bool mr_js_stream_cfg_check(struct mr_js_stream_cfg *cfg, uint64_t dup_window_max_ns,
                            struct mr_js_err *err);
/* Checks an update of old to cfg (both checked): what may not change. */
bool mr_js_stream_cfg_update_check(const struct mr_js_stream_cfg *old,
                                   const struct mr_js_stream_cfg *cfg, struct mr_js_err *err);
/* The configuration as nats-server 2.9 echoes it, fields in its order (new reference). */
json_t *mr_js_stream_cfg_json(const struct mr_js_stream_cfg *cfg);
bool mr_js_stream_cfg_equal(const struct mr_js_stream_cfg *a, const struct mr_js_stream_cfg *b);
void mr_js_stream_cfg_copy(struct mr_js_stream_cfg *dst, const struct mr_js_stream_cfg *src);
void mr_js_stream_cfg_free(struct mr_js_stream_cfg *cfg);
/* Field readers for API bodies: a missing or null field leaves *out as it is; a field
 * of the wrong type returns false. Strings are g_strdup'ed (the old value freed). An
 * enum is one of names, case-insensitive, its index stored. */
bool mr_js_json_int(json_t *o, const char *key, int64_t *out);
bool mr_js_json_bool(json_t *o, const char *key, bool *out);
bool mr_js_json_str(json_t *o, const char *key, char **out);
bool mr_js_json_enum(json_t *o, const char *key, const char *const *names, size_t n, int *out);
/* Fills out with len random characters from [0-9A-Za-z] (env's randomness) and a NUL:
 * nats-server's generated names, ids and flow control tokens. out holds len + 1. */
void mr_js_random_id(const struct mr_env *env, char *out, size_t len);
/* True for a valid stream or consumer name: 1..255 bytes, none of ' ', '\t', '.', '*',
 * '>', and printable. */
bool mr_js_name_valid(const char *name, size_t len);

/* The outcome of one publish into a stream: the PubAck. */
struct mr_js_pub_result {
    uint64_t seq; /* 0 with an error */
    bool duplicate;
    struct mr_js_err err;
};

struct mr_js_stream;

/* Creates a stream over a new store (store_cfg; cbs are the store's callbacks, passed
 * through). cfg must be checked; it is copied. created_ns is the wall time shown as
 * "created". Returns 0, or a negative mr_err with err set (10049). */
int mr_js_stream_create(struct mr_mem *mem, const struct mr_env *env,
                        const struct mr_js_stream_cfg *cfg, int64_t created_ns,
                        const struct mr_js_store_cfg *store_cfg,
                        const struct mr_js_store_cbs *cbs, struct mr_js_stream **out,
                        struct mr_js_err *err);
void mr_js_stream_destroy(struct mr_js_stream *st);
const struct mr_js_stream_cfg *mr_js_stream_cfg(const struct mr_js_stream *st);
struct mr_js_store *mr_js_stream_store(struct mr_js_stream *st);
int64_t mr_js_stream_created(const struct mr_js_stream *st);
/* Applies an update (checked with mr_js_stream_cfg_update_check); limits that shrank
 * take effect at once. */
void mr_js_stream_update(struct mr_js_stream *st, const struct mr_js_stream_cfg *cfg,
                         int64_t now_wall_ns);

/* Stores one published message (subject literal; hdr may be NULL) at wall time
 * now_wall_ns, applying the stream's checks and limits. */
void mr_js_stream_publish(struct mr_js_stream *st, const char *subject, size_t subject_len,
                          const uint8_t *hdr, size_t hdr_len, const uint8_t *data,
                          size_t data_len, int64_t now_wall_ns, struct mr_js_pub_result *res);
/* Asked twice per message, as nats-server checks resources: before storing (stored
 * false; after the header and size checks) and after it is stored and the stream's
 * limits applied (stored true). false (with err set) refuses the message; after
 * storing it is removed again, as nats-server does when an account goes over its
 * storage limit. */
typedef bool (*mr_js_stream_admit_fn)(void *ctx, enum mr_js_storage storage, bool stored,
                                      struct mr_js_err *err);
void mr_js_stream_set_admit(struct mr_js_stream *st, mr_js_stream_admit_fn fn, void *ctx);

/* Drops messages older than max_age and message ids older than the duplicate window.
 * Returns the wall time at which the next one is due, 0 when nothing is. */
int64_t mr_js_stream_expire(struct mr_js_stream *st, int64_t now_wall_ns);

/* After recovery: remembers the Nats-Msg-Id of stored messages still inside the
 * duplicate window (newest first, as far as their bodies are in memory), and the last
 * message's id, as nats-server rebuilds its dedupe state. */
void mr_js_stream_rebuild_dedup(struct mr_js_stream *st, int64_t now_wall_ns);

/* STREAM.PURGE: body is the request ("" or {"filter","seq","keep"}). */
bool mr_js_stream_purge(struct mr_js_stream *st, const uint8_t *body, size_t len,
                        uint64_t *purged, struct mr_js_err *err);
/* STREAM.MSG.DELETE: {"seq":n,"no_erase":bool}. */
bool mr_js_stream_msg_delete(struct mr_js_stream *st, const uint8_t *body, size_t len,
                             struct mr_js_err *err);
/* STREAM.MSG.GET and DIRECT.GET: {"seq"} | {"last_by_subj"} | {"next_by_subj","seq"}.
 * direct_subject (DIRECT.GET.<stream>.<subject>) replaces the body when not NULL.
 * Returns 0 with out loaded, MR_AGAIN (the store is reading: try again on its
 * on_ready), or a negative mr_err with err set (10003 bad request, 10037 no message). */
int mr_js_stream_msg_get(struct mr_js_stream *st, const uint8_t *body, size_t len,
                         const char *direct_subject, struct mr_js_msg *out, struct mr_js_err *err);

/* StreamInfo's "state" object; with subjects_filter (not NULL, not "") also "subjects". */
json_t *mr_js_stream_state_json(struct mr_js_stream *st, const char *subjects_filter);
/* nats-server's time format: RFC 3339 in UTC with nanoseconds, trailing zeros cut;
 * 0 gives "0001-01-01T00:00:00Z". */
void mr_js_time_format(int64_t wall_ns, char *out, size_t out_len);

/* Finds a header's value in a NATS header block ("NATS/1.0\r\nK: v\r\n\r\n"). The key
 * matches exactly; the value is trimmed. Returns false when absent. */
bool mr_js_header_get(const uint8_t *hdr, size_t hdr_len, const char *key, const uint8_t **val,
                      size_t *val_len);

#endif
