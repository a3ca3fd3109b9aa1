/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Suite "realenv": the real env against real loopback sockets, the system clocks and a
 * temporary directory, driven by a small test sink (not the server).
 *
 * The sink records every input and keeps, per connection, the bytes received and the
 * bytes still to send (handed out through out_peek in chunks, so a flush spans several
 * iovecs). Every env call the tests make is wrapped so the sink can assert that no
 * input ever arrives inside the call that caused it. Plain blocking or non-blocking
 * sockets play the peers; loops are bounded by wall time so a bug fails, not hangs.
 *
 * TLS cases: certificates (a CA, a server certificate for 127.0.0.1/localhost, a client
 * certificate, a route certificate good for both roles, and a client certificate from
 * another CA) are made with the openssl CLI into a temporary directory once per TLS test
 * case (an unchecked fixture, run before the tests fork). For the server side an OpenSSL
 * client on a non-blocking socket in the test process plays the peer, driven
 * alternately with the loop; the client side (stream_start_tls_client) is tested
 * against the realenv's own TLS listener in the same loop, as one node's route would
 * meet another's.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/env.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/realenv/realenv.h"

/* ----------------------------------------------------------------------------------
 * The test sink
 * ---------------------------------------------------------------------------------- */

/* Chunk size of the views out_peek hands out: small enough that one flush needs many
 * iovecs and a large pending buffer needs several full peeks. */
#define PEEK_CHUNK (16 * 1024)

struct tconn {
    uint64_t id;
    uint64_t listener_id; /* 0 for outbound */
    char peer_host[64];
    uint16_t peer_port;
    GByteArray *in;  /* bytes received */
    GByteArray *out; /* bytes to send; out_off of them already consumed */
    size_t out_off;
    int closed;           /* on_closed count */
    int connected;        /* on_connected count */
    int connected_status; /* the last status */
    int close_after_bytes; /* 1: stream_close inside on_bytes */
    int pong_on_bytes;     /* 1: queue "PONG\r\n" and want_write inside on_bytes */
    int pause_on_bytes;    /* 1: stream_read_enable(0) inside the next on_bytes, once */
    int tls_started;       /* stream_start_tls was called: no bytes before on_tls */
    int tls_count;         /* on_tls count */
    int tls_status;        /* the last on_tls status */
    char tls_subject[256]; /* the last on_tls subject; "" for NULL */
    int tls_subject_null;
    int tls_before_close;  /* on_tls count when on_closed came */
    size_t in_at_tls;      /* bytes received when on_tls came */
    uint64_t client_tls_id; /* non-zero: the next on_bytes starts client TLS with it */
};

struct file_result {
    uint64_t req_id;
    int64_t result;
    GByteArray *data;
};

struct tsink {
    struct mr_realenv *re;
    const struct mr_env *env;
    struct mr_env_sink sink;
    int in_call; /* an env call is running: no input may arrive now */
    GHashTable *conns; /* uint64 id -> struct tconn */
    GPtrArray *accepted; /* struct tconn, accept order */
    GArray *timers_fired; /* uint64 timer ids, fire order */
    GPtrArray *files;     /* struct file_result, completion order */
    uint64_t timer_to_rearm; /* on_timer re-arms this id, already due, once */
    /* What on_accept does about TLS: 0 nothing; 1 queue "INFO {}\r\n", then
     * stream_start_tls (nats-server's order); 2 stream_start_tls at once and queue the
     * INFO in on_tls (handshake first). */
    int tls_on_accept;
    uint64_t tls_id; /* the context those use */
};

static struct tconn *tconn_get(struct tsink *t, uint64_t id)
{
    struct tconn *c = g_hash_table_lookup(t->conns, &id);
    if (c == NULL) {
        c = g_new0(struct tconn, 1);
        c->id = id;
        c->in = g_byte_array_new();
        c->out = g_byte_array_new();
        g_hash_table_insert(t->conns, &c->id, c);
    }
    return c;
}

static void tconn_free(gpointer p)
{
    struct tconn *c = p;
    g_byte_array_free(c->in, TRUE);
    g_byte_array_free(c->out, TRUE);
    g_free(c);
}

static void file_result_free(gpointer p)
{
    struct file_result *f = p;
    g_byte_array_free(f->data, TRUE);
    g_free(f);
}

static void s_on_accept(void *ctx, uint64_t listener_id, uint64_t conn_id, const char *host,
                        uint16_t port)
{
    struct tsink *t = ctx;
    ck_assert_int_eq(t->in_call, 0);
    ck_assert_ptr_null(g_hash_table_lookup(t->conns, &conn_id));
    struct tconn *c = tconn_get(t, conn_id);
    c->listener_id = listener_id;
    g_strlcpy(c->peer_host, host, sizeof(c->peer_host));
    c->peer_port = port;
    g_ptr_array_add(t->accepted, c);
    if (t->tls_on_accept == 1) {
        g_byte_array_append(c->out, (const uint8_t *)"INFO {}\r\n", 9);
        t->env->stream_want_write(t->env->ctx, conn_id);
    }
    if (t->tls_on_accept != 0) {
        c->tls_started = 1;
        t->env->stream_start_tls(t->env->ctx, conn_id, t->tls_id);
    }
}

static void s_on_tls(void *ctx, uint64_t conn_id, int status, const char *peer_subject)
{
    struct tsink *t = ctx;
    ck_assert_int_eq(t->in_call, 0);
    struct tconn *c = g_hash_table_lookup(t->conns, &conn_id);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->closed, 0);
    ck_assert_int_eq(c->tls_started, 1);
    c->tls_count++;
    c->tls_status = status;
    c->tls_subject_null = peer_subject == NULL;
    g_strlcpy(c->tls_subject, peer_subject != NULL ? peer_subject : "", sizeof(c->tls_subject));
    c->in_at_tls = c->in->len;
    if (status == 0 && t->tls_on_accept == 2) {
        g_byte_array_append(c->out, (const uint8_t *)"INFO {}\r\n", 9);
        t->env->stream_want_write(t->env->ctx, conn_id);
    }
}

static void s_on_connected(void *ctx, uint64_t conn_id, int status)
{
    struct tsink *t = ctx;
    ck_assert_int_eq(t->in_call, 0);
    struct tconn *c = tconn_get(t, conn_id);
    c->connected++;
    c->connected_status = status;
}

static void s_on_bytes(void *ctx, uint64_t conn_id, const uint8_t *buf, size_t len)
{
    struct tsink *t = ctx;
    ck_assert_int_eq(t->in_call, 0);
    struct tconn *c = g_hash_table_lookup(t->conns, &conn_id);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->closed, 0);
    ck_assert_uint_gt(len, 0);
    if (c->tls_started) {
        ck_assert_int_eq(c->tls_count, 1); /* decrypted bytes only after on_tls(0) */
        ck_assert_int_eq(c->tls_status, 0);
    }
    g_byte_array_append(c->in, buf, (guint)len);
    if (c->client_tls_id != 0) {
        /* A route client's order: read the server's plaintext INFO, then upgrade. */
        uint64_t tls_id = c->client_tls_id;
        c->client_tls_id = 0;
        c->tls_started = 1;
        t->env->stream_start_tls_client(t->env->ctx, conn_id, tls_id, "127.0.0.1");
    }
    if (c->pause_on_bytes) {
        c->pause_on_bytes = 0;
        t->env->stream_read_enable(t->env->ctx, conn_id, 0);
    }
    if (c->pong_on_bytes) {
        g_byte_array_append(c->out, (const uint8_t *)"PONG\r\n", 6);
        t->env->stream_want_write(t->env->ctx, conn_id);
    }
    if (c->close_after_bytes) {
        t->env->stream_close(t->env->ctx, conn_id);
    }
}

static void s_on_closed(void *ctx, uint64_t conn_id)
{
    struct tsink *t = ctx;
    ck_assert_int_eq(t->in_call, 0);
    struct tconn *c = g_hash_table_lookup(t->conns, &conn_id);
    ck_assert_ptr_nonnull(c);
    c->closed++;
    c->tls_before_close = c->tls_count;
}

static void s_on_timer(void *ctx, uint64_t timer_id)
{
    struct tsink *t = ctx;
    ck_assert_int_eq(t->in_call, 0);
    g_array_append_val(t->timers_fired, timer_id);
    if (timer_id == t->timer_to_rearm) {
        t->timer_to_rearm = 0;
        t->env->timer_arm(t->env->ctx, timer_id, 0);
    }
}

static void s_on_file_done(void *ctx, uint64_t req_id, int64_t result, const uint8_t *data,
                           size_t len)
{
    struct tsink *t = ctx;
    ck_assert_int_eq(t->in_call, 0);
    struct file_result *f = g_new0(struct file_result, 1);
    f->req_id = req_id;
    f->result = result;
    f->data = g_byte_array_new();
    if (len > 0) {
        g_byte_array_append(f->data, data, (guint)len);
    }
    g_ptr_array_add(t->files, f);
}

static size_t s_out_peek(void *ctx, uint64_t conn_id, struct mr_iov *iov, size_t iov_max)
{
    struct tsink *t = ctx;
    ck_assert_int_eq(t->in_call, 0);
    struct tconn *c = g_hash_table_lookup(t->conns, &conn_id);
    ck_assert_ptr_nonnull(c);
    size_t n = 0;
    for (size_t at = c->out_off; at < c->out->len && n < iov_max; at += PEEK_CHUNK) {
        size_t left = c->out->len - at;
        iov[n].base = c->out->data + at;
        iov[n].len = left < PEEK_CHUNK ? left : PEEK_CHUNK;
        n++;
    }
    return n;
}

static void s_out_consume(void *ctx, uint64_t conn_id, size_t n)
{
    struct tsink *t = ctx;
    struct tconn *c = g_hash_table_lookup(t->conns, &conn_id);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_le(c->out_off + n, c->out->len);
    c->out_off += n;
}

static struct tsink *tsink_new(void)
{
    struct tsink *t = g_new0(struct tsink, 1);
    char errmsg[MR_ERRMSG_MAX];
    ck_assert_int_eq(mr_realenv_create(&t->re, errmsg, sizeof(errmsg)), 0);
    t->env = mr_realenv_env(t->re);
    t->sink = (struct mr_env_sink){
        .ctx = t,
        .on_accept = s_on_accept,
        .on_connected = s_on_connected,
        .on_bytes = s_on_bytes,
        .on_closed = s_on_closed,
        .on_timer = s_on_timer,
        .on_file_done = s_on_file_done,
        .on_tls = s_on_tls,
        .out_peek = s_out_peek,
        .out_consume = s_out_consume,
    };
    mr_realenv_set_sink(t->re, &t->sink);
    t->conns = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, tconn_free);
    t->accepted = g_ptr_array_new();
    t->timers_fired = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    t->files = g_ptr_array_new_with_free_func(file_result_free);
    return t;
}

/* Destroying the realenv checks (mr_mem_deinit) that it freed everything it allocated. */
static void tsink_free(struct tsink *t)
{
    mr_realenv_destroy(t->re);
    g_ptr_array_free(t->accepted, TRUE);
    g_hash_table_destroy(t->conns);
    g_array_free(t->timers_fired, TRUE);
    g_ptr_array_free(t->files, TRUE);
    g_free(t);
}

/* Wraps an env call so the sink can tell an input delivered inside it. */
#define CALL(t, expr)                                                                      \
    do {                                                                                   \
        (t)->in_call = 1;                                                                  \
        expr;                                                                              \
        (t)->in_call = 0;                                                                  \
    } while (0)

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

typedef bool (*pred_fn)(struct tsink *t, void *arg);

/* Runs turns until pred holds; fails the test after bound_ms. */
static void run_until(struct tsink *t, pred_fn pred, void *arg, uint64_t bound_ms)
{
    uint64_t end = mono_ms() + bound_ms;
    while (!pred(t, arg)) {
        ck_assert_msg(mono_ms() < end, "condition not reached within %llu ms",
                      (unsigned long long)bound_ms);
        ck_assert_int_eq(mr_realenv_run_once(t->re, 10 * MR_NS_PER_MS), 0);
        mr_realenv_check(t->re);
    }
}

static void run_turns(struct tsink *t, int turns, uint64_t wait_ms)
{
    for (int i = 0; i < turns; i++) {
        ck_assert_int_eq(mr_realenv_run_once(t->re, wait_ms * MR_NS_PER_MS), 0);
        mr_realenv_check(t->re);
    }
}

static bool accepted_at_least(struct tsink *t, void *arg)
{
    return t->accepted->len >= (guint)(uintptr_t)arg;
}

static bool in_at_least(struct tsink *t, void *arg)
{
    struct tconn *c = g_ptr_array_index(t->accepted, 0);
    return c->in->len >= (guint)(uintptr_t)arg;
}

static bool conn_closed(struct tsink *t, void *arg)
{
    struct tconn *c = arg;
    return c->closed > 0;
}

static bool conn_connected(struct tsink *t, void *arg)
{
    struct tconn *c = arg;
    return c->connected > 0;
}

static bool files_at_least(struct tsink *t, void *arg)
{
    return t->files->len >= (guint)(uintptr_t)arg;
}

static bool timers_at_least(struct tsink *t, void *arg)
{
    return t->timers_fired->len >= (guint)(uintptr_t)arg;
}

/* ----------------------------------------------------------------------------------
 * Peers: plain sockets
 * ---------------------------------------------------------------------------------- */

static uint16_t listen_any(struct tsink *t, uint64_t listener_id)
{
    uint16_t port = 0;
    int rc;
    CALL(t, rc = t->env->listen(t->env->ctx, listener_id, "127.0.0.1", 0, &port));
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_gt(port, 0);
    return port;
}

static int peer_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void peer_send(int fd, const void *buf, size_t len)
{
    ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
}

/* Reads what is available without blocking; returns bytes read, 0 on EOF, -1 if none. */
static ssize_t peer_recv_nb(int fd, GByteArray *into, size_t max)
{
    uint8_t buf[64 * 1024];
    ssize_t n = recv(fd, buf, max < sizeof(buf) ? max : sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
        g_byte_array_append(into, buf, (guint)n);
        return n;
    }
    if (n == 0) {
        return 0;
    }
    ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
    return -1;
}

/* Accepts one peer connection and returns the sink's record of it. */
static struct tconn *accept_one(struct tsink *t, uint16_t port, int *peer_fd)
{
    guint before = t->accepted->len;
    *peer_fd = peer_connect(port);
    run_until(t, accepted_at_least, (void *)(uintptr_t)(before + 1), 2000);
    return g_ptr_array_index(t->accepted, before);
}

static void fill_pattern(GByteArray *a, size_t len)
{
    g_byte_array_set_size(a, (guint)len);
    for (size_t i = 0; i < len; i++) {
        a->data[i] = (uint8_t)((i * 7 + i / 251) & 0xff);
    }
}

/* ----------------------------------------------------------------------------------
 * Streams
 * ---------------------------------------------------------------------------------- */

