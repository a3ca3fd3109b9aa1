/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Gateways; the model is in gateway.h.
 *
 * Handshake (nats-server 2.9's order): the accepting side sends its gateway INFO at
 * accept; the soliciting side checks the name in it, then sends CONNECT and its own
 * INFO and registers the outbound connection. The accepting side registers the inbound
 * connection on the peer's first INFO: it sends its queue interest, makes sure it has
 * an outbound connection to that cluster too, gossips the other gateways it knows, and
 * switches every account to interest-only (INFO command 2, the account's RS+, command
 * 3). A registered outbound connection's remote INFO is relayed to the routes so every
 * server of the cluster connects to that cluster as well.
 *
 * Invariants:
 *  - At most one registered outbound connection per remote name; registered outbound
 *    connections are in RTT order, inbound ones in registration order.
 *  - A remote has at most one connect in flight or one open outbound connection.
 *  - Every remote-interest entry of an outbound connection is in its account's table
 *    and sublist; both go together.
 */
#include "core/server/gateway.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/conf/conf_server.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/proto/subject.h"
#include "core/server/auth.h"
#include "core/server/server_int.h"
#include "core/server/sublist.h"

/* nats-server: the first solicit waits 1 s (routes form first), reconnects wait 1 s
 * plus up to 100 ms; implicit gateways get one more try. */
#define GW_SOLICIT_DELAY_NS (1ULL * MR_NS_PER_SEC)
#define GW_RETRY_NS (1ULL * MR_NS_PER_SEC)
#define GW_RETRY_JITTER_NS (100ULL * MR_NS_PER_MS)
#define GW_PING_MAX_INTERVAL_NS (15ULL * MR_NS_PER_SEC)
/* Replies to subscriptions younger than this are mapped (nats-server's 2 s). */
#define GW_RECENT_SUB_NS (2ULL * MR_NS_PER_SEC)
#define GW_RECENT_MAX 4096

enum gw_mode {
    GW_OPTIMISTIC = 0,
    GW_TRANSITIONING = 1,
    GW_INTEREST_ONLY = 2,
};

/* One entry of a remote's interest, in an outbound connection's account sublist. */
struct gw_rsub {
    struct mr_sub sub; /* first */
    char *key;         /* "subject[ queue]"; sub.subject and sub.queue point inside */
};

struct mr_gw_outacc {
    enum gw_mode mode;
    bool no_interest;  /* A- received: nothing in this account (optimistic) */
    GHashTable *ni;    /* optimistic: subjects refused with RS- (owned keys) */
    struct mr_sublist *sl;
    GHashTable *subs;  /* key -> struct gw_rsub */
    uint32_t qsubs;
};

struct gw_recent {
    const struct mr_account *acc;
    char *subject;
    uint64_t at_ns;
};

static void glog(struct mr_server *s, enum mr_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void glog(struct mr_server *s, enum mr_log_level level, const char *fmt, ...)
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

void mr_gateway_hash(const char *name, char out[MR_GW_HASH_LEN + 1])
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    uint8_t sum[32];
    gsize len = sizeof(sum);
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(ck, (const guchar *)name, (gssize)strlen(name));
    g_checksum_get_digest(ck, sum, &len);
    g_checksum_free(ck);
    for (size_t i = 0; i < MR_GW_HASH_LEN; i++) {
        out[i] = digits[sum[i] % 62];
    }
    out[MR_GW_HASH_LEN] = '\0';
}

static bool wildcard_host(const char *h)
{
    return h[0] == '\0' || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0 ||
           strcmp(h, "[::]") == 0;
}

static bool url_listed(const GPtrArray *a, const char *url)
{
    for (guint i = 0; i < a->len; i++) {
        if (strcmp(g_ptr_array_index(a, i), url) == 0) {
            return true;
        }
    }
    return false;
}

/* Adds "host:port" (from a URL or host:port text) unless known or a wildcard. */
static bool add_url(GPtrArray *a, const char *url)
{
    struct mr_route_slot p = {0};
    if (!mr_route_parse_url(url, &p) || wildcard_host(p.host)) {
        return false;
    }
    char hp[300];
    snprintf(hp, sizeof(hp), "%s:%u", p.host, (unsigned)p.port);
    if (url_listed(a, hp)) {
        return false;
    }
    g_ptr_array_add(a, g_strdup(hp));
    return true;
}

/* ------------------------------------------------------------------------------------ */
/* Remotes and soliciting                                                                */

static struct mr_gw_remote *remote_named(const struct mr_server *s, const char *name)
{
    for (guint i = 0; s->gw.remotes != NULL && i < s->gw.remotes->len; i++) {
        struct mr_gw_remote *r = g_ptr_array_index(s->gw.remotes, i);
        if (strcmp(r->name, name) == 0) {
            return r;
        }
    }
    return NULL;
}

static struct mr_gw_remote *remote_add(struct mr_server *s, const char *name, bool implicit)
{
    struct mr_gw_remote *r = g_new0(struct mr_gw_remote, 1);
    r->index = s->gw.remotes->len;
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->urls = g_ptr_array_new_with_free_func(g_free);
    r->implicit = implicit;
    mr_gateway_hash(name, r->hash);
    const struct mr_gateway_opts *o = s->gw.opts;
    if (o->tls.enabled) {
        r->tls = &o->tls;
    }
    g_ptr_array_add(s->gw.remotes, r);
    return r;
}

static uint64_t remote_timer(const struct mr_gw_remote *r)
{
    uint64_t conn = MR_TIMER_SERVER_CONN - 1 - r->index;
    return (conn << TIMER_KIND_BITS) | TIMER_GATEWAY_RETRY;
}

static void remote_arm(struct mr_server *s, struct mr_gw_remote *r, uint64_t delay)
{
    if (s->shutting_down || r->retry_armed) {
        return;
    }
    r->retry_armed = true;
    s->env->timer_arm(s->env->ctx, remote_timer(r), mr_server_now(s) + delay);
}

static void remote_retry(struct mr_server *s, struct mr_gw_remote *r)
{
    const struct mr_gateway_opts *o = s->gw.opts;
    /* A learned gateway gets one more round over its URLs, as nats-server tries each of
     * them once per attempt. */
    if (r->implicit ? r->attempts > 1 + r->urls->len
                    : (o->connect_retries > 0 && r->attempts > (uint32_t)o->connect_retries)) {
        glog(s, MR_LOG_INFO, "Gateway %s: giving up after %u attempts", r->name, r->attempts);
        return;
    }
    remote_arm(s, r, GW_RETRY_NS + mr_server_rand(s) % GW_RETRY_JITTER_NS);
}

static void remote_connect(struct mr_server *s, struct mr_gw_remote *r)
{
    if (s->shutting_down || r->out != NULL || r->pending_conn != 0 || r->urls->len == 0) {
        return;
    }
    /* A random URL first, then the next one after each failure, so a dead server in the
     * list does not keep getting picked. */
    if (r->attempts == 0) {
        r->next_url = (uint32_t)(mr_server_rand(s) % r->urls->len);
    }
    const char *url = g_ptr_array_index(r->urls, r->next_url++ % r->urls->len);
    struct mr_route_slot p = {0};
    if (!mr_route_parse_url(url, &p)) {
        return;
    }
    r->attempts++;
    snprintf(r->dial_url, sizeof(r->dial_url), "%s", url);
    glog(s, MR_LOG_DEBUG, "Connecting to gateway %s at %s", r->name, url);
    uint64_t id = 0;
    int rc = s->env->connect(s->env->ctx, p.host, p.port, &id);
    if (rc != MR_OK) {
        glog(s, MR_LOG_INFO, "Error connecting to gateway %s at %s (attempt %u): %s", r->name,
             url, r->attempts, mr_err_text(rc));
        remote_retry(s, r);
        return;
    }
    r->pending_conn = id;
    mr_server_arm_dial(s, id);
}

bool mr_gateway_dial_timeout(struct mr_server *s, uint64_t conn_id)
{
    for (guint i = 0; s->gw.remotes != NULL && i < s->gw.remotes->len; i++) {
        struct mr_gw_remote *r = g_ptr_array_index(s->gw.remotes, i);
        if (r->pending_conn == conn_id) {
            r->pending_conn = 0;
            glog(s, MR_LOG_INFO, "Error connecting to gateway %s (attempt %u): %s", r->name,
                 r->attempts, mr_err_text(MR_E_TIMEOUT));
            remote_retry(s, r);
            return true;
        }
    }
    return false;
}

void mr_gateway_on_timer(struct mr_server *s, uint64_t remote_id)
{
    uint64_t index = MR_TIMER_SERVER_CONN - 1 - remote_id;
    if (s->gw.remotes == NULL || index >= s->gw.remotes->len) {
        return;
    }
    struct mr_gw_remote *r = g_ptr_array_index(s->gw.remotes, index);
    r->retry_armed = false;
    remote_connect(s, r);
}

/* ------------------------------------------------------------------------------------ */
/* INFO and CONNECT                                                                      */

static json_t *urls_json(const GPtrArray *a)
{
    json_t *j = json_array();
    for (guint i = 0; a != NULL && i < a->len; i++) {
        json_array_append_new(j, json_string(g_ptr_array_index(a, i)));
    }
    return j;
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

static void send_gateway_info(struct mr_server *s, struct mr_conn *c)
{
    const struct mr_gateway_opts *o = s->gw.opts;
    json_t *j = json_object();
    json_object_set_new(j, "server_id", json_string(s->server_id));
    json_object_set_new(j, "server_name", json_string(own_name(s)));
    json_object_set_new(j, "version", json_string(MR_SERVER_COMPAT_VERSION));
    json_object_set_new(j, "proto", json_integer(1));
    json_object_set_new(j, "go", json_string("meridian"));
    json_object_set_new(j, "host", json_string(o->host != NULL ? o->host : "0.0.0.0"));
    json_object_set_new(j, "port", json_integer(s->gw.port));
    if (o->auth.user != NULL) {
        json_object_set_new(j, "auth_required", json_true());
    }
    if (o->tls.enabled) {
        json_object_set_new(j, "tls_required", json_true());
    }
    json_object_set_new(j, "headers", json_true());
    json_object_set_new(j, "max_payload", json_integer(s->opts.max_payload));
    json_object_set_new(j, "gateway", json_string(s->gw.name));
    json_object_set_new(j, "gateway_urls", urls_json(s->gw.urls));
    if (s->gw.url[0] != '\0') {
        json_object_set_new(j, "gateway_url", json_string(s->gw.url));
    }
    json_object_set_new(j, "gateway_nrp", json_true());
    json_object_set_new(j, "gateway_iom", json_true());
    json_object_set_new(j, "meridian_version", json_string(MR_SERVER_VERSION));
    send_json_line(c, "INFO ", j);
}

static void send_gateway_connect(struct mr_server *s, struct mr_conn *c)
{
    const struct mr_gateway_opts *o = s->gw.opts;
    struct mr_gw_remote *r = c->gw->remote;
    json_t *j = json_object();
    json_object_set_new(j, "echo", json_false());
    json_object_set_new(j, "verbose", json_false());
    json_object_set_new(j, "pedantic", json_false());
    const char *user = r->user[0] != '\0' ? r->user : o->auth.user;
    const char *pass = r->user[0] != '\0' ? r->pass : o->auth.password;
    if (user != NULL) {
        json_object_set_new(j, "user", json_string(user));
        json_object_set_new(j, "pass", json_string(pass != NULL ? pass : ""));
    }
    json_object_set_new(j, "tls_required", json_boolean(r->tls != NULL));
    json_object_set_new(j, "headers", json_false());
    json_object_set_new(j, "name", json_string(s->server_id));
    json_object_set_new(j, "cluster", json_string(""));
    json_object_set_new(j, "gateway", json_string(s->gw.name));
    send_json_line(c, "CONNECT ", j);
}

/* INFO {"gateway":..., "gateway_cmd":cmd, "gateway_cmd_payload":base64(account)}. */
static void send_account_cmd(struct mr_server *s, struct mr_conn *c, int cmd, const char *acc)
{
    gchar *b64 = g_base64_encode((const guchar *)acc, strlen(acc));
    json_t *j = json_object();
    json_object_set_new(j, "server_id", json_string(s->server_id));
    json_object_set_new(j, "gateway", json_string(s->gw.name));
    json_object_set_new(j, "gateway_cmd", json_integer(cmd));
    json_object_set_new(j, "gateway_cmd_payload", json_string(b64));
    g_free(b64);
    send_json_line(c, "INFO ", j);
}

static void send_gossip(struct mr_conn *c, const char *id, const char *server_name,
                        const struct mr_gw_remote *r)
{
    json_t *j = json_object();
    json_object_set_new(j, "server_id", json_string(id));
    if (server_name != NULL) {
        json_object_set_new(j, "server_name", json_string(server_name));
    }
    json_object_set_new(j, "gateway", json_string(r->name));
    json_object_set_new(j, "gateway_urls", urls_json(r->urls));
    json_object_set_new(j, "gateway_cmd", json_integer(1));
    send_json_line(c, "INFO ", j);
}

/* ------------------------------------------------------------------------------------ */
/* The cluster's interest, told to inbound gateways                                      */

static void send_rs(struct mr_conn *c, bool plus, const char *acc, const char *subject,
                    size_t subject_len, const char *queue, size_t queue_len)
{
    GString *line = g_string_sized_new(64);
    g_string_append(line, plus ? "RS+ " : "RS- ");
    g_string_append(line, acc);
    g_string_append_c(line, ' ');
    g_string_append_len(line, subject, (gssize)subject_len);
    if (queue_len > 0) {
        g_string_append_c(line, ' ');
        g_string_append_len(line, queue, (gssize)queue_len);
        if (plus) {
            g_string_append(line, " 1"); /* queue weight is always 1 over gateways */
        }
    }
    g_string_append(line, "\r\n");
    (void)mr_conn_queue_out(c, line->str, line->len);
    g_string_free(line, TRUE);
}

void mr_gateway_interest(struct mr_server *s, struct mr_account *acc, const struct mr_sub *sub,
                         int delta)
{
    if (s->gw.opts == NULL) {
        return;
    }
    size_t qlen = sub->queue != NULL ? sub->queue_len : 0;
    bool absent = false;
    uint32_t count = mr_interest_change(&acc->gw_interest, sub->subject, sub->subject_len,
                                        sub->queue, qlen, delta, &absent);
    bool first = delta > 0 && count == 1;
    bool last = delta < 0 && count == 0 && !absent;
    if (!first && !last) {
        return;
    }
    for (struct mr_gw_conn *g = s->gw.in_head; g != NULL; g = g->next) {
        if (g->conn->state == CONN_OPEN) {
            send_rs(g->conn, first, acc->name, sub->subject, sub->subject_len, sub->queue, qlen);
        }
    }
}

/* On a new inbound connection: queue interest of every account, then each account
 * switched to interest-only with its plain interest in between. */
static void send_all_interest(struct mr_server *s, struct mr_conn *c)
{
    for (const struct mr_account *a = s->accounts_head; a != NULL; a = a->next) {
        for (const struct mr_interest *e = a->gw_interest.head; e != NULL; e = e->next) {
            size_t qlen;
            const char *q = mr_interest_queue(e, &qlen);
            if (q != NULL) {
                send_rs(c, true, a->name, e->key, e->subject_len, q, qlen);
            }
        }
    }
    for (const struct mr_account *a = s->accounts_head; a != NULL; a = a->next) {
        send_account_cmd(s, c, 2, a->name);
        for (const struct mr_interest *e = a->gw_interest.head; e != NULL; e = e->next) {
            size_t qlen;
            if (mr_interest_queue(e, &qlen) == NULL) {
                send_rs(c, true, a->name, e->key, e->subject_len, NULL, 0);
            }
        }
        send_account_cmd(s, c, 3, a->name);
    }
}

/* ------------------------------------------------------------------------------------ */
/* The remote's interest, on outbound connections                                        */

static void gw_rsub_free(gpointer p)
{
    struct gw_rsub *rs = p;
    g_free(rs->key);
    g_free(rs);
}

static void outacc_free(gpointer p)
{
    struct mr_gw_outacc *e = p;
    if (e->subs != NULL) {
        /* Remove every entry from the sublist before freeing them: the sublist only
         * borrows them. The order of removal is not observable. */
        GHashTableIter it;
        gpointer v;
        g_hash_table_iter_init(&it, e->subs);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
            (void)mr_sublist_remove(e->sl, &((struct gw_rsub *)v)->sub);
        }
        g_hash_table_destroy(e->subs);
    }
    if (e->sl != NULL) {
        mr_sublist_destroy(e->sl);
    }
    if (e->ni != NULL) {
        g_hash_table_destroy(e->ni);
    }
    g_free(e);
}

static struct mr_gw_outacc *outacc(struct mr_server *s, struct mr_gw_conn *g, struct mr_view name,
                                   bool create)
{
    char key[256];
    if (name.len >= sizeof(key)) {
        return NULL;
    }
    memcpy(key, name.ptr, name.len);
    key[name.len] = '\0';
    struct mr_gw_outacc *e = g_hash_table_lookup(g->accounts, key);
    if (e != NULL || !create) {
        return e;
    }
    e = g_new0(struct mr_gw_outacc, 1);
    if (mr_sublist_create(&s->mem, &e->sl) != MR_OK) {
        g_free(e);
        return NULL;
    }
    mr_sublist_seed(e->sl, mr_server_rand(s));
    /* Values own their keys: freeing a value frees its key. */
    e->subs = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, gw_rsub_free);
    e->mode = g->iom ? GW_INTEREST_ONLY : GW_OPTIMISTIC;
    if (!g->iom) {
        e->ni = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    }
    g_hash_table_insert(g->accounts, g_strdup(key), e);
    return e;
}

