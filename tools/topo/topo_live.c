/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Live mode (topo_live.h): a small blocking HTTP/1.0 GET over a socket, and the graph
 * built from what the monitoring endpoints report. Servers are read in a fixed order
 * (seeds as given, then followed peers as discovered) and drawn sorted by server id, so
 * two reads of an unchanged deployment draw the same nodes and edges.
 */
#include "tools/topo/topo_live.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/assert.h"

/* ---- HTTP --------------------------------------------------------------------------- */

bool topo_is_url(const char *arg)
{
    return g_str_has_prefix(arg, "http://") || g_str_has_prefix(arg, "https://");
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Splits http://host[:port][/] into host and port (80 when absent). */
static bool split_base(const char *base, char *host, size_t host_len, char *port,
                       size_t port_len)
{
    if (!g_str_has_prefix(base, "http://")) {
        return false;
    }
    const char *hp = base + strlen("http://");
    size_t end = strcspn(hp, "/");
    if (end == 0 || end >= 300) {
        return false;
    }
    char buf[300];
    memcpy(buf, hp, end);
    buf[end] = '\0';
    char *h = buf;
    char *colon = NULL;
    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (close == NULL) {
            return false;
        }
        *close = '\0';
        h = buf + 1;
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = strchr(buf, ':');
        if (colon != NULL) {
            *colon = '\0';
        }
    }
    g_strlcpy(host, h, host_len);
    g_strlcpy(port, colon != NULL ? colon + 1 : "80", port_len);
    return host[0] != '\0' && port[0] != '\0';
}

/* Connects to host:port within the deadline; returns the socket or -1 with err. */
static int dial(const char *host, const char *port, int64_t deadline_ms, char *err,
                size_t err_len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, err_len, "cannot resolve %s: %s", host, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    snprintf(err, err_len, "connect: no address");
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
        if (fd < 0) {
            snprintf(err, err_len, "socket: %s", strerror(errno));
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        if (errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int left = (int)(deadline_ms - now_ms());
            int n = left > 0 ? poll(&p, 1, left) : 0;
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (n == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) {
                break;
            }
            snprintf(err, err_len, "connect: %s", n == 0 ? "timed out" : strerror(soerr));
        } else {
            snprintf(err, err_len, "connect: %s", strerror(errno));
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int send_all(int fd, const char *buf, size_t len, int64_t deadline_ms, char *err,
                    size_t err_len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            snprintf(err, err_len, "send: %s", strerror(errno));
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int left = (int)(deadline_ms - now_ms());
        if (left <= 0 || poll(&p, 1, left) != 1) {
            snprintf(err, err_len, "send: timed out");
            return -1;
        }
    }
    return 0;
}

/* Reads until the peer closes (HTTP/1.0 without keep-alive ends that way). */
static int recv_all(int fd, GString *raw, int64_t deadline_ms, char *err, size_t err_len)
{
    char chunk[16384];
    for (;;) {
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n > 0) {
            g_string_append_len(raw, chunk, n);
            if (raw->len > TOPO_HTTP_BODY_MAX) {
                snprintf(err, err_len, "response larger than %d bytes", TOPO_HTTP_BODY_MAX);
                return -1;
            }
            continue;
        }
        if (n == 0) {
            return 0;
        }
        if (errno != EAGAIN && errno != EINTR) {
            snprintf(err, err_len, "recv: %s", strerror(errno));
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)(deadline_ms - now_ms());
        if (left <= 0 || poll(&p, 1, left) != 1) {
            snprintf(err, err_len, "no complete response within the timeout");
            return -1;
        }
    }
}

/* Status line and body of a raw response; -1 when it is not HTTP. */
static int parse_response(const GString *raw, int *status, GString *body)
{
    int major = 0;
    int minor = 0;
    int code = 0;
    if (sscanf(raw->str, "HTTP/%d.%d %d", &major, &minor, &code) != 3) {
        return -1;
    }
    const char *sep = strstr(raw->str, "\r\n\r\n");
    if (sep == NULL) {
        return -1;
    }
    *status = code;
    const char *b = sep + 4;
    g_string_append_len(body, b, (gssize)(raw->len - (size_t)(b - raw->str)));
    return 0;
}

int topo_http_get(const char *base, const char *path, int timeout_ms, int *status, GString *body,
                  char *err, size_t err_len)
{
    char host[256];
    char port[16];
    char why[512] = "";
    if (g_str_has_prefix(base, "https://")) {
        snprintf(err, err_len, "%s%s: https monitoring is not supported (use http://)", base,
                 path);
        return -1;
    }
    if (!split_base(base, host, sizeof(host), port, sizeof(port))) {
        snprintf(err, err_len, "%s: not a monitoring URL (expected http://HOST:PORT)", base);
        return -1;
    }
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : TOPO_HTTP_TIMEOUT_MS_DEFAULT);
    int fd = dial(host, port, deadline, why, sizeof(why));
    if (fd < 0) {
        snprintf(err, err_len, "%s%s: %s", base, path, why);
        return -1;
    }
    char *req = g_strdup_printf("GET %s HTTP/1.0\r\nHost: %s:%s\r\nAccept: application/json\r\n"
                                "Connection: close\r\n\r\n",
                                path, host, port);
    GString *raw = g_string_new(NULL);
    int rc = send_all(fd, req, strlen(req), deadline, why, sizeof(why));
    if (rc == 0) {
        rc = recv_all(fd, raw, deadline, why, sizeof(why));
    }
    if (rc == 0 && parse_response(raw, status, body) != 0) {
        snprintf(why, sizeof(why), "the reply is not an HTTP response");
        rc = -1;
    }
    if (rc != 0) {
        snprintf(err, err_len, "%s%s: %s", base, path, why);
    }
    close(fd);
    g_free(req);
    g_string_free(raw, TRUE);
    return rc;
}

