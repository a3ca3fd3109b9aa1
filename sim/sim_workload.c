/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Simulated client workloads (sim_workload.h): each workload is a sink on a host of
 * its own; each member is a small client state machine over one connection at a time:
 *
 *   IDLE -> CONNECTING -> AWAIT_INFO -> AWAIT_PONG -> READY
 *     ^          |              |            |          |
 *     +- BACKOFF <--------------+------------+----------+   (connect failed / closed)
 *   any -> STOPPED (stop time, sim_workload_stop)
 *
 * Invariants: conn_id is meaningful only in CONNECTING..CLOSING; in/out buffers belong
 * to the current connection and are emptied when it ends; pending requests are kept
 * in send order, which is deadline order because the timeout is fixed.
 *
 * Ownership: the workload owns its members, buffers and request tables; it borrows the
 * world, its host (world-owned) and the history.
 */
#include "sim/sim_workload.h"

#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/proto/parser.h"
#include "core/proto/subject.h"
#include "sim/sim_jsapi.h"

enum member_state {
    M_IDLE = 0,
    M_CONNECTING,
    M_AWAIT_INFO,
    M_AWAIT_PONG,
    M_READY,
    M_CLOSING, /* we asked the env to close; on_closed follows */
    M_BACKOFF,
    M_STOPPED,
};

enum timer_slot {
    T_CONNECT = 0, /* start and reconnect */
    T_TICK = 1,    /* publish or request */
    T_PING = 2,    /* keepalive */
    T_REQ = 3,     /* earliest request deadline */
    T_SLOTS = 4,
};

#define TIMER_STOP ((uint64_t)SIM_WL_CLIENTS_MAX * T_SLOTS)
#define ACTOR_MAX (SIM_WL_NAME_MAX + 12)
#define ID_MAX (ACTOR_MAX + 24)
/* Subjects and publisher names a member remembers from its last messages (on_msg). */
#define MEMO_MAX 4

struct request {
    uint64_t seq;
    uint64_t deadline_ns;
    GList link; /* in member.pending; data = the request */
};

struct member {
    struct sim_workload *wl;
    uint32_t index;
    uint32_t actor; /* history actor index */
    char name[ACTOR_MAX];
    enum member_state state;
    uint64_t conn_id;
    bool conn_open;         /* conn_id names a stream whose terminal input is pending */
    size_t server_idx;      /* server of the current or next attempt */
    uint32_t attempts;      /* failed attempts since the last handshake */
    GByteArray *in;         /* received bytes not parsed yet */
    GByteArray *out;        /* bytes queued for the env to pull */
    struct mr_parser parser;
    uint32_t gen;           /* subscription generation (SUB events) */
    uint32_t pings_out;     /* our PINGs without PONG, the handshake one included */
    bool connected_once;    /* CONNECT recorded on this connection */
    bool ticking;           /* the tick base is set */
    uint64_t tick_base_ns;
    uint64_t tick;          /* index of the next tick */
    uint64_t counter;       /* publishes or requests sent */
    bool done;              /* max_count reached (STOP recorded) */
    GQueue pending;         /* struct request, in send order */
    GHashTable *pending_by_seq; /* seq -> struct request; lookup only */
    /* Memos of on_msg, so the few subjects and publishers a subscriber hears are
     * interned and named by content once rather than per message: interned subjects,
     * and publisher names with their actor index; rings (empty subject slots NULL). */
    const char *memo_subjects[MEMO_MAX];
    size_t memo_subject_lens[MEMO_MAX];
    uint32_t memo_subjects_next;
    char memo_pub_names[MEMO_MAX][ACTOR_MAX];
    size_t memo_pub_lens[MEMO_MAX];
    uint32_t memo_pub_actors[MEMO_MAX];
    uint32_t memo_pubs_count; /* slots filled */
    uint32_t memo_pubs_next;
    /* JetStream: JS_PUBLISH's stream answered its create; JS_READ's progress (the last
     * sequence from STREAM.INFO once known, the next sequence to read, and whether a
     * request is out). */
    bool js_created;
    bool read_info;
    uint64_t read_last;
    uint64_t read_next;
    bool read_out;
};

struct sim_workload {
    struct sim_world *world;
    struct sim_host *host;
    const struct mr_env *env;
    struct sim_history *history;
    struct sim_workload_spec spec;
    struct mr_env_sink sink;
    struct member *members;
    struct sim_workload_stats stats;
    bool stopped;
};

/* ------------------------------------------------------------------------------------
 * Helpers
 */

static uint64_t now(const struct sim_workload *wl)
{
    return wl->env->now_ns(wl->env->ctx);
}

static void arm(struct member *m, enum timer_slot slot, uint64_t deadline_ns)
{
    const struct mr_env *env = m->wl->env;
    int rc = env->timer_arm(env->ctx, (uint64_t)m->index * T_SLOTS + slot, deadline_ns);
    mr_assert(rc == 0);
}

static void disarm(struct member *m, enum timer_slot slot)
{
    const struct mr_env *env = m->wl->env;
    env->timer_cancel(env->ctx, (uint64_t)m->index * T_SLOTS + slot);
}

static void record(struct member *m, enum sim_hist_kind kind, struct sim_hist_event *ev)
{
    /* Virtual time, not the host's clock: a skewed client clock must not reorder the
     * history or shift it against the runner's fault windows. */
    ev->t_ns = sim_world_now_ns(m->wl->world);
    ev->kind = kind;
    ev->actor = m->actor;
    /* A full history stops recording and marks itself truncated; the run goes on. */
    (void)sim_history_append(m->wl->history, ev);
}

static void record_simple(struct member *m, enum sim_hist_kind kind, const char *server,
                          const char *text)
{
    struct sim_hist_event ev = {0};
    ev.server = server;
    ev.text = text;
    record(m, kind, &ev);
}

static const char *server_name(const struct member *m)
{
    return m->wl->spec.servers[m->server_idx];
}

static bool has_sub(enum sim_workload_kind kind)
{
    return kind == SIM_WL_SUBSCRIBE || kind == SIM_WL_QUEUE || kind == SIM_WL_REPLY;
}

static bool sends(enum sim_workload_kind kind)
{
    return kind == SIM_WL_PUBLISH || kind == SIM_WL_REQUEST || kind == SIM_WL_JS_PUBLISH;
}

