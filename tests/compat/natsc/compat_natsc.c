/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compat_natsc: checks a NATS-compatible server with the nats.c client (Debian
 * libnats). Usage: compat_natsc nats://127.0.0.1:PORT [check-name ...]
 *                  compat_natsc --list   (prints the check names)
 *
 * Runs each check against the server at the URL (all of them, or the ones named),
 * prints one line per check ("ok - name" or "FAIL - name: why") and a closing
 * "N passed, N failed" line, and exits 1 if any check failed, 2 on usage errors.
 * The server must run with default limits (max_payload 1 MiB) and no auth.
 *
 * Every wait is bounded: each client call has a timeout, and an alarm kills the
 * process if the whole run takes longer than RUN_TIMEOUT_S, so it cannot hang.
 * Each check owns the connections and subscriptions it creates and releases them
 * on every path (goto out).
 */
#include <nats/nats.h>

#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    RUN_TIMEOUT_S = 120,
    WHY_MAX = 512,
    CONNECT_TIMEOUT_MS = 3000,
    WAIT_MS = 3000,              /* a message that must arrive */
    QUIET_MS = 150,              /* proof that no further message arrives */
    MAX_PAYLOAD = 1024 * 1024,   /* server default max_payload */
    QUEUE_MEMBERS = 3,
    QUEUE_MSGS = 300,
    MANY_SUBS = 500,
    MANY_CONNS = 50,
};

struct run {
    const char *url;
    char why[WHY_MAX];           /* detail of the current check's failure */
};

/* Record why a check failed (first reason wins) and jump to its cleanup. */
#define FAIL_IF(cond, ...)                                                                    \
    do {                                                                                      \
        if (cond) {                                                                           \
            set_why(r, __VA_ARGS__);                                                          \
            goto out;                                                                         \
        }                                                                                     \
    } while (0)

