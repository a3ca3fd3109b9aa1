/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compat_natsc_leaf: checks a hub and one leaf node of a NATS-compatible server with the
 * nats.c client (Debian libnats). Usage:
 *
 *   compat_natsc_leaf nats://leaf:leaf@HUB nats://leaf:leaf@LEAF [check ...]
 *   compat_natsc_leaf --list
 *
 * HUB and LEAF are the client URLs of the hub and of its leaf, with the credentials of a
 * user of account LEAF, the account the leaf connection binds on both sides. The restart
 * check needs a controller on stdin/stdout, which tests/compat/js/natsc_leaf.test.mjs
 * provides: the program prints "CTL STOP 0" or "CTL START 0" (0 = the hub) and waits,
 * bounded, for a line "OK" (the hub is stopped, or restarted and accepting clients; the
 * leaf reconnects on its own) or "ERR why" on stdin.
 *
 * Prints one line per check ("ok - name" or "FAIL - name: why"), diagnostic lines
 * starting with "# ", and a closing "N passed, N failed" line; exits 1 if any check
 * failed, 2 on usage errors.
 *
 * Delivery across the leaf connection first waits for the subscribers' interest to reach
 * the publisher's server (await_interest): the subscriber connections subscribe to probe
 * subjects after their real subscriptions and the publisher publishes on them until every
 * probe has arrived; a server forwards one connection's subscriptions in order (LS+).
 *
 * Every wait is bounded: each client call has a timeout, and an alarm ends the process
 * if the whole run takes longer than RUN_TIMEOUT_S, so it cannot hang. Each check owns
 * the connections and subscriptions it creates and releases them on every path.
 */
#include <nats/nats.h>

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    RUN_TIMEOUT_S = 50,
    WHY_MAX = 512,
    CONNECT_TIMEOUT_MS = 3000,
    WAIT_MS = 3000,              /* a message that must arrive */
    QUIET_MS = 200,              /* proof that no further message arrives */
    INTEREST_WAIT_MS = 10000,    /* subscriptions crossing the leaf connection */
    RESUME_WAIT_MS = 10000,      /* the leaf reconnecting to a restarted hub */
    PROBE_MS = 20,               /* between probe rounds */
    CTL_WAIT_MS = 30000,         /* the controller stops or restarts the hub */
    SERVERS = 2,
    HUB = 0,
    LEAF = 1,
    PUBSUB_MSGS = 50,
    QUEUE_MSGS = 200,
    OUTAGE_MSGS = 30,
    AFTER_MSGS = 30,
    SUBS_MAX = 8,
    LINE_MAX_BYTES = 256,
};

struct run {
    const char *urls[SERVERS];
    unsigned probe_seq;          /* makes probe subjects unique within the run */
    char why[WHY_MAX];           /* detail of the current check's failure */
};

#include "harness.h"

static const char *const server_names[SERVERS] = {"hub", "leaf"};

/* ---------------------------------------------------------------------------------------- */
/* Helpers */

/* Connect to one server without reconnects, so a dropped connection fails the check. */
static natsStatus conn_open(struct run *r, natsConnection **nc, int server)
{
    natsOptions *opts = NULL;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK) {
        s = natsOptions_SetURL(opts, r->urls[server]);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetTimeout(opts, CONNECT_TIMEOUT_MS);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetAllowReconnect(opts, false);
    }
    if (s == NATS_OK) {
        s = natsConnection_Connect(nc, opts);
    }
    natsOptions_Destroy(opts);
    return s;
}

static long elapsed_ms_since(const struct timespec *t0)
{
    struct timespec t;
    (void)clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000L + (t.tv_nsec - t0->tv_nsec) / 1000000L;
}