static void remote_sub(struct mr_server *s, struct mr_gw_conn *g, const struct mr_proto_op *op)
{
    bool plus = op->op == MR_OP_RS_PLUS;
    bool queue = op->queue.len > 0;
    struct mr_gw_outacc *e = outacc(s, g, op->account, plus || !queue);
    if (e == NULL) {
        return;
    }
    char subj[MR_CONTROL_LINE_MAX + 1];
    memcpy(subj, op->subject.ptr, op->subject.len);
    subj[op->subject.len] = '\0';
    if (!queue && e->mode == GW_OPTIMISTIC) {
        /* Optimistic: RS- marks a subject the remote does not want, RS+ clears it. */
        if (plus) {
            g_hash_table_remove(e->ni, subj);
        } else {
            g_hash_table_add(e->ni, g_strdup(subj));
        }
        return;
    }
    if (!mr_subject_valid(op->subject.ptr, op->subject.len)) {
        return;
    }
    GString *key = g_string_new_len(op->subject.ptr, op->subject.len);
    if (queue) {
        g_string_append_c(key, ' ');
        g_string_append_len(key, op->queue.ptr, op->queue.len);
    }
    struct gw_rsub *rs = g_hash_table_lookup(e->subs, key->str);
    if (plus && rs == NULL) {
        rs = g_new0(struct gw_rsub, 1);
        rs->key = g_string_free(key, FALSE);
        key = NULL;
        rs->sub.owner = g->conn;
        rs->sub.subject = rs->key;
        rs->sub.subject_len = op->subject.len;
        if (queue) {
            rs->sub.queue = rs->key + op->subject.len + 1;
            rs->sub.queue_len = op->queue.len;
        }
        if (mr_sublist_insert(e->sl, &rs->sub) != MR_OK) {
            gw_rsub_free(rs);
        } else {
            g_hash_table_insert(e->subs, rs->key, rs);
            e->qsubs += queue ? 1 : 0;
            g->rsubs++;
        }
    } else if (!plus && rs != NULL) {
        (void)mr_sublist_remove(e->sl, &rs->sub);
        e->qsubs -= queue ? 1 : 0;
        g->rsubs--;
        g_hash_table_remove(e->subs, rs->key); /* frees rs */
    }
    if (key != NULL) {
        g_string_free(key, TRUE);
    }
}

