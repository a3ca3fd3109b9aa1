/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The real env: epoll, non-blocking TCP, POSIX files, system clocks (see realenv.h for
 * the shape of one loop turn).
 *
 * Invariants:
 *  - Level-triggered epoll. A connection's interest set is EPOLLIN|EPOLLRDHUP while it
 *    is open and reading, plus EPOLLOUT only while its last flush would have blocked
 *    (or while an outbound connect is in flight), so idle sockets cost no wakeups.
 *  - A connection moves CONNECTING -> OPEN -> CLOSING -> DEAD (any state may go to
 *    DEAD directly). CLOSING comes from stream_close or the peer's EOF; errors and
 *    resets go straight to DEAD, without a flush. DEAD means the descriptor is closed
 *    and exactly one completion (on_closed, or on_connected with an error) is queued;
 *    the struct is freed when that completion is delivered, and only then does its id
 *    leave the table.
 *  - Structs are freed only in the completion phase of a turn (or by destroy), so a
 *    pointer held while dispatching epoll events stays valid. epoll data carries ids,
 *    not pointers: a stale event for a closed connection finds no entry.
 *  - Every completion goes through the done queue and is delivered by the loop,
 *    never inside the env call that requested it.
 *  - TLS: a connection moves TLS_OFF -> TLS_PLAIN -> TLS_HANDSHAKE -> TLS_UNREPORTED ->
 *    TLS_UP, as a server (stream_start_tls) or a client (stream_start_tls_client); both
 *    share every state and step but the SSL object's role. It reads application bytes
 *    only in TLS_OFF and TLS_UP, so the peer's handshake records are never mistaken for
 *    plaintext and no decrypted byte reaches the sink before on_tls. It has an SSL
 *    object from stream_start_tls(_client) until its descriptor closes. Every connection
 *    in TLS_PLAIN or TLS_HANDSHAKE is listed in tls_pending, which the loop scans for
 *    handshake deadlines. A connection whose handshake had not been reported gets
 *    exactly one on_tls before its on_closed, unless the core closed it first
 *    (close_requested).
 *  - OpenSSL may hold decrypted bytes the socket no longer signals (a record only half
 *    delivered because the sink paused reading or the per-turn read bound was hit).
 *    Such connections are listed in tls_kick and read in the next turn, which then does
 *    not wait in epoll_wait.
 *  - File calls are the I/O worker's (fileio.c): its completions enter the done queue
 *    only on the loop thread, when its eventfd is readable, in request order.
 *
 * Ownership: the realenv owns every descriptor, timer, queued completion and buffer it
 * allocates (counted in its own mr_mem, checked to be zero at destroy), and its SSL_CTX
 * and SSL objects (OpenSSL's allocator, not counted). A file completion's data is
 * fileio's (counted there) and goes back to it after delivery. Views passed to the sink
 * (on_bytes, on_file_done, on_tls subjects, host strings) are valid only during the
 * call.
 */
#include "core/realenv/realenv.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/heap.h"
#include "core/limits.h"
#include "core/mem.h"
#include "core/realenv/fileio.h"
#include "core/realenv/oserr.h"

/* epoll data: the top two bits say what the low bits name. Connection ids come from
 * a counter and stay far below 2^62. */
#define TAG_SHIFT 62
#define TAG_CONN 0ULL
#define TAG_LISTENER 1ULL
#define TAG_SIGNAL 2ULL
#define TAG_FILEIO 3ULL /* the I/O worker's eventfd: file completions are waiting */
#define KEY_MASK ((1ULL << TAG_SHIFT) - 1)


enum conn_state {
    CONN_CONNECTING, /* outbound connect in flight; no on_connected yet */
    CONN_OPEN,
    CONN_CLOSING, /* stream_close or peer EOF: flush and close at the end of the turn */
    CONN_DEAD,    /* descriptor closed; its completion is queued */
};

/* See the TLS invariant in the file comment. */
enum tls_state {
    TLS_OFF,        /* a plaintext stream */
    TLS_PLAIN,      /* stream_start_tls(_client) called: the pending plaintext goes first */
    TLS_HANDSHAKE,  /* SSL_do_handshake in progress (accept or connect state) */
    TLS_UNREPORTED, /* handshake done; its on_tls is queued; application data waits */
    TLS_UP,         /* reads are SSL_read, flushes SSL_write */
};

struct conn {
    uint64_t id; /* hash key (the table points at this field); never reused */
    int fd;      /* -1 once DEAD, or while a connect has no socket yet */
    enum conn_state state;
    bool registered;   /* fd is in the epoll set */
    uint32_t events;   /* epoll interest registered now */
    bool read_enabled; /* stream_read_enable */
    bool dirty;        /* listed in re->dirty, flushed at the end of the turn */
    bool want_out;     /* the last flush blocked; waiting for EPOLLOUT */
    struct addrinfo *ai_head; /* outbound: candidate addresses, owned until connected */
    struct addrinfo *ai_next; /* the next candidate to try */
    bool close_requested;     /* stream_close was called: no on_tls any more */
    char peer[INET6_ADDRSTRLEN + 8]; /* "host:port" once open, for TLS error logs */

    enum tls_state tls;
    SSL *ssl;                 /* owned; from stream_start_tls(_client) until the fd closes */
    bool tls_client;          /* the handshake is a client's (stream_start_tls_client) */
    uint64_t tls_deadline_ns; /* TLS_PLAIN, TLS_HANDSHAKE: the handshake bound */
    size_t tls_plain_left;    /* TLS_PLAIN: plaintext bytes left; SIZE_MAX = not measured */
    int tls_err;              /* the status a failed handshake's on_tls carries */
    bool ssl_want_write;      /* the handshake or an SSL_read waits for EPOLLOUT */
    bool ssl_write_wants_read; /* TLS_UP: the last SSL_write waits for EPOLLIN */
    bool kicked;              /* listed in re->tls_kick */
};

/* A tls_configure result. */
struct tls_ctx {
    uint64_t id; /* the core's tls id */
    SSL_CTX *ssl_ctx; /* TLS_method(): serves server and client handshakes alike */
    uint64_t timeout_ns;
    bool has_cert; /* cert_file and key_file were set; a server handshake needs them */
    bool insecure; /* client handshakes skip verifying the server (mr_tls_opts.insecure) */
};

struct listener {
    uint64_t id;  /* the core's listener id */
    uint64_t key; /* ours, in epoll data; never reused */
    int fd;       /* -1 once unlistened (freed after the turn's dispatch) */
    bool paused;  /* accept hit EMFILE; resumes at paused_until_ns */
    uint64_t paused_until_ns;
};

struct timer {
    uint64_t id;              /* hash key */
    struct mr_heap_node node; /* key: deadline ns; seq: arming order, breaks ties */
};

enum done_kind {
    DONE_CLOSED,    /* on_closed(id); frees the conn */
    DONE_CONNECTED, /* on_connected(id, result) */
    DONE_FILE,      /* on_file_done(id, result, data, len) */
    DONE_TLS,       /* on_tls(id, result, data: NUL-ended subject or NULL) */
};

struct done {
    enum done_kind kind;
    uint64_t id; /* conn id or file request id */
    int64_t result;
    uint8_t *data; /* owned (DONE_FILE: fileio's); freed after delivery by done_free */
    size_t len;
};

struct mr_realenv {
    struct mr_env env;
    const struct mr_env_sink *sink; /* borrowed; may be NULL */
    struct mr_mem mem;              /* counts everything below that we allocate */
    int epfd;
    int sigfd; /* -1 unless mr_realenv_stop_on_signals */
    int last_signal;
    bool stop;

    uint64_t conn_id_next;
    GHashTable *conns; /* uint64 id -> struct conn (owned) */
    GArray *dirty;     /* uint64 conn ids to flush at the end of this turn */
    GArray *dirty_spare; /* swapped with dirty while flushing */

    GPtrArray *listeners; /* struct listener (owned); a handful at most */
    uint64_t listener_key_next;

    struct mr_heap heap; /* timers by (deadline, arming order) */
    GHashTable *timers; /* uint64 id -> struct timer (same objects as the heap) */
    uint64_t timer_seq;

    GQueue *done; /* struct done (owned), delivered in order */

    struct mr_fileio *fio; /* file calls and their worker thread (owned) */

    int log_fd;        /* 2 or an owned log file */
    bool log_debug;    /* -D */
    bool log_trace;    /* -V */
    bool log_time;     /* -T */
    int pid;
    /* process_usage: the previous CPU sample (utime + stime ticks, monotonic time) and
     * the figure it gave, reused for calls less than CPU_SAMPLE_MIN_NS apart. */
    uint64_t cpu_ticks_last;
    uint64_t cpu_sample_ns;
    uint32_t cpu_permille_last;

    GPtrArray *tls_ctxs; /* struct tls_ctx (owned), at most MR_REALENV_TLS_CTX_MAX */
    GArray *tls_pending; /* uint64 ids of connections in TLS_PLAIN or TLS_HANDSHAKE */
    GArray *tls_kick;    /* uint64 ids of TLS_UP connections to read next turn */
    GArray *tls_kick_spare; /* swapped with tls_kick while reading */
    uint8_t *tls_wbuf;   /* MR_REALENV_TLS_WRITE_BYTES, shared by every SSL_write */

    uint8_t *rbuf; /* MR_REALENV_READ_BYTES, shared by every read */
    struct epoll_event events[MR_REALENV_EVENTS_MAX];
    struct mr_realenv_stats stats;
};

/* ----------------------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------------------- */

static uint64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    int rc = clock_gettime(clock, &ts);
    mr_assert(rc == 0);
    return (uint64_t)ts.tv_sec * MR_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void set_errmsg(char *errmsg, size_t errmsg_len, const char *what, const char *arg,
                       int e)
{
    if (errmsg != NULL && errmsg_len > 0) {
        snprintf(errmsg, errmsg_len, "%s %s: %s", what, arg, strerror(e));
    }
}

static void queue_done(struct mr_realenv *re, enum done_kind kind, uint64_t id, int64_t result,
                       uint8_t *data, size_t len)
{
    struct done *d = mr_mem_alloc(&re->mem, sizeof(*d));
    mr_assert(d != NULL); /* the realenv's budget is unlimited: NULL means real OOM */
    d->kind = kind;
    d->id = id;
    d->result = result;
    d->data = data;
    d->len = len;
    g_queue_push_tail(re->done, d);
}

static void done_free(struct mr_realenv *re, struct done *d)
{
    if (d->kind == DONE_FILE) {
        mr_fileio_data_free(re->fio, d->data, d->len);
    } else if (d->data != NULL) {
        mr_mem_free(&re->mem, d->data, d->len);
    }
    mr_mem_free(&re->mem, d, sizeof(*d));
}

static void log_line(struct mr_realenv *re, const char *tag, const char *msg)
{
    char head[MR_REALENV_LOG_HEAD_MAX];
    int n;
    if (re->log_time) {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        n = snprintf(head, sizeof(head), "[%d] %04d/%02d/%02d %02d:%02d:%02d.%06ld [%s] ",
                     re->pid, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000, tag);
    } else {
        n = snprintf(head, sizeof(head), "[%d] [%s] ", re->pid, tag);
    }
    mr_assert(n > 0);
    mr_assert((size_t)n < sizeof(head));
    /* One writev per line keeps lines whole when several processes share a file. */
    struct iovec iov[3] = {
        {.iov_base = head, .iov_len = (size_t)n},
        {.iov_base = (void *)msg, .iov_len = strlen(msg)},
        {.iov_base = "\n", .iov_len = 1},
    };
    ssize_t w = writev(re->log_fd, iov, 3);
    (void)w; /* a failing log cannot be logged; the server keeps serving */
}

/* ----------------------------------------------------------------------------------
 * Clocks, randomness, logging (struct mr_env)
 * ---------------------------------------------------------------------------------- */

static uint64_t env_now_ns(void *ctx)
{
    (void)ctx;
    return clock_ns(CLOCK_MONOTONIC);
}

static int64_t env_wall_ns(void *ctx)
{
    (void)ctx;
    return (int64_t)clock_ns(CLOCK_REALTIME);
}

static void env_random(void *ctx, uint8_t *out, size_t len)
{
    (void)ctx;
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(out + got, len - got, 0);
        if (n < 0) {
            /* getrandom only fails for bad arguments or a signal; retry the latter. */
            mr_assert(errno == EINTR);
            continue;
        }
        got += (size_t)n;
    }
    mr_assert(got == len);
}