START_TEST(listen_port_zero_reports_port_and_bytes_arrive)
{
    struct tsink *t = tsink_new();
    uint16_t port = listen_any(t, 7);
    int fd;
    struct tconn *c = accept_one(t, port, &fd);
    ck_assert_uint_eq(c->listener_id, 7);
    ck_assert_str_eq(c->peer_host, "127.0.0.1");
    ck_assert_uint_gt(c->peer_port, 0);
    ck_assert_uint_gt(c->id, 0);

    peer_send(fd, "PUB a 5\r\nhello\r\n", 16);
    run_until(t, in_at_least, (void *)(uintptr_t)16, 2000);
    ck_assert_int_eq(memcmp(c->in->data, "PUB a 5\r\nhello\r\n", 16), 0);
    close(fd);
    tsink_free(t);
}
END_TEST

START_TEST(accepted_connections_get_increasing_ids)
{
    struct tsink *t = tsink_new();
    uint16_t port = listen_any(t, 1);
    int fds[3];
    for (int i = 0; i < 3; i++) {
        accept_one(t, port, &fds[i]);
    }
    struct tconn *a = g_ptr_array_index(t->accepted, 0);
    struct tconn *b = g_ptr_array_index(t->accepted, 1);
    struct tconn *c = g_ptr_array_index(t->accepted, 2);
    ck_assert_uint_lt(a->id, b->id);
    ck_assert_uint_lt(b->id, c->id);
    for (int i = 0; i < 3; i++) {
        close(fds[i]);
    }
    tsink_free(t);
}
END_TEST

START_TEST(listen_reports_addr_in_use_and_bad_address)
{
    struct tsink *t = tsink_new();
    uint16_t port = listen_any(t, 1);
    uint16_t bound = 0;
    int rc;
    CALL(t, rc = t->env->listen(t->env->ctx, 2, "127.0.0.1", port, &bound));
    ck_assert_int_eq(rc, MR_E_ADDR_IN_USE);
    /* Not a valid host name: glibc refuses it without asking DNS, so no network. */
    CALL(t, rc = t->env->listen(t->env->ctx, 3, "bad host!", 0, &bound));
    ck_assert_int_eq(rc, MR_E_ADDR);
    CALL(t, rc = t->env->listen(t->env->ctx, 4, "192.0.2.1", 0, &bound));
    ck_assert_int_eq(rc, MR_E_ADDR); /* TEST-NET-1: not an address of this host */
    CALL(t, rc = t->env->listen(t->env->ctx, 5, "localhost", 0, &bound));
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_gt(bound, 0);
    tsink_free(t);
}
END_TEST

