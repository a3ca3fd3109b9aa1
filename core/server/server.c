/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server core: client connections, the NATS client protocol (INFO, CONNECT, PUB,
 * HPUB, SUB, UNSUB, MSG, HMSG, PING, PONG, +OK, -ERR), fan-out through the sublist,
 * queue groups, no-responders, keepalive, auth timeout, write deadline and slow
 * consumers. Route connections share the connection machinery; their protocol and
 * interest live in route.c.
 *
 * Invariants:
 *  - Every open connection is in conns_by_id and in the conn list (accept order), until
 *    the env reports on_closed; only then is its memory freed.
 *  - A closing connection receives no deliveries and processes no input. Its
 *    subscriptions leave the sublist at the end of the current input (reap), never in
 *    the middle of a fan-out, because match results are borrowed from the sublist.
 *  - Subscriptions leave the sublist in a deterministic order (per connection, in
 *    subscription order), so match results never depend on hash or pointer order.
 *  - Randomness (server id, queue member choice) comes from a PRNG seeded once from
 *    env->random, so a simulated run is reproducible from its seed.
 */
#include "core/server/server.h"

#include <glib.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/conf/conf_server.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/mem.h"
#include "core/proto/decimal.h"
#include "core/proto/parser.h"
#include "core/proto/subject.h"
#include "core/js/js_api.h"
#include "core/server/account.h"
#include "core/server/auth.h"
#include "core/server/monitor.h"
#include "core/server/outbuf.h"
#include "core/server/server_int.h"
#include "core/server/sublist.h"
#include "core/server/ws_conn.h"

/* ------------------------------------------------------------------------------------ */
/* Small helpers                                                                         */

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256**: fast, and seeded from env->random so a simulated run replays. */
static uint64_t rng_next(struct mr_server *s)
{
    uint64_t *r = s->rng;
    uint64_t result = rotl(r[1] * 5, 7) * 9;
    uint64_t t = r[1] << 17;
    r[2] ^= r[0];
    r[3] ^= r[1];
    r[1] ^= r[2];
    r[0] ^= r[3];
    r[2] ^= t;
    r[3] = rotl(r[3], 45);
    return result;
}

static void vslog(struct mr_server *s, enum mr_log_level level, const char *fmt, va_list ap)
{
    if (level == MR_LOG_DEBUG && !s->opts.debug) {
        return;
    }
    if (level == MR_LOG_TRACE && !s->opts.trace) {
        return;
    }
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    s->env->log(s->env->ctx, level, "server", msg);
}

void mr_server_log(struct mr_server *s, enum mr_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vslog(s, level, fmt, ap);
    va_end(ap);
}

#define slog mr_server_log

static uint64_t now(const struct mr_server *s)
{
    return s->env->now_ns(s->env->ctx);
}

/* Env connection ids are never reused, so a timer id names one connection for good. */
static uint64_t timer_id(const struct mr_conn *c, enum mr_timer_kind kind)
{
    mr_assert(c->id < (UINT64_C(1) << (64 - TIMER_KIND_BITS)));
    return (c->id << TIMER_KIND_BITS) | (uint64_t)kind;
}

/* ------------------------------------------------------------------------------------ */
/* Output                                                                                */

static void close_conn(struct mr_conn *c, const char *reason, bool drop_output);

static void mark_writable(struct mr_conn *c)
{
    if (!c->want_write) {
        c->want_write = true;
        c->last_progress_ns = now(c->srv);
        c->srv->env->stream_want_write(c->srv->env->ctx, c->id);
        if (!c->write_timer_armed) {
            c->write_timer_armed = true;
            c->srv->env->timer_arm(c->srv->env->ctx, timer_id(c, TIMER_WRITE),
                                   c->last_progress_ns + c->srv->opts.write_deadline_ns);
        }
    }
}

/* Queues bytes; on budget exhaustion or over max_pending the connection is closed as a
 * slow consumer (nats-server closes without -ERR). Returns false if it was closed. */
static bool queue_raw(struct mr_conn *c, const void *p, size_t n)
{
    if (c->state != CONN_OPEN) {
        return false;
    }
    if (c->out.pending_bytes + n > (size_t)c->srv->opts.max_pending ||
        mr_outbuf_append(&c->out, p, n) != MR_OK) {
        c->srv->stats.slow_consumers++;
        slog(c->srv, MR_LOG_WARN, "cid:%llu - Slow Consumer Detected: pending %zu bytes",
             (unsigned long long)c->cid, c->out.pending_bytes);
        close_conn(c, "Slow Consumer (Pending Bytes)", true);
        return false;
    }
    mark_writable(c);
    return true;
}

static bool queue_out(struct mr_conn *c, const void *p, size_t n)
{
    if (c->ws != NULL && mr_ws_conn_framing(c)) {
        return mr_ws_conn_queue(c, p, n);
    }
    return queue_raw(c, p, n);
}

bool mr_conn_queue_raw(struct mr_conn *c, const void *p, size_t n)
{
    return queue_raw(c, p, n);
}

static void send_str(struct mr_conn *c, const char *str)
{
    (void)queue_out(c, str, strlen(str));
}

/* -ERR '<text>': pieces, because texts quote client subjects of any length. */
static void send_err(struct mr_conn *c, const char *text)
{
    if (queue_out(c, "-ERR '", 6) && queue_out(c, text, strlen(text))) {
        (void)queue_out(c, "'\r\n", 3);
    }
}

/* -ERR 'Permissions Violation for <what> "<subject>"[ using queue "<queue>"]'. */
static void send_perm_err(struct mr_conn *c, const char *what, const struct mr_view *subject,
                          const struct mr_view *queue)
{
    GString *t = g_string_new("Permissions Violation for ");
    g_string_append(t, what);
    g_string_append(t, " \"");
    g_string_append_len(t, subject->ptr, subject->len);
    g_string_append_c(t, '"');
    if (queue != NULL && queue->len > 0) {
        g_string_append(t, " using queue \"");
        g_string_append_len(t, queue->ptr, queue->len);
        g_string_append_c(t, '"');
    }
    send_err(c, t->str);
    g_string_free(t, TRUE);
}

void mr_conn_send_err(struct mr_conn *c, const char *text)
{
    send_err(c, text);
}

uint64_t mr_server_now(const struct mr_server *s)
{
    return now(s);
}

void mr_server_arm_dial(struct mr_server *s, uint64_t conn_id)
{
    s->env->timer_arm(s->env->ctx, (conn_id << TIMER_KIND_BITS) | TIMER_DIAL,
                      now(s) + MR_DIAL_TIMEOUT_NS);
}

void mr_server_cancel_dial(struct mr_server *s, uint64_t conn_id)
{
    s->env->timer_cancel(s->env->ctx, (conn_id << TIMER_KIND_BITS) | TIMER_DIAL);
}

uint64_t mr_server_rand(struct mr_server *s)
{
    return rng_next(s);
}

bool mr_conn_queue_out(struct mr_conn *c, const void *p, size_t n)
{
    return queue_out(c, p, n);
}

void mr_conn_close(struct mr_conn *c, const char *reason)
{
    close_conn(c, reason, false);
}

int64_t mr_server_wall_of(const struct mr_server *s, uint64_t mono_ns)
{
    return s->start_wall_ns + (int64_t)(mono_ns - s->start_ns);
}

static void send_ok(struct mr_conn *c)
{
    if (c->verbose) {
        send_str(c, "+OK\r\n");
    }
}

/* ------------------------------------------------------------------------------------ */
/* Connection lifecycle                                                                  */

static void queue_reap(struct mr_conn *c)
{
    if (!c->reap_queued) {
        c->reap_queued = true;
        c->reap_next = c->srv->reap_head;
        c->srv->reap_head = c;
    }
}

/* Marks the connection closing: no more input or deliveries; its subscriptions leave
 * at the end of this input. */
static void mark_closing(struct mr_conn *c, const char *reason, bool drop_output)
{
    struct mr_server *s = c->srv;
    mr_assert(c->state == CONN_OPEN);
    /* Monitoring keeps recently closed connections, subscriptions still attached. */
    mr_monitor_conn_closed(s, c, reason);
    if (c->ws != NULL && !drop_output) {
        mr_ws_conn_closing(c, reason);
    }
    c->state = CONN_CLOSING;
    static const char *const kinds[] = {
        [MR_CONN_CLIENT] = "Client",
        [MR_CONN_HTTP] = "Monitoring",
        [MR_CONN_ROUTE] = "Route",
        [MR_CONN_GATEWAY] = "Gateway",
        [MR_CONN_LEAF] = "Leafnode",
    };
    slog(s, MR_LOG_DEBUG, "%s:%u - cid:%llu - %s connection closed: %s", c->host,
         (unsigned)c->port, (unsigned long long)c->cid, kinds[c->kind], reason);
    if (drop_output) {
        mr_outbuf_deinit(&c->out);
    }
    s->env->timer_cancel(s->env->ctx, timer_id(c, TIMER_AUTH));
    s->env->timer_cancel(s->env->ctx, timer_id(c, TIMER_PING));
    s->env->timer_cancel(s->env->ctx, timer_id(c, TIMER_WRITE));
    s->env->timer_cancel(s->env->ctx, timer_id(c, TIMER_RESUME));
    queue_reap(c);
}

static void close_conn(struct mr_conn *c, const char *reason, bool drop_output)
{
    if (c->state == CONN_CLOSING) {
        return;
    }
    mark_closing(c, reason, drop_output);
    c->srv->env->stream_close(c->srv->env->ctx, c->id);
}

static void csub_free(struct mr_server *s, struct mr_csub *cs)
{
    mr_mem_free(&s->mem, cs, cs->alloc_len);
}

static void csub_unlink(struct mr_conn *c, struct mr_csub *cs)
{
    if (cs->prev != NULL) {
        cs->prev->next = cs->next;
    } else {
        c->subs_head = cs->next;
    }
    if (cs->next != NULL) {
        cs->next->prev = cs->prev;
    } else {
        c->subs_tail = cs->prev;
    }
    c->subs_count--;
    c->srv->sub_changes++;
}

/* Removes one subscription from the sublist and the connection, and frees it. Only
 * outside a fan-out. */
static void csub_remove(struct mr_server *s, struct mr_csub *cs)
{
    struct mr_conn *c = cs->conn;
    int rc = mr_sublist_remove(c->account->sublist, &cs->sub);
    mr_assert(rc == MR_OK);
    mr_route_interest(s, c->account, &cs->sub, -1);
    mr_gateway_interest(s, c->account, &cs->sub, -1);
    mr_leaf_interest(s, c->account, &cs->sub, NULL, -1);
    g_hash_table_remove(c->subs_by_sid, cs->sid);
    csub_unlink(c, cs);
    s->stats.subscriptions--;
    c->account->subs--;
    csub_free(s, cs);
}

static void remove_all_subs(struct mr_server *s, struct mr_conn *c)
{
    while (c->subs_head != NULL) {
        csub_remove(s, c->subs_head);
    }
}

/* End-of-input housekeeping: deferred unsubscribes and subscriptions of closed
 * connections leave the sublist here, when no match result is borrowed. */
