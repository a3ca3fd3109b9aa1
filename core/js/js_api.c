/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JetStream's API, streams on the server, persistence of stream configurations; see
 * js_api.h.
 *
 * Invariants:
 *  - Every stream is in its account's name tree and in the id table, with one internal
 *    subscription per configured subject.
 *  - Work items run in arrival order; an item runs only when nothing it may need is
 *    still opening or reading (recovery done, stores open).
 *  - A PubAck for a file stream is sent once the store acknowledged its sequence, in
 *    sequence order.
 */
#include "core/js/js_api.h"
#include "core/js/js_api_int.h"

#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/assert.h"
#include "core/conf/conf_server.h"
#include "core/err.h"
#include "core/js/js_stream.h"
#include "core/proto/decimal.h"
#include "core/proto/subject.h"
#include "core/server/account.h"
#include "core/server/server_int.h"

static void kick(struct mr_js *js);
static bool recover_step(struct mr_js *js, struct job *j, int64_t result, const uint8_t *data,
                         size_t len);
static void job_next(struct mr_js *js);

static uint64_t timer_of(uint64_t id)
{
    return (id << TIMER_KIND_BITS) | (uint64_t)TIMER_JS;
}

static bool file_streams(const struct mr_js *js)
{
    return js->opts != NULL && js->opts->store_dir != NULL && js->opts->store_dir[0] != '\0';
}

/* ---- replies ---- */

static void send_raw(struct mr_js *js, struct mr_account *acc, const char *reply,
                     const uint8_t *hdr, size_t hdr_len, const uint8_t *data, size_t data_len)
{
    mr_js_api_send(js, acc, reply, NULL, hdr, hdr_len, data, data_len);
}

void mr_js_api_send(struct mr_js *js, struct mr_account *acc, const char *subject,
                    const char *reply, const uint8_t *hdr, size_t hdr_len, const uint8_t *data,
                    size_t data_len)
{
    if (subject == NULL || subject[0] == '\0') {
        return;
    }
    uint8_t *buf = g_malloc(hdr_len + data_len + 1);
    if (hdr_len > 0) {
        memcpy(buf, hdr, hdr_len);
    }
    if (data_len > 0) {
        memcpy(buf + hdr_len, data, data_len);
    }
    struct mr_msg m = {
        .subject = {subject, (uint32_t)strlen(subject)},
        .reply = {reply, reply != NULL ? (uint32_t)strlen(reply) : 0},
        .hdr_len = (uint32_t)hdr_len,
        .size = (uint32_t)(hdr_len + data_len),
        .payload = buf,
    };
    (void)mr_server_route(js->srv, acc, NULL, &m, 0);
    g_free(buf);
}

static void send_json(struct mr_js *js, struct mr_account *acc, const char *reply, json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text != NULL) {
        send_raw(js, acc, reply, NULL, 0, (const uint8_t *)text, strlen(text));
        /* Kept for the API audit advisory of the request being answered. */
        g_free(js->last_response);
        js->last_response = g_strdup(text);
        free(text);
    }
}

/* ---- advisories ---- */

void mr_js_api_advise(struct mr_js *js, struct js_account *ja, const char *subject,
                      const char *type, json_t *fields)
{
    struct mr_account *acc = ja->acc;
    if (mr_sublist_has_interest(acc->sublist, subject, strlen(subject)) <= 0) {
        json_decref(fields); /* nobody listens: not even built */
        return;
    }
    const struct mr_env *env = js->srv->env;
    char id[23];
    mr_js_random_id(env, id, sizeof(id) - 1);
    char t[64];
    mr_js_time_format(env->wall_ns(env->ctx), t, sizeof(t));
    json_t *o = json_object();
    /* A full type (metrics: "io.nats.jetstream.metric.v1.…") is taken as it is. */
    char *full = g_str_has_prefix(type, "io.") ? g_strdup(type)
                                              : g_strdup_printf("io.nats.jetstream.advisory.v1.%s",
                                                                type);
    json_object_set_new(o, "type", json_string(full));
    g_free(full);
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "timestamp", json_string(t));
    json_object_update(o, fields);
    json_decref(fields);
    if (js->opts->domain != NULL && js->opts->domain[0] != '\0') {
        json_object_set_new(o, "domain", json_string(js->opts->domain));
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text != NULL) {
        send_raw(js, acc, subject, NULL, 0, (const uint8_t *)text, strlen(text));
        free(text);
    }
}

static void advise_stream(struct mr_js *js, struct js_account *ja, const char *what,
                          const char *name, const char *action)
{
    char *subject = g_strdup_printf("$JS.EVENT.ADVISORY.STREAM.%s.%s", what, name);
    mr_js_api_advise(js, ja, subject, "stream_action",
                     json_pack("{s:s,s:s}", "stream", name, "action", action));
    g_free(subject);
}

/* nats-server's api_audit: every answered request, with the answer. */
static void advise_audit(struct mr_js *js, struct js_account *ja, const struct work *w)
{
    const char *subject = "$JS.EVENT.ADVISORY.API";
    if (js->last_response == NULL ||
        mr_sublist_has_interest(ja->acc->sublist, subject, strlen(subject)) <= 0) {
        return;
    }
    const char *host = js->srv->opts.server_name[0] != '\0' ? js->srv->opts.server_name
                                                           : js->srv->server_id;
    json_t *f = json_object();
    json_object_set_new(f, "server", json_string(host));
    json_object_set_new(f, "client", json_pack("{s:s}", "acc", ja->acc->name));
    json_object_set_new(f, "subject", json_string(w->subject));
    size_t len = w->len - w->hdr_len;
    if (len > 0) {
        json_object_set_new(f, "request",
                            json_stringn((const char *)w->payload + w->hdr_len, len));
    }
    json_object_set_new(f, "response", json_string(js->last_response));
    mr_js_api_advise(js, ja, subject, "api_audit", f);
}

static json_t *response(const char *type)
{
    json_t *o = json_object();
    char t[160];
    (void)snprintf(t, sizeof(t), "io.nats.jetstream.api.v1.%s_response", type);
    json_object_set_new(o, "type", json_string(t));
    return o;
}

/* An error response, counted. extra: fields nats-server adds after the error. */
static void send_error(struct mr_js *js, struct js_account *ja, const char *reply,
                       const char *type, const struct mr_js_err *e, const char *extra)
{
    js->api_errors++;
    ja->api_errors++;
    json_t *o = response(type);
    json_object_set_new(o, "error", mr_js_err_json(e));
    if (extra != NULL && strcmp(extra, "paged") == 0) {
        json_object_set_new(o, "total", json_integer(0));
        json_object_set_new(o, "offset", json_integer(0));
        json_object_set_new(o, "limit", json_integer(0));
    } else if (extra != NULL && strcmp(extra, "purged") == 0) {
        json_object_set_new(o, "purged", json_integer(0));
    } else if (extra != NULL && strcmp(extra, "consumers") == 0) {
        json_object_set_new(o, "total", json_integer(0));
        json_object_set_new(o, "offset", json_integer(0));
        json_object_set_new(o, "limit", json_integer(0));
        json_object_set_new(o, "consumers", json_array());
    } else if (extra != NULL && strcmp(extra, "names") == 0) {
        json_object_set_new(o, "total", json_integer(0));
        json_object_set_new(o, "offset", json_integer(0));
        json_object_set_new(o, "limit", json_integer(0));
        json_object_set_new(o, "streams", json_null());
    }
    send_json(js, ja->acc, reply, o);
}

/* The stream name as a JSON string (quotes and escapes), made once per stream. */
static char *quoted_name(const char *name)
{
    json_t *j = json_string(name);
    char *q = json_dumps(j, JSON_ENCODE_ANY);
    json_decref(j);
    mr_assert(q != NULL);
    char *out = g_strdup(q);
    free(q);
    return out;
}

static void append_dec(GString *b, uint64_t v)
{
    char d[20];
    g_string_append_len(b, d, (gssize)mr_u64_to_dec(d, v));
}

/* The success PubAck as nats-server 2.9 writes it by hand, with its spaces. */
static size_t pub_ack_ok(const struct mr_js *js, const char *qname, size_t qlen,
                         const struct mr_js_pub_result *r, char *out, size_t cap)
{
    static const char dup[] = ",\"duplicate\": true";
    const char *domain = js->opts->domain;
    size_t dlen = domain != NULL ? strlen(domain) : 0;
    if (dlen > 0 || qlen + sizeof(dup) + 64 > cap) {
        return 0; /* rare: the GString path */
    }
    size_t n = 0;
    memcpy(out + n, "{\"stream\":", 10);
    n += 10;
    memcpy(out + n, qname, qlen);
    n += qlen;
    memcpy(out + n, ", \"seq\":", 8);
    n += 8;
    n += mr_u64_to_dec(out + n, r->seq);
    if (r->duplicate) {
        memcpy(out + n, dup, sizeof(dup) - 1);
        n += sizeof(dup) - 1;
    }
    out[n++] = '}';
    mr_assert(n <= cap);
    return n;
}

static void send_pub_ack(struct mr_js *js, struct js_stream *js_st, const char *reply,
                         const struct mr_js_pub_result *r)
{
    if (reply == NULL || reply[0] == '\0') {
        return;
    }
    struct mr_account *acc = js_st->ja->acc;
    size_t qlen = strlen(js_st->qname);
    char buf[256];
    size_t n = r->err.code == 0 ? pub_ack_ok(js, js_st->qname, qlen, r, buf, sizeof(buf)) : 0;
    if (n > 0) {
        send_raw(js, acc, reply, NULL, 0, (const uint8_t *)buf, n);
        return;
    }
    GString *b = g_string_new(NULL);
    if (r->err.code != 0) {
        json_t *e = mr_js_err_json(&r->err);
        char *et = json_dumps(e, JSON_COMPACT);
        json_decref(e);
        g_string_append_printf(b, "{\"error\":%s,\"stream\":%s,\"seq\":0}", et, js_st->qname);
        free(et);
    } else {
        g_string_append_printf(b, "{\"stream\":%s, \"domain\":\"%s\", \"seq\":", js_st->qname,
                               js->opts->domain);
        append_dec(b, r->seq);
        g_string_append(b, r->duplicate ? ",\"duplicate\": true}" : "}");
    }
    send_raw(js, acc, reply, NULL, 0, (const uint8_t *)b->str, b->len);
    g_string_free(b, TRUE);
}

/* ---- streams ---- */

static struct js_stream *stream_find(struct js_account *ja, const char *name)
{
    return g_tree_lookup(ja->streams, name);
}

static void on_stream_msg(void *ctx, struct mr_account *acc, const struct mr_msg *m);

static void stream_unsubscribe(struct js_stream *js_st)
{
    for (guint i = 0; i < js_st->isubs->len; i++) {
        mr_account_isub_remove(js_st->js->srv, g_ptr_array_index(js_st->isubs, i));
    }
    g_ptr_array_set_size(js_st->isubs, 0);
}

static bool stream_subscribe(struct js_stream *js_st)
{
    const struct mr_js_stream_cfg *cfg = mr_js_stream_cfg(js_st->st);
    for (size_t i = 0; i < cfg->subjects_count; i++) {
        struct mr_isub *is = mr_account_isub_add(js_st->js->srv, js_st->ja->acc, cfg->subjects[i],
                                                 on_stream_msg, js_st);
        if (is == NULL) {
            stream_unsubscribe(js_st);
            return false;
        }
        g_ptr_array_add(js_st->isubs, is);
    }
    return true;
}

