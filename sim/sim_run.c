/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scenario runner (sim_run.h): world, servers and workloads from a scenario, the
 * schedule applied at its virtual times, the online checker after every event and the
 * offline checkers at the end.
 *
 * Invariants: a server slot holds a live server object exactly when its host is up;
 * fault windows are recorded from the first disturbance to the moment everything is
 * whole again (no server down or paused, no cut, no latency or clock override);
 * trace lines are written in virtual-time order (faults before the client events of
 * the same instant), so the trace file is a function of the seed.
 *
 * Ownership: the run owns the world, servers, workloads and history it creates and
 * frees them before sim_run returns; the result keeps only copies.
 */
#include "sim/sim_run.h"

#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/server/server.h"
#include "sim/sim_env.h"
#include "sim/sim_history.h"
#include "sim/sim_workload.h"

_Static_assert(SIM_SC_NAME_MAX <= SIM_WL_NAME_MAX, "a client name fits a workload name");
_Static_assert(SIM_SC_AT_MAX <= SIM_WL_SERVERS_MAX, "a client's servers fit a workload");
_Static_assert(SIM_SC_SUBJECT_MAX < SIM_WL_SUBJECT_MAX, "a subject fits a workload's");
_Static_assert(SIM_SC_SIZE_MAX <= SIM_WL_PAYLOAD_MAX, "a payload size fits a workload's");
_Static_assert(SIM_SC_CRED_MAX <= SIM_WL_CRED_MAX, "credentials fit a workload's");

#define NS_PER_MS ((uint64_t)1000000)
#define NS_PER_S ((uint64_t)1000000000)

enum server_state {
    SRV_UP = 0,
    SRV_DOWN,
    SRV_PAUSED,
};

struct run;

struct run_server {
    struct run *run;
    const struct sim_sc_server *conf; /* borrowed from the scenario */
    /* The options the server is created with: the config's, with JetStream's. */
    struct mr_server_opts opts;
    struct sim_host *host;
    struct mr_server *srv; /* NULL while the host is down */
    enum server_state state;
    int64_t skew_ns;
    uint32_t check_every; /* from the options; 0 = never */
    uint32_t check_count; /* events since the last check */
};

/* A fault line for the trace, kept until it is merged with the history by time. */
struct trace_line {
    uint64_t t_ns;
    char *json;
};

struct run {
    const struct sim_scenario *sc;
    const struct sim_run_opts *o;
    struct sim_run_result *res;
    struct sim_world *w;
    struct sim_history *h;
    struct run_server *servers;
    struct sim_workload **workloads;
    size_t workloads_count;
    struct sim_check_online online;
    uint64_t events_max;

    /* Fault windows (struct sim_window) and the one open now, if any. */
    GArray *windows;
    bool window_open;
    uint64_t window_from_ns;
    uint64_t last_heal_ns;
    bool cuts;              /* a partition or isolate may still be in force */
    size_t latency_changed; /* latency overrides in force */

    GArray *crashes;     /* struct sim_check_crash, for no_acked_loss */
    GArray *trace_lines; /* struct trace_line */
    GString *timeline;

    /* Liveness mode with a quiesce (simulation.md section 7): the core chosen from the
     * seed before the run. core_active is set by quiesce: from then on the servers
     * outside the core keep their faults, only the core's state counts for the fault
     * windows, and later schedule entries are skipped. */
    bool liveness;
    bool in_core[SIM_SC_SERVERS_MAX];
    const char *core_names[SIM_SC_SERVERS_MAX]; /* borrowed from the scenario */
    size_t core_len;
    bool core_active;
    bool core_permanent; /* some fault outside the core stays (a server down, ...) */
    uint64_t core_from_ns;
    GString *core_text; /* the summary line; NULL in safety mode */

    /* Outages for local_delivery (struct sim_check_outage): a leaf server down, paused
     * or cut from the clients, or two servers of one leaf cluster cut apart, with the
     * time each open one began (out_from[i * n + j], i <= j; out_open likewise). */
    struct sim_check_server *check_servers;
    GArray *outages;
    bool *out_open;
    uint64_t *out_from;
};

void sim_run_opts_default(struct sim_run_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->seed = 1;
    o->online_checks = true;
    o->server_check_every = 1;
}

/* ---- servers ----------------------------------------------------------------------- */

static void check_server(void *ctx)
{
    struct run_server *s = ctx;
    mr_assert(s->srv != NULL);
    if (++s->check_count >= s->check_every) {
        s->check_count = 0;
        mr_server_check(s->srv);
    }
}

/* The store's errors (damage found at recovery, a failed read, write or sync) go into
 * the history, where no_acked_loss tells detected losses from silent ones. Warnings
 * (an unclean close, a torn tail dropped) are expected after any crash: not recorded. */
static void server_log(void *ctx, enum mr_log_level level, const char *module, const char *msg)
{
    struct run_server *s = ctx;
    if (level != MR_LOG_ERROR || strcmp(module, "js_store") != 0) {
        return;
    }
    struct sim_hist_event ev = {0};
    ev.t_ns = sim_world_now_ns(s->run->w);
    ev.kind = SIM_H_JS_STORE;
    ev.actor = sim_history_actor(s->run->h, s->conf->name);
    ev.server = s->conf->name;
    ev.text = msg;
    (void)sim_history_append(s->run->h, &ev); /* a full history marks itself truncated */
    s->run->res->js_store_errors++;
}

/* JetStream as the real server sets it up: store_dir/jetstream is the store's root
 * (here on the host's simulated disk). */
static void server_js_setup(struct run_server *s)
{
    const struct mr_config *cf = &s->conf->config;
    s->opts = cf->server;
    if (!cf->jetstream.enabled) {
        return;
    }
    s->opts.jetstream = &cf->jetstream;
    s->opts.account_jetstream = cf->account_jetstream;
    s->opts.account_jetstream_count = cf->account_jetstream_count;
    const char *dir = cf->jetstream.store_dir;
    char *root = g_strconcat(dir != NULL && dir[0] != '\0' ? dir : "/tmp/nats", "/jetstream",
                             NULL);
    sim_host_set_file_root(s->host, root);
    g_free(root);
    sim_host_set_log_fn(s->host, server_log, s);
}

static int server_boot(struct run *r, struct run_server *s)
{
    char errmsg[MR_ERRMSG_MAX] = "";
    mr_assert(s->srv == NULL);
    int rc = mr_server_create(&s->opts, sim_host_env(s->host), &s->srv, errmsg, sizeof(errmsg));
    if (rc != 0) {
        snprintf(r->res->err, sizeof(r->res->err), "%s: server \"%s\": %s", s->conf->where,
                 s->conf->name, errmsg);
        s->srv = NULL;
        return rc;
    }
    sim_host_set_sink(s->host, mr_server_sink(s->srv));
    if (s->check_every > 0) {
        sim_host_set_check(s->host, check_server, s);
    }
    rc = mr_server_start(s->srv);
    if (rc != 0) {
        snprintf(r->res->err, sizeof(r->res->err), "%s: server \"%s\": start: %s",
                 s->conf->where, s->conf->name, mr_err_text(rc));
        return rc;
    }
    s->state = SRV_UP;
    return 0;
}