static void env_log(void *ctx, enum mr_log_level level, const char *module, const char *msg)
{
    struct mr_realenv *re = ctx;
    static const char *const tags[] = {"ERR", "WRN", "INF", "DBG", "TRC"};
    mr_assert(level >= MR_LOG_ERROR);
    mr_assert(level <= MR_LOG_TRACE);
    /* nats-server's -D and -V are independent switches, not one ordered level. */
    if (level == MR_LOG_DEBUG && !re->log_debug) {
        return;
    }
    if (level == MR_LOG_TRACE && !re->log_trace) {
        return;
    }
    log_line(re, tags[level], msg);
}

/* ----------------------------------------------------------------------------------
 * Process usage for /varz: /proc/self/statm and /proc/self/stat
 * ---------------------------------------------------------------------------------- */

/* CPU figures from samples closer together than this are too noisy; the last one is
 * shown again instead. */
#define CPU_SAMPLE_MIN_NS (100ULL * MR_NS_PER_MS)

/* Reads a small /proc file, NUL-terminated. Returns false if it cannot. */
static bool read_proc(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    ssize_t n = read(fd, buf, cap - 1);
    (void)close(fd); /* read-only: nothing to lose */
    if (n < 0) {
        return false;
    }
    buf[n] = '\0';
    return true;
}

/* utime + stime and starttime, in clock ticks, from /proc/self/stat. The command name
 * (field 2) is in parentheses and may hold spaces, so fields are counted from the last
 * ')': state is field 3, utime 14, stime 15, starttime 22. */
static bool proc_cpu(uint64_t *ticks, uint64_t *start_ticks)
{
    char buf[1024];
    if (!read_proc("/proc/self/stat", buf, sizeof(buf))) {
        return false;
    }
    const char *p = strrchr(buf, ')');
    if (p == NULL) {
        return false;
    }
    unsigned long long ut = 0;
    unsigned long long st = 0;
    unsigned long long start = 0;
    int n = sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu"
                          " %*d %*d %*d %*d %*d %*d %llu", &ut, &st, &start);
    if (n != 3) {
        return false;
    }
    *ticks = ut + st;
    *start_ticks = start;
    return true;
}

/* CPU use in tenths of a percent of one core since the previous call (the first call:
 * over the process's life), as nats-server's pcpu. */
static uint32_t cpu_permille(struct mr_realenv *re)
{
    uint64_t ticks = 0;
    uint64_t start_ticks = 0;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0 || !proc_cpu(&ticks, &start_ticks)) {
        return re->cpu_permille_last;
    }
    uint64_t now = clock_ns(CLOCK_MONOTONIC);
    uint64_t ns_per_tick = MR_NS_PER_SEC / (uint64_t)hz;
    uint64_t busy_ns;
    uint64_t span_ns;
    if (re->cpu_sample_ns == 0) {
        /* Process age: boot time now minus the start, both since boot. */
        busy_ns = ticks * ns_per_tick;
        uint64_t boot_ns = clock_ns(CLOCK_BOOTTIME);
        uint64_t started_ns = start_ticks * ns_per_tick;
        span_ns = boot_ns > started_ns ? boot_ns - started_ns : 0;
    } else if (now - re->cpu_sample_ns < CPU_SAMPLE_MIN_NS) {
        return re->cpu_permille_last;
    } else {
        busy_ns = (ticks - re->cpu_ticks_last) * ns_per_tick;
        span_ns = now - re->cpu_sample_ns;
    }
    re->cpu_ticks_last = ticks;
    re->cpu_sample_ns = now;
    if (span_ns > 0) {
        uint64_t permille = busy_ns / (span_ns / 1000 + 1);
        re->cpu_permille_last = permille > UINT32_MAX ? UINT32_MAX : (uint32_t)permille;
    }
    return re->cpu_permille_last;
}

static void env_process_usage(void *ctx, uint64_t *rss_bytes, uint32_t *cpu_permille_out,
                              uint32_t *cores)
{
    struct mr_realenv *re = ctx;
    char buf[256];
    unsigned long long size = 0;
    unsigned long long resident = 0;
    long page = sysconf(_SC_PAGESIZE);
    *rss_bytes = 0;
    if (page > 0 && read_proc("/proc/self/statm", buf, sizeof(buf)) &&
        sscanf(buf, "%llu %llu", &size, &resident) == 2) {
        *rss_bytes = (uint64_t)resident * (uint64_t)page;
    }
    *cpu_permille_out = cpu_permille(re);
    /* The CPUs this process may run on, as Go's runtime.NumCPU. */
    cpu_set_t set;
    CPU_ZERO(&set);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        *cores = (uint32_t)CPU_COUNT(&set);
    } else {
        *cores = online > 0 ? (uint32_t)online : 1;
    }
}

/* ----------------------------------------------------------------------------------
 * Timers: a binary heap ordered by (deadline_ns, seq), plus an id table
 * ---------------------------------------------------------------------------------- */

static struct timer *timer_of(struct mr_heap_node *n)
{
    return MR_CONTAINER_OF(n, struct timer, node);
}

static int env_timer_arm(void *ctx, uint64_t timer_id, uint64_t deadline_ns)
{
    struct mr_realenv *re = ctx;
    struct timer *t = g_hash_table_lookup(re->timers, &timer_id);
    if (t != NULL) {
        /* Re-arming replaces: it is a new arming, so it also takes a new place among
         * timers with the same deadline. */
        mr_heap_remove(&re->heap, &t->node);
    } else {
        if (mr_heap_reserve(&re->heap) != 0) {
            return MR_E_NOMEM;
        }
        t = mr_mem_alloc(&re->mem, sizeof(*t));
        if (t == NULL) {
            return MR_E_NOMEM;
        }
        t->id = timer_id;
        g_hash_table_insert(re->timers, &t->id, t);
    }
    t->node.key = deadline_ns;
    t->node.seq = ++re->timer_seq;
    mr_heap_push(&re->heap, &t->node);
    return 0;
}

static void timer_free(struct mr_realenv *re, struct timer *t)
{
    bool removed = g_hash_table_remove(re->timers, &t->id);
    mr_assert(removed);
    mr_mem_free(&re->mem, t, sizeof(*t));
}

static void env_timer_cancel(void *ctx, uint64_t timer_id)
{
    struct mr_realenv *re = ctx;
    struct timer *t = g_hash_table_lookup(re->timers, &timer_id);
    if (t == NULL) {
        return;
    }
    mr_heap_remove(&re->heap, &t->node);
    timer_free(re, t);
}

/* Fires the timers that are due. Only timers armed before this phase began may fire:
 * a callback that re-arms for "now" fires next turn, so timers cannot starve I/O. */
static void fire_timers(struct mr_realenv *re)
{
    uint64_t now = env_now_ns(re);
    uint64_t seq_limit = re->timer_seq;
    while (mr_heap_top(&re->heap) != NULL) {
        struct timer *t = timer_of(mr_heap_top(&re->heap));
        if (t->node.key > now || t->node.seq > seq_limit) {
            break;
        }
        uint64_t id = t->id;
        mr_heap_remove(&re->heap, &t->node);
        timer_free(re, t);
        re->stats.timers_fired++;
        if (re->sink != NULL) {
            re->sink->on_timer(re->sink->ctx, id);
        }
    }
}

/* ----------------------------------------------------------------------------------
 * Connections
 * ---------------------------------------------------------------------------------- */

/* Defined with the rest of TLS below; the flush and event paths hand over to them. */
static void tls_plain_flush(struct mr_realenv *re, struct conn *c);
static void tls_setup_event(struct mr_realenv *re, struct conn *c, uint32_t evs);

static struct conn *conn_lookup(struct mr_realenv *re, uint64_t id)
{
    return g_hash_table_lookup(re->conns, &id);
}

static struct conn *conn_new(struct mr_realenv *re, int fd, enum conn_state state)
{
    struct conn *c = mr_mem_alloc(&re->mem, sizeof(*c));
    mr_assert(c != NULL); /* unlimited budget: NULL means real OOM */
    c->id = re->conn_id_next++;
    mr_assert(c->id <= KEY_MASK);
    c->fd = fd;
    c->state = state;
    c->read_enabled = true;
    g_hash_table_insert(re->conns, &c->id, c);
    re->stats.conns_open++;
    return c;
}

/* Frees a connection whose completion has just been delivered. */
static void conn_free(struct mr_realenv *re, struct conn *c)
{
    mr_assert(c->fd < 0);
    if (c->ai_head != NULL) {
        freeaddrinfo(c->ai_head);
    }
    bool removed = g_hash_table_remove(re->conns, &c->id);
    mr_assert(removed);
    mr_assert(re->stats.conns_open > 0);
    re->stats.conns_open--;
    mr_mem_free(&re->mem, c, sizeof(*c));
}

static void conn_close_fd(struct conn *c)
{
    if (c->ssl != NULL) {
        SSL_free(c->ssl); /* the socket BIO does not own the fd */
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd); /* also leaves the epoll set: the fd is not shared */
        c->fd = -1;
    }
    c->registered = false;
    c->events = 0;
}

/* The stream is gone (peer hangup, reset, write error, or a finished close): close
 * the descriptor now and queue the one on_closed. */
static void conn_dead(struct mr_realenv *re, struct conn *c)
{
    mr_assert(c->state != CONN_DEAD);
    /* A handshake the core still waits for ends here, whatever path ended the stream:
     * its on_tls goes first, so the core sees the failure before the close. */
    if ((c->tls == TLS_PLAIN || c->tls == TLS_HANDSHAKE) && !c->close_requested) {
        queue_done(re, DONE_TLS, c->id, c->tls_err != 0 ? c->tls_err : MR_E_CLOSED, NULL, 0);
    }
    conn_close_fd(c);
    c->state = CONN_DEAD;
    queue_done(re, DONE_CLOSED, c->id, 0, NULL, 0);
}

static void mark_dirty(struct mr_realenv *re, struct conn *c)
{
    if (!c->dirty) {
        c->dirty = true;
        g_array_append_val(re->dirty, c->id);
    }
}

/* The interest of an open connection. While the TLS layer is being set up, only the
 * handshake decides what to wait for: reading application bytes then would hand the
 * client's handshake records to the sink as plaintext. */
