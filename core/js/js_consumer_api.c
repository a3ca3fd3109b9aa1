/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The consumer side of JetStream's API on the server: $JS.API.CONSUMER.* requests
 * (CREATE in its three subject forms, DURABLE.CREATE, INFO, NAMES, LIST, DELETE,
 * MSG.NEXT), acks on $JS.ACK.> and flow control replies on $JS.FC.>, each consumer's
 * timer, retention (interest and workqueue streams drop what every interested consumer
 * acknowledged), and durables saved under their stream's obs/ directory
 * (<account>/streams/<stream>/obs/<consumer>/consumer.json: configuration, creation
 * time and delivery state, rewritten whole through a temporary file after changes).
 *
 * Invariants: every consumer is in its stream's name tree and in the id table once;
 * a consumer is destroyed before its stream.
 */
#include <stdio.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/conf/conf_server.h"
#include "core/js/js_api_int.h"
#include "core/proto/subject.h"

/* Page sizes of CONSUMER.NAMES and CONSUMER.LIST (nats-server's JSApiNamesLimit and
 * JSApiListLimit). */
#define NAMES_LIMIT 1024
#define LIST_LIMIT 256
/* Generated ephemeral names: nats-server's are 8 characters too. */
#define EPHEMERAL_NAME_LEN 8

/* ---- the consumer's io ---- */

static struct mr_js *js_of(const struct js_consumer *jc)
{
    return jc->js_st->js;
}

static void io_send(void *ctx, const char *subject, const char *reply, const uint8_t *hdr,
                    size_t hdr_len, const uint8_t *data, size_t data_len)
{
    struct js_consumer *jc = ctx;
    mr_js_api_send(js_of(jc), jc->js_st->ja->acc, subject, reply, hdr, hdr_len, data, data_len);
}

static bool io_interest(void *ctx, const char *subject)
{
    struct js_consumer *jc = ctx;
    struct mr_account *acc = jc->js_st->ja->acc;
    return mr_sublist_has_interest(acc->sublist, subject, strlen(subject)) > 0;
}

static void io_arm(void *ctx, uint64_t deadline_ns)
{
    struct js_consumer *jc = ctx;
    const struct mr_env *env = js_of(jc)->srv->env;
    uint64_t id = mr_js_api_timer(JS_CONSUMER_TIMER | jc->id);
    if (deadline_ns == 0) {
        env->timer_cancel(env->ctx, id);
    } else {
        env->timer_arm(env->ctx, id, deadline_ns);
    }
}

static gboolean collect_one(gpointer key, gpointer value, gpointer data)
{
    (void)key;
    g_ptr_array_add(data, value);
    return FALSE;
}

/* The stream's consumers in name order (a view: free the array only). */
static GPtrArray *consumers_of(struct js_stream *js_st)
{
    GPtrArray *all = g_ptr_array_new();
    g_tree_foreach(js_st->consumers, collect_one, all);
    return all;
}

/* Whether some consumer of the stream still has to acknowledge seq. */
static bool still_wanted(struct js_stream *js_st, uint64_t seq)
{
    GPtrArray *all = consumers_of(js_st);
    bool filtered = false;
    for (guint i = 0; i < all->len && !filtered; i++) {
        struct js_consumer *o = g_ptr_array_index(all, i);
        filtered = mr_js_consumer_cfg(o->c)->filter_subject != NULL;
    }
    char *subject = g_strdup("");
    if (filtered) {
        /* Whether a filtered consumer takes it depends on its subject. */
        struct mr_js_msg m;
        int rc = mr_js_store_load(mr_js_stream_store(js_st->st), seq, &m);
        if (rc != 0) {
            /* Gone already, or its block is not in memory: kept then (a later ack or
             * the limits remove it). */
            g_ptr_array_free(all, TRUE);
            g_free(subject);
            return rc != MR_E_NOT_FOUND;
        }
        g_free(subject);
        subject = g_strndup(m.subject, m.subject_len);
    }
    bool wanted = false;
    for (guint i = 0; i < all->len && !wanted; i++) {
        struct js_consumer *o = g_ptr_array_index(all, i);
        wanted = mr_js_consumer_needs_ack(o->c, seq, subject);
    }
    g_ptr_array_free(all, TRUE);
    g_free(subject);
    return wanted;
}

/* nats-server's ackMsg: workqueue streams drop an acknowledged message, interest
 * streams once no consumer still needs it. */
