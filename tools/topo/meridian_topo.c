/* SPDX-License-Identifier: Apache-2.0 */
/*
 * meridian-topo: draws a NATS topology with Graphviz (libcgraph, libgvc).
 *
 *   meridian-topo [-T dot|canon|svg|png] [-o OUT] [--servers N] CONFIG.conf...
 *   meridian-topo [-T ...] [-o OUT] SCENARIO.conf
 *   meridian-topo [-T ...] [-o OUT] [--seed N] --at TIME|--frames SCENARIO.conf
 *   meridian-topo [-T ...] [-o OUT] [--follow-port N] http://HOST:MONITOR_PORT...
 *
 * The input mode follows the arguments: URLs read a live deployment (topo_live.h); a
 * file with a servers {} or regions {} block is a scenario; other files are server
 * configs (topo_infer.h). Output goes to OUT or standard output, as with dot.
 *
 * With --at or --frames the scenario is run in the simulator (topo_frame.h): --at draws
 * its state at one virtual time, --frames one graph per row of the fault timeline (the
 * start and every fault), written to OUT-00.EXT, OUT-01.EXT ... (or, for dot and canon
 * without -o, one graph after another on standard output, as dot reads them).
 *
 * Exit codes: 0 drawn, 1 an input could not be read or made no sense (the message
 * names the file and position or the URL), 2 bad usage.
 */
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf/conf.h"
#include "core/err.h"
#include "sim/sim_scenario.h"
#include "tools/topo/topo_frame.h"
#include "tools/topo/topo_graph.h"
#include "tools/topo/topo_infer.h"
#include "tools/topo/topo_live.h"

#define PROG "meridian-topo"
#define EXIT_INPUT 1
#define EXIT_USAGE 2

struct cli {
    char *format;
    char *output;
    char *title;
    int servers;
    int follow_port;
    int timeout_ms;
    char *at;     /* --at TIME */
    uint64_t at_ns;
    bool frames;  /* --frames */
    char *seed;   /* --seed N */
    uint64_t seed_value;
    char **args;
};

/* The graphs to write: one, or one per frame. */
struct outputs {
    GPtrArray *graphs; /* struct topo_graph *, owned */
};

static int usage_error(const char *msg)
{
    fprintf(stderr, PROG ": %s (try --help)\n", msg);
    return EXIT_USAGE;
}