static void reap(struct mr_server *s)
{
    while (s->unsub_head != NULL) {
        struct mr_csub *cs = s->unsub_head;
        s->unsub_head = cs->unsub_next;
        csub_remove(s, cs);
    }
    /* The reap list is LIFO; connections are independent, so order only affects the
     * sublist's internal slots, which are deterministic either way. */
    while (s->reap_head != NULL) {
        struct mr_conn *c = s->reap_head;
        s->reap_head = c->reap_next;
        c->reap_queued = false;
        remove_all_subs(s, c);
        if (c->kind == MR_CONN_ROUTE) {
            mr_route_reap(s, c);
        } else if (c->kind == MR_CONN_GATEWAY) {
            mr_gateway_reap(s, c);
        } else if (c->kind == MR_CONN_LEAF) {
            mr_leaf_reap(s, c);
        }
    }
}

static void conn_free(struct mr_server *s, struct mr_conn *c)
{
    mr_assert(c->subs_count == 0);
    if (c->subs_by_sid != NULL) {
        g_hash_table_destroy(c->subs_by_sid);
    }
    mr_auth_conn_deinit(c);
    mr_route_conn_free(s, c);
    mr_gateway_conn_free(s, c);
    mr_leaf_conn_free(s, c);
    mr_gateway_client_free(c);
    mr_ws_conn_free(c);
    g_free(c->name);
    g_free(c->lang);
    g_free(c->version);
    if (c->kind == MR_CONN_CLIENT && c->counted) {
        s->stats.connections--;
        if (c->account != NULL) {
            mr_assert(c->account->conns > 0);
            c->account->conns--;
        }
    }
    mr_outbuf_deinit(&c->out);
    mr_mem_free(&s->mem, c->in_buf, c->in_cap);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        s->conns_head = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    } else {
        s->conns_tail = c->prev;
    }
    g_hash_table_remove(s->conns_by_id, &c->id);
    if (s->conn_memo == c) {
        s->conn_memo = NULL;
    }
    s->conn_changes++;
    mr_mem_free(&s->mem, c, sizeof(*c));
}

static struct mr_conn *conn_lookup(struct mr_server *s, uint64_t id)
{
    if (s->conn_memo != NULL && s->conn_memo->id == id) {
        return s->conn_memo;
    }
    struct mr_conn *c = g_hash_table_lookup(s->conns_by_id, &id);
    if (c != NULL) {
        s->conn_memo = c;
    }
    return c;
}

/* ------------------------------------------------------------------------------------ */
/* Delivery                                                                              */

/* JetStream deliveries travel on the deliver subject with the reply
 * "$JS.ACK.<9 tokens>@<stored subject>" (nats-server's form, js_consumer.h); a client
 * gets the stored subject and the bare ack reply. */
bool mr_server_js_split(const struct mr_msg *m, struct mr_msg *out)
{
    static const char pre[] = "$JS.ACK.";
    const char *r = m->reply.ptr;
    size_t n = m->reply.len;
    if (n <= sizeof(pre) - 1 || memcmp(r, pre, sizeof(pre) - 1) != 0) {
        return false;
    }
    /* Names may hold '@': look after the eighth '.', where only numbers follow. */
    const char *p = r;
    for (int dots = 0; dots < 8; dots++) {
        p = memchr(p, '.', n - (size_t)(p - r));
        if (p == NULL) {
            return false;
        }
        p++;
    }
    const char *at = memchr(p, '@', n - (size_t)(p - r));
    if (at == NULL || (size_t)(at - r) + 1 >= n) {
        return false;
    }
    *out = *m;
    out->reply.len = (uint32_t)(at - r);
    out->subject.ptr = at + 1;
    out->subject.len = (uint32_t)(n - out->reply.len - 1);
    return true;
}

/* Writes one MSG/HMSG for a subscription. The control line is built in a stack buffer
 * when it fits (the common case), else appended piecewise. */
static void deliver(struct mr_server *s, struct mr_csub *cs, const struct mr_msg *op)
{
    struct mr_conn *c = cs->conn;
    if (c->state != CONN_OPEN || cs->removing) {
        return;
    }
    struct mr_msg unrouted;
    if (op->reply.len > MR_GW_REPLY_PREFIX_LEN && op->reply.ptr[0] == '_' &&
        s->gw.opts != NULL && mr_gateway_is_routed(op->reply)) {
        /* Clients see the requester's own reply subject, as with nats-server; their
         * answer is routed back by the mapping kept here. */
        mr_gateway_note_reply(c, op->reply);
        unrouted = *op;
        unrouted.reply.ptr += MR_GW_REPLY_PREFIX_LEN;
        unrouted.reply.len -= MR_GW_REPLY_PREFIX_LEN;
        op = &unrouted;
    }
    struct mr_msg js_split;
    if (mr_server_js_split(op, &js_split)) {
        op = &js_split;
    }
    if (c->permissions != NULL) {
        /* A wildcard SUB may overlap a denied subject: nats-server drops those
         * deliveries. A request reaching an allow_responses client grants its reply. */
        if (mr_auth_delivery_denied(c, op->subject.ptr, op->subject.len)) {
            return;
        }
        mr_auth_note_reply(c, op->reply.ptr, op->reply.len);
    }
    if (cs->max != 0 && cs->delivered >= cs->max) {
        return;
    }
    cs->delivered++;
    if (cs->max != 0 && cs->delivered >= cs->max) {
        cs->removing = true;
        cs->unsub_next = s->unsub_head;
        s->unsub_head = cs;
    }
    if (s->opts.test_drop_every != 0 && ++s->deliveries % s->opts.test_drop_every == 0) {
        return;
    }
    const uint8_t *payload = op->payload;
    uint32_t size = op->size;
    uint32_t hdr = op->hdr_len;
    if (hdr > 0 && !c->headers) {
        /* A client that did not negotiate headers gets the body alone, as MSG. */
        payload += hdr;
        size -= hdr;
        hdr = 0;
    }
    char line[512];
    size_t need = 4 + op->subject.len + 1 + cs->sid_len + 1 + op->reply.len + 1 + 48;
    char *w = line;
    if (need > sizeof(line)) {
        w = NULL;
    }
    if (w != NULL) {
        if (hdr > 0) {
            memcpy(w, "HMSG ", 5);
            w += 5;
        } else {
            memcpy(w, "MSG ", 4);
            w += 4;
        }
        memcpy(w, op->subject.ptr, op->subject.len);
        w += op->subject.len;
        *w++ = ' ';
        memcpy(w, cs->sid, cs->sid_len);
        w += cs->sid_len;
        *w++ = ' ';
        if (op->reply.len > 0) {
            memcpy(w, op->reply.ptr, op->reply.len);
            w += op->reply.len;
            *w++ = ' ';
        }
        if (hdr > 0) {
            w += mr_u64_to_dec(w, hdr);
            *w++ = ' ';
        }
        w += mr_u64_to_dec(w, size);
        *w++ = '\r';
        *w++ = '\n';
        if (!queue_out(c, line, (size_t)(w - line))) {
            return;
        }
    } else {
        char num[48];
        size_t n = 0;
        if (!queue_out(c, hdr > 0 ? "HMSG " : "MSG ", hdr > 0 ? 5 : 4) ||
            !queue_out(c, op->subject.ptr, op->subject.len) || !queue_out(c, " ", 1) ||
            !queue_out(c, cs->sid, cs->sid_len) || !queue_out(c, " ", 1)) {
            return;
        }
        if (op->reply.len > 0 &&
            (!queue_out(c, op->reply.ptr, op->reply.len) || !queue_out(c, " ", 1))) {
            return;
        }
        if (hdr > 0) {
            n = mr_u64_to_dec(num, hdr);
            num[n++] = ' ';
        }
        n += mr_u64_to_dec(num + n, size);
        num[n++] = '\r';
        num[n++] = '\n';
        if (!queue_out(c, num, n)) {
            return;
        }
    }
    if (!queue_out(c, payload, size) || !queue_out(c, "\r\n", 2)) {
        return;
    }
    c->out_msgs++;
    c->out_bytes += size;
    c->account->out_msgs++;
    c->account->out_bytes += size;
    s->stats.out_msgs++;
    s->stats.out_bytes += size;
}

/* Picks one member of a queue group, each weighted as nats-server does: a local
 * member counts one, a route's entry counts the members behind it. From the drawn
 * position on, the first member that can take the message wins (open connection, not
 * the publisher when echo is off, an open route). With only local members this is a
 * uniform random start, one PRNG draw either way. */
/* A queue member's share: a local member one, a route's entry the members behind it
 * (none when routes are not to be used), a leaf's none (leafs are the last resort). */
static uint32_t member_weight(const struct mr_sub *sub, bool routes_ok)
{
    if (sub->flags & MR_SUB_ROUTE) {
        return routes_ok ? mr_route_sub_weight(sub) : 0;
    }
    return (sub->flags & MR_SUB_LEAF) ? 0 : 1;
}

/* A member behind a leaf link that may take the message, from a random start. */
static struct mr_sub *pick_leaf_member(struct mr_server *s, const struct mr_sublist_qgroup *g,
                                       const struct mr_conn *origin)
{
    uint32_t start = (uint32_t)(rng_next(s) % g->count);
    for (uint32_t i = 0; i < g->count; i++) {
        struct mr_sub *sub = g->subs[(start + i) % g->count];
        if ((sub->flags & MR_SUB_LEAF) && mr_leaf_may_send(sub, origin)) {
            return sub;
        }
    }
    return NULL;
}

/* Picks one member of a queue group, each weighted as nats-server does: a local
 * member counts one, a route's entry counts the members behind it. From the drawn
 * position on, the first member that can take the message wins (open connection, not
 * the publisher when echo is off, an open route). Members behind leaf links are used
 * only when no other can take it, as in nats-server. With only local members this is
 * a uniform random start, one PRNG draw either way. */
static struct mr_sub *pick_queue_member(struct mr_server *s, const struct mr_sublist_qgroup *g,
                                        const struct mr_conn *publisher, bool routes_ok,
                                        const struct mr_conn *origin)
{
    mr_assert(g->count > 0);
    uint64_t total = 0;
    bool weighted = s->cluster.count > 0 || s->leafs.count > 0;
    if (weighted) {
        for (uint32_t i = 0; i < g->count; i++) {
            total += member_weight(g->subs[i], routes_ok);
        }
        if (total == 0) {
            return pick_leaf_member(s, g, origin);
        }
    } else {
        total = g->count;
    }
    uint64_t draw = rng_next(s) % total;
    uint32_t start = 0;
    if (weighted) {
        while (draw >= member_weight(g->subs[start], routes_ok)) {
            draw -= member_weight(g->subs[start], routes_ok);
            start++;
        }
    } else {
        start = (uint32_t)draw;
    }
    for (uint32_t i = 0; i < g->count; i++) {
        struct mr_sub *sub = g->subs[(start + i) % g->count];
        if (sub->flags & MR_SUB_LEAF) {
            continue;
        }
        if (sub->flags & MR_SUB_ROUTE) {
            if (routes_ok && mr_route_sub_usable(sub)) {
                return sub;
            }
            continue;
        }
        struct mr_csub *cs = (struct mr_csub *)sub;
        if (cs->conn->state != CONN_OPEN || cs->removing) {
            continue;
        }
        if (cs->conn == publisher && !publisher->echo) {
            continue;
        }
        return sub;
    }
    return weighted ? pick_leaf_member(s, g, origin) : NULL;
}

