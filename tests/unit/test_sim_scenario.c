/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scenario loader (sim/sim_scenario.h): every key of every block, includes
 * through an in-memory io, every error with its file:line:col and what was expected,
 * the materialised schedule (for: inverses, random {} drawn from the seed, quiesce),
 * and the scenarios shipped in scenarios/ (the suite runs from the source root).
 */
#include <check.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sim/sim_scenario.h"

#define MS (1000ULL * 1000)
#define SEC (1000ULL * MS)

/* ---- an in-memory io --------------------------------------------------------------- */

static const struct {
    const char *path;
    const char *text;
} mem_files[] = {
    {"inc/server.conf", "port: 4222\nmax_payload: 2MB\nserver_name: from_include\n"},
    {"inc/bad.conf", "port: 4222\nmax_paylod: 2MB\n"},
    {"inc/cluster.conf", "port: 4222\ncluster { name: c1, listen: \"0.0.0.0:6222\" }\n"},
};

static int mem_read(void *ctx, const char *path, char **data, size_t *len, char *err,
                    size_t err_len)
{
    (void)ctx; /* the table above is the whole file system */
    const char *p = path;
    while (strncmp(p, "./", 2) == 0) {
        p += 2;
    }
    for (size_t i = 0; i < sizeof(mem_files) / sizeof(mem_files[0]); i++) {
        if (strcmp(mem_files[i].path, p) == 0) {
            *len = strlen(mem_files[i].text);
            *data = malloc(*len + 1);
            memcpy(*data, mem_files[i].text, *len + 1);
            return 0;
        }
    }
    snprintf(err, err_len, "open %s: no such file or directory", path);
    return MR_E_NOT_FOUND;
}

static const struct mr_conf_io mem_io = {NULL, mem_read, NULL};

static struct sim_scenario *load_ok(const char *text)
{
    struct sim_scenario *sc = NULL;
    char err[SIM_SC_ERR_MAX] = "";
    int rc = sim_scenario_load_text("t.conf", text, strlen(text), &mem_io, &sc, err,
                                    sizeof(err));
    ck_assert_msg(rc == 0, "load failed: %s", err);
    ck_assert_ptr_nonnull(sc);
    return sc;
}

static void load_err(const char *text, const char *want)
{
    struct sim_scenario *sc = NULL;
    char err[SIM_SC_ERR_MAX] = "";
    int rc = sim_scenario_load_text("t.conf", text, strlen(text), &mem_io, &sc, err,
                                    sizeof(err));
    ck_assert_msg(rc < 0, "expected an error containing \"%s\" for:\n%s", want, text);
    ck_assert_ptr_null(sc);
    ck_assert_msg(strstr(err, want) != NULL, "error \"%s\" lacks \"%s\"", err, want);
}

#define ONE_SERVER "servers { s1 { config { port: 4222 } } }\n"

/* ---- every key --------------------------------------------------------------------- */

