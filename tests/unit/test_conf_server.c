/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for core/conf/conf_server.c: every top-level key with its aliases and
 * defaults, authorization and permissions, accounts with exports and imports, the
 * blocks of later features (cluster, gateway, leafnodes, jetstream, websocket), each
 * error with its position and nats-server's wording, warnings and their kinds, the
 * mission's example configs (tests/conf/mission), and command line flags over a file.
 *
 * Every config is parsed with core/conf/conf.c and the tree is freed before the config
 * is inspected, which also checks that nothing in the config points into the tree.
 * Files are found next to this source file (__FILE__), as meson runs tests from the
 * build directory.
 */
#include <check.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf/conf.h"
#include "core/conf/conf_server.h"
#include "core/err.h"
#include "core/limits.h"

#define NS 1000000000ULL

/* ---------------------------------------------------------------------------------
 * Helpers
 * --------------------------------------------------------------------------------- */

struct warns {
    int count;
    int compat;
    GString *all; /* every warning, one per line */
};

static void on_warn(void *ctx, enum mr_conf_warn_kind kind, const char *msg)
{
    struct warns *w = ctx;
    w->count++;
    w->compat += kind == MR_CONF_WARN_COMPAT;
    g_string_append_printf(w->all, "%s\n", msg);
}

static void warns_init(struct warns *w)
{
    memset(w, 0, sizeof(*w));
    w->all = g_string_new(NULL);
}

static void warns_deinit(struct warns *w)
{
    g_string_free(w->all, TRUE);
}

static const char *env_value(void *ctx, const char *name)
{
    (void)ctx;
    if (strcmp(name, "MR_TEST_PORT") == 0) {
        return "4777";
    }
    if (strcmp(name, "MR_TEST_TOKEN") == 0) {
        return "s3cr3t";
    }
    return NULL;
}

static int read_real_file(void *ctx, const char *path, char **data, size_t *len, char *err,
                          size_t err_len)
{
    (void)ctx;
    gchar *contents = NULL;
    gsize n = 0;
    GError *error = NULL;
    if (!g_file_get_contents(path, &contents, &n, &error)) {
        snprintf(err, err_len, "%s", error->message);
        g_error_free(error);
        return MR_E_NOT_FOUND;
    }
    *data = malloc(n + 1);
    memcpy(*data, contents, n + 1);
    *len = n;
    g_free(contents);
    return 0;
}

static const struct mr_conf_io test_io = {NULL, read_real_file, env_value};

/* Parses text as file "t.conf" and loads it; the tree is freed before returning. */
static int load(const char *text, struct mr_config *c, struct warns *w, char *err)
{
    struct mr_conf_value *root = NULL;
    char perr[MR_CONF_ERR_MAX] = "";
    int rc = mr_conf_parse("t.conf", text, strlen(text), &test_io, &root, perr, sizeof(perr));
    ck_assert_msg(rc == 0, "parse of <<%s>> failed: %s", text, perr);
    rc = mr_conf_server_load(root, c, on_warn, w, err, MR_CONF_MSG_MAX);
    mr_conf_free(root);
    return rc;
}

/* Loads text that must load; returns the warnings in w (caller deinits both). */
static void load_ok(const char *text, struct mr_config *c, struct warns *w)
{
    char err[MR_CONF_MSG_MAX] = "";
    warns_init(w);
    int rc = load(text, c, w, err);
    ck_assert_msg(rc == 0, "<<%s>> failed to load: %s", text, err);
    ck_assert_ptr_eq(c->server.auth, c->auth);
}

static void done(struct mr_config *c, struct warns *w)
{
    mr_conf_server_deinit(c);
    warns_deinit(w);
}

/* The directory of tests/conf, from this file's path (relative to the build dir). */
static char *conf_dir(void)
{
    char *dir = g_path_get_dirname(__FILE__);
    char *path = g_build_filename(dir, "..", "conf", NULL);
    g_free(dir);
    return path;
}

static int load_file(const char *rel, struct mr_config *c, struct warns *w, char *err)
{
    char *dir = conf_dir();
    char *path = g_build_filename(dir, rel, NULL);
    struct mr_conf_value *root = NULL;
    int rc = mr_conf_parse_file(path, &test_io, &root, err, MR_CONF_MSG_MAX);
    ck_assert_msg(rc == 0, "parse of %s failed: %s", path, err);
    rc = mr_conf_server_load(root, c, on_warn, w, err, MR_CONF_MSG_MAX);
    mr_conf_free(root);
    g_free(path);
    g_free(dir);
    return rc;
}

/* ---------------------------------------------------------------------------------
 * Top level
 * --------------------------------------------------------------------------------- */

START_TEST(empty_config_has_nats_server_defaults)
{
    struct mr_config c;
    struct warns w;
    load_ok("", &c, &w);
    ck_assert_str_eq(c.server.host, "0.0.0.0");
    ck_assert_int_eq(c.server.port, 4222);
    ck_assert_uint_eq(c.server.max_payload, 1024 * 1024);
    ck_assert_int_eq(c.server.max_pending, 64 * 1024 * 1024);
    ck_assert_uint_eq(c.server.max_control_line, 4096);
    ck_assert_uint_eq(c.server.max_connections, 64 * 1024);
    ck_assert_uint_eq(c.server.max_subs, 0);
    ck_assert_uint_eq(c.server.ping_interval_ns, 120 * NS);
    ck_assert_uint_eq(c.server.ping_max, 2);
    ck_assert_uint_eq(c.server.write_deadline_ns, 10 * NS);
    ck_assert_uint_eq(c.server.auth_timeout_ns, 2 * NS);
    ck_assert_int_eq(c.server.http_port, 0);
    ck_assert(!c.server.tls.enabled);
    ck_assert(c.logtime);
    ck_assert_ptr_null(c.auth);
    ck_assert_ptr_null(c.log_file);
    ck_assert(!c.cluster.present && !c.gateway.present && !c.leafnodes.present);
    ck_assert(!c.jetstream.present && !c.websocket.present);
    ck_assert_int_eq(c.cluster.pool_size, 3);
    ck_assert_int_eq(c.cluster.compression.mode, MR_COMPRESSION_ACCEPT);
    ck_assert_int_eq(c.leafnodes.compression.mode, MR_COMPRESSION_S2_AUTO);
    ck_assert_uint_eq(c.leafnodes.compression.rtt_count, 3);
    ck_assert_uint_eq(c.leafnodes.reconnect_ns, 1 * NS);
    ck_assert_uint_eq(c.websocket.handshake_timeout_ns, 2 * NS);
    ck_assert_int_eq(c.jetstream.max_memory_store, -1);
    ck_assert(c.jetstream.strict);
    ck_assert_uint_eq(c.lame_duck_duration_ns, 120 * NS);
    ck_assert_int_eq(w.count, 0);
    done(&c, &w);
}
END_TEST

START_TEST(listen_host_and_port_forms)
{
    struct mr_config c;
    struct warns w;
    load_ok("listen: 127.0.0.1:4333", &c, &w);
    ck_assert_str_eq(c.server.host, "127.0.0.1");
    ck_assert_int_eq(c.server.port, 4333);
    done(&c, &w);
    load_ok("listen: 4334", &c, &w);
    ck_assert_str_eq(c.server.host, "0.0.0.0");
    ck_assert_int_eq(c.server.port, 4334);
    done(&c, &w);
    load_ok("listen: \"[::1]:4335\"", &c, &w);
    ck_assert_str_eq(c.server.host, "::1");
    ck_assert_int_eq(c.server.port, 4335);
    done(&c, &w);
    load_ok("host: 10.0.0.1\nport: -1", &c, &w);
    ck_assert_str_eq(c.server.host, "10.0.0.1");
    ck_assert_int_eq(c.server.port, -1);
    done(&c, &w);
    load_ok("net: 10.0.0.2\nPORT = 4336", &c, &w);
    ck_assert_str_eq(c.server.host, "10.0.0.2");
    ck_assert_int_eq(c.server.port, 4336);
    done(&c, &w);
}
END_TEST

START_TEST(limits_and_aliases)
{
    struct mr_config c;
    struct warns w;
    load_ok("max_payload: 2MB\nmax_pending: 10MB\nmax_control_line: 8KB\n"
            "max_connections: 100\nmax_subscriptions: 10",
            &c, &w);
    ck_assert_uint_eq(c.server.max_payload, 2 * 1024 * 1024);
    ck_assert_int_eq(c.server.max_pending, 10 * 1024 * 1024);
    ck_assert_uint_eq(c.server.max_control_line, 8192);
    ck_assert_uint_eq(c.server.max_connections, 100);
    ck_assert_uint_eq(c.server.max_subs, 10);
    done(&c, &w);
    load_ok("max_conn: 50\nmax_subs: 20", &c, &w);
    ck_assert_uint_eq(c.server.max_connections, 50);
    ck_assert_uint_eq(c.server.max_subs, 20);
    done(&c, &w);
    /* nats-server: max_connections 0 means unlimited, here the build's maximum. */
    load_ok("max_connections: 0\nmax_payload: 0", &c, &w);
    ck_assert_uint_eq(c.server.max_connections, MR_CONNECTIONS_MAX);
    ck_assert_uint_eq(c.server.max_payload, MR_PAYLOAD_DEFAULT);
    done(&c, &w);
    load_ok("max_sub_tokens: 10", &c, &w);
    ck_assert_int_eq(w.count, 1);
    ck_assert_int_eq(w.compat, 0);
    done(&c, &w);
}
END_TEST

START_TEST(times_logging_and_files)
{
    struct mr_config c;
    struct warns w;
    load_ok("ping_interval: \"5s\"\nping_max: 3\nwrite_deadline: \"1m30s\"\ndebug: true\n"
            "trace: yes\nlogtime: false\nlog_file: /tmp/m.log\npid_file: /tmp/m.pid\n"
            "server_name: s1",
            &c, &w);
    ck_assert_uint_eq(c.server.ping_interval_ns, 5 * NS);
    ck_assert_uint_eq(c.server.ping_max, 3);
    ck_assert_uint_eq(c.server.write_deadline_ns, 90 * NS);
    ck_assert(c.server.debug);
    ck_assert(c.server.trace);
    ck_assert(!c.logtime);
    ck_assert_str_eq(c.log_file, "/tmp/m.log");
    ck_assert_str_eq(c.pid_file, "/tmp/m.pid");
    ck_assert_str_eq(c.server.server_name, "s1");
    ck_assert_int_eq(w.count, 0);
    done(&c, &w);
    load_ok("logfile: a.log\npidfile: a.pid\ntrace_verbose: true", &c, &w);
    ck_assert_str_eq(c.log_file, "a.log");
    ck_assert_str_eq(c.pid_file, "a.pid");
    ck_assert(c.server.trace);
    done(&c, &w);
}
END_TEST

START_TEST(legacy_integer_durations_warn_with_position)
{
    struct mr_config c;
    struct warns w;
    load_ok("ping_interval: 5\nwrite_deadline: 3", &c, &w);
    ck_assert_uint_eq(c.server.ping_interval_ns, 5 * NS);
    ck_assert_uint_eq(c.server.write_deadline_ns, 3 * NS);
    ck_assert_int_eq(w.count, 2);
    ck_assert_int_eq(w.compat, 2);
    ck_assert_str_eq(w.all->str, "t.conf:1:16: invalid use of field \"ping_interval\": "
                                 "ping_interval should be converted to a duration\n"
                                 "t.conf:2:17: invalid use of field \"write_deadline\": "
                                 "write_deadline should be converted to a duration\n");
    done(&c, &w);
}
END_TEST

START_TEST(monitoring_port_forms)
{
    struct mr_config c;
    struct warns w;
    load_ok("http: 127.0.0.1:8222", &c, &w);
    ck_assert_str_eq(c.server.http_host, "127.0.0.1");
    ck_assert_int_eq(c.server.http_port, 8222);
    done(&c, &w);
    load_ok("http: 8223", &c, &w);
    ck_assert_int_eq(c.server.http_port, 8223);
    done(&c, &w);
    load_ok("http_port: 8224", &c, &w);
    ck_assert_int_eq(c.server.http_port, 8224);
    done(&c, &w);
    load_ok("monitor_port: -1", &c, &w);
    ck_assert_int_eq(c.server.http_port, -1);
    done(&c, &w);
}
END_TEST

