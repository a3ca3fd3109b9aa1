/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of meridian-topo's graph code (tools/topo): the drawing of the mission's
 * example configs and of scenario files, compared structurally (nodes, edges with their
 * kind, and which box holds which node) after reading the dot output back with cgraph;
 * svg and png output checked to be well formed; determinism; clear errors for bad input.
 * Runs from the source root (tests/conf/mission, scenarios/).
 */
#include <arpa/inet.h>
#include <cgraph.h>
#include <check.h>
#include <glib.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sim/sim_scenario.h"
#include "tools/topo/topo_frame.h"
#include "tools/topo/topo_graph.h"
#include "tools/topo/topo_infer.h"
#include "tools/topo/topo_live.h"
#include "tools/topo/topo_report.h"

#define SC_DIR "tests/conf/mission/supercluster/"
#define LEAF_DIR "tests/conf/mission/leafnode/"

static const char *const supercluster[] = {SC_DIR "region1.conf", SC_DIR "region2.conf",
                                           SC_DIR "region3.conf"};
static const char *const leafnode[] = {LEAF_DIR "server.hub.conf", LEAF_DIR "server.leaf.conf"};

/* Renders g in format; fails the test on error. */
static char *render(struct topo_graph *g, const char *format, size_t *len)
{
    char err[TOPO_ERR_MAX] = "";
    char *out = NULL;
    size_t n = 0;
    int rc = topo_graph_render(g, format, &out, &n, err, sizeof(err));
    ck_assert_msg(rc == 0, "render %s: %s", format, err);
    ck_assert_ptr_nonnull(out);
    if (len != NULL) {
        *len = n;
    }
    return out;
}

static struct topo_graph *from_configs(const char *const *paths, size_t n, int servers)
{
    struct topo_graph *g = topo_graph_create();
    struct topo_conf_opts o = {.servers = servers};
    char err[TOPO_ERR_MAX] = "";
    int rc = topo_from_configs(g, paths, n, &o, err, sizeof(err));
    ck_assert_msg(rc == 0, "configs: %s", err);
    return g;
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *attr(void *obj, const char *name)
{
    char *v = agget(obj, (char *)name);
    return v != NULL ? v : "";
}

static void add_box_lines(Agraph_t *sub, GPtrArray *lines)
{
    for (Agraph_t *s = agfstsubg(sub); s != NULL; s = agnxtsubg(s)) {
        const char *name = agnameof(s);
        if (!g_str_has_prefix(name, "cluster_") || strcmp(name, "cluster_legend") == 0) {
            continue;
        }
        GString *line = g_string_new(NULL);
        g_string_append_printf(line, "box %s:", name + strlen("cluster_"));
        GPtrArray *members = g_ptr_array_new();
        for (Agnode_t *n = agfstnode(s); n != NULL; n = agnxtnode(s, n)) {
            g_ptr_array_add(members, agnameof(n));
        }
        g_ptr_array_sort(members, cmp_str);
        for (guint i = 0; i < members->len; i++) {
            g_string_append_printf(line, " %s", (char *)g_ptr_array_index(members, i));
        }
        g_ptr_array_free(members, TRUE);
        g_ptr_array_add(lines, g_string_free(line, FALSE));
        add_box_lines(s, lines);
    }
}

/*
 * Reads dot text back and describes its structure, one sorted line per fact:
 *   "node NAME", "box KIND_NAME: member member ..." (nested boxes list their members
 *   too), "edge CLASS A -> B [label]" (A and B are the clipping boxes when the edge joins
 *   boxes; "--" for undirected edges). The legend is left out.
 */
static char *describe(const char *dot)
{
    Agraph_t *g = agmemread(dot);
    ck_assert_msg(g != NULL, "output does not parse as dot");
    GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);
    for (Agnode_t *n = agfstnode(g); n != NULL; n = agnxtnode(g, n)) {
        if (!g_str_has_prefix(agnameof(n), "legend_")) {
            g_ptr_array_add(lines, g_strdup_printf("node %s", agnameof(n)));
        }
        for (Agedge_t *e = agfstout(g, n); e != NULL; e = agnxtout(g, e)) {
            const char *cls = attr(e, "class");
            if (strcmp(cls, "legend") == 0) {
                continue;
            }
            const char *t = attr(e, "ltail")[0] != '\0' ? attr(e, "ltail") : agnameof(agtail(e));
            const char *h = attr(e, "lhead")[0] != '\0' ? attr(e, "lhead") : agnameof(aghead(e));
            const char *label = attr(e, "label");
            g_ptr_array_add(lines,
                            g_strdup_printf("edge %s %s %s %s%s%s%s", cls, t,
                                            strcmp(attr(e, "dir"), "none") == 0 ? "--" : "->", h,
                                            label[0] != '\0' ? " [" : "", label,
                                            label[0] != '\0' ? "]" : ""));
        }
    }
    add_box_lines(g, lines);
    agclose(g);
    g_ptr_array_sort(lines, cmp_str);
    GString *out = g_string_new(NULL);
    for (guint i = 0; i < lines->len; i++) {
        g_string_append_printf(out, "%s\n", (char *)g_ptr_array_index(lines, i));
    }
    g_ptr_array_free(lines, TRUE);
    return g_string_free(out, FALSE);
}