/* Whether the remote wants plain copies of subject in account; *qr gets its matching
 * queue groups (or NULL). */
static bool out_interest(struct mr_gw_conn *g, const char *account, struct mr_view subject,
                         const struct mr_sublist_result **qr)
{
    *qr = NULL;
    if (g->conn->srv->opts.test_gateway_send_all) {
        return true;
    }
    struct mr_gw_outacc *e = g_hash_table_lookup(g->accounts, account);
    if (e == NULL) {
        return !g->iom;
    }
    if (e->no_interest) {
        return false;
    }
    bool psi = false;
    if (e->mode != GW_INTEREST_ONLY && e->ni != NULL) {
        char subj[MR_CONTROL_LINE_MAX + 1];
        memcpy(subj, subject.ptr, subject.len);
        subj[subject.len] = '\0';
        psi = !g_hash_table_contains(e->ni, subj);
    }
    if (e->mode != GW_OPTIMISTIC || e->qsubs > 0) {
        const struct mr_sublist_result *r = mr_sublist_match(e->sl, subject.ptr, subject.len);
        if (r != NULL) {
            psi = psi || r->psubs_count > 0;
            *qr = r->qgroups_count > 0 ? r : NULL;
        }
    }
    return psi;
}

static void account_cmd(struct mr_server *s, struct mr_gw_conn *g, json_t *info, int cmd)
{
    const char *b64 = json_string_value(json_object_get(info, "gateway_cmd_payload"));
    if (b64 == NULL) {
        return;
    }
    gsize len = 0;
    guchar *name = g_base64_decode(b64, &len);
    struct mr_gw_outacc *e = outacc(s, g, (struct mr_view){(const char *)name, (uint32_t)len},
                                    true);
    g_free(name);
    if (e == NULL) {
        return;
    }
    if (cmd == 2) {
        e->mode = GW_TRANSITIONING; /* RS+/RS- go to the sublist from now on */
    } else {
        e->mode = GW_INTEREST_ONLY;
        e->no_interest = false;
        if (e->ni != NULL) {
            g_hash_table_destroy(e->ni);
            e->ni = NULL;
        }
    }
}