START_TEST(last_duplicate_wins_and_variables_are_not_unknown)
{
    struct mr_config c;
    struct warns w;
    load_ok("port: 1\nport: 2", &c, &w);
    ck_assert_int_eq(c.server.port, 2);
    done(&c, &w);
    load_ok("port: 1\nPORT: 3", &c, &w);
    ck_assert_int_eq(c.server.port, 3);
    done(&c, &w);
    load_ok("MYPORT: 4999\nport: $MYPORT", &c, &w);
    ck_assert_int_eq(c.server.port, 4999);
    done(&c, &w);
    load_ok("port: $MR_TEST_PORT\nauthorization { token: $MR_TEST_TOKEN }", &c, &w);
    ck_assert_int_eq(c.server.port, 4777);
    ck_assert_str_eq(c.auth->token, "s3cr3t");
    done(&c, &w);
}
END_TEST

START_TEST(accepted_but_ignored_keys_give_notices)
{
    struct mr_config c;
    struct warns w;
    load_ok("client_advertise: \"a:4222\"\nserver_tags: [\"az:1\", ssd]\nsyslog: true\n"
            "http_base_path: /x\nlame_duck_duration: \"45s\"\nmappings: { a: b }",
            &c, &w);
    ck_assert_str_eq(c.client_advertise, "a:4222");
    ck_assert_uint_eq(c.server_tags.count, 2);
    ck_assert_str_eq(c.server_tags.items[1], "ssd");
    ck_assert_uint_eq(c.lame_duck_duration_ns, 45 * NS);
    ck_assert_int_eq(w.count, 5);
    ck_assert_int_eq(w.compat, 0);
    ck_assert_ptr_nonnull(strstr(w.all->str, "t.conf:3:1: \"syslog\": syslog is not supported "
                                             "yet, ignored"));
    done(&c, &w);
}
END_TEST

START_TEST(client_tls_block)
{
    struct mr_config c;
    struct warns w;
    load_ok("tls { cert_file: s.pem, key_file: s.key, ca_file: ca.pem, verify: true,\n"
            "  timeout: 1.5, handshake_first: true }",
            &c, &w);
    ck_assert(c.server.tls.enabled);
    ck_assert_str_eq(c.server.tls.cert_file, "s.pem");
    ck_assert_str_eq(c.server.tls.key_file, "s.key");
    ck_assert_str_eq(c.server.tls.ca_file, "ca.pem");
    ck_assert(c.server.tls.verify);
    ck_assert(!c.server.tls.verify_and_map);
    ck_assert(c.server.tls.handshake_first);
    ck_assert_uint_eq(c.server.tls.timeout_ns, 1500000000ULL);
    done(&c, &w);
    load_ok("tls { cert_file: s.pem, key_file: s.key, verify_and_map: true, timeout: \"3s\" }", &c,
            &w);
    ck_assert(c.server.tls.verify);
    ck_assert(c.server.tls.verify_and_map);
    ck_assert_uint_eq(c.server.tls.timeout_ns, 3 * NS);
    done(&c, &w);
}
END_TEST

/* ---------------------------------------------------------------------------------
 * Authorization and permissions
 * --------------------------------------------------------------------------------- */

START_TEST(single_user_becomes_users_0)
{
    struct mr_config c;
    struct warns w;
    load_ok("authorization { user: alice, password: s3cret, timeout: 2.5 }", &c, &w);
    ck_assert_ptr_nonnull(c.auth);
    ck_assert(c.auth_single_user);
    ck_assert_uint_eq(c.auth->users_count, 1);
    ck_assert_str_eq(c.auth->users[0].user, "alice");
    ck_assert_str_eq(c.auth->users[0].password, "s3cret");
    ck_assert_ptr_null(c.auth->users[0].account);
    ck_assert_ptr_null(c.auth->users[0].permissions);
    ck_assert_uint_eq(c.auth->timeout_ns, 2500000000ULL);
    ck_assert_uint_eq(c.server.auth_timeout_ns, 2500000000ULL);
    ck_assert_ptr_null(c.auth->token);
    done(&c, &w);
    load_ok("authorization { username: bob, pass: \"$2a$11$abc\" }", &c, &w);
    ck_assert_str_eq(c.auth->users[0].user, "bob");
    ck_assert_str_eq(c.auth->users[0].password, "$2a$11$abc");
    done(&c, &w);
}
END_TEST

START_TEST(long_authorization_timeout_warns)
{
    struct mr_config c;
    struct warns w;
    load_ok("authorization { timeout: 120 }", &c, &w);
    ck_assert_uint_eq(c.auth->timeout_ns, 120 * NS);
    ck_assert_int_eq(w.compat, 1);
    ck_assert_str_eq(w.all->str,
                     "t.conf:1:26: invalid use of field \"timeout\": timeout of 120 (120.000000 "
                     "seconds) is high, consider keeping it under 60 seconds. possibly caused by "
                     "unquoted duration; use '1m' instead of 1m, for example\n");
    done(&c, &w);
    load_ok("authorization { timeout: \"2s\" }", &c, &w);
    ck_assert_uint_eq(c.auth->timeout_ns, 2 * NS);
    ck_assert_int_eq(w.count, 0);
    done(&c, &w);
}
END_TEST

START_TEST(token_auth)
{
    struct mr_config c;
    struct warns w;
    load_ok("authorization { token: tok-1 }", &c, &w);
    ck_assert_str_eq(c.auth->token, "tok-1");
    ck_assert_uint_eq(c.auth->users_count, 0);
    ck_assert(!c.auth_single_user);
    ck_assert_str_eq(c.server.token, "");
    done(&c, &w);
}
END_TEST

START_TEST(users_with_every_permission_form)
{
    struct mr_config c;
    struct warns w;
    load_ok("authorization {\n"
            "  users: [\n"
            "    { user: a, password: pa, permissions: { publish: \"x.>\", subscribe: [\"y.*\","
            " \"work.* workers\"] } }\n"
            "    { user: b, password: pb, permissions: { pub: { allow: [\"o.>\"], deny: "
            "\"o.secret\" }, sub: { deny: [\">\"] } } }\n"
            "    { user: c, password: pc, permission: { publish: [a, b] } }\n"
            "  ]\n"
            "}",
            &c, &w);
    ck_assert_uint_eq(c.auth->users_count, 3);
    ck_assert(!c.auth_single_user);
    const struct mr_permissions *p = c.auth->users[0].permissions;
    ck_assert_uint_eq(p->pub_allow.count, 1);
    ck_assert_str_eq(p->pub_allow.subjects[0], "x.>");
    ck_assert_uint_eq(p->sub_allow.count, 2);
    ck_assert_str_eq(p->sub_allow.subjects[1], "work.* workers");
    ck_assert(!p->allow_responses);
    p = c.auth->users[1].permissions;
    ck_assert_str_eq(p->pub_allow.subjects[0], "o.>");
    ck_assert_str_eq(p->pub_deny.subjects[0], "o.secret");
    ck_assert_uint_eq(p->sub_allow.count, 0);
    ck_assert_str_eq(p->sub_deny.subjects[0], ">");
    p = c.auth->users[2].permissions;
    ck_assert_uint_eq(p->pub_allow.count, 2);
    done(&c, &w);
}
END_TEST

START_TEST(queue_entries_are_normalised)
{
    struct mr_config c;
    struct warns w;
    load_ok("authorization { users: [ { user: q, permissions: { sub: \"a.b \t  grp\" } } ] }", &c,
            &w);
    ck_assert_str_eq(c.auth->users[0].permissions->sub_allow.subjects[0], "a.b grp");
    done(&c, &w);
}
END_TEST

START_TEST(allow_responses_forms)
{
    struct mr_config c;
    struct warns w;
    load_ok("authorization { users: [\n"
            "  { user: r1, permissions: { allow_responses: true } }\n"
            "  { user: r2, permissions: { publish: \"p.>\", allow_responses: { max: 5, expires: "
            "\"1m\" } } }\n"
            "  { user: r3, permissions: { allow_responses: { max: -1, ttl: \"-1s\" } } }\n"
            "  { user: r4, permissions: { publish_allow_responses: false } }\n"
            "] }",
            &c, &w);
    const struct mr_permissions *p = c.auth->users[0].permissions;
    ck_assert(p->allow_responses);
    ck_assert_uint_eq(p->responses_max, 1);
    ck_assert_uint_eq(p->responses_expires_ns, 120 * NS);
    /* nats-server: allow_responses without an allow list allows nothing else. */
    ck_assert_uint_eq(p->pub_allow.count, 0);
    ck_assert_uint_eq(p->pub_deny.count, 1);
    ck_assert_str_eq(p->pub_deny.subjects[0], ">");
    p = c.auth->users[1].permissions;
    ck_assert(p->allow_responses);
    ck_assert_uint_eq(p->responses_max, 5);
    ck_assert_uint_eq(p->responses_expires_ns, 60 * NS);
    ck_assert_uint_eq(p->pub_allow.count, 1);
    ck_assert_uint_eq(p->pub_deny.count, 0);
    p = c.auth->users[2].permissions;
    ck_assert_uint_eq(p->responses_max, UINT32_MAX);
    ck_assert_uint_eq(p->responses_expires_ns, 0);
    p = c.auth->users[3].permissions;
    ck_assert(!p->allow_responses);
    ck_assert_uint_eq(p->pub_deny.count, 0);
    done(&c, &w);
}
END_TEST

START_TEST(default_permissions_apply_to_users_without_their_own)
{
    struct mr_config c;
    struct warns w;
    load_ok("authorization {\n"
            "  default_permissions: { publish: \"d.>\" }\n"
            "  users: [ { user: a }, { user: b, permissions: { publish: \"own\" } } ]\n"
            "}",
            &c, &w);
    ck_assert_ptr_null(c.auth->default_permissions);
    ck_assert_str_eq(c.auth->users[0].permissions->pub_allow.subjects[0], "d.>");
    ck_assert_str_eq(c.auth->users[1].permissions->pub_allow.subjects[0], "own");
    /* Copies, not shared: freeing the config frees each once (ASan would tell). */
    ck_assert_ptr_ne(c.auth->users[0].permissions, c.auth->users[1].permissions);
    done(&c, &w);
}
END_TEST

START_TEST(users_restricted_to_other_connection_types_are_left_out)
{
    struct mr_config c;
    struct warns w;
    load_ok("authorization { users: [\n"
            "  { user: std, allowed_connection_types: [\"STANDARD\", \"WEBSOCKET\"] }\n"
            "  { user: leaf, allowed_connection_types: [\"LEAFNODE\"] }\n"
            "] }",
            &c, &w);
    ck_assert_uint_eq(c.auth->users_count, 1);
    ck_assert_str_eq(c.auth->users[0].user, "std");
    ck_assert_int_eq(w.count, 1);
    ck_assert_int_eq(w.compat, 0);
    done(&c, &w);
}
END_TEST

/* ---------------------------------------------------------------------------------
 * Accounts
 * --------------------------------------------------------------------------------- */

static const char *accounts_conf =
    "accounts {\n"
    "  A: {\n"
    "    users: [ { user: a, password: a } ]\n"
    "    exports: [\n"
    "      { stream: \"puba.>\" }\n"
    "      { service: \"req.>\" }\n"
    "      { stream: \"b.>\", accounts: [B] }\n"
    "      { service: \"q.b\", accounts: [B], response_type: stream, response_threshold: "
    "\"5s\" }\n"
    "    ]\n"
    "    limits: { max_connections: 10, max_subs: 100, max_payload: 1KB, max_leafnodes: 1 }\n"
    "    jetstream: enabled\n"
    "  }\n"
    "  B: {\n"
    "    default_permissions: { subscribe: \"from_a.>\" }\n"
    "    users: [ { user: b, password: b } ]\n"
    "    imports: [\n"
    "      { stream: { account: A, subject: \"b.>\" } }\n"
    "      { stream: { account: A, subject: \"puba.>\" }, prefix: from_a }\n"
    "      { service: { account: A, subject: \"q.b\" } }\n"
    "      { service: { account: A, subject: \"req.x\" }, to: \"svc.x\" }\n"
    "    ]\n"
    "    jetstream: { max_mem: 1G, max_file: 10G, max_streams: 10, max_consumers: 100,\n"
    "                 max_bytes_required: true }\n"
    "  }\n"
    "  SYS: { users: [ { user: sys, password: sys } ] }\n"
    "}\n"
    "system_account: SYS\n"
    "no_auth_user: b\n";