START_TEST(unlisten_stops_accepting_and_keeps_connections)
{
    struct tsink *t = tsink_new();
    uint16_t port = listen_any(t, 1);
    int fd;
    struct tconn *c = accept_one(t, port, &fd);
    CALL(t, t->env->unlisten(t->env->ctx, 1));
    run_turns(t, 2, 1);

    int fd2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_ne(connect(fd2, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(errno, ECONNREFUSED);
    close(fd2);

    peer_send(fd, "x", 1);
    run_until(t, in_at_least, (void *)(uintptr_t)1, 2000);
    ck_assert_int_eq(c->closed, 0);
    close(fd);
    tsink_free(t);
}
END_TEST

START_TEST(out_peek_and_consume_write_bytes_back)
{
    struct tsink *t = tsink_new();
    uint16_t port = listen_any(t, 1);
    int fd;
    struct tconn *c = accept_one(t, port, &fd);
    g_byte_array_append(c->out, (const uint8_t *)"INFO {}\r\n", 9);
    CALL(t, t->env->stream_want_write(t->env->ctx, c->id));
    CALL(t, t->env->stream_want_write(t->env->ctx, c->id)); /* idempotent */
    ck_assert_uint_eq(c->out_off, 0); /* pulled by the loop, not inside the call */
    run_turns(t, 1, 0);
    ck_assert_uint_eq(c->out_off, 9);

    GByteArray *got = g_byte_array_new();
    uint64_t end = mono_ms() + 2000;
    while (got->len < 9 && mono_ms() < end) {
        peer_recv_nb(fd, got, 64);
    }
    ck_assert_uint_eq(got->len, 9);
    ck_assert_int_eq(memcmp(got->data, "INFO {}\r\n", 9), 0);
    g_byte_array_free(got, TRUE);
    close(fd);
    tsink_free(t);
}
END_TEST

START_TEST(large_write_to_slow_reader_takes_several_turns)
{
    enum { TOTAL = 16 * 1024 * 1024 };
    struct tsink *t = tsink_new();
    uint16_t port = listen_any(t, 1);
    int fd;
    struct tconn *c = accept_one(t, port, &fd);
    int small = 64 * 1024;
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    fill_pattern(c->out, TOTAL);
    CALL(t, t->env->stream_want_write(t->env->ctx, c->id));

    GByteArray *got = g_byte_array_new();
    uint64_t end = mono_ms() + 60000;
    uint64_t turns_before;
    struct mr_realenv_stats st;
    mr_realenv_stats(t->re, &st);
    turns_before = st.turns;
    while (got->len < TOTAL) {
        ck_assert_msg(mono_ms() < end, "only %u of %d bytes arrived", got->len, TOTAL);
        ck_assert_int_eq(mr_realenv_run_once(t->re, 5 * MR_NS_PER_MS), 0);
        /* The slow reader: at most 64 KiB per turn. */
        peer_recv_nb(fd, got, 64 * 1024);
    }
    ck_assert_uint_eq(c->out_off, TOTAL);
    ck_assert_int_eq(memcmp(got->data, c->out->data, TOTAL), 0);
    mr_realenv_stats(t->re, &st);
    ck_assert_uint_gt(st.turns - turns_before, 10);
    ck_assert_uint_gt(st.write_waits, 0);
    ck_assert_uint_gt(st.writes, 1);
    ck_assert_int_eq(c->closed, 0);
    g_byte_array_free(got, TRUE);
    close(fd);
    tsink_free(t);
}
END_TEST

START_TEST(peer_close_gives_one_on_closed)
{
    struct tsink *t = tsink_new();
    uint16_t port = listen_any(t, 1);
    int fd;
    struct tconn *c = accept_one(t, port, &fd);
    peer_send(fd, "PING\r\n", 6);
    close(fd);
    run_until(t, conn_closed, c, 2000);
    /* The bytes sent just before the close are delivered first. */
    ck_assert_uint_eq(c->in->len, 6);
    run_turns(t, 3, 1);
    ck_assert_int_eq(c->closed, 1);
    /* Calls about a dead id are ignored. */
    CALL(t, t->env->stream_want_write(t->env->ctx, c->id));
    CALL(t, t->env->stream_close(t->env->ctx, c->id));
    CALL(t, t->env->stream_read_enable(t->env->ctx, c->id, 0));
    run_turns(t, 2, 1);
    ck_assert_int_eq(c->closed, 1);
    struct mr_realenv_stats st;
    mr_realenv_stats(t->re, &st);
    ck_assert_uint_eq(st.conns_open, 0);
    tsink_free(t);
}
END_TEST

START_TEST(peer_eof_still_gets_the_reply_to_its_last_bytes)
{
    struct tsink *t = tsink_new();
    uint16_t port = listen_any(t, 1);
    int fd;
    struct tconn *c = accept_one(t, port, &fd);
    c->pong_on_bytes = 1;
    peer_send(fd, "PING\r\n", 6);
    ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
    run_until(t, conn_closed, c, 2000);
    GByteArray *got = g_byte_array_new();
    uint64_t end = mono_ms() + 2000;
    while (mono_ms() < end && peer_recv_nb(fd, got, 1024) != 0) {
    }
    ck_assert_uint_eq(got->len, 6);
    ck_assert_int_eq(memcmp(got->data, "PONG\r\n", 6), 0);
    run_turns(t, 2, 1);
    ck_assert_int_eq(c->closed, 1);
    g_byte_array_free(got, TRUE);
    close(fd);
    tsink_free(t);
}
END_TEST

START_TEST(peer_reset_gives_one_on_closed_even_when_not_reading)
{
    struct tsink *t = tsink_new();
    uint16_t port = listen_any(t, 1);
    int fd;
    struct tconn *c = accept_one(t, port, &fd);
    CALL(t, t->env->stream_read_enable(t->env->ctx, c->id, 0));
    run_turns(t, 1, 0);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    close(fd); /* RST */
    run_until(t, conn_closed, c, 2000);
    run_turns(t, 3, 1);
    ck_assert_int_eq(c->closed, 1);
    tsink_free(t);
}
END_TEST

START_TEST(read_enable_pauses_and_resumes_reading)
{
    struct tsink *t = tsink_new();
    uint16_t port = listen_any(t, 1);
    int fd;
    struct tconn *c = accept_one(t, port, &fd);
    CALL(t, t->env->stream_read_enable(t->env->ctx, c->id, 0));
    peer_send(fd, "abc", 3);
    run_turns(t, 5, 5);
    ck_assert_uint_eq(c->in->len, 0);
    CALL(t, t->env->stream_read_enable(t->env->ctx, c->id, 1));
    run_until(t, in_at_least, (void *)(uintptr_t)3, 2000);
    ck_assert_int_eq(memcmp(c->in->data, "abc", 3), 0);
    close(fd);
    tsink_free(t);
}
END_TEST

START_TEST(stream_close_flushes_pending_bytes_then_closes)
{
    enum { LEN = 200 * 1024 };
    struct tsink *t = tsink_new();
    uint16_t port = listen_any(t, 1);
    int fd;
    struct tconn *c = accept_one(t, port, &fd);
    fill_pattern(c->out, LEN);
    CALL(t, t->env->stream_want_write(t->env->ctx, c->id));
    CALL(t, t->env->stream_close(t->env->ctx, c->id));
    ck_assert_int_eq(c->closed, 0); /* never inside the call */
    CALL(t, t->env->stream_close(t->env->ctx, c->id)); /* twice is harmless */
    run_until(t, conn_closed, c, 2000);
    ck_assert_int_eq(c->closed, 1);

    GByteArray *got = g_byte_array_new();
    uint64_t end = mono_ms() + 5000;
    for (;;) {
        ck_assert(mono_ms() < end);
        ssize_t n = peer_recv_nb(fd, got, 64 * 1024);
        if (n == 0) {
            break; /* EOF after the data, not a reset */
        }
    }
    ck_assert_uint_eq(got->len, c->out_off);
    ck_assert_uint_eq(got->len, LEN);
    ck_assert_int_eq(memcmp(got->data, c->out->data, LEN), 0);
    run_turns(t, 2, 1);
    ck_assert_int_eq(c->closed, 1);
    g_byte_array_free(got, TRUE);
    close(fd);
    tsink_free(t);
}
END_TEST

START_TEST(stream_close_inside_on_bytes_stops_reading)
{
    struct tsink *t = tsink_new();
    uint16_t port = listen_any(t, 1);
    int fd;
    struct tconn *c = accept_one(t, port, &fd);
    c->close_after_bytes = 1;
    g_byte_array_append(c->out, (const uint8_t *)"-ERR 'x'\r\n", 10);
    CALL(t, t->env->stream_want_write(t->env->ctx, c->id));
    peer_send(fd, "CONNECT {}\r\n", 12);
    run_until(t, conn_closed, c, 2000);
    GByteArray *got = g_byte_array_new();
    uint64_t end = mono_ms() + 2000;
    while (mono_ms() < end && peer_recv_nb(fd, got, 1024) != 0) {
    }
    ck_assert_uint_eq(got->len, 10);
    g_byte_array_free(got, TRUE);
    close(fd);
    tsink_free(t);
}
END_TEST

START_TEST(many_connections_are_accepted)
{
    enum { N = 1500 };
    struct tsink *t = tsink_new();
    uint16_t port = listen_any(t, 1);
    int *fds = g_new(int, N);
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ck_assert_int_ge(fds[i], 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int rc = connect(fds[i], (struct sockaddr *)&sa, sizeof(sa));
        ck_assert(rc == 0 || errno == EINPROGRESS);
        if (i % 500 == 499) {
            run_turns(t, 1, 0);
        }
    }
    run_until(t, accepted_at_least, (void *)(uintptr_t)N, 10000);
    struct mr_realenv_stats st;
    mr_realenv_stats(t->re, &st);
    ck_assert_uint_eq(st.accepts, N);
    ck_assert_uint_eq(st.conns_open, N);
    for (int i = 0; i < N; i++) {
        close(fds[i]);
    }
    g_free(fds);
    tsink_free(t);
}
END_TEST

/* ----------------------------------------------------------------------------------
 * Outbound connect
 * ---------------------------------------------------------------------------------- */

START_TEST(connect_to_listener_reports_connected_later)
{
    struct tsink *t = tsink_new();
    uint16_t port = listen_any(t, 1);
    uint64_t id = 0;
    int rc;
    CALL(t, rc = t->env->connect(t->env->ctx, "127.0.0.1", port, &id));
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_gt(id, 0);
    struct tconn *out = tconn_get(t, id);
    ck_assert_int_eq(out->connected, 0);
    /* Output queued before the stream is up goes out once it is. */
    g_byte_array_append(out->out, (const uint8_t *)"hello", 5);
    CALL(t, t->env->stream_want_write(t->env->ctx, id));
    run_until(t, conn_connected, out, 2000);
    ck_assert_int_eq(out->connected_status, 0);
    run_until(t, accepted_at_least, (void *)(uintptr_t)1, 2000);
    struct tconn *in = g_ptr_array_index(t->accepted, 0);
    ck_assert_uint_ne(in->id, out->id);
    run_until(t, in_at_least, (void *)(uintptr_t)5, 2000);
    ck_assert_int_eq(memcmp(in->in->data, "hello", 5), 0);

    /* And back the other way. */
    g_byte_array_append(in->out, (const uint8_t *)"world", 5);
    CALL(t, t->env->stream_want_write(t->env->ctx, in->id));
    uint64_t end = mono_ms() + 2000;
    while (out->in->len < 5) {
        ck_assert(mono_ms() < end);
        run_turns(t, 1, 5);
    }
    ck_assert_int_eq(memcmp(out->in->data, "world", 5), 0);

    /* Closing one side gives each side its one on_closed. */
    CALL(t, t->env->stream_close(t->env->ctx, out->id));
    run_until(t, conn_closed, in, 2000);
    run_until(t, conn_closed, out, 2000);
    run_turns(t, 2, 1);
    ck_assert_int_eq(in->closed, 1);
    ck_assert_int_eq(out->closed, 1);
    tsink_free(t);
}
END_TEST

START_TEST(connect_to_closed_port_reports_refused)
{
    struct tsink *t = tsink_new();
    /* A port that was just free: bind, read it, close. */
    int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(probe, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(getsockname(probe, (struct sockaddr *)&sa, &len), 0);
    uint16_t port = ntohs(sa.sin_port);
    close(probe);

    uint64_t id = 0;
    int rc;
    CALL(t, rc = t->env->connect(t->env->ctx, "127.0.0.1", port, &id));
    ck_assert_int_eq(rc, 0);
    struct tconn *c = tconn_get(t, id);
    run_until(t, conn_connected, c, 2000);
    ck_assert_int_eq(c->connected_status, MR_E_REFUSED);
    run_turns(t, 3, 1);
    ck_assert_int_eq(c->connected, 1);
    ck_assert_int_eq(c->closed, 0); /* a failed connect gets no on_closed */
    struct mr_realenv_stats st;
    mr_realenv_stats(t->re, &st);
    ck_assert_uint_eq(st.conns_open, 0);
    tsink_free(t);
}
END_TEST

START_TEST(connect_to_unknown_host_reports_addr)
{
    struct tsink *t = tsink_new();
    uint64_t id = 0;
    int rc;
    CALL(t, rc = t->env->connect(t->env->ctx, "bad host!", 4222, &id));
    ck_assert_int_eq(rc, 0);
    struct tconn *c = tconn_get(t, id);
    run_until(t, conn_connected, c, 2000);
    ck_assert_int_eq(c->connected_status, MR_E_ADDR);
    ck_assert_int_eq(c->closed, 0);
    tsink_free(t);
}
END_TEST

START_TEST(close_before_connected_gives_on_closed_only)
{
    struct tsink *t = tsink_new();
    uint16_t port = listen_any(t, 1);
    uint64_t id = 0;
    CALL(t, t->env->connect(t->env->ctx, "127.0.0.1", port, &id));
    CALL(t, t->env->stream_close(t->env->ctx, id));
    struct tconn *c = tconn_get(t, id);
    run_until(t, conn_closed, c, 2000);
    run_turns(t, 3, 1);
    ck_assert_int_eq(c->closed, 1);
    ck_assert_int_eq(c->connected, 0);
    tsink_free(t);
}
END_TEST

/* ----------------------------------------------------------------------------------
 * Timers
 * ---------------------------------------------------------------------------------- */

static void arm(struct tsink *t, uint64_t id, uint64_t deadline_ns)
{
    int rc;
    CALL(t, rc = t->env->timer_arm(t->env->ctx, id, deadline_ns));
    ck_assert_int_eq(rc, 0);
}

static uint64_t fired(struct tsink *t, guint i)
{
    return g_array_index(t->timers_fired, uint64_t, i);
}

START_TEST(timers_fire_in_deadline_order)
{
    struct tsink *t = tsink_new();
    uint64_t now = t->env->now_ns(t->env->ctx);
    arm(t, 1, now + 30 * MR_NS_PER_MS);
    arm(t, 2, now + 10 * MR_NS_PER_MS);
    arm(t, 3, now + 20 * MR_NS_PER_MS);
    run_until(t, timers_at_least, (void *)(uintptr_t)3, 2000);
    ck_assert_uint_eq(fired(t, 0), 2);
    ck_assert_uint_eq(fired(t, 1), 3);
    ck_assert_uint_eq(fired(t, 2), 1);
    ck_assert_uint_ge(t->env->now_ns(t->env->ctx), now + 30 * MR_NS_PER_MS);
    tsink_free(t);
}
END_TEST

START_TEST(timers_with_equal_deadlines_fire_in_arming_order)
{
    struct tsink *t = tsink_new();
    uint64_t d = t->env->now_ns(t->env->ctx) + 5 * MR_NS_PER_MS;
    arm(t, 5, d);
    arm(t, 3, d);
    arm(t, 9, d);
    arm(t, 5, d); /* re-arming is a new arming: 5 now goes last */
    for (uint64_t id = 100; id < 140; id++) {
        arm(t, id, d);
    }
    run_until(t, timers_at_least, (void *)(uintptr_t)43, 2000);
    ck_assert_uint_eq(fired(t, 0), 3);
    ck_assert_uint_eq(fired(t, 1), 9);
    ck_assert_uint_eq(fired(t, 2), 5);
    for (guint i = 3; i < 43; i++) {
        ck_assert_uint_eq(fired(t, i), 100 + i - 3);
    }
    run_turns(t, 3, 5);
    ck_assert_uint_eq(t->timers_fired->len, 43);
    tsink_free(t);
}
END_TEST

START_TEST(timer_rearm_replaces_deadline)
{
    struct tsink *t = tsink_new();
    uint64_t now = t->env->now_ns(t->env->ctx);
    arm(t, 1, now + 5 * MR_NS_PER_MS);
    arm(t, 2, now + 20 * MR_NS_PER_MS);
    arm(t, 1, now + 40 * MR_NS_PER_MS);
    run_until(t, timers_at_least, (void *)(uintptr_t)2, 2000);
    ck_assert_uint_eq(fired(t, 0), 2);
    ck_assert_uint_eq(fired(t, 1), 1);
    ck_assert_uint_ge(t->env->now_ns(t->env->ctx), now + 40 * MR_NS_PER_MS);
    run_turns(t, 3, 10);
    ck_assert_uint_eq(t->timers_fired->len, 2); /* fired once */
    tsink_free(t);
}
END_TEST

START_TEST(timer_cancel_disarms)
{
    struct tsink *t = tsink_new();
    uint64_t now = t->env->now_ns(t->env->ctx);
    arm(t, 1, now + 5 * MR_NS_PER_MS);
    arm(t, 2, now + 10 * MR_NS_PER_MS);
    arm(t, 3, now + 15 * MR_NS_PER_MS);
    CALL(t, t->env->timer_cancel(t->env->ctx, 2));
    CALL(t, t->env->timer_cancel(t->env->ctx, 2));   /* twice: ignored */
    CALL(t, t->env->timer_cancel(t->env->ctx, 777)); /* unknown: ignored */
    run_until(t, timers_at_least, (void *)(uintptr_t)2, 2000);
    run_turns(t, 3, 10);
    ck_assert_uint_eq(t->timers_fired->len, 2);
    ck_assert_uint_eq(fired(t, 0), 1);
    ck_assert_uint_eq(fired(t, 1), 3);
    tsink_free(t);
}
END_TEST

START_TEST(past_deadline_fires_in_a_later_turn_not_inside_the_call)
{
    struct tsink *t = tsink_new();
    arm(t, 4, 0);
    ck_assert_uint_eq(t->timers_fired->len, 0);
    /* A timer re-armed as already due inside its callback waits for the next turn. */
    t->timer_to_rearm = 4;
    run_turns(t, 1, 0);
    ck_assert_uint_eq(t->timers_fired->len, 1);
    run_turns(t, 1, 0);
    ck_assert_uint_eq(t->timers_fired->len, 2);
    run_turns(t, 2, 1);
    ck_assert_uint_eq(t->timers_fired->len, 2);
    tsink_free(t);
}
END_TEST

struct model_timer {
    uint64_t id;
    uint64_t deadline_ns;
    uint64_t seq;
    bool armed;
};

static gint model_order(gconstpointer a, gconstpointer b)
{
    const struct model_timer *x = a;
    const struct model_timer *y = b;
    if (x->deadline_ns != y->deadline_ns) {
        return x->deadline_ns < y->deadline_ns ? -1 : 1;
    }
    return x->seq < y->seq ? -1 : (x->seq > y->seq ? 1 : 0);
}

/* Random arm, re-arm and cancel against a model: everything is already due (deadlines
 * far in the past), so one turn fires every armed timer in (deadline, arming) order. */
START_TEST(random_timer_operations_match_a_model)
{
    enum { IDS = 200, OPS = 5000 };
    struct tsink *t = tsink_new();
    GRand *rng = g_rand_new_with_seed(42);
    struct model_timer model[IDS];
    memset(model, 0, sizeof(model));
    uint64_t seq = 0;
    for (int op = 0; op < OPS; op++) {
        uint32_t id = (uint32_t)g_rand_int_range(rng, 0, IDS);
        model[id].id = id;
        if (g_rand_int_range(rng, 0, 4) == 0) {
            CALL(t, t->env->timer_cancel(t->env->ctx, id));
            model[id].armed = false;
        } else {
            uint64_t d = (uint64_t)g_rand_int_range(rng, 1, 20); /* many ties */
            arm(t, id, d);
            model[id] = (struct model_timer){.id = id, .deadline_ns = d, .seq = ++seq,
                                             .armed = true};
        }
        if (op % 100 == 0) {
            mr_realenv_check(t->re);
        }
    }
    GArray *want = g_array_new(FALSE, FALSE, sizeof(struct model_timer));
    for (int i = 0; i < IDS; i++) {
        if (model[i].armed) {
            g_array_append_val(want, model[i]);
        }
    }
    g_array_sort(want, model_order);
    run_turns(t, 1, 0);
    ck_assert_uint_eq(t->timers_fired->len, want->len);
    for (guint i = 0; i < want->len; i++) {
        ck_assert_uint_eq(fired(t, i), g_array_index(want, struct model_timer, i).id);
    }
    g_array_free(want, TRUE);
    g_rand_free(rng);
    tsink_free(t);
}
END_TEST

/* ----------------------------------------------------------------------------------
 * Files
 * ---------------------------------------------------------------------------------- */

struct tmpdir {
    char path[64];
};

static void tmpdir_make(struct tmpdir *d)
{
    g_strlcpy(d->path, "/tmp/test_realenv_XXXXXX", sizeof(d->path));
    ck_assert_ptr_nonnull(mkdtemp(d->path));
}

static void tmpdir_remove(struct tmpdir *d)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
    ck_assert_int_eq(system(cmd), 0);
}

static struct file_result *file_wait(struct tsink *t, guint index, uint64_t req_id)
{
    ck_assert_uint_eq(t->files->len, index); /* nothing arrived inside the call */
    run_until(t, files_at_least, (void *)(uintptr_t)(index + 1), 2000);
    struct file_result *f = g_ptr_array_index(t->files, index);
    ck_assert_uint_eq(f->req_id, req_id);
    return f;
}

static void expect_names(struct file_result *f, const char *const *names, int n)
{
    ck_assert_int_eq(f->result, n);
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_uint_lt(at, f->data->len);
        ck_assert_str_eq((const char *)f->data->data + at, names[i]);
        at += strlen(names[i]) + 1;
    }
    ck_assert_uint_eq(at, f->data->len);
}

START_TEST(file_calls_round_trip_with_later_completions)
{
    struct tsink *t = tsink_new();
    struct tmpdir d;
    tmpdir_make(&d);
    char errmsg[MR_ERRMSG_MAX];
    ck_assert_int_eq(mr_realenv_set_file_dir(t->re, d.path, errmsg, sizeof(errmsg)), 0);
    const struct mr_env *e = t->env;
    guint i = 0;

    CALL(t, e->file_open(e->ctx, 10, "streams/ORDERS/1.blk",
                         MR_FILE_READ | MR_FILE_WRITE | MR_FILE_CREATE));
    struct file_result *f = file_wait(t, i++, 10);
    ck_assert_int_gt(f->result, 0);
    int64_t h = f->result;

    CALL(t, e->file_write(e->ctx, 11, h, 0, (const uint8_t *)"hello world", 11));
    ck_assert_int_eq(file_wait(t, i++, 11)->result, 11);
    CALL(t, e->file_write(e->ctx, 12, h, 6, (const uint8_t *)"WORLD", 5));
    ck_assert_int_eq(file_wait(t, i++, 12)->result, 5);
    CALL(t, e->file_sync(e->ctx, 13, h));
    ck_assert_int_eq(file_wait(t, i++, 13)->result, 0);
    CALL(t, e->file_read(e->ctx, 14, h, 0, 100));
    f = file_wait(t, i++, 14);
    ck_assert_int_eq(f->result, 11); /* short read at end of file */
    ck_assert_uint_eq(f->data->len, 11);
    ck_assert_int_eq(memcmp(f->data->data, "hello WORLD", 11), 0);
    CALL(t, e->file_close(e->ctx, 15, h));
    ck_assert_int_eq(file_wait(t, i++, 15)->result, 0);

    CALL(t, e->file_rename(e->ctx, 16, "streams/ORDERS/1.blk", "streams/ORDERS/2.blk"));
    ck_assert_int_eq(file_wait(t, i++, 16)->result, 0);
    CALL(t, e->file_list(e->ctx, 17, "streams/ORDERS"));
    static const char *const after_rename[] = {"2.blk"};
    expect_names(file_wait(t, i++, 17), after_rename, 1);

    CALL(t, e->file_open(e->ctx, 18, "streams/ORDERS/2.blk", MR_FILE_READ));
    f = file_wait(t, i++, 18);
    ck_assert_int_gt(f->result, h); /* handles are never reused */
    int64_t h2 = f->result;
    CALL(t, e->file_read(e->ctx, 19, h2, 6, 5));
    f = file_wait(t, i++, 19);
    ck_assert_int_eq(f->result, 5);
    ck_assert_int_eq(memcmp(f->data->data, "WORLD", 5), 0);
    CALL(t, e->file_close(e->ctx, 20, h2));
    ck_assert_int_eq(file_wait(t, i++, 20)->result, 0);

    CALL(t, e->file_remove(e->ctx, 21, "streams/ORDERS/2.blk"));
    ck_assert_int_eq(file_wait(t, i++, 21)->result, 0);
    CALL(t, e->file_list(e->ctx, 22, "streams/ORDERS"));
    expect_names(file_wait(t, i++, 22), NULL, 0);
    CALL(t, e->file_remove(e->ctx, 23, "streams/ORDERS"));
    ck_assert_int_eq(file_wait(t, i++, 23)->result, 0);
    CALL(t, e->file_list(e->ctx, 24, "streams/ORDERS"));
    ck_assert_int_eq(file_wait(t, i++, 24)->result, MR_E_NOT_FOUND);

    tsink_free(t);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(file_list_is_sorted_bytewise)
{
    struct tsink *t = tsink_new();
    struct tmpdir d;
    tmpdir_make(&d);
    ck_assert_int_eq(mr_realenv_set_file_dir(t->re, d.path, NULL, 0), 0);
    const struct mr_env *e = t->env;
    static const char *const names[] = {"b", "B", "a", "_", "aa", "A1", "\xc3\xa9"};
    guint i = 0;
    for (int k = 0; k < 7; k++) {
        char path[32];
        snprintf(path, sizeof(path), "d/%s", names[k]);
        CALL(t, e->file_open(e->ctx, (uint64_t)k, path, MR_FILE_WRITE | MR_FILE_CREATE));
        int64_t h = file_wait(t, i++, (uint64_t)k)->result;
        ck_assert_int_gt(h, 0);
        CALL(t, e->file_close(e->ctx, 100 + (uint64_t)k, h));
        file_wait(t, i++, 100 + (uint64_t)k);
    }
    CALL(t, e->file_list(e->ctx, 200, "d"));
    static const char *const sorted[] = {"A1", "B", "_", "a", "aa", "b", "\xc3\xa9"};
    expect_names(file_wait(t, i++, 200), sorted, 7);
    tsink_free(t);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(file_errors_are_reported_as_values)
{
    struct tsink *t = tsink_new();
    const struct mr_env *e = t->env;
    guint i = 0;
    CALL(t, e->file_open(e->ctx, 1, "x", MR_FILE_READ));
    ck_assert_int_eq(file_wait(t, i++, 1)->result, MR_E_UNSUPPORTED); /* no directory set */

    struct tmpdir d;
    tmpdir_make(&d);
    ck_assert_int_eq(mr_realenv_set_file_dir(t->re, d.path, NULL, 0), 0);
    CALL(t, e->file_open(e->ctx, 2, "missing", MR_FILE_READ));
    ck_assert_int_eq(file_wait(t, i++, 2)->result, MR_E_NOT_FOUND);
    CALL(t, e->file_open(e->ctx, 3, "../escape", MR_FILE_WRITE | MR_FILE_CREATE));
    ck_assert_int_eq(file_wait(t, i++, 3)->result, MR_E_INVAL);
    CALL(t, e->file_open(e->ctx, 4, "/etc/passwd", MR_FILE_READ));
    ck_assert_int_eq(file_wait(t, i++, 4)->result, MR_E_INVAL);
    CALL(t, e->file_read(e->ctx, 5, 999, 0, 10));
    ck_assert_int_eq(file_wait(t, i++, 5)->result, MR_E_INVAL);
    CALL(t, e->file_remove(e->ctx, 6, "missing"));
    ck_assert_int_eq(file_wait(t, i++, 6)->result, MR_E_NOT_FOUND);
    CALL(t, e->file_rename(e->ctx, 7, "missing", "other"));
    ck_assert_int_eq(file_wait(t, i++, 7)->result, MR_E_NOT_FOUND);
    ck_assert_int_eq(mr_realenv_set_file_dir(t->re, "/nonexistent/dir", NULL, 0),
                     MR_E_NOT_FOUND);

    /* Completions still queued at destroy are freed (the realenv's counters check it). */
    CALL(t, e->file_list(e->ctx, 8, ""));
    tsink_free(t);
    tmpdir_remove(&d);
}
END_TEST

/* The files cases below issue many calls before running a turn, as the JetStream store
 * does, then wait for a count and check the whole completion sequence. */
static struct file_result *file_nth(struct tsink *t, guint i)
{
    return g_ptr_array_index(t->files, i);
}

static int64_t open_wait(struct tsink *t, uint64_t req_id, const char *path, int flags)
{
    guint i = t->files->len;
    CALL(t, t->env->file_open(t->env->ctx, req_id, path, flags));
    int64_t h = file_wait(t, i, req_id)->result;
    ck_assert_int_gt(h, 0);
    return h;
}

/* The file's bytes as the OS has them, read beside the env. */
static GByteArray *os_read_file(const struct tmpdir *d, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", d->path, name);
    gchar *bytes = NULL;
    gsize len = 0;
    ck_assert_msg(g_file_get_contents(path, &bytes, &len, NULL), "cannot read %s", path);
    GByteArray *a = g_byte_array_new_take((guint8 *)bytes, len);
    return a;
}

#define MANY_WRITES 2000
#define MANY_CHUNK 64

START_TEST(many_file_calls_in_flight_complete_in_request_order)
{
    struct tsink *t = tsink_new();
    struct tmpdir d;
    tmpdir_make(&d);
    ck_assert_int_eq(mr_realenv_set_file_dir(t->re, d.path, NULL, 0), 0);
    const struct mr_env *e = t->env;
    int64_t h = open_wait(t, 1, "many.blk", MR_FILE_READ | MR_FILE_WRITE | MR_FILE_CREATE);

    /* A sync goes to the I/O worker, and so does everything behind it until the loop
     * has its completion: writes, a sync, a read of everything and a close, all queued
     * before one turn. */
    CALL(t, e->file_sync(e->ctx, 99, h));
    GByteArray *want = g_byte_array_new();
    fill_pattern(want, MANY_WRITES * MANY_CHUNK);
    for (uint64_t k = 0; k < MANY_WRITES; k++) {
        CALL(t, e->file_write(e->ctx, 100 + k, h, k * MANY_CHUNK, want->data + k * MANY_CHUNK,
                              MANY_CHUNK));
    }
    uint64_t last = 100 + MANY_WRITES;
    CALL(t, e->file_sync(e->ctx, last, h));
    CALL(t, e->file_read(e->ctx, last + 1, h, 0, want->len + 100));
    CALL(t, e->file_close(e->ctx, last + 2, h));
    CALL(t, e->file_sync(e->ctx, last + 3, h)); /* the handle is gone by now */
    ck_assert_uint_eq(t->files->len, 1);        /* nothing completed inside a call */
    run_until(t, files_at_least, (void *)(uintptr_t)(MANY_WRITES + 6), 5000);
    ck_assert_uint_eq(t->files->len, MANY_WRITES + 6);
    ck_assert_uint_eq(file_nth(t, 1)->req_id, 99);
    g_ptr_array_remove_index(t->files, 1); /* the rest as without it */

    for (guint k = 0; k < MANY_WRITES; k++) {
        ck_assert_uint_eq(file_nth(t, 1 + k)->req_id, 100 + k);
        ck_assert_int_eq(file_nth(t, 1 + k)->result, MANY_CHUNK);
    }
    ck_assert_uint_eq(file_nth(t, 1 + MANY_WRITES)->req_id, last);
    ck_assert_int_eq(file_nth(t, 1 + MANY_WRITES)->result, 0);
    struct file_result *r = file_nth(t, 2 + MANY_WRITES);
    ck_assert_uint_eq(r->req_id, last + 1);
    ck_assert_int_eq(r->result, (int64_t)want->len); /* short read: the file's end */
    ck_assert_uint_eq(r->data->len, want->len);
    ck_assert_int_eq(memcmp(r->data->data, want->data, want->len), 0);
    ck_assert_uint_eq(file_nth(t, 3 + MANY_WRITES)->req_id, last + 2);
    ck_assert_int_eq(file_nth(t, 3 + MANY_WRITES)->result, 0);
    ck_assert_uint_eq(file_nth(t, 4 + MANY_WRITES)->req_id, last + 3);
    ck_assert_int_eq(file_nth(t, 4 + MANY_WRITES)->result, MR_E_INVAL);
    g_byte_array_free(want, TRUE);
    tsink_free(t);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(file_sync_completes_after_the_writes_before_it)
{
    struct tsink *t = tsink_new();
    struct tmpdir d;
    tmpdir_make(&d);
    ck_assert_int_eq(mr_realenv_set_file_dir(t->re, d.path, NULL, 0), 0);
    const struct mr_env *e = t->env;
    int64_t h = open_wait(t, 1, "s/state.json", MR_FILE_WRITE | MR_FILE_CREATE);
    GByteArray *want = g_byte_array_new();
    fill_pattern(want, 3 * 256 * 1024);
    for (uint64_t k = 0; k < 3; k++) {
        CALL(t, e->file_write(e->ctx, 10 + k, h, k * 256 * 1024, want->data + k * 256 * 1024,
                              256 * 1024));
    }
    CALL(t, e->file_sync(e->ctx, 20, h));
    run_until(t, files_at_least, (void *)(uintptr_t)5, 5000);
    /* When the sync's completion arrives, every write queued before it is in the file. */
    ck_assert_uint_eq(file_nth(t, 4)->req_id, 20);
    ck_assert_int_eq(file_nth(t, 4)->result, 0);
    GByteArray *got = os_read_file(&d, "s/state.json");
    ck_assert_uint_eq(got->len, want->len);
    ck_assert_int_eq(memcmp(got->data, want->data, want->len), 0);
    g_byte_array_free(got, TRUE);
    /* The consumer-state pattern goes on: close, then rename over the old state. */
    CALL(t, e->file_close(e->ctx, 21, h));
    CALL(t, e->file_rename(e->ctx, 22, "s/state.json", "s/state.json.done"));
    run_until(t, files_at_least, (void *)(uintptr_t)7, 5000);
    ck_assert_uint_eq(file_nth(t, 6)->req_id, 22);
    ck_assert_int_eq(file_nth(t, 6)->result, 0);
    g_byte_array_free(want, TRUE);
    tsink_free(t);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(file_write_copies_the_callers_buffer)
{
    struct tsink *t = tsink_new();
    struct tmpdir d;
    tmpdir_make(&d);
    ck_assert_int_eq(mr_realenv_set_file_dir(t->re, d.path, NULL, 0), 0);
    const struct mr_env *e = t->env;
    int64_t h = open_wait(t, 1, "copy.blk", MR_FILE_WRITE | MR_FILE_CREATE);
    /* The store hands scratch space it reuses at once; the call must not keep it, also
     * when the write waits for the worker behind a sync. */
    CALL(t, e->file_sync(e->ctx, 2, h));
    uint8_t scratch[8];
    memcpy(scratch, "original", 8);
    CALL(t, e->file_write(e->ctx, 3, h, 0, scratch, sizeof(scratch)));
    memcpy(scratch, "CLOBBER!", 8);
    CALL(t, e->file_close(e->ctx, 4, h));
    run_until(t, files_at_least, (void *)(uintptr_t)4, 2000);
    ck_assert_uint_eq(file_nth(t, 2)->req_id, 3);
    ck_assert_int_eq(file_nth(t, 2)->result, 8);
    GByteArray *got = os_read_file(&d, "copy.blk");
    ck_assert_uint_eq(got->len, 8);
    ck_assert_int_eq(memcmp(got->data, "original", 8), 0);
    g_byte_array_free(got, TRUE);
    tsink_free(t);
    tmpdir_remove(&d);
}
END_TEST

START_TEST(file_calls_past_the_queue_bound_are_refused_in_order)
{
    struct tsink *t = tsink_new();
    struct tmpdir d;
    tmpdir_make(&d);
    ck_assert_int_eq(mr_realenv_set_file_dir(t->re, d.path, NULL, 0), 0);
    const struct mr_env *e = t->env;
    int64_t h = open_wait(t, 1, "full.blk", MR_FILE_WRITE | MR_FILE_CREATE);
    /* Nothing is collected before run_until, so the sync and the writes behind it stay
     * with the worker: the sync and bound - 1 writes fill it, then calls are refused. */
    const uint64_t bound = MR_REALENV_FILE_QUEUE_MAX;
    CALL(t, e->file_sync(e->ctx, 2, h));
    for (uint64_t i = 0; i < bound + 1; i++) {
        CALL(t, e->file_write(e->ctx, 3 + i, h, i, (const uint8_t *)"x", 1));
    }
    CALL(t, e->file_remove(e->ctx, 4 + bound, "full.blk"));
    CALL(t, e->file_close(e->ctx, 5 + bound, h)); /* still runs: it frees the file */
    guint total = (guint)bound + 5;
    run_until(t, files_at_least, (void *)(uintptr_t)total, 5000);
    ck_assert_uint_eq(t->files->len, total);
    ck_assert_int_eq(file_nth(t, 1)->result, 0);
    ck_assert_int_eq(file_nth(t, (guint)bound)->result, 1); /* the last one taken */
    for (guint i = (guint)bound + 1; i < total - 1; i++) {
        ck_assert_uint_eq(file_nth(t, i)->req_id, i + 1); /* in request order */
        ck_assert_int_eq(file_nth(t, i)->result, MR_E_LIMIT);
    }
    ck_assert_uint_eq(file_nth(t, total - 1)->req_id, 5 + bound);
    ck_assert_int_eq(file_nth(t, total - 1)->result, 0);
    GByteArray *got = os_read_file(&d, "full.blk"); /* the refused remove did not run */
    ck_assert_uint_eq(got->len, bound - 1);
    g_byte_array_free(got, TRUE);
    /* Once collected, calls run again. */
    CALL(t, e->file_remove(e->ctx, 6 + bound, "full.blk"));
    run_until(t, files_at_least, (void *)(uintptr_t)(total + 1), 2000);
    ck_assert_int_eq(file_nth(t, total)->result, 0);
    tsink_free(t);
    tmpdir_remove(&d);
}
END_TEST

/* Error cases, issued back to back from id base; checks values and order (their results
 * start at index at). */
static void expect_file_errors(struct tsink *t, guint at, uint64_t base, int64_t full,
                               int64_t closed, int64_t ro)
{
    const struct mr_env *e = t->env;
    CALL(t, e->file_write(e->ctx, base, full, 0, (const uint8_t *)"x", 1));
    CALL(t, e->file_write(e->ctx, base + 1, closed, 0, (const uint8_t *)"x", 1));
    CALL(t, e->file_write(e->ctx, base + 2, ro, 0, (const uint8_t *)"x", 1)); /* EBADF */
    CALL(t, e->file_write(e->ctx, base + 3, 0, 0, (const uint8_t *)"x", 1));  /* no handle */
    CALL(t, e->file_rename(e->ctx, base + 4, "missing", "other"));
    CALL(t, e->file_read(e->ctx, base + 5, ro, 0, (size_t)MR_REALENV_FILE_READ_MAX + 1));
    CALL(t, e->file_open(e->ctx, base + 6, NULL, MR_FILE_READ));
    CALL(t, e->file_rename(e->ctx, base + 7, "ro", "../out"));
    CALL(t, e->file_read(e->ctx, base + 8, ro, 0, 10)); /* empty file: 0, no data */
    const int64_t want[] = {MR_E_LIMIT, MR_E_INVAL, MR_E_INVAL, MR_E_INVAL, MR_E_NOT_FOUND,
                            MR_E_LIMIT, MR_E_INVAL, MR_E_INVAL, 0};
    guint n = G_N_ELEMENTS(want);
    run_until(t, files_at_least, (void *)(uintptr_t)(at + n), 2000);
    for (guint k = 0; k < n; k++) {
        ck_assert_uint_eq(file_nth(t, at + k)->req_id, base + k);
        ck_assert_int_eq(file_nth(t, at + k)->result, want[k]);
    }
    ck_assert_uint_eq(file_nth(t, at + n - 1)->data->len, 0);
}

START_TEST(file_errors_keep_their_values_and_their_place)
{
    struct tsink *t = tsink_new();
    struct tmpdir d;
    tmpdir_make(&d);
    ck_assert_int_eq(mr_realenv_set_file_dir(t->re, d.path, NULL, 0), 0);
    const struct mr_env *e = t->env;
    /* ENOSPC, from /dev/full behind a link in the store directory. */
    char link[256];
    snprintf(link, sizeof(link), "%s/full", d.path);
    ck_assert_int_eq(symlink("/dev/full", link), 0);
    int64_t full = open_wait(t, 1, "full", MR_FILE_WRITE);
    int64_t h = open_wait(t, 2, "ro", MR_FILE_WRITE | MR_FILE_CREATE);
    CALL(t, e->file_close(e->ctx, 3, h));
    ck_assert_int_eq(file_wait(t, t->files->len, 3)->result, 0);
    int64_t ro = open_wait(t, 4, "ro", MR_FILE_READ);
    expect_file_errors(t, t->files->len, 10, full, h, ro); /* run inside the calls */
    guint at = t->files->len;
    CALL(t, e->file_sync(e->ctx, 19, ro));
    expect_file_errors(t, at + 1, 20, full, h, ro); /* queued behind the sync */
    ck_assert_uint_eq(file_nth(t, at)->req_id, 19);
    ck_assert_int_eq(file_nth(t, at)->result, 0);
    tsink_free(t); /* full and ro are still open: destroy closes them */
    tmpdir_remove(&d);
}
END_TEST

/* Destroy with calls still queued: they run to the end (what the core wrote reaches
 * the file), the worker is joined, and the completions nobody took are freed (the
 * realenv's and the worker's byte counters must end at zero; ASan sees the rest). */
START_TEST(file_destroy_with_calls_in_flight_drains_them)
{
    struct tsink *t = tsink_new();
    struct tmpdir d;
    tmpdir_make(&d);
    ck_assert_int_eq(mr_realenv_set_file_dir(t->re, d.path, NULL, 0), 0);
    const struct mr_env *e = t->env;
    int64_t h = open_wait(t, 1, "drain.blk", MR_FILE_READ | MR_FILE_WRITE | MR_FILE_CREATE);
    CALL(t, e->file_sync(e->ctx, 2, h)); /* what follows queues behind it */
    GByteArray *want = g_byte_array_new();
    fill_pattern(want, 64 * 64 * 1024);
    for (uint64_t k = 0; k < 64; k++) {
        CALL(t, e->file_write(e->ctx, 10 + k, h, k * 64 * 1024, want->data + k * 64 * 1024,
                              64 * 1024));
        CALL(t, e->file_read(e->ctx, 100 + k, h, 0, 4096)); /* data left undelivered */
    }
    CALL(t, e->file_sync(e->ctx, 200, h));
    CALL(t, e->file_list(e->ctx, 201, ""));
    run_turns(t, 1, 0); /* some may be delivered, most are not */
    tsink_free(t);
    GByteArray *got = os_read_file(&d, "drain.blk");
    ck_assert_uint_eq(got->len, want->len);
    ck_assert_int_eq(memcmp(got->data, want->data, want->len), 0);
    g_byte_array_free(got, TRUE);
    g_byte_array_free(want, TRUE);
    tmpdir_remove(&d);
}
END_TEST

static void fifo_open_waits_beside_the_loop(struct tsink *t, struct tmpdir *d)
{
    /* The worker is stuck in open(2) of a FIFO until a writer appears: the loop must
     * still fire timers meanwhile (before, the open ran inside the call and the
     * test would hang there). */
    uint64_t now = t->env->now_ns(t->env->ctx);
    arm(t, 7, now + 20 * MR_NS_PER_MS);
    run_until(t, timers_at_least, (void *)(uintptr_t)1, 2000);
    ck_assert_uint_le(t->files->len, 2); /* the open and what follows it wait */
    char path[256];
    snprintf(path, sizeof(path), "%s/fifo", d->path);
    int w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC); /* a reader waits: succeeds */
    ck_assert_int_ge(w, 0);
    run_until(t, files_at_least, (void *)(uintptr_t)4, 2000);
    close(w);
}

START_TEST(a_blocked_file_call_does_not_stall_the_loop)
{
    struct tsink *t = tsink_new();
    struct tmpdir d;
    tmpdir_make(&d);
    ck_assert_int_eq(mr_realenv_set_file_dir(t->re, d.path, NULL, 0), 0);
    char path[256];
    snprintf(path, sizeof(path), "%s/fifo", d.path);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    const struct mr_env *e = t->env;
    int64_t h = open_wait(t, 1, "f", MR_FILE_WRITE | MR_FILE_CREATE);
    CALL(t, e->file_sync(e->ctx, 2, h));                  /* to the worker ... */
    CALL(t, e->file_open(e->ctx, 3, "fifo", MR_FILE_READ)); /* ... and so behind it */
    CALL(t, e->file_list(e->ctx, 4, ""));                 /* queued behind the stuck open */
    fifo_open_waits_beside_the_loop(t, &d);
    ck_assert_uint_eq(file_nth(t, 1)->req_id, 2);
    ck_assert_uint_eq(file_nth(t, 2)->req_id, 3);
    ck_assert_int_gt(file_nth(t, 2)->result, 0);
    ck_assert_uint_eq(file_nth(t, 3)->req_id, 4);
    ck_assert_int_eq(file_nth(t, 3)->result, 2);
    tsink_free(t);
    tmpdir_remove(&d);
}
END_TEST

/* ----------------------------------------------------------------------------------
 * Clocks, randomness, logging, the run loop
 * ---------------------------------------------------------------------------------- */

START_TEST(clocks_and_random_work)
{
    struct tsink *t = tsink_new();
    const struct mr_env *e = t->env;
    uint64_t a = e->now_ns(e->ctx);
    uint64_t b = e->now_ns(e->ctx);
    ck_assert_uint_le(a, b);
    int64_t wall = e->wall_ns(e->ctx);
    ck_assert_int_gt(wall, (int64_t)1600000000 * (int64_t)MR_NS_PER_SEC);
    uint8_t r1[32] = {0};
    uint8_t r2[32] = {0};
    e->random(e->ctx, r1, sizeof(r1));
    e->random(e->ctx, r2, sizeof(r2));
    ck_assert_int_ne(memcmp(r1, r2, sizeof(r1)), 0);
    tsink_free(t);
}
END_TEST

START_TEST(log_lines_use_nats_server_format_and_filter_levels)
{
    struct tsink *t = tsink_new();
    struct tmpdir d;
    tmpdir_make(&d);
    char path[128];
    snprintf(path, sizeof(path), "%s/server.log", d.path);
    ck_assert_int_eq(mr_realenv_set_log_file(t->re, path, NULL, 0), 0);
    const struct mr_env *e = t->env;
    e->log(e->ctx, MR_LOG_INFO, "server", "Server is ready");
    e->log(e->ctx, MR_LOG_DEBUG, "server", "hidden debug");
    e->log(e->ctx, MR_LOG_TRACE, "server", "hidden trace");
    e->log(e->ctx, MR_LOG_WARN, "server", "a warning");
    mr_realenv_set_log_levels(t->re, false, true); /* -V alone: trace, no debug */
    e->log(e->ctx, MR_LOG_DEBUG, "server", "hidden debug 2");
    e->log(e->ctx, MR_LOG_TRACE, "server", "<<- [PING]");
    mr_realenv_set_log_levels(t->re, true, false);
    e->log(e->ctx, MR_LOG_DEBUG, "server", "shown debug");
    e->log(e->ctx, MR_LOG_ERROR, "server", "an error");
    mr_realenv_set_log_time(t->re, false);
    mr_realenv_log_fatal(t->re, "the end");

    gchar *text = NULL;
    ck_assert(g_file_get_contents(path, &text, NULL, NULL));
    gchar **lines = g_strsplit(text, "\n", -1);
    ck_assert_uint_eq(g_strv_length(lines), 7); /* six lines and the empty tail */
    char pid[32];
    snprintf(pid, sizeof(pid), "[%d] ", (int)getpid());
    static const char *const want[] = {"[INF] Server is ready", "[WRN] a warning",
                                       "[TRC] <<- [PING]", "[DBG] shown debug",
                                       "[ERR] an error"};
    for (int i = 0; i < 5; i++) {
        ck_assert(g_str_has_prefix(lines[i], pid));
        ck_assert(g_regex_match_simple("^\\[[0-9]+\\] [0-9]{4}/[0-9]{2}/[0-9]{2} "
                                       "[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6} \\[[A-Z]{3}\\] ",
                                       lines[i], 0, 0));
        ck_assert(g_str_has_suffix(lines[i], want[i]));
    }
    char fatal[64];
    snprintf(fatal, sizeof(fatal), "[%d] [FTL] the end", (int)getpid());
    ck_assert_str_eq(lines[5], fatal);
    g_strfreev(lines);
    g_free(text);
    tsink_free(t);
    tmpdir_remove(&d);
}
END_TEST

static void stop_on_timer(void *ctx, uint64_t timer_id)
{
    struct tsink *t = ctx;
    g_array_append_val(t->timers_fired, timer_id);
    mr_realenv_stop(t->re);
}

START_TEST(run_returns_after_stop)
{
    struct tsink *t = tsink_new();
    t->sink.on_timer = stop_on_timer;
    arm(t, 1, t->env->now_ns(t->env->ctx) + 5 * MR_NS_PER_MS);
    ck_assert_int_eq(mr_realenv_run(t->re), 0);
    ck_assert_uint_eq(t->timers_fired->len, 1);
    ck_assert_int_eq(mr_realenv_signal(t->re), 0);
    tsink_free(t);
}
END_TEST

/* ----------------------------------------------------------------------------------
 * TLS
 * ---------------------------------------------------------------------------------- */

/* Made by certs_setup in the parent process; the forked tests read them. */
static char cert_dir[64];

static void cert_path(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", cert_dir, name);
}

/* A CA; a server certificate for 127.0.0.1 and localhost; a client certificate from
 * the CA; a client certificate from another CA; a file that is no PEM at all. */
static void certs_setup(void)
{
    g_strlcpy(cert_dir, "/tmp/test_realenv_tls_XXXXXX", sizeof(cert_dir));
    ck_assert_ptr_nonnull(mkdtemp(cert_dir));
    static const char script[] =
        "set -e; cd '%s'; exec 2>openssl.log; "
        "K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2'; "
        "openssl req -x509 $K -keyout ca-key.pem -out ca.pem -subj '/CN=Test CA' "
        "  -addext basicConstraints=critical,CA:TRUE "
        "  -addext keyUsage=critical,keyCertSign,cRLSign; "
        "openssl req -x509 $K -keyout other-ca-key.pem -out other-ca.pem -subj '/CN=Other' "
        "  -addext basicConstraints=critical,CA:TRUE "
        "  -addext keyUsage=critical,keyCertSign,cRLSign; "
        "openssl req -x509 $K -keyout server-key.pem -out server.pem -subj '/CN=localhost' "
        "  -CA ca.pem -CAkey ca-key.pem -addext basicConstraints=CA:FALSE "
        "  -addext subjectAltName=IP:127.0.0.1,DNS:localhost "
        "  -addext extendedKeyUsage=serverAuth; "
        "openssl req -x509 $K -keyout client-key.pem -out client.pem "
        "  -subj '/O=Meridian/CN=client' -CA ca.pem -CAkey ca-key.pem "
        "  -addext basicConstraints=CA:FALSE -addext extendedKeyUsage=clientAuth; "
        "openssl req -x509 $K -keyout route-key.pem -out route.pem "
        "  -subj '/O=Meridian/CN=route' -CA ca.pem -CAkey ca-key.pem "
        "  -addext basicConstraints=CA:FALSE "
        "  -addext subjectAltName=IP:127.0.0.1,DNS:localhost "
        "  -addext extendedKeyUsage=serverAuth,clientAuth; "
        "openssl req -x509 $K -keyout rogue-key.pem -out rogue.pem -subj '/CN=rogue' "
        "  -CA other-ca.pem -CAkey other-ca-key.pem "
        "  -addext basicConstraints=CA:FALSE -addext extendedKeyUsage=clientAuth; "
        "echo 'not a certificate' > garbage.pem";
    char cmd[4096];
    int n = snprintf(cmd, sizeof(cmd), script, cert_dir);
    ck_assert_int_lt(n, (int)sizeof(cmd));
    int rc = system(cmd);
    ck_assert_msg(rc == 0, "openssl could not make the test certificates (see %s/openssl.log)",
                  cert_dir);
}

static void certs_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cert_dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Server options: the test server certificate; a CA and verify when asked. */
static struct mr_tls_opts server_opts(bool verify)
{
    struct mr_tls_opts o;
    memset(&o, 0, sizeof(o));
    o.enabled = true;
    cert_path(o.cert_file, sizeof(o.cert_file), "server.pem");
    cert_path(o.key_file, sizeof(o.key_file), "server-key.pem");
    if (verify) {
        cert_path(o.ca_file, sizeof(o.ca_file), "ca.pem");
        o.verify = true;
    }
    return o;
}

static void tls_configure_ok(struct tsink *t, uint64_t tls_id, const struct mr_tls_opts *o)
{
    char err[MR_ERRMSG_MAX] = "";
    int rc;
    CALL(t, rc = t->env->tls_configure(t->env->ctx, tls_id, o, err, sizeof(err)));
    ck_assert_msg(rc == 0, "tls_configure: %d %s", rc, err);
}

/* A TLS server on 127.0.0.1 whose on_accept starts TLS the way mode says (see tsink). */
static uint16_t tls_server(struct tsink *t, bool verify, int mode)
{
    struct mr_tls_opts o = server_opts(verify);
    tls_configure_ok(t, 1, &o);
    t->tls_on_accept = mode;
    t->tls_id = 1;
    return listen_any(t, 1);
}

/* The client side: an OpenSSL client on a non-blocking socket that verifies the server
 * against the test CA (and its 127.0.0.1 address), with a client certificate if named. */
struct tpeer {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
};

static void tpeer_open(struct tpeer *p, uint16_t port, const char *cert_name)
{
    p->fd = peer_connect(port);
    ck_assert_int_eq(fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK), 0);
    p->ctx = SSL_CTX_new(TLS_client_method());
    ck_assert_ptr_nonnull(p->ctx);
    char path[128];
    cert_path(path, sizeof(path), "ca.pem");
    ck_assert_int_eq(SSL_CTX_load_verify_locations(p->ctx, path, NULL), 1);
    SSL_CTX_set_verify(p->ctx, SSL_VERIFY_PEER, NULL);
    if (cert_name != NULL) {
        char key[128];
        snprintf(path, sizeof(path), "%s/%s.pem", cert_dir, cert_name);
        snprintf(key, sizeof(key), "%s/%s-key.pem", cert_dir, cert_name);
        ck_assert_int_eq(SSL_CTX_use_certificate_chain_file(p->ctx, path), 1);
        ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(p->ctx, key, SSL_FILETYPE_PEM), 1);
    }
    p->ssl = SSL_new(p->ctx);
    ck_assert_ptr_nonnull(p->ssl);
    ck_assert_int_eq(SSL_set_fd(p->ssl, p->fd), 1);
    ck_assert_int_eq(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(p->ssl), "127.0.0.1"), 1);
    SSL_set_connect_state(p->ssl);
}

static void tpeer_close(struct tpeer *p)
{
    SSL_free(p->ssl);
    SSL_CTX_free(p->ctx);
    close(p->fd);
    ERR_clear_error();
}

/* Runs the client handshake alongside the loop. Returns true when the client side is
 * done (in TLS 1.3 that is before the server has checked the client's certificate). */
static bool tpeer_handshake(struct tsink *t, struct tpeer *p)
{
    uint64_t end = mono_ms() + 3000;
    for (;;) {
        ERR_clear_error();
        int rc = SSL_connect(p->ssl);
        if (rc == 1) {
            return true;
        }
        int e = SSL_get_error(p->ssl, rc);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            ERR_clear_error();
            return false;
        }
        ck_assert_msg(mono_ms() < end, "client handshake not done within 3 s");
        run_turns(t, 1, 1);
    }
}