static uint32_t open_interest(const struct conn *c)
{
    uint32_t want = 0;
    switch (c->tls) {
    case TLS_OFF:
    case TLS_UP:
        if (c->read_enabled || c->ssl_write_wants_read) {
            want |= EPOLLIN | EPOLLRDHUP;
        }
        if (c->want_out || c->ssl_want_write) {
            want |= EPOLLOUT;
        }
        break;
    case TLS_PLAIN:
        want = c->want_out ? EPOLLOUT : 0;
        break;
    case TLS_HANDSHAKE:
        want = c->ssl_want_write ? EPOLLOUT : EPOLLIN | EPOLLRDHUP;
        break;
    case TLS_UNREPORTED:
        break; /* reading resumes when on_tls is delivered, in this turn or the next */
    }
    return want;
}

/* Registers the interest set the connection's state calls for. An fd registered with
 * an empty set still reports EPOLLHUP/EPOLLERR, which is how a paused (read-disabled)
 * connection still learns that its peer reset. */
static void conn_update_events(struct mr_realenv *re, struct conn *c)
{
    if (c->fd < 0) {
        return;
    }
    uint32_t want = 0;
    if (c->state == CONN_OPEN) {
        want = open_interest(c);
    }
    if (c->state == CONN_CONNECTING) {
        want |= EPOLLOUT;
    }
    if (c->registered && want == c->events) {
        return;
    }
    struct epoll_event ev = {.events = want, .data.u64 = (TAG_CONN << TAG_SHIFT) | c->id};
    int op = c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(re->epfd, op, c->fd, &ev) != 0) {
        /* Only ENOMEM/ENOSPC are possible for a valid fd: give up the stream. */
        conn_dead(re, c);
        return;
    }
    c->registered = true;
    c->events = want;
}

static void set_nodelay(int fd)
{
    int one = 1;
    /* Failure only costs latency (Nagle), not correctness. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void peer_name(const struct sockaddr_storage *sa, char *host, size_t host_len,
                      uint16_t *port)
{
    host[0] = '\0';
    *port = 0;
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, (socklen_t)host_len);
        *port = ntohs(in->sin_port);
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, (socklen_t)host_len);
        *port = ntohs(in6->sin6_port);
    }
}

/* FLUSH_WAIT_READ: TLS only, SSL_write needs the peer's bytes first (EPOLLIN). */
enum flush_result { FLUSH_DONE, FLUSH_MORE, FLUSH_BLOCKED, FLUSH_BROKEN, FLUSH_WAIT_READ };

/* One sendmsg over the sink's pending views, at most max bytes; *written says how many
 * went out. MORE: everything peeked was written but the peek was full, so more may be
 * pending. */
static enum flush_result flush_plain(struct mr_realenv *re, struct conn *c, size_t max,
                                     size_t *written)
{
    mr_assert(c->fd >= 0);
    *written = 0;
    if (re->sink == NULL) {
        return FLUSH_DONE;
    }
    struct mr_iov views[MR_OUT_IOV_MAX];
    struct iovec iov[MR_OUT_IOV_MAX];
    size_t n = re->sink->out_peek(re->sink->ctx, c->id, views, MR_OUT_IOV_MAX);
    mr_assert(n <= MR_OUT_IOV_MAX);
    size_t total = 0;
    size_t k = 0;
    for (; k < n && total < max; k++) {
        size_t len = views[k].len < max - total ? views[k].len : max - total;
        iov[k].iov_base = (void *)views[k].base;
        iov[k].iov_len = len;
        total += len;
    }
    if (total == 0) {
        return FLUSH_DONE;
    }
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = k};
    ssize_t w;
    do {
        w = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (w < 0 && errno == EINTR);
    if (w < 0) {
        return errno == EAGAIN || errno == EWOULDBLOCK ? FLUSH_BLOCKED : FLUSH_BROKEN;
    }
    mr_assert((size_t)w <= total);
    re->stats.writes++;
    re->sink->out_consume(re->sink->ctx, c->id, (size_t)w);
    *written = (size_t)w;
    if ((size_t)w < total) {
        return FLUSH_BLOCKED;
    }
    return n == MR_OUT_IOV_MAX && total < max ? FLUSH_MORE : FLUSH_DONE;
}

/* Copies the front of the connection's pending output, up to the scratch size, into
 * re->tls_wbuf. Pending output only shrinks by our out_consume, so after a blocked
 * SSL_write the retry sees the same bytes and at least as many, as OpenSSL requires. */
static size_t tls_coalesce(struct mr_realenv *re, struct conn *c)
{
    struct mr_iov views[MR_OUT_IOV_MAX];
    size_t n = re->sink->out_peek(re->sink->ctx, c->id, views, MR_OUT_IOV_MAX);
    mr_assert(n <= MR_OUT_IOV_MAX);
    size_t len = 0;
    for (size_t i = 0; i < n && len < MR_REALENV_TLS_WRITE_BYTES; i++) {
        size_t take = MR_REALENV_TLS_WRITE_BYTES - len;
        take = views[i].len < take ? views[i].len : take;
        memcpy(re->tls_wbuf + len, views[i].base, take);
        len += take;
    }
    mr_assert(len <= MR_REALENV_TLS_WRITE_BYTES);
    return len;
}

/* SSL_write over the pending output, a scratch buffer at a time, at most
 * MR_REALENV_TLS_WRITES_PER_TURN times. With SSL_MODE_ENABLE_PARTIAL_WRITE a call
 * reports each record it sent, and only those bytes are consumed. */
static enum flush_result flush_tls(struct mr_realenv *re, struct conn *c)
{
    mr_assert(c->tls == TLS_UP);
    mr_assert(c->ssl != NULL);
    if (re->sink == NULL) {
        return FLUSH_DONE;
    }
    for (int i = 0; i < MR_REALENV_TLS_WRITES_PER_TURN; i++) {
        size_t len = tls_coalesce(re, c);
        if (len == 0) {
            return FLUSH_DONE;
        }
        size_t w = 0;
        ERR_clear_error();
        if (SSL_write_ex(c->ssl, re->tls_wbuf, len, &w) == 1) {
            mr_assert(w > 0);
            mr_assert(w <= len);
            re->stats.writes++;
            re->sink->out_consume(re->sink->ctx, c->id, w);
            continue;
        }
        switch (SSL_get_error(c->ssl, 0)) {
        case SSL_ERROR_WANT_WRITE:
            return FLUSH_BLOCKED;
        case SSL_ERROR_WANT_READ:
            /* A TLS 1.3 key update or similar: the peer must speak first. */
            c->ssl_write_wants_read = true;
            return FLUSH_WAIT_READ;
        default:
            return FLUSH_BROKEN;
        }
    }
    return FLUSH_MORE;
}

/* One write attempt with whatever the connection's TLS state allows. Output queued
 * while a handshake runs waits for it: plaintext then would go to a TLS peer. */
static enum flush_result flush_once(struct mr_realenv *re, struct conn *c)
{
    size_t written;
    switch (c->tls) {
    case TLS_OFF:
        return flush_plain(re, c, SIZE_MAX, &written);
    case TLS_UP:
        return flush_tls(re, c);
    case TLS_PLAIN:
    case TLS_HANDSHAKE:
    case TLS_UNREPORTED:
        break;
    }
    return FLUSH_DONE;
}

static void flush_open(struct mr_realenv *re, struct conn *c)
{
    switch (flush_once(re, c)) {
    case FLUSH_DONE:
        if (c->want_out) {
            c->want_out = false;
            conn_update_events(re, c);
        }
        break;
    case FLUSH_MORE:
        /* One write per connection per turn; the rest goes next turn, after other
         * connections had theirs. */
        mark_dirty(re, c);
        break;
    case FLUSH_BLOCKED:
        if (!c->want_out) {
            c->want_out = true;
            re->stats.write_waits++;
            conn_update_events(re, c);
        }
        break;
    case FLUSH_BROKEN:
        conn_dead(re, c);
        break;
    case FLUSH_WAIT_READ:
        conn_update_events(re, c); /* EPOLLIN comes back and marks it dirty */
        break;
    }
}

/* stream_close's second half: best-effort flush without blocking, drop unread input so
 * close(2) sends FIN rather than RST, close. A TLS stream also sends close_notify, once:
 * waiting for the peer's would block. */
static void finish_close(struct mr_realenv *re, struct conn *c)
{
    mr_assert(c->state == CONN_CLOSING);
    for (int i = 0; i < MR_REALENV_CLOSE_WRITES_MAX; i++) {
        if (flush_once(re, c) != FLUSH_MORE) {
            break;
        }
    }
    if (c->tls == TLS_UP) {
        ERR_clear_error();
        (void)SSL_shutdown(c->ssl); /* best effort: the stream closes either way */
        ERR_clear_error();
    }
    for (int i = 0; i < MR_REALENV_CLOSE_DRAINS_MAX; i++) {
        if (recv(c->fd, re->rbuf, MR_REALENV_READ_BYTES, MSG_DONTWAIT) <= 0) {
            break;
        }
    }
    conn_dead(re, c);
}

static void flush_dirty(struct mr_realenv *re)
{
    /* Swap so that connections marked while flushing wait for the next turn. */
    GArray *list = re->dirty;
    re->dirty = re->dirty_spare;
    re->dirty_spare = list;
    for (guint i = 0; i < list->len; i++) {
        struct conn *c = conn_lookup(re, g_array_index(list, uint64_t, i));
        if (c == NULL || !c->dirty) {
            continue;
        }
        c->dirty = false;
        if (c->state == CONN_OPEN && c->tls == TLS_PLAIN) {
            tls_plain_flush(re, c);
        } else if (c->state == CONN_OPEN) {
            flush_open(re, c);
        } else if (c->state == CONN_CLOSING) {
            finish_close(re, c);
        }
    }
    g_array_set_size(list, 0);
}

enum read_status { READ_FULL, READ_AGAIN, READ_EOF, READ_ERROR };

/* Decrypts into rbuf until it is full or OpenSSL has nothing more without waiting.
 * Filling the buffer from several records keeps on_bytes calls as large as plaintext
 * reads (one record holds at most 16 KiB). */
static size_t tls_read(struct mr_realenv *re, struct conn *c, enum read_status *status)
{
    mr_assert(c->tls == TLS_UP);
    size_t got = 0;
    *status = READ_FULL;
    while (got < MR_REALENV_READ_BYTES) {
        size_t n = 0;
        ERR_clear_error();
        if (SSL_read_ex(c->ssl, re->rbuf + got, MR_REALENV_READ_BYTES - got, &n) == 1) {
            got += n;
            continue;
        }
        switch (SSL_get_error(c->ssl, 0)) {
        case SSL_ERROR_WANT_READ:
            *status = READ_AGAIN;
            break;
        case SSL_ERROR_WANT_WRITE:
            /* A post-handshake message needs an answer and the socket is full. */
            *status = READ_AGAIN;
            c->ssl_want_write = true;
            conn_update_events(re, c);
            break;
        case SSL_ERROR_ZERO_RETURN:
            *status = READ_EOF; /* close_notify, or a bare EOF (IGNORE_UNEXPECTED_EOF) */
            break;
        default:
            *status = READ_ERROR;
            break;
        }
        break;
    }
    mr_assert(got <= MR_REALENV_READ_BYTES);
    return got;
}

/* Lists a TLS connection to be read next turn without waiting for epoll: OpenSSL may
 * hold bytes (or an EOF) that the socket will not signal again. */
static void tls_kick(struct mr_realenv *re, struct conn *c)
{
    if (!c->kicked) {
        c->kicked = true;
        g_array_append_val(re->tls_kick, c->id);
    }
}

static void tls_read_ready(struct mr_realenv *re, struct conn *c)
{
    for (int i = 0; i < MR_REALENV_READS_PER_TURN; i++) {
        enum read_status st;
        size_t n = tls_read(re, c, &st);
        if (n > 0) {
            re->stats.reads++;
            if (re->sink != NULL) {
                re->sink->on_bytes(re->sink->ctx, c->id, re->rbuf, n);
            }
            /* Closed: nothing more to read. Paused: read_enable kicks on resume. */
            if (c->state != CONN_OPEN || !c->read_enabled) {
                return;
            }
        }
        switch (st) {
        case READ_FULL:
            continue;
        case READ_AGAIN:
            return;
        case READ_EOF:
            /* As for plaintext: the reply to the peer's last request still goes out. */
            c->state = CONN_CLOSING;
            mark_dirty(re, c);
            return;
        case READ_ERROR:
            conn_dead(re, c);
            return;
        }
    }
    tls_kick(re, c); /* the per-turn bound stopped us, maybe mid-record */
}

static void read_ready(struct mr_realenv *re, struct conn *c)
{
    if (c->tls == TLS_UP) {
        tls_read_ready(re, c);
        return;
    }
    mr_assert(c->tls == TLS_OFF);
    for (int i = 0; i < MR_REALENV_READS_PER_TURN; i++) {
        ssize_t n = read(c->fd, re->rbuf, MR_REALENV_READ_BYTES);
        if (n > 0) {
            re->stats.reads++;
            if (re->sink != NULL) {
                re->sink->on_bytes(re->sink->ctx, c->id, re->rbuf, (size_t)n);
            }
            /* The callback may have closed or paused the connection, or started TLS on
             * it (a route client upgrades after the server's INFO): what follows in the
             * socket then is the handshake, not plaintext for the sink. */
            if (c->state != CONN_OPEN || !c->read_enabled || c->tls != TLS_OFF) {
                return;
            }
            if ((size_t)n < MR_REALENV_READ_BYTES) {
                return;
            }
            continue;
        }
        if (n == 0) {
            /* EOF: the client is leaving, but as in nats-server what it asked for
             * before (a PONG after "PING" and shutdown(SHUT_WR)) is still flushed, so
             * this is a close like stream_close, not a reset. */
            c->state = CONN_CLOSING;
            mark_dirty(re, c);
            return;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            conn_dead(re, c);
        }
        return;
    }
}

/* Makes an outbound connection usable and reports it (from the loop only). */
static void connect_up(struct mr_realenv *re, struct conn *c)
{
    mr_assert(c->state == CONN_CONNECTING);
    mr_assert(c->fd >= 0);
    freeaddrinfo(c->ai_head);
    c->ai_head = NULL;
    c->ai_next = NULL;
    set_nodelay(c->fd);
    /* Named like an accepted peer, so a client-side TLS failure logs whom it was with. */
    struct sockaddr_storage sa;
    socklen_t sa_len = sizeof(sa);
    if (getpeername(c->fd, (struct sockaddr *)&sa, &sa_len) == 0) {
        char host[INET6_ADDRSTRLEN];
        uint16_t port;
        peer_name(&sa, host, sizeof(host), &port);
        snprintf(c->peer, sizeof(c->peer), "%s:%u", host, (unsigned)port);
    }
    c->state = CONN_OPEN;
    conn_update_events(re, c);
    if (c->state != CONN_OPEN) {
        return; /* could not register: on_closed is queued instead */
    }
    /* Output the core queued before the stream was up goes out this turn. */
    mark_dirty(re, c);
    if (re->sink != NULL) {
        re->sink->on_connected(re->sink->ctx, c->id, 0);
    }
}

/* Tries the remaining candidate addresses. Returns 1 in progress (EPOLLOUT armed),
 * 0 connected already (not registered yet), or a negative mr_err when no candidate is
 * left: the last failure's, or err when there was none to try. */
static int connect_next(struct mr_realenv *re, struct conn *c, int err)
{
    mr_assert(c->fd < 0);
    while (c->ai_next != NULL) {
        struct addrinfo *ai = c->ai_next;
        c->ai_next = ai->ai_next;
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
        if (fd < 0) {
            err = mr_oserr_from_errno(errno);
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            c->fd = fd;
            return 0;
        }
        if (errno == EINPROGRESS) {
            struct epoll_event ev = {.events = EPOLLOUT,
                                     .data.u64 = (TAG_CONN << TAG_SHIFT) | c->id};
            if (epoll_ctl(re->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
                c->fd = fd;
                c->registered = true;
                c->events = EPOLLOUT;
                return 1;
            }
        }
        err = mr_oserr_from_errno(errno);
        close(fd);
    }
    return err;
}

/* Delivers a failed connect from the loop: on_connected(error), then the id dies. */
static void connect_failed(struct mr_realenv *re, struct conn *c, int err)
{
    mr_assert(err < 0);
    conn_close_fd(c);
    uint64_t id = c->id;
    c->state = CONN_DEAD;
    conn_free(re, c);
    if (re->sink != NULL) {
        re->sink->on_connected(re->sink->ctx, id, err);
    }
}

static void connect_ready(struct mr_realenv *re, struct conn *c)
{
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) {
        soerr = errno;
    }
    if (soerr == EINPROGRESS) {
        return; /* spurious wakeup */
    }
    if (soerr == 0) {
        connect_up(re, c);
        return;
    }
    conn_close_fd(c);
    /* The next candidate may work (localhost: ::1 refused, then 127.0.0.1). */
    int rc = connect_next(re, c, mr_oserr_from_errno(soerr));
    if (rc == 0) {
        connect_up(re, c);
    } else if (rc < 0) {
        connect_failed(re, c, rc);
    }
}

static void conn_event(struct mr_realenv *re, struct conn *c, uint32_t evs)
{
    if (c->state == CONN_CONNECTING) {
        if (c->fd >= 0) {
            connect_ready(re, c);
        }
        return;
    }
    if (c->state != CONN_OPEN) {
        return; /* CLOSING: closed at the end of the turn; DEAD: a stale event */
    }
    if (c->tls != TLS_OFF && c->tls != TLS_UP) {
        tls_setup_event(re, c, evs);
        return;
    }
    if ((evs & EPOLLOUT) && c->want_out) {
        mark_dirty(re, c);
    }
    if ((evs & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && c->ssl_write_wants_read) {
        c->ssl_write_wants_read = false;
        conn_update_events(re, c);
        mark_dirty(re, c);
    }
    if ((evs & EPOLLOUT) && c->ssl_want_write) {
        /* The SSL_read that wanted to write can go on now. */
        c->ssl_want_write = false;
        conn_update_events(re, c);
        if (c->read_enabled) {
            tls_kick(re, c);
        }
    }
    if (evs & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        /* Read first even on a hangup: the peer's last bytes (a PUB before it closed)
         * are still in the socket and read() reports the EOF or error after them. */
        if (c->read_enabled) {
            read_ready(re, c);
        } else if (evs & (EPOLLHUP | EPOLLERR)) {
            conn_dead(re, c);
        }
    }
}

/* ----------------------------------------------------------------------------------
 * TLS: the handshake (server or client side), and its deadlines
 * ---------------------------------------------------------------------------------- */

/* Total bytes the sink has pending for c, as far as one peek shows. */
static size_t pending_total(struct mr_realenv *re, struct conn *c)
{
    if (re->sink == NULL) {
        return 0;
    }
    struct mr_iov views[MR_OUT_IOV_MAX];
    size_t n = re->sink->out_peek(re->sink->ctx, c->id, views, MR_OUT_IOV_MAX);
    mr_assert(n <= MR_OUT_IOV_MAX);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += views[i].len;
    }
    return total;
}

/* OpenSSL's reason for the oldest error in the queue (the cause; later entries say
 * which call gave up), or fallback. Clears the queue. */
static void tls_reason(char *out, size_t out_len, const char *fallback)
{
    unsigned long e = ERR_peek_error();
    const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
    snprintf(out, out_len, "%s", reason != NULL ? reason : fallback);
    ERR_clear_error();
}

/* Maps a failed handshake step to a status and a reason for the log. A certificate we
 * refused gets the verifier's cause too ("certificate verify failed: hostname
 * mismatch"): OpenSSL's queue alone does not say which check failed. */
static int tls_handshake_error(SSL *ssl, int ssl_err, int sys_errno, char *reason,
                               size_t reason_len)
{
    if (ssl_err == SSL_ERROR_ZERO_RETURN) {
        snprintf(reason, reason_len, "EOF");
        ERR_clear_error();
        return MR_E_CLOSED;
    }
    if (ssl_err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        snprintf(reason, reason_len, "%s", sys_errno != 0 ? strerror(sys_errno) : "EOF");
        return sys_errno != 0 ? mr_oserr_from_errno(sys_errno) : MR_E_CLOSED;
    }
    char cause[MR_ERRMSG_MAX / 2]; /* leaves room for the verifier's cause */
    tls_reason(cause, sizeof(cause), "TLS protocol error");
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
        snprintf(reason, reason_len, "%s: %s", cause, X509_verify_cert_error_string(verify));
    } else {
        snprintf(reason, reason_len, "%s", cause);
    }
    return MR_E_IO;
}

