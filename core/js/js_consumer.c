/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Consumers: configuration and delivery state over a stream's store; see js_consumer.h.
 *
 * Invariants:
 *  - Every pending entry has 0 < sseq < c->sseq and 0 < dseq < c->dseq; the pending
 *    tree holds only consumers with ack policy explicit or all.
 *  - A sequence is on the redelivery queue at most once and only while it is pending
 *    (entry->queued says so).
 *  - The ack floor is below every pending entry: asflr < the smallest pending sseq.
 *  - Pull consumers keep at most max_waiting requests, each with n > 0.
 */
#include "core/js/js_consumer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/proto/subject.h"

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL
#define ACK_PREFIX "$JS.ACK."
#define FC_PREFIX "$JS.FC."
/* A heartbeat for a pull request must fit twice into its expiry (nats-server). */
#define HB_PER_EXPIRY 2

/* ---- configuration ---- */

static const char *const deliver_names[] = {"all", "last", "new", "by_start_sequence",
                                            "by_start_time", "last_per_subject"};
static const char *const ack_names[] = {"none", "all", "explicit"};
static const char *const replay_names[] = {"instant", "original"};

static bool invalid_json(struct mr_js_err *e)
{
    return mr_js_err_set(e, 400, 10025, "invalid JSON");
}

/* Days since 1970-01-01 of a proleptic Gregorian date (the inverse of
 * mr_js_time_format's civil-from-days). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* RFC 3339 ("2006-01-02T15:04:05.999999999Z07:00") to wall nanoseconds. */
static bool parse_time(const char *s, int64_t *out)
{
    int y;
    int mo;
    int d;
    int h;
    int mi;
    int sec;
    int used = 0;
    if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 ||
        used != 19 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
        return false;
    }
    const char *p = s + used;
    int64_t frac = 0;
    int digits = 0;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            if (digits < 9) {
                frac = frac * 10 + (*p - '0');
                digits++;
            }
        }
        if (digits == 0) {
            return false;
        }
    }
    for (; digits > 0 && digits < 9; digits++) {
        frac *= 10;
    }
    int64_t offset = 0;
    int oh;
    int om;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        offset = 0;
    } else if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2 &&
               strlen(p) == 6) {
        offset = (*p == '+' ? 1 : -1) * (int64_t)(oh * 3600 + om * 60);
    } else {
        return false;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    *out = secs * NS_PER_S + frac;
    return true;
}

static bool get_backoff(json_t *o, struct mr_js_consumer_cfg *cfg)
{
    json_t *v = json_object_get(o, "backoff");
    if (v == NULL || json_is_null(v)) {
        return true;
    }
    if (!json_is_array(v) || json_array_size(v) > MR_JS_BACKOFF_MAX) {
        return false;
    }
    size_t n = json_array_size(v);
    cfg->backoff_ns = g_new0(int64_t, n + 1);
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_array_get(v, i);
        if (!json_is_integer(d)) {
            return false;
        }
        cfg->backoff_ns[i] = (int64_t)json_integer_value(d);
        cfg->backoff_count = i + 1;
    }
    return true;
}

static bool get_start_time(json_t *o, struct mr_js_consumer_cfg *cfg)
{
    char *t = NULL;
    if (!mr_js_json_str(o, "opt_start_time", &t)) {
        return false;
    }
    bool ok = t == NULL || parse_time(t, &cfg->opt_start_time_ns);
    if (ok && t != NULL && cfg->opt_start_time_ns <= 0) {
        /* The epoch or before: still "set", and every message is newer. */
        cfg->opt_start_time_ns = 1;
    }
    g_free(t);
    return ok;
}

static bool cfg_strings(json_t *o, struct mr_js_consumer_cfg *c)
{
    return mr_js_json_str(o, "durable_name", &c->durable_name) &&
           mr_js_json_str(o, "name", &c->name) &&
           mr_js_json_str(o, "description", &c->description) &&
           mr_js_json_str(o, "filter_subject", &c->filter_subject) &&
           mr_js_json_str(o, "sample_freq", &c->sample_freq) &&
           mr_js_json_str(o, "deliver_subject", &c->deliver_subject) &&
           mr_js_json_str(o, "deliver_group", &c->deliver_group);
}

static bool cfg_numbers(json_t *o, struct mr_js_consumer_cfg *c)
{
    int64_t start = 0;
    bool ok = mr_js_json_int(o, "opt_start_seq", &start) &&
              mr_js_json_int(o, "ack_wait", &c->ack_wait_ns) &&
              mr_js_json_int(o, "max_deliver", &c->max_deliver) &&
              mr_js_json_int(o, "rate_limit_bps", &c->rate_limit_bps) &&
              mr_js_json_int(o, "max_waiting", &c->max_waiting) &&
              mr_js_json_int(o, "max_ack_pending", &c->max_ack_pending) &&
              mr_js_json_int(o, "idle_heartbeat", &c->idle_heartbeat_ns) &&
              mr_js_json_int(o, "max_batch", &c->max_batch) &&
              mr_js_json_int(o, "max_expires", &c->max_expires_ns) &&
              mr_js_json_int(o, "max_bytes", &c->max_bytes) &&
              mr_js_json_int(o, "inactive_threshold", &c->inactive_threshold_ns) &&
              mr_js_json_int(o, "num_replicas", &c->num_replicas);
    if (start < 0 || c->rate_limit_bps < 0) {
        return false; /* unsigned in nats-server: a negative number does not decode */
    }
    c->opt_start_seq = (uint64_t)start;
    return ok;
}

bool mr_js_consumer_cfg_from_json(json_t *o, struct mr_js_consumer_cfg *cfg,
                                  struct mr_js_err *err)
{
    memset(cfg, 0, sizeof(*cfg));
    if (!json_is_object(o)) {
        return invalid_json(err);
    }
    int dp = 0;
    int ap = 0;
    bool ok = cfg_strings(o, cfg) && cfg_numbers(o, cfg) && get_backoff(o, cfg) &&
              get_start_time(o, cfg) &&
              mr_js_json_enum(o, "deliver_policy", deliver_names, G_N_ELEMENTS(deliver_names),
                              &dp) &&
              mr_js_json_enum(o, "ack_policy", ack_names, G_N_ELEMENTS(ack_names), &ap) &&
              mr_js_json_enum(o, "replay_policy", replay_names, G_N_ELEMENTS(replay_names),
                              &cfg->replay_policy) &&
              mr_js_json_bool(o, "flow_control", &cfg->flow_control) &&
              mr_js_json_bool(o, "headers_only", &cfg->headers_only) &&
              mr_js_json_bool(o, "mem_storage", &cfg->mem_storage) &&
              mr_js_json_bool(o, "direct", &cfg->direct);
    cfg->deliver_policy = (enum mr_js_deliver_policy)dp;
    cfg->ack_policy = (enum mr_js_ack_policy)ap;
    if (!ok) {
        mr_js_consumer_cfg_free(cfg);
        return invalid_json(err);
    }
    /* Empty strings mean "not set", as Go's omitempty zero values do. */
    char **strs[] = {&cfg->durable_name, &cfg->name, &cfg->description, &cfg->filter_subject,
                     &cfg->sample_freq, &cfg->deliver_subject, &cfg->deliver_group};
    for (size_t i = 0; i < G_N_ELEMENTS(strs); i++) {
        if (*strs[i] != NULL && (*strs[i])[0] == '\0') {
            g_free(*strs[i]);
            *strs[i] = NULL;
        }
    }
    return true;
}

void mr_js_consumer_cfg_free(struct mr_js_consumer_cfg *c)
{
    g_free(c->durable_name);
    g_free(c->name);
    g_free(c->description);
    g_free(c->backoff_ns);
    g_free(c->filter_subject);
    g_free(c->sample_freq);
    g_free(c->deliver_subject);
    g_free(c->deliver_group);
    memset(c, 0, sizeof(*c));
}

void mr_js_consumer_cfg_copy(struct mr_js_consumer_cfg *dst, const struct mr_js_consumer_cfg *src)
{
    *dst = *src;
    dst->durable_name = g_strdup(src->durable_name);
    dst->name = g_strdup(src->name);
    dst->description = g_strdup(src->description);
    dst->backoff_ns = src->backoff_count > 0
                          ? g_memdup2(src->backoff_ns, src->backoff_count * sizeof(int64_t))
                          : NULL;
    dst->filter_subject = g_strdup(src->filter_subject);
    dst->sample_freq = g_strdup(src->sample_freq);
    dst->deliver_subject = g_strdup(src->deliver_subject);
    dst->deliver_group = g_strdup(src->deliver_group);
}

static bool str_eq(const char *a, const char *b)
{
    return g_strcmp0(a, b) == 0;
}

bool mr_js_consumer_cfg_equal(const struct mr_js_consumer_cfg *a,
                              const struct mr_js_consumer_cfg *b)
{
    json_t *ja = mr_js_consumer_cfg_json(a);
    json_t *jb = mr_js_consumer_cfg_json(b);
    bool eq = json_equal(ja, jb);
    json_decref(ja);
    json_decref(jb);
    return eq;
}

/* setConsumerConfigDefaults, and the ephemeral's inactive threshold. */
static void fill_defaults(struct mr_js_consumer_cfg *c)
{
    bool acks = c->ack_policy != MR_JS_ACK_NONE;
    if (c->deliver_subject == NULL && c->max_waiting == 0) {
        c->max_waiting = MR_JS_MAX_WAITING_DEFAULT;
    }
    if (c->ack_wait_ns == 0 && acks) {
        c->ack_wait_ns = (int64_t)MR_JS_ACK_WAIT_DEFAULT_NS;
    }
    if (c->max_deliver == 0) {
        c->max_deliver = -1;
    }
    if (c->backoff_count > 0) {
        c->ack_wait_ns = c->backoff_ns[0];
    }
    if (acks && c->max_ack_pending == 0) {
        c->max_ack_pending = MR_JS_MAX_ACK_PENDING_DEFAULT;
    }
    if (c->durable_name == NULL && c->inactive_threshold_ns <= 0) {
        c->inactive_threshold_ns = (int64_t)MR_JS_INACTIVE_DEFAULT_NS;
    }
}

static bool policy_err(struct mr_js_err *e, const char *dp, const char *what, bool both)
{
    if (both) {
        return mr_js_err_set(e, 400, 10094,
                             "consumer delivery policy is deliver %s, but optional start %s is "
                             "also set",
                             dp, what);
    }
    return mr_js_err_set(e, 400, 10094,
                         "consumer delivery policy is deliver %s, but optional %s is not set", dp,
                         what);
}