/* Reads decrypted bytes until into holds want bytes (true) or the stream ends (false:
 * close_notify, EOF, an alert). */
static bool tpeer_read(struct tsink *t, struct tpeer *p, GByteArray *into, size_t want)
{
    uint64_t end = mono_ms() + 20000;
    uint8_t buf[64 * 1024];
    while (into->len < want) {
        size_t n = 0;
        ERR_clear_error();
        if (SSL_read_ex(p->ssl, buf, sizeof(buf), &n) == 1) {
            g_byte_array_append(into, buf, (guint)n);
            continue;
        }
        int e = SSL_get_error(p->ssl, 0);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            ERR_clear_error();
            return false;
        }
        ck_assert_msg(mono_ms() < end, "only %u of %zu bytes within 20 s", into->len, want);
        run_turns(t, 1, 1);
    }
    return true;
}

/* Writes everything, running the loop while the socket is full. */
static void tpeer_write(struct tsink *t, struct tpeer *p, const void *buf, size_t len,
                        size_t record)
{
    uint64_t end = mono_ms() + 20000;
    size_t done = 0;
    while (done < len) {
        size_t n = len - done < record ? len - done : record;
        size_t w = 0;
        ERR_clear_error();
        if (SSL_write_ex(p->ssl, (const uint8_t *)buf + done, n, &w) == 1) {
            done += w;
            continue;
        }
        int e = SSL_get_error(p->ssl, 0);
        ck_assert_msg(e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ,
                      "client SSL_write failed (%d)", e);
        ck_assert_msg(mono_ms() < end, "only %zu of %zu bytes written within 20 s", done, len);
        run_turns(t, 1, 1);
    }
}

