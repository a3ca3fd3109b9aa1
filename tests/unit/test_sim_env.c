/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the sim env (sim/sim_env.h) with a trivial echo sink instead of a server:
 * event order and timers, stream delivery (delay, order, chunking, window, close,
 * reset, refusal), simulated TLS, files, logs, determinism of the trace hash; and the
 * network and host models: latency models and FIFO order, bandwidth, shared names,
 * cuts (both ways, one way, partitions, isolation), resets, crashes, restarts, pauses
 * and clock skew.
 *
 * The echo sink owns one connection at a time and echoes what it receives when asked.
 * Every env call the tests make goes through env_call_begin/end so a sink callback can
 * assert it never runs inside one (the env.h no-reentry rule).
 */
#include <check.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sim/sim_env.h"

#define US 1000ULL
#define MS (1000ULL * US)
#define SEC (1000ULL * MS)
#define DELAY (100ULL * US)

/* Set while a test is inside an env call; the sink asserts it is clear. */
static int in_env_call;

struct echo {
    struct sim_host *host;
    const struct mr_env *env;
    struct mr_env_sink sink;
    bool echo; /* echo received bytes back */
    uint16_t port;
    uint64_t conn_id; /* the accepted connection, 0 before */
    int accepts;
    int closes;
    uint64_t closed_ns;
    char peer_host[64];
    GByteArray *got;    /* received bytes */
    GArray *chunk_lens; /* size_t per on_bytes */
    uint64_t first_bytes_ns;
    GByteArray *out; /* pending output; out[out_off..] */
    size_t out_off;
    size_t peek_piece; /* split peeks into iovs of this many bytes (0 = one iov) */
    GArray *timers;    /* uint64_t timer ids, in firing order */
    GArray *timer_ns;  /* uint64_t firing times */
    int64_t file_result;
    int files_done;
    int tls_done;              /* on_tls count */
    int tls_status;            /* the last on_tls status */
    bool tls_subject_null;     /* the last on_tls had no subject */
    uint64_t tls_ns;           /* when the last on_tls came */
};

static void echo_on_accept(void *ctx, uint64_t listener_id, uint64_t conn_id, const char *peer_host,
                           uint16_t peer_port)
{
    struct echo *e = ctx;
    ck_assert_int_eq(in_env_call, 0);
    ck_assert_uint_eq(listener_id, 7);
    e->accepts++;
    e->conn_id = conn_id;
    g_strlcpy(e->peer_host, peer_host, sizeof(e->peer_host));
}

static void echo_on_connected(void *ctx, uint64_t conn_id, int status)
{
    ck_abort_msg("the echo sink never connects");
}

static void echo_write(struct echo *e, const void *buf, size_t len)
{
    g_byte_array_append(e->out, buf, (guint)len);
    e->env->stream_want_write(e->env->ctx, e->conn_id);
}

static void echo_on_bytes(void *ctx, uint64_t conn_id, const uint8_t *buf, size_t len)
{
    struct echo *e = ctx;
    ck_assert_int_eq(in_env_call, 0);
    ck_assert_uint_eq(conn_id, e->conn_id);
    if (e->got->len == 0) {
        e->first_bytes_ns = e->env->now_ns(e->env->ctx);
    }
    g_byte_array_append(e->got, buf, (guint)len);
    g_array_append_val(e->chunk_lens, len);
    if (e->echo) {
        echo_write(e, buf, len);
    }
}

static void echo_on_closed(void *ctx, uint64_t conn_id)
{
    struct echo *e = ctx;
    ck_assert_int_eq(in_env_call, 0);
    ck_assert_uint_eq(conn_id, e->conn_id);
    e->closes++;
    e->closed_ns = e->env->now_ns(e->env->ctx);
}

static void echo_on_timer(void *ctx, uint64_t timer_id)
{
    struct echo *e = ctx;
    ck_assert_int_eq(in_env_call, 0);
    uint64_t now = e->env->now_ns(e->env->ctx);
    g_array_append_val(e->timers, timer_id);
    g_array_append_val(e->timer_ns, now);
}

static void echo_on_file_done(void *ctx, uint64_t req_id, int64_t result, const uint8_t *data,
                              size_t len)
{
    struct echo *e = ctx;
    ck_assert_int_eq(in_env_call, 0);
    e->file_result = result;
    e->files_done++;
}

static void echo_on_tls(void *ctx, uint64_t conn_id, int status, const char *peer_subject)
{
    struct echo *e = ctx;
    ck_assert_int_eq(in_env_call, 0);
    ck_assert_uint_eq(conn_id, e->conn_id);
    ck_assert_int_eq(e->closes, 0);
    e->tls_done++;
    e->tls_status = status;
    e->tls_subject_null = peer_subject == NULL;
    e->tls_ns = e->env->now_ns(e->env->ctx);
}

static size_t echo_out_peek(void *ctx, uint64_t conn_id, struct mr_iov *iov, size_t iov_max)
{
    struct echo *e = ctx;
    ck_assert_uint_eq(conn_id, e->conn_id);
    size_t n = 0;
    size_t off = e->out_off;
    while (off < e->out->len && n < iov_max) {
        size_t piece = e->out->len - off;
        if (e->peek_piece > 0 && piece > e->peek_piece) {
            piece = e->peek_piece;
        }
        iov[n].base = e->out->data + off;
        iov[n].len = piece;
        off += piece;
        n++;
    }
    return n;
}

static void echo_out_consume(void *ctx, uint64_t conn_id, size_t n)
{
    struct echo *e = ctx;
    ck_assert_uint_le(n, e->out->len - e->out_off);
    e->out_off += n;
}

static struct echo *echo_create_in(struct sim_world *w, const char *name, const char *region,
                                   bool echo)
{
    struct echo *e = g_new0(struct echo, 1);
    e->host = sim_host_create_in(w, name, region);
    e->env = sim_host_env(e->host);
    e->echo = echo;
    e->got = g_byte_array_new();
    e->out = g_byte_array_new();
    e->chunk_lens = g_array_new(FALSE, FALSE, sizeof(size_t));
    e->timers = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    e->timer_ns = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    e->sink = (struct mr_env_sink){
        .ctx = e,
        .on_accept = echo_on_accept,
        .on_connected = echo_on_connected,
        .on_bytes = echo_on_bytes,
        .on_closed = echo_on_closed,
        .on_timer = echo_on_timer,
        .on_file_done = echo_on_file_done,
        .on_tls = echo_on_tls,
        .out_peek = echo_out_peek,
        .out_consume = echo_out_consume,
    };
    sim_host_set_sink(e->host, &e->sink);
    return e;
}

static struct echo *echo_create(struct sim_world *w, const char *name, bool echo)
{
    return echo_create_in(w, name, SIM_REGION_DEFAULT, echo);
}

static void echo_listen(struct echo *e, uint16_t port)
{
    in_env_call++;
    int rc = e->env->listen(e->env->ctx, 7, "0.0.0.0", port, &e->port);
    in_env_call--;
    ck_assert_int_eq(rc, 0);
}

static void echo_destroy(struct echo *e)
{
    g_byte_array_unref(e->got);
    g_byte_array_unref(e->out);
    g_array_unref(e->chunk_lens);
    g_array_unref(e->timers);
    g_array_unref(e->timer_ns);
    g_free(e);
}

static struct sim_world *world_new(uint64_t seed)
{
    struct sim_world_opts o;
    sim_world_opts_default(&o);
    o.seed = seed;
    return sim_world_create(&o);
}

static void arm(struct echo *e, uint64_t id, uint64_t deadline_ns)
{
    in_env_call++;
    ck_assert_int_eq(e->env->timer_arm(e->env->ctx, id, deadline_ns), 0);
    in_env_call--;
}

static uint64_t timer_at(const struct echo *e, guint i)
{
    return g_array_index(e->timers, uint64_t, i);
}

/* ------------------------------------------------------------------------------------
 * Events and timers
 */

