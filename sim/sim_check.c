/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checkers over a sim_history (sim_check.h). The offline checkers first build a model
 * of the run from the history in one pass: the published messages (PUB and REQ), the
 * subscriptions as intervals [SUB, next DISCONNECT or STOP of the actor), the end
 * times (DISCONNECT, STOP) of every actor, and the set of deliveries (subscription,
 * id) with counts. Each checker then walks arrays in history order, so verdicts and
 * their "first violation" are deterministic; hash tables are used for lookups only.
 *
 * Invariants: the model's arrays are in history (time) order; every delivery key has
 * a count >= 1.
 *
 * Ownership: the model is built and freed inside each checker call; the online
 * checker owns its tables between init and deinit.
 */
#include "sim/sim_check.h"

#include <glib.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/proto/subject.h"

#define NS_PER_SEC UINT64_C(1000000000)

/* ------------------------------------------------------------------------------------
 * Keys
 */

struct dkey {
    uint32_t actor;
    uint32_t gen;
    uint32_t pub;
    uint32_t pad; /* zero */
    uint64_t seq;
};

static guint dkey_hash(gconstpointer p)
{
    const struct dkey *k = p;
    uint64_t h = k->seq * 0x9e3779b97f4a7c15ull;
    h ^= ((uint64_t)k->actor << 32 | k->gen) * 0xbf58476d1ce4e5b9ull;
    h ^= (uint64_t)k->pub * 0x94d049bb133111ebull;
    return (guint)(h ^ (h >> 32));
}

static gboolean dkey_equal(gconstpointer a, gconstpointer b)
{
    return memcmp(a, b, sizeof(struct dkey)) == 0;
}

static struct dkey dkey_make(uint32_t actor, uint32_t gen, uint32_t pub, uint64_t seq)
{
    struct dkey k;
    memset(&k, 0, sizeof(k));
    k.actor = actor;
    k.gen = gen;
    k.pub = pub;
    k.seq = seq;
    return k;
}

/* A table keyed by struct dkey with two uint64_t of value per entry. Entries come
 * from blocks of DTABLE_BLOCK and are freed together: histories hold millions of
 * deliveries, and one allocation per entry would dominate the checkers' time. */
#define DTABLE_BLOCK 4096

struct dent {
    struct dkey k; /* first: the table's key points here */
    uint64_t v[2];
};

struct dtable {
    GHashTable *t;     /* &dent.k -> dent; lookup only */
    GPtrArray *blocks; /* struct dent[DTABLE_BLOCK] each */
    size_t used;       /* entries used in the last block */
};

static struct dtable *dtable_new(void)
{
    struct dtable *t = g_new0(struct dtable, 1);
    t->t = g_hash_table_new(dkey_hash, dkey_equal);
    t->blocks = g_ptr_array_new_with_free_func(g_free);
    t->used = DTABLE_BLOCK;
    return t;
}

static void dtable_free(struct dtable *t)
{
    g_hash_table_destroy(t->t);
    g_ptr_array_free(t->blocks, TRUE);
    g_free(t);
}

/* The value of k, or NULL. */
static uint64_t *dtable_get(const struct dtable *t, struct dkey k)
{
    struct dent *e = g_hash_table_lookup(t->t, &k);
    return e == NULL ? NULL : e->v;
}

/* Adds k (absent) with a zero value and returns the value. */
static uint64_t *dtable_put(struct dtable *t, struct dkey k)
{
    if (t->used == DTABLE_BLOCK) {
        g_ptr_array_add(t->blocks, g_new0(struct dent, DTABLE_BLOCK));
        t->used = 0;
    }
    struct dent *block = g_ptr_array_index(t->blocks, t->blocks->len - 1);
    struct dent *e = &block[t->used++];
    e->k = k;
    mr_assert(!g_hash_table_contains(t->t, &e->k));
    g_hash_table_insert(t->t, &e->k, e);
    return e->v;
}

/* ------------------------------------------------------------------------------------
 * Verdicts
 */

static void fmt_time(char *out, size_t len, uint64_t t)
{
    snprintf(out, len, "%" PRIu64 ".%09" PRIu64, t / NS_PER_SEC, t % NS_PER_SEC);
}

