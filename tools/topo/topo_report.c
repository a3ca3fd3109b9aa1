/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTML report of a simulator run (topo_report.h). Everything the page needs is in
 * the one file: styles in a <style> element, graphs as inline SVG (Graphviz's output
 * without its XML prolog and DOCTYPE, which may not appear inside HTML).
 */
#include "tools/topo/topo_report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/topo/topo_frame.h"
#include "tools/topo/topo_graph.h"
#include "tools/topo/topo_infer.h"

static const char style[] =
    "body{font-family:Helvetica,Arial,sans-serif;margin:2em;color:#222;max-width:80em}"
    "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}"
    "pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:0.85em}"
    ".pass{color:#1e7b34;font-weight:bold}.fail{color:#c0392b;font-weight:bold}"
    ".frame{margin:1.5em 0;padding:0.5em;border:1px solid #ddd;border-radius:6px}"
    ".frame svg{max-width:100%;height:auto}"
    "table{border-collapse:collapse}td,th{padding:0.2em 0.8em;text-align:left;"
    "border-bottom:1px solid #eee}";

static void append_escaped(GString *out, const char *text)
{
    char *esc = g_markup_escape_text(text, -1);
    g_string_append(out, esc);
    g_free(esc);
}

/* The <svg> element of Graphviz's output, without what precedes it. */
static void append_svg(GString *out, const char *svg)
{
    const char *start = strstr(svg, "<svg");
    g_string_append(out, start != NULL ? start : svg);
}

/* Draws frame f (NULL = the plain topology) and appends it as inline SVG. */
static int append_graph(GString *out, const struct sim_scenario *sc, const struct topo_frame *f,
                        char *err, size_t err_len)
{
    struct topo_graph *g = topo_graph_create();
    topo_from_scenario(g, sc);
    if (f != NULL) {
        topo_frame_apply(g, sc, f);
    }
    char *svg = NULL;
    size_t len = 0;
    int rc = topo_graph_render(g, "svg", &svg, &len, err, err_len);
    if (rc == 0) {
        append_svg(out, svg);
        g_free(svg);
    }
    topo_graph_destroy(g);
    return rc;
}

/* The verdict lines as the CLI prints them. */
static char *verdict_text(const struct sim_run_result *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) {
        return g_strdup("(out of memory)");
    }
    sim_run_result_print(r, f);
    fclose(f);
    char *copy = g_strndup(buf, len);
    free(buf);
    return copy;
}

static void append_head(GString *out, const struct sim_scenario *sc,
                        const struct sim_run_result *r)
{
    char *base = g_path_get_basename(sc->path);
    g_string_append(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                         "<title>");
    append_escaped(out, base);
    g_string_append_printf(out, " seed 0x%016" PRIx64 "</title>\n<style>%s</style>\n"
                                "</head>\n<body>\n<h1>",
                           r->seed, style);
    append_escaped(out, base);
    g_string_append_printf(out, "</h1>\n<p>Seed <code>0x%016" PRIx64 "</code>, %zu servers, "
                                "%zu clients, %" PRIu64 " faults applied, %.3f virtual seconds. "
                                "Result: <span class=\"%s\">%s</span>.</p>\n",
                           r->seed, sc->servers_count, sc->clients_count, r->faults,
                           (double)r->virtual_ns / 1e9, r->ok ? "pass" : "fail",
                           r->ok ? "PASS" : "FAIL");
    g_string_append(out, "<p>Replay: <code>meridian-sim --seed ");
    g_string_append_printf(out, "0x%016" PRIx64 " ", r->seed);
    append_escaped(out, sc->path);
    g_string_append(out, "</code></p>\n");
    g_free(base);
}