/* ------------------------------------------------------------------------------------ */
/* Registration, gossip                                                                  */

static void list_remove(struct mr_gw_conn **head, struct mr_gw_conn **tail, struct mr_gw_conn *g)
{
    g->conn->srv->gw.changes++;
    if (g->prev != NULL) {
        g->prev->next = g->next;
    } else {
        *head = g->next;
    }
    if (g->next != NULL) {
        g->next->prev = g->prev;
    } else {
        *tail = g->prev;
    }
    g->prev = NULL;
    g->next = NULL;
}

/* Inserts an outbound connection at its place in RTT order (unknown RTT sorts last;
 * ties keep arrival order). */
static void out_insert_sorted(struct mr_server *s, struct mr_gw_conn *g)
{
    struct mr_gateways *gw = &s->gw;
    gw->changes++;
    uint64_t rtt = g->conn->rtt_ns != 0 ? g->conn->rtt_ns : UINT64_MAX;
    struct mr_gw_conn *at = gw->out_head;
    while (at != NULL && (at->conn->rtt_ns != 0 ? at->conn->rtt_ns : UINT64_MAX) <= rtt) {
        at = at->next;
    }
    g->next = at;
    g->prev = at != NULL ? at->prev : gw->out_tail;
    if (g->prev != NULL) {
        g->prev->next = g;
    } else {
        gw->out_head = g;
    }
    if (at != NULL) {
        at->prev = g;
    } else {
        gw->out_tail = g;
    }
}

void mr_gateway_rtt_updated(struct mr_server *s, struct mr_conn *c)
{
    struct mr_gw_conn *g = c->gw;
    if (!g->outbound || !g->registered) {
        return;
    }
    list_remove(&s->gw.out_head, &s->gw.out_tail, g);
    out_insert_sorted(s, g);
}

/* Relays a remote gateway's INFO to the routes so every server of this cluster gets an
 * outbound connection to it (server_id "GW"+ours, so older servers do not take it for
 * an implicit route). */
static void forward_to_routes(struct mr_server *s, const struct mr_gw_remote *r)
{
    char id[80];
    snprintf(id, sizeof(id), "GW%s", s->server_id);
    for (const struct mr_route *rt = mr_route_first(s); rt != NULL; rt = mr_route_next(rt)) {
        if (rt->conn->state == CONN_OPEN) {
            send_gossip(rt->conn, id, own_name(s), r);
        }
    }
}

/* Learns a gateway from an INFO (gossip, or an inbound connection): makes sure there is
 * a remote for it with its URLs, and an outbound connection. */
static void implicit_gateway(struct mr_server *s, json_t *info)
{
    const char *name = json_string_value(json_object_get(info, "gateway"));
    if (name == NULL || name[0] == '\0' || strcmp(name, s->gw.name) == 0) {
        return;
    }
    struct mr_gw_remote *r = remote_named(s, name);
    if (r == NULL && s->gw.opts->reject_unknown_cluster) {
        return;
    }
    if (r == NULL) {
        r = remote_add(s, name, true);
    }
    json_t *urls = json_object_get(info, "gateway_urls");
    size_t i;
    json_t *u;
    json_array_foreach(urls, i, u)
    {
        if (json_is_string(u)) {
            (void)add_url(r->urls, json_string_value(u));
        }
    }
    if (r->out == NULL && r->pending_conn == 0 && !r->retry_armed) {
        r->attempts = 0;
        remote_connect(s, r);
    }
}

void mr_gateway_gossip_to_route(struct mr_server *s, struct mr_conn *route)
{
    char id[80];
    snprintf(id, sizeof(id), "GW%s", s->server_id);
    for (const struct mr_gw_conn *g = s->gw.out_head; g != NULL; g = g->next) {
        send_gossip(route, id, own_name(s), g->remote);
    }
}

void mr_gateway_info_from_route(struct mr_server *s, const char *json, size_t len)
{
    if (s->gw.opts == NULL) {
        return;
    }
    json_t *info = json_loadb(json, len, 0, NULL);
    if (json_is_object(info) && json_integer_value(json_object_get(info, "gateway_cmd")) == 1) {
        implicit_gateway(s, info);
    }
    json_decref(info);
}

void mr_gateway_route_url(struct mr_server *s, const char *url, bool add)
{
    if (s->gw.opts == NULL || url == NULL || url[0] == '\0') {
        return;
    }
    if (add) {
        (void)add_url(s->gw.urls, url);
        return;
    }
    for (guint i = 0; i < s->gw.urls->len; i++) {
        if (strcmp(g_ptr_array_index(s->gw.urls, i), url) == 0 && strcmp(url, s->gw.url) != 0) {
            g_ptr_array_remove_index(s->gw.urls, i);
            return;
        }
    }
}

static void register_outbound(struct mr_server *s, struct mr_gw_conn *g, json_t *info)
{
    struct mr_gw_remote *r = g->remote;
    g->registered = true;
    s->gw.out_count++;
    out_insert_sorted(s, g);
    r->attempts = 0;
    glog(s, MR_LOG_INFO, "Outbound gateway connection to %s (%s) registered", g->name,
         g->remote_id);
    /* Measure the RTT now: queue groups pick clusters in RTT order. */
    g->conn->ping_sent_ns = mr_server_now(s);
    g->conn->pings_out++;
    send_text(g->conn, "PING\r\n");
    json_t *urls = json_object_get(info, "gateway_urls");
    size_t i;
    json_t *u;
    json_array_foreach(urls, i, u)
    {
        if (json_is_string(u)) {
            (void)add_url(r->urls, json_string_value(u));
        }
    }
    forward_to_routes(s, r);
}

static void register_inbound(struct mr_server *s, struct mr_gw_conn *g, json_t *info)
{
    struct mr_gateways *gw = &s->gw;
    g->registered = true;
    g->prev = gw->in_tail;
    if (gw->in_tail != NULL) {
        gw->in_tail->next = g;
    } else {
        gw->in_head = g;
    }
    gw->in_tail = g;
    gw->in_count++;
    gw->changes++;
    glog(s, MR_LOG_INFO, "Inbound gateway connection from %s (%s) registered", g->name,
         g->remote_id);
    send_all_interest(s, g->conn);
    implicit_gateway(s, info);
    /* Tell the peer about every other gateway this server knows. */
    for (guint i = 0; i < gw->remotes->len; i++) {
        const struct mr_gw_remote *r = g_ptr_array_index(gw->remotes, i);
        if (strcmp(r->name, g->name) != 0 && r->urls->len > 0) {
            send_gossip(g->conn, s->server_id, NULL, r);
        }
    }
}