static char *describe_graph(struct topo_graph *g, const char *format)
{
    char *dot = render(g, format, NULL);
    char *d = describe(dot);
    g_free(dot);
    return d;
}

/* ---- config mode -------------------------------------------------------------------- */

START_TEST(supercluster_configs_give_three_boxed_clusters_joined_by_gateways)
{
    struct topo_graph *g = from_configs(supercluster, 3, 0);
    char *d = describe_graph(g, "dot");
    ck_assert_str_eq(d,
                     "box cluster_region1: region1\n"
                     "box cluster_region2: region2\n"
                     "box cluster_region3: region3\n"
                     "edge gateway cluster_cluster_region1 -- cluster_cluster_region2\n"
                     "edge gateway cluster_cluster_region1 -- cluster_cluster_region3\n"
                     "edge gateway cluster_cluster_region2 -- cluster_cluster_region3\n"
                     "node region1\n"
                     "node region2\n"
                     "node region3\n");
    g_free(d);
    /* One server of each cluster drawn: its label says what the file says of the rest. */
    struct topo_server *s = topo_graph_find_server(g, "region1");
    ck_assert_ptr_nonnull(s);
    bool routes_note = false;
    for (guint i = 0; i < s->notes->len; i++) {
        const char *note = g_ptr_array_index(s->notes, i);
        routes_note = routes_note || strcmp(note, "routes to 3 URLs") == 0;
    }
    ck_assert(routes_note);
    topo_graph_destroy(g);
}
END_TEST

START_TEST(supercluster_with_three_servers_each_meshes_routes_named_after_route_hosts)
{
    struct topo_graph *g = from_configs(supercluster, 3, 3);
    char *d = describe_graph(g, "canon");
    GString *want = g_string_new(NULL);
    for (int r = 1; r <= 3; r++) {
        g_string_append_printf(want, "box cluster_region%d: region%d-server1 region%d-server2 "
                                     "region%d-server3\n", r, r, r, r);
    }
    g_string_append(want, "edge gateway cluster_cluster_region1 -- cluster_cluster_region2\n"
                          "edge gateway cluster_cluster_region1 -- cluster_cluster_region3\n"
                          "edge gateway cluster_cluster_region2 -- cluster_cluster_region3\n");
    for (int r = 1; r <= 3; r++) {
        g_string_append_printf(want, "edge route region%d-server1 -- region%d-server2\n"
                                     "edge route region%d-server1 -- region%d-server3\n"
                                     "edge route region%d-server2 -- region%d-server3\n",
                               r, r, r, r, r, r);
    }
    for (int r = 1; r <= 3; r++) {
        for (int s = 1; s <= 3; s++) {
            g_string_append_printf(want, "node region%d-server%d\n", r, s);
        }
    }
    ck_assert_str_eq(d, want->str);
    g_string_free(want, TRUE);
    g_free(d);
    topo_graph_destroy(g);
}
END_TEST