static bool local_member_ready(const struct mr_sub *sub)
{
    if (sub->flags & (MR_SUB_ROUTE | MR_SUB_INTERNAL | MR_SUB_LEAF)) {
        return false;
    }
    const struct mr_csub *cs = (const struct mr_csub *)sub;
    return cs->conn->state == CONN_OPEN && !cs->removing;
}

/* A local client member of g for a message that came over a route, uniform over the
 * members that can take it (a routed message never goes back out to a route). */
static struct mr_csub *pick_local_member(struct mr_server *s, const struct mr_sublist_qgroup *g)
{
    uint32_t ready = 0;
    for (uint32_t i = 0; i < g->count; i++) {
        ready += local_member_ready(g->subs[i]) ? 1 : 0;
    }
    if (ready == 0) {
        return NULL;
    }
    uint32_t k = (uint32_t)(rng_next(s) % ready);
    for (uint32_t i = 0; i < g->count; i++) {
        if (local_member_ready(g->subs[i]) && k-- == 0) {
            return (struct mr_csub *)g->subs[i];
        }
    }
    mr_assert(!"a ready member was counted");
    return NULL;
}

/* no_responders: a request that reached nobody gets a 503 status on the requester's own
 * subscription that matches the reply subject (nats-server's exact bytes). */
static void send_no_responders(struct mr_server *s, struct mr_conn *c, const struct mr_msg *op)
{
    for (struct mr_csub *cs = c->subs_head; cs != NULL; cs = cs->next) {
        if (cs->removing ||
            !mr_subject_matches(cs->sub.subject, cs->sub.subject_len, op->reply.ptr,
                                op->reply.len)) {
            continue;
        }
        static const char status[] = "NATS/1.0 503\r\n\r\n";
        struct mr_msg reply = {
            .subject = op->reply,
            .hdr_len = sizeof(status) - 1,
            .size = sizeof(status) - 1,
            .payload = (const uint8_t *)status,
        };
        deliver(s, cs, &reply);
        return;
    }
}

/* Whether name is one of the blank-separated names in list. */
static bool queue_listed(struct mr_view list, const char *name, uint32_t len)
{
    const char *p = list.ptr;
    const char *end = list.ptr + list.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        const char *t = p;
        while (p < end && *p != ' ' && *p != '\t') {
            p++;
        }
        if ((uint32_t)(p - t) == len && len > 0 && memcmp(t, name, len) == 0) {
            return true;
        }
    }
    return false;
}

/* At most this many queue groups served in this cluster are remembered per message for
 * the gateways; a message matching more groups (rare) may also reach the ones beyond
 * in another cluster. */
#define SERVED_QUEUES_MAX 32

/* The fan-out shared by messages from clients, imports and gateways: plain local
 * subscribers, routes with interest, one member of each queue group (qfilter, when
 * given, names the groups to serve), then gateways unless the message came from one. */
static uint32_t fan_out(struct mr_server *s, struct mr_account *acc, struct mr_conn *publisher,
                        const struct mr_msg *m, uint32_t depth, const struct mr_view *qfilter,
                        bool from_gateway, struct mr_conn *from_leaf)
{
    /* What a spoke gets from its hub stays on this server (and its own spokes). */
    bool from_hub = from_leaf != NULL && from_leaf->leaf->solicited;
    bool routes_ok = !from_hub;
    acc->in_msgs++;
    acc->in_bytes += m->size;
    const struct mr_sublist_result *r = NULL;
    struct mr_conn *p = publisher;
    bool memo = p != NULL && m->subject.len <= MR_LAST_MATCH_SUBJECT_MAX;
    if (memo && p->last_match_acc == acc && p->last_match_len == m->subject.len &&
        p->last_match_epoch == mr_sublist_epoch(acc->sublist) &&
        memcmp(p->last_match_subject, m->subject.ptr, m->subject.len) == 0) {
        r = p->last_match;
    } else {
        r = mr_sublist_match(acc->sublist, m->subject.ptr, m->subject.len);
        if (memo && r != NULL) {
            p->last_match = r;
            p->last_match_acc = acc;
            p->last_match_epoch = mr_sublist_epoch(acc->sublist);
            p->last_match_len = (uint8_t)m->subject.len;
            memcpy(p->last_match_subject, m->subject.ptr, m->subject.len);
        }
    }
    if (r == NULL) {
        slog(s, MR_LOG_WARN, "dropped a message on \"%.*s\": memory budget exhausted",
             (int)m->subject.len, m->subject.ptr);
        return 0;
    }
    bool echo = publisher == NULL || publisher->echo;
    uint32_t delivered = 0;
    mr_route_fan_begin(s);
    mr_leaf_fan_begin(s);
    for (uint32_t i = 0; i < r->psubs_count; i++) {
        struct mr_sub *sub = r->psubs[i];
        if (sub->flags & MR_SUB_ROUTE) {
            if (routes_ok) {
                mr_route_fan_plain(s, sub);
            }
            continue;
        }
        if (sub->flags & MR_SUB_LEAF) {
            if (mr_leaf_may_send(sub, from_leaf)) {
                mr_leaf_fan_plain(s, sub);
            }
            continue;
        }
        if (sub->flags & MR_SUB_INTERNAL) {
            /* Imports ran in the cluster the message entered; replies come back. */
            if (!from_gateway || (sub->flags & MR_SUB_ROUTABLE)) {
                mr_account_on_internal(s, sub, m, depth);
                delivered++;
            }
            continue;
        }
        struct mr_csub *cs = (struct mr_csub *)sub;
        if (cs->conn == publisher && !echo) {
            continue;
        }
        deliver(s, cs, m);
        delivered++;
    }
    struct mr_view served[SERVED_QUEUES_MAX];
    uint32_t served_count = 0;
    for (uint32_t i = 0; i < r->qgroups_count; i++) {
        const struct mr_sublist_qgroup *g = &r->qgroups[i];
        if (qfilter != NULL && !queue_listed(*qfilter, g->queue, g->queue_len)) {
            continue;
        }
        struct mr_sub *sub = pick_queue_member(s, g, publisher, routes_ok, from_leaf);
        if (sub == NULL) {
            continue;
        }
        if (sub->flags & MR_SUB_ROUTE) {
            mr_route_fan_queue(s, sub);
        } else if (sub->flags & MR_SUB_LEAF) {
            mr_leaf_fan_queue(s, sub);
        } else {
            deliver(s, (struct mr_csub *)sub, m);
        }
        if (served_count < SERVED_QUEUES_MAX) {
            served[served_count++] = (struct mr_view){g->queue, g->queue_len};
        }
        delivered++;
    }
    /* Route copies count as deliveries: a request that crossed a route is not one for
     * no-responders. */
    /* A message from a spoke's cluster is marked with it on routes (LMSG origin). */
    const char *origin = NULL;
    if (from_leaf != NULL && !from_hub && from_leaf->leaf->remote_cluster[0] != '\0') {
        origin = from_leaf->leaf->remote_cluster;
    }
    delivered += mr_route_fan_flush(s, acc, m, origin);
    delivered += mr_leaf_fan_flush(s, m);
    if (!from_gateway && !from_hub) {
        delivered += mr_gateway_send(s, acc, m, served, served_count);
    }
    return delivered;
}

uint32_t mr_server_route(struct mr_server *s, struct mr_account *acc, struct mr_conn *publisher,
                         const struct mr_msg *m, uint32_t depth)
{
    if (m->subject.len > 5 && m->subject.ptr[0] == '_' && mr_gateway_routed_reply(s, acc, m)) {
        return 1; /* a reply going straight back to the requester's server */
    }
    return fan_out(s, acc, publisher, m, depth, NULL, false, NULL);
}

void mr_server_route_from_gateway(struct mr_server *s, struct mr_account *acc,
                                  const struct mr_msg *m, struct mr_view queues)
{
    (void)fan_out(s, acc, NULL, m, 0, &queues, true, NULL);
}

void mr_server_route_from_leaf(struct mr_server *s, struct mr_account *acc, struct mr_conn *c,
                               const struct mr_msg *m, struct mr_view queues)
{
    if (m->subject.len > 5 && m->subject.ptr[0] == '_' && mr_gateway_routed_reply(s, acc, m)) {
        return;
    }
    /* Only the named groups: the sender picked those members for this side. */
    (void)fan_out(s, acc, c, m, 0, &queues, false, c);
}

/* Whether leaf entry sub's link goes to the leaf cluster named origin. */
static bool leaf_is_origin(const struct mr_sub *sub, struct mr_view origin)
{
    if (origin.len == 0) {
        return false;
    }
    const char *rc = ((const struct mr_lsub *)sub)->leaf->remote_cluster;
    return strlen(rc) == origin.len && memcmp(rc, origin.ptr, origin.len) == 0;
}

void mr_server_route_inbound(struct mr_server *s, struct mr_account *acc, struct mr_conn *route,
                             const struct mr_msg *m, struct mr_view queues, struct mr_view origin)
{
    if (route != NULL && m->subject.len > 5 && m->subject.ptr[0] == '_' &&
        mr_gateway_routed_reply(s, acc, m)) {
        return; /* a gateway reply for this server, relayed by the cluster */
    }
    acc->in_msgs++;
    acc->in_bytes += m->size;
    const struct mr_sublist_result *r = mr_sublist_match(acc->sublist, m->subject.ptr,
                                                         m->subject.len);
    if (r == NULL) {
        slog(s, MR_LOG_WARN, "dropped a routed message on \"%.*s\": memory budget exhausted",
             (int)m->subject.len, m->subject.ptr);
        return;
    }
    mr_leaf_fan_begin(s);
    for (uint32_t i = 0; i < r->psubs_count; i++) {
        struct mr_sub *sub = r->psubs[i];
        if (sub->flags & MR_SUB_ROUTE) {
            continue;
        }
        if (sub->flags & MR_SUB_LEAF) {
            if (route != NULL && mr_leaf_may_send(sub, route) && !leaf_is_origin(sub, origin)) {
                mr_leaf_fan_plain(s, sub);
            }
            continue;
        }
        if (sub->flags & MR_SUB_INTERNAL) {
            /* Imports ran where the message entered; only service replies come back. */
            if (sub->flags & MR_SUB_ROUTABLE) {
                mr_account_on_internal(s, sub, m, 0);
            }
            continue;
        }
        deliver(s, (struct mr_csub *)sub, m);
    }
    for (uint32_t i = 0; queues.len > 0 && i < r->qgroups_count; i++) {
        const struct mr_sublist_qgroup *g = &r->qgroups[i];
        if (!queue_listed(queues, g->queue, g->queue_len)) {
            continue;
        }
        struct mr_csub *cs = pick_local_member(s, g);
        if (cs != NULL) {
            deliver(s, cs, m);
        } else if (route != NULL) {
            /* No local member: one behind a leaf this server is the hub of. */
            struct mr_sub *ls = pick_leaf_member(s, g, route);
            if (ls != NULL && !leaf_is_origin(ls, origin)) {
                mr_leaf_fan_queue(s, ls);
            }
        }
    }
    (void)mr_leaf_fan_flush(s, m);
}