static void io_acked(void *ctx, uint64_t seq)
{
    struct js_consumer *jc = ctx;
    struct js_stream *js_st = jc->js_st;
    enum mr_js_retention rp = mr_js_stream_cfg(js_st->st)->retention;
    if (rp == MR_JS_RETENTION_LIMITS) {
        return;
    }
    if (rp == MR_JS_RETENTION_INTEREST && still_wanted(js_st, seq)) {
        return;
    }
    (void)mr_js_store_delete(mr_js_stream_store(js_st->st), seq, false); /* may be gone */
}

static uint64_t flush_timer(const struct js_consumer *jc)
{
    return mr_js_api_timer(JS_CONSUMER_TIMER | JS_CONSUMER_FLUSH | jc->id);
}

static void write_state(struct js_consumer *jc)
{
    jc->write_queued = true;
    struct job *j = mr_js_api_job_new(JOB_WRITE_CONSUMER, jc->js_st->ja, NULL, NULL);
    j->consumer_id = jc->id;
    mr_js_api_job_queue(js_of(jc), j);
}

/* The state changed: written now the first time, else at most every
 * JS_CONSUMER_FLUSH_NS (the write takes the state as it is then). */
static void io_dirty(void *ctx)
{
    struct js_consumer *jc = ctx;
    if (!jc->saved || jc->write_queued || jc->flush_armed) {
        return;
    }
    if (!jc->written) {
        write_state(jc);
        return;
    }
    const struct mr_env *env = js_of(jc)->srv->env;
    jc->flush_armed = true;
    env->timer_arm(env->ctx, flush_timer(jc), env->now_ns(env->ctx) + JS_CONSUMER_FLUSH_NS);
}

static void io_advise(void *ctx, const char *kind, const char *type, json_t *fields)
{
    struct js_consumer *jc = ctx;
    char *subject = g_strdup_printf("$JS.EVENT.ADVISORY.CONSUMER.%s.%s.%s", kind,
                                    mr_js_stream_cfg(jc->js_st->st)->name,
                                    mr_js_consumer_name(jc->c));
    mr_js_api_advise(js_of(jc), jc->js_st->ja, subject, type, fields);
    g_free(subject);
}

static void io_metric(void *ctx, json_t *fields)
{
    struct js_consumer *jc = ctx;
    char *subject = g_strdup_printf("$JS.EVENT.METRIC.CONSUMER.ACK.%s.%s",
                                    mr_js_stream_cfg(jc->js_st->st)->name,
                                    mr_js_consumer_name(jc->c));
    mr_js_api_advise(js_of(jc), jc->js_st->ja, subject,
                     "io.nats.jetstream.metric.v1.consumer_ack", fields);
    g_free(subject);
}

/* consumer_action: CREATED / DELETED. */
static void advise_action(struct js_consumer *jc, const char *kind, const char *action)
{
    json_t *f = json_pack("{s:s,s:s,s:s}", "stream", mr_js_stream_cfg(jc->js_st->st)->name,
                          "consumer", mr_js_consumer_name(jc->c), "action", action);
    char *subject = g_strdup_printf("$JS.EVENT.ADVISORY.CONSUMER.%s.%s.%s", kind,
                                    mr_js_stream_cfg(jc->js_st->st)->name,
                                    mr_js_consumer_name(jc->c));
    mr_js_api_advise(js_of(jc), jc->js_st->ja, subject, "consumer_action", f);
    g_free(subject);
}

static char *consumer_dir(const struct js_consumer *jc)
{
    return g_strdup_printf("%s/streams/%s/obs/%s", jc->js_st->ja->acc->name,
                           mr_js_stream_cfg(jc->js_st->st)->name, mr_js_consumer_name(jc->c));
}

char *mr_js_api_consumer_snapshot(struct mr_js *js, struct job *j)
{
    struct js_consumer *jc = g_hash_table_lookup(js->consumers_by_id, &j->consumer_id);
    if (jc == NULL) {
        return NULL;
    }
    jc->write_queued = false; /* changes from now on need another write */
    j->sync = !jc->written || js->opts->sync_always;
    jc->written = true;
    g_free(j->dir);
    j->dir = consumer_dir(jc);
    json_t *o = mr_js_consumer_save_json(jc->c);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    char *out = g_strdup(text);
    free(text);
    return out;
}

/* ---- lifecycle ---- */

static struct js_consumer *consumer_find(struct js_stream *js_st, const char *name)
{
    return g_tree_lookup(js_st->consumers, name);
}