START_TEST(accounts_users_exports_imports)
{
    struct mr_config c;
    struct warns w;
    load_ok(accounts_conf, &c, &w);
    const struct mr_auth_opts *a = c.auth;
    ck_assert_uint_eq(a->accounts_count, 3);
    ck_assert_str_eq(a->system_account, "SYS");
    ck_assert_str_eq(a->no_auth_user, "b");
    ck_assert_uint_eq(a->users_count, 3);
    ck_assert_str_eq(a->users[0].user, "a");
    ck_assert_str_eq(a->users[0].account, "A");
    ck_assert_ptr_null(a->users[0].permissions);
    ck_assert_str_eq(a->users[1].account, "B");
    ck_assert_str_eq(a->users[1].permissions->sub_allow.subjects[0], "from_a.>");
    ck_assert_str_eq(a->users[2].account, "SYS");

    const struct mr_account_opts *A = &a->accounts[0];
    ck_assert_str_eq(A->name, "A");
    ck_assert_uint_eq(A->exports_count, 4);
    ck_assert(!A->exports[0].service);
    ck_assert_str_eq(A->exports[0].subject, "puba.>");
    ck_assert_uint_eq(A->exports[0].accounts_count, 0);
    ck_assert(A->exports[1].service);
    ck_assert_int_eq(A->exports[1].response_type, MR_RESPONSE_SINGLE);
    ck_assert_uint_eq(A->exports[2].accounts_count, 1);
    ck_assert_str_eq(A->exports[2].accounts[0], "B");
    ck_assert_int_eq(A->exports[3].response_type, MR_RESPONSE_STREAM);
    ck_assert_uint_eq(A->exports[3].response_threshold_ns, 5 * NS);
    ck_assert_int_eq(A->max_connections, 10);
    ck_assert_int_eq(A->max_subscriptions, 100);
    ck_assert_int_eq(A->max_payload, 1024);
    ck_assert(A->jetstream);

    const struct mr_account_opts *B = &a->accounts[1];
    ck_assert_uint_eq(B->imports_count, 4);
    ck_assert(!B->imports[0].service);
    ck_assert_str_eq(B->imports[0].account, "A");
    ck_assert_str_eq(B->imports[0].subject, "b.>");
    ck_assert_ptr_null(B->imports[0].prefix);
    ck_assert_str_eq(B->imports[1].prefix, "from_a");
    ck_assert(B->imports[2].service);
    ck_assert_ptr_null(B->imports[2].to);
    ck_assert_str_eq(B->imports[3].to, "svc.x");
    ck_assert_int_eq(B->max_connections, -1);
    ck_assert(B->jetstream);

    ck_assert_uint_eq(c.account_jetstream_count, 2);
    ck_assert_str_eq(c.account_jetstream[1].account, "B");
    ck_assert_int_eq(c.account_jetstream[1].max_memory, 1000000000LL);
    ck_assert_int_eq(c.account_jetstream[1].max_streams, 10);
    ck_assert(c.account_jetstream[1].max_bytes_required);
    ck_assert_int_eq(c.account_jetstream[0].max_memory, -1);
    ck_assert(!a->accounts[2].jetstream);
    ck_assert_int_eq(w.count, 0);
    done(&c, &w);
}
END_TEST

START_TEST(accounts_array_form_and_mappings_notice)
{
    struct mr_config c;
    struct warns w;
    load_ok("accounts: [ X, Y ]", &c, &w);
    ck_assert_uint_eq(c.auth->accounts_count, 2);
    ck_assert_str_eq(c.auth->accounts[1].name, "Y");
    ck_assert_int_eq(c.auth->accounts[1].max_payload, -1);
    done(&c, &w);
    load_ok("accounts { A { mappings: { \"a.*\": \"b.{{wildcard(1)}}\" } } }", &c, &w);
    ck_assert_int_eq(w.count, 1);
    ck_assert_ptr_nonnull(strstr(w.all->str, "t.conf:1:16: subject mappings are not supported"));
    done(&c, &w);
}
END_TEST

START_TEST(account_names_keep_case)
{
    struct mr_config c;
    struct warns w;
    load_ok("accounts { app: { users: [{user: x}] }, APP: { users: [{user: y}] } }", &c, &w);
    ck_assert_uint_eq(c.auth->accounts_count, 2);
    ck_assert_str_eq(c.auth->users[1].account, "APP");
    done(&c, &w);
}
END_TEST

/* ---------------------------------------------------------------------------------
 * Later-feature blocks
 * --------------------------------------------------------------------------------- */

START_TEST(cluster_every_key)
{
    struct mr_config c;
    struct warns w;
    load_ok("cluster {\n"
            "  name: C1\n"
            "  listen: 127.0.0.1:16222\n"
            "  cluster_advertise: \"10.0.0.1:6222\"\n"
            "  no_advertise: true\n"
            "  routes: [ nats://10.0.0.2:6222, \"nats-route://u:p@10.0.0.3:6222\" ]\n"
            "  authorization { user: ru, password: rp, timeout: 3 }\n"
            "  permissions { import: \"i.>\", export: { deny: \"secret.>\" } }\n"
            "  connect_retries: 5\n"
            "  pool_size: -1\n"
            "  accounts: [ APP ]\n"
            "  compression: { mode: s2_auto, rtt_thresholds: [\"5ms\", \"20ms\"] }\n"
            "  ping_interval: \"20s\"\n"
            "  ping_max: 4\n"
            "  write_deadline: \"3s\"\n"
            "  tls { cert_file: r.pem, key_file: r.key, verify_cert_and_check_known_urls: true }\n"
            "}",
            &c, &w);
    const struct mr_cluster_opts *cl = &c.cluster;
    ck_assert(cl->present);
    ck_assert_str_eq(cl->where, "t.conf:1:1");
    ck_assert_str_eq(cl->name, "C1");
    ck_assert_str_eq(cl->host, "127.0.0.1");
    ck_assert_int_eq(cl->port, 16222);
    ck_assert_str_eq(cl->advertise, "10.0.0.1:6222");
    ck_assert(cl->no_advertise);
    ck_assert_uint_eq(cl->routes.count, 2);
    ck_assert_str_eq(cl->routes.items[1], "nats-route://u:p@10.0.0.3:6222");
    ck_assert_str_eq(cl->auth.user, "ru");
    ck_assert_str_eq(cl->auth.password, "rp");
    ck_assert_uint_eq(cl->auth.timeout_ns, 3 * NS);
    ck_assert_str_eq(cl->permissions->pub_allow.subjects[0], "i.>");
    ck_assert_str_eq(cl->permissions->sub_deny.subjects[0], "secret.>");
    ck_assert_int_eq(cl->connect_retries, 5);
    ck_assert_int_eq(cl->pool_size, -1);
    ck_assert_str_eq(cl->accounts.items[0], "APP");
    ck_assert_int_eq(cl->compression.mode, MR_COMPRESSION_S2_AUTO);
    ck_assert_uint_eq(cl->compression.rtt_count, 2);
    ck_assert_uint_eq(cl->compression.rtt_thresholds_ns[1], 20000000ULL);
    ck_assert_uint_eq(cl->ping_interval_ns, 20 * NS);
    ck_assert_uint_eq(cl->ping_max, 4);
    ck_assert_uint_eq(cl->write_deadline_ns, 3 * NS);
    ck_assert(cl->tls.enabled);
    ck_assert(cl->tls.verify);
    ck_assert_int_eq(w.count, 0);
    done(&c, &w);
    load_ok("cluster { host: h, port: 6222, compression: true, advertise: x }", &c, &w);
    ck_assert_str_eq(c.cluster.host, "h");
    ck_assert_int_eq(c.cluster.port, 6222);
    ck_assert_int_eq(c.cluster.compression.mode, MR_COMPRESSION_S2_FAST);
    done(&c, &w);
}
END_TEST

START_TEST(cluster_warnings)
{
    struct mr_config c;
    struct warns w;
    load_ok("cluster {\n"
            "  routes: [ \"nats://a:1\", \"nats://a:1\" ]\n"
            "  ping_interval: \"1m\"\n"
            "  authorization { user: u, password: p, permissions: { publish: x } }\n"
            "}",
            &c, &w);
    ck_assert_int_eq(w.compat, 3);
    ck_assert_uint_eq(c.cluster.routes.count, 1);
    ck_assert_uint_eq(c.cluster.ping_interval_ns, 30 * NS);
    ck_assert_str_eq(c.cluster.permissions->pub_allow.subjects[0], "x");
    ck_assert_ptr_nonnull(strstr(w.all->str, "t.conf:2:27: invalid use of field \"nats://a:1\": "
                                             "Duplicate route entry detected"));
    done(&c, &w);
}
END_TEST

START_TEST(gateway_every_key)
{
    struct mr_config c;
    struct warns w;
    load_ok("gateway {\n"
            "  name: C1\n"
            "  host: 0.0.0.0\n"
            "  port: 7222\n"
            "  advertise: \"gw1.example:7222\"\n"
            "  authorization { user: gwu, password: gwp, timeout: 2 }\n"
            "  reject_unknown: true\n"
            "  connect_retries: 3\n"
            "  write_deadline: \"2s\"\n"
            "  gateways: [\n"
            "    { name: C1, url: \"nats://self:7222\" }\n"
            "    { name: C2, url: \"nats://gwu:gwp@c2-a:7222\" }\n"
            "    { name: C3, urls: [\"nats://c3-a:7222\", \"nats://c3-b:7222\"],\n"
            "      tls { cert_file: g.pem, key_file: g.key } }\n"
            "  ]\n"
            "}",
            &c, &w);
    const struct mr_gateway_opts *g = &c.gateway;
    ck_assert(g->present);
    ck_assert_str_eq(g->name, "C1");
    ck_assert_int_eq(g->port, 7222);
    ck_assert_str_eq(g->advertise, "gw1.example:7222");
    ck_assert_str_eq(g->auth.user, "gwu");
    ck_assert(g->reject_unknown_cluster);
    ck_assert_int_eq(g->connect_retries, 3);
    ck_assert_uint_eq(g->write_deadline_ns, 2 * NS);
    ck_assert_uint_eq(g->gateways_count, 3);
    ck_assert_str_eq(g->gateways[1].urls.items[0], "nats://gwu:gwp@c2-a:7222");
    ck_assert_uint_eq(g->gateways[2].urls.count, 2);
    ck_assert(g->gateways[2].tls.enabled);
    /* The cluster takes the gateway's name (nats-server's validateCluster). */
    ck_assert_str_eq(c.cluster.name, "C1");
    done(&c, &w);
}
END_TEST

