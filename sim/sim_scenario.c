/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scenario loader: a conf tree (core/conf/conf.h) checked key by key into struct
 * sim_scenario, and the materialiser that turns the timeline, the for: inverses and
 * the random {} nemesis into one concrete, sorted schedule for a seed.
 *
 * Invariants: every key of every block is either understood or reported as unknown
 * with its position; every reference (region, server, client target) resolves; a
 * schedule depends only on the scenario and the seed (the fault stream of the seed).
 *
 * Ownership: the loader allocates with GLib; sim_scenario_destroy frees it all. The
 * conf tree is the loader's and is freed before sim_scenario_load_* returns.
 */
#include "sim/sim_scenario.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/server/auth.h"
#include "core/server/route.h"
#include "sim/sim_env.h"

#define NS_PER_MS ((uint64_t)1000000)
#define NS_PER_S ((uint64_t)1000000000)

/* The id of the fault stream of a seed (sim_rng_init); "FAULTS" in ASCII. */
#define SIM_SC_FAULT_STREAM 0x4641554C5453ULL
/* The id of the liveness core stream of a seed; "CORE" in ASCII. */
#define SIM_SC_CORE_STREAM 0x434F5245ULL

static const char *const action_names[] = {
#define SIM_SC_ACTION_NAME(name, text) text,
    SIM_SC_ACTION_TABLE(SIM_SC_ACTION_NAME)
#undef SIM_SC_ACTION_NAME
};

static const char *const check_names[] = {
#define SIM_SC_CHECK_NAME(name, text) text,
    SIM_SC_CHECK_TABLE(SIM_SC_CHECK_NAME)
#undef SIM_SC_CHECK_NAME
};

const char *sim_sc_action_name(enum sim_sc_action a)
{
    mr_assert((int)a >= 0);
    mr_assert(a < SIM_ACT_COUNT);
    return action_names[a];
}

const char *sim_sc_check_name(enum sim_sc_check c)
{
    mr_assert((int)c >= 0);
    mr_assert(c < SIM_CHECK_COUNT);
    return check_names[c];
}

/* The loader's state: the scenario being filled and where its error goes. */
struct loader {
    struct sim_scenario *sc;
    char *err;
    size_t err_len;
    const struct mr_conf_io *io; /* reads files a server config names (leaf creds) */
};