static struct js_consumer *consumer_add(struct js_stream *js_st, const char *name,
                                        const struct mr_js_consumer_cfg *cfg, int64_t created)
{
    struct mr_js *js = js_st->js;
    struct js_consumer *jc = g_new0(struct js_consumer, 1);
    jc->js_st = js_st;
    jc->id = ++js->next_consumer_id;
    mr_assert(jc->id < JS_CONSUMER_FLUSH);
    jc->saved = cfg->durable_name != NULL && mr_js_api_file_streams(js) &&
                mr_js_stream_cfg(js_st->st)->storage == MR_JS_STORAGE_FILE;
    struct mr_js_consumer_io io = {
        .ctx = jc,
        .send = io_send,
        .interest = io_interest,
        .arm = io_arm,
        .acked = io_acked,
        .dirty = io_dirty,
        .advise = io_advise,
        .metric = io_metric,
    };
    jc->c = mr_js_consumer_create(js->srv->env, js_st->st, mr_js_stream_cfg(js_st->st)->name,
                                  name, cfg, created, &io);
    g_hash_table_insert(js->consumers_by_id, &jc->id, jc);
    g_tree_insert(js_st->consumers, (gpointer)mr_js_consumer_name(jc->c), jc);
    return jc;
}

/* Removes one consumer; with remove_files its saved state goes too. */
static void consumer_free(struct js_consumer *jc, bool remove_files)
{
    struct js_stream *js_st = jc->js_st;
    struct mr_js *js = js_st->js;
    if (jc->flush_armed) {
        js->srv->env->timer_cancel(js->srv->env->ctx, flush_timer(jc));
    }
    if (remove_files && jc->saved) {
        char *dir = consumer_dir(jc);
        struct job *j = mr_js_api_job_new(JOB_REMOVE_FILES, js_st->ja, NULL, NULL);
        j->names = g_ptr_array_new_with_free_func(g_free);
        g_ptr_array_add(j->names, g_strdup_printf("%s/consumer.json", dir));
        g_ptr_array_add(j->names, g_strdup_printf("%s/consumer.json.tmp", dir));
        g_ptr_array_add(j->names, g_strdup(dir));
        g_ptr_array_add(j->names, g_path_get_dirname(dir)); /* obs/, once empty */
        g_free(dir);
        mr_js_api_job_queue(js, j);
    }
    g_tree_remove(js_st->consumers, mr_js_consumer_name(jc->c));
    g_hash_table_remove(js->consumers_by_id, &jc->id);
    mr_js_consumer_destroy(jc->c);
    g_free(jc);
}

void mr_js_api_consumers_free(struct js_stream *js_st, bool remove_files)
{
    GPtrArray *all = consumers_of(js_st);
    for (guint i = 0; i < all->len; i++) {
        consumer_free(g_ptr_array_index(all, i), remove_files);
    }
    g_ptr_array_free(all, TRUE);
}

void mr_js_api_consumers_pump(struct js_stream *js_st)
{
    GPtrArray *all = consumers_of(js_st);
    for (guint i = 0; i < all->len; i++) {
        mr_js_consumer_pump(((struct js_consumer *)g_ptr_array_index(all, i))->c);
    }
    g_ptr_array_free(all, TRUE);
}

void mr_js_api_consumers_purged(struct js_stream *js_st)
{
    GPtrArray *all = consumers_of(js_st);
    for (guint i = 0; i < all->len; i++) {
        mr_js_consumer_on_purge(((struct js_consumer *)g_ptr_array_index(all, i))->c);
    }
    g_ptr_array_free(all, TRUE);
}

void mr_js_api_retention_on_publish(struct js_stream *js_st, uint64_t seq, const char *subject)
{
    if (mr_js_stream_cfg(js_st->st)->retention != MR_JS_RETENTION_INTEREST) {
        return;
    }
    /* nats-server does not keep what no consumer is interested in. */
    GPtrArray *all = consumers_of(js_st);
    bool taken = false;
    for (guint i = 0; i < all->len && !taken; i++) {
        struct js_consumer *jc = g_ptr_array_index(all, i);
        taken = mr_js_consumer_takes(jc->c, subject, strlen(subject));
    }
    g_ptr_array_free(all, TRUE);
    if (!taken) {
        (void)mr_js_store_delete(mr_js_stream_store(js_st->st), seq, false);
    }
}