START_TEST(equal_times_run_in_insertion_order)
{
    struct sim_world *w = world_new(1);
    struct echo *e = echo_create(w, "a", false);
    arm(e, 30, 5 * MS);
    arm(e, 10, 5 * MS);
    arm(e, 20, 5 * MS);
    arm(e, 40, 1 * MS);
    ck_assert_uint_eq(e->timers->len, 0); /* nothing fires inside timer_arm */
    sim_world_check(w);
    sim_world_run_until(w, 10 * MS);
    ck_assert_uint_eq(e->timers->len, 4);
    ck_assert_uint_eq(timer_at(e, 0), 40);
    ck_assert_uint_eq(timer_at(e, 1), 30);
    ck_assert_uint_eq(timer_at(e, 2), 10);
    ck_assert_uint_eq(timer_at(e, 3), 20);
    ck_assert_uint_eq(g_array_index(e->timer_ns, uint64_t, 1), 5 * MS);
    ck_assert_uint_eq(sim_world_now_ns(w), 10 * MS);
    sim_world_destroy(w);
    echo_destroy(e);
}
END_TEST

START_TEST(many_timers_fire_sorted_by_time_then_arming)
{
    struct sim_world *w = world_new(3);
    struct echo *e = echo_create(w, "a", false);
    struct sim_rng rng;
    sim_rng_init(&rng, 99, 0);
    for (uint64_t id = 1; id <= 500; id++) {
        arm(e, id, sim_rng_below(&rng, 20) * MS);
    }
    sim_world_check(w);
    sim_world_run_until(w, SEC);
    ck_assert_uint_eq(e->timers->len, 500);
    for (guint i = 1; i < 500; i++) {
        uint64_t t0 = g_array_index(e->timer_ns, uint64_t, i - 1);
        uint64_t t1 = g_array_index(e->timer_ns, uint64_t, i);
        ck_assert_uint_le(t0, t1);
        if (t0 == t1) {
            ck_assert_uint_lt(timer_at(e, i - 1), timer_at(e, i));
        }
    }
    sim_world_destroy(w);
    echo_destroy(e);
}
END_TEST

START_TEST(timer_rearm_replaces_and_cancel_disarms)
{
    struct sim_world *w = world_new(1);
    struct echo *e = echo_create(w, "a", false);
    arm(e, 1, 10 * MS);
    arm(e, 2, 20 * MS);
    arm(e, 3, 30 * MS);
    arm(e, 1, 40 * MS); /* replaces 10 ms */
    arm(e, 2, 5 * MS);  /* earlier works too */
    in_env_call++;
    e->env->timer_cancel(e->env->ctx, 3);
    e->env->timer_cancel(e->env->ctx, 99); /* unknown: ignored */
    in_env_call--;
    ck_assert_uint_eq(sim_world_events_queued(w), 2);
    sim_world_run_until(w, SEC);
    ck_assert_uint_eq(e->timers->len, 2);
    ck_assert_uint_eq(timer_at(e, 0), 2);
    ck_assert_uint_eq(g_array_index(e->timer_ns, uint64_t, 0), 5 * MS);
    ck_assert_uint_eq(timer_at(e, 1), 1);
    ck_assert_uint_eq(g_array_index(e->timer_ns, uint64_t, 1), 40 * MS);
    /* Cancelling a timer that already fired is ignored. */
    in_env_call++;
    e->env->timer_cancel(e->env->ctx, 1);
    in_env_call--;
    sim_world_destroy(w);
    echo_destroy(e);
}
END_TEST

START_TEST(rearm_at_equal_deadline_moves_behind)
{
    struct sim_world *w = world_new(1);
    struct echo *e = echo_create(w, "a", false);
    arm(e, 1, 10 * MS);
    arm(e, 2, 10 * MS);
    arm(e, 1, 10 * MS); /* re-arming is arming: it now goes after 2 */
    sim_world_run_until(w, SEC);
    ck_assert_uint_eq(e->timers->len, 2);
    ck_assert_uint_eq(timer_at(e, 0), 2);
    ck_assert_uint_eq(timer_at(e, 1), 1);
    sim_world_destroy(w);
    echo_destroy(e);
}
END_TEST

START_TEST(past_deadline_fires_later_not_inside_arm)
{
    struct sim_world *w = world_new(1);
    struct echo *e = echo_create(w, "a", false);
    sim_world_run_until(w, 50 * MS);
    arm(e, 5, 1 * MS);
    ck_assert_uint_eq(e->timers->len, 0);
    ck_assert(sim_world_step(w));
    ck_assert_uint_eq(e->timers->len, 1);
    ck_assert_uint_eq(g_array_index(e->timer_ns, uint64_t, 0), 50 * MS);
    ck_assert(!sim_world_step(w));
    sim_world_destroy(w);
    echo_destroy(e);
}
END_TEST

START_TEST(detaching_sink_cancels_timers)
{
    struct sim_world *w = world_new(1);
    struct echo *e = echo_create(w, "a", false);
    arm(e, 1, 10 * MS);
    arm(e, 2, 20 * MS);
    sim_host_set_sink(e->host, NULL);
    ck_assert_uint_eq(sim_world_events_queued(w), 0);
    sim_world_run_until(w, SEC);
    ck_assert_uint_eq(e->timers->len, 0);
    sim_world_destroy(w);
    echo_destroy(e);
}
END_TEST

struct fired_at_least {
    const struct echo *e;
    guint n;
};

static bool fired_at_least_pred(void *ctx)
{
    const struct fired_at_least *f = ctx;
    return f->e->timers->len >= f->n;
}

