/* SPDX-License-Identifier: Apache-2.0 */
/*
 * meridian-topo: draws a NATS topology with Graphviz (libcgraph, libgvc).
 *
 *   meridian-topo [-T dot|canon|svg|png] [-o OUT] [--servers N] CONFIG.conf...
 *   meridian-topo [-T ...] [-o OUT] SCENARIO.conf
 *   meridian-topo [-T ...] [-o OUT] [--follow-port N] http://HOST:MONITOR_PORT...
 *
 * The input mode follows the arguments: URLs read a live deployment (topo_live.h); a
 * file with a servers {} or regions {} block is a scenario; other files are server
 * configs (topo_infer.h). Output goes to OUT or standard output, as with dot.
 *
 * Exit codes: 0 drawn, 1 an input could not be read or made no sense (the message
 * names the file and position or the URL), 2 bad usage.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sim/sim_scenario.h"
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
    char **args;
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
    return 0;
}

static int from_live(struct topo_graph *g, const struct cli *cli, size_t n)
{
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

static int from_files(struct topo_graph *g, const struct cli *cli, size_t n)
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
        if (cli->title == NULL) {
            char *base = g_path_get_basename(cli->args[0]);
            topo_graph_set_title(g, base);
            g_free(base);
        }
        topo_from_scenario(g, sc);
        sim_scenario_destroy(sc);
        return 0;
    }
    struct topo_conf_opts co = {.servers = cli->servers};
    if (topo_from_configs(g, (const char *const *)cli->args, n, &co, err, sizeof(err)) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return EXIT_INPUT;
    }
    return 0;
}

static int write_output(const struct cli *cli, const char *data, size_t len)
{
    if (cli->output == NULL) {
        if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
            fprintf(stderr, PROG ": cannot write to standard output\n");
            return EXIT_INPUT;
        }
        return 0;
    }
    GError *ge = NULL;
    if (!g_file_set_contents(cli->output, data, (gssize)len, &ge)) {
        fprintf(stderr, PROG ": -o %s: %s\n", cli->output, ge->message);
        g_error_free(ge);
        return EXIT_INPUT;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct cli cli = {0};
    int rc = parse_cli(argc, argv, &cli);
    struct topo_graph *g = topo_graph_create();
    if (rc == 0) {
        size_t n = g_strv_length(cli.args);
        rc = topo_is_url(cli.args[0]) ? from_live(g, &cli, n) : from_files(g, &cli, n);
    }
    if (rc == 0) {
        if (cli.title != NULL) {
            topo_graph_set_title(g, cli.title);
        }
        char err[TOPO_ERR_MAX] = "";
        char *out = NULL;
        size_t len = 0;
        if (topo_graph_render(g, cli.format, &out, &len, err, sizeof(err)) != 0) {
            fprintf(stderr, PROG ": %s\n", err);
            rc = EXIT_INPUT;
        } else {
            rc = write_output(&cli, out, len);
            g_free(out);
        }
    }
    topo_graph_destroy(g);
    g_free(cli.format);
    g_free(cli.output);
    g_free(cli.title);
    g_strfreev(cli.args);
    return rc;
}