void mr_js_api_consumer_on_timer(struct mr_js *js, uint64_t id)
{
    bool flush = (id & JS_CONSUMER_FLUSH) != 0;
    id &= ~JS_CONSUMER_FLUSH;
    struct js_consumer *jc = g_hash_table_lookup(js->consumers_by_id, &id);
    if (jc == NULL) {
        return; /* deleted after the timer was due */
    }
    if (flush) {
        jc->flush_armed = false;
        if (!jc->write_queued) {
            write_state(jc);
        }
        return;
    }
    if (mr_js_consumer_on_timer(jc->c)) {
        mr_server_log(js->srv, MR_LOG_DEBUG, "JetStream consumer '%s > %s > %s' inactive: deleted",
                      jc->js_st->ja->acc->name, mr_js_stream_cfg(jc->js_st->st)->name,
                      mr_js_consumer_name(jc->c));
        mr_js_consumer_on_delete(jc->c);
        advise_action(jc, "DELETED", "delete");
        consumer_free(jc, true);
    }
}

uint64_t mr_js_api_consumer_count(struct js_account *ja)
{
    uint64_t n = 0;
    GPtrArray *all = g_ptr_array_new();
    g_tree_foreach(ja->streams, collect_one, all);
    for (guint i = 0; i < all->len; i++) {
        n += (uint64_t)g_tree_nnodes(((struct js_stream *)g_ptr_array_index(all, i))->consumers);
    }
    g_ptr_array_free(all, TRUE);
    return n;
}

/* Tree walks for the check: it runs after every simulated event, so no allocation. */
struct consumers_check {
    const struct mr_js *js;
    guint total;
};

static gboolean check_one_consumer(gpointer key, gpointer value, gpointer data)
{
    (void)key;
    struct consumers_check *cc = data;
    struct js_consumer *jc = value;
    mr_assert(g_hash_table_lookup(cc->js->consumers_by_id, &jc->id) == jc);
    mr_js_consumer_check(jc->c);
    cc->total++;
    return FALSE;
}

static gboolean check_stream_consumers(gpointer key, gpointer value, gpointer data)
{
    (void)key;
    struct js_stream *js_st = value;
    g_tree_foreach(js_st->consumers, check_one_consumer, data);
    return FALSE;
}

void mr_js_api_consumers_check(const struct mr_js *js)
{
    struct consumers_check cc = {js, 0};
    for (guint i = 0; i < js->accounts->len; i++) {
        struct js_account *ja = g_ptr_array_index(js->accounts, i);
        g_tree_foreach(ja->streams, check_stream_consumers, &cc);
    }
    mr_assert(g_hash_table_size(js->consumers_by_id) == cc.total);
}

void mr_js_api_consumer_recover(struct js_stream *js_st, const char *name, const char *buf,
                                size_t len)
{
    struct mr_js *js = js_st->js;
    json_t *o = json_loadb(buf, len, 0, NULL);
    struct mr_js_consumer_cfg cfg;
    struct mr_js_err err = {0};
    json_t *jcfg = json_is_object(o) ? json_object_get(o, "config") : NULL;
    json_t *state = json_is_object(o) ? json_object_get(o, "state") : NULL;
    json_t *created = json_is_object(o) ? json_object_get(o, "created") : NULL;
    if (jcfg == NULL || !mr_js_consumer_cfg_from_json(jcfg, &cfg, &err)) {
        mr_server_log(js->srv, MR_LOG_ERROR,
                      "JetStream: consumer '%s > %s': consumer.json is not a consumer: skipped",
                      mr_js_stream_cfg(js_st->st)->name, name);
        json_decref(o);
        return;
    }
    const char *why = NULL;
    if (!mr_js_consumer_cfg_check(&cfg, mr_js_stream_cfg(js_st->st), &err)) {
        why = err.description;
    } else if (cfg.durable_name == NULL || strcmp(cfg.durable_name, name) != 0 ||
               consumer_find(js_st, name) != NULL) {
        why = "name mismatch or in use";
    }
    if (why == NULL) {
        struct js_consumer *jc = consumer_add(js_st, name, &cfg, json_integer_value(created));
        jc->written = true; /* its file exists: later writes need no fsync */
        if (!mr_js_consumer_restore(jc->c, state)) {
            why = "its state does not read: delivery starts over";
        }
        if (!js_st->opening && !js_st->open_failed) {
            /* The store is open already: line the state up with it now (else its
             * on_open does). */
            mr_js_consumer_on_purge(jc->c);
        }
        mr_server_log(js->srv, MR_LOG_INFO, "Restored consumer '%s > %s > %s'",
                      js_st->ja->acc->name, mr_js_stream_cfg(js_st->st)->name, name);
    }
    if (why != NULL) {
        mr_server_log(js->srv, MR_LOG_ERROR, "JetStream: consumer '%s > %s': %s",
                      mr_js_stream_cfg(js_st->st)->name, name, why);
    }
    mr_js_consumer_cfg_free(&cfg);
    json_decref(o);
}