/* ---- what one server reports -------------------------------------------------------- */

struct peer {
    char *remote_id; /* routes and gateways; NULL for leafs */
    char *gateway;   /* gateways: the remote cluster's gateway name */
    char *ip;
    int port;
    char *rtt;
    char *account; /* leafs */
};

struct observed {
    char *base;
    char *url_host;
    char *id;
    char *name;
    char *cluster;
    char *version;
    char *js_domain;
    bool js;
    int client_port;
    int leaf_port;
    GPtrArray *remote_urls; /* varz leaf.remotes[*].urls: "host:port" */
    GPtrArray *routes;      /* struct peer * */
    GPtrArray *gw_out;
    GPtrArray *gw_in;
    GPtrArray *leafs;
    char *node; /* the node id it is drawn as */
};

static void peer_free(gpointer p)
{
    struct peer *x = p;
    g_free(x->remote_id);
    g_free(x->gateway);
    g_free(x->ip);
    g_free(x->rtt);
    g_free(x->account);
    g_free(x);
}

static void observed_free(gpointer p)
{
    struct observed *o = p;
    g_free(o->base);
    g_free(o->url_host);
    g_free(o->id);
    g_free(o->name);
    g_free(o->cluster);
    g_free(o->version);
    g_free(o->js_domain);
    g_ptr_array_free(o->remote_urls, TRUE);
    g_ptr_array_free(o->routes, TRUE);
    g_ptr_array_free(o->gw_out, TRUE);
    g_ptr_array_free(o->gw_in, TRUE);
    g_ptr_array_free(o->leafs, TRUE);
    g_free(o->node);
    g_free(o);
}

static char *jdup(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL && s[0] != '\0' ? g_strdup(s) : NULL;
}

/* Numbers are decoded as reals (see get_json), so read them as numbers. */
static int jint(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    double d = json_is_number(v) ? json_number_value(v) : 0.0;
    return d > 0 && d < 1e9 ? (int)d : 0;
}

