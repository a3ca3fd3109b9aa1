/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for accounts, authentication and permissions in the server core
 * (core/server/account.c, auth.c) on the sim env: account isolation, stream and
 * service imports, users with plain and bcrypt passwords, token, no_auth_user,
 * publish/subscribe allow and deny lists with nats-server's -ERR texts,
 * allow_responses, and per-account connection limits.
 */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/unit/fixture_server.h"

/* ------------------------------------------------------------------------------------
 * A configuration built by hand, as the config loader would build it.
 */

static char *subj_pub_allow[] = {"foo.>", "svc.*"};
static char *subj_pub_deny[] = {"foo.secret"};
static char *subj_sub_deny[] = {"bar", "news.secret"};
static char *subj_sub_allow_q[] = {"work.* workers", "news.*", "_INBOX.>", "bar", "foo.>"};
static char *subj_nothing[] = {"nothing"};

static struct mr_permissions perms_restricted = {
    .pub_allow = {subj_pub_allow, 2},
    .pub_deny = {subj_pub_deny, 1},
    .sub_allow = {subj_sub_allow_q, 5},
    .sub_deny = {subj_sub_deny, 2},
};

static struct mr_permissions perms_responder = {
    .pub_allow = {subj_nothing, 1},
    .allow_responses = true,
};

static char *exp_accounts_b[] = {"B"};

static struct mr_export_opts exports_a[] = {
    {.service = false, .subject = "puba.>"},
    {.service = true, .subject = "req.>", .accounts = exp_accounts_b, .accounts_count = 1},
};

static struct mr_import_opts imports_b[] = {
    {.service = false, .account = "A", .subject = "puba.>", .prefix = "from_a"},
    {.service = true, .account = "A", .subject = "req.x", .to = "svc.x"},
};

static struct mr_account_opts accounts[] = {
    {.name = "A", .exports = exports_a, .exports_count = 2, .max_connections = -1,
     .max_subscriptions = -1, .max_payload = -1},
    {.name = "B", .imports = imports_b, .imports_count = 2, .max_connections = -1,
     .max_subscriptions = -1, .max_payload = -1},
    {.name = "SMALL", .max_connections = 1, .max_subscriptions = 2, .max_payload = 8},
};

static char bcrypt_hash[128];

static struct mr_user_opts users[] = {
    {.user = "a", .password = "pa", .account = "A"},
    {.user = "b", .password = "pb", .account = "B"},
    {.user = "r", .password = "pr", .account = "A", .permissions = &perms_restricted},
    {.user = "resp", .password = "pr", .account = "A", .permissions = &perms_responder},
    {.user = "crypt", .password = bcrypt_hash, .account = "A"},
    {.user = "anon", .password = "x", .account = "B"},
    {.user = "s1", .password = "s", .account = "SMALL"},
    {.user = "s2", .password = "s", .account = "SMALL"},
};

static struct mr_auth_opts auth = {
    .users = users,
    .users_count = sizeof(users) / sizeof(users[0]),
    .accounts = accounts,
    .accounts_count = sizeof(accounts) / sizeof(accounts[0]),
    .no_auth_user = "anon",
};

static void with_accounts(struct mr_server_opts *o)
{
    if (bcrypt_hash[0] == '\0') {
        char salt[64];
        ck_assert_ptr_nonnull(crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof(salt)));
        struct crypt_data data;
        memset(&data, 0, sizeof(data));
        const char *h = crypt_rn("opensesame", salt, &data, (int)sizeof(data));
        ck_assert_ptr_nonnull(h);
        snprintf(bcrypt_hash, sizeof(bcrypt_hash), "%s", h);
    }
    o->auth = &auth;
}

static struct sim_client *login(struct fx *f, const char *name, const char *user,
                                const char *pass)
{
    char *json = g_strdup_printf("{\"verbose\":false,\"pedantic\":false,\"headers\":true,"
                                 "\"user\":\"%s\",\"pass\":\"%s\"}",
                                 user, pass);
    struct sim_client *c = client(f, name, json);
    g_free(json);
    return c;
}

/* ------------------------------------------------------------------------------------
 * Accounts and imports
 */