/* ---- requests ---- */

enum creq_kind {
    CREQ_EPHEMERAL = 1, /* CONSUMER.CREATE.<stream> */
    CREQ_NEW = 2,       /* CONSUMER.CREATE.<stream>.<consumer>[.<filter>] */
    CREQ_DURABLE = 3,   /* CONSUMER.DURABLE.CREATE.<stream>.<durable> */
};

/* A consumer request's subject: $JS.API.CONSUMER.<op>.… as tokens. */
struct creq {
    gchar **t;
    guint n;
    const char *type;
    const char *stream;
    const char *consumer;
    char *filter; /* owned */
    enum creq_kind kind;
};

static void reply_error(struct mr_js *js, struct js_account *ja, const struct work *w,
                        const char *type, int code, int err_code, const char *text)
{
    struct mr_js_err e;
    mr_js_err_set(&e, code, err_code, "%s", text);
    /* NAMES and LIST errors carry an empty page, as nats-server's do. */
    bool paged = strcmp(type, "consumer_names") == 0 || strcmp(type, "consumer_list") == 0;
    mr_js_api_send_error(js, ja, w->reply, type, &e, paged ? "consumers" : NULL);
}

static void send_info(struct mr_js *js, struct js_account *ja, const char *reply,
                      const char *type, struct js_consumer *jc)
{
    json_t *o = mr_js_api_response(type);
    json_t *info = mr_js_consumer_info_json(jc->c);
    json_object_update(o, info);
    json_decref(info);
    mr_js_api_send_json(js, ja->acc, reply, o);
}

/* A workqueue stream's rules for one more consumer (nats-server's addConsumer). */
static bool workqueue_check(struct js_stream *js_st, const struct mr_js_consumer_cfg *cfg,
                            struct mr_js_err *e)
{
    if (cfg->ack_policy != MR_JS_ACK_EXPLICIT) {
        return mr_js_err_set(e, 400, 10098, "workqueue stream requires explicit ack");
    }
    if (g_tree_nnodes(js_st->consumers) > 0) {
        if (cfg->filter_subject == NULL) {
            return mr_js_err_set(e, 400, 10099,
                                 "multiple non-filtered consumers not allowed on workqueue "
                                 "stream");
        }
        GPtrArray *all = consumers_of(js_st);
        bool unique = true;
        for (guint i = 0; i < all->len && unique; i++) {
            const char *f = mr_js_consumer_cfg(((struct js_consumer *)
                                                    g_ptr_array_index(all, i))->c)->filter_subject;
            unique = f != NULL && !mr_subject_intersects(f, strlen(f), cfg->filter_subject,
                                                         strlen(cfg->filter_subject));
        }
        g_ptr_array_free(all, TRUE);
        if (!unique) {
            return mr_js_err_set(e, 400, 10100, "filtered consumer not unique on workqueue "
                                                "stream");
        }
    }
    if (cfg->deliver_policy != MR_JS_DELIVER_ALL) {
        return mr_js_err_set(e, 400, 10101, "consumer must be deliver all on workqueue stream");
    }
    return true;
}

static bool limits_check(struct js_account *ja, struct js_stream *js_st, struct mr_js_err *e)
{
    int64_t max = mr_js_stream_cfg(js_st->st)->max_consumers;
    if (ja->limits != NULL && ja->limits->max_consumers > 0 &&
        (max <= 0 || ja->limits->max_consumers < max)) {
        max = ja->limits->max_consumers;
    }
    if (max > 0 && g_tree_nnodes(js_st->consumers) >= max) {
        return mr_js_err_set(e, 400, 10026, "maximum consumers limit reached");
    }
    return true;
}

/* nats-server's addConsumer on a checked configuration: the same name again updates
 * (or confirms) that consumer. Returns the consumer, or NULL with e set. */