static void verdict_init(struct sim_verdict *v, const char *name, const struct sim_history *h)
{
    memset(v, 0, sizeof(*v));
    snprintf(v->name, sizeof(v->name), "%s", name);
    v->ok = true;
    v->truncated = sim_history_truncated(h);
}

/* Counts a violation; the first one's description is kept. */
G_GNUC_PRINTF(2, 3)
static void violation(struct sim_verdict *v, const char *fmt, ...)
{
    if (v->violations == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(v->first, sizeof(v->first), fmt, ap);
        va_end(ap);
    }
    v->ok = false;
    v->violations++;
}

static void verdict_finish(struct sim_verdict *v, const struct sim_history *h)
{
    if (v->ok && v->truncated) {
        char t[32];
        fmt_time(t, sizeof(t), sim_history_truncated_at_ns(h));
        snprintf(v->first, sizeof(v->first),
                 "history truncated at t=%s (%" PRIu64 " events dropped): judged the prefix only",
                 t, sim_history_dropped(h));
    }
}

static const char *actor(const struct sim_history *h, uint32_t i)
{
    return i == UINT32_MAX ? "?" : sim_history_actor_name(h, i);
}

void sim_check_opts_default(struct sim_check_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->settle_ns = NS_PER_SEC / 2;
    o->sub_settle_ns = NS_PER_SEC / 10;
    o->bound_ns = 10 * NS_PER_SEC;
}

/* ------------------------------------------------------------------------------------
 * Online checker: duplicates and order
 */

struct online_tables {
    struct dtable *seen; /* (actor, gen, pub, seq) -> {first time} */
    struct dtable *last; /* (actor, gen, pub, 0) -> {last seq, its time} */
};

void sim_check_online_init(struct sim_check_online *c)
{
    memset(c, 0, sizeof(*c));
    struct online_tables *t = g_new0(struct online_tables, 1);
    t->seen = dtable_new();
    t->last = dtable_new();
    c->subs = t;
    snprintf(c->dup.name, sizeof(c->dup.name), "no_duplicates");
    snprintf(c->order.name, sizeof(c->order.name), "per_publisher_order");
    c->dup.ok = true;
    c->order.ok = true;
}

void sim_check_online_deinit(struct sim_check_online *c)
{
    struct online_tables *t = c->subs;
    if (t == NULL) {
        return;
    }
    dtable_free(t->seen);
    dtable_free(t->last);
    g_free(t);
    c->subs = NULL;
}

static void online_msg(struct sim_check_online *c, const struct sim_history *h,
                       const struct sim_hist_event *e)
{
    struct online_tables *t = c->subs;
    if (e->pub == UINT32_MAX) {
        c->dup.exempt++;
        c->order.exempt++;
        return;
    }
    char now[32];
    char then[32];
    c->dup.checked++;
    struct dkey k = dkey_make(e->actor, e->gen, e->pub, e->seq);
    const uint64_t *first = dtable_get(t->seen, k);
    if (first != NULL) {
        fmt_time(now, sizeof(now), e->t_ns);
        fmt_time(then, sizeof(then), first[0]);
        violation(&c->dup,
                  "t=%s %s (subscription %" PRIu32 ") got %s:%" PRIu64 " again on %s (first at "
                  "t=%s)",
                  now, actor(h, e->actor), e->gen, actor(h, e->pub), e->seq, e->subject, then);
    } else {
        dtable_put(t->seen, k)[0] = e->t_ns;
    }
    c->order.checked++;
    struct dkey lk = dkey_make(e->actor, e->gen, e->pub, 0);
    uint64_t *last = dtable_get(t->last, lk);
    if (last == NULL) {
        last = dtable_put(t->last, lk);
    } else if (e->seq < last[0]) {
        fmt_time(now, sizeof(now), e->t_ns);
        fmt_time(then, sizeof(then), last[1]);
        violation(&c->order,
                  "t=%s %s (subscription %" PRIu32 ") got %s:%" PRIu64 " after %s:%" PRIu64
                  " (at t=%s)",
                  now, actor(h, e->actor), e->gen, actor(h, e->pub), e->seq, actor(h, e->pub),
                  last[0], then);
        return;
    } else if (e->seq == last[0]) {
        return; /* a duplicate, judged above */
    }
    last[0] = e->seq;
    last[1] = e->t_ns;
}