static void process_info(struct mr_server *s, struct mr_conn *c, const struct mr_proto_op *op)
{
    struct mr_gw_conn *g = c->gw;
    json_t *info = json_loadb(op->json.ptr, op->json.len, 0, NULL);
    if (!json_is_object(info)) {
        json_decref(info);
        mr_conn_close(c, "Parse Error");
        return;
    }
    const char *name = json_string_value(json_object_get(info, "gateway"));
    const char *id = json_string_value(json_object_get(info, "server_id"));
    bool first = !g->info_received;
    if (g->outbound) {
        if (name == NULL || name[0] == '\0') {
            char text[400];
            snprintf(text, sizeof(text), "Attempt to connect to gateway \"%s\" using wrong port",
                     g->name);
            glog(s, MR_LOG_ERROR, "%s", text);
            mr_conn_send_err(c, text);
            mr_conn_close(c, "Wrong Port");
        } else if (strcmp(name, g->name) != 0) {
            if (!first && json_integer_value(json_object_get(info, "gateway_cmd")) == 1) {
                implicit_gateway(s, info); /* gossip about another cluster */
            } else {
                char text[900];
                snprintf(text, sizeof(text),
                         "Connection from \"%s\" rejected, wanted to connect to \"%s\", this is "
                         "\"%s\"",
                         s->gw.name, g->name, name);
                glog(s, MR_LOG_ERROR, "Failing connection to gateway %s: remote is %s", g->name,
                     name);
                mr_conn_send_err(c, text);
                mr_conn_close(c, "Wrong Gateway");
            }
        } else if (first) {
            g->info_received = true;
            snprintf(g->remote_id, sizeof(g->remote_id), "%s", id != NULL ? id : "");
            const char *sn = json_string_value(json_object_get(info, "server_name"));
            snprintf(g->remote_name, sizeof(g->remote_name), "%s", sn != NULL ? sn : "");
            g->iom = json_is_true(json_object_get(info, "gateway_iom"));
            g->old_prefix = !json_is_true(json_object_get(info, "gateway_nrp"));
            g->headers = json_is_true(json_object_get(info, "headers"));
            struct mr_gw_remote *r = g->remote;
            if (r->out != NULL && r->out != c) {
                mr_conn_close(c, "Duplicate Gateway"); /* one outbound per cluster */
            } else {
                r->out = c;
                send_gateway_connect(s, c);
                send_gateway_info(s, c);
                register_outbound(s, g, info);
            }
        } else {
            int cmd = (int)json_integer_value(json_object_get(info, "gateway_cmd"));
            if (cmd == 2 || cmd == 3) {
                account_cmd(s, g, info, cmd);
            }
        }
        json_decref(info);
        return;
    }
    /* Inbound. */
    if (!g->connect_received) {
        json_decref(info);
        mr_conn_send_err(c, "Authorization Violation");
        mr_conn_close(c, "Authorization Violation");
        return;
    }
    if (first) {
        g->info_received = true;
        snprintf(g->name, sizeof(g->name), "%s", name != NULL ? name : "");
        snprintf(g->remote_id, sizeof(g->remote_id), "%s", id != NULL ? id : "");
        const char *sn = json_string_value(json_object_get(info, "server_name"));
        snprintf(g->remote_name, sizeof(g->remote_name), "%s", sn != NULL ? sn : "");
        g->headers = json_is_true(json_object_get(info, "headers"));
        register_inbound(s, g, info);
    }
    json_decref(info);
}

static void process_connect(struct mr_server *s, struct mr_conn *c, const struct mr_proto_op *op)
{
    struct mr_gw_conn *g = c->gw;
    const struct mr_gateway_opts *o = s->gw.opts;
    json_t *j = json_loadb(op->json.ptr, op->json.len, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        mr_conn_close(c, "Protocol Error");
        return;
    }
    const char *name = json_string_value(json_object_get(j, "gateway"));
    if (name == NULL || name[0] == '\0') {
        json_decref(j);
        mr_conn_send_err(c, "attempted to connect to gateway port");
        mr_conn_close(c, "Wrong Port");
        return;
    }
    if (o->reject_unknown_cluster && remote_named(s, name) == NULL) {
        char text[400];
        snprintf(text, sizeof(text), "Connection to gateway \"%s\" rejected", s->gw.name);
        glog(s, MR_LOG_ERROR, "Rejecting connection from gateway %s", name);
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
            mr_conn_send_err(c, "Authorization Violation");
            mr_conn_close(c, "Authentication Failure");
            return;
        }
    }
    json_decref(j);
    g->connect_received = true;
    c->connect_received = true;
    s->env->timer_cancel(s->env->ctx, (c->id << TIMER_KIND_BITS) | TIMER_AUTH);
}

/* ------------------------------------------------------------------------------------ */
/* Messages                                                                              */

bool mr_gateway_is_routed(struct mr_view subj)
{
    return subj.len > MR_GW_REPLY_PREFIX_LEN && memcmp(subj.ptr, "_GR_.", 5) == 0 &&
           subj.ptr[5 + MR_GW_HASH_LEN] == '.' && subj.ptr[5 + 2 * MR_GW_HASH_LEN + 1] == '.';
}

/* Routed replies a client may answer, per connection (nats-server keeps them 2 min). */
#define GW_CLIENT_REPLIES_MAX 256

void mr_gateway_note_reply(struct mr_conn *c, struct mr_view routed)
{
    if (c->gw_replies == NULL) {
        c->gw_replies = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
        c->gw_replies_fifo = g_queue_new();
    }
    char *full = g_strndup(routed.ptr, routed.len);
    const char *plain = full + MR_GW_REPLY_PREFIX_LEN;
    if (g_hash_table_contains(c->gw_replies, plain)) {
        g_free(full);
        return;
    }
    if (g_queue_get_length(c->gw_replies_fifo) >= GW_CLIENT_REPLIES_MAX) {
        const char *oldest = g_queue_pop_head(c->gw_replies_fifo);
        g_hash_table_remove(c->gw_replies, oldest);
    }
    g_hash_table_insert(c->gw_replies, (gpointer)plain, full);
    g_queue_push_tail(c->gw_replies_fifo, (gpointer)plain);
}

bool mr_gateway_map_reply(const struct mr_conn *c, struct mr_view subject,
                          struct mr_view *routed)
{
    char key[MR_CONTROL_LINE_MAX + 1];
    if (c->gw_replies == NULL || subject.len > MR_CONTROL_LINE_MAX) {
        return false;
    }
    memcpy(key, subject.ptr, subject.len);
    key[subject.len] = '\0';
    const char *full = g_hash_table_lookup(c->gw_replies, key);
    if (full == NULL) {
        return false;
    }
    *routed = (struct mr_view){full, (uint32_t)(MR_GW_REPLY_PREFIX_LEN + subject.len)};
    return true;
}

void mr_gateway_client_free(struct mr_conn *c)
{
    if (c->gw_replies != NULL) {
        g_queue_free(c->gw_replies_fifo);
        g_hash_table_destroy(c->gw_replies);
        c->gw_replies = NULL;
        c->gw_replies_fifo = NULL;
    }
}