static void process_msg(struct mr_server *s, struct mr_conn *c, const struct mr_proto_op *op)
{
    c->in_msgs++;
    c->in_bytes += op->size;
    s->stats.in_msgs++;
    s->stats.in_bytes += op->size;
    if (c->pedantic && !mr_subject_valid_literal(op->subject.ptr, op->subject.len)) {
        /* nats-server reports it and still routes the message. */
        send_err(c, "Invalid Publish Subject");
    }
    if (c->permissions != NULL && !mr_auth_can_publish(c, op->subject.ptr, op->subject.len)) {
        send_perm_err(c, "Publish to", &op->subject, NULL);
        return;
    }
    /* nats-server acknowledges a verbose PUB after the permission check and before
     * delivering it, even to the publisher itself. */
    send_ok(c);
    struct mr_msg m = {
        .subject = op->subject,
        .reply = op->reply,
        .hdr_len = op->hdr_len,
        .size = op->size,
        .payload = op->payload,
    };
    if (c->gw_replies != NULL) {
        /* An answer to a request that came from another cluster: straight back. */
        (void)mr_gateway_map_reply(c, op->subject, &m.subject);
    }
    uint32_t delivered = mr_server_route(s, c->account, c, &m, 0);
    if (delivered == 0 && m.reply.len > 0 && c->no_responders && c->headers) {
        send_no_responders(s, c, &m);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Operations                                                                            */

/* Binds c to acc, counting it against the account's connection limit. */
static bool bind_account(struct mr_server *s, struct mr_conn *c, struct mr_account *acc)
{
    const struct mr_account_opts *ao = acc->opts;
    if (ao != NULL && ao->max_connections >= 0 && acc->conns >= (uint32_t)ao->max_connections) {
        send_err(c, "maximum account active connections exceeded");
        close_conn(c, "Maximum Account Connections Exceeded", false);
        return false;
    }
    acc->conns++;
    if (ao != NULL && ao->max_payload > 0 && (uint32_t)ao->max_payload < s->opts.max_payload) {
        /* The account's limit applies from CONNECT on (INFO announced the server's). */
        c->parser.max_payload = (uint32_t)ao->max_payload;
    }
    return true;
}

static char *json_dup(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? g_strdup(json_string_value(v)) : NULL;
}

static const char *json_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool json_flag(json_t *obj, const char *key, bool dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static void process_connect(struct mr_server *s, struct mr_conn *c, const struct mr_proto_op *op)
{
    json_error_t jerr;
    json_t *obj = json_loadb(op->json.ptr, op->json.len, 0, &jerr);
    if (obj == NULL || !json_is_object(obj)) {
        /* nats-server closes without -ERR on a CONNECT it cannot parse. */
        slog(s, MR_LOG_DEBUG, "cid:%llu - bad CONNECT JSON: %s", (unsigned long long)c->cid,
             jerr.text);
        json_decref(obj);
        close_conn(c, "Protocol Error", false);
        return;
    }
    /* Fields left out keep their current value: nats-server starts every client verbose
     * and pedantic, and CONNECT only overrides what it names. */
    c->verbose = json_flag(obj, "verbose", c->verbose);
    c->pedantic = json_flag(obj, "pedantic", c->pedantic);
    c->echo = json_flag(obj, "echo", c->echo);
    c->headers = json_flag(obj, "headers", c->headers);
    c->no_responders = json_flag(obj, "no_responders", c->no_responders);
    json_t *proto = json_object_get(obj, "protocol");
    c->protocol = json_is_integer(proto) ? (int)json_integer_value(proto) : 0;
    g_free(c->name);
    g_free(c->lang);
    g_free(c->version);
    c->name = json_dup(obj, "name");
    c->lang = json_dup(obj, "lang");
    c->version = json_dup(obj, "version");
    struct mr_account *before = c->account;
    bool ok = c->ws != NULL ? mr_ws_conn_authenticate(s, c, json_str(obj, "user"),
                                                      json_str(obj, "pass"),
                                                      json_str(obj, "auth_token"))
                            : mr_auth_connect(s, c, json_str(obj, "user"), json_str(obj, "pass"),
                                              json_str(obj, "auth_token"));
    json_decref(obj);
    if (ok && before != NULL && c->account != before) {
        /* A second CONNECT may not move a connection (and its subscriptions) to another
         * account. */
        c->account = before;
        ok = false;
    }
    if (!ok) {
        c->account = before;
        slog(s, MR_LOG_WARN, "%s:%u - cid:%llu - authentication error", c->host,
             (unsigned)c->port, (unsigned long long)c->cid);
        send_err(c, "Authorization Violation");
        close_conn(c, "Authentication Failure", false);
        return;
    }
    if (c->protocol < 0 || c->protocol > 1) {
        send_err(c, "invalid client protocol");
        close_conn(c, "Protocol Error", false);
        return;
    }
    if (c->no_responders && !c->headers) {
        send_err(c, "no responders requires headers support");
        close_conn(c, "Protocol Error", false);
        return;
    }
    if (before == NULL && !bind_account(s, c, c->account)) {
        c->account = NULL;
        return;
    }
    c->connect_received = true;
    s->env->timer_cancel(s->env->ctx, timer_id(c, TIMER_AUTH));
    send_ok(c);
}

/* The connection's subscription with this sid, or NULL. */
static struct mr_csub *csub_find(const struct mr_conn *c, const struct mr_view *sid)
{
    if (c->subs_by_sid == NULL) {
        return NULL;
    }
    /* The parser bounds every argument by the control line. */
    char key[MR_CONTROL_LINE_MAX + 1];
    mr_assert(sid->len <= MR_CONTROL_LINE_MAX);
    memcpy(key, sid->ptr, sid->len);
    key[sid->len] = '\0';
    return g_hash_table_lookup(c->subs_by_sid, key);
}

static void process_sub(struct mr_server *s, struct mr_conn *c, const struct mr_proto_op *op)
{
    if (!mr_subject_valid(op->subject.ptr, op->subject.len) ||
        (op->queue.len > 0 && !mr_subject_valid_queue(op->queue.ptr, op->queue.len))) {
        send_err(c, "Invalid Subject");
        return;
    }
    if (c->permissions != NULL && !mr_auth_can_subscribe(c, op->subject.ptr, op->subject.len,
                                                         op->queue.ptr, op->queue.len)) {
        send_perm_err(c, "Subscription to", &op->subject, &op->queue);
        return;
    }
    if (c->subs_by_sid == NULL) {
        c->subs_by_sid = g_hash_table_new(g_str_hash, g_str_equal);
    }
    if (csub_find(c, &op->sid) != NULL) {
        send_ok(c); /* re-SUB with an existing sid is a no-op */
        return;
    }
    const struct mr_account_opts *ao = c->account->opts;
    if ((s->opts.max_subs != 0 && c->subs_count >= s->opts.max_subs) ||
        (ao != NULL && ao->max_subscriptions >= 0 &&
         c->account->subs >= (uint64_t)ao->max_subscriptions)) {
        send_err(c, "maximum subscriptions exceeded");
        return;
    }
    size_t alloc_len = sizeof(struct mr_csub) + op->sid.len + 1 + op->subject.len + 1 +
                       op->queue.len + 1;
    struct mr_csub *cs = mr_mem_alloc(&s->mem, alloc_len);
    if (cs == NULL) {
        send_err(c, "maximum subscriptions exceeded");
        return;
    }
    char *p = (char *)(cs + 1);
    cs->alloc_len = alloc_len;
    cs->conn = c;
    cs->sid = p;
    cs->sid_len = op->sid.len;
    memcpy(p, op->sid.ptr, op->sid.len);
    p += op->sid.len + 1;
    cs->sub.owner = c;
    cs->sub.subject = p;
    cs->sub.subject_len = op->subject.len;
    memcpy(p, op->subject.ptr, op->subject.len);
    p += op->subject.len + 1;
    if (op->queue.len > 0) {
        cs->sub.queue = p;
        cs->sub.queue_len = op->queue.len;
        memcpy(p, op->queue.ptr, op->queue.len);
    }
    if (mr_sublist_insert(c->account->sublist, &cs->sub) != MR_OK) {
        csub_free(s, cs);
        send_err(c, "maximum subscriptions exceeded");
        return;
    }
    g_hash_table_insert(c->subs_by_sid, cs->sid, cs);
    mr_route_interest(s, c->account, &cs->sub, 1);
    mr_gateway_interest(s, c->account, &cs->sub, 1);
    mr_gateway_note_sub(s, c->account, &cs->sub);
    mr_leaf_interest(s, c->account, &cs->sub, NULL, 1);
    cs->prev = c->subs_tail;
    if (c->subs_tail != NULL) {
        c->subs_tail->next = cs;
    } else {
        c->subs_head = cs;
    }
    c->subs_tail = cs;
    c->subs_count++;
    s->sub_changes++;
    s->stats.subscriptions++;
    c->account->subs++;
    send_ok(c);
}

static void process_unsub(struct mr_server *s, struct mr_conn *c, const struct mr_proto_op *op)
{
    struct mr_csub *cs = csub_find(c, &op->sid);
    if (cs != NULL && !cs->removing) {
        if (op->max_msgs > 0 && (uint64_t)op->max_msgs > cs->delivered) {
            cs->max = (uint64_t)op->max_msgs;
        } else {
            /* No fan-out is running while an operation is processed. */
            csub_remove(s, cs);
        }
    }
    send_ok(c);
}

static void arm_ping(struct mr_server *s, struct mr_conn *c, uint64_t delay_ns)
{
    s->env->timer_arm(s->env->ctx, timer_id(c, TIMER_PING), now(s) + delay_ns);
}

void mr_conn_arm_ping(struct mr_conn *c, uint64_t delay_ns)
{
    arm_ping(c->srv, c, delay_ns);
}

/* Maps a parser error to nats-server's reaction: the -ERR text (or none) and close. */
static void protocol_error(struct mr_server *s, struct mr_conn *c, int err)
{
    switch (err) {
    case MR_E_PROTO_CONTROL_LINE:
        send_err(c, "maximum control line exceeded");
        break;
    case MR_E_PROTO_MAX_PAYLOAD:
        send_err(c, "Maximum Payload Violation");
        break;
    case MR_E_PROTO_ARGS:
        break; /* closed without -ERR */
    default:
        send_err(c, "Unknown Protocol Operation");
        break;
    }
    slog(s, MR_LOG_DEBUG, "cid:%llu - protocol error: %s", (unsigned long long)c->cid,
         mr_err_text(err));
    close_conn(c, "Protocol Error", false);
}

/* -V: one line per inbound operation, in nats-server's "<<- [OP args]" shape. */
static void trace_op(struct mr_server *s, const struct mr_conn *c, const struct mr_proto_op *op)
{
    const char *verb = mr_parser_op_name(op->op);
    switch (op->op) {
    case MR_OP_PUB:
    case MR_OP_HPUB:
        slog(s, MR_LOG_TRACE, "%s:%u - cid:%llu - <<- [%s %.*s%s%.*s %u]", c->host,
             (unsigned)c->port, (unsigned long long)c->cid, verb, (int)op->subject.len,
             op->subject.ptr, op->reply.len > 0 ? " " : "", (int)op->reply.len, op->reply.ptr,
             (unsigned)op->size);
        break;
    case MR_OP_SUB:
        slog(s, MR_LOG_TRACE, "%s:%u - cid:%llu - <<- [SUB %.*s%s%.*s %.*s]", c->host,
             (unsigned)c->port, (unsigned long long)c->cid, (int)op->subject.len,
             op->subject.ptr, op->queue.len > 0 ? " " : "", (int)op->queue.len, op->queue.ptr,
             (int)op->sid.len, op->sid.ptr);
        break;
    case MR_OP_UNSUB:
        slog(s, MR_LOG_TRACE, "%s:%u - cid:%llu - <<- [UNSUB %.*s]", c->host, (unsigned)c->port,
             (unsigned long long)c->cid, (int)op->sid.len, op->sid.ptr);
        break;
    case MR_OP_CONNECT:
        slog(s, MR_LOG_TRACE, "%s:%u - cid:%llu - <<- [CONNECT %.*s]", c->host,
             (unsigned)c->port, (unsigned long long)c->cid, (int)op->json.len, op->json.ptr);
        break;
    default:
        slog(s, MR_LOG_TRACE, "%s:%u - cid:%llu - <<- [%s]", c->host, (unsigned)c->port,
             (unsigned long long)c->cid, verb);
        break;
    }
}

static void process_op(struct mr_server *s, struct mr_conn *c, const struct mr_proto_op *op)
{
    if (s->opts.trace) {
        trace_op(s, c, op);
    }
    if (c->kind == MR_CONN_ROUTE) {
        mr_route_process_op(s, c, op);
        return;
    }
    if (c->kind == MR_CONN_GATEWAY) {
        mr_gateway_process_op(s, c, op);
        return;
    }
    if (c->kind == MR_CONN_LEAF) {
        mr_leaf_process_op(s, c, op);
        return;
    }
    if (c->account == NULL && op->op != MR_OP_CONNECT) {
        /* Only an unauthenticated connection of a server that requires auth has no
         * account yet: anything but CONNECT is a violation. */
        send_err(c, "Authorization Violation");
        close_conn(c, "Authorization Violation", false);
        return;
    }
    switch (op->op) {
    case MR_OP_CONNECT:
        process_connect(s, c, op);
        break;
    case MR_OP_PUB:
        process_msg(s, c, op);
        break;
    case MR_OP_HPUB:
        if (!c->headers) {
            /* Headers not negotiated: nats-server closes without -ERR. */
            protocol_error(s, c, MR_E_PROTO_ARGS);
            return;
        }
        process_msg(s, c, op);
        break;
    case MR_OP_SUB:
        process_sub(s, c, op);
        break;
    case MR_OP_UNSUB:
        process_unsub(s, c, op);
        break;
    case MR_OP_PING:
        send_str(c, "PONG\r\n");
        break;
    case MR_OP_PONG:
        c->pings_out = 0;
        if (c->ping_sent_ns != 0) {
            c->rtt_ns = now(s) - c->ping_sent_ns;
            c->ping_sent_ns = 0;
        }
        break;
    case MR_OP_INFO: {
        /* Clients have nothing to tell us in INFO, but nats-server still parses it and
         * closes silently on bad JSON. */
        json_t *info = json_loadb(op->json.ptr, op->json.len, 0, NULL);
        if (!json_is_object(info)) {
            close_conn(c, "Protocol Error", false);
        }
        json_decref(info);
        break;
    }
    case MR_OP_OK:
        break;
    case MR_OP_ERR:
        /* A client's -ERR ends the connection without a reply, as in nats-server. */
        slog(s, MR_LOG_DEBUG, "cid:%llu - client sent -ERR '%.*s'", (unsigned long long)c->cid,
             (int)op->json.len, op->json.ptr);
        close_conn(c, "Client Error", false);
        break;
    default:
        protocol_error(s, c, MR_E_PROTO_UNKNOWN_OP);
        break;
    }
}

/* ------------------------------------------------------------------------------------ */
/* Input                                                                                 */

enum consume_stop {
    STOP_DONE,    /* everything consumed or only a partial op is left */
    STOP_LIMIT,   /* the per-read operation bound was hit */
    STOP_CLOSED,  /* the connection is closing */
};

/* Parses and processes operations from buf in place, at most *budget of them. Returns
 * bytes consumed; *stop says why it stopped. */
static size_t consume(struct mr_server *s, struct mr_conn *c, const uint8_t *buf, size_t len,
                      uint32_t *budget, enum consume_stop *stop)
{
    size_t off = 0;
    *stop = STOP_DONE;
    while (off < len) {
        if (c->state != CONN_OPEN) {
            *stop = STOP_CLOSED;
            return off;
        }
        if (*budget == 0) {
            *stop = STOP_LIMIT;
            return off;
        }
        struct mr_proto_op op;
        int rc = mr_parser_parse(&c->parser, buf + off, len - off, &op);
        if (rc == MR_AGAIN) {
            return off;
        }
        if (rc < 0) {
            protocol_error(s, c, rc);
            *stop = STOP_CLOSED;
            return len;
        }
        mr_assert((size_t)rc <= len - off);
        (*budget)--;
        process_op(s, c, &op);
        off += (size_t)rc;
    }
    if (c->state != CONN_OPEN) {
        *stop = STOP_CLOSED;
    }
    return off;
}

static bool in_reserve(struct mr_server *s, struct mr_conn *c, size_t need)
{
    if (c->in_cap >= need) {
        return true;
    }
    size_t cap = c->in_cap == 0 ? 4096 : c->in_cap;
    while (cap < need) {
        cap *= 2;
    }
    uint8_t *p = mr_mem_realloc(&s->mem, c->in_buf, c->in_cap, cap);
    if (p == NULL) {
        return false;
    }
    c->in_buf = p;
    c->in_cap = cap;
    return true;
}

static bool in_append(struct mr_server *s, struct mr_conn *c, const uint8_t *buf, size_t len)
{
    if (!in_reserve(s, c, c->in_len + len)) {
        slog(s, MR_LOG_WARN, "cid:%llu - input buffer: memory budget exhausted",
             (unsigned long long)c->cid);
        close_conn(c, "Out Of Memory", true);
        return false;
    }
    memcpy(c->in_buf + c->in_len, buf, len);
    c->in_len += len;
    return true;
}

static void pause_input(struct mr_server *s, struct mr_conn *c)
{
    if (!c->read_paused) {
        c->read_paused = true;
        s->env->stream_read_enable(s->env->ctx, c->id, 0);
    }
    s->env->timer_arm(s->env->ctx, timer_id(c, TIMER_RESUME), now(s));
}

/* Processes the buffered backlog (from the front of in_buf), bounded by *budget. */
static void drain_backlog(struct mr_server *s, struct mr_conn *c, uint32_t *budget)
{
    enum consume_stop stop;
    size_t n = consume(s, c, c->in_buf, c->in_len, budget, &stop);
    if (stop == STOP_CLOSED) {
        c->in_len = 0;
        return;
    }
    memmove(c->in_buf, c->in_buf + n, c->in_len - n);
    c->in_len -= n;
    if (stop == STOP_LIMIT) {
        pause_input(s, c);
    } else if (c->read_paused) {
        c->read_paused = false;
        s->env->stream_read_enable(s->env->ctx, c->id, 1);
    }
}

/* Completes an operation split across reads by copying only the bytes it still needs,
 * then processes the rest of the read in place. Returns bytes of buf used. */
static size_t complete_partial(struct mr_server *s, struct mr_conn *c, const uint8_t *buf,
                               size_t len, uint32_t *budget)
{
    size_t used = 0;
    while (c->in_len > 0 && used < len && c->state == CONN_OPEN) {
        size_t take;
        if (c->parser.need_bytes > c->in_len) {
            take = c->parser.need_bytes - c->in_len;
        } else {
            const uint8_t *nl = memchr(buf + used, '\n', len - used);
            take = nl != NULL ? (size_t)(nl - (buf + used)) + 1 : len - used;
        }
        if (take > len - used) {
            take = len - used;
        }
        if (!in_append(s, c, buf + used, take)) {
            return len;
        }
        used += take;
        enum consume_stop stop;
        size_t n = consume(s, c, c->in_buf, c->in_len, budget, &stop);
        if (stop == STOP_CLOSED) {
            c->in_len = 0;
            return len;
        }
        if (n > 0) {
            /* An op completed; the bytes copied past it are still in buf: un-take them. */
            mr_assert(n <= c->in_len);
            size_t extra = c->in_len - n;
            mr_assert(extra <= take);
            used -= extra;
            c->in_len = 0;
        }
    }
    return used;
}

static void on_bytes(void *ctx, uint64_t conn_id, const uint8_t *buf, size_t len)
{
    struct mr_server *s = ctx;
    struct mr_conn *c = conn_lookup(s, conn_id);
    if (c == NULL || c->state != CONN_OPEN) {
        return;
    }
    c->last_in_ns = now(s);
    if (c->kind == MR_CONN_HTTP) {
        mr_monitor_on_bytes(s, c, buf, len);
        reap(s);
        return;
    }
    if (c->ws != NULL) {
        bool opened;
        (void)mr_ws_conn_on_bytes(s, c, buf, len, &opened);
        reap(s);
        return;
    }
    mr_conn_feed(c, buf, len);
    reap(s);
}

void mr_conn_feed(struct mr_conn *c, const uint8_t *buf, size_t len)
{
    struct mr_server *s = c->srv;
    if (c->state != CONN_OPEN) {
        return;
    }
    uint32_t budget = MR_OPS_PER_READ_MAX;
    if (c->read_paused) {
        /* Reads already in flight when we paused: queue them behind the backlog. */
        (void)in_append(s, c, buf, len);
        return;
    }
    size_t used = 0;
    if (c->in_len > 0) {
        used = complete_partial(s, c, buf, len, &budget);
    }
    if (c->state == CONN_OPEN && used < len) {
        enum consume_stop stop = STOP_DONE;
        if (c->in_len == 0) {
            used += consume(s, c, buf + used, len - used, &budget, &stop);
        }
        if (c->state == CONN_OPEN && used < len) {
            (void)in_append(s, c, buf + used, len - used);
            if (stop == STOP_LIMIT) {
                pause_input(s, c);
            }
        }
    }
}

/* ------------------------------------------------------------------------------------ */
/* Accept, close, timers, output pull                                                    */

static void send_info(struct mr_server *s, struct mr_conn *c)
{
    char tail[200];
    /* A websocket {} auth override makes its clients authenticate (nats-server). */
    bool ws_auth = !s->auth_required && c->ws != NULL && mr_ws_conn_auth_override(s);
    int n = snprintf(tail, sizeof(tail), ",\"client_id\":%llu,\"client_ip\":\"%s\"%s}\r\n",
                     (unsigned long long)c->cid, c->host, ws_auth ? ",\"auth_required\":true" : "");
    mr_assert(n > 0 && (size_t)n < sizeof(tail));
    if (queue_out(c, s->info_prefix, s->info_prefix_len)) {
        (void)queue_out(c, tail, (size_t)n);
    }
}

struct mr_conn *mr_conn_new(struct mr_server *s, uint64_t conn_id, enum mr_conn_kind kind,
                            const char *peer_host, uint16_t peer_port)
{
    struct mr_conn *c = mr_mem_alloc(&s->mem, sizeof(*c));
    if (c == NULL) {
        slog(s, MR_LOG_WARN, "%s:%u - refused: memory budget exhausted", peer_host,
             (unsigned)peer_port);
        s->env->stream_close(s->env->ctx, conn_id);
        return NULL;
    }
    c->srv = s;
    c->id = conn_id;
    c->kind = kind;
    /* Client ids count clients only, as in nats-server; monitoring requests get none. */
    c->cid = kind == MR_CONN_CLIENT ? ++s->next_cid : 0;
    c->echo = true;
    c->verbose = true; /* nats-server's defaults until CONNECT says otherwise */
    c->pedantic = true;
    snprintf(c->host, sizeof(c->host), "%s", peer_host);
    c->port = peer_port;
    mr_parser_init(&c->parser, MR_PARSER_SERVER, s->opts.max_control_line, s->opts.max_payload);
    mr_outbuf_init(&c->out, &s->pool);
    c->start_ns = now(s);
    c->last_in_ns = c->start_ns;
    c->prev = s->conns_tail;
    if (s->conns_tail != NULL) {
        s->conns_tail->next = c;
    } else {
        s->conns_head = c;
    }
    s->conns_tail = c;
    g_hash_table_insert(s->conns_by_id, &c->id, c);
    s->conn_changes++;
    return c;
}

/* The client handshake once the stream is ready (after TLS when it goes first). */
static void client_greet(struct mr_server *s, struct mr_conn *c)
{
    send_info(s, c);
    /* The websocket listener has its own TLS settings (no_tls here). */
    if (c->ws == NULL && s->opts.tls.enabled && !s->opts.tls.handshake_first) {
        /* nats-server's order: INFO in plaintext, then the client starts TLS. */
        c->tls_pending = true;
        s->env->stream_start_tls(s->env->ctx, c->id, MR_TLS_CLIENT);
    }
}

/* Whether a client must authenticate: the server's rule, or for a WebSocket client
 * also an override in websocket {} (nats-server's authOverride). */
static bool client_auth_required(struct mr_server *s, const struct mr_conn *c)
{
    return s->auth_required || (c->ws != NULL && mr_ws_conn_auth_override(s));
}

/* A client is accepted (or its WebSocket upgrade is done): count it, bind it when it
 * needs no credentials, greet it unless TLS goes first, arm its auth timer. */
static void client_open(struct mr_server *s, struct mr_conn *c, bool greet)
{
    c->counted = true;
    s->stats.connections++;
    s->stats.total_connections++;
    slog(s, MR_LOG_DEBUG, "%s:%u - cid:%llu - Client connection created", c->host,
         (unsigned)c->port, (unsigned long long)c->cid);
    if (s->stats.connections > s->opts.max_connections) {
        send_err(c, "maximum connections exceeded");
        close_conn(c, "Maximum Connections Exceeded", false);
        return;
    }
    bool auth = client_auth_required(s, c);
    if (!auth) {
        c->account = s->global;
        if (!bind_account(s, c, c->account)) {
            c->account = NULL;
            return;
        }
    }
    if (greet) {
        client_greet(s, c);
    }
    if (auth) {
        uint64_t timeout = s->opts.auth_timeout_ns;
        if (s->opts.auth != NULL && s->opts.auth->timeout_ns != 0) {
            timeout = s->opts.auth->timeout_ns;
        }
        /* nats-server: websocket { authorization { timeout } } wins for its clients. */
        if (c->ws != NULL && s->opts.websocket->auth.timeout_ns != 0) {
            timeout = s->opts.websocket->auth.timeout_ns;
        }
        s->env->timer_arm(s->env->ctx, timer_id(c, TIMER_AUTH), now(s) + timeout);
    } else if (c->ws != NULL) {
        s->env->timer_cancel(s->env->ctx, timer_id(c, TIMER_AUTH)); /* the upgrade's */
    }
}

void mr_conn_ws_client_open(struct mr_conn *c)
{
    mr_assert(c->ws != NULL && c->kind == MR_CONN_CLIENT);
    client_open(c->srv, c, true);
}

static void on_accept(void *ctx, uint64_t listener_id, uint64_t conn_id, const char *peer_host,
                      uint16_t peer_port)
{
    struct mr_server *s = ctx;
    if (s->shutting_down) {
        s->env->stream_close(s->env->ctx, conn_id);
        return;
    }
    enum mr_conn_kind kind = listener_id == MR_LISTENER_HTTP      ? MR_CONN_HTTP
                             : listener_id == MR_LISTENER_ROUTE   ? MR_CONN_ROUTE
                             : listener_id == MR_LISTENER_GATEWAY ? MR_CONN_GATEWAY
                             : listener_id == MR_LISTENER_LEAF    ? MR_CONN_LEAF
                                                                  : MR_CONN_CLIENT;
    struct mr_conn *c = mr_conn_new(s, conn_id, kind, peer_host, peer_port);
    if (c == NULL || kind == MR_CONN_HTTP) {
        return;
    }
    if (kind == MR_CONN_ROUTE) {
        mr_route_accept(s, c);
        reap(s);
        return;
    }
    if (kind == MR_CONN_GATEWAY) {
        mr_gateway_accept(s, c);
        reap(s);
        return;
    }
    if (kind == MR_CONN_LEAF) {
        mr_leaf_accept(s, c);
        reap(s);
        return;
    }
    if (listener_id == MR_LISTENER_WS) {
        /* Client or leaf: the upgrade request's path decides (ws_conn.c), within the
         * websocket handshake timeout. */
        mr_ws_conn_attach(s, c);
        const struct mr_websocket_opts *wo = s->opts.websocket;
        uint64_t timeout = wo->handshake_timeout_ns != 0 ? wo->handshake_timeout_ns
                                                         : s->opts.auth_timeout_ns;
        s->env->timer_arm(s->env->ctx, timer_id(c, TIMER_AUTH), now(s) + timeout);
        if (wo->tls.enabled) {
            c->tls_pending = true;
            s->env->stream_start_tls(s->env->ctx, c->id, MR_TLS_WEBSOCKET);
        }
    } else if (s->opts.tls.enabled && s->opts.tls.handshake_first) {
        client_open(s, c, false);
        if (c->state == CONN_OPEN) {
            c->tls_pending = true;
            s->env->stream_start_tls(s->env->ctx, c->id, MR_TLS_CLIENT);
        }
    } else {
        client_open(s, c, true);
    }
    if (c->state != CONN_OPEN) {
        reap(s);
        return;
    }
    uint64_t first = s->opts.ping_interval_ns < MR_FIRST_PING_DELAY_NS ? s->opts.ping_interval_ns
                                                                       : MR_FIRST_PING_DELAY_NS;
    arm_ping(s, c, first);
}

static void on_tls(void *ctx, uint64_t conn_id, int status, const char *peer_subject)
{
    struct mr_server *s = ctx;
    struct mr_conn *c = conn_lookup(s, conn_id);
    if (c == NULL || c->state != CONN_OPEN) {
        return;
    }
    c->tls_pending = false;
    if (status != MR_OK) {
        /* The env closes the stream itself; on_closed follows. */
        slog(s, MR_LOG_DEBUG, "%s:%u - cid:%llu - TLS handshake error: %s", c->host,
             (unsigned)c->port, (unsigned long long)c->cid, mr_err_text(status));
        mark_closing(c, "TLS Handshake Failure", true);
        reap(s);
        return;
    }
    slog(s, MR_LOG_DEBUG, "%s:%u - cid:%llu - TLS handshake complete%s%s", c->host,
         (unsigned)c->port, (unsigned long long)c->cid, peer_subject != NULL ? ": " : "",
         peer_subject != NULL ? peer_subject : "");
    if (c->kind == MR_CONN_ROUTE) {
        mr_route_on_tls(s, c);
        reap(s);
        return;
    }
    if (c->kind == MR_CONN_GATEWAY) {
        mr_gateway_on_tls(s, c);
        reap(s);
        return;
    }
    if (c->kind == MR_CONN_LEAF) {
        mr_leaf_on_tls(s, c);
        reap(s);
        return;
    }
    if (c->ws == NULL && s->opts.tls.handshake_first) {
        send_info(s, c);
    }
}

static void on_connected(void *ctx, uint64_t conn_id, int status)
{
    struct mr_server *s = ctx;
    if (mr_route_on_connected(s, conn_id, status) ||
        mr_gateway_on_connected(s, conn_id, status) ||
        mr_leaf_on_connected(s, conn_id, status)) {
        reap(s);
        return;
    }
    slog(s, MR_LOG_WARN, "unexpected outbound connection %llu (status %d)",
         (unsigned long long)conn_id, status);
    if (status == MR_OK) {
        s->env->stream_close(s->env->ctx, conn_id);
    }
}

static void on_closed(void *ctx, uint64_t conn_id)
{
    struct mr_server *s = ctx;
    struct mr_conn *c = conn_lookup(s, conn_id);
    if (c == NULL) {
        return;
    }
    if (c->state != CONN_CLOSING) {
        mark_closing(c, "Client Closed", true);
    }
    reap(s);
    conn_free(s, c);
}

static void ping_timer(struct mr_server *s, struct mr_conn *c)
{
    bool route = c->kind == MR_CONN_ROUTE || c->kind == MR_CONN_GATEWAY ||
                 c->kind == MR_CONN_LEAF;
    uint32_t ping_max = c->kind == MR_CONN_ROUTE ? mr_route_ping_max(s) : s->opts.ping_max;
    uint64_t interval = c->kind == MR_CONN_ROUTE     ? mr_route_ping_interval(s)
                        : c->kind == MR_CONN_GATEWAY ? mr_gateway_ping_interval(s)
                                                     : s->opts.ping_interval_ns;
    if (c->pings_out + 1 > ping_max) {
        send_err(c, "Stale Connection");
        close_conn(c, "Stale Connection", false);
        return;
    }
    if (c->ws != NULL && !mr_ws_conn_framing(c)) {
        arm_ping(s, c, interval); /* nothing but the upgrade answer before the upgrade */
        return;
    }
    uint64_t t = now(s);
    /* Clients that sent anything within the interval need no PING (nats-server), once
     * the first PING has measured the round trip. Routes always ping: their RTT is
     * shown in /routez. */
    if (!route && c->connect_received && c->pings_out == 0 && c->rtt_ns != 0 &&
        t - c->last_in_ns < interval) {
        arm_ping(s, c, interval);
        return;
    }
    if (c->ping_sent_ns == 0) {
        c->ping_sent_ns = t;
    }
    c->pings_out++;
    send_str(c, "PING\r\n");
    arm_ping(s, c, interval);
}

static void write_timer(struct mr_server *s, struct mr_conn *c)
{
    c->write_timer_armed = false;
    if (c->out.pending_bytes == 0) {
        return;
    }
    uint64_t deadline = c->last_progress_ns + s->opts.write_deadline_ns;
    if (now(s) >= deadline) {
        s->stats.slow_consumers++;
        slog(s, MR_LOG_WARN, "cid:%llu - Slow Consumer Detected: WriteDeadline exceeded",
             (unsigned long long)c->cid);
        close_conn(c, "Slow Consumer (Write Deadline)", true);
        return;
    }
    c->write_timer_armed = true;
    s->env->timer_arm(s->env->ctx, timer_id(c, TIMER_WRITE), deadline);
}

static void on_timer(void *ctx, uint64_t tid)
{
    struct mr_server *s = ctx;
    if (tid == MR_TIMER_SERVER(TIMER_RESPONSES)) {
        mr_accounts_on_timer(s);
        reap(s);
        return;
    }
    if ((tid & ((1u << TIMER_KIND_BITS) - 1)) == TIMER_JS) {
        if (s->js != NULL) {
            mr_js_api_on_timer(s->js, tid >> TIMER_KIND_BITS);
        }
        reap(s);
        return;
    }
    if ((tid & ((1u << TIMER_KIND_BITS) - 1)) == TIMER_ROUTE_RETRY) {
        mr_route_on_timer(s, tid >> TIMER_KIND_BITS);
        reap(s);
        return;
    }
    if ((tid & ((1u << TIMER_KIND_BITS) - 1)) == TIMER_GATEWAY_RETRY) {
        mr_gateway_on_timer(s, tid >> TIMER_KIND_BITS);
        reap(s);
        return;
    }
    if ((tid & ((1u << TIMER_KIND_BITS) - 1)) == TIMER_LEAF_RETRY) {
        mr_leaf_on_timer(s, tid >> TIMER_KIND_BITS);
        reap(s);
        return;
    }
    if ((tid & ((1u << TIMER_KIND_BITS) - 1)) == TIMER_DIAL) {
        /* The connect goes; its on_closed finds no connection and is ignored. */
        uint64_t id = tid >> TIMER_KIND_BITS;
        if (mr_route_dial_timeout(s, id) || mr_gateway_dial_timeout(s, id) ||
            mr_leaf_dial_timeout(s, id)) {
            s->env->stream_close(s->env->ctx, id);
        }
        reap(s);
        return;
    }
    struct mr_conn *c = conn_lookup(s, tid >> TIMER_KIND_BITS);
    if (c == NULL || c->state != CONN_OPEN) {
        return;
    }
    switch ((enum mr_timer_kind)(tid & ((1u << TIMER_KIND_BITS) - 1))) {
    case TIMER_AUTH:
        if (c->ws != NULL && !mr_ws_conn_framing(c)) {
            /* The upgrade did not complete in time: nothing to tell in HTTP terms. A
             * leaf remote's hub that never answered is worth an error (nats-server). */
            slog(s, c->kind == MR_CONN_LEAF ? MR_LOG_ERROR : MR_LOG_DEBUG,
                 "%s:%u - %s: no upgrade in time", c->host, (unsigned)c->port,
                 c->kind == MR_CONN_LEAF ? "Error soliciting websocket connection"
                                         : "websocket handshake timeout");
            close_conn(c, "WebSocket Handshake Timeout", false);
        } else if (!c->connect_received) {
            send_err(c, "Authentication Timeout");
            close_conn(c, "Authentication Timeout", false);
        }
        break;
    case TIMER_PING:
        ping_timer(s, c);
        break;
    case TIMER_WRITE:
        write_timer(s, c);
        break;
    case TIMER_RESUME: {
        uint32_t budget = MR_OPS_PER_READ_MAX;
        drain_backlog(s, c, &budget);
        break;
    }
    default:
        mr_assert(!"unknown timer kind");
    }
    reap(s);
}

static void on_file_done(void *ctx, uint64_t req_id, int64_t result, const uint8_t *data,
                         size_t len)
{
    struct mr_server *s = ctx;
    if (s->file_done_hook != NULL) {
        s->file_done_hook(s->file_done_ctx, req_id, result, data, len);
        reap(s);
    }
}

static size_t out_peek(void *ctx, uint64_t conn_id, struct mr_iov *iov, size_t iov_max)
{
    struct mr_server *s = ctx;
    struct mr_conn *c = conn_lookup(s, conn_id);
    if (c == NULL) {
        return 0;
    }
    return mr_outbuf_peek(&c->out, iov, iov_max);
}

static void out_consume(void *ctx, uint64_t conn_id, size_t n)
{
    struct mr_server *s = ctx;
    struct mr_conn *c = conn_lookup(s, conn_id);
    if (c == NULL) {
        return;
    }
    mr_outbuf_consume(&c->out, n);
    if (n > 0) {
        c->last_progress_ns = now(s);
    }
    if (c->out.pending_bytes == 0) {
        c->want_write = false;
    }
}

/* ------------------------------------------------------------------------------------ */
/* Create, start, shutdown                                                               */

void mr_server_opts_default(struct mr_server_opts *o)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->host, sizeof(o->host), "0.0.0.0");
    o->port = 4222;
    o->max_payload = MR_PAYLOAD_DEFAULT;
    o->max_control_line = MR_CONTROL_LINE_DEFAULT;
    o->max_pending = MR_PENDING_DEFAULT;
    o->max_connections = MR_CONNECTIONS_DEFAULT;
    o->ping_interval_ns = MR_PING_INTERVAL_DEFAULT_NS;
    o->ping_max = MR_PING_MAX_DEFAULT;
    o->write_deadline_ns = MR_WRITE_DEADLINE_DEFAULT_NS;
    o->auth_timeout_ns = MR_AUTH_TIMEOUT_DEFAULT_NS;
}

static int check_opts(const struct mr_server_opts *o, char *errmsg, size_t errmsg_len)
{
    const char *bad = NULL;
    if (o->max_payload == 0 || o->max_payload > MR_PAYLOAD_MAX) {
        bad = "max_payload must be between 1 and 64MB";
    } else if ((int64_t)o->max_payload > o->max_pending) {
        bad = "max_payload must not exceed max_pending";
    } else if (o->max_control_line < 32 || o->max_control_line > MR_CONTROL_LINE_MAX) {
        bad = "max_control_line must be between 32 and 64KB";
    } else if (o->max_pending <= 0 || o->max_pending > MR_PENDING_MAX) {
        bad = "max_pending must be between 1 and 1GB";
    } else if (o->max_connections == 0 || o->max_connections > MR_CONNECTIONS_MAX) {
        bad = "max_connections out of range";
    } else if (o->ping_interval_ns == 0 || o->ping_max == 0) {
        bad = "ping_interval and ping_max must be positive";
    } else if (o->port < -1 || o->port > 65535) {
        bad = "port must be between -1 and 65535";
    } else if (o->token[0] != '\0' && o->user[0] != '\0') {
        bad = "token and user/password authorization cannot be combined";
    }
    if (bad != NULL) {
        snprintf(errmsg, errmsg_len, "%s", bad);
        return MR_E_INVAL;
    }
    return MR_OK;
}

static void make_server_id(struct mr_server *s)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    s->server_id[0] = 'N';
    for (size_t i = 1; i < MR_SERVER_ID_LEN; i++) {
        s->server_id[i] = alphabet[rng_next(s) % 32];
    }
    s->server_id[MR_SERVER_ID_LEN] = '\0';
}

