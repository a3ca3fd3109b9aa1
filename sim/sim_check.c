/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checkers over a sim_history (sim_check.h). The offline checkers first build a model
 * of the run from the history in one pass: the published messages (PUB and REQ), the
 * subscriptions as intervals [SUB, next DISCONNECT or STOP of the actor), the end
 * times (DISCONNECT, STOP) of every actor, and the set of deliveries (subscription,
 * id), kept per (subscription, publisher) as a bitmap of counters. Each checker then
 * walks arrays in history order, so verdicts and their "first violation" are
 * deterministic; hash tables are used for lookups only.
 *
 * Cost: a run at 1,000 msgs/s records hundreds of thousands of deliveries, and the
 * checkers once spent more time than the simulation itself hashing (subscription, id)
 * keys into tables of that size. Counters are dense from 1, so arrays indexed by
 * counter replace those tables, and the per (message, subscription) loops index arrays
 * made once the model is complete.
 *
 * Invariants: the model's arrays are in history (time) order; a pair exists only for
 * a (subscription, publisher) with at least one delivery.
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
    uint32_t used; /* zero in a key; 1 in an occupied slot of a dtable */
    uint64_t seq;
};

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

static uint64_t dkey_hash(const struct dkey *k)
{
    uint64_t h = k->seq * 0x9e3779b97f4a7c15ull;
    h ^= ((uint64_t)k->actor << 32 | k->gen) * 0xbf58476d1ce4e5b9ull;
    h ^= (uint64_t)k->pub * 0x94d049bb133111ebull;
    /* The products' low bits depend only on the factors' low bits, and the table
     * indexes by low bits: fold the high bits down (the murmur3 finaliser). */
    h = (h ^ (h >> 33)) * 0xff51afd7ed558ccdull;
    h = (h ^ (h >> 33)) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

static bool dkey_equal(const struct dkey *a, const struct dkey *b)
{
    return a->seq == b->seq && a->actor == b->actor && a->gen == b->gen && a->pub == b->pub;
}

/* A table keyed by struct dkey with two uint64_t of value per entry: open addressing
 * with linear probing in one array kept at most half full, so a lookup is one hash and
 * usually one cache line, without GHashTable's indirect calls. The online checker does
 * one per delivery. Lookup only: nothing iterates it. */
#define DTABLE_SLOTS_MIN 64

struct dent {
    struct dkey k; /* k.used says whether the slot is taken */
    uint64_t v[2];
};

struct dtable {
    struct dent *slots; /* mask + 1 of them, a power of two */
    size_t mask;
    size_t len; /* slots taken */
};

static struct dtable *dtable_new(void)
{
    struct dtable *t = g_new0(struct dtable, 1);
    t->slots = g_new0(struct dent, DTABLE_SLOTS_MIN);
    t->mask = DTABLE_SLOTS_MIN - 1;
    return t;
}

static void dtable_free(struct dtable *t)
{
    g_free(t->slots);
    g_free(t);
}

/* The slot holding k, or the free slot where k would go. */
static struct dent *dtable_slot(const struct dtable *t, const struct dkey *k)
{
    size_t i = (size_t)dkey_hash(k) & t->mask;
    while (t->slots[i].k.used != 0 && !dkey_equal(&t->slots[i].k, k)) {
        i = (i + 1) & t->mask;
    }
    return &t->slots[i];
}

/* The value of k, or NULL. */
static uint64_t *dtable_get(const struct dtable *t, struct dkey k)
{
    struct dent *e = dtable_slot(t, &k);
    return e->k.used != 0 ? e->v : NULL;
}

static void dtable_grow(struct dtable *t)
{
    struct dent *old = t->slots;
    size_t old_slots = t->mask + 1;
    t->slots = g_new0(struct dent, 2 * old_slots);
    t->mask = 2 * old_slots - 1;
    for (size_t i = 0; i < old_slots; i++) {
        if (old[i].k.used != 0) {
            *dtable_slot(t, &old[i].k) = old[i];
        }
    }
    g_free(old);
}

/* Adds k (absent) with a zero value and returns the value. */
static uint64_t *dtable_put(struct dtable *t, struct dkey k)
{
    mr_assert(k.used == 0);
    if (2 * (t->len + 1) > t->mask + 1) {
        dtable_grow(t);
    }
    struct dent *e = dtable_slot(t, &k);
    mr_assert(e->k.used == 0);
    e->k = k;
    e->k.used = 1;
    t->len++;
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
 * Received counters per (subscription, publisher)
 */

/* Counters below this are kept in arrays indexed by counter (bitmaps, publish times);
 * larger ones (hand-built histories, odd payloads) in a dtable. A default history holds
 * at most SIM_HISTORY_EVENTS_DEFAULT events, so a run's counters stay below it. */
#define SEQ_DENSE_MAX (UINT64_C(1) << 22)
_Static_assert(SIM_HISTORY_EVENTS_DEFAULT <= SEQ_DENSE_MAX, "a run's counters are dense");

/* What one subscription (actor, gen) received from one publisher. Counters are dense
 * from 1, so a bitmap by counter holds them, and consecutive deliveries share a cache
 * line: a hash table of (subscription, publisher, counter) keys touched a random slot
 * of a table of millions per delivery. */
struct pair {
    struct dkey key;   /* (actor, gen, pub, 0) */
    uint64_t *bits;    /* counter c is bit c % 64 of bits[c / 64] */
    size_t words;
    uint64_t last_seq; /* online order: the last counter received in order */
    uint64_t last_ns;  /* and its time */
};

struct pairs {
    struct dtable *index; /* (actor, gen, pub, 0) -> {index into list} */
    GPtrArray *list;      /* struct pair *, owned */
    struct dtable *big;   /* (actor, gen, pub, seq >= SEQ_DENSE_MAX) -> {} */
    struct pair *recent;  /* the last one pairs_get returned: a chunk of deliveries to
                             a subscriber mostly comes from one publisher */
};

static void pair_free(gpointer p)
{
    struct pair *x = p;
    g_free(x->bits);
    g_free(x);
}

static void pairs_init(struct pairs *ps)
{
    ps->index = dtable_new();
    ps->list = g_ptr_array_new_with_free_func(pair_free);
    ps->big = dtable_new();
    ps->recent = NULL;
}

static void pairs_deinit(struct pairs *ps)
{
    dtable_free(ps->index);
    g_ptr_array_free(ps->list, TRUE);
    dtable_free(ps->big);
}

/* The pair of (actor, gen, pub), or NULL when it received nothing. */
static struct pair *pairs_find(const struct pairs *ps, uint32_t actor, uint32_t gen,
                               uint32_t pub)
{
    const uint64_t *i = dtable_get(ps->index, dkey_make(actor, gen, pub, 0));
    return i == NULL ? NULL : g_ptr_array_index(ps->list, *i);
}

/* The pair of (actor, gen, pub), made empty when new (*fresh says so). */
static struct pair *pairs_get(struct pairs *ps, uint32_t actor, uint32_t gen, uint32_t pub,
                              bool *fresh)
{
    struct pair *p = ps->recent;
    if (p != NULL && p->key.actor == actor && p->key.gen == gen && p->key.pub == pub) {
        *fresh = false;
        return p;
    }
    p = pairs_find(ps, actor, gen, pub);
    *fresh = p == NULL;
    if (p == NULL) {
        p = g_new0(struct pair, 1);
        p->key = dkey_make(actor, gen, pub, 0);
        dtable_put(ps->index, p->key)[0] = ps->list->len;
        g_ptr_array_add(ps->list, p);
    }
    ps->recent = p;
    return p;
}

static bool pair_has(const struct pairs *ps, const struct pair *p, uint64_t seq)
{
    if (seq >= SEQ_DENSE_MAX) {
        return dtable_get(ps->big, dkey_make(p->key.actor, p->key.gen, p->key.pub, seq)) !=
               NULL;
    }
    size_t w = (size_t)(seq / 64);
    return w < p->words && (p->bits[w] >> (seq % 64) & 1) != 0;
}

/* Adds seq; returns false when it was there already. */
static bool pair_add(struct pairs *ps, struct pair *p, uint64_t seq)
{
    if (pair_has(ps, p, seq)) {
        return false;
    }
    if (seq >= SEQ_DENSE_MAX) {
        (void)dtable_put(ps->big, dkey_make(p->key.actor, p->key.gen, p->key.pub, seq));
        return true;
    }
    size_t w = (size_t)(seq / 64);
    if (w >= p->words) {
        size_t words = p->words == 0 ? 16 : p->words;
        while (words <= w) {
            words *= 2;
        }
        p->bits = g_renew(uint64_t, p->bits, words);
        memset(p->bits + p->words, 0, (words - p->words) * sizeof(uint64_t));
        p->words = words;
    }
    p->bits[w] |= UINT64_C(1) << (seq % 64);
    mr_assert(pair_has(ps, p, seq));
    return true;
}

/* ------------------------------------------------------------------------------------
 * Online checker: duplicates and order
 */

void sim_check_online_init(struct sim_check_online *c)
{
    memset(c, 0, sizeof(*c));
    struct pairs *ps = g_new0(struct pairs, 1);
    pairs_init(ps);
    c->subs = ps;
    snprintf(c->dup.name, sizeof(c->dup.name), "no_duplicates");
    snprintf(c->order.name, sizeof(c->order.name), "per_publisher_order");
    c->dup.ok = true;
    c->order.ok = true;
}

void sim_check_online_deinit(struct sim_check_online *c)
{
    struct pairs *ps = c->subs;
    if (ps == NULL) {
        return;
    }
    pairs_deinit(ps);
    g_free(ps);
    c->subs = NULL;
}

/* The time of the first MSG like e among events [0, before): only a violation's
 * description needs it, so it is searched for instead of kept per delivery. */
static uint64_t first_receipt_ns(const struct sim_history *h, size_t before,
                                 const struct sim_hist_event *e)
{
    for (size_t i = 0; i < before; i++) {
        const struct sim_hist_event *x = sim_history_at(h, i);
        if (x->kind == SIM_H_MSG && x->actor == e->actor && x->gen == e->gen &&
            x->pub == e->pub && x->seq == e->seq) {
            return x->t_ns;
        }
    }
    mr_assert(!"a duplicate without a first receipt");
    return 0;
}

/* Judges MSG event i, e. */
static void online_msg(struct sim_check_online *c, const struct sim_history *h, size_t i,
                       const struct sim_hist_event *e)
{
    struct pairs *ps = c->subs;
    if (e->pub == UINT32_MAX) {
        c->dup.exempt++;
        c->order.exempt++;
        return;
    }
    char now[32];
    char then[32];
    c->dup.checked++;
    bool fresh;
    struct pair *p = pairs_get(ps, e->actor, e->gen, e->pub, &fresh);
    if (!pair_add(ps, p, e->seq)) {
        /* Only the first violation is described. */
        uint64_t first_ns = c->dup.violations == 0 ? first_receipt_ns(h, i, e) : 0;
        fmt_time(now, sizeof(now), e->t_ns);
        fmt_time(then, sizeof(then), first_ns);
        violation(&c->dup,
                  "t=%s %s (subscription %" PRIu32 ") got %s:%" PRIu64 " again on %s (first at "
                  "t=%s)",
                  now, actor(h, e->actor), e->gen, actor(h, e->pub), e->seq, e->subject, then);
    }
    c->order.checked++;
    if (fresh) {
        p->last_seq = e->seq;
        p->last_ns = e->t_ns;
        return;
    }
    if (e->seq < p->last_seq) {
        fmt_time(now, sizeof(now), e->t_ns);
        fmt_time(then, sizeof(then), p->last_ns);
        violation(&c->order,
                  "t=%s %s (subscription %" PRIu32 ") got %s:%" PRIu64 " after %s:%" PRIu64
                  " (at t=%s)",
                  now, actor(h, e->actor), e->gen, actor(h, e->pub), e->seq, actor(h, e->pub),
                  p->last_seq, then);
        return;
    }
    if (e->seq == p->last_seq) {
        return; /* a duplicate, judged above */
    }
    p->last_seq = e->seq;
    p->last_ns = e->t_ns;
}

bool sim_check_online_step(struct sim_check_online *c, const struct sim_history *h)
{
    mr_assert(c->subs != NULL);
    size_t len = sim_history_len(h);
    mr_assert(c->next <= len);
    for (; c->next < len; c->next++) {
        const struct sim_hist_event *e = sim_history_at(h, c->next);
        if (e->kind == SIM_H_MSG) {
            online_msg(c, h, c->next, e);
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
 * Publish times
 */

/* When each message was published, kept per publisher by counter (dense from 1) so
 * that filling it walks memory in order; counters from SEQ_DENSE_MAX go to a dtable. */
struct pubtimes {
    GPtrArray *by_pub;  /* per publisher actor: GArray of uint64_t, UINT64_MAX = none */
    struct dtable *big; /* (0, 0, pub, seq) -> {time} */
};

static void garray_free(gpointer a)
{
    if (a != NULL) {
        g_array_free(a, TRUE);
    }
}

static void pubtimes_init(struct pubtimes *pt)
{
    pt->by_pub = g_ptr_array_new_with_free_func(garray_free);
    pt->big = dtable_new();
}

static void pubtimes_deinit(struct pubtimes *pt)
{
    g_ptr_array_free(pt->by_pub, TRUE);
    dtable_free(pt->big);
}

/* The publish time of (pub, seq) in *t_ns; false when it was not published. */
static bool pubtimes_get(const struct pubtimes *pt, uint32_t pub, uint64_t seq, uint64_t *t_ns)
{
    if (seq >= SEQ_DENSE_MAX) {
        const uint64_t *v = dtable_get(pt->big, dkey_make(0, 0, pub, seq));
        *t_ns = v != NULL ? v[0] : UINT64_MAX;
    } else {
        const GArray *a = pub < pt->by_pub->len ? g_ptr_array_index(pt->by_pub, pub) : NULL;
        *t_ns = a != NULL && seq < a->len ? g_array_index(a, uint64_t, seq) : UINT64_MAX;
    }
    return *t_ns != UINT64_MAX;
}

/* Records that (pub, seq) was published at t_ns, unless it was already: a publisher's
 * counter is unique, and a repeat (hand-built histories) keeps the first time. */
static void pubtimes_add(struct pubtimes *pt, uint32_t pub, uint64_t seq, uint64_t t_ns)
{
    uint64_t first;
    mr_assert(t_ns != UINT64_MAX);
    if (pubtimes_get(pt, pub, seq, &first)) {
        return;
    }
    if (seq >= SEQ_DENSE_MAX) {
        dtable_put(pt->big, dkey_make(0, 0, pub, seq))[0] = t_ns;
        return;
    }
    if (pub >= pt->by_pub->len) {
        g_ptr_array_set_size(pt->by_pub, (gint)pub + 1);
    }
    GArray *a = g_ptr_array_index(pt->by_pub, pub);
    if (a == NULL) {
        a = g_array_new(FALSE, FALSE, sizeof(uint64_t));
        g_ptr_array_index(pt->by_pub, pub) = a;
    }
    if (a->len <= seq) {
        guint old = a->len;
        g_array_set_size(a, (guint)seq + 1);
        for (guint i = old; i < a->len; i++) {
            g_array_index(a, uint64_t, i) = UINT64_MAX;
        }
    }
    g_array_index(a, uint64_t, seq) = t_ns;
}

/* ------------------------------------------------------------------------------------
 * The model for the offline checkers
 */

struct pubmsg {
    uint64_t t_ns;
    uint32_t pub;
    uint32_t subject_index; /* into model.subjects */
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
    bool core; /* its actor was attached to a core server at SUB (true without a core) */
    int32_t srv; /* index into opts.servers of its SUB's server; -1 unknown or none */
};

struct model {
    const struct sim_history *h;
    const struct sim_check_opts *o;
    uint64_t end_ns;
    GArray *msgs;         /* struct pubmsg, history order */
    GArray *subs;         /* struct subint, in SUB order */
    GArray *ends;         /* per actor: GArray of uint64_t DISCONNECT times */
    GArray *stops;        /* per actor: uint64_t first STOP time, UINT64_MAX if none */
    struct pairs delivered;   /* what each subscription received from each publisher */
    struct pubtimes pub_time;
    GPtrArray *subjects;      /* the messages' distinct subjects (interned), first seen first */
    /* Interned subject -> index + 1 in subjects. Keyed by pointer for lookup only;
     * nothing iterates it, so no order depends on addresses. */
    GHashTable *subject_index;
    /* Made once the whole history is read, so the checkers' loops over messages times
     * subscriptions index arrays instead of hashing: */
    size_t actors;
    bool *matches;           /* [subject index * subs + sub index]: its pattern matches */
    const struct pair **got; /* [sub index * actors + pub]: what it received from pub */
    /* With a core (liveness mode) only: */
    bool core_mode;
    GArray *msg_core;       /* per msg: uint8_t, 1 when its publisher was on a core server */
    const char **attached;  /* per actor while building: its server (interned), or NULL */
    /* With opts.servers (local_delivery) only: */
    bool local_mode;
    GArray *msg_srv;        /* per msg: int32_t opts.servers index of its publisher, or -1 */
    int32_t *attached_srv;  /* per actor while building: opts.servers index, or -1 */
    /* Per actor: its account (an index into opts.accounts' distinct labels), or
     * ACCT_NONE when opts.accounts does not name it. */
    uint32_t *acct;
};

#define ACCT_NONE UINT32_MAX

static uint32_t model_subject(struct model *m, const char *subject)
{
    gpointer v = g_hash_table_lookup(m->subject_index, subject);
    if (v != NULL) {
        return (uint32_t)(GPOINTER_TO_SIZE(v) - 1);
    }
    uint32_t idx = m->subjects->len;
    g_ptr_array_add(m->subjects, (gpointer)subject);
    g_hash_table_insert(m->subject_index, (gpointer)subject, GSIZE_TO_POINTER((gsize)idx + 1));
    return idx;
}

/* Whether server (a host name from a CONNECT event, or NULL) is in the core. */
static bool in_core(const struct sim_check_opts *o, const char *server)
{
    if (server == NULL) {
        return false;
    }
    for (size_t i = 0; i < o->core_len; i++) {
        if (strcmp(o->core[i], server) == 0) {
            return true;
        }
    }
    return false;
}

/* Follows which server each actor is attached to (core mode): a CONNECT attaches it,
 * a DISCONNECT or a STOP detaches it. attached has one entry per actor. */
static void attach_step(const char **attached, const struct sim_hist_event *e)
{
    if (e->kind == SIM_H_CONNECT) {
        attached[e->actor] = e->server;
    } else if (e->kind == SIM_H_DISCONNECT || e->kind == SIM_H_STOP) {
        attached[e->actor] = NULL;
    }
}

/* The index of server (a host name from an event) in opts.servers, or -1. */
static int32_t server_index(const struct sim_check_opts *o, const char *server)
{
    for (size_t i = 0; server != NULL && i < o->servers_len; i++) {
        if (strcmp(o->servers[i].name, server) == 0) {
            return (int32_t)i;
        }
    }
    return -1;
}

/* Adds one history event to the model; open holds, per actor, the indexes of its
 * subscriptions not ended yet. */
static void model_add(struct model *m, const struct sim_hist_event *e, GArray *open)
{
    if (m->core_mode) {
        attach_step(m->attached, e);
    }
    if (m->local_mode && e->kind == SIM_H_CONNECT) {
        m->attached_srv[e->actor] = server_index(m->o, e->server);
    } else if (m->local_mode && (e->kind == SIM_H_DISCONNECT || e->kind == SIM_H_STOP)) {
        m->attached_srv[e->actor] = -1;
    }
    switch (e->kind) {
    case SIM_H_PUB:
    case SIM_H_REQ: {
        struct pubmsg pm = {e->t_ns, e->pub, model_subject(m, e->subject), e->seq, e->subject};
        g_array_append_val(m->msgs, pm);
        pubtimes_add(&m->pub_time, e->pub, e->seq, e->t_ns);
        if (m->core_mode) {
            uint8_t core = in_core(m->o, m->attached[e->actor]) ? 1 : 0;
            g_array_append_val(m->msg_core, core);
        }
        if (m->local_mode) {
            g_array_append_val(m->msg_srv, m->attached_srv[e->actor]);
        }
        break;
    }
    case SIM_H_MSG: {
        if (e->pub == UINT32_MAX) {
            break;
        }
        bool fresh;
        (void)pair_add(&m->delivered, pairs_get(&m->delivered, e->actor, e->gen, e->pub, &fresh),
                       e->seq); /* a repeat changes nothing here */
        break;
    }
    case SIM_H_SUB: {
        struct subint s = {e->actor, e->gen, e->subject, e->queue, e->t_ns, UINT64_MAX, true,
                           m->local_mode ? server_index(m->o, e->server) : -1};
        if (m->core_mode) {
            s.core = in_core(m->o, m->attached[e->actor]);
        }
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

/* The matches and got arrays, from the complete model. */
static void model_index(struct model *m)
{
    size_t nsubs = m->subs->len;
    m->matches = g_new0(bool, m->subjects->len * nsubs + 1);
    for (guint i = 0; i < m->subjects->len; i++) {
        const char *subject = g_ptr_array_index(m->subjects, i);
        for (size_t j = 0; j < nsubs; j++) {
            const char *pattern = g_array_index(m->subs, struct subint, j).subject;
            m->matches[i * nsubs + j] =
                mr_subject_matches(pattern, strlen(pattern), subject, strlen(subject));
        }
    }
    m->got = g_new0(const struct pair *, nsubs * m->actors + 1);
    for (size_t j = 0; j < nsubs; j++) {
        const struct subint *s = &g_array_index(m->subs, struct subint, j);
        for (size_t p = 0; p < m->actors; p++) {
            m->got[j * m->actors + p] = pairs_find(&m->delivered, s->actor, s->gen, (uint32_t)p);
        }
    }
}

/* The account of every actor, from opts.accounts: equal labels, equal indexes. */
static void model_accounts(struct model *m)
{
    const struct sim_check_opts *o = m->o;
    const struct sim_history *h = m->h;
    m->acct = g_new(uint32_t, m->actors + 1);
    for (size_t i = 0; i <= m->actors; i++) {
        m->acct[i] = ACCT_NONE;
    }
    for (size_t i = 0; i < o->accounts_len; i++) {
        int64_t a = sim_history_actor_find(h, o->accounts[i].actor);
        if (a < 0) {
            continue;
        }
        uint32_t idx = (uint32_t)i;
        for (size_t k = 0; k < i; k++) {
            if (strcmp(o->accounts[k].account, o->accounts[i].account) == 0) {
                idx = (uint32_t)k;
                break;
            }
        }
        m->acct[a] = idx;
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
    /* Reserved for every event (only the pages written are touched): growing by
     * doubling copied the array into fresh memory again and again. */
    m->msgs = g_array_sized_new(FALSE, TRUE, sizeof(struct pubmsg), (guint)sim_history_len(h));
    m->subs = g_array_new(FALSE, TRUE, sizeof(struct subint));
    size_t actors = sim_history_actors(h);
    m->actors = actors;
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
    pairs_init(&m->delivered);
    pubtimes_init(&m->pub_time);
    m->subjects = g_ptr_array_new();
    m->subject_index = g_hash_table_new(g_direct_hash, g_direct_equal);
    m->core_mode = o->core_len > 0;
    if (m->core_mode) {
        m->msg_core = g_array_new(FALSE, TRUE, sizeof(uint8_t));
        m->attached = g_new0(const char *, actors + 1);
    }
    m->local_mode = o->servers_len > 0;
    if (m->local_mode) {
        m->msg_srv = g_array_new(FALSE, TRUE, sizeof(int32_t));
        m->attached_srv = g_new(int32_t, actors + 1);
        for (size_t i = 0; i <= actors; i++) {
            m->attached_srv[i] = -1;
        }
    }
    for (size_t i = 0; i < sim_history_len(h); i++) {
        model_add(m, sim_history_at(h, i), open);
    }
    for (size_t i = 0; i < actors; i++) {
        g_array_free(g_array_index(open, GArray *, i), TRUE);
    }
    g_array_free(open, TRUE);
    if (m->core_mode) {
        mr_assert(m->msg_core->len == m->msgs->len);
    }
    model_accounts(m);
    model_index(m);
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
    pairs_deinit(&m->delivered);
    pubtimes_deinit(&m->pub_time);
    g_ptr_array_free(m->subjects, TRUE);
    g_hash_table_destroy(m->subject_index);
    g_free(m->matches);
    g_free(m->got);
    if (m->msg_core != NULL) {
        g_array_free(m->msg_core, TRUE);
    }
    g_free(m->attached);
    if (m->msg_srv != NULL) {
        g_array_free(m->msg_srv, TRUE);
    }
    g_free(m->attached_srv);
    g_free(m->acct);
}

/* Whether message i counts for the core: its publisher was attached to a core server
 * when it published it. Without a core, every message does. */
static bool msg_on_core(const struct model *m, guint i)
{
    return !m->core_mode || g_array_index(m->msg_core, uint8_t, i) != 0;
}

/* Whether message pm was published after the core took over (liveness mode, from
 * quiesce on): then only the core's clients are judged for it. */
static bool after_core(const struct model *m, const struct pubmsg *pm)
{
    return m->core_mode && pm->t_ns >= m->o->core_from_ns;
}

/* Whether actors a and b are in one account: a message of one is for the other's
 * subscriptions. Actors without a known account are taken to share it (no accounts
 * given: everything in one). Imports between accounts create no expectations. */
static bool same_account(const struct model *m, uint32_t a, uint32_t b)
{
    if (a >= m->actors || b >= m->actors) {
        return true;
    }
    return m->acct[a] == ACCT_NONE || m->acct[b] == ACCT_NONE || m->acct[a] == m->acct[b];
}

/* Whether subscription j's pattern matches message pm's subject in its account. */
static bool model_matches(const struct model *m, guint j, const struct pubmsg *pm)
{
    return m->matches[(size_t)pm->subject_index * m->subs->len + j] &&
           same_account(m, pm->pub, g_array_index(m->subs, struct subint, j).actor);
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


/* Whether subscription j received message pm. */
static bool delivered(const struct model *m, guint j, const struct pubmsg *pm)
{
    if (pm->pub >= m->actors) {
        return false;
    }
    const struct pair *p = m->got[(size_t)j * m->actors + pm->pub];
    return p != NULL && pair_has(&m->delivered, p, pm->seq);
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
        /* After quiesce in liveness mode, servers outside the core stay faulty: only
         * messages from the core's publishers to its subscriptions are judged. */
        bool after = after_core(m, pm);
        healthy = healthy && (!after || msg_on_core(m, i));
        for (guint j = 0; j < m->subs->len; j++) {
            const struct subint *s = &g_array_index(m->subs, struct subint, j);
            if (s->queue[0] != '\0' || !model_matches(m, j, pm)) {
                continue;
            }
            if (!healthy || (after && !s->core) || !sub_covers(m, s, pm->t_ns)) {
                v->exempt++;
                continue;
            }
            v->checked++;
            if (!delivered(m, j, pm)) {
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
    uint32_t acct;       /* a group lives in one account */
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
            if (c->subject == s->subject && c->queue == s->queue &&
                c->acct == m->acct[s->actor]) {
                g = c;
            }
        }
        if (g == NULL) {
            struct qgroup ng = {s->subject, s->queue, m->acct[s->actor],
                                g_array_new(FALSE, FALSE, sizeof(guint))};
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
        bool after = after_core(m, pm);
        healthy = healthy && (!after || msg_on_core(m, i));
        for (guint k = 0; k < groups->len; k++) {
            const struct qgroup *g = &g_array_index(groups, struct qgroup, k);
            /* Every member's pattern is the group's subject. */
            if (!model_matches(m, g_array_index(g->subs, guint, 0), pm)) {
                continue;
            }
            uint64_t members = 0;
            bool covered = false;
            const char *who[2] = {NULL, NULL};
            for (guint x = 0; x < g->subs->len; x++) {
                guint j = g_array_index(g->subs, guint, x);
                const struct subint *s = &g_array_index(m->subs, struct subint, j);
                if (delivered(m, j, pm)) {
                    if (members < 2) {
                        who[members] = actor(h, s->actor);
                    }
                    members++;
                }
                covered = covered || ((!after || s->core) && sub_covers(m, s, pm->t_ns));
            }
            char t[32];
            if (members > 1) {
                v->checked++;
                fmt_time(t, sizeof(t), pm->t_ns);
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
                    fmt_time(t, sizeof(t), pm->t_ns);
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

/* Whether a message matching pattern was published in [from, to) in who's account
 * (core_only: by a publisher attached to a core server). msgs are in time order, so
 * the scan starts at the first message at or after from. */
static bool published_in(const struct model *m, const char *pattern, uint32_t who,
                         uint64_t from, uint64_t to, bool core_only)
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
        if ((!core_only || msg_on_core(m, i)) && same_account(m, pm->pub, who) &&
            mr_subject_matches(pattern, plen, pm->subject, strlen(pm->subject))) {
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
                                        : (p->queue == s->queue && p->subject == s->subject &&
                                           m->acct[p->actor] == m->acct[s->actor]);
        if (same) {
            return k;
        }
    }
    return j;
}

/* The server of s: its actor's last CONNECT before the SUB. Only violation messages
 * need it, so it is searched for instead of kept per subscription. */
static const char *sub_server(const struct model *m, const struct subint *s)
{
    const char *server = "?";
    for (size_t i = 0; i < sim_history_len(m->h); i++) {
        const struct sim_hist_event *e = sim_history_at(m->h, i);
        if (e->t_ns > s->from_ns) {
            break;
        }
        if (e->kind == SIM_H_CONNECT && e->actor == s->actor) {
            server = e->server;
        }
    }
    return server;
}

/* Core mode: the first subscription of unit u on a core server that was active (past
 * its settle margins) while a publisher attached to a core server published a
 * matching message in [from, to), or NULL when there is none: the unit then had
 * nothing to receive from the core and is exempt. */
static const struct subint *unit_core_work(const struct model *m, const guint *unit, guint u,
                                           uint64_t from, uint64_t to)
{
    uint64_t settle = m->o->sub_settle_ns;
    for (guint k = u; k < m->subs->len; k++) {
        const struct subint *s = &g_array_index(m->subs, struct subint, k);
        if (unit[k] != u || !s->core) {
            continue;
        }
        uint64_t a = MAX(from, sat_add(s->from_ns, settle));
        uint64_t b = MIN(to, sat_sub(s->to_ns, settle));
        if (a < b && published_in(m, s->subject, s->actor, a, b, true)) {
            return s;
        }
    }
    return NULL;
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
        uint64_t pt;
        if (idx != NULL && pubtimes_get(&m->pub_time, e->pub, e->seq, &pt) && pt >= from) {
            got[unit[idx[0]]] = true;
        }
    }
    for (guint j = 0; j < n; j++) {
        const struct subint *s = &g_array_index(m->subs, struct subint, j);
        if (unit[j] != j) {
            continue;
        }
        const struct subint *core_sub = NULL;
        bool work;
        if (m->core_mode) {
            core_sub = unit_core_work(m, unit, j, from, pub_to);
            work = core_sub != NULL;
        } else {
            work = published_in(m, s->subject, s->actor, from, pub_to, false);
        }
        if (!live[j] || !work) {
            v->exempt++;
            continue;
        }
        v->checked++;
        if (!got[j]) {
            char a[32];
            char b[32];
            fmt_time(a, sizeof(a), from);
            fmt_time(b, sizeof(b), to);
            if (core_sub != NULL && s->queue[0] == '\0') {
                violation(v,
                          "%s (on %s, at core server %s) received no new message in "
                          "(t=%s, t=%s]",
                          actor(h, s->actor), s->subject, sub_server(m, core_sub), a, b);
            } else if (core_sub != NULL) {
                violation(v,
                          "queue %s on %s (%s at core server %s) received no new message in "
                          "(t=%s, t=%s]",
                          s->queue, s->subject, actor(h, core_sub->actor),
                          sub_server(m, core_sub), a, b);
            } else if (s->queue[0] == '\0') {
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
    /* Core mode: only requests sent while attached to a core server count. */
    const char **attached = m->core_mode ? g_new0(const char *, actors + 1) : NULL;
    for (size_t i = 0; i < sim_history_len(h); i++) {
        const struct sim_hist_event *e = sim_history_at(h, i);
        if (attached != NULL) {
            attach_step(attached, e);
        }
        if (e->kind == SIM_H_REQ) {
            bool counts = attached == NULL || in_core(m->o, attached[e->actor]);
            requester[e->actor] = true;
            sent[e->actor] =
                sent[e->actor] || (counts && e->t_ns >= from && e->t_ns < req_to);
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
    g_free(attached);
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
 * local_delivery
 */

/* Whether t falls in [from - settle, to + settle) of an outage between a and b (a == b:
 * of server a itself). */
static bool outage_near(const struct sim_check_opts *o, uint32_t a, uint32_t b, uint64_t t)
{
    for (size_t i = 0; i < o->outages_len; i++) {
        const struct sim_check_outage *x = &o->outages[i];
        bool same = (x->a == a && x->b == b) || (x->a == b && x->b == a);
        if (same && t >= sat_sub(x->w.from_ns, o->settle_ns) &&
            t < sat_add(x->w.to_ns, o->settle_ns)) {
            return true;
        }
    }
    return false;
}

/* Whether the publisher of pm disconnected in [t, t + settle]: the message may have
 * been lost in its own output buffer. */
static bool pub_left(const struct model *m, const struct pubmsg *pm)
{
    if (pm->pub >= m->ends->len) {
        return false;
    }
    const GArray *ends = g_array_index(m->ends, GArray *, pm->pub);
    for (guint i = 0; i < ends->len; i++) {
        uint64_t t = g_array_index(ends, uint64_t, i);
        if (t >= pm->t_ns && t <= sat_add(pm->t_ns, m->o->settle_ns)) {
            return true;
        }
    }
    return false;
}

static void local_violation(struct model *m, struct sim_verdict *v, const struct pubmsg *pm,
                            const struct subint *s, uint32_t srv)
{
    const struct sim_history *h = m->h;
    char t[32];
    char from[32];
    fmt_time(t, sizeof(t), pm->t_ns);
    fmt_time(from, sizeof(from), s->from_ns);
    violation(v,
              "t=%s %s:%" PRIu64 " on %s, published on %s while it was up, never reached %s "
              "(subscription %" PRIu32 " to %s on %s, active since t=%s)",
              t, actor(h, pm->pub), pm->seq, pm->subject, m->o->servers[srv].name,
              actor(h, s->actor), s->gen, s->subject, m->o->servers[s->srv].name, from);
}

static void local_delivery_on(struct model *m, struct sim_verdict *v)
{
    const struct sim_check_opts *o = m->o;
    bool any = false;
    for (size_t i = 0; i < o->servers_len; i++) {
        any = any || o->servers[i].local;
    }
    if (!any) {
        snprintf(v->first, sizeof(v->first), "no leaf servers: nothing judged");
        return;
    }
    for (guint i = 0; i < m->msgs->len; i++) {
        const struct pubmsg *pm = &g_array_index(m->msgs, struct pubmsg, i);
        int32_t srv = g_array_index(m->msg_srv, int32_t, i);
        if (srv < 0 || !o->servers[srv].local) {
            continue;
        }
        uint32_t a = (uint32_t)srv;
        bool judged = sat_add(pm->t_ns, o->settle_ns) <= m->end_ns && !pub_left(m, pm) &&
                      !outage_near(o, a, a, pm->t_ns);
        for (guint j = 0; j < m->subs->len; j++) {
            const struct subint *s = &g_array_index(m->subs, struct subint, j);
            if (s->queue[0] != '\0' || s->srv < 0 || !model_matches(m, j, pm) ||
                o->servers[s->srv].group != o->servers[a].group) {
                continue;
            }
            uint32_t b = (uint32_t)s->srv;
            bool covered = judged && sub_covers(m, s, pm->t_ns) &&
                           (b == a || (!outage_near(o, b, b, pm->t_ns) &&
                                       !outage_near(o, a, b, pm->t_ns)));
            if (!covered) {
                v->exempt++;
                continue;
            }
            v->checked++;
            if (!delivered(m, j, pm)) {
                local_violation(m, v, pm, s, a);
            }
        }
    }
}

void sim_check_local_delivery(const struct sim_history *h, const struct sim_check_opts *o,
                              struct sim_verdict *v)
{
    verdict_init(v, "local_delivery", h);
    struct model m;
    model_build(&m, h, o);
    local_delivery_on(&m, v);
    model_free(&m);
    verdict_finish(v, h);
}

/* ------------------------------------------------------------------------------------
 * account_scoping
 */

/* Whether account label a ("A" or "A@server") names account name. */
static bool account_is(const char *label, const char *name)
{
    size_t n = strcspn(label, "@");
    return strlen(name) == n && strncmp(label, name, n) == 0;
}

static bool crossing_allowed(const struct sim_check_opts *o, const char *from, const char *to)
{
    for (size_t i = 0; i < o->crossings_len; i++) {
        if (account_is(from, o->crossings[i].from) && account_is(to, o->crossings[i].to)) {
            return true;
        }
    }
    return false;
}

void sim_check_account_scoping(const struct sim_history *h, const struct sim_check_opts *o,
                               struct sim_verdict *v)
{
    verdict_init(v, "account_scoping", h);
    size_t actors = sim_history_actors(h);
    /* Per actor: its account label, or NULL when it has none (exempt). */
    const char **acc = g_new0(const char *, actors + 1);
    for (size_t i = 0; i < o->accounts_len; i++) {
        int64_t a = sim_history_actor_find(h, o->accounts[i].actor);
        if (a >= 0) {
            acc[a] = o->accounts[i].account;
        }
    }
    for (size_t i = 0; i < sim_history_len(h); i++) {
        const struct sim_hist_event *e = sim_history_at(h, i);
        if (e->kind != SIM_H_MSG) {
            continue;
        }
        const char *to = acc[e->actor];
        const char *from = e->pub < actors ? acc[e->pub] : NULL;
        if (to == NULL || from == NULL) {
            v->exempt++;
            continue;
        }
        v->checked++;
        if (strcmp(from, to) != 0 && !crossing_allowed(o, from, to)) {
            char t[32];
            fmt_time(t, sizeof(t), e->t_ns);
            violation(v,
                      "t=%s %s (account %s) got %s:%" PRIu64 " on %s from %s (account %s), and "
                      "no account_crossings entry allows %s -> %s",
                      t, actor(h, e->actor), to, actor(h, e->pub), e->seq, e->subject,
                      actor(h, e->pub), from, from, to);
        }
    }
    if (o->accounts_len == 0 && v->ok) {
        snprintf(v->first, sizeof(v->first), "no client accounts: nothing judged");
    }
    g_free(acc);
    verdict_finish(v, h);
}

/* ------------------------------------------------------------------------------------
 * no_acked_loss
 */

struct js_ack {
    uint64_t t_ns;
    uint32_t pub;
    uint64_t seq;
    uint64_t sseq;
    const char *stream; /* in the model's names */
    int32_t server;     /* index into o->js_servers, -1 = unknown */
};

struct js_read {
    uint32_t pub; /* UINT32_MAX: no id */
    uint64_t seq;
    const char *text;
};

/* One stream as the reader saw it: its info and reads, by sequence. */
struct js_stream {
    bool info;
    uint64_t info_ns;
    uint64_t last_seq;
    GHashTable *reads; /* sseq (uint64 *) -> struct js_read *; lookup only */
};

struct js_model {
    const struct sim_history *h;
    const struct sim_check_opts *o;
    GArray *acks;          /* struct js_ack, in history order */
    GArray *store_events;  /* struct sim_check_crash (power unused): JS_STORE by server */
    GHashTable *streams;   /* name -> struct js_stream *; lookup only */
    GStringChunk *names;   /* stream names of acks */
    GHashTable *published; /* (pub << 40 | seq) -> sseq acked + 1, or 1; lookup only */
    const char **attached; /* by actor: server of the last CONNECT */
    /* Counts for the note. */
    uint64_t lost, bounded, detected, reported;
    uint64_t lost_from_ns, lost_to_ns;
};

static uint64_t id_key(uint32_t pub, uint64_t seq)
{
    return ((uint64_t)pub << 40) ^ seq;
}

static int32_t js_server(const struct sim_check_opts *o, const char *name)
{
    for (size_t i = 0; name != NULL && i < o->js_servers_len; i++) {
        if (strcmp(o->js_servers[i].name, name) == 0) {
            return (int32_t)i;
        }
    }
    return -1;
}

static void js_stream_free(gpointer p)
{
    struct js_stream *s = p;
    g_hash_table_destroy(s->reads);
    g_free(s);
}

static struct js_stream *js_stream_get(struct js_model *m, const char *name)
{
    struct js_stream *s = g_hash_table_lookup(m->streams, name);
    if (s == NULL) {
        s = g_new0(struct js_stream, 1);
        s->reads = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
        g_hash_table_insert(m->streams, (gpointer)name, s);
    }
    return s;
}

/* The stream name of an ack's text ("S" or "S duplicate"). */
static const char *ack_stream(struct js_model *m, const char *text, bool *dup)
{
    const char *sp = strchr(text, ' ');
    *dup = sp != NULL;
    if (sp == NULL) {
        return text;
    }
    return g_string_chunk_insert_len(m->names, text, sp - text);
}

static void js_model_add(struct js_model *m, const struct sim_hist_event *e)
{
    switch (e->kind) {
    case SIM_H_CONNECT:
        m->attached[e->actor] = e->server;
        break;
    case SIM_H_PUB:
        g_hash_table_insert(m->published, g_memdup2(&(uint64_t){id_key(e->pub, e->seq)}, 8),
                            GSIZE_TO_POINTER(1));
        break;
    case SIM_H_JS_ACK: {
        bool dup = false;
        struct js_ack a = {e->t_ns, e->pub, e->seq, e->sseq, ack_stream(m, e->text, &dup),
                           js_server(m->o, m->attached[e->actor])};
        if (!dup) {
            g_array_append_val(m->acks, a);
        }
        break;
    }
    case SIM_H_JS_STORE: {
        struct sim_check_crash c = {(uint32_t)js_server(m->o, e->server), e->t_ns, false};
        g_array_append_val(m->store_events, c);
        m->reported++;
        break;
    }
    case SIM_H_JS_INFO: {
        struct js_stream *s = js_stream_get(m, e->text);
        s->info = true;
        s->info_ns = e->t_ns;
        s->last_seq = e->sseq;
        g_hash_table_remove_all(s->reads); /* a new read-back starts */
        break;
    }
    case SIM_H_JS_READ: {
        struct js_read *r = g_new0(struct js_read, 1);
        *r = (struct js_read){e->pub, e->seq, e->text};
        g_hash_table_replace(js_stream_get(m, e->subject)->reads,
                             g_memdup2(&e->sseq, sizeof(e->sseq)), r);
        break;
    }
    default:
        break;
    }
}

static void js_model_build(struct js_model *m, const struct sim_history *h,
                           const struct sim_check_opts *o)
{
    memset(m, 0, sizeof(*m));
    m->h = h;
    m->o = o;
    m->acks = g_array_new(FALSE, FALSE, sizeof(struct js_ack));
    m->store_events = g_array_new(FALSE, FALSE, sizeof(struct sim_check_crash));
    m->streams = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, js_stream_free);
    m->names = g_string_chunk_new(256);
    m->published = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    m->attached = g_new0(const char *, sim_history_actors(h) + 1);
    for (size_t i = 0; i < sim_history_len(h); i++) {
        js_model_add(m, sim_history_at(h, i));
    }
    /* Which sequence each published message was acked at, for reads of another one. */
    for (guint i = 0; i < m->acks->len; i++) {
        const struct js_ack *a = &g_array_index(m->acks, struct js_ack, i);
        uint64_t k = id_key(a->pub, a->seq);
        g_hash_table_replace(m->published, g_memdup2(&k, 8), GSIZE_TO_POINTER(a->sseq + 1));
    }
}

static void js_model_free(struct js_model *m)
{
    g_array_free(m->acks, TRUE);
    g_array_free(m->store_events, TRUE);
    g_hash_table_destroy(m->streams);
    g_hash_table_destroy(m->published);
    g_string_chunk_free(m->names);
    g_free(m->attached);
}

/* Whether the loss of a is explained by a power loss of its server within the sync
 * interval (plus settle) after the ack, on a server that does not sync always. */
static bool loss_bounded(const struct js_model *m, const struct js_ack *a)
{
    const struct sim_check_opts *o = m->o;
    if (a->server < 0 || o->js_servers[a->server].sync_always) {
        return false;
    }
    uint64_t bound = o->js_servers[a->server].sync_interval_ns + o->settle_ns;
    for (size_t i = 0; i < o->crashes_len; i++) {
        const struct sim_check_crash *c = &o->crashes[i];
        if (c->power && c->server == (uint32_t)a->server && c->t_ns >= a->t_ns &&
            c->t_ns - a->t_ns <= bound) {
            return true;
        }
    }
    return false;
}

/* Whether a's server's store reported a problem after the ack. */
static bool loss_detected(const struct js_model *m, const struct js_ack *a)
{
    for (guint i = 0; i < m->store_events->len; i++) {
        const struct sim_check_crash *c =
            &g_array_index(m->store_events, struct sim_check_crash, i);
        if (a->server >= 0 && c->server == (uint32_t)a->server && c->t_ns >= a->t_ns) {
            return true;
        }
    }
    return false;
}

static void js_lost(struct js_model *m, struct sim_verdict *v, const struct js_ack *a,
                    const char *how)
{
    bool bounded = loss_bounded(m, a);
    bool detected = !bounded && loss_detected(m, a);
    m->lost++;
    m->bounded += bounded ? 1 : 0;
    m->detected += detected ? 1 : 0;
    if (m->lost == 1 || a->t_ns < m->lost_from_ns) {
        m->lost_from_ns = a->t_ns;
    }
    if (a->t_ns > m->lost_to_ns) {
        m->lost_to_ns = a->t_ns;
    }
    int allowed = bounded ? SIM_CHECK_LOSS_BOUNDED : detected ? SIM_CHECK_LOSS_DETECTED : 99;
    if (allowed <= m->o->acked_loss) {
        return;
    }
    char t[32];
    fmt_time(t, sizeof(t), a->t_ns);
    violation(v, "t=%s %s:%" PRIu64 " acked as %s seq %" PRIu64 " is lost (%s)%s", t,
              actor(m->h, a->pub), a->seq, a->stream, a->sseq, how,
              bounded    ? ", within the sync interval of a power loss"
              : detected ? ", the store reported damage"
                         : "");
}

static void js_judge_ack(struct js_model *m, struct sim_verdict *v, const struct js_ack *a)
{
    struct js_stream *s = g_hash_table_lookup(m->streams, a->stream);
    if (s == NULL || !s->info || a->t_ns > s->info_ns) {
        v->exempt++; /* not read back, or acked after the read-back began */
        return;
    }
    v->checked++;
    const struct js_read *r = g_hash_table_lookup(s->reads, &a->sseq);
    if (r == NULL) {
        js_lost(m, v, a, a->sseq > s->last_seq ? "past the stream's last sequence" : "not read");
        return;
    }
    if (strcmp(r->text, "ok") != 0) {
        if (strcmp(r->text, "corrupt") != 0) {
            js_lost(m, v, a, r->text);
        }
        return; /* corruption served is judged per read */
    }
    if (r->pub == a->pub && r->seq == a->seq) {
        return;
    }
    uint64_t k = id_key(r->pub, r->seq);
    gpointer acked = g_hash_table_lookup(m->published, &k);
    if (acked != NULL && (GPOINTER_TO_SIZE(acked) == 1 || GPOINTER_TO_SIZE(acked) - 1 == a->sseq)) {
        js_lost(m, v, a, "its sequence reused");
        return;
    }
    violation(v, "%s seq %" PRIu64 " acked for %s:%" PRIu64 " reads %s:%" PRIu64
              ", a message stored elsewhere or never published",
              a->stream, a->sseq, actor(m->h, a->pub), a->seq, actor(m->h, r->pub), r->seq);
}

/* Reads that returned bytes no publisher sent: corruption served (in history order, so
 * the first one reported is the earliest). */
static void js_judge_reads(struct js_model *m, struct sim_verdict *v)
{
    for (size_t i = 0; i < sim_history_len(m->h); i++) {
        const struct sim_hist_event *e = sim_history_at(m->h, i);
        if (e->kind == SIM_H_JS_READ && strcmp(e->text, "corrupt") == 0) {
            char t[32];
            fmt_time(t, sizeof(t), e->t_ns);
            violation(v, "t=%s %s seq %" PRIu64 " served bytes no publisher sent (corruption "
                      "not detected)", t, e->subject, e->sseq);
        }
    }
}

static void js_note(const struct js_model *m, struct sim_verdict *v)
{
    char from[32];
    char to[32];
    fmt_time(from, sizeof(from), m->lost_from_ns);
    fmt_time(to, sizeof(to), m->lost_to_ns);
    if (m->lost == 0) {
        snprintf(v->first, sizeof(v->first), "no acked message lost; store reports %" PRIu64,
                 m->reported);
        return;
    }
    snprintf(v->first, sizeof(v->first),
             "%" PRIu64 " acked lost (bounded by the sync interval %" PRIu64 ", detected %" PRIu64
             ", unexplained %" PRIu64 "), acked in t=%s..%s; store reports %" PRIu64,
             m->lost, m->bounded, m->detected, m->lost - m->bounded - m->detected, from, to,
             m->reported);
}

void sim_check_no_acked_loss(const struct sim_history *h, const struct sim_check_opts *o,
                             struct sim_verdict *v)
{
    verdict_init(v, "no_acked_loss", h);
    struct js_model m;
    js_model_build(&m, h, o);
    js_judge_reads(&m, v);
    for (guint i = 0; i < m.acks->len; i++) {
        js_judge_ack(&m, v, &g_array_index(m.acks, struct js_ack, i));
    }
    if (g_hash_table_size(m.streams) == 0) {
        violation(v, "no stream was read back (a js_read client records JS_INFO and JS_READ)");
    }
    if (v->ok) {
        js_note(&m, v);
    } else if (m.lost > 0) {
        /* The count goes with the first violation, so a failure says how much was lost. */
        char note[64];
        snprintf(note, sizeof(note), " [%" PRIu64 " acked lost of %" PRIu64 " checked]", m.lost,
                 v->checked);
        g_strlcat(v->first, note, sizeof(v->first));
    }
    js_model_free(&m);
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
    {"local_delivery", sim_check_local_delivery},
    {"account_scoping", sim_check_account_scoping},
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
    /* One online pass and one model for all of them: the same verdicts as the checkers
     * run one by one, in about a third of the time on large histories. */
    struct sim_check_online c;
    sim_check_online_init(&c);
    size_t failed = sim_check_all_online(h, o, &c, v);
    sim_check_online_deinit(&c);
    return failed;
}

size_t sim_check_all_online(const struct sim_history *h, const struct sim_check_opts *o,
                            struct sim_check_online *online, struct sim_verdict v[SIM_CHECKERS])
{
    (void)sim_check_online_step(online, h); /* the verdicts carry the result */
    v[0] = online->dup;
    v[1] = online->order;
    struct model m;
    model_build(&m, h, o);
    verdict_init(&v[2], "delivery", h);
    delivery_on(&m, &v[2]);
    verdict_init(&v[3], "queue_once", h);
    queue_once_on(&m, &v[3]);
    verdict_init(&v[4], "liveness", h);
    liveness_on(&m, &v[4]);
    verdict_init(&v[5], "local_delivery", h);
    local_delivery_on(&m, &v[5]);
    model_free(&m);
    sim_check_account_scoping(h, o, &v[6]);
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
