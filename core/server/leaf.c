/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Leaf nodes; the model is in leaf.h.
 *
 * Handshake (nats-server 2.9's order): the hub sends INFO at accept; the spoke answers
 * with CONNECT (its server id, cluster, remote_account, credentials) and both sides
 * register the link: each sends its interest (LS+) and its loop-detection subject.
 *
 * Invariants:
 *  - A leaf is in the registered list iff registered is set.
 *  - Every struct mr_lsub is in its leaf's table and list and in the bound account's
 *    sublist; all three go together.
 *  - A remote has at most one connect in flight or one open connection.
 */
#include "core/server/leaf.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/conf/conf_server.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/proto/nkey.h"
#include "core/proto/subject.h"
#include "core/server/auth.h"
#include "core/server/server_int.h"
#include "core/server/ws_conn.h"

/* nats-server: remotes reconnect after leafnodes.reconnect (1 s) plus jitter; after a
 * loop was detected, after 30 s. */
#define LEAF_RECONNECT_DEFAULT_NS (1ULL * MR_NS_PER_SEC)
#define LEAF_RECONNECT_JITTER_NS (100ULL * MR_NS_PER_MS)
#define LEAF_LOOP_DELAY_NS (30ULL * MR_NS_PER_SEC)
#define LEAF_DEFAULT_PORT 7422
/* A ws:// or wss:// URL without a port means the scheme's (RFC 6455 3). */
#define LEAF_WS_DEFAULT_PORT 80
#define LEAF_WSS_DEFAULT_PORT 443
/* nats-server waits this long for the hub's answer to a WebSocket upgrade (its first
 * INFO wait), unless the remote's first_info_timeout says otherwise. */
#define LEAF_WS_ANSWER_WAIT_NS (1ULL * MR_NS_PER_SEC)

static void llog(struct mr_server *s, enum mr_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void llog(struct mr_server *s, enum mr_log_level level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    mr_server_log(s, level, "%s", line);
}

static void send_text(struct mr_conn *c, const char *text)
{
    (void)mr_conn_queue_out(c, text, strlen(text));
}

static const char *own_name(const struct mr_server *s)
{
    return s->opts.server_name[0] != '\0' ? s->opts.server_name : s->server_id;
}

/* The cluster name a spoke announces: its cluster's, else its server name. */
static const char *own_cluster(const struct mr_server *s)
{
    return s->cluster.active ? s->cluster.name : own_name(s);
}

static void send_json_line(struct mr_conn *c, const char *verb, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (text == NULL) {
        mr_conn_close(c, "Out Of Memory");
        return;
    }
    send_text(c, verb);
    send_text(c, text);
    send_text(c, "\r\n");
    free(text);
}

/* ------------------------------------------------------------------------------------ */
/* Permissions of a link (deny_imports, deny_exports)                                    */

/* Subjects permissions never apply to on a leaf link, as in nats-server: its loop
 * detection and the gateway reply prefixes. */
static bool perms_exempt(const char *subject, size_t len)
{
    return (len >= 5 && memcmp(subject, "$LDS.", 5) == 0) ||
           (len >= 4 && memcmp(subject, "$GR.", 4) == 0) ||
           (len >= 5 && memcmp(subject, "_GR_.", 5) == 0);
}

/* Whether a deny list covers subject (a wildcard in subject only matches the same
 * wildcard or a wider one in the list, as nats-server's sublist match does). */
static bool denied(const GPtrArray *list, const char *subject, size_t len)
{
    for (guint i = 0; list != NULL && i < list->len; i++) {
        const char *p = g_ptr_array_index(list, i);
        if (mr_subject_matches(p, strlen(p), subject, len)) {
            return true;
        }
    }
    return false;
}

/* Adds the valid subjects of a configured list or a JSON array to *list (created on
 * first use), each once. */
static void deny_add(GPtrArray **list, const char *subject)
{
    if (subject == NULL || !mr_subject_valid(subject, strlen(subject))) {
        return;
    }
    if (*list == NULL) {
        *list = g_ptr_array_new_with_free_func(g_free);
    }
    for (guint i = 0; i < (*list)->len; i++) {
        if (strcmp(g_ptr_array_index(*list, i), subject) == 0) {
            return;
        }
    }
    g_ptr_array_add(*list, g_strdup(subject));
}

/* Whether interest in subject may be told to the peer: a spoke keeps what its
 * deny_imports cover to itself, so the hub never sends it. */
static bool may_tell(const struct mr_leaf *l, const char *subject, size_t len)
{
    return l->deny_sub == NULL || perms_exempt(subject, len) || !denied(l->deny_sub, subject, len);
}

/* ------------------------------------------------------------------------------------ */
/* Interest told to leafs                                                                */

/* Whether interest from source counts for what we tell leaf l (see leaf.h). */
static bool counts_for(const struct mr_leaf *l, const struct mr_conn *source)
{
    if (source == NULL) {
        return true;
    }
    if (source->kind == MR_CONN_ROUTE) {
        return !l->solicited;
    }
    if (source->kind == MR_CONN_LEAF) {
        if (source->leaf == l) {
            return false;
        }
        return !l->solicited || !source->leaf->solicited;
    }
    return false;
}

static void send_ls(struct mr_conn *c, bool plus, const char *subject, size_t subject_len,
                    const char *queue, size_t queue_len, uint32_t weight)
{
    GString *line = g_string_sized_new(64);
    g_string_append(line, plus ? "LS+ " : "LS- ");
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

/* Adds delta to leaf l's told interest and tells the peer when that changes what it
 * knows: LS+ on a plain subject's first reference, LS- on its last, a queue's weight
 * on every change. */
static void tell(struct mr_leaf *l, const struct mr_sub *sub, int delta, bool send)
{
    size_t qlen = sub->queue != NULL ? sub->queue_len : 0;
    bool absent = false;
    uint32_t count = mr_interest_change(&l->smap, sub->subject, sub->subject_len, sub->queue,
                                        qlen, delta, &absent);
    if (!send || absent || l->conn->state != CONN_OPEN ||
        !may_tell(l, sub->subject, sub->subject_len)) {
        return;
    }
    if (qlen > 0) {
        send_ls(l->conn, count > 0, sub->subject, sub->subject_len, sub->queue, qlen, count);
    } else if ((delta > 0 && count == 1) || (delta < 0 && count == 0)) {
        send_ls(l->conn, delta > 0, sub->subject, sub->subject_len, NULL, 0, 0);
    }
}

void mr_leaf_interest(struct mr_server *s, struct mr_account *acc, const struct mr_sub *sub,
                      const struct mr_conn *source, int delta)
{
    if (source == NULL) {
        /* This server's own interest, the starting point of every new link. */
        (void)mr_interest_change(&acc->local_interest, sub->subject, sub->subject_len,
                                 sub->queue, sub->queue != NULL ? sub->queue_len : 0, delta,
                                 NULL);
    }
    for (struct mr_leaf *l = s->leafs.head; l != NULL; l = l->next) {
        if (l->acc == acc && counts_for(l, source)) {
            tell(l, sub, delta, true);
        }
    }
}

/* The account's loop-detection subject on this server, "$LDS." and 22 characters made
 * from the server id and the account name (unique per server and account; drawing it
 * from the PRNG would shift every other random choice). */
static const char *account_lds(const struct mr_server *s, struct mr_account *acc)
{
    if (acc->lds[0] == '\0') {
        static const char digits[] =
            "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        uint8_t sum[32];
        gsize len = sizeof(sum);
        GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
        g_checksum_update(ck, (const guchar *)s->server_id, (gssize)strlen(s->server_id));
        g_checksum_update(ck, (const guchar *)acc->name, (gssize)strlen(acc->name));
        g_checksum_get_digest(ck, sum, &len);
        g_checksum_free(ck);
        memcpy(acc->lds, "$LDS.", 5);
        for (size_t i = 0; i < 22; i++) {
            acc->lds[5 + i] = digits[sum[i] % 62];
        }
        acc->lds[27] = '\0';
    }
    return acc->lds;
}

/* A newly registered leaf: rebuild what counts for it and tell it all, with this
 * server's loop-detection subject. */
static void tell_all(struct mr_server *s, struct mr_leaf *l)
{
    struct mr_account *acc = l->acc;
    for (const struct mr_interest *e = acc->local_interest.head; e != NULL; e = e->next) {
        size_t qlen;
        const char *q = mr_interest_queue(e, &qlen);
        struct mr_sub sub = {.subject = e->key, .subject_len = e->subject_len, .queue = q,
                             .queue_len = (uint32_t)qlen};
        for (uint32_t i = 0; i < e->count; i++) {
            tell(l, &sub, 1, false);
        }
    }
    if (!l->solicited) {
        for (const struct mr_route *r = mr_route_first(s); r != NULL; r = mr_route_next(r)) {
            for (const struct mr_rsub *rs = r->rsubs_head; rs != NULL; rs = rs->next) {
                if (rs->acc == acc) {
                    tell(l, &rs->sub, 1, false);
                }
            }
        }
    }
    for (const struct mr_leaf *o = s->leafs.head; o != NULL; o = o->next) {
        if (o == l || o->acc != acc || !counts_for(l, o->conn)) {
            continue;
        }
        for (const struct mr_lsub *ls = o->lsubs_head; ls != NULL; ls = ls->next) {
            tell(l, &ls->sub, 1, false);
        }
    }
    for (const struct mr_interest *e = l->smap.head; e != NULL; e = e->next) {
        size_t qlen;
        const char *q = mr_interest_queue(e, &qlen);
        if (may_tell(l, e->key, e->subject_len)) {
            send_ls(l->conn, true, e->key, e->subject_len, q, qlen, e->count);
        }
    }
    const char *lds = account_lds(s, acc);
    send_ls(l->conn, true, lds, strlen(lds), NULL, 0, 0);
}

/* ------------------------------------------------------------------------------------ */
/* The peer's interest                                                                   */

static void lsub_remove(struct mr_server *s, struct mr_leaf *l, struct mr_lsub *ls)
{
    int rc = mr_sublist_remove(l->acc->sublist, &ls->sub);
    mr_assert(rc == MR_OK);
    /* The hub passes its leafs' interest on to its cluster and supercluster. */
    if (!l->solicited) {
        mr_route_interest(s, l->acc, &ls->sub, -1);
        mr_gateway_interest(s, l->acc, &ls->sub, -1);
    }
    mr_leaf_interest(s, l->acc, &ls->sub, l->conn, -1);
    g_hash_table_remove(l->lsubs, ls->key);
    if (ls->prev != NULL) {
        ls->prev->next = ls->next;
    } else {
        l->lsubs_head = ls->next;
    }
    if (ls->next != NULL) {
        ls->next->prev = ls->prev;
    } else {
        l->lsubs_tail = ls->prev;
    }
    l->lsubs_count--;
    s->leafs.changes++;
    g_free(ls->key);
    g_free(ls);
}

static void loop_detected(struct mr_server *s, struct mr_conn *c)
{
    struct mr_leaf *l = c->leaf;
    char text[400];
    snprintf(text, sizeof(text),
             "Loop detected for leafnode account=\"%s\". Delaying attempt to reconnect for 30s",
             l->acc->name);
    llog(s, MR_LOG_ERROR, "%s", text);
    mr_conn_send_err(c, text);
    if (l->remote != NULL) {
        l->remote->loop = true;
    }
    mr_conn_close(c, "Leafnode Loop Detected");
}

static void process_ls(struct mr_server *s, struct mr_conn *c, const struct mr_proto_op *op)
{
    struct mr_leaf *l = c->leaf;
    bool plus = op->op == MR_OP_LS_PLUS;
    const char *lds = account_lds(s, l->acc);
    if (plus && op->queue.len == 0 && op->subject.len == strlen(lds) &&
        memcmp(op->subject.ptr, lds, op->subject.len) == 0) {
        loop_detected(s, c);
        return;
    }
    if (!mr_subject_valid(op->subject.ptr, op->subject.len) ||
        (op->queue.len > 0 && !mr_subject_valid_queue(op->queue.ptr, op->queue.len))) {
        return;
    }
    if (plus && l->deny_pub != NULL && !perms_exempt(op->subject.ptr, op->subject.len) &&
        !mr_subject_has_wildcard(op->subject.ptr, op->subject.len) &&
        denied(l->deny_pub, op->subject.ptr, op->subject.len)) {
        if (!l->solicited) {
            /* nats-server's hub: the spoke asked for what it said it will not import. */
            char text[512];
            snprintf(text, sizeof(text), "Permissions Violation for Subscription to \"%.*s\"",
                     (int)op->subject.len, op->subject.ptr);
            llog(s, MR_LOG_ERROR, "Subscription Violation on \"%.*s\" - Check other side "
                 "configuration", (int)op->subject.len, op->subject.ptr);
            mr_conn_send_err(c, text);
            mr_conn_close(c, "Protocol Violation");
        }
        /* A spoke takes no interest in what its deny_exports keep home. */
        return;
    }
    GString *key = g_string_new_len(op->subject.ptr, op->subject.len);
    if (op->queue.len > 0) {
        g_string_append_c(key, ' ');
        g_string_append_len(key, op->queue.ptr, op->queue.len);
    }
    struct mr_lsub *ls = g_hash_table_lookup(l->lsubs, key->str);
    if (!plus) {
        if (ls != NULL) {
            lsub_remove(s, l, ls);
        }
        g_string_free(key, TRUE);
        return;
    }
    if (ls != NULL) {
        if (op->queue.len > 0) {
            ls->weight = op->weight;
        }
        g_string_free(key, TRUE);
        return;
    }
    ls = g_new0(struct mr_lsub, 1);
    ls->key = g_string_free(key, FALSE);
    ls->leaf = l;
    ls->weight = op->queue.len > 0 ? op->weight : 1;
    ls->sub.owner = c;
    ls->sub.flags = MR_SUB_LEAF;
    ls->sub.subject = ls->key;
    ls->sub.subject_len = op->subject.len;
    if (op->queue.len > 0) {
        ls->sub.queue = ls->key + op->subject.len + 1;
        ls->sub.queue_len = op->queue.len;
    }
    if (mr_sublist_insert(l->acc->sublist, &ls->sub) != MR_OK) {
        llog(s, MR_LOG_WARN, "leaf %s: interest dropped: memory budget exhausted",
             l->remote_name);
        g_free(ls->key);
        g_free(ls);
        return;
    }
    g_hash_table_insert(l->lsubs, ls->key, ls);
    ls->prev = l->lsubs_tail;
    if (l->lsubs_tail != NULL) {
        l->lsubs_tail->next = ls;
    } else {
        l->lsubs_head = ls;
    }
    l->lsubs_tail = ls;
    l->lsubs_count++;
    s->leafs.changes++;
    if (!l->solicited) {
        mr_route_interest(s, l->acc, &ls->sub, 1);
        mr_gateway_interest(s, l->acc, &ls->sub, 1);
    }
    mr_leaf_interest(s, l->acc, &ls->sub, c, 1);
}

uint32_t mr_leaf_sub_weight(const struct mr_sub *sub)
{
    return (uint32_t)((const struct mr_lsub *)sub)->weight;
}

bool mr_leaf_may_send(const struct mr_sub *sub, const struct mr_conn *origin)
{
    const struct mr_leaf *l = ((const struct mr_lsub *)sub)->leaf;
    if (!l->registered || l->conn->state != CONN_OPEN) {
        return false;
    }
    if (origin == NULL) {
        return true;
    }
    if (origin == l->conn) {
        return false; /* leaf connections are always no-echo */
    }
    if (origin->kind == MR_CONN_ROUTE) {
        return !l->solicited; /* only leafs this server is the hub of */
    }
    if (origin->kind == MR_CONN_LEAF) {
        if (origin->leaf->solicited && l->solicited) {
            return false; /* what the hub sent goes on to our own spokes only */
        }
        /* Never back into the leaf cluster it came from, by another of its links. */
        if (origin->leaf->remote_cluster[0] != '\0' &&
            strcmp(origin->leaf->remote_cluster, l->remote_cluster) == 0) {
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------------------------ */
/* Fan-out                                                                               */

void mr_leaf_fan_begin(struct mr_server *s)
{
    s->leafs.fan_gen++;
    s->leafs.fan_count = 0;
}

static struct mr_leaf *fan_touch(struct mr_server *s, struct mr_leaf *l)
{
    struct mr_leafs *ls = &s->leafs;
    if (l->fan_gen != ls->fan_gen) {
        l->fan_gen = ls->fan_gen;
        l->fan_plain = false;
        l->fan_nq = 0;
        if (ls->fan_count == ls->fan_cap) {
            ls->fan_cap = ls->fan_cap == 0 ? 8 : ls->fan_cap * 2;
            ls->fan = g_renew(struct mr_leaf *, ls->fan, ls->fan_cap);
        }
        ls->fan[ls->fan_count++] = l;
    }
    return l;
}

void mr_leaf_fan_plain(struct mr_server *s, const struct mr_sub *sub)
{
    fan_touch(s, ((const struct mr_lsub *)sub)->leaf)->fan_plain = true;
}

void mr_leaf_fan_queue(struct mr_server *s, const struct mr_sub *sub)
{
    struct mr_leaf *l = fan_touch(s, ((const struct mr_lsub *)sub)->leaf);
    if (l->fan_nq == l->fan_cap) {
        l->fan_cap = l->fan_cap == 0 ? 4 : l->fan_cap * 2;
        l->fan_queues = g_renew(struct mr_view, l->fan_queues, l->fan_cap);
    }
    l->fan_queues[l->fan_nq++] = (struct mr_view){sub->queue, sub->queue_len};
}

uint32_t mr_leaf_fan_flush(struct mr_server *s, const struct mr_msg *m)
{
    struct mr_leafs *ls = &s->leafs;
    uint32_t sent = 0;
    for (uint32_t i = 0; i < ls->fan_count; i++) {
        struct mr_leaf *l = ls->fan[i];
        if (l->conn->state == CONN_OPEN && (l->fan_plain || l->fan_nq > 0) &&
            (l->deny_pub == NULL || !denied(l->deny_pub, m->subject.ptr, m->subject.len))) {
            (void)mr_send_rmsg(l->conn, l->headers, NULL, m, m->reply, l->fan_queues,
                               l->fan_nq);
            sent++;
        }
    }
    ls->fan_count = 0;
    return sent;
}

/* ------------------------------------------------------------------------------------ */
/* Handshake                                                                             */

/* The hub's INFO: at accept, and again once the CONNECT bound the link (connect_info,
 * with the bound account): a nats-server spoke that was told info_on_connect waits for
 * that second one before it sends its interest. */
static void send_leaf_info(struct mr_server *s, struct mr_conn *c, bool connect_info)
{
    const struct mr_leafnode_opts *o = s->leafs.opts;
    json_t *j = json_object();
    json_object_set_new(j, "server_id", json_string(s->server_id));
    json_object_set_new(j, "server_name", json_string(own_name(s)));
    json_object_set_new(j, "version", json_string(MR_SERVER_COMPAT_VERSION));
    json_object_set_new(j, "proto", json_integer(1));
    json_object_set_new(j, "go", json_string("meridian"));
    json_object_set_new(j, "host", json_string(o->host != NULL ? o->host : "0.0.0.0"));
    json_object_set_new(j, "port", json_integer(s->leafs.port));
    json_object_set_new(j, "headers", json_true());
    if (o->tls.enabled) {
        json_object_set_new(j, "tls_required", json_true());
        if (o->tls.verify) {
            json_object_set_new(j, "tls_verify", json_true());
        }
    }
    if (o->auth.user != NULL || o->auth.users_count > 0 || s->auth_required) {
        json_object_set_new(j, "auth_required", json_true());
    }
    json_object_set_new(j, "max_payload", json_integer(s->opts.max_payload));
    if (s->cluster.active) {
        json_object_set_new(j, "cluster", json_string(s->cluster.name));
    }
    /* A nats-server spoke takes an INFO without client_id and leafnode_urls for a wrong
     * port. */
    json_object_set_new(j, "client_id", json_integer((json_int_t)c->leaf->lid));
    json_t *urls = json_array();
    const char *host = o->host != NULL ? o->host : "0.0.0.0";
    if (strcmp(host, "0.0.0.0") != 0 && strcmp(host, "::") != 0) {
        char hp[300];
        snprintf(hp, sizeof(hp), "%s:%u", host, (unsigned)s->leafs.port);
        json_array_append_new(urls, json_string(hp));
    }
    json_object_set_new(j, "leafnode_urls", urls);
    json_object_set_new(j, "info_on_connect", json_true());
    if (connect_info) {
        json_object_set_new(j, "remote_account", json_string(c->leaf->acc->name));
        json_object_set_new(j, "connect_info", json_true());
    }
    json_object_set_new(j, "meridian_version", json_string(MR_SERVER_VERSION));
    send_json_line(c, "INFO ", j);
}

/* What a spoke authenticates with: a creds file's JWT and nonce signature, which take
 * precedence (as in nats-server), else the URL's user and password. */
struct leaf_auth {
    const char *user;
    const char *pass;
    const char *jwt;
    const char *sig;
};

static void send_leaf_connect(struct mr_server *s, struct mr_conn *c, const struct leaf_auth *a)
{
    struct mr_leaf *l = c->leaf;
    json_t *j = json_object();
    json_object_set_new(j, "version", json_string(MR_SERVER_COMPAT_VERSION));
    json_object_set_new(j, "server_id", json_string(s->server_id));
    json_object_set_new(j, "name", json_string(own_name(s)));
    json_object_set_new(j, "cluster", json_string(own_cluster(s)));
    json_object_set_new(j, "headers", json_true());
    json_object_set_new(j, "remote_account", json_string(l->acc->name));
    json_object_set_new(j, "protocol", json_integer(1));
    if (l->deny_sub != NULL) {
        /* nats-server's spoke tells its deny_imports, which the hub then never sends. */
        json_t *deny = json_array();
        for (guint i = 0; i < l->deny_sub->len; i++) {
            json_array_append_new(deny, json_string(g_ptr_array_index(l->deny_sub, i)));
        }
        json_object_set_new(j, "deny_pub", deny);
    }
    if (a->jwt != NULL) {
        json_object_set_new(j, "jwt", json_string(a->jwt));
        json_object_set_new(j, "sig", json_string(a->sig));
    } else if (a->user != NULL && a->user[0] != '\0') {
        json_object_set_new(j, "user", json_string(a->user));
        json_object_set_new(j, "pass", json_string(a->pass != NULL ? a->pass : ""));
    }
    send_json_line(c, "CONNECT ", j);
}

static void register_leaf(struct mr_server *s, struct mr_leaf *l)
{
    struct mr_leafs *ls = &s->leafs;
    l->registered = true;
    l->prev = ls->tail;
    if (ls->tail != NULL) {
        ls->tail->next = l;
    } else {
        ls->head = l;
    }
    ls->tail = l;
    ls->count++;
    ls->changes++;
    llog(s, MR_LOG_INFO, "%s:%u - lid:%llu - Leafnode connection created for account %s "
         "(%s %s)", l->conn->host, (unsigned)l->conn->port, (unsigned long long)l->lid,
         l->acc->name, l->solicited ? "hub" : "spoke", l->remote_name);
    if (l->remote != NULL) {
        l->remote->attempts = 0;
    }
    /* Measure the RTT now, for /leafz, as nats-server does. */
    l->conn->ping_sent_ns = mr_server_now(s);
    l->conn->pings_out++;
    send_text(l->conn, "PING\r\n");
    tell_all(s, l);
}

/* The hub binds the leaf to an account by its CONNECT's credentials: leafnodes
 * authorization when configured, else the server's own users (as nats-server). */
static bool bind_leaf(struct mr_server *s, struct mr_conn *c, json_t *j)
{
    const struct mr_leafnode_auth_opts *a = &s->leafs.opts->auth;
    const char *user = json_string_value(json_object_get(j, "user"));
    const char *pass = json_string_value(json_object_get(j, "pass"));
    const char *acc_name = NULL;
    if (a->users_count > 0) {
        const struct mr_leafnode_user_opts *u = NULL;
        for (size_t i = 0; user != NULL && i < a->users_count; i++) {
            if (strcmp(a->users[i].user, user) == 0) {
                u = &a->users[i];
            }
        }
        if (u == NULL || pass == NULL ||
            !mr_auth_password_ok(pass, u->password != NULL ? u->password : "")) {
            return false;
        }
        acc_name = u->account;
    } else if (a->user != NULL) {
        if (user == NULL || strcmp(user, a->user) != 0 || pass == NULL ||
            !mr_auth_password_ok(pass, a->password != NULL ? a->password : "")) {
            return false;
        }
        acc_name = a->account;
    } else {
        /* The server's users decide, as for a client. */
        struct mr_account *before = c->account;
        const char *token = json_string_value(json_object_get(j, "auth_token"));
        bool ok = c->ws != NULL ? mr_ws_conn_authenticate(s, c, user, pass, token)
                                : mr_auth_connect(s, c, user, pass, token);
        if (!ok) {
            c->account = before;
            return false;
        }
        c->leaf->acc = c->account != NULL ? c->account : s->global;
        return true;
    }
    struct mr_account *acc = acc_name != NULL ? g_hash_table_lookup(s->accounts_by_name, acc_name)
                                              : s->global;
    if (acc == NULL) {
        return false;
    }
    c->account = acc;
    c->leaf->acc = acc;
    return true;
}

/*
 * A Meridian hub has no operator (JWT) or nkey authentication: it cannot check a user JWT
 * or an nkey signature, so a CONNECT carrying `jwt` or `nkey` is refused whatever else it
 * holds. nats-server outside operator mode ignores both and binds such a leaf to $G or
 * no_auth_user's account, handing the spoke an account it did not ask for. Returns why
 * the CONNECT is refused, or NULL.
 */
static const char *unverifiable_auth(json_t *j)
{
    if (json_object_get(j, "jwt") != NULL) {
        return "user JWT authentication is not supported";
    }
    if (json_object_get(j, "nkey") != NULL) {
        return "nkey authentication is not supported";
    }
    return NULL;
}

static void refuse_connect(struct mr_server *s, struct mr_conn *c, const char *why)
{
    llog(s, MR_LOG_WARN, "%s:%u - lid:%llu - leafnode authentication error%s%s", c->host,
         (unsigned)c->port, (unsigned long long)c->leaf->lid, why != NULL ? ": " : "",
         why != NULL ? why : "");
    mr_conn_send_err(c, "Authorization Violation");
    mr_conn_close(c, "Authentication Failure");
}

static void process_connect(struct mr_server *s, struct mr_conn *c, const struct mr_proto_op *op)
{
    struct mr_leaf *l = c->leaf;
    json_t *j = json_loadb(op->json.ptr, op->json.len, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        mr_conn_close(c, "Protocol Error");
        return;
    }
    const char *lang = json_string_value(json_object_get(j, "lang"));
    if (lang != NULL && lang[0] != '\0') {
        json_decref(j);
        mr_conn_send_err(c, "attempted to connect to leaf node port");
        mr_conn_close(c, "Wrong Port");
        return;
    }
    const char *gw = json_string_value(json_object_get(j, "gateway"));
    if (gw != NULL && gw[0] != '\0') {
        json_decref(j);
        mr_conn_send_err(c, "Rejecting connection from gateway on the leaf node port");
        mr_conn_close(c, "Wrong Gateway");
        return;
    }
    const char *why = unverifiable_auth(j);
    if (why != NULL || !bind_leaf(s, c, j)) {
        json_decref(j);
        refuse_connect(s, c, why);
        return;
    }
    const char *cluster = json_string_value(json_object_get(j, "cluster"));
    if (cluster != NULL && s->cluster.active && strcmp(cluster, s->cluster.name) == 0) {
        json_decref(j);
        mr_conn_send_err(c, "remote leafnode has same cluster name");
        mr_conn_close(c, "Cluster Name Conflict");
        return;
    }
    const char *id = json_string_value(json_object_get(j, "server_id"));
    const char *name = json_string_value(json_object_get(j, "name"));
    snprintf(l->remote_id, sizeof(l->remote_id), "%s", id != NULL ? id : "");
    snprintf(l->remote_name, sizeof(l->remote_name), "%s", name != NULL ? name : l->remote_id);
    snprintf(l->remote_cluster, sizeof(l->remote_cluster), "%s", cluster != NULL ? cluster : "");
    l->headers = json_is_true(json_object_get(j, "headers"));
    json_t *deny = json_object_get(j, "deny_pub");
    for (size_t i = 0; json_is_array(deny) && i < json_array_size(deny); i++) {
        deny_add(&l->deny_pub, json_string_value(json_array_get(deny, i)));
    }
    json_decref(j);
    l->connect_received = true;
    c->connect_received = true;
    s->env->timer_cancel(s->env->ctx, (c->id << TIMER_KIND_BITS) | TIMER_AUTH);
    send_leaf_info(s, c, true);
    register_leaf(s, l);
}

/* The URL of the remote's latest connect. */
static const char *current_url(const struct mr_leaf_remote *r)
{
    return g_ptr_array_index(r->urls, (r->next_url + r->urls->len - 1) % r->urls->len);
}

/* The spoke sends CONNECT (with the URL's credentials) and registers the link. */
static void finish_connect(struct mr_server *s, struct mr_conn *c)
{
    struct mr_leaf *l = c->leaf;
    struct mr_route_slot url = {0};
    (void)mr_route_parse_url(current_url(l->remote), &url);
    struct leaf_auth a = {url.user, url.pass, NULL, NULL};
    char sig[MR_NKEY_SIG_B64_MAX];
    const struct mr_creds *creds = &l->remote->opts->creds;
    if (creds->jwt != NULL) {
        const char *nonce = l->nonce != NULL ? l->nonce : "";
        if (mr_creds_sign_nonce(creds, nonce, strlen(nonce), &a.jwt, sig) != 0) {
            llog(s, MR_LOG_ERROR, "Error signing the nonce: credentials file \"%s\"",
                 l->remote->opts->credentials);
            mr_conn_close(c, "Authentication Failure");
            return;
        }
        a.sig = sig;
    }
    send_leaf_connect(s, c, &a);
    mr_nkey_wipe(sig, sizeof(sig));
    register_leaf(s, l);
}

static void process_info(struct mr_server *s, struct mr_conn *c, const struct mr_proto_op *op)
{
    struct mr_leaf *l = c->leaf;
    json_t *info = json_loadb(op->json.ptr, op->json.len, 0, NULL);
    if (!json_is_object(info)) {
        json_decref(info);
        mr_conn_close(c, "Parse Error");
        return;
    }
    if (!l->solicited || l->info_received) {
        json_decref(info); /* later INFOs (URL updates) change nothing here yet */
        return;
    }
    l->info_received = true;
    const char *id = json_string_value(json_object_get(info, "server_id"));
    const char *name = json_string_value(json_object_get(info, "server_name"));
    const char *cluster = json_string_value(json_object_get(info, "cluster"));
    snprintf(l->remote_id, sizeof(l->remote_id), "%s", id != NULL ? id : "");
    snprintf(l->remote_name, sizeof(l->remote_name), "%s", name != NULL ? name : l->remote_id);
    snprintf(l->remote_cluster, sizeof(l->remote_cluster), "%s", cluster != NULL ? cluster : "");
    l->headers = json_is_true(json_object_get(info, "headers"));
    bool hub_tls = json_is_true(json_object_get(info, "tls_required"));
    const char *nonce = json_string_value(json_object_get(info, "nonce"));
    g_free(l->nonce);
    l->nonce = g_strdup(nonce);
    json_decref(info);
    /* Over WebSocket, TLS (wss://) wraps the HTTP upgrade: nothing to start here. */
    if (hub_tls && !l->remote->tls && !l->remote->ws) {
        llog(s, MR_LOG_ERROR, "leafnode remote %s requires TLS: configure tls in the remote",
             current_url(l->remote));
        mr_conn_close(c, "TLS Required");
        return;
    }
    if (strcmp(l->remote_id, s->server_id) == 0) {
        mr_conn_close(c, "Leafnode Loop Detected"); /* a remote pointing at this server */
        l->remote->loop = true;
        return;
    }
    if (l->remote->tls && !l->remote->ws) {
        /* Upgrade before CONNECT: the credentials go inside TLS. */
        struct mr_route_slot url = {0};
        (void)mr_route_parse_url(current_url(l->remote), &url);
        c->tls_pending = true;
        s->env->stream_start_tls_client(s->env->ctx, c->id,
                                        MR_TLS_LEAF_REMOTE + l->remote->index, url.host);
        return;
    }
    finish_connect(s, c);
}

static bool parse_remote_url(const char *url, struct mr_route_slot *p);

/* A ws:// or wss:// remote's stream is up (after TLS for wss://): the upgrade request,
 * to the URL's host and path. */
static void ws_upgrade(struct mr_server *s, struct mr_conn *c)
{
    const char *url = current_url(c->leaf->remote);
    const char *hostpart = strstr(url, "://");
    hostpart = hostpart != NULL ? hostpart + 3 : url;
    const char *path = strchr(hostpart, '/');
    struct mr_route_slot p = {0};
    (void)parse_remote_url(url, &p);
    char host[300];
    snprintf(host, sizeof(host), strchr(p.host, ':') != NULL ? "[%s]:%u" : "%s:%u", p.host,
             (unsigned)p.port);
    const struct mr_leafnode_remote_opts *ro = c->leaf->remote->opts;
    mr_ws_conn_start_client(s, c, host, path, ro->ws_compression, ro->ws_no_masking);
    /* A hub that never answers must not hold the remote: the upgrade is bounded like
     * an accepted one (server.c's auth timer closes a connection still unframed). */
    uint64_t wait = ro->first_info_timeout_ns != 0 ? ro->first_info_timeout_ns
                                                   : LEAF_WS_ANSWER_WAIT_NS;
    s->env->timer_arm(s->env->ctx, (c->id << TIMER_KIND_BITS) | TIMER_AUTH,
                      mr_server_now(s) + wait);
}

void mr_leaf_on_tls(struct mr_server *s, struct mr_conn *c)
{
    if (!c->leaf->solicited) {
        return;
    }
    if (c->ws != NULL) {
        ws_upgrade(s, c);
        return;
    }
    finish_connect(s, c);
}

/* ------------------------------------------------------------------------------------ */
/* Remotes and connections                                                               */

static uint64_t remote_timer(const struct mr_leaf_remote *r)
{
    uint64_t conn = MR_TIMER_SERVER_CONN - 1 - r->index;
    return (conn << TIMER_KIND_BITS) | TIMER_LEAF_RETRY;
}

static void remote_arm(struct mr_server *s, struct mr_leaf_remote *r, uint64_t delay)
{
    if (s->shutting_down || r->retry_armed) {
        return;
    }
    r->retry_armed = true;
    s->env->timer_arm(s->env->ctx, remote_timer(r), mr_server_now(s) + delay);
}

static void remote_retry(struct mr_server *s, struct mr_leaf_remote *r)
{
    uint64_t base = s->leafs.opts->reconnect_ns != 0 ? s->leafs.opts->reconnect_ns
                                                     : LEAF_RECONNECT_DEFAULT_NS;
    if (r->loop) {
        base = LEAF_LOOP_DELAY_NS;
        r->loop = false;
    }
    remote_arm(s, r, base + mr_server_rand(s) % LEAF_RECONNECT_JITTER_NS);
}

/* Whether the host part of [scheme://][user[:pass]@]host[:port][/..] names a port. */
static bool url_has_port(const char *url)
{
    const char *p = strstr(url, "://");
    p = p != NULL ? p + 3 : url;
    const char *end = p + strcspn(p, "/");
    const char *at = memchr(p, '@', (size_t)(end - p));
    if (at != NULL) {
        p = at + 1;
    }
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        return close != NULL && close + 1 < end && close[1] == ':';
    }
    return memchr(p, ':', (size_t)(end - p)) != NULL;
}

static bool is_ws_url(const char *url)
{
    return g_ascii_strncasecmp(url, "ws://", 5) == 0 || g_ascii_strncasecmp(url, "wss://", 6) == 0;
}

/* A remote URL's host, port and credentials. A leaf URL without a port means the leaf
 * port, a WebSocket one the scheme's. */
static bool parse_remote_url(const char *url, struct mr_route_slot *p)
{
    if (!mr_route_parse_url(url, p)) {
        return false;
    }
    if (!url_has_port(url)) {
        p->port = g_ascii_strncasecmp(url, "wss://", 6) == 0  ? LEAF_WSS_DEFAULT_PORT
                  : g_ascii_strncasecmp(url, "ws://", 5) == 0 ? LEAF_WS_DEFAULT_PORT
                                                              : LEAF_DEFAULT_PORT;
    }
    return true;
}

static void remote_connect(struct mr_server *s, struct mr_leaf_remote *r)
{
    if (s->shutting_down || r->conn != NULL || r->pending_conn != 0 || r->urls->len == 0) {
        return;
    }
    const char *url = g_ptr_array_index(r->urls, r->next_url++ % r->urls->len);
    struct mr_route_slot p = {0};
    if (!parse_remote_url(url, &p)) {
        return;
    }
    r->attempts++;
    uint64_t id = 0;
    int rc = s->env->connect(s->env->ctx, p.host, p.port, &id);
    if (rc != MR_OK) {
        llog(s, MR_LOG_INFO, "Error trying to connect as leafnode to remote server %s "
             "(attempt %u): %s", url, r->attempts, mr_err_text(rc));
        remote_retry(s, r);
        return;
    }
    r->pending_conn = id;
    mr_server_arm_dial(s, id);
}

void mr_leaf_on_timer(struct mr_server *s, uint64_t remote_id)
{
    uint64_t index = MR_TIMER_SERVER_CONN - 1 - remote_id;
    if (s->leafs.remotes == NULL || index >= s->leafs.remotes->len) {
        return;
    }
    struct mr_leaf_remote *r = g_ptr_array_index(s->leafs.remotes, index);
    r->retry_armed = false;
    remote_connect(s, r);
}

static void leaf_attach(struct mr_server *s, struct mr_conn *c, struct mr_leaf_remote *r)
{
    struct mr_leaf *l = g_new0(struct mr_leaf, 1);
    l->conn = c;
    l->lid = ++s->leafs.next_lid;
    l->solicited = r != NULL;
    l->remote = r;
    l->acc = r != NULL ? r->acc : NULL;
    l->lsubs = g_hash_table_new(g_str_hash, g_str_equal);
    for (size_t i = 0; r != NULL && i < r->opts->deny_exports.count; i++) {
        deny_add(&l->deny_pub, r->opts->deny_exports.items[i]);
    }
    for (size_t i = 0; r != NULL && i < r->opts->deny_imports.count; i++) {
        deny_add(&l->deny_sub, r->opts->deny_imports.items[i]);
    }
    c->leaf = l;
    c->verbose = false;
    c->pedantic = false;
    c->headers = true;
    mr_parser_init(&c->parser, MR_PARSER_LEAF, s->opts.max_control_line, MR_PAYLOAD_MAX);
}

void mr_leaf_accept(struct mr_server *s, struct mr_conn *c)
{
    leaf_attach(s, c, NULL);
    send_leaf_info(s, c, false);
    if (s->leafs.opts->tls.enabled && c->ws == NULL) {
        /* nats-server's default order: INFO in the clear, then the spoke upgrades. */
        c->tls_pending = true;
        s->env->stream_start_tls(s->env->ctx, c->id, MR_TLS_LEAF);
    }
    uint64_t timeout = s->leafs.opts->auth.timeout_ns != 0 ? s->leafs.opts->auth.timeout_ns
                                                           : s->opts.auth_timeout_ns;
    s->env->timer_arm(s->env->ctx, (c->id << TIMER_KIND_BITS) | TIMER_AUTH,
                      mr_server_now(s) + timeout);
    mr_conn_arm_ping(c, MR_FIRST_PING_DELAY_NS);
}

bool mr_leaf_accepts(const struct mr_server *s)
{
    return s->leafs.opts != NULL && s->leafs.opts->port != 0;
}

void mr_leaf_accept_ws(struct mr_server *s, struct mr_conn *c)
{
    mr_assert(c->kind == MR_CONN_CLIENT && !c->counted && mr_ws_conn_framing(c));
    mr_assert(mr_leaf_accepts(s));
    /* Never counted as a client; leaf links are numbered by lid, not cid. */
    c->kind = MR_CONN_LEAF;
    c->cid = 0;
    c->account = NULL;
    mr_leaf_accept(s, c);
}

bool mr_leaf_dial_timeout(struct mr_server *s, uint64_t conn_id)
{
    for (guint i = 0; s->leafs.remotes != NULL && i < s->leafs.remotes->len; i++) {
        struct mr_leaf_remote *r = g_ptr_array_index(s->leafs.remotes, i);
        if (r->pending_conn == conn_id) {
            r->pending_conn = 0;
            remote_retry(s, r);
            return true;
        }
    }
    return false;
}

bool mr_leaf_on_connected(struct mr_server *s, uint64_t conn_id, int status)
{
    struct mr_leaf_remote *r = NULL;
    for (guint i = 0; s->leafs.remotes != NULL && i < s->leafs.remotes->len; i++) {
        struct mr_leaf_remote *x = g_ptr_array_index(s->leafs.remotes, i);
        if (x->pending_conn == conn_id) {
            r = x;
            break;
        }
    }
    if (r == NULL) {
        return false;
    }
    r->pending_conn = 0;
    mr_server_cancel_dial(s, conn_id);
    if (status != MR_OK) {
        llog(s, MR_LOG_INFO, "Error trying to connect as leafnode (attempt %u): %s",
             r->attempts, mr_err_text(status));
        remote_retry(s, r);
        return true;
    }
    if (s->shutting_down) {
        s->env->stream_close(s->env->ctx, conn_id);
        return true;
    }
    struct mr_route_slot p = {0};
    (void)parse_remote_url(current_url(r), &p);
    struct mr_conn *c = mr_conn_new(s, conn_id, MR_CONN_LEAF, p.host, p.port);
    if (c == NULL) {
        remote_retry(s, r);
        return true;
    }
    leaf_attach(s, c, r);
    r->conn = c;
    c->account = r->acc;
    c->connect_received = true;
    mr_conn_arm_ping(c, MR_FIRST_PING_DELAY_NS);
    if (r->ws) {
        /* TLS first for wss:// (nats-server: the remote's tls {} or defaults), then the
         * HTTP upgrade; the hub's INFO comes in the first frames. */
        mr_ws_conn_attach_client(s, c);
        if (r->tls) {
            c->tls_pending = true;
            s->env->stream_start_tls_client(s->env->ctx, c->id, MR_TLS_LEAF_REMOTE + r->index,
                                            p.host);
        } else {
            ws_upgrade(s, c);
        }
    }
    return true;
}

void mr_leaf_process_op(struct mr_server *s, struct mr_conn *c, const struct mr_proto_op *op)
{
    struct mr_leaf *l = c->leaf;
    switch (op->op) {
    case MR_OP_CONNECT:
        if (!l->solicited && !l->connect_received) {
            process_connect(s, c, op);
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
        return;
    case MR_OP_ERR:
        llog(s, MR_LOG_WARN, "leafnode %s sent -ERR '%.*s'", l->remote_name,
             (int)op->json.len, op->json.ptr);
        if (l->remote != NULL && op->json.len >= 13 &&
            memcmp(op->json.ptr, "Loop detected", 13) == 0) {
            l->remote->loop = true;
        }
        mr_conn_close(c, "Leafnode Error");
        return;
    default:
        break;
    }
    if (!l->registered) {
        mr_conn_send_err(c, "Authorization Violation");
        mr_conn_close(c, "Authorization Violation");
        return;
    }
    switch (op->op) {
    case MR_OP_LS_PLUS:
    case MR_OP_LS_MINUS:
        process_ls(s, c, op);
        return;
    case MR_OP_LMSG:
    case MR_OP_RHMSG: {
        c->in_msgs++;
        c->in_bytes += op->size;
        s->stats.in_msgs++;
        s->stats.in_bytes += op->size;
        struct mr_msg m = {
            .subject = op->subject,
            .reply = op->reply,
            .hdr_len = op->hdr_len,
            .size = op->size,
            .payload = op->payload,
        };
        mr_server_route_from_leaf(s, l->acc, c, &m, op->queue);
        return;
    }
    default:
        mr_conn_close(c, "Protocol Violation");
        return;
    }
}

void mr_leaf_reap(struct mr_server *s, struct mr_conn *c)
{
    struct mr_leaf *l = c->leaf;
    struct mr_leafs *ls = &s->leafs;
    while (l->lsubs_head != NULL) {
        lsub_remove(s, l, l->lsubs_head);
    }
    if (l->registered) {
        l->registered = false;
        if (l->prev != NULL) {
            l->prev->next = l->next;
        } else {
            ls->head = l->next;
        }
        if (l->next != NULL) {
            l->next->prev = l->prev;
        } else {
            ls->tail = l->prev;
        }
        l->prev = NULL;
        l->next = NULL;
        ls->count--;
        ls->changes++;
        llog(s, MR_LOG_INFO, "lid:%llu - Leafnode connection closed (%s)",
             (unsigned long long)l->lid, l->remote_name);
    }
    if (l->remote != NULL && l->remote->conn == c) {
        l->remote->conn = NULL;
        if (!s->shutting_down) {
            remote_retry(s, l->remote);
        }
    }
}

void mr_leaf_conn_free(struct mr_server *s, struct mr_conn *c)
{
    (void)s;
    struct mr_leaf *l = c->leaf;
    if (l == NULL) {
        return;
    }
    mr_assert(l->lsubs_count == 0 && !l->registered);
    g_hash_table_destroy(l->lsubs);
    mr_interest_clear(&l->smap);
    if (l->deny_pub != NULL) {
        g_ptr_array_free(l->deny_pub, TRUE);
    }
    if (l->deny_sub != NULL) {
        g_ptr_array_free(l->deny_sub, TRUE);
    }
    g_free(l->fan_queues);
    g_free(l->nonce);
    g_free(l);
    c->leaf = NULL;
    c->account = NULL; /* bound, not counted: conn_free must not uncount it */
}

/* ------------------------------------------------------------------------------------ */
/* Lifecycle                                                                             */

void mr_leaf_init(struct mr_server *s)
{
    const struct mr_leafnode_opts *o = s->opts.leafnodes;
    if (o == NULL || !o->present) {
        return;
    }
    s->leafs.opts = o;
    s->leafs.remotes = g_ptr_array_new();
}

int mr_leaf_start(struct mr_server *s)
{
    struct mr_leafs *ls = &s->leafs;
    const struct mr_leafnode_opts *o = ls->opts;
    if (o == NULL) {
        return MR_OK;
    }
    if (o->tls.enabled) {
        char err[MR_ERRMSG_MAX];
        int rc = s->env->tls_configure(s->env->ctx, MR_TLS_LEAF, &o->tls, err, sizeof(err));
        if (rc != MR_OK) {
            llog(s, MR_LOG_ERROR, "%s: leafnodes TLS: %s", o->where, err);
            return rc;
        }
    }
    for (size_t i = 0; i < o->remotes_count; i++) {
        const struct mr_leafnode_remote_opts *ro = &o->remotes[i];
        if (ro->disabled) {
            continue;
        }
        if (ro->credentials != NULL && ro->creds.jwt == NULL) {
            /* The driver did not read the file (mr_conf_server_load_files): connecting
             * without the credentials would bind the wrong account. */
            llog(s, MR_LOG_ERROR, "%s: leafnode remote %zu: credentials file \"%s\" not loaded",
                 o->where, i + 1, ro->credentials);
            return MR_E_INVAL;
        }
        if (ro->hub) {
            llog(s, MR_LOG_ERROR, "%s: leafnode remote %zu: hub: true is not supported yet",
                 o->where, i + 1);
            return MR_E_INVAL;
        }
        const char *acc_name = ro->account != NULL ? ro->account : "$G";
        struct mr_account *acc = g_hash_table_lookup(s->accounts_by_name, acc_name);
        if (acc == NULL) {
            llog(s, MR_LOG_ERROR, "%s: leafnode remote %zu: unknown account %s", o->where,
                 i + 1, acc_name);
            return MR_E_INVAL;
        }
        bool ws = ro->urls.count > 0 && is_ws_url(ro->urls.items[0]);
        for (size_t k = 1; k < ro->urls.count; k++) {
            if (is_ws_url(ro->urls.items[k]) != ws) {
                llog(s, MR_LOG_ERROR, "%s: leafnode remote %zu: remote leaf node configuration "
                     "cannot have a mix of websocket and non-websocket urls", o->where, i + 1);
                return MR_E_INVAL;
            }
        }
        struct mr_leaf_remote *r = g_new0(struct mr_leaf_remote, 1);
        r->index = ls->remotes->len;
        r->opts = ro;
        r->acc = acc;
        r->urls = g_ptr_array_new_with_free_func(g_free);
        for (size_t k = 0; k < ro->urls.count; k++) {
            g_ptr_array_add(r->urls, g_strdup(ro->urls.items[k]));
        }
        r->next_url = r->urls->len > 0 ? (uint32_t)(mr_server_rand(s) % r->urls->len) : 0;
        r->ws = ws;
        r->tls = ro->tls.enabled;
        for (size_t k = 0; k < ro->urls.count; k++) {
            const char *u = ro->urls.items[k];
            r->tls = r->tls || strncmp(u, "tls://", 6) == 0 || strncmp(u, "wss://", 6) == 0;
        }
        g_ptr_array_add(ls->remotes, r);
        if (r->tls) {
            /* Without a tls {} block: nats-server's defaults, the system's CAs. */
            struct mr_tls_opts t = ro->tls;
            t.enabled = true;
            char err[MR_ERRMSG_MAX];
            int rc = s->env->tls_configure(s->env->ctx, MR_TLS_LEAF_REMOTE + r->index, &t, err,
                                           sizeof(err));
            if (rc != MR_OK) {
                llog(s, MR_LOG_ERROR, "%s: leafnode remote %zu TLS: %s", o->where, i + 1, err);
                return rc;
            }
        }
    }
    if (o->port != 0) {
        const char *host = o->host != NULL ? o->host : "0.0.0.0";
        uint16_t port = o->port < 0 ? 0 : (uint16_t)o->port;
        int rc = s->env->listen(s->env->ctx, MR_LISTENER_LEAF, host, port, &ls->port);
        if (rc != MR_OK) {
            llog(s, MR_LOG_ERROR, "Error listening on leafnode port: %s:%u: %s", host,
                 (unsigned)port, mr_err_text(rc));
            return rc;
        }
        ls->listening = true;
        llog(s, MR_LOG_INFO, "Listening for leafnode connections on %s:%u", host,
             (unsigned)ls->port);
    }
    for (guint i = 0; i < ls->remotes->len; i++) {
        remote_connect(s, g_ptr_array_index(ls->remotes, i));
    }
    return MR_OK;
}

void mr_leaf_shutdown(struct mr_server *s)
{
    struct mr_leafs *ls = &s->leafs;
    if (ls->opts == NULL) {
        return;
    }
    if (ls->listening) {
        s->env->unlisten(s->env->ctx, MR_LISTENER_LEAF);
        ls->listening = false;
    }
    for (guint i = 0; i < ls->remotes->len; i++) {
        struct mr_leaf_remote *r = g_ptr_array_index(ls->remotes, i);
        if (r->retry_armed) {
            s->env->timer_cancel(s->env->ctx, remote_timer(r));
            r->retry_armed = false;
        }
    }
}

void mr_leaf_deinit(struct mr_server *s)
{
    struct mr_leafs *ls = &s->leafs;
    for (struct mr_account *a = s->accounts_head; a != NULL; a = a->next) {
        mr_interest_clear(&a->local_interest);
    }
    if (ls->remotes != NULL) {
        for (guint i = 0; i < ls->remotes->len; i++) {
            struct mr_leaf_remote *r = g_ptr_array_index(ls->remotes, i);
            g_ptr_array_free(r->urls, TRUE);
            g_free(r);
        }
        g_ptr_array_free(ls->remotes, TRUE);
        ls->remotes = NULL;
    }
    g_free(ls->fan);
    ls->fan = NULL;
}

const struct mr_leaf *mr_leaf_first(const struct mr_server *s)
{
    return s->leafs.head;
}

void mr_leaf_check(const struct mr_server *s)
{
    const struct mr_leafs *ls = &s->leafs;
    if (ls->changes == ls->checked_at && ls->changes != 0) {
        return;
    }
    ((struct mr_leafs *)ls)->checked_at = ls->changes;
    uint32_t n = 0;
    const struct mr_leaf *prev = NULL;
    for (const struct mr_leaf *l = ls->head; l != NULL; l = l->next) {
        mr_assert(l->registered && l->prev == prev);
        mr_assert(l->conn->kind == MR_CONN_LEAF && l->conn->leaf == l);
        uint32_t k = 0;
        for (const struct mr_lsub *x = l->lsubs_head; x != NULL; x = x->next) {
            mr_assert(x->leaf == l);
            mr_assert(g_hash_table_lookup(l->lsubs, x->key) == x);
            k++;
        }
        mr_assert(k == l->lsubs_count && g_hash_table_size(l->lsubs) == k);
        mr_interest_check(&l->smap);
        prev = l;
        n++;
    }
    mr_assert(prev == ls->tail && n == ls->count);
}