/* The process is gone: the host drops everything, then the object is freed. */
static void server_crash(struct run_server *s, enum sim_crash_kind kind)
{
    if (s->state == SRV_DOWN) {
        return;
    }
    if (s->state == SRV_PAUSED) {
        sim_host_resume(s->host);
    }
    struct sim_check_crash c = {(uint32_t)(s - s->run->servers), sim_world_now_ns(s->run->w),
                                kind == SIM_CRASH_POWER};
    g_array_append_val(s->run->crashes, c);
    sim_host_crash(s->host, kind);
    sim_host_set_check(s->host, NULL, NULL);
    mr_server_destroy(s->srv);
    s->srv = NULL;
    s->state = SRV_DOWN;
}

static void server_restart(struct run *r, struct run_server *s)
{
    if (s->state != SRV_DOWN) {
        return;
    }
    sim_host_restart(s->host);
    int rc = server_boot(r, s);
    /* The same config booted this server at the start, so it cannot fail now. */
    mr_assert(rc == 0);
}

static struct run_server *server_by_name(struct run *r, const char *name)
{
    int i = sim_scenario_server_index(r->sc, name);
    mr_assert(i >= 0);
    return &r->servers[i];
}

/* ---- fault windows and the trace ---------------------------------------------------- */

/* Whether a core server is cut from another core server or from a client. */
static bool core_cut(struct run *r)
{
    size_t n = r->sc->servers_count;
    for (size_t i = 0; i < n; i++) {
        if (!r->in_core[i]) {
            continue;
        }
        struct sim_host *a = r->servers[i].host;
        for (size_t j = 0; j < n; j++) {
            if (j != i && r->in_core[j] && sim_net_is_cut(r->w, a, r->servers[j].host)) {
                return true;
            }
        }
        for (size_t k = 0; k < r->workloads_count; k++) {
            struct sim_host *wh = sim_workload_host(r->workloads[k]);
            if (sim_net_is_cut(r->w, a, wh) || sim_net_is_cut(r->w, wh, a)) {
                return true;
            }
        }
    }
    return false;
}

/* Whether the world is not whole. Once the liveness core is in force only the core
 * counts: the servers outside it stay faulty for good, and the checkers exempt their
 * clients instead (sim_check.h). */
static bool world_disturbed(struct run *r)
{
    for (size_t i = 0; i < r->sc->servers_count; i++) {
        if (r->core_active && !r->in_core[i]) {
            continue;
        }
        if (r->servers[i].state != SRV_UP || r->servers[i].skew_ns != 0) {
            return true;
        }
    }
    if (r->core_active) {
        return r->latency_changed > 0 || core_cut(r);
    }
    return r->cuts || r->latency_changed > 0;
}

static void window_update(struct run *r, uint64_t now, bool instant)
{
    bool disturbed = world_disturbed(r);
    if (disturbed && !r->window_open) {
        r->window_open = true;
        r->window_from_ns = now;
    } else if (!disturbed && r->window_open) {
        struct sim_window win = {r->window_from_ns, now};
        g_array_append_val(r->windows, win);
        r->window_open = false;
        r->last_heal_ns = now;
    }
    if (instant && !r->window_open) {
        /* A reset disturbs only the instant it happens; the checkers' settle margin
         * covers the reconnect. */
        struct sim_window win = {now, now + 1};
        g_array_append_val(r->windows, win);
        r->last_heal_ns = now;
    }
}

/* local_delivery's view of the servers: the leaf servers (with remotes) are judged, and
 * the leaf servers of one named cluster form a group. */
static void outages_init(struct run *r)
{
    size_t n = r->sc->servers_count;
    r->check_servers = g_new0(struct sim_check_server, n + 1);
    r->outages = g_array_new(FALSE, TRUE, sizeof(struct sim_check_outage));
    r->out_open = g_new0(bool, n * n + 1);
    r->out_from = g_new0(uint64_t, n * n + 1);
    for (size_t i = 0; i < n; i++) {
        const struct mr_config *cf = &r->sc->servers[i].config;
        struct sim_check_server *cs = &r->check_servers[i];
        cs->name = r->sc->servers[i].name;
        cs->local = cf->leafnodes.present && cf->leafnodes.remotes_count > 0;
        cs->group = (uint32_t)i;
        bool named = cf->cluster.present && cf->cluster.name != NULL;
        for (size_t j = 0; j < i && cs->local && named; j++) {
            const struct mr_config *o = &r->sc->servers[j].config;
            if (r->check_servers[j].local && o->cluster.present && o->cluster.name != NULL &&
                strcmp(o->cluster.name, cf->cluster.name) == 0) {
                cs->group = r->check_servers[j].group;
                break;
            }
        }
    }
}

/* Whether server i is out for its own clients: down, paused, or cut from a client. */
static bool server_out(struct run *r, size_t i)
{
    const struct run_server *s = &r->servers[i];
    if (s->state != SRV_UP) {
        return true;
    }
    for (size_t k = 0; k < r->workloads_count; k++) {
        struct sim_host *wh = sim_workload_host(r->workloads[k]);
        if (sim_net_is_cut(r->w, s->host, wh) || sim_net_is_cut(r->w, wh, s->host)) {
            return true;
        }
    }
    return false;
}

static void outage_add(struct run *r, size_t a, size_t b, uint64_t from, uint64_t to)
{
    struct sim_check_outage x = {(uint32_t)a, (uint32_t)b, {from, to}};
    g_array_append_val(r->outages, x);
}

/* Opens and closes outages after a schedule entry (or at the end, with closing). */
static void outages_update(struct run *r, uint64_t now, bool closing)
{
    size_t n = r->sc->servers_count;
    for (size_t i = 0; i < n; i++) {
        if (!r->check_servers[i].local) {
            continue;
        }
        for (size_t j = i; j < n; j++) {
            if (j != i && (!r->check_servers[j].local ||
                           r->check_servers[j].group != r->check_servers[i].group)) {
                continue;
            }
            bool out = j == i ? server_out(r, i)
                              : sim_net_is_cut(r->w, r->servers[i].host, r->servers[j].host) ||
                                    sim_net_is_cut(r->w, r->servers[j].host, r->servers[i].host);
            size_t k = i * n + j;
            if (out && !closing && !r->out_open[k]) {
                r->out_open[k] = true;
                r->out_from[k] = now;
            } else if ((!out || closing) && r->out_open[k]) {
                r->out_open[k] = false;
                outage_add(r, i, j, r->out_from[k], now);
            }
        }
    }
}

static void trace_add(struct run *r, uint64_t t_ns, char *json)
{
    if (r->o->trace == NULL) {
        g_free(json);
        return;
    }
    struct trace_line tl = {t_ns, json};
    g_array_append_val(r->trace_lines, tl);
}

/* Hands the observer (sim_run_opts.on_frame) the state of every server now. */
static void emit_frame(struct run *r, const char *what)
{
    if (r->o->on_frame == NULL) {
        return;
    }
    struct sim_run_frame *f = g_new0(struct sim_run_frame, 1);
    f->at_ns = sim_world_now_ns(r->w);
    f->what = what;
    f->servers_count = r->sc->servers_count;
    for (size_t i = 0; i < r->sc->servers_count; i++) {
        const struct run_server *s = &r->servers[i];
        f->state[i] = s->state == SRV_DOWN     ? SIM_RUN_SERVER_DOWN
                      : s->state == SRV_PAUSED ? SIM_RUN_SERVER_PAUSED
                                               : SIM_RUN_SERVER_UP;
        for (size_t j = 0; j < r->sc->servers_count; j++) {
            f->cut[i][j] = j != i && sim_net_is_cut(r->w, s->host, r->servers[j].host);
        }
    }
    r->o->on_frame(r->o->on_frame_ctx, f);
    g_free(f);
}

