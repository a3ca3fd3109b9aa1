/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compat_natsc_supercluster: checks a supercluster of a NATS-compatible server (clusters
 * joined by gateways) with the nats.c client (Debian libnats). Usage:
 *
 *   compat_natsc_supercluster nats://a1 nats://a2 nats://b1 nats://c1 \
 *                             http://a1 http://a2 http://b1 http://c1 [check ...]
 *   compat_natsc_supercluster --list
 *
 * The four servers form three clusters joined by gateways: A (a1, a2, routed to each
 * other), B (b1) and C (c1). The first four arguments are their client URLs, the next
 * four their monitoring URLs (http://127.0.0.1:PORT, the -m port), in the same order.
 * tests/compat/js/natsc_supercluster.test.mjs starts the supercluster, waits until it is
 * fully connected and runs this program.
 *
 * Prints one line per check ("ok - name" or "FAIL - name: why"), diagnostic lines
 * starting with "# ", and a closing "N passed, N failed" line; exits 1 if any check
 * failed, 2 on usage errors.
 *
 * Cross-cluster delivery first waits for the subscribers' interest to reach the
 * publisher's server (await_interest): the subscriber connections subscribe to probe
 * subjects after their real subscriptions and the publisher publishes on them until
 * every probe has arrived; a server forwards one connection's subscriptions in order,
 * over routes and gateways alike. (await_interest, conn_open and drain-style receiving
 * are the same as in compat_natsc_cluster.c.)
 *
 * gateway_connection_counts reads /gatewayz itself: a plain HTTP/1.0 GET on a loopback
 * socket with send and receive timeouts, the body parsed with jansson (duplicate keys
 * rejected, so a gateway listed twice is an error, not a silent overwrite).
 *
 * Every wait is bounded: each client call and socket operation has a timeout, and an
 * alarm ends the process if the whole run takes longer than RUN_TIMEOUT_S. Each check
 * owns the connections, subscriptions and JSON it creates and releases them on every path.
 */
#include <nats/nats.h>

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum {
    RUN_TIMEOUT_S = 60,
    WHY_MAX = 512,
    CONNECT_TIMEOUT_MS = 3000,
    WAIT_MS = 3000,              /* a message that must arrive */
    QUIET_MS = 200,              /* proof that no further message arrives */
    INTEREST_WAIT_MS = 10000,    /* subscriptions crossing routes and gateways */
    PROBE_MS = 20,               /* between probe rounds */
    REQUEST_TIMEOUT_MS = 3000,
    FAILOVER_WAIT_MS = 10000,    /* A's members gone: a message reaches B's member */
    HTTP_TIMEOUT_MS = 3000,      /* each socket operation of one monitoring request */
    HTTP_RESPONSE_MAX = 1 << 18, /* whole /gatewayz response, headers included */
    SERVERS = 4,
    CLUSTERS = 3,
    PUBSUB_MSGS = 50,
    FIRST_REQUESTS = 6,          /* fresh requesters, one first request each */
    MORE_REQUESTS = 20,          /* then on one connection */
    QUEUE_MSGS = 100,
    PROBES_MAX = FAILOVER_WAIT_MS / PROBE_MS,
    SUBS_MAX = 8,
    SERVER_ID_MAX = 64,
    PAYLOAD_MAX = 64,
};

struct run {
    const char *urls[SERVERS];         /* client URLs: a1, a2, b1, c1 */
    const char *monitor_urls[SERVERS]; /* monitoring URLs, same order */
    unsigned probe_seq;                /* makes probe subjects unique within the run */
    char why[WHY_MAX];                 /* detail of the current check's failure */
};

#include "harness.h"

enum { A1 = 0, A2 = 1, B1 = 2, C1 = 3 };

static const char *const server_names[SERVERS] = {"a1", "a2", "b1", "c1"};
static const char *const cluster_names[CLUSTERS] = {"A", "B", "C"};
static const int cluster_of[SERVERS] = {0, 0, 1, 2}; /* index into cluster_names */

/* ---------------------------------------------------------------------------------------- */
/* Connections and interest */

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

/*
 * Wait (bounded) until the subscriptions already made on subs[0..n) are known on the
 * server pub is connected to. See the file comment.
 */
static bool await_interest(struct run *r, natsConnection *pub, natsConnection **subs, int n)
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
        FAIL_IF(elapsed_ms_since(&t0) > INTEREST_WAIT_MS,
                "%d of %d subscriber connections' interest did not reach the publisher's "
                "server within %d ms", left, n, INTEREST_WAIT_MS);
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

/* Copy a message's payload into out as a string; false if it does not fit. */
static bool payload_str(const natsMsg *m, char *out, size_t out_size)
{
    int len = natsMsg_GetDataLength(m);
    if (len < 0 || (size_t)len >= out_size) {
        return false;
    }
    memcpy(out, natsMsg_GetData(m), (size_t)len);
    out[len] = '\0';
    return true;
}

/* The number in "<prefix><n>" when it is in [0, limit), else -1. */
static int numbered(const char *payload, const char *prefix, int limit)
{
    size_t pl = strlen(prefix);
    if (strncmp(payload, prefix, pl) != 0) {
        return -1;
    }
    char *end = NULL;
    long n = strtol(payload + pl, &end, 10);
    if (end == payload + pl || *end != '\0' || n < 0 || n >= limit) {
        return -1;
    }
    return (int)n;
}

/* ---------------------------------------------------------------------------------------- */
/* Monitoring: GET a JSON endpoint */

/* Set send and receive timeouts on fd; connect() honours the send timeout on Linux. */
static bool socket_timeouts(int fd)
{
    struct timeval tv = {.tv_sec = HTTP_TIMEOUT_MS / 1000,
                         .tv_usec = (HTTP_TIMEOUT_MS % 1000) * 1000};
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
           setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0;
}

/*
 * GET path from server's monitoring URL (http://127.0.0.1:PORT) with HTTP/1.0, so the
 * server closes after the response and never chunks it; parse the body as JSON. Returns
 * a new reference the caller releases with json_decref, or NULL with r->why set.
 */
static json_t *http_get_json(struct run *r, int server, const char *path)
{
    const char *url = r->monitor_urls[server];
    char host[64];
    int port = 0;
    int fd = -1;
    char *buf = NULL;
    size_t len = 0;
    json_t *doc = NULL;

    FAIL_IF(sscanf(url, "http://%63[^:/]:%d", host, &port) != 2 || port <= 0 || port > 65535,
            "monitoring URL %s is not http://HOST:PORT", url);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    FAIL_IF(inet_pton(AF_INET, host, &sa.sin_addr) != 1, "monitoring host %s is not IPv4", host);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    FAIL_IF(fd < 0, "socket: %s", strerror(errno));
    FAIL_IF(!socket_timeouts(fd), "setsockopt: %s", strerror(errno));
    FAIL_IF(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0, "connect %s (%s): %s",
            url, server_names[server], strerror(errno));
    char req[256];
    int req_len = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s:%d\r\n\r\n", path,
                           host, port);
    FAIL_IF(req_len <= 0 || (size_t)req_len >= sizeof(req), "request for %s too long", path);
    for (int sent = 0; sent < req_len;) {
        ssize_t n = send(fd, req + sent, (size_t)(req_len - sent), MSG_NOSIGNAL);
        FAIL_IF(n < 0 && errno != EINTR, "send to %s: %s", url, strerror(errno));
        if (n > 0) {
            sent += (int)n;
        }
    }
    buf = malloc(HTTP_RESPONSE_MAX + 1);
    FAIL_IF(buf == NULL, "out of memory");
    for (;;) {
        FAIL_IF(len == HTTP_RESPONSE_MAX, "GET %s on %s: response over %d bytes", path, url,
                HTTP_RESPONSE_MAX);
        ssize_t n = recv(fd, buf + len, HTTP_RESPONSE_MAX - len, 0);
        if (n == 0) {
            break;
        }
        FAIL_IF(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK),
                "GET %s on %s: no complete response within %d ms", path, url, HTTP_TIMEOUT_MS);
        FAIL_IF(n < 0 && errno != EINTR, "recv from %s: %s", url, strerror(errno));
        if (n > 0) {
            len += (size_t)n;
        }
    }
    buf[len] = '\0';
    char *body = strstr(buf, "\r\n\r\n");
    FAIL_IF(body == NULL, "GET %s on %s: no end of headers in %zu bytes", path, url, len);
    body += 4;
    FAIL_IF(strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 8, " 200", 4) != 0,
            "GET %s on %s: status line %.40s, want HTTP/1.x 200", path, url, buf);
    json_error_t err;
    doc = json_loadb(body, len - (size_t)(body - buf), JSON_REJECT_DUPLICATES, &err);
    FAIL_IF(doc == NULL, "GET %s on %s: bad JSON at line %d column %d: %s", path, url, err.line,
            err.column, err.text);
    FAIL_IF(!json_is_object(doc), "GET %s on %s: body is not a JSON object", path, url);