START_TEST(leaf_configs_give_a_leaf_edge_to_the_hub_labelled_with_the_account)
{
    struct topo_graph *g = from_configs(leafnode, 2, 0);
    char *d = describe_graph(g, "dot");
    ck_assert_str_eq(d, "edge leaf leaf-node -> hub [LEAF]\n"
                        "node hub\n"
                        "node leaf-node\n");
    g_free(d);
    /* JetStream domains are annotated on the servers. */
    struct topo_server *hub = topo_graph_find_server(g, "hub");
    ck_assert_ptr_nonnull(hub);
    ck_assert_uint_eq(hub->notes->len, 3);
    ck_assert_str_eq(g_ptr_array_index(hub->notes, 1), "client 4222, leaf 7422");
    ck_assert_str_eq(g_ptr_array_index(hub->notes, 2), "JetStream, domain hub");
    topo_graph_destroy(g);
}
END_TEST

START_TEST(gateway_to_a_cluster_not_in_the_inputs_is_drawn_external)
{
    struct topo_graph *g = from_configs(supercluster, 1, 0);
    char *d = describe_graph(g, "canon");
    ck_assert_str_eq(d,
                     "box cluster_region1: region1\n"
                     "box cluster_region2: gateway:region2\n"
                     "box cluster_region3: gateway:region3\n"
                     "edge gateway cluster_cluster_region1 -- cluster_cluster_region2\n"
                     "edge gateway cluster_cluster_region1 -- cluster_cluster_region3\n"
                     "node gateway:region2\n"
                     "node gateway:region3\n"
                     "node region1\n");
    g_free(d);
    ck_assert(topo_graph_find_server(g, "gateway:region2")->external);
    topo_graph_destroy(g);
}
END_TEST

/* ---- scenario mode ------------------------------------------------------------------ */