static void acks_flush(struct js_stream *js_st, uint64_t upto, bool failed)
{
    while (!g_queue_is_empty(&js_st->acks)) {
        struct js_ack *a = g_queue_peek_head(&js_st->acks);
        if (!failed && a->seq > upto) {
            break;
        }
        g_queue_pop_head(&js_st->acks);
        struct mr_js_pub_result r = {.seq = a->seq};
        if (failed) {
            r.seq = 0;
            mr_js_err_set(&r.err, 503, 10077, "%s", mr_err_text(MR_E_IO));
        }
        send_pub_ack(js_st->js, js_st, a->reply, &r);
        g_free(a->reply);
        g_free(a);
    }
}

static void arm_expiry(struct js_stream *js_st, int64_t due);

static void store_on_open(void *ctx, int status)
{
    struct js_stream *js_st = ctx;
    js_st->opening = false;
    if (status != 0) {
        js_st->open_failed = true;
        mr_server_log(js_st->js->srv, MR_LOG_ERROR, "JetStream stream '%s > %s' did not open: %s",
                      js_st->ja->acc->name, mr_js_stream_cfg(js_st->st)->name,
                      mr_js_store_errmsg(mr_js_stream_store(js_st->st)));
    }
    if (status == 0) {
        /* Recovered messages may be old already: max_age applies from the start. */
        const struct mr_env *env = js_st->js->srv->env;
        mr_js_stream_rebuild_dedup(js_st->st, env->wall_ns(env->ctx));
        arm_expiry(js_st, mr_js_stream_expire(js_st->st, env->wall_ns(env->ctx)));
        /* Consumers recovered with the stream line up with what the store has. */
        mr_js_api_consumers_purged(js_st);
    }
    js_st->js->blocked = false;
    kick(js_st->js);
}

static void store_on_acked(void *ctx, uint64_t seq, int status)
{
    struct js_stream *js_st = ctx;
    acks_flush(js_st, seq, status != 0);
}

static void store_on_ready(void *ctx)
{
    struct js_stream *js_st = ctx;
    js_st->js->blocked = false;
    kick(js_st->js);
    mr_js_api_consumers_pump(js_st);
}

static void store_on_closed(void *ctx)
{
    (void)ctx;
}

static void stream_free(struct js_stream *js_st)
{
    mr_js_api_consumers_free(js_st, false);
    g_tree_destroy(js_st->consumers);
    stream_unsubscribe(js_st);
    g_ptr_array_free(js_st->isubs, TRUE);
    while (!g_queue_is_empty(&js_st->acks)) {
        struct js_ack *a = g_queue_pop_head(&js_st->acks);
        g_free(a->reply);
        g_free(a);
    }
    struct mr_env const *env = js_st->js->srv->env;
    env->timer_cancel(env->ctx, timer_of(2 * js_st->id));
    env->timer_cancel(env->ctx, timer_of(2 * js_st->id + 1));
    g_hash_table_remove(js_st->js->by_id, &js_st->id);
    mr_js_stream_destroy(js_st->st);
    g_free(js_st->qname);
    g_free(js_st);
}

static char *stream_dir(const struct js_account *ja, const char *name)
{
    return g_strdup_printf("%s/streams/%s", ja->acc->name, name);
}

/* Arms the stream's expiry timer for wall time due (0 = none). */
static void arm_expiry(struct js_stream *js_st, int64_t due)
{
    const struct mr_env *env = js_st->js->srv->env;
    if (due == js_st->expiry_due) {
        return;
    }
    js_st->expiry_due = due;
    if (due == 0) {
        env->timer_cancel(env->ctx, timer_of(2 * js_st->id));
        return;
    }
    int64_t wait = due - env->wall_ns(env->ctx);
    uint64_t delay = wait > 0 ? (uint64_t)wait : 0;
    env->timer_arm(env->ctx, timer_of(2 * js_st->id), env->now_ns(env->ctx) + delay);
}

static bool account_admits(void *ctx, enum mr_js_storage storage, bool stored,
                           struct mr_js_err *err);

static struct js_stream *stream_open(struct mr_js *js, struct js_account *ja,
                                     const struct mr_js_stream_cfg *cfg, int64_t created,
                                     struct mr_js_err *err)
{
    struct mr_server *s = js->srv;
    struct js_stream *js_st = g_new0(struct js_stream, 1);
    js_st->js = js;
    js_st->ja = ja;
    js_st->id = ++js->next_stream_id;
    js_st->isubs = g_ptr_array_new();
    js_st->consumers = g_tree_new((GCompareFunc)strcmp);
    g_queue_init(&js_st->acks);
    char *dir = NULL;
    struct mr_js_store_cfg sc = {.storage = cfg->storage};
    if (cfg->storage == MR_JS_STORAGE_FILE) {
        dir = g_strdup_printf("%s/streams/%s/msgs", ja->acc->name, cfg->name);
        sc.dir = dir;
        sc.sync = js->opts->sync_always ? MR_JS_SYNC_ALWAYS : MR_JS_SYNC_INTERVAL;
        sc.sync_interval_ns = js->opts->sync_interval_ns;
        sc.req_id_base = js_st->id << 32;
        sc.timer_id = timer_of(2 * js_st->id + 1);
        js_st->opening = true;
    }
    struct mr_js_store_cbs cbs = {
        .ctx = js_st,
        .on_open = store_on_open,
        .on_acked = store_on_acked,
        .on_ready = store_on_ready,
        .on_closed = store_on_closed,
    };
    int rc = mr_js_stream_create(&s->mem, s->env, cfg, created, &sc, &cbs, &js_st->st, err);
    g_free(dir);
    if (rc != 0) {
        g_ptr_array_free(js_st->isubs, TRUE);
        g_tree_destroy(js_st->consumers);
        g_free(js_st);
        return NULL;
    }
    mr_js_stream_set_admit(js_st->st, account_admits, js_st);
    js_st->qname = quoted_name(cfg->name);
    g_hash_table_insert(js->by_id, &js_st->id, js_st);
    if (!stream_subscribe(js_st)) {
        mr_js_err_set(err, 500, 10049, "%s", mr_err_text(MR_E_NOMEM));
        g_hash_table_remove(js->by_id, &js_st->id);
        mr_js_stream_destroy(js_st->st);
        g_ptr_array_free(js_st->isubs, TRUE);
        g_tree_destroy(js_st->consumers);
        g_free(js_st->qname);
        g_free(js_st);
        return NULL;
    }
    g_tree_insert(ja->streams, (gpointer)mr_js_stream_cfg(js_st->st)->name, js_st);
    return js_st;
}

/* ---- file jobs ---- */

struct job *mr_js_api_job_new(enum job_kind kind, struct js_account *ja, char *dir,
                              char *content)
{
    struct job *j = g_new0(struct job, 1);
    j->kind = kind;
    j->ja = ja;
    j->dir = dir;
    j->content = content;
    j->fh = -1;
    return j;
}

void mr_js_api_job_queue(struct mr_js *js, struct job *j)
{
    if (j->kind == JOB_RECOVER) {
        js->recovering++;
    }
    g_queue_push_tail(&js->jobs, j);
    /* Only a job alone on the queue starts here: one queued from inside a step of the
     * head job (its request done, the next not sent yet) waits for it. */
    if (js->job_req == 0 && g_queue_get_length(&js->jobs) == 1) {
        job_next(js);
    }
}

static void job_push(struct mr_js *js, enum job_kind kind, struct js_account *ja, char *dir,
                     char *content)
{
    mr_js_api_job_queue(js, mr_js_api_job_new(kind, ja, dir, content));
}

static void job_free(struct job *j)
{
    g_free(j->dir);
    g_free(j->content);
    g_free(j->stream);
    if (j->obs != NULL) {
        g_ptr_array_free(j->obs, TRUE);
    }
    if (j->names != NULL) {
        g_ptr_array_free(j->names, TRUE);
    }
    if (j->read != NULL) {
        g_string_free(j->read, TRUE);
    }
    g_free(j);
}

static uint64_t job_req(struct mr_js *js)
{
    js->next_req = js->next_req + 1 < JS_OWN_REQ_LIMIT ? js->next_req + 1 : 1;
    js->job_req = js->next_req;
    return js->job_req;
}

static void persist(struct mr_js *js, struct js_stream *js_st)
{
    const struct mr_js_stream_cfg *cfg = mr_js_stream_cfg(js_st->st);
    if (!file_streams(js) || cfg->storage != MR_JS_STORAGE_FILE) {
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "config", mr_js_stream_cfg_json(cfg));
    json_object_set_new(o, "created", json_integer(mr_js_stream_created(js_st->st)));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    struct job *j = mr_js_api_job_new(JOB_WRITE, js_st->ja, stream_dir(js_st->ja, cfg->name),
                                      g_strdup(text));
    j->sync = true;
    mr_js_api_job_queue(js, j);
    free(text);
}

/* Recovers one stream from its meta.json bytes. */
static void recover_stream(struct mr_js *js, struct job *j, const char *name)
{
    json_t *o = json_loadb(j->read->str, j->read->len, 0, NULL);
    struct mr_js_stream_cfg cfg;
    struct mr_js_err err = {0};
    json_t *created = o != NULL ? json_object_get(o, "created") : NULL;
    if (o == NULL || !mr_js_stream_cfg_from_json(json_object_get(o, "config"), &cfg, &err)) {
        mr_server_log(js->srv, MR_LOG_ERROR,
                      "JetStream: %s/%s/meta.json: not a stream configuration: skipped", j->dir,
                      name);
        json_decref(o);
        return;
    }
    if (!mr_js_stream_cfg_check(&cfg, js->opts->limits.duplicate_window_ns, &err) ||
        strcmp(cfg.name, name) != 0 || stream_find(j->ja, name) != NULL ||
        stream_open(js, j->ja, &cfg, json_integer_value(created), &err) == NULL) {
        mr_server_log(js->srv, MR_LOG_ERROR, "JetStream: %s/%s: not recovered: %s", j->dir, name,
                      err.description[0] != '\0' ? err.description : "name mismatch or in use");
    } else {
        mr_server_log(js->srv, MR_LOG_INFO, "Restored stream '%s > %s'", j->ja->acc->name, name);
    }
    mr_js_stream_cfg_free(&cfg);
    json_decref(o);
}

/* JOB_WRITE and JOB_WRITE_CONSUMER: <dir>/<file>.tmp written, synced, closed, renamed
 * over <dir>/<file>, so a crash leaves the old file or the new one. */
static bool write_step(struct mr_js *js, struct job *j, const char *file, int64_t result)
{
    const struct mr_env *env = js->srv->env;
    char path[MR_JS_DIR_MAX * 2];
    char to[MR_JS_DIR_MAX * 2];
    (void)snprintf(path, sizeof(path), "%s/%s.tmp", j->dir, file);
    (void)snprintf(to, sizeof(to), "%s/%s", j->dir, file);
    if (j->step > 0 && result < 0) {
        mr_server_log(js->srv, MR_LOG_ERROR, "JetStream: writing %s failed: %s", to,
                      mr_err_text((int)result));
        return false;
    }
    switch (j->step++) {
    case 0:
        env->file_open(env->ctx, job_req(js), path,
                       MR_FILE_WRITE | MR_FILE_CREATE | MR_FILE_TRUNCATE);
        return true;
    case 1:
        j->fh = result;
        env->file_write(env->ctx, job_req(js), j->fh, 0, (const uint8_t *)j->content,
                        strlen(j->content));
        return true;
    case 2:
        if (j->sync) {
            env->file_sync(env->ctx, job_req(js), j->fh);
            return true;
        }
        j->step++; /* no fsync asked for: close at once */
        /* fall through */
    case 3:
        env->file_close(env->ctx, job_req(js), j->fh);
        return true;
    case 4:
        env->file_rename(env->ctx, job_req(js), path, to);
        return true;
    default:
        return false;
    }
}