/* Kinds that wait for answers on "_INBOX.<actor>.*" (sid 2). */
static bool has_inbox(enum sim_workload_kind kind)
{
    return kind == SIM_WL_REQUEST || kind == SIM_WL_JS_PUBLISH || kind == SIM_WL_JS_READ;
}

static void send_bytes(struct member *m, const void *buf, size_t len)
{
    mr_assert(m->state >= M_AWAIT_INFO && m->state <= M_READY);
    g_byte_array_append(m->out, buf, (guint)len);
    m->wl->env->stream_want_write(m->wl->env->ctx, m->conn_id);
}

static void send_str(struct member *m, const char *s)
{
    send_bytes(m, s, strlen(s));
}

/* Parses "<publisher>:<counter>" from the front of a payload (up to the first space).
 * Returns false when there is no such id. */
/* The actor index of the publisher name (len bytes, NUL-terminated), through the
 * member's memo. */
static uint32_t publisher_actor(struct member *m, const char *name, size_t len)
{
    mr_assert(m->memo_pubs_count <= MEMO_MAX);
    mr_assert(len < ACTOR_MAX);
    for (uint32_t i = 0; i < m->memo_pubs_count; i++) {
        if (m->memo_pub_lens[i] == len && memcmp(m->memo_pub_names[i], name, len) == 0) {
            return m->memo_pub_actors[i];
        }
    }
    uint32_t slot = m->memo_pubs_next;
    m->memo_pubs_next = (slot + 1) % MEMO_MAX;
    if (m->memo_pubs_count < MEMO_MAX) {
        m->memo_pubs_count++;
    }
    memcpy(m->memo_pub_names[slot], name, len + 1);
    m->memo_pub_lens[slot] = len;
    m->memo_pub_actors[slot] = sim_history_actor(m->wl->history, name);
    return m->memo_pub_actors[slot];
}

/* The interned copy of subject (len bytes, NUL-terminated), through the member's
 * memo. */
static const char *interned_subject(struct member *m, const char *subject, size_t len)
{
    for (uint32_t i = 0; i < MEMO_MAX; i++) {
        const char *k = m->memo_subjects[i];
        if (k != NULL && m->memo_subject_lens[i] == len && memcmp(k, subject, len) == 0) {
            return k;
        }
    }
    const char *k = sim_history_intern(m->wl->history, subject);
    m->memo_subjects[m->memo_subjects_next] = k;
    m->memo_subject_lens[m->memo_subjects_next] = strlen(k);
    m->memo_subjects_next = (m->memo_subjects_next + 1) % MEMO_MAX;
    return k;
}

static bool parse_id(struct member *m, const uint8_t *p, size_t len, uint32_t *pub,
                     uint64_t *seq)
{
    size_t end = 0;
    while (end < len && p[end] != ' ') {
        end++;
    }
    size_t colon = end;
    while (colon > 0 && p[colon - 1] != ':') {
        colon--;
    }
    if (colon <= 1 || colon == end || colon - 1 >= ACTOR_MAX) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = colon; i < end; i++) {
        if (p[i] < '0' || p[i] > '9' || v > UINT64_MAX / 10 - 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    char name[ACTOR_MAX];
    memcpy(name, p, colon - 1);
    name[colon - 1] = '\0';
    *pub = publisher_actor(m, name, strlen(name));
    *seq = v;
    return true;
}

/* ------------------------------------------------------------------------------------
 * Connection life
 */

static void connect_next(struct member *m);

static void conn_reset_buffers(struct member *m)
{
    g_byte_array_set_size(m->in, 0);
    g_byte_array_set_size(m->out, 0);
    m->pings_out = 0;
    m->connected_once = false;
}

/* Waits before the next attempt: 250 ms doubling per failed attempt, at most 2 s. */
static void schedule_reconnect(struct member *m)
{
    mr_assert(m->state != M_STOPPED);
    m->state = M_BACKOFF;
    uint64_t delay = SIM_WL_BACKOFF_MIN_NS;
    for (uint32_t i = 0; i < m->attempts && delay < SIM_WL_BACKOFF_MAX_NS; i++) {
        delay *= 2;
    }
    if (delay > SIM_WL_BACKOFF_MAX_NS) {
        delay = SIM_WL_BACKOFF_MAX_NS;
    }
    m->attempts++;
    m->server_idx = (m->server_idx + 1) % m->wl->spec.servers_len;
    disarm(m, T_PING);
    arm(m, T_CONNECT, now(m->wl) + delay);
}

static void connect_next(struct member *m)
{
    mr_assert(m->state == M_IDLE || m->state == M_BACKOFF);
    const struct mr_env *env = m->wl->env;
    conn_reset_buffers(m);
    uint64_t id = 0;
    int rc = env->connect(env->ctx, server_name(m), m->wl->spec.port, &id);
    if (rc != 0) {
        m->wl->stats.connect_fails++;
        schedule_reconnect(m);
        return;
    }
    m->conn_id = id;
    m->conn_open = true;
    m->state = M_CONNECTING;
}

/* Closes the current connection on our side; on_closed brings the member back. */
static void close_conn(struct member *m)
{
    mr_assert(m->state >= M_CONNECTING && m->state <= M_READY);
    m->state = M_CLOSING;
    m->wl->env->stream_close(m->wl->env->ctx, m->conn_id);
}

static void stop_member(struct member *m)
{
    if (m->state == M_STOPPED) {
        return;
    }
    bool open = m->state >= M_CONNECTING && m->state <= M_READY;
    if (!m->done) {
        record_simple(m, SIM_H_STOP, "", "");
    }
    if (open) {
        /* on_closed is not recorded once stopped: the end of the connection is now. */
        if (m->connected_once) {
            m->wl->stats.disconnects++;
            record_simple(m, SIM_H_DISCONNECT, server_name(m), "");
        }
        m->wl->env->stream_close(m->wl->env->ctx, m->conn_id);
    }
    for (int s = 0; s < T_SLOTS; s++) {
        disarm(m, (enum timer_slot)s);
    }
    m->state = M_STOPPED;
}

/* Appends ,"key":"value" with value escaped as a JSON string. */
static void json_field(GString *s, const char *key, const char *value)
{
    g_string_append_printf(s, ",\"%s\":\"", key);
    for (const char *p = value; *p != '\0'; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\') {
            g_string_append_c(s, '\\');
            g_string_append_c(s, (char)ch);
        } else if (ch < 0x20) {
            g_string_append_printf(s, "\\u%04x", ch);
        } else {
            g_string_append_c(s, (char)ch);
        }
    }
    g_string_append_c(s, '"');
}