/* Reads the plaintext line the server sends before TLS; stops at its end, so no
 * handshake byte is taken (the server sends none before the client's hello). */
static void read_plain_line(struct tsink *t, int fd, GByteArray *into)
{
    uint64_t end = mono_ms() + 2000;
    while (into->len == 0 || into->data[into->len - 1] != '\n') {
        ck_assert_msg(mono_ms() < end, "no plaintext line within 2 s");
        uint8_t b;
        ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT);
        if (n == 1) {
            g_byte_array_append(into, &b, 1);
            continue;
        }
        ck_assert_int_ne(n, 0);
        run_turns(t, 1, 1);
    }
}

static bool tls_reported(struct tsink *t, void *arg)
{
    struct tconn *c = arg;
    return c->tls_count > 0;
}

static bool conn_in_at_least(struct tsink *t, void *arg)
{
    struct tconn *c = g_ptr_array_index(t->accepted, 0);
    return c->in->len >= (guint)(uintptr_t)arg;
}

static struct tconn *first_accepted(struct tsink *t)
{
    run_until(t, accepted_at_least, (void *)(uintptr_t)1, 2000);
    return g_ptr_array_index(t->accepted, 0);
}

START_TEST(tls_info_goes_in_plaintext_then_bytes_flow_encrypted)
{
    struct tsink *t = tsink_new();
    uint16_t port = tls_server(t, false, 1);
    struct tpeer p;
    tpeer_open(&p, port, NULL);
    struct tconn *c = first_accepted(t);
    GByteArray *line = g_byte_array_new();
    read_plain_line(t, p.fd, line);
    ck_assert_uint_eq(line->len, 9);
    ck_assert_int_eq(memcmp(line->data, "INFO {}\r\n", 9), 0);
    ck_assert_int_eq(c->tls_count, 0);

    ck_assert(tpeer_handshake(t, &p));
    /* Sent right behind the client's Finished: it must still come after on_tls. */
    c->pong_on_bytes = 1;
    tpeer_write(t, &p, "PING\r\n", 6, 6);
    run_until(t, conn_in_at_least, (void *)(uintptr_t)6, 2000);
    ck_assert_int_eq(c->tls_count, 1);
    ck_assert_int_eq(c->tls_status, 0);
    ck_assert(c->tls_subject_null); /* no client certificate asked for */
    ck_assert_uint_eq(c->in_at_tls, 0);
    ck_assert_int_eq(memcmp(c->in->data, "PING\r\n", 6), 0);
    GByteArray *got = g_byte_array_new();
    ck_assert(tpeer_read(t, &p, got, 6));
    ck_assert_int_eq(memcmp(got->data, "PONG\r\n", 6), 0);

    /* stream_close flushes through TLS, then sends close_notify. */
    c->pong_on_bytes = 0;
    g_byte_array_append(c->out, (const uint8_t *)"bye\r\n", 5);
    CALL(t, t->env->stream_want_write(t->env->ctx, c->id));
    CALL(t, t->env->stream_close(t->env->ctx, c->id));
    run_until(t, conn_closed, c, 2000);
    g_byte_array_set_size(got, 0);
    ck_assert(!tpeer_read(t, &p, got, 100));
    ck_assert_uint_eq(got->len, 5);
    ck_assert_int_eq(SSL_get_error(p.ssl, 0), SSL_ERROR_ZERO_RETURN);
    struct mr_realenv_stats st;
    mr_realenv_stats(t->re, &st);
    ck_assert_uint_eq(st.tls_handshakes, 1);
    ck_assert_uint_eq(st.tls_failures, 0);
    g_byte_array_free(got, TRUE);
    g_byte_array_free(line, TRUE);
    tpeer_close(&p);
    tsink_free(t);
}
END_TEST