static bool check_start(const struct mr_js_consumer_cfg *c, struct mr_js_err *e)
{
    static const char *const names[] = {"all", "last", "new", "by start sequence", "by start time",
                                        "last per subject"};
    const char *dp = names[c->deliver_policy];
    bool seq = c->opt_start_seq > 0;
    bool time = c->opt_start_time_ns != 0;
    switch (c->deliver_policy) {
    case MR_JS_DELIVER_BY_START_SEQ:
        if (!seq) {
            return policy_err(e, dp, "start sequence", false);
        }
        return !time || policy_err(e, dp, "time", true);
    case MR_JS_DELIVER_BY_START_TIME:
        if (!time) {
            return policy_err(e, dp, "start time", false);
        }
        return !seq || policy_err(e, dp, "start sequence", true);
    default:
        if (seq) {
            return policy_err(e, dp, "sequence", true);
        }
        if (time) {
            return policy_err(e, dp, "time", true);
        }
        if (c->deliver_policy == MR_JS_DELIVER_LAST_PER_SUBJECT && c->filter_subject == NULL) {
            return policy_err(e, dp, "filter subject", false);
        }
        return true;
    }
}

static bool check_push(const struct mr_js_consumer_cfg *c, const struct mr_js_stream_cfg *sc,
                       struct mr_js_err *e)
{
    const char *d = c->deliver_subject;
    size_t n = strlen(d);
    if (mr_subject_has_wildcard(d, n)) {
        return mr_js_err_set(e, 400, 10079, "consumer deliver subject has wildcards");
    }
    if (!mr_subject_valid_literal(d, n)) {
        return mr_js_err_set(e, 400, 10112, "invalid push consumer deliver subject");
    }
    for (size_t i = 0; i < sc->subjects_count; i++) {
        if (mr_subject_is_subset(d, n, sc->subjects[i], strlen(sc->subjects[i]))) {
            return mr_js_err_set(e, 400, 10081, "consumer deliver subject forms a cycle");
        }
    }
    if (c->max_waiting != 0) {
        return mr_js_err_set(e, 400, 10080, "consumer in push mode can not set max waiting");
    }
    if (c->max_ack_pending > 0 && c->ack_policy == MR_JS_ACK_NONE) {
        return mr_js_err_set(e, 400, 10082, "consumer requires ack policy for max ack pending");
    }
    if (c->idle_heartbeat_ns > 0 && c->idle_heartbeat_ns < 100 * NS_PER_MS) {
        return mr_js_err_set(e, 400, 10083, "consumer idle heartbeat needs to be >= 100ms");
    }
    return true;
}

static bool check_pull(const struct mr_js_consumer_cfg *c, const struct mr_js_stream_cfg *sc,
                       struct mr_js_err *e)
{
    if (c->ack_policy == MR_JS_ACK_NONE && sc->retention == MR_JS_RETENTION_WORKQUEUE) {
        return mr_js_err_set(e, 400, 10084, "consumer in pull mode requires ack policy");
    }
    if (c->rate_limit_bps > 0) {
        return mr_js_err_set(e, 400, 10086, "consumer in pull mode can not have rate limit set");
    }
    if (c->max_waiting < 0) {
        return mr_js_err_set(e, 400, 10087, "consumer max waiting needs to be positive");
    }
    if (c->idle_heartbeat_ns > 0) {
        return mr_js_err_set(e, 400, 10088, "consumer idle heartbeat requires a push based "
                                            "consumer");
    }
    if (c->flow_control) {
        return mr_js_err_set(e, 400, 10089, "consumer flow control requires a push based "
                                            "consumer");
    }
    if (c->max_batch < 0) {
        return mr_js_err_set(e, 400, 10114, "consumer max request batch needs to be > 0");
    }
    if (c->max_expires_ns != 0 && c->max_expires_ns < NS_PER_MS) {
        return mr_js_err_set(e, 400, 10115, "consumer max request expires needs to be >= 1ms");
    }
    return true;
}

static bool filter_valid(const char *f, const struct mr_js_stream_cfg *sc)
{
    size_t n = strlen(f);
    if (!mr_subject_valid(f, n)) {
        return false;
    }
    bool wc = mr_subject_has_wildcard(f, n);
    for (size_t i = 0; i < sc->subjects_count; i++) {
        const char *s = sc->subjects[i];
        if (mr_subject_is_subset(f, n, s, strlen(s)) ||
            (wc && mr_subject_is_subset(s, strlen(s), f, n))) {
            return true;
        }
    }
    return false;
}

static bool check_sampling(const char *f, struct mr_js_err *e)
{
    if (f == NULL) {
        return true;
    }
    char *end = NULL;
    long v = strtol(f, &end, 10);
    if (end == f || (strcmp(end, "") != 0 && strcmp(end, "%") != 0) || v < 0) {
        return mr_js_err_set(e, 400, 10095,
                             "failed to parse consumer sampling configuration: strconv.Atoi: "
                             "parsing \"%s\": invalid syntax",
                             f);
    }
    return true;
}

/* checkConsumerCfg's first checks: replicas, backoff, description. */
static bool check_general(const struct mr_js_consumer_cfg *c, const struct mr_js_stream_cfg *sc,
                          struct mr_js_err *e)
{
    if (c->num_replicas > 0 && c->num_replicas > sc->num_replicas) {
        return mr_js_err_set(e, 400, 10126, "consumer config replica count exceeds parent "
                                            "stream");
    }
    if (c->num_replicas < 0) {
        return mr_js_err_set(e, 400, 10133, "replicas count cannot be negative");
    }
    if (c->backoff_count > 0 && c->max_deliver <= (int64_t)c->backoff_count) {
        return mr_js_err_set(e, 400, 10116,
                             "max deliver is required to be > length of backoff values");
    }
    if (c->description != NULL && strlen(c->description) > MR_JS_DESCRIPTION_MAX) {
        return mr_js_err_set(e, 400, 10107,
                             "consumer description is too long, maximum allowed is %d",
                             MR_JS_DESCRIPTION_MAX);
    }
    return true;
}

bool mr_js_consumer_cfg_check(struct mr_js_consumer_cfg *c, const struct mr_js_stream_cfg *sc,
                              struct mr_js_err *e)
{
    fill_defaults(c);
    if (!check_general(c, sc, e)) {
        return false;
    }
    bool push = c->deliver_subject != NULL;
    if (push ? !check_push(c, sc, e) : !check_pull(c, sc, e)) {
        return false;
    }
    if (c->direct && !push) {
        return mr_js_err_set(e, 400, 10090, "consumer direct requires a push based consumer");
    }
    if (c->direct && c->durable_name != NULL) {
        return mr_js_err_set(e, 400, 10091, "consumer direct requires an ephemeral consumer");
    }
    if (c->filter_subject != NULL && !filter_valid(c->filter_subject, sc)) {
        return mr_js_err_set(e, 400, 10093,
                             "consumer filter subject is not a valid subset of the interest "
                             "subjects");
    }
    if (!check_start(c, e) || !check_sampling(c->sample_freq, e)) {
        return false;
    }
    if (c->flow_control && c->idle_heartbeat_ns == 0) {
        return mr_js_err_set(e, 400, 10108, "consumer with flow control also needs heartbeats");
    }
    if (c->durable_name != NULL && c->name != NULL && strcmp(c->durable_name, c->name) != 0) {
        return mr_js_err_set(e, 400, 10132,
                             "Consumer Durable and Name have to be equal if both are provided");
    }
    return true;
}

static bool update_err(struct mr_js_err *e, const char *what)
{
    return mr_js_err_set(e, 500, 10012, "%s can not be updated", what);
}

bool mr_js_consumer_cfg_update_check(const struct mr_js_consumer_cfg *o,
                                     const struct mr_js_consumer_cfg *n, struct mr_js_err *e)
{
    if (o->deliver_policy != n->deliver_policy) {
        return update_err(e, "deliver policy");
    }
    if (o->opt_start_seq != n->opt_start_seq) {
        return update_err(e, "start sequence");
    }
    if (o->opt_start_time_ns != n->opt_start_time_ns) {
        return update_err(e, "start time");
    }
    if (o->ack_policy != n->ack_policy) {
        return update_err(e, "ack policy");
    }
    if (o->replay_policy != n->replay_policy) {
        return update_err(e, "replay policy");
    }
    if (o->idle_heartbeat_ns != n->idle_heartbeat_ns) {
        return update_err(e, "heart beats");
    }
    if (o->flow_control != n->flow_control) {
        return update_err(e, "flow control");
    }
    if (o->max_waiting != n->max_waiting) {
        return update_err(e, "max waiting");
    }
    if (!str_eq(o->deliver_subject, n->deliver_subject)) {
        if (o->deliver_subject == NULL) {
            return mr_js_err_set(e, 500, 10012, "can not update pull consumer to push based");
        }
        if (n->deliver_subject == NULL) {
            return mr_js_err_set(e, 500, 10012, "can not update push consumer to pull based");
        }
    }
    /* nats-server 2.9 compares filter subjects only through DeepEqual: a changed filter
     * is taken as an update. */
    return true;
}

static void put_str(json_t *o, const char *key, const char *v)
{
    if (v != NULL) {
        json_object_set_new(o, key, json_string(v));
    }
}

static void put_int(json_t *o, const char *key, int64_t v)
{
    if (v != 0) {
        json_object_set_new(o, key, json_integer(v));
    }
}

static void put_true(json_t *o, const char *key, bool v)
{
    if (v) {
        json_object_set_new(o, key, json_true());
    }
}