START_TEST(leafnodes_every_key)
{
    struct mr_config c;
    struct warns w;
    load_ok("accounts { APP { users: [{user: u1}] }, A1 {} }\n"
            "leafnodes {\n"
            "  listen: 0.0.0.0:7422\n"
            "  advertise: \"hub.example:7422\"\n"
            "  no_advertise: true\n"
            "  authorization { users: [ {user: l1, password: x, account: A1}, {user: l2} ],"
            " timeout: 2 }\n"
            "  tls { cert_file: l.pem, key_file: l.key, handshake_first: false }\n"
            "  compression: s2_best\n"
            "  reconnect: \"2s\"\n"
            "  isolate: true\n"
            "  min_version: \"2.10.0\"\n"
            "  remotes: [\n"
            "    {\n"
            "      urls: [\"nats-leaf://hub:7422\", \"tls://hub2:7422\"]\n"
            "      account: APP\n"
            "      credentials: \"/path/user.creds\"\n"
            "      tls { ca_file: ca.pem }\n"
            "      hub: true\n"
            "      deny_imports: [\"secret.>\"]\n"
            "      deny_exports: \"local.>\"\n"
            "      no_randomize: true\n"
            "      first_info_timeout: \"3s\"\n"
            "      disabled: false\n"
            "      request_isolation: true\n"
            "      compression: off\n"
            "      proxy { url: \"http://proxy:3128\", username: pu, password: pp, timeout: "
            "\"5s\" }\n"
            "    }\n"
            "    { url: \"ws://hub:8080\", local: A1, ws_compression: true, ws_no_masking: true }\n"
            "  ]\n"
            "}",
            &c, &w);
    const struct mr_leafnode_opts *lo = &c.leafnodes;
    ck_assert(lo->present);
    ck_assert_int_eq(lo->port, 7422);
    ck_assert_str_eq(lo->host, "0.0.0.0");
    ck_assert_str_eq(lo->advertise, "hub.example:7422");
    ck_assert(lo->no_advertise);
    ck_assert_uint_eq(lo->auth.users_count, 2);
    ck_assert_str_eq(lo->auth.users[0].account, "A1");
    ck_assert_uint_eq(lo->auth.timeout_ns, 2 * NS);
    ck_assert(lo->tls.enabled);
    ck_assert_int_eq(lo->compression.mode, MR_COMPRESSION_S2_BEST);
    ck_assert_uint_eq(lo->reconnect_ns, 2 * NS);
    ck_assert(lo->isolate_leafnode_interest);
    ck_assert_str_eq(lo->min_version, "2.10.0");
    ck_assert_uint_eq(lo->remotes_count, 2);
    const struct mr_leafnode_remote_opts *r = &lo->remotes[0];
    ck_assert_uint_eq(r->urls.count, 2);
    ck_assert_str_eq(r->account, "APP");
    ck_assert_str_eq(r->credentials, "/path/user.creds");
    ck_assert(r->tls.enabled);
    ck_assert_str_eq(r->tls.ca_file, "ca.pem");
    ck_assert(r->hub);
    ck_assert_str_eq(r->deny_imports.items[0], "secret.>");
    ck_assert_str_eq(r->deny_exports.items[0], "local.>");
    ck_assert(r->no_randomize);
    ck_assert_uint_eq(r->first_info_timeout_ns, 3 * NS);
    ck_assert(r->request_isolation);
    ck_assert_int_eq(r->compression.mode, MR_COMPRESSION_OFF);
    ck_assert_str_eq(r->proxy.url, "http://proxy:3128");
    ck_assert_uint_eq(r->proxy.timeout_ns, 5 * NS);
    r = &lo->remotes[1];
    ck_assert_str_eq(r->urls.items[0], "ws://hub:8080");
    ck_assert_str_eq(r->account, "A1");
    ck_assert(r->ws_compression);
    ck_assert(r->ws_no_masking);
    ck_assert_int_eq(r->compression.mode, MR_COMPRESSION_S2_AUTO);
    ck_assert_int_eq(w.count, 0);
    done(&c, &w);
}
END_TEST

START_TEST(jetstream_forms)
{
    struct mr_config c;
    struct warns w;
    load_ok("jetstream: enabled", &c, &w);
    ck_assert(c.jetstream.present);
    ck_assert(c.jetstream.enabled);
    done(&c, &w);
    load_ok("jetstream: false", &c, &w);
    ck_assert(c.jetstream.present);
    ck_assert(!c.jetstream.enabled);
    done(&c, &w);
    load_ok("jetstream {\n"
            "  store: /data/js\n"
            "  max_mem: 1G\n"
            "  max_file_store: \"10G\"\n"
            "  domain: hub\n"
            "  unique_tag: \" AZ: \"\n"
            "  sync: always\n"
            "  max_outstanding_catchup: 64MB\n"
            "  limits { max_ack_pending: 1000, max_ha_assets: 2, max_request_batch: 3,"
            " duplicate_window: \"1m\" }\n"
            "  strict: false\n"
            "}",
            &c, &w);
    const struct mr_jetstream_opts *j = &c.jetstream;
    ck_assert(j->enabled);
    ck_assert_str_eq(j->store_dir, "/data/js");
    ck_assert_int_eq(j->max_memory_store, 1000000000LL);
    ck_assert_int_eq(j->max_file_store, 10LL << 30);
    ck_assert_str_eq(j->domain, "hub");
    ck_assert_str_eq(j->unique_tag, "az:");
    ck_assert(j->sync_always);
    ck_assert_int_eq(j->max_outstanding_catchup, 64LL << 20);
    ck_assert_int_eq(j->limits.max_ack_pending, 1000);
    ck_assert_int_eq(j->limits.max_ha_assets, 2);
    ck_assert_int_eq(j->limits.max_request_batch, 3);
    ck_assert_uint_eq(j->limits.duplicate_window_ns, 60 * NS);
    ck_assert(!j->strict);
    done(&c, &w);
    load_ok("jetstream { enabled: false, sync_interval: \"30s\" }\nstore_dir: /d", &c, &w);
    ck_assert(!c.jetstream.enabled);
    ck_assert_uint_eq(c.jetstream.sync_interval_ns, 30 * NS);
    ck_assert_str_eq(c.jetstream.store_dir, "/d");
    done(&c, &w);
}
END_TEST

START_TEST(websocket_every_key)
{
    struct mr_config c;
    struct warns w;
    load_ok("websocket {\n"
            "  listen: \"127.0.0.1:8080\"\n"
            "  no_tls: true\n"
            "  advertise: \"ws.example:443\"\n"
            "  same_origin: true\n"
            "  allowed_origins: [\"https://app.example\"]\n"
            "  compression: true\n"
            "  handshake_timeout: \"5s\"\n"
            "  authorization { user: wu, password: wp, timeout: 1 }\n"
            "}",
            &c, &w);
    const struct mr_websocket_opts *ws = &c.websocket;
    ck_assert(ws->present);
    ck_assert_str_eq(ws->host, "127.0.0.1");
    ck_assert_int_eq(ws->port, 8080);
    ck_assert(ws->no_tls);
    ck_assert_str_eq(ws->advertise, "ws.example:443");
    ck_assert(ws->same_origin);
    ck_assert_str_eq(ws->allowed_origins.items[0], "https://app.example");
    ck_assert(ws->compression);
    ck_assert_uint_eq(ws->handshake_timeout_ns, 5 * NS);
    ck_assert_str_eq(ws->auth.user, "wu");
    done(&c, &w);
    load_ok("authorization { users: [{user: z}] }\n"
            "ws { port: 8443, tls { cert_file: w.pem, key_file: w.key }, handshake_timeout: 3,"
            " no_auth_user: z }",
            &c, &w);
    ck_assert(c.websocket.tls.enabled);
    ck_assert_uint_eq(c.websocket.handshake_timeout_ns, 3 * NS);
    ck_assert_str_eq(c.websocket.no_auth_user, "z");
    done(&c, &w);
}
END_TEST

/* ---------------------------------------------------------------------------------
 * Aliases: each alias loads exactly as its canonical key
 * --------------------------------------------------------------------------------- */

static void dump_strings(GString *d, const char *name, const struct mr_conf_strings *s)
{
    g_string_append_printf(d, "%s=[", name);
    for (size_t i = 0; i < s->count; i++) {
        g_string_append_printf(d, "%s,", s->items[i]);
    }
    g_string_append(d, "] ");
}

static void dump_subjects(GString *d, const struct mr_subject_list *l)
{
    for (size_t i = 0; i < l->count; i++) {
        g_string_append_printf(d, "%s,", l->subjects[i]);
    }
    g_string_append(d, "|");
}

static void dump_perms(GString *d, const struct mr_permissions *p)
{
    if (p == NULL) {
        g_string_append(d, "perms=none ");
        return;
    }
    g_string_append(d, "perms=");
    dump_subjects(d, &p->pub_allow);
    dump_subjects(d, &p->pub_deny);
    dump_subjects(d, &p->sub_allow);
    dump_subjects(d, &p->sub_deny);
    g_string_append_printf(d, "%d/%u/%llu ", p->allow_responses, p->responses_max,
                           (unsigned long long)p->responses_expires_ns);
}

static void dump_tls(GString *d, const char *name, const struct mr_tls_opts *t)
{
    g_string_append_printf(d, "%s=%d/%s/%s/%s/%d%d%d%d/%llu ", name, t->enabled, t->cert_file,
                           t->key_file, t->ca_file, t->verify, t->verify_and_map, t->insecure,
                           t->handshake_first, (unsigned long long)t->timeout_ns);
}

static void dump_auth(GString *d, const struct mr_auth_opts *a)
{
    if (a == NULL) {
        g_string_append(d, "auth=none ");
        return;
    }
    g_string_append_printf(d, "token=%s timeout=%llu sys=%s nosys=%d noauth=%s ",
                           a->token ? a->token : "-", (unsigned long long)a->timeout_ns,
                           a->system_account ? a->system_account : "-", a->no_system_account,
                           a->no_auth_user ? a->no_auth_user : "-");
    for (size_t i = 0; i < a->users_count; i++) {
        const struct mr_user_opts *u = &a->users[i];
        g_string_append_printf(d, "user=%s/%s/%s ", u->user, u->password ? u->password : "-",
                               u->account ? u->account : "-");
        dump_perms(d, u->permissions);
    }
    for (size_t i = 0; i < a->accounts_count; i++) {
        const struct mr_account_opts *acc = &a->accounts[i];
        g_string_append_printf(d, "acc=%s/%d/%d/%d/%d ", acc->name, acc->jetstream,
                               acc->max_connections, acc->max_subscriptions, acc->max_payload);
        for (size_t k = 0; k < acc->exports_count; k++) {
            const struct mr_export_opts *x = &acc->exports[k];
            g_string_append_printf(d, "exp=%d/%s/%d/%llu/%zu ", x->service, x->subject,
                                   x->response_type, (unsigned long long)x->response_threshold_ns,
                                   x->accounts_count);
        }
        for (size_t k = 0; k < acc->imports_count; k++) {
            const struct mr_import_opts *x = &acc->imports[k];
            g_string_append_printf(d, "imp=%d/%s/%s/%s/%s ", x->service, x->account, x->subject,
                                   x->prefix ? x->prefix : "-", x->to ? x->to : "-");
        }
    }
}

static void dump_cluster(GString *d, const struct mr_cluster_opts *c)
{
    g_string_append_printf(
        d, "cluster=%d/%s/%s/%d/%s/%d/%d/%d/%d/%u/%llu/%llu ", c->present, c->name ? c->name : "-",
        c->host ? c->host : "-", c->port, c->advertise ? c->advertise : "-", c->no_advertise,
        c->connect_retries, c->pool_size, c->compression.mode, c->ping_max,
        (unsigned long long)c->ping_interval_ns, (unsigned long long)c->write_deadline_ns);
    dump_strings(d, "routes", &c->routes);
    dump_strings(d, "accounts", &c->accounts);
    dump_perms(d, c->permissions);
    dump_tls(d, "ctls", &c->tls);
}

static void dump_gateway(GString *d, const struct mr_gateway_opts *g)
{
    g_string_append_printf(d, "gateway=%d/%s/%s/%d/%s/%d/%d ", g->present, g->name ? g->name : "-",
                           g->host ? g->host : "-", g->port, g->advertise ? g->advertise : "-",
                           g->reject_unknown_cluster, g->connect_retries);
    for (size_t i = 0; i < g->gateways_count; i++) {
        g_string_append_printf(d, "gw=%s ", g->gateways[i].name);
        dump_strings(d, "urls", &g->gateways[i].urls);
    }
}