static struct topo_graph *from_scenario(const char *path)
{
    struct sim_scenario *sc = NULL;
    char err[SIM_SC_ERR_MAX] = "";
    int rc = sim_scenario_load_file(path, sim_scenario_file_io(), &sc, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s: %s", path, err);
    struct topo_graph *g = topo_graph_create();
    topo_from_scenario(g, sc);
    sim_scenario_destroy(sc);
    return g;
}

START_TEST(scenario_boxes_regions_around_clusters_and_labels_links_with_latency)
{
    struct topo_graph *g = from_scenario("scenarios/mission_supercluster.conf");
    char *d = describe_graph(g, "canon");
    /* Links and gateways carry the latency of the scenario's WAN links. */
    const char *const want[] = {
        "edge link cluster_region_region1 -- cluster_region_region2 [30 ms +/- 3 ms]\n",
        "edge link cluster_region_region1 -- cluster_region_region3 [150 ms +/- 10 ms]\n",
        "edge link cluster_region_region2 -- cluster_region_region3 [90 ms +/- 8 ms]\n",
        "edge gateway cluster_cluster_region1 -- cluster_cluster_region2 [30 ms]\n",
        "edge gateway cluster_cluster_region2 -- cluster_cluster_region3 [90 ms]\n",
        "edge route region2-server1 -- region2-server3\n",
        "box region_region3: region3-server1 region3-server2 region3-server3\n",
        "box cluster_region3: region3-server1 region3-server2 region3-server3\n",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
        ck_assert_msg(strstr(d, want[i]) != NULL, "missing: %s in\n%s", want[i], d);
    }
    /* Nesting: the cluster box is a subgraph of its region box. */
    char *dot = render(g, "canon", NULL);
    Agraph_t *ag = agmemread(dot);
    Agraph_t *region = agsubg(ag, "cluster_region_region1", 0);
    ck_assert_ptr_nonnull(region);
    ck_assert_ptr_nonnull(agsubg(region, "cluster_cluster_region1", 0));
    agclose(ag);
    g_free(dot);
    g_free(d);
    topo_graph_destroy(g);
}
END_TEST

START_TEST(scenario_leaf_remote_through_a_shared_name_reaches_the_hub_cluster)
{
    struct topo_graph *g = from_scenario("scenarios/leaf_clusters.conf");
    char *d = describe_graph(g, "canon");
    ck_assert_msg(strstr(d, "edge leaf l1 -> cluster_cluster_cloud [$G, 30 ms]\n") != NULL, "%s",
                  d);
    ck_assert_msg(strstr(d, "edge leaf l2 -> cluster_cluster_cloud [$G, 30 ms]\n") != NULL, "%s",
                  d);
    ck_assert_msg(strstr(d, "edge route a1 -- a2\n") != NULL, "%s", d);
    g_free(d);
    topo_graph_destroy(g);
}
END_TEST

START_TEST(scenario_leaf_chain_resolves_hosts_by_server_name)
{
    struct topo_graph *g = from_scenario("scenarios/leaf_chain.conf");
    char *d = describe_graph(g, "canon");
    ck_assert_msg(strstr(d, " -> middle [$G") != NULL, "%s", d);
    ck_assert_msg(strstr(d, "edge leaf middle -> hub [$G") != NULL, "%s", d);
    g_free(d);
    topo_graph_destroy(g);
}
END_TEST

/* ---- simulator frames ---------------------------------------------------------------- */

#define NS_PER_S 1000000000ULL
/* mission_supercluster's last fault is its quiesce at 40s: runs stop soon after, which
 * keeps the suite quick under sanitizers. */
#define FAULTS_END_NS (41 * NS_PER_S)

static struct sim_scenario *load_scenario(const char *path)
{
    struct sim_scenario *sc = NULL;
    char err[SIM_SC_ERR_MAX] = "";
    int rc = sim_scenario_load_file(path, sim_scenario_file_io(), &sc, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s: %s", path, err);
    return sc;
}

static struct topo_graph *frame_graph(const struct sim_scenario *sc, const struct topo_frame *f)
{
    struct topo_graph *g = topo_graph_create();
    topo_from_scenario(g, sc);
    topo_frame_apply(g, sc, f);
    return g;
}

START_TEST(frame_during_a_partition_marks_the_cut_gateways_and_links)
{
    struct sim_scenario *sc = load_scenario("scenarios/mission_supercluster.conf");
    char err[TOPO_ERR_MAX] = "";
    /* Region 3 is cut off from 10s to 18s. */
    GPtrArray *frames = topo_frames_run(sc, sc->seed, 12 * NS_PER_S, NULL, err, sizeof(err));
    ck_assert_msg(frames != NULL, "%s", err);
    ck_assert_uint_eq(frames->len, 3); /* start, the partition, end */
    const struct topo_frame *last = g_ptr_array_index(frames, frames->len - 1);
    ck_assert_str_eq(last->what, "end");
    ck_assert_uint_eq(last->state.at_ns, 12 * NS_PER_S);
    ck_assert(topo_frame_is_fault(g_ptr_array_index(frames, 1)));
    struct topo_graph *g = frame_graph(sc, last);
    char *d = describe_graph(g, "canon");
    const char *const want[] = {
        "edge gateway cluster_cluster_region1 -- cluster_cluster_region2 [30 ms]\n",
        "edge gateway cluster_cluster_region1 -- cluster_cluster_region3 [150 ms\\n(cut)]\n",
        "edge gateway cluster_cluster_region2 -- cluster_cluster_region3 [90 ms\\n(cut)]\n",
        "edge link cluster_region_region1 -- cluster_region_region3 [150 ms +/- 10 ms\\n(cut)]\n",
        "edge route region3-server1 -- region3-server2\n",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
        ck_assert_msg(strstr(d, want[i]) != NULL, "missing: %s in\n%s", want[i], d);
    }
    ck_assert_ptr_nonnull(strstr(g_ptr_array_index(g->notes, 0), "at 12s"));
    g_free(d);
    topo_graph_destroy(g);
    g_ptr_array_free(frames, TRUE);
    sim_scenario_destroy(sc);
}
END_TEST

START_TEST(frames_mark_crashed_servers_and_follow_every_fault)
{
    struct sim_scenario *sc = load_scenario("scenarios/mission_supercluster.conf");
    char err[TOPO_ERR_MAX] = "";
    struct sim_run_result res;
    GPtrArray *frames = topo_frames_run(sc, sc->seed, FAULTS_END_NS, &res, err, sizeof(err));
    ck_assert_msg(frames != NULL, "%s", err);
    /* One frame per fault applied, plus the start and the end. */
    ck_assert_uint_eq(frames->len, res.faults + 2);
    const struct topo_frame *crash = NULL;
    for (guint i = 0; i < frames->len && crash == NULL; i++) {
        const struct topo_frame *f = g_ptr_array_index(frames, i);
        if (strstr(f->what, "do: crash") != NULL) {
            crash = f;
        }
    }
    ck_assert_ptr_nonnull(crash);
    struct topo_graph *g = frame_graph(sc, crash);
    for (size_t i = 0; i < sc->servers_count; i++) {
        const struct topo_server *s = topo_graph_find_server(g, sc->servers[i].name);
        ck_assert_int_eq(s->down, strcmp(sc->servers[i].name, "region2-server2") == 0);
    }
    char *dot = render(g, "canon", NULL);
    ck_assert_ptr_nonnull(strstr(dot, "(down)"));
    g_free(dot);
    topo_graph_destroy(g);
    /* The same seed gives the same frames. */
    GPtrArray *again = topo_frames_run(sc, sc->seed, FAULTS_END_NS, NULL, err, sizeof(err));
    ck_assert_uint_eq(again->len, frames->len);
    for (guint i = 0; i < frames->len; i++) {
        const struct topo_frame *a = g_ptr_array_index(frames, i);
        const struct topo_frame *b = g_ptr_array_index(again, i);
        ck_assert_str_eq(a->what, b->what);
        ck_assert_uint_eq(a->state.at_ns, b->state.at_ns);
        ck_assert_mem_eq(a->state.state, b->state.state, sizeof(a->state.state));
        ck_assert_mem_eq(a->state.cut, b->state.cut, sizeof(a->state.cut));
    }
    g_ptr_array_free(again, TRUE);
    sim_run_result_deinit(&res);
    g_ptr_array_free(frames, TRUE);
    sim_scenario_destroy(sc);
}
END_TEST

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

START_TEST(report_is_one_self_contained_page_with_a_frame_per_fault)
{
    struct sim_scenario *sc = load_scenario("scenarios/mission_supercluster.conf");
    char err[TOPO_ERR_MAX] = "";
    struct sim_run_result res;
    GPtrArray *frames = topo_frames_run(sc, sc->seed, FAULTS_END_NS, &res, err, sizeof(err));
    ck_assert_msg(frames != NULL, "%s", err);
    char *tmp = g_dir_make_tmp("topo-report-XXXXXX", NULL);
    char *dir = g_build_filename(tmp, "r", NULL);
    ck_assert_msg(topo_report_write(dir, sc, &res, frames, err, sizeof(err)) == 0, "%s", err);
    char *path = g_build_filename(dir, "index.html", NULL);
    char *html = NULL;
    ck_assert(g_file_get_contents(path, &html, NULL, NULL));
    ck_assert(g_str_has_prefix(html, "<!DOCTYPE html>"));
    /* The topology, then one frame per fault. */
    ck_assert_uint_eq(count_of(html, "<svg"), res.faults + 1);
    ck_assert_uint_eq(count_of(html, "</svg>"), res.faults + 1);
    ck_assert_uint_eq(count_of(html, "<?xml"), 0);
    ck_assert_ptr_nonnull(strstr(html, "Checker verdicts"));
    ck_assert_ptr_nonnull(strstr(html, "no_duplicates"));
    ck_assert_ptr_nonnull(strstr(html, "Fault timeline"));
    ck_assert_ptr_nonnull(strstr(html, "do: region_down"));
    /* Nothing is fetched from elsewhere. */
    ck_assert_ptr_null(strstr(html, "<script"));
    ck_assert_ptr_null(strstr(html, "src="));
    ck_assert_ptr_null(strstr(html, "<link"));
    ck_assert_ptr_null(strstr(html, "href=\"http"));
    g_free(html);
    unlink(path);
    rmdir(dir);
    rmdir(tmp);
    g_free(path);
    g_free(dir);
    g_free(tmp);
    sim_run_result_deinit(&res);
    g_ptr_array_free(frames, TRUE);
    sim_scenario_destroy(sc);
}
END_TEST

/* ---- determinism -------------------------------------------------------------------- */

START_TEST(same_input_in_any_order_gives_the_same_dot_text)
{
    const char *const reversed[] = {supercluster[2], supercluster[0], supercluster[1]};
    struct topo_graph *a = from_configs(supercluster, 3, 3);
    struct topo_graph *b = from_configs(reversed, 3, 3);
    char *da = render(a, "dot", NULL);
    char *db = render(b, "dot", NULL);
    ck_assert_str_eq(da, db);
    char *again = render(a, "dot", NULL);
    ck_assert_str_eq(da, again);
    g_free(again);
    g_free(da);
    g_free(db);
    topo_graph_destroy(a);
    topo_graph_destroy(b);
}
END_TEST

/* ---- svg and png -------------------------------------------------------------------- */

struct svg_seen {
    int depth;
    bool root_svg;
    int gateway_edges;
    int nodes;
};

static void svg_start(GMarkupParseContext *ctx, const char *element, const char **names,
                      const char **values, gpointer data, GError **error)
{
    (void)ctx;
    (void)error;
    struct svg_seen *s = data;
    if (s->depth == 0) {
        s->root_svg = strcmp(element, "svg") == 0;
    }
    s->depth++;
    for (size_t i = 0; names[i] != NULL; i++) {
        if (strcmp(element, "g") == 0 && strcmp(names[i], "class") == 0) {
            s->gateway_edges += strcmp(values[i], "edge gateway") == 0;
            s->nodes += g_str_has_prefix(values[i], "node");
        }
    }
}

static void svg_end(GMarkupParseContext *ctx, const char *element, gpointer data, GError **error)
{
    (void)ctx;
    (void)element;
    (void)error;
    ((struct svg_seen *)data)->depth--;
}

START_TEST(svg_output_is_well_formed_xml_with_classed_edges)
{
    struct topo_graph *g = from_configs(supercluster, 3, 3);
    size_t len = 0;
    char *svg = render(g, "svg", &len);
    GMarkupParser p = {.start_element = svg_start, .end_element = svg_end};
    struct svg_seen seen = {0};
    GMarkupParseContext *ctx = g_markup_parse_context_new(&p, 0, &seen, NULL);
    GError *ge = NULL;
    bool ok = g_markup_parse_context_parse(ctx, svg, (gssize)len, &ge) &&
              g_markup_parse_context_end_parse(ctx, &ge);
    ck_assert_msg(ok, "svg does not parse: %s", ge != NULL ? ge->message : "");
    g_markup_parse_context_free(ctx);
    ck_assert(seen.root_svg);
    ck_assert_int_eq(seen.depth, 0);
    ck_assert_int_eq(seen.gateway_edges, 3);
    ck_assert_int_ge(seen.nodes, 9);
    g_free(svg);
    topo_graph_destroy(g);
}
END_TEST

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

START_TEST(png_output_has_the_signature_a_sized_header_and_an_end_chunk)
{
    struct topo_graph *g = from_configs(leafnode, 2, 0);
    size_t len = 0;
    unsigned char *png = (unsigned char *)render(g, "png", &len);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    ck_assert_uint_gt(len, 8 + 25 + 12);
    ck_assert_mem_eq(png, sig, 8);
    ck_assert_uint_eq(be32(png + 8), 13);
    ck_assert_mem_eq(png + 12, "IHDR", 4);
    ck_assert_uint_gt(be32(png + 16), 50); /* width */
    ck_assert_uint_gt(be32(png + 20), 50); /* height */
    /* Walk the chunks to the end: every length fits, the last one is IEND. */
    size_t off = 8;
    const unsigned char *last = NULL;
    while (off + 12 <= len) {
        uint32_t n = be32(png + off);
        ck_assert_uint_le(off + 12 + n, len);
        last = png + off + 4;
        off += 12 + n;
    }
    ck_assert_uint_eq(off, len);
    ck_assert_ptr_nonnull(last);
    ck_assert_mem_eq(last, "IEND", 4);
    g_free(png);
    topo_graph_destroy(g);
}
END_TEST

/* ---- errors ------------------------------------------------------------------------- */

static char *write_temp(const char *dir, const char *name, const char *text)
{
    char *path = g_build_filename(dir, name, NULL);
    ck_assert(g_file_set_contents(path, text, -1, NULL));
    return path;
}

START_TEST(missing_include_names_the_file_and_the_include)
{
    char *dir = g_dir_make_tmp("topo-XXXXXX", NULL);
    ck_assert_ptr_nonnull(dir);
    char *path = write_temp(dir, "a.conf", "port: 4222\ninclude ./nope.conf\n");
    struct topo_graph *g = topo_graph_create();
    struct topo_conf_opts o = {0};
    char err[TOPO_ERR_MAX] = "";
    const char *const paths[] = {path};
    ck_assert_int_eq(topo_from_configs(g, paths, 1, &o, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "a.conf:2:") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "nope.conf") != NULL, "%s", err);
    topo_graph_destroy(g);
    unlink(path);
    rmdir(dir);
    g_free(path);
    g_free(dir);
}
END_TEST

START_TEST(bad_config_key_names_file_line_and_column)
{
    char *dir = g_dir_make_tmp("topo-XXXXXX", NULL);
    char *path = write_temp(dir, "b.conf", "port: 4222\ncluser { name: x }\n");
    struct topo_graph *g = topo_graph_create();
    struct topo_conf_opts o = {0};
    char err[TOPO_ERR_MAX] = "";
    const char *const paths[] = {path};
    ck_assert_int_eq(topo_from_configs(g, paths, 1, &o, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "b.conf:2:1:") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "cluser") != NULL, "%s", err);
    ck_assert_int_eq(topo_file_is_scenario("does/not/exist.conf", err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "does/not/exist.conf") != NULL, "%s", err);
    topo_graph_destroy(g);
    unlink(path);
    rmdir(dir);
    g_free(path);
    g_free(dir);
}
END_TEST