/* Runs the next step of the head job; result is the previous step's. */
static bool job_step(struct mr_js *js, struct job *j, int64_t result, const uint8_t *data,
                     size_t len)
{
    const struct mr_env *env = js->srv->env;
    char path[MR_JS_DIR_MAX * 2];
    switch (j->kind) {
    case JOB_WRITE_CONSUMER:
        if (j->step == 0) {
            j->content = mr_js_api_consumer_snapshot(js, j);
            if (j->content == NULL) {
                return false; /* deleted meanwhile */
            }
        }
        return write_step(js, j, "consumer.json", result);
    case JOB_WRITE:
        return write_step(js, j, "meta.json", result);
    case JOB_REMOVE_FILES:
        if (j->names == NULL || j->names->len == 0) {
            return false;
        }
        char *name = g_ptr_array_steal_index(j->names, 0);
        env->file_remove(env->ctx, job_req(js), name);
        g_free(name);
        return true;
    case JOB_REMOVE:
        /* list msgs/, remove each block, then msgs/, meta.json, the directory. */
        if (j->step == 0) {
            j->step = 1;
            (void)snprintf(path, sizeof(path), "%s/msgs", j->dir);
            env->file_list(env->ctx, job_req(js), path);
            return true;
        }
        if (j->step == 1) {
            j->step = 2;
            j->names = g_ptr_array_new_with_free_func(g_free);
            for (size_t i = 0; result >= 0 && data != NULL && i < len;) {
                size_t n = strnlen((const char *)data + i, len - i);
                g_ptr_array_add(j->names, g_strndup((const char *)data + i, n));
                i += n + 1;
            }
            g_ptr_array_add(j->names, g_strdup("")); /* msgs/ itself */
        }
        if (j->step == 2 && j->names->len > 0) {
            char *name = g_ptr_array_steal_index(j->names, 0);
            (void)snprintf(path, sizeof(path), "%s/msgs%s%s", j->dir, name[0] ? "/" : "", name);
            g_free(name);
            env->file_remove(env->ctx, job_req(js), path);
            return true;
        }
        if (j->step == 2) {
            j->step = 3;
            (void)snprintf(path, sizeof(path), "%s/meta.json", j->dir);
            env->file_remove(env->ctx, job_req(js), path);
            return true;
        }
        if (j->step == 3) {
            j->step = 4;
            env->file_remove(env->ctx, job_req(js), j->dir);
            return true;
        }
        return false;
    case JOB_RECOVER:
        return false; /* handled by recover_step */
    }
    return false;
}

static GPtrArray *names_of(int64_t result, const uint8_t *data, size_t len)
{
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; result >= 0 && data != NULL && i < len;) {
        size_t n = strnlen((const char *)data + i, len - i);
        g_ptr_array_add(names, g_strndup((const char *)data + i, n));
        i += n + 1;
    }
    return names;
}

/* JOB_RECOVER after a stream: its obs/<consumer>/consumer.json files, one by one
 * (steps 6..10), then back to the next stream (step 2). */
static bool recover_consumers_step(struct mr_js *js, struct job *j, int64_t result,
                                   const uint8_t *data, size_t len)
{
    const struct mr_env *env = js->srv->env;
    char path[MR_JS_DIR_MAX * 3];
    for (;;) {
        switch (j->step) {
        case 6:
            j->obs = names_of(result, data, len);
            j->step = 7;
            break;
        case 7:
            if (j->obs->len == 0) {
                g_ptr_array_free(j->obs, TRUE);
                j->obs = NULL;
                g_free(j->stream);
                j->stream = NULL;
                j->step = 2;
                return recover_step(js, j, 0, NULL, 0);
            }
            (void)snprintf(path, sizeof(path), "%s/%s/obs/%s/consumer.json", j->dir, j->stream,
                           (const char *)g_ptr_array_index(j->obs, 0));
            g_string_truncate(j->read, 0);
            j->step = 8;
            env->file_open(env->ctx, job_req(js), path, MR_FILE_READ);
            return true;
        case 8:
            if (result < 0) {
                g_ptr_array_remove_index(j->obs, 0);
                j->step = 7;
                break;
            }
            j->fh = result;
            j->step = 9;
            env->file_read(env->ctx, job_req(js), j->fh, 0, 16 * 1024 * 1024);
            return true;
        case 9:
            if (result > 0 && data != NULL) {
                g_string_append_len(j->read, (const char *)data, (gssize)len);
            }
            j->step = 10;
            env->file_close(env->ctx, job_req(js), j->fh);
            return true;
        case 10: {
            char *name = g_ptr_array_steal_index(j->obs, 0);
            struct js_stream *js_st = stream_find(j->ja, j->stream);
            if (js_st != NULL) {
                mr_js_api_consumer_recover(js_st, name, j->read->str, j->read->len);
            }
            g_free(name);
            j->step = 7;
            result = 0;
            break;
        }
        default:
            return false;
        }
    }
}

static bool recover_step(struct mr_js *js, struct job *j, int64_t result, const uint8_t *data,
                         size_t len)
{
    const struct mr_env *env = js->srv->env;
    char path[MR_JS_DIR_MAX * 2];
    for (;;) {
        switch (j->step) {
        case 0: /* list <account>/streams */
            j->step = 1;
            env->file_list(env->ctx, job_req(js), j->dir);
            return true;
        case 1:
            j->names = g_ptr_array_new_with_free_func(g_free);
            for (size_t i = 0; result >= 0 && data != NULL && i < len;) {
                size_t n = strnlen((const char *)data + i, len - i);
                g_ptr_array_add(j->names, g_strndup((const char *)data + i, n));
                i += n + 1;
            }
            j->step = 2;
            break;
        case 2: /* open the next stream's meta.json */
            if (j->names->len == 0) {
                return false;
            }
            (void)snprintf(path, sizeof(path), "%s/%s/meta.json", j->dir,
                           (const char *)g_ptr_array_index(j->names, 0));
            j->read = j->read != NULL ? g_string_truncate(j->read, 0) : g_string_new(NULL);
            j->step = 3;
            env->file_open(env->ctx, job_req(js), path, MR_FILE_READ);
            return true;
        case 3:
            if (result < 0) {
                g_ptr_array_remove_index(j->names, 0); /* no meta.json: not a stream */
                j->step = 2;
                break;
            }
            j->fh = result;
            j->step = 4;
            env->file_read(env->ctx, job_req(js), j->fh, 0, 1024 * 1024);
            return true;
        case 4:
            if (result > 0 && data != NULL) {
                g_string_append_len(j->read, (const char *)data, (gssize)len);
            }
            j->step = 5;
            env->file_close(env->ctx, job_req(js), j->fh);
            return true;
        case 5: {
            char *name = g_ptr_array_steal_index(j->names, 0);
            recover_stream(js, j, name);
            if (stream_find(j->ja, name) == NULL) {
                g_free(name);
                j->step = 2;
                break;
            }
            j->stream = name;
            j->step = 6;
            (void)snprintf(path, sizeof(path), "%s/%s/obs", j->dir, name);
            env->file_list(env->ctx, job_req(js), path);
            return true;
        }
        default:
            return recover_consumers_step(js, j, result, data, len);
        }
    }
}

static void job_next(struct mr_js *js)
{
    while (!g_queue_is_empty(&js->jobs)) {
        struct job *j = g_queue_peek_head(&js->jobs);
        bool more = j->kind == JOB_RECOVER ? recover_step(js, j, 0, NULL, 0)
                                           : job_step(js, j, 0, NULL, 0);
        if (more) {
            return;
        }
        js->job_req = 0;
        g_queue_pop_head(&js->jobs);
        if (j->kind == JOB_RECOVER) {
            js->recovering--;
            kick(js);
        }
        job_free(j);
    }
}

static void on_file_done(void *ctx, uint64_t req_id, int64_t result, const uint8_t *data,
                         size_t len)
{
    struct mr_js *js = ctx;
    if (req_id >= JS_OWN_REQ_LIMIT) {
        uint64_t id = req_id >> 32;
        struct js_stream *js_st = g_hash_table_lookup(js->by_id, &id);
        if (js_st != NULL) {
            mr_js_store_on_file_done(mr_js_stream_store(js_st->st), req_id, result, data, len);
        }
        return; /* a destroyed stream's request: nothing waits for it */
    }
    if (req_id != js->job_req || g_queue_is_empty(&js->jobs)) {
        return;
    }
    struct job *j = g_queue_peek_head(&js->jobs);
    js->job_req = 0;
    bool more = j->kind == JOB_RECOVER ? recover_step(js, j, result, data, len)
                                       : job_step(js, j, result, data, len);
    if (more) {
        return;
    }
    g_queue_pop_head(&js->jobs);
    if (j->kind == JOB_RECOVER) {
        js->recovering--;
        kick(js);
    }
    job_free(j);
    job_next(js);
}

/* ---- the API ---- */

static json_t *stream_info(struct js_stream *js_st, const char *type, const char *filter)
{
    json_t *o = type != NULL ? response(type) : json_object();
    if (type != NULL && strcmp(type, "stream_info") == 0) {
        json_object_set_new(o, "total", json_integer(0));
        json_object_set_new(o, "offset", json_integer(0));
        json_object_set_new(o, "limit", json_integer(0));
    }
    char t[64];
    json_object_set_new(o, "config", mr_js_stream_cfg_json(mr_js_stream_cfg(js_st->st)));
    mr_js_time_format(mr_js_stream_created(js_st->st), t, sizeof(t));
    json_object_set_new(o, "created", json_string(t));
    json_t *state = mr_js_stream_state_json(js_st->st, filter);
    json_object_set_new(state, "consumer_count", json_integer(g_tree_nnodes(js_st->consumers)));
    if (filter != NULL && filter[0] != '\0' && type != NULL) {
        json_t *subs = json_object_get(state, "subjects");
        size_t n = subs != NULL ? json_object_size(subs) : 0;
        json_object_set_new(o, "total", json_integer((json_int_t)n));
        json_object_set_new(o, "limit", json_integer(100000));
    }
    json_object_set_new(o, "state", state);
    const char *domain = js_st->js->opts->domain;
    if (domain != NULL && domain[0] != '\0') {
        json_object_set_new(o, "domain", json_string(domain));
    }
    return o;
}

struct collect_ctx {
    GPtrArray *out;
};

static gboolean collect_one(gpointer key, gpointer value, gpointer data)
{
    (void)key;
    struct collect_ctx *c = data;
    g_ptr_array_add(c->out, value);
    return FALSE;
}

/* The account's streams in name order (a borrowed view, freed by the caller). */
static GPtrArray *streams_of(struct js_account *ja)
{
    struct collect_ctx c = {g_ptr_array_new()};
    g_tree_foreach(ja->streams, collect_one, &c);
    return c.out;
}

