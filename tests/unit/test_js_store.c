/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the JetStream stores (core/js/js_store.h). Both stores run the same
 * behavioural suite, randomized against a simple model (append, load, next-matching,
 * last-by-subject, delete and erase, purge variants, compact, state, per-subject
 * counts). The file store runs on a simulated host (sim/sim_env.h) whose disk is the
 * simulator's (sim/sim_disk.h), and is also reopened, crashed (process: page cache
 * kept; power: unsynced writes lost or torn) and corrupted, checking that nothing
 * acknowledged under sync always is lost, that interval-sync loss is bounded and
 * reported, and that damage is detected and never served.
 */
#include <check.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/js/js_record.h"
#include "core/js/js_store.h"
#include "core/limits.h"
#include "core/proto/subject.h"
#include "core/server/server.h"
#include "core/server/server_int.h"
#include "sim/sim_disk.h"
#include "sim/sim_env.h"

#define TIMER_ID 77
#define REQ_BASE (UINT64_C(1) << 40)
#define US 1000ULL
#define MS 1000000ULL
#define SEC 1000000000ULL

/* ---- fixture: one simulated host, its disk, one store ---- */

struct fx {
    struct sim_world *w;
    struct sim_host *h;
    struct mr_mem mem;
    struct mr_js_store *st;
    struct mr_js_store_cfg cfg;
    struct mr_env_sink sink;
    bool opened;
    int open_status;
    uint64_t acked;
    int ack_err;
    uint64_t ready;
    bool closed;
};

static void cb_open(void *ctx, int status)
{
    struct fx *f = ctx;
    f->opened = true;
    f->open_status = status;
}

static void cb_acked(void *ctx, uint64_t seq, int status)
{
    struct fx *f = ctx;
    if (status != 0) {
        f->ack_err = status;
        return;
    }
    ck_assert_uint_gt(seq, f->acked); /* acks only move forward */
    f->acked = seq;
}

static void cb_ready(void *ctx)
{
    ((struct fx *)ctx)->ready++;
}

static void cb_closed(void *ctx)
{
    ((struct fx *)ctx)->closed = true;
}

static void sink_file_done(void *ctx, uint64_t req_id, int64_t result, const uint8_t *data,
                           size_t len)
{
    struct fx *f = ctx;
    if (f->st != NULL && mr_js_store_owns_req(f->st, req_id)) {
        mr_js_store_on_file_done(f->st, req_id, result, data, len);
        mr_js_store_check(f->st);
    }
}

static void sink_timer(void *ctx, uint64_t timer_id)
{
    struct fx *f = ctx;
    if (f->st != NULL && timer_id == TIMER_ID) {
        mr_js_store_on_timer(f->st);
        mr_js_store_check(f->st);
    }
}

static void sink_accept(void *ctx, uint64_t l, uint64_t c, const char *h, uint16_t p)
{
    (void)ctx, (void)l, (void)c, (void)h, (void)p;
}
static void sink_connected(void *ctx, uint64_t c, int st)
{
    (void)ctx, (void)c, (void)st;
}
static void sink_bytes(void *ctx, uint64_t c, const uint8_t *b, size_t n)
{
    (void)ctx, (void)c, (void)b, (void)n;
}
static void sink_closed(void *ctx, uint64_t c)
{
    (void)ctx, (void)c;
}
static void sink_tls(void *ctx, uint64_t c, int st, const char *p)
{
    (void)ctx, (void)c, (void)st, (void)p;
}
static size_t sink_peek(void *ctx, uint64_t c, struct mr_iov *iov, size_t n)
{
    (void)ctx, (void)c, (void)iov, (void)n;
    return 0;
}
static void sink_consume(void *ctx, uint64_t c, size_t n)
{
    (void)ctx, (void)c, (void)n;
}

static void fx_init(struct fx *f, enum mr_js_storage storage, uint64_t seed)
{
    memset(f, 0, sizeof(*f));
    struct sim_world_opts o;
    sim_world_opts_default(&o);
    o.seed = seed;
    f->w = sim_world_create(&o);
    f->h = sim_host_create(f->w, "n1");
    mr_mem_init(&f->mem, 0);
    f->cfg.storage = storage;
    f->cfg.dir = "streams/ORDERS";
    f->cfg.block_bytes = 512;
    f->cfg.cache_blocks = 1;
    f->cfg.req_id_base = REQ_BASE;
    f->cfg.timer_id = TIMER_ID;
    f->sink = (struct mr_env_sink){
        .ctx = f, .on_accept = sink_accept, .on_connected = sink_connected,
        .on_bytes = sink_bytes, .on_closed = sink_closed, .on_timer = sink_timer,
        .on_tls = sink_tls, .on_file_done = sink_file_done, .out_peek = sink_peek,
        .out_consume = sink_consume,
    };
    sim_host_set_sink(f->h, &f->sink);
}

static bool pred_opened(void *ctx)
{
    return ((struct fx *)ctx)->opened;
}

static bool pred_closed(void *ctx)
{
    return ((struct fx *)ctx)->closed;
}

/* Creates the store and, for the file store, runs recovery to its end. */
static int fx_open_status(struct fx *f)
{
    struct mr_js_store_cbs cbs = {.ctx = f, .on_open = cb_open, .on_acked = cb_acked,
                                  .on_ready = cb_ready, .on_closed = cb_closed};
    char err[MR_ERRMSG_MAX];
    f->opened = false;
    f->closed = false;
    f->ack_err = 0;
    ck_assert_int_eq(mr_js_store_create(&f->mem, sim_host_env(f->h), &f->cfg, &cbs, &f->st,
                                        err, sizeof(err)),
                     0);
    if (f->cfg.storage == MR_JS_STORAGE_MEMORY) {
        return 0;
    }
    ck_assert(sim_world_run_until_pred(f->w, pred_opened, f, sim_world_now_ns(f->w) + 10 * SEC));
    if (f->open_status == 0) {
        f->acked = mr_js_store_acked_seq(f->st);
        mr_js_store_check(f->st);
    }
    return f->open_status;
}

static void fx_open(struct fx *f)
{
    ck_assert_int_eq(fx_open_status(f), 0);
}

static void fx_run(struct fx *f, uint64_t ns)
{
    sim_world_run_until(f->w, sim_world_now_ns(f->w) + ns);
}

static void fx_close(struct fx *f)
{
    if (f->cfg.storage == MR_JS_STORAGE_FILE) {
        ck_assert_int_eq(mr_js_store_close(f->st), 0);
        ck_assert(
            sim_world_run_until_pred(f->w, pred_closed, f, sim_world_now_ns(f->w) + 10 * SEC));
    }
    mr_js_store_destroy(f->st);
    f->st = NULL;
}

/* The host dies with the store in it; it comes back with its disk only. */
static void fx_crash(struct fx *f, enum sim_crash_kind kind)
{
    mr_js_store_destroy(f->st);
    f->st = NULL;
    sim_host_crash(f->h, kind);
    sim_host_restart(f->h);
    sim_host_set_sink(f->h, &f->sink);
}

static void fx_deinit(struct fx *f)
{
    if (f->st != NULL) {
        mr_js_store_destroy(f->st);
        f->st = NULL;
    }
    sim_host_set_sink(f->h, NULL);
    sim_world_destroy(f->w);
    ck_assert_uint_eq(f->mem.used_bytes, 0);
    mr_mem_deinit(&f->mem);
}

static bool pred_ready_moved(void *ctx)
{
    struct fx *f = ((void **)ctx)[0];
    uint64_t *before = ((void **)ctx)[1];
    return f->ready != *before;
}

/* Waits out MR_AGAIN: the block read finishes and the load is tried again. */
static void wait_ready(struct fx *f, uint64_t before)
{
    void *ctx[2] = {f, &before};
    ck_assert(sim_world_run_until_pred(f->w, pred_ready_moved, ctx,
                                       sim_world_now_ns(f->w) + SEC));
}

static int fx_load(struct fx *f, uint64_t seq, struct mr_js_msg *m)
{
    for (int i = 0; i < 4; i++) {
        uint64_t before = f->ready;
        int rc = mr_js_store_load(f->st, seq, m);
        if (rc != MR_AGAIN) {
            return rc;
        }
        wait_ready(f, before);
    }
    ck_abort_msg("load of %llu never became ready", (unsigned long long)seq);
    return MR_E_IO;
}