static void dump_leafnodes(GString *d, const struct mr_leafnode_opts *lo)
{
    g_string_append_printf(d, "leaf=%d/%s/%d/%s/%d/%llu/%d/%s/%d/%s ", lo->present,
                           lo->host ? lo->host : "-", lo->port, lo->advertise ? lo->advertise : "-",
                           lo->no_advertise, (unsigned long long)lo->reconnect_ns,
                           lo->isolate_leafnode_interest, lo->min_version ? lo->min_version : "-",
                           lo->compression.mode, lo->auth.user ? lo->auth.user : "-");
    for (size_t i = 0; i < lo->remotes_count; i++) {
        const struct mr_leafnode_remote_opts *r = &lo->remotes[i];
        dump_strings(d, "rurls", &r->urls);
        g_string_append_printf(d, "remote=%s/%s/%d%d%d%d%d%d%d%d/%llu ",
                               r->account ? r->account : "-", r->credentials ? r->credentials : "-",
                               r->ws_compression, r->ws_no_masking, r->hub,
                               r->no_randomize, r->disabled, r->request_isolation,
                               r->isolate_leafnode_interest, r->compression.mode,
                               (unsigned long long)r->first_info_timeout_ns);
        dump_strings(d, "di", &r->deny_imports);
        dump_strings(d, "de", &r->deny_exports);
    }
}

static void dump_js_ws(GString *d, const struct mr_config *c)
{
    const struct mr_jetstream_opts *j = &c->jetstream;
    g_string_append_printf(d, "js=%d/%d/%s/%lld/%lld/%s/%d/%llu/%d ", j->present, j->enabled,
                           j->store_dir ? j->store_dir : "-", (long long)j->max_memory_store,
                           (long long)j->max_file_store, j->domain ? j->domain : "-",
                           j->sync_always, (unsigned long long)j->sync_interval_ns, j->strict);
    const struct mr_websocket_opts *w = &c->websocket;
    g_string_append_printf(d, "ws=%d/%s/%d/%d/%d/%d/%llu/%s ", w->present, w->host ? w->host : "-",
                           w->port, w->no_tls, w->same_origin, w->compression,
                           (unsigned long long)w->handshake_timeout_ns,
                           w->auth.user ? w->auth.user : "-");
    dump_strings(d, "origins", &w->allowed_origins);
}

/* Everything a load can set, as text, so two configs can be compared. */
static char *dump(const struct mr_config *c)
{
    GString *d = g_string_new(NULL);
    const struct mr_server_opts *o = &c->server;
    g_string_append_printf(d, "%s:%d name=%s pay=%u pend=%lld cl=%u conn=%u subs=%u ", o->host,
                           o->port, o->server_name, o->max_payload, (long long)o->max_pending,
                           o->max_control_line, o->max_connections, o->max_subs);
    g_string_append_printf(d, "ping=%llu/%u wd=%llu at=%llu http=%s:%d dbg=%d/%d ",
                           (unsigned long long)o->ping_interval_ns, o->ping_max,
                           (unsigned long long)o->write_deadline_ns,
                           (unsigned long long)o->auth_timeout_ns, o->http_host, o->http_port,
                           o->debug, o->trace);
    g_string_append_printf(d, "log=%d/%s/%s ", c->logtime, c->log_file ? c->log_file : "-",
                           c->pid_file ? c->pid_file : "-");
    dump_tls(d, "tls", &o->tls);
    dump_auth(d, c->auth);
    dump_cluster(d, &c->cluster);
    dump_gateway(d, &c->gateway);
    dump_leafnodes(d, &c->leafnodes);
    dump_js_ws(d, c);
    return g_string_free(d, FALSE);
}

static char *load_dump(const char *text)
{
    struct mr_config c;
    struct warns w;
    load_ok(text, &c, &w);
    char *d = dump(&c);
    done(&c, &w);
    return d;
}

struct alias_case {
    const char *canonical;
    const char *alias;
};

static const struct alias_case alias_cases[] = {
    {"host: h1", "net: h1"},
    {"port: 5", "Port: 5"},
    {"max_connections: 7", "max_conn: 7"},
    {"max_subscriptions: 7", "max_subs: 7"},
    {"log_file: l", "logfile: l"},
    {"pid_file: p", "pidfile: p"},
    {"http_port: 9", "monitor_port: 9"},
    {"trace: true", "trace_verbose: true"},
    {"accounts [S]\nsystem_account: S", "accounts [S]\nsystem: S"},
    {"no_system_account: true", "no_system: true"},
    {"no_system_account: true", "no_sys_acc: true"},
    {"store_dir: /s", "storedir: /s"},
    {"leafnodes { port: 7 }", "leaf { port: 7 }"},
    {"websocket { port: 8, no_tls: true }", "ws { port: 8, no_tls: true }"},
    {"authorization { user: u, password: p }", "authorization { username: u, pass: p }"},
    {"authorization { users: [{user: u}], default_permissions: {pub: a} }",
     "authorization { users: [{user: u}], permissions: {pub: a} }"},
    {"authorization { users: [{user: u}], default_permissions: {pub: a} }",
     "authorization { users: [{user: u}], default_permission: {pub: a} }"},
    {"authorization { users: [{user: u, permissions: {publish: a}}] }",
     "authorization { users: [{user: u, permission: {pub: a}}] }"},
    {"authorization { users: [{user: u, permissions: {subscribe: a}}] }",
     "authorization { users: [{user: u, authorization: {sub: a}}] }"},
    {"authorization { users: [{user: u, permissions: {allow_responses: true}}] }",
     "authorization { users: [{user: u, permissions: {publish_allow_responses: true}}] }"},
    {"authorization { users: [{user: u, permissions: {allow_responses: {max: 2, expires: "
     "\"1s\"}}}] }",
     "authorization { users: [{user: u, permissions: {allow_responses: {max_msgs: 2, ttl: "
     "\"1s\"}}}] }"},
    {"authorization { users: [{user: u, permissions: {allow_responses: {max: 2, expires: "
     "\"1s\"}}}] }",
     "authorization { users: [{user: u, permissions: {allow_responses: {max_responses: 2, "
     "expiration: \"1s\"}}}] }"},
    {"authorization { users: [{user: u, allowed_connection_types: [STANDARD]}] }",
     "authorization { users: [{user: u, clients: STANDARD}] }"},
    {"accounts { A { limits { max_connections: 1, max_subscriptions: 2, max_payload: 3 } } }",
     "accounts { A { limits { max_conn: 1, max_subs: 2, max_pay: 3 } } }"},
    {"accounts { A { exports: [{service: s, response_type: chunked, response_threshold: "
     "\"1s\"}] } }",
     "accounts { A { exports: [{service: s, response: chunk, threshold: \"1s\"}] } }"},
    {"accounts { A { exports: [{service: s, response_type: single}] } }",
     "accounts { A { exports: [{service: s, response_type: singleton}] } }"},
    {"accounts { A { jetstream: enabled } }", "accounts { A { jetstream: true } }"},
    {"cluster { advertise: a }", "cluster { cluster_advertise: a }"},
    {"cluster { host: h }", "cluster { net: h }"},
    {"cluster { permissions: { publish: a, subscribe: b } }",
     "cluster { permissions: { import: a, export: b } }"},
    {"cluster { compression: s2_fast }", "cluster { compression: fast }"},
    {"cluster { compression: off }", "cluster { compression: disabled }"},
    {"gateway { name: g, port: 1, reject_unknown_cluster: true }",
     "gateway { name: g, port: 1, reject_unknown: true }"},
    {"leafnodes { advertise: a }", "leafnodes { leafnode_advertise: a }"},
    {"leafnodes { reconnect: \"3s\" }", "leafnodes { reconnect_delay: \"3s\" }"},
    {"leafnodes { reconnect: \"3s\" }", "leafnodes { reconnect_interval: \"3s\" }"},
    {"leafnodes { isolate_leafnode_interest: true }", "leafnodes { isolate: true }"},
    {"leafnodes { min_version: \"2.9.0\" }", "leafnodes { minimum_version: \"2.9.0\" }"},
    {"leafnodes { remotes: [{url: \"nats://h:1\", credentials: c, no_randomize: true,"
     " deny_imports: a, deny_exports: b}] }",
     "leafnodes { remotes: [{urls: [\"nats://h:1\"], creds: c, dont_randomize: true,"
     " deny_import: a, deny_export: b}] }"},
    {"accounts [A]\nleafnodes { remotes: [{url: \"ws://h:1\", account: A, ws_compression: true,"
     " ws_no_masking: true}] }",
     "accounts [A]\nleafnodes { remotes: [{url: \"ws://h:1\", local: A, websocket_compress: "
     "true, websocket_no_masking: true}] }"},
    {"jetstream { store_dir: s }", "jetstream { store: s }"},
    {"jetstream { store_dir: s }", "jetstream { storedir: s }"},
    {"jetstream { max_memory_store: 1G, max_file_store: 2G }",
     "jetstream { max_mem_store: 1G, max_file: 2G }"},
    {"jetstream { max_memory_store: 1G }", "jetstream { max_mem: 1G }"},
    {"jetstream { sync_interval: \"1m\" }", "jetstream { sync: \"1m\" }"},
    {"jetstream { enabled: false }", "jetstream { enable: false }"},
    {"jetstream: enabled", "jetstream: true"},
    {"jetstream: enabled", "jetstream: enable"},
    {"jetstream: disabled", "jetstream: false"},
    {"websocket { compression: true }", "websocket { compress: true }"},
    {"websocket { allowed_origins: [o] }", "websocket { origins: o }"},
    {"websocket { allowed_origins: [o] }", "websocket { allow_origin: [o] }"},
    {"websocket { authorization { user: u } }", "websocket { authentication { username: u } }"},
    {"tls { cert_file: c, key_file: k, handshake_first: true }",
     "tls { cert_file: c, key_file: k, first: true }"},
    {"tls { cert_file: c, key_file: k, handshake_first: true }",
     "tls { cert_file: c, key_file: k, immediate: \"on\" }"},
};

START_TEST(each_alias_loads_as_its_canonical_key)
{
    const struct alias_case *ac = &alias_cases[_i];
    char *empty = load_dump("");
    char *canonical = load_dump(ac->canonical);
    char *alias = load_dump(ac->alias);
    ck_assert_msg(strcmp(canonical, alias) == 0, "<<%s>> vs <<%s>>:\n%s\n%s", ac->canonical,
                  ac->alias, canonical, alias);
    ck_assert_msg(strcmp(canonical, empty) != 0, "<<%s>> changed nothing", ac->canonical);
    g_free(empty);
    g_free(canonical);
    g_free(alias);
}
END_TEST

/* ---------------------------------------------------------------------------------
 * Errors: position and wording
 * --------------------------------------------------------------------------------- */

struct bad_case {
    const char *text;
    int rc;
    const char *err;
};

