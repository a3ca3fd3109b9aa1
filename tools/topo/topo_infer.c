/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inference of a topology from server configurations (topo_infer.h). Both input modes
 * (config files, a scenario) reduce to one list of specs, a server each with its
 * loaded config, cluster and region; the connections are inferred from that list only,
 * so both modes draw the same thing for the same configs.
 */
#include "tools/topo/topo_infer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/conf/conf_server.h"
#include "core/err.h"

#define LEAF_PORT_DEFAULT 7422
#define GATEWAY_PORT_DEFAULT 7222

/* ---- file io ------------------------------------------------------------------------ */

static int file_read(void *ctx, const char *path, char **data, size_t *len, char *err,
                     size_t err_len)
{
    (void)ctx; /* paths are relative to the working directory */
    gchar *buf = NULL;
    gsize n = 0;
    GError *ge = NULL;
    if (!g_file_get_contents(path, &buf, &n, &ge)) {
        int rc = g_error_matches(ge, G_FILE_ERROR, G_FILE_ERROR_NOENT) ? MR_E_NOT_FOUND
                                                                         : MR_E_IO;
        snprintf(err, err_len, "%s", ge->message);
        g_error_free(ge);
        return rc;
    }
    if (n > MR_CONF_FILE_BYTES_MAX) {
        snprintf(err, err_len, "%s is larger than %d bytes", path, MR_CONF_FILE_BYTES_MAX);
        g_free(buf);
        return MR_E_LIMIT;
    }
    /* The parser frees with free(): hand it a malloc'd copy. */
    char *copy = malloc(n + 1);
    if (copy == NULL) {
        abort(); /* out of memory, as g_malloc would */
    }
    memcpy(copy, buf, n);
    copy[n] = '\0';
    g_free(buf);
    *data = copy;
    *len = n;
    return 0;
}

static const char *env_get(void *ctx, const char *name)
{
    (void)ctx; /* config files may use the process environment, as nats-server's do */
    return getenv(name);
}

static const struct mr_conf_io file_io = {NULL, file_read, env_get};

const struct mr_conf_io *topo_conf_file_io(void)
{
    return &file_io;
}

int topo_file_is_scenario(const char *path, char *err, size_t err_len)
{
    struct mr_conf_value *root = NULL;
    if (mr_conf_parse_file(path, &file_io, &root, err, err_len) != 0) {
        return -1;
    }
    struct mr_conf_value *servers = mr_conf_get(root, "servers");
    struct mr_conf_value *regions = mr_conf_get(root, "regions");
    bool scenario = (servers != NULL && servers->type == MR_CONF_MAP) ||
                    (regions != NULL && regions->type == MR_CONF_MAP);
    mr_conf_free(root);
    return scenario ? 1 : 0;
}

/* ---- the common inference ----------------------------------------------------------- */

struct spec {
    char *id;
    char *cluster;       /* box name, or NULL */
    const char *region;  /* borrowed from the scenario, or NULL */
    const struct mr_config *cfg; /* borrowed */
    char *file;          /* config mode: the file's base name; owned */
    int copy;            /* config mode: 1-based copy of the file, 0 = one server */
    int copies;
    size_t route_hosts;  /* distinct route URL hosts, for the note of a lone server */
};

struct infer {
    struct topo_graph *g;
    GPtrArray *specs;              /* struct spec * */
    const struct sim_scenario *sc; /* NULL in config mode */
};

static void spec_free(gpointer p)
{
    struct spec *s = p;
    g_free(s->id);
    g_free(s->cluster);
    g_free(s->file);
    g_free(s);
}

/* Host and port of a URL (nats://user:pw@host:port); port = def when absent. */
static bool url_host_port(const char *url, char *host, size_t host_len, int *port, int def)
{
    const char *rest = strstr(url, "://");
    rest = rest != NULL ? rest + 3 : url;
    const char *at = strrchr(rest, '@');
    if (at != NULL) {
        rest = at + 1;
    }
    size_t end = strcspn(rest, "/?#");
    char hp[300];
    if (end == 0 || end >= sizeof(hp)) {
        return false;
    }
    memcpy(hp, rest, end);
    hp[end] = '\0';
    char *colon = NULL;
    char *h = hp;
    if (hp[0] == '[') { /* [ipv6]:port */
        char *close = strchr(hp, ']');
        if (close == NULL) {
            return false;
        }
        *close = '\0';
        h = hp + 1;
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = strrchr(hp, ':');
        if (colon != NULL) {
            *colon = '\0';
        }
    }
    *port = def;
    if (colon != NULL) {
        char *endp = NULL;
        long p = strtol(colon + 1, &endp, 10);
        if (*endp != '\0' || p <= 0 || p > 65535) {
            return false;
        }
        *port = (int)p;
    }
    g_strlcpy(host, h, host_len);
    return host[0] != '\0';
}