/* GETs path and parses the JSON object; NULL (and err) on failure, or a non-200. */
static json_t *get_json(const char *base, const char *path, int timeout_ms, char *err,
                        size_t err_len)
{
    int status = 0;
    GString *body = g_string_new(NULL);
    json_t *j = NULL;
    if (topo_http_get(base, path, timeout_ms, &status, body, err, err_len) == 0) {
        if (status != 200) {
            snprintf(err, err_len, "%s%s: HTTP status %d", base, path, status);
        } else {
            json_error_t je;
            /* nats-server's /jsz has unsigned 64-bit values (reserved_memory
             * 18446744073709551615) that jansson's signed integers refuse. */
            j = json_loadb(body->str, body->len, JSON_DECODE_INT_AS_REAL, &je);
            if (j == NULL || !json_is_object(j)) {
                snprintf(err, err_len, "%s%s: not a JSON object (%s at byte %d)", base, path,
                         j == NULL ? je.text : "another JSON value",
                         j == NULL ? je.position : 0);
                json_decref(j);
                j = NULL;
            }
        }
    }
    g_string_free(body, TRUE);
    return j;
}

static struct peer *peer_from_conn(json_t *c)
{
    struct peer *p = g_new0(struct peer, 1);
    p->ip = jdup(c, "ip");
    p->port = jint(c, "port");
    p->rtt = jdup(c, "rtt");
    return p;
}

static void read_varz(struct observed *o, json_t *v)
{
    o->id = jdup(v, "server_id");
    o->name = jdup(v, "server_name");
    o->client_port = jint(v, "port");
    json_t *cl = json_object_get(v, "cluster");
    o->cluster = jdup(cl, "name");
    if (o->cluster == NULL) {
        o->cluster = jdup(json_object_get(v, "gateway"), "name");
    }
    json_t *leaf = json_object_get(v, "leaf");
    o->leaf_port = jint(leaf, "port");
    json_t *remotes = json_object_get(leaf, "remotes");
    size_t i;
    json_t *r;
    json_array_foreach(remotes, i, r) {
        size_t k;
        json_t *u;
        json_array_foreach(json_object_get(r, "urls"), k, u) {
            if (json_is_string(u)) {
                g_ptr_array_add(o->remote_urls, g_strdup(json_string_value(u)));
            }
        }
    }
    const char *mv = json_string_value(json_object_get(v, "meridian_version"));
    const char *nv = json_string_value(json_object_get(v, "version"));
    if (mv != NULL) {
        o->version = g_strdup_printf("meridian-server %s", mv);
    } else if (nv != NULL) {
        o->version = g_strdup_printf("nats-server %s", nv);
    }
    json_t *js = json_object_get(json_object_get(v, "jetstream"), "config");
    if (json_is_object(js) && json_object_size(js) > 0) {
        o->js = true;
        o->js_domain = jdup(js, "domain");
    }
}

static void read_routez(struct observed *o, json_t *rz)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(rz, "routes"), i, r) {
        struct peer *p = peer_from_conn(r);
        p->remote_id = jdup(r, "remote_id");
        if (p->remote_id == NULL) {
            peer_free(p);
            continue;
        }
        g_ptr_array_add(o->routes, p);
    }
}

static void read_gatewayz(struct observed *o, json_t *gz)
{
    const char *name;
    json_t *g;
    /* jansson iterates objects in insertion order: the order of the server's JSON. */
    json_object_foreach(json_object_get(gz, "outbound_gateways"), name, g) {
        json_t *c = json_object_get(g, "connection");
        if (!json_is_object(c)) {
            continue;
        }
        struct peer *p = peer_from_conn(c);
        p->remote_id = jdup(c, "name");
        p->gateway = g_strdup(name);
        g_ptr_array_add(o->gw_out, p);
    }
    json_t *list;
    json_object_foreach(json_object_get(gz, "inbound_gateways"), name, list) {
        size_t i;
        json_array_foreach(list, i, g) {
            json_t *c = json_object_get(g, "connection");
            if (!json_is_object(c)) {
                continue;
            }
            struct peer *p = peer_from_conn(c);
            p->remote_id = jdup(c, "name");
            p->gateway = g_strdup(name);
            g_ptr_array_add(o->gw_in, p);
        }
    }
}

static void read_leafz(struct observed *o, json_t *lz)
{
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(lz, "leafs"), i, l) {
        struct peer *p = peer_from_conn(l);
        p->account = jdup(l, "account");
        g_ptr_array_add(o->leafs, p);
    }
}

/* ---- reading the deployment --------------------------------------------------------- */