static void timeline_row(struct run *r, const char *what)
{
    uint64_t now = sim_world_now_ns(r->w);
    g_string_append_printf(r->timeline, "%6" PRIu64 ".%03" PRIu64 "s ", now / NS_PER_S,
                           (now % NS_PER_S) / NS_PER_MS);
    for (size_t i = 0; i < r->sc->servers_count; i++) {
        const struct run_server *s = &r->servers[i];
        const char *cell = s->state == SRV_DOWN ? "X" : s->state == SRV_PAUSED ? "z" : "up";
        bool cut = false;
        for (size_t j = 0; j < r->sc->servers_count && !cut; j++) {
            cut = j != i && sim_net_is_cut(r->w, s->host, r->servers[j].host);
        }
        if (s->state == SRV_UP && cut) {
            cell = "cut";
        }
        g_string_append_printf(r->timeline, " %-6s", cell);
    }
    g_string_append_printf(r->timeline, "| %s\n", what);
    emit_frame(r, what);
}

/* Columns are the server names when they fit in 6 characters, else #1..#n with a
 * legend line first. */
static void timeline_header(struct run *r)
{
    bool fit = true;
    for (size_t i = 0; i < r->sc->servers_count; i++) {
        fit = fit && strlen(r->sc->servers[i].name) <= 6;
    }
    if (!fit) {
        g_string_append(r->timeline, "   columns:");
        for (size_t i = 0; i < r->sc->servers_count; i++) {
            g_string_append_printf(r->timeline, " #%zu=%s", i + 1, r->sc->servers[i].name);
        }
        g_string_append(r->timeline, "\n");
    }
    g_string_append(r->timeline, "   t(virt) ");
    for (size_t i = 0; i < r->sc->servers_count; i++) {
        char name[32];
        if (fit) {
            g_strlcpy(name, r->sc->servers[i].name, sizeof(name));
        } else {
            snprintf(name, sizeof(name), "#%zu", i + 1);
        }
        g_string_append_printf(r->timeline, " %-6s", name);
    }
    g_string_append(r->timeline, "| event\n");
}

/* ---- applying the schedule ----------------------------------------------------------- */

/* Whether any pair of servers, or a server and a workload, is still cut. */
static bool any_cut(struct run *r)
{
    size_t n = r->sc->servers_count;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            if (i != j && sim_net_is_cut(r->w, r->servers[i].host, r->servers[j].host)) {
                return true;
            }
        }
        for (size_t k = 0; k < r->workloads_count; k++) {
            struct sim_host *wh = sim_workload_host(r->workloads[k]);
            if (sim_net_is_cut(r->w, r->servers[i].host, wh) ||
                sim_net_is_cut(r->w, wh, r->servers[i].host)) {
                return true;
            }
        }
    }
    return false;
}

static void apply_partition(struct run *r, const struct sim_sc_event *e)
{
    const struct sim_scenario *sc = r->sc;
    size_t groups = e->groups != NULL ? e->groups_count : 2;
    const char ***lists = g_new0(const char **, groups + 1);
    for (size_t g = 0; g < groups; g++) {
        lists[g] = g_new0(const char *, sc->servers_count + 1);
    }
    size_t *fill = g_new0(size_t, groups);
    if (e->groups != NULL) {
        for (size_t i = 0; i < e->targets.count; i++) {
            uint32_t g = e->groups[i];
            lists[g][fill[g]++] = e->targets.items[i];
        }
    } else {
        /* targets against every other server. */
        for (size_t i = 0; i < sc->servers_count; i++) {
            bool in = false;
            for (size_t k = 0; k < e->targets.count && !in; k++) {
                in = strcmp(e->targets.items[k], sc->servers[i].name) == 0;
            }
            size_t g = in ? 0 : 1;
            lists[g][fill[g]++] = sc->servers[i].name;
        }
    }
    sim_net_partition(r->w, (const char *const *const *)lists);
    for (size_t g = 0; g < groups; g++) {
        g_free(lists[g]);
    }
    g_free(lists);
    g_free(fill);
    r->cuts = true;
}

static void apply_heal(struct run *r, const struct sim_sc_event *e)
{
    if (e->targets.count == 0) {
        sim_net_heal_all(r->w);
        r->cuts = false;
        return;
    }
    for (size_t i = 0; i < e->targets.count; i++) {
        struct run_server *s = server_by_name(r, e->targets.items[i]);
        for (size_t j = 0; j < r->sc->servers_count; j++) {
            if (&r->servers[j] != s) {
                sim_net_heal(r->w, s->host, r->servers[j].host);
            }
        }
        for (size_t k = 0; k < r->workloads_count; k++) {
            sim_net_heal(r->w, s->host, sim_workload_host(r->workloads[k]));
        }
    }
    r->cuts = any_cut(r);
}

/* The configured latency of the link between regions a and b (a == b: inside a). */
static void configured_latency(const struct sim_scenario *sc, size_t a, size_t b,
                               struct sim_latency *lat)
{
    memset(lat, 0, sizeof(*lat));
    if (a == b) {
        const struct sim_sc_region *rg = &sc->regions[a];
        lat->kind = rg->latency_min_ns == rg->latency_max_ns ? SIM_LAT_FIXED : SIM_LAT_UNIFORM;
        lat->base_ns = rg->latency_min_ns;
        lat->spread_ns = rg->latency_max_ns - rg->latency_min_ns;
        return;
    }
    lat->kind = SIM_LAT_FIXED;
    lat->base_ns = SIM_SC_LINK_LATENCY_DEFAULT_NS;
    for (size_t i = 0; i < sc->links_count; i++) {
        const struct sim_sc_link *k = &sc->links[i];
        if ((k->a_index == a && k->b_index == b) || (k->a_index == b && k->b_index == a)) {
            lat->kind = k->jitter_ns > 0 ? SIM_LAT_NORMAL : SIM_LAT_FIXED;
            lat->base_ns = k->latency_ns;
            lat->spread_ns = k->jitter_ns;
        }
    }
}

static void apply_latency(struct run *r, const struct sim_sc_event *e)
{
    const struct sim_scenario *sc = r->sc;
    size_t a = (size_t)sim_scenario_region_index(sc, e->targets.items[0]);
    size_t b = e->targets.count > 1 ? (size_t)sim_scenario_region_index(sc, e->targets.items[1])
                                    : a;
    struct sim_latency lat;
    if (e->latency_ns == 0) {
        configured_latency(sc, a, b, &lat);
        if (r->latency_changed > 0) {
            r->latency_changed--;
        }
    } else {
        lat.kind = e->jitter_ns > 0 ? SIM_LAT_NORMAL : SIM_LAT_FIXED;
        lat.base_ns = e->latency_ns;
        lat.spread_ns = e->jitter_ns;
        r->latency_changed++;
    }
    sim_net_set_latency(r->w, sc->regions[a].name, sc->regions[b].name, &lat);
}