json_t *mr_js_consumer_cfg_json(const struct mr_js_consumer_cfg *c)
{
    json_t *o = json_object();
    put_str(o, "durable_name", c->durable_name);
    put_str(o, "name", c->name);
    put_str(o, "description", c->description);
    json_object_set_new(o, "deliver_policy", json_string(deliver_names[c->deliver_policy]));
    put_int(o, "opt_start_seq", (int64_t)c->opt_start_seq);
    if (c->opt_start_time_ns != 0) {
        char t[64];
        mr_js_time_format(c->opt_start_time_ns, t, sizeof(t));
        json_object_set_new(o, "opt_start_time", json_string(t));
    }
    json_object_set_new(o, "ack_policy", json_string(ack_names[c->ack_policy]));
    put_int(o, "ack_wait", c->ack_wait_ns);
    put_int(o, "max_deliver", c->max_deliver);
    if (c->backoff_count > 0) {
        json_t *b = json_array();
        for (size_t i = 0; i < c->backoff_count; i++) {
            json_array_append_new(b, json_integer(c->backoff_ns[i]));
        }
        json_object_set_new(o, "backoff", b);
    }
    put_str(o, "filter_subject", c->filter_subject);
    json_object_set_new(o, "replay_policy", json_string(replay_names[c->replay_policy]));
    put_int(o, "rate_limit_bps", c->rate_limit_bps);
    put_str(o, "sample_freq", c->sample_freq);
    put_int(o, "max_waiting", c->max_waiting);
    put_int(o, "max_ack_pending", c->max_ack_pending);
    put_int(o, "idle_heartbeat", c->idle_heartbeat_ns);
    put_true(o, "flow_control", c->flow_control);
    put_true(o, "headers_only", c->headers_only);
    put_int(o, "max_batch", c->max_batch);
    put_int(o, "max_expires", c->max_expires_ns);
    put_int(o, "max_bytes", c->max_bytes);
    put_str(o, "deliver_subject", c->deliver_subject);
    put_str(o, "deliver_group", c->deliver_group);
    put_int(o, "inactive_threshold", c->inactive_threshold_ns);
    json_object_set_new(o, "num_replicas", json_integer(c->num_replicas));
    put_true(o, "mem_storage", c->mem_storage);
    put_true(o, "direct", c->direct);
    return o;
}

/* ---- state ---- */

/* A delivered message not yet acknowledged (ack policy explicit or all). */
struct pending {
    uint64_t sseq;
    uint64_t dseq;   /* of its first delivery: acks use it for the floor */
    uint64_t dc;     /* deliveries so far */
    uint64_t due_ns; /* monotonic: redelivered when not acknowledged by then */
    uint64_t sent_ns; /* monotonic: its last delivery (ack metrics) */
    bool queued;     /* on the redelivery queue */
};

/* A pull request waiting for messages. */
struct waiting {
    char *reply;
    int64_t n;           /* messages still owed */
    int64_t b;           /* bytes still allowed; with has_b only */
    bool has_b;
    bool no_wait;
    int64_t d;           /* messages delivered to it */
    uint64_t expires_ns; /* monotonic; 0 = no expiry */
    uint64_t hb_ns;
    uint64_t hb_due_ns;
};

struct mr_js_consumer {
    const struct mr_env *env;
    struct mr_js_stream *st;
    char *stream_name;
    char *name;
    struct mr_js_consumer_cfg cfg;
    struct mr_js_consumer_io io;
    int64_t created_ns;
    uint64_t sseq; /* the next stream sequence to look at */
    uint64_t dseq; /* the next delivery sequence */
    uint64_t adflr;
    uint64_t asflr;
    GTree *pending; /* &entry->sseq -> struct pending, by sequence */
    GQueue rdq;     /* stream sequences to redeliver, oldest first; stale ones skipped */
    GTree *dropped; /* uint64 * -> itself: given up at max_deliver, still counted as
                     * redelivered (nats-server) until the stream lets them go */
    uint64_t *lss;  /* last_per_subject start: the sequences to deliver first */
    size_t lss_n;
    size_t lss_i;
    uint64_t lss_resume;
    GQueue waiting; /* struct waiting, served round robin */
    uint64_t last_active_ns; /* pull: the last request; push: when interest went */
    bool active;             /* push: the deliver subject has interest */
    bool more;               /* a delivery batch stopped at its bound */
    uint64_t hb_due_ns;      /* push heartbeat */
    int64_t pbytes;          /* flow control: bytes sent since the last reply */
    int64_t maxpb;
    int64_t fcsz;
    char *fcid;              /* the outstanding flow control reply subject */
    int64_t ldt_wall;        /* last delivery */
    int64_t lat_wall;        /* last ack */
    uint64_t armed_ns;
    /* nats-server's num pending cache: npc messages the filter takes from sseq on, as
     * counted up to stream sequence npcm. Counting anew walks the stream, so it is kept
     * up to date by deliveries and new messages and counted again only after a purge. */
    uint64_t npc;
    uint64_t npcm;
    bool npc_ok;
    /* rate_limit_bps: the theoretical arrival time of the bytes sent so far (GCRA, the
     * same schedule as nats-server's token bucket with a burst of one message). */
    uint64_t rl_tat_ns;
    /* replay_policy original: up to stream sequence replay_until (the last one at
     * creation) messages keep their original spacing: the next goes replay_gap after
     * the previous delivery (replay_sent_ns), its stored time minus the previous one's. */
    uint64_t replay_until;
    int64_t replay_lts;
    uint64_t replay_sent_ns;
    uint64_t replay_hold_ns; /* armed: a message waits for its time */
};

enum cand_kind {
    CAND_REDELIVER = 1,
    CAND_LAST_PER_SUBJECT = 2,
    CAND_NEXT = 3,
};

/* The next message to deliver, before it is committed. */
struct cand {
    enum cand_kind kind;
    uint64_t seq;
    uint64_t dc;
};

/* A message copied out of the store (its views die with the next store call). */
struct copy {
    uint64_t seq;
    int64_t ts_ns;
    char *subject;
    uint8_t *hdr;
    size_t hdr_len;
    uint8_t *data;
    size_t data_len;
};

static uint64_t now_ns(const struct mr_js_consumer *c)
{
    return c->env->now_ns(c->env->ctx);
}

static int64_t wall_ns(const struct mr_js_consumer *c)
{
    return c->env->wall_ns(c->env->ctx);
}