/* The message's payload as a number (payloads are "<prefix><n>"); -1 if none. */
static int payload_seq(const natsMsg *m, size_t prefix_len)
{
    char num[24];
    int len = natsMsg_GetDataLength(m);
    if (len <= (int)prefix_len || len - (int)prefix_len >= (int)sizeof(num)) {
        return -1;
    }
    memcpy(num, natsMsg_GetData(m) + prefix_len, (size_t)len - prefix_len);
    num[len - (int)prefix_len] = '\0';
    return atoi(num);
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

/*
 * Wait (bounded by ms) until the subscriptions already made on subs[0..n) are known on
 * the server pub is connected to. See the file comment.
 */
static bool await_interest(struct run *r, natsConnection *pub, natsConnection **subs, int n,
                           int ms)
{
    natsSubscription *probe[SUBS_MAX] = {0};
    char subject[SUBS_MAX][64];
    bool got[SUBS_MAX] = {0};
    bool ok = false;
    unsigned seq = r->probe_seq++;

    FAIL_IF(n > SUBS_MAX, "await_interest: %d connections, at most %d", n, SUBS_MAX);
    for (int k = 0; k < n; k++) {
        (void)snprintf(subject[k], sizeof(subject[k]), "_PROBE.%ld.%u.%d", (long)getpid(), seq,
                       k); /* fits */
        TRY(natsConnection_SubscribeSync(&probe[k], subs[k], subject[k]));
        TRY(natsConnection_FlushTimeout(subs[k], WAIT_MS));
    }
    struct timespec t0;
    (void)clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int left = n; left > 0;) {
        FAIL_IF(elapsed_ms_since(&t0) > ms,
                "subscriptions did not cross the leaf connection within %d ms", ms);
        for (int k = 0; k < n; k++) {
            if (!got[k]) {
                TRY(natsConnection_PublishString(pub, subject[k], "probe"));
            }
        }
        TRY(natsConnection_FlushTimeout(pub, WAIT_MS));
        for (int k = 0; k < n; k++) {
            natsMsg *m = NULL;
            if (!got[k] && next_msg(probe[k], &m, PROBE_MS) == NATS_OK) {
                got[k] = true;
                left--;
            }
            natsMsg_Destroy(m);
        }
    }
    ok = true;
out:
    for (int k = 0; k < n && k < SUBS_MAX; k++) {
        if (probe[k] != NULL) {
            (void)natsSubscription_Unsubscribe(probe[k]); /* the connection may be gone */
            natsSubscription_Destroy(probe[k]);
        }
    }
    return ok;
}

/*
 * Ask the controller to stop or start server i and wait (bounded) for its "OK". Without
 * a controller (stdin at end of file or silent) the check fails saying so.
 */
static bool control(struct run *r, const char *verb, int i)
{
    char line[LINE_MAX_BYTES];
    size_t len = 0;
    bool ok = false;

    printf("CTL %s %d\n", verb, i);
    (void)fflush(stdout);
    struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
    for (;;) {
        int rc = poll(&pfd, 1, CTL_WAIT_MS);
        FAIL_IF(rc == 0, "no answer to CTL %s %d within %d ms (run under "
                "tests/compat/js/natsc_leaf.test.mjs)", verb, i, CTL_WAIT_MS);
        FAIL_IF(rc < 0 && errno != EINTR, "poll(stdin): %s", strerror(errno));
        if (rc < 0) {
            continue;
        }
        char ch;
        ssize_t n = read(STDIN_FILENO, &ch, 1);
        FAIL_IF(n == 0, "stdin closed: no controller for CTL %s %d", verb, i);
        FAIL_IF(n < 0 && errno != EINTR, "read(stdin): %s", strerror(errno));
        if (n < 0) {
            continue;
        }
        if (ch == '\n') {
            break;
        }
        FAIL_IF(len + 1 >= sizeof(line), "controller line too long");
        line[len++] = ch;
    }
    line[len] = '\0';
    FAIL_IF(strcmp(line, "OK") != 0, "CTL %s %d: %s", verb, i, line);
    ok = true;
out:
    return ok;
}

/* ---------------------------------------------------------------------------------------- */
/* Checks */