#define TRY(call)                                                                             \
    do {                                                                                      \
        natsStatus try_s = (call);                                                            \
        FAIL_IF(try_s != NATS_OK, "%s: %s", #call, natsStatus_GetText(try_s));                \
    } while (0)

static void set_why(struct run *r, const char *fmt, ...)
{
    if (r->why[0] != '\0') {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(r->why, sizeof(r->why), fmt, ap); /* truncation is fine for a message */
    va_end(ap);
}

/* Connect without reconnects, so a dropped connection fails the check. */
static natsStatus conn_open(struct run *r, natsConnection **nc, bool no_echo)
{
    natsOptions *opts = NULL;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK) {
        s = natsOptions_SetURL(opts, r->url);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetTimeout(opts, CONNECT_TIMEOUT_MS);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetAllowReconnect(opts, false);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetNoEcho(opts, no_echo);
    }
    if (s == NATS_OK) {
        s = natsConnection_Connect(nc, opts);
    }
    natsOptions_Destroy(opts);
    return s;
}

static void conn_close(natsConnection *nc)
{
    if (nc != NULL) {
        natsConnection_Close(nc);
        natsConnection_Destroy(nc);
    }
}

/* Receive one message; NATS_TIMEOUT if none within ms. */
static natsStatus next_msg(natsSubscription *sub, natsMsg **msg, int64_t ms)
{
    *msg = NULL;
    return natsSubscription_NextMsg(msg, sub, ms);
}

/* True when no message is pending or arrives within QUIET_MS. */
static bool quiet(natsSubscription *sub)
{
    natsMsg *m = NULL;
    natsStatus s = next_msg(sub, &m, QUIET_MS);
    natsMsg_Destroy(m);
    return s == NATS_TIMEOUT;
}

static bool data_is(const natsMsg *m, const char *want)
{
    size_t n = strlen(want);
    return natsMsg_GetDataLength(m) == (int)n && memcmp(natsMsg_GetData(m), want, n) == 0;
}

/* ---------------------------------------------------------------------------------------- */

static bool check_connect(struct run *r)
{
    natsConnection *nc = NULL;
    bool ok = false;

    TRY(conn_open(r, &nc, false));
    int64_t mp = natsConnection_GetMaxPayload(nc);
    FAIL_IF(mp != MAX_PAYLOAD, "max payload %lld, want %d", (long long)mp, MAX_PAYLOAD);
    TRY(natsConnection_FlushTimeout(nc, WAIT_MS));
    ok = true;
out:
    conn_close(nc);
    return ok;
}

static bool check_pubsub(struct run *r)
{
    natsConnection *sub_nc = NULL;
    natsConnection *pub_nc = NULL;
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    bool ok = false;
    char buf[32];

    TRY(conn_open(r, &sub_nc, false));
    TRY(conn_open(r, &pub_nc, false));
    TRY(natsConnection_SubscribeSync(&sub, sub_nc, "c.ps"));
    TRY(natsConnection_FlushTimeout(sub_nc, WAIT_MS));
    for (int i = 0; i < 10; i++) {
        (void)snprintf(buf, sizeof(buf), "m%d", i); /* fits */
        TRY(natsConnection_PublishString(pub_nc, "c.ps", buf));
    }
    TRY(natsConnection_PublishString(pub_nc, "c.ps.not", "other subject"));
    TRY(natsConnection_FlushTimeout(pub_nc, WAIT_MS));
    for (int i = 0; i < 10; i++) {
        TRY(next_msg(sub, &m, WAIT_MS));
        (void)snprintf(buf, sizeof(buf), "m%d", i); /* fits */
        FAIL_IF(!data_is(m, buf), "message %d out of order or corrupt", i);
        FAIL_IF(strcmp(natsMsg_GetSubject(m), "c.ps") != 0, "subject %s", natsMsg_GetSubject(m));
        natsMsg_Destroy(m);
        m = NULL;
    }
    FAIL_IF(!quiet(sub), "unexpected extra message");
    ok = true;
out:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    conn_close(pub_nc);
    conn_close(sub_nc);
    return ok;
}

/* Count messages pending on sub until it stays quiet; -1 on an error other than timeout. */
static int drain_count(natsSubscription *sub)
{
    int n = 0;
    for (;;) {
        natsMsg *m = NULL;
        natsStatus s = next_msg(sub, &m, QUIET_MS);
        natsMsg_Destroy(m);
        if (s == NATS_TIMEOUT) {
            return n;
        }
        if (s != NATS_OK) {
            return -1;
        }
        n++;
    }
}

static bool check_wildcard(struct run *r)
{
    natsConnection *nc = NULL;
    natsSubscription *star = NULL;
    natsSubscription *gt = NULL;
    bool ok = false;
    static const char *const subjects[] = {"c.wc", "c.wc.a", "c.wc.b", "c.wc.a.b", "c.wcx.a"};

    TRY(conn_open(r, &nc, false));
    TRY(natsConnection_SubscribeSync(&star, nc, "c.wc.*"));
    TRY(natsConnection_SubscribeSync(&gt, nc, "c.wc.>"));
    for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
        TRY(natsConnection_PublishString(nc, subjects[i], "w"));
    }
    TRY(natsConnection_FlushTimeout(nc, WAIT_MS));
    int n_star = drain_count(star);
    int n_gt = drain_count(gt);
    FAIL_IF(n_star != 2, "'c.wc.*' got %d messages, want 2", n_star);
    FAIL_IF(n_gt != 3, "'c.wc.>' got %d messages, want 3", n_gt);
    ok = true;
out:
    natsSubscription_Destroy(gt);
    natsSubscription_Destroy(star);
    conn_close(nc);
    return ok;
}

/* Count deliveries per message index for one queue member; false on a bad message. */
static bool queue_tally(natsSubscription *sub, int *seen, int *member_count)
{
    for (;;) {
        natsMsg *m = NULL;
        natsStatus s = next_msg(sub, &m, QUIET_MS);
        if (s == NATS_TIMEOUT) {
            return true;
        }
        if (s != NATS_OK) {
            return false;
        }
        int i = atoi(natsMsg_GetData(m));
        natsMsg_Destroy(m);
        if (i < 0 || i >= QUEUE_MSGS) {
            return false;
        }
        seen[i]++;
        (*member_count)++;
    }
}