static void append_verdicts(GString *out, const struct sim_run_result *r)
{
    g_string_append(out, "<h2>Checker verdicts</h2>\n<table>\n<tr><th>check</th><th>verdict"
                         "</th><th>detail</th></tr>\n");
    for (int c = 0; c < SIM_CHECK_COUNT; c++) {
        if (!r->verdict_run[c]) {
            continue;
        }
        const struct sim_verdict *v = &r->verdicts[c];
        g_string_append(out, "<tr><td>");
        append_escaped(out, sim_sc_check_name((enum sim_sc_check)c));
        g_string_append_printf(out,
                               "</td><td class=\"%s\">%s</td><td>%" PRIu64 " checked, %" PRIu64
                               " violation%s",
                               v->ok ? "pass" : "fail", v->ok ? "ok" : "violated", v->checked,
                               v->violations, v->violations == 1 ? "" : "s");
        if (v->first[0] != '\0') {
            g_string_append(out, "; ");
            append_escaped(out, v->first);
        }
        g_string_append(out, "</td></tr>\n");
    }
    g_string_append(out, "</table>\n<pre>");
    char *text = verdict_text(r);
    append_escaped(out, text);
    g_free(text);
    g_string_append(out, "</pre>\n");
}

static int append_frames(GString *out, const struct sim_scenario *sc, const GPtrArray *frames,
                         char *err, size_t err_len)
{
    g_string_append(out, "<h2>Topology</h2>\n<div class=\"frame\">\n");
    if (append_graph(out, sc, NULL, err, err_len) != 0) {
        return -1;
    }
    g_string_append(out, "</div>\n<h2>One frame per fault</h2>\n");
    guint drawn = 0;
    for (guint i = 0; i < frames->len; i++) {
        const struct topo_frame *f = g_ptr_array_index(frames, i);
        if (!topo_frame_is_fault(f)) {
            continue;
        }
        char at[32];
        sim_sc_duration_format(f->state.at_ns, at, sizeof(at));
        g_string_append_printf(out, "<div class=\"frame\" id=\"fault-%u\">\n<h3>%s: ", drawn + 1,
                               at);
        append_escaped(out, f->what);
        g_string_append(out, "</h3>\n");
        if (drawn >= TOPO_REPORT_FRAMES_MAX) {
            g_string_append(out, "<p>(not drawn: too many frames)</p>\n</div>\n");
            continue;
        }
        if (append_graph(out, sc, f, err, err_len) != 0) {
            return -1;
        }
        g_string_append(out, "</div>\n");
        drawn++;
    }
    if (drawn == 0) {
        g_string_append(out, "<p>No fault in this run.</p>\n");
    }
    return 0;
}

int topo_report_write(const char *dir, const struct sim_scenario *sc,
                      const struct sim_run_result *r, const GPtrArray *frames, char *err,
                      size_t err_len)
{
    if (g_mkdir_with_parents(dir, 0755) != 0) {
        snprintf(err, err_len, "--report %s: %s", dir, g_strerror(errno));
        return -1;
    }
    GString *out = g_string_new(NULL);
    append_head(out, sc, r);
    append_verdicts(out, r);
    char why[TOPO_ERR_MAX] = "";
    if (append_frames(out, sc, frames, why, sizeof(why)) != 0) {
        snprintf(err, err_len, "--report %s: %s", dir, why);
        g_string_free(out, TRUE);
        return -1;
    }
    g_string_append(out, "<h2>Fault timeline</h2>\n<pre>");
    append_escaped(out, r->timeline != NULL ? r->timeline : "");
    g_string_append(out, "</pre>\n<h2>Schedule</h2>\n<pre>");
    append_escaped(out, r->schedule != NULL ? r->schedule : "");
    g_string_append(out, "</pre>\n</body>\n</html>\n");
    char *path = g_build_filename(dir, "index.html", NULL);
    GError *ge = NULL;
    int rc = 0;
    if (!g_file_set_contents(path, out->str, (gssize)out->len, &ge)) {
        snprintf(err, err_len, "--report %s: %s", path, ge->message);
        g_error_free(ge);
        rc = -1;
    }
    g_free(path);
    g_string_free(out, TRUE);
    return rc;
}
