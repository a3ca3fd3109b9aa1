/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The topology model and its drawing (topo_graph.h). The model is sorted before the
 * cgraph graph is built so that the output depends on content only; cgraph keeps
 * nodes, edges and subgraphs in creation order, so creating them sorted is enough.
 */
#include "tools/topo/topo_graph.h"

#include <cgraph.h>
#include <gvc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"

static const char *const kind_names[TOPO_EDGE_KIND_COUNT] = {
    [TOPO_EDGE_ROUTE] = "route",   [TOPO_EDGE_GATEWAY] = "gateway",
    [TOPO_EDGE_LEAF] = "leaf",     [TOPO_EDGE_LINK] = "link",
    [TOPO_EDGE_SOURCE] = "source", [TOPO_EDGE_MIRROR] = "mirror",
};

/* What the legend says each kind is. */
static const char *const kind_legend[TOPO_EDGE_KIND_COUNT] = {
    [TOPO_EDGE_ROUTE] = "route (cluster)",
    [TOPO_EDGE_GATEWAY] = "gateway (supercluster)",
    [TOPO_EDGE_LEAF] = "leaf node (leaf -> hub, account)",
    [TOPO_EDGE_LINK] = "WAN link (latency)",
    [TOPO_EDGE_SOURCE] = "stream source",
    [TOPO_EDGE_MIRROR] = "stream mirror",
};

const char *topo_edge_kind_name(enum topo_edge_kind k)
{
    mr_assert(k < TOPO_EDGE_KIND_COUNT);
    return kind_names[k];
}

/* ---- the model ---------------------------------------------------------------------- */

static void server_free(gpointer p)
{
    struct topo_server *s = p;
    g_free(s->id);
    g_free(s->label);
    g_free(s->cluster);
    g_free(s->region);
    g_ptr_array_free(s->notes, TRUE);
    g_free(s);
}

static void box_free(gpointer p)
{
    struct topo_box *b = p;
    g_free(b->name);
    g_free(b->label);
    g_free(b);
}

static void edge_free(gpointer p)
{
    struct topo_edge *e = p;
    g_free(e->a);
    g_free(e->b);
    g_free(e->label);
    g_free(e);
}

static void stream_free(gpointer p)
{
    struct topo_stream *s = p;
    g_free(s->name);
    g_free(s->account);
    g_free(s->cluster);
    g_free(s->leader);
    g_free(s->mirror);
    g_ptr_array_free(s->sources, TRUE);
    g_free(s);
}

struct topo_graph *topo_graph_create(void)
{
    struct topo_graph *g = g_new0(struct topo_graph, 1);
    g->servers = g_ptr_array_new_with_free_func(server_free);
    g->boxes = g_ptr_array_new_with_free_func(box_free);
    g->edges = g_ptr_array_new_with_free_func(edge_free);
    g->streams = g_ptr_array_new_with_free_func(stream_free);
    g->notes = g_ptr_array_new_with_free_func(g_free);
    return g;
}

void topo_graph_destroy(struct topo_graph *g)
{
    if (g == NULL) {
        return;
    }
    g_free(g->title);
    g_ptr_array_free(g->servers, TRUE);
    g_ptr_array_free(g->boxes, TRUE);
    g_ptr_array_free(g->edges, TRUE);
    g_ptr_array_free(g->streams, TRUE);
    g_ptr_array_free(g->notes, TRUE);
    g_free(g);
}

void topo_graph_set_title(struct topo_graph *g, const char *title)
{
    g_free(g->title);
    g->title = g_strdup(title);
}

