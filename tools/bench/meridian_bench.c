/* SPDX-License-Identifier: Apache-2.0 */
/*
 * meridian-bench: a load generator for NATS-compatible servers (meridian-server and
 * nats-server alike). It speaks the client protocol over raw non-blocking TCP sockets from
 * one epoll loop in one thread, with no client library, so that the numbers measure the
 * server and not a client's locks, allocations or copies.
 *
 * Scenarios (one per run; each prints one result line, or one JSON object with --json):
 *   pub     N publishers, no subscribers; rate at the publishers, ending with PING/PONG.
 *   pubsub  1 publisher, 1 subscriber on another connection; rate at the subscriber.
 *   fanout  1 publisher, M subscribers; total delivered rate.
 *   queue   1 publisher, M queue subscribers in one group; every message exactly once.
 *   reqrep  1 requester, 1 responder; sequential round trips, latency percentiles.
 *   idle    N connections held open for a while (the caller samples the server's RSS).
 *   ping    connect, PING, PONG: a readiness probe for scripts.
 *   js-pub      publish to a JetStream stream with a reply subject; rate of PubAcks, with
 *               at most --window of them outstanding (1: a synchronous publisher).
 *   js-consume  fill a stream (not measured), then read it through a durable pull
 *               consumer (CONSUMER.MSG.NEXT, --batch per request), acking each message
 *               with +ACK unless --ack none; rate of deliveries.
 *
 * JetStream: one connection does it all over the JSON API. It deletes a stream of the
 * --stream name left by an earlier run, creates it ($JS.API.STREAM.CREATE, --storage file
 * or memory, subject <--subject>.js), measures, and deletes it again. Every PubAck must
 * name a distinct sequence 1..N, every delivery a distinct stream sequence (from its
 * $JS.ACK reply subject); an API error or a status message fails the run.
 *
 * Across a route or a leaf link: --sub-url connects the subscribers (pubsub, fanout,
 * queue) to another server than the publishers (--url), so that every message crosses a
 * route between two servers of one cluster, or the leaf connection between a hub and a
 * leaf. Each subscriber subscribes to the data subject, then to <subject>.fence and
 * <subject>.sync. Before measuring, the publisher publishes an empty message on
 * <subject>.sync every SYNC_INTERVAL_MS until every subscriber has seen one: a server
 * forwards one connection's subscriptions over a route (RS+) or leaf link (LS+) in order,
 * so the earlier subscriptions have arrived too. A PONG from the publisher's server no
 * longer proves that everything is delivered (messages may still be on the link), so the
 * drain is a fence instead: after its last message the publisher publishes on
 * <subject>.fence, and a subscriber is done when the fence arrives, behind all the data on
 * the same link. This assumes one route or leaf connection carries one publisher's
 * messages in order, as nats-server's does.
 *
 * Speed: a publisher writes straight from a prebuilt block of identical PUB commands
 * (about 256 KiB per write); only the queue scenario patches a sequence number into each
 * payload. A subscriber finds each MSG line with memchr, takes the size from the last token
 * and skips the payload without copying it. The clock is read once per read(), not per
 * message.
 *
 * Bounds: every wait is limited by --duration-limit. On timeout the tool prints what it
 * measured so far, marked incomplete, and exits 3. Exit codes: 0 ok, 1 usage or connection
 * error, 2 a check failed (loss, duplicate, -ERR, connection closed), 3 timeout.
 *
 * Ownership: struct bench owns every connection and buffer; they live until the run ends.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#define BENCH_VERSION "0.1.0"

/* Read buffer per data connection. Large reads amortise the syscall over thousands of
 * small MSGs. It must hold one whole control line: nats-server's limit is 4096 bytes. */
#define READ_BUF_BYTES (256 * 1024)
/* Idle connections only ever see INFO, PING and PONG; 5000 of them should not cost the
 * client a gigabyte. Still larger than the 4096-byte control line limit. */
#define IDLE_READ_BUF_BYTES (8 * 1024)
/* A publisher writes this much (rounded to whole messages) per send(). */
#define CHUNK_BYTES_TARGET (256 * 1024)
/* Per loop turn, per connection: so that one fast socket cannot starve the others (a
 * publisher that never sees EAGAIN would otherwise never let its subscriber read). */
#define WRITES_PER_FLUSH_MAX 8
#define READS_PER_EVENT_MAX 16
/* Subjects we copy out of MSG lines (requester and responder only). */
#define SUBJECT_MAX 256
/* Handshakes in flight at once for the idle scenario: more would only overflow the
 * server's accept backlog and turn into SYN retransmits a second later. */
#define CONNECTING_MAX 256
#define EVENTS_MAX 512
/* Longest the loop sleeps without checking the deadline and printing progress. */
#define TICK_MS 100
#define PROGRESS_INTERVAL_NS (1000ull * 1000 * 1000)
#define PAYLOAD_BYTES_MAX (64 * 1024 * 1024)
#define CONNS_MAX 100000
#define ERRMSG_MAX 512
/* JetStream: an API reply or PubAck is kept to be read (stream infos are a few KiB); a
 * longer one is an error. Deliveries of the run are skipped without a copy instead. */
#define JS_BODY_MAX (64 * 1024)
#define JS_NAME_MAX 32
/* js-consume: unacknowledged deliveries the consumer may have out, unless 4 batches are
 * more. Large enough that acks in flight never stall a pull. */
#define JS_ACK_PENDING_MIN 20000
/* js-consume: the stream is filled with this many PubAcks outstanding (not measured). */
#define JS_FILL_WINDOW 256
/* --sub-url: how often the publisher offers a sync message while interest crosses. */
#define SYNC_INTERVAL_MS 20
/* The subscribers' sids for <subject>.fence and .sync; data subscriptions use 1 .. --subs. */
#define FENCE_SID 1000000
#define SYNC_SID 1000001

enum bench_exit {
    BENCH_EXIT_OK = 0,
    BENCH_EXIT_USAGE = 1,
    BENCH_EXIT_CHECK = 2,
    BENCH_EXIT_TIMEOUT = 3,
};

enum scenario {
    SC_PUB,
    SC_PUBSUB,
    SC_FANOUT,
    SC_QUEUE,
    SC_REQREP,
    SC_IDLE,
    SC_PING,
    SC_JS_PUB,
    SC_JS_CONSUME,
    SC_COUNT
};

static const char *const scenario_names[SC_COUNT] = {
    "pub", "pubsub", "fanout", "queue", "reqrep", "idle", "ping", "js-pub", "js-consume",
};

/* ROLE_JS: the one connection of the JetStream scenarios; it makes the API requests,
 * publishes with a reply subject, and pulls from the consumer. */
enum role { ROLE_PUB, ROLE_SUB, ROLE_REQUESTER, ROLE_RESPONDER, ROLE_IDLE, ROLE_JS };

static const char *const role_names[] = {"publisher", "subscriber", "requester", "responder",
                                         "idle",      "jetstream"};

enum conn_state { CS_INIT, CS_CONNECTING, CS_WAIT_INFO, CS_WAIT_PONG, CS_READY, CS_CLOSED };

enum parse_state { PS_LINE, PS_PAYLOAD };

/*
 * Phases of a run. CONNECT: handshakes. RUN: the measured part. DRAIN: publishers got their
 * PONG, so the server has routed everything; one PING per subscriber then proves that all
 * deliveries queued before it have arrived, which makes the loss check exact without
 * waiting for a timeout. HOLD and CHECK: the idle scenario's wait and final liveness PING.
 * SYNC (only with --sub-url): waiting for the subscriptions to cross the link (see the
 * file comment); DRAIN then waits for the fence message instead of a PONG.
 * SETUP and CLEANUP (JetStream scenarios): the API requests before and after the measured
 * part (stream and consumer created, stream filled; stream deleted).
 */
enum phase {
    PH_CONNECT,
    PH_SYNC,
    PH_SETUP,
    PH_RUN,
    PH_DRAIN,
    PH_CLEANUP,
    PH_HOLD,
    PH_CHECK,
    PH_DONE
};

/* --sub-url: what a subscriber's MSG is, by its subject. */
enum msg_kind { MK_DATA, MK_SYNC, MK_FENCE };

/* Bytes queued for one socket; data[off, len) is still to be written. */
struct outbuf {
    uint8_t *data;
    size_t len;
    size_t off;
    size_t cap;
};

struct conn {
    int fd;
    unsigned index;
    enum role role;
    enum conn_state state;
    uint32_t events;    /* epoll interest currently registered */
    bool write_blocked; /* the last send() hit EAGAIN; waiting for EPOLLOUT */

    /* Read side: rbuf[pos, len) is unparsed. Owned by the connection. */
    uint8_t *rbuf;
    size_t rbuf_cap;
    size_t rbuf_len;
    size_t rbuf_pos;
    enum parse_state parse;
    size_t payload_size; /* bytes of the MSG being skipped */
    size_t payload_left; /* payload bytes plus CRLF still to skip */
    size_t payload_seen; /* payload bytes plus CRLF skipped so far */
    uint8_t seq_bytes[8];
    char subject[SUBJECT_MAX];
    char reply[SUBJECT_MAX];

    /* Control operations (CONNECT, SUB, PING, PONG, requests, replies). */
    struct outbuf out;

    /* Publisher: block holds block_msgs copies of one PUB; block[chunk_off, chunk_len) is
     * being written. Messages are never split between the block and out, so a PONG or a
     * PING always lands on a message boundary. */
    uint8_t *block;
    size_t block_msgs;
    size_t chunk_len;
    size_t chunk_off;
    uint64_t pub_target;
    uint64_t pub_sent; /* messages handed to chunks so far */
    bool pub_flush_sent;
    bool pub_done;

    unsigned pongs_pending; /* our PINGs not yet answered */
    uint64_t received;      /* MSGs fully read */
    uint64_t first_ns;      /* monotonic time of the read holding the first MSG */
    uint64_t last_ns;       /* ... and the latest */
    bool synced;            /* --sub-url subscriber: a sync message has arrived */
    enum msg_kind kind;     /* --sub-url subscriber: the MSG being read */
    bool hdr;               /* ROLE_JS: the message being read is an HMSG */
    bool keep;              /* ROLE_JS: its payload is copied into body */
    GString *body;          /* ROLE_JS: that payload (API reply, PubAck, status), CRLF too */
};

struct options {
    gchar *url;
    gchar *sub_url;
    gint64 msgs;
    gint size;
    gint subs;
    gint pubs;
    gint conns;
    gdouble duration_limit_s;
    gdouble hold_s;
    gint64 window_bytes;
    gchar *subject;
    gchar *ready_file;
    gboolean json;
    gboolean quiet;
    /* JetStream scenarios */
    gint window;
    gchar *storage;
    gchar *stream;
    gint batch;
    gchar *ack;
};

/* Where the JetStream scenarios are: each step waits for one kind of answer. */
enum js_step {
    JS_NONE,
    JS_DELETE_OLD, /* STREAM.DELETE of a stream left by an earlier run; not found is fine */
    JS_CREATE,     /* STREAM.CREATE */
    JS_FILL,       /* js-consume: publishing the messages to read, waiting for PubAcks */
    JS_CONSUMER,   /* js-consume: CONSUMER.DURABLE.CREATE */
    JS_PUBLISH,    /* js-pub: the measured publishing */
    JS_PULL,       /* js-consume: the measured pulls */
    JS_DELETE,     /* STREAM.DELETE after the run */
    JS_FINISHED,
};

struct js_state {
    enum js_step step;
    char subject[SUBJECT_MAX];    /* the stream's one subject: <--subject>.js */
    char api_reply[SUBJECT_MAX + 8];  /* <inbox>.api: API responses */
    char ack_reply[SUBJECT_MAX + 8];  /* <inbox>.ack: PubAcks */
    char pull_reply[SUBJECT_MAX + 8]; /* <inbox>.pull: pull requests' replies */
    bool ack_explicit;            /* js-consume: +ACK each delivery (else ack_policy none) */
    uint64_t acked;               /* PubAcks of the current publishing step */
    uint64_t pulled;              /* messages asked for by MSG.NEXT requests */
    uint64_t consumed;            /* deliveries read */
    uint64_t unnumbered;          /* deliveries without a $JS.ACK reply to number them */
    uint64_t last_ns;             /* the latest PubAck or delivery of the measured step */
};