START_TEST(unreachable_url_is_a_clear_error)
{
    /* A port nobody listens on: bound (so nobody else takes it) but not listening. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t al = sizeof(a);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    char *url = g_strdup_printf("http://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    const char *const seeds[] = {url};
    struct topo_live_opts o = {.seeds = seeds, .seeds_count = 1, .timeout_ms = 2000};
    struct topo_graph *g = topo_graph_create();
    char err[TOPO_ERR_MAX] = "";
    ck_assert_int_eq(topo_from_live(g, &o, err, sizeof(err)), -1);
    char *want = g_strdup_printf("%s/varz: connect: ", url);
    ck_assert_msg(g_str_has_prefix(err, want), "%s", err);
    g_free(want);
    /* A host that does not resolve, and a URL that is not http. */
    int status = 0;
    GString *body = g_string_new(NULL);
    ck_assert_int_eq(topo_http_get("http://no-such-host.invalid:8222", "/varz", 2000, &status,
                                   body, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "cannot resolve no-such-host.invalid") != NULL, "%s", err);
    ck_assert_int_eq(topo_http_get("https://127.0.0.1:8222", "/varz", 2000, &status, body, err,
                                   sizeof(err)), -1);
    ck_assert_msg(strstr(err, "https monitoring is not supported") != NULL, "%s", err);
    g_string_free(body, TRUE);
    topo_graph_destroy(g);
    g_free(url);
    close(fd);
}
END_TEST

