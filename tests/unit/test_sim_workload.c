/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the simulated client workloads (sim/sim_workload.h) against a real server
 * core (core/server) on the sim env: publish/subscribe at a rate, queue groups,
 * request/reply, -ERR and reconnect, a server crash and restart with reconnect and
 * re-subscription, stop times, the checkers end to end (a server that drops every
 * 100th delivery must fail `delivery`; the same run without it passes everything),
 * history truncation, spec validation, determinism (same seed, same history), and
 * the JetStream kinds (PubAcks recorded, a stream read back, a missing stream).
 *
 * Each test uses the server fixture (one host "srv"); workloads are stopped, their
 * connections drained and the workloads destroyed before fx_finish.
 */
#include <check.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf/conf_server.h"
#include "core/err.h"
#include "core/server/server.h"
#include "sim/sim_check.h"
#include "sim/sim_env.h"
#include "sim/sim_history.h"
#include "sim/sim_workload.h"

#include "tests/unit/fixture_server.h"

#define WL_MAX 8

struct wfx {
    struct fx f;
    struct sim_history *h;
    struct sim_workload *wl[WL_MAX];
    size_t n;
};

static void wfx_start(struct wfx *x, uint64_t seed, opts_fn tweak)
{
    memset(x, 0, sizeof(*x));
    fx_start(&x->f, seed, tweak);
    x->h = sim_history_create(0);
}

static struct sim_workload_spec spec(const char *name, enum sim_workload_kind kind,
                                     const char *subject)
{
    struct sim_workload_spec s;
    sim_workload_spec_default(&s);
    snprintf(s.name, sizeof(s.name), "%s", name);
    s.kind = kind;
    snprintf(s.subject, sizeof(s.subject), "%s", subject);
    snprintf(s.servers[0], sizeof(s.servers[0]), "srv");
    s.servers_len = 1;
    return s;
}

static struct sim_workload *add(struct wfx *x, const struct sim_workload_spec *s)
{
    ck_assert_uint_lt(x->n, WL_MAX);
    char errmsg[256] = "";
    struct sim_workload *wl = NULL;
    int rc = sim_workload_create(x->f.w, s, x->h, &wl, errmsg, sizeof(errmsg));
    ck_assert_msg(rc == 0, "sim_workload_create: %s", errmsg);
    x->wl[x->n++] = wl;
    return wl;
}

static void wait_ready(struct wfx *x, struct sim_workload *wl)
{
    ck_assert(sim_world_run_until_pred(x->f.w, sim_workload_ready_pred, wl, after(&x->f, 5 * SEC)));
}

static void wfx_finish(struct wfx *x)
{
    for (size_t i = 0; i < x->n; i++) {
        sim_workload_check(x->wl[i]);
        sim_workload_stop(x->wl[i]);
    }
    sim_world_run_until(x->f.w, after(&x->f, SEC));
    for (size_t i = 0; i < x->n; i++) {
        sim_workload_destroy(x->wl[i]);
    }
    fx_finish(&x->f);
    sim_history_destroy(x->h);
}

static struct sim_workload_stats stats(struct sim_workload *wl)
{
    struct sim_workload_stats st;
    sim_workload_stats(wl, &st);
    return st;
}

/* Runs every checker; returns how many failed, printing the failures. */
static size_t check_all(struct wfx *x, const struct sim_check_opts *o,
                        struct sim_verdict v[SIM_CHECKERS])
{
    size_t failed = sim_check_all(x->h, o, v);
    for (size_t i = 0; i < SIM_CHECKERS; i++) {
        if (!v[i].ok) {
            char line[512];
            sim_verdict_format(&v[i], line, sizeof(line));
            fprintf(stderr, "%s\n", line);
        }
    }
    return failed;
}

static struct sim_check_opts opts_now(struct wfx *x)
{
    struct sim_check_opts o;
    sim_check_opts_default(&o);
    o.end_ns = sim_world_now_ns(x->f.w);
    o.sub_settle_ns = 0; /* one server: a SUB is in effect once its PONG is back */
    return o;
}