static void usage(struct js_account *ja, uint64_t *memory, uint64_t *storage, uint64_t *msgs)
{
    *memory = 0;
    *storage = 0;
    if (msgs != NULL) {
        *msgs = 0;
    }
    GPtrArray *all = streams_of(ja);
    for (guint i = 0; i < all->len; i++) {
        struct js_stream *js_st = g_ptr_array_index(all, i);
        struct mr_js_store_state ss;
        mr_js_store_state(mr_js_stream_store(js_st->st), &ss);
        if (mr_js_stream_cfg(js_st->st)->storage == MR_JS_STORAGE_MEMORY) {
            *memory += ss.bytes;
        } else {
            *storage += ss.bytes;
        }
        if (msgs != NULL) {
            *msgs += ss.msgs;
        }
    }
    g_ptr_array_free(all, TRUE);
}

static int64_t limit_or(const struct js_account *ja, size_t off)
{
    if (ja->limits == NULL) {
        return -1;
    }
    return *(const int64_t *)((const char *)ja->limits + off);
}

/* ---- resource limits, as nats-server 2.9's checkBytesLimits and friends ---- */

/* One storage type's bytes in use and max_bytes reserved; skip: a stream whose
 * reservation is left out (the one being created or updated). */
struct usage_sum {
    enum mr_js_storage storage;
    const char *skip;
    uint64_t bytes;
    int64_t reserved;
};

static gboolean usage_sum_one(gpointer key, gpointer value, gpointer data)
{
    (void)key;
    const struct js_stream *js_st = value;
    struct usage_sum *u = data;
    const struct mr_js_stream_cfg *cfg = mr_js_stream_cfg(js_st->st);
    if (cfg->storage != u->storage) {
        return FALSE;
    }
    struct mr_js_store_state ss;
    mr_js_store_state(mr_js_stream_store(js_st->st), &ss);
    u->bytes += ss.bytes;
    if (cfg->max_bytes > 0 && (u->skip == NULL || strcmp(cfg->name, u->skip) != 0)) {
        u->reserved += cfg->max_bytes;
    }
    return FALSE;
}

static void usage_sum_server(const struct mr_js *js, struct usage_sum *u)
{
    for (guint i = 0; i < js->accounts->len; i++) {
        struct js_account *ja = g_ptr_array_index(js->accounts, i);
        if (ja->enabled) {
            g_tree_foreach(ja->streams, usage_sum_one, u);
        }
    }
}

/* The account's limit for a storage type; -1 = none. */
static int64_t account_max(const struct js_account *ja, enum mr_js_storage storage)
{
    if (ja->limits == NULL) {
        return -1;
    }
    return storage == MR_JS_STORAGE_MEMORY ? ja->limits->max_memory : ja->limits->max_store;
}

/* max_memory_store / max_file_store; -1 (not set) is no limit: Meridian does not
 * measure the machine as nats-server does. */
static int64_t server_max(const struct mr_js *js, enum mr_js_storage storage)
{
    return storage == MR_JS_STORAGE_MEMORY ? js->opts->max_memory_store
                                           : js->opts->max_file_store;
}

static bool resources_err(enum mr_js_storage storage, struct mr_js_err *err)
{
    if (storage == MR_JS_STORAGE_MEMORY) {
        return mr_js_err_set(err, 500, 10028, "insufficient memory resources available");
    }
    return mr_js_err_set(err, 500, 10047, "insufficient storage resources available");
}

/* nats-server refuses to start JetStream when the enabled accounts' limits of a storage
 * type, added up account by account (memory checked first), exceed the server's. */
static int accounts_fit_server(const struct mr_js *js, char *err, size_t err_len)
{
    static const enum mr_js_storage kinds[] = {MR_JS_STORAGE_MEMORY, MR_JS_STORAGE_FILE};
    int64_t total[2] = {0, 0};
    for (guint i = 0; i < js->accounts->len; i++) {
        const struct js_account *ja = g_ptr_array_index(js->accounts, i);
        for (size_t k = 0; ja->enabled && k < 2; k++) {
            int64_t acc_max = account_max(ja, kinds[k]);
            total[k] += acc_max > 0 ? acc_max : 0;
            int64_t srv_max = server_max(js, kinds[k]);
            if (srv_max < 0 || total[k] <= srv_max) {
                continue;
            }
            bool mem = kinds[k] == MR_JS_STORAGE_MEMORY;
            (void)snprintf(err, err_len,
                           "Can't start JetStream: Error enabling jetstream on configured "
                           "accounts: insufficient %s resources available (%d); account %s: "
                           "accounts' %s total %" PRId64 " > %s %" PRId64,
                           mem ? "memory" : "storage", mem ? 10028 : 10047, ja->acc->name,
                           mem ? "max_memory" : "max_store", total[k],
                           mem ? "max_memory_store" : "max_file_store", srv_max);
            return MR_E_LIMIT;
        }
    }
    return MR_OK;
}

/* add more bytes reserved on top of reserved_acc (the account's) and the server's. */
static bool bytes_fit(const struct mr_js *js, const struct js_account *ja,
                      enum mr_js_storage storage, int64_t add, int64_t reserved_acc,
                      struct mr_js_err *err)
{
    if (add < 0) {
        add = 1; /* an unlimited stream still needs room for one byte */
    }
    int64_t acc_max = account_max(ja, storage);
    if (acc_max >= 0 && reserved_acc + add > acc_max) {
        return resources_err(storage, err);
    }
    struct usage_sum srv = {.storage = storage};
    usage_sum_server(js, &srv);
    int64_t srv_max = server_max(js, storage);
    if (srv_max >= 0 && srv.reserved + add > srv_max) {
        return resources_err(storage, err);
    }
    return true;
}

/* A stream's max_consumers and max_bytes against the account and the server; old: the
 * configuration an update replaces (only the growth of max_bytes is new). */
static bool stream_fits(const struct mr_js *js, const struct js_account *ja,
                        const struct mr_js_stream_cfg *cfg, const struct mr_js_stream_cfg *old,
                        struct mr_js_err *err)
{
    int64_t max_consumers = ja->limits != NULL ? ja->limits->max_consumers : -1;
    if (cfg->max_consumers > 0 && max_consumers > 0 && cfg->max_consumers > max_consumers) {
        return mr_js_err_set(err, 400, 10026, "maximum consumers limit reached");
    }
    struct usage_sum acc = {.storage = cfg->storage, .skip = cfg->name};
    g_tree_foreach(ja->streams, usage_sum_one, &acc);
    int64_t add = cfg->max_bytes;
    if (old != NULL) {
        add = cfg->max_bytes > old->max_bytes ? cfg->max_bytes - old->max_bytes : 0;
        /* nats-server adds the old value as it is, -1 included. */
        acc.reserved += old->max_bytes;
    }
    return bytes_fit(js, ja, cfg->storage, add, acc.reserved, err);
}

/* checkStreamCfg's account checks: max_bytes_required and *_max_stream_bytes. */
static bool max_bytes_ok(const struct js_account *ja, const struct mr_js_stream_cfg *cfg,
                         struct mr_js_err *err)
{
    if (ja->limits == NULL) {
        return true;
    }
    int64_t max = cfg->storage == MR_JS_STORAGE_MEMORY ? ja->limits->memory_max_stream_bytes
                                                       : ja->limits->store_max_stream_bytes;
    if (ja->limits->max_bytes_required && cfg->max_bytes <= 0) {
        return mr_js_err_set(err, 400, 10113,
                             "account requires a stream config to have max bytes set");
    }
    if (max > 0 && cfg->max_bytes > max) {
        return mr_js_err_set(err, 400, 10122,
                             "stream max bytes exceeds account limit max stream bytes");
    }
    return true;
}

/* Before storing: the server already over max_*_store refuses every publish. */
static bool server_has_room(const struct mr_js *js, enum mr_js_storage storage,
                            struct mr_js_err *err)
{
    int64_t max = server_max(js, storage);
    if (max < 0) {
        return true;
    }
    struct usage_sum srv = {.storage = storage};
    usage_sum_server(js, &srv);
    if (srv.bytes > (uint64_t)max) {
        return mr_js_err_set(err, 503, 10023, "insufficient resources");
    }
    return true;
}

/* mr_js_stream_admit_fn: before storing, the server's room; after, the account's
 * usage including the message. */
static bool account_admits(void *ctx, enum mr_js_storage storage, bool stored,
                           struct mr_js_err *err)
{
    const struct js_stream *js_st = ctx;
    if (!stored) {
        return server_has_room(js_st->js, storage, err);
    }
    const struct js_account *ja = js_st->ja;
    int64_t max = account_max(ja, storage);
    int64_t stream_max = 0;
    if (ja->limits != NULL) {
        stream_max = storage == MR_JS_STORAGE_MEMORY ? ja->limits->memory_max_stream_bytes
                                                     : ja->limits->store_max_stream_bytes;
    }
    if (max < 0 && stream_max <= 0) {
        return true;
    }
    struct usage_sum acc = {.storage = storage};
    g_tree_foreach(ja->streams, usage_sum_one, &acc);
    /* nats-server compares the account's total with the per-stream limit too. */
    if ((stream_max > 0 && acc.bytes > (uint64_t)stream_max) ||
        (max >= 0 && acc.bytes > (uint64_t)max)) {
        return mr_js_err_set(err, 400, 10002, "resource limits exceeded for account");
    }
    return true;
}

static void api_info(struct mr_js *js, struct js_account *ja, const char *reply)
{
    uint64_t mem;
    uint64_t sto;
    usage(ja, &mem, &sto, NULL);
    json_t *o = response("account_info");
    json_object_set_new(o, "memory", json_integer((json_int_t)mem));
    json_object_set_new(o, "storage", json_integer((json_int_t)sto));
    json_object_set_new(o, "streams", json_integer(g_tree_nnodes(ja->streams)));
    json_object_set_new(o, "consumers", json_integer((json_int_t)mr_js_api_consumer_count(ja)));
    json_t *l = json_object();
    static const struct {
        const char *key;
        size_t off;
    } limits[] = {
        {"max_memory", offsetof(struct mr_account_jetstream_opts, max_memory)},
        {"max_storage", offsetof(struct mr_account_jetstream_opts, max_store)},
        {"max_streams", offsetof(struct mr_account_jetstream_opts, max_streams)},
        {"max_consumers", offsetof(struct mr_account_jetstream_opts, max_consumers)},
        {"max_ack_pending", offsetof(struct mr_account_jetstream_opts, max_ack_pending)},
        {"memory_max_stream_bytes",
         offsetof(struct mr_account_jetstream_opts, memory_max_stream_bytes)},
        {"storage_max_stream_bytes",
         offsetof(struct mr_account_jetstream_opts, store_max_stream_bytes)},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(limits); i++) {
        json_object_set_new(l, limits[i].key, json_integer(limit_or(ja, limits[i].off)));
    }
    json_object_set_new(l, "max_bytes_required",
                        json_boolean(ja->limits != NULL && ja->limits->max_bytes_required));
    json_object_set_new(o, "limits", l);
    if (js->opts->domain != NULL && js->opts->domain[0] != '\0') {
        json_object_set_new(o, "domain", json_string(js->opts->domain));
    }
    json_t *api = json_object();
    json_object_set_new(api, "total", json_integer((json_int_t)ja->api_total));
    json_object_set_new(api, "errors", json_integer((json_int_t)ja->api_errors));
    json_object_set_new(o, "api", api);
    send_json(js, ja->acc, reply, o);
}