/* A host that names no particular machine: the URL only makes sense on the host that
 * runs it (the examples use 0.0.0.0 for "the hub next door"). */
static bool host_is_anywhere(const char *host)
{
    static const char *const any[] = {"0.0.0.0", "127.0.0.1", "localhost", "::", "::1"};
    for (size_t i = 0; i < G_N_ELEMENTS(any); i++) {
        if (g_ascii_strcasecmp(host, any[i]) == 0) {
            return true;
        }
    }
    return false;
}

static const char *server_name_of(const struct mr_config *cfg)
{
    return cfg->server.server_name[0] != '\0' ? cfg->server.server_name : NULL;
}

/* The box a server sits in: its cluster name, else its gateway name. */
static char *cluster_of(const struct mr_config *cfg)
{
    if (cfg->cluster.present && cfg->cluster.name != NULL) {
        return g_strdup(cfg->cluster.name);
    }
    if (cfg->gateway.present && cfg->gateway.name != NULL) {
        return g_strdup(cfg->gateway.name);
    }
    return NULL;
}

static void ports_note(struct topo_server *s, const struct mr_config *cfg)
{
    GString *line = g_string_new(NULL);
    int client = cfg->server.port > 0 ? cfg->server.port : 4222;
    g_string_append_printf(line, "client %d", client);
    if (cfg->cluster.present && cfg->cluster.port > 0) {
        g_string_append_printf(line, ", cluster %d", cfg->cluster.port);
    }
    if (cfg->gateway.present && cfg->gateway.port > 0) {
        g_string_append_printf(line, ", gateway %d", cfg->gateway.port);
    }
    if (cfg->leafnodes.present && cfg->leafnodes.port > 0) {
        g_string_append_printf(line, ", leaf %d", cfg->leafnodes.port);
    }
    topo_server_add_note(s, "%s", line->str);
    g_string_free(line, TRUE);
}

static void add_servers(struct infer *in)
{
    for (guint i = 0; i < in->specs->len; i++) {
        const struct spec *sp = g_ptr_array_index(in->specs, i);
        struct topo_server *s = topo_graph_server(in->g, sp->id);
        if (sp->cluster != NULL) {
            topo_server_set_cluster(s, sp->cluster);
            topo_graph_box(in->g, TOPO_BOX_CLUSTER, sp->cluster);
        }
        if (sp->region != NULL) {
            topo_server_set_region(s, sp->region);
        }
        if (sp->file != NULL) {
            if (sp->copies > 1) {
                topo_server_add_note(s, "%s (%d of %d)", sp->file, sp->copy, sp->copies);
            } else {
                topo_server_add_note(s, "%s", sp->file);
            }
        }
        ports_note(s, sp->cfg);
        const struct mr_jetstream_opts *js = &sp->cfg->jetstream;
        if (js->present && js->enabled) {
            if (js->domain != NULL) {
                topo_server_add_note(s, "JetStream, domain %s", js->domain);
            } else {
                topo_server_add_note(s, "JetStream");
            }
        }
    }
}

static size_t cluster_size(const struct infer *in, const char *cluster)
{
    size_t n = 0;
    for (guint i = 0; i < in->specs->len; i++) {
        const struct spec *sp = g_ptr_array_index(in->specs, i);
        if (sp->cluster != NULL && strcmp(sp->cluster, cluster) == 0) {
            n++;
        }
    }
    return n;
}