START_TEST(tls_handshake_first_starts_with_nothing_pending)
{
    struct tsink *t = tsink_new();
    uint16_t port = tls_server(t, false, 2);
    struct tpeer p;
    tpeer_open(&p, port, NULL);
    struct tconn *c = first_accepted(t);
    ck_assert(tpeer_handshake(t, &p));
    GByteArray *got = g_byte_array_new();
    ck_assert(tpeer_read(t, &p, got, 9)); /* the INFO queued in on_tls, encrypted */
    ck_assert_int_eq(memcmp(got->data, "INFO {}\r\n", 9), 0);
    ck_assert_int_eq(c->tls_count, 1);
    /* The peer leaving without close_notify is an EOF, like a plaintext close. */
    tpeer_write(t, &p, "PUB a 1\r\nx\r\n", 12, 12);
    tpeer_close(&p);
    run_until(t, conn_closed, c, 2000);
    ck_assert_uint_eq(c->in->len, 12);
    run_turns(t, 2, 1);
    ck_assert_int_eq(c->closed, 1);
    g_byte_array_free(got, TRUE);
    tsink_free(t);
}
END_TEST

START_TEST(tls_large_transfers_both_ways)
{
    enum { TOTAL = 4 * 1024 * 1024 };
    struct tsink *t = tsink_new();
    uint16_t port = tls_server(t, false, 2);
    struct tpeer p;
    tpeer_open(&p, port, NULL);
    struct tconn *c = first_accepted(t);
    ck_assert(tpeer_handshake(t, &p));
    GByteArray *got = g_byte_array_new();
    ck_assert(tpeer_read(t, &p, got, 9)); /* the INFO */
    ck_assert_uint_eq(c->out_off, 9);

    /* Server to client: 16 KiB views, coalesced into records. */
    g_byte_array_set_size(c->out, 0);
    c->out_off = 0;
    fill_pattern(c->out, TOTAL);
    CALL(t, t->env->stream_want_write(t->env->ctx, c->id));
    g_byte_array_set_size(got, 0);
    ck_assert(tpeer_read(t, &p, got, TOTAL));
    ck_assert_uint_eq(got->len, TOTAL);
    ck_assert_int_eq(memcmp(got->data, c->out->data, TOTAL), 0);
    ck_assert_uint_eq(c->out_off, TOTAL);

    /* Client to server, in records of odd sizes. */
    tpeer_write(t, &p, got->data, TOTAL, 10000);
    run_until(t, conn_in_at_least, (void *)(uintptr_t)TOTAL, 20000);
    ck_assert_uint_eq(c->in->len, TOTAL);
    ck_assert_int_eq(memcmp(c->in->data, got->data, TOTAL), 0);
    ck_assert_int_eq(c->closed, 0);
    g_byte_array_free(got, TRUE);
    tpeer_close(&p);
    tsink_free(t);
}
END_TEST

/* Reading is paused inside on_bytes when the read buffer filled up in the middle of a
 * record: the rest of that record sits in OpenSSL, not in the socket, so only the
 * realenv's own bookkeeping can hand it over when reading resumes. */
START_TEST(tls_bytes_held_by_openssl_arrive_after_resume)
{
    enum { RECORD = 10000, RECORDS = MR_REALENV_READ_BYTES / RECORD + 1 };
    enum { TOTAL = RECORD * RECORDS };
    _Static_assert(MR_REALENV_READ_BYTES % RECORD != 0, "the buffer ends mid-record");
    struct tsink *t = tsink_new();
    uint16_t port = tls_server(t, false, 2);
    struct tpeer p;
    tpeer_open(&p, port, NULL);
    struct tconn *c = first_accepted(t);
    ck_assert(tpeer_handshake(t, &p));
    run_until(t, tls_reported, c, 2000);
    c->pause_on_bytes = 1;
    GByteArray *data = g_byte_array_new();
    fill_pattern(data, TOTAL);
    tpeer_write(t, &p, data->data, TOTAL, RECORD);
    run_until(t, conn_in_at_least, (void *)(uintptr_t)1, 2000);
    run_turns(t, 20, 2);
    ck_assert_uint_eq(c->in->len, MR_REALENV_READ_BYTES);
    CALL(t, t->env->stream_read_enable(t->env->ctx, c->id, 1));
    run_until(t, conn_in_at_least, (void *)(uintptr_t)TOTAL, 2000);
    ck_assert_int_eq(memcmp(c->in->data, data->data, TOTAL), 0);
    g_byte_array_free(data, TRUE);
    tpeer_close(&p);
    tsink_free(t);
}
END_TEST

/* Runs a handshake with the given client certificate against a verifying server and
 * returns the server's record of the connection once its outcome is known. */
static struct tconn *verify_with(struct tsink *t, struct tpeer *p, const char *cert_name)
{
    uint16_t port = tls_server(t, true, 2);
    tpeer_open(p, port, cert_name);
    struct tconn *c = first_accepted(t);
    bool client_done = tpeer_handshake(t, p);
    if (client_done) {
        /* TLS 1.3: the server judges the client's certificate after the client is
         * done; a refusal arrives as an alert on the first read. */
        GByteArray *got = g_byte_array_new();
        tpeer_write(t, p, "PING\r\n", 6, 6);
        (void)tpeer_read(t, p, got, 1); /* reads nothing; the stream ends or stays */
        g_byte_array_free(got, TRUE);
    }
    run_until(t, tls_reported, c, 3000);
    return c;
}

static bool tpeer_read_fails(struct tsink *t, struct tpeer *p)
{
    GByteArray *got = g_byte_array_new();
    bool ok = tpeer_read(t, p, got, 1);
    g_byte_array_free(got, TRUE);
    return !ok;
}

START_TEST(tls_verify_refuses_a_client_without_certificate)
{
    struct tsink *t = tsink_new();
    uint16_t port = tls_server(t, true, 1);
    struct tpeer p;
    tpeer_open(&p, port, NULL);
    struct tconn *c = first_accepted(t);
    GByteArray *line = g_byte_array_new();
    read_plain_line(t, p.fd, line);
    if (tpeer_handshake(t, &p)) {
        tpeer_write(t, &p, "PING\r\n", 6, 6);
        ck_assert(tpeer_read_fails(t, &p)); /* TLS 1.3: the alert comes now */
    }
    run_until(t, conn_closed, c, 3000);
    ck_assert_int_eq(c->tls_count, 1);
    ck_assert_int_eq(c->tls_status, MR_E_IO);
    ck_assert_int_eq(c->tls_before_close, 1);
    ck_assert_uint_eq(c->in->len, 0);
    struct mr_realenv_stats st;
    mr_realenv_stats(t->re, &st);
    ck_assert_uint_eq(st.tls_failures, 1);
    ck_assert_uint_eq(st.tls_handshakes, 0);
    g_byte_array_free(line, TRUE);
    tpeer_close(&p);
    tsink_free(t);
}
END_TEST

START_TEST(tls_verify_accepts_a_client_certificate_and_reports_its_subject)
{
    struct tsink *t = tsink_new();
    struct tpeer p;
    struct tconn *c = verify_with(t, &p, "client");
    ck_assert_int_eq(c->tls_status, 0);
    ck_assert(!c->tls_subject_null);
    ck_assert_str_eq(c->tls_subject, "CN=client,O=Meridian");
    run_until(t, conn_in_at_least, (void *)(uintptr_t)6, 2000);
    ck_assert_int_eq(memcmp(c->in->data, "PING\r\n", 6), 0);
    ck_assert_int_eq(c->closed, 0);
    tpeer_close(&p);
    tsink_free(t);
}
END_TEST

START_TEST(tls_verify_refuses_a_certificate_from_another_ca)
{
    struct tsink *t = tsink_new();
    struct tpeer p;
    struct tconn *c = verify_with(t, &p, "rogue");
    ck_assert_int_eq(c->tls_status, MR_E_IO);
    run_until(t, conn_closed, c, 2000);
    ck_assert_int_eq(c->tls_before_close, 1);
    ck_assert_uint_eq(c->in->len, 0);
    tpeer_close(&p);
    tsink_free(t);
}
END_TEST

/* tls_configure with one field replaced must fail naming the file and why. */
static void expect_configure_error(struct tsink *t, struct mr_tls_opts *o, const char *file,
                                   const char *reason)
{
    char err[MR_ERRMSG_MAX] = "";
    int rc;
    CALL(t, rc = t->env->tls_configure(t->env->ctx, 9, o, err, sizeof(err)));
    ck_assert_int_eq(rc, MR_E_INVAL);
    ck_assert_msg(strstr(err, file) != NULL, "error \"%s\" does not name %s", err, file);
    ck_assert_msg(strstr(err, reason) != NULL, "error \"%s\" does not say \"%s\"", err,
                  reason);
}

START_TEST(tls_configure_errors_name_the_file_and_the_reason)
{
    struct tsink *t = tsink_new();
    char garbage[128];
    char missing[128];
    cert_path(garbage, sizeof(garbage), "garbage.pem");
    cert_path(missing, sizeof(missing), "missing.pem");

    struct mr_tls_opts o = server_opts(true);
    g_strlcpy(o.cert_file, missing, sizeof(o.cert_file));
    expect_configure_error(t, &o, missing, "No such file or directory");
    o = server_opts(true);
    g_strlcpy(o.cert_file, garbage, sizeof(o.cert_file));
    expect_configure_error(t, &o, garbage, "certificate file");
    o = server_opts(true);
    g_strlcpy(o.key_file, garbage, sizeof(o.key_file));
    expect_configure_error(t, &o, garbage, "key file");
    o = server_opts(true);
    cert_path(o.key_file, sizeof(o.key_file), "client-key.pem");
    expect_configure_error(t, &o, "client-key.pem", "mismatch");
    o = server_opts(true);
    g_strlcpy(o.ca_file, missing, sizeof(o.ca_file));
    expect_configure_error(t, &o, missing, "No such file or directory");
    o = server_opts(true);
    g_strlcpy(o.ca_file, garbage, sizeof(o.ca_file));
    expect_configure_error(t, &o, garbage, "CA file");
    o = server_opts(false);
    o.cert_file[0] = '\0';
    expect_configure_error(t, &o, "certificate file", "not set");
    o = server_opts(false);
    o.key_file[0] = '\0';
    expect_configure_error(t, &o, "key file", "not set");

    /* A good configuration works, can be replaced, and can be dropped again. */
    o = server_opts(true);
    tls_configure_ok(t, 9, &o);
    o = server_opts(false);
    tls_configure_ok(t, 9, &o);
    o.enabled = false;
    tls_configure_ok(t, 9, &o);
    tsink_free(t);
}
END_TEST