static void send_handshake(struct member *m)
{
    const struct sim_workload_spec *sp = &m->wl->spec;
    GString *s = g_string_sized_new(256);
    g_string_append_printf(s,
                           "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,"
                           "\"protocol\":1,\"name\":\"%s\",\"lang\":\"sim\",\"version\":\"0.1\"",
                           m->name);
    /* The field names nats.go and nats.js send. */
    if (sp->user[0] != '\0') {
        json_field(s, "user", sp->user);
    }
    if (sp->password[0] != '\0') {
        json_field(s, "pass", sp->password);
    }
    if (sp->token[0] != '\0') {
        json_field(s, "auth_token", sp->token);
    }
    g_string_append(s, "}\r\n");
    if (has_sub(sp->kind)) {
        /* A new subscription: messages may arrive before its PONG and belong to it. */
        m->gen++;
        if (sp->queue[0] != '\0') {
            g_string_append_printf(s, "SUB %s %s 1\r\n", sp->subject, sp->queue);
        } else {
            g_string_append_printf(s, "SUB %s 1\r\n", sp->subject);
        }
    }
    if (has_inbox(sp->kind)) {
        g_string_append_printf(s, "SUB _INBOX.%s.* 2\r\n", m->name);
    }
    g_string_append(s, "PING\r\n");
    send_bytes(m, s->str, s->len);
    g_string_free(s, TRUE);
    m->pings_out = 1;
    m->state = M_AWAIT_PONG;
}

static void js_on_ready(struct member *m);

static void start_ticking(struct member *m)
{
    if (!m->ticking && !m->done) {
        m->ticking = true;
        m->tick_base_ns = now(m->wl);
        m->tick = 0;
        arm(m, T_TICK, m->tick_base_ns);
    }
}

static void on_ready(struct member *m)
{
    const struct sim_workload_spec *sp = &m->wl->spec;
    m->state = M_READY;
    m->attempts = 0;
    if (sp->kind == SIM_WL_JS_PUBLISH || sp->kind == SIM_WL_JS_READ) {
        js_on_ready(m);
        return;
    }
    if (has_sub(sp->kind)) {
        struct sim_hist_event ev = {0};
        ev.gen = m->gen;
        ev.subject = sp->subject;
        ev.queue = sp->queue;
        ev.server = server_name(m);
        record(m, SIM_H_SUB, &ev);
    }
    if (sends(sp->kind)) {
        start_ticking(m);
    }
}

/* ------------------------------------------------------------------------------------
 * Publishing and requests
 */

static uint64_t tick_time(const struct member *m, uint64_t k)
{
    uint64_t rate = m->wl->spec.rate;
    return m->tick_base_ns + (k / rate) * MR_NS_PER_SEC + (k % rate) * MR_NS_PER_SEC / rate;
}

/* The decimal digits of v at p; returns the end. (Every message formats its id and
 * size: snprintf there cost more than the rest of sending it.) */
static char *put_u64(char *p, uint64_t v)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0) {
        *p++ = digits[--n];
    }
    return p;
}

/* s (len bytes) at p; returns the end. */
static char *put_bytes(char *p, const char *s, size_t len)
{
    memcpy(p, s, len);
    return p + len;
}

static void send_pub(struct member *m, const char *subject, const char *reply, uint64_t seq)
{
    char id[ID_MAX];
    size_t name_len = strlen(m->name);
    mr_assert(name_len + 1 + 20 < sizeof(id));
    char *end = put_bytes(id, m->name, name_len);
    *end++ = ':';
    end = put_u64(end, seq);
    size_t idlen = (size_t)(end - id);
    size_t size = m->wl->spec.payload_bytes > idlen ? m->wl->spec.payload_bytes : idlen;
    /* "PUB <subject> [<reply> ]<size>\r\n" */
    char line[2 * SIM_WL_SUBJECT_MAX + ACTOR_MAX + 64];
    size_t subject_len = strlen(subject);
    size_t reply_len = reply != NULL ? strlen(reply) : 0;
    mr_assert(subject_len + reply_len + 4 + 2 + 20 + 2 < sizeof(line));
    end = put_bytes(line, "PUB ", 4);
    end = put_bytes(end, subject, subject_len);
    *end++ = ' ';
    if (reply != NULL) {
        end = put_bytes(end, reply, reply_len);
        *end++ = ' ';
    }
    end = put_bytes(put_u64(end, size), "\r\n", 2);
    send_bytes(m, line, (size_t)(end - line));
    g_byte_array_append(m->out, (const guint8 *)id, (guint)idlen);
    if (size > idlen) {
        /* Padding: a space ends the id, then filler bytes. */
        size_t pad = size - idlen;
        size_t old = m->out->len;
        g_byte_array_set_size(m->out, (guint)(old + pad));
        memset(m->out->data + old, 'x', pad);
        m->out->data[old] = ' ';
    }
    g_byte_array_append(m->out, (const guint8 *)"\r\n", 2);
}

static void arm_request_timer(struct member *m)
{
    GList *head = g_queue_peek_head_link(&m->pending);
    if (head == NULL) {
        disarm(m, T_REQ);
        return;
    }
    const struct request *r = head->data;
    arm(m, T_REQ, r->deadline_ns);
}

static void send_one(struct member *m)
{
    const struct sim_workload_spec *sp = &m->wl->spec;
    uint64_t seq = ++m->counter;
    struct sim_hist_event ev = {0};
    ev.pub = m->actor;
    ev.seq = seq;
    ev.subject = interned_subject(m, sp->subject, strlen(sp->subject));
    if (sp->kind == SIM_WL_PUBLISH) {
        send_pub(m, sp->subject, NULL, seq);
        record(m, SIM_H_PUB, &ev);
    } else {
        char inbox[ACTOR_MAX + 40];
        int n = snprintf(inbox, sizeof(inbox), "_INBOX.%s.%" PRIu64, m->name, seq);
        mr_assert(n > 0 && (size_t)n < sizeof(inbox));
        send_pub(m, sp->subject, inbox, seq);
        /* A JetStream publish is a PUB of the message (delivery judges it like any);
         * its PubAck is the answer awaited. */
        ev.text = sp->kind == SIM_WL_REQUEST ? inbox : "";
        record(m, sp->kind == SIM_WL_REQUEST ? SIM_H_REQ : SIM_H_PUB, &ev);
        struct request *r = g_new0(struct request, 1);
        r->seq = seq;
        r->deadline_ns = now(m->wl) + sp->request_timeout_ns;
        r->link.data = r;
        g_queue_push_tail_link(&m->pending, &r->link);
        g_hash_table_insert(m->pending_by_seq, &r->seq, r);
        if (m->pending.length == 1) {
            arm_request_timer(m);
        }
    }
    m->wl->stats.published++;
}