/* Another stream of the account whose subjects overlap cfg's. */
static bool overlaps_other(struct js_account *ja, const struct mr_js_stream_cfg *cfg)
{
    GPtrArray *all = streams_of(ja);
    bool hit = false;
    for (guint i = 0; i < all->len && !hit; i++) {
        const struct mr_js_stream_cfg *o = mr_js_stream_cfg(
            ((struct js_stream *)g_ptr_array_index(all, i))->st);
        if (strcmp(o->name, cfg->name) == 0) {
            continue;
        }
        for (size_t a = 0; a < o->subjects_count && !hit; a++) {
            for (size_t b = 0; b < cfg->subjects_count && !hit; b++) {
                hit = mr_subject_intersects(o->subjects[a], strlen(o->subjects[a]),
                                            cfg->subjects[b], strlen(cfg->subjects[b]));
            }
        }
    }
    g_ptr_array_free(all, TRUE);
    return hit;
}

/* Decodes and checks a create/update body for stream name; false with err set. */
static bool request_cfg(struct mr_js *js, const struct js_account *ja, const struct work *w,
                        const char *name, struct mr_js_stream_cfg *cfg, struct mr_js_err *err)
{
    if (!mr_js_stream_cfg_decode(w->payload + w->hdr_len, w->len - w->hdr_len, cfg, err)) {
        return false;
    }
    if (cfg->name == NULL || strcmp(cfg->name, name) != 0) {
        mr_js_stream_cfg_free(cfg);
        return mr_js_err_set(err, 400, 10056, "stream name in subject does not match request");
    }
    if (!mr_js_stream_cfg_check(cfg, js->opts->limits.duplicate_window_ns, err) ||
        !max_bytes_ok(ja, cfg, err)) {
        mr_js_stream_cfg_free(cfg);
        return false;
    }
    return true;
}

static void api_create(struct mr_js *js, struct js_account *ja, const struct work *w,
                       const char *name)
{
    struct mr_js_stream_cfg cfg;
    struct mr_js_err err = {0};
    const char *type = "stream_create";
    if (!request_cfg(js, ja, w, name, &cfg, &err)) {
        send_error(js, ja, w->reply, type, &err, NULL);
        return;
    }
    /* nats-server counts streams before it looks for this one: at the limit, even the
     * same configuration again is refused. */
    int64_t max_streams = limit_or(ja, offsetof(struct mr_account_jetstream_opts, max_streams));
    if (max_streams > 0 && g_tree_nnodes(ja->streams) >= max_streams) {
        mr_js_err_set(&err, 400, 10027, "maximum number of streams reached");
        send_error(js, ja, w->reply, type, &err, NULL);
        mr_js_stream_cfg_free(&cfg);
        return;
    }
    struct js_stream *js_st = stream_find(ja, name);
    if (js_st != NULL) {
        if (mr_js_stream_cfg_equal(mr_js_stream_cfg(js_st->st), &cfg)) {
            json_t *o = stream_info(js_st, type, NULL);
            json_object_set_new(o, "did_create", json_true());
            send_json(js, ja->acc, w->reply, o);
        } else {
            mr_js_err_set(&err, 400, 10058,
                          "stream name already in use with a different configuration");
            send_error(js, ja, w->reply, type, &err, NULL);
        }
        mr_js_stream_cfg_free(&cfg);
        return;
    }
    if (cfg.sealed) {
        mr_js_err_set(&err, 500, 10052, "stream configuration for create can not be sealed");
    } else if (overlaps_other(ja, &cfg)) {
        mr_js_err_set(&err, 400, 10065, "subjects overlap with an existing stream");
    } else if (!stream_fits(js, ja, &cfg, NULL, &err)) {
        /* err set */
    } else if (cfg.storage == MR_JS_STORAGE_FILE && !file_streams(js)) {
        mr_js_err_set(&err, 500, 10049, "file storage needs a store_dir (jetstream { store_dir })");
    }
    struct mr_server *s = js->srv;
    if (err.code == 0) {
        js_st = stream_open(js, ja, &cfg, s->env->wall_ns(s->env->ctx), &err);
    }
    mr_js_stream_cfg_free(&cfg);
    if (err.code != 0 || js_st == NULL) {
        send_error(js, ja, w->reply, type, &err, NULL);
        return;
    }
    persist(js, js_st);
    json_t *o = stream_info(js_st, type, NULL);
    json_object_set_new(o, "did_create", json_true());
    send_json(js, ja->acc, w->reply, o);
    advise_stream(js, ja, "CREATED", name, "create");
}

static void api_update(struct mr_js *js, struct js_account *ja, const struct work *w,
                       const char *name)
{
    struct mr_js_stream_cfg cfg;
    struct mr_js_err err = {0};
    const char *type = "stream_update";
    if (!request_cfg(js, ja, w, name, &cfg, &err)) {
        send_error(js, ja, w->reply, type, &err, NULL);
        return;
    }
    struct js_stream *js_st = stream_find(ja, name);
    if (js_st == NULL) {
        mr_js_err_set(&err, 404, 10059, "stream not found");
    } else if (mr_js_stream_cfg_update_check(mr_js_stream_cfg(js_st->st), &cfg, &err) &&
               overlaps_other(ja, &cfg)) {
        mr_js_err_set(&err, 400, 10065, "subjects overlap with an existing stream");
    } else if (err.code == 0) {
        (void)stream_fits(js, ja, &cfg, mr_js_stream_cfg(js_st->st), &err); /* sets err */
    }
    if (err.code != 0) {
        mr_js_stream_cfg_free(&cfg);
        send_error(js, ja, w->reply, type, &err, NULL);
        return;
    }
    const struct mr_env *env = js->srv->env;
    stream_unsubscribe(js_st);
    /* The tree's key is the configuration's name, which the update replaces. */
    g_tree_steal(ja->streams, name);
    mr_js_stream_update(js_st->st, &cfg, env->wall_ns(env->ctx));
    mr_js_stream_cfg_free(&cfg);
    g_tree_insert(ja->streams, (gpointer)mr_js_stream_cfg(js_st->st)->name, js_st);
    if (!stream_subscribe(js_st)) {
        mr_server_log(js->srv, MR_LOG_WARN, "JetStream: stream %s lost its subjects: %s", name,
                      mr_err_text(MR_E_NOMEM));
    }
    persist(js, js_st);
    send_json(js, ja->acc, w->reply, stream_info(js_st, type, NULL));
    advise_stream(js, ja, "UPDATED", name, "modify");
}

/* {"offset":n,"subject":"filter"} of NAMES and LIST; false on bad JSON. */
static bool list_request(const struct work *w, int64_t *offset, char **subject)
{
    *offset = 0;
    *subject = NULL;
    size_t len = w->len - w->hdr_len;
    if (len == 0) {
        return true;
    }
    json_t *o = json_loadb((const char *)w->payload + w->hdr_len, len, 0, NULL);
    if (o == NULL || !json_is_object(o)) {
        json_decref(o);
        return false;
    }
    json_t *off = json_object_get(o, "offset");
    json_t *sub = json_object_get(o, "subject");
    bool ok = (off == NULL || json_is_integer(off) || json_is_null(off)) &&
              (sub == NULL || json_is_string(sub) || json_is_null(sub));
    if (ok && json_is_integer(off) && json_integer_value(off) > 0) {
        *offset = json_integer_value(off);
    }
    if (ok && json_is_string(sub) && json_string_length(sub) > 0) {
        *subject = g_strdup(json_string_value(sub));
    }
    json_decref(o);
    return ok;
}

static bool stream_matches(struct js_stream *js_st, const char *filter)
{
    if (filter == NULL) {
        return true;
    }
    const struct mr_js_stream_cfg *c = mr_js_stream_cfg(js_st->st);
    for (size_t i = 0; i < c->subjects_count; i++) {
        if (mr_subject_intersects(c->subjects[i], strlen(c->subjects[i]), filter,
                                  strlen(filter))) {
            return true;
        }
    }
    return false;
}

static void api_list(struct mr_js *js, struct js_account *ja, const struct work *w, bool names)
{
    const char *type = names ? "stream_names" : "stream_list";
    int64_t offset;
    char *filter;
    if (!list_request(w, &offset, &filter)) {
        struct mr_js_err err;
        mr_js_err_set(&err, 400, 10025, "invalid JSON");
        send_error(js, ja, w->reply, type, &err, "names");
        return;
    }
    int64_t limit = names ? 1024 : 256;
    GPtrArray *all = streams_of(ja);
    json_t *arr = json_array();
    int64_t total = 0;
    for (guint i = 0; i < all->len; i++) {
        struct js_stream *js_st = g_ptr_array_index(all, i);
        if (!stream_matches(js_st, filter)) {
            continue;
        }
        if (total >= offset && total < offset + limit) {
            if (names) {
                json_array_append_new(arr, json_string(mr_js_stream_cfg(js_st->st)->name));
            } else {
                json_array_append_new(arr, stream_info(js_st, NULL, NULL));
            }
        }
        total++;
    }
    g_ptr_array_free(all, TRUE);
    g_free(filter);
    json_t *o = response(type);
    json_object_set_new(o, "total", json_integer(total));
    json_object_set_new(o, "offset", json_integer(offset));
    json_object_set_new(o, "limit", json_integer(limit));
    json_object_set_new(o, "streams", arr);
    send_json(js, ja->acc, w->reply, o);
}

/* STREAM.INFO's optional body {"subjects_filter":...}. */
static void api_info_stream(struct mr_js *js, struct js_account *ja, const struct work *w,
                            struct js_stream *js_st)
{
    size_t len = w->len - w->hdr_len;
    char *filter = NULL;
    if (len > 0) {
        json_t *o = json_loadb((const char *)w->payload + w->hdr_len, len, 0, NULL);
        json_t *f = json_is_object(o) ? json_object_get(o, "subjects_filter") : NULL;
        bool bad_filter = f != NULL && !json_is_string(f) && !json_is_null(f);
        if (o == NULL || !json_is_object(o) || bad_filter) {
            json_decref(o);
            struct mr_js_err err;
            mr_js_err_set(&err, 400, 10025, "invalid JSON");
            send_error(js, ja, w->reply, "stream_info", &err, "paged");
            return;
        }
        if (json_is_string(f)) {
            filter = g_strdup(json_string_value(f));
        }
        json_decref(o);
    }
    send_json(js, ja->acc, w->reply, stream_info(js_st, "stream_info", filter));
    g_free(filter);
}

/* DIRECT.GET's answer: the message with Nats-Stream/-Subject/-Sequence/-Time-Stamp
 * after its own headers, or a status message. */
static void send_direct(struct mr_js *js, struct js_account *ja, const char *reply,
                        const char *stream, const struct mr_js_msg *m, const char *status)
{
    GString *h = g_string_new("NATS/1.0");
    if (status != NULL) {
        g_string_append_printf(h, " %s\r\n\r\n", status);
        send_raw(js, ja->acc, reply, (const uint8_t *)h->str, h->len, NULL, 0);
        g_string_free(h, TRUE);
        return;
    }
    g_string_append(h, "\r\n");
    if (m->hdr != NULL && m->hdr_len > 12) {
        /* Keep the message's header lines, without its status line and final CRLF. */
        const char *p = (const char *)m->hdr;
        const char *end = p + m->hdr_len;
        const char *nl = g_strstr_len(p, (gssize)m->hdr_len, "\r\n");
        if (nl != NULL && end - (nl + 2) >= 2) {
            g_string_append_len(h, nl + 2, end - (nl + 2) - 2);
        }
    }
    char t[64];
    mr_js_time_format(m->ts_ns, t, sizeof(t));
    g_string_append_printf(h, "Nats-Stream: %s\r\nNats-Subject: %.*s\r\nNats-Sequence: %llu\r\n"
                              "Nats-Time-Stamp: %s\r\n\r\n",
                           stream, (int)m->subject_len, m->subject, (unsigned long long)m->seq, t);
    send_raw(js, ja->acc, reply, (const uint8_t *)h->str, h->len, m->data, m->data_len);
    g_string_free(h, TRUE);
}