/* Ends a handshake that failed: logs it as nats-server does, then closes; conn_dead
 * queues the on_tls(err) ahead of the on_closed. */
static void tls_fail(struct mr_realenv *re, struct conn *c, int err, const char *reason)
{
    mr_assert(err < 0);
    mr_assert(c->tls == TLS_PLAIN || c->tls == TLS_HANDSHAKE);
    char msg[MR_ERRMSG_MAX + sizeof(c->peer) + 32];
    snprintf(msg, sizeof(msg), "%s - TLS %shandshake error: %s", c->peer,
             c->tls_client ? "client " : "", reason);
    log_line(re, "ERR", msg);
    re->stats.tls_failures++;
    c->tls_err = err;
    conn_dead(re, c);
}

/* The verified peer certificate's subject (the client's, or as a client the server's)
 * in RFC 2253 form ("CN=a,O=b", UTF-8 kept as is, as Go prints it), NUL-ended in memory
 * the done queue owns; NULL when the handshake asked for no certificate or (insecure)
 * the certificate did not verify. */
static uint8_t *tls_subject(struct mr_realenv *re, struct conn *c, size_t *len)
{
    *len = 0;
    X509 *cert = SSL_get0_peer_certificate(c->ssl);
    if (cert == NULL || SSL_get_verify_result(c->ssl) != X509_V_OK) {
        return NULL;
    }
    BIO *bio = BIO_new(BIO_s_mem());
    mr_assert(bio != NULL); /* only real OOM fails */
    unsigned long flags = XN_FLAG_RFC2253 & ~(unsigned long)ASN1_STRFLGS_ESC_MSB;
    (void)X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, flags); /* into memory */
    char *text = NULL;
    long n = BIO_get_mem_data(bio, &text);
    size_t keep = n > 0 ? (size_t)n : 0;
    keep = keep < MR_REALENV_TLS_SUBJECT_MAX - 1 ? keep : MR_REALENV_TLS_SUBJECT_MAX - 1;
    uint8_t *data = mr_mem_alloc(&re->mem, keep + 1);
    mr_assert(data != NULL);
    if (keep > 0) {
        memcpy(data, text, keep);
    }
    data[keep] = '\0';
    BIO_free(bio);
    *len = keep + 1;
    return data;
}