/* Fast publishers send the messages due within this span in one batch (one timer, one
 * write) instead of one timer event each: at 1,000 msgs/s that divides the simulator's
 * events per message several times over, and a real client batches its writes too. */
#define TICK_MIN_NS (5 * MR_NS_PER_MS)

static void on_tick(struct member *m)
{
    const struct sim_workload_spec *sp = &m->wl->spec;
    mr_assert(m->ticking);
    uint64_t t = now(m->wl);
    do {
        /* A tick while disconnected is skipped: this client does not buffer. */
        if (m->state == M_READY && m->pending.length < SIM_WL_REQUESTS_OUT_MAX) {
            send_one(m);
        }
        if (sp->max_count != 0 && m->counter >= sp->max_count) {
            m->done = true;
            record_simple(m, SIM_H_STOP, "", "");
            return;
        }
        m->tick++;
    } while (tick_time(m, m->tick) <= t);
    uint64_t next = tick_time(m, m->tick);
    if (next < t + TICK_MIN_NS) {
        next = t + TICK_MIN_NS;
    }
    arm(m, T_TICK, next);
}

static void request_free(struct member *m, struct request *r)
{
    g_queue_unlink(&m->pending, &r->link);
    g_hash_table_remove(m->pending_by_seq, &r->seq);
    g_free(r);
}

static void read_send(struct member *m);

static void on_request_timer(struct member *m)
{
    uint64_t t = now(m->wl);
    if (m->wl->spec.kind == SIM_WL_JS_READ) {
        /* The answer is late: ask again (the server may have been restarting). */
        m->wl->stats.timeouts++;
        m->read_out = false;
        if (m->state == M_READY) {
            read_send(m);
        }
        return;
    }
    GList *head;
    while ((head = g_queue_peek_head_link(&m->pending)) != NULL) {
        struct request *r = head->data;
        if (r->deadline_ns > t) {
            break;
        }
        struct sim_hist_event ev = {0};
        ev.pub = m->actor;
        ev.seq = r->seq;
        record(m, SIM_H_TIMEOUT, &ev);
        m->wl->stats.timeouts++;
        request_free(m, r);
    }
    arm_request_timer(m);
}

/* ------------------------------------------------------------------------------------
 * JetStream clients
 */

/* Sends "PUB <api subject> _INBOX.<actor>.<token> <len>\r\n<body>\r\n". */
static void js_api_send(struct member *m, const char *subject, const char *token,
                        const char *body)
{
    GString *s = g_string_sized_new(128 + strlen(body));
    g_string_append_printf(s, "PUB %s _INBOX.%s.%s %zu\r\n%s\r\n", subject, m->name, token,
                           strlen(body), body);
    send_bytes(m, s->str, s->len);
    g_string_free(s, TRUE);
}

/* The reader's next request: the stream's info until known, then the next sequence;
 * each armed with the request timeout, after which it is sent again. */
static void read_send(struct member *m)
{
    const struct sim_workload_spec *sp = &m->wl->spec;
    mr_assert(m->state == M_READY);
    if (m->read_out) {
        return;
    }
    char subject[SIM_WL_NAME_MAX + 64];
    if (!m->read_info) {
        snprintf(subject, sizeof(subject), "$JS.API.STREAM.INFO.%s", sp->stream);
        js_api_send(m, subject, "i", "");
    } else {
        /* The sequence in the inbox tells a late answer to an earlier request apart. */
        char body[48];
        char token[32];
        snprintf(body, sizeof(body), "{\"seq\":%" PRIu64 "}", m->read_next);
        snprintf(token, sizeof(token), "r%" PRIu64, m->read_next);
        snprintf(subject, sizeof(subject), "$JS.API.STREAM.MSG.GET.%s", sp->stream);
        js_api_send(m, subject, token, body);
    }
    m->read_out = true;
    arm(m, T_REQ, now(m->wl) + sp->request_timeout_ns);
}

static void read_finish_if_done(struct member *m)
{
    if (m->read_info && m->read_next > m->read_last) {
        stop_member(m);
    }
}

static void js_on_ready(struct member *m)
{
    const struct sim_workload_spec *sp = &m->wl->spec;
    if (sp->kind == SIM_WL_JS_READ) {
        m->read_out = false; /* an answer to a request on the old connection is lost */
        read_send(m);
        return;
    }
    if (sp->stream_json[0] == '\0') {
        start_ticking(m);
        return;
    }
    char subject[SIM_WL_NAME_MAX + 64];
    snprintf(subject, sizeof(subject), "$JS.API.STREAM.CREATE.%s", sp->stream);
    js_api_send(m, subject, "c", sp->stream_json);
}

static void note_error(struct member *m, const char *text);

static void js_note_error(struct member *m, const char *what, const struct sim_js_reply *r)
{
    char text[SIM_JS_TEXT_MAX + 32];
    snprintf(text, sizeof(text), "%s: %s", what, r->description);
    record_simple(m, SIM_H_ERR, server_name(m), text);
    m->wl->stats.errors++;
    note_error(m, text);
}

static void js_on_create(struct member *m, const uint8_t *body, size_t len)
{
    struct sim_js_reply r;
    if (sim_js_parse_info(body, len, &r) == 0 && r.error) {
        js_note_error(m, "stream create", &r);
    }
    sim_js_reply_clear(&r);
    m->js_created = true;
    start_ticking(m);
}