struct bench {
    struct options opt;
    enum scenario scenario;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char addr_text[128];
    /* --sub-url: where subscribers connect; cross says it was given. */
    bool cross;
    struct sockaddr_storage sub_addr;
    socklen_t sub_addr_len;
    char sub_addr_text[128];
    uint64_t sync_next_ns;
    unsigned subs_synced;
    char sync_subject[SUBJECT_MAX];
    char fence_subject[SUBJECT_MAX];

    int epfd;
    struct conn *conns;
    unsigned conn_count;
    unsigned opened;     /* connections whose connect() was issued */
    unsigned connecting; /* issued but not yet through the handshake */
    unsigned ready;      /* through the handshake */
    unsigned closed;     /* lost after the handshake (idle scenario only) */
    unsigned pub_count;
    unsigned sub_count;
    unsigned pubs_finished;
    unsigned subs_drained;
    unsigned check_pending; /* idle: final PINGs not yet answered */
    unsigned check_ok;

    enum phase phase;
    uint64_t start_ns; /* tool start: the deadline counts from here */
    uint64_t deadline_ns;
    uint64_t connect_end_ns;
    uint64_t run_start_ns;
    uint64_t run_end_ns;
    uint64_t hold_end_ns;
    uint64_t next_progress_ns;
    double cpu_start_s;
    double cpu_end_s;

    /* The publishers' message layout, fixed for the run. */
    char pub_subject[SUBJECT_MAX];
    uint8_t *payload;
    size_t msg_bytes;      /* one whole PUB: line, payload, CRLF */
    size_t payload_offset; /* where the payload starts within it */
    uint64_t window_msgs;  /* 0: no limit on messages in flight */

    /* queue: one bit per sequence number; a second delivery is a duplicate. */
    unsigned seq_width;
    uint8_t *seen;
    uint64_t duplicates;

    /* reqrep */
    char inbox[SUBJECT_MAX];
    uint64_t req_sent_ns;
    uint64_t *lat_ns;
    uint64_t lat_count;

    /* js-pub, js-consume; seen (above) marks stream sequences 1..msgs as bits 0..msgs-1 */
    struct js_state js;

    bool failed;
    bool timed_out;
    enum bench_exit fail_code;
    char errmsg[ERRMSG_MAX];
};

/* ------------------------------------------------------------------------------------ */
/* Small helpers                                                                        */
/* ------------------------------------------------------------------------------------ */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return 0.0;
    }
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Records the first failure only: later ones are usually its consequences. */
static void G_GNUC_PRINTF(3, 4)
    bench_fail(struct bench *b, enum bench_exit code, const char *fmt, ...)
{
    if (b->failed) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->errmsg, sizeof(b->errmsg), fmt, ap);
    va_end(ap);
    b->failed = true;
    b->fail_code = code;
}

static void outbuf_reserve(struct outbuf *o, size_t more)
{
    if (o->off == o->len) {
        o->off = 0;
        o->len = 0;
    }
    if (o->len + more <= o->cap) {
        return;
    }
    size_t cap = o->cap ? o->cap : 256;
    while (cap < o->len + more) {
        cap *= 2;
    }
    o->data = g_realloc(o->data, cap);
    o->cap = cap;
}

static void outbuf_append(struct outbuf *o, const void *data, size_t len)
{
    outbuf_reserve(o, len);
    memcpy(o->data + o->len, data, len);
    o->len += len;
}

static void outbuf_str(struct outbuf *o, const char *s)
{
    outbuf_append(o, s, strlen(s));
}

static bool outbuf_pending(const struct outbuf *o)
{
    return o->off < o->len;
}