static void tls_established(struct mr_realenv *re, struct conn *c)
{
    mr_assert(c->tls == TLS_HANDSHAKE);
    c->tls = TLS_UNREPORTED;
    c->ssl_want_write = false;
    re->stats.tls_handshakes++;
    size_t len;
    uint8_t *subject = tls_subject(re, c, &len);
    /* Queued before anything else can close the stream, so on_tls precedes on_closed. */
    queue_done(re, DONE_TLS, c->id, 0, subject, len);
    conn_update_events(re, c);
}

/* One step of the non-blocking handshake, in the role the SSL object was given (accept
 * or connect state); waits for what OpenSSL asks for. */
static void tls_handshake(struct mr_realenv *re, struct conn *c)
{
    mr_assert(c->tls == TLS_HANDSHAKE);
    mr_assert(c->ssl != NULL);
    ERR_clear_error();
    errno = 0;
    int rc = SSL_do_handshake(c->ssl);
    int sys_errno = errno;
    if (rc == 1) {
        tls_established(re, c);
        return;
    }
    int e = SSL_get_error(c->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c->ssl_want_write = e == SSL_ERROR_WANT_WRITE;
        conn_update_events(re, c);
        return;
    }
    char reason[MR_ERRMSG_MAX];
    int err = tls_handshake_error(c->ssl, e, sys_errno, reason, sizeof(reason));
    tls_fail(re, c, err, reason);
}

/* TLS_PLAIN at the end of a turn: writes the plaintext that was pending when the first
 * flush after stream_start_tls ran (measured once), then starts the handshake. With
 * nothing pending (handshake first) it starts at once. */
static void tls_plain_flush(struct mr_realenv *re, struct conn *c)
{
    mr_assert(c->tls == TLS_PLAIN);
    mr_assert(c->state == CONN_OPEN);
    if (c->tls_plain_left == SIZE_MAX) {
        c->tls_plain_left = pending_total(re, c);
    }
    if (c->tls_plain_left > 0) {
        size_t written = 0;
        enum flush_result r = flush_plain(re, c, c->tls_plain_left, &written);
        mr_assert(written <= c->tls_plain_left);
        c->tls_plain_left -= written;
        if (r == FLUSH_BROKEN) {
            conn_dead(re, c);
            return;
        }
        if (r == FLUSH_BLOCKED) {
            if (!c->want_out) {
                c->want_out = true;
                re->stats.write_waits++;
                conn_update_events(re, c);
            }
            return;
        }
        if (r == FLUSH_DONE && written == 0) {
            c->tls_plain_left = 0; /* the sink dropped its output: nothing left to send */
        }
        if (c->tls_plain_left > 0) {
            mark_dirty(re, c);
            return;
        }
    }
    c->want_out = false;
    c->tls = TLS_HANDSHAKE;
    tls_handshake(re, c);
}

/* An epoll event while the TLS layer is being set up. */
static void tls_setup_event(struct mr_realenv *re, struct conn *c, uint32_t evs)
{
    switch (c->tls) {
    case TLS_PLAIN:
        if (evs & (EPOLLHUP | EPOLLERR)) {
            tls_fail(re, c, MR_E_CLOSED, "connection reset");
            return;
        }
        if ((evs & EPOLLOUT) && c->want_out) {
            mark_dirty(re, c);
        }
        break;
    case TLS_HANDSHAKE:
        /* Whatever woke us (data, writability, hangup), the handshake finds out. */
        tls_handshake(re, c);
        break;
    case TLS_UNREPORTED:
        break; /* a hangup is found by the first read after on_tls */
    case TLS_OFF:
    case TLS_UP:
        mr_assert(0);
    }
}

/* Closes the handshakes that ran past their deadline, and forgets listed connections
 * that finished or died. O(handshakes in progress) per turn. */
static void expire_handshakes(struct mr_realenv *re)
{
    if (re->tls_pending->len == 0) {
        return;
    }
    uint64_t now = env_now_ns(re);
    guint keep = 0;
    for (guint i = 0; i < re->tls_pending->len; i++) {
        uint64_t id = g_array_index(re->tls_pending, uint64_t, i);
        struct conn *c = conn_lookup(re, id);
        if (c == NULL || c->state == CONN_DEAD ||
            (c->tls != TLS_PLAIN && c->tls != TLS_HANDSHAKE)) {
            continue;
        }
        if (c->state == CONN_OPEN && now >= c->tls_deadline_ns) {
            tls_fail(re, c, MR_E_TIMEOUT, "timeout");
            continue;
        }
        g_array_index(re->tls_pending, uint64_t, keep++) = id;
    }
    g_array_set_size(re->tls_pending, keep);
}

/* The earliest handshake deadline, or UINT64_MAX. */
static uint64_t next_handshake_deadline(struct mr_realenv *re)
{
    uint64_t next = UINT64_MAX;
    for (guint i = 0; i < re->tls_pending->len; i++) {
        struct conn *c = conn_lookup(re, g_array_index(re->tls_pending, uint64_t, i));
        if (c != NULL && c->state == CONN_OPEN &&
            (c->tls == TLS_PLAIN || c->tls == TLS_HANDSHAKE) && c->tls_deadline_ns < next) {
            next = c->tls_deadline_ns;
        }
    }
    return next;
}

/* Reads the TLS connections kicked last turn. Swapped like the dirty list, so a read
 * that stops at its bound again waits for the next turn. */
static void run_kicks(struct mr_realenv *re)
{
    GArray *list = re->tls_kick;
    re->tls_kick = re->tls_kick_spare;
    re->tls_kick_spare = list;
    for (guint i = 0; i < list->len; i++) {
        struct conn *c = conn_lookup(re, g_array_index(list, uint64_t, i));
        if (c == NULL) {
            continue;
        }
        c->kicked = false;
        if (c->state == CONN_OPEN && c->tls == TLS_UP && c->read_enabled) {
            tls_read_ready(re, c);
        }
    }
    g_array_set_size(list, 0);
}

/* ----------------------------------------------------------------------------------
 * Listeners
 * ---------------------------------------------------------------------------------- */

static struct listener *listener_by_key(struct mr_realenv *re, uint64_t key)
{
    for (guint i = 0; i < re->listeners->len; i++) {
        struct listener *l = g_ptr_array_index(re->listeners, i);
        if (l->key == key && l->fd >= 0) {
            return l;
        }
    }
    return NULL;
}

static int listener_interest(struct mr_realenv *re, struct listener *l, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.u64 = (TAG_LISTENER << TAG_SHIFT) | l->key};
    return epoll_ctl(re->epfd, EPOLL_CTL_MOD, l->fd, &ev);
}

static void accept_pause(struct mr_realenv *re, struct listener *l, int e)
{
    char msg[MR_ERRMSG_MAX];
    snprintf(msg, sizeof(msg), "Temporary error on accept: %s, pausing %llu ms", strerror(e),
             (unsigned long long)(MR_REALENV_ACCEPT_PAUSE_NS / MR_NS_PER_MS));
    log_line(re, "WRN", msg);
    /* Level-triggered: without pausing, the pending connection would wake every turn. */
    if (listener_interest(re, l, 0) == 0) {
        l->paused = true;
        l->paused_until_ns = env_now_ns(re) + MR_REALENV_ACCEPT_PAUSE_NS;
    }
}

static void accept_ready(struct mr_realenv *re, struct listener *l)
{
    for (int i = 0; i < MR_REALENV_ACCEPTS_PER_TURN && l->fd >= 0; i++) {
        struct sockaddr_storage sa;
        socklen_t sa_len = sizeof(sa);
        int fd = accept4(l->fd, (struct sockaddr *)&sa, &sa_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) {
                continue;
            }
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                accept_pause(re, l, errno);
            }
            return; /* EAGAIN: the backlog is empty */
        }
        set_nodelay(fd);
        struct conn *c = conn_new(re, fd, CONN_OPEN);
        conn_update_events(re, c);
        if (c->state != CONN_OPEN) {
            continue; /* could not register; its on_closed is queued */
        }
        re->stats.accepts++;
        char host[INET6_ADDRSTRLEN];
        uint16_t port;
        peer_name(&sa, host, sizeof(host), &port);
        snprintf(c->peer, sizeof(c->peer), "%s:%u", host, (unsigned)port);
        if (re->sink != NULL) {
            re->sink->on_accept(re->sink->ctx, l->id, c->id, host, port);
        }
    }
}

static void resume_listeners(struct mr_realenv *re)
{
    uint64_t now = 0;
    for (guint i = 0; i < re->listeners->len; i++) {
        struct listener *l = g_ptr_array_index(re->listeners, i);
        if (!l->paused || l->fd < 0) {
            continue;
        }
        now = now == 0 ? env_now_ns(re) : now;
        if (now >= l->paused_until_ns && listener_interest(re, l, EPOLLIN) == 0) {
            l->paused = false;
        }
    }
}

/* Frees unlistened listeners; only between dispatches, never while accept_ready runs. */
static void reap_listeners(struct mr_realenv *re)
{
    for (guint i = re->listeners->len; i > 0; i--) {
        struct listener *l = g_ptr_array_index(re->listeners, i - 1);
        if (l->fd < 0) {
            g_ptr_array_remove_index(re->listeners, i - 1);
            mr_mem_free(&re->mem, l, sizeof(*l));
        }
    }
}

/* Binds one candidate address. Returns the listening fd or a negative mr_err. */
static int listen_one(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    if (fd < 0) {
        return mr_oserr_from_errno(errno);
    }
    int one = 1;
    /* A restarted server must rebind while old connections sit in TIME_WAIT. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, MR_REALENV_BACKLOG) != 0) {
        int e = errno;
        close(fd);
        return e == EADDRINUSE ? MR_E_ADDR_IN_USE : MR_E_ADDR;
    }
    return fd;
}

static int env_listen(void *ctx, uint64_t listener_id, const char *host, uint16_t port,
                      uint16_t *bound_port)
{
    struct mr_realenv *re = ctx;
    for (guint i = 0; i < re->listeners->len; i++) {
        struct listener *l = g_ptr_array_index(re->listeners, i);
        mr_assert(l->fd < 0 || l->id != listener_id);
    }
    char port_str[8];
    snprintf(port_str, sizeof(port_str), "%u", (unsigned)port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
    };
    struct addrinfo *res = NULL;
    if (getaddrinfo(host != NULL && host[0] != '\0' ? host : NULL, port_str, &hints, &res) != 0) {
        return MR_E_ADDR;
    }
    /* IPv4 first, as Go's net.Listen does for a name like "localhost". */
    int fd = MR_E_ADDR;
    int first_err = 0;
    for (int pass = 0; pass < 2 && fd < 0; pass++) {
        for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
            if ((ai->ai_family == AF_INET) != (pass == 0)) {
                continue;
            }
            fd = listen_one(ai);
            if (fd < 0 && first_err == 0) {
                first_err = fd;
            }
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        return first_err != 0 ? first_err : MR_E_ADDR;
    }
    struct sockaddr_storage sa;
    socklen_t sa_len = sizeof(sa);
    int rc = getsockname(fd, (struct sockaddr *)&sa, &sa_len);
    mr_assert(rc == 0);
    char name[INET6_ADDRSTRLEN];
    peer_name(&sa, name, sizeof(name), bound_port);

    struct listener *l = mr_mem_alloc(&re->mem, sizeof(*l));
    mr_assert(l != NULL);
    l->id = listener_id;
    l->key = re->listener_key_next++;
    l->fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (TAG_LISTENER << TAG_SHIFT) | l->key};
    if (epoll_ctl(re->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        mr_mem_free(&re->mem, l, sizeof(*l));
        return MR_E_NOMEM;
    }
    g_ptr_array_add(re->listeners, l);
    return 0;
}