static int parse_cli(int argc, char **argv, struct cli *cli)
{
    const GOptionEntry entries[] = {
        {"format", 'T', 0, G_OPTION_ARG_STRING, &cli->format,
         "Output format: dot (laid out), canon (as built), svg, png", "FORMAT"},
        {"output", 'o', 0, G_OPTION_ARG_FILENAME, &cli->output,
         "Write to FILE (default: standard output)", "FILE"},
        {"servers", 0, 0, G_OPTION_ARG_INT, &cli->servers,
         "Config mode: servers per clustered config file (default: 1)", "N"},
        {"follow-port", 0, 0, G_OPTION_ARG_INT, &cli->follow_port,
         "Live mode: also read http://PEER:N for every peer address learned", "N"},
        {"timeout", 0, 0, G_OPTION_ARG_INT, &cli->timeout_ms,
         "Live mode: per-request timeout in milliseconds (default 3000)", "MS"},
        {"title", 0, 0, G_OPTION_ARG_STRING, &cli->title, "Title drawn above the graph",
         "TEXT"},
        {"at", 0, 0, G_OPTION_ARG_STRING, &cli->at,
         "Scenario: run the simulator and draw its state at this virtual time (\"30s\")",
         "TIME"},
        {"frames", 0, 0, G_OPTION_ARG_NONE, &cli->frames,
         "Scenario: run the simulator, one graph per fault of the timeline", NULL},
        {"seed", 0, 0, G_OPTION_ARG_STRING, &cli->seed,
         "Scenario runs: the seed (default: the scenario's sim.seed)", "N"},
        {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &cli->args, NULL,
         "FILE...|URL..."},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    GOptionContext *ctx = g_option_context_new("FILE...|URL...");
    g_option_context_set_summary(
        ctx, "Draws a NATS topology from server configs, a scenario file, or the monitoring\n"
             "endpoints of running servers (http://HOST:PORT seeds).");
    g_option_context_add_main_entries(ctx, entries, NULL);
    GError *ge = NULL;
    bool ok = g_option_context_parse(ctx, &argc, &argv, &ge);
    g_option_context_free(ctx);
    if (!ok) {
        int rc = usage_error(ge->message);
        g_error_free(ge);
        return rc;
    }
    if (cli->format == NULL) {
        cli->format = g_strdup("dot");
    }
    if (!topo_format_known(cli->format)) {
        fprintf(stderr, PROG ": -T %s: unknown format (expected dot, canon, svg or png)\n",
                cli->format);
        return EXIT_USAGE;
    }
    if (cli->args == NULL || cli->args[0] == NULL) {
        return usage_error("no input: give config files, a scenario file or http:// URLs");
    }
    if (cli->servers < 0 || cli->servers > TOPO_SERVERS_PER_CONFIG_MAX) {
        fprintf(stderr, PROG ": --servers %d: expected 1 to %d\n", cli->servers,
                TOPO_SERVERS_PER_CONFIG_MAX);
        return EXIT_USAGE;
    }
    if (cli->follow_port < 0 || cli->follow_port > 65535 || cli->timeout_ms < 0) {
        return usage_error("--follow-port expects a port, --timeout a positive number");
    }
    if (cli->at != NULL) {
        struct mr_conf_value v = {.type = MR_CONF_STRING};
        v.u.str.s = cli->at;
        v.u.str.len = strlen(cli->at);
        bool legacy = false;
        if (mr_conf_duration_ns(&v, &cli->at_ns, &legacy) != 0 || legacy || cli->at_ns == 0) {
            fprintf(stderr, PROG ": --at %s: expected a positive duration such as 30s\n",
                    cli->at);
            return EXIT_USAGE;
        }
    }
    if (cli->seed != NULL) {
        char *end = NULL;
        cli->seed_value = g_ascii_strtoull(cli->seed, &end, 0);
        if (end == cli->seed || *end != '\0') {
            fprintf(stderr, PROG ": --seed %s: expected a number (decimal or 0x...)\n",
                    cli->seed);
            return EXIT_USAGE;
        }
    }
    if (cli->at != NULL && cli->frames) {
        return usage_error("--at and --frames exclude each other");
    }
    return 0;
}

static int from_live(struct outputs *out, const struct cli *cli, size_t n)
{
    if (cli->at != NULL || cli->frames) {
        return usage_error("--at and --frames need a scenario file");
    }
    struct topo_graph *g = topo_graph_create();
    g_ptr_array_add(out->graphs, g);
    if (cli->title != NULL) {
        topo_graph_set_title(g, cli->title);
    }
    for (size_t i = 0; i < n; i++) {
        if (!topo_is_url(cli->args[i])) {
            fprintf(stderr, PROG ": %s: live mode takes URLs only (do not mix files and URLs)\n",
                    cli->args[i]);
            return EXIT_USAGE;
        }
    }
    struct topo_live_opts o = {
        .seeds = (const char *const *)cli->args,
        .seeds_count = n,
        .follow_port = cli->follow_port,
        .timeout_ms = cli->timeout_ms,
    };
    char err[TOPO_ERR_MAX] = "";
    if (topo_from_live(g, &o, err, sizeof(err)) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return EXIT_INPUT;
    }
    return 0;
}

/* --at: the state follows from the faults before it; name the last one. */
static void last_fault_note(struct topo_graph *g, const GPtrArray *frames)
{
    for (guint i = frames->len; i > 0; i--) {
        const struct topo_frame *f = g_ptr_array_index(frames, i - 1);
        if (topo_frame_is_fault(f)) {
            char at[32];
            sim_sc_duration_format(f->state.at_ns, at, sizeof(at));
            topo_graph_add_note(g, "last fault, at %s: %s", at, f->what);
            return;
        }
    }
    topo_graph_add_note(g, "no fault yet");
}

/* Runs the scenario and keeps the frame at --at, or every frame with --frames (the start
 * and each fault). */
static int scenario_frames(struct outputs *out, const struct cli *cli,
                           const struct sim_scenario *sc, const char *base)
{
    char err[TOPO_ERR_MAX] = "";
    uint64_t seed = cli->seed != NULL ? cli->seed_value : sc->seed;
    if (cli->at != NULL && cli->at_ns > sc->duration_ns) {
        char d[32];
        sim_sc_duration_format(sc->duration_ns, d, sizeof(d));
        fprintf(stderr, PROG ": --at %s: after the end of the scenario (duration %s)\n",
                cli->at, d);
        return EXIT_USAGE;
    }
    GPtrArray *frames = topo_frames_run(sc, seed, cli->at_ns, NULL, err, sizeof(err));
    if (frames == NULL) {
        fprintf(stderr, PROG ": %s\n", err);
        return EXIT_INPUT;
    }
    for (guint i = 0; i < frames->len; i++) {
        const struct topo_frame *f = g_ptr_array_index(frames, i);
        bool keep = cli->at != NULL ? i + 1 == frames->len
                                    : i == 0 || topo_frame_is_fault(f);
        if (!keep) {
            continue;
        }
        struct topo_graph *g = topo_graph_create();
        char *title = g_strdup_printf("%s (seed 0x%016" PRIx64 ")",
                                      cli->title != NULL ? cli->title : base, seed);
        topo_graph_set_title(g, title);
        g_free(title);
        topo_from_scenario(g, sc);
        topo_frame_apply(g, sc, f);
        if (cli->at != NULL) {
            last_fault_note(g, frames);
        }
        g_ptr_array_add(out->graphs, g);
    }
    g_ptr_array_free(frames, TRUE);
    return 0;
}

static int from_files(struct outputs *out, const struct cli *cli, size_t n)
{
    char err[TOPO_ERR_MAX] = "";
    int scenarios = 0;
    for (size_t i = 0; i < n; i++) {
        if (topo_is_url(cli->args[i])) {
            fprintf(stderr, PROG ": %s: do not mix URLs and files\n", cli->args[i]);
            return EXIT_USAGE;
        }
        int is = topo_file_is_scenario(cli->args[i], err, sizeof(err));
        if (is < 0) {
            fprintf(stderr, PROG ": %s\n", err);
            return EXIT_INPUT;
        }
        scenarios += is;
    }
    if (scenarios > 0 && n > 1) {
        fprintf(stderr, PROG ": a scenario file is drawn on its own (got %zu files)\n", n);
        return EXIT_USAGE;
    }
    if (scenarios == 1) {
        struct sim_scenario *sc = NULL;
        if (sim_scenario_load_file(cli->args[0], sim_scenario_file_io(), &sc, err,
                                   sizeof(err)) != 0) {
            fprintf(stderr, PROG ": %s\n", err);
            return EXIT_INPUT;
        }
        char *base = g_path_get_basename(cli->args[0]);
        int rc = 0;
        if (cli->at != NULL || cli->frames) {
            rc = scenario_frames(out, cli, sc, base);
        } else {
            struct topo_graph *g = topo_graph_create();
            topo_graph_set_title(g, cli->title != NULL ? cli->title : base);
            topo_from_scenario(g, sc);
            g_ptr_array_add(out->graphs, g);
        }
        g_free(base);
        sim_scenario_destroy(sc);
        return rc;
    }
    if (cli->at != NULL || cli->frames) {
        return usage_error("--at and --frames need a scenario file");
    }
    struct topo_conf_opts co = {.servers = cli->servers};
    struct topo_graph *g = topo_graph_create();
    g_ptr_array_add(out->graphs, g);
    if (topo_from_configs(g, (const char *const *)cli->args, n, &co, err, sizeof(err)) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return EXIT_INPUT;
    }
    if (cli->title != NULL) {
        topo_graph_set_title(g, cli->title);
    }
    return 0;
}

/* OUT-NN.EXT for frame i of a multi-frame output (NN from 00). */
static char *frame_path(const char *output, guint i)
{
    const char *slash = strrchr(output, '/');
    const char *dot = strrchr(output, '.');
    if (dot == NULL || (slash != NULL && dot < slash)) {
        return g_strdup_printf("%s-%02u", output, i);
    }
    return g_strdup_printf("%.*s-%02u%s", (int)(dot - output), output, i, dot);
}

static int write_file(const char *path, const char *data, size_t len)
{
    GError *ge = NULL;
    if (!g_file_set_contents(path, data, (gssize)len, &ge)) {
        fprintf(stderr, PROG ": -o %s: %s\n", path, ge->message);
        g_error_free(ge);
        return EXIT_INPUT;
    }
    return 0;
}

static int write_outputs(const struct cli *cli, struct outputs *out)
{
    bool many = out->graphs->len > 1 || cli->frames;
    bool text = strcmp(cli->format, "dot") == 0 || strcmp(cli->format, "canon") == 0;
    if (many && cli->output == NULL && !text) {
        return usage_error("--frames with -T svg or png needs -o (one file per frame)");
    }
    for (guint i = 0; i < out->graphs->len; i++) {
        char err[TOPO_ERR_MAX] = "";
        char *data = NULL;
        size_t len = 0;
        if (topo_graph_render(g_ptr_array_index(out->graphs, i), cli->format, &data, &len, err,
                              sizeof(err)) != 0) {
            fprintf(stderr, PROG ": %s\n", err);
            return EXIT_INPUT;
        }
        int rc = 0;
        if (cli->output == NULL) {
            if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
                fprintf(stderr, PROG ": cannot write to standard output\n");
                rc = EXIT_INPUT;
            }
        } else if (many) {
            char *path = frame_path(cli->output, i);
            rc = write_file(path, data, len);
            g_free(path);
        } else {
            rc = write_file(cli->output, data, len);
        }
        g_free(data);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct cli cli = {0};
    int rc = parse_cli(argc, argv, &cli);
    struct outputs out = {.graphs = g_ptr_array_new_with_free_func(
                              (GDestroyNotify)topo_graph_destroy)};
    if (rc == 0) {
        size_t n = g_strv_length(cli.args);
        rc = topo_is_url(cli.args[0]) ? from_live(&out, &cli, n) : from_files(&out, &cli, n);
    }
    if (rc == 0) {
        rc = write_outputs(&cli, &out);
    }
    g_ptr_array_free(out.graphs, TRUE);
    g_free(cli.format);
    g_free(cli.output);
    g_free(cli.title);
    g_free(cli.at);
    g_free(cli.seed);
    g_strfreev(cli.args);
    return rc;
}