static int fail_at(struct loader *l, const struct mr_conf_pos *pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(struct loader *l, const struct mr_conf_pos *pos, const char *fmt, ...)
{
    char where[MR_CONF_WHERE_MAX];
    mr_conf_pos_format(pos, where, sizeof(where));
    char msg[SIM_SC_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (l->err != NULL && l->err_len > 0) {
        snprintf(l->err, l->err_len, "%s: %s", where, msg);
    }
    return MR_E_INVAL;
}

/* Reports the first entry of map that no lookup used, listing the expected keys. */
static int check_unknown(struct loader *l, const struct mr_conf_value *map, const char *block,
                         const char *expected)
{
    mr_assert(map->type == MR_CONF_MAP);
    for (size_t i = 0; i < map->u.map.count; i++) {
        const struct mr_conf_entry *e = &map->u.map.entries[i];
        if (!e->used) {
            return fail_at(l, &e->key_pos, "unknown key \"%s\" in %s (expected one of: %s)",
                           e->key, block, expected);
        }
    }
    return 0;
}

static int want_type(struct loader *l, const struct mr_conf_value *v, enum mr_conf_type t,
                     const char *what)
{
    if (v->type != t) {
        return fail_at(l, &v->pos, "%s: expected a %s, got a %s", what, mr_conf_type_name(t),
                       mr_conf_type_name(v->type));
    }
    return 0;
}

/* A name: a string (bare or quoted) of 1..SIM_SC_NAME_MAX-1 bytes without NUL. */
static int get_name(struct loader *l, const struct mr_conf_value *v, const char *what,
                    char **out)
{
    if (v->type != MR_CONF_STRING) {
        return fail_at(l, &v->pos, "%s: expected a name, got a %s", what,
                       mr_conf_type_name(v->type));
    }
    if (v->u.str.len == 0 || v->u.str.len >= SIM_SC_NAME_MAX ||
        strlen(v->u.str.s) != v->u.str.len) {
        return fail_at(l, &v->pos, "%s: expected a name of 1 to %d bytes", what,
                       SIM_SC_NAME_MAX - 1);
    }
    *out = g_strdup(v->u.str.s);
    return 0;
}

static int get_duration(struct loader *l, const struct mr_conf_value *v, const char *what,
                        uint64_t *out)
{
    bool legacy = false;
    if (v->type != MR_CONF_STRING || mr_conf_duration_ns(v, out, &legacy) != 0) {
        return fail_at(l, &v->pos, "%s: expected a duration such as \"1.5s\" or \"200ms\"",
                       what);
    }
    if (*out > SIM_SC_DURATION_MAX_NS) {
        return fail_at(l, &v->pos, "%s: expected a duration of at most 24h", what);
    }
    return 0;
}

/* A signed duration: "-500ms" or "2s". */
static int get_signed_duration(struct loader *l, const struct mr_conf_value *v, const char *what,
                               int64_t *out)
{
    if (v->type != MR_CONF_STRING) {
        return fail_at(l, &v->pos, "%s: expected a duration such as \"-500ms\"", what);
    }
    bool neg = v->u.str.len > 0 && v->u.str.s[0] == '-';
    struct mr_conf_value tmp = *v;
    if (neg) {
        tmp.u.str.s = v->u.str.s + 1;
        tmp.u.str.len = v->u.str.len - 1;
    }
    uint64_t ns = 0;
    int rc = get_duration(l, &tmp, what, &ns);
    if (rc != 0) {
        return rc;
    }
    *out = neg ? -(int64_t)ns : (int64_t)ns;
    return 0;
}

/* A non-negative integer in [lo, hi]. */
static int get_uint(struct loader *l, const struct mr_conf_value *v, const char *what,
                    uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (v->type != MR_CONF_INT || v->u.i < 0 || (uint64_t)v->u.i < lo || (uint64_t)v->u.i > hi) {
        return fail_at(l, &v->pos, "%s: expected an integer from %" PRIu64 " to %" PRIu64, what,
                       lo, hi);
    }
    *out = (uint64_t)v->u.i;
    return 0;
}

/* A name or an array of names. */
static int get_names(struct loader *l, const struct mr_conf_value *v, const char *what,
                     struct sim_sc_strings *out)
{
    mr_assert(out->count == 0);
    if (v->type == MR_CONF_STRING) {
        out->items = g_new0(char *, 1);
        out->count = 1;
        return get_name(l, v, what, &out->items[0]);
    }
    if (v->type != MR_CONF_ARRAY) {
        return fail_at(l, &v->pos, "%s: expected a name or an array of names", what);
    }
    out->items = g_new0(char *, v->u.array.count + 1);
    for (size_t i = 0; i < v->u.array.count; i++) {
        int rc = get_name(l, v->u.array.items[i], what, &out->items[i]);
        if (rc != 0) {
            return rc;
        }
        out->count++;
    }
    return 0;
}

static void strings_free(struct sim_sc_strings *s)
{
    for (size_t i = 0; i < s->count; i++) {
        g_free(s->items[i]);
    }
    g_free(s->items);
    s->items = NULL;
    s->count = 0;
}

static void strings_copy(struct sim_sc_strings *dst, const struct sim_sc_strings *src)
{
    dst->items = g_new0(char *, src->count + 1);
    dst->count = src->count;
    for (size_t i = 0; i < src->count; i++) {
        dst->items[i] = g_strdup(src->items[i]);
    }
}

int sim_scenario_server_index(const struct sim_scenario *sc, const char *name)
{
    for (size_t i = 0; i < sc->servers_count; i++) {
        if (strcmp(sc->servers[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

int sim_scenario_region_index(const struct sim_scenario *sc, const char *name)
{
    for (size_t i = 0; i < sc->regions_count; i++) {
        if (strcmp(sc->regions[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static int client_index(const struct sim_scenario *sc, const char *name)
{
    for (size_t i = 0; i < sc->clients_count; i++) {
        if (strcmp(sc->clients[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* A declared name (region, server, client; names {} entries may also hold dots): 1 to
 * SIM_SC_NAME_MAX-1 bytes of letters, digits, '-' and '_'. Host names and the
 * clients' reply inboxes (_INBOX.<client>.*) are built from them. */
static bool valid_ident(const char *s, bool allow_dot)
{
    size_t n = strlen(s);
    if (n == 0 || n >= SIM_SC_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || (allow_dot && c == '.');
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* ---- sim {} ---------------------------------------------------------------------- */

static int parse_seed(struct loader *l, const struct mr_conf_value *v, uint64_t *out)
{
    if (v->type == MR_CONF_INT && v->u.i >= 0) {
        *out = (uint64_t)v->u.i;
        return 0;
    }
    if (v->type == MR_CONF_STRING && v->u.str.len > 0 && strlen(v->u.str.s) == v->u.str.len) {
        const char *s = v->u.str.s;
        int base = 10;
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
            s += 2;
            base = 16;
        }
        char *end = NULL;
        errno = 0;
        unsigned long long n = strtoull(s, &end, base);
        if (*s != '\0' && *s != '-' && *s != '+' && *end == '\0' && errno == 0) {
            *out = (uint64_t)n;
            return 0;
        }
    }
    return fail_at(l, &v->pos, "seed: expected a non-negative integer or a hex string \"0x...\"");
}

static int load_sim(struct loader *l, struct mr_conf_value *sim)
{
    int rc = want_type(l, sim, MR_CONF_MAP, "sim");
    if (rc != 0) {
        return rc;
    }
    struct sim_scenario *sc = l->sc;
    struct mr_conf_value *v;
    if ((v = mr_conf_get(sim, "seed")) != NULL) {
        if ((rc = parse_seed(l, v, &sc->seed)) != 0) {
            return rc;
        }
        sc->seed_set = true;
    }
    if ((v = mr_conf_get(sim, "duration")) != NULL) {
        if ((rc = get_duration(l, v, "sim.duration", &sc->duration_ns)) != 0) {
            return rc;
        }
        if (sc->duration_ns == 0) {
            return fail_at(l, &v->pos, "sim.duration: expected a duration above 0");
        }
    }
    if ((v = mr_conf_get(sim, "mode")) != NULL) {
        if (v->type == MR_CONF_STRING && strcmp(v->u.str.s, "safety") == 0) {
            sc->mode = SIM_SC_MODE_SAFETY;
        } else if (v->type == MR_CONF_STRING && strcmp(v->u.str.s, "liveness") == 0) {
            sc->mode = SIM_SC_MODE_LIVENESS;
        } else {
            return fail_at(l, &v->pos, "sim.mode: expected safety or liveness");
        }
    }
    return check_unknown(l, sim, "sim", "seed, duration, mode");
}

/* ---- regions {}, links [], names {} ------------------------------------------------ */

static int load_latency_range(struct loader *l, const struct mr_conf_value *v, const char *what,
                              uint64_t *lo, uint64_t *hi)
{
    if (v->type == MR_CONF_ARRAY) {
        if (v->u.array.count != 2) {
            return fail_at(l, &v->pos, "%s: expected a duration or [min, max]", what);
        }
        int rc = get_duration(l, v->u.array.items[0], what, lo);
        if (rc == 0) {
            rc = get_duration(l, v->u.array.items[1], what, hi);
        }
        if (rc == 0 && *lo > *hi) {
            return fail_at(l, &v->pos, "%s: expected min <= max", what);
        }
        return rc;
    }
    int rc = get_duration(l, v, what, lo);
    *hi = *lo;
    return rc;
}

static int load_regions(struct loader *l, struct mr_conf_value *regions)
{
    int rc = want_type(l, regions, MR_CONF_MAP, "regions");
    if (rc != 0) {
        return rc;
    }
    struct sim_scenario *sc = l->sc;
    if (regions->u.map.count > SIM_SC_REGIONS_MAX) {
        return fail_at(l, &regions->pos, "regions: at most %d expected", SIM_SC_REGIONS_MAX);
    }
    sc->regions = g_new0(struct sim_sc_region, regions->u.map.count + 1);
    for (size_t i = 0; i < regions->u.map.count; i++) {
        struct mr_conf_entry *e = &regions->u.map.entries[i];
        e->used = true;
        if (!valid_ident(e->key, false)) {
            return fail_at(l, &e->key_pos,
                           "regions: expected a region name of 1 to %d letters, digits, - or _",
                           SIM_SC_NAME_MAX - 1);
        }
        if (sim_scenario_region_index(sc, e->key) >= 0) {
            return fail_at(l, &e->key_pos, "regions: duplicate region \"%s\"", e->key);
        }
        struct sim_sc_region *r = &sc->regions[sc->regions_count++];
        r->name = g_strdup(e->key);
        r->latency_min_ns = SIM_SC_REGION_LATENCY_DEFAULT_NS;
        r->latency_max_ns = SIM_SC_REGION_LATENCY_DEFAULT_NS;
        if ((rc = want_type(l, e->value, MR_CONF_MAP, "region")) != 0) {
            return rc;
        }
        struct mr_conf_value *v = mr_conf_get(e->value, "latency");
        if (v != NULL) {
            rc = load_latency_range(l, v, "latency", &r->latency_min_ns, &r->latency_max_ns);
            if (rc != 0) {
                return rc;
            }
        }
        if ((rc = check_unknown(l, e->value, "region", "latency")) != 0) {
            return rc;
        }
    }
    return 0;
}

static int region_ref(struct loader *l, const struct mr_conf_value *v, const char *name,
                      size_t *index)
{
    int i = sim_scenario_region_index(l->sc, name);
    if (i < 0) {
        return fail_at(l, &v->pos, "unknown region \"%s\" (expected a region of regions {})",
                       name);
    }
    *index = (size_t)i;
    return 0;
}

static int load_link(struct loader *l, struct mr_conf_value *m, struct sim_sc_link *k)
{
    int rc = want_type(l, m, MR_CONF_MAP, "links entry");
    if (rc != 0) {
        return rc;
    }
    struct mr_conf_value *v = mr_conf_get(m, "between");
    if (v == NULL) {
        return fail_at(l, &m->pos, "link: expected between: [REGION, REGION]");
    }
    struct sim_sc_strings b = {0};
    rc = get_names(l, v, "between", &b);
    if (rc == 0 && b.count != 2) {
        rc = fail_at(l, &v->pos, "between: expected two regions");
    }
    if (rc == 0) {
        k->a = g_strdup(b.items[0]);
        k->b = g_strdup(b.items[1]);
        rc = region_ref(l, v, k->a, &k->a_index);
    }
    if (rc == 0) {
        rc = region_ref(l, v, k->b, &k->b_index);
    }
    strings_free(&b);
    if (rc != 0) {
        return rc;
    }
    if (k->a_index == k->b_index) {
        return fail_at(l, &v->pos, "between: expected two different regions");
    }
    k->latency_ns = SIM_SC_LINK_LATENCY_DEFAULT_NS;
    if ((v = mr_conf_get(m, "latency")) != NULL &&
        (rc = get_duration(l, v, "latency", &k->latency_ns)) != 0) {
        return rc;
    }
    if ((v = mr_conf_get(m, "jitter")) != NULL &&
        (rc = get_duration(l, v, "jitter", &k->jitter_ns)) != 0) {
        return rc;
    }
    if ((v = mr_conf_get(m, "bandwidth")) != NULL &&
        (rc = get_uint(l, v, "bandwidth (bytes per second)", 1, INT64_MAX,
                       &k->bandwidth_bytes_per_s)) != 0) {
        return rc;
    }
    return check_unknown(l, m, "link", "between, latency, jitter, bandwidth");
}

static int load_links(struct loader *l, struct mr_conf_value *links)
{
    int rc = want_type(l, links, MR_CONF_ARRAY, "links");
    if (rc != 0) {
        return rc;
    }
    struct sim_scenario *sc = l->sc;
    size_t n = links->u.array.count;
    if (n > SIM_SC_REGIONS_MAX * SIM_SC_REGIONS_MAX) {
        return fail_at(l, &links->pos, "links: too many entries");
    }
    sc->links = g_new0(struct sim_sc_link, n + 1);
    for (size_t i = 0; i < n; i++) {
        struct sim_sc_link *k = &sc->links[sc->links_count++];
        if ((rc = load_link(l, links->u.array.items[i], k)) != 0) {
            return rc;
        }
        for (size_t j = 0; j + 1 < sc->links_count; j++) {
            const struct sim_sc_link *o = &sc->links[j];
            if ((o->a_index == k->a_index && o->b_index == k->b_index) ||
                (o->a_index == k->b_index && o->b_index == k->a_index)) {
                return fail_at(l, &links->u.array.items[i]->pos,
                               "link: duplicate link between %s and %s", k->a, k->b);
            }
        }
    }
    return 0;
}

static int server_ref(struct loader *l, const struct mr_conf_value *v, const char *name)
{
    if (sim_scenario_server_index(l->sc, name) < 0) {
        return fail_at(l, &v->pos, "unknown server \"%s\" (expected a server of servers {})",
                       name);
    }
    return 0;
}

static int load_names(struct loader *l, struct mr_conf_value *names)
{
    int rc = want_type(l, names, MR_CONF_MAP, "names");
    if (rc != 0) {
        return rc;
    }
    struct sim_scenario *sc = l->sc;
    if (names->u.map.count > SIM_SC_SERVERS_MAX) {
        return fail_at(l, &names->pos, "names: at most %d expected", SIM_SC_SERVERS_MAX);
    }
    sc->names = g_new0(struct sim_sc_name, names->u.map.count + sc->regions_count + 1);
    for (size_t i = 0; i < names->u.map.count; i++) {
        struct mr_conf_entry *e = &names->u.map.entries[i];
        e->used = true;
        if (!valid_ident(e->key, true)) {
            return fail_at(l, &e->key_pos,
                           "names: expected a name of 1 to %d letters, digits, ., - or _",
                           SIM_SC_NAME_MAX - 1);
        }
        if (sim_scenario_server_index(sc, e->key) >= 0) {
            return fail_at(l, &e->key_pos, "names: \"%s\" is already a server's host name",
                           e->key);
        }
        for (size_t j = 0; j < sc->names_count; j++) {
            if (strcmp(sc->names[j].name, e->key) == 0) {
                return fail_at(l, &e->key_pos, "names: duplicate name \"%s\"", e->key);
            }
        }
        struct sim_sc_name *n = &sc->names[sc->names_count++];
        n->name = g_strdup(e->key);
        if ((rc = get_names(l, e->value, "names entry", &n->servers)) != 0) {
            return rc;
        }
        if (n->servers.count == 0) {
            return fail_at(l, &e->value->pos, "names entry: expected at least one server");
        }
        for (size_t j = 0; j < n->servers.count; j++) {
            if ((rc = server_ref(l, e->value, n->servers.items[j])) != 0) {
                return rc;
            }
        }
    }
    return 0;
}

/* Adds "<region>-gateway" for every region that has servers and no such name yet, so
 * configs written for a real DNS setup (the mission's regionN-gateway) resolve. */
static void derive_names(struct sim_scenario *sc)
{
    if (sc->names == NULL) {
        sc->names = g_new0(struct sim_sc_name, sc->regions_count + 1);
    }
    for (size_t r = 0; r < sc->regions_count; r++) {
        char *name = g_strdup_printf("%s-gateway", sc->regions[r].name);
        bool taken = sim_scenario_server_index(sc, name) >= 0;
        for (size_t j = 0; j < sc->names_count && !taken; j++) {
            taken = strcmp(sc->names[j].name, name) == 0;
        }
        size_t members = 0;
        for (size_t s = 0; s < sc->servers_count; s++) {
            members += sc->servers[s].region_index == r ? 1 : 0;
        }
        if (taken || members == 0) {
            g_free(name);
            continue;
        }
        struct sim_sc_name *n = &sc->names[sc->names_count++];
        n->name = name;
        n->servers.items = g_new0(char *, members + 1);
        for (size_t s = 0; s < sc->servers_count; s++) {
            if (sc->servers[s].region_index == r) {
                n->servers.items[n->servers.count++] = g_strdup(sc->servers[s].name);
            }
        }
    }
}

/* ---- servers {} -------------------------------------------------------------------- */

static void collect_warning(void *ctx, enum mr_conf_warn_kind kind, const char *msg)
{
    (void)kind; /* both kinds are shown the same way by the runner */
    struct sim_scenario *sc = ctx;
    if (sc->warnings.count >= SIM_SC_EVENTS_MAX) {
        return;
    }
    sc->warnings.items = g_renew(char *, sc->warnings.items, sc->warnings.count + 2);
    sc->warnings.items[sc->warnings.count++] = g_strdup(msg);
    sc->warnings.items[sc->warnings.count] = NULL;
}

static int load_server_options(struct loader *l, struct mr_conf_value *opts,
                               struct sim_sc_server *s)
{
    int rc = want_type(l, opts, MR_CONF_MAP, "options");
    if (rc != 0) {
        return rc;
    }
    struct mr_conf_value *v = mr_conf_get(opts, "test_drop_every");
    if (v != NULL) {
        uint64_t n = 0;
        if ((rc = get_uint(l, v, "test_drop_every", 0, UINT32_MAX, &n)) != 0) {
            return rc;
        }
        s->config.server.test_drop_every = (uint32_t)n;
    }
    if ((v = mr_conf_get(opts, "test_gateway_send_all")) != NULL) {
        if (v->type != MR_CONF_BOOL) {
            return fail_at(l, &v->pos, "test_gateway_send_all: expected true or false");
        }
        s->config.server.test_gateway_send_all = v->u.b;
    }
    return check_unknown(l, opts, "options", "test_drop_every, test_gateway_send_all");
}

/* A probability in a disk {} block: "1/100" or an integer percent (0 to 100). */
static int get_ratio(struct loader *l, const struct mr_conf_value *v, const char *what,
                     struct sim_ratio *out)
{
    if (v->type == MR_CONF_INT && v->u.i >= 0 && v->u.i <= 100) {
        *out = (struct sim_ratio){(uint32_t)v->u.i, 100};
        return 0;
    }
    unsigned num = 0;
    unsigned den = 0;
    char tail = '\0';
    if (v->type == MR_CONF_STRING &&
        sscanf(v->u.str.s, "%u/%u%c", &num, &den, &tail) == 2 && den > 0 && num <= den) {
        *out = (struct sim_ratio){num, den};
        return 0;
    }
    return fail_at(l, &v->pos, "%s: expected a probability \"N/D\" (N <= D) or a percent "
                               "0 to 100", what);
}

/* disk { torn_write, fsync_error, read_corrupt, bit_rot, bit_rot_suffix }: the faults of
 * the server's disk (sim_disk.h). */
static int load_server_disk(struct loader *l, struct mr_conf_value *m, struct sim_sc_server *s)
{
    int rc = want_type(l, m, MR_CONF_MAP, "disk");
    if (rc != 0) {
        return rc;
    }
    struct {
        const char *key;
        struct sim_ratio *out;
    } ratios[] = {
        {"torn_write", &s->disk.torn_write},
        {"fsync_error", &s->disk.fsync_error},
        {"read_corrupt", &s->disk.read_corrupt},
        {"bit_rot", &s->disk.bit_rot},
    };
    for (size_t i = 0; i < sizeof(ratios) / sizeof(ratios[0]); i++) {
        struct mr_conf_value *v = mr_conf_get(m, ratios[i].key);
        if (v != NULL && (rc = get_ratio(l, v, ratios[i].key, ratios[i].out)) != 0) {
            return rc;
        }
    }
    struct mr_conf_value *v = mr_conf_get(m, "bit_rot_suffix");
    if (v != NULL) {
        if (v->type != MR_CONF_STRING || v->u.str.len >= sizeof(s->disk.bit_rot_suffix)) {
            return fail_at(l, &v->pos, "bit_rot_suffix: expected a string of at most %zu bytes",
                           sizeof(s->disk.bit_rot_suffix) - 1);
        }
        g_strlcpy(s->disk.bit_rot_suffix, v->u.str.s, sizeof(s->disk.bit_rot_suffix));
    }
    return check_unknown(l, m, "disk",
                         "torn_write, fsync_error, read_corrupt, bit_rot, bit_rot_suffix");
}

static int load_server(struct loader *l, struct mr_conf_entry *e, struct sim_sc_server *s)
{
    struct sim_scenario *sc = l->sc;
    struct mr_conf_value *block = e->value;
    int rc = want_type(l, block, MR_CONF_MAP, "server");
    if (rc != 0) {
        return rc;
    }
    mr_conf_pos_format(&block->pos, s->where, sizeof(s->where));
    struct mr_conf_value *region = mr_conf_get(block, "region");
    struct mr_conf_value *options = mr_conf_get(block, "options");
    struct mr_conf_value *config = mr_conf_get(block, "config");
    struct mr_conf_value *disk = mr_conf_get(block, "disk");
    if (disk != NULL && (rc = load_server_disk(l, disk, s)) != 0) {
        return rc;
    }
    if (region != NULL) {
        if ((rc = get_name(l, region, "region", &s->region)) != 0) {
            return rc;
        }
        if ((rc = region_ref(l, region, s->region, &s->region_index)) != 0) {
            return rc;
        }
    } else if (sc->regions_count == 1) {
        s->region = g_strdup(sc->regions[0].name);
        s->region_index = 0;
    } else {
        return fail_at(l, &block->pos, "server \"%s\": expected region: NAME", s->name);
    }
    char cerr[MR_CONF_MSG_MAX] = "";
    struct mr_conf_value *root = block;
    if (config != NULL) {
        /* With config {} the block holds only region, options and config. */
        if ((rc = want_type(l, config, MR_CONF_MAP, "config")) != 0) {
            return rc;
        }
        if ((rc = check_unknown(l, block, "server", "region, options, config, disk")) != 0) {
            return rc;
        }
        root = config;
    }
    rc = mr_conf_server_load(root, &s->config, collect_warning, sc, cerr, sizeof(cerr));
    if (rc == 0) {
        rc = mr_conf_server_load_files(&s->config, l->io, cerr, sizeof(cerr));
    }
    if (rc != 0) {
        if (l->err != NULL && l->err_len > 0) {
            snprintf(l->err, l->err_len, "%s (server \"%s\")", cerr, s->name);
        }
        return rc;
    }
    if (s->config.server.server_name[0] == '\0') {
        g_strlcpy(s->config.server.server_name, s->name, sizeof(s->config.server.server_name));
    }
    if (options != NULL) {
        return load_server_options(l, options, s);
    }
    return 0;
}

static int load_servers(struct loader *l, struct mr_conf_value *servers)
{
    int rc = want_type(l, servers, MR_CONF_MAP, "servers");
    if (rc != 0) {
        return rc;
    }
    struct sim_scenario *sc = l->sc;
    if (servers->u.map.count > SIM_SC_SERVERS_MAX) {
        return fail_at(l, &servers->pos, "servers: at most %d expected", SIM_SC_SERVERS_MAX);
    }
    sc->servers = g_new0(struct sim_sc_server, servers->u.map.count + 1);
    for (size_t i = 0; i < servers->u.map.count; i++) {
        struct mr_conf_entry *e = &servers->u.map.entries[i];
        e->used = true;
        if (!valid_ident(e->key, false)) {
            return fail_at(l, &e->key_pos,
                           "servers: expected a server name of 1 to %d letters, digits, - or _",
                           SIM_SC_NAME_MAX - 1);
        }
        if (sim_scenario_server_index(sc, e->key) >= 0) {
            return fail_at(l, &e->key_pos, "servers: duplicate server \"%s\"", e->key);
        }
        struct sim_sc_server *s = &sc->servers[sc->servers_count++];
        s->name = g_strdup(e->key);
        mr_conf_server_init(&s->config);
        if ((rc = load_server(l, e, s)) != 0) {
            return rc;
        }
    }
    return 0;
}

/* ---- clients {} -------------------------------------------------------------------- */

static int client_role(struct loader *l, struct mr_conf_value *m, struct sim_sc_client *c)
{
    static const struct {
        const char *key;
        enum sim_sc_client_kind kind;
    } roles[] = {
        {"publish", SIM_SC_CLIENT_PUBLISH},
        {"subscribe", SIM_SC_CLIENT_SUBSCRIBE},
        {"request", SIM_SC_CLIENT_REQUEST},
        {"reply", SIM_SC_CLIENT_REPLY},
        {"js_publish", SIM_SC_CLIENT_JS_PUBLISH},
        {"js_read", SIM_SC_CLIENT_JS_READ},
    };
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        struct mr_conf_value *v = mr_conf_get(m, roles[i].key);
        if (v == NULL) {
            continue;
        }
        if (c->kind != 0) {
            return fail_at(l, &v->pos,
                           "client \"%s\": expected only one of publish, subscribe, request, "
                           "reply, js_publish, js_read",
                           c->name);
        }
        c->kind = roles[i].kind;
        if (v->type != MR_CONF_STRING || v->u.str.len == 0 ||
            v->u.str.len > SIM_SC_SUBJECT_MAX || strlen(v->u.str.s) != v->u.str.len ||
            strpbrk(v->u.str.s, " \t\r\n") != NULL) {
            return fail_at(l, &v->pos, "%s: expected a subject of 1 to %d bytes, no spaces",
                           roles[i].key, SIM_SC_SUBJECT_MAX);
        }
        c->subject = g_strdup(v->u.str.s);
    }
    if (c->kind == 0) {
        return fail_at(l, &m->pos, "client \"%s\": expected one of publish, subscribe, request, "
                                   "reply, js_publish, js_read",
                       c->name);
    }
    if (c->kind == SIM_SC_CLIENT_JS_READ) {
        /* The value is a stream name: it goes into API subjects as one token. */
        if (!valid_ident(c->subject, false)) {
            return fail_at(l, &mr_conf_get(m, "js_read")->pos,
                           "js_read: expected a stream name of 1 to %d letters, digits, - or _",
                           SIM_SC_NAME_MAX - 1);
        }
        c->stream = g_strdup(c->subject);
    }
    return 0;
}

/* A credential or account name: a string of 1 to max - 1 bytes without NULs. */
static int get_secret(struct loader *l, const struct mr_conf_value *v, const char *what,
                      size_t max, char **out)
{
    if (v->type != MR_CONF_STRING || v->u.str.len == 0 || v->u.str.len >= max ||
        strlen(v->u.str.s) != v->u.str.len) {
        return fail_at(l, &v->pos, "%s: expected a string of 1 to %zu bytes", what, max - 1);
    }
    *out = g_strdup(v->u.str.s);
    return 0;
}

/* user, password, token and account of a client; nkey and creds are refused by name
 * (simulated clients cannot sign a nonce). */
static int load_client_auth(struct loader *l, struct mr_conf_value *m, struct sim_sc_client *c)
{
    static const char *const unsupported[] = {"nkey", "creds", "credentials", "jwt"};
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        const struct mr_conf_value *v = mr_conf_get(m, unsupported[i]);
        if (v != NULL) {
            return fail_at(l, &v->pos,
                           "client \"%s\": %s is not supported by simulated clients (expected "
                           "user and password, or token)",
                           c->name, unsupported[i]);
        }
    }
    struct {
        const char *key;
        char **out;
    } fields[] = {
        {"user", &c->user},
        {"password", &c->password},
        {"token", &c->token},
        {"account", &c->account_declared},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const struct mr_conf_value *v = mr_conf_get(m, fields[i].key);
        int rc = v != NULL ? get_secret(l, v, fields[i].key, SIM_SC_CRED_MAX, fields[i].out) : 0;
        if (rc != 0) {
            return rc;
        }
    }
    if (c->token != NULL && (c->user != NULL || c->password != NULL)) {
        return fail_at(l, &m->pos, "client \"%s\": expected token, or user and password, not both",
                       c->name);
    }
    if (c->password != NULL && c->user == NULL) {
        return fail_at(l, &m->pos, "client \"%s\": password without user", c->name);
    }
    return 0;
}

/* A config value as JSON: maps keep their order, sizes are already integers. */
static json_t *conf_to_json(const struct mr_conf_value *v)
{
    switch (v->type) {
    case MR_CONF_MAP: {
        json_t *o = json_object();
        for (size_t i = 0; i < v->u.map.count; i++) {
            const struct mr_conf_entry *e = &v->u.map.entries[i];
            json_object_set_new(o, e->key, conf_to_json(e->value));
        }
        return o;
    }
    case MR_CONF_ARRAY: {
        json_t *a = json_array();
        for (size_t i = 0; i < v->u.array.count; i++) {
            json_array_append_new(a, conf_to_json(v->u.array.items[i]));
        }
        return a;
    }
    case MR_CONF_STRING:
        return json_stringn(v->u.str.s, v->u.str.len);
    case MR_CONF_INT:
        return json_integer(v->u.i);
    case MR_CONF_FLOAT:
        return json_real(v->u.f);
    case MR_CONF_BOOL:
        return json_boolean(v->u.b);
    }
    return json_null();
}

/* stream {}: a js_publish client's STREAM.CREATE request, written in config syntax;
 * name is required (it names the API subject), the rest goes to the server as is. */
static int load_client_stream(struct loader *l, struct mr_conf_value *v, struct sim_sc_client *c)
{
    if (c->kind != SIM_SC_CLIENT_JS_PUBLISH) {
        return fail_at(l, &v->pos, "stream: expected only with js_publish");
    }
    int rc = want_type(l, v, MR_CONF_MAP, "stream");
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < v->u.map.count; i++) {
        v->u.map.entries[i].used = true; /* the server judges the fields */
    }
    const struct mr_conf_value *name = mr_conf_get(v, "name");
    if (name == NULL || name->type != MR_CONF_STRING || !valid_ident(name->u.str.s, false)) {
        return fail_at(l, name != NULL ? &name->pos : &v->pos,
                       "stream: expected name: a stream name of 1 to %d letters, digits, - or _",
                       SIM_SC_NAME_MAX - 1);
    }
    json_t *j = conf_to_json(v);
    char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (text == NULL || strlen(text) >= SIM_SC_STREAM_JSON_MAX) {
        free(text);
        return fail_at(l, &v->pos, "stream: expected at most %d bytes of JSON",
                       SIM_SC_STREAM_JSON_MAX - 1);
    }
    c->stream_json = g_strdup(text);
    free(text);
    c->stream = g_strdup(name->u.str.s);
    return 0;
}

static int load_client(struct loader *l, struct mr_conf_value *m, struct sim_sc_client *c)
{
    int rc = want_type(l, m, MR_CONF_MAP, "client");
    if (rc != 0) {
        return rc;
    }
    mr_conf_pos_format(&m->pos, c->where, sizeof(c->where));
    struct mr_conf_value *v = mr_conf_get(m, "at");
    if (v == NULL) {
        return fail_at(l, &m->pos, "client \"%s\": expected at: [SERVER, ...]", c->name);
    }
    if ((rc = get_names(l, v, "at", &c->at)) != 0) {
        return rc;
    }
    if (c->at.count == 0 || c->at.count > SIM_SC_AT_MAX) {
        return fail_at(l, &v->pos, "at: expected 1 to %d servers", SIM_SC_AT_MAX);
    }
    for (size_t i = 0; i < c->at.count; i++) {
        if ((rc = server_ref(l, v, c->at.items[i])) != 0) {
            return rc;
        }
    }
    if ((rc = client_role(l, m, c)) != 0) {
        return rc;
    }
    if ((v = mr_conf_get(m, "queue")) != NULL) {
        if (c->kind != SIM_SC_CLIENT_SUBSCRIBE && c->kind != SIM_SC_CLIENT_REPLY) {
            return fail_at(l, &v->pos, "queue: expected only with subscribe or reply");
        }
        if ((rc = get_name(l, v, "queue", &c->queue)) != 0) {
            return rc;
        }
    }
    c->rate = 10;
    c->size = 16;
    uint64_t n = 0;
    if ((v = mr_conf_get(m, "rate")) != NULL) {
        if ((rc = get_uint(l, v, "rate (messages per second)", 1, SIM_SC_RATE_MAX, &n)) != 0) {
            return rc;
        }
        c->rate = (uint32_t)n;
    }
    if ((v = mr_conf_get(m, "size")) != NULL) {
        if ((rc = get_uint(l, v, "size (payload bytes)", 0, SIM_SC_SIZE_MAX, &n)) != 0) {
            return rc;
        }
        c->size = (uint32_t)n;
    }
    if ((rc = load_client_auth(l, m, c)) != 0) {
        return rc;
    }
    if ((v = mr_conf_get(m, "stream")) != NULL && (rc = load_client_stream(l, v, c)) != 0) {
        return rc;
    }
    if ((v = mr_conf_get(m, "start")) != NULL &&
        (rc = get_duration(l, v, "start", &c->start_ns)) != 0) {
        return rc;
    }
    if ((v = mr_conf_get(m, "stop")) != NULL) {
        if ((rc = get_duration(l, v, "stop", &c->stop_ns)) != 0) {
            return rc;
        }
        if (c->stop_ns <= c->start_ns) {
            return fail_at(l, &v->pos, "stop: expected a time after start");
        }
    }
    return check_unknown(l, m, "client",
                         "at, publish, subscribe, request, reply, js_publish, js_read, stream, "
                         "queue, rate, size, start, stop, user, password, token, account");
}

static int load_clients(struct loader *l, struct mr_conf_value *clients)
{
    int rc = want_type(l, clients, MR_CONF_MAP, "clients");
    if (rc != 0) {
        return rc;
    }
    struct sim_scenario *sc = l->sc;
    if (clients->u.map.count > SIM_SC_CLIENTS_MAX) {
        return fail_at(l, &clients->pos, "clients: at most %d expected", SIM_SC_CLIENTS_MAX);
    }
    sc->clients = g_new0(struct sim_sc_client, clients->u.map.count + 1);
    for (size_t i = 0; i < clients->u.map.count; i++) {
        struct mr_conf_entry *e = &clients->u.map.entries[i];
        e->used = true;
        if (!valid_ident(e->key, false)) {
            return fail_at(l, &e->key_pos,
                           "clients: expected a client name of 1 to %d letters, digits, - or _",
                           SIM_SC_NAME_MAX - 1);
        }
        if (client_index(sc, e->key) >= 0 || sim_scenario_server_index(sc, e->key) >= 0) {
            return fail_at(l, &e->key_pos, "clients: duplicate name \"%s\"", e->key);
        }
        struct sim_sc_client *c = &sc->clients[sc->clients_count++];
        c->name = g_strdup(e->key);
        if ((rc = load_client(l, e->value, c)) != 0) {
            return rc;
        }
    }
    return 0;
}

/* ---- timeline [] ------------------------------------------------------------------- */

static int parse_action(struct loader *l, const struct mr_conf_value *v, enum sim_sc_action *out)
{
    if (v->type == MR_CONF_STRING) {
        for (int a = 0; a < SIM_ACT_QUIESCE; a++) {
            if (strcmp(v->u.str.s, action_names[a]) == 0) {
                *out = (enum sim_sc_action)a;
                return 0;
            }
        }
    }
    return fail_at(l, &v->pos,
                   "do: expected partition, isolate, heal, heal_all, crash, power_fail, "
                   "restart, pause, resume, reset, latency, clock_skew, region_down or "
                   "region_up");
}

/* What an action's targets name. */
enum target_kind {
    TARGETS_NONE,
    TARGETS_SERVERS,
    TARGETS_REGIONS,
};

static enum target_kind action_targets(enum sim_sc_action a)
{
    switch (a) {
    case SIM_ACT_HEAL_ALL:
    case SIM_ACT_QUIESCE:
        return TARGETS_NONE;
    case SIM_ACT_LATENCY:
    case SIM_ACT_REGION_DOWN:
    case SIM_ACT_REGION_UP:
        return TARGETS_REGIONS;
    default:
        return TARGETS_SERVERS;
    }
}

static bool action_has_inverse(enum sim_sc_action a)
{
    switch (a) {
    case SIM_ACT_PARTITION:
    case SIM_ACT_ISOLATE:
    case SIM_ACT_CRASH:
    case SIM_ACT_POWER_FAIL:
    case SIM_ACT_PAUSE:
    case SIM_ACT_LATENCY:
    case SIM_ACT_CLOCK_SKEW:
    case SIM_ACT_REGION_DOWN:
        return true;
    default:
        return false;
    }
}

static int load_groups(struct loader *l, struct mr_conf_value *v, struct sim_sc_event *ev)
{
    if (v->type != MR_CONF_ARRAY || v->u.array.count < 2) {
        return fail_at(l, &v->pos, "groups: expected [[SERVER, ...], [SERVER, ...], ...]");
    }
    size_t total = 0;
    for (size_t g = 0; g < v->u.array.count; g++) {
        const struct mr_conf_value *grp = v->u.array.items[g];
        if (grp->type != MR_CONF_ARRAY || grp->u.array.count == 0) {
            return fail_at(l, &grp->pos, "groups: expected a non-empty array of servers");
        }
        total += grp->u.array.count;
    }
    if (total > SIM_SC_SERVERS_MAX) {
        return fail_at(l, &v->pos, "groups: at most %d servers expected", SIM_SC_SERVERS_MAX);
    }
    ev->targets.items = g_new0(char *, total + 1);
    ev->groups = g_new0(uint32_t, total + 1);
    ev->groups_count = v->u.array.count;
    for (size_t g = 0; g < v->u.array.count; g++) {
        const struct mr_conf_value *grp = v->u.array.items[g];
        for (size_t i = 0; i < grp->u.array.count; i++) {
            const struct mr_conf_value *s = grp->u.array.items[i];
            char *name = NULL;
            int rc = get_name(l, s, "groups", &name);
            if (rc != 0) {
                return rc;
            }
            ev->groups[ev->targets.count] = (uint32_t)g;
            ev->targets.items[ev->targets.count++] = name;
            if ((rc = server_ref(l, s, name)) != 0) {
                return rc;
            }
            for (size_t j = 0; j + 1 < ev->targets.count; j++) {
                if (strcmp(ev->targets.items[j], name) == 0) {
                    return fail_at(l, &s->pos, "groups: server \"%s\" appears twice", name);
                }
            }
        }
    }
    return 0;
}

static int load_targets(struct loader *l, struct mr_conf_value *m, struct sim_sc_event *ev)
{
    enum target_kind kind = action_targets(ev->action);
    struct mr_conf_value *t = mr_conf_get(m, "targets");
    struct mr_conf_value *g = mr_conf_get(m, "groups");
    const char *name = sim_sc_action_name(ev->action);
    if (g != NULL && ev->action != SIM_ACT_PARTITION) {
        return fail_at(l, &g->pos, "groups: expected only with do: partition");
    }
    if (t != NULL && g != NULL) {
        return fail_at(l, &g->pos, "partition: expected targets or groups, not both");
    }
    if (g != NULL) {
        return load_groups(l, g, ev);
    }
    if (t == NULL) {
        if (kind == TARGETS_NONE || ev->action == SIM_ACT_HEAL) {
            return 0;
        }
        return fail_at(l, &m->pos, "%s: expected targets: [%s, ...]", name,
                       kind == TARGETS_REGIONS ? "REGION" : "SERVER");
    }
    if (kind == TARGETS_NONE) {
        return fail_at(l, &t->pos, "%s: expected no targets", name);
    }
    int rc = get_names(l, t, "targets", &ev->targets);
    if (rc != 0) {
        return rc;
    }
    if (ev->targets.count == 0 || ev->targets.count > SIM_SC_SERVERS_MAX) {
        return fail_at(l, &t->pos, "targets: expected 1 to %d names", SIM_SC_SERVERS_MAX);
    }
    if (ev->action == SIM_ACT_LATENCY && ev->targets.count > 2) {
        return fail_at(l, &t->pos, "latency: expected one region or two (a link)");
    }
    for (size_t i = 0; i < ev->targets.count; i++) {
        size_t idx;
        rc = kind == TARGETS_REGIONS ? region_ref(l, t, ev->targets.items[i], &idx)
                                     : server_ref(l, t, ev->targets.items[i]);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int load_event_params(struct loader *l, struct mr_conf_value *m, struct sim_sc_event *ev)
{
    int rc;
    struct mr_conf_value *v = mr_conf_get(m, "latency");
    struct mr_conf_value *j = mr_conf_get(m, "jitter");
    struct mr_conf_value *k = mr_conf_get(m, "skew");
    if (ev->action == SIM_ACT_LATENCY) {
        if (v == NULL) {
            return fail_at(l, &m->pos, "latency: expected latency: DURATION");
        }
        if ((rc = get_duration(l, v, "latency", &ev->latency_ns)) != 0) {
            return rc;
        }
        if (j != NULL && (rc = get_duration(l, j, "jitter", &ev->jitter_ns)) != 0) {
            return rc;
        }
    } else if (v != NULL || j != NULL) {
        return fail_at(l, v != NULL ? &v->pos : &j->pos,
                       "latency and jitter: expected only with do: latency");
    }
    if (ev->action == SIM_ACT_CLOCK_SKEW) {
        if (k == NULL) {
            return fail_at(l, &m->pos, "clock_skew: expected skew: DURATION (may be negative)");
        }
        return get_signed_duration(l, k, "skew", &ev->skew_ns);
    }
    if (k != NULL) {
        return fail_at(l, &k->pos, "skew: expected only with do: clock_skew");
    }
    return 0;
}

static int load_event(struct loader *l, struct mr_conf_value *m, struct sim_sc_event *ev)
{
    int rc = want_type(l, m, MR_CONF_MAP, "timeline entry");
    if (rc != 0) {
        return rc;
    }
    mr_conf_pos_format(&m->pos, ev->where, sizeof(ev->where));
    struct mr_conf_value *v = mr_conf_get(m, "at");
    if (v == NULL) {
        return fail_at(l, &m->pos, "timeline entry: expected at: TIME");
    }
    if ((rc = get_duration(l, v, "at", &ev->at_ns)) != 0) {
        return rc;
    }
    if (ev->at_ns >= l->sc->duration_ns) {
        return fail_at(l, &v->pos, "at: expected a time before the duration");
    }
    struct mr_conf_value *d = mr_conf_get(m, "do");
    if (d == NULL) {
        return fail_at(l, &m->pos, "timeline entry: expected do: ACTION");
    }
    if ((rc = parse_action(l, d, &ev->action)) != 0) {
        return rc;
    }
    if ((v = mr_conf_get(m, "for")) != NULL) {
        if (!action_has_inverse(ev->action)) {
            return fail_at(l, &v->pos, "for: not expected with do: %s (it has no inverse)",
                           sim_sc_action_name(ev->action));
        }
        if ((rc = get_duration(l, v, "for", &ev->for_ns)) != 0) {
            return rc;
        }
        if (ev->for_ns == 0) {
            return fail_at(l, &v->pos, "for: expected a duration above 0");
        }
    }
    if ((rc = load_targets(l, m, ev)) != 0) {
        return rc;
    }
    if ((rc = load_event_params(l, m, ev)) != 0) {
        return rc;
    }
    return check_unknown(l, m, "timeline entry",
                         "at, do, targets, groups, for, latency, jitter, skew");
}

static int event_cmp(const void *a, const void *b)
{
    const struct sim_sc_event *x = a;
    const struct sim_sc_event *y = b;
    if (x->at_ns != y->at_ns) {
        return x->at_ns < y->at_ns ? -1 : 1;
    }
    if (x->seq != y->seq) {
        return x->seq < y->seq ? -1 : 1;
    }
    return 0;
}

static int load_timeline(struct loader *l, struct mr_conf_value *tl)
{
    int rc = want_type(l, tl, MR_CONF_ARRAY, "timeline");
    if (rc != 0) {
        return rc;
    }
    struct sim_scenario *sc = l->sc;
    if (tl->u.array.count > SIM_SC_EVENTS_MAX / 2) {
        return fail_at(l, &tl->pos, "timeline: at most %d entries expected",
                       SIM_SC_EVENTS_MAX / 2);
    }
    sc->events = g_new0(struct sim_sc_event, tl->u.array.count + 1);
    for (size_t i = 0; i < tl->u.array.count; i++) {
        struct sim_sc_event *ev = &sc->events[sc->events_count++];
        ev->seq = i;
        if ((rc = load_event(l, tl->u.array.items[i], ev)) != 0) {
            return rc;
        }
    }
    qsort(sc->events, sc->events_count, sizeof(sc->events[0]), event_cmp);
    return 0;
}

/* ---- random {}, quiesce, expect {}, check [] ---------------------------------------- */

static int load_random_faults(struct loader *l, struct mr_conf_value *v, struct sim_sc_random *r)
{
    static const enum sim_sc_action allowed[] = {
        SIM_ACT_PARTITION, SIM_ACT_ISOLATE, SIM_ACT_CRASH,
        SIM_ACT_POWER_FAIL, SIM_ACT_PAUSE, SIM_ACT_RESET,
    };
    if (v->type != MR_CONF_ARRAY || v->u.array.count == 0) {
        return fail_at(l, &v->pos, "faults: expected a non-empty array of fault names");
    }
    for (size_t i = 0; i < v->u.array.count; i++) {
        const struct mr_conf_value *f = v->u.array.items[i];
        bool found = false;
        for (size_t a = 0; a < sizeof(allowed) / sizeof(allowed[0]) && !found; a++) {
            if (f->type == MR_CONF_STRING && strcmp(f->u.str.s, action_names[allowed[a]]) == 0) {
                found = true;
                if (r->faults_count < SIM_ACT_COUNT) {
                    r->faults[r->faults_count++] = allowed[a];
                }
            }
        }
        if (!found) {
            return fail_at(l, &f->pos, "faults: expected partition, isolate, crash, power_fail, "
                                       "pause or reset");
        }
    }
    return 0;
}

static int load_random(struct loader *l, struct mr_conf_value *m)
{
    int rc = want_type(l, m, MR_CONF_MAP, "random");
    if (rc != 0) {
        return rc;
    }
    struct sim_scenario *sc = l->sc;
    struct sim_sc_random *r = &sc->random;
    r->present = true;
    r->to_ns = sc->duration_ns;
    r->every_min_ns = 5 * NS_PER_S;
    r->every_max_ns = 20 * NS_PER_S;
    struct mr_conf_value *v;
    if ((v = mr_conf_get(m, "from")) != NULL && (rc = get_duration(l, v, "from", &r->from_ns))) {
        return rc;
    }
    if ((v = mr_conf_get(m, "to")) != NULL && (rc = get_duration(l, v, "to", &r->to_ns))) {
        return rc;
    }
    if (r->to_ns <= r->from_ns) {
        return fail_at(l, &m->pos, "random: expected from before to");
    }
    if ((v = mr_conf_get(m, "every")) != NULL) {
        rc = load_latency_range(l, v, "every", &r->every_min_ns, &r->every_max_ns);
        if (rc != 0) {
            return rc;
        }
        if (r->every_min_ns < NS_PER_MS) {
            return fail_at(l, &v->pos, "every: expected at least 1ms");
        }
    }
    if ((v = mr_conf_get(m, "faults")) == NULL) {
        return fail_at(l, &m->pos, "random: expected faults: [partition, crash, ...]");
    }
    if ((rc = load_random_faults(l, v, r)) != 0) {
        return rc;
    }
    if ((v = mr_conf_get(m, "targets")) != NULL) {
        if ((rc = get_names(l, v, "targets", &r->targets)) != 0) {
            return rc;
        }
        for (size_t i = 0; i < r->targets.count; i++) {
            if ((rc = server_ref(l, v, r->targets.items[i])) != 0) {
                return rc;
            }
        }
    } else {
        r->targets.items = g_new0(char *, sc->servers_count + 1);
        for (size_t i = 0; i < sc->servers_count; i++) {
            r->targets.items[r->targets.count++] = g_strdup(sc->servers[i].name);
        }
    }
    if (r->targets.count == 0) {
        return fail_at(l, &m->pos, "random: expected at least one target server");
    }
    return check_unknown(l, m, "random", "from, to, every, faults, targets");
}

static int load_checks(struct loader *l, struct mr_conf_value *v)
{
    int rc = want_type(l, v, MR_CONF_ARRAY, "check");
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < v->u.array.count; i++) {
        const struct mr_conf_value *c = v->u.array.items[i];
        bool found = false;
        for (int k = 0; k < SIM_CHECK_COUNT && !found; k++) {
            if (c->type == MR_CONF_STRING && strcmp(c->u.str.s, check_names[k]) == 0) {
                l->sc->checks[k] = true;
                found = true;
            }
        }
        if (!found) {
            return fail_at(l, &c->pos, "check: expected no_duplicates, per_publisher_order, "
                                       "delivery, queue_once, liveness, interest_only, "
                                       "local_delivery, account_scoping or no_acked_loss");
        }
    }
    return 0;
}

static int load_quiet_link(struct loader *l, struct mr_conf_value *m,
                           struct sim_sc_quiet_link *q)
{
    int rc = want_type(l, m, MR_CONF_MAP, "quiet_links entry");
    if (rc != 0) {
        return rc;
    }
    struct mr_conf_value *v = mr_conf_get(m, "between");
    if (v == NULL) {
        return fail_at(l, &m->pos, "quiet_links: expected between: [REGION, REGION]");
    }
    struct sim_sc_strings b = {0};
    size_t ia = 0;
    size_t ib = 0;
    rc = get_names(l, v, "between", &b);
    if (rc == 0 && b.count != 2) {
        rc = fail_at(l, &v->pos, "between: expected two regions");
    }
    if (rc == 0 && (rc = region_ref(l, v, b.items[0], &ia)) == 0 &&
        (rc = region_ref(l, v, b.items[1], &ib)) == 0 && ia == ib) {
        rc = fail_at(l, &v->pos, "between: expected two different regions");
    }
    if (rc == 0) {
        q->a = g_strdup(b.items[0]);
        q->b = g_strdup(b.items[1]);
    }
    strings_free(&b);
    if (rc != 0) {
        return rc;
    }
    if ((v = mr_conf_get(m, "max")) == NULL) {
        return fail_at(l, &m->pos, "quiet_links: expected max: BYTES (for example 64KB)");
    }
    if ((rc = get_uint(l, v, "max (bytes)", 0, INT64_MAX, &q->max_bytes)) != 0) {
        return rc;
    }
    return check_unknown(l, m, "quiet_links entry", "between, max");
}

/* Whether some server's config imports between accounts from and to so that messages
 * from `from` reach `to`: a stream import of from's in to, or a service import of to's
 * in from (the requests cross from `from` to `to`). */
static bool config_crosses(const struct sim_scenario *sc, const char *from, const char *to)
{
    for (size_t i = 0; i < sc->servers_count; i++) {
        const struct mr_auth_opts *a = sc->servers[i].config.auth;
        for (size_t k = 0; a != NULL && k < a->accounts_count; k++) {
            const struct mr_account_opts *acc = &a->accounts[k];
            for (size_t j = 0; j < acc->imports_count; j++) {
                const struct mr_import_opts *im = &acc->imports[j];
                const char *exporter = im->account != NULL ? im->account : "";
                if (!im->service && strcmp(acc->name, to) == 0 && strcmp(exporter, from) == 0) {
                    return true;
                }
                if (im->service && strcmp(acc->name, from) == 0 && strcmp(exporter, to) == 0) {
                    return true;
                }
            }
        }
    }
    return false;
}

static int load_crossings(struct loader *l, struct mr_conf_value *v)
{
    int rc = want_type(l, v, MR_CONF_ARRAY, "account_crossings");
    if (rc != 0) {
        return rc;
    }
    struct sim_scenario *sc = l->sc;
    sc->crossings = g_new0(struct sim_sc_crossing, v->u.array.count + 1);
    for (size_t i = 0; i < v->u.array.count; i++) {
        struct mr_conf_value *m = v->u.array.items[i];
        struct sim_sc_crossing *x = &sc->crossings[sc->crossings_count++];
        if ((rc = want_type(l, m, MR_CONF_MAP, "account_crossings entry")) != 0) {
            return rc;
        }
        const struct mr_conf_value *from = mr_conf_get(m, "from");
        const struct mr_conf_value *to = mr_conf_get(m, "to");
        if (from == NULL || to == NULL) {
            return fail_at(l, &m->pos, "account_crossings: expected { from: ACCOUNT, to: "
                                       "ACCOUNT }");
        }
        if ((rc = get_secret(l, from, "from", SIM_SC_CRED_MAX, &x->from)) != 0 ||
            (rc = get_secret(l, to, "to", SIM_SC_CRED_MAX, &x->to)) != 0) {
            return rc;
        }
        if (!config_crosses(sc, x->from, x->to)) {
            return fail_at(l, &m->pos,
                           "account_crossings: no server imports from account %s into %s (a "
                           "stream import in %s, or a service import of %s's in %s, expected)",
                           x->from, x->to, x->to, x->to, x->from);
        }
        if ((rc = check_unknown(l, m, "account_crossings entry", "from, to")) != 0) {
            return rc;
        }
    }
    return 0;
}

static int load_acked_loss(struct loader *l, const struct mr_conf_value *v)
{
    static const char *const names[] = {"none", "bounded", "detected"};
    for (size_t i = 0; v->type == MR_CONF_STRING && i < 3; i++) {
        if (strcmp(v->u.str.s, names[i]) == 0) {
            l->sc->acked_loss = (enum sim_sc_acked_loss)i;
            return 0;
        }
    }
    return fail_at(l, &v->pos, "acked_loss: expected none, bounded or detected");
}

static int load_expect(struct loader *l, struct mr_conf_value *m)
{
    int rc = want_type(l, m, MR_CONF_MAP, "expect");
    if (rc != 0) {
        return rc;
    }
    struct mr_conf_value *v = mr_conf_get(m, "converge");
    if (v != NULL && (rc = get_duration(l, v, "converge", &l->sc->converge_ns)) != 0) {
        return rc;
    }
    v = mr_conf_get(m, "settle");
    if (v != NULL && (rc = get_duration(l, v, "settle", &l->sc->settle_ns)) != 0) {
        return rc;
    }
    if ((v = mr_conf_get(m, "quiet_links")) != NULL) {
        if ((rc = want_type(l, v, MR_CONF_ARRAY, "quiet_links")) != 0) {
            return rc;
        }
        struct sim_scenario *sc = l->sc;
        sc->quiet_links = g_new0(struct sim_sc_quiet_link, v->u.array.count);
        for (size_t i = 0; i < v->u.array.count; i++) {
            rc = load_quiet_link(l, v->u.array.items[i], &sc->quiet_links[i]);
            sc->quiet_links_count = i + 1;
            if (rc != 0) {
                return rc;
            }
        }
    }
    if ((v = mr_conf_get(m, "account_crossings")) != NULL &&
        (rc = load_crossings(l, v)) != 0) {
        return rc;
    }
    if ((v = mr_conf_get(m, "acked_loss")) != NULL && (rc = load_acked_loss(l, v)) != 0) {
        return rc;
    }
    return check_unknown(l, m, "expect",
                         "converge, settle, quiet_links, account_crossings, acked_loss");
}

/* ---- client accounts ---------------------------------------------------------------- */

/* The account a server with config cf binds a client CONNECT with these credentials
 * (NULL when absent) to, as its CONNECT check does (core/server/auth.c); NULL when it
 * refuses them. */
static const char *bound_account(const struct mr_config *cf, const char *user, const char *pass,
                                 const char *token)
{
    const struct mr_auth_opts *a = cf->auth;
    const struct mr_server_opts *o = &cf->server;
    if (a == NULL) {
        if (o->token[0] != '\0') {
            return token != NULL && strcmp(token, o->token) == 0 ? "$G" : NULL;
        }
        if (o->user[0] != '\0') {
            bool ok = user != NULL && strcmp(user, o->user) == 0 && pass != NULL &&
                      mr_auth_password_ok(pass, o->pass);
            return ok ? "$G" : NULL;
        }
        return "$G";
    }
    if (a->users_count == 0 && a->token == NULL) {
        return "$G";
    }
    const char *name = user;
    if (user == NULL && pass == NULL && token == NULL && a->no_auth_user != NULL) {
        name = a->no_auth_user;
    } else if (a->token != NULL) {
        return token != NULL && strcmp(token, a->token) == 0 ? "$G" : NULL;
    }
    for (size_t i = 0; name != NULL && i < a->users_count; i++) {
        const struct mr_user_opts *u = &a->users[i];
        if (u->user == NULL || strcmp(u->user, name) != 0) {
            continue;
        }
        /* no_auth_user binds without a password. */
        if (name == user && (pass == NULL || u->password == NULL ||
                             !mr_auth_password_ok(pass, u->password))) {
            return NULL;
        }
        return u->account != NULL ? u->account : "$G";
    }
    return NULL;
}

/* The account a hub with config cf binds a leaf remote presenting user/pass to:
 * leafnodes authorization when configured, else the hub's own users (core/server/leaf.c). */
static const char *leaf_bound_account(const struct mr_config *cf, const char *user,
                                      const char *pass)
{
    const struct mr_leafnode_auth_opts *a = &cf->leafnodes.auth;
    if (a->users_count > 0) {
        for (size_t i = 0; user != NULL && i < a->users_count; i++) {
            const struct mr_leafnode_user_opts *u = &a->users[i];
            if (u->user != NULL && strcmp(u->user, user) == 0) {
                bool ok = pass != NULL && mr_auth_password_ok(pass, u->password != NULL
                                                                        ? u->password
                                                                        : "");
                return ok ? (u->account != NULL ? u->account : "$G") : NULL;
            }
        }
        return NULL;
    }
    if (a->user != NULL) {
        bool ok = user != NULL && strcmp(user, a->user) == 0 && pass != NULL &&
                  mr_auth_password_ok(pass, a->password != NULL ? a->password : "");
        return ok ? (a->account != NULL ? a->account : "$G") : NULL;
    }
    return bound_account(cf, user, pass, NULL);
}

/* Accounts as (server, name) nodes in a union-find: nodes joined are one account. */
struct acct_sets {
    GPtrArray *names;  /* per node: account name (borrowed from the configs) */
    GArray *servers;   /* per node: size_t server index */
    GArray *parent;    /* per node: guint */
};

static guint acct_node(struct acct_sets *as, size_t server, const char *name)
{
    for (guint i = 0; i < as->names->len; i++) {
        if (g_array_index(as->servers, size_t, i) == server &&
            strcmp(g_ptr_array_index(as->names, i), name) == 0) {
            return i;
        }
    }
    guint n = as->names->len;
    g_ptr_array_add(as->names, (gpointer)name);
    g_array_append_val(as->servers, server);
    g_array_append_val(as->parent, n);
    return n;
}

static guint acct_root(const struct acct_sets *as, guint i)
{
    while (g_array_index(as->parent, guint, i) != i) {
        i = g_array_index(as->parent, guint, i);
    }
    return i;
}

/* Joins b's set into a's: a's root names the set (a hub's account names its leaves'). */
static void acct_join(struct acct_sets *as, guint a, guint b)
{
    guint ra = acct_root(as, a);
    guint rb = acct_root(as, b);
    if (ra != rb) {
        g_array_index(as->parent, guint, rb) = ra;
    }
}

/* The servers a URL's host names: a server, or the servers of a names {} entry. */
static size_t url_servers(const struct sim_scenario *sc, const char *host, size_t *out,
                          size_t max)
{
    int i = sim_scenario_server_index(sc, host);
    if (i >= 0) {
        out[0] = (size_t)i;
        return 1;
    }
    for (size_t n = 0; n < sc->names_count; n++) {
        if (strcmp(sc->names[n].name, host) != 0) {
            continue;
        }
        size_t count = 0;
        for (size_t j = 0; j < sc->names[n].servers.count && count < max; j++) {
            out[count++] = (size_t)sim_scenario_server_index(sc, sc->names[n].servers.items[j]);
        }
        return count;
    }
    return 0;
}

/* Leaf remotes join the leaf's local account with the hub's bound one; clusters and
 * gateways join same-named accounts of their servers. */
static void acct_join_links(struct acct_sets *as, const struct sim_scenario *sc)
{
    for (size_t s = 0; s < sc->servers_count; s++) {
        const struct mr_leafnode_opts *lo = &sc->servers[s].config.leafnodes;
        for (size_t r = 0; lo->present && r < lo->remotes_count; r++) {
            const struct mr_leafnode_remote_opts *rem = &lo->remotes[r];
            const char *local = rem->account != NULL ? rem->account : "$G";
            for (size_t u = 0; u < rem->urls.count; u++) {
                struct mr_route_slot url;
                memset(&url, 0, sizeof(url));
                if (!mr_route_parse_url(rem->urls.items[u], &url)) {
                    continue;
                }
                size_t hubs[SIM_SC_SERVERS_MAX];
                size_t n = url_servers(sc, url.host, hubs, SIM_SC_SERVERS_MAX);
                for (size_t h = 0; h < n; h++) {
                    const char *bound =
                        leaf_bound_account(&sc->servers[hubs[h]].config,
                                           url.user[0] != '\0' ? url.user : NULL,
                                           url.user[0] != '\0' ? url.pass : NULL);
                    if (bound != NULL) {
                        acct_join(as, acct_node(as, hubs[h], bound), acct_node(as, s, local));
                    }
                }
            }
        }
    }
    /* Every account of every server gets its node now, so the joins below see them. */
    for (size_t i = 0; i < sc->servers_count; i++) {
        const struct mr_auth_opts *a = sc->servers[i].config.auth;
        (void)acct_node(as, i, "$G");
        for (size_t k = 0; a != NULL && k < a->accounts_count; k++) {
            (void)acct_node(as, i, a->accounts[k].name);
        }
    }
    guint n = as->names->len;
    for (guint i = 0; i < n; i++) {
        for (guint j = i + 1; j < n; j++) {
            const struct mr_config *a = &sc->servers[g_array_index(as->servers, size_t, i)].config;
            const struct mr_config *b = &sc->servers[g_array_index(as->servers, size_t, j)].config;
            /* Clusters without a name are taken to be one (as the liveness core does). */
            bool cluster = a->cluster.present && b->cluster.present &&
                           g_strcmp0(a->cluster.name, b->cluster.name) == 0;
            bool gateway = a->gateway.present && b->gateway.present;
            if ((cluster || gateway) &&
                strcmp(g_ptr_array_index(as->names, i), g_ptr_array_index(as->names, j)) == 0) {
                acct_join(as, i, j);
            }
        }
    }
}

/* An error at a place already formatted ("file:line:col"). */
G_GNUC_PRINTF(2, 3)
static int fail_where(struct loader *l, const char *fmt, ...)
{
    if (l->err != NULL && l->err_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(l->err, l->err_len, fmt, ap);
        va_end(ap);
    }
    return MR_E_INVAL;
}

static void add_warning(struct sim_scenario *sc, char *msg)
{
    sc->warnings.items = g_renew(char *, sc->warnings.items, sc->warnings.count + 2);
    sc->warnings.items[sc->warnings.count++] = msg;
    sc->warnings.items[sc->warnings.count] = NULL;
}

/* The account node of client c (G_MAXUINT when every server refuses it). */
static int client_acct(struct loader *l, struct acct_sets *as, struct sim_sc_client *c,
                       guint *out)
{
    const struct sim_scenario *sc = l->sc;
    *out = G_MAXUINT;
    const char *first_server = NULL;
    for (size_t i = 0; i < c->at.count; i++) {
        size_t s = (size_t)sim_scenario_server_index(sc, c->at.items[i]);
        const char *acc = bound_account(&sc->servers[s].config, c->user, c->password, c->token);
        if (acc == NULL) {
            add_warning(l->sc, g_strdup_printf("%s: client \"%s\": server %s refuses its "
                                               "credentials (it will answer Authorization "
                                               "Violation)",
                                               c->where, c->name, c->at.items[i]));
            continue;
        }
        if (c->account_declared != NULL && strcmp(c->account_declared, acc) != 0) {
            return fail_where(l,
                     "%s: client \"%s\": declared account %s, but server %s binds it to %s",
                     c->where, c->name, c->account_declared, c->at.items[i], acc);
        }
        guint node = acct_node(as, s, acc);
        if (*out != G_MAXUINT && acct_root(as, *out) != acct_root(as, node) &&
            strcmp(g_ptr_array_index(as->names, *out), acc) == 0) {
            /* Servers a client fails over between serve it one account by that name. */
            acct_join(as, *out, node);
        }
        if (*out != G_MAXUINT && acct_root(as, *out) != acct_root(as, node)) {
            return fail_where(l,
                     "%s: client \"%s\": servers %s and %s bind it to different accounts (%s "
                     "and %s)",
                     c->where, c->name, first_server, c->at.items[i],
                     (const char *)g_ptr_array_index(as->names, *out), acc);
        }
        if (*out == G_MAXUINT) {
            *out = node;
            first_server = c->at.items[i];
        }
    }
    return 0;
}

/* Sets every client's account (sim_scenario.h), named after its set's first node; a
 * name two sets of clients share gets "@server" to tell them apart. */
static int resolve_accounts(struct loader *l)
{
    struct sim_scenario *sc = l->sc;
    struct acct_sets as = {g_ptr_array_new(), g_array_new(FALSE, FALSE, sizeof(size_t)),
                           g_array_new(FALSE, FALSE, sizeof(guint))};
    acct_join_links(&as, sc);
    guint *nodes = g_new0(guint, sc->clients_count + 1);
    int rc = 0;
    for (size_t i = 0; i < sc->clients_count && rc == 0; i++) {
        rc = client_acct(l, &as, &sc->clients[i], &nodes[i]);
    }
    for (size_t i = 0; i < sc->clients_count && rc == 0; i++) {
        if (nodes[i] == G_MAXUINT) {
            continue;
        }
        guint root = acct_root(&as, nodes[i]);
        const char *name = g_ptr_array_index(as.names, root);
        bool shared = false;
        for (size_t j = 0; j < sc->clients_count; j++) {
            if (nodes[j] != G_MAXUINT && acct_root(&as, nodes[j]) != root &&
                strcmp(g_ptr_array_index(as.names, acct_root(&as, nodes[j])), name) == 0) {
                shared = true;
            }
        }
        size_t server = g_array_index(as.servers, size_t, root);
        sc->clients[i].account = shared ? g_strdup_printf("%s@%s", name, sc->servers[server].name)
                                        : g_strdup(name);
    }
    g_free(nodes);
    g_ptr_array_free(as.names, TRUE);
    g_array_free(as.servers, TRUE);
    g_array_free(as.parent, TRUE);
    return rc;
}

/* ---- the whole file ---------------------------------------------------------------- */

static bool has_reader(const struct sim_scenario *sc)
{
    for (size_t i = 0; i < sc->clients_count; i++) {
        if (sc->clients[i].kind == SIM_SC_CLIENT_JS_READ) {
            return true;
        }
    }
    return false;
}

static int load_root(struct loader *l, struct mr_conf_value *root)
{
    struct sim_scenario *sc = l->sc;
    int rc;
    struct mr_conf_value *v;
    if ((v = mr_conf_get(root, "sim")) != NULL && (rc = load_sim(l, v)) != 0) {
        return rc;
    }
    if ((v = mr_conf_get(root, "regions")) != NULL) {
        if ((rc = load_regions(l, v)) != 0) {
            return rc;
        }
    } else {
        sc->regions = g_new0(struct sim_sc_region, 2);
        sc->regions[0].name = g_strdup("local");
        sc->regions[0].latency_min_ns = SIM_SC_REGION_LATENCY_DEFAULT_NS;
        sc->regions[0].latency_max_ns = SIM_SC_REGION_LATENCY_DEFAULT_NS;
        sc->regions_count = 1;
    }
    if ((v = mr_conf_get(root, "links")) != NULL && (rc = load_links(l, v)) != 0) {
        return rc;
    }
    if ((v = mr_conf_get(root, "servers")) == NULL) {
        return fail_at(l, &root->pos, "scenario: expected servers { NAME { ... } }");
    }
    if ((rc = load_servers(l, v)) != 0) {
        return rc;
    }
    if (sc->servers_count == 0) {
        return fail_at(l, &v->pos, "servers: expected at least one server");
    }
    if ((v = mr_conf_get(root, "names")) != NULL && (rc = load_names(l, v)) != 0) {
        return rc;
    }
    derive_names(sc);
    if ((v = mr_conf_get(root, "clients")) != NULL && (rc = load_clients(l, v)) != 0) {
        return rc;
    }
    if ((v = mr_conf_get(root, "quiesce")) != NULL) {
        if ((rc = get_duration(l, v, "quiesce", &sc->quiesce_ns)) != 0) {
            return rc;
        }
        if (sc->quiesce_ns == 0 || sc->quiesce_ns >= sc->duration_ns) {
            return fail_at(l, &v->pos, "quiesce: expected a time after 0 and before the "
                                       "duration");
        }
    }
    if ((v = mr_conf_get(root, "timeline")) != NULL && (rc = load_timeline(l, v)) != 0) {
        return rc;
    }
    if ((v = mr_conf_get(root, "random")) != NULL && (rc = load_random(l, v)) != 0) {
        return rc;
    }
    if ((v = mr_conf_get(root, "expect")) != NULL && (rc = load_expect(l, v)) != 0) {
        return rc;
    }
    if ((rc = resolve_accounts(l)) != 0) {
        return rc;
    }
    if ((v = mr_conf_get(root, "check")) != NULL) {
        if ((rc = load_checks(l, v)) != 0) {
            return rc;
        }
    } else {
        /* Every check; interest_only only where quiet_links says what to measure, and
         * no_acked_loss only where a js_read client reads a stream back. */
        for (int k = 0; k < SIM_CHECK_COUNT; k++) {
            sc->checks[k] = k != SIM_CHECK_INTEREST_ONLY || sc->quiet_links_count > 0;
        }
        sc->checks[SIM_CHECK_NO_ACKED_LOSS] = has_reader(sc);
    }
    if (sc->checks[SIM_CHECK_NO_ACKED_LOSS] && !has_reader(sc)) {
        return fail_at(l, &root->pos, "check: no_acked_loss needs a js_read client (the stream "
                                      "read back at the end)");
    }
    return check_unknown(l, root, "scenario",
                         "sim, regions, links, names, servers, clients, timeline, random, "
                         "quiesce, expect, check");
}

static struct sim_scenario *scenario_new(const char *path)
{
    struct sim_scenario *sc = g_new0(struct sim_scenario, 1);
    sc->path = g_strdup(path);
    sc->seed = 1;
    sc->duration_ns = SIM_SC_DURATION_DEFAULT_NS;
    sc->mode = SIM_SC_MODE_SAFETY;
    sc->converge_ns = SIM_SC_CONVERGE_DEFAULT_NS;
    return sc;
}

static int load_tree(const char *path, struct mr_conf_value *root, const struct mr_conf_io *io,
                     struct sim_scenario **out,
                     char *err, size_t err_len)
{
    struct loader l = {scenario_new(path), err, err_len, io};
    int rc = root->type == MR_CONF_MAP ? load_root(&l, root)
                                       : fail_at(&l, &root->pos, "scenario: expected a map");
    if (rc != 0) {
        sim_scenario_destroy(l.sc);
        return rc;
    }
    *out = l.sc;
    return 0;
}

int sim_scenario_load_text(const char *path, const char *text, size_t len,
                           const struct mr_conf_io *io, struct sim_scenario **out, char *err,
                           size_t err_len)
{
    mr_assert(path != NULL);
    mr_assert(out != NULL);
    *out = NULL;
    struct mr_conf_value *root = NULL;
    int rc = mr_conf_parse(path, text, len, io, &root, err, err_len);
    if (rc != 0) {
        return rc;
    }
    rc = load_tree(path, root, io, out, err, err_len);
    mr_conf_free(root);
    if (rc == 0) {
        mr_assert(*out != NULL);
    }
    return rc;
}

int sim_scenario_load_file(const char *path, const struct mr_conf_io *io,
                           struct sim_scenario **out, char *err, size_t err_len)
{
    mr_assert(path != NULL);
    mr_assert(out != NULL);
    *out = NULL;
    struct mr_conf_value *root = NULL;
    int rc = mr_conf_parse_file(path, io, &root, err, err_len);
    if (rc != 0) {
        return rc;
    }
    rc = load_tree(path, root, io, out, err, err_len);
    mr_conf_free(root);
    return rc;
}

static void event_free(struct sim_sc_event *e)
{
    strings_free(&e->targets);
    g_free(e->groups);
    e->groups = NULL;
}

void sim_scenario_destroy(struct sim_scenario *sc)
{
    if (sc == NULL) {
        return;
    }
    for (size_t i = 0; i < sc->regions_count; i++) {
        g_free(sc->regions[i].name);
    }
    g_free(sc->regions);
    for (size_t i = 0; i < sc->links_count; i++) {
        g_free(sc->links[i].a);
        g_free(sc->links[i].b);
    }
    g_free(sc->links);
    for (size_t i = 0; i < sc->quiet_links_count; i++) {
        g_free(sc->quiet_links[i].a);
        g_free(sc->quiet_links[i].b);
    }
    g_free(sc->quiet_links);
    for (size_t i = 0; i < sc->crossings_count; i++) {
        g_free(sc->crossings[i].from);
        g_free(sc->crossings[i].to);
    }
    g_free(sc->crossings);
    for (size_t i = 0; i < sc->names_count; i++) {
        g_free(sc->names[i].name);
        strings_free(&sc->names[i].servers);
    }
    g_free(sc->names);
    for (size_t i = 0; i < sc->servers_count; i++) {
        g_free(sc->servers[i].name);
        g_free(sc->servers[i].region);
        mr_conf_server_deinit(&sc->servers[i].config);
    }
    g_free(sc->servers);
    for (size_t i = 0; i < sc->clients_count; i++) {
        g_free(sc->clients[i].name);
        g_free(sc->clients[i].subject);
        g_free(sc->clients[i].queue);
        g_free(sc->clients[i].user);
        g_free(sc->clients[i].password);
        g_free(sc->clients[i].token);
        g_free(sc->clients[i].account_declared);
        g_free(sc->clients[i].account);
        g_free(sc->clients[i].stream_json);
        g_free(sc->clients[i].stream);
        strings_free(&sc->clients[i].at);
    }
    g_free(sc->clients);
    for (size_t i = 0; i < sc->events_count; i++) {
        event_free(&sc->events[i]);
    }
    g_free(sc->events);
    strings_free(&sc->random.targets);
    strings_free(&sc->warnings);
    g_free(sc->path);
    g_free(sc);
}

/* ---- the file io ------------------------------------------------------------------- */

static int file_read(void *ctx, const char *path, char **data, size_t *len, char *err,
                     size_t err_len)
{
    (void)ctx; /* relative paths are resolved against the working directory */
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
    /* The parser frees with free(): hand it a malloc'd copy. */
    char *copy = malloc(n + 1);
    mr_assert(copy != NULL);
    memcpy(copy, buf, n);
    copy[n] = '\0';
    g_free(buf);
    *data = copy;
    *len = n;
    return 0;
}

static const char *no_env(void *ctx, const char *name)
{
    (void)ctx; /* scenarios must not depend on the caller's environment */
    (void)name;
    return NULL;
}

static const struct mr_conf_io file_io = {NULL, file_read, no_env};

const struct mr_conf_io *sim_scenario_file_io(void)
{
    return &file_io;
}

/* ---- materialising the schedule ---------------------------------------------------- */

struct builder {
    GArray *events; /* struct sim_sc_event */
    uint64_t seq;
};

static struct sim_sc_event *builder_add(struct builder *b, uint64_t at_ns,
                                        enum sim_sc_action action)
{
    struct sim_sc_event e;
    memset(&e, 0, sizeof(e));
    e.at_ns = at_ns;
    e.action = action;
    e.seq = b->seq++;
    e.generated = true;
    g_array_append_val(b->events, e);
    return &g_array_index(b->events, struct sim_sc_event, b->events->len - 1);
}

static void event_copy(struct sim_sc_event *dst, const struct sim_sc_event *src)
{
    uint64_t seq = dst->seq;
    *dst = *src;
    dst->seq = seq;
    strings_copy(&dst->targets, &src->targets);
    dst->groups = NULL;
    if (src->groups != NULL) {
        dst->groups = g_new0(uint32_t, src->targets.count + 1);
        memcpy(dst->groups, src->groups, src->targets.count * sizeof(uint32_t));
    }
}

static enum sim_sc_action inverse_of(enum sim_sc_action a)
{
    switch (a) {
    case SIM_ACT_PARTITION:
    case SIM_ACT_ISOLATE:
        return SIM_ACT_HEAL;
    case SIM_ACT_CRASH:
    case SIM_ACT_POWER_FAIL:
        return SIM_ACT_RESTART;
    case SIM_ACT_PAUSE:
        return SIM_ACT_RESUME;
    case SIM_ACT_REGION_DOWN:
        return SIM_ACT_REGION_UP;
    default:
        /* latency and clock_skew restore with the same action and zero parameters. */
        return a;
    }
}

/* Adds e and, when it has for:, its inverse (same targets; latency and skew zero,
 * which the runner reads as "back to the configured value"). */
static void add_with_inverse(struct builder *b, const struct sim_sc_event *e)
{
    struct sim_sc_event *n = builder_add(b, e->at_ns, e->action);
    event_copy(n, e);
    if (e->for_ns == 0) {
        return;
    }
    struct sim_sc_event inv;
    event_copy(&inv, e);
    inv.action = inverse_of(e->action);
    inv.at_ns = e->at_ns + e->for_ns;
    inv.for_ns = 0;
    inv.latency_ns = 0;
    inv.jitter_ns = 0;
    inv.skew_ns = 0;
    inv.generated = true;
    inv.seq = b->seq++;
    g_array_append_val(b->events, inv);
}

static uint64_t uniform(struct sim_rng *rng, uint64_t lo, uint64_t hi)
{
    mr_assert(lo <= hi);
    return lo + sim_rng_below(rng, hi - lo + 1);
}

/* One random fault at t lasting dur on the random {} targets. */
static void random_fault(struct builder *b, const struct sim_sc_random *r, struct sim_rng *rng,
                         uint64_t t, uint64_t dur)
{
    enum sim_sc_action a = r->faults[sim_rng_below(rng, r->faults_count)];
    struct sim_sc_event e;
    memset(&e, 0, sizeof(e));
    e.at_ns = t;
    e.action = a;
    e.generated = true;
    e.for_ns = a == SIM_ACT_RESET ? 0 : dur;
    snprintf(e.where, sizeof(e.where), "random");
    size_t n = r->targets.count;
    if (a == SIM_ACT_PARTITION && n >= 2) {
        /* A random bisection: shuffle (Fisher-Yates) and cut after k members. */
        size_t *order = g_new0(size_t, n);
        for (size_t i = 0; i < n; i++) {
            order[i] = i;
        }
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = (size_t)sim_rng_below(rng, i + 1);
            size_t tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        size_t k = 1 + (size_t)sim_rng_below(rng, n - 1);
        e.targets.items = g_new0(char *, n + 1);
        e.groups = g_new0(uint32_t, n + 1);
        e.groups_count = 2;
        for (size_t i = 0; i < n; i++) {
            e.targets.items[i] = g_strdup(r->targets.items[order[i]]);
            e.groups[i] = i < k ? 0 : 1;
        }
        e.targets.count = n;
        g_free(order);
    } else {
        if (a == SIM_ACT_PARTITION) {
            e.action = SIM_ACT_ISOLATE;
        }
        e.targets.items = g_new0(char *, 2);
        e.targets.items[0] = g_strdup(r->targets.items[sim_rng_below(rng, n)]);
        e.targets.count = 1;
    }
    add_with_inverse(b, &e);
    event_free(&e);
}

/*
 * The nemesis: from `from` until `to` (or quiesce, whichever is first), a fault every
 * U[every_min, every_max]; each lasts U[every_min/2, every_min], so it is undone
 * before the next one starts, and never past the end of the fault phase.
 */
static void expand_random(struct builder *b, const struct sim_scenario *sc, uint64_t seed)
{
    const struct sim_sc_random *r = &sc->random;
    struct sim_rng rng;
    sim_rng_init(&rng, seed, SIM_SC_FAULT_STREAM);
    uint64_t end = r->to_ns;
    if (sc->quiesce_ns != 0 && sc->quiesce_ns < end) {
        end = sc->quiesce_ns;
    }
    if (end > sc->duration_ns) {
        end = sc->duration_ns;
    }
    /* Draws are in whole milliseconds so the printed schedule stays readable. */
    uint64_t lo = r->every_min_ns / NS_PER_MS;
    uint64_t hi = r->every_max_ns / NS_PER_MS;
    uint64_t t = r->from_ns + uniform(&rng, lo, hi) * NS_PER_MS;
    for (size_t n = 0; t < end && n < SIM_SC_EVENTS_MAX / 4; n++) {
        uint64_t dur = uniform(&rng, lo / 2, lo) * NS_PER_MS;
        if (t + dur > end) {
            dur = end - t;
        }
        if (dur > 0) {
            random_fault(b, r, &rng, t, dur);
        }
        t += uniform(&rng, lo, hi) * NS_PER_MS;
    }
}

int sim_scenario_materialise(const struct sim_scenario *sc, uint64_t seed,
                             struct sim_sc_schedule *out)
{
    mr_assert(sc != NULL);
    mr_assert(out != NULL);
    struct builder b = {g_array_new(FALSE, TRUE, sizeof(struct sim_sc_event)), 0};
    for (size_t i = 0; i < sc->events_count; i++) {
        add_with_inverse(&b, &sc->events[i]);
    }
    if (sc->random.present) {
        expand_random(&b, sc, seed);
    }
    if (sc->quiesce_ns != 0) {
        struct sim_sc_event *q = builder_add(&b, sc->quiesce_ns, SIM_ACT_QUIESCE);
        snprintf(q->where, sizeof(q->where), "quiesce");
    }
    g_array_sort(b.events, event_cmp);
    out->count = b.events->len;
    out->events = (struct sim_sc_event *)(void *)g_array_free(b.events, FALSE);
    for (size_t i = 1; i < out->count; i++) {
        mr_assert(out->events[i - 1].at_ns <= out->events[i].at_ns);
    }
    return 0;
}

void sim_sc_schedule_free(struct sim_sc_schedule *s)
{
    for (size_t i = 0; i < s->count; i++) {
        event_free(&s->events[i]);
    }
    g_free(s->events);
    s->events = NULL;
    s->count = 0;
}

/* ---- the liveness core --------------------------------------------------------------- */

/* The group a server belongs to: its cluster's name, "" for an unnamed cluster, NULL
 * when it has no cluster {} block (a group of its own). */
static const char *core_group(const struct sim_sc_server *s)
{
    const struct mr_cluster_opts *c = &s->config.cluster;
    if (!c->present) {
        return NULL;
    }
    return c->name != NULL ? c->name : "";
}

size_t sim_scenario_choose_core(const struct sim_scenario *sc, uint64_t seed,
                                bool in_core[SIM_SC_SERVERS_MAX])
{
    mr_assert(sc != NULL);
    mr_assert(sc->servers_count <= SIM_SC_SERVERS_MAX);
    struct sim_rng rng;
    sim_rng_init(&rng, seed, SIM_SC_CORE_STREAM);
    bool done[SIM_SC_SERVERS_MAX] = {false};
    size_t core = 0;
    for (size_t i = 0; i < sc->servers_count; i++) {
        in_core[i] = false;
    }
    /* Groups in the order of their first server, members in server order, so the
     * draws depend only on the scenario and the seed. */
    for (size_t i = 0; i < sc->servers_count; i++) {
        if (done[i]) {
            continue;
        }
        size_t members[SIM_SC_SERVERS_MAX] = {0};
        size_t n = 0;
        const char *g = core_group(&sc->servers[i]);
        for (size_t j = i; j < sc->servers_count; j++) {
            const char *h = core_group(&sc->servers[j]);
            bool same = j == i || (g != NULL && h != NULL && strcmp(g, h) == 0);
            if (same && !done[j]) {
                done[j] = true;
                members[n++] = j;
            }
        }
        /* A partial Fisher-Yates shuffle: the first k members are the group's core. */
        size_t k = n / 2 + 1;
        for (size_t x = 0; x < k; x++) {
            size_t y = x + (size_t)sim_rng_below(&rng, n - x);
            size_t tmp = members[x];
            members[x] = members[y];
            members[y] = tmp;
            in_core[members[x]] = true;
        }
        core += k;
    }
    mr_assert(core >= 1);
    mr_assert(core <= sc->servers_count);
    return core;
}

/* ---- formatting -------------------------------------------------------------------- */

void sim_sc_duration_format(uint64_t ns, char *buf, size_t len)
{
    if (ns == 0) {
        snprintf(buf, len, "0s");
    } else if (ns % NS_PER_S == 0) {
        snprintf(buf, len, "%" PRIu64 "s", ns / NS_PER_S);
    } else if (ns % NS_PER_MS == 0) {
        snprintf(buf, len, "%" PRIu64 "ms", ns / NS_PER_MS);
    } else if (ns % 1000 == 0) {
        snprintf(buf, len, "%" PRIu64 "us", ns / 1000);
    } else {
        snprintf(buf, len, "%" PRIu64 "ns", ns);
    }
}

int sim_sc_event_format(const struct sim_sc_event *e, char *buf, size_t len)
{
    GString *s = g_string_new(NULL);
    char d[32];
    sim_sc_duration_format(e->at_ns, d, sizeof(d));
    g_string_append_printf(s, "{ at: \"%s\", do: %s", d, sim_sc_action_name(e->action));
    if (e->groups != NULL && e->action == SIM_ACT_PARTITION) {
        g_string_append(s, ", groups: [");
        for (size_t g = 0; g < e->groups_count; g++) {
            g_string_append(s, g == 0 ? "[" : ", [");
            bool first = true;
            for (size_t i = 0; i < e->targets.count; i++) {
                if (e->groups[i] == g) {
                    g_string_append_printf(s, "%s%s", first ? "" : ", ", e->targets.items[i]);
                    first = false;
                }
            }
            g_string_append(s, "]");
        }
        g_string_append(s, "]");
    } else if (e->targets.count > 0) {
        g_string_append(s, ", targets: [");
        for (size_t i = 0; i < e->targets.count; i++) {
            g_string_append_printf(s, "%s%s", i == 0 ? "" : ", ", e->targets.items[i]);
        }
        g_string_append(s, "]");
    }
    if (e->for_ns != 0) {
        sim_sc_duration_format(e->for_ns, d, sizeof(d));
        g_string_append_printf(s, ", for: \"%s\"", d);
    }
    if (e->action == SIM_ACT_LATENCY) {
        sim_sc_duration_format(e->latency_ns, d, sizeof(d));
        g_string_append_printf(s, ", latency: \"%s\"", d);
        sim_sc_duration_format(e->jitter_ns, d, sizeof(d));
        g_string_append_printf(s, ", jitter: \"%s\"", d);
    }
    if (e->action == SIM_ACT_CLOCK_SKEW) {
        uint64_t mag = e->skew_ns < 0 ? (uint64_t)0 - (uint64_t)e->skew_ns : (uint64_t)e->skew_ns;
        sim_sc_duration_format(mag, d, sizeof(d));
        g_string_append_printf(s, ", skew: \"%s%s\"", e->skew_ns < 0 ? "-" : "", d);
    }
    g_string_append(s, " }");
    int n = (int)s->len;
    snprintf(buf, len, "%s", s->str);
    g_string_free(s, TRUE);
    return n;
}