static void env_unlisten(void *ctx, uint64_t listener_id)
{
    struct mr_realenv *re = ctx;
    for (guint i = 0; i < re->listeners->len; i++) {
        struct listener *l = g_ptr_array_index(re->listeners, i);
        if (l->id == listener_id && l->fd >= 0) {
            close(l->fd);
            l->fd = -1; /* freed by reap_listeners: accept_ready may be running */
        }
    }
}

/* ----------------------------------------------------------------------------------
 * Streams (struct mr_env)
 * ---------------------------------------------------------------------------------- */

static int env_connect(void *ctx, const char *host, uint16_t port, uint64_t *conn_id)
{
    struct mr_realenv *re = ctx;
    struct conn *c = conn_new(re, -1, CONN_CONNECTING);
    *conn_id = c->id;
    char port_str[8];
    snprintf(port_str, sizeof(port_str), "%u", (unsigned)port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV,
    };
    /* Name resolution blocks; routes name hosts rarely and resolve once per attempt. */
    if (getaddrinfo(host, port_str, &hints, &c->ai_head) != 0) {
        c->ai_head = NULL;
        queue_done(re, DONE_CONNECTED, c->id, MR_E_ADDR, NULL, 0);
        return 0;
    }
    c->ai_next = c->ai_head;
    int rc = connect_next(re, c, MR_E_ADDR);
    if (rc <= 0) {
        /* Connected or refused at once (loopback can do both): still reported later. */
        queue_done(re, DONE_CONNECTED, c->id, rc, NULL, 0);
    }
    return 0;
}

static void env_stream_want_write(void *ctx, uint64_t conn_id)
{
    struct mr_realenv *re = ctx;
    struct conn *c = conn_lookup(re, conn_id);
    /* A connection that waits for EPOLLOUT is marked by the event; one still
     * connecting is marked when it comes up; dead ids are ignored. */
    if (c != NULL && c->state == CONN_OPEN && !c->want_out) {
        mark_dirty(re, c);
    }
}

static void env_stream_close(void *ctx, uint64_t conn_id)
{
    struct mr_realenv *re = ctx;
    struct conn *c = conn_lookup(re, conn_id);
    if (c == NULL) {
        return;
    }
    switch (c->state) {
    case CONN_CONNECTING:
        /* Closing before the stream is up: on_closed, and no on_connected. */
        c->close_requested = true;
        conn_dead(re, c);
        break;
    case CONN_OPEN:
        /* The flush happens at the end of the turn, with every other write, so the
         * sink is never asked for its output inside its own call. */
        c->close_requested = true;
        c->state = CONN_CLOSING;
        mark_dirty(re, c);
        break;
    case CONN_CLOSING:
    case CONN_DEAD:
        break;
    }
}

static void env_stream_read_enable(void *ctx, uint64_t conn_id, int enable)
{
    struct mr_realenv *re = ctx;
    struct conn *c = conn_lookup(re, conn_id);
    if (c == NULL || c->state == CONN_CLOSING || c->state == CONN_DEAD) {
        return;
    }
    c->read_enabled = enable != 0;
    conn_update_events(re, c);
    if (c->read_enabled && c->tls == TLS_UP) {
        tls_kick(re, c); /* OpenSSL may hold bytes the socket will not signal again */
    }
}

static struct tls_ctx *tls_ctx_find(struct mr_realenv *re, uint64_t tls_id)
{
    for (guint i = 0; i < re->tls_ctxs->len; i++) {
        struct tls_ctx *t = g_ptr_array_index(re->tls_ctxs, i);
        if (t->id == tls_id) {
            return t;
        }
    }
    return NULL;
}

static void tls_ctx_remove(struct mr_realenv *re, struct tls_ctx *t)
{
    bool removed = g_ptr_array_remove(re->tls_ctxs, t);
    mr_assert(removed);
    SSL_CTX_free(t->ssl_ctx); /* sessions in progress hold their own reference */
    mr_mem_free(&re->mem, t, sizeof(*t));
}

/* A file OpenSSL should load must at least open; errno says why not more plainly than
 * OpenSSL's queue does. */
static int tls_file_check(const char *what, const char *path, char *errmsg, size_t errmsg_len)
{
    if (path[0] == '\0') {
        snprintf(errmsg, errmsg_len, "%s not set", what);
        return MR_E_INVAL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_errmsg(errmsg, errmsg_len, what, path, errno);
        return MR_E_INVAL;
    }
    close(fd);
    return 0;
}

/* "what path: OpenSSL's reason". */
static int tls_load_error(const char *what, const char *path, char *errmsg, size_t errmsg_len)
{
    char reason[MR_ERRMSG_MAX];
    tls_reason(reason, sizeof(reason), "unknown error");
    snprintf(errmsg, errmsg_len, "%s %s: %s", what, path, reason);
    return MR_E_INVAL;
}

/* Trust and client certificates: the CA file, or without one the system's roots when
 * anything will be verified, a client's certificate (verify) or, as a client, a
 * server's (unless insecure); Go's TLS, and so nats-server, does the same. verify
 * demands a client certificate that chains to them (nats-server's tls verify:
 * RequireAndVerifyClientCert); client handshakes set their own mode per session. */
static int tls_ctx_verify(SSL_CTX *sc, const struct mr_tls_opts *o, char *errmsg,
                          size_t errmsg_len)
{
    bool verify = o->verify || o->verify_and_map;
    if (o->ca_file[0] != '\0') {
        if (SSL_CTX_load_verify_locations(sc, o->ca_file, NULL) != 1) {
            return tls_load_error("cannot load TLS CA file", o->ca_file, errmsg, errmsg_len);
        }
        /* Named in the CertificateRequest, so a client with several certificates picks
         * the right one. Takes ownership; NULL only costs that hint. */
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->ca_file);
        if (names != NULL) {
            SSL_CTX_set_client_CA_list(sc, names);
        }
    } else if ((verify || !o->insecure) && SSL_CTX_set_default_verify_paths(sc) != 1) {
        return tls_load_error("cannot load the system's CA certificates", "", errmsg,
                              errmsg_len);
    }
    if (verify) {
        SSL_CTX_set_verify(sc, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    ERR_clear_error();
    return 0;
}

/* Whether opts name a certificate: cert_file and key_file both, or neither (a context
 * only for client handshakes that present none, as nats-server allows). */
static int tls_ctx_files_check(const struct mr_tls_opts *o, bool *has_cert, char *errmsg,
                               size_t errmsg_len)
{
    *has_cert = o->cert_file[0] != '\0' || o->key_file[0] != '\0';
    int rc = 0;
    if (*has_cert) {
        rc = tls_file_check("TLS certificate file", o->cert_file, errmsg, errmsg_len);
    }
    if (rc == 0 && *has_cert) {
        rc = tls_file_check("TLS key file", o->key_file, errmsg, errmsg_len);
    }
    if (rc == 0 && o->ca_file[0] != '\0') {
        rc = tls_file_check("TLS CA file", o->ca_file, errmsg, errmsg_len);
    }
    return rc;
}

/* Builds an SSL_CTX from opts for both roles (TLS_method: the SSL object's accept or
 * connect state picks one): TLS 1.2 or later (as nats-server), partial writes and
 * moving write buffers (see flush_tls), no renegotiation, a bare EOF read as a close
 * (peers rarely send close_notify). */
static int tls_ctx_build(const struct mr_tls_opts *o, SSL_CTX **out, bool *has_cert,
                         char *errmsg, size_t errmsg_len)
{
    *out = NULL;
    int rc = tls_ctx_files_check(o, has_cert, errmsg, errmsg_len);
    if (rc != 0) {
        return rc;
    }
    ERR_clear_error();
    SSL_CTX *sc = SSL_CTX_new(TLS_method());
    if (sc == NULL) {
        return tls_load_error("cannot create a TLS context for", o->cert_file, errmsg,
                              errmsg_len);
    }
    (void)SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION); /* a valid constant */
    SSL_CTX_set_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(sc, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* Session resumption with client certificates requires a context id. */
    static const unsigned char sid_ctx[] = "meridian";
    (void)SSL_CTX_set_session_id_context(sc, sid_ctx, sizeof(sid_ctx) - 1); /* fits */
    if (!*has_cert) {
        rc = tls_ctx_verify(sc, o, errmsg, errmsg_len);
    } else if (SSL_CTX_use_certificate_chain_file(sc, o->cert_file) != 1) {
        rc = tls_load_error("cannot load TLS certificate file", o->cert_file, errmsg,
                            errmsg_len);
    } else if (SSL_CTX_use_PrivateKey_file(sc, o->key_file, SSL_FILETYPE_PEM) != 1) {
        rc = tls_load_error("cannot load TLS key file", o->key_file, errmsg, errmsg_len);
    } else if (SSL_CTX_check_private_key(sc) != 1) {
        ERR_clear_error();
        snprintf(errmsg, errmsg_len, "TLS key file %s does not match certificate file %s",
                 o->key_file, o->cert_file);
        rc = MR_E_INVAL;
    } else {
        rc = tls_ctx_verify(sc, o, errmsg, errmsg_len);
    }
    if (rc != 0) {
        SSL_CTX_free(sc);
        return rc;
    }
    *out = sc;
    return 0;
}

static int env_tls_configure(void *ctx, uint64_t tls_id, const struct mr_tls_opts *opts,
                             char *errmsg, size_t errmsg_len)
{
    struct mr_realenv *re = ctx;
    mr_assert(opts != NULL);
    char scratch[MR_ERRMSG_MAX];
    if (errmsg == NULL || errmsg_len == 0) {
        errmsg = scratch;
        errmsg_len = sizeof(scratch);
    }
    errmsg[0] = '\0';
    struct tls_ctx *t = tls_ctx_find(re, tls_id);
    if (!opts->enabled) {
        if (t != NULL) {
            tls_ctx_remove(re, t);
        }
        return 0;
    }
    if (t == NULL && re->tls_ctxs->len >= MR_REALENV_TLS_CTX_MAX) {
        snprintf(errmsg, errmsg_len, "too many TLS configurations (at most %d)",
                 MR_REALENV_TLS_CTX_MAX);
        return MR_E_LIMIT;
    }
    SSL_CTX *sc;
    bool has_cert;
    int rc = tls_ctx_build(opts, &sc, &has_cert, errmsg, errmsg_len);
    if (rc != 0) {
        return rc;
    }
    if (t == NULL) {
        t = mr_mem_alloc(&re->mem, sizeof(*t));
        mr_assert(t != NULL);
        t->id = tls_id;
        g_ptr_array_add(re->tls_ctxs, t);
    } else {
        /* Reconfiguring (a reload) applies to new handshakes; SSL objects already made
         * keep their own reference to the old context. */
        SSL_CTX_free(t->ssl_ctx);
    }
    t->ssl_ctx = sc;
    t->timeout_ns = opts->timeout_ns != 0 ? opts->timeout_ns : MR_REALENV_TLS_TIMEOUT_DEFAULT_NS;
    t->has_cert = has_cert;
    t->insecure = opts->insecure;
    return 0;
}

/* What stream_start_tls and stream_start_tls_client share: the connection enters
 * TLS_PLAIN with its handshake deadline and an SSL object on its socket. Returns the
 * connection and its context, or NULL when the call is ignored (an id that is dead,
 * closing or still connecting) or the start already failed (tls_fail: on_tls, then
 * on_closed, follow). */
static struct conn *tls_begin(struct mr_realenv *re, uint64_t conn_id, uint64_t tls_id,
                              bool client, const struct tls_ctx **ctx_out)
{
    struct conn *c = conn_lookup(re, conn_id);
    if (c == NULL || c->state != CONN_OPEN) {
        return NULL;
    }
    mr_assert(c->tls == TLS_OFF); /* once per connection */
    mr_assert(c->ssl == NULL);
    const struct tls_ctx *t = tls_ctx_find(re, tls_id);
    c->tls = TLS_PLAIN;
    c->tls_client = client;
    c->tls_plain_left = SIZE_MAX;
    c->tls_deadline_ns = env_now_ns(re) + (t != NULL ? t->timeout_ns
                                                     : MR_REALENV_TLS_TIMEOUT_DEFAULT_NS);
    g_array_append_val(re->tls_pending, c->id);
    if (t == NULL) {
        tls_fail(re, c, MR_E_INVAL, "no TLS configuration with this id");
        return NULL;
    }
    ERR_clear_error();
    c->ssl = SSL_new(t->ssl_ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        char reason[MR_ERRMSG_MAX];
        tls_reason(reason, sizeof(reason), "cannot create a TLS session");
        tls_fail(re, c, MR_E_NOMEM, reason);
        return NULL;
    }
    *ctx_out = t;
    return c;
}

/* The end of both starts. Stop reading: what the peer sends next is its handshake. The
 * plaintext goes out and the handshake starts at the end of the turn. */
static void tls_begin_done(struct mr_realenv *re, struct conn *c)
{
    mr_assert(c->tls == TLS_PLAIN);
    mr_assert(c->ssl != NULL);
    conn_update_events(re, c);
    if (c->state == CONN_OPEN) {
        mark_dirty(re, c);
    }
}

/* Ignored for an id that is dead or closing, or an outbound stream not up yet. */
static void env_stream_start_tls(void *ctx, uint64_t conn_id, uint64_t tls_id)
{
    struct mr_realenv *re = ctx;
    const struct tls_ctx *t = NULL;
    struct conn *c = tls_begin(re, conn_id, tls_id, false, &t);
    if (c == NULL) {
        return;
    }
    if (!t->has_cert) {
        tls_fail(re, c, MR_E_INVAL, "the TLS configuration has no certificate to serve");
        return;
    }
    SSL_set_accept_state(c->ssl);
    tls_begin_done(re, c);
}

/* Points the client session at server_name: an IP address literal must be in the
 * certificate's IP SANs; a host name must match a DNS SAN and is sent as SNI. As in Go
 * (so a certificate nats-server accepts is accepted here): wildcards match one whole
 * leftmost label, and the subject's CN is never read as a name. check false (insecure)
 * sends SNI only. Returns false if OpenSSL refuses the name (over 255 bytes, say). */
static bool tls_client_name(SSL *ssl, const char *server_name, bool check)
{
    unsigned char addr[sizeof(struct in6_addr)];
    bool ip = inet_pton(AF_INET, server_name, addr) == 1 ||
              inet_pton(AF_INET6, server_name, addr) == 1;
    if (ip) {
        /* RFC 6066 section 3: SNI never carries a literal address. */
        return !check || X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name) == 1;
    }
    if (SSL_set_tlsext_host_name(ssl, server_name) != 1) {
        return false;
    }
    if (!check) {
        return true;
    }
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
                               X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    return SSL_set1_host(ssl, server_name) == 1;
}