out:
    if (doc != NULL && r->why[0] != '\0') {
        json_decref(doc);
        doc = NULL;
    }
    free(buf);
    if (fd >= 0) {
        (void)close(fd); /* read-only socket: nothing to lose on close */
    }
    return doc;
}

/* ---------------------------------------------------------------------------------------- */
/* Checks */

/* Publish on a1: subscribers on b1 and c1 each get every message once, in order. */
static bool check_cross_cluster_pubsub(struct run *r)
{
    static const int where[2] = {B1, C1};
    natsConnection *pub = NULL;
    natsConnection *subs_nc[2] = {0};
    natsSubscription *subs[2] = {0};
    natsMsg *m = NULL;
    bool ok = false;
    char buf[PAYLOAD_MAX];

    TRY(conn_open(r, &pub, A1));
    for (int k = 0; k < 2; k++) {
        TRY(conn_open(r, &subs_nc[k], where[k]));
        TRY(natsConnection_SubscribeSync(&subs[k], subs_nc[k], "ncs.ps"));
    }
    FAIL_IF(!await_interest(r, pub, subs_nc, 2), "interest");
    for (int i = 0; i < PUBSUB_MSGS; i++) {
        (void)snprintf(buf, sizeof(buf), "m%d", i); /* fits */
        TRY(natsConnection_PublishString(pub, "ncs.ps", buf));
    }
    TRY(natsConnection_FlushTimeout(pub, WAIT_MS));
    for (int k = 0; k < 2; k++) {
        const char *who = server_names[where[k]];
        for (int i = 0; i < PUBSUB_MSGS; i++) {
            natsStatus s = next_msg(subs[k], &m, WAIT_MS);
            FAIL_IF(s == NATS_TIMEOUT, "subscriber on %s: got %d of %d messages, then none "
                    "within %d ms", who, i, PUBSUB_MSGS, WAIT_MS);
            TRY(s);
            char want[PAYLOAD_MAX];
            (void)snprintf(want, sizeof(want), "m%d", i); /* fits */
            FAIL_IF(!data_is(m, want), "subscriber on %s: message %d is %.*s, want %s", who, i,
                    natsMsg_GetDataLength(m), natsMsg_GetData(m), want);
            natsMsg_Destroy(m);
            m = NULL;
        }
        natsStatus s = next_msg(subs[k], &m, QUIET_MS);
        FAIL_IF(s == NATS_OK, "subscriber on %s: extra message after all %d: %.*s", who,
                PUBSUB_MSGS, natsMsg_GetDataLength(m), natsMsg_GetData(m));
        FAIL_IF(s != NATS_TIMEOUT, "subscriber on %s: %s", who, natsStatus_GetText(s));
    }
    ok = true;
out:
    natsMsg_Destroy(m);
    for (int k = 0; k < 2; k++) {
        natsSubscription_Destroy(subs[k]);
        conn_close(subs_nc[k]);
    }
    conn_close(pub);
    return ok;
}