/* Publish on server `from`: a subscriber on `to` gets every message once, in order. */
static bool one_way(struct run *r, int from, int to, const char *subject)
{
    natsConnection *pub = NULL;
    natsConnection *sub_nc = NULL;
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    bool ok = false;
    char buf[32];

    TRY(conn_open(r, &pub, from));
    TRY(conn_open(r, &sub_nc, to));
    TRY(natsConnection_SubscribeSync(&sub, sub_nc, subject));
    FAIL_IF(!await_interest(r, pub, &sub_nc, 1, INTEREST_WAIT_MS), "interest");
    for (int i = 0; i < PUBSUB_MSGS; i++) {
        (void)snprintf(buf, sizeof(buf), "m%d", i); /* fits */
        TRY(natsConnection_PublishString(pub, subject, buf));
    }
    TRY(natsConnection_FlushTimeout(pub, WAIT_MS));
    for (int i = 0; i < PUBSUB_MSGS; i++) {
        TRY(next_msg(sub, &m, WAIT_MS));
        (void)snprintf(buf, sizeof(buf), "m%d", i); /* fits */
        FAIL_IF(!data_is(m, buf), "%s -> %s: message %d out of order or corrupt",
                server_names[from], server_names[to], i);
        natsMsg_Destroy(m);
        m = NULL;
    }
    int extra = drain_count(sub);
    FAIL_IF(extra != 0, "%s -> %s: %d extra messages (duplicates?)", server_names[from],
            server_names[to], extra);
    ok = true;
out:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    conn_close(sub_nc);
    conn_close(pub);
    return ok;
}

static bool check_leaf_to_hub(struct run *r)
{
    return one_way(r, LEAF, HUB, "ncl.leaf.up");
}

static bool check_hub_to_leaf(struct run *r)
{
    return one_way(r, HUB, LEAF, "ncl.leaf.down");
}

/*
 * Count queue deliveries on members[0..n) into seen[] (indexed by payload number after a
 * one-character prefix) and per[]; fails on a payload that was never sent.
 */
static bool collect_queue(struct run *r, natsSubscription **members, int n, int *seen,
                          int seen_max, int *per)
{
    natsMsg *m = NULL;
    bool ok = false;
    for (int k = 0; k < n; k++) {
        for (;;) {
            natsStatus s = next_msg(members[k], &m, QUIET_MS);
            if (s == NATS_TIMEOUT) {
                break;
            }
            TRY(s);
            int i = payload_seq(m, 1);
            FAIL_IF(i < 0 || i >= seen_max, "payload %.*s was never sent",
                    natsMsg_GetDataLength(m), natsMsg_GetData(m));
            seen[i]++;
            per[k]++;
            natsMsg_Destroy(m);
            m = NULL;
        }
    }
    ok = true;
out:
    natsMsg_Destroy(m);
    return ok;
}

/*
 * A queue group with one member on each side; publishers on both sides. nats-server
 * 2.9.10 prefers a member that is not behind a leaf connection, so each side's member
 * gets all of its own side's messages; each message exactly once.
 */