static int build_info(struct mr_server *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "server_id", json_string(s->server_id));
    json_object_set_new(o, "server_name", json_string(s->opts.server_name[0] != '\0'
                                                          ? s->opts.server_name
                                                          : s->server_id));
    json_object_set_new(o, "version", json_string(MR_SERVER_COMPAT_VERSION));
    json_object_set_new(o, "proto", json_integer(1));
    json_object_set_new(o, "go", json_string("meridian"));
    json_object_set_new(o, "host", json_string(s->opts.host));
    json_object_set_new(o, "port", json_integer(s->port));
    json_object_set_new(o, "headers", json_true());
    if (s->auth_required) {
        json_object_set_new(o, "auth_required", json_true());
    }
    if (s->opts.tls.enabled) {
        json_object_set_new(o, "tls_required", json_true());
        if (s->opts.tls.verify) {
            json_object_set_new(o, "tls_verify", json_true());
        }
    }
    json_object_set_new(o, "max_payload", json_integer(s->opts.max_payload));
    if (s->js != NULL) {
        json_object_set_new(o, "jetstream", json_true());
    }
    if (s->cluster.active) {
        json_object_set_new(o, "cluster", json_string(s->cluster.name));
    } else if (s->gw.active) {
        json_object_set_new(o, "cluster", json_string(s->gw.name)); /* the gateway's name */
    }
    const GPtrArray *urls = s->cluster.client_urls;
    if (s->cluster.active && !s->cluster.opts->no_advertise && urls != NULL && urls->len > 0) {
        json_t *a = json_array();
        for (guint i = 0; i < urls->len; i++) {
            json_array_append_new(a, json_string(g_ptr_array_index(urls, i)));
        }
        json_object_set_new(o, "connect_urls", a);
    }
    json_object_set_new(o, "meridian_version", json_string(MR_SERVER_VERSION));
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (text == NULL) {
        return MR_E_NOMEM;
    }
    size_t len = strlen(text);
    mr_assert(len >= 2 && text[len - 1] == '}');
    if (s->info_prefix != NULL) {
        mr_mem_free(&s->mem, s->info_prefix, s->info_prefix_len + 1);
        s->info_prefix = NULL;
    }
    /* Keep "INFO {...": the per-connection fields and the closing brace follow. */
    s->info_prefix_len = 5 + len - 1;
    s->info_prefix = mr_mem_alloc(&s->mem, s->info_prefix_len + 1);
    if (s->info_prefix == NULL) {
        free(text);
        return MR_E_NOMEM;
    }
    memcpy(s->info_prefix, "INFO ", 5);
    memcpy(s->info_prefix + 5, text, len - 1);
    free(text);
    return MR_OK;
}