/* MSG.GET and DIRECT.GET. Returns false when the store must read first (retry). */
static bool api_get(struct mr_js *js, struct js_account *ja, const struct work *w,
                    struct js_stream *js_st, bool direct, const char *direct_subject)
{
    const char *name = mr_js_stream_cfg(js_st->st)->name;
    size_t len = w->len - w->hdr_len;
    const uint8_t *body = w->payload + w->hdr_len;
    if (direct && direct_subject == NULL) {
        json_t *o = len > 0 ? json_loadb((const char *)body, len, 0, NULL) : NULL;
        bool ok = json_is_object(o);
        json_decref(o);
        if (!ok) {
            send_direct(js, ja, w->reply, name, NULL,
                        len == 0 ? "408 Empty Request" : "408 Malformed Request");
            return true;
        }
    }
    struct mr_js_msg m;
    struct mr_js_err err = {0};
    int rc = mr_js_stream_msg_get(js_st->st, body, len, direct_subject, &m, &err);
    if (rc == MR_AGAIN) {
        return false;
    }
    if (direct) {
        if (rc != 0) {
            send_direct(js, ja, w->reply, name, NULL,
                        err.err_code == 10037 ? "404 Message Not Found" : "408 Bad Request");
        } else {
            send_direct(js, ja, w->reply, name, &m, NULL);
        }
        return true;
    }
    if (rc != 0) {
        send_error(js, ja, w->reply, "stream_msg_get", &err, NULL);
        return true;
    }
    json_t *o = response("stream_msg_get");
    json_t *msg = json_object();
    json_object_set_new(msg, "subject", json_stringn(m.subject, m.subject_len));
    json_object_set_new(msg, "seq", json_integer((json_int_t)m.seq));
    if (m.hdr != NULL && m.hdr_len > 0) {
        gchar *h = g_base64_encode(m.hdr, m.hdr_len);
        json_object_set_new(msg, "hdrs", json_string(h));
        g_free(h);
    }
    if (m.data_len > 0) {
        gchar *d = g_base64_encode(m.data, m.data_len);
        json_object_set_new(msg, "data", json_string(d));
        g_free(d);
    }
    char t[64];
    mr_js_time_format(m.ts_ns, t, sizeof(t));
    json_object_set_new(msg, "time", json_string(t));
    json_object_set_new(o, "message", msg);
    send_json(js, ja->acc, w->reply, o);
    return true;
}

static void api_delete(struct mr_js *js, struct js_account *ja, const struct work *w,
                       struct js_stream *js_st)
{
    const struct mr_js_stream_cfg *cfg = mr_js_stream_cfg(js_st->st);
    bool file = cfg->storage == MR_JS_STORAGE_FILE && file_streams(js);
    char *dir = stream_dir(ja, cfg->name);
    char *r_stream = g_strdup(cfg->name);
    mr_js_api_consumers_free(js_st, file);
    g_tree_remove(ja->streams, cfg->name);
    stream_free(js_st);
    if (file) {
        job_push(js, JOB_REMOVE, ja, dir, NULL);
    } else {
        g_free(dir);
    }
    json_t *o = response("stream_delete");
    json_object_set_new(o, "success", json_true());
    send_json(js, ja->acc, w->reply, o);
    advise_stream(js, ja, "DELETED", r_stream, "delete");
    g_free(r_stream);
}

enum api_op {
    OP_INFO = 1,
    OP_NAMES,
    OP_LIST,
    OP_CREATE,
    OP_UPDATE,
    OP_STREAM_INFO,
    OP_DELETE,
    OP_PURGE,
    OP_MSG_GET,
    OP_MSG_DELETE,
    OP_DIRECT,
    OP_CONSUMER,
    OP_STEPDOWN,
};


/* The subjects served, after "$JS.API.". A trailing '.' takes one more token, the
 * stream (DIRECT.GET also takes an optional subject after it). */
static const struct {
    const char *subject;
    enum api_op op;
    const char *type;
    const char *extra;
} api_table[] = {
    {"INFO", OP_INFO, "account_info", NULL},
    {"STREAM.NAMES", OP_NAMES, "stream_names", "names"},
    {"STREAM.LIST", OP_LIST, "stream_list", "names"},
    {"STREAM.CREATE.", OP_CREATE, "stream_create", NULL},
    {"STREAM.UPDATE.", OP_UPDATE, "stream_update", NULL},
    {"STREAM.INFO.", OP_STREAM_INFO, "stream_info", "paged"},
    {"STREAM.DELETE.", OP_DELETE, "stream_delete", NULL},
    {"STREAM.PURGE.", OP_PURGE, "stream_purge", "purged"},
    {"STREAM.MSG.GET.", OP_MSG_GET, "stream_msg_get", NULL},
    {"STREAM.MSG.DELETE.", OP_MSG_DELETE, "stream_msg_delete", NULL},
    {"DIRECT.GET.", OP_DIRECT, "direct_get", NULL},
    {"CONSUMER.", OP_CONSUMER, "consumer", NULL},
    {"STREAM.LEADER.STEPDOWN.", OP_STEPDOWN, "stream_leader_stepdown", NULL},
};

/* Parses subject ("$JS.API.…"); false for a subject nats-server does not serve (no
 * answer then). */
static bool api_parse(const char *subject, struct api_req *r)
{
    memset(r, 0, sizeof(*r));
    const char *p = subject + strlen(JS_API_PREFIX);
    for (size_t i = 0; i < G_N_ELEMENTS(api_table); i++) {
        const char *t = api_table[i].subject;
        size_t tl = strlen(t);
        bool named = t[tl - 1] == '.';
        if (named ? strncmp(p, t, tl) != 0 : strcmp(p, t) != 0) {
            continue;
        }
        r->op = api_table[i].op;
        r->extra = api_table[i].extra;
        (void)snprintf(r->type, sizeof(r->type), "%s", api_table[i].type);
        if (!named) {
            return true;
        }
        const char *name = p + tl;
        const char *dot = strchr(name, '.');
        if (r->op == OP_CONSUMER) {
            r->rest = name;
            /* consumer_create, consumer_info, ...; DURABLE.CREATE is a create. */
            size_t n = dot != NULL ? (size_t)(dot - name) : strlen(name);
            char *op = g_ascii_strdown(n == 7 && strncmp(name, "DURABLE", 7) == 0 ? "create"
                                                                                 : name, -1);
            (void)snprintf(r->type, sizeof(r->type), "consumer_%.*s", (int)(n < 40 ? n : 40),
                           op);
            g_free(op);
            return true;
        }
        if (dot != NULL && r->op != OP_DIRECT) {
            return false; /* nats-server's subscription takes one token */
        }
        r->stream = dot != NULL ? g_strndup(name, (gsize)(dot - name)) : g_strdup(name);
        r->direct_subject = dot != NULL ? dot + 1 : NULL;
        return true;
    }
    return false;
}

static void api_purge(struct mr_js *js, struct js_account *ja, const struct work *w,
                      struct js_stream *js_st, const struct api_req *r)
{
    struct mr_js_err err = {0};
    uint64_t purged;
    if (!mr_js_stream_purge(js_st->st, w->payload + w->hdr_len, w->len - w->hdr_len, &purged,
                            &err)) {
        send_error(js, ja, w->reply, r->type, &err, r->extra);
        return;
    }
    mr_js_api_consumers_purged(js_st);
    json_t *o = response(r->type);
    json_object_set_new(o, "success", json_true());
    json_object_set_new(o, "purged", json_integer((json_int_t)purged));
    send_json(js, ja->acc, w->reply, o);
}

static void api_msg_delete(struct mr_js *js, struct js_account *ja, const struct work *w,
                           struct js_stream *js_st, const struct api_req *r)
{
    struct mr_js_err err = {0};
    if (!mr_js_stream_msg_delete(js_st->st, w->payload + w->hdr_len, w->len - w->hdr_len,
                                 &err)) {
        send_error(js, ja, w->reply, r->type, &err, NULL);
        return;
    }
    json_t *o = response(r->type);
    json_object_set_new(o, "success", json_true());
    send_json(js, ja->acc, w->reply, o);
}

/* A request on one stream. Returns false when it must wait for the store. */
static bool api_stream_op(struct mr_js *js, struct js_account *ja, const struct work *w,
                          const struct api_req *r)
{
    struct js_stream *js_st = stream_find(ja, r->stream);
    if (r->op == OP_DIRECT) {
        /* Only streams with allow_direct answer; nats-server has no subscription for
         * the others, so the request gets no answer. */
        if (js_st == NULL || !mr_js_stream_cfg(js_st->st)->allow_direct) {
            return true;
        }
        return api_get(js, ja, w, js_st, true, r->direct_subject);
    }
    if (js_st == NULL) {
        struct mr_js_err err;
        mr_js_err_set(&err, 404, 10059, "stream not found");
        send_error(js, ja, w->reply, r->type, &err, r->extra);
        return true;
    }
    switch (r->op) {
    case OP_STREAM_INFO:
        api_info_stream(js, ja, w, js_st);
        return true;
    case OP_DELETE:
        api_delete(js, ja, w, js_st);
        return true;
    case OP_PURGE:
        api_purge(js, ja, w, js_st, r);
        return true;
    case OP_MSG_GET:
        return api_get(js, ja, w, js_st, false, NULL);
    case OP_MSG_DELETE:
        api_msg_delete(js, ja, w, js_st, r);
        return true;
    default:
        mr_assert(!"not a stream request");
        return true;
    }
}

/* Runs one API request; false when it must wait for the store (run again later). */
static bool api_run(struct mr_js *js, struct js_account *ja, const struct work *w)
{
    g_free(js->last_response);
    js->last_response = NULL;
    struct api_req r;
    if (!api_parse(w->subject, &r)) {
        return true; /* nats-server has no such subject: no answer */
    }
    struct mr_js_err err = {0};
    bool done = true;
    if (!ja->enabled) {
        /* Answered in the type of the request that was made, as nats-server does;
         * DIRECT.GET answers raw messages only, so it says nothing. */
        if (r.op != OP_DIRECT) {
            mr_js_err_set(&err, 503, 10039, "JetStream not enabled for account");
            send_error(js, ja, w->reply, r.type, &err, r.extra);
        }
        g_free(r.stream);
        return true;
    }
    switch (r.op) {
    case OP_INFO:
        api_info(js, ja, w->reply);
        break;
    case OP_NAMES:
    case OP_LIST:
        api_list(js, ja, w, r.op == OP_NAMES);
        break;
    case OP_CREATE:
        api_create(js, ja, w, r.stream);
        break;
    case OP_UPDATE:
        api_update(js, ja, w, r.stream);
        break;
    case OP_CONSUMER:
        mr_js_api_consumer_request(js, ja, w, &r);
        break;
    case OP_STEPDOWN:
        /* One server has no leaders to change: nats-server's answer without a cluster. */
        mr_js_err_set(&err, 503, 10010, "JetStream clustering support required");
        send_error(js, ja, w->reply, r.type, &err, NULL);
        break;
    default:
        done = api_stream_op(js, ja, w, &r);
        break;
    }
    /* Counted once answered, as nats-server's account info shows. */
    if (done) {
        advise_audit(js, ja, w);
        js->api_total++;
        ja->api_total++;
    }
    g_free(r.stream);
    return done;
}