static bool check_queue_across_link(struct run *r)
{
    natsConnection *nc[SERVERS] = {0};
    natsConnection *pub[SERVERS] = {0};
    natsSubscription *members[SERVERS] = {0};
    int seen[QUEUE_MSGS * SERVERS] = {0};
    int per[SERVERS] = {0};
    bool ok = false;
    char buf[32];

    for (int k = 0; k < SERVERS; k++) {
        TRY(conn_open(r, &nc[k], k));
        TRY(natsConnection_QueueSubscribeSync(&members[k], nc[k], "ncl.leaf.q", "workers"));
        TRY(conn_open(r, &pub[k], k));
    }
    FAIL_IF(!await_interest(r, pub[HUB], &nc[LEAF], 1, INTEREST_WAIT_MS), "interest hub");
    FAIL_IF(!await_interest(r, pub[LEAF], &nc[HUB], 1, INTEREST_WAIT_MS), "interest leaf");
    /* Payload "h<i>" from the hub, i < QUEUE_MSGS; "l<QUEUE_MSGS + i>" from the leaf. */
    for (int i = 0; i < QUEUE_MSGS; i++) {
        (void)snprintf(buf, sizeof(buf), "h%d", i); /* fits */
        TRY(natsConnection_PublishString(pub[HUB], "ncl.leaf.q", buf));
        (void)snprintf(buf, sizeof(buf), "l%d", QUEUE_MSGS + i); /* fits */
        TRY(natsConnection_PublishString(pub[LEAF], "ncl.leaf.q", buf));
    }
    for (int k = 0; k < SERVERS; k++) {
        TRY(natsConnection_FlushTimeout(pub[k], WAIT_MS));
    }
    FAIL_IF(!collect_queue(r, members, SERVERS, seen, QUEUE_MSGS * SERVERS, per), "collect");
    printf("# queue_across_link: hub member %d, leaf member %d of %d\n", per[HUB], per[LEAF],
           QUEUE_MSGS * SERVERS);
    for (int i = 0; i < QUEUE_MSGS * SERVERS; i++) {
        FAIL_IF(seen[i] != 1, "message %d delivered %d times (hub member %d, leaf member %d)",
                i, seen[i], per[HUB], per[LEAF]);
    }
    FAIL_IF(per[HUB] != QUEUE_MSGS || per[LEAF] != QUEUE_MSGS,
            "hub member got %d, leaf member %d: each side's member should get its own side's "
            "%d messages", per[HUB], per[LEAF], QUEUE_MSGS);
    ok = true;
out:
    for (int k = 0; k < SERVERS; k++) {
        natsSubscription_Destroy(members[k]);
        conn_close(nc[k]);
        conn_close(pub[k]);
    }
    return ok;
}

/* Queue members only on the leaf (two), publisher on the hub: each message crosses once. */
static bool check_queue_far_side(struct run *r)
{
    natsConnection *pub = NULL;
    natsConnection *nc[2] = {0};
    natsSubscription *members[2] = {0};
    int seen[QUEUE_MSGS] = {0};
    int per[2] = {0};
    bool ok = false;
    char buf[32];

    TRY(conn_open(r, &pub, HUB));
    for (int k = 0; k < 2; k++) {
        TRY(conn_open(r, &nc[k], LEAF));
        TRY(natsConnection_QueueSubscribeSync(&members[k], nc[k], "ncl.leaf.qfar", "far"));
    }
    FAIL_IF(!await_interest(r, pub, nc, 2, INTEREST_WAIT_MS), "interest");
    for (int i = 0; i < QUEUE_MSGS; i++) {
        (void)snprintf(buf, sizeof(buf), "d%d", i); /* fits */
        TRY(natsConnection_PublishString(pub, "ncl.leaf.qfar", buf));
    }
    TRY(natsConnection_FlushTimeout(pub, WAIT_MS));
    FAIL_IF(!collect_queue(r, members, 2, seen, QUEUE_MSGS, per), "collect");
    printf("# queue_far_side: leaf members %d + %d of %d\n", per[0], per[1], QUEUE_MSGS);
    for (int i = 0; i < QUEUE_MSGS; i++) {
        FAIL_IF(seen[i] != 1, "message %d delivered %d times (members %d/%d)", i, seen[i],
                per[0], per[1]);
    }
    ok = true;
out:
    for (int k = 0; k < 2; k++) {
        natsSubscription_Destroy(members[k]);
        conn_close(nc[k]);
    }
    conn_close(pub);
    return ok;
}

/*
 * Publish "<prefix><seq>" on pub and expect exactly that on sub next (local delivery on
 * the leaf, which must never stop).
 */
static bool publish_local(struct run *r, natsConnection *pub, natsSubscription *sub, int seq)
{
    natsMsg *m = NULL;
    bool ok = false;
    char buf[32];
    (void)snprintf(buf, sizeof(buf), "l%d", seq); /* fits */
    TRY(natsConnection_PublishString(pub, "ncl.leaf.rs.local", buf));
    TRY(natsConnection_FlushTimeout(pub, WAIT_MS));
    TRY(next_msg(sub, &m, WAIT_MS));
    FAIL_IF(!data_is(m, buf), "local message %d on the leaf: got %.*s", seq,
            natsMsg_GetDataLength(m), natsMsg_GetData(m));
    ok = true;
out:
    natsMsg_Destroy(m);
    return ok;
}