static void put_le(uint8_t *p, uint64_t v, unsigned width)
{
    for (unsigned i = 0; i < width; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t get_le(const uint8_t *p, unsigned width)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* ------------------------------------------------------------------------------------ */
/* Connections                                                                          */
/* ------------------------------------------------------------------------------------ */

static void conn_set_events(struct bench *b, struct conn *c, uint32_t events)
{
    if (c->events == events || c->fd < 0) {
        return;
    }
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(b->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
        bench_fail(b, BENCH_EXIT_USAGE, "epoll_ctl: %s", strerror(errno));
        return;
    }
    c->events = events;
}

static void conn_close(struct bench *b, struct conn *c)
{
    if (c->fd >= 0) {
        /* The idle scenario closes thousands at once: a reset instead of FIN keeps the
         * client side free of TIME_WAIT entries between back-to-back runs. */
        if (c->role == ROLE_IDLE) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            (void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        (void)epoll_ctl(b->epfd, EPOLL_CTL_DEL, c->fd, NULL); /* close() would drop it too */
        close(c->fd);
        c->fd = -1;
    }
    c->state = CS_CLOSED;
}

/*
 * The server closed the connection or the socket failed. While measuring this is always a
 * failure (nats-server closes slow consumers without -ERR); after the idle scenario's
 * handshakes it only lowers the count of connections up.
 */
/* The server address a connection goes to: subscribers use --sub-url when given. */
static const char *conn_addr_text(const struct bench *b, const struct conn *c)
{
    return b->cross && c->role == ROLE_SUB ? b->sub_addr_text : b->addr_text;
}

static void conn_lost(struct bench *b, struct conn *c, const char *why)
{
    enum conn_state was = c->state;
    conn_close(b, c);
    if (c->role == ROLE_IDLE && b->phase != PH_CONNECT) {
        b->closed++;
        if (b->phase == PH_CHECK && c->pongs_pending > 0) {
            b->check_pending--;
        }
        return;
    }
    if (was == CS_CONNECTING) {
        bench_fail(b, BENCH_EXIT_USAGE,
                   "cannot connect to %s: %s. Is a server running there? Start one, e.g. "
                   "`nats-server -a 127.0.0.1 -p PORT` or "
                   "`build/tools/meridian-server -a 127.0.0.1 -p PORT`, and pass %s",
                   conn_addr_text(b, c), why,
                   b->cross && c->role == ROLE_SUB ? "--sub-url" : "--url");
        return;
    }
    /* nats-server closes a slow consumer without -ERR: say so where it is the likely cause. */
    bench_fail(b, BENCH_EXIT_CHECK, "connection %u (%s) to %s lost: %s%s", c->index,
               role_names[c->role], conn_addr_text(b, c), why,
               c->role == ROLE_SUB ? " (closed as a slow consumer? try a smaller --window-bytes)"
                                   : "");
}

static bool pub_generate(struct bench *b, struct conn *c);

/*
 * Writes what the connection has queued, in order: the rest of the current chunk, then the
 * control buffer, then (publishers) new chunks. Stops at EAGAIN, which arms EPOLLOUT, or
 * after WRITES_PER_FLUSH_MAX sends so that the loop can serve the other sockets.
 */
static void conn_flush(struct bench *b, struct conn *c)
{
    if (c->state == CS_CLOSED || c->state == CS_CONNECTING || c->write_blocked) {
        return;
    }
    unsigned writes = 0;
    while (writes < WRITES_PER_FLUSH_MAX) {
        const uint8_t *data;
        size_t len;
        bool chunk = false;
        if (c->chunk_off < c->chunk_len) {
            data = c->block + c->chunk_off;
            len = c->chunk_len - c->chunk_off;
            chunk = true;
        } else if (outbuf_pending(&c->out)) {
            data = c->out.data + c->out.off;
            len = c->out.len - c->out.off;
        } else if (pub_generate(b, c)) {
            continue;
        } else {
            break;
        }
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        writes++;
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                c->write_blocked = true;
                conn_set_events(b, c, EPOLLIN | EPOLLOUT);
                return;
            }
            conn_lost(b, c, strerror(errno));
            return;
        }
        if (chunk) {
            c->chunk_off += (size_t)n;
        } else {
            c->out.off += (size_t)n;
        }
    }
    if (c->events & EPOLLOUT) {
        conn_set_events(b, c, EPOLLIN);
    }
}

/* Opens connection i: a non-blocking connect whose completion arrives as EPOLLOUT. */
static void conn_open(struct bench *b, unsigned i)
{
    struct conn *c = &b->conns[i];
    bool sub_side = b->cross && c->role == ROLE_SUB;
    const struct sockaddr_storage *addr = sub_side ? &b->sub_addr : &b->addr;
    socklen_t addr_len = sub_side ? b->sub_addr_len : b->addr_len;
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        bench_fail(b, BENCH_EXIT_USAGE, "socket() for connection %u: %s%s", i, strerror(errno),
                   errno == EMFILE ? " (raise `ulimit -n`)" : "");
        return;
    }
    int one = 1;
    /* Small requests and replies must leave at once, not wait for Nagle. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->fd = fd;
    c->state = CS_CONNECTING;
    c->events = EPOLLOUT;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        bench_fail(b, BENCH_EXIT_USAGE, "epoll_ctl: %s", strerror(errno));
        return;
    }
    b->opened++;
    b->connecting++;
    if (connect(fd, (const struct sockaddr *)addr, addr_len) != 0 && errno != EINPROGRESS) {
        conn_lost(b, c, strerror(errno));
    }
}

static void conn_on_connected(struct bench *b, struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
    }
    if (err != 0) {
        conn_lost(b, c, strerror(err));
        return;
    }
    c->state = CS_WAIT_INFO;
    conn_set_events(b, c, EPOLLIN);
}

/* The server's max_payload from INFO, or -1 when absent. A plain scan is enough for one
 * integer field; no JSON library needed. */
static long long info_max_payload(const char *line, size_t len)
{
    static const char key[] = "\"max_payload\"";
    g_autofree gchar *text = g_strndup(line, len);
    const char *p = strstr(text, key);
    if (p == NULL) {
        return -1;
    }
    p += strlen(key);
    while (*p == ' ' || *p == ':') {
        p++;
    }
    return g_ascii_strtoll(p, NULL, 10);
}

/* Sends CONNECT, the subscriptions this role needs, and the PING whose PONG proves the
 * server has registered them. A payload over the server's limit would only end in a closed
 * connection, so it is refused here with the reason. */
static void conn_on_info(struct bench *b, struct conn *c, const char *info, size_t len)
{
    long long max_payload = info_max_payload(info, len);
    if (c->role != ROLE_IDLE && max_payload >= 0 && b->opt.size > max_payload) {
        bench_fail(b, BENCH_EXIT_USAGE, "--size %d is over the server's max_payload %lld",
                   b->opt.size, max_payload);
        return;
    }
    char line[SUBJECT_MAX * 2 + 64];
    /* Headers on for JetStream, so that a pull's status (404, 408, 409) arrives as HMSG. */
    snprintf(line, sizeof(line),
             "CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":false,"
             "\"name\":\"meridian-bench\",\"lang\":\"c\",\"version\":\"" BENCH_VERSION "\","
             "\"protocol\":1,\"echo\":true,\"headers\":%s,\"no_responders\":%s}\r\n",
             c->role == ROLE_JS ? "true" : "false", c->role == ROLE_JS ? "true" : "false");
    outbuf_str(&c->out, line);
    switch (c->role) {
    case ROLE_SUB:
        if (b->scenario == SC_QUEUE) {
            snprintf(line, sizeof(line), "SUB %s q %u\r\n", b->pub_subject, c->index + 1);
        } else {
            snprintf(line, sizeof(line), "SUB %s %u\r\n", b->pub_subject, c->index + 1);
        }
        outbuf_str(&c->out, line);
        if (b->cross) {
            /* After the data subscription, so that it crosses the route first; sync last. */
            snprintf(line, sizeof(line), "SUB %s %u\r\nSUB %s %u\r\n", b->fence_subject,
                     FENCE_SID, b->sync_subject, SYNC_SID);
            outbuf_str(&c->out, line);
        }
        break;
    case ROLE_RESPONDER:
        snprintf(line, sizeof(line), "SUB %s.req 1\r\n", b->opt.subject);
        outbuf_str(&c->out, line);
        break;
    case ROLE_REQUESTER:
    case ROLE_JS:
        snprintf(line, sizeof(line), "SUB %s.* 1\r\n", b->inbox);
        outbuf_str(&c->out, line);
        break;
    default:
        break;
    }
    outbuf_str(&c->out, "PING\r\n");
    c->pongs_pending++;
    c->state = CS_WAIT_PONG;
    conn_flush(b, c);
}

/* ------------------------------------------------------------------------------------ */
/* Publishing                                                                           */
/* ------------------------------------------------------------------------------------ */

/* Messages the slowest subscriber has had: the publisher may run window_msgs ahead. */
static uint64_t received_floor(const struct bench *b)
{
    uint64_t floor = UINT64_MAX;
    uint64_t total = 0;
    for (unsigned i = 0; i < b->conn_count; i++) {
        const struct conn *c = &b->conns[i];
        if (c->role != ROLE_SUB) {
            continue;
        }
        total += c->received;
        if (c->received < floor) {
            floor = c->received;
        }
    }
    if (b->scenario == SC_QUEUE) {
        return total;
    }
    return floor == UINT64_MAX ? 0 : floor;
}

/* Whether this connection publishes now: core publishers while measuring, the JetStream
 * connection while it fills the stream or measures publishing. */
static bool pub_open(const struct bench *b, const struct conn *c)
{
    if (c->state != CS_READY) {
        return false;
    }
    if (c->role == ROLE_JS) {
        return b->js.step == JS_PUBLISH || b->js.step == JS_FILL;
    }
    return c->role == ROLE_PUB && b->phase == PH_RUN;
}

/* JetStream: at most a window of PubAcks outstanding (1 is a synchronous publisher). */
static uint64_t js_pub_allowed(const struct bench *b, const struct conn *c)
{
    uint64_t window = (uint64_t)b->opt.window;
    if (b->js.step == JS_FILL) {
        window = MAX(window, (uint64_t)JS_FILL_WINDOW);
    }
    uint64_t in_flight = c->pub_sent - b->js.acked;
    if (in_flight >= window) {
        return 0;
    }
    return MIN(c->pub_target - c->pub_sent, window - in_flight);
}

/* How many more messages this publisher may hand to a chunk now. */
static uint64_t pub_allowed(const struct bench *b, const struct conn *c)
{
    if (!pub_open(b, c)) {
        return 0;
    }
    if (c->role == ROLE_JS) {
        return js_pub_allowed(b, c);
    }
    uint64_t left = c->pub_target - c->pub_sent;
    if (left == 0 || b->window_msgs == 0 || b->sub_count == 0) {
        return left;
    }
    uint64_t floor = received_floor(b);
    uint64_t in_flight = c->pub_sent > floor ? c->pub_sent - floor : 0;
    if (in_flight >= b->window_msgs) {
        return 0;
    }
    return MIN(left, b->window_msgs - in_flight);
}

/*
 * Prepares the next chunk of PUBs from the block, or, once every message is out, queues the
 * PING whose PONG says the server has processed them all. Returns whether it queued
 * anything to write.
 */
static bool pub_generate(struct bench *b, struct conn *c)
{
    if (!pub_open(b, c) || c->pub_flush_sent) {
        return false;
    }
    if (c->pub_sent == c->pub_target && c->role == ROLE_JS) {
        return false; /* the PubAcks, not a PONG, say when the server has them all */
    }
    if (c->pub_sent == c->pub_target) {
        outbuf_str(&c->out, "PING\r\n");
        c->pongs_pending++;
        c->pub_flush_sent = true;
        return true;
    }
    uint64_t allowed = pub_allowed(b, c);
    if (allowed == 0) {
        return false;
    }
    size_t k = (size_t)MIN((uint64_t)c->block_msgs, allowed);
    if (b->seq_width > 0) {
        for (size_t i = 0; i < k; i++) {
            put_le(c->block + i * b->msg_bytes + b->payload_offset, c->pub_sent + i, b->seq_width);
        }
    }
    c->chunk_off = 0;
    c->chunk_len = k * b->msg_bytes;
    c->pub_sent += k;
    return true;
}

/* Whether a publisher could write right now without waiting for the network. */
static bool pub_busy(const struct bench *b, const struct conn *c)
{
    if (c->block == NULL || c->state != CS_READY || c->write_blocked) {
        return false;
    }
    if (c->chunk_off < c->chunk_len || outbuf_pending(&c->out)) {
        return true;
    }
    if (c->pub_sent == c->pub_target && c->role == ROLE_JS) {
        return false;
    }
    if (c->pub_sent == c->pub_target) {
        return !c->pub_flush_sent && b->phase == PH_RUN;
    }
    return pub_allowed(b, c) > 0;
}

static bool pump_publishers(struct bench *b)
{
    bool busy = false;
    for (unsigned i = 0; i < b->conn_count && !b->failed; i++) {
        struct conn *c = &b->conns[i];
        if (c->block == NULL) {
            continue;
        }
        conn_flush(b, c);
        busy = busy || pub_busy(b, c);
    }
    return busy;
}

/* ------------------------------------------------------------------------------------ */
/* Request/reply                                                                        */
/* ------------------------------------------------------------------------------------ */

static void send_request(struct bench *b, struct conn *c)
{
    char line[SUBJECT_MAX * 2 + 64];
    int n = snprintf(line, sizeof(line), "PUB %s.req %s.%" PRIu64 " %d\r\n", b->opt.subject,
                     b->inbox, b->lat_count, b->opt.size);
    outbuf_append(&c->out, line, (size_t)n);
    outbuf_append(&c->out, b->payload, (size_t)b->opt.size);
    outbuf_str(&c->out, "\r\n");
    b->req_sent_ns = now_ns();
    conn_flush(b, c);
}

static void on_reply(struct bench *b, struct conn *c, uint64_t now)
{
    size_t inbox_len = strlen(b->inbox);
    char expect[32];
    snprintf(expect, sizeof(expect), "%" PRIu64, b->lat_count);
    if (strncmp(c->subject, b->inbox, inbox_len) != 0 || c->subject[inbox_len] != '.' ||
        strcmp(c->subject + inbox_len + 1, expect) != 0) {
        bench_fail(b, BENCH_EXIT_CHECK, "reply on %s while waiting for %s.%s", c->subject, b->inbox,
                   expect);
        return;
    }
    b->lat_ns[b->lat_count++] = now - b->req_sent_ns;
    if (b->lat_count == (uint64_t)b->opt.msgs) {
        b->run_end_ns = now;
        b->phase = PH_DONE;
        return;
    }
    send_request(b, c);
}

static void on_request(struct bench *b, struct conn *c)
{
    if (c->reply[0] == '\0') {
        bench_fail(b, BENCH_EXIT_CHECK, "request on %s without a reply subject", c->subject);
        return;
    }
    char line[SUBJECT_MAX + 32];
    int n = snprintf(line, sizeof(line), "PUB %s %d\r\n", c->reply, b->opt.size);
    outbuf_append(&c->out, line, (size_t)n);
    outbuf_append(&c->out, b->payload, (size_t)b->opt.size);
    outbuf_str(&c->out, "\r\n");
}

/* ------------------------------------------------------------------------------------ */
/* Phases                                                                               */
/* ------------------------------------------------------------------------------------ */

static void write_ready_file(struct bench *b)
{
    if (b->opt.ready_file == NULL) {
        return;
    }
    g_autofree gchar *text = g_strdup_printf("%u\n", b->ready);
    g_autoptr(GError) err = NULL;
    if (!g_file_set_contents(b->opt.ready_file, text, -1, &err)) {
        bench_fail(b, BENCH_EXIT_USAGE, "writing --ready-file: %s", err->message);
    }
}

/* The measured part starts now. */
static void begin_measuring(struct bench *b, uint64_t now)
{
    b->run_start_ns = now;
    b->next_progress_ns = now + PROGRESS_INTERVAL_NS;
    b->cpu_start_s = cpu_seconds();
}

static void js_start(struct bench *b);

/* Every connection is through its handshake (and subscriptions are in place). */
static void start_run(struct bench *b)
{
    uint64_t now = now_ns();
    b->connect_end_ns = now;
    if (b->cross) {
        /* The subscriptions are on the subscribers' server; wait until they have crossed
         * the route or leaf link to the publishers' server before measuring. */
        b->phase = PH_SYNC;
        b->sync_next_ns = now;
        return;
    }
    begin_measuring(b, now);
    switch (b->scenario) {
    case SC_PUB:
    case SC_PUBSUB:
    case SC_FANOUT:
    case SC_QUEUE:
        b->phase = PH_RUN;
        break;
    case SC_REQREP:
        b->phase = PH_RUN;
        for (unsigned i = 0; i < b->conn_count; i++) {
            if (b->conns[i].role == ROLE_REQUESTER) {
                send_request(b, &b->conns[i]);
            }
        }
        break;
    case SC_IDLE:
        b->phase = PH_HOLD;
        b->hold_end_ns = now + (uint64_t)(b->opt.hold_s * 1e9);
        write_ready_file(b);
        if (!b->opt.quiet) {
            fprintf(stderr,
                    "meridian-bench: idle: %u connections up after %.2f s, holding "
                    "%.1f s\n",
                    b->ready, (double)(now - b->start_ns) / 1e9, b->opt.hold_s);
        }
        break;
    case SC_PING:
        b->run_end_ns = now;
        b->phase = PH_DONE;
        break;
    case SC_JS_PUB:
    case SC_JS_CONSUME:
        js_start(b);
        break;
    default:
        g_assert_not_reached();
    }
}

/* Idle: the hold is over; one more PING on each connection shows which are still up. */
static void start_check(struct bench *b)
{
    b->phase = PH_CHECK;
    b->run_end_ns = now_ns();
    for (unsigned i = 0; i < b->conn_count; i++) {
        struct conn *c = &b->conns[i];
        if (c->state != CS_READY) {
            continue;
        }
        outbuf_str(&c->out, "PING\r\n");
        c->pongs_pending++;
        b->check_pending++;
        conn_flush(b, c);
    }
    if (b->check_pending == 0) {
        b->phase = PH_DONE;
    }
}

/* --sub-url, PH_SYNC: one empty message on the sync subject from the first publisher. */
static void sync_offer(struct bench *b, uint64_t now)
{
    char line[SUBJECT_MAX + 32];
    snprintf(line, sizeof(line), "PUB %s 0\r\n\r\n", b->sync_subject);
    for (unsigned i = 0; i < b->conn_count; i++) {
        struct conn *c = &b->conns[i];
        if (c->role == ROLE_PUB) {
            outbuf_str(&c->out, line);
            conn_flush(b, c);
            break;
        }
    }
    b->sync_next_ns = now + SYNC_INTERVAL_MS * 1000000ull;
}

/*
 * --sub-url: a subscriber got a sync or fence message. The first sync message on every
 * subscriber starts the run; later ones (offered before the first arrived) are ignored.
 * In DRAIN the fence says every message of the run has reached this subscriber.
 */
static void on_control_msg(struct bench *b, struct conn *c, uint64_t now)
{
    if (c->kind == MK_FENCE) {
        if (b->phase == PH_DRAIN) {
            b->subs_drained++;
            if (b->subs_drained == b->sub_count) {
                b->run_end_ns = now;
                b->phase = PH_DONE;
            }
        }
        return;
    }
    if (b->phase != PH_SYNC || c->synced) {
        return;
    }
    c->synced = true;
    b->subs_synced++;
    if (b->subs_synced == b->sub_count) {
        begin_measuring(b, now);
        b->phase = PH_RUN;
    }
}

static void on_publishers_done(struct bench *b, uint64_t now)
{
    if (b->scenario == SC_PUB) {
        b->run_end_ns = now;
        b->phase = PH_DONE;
        return;
    }
    b->phase = PH_DRAIN;
    if (b->cross) {
        /* A PONG from the publishers' server does not cover messages still on the link. */
        char line[SUBJECT_MAX + 32];
        snprintf(line, sizeof(line), "PUB %s 0\r\n\r\n", b->fence_subject);
        for (unsigned i = 0; i < b->conn_count; i++) {
            struct conn *c = &b->conns[i];
            if (c->role == ROLE_PUB) {
                outbuf_str(&c->out, line);
                conn_flush(b, c);
            }
        }
        return;
    }
    for (unsigned i = 0; i < b->conn_count; i++) {
        struct conn *c = &b->conns[i];
        if (c->role == ROLE_SUB) {
            outbuf_str(&c->out, "PING\r\n");
            c->pongs_pending++;
            conn_flush(b, c);
        }
    }
}

static void on_pong(struct bench *b, struct conn *c, uint64_t now)
{
    if (c->pongs_pending == 0) {
        return; /* not ours to count; a server has no reason to send one, but it is harmless */
    }
    c->pongs_pending--;
    if (c->state == CS_WAIT_PONG) {
        c->state = CS_READY;
        b->ready++;
        b->connecting--;
        if (b->ready == b->conn_count) {
            start_run(b);
        }
        return;
    }
    if (c->pongs_pending > 0) {
        return;
    }
    if (b->phase == PH_RUN && c->role == ROLE_PUB && c->pub_flush_sent && !c->pub_done) {
        c->pub_done = true;
        b->pubs_finished++;
        if (b->pubs_finished == b->pub_count) {
            on_publishers_done(b, now);
        }
    } else if (b->phase == PH_DRAIN && c->role == ROLE_SUB) {
        b->subs_drained++;
        if (b->subs_drained == b->sub_count) {
            b->run_end_ns = now;
            b->phase = PH_DONE;
        }
    } else if (b->phase == PH_CHECK && c->role == ROLE_IDLE) {
        b->check_ok++;
        b->check_pending--;
        if (b->check_pending == 0) {
            b->phase = PH_DONE;
        }
    }
}

/* ------------------------------------------------------------------------------------ */
/* JetStream                                                                            */
/* ------------------------------------------------------------------------------------ */

/* The durable consumer js-consume creates on the stream and reads from. */
#define JS_CONSUMER_NAME "bench"

static const char *const js_step_names[] = {
    "none",     "deleting a leftover stream", "creating the stream", "filling the stream",
    "creating the consumer", "publishing", "pulling", "deleting the stream", "finished",
};

/* Sends one API request on subject; its answer comes to <inbox>.api. */
static void js_request(struct bench *b, struct conn *c, const char *subject, const char *body)
{
    char line[SUBJECT_MAX * 2 + 64];
    size_t len = strlen(body);
    int n = snprintf(line, sizeof(line), "PUB %s %s %zu\r\n", subject, b->js.api_reply, len);
    outbuf_append(&c->out, line, (size_t)n);
    outbuf_append(&c->out, body, len);
    outbuf_str(&c->out, "\r\n");
    conn_flush(b, c);
}

static void js_delete_stream(struct bench *b, struct conn *c, enum js_step step)
{
    char subject[SUBJECT_MAX];
    snprintf(subject, sizeof(subject), "$JS.API.STREAM.DELETE.%s", b->opt.stream);
    b->js.step = step;
    js_request(b, c, subject, "");
}

static void js_create_stream(struct bench *b, struct conn *c)
{
    char subject[SUBJECT_MAX];
    char body[SUBJECT_MAX * 2 + 256];
    snprintf(subject, sizeof(subject), "$JS.API.STREAM.CREATE.%s", b->opt.stream);
    snprintf(body, sizeof(body),
             "{\"name\":\"%s\",\"subjects\":[\"%s\"],\"storage\":\"%s\",\"retention\":\"limits\","
             "\"discard\":\"old\",\"num_replicas\":1}",
             b->opt.stream, b->js.subject, b->opt.storage);
    b->js.step = JS_CREATE;
    js_request(b, c, subject, body);
}

/* A durable pull consumer from the first message. With explicit acks, max_ack_pending is
 * raised above nats-server's default of 1000, so that acks in flight do not pace it. */
static void js_create_consumer(struct bench *b, struct conn *c)
{
    char subject[SUBJECT_MAX];
    char body[SUBJECT_MAX + 256];
    char pending[48] = "";
    if (b->js.ack_explicit) {
        snprintf(pending, sizeof(pending), ",\"max_ack_pending\":%d",
                 MAX(JS_ACK_PENDING_MIN, 4 * b->opt.batch));
    }
    snprintf(subject, sizeof(subject), "$JS.API.CONSUMER.DURABLE.CREATE.%s.%s", b->opt.stream,
             JS_CONSUMER_NAME);
    snprintf(body, sizeof(body),
             "{\"stream_name\":\"%s\",\"config\":{\"durable_name\":\"%s\",\"deliver_policy\":"
             "\"all\",\"ack_policy\":\"%s\"%s}}",
             b->opt.stream, JS_CONSUMER_NAME, b->opt.ack, pending);
    b->js.step = JS_CONSUMER;
    js_request(b, c, subject, body);
}

/* Publishing starts over from the connection's first message (js-pub measures it). */
static void js_start_publishing(struct bench *b, struct conn *c, enum js_step step)
{
    b->js.step = step;
    b->js.acked = 0;
    c->pub_sent = 0;
    if (step == JS_PUBLISH) {
        begin_measuring(b, now_ns());
        b->phase = PH_RUN;
    }
}

/* Keeps about two batches asked for ahead of what has arrived, so that the consumer always
 * has a waiting pull request and never waits for the next one to cross the network. */
static void js_pull_more(struct bench *b, struct conn *c)
{
    uint64_t want = (uint64_t)b->opt.msgs;
    uint64_t batch = (uint64_t)b->opt.batch;
    while (b->js.pulled < want && b->js.pulled - b->js.consumed < 2 * batch) {
        uint64_t k = MIN(batch, want - b->js.pulled);
        char line[SUBJECT_MAX * 2 + 128];
        char body[64];
        int len = snprintf(body, sizeof(body), "{\"batch\":%" PRIu64 "}", k);
        int n = snprintf(line, sizeof(line), "PUB $JS.API.CONSUMER.MSG.NEXT.%s.%s %s %d\r\n%s\r\n",
                         b->opt.stream, JS_CONSUMER_NAME, b->js.pull_reply, len, body);
        outbuf_append(&c->out, line, (size_t)n);
        b->js.pulled += k;
    }
}

static void js_start_pulling(struct bench *b, struct conn *c)
{
    memset(b->seen, 0, ((size_t)b->opt.msgs + 7) / 8);
    b->duplicates = 0;
    b->js.step = JS_PULL;
    begin_measuring(b, now_ns());
    b->phase = PH_RUN;
    js_pull_more(b, c);
    conn_flush(b, c);
}

/* The measured step is over: delete the stream (not measured), then the run is done. */
static void js_finish(struct bench *b, struct conn *c, uint64_t now)
{
    b->run_end_ns = now;
    b->phase = PH_CLEANUP;
    js_delete_stream(b, c, JS_DELETE);
}

/* Marks stream sequence seq as seen; false (and the run failed) if it is out of range. A
 * second sighting counts as a duplicate, which verify() reports. */
static bool js_mark(struct bench *b, uint64_t seq, const char *what)
{
    if (seq < 1 || seq > (uint64_t)b->opt.msgs) {
        bench_fail(b, BENCH_EXIT_CHECK,
                   "%s for stream sequence %" PRIu64 ", expected 1 .. %" PRId64
                   " in a new stream",
                   what, seq, b->opt.msgs);
        return false;
    }
    uint64_t i = seq - 1;
    uint8_t bit = (uint8_t)(1u << (i & 7));
    if (b->seen[i >> 3] & bit) {
        b->duplicates++;
    }
    b->seen[i >> 3] |= bit;
    return true;
}

/* The stream sequence in a $JS.ACK reply subject, or 0 if it is not one. nats-server 2.9
 * sends $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending> (9 tokens);
 * the newer form puts <domain>.<account hash> after $JS.ACK and may add a final token. */
static uint64_t ack_stream_seq(const char *reply)
{
    if (strncmp(reply, "$JS.ACK.", 8) != 0) {
        return 0;
    }
    const char *tok[13];
    unsigned n = 0;
    for (const char *p = reply; *p != '\0' && n < G_N_ELEMENTS(tok); n++) {
        tok[n] = p;
        p = strchr(p, '.');
        p = p == NULL ? "" : p + 1;
    }
    unsigned at = n == 9 ? 5 : n >= 11 ? 7 : 0;
    return at == 0 ? 0 : g_ascii_strtoull(tok[at], NULL, 10);
}

/* An API answer to the request of the current step. */
static void js_on_api_reply(struct bench *b, struct conn *c)
{
    const char *body = c->body->str;
    bool error = strstr(body, "\"error\"") != NULL;
    enum js_step step = b->js.step;
    if (step == JS_DELETE_OLD && error && strstr(body, "\"err_code\":10059") == NULL) {
        bench_fail(b, BENCH_EXIT_CHECK, "deleting stream %s left by an earlier run: %.300s",
                   b->opt.stream, body);
    } else if (step != JS_DELETE_OLD && error) {
        bench_fail(b, BENCH_EXIT_CHECK, "%s %s: %.300s", js_step_names[step], b->opt.stream,
                   body);
    } else if (step == JS_DELETE_OLD) {
        js_create_stream(b, c);
    } else if (step == JS_CREATE) {
        js_start_publishing(b, c, b->scenario == SC_JS_PUB ? JS_PUBLISH : JS_FILL);
    } else if (step == JS_CONSUMER) {
        js_start_pulling(b, c);
    } else if (step == JS_DELETE) {
        b->js.step = JS_FINISHED;
        b->phase = PH_DONE;
    } else {
        bench_fail(b, BENCH_EXIT_CHECK, "API reply while %s: %.300s", js_step_names[step], body);
    }
}

static void js_on_puback(struct bench *b, struct conn *c, uint64_t now)
{
    const char *body = c->body->str;
    const char *seq = strstr(body, "\"seq\":");
    if (strstr(body, "\"error\"") != NULL || seq == NULL) {
        bench_fail(b, BENCH_EXIT_CHECK, "PubAck %" PRIu64 " while %s: %.300s", b->js.acked + 1,
                   js_step_names[b->js.step], body);
        return;
    }
    if (!js_mark(b, g_ascii_strtoull(seq + strlen("\"seq\":"), NULL, 10), "PubAck")) {
        return;
    }
    b->js.acked++;
    b->js.last_ns = now;
    if (b->js.acked < c->pub_target) {
        return;
    }
    if (b->js.step == JS_FILL) {
        js_create_consumer(b, c);
    } else {
        js_finish(b, c, now);
    }
}

static void js_on_delivery(struct bench *b, struct conn *c, uint64_t now)
{
    if (c->payload_size != (size_t)b->opt.size) {
        bench_fail(b, BENCH_EXIT_CHECK, "the consumer delivered a %zu-byte message, expected %d",
                   c->payload_size, b->opt.size);
        return;
    }
    uint64_t seq = ack_stream_seq(c->reply);
    if (seq == 0) {
        b->js.unnumbered++;
    } else if (!js_mark(b, seq, "delivery")) {
        return;
    }
    if (b->js.ack_explicit) {
        if (seq == 0) {
            bench_fail(b, BENCH_EXIT_CHECK, "delivery without a $JS.ACK reply subject: '%s'",
                       c->reply);
            return;
        }
        char line[SUBJECT_MAX + 32];
        int n = snprintf(line, sizeof(line), "PUB %s 4\r\n+ACK\r\n", c->reply);
        outbuf_append(&c->out, line, (size_t)n);
    }
    b->js.consumed++;
    b->js.last_ns = now;
    if (b->js.consumed == (uint64_t)b->opt.msgs) {
        js_finish(b, c, now);
        return;
    }
    js_pull_more(b, c);
}

/* An HMSG here is a status: no responders (503: no JetStream, or no stream on the
 * subject) or a pull request's 404/408/409. None is expected in a benchmark run. */
static void js_on_status(struct bench *b, struct conn *c)
{
    const char *text = c->body->str;
    size_t len = strcspn(text, "\r\n");
    bench_fail(b, BENCH_EXIT_CHECK, "status on %s while %s: %.*s%s", c->subject,
               js_step_names[b->js.step], (int)MIN(len, 200), text,
               strstr(text, " 503") != NULL ? " (no responders: is JetStream enabled, -js?)" : "");
}

static void js_on_msg(struct bench *b, struct conn *c, uint64_t now)
{
    if (c->keep) {
        g_string_truncate(c->body, c->payload_size); /* without the CRLF */
    }
    if (c->hdr) {
        js_on_status(b, c);
    } else if (strcmp(c->subject, b->js.subject) == 0) {
        js_on_delivery(b, c, now);
    } else if (strcmp(c->subject, b->js.ack_reply) == 0) {
        js_on_puback(b, c, now);
    } else if (strcmp(c->subject, b->js.api_reply) == 0) {
        js_on_api_reply(b, c);
    } else {
        bench_fail(b, BENCH_EXIT_CHECK, "unexpected message on %s", c->subject);
    }
}

/* Every JetStream run starts on a clean stream: delete a leftover one, then create it. */
static void js_start(struct bench *b)
{
    b->phase = PH_SETUP;
    js_delete_stream(b, &b->conns[0], JS_DELETE_OLD);
}

/* ------------------------------------------------------------------------------------ */
/* Parsing what the server sends                                                        */
/* ------------------------------------------------------------------------------------ */

static void check_sequence(struct bench *b, struct conn *c)
{
    uint64_t seq = get_le(c->seq_bytes, b->seq_width);
    if (seq >= (uint64_t)b->opt.msgs) {
        bench_fail(b, BENCH_EXIT_CHECK, "subscriber %u got sequence %" PRIu64 ", never sent",
                   c->index, seq);
        return;
    }
    uint8_t bit = (uint8_t)(1u << (seq & 7));
    if (b->seen[seq >> 3] & bit) {
        b->duplicates++;
        return;
    }
    b->seen[seq >> 3] |= bit;
}

static void on_msg(struct bench *b, struct conn *c, uint64_t now)
{
    if (c->role == ROLE_JS) {
        js_on_msg(b, c, now);
        return;
    }
    if (c->role == ROLE_SUB && c->kind != MK_DATA) {
        on_control_msg(b, c, now);
        return;
    }
    c->received++;
    if (c->received == 1) {
        c->first_ns = now;
    }
    c->last_ns = now;
    if (c->payload_size != (size_t)b->opt.size) {
        bench_fail(b, BENCH_EXIT_CHECK, "connection %u got a %zu-byte message, expected %d",
                   c->index, c->payload_size, b->opt.size);
        return;
    }
    switch (c->role) {
    case ROLE_SUB:
        if (b->seq_width > 0) {
            check_sequence(b, c);
        }
        break;
    case ROLE_RESPONDER:
        on_request(b, c);
        break;
    case ROLE_REQUESTER:
        on_reply(b, c, now);
        break;
    default:
        bench_fail(b, BENCH_EXIT_CHECK, "unexpected MSG on %s connection %u", role_names[c->role],
                   c->index);
        break;
    }
}

/* Copies token s[0, len) into a fixed buffer; false if it does not fit. */
static bool copy_token(char *dst, const char *s, size_t len)
{
    if (len >= SUBJECT_MAX) {
        return false;
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
    return true;
}

/* Whether the MSG line's subject (second token) is exactly subject. */
static bool msg_subject_is(const char *line, size_t len, const char *subject)
{
    size_t i = 0;
    while (i < len && !is_blank(line[i])) {
        i++; /* MSG or HMSG */
    }
    while (i < len && is_blank(line[i])) {
        i++;
    }
    size_t n = strlen(subject);
    return len - i > n && memcmp(line + i, subject, n) == 0 && is_blank(line[i + n]);
}

static enum msg_kind msg_kind_of(const struct bench *b, const char *line, size_t len)
{
    if (msg_subject_is(line, len, b->sync_subject)) {
        return MK_SYNC;
    }
    if (msg_subject_is(line, len, b->fence_subject)) {
        return MK_FENCE;
    }
    return MK_DATA;
}

/* Copies a MSG line's subject and reply (empty if none) into the connection, for the
 * roles that need them; false (and the run failed) if the line is malformed. */
static bool msg_line_names(struct bench *b, struct conn *c, const char *line, size_t len,
                           bool hdr)
{
    const char *tok[7];
    size_t tok_len[7];
    unsigned n = 0;
    size_t i = 0;
    while (i < len && n < 7) {
        while (i < len && is_blank(line[i])) {
            i++;
        }
        if (i == len) {
            break;
        }
        tok[n] = line + i;
        while (i < len && !is_blank(line[i])) {
            i++;
        }
        tok_len[n] = (size_t)(line + i - tok[n]);
        n++;
    }
    unsigned plain = hdr ? 5 : 4; /* token count without a reply subject */
    if ((n != plain && n != plain + 1) || !copy_token(c->subject, tok[1], tok_len[1])) {
        bench_fail(b, BENCH_EXIT_CHECK, "bad MSG line from server: %.*s", (int)MIN(len, 200), line);
        return false;
    }
    c->reply[0] = '\0';
    if (n == plain + 1 && !copy_token(c->reply, tok[3], tok_len[3])) {
        bench_fail(b, BENCH_EXIT_CHECK, "reply subject too long: %.*s", (int)tok_len[3], tok[3]);
        return false;
    }
    return true;
}

/*
 * `MSG <subject> <sid> [reply] <#bytes>` or `HMSG <subject> <sid> [reply] <#hdr> <#total>`.
 * The payload length is always the last token, so the hot path reads only the line's tail.
 * The requester and responder also need the subject and reply, so they tokenise it all.
 */
static void on_msg_line(struct bench *b, struct conn *c, const char *line, size_t len, bool hdr)
{
    size_t e = len;
    while (e > 0 && is_blank(line[e - 1])) {
        e--;
    }
    size_t s = e;
    while (s > 0 && line[s - 1] >= '0' && line[s - 1] <= '9') {
        s--;
    }
    if (s == e || e - s > 10 || s == 0 || !is_blank(line[s - 1])) {
        bench_fail(b, BENCH_EXIT_CHECK, "bad MSG line from server: %.*s", (int)MIN(len, 200), line);
        return;
    }
    uint64_t size = 0;
    for (size_t i = s; i < e; i++) {
        size = size * 10 + (uint64_t)(line[i] - '0');
    }
    if (size > PAYLOAD_BYTES_MAX) {
        bench_fail(b, BENCH_EXIT_CHECK, "MSG of %" PRIu64 " bytes from server", size);
        return;
    }
    bool named = c->role == ROLE_REQUESTER || c->role == ROLE_RESPONDER || c->role == ROLE_JS;
    if (named && !msg_line_names(b, c, line, len, hdr)) {
        return;
    }
    if (b->cross && c->role == ROLE_SUB) {
        c->kind = msg_kind_of(b, line, len);
    }
    if (c->role == ROLE_JS) {
        /* Keep what must be read: everything but the consumer's deliveries, which come to
         * the pull's reply inbox under the stored message's own subject. */
        c->hdr = hdr;
        c->keep = hdr || strcmp(c->subject, b->js.subject) != 0;
        g_string_truncate(c->body, 0);
        if (c->keep && size > JS_BODY_MAX) {
            bench_fail(b, BENCH_EXIT_CHECK,
                       "%" PRIu64 "-byte message on %s, expected an API reply or PubAck", size,
                       c->subject);
            return;
        }
    }
    c->payload_size = (size_t)size;
    c->payload_left = (size_t)size + 2;
    c->payload_seen = 0;
    c->parse = PS_PAYLOAD;
}

static bool op_is(const char *line, size_t len, const char *op)
{
    size_t n = strlen(op);
    if (len < n || g_ascii_strncasecmp(line, op, n) != 0) {
        return false;
    }
    return len == n || is_blank(line[n]);
}

static void on_line(struct bench *b, struct conn *c, const char *line, size_t len, uint64_t now)
{
    if (op_is(line, len, "MSG")) {
        on_msg_line(b, c, line, len, false);
    } else if (op_is(line, len, "HMSG")) {
        on_msg_line(b, c, line, len, true);
    } else if (op_is(line, len, "PING")) {
        outbuf_str(&c->out, "PONG\r\n");
    } else if (op_is(line, len, "PONG")) {
        on_pong(b, c, now);
    } else if (op_is(line, len, "INFO")) {
        /* Later INFOs (cluster changes, lame duck) need nothing from a benchmark. */
        if (c->state == CS_WAIT_INFO) {
            conn_on_info(b, c, line, len);
        }
    } else if (op_is(line, len, "+OK")) {
        return;
    } else if (op_is(line, len, "-ERR")) {
        bench_fail(b, BENCH_EXIT_CHECK, "server sent on connection %u (%s): %.*s", c->index,
                   role_names[c->role], (int)MIN(len, 300), line);
    } else {
        bench_fail(b, BENCH_EXIT_CHECK, "unexpected line from server: %.*s", (int)MIN(len, 200),
                   line);
    }
}

/* Consumes rbuf[pos, len): whole lines, and payloads skipped without a copy. */
static void conn_parse(struct bench *b, struct conn *c, uint64_t now)
{
    while (c->rbuf_pos < c->rbuf_len && !b->failed && c->state != CS_CLOSED) {
        uint8_t *p = c->rbuf + c->rbuf_pos;
        size_t avail = c->rbuf_len - c->rbuf_pos;
        if (c->parse == PS_PAYLOAD) {
            size_t take = MIN(avail, c->payload_left);
            if (c->payload_seen < b->seq_width) {
                size_t n = MIN(take, b->seq_width - c->payload_seen);
                memcpy(c->seq_bytes + c->payload_seen, p, n);
            }
            if (c->keep) {
                g_string_append_len(c->body, (const char *)p, (gssize)take);
            }
            c->payload_left -= take;
            c->payload_seen += take;
            c->rbuf_pos += take;
            if (c->payload_left == 0) {
                c->parse = PS_LINE;
                on_msg(b, c, now);
            }
            continue;
        }
        uint8_t *nl = memchr(p, '\n', avail);
        if (nl == NULL) {
            break;
        }
        size_t line_len = (size_t)(nl - p);
        c->rbuf_pos += line_len + 1;
        if (line_len > 0 && p[line_len - 1] == '\r') {
            line_len--;
        }
        on_line(b, c, (const char *)p, line_len, now);
    }
    if (c->rbuf_pos == c->rbuf_len) {
        c->rbuf_pos = 0;
        c->rbuf_len = 0;
    } else if (c->rbuf_pos > 0) {
        /* Only a partial control line is ever left over: payloads are consumed as read. */
        memmove(c->rbuf, c->rbuf + c->rbuf_pos, c->rbuf_len - c->rbuf_pos);
        c->rbuf_len -= c->rbuf_pos;
        c->rbuf_pos = 0;
    }
}

static void conn_read(struct bench *b, struct conn *c)
{
    for (unsigned i = 0; i < READS_PER_EVENT_MAX && c->state != CS_CLOSED && !b->failed; i++) {
        if (c->rbuf_len == c->rbuf_cap) {
            bench_fail(b, BENCH_EXIT_CHECK, "control line over %zu bytes from server", c->rbuf_cap);
            return;
        }
        size_t space = c->rbuf_cap - c->rbuf_len;
        ssize_t n = read(c->fd, c->rbuf + c->rbuf_len, space);
        if (n > 0) {
            c->rbuf_len += (size_t)n;
            conn_parse(b, c, now_ns());
            if ((size_t)n < space) {
                break; /* the socket is drained; no need for a read that says EAGAIN */
            }
            continue;
        }
        if (n == 0) {
            conn_lost(b, c, "closed by the server");
            return;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            conn_lost(b, c, strerror(errno));
        }
        break;
    }
    if (c->state != CS_CLOSED && outbuf_pending(&c->out)) {
        conn_flush(b, c);
    }
}

static void on_event(struct bench *b, struct conn *c, uint32_t events)
{
    if (c->state == CS_CLOSED) {
        return;
    }
    if (c->state == CS_CONNECTING) {
        conn_on_connected(b, c);
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        conn_read(b, c);
    }
    if ((events & EPOLLOUT) && c->state != CS_CLOSED) {
        c->write_blocked = false;
        conn_flush(b, c);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Loop                                                                                 */
/* ------------------------------------------------------------------------------------ */

static uint64_t sum_received(const struct bench *b)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < b->conn_count; i++) {
        if (b->conns[i].role == ROLE_SUB) {
            total += b->conns[i].received;
        }
    }
    return total;
}

static uint64_t sum_published(const struct bench *b)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < b->conn_count; i++) {
        if (b->conns[i].role == ROLE_PUB) {
            total += b->conns[i].pub_sent;
        }
    }
    return total;
}