static void apply_region(struct run *r, const struct sim_sc_event *e, bool up)
{
    for (size_t t = 0; t < e->targets.count; t++) {
        size_t ri = (size_t)sim_scenario_region_index(r->sc, e->targets.items[t]);
        for (size_t i = 0; i < r->sc->servers_count; i++) {
            if (r->sc->servers[i].region_index != ri) {
                continue;
            }
            if (up) {
                server_restart(r, &r->servers[i]);
            } else {
                server_crash(&r->servers[i], SIM_CRASH_POWER);
            }
        }
    }
}

/* Puts every latency override back to the configured latency. */
static void latencies_back(struct run *r)
{
    if (r->latency_changed > 0) {
        for (size_t a = 0; a < r->sc->regions_count; a++) {
            for (size_t b = a; b < r->sc->regions_count; b++) {
                struct sim_latency lat;
                configured_latency(r->sc, a, b, &lat);
                sim_net_set_latency(r->w, r->sc->regions[a].name, r->sc->regions[b].name,
                                    &lat);
            }
        }
        r->latency_changed = 0;
    }
}

/* Whether server i is cut from any other host (server or client), either way. */
static bool server_cut(struct run *r, size_t i)
{
    struct sim_host *a = r->servers[i].host;
    for (size_t j = 0; j < r->sc->servers_count; j++) {
        struct sim_host *b = r->servers[j].host;
        if (j != i && (sim_net_is_cut(r->w, a, b) || sim_net_is_cut(r->w, b, a))) {
            return true;
        }
    }
    for (size_t k = 0; k < r->workloads_count; k++) {
        struct sim_host *wh = sim_workload_host(r->workloads[k]);
        if (sim_net_is_cut(r->w, a, wh) || sim_net_is_cut(r->w, wh, a)) {
            return true;
        }
    }
    return false;
}

/* Heals both directions between a and b when either is cut. */
static void heal_pair(struct run *r, struct sim_host *a, struct sim_host *b)
{
    if (sim_net_is_cut(r->w, a, b) || sim_net_is_cut(r->w, b, a)) {
        sim_net_heal(r->w, a, b);
    }
}

/*
 * Quiesce in liveness mode (simulation.md section 7): the core is healed and brought
 * back as quiesce does in safety mode (its cuts to each other and to clients heal,
 * crashed core servers restart, paused ones resume), and every fault outside it
 * becomes permanent: a server outside the core that is down stays down, a paused one
 * stays paused, its cuts stay. One that is up and cut off from nothing is crashed now
 * and never restarted, so the core must converge without it. Latencies and clocks go
 * back everywhere. Appends "n2 stays down"-like notes to perm; returns how many
 * servers it crashed.
 */