bool mr_gateway_routed_reply(struct mr_server *s, struct mr_account *acc, const struct mr_msg *m)
{
    struct mr_view subj = m->subject;
    if (!mr_gateway_is_routed(subj)) {
        return false;
    }
    if (s->gw.opts == NULL) {
        return false; /* without gateways it is an ordinary subject, as in nats-server */
    }
    const char *cluster = subj.ptr + 5;
    const char *server = cluster + MR_GW_HASH_LEN + 1;
    if (memcmp(cluster, s->gw.cluster_hash, MR_GW_HASH_LEN) != 0) {
        /* Straight to the origin cluster, whatever its interest. */
        for (struct mr_gw_conn *g = s->gw.out_head; g != NULL; g = g->next) {
            if (memcmp(g->remote->hash, cluster, MR_GW_HASH_LEN) == 0 &&
                g->conn->state == CONN_OPEN) {
                (void)mr_send_rmsg(g->conn, g->headers, acc->name, m, m->reply, NULL, 0);
                break;
            }
        }
        return true;
    }
    if (memcmp(server, s->gw.server_hash, MR_GW_HASH_LEN) != 0) {
        /* Another server of this cluster asked: over the route to it. */
        for (const struct mr_route *r = mr_route_first(s); r != NULL; r = mr_route_next(r)) {
            char h[MR_GW_HASH_LEN + 1];
            mr_gateway_hash(r->remote_id, h);
            if (memcmp(h, server, MR_GW_HASH_LEN) == 0 && r->conn->state == CONN_OPEN) {
                (void)mr_send_rmsg(r->conn, r->headers, acc->name, m, m->reply, NULL, 0);
                break;
            }
        }
        return true;
    }
    /* For this server: deliver under the original subject. */
    struct mr_msg local = *m;
    local.subject.ptr += MR_GW_REPLY_PREFIX_LEN;
    local.subject.len -= MR_GW_REPLY_PREFIX_LEN;
    mr_server_route_inbound(s, acc, NULL, &local, (struct mr_view){NULL, 0},
                            (struct mr_view){NULL, 0});
    return true;
}

void mr_gateway_note_sub(struct mr_server *s, const struct mr_account *acc,
                         const struct mr_sub *sub)
{
    if (s->gw.opts == NULL) {
        return;
    }
    uint64_t now = mr_server_now(s);
    GQueue *q = &s->gw.recent;
    while (q->length > 0) {
        struct gw_recent *old = g_queue_peek_head(q);
        if (q->length < GW_RECENT_MAX && now - old->at_ns < GW_RECENT_SUB_NS) {
            break;
        }
        g_queue_pop_head(q);
        g_free(old->subject);
        g_free(old);
    }
    struct gw_recent *e = g_new0(struct gw_recent, 1);
    e->acc = acc;
    e->subject = g_strndup(sub->subject, sub->subject_len);
    e->at_ns = now;
    g_queue_push_tail(q, e);
}

/* A reply subject matched by a subscription made here in the last 2 s is mapped, so
 * the answer comes straight back even before that interest has spread. */
static bool should_map_reply(struct mr_server *s, const struct mr_account *acc,
                             struct mr_view reply)
{
    uint64_t now = mr_server_now(s);
    for (GList *l = s->gw.recent.tail; l != NULL; l = l->prev) {
        const struct gw_recent *e = l->data;
        if (now - e->at_ns >= GW_RECENT_SUB_NS) {
            break;
        }
        if (e->acc == acc &&
            mr_subject_matches(e->subject, strlen(e->subject), reply.ptr, reply.len)) {
            return true;
        }
    }
    return false;
}

/* Appends v to a view array that starts in stack (of stack_cap) and moves to the heap
 * when it outgrows it. */
static void views_push(struct mr_view **arr, uint32_t *n, uint32_t *cap,
                       const struct mr_view *stack, struct mr_view v)
{
    if (*n == *cap) {
        uint32_t ncap = *cap * 2;
        struct mr_view *grown = g_new(struct mr_view, ncap);
        memcpy(grown, *arr, *n * sizeof(v));
        if (*arr != stack) {
            g_free(*arr);
        }
        *arr = grown;
        *cap = ncap;
    }
    (*arr)[(*n)++] = v;
}

static bool queue_served(const struct mr_view *served, uint32_t n, const char *q, uint32_t len)
{
    for (uint32_t i = 0; i < n; i++) {
        if (served[i].len == len && memcmp(served[i].ptr, q, len) == 0) {
            return true;
        }
    }
    return false;
}

uint32_t mr_gateway_send(struct mr_server *s, struct mr_account *acc, const struct mr_msg *m,
                         const struct mr_view *served, uint32_t served_count)
{
    struct mr_gateways *gw = &s->gw;
    if (gw->out_count == 0) {
        return 0;
    }
    /* Queue groups given to a gateway so far: served here, then by RTT order. */
    struct mr_view given_stack[16];
    struct mr_view *given = given_stack;
    uint32_t given_count = 0;
    uint32_t given_cap = 16;
    for (uint32_t i = 0; i < served_count; i++) {
        views_push(&given, &given_count, &given_cap, given_stack, served[i]);
    }
    char mapped_buf[MR_GW_REPLY_PREFIX_LEN + 256];
    char *mapped = NULL;
    bool checked_reply = false;
    uint32_t sent = 0;
    for (struct mr_gw_conn *g = gw->out_head; g != NULL; g = g->next) {
        if (g->conn->state != CONN_OPEN) {
            continue;
        }
        const struct mr_sublist_result *qr = NULL;
        bool psi = out_interest(g, acc->name, m->subject, &qr);
        struct mr_view queues[32];
        uint32_t nq = 0;
        for (uint32_t i = 0; qr != NULL && i < qr->qgroups_count && nq < 32; i++) {
            const struct mr_sublist_qgroup *qg = &qr->qgroups[i];
            if (queue_served(given, given_count, qg->queue, qg->queue_len)) {
                continue;
            }
            queues[nq++] = (struct mr_view){qg->queue, qg->queue_len};
            views_push(&given, &given_count, &given_cap, given_stack, queues[nq - 1]);
        }
        if (!psi && nq == 0) {
            continue;
        }
        struct mr_view reply = m->reply;
        if (reply.len > 0 && !checked_reply) {
            checked_reply = true;
            if (should_map_reply(s, acc, reply)) {
                size_t n = MR_GW_REPLY_PREFIX_LEN + reply.len;
                mapped = n <= sizeof(mapped_buf) ? mapped_buf : g_malloc(n);
                snprintf(mapped, MR_GW_REPLY_PREFIX_LEN + 1, "_GR_.%s.%s.", gw->cluster_hash,
                         gw->server_hash);
                memcpy(mapped + MR_GW_REPLY_PREFIX_LEN, reply.ptr, reply.len);
            }
        }
        if (mapped != NULL && !g->old_prefix) {
            reply = (struct mr_view){mapped, (uint32_t)(MR_GW_REPLY_PREFIX_LEN + m->reply.len)};
        }
        if (mr_send_rmsg(g->conn, g->headers, acc->name, m, reply, queues, nq)) {
            sent++;
        }
    }
    if (mapped != NULL && mapped != mapped_buf) {
        g_free(mapped);
    }
    if (given != given_stack) {
        g_free(given);
    }
    return sent;
}

/* ------------------------------------------------------------------------------------ */
/* Connections                                                                           */

static void gw_attach(struct mr_server *s, struct mr_conn *c, struct mr_gw_remote *r)
{
    struct mr_gw_conn *g = g_new0(struct mr_gw_conn, 1);
    g->conn = c;
    g->gid = ++s->gw.next_gid;
    g->outbound = r != NULL;
    g->remote = r;
    if (r != NULL) {
        snprintf(g->name, sizeof(g->name), "%s", r->name);
    }
    g->accounts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, outacc_free);
    c->gw = g;
    c->verbose = false;
    c->pedantic = false;
    c->headers = true;
    mr_parser_init(&c->parser, MR_PARSER_ROUTE, s->opts.max_control_line, MR_PAYLOAD_MAX);
}

static uint64_t gw_ping_ns(const struct mr_server *s)
{
    uint64_t iv = s->opts.ping_interval_ns;
    return iv < GW_PING_MAX_INTERVAL_NS ? iv : GW_PING_MAX_INTERVAL_NS;
}