static size_t count_kind(const struct sim_history *h, enum sim_hist_kind kind, const char *who)
{
    int64_t a = sim_history_actor_find(h, who);
    size_t n = 0;
    for (size_t i = 0; i < sim_history_len(h); i++) {
        const struct sim_hist_event *e = sim_history_at(h, i);
        if (e->kind == kind && (int64_t)e->actor == a) {
            n++;
        }
    }
    return n;
}

/* Two subscribers, one publisher at 100 msg/s for 10 virtual seconds. */
static void pub_sub_run(struct wfx *x)
{
    struct sim_workload_spec s1 = spec("sub1", SIM_WL_SUBSCRIBE, "orders.*");
    struct sim_workload_spec s2 = spec("sub2", SIM_WL_SUBSCRIBE, "orders.new");
    struct sim_workload *a = add(x, &s1);
    struct sim_workload *b = add(x, &s2);
    wait_ready(x, a);
    wait_ready(x, b);
    struct sim_workload_spec p = spec("pub1", SIM_WL_PUBLISH, "orders.new");
    p.rate = 100;
    p.payload_bytes = 64;
    p.max_count = 1000;
    add(x, &p);
    sim_world_run_until(x->f.w, after(&x->f, 12 * SEC));
}

/* ------------------------------------------------------------------------------------
 * Workloads against a server
 */

START_TEST(two_subscribers_get_all_1000_messages)
{
    struct wfx x;
    wfx_start(&x, 1, NULL);
    pub_sub_run(&x);
    ck_assert_uint_eq(stats(x.wl[2]).published, 1000);
    ck_assert_uint_eq(stats(x.wl[0]).received, 1000);
    ck_assert_uint_eq(stats(x.wl[1]).received, 1000);
    ck_assert_uint_eq(stats(x.wl[0]).errors, 0);
    ck_assert_uint_eq(count_kind(x.h, SIM_H_PUB, "pub1"), 1000);
    ck_assert_uint_eq(count_kind(x.h, SIM_H_STOP, "pub1"), 1);
    ck_assert_uint_eq(count_kind(x.h, SIM_H_CONNECT, "sub1"), 1);
    ck_assert_uint_eq(count_kind(x.h, SIM_H_SUB, "sub1"), 1);
    /* The publishes span 10 virtual seconds at 100 per second. */
    const struct sim_hist_event *first = NULL;
    const struct sim_hist_event *last = NULL;
    for (size_t i = 0; i < sim_history_len(x.h); i++) {
        const struct sim_hist_event *e = sim_history_at(x.h, i);
        if (e->kind == SIM_H_PUB) {
            first = first == NULL ? e : first;
            last = e;
        }
    }
    ck_assert_uint_eq(last->t_ns - first->t_ns, 9990 * MS);
    struct sim_check_opts o = opts_now(&x);
    struct sim_verdict v[SIM_CHECKERS];
    ck_assert_uint_eq(check_all(&x, &o, v), 0);
    ck_assert_uint_eq(v[2].checked, 2000); /* delivery */
    ck_assert_uint_eq(v[0].checked, 2000); /* no_duplicates */
    wfx_finish(&x);
}
END_TEST

START_TEST(queue_group_of_three_gets_each_message_once)
{
    struct wfx x;
    wfx_start(&x, 2, NULL);
    struct sim_workload_spec q = spec("q", SIM_WL_QUEUE, "work");
    snprintf(q.queue, sizeof(q.queue), "workers");
    q.clients = 3;
    struct sim_workload *qw = add(&x, &q);
    wait_ready(&x, qw);
    struct sim_workload_spec p = spec("pub1", SIM_WL_PUBLISH, "work");
    p.rate = 100;
    p.max_count = 1000;
    add(&x, &p);
    sim_world_run_until(x.f.w, after(&x.f, 12 * SEC));
    ck_assert_uint_eq(stats(qw).received, 1000);
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "q-%d", i);
        ck_assert_uint_gt(count_kind(x.h, SIM_H_MSG, name), 0);
    }
    struct sim_check_opts o = opts_now(&x);
    struct sim_verdict v[SIM_CHECKERS];
    ck_assert_uint_eq(check_all(&x, &o, v), 0);
    ck_assert_uint_eq(v[3].checked, 1000); /* queue_once */
    wfx_finish(&x);
}
END_TEST