/*
 * The hub stops and restarts under a nats.c publisher on the leaf: local delivery on the
 * leaf never stops (every message once, in order, before, during and after the outage),
 * and after the restart cross delivery resumes within RESUME_WAIT_MS both ways, with each
 * message once (consecutive numbers, no duplicates).
 */
static bool check_hub_restart(struct run *r)
{
    natsConnection *pub = NULL;
    natsConnection *local_nc = NULL;
    natsSubscription *local = NULL;
    natsConnection *hub_nc = NULL;
    natsSubscription *at_hub = NULL;
    natsConnection *hub_pub = NULL;
    natsConnection *leaf_sub_nc = NULL;
    natsSubscription *at_leaf = NULL;
    natsMsg *m = NULL;
    bool hub_stopped = false;
    bool ok = false;
    int seq = 0;
    char buf[32];

    TRY(conn_open(r, &pub, LEAF));
    TRY(conn_open(r, &local_nc, LEAF));
    TRY(natsConnection_SubscribeSync(&local, local_nc, "ncl.leaf.rs.local"));
    TRY(natsConnection_FlushTimeout(local_nc, WAIT_MS));
    for (int i = 0; i < 5; i++) {
        FAIL_IF(!publish_local(r, pub, local, seq++), "local before the outage");
    }

    FAIL_IF(!control(r, "STOP", HUB), "stopping the hub");
    hub_stopped = true;
    for (int i = 0; i < OUTAGE_MSGS; i++) {
        FAIL_IF(!publish_local(r, pub, local, seq++), "local with the hub down");
    }
    FAIL_IF(!control(r, "START", HUB), "restarting the hub");
    hub_stopped = false;

    /* The leaf reconnects on its own; keep publishing locally while waiting for it. */
    struct timespec t0;
    (void)clock_gettime(CLOCK_MONOTONIC, &t0);
    TRY(conn_open(r, &hub_nc, HUB));
    TRY(natsConnection_SubscribeSync(&at_hub, hub_nc, "ncl.leaf.rs.up"));
    TRY(natsConnection_FlushTimeout(hub_nc, WAIT_MS));
    int first = -1;
    for (int up = 0; first < 0; up++) {
        FAIL_IF(elapsed_ms_since(&t0) > RESUME_WAIT_MS,
                "no leaf -> hub delivery within %d ms of the hub's restart", RESUME_WAIT_MS);
        FAIL_IF(!publish_local(r, pub, local, seq++), "local while the leaf reconnects");
        (void)snprintf(buf, sizeof(buf), "u%d", up); /* fits */
        TRY(natsConnection_PublishString(pub, "ncl.leaf.rs.up", buf));
        TRY(natsConnection_FlushTimeout(pub, WAIT_MS));
        natsStatus s = next_msg(at_hub, &m, PROBE_MS);
        if (s == NATS_OK) {
            first = payload_seq(m, 1);
            FAIL_IF(first != up, "first message at the hub is %.*s, want u%d",
                    natsMsg_GetDataLength(m), natsMsg_GetData(m), up);
        } else {
            FAIL_IF(s != NATS_TIMEOUT, "hub subscriber: %s", natsStatus_GetText(s));
        }
        natsMsg_Destroy(m);
        m = NULL;
    }
    printf("# hub_restart: leaf -> hub delivery %ld ms after the hub accepted clients\n",
           elapsed_ms_since(&t0));
    for (int i = 1; i <= AFTER_MSGS; i++) {
        (void)snprintf(buf, sizeof(buf), "u%d", first + i); /* fits */
        TRY(natsConnection_PublishString(pub, "ncl.leaf.rs.up", buf));
    }
    TRY(natsConnection_FlushTimeout(pub, WAIT_MS));
    for (int i = 1; i <= AFTER_MSGS; i++) {
        TRY(next_msg(at_hub, &m, WAIT_MS));
        FAIL_IF(payload_seq(m, 1) != first + i, "hub got %.*s, want u%d (duplicate or loss)",
                natsMsg_GetDataLength(m), natsMsg_GetData(m), first + i);
        natsMsg_Destroy(m);
        m = NULL;
    }
    int extra = drain_count(at_hub);
    FAIL_IF(extra != 0, "hub got %d extra messages after the restart", extra);

    /* Hub -> leaf again. */
    TRY(conn_open(r, &hub_pub, HUB));
    TRY(conn_open(r, &leaf_sub_nc, LEAF));
    TRY(natsConnection_SubscribeSync(&at_leaf, leaf_sub_nc, "ncl.leaf.rs.down"));
    FAIL_IF(!await_interest(r, hub_pub, &leaf_sub_nc, 1, RESUME_WAIT_MS), "interest down");
    for (int i = 0; i < AFTER_MSGS; i++) {
        (void)snprintf(buf, sizeof(buf), "d%d", i); /* fits */
        TRY(natsConnection_PublishString(hub_pub, "ncl.leaf.rs.down", buf));
    }
    TRY(natsConnection_FlushTimeout(hub_pub, WAIT_MS));
    for (int i = 0; i < AFTER_MSGS; i++) {
        TRY(next_msg(at_leaf, &m, WAIT_MS));
        FAIL_IF(payload_seq(m, 1) != i, "leaf got %.*s, want d%d", natsMsg_GetDataLength(m),
                natsMsg_GetData(m), i);
        natsMsg_Destroy(m);
        m = NULL;
    }
    extra = drain_count(at_leaf);
    FAIL_IF(extra != 0, "leaf got %d extra messages from the hub", extra);
    extra = drain_count(local);
    FAIL_IF(extra != 0, "leaf's local subscriber got %d extra messages", extra);
    printf("# hub_restart: %d local messages on the leaf, each once\n", seq);
    ok = true;
out:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(at_leaf);
    conn_close(leaf_sub_nc);
    conn_close(hub_pub);
    natsSubscription_Destroy(at_hub);
    conn_close(hub_nc);
    natsSubscription_Destroy(local);
    conn_close(local_nc);
    conn_close(pub);
    /* Bring the hub back for any later check, whatever happened. */
    if (hub_stopped && !control(r, "START", HUB)) {
        ok = false;
    }
    return ok;
}

