/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the history (sim/sim_history.h) and the checkers (sim/sim_check.h) on
 * hand-built histories: each checker passes a clean history and fails one holding
 * exactly its violation, with the violation described by time and ids; fault windows,
 * settle margins and subscription spans exempt what they should; the online checker
 * agrees with the offline ones; truncation is reported; JSON lines are stable;
 * no_acked_loss tells bounded, detected and unexplained losses and corruption apart.
 *
 * Histories here are plain data: no world runs. Times are in milliseconds (MS).
 */
#include <check.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sim/sim_check.h"
#include "sim/sim_history.h"

#define MS (1000ULL * 1000)
#define SEC (1000ULL * MS)

/* ------------------------------------------------------------------------------------
 * Building histories
 */

static void ev(struct sim_history *h, uint64_t t, enum sim_hist_kind kind, const char *who,
               uint32_t gen, const char *pub, uint64_t seq, const char *subject,
               const char *queue)
{
    struct sim_hist_event e = {0};
    e.t_ns = t;
    e.kind = kind;
    e.actor = sim_history_actor(h, who);
    e.gen = gen;
    e.pub = pub != NULL ? sim_history_actor(h, pub) : UINT32_MAX;
    e.seq = seq;
    e.subject = subject;
    e.queue = queue;
    ck_assert_int_eq(sim_history_append(h, &e), 0);
}

static void sub(struct sim_history *h, uint64_t t, const char *who, uint32_t gen,
                const char *subject, const char *queue)
{
    ev(h, t, SIM_H_SUB, who, gen, NULL, 0, subject, queue);
}

static void pub(struct sim_history *h, uint64_t t, const char *who, uint64_t seq,
                const char *subject)
{
    ev(h, t, SIM_H_PUB, who, 0, who, seq, subject, NULL);
}

static void msg(struct sim_history *h, uint64_t t, const char *who, uint32_t gen,
                const char *from, uint64_t seq, const char *subject)
{
    ev(h, t, SIM_H_MSG, who, gen, from, seq, subject, NULL);
}

static void disc(struct sim_history *h, uint64_t t, const char *who)
{
    ev(h, t, SIM_H_DISCONNECT, who, 0, NULL, 0, NULL, NULL);
}

/* Two subscribers, s1 on foo and s2 on the wildcard "*", get p's messages 1..n on foo,
 * published every 100 ms after t=1 s and received 1 ms later. */
static struct sim_history *clean_history(uint64_t n)
{
    struct sim_history *h = sim_history_create(0);
    sub(h, 100 * MS, "s1", 1, "foo", "");
    sub(h, 100 * MS, "s2", 1, "*", "");
    for (uint64_t i = 1; i <= n; i++) {
        uint64_t t = SEC + i * 100 * MS;
        pub(h, t, "p", i, "foo");
        msg(h, t + MS, "s1", 1, "p", i, "foo");
        msg(h, t + MS, "s2", 1, "p", i, "foo");
    }
    return h;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++) {
        n += *s == '\n';
    }
    return n;
}

static struct sim_check_opts opts_until(uint64_t end)
{
    struct sim_check_opts o;
    sim_check_opts_default(&o);
    o.end_ns = end;
    return o;
}

/* ------------------------------------------------------------------------------------
 * History
 */

START_TEST(history_keeps_events_and_interns_strings)
{
    struct sim_history *h = sim_history_create(0);
    ev(h, 5, SIM_H_PUB, "p", 0, "p", 1, "foo", NULL);
    ev(h, 6, SIM_H_MSG, "s", 1, "p", 1, "foo", NULL);
    ck_assert_uint_eq(sim_history_len(h), 2);
    ck_assert_uint_eq(sim_history_actors(h), 2);
    ck_assert_ptr_eq(sim_history_at(h, 0)->subject, sim_history_at(h, 1)->subject);
    ck_assert_str_eq(sim_history_at(h, 0)->queue, "");
    ck_assert_int_eq(sim_history_actor_find(h, "s"), 1);
    ck_assert_int_eq(sim_history_actor_find(h, "nobody"), -1);
    ck_assert_uint_eq(sim_history_last_ns(h), 6);
    ck_assert(!sim_history_truncated(h));
    sim_history_destroy(h);
}
END_TEST

START_TEST(history_json_lines_have_fixed_keys_and_escapes)
{
    struct sim_history *h = sim_history_create(0);
    ev(h, 1500, SIM_H_MSG, "s", 2, "p", 7, "foo.bar", NULL);
    struct sim_hist_event e = {0};
    e.t_ns = 1600;
    e.kind = SIM_H_ERR;
    e.actor = sim_history_actor(h, "s");
    e.pub = UINT32_MAX;
    e.text = "Bad \"x\"\n";
    ck_assert_int_eq(sim_history_append(h, &e), 0);
    GString *s = g_string_new(NULL);
    sim_history_event_json(h, 0, s);
    ck_assert_str_eq(s->str, "{\"t\":1500,\"kind\":\"MSG\",\"actor\":\"s\",\"gen\":2,\"pub\":\"p\","
                             "\"seq\":7,\"subject\":\"foo.bar\",\"queue\":\"\",\"server\":\"\","
                             "\"text\":\"\"}");
    g_string_truncate(s, 0);
    sim_history_event_json(h, 1, s);
    ck_assert(strstr(s->str, "\"text\":\"Bad \\\"x\\\"\\u000a\"") != NULL);
    ck_assert(strstr(s->str, "\"pub\":\"\"") != NULL);
    g_string_free(s, TRUE);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(sim_history_write_jsonl(h, f), 0);
    fclose(f);
    ck_assert_uint_eq(count_lines(buf), 2);
    free(buf);
    sim_history_destroy(h);
}
END_TEST