START_TEST(tls_start_with_unknown_context_fails_later)
{
    struct tsink *t = tsink_new();
    t->tls_on_accept = 1;
    t->tls_id = 42; /* never configured */
    uint16_t port = listen_any(t, 1);
    int fd;
    struct tconn *c = accept_one(t, port, &fd);
    run_until(t, conn_closed, c, 2000);
    ck_assert_int_eq(c->tls_count, 1);
    ck_assert_int_eq(c->tls_status, MR_E_INVAL);
    ck_assert_int_eq(c->tls_before_close, 1);
    close(fd);
    tsink_free(t);
}
END_TEST

START_TEST(tls_handshake_timeout_closes)
{
    struct tsink *t = tsink_new();
    struct mr_tls_opts o = server_opts(false);
    o.timeout_ns = 150 * MR_NS_PER_MS;
    tls_configure_ok(t, 1, &o);
    t->tls_on_accept = 1;
    t->tls_id = 1;
    uint16_t port = listen_any(t, 1);
    int fd;
    uint64_t start = mono_ms();
    struct tconn *c = accept_one(t, port, &fd);
    GByteArray *line = g_byte_array_new();
    read_plain_line(t, fd, line); /* then silence: no ClientHello */
    run_until(t, conn_closed, c, 3000);
    uint64_t took = mono_ms() - start;
    ck_assert_uint_ge(took, 150);
    ck_assert_uint_lt(took, 2000);
    ck_assert_int_eq(c->tls_count, 1);
    ck_assert_int_eq(c->tls_status, MR_E_TIMEOUT);
    ck_assert_int_eq(c->tls_before_close, 1);
    uint64_t end = mono_ms() + 2000;
    ssize_t n;
    while ((n = peer_recv_nb(fd, line, 64)) != 0) {
        ck_assert(mono_ms() < end); /* the peer sees the close */
        ck_assert(n < 0 || n > 0);
    }
    g_byte_array_free(line, TRUE);
    close(fd);
    tsink_free(t);
}
END_TEST

/* Sends the ClientHello and lets the server answer it, so the server is mid-handshake. */
static struct tconn *start_handshake(struct tsink *t, struct tpeer *p)
{
    uint16_t port = tls_server(t, false, 2);
    tpeer_open(p, port, NULL);
    struct tconn *c = first_accepted(t);
    ERR_clear_error();
    ck_assert_int_eq(SSL_connect(p->ssl), -1);
    ck_assert_int_eq(SSL_get_error(p->ssl, -1), SSL_ERROR_WANT_READ);
    run_turns(t, 5, 2);
    ck_assert_int_eq(c->tls_count, 0);
    ck_assert_int_eq(c->closed, 0);
    return c;
}

START_TEST(tls_close_by_core_mid_handshake_gives_on_closed_only)
{
    struct tsink *t = tsink_new();
    struct tpeer p;
    struct tconn *c = start_handshake(t, &p);
    CALL(t, t->env->stream_close(t->env->ctx, c->id));
    run_until(t, conn_closed, c, 2000);
    run_turns(t, 3, 1);
    ck_assert_int_eq(c->closed, 1);
    ck_assert_int_eq(c->tls_count, 0);
    /* A TLS 1.3 client may finish on the server's first flight alone; either way the
     * stream is gone. */
    if (tpeer_handshake(t, &p)) {
        ck_assert(tpeer_read_fails(t, &p));
    }
    struct mr_realenv_stats st;
    mr_realenv_stats(t->re, &st);
    ck_assert_uint_eq(st.conns_open, 0);
    tpeer_close(&p);
    tsink_free(t);
}
END_TEST

START_TEST(tls_peer_gone_mid_handshake_gives_on_tls_then_on_closed)
{
    struct tsink *t = tsink_new();
    struct tpeer p;
    struct tconn *c = start_handshake(t, &p);
    tpeer_close(&p);
    run_until(t, conn_closed, c, 2000);
    ck_assert_int_eq(c->tls_count, 1);
    ck_assert_int_lt(c->tls_status, 0);
    ck_assert_int_eq(c->tls_before_close, 1);
    tsink_free(t);
}
END_TEST

START_TEST(tls_plaintext_client_is_closed_without_bytes)
{
    struct tsink *t = tsink_new();
    uint16_t port = tls_server(t, false, 1);
    int fd;
    struct tconn *c = accept_one(t, port, &fd);
    GByteArray *line = g_byte_array_new();
    read_plain_line(t, fd, line);
    peer_send(fd, "CONNECT {}\r\nPING\r\n", 18);
    run_until(t, conn_closed, c, 2000);
    ck_assert_int_eq(c->tls_count, 1);
    ck_assert_int_eq(c->tls_status, MR_E_IO);
    ck_assert_uint_eq(c->in->len, 0);
    g_byte_array_free(line, TRUE);
    close(fd);
    tsink_free(t);
}
END_TEST

/* ----------------------------------------------------------------------------------
 * TLS, client side (stream_start_tls_client)
 * ---------------------------------------------------------------------------------- */

/* Client options: trust ca_name (a file in cert_dir), present cert_name ("x" names x.pem
 * and x-key.pem) when not NULL. */
static struct mr_tls_opts client_opts(const char *ca_name, const char *cert_name)
{
    struct mr_tls_opts o;
    memset(&o, 0, sizeof(o));
    o.enabled = true;
    cert_path(o.ca_file, sizeof(o.ca_file), ca_name);
    if (cert_name != NULL) {
        snprintf(o.cert_file, sizeof(o.cert_file), "%s/%s.pem", cert_dir, cert_name);
        snprintf(o.key_file, sizeof(o.key_file), "%s/%s-key.pem", cert_dir, cert_name);
    }
    return o;
}

/* Opens an outbound stream to port and waits until it is up. */
static struct tconn *dial(struct tsink *t, uint16_t port)
{
    uint64_t id = 0;
    int rc;
    CALL(t, rc = t->env->connect(t->env->ctx, "127.0.0.1", port, &id));
    ck_assert_int_eq(rc, 0);
    struct tconn *c = tconn_get(t, id);
    run_until(t, conn_connected, c, 2000);
    ck_assert_int_eq(c->connected_status, 0);
    return c;
}

static void start_client(struct tsink *t, struct tconn *c, uint64_t tls_id, const char *name)
{
    c->tls_started = 1;
    CALL(t, t->env->stream_start_tls_client(t->env->ctx, c->id, tls_id, name));
}

/* Sends the realenv's log to a file named after the test, to look for reasons in. */
static void log_to_file(struct tsink *t, const char *name, char *path, size_t path_len)
{
    snprintf(path, path_len, "%s/%s.log", cert_dir, name);
    char err[MR_ERRMSG_MAX] = "";
    ck_assert_msg(mr_realenv_set_log_file(t->re, path, err, sizeof(err)) == 0, "%s", err);
}

static void assert_log_has(const char *path, const char *needle)
{
    gchar *text = NULL;
    ck_assert(g_file_get_contents(path, &text, NULL, NULL));
    ck_assert_msg(strstr(text, needle) != NULL, "log lacks \"%s\":\n%s", needle, text);
    g_free(text);
}

static bool in_len_at_least(struct tconn *c, size_t n)
{
    return c->in->len >= n;
}

/* Runs turns until c has received n bytes. */
static void run_until_in(struct tsink *t, struct tconn *c, size_t n, uint64_t bound_ms)
{
    uint64_t end = mono_ms() + bound_ms;
    while (!in_len_at_least(c, n)) {
        ck_assert_msg(mono_ms() < end, "%u of %zu bytes within %llu ms", c->in->len, n,
                      (unsigned long long)bound_ms);
        run_turns(t, 1, 5);
    }
}

/* The route order: the server's INFO in plaintext, the client upgrades inside on_bytes,
 * then both directions carry TLS records that the other side of the same loop decrypts
 * (a plaintext byte would fail its SSL_read). */
START_TEST(tls_client_reads_plain_info_then_upgrades_and_bytes_flow_both_ways)
{
    enum { TOTAL = 1024 * 1024 };
    struct tsink *t = tsink_new();
    uint16_t port = tls_server(t, false, 1);
    struct mr_tls_opts o = client_opts("ca.pem", NULL);
    tls_configure_ok(t, 2, &o);
    uint64_t id = 0;
    CALL(t, t->env->connect(t->env->ctx, "127.0.0.1", port, &id));
    struct tconn *out = tconn_get(t, id);
    out->client_tls_id = 2;
    struct tconn *in = first_accepted(t);
    run_until(t, tls_reported, out, 3000);
    run_until(t, tls_reported, in, 3000);
    ck_assert_uint_eq(out->in_at_tls, 9); /* the INFO, read before the upgrade */
    ck_assert_int_eq(memcmp(out->in->data, "INFO {}\r\n", 9), 0);
    ck_assert_int_eq(out->tls_status, 0);
    ck_assert(!out->tls_subject_null);
    ck_assert_str_eq(out->tls_subject, "CN=localhost"); /* the verified server's */
    ck_assert_int_eq(in->tls_status, 0);
    ck_assert(in->tls_subject_null); /* the server asked for no client certificate */

    in->pong_on_bytes = 1;
    g_byte_array_append(out->out, (const uint8_t *)"PING\r\n", 6);
    CALL(t, t->env->stream_want_write(t->env->ctx, out->id));
    run_until_in(t, out, 9 + 6, 2000);
    ck_assert_int_eq(memcmp(in->in->data, "PING\r\n", 6), 0);
    ck_assert_int_eq(memcmp(out->in->data + 9, "PONG\r\n", 6), 0);
    in->pong_on_bytes = 0;

    /* Large both ways at once: many records, partial writes, reads over several turns. */
    size_t out_base = out->in->len;
    size_t in_base = in->in->len;
    GByteArray *data = g_byte_array_new();
    fill_pattern(data, TOTAL);
    g_byte_array_append(out->out, data->data, TOTAL);
    g_byte_array_append(in->out, data->data, TOTAL);
    CALL(t, t->env->stream_want_write(t->env->ctx, out->id));
    CALL(t, t->env->stream_want_write(t->env->ctx, in->id));
    run_until_in(t, in, in_base + TOTAL, 20000);
    run_until_in(t, out, out_base + TOTAL, 20000);
    ck_assert_int_eq(memcmp(in->in->data + in_base, data->data, TOTAL), 0);
    ck_assert_int_eq(memcmp(out->in->data + out_base, data->data, TOTAL), 0);

    /* The client's close reaches the server through TLS (close_notify, then FIN). */
    CALL(t, t->env->stream_close(t->env->ctx, out->id));
    run_until(t, conn_closed, in, 2000);
    run_until(t, conn_closed, out, 2000);
    ck_assert_int_eq(out->tls_count, 1);
    ck_assert_int_eq(in->tls_count, 1);
    struct mr_realenv_stats st;
    mr_realenv_stats(t->re, &st);
    ck_assert_uint_eq(st.tls_handshakes, 2);
    ck_assert_uint_eq(st.tls_failures, 0);
    g_byte_array_free(data, TRUE);
    tsink_free(t);
}
END_TEST

/* Starts a client handshake from context client_id, naming server_name, against the TLS
 * server already listening on port (handshake first), and waits for both outcomes. */
static struct tconn *client_handshake(struct tsink *t, uint16_t port, uint64_t client_id,
                                      const char *server_name, struct tconn **server_side)
{
    guint before = t->accepted->len;
    struct tconn *out = dial(t, port);
    start_client(t, out, client_id, server_name);
    run_until(t, accepted_at_least, (void *)(uintptr_t)(before + 1), 2000);
    struct tconn *in = g_ptr_array_index(t->accepted, before);
    run_until(t, tls_reported, out, 3000);
    run_until(t, tls_reported, in, 3000);
    *server_side = in;
    return out;
}

/* A refused server: on_tls(MR_E_IO), then on_closed, no byte, and a log line naming why. */
static void assert_client_refused(struct tsink *t, struct tconn *out, struct tconn *in)
{
    ck_assert_int_eq(out->tls_count, 1);
    ck_assert_int_eq(out->tls_status, MR_E_IO);
    run_until(t, conn_closed, out, 2000);
    ck_assert_int_eq(out->tls_before_close, 1);
    ck_assert_uint_eq(out->in->len, 0);
    /* The server hears the client's alert. */
    ck_assert_int_lt(in->tls_status, 0);
    run_until(t, conn_closed, in, 2000);
}

START_TEST(tls_client_refuses_a_server_certificate_from_another_ca)
{
    struct tsink *t = tsink_new();
    char log[128];
    log_to_file(t, "other_ca", log, sizeof(log));
    uint16_t port = tls_server(t, false, 2);
    struct mr_tls_opts o = client_opts("other-ca.pem", NULL);
    tls_configure_ok(t, 2, &o);
    struct tconn *in;
    struct tconn *out = client_handshake(t, port, 2, "127.0.0.1", &in);
    assert_client_refused(t, out, in);
    assert_log_has(log, "127.0.0.1:");
    assert_log_has(log, "TLS client handshake error: certificate verify failed: "
                        "unable to get local issuer certificate");
    struct mr_realenv_stats st;
    mr_realenv_stats(t->re, &st);
    ck_assert_uint_eq(st.tls_failures, 2); /* the client's refusal and the server's */
    tsink_free(t);
}
END_TEST

START_TEST(tls_client_refuses_a_server_name_the_certificate_does_not_hold)
{
    struct tsink *t = tsink_new();
    char log[128];
    log_to_file(t, "name_mismatch", log, sizeof(log));
    uint16_t port = tls_server(t, false, 2);
    struct mr_tls_opts o = client_opts("ca.pem", NULL);
    tls_configure_ok(t, 2, &o);
    struct tconn *in;
    struct tconn *out = client_handshake(t, port, 2, "example.com", &in);
    assert_client_refused(t, out, in);
    assert_log_has(log, "certificate verify failed: hostname mismatch");
    out = client_handshake(t, port, 2, "127.0.0.2", &in);
    assert_client_refused(t, out, in);
    assert_log_has(log, "certificate verify failed: IP address mismatch");
    tsink_free(t);
}
END_TEST

/* The positive cases of the name check, and insecure: a host name the certificate holds
 * (sent as SNI), no name at all (the chain alone), and insecure with a foreign CA and a
 * wrong name, which gets through but reports no verified subject. */
