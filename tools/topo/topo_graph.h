/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The topology model of meridian-topo, and its drawing with Graphviz.
 *
 * A struct topo_graph is plain data that every input mode fills (config files, a
 * scenario, a simulator run, a live deployment): servers, boxes (regions and clusters),
 * edges of a few kinds (route, gateway, leaf, WAN link, stream source and mirror) and
 * JetStream streams. topo_graph_render turns it into a cgraph graph (libcgraph), lays it
 * out and renders it with libgvc.
 *
 * Invariants: the drawing depends only on the model's content, never on the order in
 * which things were added: servers, boxes, edges and streams are sorted with total
 * comparators before the cgraph graph is built, so the same input gives the same dot
 * text. Node names in the output are server ids; boxes are subgraphs named
 * "cluster_region_<name>" and "cluster_cluster_<name>"; every edge carries its kind in
 * the attribute `class` (route, gateway, leaf, link, source, mirror, legend).
 *
 * Ownership: the graph owns every string added to it (they are copied); free it with
 * topo_graph_destroy. Rendered output is returned in memory the caller frees with
 * g_free.
 */
#ifndef TOPO_GRAPH_H
#define TOPO_GRAPH_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOPO_ERR_MAX 1024

enum topo_edge_kind {
    TOPO_EDGE_ROUTE = 0,
    TOPO_EDGE_GATEWAY,
    TOPO_EDGE_LEAF,
    TOPO_EDGE_LINK, /* a WAN link between two regions (scenario latency) */
    TOPO_EDGE_SOURCE,
    TOPO_EDGE_MIRROR,
    TOPO_EDGE_KIND_COUNT
};

enum topo_box_kind {
    TOPO_BOX_REGION = 0,
    TOPO_BOX_CLUSTER,
};

/* A server (a node). Fields are owned by the graph. */
struct topo_server {
    char *id;      /* node name; unique */
    char *label;   /* first label line; NULL = id */
    char *cluster; /* cluster box it sits in, or NULL */
    char *region;  /* region box, or NULL */
    GPtrArray *notes; /* more label lines (char *), in insertion order */
    bool external;    /* known only as a peer (not configured or not observed) */
    bool down;        /* a simulator frame: crashed or powered off */
    bool paused;      /* a simulator frame: paused (up, but not running) */
};

/* A region or cluster box. A cluster box nests in a region box when every server of
 * the cluster is in that region. */
struct topo_box {
    enum topo_box_kind kind;
    char *name;
    char *label; /* NULL = "<kind> <name>" */
};

/* An edge between two servers, or between two boxes when a or b names a box
 * ("region:NAME" / "cluster:NAME"); then it is drawn between the boxes' borders. */
struct topo_edge {
    enum topo_edge_kind kind;
    char *a;
    char *b;
    char *label;   /* NULL = none */
    bool directed; /* a -> b (a leaf solicits its hub; a stream sources another) */
    bool cut;      /* a simulator frame: the connection is partitioned */
};

/* A JetStream stream, drawn as an annotation of its leader (or its cluster). */
struct topo_stream {
    char *name;
    char *account;
    char *cluster; /* placement; NULL = unknown */
    char *leader;  /* server id; NULL = unknown */
    int replicas;  /* 0 = unknown */
    char *mirror;  /* stream name or NULL */
    GPtrArray *sources; /* stream names (char *) */
};

struct topo_graph {
    char *title; /* NULL = none */
    GPtrArray *servers; /* struct topo_server * */
    GPtrArray *boxes;   /* struct topo_box * */
    GPtrArray *edges;   /* struct topo_edge * */
    GPtrArray *streams; /* struct topo_stream * */
    GPtrArray *notes;   /* graph-level notes (char *), drawn under the title */
};

struct topo_graph *topo_graph_create(void);
void topo_graph_destroy(struct topo_graph *g);
void topo_graph_set_title(struct topo_graph *g, const char *title);
void topo_graph_add_note(struct topo_graph *g, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Returns the server with id, creating it (no cluster, no region) if absent. The
 * pointer stays valid until the graph is destroyed. */
struct topo_server *topo_graph_server(struct topo_graph *g, const char *id);
/* The server with id, or NULL. */
struct topo_server *topo_graph_find_server(const struct topo_graph *g, const char *id);
void topo_server_set_label(struct topo_server *s, const char *label);
void topo_server_set_cluster(struct topo_server *s, const char *cluster);
void topo_server_set_region(struct topo_server *s, const char *region);
void topo_server_add_note(struct topo_server *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Returns the box of kind and name, creating it if absent. */
struct topo_box *topo_graph_box(struct topo_graph *g, enum topo_box_kind kind, const char *name);
struct topo_box *topo_graph_find_box(const struct topo_graph *g, enum topo_box_kind kind,
                                     const char *name);

/* Adds an edge unless one of the same kind already joins a and b (either way round for
 * undirected kinds). label may be NULL. Returns the edge (new or existing). */
struct topo_edge *topo_graph_edge(struct topo_graph *g, enum topo_edge_kind kind, const char *a,
                                  const char *b, const char *label, bool directed);
/* The edge of kind joining a and b (either way round when undirected), or NULL. */
struct topo_edge *topo_graph_find_edge(const struct topo_graph *g, enum topo_edge_kind kind,
                                       const char *a, const char *b);

/* Adds a stream (name and account identify it; a second add returns the first). */
struct topo_stream *topo_graph_stream(struct topo_graph *g, const char *account,
                                      const char *name);

/* "route", "gateway", "leaf", "link", "source", "mirror". */
const char *topo_edge_kind_name(enum topo_edge_kind k);

/* Formats a latency in ns for an edge label ("30 ms", "0.5 ms", "1.2 s"). */
void topo_format_latency(uint64_t ns, char *buf, size_t len);

/* The output formats: dot (laid out, as `dot -Tdot`), canon (the graph as built, no
 * layout), svg, png. */
bool topo_format_known(const char *format);

/*
 * Renders g in format. Sorts g's contents first (so it takes g non-const). Returns 0
 * with *out (g_free) and *out_len, or -1 with err set (an unknown format, a Graphviz
 * failure).
 */
int topo_graph_render(struct topo_graph *g, const char *format, char **out, size_t *out_len,
                      char *err, size_t err_len);

#endif