/* What the responder saw, from nats.c's delivery thread. */
struct responder {
    pthread_mutex_t mu;
    int requests;
    int gr_replies;            /* reply subjects with the gateway's _GR_. prefix */
    char gr_example[PAYLOAD_MAX];
};

/* Answer "re:<payload>" on the request's reply subject. */
static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    struct responder *rs = closure;
    const char *reply = natsMsg_GetReply(msg);
    char out[PAYLOAD_MAX + 3] = "re:";
    int len = natsMsg_GetDataLength(msg);
    (void)sub;
    if (len > PAYLOAD_MAX - 1) {
        len = PAYLOAD_MAX - 1; /* the check compares the answer, so a cut shows up there */
    }
    memcpy(out + 3, natsMsg_GetData(msg), (size_t)len);
    (void)pthread_mutex_lock(&rs->mu);
    rs->requests++;
    if (reply != NULL && strncmp(reply, "_GR_.", 5) == 0) {
        if (rs->gr_replies++ == 0) {
            (void)snprintf(rs->gr_example, sizeof(rs->gr_example), "%s", reply); /* cut ok */
        }
    }
    (void)pthread_mutex_unlock(&rs->mu);
    if (reply != NULL) {
        /* A failed publish shows up as the requester's timeout, which names the request. */
        (void)natsConnection_Publish(nc, reply, out, 3 + len);
    }
    natsMsg_Destroy(msg);
}