uint64_t mr_gateway_ping_interval(const struct mr_server *s)
{
    return gw_ping_ns(s);
}

static bool start_gw_tls(struct mr_server *s, struct mr_conn *c)
{
    struct mr_gw_conn *g = c->gw;
    if (g->outbound ? g->remote->tls == NULL : !s->gw.opts->tls.enabled) {
        return false;
    }
    c->tls_pending = true;
    if (g->outbound) {
        struct mr_route_slot p = {0};
        (void)mr_route_parse_url(g->connect_url, &p);
        s->env->stream_start_tls_client(s->env->ctx, c->id, MR_TLS_GATEWAY, p.host);
    } else {
        s->env->stream_start_tls(s->env->ctx, c->id, MR_TLS_GATEWAY);
    }
    return true;
}

void mr_gateway_on_tls(struct mr_server *s, struct mr_conn *c)
{
    if (!c->gw->outbound) {
        send_gateway_info(s, c); /* the soliciting side speaks after our INFO */
    }
}

void mr_gateway_accept(struct mr_server *s, struct mr_conn *c)
{
    gw_attach(s, c, NULL);
    glog(s, MR_LOG_DEBUG, "%s:%u - gid:%llu - Processing inbound gateway connection", c->host,
         (unsigned)c->port, (unsigned long long)c->gw->gid);
    if (!start_gw_tls(s, c)) {
        send_gateway_info(s, c);
    }
    const struct mr_gateway_opts *o = s->gw.opts;
    uint64_t timeout = o->auth.timeout_ns != 0 ? o->auth.timeout_ns : s->opts.auth_timeout_ns;
    s->env->timer_arm(s->env->ctx, (c->id << TIMER_KIND_BITS) | TIMER_AUTH,
                      mr_server_now(s) + timeout);
    uint64_t first = gw_ping_ns(s) < MR_FIRST_PING_DELAY_NS ? gw_ping_ns(s)
                                                             : MR_FIRST_PING_DELAY_NS;
    mr_conn_arm_ping(c, first);
}

bool mr_gateway_on_connected(struct mr_server *s, uint64_t conn_id, int status)
{
    struct mr_gw_remote *r = NULL;
    for (guint i = 0; s->gw.remotes != NULL && i < s->gw.remotes->len; i++) {
        struct mr_gw_remote *x = g_ptr_array_index(s->gw.remotes, i);
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
        glog(s, MR_LOG_INFO, "Error connecting to gateway %s (attempt %u): %s", r->name,
             r->attempts, mr_err_text(status));
        remote_retry(s, r);
        return true;
    }
    if (s->shutting_down) {
        s->env->stream_close(s->env->ctx, conn_id);
        return true;
    }
    struct mr_route_slot peer = {0};
    (void)mr_route_parse_url(r->dial_url, &peer);
    struct mr_conn *c = mr_conn_new(s, conn_id, MR_CONN_GATEWAY, peer.host, peer.port);
    if (c == NULL) {
        remote_retry(s, r);
        return true;
    }
    gw_attach(s, c, r);
    snprintf(c->gw->connect_url, sizeof(c->gw->connect_url), "%s", r->dial_url);
    r->out = c;
    c->connect_received = true;
    glog(s, MR_LOG_INFO, "Creating outbound gateway connection to %s", r->name);
    (void)start_gw_tls(s, c);
    uint64_t first = gw_ping_ns(s) < MR_FIRST_PING_DELAY_NS ? gw_ping_ns(s)
                                                             : MR_FIRST_PING_DELAY_NS;
    mr_conn_arm_ping(c, first);
    return true;
}

void mr_gateway_process_op(struct mr_server *s, struct mr_conn *c, const struct mr_proto_op *op)
{
    struct mr_gw_conn *g = c->gw;
    if (!g->outbound && !g->connect_received && op->op != MR_OP_CONNECT) {
        /* nats-server: anything but CONNECT first on the gateway port. */
        mr_conn_send_err(c, "Authorization Violation");
        mr_conn_close(c, "Authorization Violation");
        return;
    }
    switch (op->op) {
    case MR_OP_CONNECT:
        if (!g->outbound && !g->connect_received) {
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
            mr_gateway_rtt_updated(s, c);
        }
        return;
    case MR_OP_OK:
        return;
    case MR_OP_ERR:
        glog(s, MR_LOG_WARN, "gateway %s sent -ERR '%.*s'", g->name, (int)op->json.len,
             op->json.ptr);
        mr_conn_close(c, "Gateway Error");
        return;
    default:
        break;
    }
    if (!g->registered) {
        mr_conn_send_err(c, "Authorization Violation");
        mr_conn_close(c, "Authorization Violation");
        return;
    }
    switch (op->op) {
    case MR_OP_RS_PLUS:
    case MR_OP_RS_MINUS:
        if (!g->outbound) {
            glog(s, MR_LOG_WARN, "Received %s from gateway %s on an inbound connection",
                 mr_parser_op_name(op->op), g->name);
            mr_conn_close(c, "Protocol Violation");
            return;
        }
        remote_sub(s, g, op);
        return;
    case MR_OP_A_PLUS:
    case MR_OP_A_MINUS: {
        struct mr_gw_outacc *e = g->outbound ? outacc(s, g, op->account, true) : NULL;
        if (e != NULL && e->mode == GW_OPTIMISTIC) {
            e->no_interest = op->op == MR_OP_A_MINUS;
        }
        return;
    }
    case MR_OP_RMSG:
    case MR_OP_RHMSG: {
        c->in_msgs++;
        c->in_bytes += op->size;
        s->stats.in_msgs++;
        s->stats.in_bytes += op->size;
        char name[256];
        if (op->account.len >= sizeof(name)) {
            return;
        }
        memcpy(name, op->account.ptr, op->account.len);
        name[op->account.len] = '\0';
        struct mr_account *acc = g_hash_table_lookup(s->accounts_by_name, name);
        if (acc == NULL) {
            return; /* interest-only peers only send what we asked for */
        }
        struct mr_msg m = {
            .subject = op->subject,
            .reply = op->reply,
            .hdr_len = op->hdr_len,
            .size = op->size,
            .payload = op->payload,
        };
        if (!mr_gateway_routed_reply(s, acc, &m)) {
            mr_server_route_from_gateway(s, acc, &m, op->queue);
        }
        return;
    }
    default:
        /* LS+/LS-/LMSG are route-only. */
        mr_conn_close(c, "Protocol Violation");
        return;
    }
}

void mr_gateway_reap(struct mr_server *s, struct mr_conn *c)
{
    struct mr_gw_conn *g = c->gw;
    struct mr_gateways *gw = &s->gw;
    if (g->registered) {
        g->registered = false;
        if (g->outbound) {
            list_remove(&gw->out_head, &gw->out_tail, g);
            gw->out_count--;
        } else {
            list_remove(&gw->in_head, &gw->in_tail, g);
            gw->in_count--;
        }
        glog(s, MR_LOG_INFO, "Gateway connection %s %s closed", g->outbound ? "to" : "from",
             g->name);
    }
    if (g->outbound && g->remote->out == c) {
        g->remote->out = NULL;
        if (!s->shutting_down) {
            remote_retry(s, g->remote);
        }
    }
}