void mr_server_info_changed(struct mr_server *s)
{
    if (build_info(s) != MR_OK) {
        slog(s, MR_LOG_WARN, "INFO not updated: memory budget exhausted");
        return;
    }
    /* nats-server sends asynchronous INFO to clients that said protocol 1. */
    for (struct mr_conn *c = s->conns_head; c != NULL; c = c->next) {
        if (c->kind == MR_CONN_CLIENT && c->state == CONN_OPEN && c->connect_received &&
            c->protocol >= 1) {
            send_info(s, c);
        }
    }
}

int mr_server_create(const struct mr_server_opts *opts, const struct mr_env *env,
                     struct mr_server **out, char *errmsg, size_t errmsg_len)
{
    mr_assert(opts != NULL);
    mr_assert(env != NULL);
    int rc = check_opts(opts, errmsg, errmsg_len);
    if (rc != MR_OK) {
        return rc;
    }
    struct mr_server *s = g_new0(struct mr_server, 1);
    s->opts = *opts;
    s->env = env;
    mr_mem_init(&s->mem, 0);
    mr_outbuf_pool_init(&s->pool, &s->mem, 64);
    s->conns_by_id = g_hash_table_new(g_int64_hash, g_int64_equal);
    uint8_t seed[sizeof(s->rng)];
    env->random(env->ctx, seed, sizeof(seed));
    memcpy(s->rng, seed, sizeof(s->rng));
    if ((s->rng[0] | s->rng[1] | s->rng[2] | s->rng[3]) == 0) {
        s->rng[0] = 1; /* xoshiro's one forbidden state */
    }
    make_server_id(s);
    s->auth_required = mr_auth_required(s);
    mr_route_init(s);
    mr_gateway_init(s);
    mr_leaf_init(s);
    rc = mr_accounts_init(s, errmsg, errmsg_len);
    if (rc != MR_OK) {
        mr_leaf_deinit(s);
        mr_gateway_deinit(s);
        mr_route_deinit(s);
        mr_accounts_deinit(s);
        g_hash_table_destroy(s->conns_by_id);
        mr_outbuf_pool_deinit(&s->pool);
        mr_mem_deinit(&s->mem);
        g_free(s);
        return rc;
    }
    if (s->opts.jetstream != NULL && s->opts.jetstream->enabled) {
        rc = mr_js_api_create(s, &s->js, errmsg, errmsg_len);
        if (rc != MR_OK) {
            mr_js_api_destroy(s->js);
            s->js = NULL;
            mr_leaf_deinit(s);
            mr_gateway_deinit(s);
            mr_route_deinit(s);
            mr_accounts_deinit(s);
            g_hash_table_destroy(s->conns_by_id);
            mr_outbuf_pool_deinit(&s->pool);
            mr_mem_deinit(&s->mem);
            g_free(s);
            return rc;
        }
    }
    s->sink = (struct mr_env_sink){
        .ctx = s,
        .on_accept = on_accept,
        .on_connected = on_connected,
        .on_bytes = on_bytes,
        .on_closed = on_closed,
        .on_timer = on_timer,
        .on_tls = on_tls,
        .on_file_done = on_file_done,
        .out_peek = out_peek,
        .out_consume = out_consume,
    };
    *out = s;
    return MR_OK;
}