static struct js_consumer *add_consumer(struct js_account *ja, struct js_stream *js_st,
                                        struct mr_js_consumer_cfg *cfg, struct mr_js_err *e)
{
    struct mr_js *js = ja->js;
    const char *name = cfg->durable_name != NULL ? cfg->durable_name : cfg->name;
    struct js_consumer *jc = name != NULL ? consumer_find(js_st, name) : NULL;
    if (jc != NULL) {
        if (!mr_js_consumer_cfg_update_check(mr_js_consumer_cfg(jc->c), cfg, e)) {
            return NULL;
        }
        mr_js_consumer_update(jc->c, cfg);
        return jc;
    }
    if (!limits_check(ja, js_st, e)) {
        return NULL;
    }
    if (mr_js_stream_cfg(js_st->st)->retention == MR_JS_RETENTION_WORKQUEUE &&
        !workqueue_check(js_st, cfg, e)) {
        return NULL;
    }
    char gen[EPHEMERAL_NAME_LEN + 1];
    if (name == NULL) {
        do {
            mr_js_random_id(js->srv->env, gen, EPHEMERAL_NAME_LEN);
        } while (consumer_find(js_st, gen) != NULL);
        /* Not written into the configuration: nats-server's echo of a generated
         * ephemeral has no "name" in its config. */
        name = gen;
    }
    if (cfg->durable_name != NULL && strlen(name) > MR_JS_NAME_MAX) {
        mr_js_err_set(e, 400, 10102, "consumer name is too long, maximum allowed is %d",
                      MR_JS_NAME_MAX);
        return NULL;
    }
    if (!mr_js_name_valid(name, strlen(name))) {
        mr_js_err_set(e, 400, 10103, "durable name can not contain '.', '*', '>'");
        return NULL;
    }
    const struct mr_env *env = js->srv->env;
    jc = consumer_add(js_st, name, cfg, env->wall_ns(env->ctx));
    if (jc->saved) {
        io_dirty(jc);
    }
    advise_action(jc, "CREATED", "create");
    mr_js_consumer_pump(jc->c);
    return jc;
}

/* The create request's checks on the subject against the body, in nats-server's order
 * (jsConsumerCreateRequest). */
static bool create_subject_check(const struct creq *q, const char *stream_name,
                                 struct mr_js_consumer_cfg *cfg, struct mr_js_err *e)
{
    if (g_strcmp0(stream_name, q->stream) != 0) {
        return mr_js_err_set(e, 400, 10056, "stream name in subject does not match request");
    }
    if (q->consumer != NULL && strpbrk(q->consumer, "/\\") != NULL) {
        return mr_js_err_set(e, 400, 10127, "Consumer name can not contain path separators");
    }
    if (q->kind == CREQ_DURABLE && cfg->durable_name == NULL) {
        return mr_js_err_set(e, 400, 10018,
                             "consumer expected to be durable but a durable name was not set");
    }
    if (q->kind != CREQ_EPHEMERAL && cfg->durable_name != NULL &&
        strcmp(q->consumer, cfg->durable_name) != 0) {
        return mr_js_err_set(e, 400, 10017,
                             "consumer name in subject does not match durable name in request");
    }
    if (q->kind == CREQ_NEW) {
        g_free(cfg->name);
        cfg->name = g_strdup(q->consumer);
    }
    if (q->kind == CREQ_EPHEMERAL && cfg->durable_name != NULL) {
        return mr_js_err_set(e, 400, 10020,
                             "consumer expected to be ephemeral but a durable name was set in "
                             "request");
    }
    if (q->filter != NULL && g_strcmp0(cfg->filter_subject, q->filter) != 0) {
        return mr_js_err_set(e, 400, 10131,
                             "Consumer create request did not match filtered subject from "
                             "create subject");
    }
    if (cfg->num_replicas > 1) {
        return mr_js_err_set(e, 500, 10074, "replicas > 1 not supported in non-clustered mode");
    }
    return true;
}

/* Decodes {"stream_name","config"}; false with e set. */
static bool create_decode(const struct work *w, char **stream_name,
                          struct mr_js_consumer_cfg *cfg, struct mr_js_err *e)
{
    size_t len = w->len - w->hdr_len;
    json_t *o = json_loadb((const char *)w->payload + w->hdr_len, len, JSON_DECODE_ANY, NULL);
    json_t *jc = json_is_object(o) ? json_object_get(o, "config") : NULL;
    *stream_name = NULL;
    /* "null" decodes as an empty request in Go: it fails on the stream name later. */
    bool ok = json_is_null(o) || (json_is_object(o) && mr_js_json_str(o, "stream_name",
                                                                      stream_name));
    if (ok && (jc == NULL || json_is_null(jc))) {
        memset(cfg, 0, sizeof(*cfg)); /* Go decodes a missing config as all zero */
    } else if (ok) {
        ok = mr_js_consumer_cfg_from_json(jc, cfg, e);
    }
    json_decref(o);
    if (!ok) {
        g_free(*stream_name);
        *stream_name = NULL;
        return mr_js_err_set(e, 400, 10025, "invalid JSON");
    }
    return true;
}