/* Routes: NATS meshes every server of a cluster with every other. */
static void add_routes(struct infer *in)
{
    for (guint i = 0; i < in->specs->len; i++) {
        const struct spec *a = g_ptr_array_index(in->specs, i);
        if (!a->cfg->cluster.present || a->cluster == NULL) {
            continue;
        }
        if (cluster_size(in, a->cluster) == 1 && a->route_hosts > 0) {
            /* One server of a cluster drawn: say what the file says about the rest. */
            struct topo_server *s = topo_graph_server(in->g, a->id);
            topo_server_add_note(s, "routes to %zu URL%s", a->cfg->cluster.routes.count,
                                 a->cfg->cluster.routes.count == 1 ? "" : "s");
        }
        for (guint k = i + 1; k < in->specs->len; k++) {
            const struct spec *b = g_ptr_array_index(in->specs, k);
            if (b->cfg->cluster.present && b->cluster != NULL &&
                strcmp(a->cluster, b->cluster) == 0) {
                topo_graph_edge(in->g, TOPO_EDGE_ROUTE, a->id, b->id, NULL, false);
            }
        }
    }
}

/* The one-way latency between two regions of the scenario, or 0 (same region, no link,
 * config mode). */
static uint64_t region_latency(const struct infer *in, const char *ra, const char *rb)
{
    if (in->sc == NULL || ra == NULL || rb == NULL || strcmp(ra, rb) == 0) {
        return 0;
    }
    for (size_t i = 0; i < in->sc->links_count; i++) {
        const struct sim_sc_link *l = &in->sc->links[i];
        if ((strcmp(l->a, ra) == 0 && strcmp(l->b, rb) == 0) ||
            (strcmp(l->a, rb) == 0 && strcmp(l->b, ra) == 0)) {
            return l->latency_ns;
        }
    }
    return 0;
}

/* The region every server of cluster sits in, or NULL. */
static const char *cluster_region(const struct infer *in, const char *cluster)
{
    const char *region = NULL;
    for (guint i = 0; i < in->specs->len; i++) {
        const struct spec *sp = g_ptr_array_index(in->specs, i);
        if (sp->cluster == NULL || strcmp(sp->cluster, cluster) != 0) {
            continue;
        }
        if (sp->region == NULL || (region != NULL && strcmp(region, sp->region) != 0)) {
            return NULL;
        }
        region = sp->region;
    }
    return region;
}

static char *latency_label(uint64_t ns)
{
    if (ns == 0) {
        return NULL;
    }
    char buf[32];
    topo_format_latency(ns, buf, sizeof(buf));
    return g_strdup(buf);
}

static bool cluster_known(const struct infer *in, const char *name)
{
    return cluster_size(in, name) > 0;
}

/* Gateways: one edge per pair of clusters that name each other (or one names the
 * other); a named cluster that is not in the inputs becomes an external box. */
static void add_gateways(struct infer *in)
{
    for (guint i = 0; i < in->specs->len; i++) {
        const struct spec *sp = g_ptr_array_index(in->specs, i);
        const struct mr_gateway_opts *gw = &sp->cfg->gateway;
        if (!gw->present || sp->cluster == NULL) {
            continue;
        }
        for (size_t k = 0; k < gw->gateways_count; k++) {
            const struct mr_gateway_remote_opts *r = &gw->gateways[k];
            if (r->name == NULL || strcmp(r->name, sp->cluster) == 0 ||
                (gw->name != NULL && strcmp(r->name, gw->name) == 0)) {
                continue; /* a server ignores the entry with its own name */
            }
            if (!cluster_known(in, r->name)) {
                char *id = g_strdup_printf("gateway:%s", r->name);
                struct topo_server *x = topo_graph_server(in->g, id);
                g_free(id);
                x->external = true;
                topo_server_set_label(x, r->name);
                topo_server_set_cluster(x, r->name);
                topo_server_add_note(x, "not in the inputs");
                for (size_t u = 0; u < r->urls.count; u++) {
                    char host[256];
                    int port = 0;
                    if (url_host_port(r->urls.items[u], host, sizeof(host), &port,
                                      GATEWAY_PORT_DEFAULT)) {
                        topo_server_add_note(x, "%s:%d", host, port);
                    }
                }
                struct topo_box *b = topo_graph_box(in->g, TOPO_BOX_CLUSTER, r->name);
                if (b->label == NULL) {
                    b->label = g_strdup_printf("cluster %s (external)", r->name);
                }
            }
            char *a = g_strdup_printf("cluster:%s", sp->cluster);
            char *b = g_strdup_printf("cluster:%s", r->name);
            const char *rb = cluster_known(in, r->name) ? cluster_region(in, r->name) : NULL;
            char *label = latency_label(region_latency(in, cluster_region(in, sp->cluster), rb));
            topo_graph_edge(in->g, TOPO_EDGE_GATEWAY, a, b, label, false);
            g_free(label);
            g_free(a);
            g_free(b);
        }
    }
}