/* ---- publishes into streams ---- */

static void pub_run(struct mr_js *js, struct js_account *ja, const struct work *w)
{
    /* The stream whose subjects match (at most one: subjects never overlap). */
    GPtrArray *all = streams_of(ja);
    struct js_stream *js_st = NULL;
    for (guint i = 0; i < all->len && js_st == NULL; i++) {
        struct js_stream *c = g_ptr_array_index(all, i);
        const struct mr_js_stream_cfg *cfg = mr_js_stream_cfg(c->st);
        for (size_t k = 0; k < cfg->subjects_count; k++) {
            if (mr_subject_matches(cfg->subjects[k], strlen(cfg->subjects[k]), w->subject,
                                   strlen(w->subject))) {
                js_st = c;
                break;
            }
        }
    }
    g_ptr_array_free(all, TRUE);
    if (js_st == NULL) {
        return; /* deleted meanwhile */
    }
    const struct mr_env *env = js->srv->env;
    struct mr_js_pub_result r;
    memset(&r, 0, sizeof(r));
    if (js_st->open_failed) {
        mr_js_err_set(&r.err, 503, 10077, "%s", mr_js_store_errmsg(mr_js_stream_store(js_st->st)));
        send_pub_ack(js, js_st, w->reply, &r);
        return;
    }
    int64_t now = env->wall_ns(env->ctx);
    mr_js_stream_publish(js_st->st, w->subject, strlen(w->subject), w->payload, w->hdr_len,
                         w->payload + w->hdr_len, w->len - w->hdr_len, now, &r);
    arm_expiry(js_st, mr_js_stream_expire(js_st->st, now));
    if (r.err.code == 0 && !r.duplicate) {
        mr_js_api_retention_on_publish(js_st, r.seq, w->subject);
        mr_js_api_consumers_pump(js_st);
    }
    if (mr_js_stream_cfg(js_st->st)->no_ack && r.err.code == 0) {
        return;
    }
    uint64_t acked = mr_js_store_acked_seq(mr_js_stream_store(js_st->st));
    if (r.err.code == 0 && !r.duplicate && r.seq > acked && w->reply != NULL) {
        struct js_ack *a = g_new0(struct js_ack, 1);
        a->seq = r.seq;
        a->reply = g_strdup(w->reply);
        g_queue_push_tail(&js_st->acks, a);
        return;
    }
    send_pub_ack(js, js_st, w->reply, &r);
}

/* ---- the FIFO ---- */

static void work_free(struct work *w)
{
    g_free(w); /* subject, reply and payload live in the same block */
}

static void kick(struct mr_js *js)
{
    if (js->kick_armed) {
        return;
    }
    js->kick_armed = true;
    const struct mr_env *env = js->srv->env;
    env->timer_arm(env->ctx, timer_of(0), env->now_ns(env->ctx));
}

static bool any_opening(struct mr_js *js)
{
    GHashTableIter it;
    gpointer v;
    bool opening = false;
    /* Lookup only: the answer does not depend on the order. */
    g_hash_table_iter_init(&it, js->by_id);
    while (!opening && g_hash_table_iter_next(&it, NULL, &v)) {
        opening = ((struct js_stream *)v)->opening;
    }
    return opening;
}

static void run_work(struct mr_js *js)
{
    uint32_t budget = MR_OPS_PER_READ_MAX;
    while (!g_queue_is_empty(&js->work) && js->recovering == 0 && !any_opening(js)) {
        if (budget-- == 0) {
            kick(js); /* the rest next turn: other inputs get their share */
            return;
        }
        struct work *w = g_queue_peek_head(&js->work);
        bool done = true;
        if (w->kind == WORK_API) {
            done = api_run(js, w->ja, w);
        } else if (w->kind == WORK_PUB) {
            pub_run(js, w->ja, w);
        } else if (w->ja->enabled) {
            mr_js_api_consumer_ack(js, w->ja, w);
        }
        if (!done) {
            js->blocked = true; /* on_ready kicks again */
            return;
        }
        g_queue_pop_head(&js->work);
        uint64_t bytes = w->len + strlen(w->subject) + (w->reply != NULL ? strlen(w->reply) : 0);
        mr_assert(js->work_bytes >= bytes);
        js->work_bytes -= bytes;
        if (g_queue_is_empty(&js->work)) {
            js->work_dropping = false;
        }
        work_free(w);
    }
}

static void enqueue(struct mr_js *js, struct js_account *ja, enum work_kind kind,
                    const struct mr_msg *m)
{
    uint64_t bytes = (uint64_t)m->size + m->subject.len + m->reply.len;
    if (g_queue_get_length(&js->work) >= JS_WORK_MAX ||
        js->work_bytes + bytes > JS_WORK_BYTES_MAX) {
        if (!js->work_dropping) {
            js->work_dropping = true;
            mr_server_log(js->srv, MR_LOG_WARN,
                          "JetStream: %u requests (%llu bytes) waiting: dropping, first "
                          "\"%.*s\"",
                          g_queue_get_length(&js->work), (unsigned long long)js->work_bytes,
                          (int)m->subject.len, m->subject.ptr);
        }
        return;
    }
    js->work_bytes += bytes;
    /* One allocation per item (this runs for every stored publish): the subject, reply
     * and payload follow the struct. */
    size_t extra = (size_t)m->subject.len + 1 + (m->reply.len > 0 ? m->reply.len + 1 : 0);
    struct work *w = g_malloc0(sizeof(*w) + extra + m->size);
    char *tail = (char *)(w + 1);
    w->kind = kind;
    w->ja = ja;
    w->subject = tail;
    memcpy(w->subject, m->subject.ptr, m->subject.len);
    tail += m->subject.len + 1;
    if (m->reply.len > 0) {
        w->reply = tail;
        memcpy(w->reply, m->reply.ptr, m->reply.len);
        tail += m->reply.len + 1;
    }
    w->payload = (uint8_t *)tail;
    if (m->size > 0) {
        memcpy(w->payload, m->payload, m->size);
    }
    w->hdr_len = m->hdr_len;
    w->len = m->size;
    g_queue_push_tail(&js->work, w);
    if (!js->blocked) {
        kick(js);
    }
}

static void on_api_msg(void *ctx, struct mr_account *acc, const struct mr_msg *m)
{
    struct js_account *ja = ctx;
    mr_assert(ja->acc == acc);
    enqueue(ja->js, ja, WORK_API, m);
}

/* With a domain, nats-server maps $JS.<domain>.API.> onto $JS.API.> in every account so
 * clients can name the domain explicitly (nats.js jetstream({domain})): the request is
 * served as if sent on $JS.API.<rest>, answered on its own reply subject. */
static void on_domain_api_msg(void *ctx, struct mr_account *acc, const struct mr_msg *m)
{
    struct js_account *ja = ctx;
    mr_assert(ja->acc == acc);
    size_t skip = strlen("$JS.") + strlen(ja->js->opts->domain) + strlen(".API.");
    if (m->subject.len <= skip) {
        return; /* "$JS.<domain>.API" alone: no token to serve */
    }
    GString *subject = g_string_new(JS_API_PREFIX);
    g_string_append_len(subject, m->subject.ptr + skip, (gssize)(m->subject.len - skip));
    struct mr_msg mapped = *m;
    mapped.subject.ptr = subject->str;
    mapped.subject.len = subject->len;
    enqueue(ja->js, ja, WORK_API, &mapped);
    g_string_free(subject, TRUE);
}

static void on_ack_msg(void *ctx, struct mr_account *acc, const struct mr_msg *m)
{
    struct js_account *ja = ctx;
    mr_assert(ja->acc == acc);
    enqueue(ja->js, ja, WORK_ACK, m);
}

static void on_fc_msg(void *ctx, struct mr_account *acc, const struct mr_msg *m)
{
    struct js_account *ja = ctx;
    mr_assert(ja->acc == acc);
    enqueue(ja->js, ja, WORK_FC, m);
}

static void on_stream_msg(void *ctx, struct mr_account *acc, const struct mr_msg *m)
{
    struct js_stream *js_st = ctx;
    (void)acc;
    enqueue(js_st->js, js_st->ja, WORK_PUB, m);
}

/* ---- lifecycle ---- */

static const struct mr_account_jetstream_opts *account_limits(const struct mr_server *s,
                                                              const char *name)
{
    for (size_t i = 0; i < s->opts.account_jetstream_count; i++) {
        if (strcmp(s->opts.account_jetstream[i].account, name) == 0) {
            return &s->opts.account_jetstream[i];
        }
    }
    return NULL;
}

static bool account_has_js(const struct mr_server *s, const struct mr_account *acc)
{
    const struct mr_auth_opts *a = s->opts.auth;
    bool configured = a != NULL && a->accounts_count > 0;
    if (!configured) {
        /* No accounts: the global account has JetStream (nats-server). */
        return acc == s->global;
    }
    return acc->opts != NULL && acc->opts->jetstream;
}

int mr_js_api_create(struct mr_server *s, struct mr_js **out, char *err, size_t err_len)
{
    mr_assert(s->opts.jetstream != NULL && s->opts.jetstream->enabled);
    struct mr_js *js = g_new0(struct mr_js, 1);
    js->srv = s;
    js->opts = s->opts.jetstream;
    js->accounts = g_ptr_array_new();
    js->by_id = g_hash_table_new(g_int64_hash, g_int64_equal);
    js->consumers_by_id = g_hash_table_new(g_int64_hash, g_int64_equal);
    g_queue_init(&js->work);
    g_queue_init(&js->jobs);
    *out = js;
    for (struct mr_account *acc = s->accounts_head; acc != NULL; acc = acc->next) {
        if (acc == s->system) {
            continue;
        }
        struct js_account *ja = g_new0(struct js_account, 1);
        ja->js = js;
        ja->acc = acc;
        ja->enabled = account_has_js(s, acc);
        ja->limits = account_limits(s, acc->name);
        ja->streams = g_tree_new((GCompareFunc)strcmp);
        g_ptr_array_add(js->accounts, ja);
        ja->api_sub = mr_account_isub_add(s, acc, JS_API_PREFIX ">", on_api_msg, ja);
        if (js->opts->domain != NULL && js->opts->domain[0] != '\0') {
            char *domain_api = g_strdup_printf("$JS.%s.API.>", js->opts->domain);
            ja->domain_sub = mr_account_isub_add(s, acc, domain_api, on_domain_api_msg, ja);
            g_free(domain_api);
            if (ja->domain_sub == NULL) {
                (void)snprintf(err, err_len, "JetStream: %s", mr_err_text(MR_E_NOMEM));
                return MR_E_NOMEM;
            }
        }
        ja->ack_sub = mr_account_isub_add(s, acc, "$JS.ACK.>", on_ack_msg, ja);
        ja->fc_sub = mr_account_isub_add(s, acc, "$JS.FC.>", on_fc_msg, ja);
        if (ja->api_sub == NULL || ja->ack_sub == NULL || ja->fc_sub == NULL) {
            (void)snprintf(err, err_len, "JetStream: %s", mr_err_text(MR_E_NOMEM));
            return MR_E_NOMEM;
        }
    }
    int rc = accounts_fit_server(js, err, err_len);
    if (rc != MR_OK) {
        return rc;
    }
    s->file_done_hook = on_file_done;
    s->file_done_ctx = js;
    for (guint i = 0; file_streams(js) && i < js->accounts->len; i++) {
        struct js_account *ja = g_ptr_array_index(js->accounts, i);
        if (ja->enabled) {
            job_push(js, JOB_RECOVER, ja, g_strdup_printf("%s/streams", ja->acc->name), NULL);
        }
    }
    return MR_OK;
}