START_TEST(request_reply_round_trips)
{
    struct wfx x;
    wfx_start(&x, 3, NULL);
    struct sim_workload_spec r = spec("svc", SIM_WL_REPLY, "time.now");
    snprintf(r.queue, sizeof(r.queue), "svcq");
    r.clients = 2;
    struct sim_workload *rw = add(&x, &r);
    wait_ready(&x, rw);
    struct sim_workload_spec q = spec("client", SIM_WL_REQUEST, "time.now");
    q.rate = 10;
    q.max_count = 50;
    q.payload_bytes = 100;
    struct sim_workload *qw = add(&x, &q);
    sim_world_run_until(x.f.w, after(&x.f, 8 * SEC));
    ck_assert_uint_eq(stats(qw).published, 50);
    ck_assert_uint_eq(stats(qw).replies, 50);
    ck_assert_uint_eq(stats(qw).timeouts, 0);
    ck_assert_uint_eq(stats(rw).replies, 50);
    /* Each REPLY carries the request's id back. */
    for (size_t i = 0; i < sim_history_len(x.h); i++) {
        const struct sim_hist_event *e = sim_history_at(x.h, i);
        if (e->kind == SIM_H_REPLY) {
            char want[64];
            snprintf(want, sizeof(want), "client:%llu", (unsigned long long)e->seq);
            ck_assert_str_eq(e->text, want);
        }
    }
    struct sim_check_opts o = opts_now(&x);
    o.bound_ns = 5 * SEC;
    struct sim_verdict v[SIM_CHECKERS];
    ck_assert_uint_eq(check_all(&x, &o, v), 0);
    ck_assert_uint_eq(v[3].checked, 50);
    wfx_finish(&x);
}
END_TEST

START_TEST(requests_without_replier_time_out)
{
    struct wfx x;
    wfx_start(&x, 4, NULL);
    struct sim_workload_spec q = spec("client", SIM_WL_REQUEST, "nobody.home");
    q.rate = 2;
    q.max_count = 4;
    struct sim_workload *qw = add(&x, &q);
    sim_world_run_until(x.f.w, after(&x.f, 6 * SEC));
    ck_assert_uint_eq(stats(qw).published, 4);
    ck_assert_uint_eq(stats(qw).timeouts, 4);
    ck_assert_uint_eq(count_kind(x.h, SIM_H_TIMEOUT, "client"), 4);
    struct sim_check_opts o = opts_now(&x);
    o.bound_ns = 4 * SEC;
    struct sim_verdict v;
    sim_check_liveness(x.h, &o, &v);
    ck_assert(!v.ok);
    wfx_finish(&x);
}
END_TEST

static void small_payload(struct mr_server_opts *o)
{
    o->max_payload = 100;
}

START_TEST(err_is_recorded_and_client_reconnects)
{
    struct wfx x;
    wfx_start(&x, 5, small_payload);
    struct sim_workload_spec p = spec("big", SIM_WL_PUBLISH, "foo");
    p.payload_bytes = 200;
    p.rate = 1;
    p.max_count = 2;
    struct sim_workload *pw = add(&x, &p);
    sim_world_run_until(x.f.w, after(&x.f, 6 * SEC));
    ck_assert_uint_ge(stats(pw).errors, 1);
    ck_assert_uint_ge(stats(pw).disconnects, 1);
    ck_assert_uint_ge(stats(pw).connects, 2);
    bool found = false;
    for (size_t i = 0; i < sim_history_len(x.h); i++) {
        const struct sim_hist_event *e = sim_history_at(x.h, i);
        if (e->kind == SIM_H_ERR) {
            ck_assert_str_eq(e->text, "Maximum Payload Violation");
            found = true;
        }
    }
    ck_assert(found);
    wfx_finish(&x);
}
END_TEST