bool sim_check_online_step(struct sim_check_online *c, const struct sim_history *h)
{
    mr_assert(c->subs != NULL);
    size_t len = sim_history_len(h);
    mr_assert(c->next <= len);
    for (; c->next < len; c->next++) {
        const struct sim_hist_event *e = sim_history_at(h, c->next);
        if (e->kind == SIM_H_MSG) {
            online_msg(c, h, e);
        }
    }
    c->dup.truncated = sim_history_truncated(h);
    c->order.truncated = c->dup.truncated;
    return c->dup.ok && c->order.ok;
}

static void run_online(const struct sim_history *h, struct sim_verdict *v, bool dup)
{
    struct sim_check_online c;
    sim_check_online_init(&c);
    (void)sim_check_online_step(&c, h); /* the verdicts carry the result */
    *v = dup ? c.dup : c.order;
    sim_check_online_deinit(&c);
    verdict_finish(v, h);
}

void sim_check_no_duplicates(const struct sim_history *h, const struct sim_check_opts *o,
                             struct sim_verdict *v)
{
    (void)o;
    run_online(h, v, true);
}

void sim_check_per_publisher_order(const struct sim_history *h, const struct sim_check_opts *o,
                                   struct sim_verdict *v)
{
    (void)o;
    run_online(h, v, false);
}

/* ------------------------------------------------------------------------------------
 * The model for the offline checkers
 */

struct pubmsg {
    uint64_t t_ns;
    uint32_t pub;
    uint64_t seq;
    const char *subject;
};

struct subint {
    uint32_t actor;
    uint32_t gen;
    const char *subject; /* pattern */
    const char *queue;   /* "" for plain subscriptions */
    uint64_t from_ns;    /* SUB event */
    uint64_t to_ns;      /* next DISCONNECT or STOP of the actor; UINT64_MAX if none */
};

struct model {
    const struct sim_history *h;
    const struct sim_check_opts *o;
    uint64_t end_ns;
    GArray *msgs;         /* struct pubmsg, history order */
    GArray *subs;         /* struct subint, in SUB order */
    GArray *ends;         /* per actor: GArray of uint64_t DISCONNECT times */
    GArray *stops;        /* per actor: uint64_t first STOP time, UINT64_MAX if none */
    struct dtable *delivered; /* (actor, gen, pub, seq) -> {count, first time} */
    struct dtable *pub_time;  /* (0, 0, pub, seq) -> {publish time} */
    /* (pattern, subject) -> match + 1. Keyed by interned pointers for lookup only;
     * nothing iterates it, so no order depends on addresses. */
    GHashTable *matches;
};

struct match_key {
    const char *pattern;
    const char *subject;
};

static guint match_key_hash(gconstpointer p)
{
    const struct match_key *k = p;
    return g_direct_hash(k->pattern) * 31u + g_direct_hash(k->subject);
}

static gboolean match_key_equal(gconstpointer a, gconstpointer b)
{
    const struct match_key *x = a;
    const struct match_key *y = b;
    return x->pattern == y->pattern && x->subject == y->subject;
}

/* mr_subject_matches over interned strings, memoised. */
static bool model_matches(struct model *m, const char *pattern, const char *subject)
{
    struct match_key k = {pattern, subject};
    gpointer v = g_hash_table_lookup(m->matches, &k);
    if (v != NULL) {
        return GPOINTER_TO_INT(v) == 2;
    }
    bool r = mr_subject_matches(pattern, strlen(pattern), subject, strlen(subject));
    struct match_key *kp = g_new(struct match_key, 1);
    *kp = k;
    g_hash_table_insert(m->matches, kp, GINT_TO_POINTER(r ? 2 : 1));
    return r;
}

/* Adds one history event to the model; open holds, per actor, the indexes of its
 * subscriptions not ended yet. */