/* Ignored like stream_start_tls; see realenv.h for what the client side checks. */
static void env_stream_start_tls_client(void *ctx, uint64_t conn_id, uint64_t tls_id,
                                        const char *server_name)
{
    struct mr_realenv *re = ctx;
    const struct tls_ctx *t = NULL;
    struct conn *c = tls_begin(re, conn_id, tls_id, true, &t);
    if (c == NULL) {
        return;
    }
    SSL_set_connect_state(c->ssl);
    /* Per session: the context's own mode is the server side's (verify may demand client
     * certificates), which means nothing to a client. */
    SSL_set_verify(c->ssl, t->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    if (server_name != NULL && server_name[0] != '\0' &&
        !tls_client_name(c->ssl, server_name, !t->insecure)) {
        char reason[MR_ERRMSG_MAX / 2];
        tls_reason(reason, sizeof(reason), "rejected by OpenSSL");
        char msg[MR_ERRMSG_MAX + 64];
        snprintf(msg, sizeof(msg), "invalid TLS server name \"%.64s\": %s", server_name,
                 reason);
        tls_fail(re, c, MR_E_INVAL, msg);
        return;
    }
    tls_begin_done(re, c);
}

/* ----------------------------------------------------------------------------------
 * Files: run by the I/O worker (fileio.c), completed through the done queue
 * ---------------------------------------------------------------------------------- */

static void env_file_open(void *ctx, uint64_t req_id, const char *path, int flags)
{
    mr_fileio_open(((struct mr_realenv *)ctx)->fio, req_id, path, flags);
}

static void env_file_write(void *ctx, uint64_t req_id, int64_t file, uint64_t offset,
                           const uint8_t *buf, size_t len)
{
    mr_fileio_write(((struct mr_realenv *)ctx)->fio, req_id, file, offset, buf, len);
}

static void env_file_read(void *ctx, uint64_t req_id, int64_t file, uint64_t offset, size_t len)
{
    mr_fileio_read(((struct mr_realenv *)ctx)->fio, req_id, file, offset, len);
}

static void env_file_sync(void *ctx, uint64_t req_id, int64_t file)
{
    mr_fileio_sync(((struct mr_realenv *)ctx)->fio, req_id, file);
}

static void env_file_close(void *ctx, uint64_t req_id, int64_t file)
{
    mr_fileio_close(((struct mr_realenv *)ctx)->fio, req_id, file);
}

static void env_file_rename(void *ctx, uint64_t req_id, const char *from, const char *to)
{
    mr_fileio_rename(((struct mr_realenv *)ctx)->fio, req_id, from, to);
}

static void env_file_remove(void *ctx, uint64_t req_id, const char *path)
{
    mr_fileio_remove(((struct mr_realenv *)ctx)->fio, req_id, path);
}

static void env_file_list(void *ctx, uint64_t req_id, const char *dir)
{
    mr_fileio_list(((struct mr_realenv *)ctx)->fio, req_id, dir);
}

/* A finished file request joins the done queue; its data stays the worker side's
 * (counted in fileio's mem) and goes back there after delivery (done_free). */
static void file_collected(void *arg, struct mr_fileio_done *fd)
{
    queue_done(arg, DONE_FILE, fd->req_id, fd->result, fd->data, fd->len);
}

static void collect_files(struct mr_realenv *re)
{
    mr_fileio_collect(re->fio);
}

/* ----------------------------------------------------------------------------------
 * The loop
 * ---------------------------------------------------------------------------------- */

/* on_tls; a successful handshake turns reading on only now, so the first decrypted
 * bytes arrive after it. Its on_closed, if any, is queued behind it. */
static void deliver_tls(struct mr_realenv *re, struct done *d)
{
    struct conn *c = conn_lookup(re, d->id);
    mr_assert(c != NULL);
    if (d->result == 0) {
        mr_assert(c->tls == TLS_UNREPORTED);
        c->tls = TLS_UP;
        if (c->state == CONN_OPEN) {
            conn_update_events(re, c);
        }
        if (c->state == CONN_OPEN) {
            mark_dirty(re, c); /* output queued during the handshake */
            tls_kick(re, c);   /* application data that came with the handshake */
        }
    }
    if (c->close_requested || re->sink == NULL) {
        return;
    }
    mr_assert(re->sink->on_tls != NULL);
    const char *subject = d->data != NULL ? (const char *)d->data : NULL;
    if (subject != NULL) {
        mr_assert(d->len > 0);
        mr_assert(d->data[d->len - 1] == '\0');
    }
    re->sink->on_tls(re->sink->ctx, d->id, (int)d->result, subject);
}

static void deliver_one(struct mr_realenv *re, struct done *d)
{
    const struct mr_env_sink *sink = re->sink;
    struct conn *c;
    switch (d->kind) {
    case DONE_CLOSED:
        c = conn_lookup(re, d->id);
        mr_assert(c != NULL);
        mr_assert(c->state == CONN_DEAD);
        /* The id dies before the callback, so calls about it inside are ignored. */
        conn_free(re, c);
        if (sink != NULL) {
            sink->on_closed(sink->ctx, d->id);
        }
        break;
    case DONE_CONNECTED:
        c = conn_lookup(re, d->id);
        if (c == NULL || c->state != CONN_CONNECTING) {
            break; /* stream_close came first: on_closed replaces on_connected */
        }
        if (d->result == 0) {
            connect_up(re, c);
        } else {
            connect_failed(re, c, (int)d->result);
        }
        break;
    case DONE_FILE:
        if (sink != NULL) {
            sink->on_file_done(sink->ctx, d->id, d->result, d->data, d->len);
        }
        break;
    case DONE_TLS:
        deliver_tls(re, d);
        break;
    }
}

/* Delivers what was queued before this phase began; what callbacks queue now waits
 * for the next turn, so a completion never arrives inside the call that queued it. */
static void deliver_done(struct mr_realenv *re)
{
    guint n = g_queue_get_length(re->done);
    for (guint i = 0; i < n; i++) {
        struct done *d = g_queue_pop_head(re->done);
        deliver_one(re, d);
        done_free(re, d);
    }
}

static void read_signals(struct mr_realenv *re)
{
    struct signalfd_siginfo si;
    while (read(re->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        re->last_signal = (int)si.ssi_signo;
        re->stop = true;
    }
}

static int wait_timeout_ms(struct mr_realenv *re, uint64_t max_wait_ns)
{
    if (re->stop || !g_queue_is_empty(re->done) || re->dirty->len > 0 ||
        re->tls_kick->len > 0) {
        return 0;
    }
    uint64_t wait = max_wait_ns;
    uint64_t now = env_now_ns(re);
    if (mr_heap_top(&re->heap) != NULL) {
        uint64_t d = mr_heap_top(&re->heap)->key;
        wait = d <= now ? 0 : (d - now < wait ? d - now : wait);
    }
    uint64_t hs = next_handshake_deadline(re);
    if (hs != UINT64_MAX) {
        wait = hs <= now ? 0 : (hs - now < wait ? hs - now : wait);
    }
    for (guint i = 0; i < re->listeners->len; i++) {
        struct listener *l = g_ptr_array_index(re->listeners, i);
        if (l->paused && l->fd >= 0) {
            uint64_t d = l->paused_until_ns;
            wait = d <= now ? 0 : (d - now < wait ? d - now : wait);
        }
    }
    /* Round up: waking a little late costs nothing, waking early costs a spin. */
    uint64_t ms = (wait + MR_NS_PER_MS - 1) / MR_NS_PER_MS;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static void dispatch(struct mr_realenv *re, int n)
{
    for (int i = 0; i < n; i++) {
        uint64_t data = re->events[i].data.u64;
        uint64_t key = data & KEY_MASK;
        switch (data >> TAG_SHIFT) {
        case TAG_CONN: {
            struct conn *c = conn_lookup(re, key);
            if (c != NULL) {
                conn_event(re, c, re->events[i].events);
            }
            break;
        }
        case TAG_LISTENER: {
            struct listener *l = listener_by_key(re, key);
            if (l != NULL && !l->paused) {
                accept_ready(re, l);
            }
            break;
        }
        case TAG_SIGNAL:
            read_signals(re);
            break;
        case TAG_FILEIO:
            collect_files(re);
            break;
        default:
            mr_assert(0);
        }
    }
}

int mr_realenv_run_once(struct mr_realenv *re, uint64_t max_wait_ns)
{
    re->stats.turns++;
    int timeout = wait_timeout_ms(re, max_wait_ns);
    int n = epoll_wait(re->epfd, re->events, MR_REALENV_EVENTS_MAX, timeout);
    if (n < 0) {
        if (errno != EINTR) {
            return MR_E_IO;
        }
        n = 0;
    }
    mr_assert(n <= MR_REALENV_EVENTS_MAX);
    dispatch(re, n);
    run_kicks(re);
    expire_handshakes(re);
    reap_listeners(re);
    fire_timers(re);
    resume_listeners(re);
    deliver_done(re);
    flush_dirty(re);
    return 0;
}

int mr_realenv_run(struct mr_realenv *re)
{
    int rc = 0;
    while (!re->stop && rc == 0) {
        rc = mr_realenv_run_once(re, MR_NS_PER_SEC);
    }
    re->stop = false;
    return rc;
}

void mr_realenv_stop(struct mr_realenv *re)
{
    re->stop = true;
}

/* ----------------------------------------------------------------------------------
 * Lifecycle and settings
 * ---------------------------------------------------------------------------------- */

static void raise_nofile_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) {
        return;
    }
    rl.rlim_cur = rl.rlim_max;
    /* Not fatal: the server still runs, with fewer connections. */
    (void)setrlimit(RLIMIT_NOFILE, &rl);
}

static const struct mr_env env_template = {
    .now_ns = env_now_ns,
    .wall_ns = env_wall_ns,
    .random = env_random,
    .log = env_log,
    .process_usage = env_process_usage,
    .timer_arm = env_timer_arm,
    .timer_cancel = env_timer_cancel,
    .listen = env_listen,
    .unlisten = env_unlisten,
    .connect = env_connect,
    .stream_want_write = env_stream_want_write,
    .stream_close = env_stream_close,
    .stream_read_enable = env_stream_read_enable,
    .tls_configure = env_tls_configure,
    .stream_start_tls = env_stream_start_tls,
    .stream_start_tls_client = env_stream_start_tls_client,
    .file_open = env_file_open,
    .file_write = env_file_write,
    .file_read = env_file_read,
    .file_sync = env_file_sync,
    .file_close = env_file_close,
    .file_rename = env_file_rename,
    .file_remove = env_file_remove,
    .file_list = env_file_list,
};

/* The file worker's queues and its eventfd, watched by epoll (its thread comes later,
 * with the first file call). */
static int fileio_setup(struct mr_realenv *re, char *errmsg, size_t errmsg_len)
{
    struct mr_fileio **out = &re->fio;
    if (mr_fileio_create(out, file_collected, re) != 0) {
        set_errmsg(errmsg, errmsg_len, "cannot create the file I/O eventfd", "", errno);
        return MR_E_IO;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_FILEIO << TAG_SHIFT};
    if (epoll_ctl(re->epfd, EPOLL_CTL_ADD, mr_fileio_wake_fd(*out), &ev) != 0) {
        set_errmsg(errmsg, errmsg_len, "epoll_ctl", "file I/O eventfd", errno);
        mr_fileio_destroy(*out);
        *out = NULL;
        return MR_E_IO;
    }
    return 0;
}

int mr_realenv_create(struct mr_realenv **out, char *errmsg, size_t errmsg_len)
{
    mr_assert(out != NULL);
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        set_errmsg(errmsg, errmsg_len, "epoll_create1", "", errno);
        return MR_E_IO;
    }
    signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write is an error value, not a death */
    raise_nofile_limit();

    struct mr_realenv *re = g_new0(struct mr_realenv, 1);
    re->env = env_template;
    re->env.ctx = re;
    mr_mem_init(&re->mem, 0);
    re->epfd = epfd;
    re->sigfd = -1;
    re->conn_id_next = 1;
    re->conns = g_hash_table_new(g_int64_hash, g_int64_equal);
    re->dirty = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    re->dirty_spare = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    re->listeners = g_ptr_array_new();
    re->listener_key_next = 1;
    re->timers = g_hash_table_new(g_int64_hash, g_int64_equal);
    mr_heap_init(&re->heap, &re->mem);
    re->done = g_queue_new();
    re->log_fd = STDERR_FILENO;
    re->log_time = true;
    re->pid = (int)getpid();
    re->rbuf = mr_mem_alloc(&re->mem, MR_REALENV_READ_BYTES);
    mr_assert(re->rbuf != NULL);
    re->tls_ctxs = g_ptr_array_new();
    re->tls_pending = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    re->tls_kick = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    re->tls_kick_spare = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    re->tls_wbuf = mr_mem_alloc(&re->mem, MR_REALENV_TLS_WRITE_BYTES);
    mr_assert(re->tls_wbuf != NULL);
    if (fileio_setup(re, errmsg, errmsg_len) != 0) {
        mr_realenv_destroy(re); /* closes epfd too */
        return MR_E_IO;
    }
    *out = re;
    return 0;
}