START_TEST(stop_time_ends_the_workload)
{
    struct wfx x;
    wfx_start(&x, 6, NULL);
    struct sim_workload_spec s = spec("sub1", SIM_WL_SUBSCRIBE, "foo");
    s.start_ns = 1 * SEC;
    s.stop_ns = 3 * SEC;
    struct sim_workload *sw = add(&x, &s);
    sim_world_run_until(x.f.w, 500 * MS);
    ck_assert_uint_eq(stats(sw).connects, 0);
    sim_world_run_until(x.f.w, 2 * SEC);
    ck_assert(sim_workload_ready(sw));
    sim_world_run_until(x.f.w, 10 * SEC);
    ck_assert(!sim_workload_ready(sw));
    ck_assert_uint_eq(count_kind(x.h, SIM_H_STOP, "sub1"), 1);
    ck_assert_uint_eq(stats(sw).connects, 1);
    struct mr_server_stats st;
    mr_server_stats(x.f.srv, &st);
    ck_assert_uint_eq(st.connections, 0);
    wfx_finish(&x);
}
END_TEST

static void check_server_cb(void *ctx)
{
    mr_server_check(ctx);
}

START_TEST(server_crash_and_restart_reconnects_and_resubscribes)
{
    struct wfx x;
    wfx_start(&x, 7, NULL);
    struct sim_workload_spec s = spec("sub1", SIM_WL_SUBSCRIBE, "foo");
    struct sim_workload *sw = add(&x, &s);
    wait_ready(&x, sw);
    struct sim_workload_spec p = spec("pub1", SIM_WL_PUBLISH, "foo");
    p.rate = 50;
    struct sim_workload *pw = add(&x, &p);
    sim_world_run_until(x.f.w, after(&x.f, 2 * SEC));
    uint64_t crash = sim_world_now_ns(x.f.w);
    sim_host_crash(x.f.host, SIM_CRASH_PROCESS);
    mr_server_destroy(x.f.srv);
    sim_world_run_until(x.f.w, after(&x.f, SEC));
    uint64_t restart = sim_world_now_ns(x.f.w);
    sim_host_restart(x.f.host);
    char errmsg[MR_ERRMSG_MAX];
    ck_assert_int_eq(mr_server_create(&x.f.opts, sim_host_env(x.f.host), &x.f.srv, errmsg,
                                      sizeof(errmsg)),
                     0);
    sim_host_set_sink(x.f.host, mr_server_sink(x.f.srv));
    sim_host_set_check(x.f.host, check_server_cb, x.f.srv);
    ck_assert_int_eq(mr_server_start(x.f.srv), 0);
    sim_world_run_until(x.f.w, after(&x.f, 8 * SEC));
    ck_assert_uint_eq(stats(sw).disconnects, 1);
    ck_assert_uint_eq(stats(sw).connects, 2);
    ck_assert_uint_eq(stats(pw).connects, 2);
    ck_assert_uint_eq(count_kind(x.h, SIM_H_SUB, "sub1"), 2);
    /* Messages keep flowing to the second subscription. */
    size_t gen2 = 0;
    for (size_t i = 0; i < sim_history_len(x.h); i++) {
        const struct sim_hist_event *e = sim_history_at(x.h, i);
        gen2 += e->kind == SIM_H_MSG && e->gen == 2;
    }
    ck_assert_uint_gt(gen2, 250);
    struct sim_check_opts o = opts_now(&x);
    struct sim_window w = {crash, restart};
    o.faults = &w;
    o.faults_len = 1;
    o.heal_ns = restart;
    o.bound_ns = 5 * SEC;
    struct sim_verdict v[SIM_CHECKERS];
    ck_assert_uint_eq(check_all(&x, &o, v), 0);
    /* Without the fault window the outage is still exempt: the subscriber was not
     * subscribed then, and the publisher's own disconnect covers the last messages
     * before the crash. */
    o.faults_len = 0;
    struct sim_verdict d;
    sim_check_delivery(x.h, &o, &d);
    ck_assert_msg(d.ok, "%s", d.first);
    ck_assert_uint_eq(d.exempt, v[2].exempt);
    ck_assert_uint_gt(d.exempt, 0);
    wfx_finish(&x);
}
END_TEST