START_TEST(every_key_is_loaded)
{
    const char *text =
        "sim { seed: \"0xABCDEF\", duration: \"30s\", mode: liveness }\n"
        "regions { r1 { latency: [\"0.3ms\", \"2ms\"] }, r2 { latency: \"1ms\" } }\n"
        "links [ { between: [r1, r2], latency: \"35ms\", jitter: \"5ms\", bandwidth: 10MB } ]\n"
        "servers {\n"
        "  a { region: r1, config { port: 4222, max_payload: 1MB } }\n"
        "  b { region: r2, include \"inc/server.conf\" }\n"
        "  c { region: r2, config { port: 4222 }, options { test_drop_every: 100 } }\n"
        "}\n"
        "names { \"r2-front\": [b, c] }\n"
        "clients {\n"
        "  p { at: [a], publish: \"x.y\", rate: 100, size: 64, start: \"1s\", stop: \"20s\" }\n"
        "  s { at: a, subscribe: \"x.>\" }\n"
        "  q { at: [b, c], subscribe: \"x.y\", queue: workers }\n"
        "  rq { at: [a], request: svc, rate: 5 }\n"
        "  rp { at: [a], reply: svc, queue: svcq }\n"
        "}\n"
        "timeline [\n"
        "  { at: \"2s\", do: partition, groups: [[a], [b, c]], for: \"3s\" }\n"
        "  { at: \"1s\", do: crash, targets: [b], for: \"1s\" }\n"
        "  { at: \"6s\", do: latency, targets: [r1, r2], latency: \"300ms\", jitter: \"10ms\" }\n"
        "  { at: \"7s\", do: clock_skew, targets: [c], skew: \"-2s\", for: \"1s\" }\n"
        "  { at: \"8s\", do: region_down, targets: [r2], for: \"2s\" }\n"
        "]\n"
        "random { from: \"3s\", to: \"15s\", every: [\"1s\", \"2s\"], faults: [crash, pause],"
        " targets: [a, c] }\n"
        "quiesce: \"20s\"\n"
        "expect { converge: \"5s\" }\n"
        "check [ delivery, liveness ]\n";
    struct sim_scenario *sc = load_ok(text);
    ck_assert_uint_eq(sc->seed, 0xABCDEF);
    ck_assert(sc->seed_set);
    ck_assert_uint_eq(sc->duration_ns, 30 * SEC);
    ck_assert_int_eq(sc->mode, SIM_SC_MODE_LIVENESS);
    ck_assert_uint_eq(sc->regions_count, 2);
    ck_assert_uint_eq(sc->regions[0].latency_min_ns, 300 * 1000);
    ck_assert_uint_eq(sc->regions[0].latency_max_ns, 2 * MS);
    ck_assert_uint_eq(sc->regions[1].latency_min_ns, 1 * MS);
    ck_assert_uint_eq(sc->links_count, 1);
    ck_assert_uint_eq(sc->links[0].latency_ns, 35 * MS);
    ck_assert_uint_eq(sc->links[0].jitter_ns, 5 * MS);
    ck_assert_uint_eq(sc->links[0].bandwidth_bytes_per_s, 10 * 1024 * 1024);
    ck_assert_uint_eq(sc->servers_count, 3);
    ck_assert_str_eq(sc->servers[0].region, "r1");
    ck_assert_uint_eq(sc->servers[0].config.server.max_payload, 1024 * 1024);
    ck_assert_str_eq(sc->servers[0].config.server.server_name, "a");
    ck_assert_uint_eq(sc->servers[1].config.server.max_payload, 2 * 1024 * 1024);
    ck_assert_str_eq(sc->servers[1].config.server.server_name, "from_include");
    ck_assert_uint_eq(sc->servers[2].config.server.test_drop_every, 100);
    /* The listed name and the derived "<region>-gateway" names. */
    ck_assert_uint_eq(sc->names_count, 3);
    ck_assert_str_eq(sc->names[0].name, "r2-front");
    ck_assert_uint_eq(sc->names[0].servers.count, 2);
    ck_assert_str_eq(sc->names[1].name, "r1-gateway");
    ck_assert_str_eq(sc->names[2].name, "r2-gateway");
    ck_assert_uint_eq(sc->clients_count, 5);
    ck_assert_int_eq(sc->clients[0].kind, SIM_SC_CLIENT_PUBLISH);
    ck_assert_uint_eq(sc->clients[0].rate, 100);
    ck_assert_uint_eq(sc->clients[0].size, 64);
    ck_assert_uint_eq(sc->clients[0].start_ns, 1 * SEC);
    ck_assert_uint_eq(sc->clients[0].stop_ns, 20 * SEC);
    ck_assert_int_eq(sc->clients[1].kind, SIM_SC_CLIENT_SUBSCRIBE);
    ck_assert_uint_eq(sc->clients[1].at.count, 1);
    ck_assert_str_eq(sc->clients[2].queue, "workers");
    ck_assert_uint_eq(sc->clients[2].at.count, 2);
    ck_assert_int_eq(sc->clients[3].kind, SIM_SC_CLIENT_REQUEST);
    ck_assert_int_eq(sc->clients[4].kind, SIM_SC_CLIENT_REPLY);
    ck_assert_str_eq(sc->clients[4].queue, "svcq");
    /* The timeline is sorted by time. */
    ck_assert_uint_eq(sc->events_count, 5);
    ck_assert_int_eq(sc->events[0].action, SIM_ACT_CRASH);
    ck_assert_int_eq(sc->events[1].action, SIM_ACT_PARTITION);
    ck_assert_uint_eq(sc->events[1].groups_count, 2);
    ck_assert_uint_eq(sc->events[1].targets.count, 3);
    ck_assert_uint_eq(sc->events[1].groups[2], 1);
    ck_assert_uint_eq(sc->events[2].latency_ns, 300 * MS);
    ck_assert_uint_eq(sc->events[2].jitter_ns, 10 * MS);
    ck_assert_int_eq(sc->events[3].skew_ns, -2 * (int64_t)SEC);
    ck_assert_int_eq(sc->events[4].action, SIM_ACT_REGION_DOWN);
    ck_assert(sc->random.present);
    ck_assert_uint_eq(sc->random.faults_count, 2);
    ck_assert_uint_eq(sc->random.targets.count, 2);
    ck_assert_uint_eq(sc->random.every_min_ns, 1 * SEC);
    ck_assert_uint_eq(sc->quiesce_ns, 20 * SEC);
    ck_assert_uint_eq(sc->converge_ns, 5 * SEC);
    ck_assert(sc->checks[SIM_CHECK_DELIVERY]);
    ck_assert(sc->checks[SIM_CHECK_LIVENESS]);
    ck_assert(!sc->checks[SIM_CHECK_QUEUE_ONCE]);
    sim_scenario_destroy(sc);
}
END_TEST