struct live {
    const struct topo_live_opts *o;
    struct topo_graph *g;
    GPtrArray *queue;      /* base URLs to read (char *), in order */
    GHashTable *queued;    /* lookup only: base URLs already queued */
    GPtrArray *observed;   /* struct observed * */
    GPtrArray *streams_js; /* /jsz replies (json_t *) of observed servers */
};

static char *normalise_base(const char *url)
{
    char *b = g_strdup(url);
    size_t n = strlen(b);
    while (n > 0 && b[n - 1] == '/') {
        b[--n] = '\0';
    }
    return b;
}

static void enqueue(struct live *lv, const char *base)
{
    if (g_hash_table_contains(lv->queued, base)) {
        return;
    }
    char *copy = g_strdup(base);
    g_hash_table_add(lv->queued, copy);
    g_ptr_array_add(lv->queue, copy);
}

static void follow_peers(struct live *lv, const struct observed *o)
{
    if (lv->o->follow_port <= 0) {
        return;
    }
    GPtrArray *lists[] = {o->routes, o->gw_out, o->gw_in, o->leafs};
    for (size_t l = 0; l < G_N_ELEMENTS(lists); l++) {
        for (guint i = 0; i < lists[l]->len; i++) {
            const struct peer *p = g_ptr_array_index(lists[l], i);
            if (p->ip == NULL) {
                continue;
            }
            char *base = strchr(p->ip, ':') != NULL
                             ? g_strdup_printf("http://[%s]:%d", p->ip, lv->o->follow_port)
                             : g_strdup_printf("http://%s:%d", p->ip, lv->o->follow_port);
            enqueue(lv, base);
            g_free(base);
        }
    }
}

static bool already_observed(const struct live *lv, const char *id)
{
    for (guint i = 0; i < lv->observed->len; i++) {
        const struct observed *o = g_ptr_array_index(lv->observed, i);
        if (strcmp(o->id, id) == 0) {
            return true;
        }
    }
    return false;
}

/* Reads one server. Returns 0, or -1 with err when its /varz cannot be read. */
static int read_server(struct live *lv, const char *base, char *err, size_t err_len)
{
    int tmo = lv->o->timeout_ms;
    json_t *v = get_json(base, "/varz", tmo, err, err_len);
    if (v == NULL) {
        return -1;
    }
    struct observed *o = g_new0(struct observed, 1);
    o->base = g_strdup(base);
    char host[256];
    char port[16];
    o->url_host = split_base(base, host, sizeof(host), port, sizeof(port)) ? g_strdup(host)
                                                                            : g_strdup("");
    o->remote_urls = g_ptr_array_new_with_free_func(g_free);
    o->routes = g_ptr_array_new_with_free_func(peer_free);
    o->gw_out = g_ptr_array_new_with_free_func(peer_free);
    o->gw_in = g_ptr_array_new_with_free_func(peer_free);
    o->leafs = g_ptr_array_new_with_free_func(peer_free);
    read_varz(o, v);
    json_decref(v);
    if (o->id == NULL) {
        snprintf(err, err_len, "%s/varz: no server_id (is this a NATS monitoring port?)", base);
        observed_free(o);
        return -1;
    }
    if (already_observed(lv, o->id)) {
        observed_free(o); /* two URLs of one server */
        return 0;
    }
    /* The other endpoints are optional: a server without routes still answers them, and
     * an older or partial one may not; what it does not answer is simply not drawn. */
    char ignored[TOPO_ERR_MAX];
    json_t *j = get_json(base, "/routez", tmo, ignored, sizeof(ignored));
    if (j != NULL) {
        read_routez(o, j);
        json_decref(j);
    }
    j = get_json(base, "/gatewayz", tmo, ignored, sizeof(ignored));
    if (j != NULL) {
        read_gatewayz(o, j);
        json_decref(j);
    }
    j = get_json(base, "/leafz", tmo, ignored, sizeof(ignored));
    if (j != NULL) {
        read_leafz(o, j);
        json_decref(j);
    }
    j = get_json(base, "/jsz?accounts=true&streams=true&config=true", tmo, ignored,
                 sizeof(ignored));
    if (j != NULL) {
        g_ptr_array_add(lv->streams_js, j);
    }
    g_ptr_array_add(lv->observed, o);
    follow_peers(lv, o);
    return 0;
}