static const struct bad_case bad_cases[] = {
    /* Unknown keys, wrong types, bad values. */
    {"port: 4222\nfoo: 1", MR_E_INVAL, "t.conf:2:1: unknown field \"foo\""},
    {"cluster { name: a, bogus: 1 }", MR_E_INVAL, "t.conf:1:20: unknown field \"bogus\""},
    {"port: \"abc\"", MR_E_INVAL, "t.conf:1:7: expected \"port\" to be an integer, got a string"},
    {"debug: 1", MR_E_INVAL, "t.conf:1:8: expected \"debug\" to be a boolean, got an integer"},
    {"port: 70000", MR_E_INVAL,
     "t.conf:1:7: invalid client port 70000: must be between -1 (random) and 65535"},
    {"http_port: -5", MR_E_INVAL,
     "t.conf:1:12: invalid monitoring port -5: must be between -1 (random) and 65535"},
    {"listen: \"a:b:c\"", MR_E_INVAL, "t.conf:1:9: could not parse address string \"a:b:c\""},
    {"listen: \"a:x\"", MR_E_INVAL, "t.conf:1:9: could not parse port \"x\""},
    {"max_payload: 10MB\nmax_pending: 1MB", MR_E_INVAL,
     "t.conf:1:14: max_payload (10485760) cannot be higher than max_pending (1048576)"},
    {"max_payload: 100MB", MR_E_INVAL,
     "t.conf:1:14: invalid max_payload 104857600: must be between 1 and 67108864 (Meridian's "
     "limit)"},
    {"max_payload: 3GB", MR_E_INVAL, "t.conf:1:14: max_payload value is too big"},
    {"max_control_line: 16", MR_E_INVAL,
     "t.conf:1:19: invalid max_control_line 16: must be between 32 and 65536 (Meridian's limit)"},
    {"max_sub_tokens: 300", MR_E_INVAL, "t.conf:1:17: max_sub_tokens value is too big"},
    {"ping_interval: \"5 seconds\"", MR_E_INVAL,
     "t.conf:1:16: error parsing ping_interval: time: invalid duration \"5 seconds\""},
    {"ping_interval: true", MR_E_INVAL,
     "t.conf:1:16: expected \"ping_interval\" to be a duration (\"2s\", \"1m30s\"), got a "
     "boolean"},
    {"lame_duck_duration: \"10s\"", MR_E_INVAL,
     "t.conf:1:21: invalid lame_duck_duration of 10s, minimum is 30 seconds"},
    {"server_name: \"a b\"", MR_E_INVAL, "t.conf:1:14: server name cannot contain spaces"},
    /* Refused features. */
    {"https: 8443", MR_E_UNSUPPORTED,
     "t.conf:1:1: \"https\": HTTPS monitoring is not supported "
     "yet"},
    {"https_port: 8443", MR_E_UNSUPPORTED,
     "t.conf:1:1: \"https_port\": HTTPS monitoring is not supported yet"},
    {"operator: /x.jwt", MR_E_UNSUPPORTED,
     "t.conf:1:1: \"operator\": JWT/operator mode is not supported yet"},
    {"resolver: MEMORY", MR_E_UNSUPPORTED,
     "t.conf:1:1: \"resolver\": JWT/operator mode is not supported yet"},
    {"mqtt { port: 1883 }", MR_E_UNSUPPORTED, "t.conf:1:1: \"mqtt\": MQTT is not supported yet"},
    {"authorization { users: [{nkey: UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4}] "
     "}",
     MR_E_UNSUPPORTED, "t.conf:1:26: nkey users are not supported yet"},
    {"leafnodes { remotes: [{url: \"nats://h:1\", nkey: SUABC}] }", MR_E_UNSUPPORTED,
     "t.conf:1:43: \"nkey\": a leafnode remote cannot authenticate with a bare nkey seed, use "
     "\"credentials\" (a .creds file with the user JWT and seed)"},
    {"leafnodes { remotes: [{url: \"nats://h:1\", seed: SUABC}] }", MR_E_UNSUPPORTED,
     "t.conf:1:43: \"seed\": a leafnode remote cannot authenticate with a bare nkey seed, use "
     "\"credentials\" (a .creds file with the user JWT and seed)"},
    {"accounts { A { nkey: ABC } }", MR_E_UNSUPPORTED,
     "t.conf:1:16: \"nkey\": an account nkey (operator mode) is not supported yet"},
    {"authorization { auth_callout { issuer: x } }", MR_E_UNSUPPORTED,
     "t.conf:1:17: \"auth_callout\": auth callout is not supported yet"},
    {"tls { cert_file: a, key_file: b, cipher_suites: [x] }", MR_E_UNSUPPORTED,
     "t.conf:1:34: \"cipher_suites\": choosing TLS cipher suites is not supported yet"},
    {"jetstream { key: x }", MR_E_UNSUPPORTED,
     "t.conf:1:13: \"key\": JetStream encryption at rest is not supported yet"},
    {"websocket { jwt_cookie: x }", MR_E_UNSUPPORTED,
     "t.conf:1:13: \"jwt_cookie\": JWT authentication is not supported yet"},
    {"accounts { A { exports: [{stream: x, account_token_position: 2}] } }", MR_E_UNSUPPORTED,
     "t.conf:1:38: \"account_token_position\": account token position in exports is not "
     "supported yet"},
    /* Authorization. */
    {"authorization { user: a, password: b, token: c }", MR_E_INVAL,
     "t.conf:1:15: Cannot have a user/pass and token"},
    {"authorization { user: a, users: [] }", MR_E_INVAL,
     "t.conf:1:15: Can not have a single user/pass and a users array"},
    {"authorization { token: t, users: [{user: a}] }", MR_E_INVAL,
     "t.conf:1:15: Can not have a token and a users array"},
    {"authorization { users: [{user: a, password: b}, {user: a, password: c}] }", MR_E_INVAL,
     "t.conf:1:49: Duplicate user \"a\" detected"},
    {"authorization { users: [{password: b}] }", MR_E_INVAL,
     "t.conf:1:25: User entry requires a user"},
    {"authorization { users: {user: a} }", MR_E_INVAL,
     "t.conf:1:24: Expected users field to be an array, got a map"},
    {"authorization { users: [a] }", MR_E_INVAL,
     "t.conf:1:25: Expected user entry to be a map/struct, got a string"},
    {"authorization { users: [{user: a, allowed_connection_types: [\"FOO\"]}] }", MR_E_INVAL,
     "t.conf:1:61: unknown connection type \"FOO\""},
    {"authorization { timeout: \"x\" }", MR_E_INVAL,
     "t.conf:1:26: error parsing authorization config, 'timeout' time: invalid duration \"x\""},
    {"authorization { timeout: true }", MR_E_INVAL,
     "t.conf:1:26: error parsing authorization config, 'timeout' wrong type"},
    /* Permissions. */
    {"authorization { users: [{user: a, permissions: {publish: 1}}] }", MR_E_INVAL,
     "t.conf:1:58: Expected subject permissions to be a subject, or array of subjects, got an "
     "integer"},
    {"authorization { users: [{user: a, permissions: {publish: \"a..b\"}}] }", MR_E_INVAL,
     "t.conf:1:58: subject \"a..b\" is not a valid subject"},
    {"authorization { users: [{user: a, permissions: {sub: \"a b c\"}}] }", MR_E_INVAL,
     "t.conf:1:54: subject \"a b c\" is not a valid subject"},
    {"authorization { users: [{user: a, permissions: {sub: \"a.> q\"}}] }", 0, NULL},
    {"authorization { users: [{user: a, permissions: {sub: \"a.>.b q\"}}] }", MR_E_INVAL,
     "t.conf:1:54: subject \"a.>.b\" is not a valid subject"},
    {"authorization { users: [{user: a, permissions: {publish: [x, 1]}}] }", MR_E_INVAL,
     "t.conf:1:62: Subject in permissions array cannot be cast to string"},
    {"authorization { users: [{user: a, permissions: {publish: {allow: \"a\", foo: 1}}}] }",
     MR_E_INVAL,
     "t.conf:1:71: Unknown field name \"foo\" parsing subject permissions, only 'allow' or 'deny' "
     "are permitted"},
    {"authorization { users: [{user: a, permissions: {pub: \"a\", foo: 1}}] }", MR_E_INVAL,
     "t.conf:1:59: Unknown field \"foo\" parsing permissions"},
    {"authorization { users: [{user: a, permissions: \"x\"}] }", MR_E_INVAL,
     "t.conf:1:48: Expected permissions to be a map/struct, got a string"},
    {"authorization { users: [{user: a, permissions: {allow_responses: 1}}] }", MR_E_INVAL,
     "t.conf:1:66: error parsing response permissions, expected a boolean or a map"},
    {"authorization { users: [{user: a, permissions: {allow_responses: {expires: 5}}}] }",
     MR_E_INVAL, "t.conf:1:76: error parsing expires, not a duration string"},
    {"authorization { users: [{user: a, permissions: {allow_responses: {foo: 5}}}] }", MR_E_INVAL,
     "t.conf:1:67: Unknown field \"foo\" parsing permissions"},
    /* Accounts. */
    {"accounts { $G { } }", MR_E_INVAL, "t.conf:1:12: \"$G\" is a Reserved Account"},
    {"accounts [ A, A ]", MR_E_INVAL, "t.conf:1:15: Duplicate Account Entry: A"},
    {"accounts { A: 1 }", MR_E_INVAL, "t.conf:1:15: Expected map entries for accounts"},
    {"accounts { A { users: [{user: a}] } }\nauthorization { user: b, password: c }", MR_E_INVAL,
     "t.conf:1:23: Can not have a single user/pass and accounts"},
    {"accounts { A { users: [{user: a}] } }\nauthorization { token: c }", MR_E_INVAL,
     "t.conf:1:23: Can not have a token and accounts"},
    {"accounts { A { users: [{user: a}] }, B { users: [{user: a}] } }", MR_E_INVAL,
     "t.conf:1:50: Duplicate user \"a\" detected"},
    {"accounts { A { limits: { foo: 1 } } }", MR_E_INVAL,
     "t.conf:1:26: Unknown field \"foo\" parsing account limits"},
    {"accounts { A { exports: x } }", MR_E_INVAL,
     "t.conf:1:25: Exports should be an array, got a string"},
    {"accounts { A { exports: [x] } }", MR_E_INVAL,
     "t.conf:1:26: Export Items should be a map with type entry, got a string"},
    {"accounts { A { exports: [{stream: \"a b\"}] } }", MR_E_INVAL,
     "t.conf:1:35: Error adding stream export \"a b\": invalid subject"},
    {"accounts { A { exports: [{stream: x, service: y}] } }", MR_E_INVAL,
     "t.conf:1:47: Detected service \"y\" but already saw a stream"},
    {"accounts { A { exports: [{stream: x, response_type: single}] } }", MR_E_INVAL,
     "t.conf:1:53: Detected response directive on non-service"},
    {"accounts { A { exports: [{service: x, response_type: foo}] } }", MR_E_INVAL,
     "t.conf:1:54: Unknown response type: \"foo\""},
    {"accounts { A { exports: [{service: x, response_threshold: 5}] } }", MR_E_INVAL,
     "t.conf:1:59: Expected response threshold to be a parseable time duration, got an integer"},
    {"accounts { A { exports: [{accounts: [B]}] } }", MR_E_INVAL,
     "t.conf:1:26: Export Items need a \"stream\" or a \"service\""},
    {"accounts { A { exports: [{stream: \"a.>\", accounts: [C]}] } }", MR_E_INVAL,
     "t.conf:1:26: \"C\" account not defined for stream export"},
    {"accounts { A { }, B { imports: [{stream: {account: Z, subject: \"b.>\"}}] } }", MR_E_INVAL,
     "t.conf:1:33: \"Z\" account not defined for stream import"},
    {"accounts { A { exports: [{stream: \"a.>\", accounts: [B]}] }, B { imports: [{stream: "
     "{account: A, subject: \"b.>\"}}] } }",
     MR_E_INVAL, "t.conf:1:75: Error adding stream import \"b.>\": stream import not authorized"},
    {"accounts { A { exports: [{stream: \"a.>\", accounts: [C]}] }, B { imports: [{stream: "
     "{account: A, subject: \"a.x\"}}] }, C {} }",
     MR_E_INVAL, "t.conf:1:75: Error adding stream import \"a.x\": stream import not authorized"},
    {"accounts { A { exports: [{stream: \"a.>\"}] }, B { imports: [{service: {account: A, "
     "subject: \"a.x\"}}] } }",
     MR_E_INVAL, "t.conf:1:60: Error adding service import \"a.x\": service import not authorized"},
    {"accounts { A { exports: [{service: \"a.>\"}] }, B { imports: [{service: {account: A, "
     "subject: \"a.x\"}, to: y}, {service: {account: A, subject: \"a.z\"}, to: y}] } }",
     MR_E_INVAL,
     "t.conf:1:109: Duplicate service import subject \"y\", previously used in import for account "
     "\"A\", subject \"a.x\""},
    {"accounts { A { exports: [{stream: x}] }, B { imports: [{stream: {account: A, subject: x}, "
     "prefix: p, to: q}] } }",
     MR_E_INVAL, "t.conf:1:106: Stream import can not have a 'prefix' and a 'to' property"},
    {"accounts { B { imports: [{stream: {account: A}}] } }", MR_E_INVAL,
     "t.conf:1:35: Expect an account name and a subject"},
    {"accounts { B { imports: [{stream: A}] } }", MR_E_INVAL,
     "t.conf:1:35: Stream entry should be an account map, got a string"},
    {"accounts { A { exports: [{stream: x}] }, B { imports: [{stream: {account: A, subject: x}, "
     "prefix: \"p.*\"}] } }",
     MR_E_INVAL, "t.conf:1:99: invalid import prefix \"p.*\""},
    {"accounts { A { jetstream: maybe } }", MR_E_INVAL,
     "t.conf:1:27: Expected 'enabled' or 'disabled' for string value, got 'maybe'"},
    {"accounts { A { jetstream: { max_mem: \"1G\" } } }", MR_E_INVAL,
     "t.conf:1:38: Expected a parseable size for \"max_mem\", got 1G"},
    {"system_account: X", MR_E_INVAL,
     "t.conf:1:17: error resolving system account \"X\": account missing"},
    {"system_account: 1", MR_E_INVAL, "t.conf:1:17: system account name must be a string"},
    {"no_auth_user: z", MR_E_INVAL,
     "t.conf:1:15: no_auth_user: \"z\" present, but users are not defined"},
    {"authorization { user: z, password: p }\nno_auth_user: z", MR_E_INVAL,
     "t.conf:2:15: no_auth_user: \"z\" present, but users are not defined"},
    {"accounts { A { users: [{user: a}] } }\nno_auth_user: z", MR_E_INVAL,
     "t.conf:2:15: no_auth_user: \"z\" not present as user in authorization block or account "
     "configuration"},
    /* TLS. */
    {"tls { cert_file: a.pem }", MR_E_INVAL, "t.conf:1:5: missing 'key_file' in TLS configuration"},
    {"tls { key_file: a.key }", MR_E_INVAL, "t.conf:1:5: missing 'cert_file' in TLS configuration"},
    {"tls { verify: true }", MR_E_INVAL, "t.conf:1:5: missing 'cert_file' in TLS configuration"},
    {"tls { cert_file: a, key_file: b, foo: 1 }", MR_E_INVAL,
     "t.conf:1:34: error parsing tls config, unknown field [\"foo\"]"},
    {"tls { cert_file: 1 }", MR_E_INVAL,
     "t.conf:1:18: error parsing tls config, expected 'cert_file' to be filename"},
    {"tls { verify: 1 }", MR_E_INVAL,
     "t.conf:1:15: error parsing tls config, expected 'verify' to be a boolean"},
    {"tls { cert_file: a, key_file: b, handshake_first: maybe }", MR_E_INVAL,
     "t.conf:1:51: field \"handshake_first\"'s value \"maybe\" is invalid"},
    {"tls { cert_file: a, key_file: b, timeout: true }", MR_E_INVAL,
     "t.conf:1:43: error parsing tls config, 'timeout' wrong type"},
    /* Cluster and gateway. */
    {"cluster: 1", MR_E_INVAL, "t.conf:1:10: Expected map to define cluster, got an integer"},
    {"cluster { name: \"a b\" }", MR_E_INVAL, "t.conf:1:17: cluster name cannot contain spaces"},
    {"cluster { routes: \"nats://a:1\" }", MR_E_INVAL,
     "t.conf:1:19: expected \"routes\" to be an array of URLs, got a string"},
    {"cluster { routes: [\"a:1\"] }", MR_E_INVAL, "t.conf:1:20: error parsing route url [\"a:1\"]"},
    {"cluster { authorization { users: [] } }", MR_E_INVAL,
     "t.conf:1:25: Cluster authorization does not allow multiple users"},
    {"cluster { authorization { token: x } }", MR_E_INVAL,
     "t.conf:1:25: Cluster authorization does not support tokens"},
    {"cluster { permissions: { allow_responses: true } }", MR_E_INVAL,
     "t.conf:1:24: Cluster permissions do not support dynamic responses"},
    {"cluster { compression: foo }", MR_E_INVAL,
     "t.conf:1:24: unsupported compression mode \"foo\""},
    {"cluster { compression: { mode: s2_auto, rtt: [\"50ms\", \"10ms\"] } }", MR_E_INVAL,
     "t.conf:1:46: RTT threshold values should be in ascending order"},
    {"cluster { port: 70000 }", MR_E_INVAL,
     "t.conf:1:17: invalid value 70000 for \"port\": must be between -1 and 65535"},
    {"gateway { port: 7222 }", MR_E_INVAL, "t.conf:1:9: gateway has no name"},
    {"gateway { name: a }", MR_E_INVAL,
     "t.conf:1:9: gateway \"a\" has no port specified (select -1 for random port)"},
    {"gateway { name: a, port: 7222, gateways: [{url: \"nats://x:1\"}] }", MR_E_INVAL,
     "t.conf:1:43: gateway in the list 0 has no name"},
    {"gateway { name: a, port: 7222, gateways: [{name: b}] }", MR_E_INVAL,
     "t.conf:1:43: gateway \"b\" has no URL"},
    {"gateway { name: a, port: 7222, gateways: {name: b} }", MR_E_INVAL,
     "t.conf:1:42: Expected gateways field to be an array, got a map"},
    {"gateway { name: a, port: 7222, authorization { users: [] } }", MR_E_INVAL,
     "t.conf:1:46: Gateway authorization does not allow multiple users"},
    {"cluster { name: x }\ngateway { name: a, port: 7222 }", MR_E_INVAL,
     "t.conf:2:1: cluster name conflicts between cluster and gateway definitions"},
    /* Leaf nodes. */
    {"leafnodes { remotes: [{url: \"nats://a:1\", account: Z}] }", MR_E_INVAL,
     "t.conf:1:1: cannot find local account \"Z\" specified in leafnode remote"},
    {"leafnodes { authorization { account: Z } }", MR_E_INVAL,
     "t.conf:1:27: cannot find local account \"Z\" specified in leafnode authorization"},
    {"leafnodes { min_version: \"2.7.0\" }", MR_E_INVAL,
     "t.conf:1:26: the minimum version should be at least 2.8.0"},
    {"leafnodes { min_version: \"two\" }", MR_E_INVAL,
     "t.conf:1:26: invalid leafnode's minimum version: invalid semver"},
    {"leafnodes { authorization { user: a, users: [{user: b}] } }", MR_E_INVAL,
     "t.conf:1:27: can not have a single user/pass and a users array"},
    {"leafnodes { authorization { users: [{user: b}, {user: b}] } }", MR_E_INVAL,
     "t.conf:1:48: duplicate user \"b\" detected in leafnode authorization"},
    {"leafnodes { port: 7422 }\ngateway { name: a, port: 7222 }", MR_E_INVAL,
     "t.conf:1:1: leaf nodes and gateways (both being defined) require a system account to also "
     "be configured"},
    {"leafnodes { remotes: [{urls: [\"nats://a:1\", \"ws://b:2\"]}] }", MR_E_INVAL,
     "t.conf:1:23: remote leaf node configuration cannot have a mix of websocket and "
     "non-websocket urls"},
    {"leafnodes { remotes: [{account: A}] }", MR_E_INVAL,
     "t.conf:1:23: remote leafnode has no URL"},
    {"leafnodes { remotes: {url: x} }", MR_E_INVAL,
     "t.conf:1:22: Expected remotes field to be an array, got a map"},
    /* JetStream and websocket. */
    {"jetstream: maybe", MR_E_INVAL,
     "t.conf:1:12: Expected 'enabled' or 'disabled' for string value, got 'maybe'"},
    {"jetstream: 1", MR_E_INVAL,
     "t.conf:1:12: Expected map, bool or string to define JetStream, got an integer"},
    {"jetstream { max_mem: \"1GB\" }", MR_E_INVAL,
     "t.conf:1:22: max_mem_store strconv.ParseInt: parsing \"1G\": invalid syntax"},
    {"jetstream { max_file: \"1X\" }", MR_E_INVAL,
     "t.conf:1:23: max_file_store sizes defined as strings must end in K, M, G, T"},
    {"jetstream { domain: \"a b\" }", MR_E_INVAL,
     "t.conf:1:21: invalid domain name: derived \"$JS.a b.API.>\" is not a valid subject"},
    {"jetstream { store_dir: x }\nstore_dir: y", MR_E_INVAL,
     "t.conf:2:12: Duplicate 'store_dir' configuration"},
    {"jetstream { strict: 1 }", MR_E_INVAL,
     "t.conf:1:21: Expected 'true' or 'false' for bool "
     "value"},
    {"jetstream { limits { foo: 1 } }", MR_E_INVAL, "t.conf:1:22: unknown field \"foo\""},
    {"websocket { port: 8080 }", MR_E_INVAL, "t.conf:1:11: websocket requires TLS configuration"},
    {"websocket { handshake_timeout: true, no_tls: true }", MR_E_INVAL,
     "t.conf:1:32: error parsing handshake timeout: unsupported type a boolean"},
    {"authorization { users: [{user: a}] }\nwebsocket { port: 8080, no_tls: true, "
     "authorization { user: x } }",
     MR_E_INVAL,
     "t.conf:2:1: websocket authentication username not compatible with presence of "
     "users/nkeys"},
};