/* The websocket {} listener, for clients and leafs, plain (no_tls) or with its own
 * tls {}. */
static int start_websocket(struct mr_server *s)
{
    const struct mr_websocket_opts *o = s->opts.websocket;
    if (o == NULL || !o->present || o->port == 0) {
        return MR_OK;
    }
    const char *host = o->host != NULL ? o->host : "0.0.0.0";
    uint16_t port = o->port < 0 ? 0 : (uint16_t)o->port;
    int rc = s->env->listen(s->env->ctx, MR_LISTENER_WS, host, port, &s->ws_port);
    if (rc != MR_OK) {
        slog(s, MR_LOG_ERROR, "Error listening on websocket port %s:%u: %s", host,
             (unsigned)port, mr_err_text(rc));
        return rc;
    }
    slog(s, MR_LOG_INFO, "Listening for websocket clients on %s://%s:%u",
         o->tls.enabled ? "wss" : "ws", host, (unsigned)s->ws_port);
    if (!o->tls.enabled) {
        slog(s, MR_LOG_WARN, "Websocket not configured with TLS. DO NOT USE IN PRODUCTION!");
    }
    return MR_OK;
}

/* The websocket listener's TLS context, loaded before any listener opens (as the
 * clients' is): loading certificates takes long enough that a client which finds the
 * client port open would otherwise find the websocket port still closed. */