START_TEST(defaults_fill_what_is_left_out)
{
    struct sim_scenario *sc = load_ok("servers { s { port: 4222 } }\n");
    ck_assert(!sc->seed_set);
    ck_assert_uint_eq(sc->duration_ns, SIM_SC_DURATION_DEFAULT_NS);
    ck_assert_uint_eq(sc->regions_count, 1);
    ck_assert_str_eq(sc->servers[0].region, "local");
    ck_assert_int_eq(sc->servers[0].config.server.port, 4222);
    /* Every check but interest_only, which needs expect { quiet_links }, and
     * no_acked_loss, which needs a js_read client. */
    for (int k = 0; k < SIM_CHECK_COUNT; k++) {
        ck_assert(sc->checks[k] ==
                  (k != SIM_CHECK_INTEREST_ONLY && k != SIM_CHECK_NO_ACKED_LOSS));
    }
    ck_assert_int_eq(sc->acked_loss, SIM_SC_ACKED_LOSS_NONE);
    ck_assert_uint_eq(sc->converge_ns, SIM_SC_CONVERGE_DEFAULT_NS);
    sim_scenario_destroy(sc);
}
END_TEST

START_TEST(jetstream_clients_and_disk_faults_load)
{
    struct sim_scenario *sc = load_ok(
        "servers { s1 { config { port: 4222, jetstream { store_dir: /d } }\n"
        "  disk { torn_write: \"1/4\", read_corrupt: 5, bit_rot: \"1/1\",\n"
        "         bit_rot_suffix: \".blk\" } } }\n"
        "clients {\n"
        "  p { at: [s1], js_publish: o.n, rate: 50, stream { name: S, subjects: [\"o.>\"],\n"
        "      storage: file, max_bytes: 1MB, allow_direct: true } }\n"
        "  r { at: [s1], js_read: S, start: \"5s\" }\n"
        "}\n"
        "expect { acked_loss: detected }\n");
    ck_assert(sc->servers[0].config.jetstream.enabled);
    ck_assert_uint_eq(sc->servers[0].disk.torn_write.num, 1);
    ck_assert_uint_eq(sc->servers[0].disk.torn_write.den, 4);
    ck_assert_uint_eq(sc->servers[0].disk.read_corrupt.num, 5);
    ck_assert_uint_eq(sc->servers[0].disk.read_corrupt.den, 100);
    ck_assert_str_eq(sc->servers[0].disk.bit_rot_suffix, ".blk");
    ck_assert_int_eq(sc->clients[0].kind, SIM_SC_CLIENT_JS_PUBLISH);
    ck_assert_str_eq(sc->clients[0].stream, "S");
    ck_assert_str_eq(sc->clients[0].stream_json,
                     "{\"name\":\"S\",\"subjects\":[\"o.>\"],\"storage\":\"file\","
                     "\"max_bytes\":1048576,\"allow_direct\":true}");
    ck_assert_int_eq(sc->clients[1].kind, SIM_SC_CLIENT_JS_READ);
    ck_assert_str_eq(sc->clients[1].stream, "S");
    ck_assert_int_eq(sc->acked_loss, SIM_SC_ACKED_LOSS_DETECTED);
    ck_assert(sc->checks[SIM_CHECK_NO_ACKED_LOSS]); /* by default with a reader */
    sim_scenario_destroy(sc);
}
END_TEST

START_TEST(seed_forms)
{
    struct sim_scenario *sc = load_ok("sim { seed: 42 }\n" ONE_SERVER);
    ck_assert_uint_eq(sc->seed, 42);
    sim_scenario_destroy(sc);
    sc = load_ok("sim { seed: \"0xffffffffffffffff\" }\n" ONE_SERVER);
    ck_assert_uint_eq(sc->seed, UINT64_MAX);
    sim_scenario_destroy(sc);
    sc = load_ok("sim { seed: \"123\" }\n" ONE_SERVER);
    ck_assert_uint_eq(sc->seed, 123);
    sim_scenario_destroy(sc);
}
END_TEST

START_TEST(include_blocks_of_features_not_landed_are_accepted)
{
    struct sim_scenario *sc =
        load_ok("servers { s { include \"inc/cluster.conf\" } }\n");
    ck_assert(sc->servers[0].config.cluster.present);
    sim_scenario_destroy(sc);
}
END_TEST

/* ---- every error, with its position ---------------------------------------------------- */