START_TEST(errors_name_the_place_and_the_reason)
{
    const struct bad_case *bc = &bad_cases[_i];
    struct mr_config c;
    struct warns w;
    char err[MR_CONF_MSG_MAX] = "";
    warns_init(&w);
    int rc = load(bc->text, &c, &w, err);
    ck_assert_msg(rc == bc->rc, "<<%s>>: rc %d (%s), want %d", bc->text, rc, err, bc->rc);
    if (bc->err != NULL) {
        ck_assert_msg(strcmp(err, bc->err) == 0, "<<%s>>:\n got: %s\nwant: %s", bc->text, err,
                      bc->err);
        /* A failed load leaves nothing allocated and the defaults in place. */
        ck_assert_ptr_null(c.auth);
        ck_assert_int_eq(c.server.port, 4222);
    }
    done(&c, &w);
}
END_TEST

/* ---------------------------------------------------------------------------------
 * The mission's example configs
 * --------------------------------------------------------------------------------- */

START_TEST(mission_supercluster_regions_load)
{
    for (int region = 1; region <= 3; region++) {
        struct mr_config c;
        struct warns w;
        char err[MR_CONF_MSG_MAX] = "";
        char rel[64];
        char name[16];
        snprintf(rel, sizeof(rel), "mission/supercluster/region%d.conf", region);
        snprintf(name, sizeof(name), "region%d", region);
        warns_init(&w);
        int rc = load_file(rel, &c, &w, err);
        ck_assert_msg(rc == 0, "%s: %s", rel, err);
        ck_assert_int_eq(w.count, 0);
        ck_assert_int_eq(c.server.port, 4222);
        ck_assert(c.cluster.present);
        ck_assert_str_eq(c.cluster.name, name);
        ck_assert_str_eq(c.cluster.host, "0.0.0.0");
        ck_assert_int_eq(c.cluster.port, 6222);
        ck_assert_uint_eq(c.cluster.routes.count, 3);
        ck_assert(c.gateway.present);
        ck_assert_str_eq(c.gateway.name, name);
        ck_assert_int_eq(c.gateway.port, 7222);
        ck_assert_uint_eq(c.gateway.gateways_count, 3);
        ck_assert_str_eq(c.gateway.gateways[2].name, "region3");
        ck_assert_str_eq(c.gateway.gateways[2].urls.items[0], "nats://region3-gateway:7222");
        ck_assert(c.jetstream.present);
        ck_assert(c.jetstream.enabled);
        ck_assert_str_eq(c.jetstream.store_dir, "/data/jetstream");
        ck_assert_int_eq(c.jetstream.max_memory_store, 1LL << 30);
        ck_assert_int_eq(c.jetstream.max_file_store, 10LL << 30);
        ck_assert_ptr_null(c.auth);
        done(&c, &w);
    }
}
END_TEST