START_TEST(accounts_are_isolated)
{
    struct fx f;
    fx_start(&f, 1, with_accounts);
    struct sim_client *a = login(&f, "a", "a", "pa");
    struct sim_client *b = login(&f, "b", "b", "pb");
    say(a, "SUB foo 1\r\n");
    say(b, "SUB foo 1\r\n");
    barrier(&f, a);
    barrier(&f, b);
    sim_client_clear(a);
    sim_client_clear(b);
    say(a, "PUB foo 2\r\nhi\r\n");
    barrier(&f, a);
    barrier(&f, b);
    assert_received(a, "MSG foo 1 2\r\nhi\r\nPONG\r\n");
    assert_received(b, "PONG\r\n");
    fx_finish(&f);
}
END_TEST

START_TEST(stream_import_delivers_with_prefix)
{
    struct fx f;
    fx_start(&f, 1, with_accounts);
    struct sim_client *a = login(&f, "a", "a", "pa");
    struct sim_client *b = login(&f, "b", "b", "pb");
    say(b, "SUB from_a.> 7\r\n");
    barrier(&f, b);
    sim_client_clear(b);
    say(a, "PUB puba.x 3\r\none\r\nPUB other 3\r\ntwo\r\n");
    barrier(&f, a);
    barrier(&f, b);
    assert_received(b, "MSG from_a.puba.x 7 3\r\none\r\nPONG\r\n");
    fx_finish(&f);
}
END_TEST

START_TEST(service_import_answers_requests_once)
{
    struct fx f;
    fx_start(&f, 1, with_accounts);
    struct sim_client *a = login(&f, "a", "a", "pa");
    struct sim_client *b = login(&f, "b", "b", "pb");
    say(a, "SUB req.x 1\r\n");
    say(b, "SUB _INBOX.b.* 9\r\n");
    barrier(&f, a);
    barrier(&f, b);
    sim_client_clear(a);
    say(b, "PUB svc.x _INBOX.b.1 4\r\nping\r\n");
    ck_assert(sim_client_wait_for(a, "\r\nping\r\n", after(&f, SEC)));
    /* The responder sees the exporter's subject and a mapped reply subject. */
    char *got = received_str(a);
    ck_assert_msg(g_str_has_prefix(got, "MSG req.x 1 _R_."), "got %s", got);
    char reply[64];
    ck_assert_int_eq(sscanf(got, "MSG req.x 1 %63s 4", reply), 1);
    g_free(got);
    char *answer = g_strdup_printf("PUB %s 4\r\npong\r\nPUB %s 5\r\nagain\r\n", reply, reply);
    say(a, answer);
    g_free(answer);
    barrier(&f, a);
    barrier(&f, b);
    /* One response (response_type single): the second is dropped. */
    ck_assert_uint_eq(count(b, "MSG _INBOX.b.1 9 4\r\npong\r\n"), 1);
    ck_assert_uint_eq(count(b, "again"), 0);
    fx_finish(&f);
}
END_TEST