static bool check_queue_group(struct run *r)
{
    natsConnection *members[QUEUE_MEMBERS] = {NULL};
    natsSubscription *subs[QUEUE_MEMBERS] = {NULL};
    natsConnection *pub_nc = NULL;
    int seen[QUEUE_MSGS] = {0};
    int per_member[QUEUE_MEMBERS] = {0};
    bool ok = false;
    char buf[16];

    for (int k = 0; k < QUEUE_MEMBERS; k++) {
        TRY(conn_open(r, &members[k], false));
        TRY(natsConnection_QueueSubscribeSync(&subs[k], members[k], "c.qg", "workers"));
        TRY(natsConnection_FlushTimeout(members[k], WAIT_MS));
    }
    TRY(conn_open(r, &pub_nc, false));
    for (int i = 0; i < QUEUE_MSGS; i++) {
        (void)snprintf(buf, sizeof(buf), "%d", i); /* fits */
        TRY(natsConnection_PublishString(pub_nc, "c.qg", buf));
    }
    TRY(natsConnection_FlushTimeout(pub_nc, WAIT_MS));
    for (int k = 0; k < QUEUE_MEMBERS; k++) {
        TRY(natsConnection_FlushTimeout(members[k], WAIT_MS));
        FAIL_IF(!queue_tally(subs[k], seen, &per_member[k]), "member %d: bad message", k);
    }
    for (int i = 0; i < QUEUE_MSGS; i++) {
        FAIL_IF(seen[i] != 1, "message %d delivered %d times", i, seen[i]);
    }
    for (int k = 0; k < QUEUE_MEMBERS; k++) {
        FAIL_IF(per_member[k] == 0, "member %d got no messages (%d/%d/%d)", k, per_member[0],
                per_member[1], per_member[2]);
    }
    ok = true;
out:
    for (int k = 0; k < QUEUE_MEMBERS; k++) {
        natsSubscription_Destroy(subs[k]);
        conn_close(members[k]);
    }
    conn_close(pub_nc);
    return ok;
}

static bool check_headers(struct run *r)
{
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    natsMsg *out_msg = NULL;
    natsMsg *m = NULL;
    const char **values = NULL;
    int count = 0;
    const char *v = NULL;
    bool ok = false;

    TRY(conn_open(r, &nc, false));
    TRY(natsConnection_SubscribeSync(&sub, nc, "c.hdr"));
    TRY(natsMsg_Create(&out_msg, "c.hdr", NULL, "body", 4));
    TRY(natsMsgHeader_Set(out_msg, "X-One", "value one"));
    TRY(natsMsgHeader_Add(out_msg, "X-Multi", "a"));
    TRY(natsMsgHeader_Add(out_msg, "X-Multi", "b"));
    TRY(natsMsgHeader_Add(out_msg, "X-Multi", "c"));
    TRY(natsConnection_PublishMsg(nc, out_msg));
    TRY(natsConnection_FlushTimeout(nc, WAIT_MS));
    TRY(next_msg(sub, &m, WAIT_MS));
    FAIL_IF(!data_is(m, "body"), "body differs");
    TRY(natsMsgHeader_Get(m, "X-One", &v));
    FAIL_IF(strcmp(v, "value one") != 0, "X-One is '%s'", v);
    TRY(natsMsgHeader_Values(m, "X-Multi", &values, &count));
    FAIL_IF(count != 3, "X-Multi has %d values, want 3", count);
    FAIL_IF(strcmp(values[0], "a") != 0 || strcmp(values[1], "b") != 0 ||
                strcmp(values[2], "c") != 0,
            "X-Multi values %s,%s,%s", values[0], values[1], values[2]);
    natsStatus s = natsMsgHeader_Get(m, "X-Absent", &v);
    FAIL_IF(s != NATS_NOT_FOUND, "absent header: %s", natsStatus_GetText(s));
    ok = true;
out:
    free((void *)values);
    natsMsg_Destroy(m);
    natsMsg_Destroy(out_msg);
    natsSubscription_Destroy(sub);
    conn_close(nc);
    return ok;
}

/* Responder callback: reply with the request's payload upper-cased. */
static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    (void)closure;
    char buf[64];
    int n = natsMsg_GetDataLength(msg);
    if (n >= (int)sizeof(buf)) {
        n = (int)sizeof(buf) - 1;
    }
    for (int i = 0; i < n; i++) {
        buf[i] = (char)toupper((unsigned char)natsMsg_GetData(msg)[i]);
    }
    buf[n] = '\0';
    if (natsMsg_GetReply(msg) != NULL) {
        /* A failed reply shows up as the requester's timeout. */
        (void)natsConnection_PublishString(nc, natsMsg_GetReply(msg), buf);
    }
    natsMsg_Destroy(msg);
}