/* One request from nc, with its reply checked. */
static bool request_once(struct run *r, natsConnection *nc, const char *from, const char *what)
{
    natsMsg *reply = NULL;
    bool ok = false;
    char got[PAYLOAD_MAX + 3];
    char want[PAYLOAD_MAX + 3];

    natsStatus s = natsConnection_RequestString(&reply, nc, "ncs.rr", what, REQUEST_TIMEOUT_MS);
    FAIL_IF(s == NATS_TIMEOUT, "request %s from %s to the responder on c1: no reply within "
            "%d ms", what, from, REQUEST_TIMEOUT_MS);
    FAIL_IF(s == NATS_NO_RESPONDERS, "request %s from %s: no responders (503), want the "
            "responder on c1 to answer", what, from);
    FAIL_IF(s != NATS_OK, "request %s from %s: %s (%s)", what, from, natsStatus_GetText(s),
            last_error_text());
    (void)snprintf(want, sizeof(want), "re:%s", what); /* fits */
    FAIL_IF(!payload_str(reply, got, sizeof(got)), "request %s from %s: reply of %d bytes", what,
            from, natsMsg_GetDataLength(reply));
    FAIL_IF(strcmp(got, want) != 0, "request %s from %s: reply %s, want %s", what, from, got,
            want);
    ok = true;
out:
    natsMsg_Destroy(reply);
    return ok;
}

/*
 * Responder on c1, requesters on a1 and a2. Each fresh requester's very first request goes
 * out right after connecting, so its reply subscription cannot have crossed the gateways
 * yet: the reply has to come back anyway (nats-server's _GR_ reply mapping). The responder
 * sees plain reply subjects.
 */
static bool check_cross_cluster_request_reply(struct run *r)
{
    static const int probe_at[2] = {A1, A2};
    natsConnection *svc_nc = NULL;
    natsSubscription *svc = NULL;
    natsConnection *probes[2] = {0};
    natsConnection *req = NULL;
    struct responder rs;
    bool ok = false;
    char what[PAYLOAD_MAX];

    memset(&rs, 0, sizeof(rs));
    (void)pthread_mutex_init(&rs.mu, NULL);
    TRY(conn_open(r, &svc_nc, C1));
    TRY(natsConnection_Subscribe(&svc, svc_nc, "ncs.rr", on_request, &rs));
    TRY(natsConnection_FlushTimeout(svc_nc, WAIT_MS));
    /* The responder's interest has to reach both of A's servers; the requesters' does not. */
    for (int k = 0; k < 2; k++) {
        TRY(conn_open(r, &probes[k], probe_at[k]));
        FAIL_IF(!await_interest(r, probes[k], &svc_nc, 1), "responder interest on %s",
                server_names[probe_at[k]]);
    }
    for (int i = 0; i < FIRST_REQUESTS; i++) {
        int from = probe_at[i % 2];
        TRY(conn_open(r, &req, from));
        (void)snprintf(what, sizeof(what), "first.%d", i); /* fits */
        FAIL_IF(!request_once(r, req, server_names[from], what), "first request");
        if (i + 1 < FIRST_REQUESTS) {
            conn_close(req);
            req = NULL;
        }
    }
    for (int i = 0; i < MORE_REQUESTS; i++) {
        (void)snprintf(what, sizeof(what), "more.%d", i); /* fits */
        FAIL_IF(!request_once(r, req, server_names[probe_at[(FIRST_REQUESTS - 1) % 2]], what),
                "request");
    }
    (void)pthread_mutex_lock(&rs.mu);
    int requests = rs.requests;
    int gr = rs.gr_replies;
    char example[PAYLOAD_MAX];
    memcpy(example, rs.gr_example, sizeof(example));
    (void)pthread_mutex_unlock(&rs.mu);
    FAIL_IF(requests != FIRST_REQUESTS + MORE_REQUESTS, "responder saw %d requests, want %d",
            requests, FIRST_REQUESTS + MORE_REQUESTS);
    FAIL_IF(gr > 0, "responder saw %d reply subjects with the gateway prefix (e.g. %s), want "
            "the requester's own _INBOX subject", gr, example);
    ok = true;
out:
    conn_close(req);
    for (int k = 0; k < 2; k++) {
        conn_close(probes[k]);
    }
    /* Close before destroying the subscription and the mutex its callback uses. */
    conn_close(svc_nc);
    natsSubscription_Destroy(svc);
    (void)pthread_mutex_destroy(&rs.mu);
    return ok;
}