static int configure_websocket_tls(struct mr_server *s)
{
    const struct mr_websocket_opts *o = s->opts.websocket;
    if (o == NULL || !o->present || o->port == 0 || !o->tls.enabled) {
        return MR_OK;
    }
    char err[MR_ERRMSG_MAX];
    int rc = s->env->tls_configure(s->env->ctx, MR_TLS_WEBSOCKET, &o->tls, err, sizeof(err));
    if (rc != MR_OK) {
        slog(s, MR_LOG_ERROR, "%s: websocket TLS: %s", o->where, err);
    }
    return rc;
}

static int start_http(struct mr_server *s)
{
    if (s->opts.http_port == 0) {
        return MR_OK;
    }
    const char *host = s->opts.http_host[0] != '\0' ? s->opts.http_host : s->opts.host;
    uint16_t port = s->opts.http_port < 0 ? 0 : (uint16_t)s->opts.http_port;
    int rc = s->env->listen(s->env->ctx, MR_LISTENER_HTTP, host, port, &s->http_port);
    if (rc != MR_OK) {
        slog(s, MR_LOG_ERROR, "Error listening on monitoring port %s:%u: %s", host,
             (unsigned)port, mr_err_text(rc));
        return rc;
    }
    slog(s, MR_LOG_INFO, "Starting http monitor on %s:%u", host, (unsigned)s->http_port);
    return MR_OK;
}

int mr_server_start(struct mr_server *s)
{
    mr_assert(!s->started);
    s->start_ns = now(s);
    s->start_wall_ns = s->env->wall_ns(s->env->ctx);
    if (s->opts.tls.enabled) {
        char err[MR_ERRMSG_MAX];
        int rc = s->env->tls_configure(s->env->ctx, MR_TLS_CLIENT, &s->opts.tls, err, sizeof(err));
        if (rc != MR_OK) {
            slog(s, MR_LOG_ERROR, "TLS configuration error: %s", err);
            return rc;
        }
    }
    int wrc = configure_websocket_tls(s);
    if (wrc != MR_OK) {
        return wrc;
    }
    /* As nats-server: -1 picks a random port, 0 means the default. */
    uint16_t port = s->opts.port < 0 ? 0 : (uint16_t)s->opts.port;
    if (s->opts.port == 0) {
        port = 4222;
    }
    int rc = s->env->listen(s->env->ctx, MR_LISTENER_CLIENT, s->opts.host, port, &s->port);
    if (rc != MR_OK) {
        return rc;
    }
    rc = mr_route_start(s);
    if (rc == MR_OK) {
        rc = mr_gateway_start(s);
    }
    if (rc == MR_OK) {
        rc = mr_leaf_start(s);
    }
    if (rc == MR_OK) {
        rc = start_websocket(s);
    }
    if (rc == MR_OK) {
        rc = build_info(s);
    }
    if (rc == MR_OK) {
        rc = start_http(s);
    }
    if (rc != MR_OK) {
        mr_leaf_shutdown(s);
        mr_gateway_shutdown(s);
        mr_route_shutdown(s);
        if (s->ws_port != 0) {
            s->env->unlisten(s->env->ctx, MR_LISTENER_WS);
            s->ws_port = 0;
        }
        s->env->unlisten(s->env->ctx, MR_LISTENER_CLIENT);
        return rc;
    }
    s->started = true;
    slog(s, MR_LOG_INFO, "Listening for client connections on %s:%u", s->opts.host,
         (unsigned)s->port);
    if (s->opts.tls.enabled) {
        slog(s, MR_LOG_INFO, "TLS required for client connections");
    }
    return MR_OK;
}

void mr_server_shutdown(struct mr_server *s)
{
    if (s->shutting_down) {
        return;
    }
    s->shutting_down = true;
    if (s->started) {
        mr_route_shutdown(s);
        mr_gateway_shutdown(s);
        mr_leaf_shutdown(s);
        if (s->ws_port != 0) {
            s->env->unlisten(s->env->ctx, MR_LISTENER_WS);
        }
        s->env->unlisten(s->env->ctx, MR_LISTENER_CLIENT);
        if (s->http_port != 0) {
            s->env->unlisten(s->env->ctx, MR_LISTENER_HTTP);
        }
    }
    if (s->responses_timer_armed) {
        s->env->timer_cancel(s->env->ctx, MR_TIMER_SERVER(TIMER_RESPONSES));
        s->responses_timer_armed = false;
    }
    mr_js_api_shutdown(s->js);
    for (struct mr_conn *c = s->conns_head; c != NULL; c = c->next) {
        close_conn(c, "Server Shutdown", false);
    }
    reap(s);
}

bool mr_server_done(const struct mr_server *s)
{
    return s->shutting_down && s->conns_head == NULL;
}

void mr_server_destroy(struct mr_server *s)
{
    if (s == NULL) {
        return;
    }
    /* Connections the env never reported closed (a driver giving up) are freed here. */
    while (s->conns_head != NULL) {
        struct mr_conn *c = s->conns_head;
        if (c->state != CONN_CLOSING) {
            c->state = CONN_CLOSING;
            queue_reap(c);
        }
        reap(s);
        conn_free(s, c);
    }
    reap(s);
    g_hash_table_destroy(s->conns_by_id);
    mr_leaf_deinit(s);
    mr_gateway_deinit(s);
    mr_route_deinit(s);
    mr_js_api_destroy(s->js); /* its internal subscriptions live in the accounts */
    s->js = NULL;
    mr_accounts_deinit(s);
    mr_monitor_deinit(s);
    mr_mem_free(&s->mem, s->info_prefix, s->info_prefix_len + 1);
    mr_outbuf_pool_deinit(&s->pool);
    mr_mem_deinit(&s->mem);
    g_free(s);
}

const struct mr_env_sink *mr_server_sink(struct mr_server *s)
{
    return &s->sink;
}

uint16_t mr_server_port(const struct mr_server *s)
{
    return s->port;
}

const char *mr_server_id(const struct mr_server *s)
{
    return s->server_id;
}

void mr_server_stats(const struct mr_server *s, struct mr_server_stats *out)
{
    *out = s->stats;
    out->mem_bytes = s->mem.used_bytes;
}

void mr_server_check(const struct mr_server *s)
{
    /* The simulator checks after every event: the sid tables are looked up only after
     * a subscription changed. */
    bool lookups = s->sub_changes != s->sub_checked_at;
    ((struct mr_server *)s)->sub_checked_at = s->sub_changes;
    bool conn_lookups = s->conn_changes != s->conn_checked_at;
    ((struct mr_server *)s)->conn_checked_at = s->conn_changes;
    uint64_t conns = 0;
    uint64_t all = 0;
    uint64_t subs = 0;
    const struct mr_conn *prev = NULL;
    uint64_t last_cid = 0;
    for (const struct mr_conn *c = s->conns_head; c != NULL; c = c->next) {
        mr_assert(c->prev == prev);
        mr_assert(c->srv == s);
        if (c->kind == MR_CONN_CLIENT) {
            mr_assert(last_cid < c->cid);
            last_cid = c->cid;
        }
        mr_assert(!conn_lookups || g_hash_table_lookup(s->conns_by_id, &c->id) == c);
        /* A connection's subscription list changes only with sub_changes: walk it
         * after a change, else trust the count the last walk confirmed. */
        uint32_t n = lookups ? 0 : c->subs_count;
        for (const struct mr_csub *cs = c->subs_head; lookups && cs != NULL; cs = cs->next) {
            mr_assert(cs->conn == c);
            mr_assert(g_hash_table_lookup(c->subs_by_sid, cs->sid) == cs);
            n++;
        }
        mr_assert(n == c->subs_count);
        if (c->subs_by_sid != NULL) {
            mr_assert(g_hash_table_size(c->subs_by_sid) == n);
        }
        if (n > 0) {
            mr_assert(c->account != NULL);
        }
        subs += n;
        if (c->kind == MR_CONN_CLIENT && c->counted) {
            conns++;
        }
        if (c->kind != MR_CONN_CLIENT || (c->ws != NULL && !mr_ws_conn_framing(c))) {
            mr_assert(!c->counted); /* WebSocket clients count once upgraded */
        }
        all++;
        prev = c;
    }
    mr_assert(prev == s->conns_tail);
    mr_assert(conns == s->stats.connections);
    mr_assert(subs == s->stats.subscriptions);
    mr_assert(g_hash_table_size(s->conns_by_id) == all);
    uint64_t acc_subs = 0;
    for (const struct mr_account *a = s->accounts_head; a != NULL; a = a->next) {
        acc_subs += a->subs;
    }
    mr_assert(acc_subs == subs);
    mr_accounts_check(s);
    if (s->js != NULL) {
        mr_js_api_check(s->js);
    }
    mr_route_check(s);
    mr_gateway_check(s);
    mr_leaf_check(s);
}