static void progress(struct bench *b, uint64_t now)
{
    if (b->opt.quiet || now < b->next_progress_ns) {
        return;
    }
    b->next_progress_ns = now + PROGRESS_INTERVAL_NS;
    double t = (double)(now - b->start_ns) / 1e9;
    const char *name = scenario_names[b->scenario];
    switch (b->phase) {
    case PH_CONNECT:
        fprintf(stderr, "meridian-bench: %s %.1f s: connecting, %u/%u up\n", name, t, b->ready,
                b->conn_count);
        break;
    case PH_SYNC:
        fprintf(stderr,
                "meridian-bench: %s %.1f s: waiting for the subscriptions on %s to reach %s "
                "(%u/%u subscribers seen)\n",
                name, t, b->sub_addr_text, b->addr_text, b->subs_synced, b->sub_count);
        break;
    case PH_SETUP:
    case PH_CLEANUP:
        fprintf(stderr, "meridian-bench: %s %.1f s: %s (%" PRIu64 " PubAcks)\n", name, t,
                js_step_names[b->js.step], b->js.acked);
        break;
    case PH_RUN:
    case PH_DRAIN:
        if (b->scenario == SC_JS_PUB || b->scenario == SC_JS_CONSUME) {
            fprintf(stderr,
                    "meridian-bench: %s %.1f s: %" PRIu64 " PubAcks, %" PRIu64
                    " deliveries of %" PRId64 "\n",
                    name, t, b->js.acked, b->js.consumed, b->opt.msgs);
        } else if (b->scenario == SC_REQREP) {
            fprintf(stderr, "meridian-bench: %s %.1f s: %" PRIu64 "/%" PRId64 " requests\n", name,
                    t, b->lat_count, b->opt.msgs);
        } else {
            fprintf(stderr,
                    "meridian-bench: %s %.1f s: published %" PRIu64 "/%" PRId64
                    ", delivered %" PRIu64 "\n",
                    name, t, sum_published(b), b->opt.msgs, sum_received(b));
        }
        break;
    case PH_HOLD:
    case PH_CHECK:
        fprintf(stderr, "meridian-bench: %s %.1f s: %u up, %u closed\n", name, t,
                b->ready - b->closed, b->closed);
        break;
    default:
        break;
    }
}