/* Deliveries of one phase of the queue check, by payload number. */
struct tally {
    const char *prefix;       /* this phase's payloads are "<prefix><i>" */
    int seen[QUEUE_MSGS];     /* deliveries of "<prefix><i>" */
    int probes[PROBES_MAX];   /* deliveries of "probe.<p>" */
};

/*
 * Receive everything pending on sub until it stays quiet for QUIET_MS, counting each
 * "<prefix><i>" into t->seen[i] and into *count, and each "probe.<p>" into t->probes[p].
 * Any other payload fails the check.
 */

static bool receive_all(struct run *r, natsSubscription *sub, const char *who, struct tally *t,
                        int *count)
{
    natsMsg *m = NULL;
    bool ok = false;
    char buf[PAYLOAD_MAX];

    for (;;) {
        natsStatus s = next_msg(sub, &m, QUIET_MS);
        if (s == NATS_TIMEOUT) {
            break;
        }
        FAIL_IF(s != NATS_OK, "member on %s: %s", who, natsStatus_GetText(s));
        FAIL_IF(!payload_str(m, buf, sizeof(buf)), "member on %s: %d-byte payload", who,
                natsMsg_GetDataLength(m));
        int i = numbered(buf, t->prefix, QUEUE_MSGS);
        int p = numbered(buf, "probe.", PROBES_MAX);
        FAIL_IF(i < 0 && p < 0, "member on %s: payload %s was never sent in this phase", who,
                buf);
        if (i >= 0) {
            t->seen[i]++;
            (*count)++;
        } else {
            t->probes[p]++;
        }
        natsMsg_Destroy(m);
        m = NULL;
    }
    ok = true;
out:
    natsMsg_Destroy(m);
    return ok;
}

/*
 * Queue group "workers": two members on a2, one on b1; the publisher on a1. Every message
 * goes to A's members (the publisher's cluster is preferred, on another of its servers).
 * Then A's members leave: after a bounded failover (probe messages until one reaches b1),
 * every message goes to B's member. Each message exactly once overall.
 */