START_TEST(unknown_format_is_refused_by_name)
{
    struct topo_graph *g = from_configs(leafnode, 2, 0);
    char err[TOPO_ERR_MAX] = "";
    char *out = NULL;
    size_t len = 0;
    ck_assert_int_eq(topo_graph_render(g, "gif2", &out, &len, err, sizeof(err)), -1);
    ck_assert_ptr_null(out);
    ck_assert_msg(strstr(err, "\"gif2\"") != NULL, "%s", err);
    topo_graph_destroy(g);
}
END_TEST

static Suite *topo_suite(void)
{
    Suite *s = suite_create("topo");
    TCase *conf = tcase_create("configs");
    tcase_set_timeout(conf, 60);
    tcase_add_test(conf, supercluster_configs_give_three_boxed_clusters_joined_by_gateways);
    tcase_add_test(conf,
                   supercluster_with_three_servers_each_meshes_routes_named_after_route_hosts);
    tcase_add_test(conf, leaf_configs_give_a_leaf_edge_to_the_hub_labelled_with_the_account);
    tcase_add_test(conf, gateway_to_a_cluster_not_in_the_inputs_is_drawn_external);
    suite_add_tcase(s, conf);
    TCase *scen = tcase_create("scenarios");
    tcase_set_timeout(scen, 60);
    tcase_add_test(scen, scenario_boxes_regions_around_clusters_and_labels_links_with_latency);
    tcase_add_test(scen, scenario_leaf_remote_through_a_shared_name_reaches_the_hub_cluster);
    tcase_add_test(scen, scenario_leaf_chain_resolves_hosts_by_server_name);
    suite_add_tcase(s, scen);
    TCase *sim = tcase_create("frames");
    tcase_set_timeout(sim, 120);
    tcase_add_test(sim, frame_during_a_partition_marks_the_cut_gateways_and_links);
    tcase_add_test(sim, frames_mark_crashed_servers_and_follow_every_fault);
    tcase_add_test(sim, report_is_one_self_contained_page_with_a_frame_per_fault);
    suite_add_tcase(s, sim);
    TCase *out = tcase_create("output");
    tcase_set_timeout(out, 60);
    tcase_add_test(out, same_input_in_any_order_gives_the_same_dot_text);
    tcase_add_test(out, svg_output_is_well_formed_xml_with_classed_edges);
    tcase_add_test(out, png_output_has_the_signature_a_sized_header_and_an_end_chunk);
    suite_add_tcase(s, out);
    TCase *errs = tcase_create("errors");
    tcase_set_timeout(errs, 30);
    tcase_add_test(errs, missing_include_names_the_file_and_the_include);
    tcase_add_test(errs, bad_config_key_names_file_line_and_column);
    tcase_add_test(errs, unreachable_url_is_a_clear_error);
    tcase_add_test(errs, unknown_format_is_refused_by_name);
    suite_add_tcase(s, errs);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(topo_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