/* ---------------------------------------------------------------------------------------- */

static const struct check checks[] = {
    {"leaf_to_hub", check_leaf_to_hub},
    {"hub_to_leaf", check_hub_to_leaf},
    {"queue_across_link", check_queue_across_link},
    {"queue_far_side", check_queue_far_side},
    {"hub_restart", check_hub_restart},
};

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
            printf("%s\n", checks[i].name);
        }
        return 0;
    }
    if (argc < 1 + SERVERS) {
        fprintf(stderr, "usage: %s nats://HUB nats://LEAF [check ...] | --list\n", argv[0]);
        return 2;
    }
    struct run r;
    memset(&r, 0, sizeof(r));
    for (int i = 0; i < SERVERS; i++) {
        if (strncmp(argv[1 + i], "nats://", 7) != 0) {
            fprintf(stderr, "%s: %s is not a nats:// URL\n", argv[0], argv[1 + i]);
            return 2;
        }
        r.urls[i] = argv[1 + i];
    }
    (void)alarm(RUN_TIMEOUT_S); /* default SIGALRM action ends a hung run */
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = run_checks(&r, checks, sizeof(checks) / sizeof(checks[0]), 1 + SERVERS, argc, argv);
    /* Wait for the library's threads so sanitizer builds see no leaks; a slow teardown is
     * not a compatibility failure. */
    (void)nats_CloseAndWait(5000);
    return rc;
}