void mr_js_api_shutdown(struct mr_js *js)
{
    if (js == NULL) {
        return;
    }
    for (guint i = 0; i < js->accounts->len; i++) {
        GPtrArray *all = streams_of(g_ptr_array_index(js->accounts, i));
        for (guint k = 0; k < all->len; k++) {
            struct js_stream *js_st = g_ptr_array_index(all, k);
            if (mr_js_stream_cfg(js_st->st)->storage == MR_JS_STORAGE_FILE && !js_st->opening) {
                (void)mr_js_store_close(mr_js_stream_store(js_st->st)); /* best effort */
            }
        }
        g_ptr_array_free(all, TRUE);
    }
}

void mr_js_api_destroy(struct mr_js *js)
{
    if (js == NULL) {
        return;
    }
    struct mr_server *s = js->srv;
    const struct mr_env *env = s->env;
    env->timer_cancel(env->ctx, timer_of(0));
    if (s->file_done_hook == on_file_done) {
        s->file_done_hook = NULL;
        s->file_done_ctx = NULL;
    }
    for (guint i = 0; i < js->accounts->len; i++) {
        struct js_account *ja = g_ptr_array_index(js->accounts, i);
        GPtrArray *all = streams_of(ja);
        g_tree_destroy(ja->streams);
        for (guint k = 0; k < all->len; k++) {
            stream_free(g_ptr_array_index(all, k));
        }
        g_ptr_array_free(all, TRUE);
        struct mr_isub *subs[] = {ja->api_sub, ja->ack_sub, ja->fc_sub, ja->domain_sub};
        for (size_t k = 0; k < G_N_ELEMENTS(subs); k++) {
            if (subs[k] != NULL) {
                mr_account_isub_remove(s, subs[k]);
            }
        }
        g_free(ja);
    }
    g_ptr_array_free(js->accounts, TRUE);
    g_hash_table_destroy(js->by_id);
    g_hash_table_destroy(js->consumers_by_id);
    g_free(js->last_response);
    while (!g_queue_is_empty(&js->work)) {
        work_free(g_queue_pop_head(&js->work));
    }
    while (!g_queue_is_empty(&js->jobs)) {
        job_free(g_queue_pop_head(&js->jobs));
    }
    g_free(js);
}

void mr_js_api_on_timer(struct mr_js *js, uint64_t id)
{
    if (id == 0) {
        js->kick_armed = false;
        run_work(js);
        return;
    }
    if (id & JS_CONSUMER_TIMER) {
        mr_js_api_consumer_on_timer(js, id & ~JS_CONSUMER_TIMER);
        return;
    }
    uint64_t sid = id / 2;
    struct js_stream *js_st = g_hash_table_lookup(js->by_id, &sid);
    if (js_st == NULL) {
        return;
    }
    if (id % 2 == 1) {
        mr_js_store_on_timer(mr_js_stream_store(js_st->st));
        return;
    }
    js_st->expiry_due = 0;
    const struct mr_env *env = js->srv->env;
    arm_expiry(js_st, mr_js_stream_expire(js_st->st, env->wall_ns(env->ctx)));
}

bool mr_js_api_account_enabled(const struct mr_js *js, const char *account)
{
    for (guint i = 0; js != NULL && i < js->accounts->len; i++) {
        const struct js_account *ja = g_ptr_array_index(js->accounts, i);
        if (strcmp(ja->acc->name, account) == 0) {
            return ja->enabled;
        }
    }
    return false;
}

static json_t *api_counts(uint64_t total, uint64_t errors)
{
    json_t *api = json_object();
    json_object_set_new(api, "total", json_integer((json_int_t)total));
    json_object_set_new(api, "errors", json_integer((json_int_t)errors));
    return api;
}

/* /jsz stream_detail of one account, in name order. */
static json_t *jsz_streams(struct mr_js *js, struct js_account *ja, bool config)
{
    json_t *sd = json_array();
    GPtrArray *all = streams_of(ja);
    for (guint k = 0; k < all->len; k++) {
        struct js_stream *js_st = g_ptr_array_index(all, k);
        const struct mr_js_stream_cfg *cfg = mr_js_stream_cfg(js_st->st);
        json_t *d = json_object();
        char t[64];
        json_object_set_new(d, "name", json_string(cfg->name));
        mr_js_time_format(mr_js_stream_created(js_st->st), t, sizeof(t));
        json_object_set_new(d, "created", json_string(t));
        json_t *cl = json_object();
        json_object_set_new(cl, "leader", json_string(js->srv->server_id));
        json_object_set_new(d, "cluster", cl);
        if (config) {
            json_object_set_new(d, "config", mr_js_stream_cfg_json(cfg));
        }
        json_t *state = mr_js_stream_state_json(js_st->st, NULL);
        json_object_set_new(state, "consumer_count", json_integer(g_tree_nnodes(js_st->consumers)));
        json_object_set_new(d, "state", state);
        json_array_append_new(sd, d);
    }
    g_ptr_array_free(all, TRUE);
    return sd;
}

/* /jsz account_details entry. */
static json_t *jsz_account(struct mr_js *js, struct js_account *ja, uint64_t mem, uint64_t sto,
                           bool streams, bool config)
{
    json_t *a = json_object();
    json_object_set_new(a, "name", json_string(ja->acc->name));
    json_object_set_new(a, "id", json_string(ja->acc->name));
    json_object_set_new(a, "memory", json_integer((json_int_t)mem));
    json_object_set_new(a, "storage", json_integer((json_int_t)sto));
    /* nats-server shows the account's limits here (unsigned: -1 becomes 2^64-1, which
     * JSON integers here cannot hold; 0 stands for no limit). */
    int64_t rm = account_max(ja, MR_JS_STORAGE_MEMORY);
    int64_t rs = account_max(ja, MR_JS_STORAGE_FILE);
    json_object_set_new(a, "reserved_memory", json_integer(rm > 0 ? rm : 0));
    json_object_set_new(a, "reserved_storage", json_integer(rs > 0 ? rs : 0));
    json_object_set_new(a, "accounts", json_integer(0));
    json_object_set_new(a, "ha_assets", json_integer(0));
    json_object_set_new(a, "api", api_counts(ja->api_total, ja->api_errors));
    if (streams) {
        json_object_set_new(a, "stream_detail", jsz_streams(js, ja, config));
    }
    return a;
}

static json_t *jsz_config(const struct mr_jetstream_opts *o)
{
    json_t *cfg = json_object();
    json_object_set_new(cfg, "max_memory", json_integer(o->max_memory_store));
    json_object_set_new(cfg, "max_storage", json_integer(o->max_file_store));
    if (o->store_dir != NULL) {
        char *dir = g_build_filename(o->store_dir, "jetstream", NULL);
        json_object_set_new(cfg, "store_dir", json_string(dir));
        g_free(dir);
    }
    if (o->domain != NULL) {
        json_object_set_new(cfg, "domain", json_string(o->domain));
    }
    return cfg;
}

json_t *mr_js_api_jsz(struct mr_js *js, bool accounts, bool streams, bool config)
{
    uint64_t mem = 0;
    uint64_t sto = 0;
    uint64_t msgs = 0;
    uint64_t nstreams = 0;
    uint64_t consumers = 0;
    uint64_t naccounts = 0;
    json_t *details = json_array();
    for (guint i = 0; i < js->accounts->len; i++) {
        struct js_account *ja = g_ptr_array_index(js->accounts, i);
        if (!ja->enabled) {
            continue;
        }
        uint64_t m;
        uint64_t st;
        uint64_t n;
        usage(ja, &m, &st, &n);
        mem += m;
        sto += st;
        msgs += n;
        naccounts++;
        nstreams += (uint64_t)g_tree_nnodes(ja->streams);
        consumers += mr_js_api_consumer_count(ja);
        if (accounts || streams) {
            json_array_append_new(details, jsz_account(js, ja, m, st, streams, config));
        }
    }
    json_t *j = json_object();
    json_object_set_new(j, "config", jsz_config(js->opts));
    json_object_set_new(j, "memory", json_integer((json_int_t)mem));
    json_object_set_new(j, "storage", json_integer((json_int_t)sto));
    struct usage_sum rm = {.storage = MR_JS_STORAGE_MEMORY};
    struct usage_sum rs = {.storage = MR_JS_STORAGE_FILE};
    usage_sum_server(js, &rm);
    usage_sum_server(js, &rs);
    json_object_set_new(j, "reserved_memory", json_integer(rm.reserved));
    json_object_set_new(j, "reserved_storage", json_integer(rs.reserved));
    json_object_set_new(j, "accounts", json_integer((json_int_t)naccounts));
    json_object_set_new(j, "ha_assets", json_integer(0));
    json_object_set_new(j, "api", api_counts(js->api_total, js->api_errors));
    json_object_set_new(j, "streams", json_integer((json_int_t)nstreams));
    json_object_set_new(j, "consumers", json_integer((json_int_t)consumers));
    json_object_set_new(j, "messages", json_integer((json_int_t)msgs));
    json_object_set_new(j, "bytes", json_integer((json_int_t)(mem + sto)));
    if (accounts || streams) {
        json_object_set_new(j, "account_details", details);
    } else {
        json_decref(details);
    }
    return j;
}

void mr_js_api_check(const struct mr_js *js)
{
    guint total = 0;
    for (guint i = 0; i < js->accounts->len; i++) {
        const struct js_account *ja = g_ptr_array_index(js->accounts, i);
        mr_assert(ja->js == js);
        total += (guint)g_tree_nnodes(ja->streams);
    }
    mr_assert(g_hash_table_size(js->by_id) == total);
    mr_js_api_consumers_check(js);
    mr_assert(g_queue_get_length((GQueue *)&js->work) <= JS_WORK_MAX);
    if (g_queue_is_empty((GQueue *)&js->work)) {
        mr_assert(js->work_bytes == 0);
    }
}

/* ---- shared with js_consumer_api.c (js_api_int.h) ---- */

uint64_t mr_js_api_timer(uint64_t id)
{
    return timer_of(id);
}

bool mr_js_api_file_streams(const struct mr_js *js)
{
    return file_streams(js);
}

void mr_js_api_send_json(struct mr_js *js, struct mr_account *acc, const char *reply, json_t *o)
{
    send_json(js, acc, reply, o);
}

json_t *mr_js_api_response(const char *type)
{
    return response(type);
}

void mr_js_api_send_error(struct mr_js *js, struct js_account *ja, const char *reply,
                          const char *type, const struct mr_js_err *e, const char *extra)
{
    send_error(js, ja, reply, type, e, extra);
}

struct js_stream *mr_js_api_stream_find(struct js_account *ja, const char *name)
{
    return stream_find(ja, name);
}