/* ---- drawing ------------------------------------------------------------------------ */

static gint cmp_observed(gconstpointer pa, gconstpointer pb)
{
    const struct observed *a = *(const struct observed *const *)pa;
    const struct observed *b = *(const struct observed *const *)pb;
    return strcmp(a->id, b->id);
}

static const struct observed *observed_by_id(const struct live *lv, const char *id)
{
    for (guint i = 0; i < lv->observed->len; i++) {
        const struct observed *o = g_ptr_array_index(lv->observed, i);
        if (strcmp(o->id, id) == 0) {
            return o;
        }
    }
    return NULL;
}

/* Node ids: the server name when no other observed server has it, else the id. */
static void name_nodes(struct live *lv)
{
    for (guint i = 0; i < lv->observed->len; i++) {
        struct observed *o = g_ptr_array_index(lv->observed, i);
        bool unique = o->name != NULL;
        for (guint k = 0; k < lv->observed->len && unique; k++) {
            const struct observed *x = g_ptr_array_index(lv->observed, k);
            unique = x == o || x->name == NULL || strcmp(x->name, o->name) != 0;
        }
        o->node = g_strdup(unique ? o->name : o->id);
    }
}

/* The node of a server id: observed, or an external one created in cluster. */
static const char *node_for(struct live *lv, const char *id, const char *cluster)
{
    const struct observed *o = observed_by_id(lv, id);
    if (o != NULL) {
        return o->node;
    }
    struct topo_server *s = topo_graph_find_server(lv->g, id);
    if (s == NULL) {
        s = topo_graph_server(lv->g, id);
        s->external = true;
        char *label = g_strdup_printf("%.10s...", id);
        topo_server_set_label(s, label);
        g_free(label);
        topo_server_add_note(s, "not observed");
        if (cluster != NULL) {
            topo_server_set_cluster(s, cluster);
            topo_graph_box(lv->g, TOPO_BOX_CLUSTER, cluster);
        }
    }
    return s->id;
}

static void draw_servers(struct live *lv)
{
    for (guint i = 0; i < lv->observed->len; i++) {
        const struct observed *o = g_ptr_array_index(lv->observed, i);
        struct topo_server *s = topo_graph_server(lv->g, o->node);
        if (o->cluster != NULL) {
            topo_server_set_cluster(s, o->cluster);
            topo_graph_box(lv->g, TOPO_BOX_CLUSTER, o->cluster);
        }
        if (o->version != NULL) {
            topo_server_add_note(s, "%s", o->version);
        }
        topo_server_add_note(s, "%s", o->base);
        if (o->js) {
            if (o->js_domain != NULL) {
                topo_server_add_note(s, "JetStream, domain %s", o->js_domain);
            } else {
                topo_server_add_note(s, "JetStream");
            }
        }
    }
}

static void draw_routes_gateways(struct live *lv)
{
    for (guint i = 0; i < lv->observed->len; i++) {
        const struct observed *o = g_ptr_array_index(lv->observed, i);
        for (guint k = 0; k < o->routes->len; k++) {
            const struct peer *p = g_ptr_array_index(o->routes, k);
            const char *peer = node_for(lv, p->remote_id, o->cluster);
            topo_graph_edge(lv->g, TOPO_EDGE_ROUTE, o->node, peer, p->rtt, false);
        }
        for (guint k = 0; k < o->gw_out->len; k++) {
            const struct peer *p = g_ptr_array_index(o->gw_out, k);
            if (p->remote_id == NULL) {
                continue;
            }
            const char *peer = node_for(lv, p->remote_id, p->gateway);
            topo_graph_edge(lv->g, TOPO_EDGE_GATEWAY, o->node, peer, p->rtt, true);
        }
    }
    /* Inbound connections whose other side no seed described. */
    for (guint i = 0; i < lv->observed->len; i++) {
        const struct observed *o = g_ptr_array_index(lv->observed, i);
        for (guint k = 0; k < o->gw_in->len; k++) {
            const struct peer *p = g_ptr_array_index(o->gw_in, k);
            if (p->remote_id == NULL) {
                continue;
            }
            const char *peer = node_for(lv, p->remote_id, p->gateway);
            topo_graph_edge(lv->g, TOPO_EDGE_GATEWAY, peer, o->node, p->rtt, true);
        }
    }
}