static bool check_queue_prefers_local_cluster(struct run *r)
{
    enum { MEMBERS = 3 };
    static const int where[MEMBERS] = {A2, A2, B1};
    natsConnection *pub = NULL;
    natsConnection *members_nc[MEMBERS] = {0};
    natsSubscription *members[MEMBERS] = {0};
    natsMsg *m = NULL;
    struct tally *t = NULL;
    int per[MEMBERS] = {0};
    bool ok = false;
    char buf[PAYLOAD_MAX];

    t = calloc(1, sizeof(*t));
    FAIL_IF(t == NULL, "out of memory");
    TRY(conn_open(r, &pub, A1));
    for (int k = 0; k < MEMBERS; k++) {
        TRY(conn_open(r, &members_nc[k], where[k]));
        TRY(natsConnection_QueueSubscribeSync(&members[k], members_nc[k], "ncs.q", "workers"));
    }
    FAIL_IF(!await_interest(r, pub, members_nc, MEMBERS), "interest");

    /* Phase 1: A has members, so A gets everything. */
    t->prefix = "p1.";
    for (int i = 0; i < QUEUE_MSGS; i++) {
        (void)snprintf(buf, sizeof(buf), "p1.%d", i); /* fits */
        TRY(natsConnection_PublishString(pub, "ncs.q", buf));
    }
    TRY(natsConnection_FlushTimeout(pub, WAIT_MS));
    for (int k = 0; k < MEMBERS; k++) {
        FAIL_IF(!receive_all(r, members[k], server_names[where[k]], t, &per[k]), "phase 1");
    }
    printf("# queue_prefers_local_cluster: phase 1: members on a2 %d and %d, on b1 %d of %d\n",
           per[0], per[1], per[2], QUEUE_MSGS);
    for (int i = 0; i < QUEUE_MSGS; i++) {
        FAIL_IF(t->seen[i] != 1, "p1.%d delivered %d times, want once (a2 %d+%d, b1 %d)", i,
                t->seen[i], per[0], per[1], per[2]);
    }
    FAIL_IF(per[2] != 0, "publisher in A: %d of %d messages went to B's member, want 0 while "
            "A has members (a2 %d+%d)", per[2], QUEUE_MSGS, per[0], per[1]);

    /* A's members leave; wait until the publisher's server sends to B instead. */
    for (int k = 0; k < 2; k++) {
        natsSubscription_Destroy(members[k]);
        members[k] = NULL;
        conn_close(members_nc[k]);
        members_nc[k] = NULL;
    }
    memset(t, 0, sizeof(*t));
    t->prefix = "p2.";
    int probes_sent = 0;
    for (bool reached = false; !reached; probes_sent++) {
        FAIL_IF(probes_sent == PROBES_MAX, "no message reached B's member within %d ms after "
                "A's members left (%d probes published on a1)", FAILOVER_WAIT_MS, probes_sent);
        (void)snprintf(buf, sizeof(buf), "probe.%d", probes_sent); /* fits */
        TRY(natsConnection_PublishString(pub, "ncs.q", buf));
        TRY(natsConnection_FlushTimeout(pub, WAIT_MS));
        natsStatus s = next_msg(members[2], &m, PROBE_MS);
        if (s == NATS_OK) {
            FAIL_IF(!payload_str(m, buf, sizeof(buf)), "probe payload");
            int p = numbered(buf, "probe.", PROBES_MAX);
            FAIL_IF(p < 0, "member on b1 got %s while waiting for a probe", buf);
            t->probes[p]++;
            reached = true;
        } else {
            FAIL_IF(s != NATS_TIMEOUT, "member on b1: %s", natsStatus_GetText(s));
        }
        natsMsg_Destroy(m);
        m = NULL;
    }
    printf("# queue_prefers_local_cluster: failover after %d probes\n", probes_sent);

    /* Phase 2: only B has a member. */
    int b_count = 0;
    for (int i = 0; i < QUEUE_MSGS; i++) {
        (void)snprintf(buf, sizeof(buf), "p2.%d", i); /* fits */
        TRY(natsConnection_PublishString(pub, "ncs.q", buf));
    }
    TRY(natsConnection_FlushTimeout(pub, WAIT_MS));
    FAIL_IF(!receive_all(r, members[2], "b1", t, &b_count), "phase 2");
    for (int i = 0; i < QUEUE_MSGS; i++) {
        FAIL_IF(t->seen[i] != 1, "after failover: p2.%d delivered %d times to B's member, "
                "want once (%d of %d arrived)", i, t->seen[i], b_count, QUEUE_MSGS);
    }
    for (int p = 0; p < probes_sent; p++) {
        FAIL_IF(t->probes[p] > 1, "probe.%d delivered %d times", p, t->probes[p]);
    }
    ok = true;
out:
    natsMsg_Destroy(m);
    for (int k = 0; k < MEMBERS; k++) {
        natsSubscription_Destroy(members[k]);
        conn_close(members_nc[k]);
    }
    conn_close(pub);
    free(t);
    return ok;
}

/* The outbound gateway of gz to cluster `to`, or NULL. */
static json_t *outbound_to(json_t *gz, const char *to)
{
    return json_object_get(json_object_get(gz, "outbound_gateways"), to);
}

/* The remote server id of a gateway entry ({"connection": {"name": ID}}), or NULL. */
static const char *entry_remote_id(json_t *entry)
{
    return json_string_value(json_object_get(json_object_get(entry, "connection"), "name"));
}