static const struct spec *spec_by_id(const struct infer *in, const char *id)
{
    for (guint i = 0; i < in->specs->len; i++) {
        const struct spec *sp = g_ptr_array_index(in->specs, i);
        if (strcmp(sp->id, id) == 0) {
            return sp;
        }
    }
    return NULL;
}

/* Adds the specs a host name stands for to out: a server's id or server_name, or a
 * scenario's shared name {}. */
static void resolve_name(const struct infer *in, const char *host, GPtrArray *out)
{
    for (guint i = 0; i < in->specs->len; i++) {
        const struct spec *sp = g_ptr_array_index(in->specs, i);
        const char *sn = server_name_of(sp->cfg);
        if (g_ascii_strcasecmp(sp->id, host) == 0 ||
            (sn != NULL && g_ascii_strcasecmp(sn, host) == 0)) {
            g_ptr_array_add(out, (gpointer)sp);
            return;
        }
    }
    if (in->sc == NULL) {
        return;
    }
    for (size_t i = 0; i < in->sc->names_count; i++) {
        const struct sim_sc_name *nm = &in->sc->names[i];
        if (g_ascii_strcasecmp(nm->name, host) != 0) {
            continue;
        }
        for (size_t k = 0; k < nm->servers.count; k++) {
            const struct spec *sp = spec_by_id(in, nm->servers.items[k]);
            if (sp != NULL) {
                g_ptr_array_add(out, (gpointer)sp);
            }
        }
        return;
    }
}

/* The end a set of candidate hubs stands for: the one server, or their cluster box when
 * they all share one and it holds more than them alone... or NULL when ambiguous. */
static char *end_of(const struct infer *in, GPtrArray *cands)
{
    if (cands->len == 0) {
        return NULL;
    }
    const struct spec *first = g_ptr_array_index(cands, 0);
    if (cands->len == 1) {
        return g_strdup(first->id);
    }
    for (guint i = 1; i < cands->len; i++) {
        const struct spec *sp = g_ptr_array_index(cands, i);
        if (sp->cluster == NULL || first->cluster == NULL ||
            strcmp(sp->cluster, first->cluster) != 0) {
            return NULL;
        }
    }
    (void)in;
    return g_strdup_printf("cluster:%s", first->cluster);
}

/* The hub a leaf remote URL reaches (a server id or "cluster:NAME"), or NULL. */
static char *resolve_leaf(const struct infer *in, const struct spec *self, const char *host,
                          int port)
{
    GPtrArray *cands = g_ptr_array_new();
    resolve_name(in, host, cands);
    if (cands->len == 0) {
        /* By port: the servers (not self) whose leafnodes listener uses it. On a shared
         * name that does not resolve here, it is the best remaining evidence. */
        for (guint i = 0; i < in->specs->len; i++) {
            const struct spec *sp = g_ptr_array_index(in->specs, i);
            if (sp != self && sp->cfg->leafnodes.present && sp->cfg->leafnodes.port == port) {
                g_ptr_array_add(cands, (gpointer)sp);
            }
        }
    }
    char *end = end_of(in, cands);
    g_ptr_array_free(cands, TRUE);
    return end;
}

static const char *end_region(const struct infer *in, const char *end)
{
    if (g_str_has_prefix(end, "cluster:")) {
        return cluster_region(in, end + strlen("cluster:"));
    }
    const struct spec *sp = spec_by_id(in, end);
    return sp != NULL ? sp->region : NULL;
}