static void model_add(struct model *m, const struct sim_hist_event *e, GArray *open)
{
    switch (e->kind) {
    case SIM_H_PUB:
    case SIM_H_REQ: {
        struct pubmsg pm = {e->t_ns, e->pub, e->seq, e->subject};
        g_array_append_val(m->msgs, pm);
        struct dkey k = dkey_make(0, 0, e->pub, e->seq);
        /* A publisher's counter is unique; a repeat (hand-built histories) keeps the
         * first time. */
        if (dtable_get(m->pub_time, k) == NULL) {
            dtable_put(m->pub_time, k)[0] = e->t_ns;
        }
        break;
    }
    case SIM_H_MSG: {
        if (e->pub == UINT32_MAX) {
            break;
        }
        struct dkey k = dkey_make(e->actor, e->gen, e->pub, e->seq);
        uint64_t *d = dtable_get(m->delivered, k);
        if (d == NULL) {
            d = dtable_put(m->delivered, k);
            d[1] = e->t_ns;
        }
        d[0]++;
        break;
    }
    case SIM_H_SUB: {
        struct subint s = {e->actor, e->gen, e->subject, e->queue, e->t_ns, UINT64_MAX};
        guint idx = m->subs->len;
        g_array_append_val(m->subs, s);
        g_array_append_val(g_array_index(open, GArray *, e->actor), idx);
        break;
    }
    case SIM_H_DISCONNECT:
    case SIM_H_STOP: {
        /* A STOP alone (a publisher done with its count) keeps its connection. */
        if (e->kind == SIM_H_DISCONNECT) {
            g_array_append_val(g_array_index(m->ends, GArray *, e->actor), e->t_ns);
        }
        uint64_t *stop = &g_array_index(m->stops, uint64_t, e->actor);
        if (e->kind == SIM_H_STOP && *stop == UINT64_MAX) {
            *stop = e->t_ns;
        }
        GArray *op = g_array_index(open, GArray *, e->actor);
        for (guint j = 0; j < op->len; j++) {
            g_array_index(m->subs, struct subint, g_array_index(op, guint, j)).to_ns = e->t_ns;
        }
        g_array_set_size(op, 0);
        break;
    }
    default:
        break;
    }
}

static void model_build(struct model *m, const struct sim_history *h,
                        const struct sim_check_opts *o)
{
    memset(m, 0, sizeof(*m));
    m->h = h;
    m->o = o;
    m->end_ns = o->end_ns != 0 ? o->end_ns : sim_history_last_ns(h);
    if (sim_history_truncated(h) && sim_history_truncated_at_ns(h) < m->end_ns) {
        m->end_ns = sim_history_truncated_at_ns(h);
    }
    m->msgs = g_array_new(FALSE, TRUE, sizeof(struct pubmsg));
    m->subs = g_array_new(FALSE, TRUE, sizeof(struct subint));
    size_t actors = sim_history_actors(h);
    m->ends = g_array_sized_new(FALSE, TRUE, sizeof(GArray *), (guint)actors);
    m->stops = g_array_sized_new(FALSE, TRUE, sizeof(uint64_t), (guint)actors);
    GArray *open = g_array_sized_new(FALSE, TRUE, sizeof(GArray *), (guint)actors);
    for (size_t i = 0; i < actors; i++) {
        GArray *e = g_array_new(FALSE, FALSE, sizeof(uint64_t));
        g_array_append_val(m->ends, e);
        uint64_t never = UINT64_MAX;
        g_array_append_val(m->stops, never);
        GArray *op = g_array_new(FALSE, FALSE, sizeof(guint));
        g_array_append_val(open, op);
    }
    m->delivered = dtable_new();
    m->pub_time = dtable_new();
    m->matches = g_hash_table_new_full(match_key_hash, match_key_equal, g_free, NULL);
    for (size_t i = 0; i < sim_history_len(h); i++) {
        model_add(m, sim_history_at(h, i), open);
    }
    for (size_t i = 0; i < actors; i++) {
        g_array_free(g_array_index(open, GArray *, i), TRUE);
    }
    g_array_free(open, TRUE);
}