static void api_create(struct mr_js *js, struct js_account *ja, const struct work *w,
                       const struct creq *q)
{
    struct mr_js_consumer_cfg cfg;
    struct mr_js_err e = {0};
    char *stream_name = NULL;
    if (!create_decode(w, &stream_name, &cfg, &e)) {
        mr_js_api_send_error(js, ja, w->reply, q->type, &e, NULL);
        return;
    }
    struct js_stream *js_st = NULL;
    struct js_consumer *jc = NULL;
    if (create_subject_check(q, stream_name, &cfg, &e)) {
        js_st = mr_js_api_stream_find(ja, q->stream);
        if (js_st == NULL) {
            mr_js_err_set(&e, 404, 10059, "stream not found");
        } else if (mr_js_consumer_cfg_check(&cfg, mr_js_stream_cfg(js_st->st), &e)) {
            jc = add_consumer(ja, js_st, &cfg, &e);
        }
    }
    g_free(stream_name);
    mr_js_consumer_cfg_free(&cfg);
    if (jc == NULL) {
        mr_js_api_send_error(js, ja, w->reply, q->type, &e, NULL);
        return;
    }
    send_info(js, ja, w->reply, q->type, jc);
}

/* {"offset":n} of NAMES and LIST; false on bad JSON. */
static bool list_offset(const struct work *w, int64_t *offset)
{
    *offset = 0;
    size_t len = w->len - w->hdr_len;
    if (len == 0) {
        return true;
    }
    json_t *o = json_loadb((const char *)w->payload + w->hdr_len, len, 0, NULL);
    bool ok = json_is_object(o) && mr_js_json_int(o, "offset", offset);
    json_decref(o);
    if (*offset < 0) {
        *offset = 0;
    }
    return ok;
}

static void api_list(struct mr_js *js, struct js_account *ja, const struct work *w,
                     struct js_stream *js_st, bool names, const char *type)
{
    int64_t offset;
    if (!list_offset(w, &offset)) {
        reply_error(js, ja, w, type, 400, 10025, "invalid JSON");
        return;
    }
    int64_t limit = names ? NAMES_LIMIT : LIST_LIMIT;
    GPtrArray *all = consumers_of(js_st);
    if (offset > (int64_t)all->len) {
        offset = all->len; /* nats-server answers past the end with the end */
    }
    json_t *arr = json_array();
    for (guint i = 0; i < all->len; i++) {
        struct js_consumer *jc = g_ptr_array_index(all, i);
        if ((int64_t)i < offset || (int64_t)i >= offset + limit) {
            continue;
        }
        json_array_append_new(arr, names ? json_string(mr_js_consumer_name(jc->c))
                                         : mr_js_consumer_info_json(jc->c));
    }
    json_t *o = mr_js_api_response(type);
    json_object_set_new(o, "total", json_integer(all->len));
    json_object_set_new(o, "offset", json_integer(offset));
    json_object_set_new(o, "limit", json_integer(limit));
    json_object_set_new(o, "consumers", arr);
    g_ptr_array_free(all, TRUE);
    mr_js_api_send_json(js, ja->acc, w->reply, o);
}

static void api_delete(struct mr_js *js, struct js_account *ja, const struct work *w,
                       struct js_consumer *jc, const char *type)
{
    mr_js_consumer_on_delete(jc->c);
    advise_action(jc, "DELETED", "delete");
    consumer_free(jc, true);
    json_t *o = mr_js_api_response(type);
    json_object_set_new(o, "success", json_true());
    mr_js_api_send_json(js, ja->acc, w->reply, o);
}

/* Takes the subject apart; false when nats-server has no subscription for it (no
 * answer then). */