static const struct {
    const char *text;
    const char *want;
} bad[] = {
    {"servers {}\n", "t.conf:1:9: servers: expected at least one server"},
    {"sim { seed: 1 }\n", "t.conf:1:1: scenario: expected servers"},
    {"sim { sed: 1 }\n" ONE_SERVER, "t.conf:1:7: unknown key \"sed\" in sim (expected one of"},
    {"sim { seed: -1 }\n" ONE_SERVER, "t.conf:1:13: seed: expected a non-negative integer"},
    {"sim { seed: \"0xZZ\" }\n" ONE_SERVER, "t.conf:1:13: seed: expected"},
    {"sim { duration: 5 }\n" ONE_SERVER, "t.conf:1:17: sim.duration: expected a duration"},
    {"sim { duration: \"0s\" }\n" ONE_SERVER,
     "t.conf:1:17: sim.duration: expected a duration above 0"},
    {"sim { mode: fast }\n" ONE_SERVER, "t.conf:1:13: sim.mode: expected safety or liveness"},
    {"sim: 3\n" ONE_SERVER, "t.conf:1:6: sim: expected a map"},
    {"regions { r { latency: [\"2ms\"] } }\n" ONE_SERVER,
     "t.conf:1:24: latency: expected a duration or [min, max]"},
    {"regions { r { latency: [\"2ms\", \"1ms\"] } }\n" ONE_SERVER,
     "t.conf:1:24: latency: expected min <= max"},
    {"regions { r { latncy: \"1ms\" } }\n" ONE_SERVER, "t.conf:1:15: unknown key \"latncy\""},
    {"regions { r {} }\nlinks [ { between: [r, q] } ]\n" ONE_SERVER,
     "t.conf:2:20: unknown region \"q\""},
    {"regions { r {}, q {} }\nlinks [ { between: [r] } ]\n" ONE_SERVER,
     "t.conf:2:20: between: expected two regions"},
    {"regions { r {}, q {} }\nlinks [ { latency: \"1ms\" } ]\n" ONE_SERVER,
     "t.conf:2:9: link: expected between"},
    {"regions { r {}, q {} }\nlinks [ { between: [r, q], bandwidth: \"fast\" } ]\n" ONE_SERVER,
     "t.conf:2:39: bandwidth (bytes per second): expected an integer"},
    {"regions { r {}, q {} }\n"
     "links [ { between: [r, q] }, { between: [q, r] } ]\n" ONE_SERVER,
     "t.conf:2:30: link: duplicate link between q and r"},
    {"regions { r {}, q {} }\nservers { s { port: 4222 } }\n",
     "t.conf:2:13: server \"s\": expected region: NAME"},
    {"servers { s { region: nowhere, port: 4222 } }\n", "t.conf:1:23: unknown region \"nowhere\""},
    {"servers { s { config { port: 4222 }, extra: 1 } }\n",
     "t.conf:1:38: unknown key \"extra\" in server"},
    {"servers { s { config { prt: 4222 } } }\n", "t.conf:1:24: unknown field \"prt\""},
    {"servers { s { include \"inc/bad.conf\" } }\n", "inc/bad.conf:2:1: unknown field"},
    {"servers { s { include \"inc/missing.conf\" } }\n", "missing.conf"},
    {"servers { s { options { test_drop_every: -1 } } }\n",
     "t.conf:1:42: test_drop_every: expected an integer"},
    {"servers { s { options { drop: 1 } } }\n", "t.conf:1:25: unknown key \"drop\" in options"},
    {ONE_SERVER "names { n: [nobody] }\n", "t.conf:2:12: unknown server \"nobody\""},
    {ONE_SERVER "names { s1: [s1] }\n", "t.conf:2:9: names: \"s1\" is already a server"},
    {ONE_SERVER "clients { c { publish: x } }\n", "t.conf:2:13: client \"c\": expected at"},
    {ONE_SERVER "clients { \"a b\" { at: s1, publish: x } }\n",
     "t.conf:2:11: clients: expected a client name of 1 to 63 letters"},
    {"servers { \"s*\" { port: 4222 } }\n", "t.conf:1:11: servers: expected a server name"},
    {ONE_SERVER "clients { c { at: [s1, s1, s1, s1, s1, s1, s1, s1, s1, s1, s1, s1, s1, s1, s1,"
                " s1, s1], publish: x } }\n",
     "t.conf:2:19: at: expected 1 to 16 servers"},
    {ONE_SERVER "clients { c { at: s1, publish: \"a b\" } }\n",
     "t.conf:2:32: publish: expected a subject of 1 to 255 bytes"},
    {ONE_SERVER "clients { c { at: [s9], publish: x } }\n", "t.conf:2:19: unknown server \"s9\""},
    {ONE_SERVER "clients { c { at: [s1] } }\n",
     "t.conf:2:13: client \"c\": expected one of publish, subscribe"},
    {ONE_SERVER "clients { c { at: [s1], publish: x, subscribe: y } }\n",
     "t.conf:2:48: client \"c\": expected only one of"},
    {ONE_SERVER "clients { c { at: [s1], publish: x, queue: q } }\n",
     "t.conf:2:44: queue: expected only with subscribe or reply"},
    {ONE_SERVER "clients { c { at: [s1], publish: x, rate: 0 } }\n",
     "t.conf:2:43: rate (messages per second): expected an integer from 1"},
    {ONE_SERVER "clients { c { at: [s1], publish: x, start: \"5s\", stop: \"1s\" } }\n",
     "stop: expected a time after start"},
    {ONE_SERVER "clients { c { at: [s1], publish: x, speed: 1 } }\n",
     "t.conf:2:37: unknown key \"speed\" in client"},
    {ONE_SERVER "timeline [ { do: crash, targets: [s1] } ]\n",
     "t.conf:2:12: timeline entry: expected at: TIME"},
    {ONE_SERVER "timeline [ { at: \"1s\", targets: [s1] } ]\n",
     "t.conf:2:12: timeline entry: expected do: ACTION"},
    {ONE_SERVER "timeline [ { at: \"1s\", do: explode } ]\n",
     "t.conf:2:28: do: expected partition, isolate, heal"},
    {ONE_SERVER "timeline [ { at: \"99s\", do: heal_all } ]\n",
     "t.conf:2:18: at: expected a time before the duration"},
    {ONE_SERVER "timeline [ { at: \"1s\", do: crash } ]\n",
     "t.conf:2:12: crash: expected targets: [SERVER, ...]"},
    {ONE_SERVER "timeline [ { at: \"1s\", do: crash, targets: [s2] } ]\n",
     "t.conf:2:44: unknown server \"s2\""},
    {ONE_SERVER "timeline [ { at: \"1s\", do: region_down, targets: [s1] } ]\n",
     "unknown region \"s1\""},
    {ONE_SERVER "timeline [ { at: \"1s\", do: heal_all, targets: [s1] } ]\n",
     "heal_all: expected no targets"},
    {ONE_SERVER "timeline [ { at: \"1s\", do: restart, targets: [s1], for: \"1s\" } ]\n",
     "for: not expected with do: restart"},
    {ONE_SERVER "timeline [ { at: \"1s\", do: crash, groups: [[s1], [s1]] } ]\n",
     "groups: expected only with do: partition"},
    {"servers { a { port: 4222 }, b { port: 4222 } }\n"
     "timeline [ { at: \"1s\", do: partition, groups: [[a], [a]] } ]\n",
     "t.conf:2:54: groups: server \"a\" appears twice"},
    {ONE_SERVER "timeline [ { at: \"1s\", do: partition, groups: [[s1]] } ]\n",
     "groups: expected [[SERVER, ...], [SERVER, ...], ...]"},
    {ONE_SERVER "timeline [ { at: \"1s\", do: latency, targets: [local] } ]\n",
     "latency: expected latency: DURATION"},
    {ONE_SERVER "timeline [ { at: \"1s\", do: clock_skew, targets: [s1] } ]\n",
     "clock_skew: expected skew: DURATION"},
    {ONE_SERVER "timeline [ { at: \"1s\", do: crash, targets: [s1], skew: \"1s\" } ]\n",
     "skew: expected only with do: clock_skew"},
    {ONE_SERVER "timeline [ { at: \"1s\", do: crash, targets: [s1], when: 1 } ]\n",
     "unknown key \"when\" in timeline entry"},
    {ONE_SERVER "random { faults: [meteor] }\n", "t.conf:2:19: faults: expected partition"},
    {ONE_SERVER "random { every: \"1s\" }\n", "t.conf:2:8: random: expected faults"},
    {ONE_SERVER "random { from: \"9s\", to: \"2s\", faults: [crash] }\n",
     "random: expected from before to"},
    {ONE_SERVER "quiesce: \"2m\"\n", "t.conf:2:10: quiesce: expected a time after 0 and before"},
    {ONE_SERVER "expect { converge: 10 }\n", "t.conf:2:20: converge: expected a duration"},
    {ONE_SERVER "expect { conv: \"1s\" }\n", "unknown key \"conv\" in expect"},
    {ONE_SERVER "check [ delivery, magic ]\n", "t.conf:2:19: check: expected no_duplicates"},
    {ONE_SERVER "nemesis {}\n", "t.conf:2:1: unknown key \"nemesis\" in scenario"},
    {"servers { s { port: 4222 } \n", "t.conf:"},
    {ONE_SERVER "clients { c { at: [s1], subscribe: x, nkey: UABC } }\n",
     "t.conf:2:45: client \"c\": nkey is not supported by simulated clients (expected user "
     "and password, or token)"},
    {ONE_SERVER "clients { c { at: [s1], subscribe: x, creds: \"a.creds\" } }\n",
     "client \"c\": creds is not supported by simulated clients"},
    {ONE_SERVER "clients { c { at: [s1], subscribe: x, token: t, user: u } }\n",
     "t.conf:2:13: client \"c\": expected token, or user and password, not both"},
    {ONE_SERVER "clients { c { at: [s1], subscribe: x, password: p } }\n",
     "client \"c\": password without user"},
    {ONE_SERVER "clients { c { at: [s1], subscribe: x, user: \"\" } }\n",
     "t.conf:2:45: user: expected a string of 1 to 255 bytes"},
    {ONE_SERVER "clients { c { at: [s1], subscribe: x, account: A } }\n",
     "t.conf:2:13: client \"c\": declared account A, but server s1 binds it to $G"},
    {"servers { a { port: 4222, accounts { A { users: [ { user: u, password: p } ] } } }\n"
     "  b { port: 4222, accounts { B { users: [ { user: u, password: p } ] } } } }\n"
     "clients { c { at: [a, b], user: u, password: p, subscribe: x } }\n",
     "t.conf:3:13: client \"c\": servers a and b bind it to different accounts (A and B)"},
    {ONE_SERVER "expect { account_crossings: [ { from: A, to: B } ] }\n",
     "t.conf:2:31: account_crossings: no server imports from account A into B"},
    {ONE_SERVER "expect { account_crossings: [ { from: A } ] }\n",
     "account_crossings: expected { from: ACCOUNT, to: ACCOUNT }"},
    {ONE_SERVER "clients { c { at: [s1], js_publish: o, stream { subjects: [o] } } }\n",
     "t.conf:2:47: stream: expected name: a stream name"},
    {ONE_SERVER "clients { c { at: [s1], subscribe: o, stream { name: S } } }\n",
     "t.conf:2:46: stream: expected only with js_publish"},
    {ONE_SERVER "clients { c { at: [s1], js_read: \"A.B\" } }\n",
     "t.conf:2:34: js_read: expected a stream name"},
    {ONE_SERVER "clients { c { at: [s1], js_read: S, publish: o } }\n",
     "client \"c\": expected only one of publish, subscribe, request, reply, js_publish, "
     "js_read"},
    {ONE_SERVER "expect { acked_loss: some }\n",
     "t.conf:2:22: acked_loss: expected none, bounded or detected"},
    {ONE_SERVER "check [ no_acked_loss ]\n", "no_acked_loss needs a js_read client"},
    {"servers { s1 { config { port: 4222 }, disk { torn_write: \"3/2\" } } }\n",
     "t.conf:1:58: torn_write: expected a probability"},
    {"servers { s1 { config { port: 4222 }, disk { bit_rot: 101 } } }\n",
     "bit_rot: expected a probability"},
    {"servers { s1 { config { port: 4222 }, disk { rot: 1 } } }\n",
     "t.conf:1:46: unknown key \"rot\" in disk"},
};