static bool loopback(const char *h)
{
    return strcmp(h, "127.0.0.1") == 0 || strcmp(h, "::1") == 0 ||
           strcmp(h, "localhost") == 0 || strcmp(h, "0.0.0.0") == 0;
}

static bool same_host(const char *a, const char *b)
{
    return strcmp(a, b) == 0 || (loopback(a) && loopback(b));
}

/* The observed hub a leaf entry (ip:port as the leaf sees it) is connected to. */
static const struct observed *leaf_hub(const struct live *lv, const struct observed *self,
                                       const struct peer *p)
{
    for (guint i = 0; i < lv->observed->len; i++) {
        const struct observed *h = g_ptr_array_index(lv->observed, i);
        if (h != self && h->leaf_port > 0 && h->leaf_port == p->port && p->ip != NULL &&
            same_host(p->ip, h->url_host)) {
            return h;
        }
    }
    return NULL;
}

/* Whether a leaf entry is one this server solicited to a hub nobody described (its
 * address is one of the server's leaf remote URLs). */
static bool solicited_elsewhere(const struct observed *o, const struct peer *p)
{
    for (guint i = 0; i < o->remote_urls->len; i++) {
        char *want = g_strdup_printf("%s:%d", p->ip != NULL ? p->ip : "", p->port);
        bool hit = strcmp(g_ptr_array_index(o->remote_urls, i), want) == 0;
        g_free(want);
        if (hit) {
            return true;
        }
    }
    return false;
}

static void draw_leafs(struct live *lv)
{
    /* Per hub: solicited links already drawn into it from observed leafs, which account
     * for that many of the hub's accepted entries. */
    GHashTable *drawn_into = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < lv->observed->len; i++) {
        const struct observed *o = g_ptr_array_index(lv->observed, i);
        for (guint k = 0; k < o->leafs->len; k++) {
            const struct peer *p = g_ptr_array_index(o->leafs, k);
            const struct observed *hub = leaf_hub(lv, o, p);
            const char *account = p->account != NULL ? p->account : "$G";
            if (hub != NULL) {
                topo_graph_edge(lv->g, TOPO_EDGE_LEAF, o->node, hub->node, account, true);
                guint n = GPOINTER_TO_UINT(g_hash_table_lookup(drawn_into, hub->id));
                g_hash_table_insert(drawn_into, hub->id, GUINT_TO_POINTER(n + 1));
            } else if (solicited_elsewhere(o, p)) {
                char *id = g_strdup_printf("%s:%d", p->ip, p->port);
                struct topo_server *x = topo_graph_server(lv->g, id);
                x->external = true;
                topo_server_add_note(x, "leaf hub, not observed");
                topo_graph_edge(lv->g, TOPO_EDGE_LEAF, o->node, id, account, true);
                g_free(id);
            }
        }
    }
    /* Accepted entries not explained by an observed leaf: leafs nobody described. */
    for (guint i = 0; i < lv->observed->len; i++) {
        const struct observed *o = g_ptr_array_index(lv->observed, i);
        guint explained = GPOINTER_TO_UINT(g_hash_table_lookup(drawn_into, o->id));
        for (guint k = 0; k < o->leafs->len; k++) {
            const struct peer *p = g_ptr_array_index(o->leafs, k);
            if (leaf_hub(lv, o, p) != NULL || solicited_elsewhere(o, p)) {
                continue; /* this server's own solicited link */
            }
            if (explained > 0) {
                explained--;
                continue;
            }
            char *id = g_strdup_printf("leaf %s:%d", p->ip != NULL ? p->ip : "?", p->port);
            struct topo_server *x = topo_graph_server(lv->g, id);
            x->external = true;
            topo_server_add_note(x, "not observed");
            topo_graph_edge(lv->g, TOPO_EDGE_LEAF, id, o->node,
                            p->account != NULL ? p->account : "$G", true);
            g_free(id);
        }
    }
    g_hash_table_destroy(drawn_into);
}