static size_t apply_quiesce_core(struct run *r, GString *perm)
{
    size_t n = r->sc->servers_count;
    size_t crashed = 0;
    for (size_t i = 0; i < n; i++) {
        if (!r->in_core[i]) {
            continue;
        }
        for (size_t j = i + 1; j < n; j++) {
            if (r->in_core[j]) {
                heal_pair(r, r->servers[i].host, r->servers[j].host);
            }
        }
        for (size_t k = 0; k < r->workloads_count; k++) {
            heal_pair(r, r->servers[i].host, sim_workload_host(r->workloads[k]));
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct run_server *s = &r->servers[i];
        const char *note = NULL;
        if (r->in_core[i]) {
            if (s->state == SRV_PAUSED) {
                sim_host_resume(s->host);
                s->state = SRV_UP;
            }
            server_restart(r, s);
        } else if (s->state == SRV_DOWN) {
            note = "stays down";
        } else if (s->state == SRV_PAUSED) {
            note = server_cut(r, i) ? "stays paused and cut off" : "stays paused";
        } else if (server_cut(r, i)) {
            note = "stays cut off";
        } else {
            server_crash(s, SIM_CRASH_PROCESS);
            crashed++;
            note = "crashed now (up outside the core), stays down";
        }
        if (s->skew_ns != 0) {
            sim_host_set_clock(s->host, 0, 0);
            s->skew_ns = 0;
        }
        if (note != NULL) {
            g_string_append_printf(perm, "%s%s %s", perm->len > 0 ? ", " : "",
                                   s->conf->name, note);
        }
    }
    latencies_back(r);
    r->cuts = any_cut(r);
    r->core_active = true;
    r->core_permanent = perm->len > 0;
    r->core_from_ns = sim_world_now_ns(r->w);
    mr_assert(!core_cut(r));
    return crashed;
}

static void apply_quiesce(struct run *r)
{
    sim_net_heal_all(r->w);
    r->cuts = false;
    for (size_t i = 0; i < r->sc->servers_count; i++) {
        struct run_server *s = &r->servers[i];
        if (s->state == SRV_PAUSED) {
            sim_host_resume(s->host);
            s->state = SRV_UP;
        }
        server_restart(r, s);
        if (s->skew_ns != 0) {
            sim_host_set_clock(s->host, 0, 0);
            s->skew_ns = 0;
        }
    }
    latencies_back(r);
}

/* Applies one action to one server target. */
static void apply_to_server(struct run *r, enum sim_sc_action a, struct run_server *s,
                            const struct sim_sc_event *e)
{
    switch (a) {
    case SIM_ACT_ISOLATE:
        sim_net_isolate(r->w, s->host);
        r->cuts = true;
        break;
    case SIM_ACT_CRASH:
        server_crash(s, SIM_CRASH_PROCESS);
        break;
    case SIM_ACT_POWER_FAIL:
        server_crash(s, SIM_CRASH_POWER);
        break;
    case SIM_ACT_RESTART:
        server_restart(r, s);
        break;
    case SIM_ACT_PAUSE:
        if (s->state == SRV_UP) {
            sim_host_pause(s->host);
            s->state = SRV_PAUSED;
        }
        break;
    case SIM_ACT_RESUME:
        if (s->state == SRV_PAUSED) {
            sim_host_resume(s->host);
            s->state = SRV_UP;
        }
        break;
    case SIM_ACT_RESET:
        sim_net_reset(r->w, s->host);
        break;
    case SIM_ACT_CLOCK_SKEW:
        sim_host_set_clock(s->host, e->skew_ns, 0);
        s->skew_ns = e->skew_ns;
        break;
    default:
        mr_assert(false);
    }
}

/* The core as "[n1, n3]". */
static void core_list(struct run *r, GString *out)
{
    g_string_append(out, "[");
    for (size_t i = 0; i < r->core_len; i++) {
        g_string_append_printf(out, "%s%s", i == 0 ? "" : ", ", r->core_names[i]);
    }
    g_string_append(out, "]");
}

/* A schedule entry after quiesce in liveness mode is not applied (it would undo a
 * permanent fault, or fault the core after the fact): the timeline and the trace say
 * so. */
static void skip_after_quiesce(struct run *r, const struct sim_sc_event *e)
{
    uint64_t now = sim_world_now_ns(r->w);
    char text[2048];
    sim_sc_event_format(e, text, sizeof(text));
    char *row = g_strdup_printf("skipped (liveness: faults end at quiesce): %s", text);
    timeline_row(r, row);
    g_free(row);
    char *esc = g_strescape(text, NULL);
    trace_add(r, now, g_strdup_printf("{\"t\":%" PRIu64 ",\"skipped\":\"%s\"}", now, esc));
    g_free(esc);
}

/* Quiesce in liveness mode; the faults left outside the core go into the summary line
 * and perm. Returns how many servers it crashed. */
static size_t quiesce_core(struct run *r, GString *perm)
{
    size_t crashed = apply_quiesce_core(r, perm);
    g_string_append_printf(r->core_text, "; outside it for good: %s",
                           perm->len > 0 ? perm->str : "nothing");
    return crashed;
}

/* After the quiesce row: one timeline row and one trace line naming the core and the
 * faults left outside it. */
static void core_report(struct run *r, const GString *perm)
{
    timeline_row(r, r->core_text->str);
    uint64_t now = sim_world_now_ns(r->w);
    char *esc = g_strescape(perm->str, NULL);
    GString *json = g_string_new(NULL);
    g_string_append_printf(json, "{\"t\":%" PRIu64 ",\"core\":[", now);
    for (size_t i = 0; i < r->core_len; i++) {
        g_string_append_printf(json, "%s\"%s\"", i == 0 ? "" : ",", r->core_names[i]);
    }
    g_string_append_printf(json, "],\"permanent\":\"%s\"}", esc);
    trace_add(r, now, g_string_free(json, FALSE));
    g_free(esc);
}

static void apply(struct run *r, const struct sim_sc_event *e)
{
    if (r->core_active) {
        skip_after_quiesce(r, e);
        return;
    }
    bool instant = e->action == SIM_ACT_RESET;
    GString *perm = NULL;
    switch (e->action) {
    case SIM_ACT_PARTITION:
        apply_partition(r, e);
        break;
    case SIM_ACT_HEAL:
        apply_heal(r, e);
        break;
    case SIM_ACT_HEAL_ALL:
        sim_net_heal_all(r->w);
        r->cuts = false;
        break;
    case SIM_ACT_LATENCY:
        apply_latency(r, e);
        break;
    case SIM_ACT_REGION_DOWN:
        apply_region(r, e, false);
        break;
    case SIM_ACT_REGION_UP:
        apply_region(r, e, true);
        break;
    case SIM_ACT_QUIESCE:
        if (r->liveness) {
            /* A server crashed at quiesce disturbs that instant, as a reset does. */
            perm = g_string_new(NULL);
            instant = quiesce_core(r, perm) > 0;
        } else {
            apply_quiesce(r);
        }
        break;
    default:
        for (size_t i = 0; i < e->targets.count; i++) {
            apply_to_server(r, e->action, server_by_name(r, e->targets.items[i]), e);
        }
        break;
    }
    uint64_t now = sim_world_now_ns(r->w);
    window_update(r, now, instant);
    outages_update(r, now, false);
    for (size_t i = 0; e->action == SIM_ACT_RESET && i < e->targets.count; i++) {
        /* A reset server drops its own clients for an instant. */
        int k = sim_scenario_server_index(r->sc, e->targets.items[i]);
        if (k >= 0 && r->check_servers[k].local) {
            outage_add(r, (size_t)k, (size_t)k, now, now + 1);
        }
    }
    char text[2048];
    sim_sc_event_format(e, text, sizeof(text));
    timeline_row(r, text);
    r->res->faults++;
    char *esc = g_strescape(text, NULL);
    trace_add(r, now, g_strdup_printf("{\"t\":%" PRIu64 ",\"fault\":\"%s\"}", now, esc));
    g_free(esc);
    if (perm != NULL) {
        core_report(r, perm);
        g_string_free(perm, TRUE);
    }
}

/* ---- building the world ------------------------------------------------------------ */

static void build_network(struct run *r)
{
    const struct sim_scenario *sc = r->sc;
    for (size_t a = 0; a < sc->regions_count; a++) {
        for (size_t b = a; b < sc->regions_count; b++) {
            struct sim_latency lat;
            configured_latency(sc, a, b, &lat);
            uint64_t bw = 0;
            for (size_t i = 0; i < sc->links_count && a != b; i++) {
                const struct sim_sc_link *k = &sc->links[i];
                if ((k->a_index == a && k->b_index == b) ||
                    (k->a_index == b && k->b_index == a)) {
                    bw = k->bandwidth_bytes_per_s;
                }
            }
            sim_world_set_link(r->w, sc->regions[a].name, sc->regions[b].name, &lat, bw);
        }
    }
}

static int build_servers(struct run *r)
{
    const struct sim_scenario *sc = r->sc;
    r->servers = g_new0(struct run_server, sc->servers_count + 1);
    for (size_t i = 0; i < sc->servers_count; i++) {
        struct run_server *s = &r->servers[i];
        s->run = r;
        s->conf = &sc->servers[i];
        s->host = sim_host_create_in(r->w, s->conf->name, s->conf->region);
        s->check_every = r->o->server_check_every;
        sim_disk_set_faults(sim_host_disk(s->host), &s->conf->disk);
        server_js_setup(s);
    }
    for (size_t i = 0; i < sc->names_count; i++) {
        for (size_t j = 0; j < sc->names[i].servers.count; j++) {
            sim_world_add_name(r->w, sc->names[i].name,
                               server_by_name(r, sc->names[i].servers.items[j])->host);
        }
    }
    for (size_t i = 0; i < sc->servers_count; i++) {
        int rc = server_boot(r, &r->servers[i]);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int build_workloads(struct run *r)
{
    const struct sim_scenario *sc = r->sc;
    r->workloads = g_new0(struct sim_workload *, sc->clients_count + 1);
    for (size_t i = 0; i < sc->clients_count; i++) {
        const struct sim_sc_client *c = &sc->clients[i];
        struct sim_workload_spec spec;
        sim_workload_spec_default(&spec);
        g_strlcpy(spec.name, c->name, sizeof(spec.name));
        switch (c->kind) {
        case SIM_SC_CLIENT_PUBLISH:
            spec.kind = SIM_WL_PUBLISH;
            break;
        case SIM_SC_CLIENT_SUBSCRIBE:
            spec.kind = c->queue != NULL ? SIM_WL_QUEUE : SIM_WL_SUBSCRIBE;
            break;
        case SIM_SC_CLIENT_REQUEST:
            spec.kind = SIM_WL_REQUEST;
            break;
        case SIM_SC_CLIENT_REPLY:
            spec.kind = SIM_WL_REPLY;
            break;
        case SIM_SC_CLIENT_JS_PUBLISH:
            spec.kind = SIM_WL_JS_PUBLISH;
            break;
        case SIM_SC_CLIENT_JS_READ:
            spec.kind = SIM_WL_JS_READ;
            break;
        }
        g_strlcpy(spec.stream, c->stream != NULL ? c->stream : "", sizeof(spec.stream));
        g_strlcpy(spec.stream_json, c->stream_json != NULL ? c->stream_json : "",
                  sizeof(spec.stream_json));
        for (size_t j = 0; j < c->at.count && j < SIM_WL_SERVERS_MAX; j++) {
            g_strlcpy(spec.servers[j], c->at.items[j], sizeof(spec.servers[j]));
            spec.servers_len++;
        }
        /* The client sits in the region of its first server, next to it, and connects
         * to the port that server is bound to (its config's, 4222 by default). */
        const struct run_server *first = server_by_name(r, c->at.items[0]);
        spec.port = mr_server_port(first->srv);
        g_strlcpy(spec.region, first->conf->region, sizeof(spec.region));
        g_strlcpy(spec.subject, c->subject, sizeof(spec.subject));
        if (c->queue != NULL) {
            g_strlcpy(spec.queue, c->queue, sizeof(spec.queue));
        }
        g_strlcpy(spec.user, c->user != NULL ? c->user : "", sizeof(spec.user));
        g_strlcpy(spec.password, c->password != NULL ? c->password : "", sizeof(spec.password));
        g_strlcpy(spec.token, c->token != NULL ? c->token : "", sizeof(spec.token));
        spec.rate = c->rate;
        spec.payload_bytes = c->size;
        spec.start_ns = c->start_ns;
        spec.stop_ns = c->stop_ns;
        char errmsg[256] = "";
        int rc = sim_workload_create(r->w, &spec, r->h, &r->workloads[i], errmsg,
                                     sizeof(errmsg));
        if (rc != 0) {
            snprintf(r->res->err, sizeof(r->res->err), "client \"%s\": %s", c->name, errmsg);
            return rc;
        }
        r->workloads_count++;
    }
    return 0;
}

/* ---- running ----------------------------------------------------------------------- */

/* Called after every event: the online checker and the event budget. True stops. */
static bool after_event(void *ctx)
{
    struct run *r = ctx;
    if (r->o->online_checks && !sim_check_online_step(&r->online, r->h) &&
        r->res->first_violation_ns == 0) {
        r->res->first_violation_ns = sim_world_now_ns(r->w);
    }
    if (sim_world_events_dispatched(r->w) > r->events_max) {
        r->res->budget_exceeded = true;
        return true;
    }
    return false;
}

static void run_schedule(struct run *r, const struct sim_sc_schedule *sched, uint64_t end)
{
    for (size_t i = 0; i <= sched->count; i++) {
        uint64_t t = i < sched->count ? sched->events[i].at_ns : end;
        if (t > end) {
            t = end;
        }
        if (sim_world_run_until_pred(r->w, after_event, r, t)) {
            return; /* the budget is spent */
        }
        if (i == sched->count || sched->events[i].at_ns > end) {
            return;
        }
        apply(r, &sched->events[i]);
    }
}

/* interest_only: every quiet link carried at most its max of data bytes (both
 * directions, the whole run). Messages that nobody across it wants must not cross it:
 * a server that forwarded them anyway (optimistic gateways, a broken interest table)
 * would carry the publishers' whole volume. */
static void check_quiet_links(struct run *r, struct sim_verdict *v)
{
    const struct sim_scenario *sc = r->sc;
    memset(v, 0, sizeof(*v));
    snprintf(v->name, sizeof(v->name), "interest_only");
    v->ok = true;
    for (size_t i = 0; i < sc->quiet_links_count; i++) {
        const struct sim_sc_quiet_link *q = &sc->quiet_links[i];
        uint64_t bytes = sim_world_link_bytes(r->w, q->a, q->b);
        v->checked++;
        if (bytes > q->max_bytes) {
            if (v->violations == 0) {
                snprintf(v->first, sizeof(v->first),
                         "link %s <-> %s carried %" PRIu64 " bytes, more than its quiet "
                         "maximum of %" PRIu64,
                         q->a, q->b, bytes, q->max_bytes);
            }
            v->violations++;
            v->ok = false;
        }
    }
    if (sc->quiet_links_count == 0) {
        snprintf(v->first, sizeof(v->first), "no quiet_links in expect {}: nothing measured");
    }
}

static void judge(struct run *r, uint64_t end)
{
    const struct sim_scenario *sc = r->sc;
    if (r->window_open) {
        struct sim_window win = {r->window_from_ns, end};
        g_array_append_val(r->windows, win);
    }
    struct sim_check_opts co;
    sim_check_opts_default(&co);
    co.faults = (const struct sim_window *)(void *)r->windows->data;
    co.faults_len = r->windows->len;
    co.end_ns = end;
    co.heal_ns = r->last_heal_ns;
    co.bound_ns = sc->converge_ns;
    if (sc->settle_ns != 0) {
        co.settle_ns = sc->settle_ns;
    }
    if (r->core_active) {
        co.core = r->core_names;
        co.core_len = r->core_len;
        co.core_from_ns = r->core_from_ns;
    }
    if (r->core_permanent) {
        /* The core may take converge to get whole around the servers it lost for good
         * (routes and gateways to them, clients failing over): delivery and queue_once
         * judge it only after that, as after any other fault window. liveness judges
         * that very period (heal_ns is quiesce). */
        struct sim_window win = {r->core_from_ns, r->core_from_ns + sc->converge_ns};
        g_array_append_val(r->windows, win);
        co.faults = (const struct sim_window *)(void *)r->windows->data;
        co.faults_len = r->windows->len;
    }
    outages_update(r, end, true);
    co.servers = r->check_servers;
    co.servers_len = sc->servers_count;
    co.outages = (const struct sim_check_outage *)(void *)r->outages->data;
    co.outages_len = r->outages->len;
    struct sim_check_account *accounts = g_new0(struct sim_check_account, sc->clients_count + 1);
    for (size_t i = 0; i < sc->clients_count; i++) {
        if (sc->clients[i].account != NULL) {
            accounts[co.accounts_len].actor = sc->clients[i].name;
            accounts[co.accounts_len++].account = sc->clients[i].account;
        }
    }
    co.accounts = accounts;
    struct sim_check_crossing *crossings =
        g_new0(struct sim_check_crossing, sc->crossings_count + 1);
    for (size_t i = 0; i < sc->crossings_count; i++) {
        crossings[i].from = sc->crossings[i].from;
        crossings[i].to = sc->crossings[i].to;
    }
    co.crossings = crossings;
    co.crossings_len = sc->crossings_count;
    r->res->ok = !r->res->budget_exceeded;
    struct sim_check_js_server *js = g_new0(struct sim_check_js_server, sc->servers_count + 1);
    for (size_t i = 0; i < sc->servers_count; i++) {
        const struct mr_jetstream_opts *j = &sc->servers[i].config.jetstream;
        js[i] = (struct sim_check_js_server){sc->servers[i].name, j->sync_always,
                                             j->sync_interval_ns};
    }
    co.js_servers = js;
    co.js_servers_len = sc->servers_count;
    co.crashes = (const struct sim_check_crash *)(void *)r->crashes->data;
    co.crashes_len = r->crashes->len;
    co.acked_loss = (int)sc->acked_loss;
    int wanted = 0;
    for (int k = 0; k < SIM_CHECK_COUNT; k++) {
        wanted += sc->checks[k] && k != SIM_CHECK_INTEREST_ONLY && k != SIM_CHECK_NO_ACKED_LOSS;
    }
    /* Several checkers share one model of the history: build it once when more than one
     * is asked for. */
    struct sim_verdict all[SIM_CHECKERS];
    bool shared = wanted > 1;
    if (shared && r->o->online_checks) {
        (void)sim_check_all_online(r->h, &co, &r->online, all);
    } else if (shared) {
        (void)sim_check_all(r->h, &co, all);
    }
    for (int k = 0; k < SIM_CHECK_COUNT; k++) {
        if (!sc->checks[k]) {
            continue;
        }
        struct sim_verdict *v = &r->res->verdicts[k];
        const char *name = sim_sc_check_name((enum sim_sc_check)k);
        if (k == SIM_CHECK_INTEREST_ONLY || k == SIM_CHECK_NO_ACKED_LOSS) {
            if (k == SIM_CHECK_INTEREST_ONLY) {
                check_quiet_links(r, v);
            } else {
                sim_check_no_acked_loss(r->h, &co, v);
            }
            r->res->verdict_run[k] = true;
            r->res->ok = r->res->ok && v->ok;
            continue;
        }
        bool found = false;
        for (size_t i = 0; shared && i < SIM_CHECKERS; i++) {
            if (strcmp(sim_check_name(i), name) == 0) {
                *v = all[i];
                found = true;
            }
        }
        if (!found) {
            int rc = sim_check_run(name, r->h, &co, v);
            mr_assert(rc == 0);
        }
        r->res->verdict_run[k] = true;
        r->res->ok = r->res->ok && v->ok;
    }
    g_free(accounts);
    g_free(crossings);
    g_free(js);
    if (r->res->budget_exceeded) {
        snprintf(r->res->err, sizeof(r->res->err),
                 "event budget exceeded: %" PRIu64 " events by %" PRIu64 " ns",
                 sim_world_events_dispatched(r->w), sim_world_now_ns(r->w));
    }
}

/* One line per client that saw an error: the first -ERR, where and when, and how
 * many, so a client the server refused (Authorization Violation) is visible. */
static void client_error_line(GString *out, const char *name, const struct sim_workload_stats *st)
{
    uint64_t n = st->errors + st->protocol_errors;
    g_string_append_printf(out,
                           "client %s: %" PRIu64 " error%s, first at %" PRIu64 ".%03" PRIu64
                           "s from %s: %s%s\n",
                           name, n, n == 1 ? "" : "s", st->first_error_ns / NS_PER_S,
                           (st->first_error_ns % NS_PER_S) / NS_PER_MS, st->first_error_server,
                           st->first_error,
                           st->connects == st->disconnects && st->received == 0 &&
                                   st->published == 0
                               ? " (never got going)"
                               : "");
}

static void count(struct run *r)
{
    GString *errors = g_string_new(NULL);
    for (size_t i = 0; i < r->workloads_count; i++) {
        struct sim_workload_stats st;
        sim_workload_stats(r->workloads[i], &st);
        if (st.first_error[0] != '\0') {
            client_error_line(errors, sim_workload_spec(r->workloads[i])->name, &st);
        }
        r->res->published += st.published;
        r->res->received += st.received;
        r->res->replies += st.replies;
        r->res->timeouts += st.timeouts;
        r->res->connects += st.connects;
        r->res->disconnects += st.disconnects;
        r->res->errors += st.errors + st.protocol_errors;
        enum sim_workload_kind kind = sim_workload_spec(r->workloads[i])->kind;
        if (kind == SIM_WL_JS_PUBLISH) {
            r->res->js_acked += st.js_acked;
        } else if (kind == SIM_WL_JS_READ) {
            r->res->js_read += st.js_acked;
        }
        r->res->js_clients += kind == SIM_WL_JS_PUBLISH || kind == SIM_WL_JS_READ;
    }
    for (size_t i = 0; i < r->sc->servers_count; i++) {
        r->res->bit_rots += sim_disk_bit_rots(sim_host_disk(r->servers[i].host));
    }
    r->res->history_events = sim_history_len(r->h);
    r->res->client_errors = g_string_free(errors, errors->len == 0);
}

static int trace_line_cmp(const void *a, const void *b)
{
    const struct trace_line *x = a;
    const struct trace_line *y = b;
    return x->t_ns < y->t_ns ? -1 : x->t_ns > y->t_ns ? 1 : 0;
}

/* Faults and client events merged by time (faults first at equal times), then the
 * verdicts. */
static void write_trace(struct run *r)
{
    FILE *out = r->o->trace;
    if (out == NULL) {
        return;
    }
    /* Fault lines were appended as the schedule ran, so they are in time order. */
    mr_assert(r->trace_lines->len < 2 ||
              trace_line_cmp(&g_array_index(r->trace_lines, struct trace_line, 0),
                             &g_array_index(r->trace_lines, struct trace_line,
                                            r->trace_lines->len - 1)) <= 0);
    char *path = g_strescape(r->sc->path, NULL);
    fprintf(out, "{\"seed\":\"0x%016" PRIx64 "\",\"scenario\":\"%s\"}\n", r->res->seed, path);
    g_free(path);
    GString *line = g_string_new(NULL);
    size_t f = 0;
    size_t n = sim_history_len(r->h);
    for (size_t i = 0; i <= n; i++) {
        uint64_t t = i < n ? sim_history_at(r->h, i)->t_ns : UINT64_MAX;
        while (f < r->trace_lines->len &&
               g_array_index(r->trace_lines, struct trace_line, f).t_ns <= t) {
            fprintf(out, "%s\n", g_array_index(r->trace_lines, struct trace_line, f).json);
            f++;
        }
        if (i < n) {
            g_string_truncate(line, 0);
            sim_history_event_json(r->h, i, line);
            fprintf(out, "%s\n", line->str);
        }
    }
    g_string_free(line, TRUE);
    for (int k = 0; k < SIM_CHECK_COUNT; k++) {
        if (!r->res->verdict_run[k]) {
            continue;
        }
        const struct sim_verdict *v = &r->res->verdicts[k];
        char *esc = g_strescape(v->first, NULL);
        fprintf(out,
                "{\"verdict\":\"%s\",\"ok\":%s,\"checked\":%" PRIu64 ",\"exempt\":%" PRIu64
                ",\"violations\":%" PRIu64 ",\"first\":\"%s\"}\n",
                v->name, v->ok ? "true" : "false", v->checked, v->exempt, v->violations, esc);
        g_free(esc);
    }
    fprintf(out, "{\"trace_hash\":\"0x%016" PRIx64 "\",\"events\":%" PRIu64 "}\n",
            r->res->trace_hash, r->res->events);
}

static void teardown(struct run *r)
{
    for (size_t i = 0; i < r->workloads_count; i++) {
        sim_workload_destroy(r->workloads[i]);
    }
    g_free(r->workloads);
    if (r->servers != NULL) {
        for (size_t i = 0; i < r->sc->servers_count; i++) {
            struct run_server *s = &r->servers[i];
            sim_host_set_log_fn(s->host, NULL, NULL);
            if (s->srv != NULL) {
                sim_host_set_check(s->host, NULL, NULL);
                sim_host_set_sink(s->host, NULL);
                mr_server_destroy(s->srv);
                s->srv = NULL;
            }
        }
    }
    g_free(r->servers);
    sim_world_destroy(r->w);
    if (r->o->online_checks) {
        sim_check_online_deinit(&r->online);
    }
    sim_history_destroy(r->h);
    for (size_t i = 0; i < r->trace_lines->len; i++) {
        g_free(g_array_index(r->trace_lines, struct trace_line, i).json);
    }
    g_array_free(r->trace_lines, TRUE);
    g_array_free(r->crashes, TRUE);
    g_array_free(r->windows, TRUE);
    g_free(r->check_servers);
    if (r->outages != NULL) {
        g_array_free(r->outages, TRUE);
    }
    g_free(r->out_open);
    g_free(r->out_from);
}

/* Liveness mode with a quiesce: the core of the seed, chosen before the run so the
 * printed schedule can name it; quiesce puts it in force. */
static void core_choose(struct run *r)
{
    const struct sim_scenario *sc = r->sc;
    r->liveness = sc->mode == SIM_SC_MODE_LIVENESS && sc->quiesce_ns != 0;
    if (!r->liveness) {
        return;
    }
    size_t n = sim_scenario_choose_core(sc, r->o->seed, r->in_core);
    for (size_t i = 0; i < sc->servers_count; i++) {
        r->res->in_core[i] = r->in_core[i];
        if (r->in_core[i]) {
            r->core_names[r->core_len++] = sc->servers[i].name;
        }
    }
    mr_assert(r->core_len == n);
    r->res->core_count = n;
    char d[32];
    sim_sc_duration_format(sc->quiesce_ns, d, sizeof(d));
    r->core_text = g_string_new("liveness core: ");
    core_list(r, r->core_text);
    g_string_append_printf(r->core_text, " from quiesce at %s", d);
}

/* The schedule as scenario text that loads back into the same run: every entry
 * explicit (for: is left out since its inverse is listed), quiesce as its own key. */
static char *schedule_text(const struct sim_sc_schedule *sched, const char *core_note)
{
    GString *s = g_string_new("timeline [\n");
    uint64_t quiesce_ns = 0;
    for (size_t i = 0; i < sched->count; i++) {
        struct sim_sc_event e = sched->events[i];
        if (e.action == SIM_ACT_QUIESCE) {
            quiesce_ns = e.at_ns;
            continue;
        }
        e.for_ns = 0;
        char line[2048];
        sim_sc_event_format(&e, line, sizeof(line));
        g_string_append_printf(s, "  %s%s\n", line, e.generated ? "  # generated" : "");
    }
    g_string_append(s, "]\n");
    if (core_note != NULL) {
        g_string_append_printf(s, "# %s\n", core_note);
    }
    if (quiesce_ns != 0) {
        char d[32];
        sim_sc_duration_format(quiesce_ns, d, sizeof(d));
        g_string_append_printf(s, "quiesce: \"%s\"\n", d);
    }
    return g_string_free(s, FALSE);
}

int sim_run(const struct sim_scenario *sc, const struct sim_run_opts *o,
            struct sim_run_result *out)
{
    mr_assert(sc != NULL);
    mr_assert(o != NULL);
    memset(out, 0, sizeof(*out));
    out->seed = o->seed;
    struct run r;
    memset(&r, 0, sizeof(r));
    r.sc = sc;
    r.o = o;
    r.res = out;
    r.events_max = o->events_max != 0 ? o->events_max : SIM_RUN_EVENTS_MAX_DEFAULT;
    r.windows = g_array_new(FALSE, TRUE, sizeof(struct sim_window));
    r.trace_lines = g_array_new(FALSE, TRUE, sizeof(struct trace_line));
    r.crashes = g_array_new(FALSE, TRUE, sizeof(struct sim_check_crash));
    r.timeline = g_string_new(NULL);

    struct sim_world_opts wo;
    sim_world_opts_default(&wo);
    wo.seed = o->seed;
    wo.verbose = o->verbose;
    r.w = sim_world_create(&wo);
    r.h = sim_history_create(0);
    if (o->online_checks) {
        sim_check_online_init(&r.online);
    }
    struct sim_sc_schedule sched;
    sim_scenario_materialise(sc, o->seed, &sched);
    core_choose(&r);
    out->schedule = schedule_text(&sched, r.core_text != NULL ? r.core_text->str : NULL);
    uint64_t end = sc->duration_ns;
    if (o->until_ns != 0 && o->until_ns < end) {
        end = o->until_ns;
    }
    build_network(&r);
    timeline_header(&r);
    int rc = build_servers(&r);
    if (rc == 0) {
        rc = build_workloads(&r);
    }
    outages_init(&r);
    if (rc == 0) {
        timeline_row(&r, "start");
        run_schedule(&r, &sched, end);
        timeline_row(&r, "end");
        judge(&r, sim_world_now_ns(r.w));
        count(&r);
    }
    out->rc = rc;
    out->events = sim_world_events_dispatched(r.w);
    out->virtual_ns = sim_world_now_ns(r.w);
    out->trace_hash = sim_world_trace_hash(r.w) ^ (sim_history_hash(r.h) * 0x9E3779B97F4A7C15ULL);
    if (rc == 0) {
        write_trace(&r);
    } else {
        out->ok = false;
    }
    out->timeline = g_string_free(r.timeline, FALSE);
    if (r.core_text != NULL) {
        out->core = g_string_free(r.core_text, FALSE);
    }
    sim_sc_schedule_free(&sched);
    teardown(&r);
    return rc;
}

void sim_run_result_deinit(struct sim_run_result *r)
{
    g_free(r->timeline);
    g_free(r->schedule);
    g_free(r->core);
    g_free(r->client_errors);
    r->client_errors = NULL;
    r->timeline = NULL;
    r->schedule = NULL;
    r->core = NULL;
}

void sim_run_result_print(const struct sim_run_result *r, FILE *out)
{
    for (int k = 0; k < SIM_CHECK_COUNT; k++) {
        if (!r->verdict_run[k]) {
            continue;
        }
        char line[SIM_CHECK_FIRST_MAX + 128];
        sim_verdict_format(&r->verdicts[k], line, sizeof(line));
        fprintf(out, "  %s\n", line);
    }
    if (r->err[0] != '\0') {
        fprintf(out, "  %s\n", r->err);
    }
    if (r->core != NULL) {
        fprintf(out, "%s\n", r->core);
    }
    if (r->client_errors != NULL) {
        fputs(r->client_errors, out);
    }
    fprintf(out,
            "messages: published %" PRIu64 ", received %" PRIu64 ", replies %" PRIu64
            ", timeouts %" PRIu64 ", connects %" PRIu64 ", disconnects %" PRIu64
            ", errors %" PRIu64 "\n",
            r->published, r->received, r->replies, r->timeouts, r->connects, r->disconnects,
            r->errors);
    if (r->js_clients > 0) {
        fprintf(out,
                "jetstream: acked %" PRIu64 ", read back %" PRIu64 ", store errors %" PRIu64
                ", bits rotted %" PRIu64 "\n",
                r->js_acked, r->js_read, r->js_store_errors, r->bit_rots);
    }
    fprintf(out, "faults applied: %" PRIu64 ", events: %" PRIu64 ", virtual time: %" PRIu64
                 ".%03" PRIu64 "s\n",
            r->faults, r->events, r->virtual_ns / NS_PER_S, (r->virtual_ns % NS_PER_S) / NS_PER_MS);
    fprintf(out, "trace hash: 0x%016" PRIx64 "\n", r->trace_hash);
}