static int fx_load_next(struct fx *f, const char *filter, uint64_t start, struct mr_js_msg *m)
{
    for (int i = 0; i < 4; i++) {
        uint64_t before = f->ready;
        int rc = mr_js_store_load_next(f->st, filter, filter != NULL ? strlen(filter) : 0, start,
                                       m);
        if (rc != MR_AGAIN) {
            return rc;
        }
        wait_ready(f, before);
    }
    ck_abort_msg("load_next never became ready");
    return MR_E_IO;
}

static int fx_load_last(struct fx *f, const char *filter, struct mr_js_msg *m)
{
    for (int i = 0; i < 4; i++) {
        uint64_t before = f->ready;
        int rc = mr_js_store_load_last(f->st, filter, strlen(filter), m);
        if (rc != MR_AGAIN) {
            return rc;
        }
        wait_ready(f, before);
    }
    ck_abort_msg("load_last never became ready");
    return MR_E_IO;
}

static uint64_t fx_append(struct fx *f, const char *subj, const char *data, int64_t ts)
{
    uint64_t seq = 0;
    ck_assert_int_eq(mr_js_store_append(f->st, subj, strlen(subj), NULL, 0,
                                        (const uint8_t *)data, strlen(data), ts, &seq),
                     0);
    return seq;
}

/* ---- the model ---- */

struct mmsg {
    char subj[24];
    uint8_t hdr[24];
    size_t hdr_len;
    uint8_t data[48];
    size_t data_len;
    int64_t ts;
    bool live;
};

struct model {
    GArray *msgs; /* struct mmsg, index seq - 1 */
    uint64_t last;
    int64_t last_ts;
    enum mr_js_storage storage;
};

static void model_init(struct model *m, enum mr_js_storage storage)
{
    m->msgs = g_array_new(FALSE, TRUE, sizeof(struct mmsg));
    m->last = 0;
    m->last_ts = 0;
    m->storage = storage;
}

static struct mmsg *model_at(struct model *m, uint64_t seq)
{
    if (seq == 0 || seq > m->msgs->len) {
        return NULL;
    }
    return &g_array_index(m->msgs, struct mmsg, seq - 1);
}

static bool model_live(struct model *m, uint64_t seq)
{
    struct mmsg *x = model_at(m, seq);
    return x != NULL && x->live;
}

static bool matches(const char *filter, const char *subj)
{
    if (filter == NULL || filter[0] == '\0') {
        return true;
    }
    return mr_subject_matches(filter, strlen(filter), subj, strlen(subj));
}

static uint64_t model_size(const struct model *m, const struct mmsg *x)
{
    size_t sl = strlen(x->subj);
    if (m->storage == MR_JS_STORAGE_MEMORY) {
        return sl + x->hdr_len + x->data_len + 16;
    }
    return 22 + sl + x->data_len + 8 + (x->hdr_len > 0 ? 4 + x->hdr_len : 0);
}

static void model_compact(struct model *m, uint64_t seq)
{
    for (uint64_t q = 1; q < seq && q <= m->last; q++) {
        if (model_live(m, q)) {
            model_at(m, q)->live = false;
        }
    }
    if (m->last + 1 < seq) {
        g_array_set_size(m->msgs, seq - 1);
        m->last = seq - 1;
    }
}

/* nats-server's PurgeEx, as the store documents it. */
static uint64_t model_purge(struct model *m, const char *filter, uint64_t up_to, uint64_t keep)
{
    bool all = filter == NULL || strcmp(filter, ">") == 0;
    up_to = up_to == 1 ? 0 : up_to;
    uint64_t below = up_to > 0 ? up_to : m->last + 1;
    uint64_t live = 0;
    for (uint64_t q = 1; q <= m->last; q++) {
        live += model_live(m, q);
    }
    if (keep > 0 && all) {
        /* Sequences, not messages (nats-server 2.9 and later). */
        below = keep >= live ? 0 : m->last - keep + 1;
    } else if (keep > 0) {
        below = 0;
        uint64_t seen = 0;
        for (uint64_t q = m->last; q >= 1; q--) {
            if (model_live(m, q) && matches(filter, model_at(m, q)->subj) && ++seen == keep) {
                below = q;
                break;
            }
        }
    }
    uint64_t n = 0;
    for (uint64_t q = 1; q < below && q <= m->last; q++) {
        struct mmsg *x = model_at(m, q);
        if (x->live && (all || matches(filter, x->subj))) {
            x->live = false;
            n++;
        }
    }
    if (all && below > m->last + 1) {
        model_compact(m, below);
    }
    return n;
}

static void model_state(struct model *m, struct mr_js_store_state *st)
{
    memset(st, 0, sizeof(*st));
    GHashTable *subjects = g_hash_table_new(g_str_hash, g_str_equal);
    for (uint64_t q = 1; q <= m->last; q++) {
        struct mmsg *x = model_at(m, q);
        if (!x->live) {
            continue;
        }
        st->msgs++;
        st->bytes += model_size(m, x);
        if (st->first_seq == 0) {
            st->first_seq = q;
            st->first_ts_ns = x->ts;
        }
        g_hash_table_add(subjects, x->subj);
    }
    if (st->first_seq == 0) {
        st->first_seq = m->last + 1;
    }
    st->last_seq = m->last;
    st->last_ts_ns = m->last_ts;
    st->num_deleted = st->msgs > 0 ? st->last_seq - st->first_seq + 1 - st->msgs : 0;
    st->num_subjects = g_hash_table_size(subjects);
    g_hash_table_destroy(subjects);
}

static const char *const SUBJECTS[] = {"a.b", "a.c", "b.x.y", "c", "a.b.c"};
static const char *const FILTERS[] = {">", "a.*", "a.>", "b.>", "c", "a.b", "*.x.*", "zz"};
#define N_SUBJECTS (sizeof(SUBJECTS) / sizeof(SUBJECTS[0]))
#define N_FILTERS (sizeof(FILTERS) / sizeof(FILTERS[0]))

static void expect_msg(struct model *m, uint64_t seq, const struct mr_js_msg *got)
{
    struct mmsg *x = model_at(m, seq);
    ck_assert_uint_eq(got->seq, seq);
    ck_assert_int_eq(got->ts_ns, x->ts);
    ck_assert_uint_eq(got->subject_len, strlen(x->subj));
    ck_assert(memcmp(got->subject, x->subj, got->subject_len) == 0);
    ck_assert_uint_eq(got->hdr_len, x->hdr_len);
    if (x->hdr_len > 0) {
        ck_assert(memcmp(got->hdr, x->hdr, x->hdr_len) == 0);
    } else {
        ck_assert_ptr_null(got->hdr);
    }
    ck_assert_uint_eq(got->data_len, x->data_len);
    if (x->data_len > 0) {
        ck_assert(memcmp(got->data, x->data, x->data_len) == 0);
    }
}

struct listing {
    GString *s;
};

static void list_each(void *ctx, const char *subject, size_t len, uint64_t count)
{
    struct listing *l = ctx;
    g_string_append_printf(l->s, "%.*s=%llu;", (int)len, subject, (unsigned long long)count);
}