static void run_loop(struct bench *b)
{
    struct epoll_event events[EVENTS_MAX];
    b->next_progress_ns = b->start_ns + PROGRESS_INTERVAL_NS;
    while (!b->failed && b->phase != PH_DONE) {
        uint64_t now = now_ns();
        if (now >= b->deadline_ns) {
            b->timed_out = true;
            break;
        }
        if (b->phase == PH_HOLD && now >= b->hold_end_ns) {
            start_check(b);
            continue;
        }
        while (b->phase == PH_CONNECT && b->opened < b->conn_count &&
               b->connecting < CONNECTING_MAX && !b->failed) {
            conn_open(b, b->opened);
        }
        if (b->phase == PH_SYNC && now >= b->sync_next_ns) {
            sync_offer(b, now);
        }
        bool busy = pump_publishers(b);
        if (b->failed || b->phase == PH_DONE) {
            break;
        }
        progress(b, now);
        uint64_t wake = MIN(b->deadline_ns, now + TICK_MS * 1000000ull);
        if (b->phase == PH_HOLD) {
            wake = MIN(wake, b->hold_end_ns);
        }
        if (b->phase == PH_SYNC) {
            wake = MIN(wake, b->sync_next_ns);
        }
        int timeout_ms = busy ? 0 : (int)((wake - now + 999999) / 1000000);
        int n = epoll_wait(b->epfd, events, EVENTS_MAX, timeout_ms);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            bench_fail(b, BENCH_EXIT_USAGE, "epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n && !b->failed; i++) {
            on_event(b, events[i].data.ptr, events[i].events);
        }
    }
    if (b->run_end_ns == 0) {
        b->run_end_ns = now_ns();
    }
    b->cpu_end_s = cpu_seconds();
}