/* The node of a server named in /jsz (nats-server names leaders by server name). */
static const char *node_by_name(const struct live *lv, const char *name)
{
    for (guint i = 0; i < lv->observed->len; i++) {
        const struct observed *o = g_ptr_array_index(lv->observed, i);
        if (o->name != NULL && strcmp(o->name, name) == 0) {
            return o->node;
        }
    }
    return NULL;
}

static void draw_streams(struct live *lv)
{
    for (guint i = 0; i < lv->streams_js->len; i++) {
        json_t *jz = g_ptr_array_index(lv->streams_js, i);
        size_t ai;
        json_t *acc;
        json_array_foreach(json_object_get(jz, "account_details"), ai, acc) {
            const char *account = json_string_value(json_object_get(acc, "name"));
            size_t si;
            json_t *sd;
            json_array_foreach(json_object_get(acc, "stream_detail"), si, sd) {
                const char *name = json_string_value(json_object_get(sd, "name"));
                if (name == NULL) {
                    continue;
                }
                struct topo_stream *st = topo_graph_stream(lv->g, account, name);
                json_t *cl = json_object_get(sd, "cluster");
                const char *leader = json_string_value(json_object_get(cl, "leader"));
                const char *cname = json_string_value(json_object_get(cl, "name"));
                if (leader != NULL && st->leader == NULL && node_by_name(lv, leader) != NULL) {
                    st->leader = g_strdup(node_by_name(lv, leader));
                }
                if (cname != NULL && st->cluster == NULL &&
                    topo_graph_find_box(lv->g, TOPO_BOX_CLUSTER, cname) != NULL) {
                    st->cluster = g_strdup(cname);
                }
                json_t *cfg = json_object_get(sd, "config");
                if (st->replicas == 0) {
                    st->replicas = jint(cfg, "num_replicas");
                }
                const char *mirror =
                    json_string_value(json_object_get(json_object_get(cfg, "mirror"), "name"));
                if (mirror != NULL && st->mirror == NULL) {
                    st->mirror = g_strdup(mirror);
                }
                size_t ki;
                json_t *src;
                json_array_foreach(json_object_get(cfg, "sources"), ki, src) {
                    const char *sn = json_string_value(json_object_get(src, "name"));
                    bool seen = sn == NULL;
                    for (guint x = 0; x < st->sources->len && !seen; x++) {
                        seen = strcmp(g_ptr_array_index(st->sources, x), sn) == 0;
                    }
                    if (!seen) {
                        g_ptr_array_add(st->sources, g_strdup(sn));
                    }
                }
            }
        }
    }
}

int topo_from_live(struct topo_graph *g, const struct topo_live_opts *o, char *err,
                   size_t err_len)
{
    mr_assert(o->seeds_count > 0);
    struct live lv = {
        .o = o,
        .g = g,
        .queue = g_ptr_array_new(),
        .queued = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
        .observed = g_ptr_array_new_with_free_func(observed_free),
        .streams_js = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref),
    };
    int rc = 0;
    for (size_t i = 0; i < o->seeds_count; i++) {
        char *base = normalise_base(o->seeds[i]);
        enqueue(&lv, base);
        g_free(base);
    }
    for (guint i = 0; i < lv.queue->len; i++) {
        if (lv.observed->len >= TOPO_LIVE_SERVERS_MAX) {
            topo_graph_add_note(g, "stopped after %d servers", TOPO_LIVE_SERVERS_MAX);
            break;
        }
        const char *base = g_ptr_array_index(lv.queue, i);
        char why[TOPO_ERR_MAX];
        if (read_server(&lv, base, why, sizeof(why)) != 0) {
            if (i < o->seeds_count) {
                g_strlcpy(err, why, err_len);
                rc = -1;
                break;
            }
            topo_graph_add_note(g, "not read: %s", why);
        }
    }
    if (rc == 0) {
        g_ptr_array_sort(lv.observed, cmp_observed);
        name_nodes(&lv);
        draw_servers(&lv);
        draw_routes_gateways(&lv);
        draw_leafs(&lv);
        draw_streams(&lv);
    }
    g_ptr_array_free(lv.queue, TRUE);
    g_hash_table_destroy(lv.queued);
    g_ptr_array_free(lv.observed, TRUE);
    g_ptr_array_free(lv.streams_js, TRUE);
    return rc;
}