START_TEST(partitioned_subscriber_notices_by_ping_and_recovers_after_heal)
{
    struct wfx x;
    wfx_start(&x, 11, NULL);
    struct sim_workload_spec s = spec("sub1", SIM_WL_SUBSCRIBE, "foo");
    struct sim_workload *sw = add(&x, &s);
    wait_ready(&x, sw);
    struct sim_workload_spec p = spec("pub1", SIM_WL_PUBLISH, "foo");
    p.rate = 20;
    add(&x, &p);
    sim_world_run_until(x.f.w, after(&x.f, 2 * SEC));
    uint64_t cut = sim_world_now_ns(x.f.w);
    sim_net_cut(x.f.w, sim_workload_host(sw), x.f.host, false);
    sim_world_run_until(x.f.w, after(&x.f, 8 * SEC));
    /* Two unanswered PINGs at 2 s intervals: the client gave up on the stream. */
    ck_assert_uint_eq(stats(sw).disconnects, 1);
    uint64_t heal = sim_world_now_ns(x.f.w);
    sim_net_heal(x.f.w, sim_workload_host(sw), x.f.host);
    sim_world_run_until(x.f.w, after(&x.f, 10 * SEC));
    ck_assert_uint_ge(stats(sw).connects, 2);
    ck_assert_uint_ge(count_kind(x.h, SIM_H_SUB, "sub1"), 2);
    struct sim_check_opts o = opts_now(&x);
    struct sim_window w = {cut, heal};
    o.faults = &w;
    o.faults_len = 1;
    o.heal_ns = heal;
    o.bound_ns = 5 * SEC;
    struct sim_verdict v[SIM_CHECKERS];
    ck_assert_uint_eq(check_all(&x, &o, v), 0);
    ck_assert_uint_gt(v[2].checked, 200);
    wfx_finish(&x);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Checkers end to end
 */

static void drop_every_100(struct mr_server_opts *o)
{
    o->test_drop_every = 100;
}

START_TEST(server_dropping_every_100th_delivery_fails_delivery)
{
    struct wfx x;
    wfx_start(&x, 1, drop_every_100);
    pub_sub_run(&x);
    ck_assert_uint_lt(stats(x.wl[0]).received + stats(x.wl[1]).received, 2000);
    struct sim_check_opts o = opts_now(&x);
    struct sim_verdict v;
    sim_check_delivery(x.h, &o, &v);
    ck_assert(!v.ok);
    ck_assert_uint_eq(v.violations, 2000 - stats(x.wl[0]).received - stats(x.wl[1]).received);
    ck_assert_msg(strstr(v.first, "never reached") != NULL, "%s", v.first);
    /* The other safety checkers still pass: drops are not duplicates or reorders. */
    sim_check_no_duplicates(x.h, &o, &v);
    ck_assert(v.ok);
    sim_check_per_publisher_order(x.h, &o, &v);
    ck_assert(v.ok);
    wfx_finish(&x);
}
END_TEST

START_TEST(online_checker_runs_after_every_step)
{
    struct wfx x;
    wfx_start(&x, 8, NULL);
    struct sim_workload_spec s = spec("sub1", SIM_WL_SUBSCRIBE, "foo");
    add(&x, &s);
    struct sim_workload_spec p = spec("pub1", SIM_WL_PUBLISH, "foo");
    p.rate = 100;
    p.max_count = 300;
    p.start_ns = SEC;
    add(&x, &p);
    struct sim_check_online c;
    sim_check_online_init(&c);
    uint64_t end = after(&x.f, 5 * SEC);
    while (sim_world_now_ns(x.f.w) < end && sim_world_step(x.f.w)) {
        ck_assert(sim_check_online_step(&c, x.h));
    }
    ck_assert_uint_eq(c.dup.checked, 300);
    sim_check_online_deinit(&c);
    wfx_finish(&x);
}
END_TEST

START_TEST(small_history_truncates_and_verdicts_say_so)
{
    struct wfx x;
    wfx_start(&x, 9, NULL);
    sim_history_destroy(x.h);
    x.h = sim_history_create(100);
    pub_sub_run(&x);
    ck_assert(sim_history_truncated(x.h));
    ck_assert_uint_eq(sim_history_len(x.h), 100);
    struct sim_check_opts o = opts_now(&x);
    struct sim_verdict v;
    sim_check_delivery(x.h, &o, &v);
    ck_assert_msg(v.ok, "%s", v.first);
    ck_assert(v.truncated);
    ck_assert(strstr(v.first, "truncated") != NULL);
    wfx_finish(&x);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Validation and determinism
 */

START_TEST(invalid_specs_are_rejected_with_a_reason)
{
    struct wfx x;
    wfx_start(&x, 10, NULL);
    struct sim_workload *wl = NULL;
    char errmsg[256];
    struct sim_workload_spec s = spec("bad", SIM_WL_PUBLISH, "foo.*");
    ck_assert_int_eq(sim_workload_create(x.f.w, &s, x.h, &wl, errmsg, sizeof(errmsg)),
                     MR_E_INVAL);
    ck_assert(strstr(errmsg, "wildcards") != NULL);
    s = spec("bad", SIM_WL_QUEUE, "foo");
    ck_assert_int_eq(sim_workload_create(x.f.w, &s, x.h, &wl, errmsg, sizeof(errmsg)),
                     MR_E_INVAL);
    ck_assert(strstr(errmsg, "queue") != NULL);
    s = spec("bad", SIM_WL_SUBSCRIBE, "foo..bar");
    ck_assert_int_eq(sim_workload_create(x.f.w, &s, x.h, &wl, errmsg, sizeof(errmsg)),
                     MR_E_INVAL);
    s = spec("a.b", SIM_WL_SUBSCRIBE, "foo");
    ck_assert_int_eq(sim_workload_create(x.f.w, &s, x.h, &wl, errmsg, sizeof(errmsg)),
                     MR_E_INVAL);
    s = spec("srv", SIM_WL_SUBSCRIBE, "foo");
    ck_assert_int_eq(sim_workload_create(x.f.w, &s, x.h, &wl, errmsg, sizeof(errmsg)),
                     MR_E_EXISTS);
    s = spec("nosrv", SIM_WL_SUBSCRIBE, "foo");
    s.servers_len = 0;
    ck_assert_int_eq(sim_workload_create(x.f.w, &s, x.h, &wl, errmsg, sizeof(errmsg)),
                     MR_E_INVAL);
    wfx_finish(&x);
}
END_TEST

static uint64_t mixed_run(uint64_t seed, uint64_t *trace_hash)
{
    struct wfx x;
    wfx_start(&x, seed, NULL);
    struct sim_workload_spec s = spec("sub1", SIM_WL_SUBSCRIBE, "a.>");
    add(&x, &s);
    struct sim_workload_spec q = spec("q", SIM_WL_QUEUE, "a.b");
    snprintf(q.queue, sizeof(q.queue), "g");
    q.clients = 3;
    add(&x, &q);
    struct sim_workload_spec r = spec("svc", SIM_WL_REPLY, "a.svc");
    add(&x, &r);
    struct sim_workload_spec p = spec("pub1", SIM_WL_PUBLISH, "a.b");
    p.rate = 200;
    p.start_ns = 500 * MS;
    p.stop_ns = 4 * SEC;
    add(&x, &p);
    struct sim_workload_spec c = spec("req", SIM_WL_REQUEST, "a.svc");
    c.rate = 20;
    c.start_ns = 500 * MS;
    add(&x, &c);
    sim_world_run_until(x.f.w, 5 * SEC);
    uint64_t hash = sim_history_hash(x.h);
    ck_assert_uint_gt(sim_history_len(x.h), 1000);
    *trace_hash = sim_world_trace_hash(x.f.w);
    wfx_finish(&x);
    return hash;
}

START_TEST(same_seed_gives_same_history)
{
    uint64_t t1 = 0;
    uint64_t t2 = 0;
    uint64_t a = mixed_run(42, &t1);
    uint64_t b = mixed_run(42, &t2);
    ck_assert_uint_eq(a, b);
    ck_assert_uint_eq(t1, t2);
    uint64_t t3 = 0;
    (void)mixed_run(43, &t3);
    ck_assert_uint_ne(t1, t3);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * JetStream clients
 */

static struct mr_jetstream_opts js_opts;

static void with_jetstream(struct mr_server_opts *o)
{
    memset(&js_opts, 0, sizeof(js_opts));
    js_opts.present = true;
    js_opts.enabled = true;
    js_opts.max_memory_store = -1;
    js_opts.max_file_store = -1;
    js_opts.sync_interval_ns = MR_JETSTREAM_SYNC_INTERVAL_DEFAULT_NS;
    o->jetstream = &js_opts;
}

/* Events of kind with that text (NULL = any text). */
static size_t count_text(const struct sim_history *h, enum sim_hist_kind kind, const char *text)
{
    size_t n = 0;
    for (size_t i = 0; i < sim_history_len(h); i++) {
        const struct sim_hist_event *e = sim_history_at(h, i);
        n += e->kind == kind && (text == NULL || strcmp(e->text, text) == 0);
    }
    return n;
}

START_TEST(js_publisher_records_pubacks_and_reader_reads_them_back)
{
    struct wfx x;
    wfx_start(&x, 11, with_jetstream);
    struct sim_workload_spec p = spec("jp", SIM_WL_JS_PUBLISH, "orders.new");
    snprintf(p.stream, sizeof(p.stream), "ORDERS");
    snprintf(p.stream_json, sizeof(p.stream_json),
             "{\"name\":\"ORDERS\",\"subjects\":[\"orders.>\"],\"storage\":\"memory\"}");
    p.rate = 100;
    p.payload_bytes = 40;
    p.stop_ns = 2 * SEC;
    struct sim_workload *pw = add(&x, &p);
    struct sim_workload_spec r = spec("rd", SIM_WL_JS_READ, "ORDERS");
    snprintf(r.stream, sizeof(r.stream), "ORDERS");
    r.start_ns = 3 * SEC;
    struct sim_workload *rw = add(&x, &r);
    sim_world_run_until(x.f.w, 6 * SEC);
    struct sim_workload_stats ps;
    struct sim_workload_stats rs;
    sim_workload_stats(pw, &ps);
    sim_workload_stats(rw, &rs);
    ck_assert_uint_gt(ps.js_acked, 150);
    ck_assert_uint_eq(ps.js_acked, ps.published);
    ck_assert_uint_eq(rs.js_acked, ps.js_acked);
    ck_assert_uint_eq(count_text(x.h, SIM_H_JS_ACK, "ORDERS"), ps.js_acked);
    ck_assert_uint_eq(count_text(x.h, SIM_H_JS_READ, "ok"), ps.js_acked);
    ck_assert_uint_eq(count_text(x.h, SIM_H_JS_INFO, "ORDERS"), 1);
    struct sim_check_js_server srv = {"srv", false, SEC};
    struct sim_check_opts o;
    sim_check_opts_default(&o);
    o.js_servers = &srv;
    o.js_servers_len = 1;
    struct sim_verdict v;
    sim_check_no_acked_loss(x.h, &o, &v);
    ck_assert_msg(v.ok, "%s", v.first);
    ck_assert_uint_eq(v.checked, ps.js_acked);
    wfx_finish(&x);
}
END_TEST

START_TEST(js_reader_of_a_missing_stream_says_so_and_stops)
{
    struct wfx x;
    wfx_start(&x, 12, with_jetstream);
    struct sim_workload_spec r = spec("rd", SIM_WL_JS_READ, "NOPE");
    snprintf(r.stream, sizeof(r.stream), "NOPE");
    struct sim_workload *rw = add(&x, &r);
    sim_world_run_until(x.f.w, 2 * SEC);
    struct sim_workload_stats rs;
    sim_workload_stats(rw, &rs);
    ck_assert_uint_eq(rs.errors, 1);
    ck_assert_ptr_nonnull(strstr(rs.first_error, "stream info: stream not found"));
    ck_assert_uint_eq(count_text(x.h, SIM_H_JS_INFO, "NOPE"), 1);
    ck_assert_uint_eq(count_text(x.h, SIM_H_JS_READ, NULL), 0);
    ck_assert_uint_eq(count_text(x.h, SIM_H_STOP, NULL), 1);
    wfx_finish(&x);
}
END_TEST

/* Without JetStream nobody answers: publishes time out, nothing is acked. */
START_TEST(js_publisher_without_jetstream_times_out)
{
    struct wfx x;
    wfx_start(&x, 13, NULL);
    struct sim_workload_spec p = spec("jp", SIM_WL_JS_PUBLISH, "orders.new");
    p.rate = 10;
    p.max_count = 10; /* then it stays connected, waiting for its answers */
    struct sim_workload *pw = add(&x, &p);
    sim_world_run_until(x.f.w, 4 * SEC);
    struct sim_workload_stats ps;
    sim_workload_stats(pw, &ps);
    ck_assert_uint_eq(ps.published, 10);
    ck_assert_uint_eq(ps.js_acked, 0);
    ck_assert_uint_eq(ps.timeouts, ps.published);
    wfx_finish(&x);
}
END_TEST

static Suite *sim_workload_suite(void)
{
    Suite *s = suite_create("sim_workload");
    TCase *wl = tcase_create("workloads");
    tcase_set_timeout(wl, 60);
    tcase_add_test(wl, two_subscribers_get_all_1000_messages);
    tcase_add_test(wl, queue_group_of_three_gets_each_message_once);
    tcase_add_test(wl, request_reply_round_trips);
    tcase_add_test(wl, requests_without_replier_time_out);
    tcase_add_test(wl, err_is_recorded_and_client_reconnects);
    tcase_add_test(wl, stop_time_ends_the_workload);
    tcase_add_test(wl, server_crash_and_restart_reconnects_and_resubscribes);
    tcase_add_test(wl, partitioned_subscriber_notices_by_ping_and_recovers_after_heal);
    suite_add_tcase(s, wl);
    TCase *ck = tcase_create("checkers");
    tcase_set_timeout(ck, 60);
    tcase_add_test(ck, server_dropping_every_100th_delivery_fails_delivery);
    tcase_add_test(ck, online_checker_runs_after_every_step);
    tcase_add_test(ck, small_history_truncates_and_verdicts_say_so);
    suite_add_tcase(s, ck);
    TCase *det = tcase_create("determinism");
    tcase_set_timeout(det, 60);
    tcase_add_test(det, invalid_specs_are_rejected_with_a_reason);
    tcase_add_test(det, same_seed_gives_same_history);
    tcase_add_test(det, js_publisher_records_pubacks_and_reader_reads_them_back);
    tcase_add_test(det, js_reader_of_a_missing_stream_says_so_and_stops);
    tcase_add_test(det, js_publisher_without_jetstream_times_out);
    suite_add_tcase(s, det);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sim_workload_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