static void model_free(struct model *m)
{
    for (guint i = 0; i < m->ends->len; i++) {
        g_array_free(g_array_index(m->ends, GArray *, i), TRUE);
    }
    g_array_free(m->ends, TRUE);
    g_array_free(m->stops, TRUE);
    g_array_free(m->msgs, TRUE);
    g_array_free(m->subs, TRUE);
    dtable_free(m->delivered);
    dtable_free(m->pub_time);
    g_hash_table_destroy(m->matches);
}

static uint64_t sat_sub(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Whether a message published at t by pub counts as published while healthy. */
static bool msg_healthy(const struct model *m, const struct pubmsg *pm)
{
    uint64_t settle = m->o->settle_ns;
    if (sat_add(pm->t_ns, settle) > m->end_ns) {
        return false;
    }
    for (size_t i = 0; i < m->o->faults_len; i++) {
        const struct sim_window *f = &m->o->faults[i];
        if (pm->t_ns >= sat_sub(f->from_ns, settle) && pm->t_ns < sat_add(f->to_ns, settle)) {
            return false;
        }
    }
    /* A publisher that went away right after publishing may have lost the message in
     * its own output buffer. */
    if (pm->pub < m->ends->len) {
        const GArray *ends = g_array_index(m->ends, GArray *, pm->pub);
        for (guint i = 0; i < ends->len; i++) {
            uint64_t t = g_array_index(ends, uint64_t, i);
            if (t >= pm->t_ns && t <= sat_add(pm->t_ns, settle)) {
                return false;
            }
        }
    }
    return true;
}

/* Whether the subscription was active over the message's whole healthy span. */
static bool sub_covers(const struct model *m, const struct subint *s, uint64_t t)
{
    uint64_t settle = m->o->sub_settle_ns;
    return sat_add(s->from_ns, settle) <= t && sat_add(t, settle) <= s->to_ns;
}


static uint64_t delivered_count(const struct model *m, const struct subint *s,
                                const struct pubmsg *pm)
{
    const uint64_t *d = dtable_get(m->delivered, dkey_make(s->actor, s->gen, pm->pub, pm->seq));
    return d == NULL ? 0 : d[0];
}

/* ------------------------------------------------------------------------------------
 * delivery and queue_once
 */

static void delivery_on(struct model *m, struct sim_verdict *v)
{
    const struct sim_history *h = m->h;
    for (guint i = 0; i < m->msgs->len; i++) {
        const struct pubmsg *pm = &g_array_index(m->msgs, struct pubmsg, i);
        bool healthy = msg_healthy(m, pm);
        for (guint j = 0; j < m->subs->len; j++) {
            const struct subint *s = &g_array_index(m->subs, struct subint, j);
            if (s->queue[0] != '\0' || !model_matches(m, s->subject, pm->subject)) {
                continue;
            }
            if (!healthy || !sub_covers(m, s, pm->t_ns)) {
                v->exempt++;
                continue;
            }
            v->checked++;
            if (delivered_count(m, s, pm) == 0) {
                char t[32];
                char from[32];
                fmt_time(t, sizeof(t), pm->t_ns);
                fmt_time(from, sizeof(from), s->from_ns);
                violation(v,
                          "t=%s %s:%" PRIu64 " on %s never reached %s (subscription %" PRIu32
                          " to %s, active since t=%s)",
                          t, actor(h, pm->pub), pm->seq, pm->subject, actor(h, s->actor), s->gen,
                          s->subject, from);
            }
        }
    }
}

void sim_check_delivery(const struct sim_history *h, const struct sim_check_opts *o,
                        struct sim_verdict *v)
{
    verdict_init(v, "delivery", h);
    struct model m;
    model_build(&m, h, o);
    delivery_on(&m, v);
    model_free(&m);
    verdict_finish(v, h);
}

struct qgroup {
    const char *subject; /* interned: pointer equality is string equality */
    const char *queue;
    GArray *subs;        /* guint indexes into model.subs */
};

/* The queue groups of the model's subscriptions, in order of their first SUB. */
static GArray *queue_groups(const struct model *m)
{
    GArray *groups = g_array_new(FALSE, TRUE, sizeof(struct qgroup));
    for (guint j = 0; j < m->subs->len; j++) {
        const struct subint *s = &g_array_index(m->subs, struct subint, j);
        if (s->queue[0] == '\0') {
            continue;
        }
        struct qgroup *g = NULL;
        for (guint k = 0; k < groups->len && g == NULL; k++) {
            struct qgroup *c = &g_array_index(groups, struct qgroup, k);
            if (c->subject == s->subject && c->queue == s->queue) {
                g = c;
            }
        }
        if (g == NULL) {
            struct qgroup ng = {s->subject, s->queue, g_array_new(FALSE, FALSE, sizeof(guint))};
            g_array_append_val(groups, ng);
            g = &g_array_index(groups, struct qgroup, groups->len - 1);
        }
        g_array_append_val(g->subs, j);
    }
    return groups;
}

static void queue_once_on(struct model *m, struct sim_verdict *v)
{
    const struct sim_history *h = m->h;
    GArray *groups = queue_groups(m);
    for (guint i = 0; i < m->msgs->len; i++) {
        const struct pubmsg *pm = &g_array_index(m->msgs, struct pubmsg, i);
        bool healthy = msg_healthy(m, pm);
        for (guint k = 0; k < groups->len; k++) {
            const struct qgroup *g = &g_array_index(groups, struct qgroup, k);
            if (!model_matches(m, g->subject, pm->subject)) {
                continue;
            }
            uint64_t members = 0;
            bool covered = false;
            const char *who[2] = {NULL, NULL};
            for (guint x = 0; x < g->subs->len; x++) {
                const struct subint *s =
                    &g_array_index(m->subs, struct subint, g_array_index(g->subs, guint, x));
                if (delivered_count(m, s, pm) > 0) {
                    if (members < 2) {
                        who[members] = actor(h, s->actor);
                    }
                    members++;
                }
                covered = covered || sub_covers(m, s, pm->t_ns);
            }
            char t[32];
            fmt_time(t, sizeof(t), pm->t_ns);
            if (members > 1) {
                v->checked++;
                violation(v,
                          "t=%s %s:%" PRIu64 " on %s reached %" PRIu64 " members of queue %s "
                          "(%s and %s)",
                          t, actor(h, pm->pub), pm->seq, pm->subject, members, g->queue, who[0],
                          who[1]);
            } else if (!healthy || !covered) {
                v->exempt++;
            } else {
                v->checked++;
                if (members == 0) {
                    violation(v,
                              "t=%s %s:%" PRIu64 " on %s reached no member of queue %s on %s",
                              t, actor(h, pm->pub), pm->seq, pm->subject, g->queue, g->subject);
                }
            }
        }
    }
    for (guint k = 0; k < groups->len; k++) {
        g_array_free(g_array_index(groups, struct qgroup, k).subs, TRUE);
    }
    g_array_free(groups, TRUE);
}

void sim_check_queue_once(const struct sim_history *h, const struct sim_check_opts *o,
                          struct sim_verdict *v)
{
    verdict_init(v, "queue_once", h);
    struct model m;
    model_build(&m, h, o);
    queue_once_on(&m, v);
    model_free(&m);
    verdict_finish(v, h);
}

/* ------------------------------------------------------------------------------------
 * liveness
 */

static bool stopped_by(const struct model *m, uint32_t who, uint64_t t)
{
    return g_array_index(m->stops, uint64_t, who) <= t;
}

/* Whether a message matching pattern was published in [from, to). msgs are in time
 * order, so the scan starts at the first message at or after from. */
static bool published_in(const struct model *m, const char *pattern, uint64_t from, uint64_t to)
{
    guint lo = 0;
    guint hi = m->msgs->len;
    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        if (g_array_index(m->msgs, struct pubmsg, mid).t_ns < from) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    size_t plen = strlen(pattern);
    for (guint i = lo; i < m->msgs->len; i++) {
        const struct pubmsg *pm = &g_array_index(m->msgs, struct pubmsg, i);
        if (pm->t_ns >= to) {
            break;
        }
        if (mr_subject_matches(pattern, plen, pm->subject, strlen(pm->subject))) {
            return true;
        }
    }
    return false;
}

/* The liveness unit of subscription j: the index of the first subscription of the same
 * actor (plain) or of the same queue group (subject + queue). */
static guint live_unit(const struct model *m, guint j)
{
    const struct subint *s = &g_array_index(m->subs, struct subint, j);
    for (guint k = 0; k < j; k++) {
        const struct subint *p = &g_array_index(m->subs, struct subint, k);
        bool same = s->queue[0] == '\0' ? (p->queue[0] == '\0' && p->actor == s->actor)
                                        : (p->queue == s->queue && p->subject == s->subject);
        if (same) {
            return k;
        }
    }
    return j;
}

static void liveness_subscribers(struct model *m, struct sim_verdict *v, uint64_t from,
                                 uint64_t to)
{
    const struct sim_history *h = m->h;
    uint64_t pub_to = sat_sub(to, m->o->settle_ns);
    guint n = m->subs->len;
    guint *unit = g_new0(guint, n ? n : 1);
    bool *got = g_new0(bool, n ? n : 1);
    bool *live = g_new0(bool, n ? n : 1); /* some member not stopped by `to` */
    struct dtable *by_sub = dtable_new(); /* (actor, gen) -> {subscription index} */
    for (guint j = 0; j < n; j++) {
        const struct subint *s = &g_array_index(m->subs, struct subint, j);
        unit[j] = live_unit(m, j);
        live[unit[j]] = live[unit[j]] || !stopped_by(m, s->actor, to);
        struct dkey k = dkey_make(s->actor, s->gen, 0, 0);
        /* Hand-built histories may repeat a generation; the first SUB counts. */
        if (dtable_get(by_sub, k) == NULL) {
            dtable_put(by_sub, k)[0] = j;
        }
    }
    /* One pass over the window: which units received a message published after from. */
    for (size_t i = 0; i < sim_history_len(h); i++) {
        const struct sim_hist_event *e = sim_history_at(h, i);
        if (e->t_ns > to) {
            break;
        }
        if (e->kind != SIM_H_MSG || e->t_ns <= from || e->pub == UINT32_MAX) {
            continue;
        }
        const uint64_t *idx = dtable_get(by_sub, dkey_make(e->actor, e->gen, 0, 0));
        const uint64_t *pt = dtable_get(m->pub_time, dkey_make(0, 0, e->pub, e->seq));
        if (idx != NULL && pt != NULL && pt[0] >= from) {
            got[unit[idx[0]]] = true;
        }
    }
    for (guint j = 0; j < n; j++) {
        const struct subint *s = &g_array_index(m->subs, struct subint, j);
        if (unit[j] != j) {
            continue;
        }
        if (!live[j] || !published_in(m, s->subject, from, pub_to)) {
            v->exempt++;
            continue;
        }
        v->checked++;
        if (!got[j]) {
            char a[32];
            char b[32];
            fmt_time(a, sizeof(a), from);
            fmt_time(b, sizeof(b), to);
            if (s->queue[0] == '\0') {
                violation(v, "%s (on %s) received no new message in (t=%s, t=%s]",
                          actor(h, s->actor), s->subject, a, b);
            } else {
                violation(v, "queue %s on %s received no new message in (t=%s, t=%s]", s->queue,
                          s->subject, a, b);
            }
        }
    }
    dtable_free(by_sub);
    g_free(unit);
    g_free(got);
    g_free(live);
}

static void liveness_requesters(struct model *m, struct sim_verdict *v, uint64_t from,
                                uint64_t to)
{
    const struct sim_history *h = m->h;
    size_t actors = sim_history_actors(h);
    uint64_t req_to = sat_sub(to, m->o->settle_ns);
    bool *sent = g_new0(bool, actors);
    bool *got = g_new0(bool, actors);
    bool *requester = g_new0(bool, actors);
    for (size_t i = 0; i < sim_history_len(h); i++) {
        const struct sim_hist_event *e = sim_history_at(h, i);
        if (e->kind == SIM_H_REQ) {
            requester[e->actor] = true;
            sent[e->actor] = sent[e->actor] || (e->t_ns >= from && e->t_ns < req_to);
        }
        if (e->kind == SIM_H_REPLY && e->t_ns > from && e->t_ns <= to) {
            got[e->actor] = true;
        }
    }
    for (size_t a = 0; a < actors; a++) {
        if (!requester[a]) {
            continue;
        }
        if (!sent[a]) {
            v->exempt++;
            continue;
        }
        v->checked++;
        if (!got[a]) {
            char x[32];
            char y[32];
            fmt_time(x, sizeof(x), from);
            fmt_time(y, sizeof(y), to);
            violation(v, "%s got no reply in (t=%s, t=%s] to requests sent after t=%s",
                      actor(h, (uint32_t)a), x, y, x);
        }
    }
    g_free(sent);
    g_free(got);
    g_free(requester);
}

static void liveness_on(struct model *m, struct sim_verdict *v)
{
    const struct sim_check_opts *o = m->o;
    uint64_t from = o->heal_ns;
    uint64_t to = sat_add(o->heal_ns, o->bound_ns);
    if (m->end_ns < to) {
        char a[32];
        char b[32];
        fmt_time(a, sizeof(a), m->end_ns);
        fmt_time(b, sizeof(b), to);
        violation(v, "the run (or its history) ends at t=%s, before heal + bound t=%s", a, b);
    } else {
        liveness_subscribers(m, v, from, to);
        liveness_requesters(m, v, from, to);
    }
}

void sim_check_liveness(const struct sim_history *h, const struct sim_check_opts *o,
                        struct sim_verdict *v)
{
    verdict_init(v, "liveness", h);
    struct model m;
    model_build(&m, h, o);
    liveness_on(&m, v);
    model_free(&m);
    verdict_finish(v, h);
}

/* ------------------------------------------------------------------------------------
 * By name
 */

typedef void (*check_fn)(const struct sim_history *h, const struct sim_check_opts *o,
                         struct sim_verdict *v);

static const struct {
    const char *name;
    check_fn fn;
} checkers[SIM_CHECKERS] = {
    {"no_duplicates", sim_check_no_duplicates},
    {"per_publisher_order", sim_check_per_publisher_order},
    {"delivery", sim_check_delivery},
    {"queue_once", sim_check_queue_once},
    {"liveness", sim_check_liveness},
};

const char *sim_check_name(size_t i)
{
    mr_assert(i < SIM_CHECKERS);
    return checkers[i].name;
}

int sim_check_run(const char *name, const struct sim_history *h, const struct sim_check_opts *o,
                  struct sim_verdict *v)
{
    for (size_t i = 0; i < SIM_CHECKERS; i++) {
        if (strcmp(name, checkers[i].name) == 0) {
            checkers[i].fn(h, o, v);
            return 0;
        }
    }
    return MR_E_NOT_FOUND;
}

size_t sim_check_all(const struct sim_history *h, const struct sim_check_opts *o,
                     struct sim_verdict v[SIM_CHECKERS])
{
    /* One online pass and one model for all five: the same verdicts as the checkers
     * run one by one, in about a third of the time on large histories. */
    struct sim_check_online c;
    sim_check_online_init(&c);
    (void)sim_check_online_step(&c, h); /* the verdicts carry the result */
    v[0] = c.dup;
    v[1] = c.order;
    sim_check_online_deinit(&c);
    struct model m;
    model_build(&m, h, o);
    verdict_init(&v[2], "delivery", h);
    delivery_on(&m, &v[2]);
    verdict_init(&v[3], "queue_once", h);
    queue_once_on(&m, &v[3]);
    verdict_init(&v[4], "liveness", h);
    liveness_on(&m, &v[4]);
    model_free(&m);
    size_t failed = 0;
    for (size_t i = 0; i < SIM_CHECKERS; i++) {
        verdict_finish(&v[i], h);
        mr_assert(strcmp(v[i].name, checkers[i].name) == 0);
        if (!v[i].ok) {
            failed++;
        }
    }
    return failed;
}

void sim_verdict_format(const struct sim_verdict *v, char *out, size_t out_len)
{
    if (v->ok) {
        snprintf(out, out_len, "%s: ok (checked %" PRIu64 ", exempt %" PRIu64 ")%s%s", v->name,
                 v->checked, v->exempt, v->first[0] != '\0' ? "; " : "", v->first);
    } else {
        snprintf(out, out_len, "%s: FAIL (%" PRIu64 " violations): %s", v->name, v->violations,
                 v->first);
    }
}