static void js_on_puback(struct member *m, uint64_t seq, const uint8_t *body, size_t len)
{
    struct request *r = g_hash_table_lookup(m->pending_by_seq, &seq);
    if (r == NULL) {
        return; /* after its timeout: recorded as one already */
    }
    struct sim_js_reply a;
    struct sim_hist_event ev = {0};
    ev.pub = m->actor;
    ev.seq = seq;
    int rc = sim_js_parse_puback(body, len, &a);
    if (rc != 0 || a.error) {
        ev.text = rc != 0 ? "malformed PubAck" : a.description;
        record(m, SIM_H_JS_NAK, &ev);
    } else {
        char text[SIM_JS_TEXT_MAX + 16];
        snprintf(text, sizeof(text), "%s%s", a.stream, a.duplicate ? " duplicate" : "");
        ev.sseq = a.seq;
        ev.text = text;
        record(m, SIM_H_JS_ACK, &ev);
        m->wl->stats.js_acked++;
    }
    sim_js_reply_clear(&a);
    request_free(m, r);
    arm_request_timer(m);
}

static void js_on_info(struct member *m, const uint8_t *body, size_t len)
{
    struct sim_js_reply r;
    int rc = sim_js_parse_info(body, len, &r);
    if (rc != 0 || r.error) {
        /* The stream is gone (or never was): nothing to read, and say so. */
        if (rc == 0) {
            js_note_error(m, "stream info", &r);
        }
        r.last_seq = 0;
    }
    struct sim_hist_event ev = {0};
    ev.sseq = r.last_seq;
    ev.text = m->wl->spec.stream;
    record(m, SIM_H_JS_INFO, &ev);
    sim_js_reply_clear(&r);
    m->read_info = true;
    m->read_last = ev.sseq;
    m->read_next = 1;
}

static void js_on_read(struct member *m, const uint8_t *body, size_t len)
{
    struct sim_js_reply r;
    struct sim_hist_event ev = {0};
    ev.sseq = m->read_next;
    ev.pub = UINT32_MAX;
    ev.subject = m->wl->spec.stream;
    int rc = sim_js_parse_msg_get(body, len, &r);
    char text[SIM_JS_TEXT_MAX + 16] = "ok";
    char pub[ACTOR_MAX];
    if (rc != 0) {
        snprintf(text, sizeof(text), "error: malformed reply");
    } else if (r.error && r.code == 404) {
        snprintf(text, sizeof(text), "missing");
    } else if (r.error) {
        snprintf(text, sizeof(text), "error: %s", r.description);
    } else if (r.seq != m->read_next ||
               !sim_js_payload_id(r.data, r.data_len, pub, sizeof(pub), &ev.seq)) {
        snprintf(text, sizeof(text), "corrupt");
    } else {
        ev.pub = publisher_actor(m, pub, strlen(pub));
    }
    ev.text = text;
    record(m, SIM_H_JS_READ, &ev);
    m->wl->stats.js_acked++;
    sim_js_reply_clear(&r);
    m->read_next++;
}

/* An answer on the inbox: "c" the stream create, "i" the info, "r" a read, a number
 * the PubAck of that publish. */
static void js_on_inbox(struct member *m, const char *subject, size_t sl, const uint8_t *body,
                        size_t len)
{
    size_t dot = sl;
    while (dot > 0 && subject[dot - 1] != '.') {
        dot--;
    }
    const char *token = subject + dot;
    if (m->wl->spec.kind == SIM_WL_JS_PUBLISH) {
        if (strcmp(token, "c") == 0) {
            js_on_create(m, body, len);
        } else {
            js_on_puback(m, g_ascii_strtoull(token, NULL, 10), body, len);
        }
        return;
    }
    /* Only the answer to the request out counts: a late one to a request sent again
     * is dropped. */
    bool info = strcmp(token, "i") == 0 && !m->read_info;
    bool read = token[0] == 'r' && m->read_info &&
                g_ascii_strtoull(token + 1, NULL, 10) == m->read_next;
    if (!m->read_out || (!info && !read)) {
        return;
    }
    if (info) {
        js_on_info(m, body, len);
    } else {
        js_on_read(m, body, len);
    }
    m->read_out = false;
    disarm(m, T_REQ);
    read_finish_if_done(m);
    if (m->state == M_READY) {
        read_send(m);
    }
}

/* ------------------------------------------------------------------------------------
 * Inputs from the server
 */

static void on_msg(struct member *m, const struct mr_proto_op *op)
{
    const struct sim_workload_spec *sp = &m->wl->spec;
    const uint8_t *body = op->payload + op->hdr_len;
    size_t body_len = op->size - op->hdr_len;
    char subject[SIM_WL_SUBJECT_MAX + 64];
    size_t sl = op->subject.len < sizeof(subject) - 1 ? op->subject.len : sizeof(subject) - 1;
    memcpy(subject, op->subject.ptr, sl);
    subject[sl] = '\0';
    struct sim_hist_event ev = {0};
    ev.subject = subject;
    bool inbox = op->sid.len == 1 && op->sid.ptr[0] == '2';
    if (inbox && (sp->kind == SIM_WL_JS_PUBLISH || sp->kind == SIM_WL_JS_READ)) {
        js_on_inbox(m, subject, sl, body, body_len);
        return;
    }
    if (inbox && sp->kind == SIM_WL_REQUEST) {
        /* The inbox's last token is the request counter. */
        size_t dot = sl;
        while (dot > 0 && subject[dot - 1] != '.') {
            dot--;
        }
        uint64_t seq = g_ascii_strtoull(subject + dot, NULL, 10);
        struct request *r = g_hash_table_lookup(m->pending_by_seq, &seq);
        if (r == NULL) {
            return; /* a late or second reply */
        }
        char text[ID_MAX];
        size_t tl = body_len < sizeof(text) - 1 ? body_len : sizeof(text) - 1;
        memcpy(text, body, tl);
        text[tl] = '\0';
        ev.pub = m->actor;
        ev.seq = seq;
        ev.text = text;
        record(m, SIM_H_REPLY, &ev);
        m->wl->stats.replies++;
        request_free(m, r);
        arm_request_timer(m);
        return;
    }
    ev.gen = m->gen;
    ev.subject = interned_subject(m, subject, strlen(subject));
    if (!parse_id(m, body, body_len, &ev.pub, &ev.seq)) {
        ev.pub = UINT32_MAX;
    }
    record(m, SIM_H_MSG, &ev);
    m->wl->stats.received++;
    if (sp->kind == SIM_WL_REPLY && op->reply.len > 0) {
        size_t idl = 0;
        while (idl < body_len && body[idl] != ' ') {
            idl++;
        }
        char line[SIM_WL_SUBJECT_MAX + 64];
        int n = snprintf(line, sizeof(line), "PUB %.*s %zu\r\n", (int)op->reply.len,
                         op->reply.ptr, idl);
        mr_assert(n > 0 && (size_t)n < sizeof(line));
        send_bytes(m, line, (size_t)n);
        g_byte_array_append(m->out, body, (guint)idl);
        g_byte_array_append(m->out, (const guint8 *)"\r\n", 2);
        m->wl->stats.replies++;
    }
}