void topo_graph_add_note(struct topo_graph *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_ptr_array_add(g->notes, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

struct topo_server *topo_graph_find_server(const struct topo_graph *g, const char *id)
{
    for (guint i = 0; i < g->servers->len; i++) {
        struct topo_server *s = g_ptr_array_index(g->servers, i);
        if (strcmp(s->id, id) == 0) {
            return s;
        }
    }
    return NULL;
}

struct topo_server *topo_graph_server(struct topo_graph *g, const char *id)
{
    mr_assert(id != NULL);
    struct topo_server *s = topo_graph_find_server(g, id);
    if (s != NULL) {
        return s;
    }
    s = g_new0(struct topo_server, 1);
    s->id = g_strdup(id);
    s->notes = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(g->servers, s);
    return s;
}

void topo_server_set_label(struct topo_server *s, const char *label)
{
    g_free(s->label);
    s->label = g_strdup(label);
}

void topo_server_set_cluster(struct topo_server *s, const char *cluster)
{
    g_free(s->cluster);
    s->cluster = g_strdup(cluster);
}

void topo_server_set_region(struct topo_server *s, const char *region)
{
    g_free(s->region);
    s->region = g_strdup(region);
}

void topo_server_add_note(struct topo_server *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *line = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* The same fact learned twice (two seeds, two remotes) is shown once. */
    for (guint i = 0; i < s->notes->len; i++) {
        if (strcmp(g_ptr_array_index(s->notes, i), line) == 0) {
            g_free(line);
            return;
        }
    }
    g_ptr_array_add(s->notes, line);
}

struct topo_box *topo_graph_find_box(const struct topo_graph *g, enum topo_box_kind kind,
                                     const char *name)
{
    for (guint i = 0; i < g->boxes->len; i++) {
        struct topo_box *b = g_ptr_array_index(g->boxes, i);
        if (b->kind == kind && strcmp(b->name, name) == 0) {
            return b;
        }
    }
    return NULL;
}

struct topo_box *topo_graph_box(struct topo_graph *g, enum topo_box_kind kind, const char *name)
{
    mr_assert(name != NULL);
    struct topo_box *b = topo_graph_find_box(g, kind, name);
    if (b != NULL) {
        return b;
    }
    b = g_new0(struct topo_box, 1);
    b->kind = kind;
    b->name = g_strdup(name);
    g_ptr_array_add(g->boxes, b);
    return b;
}

static bool edge_undirected(const struct topo_edge *e)
{
    return !e->directed;
}

struct topo_edge *topo_graph_find_edge(const struct topo_graph *g, enum topo_edge_kind kind,
                                       const char *a, const char *b)
{
    for (guint i = 0; i < g->edges->len; i++) {
        struct topo_edge *e = g_ptr_array_index(g->edges, i);
        if (e->kind != kind) {
            continue;
        }
        if (strcmp(e->a, a) == 0 && strcmp(e->b, b) == 0) {
            return e;
        }
        if (edge_undirected(e) && strcmp(e->a, b) == 0 && strcmp(e->b, a) == 0) {
            return e;
        }
    }
    return NULL;
}

struct topo_edge *topo_graph_edge(struct topo_graph *g, enum topo_edge_kind kind, const char *a,
                                  const char *b, const char *label, bool directed)
{
    mr_assert(kind < TOPO_EDGE_KIND_COUNT);
    mr_assert(a != NULL && b != NULL);
    struct topo_edge *e = topo_graph_find_edge(g, kind, a, b);
    if (e != NULL) {
        return e;
    }
    e = g_new0(struct topo_edge, 1);
    e->kind = kind;
    e->directed = directed;
    /* Undirected edges are stored with the smaller end first, so the order in which
     * the two ends were learned does not show. */
    if (!directed && strcmp(a, b) > 0) {
        const char *t = a;
        a = b;
        b = t;
    }
    e->a = g_strdup(a);
    e->b = g_strdup(b);
    e->label = g_strdup(label);
    g_ptr_array_add(g->edges, e);
    return e;
}

struct topo_stream *topo_graph_stream(struct topo_graph *g, const char *account, const char *name)
{
    const char *acc = account != NULL ? account : "$G";
    for (guint i = 0; i < g->streams->len; i++) {
        struct topo_stream *s = g_ptr_array_index(g->streams, i);
        if (strcmp(s->account, acc) == 0 && strcmp(s->name, name) == 0) {
            return s;
        }
    }
    struct topo_stream *s = g_new0(struct topo_stream, 1);
    s->name = g_strdup(name);
    s->account = g_strdup(acc);
    s->sources = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(g->streams, s);
    return s;
}

void topo_format_latency(uint64_t ns, char *buf, size_t len)
{
    if (ns >= 1000000000ULL) {
        snprintf(buf, len, "%.3g s", (double)ns / 1e9);
    } else if (ns >= 1000000ULL) {
        snprintf(buf, len, "%.3g ms", (double)ns / 1e6);
    } else {
        snprintf(buf, len, "%.3g us", (double)ns / 1e3);
    }
}

/* ---- sorting ------------------------------------------------------------------------ */

static int cmp_nullable(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return (a != NULL) - (b != NULL);
    }
    return strcmp(a, b);
}

static gint cmp_server(gconstpointer pa, gconstpointer pb)
{
    const struct topo_server *a = *(const struct topo_server *const *)pa;
    const struct topo_server *b = *(const struct topo_server *const *)pb;
    return strcmp(a->id, b->id);
}

static gint cmp_box(gconstpointer pa, gconstpointer pb)
{
    const struct topo_box *a = *(const struct topo_box *const *)pa;
    const struct topo_box *b = *(const struct topo_box *const *)pb;
    if (a->kind != b->kind) {
        return a->kind < b->kind ? -1 : 1;
    }
    return strcmp(a->name, b->name);
}

static gint cmp_edge(gconstpointer pa, gconstpointer pb)
{
    const struct topo_edge *a = *(const struct topo_edge *const *)pa;
    const struct topo_edge *b = *(const struct topo_edge *const *)pb;
    if (a->kind != b->kind) {
        return a->kind < b->kind ? -1 : 1;
    }
    int c = strcmp(a->a, b->a);
    if (c == 0) {
        c = strcmp(a->b, b->b);
    }
    if (c == 0) {
        c = cmp_nullable(a->label, b->label);
    }
    if (c == 0) {
        c = (int)a->directed - (int)b->directed;
    }
    return c;
}

static gint cmp_str(gconstpointer pa, gconstpointer pb)
{
    return strcmp(*(const char *const *)pa, *(const char *const *)pb);
}

static gint cmp_stream(gconstpointer pa, gconstpointer pb)
{
    const struct topo_stream *a = *(const struct topo_stream *const *)pa;
    const struct topo_stream *b = *(const struct topo_stream *const *)pb;
    int c = strcmp(a->account, b->account);
    return c != 0 ? c : strcmp(a->name, b->name);
}

static void graph_sort(struct topo_graph *g)
{
    g_ptr_array_sort(g->servers, cmp_server);
    g_ptr_array_sort(g->boxes, cmp_box);
    g_ptr_array_sort(g->edges, cmp_edge);
    g_ptr_array_sort(g->streams, cmp_stream);
    for (guint i = 0; i < g->streams->len; i++) {
        struct topo_stream *s = g_ptr_array_index(g->streams, i);
        g_ptr_array_sort(s->sources, cmp_str);
    }
}

/* ---- building the cgraph graph ------------------------------------------------------ */

/* Graphviz reads backslash escapes in labels ("\n", "\N"); a literal backslash in a
 * name must be doubled. Appends text to out. */
static void append_label_text(GString *out, const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '\\') {
            g_string_append(out, "\\\\");
        } else {
            g_string_append_c(out, *p);
        }
    }
}