START_TEST(history_truncates_at_bound_and_checkers_say_so)
{
    struct sim_history *h = sim_history_create(3);
    ev(h, 1, SIM_H_SUB, "s", 1, NULL, 0, "foo", NULL);
    ev(h, 2, SIM_H_PUB, "p", 0, "p", 1, "foo", NULL);
    ev(h, 3, SIM_H_MSG, "s", 1, "p", 1, "foo", NULL);
    struct sim_hist_event e = {0};
    e.t_ns = 4;
    e.kind = SIM_H_PUB;
    e.actor = sim_history_actor(h, "p");
    e.pub = e.actor;
    e.seq = 2;
    ck_assert_int_eq(sim_history_append(h, &e), MR_E_LIMIT);
    ck_assert_int_eq(sim_history_append(h, &e), MR_E_LIMIT);
    ck_assert(sim_history_truncated(h));
    ck_assert_uint_eq(sim_history_truncated_at_ns(h), 4);
    ck_assert_uint_eq(sim_history_dropped(h), 2);
    ck_assert_uint_eq(sim_history_len(h), 3);
    struct sim_check_opts o;
    sim_check_opts_default(&o);
    o.settle_ns = 0;
    struct sim_verdict v;
    sim_check_no_duplicates(h, &o, &v);
    ck_assert(v.ok);
    ck_assert(v.truncated);
    ck_assert(strstr(v.first, "truncated") != NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(sim_history_write_jsonl(h, f), 0);
    fclose(f);
    ck_assert(strstr(buf, "{\"truncated\":true,\"at\":4,\"dropped\":2}\n") != NULL);
    free(buf);
    sim_history_destroy(h);
}
END_TEST

START_TEST(history_hash_is_equal_for_equal_histories)
{
    struct sim_history *a = clean_history(20);
    struct sim_history *b = clean_history(20);
    struct sim_history *c = clean_history(21);
    ck_assert_uint_eq(sim_history_hash(a), sim_history_hash(b));
    ck_assert_uint_ne(sim_history_hash(a), sim_history_hash(c));
    sim_history_destroy(a);
    sim_history_destroy(b);
    sim_history_destroy(c);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Checkers on a clean history
 */

START_TEST(clean_history_passes_every_checker)
{
    struct sim_history *h = clean_history(100);
    struct sim_check_opts o = opts_until(SEC + 100 * 100 * MS + 2 * SEC);
    struct sim_verdict v[SIM_CHECKERS];
    ck_assert_uint_eq(sim_check_all(h, &o, v), 0);
    for (size_t i = 0; i < SIM_CHECKERS; i++) {
        char line[512];
        sim_verdict_format(&v[i], line, sizeof(line));
        ck_assert_msg(v[i].ok, "%s", line);
        ck_assert_str_eq(v[i].name, sim_check_name(i));
    }
    ck_assert_uint_eq(v[0].checked, 200); /* no_duplicates: every MSG */
    ck_assert_uint_eq(v[2].checked, 200); /* delivery: 100 messages x 2 subscribers */
    ck_assert_uint_eq(v[2].exempt, 0);
    ck_assert_uint_eq(v[4].checked, 2);   /* liveness: 2 subscribers */
    struct sim_verdict one;
    ck_assert_int_eq(sim_check_run("delivery", h, &o, &one), 0);
    ck_assert(one.ok);
    ck_assert_int_eq(sim_check_run("nope", h, &o, &one), MR_E_NOT_FOUND);
    sim_history_destroy(h);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Each checker fails on its violation
 */

START_TEST(duplicate_in_one_subscription_fails_no_duplicates)
{
    struct sim_history *h = sim_history_create(0);
    sub(h, 0, "s1", 1, "foo", "");
    pub(h, SEC, "p", 1, "foo");
    msg(h, SEC + MS, "s1", 1, "p", 1, "foo");
    msg(h, SEC + 2 * MS, "s1", 1, "p", 1, "foo");
    struct sim_check_opts o = opts_until(5 * SEC);
    struct sim_verdict v;
    sim_check_no_duplicates(h, &o, &v);
    ck_assert(!v.ok);
    ck_assert_uint_eq(v.violations, 1);
    ck_assert_str_eq(v.first, "t=1.002000000 s1 (subscription 1) got p:1 again on foo "
                              "(first at t=1.001000000)");
    sim_history_destroy(h);
}
END_TEST

START_TEST(same_id_in_a_new_subscription_is_not_a_duplicate)
{
    struct sim_history *h = sim_history_create(0);
    sub(h, 0, "s1", 1, "foo", "");
    pub(h, SEC, "p", 1, "foo");
    msg(h, SEC + MS, "s1", 1, "p", 1, "foo");
    disc(h, SEC + 2 * MS, "s1");
    sub(h, SEC + 3 * MS, "s1", 2, "foo", "");
    msg(h, SEC + 4 * MS, "s1", 2, "p", 1, "foo");
    struct sim_check_opts o = opts_until(5 * SEC);
    struct sim_verdict v;
    sim_check_no_duplicates(h, &o, &v);
    ck_assert(v.ok);
    ck_assert_uint_eq(v.checked, 2);
    sim_history_destroy(h);
}
END_TEST

START_TEST(counter_going_back_fails_per_publisher_order)
{
    struct sim_history *h = sim_history_create(0);
    sub(h, 0, "s1", 1, "foo", "");
    pub(h, SEC, "p", 1, "foo");
    pub(h, SEC + MS, "p", 2, "foo");
    pub(h, SEC + MS, "q", 1, "foo");
    msg(h, SEC + 2 * MS, "s1", 1, "p", 2, "foo");
    msg(h, SEC + 2 * MS, "s1", 1, "q", 1, "foo"); /* another publisher: independent */
    msg(h, SEC + 3 * MS, "s1", 1, "p", 1, "foo");
    struct sim_check_opts o = opts_until(5 * SEC);
    struct sim_verdict v;
    sim_check_per_publisher_order(h, &o, &v);
    ck_assert(!v.ok);
    ck_assert_uint_eq(v.violations, 1);
    ck_assert_str_eq(v.first, "t=1.003000000 s1 (subscription 1) got p:1 after p:2 "
                              "(at t=1.002000000)");
    sim_check_no_duplicates(h, &o, &v);
    ck_assert(v.ok);
    sim_history_destroy(h);
}
END_TEST

START_TEST(lost_message_fails_delivery)
{
    struct sim_history *h = clean_history(10);
    /* p:11 reaches s2 but not s1. */
    pub(h, 3 * SEC, "p", 11, "foo");
    msg(h, 3 * SEC + MS, "s2", 1, "p", 11, "foo");
    struct sim_check_opts o = opts_until(10 * SEC);
    struct sim_verdict v;
    sim_check_delivery(h, &o, &v);
    ck_assert(!v.ok);
    ck_assert_uint_eq(v.violations, 1);
    ck_assert_str_eq(v.first, "t=3.000000000 p:11 on foo never reached s1 (subscription 1 to "
                              "foo, active since t=0.100000000)");
    ck_assert_uint_eq(v.checked, 22);
    sim_history_destroy(h);
}
END_TEST

START_TEST(loss_inside_fault_window_or_settle_is_exempt)
{
    struct sim_history *h = clean_history(10);
    pub(h, 3 * SEC, "p", 11, "foo"); /* lost by both */
    pub(h, 4 * SEC, "p", 12, "foo"); /* lost by both, just after the window */
    pub(h, 9 * SEC + 800 * MS, "p", 13, "foo"); /* lost by both, too close to the end */
    struct sim_check_opts o = opts_until(10 * SEC);
    struct sim_window w = {2900 * MS, 3700 * MS};
    o.faults = &w;
    o.faults_len = 1;
    o.settle_ns = 500 * MS;
    struct sim_verdict v;
    sim_check_delivery(h, &o, &v);
    ck_assert_msg(v.ok, "%s", v.first);
    ck_assert_uint_eq(v.exempt, 6);
    /* Without the window, p:11 and p:12 are violations (p:13 is still too late). */
    o.faults_len = 0;
    sim_check_delivery(h, &o, &v);
    ck_assert(!v.ok);
    ck_assert_uint_eq(v.violations, 4);
    sim_history_destroy(h);
}
END_TEST

START_TEST(loss_outside_subscription_span_is_exempt)
{
    struct sim_history *h = sim_history_create(0);
    sub(h, 0, "s1", 1, "foo", "");
    pub(h, SEC, "p", 1, "foo");
    msg(h, SEC + MS, "s1", 1, "p", 1, "foo");
    disc(h, 2 * SEC, "s1");
    pub(h, 3 * SEC, "p", 2, "foo");             /* s1 is away */
    sub(h, 4 * SEC, "s1", 2, "foo", "");
    pub(h, 4 * SEC + 50 * MS, "p", 3, "foo");   /* within sub_settle after re-subscribing */
    pub(h, 6 * SEC, "p", 4, "foo");
    msg(h, 6 * SEC + MS, "s1", 2, "p", 4, "foo");
    pub(h, 7 * SEC, "p", 5, "foo");             /* lost: a violation */
    struct sim_check_opts o = opts_until(10 * SEC);
    struct sim_verdict v;
    sim_check_delivery(h, &o, &v);
    ck_assert(!v.ok);
    ck_assert_uint_eq(v.violations, 1);
    ck_assert(strstr(v.first, "p:5") != NULL);
    ck_assert(strstr(v.first, "subscription 2") != NULL);
    ck_assert_uint_eq(v.checked, 3);
    sim_history_destroy(h);
}
END_TEST

START_TEST(publisher_disconnecting_right_after_publishing_is_exempt)
{
    struct sim_history *h = sim_history_create(0);
    sub(h, 0, "s1", 1, "foo", "");
    pub(h, SEC, "p", 1, "foo");
    disc(h, SEC + 10 * MS, "p");
    struct sim_check_opts o = opts_until(10 * SEC);
    struct sim_verdict v;
    sim_check_delivery(h, &o, &v);
    ck_assert(v.ok);
    ck_assert_uint_eq(v.exempt, 1);
    sim_history_destroy(h);
}
END_TEST

static struct sim_history *queue_history(void)
{
    struct sim_history *h = sim_history_create(0);
    sub(h, 0, "q-0", 1, "work", "g");
    sub(h, 0, "q-1", 1, "work", "g");
    sub(h, 0, "other", 1, "work", "h"); /* another group on the same subject */
    for (uint64_t i = 1; i <= 10; i++) {
        pub(h, i * SEC, "p", i, "work");
        msg(h, i * SEC + MS, i % 2 == 0 ? "q-0" : "q-1", 1, "p", i, "work");
        msg(h, i * SEC + MS, "other", 1, "p", i, "work");
    }
    return h;
}

START_TEST(queue_group_each_once_passes)
{
    struct sim_history *h = queue_history();
    struct sim_check_opts o = opts_until(20 * SEC);
    struct sim_verdict v;
    sim_check_queue_once(h, &o, &v);
    ck_assert_msg(v.ok, "%s", v.first);
    ck_assert_uint_eq(v.checked, 20);
    /* Queue members are not plain subscribers: delivery has nothing to judge. */
    sim_check_delivery(h, &o, &v);
    ck_assert(v.ok);
    ck_assert_uint_eq(v.checked, 0);
    sim_history_destroy(h);
}
END_TEST

START_TEST(two_members_getting_one_message_fails_queue_once)
{
    struct sim_history *h = queue_history();
    pub(h, 12 * SEC, "p", 11, "work");
    msg(h, 12 * SEC + MS, "q-0", 1, "p", 11, "work");
    msg(h, 12 * SEC + MS, "q-1", 1, "p", 11, "work");
    msg(h, 12 * SEC + MS, "other", 1, "p", 11, "work");
    struct sim_check_opts o = opts_until(20 * SEC);
    struct sim_verdict v;
    sim_check_queue_once(h, &o, &v);
    ck_assert(!v.ok);
    ck_assert_uint_eq(v.violations, 1);
    ck_assert_str_eq(v.first, "t=12.000000000 p:11 on work reached 2 members of queue g "
                              "(q-0 and q-1)");
    sim_history_destroy(h);
}
END_TEST

START_TEST(no_member_getting_a_healthy_message_fails_queue_once)
{
    struct sim_history *h = queue_history();
    pub(h, 12 * SEC, "p", 11, "work");
    msg(h, 12 * SEC + MS, "other", 1, "p", 11, "work");
    struct sim_check_opts o = opts_until(20 * SEC);
    struct sim_verdict v;
    sim_check_queue_once(h, &o, &v);
    ck_assert(!v.ok);
    ck_assert_str_eq(v.first, "t=12.000000000 p:11 on work reached no member of queue g on work");
    /* Inside a fault window it is allowed. */
    struct sim_window w = {11 * SEC, 13 * SEC};
    o.faults = &w;
    o.faults_len = 1;
    sim_check_queue_once(h, &o, &v);
    ck_assert_msg(v.ok, "%s", v.first);
    sim_history_destroy(h);
}
END_TEST

START_TEST(subscriber_silent_after_heal_fails_liveness)
{
    struct sim_history *h = sim_history_create(0);
    sub(h, 0, "s1", 1, "foo", "");
    sub(h, 0, "s2", 1, "foo", "");
    for (uint64_t i = 1; i <= 30; i++) {
        pub(h, i * SEC, "p", i, "foo");
        msg(h, i * SEC + MS, "s1", 1, "p", i, "foo");
        if (i < 10) {
            msg(h, i * SEC + MS, "s2", 1, "p", i, "foo");
        }
    }
    struct sim_check_opts o = opts_until(31 * SEC);
    o.heal_ns = 12 * SEC;
    o.bound_ns = 10 * SEC;
    struct sim_verdict v;
    sim_check_liveness(h, &o, &v);
    ck_assert(!v.ok);
    ck_assert_uint_eq(v.violations, 1);
    ck_assert_str_eq(v.first, "s2 (on foo) received no new message in "
                              "(t=12.000000000, t=22.000000000]");
    /* With a bound that runs past the end, liveness cannot be shown. */
    o.bound_ns = 30 * SEC;
    sim_check_liveness(h, &o, &v);
    ck_assert(!v.ok);
    ck_assert(strstr(v.first, "before heal + bound") != NULL);
    sim_history_destroy(h);
}
END_TEST

START_TEST(queue_group_is_live_when_any_member_receives)
{
    struct sim_history *h = queue_history(); /* q-1 gets odd, q-0 even ids up to 10 s */
    for (uint64_t i = 11; i <= 30; i++) {
        pub(h, i * SEC, "p", i, "work");
        msg(h, i * SEC + MS, "q-1", 1, "p", i, "work"); /* only one member still gets any */
        if (i < 15) {
            msg(h, i * SEC + MS, "other", 1, "p", i, "work");
        }
    }
    struct sim_check_opts o = opts_until(31 * SEC);
    o.heal_ns = 16 * SEC;
    o.bound_ns = 10 * SEC;
    struct sim_verdict v;
    sim_check_liveness(h, &o, &v);
    ck_assert(!v.ok);
    ck_assert_uint_eq(v.checked, 2); /* groups g and h */
    ck_assert_uint_eq(v.violations, 1);
    ck_assert_str_eq(v.first, "queue h on work received no new message in "
                              "(t=16.000000000, t=26.000000000]");
    sim_history_destroy(h);
}
END_TEST

START_TEST(requester_without_replies_after_heal_fails_liveness)
{
    struct sim_history *h = sim_history_create(0);
    for (uint64_t i = 1; i <= 20; i++) {
        ev(h, i * SEC, SIM_H_REQ, "r", 0, "r", i, "svc", NULL);
        if (i < 5) {
            ev(h, i * SEC + MS, SIM_H_REPLY, "r", 0, "r", i, "", NULL);
        } else if (i > 6) {
            ev(h, i * SEC + MS, SIM_H_TIMEOUT, "r", 0, "r", i - 2, "", NULL);
        }
    }
    struct sim_check_opts o = opts_until(25 * SEC);
    o.heal_ns = 0;
    o.bound_ns = 10 * SEC;
    struct sim_verdict v;
    sim_check_liveness(h, &o, &v);
    ck_assert_msg(v.ok, "%s", v.first);
    o.heal_ns = 6 * SEC;
    sim_check_liveness(h, &o, &v);
    ck_assert(!v.ok);
    ck_assert_str_eq(v.first, "r got no reply in (t=6.000000000, t=16.000000000] to requests "
                              "sent after t=6.000000000");
    sim_history_destroy(h);
}
END_TEST

START_TEST(stopped_subscriber_is_exempt_from_liveness)
{
    struct sim_history *h = sim_history_create(0);
    sub(h, 0, "s1", 1, "foo", "");
    ev(h, SEC, SIM_H_STOP, "s1", 0, NULL, 0, NULL, NULL);
    for (uint64_t i = 2; i <= 20; i++) {
        pub(h, i * SEC, "p", i, "foo");
    }
    struct sim_check_opts o = opts_until(21 * SEC);
    struct sim_verdict v;
    sim_check_liveness(h, &o, &v);
    ck_assert_msg(v.ok, "%s", v.first);
    ck_assert_uint_eq(v.exempt, 1);
    sim_history_destroy(h);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Online checker
 */

/* ------------------------------------------------------------------------------------
 * local_delivery and account_scoping
 */

static void conn(struct sim_history *h, uint64_t t, const char *who, const char *server)
{
    struct sim_hist_event e = {0};
    e.t_ns = t;
    e.kind = SIM_H_CONNECT;
    e.actor = sim_history_actor(h, who);
    e.pub = UINT32_MAX;
    e.server = server;
    ck_assert_int_eq(sim_history_append(h, &e), 0);
}

static void sub_on(struct sim_history *h, uint64_t t, const char *who, uint32_t gen,
                   const char *subject, const char *server)
{
    struct sim_hist_event e = {0};
    e.t_ns = t;
    e.kind = SIM_H_SUB;
    e.actor = sim_history_actor(h, who);
    e.gen = gen;
    e.pub = UINT32_MAX;
    e.subject = subject;
    e.server = server;
    ck_assert_int_eq(sim_history_append(h, &e), 0);
}

/* A leaf "edge" with a publisher and a subscriber, and a hub subscriber: p publishes
 * 1..50 every 100 ms from t=1 s; the edge's s gets all but `lost` (0 = none), the
 * hub's x gets none (the link is down, which must not matter). */
static struct sim_history *leaf_history(uint64_t lost)
{
    struct sim_history *h = sim_history_create(0);
    conn(h, 10 * MS, "p", "edge");
    conn(h, 10 * MS, "s", "edge");
    conn(h, 10 * MS, "x", "hub");
    sub_on(h, 20 * MS, "s", 1, "foo", "edge");
    sub_on(h, 20 * MS, "x", 1, "foo", "hub");
    for (uint64_t i = 1; i <= 50; i++) {
        uint64_t t = SEC + i * 100 * MS;
        pub(h, t, "p", i, "foo");
        if (i != lost) {
            msg(h, t + MS, "s", 1, "p", i, "foo");
        }
    }
    return h;
}

static const struct sim_check_server leaf_servers[] = {
    {"hub", false, 0},
    {"edge", true, 1},
};

static void leaf_opts(struct sim_check_opts *o)
{
    sim_check_opts_default(o);
    o->servers = leaf_servers;
    o->servers_len = 2;
    o->end_ns = 10 * SEC;
}

START_TEST(local_delivery_ignores_hub_faults_and_fails_a_local_loss)
{
    /* The hub is down the whole time: delivery exempts everything, local_delivery does
     * not, and the hub's subscriber is not judged by it. */
    struct sim_window hub_down[] = {{0, 10 * SEC}};
    struct sim_check_opts o;
    leaf_opts(&o);
    o.faults = hub_down;
    o.faults_len = 1;
    struct sim_history *h = leaf_history(0);
    struct sim_verdict v;
    sim_check_local_delivery(h, &o, &v);
    ck_assert_msg(v.ok, "%s", v.first);
    ck_assert_uint_eq(v.checked, 50);
    sim_history_destroy(h);

    h = leaf_history(17);
    sim_check_local_delivery(h, &o, &v);
    ck_assert(!v.ok);
    ck_assert_uint_eq(v.violations, 1);
    ck_assert_msg(strstr(v.first, "p:17 on foo, published on edge while it was up, never "
                                  "reached s") != NULL,
                  "%s", v.first);
    sim_check_delivery(h, &o, &v);
    ck_assert_msg(v.ok, "delivery judges no faulty period: %s", v.first);
    ck_assert_uint_eq(v.checked, 0);
    sim_history_destroy(h);
}
END_TEST

START_TEST(local_delivery_exempts_the_leafs_own_outage)
{
    /* The edge itself is down around message 17 (t=2.7 s): exempt, with settle. */
    struct sim_check_outage down[] = {{1, 1, {2600 * MS, 2800 * MS}}};
    struct sim_check_opts o;
    leaf_opts(&o);
    o.outages = down;
    o.outages_len = 1;
    struct sim_history *h = leaf_history(17);
    struct sim_verdict v;
    sim_check_local_delivery(h, &o, &v);
    ck_assert_msg(v.ok, "%s", v.first);
    ck_assert_uint_gt(v.exempt, 10);
    /* An outage of the hub (server 0) exempts nothing. */
    down[0].a = 0;
    down[0].b = 0;
    sim_check_local_delivery(h, &o, &v);
    ck_assert(!v.ok);
    /* Nor does a cut between the hub and the edge. */
    down[0].b = 1;
    sim_check_local_delivery(h, &o, &v);
    ck_assert(!v.ok);
    sim_history_destroy(h);
}
END_TEST

START_TEST(local_delivery_counts_a_resubscription_from_its_sub)
{
    /* s reconnects at 2.5 s and subscribes again at 3 s: messages in between are not
     * owed to it, those after 3 s + sub_settle are. */
    struct sim_history *h = sim_history_create(0);
    conn(h, 10 * MS, "p", "edge");
    conn(h, 10 * MS, "s", "edge");
    sub_on(h, 20 * MS, "s", 1, "foo", "edge");
    for (uint64_t i = 1; i <= 50; i++) {
        uint64_t t = SEC + i * 100 * MS;
        if (t == 2500 * MS) {
            disc(h, t, "s");
        }
        if (t == 3000 * MS) {
            conn(h, t, "s", "edge");
            sub_on(h, t, "s", 2, "foo", "edge");
        }
        pub(h, t, "p", i, "foo");
        if (t + MS < 2500 * MS) {
            msg(h, t + MS, "s", 1, "p", i, "foo");
        } else if (t >= 3100 * MS) {
            msg(h, t + MS, "s", 2, "p", i, "foo");
        }
    }
    struct sim_check_opts o;
    leaf_opts(&o);
    struct sim_verdict v;
    sim_check_local_delivery(h, &o, &v);
    ck_assert_msg(v.ok, "%s", v.first);
    ck_assert_uint_gt(v.exempt, 0);
    sim_history_destroy(h);
}
END_TEST

START_TEST(account_scoping_fails_a_crossing_unless_allowed)
{
    struct sim_history *h = sim_history_create(0);
    sub(h, 100 * MS, "a-sub", 1, "foo", "");
    sub(h, 100 * MS, "b-sub", 1, "foo", "");
    pub(h, SEC, "a-pub", 1, "foo");
    msg(h, SEC + MS, "a-sub", 1, "a-pub", 1, "foo");
    msg(h, SEC + MS, "b-sub", 1, "a-pub", 1, "foo");
    const struct sim_check_account accounts[] = {
        {"a-pub", "A"},
        {"a-sub", "A"},
        {"b-sub", "B@hub"},
    };
    struct sim_check_opts o;
    sim_check_opts_default(&o);
    o.end_ns = 10 * SEC;
    o.accounts = accounts;
    o.accounts_len = 3;
    struct sim_verdict v;
    sim_check_account_scoping(h, &o, &v);
    ck_assert(!v.ok);
    ck_assert_uint_eq(v.checked, 2);
    ck_assert_msg(strstr(v.first, "b-sub (account B@hub) got a-pub:1 on foo from a-pub "
                                  "(account A)") != NULL,
                  "%s", v.first);
    /* delivery owes b-sub nothing from another account. */
    sim_check_delivery(h, &o, &v);
    ck_assert_uint_eq(v.checked, 1);
    const struct sim_check_crossing allowed[] = {{"A", "B"}};
    o.crossings = allowed;
    o.crossings_len = 1;
    sim_check_account_scoping(h, &o, &v);
    ck_assert_msg(v.ok, "%s", v.first);
    const struct sim_check_crossing reverse[] = {{"B", "A"}};
    o.crossings = reverse;
    sim_check_account_scoping(h, &o, &v);
    ck_assert(!v.ok);
    /* Without accounts nothing is judged. */
    o.accounts_len = 0;
    sim_check_account_scoping(h, &o, &v);
    ck_assert(v.ok);
    ck_assert_uint_eq(v.checked, 0);
    sim_history_destroy(h);
}
END_TEST

START_TEST(online_checker_finds_violations_as_they_are_appended)
{
    struct sim_history *h = sim_history_create(0);
    struct sim_check_online c;
    sim_check_online_init(&c);
    sub(h, 0, "s1", 1, "foo", "");
    pub(h, SEC, "p", 1, "foo");
    pub(h, SEC, "p", 2, "foo");
    msg(h, SEC + MS, "s1", 1, "p", 2, "foo");
    ck_assert(sim_check_online_step(&c, h));
    ck_assert(sim_check_online_step(&c, h)); /* nothing new */
    ck_assert_uint_eq(c.dup.checked, 1);
    msg(h, SEC + 2 * MS, "s1", 1, "p", 1, "foo");
    ck_assert(!sim_check_online_step(&c, h));
    ck_assert(c.dup.ok);
    ck_assert(!c.order.ok);
    msg(h, SEC + 3 * MS, "s1", 1, "p", 2, "foo");
    ck_assert(!sim_check_online_step(&c, h));
    ck_assert(!c.dup.ok);
    ck_assert(strstr(c.dup.first, "got p:2 again") != NULL);
    sim_check_online_deinit(&c);
    sim_history_destroy(h);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * no_acked_loss
 */

static void js_ev(struct sim_history *h, uint64_t t, enum sim_hist_kind kind, const char *who,
                  uint64_t seq, uint64_t sseq, const char *subject, const char *text)
{
    struct sim_hist_event e = {0};
    e.t_ns = t;
    e.kind = kind;
    e.actor = sim_history_actor(h, who);
    e.pub = kind == SIM_H_JS_READ && text != NULL && strcmp(text, "ok") != 0
                ? UINT32_MAX
                : sim_history_actor(h, kind == SIM_H_JS_READ ? "p" : who);
    e.seq = seq;
    e.sseq = sseq;
    e.subject = subject;
    e.text = text;
    e.server = kind == SIM_H_JS_STORE ? "js1" : NULL;
    ck_assert_int_eq(sim_history_append(h, &e), 0);
}

/* Publisher p on js1 publishes and gets acks for 1..n (seq i at t = i * 10 ms, stream
 * sequence i), then a reader reads 1..last back at 10 s: message i reads as read[i]
 * ("ok" = its own id; NULL = the read is left out). */
static struct sim_history *js_history(uint64_t n, uint64_t last, const char *const *read)
{
    struct sim_history *h = sim_history_create(0);
    conn(h, 0, "p", "js1");
    for (uint64_t i = 1; i <= n; i++) {
        js_ev(h, i * 10 * MS, SIM_H_PUB, "p", i, 0, "orders.new", NULL);
        js_ev(h, i * 10 * MS + 1, SIM_H_JS_ACK, "p", i, i, NULL, "ORDERS");
    }
    js_ev(h, 10 * SEC, SIM_H_JS_INFO, "r", 0, last, NULL, "ORDERS");
    for (uint64_t i = 1; i <= last; i++) {
        const char *text = read != NULL && read[i] != NULL ? read[i] : "ok";
        js_ev(h, 10 * SEC + i * MS, SIM_H_JS_READ, "r", i, i, "ORDERS", text);
    }
    return h;
}

static const struct sim_check_js_server js_always[] = {{"js1", true, 0}};
static const struct sim_check_js_server js_interval[] = {{"js1", false, 100 * MS}};

static void js_opts(struct sim_check_opts *o, const struct sim_check_js_server *srv,
                    const struct sim_check_crash *crashes, size_t crashes_len, int mode)
{
    sim_check_opts_default(o);
    o->js_servers = srv;
    o->js_servers_len = 1;
    o->crashes = crashes;
    o->crashes_len = crashes_len;
    o->acked_loss = mode;
}

START_TEST(every_acked_message_read_back_passes_no_acked_loss)
{
    struct sim_history *h = js_history(20, 20, NULL);
    struct sim_check_opts o;
    js_opts(&o, js_always, NULL, 0, SIM_CHECK_LOSS_NONE);
    struct sim_verdict v;
    sim_check_no_acked_loss(h, &o, &v);
    ck_assert_msg(v.ok, "%s", v.first);
    ck_assert_uint_eq(v.checked, 20);
    ck_assert_ptr_nonnull(strstr(v.first, "no acked message lost"));
    ck_assert_int_eq(sim_check_run("no_acked_loss", h, &o, &v), MR_E_NOT_FOUND);
    sim_history_destroy(h);
}
END_TEST

START_TEST(lost_tail_fails_unless_bounded_by_a_power_loss)
{
    /* Acks up to 20, the stream recovered to 17: 18..20 (acked at 180..200 ms) lost. */
    struct sim_history *h = js_history(20, 17, NULL);
    struct sim_check_crash power = {0, 250 * MS, true};
    struct sim_check_opts o;
    struct sim_verdict v;
    js_opts(&o, js_always, &power, 1, SIM_CHECK_LOSS_BOUNDED);
    sim_check_no_acked_loss(h, &o, &v);
    ck_assert(!v.ok); /* sync always: no loss is bounded */
    ck_assert_uint_eq(v.violations, 3);
    ck_assert_ptr_nonnull(strstr(v.first, "p:18 acked as ORDERS seq 18 is lost"));
    js_opts(&o, js_interval, &power, 1, SIM_CHECK_LOSS_NONE);
    sim_check_no_acked_loss(h, &o, &v);
    ck_assert(!v.ok); /* interval sync, but the scenario allows no loss */
    js_opts(&o, js_interval, &power, 1, SIM_CHECK_LOSS_BOUNDED);
    sim_check_no_acked_loss(h, &o, &v);
    ck_assert_msg(v.ok, "%s", v.first);
    ck_assert_ptr_nonnull(strstr(v.first, "3 acked lost (bounded by the sync interval 3"));
    /* A process crash keeps the page cache: it explains nothing. */
    struct sim_check_crash kill = {0, 250 * MS, false};
    js_opts(&o, js_interval, &kill, 1, SIM_CHECK_LOSS_BOUNDED);
    sim_check_no_acked_loss(h, &o, &v);
    ck_assert(!v.ok);
    /* A power loss long after the acks (beyond interval + settle) explains nothing. */
    struct sim_check_crash late = {0, 2 * SEC, true};
    js_opts(&o, js_interval, &late, 1, SIM_CHECK_LOSS_BOUNDED);
    sim_check_no_acked_loss(h, &o, &v);
    ck_assert(!v.ok);
    sim_history_destroy(h);
}
END_TEST

START_TEST(loss_after_a_store_report_passes_only_when_detected_is_allowed)
{
    const char *read[21] = {0};
    read[5] = "missing";
    struct sim_history *h = sim_history_create(0);
    conn(h, 0, "p", "js1");
    for (uint64_t i = 1; i <= 6; i++) {
        js_ev(h, i * 10 * MS, SIM_H_PUB, "p", i, 0, "orders.new", NULL);
        js_ev(h, i * 10 * MS + 1, SIM_H_JS_ACK, "p", i, i, NULL, "ORDERS");
    }
    js_ev(h, 5 * SEC, SIM_H_JS_STORE, "js1", 0, 0, NULL, "damaged stretch, never served");
    js_ev(h, 10 * SEC, SIM_H_JS_INFO, "r", 0, 6, NULL, "ORDERS");
    for (uint64_t i = 1; i <= 6; i++) {
        js_ev(h, 10 * SEC + i * MS, SIM_H_JS_READ, "r", i, i, "ORDERS", read[i] ? read[i] : "ok");
    }
    struct sim_check_opts o;
    struct sim_verdict v;
    js_opts(&o, js_always, NULL, 0, SIM_CHECK_LOSS_BOUNDED);
    sim_check_no_acked_loss(h, &o, &v);
    ck_assert(!v.ok);
    ck_assert_ptr_nonnull(strstr(v.first, "the store reported damage"));
    js_opts(&o, js_always, NULL, 0, SIM_CHECK_LOSS_DETECTED);
    sim_check_no_acked_loss(h, &o, &v);
    ck_assert_msg(v.ok, "%s", v.first);
    ck_assert_ptr_nonnull(strstr(v.first, "detected 1"));
    sim_history_destroy(h);
}
END_TEST

START_TEST(corrupt_read_fails_whatever_is_allowed)
{
    const char *read[11] = {0};
    read[4] = "corrupt";
    struct sim_history *h = js_history(10, 10, read);
    struct sim_check_opts o;
    struct sim_verdict v;
    js_opts(&o, js_interval, NULL, 0, SIM_CHECK_LOSS_DETECTED);
    sim_check_no_acked_loss(h, &o, &v);
    ck_assert(!v.ok);
    ck_assert_uint_eq(v.violations, 1);
    ck_assert_ptr_nonnull(strstr(v.first, "ORDERS seq 4 served bytes no publisher sent"));
    sim_history_destroy(h);
}
END_TEST

START_TEST(reused_sequence_is_a_loss_and_a_misplaced_message_is_corruption)
{
    /* Seq 3 acked for p:3 then, after a loss, reused for p:4 (acked at seq 3 too). */
    struct sim_history *h = sim_history_create(0);
    conn(h, 0, "p", "js1");
    js_ev(h, 10 * MS, SIM_H_PUB, "p", 3, 0, "orders.new", NULL);
    js_ev(h, 11 * MS, SIM_H_JS_ACK, "p", 3, 3, NULL, "ORDERS");
    js_ev(h, 20 * MS, SIM_H_PUB, "p", 4, 0, "orders.new", NULL);
    js_ev(h, 21 * MS, SIM_H_JS_ACK, "p", 4, 3, NULL, "ORDERS");
    js_ev(h, 30 * MS, SIM_H_PUB, "p", 5, 0, "orders.new", NULL);
    js_ev(h, 31 * MS, SIM_H_JS_ACK, "p", 5, 4, NULL, "ORDERS");
    js_ev(h, 10 * SEC, SIM_H_JS_INFO, "r", 0, 4, NULL, "ORDERS");
    js_ev(h, 10 * SEC + 1, SIM_H_JS_READ, "r", 4, 3, "ORDERS", "ok");
    js_ev(h, 10 * SEC + 2, SIM_H_JS_READ, "r", 3, 4, "ORDERS", "ok"); /* p:3 at 4: wrong */
    struct sim_check_opts o;
    struct sim_verdict v;
    struct sim_check_crash power = {0, 15 * MS, true};
    js_opts(&o, js_interval, &power, 1, SIM_CHECK_LOSS_DETECTED);
    sim_check_no_acked_loss(h, &o, &v);
    ck_assert(!v.ok);
    ck_assert_uint_eq(v.violations, 1); /* p:3's loss is bounded; seq 4 holding p:3 is not */
    ck_assert_ptr_nonnull(strstr(v.first, "ORDERS seq 4 acked for p:5 reads p:3"));
    sim_history_destroy(h);
}
END_TEST

START_TEST(no_read_back_fails_and_late_acks_are_exempt)
{
    struct sim_history *h = sim_history_create(0);
    conn(h, 0, "p", "js1");
    js_ev(h, 10 * MS, SIM_H_PUB, "p", 1, 0, "orders.new", NULL);
    js_ev(h, 11 * MS, SIM_H_JS_ACK, "p", 1, 1, NULL, "ORDERS");
    struct sim_check_opts o;
    struct sim_verdict v;
    js_opts(&o, js_always, NULL, 0, SIM_CHECK_LOSS_NONE);
    sim_check_no_acked_loss(h, &o, &v);
    ck_assert(!v.ok);
    ck_assert_ptr_nonnull(strstr(v.first, "no stream was read back"));
    js_ev(h, 1 * SEC, SIM_H_JS_INFO, "r", 0, 0, NULL, "ORDERS");
    js_ev(h, 2 * SEC, SIM_H_PUB, "p", 2, 0, "orders.new", NULL);
    js_ev(h, 2 * SEC + 1, SIM_H_JS_ACK, "p", 2, 2, NULL, "ORDERS duplicate");
    js_ev(h, 3 * SEC, SIM_H_JS_ACK, "p", 3, 3, NULL, "ORDERS");
    sim_check_no_acked_loss(h, &o, &v);
    ck_assert(!v.ok); /* seq 1 acked before the read-back reported an empty stream */
    ck_assert_uint_eq(v.checked, 1);
    ck_assert_uint_eq(v.exempt, 1); /* the ack after it; the duplicate is not judged */
    sim_history_destroy(h);
}
END_TEST

START_TEST(js_events_have_sseq_in_json)
{
    struct sim_history *h = sim_history_create(0);
    js_ev(h, 1, SIM_H_JS_ACK, "p", 5, 9, NULL, "ORDERS");
    GString *s = g_string_new(NULL);
    sim_history_event_json(h, 0, s);
    ck_assert_str_eq(s->str, "{\"t\":1,\"kind\":\"JS_ACK\",\"actor\":\"p\",\"gen\":0,\"pub\":\"p\","
                             "\"seq\":5,\"sseq\":9,\"subject\":\"\",\"queue\":\"\",\"server\":\"\","
                             "\"text\":\"ORDERS\"}");
    g_string_free(s, TRUE);
    sim_history_destroy(h);
}
END_TEST

static Suite *sim_check_suite(void)
{
    Suite *s = suite_create("sim_check");
    TCase *hi = tcase_create("history");
    tcase_set_timeout(hi, 10);
    tcase_add_test(hi, history_keeps_events_and_interns_strings);
    tcase_add_test(hi, history_json_lines_have_fixed_keys_and_escapes);
    tcase_add_test(hi, history_truncates_at_bound_and_checkers_say_so);
    tcase_add_test(hi, history_hash_is_equal_for_equal_histories);
    suite_add_tcase(s, hi);
    TCase *ck = tcase_create("checkers");
    tcase_set_timeout(ck, 10);
    tcase_add_test(ck, clean_history_passes_every_checker);
    tcase_add_test(ck, duplicate_in_one_subscription_fails_no_duplicates);
    tcase_add_test(ck, same_id_in_a_new_subscription_is_not_a_duplicate);
    tcase_add_test(ck, counter_going_back_fails_per_publisher_order);
    tcase_add_test(ck, lost_message_fails_delivery);
    tcase_add_test(ck, loss_inside_fault_window_or_settle_is_exempt);
    tcase_add_test(ck, loss_outside_subscription_span_is_exempt);
    tcase_add_test(ck, publisher_disconnecting_right_after_publishing_is_exempt);
    tcase_add_test(ck, queue_group_each_once_passes);
    tcase_add_test(ck, two_members_getting_one_message_fails_queue_once);
    tcase_add_test(ck, no_member_getting_a_healthy_message_fails_queue_once);
    tcase_add_test(ck, subscriber_silent_after_heal_fails_liveness);
    tcase_add_test(ck, queue_group_is_live_when_any_member_receives);
    tcase_add_test(ck, requester_without_replies_after_heal_fails_liveness);
    tcase_add_test(ck, stopped_subscriber_is_exempt_from_liveness);
    tcase_add_test(ck, online_checker_finds_violations_as_they_are_appended);
    tcase_add_test(ck, local_delivery_ignores_hub_faults_and_fails_a_local_loss);
    tcase_add_test(ck, local_delivery_exempts_the_leafs_own_outage);
    tcase_add_test(ck, local_delivery_counts_a_resubscription_from_its_sub);
    tcase_add_test(ck, account_scoping_fails_a_crossing_unless_allowed);
    tcase_add_test(ck, every_acked_message_read_back_passes_no_acked_loss);
    tcase_add_test(ck, lost_tail_fails_unless_bounded_by_a_power_loss);
    tcase_add_test(ck, loss_after_a_store_report_passes_only_when_detected_is_allowed);
    tcase_add_test(ck, corrupt_read_fails_whatever_is_allowed);
    tcase_add_test(ck, reused_sequence_is_a_loss_and_a_misplaced_message_is_corruption);
    tcase_add_test(ck, no_read_back_fails_and_late_acks_are_exempt);
    tcase_add_test(ck, js_events_have_sseq_in_json);
    suite_add_tcase(s, ck);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sim_check_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