/* Keeps the workload's first error for the run's report. */
static void note_error(struct member *m, const char *text)
{
    struct sim_workload_stats *st = &m->wl->stats;
    if (st->first_error[0] != '\0') {
        return;
    }
    g_strlcpy(st->first_error, text, sizeof(st->first_error));
    g_strlcpy(st->first_error_server, server_name(m), sizeof(st->first_error_server));
    st->first_error_ns = sim_world_now_ns(m->wl->world);
}

static void on_err(struct member *m, const struct mr_proto_op *op)
{
    char text[256];
    size_t n = op->json.len < sizeof(text) - 1 ? op->json.len : sizeof(text) - 1;
    memcpy(text, op->json.ptr, n);
    text[n] = '\0';
    record_simple(m, SIM_H_ERR, server_name(m), text);
    m->wl->stats.errors++;
    note_error(m, text);
}

static void on_op(struct member *m, const struct mr_proto_op *op)
{
    switch (op->op) {
    case MR_OP_INFO:
        if (m->state == M_AWAIT_INFO) {
            m->connected_once = true;
            m->wl->stats.connects++;
            record_simple(m, SIM_H_CONNECT, server_name(m), "");
            send_handshake(m);
        }
        break;
    case MR_OP_PING:
        send_str(m, "PONG\r\n");
        break;
    case MR_OP_PONG:
        if (m->pings_out > 0) {
            m->pings_out--;
        }
        if (m->state == M_AWAIT_PONG) {
            on_ready(m);
        }
        break;
    case MR_OP_MSG:
    case MR_OP_HMSG:
        on_msg(m, op);
        break;
    case MR_OP_ERR:
        on_err(m, op);
        break;
    default:
        break;
    }
}

static void parse_input(struct member *m)
{
    size_t off = 0;
    while (off < m->in->len && m->state >= M_AWAIT_INFO && m->state <= M_READY) {
        struct mr_proto_op op;
        memset(&op, 0, sizeof(op));
        int rc = mr_parser_parse(&m->parser, m->in->data + off, m->in->len - off, &op);
        if (rc == MR_AGAIN) {
            break;
        }
        if (rc < 0) {
            /* Bytes no server should send: count, and drop the connection. */
            m->wl->stats.protocol_errors++;
            record_simple(m, SIM_H_ERR, server_name(m), mr_err_name(rc));
            note_error(m, mr_err_name(rc));
            close_conn(m);
            break;
        }
        off += (size_t)rc;
        on_op(m, &op);
    }
    if (m->state >= M_AWAIT_INFO && m->state <= M_READY) {
        g_byte_array_remove_range(m->in, 0, (guint)off);
    } else {
        g_byte_array_set_size(m->in, 0);
    }
}

/* ------------------------------------------------------------------------------------
 * The sink
 */

static struct member *member_by_conn(struct sim_workload *wl, uint64_t conn_id)
{
    for (uint32_t i = 0; i < wl->spec.clients; i++) {
        struct member *m = &wl->members[i];
        if (m->conn_open && m->conn_id == conn_id) {
            return m;
        }
    }
    return NULL;
}

static void sink_on_accept(void *ctx, uint64_t listener_id, uint64_t conn_id,
                           const char *peer_host, uint16_t peer_port)
{
    (void)ctx;
    (void)listener_id;
    (void)conn_id;
    (void)peer_host;
    (void)peer_port;
    /* A workload host never listens. */
    mr_assert(false);
}

static void sink_on_connected(void *ctx, uint64_t conn_id, int status)
{
    struct sim_workload *wl = ctx;
    struct member *m = member_by_conn(wl, conn_id);
    if (m == NULL) {
        return; /* stopped meanwhile */
    }
    if (status != 0) {
        /* A failed connect is the stream's only terminal input. */
        m->conn_open = false;
        if (m->state == M_STOPPED) {
            return;
        }
        wl->stats.connect_fails++;
        schedule_reconnect(m);
        return;
    }
    if (m->state == M_CLOSING || m->state == M_STOPPED) {
        return; /* on_closed follows */
    }
    mr_assert(m->state == M_CONNECTING);
    m->state = M_AWAIT_INFO;
    if (wl->spec.ping_interval_ns != 0) {
        arm(m, T_PING, now(wl) + wl->spec.ping_interval_ns);
    }
}

static void sink_on_bytes(void *ctx, uint64_t conn_id, const uint8_t *buf, size_t len)
{
    struct sim_workload *wl = ctx;
    struct member *m = member_by_conn(wl, conn_id);
    if (m == NULL || m->state < M_AWAIT_INFO || m->state > M_READY) {
        return;
    }
    g_byte_array_append(m->in, buf, (guint)len);
    parse_input(m);
}

static void sink_on_closed(void *ctx, uint64_t conn_id)
{
    struct sim_workload *wl = ctx;
    struct member *m = member_by_conn(wl, conn_id);
    if (m == NULL) {
        return;
    }
    m->conn_open = false;
    if (m->state == M_STOPPED) {
        return;
    }
    if (m->connected_once) {
        wl->stats.disconnects++;
        record_simple(m, SIM_H_DISCONNECT, server_name(m), "");
    }
    conn_reset_buffers(m);
    schedule_reconnect(m);
}

static void on_ping_timer(struct member *m)
{
    const struct sim_workload_spec *sp = &m->wl->spec;
    if (m->state < M_AWAIT_INFO || m->state > M_READY) {
        return;
    }
    if (m->pings_out >= SIM_WL_PINGS_OUT_MAX) {
        /* The stream is stalled (partition) or the server is gone: like a real
         * client, give up on this connection and reconnect. */
        close_conn(m);
        return;
    }
    if (m->state != M_AWAIT_INFO) {
        send_str(m, "PING\r\n");
        m->pings_out++;
    } else {
        m->pings_out++;
    }
    arm(m, T_PING, now(m->wl) + sp->ping_interval_ns);
}