static bool creq_parse(const char *subject, struct creq *q)
{
    memset(q, 0, sizeof(*q));
    q->t = g_strsplit(subject, ".", 0);
    q->n = g_strv_length(q->t);
    const char *op = q->n > 3 ? q->t[3] : "";
    static const struct {
        const char *op;
        guint n;        /* tokens; 0 = at least 5 */
        const char *type;
    } forms[] = {
        {"CREATE", 0, "consumer_create"},  {"DURABLE", 7, "consumer_create"},
        {"INFO", 6, "consumer_info"},       {"NAMES", 5, "consumer_names"},
        {"LIST", 5, "consumer_list"},       {"DELETE", 6, "consumer_delete"},
        {"MSG", 7, "consumer_msg_next"},    {"LEADER", 7, "consumer_leader_stepdown"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(forms); i++) {
        if (strcmp(op, forms[i].op) != 0) {
            continue;
        }
        bool fits = forms[i].n == 0 ? q->n >= 5 : q->n == forms[i].n;
        static const struct {
            const char *op;
            const char *second;
        } seconds[] = {{"DURABLE", "CREATE"}, {"MSG", "NEXT"}, {"LEADER", "STEPDOWN"}};
        for (size_t k = 0; k < G_N_ELEMENTS(seconds); k++) {
            if (strcmp(op, seconds[k].op) == 0) {
                fits = fits && strcmp(q->t[4], seconds[k].second) == 0;
            }
        }
        if (!fits) {
            return false;
        }
        q->type = forms[i].type;
        bool shifted = forms[i].n == 7; /* two-token operations */
        q->stream = q->t[shifted ? 5 : 4];
        q->consumer = q->n > (shifted ? 6u : 5u) ? q->t[shifted ? 6 : 5] : NULL;
        q->kind = strcmp(op, "DURABLE") == 0 ? CREQ_DURABLE
                                              : (q->n == 5 ? CREQ_EPHEMERAL : CREQ_NEW);
        if (strcmp(op, "CREATE") == 0 && q->n > 7) {
            /* As nats-server 2.9 takes it: a filter of one token is not read. */
            q->filter = g_strjoinv(".", q->t + 6);
        }
        return true;
    }
    return false;
}

void mr_js_api_consumer_request(struct mr_js *js, struct js_account *ja, const struct work *w,
                                const struct api_req *r)
{
    (void)r;
    struct creq q;
    if (!creq_parse(w->subject, &q)) {
        g_strfreev(q.t);
        return;
    }
    if (strcmp(q.type, "consumer_create") == 0) {
        api_create(js, ja, w, &q);
        goto done;
    }
    if (strcmp(q.type, "consumer_leader_stepdown") == 0) {
        /* One server has no leaders to change: nats-server's answer without a cluster. */
        reply_error(js, ja, w, q.type, 503, 10010, "JetStream clustering support required");
        goto done;
    }
    struct js_stream *js_st = mr_js_api_stream_find(ja, q.stream);
    struct js_consumer *jc = js_st != NULL && q.consumer != NULL
                                 ? consumer_find(js_st, q.consumer)
                                 : NULL;
    if (strcmp(q.type, "consumer_msg_next") == 0) {
        if (jc == NULL) {
            /* nats-server has no subscription then: the requester sees no responders. */
            static const char no_resp[] = "NATS/1.0 503\r\n\r\n";
            mr_js_api_send(js, ja->acc, w->reply, NULL, (const uint8_t *)no_resp,
                           sizeof(no_resp) - 1, NULL, 0);
        } else {
            mr_js_consumer_on_next(jc->c, w->reply, w->payload + w->hdr_len,
                                   w->len - w->hdr_len);
        }
        goto done;
    }
    if (js_st == NULL) {
        reply_error(js, ja, w, q.type, 404, 10059, "stream not found");
    } else if (strcmp(q.type, "consumer_names") == 0 || strcmp(q.type, "consumer_list") == 0) {
        api_list(js, ja, w, js_st, strcmp(q.type, "consumer_names") == 0, q.type);
    } else if (jc == NULL) {
        reply_error(js, ja, w, q.type, 404, 10014, "consumer not found");
    } else if (strcmp(q.type, "consumer_info") == 0) {
        send_info(js, ja, w->reply, q.type, jc);
    } else {
        api_delete(js, ja, w, jc, q.type);
    }
done:
    g_free(q.filter);
    g_strfreev(q.t);
}

void mr_js_api_consumer_ack(struct mr_js *js, struct js_account *ja, const struct work *w)
{
    (void)js;
    /* $JS.ACK.<stream>.<consumer>.… or $JS.FC.<stream>.<consumer>.<id> */
    gchar **t = g_strsplit(w->subject, ".", 5);
    if (g_strv_length(t) >= 4) {
        struct js_stream *js_st = mr_js_api_stream_find(ja, t[2]);
        struct js_consumer *jc = js_st != NULL ? consumer_find(js_st, t[3]) : NULL;
        if (jc != NULL && w->kind == WORK_ACK) {
            mr_js_consumer_on_ack(jc->c, w->subject, w->reply, w->payload + w->hdr_len,
                                  w->len - w->hdr_len);
        } else if (jc != NULL) {
            mr_js_consumer_on_fc(jc->c, w->subject);
        }
    }
    g_strfreev(t);
}