START_TEST(tls_client_accepts_a_matching_name_and_insecure_skips_checks)
{
    struct tsink *t = tsink_new();
    uint16_t port = tls_server(t, false, 2);
    struct mr_tls_opts o = client_opts("ca.pem", NULL);
    tls_configure_ok(t, 2, &o);
    o = client_opts("other-ca.pem", NULL);
    o.insecure = true;
    tls_configure_ok(t, 3, &o);
    static const struct {
        uint64_t tls_id;
        const char *name;
        const char *subject; /* NULL: none reported */
    } cases[] = {
        {2, "localhost", "CN=localhost"},
        {2, NULL, "CN=localhost"},
        {3, "example.com", NULL},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        struct tconn *in;
        struct tconn *out = client_handshake(t, port, cases[i].tls_id, cases[i].name, &in);
        ck_assert_int_eq(out->tls_status, 0);
        ck_assert_int_eq(in->tls_status, 0);
        if (cases[i].subject != NULL) {
            ck_assert_str_eq(out->tls_subject, cases[i].subject);
        } else {
            ck_assert(out->tls_subject_null);
        }
        run_until_in(t, out, 9, 2000); /* the INFO the server queued in its on_tls */
        ck_assert_int_eq(memcmp(out->in->data, "INFO {}\r\n", 9), 0);
        ck_assert_int_eq(out->closed, 0);
    }
    tsink_free(t);
}
END_TEST

/* A cluster's one TLS block: the same context serves the route listener and the route
 * client, each side verifying the other's certificate. */
START_TEST(tls_mutual_one_context_serves_both_sides)
{
    struct tsink *t = tsink_new();
    struct mr_tls_opts o = client_opts("ca.pem", "route");
    o.verify = true;
    tls_configure_ok(t, 1, &o);
    t->tls_on_accept = 2;
    t->tls_id = 1;
    uint16_t port = listen_any(t, 1);
    struct tconn *in;
    struct tconn *out = client_handshake(t, port, 1, "localhost", &in);
    ck_assert_int_eq(out->tls_status, 0);
    ck_assert_int_eq(in->tls_status, 0);
    ck_assert_str_eq(in->tls_subject, "CN=route,O=Meridian");
    ck_assert_str_eq(out->tls_subject, "CN=route,O=Meridian");
    run_until_in(t, out, 9, 2000);
    ck_assert_int_eq(memcmp(out->in->data, "INFO {}\r\n", 9), 0);
    tsink_free(t);
}
END_TEST

/* A verifying server: a client context with a certificate gets in and is named; one
 * without is refused. In TLS 1.3 the client finishes before the server has judged its
 * certificate, so the client may see on_tls(0) and then the close; either way it gets
 * no byte and its stream ends. */
START_TEST(tls_mutual_needs_the_client_context_certificate)
{
    struct tsink *t = tsink_new();
    uint16_t port = tls_server(t, true, 2);
    struct mr_tls_opts o = client_opts("ca.pem", "client");
    tls_configure_ok(t, 2, &o);
    o = client_opts("ca.pem", NULL);
    tls_configure_ok(t, 3, &o);

    struct tconn *in;
    struct tconn *out = client_handshake(t, port, 2, "127.0.0.1", &in);
    ck_assert_int_eq(out->tls_status, 0);
    ck_assert_int_eq(in->tls_status, 0);
    ck_assert_str_eq(in->tls_subject, "CN=client,O=Meridian");
    ck_assert_str_eq(out->tls_subject, "CN=localhost");
    run_until_in(t, out, 9, 2000);

    out = client_handshake(t, port, 3, "127.0.0.1", &in);
    ck_assert_int_eq(in->tls_status, MR_E_IO);
    run_until(t, conn_closed, in, 2000);
    run_until(t, conn_closed, out, 2000);
    ck_assert_int_eq(out->tls_count, 1);
    ck_assert_int_eq(out->tls_before_close, 1);
    ck_assert_int_le(out->tls_status, 0);
    ck_assert_uint_eq(out->in->len, 0);
    tsink_free(t);
}
END_TEST

/* A plain listening socket on 127.0.0.1, any port, for a test-side peer. */
static int raw_listener(uint16_t *port)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(lfd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return lfd;
}

/* The bytes pending when the client handshake is asked for go out first, in plaintext,
 * and output queued during the handshake waits for it. A test-side OpenSSL server reads
 * exactly that line, then answers the ClientHello behind it. */
START_TEST(tls_client_sends_pending_plaintext_before_its_hello)
{
    struct tsink *t = tsink_new();
    uint16_t port;
    int lfd = raw_listener(&port);
    struct mr_tls_opts o = client_opts("ca.pem", NULL);
    tls_configure_ok(t, 2, &o);
    struct tconn *out = dial(t, port);
    g_byte_array_append(out->out, (const uint8_t *)"CONNECT {}\r\n", 12);
    CALL(t, t->env->stream_want_write(t->env->ctx, out->id));
    start_client(t, out, 2, "127.0.0.1");

    struct tpeer p;
    p.fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ck_assert_int_ge(p.fd, 0);
    GByteArray *line = g_byte_array_new();
    read_plain_line(t, p.fd, line);
    ck_assert_uint_eq(line->len, 12);
    ck_assert_int_eq(memcmp(line->data, "CONNECT {}\r\n", 12), 0);
    g_byte_array_append(out->out, (const uint8_t *)"PING\r\n", 6);
    CALL(t, t->env->stream_want_write(t->env->ctx, out->id));

    p.ctx = SSL_CTX_new(TLS_server_method());
    ck_assert_ptr_nonnull(p.ctx);
    char path[128];
    cert_path(path, sizeof(path), "server.pem");
    ck_assert_int_eq(SSL_CTX_use_certificate_chain_file(p.ctx, path), 1);
    cert_path(path, sizeof(path), "server-key.pem");
    ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(p.ctx, path, SSL_FILETYPE_PEM), 1);
    p.ssl = SSL_new(p.ctx);
    ck_assert_ptr_nonnull(p.ssl);
    ck_assert_int_eq(SSL_set_fd(p.ssl, p.fd), 1);
    SSL_set_accept_state(p.ssl);
    GByteArray *got = g_byte_array_new();
    ck_assert(tpeer_read(t, &p, got, 6)); /* SSL_read runs the server's handshake first */
    ck_assert_int_eq(memcmp(got->data, "PING\r\n", 6), 0);
    ck_assert_int_eq(out->tls_count, 1);
    ck_assert_int_eq(out->tls_status, 0);
    ck_assert_str_eq(out->tls_subject, "CN=localhost");
    ck_assert_uint_eq(out->in->len, 0);

    tpeer_write(t, &p, "PONG\r\n", 6, 6);
    run_until_in(t, out, 6, 2000);
    ck_assert_int_eq(memcmp(out->in->data, "PONG\r\n", 6), 0);
    g_byte_array_free(got, TRUE);
    g_byte_array_free(line, TRUE);
    tpeer_close(&p);
    close(lfd);
    tsink_free(t);
}
END_TEST

/* A server that accepts the TCP connection (the kernel's backlog does) and never says a
 * word: the client's handshake ends at the context's timeout. */
START_TEST(tls_client_handshake_timeout_closes)
{
    struct tsink *t = tsink_new();
    char log[128];
    log_to_file(t, "client_timeout", log, sizeof(log));
    uint16_t port;
    int lfd = raw_listener(&port);
    struct mr_tls_opts o = client_opts("ca.pem", NULL);
    o.timeout_ns = 150 * MR_NS_PER_MS;
    tls_configure_ok(t, 2, &o);
    struct tconn *out = dial(t, port);
    uint64_t start = mono_ms();
    start_client(t, out, 2, "127.0.0.1");
    run_until(t, conn_closed, out, 3000);
    uint64_t took = mono_ms() - start;
    ck_assert_uint_ge(took, 150);
    ck_assert_uint_lt(took, 2000);
    ck_assert_int_eq(out->tls_count, 1);
    ck_assert_int_eq(out->tls_status, MR_E_TIMEOUT);
    ck_assert_int_eq(out->tls_before_close, 1);
    assert_log_has(log, "TLS client handshake error: timeout");
    close(lfd);
    tsink_free(t);
}
END_TEST

/* Contexts that cannot serve the role asked for fail like a handshake, later: an
 * unknown id on the client side, and a certificate-less (client-only) context on the
 * server side. */
START_TEST(tls_start_without_a_usable_context_fails_later)
{
    struct tsink *t = tsink_new();
    struct mr_tls_opts o = client_opts("ca.pem", NULL);
    tls_configure_ok(t, 2, &o);
    t->tls_on_accept = 1;
    t->tls_id = 2; /* no certificate to serve with */
    uint16_t port = listen_any(t, 1);
    struct tconn *out = dial(t, port);
    start_client(t, out, 42, "127.0.0.1"); /* never configured */
    struct tconn *in = first_accepted(t);
    run_until(t, conn_closed, out, 2000);
    run_until(t, conn_closed, in, 2000);
    ck_assert_int_eq(out->tls_count, 1);
    ck_assert_int_eq(out->tls_status, MR_E_INVAL);
    ck_assert_int_eq(out->tls_before_close, 1);
    ck_assert_int_eq(in->tls_count, 1);
    ck_assert_int_eq(in->tls_status, MR_E_INVAL);
    ck_assert_int_eq(in->tls_before_close, 1);
    tsink_free(t);
}
END_TEST

static Suite *realenv_suite(void)
{
    Suite *s = suite_create("realenv");

    TCase *streams = tcase_create("streams");
    tcase_set_timeout(streams, 60);
    tcase_add_test(streams, listen_port_zero_reports_port_and_bytes_arrive);
    tcase_add_test(streams, accepted_connections_get_increasing_ids);
    tcase_add_test(streams, listen_reports_addr_in_use_and_bad_address);
    tcase_add_test(streams, unlisten_stops_accepting_and_keeps_connections);
    tcase_add_test(streams, out_peek_and_consume_write_bytes_back);
    tcase_add_test(streams, large_write_to_slow_reader_takes_several_turns);
    tcase_add_test(streams, peer_close_gives_one_on_closed);
    tcase_add_test(streams, peer_eof_still_gets_the_reply_to_its_last_bytes);
    tcase_add_test(streams, peer_reset_gives_one_on_closed_even_when_not_reading);
    tcase_add_test(streams, read_enable_pauses_and_resumes_reading);
    tcase_add_test(streams, stream_close_flushes_pending_bytes_then_closes);
    tcase_add_test(streams, stream_close_inside_on_bytes_stops_reading);
    tcase_add_test(streams, many_connections_are_accepted);
    suite_add_tcase(s, streams);

    TCase *connect = tcase_create("connect");
    tcase_set_timeout(connect, 20);
    tcase_add_test(connect, connect_to_listener_reports_connected_later);
    tcase_add_test(connect, connect_to_closed_port_reports_refused);
    tcase_add_test(connect, connect_to_unknown_host_reports_addr);
    tcase_add_test(connect, close_before_connected_gives_on_closed_only);
    suite_add_tcase(s, connect);

    TCase *timers = tcase_create("timers");
    tcase_set_timeout(timers, 10);
    tcase_add_test(timers, timers_fire_in_deadline_order);
    tcase_add_test(timers, timers_with_equal_deadlines_fire_in_arming_order);
    tcase_add_test(timers, timer_rearm_replaces_deadline);
    tcase_add_test(timers, timer_cancel_disarms);
    tcase_add_test(timers, past_deadline_fires_in_a_later_turn_not_inside_the_call);
    tcase_add_test(timers, random_timer_operations_match_a_model);
    suite_add_tcase(s, timers);

    TCase *files = tcase_create("files");
    tcase_set_timeout(files, 10);
    tcase_add_test(files, file_calls_round_trip_with_later_completions);
    tcase_add_test(files, file_list_is_sorted_bytewise);
    tcase_add_test(files, file_errors_are_reported_as_values);
    tcase_add_test(files, many_file_calls_in_flight_complete_in_request_order);
    tcase_add_test(files, file_sync_completes_after_the_writes_before_it);
    tcase_add_test(files, file_write_copies_the_callers_buffer);
    tcase_add_test(files, file_calls_past_the_queue_bound_are_refused_in_order);
    tcase_add_test(files, file_errors_keep_their_values_and_their_place);
    tcase_add_test(files, file_destroy_with_calls_in_flight_drains_them);
    tcase_add_test(files, a_blocked_file_call_does_not_stall_the_loop);
    suite_add_tcase(s, files);

    TCase *misc = tcase_create("misc");
    tcase_set_timeout(misc, 10);
    tcase_add_test(misc, clocks_and_random_work);
    tcase_add_test(misc, log_lines_use_nats_server_format_and_filter_levels);
    tcase_add_test(misc, run_returns_after_stop);
    suite_add_tcase(s, misc);

    TCase *tls = tcase_create("tls");
    tcase_set_timeout(tls, 60);
    tcase_add_unchecked_fixture(tls, certs_setup, certs_teardown);
    tcase_add_test(tls, tls_info_goes_in_plaintext_then_bytes_flow_encrypted);
    tcase_add_test(tls, tls_handshake_first_starts_with_nothing_pending);
    tcase_add_test(tls, tls_large_transfers_both_ways);
    tcase_add_test(tls, tls_bytes_held_by_openssl_arrive_after_resume);
    tcase_add_test(tls, tls_verify_refuses_a_client_without_certificate);
    tcase_add_test(tls, tls_verify_accepts_a_client_certificate_and_reports_its_subject);
    tcase_add_test(tls, tls_verify_refuses_a_certificate_from_another_ca);
    tcase_add_test(tls, tls_configure_errors_name_the_file_and_the_reason);
    tcase_add_test(tls, tls_start_with_unknown_context_fails_later);
    tcase_add_test(tls, tls_handshake_timeout_closes);
    tcase_add_test(tls, tls_close_by_core_mid_handshake_gives_on_closed_only);
    tcase_add_test(tls, tls_peer_gone_mid_handshake_gives_on_tls_then_on_closed);
    tcase_add_test(tls, tls_plaintext_client_is_closed_without_bytes);
    tcase_add_test(tls, tls_client_reads_plain_info_then_upgrades_and_bytes_flow_both_ways);
    tcase_add_test(tls, tls_client_refuses_a_server_certificate_from_another_ca);
    tcase_add_test(tls, tls_client_refuses_a_server_name_the_certificate_does_not_hold);
    tcase_add_test(tls, tls_client_accepts_a_matching_name_and_insecure_skips_checks);
    tcase_add_test(tls, tls_mutual_one_context_serves_both_sides);
    tcase_add_test(tls, tls_mutual_needs_the_client_context_certificate);
    tcase_add_test(tls, tls_client_sends_pending_plaintext_before_its_hello);
    tcase_add_test(tls, tls_client_handshake_timeout_closes);
    tcase_add_test(tls, tls_start_without_a_usable_context_fails_later);
    suite_add_tcase(s, tls);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(realenv_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