static void set(void *obj, const char *name, const char *value)
{
    /* cgraph's API predates const; it copies both strings. */
    agsafeset(obj, (char *)name, (char *)value, "");
}

struct build {
    struct topo_graph *model;
    Agraph_t *root;
    Agraph_t **region_sub; /* per model box index (regions and clusters) */
    GString *tmp;
    unsigned edge_seq;
};

static char *box_graph_name(const struct topo_box *b)
{
    return g_strdup_printf("cluster_%s_%s", b->kind == TOPO_BOX_REGION ? "region" : "cluster",
                           b->name);
}

static int box_index(const struct topo_graph *g, enum topo_box_kind kind, const char *name)
{
    for (guint i = 0; i < g->boxes->len; i++) {
        const struct topo_box *b = g_ptr_array_index(g->boxes, i);
        if (b->kind == kind && strcmp(b->name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* The one region every server of cluster box b sits in, or NULL (mixed or none). */
static const char *cluster_region(const struct topo_graph *g, const struct topo_box *b)
{
    const char *region = NULL;
    for (guint i = 0; i < g->servers->len; i++) {
        const struct topo_server *s = g_ptr_array_index(g->servers, i);
        if (s->cluster == NULL || strcmp(s->cluster, b->name) != 0) {
            continue;
        }
        if (s->region == NULL) {
            return NULL;
        }
        if (region != NULL && strcmp(region, s->region) != 0) {
            return NULL;
        }
        region = s->region;
    }
    return region;
}

static void build_boxes(struct build *bd)
{
    struct topo_graph *g = bd->model;
    bd->region_sub = g_new0(Agraph_t *, g->boxes->len + 1);
    /* Regions first (they are sorted before clusters), so clusters can nest in them. */
    for (guint i = 0; i < g->boxes->len; i++) {
        const struct topo_box *b = g_ptr_array_index(g->boxes, i);
        Agraph_t *parent = bd->root;
        if (b->kind == TOPO_BOX_CLUSTER) {
            const char *region = cluster_region(g, b);
            int ri = region != NULL ? box_index(g, TOPO_BOX_REGION, region) : -1;
            if (ri >= 0) {
                parent = bd->region_sub[ri];
            }
        }
        char *name = box_graph_name(b);
        Agraph_t *sub = agsubg(parent, name, 1);
        g_free(name);
        g_string_truncate(bd->tmp, 0);
        if (b->label != NULL) {
            append_label_text(bd->tmp, b->label);
        } else {
            g_string_append(bd->tmp, b->kind == TOPO_BOX_REGION ? "region " : "cluster ");
            append_label_text(bd->tmp, b->name);
        }
        set(sub, "label", bd->tmp->str);
        set(sub, "class", b->kind == TOPO_BOX_REGION ? "region" : "cluster");
        if (b->kind == TOPO_BOX_REGION) {
            set(sub, "style", "rounded,filled");
            set(sub, "fillcolor", "#f3f6fa");
            set(sub, "color", "#8a9bb0");
        } else {
            set(sub, "style", "rounded,filled");
            set(sub, "fillcolor", "#fdfaf0");
            set(sub, "color", "#b59a4a");
        }
        bd->region_sub[i] = sub;
    }
}

/* The subgraph a server is drawn in: its cluster box, else its region box, else root. */
static Agraph_t *server_parent(struct build *bd, const struct topo_server *s)
{
    int i = -1;
    if (s->cluster != NULL) {
        i = box_index(bd->model, TOPO_BOX_CLUSTER, s->cluster);
    }
    if (i < 0 && s->region != NULL) {
        i = box_index(bd->model, TOPO_BOX_REGION, s->region);
    }
    return i >= 0 ? bd->region_sub[i] : bd->root;
}

static void build_servers(struct build *bd)
{
    struct topo_graph *g = bd->model;
    for (guint i = 0; i < g->servers->len; i++) {
        const struct topo_server *s = g_ptr_array_index(g->servers, i);
        Agnode_t *n = agnode(server_parent(bd, s), s->id, 1);
        g_string_truncate(bd->tmp, 0);
        append_label_text(bd->tmp, s->label != NULL ? s->label : s->id);
        for (guint k = 0; k < s->notes->len; k++) {
            g_string_append(bd->tmp, "\\n");
            append_label_text(bd->tmp, g_ptr_array_index(s->notes, k));
        }
        if (s->down) {
            g_string_append(bd->tmp, "\\n(down)");
        } else if (s->paused) {
            g_string_append(bd->tmp, "\\n(paused)");
        }
        set(n, "label", bd->tmp->str);
        set(n, "class", s->external ? "server external" : "server");
        if (s->down) {
            set(n, "style", "rounded,filled,dashed");
            set(n, "fillcolor", "#f8d0d0");
            set(n, "color", "#c0392b");
        } else if (s->paused) {
            set(n, "fillcolor", "#fdf0c2");
            set(n, "color", "#b7950b");
        } else if (s->external) {
            set(n, "style", "rounded,dashed");
        }
    }
}

/* The node an edge end is drawn at, and the box (subgraph name) it is clipped to when
 * the end is a box. Returns NULL when the end names nothing drawable. */
static Agnode_t *edge_end(struct build *bd, const char *end, char **clip)
{
    *clip = NULL;
    enum topo_box_kind kind;
    const char *name;
    if (g_str_has_prefix(end, "region:")) {
        kind = TOPO_BOX_REGION;
        name = end + strlen("region:");
    } else if (g_str_has_prefix(end, "cluster:")) {
        kind = TOPO_BOX_CLUSTER;
        name = end + strlen("cluster:");
    } else {
        return agnode(bd->root, (char *)end, 0);
    }
    int bi = box_index(bd->model, kind, name);
    if (bi < 0) {
        return NULL;
    }
    /* The first server (by id) inside the box stands for it. */
    for (guint i = 0; i < bd->model->servers->len; i++) {
        const struct topo_server *s = g_ptr_array_index(bd->model->servers, i);
        const char *in = kind == TOPO_BOX_REGION ? s->region : s->cluster;
        if (in != NULL && strcmp(in, name) == 0) {
            *clip = box_graph_name(g_ptr_array_index(bd->model->boxes, (guint)bi));
            return agnode(bd->root, s->id, 0);
        }
    }
    return NULL;
}

static void style_edge(Agedge_t *e, enum topo_edge_kind kind, bool directed)
{
    set(e, "class", kind_names[kind]);
    set(e, "dir", directed ? "forward" : "none");
    switch (kind) {
    case TOPO_EDGE_ROUTE:
        set(e, "color", "#555555");
        set(e, "penwidth", "1.2");
        break;
    case TOPO_EDGE_GATEWAY:
        set(e, "color", "#1f5fbf");
        set(e, "penwidth", "3");
        set(e, "fontcolor", "#1f5fbf");
        break;
    case TOPO_EDGE_LEAF:
        set(e, "color", "#2e8b3d");
        set(e, "style", "dashed");
        set(e, "penwidth", "2");
        set(e, "fontcolor", "#2e8b3d");
        break;
    case TOPO_EDGE_LINK:
        set(e, "color", "#888888");
        set(e, "style", "dotted");
        set(e, "penwidth", "1.5");
        set(e, "fontcolor", "#666666");
        break;
    case TOPO_EDGE_SOURCE:
        set(e, "color", "#d9822b");
        set(e, "style", "dashed");
        set(e, "fontcolor", "#d9822b");
        break;
    case TOPO_EDGE_MIRROR:
        set(e, "color", "#8e44ad");
        set(e, "style", "dashed");
        set(e, "arrowhead", "onormal");
        set(e, "fontcolor", "#8e44ad");
        break;
    case TOPO_EDGE_KIND_COUNT:
        mr_assert(false);
    }
}

static Agedge_t *new_edge(struct build *bd, Agnode_t *t, Agnode_t *h)
{
    /* A key per edge: cgraph would merge two edges between the same nodes otherwise
     * (two gateway links between the same representative nodes, say). */
    char key[32];
    snprintf(key, sizeof(key), "e%u", bd->edge_seq++);
    return agedge(bd->root, t, h, key, 1);
}

static void build_edges(struct build *bd)
{
    struct topo_graph *g = bd->model;
    for (guint i = 0; i < g->edges->len; i++) {
        const struct topo_edge *me = g_ptr_array_index(g->edges, i);
        char *clip_a = NULL;
        char *clip_b = NULL;
        Agnode_t *a = edge_end(bd, me->a, &clip_a);
        Agnode_t *b = edge_end(bd, me->b, &clip_b);
        if (a == NULL || b == NULL) {
            g_free(clip_a);
            g_free(clip_b);
            continue; /* a box without servers: nothing to attach the edge to */
        }
        Agedge_t *e = new_edge(bd, a, b);
        style_edge(e, me->kind, me->directed);
        if (clip_a != NULL) {
            set(e, "ltail", clip_a);
        }
        if (clip_b != NULL) {
            set(e, "lhead", clip_b);
        }
        g_string_truncate(bd->tmp, 0);
        if (me->label != NULL) {
            append_label_text(bd->tmp, me->label);
        }
        if (me->cut) {
            g_string_append(bd->tmp, bd->tmp->len > 0 ? "\\n(cut)" : "(cut)");
            set(e, "color", "#c0392b");
            set(e, "style", "dotted");
            set(e, "penwidth", "2");
        }
        if (bd->tmp->len > 0) {
            set(e, "label", bd->tmp->str);
        }
        /* WAN links between boxes only annotate: they must not pull the layout. */
        if (me->kind == TOPO_EDGE_LINK) {
            set(e, "constraint", "false");
        }
        g_free(clip_a);
        g_free(clip_b);
    }
}

static char *stream_node_name(const struct topo_stream *s)
{
    return g_strdup_printf("stream:%s/%s", s->account, s->name);
}

static const struct topo_stream *find_stream_named(const struct topo_graph *g, const char *account,
                                                   const char *name)
{
    for (guint i = 0; i < g->streams->len; i++) {
        const struct topo_stream *s = g_ptr_array_index(g->streams, i);
        if (strcmp(s->account, account) == 0 && strcmp(s->name, name) == 0) {
            return s;
        }
    }
    return NULL;
}

/* A stream is a note next to its leader (in its cluster's box when placed), joined to
 * the leader by a dotted line; sources and mirrors are dashed edges between streams. */
static void build_streams(struct build *bd)
{
    struct topo_graph *g = bd->model;
    for (guint i = 0; i < g->streams->len; i++) {
        const struct topo_stream *s = g_ptr_array_index(g->streams, i);
        Agraph_t *parent = bd->root;
        int bi = s->cluster != NULL ? box_index(g, TOPO_BOX_CLUSTER, s->cluster) : -1;
        if (bi >= 0) {
            parent = bd->region_sub[bi];
        }
        char *name = stream_node_name(s);
        Agnode_t *n = agnode(parent, name, 1);
        g_free(name);
        g_string_truncate(bd->tmp, 0);
        g_string_append(bd->tmp, "stream ");
        append_label_text(bd->tmp, s->name);
        if (strcmp(s->account, "$G") != 0) {
            g_string_append(bd->tmp, "\\naccount ");
            append_label_text(bd->tmp, s->account);
        }
        if (s->replicas > 0) {
            g_string_append_printf(bd->tmp, "\\nR%d", s->replicas);
        }
        if (s->leader != NULL) {
            g_string_append(bd->tmp, s->replicas > 0 ? ", leader " : "\\nleader ");
            append_label_text(bd->tmp, s->leader);
        }
        set(n, "label", bd->tmp->str);
        set(n, "shape", "note");
        set(n, "class", "stream");
        set(n, "style", "filled");
        set(n, "fillcolor", "#fff4e0");
        Agnode_t *leader = s->leader != NULL ? agnode(bd->root, s->leader, 0) : NULL;
        if (leader != NULL) {
            Agedge_t *e = new_edge(bd, n, leader);
            set(e, "class", "stream-leader");
            set(e, "style", "dotted");
            set(e, "dir", "none");
            set(e, "color", "#d9822b");
        }
    }
    for (guint i = 0; i < g->streams->len; i++) {
        const struct topo_stream *s = g_ptr_array_index(g->streams, i);
        char *to_name = stream_node_name(s);
        Agnode_t *to = agnode(bd->root, to_name, 0);
        g_free(to_name);
        for (guint k = 0; k <= s->sources->len; k++) {
            const char *from_stream = k < s->sources->len ? g_ptr_array_index(s->sources, k)
                                                          : s->mirror;
            if (from_stream == NULL) {
                continue;
            }
            const struct topo_stream *src = find_stream_named(g, s->account, from_stream);
            if (src == NULL) {
                continue; /* an origin outside the graph: the label already names it */
            }
            char *from_name = stream_node_name(src);
            Agnode_t *from = agnode(bd->root, from_name, 0);
            g_free(from_name);
            enum topo_edge_kind kind = k < s->sources->len ? TOPO_EDGE_SOURCE : TOPO_EDGE_MIRROR;
            Agedge_t *e = new_edge(bd, from, to);
            style_edge(e, kind, true);
            set(e, "label", kind_names[kind]);
        }
    }
}

/* Which edge kinds the drawing uses (streams count for their edges). */
static void kinds_used(const struct topo_graph *g, bool used[TOPO_EDGE_KIND_COUNT])
{
    memset(used, 0, sizeof(bool) * TOPO_EDGE_KIND_COUNT);
    for (guint i = 0; i < g->edges->len; i++) {
        const struct topo_edge *e = g_ptr_array_index(g->edges, i);
        used[e->kind] = true;
    }
    for (guint i = 0; i < g->streams->len; i++) {
        const struct topo_stream *s = g_ptr_array_index(g->streams, i);
        if (s->sources->len > 0) {
            used[TOPO_EDGE_SOURCE] = true;
        }
        if (s->mirror != NULL) {
            used[TOPO_EDGE_MIRROR] = true;
        }
    }
}

/* The legend: one short sample edge per kind the drawing uses, in a box of its own. */
static void build_legend(struct build *bd)
{
    bool used[TOPO_EDGE_KIND_COUNT];
    kinds_used(bd->model, used);
    bool any = false;
    for (int k = 0; k < TOPO_EDGE_KIND_COUNT; k++) {
        any = any || used[k];
    }
    bool cut = false;
    for (guint i = 0; i < bd->model->edges->len; i++) {
        cut = cut || ((const struct topo_edge *)g_ptr_array_index(bd->model->edges, i))->cut;
    }
    if (!any) {
        return;
    }
    Agraph_t *sub = agsubg(bd->root, "cluster_legend", 1);
    set(sub, "label", "Legend");
    set(sub, "class", "legend");
    set(sub, "style", "rounded");
    set(sub, "color", "#bbbbbb");
    /* One row per kind (a rank=same pair), rows stacked by invisible edges. */
    Agnode_t *prev = NULL;
    for (int k = 0; k < TOPO_EDGE_KIND_COUNT; k++) {
        if (!used[k]) {
            continue;
        }
        char name[64];
        snprintf(name, sizeof(name), "legend_row_%s", kind_names[k]);
        Agraph_t *row = agsubg(sub, name, 1);
        set(row, "rank", "same");
        snprintf(name, sizeof(name), "legend_%s_a", kind_names[k]);
        Agnode_t *a = agnode(row, name, 1);
        snprintf(name, sizeof(name), "legend_%s_b", kind_names[k]);
        Agnode_t *b = agnode(row, name, 1);
        if (prev != NULL) {
            Agedge_t *stack = new_edge(bd, prev, a);
            set(stack, "style", "invis");
            set(stack, "class", "legend");
        }
        prev = a;
        for (Agnode_t *n = a; n != NULL; n = n == a ? b : NULL) {
            set(n, "shape", "point");
            set(n, "width", "0.05");
            set(n, "class", "legend");
        }
        Agedge_t *e = new_edge(bd, a, b);
        style_edge(e, (enum topo_edge_kind)k, k == TOPO_EDGE_LEAF || k >= TOPO_EDGE_SOURCE);
        set(e, "class", "legend");
        set(e, "label", kind_legend[k]);
        set(e, "minlen", "3");
    }
    if (cut) {
        Agraph_t *row = agsubg(sub, "legend_row_cut", 1);
        set(row, "rank", "same");
        Agnode_t *a = agnode(row, "legend_cut_a", 1);
        Agnode_t *b = agnode(row, "legend_cut_b", 1);
        for (Agnode_t *n = a; n != NULL; n = n == a ? b : NULL) {
            set(n, "shape", "point");
            set(n, "width", "0.05");
            set(n, "class", "legend");
        }
        if (prev != NULL) {
            Agedge_t *stack = new_edge(bd, prev, a);
            set(stack, "style", "invis");
            set(stack, "class", "legend");
        }
        Agedge_t *e = new_edge(bd, a, b);
        set(e, "class", "legend");
        set(e, "dir", "none");
        set(e, "color", "#c0392b");
        set(e, "style", "dotted");
        set(e, "penwidth", "2");
        set(e, "label", "cut by a partition");
        set(e, "minlen", "3");
    }
}

/*
 * Object ids in creation order. cgraph's default id discipline uses the address of the
 * interned name as a named object's id, and orders subgraphs by id: the order of boxes
 * in the output and in the layout would follow the heap. Here a named object's id is
 * even and counts up as names are first seen; anonymous objects get odd ids.
 */
struct seq_ids {
    Agraph_t *root;
    GHashTable *by_name; /* lookup only: name -> id */
    GPtrArray *names;    /* names[id / 2 - 1]: cgraph's reference-counted strings, which
                          * the writer inspects (HTML-like or not) */
    IDTYPE next_anon;
};

static void *seq_open(Agraph_t *g, Agdisc_t *disc)
{
    (void)disc;
    struct seq_ids *st = g_new0(struct seq_ids, 1);
    st->root = g;
    st->by_name = g_hash_table_new(g_str_hash, g_str_equal);
    st->names = g_ptr_array_new(); /* freed with the graph's string pool */
    st->next_anon = 1;
    return st;
}

static long seq_map(void *state, int objtype, char *str, IDTYPE *id, int createflag)
{
    (void)objtype; /* one name space for all kinds, as the default discipline has */
    struct seq_ids *st = state;
    if (str == NULL) {
        *id = st->next_anon;
        st->next_anon += 2;
        return 1;
    }
    gpointer found = g_hash_table_lookup(st->by_name, str);
    if (found != NULL) {
        *id = (IDTYPE)GPOINTER_TO_SIZE(found);
        return 1;
    }
    if (!createflag) {
        return 0;
    }
    char *name = agstrdup(st->root, str);
    g_ptr_array_add(st->names, name);
    *id = (IDTYPE)st->names->len * 2;
    g_hash_table_insert(st->by_name, name, GSIZE_TO_POINTER((gsize)*id));
    return 1;
}

static long seq_alloc(void *state, int objtype, IDTYPE request)
{
    (void)state;
    (void)objtype;
    (void)request;
    return 0; /* no caller-chosen ids */
}

static void seq_free(void *state, int objtype, IDTYPE id)
{
    (void)state; /* names live until the graph closes */
    (void)objtype;
    (void)id;
}

static char *seq_print(void *state, int objtype, IDTYPE id)
{
    (void)objtype;
    struct seq_ids *st = state;
    if (id % 2 != 0 || id == 0 || id / 2 > st->names->len) {
        return NULL;
    }
    return g_ptr_array_index(st->names, (guint)(id / 2 - 1));
}

static void seq_close(void *state)
{
    struct seq_ids *st = state;
    g_hash_table_destroy(st->by_name);
    g_ptr_array_free(st->names, TRUE);
    g_free(st);
}

static void seq_register(void *state, int objtype, void *obj)
{
    (void)state;
    (void)objtype;
    (void)obj;
}

static Agiddisc_t seq_id_disc = {seq_open, seq_map,   seq_alloc,   seq_free,
                                 seq_print, seq_close, seq_register};

static Agraph_t *build_graph(struct topo_graph *model)
{
    static Agdisc_t disc;
    disc.mem = &AgMemDisc;
    disc.id = &seq_id_disc;
    disc.io = &AgIoDisc;
    Agraph_t *root = agopen("topology", Agdirected, &disc);
    mr_assert(root != NULL);
    set(root, "compound", "true");
    set(root, "newrank", "true");
    set(root, "fontname", "Helvetica");
    set(root, "nodesep", "0.4");
    set(root, "ranksep", "0.7");
    /* Layout sets this default on cgraph's global prototype after the first graph;
     * setting it from the start keeps every rendering in a process the same. */
    agattr(root, AGNODE, "label", "\\N");
    agattr(root, AGNODE, "fontname", "Helvetica");
    agattr(root, AGNODE, "shape", "box");
    agattr(root, AGNODE, "style", "rounded,filled");
    agattr(root, AGNODE, "fillcolor", "white");
    agattr(root, AGNODE, "fontsize", "11");
    agattr(root, AGEDGE, "fontname", "Helvetica");
    agattr(root, AGEDGE, "fontsize", "10");
    struct build bd = {.model = model, .root = root, .tmp = g_string_new(NULL)};
    if (model->title != NULL || model->notes->len > 0) {
        if (model->title != NULL) {
            append_label_text(bd.tmp, model->title);
        }
        for (guint i = 0; i < model->notes->len; i++) {
            g_string_append(bd.tmp, bd.tmp->len > 0 ? "\\n" : "");
            append_label_text(bd.tmp, g_ptr_array_index(model->notes, i));
        }
        set(root, "label", bd.tmp->str);
        set(root, "labelloc", "t");
    }
    build_boxes(&bd);
    build_servers(&bd);
    build_edges(&bd);
    build_streams(&bd);
    build_legend(&bd);
    g_free(bd.region_sub);
    g_string_free(bd.tmp, TRUE);
    return root;
}

/* ---- rendering ---------------------------------------------------------------------- */

bool topo_format_known(const char *format)
{
    static const char *const formats[] = {"dot", "canon", "svg", "png"};
    for (size_t i = 0; i < G_N_ELEMENTS(formats); i++) {
        if (strcmp(format, formats[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* The graph as built, without layout: agwrite into memory. */
static int write_canon(Agraph_t *g, char **out, size_t *out_len, char *err, size_t err_len)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) {
        snprintf(err, err_len, "cannot write the graph: out of memory");
        return -1;
    }
    int rc = agwrite(g, f);
    fclose(f);
    if (rc != 0) {
        free(buf);
        snprintf(err, err_len, "cannot write the graph (agwrite failed)");
        return -1;
    }
    *out = g_memdup2(buf, len + 1);
    *out_len = len;
    free(buf);
    return 0;
}

/*
 * One Graphviz context for the whole process. Graphviz 2.42's pango plugin remembers the
 * last font name it looked up in a static, which gvFreeContext frees: a second context
 * in the same process reads freed memory. The context stays reachable until exit.
 */
static GVC_t *render_context(void)
{
    static GVC_t *gvc;
    if (gvc == NULL) {
        gvc = gvContext();
        mr_assert(gvc != NULL);
    }
    return gvc;
}

int topo_graph_render(struct topo_graph *g, const char *format, char **out, size_t *out_len,
                      char *err, size_t err_len)
{
    mr_assert(out != NULL && out_len != NULL);
    *out = NULL;
    *out_len = 0;
    if (!topo_format_known(format)) {
        snprintf(err, err_len, "unknown output format \"%s\" (expected dot, canon, svg or png)",
                 format);
        return -1;
    }
    graph_sort(g);
    Agraph_t *ag = build_graph(g);
    if (strcmp(format, "canon") == 0) {
        int rc = write_canon(ag, out, out_len, err, err_len);
        agclose(ag);
        return rc;
    }
    GVC_t *gvc = render_context();
    int rc = -1;
    if (gvLayout(gvc, ag, "dot") != 0) {
        snprintf(err, err_len, "Graphviz could not lay the graph out (dot layout)");
        goto done;
    }
    char *data = NULL;
    unsigned int len = 0;
    if (gvRenderData(gvc, ag, format, &data, &len) != 0 || data == NULL) {
        snprintf(err, err_len,
                 "Graphviz could not render format %s (is its plugin installed? `dot -P`)",
                 format);
        gvFreeLayout(gvc, ag);
        goto done;
    }
    *out = g_malloc(len + 1);
    memcpy(*out, data, len);
    (*out)[len] = '\0';
    *out_len = len;
    gvFreeRenderData(data);
    gvFreeLayout(gvc, ag);
    rc = 0;
done:
    agclose(ag);
    return rc;
}