START_TEST(every_error_names_its_position)
{
    load_err(bad[_i].text, bad[_i].want);
}
END_TEST

/* ---- client credentials and accounts -------------------------------------------------- */

static const struct sim_sc_client *client_named(const struct sim_scenario *sc, const char *name)
{
    for (size_t i = 0; i < sc->clients_count; i++) {
        if (strcmp(sc->clients[i].name, name) == 0) {
            return &sc->clients[i];
        }
    }
    ck_abort_msg("no client %s", name);
    return NULL;
}

START_TEST(client_credentials_and_accounts_are_resolved)
{
    struct sim_scenario *sc = load_ok(
        "names { front: [hub] }\n"
        "servers {\n"
        "  hub { port: 4222, accounts { A { users: [ { user: a, password: pa } ] }\n"
        "                               B { users: [ { user: b, password: pb } ] } }\n"
        "        no_auth_user: b, leafnodes { port: 7422 } }\n"
        "  edge { port: 4222, leafnodes { remotes: [ { url: \"nats://a:pa@front:7422\" } ] } }\n"
        "  lone { port: 4222, authorization { token: secret } }\n"
        "}\n"
        "clients {\n"
        "  a1 { at: [hub], user: a, password: pa, account: A, subscribe: x }\n"
        "  b1 { at: [hub], user: b, password: pb, publish: x }\n"
        "  anon { at: [hub], subscribe: x }\n"
        "  e1 { at: [edge], subscribe: x }\n"
        "  wrong { at: [hub], user: a, password: nope, subscribe: x }\n"
        "  t1 { at: [lone], token: secret, subscribe: x }\n"
        "}\n");
    const struct sim_sc_client *a1 = client_named(sc, "a1");
    ck_assert_str_eq(a1->user, "a");
    ck_assert_str_eq(a1->password, "pa");
    ck_assert_str_eq(a1->account_declared, "A");
    ck_assert_str_eq(a1->account, "A");
    ck_assert_str_eq(client_named(sc, "b1")->account, "B");
    /* no_auth_user binds a client without credentials. */
    ck_assert_str_eq(client_named(sc, "anon")->account, "B");
    /* The edge's $G is bound to the hub's A by its remote's URL, through names {}. */
    ck_assert_str_eq(client_named(sc, "e1")->account, "A");
    ck_assert_ptr_null(client_named(sc, "wrong")->account);
    /* lone's $G is not the hub's (nothing joins them): named apart. */
    ck_assert_str_eq(client_named(sc, "t1")->account, "$G");
    ck_assert_str_eq(client_named(sc, "t1")->token, "secret");
    ck_assert_uint_eq(sc->warnings.count, 1);
    ck_assert_msg(strstr(sc->warnings.items[0], "client \"wrong\": server hub refuses its "
                                                "credentials") != NULL,
                  "%s", sc->warnings.items[0]);
    ck_assert(sc->checks[SIM_CHECK_LOCAL_DELIVERY]);
    ck_assert(sc->checks[SIM_CHECK_ACCOUNT_SCOPING]);
    sim_scenario_destroy(sc);
}
END_TEST