static void add_leafs(struct infer *in)
{
    for (guint i = 0; i < in->specs->len; i++) {
        const struct spec *sp = g_ptr_array_index(in->specs, i);
        const struct mr_leafnode_opts *lo = &sp->cfg->leafnodes;
        if (!lo->present) {
            continue;
        }
        for (size_t k = 0; k < lo->remotes_count; k++) {
            const struct mr_leafnode_remote_opts *r = &lo->remotes[k];
            if (r->urls.count == 0 || r->disabled) {
                continue;
            }
            char host[256];
            int port = 0;
            char *end = NULL;
            if (url_host_port(r->urls.items[0], host, sizeof(host), &port, LEAF_PORT_DEFAULT)) {
                end = resolve_leaf(in, sp, host, port);
            } else {
                g_strlcpy(host, r->urls.items[0], sizeof(host));
            }
            if (end == NULL) {
                end = g_strdup_printf("%s:%d", host, port);
                struct topo_server *x = topo_graph_server(in->g, end);
                x->external = true;
                topo_server_add_note(x, "leaf hub (not in the inputs)");
            }
            const char *account = r->account != NULL ? r->account : "$G";
            uint64_t lat = region_latency(in, sp->region, end_region(in, end));
            char *label;
            if (lat > 0) {
                char buf[32];
                topo_format_latency(lat, buf, sizeof(buf));
                label = g_strdup_printf("%s, %s", account, buf);
            } else {
                label = g_strdup(account);
            }
            /* One edge per leaf and hub: label it with every account bound. */
            struct topo_edge *e = topo_graph_find_edge(in->g, TOPO_EDGE_LEAF, sp->id, end);
            if (e != NULL && e->label != NULL && strstr(e->label, account) == NULL) {
                char *both = g_strdup_printf("%s, %s", e->label, label);
                g_free(e->label);
                e->label = both;
            } else if (e == NULL) {
                topo_graph_edge(in->g, TOPO_EDGE_LEAF, sp->id, end, label, true);
            }
            g_free(label);
            g_free(end);
        }
    }
}

static void infer_all(struct infer *in)
{
    add_servers(in);
    add_routes(in);
    add_gateways(in);
    add_leafs(in);
}

/* ---- config mode -------------------------------------------------------------------- */

static gint cmp_str(gconstpointer pa, gconstpointer pb)
{
    return strcmp(*(const char *const *)pa, *(const char *const *)pb);
}

/* Distinct named hosts of the cluster's route URLs, sorted (wildcards left out). */
static GPtrArray *route_hosts(const struct mr_config *cfg)
{
    GPtrArray *hosts = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < cfg->cluster.routes.count; i++) {
        char host[256];
        int port = 0;
        if (!url_host_port(cfg->cluster.routes.items[i], host, sizeof(host), &port, 6222) ||
            host_is_anywhere(host)) {
            continue;
        }
        bool seen = false;
        for (guint k = 0; k < hosts->len && !seen; k++) {
            seen = strcmp(g_ptr_array_index(hosts, k), host) == 0;
        }
        if (!seen) {
            g_ptr_array_add(hosts, g_strdup(host));
        }
    }
    g_ptr_array_sort(hosts, cmp_str);
    return hosts;
}

static bool id_taken(const struct infer *in, const char *id)
{
    return spec_by_id(in, id) != NULL;
}

/* An id for a server not yet taken: base, else base#2, base#3 ... */
static char *unique_id(const struct infer *in, const char *base)
{
    if (!id_taken(in, base)) {
        return g_strdup(base);
    }
    for (unsigned n = 2;; n++) {
        char *id = g_strdup_printf("%s#%u", base, n);
        if (!id_taken(in, id)) {
            return id;
        }
        g_free(id);
    }
}

static void add_config_specs(struct infer *in, const char *path, const struct mr_config *cfg,
                             int servers)
{
    char *file = g_path_get_basename(path);
    char *stem = g_strdup(file);
    if (g_str_has_suffix(stem, ".conf")) {
        stem[strlen(stem) - strlen(".conf")] = '\0';
    }
    const char *base = server_name_of(cfg) != NULL ? server_name_of(cfg) : stem;
    GPtrArray *hosts = route_hosts(cfg);
    int copies = cfg->cluster.present && servers > 1 ? servers : 1;
    for (int i = 0; i < copies; i++) {
        struct spec *sp = g_new0(struct spec, 1);
        char *want;
        if (copies > 1 && hosts->len == (guint)copies) {
            want = g_strdup(g_ptr_array_index(hosts, (guint)i));
        } else if (copies > 1) {
            want = g_strdup_printf("%s-%d", base, i + 1);
        } else {
            want = g_strdup(base);
        }
        sp->id = unique_id(in, want);
        g_free(want);
        sp->cluster = cluster_of(cfg);
        sp->cfg = cfg;
        sp->file = g_strdup(file);
        sp->copy = i + 1;
        sp->copies = copies;
        sp->route_hosts = hosts->len;
        g_ptr_array_add(in->specs, sp);
    }
    g_ptr_array_free(hosts, TRUE);
    g_free(stem);
    g_free(file);
}