static bool check_request_reply(struct run *r)
{
    natsConnection *svc = NULL;
    natsConnection *cli = NULL;
    natsSubscription *sub = NULL;
    natsMsg *reply = NULL;
    bool ok = false;
    static const char *const words[] = {"hello", "world", "nats"};
    static const char *const upper[] = {"HELLO", "WORLD", "NATS"};

    TRY(conn_open(r, &svc, false));
    TRY(conn_open(r, &cli, false));
    TRY(natsConnection_Subscribe(&sub, svc, "c.rr", on_request, NULL));
    TRY(natsConnection_FlushTimeout(svc, WAIT_MS));
    for (int i = 0; i < 3; i++) {
        TRY(natsConnection_RequestString(&reply, cli, "c.rr", words[i], WAIT_MS));
        FAIL_IF(!data_is(reply, upper[i]), "reply %d differs", i);
        natsMsg_Destroy(reply);
        reply = NULL;
    }
    ok = true;
out:
    natsMsg_Destroy(reply);
    natsSubscription_Destroy(sub);
    conn_close(cli);
    conn_close(svc);
    return ok;
}

static bool check_no_responders(struct run *r)
{
    natsConnection *nc = NULL;
    natsMsg *reply = NULL;
    bool ok = false;

    TRY(conn_open(r, &nc, false));
    natsStatus s = natsConnection_RequestString(&reply, nc, "c.nobody.home", "x", WAIT_MS);
    FAIL_IF(s != NATS_NO_RESPONDERS, "request returned %s, want NATS_NO_RESPONDERS",
            natsStatus_GetText(s));
    TRY(natsConnection_FlushTimeout(nc, WAIT_MS));
    ok = true;
out:
    natsMsg_Destroy(reply);
    conn_close(nc);
    return ok;
}

static bool check_auto_unsub(struct run *r)
{
    natsConnection *sub_nc = NULL;
    natsConnection *pub_nc = NULL;
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    bool ok = false;

    TRY(conn_open(r, &sub_nc, false));
    TRY(conn_open(r, &pub_nc, false));
    TRY(natsConnection_SubscribeSync(&sub, sub_nc, "c.au"));
    TRY(natsSubscription_AutoUnsubscribe(sub, 5));
    TRY(natsConnection_FlushTimeout(sub_nc, WAIT_MS));
    for (int i = 0; i < 12; i++) {
        TRY(natsConnection_PublishString(pub_nc, "c.au", "x"));
    }
    TRY(natsConnection_FlushTimeout(pub_nc, WAIT_MS));
    TRY(natsConnection_FlushTimeout(sub_nc, WAIT_MS));
    for (int i = 0; i < 5; i++) {
        TRY(next_msg(sub, &m, WAIT_MS));
        natsMsg_Destroy(m);
        m = NULL;
    }
    /* After the fifth message the library closes the subscription itself. */
    natsStatus s = next_msg(sub, &m, QUIET_MS);
    FAIL_IF(s == NATS_OK, "a sixth message arrived");
    FAIL_IF(s != NATS_MAX_DELIVERED_MSGS && s != NATS_INVALID_SUBSCRIPTION,
            "after 5 messages NextMsg returned %s", natsStatus_GetText(s));
    ok = true;
out:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    conn_close(pub_nc);
    conn_close(sub_nc);
    return ok;
}

static bool check_max_payload(struct run *r)
{
    natsConnection *nc = NULL;
    char *big = NULL;
    bool ok = false;

    TRY(conn_open(r, &nc, false));
    big = calloc(1, 2 * MAX_PAYLOAD);
    FAIL_IF(big == NULL, "out of memory");
    natsStatus s = natsConnection_Publish(nc, "c.big", big, 2 * MAX_PAYLOAD);
    FAIL_IF(s == NATS_OK, "publishing 2 MiB succeeded");
    FAIL_IF(s != NATS_MAX_PAYLOAD, "publish returned %s, want NATS_MAX_PAYLOAD",
            natsStatus_GetText(s));
    s = natsConnection_Publish(nc, "c.big", big, MAX_PAYLOAD + 1);
    FAIL_IF(s != NATS_MAX_PAYLOAD, "max+1 publish returned %s", natsStatus_GetText(s));
    /* The client refused locally; the connection is still usable. */
    TRY(natsConnection_Publish(nc, "c.big", big, 16));
    TRY(natsConnection_FlushTimeout(nc, WAIT_MS));
    ok = true;
out:
    free(big);
    conn_close(nc);
    return ok;
}

