/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cluster routes; the model is in route.h.
 *
 * Handshake (nats-server 2.9's order): the soliciting side sends CONNECT then INFO;
 * the accepting side sends INFO at accept. A route is registered when the peer's first
 * INFO has been accepted (and, on the accepting side, its CONNECT before that). Then
 * each side sends its whole local interest, and the accepting... either side forwards
 * the peer's INFO (with "ip" set) to its other routes, whose servers connect to the
 * peer if they have no route to it yet (implicit routes): a full mesh from one seed.
 *
 * Duplicates: when both sides solicit each other at start, both keep the connection
 * solicited by the server with the smaller id and close the other ("Duplicate
 * Route"), so they agree in one round instead of dropping both and retrying, which
 * the simulator's symmetric timing could repeat for a long time. A route that has
 * carried messages is never replaced (that would drop what is in flight and the
 * interest until the peer resends it); the newcomer is closed, as nats-server closes
 * every later duplicate. If the two sides disagree, both close and the retry (the
 * survivor inherits the loser's slot) reconnects. An accepted route also takes over a
 * configured slot that points at the same peer, so that slot does not keep dialling
 * a peer that is already connected.

 *
 * Invariants:
 *  - A route is in the registered list iff registered is set, at most once per peer id.
 *  - Every struct mr_rsub is in its route's table and list and in its account's
 *    sublist; all three go together.
 *  - Every local interest entry has count > 0 and is in its account's table and list.
 *  - A slot has at most one connect in flight or one open connection.
 */
#include "core/server/route.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/conf/conf_server.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/proto/decimal.h"
#include "core/proto/subject.h"
#include "core/server/auth.h"
#include "core/server/server_int.h"
#include "core/server/sublist.h"

/* nats-server retries a route every second (DEFAULT_ROUTE_RECONNECT). A seeded jitter
 * on top keeps two servers that drop each other's duplicate from retrying in lockstep
 * for ever, which the simulator's exact timing would otherwise allow. */
#define ROUTE_RETRY_NS (1ULL * MR_NS_PER_SEC)
#define ROUTE_RETRY_JITTER_NS (250ULL * MR_NS_PER_MS)
#define ROUTE_DEFAULT_PORT 6222

static void rlog(struct mr_server *s, enum mr_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void rlog(struct mr_server *s, enum mr_log_level level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    mr_server_log(s, level, "%s", line);
}

static const char *own_name(const struct mr_server *s)
{
    return s->opts.server_name[0] != '\0' ? s->opts.server_name : s->server_id;
}

static void send_text(struct mr_conn *c, const char *text)
{
    (void)mr_conn_queue_out(c, text, strlen(text));
}

/* ------------------------------------------------------------------------------------ */
/* URLs and slots                                                                        */

/* Parses [scheme://][user[:pass]@]host[:port][/...] into the slot's fields. */
bool mr_route_parse_url(const char *url, struct mr_route_slot *out)
{
    const char *p = strstr(url, "://");
    p = p != NULL ? p + 3 : url;
    const char *end = p + strcspn(p, "/");
    const char *at = memchr(p, '@', (size_t)(end - p));
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *user_end = colon != NULL ? colon : at;
        snprintf(out->user, sizeof(out->user), "%.*s", (int)(user_end - p), p);
        if (colon != NULL) {
            snprintf(out->pass, sizeof(out->pass), "%.*s", (int)(at - colon - 1), colon + 1);
        }
        p = at + 1;
    }
    const char *host_end;
    const char *port_start = NULL;
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (close == NULL) {
            return false;
        }
        snprintf(out->host, sizeof(out->host), "%.*s", (int)(close - p - 1), p + 1);
        port_start = close + 1 < end && close[1] == ':' ? close + 2 : NULL;
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        host_end = colon != NULL ? colon : end;
        snprintf(out->host, sizeof(out->host), "%.*s", (int)(host_end - p), p);
        port_start = colon != NULL ? colon + 1 : NULL;
    }
    if (out->host[0] == '\0') {
        return false;
    }
    out->port = ROUTE_DEFAULT_PORT;
    if (port_start != NULL) {
        char num[8];
        if (end - port_start <= 0 || end - port_start >= (ptrdiff_t)sizeof(num)) {
            return false;
        }
        memcpy(num, port_start, (size_t)(end - port_start));
        num[end - port_start] = '\0';
        char *e = NULL;
        long v = strtol(num, &e, 10);
        if (*e != '\0' || v <= 0 || v > 65535) {
            return false;
        }
        out->port = (uint16_t)v;
    }
    return true;
}

static struct mr_route_slot *slot_add(struct mr_server *s, const struct mr_route_slot *tmpl)
{
    struct mr_route_slot *slot = g_new0(struct mr_route_slot, 1);
    *slot = *tmpl;
    slot->index = s->cluster.slots->len;
    g_ptr_array_add(s->cluster.slots, slot);
    return slot;
}

static uint64_t slot_timer(const struct mr_route_slot *slot)
{
    uint64_t conn = MR_TIMER_SERVER_CONN - 1 - slot->index;
    return (conn << TIMER_KIND_BITS) | TIMER_ROUTE_RETRY;
}

static void slot_arm_retry(struct mr_server *s, struct mr_route_slot *slot)
{
    if (s->shutting_down || slot->self || slot->retry_armed) {
        return;
    }
    uint64_t delay = ROUTE_RETRY_NS + mr_server_rand(s) % ROUTE_RETRY_JITTER_NS;
    slot->retry_armed = true;
    s->env->timer_arm(s->env->ctx, slot_timer(slot), mr_server_now(s) + delay);
}

static void slot_failed(struct mr_server *s, struct mr_route_slot *slot, int err)
{
    slot->attempts++;
    const struct mr_cluster_opts *o = s->cluster.opts;
    enum mr_log_level level = slot->attempts == 1 ? MR_LOG_INFO : MR_LOG_DEBUG;
    rlog(s, level, "Error trying to connect to route %s:%u (attempt %u): %s", slot->host,
         (unsigned)slot->port, slot->attempts, mr_err_text(err));
    if (!slot->configured && (o->connect_retries <= 0 ||
                              slot->attempts > (uint32_t)o->connect_retries)) {
        return; /* implicit routes give up; the peer's own seeds bring it back */
    }
    slot_arm_retry(s, slot);
}

static struct mr_route *find_registered(const struct mr_server *s, const char *id);

static void slot_connect(struct mr_server *s, struct mr_route_slot *slot)
{
    if (s->shutting_down || slot->self || slot->conn != NULL || slot->pending_conn != 0) {
        return;
    }
    if (slot->remote_id[0] != '\0' && find_registered(s, slot->remote_id) != NULL) {
        return; /* the peer already has a route to us */
    }
    uint64_t id = 0;
    rlog(s, MR_LOG_DEBUG, "Trying to connect to route on %s:%u", slot->host,
         (unsigned)slot->port);
    int rc = s->env->connect(s->env->ctx, slot->host, slot->port, &id);
    if (rc != MR_OK) {
        slot_failed(s, slot, rc);
        return;
    }
    slot->pending_conn = id;
    mr_server_arm_dial(s, id);
}

bool mr_route_dial_timeout(struct mr_server *s, uint64_t conn_id)
{
    for (guint i = 0; s->cluster.slots != NULL && i < s->cluster.slots->len; i++) {
        struct mr_route_slot *slot = g_ptr_array_index(s->cluster.slots, i);
        if (slot->pending_conn == conn_id) {
            slot->pending_conn = 0;
            slot_failed(s, slot, MR_E_TIMEOUT);
            return true;
        }
    }
    return false;
}

void mr_route_on_timer(struct mr_server *s, uint64_t slot_id)
{
    uint64_t index = MR_TIMER_SERVER_CONN - 1 - slot_id;
    if (s->cluster.slots == NULL || index >= s->cluster.slots->len) {
        return;
    }
    struct mr_route_slot *slot = g_ptr_array_index(s->cluster.slots, index);
    slot->retry_armed = false;
    slot_connect(s, slot);
}

/* ------------------------------------------------------------------------------------ */
/* INFO and CONNECT                                                                      */

static const char *listen_host(const struct mr_server *s)
{
    const char *h = s->cluster.opts->host;
    return h != NULL ? h : "0.0.0.0";
}

static bool wildcard_host(const char *h)
{
    return h[0] == '\0' || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0 ||
           strcmp(h, "[::]") == 0;
}

static json_t *client_urls_json(const struct mr_server *s, bool own_only)
{
    json_t *a = json_array();
    const GPtrArray *urls = s->cluster.client_urls;
    for (guint i = 0; urls != NULL && i < urls->len; i++) {
        if (own_only && i > 0) {
            break;
        }
        json_array_append_new(a, json_string(g_ptr_array_index(urls, i)));
    }
    return a;
}

/* The route INFO line of this server. */
static char *route_info_line(const struct mr_server *s)
{
    const struct mr_cluster_opts *o = s->cluster.opts;
    json_t *j = json_object();
    json_object_set_new(j, "server_id", json_string(s->server_id));
    json_object_set_new(j, "server_name", json_string(own_name(s)));
    json_object_set_new(j, "version", json_string(MR_SERVER_COMPAT_VERSION));
    json_object_set_new(j, "proto", json_integer(1));
    json_object_set_new(j, "go", json_string("meridian"));
    const char *host = listen_host(s);
    int port = s->cluster.port;
    char ip[300] = "";
    if (o->advertise != NULL) {
        struct mr_route_slot adv = {0};
        if (mr_route_parse_url(o->advertise, &adv)) {
            host = adv.host;
            port = adv.port;
            snprintf(ip, sizeof(ip), "nats-route://%s:%u/", adv.host, (unsigned)adv.port);
        }
        json_object_set_new(j, "host", json_string(host));
    } else {
        json_object_set_new(j, "host", json_string(host));
    }
    json_object_set_new(j, "port", json_integer(port));
    json_object_set_new(j, "headers", json_true());
    if (o->auth.user != NULL) {
        json_object_set_new(j, "auth_required", json_true());
    }
    if (o->tls.enabled) {
        /* Routes always verify each other's certificates, as in nats-server. */
        json_object_set_new(j, "tls_required", json_true());
        json_object_set_new(j, "tls_verify", json_true());
    }
    json_object_set_new(j, "max_payload", json_integer(s->opts.max_payload));
    json_object_set_new(j, "cluster", json_string(s->cluster.name));
    if (s->cluster.dynamic) {
        json_object_set_new(j, "cluster_dynamic", json_true());
    }
    if (!o->no_advertise && s->cluster.client_urls != NULL && s->cluster.client_urls->len > 0) {
        json_object_set_new(j, "connect_urls", client_urls_json(s, true));
    }
    json_object_set_new(j, "lnoc", json_true());
    if (s->gw.url[0] != '\0') {
        json_object_set_new(j, "gateway_url", json_string(s->gw.url));
    }
    if (ip[0] != '\0') {
        json_object_set_new(j, "ip", json_string(ip));
    }
    json_object_set_new(j, "meridian_version", json_string(MR_SERVER_VERSION));
    char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    return text;
}

static void send_route_info(struct mr_server *s, struct mr_conn *c)
{
    char *text = route_info_line(s);
    if (text == NULL) {
        mr_conn_close(c, "Out Of Memory");
        return;
    }
    send_text(c, "INFO ");
    send_text(c, text);
    send_text(c, "\r\n");
    free(text);
}

static void send_route_connect(struct mr_server *s, struct mr_conn *c)
{
    const struct mr_route_slot *slot = c->route->slot;
    const struct mr_cluster_opts *o = s->cluster.opts;
    json_t *j = json_object();
    json_object_set_new(j, "echo", json_true());
    json_object_set_new(j, "verbose", json_false());
    json_object_set_new(j, "pedantic", json_false());
    const char *user = slot->user[0] != '\0' ? slot->user : o->auth.user;
    const char *pass = slot->user[0] != '\0' ? slot->pass : o->auth.password;
    if (user != NULL) {
        json_object_set_new(j, "user", json_string(user));
        json_object_set_new(j, "pass", json_string(pass != NULL ? pass : ""));
    }
    json_object_set_new(j, "tls_required", json_boolean(o->tls.enabled));
    json_object_set_new(j, "headers", json_true());
    json_object_set_new(j, "name", json_string(s->server_id));
    json_object_set_new(j, "cluster", json_string(s->cluster.name));
    if (s->cluster.dynamic) {
        json_object_set_new(j, "cluster_dynamic", json_true());
    }
    json_object_set_new(j, "lnoc", json_true());
    char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (text == NULL) {
        mr_conn_close(c, "Out Of Memory");
        return;
    }
    send_text(c, "CONNECT ");
    send_text(c, text);
    send_text(c, "\r\n");
    free(text);
}

/* ------------------------------------------------------------------------------------ */
/* Client URLs                                                                           */

static bool urls_contain(const GPtrArray *a, const char *url)
{
    for (guint i = 0; i < a->len; i++) {
        if (strcmp(g_ptr_array_index(a, i), url) == 0) {
            return true;
        }
    }
    return false;
}

/* Rebuilds the cluster's client URL list; tells clients when it changed. */
static void update_client_urls(struct mr_server *s)
{
    GPtrArray *next = g_ptr_array_new_with_free_func(g_free);
    if (!wildcard_host(s->opts.host)) {
        g_ptr_array_add(next, g_strdup_printf("%s:%u", s->opts.host, (unsigned)s->port));
    }
    if (!s->cluster.opts->no_advertise) {
        for (const struct mr_route *r = s->cluster.head; r != NULL; r = r->next) {
            for (guint i = 0; r->connect_urls != NULL && i < r->connect_urls->len; i++) {
                const char *u = g_ptr_array_index(r->connect_urls, i);
                if (!urls_contain(next, u)) {
                    g_ptr_array_add(next, g_strdup(u));
                }
            }
        }
    }
    GPtrArray *old = s->cluster.client_urls;
    bool same = old != NULL && old->len == next->len;
    for (guint i = 0; same && i < next->len; i++) {
        same = strcmp(g_ptr_array_index(old, i), g_ptr_array_index(next, i)) == 0;
    }
    s->cluster.client_urls = next;
    if (old != NULL) {
        g_ptr_array_free(old, TRUE);
    }
    if (!same && s->started) {
        mr_server_info_changed(s);
    }
}

/* ------------------------------------------------------------------------------------ */
/* Local interest                                                                        */

/* "a b" or "a" into buf (or a new allocation when it does not fit: *heap is set). */
static char *join_key(char *buf, size_t cap, const char *a, size_t alen, const char *b,
                      size_t blen, size_t *len, bool *heap)
{
    size_t n = alen + (blen > 0 ? 1 + blen : 0);
    char *k = buf;
    *heap = n + 1 > cap;
    if (*heap) {
        k = g_malloc(n + 1);
    }
    memcpy(k, a, alen);
    if (blen > 0) {
        k[alen] = ' ';
        memcpy(k + alen + 1, b, blen);
    }
    k[n] = '\0';
    *len = n;
    return k;
}

static void send_interest(struct mr_conn *c, bool plus, const struct mr_account *acc,
                          const char *subject, size_t subject_len, const char *queue,
                          size_t queue_len, uint32_t weight)
{
    GString *line = g_string_sized_new(64);
    g_string_append(line, plus ? "RS+ " : "RS- ");
    g_string_append(line, acc->name);
    g_string_append_c(line, ' ');
    g_string_append_len(line, subject, (gssize)subject_len);
    if (queue_len > 0) {
        g_string_append_c(line, ' ');
        g_string_append_len(line, queue, (gssize)queue_len);
        if (plus) {
            g_string_append_printf(line, " %u", weight);
        }
    }
    g_string_append(line, "\r\n");
    (void)mr_conn_queue_out(c, line->str, line->len);
    g_string_free(line, TRUE);
}

static void broadcast_interest(struct mr_server *s, bool plus, const struct mr_account *acc,
                               const struct mr_sub *sub, uint32_t count)
{
    size_t qlen = sub->queue != NULL ? sub->queue_len : 0;
    for (struct mr_route *r = s->cluster.head; r != NULL; r = r->next) {
        if (r->conn->state == CONN_OPEN) {
            send_interest(r->conn, plus, acc, sub->subject, sub->subject_len, sub->queue, qlen,
                          count);
        }
    }
}

void mr_route_interest(struct mr_server *s, struct mr_account *acc, const struct mr_sub *sub,
                       int delta)
{
    if (s->cluster.opts == NULL) {
        return;
    }
    size_t qlen = sub->queue != NULL ? sub->queue_len : 0;
    uint32_t count = mr_interest_change(&acc->route_interest, sub->subject, sub->subject_len,
                                        sub->queue, qlen, delta, NULL);
    if (sub->queue != NULL) {
        /* A queue's member count is its weight: re-sent on every change. */
        broadcast_interest(s, count > 0, acc, sub, count);
    } else if (count == 1 && delta > 0) {
        broadcast_interest(s, true, acc, sub, count);
    } else if (count == 0) {
        broadcast_interest(s, false, acc, sub, count);
    }
}

/* Sends every account's local interest to a newly registered route. */
static void send_all_interest(struct mr_server *s, struct mr_conn *c)
{
    for (const struct mr_account *a = s->accounts_head; a != NULL; a = a->next) {
        for (const struct mr_interest *in = a->route_interest.head; in != NULL; in = in->next) {
            size_t qlen;
            const char *q = mr_interest_queue(in, &qlen);
            send_interest(c, true, a, in->key, in->subject_len, q, qlen, in->count);
        }
    }
}

/* ------------------------------------------------------------------------------------ */
/* Remote interest                                                                       */

static struct mr_account *account_of(struct mr_server *s, struct mr_view name)
{
    /* Accounts live as long as the server, so the memo never dangles. */
    struct mr_account *memo = s->account_memo;
    if (memo != NULL && strlen(memo->name) == name.len &&
        memcmp(memo->name, name.ptr, name.len) == 0) {
        return memo;
    }
    char buf[256];
    if (name.len >= sizeof(buf)) {
        return NULL;
    }
    memcpy(buf, name.ptr, name.len);
    buf[name.len] = '\0';
    struct mr_account *acc = g_hash_table_lookup(s->accounts_by_name, buf);
    if (acc != NULL) {
        s->account_memo = acc;
    }
    return acc;
}

static char *rsub_key(const struct mr_proto_op *op, char *buf, size_t cap, size_t *len,
                      bool *heap)
{
    /* "account subject[ queue]": account and subject joined, then the queue. */
    char tmp[512];
    bool tmp_heap;
    size_t tlen;
    char *t = join_key(tmp, sizeof(tmp), op->account.ptr, op->account.len, op->subject.ptr,
                       op->subject.len, &tlen, &tmp_heap);
    char *k = join_key(buf, cap, t, tlen, op->queue.ptr, op->queue.len, len, heap);
    if (tmp_heap) {
        g_free(t);
    }
    return k;
}

static void rsub_remove(struct mr_server *s, struct mr_route *r, struct mr_rsub *rs)
{
    int rc = mr_sublist_remove(rs->acc->sublist, &rs->sub);
    mr_assert(rc == MR_OK);
    mr_gateway_interest(s, rs->acc, &rs->sub, -1);
    mr_leaf_interest(s, rs->acc, &rs->sub, r->conn, -1);
    g_hash_table_remove(r->rsubs, rs->key);
    if (rs->prev != NULL) {
        rs->prev->next = rs->next;
    } else {
        r->rsubs_head = rs->next;
    }
    if (rs->next != NULL) {
        rs->next->prev = rs->prev;
    } else {
        r->rsubs_tail = rs->prev;
    }
    r->rsubs_count--;
    s->cluster.changes++;
    g_free(rs->key);
    g_free(rs);
}

static void process_remote_sub(struct mr_server *s, struct mr_conn *c, const struct mr_proto_op *op)
{
    struct mr_route *r = c->route;
    bool plus = op->op == MR_OP_RS_PLUS || op->op == MR_OP_LS_PLUS;
    struct mr_account *acc = account_of(s, op->account);
    if (acc == NULL) {
        rlog(s, MR_LOG_DEBUG, "route %s: interest in unknown account %.*s ignored",
             r->remote_name, (int)op->account.len, op->account.ptr);
        return;
    }
    if (!mr_subject_valid(op->subject.ptr, op->subject.len) ||
        (op->queue.len > 0 && !mr_subject_valid_queue(op->queue.ptr, op->queue.len))) {
        rlog(s, MR_LOG_DEBUG, "route %s: invalid subject \"%.*s\" ignored", r->remote_name,
             (int)op->subject.len, op->subject.ptr);
        return;
    }
    char buf[256];
    size_t len;
    bool heap;
    char *key = rsub_key(op, buf, sizeof(buf), &len, &heap);
    struct mr_rsub *rs = g_hash_table_lookup(r->rsubs, key);
    if (!plus) {
        if (rs != NULL) {
            rsub_remove(s, r, rs);
        }
    } else if (rs != NULL) {
        if (op->queue.len > 0) {
            rs->weight = op->weight; /* the peer's new member count */
        }
    } else {
        rs = g_new0(struct mr_rsub, 1);
        rs->key = heap ? key : g_strdup(key);
        heap = false;
        rs->route = r;
        rs->acc = acc;
        rs->weight = op->queue.len > 0 ? op->weight : 1;
        size_t acc_len = op->account.len;
        rs->sub.owner = c;
        rs->sub.flags = MR_SUB_ROUTE;
        rs->sub.subject = rs->key + acc_len + 1;
        rs->sub.subject_len = op->subject.len;
        if (op->queue.len > 0) {
            rs->sub.queue = rs->key + acc_len + 1 + op->subject.len + 1;
            rs->sub.queue_len = op->queue.len;
        }
        if (mr_sublist_insert(acc->sublist, &rs->sub) != MR_OK) {
            rlog(s, MR_LOG_WARN, "route %s: interest dropped: memory budget exhausted",
                 r->remote_name);
            g_free(rs->key);
            g_free(rs);
        } else {
            g_hash_table_insert(r->rsubs, rs->key, rs);
            rs->prev = r->rsubs_tail;
            if (r->rsubs_tail != NULL) {
                r->rsubs_tail->next = rs;
            } else {
                r->rsubs_head = rs;
            }
            r->rsubs_tail = rs;
            r->rsubs_count++;
            s->cluster.changes++;
            mr_gateway_interest(s, acc, &rs->sub, 1);
            mr_leaf_interest(s, acc, &rs->sub, c, 1);
        }
    }
    if (heap) {
        g_free(key);
    }
}

uint32_t mr_route_sub_weight(const struct mr_sub *sub)
{
    if ((sub->flags & MR_SUB_ROUTE) == 0) {
        return 1;
    }
    return (uint32_t)((const struct mr_rsub *)sub)->weight;
}

bool mr_route_sub_usable(const struct mr_sub *sub)
{
    const struct mr_route *r = ((const struct mr_rsub *)sub)->route;
    return r->registered && r->conn->state == CONN_OPEN;
}

/* ------------------------------------------------------------------------------------ */
/* Fan-out                                                                               */

void mr_route_fan_begin(struct mr_server *s)
{
    s->cluster.fan_gen++;
    s->cluster.fan_count = 0;
}

static struct mr_route *fan_touch(struct mr_server *s, struct mr_route *r)
{
    struct mr_cluster *cl = &s->cluster;
    if (r->fan_gen != cl->fan_gen) {
        r->fan_gen = cl->fan_gen;
        r->fan_plain = false;
        r->fan_nq = 0;
        if (cl->fan_count == cl->fan_cap) {
            cl->fan_cap = cl->fan_cap == 0 ? 8 : cl->fan_cap * 2;
            cl->fan = g_renew(struct mr_route *, cl->fan, cl->fan_cap);
        }
        cl->fan[cl->fan_count++] = r;
    }
    return r;
}

void mr_route_fan_plain(struct mr_server *s, const struct mr_sub *sub)
{
    if (!mr_route_sub_usable(sub)) {
        return;
    }
    fan_touch(s, ((const struct mr_rsub *)sub)->route)->fan_plain = true;
}

void mr_route_fan_queue(struct mr_server *s, const struct mr_sub *sub)
{
    struct mr_route *r = fan_touch(s, ((const struct mr_rsub *)sub)->route);
    if (r->fan_nq == r->fan_cap) {
        r->fan_cap = r->fan_cap == 0 ? 4 : r->fan_cap * 2;
        r->fan_queues = g_renew(struct mr_view, r->fan_queues, r->fan_cap);
    }
    r->fan_queues[r->fan_nq++] = (struct mr_view){sub->queue, sub->queue_len};
}

static size_t put(char *w, const void *p, size_t n)
{
    memcpy(w, p, n);
    return n;
}

bool mr_send_rmsg(struct mr_conn *c, bool headers_ok, const char *account, const struct mr_msg *m,
                  struct mr_view reply, const struct mr_view *queues, uint32_t nq)
{
    return mr_send_routed(c, headers_ok, NULL, account, m, reply, queues, nq);
}

bool mr_send_routed(struct mr_conn *c, bool headers_ok, const char *origin, const char *account,
                    const struct mr_msg *m, struct mr_view reply, const struct mr_view *queues,
                    uint32_t nq)
{
    const uint8_t *payload = m->payload;
    uint32_t size = m->size;
    uint32_t hdr = m->hdr_len;
    if (hdr > 0 && !headers_ok) {
        payload += hdr;
        size -= hdr;
        hdr = 0;
    }
    size_t acc_len = account != NULL ? strlen(account) : 0;
    size_t origin_len = origin != NULL ? strlen(origin) : 0;
    size_t need = 5 + origin_len + 1 + acc_len + 1 + m->subject.len + 3 + reply.len + 1 + 24;
    for (uint32_t i = 0; i < nq; i++) {
        need += queues[i].len + 1;
    }
    char stack[512];
    char *line = need <= sizeof(stack) ? stack : g_malloc(need);
    char *w = line;
    if (origin != NULL) {
        /* A message that entered from leaf cluster `origin`: "LMSG origin acc ...",
         * always with a header size, so no peer sends it back to that leaf cluster. */
        w += put(w, "LMSG ", 5);
        w += put(w, origin, origin_len);
        *w++ = ' ';
    } else {
        w += hdr > 0 ? put(w, "HMSG ", 5) : put(w, account != NULL ? "RMSG " : "LMSG ", 5);
    }
    if (account != NULL) {
        w += put(w, account, acc_len);
        *w++ = ' ';
    }
    w += put(w, m->subject.ptr, m->subject.len);
    *w++ = ' ';
    if (nq > 0) {
        if (reply.len > 0) {
            w += put(w, "+ ", 2);
            w += put(w, reply.ptr, reply.len);
            *w++ = ' ';
        } else {
            w += put(w, "| ", 2);
        }
        for (uint32_t i = 0; i < nq; i++) {
            w += put(w, queues[i].ptr, queues[i].len);
            *w++ = ' ';
        }
    } else if (reply.len > 0) {
        w += put(w, reply.ptr, reply.len);
        *w++ = ' ';
    }
    if (hdr > 0 || origin != NULL) {
        w += mr_u64_to_dec(w, hdr);
        *w++ = ' ';
    }
    w += mr_u64_to_dec(w, size);
    *w++ = '\r';
    *w++ = '\n';
    mr_assert((size_t)(w - line) <= need);
    bool ok = mr_conn_queue_out(c, line, (size_t)(w - line)) &&
              mr_conn_queue_out(c, payload, size) && mr_conn_queue_out(c, "\r\n", 2);
    if (line != stack) {
        g_free(line);
    }
    if (ok) {
        c->out_msgs++;
        c->out_bytes += size;
    }
    return ok;
}

uint32_t mr_route_fan_flush(struct mr_server *s, const struct mr_account *acc,
                            const struct mr_msg *m, const char *origin)
{
    struct mr_cluster *cl = &s->cluster;
    uint32_t sent = 0;
    for (uint32_t i = 0; i < cl->fan_count; i++) {
        struct mr_route *r = cl->fan[i];
        if (r->conn->state == CONN_OPEN && (r->fan_plain || r->fan_nq > 0)) {
            (void)mr_send_routed(r->conn, r->headers, origin, acc->name, m, m->reply,
                                 r->fan_queues, r->fan_nq);
            sent++;
        }
    }
    cl->fan_count = 0;
    return sent;
}

/* ------------------------------------------------------------------------------------ */
/* Registration and gossip                                                               */

static struct mr_route *find_registered(const struct mr_server *s, const char *id)
{
    for (struct mr_route *r = s->cluster.head; r != NULL; r = r->next) {
        if (strcmp(r->remote_id, id) == 0) {
            return r;
        }
    }
    return NULL;
}

static void forward_info(struct mr_server *s, const struct mr_route *newr, json_t *info)
{
    char ip[320];
    if (!json_is_string(json_object_get(info, "ip"))) {
        snprintf(ip, sizeof(ip), "nats-route://%s:%u/", newr->url_host, (unsigned)newr->url_port);
        json_object_set_new(info, "ip", json_string(ip));
    }
    json_object_del(info, "nonce");
    char *text = json_dumps(info, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL) {
        return;
    }
    for (struct mr_route *r = s->cluster.head; r != NULL; r = r->next) {
        if (r != newr && r->conn->state == CONN_OPEN) {
            send_text(r->conn, "INFO ");
            send_text(r->conn, text);
            send_text(r->conn, "\r\n");
        }
    }
    free(text);
}

static void set_connect_urls(struct mr_route *r, json_t *info)
{
    json_t *urls = json_object_get(info, "connect_urls");
    if (r->connect_urls != NULL) {
        g_ptr_array_free(r->connect_urls, TRUE);
    }
    r->connect_urls = g_ptr_array_new_with_free_func(g_free);
    size_t i;
    json_t *u;
    json_array_foreach(urls, i, u)
    {
        if (json_is_string(u)) {
            g_ptr_array_add(r->connect_urls, g_strdup(json_string_value(u)));
        }
    }
}

/* The loser of a duplicate pair hands its slot to the survivor, so the survivor is
 * retried if the peer drops it too. */
static void hand_over_slot(struct mr_route *loser, struct mr_route *survivor)
{
    struct mr_route_slot *slot = loser->slot;
    if (slot == NULL) {
        return;
    }
    loser->slot = NULL;
    /* The slot now knows its peer, so it does not dial it while a route exists. */
    snprintf(slot->remote_id, sizeof(slot->remote_id), "%s", loser->remote_id);
    if (survivor->slot == NULL) {
        survivor->slot = slot;
        slot->retry_once = true;
    }
    if (survivor->slot == slot) {
        slot->conn = survivor->conn;
    } else if (slot->conn == loser->conn) {
        slot->conn = NULL;
    }
}

static void unregister(struct mr_server *s, struct mr_route *r);

/* An accepted route from a peer that a configured slot also names (by id, or by the
 * route address it announced) takes the slot: the slot stops dialling and retries if
 * this route drops. */
static void adopt_slot(struct mr_server *s, struct mr_route *r)
{
    for (guint i = 0; i < s->cluster.slots->len; i++) {
        struct mr_route_slot *slot = g_ptr_array_index(s->cluster.slots, i);
        if (slot->conn != NULL || slot->pending_conn != 0 || slot->self) {
            continue;
        }
        bool same = strcmp(slot->remote_id, r->remote_id) == 0 ||
                    (strcmp(slot->host, r->url_host) == 0 && slot->port == r->url_port);
        if (same) {
            r->slot = slot;
            slot->conn = r->conn;
            return;
        }
    }
}

static void register_route(struct mr_server *s, struct mr_conn *c, json_t *info)
{
    struct mr_route *r = c->route;
    struct mr_cluster *cl = &s->cluster;
    struct mr_route *dup = find_registered(s, r->remote_id);
    if (dup != NULL) {
        rlog(s, MR_LOG_DEBUG, "Detected duplicate remote route %s", r->remote_id);
        bool self_lower = strcmp(s->server_id, r->remote_id) < 0;
        bool fresh = dup->conn->in_msgs == 0 && dup->conn->out_msgs == 0;
        bool keep_new = fresh && dup->solicited != r->solicited && r->solicited == self_lower;
        if (!keep_new) {
            hand_over_slot(r, dup);
            mr_conn_close(c, "Duplicate Route");
            return;
        }
        /* The old one goes: out of the list now, its interest at reap. */
        hand_over_slot(dup, r);
        unregister(s, dup);
        mr_conn_close(dup->conn, "Duplicate Route");
    }
    r->registered = true;
    r->prev = cl->tail;
    if (cl->tail != NULL) {
        cl->tail->next = r;
    } else {
        cl->head = r;
    }
    cl->tail = r;
    cl->count++;
    cl->changes++;
    if (r->slot == NULL) {
        adopt_slot(s, r);
    }
    if (r->slot != NULL) {
        snprintf(r->slot->remote_id, sizeof(r->slot->remote_id), "%s", r->remote_id);
    }
    rlog(s, MR_LOG_INFO, "%s:%u - rid:%llu - Route connection created (%s, %s)", c->host,
         (unsigned)c->port, (unsigned long long)r->rid, r->remote_name,
         r->solicited ? "solicited" : "accepted");
    send_all_interest(s, c);
    const char *gw_url = json_string_value(json_object_get(info, "gateway_url"));
    if (gw_url != NULL) {
        snprintf(r->gateway_url, sizeof(r->gateway_url), "%s", gw_url);
        mr_gateway_route_url(s, gw_url, true);
    }
    mr_gateway_gossip_to_route(s, c);
    if (cl->count > 1) {
        forward_info(s, r, info);
    }
    update_client_urls(s);
}

/* An INFO about another server, relayed by a route: connect to it unless known. */
static void process_implicit(struct mr_server *s, json_t *info, const char *id)
{
    if (strcmp(id, s->server_id) == 0 || find_registered(s, id) != NULL) {
        return;
    }
    struct mr_route_slot tmpl = {0};
    const char *ip = json_string_value(json_object_get(info, "ip"));
    if (ip != NULL) {
        if (!mr_route_parse_url(ip, &tmpl)) {
            rlog(s, MR_LOG_WARN, "Error parsing URL from INFO: %s", ip);
            return;
        }
    } else {
        const char *host = json_string_value(json_object_get(info, "host"));
        json_int_t port = json_integer_value(json_object_get(info, "port"));
        if (host == NULL || port <= 0 || port > 65535) {
            return;
        }
        snprintf(tmpl.host, sizeof(tmpl.host), "%s", host);
        tmpl.port = (uint16_t)port;
    }
    struct mr_route_slot *slot = NULL;
    for (guint i = 0; i < s->cluster.slots->len; i++) {
        struct mr_route_slot *x = g_ptr_array_index(s->cluster.slots, i);
        if (strcmp(x->remote_id, id) == 0 ||
            (strcmp(x->host, tmpl.host) == 0 && x->port == tmpl.port)) {
            slot = x;
            break;
        }
    }
    if (slot != NULL && (slot->configured || slot->conn != NULL || slot->pending_conn != 0 ||
                         slot->self)) {
        return;
    }
    if (slot == NULL) {
        const struct mr_cluster_opts *o = s->cluster.opts;
        if (json_is_true(json_object_get(info, "auth_required")) && o->auth.user != NULL) {
            snprintf(tmpl.user, sizeof(tmpl.user), "%s", o->auth.user);
            snprintf(tmpl.pass, sizeof(tmpl.pass), "%s",
                     o->auth.password != NULL ? o->auth.password : "");
        }
        snprintf(tmpl.remote_id, sizeof(tmpl.remote_id), "%s", id);
        slot = slot_add(s, &tmpl);
    }
    slot->attempts = 0;
    slot_connect(s, slot);
}

/* Cluster names differ: adopt the peer's if ours is dynamic and theirs wins. */
static bool reconcile_cluster_name(struct mr_server *s, const char *theirs, bool their_dynamic)
{
    if (theirs == NULL || theirs[0] == '\0' || strcmp(theirs, s->cluster.name) == 0) {
        return true;
    }
    if (s->cluster.dynamic && (!their_dynamic || strcmp(s->cluster.name, theirs) < 0)) {
        rlog(s, MR_LOG_INFO, "Cluster name updated to %s", theirs);
        snprintf(s->cluster.name, sizeof(s->cluster.name), "%s", theirs);
        s->cluster.dynamic = their_dynamic;
        if (s->started) {
            mr_server_info_changed(s); /* clients see the cluster name in INFO */
        }
        return true;
    }
    return false;
}

static void process_info(struct mr_server *s, struct mr_conn *c, const struct mr_proto_op *op)
{
    struct mr_route *r = c->route;
    json_t *info = json_loadb(op->json.ptr, op->json.len, 0, NULL);
    const char *id = json_string_value(json_object_get(info, "server_id"));
    if (!json_is_object(info) || id == NULL) {
        json_decref(info);
        mr_conn_close(c, "Parse Error");
        return;
    }
    if (r->info_received) {
        if (json_is_string(json_object_get(info, "gateway"))) {
            /* A gateway this cluster learned of: every server connects to it. */
            mr_gateway_info_from_route(s, op->json.ptr, op->json.len);
        } else if (strcmp(id, r->remote_id) != 0) {
            process_implicit(s, info, id);
        } else {
            set_connect_urls(r, info);
            update_client_urls(s);
        }
        json_decref(info);
        return;
    }
    if (!r->solicited && !r->connect_received) {
        json_decref(info);
        mr_conn_send_err(c, "Authorization Violation");
        mr_conn_close(c, "Authorization Violation");
        return;
    }
    if (strcmp(id, s->server_id) == 0) {
        if (r->slot != NULL) {
            r->slot->self = true; /* a configured route back to this server */
        }
        json_decref(info);
        mr_conn_close(c, "Duplicate Route");
        return;
    }
    const char *cluster = json_string_value(json_object_get(info, "cluster"));
    bool dynamic = json_is_true(json_object_get(info, "cluster_dynamic"));
    if (!reconcile_cluster_name(s, cluster, dynamic)) {
        rlog(s, MR_LOG_WARN, "Rejecting route from %s: cluster name \"%s\" does not match \"%s\"",
             id, cluster, s->cluster.name);
        json_decref(info);
        mr_conn_close(c, "Cluster Name Conflict");
        return;
    }
    const char *name = json_string_value(json_object_get(info, "server_name"));
    if (!r->solicited && name != NULL && strcmp(name, own_name(s)) == 0) {
        rlog(s, MR_LOG_ERROR, "Remote server has a duplicate name: \"%s\"", name);
        json_decref(info);
        mr_conn_close(c, "Duplicate Server Name");
        return;
    }
    r->info_received = true;
    snprintf(r->remote_id, sizeof(r->remote_id), "%s", id);
    snprintf(r->remote_name, sizeof(r->remote_name), "%s", name != NULL ? name : id);
    snprintf(r->remote_cluster, sizeof(r->remote_cluster), "%s", cluster != NULL ? cluster : "");
    r->headers = json_is_true(json_object_get(info, "headers"));
    json_int_t port = json_integer_value(json_object_get(info, "port"));
    if (r->solicited) {
        snprintf(r->url_host, sizeof(r->url_host), "%s", r->slot != NULL ? r->slot->host : c->host);
        r->url_port = r->slot != NULL ? r->slot->port : c->port;
    } else {
        snprintf(r->url_host, sizeof(r->url_host), "%s", c->host);
        r->url_port = port > 0 && port <= 65535 ? (uint16_t)port : 0;
    }
    set_connect_urls(r, info);
    register_route(s, c, info);
    json_decref(info);
}

static void process_route_connect(struct mr_server *s, struct mr_conn *c,
                                  const struct mr_proto_op *op)
{
    struct mr_route *r = c->route;
    const struct mr_cluster_opts *o = s->cluster.opts;
    json_t *j = json_loadb(op->json.ptr, op->json.len, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        mr_conn_close(c, "Protocol Error");
        return;
    }
    const char *lang = json_string_value(json_object_get(j, "lang"));
    if (lang != NULL && lang[0] != '\0') {
        json_decref(j);
        mr_conn_send_err(c, "attempted to connect to route port");
        mr_conn_close(c, "Incorrect Port");
        return;
    }
    const char *gw = json_string_value(json_object_get(j, "gateway"));
    if (gw != NULL && gw[0] != '\0') {
        char text[320];
        snprintf(text, sizeof(text), "Rejecting connection from gateway \"%s\" on the Route port",
                 gw);
        json_decref(j);
        mr_conn_send_err(c, text);
        mr_conn_close(c, "Wrong Gateway");
        return;
    }
    if (o->auth.user != NULL) {
        const char *user = json_string_value(json_object_get(j, "user"));
        const char *pass = json_string_value(json_object_get(j, "pass"));
        if (user == NULL || strcmp(user, o->auth.user) != 0 || pass == NULL ||
            !mr_auth_password_ok(pass, o->auth.password != NULL ? o->auth.password : "")) {
            json_decref(j);
            rlog(s, MR_LOG_WARN, "%s:%u - rid:%llu - authentication error", c->host,
                 (unsigned)c->port, (unsigned long long)r->rid);
            mr_conn_send_err(c, "Authorization Violation");
            mr_conn_close(c, "Authentication Failure");
            return;
        }
    }
    const char *cluster = json_string_value(json_object_get(j, "cluster"));
    if (cluster == NULL) {
        cluster = ""; /* nats-server compares CONNECT's name even when it is empty */
    }
    if (cluster[0] == '\0' ||
        !reconcile_cluster_name(s, cluster, json_is_true(json_object_get(j, "cluster_dynamic")))) {
        char text[600];
        snprintf(text, sizeof(text),
                 "Rejecting connection, cluster name \"%s\" does not match \"%s\"", cluster,
                 s->cluster.name);
        json_decref(j);
        rlog(s, MR_LOG_WARN, "%s", text);
        mr_conn_send_err(c, text);
        mr_conn_close(c, "Cluster Name Conflict");
        return;
    }
    r->connect_received = true;
    c->connect_received = true;
    s->env->timer_cancel(s->env->ctx, (c->id << TIMER_KIND_BITS) | TIMER_AUTH);
    json_decref(j);
}

/* ------------------------------------------------------------------------------------ */
/* Connections                                                                           */

static void route_attach(struct mr_server *s, struct mr_conn *c, struct mr_route_slot *slot)
{
    struct mr_route *r = g_new0(struct mr_route, 1);
    r->conn = c;
    r->rid = ++s->cluster.next_rid;
    r->solicited = slot != NULL;
    r->slot = slot;
    r->rsubs = g_hash_table_new(g_str_hash, g_str_equal);
    c->route = r;
    c->verbose = false;
    c->pedantic = false;
    c->echo = true;
    c->headers = true;
    mr_parser_init(&c->parser, MR_PARSER_ROUTE, s->opts.max_control_line, MR_PAYLOAD_MAX);
}

static uint64_t first_ping_ns(const struct mr_server *s)
{
    uint64_t iv = mr_route_ping_interval(s);
    return iv < MR_FIRST_PING_DELAY_NS ? iv : MR_FIRST_PING_DELAY_NS;
}

/* nats-server's route order with TLS: the handshake first, then CONNECT and INFO. */
static bool start_route_tls(struct mr_server *s, struct mr_conn *c)
{
    if (!s->cluster.opts->tls.enabled) {
        return false;
    }
    c->tls_pending = true;
    if (c->route->solicited) {
        s->env->stream_start_tls_client(s->env->ctx, c->id, MR_TLS_ROUTE, c->route->slot->host);
    } else {
        s->env->stream_start_tls(s->env->ctx, c->id, MR_TLS_ROUTE);
    }
    return true;
}

void mr_route_on_tls(struct mr_server *s, struct mr_conn *c)
{
    rlog(s, MR_LOG_DEBUG, "rid:%llu - route TLS handshake complete",
         (unsigned long long)c->route->rid);
    if (c->route->solicited) {
        send_route_connect(s, c);
    }
    send_route_info(s, c);
}

void mr_route_accept(struct mr_server *s, struct mr_conn *c)
{
    route_attach(s, c, NULL);
    rlog(s, MR_LOG_DEBUG, "%s:%u - rid:%llu - Route connection accepted", c->host,
         (unsigned)c->port, (unsigned long long)c->route->rid);
    if (!start_route_tls(s, c)) {
        send_route_info(s, c);
    }
    uint64_t timeout = s->cluster.opts->auth.timeout_ns != 0 ? s->cluster.opts->auth.timeout_ns
                                                             : s->opts.auth_timeout_ns;
    s->env->timer_arm(s->env->ctx, (c->id << TIMER_KIND_BITS) | TIMER_AUTH,
                      mr_server_now(s) + timeout);
    mr_conn_arm_ping(c, first_ping_ns(s));
}

bool mr_route_on_connected(struct mr_server *s, uint64_t conn_id, int status)
{
    struct mr_route_slot *slot = NULL;
    for (guint i = 0; s->cluster.slots != NULL && i < s->cluster.slots->len; i++) {
        struct mr_route_slot *x = g_ptr_array_index(s->cluster.slots, i);
        if (x->pending_conn == conn_id) {
            slot = x;
            break;
        }
    }
    if (slot == NULL) {
        return false;
    }
    slot->pending_conn = 0;
    mr_server_cancel_dial(s, conn_id);
    if (status != MR_OK) {
        slot_failed(s, slot, status);
        return true;
    }
    if (s->shutting_down) {
        s->env->stream_close(s->env->ctx, conn_id);
        return true;
    }
    struct mr_conn *c = mr_conn_new(s, conn_id, MR_CONN_ROUTE, slot->host, slot->port);
    if (c == NULL) {
        slot_failed(s, slot, MR_E_NOMEM);
        return true;
    }
    slot->attempts = 0;
    slot->conn = c;
    route_attach(s, c, slot);
    c->connect_received = true;
    if (!start_route_tls(s, c)) {
        send_route_connect(s, c);
        send_route_info(s, c);
    }
    mr_conn_arm_ping(c, first_ping_ns(s));
    return true;
}

void mr_route_process_op(struct mr_server *s, struct mr_conn *c, const struct mr_proto_op *op)
{
    struct mr_route *r = c->route;
    bool ready = r->solicited || r->connect_received;
    switch (op->op) {
    case MR_OP_CONNECT:
        if (!r->solicited && !r->connect_received) {
            process_route_connect(s, c, op);
        }
        return;
    case MR_OP_INFO:
        process_info(s, c, op);
        return;
    case MR_OP_PING:
        send_text(c, "PONG\r\n");
        return;
    case MR_OP_PONG:
        c->pings_out = 0;
        if (c->ping_sent_ns != 0) {
            c->rtt_ns = mr_server_now(s) - c->ping_sent_ns;
            c->ping_sent_ns = 0;
        }
        return;
    case MR_OP_OK:
    case MR_OP_A_PLUS:
    case MR_OP_A_MINUS:
        return; /* A+/A- are for gateways; routes ignore them */
    case MR_OP_ERR:
        rlog(s, MR_LOG_WARN, "route %s sent -ERR '%.*s'",
             r->remote_name[0] != '\0' ? r->remote_name : c->host, (int)op->json.len,
             op->json.ptr);
        mr_conn_close(c, "Route Error");
        return;
    default:
        break;
    }
    if (!ready || !r->registered) {
        /* Interest or messages before the handshake finished. */
        mr_conn_send_err(c, "Authorization Violation");
        mr_conn_close(c, "Authorization Violation");
        return;
    }
    switch (op->op) {
    case MR_OP_RS_PLUS:
    case MR_OP_RS_MINUS:
    case MR_OP_LS_PLUS:
    case MR_OP_LS_MINUS:
        process_remote_sub(s, c, op);
        break;
    case MR_OP_RMSG:
    case MR_OP_RHMSG:
    case MR_OP_LMSG: {
        c->in_msgs++;
        c->in_bytes += op->size;
        s->stats.in_msgs++;
        s->stats.in_bytes += op->size;
        struct mr_account *acc = account_of(s, op->account);
        if (acc == NULL) {
            rlog(s, MR_LOG_DEBUG, "route %s: message for unknown account %.*s dropped",
                 r->remote_name, (int)op->account.len, op->account.ptr);
            break;
        }
        struct mr_msg m = {
            .subject = op->subject,
            .reply = op->reply,
            .hdr_len = op->hdr_len,
            .size = op->size,
            .payload = op->payload,
        };
        mr_server_route_inbound(s, acc, c, &m, op->queue, op->origin);
        break;
    }
    default:
        mr_assert(!"route parser produced a client op");
    }
}

static void unregister(struct mr_server *s, struct mr_route *r)
{
    struct mr_cluster *cl = &s->cluster;
    if (!r->registered) {
        return;
    }
    r->registered = false;
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        cl->head = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    } else {
        cl->tail = r->prev;
    }
    r->prev = NULL;
    r->next = NULL;
    cl->count--;
    cl->changes++;
    rlog(s, MR_LOG_INFO, "rid:%llu - Route connection to %s closed", (unsigned long long)r->rid,
         r->remote_name);
}

void mr_route_reap(struct mr_server *s, struct mr_conn *c)
{
    struct mr_route *r = c->route;
    while (r->rsubs_head != NULL) {
        rsub_remove(s, r, r->rsubs_head);
    }
    bool was_registered = r->registered;
    unregister(s, r);
    if (was_registered && !s->shutting_down) {
        update_client_urls(s);
        mr_gateway_route_url(s, r->gateway_url, false);
    }
    struct mr_route_slot *slot = r->slot;
    r->slot = NULL;
    if (slot != NULL && slot->conn == c) {
        slot->conn = NULL;
        if (slot->configured || slot->retry_once) {
            slot->retry_once = false;
            slot_arm_retry(s, slot);
        }
    }
}

void mr_route_conn_free(struct mr_server *s, struct mr_conn *c)
{
    struct mr_route *r = c->route;
    (void)s;
    if (r == NULL) {
        return;
    }
    mr_assert(r->rsubs_count == 0);
    mr_assert(!r->registered);
    g_hash_table_destroy(r->rsubs);
    if (r->connect_urls != NULL) {
        g_ptr_array_free(r->connect_urls, TRUE);
    }
    g_free(r->fan_queues);
    g_free(r);
    c->route = NULL;
}

uint64_t mr_route_ping_interval(const struct mr_server *s)
{
    const struct mr_cluster_opts *o = s->cluster.opts;
    return o != NULL && o->ping_interval_ns != 0 ? o->ping_interval_ns : s->opts.ping_interval_ns;
}

uint32_t mr_route_ping_max(const struct mr_server *s)
{
    const struct mr_cluster_opts *o = s->cluster.opts;
    return o != NULL && o->ping_max != 0 ? o->ping_max : s->opts.ping_max;
}

/* ------------------------------------------------------------------------------------ */
/* Lifecycle                                                                             */

void mr_route_init(struct mr_server *s)
{
    const struct mr_cluster_opts *o = s->opts.cluster;
    if (o == NULL || !o->present || o->port == 0) {
        return; /* nats-server starts routing only with a cluster port */
    }
    s->cluster.opts = o;
    s->cluster.slots = g_ptr_array_new_with_free_func(g_free);
    if (o->name != NULL) {
        snprintf(s->cluster.name, sizeof(s->cluster.name), "%s", o->name);
    } else {
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        for (size_t i = 0; i < 22; i++) {
            s->cluster.name[i] = alphabet[mr_server_rand(s) % (sizeof(alphabet) - 1)];
        }
        s->cluster.name[22] = '\0';
        s->cluster.dynamic = true;
    }
}

int mr_route_start(struct mr_server *s)
{
    struct mr_cluster *cl = &s->cluster;
    if (cl->opts == NULL) {
        return MR_OK;
    }
    const struct mr_cluster_opts *o = cl->opts;
    if (o->tls.enabled) {
        struct mr_tls_opts t = o->tls;
        t.verify = true; /* routes always present and verify certificates */
        char err[MR_ERRMSG_MAX];
        int rc = s->env->tls_configure(s->env->ctx, MR_TLS_ROUTE, &t, err, sizeof(err));
        if (rc != MR_OK) {
            rlog(s, MR_LOG_ERROR, "cluster TLS configuration error: %s", err);
            return rc;
        }
        if (s->env->stream_start_tls_client == NULL) {
            rlog(s, MR_LOG_ERROR, "cluster TLS: this environment cannot start client TLS");
            return MR_E_INVAL;
        }
    }
    uint16_t port = o->port < 0 ? 0 : (uint16_t)o->port;
    int rc = s->env->listen(s->env->ctx, MR_LISTENER_ROUTE, listen_host(s), port, &cl->port);
    if (rc != MR_OK) {
        rlog(s, MR_LOG_ERROR, "Error listening on router port: %s:%u: %s", listen_host(s),
             (unsigned)port, mr_err_text(rc));
        return rc;
    }
    cl->active = true;
    rlog(s, MR_LOG_INFO, "Cluster name is %s", cl->name);
    if (cl->dynamic) {
        rlog(s, MR_LOG_WARN, "Cluster name was dynamically generated, consider setting one");
    }
    rlog(s, MR_LOG_INFO, "Listening for route connections on %s:%u", listen_host(s),
         (unsigned)cl->port);
    update_client_urls(s);
    for (size_t i = 0; i < o->routes.count; i++) {
        struct mr_route_slot tmpl = {0};
        if (!mr_route_parse_url(o->routes.items[i], &tmpl)) {
            rlog(s, MR_LOG_ERROR, "Error parsing route URL %s: skipped", o->routes.items[i]);
            continue;
        }
        tmpl.configured = true;
        slot_connect(s, slot_add(s, &tmpl));
    }
    return MR_OK;
}

void mr_route_shutdown(struct mr_server *s)
{
    struct mr_cluster *cl = &s->cluster;
    if (!cl->active) {
        return;
    }
    s->env->unlisten(s->env->ctx, MR_LISTENER_ROUTE);
    for (guint i = 0; i < cl->slots->len; i++) {
        struct mr_route_slot *slot = g_ptr_array_index(cl->slots, i);
        if (slot->retry_armed) {
            s->env->timer_cancel(s->env->ctx, slot_timer(slot));
            slot->retry_armed = false;
        }
    }
}

void mr_route_deinit(struct mr_server *s)
{
    struct mr_cluster *cl = &s->cluster;
    for (struct mr_account *a = s->accounts_head; a != NULL; a = a->next) {
        mr_interest_clear(&a->route_interest);
    }
    if (cl->slots != NULL) {
        g_ptr_array_free(cl->slots, TRUE);
        cl->slots = NULL;
    }
    if (cl->client_urls != NULL) {
        g_ptr_array_free(cl->client_urls, TRUE);
        cl->client_urls = NULL;
    }
    g_free(cl->fan);
    cl->fan = NULL;
}

const struct mr_route *mr_route_first(const struct mr_server *s)
{
    return s->cluster.head;
}

const struct mr_route *mr_route_next(const struct mr_route *r)
{
    return r->next;
}

void mr_route_check(const struct mr_server *s)
{
    const struct mr_cluster *cl = &s->cluster;
    for (const struct mr_account *a = s->accounts_head; a != NULL; a = a->next) {
        mr_interest_check(&a->route_interest);
    }
    /* The simulator checks after every event: walk the routes only after a change. */
    if (cl->changes == cl->checked_at && cl->changes != 0) {
        return;
    }
    ((struct mr_cluster *)cl)->checked_at = cl->changes;
    uint32_t n = 0;
    const struct mr_route *prev = NULL;
    for (const struct mr_route *r = cl->head; r != NULL; r = r->next) {
        mr_assert(r->registered);
        mr_assert(r->prev == prev);
        mr_assert(r->conn->kind == MR_CONN_ROUTE && r->conn->route == r);
        for (const struct mr_route *q = cl->head; q != r; q = q->next) {
            mr_assert(strcmp(q->remote_id, r->remote_id) != 0);
        }
        uint32_t k = 0;
        for (const struct mr_rsub *rs = r->rsubs_head; rs != NULL; rs = rs->next) {
            mr_assert(rs->route == r);
            mr_assert(g_hash_table_lookup(r->rsubs, rs->key) == rs);
            mr_assert(rs->weight >= 1);
            k++;
        }
        mr_assert(k == r->rsubs_count && g_hash_table_size(r->rsubs) == k);
        prev = r;
        n++;
    }
    mr_assert(prev == cl->tail);
    mr_assert(n == cl->count);
}