START_TEST(service_import_is_refused_to_other_accounts)
{
    static struct mr_import_opts bad_import[] = {
        {.service = true, .account = "A", .subject = "req.x"},
    };
    static struct mr_account_opts accs[] = {
        {.name = "A", .exports = exports_a, .exports_count = 2, .max_connections = -1},
        {.name = "C", .imports = bad_import, .imports_count = 1, .max_connections = -1},
    };
    static struct mr_auth_opts a = {.accounts = accs, .accounts_count = 2};
    struct sim_world_opts wo;
    sim_world_opts_default(&wo);
    struct sim_world *w = sim_world_create(&wo);
    struct sim_host *h = sim_host_create(w, "srv");
    struct mr_server_opts o;
    mr_server_opts_default(&o);
    o.auth = &a;
    struct mr_server *srv = NULL;
    char err[MR_ERRMSG_MAX];
    ck_assert_int_eq(mr_server_create(&o, sim_host_env(h), &srv, err, sizeof(err)), MR_E_INVAL);
    ck_assert_msg(strstr(err, "does not export it to C") != NULL, "err: %s", err);
    sim_world_destroy(w);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Authentication
 */

START_TEST(bcrypt_password_is_checked)
{
    struct fx f;
    fx_start(&f, 1, with_accounts);
    struct sim_client *ok = login(&f, "ok", "crypt", "opensesame");
    barrier(&f, ok);
    assert_received(ok, "PONG\r\n");
    struct sim_client *bad = sim_client_create(f.w, "bad", "srv", 4222);
    say(bad, "CONNECT {\"verbose\":false,\"user\":\"crypt\",\"pass\":\"nope\"}\r\nPING\r\n");
    ck_assert(sim_client_wait_closed(bad, after(&f, SEC)));
    ck_assert_uint_eq(count(bad, "-ERR 'Authorization Violation'\r\n"), 1);
    ck_assert_uint_eq(count(bad, "PONG"), 0);
    fx_finish(&f);
}
END_TEST

START_TEST(no_auth_user_binds_credentialless_clients)
{
    struct fx f;
    fx_start(&f, 1, with_accounts);
    struct sim_client *anon = client(&f, "anon", "{\"verbose\":false,\"pedantic\":false}");
    struct sim_client *b = login(&f, "b", "b", "pb");
    say(anon, "SUB foo 1\r\n");
    barrier(&f, anon);
    say(b, "PUB foo 1\r\nx\r\n");
    barrier(&f, b);
    barrier(&f, anon);
    ck_assert_uint_eq(count(anon, "MSG foo 1 1\r\nx\r\n"), 1); /* anon is in account B */
    fx_finish(&f);
}
END_TEST

START_TEST(account_subscription_and_payload_limits)
{
    struct fx f;
    fx_start(&f, 1, with_accounts);
    struct sim_client *s1 = login(&f, "s1", "s1", "s");
    say(s1, "SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPUB a 8\r\n12345678\r\n");
    barrier(&f, s1);
    assert_received(s1, "-ERR 'maximum subscriptions exceeded'\r\nMSG a 1 8\r\n12345678\r\n"
                        "PONG\r\n");
    say(s1, "PUB a 9\r\n");
    ck_assert(sim_client_wait_closed(s1, after(&f, SEC)));
    ck_assert_uint_eq(count(s1, "-ERR 'Maximum Payload Violation'\r\n"), 1);
    fx_finish(&f);
}
END_TEST

START_TEST(account_connection_limit)
{
    struct fx f;
    fx_start(&f, 1, with_accounts);
    struct sim_client *s1 = login(&f, "s1", "s1", "s");
    barrier(&f, s1);
    struct sim_client *s2 = sim_client_create(f.w, "s2", "srv", 4222);
    say(s2, "CONNECT {\"verbose\":false,\"user\":\"s2\",\"pass\":\"s\"}\r\nPING\r\n");
    ck_assert(sim_client_wait_closed(s2, after(&f, SEC)));
    ck_assert_uint_eq(count(s2, "-ERR 'maximum account active connections exceeded'\r\n"), 1);
    fx_finish(&f);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Permissions
 */

START_TEST(publish_permissions_violation_drops_and_keeps_connection)
{
    struct fx f;
    fx_start(&f, 1, with_accounts);
    struct sim_client *a = login(&f, "a", "a", "pa");
    struct sim_client *r = login(&f, "r", "r", "pr");
    say(a, "SUB > 1\r\n");
    barrier(&f, a);
    sim_client_clear(a);
    say(r, "PUB foo.secret 1\r\nx\r\nPUB other 1\r\ny\r\nPUB foo.ok 1\r\nz\r\n");
    barrier(&f, r);
    barrier(&f, a);
    assert_received(r, "-ERR 'Permissions Violation for Publish to \"foo.secret\"'\r\n"
                       "-ERR 'Permissions Violation for Publish to \"other\"'\r\nPONG\r\n");
    assert_received(a, "MSG foo.ok 1 1\r\nz\r\nPONG\r\n");
    fx_finish(&f);
}
END_TEST

START_TEST(verbose_denied_publish_gets_no_ok)
{
    struct fx f;
    fx_start(&f, 1, with_accounts);
    struct sim_client *r = client(&f, "r", "{\"verbose\":true,\"pedantic\":false,"
                                           "\"user\":\"r\",\"pass\":\"pr\"}");
    sim_client_clear(r);
    say(r, "PUB foo.secret 1\r\nx\r\nPUB foo.ok 1\r\ny\r\n");
    barrier(&f, r);
    /* As nats-server: the permission check comes before the +OK. */
    assert_received(r, "-ERR 'Permissions Violation for Publish to \"foo.secret\"'\r\n"
                       "+OK\r\nPONG\r\n");
    fx_finish(&f);
}
END_TEST

START_TEST(subscribe_permissions_with_queue_entries)
{
    struct fx f;
    fx_start(&f, 1, with_accounts);
    struct sim_client *r = login(&f, "r", "r", "pr");
    say(r, "SUB bar 1\r\nSUB work.a workers 2\r\nSUB work.a 3\r\nSUB work.a others 4\r\n"
           "SUB secret.x 5\r\n");
    barrier(&f, r);
    assert_received(r, "-ERR 'Permissions Violation for Subscription to \"bar\"'\r\n"
                       "-ERR 'Permissions Violation for Subscription to \"work.a\"'\r\n"
                       "-ERR 'Permissions Violation for Subscription to \"work.a\" using "
                       "queue \"others\"'\r\n"
                       "-ERR 'Permissions Violation for Subscription to \"secret.x\"'\r\n"
                       "PONG\r\n");
    fx_finish(&f);
}
END_TEST

START_TEST(wildcard_subscription_skips_denied_subjects)
{
    struct fx f;
    fx_start(&f, 1, with_accounts);
    struct sim_client *r = login(&f, "r", "r", "pr");
    struct sim_client *a = login(&f, "a", "a", "pa");
    say(r, "SUB news.* 1\r\n");
    barrier(&f, r);
    sim_client_clear(r);
    say(a, "PUB news.secret 1\r\nx\r\nPUB news.public 1\r\ny\r\n");
    barrier(&f, a);
    barrier(&f, r);
    assert_received(r, "MSG news.public 1 1\r\ny\r\nPONG\r\n");
    fx_finish(&f);
}
END_TEST

START_TEST(allow_responses_permits_one_reply)
{
    struct fx f;
    fx_start(&f, 1, with_accounts);
    struct sim_client *resp = login(&f, "resp", "resp", "pr");
    struct sim_client *a = login(&f, "a", "a", "pa");
    say(resp, "SUB svc 1\r\n");
    say(a, "SUB _INBOX.q 2\r\n");
    barrier(&f, resp);
    barrier(&f, a);
    sim_client_clear(resp);
    sim_client_clear(a);
    say(a, "PUB svc _INBOX.q 1\r\n?\r\n");
    ck_assert(sim_client_wait_for(resp, "MSG svc 1 _INBOX.q 1\r\n?\r\n", after(&f, SEC)));
    say(resp, "PUB _INBOX.q 1\r\n!\r\nPUB _INBOX.q 1\r\n!\r\n");
    barrier(&f, resp);
    barrier(&f, a);
    ck_assert_uint_eq(count(a, "MSG _INBOX.q 2 1\r\n!\r\n"), 1);
    ck_assert_uint_eq(count(resp, "-ERR 'Permissions Violation for Publish to \"_INBOX.q\"'"),
                      1);
    fx_finish(&f);
}
END_TEST

static Suite *account_suite(void)
{
    Suite *s = suite_create("account");
    TCase *tc = tcase_create("accounts");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, accounts_are_isolated);
    tcase_add_test(tc, stream_import_delivers_with_prefix);
    tcase_add_test(tc, service_import_answers_requests_once);
    tcase_add_test(tc, service_import_is_refused_to_other_accounts);
    suite_add_tcase(s, tc);
    tc = tcase_create("auth");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bcrypt_password_is_checked);
    tcase_add_test(tc, no_auth_user_binds_credentialless_clients);
    tcase_add_test(tc, account_connection_limit);
    tcase_add_test(tc, account_subscription_and_payload_limits);
    suite_add_tcase(s, tc);
    tc = tcase_create("permissions");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, publish_permissions_violation_drops_and_keeps_connection);
    tcase_add_test(tc, verbose_denied_publish_gets_no_ok);
    tcase_add_test(tc, subscribe_permissions_with_queue_entries);
    tcase_add_test(tc, wildcard_subscription_skips_denied_subjects);
    tcase_add_test(tc, allow_responses_permits_one_reply);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(account_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