/* ------------------------------------------------------------------------------------ */
/* Results                                                                              */
/* ------------------------------------------------------------------------------------ */

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x;
    uint64_t c = *(const uint64_t *)y;
    return a < c ? -1 : a > c;
}

/* Nearest-rank percentile of a sorted array, in microseconds. */
static double percentile_us(const uint64_t *sorted, uint64_t n, double p)
{
    if (n == 0) {
        return 0.0;
    }
    uint64_t rank = (uint64_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1) {
        rank = 1;
    }
    if (rank > n) {
        rank = n;
    }
    return (double)sorted[rank - 1] / 1000.0;
}

/* The measured message count and the window it took, as each scenario defines them. */
static void measured(const struct bench *b, uint64_t *msgs, double *seconds)
{
    uint64_t first = UINT64_MAX;
    uint64_t last = 0;
    *msgs = 0;
    *seconds = 0.0;
    if (b->run_start_ns == 0) {
        return; /* never got past the handshakes */
    }
    switch (b->scenario) {
    case SC_PUB:
        *msgs = sum_published(b);
        *seconds = (double)(b->run_end_ns - b->run_start_ns) / 1e9;
        return;
    case SC_PUBSUB:
    case SC_FANOUT:
    case SC_QUEUE:
        /* First to last message seen by any subscriber. */
        for (unsigned i = 0; i < b->conn_count; i++) {
            const struct conn *c = &b->conns[i];
            if (c->role != ROLE_SUB || c->received == 0) {
                continue;
            }
            *msgs += c->received;
            first = MIN(first, c->first_ns);
            last = MAX(last, c->last_ns);
        }
        if (*msgs > 1) {
            *seconds = (double)(last - first) / 1e9;
        }
        return;
    case SC_REQREP:
        *msgs = b->lat_count;
        *seconds = (double)(b->run_end_ns - b->run_start_ns) / 1e9;
        return;
    case SC_JS_PUB:
    case SC_JS_CONSUME:
        /* From the first publish or pull of the measured step to the last PubAck or
         * delivery: the server has stored (or delivered) every message by then. */
        *msgs = b->scenario == SC_JS_PUB ? b->js.acked : b->js.consumed;
        if (b->js.step >= JS_PUBLISH && b->js.last_ns > b->run_start_ns) {
            *seconds = (double)(b->js.last_ns - b->run_start_ns) / 1e9;
        }
        return;
    default:
        return;
    }
}

/* After a complete run: was every message delivered as the scenario promises? */
static void verify(struct bench *b)
{
    uint64_t want = (uint64_t)b->opt.msgs;
    switch (b->scenario) {
    case SC_PUBSUB:
    case SC_FANOUT:
        for (unsigned i = 0; i < b->conn_count; i++) {
            const struct conn *c = &b->conns[i];
            if (c->role == ROLE_SUB && c->received != want) {
                bench_fail(b, BENCH_EXIT_CHECK,
                           "subscriber %u received %" PRIu64 " of %" PRIu64 " messages", i,
                           c->received, want);
                return;
            }
        }
        return;
    case SC_QUEUE: {
        uint64_t total = sum_received(b);
        uint64_t distinct = total - b->duplicates;
        if (b->duplicates > 0 || distinct != want) {
            bench_fail(b, BENCH_EXIT_CHECK,
                       "queue group: %" PRIu64 " deliveries, %" PRIu64 " distinct of %" PRIu64
                       " sent, %" PRIu64 " duplicates, %" PRIu64 " missing",
                       total, distinct, want, b->duplicates, want - distinct);
        }
        return;
    }
    case SC_JS_PUB:
    case SC_JS_CONSUME: {
        uint64_t got = b->scenario == SC_JS_PUB ? b->js.acked : b->js.consumed;
        if (got != want || b->duplicates > 0) {
            bench_fail(b, BENCH_EXIT_CHECK,
                       "%s: %" PRIu64 " of %" PRIu64 " messages, %" PRIu64 " duplicates",
                       b->scenario == SC_JS_PUB ? "PubAcks" : "deliveries", got, want,
                       b->duplicates);
        }
        return;
    }
    case SC_IDLE:
        if (b->check_ok != b->conn_count) {
            bench_fail(b, BENCH_EXIT_CHECK, "only %u of %u connections still up", b->check_ok,
                       b->conn_count);
        }
        return;
    default:
        return;
    }
}

/* Writes s as a JSON string body; our messages are ASCII, but quote what needs it. */
static void json_string(GString *out, const char *s)
{
    g_string_append_c(out, '"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            g_string_append_c(out, '\\');
            g_string_append_c(out, (char)ch);
        } else if (ch < 0x20) {
            g_string_append_printf(out, "\\u%04x", ch);
        } else {
            g_string_append_c(out, (char)ch);
        }
    }
    g_string_append_c(out, '"');
}

/* What one run measured, ready to print. */
struct result {
    const char *name;
    uint64_t msgs;  /* pub: published; pubsub/fanout/queue: delivered; reqrep: round trips */
    double seconds; /* the window msgs were counted over (see measured()) */
    double rate;    /* msgs per second */
    double mbps;    /* payload megabytes (10^6) per second */
    double run_s;   /* from the end of the handshakes to the end of the run */
    double connect_s;
    double cpu_pct; /* this tool's CPU time over run_s: near 100 means the client limits */
    double p50;     /* reqrep latency percentiles, microseconds */
    double p90;
    double p99;
    double p999;
    double pmax;
    unsigned up; /* idle: connections that answered the final PING */
    bool complete;
};

static void result_compute(struct bench *b, struct result *r)
{
    memset(r, 0, sizeof(*r));
    r->name = scenario_names[b->scenario];
    measured(b, &r->msgs, &r->seconds);
    r->rate = r->seconds > 0.0 ? (double)r->msgs / r->seconds : 0.0;
    r->mbps = r->rate * (double)b->opt.size / 1e6;
    if (b->run_start_ns != 0) {
        r->run_s = (double)(b->run_end_ns - b->run_start_ns) / 1e9;
    }
    if (r->run_s > 0.0) {
        r->cpu_pct = 100.0 * (b->cpu_end_s - b->cpu_start_s) / r->run_s;
    }
    if (b->connect_end_ns != 0) {
        r->connect_s = (double)(b->connect_end_ns - b->start_ns) / 1e9;
    }
    if (b->scenario == SC_REQREP && b->lat_count > 0) {
        qsort(b->lat_ns, b->lat_count, sizeof(b->lat_ns[0]), cmp_u64);
        r->p50 = percentile_us(b->lat_ns, b->lat_count, 50.0);
        r->p90 = percentile_us(b->lat_ns, b->lat_count, 90.0);
        r->p99 = percentile_us(b->lat_ns, b->lat_count, 99.0);
        r->p999 = percentile_us(b->lat_ns, b->lat_count, 99.9);
        r->pmax = (double)b->lat_ns[b->lat_count - 1] / 1000.0;
    }
    if (b->scenario == SC_IDLE) {
        r->up = b->phase == PH_DONE ? b->check_ok : b->ready - b->closed;
    }
    r->complete = !b->failed && !b->timed_out;
}