START_TEST(run_until_pred_stops_when_true_or_at_deadline)
{
    struct sim_world *w = world_new(1);
    struct echo *e = echo_create(w, "a", false);
    for (uint64_t i = 1; i <= 10; i++) {
        arm(e, i, i * MS);
    }
    struct fired_at_least f = {e, 3};
    ck_assert(sim_world_run_until_pred(w, fired_at_least_pred, &f, SEC));
    ck_assert_uint_eq(e->timers->len, 3);
    ck_assert_uint_eq(sim_world_now_ns(w), 3 * MS);
    f.n = 100;
    ck_assert(!sim_world_run_until_pred(w, fired_at_least_pred, &f, 7 * MS + 1));
    ck_assert_uint_eq(e->timers->len, 7);
    ck_assert_uint_eq(sim_world_now_ns(w), 7 * MS + 1);
    ck_assert_uint_eq(sim_world_events_queued(w), 3);
    sim_world_destroy(w);
    echo_destroy(e);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Streams
 */

struct pair {
    struct sim_world *w;
    struct echo *srv;
    struct sim_client *cli;
};

static struct pair pair_new(uint64_t seed, bool echo)
{
    struct pair p;
    p.w = world_new(seed);
    p.srv = echo_create(p.w, "srv", echo);
    echo_listen(p.srv, 4222);
    p.cli = sim_client_create(p.w, "cli", "srv", 4222);
    return p;
}

static void pair_free(struct pair *p)
{
    sim_world_destroy(p->w);
    echo_destroy(p->srv);
}

static bool client_connected_pred(void *ctx)
{
    return sim_client_connected(ctx);
}

START_TEST(connect_accepts_after_delay_and_connects_after_round_trip)
{
    struct pair p = pair_new(1, true);
    ck_assert(!sim_client_connected(p.cli));
    ck_assert(sim_world_run_until_pred(p.w, client_connected_pred, p.cli, SEC));
    ck_assert_uint_eq(sim_world_now_ns(p.w), 2 * DELAY);
    ck_assert_int_eq(p.srv->accepts, 1);
    ck_assert_str_eq(p.srv->peer_host, "cli");
    ck_assert_int_eq(sim_client_connect_status(p.cli), 0);
    pair_free(&p);
}
END_TEST

START_TEST(bytes_arrive_after_delay_in_order)
{
    struct pair p = pair_new(1, true);
    ck_assert(sim_world_run_until_pred(p.w, client_connected_pred, p.cli, SEC));
    uint64_t t0 = sim_world_now_ns(p.w);
    /* Sent before the handshake completes would also work; here after, to time it. */
    ck_assert_int_eq(sim_client_send_str(p.cli, "one "), 0);
    sim_world_run_until(p.w, t0 + 10 * US);
    ck_assert_int_eq(sim_client_send_str(p.cli, "two "), 0);
    sim_world_run_until(p.w, t0 + 20 * US);
    ck_assert_int_eq(sim_client_send_str(p.cli, "three"), 0);
    ck_assert(sim_client_wait_for(p.cli, "three", t0 + SEC));
    ck_assert_uint_eq(p.srv->first_bytes_ns, t0 + DELAY);
    ck_assert_uint_eq(sim_world_now_ns(p.w), t0 + 20 * US + 2 * DELAY);
    size_t len;
    const uint8_t *got = sim_client_received(p.cli, &len);
    ck_assert_uint_eq(len, 13);
    ck_assert_int_eq(memcmp(got, "one two three", 13), 0);
    ck_assert_uint_eq(sim_client_out_pending(p.cli), 0);
    pair_free(&p);
}
END_TEST

START_TEST(bytes_sent_before_connected_wait_for_it)
{
    struct pair p = pair_new(1, true);
    ck_assert_int_eq(sim_client_send_str(p.cli, "early"), 0);
    ck_assert(sim_client_wait_for(p.cli, "early", SEC));
    ck_assert_uint_eq(p.srv->first_bytes_ns, 3 * DELAY);
    pair_free(&p);
}
END_TEST

START_TEST(large_transfer_is_chunked_and_complete)
{
    struct pair p = pair_new(1, false);
    p.srv->peek_piece = 1000; /* many iovs per peek */
    enum { N = 1000 * 1000 };
    uint8_t *buf = g_malloc(N);
    for (size_t i = 0; i < N; i++) {
        buf[i] = (uint8_t)(i * 131 + i / 256);
    }
    ck_assert_int_eq(sim_client_send(p.cli, buf, N), 0);
    sim_world_run_until(p.w, SEC);
    ck_assert_uint_eq(p.srv->got->len, N);
    ck_assert_int_eq(memcmp(p.srv->got->data, buf, N), 0);
    ck_assert_uint_gt(p.srv->chunk_lens->len, N / (16 * 1024));
    for (guint i = 0; i < p.srv->chunk_lens->len; i++) {
        ck_assert_uint_le(g_array_index(p.srv->chunk_lens, size_t, i), 16 * 1024);
    }
    /* And back, through the echo sink's multi-iov peeks. */
    echo_write(p.srv, buf, N);
    sim_world_run_until(p.w, 2 * SEC);
    size_t len;
    const uint8_t *got = sim_client_received(p.cli, &len);
    ck_assert_uint_eq(len, N);
    ck_assert_int_eq(memcmp(got, buf, N), 0);
    ck_assert_uint_eq(sim_client_received_total(p.cli), N);
    g_free(buf);
    pair_free(&p);
}
END_TEST

START_TEST(paused_reader_fills_window_and_holds_sender)
{
    struct pair p = pair_new(1, false);
    ck_assert(sim_world_run_until_pred(p.w, client_connected_pred, p.cli, SEC));
    sim_client_read_enable(p.cli, false);
    enum { N = 4 * 1024 * 1024 };
    uint8_t *buf = g_malloc0(N);
    echo_write(p.srv, buf, N);
    sim_world_run_until(p.w, SEC);
    size_t len;
    (void)sim_client_received(p.cli, &len);
    ck_assert_uint_eq(len, 0);
    /* The window (256 KiB) is in flight; the rest stays with the sender. */
    ck_assert_uint_eq(p.srv->out_off, 256 * 1024);
    sim_world_check(p.w);
    sim_client_read_enable(p.cli, true);
    sim_world_run_until(p.w, 2 * SEC);
    (void)sim_client_received(p.cli, &len);
    ck_assert_uint_eq(len, N);
    ck_assert_uint_eq(p.srv->out_off, N);
    g_free(buf);
    pair_free(&p);
}
END_TEST

START_TEST(server_close_flushes_then_closes_both_ends)
{
    struct pair p = pair_new(1, false);
    ck_assert(sim_world_run_until_pred(p.w, client_connected_pred, p.cli, SEC));
    in_env_call++;
    echo_write(p.srv, "bye\r\n", 5);
    p.srv->env->stream_close(p.srv->env->ctx, p.srv->conn_id);
    p.srv->env->stream_close(p.srv->env->ctx, p.srv->conn_id); /* idempotent */
    in_env_call--;
    ck_assert_int_eq(p.srv->closes, 0); /* later, not inside the call */
    uint64_t t0 = sim_world_now_ns(p.w);
    ck_assert(sim_client_wait_closed(p.cli, t0 + SEC));
    ck_assert_uint_eq(sim_world_now_ns(p.w), t0 + DELAY);
    ck_assert_int_eq(p.srv->closes, 1);
    ck_assert_uint_eq(p.srv->closed_ns, t0);
    size_t len;
    const uint8_t *got = sim_client_received(p.cli, &len);
    ck_assert_uint_eq(len, 5);
    ck_assert_int_eq(memcmp(got, "bye\r\n", 5), 0);
    ck_assert_int_eq(sim_client_send_str(p.cli, "x"), MR_E_CLOSED);
    sim_world_run_until(p.w, t0 + 2 * SEC);
    ck_assert_int_eq(p.srv->closes, 1);
    ck_assert_uint_eq(sim_world_events_queued(p.w), 0);
    pair_free(&p);
}
END_TEST

START_TEST(client_close_reaches_server_after_data)
{
    struct pair p = pair_new(1, false);
    ck_assert(sim_world_run_until_pred(p.w, client_connected_pred, p.cli, SEC));
    sim_client_send_str(p.cli, "last words");
    sim_client_close(p.cli);
    sim_world_run_until(p.w, SEC);
    ck_assert(sim_client_closed(p.cli));
    ck_assert_int_eq(p.srv->closes, 1);
    ck_assert_uint_eq(p.srv->got->len, 10);
    ck_assert_uint_eq(sim_world_events_queued(p.w), 0);
    pair_free(&p);
}
END_TEST

START_TEST(close_before_connected_aborts)
{
    struct pair p = pair_new(1, false);
    sim_client_send_str(p.cli, "never sent");
    sim_client_close(p.cli);
    sim_world_run_until(p.w, SEC);
    ck_assert(sim_client_closed(p.cli));
    ck_assert_int_eq(sim_client_connect_status(p.cli), 0);
    ck_assert_int_eq(p.srv->accepts, 1);
    ck_assert_int_eq(p.srv->closes, 1);
    ck_assert_uint_eq(p.srv->got->len, 0);
    ck_assert_uint_eq(sim_world_events_queued(p.w), 0);
    pair_free(&p);
}
END_TEST

START_TEST(writing_to_closed_peer_resets)
{
    struct pair p = pair_new(1, false);
    ck_assert(sim_world_run_until_pred(p.w, client_connected_pred, p.cli, SEC));
    sim_client_read_enable(p.cli, false); /* will not see the FIN */
    in_env_call++;
    p.srv->env->stream_close(p.srv->env->ctx, p.srv->conn_id);
    in_env_call--;
    sim_world_run_until(p.w, 10 * MS);
    ck_assert(!sim_client_closed(p.cli));
    ck_assert_int_eq(sim_client_send_str(p.cli, "anyone?"), 0);
    uint64_t t0 = sim_world_now_ns(p.w);
    ck_assert(sim_client_wait_closed(p.cli, t0 + SEC));
    ck_assert_uint_eq(sim_world_now_ns(p.w), t0 + 2 * DELAY);
    ck_assert_uint_eq(p.srv->got->len, 0);
    pair_free(&p);
}
END_TEST

START_TEST(connect_without_listener_is_refused)
{
    struct sim_world *w = world_new(1);
    struct echo *e = echo_create(w, "srv", false);
    echo_listen(e, 4222);
    struct sim_client *c1 = sim_client_create(w, "c1", "srv", 4333);
    struct sim_client *c2 = sim_client_create(w, "c2", "nowhere", 4222);
    sim_world_run_until(w, SEC);
    ck_assert(sim_client_closed(c1));
    ck_assert_int_eq(sim_client_connect_status(c1), MR_E_REFUSED);
    ck_assert(sim_client_closed(c2));
    ck_assert_int_eq(sim_client_connect_status(c2), MR_E_ADDR);
    ck_assert_int_eq(e->accepts, 0);
    /* After unlisten, new connects are refused too. */
    in_env_call++;
    e->env->unlisten(e->env->ctx, 7);
    in_env_call--;
    struct sim_client *c3 = sim_client_create(w, "c3", "srv", 4222);
    ck_assert(sim_client_wait_closed(c3, 2 * SEC));
    ck_assert_int_eq(sim_client_connect_status(c3), MR_E_REFUSED);
    sim_world_destroy(w);
    echo_destroy(e);
}
END_TEST

START_TEST(listen_port_zero_picks_and_busy_port_fails)
{
    struct sim_world *w = world_new(1);
    struct echo *e = echo_create(w, "srv", false);
    uint16_t a = 0;
    uint16_t b = 0;
    ck_assert_int_eq(e->env->listen(e->env->ctx, 1, "0.0.0.0", 0, &a), 0);
    ck_assert_int_eq(e->env->listen(e->env->ctx, 2, "0.0.0.0", 0, &b), 0);
    ck_assert_uint_ne(a, 0);
    ck_assert_uint_ne(b, 0);
    ck_assert_uint_ne(a, b);
    uint16_t c = 0;
    ck_assert_int_eq(e->env->listen(e->env->ctx, 3, "0.0.0.0", a, &c), MR_E_ADDR_IN_USE);
    ck_assert_int_eq(e->env->listen(e->env->ctx, 4, "0.0.0.0", 4222, &c), 0);
    ck_assert_uint_eq(c, 4222);
    sim_world_destroy(w);
    echo_destroy(e);
}
END_TEST

static bool server_accepted_pred(void *ctx)
{
    const struct echo *e = ctx;
    return e->accepts > 0;
}

/* The sim does not encrypt: pending output (the INFO line) goes out first, on_tls(0,
 * NULL) follows as a later event at the same virtual time, and bytes stay readable. */
START_TEST(start_tls_passes_bytes_and_reports_later)
{
    struct pair p = pair_new(1, false);
    ck_assert(sim_world_run_until_pred(p.w, server_accepted_pred, p.srv, SEC));
    struct mr_tls_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.enabled = true;
    g_strlcpy(opts.cert_file, "/nonexistent.pem", sizeof(opts.cert_file));
    char err[64] = "x";
    in_env_call++;
    ck_assert_int_eq(p.srv->env->tls_configure(p.srv->env->ctx, 1, &opts, err, sizeof(err)), 0);
    ck_assert_str_eq(err, "");
    echo_write(p.srv, "INFO {}\r\n", 9);
    p.srv->env->stream_start_tls(p.srv->env->ctx, p.srv->conn_id, 1);
    in_env_call--;
    ck_assert_int_eq(p.srv->tls_done, 0); /* later, not inside the call */
    uint64_t t0 = sim_world_now_ns(p.w);
    ck_assert(sim_client_wait_for(p.cli, "INFO {}\r\n", t0 + SEC));
    ck_assert_int_eq(p.srv->tls_done, 1);
    ck_assert_int_eq(p.srv->tls_status, 0);
    ck_assert(p.srv->tls_subject_null);
    ck_assert_uint_eq(p.srv->tls_ns, t0);
    ck_assert_uint_eq(p.srv->out_off, 9); /* flushed before the handshake "ran" */
    ck_assert_int_eq(sim_client_send_str(p.cli, "PING\r\n"), 0);
    sim_world_run_until(p.w, t0 + SEC);
    ck_assert_uint_eq(p.srv->got->len, 6);
    ck_assert_int_eq(memcmp(p.srv->got->data, "PING\r\n", 6), 0);
    ck_assert_int_eq(p.srv->tls_done, 1);
    pair_free(&p);
}
END_TEST

/* As in the real env: a connection the core closes before on_tls gets on_closed only;
 * start_tls on a dead id is ignored. */
START_TEST(start_tls_then_close_gives_no_on_tls)
{
    struct pair p = pair_new(1, false);
    ck_assert(sim_world_run_until_pred(p.w, server_accepted_pred, p.srv, SEC));
    in_env_call++;
    p.srv->env->stream_start_tls(p.srv->env->ctx, p.srv->conn_id, 1);
    p.srv->env->stream_close(p.srv->env->ctx, p.srv->conn_id);
    in_env_call--;
    sim_world_run_until(p.w, SEC);
    ck_assert_int_eq(p.srv->closes, 1);
    ck_assert_int_eq(p.srv->tls_done, 0);
    in_env_call++;
    p.srv->env->stream_start_tls(p.srv->env->ctx, p.srv->conn_id, 1);
    in_env_call--;
    sim_world_run_until(p.w, 2 * SEC);
    ck_assert_int_eq(p.srv->tls_done, 0);
    ck_assert_uint_eq(sim_world_events_queued(p.w), 0);
    pair_free(&p);
}
END_TEST

START_TEST(files_complete_later_from_the_disk)
{
    struct sim_world *w = world_new(1);
    struct echo *e = echo_create(w, "a", false);
    in_env_call++;
    e->env->file_open(e->env->ctx, 11, "x.blk", MR_FILE_READ);
    in_env_call--;
    ck_assert_int_eq(e->files_done, 0);
    sim_world_run_until(w, SEC);
    ck_assert_int_eq(e->files_done, 1);
    ck_assert_int_eq(e->file_result, MR_E_NOT_FOUND);
    in_env_call++;
    e->env->file_open(e->env->ctx, 12, "x.blk", MR_FILE_READ | MR_FILE_CREATE);
    in_env_call--;
    sim_world_run_until(w, 2 * SEC);
    ck_assert_int_eq(e->files_done, 2);
    ck_assert_int_eq(e->file_result, 1);
    sim_world_destroy(w);
    echo_destroy(e);
}
END_TEST

START_TEST(clocks_and_logs_are_virtual)
{
    struct sim_world *w = world_new(1);
    struct echo *e = echo_create(w, "a", false);
    sim_world_run_until(w, 1500 * MS);
    ck_assert_uint_eq(e->env->now_ns(e->env->ctx), 1500 * MS);
    ck_assert_int_eq(e->env->wall_ns(e->env->ctx), 1735689600LL * 1000000000LL + 1500000000LL);
    e->env->log(e->env->ctx, MR_LOG_INFO, "test", "kept");
    e->env->log(e->env->ctx, MR_LOG_DEBUG, "test", "dropped by level");
    size_t len;
    const char *log = sim_host_log(e->host, &len);
    ck_assert_str_eq(log, "1.500000000 a INF test: kept\n");
    sim_host_log_clear(e->host);
    ck_assert_str_eq(sim_host_log(e->host, NULL), "");
    sim_world_destroy(w);
    echo_destroy(e);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Determinism
 */

struct run_result {
    uint64_t hash;
    uint8_t random[32];
    uint64_t events;
};

/* Three clients send bursts of seed-chosen sizes at seed-chosen times to three echo
 * hosts, which also arm timers; then one host draws random bytes. */
static struct run_result scripted_run(uint64_t seed)
{
    struct sim_world *w = world_new(seed);
    struct echo *e[3];
    struct sim_client *c[3];
    for (int i = 0; i < 3; i++) {
        char name[16];
        g_snprintf(name, sizeof(name), "srv%d", i);
        e[i] = echo_create(w, name, true);
        echo_listen(e[i], 4222);
        char cname[16];
        g_snprintf(cname, sizeof(cname), "c%d", i);
        c[i] = sim_client_create(w, cname, name, 4222);
    }
    struct sim_rng *rng = sim_world_rng(w);
    uint8_t buf[4096];
    for (int round = 0; round < 50; round++) {
        uint64_t who = sim_rng_below(rng, 3);
        size_t n = 1 + sim_rng_below(rng, sizeof(buf));
        sim_rng_bytes(rng, buf, n);
        (void)sim_client_send(c[who], buf, n);
        arm(e[who], (uint64_t)round, sim_world_now_ns(w) + sim_rng_below(rng, 5 * MS));
        sim_world_run_until(w, sim_world_now_ns(w) + sim_rng_below(rng, MS));
    }
    sim_world_run_until(w, sim_world_now_ns(w) + SEC);
    struct run_result r;
    e[0]->env->random(e[0]->env->ctx, r.random, sizeof(r.random));
    r.hash = sim_world_trace_hash(w);
    r.events = sim_world_events_dispatched(w);
    size_t len;
    for (int i = 0; i < 3; i++) {
        (void)sim_client_received(c[i], &len);
        ck_assert_uint_eq(len, e[i]->got->len);
    }
    sim_world_destroy(w);
    for (int i = 0; i < 3; i++) {
        echo_destroy(e[i]);
    }
    return r;
}

START_TEST(same_seed_gives_same_hash_and_random_bytes)
{
    struct run_result a = scripted_run(42);
    struct run_result b = scripted_run(42);
    ck_assert_uint_eq(a.hash, b.hash);
    ck_assert_uint_eq(a.events, b.events);
    ck_assert_int_eq(memcmp(a.random, b.random, sizeof(a.random)), 0);
    ck_assert_uint_gt(a.events, 100);
}
END_TEST

START_TEST(different_seed_gives_different_hash)
{
    struct run_result a = scripted_run(42);
    struct run_result b = scripted_run(43);
    ck_assert_uint_ne(a.hash, b.hash);
    ck_assert_int_ne(memcmp(a.random, b.random, sizeof(a.random)), 0);
}
END_TEST

START_TEST(hosts_draw_from_independent_streams)
{
    struct sim_world *w = world_new(7);
    struct sim_host *a = sim_host_create(w, "a");
    struct sim_host *b = sim_host_create(w, "b");
    const struct mr_env *ea = sim_host_env(a);
    const struct mr_env *eb = sim_host_env(b);
    uint8_t x[16];
    uint8_t y[16];
    ea->random(ea->ctx, x, sizeof(x));
    eb->random(eb->ctx, y, sizeof(y));
    ck_assert_int_ne(memcmp(x, y, sizeof(x)), 0);
    ck_assert_ptr_eq(sim_world_host(w, "b"), b);
    ck_assert_ptr_null(sim_world_host(w, "c"));
    sim_world_destroy(w);
    /* Drawing from a's stream does not move b's. */
    w = world_new(7);
    a = sim_host_create(w, "a");
    b = sim_host_create(w, "b");
    uint8_t z[16];
    uint8_t big[1000];
    sim_host_env(a)->random(a, big, sizeof(big));
    sim_host_env(b)->random(b, z, sizeof(z));
    ck_assert_int_eq(memcmp(y, z, sizeof(y)), 0);
    sim_world_destroy(w);
}
END_TEST

START_TEST(rng_below_stays_in_range)
{
    struct sim_rng r;
    sim_rng_init(&r, 1, 2);
    int seen[7] = {0};
    for (int i = 0; i < 7000; i++) {
        uint64_t v = sim_rng_below(&r, 7);
        ck_assert_uint_lt(v, 7);
        seen[v]++;
    }
    for (int i = 0; i < 7; i++) {
        ck_assert_int_gt(seen[i], 800);
    }
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Network and host faults
 */

static void srv_send(struct echo *e, const char *s)
{
    in_env_call++;
    echo_write(e, s, strlen(s));
    in_env_call--;
}

static bool srv_got_pred(void *ctx)
{
    const struct echo *e = ctx;
    return e->got->len > 0;
}

START_TEST(cut_stalls_delivery_and_heal_resumes_in_order)
{
    struct pair p = pair_new(1, false);
    ck_assert(sim_world_run_until_pred(p.w, client_connected_pred, p.cli, SEC));
    struct sim_host *ch = sim_client_host(p.cli);
    /* "one" is in flight when the cut comes: it waits too. */
    sim_client_send_str(p.cli, "one ");
    sim_world_run_until(p.w, sim_world_now_ns(p.w) + DELAY / 2);
    sim_net_cut(p.w, ch, p.srv->host, false);
    ck_assert(sim_net_is_cut(p.w, ch, p.srv->host));
    ck_assert(sim_net_is_cut(p.w, p.srv->host, ch));
    sim_client_send_str(p.cli, "two ");
    sim_world_run_until(p.w, sim_world_now_ns(p.w) + SEC);
    sim_client_send_str(p.cli, "three");
    sim_world_run_until(p.w, 10 * SEC);
    ck_assert_uint_eq(p.srv->got->len, 0);
    ck_assert_int_eq(p.srv->closes, 0);
    sim_net_heal(p.w, ch, p.srv->host);
    ck_assert(!sim_net_is_cut(p.w, ch, p.srv->host));
    sim_world_run_until(p.w, 11 * SEC);
    ck_assert_uint_eq(p.srv->got->len, 13);
    ck_assert_int_eq(memcmp(p.srv->got->data, "one two three", 13), 0);
    ck_assert_uint_eq(p.srv->first_bytes_ns, 10 * SEC);
    pair_free(&p);
}
END_TEST

START_TEST(one_way_cut_blocks_one_direction)
{
    struct pair p = pair_new(1, false);
    ck_assert(sim_world_run_until_pred(p.w, client_connected_pred, p.cli, SEC));
    struct sim_host *ch = sim_client_host(p.cli);
    sim_net_cut(p.w, ch, p.srv->host, true);
    ck_assert(sim_net_is_cut(p.w, ch, p.srv->host));
    ck_assert(!sim_net_is_cut(p.w, p.srv->host, ch));
    sim_client_send_str(p.cli, "up");
    srv_send(p.srv, "down");
    ck_assert(sim_client_wait_for(p.cli, "down", SEC));
    sim_world_run_until(p.w, 2 * SEC);
    ck_assert_uint_eq(p.srv->got->len, 0);
    sim_net_heal_all(p.w);
    ck_assert(sim_world_run_until_pred(p.w, srv_got_pred, p.srv, 3 * SEC));
    ck_assert_int_eq(memcmp(p.srv->got->data, "up", 2), 0);
    pair_free(&p);
}
END_TEST

START_TEST(connect_across_cut_times_out_or_completes_after_heal)
{
    struct sim_world *w = world_new(1);
    struct echo *srv = echo_create(w, "srv", false);
    echo_listen(srv, 4222);
    struct sim_host *c1h = sim_host_create(w, "spare");
    (void)c1h;
    sim_net_isolate(w, srv->host);
    struct sim_client *c1 = sim_client_create(w, "c1", "srv", 4222);
    /* c1 was created after the isolation: cut it by hand. */
    sim_net_cut(w, sim_client_host(c1), srv->host, false);
    ck_assert(sim_client_wait_closed(c1, 20 * SEC));
    ck_assert_int_eq(sim_client_connect_status(c1), MR_E_TIMEOUT);
    ck_assert_uint_eq(sim_world_now_ns(w), 5 * SEC);
    ck_assert_int_eq(srv->accepts, 0);
    /* A second connect; the heal comes before its timeout: a retried SYN gets in. */
    struct sim_client *c2 = sim_client_create(w, "c2", "srv", 4222);
    uint64_t t0 = sim_world_now_ns(w);
    sim_net_cut(w, sim_client_host(c2), srv->host, false);
    sim_world_run_until(w, t0 + 2500 * MS);
    sim_net_heal_all(w);
    ck_assert(sim_world_run_until_pred(w, client_connected_pred, c2, t0 + 5 * SEC));
    ck_assert_uint_eq(sim_world_now_ns(w), t0 + 3 * SEC + 2 * DELAY);
    ck_assert_int_eq(srv->accepts, 1);
    sim_world_destroy(w);
    echo_destroy(srv);
}
END_TEST

START_TEST(partition_groups_and_isolate_cut_the_right_paths)
{
    struct sim_world *w = world_new(1);
    const char *names[] = {"a", "b", "c", "d", "e"};
    struct sim_host *h[5];
    for (int i = 0; i < 5; i++) {
        h[i] = sim_host_create(w, names[i]);
    }
    const char *g1[] = {"a", "b", NULL};
    const char *g2[] = {"c", NULL};
    const char *g3[] = {"d", NULL};
    const char *const *groups[] = {g1, g2, g3, NULL};
    sim_net_partition(w, groups);
    ck_assert(!sim_net_is_cut(w, h[0], h[1]));
    for (int x = 0; x < 2; x++) {
        ck_assert(sim_net_is_cut(w, h[x], h[2]));
        ck_assert(sim_net_is_cut(w, h[2], h[x]));
        ck_assert(sim_net_is_cut(w, h[x], h[3]));
    }
    ck_assert(sim_net_is_cut(w, h[2], h[3]));
    /* e is in no group: untouched. */
    for (int x = 0; x < 4; x++) {
        ck_assert(!sim_net_is_cut(w, h[x], h[4]));
    }
    sim_net_heal_all(w);
    ck_assert(!sim_net_is_cut(w, h[0], h[2]));
    sim_net_isolate(w, h[4]);
    for (int x = 0; x < 4; x++) {
        ck_assert(sim_net_is_cut(w, h[x], h[4]));
        ck_assert(sim_net_is_cut(w, h[4], h[x]));
        ck_assert(!sim_net_is_cut(w, h[x], h[(x + 1) % 4]));
    }
    sim_world_destroy(w);
}
END_TEST

START_TEST(reset_closes_both_ends)
{
    struct pair p = pair_new(1, false);
    ck_assert(sim_world_run_until_pred(p.w, client_connected_pred, p.cli, SEC));
    uint64_t t0 = sim_world_now_ns(p.w);
    sim_client_send_str(p.cli, "in flight");
    sim_net_reset(p.w, p.srv->host);
    ck_assert_int_eq(p.srv->closes, 0); /* never inside the call */
    ck_assert(sim_client_wait_closed(p.cli, SEC));
    ck_assert_int_eq(p.srv->closes, 1);
    ck_assert_uint_eq(p.srv->closed_ns, t0);
    ck_assert_uint_eq(sim_world_now_ns(p.w), t0 + DELAY);
    ck_assert_uint_eq(p.srv->got->len, 0);
    sim_world_run_until(p.w, SEC);
    ck_assert_uint_eq(sim_world_events_queued(p.w), 0);
    pair_free(&p);
}
END_TEST

START_TEST(crash_resets_peers_drops_timers_and_restart_serves_again)
{
    struct pair p = pair_new(1, false);
    ck_assert(sim_world_run_until_pred(p.w, client_connected_pred, p.cli, SEC));
    uint64_t t0 = sim_world_now_ns(p.w);
    arm(p.srv, 5, t0 + 10 * MS);
    sim_host_crash(p.srv->host, SIM_CRASH_PROCESS);
    ck_assert(!sim_host_up(p.srv->host));
    ck_assert(sim_client_wait_closed(p.cli, SEC));
    ck_assert_uint_eq(sim_world_now_ns(p.w), t0 + DELAY);
    sim_world_run_until(p.w, SEC);
    ck_assert_uint_eq(p.srv->timers->len, 0);
    ck_assert_int_eq(p.srv->closes, 0); /* the crashed sink hears nothing */
    /* Process crash: the OS refuses. */
    struct sim_client *c2 = sim_client_create(p.w, "c2", "srv", 4222);
    ck_assert(sim_client_wait_closed(c2, 2 * SEC));
    ck_assert_int_eq(sim_client_connect_status(c2), MR_E_REFUSED);
    /* Power loss: nothing answers. */
    sim_host_restart(p.srv->host);
    sim_host_crash(p.srv->host, SIM_CRASH_POWER);
    struct sim_client *c3 = sim_client_create(p.w, "c3", "srv", 4222);
    uint64_t t3 = sim_world_now_ns(p.w);
    ck_assert(sim_client_wait_closed(c3, 20 * SEC));
    ck_assert_int_eq(sim_client_connect_status(c3), MR_E_TIMEOUT);
    ck_assert_uint_eq(sim_world_now_ns(p.w), t3 + 5 * SEC);
    /* Restart: empty until the caller attaches a sink and listens again. */
    sim_host_restart(p.srv->host);
    sim_host_set_sink(p.srv->host, &p.srv->sink);
    echo_listen(p.srv, 4222);
    struct sim_client *c4 = sim_client_create(p.w, "c4", "srv", 4222);
    ck_assert(sim_world_run_until_pred(p.w, client_connected_pred, c4, 30 * SEC));
    ck_assert_int_eq(p.srv->accepts, 2);
    pair_free(&p);
}
END_TEST

START_TEST(pause_holds_events_and_resume_delivers_them_late)
{
    struct pair p = pair_new(1, false);
    ck_assert(sim_world_run_until_pred(p.w, client_connected_pred, p.cli, SEC));
    uint64_t t0 = sim_world_now_ns(p.w);
    arm(p.srv, 1, t0 + 10 * MS);
    arm(p.srv, 2, t0 + 20 * MS);
    sim_host_pause(p.srv->host);
    ck_assert(sim_host_paused(p.srv->host));
    sim_client_send_str(p.cli, "held");
    sim_world_run_until(p.w, t0 + SEC);
    ck_assert_uint_eq(p.srv->timers->len, 0);
    ck_assert_uint_eq(p.srv->got->len, 0);
    sim_host_resume(p.srv->host);
    sim_world_run_until(p.w, t0 + SEC);
    ck_assert_uint_eq(p.srv->timers->len, 2);
    ck_assert_uint_eq(timer_at(p.srv, 0), 1);
    ck_assert_uint_eq(timer_at(p.srv, 1), 2);
    ck_assert_uint_eq(g_array_index(p.srv->timer_ns, uint64_t, 0), t0 + SEC);
    ck_assert_uint_eq(p.srv->got->len, 4);
    ck_assert_uint_eq(p.srv->first_bytes_ns, t0 + SEC);
    pair_free(&p);
}
END_TEST

START_TEST(clock_skew_shifts_timers_and_keeps_monotonic)
{
    struct sim_world *w = world_new(1);
    struct echo *e = echo_create(w, "a", false);
    const struct mr_env *env = e->env;
    sim_world_run_until(w, SEC);
    /* 10% fast: 100 ms of host time pass in about 90.9 ms of virtual time. */
    sim_host_set_clock(e->host, 0, 100000);
    uint64_t now = env->now_ns(env->ctx);
    ck_assert_uint_eq(now, SEC);
    arm(e, 1, now + 100 * MS);
    sim_world_run_until(w, 2 * SEC);
    ck_assert_uint_eq(e->timers->len, 1);
    uint64_t fired = g_array_index(e->timer_ns, uint64_t, 0); /* host time */
    ck_assert_uint_ge(fired, now + 100 * MS);
    ck_assert_uint_lt(fired, now + 100 * MS + 2);
    sim_world_destroy(w);
    echo_destroy(e);

    w = world_new(1);
    e = echo_create(w, "a", false);
    env = e->env;
    sim_world_run_until(w, SEC);
    int64_t wall0 = env->wall_ns(env->ctx);
    /* A forward step moves both clocks; armed timers follow the host clock. */
    arm(e, 2, SEC + 3 * SEC);
    sim_host_set_clock(e->host, 2 * (int64_t)SEC, 0);
    ck_assert_uint_eq(env->now_ns(env->ctx), 3 * SEC);
    ck_assert_int_eq(env->wall_ns(env->ctx), wall0 + 2 * (int64_t)SEC);
    sim_world_run_until(w, 10 * SEC);
    ck_assert_uint_eq(e->timers->len, 1);
    ck_assert_uint_eq(g_array_index(e->timer_ns, uint64_t, 0), 4 * SEC);
    /* A backward step: the wall clock jumps back, the monotonic one does not. */
    uint64_t mono = env->now_ns(env->ctx);
    int64_t wall = env->wall_ns(env->ctx);
    sim_host_set_clock(e->host, -5 * (int64_t)SEC, 0);
    ck_assert_uint_ge(env->now_ns(env->ctx), mono);
    ck_assert_int_eq(env->wall_ns(env->ctx), wall - 7 * (int64_t)SEC);
    /* A slow clock (-50%) makes timers late in virtual time. */
    sim_host_set_clock(e->host, -5 * (int64_t)SEC, -500000);
    uint64_t v0 = sim_world_now_ns(w);
    arm(e, 3, env->now_ns(env->ctx) + SEC);
    sim_world_run_until(w, v0 + 3 * SEC);
    ck_assert_uint_eq(e->timers->len, 2);
    ck_assert_uint_eq(sim_world_now_ns(w), v0 + 3 * SEC);
    sim_world_destroy(w);
    echo_destroy(e);
}
END_TEST

START_TEST(latency_models_stay_in_bounds)
{
    struct sim_rng rng;
    sim_rng_init(&rng, 5, 0);
    const uint64_t base = 1000 * US;
    const uint64_t spread = 200 * US;
    struct sim_latency fixed = {SIM_LAT_FIXED, base, spread};
    struct sim_latency uni = {SIM_LAT_UNIFORM, base, spread};
    struct sim_latency norm = {SIM_LAT_NORMAL, base, spread};
    struct sim_latency tail = {SIM_LAT_LONG_TAIL, base, spread};
    uint64_t norm_sum = 0;
    uint64_t norm_near = 0;
    uint64_t tail_far = 0;
    uint64_t uni_min = UINT64_MAX;
    uint64_t uni_max = 0;
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        ck_assert_uint_eq(sim_latency_sample(&fixed, &rng), base);
        uint64_t u = sim_latency_sample(&uni, &rng);
        ck_assert_uint_ge(u, base);
        ck_assert_uint_le(u, base + spread);
        uni_min = u < uni_min ? u : uni_min;
        uni_max = u > uni_max ? u : uni_max;
        uint64_t v = sim_latency_sample(&norm, &rng);
        ck_assert_uint_ge(v, base - spread);
        ck_assert_uint_le(v, base + spread);
        norm_sum += v;
        norm_near += (v >= base - spread / 2 && v <= base + spread / 2) ? 1 : 0;
        uint64_t t = sim_latency_sample(&tail, &rng);
        ck_assert_uint_ge(t, base);
        ck_assert_uint_le(t, base + SIM_LAT_TAIL_CAP * spread);
        tail_far += t > base + 10 * spread ? 1 : 0;
    }
    ck_assert_uint_lt(uni_min, base + spread / 100);
    ck_assert_uint_gt(uni_max, base + spread - spread / 100);
    uint64_t mean = norm_sum / (uint64_t)n;
    ck_assert_uint_gt(mean, base - spread / 20);
    ck_assert_uint_lt(mean, base + spread / 20);
    /* A bell: most values within half the spread (a uniform would give half). */
    ck_assert_uint_gt(norm_near, (uint64_t)n * 8 / 10);
    /* A heavy tail: about 1/11 beyond ten spreads. */
    ck_assert_uint_gt(tail_far, (uint64_t)n / 20);
    ck_assert_uint_lt(tail_far, (uint64_t)n / 6);
}
END_TEST

START_TEST(jittery_link_keeps_fifo_order)
{
    struct sim_world *w = world_new(3);
    struct sim_latency lat = {SIM_LAT_LONG_TAIL, 100 * US, 500 * US};
    sim_world_set_link(w, "r1", "r2", &lat, 0);
    struct echo *srv = echo_create_in(w, "srv", "r1", false);
    echo_listen(srv, 4222);
    struct sim_client *c = sim_client_create_in(w, "cli", "r2", "srv", 4222);
    ck_assert_str_eq(sim_host_region(sim_client_host(c)), "r2");
    ck_assert(sim_world_run_until_pred(w, client_connected_pred, c, SEC));
    GString *want = g_string_new(NULL);
    for (int i = 0; i < 300; i++) {
        char msg[16];
        g_snprintf(msg, sizeof(msg), "%d;", i);
        g_string_append(want, msg);
        sim_client_send_str(c, msg);
        sim_world_run_until(w, sim_world_now_ns(w) + 7 * US);
    }
    sim_world_run_until(w, sim_world_now_ns(w) + SEC);
    ck_assert_uint_eq(srv->got->len, want->len);
    ck_assert_int_eq(memcmp(srv->got->data, want->str, want->len), 0);
    ck_assert_uint_ge(sim_world_link_bytes(w, "r2", "r1"), want->len);
    ck_assert_uint_eq(sim_world_link_bytes(w, "r1", "r1"), 0);
    g_string_free(want, TRUE);
    sim_world_destroy(w);
    echo_destroy(srv);
}
END_TEST

START_TEST(bandwidth_makes_a_large_transfer_take_time)
{
    struct sim_world *w = world_new(1);
    struct sim_latency lat = {SIM_LAT_FIXED, 10 * MS, 0};
    sim_world_set_link(w, "east", "west", &lat, 10 * 1000 * 1000);
    struct echo *srv = echo_create_in(w, "srv", "east", false);
    echo_listen(srv, 4222);
    struct sim_client *c = sim_client_create_in(w, "cli", "west", "srv", 4222);
    ck_assert(sim_world_run_until_pred(w, client_connected_pred, c, SEC));
    uint64_t t0 = sim_world_now_ns(w);
    ck_assert_uint_eq(t0, 20 * MS);
    const size_t total = 10 * 1000 * 1000;
    uint8_t *buf = g_malloc0(total);
    sim_client_send(c, buf, total);
    g_free(buf);
    while (srv->got->len < total && sim_world_step(w)) {
    }
    ck_assert_uint_eq(srv->got->len, total);
    uint64_t took = sim_world_now_ns(w) - t0;
    /* 10 MB at 10 MB/s is one second, plus the one-way latency. */
    ck_assert_uint_ge(took, SEC + 10 * MS);
    ck_assert_uint_lt(took, SEC + 100 * MS);
    ck_assert_uint_ge(sim_world_link_bytes(w, "east", "west"), total);
    sim_world_destroy(w);
    echo_destroy(srv);
}
END_TEST

START_TEST(shared_name_picks_live_hosts)
{
    struct sim_world *w = world_new(9);
    struct echo *s[3];
    const char *names[] = {"s1", "s2", "s3"};
    for (int i = 0; i < 3; i++) {
        s[i] = echo_create(w, names[i], false);
        echo_listen(s[i], 4222);
        sim_world_add_name(w, "gw", s[i]->host);
    }
    for (int i = 0; i < 30; i++) {
        char n[16];
        g_snprintf(n, sizeof(n), "a%d", i);
        (void)sim_client_create(w, n, "gw", 4222);
    }
    sim_world_run_until(w, SEC);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_gt(s[i]->accepts, 0);
    }
    sim_host_crash(s[1]->host, SIM_CRASH_POWER);
    int before = s[0]->accepts + s[2]->accepts;
    for (int i = 0; i < 30; i++) {
        char n[16];
        g_snprintf(n, sizeof(n), "b%d", i);
        struct sim_client *c = sim_client_create(w, n, "gw", 4222);
        ck_assert(sim_world_run_until_pred(w, client_connected_pred, c, 10 * SEC));
    }
    ck_assert_int_eq(s[0]->accepts + s[2]->accepts, before + 30);
    struct sim_client *bad = sim_client_create(w, "bad", "nowhere", 4222);
    ck_assert(sim_client_wait_closed(bad, 20 * SEC));
    ck_assert_int_eq(sim_client_connect_status(bad), MR_E_ADDR);
    sim_world_destroy(w);
    for (int i = 0; i < 3; i++) {
        echo_destroy(s[i]);
    }
}
END_TEST

START_TEST(cut_during_bulk_transfer_loses_and_reorders_nothing)
{
    struct sim_world *w = world_new(4);
    struct sim_latency lat = {SIM_LAT_UNIFORM, 1 * MS, 2 * MS};
    sim_world_set_link(w, "a", "b", &lat, 50 * 1000 * 1000);
    struct echo *srv = echo_create_in(w, "srv", "a", false);
    echo_listen(srv, 4222);
    struct sim_client *c = sim_client_create_in(w, "cli", "b", "srv", 4222);
    ck_assert(sim_world_run_until_pred(w, client_connected_pred, c, SEC));
    const size_t total = 2 * 1000 * 1000;
    uint8_t *buf = g_malloc(total);
    for (size_t i = 0; i < total; i++) {
        buf[i] = (uint8_t)(i * 31 + i / 251);
    }
    sim_client_send(c, buf, total);
    sim_world_run_until(w, sim_world_now_ns(w) + 10 * MS);
    sim_net_cut(w, sim_client_host(c), srv->host, false);
    size_t at_cut = srv->got->len;
    ck_assert_uint_gt(at_cut, 0);
    ck_assert_uint_lt(at_cut, total);
    sim_world_run_until(w, sim_world_now_ns(w) + 5 * SEC);
    ck_assert_uint_eq(srv->got->len, at_cut);
    ck_assert_int_eq(srv->closes, 0);
    sim_net_heal(w, srv->host, sim_client_host(c));
    sim_world_run_until(w, sim_world_now_ns(w) + 5 * SEC);
    ck_assert_uint_eq(srv->got->len, total);
    ck_assert_int_eq(memcmp(srv->got->data, buf, total), 0);
    g_free(buf);
    sim_world_check(w);
    sim_world_destroy(w);
    echo_destroy(srv);
}
END_TEST

START_TEST(reset_reaches_a_reader_that_stopped_reading)
{
    struct pair p = pair_new(1, false);
    ck_assert(sim_world_run_until_pred(p.w, client_connected_pred, p.cli, SEC));
    sim_client_read_enable(p.cli, false);
    srv_send(p.srv, "unread");
    sim_world_run_until(p.w, sim_world_now_ns(p.w) + SEC);
    ck_assert(!sim_client_closed(p.cli));
    sim_net_reset(p.w, p.srv->host);
    ck_assert(sim_client_wait_closed(p.cli, sim_world_now_ns(p.w) + SEC));
    size_t len;
    (void)sim_client_received(p.cli, &len);
    ck_assert_uint_eq(len, 0);
    pair_free(&p);
}
END_TEST

START_TEST(crash_while_paused_drops_held_inputs)
{
    struct pair p = pair_new(1, false);
    ck_assert(sim_world_run_until_pred(p.w, client_connected_pred, p.cli, SEC));
    uint64_t t0 = sim_world_now_ns(p.w);
    arm(p.srv, 1, t0 + MS);
    sim_host_pause(p.srv->host);
    sim_client_send_str(p.cli, "held then lost");
    struct sim_client *late = sim_client_create(p.w, "late", "srv", 4222);
    sim_world_run_until(p.w, t0 + SEC);
    sim_world_check(p.w);
    sim_host_crash(p.srv->host, SIM_CRASH_PROCESS);
    ck_assert(!sim_host_paused(p.srv->host));
    sim_world_check(p.w);
    /* The held accept is answered as by a crashed process: refused. */
    ck_assert(sim_client_wait_closed(late, t0 + 2 * SEC));
    ck_assert_int_eq(sim_client_connect_status(late), MR_E_REFUSED);
    ck_assert(sim_client_wait_closed(p.cli, t0 + 2 * SEC));
    sim_world_run_until(p.w, t0 + 10 * SEC);
    ck_assert_uint_eq(p.srv->timers->len, 0);
    ck_assert_uint_eq(p.srv->got->len, 0);
    ck_assert_uint_eq(sim_world_events_queued(p.w), 0);
    pair_free(&p);
}
END_TEST

/* A run with regions, jitter and every fault kind; returns its trace hash. */
static uint64_t faulty_run(uint64_t seed)
{
    struct sim_world *w = world_new(seed);
    struct sim_latency lat = {SIM_LAT_NORMAL, 2 * MS, 1 * MS};
    sim_world_set_link(w, "r1", "r2", &lat, 1000 * 1000);
    struct echo *srv = echo_create_in(w, "srv", "r1", true);
    echo_listen(srv, 4222);
    struct sim_client *c = sim_client_create_in(w, "cli", "r2", "srv", 4222);
    sim_world_run_until(w, 50 * MS);
    for (int i = 0; i < 50; i++) {
        sim_client_send_str(c, "ping ping ping;");
        sim_world_run_until(w, sim_world_now_ns(w) + 3 * MS);
    }
    sim_net_cut(w, sim_client_host(c), srv->host, true);
    sim_client_send_str(c, "during the cut");
    sim_world_run_until(w, sim_world_now_ns(w) + 2 * SEC);
    sim_net_heal_all(w);
    sim_host_pause(srv->host);
    sim_world_run_until(w, sim_world_now_ns(w) + SEC);
    sim_host_resume(srv->host);
    sim_host_set_clock(srv->host, 123, 50);
    sim_world_run_until(w, sim_world_now_ns(w) + SEC);
    sim_host_crash(srv->host, SIM_CRASH_POWER);
    sim_world_run_until(w, sim_world_now_ns(w) + SEC);
    uint64_t hash = sim_world_trace_hash(w);
    sim_world_destroy(w);
    echo_destroy(srv);
    return hash;
}

START_TEST(faulty_runs_are_deterministic)
{
    ck_assert_uint_eq(faulty_run(7), faulty_run(7));
    ck_assert_uint_ne(faulty_run(7), faulty_run(8));
}
END_TEST

static Suite *sim_env_suite(void)
{
    Suite *s = suite_create("sim_env");
    TCase *ev = tcase_create("events");
    tcase_set_timeout(ev, 10);
    tcase_add_test(ev, equal_times_run_in_insertion_order);
    tcase_add_test(ev, many_timers_fire_sorted_by_time_then_arming);
    tcase_add_test(ev, timer_rearm_replaces_and_cancel_disarms);
    tcase_add_test(ev, rearm_at_equal_deadline_moves_behind);
    tcase_add_test(ev, past_deadline_fires_later_not_inside_arm);
    tcase_add_test(ev, detaching_sink_cancels_timers);
    tcase_add_test(ev, run_until_pred_stops_when_true_or_at_deadline);
    suite_add_tcase(s, ev);
    TCase *st = tcase_create("streams");
    tcase_set_timeout(st, 30);
    tcase_add_test(st, connect_accepts_after_delay_and_connects_after_round_trip);
    tcase_add_test(st, bytes_arrive_after_delay_in_order);
    tcase_add_test(st, bytes_sent_before_connected_wait_for_it);
    tcase_add_test(st, large_transfer_is_chunked_and_complete);
    tcase_add_test(st, paused_reader_fills_window_and_holds_sender);
    tcase_add_test(st, server_close_flushes_then_closes_both_ends);
    tcase_add_test(st, client_close_reaches_server_after_data);
    tcase_add_test(st, close_before_connected_aborts);
    tcase_add_test(st, writing_to_closed_peer_resets);
    tcase_add_test(st, connect_without_listener_is_refused);
    tcase_add_test(st, listen_port_zero_picks_and_busy_port_fails);
    tcase_add_test(st, start_tls_passes_bytes_and_reports_later);
    tcase_add_test(st, start_tls_then_close_gives_no_on_tls);
    tcase_add_test(st, files_complete_later_from_the_disk);
    tcase_add_test(st, clocks_and_logs_are_virtual);
    suite_add_tcase(s, st);
    TCase *det = tcase_create("determinism");
    tcase_set_timeout(det, 30);
    tcase_add_test(det, same_seed_gives_same_hash_and_random_bytes);
    tcase_add_test(det, different_seed_gives_different_hash);
    tcase_add_test(det, hosts_draw_from_independent_streams);
    tcase_add_test(det, rng_below_stays_in_range);
    suite_add_tcase(s, det);
    TCase *net = tcase_create("faults");
    tcase_set_timeout(net, 60);
    tcase_add_test(net, cut_stalls_delivery_and_heal_resumes_in_order);
    tcase_add_test(net, one_way_cut_blocks_one_direction);
    tcase_add_test(net, connect_across_cut_times_out_or_completes_after_heal);
    tcase_add_test(net, partition_groups_and_isolate_cut_the_right_paths);
    tcase_add_test(net, reset_closes_both_ends);
    tcase_add_test(net, crash_resets_peers_drops_timers_and_restart_serves_again);
    tcase_add_test(net, pause_holds_events_and_resume_delivers_them_late);
    tcase_add_test(net, clock_skew_shifts_timers_and_keeps_monotonic);
    tcase_add_test(net, latency_models_stay_in_bounds);
    tcase_add_test(net, jittery_link_keeps_fifo_order);
    tcase_add_test(net, bandwidth_makes_a_large_transfer_take_time);
    tcase_add_test(net, shared_name_picks_live_hosts);
    tcase_add_test(net, faulty_runs_are_deterministic);
    tcase_add_test(net, cut_during_bulk_transfer_loses_and_reorders_nothing);
    tcase_add_test(net, reset_reaches_a_reader_that_stopped_reading);
    tcase_add_test(net, crash_while_paused_drops_held_inputs);
    suite_add_tcase(s, net);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sim_env_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