START_TEST(mission_leafnode_configs_run_unchanged)
{
    struct sim_scenario *sc = NULL;
    char err[SIM_SC_ERR_MAX] = "";
    int rc = sim_scenario_load_file("scenarios/mission_leafnode.conf", sim_scenario_file_io(),
                                    &sc, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(sc->servers_count, 2);
    const struct mr_config *leaf = &sc->servers[1].config;
    ck_assert_uint_eq(leaf->leafnodes.remotes_count, 1);
    ck_assert_str_eq(leaf->leafnodes.remotes[0].urls.items[0], "nats://leaf:leaf@0.0.0.0:7422");
    ck_assert_str_eq(sc->names[0].name, "0.0.0.0");
    ck_assert_str_eq(client_named(sc, "leaf-pub")->account, "LEAF");
    ck_assert_str_eq(client_named(sc, "hub-sees")->account, "LEAF");
    /* The link binds only LEAF: each server's SYS is its own. */
    ck_assert_str_eq(client_named(sc, "sys-hub")->account, "SYS@hub");
    ck_assert_str_eq(client_named(sc, "sys-leaf")->account, "SYS@leaf");
    ck_assert_ptr_null(client_named(sc, "intruder")->account);
    sim_scenario_destroy(sc);
}
END_TEST

/* ---- materialising ------------------------------------------------------------------ */

static char *schedule_text(const struct sim_scenario *sc, uint64_t seed)
{
    struct sim_sc_schedule s;
    ck_assert_int_eq(sim_scenario_materialise(sc, seed, &s), 0);
    GString *out = g_string_new(NULL);
    for (size_t i = 0; i < s.count; i++) {
        char line[2048];
        sim_sc_event_format(&s.events[i], line, sizeof(line));
        g_string_append_printf(out, "%s\n", line);
        if (i > 0) {
            ck_assert_uint_le(s.events[i - 1].at_ns, s.events[i].at_ns);
        }
    }
    sim_sc_schedule_free(&s);
    return g_string_free(out, FALSE);
}

START_TEST(for_schedules_the_inverse)
{
    struct sim_scenario *sc = load_ok(
        "regions { r {} }\n"
        "servers { a { port: 4222 }, b { port: 4222 } }\n"
        "timeline [\n"
        "  { at: \"1s\", do: crash, targets: [a], for: \"2s\" }\n"
        "  { at: \"2s\", do: pause, targets: [b], for: \"500ms\" }\n"
        "  { at: \"4s\", do: partition, targets: [a], for: \"1s\" }\n"
        "  { at: \"6s\", do: latency, targets: [r], latency: \"9ms\", for: \"1s\" }\n"
        "  { at: \"8s\", do: region_down, targets: [r], for: \"1s\" }\n"
        "]\n"
        "quiesce: \"20s\"\n");
    char *text = schedule_text(sc, 1);
    const char *want = "{ at: \"1s\", do: crash, targets: [a], for: \"2s\" }\n"
                       "{ at: \"2s\", do: pause, targets: [b], for: \"500ms\" }\n"
                       "{ at: \"2500ms\", do: resume, targets: [b] }\n"
                       "{ at: \"3s\", do: restart, targets: [a] }\n"
                       "{ at: \"4s\", do: partition, targets: [a], for: \"1s\" }\n"
                       "{ at: \"5s\", do: heal, targets: [a] }\n"
                       "{ at: \"6s\", do: latency, targets: [r], for: \"1s\", latency: \"9ms\", "
                       "jitter: \"0s\" }\n"
                       "{ at: \"7s\", do: latency, targets: [r], latency: \"0s\", "
                       "jitter: \"0s\" }\n"
                       "{ at: \"8s\", do: region_down, targets: [r], for: \"1s\" }\n"
                       "{ at: \"9s\", do: region_up, targets: [r] }\n"
                       "{ at: \"20s\", do: quiesce }\n";
    ck_assert_str_eq(text, want);
    g_free(text);
    sim_scenario_destroy(sc);
}
END_TEST

START_TEST(random_schedule_is_reproducible_from_the_seed)
{
    struct sim_scenario *sc = load_ok(
        "sim { duration: \"100s\" }\n"
        "servers { a { port: 4222 }, b { port: 4222 }, c { port: 4222 } }\n"
        "random { from: \"10s\", to: \"80s\", every: [\"2s\", \"5s\"],"
        " faults: [partition, isolate, crash, pause, reset] }\n"
        "quiesce: \"60s\"\n");
    char *a1 = schedule_text(sc, 5);
    char *a2 = schedule_text(sc, 5);
    char *b = schedule_text(sc, 6);
    ck_assert_str_eq(a1, a2);
    ck_assert_str_ne(a1, b);
    ck_assert_ptr_nonnull(strstr(a1, "{ at: \"60s\", do: quiesce }"));
    g_free(a1);
    g_free(a2);
    g_free(b);
    /* Every generated fault starts at or after from and ends by quiesce. */
    struct sim_sc_schedule s;
    sim_scenario_materialise(sc, 99, &s);
    ck_assert_uint_gt(s.count, 10);
    for (size_t i = 0; i < s.count; i++) {
        ck_assert(s.events[i].generated);
        ck_assert_uint_ge(s.events[i].at_ns, 10 * SEC);
        ck_assert_uint_le(s.events[i].at_ns + s.events[i].for_ns, 60 * SEC);
    }
    sim_sc_schedule_free(&s);
    sim_scenario_destroy(sc);
}
END_TEST

START_TEST(durations_format_and_reparse)
{
    char buf[32];
    sim_sc_duration_format(0, buf, sizeof(buf));
    ck_assert_str_eq(buf, "0s");
    sim_sc_duration_format(1500 * MS, buf, sizeof(buf));
    ck_assert_str_eq(buf, "1500ms");
    sim_sc_duration_format(3 * SEC, buf, sizeof(buf));
    ck_assert_str_eq(buf, "3s");
    sim_sc_duration_format(1234, buf, sizeof(buf));
    ck_assert_str_eq(buf, "1234ns");
}
END_TEST

/* ---- the shipped scenarios ----------------------------------------------------------- */

static const char *const shipped[] = {
    "scenarios/default.conf",        "scenarios/single_server_faults.conf",
    "scenarios/canary_drop.conf",    "scenarios/mission_supercluster.conf",
    "scenarios/nemesis.conf",        "scenarios/cluster_3node.conf",
    "scenarios/cluster_crash.conf",  "scenarios/cluster_partition.conf",
    "scenarios/cluster_slow_link.conf", "scenarios/cluster_liveness.conf",
    "scenarios/supercluster_region_loss.conf", "scenarios/supercluster_partition.conf",
    "scenarios/supercluster_interest_only.conf", "scenarios/canary_interest_only.conf",
    "scenarios/leaf_hub_outage.conf", "scenarios/leaf_chain.conf",
    "scenarios/leaf_flapping.conf", "scenarios/leaf_clusters.conf",
    "scenarios/mission_leafnode.conf", "scenarios/leaf_accounts.conf",
    "scenarios/canary_local_delivery.conf", "scenarios/canary_account_scoping.conf",
};

START_TEST(shipped_scenarios_load)
{
    struct sim_scenario *sc = NULL;
    char err[SIM_SC_ERR_MAX] = "";
    int rc = sim_scenario_load_file(shipped[_i], sim_scenario_file_io(), &sc, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s: %s", shipped[_i], err);
    ck_assert_uint_gt(sc->servers_count, 0);
    sim_scenario_destroy(sc);
}
END_TEST

START_TEST(mission_configs_run_unchanged_with_gateway_names)
{
    struct sim_scenario *sc = NULL;
    char err[SIM_SC_ERR_MAX] = "";
    int rc = sim_scenario_load_file("scenarios/mission_supercluster.conf",
                                    sim_scenario_file_io(), &sc, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(sc->servers_count, 9);
    ck_assert_uint_eq(sc->names_count, 3);
    ck_assert_str_eq(sc->names[0].name, "region1-gateway");
    ck_assert_uint_eq(sc->names[0].servers.count, 3);
    for (size_t i = 0; i < sc->servers_count; i++) {
        ck_assert_int_eq(sc->servers[i].config.server.port, 4222);
        ck_assert(sc->servers[i].config.cluster.present);
        ck_assert(sc->servers[i].config.gateway.present);
        ck_assert(sc->servers[i].config.jetstream.present);
    }
    sim_scenario_destroy(sc);
}
END_TEST

START_TEST(missing_file_is_an_error)
{
    struct sim_scenario *sc = NULL;
    char err[SIM_SC_ERR_MAX] = "";
    int rc = sim_scenario_load_file("scenarios/does-not-exist.conf", sim_scenario_file_io(),
                                    &sc, err, sizeof(err));
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_null(sc);
    ck_assert_ptr_nonnull(strstr(err, "does-not-exist.conf"));
}
END_TEST

static Suite *sim_scenario_suite(void)
{
    Suite *s = suite_create("sim_scenario");
    TCase *tc = tcase_create("load");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, every_key_is_loaded);
    tcase_add_test(tc, defaults_fill_what_is_left_out);
    tcase_add_test(tc, seed_forms);
    tcase_add_test(tc, jetstream_clients_and_disk_faults_load);
    tcase_add_test(tc, include_blocks_of_features_not_landed_are_accepted);
    tcase_add_loop_test(tc, every_error_names_its_position, 0, (int)(sizeof(bad) / sizeof(bad[0])));
    suite_add_tcase(s, tc);
    TCase *tm = tcase_create("materialise");
    tcase_set_timeout(tm, 30);
    tcase_add_test(tm, for_schedules_the_inverse);
    tcase_add_test(tm, random_schedule_is_reproducible_from_the_seed);
    tcase_add_test(tm, durations_format_and_reparse);
    suite_add_tcase(s, tm);
    TCase *tf = tcase_create("files");
    tcase_set_timeout(tf, 30);
    tcase_add_loop_test(tf, shipped_scenarios_load, 0, (int)(sizeof(shipped) / sizeof(shipped[0])));
    tcase_add_test(tf, mission_configs_run_unchanged_with_gateway_names);
    tcase_add_test(tf, missing_file_is_an_error);
    tcase_add_test(tf, mission_leafnode_configs_run_unchanged);
    tcase_add_test(tc, client_credentials_and_accounts_are_resolved);
    suite_add_tcase(s, tf);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sim_scenario_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