static bool check_large_message(struct run *r)
{
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    char *body = NULL;
    bool ok = false;
    const int len = MAX_PAYLOAD - 100;

    TRY(conn_open(r, &nc, false));
    TRY(natsConnection_SubscribeSync(&sub, nc, "c.large"));
    body = malloc((size_t)len);
    FAIL_IF(body == NULL, "out of memory");
    for (int i = 0; i < len; i++) {
        body[i] = (char)((i * 7919u + 13u) & 0xff);
    }
    TRY(natsConnection_Publish(nc, "c.large", body, len));
    TRY(natsConnection_FlushTimeout(nc, WAIT_MS * 3));
    TRY(next_msg(sub, &m, WAIT_MS * 3));
    FAIL_IF(natsMsg_GetDataLength(m) != len, "length %d, want %d", natsMsg_GetDataLength(m), len);
    FAIL_IF(memcmp(natsMsg_GetData(m), body, (size_t)len) != 0, "payload bytes differ");
    ok = true;
out:
    free(body);
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    conn_close(nc);
    return ok;
}

static bool check_many_subs(struct run *r)
{
    natsConnection *nc = NULL;
    natsSubscription **subs = calloc(MANY_SUBS, sizeof(*subs));
    natsMsg *m = NULL;
    bool ok = false;
    char subj[32];

    FAIL_IF(subs == NULL, "out of memory");
    TRY(conn_open(r, &nc, false));
    for (int i = 0; i < MANY_SUBS; i++) {
        (void)snprintf(subj, sizeof(subj), "c.many.%d", i); /* fits */
        TRY(natsConnection_SubscribeSync(&subs[i], nc, subj));
    }
    for (int i = 0; i < MANY_SUBS; i++) {
        (void)snprintf(subj, sizeof(subj), "c.many.%d", i); /* fits */
        TRY(natsConnection_PublishString(nc, subj, subj));
    }
    TRY(natsConnection_FlushTimeout(nc, WAIT_MS));
    for (int i = 0; i < MANY_SUBS; i++) {
        (void)snprintf(subj, sizeof(subj), "c.many.%d", i); /* fits */
        TRY(next_msg(subs[i], &m, WAIT_MS));
        FAIL_IF(!data_is(m, subj), "sub %d got the wrong message", i);
        natsMsg_Destroy(m);
        m = NULL;
    }
    ok = true;
out:
    natsMsg_Destroy(m);
    for (int i = 0; subs != NULL && i < MANY_SUBS; i++) {
        natsSubscription_Destroy(subs[i]);
    }
    free(subs);
    conn_close(nc);
    return ok;
}

static bool check_many_conns(struct run *r)
{
    natsConnection *conns[MANY_CONNS] = {NULL};
    natsSubscription *subs[MANY_CONNS] = {NULL};
    natsConnection *pub_nc = NULL;
    natsMsg *m = NULL;
    bool ok = false;

    for (int i = 0; i < MANY_CONNS; i++) {
        TRY(conn_open(r, &conns[i], false));
        TRY(natsConnection_SubscribeSync(&subs[i], conns[i], "c.fan"));
        TRY(natsConnection_FlushTimeout(conns[i], WAIT_MS));
    }
    TRY(conn_open(r, &pub_nc, false));
    TRY(natsConnection_PublishString(pub_nc, "c.fan", "to all"));
    TRY(natsConnection_FlushTimeout(pub_nc, WAIT_MS));
    for (int i = 0; i < MANY_CONNS; i++) {
        TRY(next_msg(subs[i], &m, WAIT_MS));
        FAIL_IF(!data_is(m, "to all"), "connection %d got the wrong message", i);
        natsMsg_Destroy(m);
        m = NULL;
    }
    /* A flush on each connection puts any duplicate in its pending queue. */
    for (int i = 0; i < MANY_CONNS; i++) {
        int pending = 0;
        int pending_bytes = 0;
        TRY(natsConnection_FlushTimeout(conns[i], WAIT_MS));
        TRY(natsSubscription_GetPending(subs[i], &pending, &pending_bytes));
        FAIL_IF(pending != 0, "connection %d got %d duplicates", i, pending);
    }
    ok = true;
out:
    natsMsg_Destroy(m);
    for (int i = 0; i < MANY_CONNS; i++) {
        natsSubscription_Destroy(subs[i]);
        conn_close(conns[i]);
    }
    conn_close(pub_nc);
    return ok;
}