/* One JSON object; keys in a fixed order so that scripts may also grep it. */
static void result_json(const struct bench *b, const struct result *r, GString *out)
{
    g_string_append_printf(out, "{\"scenario\":\"%s\"", r->name);
    if (b->scenario == SC_IDLE || b->scenario == SC_PING) {
        g_string_append_printf(out,
                               ",\"conns\":%u,\"up\":%u,\"connect_seconds\":%.6f"
                               ",\"seconds\":%.6f",
                               b->conn_count, r->up, r->connect_s, r->run_s);
    } else {
        g_string_append_printf(out,
                               ",\"size\":%d,\"msgs\":%" PRIu64 ",\"seconds\":%.6f"
                               ",\"msgs_per_sec\":%.1f,\"mb_per_sec\":%.3f",
                               b->opt.size, r->msgs, r->seconds, r->rate, r->mbps);
    }
    if (b->scenario == SC_REQREP) {
        g_string_append_printf(out,
                               ",\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f"
                               ",\"p999_us\":%.1f,\"max_us\":%.1f",
                               r->p50, r->p90, r->p99, r->p999, r->pmax);
    } else if (b->pub_count > 0) {
        g_string_append_printf(out, ",\"published\":%" PRIu64 ",\"pubs\":%u,\"subs\":%u",
                               sum_published(b), b->pub_count, b->sub_count);
    }
    if (b->scenario == SC_QUEUE) {
        g_string_append_printf(out, ",\"duplicates\":%" PRIu64, b->duplicates);
    }
    if (b->scenario == SC_JS_PUB) {
        g_string_append_printf(out, ",\"storage\":\"%s\",\"window\":%d", b->opt.storage,
                               b->opt.window);
    } else if (b->scenario == SC_JS_CONSUME) {
        g_string_append_printf(out, ",\"storage\":\"%s\",\"batch\":%d,\"ack\":\"%s\"",
                               b->opt.storage, b->opt.batch, b->opt.ack);
    }
    g_string_append_printf(out, ",\"client_cpu_pct\":%.1f,\"complete\":%s", r->cpu_pct,
                           r->complete ? "true" : "false");
    if (b->timed_out) {
        g_string_append(out, ",\"timeout\":true");
    }
    if (b->failed) {
        g_string_append(out, ",\"error\":");
        json_string(out, b->errmsg);
    }
    g_string_append(out, "}");
}

static void result_text(const struct bench *b, const struct result *r, GString *out)
{
    g_string_append_printf(out, "%-7s ", r->name);
    switch (b->scenario) {
    case SC_PING:
        g_string_append_printf(out, "%s answered in %.1f ms", b->addr_text, r->connect_s * 1e3);
        break;
    case SC_IDLE:
        g_string_append_printf(out,
                               "%u/%u connections up (handshakes done after %.2f s, "
                               "held %.1f s)",
                               r->up, b->conn_count, r->connect_s, r->run_s);
        break;
    case SC_REQREP:
        g_string_append_printf(out,
                               "%d B: %" PRIu64 " requests in %.3f s: %.0f req/s; latency "
                               "us p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f max %.1f",
                               b->opt.size, r->msgs, r->seconds, r->rate, r->p50, r->p90, r->p99,
                               r->p999, r->pmax);
        break;
    case SC_JS_PUB:
        g_string_append_printf(out,
                               "%d B to a %s stream, window %d: %" PRIu64 " msgs acknowledged "
                               "in %.3f s: %.0f msgs/s, %.2f MB/s (client cpu %.0f%%)",
                               b->opt.size, b->opt.storage, b->opt.window, r->msgs, r->seconds,
                               r->rate, r->mbps, r->cpu_pct);
        break;
    case SC_JS_CONSUME:
        g_string_append_printf(out,
                               "%d B from a %s stream, batch %d, ack %s: %" PRIu64 " msgs "
                               "consumed in %.3f s: %.0f msgs/s, %.2f MB/s (client cpu %.0f%%)",
                               b->opt.size, b->opt.storage, b->opt.batch, b->opt.ack, r->msgs,
                               r->seconds, r->rate, r->mbps, r->cpu_pct);
        break;
    case SC_PUB:
        g_string_append_printf(out,
                               "%d B: %" PRIu64 " msgs published in %.3f s: %.0f msgs/s, "
                               "%.2f MB/s (%u pub, client cpu %.0f%%)",
                               b->opt.size, r->msgs, r->seconds, r->rate, r->mbps, b->pub_count,
                               r->cpu_pct);
        break;
    default:
        g_string_append_printf(out,
                               "%d B: %" PRIu64 " msgs delivered in %.3f s: %.0f msgs/s, "
                               "%.2f MB/s (%" PRIu64 " published, %u sub, client cpu %.0f%%)",
                               b->opt.size, r->msgs, r->seconds, r->rate, r->mbps, sum_published(b),
                               b->sub_count, r->cpu_pct);
        break;
    }
    if (!r->complete) {
        g_string_append(out, b->timed_out ? " [INCOMPLETE: timeout]" : " [FAILED]");
    }
}

/* Prints the result line on stdout, and why it is partial or failed on stderr. */
static void report(struct bench *b)
{
    struct result r;
    result_compute(b, &r);
    g_autoptr(GString) out = g_string_new(NULL);
    if (b->opt.json) {
        result_json(b, &r, out);
    } else {
        result_text(b, &r, out);
    }
    printf("%s\n", out->str);
    fflush(stdout);
    if (b->timed_out) {
        fprintf(stderr,
                "meridian-bench: %s: --duration-limit of %.1f s reached; the numbers "
                "above are partial\n",
                r.name, b->opt.duration_limit_s);
    }
    if (b->timed_out && b->phase == PH_SYNC) {
        fprintf(stderr,
                "meridian-bench: %s: the subscriptions on %s (--sub-url) never reached %s "
                "(--url): are the two servers routed to each other in one cluster, or "
                "linked as hub and leaf? Check /routez or /leafz on their monitoring ports\n",
                r.name, b->sub_addr_text, b->addr_text);
    }
    if (b->failed) {
        fprintf(stderr, "meridian-bench: %s: %s\n", r.name, b->errmsg);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Setup                                                                                */
/* ------------------------------------------------------------------------------------ */

/* Accepts host:port, nats://host:port, [v6]:port or a bare host (port 4222); option names
 * the flag for error messages. */
static bool resolve_url(const char *option, const char *url, struct sockaddr_storage *addr,
                        socklen_t *addr_len, char *text, size_t text_size, GError **error)
{
    const char *s = url;
    if (g_str_has_prefix(s, "nats://")) {
        s += strlen("nats://");
    }
    g_autofree gchar *host = NULL;
    const char *port = "4222";
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL) {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "bad %s %s", option,
                        url);
            return false;
        }
        host = g_strndup(s + 1, (gsize)(end - s - 1));
        if (end[1] == ':') {
            port = end + 2;
        }
    } else {
        const char *colon = strrchr(s, ':');
        if (colon != NULL) {
            host = g_strndup(s, (gsize)(colon - s));
            port = colon + 1;
        } else {
            host = g_strdup(s);
        }
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "cannot resolve %s %s: %s",
                    option, url, gai_strerror(rc));
        return false;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    snprintf(text, text_size, "%s:%s", host, port);
    return true;
}

/* Little-endian payload bytes needed to number msgs messages. */
static unsigned seq_width_for(gint64 msgs)
{
    unsigned width = 1;
    while (width < 8 && ((uint64_t)msgs - 1) >> (8 * width) != 0) {
        width++;
    }
    return width;
}

/* Fills in defaults the option table cannot hold and rejects values out of range. */
static bool check_options(struct bench *b, GError **error)
{
    struct options *o = &b->opt;
    if (o->url == NULL) {
        o->url = g_strdup("127.0.0.1:4222");
    }
    if (o->subject == NULL) {
        o->subject = g_strdup("bench");
    }
    if (o->storage == NULL) {
        o->storage = g_strdup("file");
    }
    if (o->stream == NULL) {
        o->stream = g_strdup("BENCH");
    }
    if (o->ack == NULL) {
        o->ack = g_strdup("explicit");
    }
    const char *bad = NULL;
    if (o->msgs < 1 || o->msgs > (gint64)1 << 40) {
        bad = "--msgs must be 1 .. 2^40";
    } else if (o->size < 0 || o->size > PAYLOAD_BYTES_MAX) {
        bad = "--size must be 0 .. 64 MiB";
    } else if (o->subs < 1 || o->subs > 1000) {
        bad = "--subs must be 1 .. 1000";
    } else if (o->pubs < 1 || o->pubs > 1000) {
        bad = "--pubs must be 1 .. 1000";
    } else if (o->conns < 1 || o->conns > CONNS_MAX) {
        bad = "--conns must be 1 .. 100000";
    } else if (!(o->duration_limit_s > 0.0) || o->duration_limit_s > 86400.0) {
        bad = "--duration-limit must be > 0 and at most a day";
    } else if (b->scenario == SC_IDLE &&
               (!(o->hold_s >= 0.0) || o->hold_s >= o->duration_limit_s)) {
        bad = "--hold must be >= 0 and below --duration-limit";
    } else if (o->window_bytes < 0) {
        bad = "--window-bytes must be >= 0";
    } else if (strlen(o->subject) > 64 || strpbrk(o->subject, " \t\r\n*>") != NULL) {
        bad = "--subject must be a plain subject of at most 64 bytes";
    } else if (o->sub_url != NULL && b->scenario != SC_PUBSUB && b->scenario != SC_FANOUT &&
               b->scenario != SC_QUEUE) {
        bad = "--sub-url applies to pubsub, fanout and queue (the scenarios with subscribers)";
    } else if (o->window < 1 || o->window > 1000000) {
        bad = "--window must be 1 .. 1000000 PubAcks outstanding";
    } else if (o->batch < 1 || o->batch > 1000000) {
        bad = "--batch must be 1 .. 1000000";
    } else if (strcmp(o->storage, "file") != 0 && strcmp(o->storage, "memory") != 0) {
        bad = "--storage must be file or memory";
    } else if (strcmp(o->ack, "explicit") != 0 && strcmp(o->ack, "none") != 0) {
        bad = "--ack must be explicit or none";
    } else if (strlen(o->stream) == 0 || strlen(o->stream) > JS_NAME_MAX ||
               strspn(o->stream, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789_-") != strlen(o->stream)) {
        bad = "--stream must be 1 .. 32 letters, digits, _ or -";
    } else if (b->scenario == SC_QUEUE && seq_width_for(o->msgs) > (unsigned)o->size) {
        bad = "queue carries a sequence number in the payload: --size must be at least 1 byte "
              "up to 256 messages, 2 up to 65536, 3 up to 16M, 4 up to 4G";
    }
    if (bad != NULL) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s", bad);
        return false;
    }
    return true;
}