void mr_gateway_conn_free(struct mr_server *s, struct mr_conn *c)
{
    (void)s;
    struct mr_gw_conn *g = c->gw;
    if (g == NULL) {
        return;
    }
    mr_assert(!g->registered);
    g_hash_table_destroy(g->accounts);
    g_free(g);
    c->gw = NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Lifecycle                                                                             */

void mr_gateway_init(struct mr_server *s)
{
    const struct mr_gateway_opts *o = s->opts.gateway;
    if (o == NULL || !o->present) {
        return;
    }
    struct mr_gateways *gw = &s->gw;
    gw->opts = o;
    snprintf(gw->name, sizeof(gw->name), "%s", o->name);
    mr_gateway_hash(o->name, gw->cluster_hash);
    mr_gateway_hash(s->server_id, gw->server_hash);
    gw->urls = g_ptr_array_new_with_free_func(g_free);
    gw->remotes = g_ptr_array_new_with_free_func(NULL);
    g_queue_init(&gw->recent);
    for (size_t i = 0; i < o->gateways_count; i++) {
        const struct mr_gateway_remote_opts *ro = &o->gateways[i];
        if (strcmp(ro->name, o->name) == 0) {
            continue; /* this cluster itself, as every region lists all of them */
        }
        struct mr_gw_remote *r = remote_add(s, ro->name, false);
        for (size_t k = 0; k < ro->urls.count; k++) {
            (void)add_url(r->urls, ro->urls.items[k]);
            struct mr_route_slot p = {0};
            if (r->user[0] == '\0' && mr_route_parse_url(ro->urls.items[k], &p) &&
                p.user[0] != '\0') {
                snprintf(r->user, sizeof(r->user), "%s", p.user);
                snprintf(r->pass, sizeof(r->pass), "%s", p.pass);
            }
        }
        if (ro->tls.enabled) {
            r->tls = &ro->tls;
        }
    }
}

int mr_gateway_start(struct mr_server *s)
{
    struct mr_gateways *gw = &s->gw;
    const struct mr_gateway_opts *o = gw->opts;
    if (o == NULL) {
        return MR_OK;
    }
    if (o->tls.enabled) {
        char err[MR_ERRMSG_MAX];
        int rc = s->env->tls_configure(s->env->ctx, MR_TLS_GATEWAY, &o->tls, err, sizeof(err));
        if (rc != MR_OK) {
            glog(s, MR_LOG_ERROR, "gateway TLS configuration error: %s", err);
            return rc;
        }
    }
    const char *host = o->host != NULL ? o->host : "0.0.0.0";
    uint16_t port = o->port < 0 ? 0 : (uint16_t)o->port;
    int rc = s->env->listen(s->env->ctx, MR_LISTENER_GATEWAY, host, port, &gw->port);
    if (rc != MR_OK) {
        glog(s, MR_LOG_ERROR, "Error listening on gateway port: %s:%u: %s", host, (unsigned)port,
             mr_err_text(rc));
        return rc;
    }
    gw->active = true;
    if (o->advertise != NULL) {
        struct mr_route_slot p = {0};
        if (mr_route_parse_url(o->advertise, &p)) {
            snprintf(gw->url, sizeof(gw->url), "%s:%u", p.host, (unsigned)p.port);
        }
    } else if (!wildcard_host(host)) {
        snprintf(gw->url, sizeof(gw->url), "%s:%u", host, (unsigned)gw->port);
    }
    if (gw->url[0] != '\0') {
        g_ptr_array_add(gw->urls, g_strdup(gw->url));
    }
    glog(s, MR_LOG_INFO, "Gateway name is %s", gw->name);
    glog(s, MR_LOG_INFO, "Listening for gateways connections on %s:%u", host,
         (unsigned)gw->port);
    for (guint i = 0; i < gw->remotes->len; i++) {
        remote_arm(s, g_ptr_array_index(gw->remotes, i), GW_SOLICIT_DELAY_NS);
    }
    return MR_OK;
}

void mr_gateway_shutdown(struct mr_server *s)
{
    struct mr_gateways *gw = &s->gw;
    if (!gw->active) {
        return;
    }
    s->env->unlisten(s->env->ctx, MR_LISTENER_GATEWAY);
    for (guint i = 0; i < gw->remotes->len; i++) {
        struct mr_gw_remote *r = g_ptr_array_index(gw->remotes, i);
        if (r->retry_armed) {
            s->env->timer_cancel(s->env->ctx, remote_timer(r));
            r->retry_armed = false;
        }
    }
}

void mr_gateway_deinit(struct mr_server *s)
{
    struct mr_gateways *gw = &s->gw;
    for (struct mr_account *a = s->accounts_head; a != NULL; a = a->next) {
        mr_interest_clear(&a->gw_interest);
    }
    if (gw->remotes != NULL) {
        for (guint i = 0; i < gw->remotes->len; i++) {
            struct mr_gw_remote *r = g_ptr_array_index(gw->remotes, i);
            g_ptr_array_free(r->urls, TRUE);
            g_free(r);
        }
        g_ptr_array_free(gw->remotes, TRUE);
        gw->remotes = NULL;
    }
    if (gw->urls != NULL) {
        g_ptr_array_free(gw->urls, TRUE);
        gw->urls = NULL;
    }
    while (gw->recent.length > 0) {
        struct gw_recent *e = g_queue_pop_head(&gw->recent);
        g_free(e->subject);
        g_free(e);
    }
}

static gint cmp_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

GPtrArray *mr_gateway_out_accounts(const struct mr_gw_conn *g)
{
    GPtrArray *names = g_ptr_array_new();
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, g->accounts);
    while (g_hash_table_iter_next(&it, &k, NULL)) {
        g_ptr_array_add(names, k);
    }
    g_ptr_array_sort(names, cmp_names); /* never hash order */
    return names;
}

void mr_gateway_out_account_info(const struct mr_gw_conn *g, const char *account,
                                 const char **mode, uint32_t *subs, uint32_t *qsubs)
{
    static const char *const names[] = {"Optimistic", "Transitioning", "Interest-Only"};
    const struct mr_gw_outacc *e = g_hash_table_lookup(g->accounts, account);
    *mode = names[e->mode];
    *subs = g_hash_table_size(e->subs);
    *qsubs = e->qsubs;
}

void mr_gateway_check(const struct mr_server *s)
{
    const struct mr_gateways *gw = &s->gw;
    for (const struct mr_account *a = s->accounts_head; a != NULL; a = a->next) {
        mr_interest_check(&a->gw_interest);
    }
    /* The simulator checks after every event: walk the lists only after a change. */
    if (gw->changes == gw->checked_at && gw->changes != 0) {
        return;
    }
    ((struct mr_gateways *)gw)->checked_at = gw->changes;
    uint32_t n = 0;
    const struct mr_gw_conn *prev = NULL;
    for (const struct mr_gw_conn *g = gw->out_head; g != NULL; g = g->next) {
        mr_assert(g->outbound && g->registered && g->prev == prev);
        mr_assert(g->conn->gw == g && g->remote->out == g->conn);
        for (const struct mr_gw_conn *h = gw->out_head; h != g; h = h->next) {
            mr_assert(strcmp(h->name, g->name) != 0);
        }
        prev = g;
        n++;
    }
    mr_assert(prev == gw->out_tail && n == gw->out_count);
    n = 0;
    prev = NULL;
    for (const struct mr_gw_conn *g = gw->in_head; g != NULL; g = g->next) {
        mr_assert(!g->outbound && g->registered && g->prev == prev);
        prev = g;
        n++;
    }
    mr_assert(prev == gw->in_tail && n == gw->in_count);
}