static gint seq_cmp(gconstpointer a, gconstpointer b, gpointer data)
{
    (void)data;
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

static bool acks(const struct mr_js_consumer *c)
{
    return c->cfg.ack_policy != MR_JS_ACK_NONE;
}

static bool is_push(const struct mr_js_consumer *c)
{
    return c->cfg.deliver_subject != NULL;
}

static struct mr_js_store *store(const struct mr_js_consumer *c)
{
    return mr_js_stream_store(c->st);
}

static const char *filter(const struct mr_js_consumer *c, size_t *len)
{
    *len = c->cfg.filter_subject != NULL ? strlen(c->cfg.filter_subject) : 0;
    return c->cfg.filter_subject;
}

static uint64_t ack_wait_for(const struct mr_js_consumer *c, uint64_t dc)
{
    if (c->cfg.backoff_count > 0) {
        size_t i = dc > 0 ? (size_t)(dc - 1) : 0;
        if (i >= c->cfg.backoff_count) {
            i = c->cfg.backoff_count - 1;
        }
        return (uint64_t)c->cfg.backoff_ns[i];
    }
    return (uint64_t)c->cfg.ack_wait_ns;
}

static struct pending *pending_get(const struct mr_js_consumer *c, uint64_t seq)
{
    return g_tree_lookup(c->pending, &seq);
}

static gboolean first_one(gpointer key, gpointer value, gpointer data)
{
    (void)key;
    *(struct pending **)data = value;
    return TRUE;
}

static gboolean first_key(gpointer key, gpointer value, gpointer data)
{
    (void)value;
    *(uint64_t **)data = key;
    return TRUE;
}

static struct pending *pending_first(const struct mr_js_consumer *c)
{
    struct pending *p = NULL;
    g_tree_foreach(c->pending, first_one, &p);
    return p;
}

/* The ack floor after pending changed: just below the oldest unacknowledged message. */
static void floor_update(struct mr_js_consumer *c)
{
    struct pending *p = pending_first(c);
    if (p == NULL) {
        c->adflr = c->dseq - 1;
        c->asflr = c->sseq > 0 ? c->sseq - 1 : 0;
        return;
    }
    c->adflr = p->dseq - 1;
    c->asflr = p->sseq - 1;
}

static void pending_remove(struct mr_js_consumer *c, uint64_t seq)
{
    g_tree_remove(c->pending, &seq);
}

/* nats-server's numPending: messages after the delivered position that the filter
 * takes (for last_per_subject, the start sequences still to go first). */
static uint64_t num_pending(struct mr_js_consumer *c)
{
    size_t flen;
    const char *f = filter(c, &flen);
    struct mr_js_filtered fs;
    if (c->lss != NULL) {
        mr_js_store_filtered(store(c), f, flen, c->lss_resume + 1, &fs);
        return (uint64_t)(c->lss_n - c->lss_i) + fs.msgs;
    }
    struct mr_js_store_state ss;
    mr_js_store_state(store(c), &ss);
    if (!c->npc_ok) {
        mr_js_store_filtered(store(c), f, flen, c->sseq, &fs);
        c->npc = fs.msgs;
        c->npcm = ss.last_seq;
        c->npc_ok = true;
    } else if (ss.last_seq > c->npcm) {
        /* Only what came since the last count. */
        uint64_t from = c->npcm + 1 > c->sseq ? c->npcm + 1 : c->sseq;
        mr_js_store_filtered(store(c), f, flen, from, &fs);
        c->npc += fs.msgs;
        c->npcm = ss.last_seq;
    }
    return c->npc;
}

/* ---- sending ---- */

static void send_status(struct mr_js_consumer *c, const char *to, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void send_status(struct mr_js_consumer *c, const char *to, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *hdr = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    c->io.send(c->io.ctx, to, NULL, (const uint8_t *)hdr, strlen(hdr), NULL, 0);
    g_free(hdr);
}

static void send_pending_status(struct mr_js_consumer *c, const struct waiting *w,
                                const char *status)
{
    send_status(c, w->reply,
                "NATS/1.0 %s\r\nNats-Pending-Messages: %lld\r\nNats-Pending-Bytes: %lld\r\n\r\n",
                status, (long long)w->n, (long long)(w->has_b ? w->b : 0));
}

static void send_heartbeat(struct mr_js_consumer *c, const char *to)
{
    GString *h = g_string_new(NULL);
    g_string_printf(h, "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: %llu\r\n"
                       "Nats-Last-Stream: %llu\r\n",
                    (unsigned long long)(c->dseq - 1),
                    (unsigned long long)(c->sseq > 0 ? c->sseq - 1 : 0));
    if (c->fcid != NULL) {
        g_string_append_printf(h, "Nats-Consumer-Stalled: %s\r\n", c->fcid);
    }
    g_string_append(h, "\r\n");
    c->io.send(c->io.ctx, to, NULL, (const uint8_t *)h->str, h->len, NULL, 0);
    g_string_free(h, TRUE);
}

static void send_flow_control(struct mr_js_consumer *c)
{
    char id[5];
    mr_js_random_id(c->env, id, 4);
    g_free(c->fcid);
    c->fcid = g_strdup_printf(FC_PREFIX "%s.%s.%s", c->stream_name, c->name, id);
    c->fcsz = c->pbytes;
    static const char hdr[] = "NATS/1.0 100 FlowControl Request\r\n\r\n";
    c->io.send(c->io.ctx, c->cfg.deliver_subject, c->fcid, (const uint8_t *)hdr,
               sizeof(hdr) - 1, NULL, 0);
}

/* MAX_DELIVERIES, MSG_NAKED and MSG_TERMINATED (consumer_seq 0 = not shown). */
static void advise(struct mr_js_consumer *c, const char *kind, const char *type, uint64_t dseq,
                   uint64_t sseq, uint64_t dc)
{
    json_t *f = json_object();
    json_object_set_new(f, "stream", json_string(c->stream_name));
    json_object_set_new(f, "consumer", json_string(c->name));
    if (dseq != 0) {
        json_object_set_new(f, "consumer_seq", json_integer((json_int_t)dseq));
    }
    json_object_set_new(f, "stream_seq", json_integer((json_int_t)sseq));
    json_object_set_new(f, "deliveries", json_integer((json_int_t)dc));
    c->io.advise(c->io.ctx, kind, type, f);
}

/* ---- picking the next message ---- */

static void copy_free(struct copy *m)
{
    g_free(m->subject);
    g_free(m->hdr);
    g_free(m->data);
    memset(m, 0, sizeof(*m));
}

static void copy_of(struct copy *out, const struct mr_js_msg *m)
{
    out->seq = m->seq;
    out->ts_ns = m->ts_ns;
    out->subject = g_strndup(m->subject, m->subject_len);
    out->hdr_len = m->hdr != NULL ? m->hdr_len : 0;
    out->hdr = out->hdr_len > 0 ? g_memdup2(m->hdr, m->hdr_len) : NULL;
    out->data_len = m->data_len;
    out->data = m->data_len > 0 ? g_memdup2(m->data, m->data_len) : NULL;
}

/* A redelivery, if one is due: 0 with the message, MR_AGAIN, or MR_E_NOT_FOUND. */
static int peek_redelivery(struct mr_js_consumer *c, struct cand *cd, struct copy *out)
{
    while (!g_queue_is_empty(&c->rdq)) {
        uint64_t seq = (uint64_t)(uintptr_t)g_queue_peek_head(&c->rdq);
        struct pending *p = pending_get(c, seq);
        if (p == NULL || !p->queued) {
            g_queue_pop_head(&c->rdq); /* acknowledged or re-armed meanwhile */
            continue;
        }
        if (c->cfg.max_deliver > 0 && p->dc >= (uint64_t)c->cfg.max_deliver) {
            /* Delivered as often as allowed: dropped from pending, not acknowledged. */
            advise(c, "MAX_DELIVERIES", "max_deliver", 0, seq, p->dc);
            g_queue_pop_head(&c->rdq);
            pending_remove(c, seq);
            uint64_t *k = g_new(uint64_t, 1);
            *k = seq;
            g_tree_replace(c->dropped, k, k);
            floor_update(c);
            continue;
        }
        struct mr_js_msg m;
        int rc = mr_js_store_load(store(c), seq, &m);
        if (rc == MR_AGAIN) {
            return MR_AGAIN;
        }
        if (rc != 0) {
            g_queue_pop_head(&c->rdq); /* gone from the stream */
            pending_remove(c, seq);
            floor_update(c);
            continue;
        }
        copy_of(out, &m);
        *cd = (struct cand){CAND_REDELIVER, seq, p->dc + 1};
        return 0;
    }
    return MR_E_NOT_FOUND;
}

static void lss_done(struct mr_js_consumer *c)
{
    if (c->sseq < c->lss_resume + 1) {
        c->sseq = c->lss_resume + 1;
    }
    g_free(c->lss);
    c->lss = NULL;
    c->lss_n = 0;
    c->lss_i = 0;
    c->npc_ok = false;
}

static int peek_lss(struct mr_js_consumer *c, struct cand *cd, struct copy *out)
{
    while (c->lss != NULL) {
        uint64_t seq = c->lss[c->lss_i];
        struct mr_js_msg m;
        int rc = mr_js_store_load(store(c), seq, &m);
        if (rc == MR_AGAIN) {
            return MR_AGAIN;
        }
        if (rc == 0) {
            copy_of(out, &m);
            *cd = (struct cand){CAND_LAST_PER_SUBJECT, seq, 1};
            return 0;
        }
        if (++c->lss_i == c->lss_n) {
            lss_done(c);
        }
    }
    return MR_E_NOT_FOUND;
}

/* The next message for this consumer: 0, MR_AGAIN (the store reads), MR_E_NOT_FOUND
 * (none yet) or MR_E_LIMIT (max_ack_pending reached). Nothing is committed. */
static int peek(struct mr_js_consumer *c, struct cand *cd, struct copy *out)
{
    int rc = peek_redelivery(c, cd, out);
    if (rc != MR_E_NOT_FOUND) {
        return rc;
    }
    rc = peek_lss(c, cd, out);
    if (rc != MR_E_NOT_FOUND) {
        return rc;
    }
    if (acks(c) && c->cfg.max_ack_pending > 0 &&
        g_tree_nnodes(c->pending) >= c->cfg.max_ack_pending) {
        return MR_E_LIMIT;
    }
    size_t flen;
    const char *f = filter(c, &flen);
    for (;;) {
        struct mr_js_msg m;
        memset(&m, 0, sizeof(m));
        rc = mr_js_store_load_next(store(c), f, flen, c->sseq, &m);
        if (rc == MR_AGAIN) {
            return MR_AGAIN;
        }
        if (rc == MR_E_IO) {
            c->sseq = m.seq + 1; /* a corrupt record is not served: skip it */
            c->npc_ok = false;
            continue;
        }
        if (rc != 0) {
            struct mr_js_store_state ss;
            mr_js_store_state(store(c), &ss);
            if (c->sseq < ss.last_seq + 1) {
                c->sseq = ss.last_seq + 1;
            }
            c->npc = 0; /* caught up: nothing is pending, whatever was counted */
            c->npcm = ss.last_seq;
            c->npc_ok = true;
            return MR_E_NOT_FOUND;
        }
        copy_of(out, &m);
        *cd = (struct cand){CAND_NEXT, m.seq, 1};
        return 0;
    }
}

static void commit(struct mr_js_consumer *c, const struct cand *cd)
{
    switch (cd->kind) {
    case CAND_REDELIVER: {
        g_queue_pop_head(&c->rdq);
        struct pending *p = pending_get(c, cd->seq);
        mr_assert(p != NULL);
        p->queued = false;
        break;
    }
    case CAND_LAST_PER_SUBJECT:
        if (c->sseq < cd->seq + 1) {
            c->sseq = cd->seq + 1;
        }
        if (++c->lss_i == c->lss_n) {
            lss_done(c);
        }
        break;
    case CAND_NEXT:
        c->sseq = cd->seq + 1;
        if (c->npc_ok && c->npc > 0) {
            c->npc--;
        }
        break;
    }
}

/* ---- pull requests ---- */

static void waiting_free(struct waiting *w)
{
    g_free(w->reply);
    g_free(w);
}

static bool interest(struct mr_js_consumer *c, const char *subject)
{
    return c->io.interest(c->io.ctx, subject);
}

/* nats-server's processWaiting: expired requests get 408 Request Timeout (at the end
 * of the stream, eos, so do no_wait requests already served), requests whose reply
 * lost its interest go quietly, heartbeats that are due go out. */
static void process_waiting(struct mr_js_consumer *c, bool eos)
{
    uint64_t now = now_ns(c);
    GList *l = c->waiting.head;
    while (l != NULL) {
        GList *next = l->next;
        struct waiting *w = l->data;
        bool expired = w->expires_ns != 0 && now >= w->expires_ns;
        if ((eos && w->no_wait && w->d > 0) || expired) {
            send_pending_status(c, w, "408 Request Timeout");
        } else if (interest(c, w->reply)) {
            if (w->hb_ns > 0 && now >= w->hb_due_ns) {
                send_heartbeat(c, w->reply);
                w->hb_due_ns = now + w->hb_ns;
            }
            l = next;
            continue;
        }
        g_queue_delete_link(&c->waiting, l);
        waiting_free(w);
        l = next;
    }
}

/* nats-server's nextWaiting: the request that takes a message of sz bytes, moved to
 * the tail when it wants more (round robin). Requests whose max_bytes the message
 * exceeds end with 409. The result is detached when it is done (the caller frees it). */
static struct waiting *next_waiting(struct mr_js_consumer *c, int64_t sz, bool *done)
{
    uint64_t now = now_ns(c);
    while (!g_queue_is_empty(&c->waiting)) {
        struct waiting *w = g_queue_pop_head(&c->waiting);
        if (w->has_b && sz > w->b) {
            send_pending_status(c, w, "409 Message Size Exceeds MaxBytes");
            waiting_free(w);
            continue;
        }
        bool live = w->expires_ns == 0 || now < w->expires_ns;
        if (!live || !interest(c, w->reply)) {
            waiting_free(w);
            continue;
        }
        if (w->has_b) {
            w->b -= sz;
            if (w->b == 0) {
                w->n = 1; /* this one fills it: stop after it */
            }
        }
        w->d++;
        w->n--;
        *done = w->n <= 0;
        if (!*done) {
            g_queue_push_tail(&c->waiting, w);
        }
        return w;
    }
    return NULL;
}

/* ---- delivery ---- */

static void convert_headers_only(struct copy *m)
{
    GString *h = g_string_new(NULL);
    if (m->hdr_len == 0) {
        g_string_append(h, "NATS/1.0\r\n");
    } else {
        g_string_append_len(h, (const char *)m->hdr, (gssize)m->hdr_len - 2);
    }
    g_string_append_printf(h, "Nats-Msg-Size: %zu\r\n\r\n", m->data_len);
    g_free(m->hdr);
    g_free(m->data);
    m->data = NULL;
    m->data_len = 0;
    m->hdr_len = h->len;
    m->hdr = (uint8_t *)g_string_free(h, FALSE);
}

static void track(struct mr_js_consumer *c, const struct cand *cd, uint64_t dseq)
{
    if (!acks(c)) {
        c->adflr = dseq;
        c->asflr = cd->seq;
        c->io.acked(c->io.ctx, cd->seq);
        return;
    }
    struct pending *p = pending_get(c, cd->seq);
    if (p == NULL) {
        p = g_new0(struct pending, 1);
        p->sseq = cd->seq;
        p->dseq = dseq;
        g_tree_insert(c->pending, &p->sseq, p);
    }
    p->dc = cd->dc;
    p->queued = false;
    p->sent_ns = now_ns(c);
    p->due_ns = p->sent_ns + ack_wait_for(c, cd->dc);
}

/* rate_limit_bps: how long a burst may run ahead of the rate, in ns. The burst is one
 * message of the stream's largest size (nats-server's limiter burst). */
static uint64_t rate_burst_ns(const struct mr_js_consumer *c)
{
    int64_t burst = mr_js_stream_cfg(c->st)->max_msg_size;
    if (burst <= 0) {
        burst = MR_JS_RATE_BURST_DEFAULT;
    }
    return (uint64_t)burst * 8 * NS_PER_S / (uint64_t)c->cfg.rate_limit_bps;
}

/* When the rate limit lets the next message go (0 = no limit). */
static uint64_t rate_next_ns(const struct mr_js_consumer *c)
{
    if (c->cfg.rate_limit_bps <= 0 || !is_push(c)) {
        return 0;
    }
    uint64_t burst = rate_burst_ns(c);
    return c->rl_tat_ns > burst ? c->rl_tat_ns - burst : 0;
}

static void rate_account(struct mr_js_consumer *c, int64_t sz)
{
    if (c->cfg.rate_limit_bps <= 0 || !is_push(c)) {
        return;
    }
    uint64_t now = now_ns(c);
    uint64_t cost = (uint64_t)sz * 8 * NS_PER_S / (uint64_t)c->cfg.rate_limit_bps;
    c->rl_tat_ns = (c->rl_tat_ns > now ? c->rl_tat_ns : now) + cost;
}

static void flow_control_account(struct mr_js_consumer *c, int64_t sz)
{
    if (c->maxpb == 0) {
        return;
    }
    c->pbytes += sz;
    if (c->fcid == NULL && c->pbytes > c->maxpb / 2) {
        send_flow_control(c);
    } else if (c->fcid != NULL && c->pbytes - c->fcsz >= c->maxpb) {
        c->fcsz += sz;
    }
}

/* The pending count an ack reply carries: what is left after this message. */
static uint64_t pending_after(struct mr_js_consumer *c, const struct cand *cd)
{
    uint64_t n = num_pending(c);
    if (cd->kind != CAND_REDELIVER && n > 0) {
        n--;
    }
    return n;
}

/* Delivers one peeked message if someone takes it; false when nobody does (pull with
 * no live request): then nothing is committed. */
static bool deliver(struct mr_js_consumer *c, const struct cand *cd, struct copy *m)
{
    if (c->cfg.headers_only) {
        convert_headers_only(m);
    }
    char *ack = g_strdup_printf(ACK_PREFIX "%s.%s.%llu.%llu.%llu.%lld.%llu", c->stream_name,
                                c->name, (unsigned long long)cd->dc, (unsigned long long)cd->seq,
                                (unsigned long long)c->dseq, (long long)m->ts_ns,
                                (unsigned long long)pending_after(c, cd));
    int64_t sz = (int64_t)(strlen(m->subject) + strlen(ack) + m->hdr_len + m->data_len);
    struct waiting *w = NULL;
    bool done = false;
    const char *to = c->cfg.deliver_subject;
    if (!is_push(c)) {
        w = next_waiting(c, sz, &done);
        if (w == NULL) {
            g_free(ack);
            return false;
        }
        to = w->reply;
    }
    commit(c, cd);
    uint64_t dseq = c->dseq++;
    char *reply = g_strdup_printf("%s@%s", ack, m->subject);
    c->io.send(c->io.ctx, to, reply, m->hdr, m->hdr_len, m->data, m->data_len);
    g_free(reply);
    g_free(ack);
    uint64_t now = now_ns(c);
    if (w != NULL && done) {
        waiting_free(w);
    } else if (w != NULL && w->hb_ns > 0) {
        w->hb_due_ns = now + w->hb_ns;
    }
    if (!is_push(c)) {
        c->last_active_ns = now;
    }
    c->hb_due_ns = now + (uint64_t)c->cfg.idle_heartbeat_ns;
    c->ldt_wall = wall_ns(c);
    track(c, cd, dseq);
    flow_control_account(c, sz);
    rate_account(c, sz);
    c->io.dirty(c->io.ctx);
    return true;
}

/* ---- the delivery loop and the timer ---- */

static uint64_t earlier(uint64_t a, uint64_t b)
{
    if (a == 0) {
        return b;
    }
    return b != 0 && b < a ? b : a;
}

static gboolean min_due(gpointer key, gpointer value, gpointer data)
{
    (void)key;
    const struct pending *p = value;
    uint64_t *due = data;
    if (!p->queued) {
        *due = earlier(*due, p->due_ns);
    }
    return FALSE;
}

static uint64_t threshold_ns(const struct mr_js_consumer *c)
{
    return c->cfg.inactive_threshold_ns > 0 ? (uint64_t)c->cfg.inactive_threshold_ns : 0;
}

/* When the consumer next has something to do on its own. */
static uint64_t next_deadline(struct mr_js_consumer *c)
{
    uint64_t now = now_ns(c);
    uint64_t due = c->more ? now : 0;
    due = earlier(due, c->replay_hold_ns);
    if (is_push(c) && c->active && rate_next_ns(c) > now) {
        due = earlier(due, rate_next_ns(c)); /* the rate limit holds the rest back */
    }
    g_tree_foreach(c->pending, min_due, &due);
    for (GList *l = c->waiting.head; l != NULL; l = l->next) {
        const struct waiting *w = l->data;
        due = earlier(due, w->expires_ns);
        due = earlier(due, w->hb_ns > 0 ? w->hb_due_ns : 0);
    }
    if (is_push(c) && c->active && c->cfg.idle_heartbeat_ns > 0) {
        due = earlier(due, c->hb_due_ns);
    }
    if (is_push(c) && !c->active) {
        due = earlier(due, now + MR_JS_INTEREST_POLL_NS);
    }
    bool idle = is_push(c) ? !c->active : g_queue_is_empty(&c->waiting);
    if (idle && threshold_ns(c) > 0) {
        due = earlier(due, c->last_active_ns + threshold_ns(c));
    }
    return due;
}

static void rearm(struct mr_js_consumer *c)
{
    uint64_t due = next_deadline(c);
    if (due != c->armed_ns) {
        c->armed_ns = due;
        c->io.arm(c->io.ctx, due);
    }
}

/* Push: follows the deliver subject's interest. */
static void push_interest(struct mr_js_consumer *c)
{
    bool now_active = interest(c, c->cfg.deliver_subject);
    if (c->active && !now_active) {
        c->last_active_ns = now_ns(c);
    }
    if (!c->active && now_active) {
        c->hb_due_ns = now_ns(c) + (uint64_t)c->cfg.idle_heartbeat_ns;
    }
    c->active = now_active;
}

/* replay_policy original: whether m must wait for its original spacing (nats-server
 * waits only for gaps over a millisecond, and only while catching up). */
static bool replay_hold(struct mr_js_consumer *c, const struct cand *cd, const struct copy *m)
{
    c->replay_hold_ns = 0;
    if (c->replay_until == 0 || cd->seq > c->replay_until) {
        return false;
    }
    uint64_t now = now_ns(c);
    if (c->replay_lts != 0 && m->ts_ns - c->replay_lts > NS_PER_MS &&
        now < c->replay_sent_ns + (uint64_t)(m->ts_ns - c->replay_lts)) {
        c->replay_hold_ns = c->replay_sent_ns + (uint64_t)(m->ts_ns - c->replay_lts);
        return true;
    }
    c->replay_lts = m->ts_ns;
    c->replay_sent_ns = now;
    return false;
}

static bool can_send(const struct mr_js_consumer *c)
{
    if (is_push(c)) {
        return c->active && (c->maxpb == 0 || c->pbytes <= c->maxpb) &&
               rate_next_ns(c) <= now_ns(c);
    }
    return c->waiting.length > 0;
}

void mr_js_consumer_pump(struct mr_js_consumer *c)
{
    if (is_push(c)) {
        push_interest(c);
    }
    c->more = false;
    uint32_t budget = MR_JS_DELIVER_BATCH_MAX;
    while (can_send(c)) {
        if (budget-- == 0) {
            c->more = true; /* the rest on the timer, right after other inputs */
            break;
        }
        struct cand cd;
        struct copy m = {0};
        int rc = peek(c, &cd, &m);
        if (rc == MR_E_NOT_FOUND && !is_push(c)) {
            process_waiting(c, true);
        }
        if (rc != 0) {
            break; /* MR_AGAIN: the owner pumps again when the store has read */
        }
        if (replay_hold(c, &cd, &m)) {
            copy_free(&m);
            break; /* its time comes on the timer */
        }
        bool sent = deliver(c, &cd, &m);
        copy_free(&m);
        if (!sent) {
            break;
        }
    }
    rearm(c);
}

struct due_ctx {
    uint64_t now;
    uint64_t first_seq;
    GArray *due;  /* uint64 sequences to redeliver, in order */
    GArray *gone; /* below the stream's first sequence */
};

static gboolean collect_due(gpointer key, gpointer value, gpointer data)
{
    (void)key;
    struct pending *p = value;
    struct due_ctx *d = data;
    if (p->sseq < d->first_seq) {
        g_array_append_val(d->gone, p->sseq);
    } else if (!p->queued && p->due_ns <= d->now) {
        g_array_append_val(d->due, p->sseq);
    }
    return FALSE;
}

/* Queues the pending messages whose ack wait passed, oldest first; forgets those the
 * stream no longer has. */
static void check_pending_at(struct mr_js_consumer *c, uint64_t now)
{
    struct mr_js_store_state ss;
    mr_js_store_state(store(c), &ss);
    struct due_ctx d = {now, ss.msgs > 0 ? ss.first_seq : ss.last_seq + 1,
                        g_array_new(FALSE, FALSE, sizeof(uint64_t)),
                        g_array_new(FALSE, FALSE, sizeof(uint64_t))};
    g_tree_foreach(c->pending, collect_due, &d);
    while (g_tree_nnodes(c->dropped) > 0) {
        uint64_t *k = NULL;
        g_tree_foreach(c->dropped, first_key, &k);
        if (*k >= d.first_seq) {
            break;
        }
        g_tree_remove(c->dropped, k);
    }
    for (guint i = 0; i < d.due->len; i++) {
        uint64_t seq = g_array_index(d.due, uint64_t, i);
        pending_get(c, seq)->queued = true;
        g_queue_push_tail(&c->rdq, (gpointer)(uintptr_t)seq);
    }
    for (guint i = 0; i < d.gone->len; i++) {
        pending_remove(c, g_array_index(d.gone, uint64_t, i));
    }
    if (d.gone->len > 0) {
        floor_update(c);
        c->io.dirty(c->io.ctx);
    }
    g_array_free(d.due, TRUE);
    g_array_free(d.gone, TRUE);
}

static void check_pending(struct mr_js_consumer *c)
{
    check_pending_at(c, now_ns(c));
}

bool mr_js_consumer_on_timer(struct mr_js_consumer *c)
{
    c->armed_ns = 0;
    uint64_t now = now_ns(c);
    if (!is_push(c)) {
        process_waiting(c, false);
    } else {
        push_interest(c);
        if (c->active && c->cfg.idle_heartbeat_ns > 0 && now >= c->hb_due_ns) {
            send_heartbeat(c, c->cfg.deliver_subject);
            c->hb_due_ns = now + (uint64_t)c->cfg.idle_heartbeat_ns;
        }
    }
    check_pending(c);
    bool idle = is_push(c) ? !c->active : g_queue_is_empty(&c->waiting);
    if (idle && threshold_ns(c) > 0 && now >= c->last_active_ns + threshold_ns(c)) {
        return true;
    }
    mr_js_consumer_pump(c);
    return false;
}

/* ---- acks ---- */

/* Go's time.ParseDuration for the forms a NAK delay takes ("5s", "1.5m", "300ms"). */
static bool parse_duration(const char *s, size_t len, int64_t *out)
{
    static const struct {
        const char *unit;
        double ns;
    } units[] = {{"ns", 1}, {"us", 1e3}, {"µs", 1e3}, {"ms", 1e6},
                 {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
    char buf[64];
    if (len == 0 || len >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    double total = 0;
    const char *p = buf;
    while (*p != '\0') {
        char *end = NULL;
        double v = g_ascii_strtod(p, &end);
        if (end == p || v < 0) {
            return false;
        }
        size_t best = 0;
        size_t best_len = 0;
        for (size_t i = 0; i < G_N_ELEMENTS(units); i++) {
            size_t ul = strlen(units[i].unit);
            if (strncmp(end, units[i].unit, ul) == 0 && ul > best_len) {
                best = i;
                best_len = ul;
            }
        }
        if (best_len == 0) {
            return false;
        }
        total += v * units[best].ns;
        p = end + best_len;
    }
    *out = (int64_t)total;
    return true;
}

/* -NAK's optional delay: {"delay":ns} or a duration; false when none or unreadable. */
static bool nak_delay(const uint8_t *arg, size_t len, int64_t *delay)
{
    while (len > 0 && (*arg == ' ' || *arg == '\t')) {
        arg++;
        len--;
    }
    while (len > 0 && (arg[len - 1] == ' ' || arg[len - 1] == '\r' || arg[len - 1] == '\n')) {
        len--;
    }
    if (len == 0) {
        return false;
    }
    if (arg[0] != '{') {
        return parse_duration((const char *)arg, len, delay);
    }
    json_t *o = json_loadb((const char *)arg, len, 0, NULL);
    json_t *d = json_is_object(o) ? json_object_get(o, "delay") : NULL;
    bool ok = json_is_integer(d);
    if (ok) {
        *delay = (int64_t)json_integer_value(d);
    }
    json_decref(o);
    return ok;
}

/* Sequences from an ack subject: $JS.ACK.<s>.<c>.<dc>.<sseq>.<dseq>.<ts>.<pending>. */
static bool ack_info(const char *subject, uint64_t *sseq, uint64_t *dseq, uint64_t *dc)
{
    gchar **t = g_strsplit(subject, ".", 0);
    bool ok = g_strv_length(t) == 9 && strcmp(t[0], "$JS") == 0 && strcmp(t[1], "ACK") == 0;
    uint64_t v[3] = {0};
    for (int i = 0; ok && i < 3; i++) {
        ok = g_ascii_string_to_unsigned(t[4 + i], 10, 0, UINT64_MAX, &v[i], NULL);
    }
    g_strfreev(t);
    *dc = v[0];
    *sseq = v[1];
    *dseq = v[2];
    return ok;
}

/* sample_freq: nats-server's shouldSample, on the env's randomness. */
static bool should_sample(struct mr_js_consumer *c)
{
    if (c->cfg.sample_freq == NULL) {
        return false;
    }
    long freq = strtol(c->cfg.sample_freq, NULL, 10);
    if (freq <= 0) {
        return false;
    }
    if (freq >= 100) {
        return true;
    }
    uint8_t r;
    c->env->random(c->env->ctx, &r, 1);
    return r % 100 <= freq;
}

/* $JS.EVENT.METRIC.CONSUMER.ACK: how long an acknowledged message took. */
static void ack_metric(struct mr_js_consumer *c, const struct pending *p)
{
    if (!should_sample(c)) {
        return;
    }
    json_t *f = json_object();
    json_object_set_new(f, "stream", json_string(c->stream_name));
    json_object_set_new(f, "consumer", json_string(c->name));
    json_object_set_new(f, "consumer_seq", json_integer((json_int_t)p->dseq));
    json_object_set_new(f, "stream_seq", json_integer((json_int_t)p->sseq));
    json_object_set_new(f, "ack_time", json_integer((json_int_t)(now_ns(c) - p->sent_ns)));
    json_object_set_new(f, "deliveries", json_integer((json_int_t)p->dc));
    c->io.metric(c->io.ctx, f);
}

static void ack_explicit(struct mr_js_consumer *c, uint64_t sseq, bool sample)
{
    g_tree_remove(c->dropped, &sseq);
    struct pending *p = pending_get(c, sseq);
    if (p == NULL) {
        return;
    }
    if (sample) {
        ack_metric(c, p);
    }
    pending_remove(c, sseq);
    floor_update(c);
    c->io.acked(c->io.ctx, sseq);
}

struct below_ctx {
    uint64_t upto;
    GArray *seqs;
};

static gboolean collect_below(gpointer key, gpointer value, gpointer data)
{
    (void)value;
    struct below_ctx *b = data;
    uint64_t seq = *(const uint64_t *)key;
    if (seq > b->upto) {
        return TRUE;
    }
    g_array_append_val(b->seqs, seq);
    return FALSE;
}

static void ack_all(struct mr_js_consumer *c, uint64_t sseq, uint64_t dseq)
{
    if (dseq <= c->adflr || sseq <= c->asflr) {
        return;
    }
    uint64_t from = c->asflr + 1;
    struct below_ctx b = {sseq, g_array_new(FALSE, FALSE, sizeof(uint64_t))};
    g_tree_foreach(c->pending, collect_below, &b);
    for (guint i = 0; i < b.seqs->len; i++) {
        pending_remove(c, g_array_index(b.seqs, uint64_t, i));
    }
    g_array_free(b.seqs, TRUE);
    c->adflr = dseq;
    c->asflr = sseq;
    for (uint64_t s = from; s <= sseq; s++) {
        c->io.acked(c->io.ctx, s);
    }
}

/* nats-server's processAckMsg. */
static void process_ack(struct mr_js_consumer *c, uint64_t sseq, uint64_t dseq, bool sample)
{
    if (c->cfg.ack_policy == MR_JS_ACK_NONE) {
        return;
    }
    bool was_full = c->cfg.max_ack_pending > 0 &&
                    g_tree_nnodes(c->pending) >= c->cfg.max_ack_pending;
    if (c->cfg.ack_policy == MR_JS_ACK_EXPLICIT) {
        ack_explicit(c, sseq, sample);
    } else {
        ack_all(c, sseq, dseq);
    }
    c->lat_wall = wall_ns(c);
    c->io.dirty(c->io.ctx);
    if (was_full) {
        mr_js_consumer_pump(c);
    }
}

static void process_nak(struct mr_js_consumer *c, uint64_t sseq, uint64_t dseq,
                        const uint8_t *arg, size_t len)
{
    struct pending *p = pending_get(c, sseq);
    if (dseq <= c->adflr || dseq >= c->dseq || p == NULL) {
        return;
    }
    advise(c, "MSG_NAKED", "nak", dseq, sseq, p->dc);
    int64_t delay = 0;
    if (nak_delay(arg, len, &delay)) {
        p->queued = false; /* off the queue: the delay decides */
        p->due_ns = now_ns(c) + (delay > 0 ? (uint64_t)delay : 0);
        rearm(c);
        return;
    }
    if (!p->queued) {
        p->queued = true;
        g_queue_push_tail(&c->rdq, (gpointer)(uintptr_t)sseq);
    }
    mr_js_consumer_pump(c);
}

static void process_progress(struct mr_js_consumer *c, uint64_t sseq)
{
    struct pending *p = pending_get(c, sseq);
    if (p != NULL) {
        p->queued = false;
        p->due_ns = now_ns(c) + ack_wait_for(c, p->dc);
        rearm(c);
    }
}

static bool body_is(const uint8_t *b, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(b, word, len) == 0;
}

static bool body_starts(const uint8_t *b, size_t len, const char *word)
{
    return len >= strlen(word) && memcmp(b, word, strlen(word)) == 0;
}

void mr_js_consumer_on_ack(struct mr_js_consumer *c, const char *subject, const char *reply,
                           const uint8_t *body, size_t len)
{
    uint64_t sseq;
    uint64_t dseq;
    uint64_t dc;
    if (!ack_info(subject, &sseq, &dseq, &dc)) {
        return; /* not an ack reply this server made: nothing to act on */
    }
    bool confirm = reply != NULL && reply[0] != '\0';
    if (len == 0 || body_is(body, len, "+ACK") || body_is(body, len, "+OK")) {
        process_ack(c, sseq, dseq, true);
    } else if (body_starts(body, len, "+NXT")) {
        process_ack(c, sseq, dseq, true);
        if (confirm) {
            mr_js_consumer_on_next(c, reply, body + 4, len - 4);
        }
        confirm = false; /* the messages are the answer */
    } else if (body_starts(body, len, "-NAK")) {
        process_nak(c, sseq, dseq, body + 4, len - 4);
    } else if (body_is(body, len, "+WPI")) {
        process_progress(c, sseq);
    } else if (body_starts(body, len, "+TERM")) {
        process_ack(c, sseq, dseq, false); /* no more redeliveries */
        advise(c, "MSG_TERMINATED", "terminated", dseq, sseq, dc);
    }
    if (confirm) {
        c->io.send(c->io.ctx, reply, NULL, NULL, 0, NULL, 0);
    }
}

void mr_js_consumer_on_fc(struct mr_js_consumer *c, const char *subject)
{
    if (c->fcid == NULL || strcmp(subject, c->fcid) != 0) {
        return; /* not the latest request: ignored, as nats-server does */
    }
    if (c->maxpb < MR_JS_FC_MAX_PENDING) {
        c->maxpb = c->maxpb * 2 < MR_JS_FC_MAX_PENDING ? c->maxpb * 2 : MR_JS_FC_MAX_PENDING;
    }
    c->pbytes = c->pbytes > c->fcsz ? c->pbytes - c->fcsz : 0;
    g_free(c->fcid);
    c->fcid = NULL;
    c->fcsz = 0;
    mr_js_consumer_pump(c);
}

/* ---- pull requests ---- */

struct next_req {
    int64_t batch;
    int64_t expires_ns;
    int64_t max_bytes;
    bool no_wait;
    int64_t hb_ns;
};

/* nats-server's nextReqFromMsg: empty = one message, a number = a batch, or JSON.
 * Returns NULL, or the text after "Bad Request - ". */
static const char *next_req_decode(const uint8_t *body, size_t len, struct next_req *r)
{
    memset(r, 0, sizeof(*r));
    r->batch = 1;
    while (len > 0 && g_ascii_isspace(*body)) {
        body++;
        len--;
    }
    while (len > 0 && g_ascii_isspace(body[len - 1])) {
        len--;
    }
    if (len == 0) {
        return NULL;
    }
    if (body[0] != '{') {
        char buf[32];
        guint64 v;
        if (len < sizeof(buf)) {
            memcpy(buf, body, len);
            buf[len] = '\0';
            if (g_ascii_string_to_unsigned(buf, 10, 0, INT32_MAX, &v, NULL)) {
                r->batch = (int64_t)v;
            }
        }
        return NULL;
    }
    json_t *o = json_loadb((const char *)body, len, 0, NULL);
    r->batch = 0;
    bool ok = json_is_object(o) && mr_js_json_int(o, "batch", &r->batch) &&
              mr_js_json_int(o, "expires", &r->expires_ns) &&
              mr_js_json_int(o, "max_bytes", &r->max_bytes) &&
              mr_js_json_bool(o, "no_wait", &r->no_wait) &&
              mr_js_json_int(o, "idle_heartbeat", &r->hb_ns);
    json_decref(o);
    if (!ok) {
        return "invalid JSON";
    }
    if (r->hb_ns > 0 && r->hb_ns * HB_PER_EXPIRY > r->expires_ns) {
        return "heartbeat value too large";
    }
    return NULL;
}

/* The request limits of the consumer's configuration; false when a 409 went out. */
static bool next_req_limits(struct mr_js_consumer *c, const char *reply, const struct next_req *r)
{
    if (c->cfg.max_batch > 0 && r->batch > c->cfg.max_batch) {
        send_status(c, reply, "NATS/1.0 409 Exceeded MaxRequestBatch of %lld\r\n\r\n",
                    (long long)c->cfg.max_batch);
        return false;
    }
    if (r->expires_ns > 0 && c->cfg.max_expires_ns > 0 && r->expires_ns > c->cfg.max_expires_ns) {
        char d[32];
        (void)snprintf(d, sizeof(d), "%gs", (double)c->cfg.max_expires_ns / NS_PER_S);
        send_status(c, reply, "NATS/1.0 409 Exceeded MaxRequestExpires of %s\r\n\r\n", d);
        return false;
    }
    if (r->max_bytes > 0 && c->cfg.max_bytes > 0 && r->max_bytes > c->cfg.max_bytes) {
        send_status(c, reply, "NATS/1.0 409 Exceeded MaxRequestMaxBytes of %lld\r\n\r\n",
                    (long long)c->cfg.max_bytes);
        return false;
    }
    return true;
}

static int64_t batch_pending(const struct mr_js_consumer *c)
{
    int64_t n = 0;
    for (GList *l = c->waiting.head; l != NULL; l = l->next) {
        n += ((const struct waiting *)l->data)->n;
    }
    return n;
}

/* no_wait's immediate answers; false when one went out. */
static bool no_wait_check(struct mr_js_consumer *c, const char *reply, const struct next_req *r)
{
    uint64_t avail = num_pending(c) + g_queue_get_length(&c->rdq);
    if (avail == 0 && r->expires_ns == 0) {
        c->last_active_ns = now_ns(c);
        send_status(c, reply, "NATS/1.0 404 No Messages\r\n\r\n");
        return false;
    }
    if (avail > 0) {
        process_waiting(c, false);
        if (avail < (uint64_t)batch_pending(c)) {
            c->last_active_ns = now_ns(c);
            send_status(c, reply, "NATS/1.0 408 Requests Pending\r\n\r\n");
            return false;
        }
    }
    return true;
}

void mr_js_consumer_on_next(struct mr_js_consumer *c, const char *reply, const uint8_t *body,
                            size_t len)
{
    if (reply == NULL || reply[0] == '\0') {
        return;
    }
    if (is_push(c)) {
        send_status(c, reply, "NATS/1.0 409 Consumer is push based\r\n\r\n");
        return;
    }
    struct next_req r;
    const char *bad = next_req_decode(body, len, &r);
    if (bad != NULL) {
        send_status(c, reply, "NATS/1.0 400 Bad Request - %s\r\n\r\n", bad);
        return;
    }
    if (!next_req_limits(c, reply, &r)) {
        return;
    }
    if ((int64_t)g_queue_get_length(&c->waiting) >= c->cfg.max_waiting) {
        process_waiting(c, false);
    }
    if (r.no_wait && !no_wait_check(c, reply, &r)) {
        return;
    }
    if ((int64_t)g_queue_get_length(&c->waiting) >= c->cfg.max_waiting) {
        send_status(c, reply, "NATS/1.0 409 Exceeded MaxWaiting\r\n\r\n");
        return;
    }
    uint64_t now = now_ns(c);
    struct waiting *w = g_new0(struct waiting, 1);
    w->reply = g_strdup(reply);
    w->n = r.batch > 0 ? r.batch : 1;
    w->has_b = r.max_bytes > 0;
    w->b = r.max_bytes;
    w->no_wait = r.no_wait;
    w->expires_ns = r.expires_ns > 0 ? now + (uint64_t)r.expires_ns : 0;
    w->hb_ns = r.hb_ns > 0 ? (uint64_t)r.hb_ns : 0;
    w->hb_due_ns = now + w->hb_ns;
    g_queue_push_tail(&c->waiting, w);
    c->last_active_ns = now;
    mr_js_consumer_pump(c);
}

void mr_js_consumer_on_delete(struct mr_js_consumer *c)
{
    while (!g_queue_is_empty(&c->waiting)) {
        struct waiting *w = g_queue_pop_head(&c->waiting);
        send_status(c, w->reply, "NATS/1.0 409 Consumer Deleted\r\n\r\n");
        waiting_free(w);
    }
}

static gboolean collect_above(gpointer key, gpointer value, gpointer data)
{
    (void)value;
    struct below_ctx *b = data;
    uint64_t seq = *(const uint64_t *)key;
    if (seq > b->upto) {
        g_array_append_val(b->seqs, seq);
    }
    return FALSE;
}

/* The stream lost its tail (a crash before a sync, with interval sync): positions and
 * pending acks past its last message describe messages that are gone, and the
 * sequences will be used again by new messages, which must not be skipped. */
static void clamp_to_last(struct mr_js_consumer *c, uint64_t last)
{
    struct below_ctx b = {last, g_array_new(FALSE, FALSE, sizeof(uint64_t))};
    g_tree_foreach(c->pending, collect_above, &b);
    for (guint i = 0; i < b.seqs->len; i++) {
        pending_remove(c, g_array_index(b.seqs, uint64_t, i));
    }
    g_array_free(b.seqs, TRUE);
    c->sseq = last + 1;
    if (c->asflr > last) {
        c->asflr = last;
    }
}

void mr_js_consumer_on_purge(struct mr_js_consumer *c)
{
    struct mr_js_store_state ss;
    mr_js_store_state(store(c), &ss);
    uint64_t first = ss.msgs > 0 ? ss.first_seq : ss.last_seq + 1;
    if (c->sseq < first) {
        c->sseq = first;
    }
    if (c->sseq > ss.last_seq + 1 && c->lss == NULL) {
        clamp_to_last(c, ss.last_seq);
        c->io.dirty(c->io.ctx);
    }
    c->npc_ok = false;
    check_pending(c);
    floor_update(c);
    mr_js_consumer_pump(c);
}

bool mr_js_consumer_takes(const struct mr_js_consumer *c, const char *subject, size_t len)
{
    const char *f = c->cfg.filter_subject;
    return f == NULL || mr_subject_matches(f, strlen(f), subject, len);
}

bool mr_js_consumer_needs_ack(const struct mr_js_consumer *c, uint64_t seq, const char *subject)
{
    if (!mr_js_consumer_takes(c, subject, strlen(subject))) {
        return false;
    }
    if (seq <= c->asflr) {
        return false;
    }
    if (c->cfg.ack_policy != MR_JS_ACK_EXPLICIT || seq >= c->sseq) {
        return true;
    }
    return pending_get(c, seq) != NULL;
}

/* ---- info and persistence ---- */

static json_t *seq_info(uint64_t cseq, uint64_t sseq, int64_t last_wall)
{
    json_t *o = json_object();
    json_object_set_new(o, "consumer_seq", json_integer((json_int_t)cseq));
    json_object_set_new(o, "stream_seq", json_integer((json_int_t)sseq));
    if (last_wall != 0) {
        char t[64];
        mr_js_time_format(last_wall, t, sizeof(t));
        json_object_set_new(o, "last_active", json_string(t));
    }
    return o;
}

static gboolean count_redelivered(gpointer key, gpointer value, gpointer data)
{
    (void)key;
    if (((const struct pending *)value)->dc > 1) {
        (*(uint64_t *)data)++;
    }
    return FALSE;
}

json_t *mr_js_consumer_info_json(struct mr_js_consumer *c)
{
    if (!is_push(c)) {
        process_waiting(c, false);
    } else {
        push_interest(c);
    }
    json_t *o = json_object();
    char t[64];
    json_object_set_new(o, "stream_name", json_string(c->stream_name));
    json_object_set_new(o, "name", json_string(c->name));
    mr_js_time_format(c->created_ns, t, sizeof(t));
    json_object_set_new(o, "created", json_string(t));
    json_object_set_new(o, "config", mr_js_consumer_cfg_json(&c->cfg));
    json_object_set_new(o, "delivered",
                        seq_info(c->dseq - 1, c->sseq > 0 ? c->sseq - 1 : 0, c->ldt_wall));
    json_object_set_new(o, "ack_floor", seq_info(c->adflr, c->asflr, c->lat_wall));
    uint64_t redelivered = (uint64_t)g_tree_nnodes(c->dropped);
    g_tree_foreach(c->pending, count_redelivered, &redelivered);
    json_object_set_new(o, "num_ack_pending", json_integer(g_tree_nnodes(c->pending)));
    json_object_set_new(o, "num_redelivered", json_integer((json_int_t)redelivered));
    json_object_set_new(o, "num_waiting", json_integer(g_queue_get_length(&c->waiting)));
    json_object_set_new(o, "num_pending", json_integer((json_int_t)num_pending(c)));
    if (is_push(c) && c->active) {
        json_object_set_new(o, "push_bound", json_true());
    }
    return o;
}

static gboolean save_pending(gpointer key, gpointer value, gpointer data)
{
    (void)key;
    const struct pending *p = value;
    json_t *e = json_pack("[I,I,I]", (json_int_t)p->sseq, (json_int_t)p->dseq,
                          (json_int_t)p->dc);
    json_array_append_new(data, e);
    return FALSE;
}

json_t *mr_js_consumer_save_json(const struct mr_js_consumer *c)
{
    json_t *pend = json_array();
    g_tree_foreach(c->pending, save_pending, pend);
    json_t *state = json_pack("{s:I,s:I,s:I,s:I,s:o}", "sseq", (json_int_t)c->sseq, "dseq",
                              (json_int_t)c->dseq, "adflr", (json_int_t)c->adflr, "asflr",
                              (json_int_t)c->asflr, "pending", pend);
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "config", mr_js_consumer_cfg_json(&c->cfg));
    json_object_set_new(o, "created", json_integer(c->created_ns));
    json_object_set_new(o, "state", state);
    return o;
}

static bool restore_pending(struct mr_js_consumer *c, json_t *arr)
{
    uint64_t now = now_ns(c);
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        json_int_t s = 0;
        json_int_t d = 0;
        json_int_t dc = 0;
        if (json_unpack(e, "[III]", &s, &d, &dc) != 0 || s <= 0 || d <= 0 || dc <= 0 ||
            (uint64_t)s >= c->sseq || (uint64_t)d >= c->dseq || !acks(c)) {
            return false;
        }
        struct pending *p = g_new0(struct pending, 1);
        p->sseq = (uint64_t)s;
        p->dseq = (uint64_t)d;
        p->dc = (uint64_t)dc;
        /* Unacknowledged across the restart: redelivered once a full ack wait passed. */
        p->due_ns = now + ack_wait_for(c, p->dc);
        g_tree_replace(c->pending, &p->sseq, p);
    }
    return true;
}

bool mr_js_consumer_restore(struct mr_js_consumer *c, json_t *state)
{
    json_int_t sseq = 0;
    json_int_t dseq = 0;
    json_int_t adflr = 0;
    json_int_t asflr = 0;
    json_t *pend = NULL;
    if (json_unpack(state, "{s:I,s:I,s:I,s:I,s:o}", "sseq", &sseq, "dseq", &dseq, "adflr",
                    &adflr, "asflr", &asflr, "pending", &pend) != 0 ||
        sseq <= 0 || dseq <= 0 || adflr < 0 || asflr < 0 || adflr >= dseq || asflr >= sseq ||
        !json_is_array(pend)) {
        return false;
    }
    g_free(c->lss);
    c->lss = NULL;
    c->lss_n = 0;
    c->lss_i = 0;
    c->sseq = (uint64_t)sseq;
    c->dseq = (uint64_t)dseq;
    c->npc_ok = false;
    c->adflr = (uint64_t)adflr;
    c->asflr = (uint64_t)asflr;
    return restore_pending(c, pend);
}

/* ---- lifecycle ---- */

struct lss_ctx {
    struct mr_js_consumer *c;
    GArray *seqs;
};

static void lss_add(void *ctx, const char *subject, size_t len, uint64_t count)
{
    (void)count;
    struct lss_ctx *l = ctx;
    uint64_t seq = mr_js_store_last_of(store(l->c), subject, len);
    if (seq > 0) {
        g_array_append_val(l->seqs, seq);
    }
}

static gint u64_cmp(gconstpointer a, gconstpointer b)
{
    return seq_cmp(a, b, NULL);
}

static void start_last_per_subject(struct mr_js_consumer *c, uint64_t last_seq)
{
    size_t flen;
    const char *f = filter(c, &flen);
    struct lss_ctx l = {c, g_array_new(FALSE, FALSE, sizeof(uint64_t))};
    (void)mr_js_store_subjects(store(c), f, flen, lss_add, &l);
    g_array_sort(l.seqs, u64_cmp);
    if (l.seqs->len == 0) {
        c->sseq = last_seq;
        g_array_free(l.seqs, TRUE);
        return;
    }
    c->lss_n = l.seqs->len;
    c->lss = (uint64_t *)(void *)g_array_free(l.seqs, FALSE);
    c->lss_i = 0;
    c->lss_resume = last_seq;
    c->sseq = c->lss[0];
}

/* nats-server's selectStartingSeqNo. */
static void select_start(struct mr_js_consumer *c)
{
    struct mr_js_store_state ss;
    mr_js_store_state(store(c), &ss);
    size_t flen;
    const char *f = filter(c, &flen);
    const struct mr_js_consumer_cfg *cfg = &c->cfg;
    if (cfg->opt_start_seq > 0) {
        c->sseq = cfg->opt_start_seq;
    } else if (cfg->deliver_policy == MR_JS_DELIVER_ALL) {
        c->sseq = ss.first_seq;
    } else if (cfg->deliver_policy == MR_JS_DELIVER_LAST) {
        struct mr_js_filtered fs;
        mr_js_store_filtered(store(c), f, flen, 1, &fs);
        c->sseq = f != NULL ? fs.last_seq : ss.last_seq;
    } else if (cfg->deliver_policy == MR_JS_DELIVER_LAST_PER_SUBJECT) {
        start_last_per_subject(c, ss.last_seq);
    } else if (cfg->deliver_policy == MR_JS_DELIVER_BY_START_TIME) {
        c->sseq = mr_js_store_seq_from_time(store(c), cfg->opt_start_time_ns);
    } else {
        c->sseq = ss.last_seq + 1;
    }
    if (ss.first_seq == 0 && ss.last_seq == 0) {
        c->sseq = 1;
    } else if (c->sseq < ss.first_seq) {
        c->sseq = ss.first_seq;
    } else if (c->sseq > ss.last_seq) {
        c->sseq = ss.last_seq + 1;
    }
    c->dseq = 1;
    c->adflr = 0;
    c->asflr = c->sseq - 1;
    if (c->cfg.replay_policy == 1 && ss.last_seq >= c->sseq) {
        c->replay_until = ss.last_seq;
    }
}

static void pending_free(gpointer p)
{
    g_free(p);
}

struct mr_js_consumer *mr_js_consumer_create(const struct mr_env *env, struct mr_js_stream *st,
                                             const char *stream_name, const char *name,
                                             const struct mr_js_consumer_cfg *cfg,
                                             int64_t created_ns,
                                             const struct mr_js_consumer_io *io)
{
    mr_assert(name != NULL && name[0] != '\0');
    mr_assert(io->send != NULL && io->arm != NULL);
    struct mr_js_consumer *c = g_new0(struct mr_js_consumer, 1);
    c->env = env;
    c->st = st;
    c->stream_name = g_strdup(stream_name);
    c->name = g_strdup(name);
    mr_js_consumer_cfg_copy(&c->cfg, cfg);
    c->io = *io;
    c->created_ns = created_ns;
    c->pending = g_tree_new_full(seq_cmp, NULL, NULL, pending_free);
    c->dropped = g_tree_new_full(seq_cmp, NULL, g_free, NULL);
    g_queue_init(&c->rdq);
    g_queue_init(&c->waiting);
    c->last_active_ns = now_ns(c);
    if (is_push(c) && c->cfg.flow_control) {
        c->maxpb = MR_JS_FC_MAX_PENDING / 16;
    }
    select_start(c);
    return c;
}

void mr_js_consumer_destroy(struct mr_js_consumer *c)
{
    if (c == NULL) {
        return;
    }
    if (c->armed_ns != 0) {
        c->io.arm(c->io.ctx, 0);
    }
    while (!g_queue_is_empty(&c->waiting)) {
        waiting_free(g_queue_pop_head(&c->waiting));
    }
    g_queue_clear(&c->rdq);
    g_tree_destroy(c->pending);
    g_tree_destroy(c->dropped);
    g_free(c->lss);
    g_free(c->fcid);
    mr_js_consumer_cfg_free(&c->cfg);
    g_free(c->stream_name);
    g_free(c->name);
    g_free(c);
}

const char *mr_js_consumer_name(const struct mr_js_consumer *c)
{
    return c->name;
}

const struct mr_js_consumer_cfg *mr_js_consumer_cfg(const struct mr_js_consumer *c)
{
    return &c->cfg;
}

bool mr_js_consumer_is_durable(const struct mr_js_consumer *c)
{
    return c->cfg.durable_name != NULL;
}

int64_t mr_js_consumer_created(const struct mr_js_consumer *c)
{
    return c->created_ns;
}

void mr_js_consumer_update(struct mr_js_consumer *c, const struct mr_js_consumer_cfg *cfg)
{
    bool new_deliver = !str_eq(c->cfg.deliver_subject, cfg->deliver_subject);
    mr_js_consumer_cfg_free(&c->cfg);
    mr_js_consumer_cfg_copy(&c->cfg, cfg);
    if (new_deliver) {
        /* Whatever went to the old subject is sent again to the new one. */
        check_pending_at(c, UINT64_MAX);
    }
    c->io.dirty(c->io.ctx);
    mr_js_consumer_pump(c);
}

static gboolean check_one(gpointer key, gpointer value, gpointer data)
{
    const struct mr_js_consumer *c = data;
    const struct pending *p = value;
    mr_assert(key == &p->sseq);
    mr_assert(p->sseq > 0 && p->sseq < c->sseq);
    mr_assert(p->dseq > 0 && p->dseq < c->dseq);
    mr_assert(p->sseq > c->asflr || c->cfg.ack_policy == MR_JS_ACK_ALL);
    return FALSE;
}

void mr_js_consumer_check(const struct mr_js_consumer *c)
{
    mr_assert(c->dseq >= 1);
    if (!acks(c)) {
        mr_assert(g_tree_nnodes(c->pending) == 0);
    }
    g_tree_foreach(c->pending, check_one, (gpointer)c);
    if (c->cfg.deliver_subject == NULL) {
        mr_assert((int64_t)g_queue_get_length((GQueue *)&c->waiting) <= c->cfg.max_waiting);
    }
    if (c->lss != NULL) {
        mr_assert(c->lss_i < c->lss_n);
    }
}