START_TEST(mission_leafnode_hub_and_leaf_load)
{
    struct mr_config c;
    struct warns w;
    char err[MR_CONF_MSG_MAX] = "";
    warns_init(&w);
    int rc = load_file("mission/leafnode/server.hub.conf", &c, &w, err);
    ck_assert_msg(rc == 0, "hub: %s", err);
    ck_assert_int_eq(w.count, 0);
    ck_assert_str_eq(c.server.server_name, "hub");
    ck_assert_str_eq(c.auth->system_account, "SYS");
    ck_assert_uint_eq(c.auth->accounts_count, 2);
    ck_assert_uint_eq(c.auth->users_count, 2);
    ck_assert_str_eq(c.auth->users[1].user, "leaf");
    ck_assert_str_eq(c.auth->users[1].account, "LEAF");
    ck_assert(c.auth->accounts[1].jetstream);
    ck_assert(c.leafnodes.present);
    ck_assert_int_eq(c.leafnodes.port, 7422);
    ck_assert_str_eq(c.jetstream.domain, "hub");
    done(&c, &w);

    warns_init(&w);
    rc = load_file("mission/leafnode/server.leaf.conf", &c, &w, err);
    ck_assert_msg(rc == 0, "leaf: %s", err);
    ck_assert_int_eq(w.count, 0);
    ck_assert_str_eq(c.server.server_name, "leaf-node");
    ck_assert_str_eq(c.jetstream.domain, "leaf");
    ck_assert_uint_eq(c.leafnodes.remotes_count, 1);
    ck_assert_str_eq(c.leafnodes.remotes[0].account, "LEAF");
    ck_assert_str_eq(c.leafnodes.remotes[0].urls.items[0], "nats://leaf:leaf@0.0.0.0:7422");
    ck_assert_int_eq(c.leafnodes.port, 0);
    done(&c, &w);

    warns_init(&w);
    rc = load_file("mission/leafnode/accounts.conf", &c, &w, err);
    ck_assert_msg(rc == 0, "accounts: %s", err);
    done(&c, &w);
}
END_TEST

/* ---------------------------------------------------------------------------------
 * Flags over the file, deinit
 * --------------------------------------------------------------------------------- */

START_TEST(flags_override_the_file)
{
    struct mr_config c;
    struct warns w;
    char err[MR_CONF_MSG_MAX] = "";
    load_ok("host: 10.0.0.1\nport: 4000\nserver_name: file\ndebug: true\ntrace: true\n"
            "logtime: true\nlog_file: f.log\npid_file: f.pid\nhttp_port: 8000",
            &c, &w);
    struct mr_conf_server_flags f = {
        .host = "127.0.0.1",
        .port_set = true,
        .port = 4001,
        .server_name = "flag",
        .debug_set = true,
        .debug = false,
        .logtime_set = true,
        .logtime = false,
        .log_file = "g.log",
        .http_port_set = true,
        .http_port = 8001,
    };
    ck_assert_int_eq(mr_conf_server_apply_flags(&c, &f, on_warn, &w, err, sizeof(err)), 0);
    ck_assert_str_eq(c.server.host, "127.0.0.1");
    ck_assert_int_eq(c.server.port, 4001);
    ck_assert_str_eq(c.server.server_name, "flag");
    ck_assert(!c.server.debug);
    ck_assert(c.server.trace); /* not given: the file's value stays */
    ck_assert(!c.logtime);
    ck_assert_str_eq(c.log_file, "g.log");
    ck_assert_str_eq(c.pid_file, "f.pid");
    ck_assert_int_eq(c.server.http_port, 8001);
    done(&c, &w);
}
END_TEST

START_TEST(flag_auth_over_file_auth)
{
    struct mr_config c;
    struct warns w;
    char err[MR_CONF_MSG_MAX] = "";
    /* No auth in the file: the flags fill the plain fields. */
    load_ok("port: 4000", &c, &w);
    struct mr_conf_server_flags f = {.user = "u", .pass = "p"};
    ck_assert_int_eq(mr_conf_server_apply_flags(&c, &f, on_warn, &w, err, sizeof(err)), 0);
    ck_assert_ptr_null(c.auth);
    ck_assert_str_eq(c.server.user, "u");
    ck_assert_str_eq(c.server.pass, "p");
    done(&c, &w);
    /* A single user in the file: --user/--pass replace it. */
    load_ok("authorization { user: a, password: b, timeout: 1 }", &c, &w);
    f = (struct mr_conf_server_flags){.pass = "p2"};
    ck_assert_int_eq(mr_conf_server_apply_flags(&c, &f, on_warn, &w, err, sizeof(err)), 0);
    ck_assert_str_eq(c.auth->users[0].user, "a");
    ck_assert_str_eq(c.auth->users[0].password, "p2");
    done(&c, &w);
    /* Only a timeout in the file: --user makes the single user. */
    load_ok("authorization { timeout: 1 }", &c, &w);
    f = (struct mr_conf_server_flags){.user = "x", .pass = "y"};
    ck_assert_int_eq(mr_conf_server_apply_flags(&c, &f, on_warn, &w, err, sizeof(err)), 0);
    ck_assert(c.auth_single_user);
    ck_assert_uint_eq(c.auth->users_count, 1);
    ck_assert_str_eq(c.auth->users[0].user, "x");
    ck_assert_ptr_eq(c.server.auth, c.auth);
    done(&c, &w);
    /* A users list: nats-server ignores --user/--pass/--auth. */
    load_ok("authorization { users: [{user: a, password: b}] }", &c, &w);
    f = (struct mr_conf_server_flags){.user = "x", .pass = "y", .token = "t"};
    ck_assert_int_eq(mr_conf_server_apply_flags(&c, &f, on_warn, &w, err, sizeof(err)), 0);
    ck_assert_str_eq(c.auth->users[0].user, "a");
    ck_assert_ptr_null(c.auth->token);
    ck_assert_int_eq(w.count, 1);
    done(&c, &w);
    /* --auth over a file token. */
    load_ok("authorization { token: a }", &c, &w);
    f = (struct mr_conf_server_flags){.token = "b"};
    ck_assert_int_eq(mr_conf_server_apply_flags(&c, &f, on_warn, &w, err, sizeof(err)), 0);
    ck_assert_str_eq(c.auth->token, "b");
    f = (struct mr_conf_server_flags){.user = "u"};
    ck_assert_int_eq(mr_conf_server_apply_flags(&c, &f, on_warn, &w, err, sizeof(err)), MR_E_INVAL);
    ck_assert_str_eq(err, "Cannot have a user/pass and token");
    done(&c, &w);
}
END_TEST

START_TEST(tls_flags_replace_the_file_block)
{
    struct mr_config c;
    struct warns w;
    char err[MR_CONF_MSG_MAX] = "";
    load_ok("tls { cert_file: f.pem, key_file: f.key, ca_file: fca.pem, verify: true }", &c, &w);
    struct mr_conf_server_flags f = {.tls_verify_set = true, .tls_verify = true};
    ck_assert_int_eq(mr_conf_server_apply_flags(&c, &f, on_warn, &w, err, sizeof(err)), MR_E_INVAL);
    ck_assert_str_eq(err, "TLS Server certificate must be present and valid");
    f = (struct mr_conf_server_flags){.tls_set = true, .tls = true, .tls_cert = "c.pem"};
    ck_assert_int_eq(mr_conf_server_apply_flags(&c, &f, on_warn, &w, err, sizeof(err)), MR_E_INVAL);
    ck_assert_str_eq(err, "TLS Server private key must be present and valid");
    f = (struct mr_conf_server_flags){.tls_cert = "c.pem", .tls_key = "c.key"};
    ck_assert_int_eq(mr_conf_server_apply_flags(&c, &f, on_warn, &w, err, sizeof(err)), 0);
    ck_assert(c.server.tls.enabled);
    ck_assert_str_eq(c.server.tls.cert_file, "c.pem");
    ck_assert_str_eq(c.server.tls.ca_file, "");
    ck_assert(!c.server.tls.verify);
    f = (struct mr_conf_server_flags){.tls_set = true, .tls = false, .tls_cert = "c.pem"};
    ck_assert_int_eq(mr_conf_server_apply_flags(&c, &f, on_warn, &w, err, sizeof(err)), 0);
    ck_assert(!c.server.tls.enabled);
    done(&c, &w);
}
END_TEST

START_TEST(deinit_frees_and_reinitialises)
{
    struct mr_config c;
    struct warns w;
    load_ok(accounts_conf, &c, &w);
    mr_conf_server_deinit(&c);
    ck_assert_ptr_null(c.auth);
    ck_assert_ptr_null(c.server.auth);
    ck_assert_int_eq(c.server.port, 4222);
    ck_assert_uint_eq(c.account_jetstream_count, 0);
    mr_conf_server_deinit(&c); /* twice is harmless */
    warns_deinit(&w);
    mr_auth_opts_free(NULL);
}
END_TEST

static Suite *conf_server_suite(void)
{
    Suite *s = suite_create("conf_server");
    TCase *top = tcase_create("top_level");
    tcase_set_timeout(top, 30);
    tcase_add_test(top, empty_config_has_nats_server_defaults);
    tcase_add_test(top, listen_host_and_port_forms);
    tcase_add_test(top, limits_and_aliases);
    tcase_add_test(top, times_logging_and_files);
    tcase_add_test(top, legacy_integer_durations_warn_with_position);
    tcase_add_test(top, monitoring_port_forms);
    tcase_add_test(top, last_duplicate_wins_and_variables_are_not_unknown);
    tcase_add_test(top, accepted_but_ignored_keys_give_notices);
    tcase_add_test(top, client_tls_block);
    suite_add_tcase(s, top);

    TCase *auth = tcase_create("authorization");
    tcase_set_timeout(auth, 30);
    tcase_add_test(auth, single_user_becomes_users_0);
    tcase_add_test(auth, token_auth);
    tcase_add_test(auth, long_authorization_timeout_warns);
    tcase_add_test(auth, users_with_every_permission_form);
    tcase_add_test(auth, queue_entries_are_normalised);
    tcase_add_test(auth, allow_responses_forms);
    tcase_add_test(auth, default_permissions_apply_to_users_without_their_own);
    tcase_add_test(auth, users_restricted_to_other_connection_types_are_left_out);
    tcase_add_test(auth, accounts_users_exports_imports);
    tcase_add_test(auth, accounts_array_form_and_mappings_notice);
    tcase_add_test(auth, account_names_keep_case);
    suite_add_tcase(s, auth);

    TCase *blocks = tcase_create("later_feature_blocks");
    tcase_set_timeout(blocks, 30);
    tcase_add_test(blocks, cluster_every_key);
    tcase_add_test(blocks, cluster_warnings);
    tcase_add_test(blocks, gateway_every_key);
    tcase_add_test(blocks, leafnodes_every_key);
    tcase_add_test(blocks, jetstream_forms);
    tcase_add_test(blocks, websocket_every_key);
    suite_add_tcase(s, blocks);

    TCase *aliases = tcase_create("aliases");
    tcase_set_timeout(aliases, 60);
    tcase_add_loop_test(aliases, each_alias_loads_as_its_canonical_key, 0,
                        (int)(sizeof(alias_cases) / sizeof(alias_cases[0])));
    suite_add_tcase(s, aliases);

    TCase *errors = tcase_create("errors");
    tcase_set_timeout(errors, 60);
    tcase_add_loop_test(errors, errors_name_the_place_and_the_reason, 0,
                        (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    suite_add_tcase(s, errors);

    TCase *mission = tcase_create("mission_configs");
    tcase_set_timeout(mission, 30);
    tcase_add_test(mission, mission_supercluster_regions_load);
    tcase_add_test(mission, mission_leafnode_hub_and_leaf_load);
    suite_add_tcase(s, mission);

    TCase *flags = tcase_create("flags");
    tcase_set_timeout(flags, 30);
    tcase_add_test(flags, flags_override_the_file);
    tcase_add_test(flags, flag_auth_over_file_auth);
    tcase_add_test(flags, tls_flags_replace_the_file_block);
    tcase_add_test(flags, deinit_frees_and_reinitialises);
    suite_add_tcase(s, flags);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(conf_server_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