/* Index of the server whose id is id, or -1. */
static int server_by_id(char ids[SERVERS][SERVER_ID_MAX], const char *id)
{
    for (int k = 0; id != NULL && k < SERVERS; k++) {
        if (strcmp(ids[k], id) == 0) {
            return k;
        }
    }
    return -1;
}

/* Check one server's outbound gateways: exactly one per other cluster, to that cluster. */
static bool outbound_ok(struct run *r, json_t *gz[SERVERS], char ids[SERVERS][SERVER_ID_MAX],
                        int k)
{
    const char *me = server_names[k];
    json_t *out = json_object_get(gz[k], "outbound_gateways");
    bool ok = false;

    FAIL_IF(!json_is_object(out), "%s: /gatewayz outbound_gateways is not an object", me);
    FAIL_IF(json_object_size(out) != CLUSTERS - 1, "%s: %zu outbound gateways, want %d (one "
            "per other cluster)", me, json_object_size(out), CLUSTERS - 1);
    for (int c = 0; c < CLUSTERS; c++) {
        if (c == cluster_of[k]) {
            FAIL_IF(json_object_get(out, cluster_names[c]) != NULL,
                    "%s: outbound gateway to its own cluster %s", me, cluster_names[c]);
            continue;
        }
        json_t *g = json_object_get(out, cluster_names[c]);
        FAIL_IF(g == NULL, "%s: no outbound gateway to cluster %s", me, cluster_names[c]);
        const char *id = entry_remote_id(g);
        int to = server_by_id(ids, id);
        FAIL_IF(to < 0, "%s: outbound gateway to %s connected to %s, not a known server", me,
                cluster_names[c], id != NULL ? id : "(no connection.name)");
        FAIL_IF(cluster_of[to] != c, "%s: outbound gateway to %s connected to %s of cluster %s",
                me, cluster_names[c], server_names[to], cluster_names[cluster_of[to]]);
    }
    ok = true;
out:
    return ok;
}

/*
 * Check one server's inbound gateways: exactly the other servers' outbound gateways that
 * are connected to it, each once, listed under the sender's cluster.
 */
static bool inbound_ok(struct run *r, json_t *gz[SERVERS], char ids[SERVERS][SERVER_ID_MAX],
                       int k)
{
    const char *me = server_names[k];
    json_t *in = json_object_get(gz[k], "inbound_gateways");
    int matched[SERVERS] = {0};
    bool ok = false;
    const char *cname;
    json_t *list;

    FAIL_IF(!json_is_object(in), "%s: /gatewayz inbound_gateways is not an object", me);
    json_object_foreach(in, cname, list) {
        FAIL_IF(!json_is_array(list), "%s: inbound_gateways.%s is not an array", me, cname);
        size_t i;
        json_t *g;
        json_array_foreach(list, i, g) {
            const char *id = entry_remote_id(g);
            int from = server_by_id(ids, id);
            FAIL_IF(from < 0, "%s: inbound gateway from %s is %s, not a known server", me, cname,
                    id != NULL ? id : "(no connection.name)");
            FAIL_IF(strcmp(cluster_names[cluster_of[from]], cname) != 0,
                    "%s: inbound gateway from %s listed under cluster %s", me,
                    server_names[from], cname);
            matched[from]++;
        }
    }
    for (int from = 0; from < SERVERS; from++) {
        int want = 0;
        if (cluster_of[from] != cluster_of[k]) {
            const char *to_id =
                entry_remote_id(outbound_to(gz[from], cluster_names[cluster_of[k]]));
            want = to_id != NULL && strcmp(to_id, ids[k]) == 0 ? 1 : 0;
        }
        FAIL_IF(matched[from] != want, "%s: %d inbound gateways from %s, want %d (%s's outbound "
                "to %s %s)", me, matched[from], server_names[from], want, server_names[from],
                cluster_names[cluster_of[k]], want ? "is connected here" : "is not connected here");
    }
    ok = true;
out:
    return ok;
}

/*
 * /gatewayz on every server: its own cluster name, one outbound gateway per other cluster
 * connected to a server of that cluster, and inbound gateways that pair up with the
 * outbound ones (12 directed pairs of clusters' servers: 2 outbound each on 4 servers).
 */