int topo_from_configs(struct topo_graph *g, const char *const *paths, size_t count,
                      const struct topo_conf_opts *opts, char *err, size_t err_len)
{
    mr_assert(opts->servers >= 0 && opts->servers <= TOPO_SERVERS_PER_CONFIG_MAX);
    struct mr_config *cfgs = g_new0(struct mr_config, count);
    struct infer in = {.g = g, .specs = g_ptr_array_new_with_free_func(spec_free)};
    int rc = 0;
    size_t loaded = 0;
    for (; loaded < count; loaded++) {
        struct mr_conf_value *root = NULL;
        mr_conf_server_init(&cfgs[loaded]);
        if (mr_conf_parse_file(paths[loaded], &file_io, &root, err, err_len) != 0) {
            rc = -1;
            break;
        }
        int lrc = mr_conf_server_load(root, &cfgs[loaded], NULL, NULL, err, err_len);
        mr_conf_free(root);
        if (lrc != 0) {
            /* Loader messages have a position; the whole-config ones do not. */
            if (strchr(err, ':') == NULL) {
                char *msg = g_strdup_printf("%s: %s", paths[loaded], err);
                g_strlcpy(err, msg, err_len);
                g_free(msg);
            }
            loaded++;
            rc = -1;
            break;
        }
        add_config_specs(&in, paths[loaded], &cfgs[loaded], opts->servers);
    }
    if (rc == 0) {
        infer_all(&in);
    }
    g_ptr_array_free(in.specs, TRUE);
    for (size_t i = 0; i < loaded; i++) {
        mr_conf_server_deinit(&cfgs[i]);
    }
    g_free(cfgs);
    return rc;
}

/* ---- scenario mode ------------------------------------------------------------------ */

void topo_from_scenario(struct topo_graph *g, const struct sim_scenario *sc)
{
    struct infer in = {.g = g, .specs = g_ptr_array_new_with_free_func(spec_free), .sc = sc};
    for (size_t i = 0; i < sc->regions_count; i++) {
        const struct sim_sc_region *r = &sc->regions[i];
        struct topo_box *b = topo_graph_box(g, TOPO_BOX_REGION, r->name);
        char lo[32];
        char hi[32];
        topo_format_latency(r->latency_min_ns, lo, sizeof(lo));
        topo_format_latency(r->latency_max_ns, hi, sizeof(hi));
        g_free(b->label);
        b->label = r->latency_min_ns == r->latency_max_ns
                       ? g_strdup_printf("region %s (%s)", r->name, lo)
                       : g_strdup_printf("region %s (%s to %s)", r->name, lo, hi);
    }
    for (size_t i = 0; i < sc->servers_count; i++) {
        const struct sim_sc_server *s = &sc->servers[i];
        struct spec *sp = g_new0(struct spec, 1);
        sp->id = g_strdup(s->name);
        sp->cluster = cluster_of(&s->config);
        sp->region = s->region;
        sp->cfg = &s->config;
        GPtrArray *hosts = route_hosts(&s->config);
        sp->route_hosts = hosts->len;
        g_ptr_array_free(hosts, TRUE);
        g_ptr_array_add(in.specs, sp);
    }
    for (size_t i = 0; i < sc->links_count; i++) {
        const struct sim_sc_link *l = &sc->links[i];
        char lat[32];
        char jit[32];
        topo_format_latency(l->latency_ns, lat, sizeof(lat));
        char *label;
        if (l->jitter_ns > 0) {
            topo_format_latency(l->jitter_ns, jit, sizeof(jit));
            label = g_strdup_printf("%s +/- %s", lat, jit);
        } else {
            label = g_strdup(lat);
        }
        char *a = g_strdup_printf("region:%s", l->a);
        char *b = g_strdup_printf("region:%s", l->b);
        topo_graph_edge(g, TOPO_EDGE_LINK, a, b, label, false);
        g_free(a);
        g_free(b);
        g_free(label);
    }
    infer_all(&in);
    g_ptr_array_free(in.specs, TRUE);
}