void mr_realenv_destroy(struct mr_realenv *re)
{
    if (re == NULL) {
        return;
    }
    while (!g_queue_is_empty(re->done)) {
        done_free(re, g_queue_pop_head(re->done));
    }
    /* Drains the worker (submitted writes still reach their files) and frees what it
     * finished but the loop never collected. */
    mr_fileio_destroy(re->fio);
    GList *conns = g_hash_table_get_values(re->conns);
    for (GList *it = conns; it != NULL; it = it->next) {
        struct conn *c = it->data;
        conn_close_fd(c);
        conn_free(re, c);
    }
    g_list_free(conns);
    while (mr_heap_top(&re->heap) != NULL) {
        struct timer *t = timer_of(mr_heap_top(&re->heap));
        mr_heap_remove(&re->heap, &t->node);
        timer_free(re, t);
    }
    mr_heap_deinit(&re->heap);
    for (guint i = 0; i < re->listeners->len; i++) {
        struct listener *l = g_ptr_array_index(re->listeners, i);
        if (l->fd >= 0) {
            close(l->fd);
        }
        mr_mem_free(&re->mem, l, sizeof(*l));
    }
    while (re->tls_ctxs->len > 0) {
        tls_ctx_remove(re, g_ptr_array_index(re->tls_ctxs, re->tls_ctxs->len - 1));
    }
    g_ptr_array_free(re->tls_ctxs, TRUE);
    g_array_free(re->tls_pending, TRUE);
    g_array_free(re->tls_kick, TRUE);
    g_array_free(re->tls_kick_spare, TRUE);
    mr_mem_free(&re->mem, re->tls_wbuf, MR_REALENV_TLS_WRITE_BYTES);
    mr_mem_free(&re->mem, re->rbuf, MR_REALENV_READ_BYTES);
    mr_mem_deinit(&re->mem);
    g_ptr_array_free(re->listeners, TRUE);
    g_hash_table_destroy(re->conns);
    g_hash_table_destroy(re->timers);
    g_queue_free(re->done);
    g_array_free(re->dirty, TRUE);
    g_array_free(re->dirty_spare, TRUE);
    if (re->sigfd >= 0) {
        close(re->sigfd);
    }
    if (re->log_fd != STDERR_FILENO) {
        close(re->log_fd);
    }
    close(re->epfd);
    g_free(re);
}

const struct mr_env *mr_realenv_env(struct mr_realenv *re)
{
    return &re->env;
}

void mr_realenv_set_sink(struct mr_realenv *re, const struct mr_env_sink *sink)
{
    re->sink = sink;
}

void mr_realenv_set_log_levels(struct mr_realenv *re, bool debug, bool trace)
{
    re->log_debug = debug;
    re->log_trace = trace;
}

void mr_realenv_set_log_time(struct mr_realenv *re, bool on)
{
    re->log_time = on;
}

int mr_realenv_set_log_file(struct mr_realenv *re, const char *path, char *errmsg,
                            size_t errmsg_len)
{
    int fd = STDERR_FILENO;
    if (path != NULL) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, MR_FILEIO_FILE_MODE);
        if (fd < 0) {
            set_errmsg(errmsg, errmsg_len, "cannot open log file", path, errno);
            return MR_E_IO;
        }
    }
    if (re->log_fd != STDERR_FILENO) {
        close(re->log_fd);
    }
    re->log_fd = fd;
    return 0;
}

void mr_realenv_log_fatal(struct mr_realenv *re, const char *msg)
{
    log_line(re, "FTL", msg);
}

int mr_realenv_set_file_dir(struct mr_realenv *re, const char *dir, char *errmsg,
                            size_t errmsg_len)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        set_errmsg(errmsg, errmsg_len, "cannot open store directory", dir, e);
        return e == ENOENT ? MR_E_NOT_FOUND : MR_E_IO;
    }
    mr_fileio_set_dir(re->fio, fd);
    return 0;
}

int mr_realenv_stop_on_signals(struct mr_realenv *re)
{
    mr_assert(re->sigfd < 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    /* Blocked signals queue on the signalfd instead of running a handler. */
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
        return MR_E_IO;
    }
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        return MR_E_IO;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_SIGNAL << TAG_SHIFT};
    if (epoll_ctl(re->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        return MR_E_IO;
    }
    re->sigfd = fd;
    return 0;
}

int mr_realenv_signal(const struct mr_realenv *re)
{
    return re->last_signal;
}

void mr_realenv_stats(const struct mr_realenv *re, struct mr_realenv_stats *out)
{
    *out = re->stats;
}

void mr_realenv_check(const struct mr_realenv *re)
{
    mr_heap_check(&re->heap);
    mr_assert(re->heap.len == g_hash_table_size(re->timers));
    for (size_t i = 0; i < re->heap.len; i++) {
        const struct timer *t = timer_of(re->heap.items[i]);
        mr_assert(g_hash_table_lookup(re->timers, &t->id) == t);
        mr_assert(t->node.seq <= re->timer_seq);
    }
    mr_assert(re->stats.conns_open == g_hash_table_size(re->conns));
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, re->conns);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        const struct conn *c = value;
        mr_assert(c->id > 0);
        mr_assert(c->id < re->conn_id_next);
        if (c->state == CONN_OPEN || c->state == CONN_CLOSING) {
            mr_assert(c->fd >= 0);
        }
        if (c->state == CONN_DEAD) {
            mr_assert(c->fd < 0);
        }
        if (c->fd < 0) {
            mr_assert(!c->registered);
            mr_assert(c->ssl == NULL);
        }
        if (c->tls == TLS_OFF) {
            mr_assert(c->ssl == NULL);
        }
        if (c->ssl != NULL) {
            mr_assert(c->fd >= 0);
        }
        if (c->tls == TLS_OFF || c->tls == TLS_UNREPORTED) {
            mr_assert(!c->ssl_want_write);
        }
    }
    mr_assert(re->tls_ctxs->len <= MR_REALENV_TLS_CTX_MAX);
}