static bool check_gateway_connection_counts(struct run *r)
{
    json_t *gz[SERVERS] = {0};
    char ids[SERVERS][SERVER_ID_MAX] = {{0}};
    bool ok = false;
    int outbound_total = 0;
    int inbound_total = 0;

    for (int k = 0; k < SERVERS; k++) {
        gz[k] = http_get_json(r, k, "/gatewayz");
        FAIL_IF(gz[k] == NULL, "/gatewayz on %s", server_names[k]);
        const char *id = json_string_value(json_object_get(gz[k], "server_id"));
        const char *name = json_string_value(json_object_get(gz[k], "name"));
        FAIL_IF(id == NULL || strlen(id) >= SERVER_ID_MAX, "%s: /gatewayz server_id missing or "
                "longer than %d", server_names[k], SERVER_ID_MAX - 1);
        FAIL_IF(name == NULL || strcmp(name, cluster_names[cluster_of[k]]) != 0,
                "%s: /gatewayz name %s, want %s", server_names[k], name != NULL ? name : "(none)",
                cluster_names[cluster_of[k]]);
        (void)snprintf(ids[k], sizeof(ids[k]), "%s", id); /* length checked above */
    }
    for (int k = 0; k < SERVERS; k++) {
        FAIL_IF(!outbound_ok(r, gz, ids, k), "outbound");
        outbound_total += (int)json_object_size(json_object_get(gz[k], "outbound_gateways"));
    }
    for (int k = 0; k < SERVERS; k++) {
        FAIL_IF(!inbound_ok(r, gz, ids, k), "inbound");
        const char *cname;
        json_t *list;
        json_object_foreach(json_object_get(gz[k], "inbound_gateways"), cname, list) {
            inbound_total += (int)json_array_size(list);
        }
    }
    printf("# gateway_connection_counts: %d outbound, %d inbound gateway connections\n",
           outbound_total, inbound_total);
    FAIL_IF(outbound_total != SERVERS * (CLUSTERS - 1), "%d outbound gateways in all, want %d",
            outbound_total, SERVERS * (CLUSTERS - 1));
    FAIL_IF(inbound_total != outbound_total, "%d inbound gateways in all, want %d (one per "
            "outbound)", inbound_total, outbound_total);
    ok = true;
out:
    for (int k = 0; k < SERVERS; k++) {
        json_decref(gz[k]);
    }
    return ok;
}

/* ---------------------------------------------------------------------------------------- */

static const struct check checks[] = {
    {"cross_cluster_pubsub", check_cross_cluster_pubsub},
    {"cross_cluster_request_reply", check_cross_cluster_request_reply},
    {"queue_prefers_local_cluster", check_queue_prefers_local_cluster},
    {"gateway_connection_counts", check_gateway_connection_counts},
};

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
            printf("%s\n", checks[i].name);
        }
        return 0;
    }
    if (argc < 1 + 2 * SERVERS) {
        fprintf(stderr, "usage: %s nats://a1 nats://a2 nats://b1 nats://c1 http://a1 http://a2 "
                "http://b1 http://c1 [check ...] | --list\n", argv[0]);
        return 2;
    }
    struct run r;
    memset(&r, 0, sizeof(r));
    for (int i = 0; i < SERVERS; i++) {
        if (strncmp(argv[1 + i], "nats://", 7) != 0) {
            fprintf(stderr, "%s: %s is not a nats:// URL\n", argv[0], argv[1 + i]);
            return 2;
        }
        if (strncmp(argv[1 + SERVERS + i], "http://", 7) != 0) {
            fprintf(stderr, "%s: %s is not an http:// URL\n", argv[0], argv[1 + SERVERS + i]);
            return 2;
        }
        r.urls[i] = argv[1 + i];
        r.monitor_urls[i] = argv[1 + SERVERS + i];
    }
    (void)alarm(RUN_TIMEOUT_S); /* default SIGALRM action ends a hung run */
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = run_checks(&r, checks, sizeof(checks) / sizeof(checks[0]), 1 + 2 * SERVERS, argc,
                        argv);
    /* Wait for the library's threads so sanitizer builds see no leaks; a slow teardown is
     * not a compatibility failure. */
    (void)nats_CloseAndWait(5000);
    return rc;
}