/* Everything the store says agrees with the model. */
static void verify(struct fx *f, struct model *m)
{
    struct mr_js_store_state want;
    struct mr_js_store_state got;
    model_state(m, &want);
    mr_js_store_state(f->st, &got);
    ck_assert_uint_eq(got.msgs, want.msgs);
    ck_assert_uint_eq(got.bytes, want.bytes);
    ck_assert_uint_eq(got.first_seq, want.first_seq);
    ck_assert_uint_eq(got.last_seq, want.last_seq);
    ck_assert_int_eq(got.first_ts_ns, want.first_ts_ns);
    ck_assert_int_eq(got.last_ts_ns, want.last_ts_ns);
    ck_assert_uint_eq(got.num_deleted, want.num_deleted);
    ck_assert_uint_eq(got.num_subjects, want.num_subjects);
    for (uint64_t q = 1; q <= m->last + 1; q++) {
        struct mr_js_msg msg;
        int rc = fx_load(f, q, &msg);
        if (model_live(m, q)) {
            ck_assert_msg(rc == 0, "seq %llu: %s", (unsigned long long)q, mr_err_name(rc));
            expect_msg(m, q, &msg);
        } else {
            ck_assert_int_eq(rc, MR_E_NOT_FOUND);
        }
    }
    for (size_t i = 0; i < N_SUBJECTS; i++) {
        uint64_t n = 0;
        uint64_t first = 0;
        uint64_t last = 0;
        for (uint64_t q = 1; q <= m->last; q++) {
            if (model_live(m, q) && strcmp(model_at(m, q)->subj, SUBJECTS[i]) == 0) {
                n++;
                first = first == 0 ? q : first;
                last = q;
            }
        }
        ck_assert_uint_eq(mr_js_store_subject_count(f->st, SUBJECTS[i], strlen(SUBJECTS[i])), n);
        ck_assert_uint_eq(mr_js_store_first_of(f->st, SUBJECTS[i], strlen(SUBJECTS[i])), first);
        ck_assert_uint_eq(mr_js_store_last_of(f->st, SUBJECTS[i], strlen(SUBJECTS[i])), last);
    }
    for (size_t i = 0; i < N_FILTERS; i++) {
        const char *flt = FILTERS[i];
        /* load_last and the filtered summary from a few starting points. */
        uint64_t last = 0;
        for (uint64_t q = 1; q <= m->last; q++) {
            if (model_live(m, q) && matches(flt, model_at(m, q)->subj)) {
                last = q;
            }
        }
        struct mr_js_msg msg;
        int rc = fx_load_last(f, flt, &msg);
        if (last == 0) {
            ck_assert_int_eq(rc, MR_E_NOT_FOUND);
        } else {
            ck_assert_int_eq(rc, 0);
            expect_msg(m, last, &msg);
        }
        /* Starts near the front and near the end: the summary counts whichever side of
         * the start is shorter. */
        uint64_t starts[] = {0,           1,       m->last / 4, m->last / 2, 3 * m->last / 4,
                             m->last - 1, m->last, m->last + 3};
        for (size_t k = 0; k < sizeof(starts) / sizeof(starts[0]); k++) {
            struct mr_js_filtered want_f = {0};
            uint64_t next = 0;
            for (uint64_t q = starts[k] > 0 ? starts[k] : 1; q <= m->last; q++) {
                if (model_live(m, q) && matches(flt, model_at(m, q)->subj)) {
                    next = next == 0 ? q : next;
                    want_f.msgs++;
                    want_f.first_seq = want_f.first_seq == 0 ? q : want_f.first_seq;
                    want_f.last_seq = q;
                }
            }
            struct mr_js_filtered got_f;
            mr_js_store_filtered(f->st, flt, strlen(flt), starts[k], &got_f);
            ck_assert_uint_eq(got_f.msgs, want_f.msgs);
            ck_assert_uint_eq(got_f.first_seq, want_f.first_seq);
            ck_assert_uint_eq(got_f.last_seq, want_f.last_seq);
            rc = fx_load_next(f, flt, starts[k], &msg);
            if (next == 0) {
                ck_assert_int_eq(rc, MR_E_NOT_FOUND);
            } else {
                ck_assert_int_eq(rc, 0);
                expect_msg(m, next, &msg);
            }
        }
    }
    /* The subject listing, sorted, with counts. */
    GTree *counts = g_tree_new((GCompareFunc)strcmp);
    for (uint64_t q = 1; q <= m->last; q++) {
        if (model_live(m, q)) {
            const char *s = model_at(m, q)->subj;
            g_tree_insert(counts, (gpointer)s,
                          GSIZE_TO_POINTER(GPOINTER_TO_SIZE(g_tree_lookup(counts, s)) + 1));
        }
    }
    struct listing want_l = {g_string_new("")};
    GTreeNode *node = g_tree_node_first(counts);
    for (; node != NULL; node = g_tree_node_next(node)) {
        list_each(&want_l, g_tree_node_key(node), strlen(g_tree_node_key(node)),
                  GPOINTER_TO_SIZE(g_tree_node_value(node)));
    }
    struct listing got_l = {g_string_new("")};
    ck_assert_int_eq(mr_js_store_subjects(f->st, ">", 1, list_each, &got_l),
                     g_tree_nnodes(counts));
    ck_assert_str_eq(got_l.s->str, want_l.s->str);
    g_string_free(want_l.s, TRUE);
    g_string_free(got_l.s, TRUE);
    g_tree_destroy(counts);
    mr_js_store_check(f->st);
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void do_append(struct fx *f, struct model *m, uint64_t *rng)
{
    struct mmsg x;
    memset(&x, 0, sizeof(x));
    g_strlcpy(x.subj, SUBJECTS[rnd(rng) % N_SUBJECTS], sizeof(x.subj));
    x.data_len = rnd(rng) % sizeof(x.data);
    for (size_t i = 0; i < x.data_len; i++) {
        x.data[i] = (uint8_t)rnd(rng);
    }
    if (rnd(rng) % 4 == 0) {
        x.hdr_len = (size_t)g_snprintf((char *)x.hdr, sizeof(x.hdr), "NATS/1.0\r\nK: %u\r\n\r\n",
                                       (unsigned)(rnd(rng) % 100));
    }
    x.ts = 1700000000000000000LL + (int64_t)(m->last + 1) * 1000;
    x.live = true;
    uint64_t seq = 0;
    int rc = mr_js_store_append(f->st, x.subj, strlen(x.subj), x.hdr_len > 0 ? x.hdr : NULL,
                                x.hdr_len, x.data, x.data_len, x.ts, &seq);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(seq, m->last + 1);
    g_array_append_val(m->msgs, x);
    m->last = seq;
    m->last_ts = x.ts;
}

/* Lets every queued write and sync finish (20 us per disk request). */
static void settle(struct fx *f)
{
    fx_run(f, 5 * MS);
}

static void random_ops(enum mr_js_storage storage, uint64_t seed, int steps)
{
    struct fx f;
    fx_init(&f, storage, seed);
    fx_open(&f);
    struct model m;
    model_init(&m, storage);
    uint64_t rng = seed * 2654435761ULL + 1;
    bool wrote = false; /* appended or deleted since the store opened */
    for (int step = 0; step < steps; step++) {
        uint64_t op = rnd(&rng) % 100;
        if (op < 50) {
            do_append(&f, &m, &rng);
            wrote = true;
        } else if (op < 62) {
            uint64_t seq = 1 + rnd(&rng) % (m.last + 2);
            bool erase = rnd(&rng) % 3 == 0;
            int rc = mr_js_store_delete(f.st, seq, erase);
            if (model_live(&m, seq)) {
                ck_assert_int_eq(rc, 0);
                model_at(&m, seq)->live = false;
                wrote = true;
            } else {
                ck_assert_int_eq(rc, MR_E_NOT_FOUND);
            }
        } else if (op < 72) {
            const char *flt = FILTERS[rnd(&rng) % N_FILTERS];
            uint64_t up_to = 0;
            uint64_t keep = 0;
            if (rnd(&rng) % 2 == 0) {
                up_to = rnd(&rng) % (m.last + 2);
            } else if (rnd(&rng) % 2 == 0) {
                keep = rnd(&rng) % 6;
            }
            if (rnd(&rng) % 4 == 0) {
                flt = NULL;
            }
            uint64_t n = 0;
            int rc = mr_js_store_purge(f.st, flt, flt != NULL ? strlen(flt) : 0, up_to, keep, &n);
            ck_assert_int_eq(rc, 0);
            ck_assert_uint_eq(n, model_purge(&m, flt, up_to, keep));
        } else if (op < 76) {
            /* Sometimes past the end: first_seq moves there, last_seq follows. */
            uint64_t seq = 1 + rnd(&rng) % (m.last + 4);
            uint64_t n = 0;
            uint64_t live_below = 0;
            for (uint64_t q = 1; q < seq && q <= m.last; q++) {
                live_below += model_live(&m, q);
            }
            ck_assert_int_eq(mr_js_store_compact(f.st, seq, &n), 0);
            ck_assert_uint_eq(n, live_below);
            model_compact(&m, seq);
        } else if (op < 88) {
            verify(&f, &m);
        } else if (op < 94 && storage == MR_JS_STORAGE_FILE) {
            fx_close(&f);
            fx_open(&f);
            wrote = false;
            struct mr_js_store_state st;
            mr_js_store_state(f.st, &st);
            ck_assert(!st.recovered_unclean);
            ck_assert_uint_eq(st.corrupt_records, 0);
            ck_assert_uint_eq(st.truncated_bytes, 0);
            verify(&f, &m);
        } else if (op < 97 && storage == MR_JS_STORAGE_FILE) {
            /* kill -9 once every write is in the OS: nothing is lost. */
            settle(&f);
            fx_crash(&f, SIM_CRASH_PROCESS);
            fx_open(&f);
            struct mr_js_store_state st;
            mr_js_store_state(f.st, &st);
            if (wrote) {
                ck_assert(st.recovered_unclean);
            }
            wrote = false;
            ck_assert_uint_eq(st.truncated_bytes, 0);
            verify(&f, &m);
        } else {
            settle(&f);
        }
        mr_js_store_check(f.st);
    }
    verify(&f, &m);
    if (storage == MR_JS_STORAGE_FILE) {
        fx_close(&f);
        fx_open(&f);
        verify(&f, &m);
        /* Older blocks were read on demand (MR_AGAIN, then on_ready). */
        ck_assert_uint_gt(f.ready, 0);
    }
    g_array_free(m.msgs, TRUE);
    fx_deinit(&f);
}

START_TEST(memory_store_matches_model)
{
    for (uint64_t seed = 1; seed <= 6; seed++) {
        random_ops(MR_JS_STORAGE_MEMORY, seed, 600);
    }
}
END_TEST

START_TEST(file_store_matches_model)
{
    for (uint64_t seed = 1; seed <= 4; seed++) {
        random_ops(MR_JS_STORAGE_FILE, seed, 500);
    }
}
END_TEST

/* By time: the first live message at or after t, checked against a walk over every
 * sequence; on a reopened file store the older blocks are not in memory, and the
 * lookup must neither read them nor start early. */
static void seq_from_time_case(enum mr_js_storage storage)
{
    struct fx f;
    fx_init(&f, storage, 7);
    fx_open(&f);
    enum { N = 80 };
    int64_t ts[N + 1];
    bool live[N + 1];
    for (uint64_t i = 1; i <= N; i++) {
        ts[i] = 1000 + 10 * (int64_t)(i / 2); /* pairs share a time */
        live[i] = true;
        ck_assert_uint_eq(fx_append(&f, "t.x", "a body of some length", ts[i]), i);
    }
    static const uint64_t gone[] = {1, 2, 3, 20, 21, 22, 23, 24, 25, 26, 50, 79, 80};
    for (size_t k = 0; k < G_N_ELEMENTS(gone); k++) {
        ck_assert_int_eq(mr_js_store_delete(f.st, gone[k], false), 0);
        live[gone[k]] = false;
    }
    settle(&f);
    if (storage == MR_JS_STORAGE_FILE) {
        fx_close(&f);
        fx_open(&f);
    }
    uint64_t ready = f.ready;
    for (int64_t t = 900; t <= 1500; t += 5) {
        uint64_t want = N + 1;
        for (uint64_t i = 1; i <= N && want == N + 1; i++) {
            if (live[i] && ts[i] >= t) {
                want = i;
            }
        }
        ck_assert_uint_eq(mr_js_store_seq_from_time(f.st, t), want);
    }
    ck_assert_uint_eq(f.ready, ready); /* no block was read */
    fx_deinit(&f);
}

START_TEST(seq_from_time_finds_the_first_message_at_or_after)
{
    seq_from_time_case(MR_JS_STORAGE_MEMORY);
    seq_from_time_case(MR_JS_STORAGE_FILE);
}
END_TEST

/* ---- fixed behaviour, both stores ---- */

static void basics(enum mr_js_storage storage)
{
    struct fx f;
    fx_init(&f, storage, 1);
    fx_open(&f);
    ck_assert_uint_eq(fx_append(&f, "orders.eu", "one", 10), 1);
    ck_assert_uint_eq(fx_append(&f, "orders.us", "two", 20), 2);
    ck_assert_uint_eq(fx_append(&f, "orders.eu", "three", 30), 3);
    ck_assert_uint_eq(fx_append(&f, "audit", "four", 40), 4);
    struct mr_js_msg m;
    ck_assert_int_eq(fx_load(&f, 2, &m), 0);
    ck_assert(memcmp(m.data, "two", 3) == 0);
    ck_assert_int_eq(fx_load_next(&f, "orders.eu", 2, &m), 0);
    ck_assert_uint_eq(m.seq, 3);
    ck_assert_int_eq(fx_load_last(&f, "orders.*", &m), 0);
    ck_assert_uint_eq(m.seq, 3);
    ck_assert_uint_eq(mr_js_store_subject_count(f.st, "orders.eu", 9), 2);
    /* Bad input: errors, not crashes. */
    uint64_t seq = 0;
    ck_assert_int_eq(mr_js_store_append(f.st, "bad subject", 11, NULL, 0, NULL, 0, 0, &seq),
                     MR_E_SUBJECT);
    ck_assert_int_eq(mr_js_store_append(f.st, "a.*", 3, NULL, 0, NULL, 0, 0, &seq),
                     MR_E_SUBJECT);
    ck_assert_int_eq(mr_js_store_purge(f.st, "a..b", 4, 0, 0, NULL), MR_E_SUBJECT);
    ck_assert_int_eq(mr_js_store_purge(f.st, ">", 1, 3, 1, NULL), MR_E_INVAL);
    ck_assert_int_eq(mr_js_store_purge(f.st, "nothing.here", 12, 1, 1, NULL), 0);
    ck_assert_int_eq(mr_js_store_compact(f.st, 0, NULL), MR_E_INVAL);
    ck_assert_int_eq(mr_js_store_delete(f.st, 99, false), MR_E_NOT_FOUND);
    /* Delete the oldest: first moves; delete in the middle: a hole. */
    ck_assert_int_eq(mr_js_store_delete(f.st, 1, false), 0);
    ck_assert_int_eq(mr_js_store_delete(f.st, 3, true), 0);
    struct mr_js_store_state st;
    mr_js_store_state(&(*f.st), &st);
    ck_assert_uint_eq(st.first_seq, 2);
    ck_assert_int_eq(st.first_ts_ns, 20);
    ck_assert_uint_eq(st.last_seq, 4);
    ck_assert_int_eq(st.last_ts_ns, 40);
    ck_assert_uint_eq(st.msgs, 2);
    ck_assert_uint_eq(st.num_deleted, 1);
    ck_assert_uint_eq(st.num_subjects, 2);
    ck_assert_uint_eq(mr_js_store_first_of(f.st, "orders.eu", 9), 0);
    /* Compact past the end (nats-server's Compact): empty, sequences continue. */
    uint64_t n = 0;
    ck_assert_int_eq(mr_js_store_compact(f.st, 10, &n), 0);
    ck_assert_uint_eq(n, 2);
    mr_js_store_state(f.st, &st);
    ck_assert_uint_eq(st.msgs, 0);
    ck_assert_uint_eq(st.first_seq, 10);
    ck_assert_uint_eq(st.last_seq, 9);
    ck_assert_uint_eq(fx_append(&f, "x", "y", 50), 10);
    if (storage == MR_JS_STORAGE_FILE) {
        fx_close(&f);
        fx_open(&f);
        mr_js_store_state(f.st, &st);
        ck_assert_uint_eq(st.first_seq, 10);
        ck_assert_uint_eq(st.last_seq, 10);
        ck_assert_int_eq(st.last_ts_ns, 50);
    }
    ck_assert_int_eq(fx_load(&f, 10, &m), 0);
    /* Bytes as nats-server counts them: memory subj+hdr+data+16, file 30+subj+data. */
    mr_js_store_state(f.st, &st);
    ck_assert_uint_eq(st.bytes, storage == MR_JS_STORAGE_MEMORY ? 1 + 1 + 16 : 30 + 1 + 1);
    fx_deinit(&f);
}

START_TEST(memory_store_basics)
{
    basics(MR_JS_STORAGE_MEMORY);
}
END_TEST

START_TEST(file_store_basics)
{
    basics(MR_JS_STORAGE_FILE);
}
END_TEST

/* Every allocation failure point is an error, never a crash or a leak. */
static void alloc_failures(enum mr_js_storage storage)
{
    for (int64_t k = 0; k < 400; k++) {
        struct fx f;
        fx_init(&f, storage, 3);
        f.cfg.block_bytes = 256;
        f.mem.fail_after = k;
        struct mr_js_store_cbs cbs = {.ctx = &f, .on_open = cb_open, .on_acked = cb_acked,
                                      .on_ready = cb_ready, .on_closed = cb_closed};
        char err[MR_ERRMSG_MAX];
        int rc = mr_js_store_create(&f.mem, sim_host_env(f.h), &f.cfg, &cbs, &f.st, err,
                                    sizeof(err));
        if (rc != 0) {
            ck_assert_int_eq(rc, MR_E_NOMEM);
            fx_deinit(&f);
            continue;
        }
        if (storage == MR_JS_STORAGE_FILE) {
            (void)sim_world_run_until_pred(f.w, pred_opened, &f, 10 * SEC);
        }
        for (int i = 0; i < 40; i++) {
            uint64_t seq;
            char data[32];
            g_snprintf(data, sizeof(data), "message %d", i);
            rc = mr_js_store_append(f.st, SUBJECTS[i % N_SUBJECTS], strlen(SUBJECTS[i % 5]), NULL,
                                    0, (const uint8_t *)data, strlen(data), i, &seq);
            ck_assert(rc == 0 || rc == MR_E_NOMEM || rc == MR_E_IO || rc == MR_AGAIN);
            if (i % 7 == 3) {
                rc = mr_js_store_delete(f.st, (uint64_t)i / 2, i % 2 == 0);
                ck_assert(rc == 0 || rc == MR_E_NOMEM || rc == MR_E_IO || rc == MR_AGAIN ||
                          rc == MR_E_NOT_FOUND);
            }
            if (i % 13 == 5) {
                (void)mr_js_store_purge(f.st, "a.*", 3, 0, 1, NULL); /* any error is fine */
            }
            fx_run(&f, 100 * US);
        }
        struct mr_js_msg m;
        for (uint64_t q = 1; q <= 40; q++) {
            rc = mr_js_store_load(f.st, q, &m);
            ck_assert(rc == 0 || rc == MR_E_NOT_FOUND || rc == MR_AGAIN || rc == MR_E_NOMEM ||
                      rc == MR_E_IO);
        }
        fx_run(&f, 10 * MS);
        mr_js_store_check(f.st);
        fx_deinit(&f);
    }
}

START_TEST(memory_store_survives_allocation_failures)
{
    alloc_failures(MR_JS_STORAGE_MEMORY);
}
END_TEST

START_TEST(file_store_survives_allocation_failures)
{
    alloc_failures(MR_JS_STORAGE_FILE);
}
END_TEST

/* ---- file store only ---- */

START_TEST(bad_configuration_is_named)
{
    struct fx f;
    fx_init(&f, MR_JS_STORAGE_FILE, 1);
    f.cfg.block_bytes = 10;
    char err[MR_ERRMSG_MAX] = "";
    struct mr_js_store *st = NULL;
    ck_assert_int_eq(mr_js_store_create(&f.mem, sim_host_env(f.h), &f.cfg, NULL, &st, err,
                                        sizeof(err)),
                     MR_E_INVAL);
    ck_assert_ptr_nonnull(strstr(err, "streams/ORDERS"));
    ck_assert_ptr_nonnull(strstr(err, "block size 10"));
    f.cfg.block_bytes = 0;
    f.cfg.dir = "";
    ck_assert_int_eq(mr_js_store_create(&f.mem, sim_host_env(f.h), &f.cfg, NULL, &st, err,
                                        sizeof(err)),
                     MR_E_INVAL);
    ck_assert_ptr_nonnull(strstr(err, "directory"));
    fx_deinit(&f);
}
END_TEST

START_TEST(appends_wait_for_open_and_blocks_roll)
{
    struct fx f;
    fx_init(&f, MR_JS_STORAGE_FILE, 1);
    struct mr_js_store_cbs cbs = {.ctx = &f, .on_open = cb_open, .on_acked = cb_acked};
    char err[MR_ERRMSG_MAX];
    ck_assert_int_eq(mr_js_store_create(&f.mem, sim_host_env(f.h), &f.cfg, &cbs, &f.st, err,
                                        sizeof(err)),
                     0);
    uint64_t seq;
    ck_assert_int_eq(mr_js_store_append(f.st, "a", 1, NULL, 0, NULL, 0, 0, &seq), MR_AGAIN);
    ck_assert(sim_world_run_until_pred(f.w, pred_opened, &f, SEC));
    for (int i = 0; i < 40; i++) {
        fx_append(&f, "a.b", "0123456789012345678901234567890123456789", i);
    }
    ck_assert_uint_eq(mr_js_store_acked_seq(f.st), 0); /* nothing written yet */
    settle(&f);
    ck_assert_uint_eq(f.acked, 40);
    struct sim_disk *d = sim_host_disk(f.h);
    ck_assert(sim_disk_exists(d, "streams/ORDERS/0000000001.blk"));
    ck_assert(sim_disk_exists(d, "streams/ORDERS/0000000004.blk"));
    ck_assert_uint_le(sim_disk_size(d, "streams/ORDERS/0000000001.blk"), 512);
    /* Interval sync: written but not yet synced until the timer fires. */
    ck_assert_uint_gt(sim_disk_unsynced_bytes(d), 0);
    fx_run(&f, MR_JS_SYNC_INTERVAL_DEFAULT_NS + SEC);
    ck_assert_uint_eq(sim_disk_unsynced_bytes(d), 0);
    struct mr_js_store_state st;
    mr_js_store_state(f.st, &st);
    ck_assert_uint_eq(st.synced_seq, 40);
    fx_deinit(&f);
}
END_TEST

/* The sim env's file_write, wrapped to count the writes the store issues. */
static const struct mr_env *counted_env;
static unsigned counted_writes;

static void counting_file_write(void *ctx, uint64_t req_id, int64_t file, uint64_t offset,
                                const uint8_t *buf, size_t len)
{
    counted_writes++;
    counted_env->file_write(ctx, req_id, file, offset, buf, len);
}

/* Group commit: appends made while a write is in flight wait for it and then go out
 * together, so a burst read from one socket costs two writes, not one per message. */
START_TEST(a_burst_of_appends_costs_two_writes)
{
    struct fx f;
    fx_init(&f, MR_JS_STORAGE_FILE, 3);
    f.cfg.block_bytes = 64 * 1024; /* one block: no roll in the middle */
    counted_env = sim_host_env(f.h);
    struct mr_env env = *counted_env;
    env.file_write = counting_file_write;
    struct mr_js_store_cbs cbs = {.ctx = &f, .on_open = cb_open, .on_acked = cb_acked,
                                  .on_ready = cb_ready, .on_closed = cb_closed};
    char err[MR_ERRMSG_MAX];
    ck_assert_int_eq(mr_js_store_create(&f.mem, &env, &f.cfg, &cbs, &f.st, err, sizeof(err)), 0);
    ck_assert(sim_world_run_until_pred(f.w, pred_opened, &f, SEC));
    fx_append(&f, "a.b", "first", 0); /* opens the write block */
    settle(&f);
    ck_assert_uint_eq(f.acked, 1);
    counted_writes = 0;
    for (int i = 1; i <= 100; i++) {
        fx_append(&f, "a.b", "0123456789012345678901234567890123456789", i);
    }
    ck_assert_uint_eq(counted_writes, 1); /* the first record of the burst went at once */
    ck_assert_uint_eq(f.acked, 1);
    settle(&f);
    ck_assert_uint_eq(counted_writes, 2);
    ck_assert_uint_eq(f.acked, 101);
    /* A lone append with nothing in flight is not held back. */
    fx_append(&f, "a.b", "x", 101);
    ck_assert_uint_eq(counted_writes, 3);
    settle(&f);
    ck_assert_uint_eq(f.acked, 102);
    fx_close(&f);
    fx_open(&f); /* recovery reads every record the batched writes put down */
    struct mr_js_store_state st;
    mr_js_store_state(f.st, &st);
    ck_assert_uint_eq(st.msgs, 102);
    ck_assert(!st.recovered_unclean);
    struct mr_js_msg m;
    ck_assert_int_eq(fx_load(&f, 77, &m), 0);
    ck_assert_int_eq(m.ts_ns, 76);
    fx_deinit(&f);
}
END_TEST

/* The index ring grows while its live part wraps around the end of the array: every
 * message is still found under its own sequence afterwards. */
START_TEST(index_grows_across_the_ring_wrap)
{
    struct fx f;
    fx_init(&f, MR_JS_STORAGE_MEMORY, 4);
    fx_open(&f);
    char subj[16];
    for (int i = 1; i <= 12; i++) {
        snprintf(subj, sizeof(subj), "s.%d", i);
        fx_append(&f, subj, "v", i);
    }
    uint64_t n;
    ck_assert_int_eq(mr_js_store_compact(f.st, 10, &n), 0); /* the head moves up */
    ck_assert_uint_eq(n, 9);
    for (int i = 13; i <= 300; i++) {
        snprintf(subj, sizeof(subj), "s.%d", i);
        fx_append(&f, subj, "v", i);
    }
    for (int i = 10; i <= 300; i++) {
        struct mr_js_msg m;
        ck_assert_int_eq(fx_load(&f, (uint64_t)i, &m), 0);
        snprintf(subj, sizeof(subj), "s.%d", i);
        ck_assert_uint_eq(m.subject_len, strlen(subj));
        ck_assert(memcmp(m.subject, subj, m.subject_len) == 0);
        ck_assert_int_eq(m.ts_ns, i);
    }
    struct mr_js_msg m;
    ck_assert_int_eq(fx_load(&f, 9, &m), MR_E_NOT_FOUND);
    fx_deinit(&f);
}
END_TEST

START_TEST(purges_remove_whole_blocks_and_keep_sequences)
{
    struct fx f;
    fx_init(&f, MR_JS_STORAGE_FILE, 1);
    fx_open(&f);
    for (int i = 0; i < 60; i++) {
        fx_append(&f, i % 2 ? "kv.a" : "kv.b", "0123456789012345678901234567890123456789", i);
    }
    settle(&f);
    struct sim_disk *d = sim_host_disk(f.h);
    ck_assert(sim_disk_exists(d, "streams/ORDERS/0000000001.blk"));
    uint64_t n;
    ck_assert_int_eq(mr_js_store_purge(f.st, NULL, 0, 0, 0, &n), 0);
    ck_assert_uint_eq(n, 60);
    settle(&f);
    /* Sealed blocks went once the mark was synced; the write block stays. */
    ck_assert(!sim_disk_exists(d, "streams/ORDERS/0000000001.blk"));
    fx_crash(&f, SIM_CRASH_POWER);
    fx_open(&f);
    struct mr_js_store_state st;
    mr_js_store_state(f.st, &st);
    ck_assert_uint_eq(st.msgs, 0);
    ck_assert_uint_eq(st.first_seq, 61);
    ck_assert_uint_eq(st.last_seq, 60);
    ck_assert_int_eq(st.last_ts_ns, 59);
    ck_assert_uint_eq(fx_append(&f, "kv.a", "x", 100), 61);
    fx_deinit(&f);
}
END_TEST

START_TEST(close_and_reopen_recovers_everything)
{
    struct fx f;
    fx_init(&f, MR_JS_STORAGE_FILE, 5);
    fx_open(&f);
    struct model m;
    model_init(&m, MR_JS_STORAGE_FILE);
    uint64_t rng = 99;
    for (int i = 0; i < 200; i++) {
        do_append(&f, &m, &rng);
    }
    fx_close(&f);
    fx_open(&f);
    struct mr_js_store_state st;
    mr_js_store_state(f.st, &st);
    ck_assert(!st.recovered_unclean);
    verify(&f, &m);
    g_array_free(m.msgs, TRUE);
    fx_deinit(&f);
}
END_TEST

START_TEST(process_crash_keeps_written_data)
{
    struct fx f;
    fx_init(&f, MR_JS_STORAGE_FILE, 6);
    fx_open(&f);
    struct model m;
    model_init(&m, MR_JS_STORAGE_FILE);
    uint64_t rng = 5;
    for (int i = 0; i < 120; i++) {
        do_append(&f, &m, &rng);
    }
    settle(&f);
    ck_assert_uint_eq(f.acked, 120);
    ck_assert_uint_gt(sim_disk_unsynced_bytes(sim_host_disk(f.h)), 0); /* never synced */
    fx_crash(&f, SIM_CRASH_PROCESS);
    fx_open(&f);
    struct mr_js_store_state st;
    mr_js_store_state(f.st, &st);
    ck_assert(st.recovered_unclean);
    ck_assert_uint_eq(st.truncated_bytes, 0);
    verify(&f, &m);
    g_array_free(m.msgs, TRUE);
    fx_deinit(&f);
}
END_TEST

/* Appends at random moments, a power failure at a random moment: every acknowledged
 * message is there, in full, after recovery. Torn writes on. */
START_TEST(sync_always_loses_nothing_acknowledged)
{
    uint64_t unacked_at_crash = 0;
    uint64_t torn = 0;
    for (uint64_t seed = 1; seed <= 25; seed++) {
        struct fx f;
        fx_init(&f, MR_JS_STORAGE_FILE, seed);
        f.cfg.sync = MR_JS_SYNC_ALWAYS;
        struct sim_disk_faults faults = {.torn_write = {1, 2}};
        sim_disk_set_faults(sim_host_disk(f.h), &faults);
        fx_open(&f);
        struct model m;
        model_init(&m, MR_JS_STORAGE_FILE);
        uint64_t rng = seed + 1000;
        int rounds = 1 + (int)(rnd(&rng) % 3);
        for (int r = 0; r < rounds; r++) {
            int n = 20 + (int)(rnd(&rng) % 80);
            for (int i = 0; i < n; i++) {
                do_append(&f, &m, &rng);
                /* Step event by event, so the crash can fall between any two. */
                for (uint64_t k = rnd(&rng) % 4; k > 0; k--) {
                    (void)sim_world_step(f.w);
                }
            }
            uint64_t acked = f.acked;
            ck_assert_uint_le(acked, m.last);
            unacked_at_crash += m.last - acked;
            fx_crash(&f, SIM_CRASH_POWER);
            fx_open(&f);
            struct mr_js_store_state st;
            mr_js_store_state(f.st, &st);
            torn += st.truncated_bytes;
            ck_assert_uint_ge(st.last_seq, acked);
            for (uint64_t q = 1; q <= acked; q++) {
                struct mr_js_msg msg;
                ck_assert_int_eq(fx_load(&f, q, &msg), 0);
                expect_msg(&m, q, &msg);
            }
            /* Unacknowledged messages may survive (a torn write can keep whole records
             * of a multi-record write past a lost one): served intact or not at all. */
            for (uint64_t q = acked + 1; q <= st.last_seq && q <= m.last; q++) {
                struct mr_js_msg msg;
                int rc = fx_load(&f, q, &msg);
                if (rc == 0) {
                    expect_msg(&m, q, &msg);
                } else {
                    ck_assert_int_eq(rc, MR_E_NOT_FOUND);
                    model_at(&m, q)->live = false;
                }
            }
            /* The model forgets what the store lost, and both go on from there. */
            ck_assert_uint_le(st.last_seq, m.last);
            g_array_set_size(m.msgs, st.last_seq);
            m.last = st.last_seq;
            m.last_ts = st.last_ts_ns;
            verify(&f, &m);
        }
        g_array_free(m.msgs, TRUE);
        fx_deinit(&f);
    }
    /* The crashes did hit writes in flight, and torn ones. */
    ck_assert_uint_gt(unacked_at_crash, 0);
    ck_assert_uint_gt(torn, 0);
}
END_TEST

/* Interval sync: a power failure loses at most what was appended since the last sync,
 * and the store says it recovered from an unclean stop. */
START_TEST(interval_sync_loss_is_bounded_and_reported)
{
    uint64_t lost = 0;
    for (uint64_t seed = 1; seed <= 10; seed++) {
        struct fx f;
        fx_init(&f, MR_JS_STORAGE_FILE, seed);
        f.cfg.sync_interval_ns = 50 * MS;
        fx_open(&f);
        struct model m;
        model_init(&m, MR_JS_STORAGE_FILE);
        uint64_t rng = seed + 77;
        int n = 50 + (int)(rnd(&rng) % 150);
        for (int i = 0; i < n; i++) {
            do_append(&f, &m, &rng);
            fx_run(&f, rnd(&rng) % (2 * MS));
        }
        struct mr_js_store_state before;
        mr_js_store_state(f.st, &before);
        ck_assert_uint_le(before.synced_seq, m.last);
        fx_crash(&f, SIM_CRASH_POWER);
        fx_open(&f);
        struct mr_js_store_state st;
        mr_js_store_state(f.st, &st);
        ck_assert_uint_ge(st.last_seq, before.synced_seq);
        ck_assert(st.recovered_unclean);
        lost += m.last - st.last_seq;
        for (uint64_t q = 1; q <= st.last_seq; q++) {
            struct mr_js_msg msg;
            ck_assert_int_eq(fx_load(&f, q, &msg), 0);
            expect_msg(&m, q, &msg);
        }
        g_array_free(m.msgs, TRUE);
        fx_deinit(&f);
    }
    ck_assert_uint_gt(lost, 0); /* acknowledged but unsynced messages were lost */
}
END_TEST

START_TEST(torn_tail_is_truncated_once)
{
    struct fx f;
    fx_init(&f, MR_JS_STORAGE_FILE, 4);
    fx_open(&f);
    for (int i = 0; i < 5; i++) {
        fx_append(&f, "t", "0123456789", i);
    }
    fx_close(&f);
    /* A half-written record after the clean mark, as a torn write leaves it. */
    struct sim_disk *d = sim_host_disk(f.h);
    const char *path = "streams/ORDERS/0000000001.blk";
    uint64_t size = sim_disk_size(d, path);
    int64_t fh = sim_disk_open(d, path, MR_FILE_READ | MR_FILE_WRITE);
    uint8_t rec[128];
    struct mr_js_record r = {.kind = MR_JS_REC_MSG, .seq = 6, .subject = "t", .subject_len = 1,
                             .data = (const uint8_t *)"abcdefghijk", .data_len = 11};
    size_t n = mr_js_record_encode(&r, rec, sizeof(rec));
    ck_assert_int_eq(sim_disk_write(d, fh, size, rec, n - 5), (int64_t)(n - 5));
    ck_assert_int_eq(sim_disk_sync(d, fh), 0);
    ck_assert_int_eq(sim_disk_close(d, fh), 0);
    fx_open(&f);
    struct mr_js_store_state st;
    mr_js_store_state(f.st, &st);
    ck_assert_uint_eq(st.truncated_bytes, n - 5);
    ck_assert_uint_eq(st.last_seq, 5);
    ck_assert(st.recovered_unclean);
    ck_assert_uint_eq(sim_disk_size(d, path), size);
    ck_assert(!sim_disk_exists(d, "streams/ORDERS/0000000001.tmp"));
    ck_assert_uint_eq(fx_append(&f, "t", "new", 9), 6);
    fx_close(&f);
    fx_open(&f);
    mr_js_store_state(f.st, &st);
    ck_assert_uint_eq(st.truncated_bytes, 0);
    ck_assert_uint_eq(st.corrupt_records, 0);
    ck_assert_uint_eq(st.msgs, 6);
    fx_deinit(&f);
}
END_TEST

static bool log_has(struct fx *f, const char *needle)
{
    size_t len;
    const char *log = sim_host_log(f->h, &len);
    return g_strstr_len(log, (gssize)len, needle) != NULL;
}

START_TEST(flipped_bytes_are_reported_never_served)
{
    struct fx f;
    fx_init(&f, MR_JS_STORAGE_FILE, 8);
    fx_open(&f);
    for (int i = 1; i <= 30; i++) {
        char data[48];
        g_snprintf(data, sizeof(data), "payload-%02d-0123456789", i);
        fx_append(&f, "c.d", data, i);
    }
    fx_close(&f);
    /* Rot one bit inside message 2's payload (block 1). */
    struct sim_disk *d = sim_host_disk(f.h);
    size_t rec_len = mr_js_record_size(3, 0, strlen("payload-01-0123456789"));
    uint64_t bit = (rec_len + MR_JS_RECORD_HEAD_BYTES + 3 + 4) * 8 + 2;
    ck_assert_int_eq(sim_disk_flip_bit(d, "streams/ORDERS/0000000001.blk", bit), 0);
    fx_open(&f);
    struct mr_js_store_state st;
    mr_js_store_state(f.st, &st);
    ck_assert_uint_eq(st.corrupt_records, 1);
    ck_assert_uint_eq(st.corrupt_bytes, rec_len);
    ck_assert_uint_eq(st.truncated_bytes, 0);
    ck_assert_uint_eq(st.msgs, 29);
    ck_assert(log_has(&f, "0000000001.blk: 1 damaged stretch(es)"));
    struct mr_js_msg m;
    ck_assert_int_eq(fx_load(&f, 2, &m), MR_E_NOT_FOUND);
    ck_assert_int_eq(fx_load(&f, 1, &m), 0);
    ck_assert_int_eq(fx_load(&f, 3, &m), 0);
    ck_assert(memcmp(m.data, "payload-03", 10) == 0);
    /* Rot after open, in a block not in the cache: the load fails its checksum. */
    ck_assert_int_eq(fx_load(&f, 15, &m), 0); /* block 3 pushes block 1 out of the cache */
    ck_assert_int_eq(sim_disk_flip_bit(d, "streams/ORDERS/0000000001.blk",
                                       (2 * rec_len + MR_JS_RECORD_HEAD_BYTES + 5) * 8),
                     0);
    ck_assert_int_eq(fx_load(&f, 3, &m), MR_E_IO);
    mr_js_store_state(f.st, &st);
    ck_assert_uint_eq(st.corrupt_records, 2);
    ck_assert(log_has(&f, "message 3 at offset"));
    ck_assert_int_eq(fx_load(&f, 4, &m), 0);
    fx_deinit(&f);
}
END_TEST

START_TEST(bad_reads_are_read_again_not_dropped)
{
    /* Half of all reads come back with a flipped bit; recovery reads a damaged-looking
     * block again, and loads report MR_E_IO rather than serve a bad copy. */
    struct fx f;
    fx_init(&f, MR_JS_STORAGE_FILE, 12);
    fx_open(&f);
    for (int i = 0; i < 50; i++) {
        fx_append(&f, "r", "0123456789abcdef", i);
    }
    fx_close(&f);
    struct sim_disk_faults faults = {.read_corrupt = {1, 2}};
    sim_disk_set_faults(sim_host_disk(f.h), &faults);
    fx_open(&f);
    struct mr_js_store_state st;
    mr_js_store_state(f.st, &st);
    /* Whatever recovery could not read cleanly twice it reports, never serves. */
    for (uint64_t q = 1; q <= 50; q++) {
        struct mr_js_msg m;
        int rc = mr_js_store_load(f.st, q, &m);
        for (int tries = 0; (rc == MR_AGAIN || rc == MR_E_IO) && tries < 8; tries++) {
            uint64_t before = f.ready;
            if (rc == MR_AGAIN) {
                wait_ready(&f, before);
            }
            rc = mr_js_store_load(f.st, q, &m);
        }
        if (rc == 0) {
            ck_assert(memcmp(m.data, "0123456789abcdef", 16) == 0);
        } else {
            ck_assert_int_eq(rc, MR_E_NOT_FOUND);
        }
    }
    faults.read_corrupt.num = 0;
    sim_disk_set_faults(sim_host_disk(f.h), &faults);
    fx_deinit(&f);
}
END_TEST

START_TEST(secure_erase_overwrites_the_bytes)
{
    struct fx f;
    fx_init(&f, MR_JS_STORAGE_FILE, 2);
    fx_open(&f);
    fx_append(&f, "s", "SECRET-PASSWORD-1", 1);
    fx_append(&f, "s", "public", 2);
    settle(&f);
    ck_assert_int_eq(mr_js_store_delete(f.st, 1, true), 0);
    settle(&f);
    size_t len;
    uint8_t *img = sim_disk_contents(sim_host_disk(f.h), "streams/ORDERS/0000000001.blk", false,
                                     &len);
    ck_assert_ptr_null(memmem(img, len, "SECRET", 6));
    ck_assert_ptr_nonnull(memmem(img, len, "public", 6));
    g_free(img);
    fx_close(&f);
    fx_open(&f);
    struct mr_js_msg m;
    ck_assert_int_eq(fx_load(&f, 1, &m), MR_E_NOT_FOUND);
    ck_assert_int_eq(fx_load(&f, 2, &m), 0);
    struct mr_js_store_state st;
    mr_js_store_state(f.st, &st);
    ck_assert_uint_eq(st.first_seq, 2);
    ck_assert_uint_eq(st.corrupt_records, 0);
    fx_deinit(&f);
}
END_TEST

START_TEST(fsync_error_fails_the_store_loudly)
{
    struct fx f;
    fx_init(&f, MR_JS_STORAGE_FILE, 9);
    f.cfg.sync = MR_JS_SYNC_ALWAYS;
    fx_open(&f);
    fx_append(&f, "e", "before", 1);
    settle(&f);
    ck_assert_uint_eq(f.acked, 1);
    struct sim_disk_faults faults = {.fsync_error = {1, 1}};
    sim_disk_set_faults(sim_host_disk(f.h), &faults);
    fx_append(&f, "e", "lost", 2);
    settle(&f);
    /* Not acknowledged: the owner hears the error instead, and writes stop. */
    ck_assert_uint_eq(f.acked, 1);
    ck_assert_int_eq(f.ack_err, MR_E_IO);
    ck_assert_ptr_nonnull(strstr(mr_js_store_errmsg(f.st), "fsync"));
    ck_assert_ptr_nonnull(strstr(mr_js_store_errmsg(f.st), "streams/ORDERS/0000000001.blk"));
    uint64_t seq;
    ck_assert_int_eq(mr_js_store_append(f.st, "e", 1, NULL, 0, NULL, 0, 3, &seq), MR_E_IO);
    ck_assert_int_eq(mr_js_store_delete(f.st, 1, false), MR_E_IO);
    struct mr_js_msg m;
    ck_assert_int_eq(fx_load(&f, 1, &m), 0); /* reads go on */
    ck_assert(log_has(&f, "fsync"));
    faults.fsync_error.num = 0;
    sim_disk_set_faults(sim_host_disk(f.h), &faults);
    fx_deinit(&f);
}
END_TEST

START_TEST(same_seed_same_trace)
{
    uint64_t hashes[2];
    for (int run = 0; run < 2; run++) {
        struct fx f;
        fx_init(&f, MR_JS_STORAGE_FILE, 31);
        fx_open(&f);
        struct model m;
        model_init(&m, MR_JS_STORAGE_FILE);
        uint64_t rng = 3;
        for (int i = 0; i < 100; i++) {
            do_append(&f, &m, &rng);
            if (i % 10 == 0) {
                (void)mr_js_store_delete(f.st, (uint64_t)i / 2 + 1, false);
            }
        }
        fx_close(&f);
        fx_open(&f);
        hashes[run] = sim_world_trace_hash(f.w);
        g_array_free(m.msgs, TRUE);
        fx_deinit(&f);
    }
    ck_assert_uint_eq(hashes[0], hashes[1]);
}
END_TEST

/* ---- wiring: a store inside a server, its completions through the server's hook ---- */

struct wired {
    struct mr_js_store *st;
    uint64_t forwarded;
    bool opened;
    bool closed;
    uint64_t acked;
};

static void wired_hook(void *ctx, uint64_t req_id, int64_t result, const uint8_t *data,
                       size_t len)
{
    struct wired *x = ctx;
    if (x->st != NULL && mr_js_store_owns_req(x->st, req_id)) {
        x->forwarded++;
        mr_js_store_on_file_done(x->st, req_id, result, data, len);
    }
}

static void wired_open(void *ctx, int status)
{
    ck_assert_int_eq(status, 0);
    ((struct wired *)ctx)->opened = true;
}

static void wired_acked(void *ctx, uint64_t seq, int status)
{
    ck_assert_int_eq(status, 0);
    ((struct wired *)ctx)->acked = seq;
}

static void wired_closed(void *ctx)
{
    ((struct wired *)ctx)->closed = true;
}

static bool wired_pred_opened(void *ctx)
{
    return ((struct wired *)ctx)->opened;
}

static bool wired_pred_acked(void *ctx)
{
    return ((struct wired *)ctx)->acked == 10;
}

static bool wired_pred_closed(void *ctx)
{
    return ((struct wired *)ctx)->closed;
}

static bool wired_server_done(void *ctx)
{
    return mr_server_done(ctx);
}

START_TEST(server_forwards_file_completions_to_its_hook)
{
    struct sim_world_opts wo;
    sim_world_opts_default(&wo);
    struct sim_world *w = sim_world_create(&wo);
    struct sim_host *h = sim_host_create(w, "srv");
    struct mr_server_opts opts;
    mr_server_opts_default(&opts);
    struct mr_server *srv = NULL;
    char err[MR_ERRMSG_MAX];
    ck_assert_int_eq(mr_server_create(&opts, sim_host_env(h), &srv, err, sizeof(err)), 0);
    sim_host_set_sink(h, mr_server_sink(srv));
    ck_assert_int_eq(mr_server_start(srv), 0);
    struct mr_mem mem;
    mr_mem_init(&mem, 0);
    struct wired x = {0};
    srv->file_done_hook = wired_hook;
    srv->file_done_ctx = &x;
    /* Sync always: no timer, so the server's own timer routing is not involved. */
    struct mr_js_store_cfg cfg = {.storage = MR_JS_STORAGE_FILE, .dir = "jetstream/S",
                                  .sync = MR_JS_SYNC_ALWAYS, .req_id_base = UINT64_C(1) << 60};
    struct mr_js_store_cbs cbs = {.ctx = &x, .on_open = wired_open, .on_acked = wired_acked,
                                  .on_closed = wired_closed};
    ck_assert_int_eq(mr_js_store_create(&mem, sim_host_env(h), &cfg, &cbs, &x.st, err,
                                        sizeof(err)),
                     0);
    ck_assert(sim_world_run_until_pred(w, wired_pred_opened, &x, SEC));
    for (int i = 0; i < 10; i++) {
        uint64_t seq;
        ck_assert_int_eq(mr_js_store_append(x.st, "w", 1, NULL, 0, (const uint8_t *)"x", 1, i,
                                            &seq),
                         0);
    }
    ck_assert(sim_world_run_until_pred(w, wired_pred_acked, &x, SEC));
    ck_assert_int_eq(mr_js_store_close(x.st), 0);
    ck_assert(sim_world_run_until_pred(w, wired_pred_closed, &x, SEC));
    ck_assert_uint_ge(x.forwarded, 5); /* list, open, write, sync, ..., close */
    ck_assert(sim_disk_exists(sim_host_disk(h), "jetstream/S/0000000001.blk"));
    mr_js_store_destroy(x.st);
    x.st = NULL;
    mr_mem_deinit(&mem);
    mr_server_shutdown(srv);
    ck_assert(sim_world_run_until_pred(w, wired_server_done, srv, sim_world_now_ns(w) + SEC));
    sim_host_set_sink(h, NULL);
    mr_server_destroy(srv);
    sim_world_destroy(w);
}
END_TEST

static Suite *js_store_suite(void)
{
    Suite *s = suite_create("js_store");
    TCase *both = tcase_create("both");
    tcase_set_timeout(both, 120);
    tcase_add_test(both, memory_store_basics);
    tcase_add_test(both, index_grows_across_the_ring_wrap);
    tcase_add_test(both, file_store_basics);
    tcase_add_test(both, memory_store_matches_model);
    tcase_add_test(both, file_store_matches_model);
    tcase_add_test(both, seq_from_time_finds_the_first_message_at_or_after);
    tcase_add_test(both, memory_store_survives_allocation_failures);
    tcase_add_test(both, file_store_survives_allocation_failures);
    suite_add_tcase(s, both);
    TCase *file = tcase_create("file");
    tcase_set_timeout(file, 120);
    tcase_add_test(file, bad_configuration_is_named);
    tcase_add_test(file, appends_wait_for_open_and_blocks_roll);
    tcase_add_test(file, a_burst_of_appends_costs_two_writes);
    tcase_add_test(file, purges_remove_whole_blocks_and_keep_sequences);
    tcase_add_test(file, close_and_reopen_recovers_everything);
    tcase_add_test(file, process_crash_keeps_written_data);
    tcase_add_test(file, sync_always_loses_nothing_acknowledged);
    tcase_add_test(file, interval_sync_loss_is_bounded_and_reported);
    tcase_add_test(file, torn_tail_is_truncated_once);
    tcase_add_test(file, flipped_bytes_are_reported_never_served);
    tcase_add_test(file, bad_reads_are_read_again_not_dropped);
    tcase_add_test(file, secure_erase_overwrites_the_bytes);
    tcase_add_test(file, fsync_error_fails_the_store_loudly);
    tcase_add_test(file, same_seed_same_trace);
    tcase_add_test(file, server_forwards_file_completions_to_its_hook);
    suite_add_tcase(s, file);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(js_store_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
