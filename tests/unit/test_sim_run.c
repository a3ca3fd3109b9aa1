/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scenario runner (sim/sim_run.h): one seed twice gives the same trace hash and
 * the same trace bytes, another seed a different hash; the canary scenario fails
 * `delivery` (the checkers can fail); the shipped scenarios pass; every timeline
 * action is applied at its virtual time and changes the state it names; --until stops
 * early; the random schedule of a run is a function of its seed. Liveness mode: the
 * core is a seeded majority of each cluster, faults outside it stay after quiesce
 * while the core comes back, and the liveness checker exempts clients of servers
 * outside the core but fails a core subscriber that gets nothing. Runs from the source
 * root (scenarios/).
 */
#include <check.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sim/sim_run.h"
#include "sim/sim_scenario.h"

#define MS (1000ULL * 1000)
#define SEC (1000ULL * MS)

static struct sim_scenario *load_file(const char *path)
{
    struct sim_scenario *sc = NULL;
    char err[SIM_SC_ERR_MAX] = "";
    int rc = sim_scenario_load_file(path, sim_scenario_file_io(), &sc, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s: %s", path, err);
    return sc;
}

static struct sim_scenario *load_text(const char *text)
{
    struct sim_scenario *sc = NULL;
    char err[SIM_SC_ERR_MAX] = "";
    int rc = sim_scenario_load_text("t.conf", text, strlen(text), NULL, &sc, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    return sc;
}

/* Runs sc with seed (and until) and returns the trace text (g_free). */
static char *run_traced(const struct sim_scenario *sc, uint64_t seed, uint64_t until_ns,
                        struct sim_run_result *r)
{
    struct sim_run_opts o;
    sim_run_opts_default(&o);
    o.seed = seed;
    o.until_ns = until_ns;
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    o.trace = f;
    ck_assert_int_eq(sim_run(sc, &o, r), 0);
    long len = ftell(f);
    ck_assert_int_ge(len, 0);
    rewind(f);
    char *buf = g_malloc((size_t)len + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

START_TEST(same_seed_same_trace_hash)
{
    struct sim_scenario *sc = load_file("scenarios/default.conf");
    struct sim_run_result a;
    struct sim_run_result b;
    char *ta = run_traced(sc, 0x1234, 15 * SEC, &a);
    char *tb = run_traced(sc, 0x1234, 15 * SEC, &b);
    ck_assert_uint_eq(a.trace_hash, b.trace_hash);
    ck_assert_uint_eq(a.events, b.events);
    ck_assert_uint_eq(a.published, b.published);
    ck_assert_str_eq(a.timeline, b.timeline);
    ck_assert_str_eq(ta, tb);
    ck_assert_uint_gt(a.events, 1000);
    g_free(ta);
    g_free(tb);
    sim_run_result_deinit(&a);
    sim_run_result_deinit(&b);
    sim_scenario_destroy(sc);
}
END_TEST

START_TEST(server_check_frequency_does_not_change_the_run)
{
    struct sim_scenario *sc = load_file("scenarios/default.conf");
    struct sim_run_opts o;
    sim_run_opts_default(&o);
    o.until_ns = 8 * SEC;
    struct sim_run_result a;
    struct sim_run_result b;
    ck_assert_int_eq(sim_run(sc, &o, &a), 0);
    o.server_check_every = 0;
    ck_assert_int_eq(sim_run(sc, &o, &b), 0);
    ck_assert_uint_eq(a.trace_hash, b.trace_hash);
    ck_assert_uint_eq(a.events, b.events);
    sim_run_result_deinit(&a);
    sim_run_result_deinit(&b);
    sim_scenario_destroy(sc);
}
END_TEST

START_TEST(different_seed_different_trace_hash)
{
    struct sim_scenario *sc = load_file("scenarios/default.conf");
    struct sim_run_opts o;
    sim_run_opts_default(&o);
    o.until_ns = 5 * SEC;
    struct sim_run_result a;
    struct sim_run_result b;
    o.seed = 1;
    ck_assert_int_eq(sim_run(sc, &o, &a), 0);
    o.seed = 2;
    ck_assert_int_eq(sim_run(sc, &o, &b), 0);
    ck_assert_uint_ne(a.trace_hash, b.trace_hash);
    ck_assert_uint_eq(a.seed, 1);
    ck_assert_uint_eq(b.seed, 2);
    sim_run_result_deinit(&a);
    sim_run_result_deinit(&b);
    sim_scenario_destroy(sc);
}
END_TEST

START_TEST(canary_fails_delivery)
{
    struct sim_scenario *sc = load_file("scenarios/canary_drop.conf");
    struct sim_run_opts o;
    sim_run_opts_default(&o);
    o.seed = sc->seed;
    struct sim_run_result r;
    ck_assert_int_eq(sim_run(sc, &o, &r), 0);
    ck_assert(!r.ok);
    ck_assert(r.verdict_run[SIM_CHECK_DELIVERY]);
    ck_assert(!r.verdicts[SIM_CHECK_DELIVERY].ok);
    ck_assert_uint_gt(r.verdicts[SIM_CHECK_DELIVERY].violations, 0);
    ck_assert(!r.verdict_run[SIM_CHECK_QUEUE_ONCE]);
    sim_run_result_deinit(&r);
    sim_scenario_destroy(sc);
}
END_TEST

/* Gateways that send what nobody wants across must fail interest_only, and only it. */
START_TEST(canary_fails_interest_only)
{
    struct sim_scenario *sc = load_file("scenarios/canary_interest_only.conf");
    struct sim_run_opts o;
    sim_run_opts_default(&o);
    o.seed = sc->seed;
    struct sim_run_result r;
    ck_assert_int_eq(sim_run(sc, &o, &r), 0);
    ck_assert(!r.ok);
    ck_assert(r.verdict_run[SIM_CHECK_INTEREST_ONLY]);
    ck_assert(!r.verdicts[SIM_CHECK_INTEREST_ONLY].ok);
    ck_assert_msg(strstr(r.verdicts[SIM_CHECK_INTEREST_ONLY].first, "region1 <-> region3") != NULL,
                  "%s", r.verdicts[SIM_CHECK_INTEREST_ONLY].first);
    ck_assert(r.verdicts[SIM_CHECK_NO_DUPLICATES].ok);
    sim_run_result_deinit(&r);
    sim_scenario_destroy(sc);
}
END_TEST

/* A leaf server that drops local deliveries while it is up fails local_delivery. */
START_TEST(canary_fails_local_delivery)
{
    struct sim_scenario *sc = load_file("scenarios/canary_local_delivery.conf");
    struct sim_run_opts o;
    sim_run_opts_default(&o);
    o.seed = sc->seed;
    struct sim_run_result r;
    ck_assert_int_eq(sim_run(sc, &o, &r), 0);
    ck_assert(!r.ok);
    ck_assert(r.verdict_run[SIM_CHECK_LOCAL_DELIVERY]);
    const struct sim_verdict *v = &r.verdicts[SIM_CHECK_LOCAL_DELIVERY];
    ck_assert(!v->ok);
    ck_assert_uint_gt(v->violations, 0);
    ck_assert_msg(strstr(v->first, "published on edge while it was up") != NULL, "%s", v->first);
    sim_run_result_deinit(&r);
    sim_scenario_destroy(sc);
}
END_TEST

/* An import the scenario does not declare fails account_scoping; declared, it passes. */
START_TEST(canary_fails_account_scoping)
{
    struct sim_scenario *sc = load_file("scenarios/canary_account_scoping.conf");
    struct sim_run_opts o;
    sim_run_opts_default(&o);
    o.seed = sc->seed;
    struct sim_run_result r;
    ck_assert_int_eq(sim_run(sc, &o, &r), 0);
    ck_assert(!r.ok);
    const struct sim_verdict *v = &r.verdicts[SIM_CHECK_ACCOUNT_SCOPING];
    ck_assert(r.verdict_run[SIM_CHECK_ACCOUNT_SCOPING]);
    ck_assert(!v->ok);
    ck_assert_msg(strstr(v->first, "b-sub (account B) got a-pub:") != NULL, "%s", v->first);
    sim_run_result_deinit(&r);
    sim_scenario_destroy(sc);

    char *text = NULL;
    gsize len = 0;
    ck_assert(g_file_get_contents("scenarios/canary_account_scoping.conf", &text, &len, NULL));
    char *declared = g_strconcat(text, "\nexpect { account_crossings: [ { from: A, to: B } ] }\n",
                                 NULL);
    sc = load_text(declared);
    ck_assert_int_eq(sim_run(sc, &o, &r), 0);
    ck_assert_msg(r.verdicts[SIM_CHECK_ACCOUNT_SCOPING].ok, "%s",
                  r.verdicts[SIM_CHECK_ACCOUNT_SCOPING].first);
    ck_assert_uint_gt(r.verdicts[SIM_CHECK_ACCOUNT_SCOPING].checked, 0);
    ck_assert(r.ok);
    sim_run_result_deinit(&r);
    sim_scenario_destroy(sc);
    g_free(declared);
    g_free(text);
}
END_TEST

/* A client the server refuses records the error, never subscribes, publishes nothing,
 * and the run says so; its good neighbours are unaffected. */
START_TEST(refused_client_is_reported_and_not_live)
{
    struct sim_scenario *sc = load_text(
        "sim { duration: \"12s\" }\n"
        "servers { s { config { port: 4222, authorization { users: [ { user: u, "
        "password: \"p\\\"q\" } ] } } }\n"
        "  t { config { port: 4222, authorization { token: secret } } } }\n"
        "clients {\n"
        "  pub { at: [s], user: u, password: \"p\\\"q\", publish: \"x\", rate: 20 }\n"
        "  sub { at: [s], user: u, password: \"p\\\"q\", subscribe: \"x\" }\n"
        "  tpub { at: [t], token: secret, publish: \"y\", rate: 20 }\n"
        "  tsub { at: [t], token: secret, subscribe: \"y\" }\n"
        "  bad { at: [s], user: u, password: nope, subscribe: \"x\" }\n"
        "  anon { at: [s], publish: \"x\", rate: 20 }\n"
        "  tok { at: [s], token: t, subscribe: \"x\" }\n"
        "}\n");
    ck_assert_uint_eq(sc->warnings.count, 3);
    struct sim_run_opts o;
    sim_run_opts_default(&o);
    struct sim_run_result r;
    char *trace = run_traced(sc, 1, 0, &r);
    for (int k = 0; k < SIM_CHECK_COUNT; k++) {
        ck_assert_msg(!r.verdict_run[k] || r.verdicts[k].ok, "%s", r.verdicts[k].first);
    }
    ck_assert(r.ok);
    ck_assert_ptr_nonnull(r.client_errors);
    ck_assert_msg(strstr(r.client_errors, "client bad: ") != NULL, "%s", r.client_errors);
    ck_assert_msg(strstr(r.client_errors, "Authorization Violation (never got going)") != NULL,
                  "%s", r.client_errors);
    ck_assert(strstr(r.client_errors, "client anon: ") != NULL);
    ck_assert(strstr(r.client_errors, "client tok: ") != NULL);
    ck_assert(strstr(r.client_errors, "client sub") == NULL);
    ck_assert(strstr(trace, "\"kind\":\"SUB\",\"actor\":\"sub\"") != NULL);
    ck_assert(strstr(trace, "\"kind\":\"MSG\",\"actor\":\"tsub\"") != NULL);
    ck_assert(strstr(r.client_errors, "client tpub") == NULL);
    ck_assert(strstr(trace, "\"kind\":\"SUB\",\"actor\":\"bad\"") == NULL);
    ck_assert(strstr(trace, "\"kind\":\"PUB\",\"actor\":\"anon\"") == NULL);
    ck_assert(strstr(trace, "\"kind\":\"ERR\",\"actor\":\"bad\"") != NULL);
    ck_assert_uint_gt(r.received, 50);
    g_free(trace);
    sim_run_result_deinit(&r);
    sim_scenario_destroy(sc);
}
END_TEST

static const char *const passing[] = {
    "scenarios/default.conf",
    "scenarios/single_server_faults.conf",
    "scenarios/mission_supercluster.conf",
    "scenarios/nemesis.conf",
    "scenarios/mission_leafnode.conf",
    "scenarios/leaf_accounts.conf",
};

START_TEST(shipped_scenarios_pass)
{
    struct sim_scenario *sc = load_file(passing[_i]);
    struct sim_run_opts o;
    sim_run_opts_default(&o);
    o.seed = sc->seed;
    struct sim_run_result r;
    ck_assert_int_eq(sim_run(sc, &o, &r), 0);
    for (int k = 0; k < SIM_CHECK_COUNT; k++) {
        if (r.verdict_run[k]) {
            ck_assert_msg(r.verdicts[k].ok, "%s: %s: %s", passing[_i], r.verdicts[k].name,
                          r.verdicts[k].first);
        }
    }
    ck_assert(r.ok);
    ck_assert_uint_eq(r.virtual_ns, sc->duration_ns);
    ck_assert_uint_gt(r.published, 0);
    ck_assert_uint_gt(r.received, 0);
    sim_run_result_deinit(&r);
    sim_scenario_destroy(sc);
}
END_TEST

/* Every action, each at its own time, on a 3-server world in two regions. */
static const char actions_scenario[] =
    "sim { duration: \"30s\" }\n"
    "regions { r1 { latency: \"1ms\" }, r2 { latency: \"1ms\" } }\n"
    "links [ { between: [r1, r2], latency: \"20ms\" } ]\n"
    "servers { a { region: r1, port: 4222 }, b { region: r1, port: 4222 },"
    " c { region: r2, port: 4222 } }\n"
    "clients { p { at: [a], publish: x, rate: 20 }, s { at: [a], subscribe: x } }\n"
    "timeline [\n"
    "  { at: \"1s\", do: partition, groups: [[a], [b, c]] }\n"
    "  { at: \"2s\", do: heal }\n"
    "  { at: \"3s\", do: isolate, targets: [b] }\n"
    "  { at: \"4s\", do: heal_all }\n"
    "  { at: \"5s\", do: crash, targets: [b] }\n"
    "  { at: \"6s\", do: restart, targets: [b] }\n"
    "  { at: \"7s\", do: power_fail, targets: [c] }\n"
    "  { at: \"8s\", do: restart, targets: [c] }\n"
    "  { at: \"9s\", do: pause, targets: [a] }\n"
    "  { at: \"10s\", do: resume, targets: [a] }\n"
    "  { at: \"11s\", do: reset, targets: [a] }\n"
    "  { at: \"12s\", do: latency, targets: [r1, r2], latency: \"200ms\", jitter: \"5ms\" }\n"
    "  { at: \"13s\", do: clock_skew, targets: [a], skew: \"-1s\" }\n"
    "  { at: \"14s\", do: region_down, targets: [r2] }\n"
    "  { at: \"15s\", do: region_up, targets: [r2] }\n"
    "]\n"
    "quiesce: \"16s\"\n"
    "check [ no_duplicates, per_publisher_order ]\n";

static const struct {
    const char *t;      /* the trace's "t" of the fault line */
    const char *action; /* "do: <action>" */
    const char *row;    /* the timeline row's server cells after the action */
} expected_rows[] = {
    {"1000000000", "do: partition", "cut    cut    cut"},
    {"2000000000", "do: heal", "up     up     up"},
    {"3000000000", "do: isolate", "cut    cut    cut"},
    {"4000000000", "do: heal_all", "up     up     up"},
    {"5000000000", "do: crash", "up     X      up"},
    {"6000000000", "do: restart", "up     up     up"},
    {"7000000000", "do: power_fail", "up     up     X"},
    {"8000000000", "do: restart", "up     up     up"},
    {"9000000000", "do: pause", "z      up     up"},
    {"10000000000", "do: resume", "up     up     up"},
    {"11000000000", "do: reset", "up     up     up"},
    {"12000000000", "do: latency", "up     up     up"},
    {"13000000000", "do: clock_skew", "up     up     up"},
    {"14000000000", "do: region_down", "up     up     X"},
    {"15000000000", "do: region_up", "up     up     up"},
    {"16000000000", "do: quiesce", "up     up     up"},
};

START_TEST(each_timeline_action_is_applied_at_its_time)
{
    struct sim_scenario *sc = load_text(actions_scenario);
    struct sim_run_result r;
    char *trace = run_traced(sc, 3, 0, &r);
    ck_assert_uint_eq(r.faults, sizeof(expected_rows) / sizeof(expected_rows[0]));
    char **lines = g_strsplit(r.timeline, "\n", -1);
    char **tlines = g_strsplit(trace, "\n", -1);
    for (size_t i = 0; i < sizeof(expected_rows) / sizeof(expected_rows[0]); i++) {
        /* The fault's trace line carries its exact virtual time. */
        bool found = false;
        for (size_t k = 0; tlines[k] != NULL && !found; k++) {
            char *want_t = g_strdup_printf("{\"t\":%s,\"fault\":", expected_rows[i].t);
            found = g_str_has_prefix(tlines[k], want_t) &&
                    strstr(tlines[k], expected_rows[i].action) != NULL;
            g_free(want_t);
        }
        ck_assert_msg(found, "no trace line at t=%s for %s", expected_rows[i].t,
                      expected_rows[i].action);
        /* The timeline row (header, legend-less, then "start" first) shows the state. */
        const char *row = lines[2 + i];
        ck_assert_ptr_nonnull(row);
        ck_assert_msg(strstr(row, expected_rows[i].action) != NULL, "row %zu: %s", i, row);
        ck_assert_msg(strstr(row, expected_rows[i].row) != NULL, "row %zu: %s", i, row);
    }
    ck_assert(r.ok);
    g_strfreev(lines);
    g_strfreev(tlines);
    g_free(trace);
    sim_run_result_deinit(&r);
    sim_scenario_destroy(sc);
}
END_TEST

START_TEST(until_stops_early)
{
    struct sim_scenario *sc = load_file("scenarios/single_server_faults.conf");
    struct sim_run_opts o;
    sim_run_opts_default(&o);
    o.until_ns = 12 * SEC;
    struct sim_run_result r;
    ck_assert_int_eq(sim_run(sc, &o, &r), 0);
    ck_assert_uint_eq(r.virtual_ns, 12 * SEC);
    /* reset at 5 s, pause at 10 s: two faults applied, resume at 11.5 s too. */
    ck_assert_uint_eq(r.faults, 3);
    sim_run_result_deinit(&r);
    sim_scenario_destroy(sc);
}
END_TEST

START_TEST(random_schedule_of_a_run_follows_the_seed)
{
    struct sim_scenario *sc = load_file("scenarios/nemesis.conf");
    struct sim_run_opts o;
    sim_run_opts_default(&o);
    o.until_ns = 20 * SEC;
    struct sim_run_result a;
    struct sim_run_result b;
    struct sim_run_result c;
    o.seed = 77;
    ck_assert_int_eq(sim_run(sc, &o, &a), 0);
    ck_assert_int_eq(sim_run(sc, &o, &b), 0);
    o.seed = 78;
    ck_assert_int_eq(sim_run(sc, &o, &c), 0);
    ck_assert_str_eq(a.schedule, b.schedule);
    ck_assert_str_ne(a.schedule, c.schedule);
    ck_assert_uint_eq(a.trace_hash, b.trace_hash);
    ck_assert_ptr_nonnull(strstr(a.schedule, "# generated"));
    sim_run_result_deinit(&a);
    sim_run_result_deinit(&b);
    sim_run_result_deinit(&c);
    sim_scenario_destroy(sc);
}
END_TEST

/* The schedule a run prints (random faults included) loads back as a plain timeline
 * and replays the very same run. */
START_TEST(written_schedule_replays_the_run)
{
    const char *base = "sim { seed: 11, duration: \"30s\" }\n"
                       "servers { a { port: 4222 }, b { port: 4222 }, c { port: 4222 } }\n"
                       "clients { p { at: [b], publish: x, rate: 50 },"
                       " s { at: [b], subscribe: x } }\n";
    char *with_random = g_strdup_printf(
        "%srandom { from: \"2s\", every: [\"1s\", \"3s\"],"
        " faults: [partition, isolate, crash, power_fail, pause, reset] }\n"
        "quiesce: \"20s\"\n",
        base);
    struct sim_scenario *sc = load_text(with_random);
    struct sim_run_opts o;
    sim_run_opts_default(&o);
    o.seed = 11;
    struct sim_run_result a;
    ck_assert_int_eq(sim_run(sc, &o, &a), 0);
    ck_assert_uint_gt(a.faults, 5);
    char *replay = g_strdup_printf("%s%s", base, a.schedule);
    struct sim_scenario *sc2 = load_text(replay);
    struct sim_run_result b;
    ck_assert_int_eq(sim_run(sc2, &o, &b), 0);
    ck_assert_uint_eq(a.trace_hash, b.trace_hash);
    ck_assert_uint_eq(a.faults, b.faults);
    ck_assert_uint_eq(a.published, b.published);
    sim_run_result_deinit(&a);
    sim_run_result_deinit(&b);
    sim_scenario_destroy(sc);
    sim_scenario_destroy(sc2);
    g_free(with_random);
    g_free(replay);
}
END_TEST

START_TEST(event_budget_stops_the_run)
{
    struct sim_scenario *sc = load_file("scenarios/canary_drop.conf");
    struct sim_run_opts o;
    sim_run_opts_default(&o);
    o.events_max = 500;
    struct sim_run_result r;
    ck_assert_int_eq(sim_run(sc, &o, &r), 0);
    ck_assert(r.budget_exceeded);
    ck_assert(!r.ok);
    ck_assert_ptr_nonnull(strstr(r.err, "event budget exceeded"));
    ck_assert_uint_lt(r.virtual_ns, sc->duration_ns);
    sim_run_result_deinit(&r);
    sim_scenario_destroy(sc);
}
END_TEST

/* ---- liveness mode ------------------------------------------------------------------ */

/* A 3-server cluster (c1, c2, c3, configs inline) plus rest (clients, timeline), in
 * liveness mode with quiesce at 10 s and converge 8 s. */
#define CLUSTER_NODE(name, drop)                                                          \
    " " name " { config { port: 4222, cluster { name: dc1, listen: \"0.0.0.0:6222\","     \
    " routes: [\"nats://c1:6222\", \"nats://c2:6222\", \"nats://c3:6222\"] } }" drop " }\n"

static struct sim_scenario *liveness_cluster(const char *c2_options, const char *rest)
{
    /* c2 may carry an options {} block (test_drop_every). */
    char *c2 = g_strdup_printf(" c2 { config { port: 4222, cluster { name: dc1, listen:"
                               " \"0.0.0.0:6222\", routes: [\"nats://c1:6222\","
                               " \"nats://c2:6222\", \"nats://c3:6222\"] } }\n  %s }\n",
                               c2_options);
    char *text = g_strdup_printf("sim { seed: 1, duration: \"25s\", mode: liveness }\n"
                                 "servers {\n" CLUSTER_NODE("c1", "") "%s"
                                 CLUSTER_NODE("c3", "") "}\n%squiesce: \"10s\"\n"
                                 "expect { converge: \"8s\" }\n",
                                 c2, rest);
    struct sim_scenario *sc = load_text(text);
    g_free(c2);
    g_free(text);
    return sc;
}

/* The first seed from 1 whose core is exactly want (3 flags for c1..c3). */
static uint64_t seed_with_core(const struct sim_scenario *sc, const bool want[3])
{
    for (uint64_t seed = 1; seed < 1000; seed++) {
        bool core[SIM_SC_SERVERS_MAX];
        (void)sim_scenario_choose_core(sc, seed, core); /* the flags are the answer */
        if (core[0] == want[0] && core[1] == want[1] && core[2] == want[2]) {
            return seed;
        }
    }
    ck_abort_msg("no seed below 1000 gives the wanted core");
    return 0;
}

/* The cells of the timeline row whose event text starts with what (the last such). */
static void timeline_cells(const char *timeline, const char *what, char cells[3][8])
{
    char **lines = g_strsplit(timeline, "\n", -1);
    const char *row = NULL;
    for (size_t i = 0; lines[i] != NULL; i++) {
        const char *bar = strstr(lines[i], "| ");
        if (bar != NULL && g_str_has_prefix(bar + 2, what)) {
            row = lines[i];
        }
    }
    ck_assert_msg(row != NULL, "no row %s in\n%s", what, timeline);
    /* "   25.000s  up     X      up    | end": the time, then a 7-wide cell per server. */
    const char *p = strchr(row, 's');
    ck_assert_ptr_nonnull(p);
    p++;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(sscanf(p + 7 * i, " %7s", cells[i]), 1);
    }
    g_strfreev(lines);
}

START_TEST(liveness_core_is_a_seeded_majority)
{
    struct sim_scenario *sc = load_text(
        "sim { mode: liveness }\n"
        "servers {\n" CLUSTER_NODE("c1", "") CLUSTER_NODE("c2", "") CLUSTER_NODE("c3", "")
        " solo { port: 4222 }\n"
        CLUSTER_NODE("c4", "") CLUSTER_NODE("c5", "") "}\n"
        "quiesce: \"10s\"\n");
    ck_assert_uint_eq(sc->servers_count, 6);
    bool seen[8] = {false}; /* which 2-of-3 cores of c1..c3 appeared (bitmask index) */
    for (uint64_t seed = 1; seed <= 64; seed++) {
        bool a[SIM_SC_SERVERS_MAX];
        bool b[SIM_SC_SERVERS_MAX];
        /* One cluster of five (c1..c5) needs 3, the lone server is its own core. */
        ck_assert_uint_eq(sim_scenario_choose_core(sc, seed, a), 4);
        ck_assert_uint_eq(sim_scenario_choose_core(sc, seed, b), 4);
        ck_assert(memcmp(a, b, sc->servers_count * sizeof(bool)) == 0);
        ck_assert(a[3]);
        int cluster = a[0] + a[1] + a[2] + a[4] + a[5];
        ck_assert_int_eq(cluster, 3);
        seen[a[0] | a[1] << 1 | a[2] << 2] = true;
    }
    /* Different seeds give different cores: several patterns over c1..c3 appear. */
    int patterns = 0;
    for (int i = 0; i < 8; i++) {
        patterns += seen[i];
    }
    ck_assert_int_ge(patterns, 4);
    sim_scenario_destroy(sc);
}
END_TEST

/* c1 and c2 crash for good at 5 s. With the core {c1, c3}, quiesce restarts c1 and c2
 * stays down to the end; a subscriber listing only c2 is exempt, the others (one
 * failing over from c2 to c3) must make progress. */
START_TEST(liveness_keeps_faults_outside_the_core)
{
    struct sim_scenario *sc = liveness_cluster(
        "",
        "clients {\n"
        " p1 { at: [c1, c3], publish: \"x.1\", rate: 50 }\n"
        " s1 { at: [c1, c3], subscribe: \"x.>\" }\n"
        " s3 { at: [c3], subscribe: \"x.>\" }\n"
        " s23 { at: [c2, c3], subscribe: \"x.>\" }\n"
        " only2 { at: [c2], subscribe: \"x.>\" }\n"
        "}\n"
        "timeline [ { at: \"5s\", do: crash, targets: [c1, c2] } ]\n");
    const bool want[3] = {true, false, true};
    uint64_t seed = seed_with_core(sc, want);
    struct sim_run_result r;
    char *trace = run_traced(sc, seed, 0, &r);
    ck_assert_uint_eq(r.core_count, 2);
    ck_assert(r.in_core[0] && !r.in_core[1] && r.in_core[2]);
    char cells[3][8];
    timeline_cells(r.timeline, "{ at: \"5s\"", cells);
    ck_assert_str_eq(cells[0], "X");
    ck_assert_str_eq(cells[1], "X");
    timeline_cells(r.timeline, "end", cells);
    ck_assert_str_eq(cells[0], "up");
    ck_assert_str_eq(cells[1], "X");
    ck_assert_str_eq(cells[2], "up");
    ck_assert_ptr_nonnull(r.core);
    ck_assert_ptr_nonnull(strstr(r.core, "liveness core: [c1, c3]"));
    ck_assert_ptr_nonnull(strstr(r.core, "c2 stays down"));
    ck_assert_ptr_nonnull(strstr(r.timeline, "liveness core: [c1, c3]"));
    ck_assert_ptr_nonnull(strstr(trace, "\"core\":[\"c1\",\"c3\"]"));
    ck_assert_ptr_nonnull(strstr(r.schedule, "# liveness core: [c1, c3]"));
    const struct sim_verdict *lv = &r.verdicts[SIM_CHECK_LIVENESS];
    ck_assert_msg(r.ok, "%s: %s", lv->name, lv->first);
    /* s1, s3 and s23 are judged; only2 (every server it lists is outside) is exempt. */
    ck_assert_uint_eq(lv->checked, 3);
    ck_assert_uint_eq(lv->exempt, 1);
    g_free(trace);
    sim_run_result_deinit(&r);
    sim_scenario_destroy(sc);
}
END_TEST

/* c3 is partitioned from c1 and c2 for good. With the core {c1, c2} it stays up and
 * cut off, its subscriber stays attached to it and receives nothing new after
 * quiesce: exempt. With c2 dropping every message it delivers, c2's subscriber (on a
 * core server) receives nothing: liveness must fail and name it. */
static const char partition_clients[] =
    "clients {\n"
    " p1 { at: [c1], publish: \"x.1\", rate: 50 }\n"
    " s1 { at: [c1], subscribe: \"x.>\" }\n"
    " s2 { at: [c2], subscribe: \"x.>\" }\n"
    " s3 { at: [c3], subscribe: \"x.>\" }\n"
    "}\n"
    "timeline [ { at: \"5s\", do: partition, groups: [[c1, c2], [c3]] } ]\n";

START_TEST(liveness_exempts_clients_outside_the_core)
{
    struct sim_scenario *sc = liveness_cluster("", partition_clients);
    const bool want[3] = {true, true, false};
    uint64_t seed = seed_with_core(sc, want);
    struct sim_run_result r;
    struct sim_run_opts o;
    sim_run_opts_default(&o);
    o.seed = seed;
    ck_assert_int_eq(sim_run(sc, &o, &r), 0);
    char cells[3][8];
    timeline_cells(r.timeline, "end", cells);
    ck_assert_str_eq(cells[2], "cut");
    ck_assert_ptr_nonnull(strstr(r.core, "c3 stays cut off"));
    const struct sim_verdict *lv = &r.verdicts[SIM_CHECK_LIVENESS];
    ck_assert_msg(lv->ok, "%s", lv->first);
    ck_assert_uint_eq(lv->checked, 2);
    ck_assert_uint_eq(lv->exempt, 1);
    ck_assert_msg(r.ok, "%s", r.err);
    sim_run_result_deinit(&r);
    sim_scenario_destroy(sc);
}
END_TEST

START_TEST(liveness_fails_a_core_subscriber_that_gets_nothing)
{
    struct sim_scenario *sc = liveness_cluster("options { test_drop_every: 1 }",
                                               partition_clients);
    const bool want[3] = {true, true, false};
    uint64_t seed = seed_with_core(sc, want);
    struct sim_run_result r;
    struct sim_run_opts o;
    sim_run_opts_default(&o);
    o.seed = seed;
    ck_assert_int_eq(sim_run(sc, &o, &r), 0);
    ck_assert(!r.ok);
    const struct sim_verdict *lv = &r.verdicts[SIM_CHECK_LIVENESS];
    ck_assert(!lv->ok);
    ck_assert_uint_eq(lv->violations, 1);
    ck_assert_msg(strstr(lv->first, "s2 (on x.>, at core server c2)") != NULL, "%s", lv->first);
    sim_run_result_deinit(&r);
    sim_scenario_destroy(sc);
}
END_TEST

/* Liveness runs replay: same seed, same trace; the printed schedule replays too. */
START_TEST(liveness_run_is_deterministic)
{
    struct sim_scenario *sc = load_file("scenarios/cluster_liveness.conf");
    struct sim_run_result a;
    struct sim_run_result b;
    char *ta = run_traced(sc, 5, 0, &a);
    char *tb = run_traced(sc, 5, 0, &b);
    ck_assert_uint_eq(a.trace_hash, b.trace_hash);
    ck_assert_str_eq(ta, tb);
    ck_assert_str_eq(a.timeline, b.timeline);
    ck_assert_str_eq(a.core, b.core);
    ck_assert_msg(a.ok, "%s", a.core);
    g_free(ta);
    g_free(tb);
    sim_run_result_deinit(&a);
    sim_run_result_deinit(&b);
    sim_scenario_destroy(sc);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * JetStream scenarios
 */

static void run_js(const char *path, struct sim_run_result *r)
{
    struct sim_scenario *sc = load_file(path);
    struct sim_run_opts o;
    sim_run_opts_default(&o);
    o.seed = sc->seed;
    ck_assert_int_eq(sim_run(sc, &o, r), 0);
    ck_assert(r->verdict_run[SIM_CHECK_NO_ACKED_LOSS]);
    ck_assert_uint_gt(r->js_acked, 100);
    ck_assert_uint_gt(r->js_read, 100);
    sim_scenario_destroy(sc);
}

/* A power failure with interval sync loses acknowledged messages: judged as if the
 * server synced always, the run must fail no_acked_loss. */
START_TEST(canary_fails_no_acked_loss)
{
    struct sim_run_result r;
    run_js("scenarios/canary_js_interval_loss.conf", &r);
    ck_assert(!r.ok);
    ck_assert(!r.verdicts[SIM_CHECK_NO_ACKED_LOSS].ok);
    ck_assert_uint_gt(r.verdicts[SIM_CHECK_NO_ACKED_LOSS].violations, 10);
    ck_assert_ptr_nonnull(strstr(r.verdicts[SIM_CHECK_NO_ACKED_LOSS].first,
                                 "within the sync interval of a power loss"));
    sim_run_result_deinit(&r);
}
END_TEST

START_TEST(sync_always_loses_no_acked_message_across_crashes)
{
    struct sim_run_result r;
    run_js("scenarios/js_single_sync_always.conf", &r);
    const struct sim_verdict *v = &r.verdicts[SIM_CHECK_NO_ACKED_LOSS];
    ck_assert_msg(r.ok, "%s", v->first);
    ck_assert_ptr_nonnull(strstr(v->first, "no acked message lost"));
    ck_assert_uint_eq(v->checked, r.js_acked);
    sim_run_result_deinit(&r);
}
END_TEST

/* Interval sync passes with its loss bounded, and says how much it lost. */
START_TEST(interval_sync_loss_is_bounded_and_reported)
{
    struct sim_run_result r;
    run_js("scenarios/js_single_interval.conf", &r);
    const struct sim_verdict *v = &r.verdicts[SIM_CHECK_NO_ACKED_LOSS];
    ck_assert_msg(r.ok, "%s", v->first);
    ck_assert_ptr_nonnull(strstr(v->first, "acked lost (bounded by the sync interval"));
    ck_assert_ptr_nonnull(strstr(v->first, "unexplained 0)"));
    ck_assert_uint_lt(r.js_read, r.js_acked); /* the loss is real: fewer read back */
    sim_run_result_deinit(&r);
}
END_TEST

/* Rotted bits are found by the store and reported, never served. */
START_TEST(disk_damage_is_detected_not_served)
{
    struct sim_run_result r;
    run_js("scenarios/js_disk_faults.conf", &r);
    const struct sim_verdict *v = &r.verdicts[SIM_CHECK_NO_ACKED_LOSS];
    ck_assert_msg(r.ok, "%s", v->first);
    ck_assert_uint_gt(r.bit_rots, 0);
    ck_assert_uint_gt(r.js_store_errors, 0);
    sim_run_result_deinit(&r);
}
END_TEST

static Suite *sim_run_suite(void)
{
    Suite *s = suite_create("sim_run");
    TCase *td = tcase_create("determinism");
    tcase_set_timeout(td, 120);
    tcase_add_test(td, same_seed_same_trace_hash);
    tcase_add_test(td, different_seed_different_trace_hash);
    tcase_add_test(td, server_check_frequency_does_not_change_the_run);
    tcase_add_test(td, written_schedule_replays_the_run);
    tcase_add_test(td, random_schedule_of_a_run_follows_the_seed);
    suite_add_tcase(s, td);
    TCase *tv = tcase_create("verdicts");
    tcase_set_timeout(tv, 120);
    tcase_add_test(tv, canary_fails_delivery);
    tcase_add_test(tv, canary_fails_interest_only);
    tcase_add_test(tv, canary_fails_local_delivery);
    tcase_add_test(tv, canary_fails_account_scoping);
    tcase_add_test(tv, canary_fails_no_acked_loss);
    tcase_add_test(tv, sync_always_loses_no_acked_message_across_crashes);
    tcase_add_test(tv, interval_sync_loss_is_bounded_and_reported);
    tcase_add_test(tv, disk_damage_is_detected_not_served);
    tcase_add_test(tv, refused_client_is_reported_and_not_live);
    tcase_add_loop_test(tv, shipped_scenarios_pass, 0,
                        (int)(sizeof(passing) / sizeof(passing[0])));
    suite_add_tcase(s, tv);
    TCase *ta = tcase_create("actions");
    tcase_set_timeout(ta, 60);
    tcase_add_test(ta, each_timeline_action_is_applied_at_its_time);
    tcase_add_test(ta, until_stops_early);
    tcase_add_test(ta, event_budget_stops_the_run);
    suite_add_tcase(s, ta);
    TCase *tl = tcase_create("liveness");
    tcase_set_timeout(tl, 120);
    tcase_add_test(tl, liveness_core_is_a_seeded_majority);
    tcase_add_test(tl, liveness_keeps_faults_outside_the_core);
    tcase_add_test(tl, liveness_exempts_clients_outside_the_core);
    tcase_add_test(tl, liveness_fails_a_core_subscriber_that_gets_nothing);
    tcase_add_test(tl, liveness_run_is_deterministic);
    suite_add_tcase(s, tl);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sim_run_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