static void sink_on_timer(void *ctx, uint64_t timer_id)
{
    struct sim_workload *wl = ctx;
    if (timer_id == TIMER_STOP) {
        sim_workload_stop(wl);
        return;
    }
    uint64_t idx = timer_id / T_SLOTS;
    mr_assert(idx < wl->spec.clients);
    struct member *m = &wl->members[idx];
    if (m->state == M_STOPPED) {
        return;
    }
    switch ((enum timer_slot)(timer_id % T_SLOTS)) {
    case T_CONNECT:
        connect_next(m);
        break;
    case T_TICK:
        on_tick(m);
        break;
    case T_PING:
        on_ping_timer(m);
        break;
    case T_REQ:
        on_request_timer(m);
        break;
    case T_SLOTS:
        mr_assert(false);
        break;
    }
}

static void sink_on_tls(void *ctx, uint64_t conn_id, int status, const char *peer_subject)
{
    (void)ctx;
    (void)conn_id;
    (void)status;
    (void)peer_subject;
}

static void sink_on_file_done(void *ctx, uint64_t req_id, int64_t result, const uint8_t *data,
                              size_t len)
{
    (void)ctx;
    (void)req_id;
    (void)result;
    (void)data;
    (void)len;
}

static size_t sink_out_peek(void *ctx, uint64_t conn_id, struct mr_iov *iov, size_t iov_max)
{
    struct sim_workload *wl = ctx;
    struct member *m = member_by_conn(wl, conn_id);
    if (m == NULL || m->out->len == 0 || iov_max == 0) {
        return 0;
    }
    iov[0].base = m->out->data;
    iov[0].len = m->out->len;
    return 1;
}

static void sink_out_consume(void *ctx, uint64_t conn_id, size_t n)
{
    struct sim_workload *wl = ctx;
    struct member *m = member_by_conn(wl, conn_id);
    if (m == NULL) {
        return;
    }
    mr_assert(n <= m->out->len);
    g_byte_array_remove_range(m->out, 0, (guint)n);
}

/* ------------------------------------------------------------------------------------
 * Public API
 */

void sim_workload_spec_default(struct sim_workload_spec *spec)
{
    memset(spec, 0, sizeof(*spec));
    spec->port = 4222;
    spec->clients = 1;
    spec->rate = 1;
    spec->payload_bytes = 16;
    spec->ping_interval_ns = 2 * MR_NS_PER_SEC;
    spec->request_timeout_ns = 2 * MR_NS_PER_SEC;
}

static int invalid(char *errmsg, size_t errmsg_len, const char *name, const char *what)
{
    if (errmsg != NULL && errmsg_len > 0) {
        snprintf(errmsg, errmsg_len, "workload \"%s\": %s", name, what);
    }
    return MR_E_INVAL;
}

static bool token_safe(const char *s)
{
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '.' || *p == '*' || *p == '>' || *p == ' ' || *p == ':' || *p < 0x21) {
            return false;
        }
    }
    return true;
}

static int spec_validate(const struct sim_workload_spec *sp, char *errmsg, size_t errmsg_len)
{
    const char *n = sp->name;
    if (sp->name[0] == '\0' || memchr(sp->name, '\0', sizeof(sp->name)) == NULL ||
        !token_safe(sp->name)) {
        return invalid(errmsg, errmsg_len, n, "name must be a subject token without ':'");
    }
    if (sp->kind < SIM_WL_PUBLISH || sp->kind > SIM_WL_JS_READ) {
        return invalid(errmsg, errmsg_len, n, "unknown kind");
    }
    if (sp->servers_len == 0 || sp->servers_len > SIM_WL_SERVERS_MAX) {
        return invalid(errmsg, errmsg_len, n, "needs 1 to 16 servers");
    }
    if (sp->clients == 0 || sp->clients > SIM_WL_CLIENTS_MAX) {
        return invalid(errmsg, errmsg_len, n, "clients must be 1 to 64");
    }
    size_t sl = strnlen(sp->subject, sizeof(sp->subject));
    if (sl == 0 || sl == sizeof(sp->subject) || !mr_subject_valid(sp->subject, sl)) {
        return invalid(errmsg, errmsg_len, n, "invalid subject");
    }
    if (sends(sp->kind) && mr_subject_has_wildcard(sp->subject, sl)) {
        return invalid(errmsg, errmsg_len, n, "a publish subject cannot have wildcards");
    }
    size_t ql = strnlen(sp->queue, sizeof(sp->queue));
    if (sp->kind == SIM_WL_QUEUE && ql == 0) {
        return invalid(errmsg, errmsg_len, n, "a queue workload needs a queue");
    }
    if (ql > 0 && (!has_sub(sp->kind) || !mr_subject_valid_queue(sp->queue, ql))) {
        return invalid(errmsg, errmsg_len, n, "invalid queue");
    }
    if (sends(sp->kind) && (sp->rate == 0 || sp->payload_bytes > SIM_WL_PAYLOAD_MAX)) {
        return invalid(errmsg, errmsg_len, n, "rate must be >= 1 and payload <= 1 MiB");
    }
    if (memchr(sp->user, '\0', sizeof(sp->user)) == NULL ||
        memchr(sp->password, '\0', sizeof(sp->password)) == NULL ||
        memchr(sp->token, '\0', sizeof(sp->token)) == NULL) {
        return invalid(errmsg, errmsg_len, n, "user, password or token too long");
    }
    if (sp->token[0] != '\0' && (sp->user[0] != '\0' || sp->password[0] != '\0')) {
        return invalid(errmsg, errmsg_len, n, "a token excludes user and password");
    }
    if (memchr(sp->region, '\0', sizeof(sp->region)) == NULL) {
        return invalid(errmsg, errmsg_len, n, "region name too long");
    }
    bool js = sp->kind == SIM_WL_JS_PUBLISH || sp->kind == SIM_WL_JS_READ;
    size_t stl = strnlen(sp->stream, sizeof(sp->stream));
    if (stl == sizeof(sp->stream) || (stl > 0 && !token_safe(sp->stream)) ||
        (sp->kind == SIM_WL_JS_READ && stl == 0) ||
        (!js && stl > 0)) {
        return invalid(errmsg, errmsg_len, n, "stream: a name for JetStream kinds only");
    }
    if (memchr(sp->stream_json, '\0', sizeof(sp->stream_json)) == NULL ||
        (sp->stream_json[0] != '\0' && (sp->kind != SIM_WL_JS_PUBLISH || stl == 0))) {
        return invalid(errmsg, errmsg_len, n, "stream_json: js_publish with a stream only");
    }
    if (sp->stop_ns != 0 && sp->stop_ns < sp->start_ns) {
        return invalid(errmsg, errmsg_len, n, "stop before start");
    }
    return 0;
}