static bool parse_options(struct bench *b, int *argc, char ***argv, GError **error)
{
    struct options *o = &b->opt;
    o->msgs = 1000000;
    o->size = 16;
    o->subs = 4;
    o->pubs = 1;
    o->conns = 1000;
    o->duration_limit_s = 60.0;
    o->hold_s = 3.0;
    o->window_bytes = 8 * 1024 * 1024;
    o->window = 1;
    o->batch = 256;

    GOptionEntry entries[] = {
        {"url", 'u', 0, G_OPTION_ARG_STRING, &o->url, "Server address (default 127.0.0.1:4222)",
         "HOST:PORT"},
        {"sub-url", 0, 0, G_OPTION_ARG_STRING, &o->sub_url,
         "Connect the subscribers to this server instead (pubsub, fanout, queue): with --url "
         "on another server of one cluster (or a hub and its leaf), every message crosses the "
         "route (or leaf connection)",
         "HOST:PORT"},
        {"msgs", 'n', 0, G_OPTION_ARG_INT64, &o->msgs,
         "Messages to publish, or requests for reqrep (default 1000000)", "N"},
        {"size", 's', 0, G_OPTION_ARG_INT, &o->size, "Payload bytes (default 16)", "BYTES"},
        {"subs", 0, 0, G_OPTION_ARG_INT, &o->subs, "Subscribers for fanout and queue (default 4)",
         "M"},
        {"pubs", 0, 0, G_OPTION_ARG_INT, &o->pubs, "Publishers for pub (default 1)", "N"},
        {"conns", 0, 0, G_OPTION_ARG_INT, &o->conns, "Connections for idle (default 1000)", "N"},
        {"duration-limit", 't', 0, G_OPTION_ARG_DOUBLE, &o->duration_limit_s,
         "Hard stop in seconds; on timeout report what was measured and exit 3 (default 60)",
         "SECONDS"},
        {"hold", 0, 0, G_OPTION_ARG_DOUBLE, &o->hold_s,
         "Seconds idle connections are held once all are up (default 3)", "SECONDS"},
        {"window-bytes", 0, 0, G_OPTION_ARG_INT64, &o->window_bytes,
         "Most bytes a publisher may run ahead of the slowest subscriber, so that neither "
         "server closes it as a slow consumer; 0 = no limit (default 8 MiB)",
         "BYTES"},
        {"subject", 0, 0, G_OPTION_ARG_STRING, &o->subject, "Subject prefix (default bench)",
         "PREFIX"},
        {"ready-file", 0, 0, G_OPTION_ARG_FILENAME, &o->ready_file,
         "idle: create this file once every connection is up", "PATH"},
        {"window", 'w', 0, G_OPTION_ARG_INT, &o->window,
         "js-pub: PubAcks outstanding at most; 1 publishes synchronously (default 1)", "N"},
        {"storage", 0, 0, G_OPTION_ARG_STRING, &o->storage,
         "js-pub, js-consume: the stream's storage, file or memory (default file)", "KIND"},
        {"stream", 0, 0, G_OPTION_ARG_STRING, &o->stream,
         "js-pub, js-consume: the stream to create (on <--subject>.js) and delete after; one "
         "of that name is deleted first (default BENCH)",
         "NAME"},
        {"batch", 0, 0, G_OPTION_ARG_INT, &o->batch,
         "js-consume: messages per pull request (default 256)", "N"},
        {"ack", 0, 0, G_OPTION_ARG_STRING, &o->ack,
         "js-consume: the consumer's ack_policy, explicit (+ACK each message) or none "
         "(default explicit)",
         "POLICY"},
        {"json", 'j', 0, G_OPTION_ARG_NONE, &o->json, "One JSON object per result line", NULL},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &o->quiet, "No progress on stderr", NULL},
        {NULL, 0, 0, G_OPTION_ARG_NONE, NULL, NULL, NULL},
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("SCENARIO");
    g_option_context_set_summary(
        ctx, "Load generator for NATS-compatible servers. SCENARIO is one of:\n"
             "  pub     --pubs N publishers, no subscribers (rate at the publishers)\n"
             "  pubsub  1 publisher, 1 subscriber (rate at the subscriber)\n"
             "  fanout  1 publisher, --subs M subscribers (total delivered rate)\n"
             "  queue   1 publisher, --subs M queue subscribers (each message exactly once)\n"
             "  reqrep  sequential request/reply, latency percentiles (--msgs requests)\n"
             "  idle    hold --conns N connections for --hold seconds\n"
             "  ping    connect and PING once (readiness probe)\n"
             "  js-pub      publish to a JetStream stream, --window PubAcks outstanding\n"
             "  js-consume  fill a stream, then read it with a pull consumer (--batch)");
    g_option_context_set_description(
        ctx, "Exit status: 0 ok, 1 usage or connection error, 2 a check failed, 3 timeout.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, argc, argv, error)) {
        return false;
    }
    if (*argc != 2) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    "give one SCENARIO (pub, pubsub, fanout, queue, reqrep, idle, ping, js-pub, "
                    "js-consume); "
                    "see --help");
        return false;
    }
    b->scenario = SC_COUNT;
    for (int i = 0; i < SC_COUNT; i++) {
        if (strcmp((*argv)[1], scenario_names[i]) == 0) {
            b->scenario = (enum scenario)i;
        }
    }
    if (b->scenario == SC_COUNT) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "unknown scenario %s",
                    (*argv)[1]);
        return false;
    }
    if (!check_options(b, error) || !resolve_url("--url", o->url, &b->addr, &b->addr_len,
                                                 b->addr_text, sizeof(b->addr_text), error)) {
        return false;
    }
    if (o->sub_url == NULL) {
        return true;
    }
    b->cross = true;
    return resolve_url("--sub-url", o->sub_url, &b->sub_addr, &b->sub_addr_len,
                       b->sub_addr_text, sizeof(b->sub_addr_text), error);
}

/* Raises the soft descriptor limit towards the hard one when many connections are asked. */
static void raise_fd_limit(unsigned needed)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= needed) {
        return;
    }
    rlim_t want = needed;
    if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max) {
        fprintf(stderr,
                "meridian-bench: need %u descriptors, hard limit is %lu; raise it with "
                "`ulimit -Hn`\n",
                needed, (unsigned long)rl.rlim_max);
        want = rl.rlim_max;
    }
    rl.rlim_cur = want;
    (void)setrlimit(RLIMIT_NOFILE, &rl); /* a failure shows up later as EMFILE, named there */
}

/* Builds the block of identical PUBs publishers write from. */
static void build_block(struct bench *b, struct conn *c)
{
    char line[SUBJECT_MAX * 2 + 32];
    int hdr;
    if (c->role == ROLE_JS) {
        /* One reply subject for every PubAck: they are told apart by their sequence. */
        hdr = snprintf(line, sizeof(line), "PUB %s %s %d\r\n", b->pub_subject,
                       b->js.ack_reply, b->opt.size);
    } else {
        hdr = snprintf(line, sizeof(line), "PUB %s %d\r\n", b->pub_subject, b->opt.size);
    }
    b->payload_offset = (size_t)hdr;
    b->msg_bytes = (size_t)hdr + (size_t)b->opt.size + 2;
    c->block_msgs = MAX((size_t)1, CHUNK_BYTES_TARGET / b->msg_bytes);
    c->block = g_malloc(c->block_msgs * b->msg_bytes);
    for (size_t i = 0; i < c->block_msgs; i++) {
        uint8_t *m = c->block + i * b->msg_bytes;
        memcpy(m, line, (size_t)hdr);
        memcpy(m + hdr, b->payload, (size_t)b->opt.size);
        memcpy(m + hdr + b->opt.size, "\r\n", 2);
    }
}

/* The JetStream scenarios' subjects and sequence bitmap (after the inbox is named). */
static void setup_js(struct bench *b)
{
    const struct options *o = &b->opt;
    b->seen = g_malloc0(((size_t)o->msgs + 7) / 8);
    b->js.ack_explicit = strcmp(o->ack, "explicit") == 0;
    snprintf(b->js.subject, sizeof(b->js.subject), "%s.js", o->subject);
    snprintf(b->js.api_reply, sizeof(b->js.api_reply), "%s.api", b->inbox);
    snprintf(b->js.ack_reply, sizeof(b->js.ack_reply), "%s.ack", b->inbox);
    snprintf(b->js.pull_reply, sizeof(b->js.pull_reply), "%s.pull", b->inbox);
    snprintf(b->pub_subject, sizeof(b->pub_subject), "%s", b->js.subject);
}

/* Connection i: its role (subscribers first, then publishers), buffers, PUB block. */
static void setup_conn(struct bench *b, struct conn *c, unsigned i)
{
    const struct options *o = &b->opt;
    c->fd = -1;
    c->index = i;
    if (b->scenario == SC_IDLE || b->scenario == SC_PING) {
        c->role = ROLE_IDLE;
    } else if (b->scenario == SC_JS_PUB || b->scenario == SC_JS_CONSUME) {
        c->role = ROLE_JS;
    } else if (b->scenario == SC_REQREP) {
        c->role = i == 0 ? ROLE_RESPONDER : ROLE_REQUESTER;
    } else {
        c->role = i < b->sub_count ? ROLE_SUB : ROLE_PUB;
    }
    c->rbuf_cap = c->role == ROLE_IDLE ? IDLE_READ_BUF_BYTES : READ_BUF_BYTES;
    c->rbuf = g_malloc(c->rbuf_cap);
    if (c->role == ROLE_PUB) {
        unsigned p = i - b->sub_count;
        uint64_t pubs = b->pub_count;
        c->pub_target = (uint64_t)o->msgs / pubs + (p < (uint64_t)o->msgs % pubs ? 1 : 0);
        build_block(b, c);
    }
    if (c->role == ROLE_JS) {
        c->pub_target = (uint64_t)o->msgs;
        c->body = g_string_sized_new(256);
        build_block(b, c);
    }
}

static void setup(struct bench *b)
{
    const struct options *o = &b->opt;
    unsigned pubs = 0;
    unsigned subs = 0;
    switch (b->scenario) {
    case SC_PUB:
        pubs = (unsigned)o->pubs;
        break;
    case SC_PUBSUB:
        pubs = 1;
        subs = 1;
        break;
    case SC_FANOUT:
    case SC_QUEUE:
        pubs = 1;
        subs = (unsigned)o->subs;
        break;
    case SC_REQREP:
        b->conn_count = 2;
        break;
    case SC_IDLE:
        b->conn_count = (unsigned)o->conns;
        break;
    case SC_PING:
    case SC_JS_PUB:
    case SC_JS_CONSUME:
        b->conn_count = 1;
        break;
    default:
        g_assert_not_reached();
    }
    if (pubs + subs > 0) {
        b->conn_count = pubs + subs;
    }
    b->pub_count = pubs;
    b->sub_count = subs;
    snprintf(b->pub_subject, sizeof(b->pub_subject), "%s.data", o->subject);
    snprintf(b->sync_subject, sizeof(b->sync_subject), "%s.sync", o->subject);
    snprintf(b->fence_subject, sizeof(b->fence_subject), "%s.fence", o->subject);
    snprintf(b->inbox, sizeof(b->inbox), "_INBOX.%s.%ld", o->subject, (long)getpid());
    b->payload = g_malloc((size_t)o->size + 1);
    memset(b->payload, 'x', (size_t)o->size);

    if (b->scenario == SC_QUEUE) {
        b->seq_width = seq_width_for(o->msgs);
        b->seen = g_malloc0(((size_t)o->msgs + 7) / 8);
    }
    if (b->scenario == SC_REQREP) {
        b->lat_ns = g_new(uint64_t, (size_t)o->msgs);
    }
    if (b->scenario == SC_JS_PUB || b->scenario == SC_JS_CONSUME) {
        setup_js(b);
    }

    raise_fd_limit(b->conn_count + 64);
    b->conns = g_new0(struct conn, b->conn_count);
    for (unsigned i = 0; i < b->conn_count; i++) {
        setup_conn(b, &b->conns[i], i);
    }
    if (b->sub_count > 0 && o->window_bytes > 0) {
        b->window_msgs = MAX((uint64_t)1, (uint64_t)o->window_bytes / b->msg_bytes);
    }
}

static void teardown(struct bench *b)
{
    for (unsigned i = 0; i < b->conn_count; i++) {
        struct conn *c = &b->conns[i];
        conn_close(b, c);
        g_free(c->rbuf);
        g_free(c->out.data);
        g_free(c->block);
        if (c->body != NULL) {
            g_string_free(c->body, TRUE);
        }
    }
    g_free(b->conns);
    g_free(b->payload);
    g_free(b->seen);
    g_free(b->lat_ns);
    g_free(b->opt.url);
    g_free(b->opt.sub_url);
    g_free(b->opt.subject);
    g_free(b->opt.ready_file);
    g_free(b->opt.storage);
    g_free(b->opt.stream);
    g_free(b->opt.ack);
    if (b->epfd >= 0) {
        close(b->epfd);
    }
}

int main(int argc, char **argv)
{
    struct bench b;
    memset(&b, 0, sizeof(b));
    b.epfd = -1;
    g_autoptr(GError) error = NULL;
    if (!parse_options(&b, &argc, &argv, &error)) {
        fprintf(stderr, "meridian-bench: %s\n", error->message);
        teardown(&b);
        return BENCH_EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);
    b.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (b.epfd < 0) {
        fprintf(stderr, "meridian-bench: epoll_create1: %s\n", strerror(errno));
        teardown(&b);
        return BENCH_EXIT_USAGE;
    }
    setup(&b);
    b.start_ns = now_ns();
    b.deadline_ns = b.start_ns + (uint64_t)(b.opt.duration_limit_s * 1e9);
    b.phase = PH_CONNECT;
    run_loop(&b);
    if (!b.failed && !b.timed_out) {
        verify(&b);
    }
    report(&b);
    int rc = BENCH_EXIT_OK;
    if (b.failed) {
        rc = b.fail_code;
    } else if (b.timed_out) {
        rc = BENCH_EXIT_TIMEOUT;
    }
    teardown(&b);
    return rc;
}