static bool check_no_echo(struct run *r)
{
    natsConnection *quiet_nc = NULL;
    natsConnection *loud_nc = NULL;
    natsSubscription *q_sub = NULL;
    natsSubscription *l_sub = NULL;
    natsMsg *m = NULL;
    bool ok = false;

    TRY(conn_open(r, &quiet_nc, true));
    TRY(conn_open(r, &loud_nc, false));
    TRY(natsConnection_SubscribeSync(&q_sub, quiet_nc, "c.echo"));
    TRY(natsConnection_SubscribeSync(&l_sub, loud_nc, "c.echo"));
    TRY(natsConnection_FlushTimeout(quiet_nc, WAIT_MS));
    TRY(natsConnection_FlushTimeout(loud_nc, WAIT_MS));
    TRY(natsConnection_PublishString(quiet_nc, "c.echo", "from-quiet"));
    TRY(natsConnection_FlushTimeout(quiet_nc, WAIT_MS));
    TRY(natsConnection_PublishString(loud_nc, "c.echo", "from-loud"));
    TRY(natsConnection_FlushTimeout(loud_nc, WAIT_MS));
    TRY(next_msg(q_sub, &m, WAIT_MS));
    FAIL_IF(!data_is(m, "from-loud"), "no-echo connection got its own message");
    natsMsg_Destroy(m);
    m = NULL;
    FAIL_IF(!quiet(q_sub), "no-echo connection got an extra message");
    int n = drain_count(l_sub);
    FAIL_IF(n != 2, "echo connection got %d messages, want 2", n);
    ok = true;
out:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(l_sub);
    natsSubscription_Destroy(q_sub);
    conn_close(loud_nc);
    conn_close(quiet_nc);
    return ok;
}

/* ---------------------------------------------------------------------------------------- */

struct check {
    const char *name;
    bool (*fn)(struct run *r);
};

static const struct check checks[] = {
    {"connect", check_connect},
    {"pubsub", check_pubsub},
    {"wildcard", check_wildcard},
    {"queue_group_exactly_once", check_queue_group},
    {"headers", check_headers},
    {"request_reply", check_request_reply},
    {"no_responders", check_no_responders},
    {"auto_unsubscribe", check_auto_unsub},
    {"max_payload_rejected", check_max_payload},
    {"large_message", check_large_message},
    {"many_subscriptions", check_many_subs},
    {"many_connections", check_many_conns},
    {"no_echo", check_no_echo},
};

static bool selected(const char *name, int argc, char **argv)
{
    if (argc <= 2) {
        return true;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return true;
        }
    }
    return false;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
            printf("%s\n", checks[i].name);
        }
        return 0;
    }
    if (argc < 2 || strncmp(argv[1], "nats://", 7) != 0) {
        fprintf(stderr, "usage: %s nats://HOST:PORT [check ...] | --list\n", argv[0]);
        return 2;
    }
    (void)alarm(RUN_TIMEOUT_S); /* default SIGALRM action ends a hung run */
    setvbuf(stdout, NULL, _IOLBF, 0);

    struct run r = {.url = argv[1]};
    int passed = 0;
    int failed = 0;
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        if (!selected(checks[i].name, argc, argv)) {
            continue;
        }
        r.why[0] = '\0';
        if (checks[i].fn(&r)) {
            printf("ok - %s\n", checks[i].name);
            passed++;
        } else {
            printf("FAIL - %s: %s\n", checks[i].name, r.why);
            failed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    /* Wait for the library's threads so sanitizer builds see no leaks; a slow
     * teardown is not a compatibility failure. */
    (void)nats_CloseAndWait(5000);
    return (failed > 0 || passed == 0) ? 1 : 0;
}