/* Sets up member i and arms its first connect at start_ns (or t, if later). */
static void member_init(struct sim_workload *wl, struct member *m, uint32_t i, uint64_t t)
{
    m->wl = wl;
    m->index = i;
    if (wl->spec.clients == 1) {
        snprintf(m->name, sizeof(m->name), "%s", wl->spec.name);
    } else {
        snprintf(m->name, sizeof(m->name), "%s-%" PRIu32, wl->spec.name, i);
    }
    m->actor = sim_history_actor(wl->history, m->name);
    m->server_idx = i % wl->spec.servers_len;
    m->in = g_byte_array_new();
    m->out = g_byte_array_new();
    mr_parser_init(&m->parser, MR_PARSER_CLIENT, MR_CONTROL_LINE_MAX, MR_PAYLOAD_MAX);
    g_queue_init(&m->pending);
    m->pending_by_seq = g_hash_table_new(g_int64_hash, g_int64_equal);
    arm(m, T_CONNECT, wl->spec.start_ns > t ? wl->spec.start_ns : t);
}

int sim_workload_create(struct sim_world *w, const struct sim_workload_spec *spec,
                        struct sim_history *history, struct sim_workload **out, char *errmsg,
                        size_t errmsg_len)
{
    mr_assert(w != NULL);
    mr_assert(spec != NULL);
    mr_assert(history != NULL);
    mr_assert(out != NULL);
    int rc = spec_validate(spec, errmsg, errmsg_len);
    if (rc != 0) {
        return rc;
    }
    if (sim_world_host(w, spec->name) != NULL) {
        if (errmsg != NULL && errmsg_len > 0) {
            snprintf(errmsg, errmsg_len, "workload \"%s\": a host of that name exists",
                     spec->name);
        }
        return MR_E_EXISTS;
    }
    struct sim_workload *wl = g_new0(struct sim_workload, 1);
    wl->world = w;
    wl->history = history;
    wl->spec = *spec;
    if (wl->spec.port == 0) {
        wl->spec.port = 4222;
    }
    if (wl->spec.request_timeout_ns == 0) {
        wl->spec.request_timeout_ns = 2 * MR_NS_PER_SEC;
    }
    wl->host = spec->region[0] != '\0' ? sim_host_create_in(w, spec->name, spec->region)
                                        : sim_host_create(w, spec->name);
    wl->env = sim_host_env(wl->host);
    wl->sink = (struct mr_env_sink){
        .ctx = wl,
        .on_accept = sink_on_accept,
        .on_connected = sink_on_connected,
        .on_bytes = sink_on_bytes,
        .on_closed = sink_on_closed,
        .on_timer = sink_on_timer,
        .on_tls = sink_on_tls,
        .on_file_done = sink_on_file_done,
        .out_peek = sink_out_peek,
        .out_consume = sink_out_consume,
    };
    sim_host_set_sink(wl->host, &wl->sink);
    wl->members = g_new0(struct member, wl->spec.clients);
    uint64_t t = now(wl);
    for (uint32_t i = 0; i < wl->spec.clients; i++) {
        member_init(wl, &wl->members[i], i, t);
    }
    if (wl->spec.stop_ns != 0) {
        int arc = wl->env->timer_arm(wl->env->ctx, TIMER_STOP, wl->spec.stop_ns);
        mr_assert(arc == 0);
    }
    *out = wl;
    return 0;
}

void sim_workload_stop(struct sim_workload *wl)
{
    if (wl->stopped) {
        return;
    }
    wl->stopped = true;
    wl->env->timer_cancel(wl->env->ctx, TIMER_STOP);
    for (uint32_t i = 0; i < wl->spec.clients; i++) {
        stop_member(&wl->members[i]);
    }
}

void sim_workload_destroy(struct sim_workload *wl)
{
    if (wl == NULL) {
        return;
    }
    sim_host_set_sink(wl->host, NULL);
    for (uint32_t i = 0; i < wl->spec.clients; i++) {
        struct member *m = &wl->members[i];
        GList *l;
        while ((l = g_queue_peek_head_link(&m->pending)) != NULL) {
            request_free(m, l->data);
        }
        g_hash_table_destroy(m->pending_by_seq);
        g_byte_array_free(m->in, TRUE);
        g_byte_array_free(m->out, TRUE);
    }
    g_free(wl->members);
    g_free(wl);
}

const struct sim_workload_spec *sim_workload_spec(const struct sim_workload *wl)
{
    return &wl->spec;
}

struct sim_host *sim_workload_host(struct sim_workload *wl)
{
    return wl->host;
}

void sim_workload_stats(const struct sim_workload *wl, struct sim_workload_stats *out)
{
    *out = wl->stats;
}

bool sim_workload_ready(const struct sim_workload *wl)
{
    for (uint32_t i = 0; i < wl->spec.clients; i++) {
        if (wl->members[i].state != M_READY) {
            return false;
        }
    }
    return true;
}

bool sim_workload_ready_pred(void *wl)
{
    return sim_workload_ready(wl);
}

void sim_workload_check(const struct sim_workload *wl)
{
    mr_assert(wl->spec.clients >= 1 && wl->spec.clients <= SIM_WL_CLIENTS_MAX);
    for (uint32_t i = 0; i < wl->spec.clients; i++) {
        const struct member *m = &wl->members[i];
        mr_assert(m->index == i);
        mr_assert(m->server_idx < wl->spec.servers_len);
        mr_assert(m->pending.length == g_hash_table_size(m->pending_by_seq));
        mr_assert(m->pings_out <= SIM_WL_PINGS_OUT_MAX);
        if (m->state == M_BACKOFF || m->state == M_IDLE) {
            mr_assert(m->out->len == 0);
        }
        uint64_t prev = 0;
        for (GList *l = m->pending.head; l != NULL; l = l->next) {
            const struct request *r = l->data;
            mr_assert(r->deadline_ns >= prev);
            prev = r->deadline_ns;
        }
        if (wl->spec.max_count != 0) {
            mr_assert(m->counter <= wl->spec.max_count);
        }
    }
}
