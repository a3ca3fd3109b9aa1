/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulated environment (see sim_env.h): virtual time, one event queue (a binary
 * heap keyed on (time, seq)), per-host envs, in-memory streams over a region/link
 * network model with faults, per-host disks (sim_disk.c), and scripted clients.
 *
 * Streams: a struct sim_conn holds two endpoints; end[0] connected, end[1] accepted.
 * Each endpoint owns the pipe of segments travelling toward it ("in"), so a sender
 * writes into its peer's pipe. A flush pulls at most the free window from the sender's
 * sink into one segment per peek: at the end of the step in which the sender's host
 * asked to write, or as a FLUSH event when it asked outside a step of its own; a
 * deliver event hands at most chunk_bytes of arrived data to the receiver; each
 * delivery frees window and re-flushes a sender that still wants to write. A close
 * appends a FIN segment behind the data. TLS is simulated as a no-op: tls_configure
 * accepts anything, and stream_start_tls (and its client side, stream_start_tls_client)
 * keeps the bytes unencrypted and delivers on_tls(0, NULL) as a later event, behind the
 * flush of what was already pending (the INFO line goes first, as on a real stream).
 *
 * Network model: hosts live in regions; links (struct sim_link, one per unordered
 * region pair, made on first use) carry a latency model, a bandwidth, a byte counter
 * and, per direction, the time the link is busy until (bytes are serialised on it). A
 * cut is a directed host pair in a set; deliveries, accepts and connect answers check
 * it when they fire and wait (deliveries until the heal, connect legs retry every
 * SIM_SYN_RETRY_NS) while it holds. A reset travels as a segment with fin and rst set,
 * behind the data, so it respects cuts and ordering too.
 *
 * Pause: a paused host's events are moved from the heap to its held queue when they
 * come due and go back, in order, at the resume time. Clocks: each host maps virtual
 * time to its own monotonic and wall clocks (anchors plus drift); timer deadlines are
 * kept in host time and converted to virtual time when armed or when the clock
 * changes. A crash discards every event of the host but pending accepts (answered as
 * by a down host) and kills its endpoints without input.
 *
 * Ownership: the world owns events, hosts, connections and clients. An event holds
 * its connection alive (conn->events); a connection is freed once both endpoints are
 * dead and no event refers to it, checked at the end of each step, never inside a
 * callback. Lookup tables (GHashTable) are never iterated, so nothing observable
 * depends on hash order.
 */
#include "sim/sim_env.h"

#include <glib.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/heap.h"

#define SIM_LINK_DELAY_DEFAULT_NS (100ULL * 1000)
#define SIM_WINDOW_DEFAULT_BYTES (256 * 1024)
#define SIM_CHUNK_DEFAULT_BYTES (16 * 1024)
/* Wall clock at virtual time 0: 2025-01-01T00:00:00Z, fixed so runs repeat. */
#define SIM_WALL_EPOCH_NS (1735689600LL * 1000000000LL)
/* Listen port 0 picks from here; outbound connections number their local port from
 * SIM_EPHEMERAL_PORT_FIRST (only shown to the accepting side). */
#define SIM_LISTEN_PORT_FIRST 32768
#define SIM_EPHEMERAL_PORT_FIRST 49152
/* Kept log bytes per host; later lines are counted, not kept. */
#define SIM_HOST_LOG_MAX_BYTES (4 * 1024 * 1024)
/* Views asked for per out_peek. */
#define SIM_PEEK_IOV_MAX 16
#define SIM_FNV_OFFSET 0xcbf29ce484222325ULL
#define SIM_FNV_PRIME 0x100000001b3ULL
/* Odd constants of the payload mix (fold_bytes). */
#define SIM_MIX_A 0xa0761d6478bd642fULL
#define SIM_MIX_B 0xe7037ed1a0b428dbULL
/* Stream ids under the root seed: the world's own, the network's, one per host, one
 * per host's disk. */
#define SIM_STREAM_WORLD 1
#define SIM_STREAM_NET 2
#define SIM_STREAM_HOST_BASE 0x100
#define SIM_STREAM_DISK_BASE 0x100000
#define SIM_CONNECT_TIMEOUT_DEFAULT_NS (5ULL * 1000 * 1000 * 1000)
#define SIM_DISK_LATENCY_DEFAULT_NS (20ULL * 1000)
/* A connect leg (SYN, SYN-ACK) that meets a cut is sent again this much later. */
#define SIM_SYN_RETRY_NS (1000ULL * 1000 * 1000)
#define SIM_PPM 1000000ULL
#define SIM_DRIFT_PPM_MAX 500000
/* Regions whose links link_get finds in an array rather than the hash table. */
#define SIM_LINK_CACHE_REGIONS 16
/* Freed events kept for reuse: more than a run has queued at once in the benchmarks. */
#define SIM_EVENT_FREE_MAX 65536
/* Trace tags of faults, folded with their arguments. */
enum sim_fault_tag {
    SIM_FAULT_CUT = 0x100,
    SIM_FAULT_HEAL,
    SIM_FAULT_HEAL_ALL,
    SIM_FAULT_RESET,
    SIM_FAULT_LATENCY,
    SIM_FAULT_CRASH,
    SIM_FAULT_RESTART,
    SIM_FAULT_PAUSE,
    SIM_FAULT_RESUME,
    SIM_FAULT_CLOCK,
};

/* ------------------------------------------------------------------------------------
 * Random streams
 */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void sim_rng_init(struct sim_rng *rng, uint64_t seed, uint64_t stream_id)
{
    /* Mixing the stream id through splitmix first keeps nearby (seed, stream) pairs
     * from producing overlapping sequences. */
    uint64_t s = stream_id;
    uint64_t x = seed ^ splitmix64(&s);
    for (int i = 0; i < 4; i++) {
        rng->s[i] = splitmix64(&x);
    }
    /* xoshiro's one forbidden state; splitmix64 never yields four zeros in a row. */
    mr_assert((rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]) != 0);
}

uint64_t sim_rng_next(struct sim_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t sim_rng_below(struct sim_rng *rng, uint64_t n)
{
    mr_assert(n > 0);
    /* Rejection sampling: a plain modulo would favour small values. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do {
        v = sim_rng_next(rng);
    } while (v >= limit);
    return v % n;
}

void sim_rng_bytes(struct sim_rng *rng, uint8_t *out, size_t len)
{
    mr_assert(out != NULL || len == 0);
    while (len > 0) {
        uint64_t v = sim_rng_next(rng);
        size_t n = len < sizeof(v) ? len : sizeof(v);
        for (size_t i = 0; i < n; i++) {
            out[i] = (uint8_t)(v >> (8 * i));
        }
        out += n;
        len -= n;
    }
}

/* ------------------------------------------------------------------------------------
 * Types
 */

enum sim_event_kind {
    SIM_EV_TIMER = 1,
    SIM_EV_FILE_DONE,
    SIM_EV_ACCEPT,    /* a connect reaches the target host (ep = the accepting end) */
    SIM_EV_CONNECTED, /* the connect result reaches the connecting end */
    SIM_EV_FLUSH,     /* pull the endpoint's pending output into the peer's pipe */
    SIM_EV_DELIVER,   /* hand arrived bytes (or the FIN) to the endpoint */
    SIM_EV_CLOSE,     /* a requested close: final flush, FIN, on_closed */
    SIM_EV_RESET,     /* the peer was gone when our bytes arrived */
    SIM_EV_TLS,       /* the (simulated, instant) TLS handshake of stream_start_tls */
    SIM_EV_CONNECT_TIMEOUT, /* a connect got no answer in time */
};

struct sim_event {
    /* The queue node, with its fields under the names the simulator uses. */
    union {
        struct mr_heap_node node;
        struct {
            uint64_t time_ns;  /* node.key */
            uint64_t seq;      /* node.seq: global insertion order; breaks time ties */
            size_t heap_index; /* node.index */
        };
    };
    enum sim_event_kind kind;
    struct sim_host *host;   /* whose sink receives the input */
    struct sim_endpoint *ep; /* stream events only */
    uint64_t id;             /* timer id, file request id, or port (ACCEPT) */
    int status;              /* CONNECTED */
    bool held;               /* in host->held (paused), not in the heap */
    uint64_t local_ns;       /* TIMER: the deadline on the host's monotonic clock */
    int64_t result;          /* FILE_DONE */
    uint8_t *data;           /* FILE_DONE: owned, data_len bytes */
    size_t data_len;
    struct sim_event *next_free; /* in world->free_events, once freed */
};

enum sim_ep_state {
    SIM_EP_CONNECTING = 1, /* connect in flight, or not yet accepted */
    SIM_EP_OPEN,
    SIM_EP_CLOSING, /* close requested; the CLOSE event is queued */
    SIM_EP_RESET,   /* reset by sim_net_reset; the RESET event gives the terminal input */
    SIM_EP_DEAD,    /* its terminal input was delivered; the id is dead */
};

/* Bytes (or a FIN) travelling toward an endpoint. */
struct sim_seg {
    struct sim_seg *next; /* toward the tail of its seg_queue */
    uint64_t arrive_ns;
    size_t len;
    size_t off; /* bytes already delivered */
    bool fin;
    bool rst; /* a reset (fin is set too): delivered even while reading is off */
    uint8_t data[];
};

/* An intrusive FIFO of segments, oldest first (a GQueue cost an allocation a segment). */
struct seg_queue {
    struct sim_seg *head;
    struct sim_seg *tail;
    size_t length;
};

struct sim_endpoint {
    struct sim_conn *conn;
    struct sim_host *host; /* owner; for the accepting end, the connect target */
    uint64_t id;           /* conn id; 0 until accepted */
    enum sim_ep_state state;
    uint16_t port;   /* local port */
    bool opened;     /* was OPEN once, so a close flushes */
    bool registered; /* in world->eps_by_id */
    bool want_write; /* the sink has output we have not pulled yet */
    bool read_enabled;
    bool reset_queued;
    /* In world->flush_now: pulled at the end of the current step (holds a conn event
     * count like a queued event). */
    bool flush_now;
    struct sim_event *flush_ev;
    struct sim_event *deliver_ev;
    struct sim_event *timeout_ev; /* connector only, while connecting */
    struct seg_queue in; /* oldest first */
    size_t in_bytes; /* data bytes in `in`: the used part of the window */
    uint64_t in_last_arrive_ns;
};

struct sim_conn {
    struct sim_endpoint end[2];
    uint32_t events; /* queued events that point at an endpoint of this conn */
    GList link;      /* in world->conns */
};

struct sim_listener {
    struct sim_host *host;
    uint64_t listener_id;
    uint16_t port;
};

/* The link between two regions (ra <= rb by region index). */
struct sim_link {
    uint64_t key;
    struct sim_latency latency;
    uint64_t bandwidth_bytes_per_s; /* 0 = unlimited */
    uint64_t busy_until_ns[2];      /* per direction; see link_dir */
    uint64_t bytes;                 /* data bytes carried, both directions */
};

struct sim_host {
    struct sim_world *world;
    uint64_t id; /* 1-based creation index: the node id in panics and traces */
    char *name;
    uint32_t region; /* index into world->regions */
    bool up;
    bool paused;
    enum sim_crash_kind crash_kind; /* the last crash, while down */
    GQueue held;                    /* struct sim_event *, while paused; oldest first */
    /* Clock: mono = mono_anchor + drifted(t - virt_anchor); wall likewise. */
    uint64_t virt_anchor_ns;
    uint64_t mono_anchor_ns;
    int64_t wall_anchor_ns; /* past SIM_WALL_EPOCH_NS */
    int32_t drift_ppm;
    struct sim_disk *disk;
    struct mr_env env;
    const struct mr_env_sink *sink; /* borrowed; NULL: inputs are dropped */
    void (*check)(void *ctx);
    void *check_ctx;
    struct sim_rng rng;
    GHashTable *timers; /* timer id -> struct sim_event *; lookup only */
    GString *log;
    uint64_t log_dropped;
    sim_host_log_fn log_fn; /* observer of every log line; NULL = none */
    void *log_ctx;
    char *file_root; /* prefix of every file path the host's env is given; NULL = none */
    uint64_t inputs_dropped;
    uint16_t next_listen_port;
    uint16_t next_ephemeral_port;
};

struct sim_client {
    struct sim_world *world;
    struct sim_host *host;
    struct mr_env_sink sink;
    uint64_t conn_id;
    int connect_status;
    bool connected;
    bool closed;
    GByteArray *received;
    uint64_t received_total;
    GByteArray *out; /* queued by send; out[out_off..] not yet pulled */
    size_t out_off;
};

struct sim_world {
    struct sim_world_opts opts;
    uint64_t now_ns;
    uint64_t seq_next;
    uint64_t conn_id_next;
    uint64_t trace_hash;
    uint64_t events_dispatched;
    struct mr_heap heap; /* events by (time, seq) */
    struct sim_rng rng;
    GPtrArray *hosts; /* struct sim_host *, creation order */
    GHashTable *host_by_name;
    GPtrArray *listeners; /* struct sim_listener *; scanned in order */
    GPtrArray *clients;   /* struct sim_client * */
    GQueue conns;         /* struct sim_conn *, live */
    uint8_t *scratch;     /* chunk_bytes; coalesces segments for one on_bytes */
    struct sim_rng net_rng;
    GPtrArray *regions;         /* char *, index = region id */
    GHashTable *region_by_name; /* name -> GUINT_TO_POINTER(index + 1); lookup only */
    GHashTable *links;          /* uint64 key -> struct sim_link *; lookup only */
    GHashTable *cuts;           /* uint64 (from id << 32 | to id) set; lookup only */
    /* link_get's cache: [ra * SIM_LINK_CACHE_REGIONS + rb], for region indices below
     * SIM_LINK_CACHE_REGIONS; links are never freed before the world. */
    struct sim_link *link_cache[SIM_LINK_CACHE_REGIONS * SIM_LINK_CACHE_REGIONS];
    /* Registered endpoints by conn id (ids are dense from 1; NULL when none); one
     * pointer per connection the run ever made. */
    GPtrArray *eps_by_id;
    /* Writes asked for during the current step by its host, pulled at its end in order;
     * see schedule_flush. */
    struct sim_endpoint **flush_now;
    size_t flush_now_len;
    size_t flush_now_cap;
    struct sim_host *step_host; /* the host of the event being dispatched, or NULL */
    /* Freed events kept for reuse, linked by next_free; at most SIM_EVENT_FREE_MAX. */
    struct sim_event *free_events;
    size_t free_events_len;
    GHashTable *shared_names;   /* name -> GPtrArray of struct sim_host *; lookup only */
};

/* ------------------------------------------------------------------------------------
 * Trace hash: a word-wise FNV-style mix (xor, multiply by the FNV prime, fold the high
 * bits down) over event headers, six words an event (byte-wise FNV-1a cost eight
 * dependent multiplications a word), and a 128-bit multiply mix over payloads, which
 * the slow-consumer tests count in hundreds of megabytes.
 */

static void fold_u64(struct sim_world *w, uint64_t v)
{
    w->trace_hash = (w->trace_hash ^ v) * SIM_FNV_PRIME;
    w->trace_hash ^= w->trace_hash >> 29;
}

/* 64 x 64 -> 128-bit multiplication, halves folded (the "mum" of wyhash). */
__extension__ typedef unsigned __int128 sim_u128;

static uint64_t mum(uint64_t a, uint64_t b)
{
    sim_u128 r = (sim_u128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* Payloads go sixteen bytes per multiplication (half the multiplications of a word-wise
 * mix, and no byte-wise tail: the last partial block is zero-padded), then the length. */
static void fold_bytes(struct sim_world *w, const uint8_t *p, size_t len)
{
    uint64_t h = w->trace_hash;
    size_t i = 0;
    for (; i + 16 <= len; i += 16) {
        uint64_t a;
        uint64_t b;
        memcpy(&a, p + i, sizeof(a));
        memcpy(&b, p + i + 8, sizeof(b));
        h ^= mum(a ^ h ^ SIM_MIX_A, b ^ SIM_MIX_B);
    }
    if (i < len) {
        uint64_t t[2] = {0, 0};
        memcpy(t, p + i, len - i);
        h ^= mum(t[0] ^ h ^ SIM_MIX_A, t[1] ^ SIM_MIX_B);
    }
    w->trace_hash = h;
    fold_u64(w, len);
}

/* ------------------------------------------------------------------------------------
 * Event queue: the shared (time, seq) min-heap (core/heap.h). Each event knows its
 * index so a timer re-arm or a dead endpoint can remove it in O(log n).
 */

_Static_assert(offsetof(struct sim_event, time_ns) ==
                   offsetof(struct sim_event, node) + offsetof(struct mr_heap_node, key),
               "time_ns aliases the heap key");
_Static_assert(offsetof(struct sim_event, seq) ==
                   offsetof(struct sim_event, node) + offsetof(struct mr_heap_node, seq),
               "seq aliases the heap seq");

static struct sim_event *event_of(struct mr_heap_node *n)
{
    return MR_CONTAINER_OF(n, struct sim_event, node);
}

static void heap_push(struct sim_world *w, struct sim_event *ev)
{
    (void)mr_heap_reserve(&w->heap); /* GLib allocation: never fails */
    mr_heap_push(&w->heap, &ev->node);
}

static void heap_remove(struct sim_world *w, struct sim_event *ev)
{
    mr_heap_remove(&w->heap, &ev->node);
}

static struct sim_event *schedule(struct sim_world *w, enum sim_event_kind kind,
                                  struct sim_host *host, uint64_t time_ns)
{
    mr_assert(host != NULL);
    mr_assert(time_ns >= w->now_ns);
    struct sim_event *ev = w->free_events;
    if (ev != NULL) {
        w->free_events = ev->next_free;
        w->free_events_len--;
        memset(ev, 0, sizeof(*ev));
    } else {
        ev = g_new0(struct sim_event, 1);
    }
    ev->time_ns = time_ns;
    ev->seq = w->seq_next++;
    ev->kind = kind;
    ev->host = host;
    heap_push(w, ev);
    return ev;
}

static struct sim_event *schedule_ep(struct sim_world *w, enum sim_event_kind kind,
                                     struct sim_endpoint *ep, uint64_t time_ns)
{
    struct sim_event *ev = schedule(w, kind, ep->host, time_ns);
    ev->ep = ep;
    ep->conn->events++;
    return ev;
}

static void event_free(struct sim_event *ev)
{
    g_free(ev->data);
    g_free(ev);
}

/* Like event_free, keeping the event for reuse by schedule. */
static void event_recycle(struct sim_world *w, struct sim_event *ev)
{
    g_free(ev->data);
    ev->data = NULL;
    if (w->free_events_len < SIM_EVENT_FREE_MAX) {
        ev->next_free = w->free_events;
        w->free_events = ev;
        w->free_events_len++;
    } else {
        g_free(ev);
    }
}

static void cancel(struct sim_world *w, struct sim_event *ev)
{
    if (ev->held) {
        gboolean found = g_queue_remove(&ev->host->held, ev);
        mr_assert(found);
    } else {
        heap_remove(w, ev);
    }
    if (ev->ep != NULL) {
        mr_assert(ev->ep->conn->events > 0);
        ev->ep->conn->events--;
    }
    event_recycle(w, ev);
}

/* ------------------------------------------------------------------------------------
 * Links, latency and cuts
 */

/* floor(d * k / m) without overflow for d up to about 2^63 / k * m. */
static uint64_t mul_div(uint64_t d, uint64_t k, uint64_t m)
{
    mr_assert(m > 0);
    return (d / m) * k + ((d % m) * k) / m;
}

uint64_t sim_latency_sample(const struct sim_latency *lat, struct sim_rng *rng)
{
    mr_assert(lat != NULL);
    uint64_t s = lat->spread_ns;
    switch (lat->kind) {
    case SIM_LAT_FIXED:
        return lat->base_ns;
    case SIM_LAT_UNIFORM:
        return lat->base_ns + (s == 0 ? 0 : sim_rng_below(rng, s + 1));
    case SIM_LAT_NORMAL: {
        if (s == 0) {
            return lat->base_ns;
        }
        /* Four uniforms in [0, s/2]: a bell over [0, 2s] with mean s (Irwin-Hall). */
        uint64_t sum = 0;
        for (int i = 0; i < 4; i++) {
            sum += sim_rng_below(rng, s / 2 + 1);
        }
        uint64_t v = lat->base_ns + sum;
        return v > s ? v - s : 0;
    }
    case SIM_LAT_LONG_TAIL: {
        /* X = R / u - 1 with u uniform in [1, R]: P(X >= k) ~ 1 / (k + 1). */
        const uint64_t r = 1ULL << 20;
        uint64_t u = 1 + sim_rng_below(rng, r);
        uint64_t x = r / u - 1;
        if (x > SIM_LAT_TAIL_CAP) {
            x = SIM_LAT_TAIL_CAP;
        }
        return lat->base_ns + s * x;
    }
    }
    mr_assert(!"unknown latency kind");
    return 0;
}

static uint32_t region_intern(struct sim_world *w, const char *name)
{
    mr_assert(name != NULL && name[0] != '\0');
    gpointer v = g_hash_table_lookup(w->region_by_name, name);
    if (v != NULL) {
        return GPOINTER_TO_UINT(v) - 1;
    }
    char *copy = g_strdup(name);
    g_ptr_array_add(w->regions, copy);
    uint32_t idx = w->regions->len - 1;
    g_hash_table_insert(w->region_by_name, copy, GUINT_TO_POINTER(idx + 1));
    return idx;
}

static uint64_t link_key(uint32_t ra, uint32_t rb)
{
    uint32_t lo = ra < rb ? ra : rb;
    uint32_t hi = ra < rb ? rb : ra;
    return ((uint64_t)lo << 32) | hi;
}

static struct sim_link *link_get(struct sim_world *w, uint32_t ra, uint32_t rb)
{
    bool cached = ra < SIM_LINK_CACHE_REGIONS && rb < SIM_LINK_CACHE_REGIONS;
    if (cached) {
        struct sim_link *l = w->link_cache[ra * SIM_LINK_CACHE_REGIONS + rb];
        if (l != NULL) {
            return l;
        }
    }
    uint64_t key = link_key(ra, rb);
    struct sim_link *l = g_hash_table_lookup(w->links, &key);
    if (l == NULL) {
        l = g_new0(struct sim_link, 1);
        l->key = key;
        l->latency.kind = SIM_LAT_FIXED;
        l->latency.base_ns = w->opts.link_delay_ns;
        g_hash_table_insert(w->links, &l->key, l);
    }
    if (cached) {
        w->link_cache[ra * SIM_LINK_CACHE_REGIONS + rb] = l;
    }
    return l;
}

/* Direction 0 goes from the lower region index (or, inside a region, the lower host
 * id) to the higher; each direction serialises separately. */
static int link_dir(const struct sim_host *from, const struct sim_host *to)
{
    if (from->region != to->region) {
        return from->region < to->region ? 0 : 1;
    }
    return from->id < to->id ? 0 : 1;
}

/* When len bytes sent now from `from` reach `to`: the link's serialisation (if its
 * bandwidth is limited) and one latency sample. Counts the bytes. */
static uint64_t link_arrival(struct sim_world *w, const struct sim_host *from,
                             const struct sim_host *to, size_t len)
{
    struct sim_link *l = link_get(w, from->region, to->region);
    uint64_t t = w->now_ns;
    if (l->bandwidth_bytes_per_s > 0 && len > 0) {
        int dir = link_dir(from, to);
        uint64_t start = l->busy_until_ns[dir] > t ? l->busy_until_ns[dir] : t;
        uint64_t tx = mul_div(len, 1000000000ULL, l->bandwidth_bytes_per_s);
        l->busy_until_ns[dir] = start + (tx > 0 ? tx : 1);
        t = l->busy_until_ns[dir];
    }
    l->bytes += len;
    return t + sim_latency_sample(&l->latency, &w->net_rng);
}

static uint64_t cut_key(const struct sim_host *from, const struct sim_host *to)
{
    return (from->id << 32) | to->id;
}

static bool path_blocked(const struct sim_world *w, const struct sim_host *from,
                         const struct sim_host *to)
{
    if (g_hash_table_size(w->cuts) == 0 || from == NULL || to == NULL) {
        return false;
    }
    uint64_t key = cut_key(from, to);
    return g_hash_table_contains(w->cuts, &key);
}

/* ------------------------------------------------------------------------------------
 * Streams
 */

static struct sim_endpoint *peer_of(struct sim_endpoint *ep)
{
    return &ep->conn->end[1 - (ep == &ep->conn->end[1])];
}

static struct sim_endpoint *host_endpoint(struct sim_host *h, uint64_t conn_id)
{
    GPtrArray *eps = h->world->eps_by_id;
    if (conn_id >= eps->len) {
        return NULL;
    }
    struct sim_endpoint *ep = g_ptr_array_index(eps, conn_id);
    if (ep == NULL || ep->host != h) {
        return NULL;
    }
    mr_assert(ep->registered);
    mr_assert(ep->id == conn_id);
    return ep;
}

static void ep_register(struct sim_endpoint *ep)
{
    mr_assert(!ep->registered);
    mr_assert(ep->id != 0);
    GPtrArray *eps = ep->host->world->eps_by_id;
    if (ep->id >= eps->len) {
        g_ptr_array_set_size(eps, (guint)ep->id + 1);
    }
    mr_assert(g_ptr_array_index(eps, ep->id) == NULL);
    g_ptr_array_index(eps, ep->id) = ep;
    ep->registered = true;
}

static struct sim_seg *seg_peek_head(const struct seg_queue *q)
{
    return q->head;
}

static struct sim_seg *seg_peek_tail(const struct seg_queue *q)
{
    return q->tail;
}

static void seg_push_tail(struct seg_queue *q, struct sim_seg *seg)
{
    seg->next = NULL;
    if (q->tail != NULL) {
        q->tail->next = seg;
    } else {
        q->head = seg;
    }
    q->tail = seg;
    q->length++;
}

static struct sim_seg *seg_pop_head(struct seg_queue *q)
{
    struct sim_seg *seg = q->head;
    if (seg == NULL) {
        return NULL;
    }
    q->head = seg->next;
    if (q->head == NULL) {
        q->tail = NULL;
    }
    mr_assert(q->length > 0);
    q->length--;
    return seg;
}

static void seg_queue_clear(struct seg_queue *q)
{
    struct sim_seg *seg;
    while ((seg = seg_pop_head(q)) != NULL) {
        g_free(seg);
    }
}

/* Gives the endpoint its terminal state: no more inputs, its pipe is dropped, and its
 * queued flush or delivery is cancelled. Its conn is reaped at the end of the step. */
static void ep_kill(struct sim_world *w, struct sim_endpoint *ep)
{
    mr_assert(ep->state != SIM_EP_DEAD);
    ep->state = SIM_EP_DEAD;
    ep->want_write = false;
    if (ep->flush_ev != NULL) {
        cancel(w, ep->flush_ev);
        ep->flush_ev = NULL;
    }
    if (ep->deliver_ev != NULL) {
        cancel(w, ep->deliver_ev);
        ep->deliver_ev = NULL;
    }
    if (ep->timeout_ev != NULL) {
        cancel(w, ep->timeout_ev);
        ep->timeout_ev = NULL;
    }
    seg_queue_clear(&ep->in);
    ep->in_bytes = 0;
    if (ep->registered) {
        GPtrArray *eps = ep->host->world->eps_by_id;
        mr_assert(g_ptr_array_index(eps, ep->id) == ep);
        g_ptr_array_index(eps, ep->id) = NULL;
        ep->registered = false;
    }
}

static void conn_try_reap(struct sim_world *w, struct sim_conn *conn)
{
    if (conn->events > 0 || conn->end[0].state != SIM_EP_DEAD ||
        conn->end[1].state != SIM_EP_DEAD) {
        return;
    }
    mr_assert(conn->end[0].in.length == 0);
    mr_assert(conn->end[1].in.length == 0);
    g_queue_unlink(&w->conns, &conn->link);
    g_free(conn);
}

/* Output asked for by the host of the step being dispatched is pulled at the end of
 * that step, at the same virtual time and after the sink returned (the env still never
 * calls a sink inside its own env call), with no event of its own: most hops are a
 * write and its delivery, and the flush event was half the events of a run. Elsewhere
 * (a delivery that frees a peer's window, a test's sim_client_send between steps) a
 * FLUSH event at the current time does it. */
static void schedule_flush(struct sim_world *w, struct sim_endpoint *ep)
{
    if (ep->flush_ev != NULL || ep->flush_now || ep->state != SIM_EP_OPEN || !ep->want_write) {
        return;
    }
    if (ep->host == w->step_host) {
        ep->flush_now = true;
        ep->conn->events++;
        if (w->flush_now_len == w->flush_now_cap) {
            w->flush_now_cap = w->flush_now_cap == 0 ? 64 : 2 * w->flush_now_cap;
            w->flush_now = g_renew(struct sim_endpoint *, w->flush_now, w->flush_now_cap);
        }
        w->flush_now[w->flush_now_len++] = ep;
        return;
    }
    ep->flush_ev = schedule_ep(w, SIM_EV_FLUSH, ep, w->now_ns);
}

static void schedule_deliver(struct sim_world *w, struct sim_endpoint *ep)
{
    if (ep->deliver_ev != NULL || ep->in.length == 0 || ep->state == SIM_EP_DEAD ||
        ep->state == SIM_EP_RESET) {
        return;
    }
    /* Deliveries wait for the stream to be up on this side and for reading to be
     * enabled; the CONNECTED/ACCEPT handlers and read_enable reschedule. A CLOSING
     * endpoint still runs deliveries, which discard what arrives. A cut path holds
     * everything until the heal, which reschedules. */
    if (ep->state == SIM_EP_CONNECTING) {
        return;
    }
    if (path_blocked(w, peer_of(ep)->host, ep->host)) {
        return;
    }
    const struct sim_seg *seg = seg_peek_head(&ep->in);
    /* With reading off only a reset gets through (poll reports it regardless). */
    if (ep->state == SIM_EP_OPEN && !ep->read_enabled) {
        seg = seg_peek_tail(&ep->in);
        if (!seg->rst) {
            return;
        }
    }
    uint64_t t = seg->arrive_ns > w->now_ns ? seg->arrive_ns : w->now_ns;
    ep->deliver_ev = schedule_ep(w, SIM_EV_DELIVER, ep, t);
}

/* Appends a segment to the endpoint's pipe; it arrives after the link's serialisation
 * and latency, and never before the segment ahead of it (FIFO clamp). */
static void pipe_append(struct sim_world *w, struct sim_endpoint *to, const struct mr_iov *iov,
                        size_t iov_n, size_t len, bool fin)
{
    mr_assert(to->state != SIM_EP_DEAD);
    mr_assert(fin || len > 0);
    struct sim_seg *seg = g_malloc(sizeof(*seg) + len);
    uint64_t t = link_arrival(w, peer_of(to)->host, to->host, len);
    seg->arrive_ns = t > to->in_last_arrive_ns ? t : to->in_last_arrive_ns;
    to->in_last_arrive_ns = seg->arrive_ns;
    seg->len = len;
    seg->off = 0;
    seg->fin = fin;
    seg->rst = false;
    size_t copied = 0;
    for (size_t i = 0; i < iov_n && copied < len; i++) {
        size_t n = iov[i].len < len - copied ? iov[i].len : len - copied;
        memcpy(seg->data + copied, iov[i].base, n);
        copied += n;
    }
    mr_assert(copied == len);
    seg_push_tail(&to->in, seg);
    to->in_bytes += len;
    schedule_deliver(w, to);
}

/* Sends a reset toward `to`: it travels behind the data already in flight, waits out
 * cuts, and gives `to` its on_closed even while its reading is off. */
static void pipe_append_rst(struct sim_world *w, struct sim_endpoint *to)
{
    pipe_append(w, to, NULL, 0, 0, true);
    struct sim_seg *seg = seg_peek_tail(&to->in);
    seg->rst = true;
    /* Reading may be off: the delivery scheduled for the head may not exist. */
    schedule_deliver(w, to);
}

/* The peer is gone: what we sent meets a closed socket and a reset comes back one
 * round trip later. */
static void queue_reset(struct sim_world *w, struct sim_endpoint *ep)
{
    if (ep->reset_queued) {
        return;
    }
    ep->reset_queued = true;
    const struct sim_host *peer = peer_of(ep)->host;
    uint64_t there = link_arrival(w, ep->host, peer, 0) - w->now_ns;
    uint64_t back = link_arrival(w, peer, ep->host, 0) - w->now_ns;
    (void)schedule_ep(w, SIM_EV_RESET, ep, w->now_ns + there + back);
}

/* Pulls the endpoint's pending output into the peer's pipe, at most the free window.
 * want_write stays set while output is left behind, so a delivery that frees window
 * flushes again. */
static void flush_pull(struct sim_world *w, struct sim_endpoint *ep)
{
    const struct mr_env_sink *sink = ep->host->sink;
    struct sim_endpoint *peer = peer_of(ep);
    bool peer_gone = peer->state == SIM_EP_DEAD || peer->state == SIM_EP_RESET;
    size_t pulled = 0;
    for (;;) {
        size_t space = w->opts.window_bytes - (peer_gone ? 0 : peer->in_bytes);
        if (space == 0) {
            break;
        }
        struct mr_iov iov[SIM_PEEK_IOV_MAX];
        size_t n = sink->out_peek(sink->ctx, ep->id, iov, SIM_PEEK_IOV_MAX);
        mr_assert(n <= SIM_PEEK_IOV_MAX);
        if (n == 0) {
            ep->want_write = false;
            break;
        }
        size_t avail = 0;
        for (size_t i = 0; i < n; i++) {
            avail += iov[i].len;
        }
        mr_assert(avail > 0);
        size_t take = avail < space ? avail : space;
        if (!peer_gone) {
            pipe_append(w, peer, iov, n, take, false);
        }
        /* Fewer views than asked for are all of the pending output (env.h): when all of
         * it goes, another peek would only say so. Cleared before out_consume, so a sink
         * that writes more from there asks again. */
        bool all = n < SIM_PEEK_IOV_MAX && take == avail;
        if (all) {
            ep->want_write = false;
        }
        sink->out_consume(sink->ctx, ep->id, take);
        pulled += take;
        if (all) {
            break;
        }
    }
    if (peer_gone && pulled > 0) {
        queue_reset(w, ep);
    }
    fold_u64(w, pulled);
}

static void on_flush(struct sim_world *w, struct sim_endpoint *ep)
{
    mr_assert(ep->flush_ev == NULL);
    /* A CLOSING endpoint flushes in its CLOSE event; a dead one has nothing left. */
    if (ep->state != SIM_EP_OPEN) {
        return;
    }
    flush_pull(w, ep);
}

/* Drops arrived segments (an endpoint that asked to close reads nothing more). */
static void discard_arrived(struct sim_world *w, struct sim_endpoint *ep)
{
    struct sim_seg *seg;
    while ((seg = seg_peek_head(&ep->in)) != NULL && seg->arrive_ns <= w->now_ns) {
        ep->in_bytes -= seg->len - seg->off;
        g_free(seg_pop_head(&ep->in));
    }
}

/* Gathers up to chunk_bytes of arrived data from the front of the pipe: a view into
 * the head segment when it alone suffices, else a copy into the world's scratch. */
static const uint8_t *gather_chunk(struct sim_world *w, struct sim_endpoint *ep, size_t *len)
{
    size_t chunk = w->opts.chunk_bytes;
    const struct sim_seg *seg = ep->in.head;
    size_t avail = seg->len - seg->off;
    const struct sim_seg *next = seg->next;
    bool mergeable = next != NULL && !next->fin && next->arrive_ns <= w->now_ns;
    if (avail >= chunk || !mergeable) {
        *len = avail < chunk ? avail : chunk;
        return seg->data + seg->off;
    }
    size_t n = 0;
    for (; seg != NULL && n < chunk; seg = seg->next) {
        if (seg->fin || seg->arrive_ns > w->now_ns) {
            break;
        }
        size_t take = seg->len - seg->off < chunk - n ? seg->len - seg->off : chunk - n;
        memcpy(w->scratch + n, seg->data + seg->off, take);
        n += take;
    }
    *len = n;
    return w->scratch;
}

static void pipe_consume(struct sim_endpoint *ep, size_t n)
{
    mr_assert(n <= ep->in_bytes);
    ep->in_bytes -= n;
    while (n > 0) {
        struct sim_seg *seg = seg_peek_head(&ep->in);
        mr_assert(seg != NULL && !seg->fin);
        size_t take = seg->len - seg->off < n ? seg->len - seg->off : n;
        seg->off += take;
        n -= take;
        if (seg->off == seg->len) {
            g_free(seg_pop_head(&ep->in));
        }
    }
}

static void on_deliver(struct sim_world *w, struct sim_endpoint *ep)
{
    mr_assert(ep->deliver_ev == NULL);
    mr_assert(ep->state != SIM_EP_DEAD);
    struct sim_endpoint *peer = peer_of(ep);
    /* Cut since scheduled: the heal reschedules. */
    if (path_blocked(w, peer->host, ep->host)) {
        return;
    }
    const struct sim_seg *tail = seg_peek_tail(&ep->in);
    if (ep->state == SIM_EP_OPEN && tail != NULL && tail->rst && tail->arrive_ns <= w->now_ns) {
        /* A reset discards what was not read yet. */
        ep->host->sink->on_closed(ep->host->sink->ctx, ep->id);
        ep_kill(w, ep);
        return;
    }
    const struct sim_seg *head = seg_peek_head(&ep->in);
    if (head == NULL || head->arrive_ns > w->now_ns) {
        schedule_deliver(w, ep);
        return;
    }
    /* Like a socket nobody reads, a paused endpoint sees neither bytes nor the FIN
     * behind them until it resumes. */
    if (ep->state == SIM_EP_CLOSING) {
        discard_arrived(w, ep);
    } else if (ep->state != SIM_EP_OPEN || !ep->read_enabled) {
        return;
    } else if (head->fin) {
        g_free(seg_pop_head(&ep->in));
        ep->host->sink->on_closed(ep->host->sink->ctx, ep->id);
        ep_kill(w, ep);
        return;
    } else {
        size_t n;
        const uint8_t *p = gather_chunk(w, ep, &n);
        mr_assert(n > 0);
        fold_bytes(w, p, n);
        /* The sink may ask to close or pause here; both only set flags and queue
         * events, so the segments behind p stay put until pipe_consume. */
        ep->host->sink->on_bytes(ep->host->sink->ctx, ep->id, p, n);
        pipe_consume(ep, n);
    }
    /* Window freed: a sender held back by it pulls again. */
    if (peer->state == SIM_EP_OPEN) {
        schedule_flush(w, peer);
    }
    schedule_deliver(w, ep);
}

static void on_close(struct sim_world *w, struct sim_endpoint *ep)
{
    mr_assert(ep->state == SIM_EP_CLOSING);
    struct sim_endpoint *peer = peer_of(ep);
    /* Best effort, as a kernel send buffer: what fits in the peer's window goes out
     * ahead of the FIN, the rest of the pending output is lost. */
    if (ep->opened && peer->state != SIM_EP_DEAD) {
        flush_pull(w, ep);
    }
    if (peer->state != SIM_EP_DEAD) {
        pipe_append(w, peer, NULL, 0, 0, true);
    }
    ep->host->sink->on_closed(ep->host->sink->ctx, ep->id);
    ep_kill(w, ep);
}

/* A requested close or a dead endpoint gets no on_tls, as in the real env. */
static void on_tls_event(struct sim_endpoint *ep)
{
    if (ep->state != SIM_EP_OPEN) {
        return;
    }
    const struct mr_env_sink *sink = ep->host->sink;
    mr_assert(sink->on_tls != NULL);
    sink->on_tls(sink->ctx, ep->id, 0, NULL);
}

static void on_reset(struct sim_world *w, struct sim_endpoint *ep)
{
    ep->reset_queued = false;
    const struct mr_env_sink *sink = ep->host->sink;
    /* sim_net_reset: a connect in flight fails, an open stream closes. */
    if (ep->state == SIM_EP_RESET) {
        if (ep->opened) {
            sink->on_closed(sink->ctx, ep->id);
        } else {
            sink->on_connected(sink->ctx, ep->id, MR_E_CLOSED);
        }
        ep_kill(w, ep);
        return;
    }
    /* A CLOSING endpoint gets its on_closed from its CLOSE event. */
    if (ep->state != SIM_EP_OPEN) {
        return;
    }
    sink->on_closed(sink->ctx, ep->id);
    ep_kill(w, ep);
}

/* The connector waited connect_timeout_ns for an answer. */
static void on_connect_timeout(struct sim_world *w, struct sim_endpoint *ep)
{
    mr_assert(ep == &ep->conn->end[0]);
    if (ep->state != SIM_EP_CONNECTING) {
        return;
    }
    struct sim_endpoint *acceptor = &ep->conn->end[1];
    /* The acceptor (accepted or not yet) learns by a reset. */
    if (acceptor->state == SIM_EP_OPEN || acceptor->state == SIM_EP_CONNECTING) {
        pipe_append_rst(w, acceptor);
    }
    ep->host->sink->on_connected(ep->host->sink->ctx, ep->id, MR_E_TIMEOUT);
    ep_kill(w, ep);
}

static struct sim_listener *listener_find(struct sim_world *w, const struct sim_host *h,
                                          uint16_t port)
{
    for (guint i = 0; i < w->listeners->len; i++) {
        struct sim_listener *l = g_ptr_array_index(w->listeners, i);
        if (l->host == h && l->port == port) {
            return l;
        }
    }
    return NULL;
}

static void on_accept_event(struct sim_world *w, struct sim_endpoint *ep, uint16_t port)
{
    mr_assert(ep == &ep->conn->end[1]);
    mr_assert(ep->state == SIM_EP_CONNECTING);
    struct sim_endpoint *connector = &ep->conn->end[0];
    /* A cut drops the SYN; the connector's stack sends it again while it still waits.
     * A connector that closed, timed out, crashed or was reset left a FIN or a reset in
     * our pipe: if its SYN got through, we accept and then read that, as on a real
     * stack. */
    if (path_blocked(w, connector->host, ep->host)) {
        if (connector->state != SIM_EP_CONNECTING) {
            ep_kill(w, ep);
            return;
        }
        struct sim_event *ev = schedule_ep(w, SIM_EV_ACCEPT, ep, w->now_ns + SIM_SYN_RETRY_NS);
        ev->id = port;
        return;
    }
    /* A powered-off host answers nothing (the connector times out); after a process
     * crash the OS refuses. */
    if (!ep->host->up && ep->host->crash_kind == SIM_CRASH_POWER) {
        ep_kill(w, ep);
        return;
    }
    struct sim_listener *l = ep->host->up ? listener_find(w, ep->host, port) : NULL;
    uint64_t back_ns = link_arrival(w, ep->host, connector->host, 0);
    /* Nobody listening, or the listening server is gone: refused. */
    if (l == NULL || ep->host->sink == NULL) {
        ep_kill(w, ep);
        struct sim_event *ev = schedule_ep(w, SIM_EV_CONNECTED, connector, back_ns);
        ev->status = MR_E_REFUSED;
        return;
    }
    ep->id = w->conn_id_next++;
    ep->port = port;
    ep->state = SIM_EP_OPEN;
    ep->opened = true;
    ep_register(ep);
    /* Queued before on_accept so the connector learns it is connected before any
     * byte the acceptor writes in on_accept reaches it. */
    (void)schedule_ep(w, SIM_EV_CONNECTED, connector, back_ns);
    fold_u64(w, ep->id);
    ep->host->sink->on_accept(ep->host->sink->ctx, l->listener_id, ep->id, connector->host->name,
                              connector->port);
    schedule_deliver(w, ep);
}

static void on_connected_event(struct sim_world *w, struct sim_endpoint *ep, int status)
{
    mr_assert(ep == &ep->conn->end[0]);
    /* Closed before the answer came: its CLOSE event gave the terminal input. */
    if (ep->state != SIM_EP_CONNECTING) {
        return;
    }
    struct sim_endpoint *acceptor = &ep->conn->end[1];
    /* A cut drops the answer; the acceptor's stack sends it again. */
    if (acceptor->host != NULL && path_blocked(w, acceptor->host, ep->host)) {
        struct sim_event *ev =
            schedule_ep(w, SIM_EV_CONNECTED, ep, w->now_ns + SIM_SYN_RETRY_NS);
        ev->status = status;
        return;
    }
    if (ep->timeout_ev != NULL) {
        cancel(w, ep->timeout_ev);
        ep->timeout_ev = NULL;
    }
    const struct mr_env_sink *sink = ep->host->sink;
    if (status != 0) {
        sink->on_connected(sink->ctx, ep->id, status);
        ep_kill(w, ep);
        return;
    }
    ep->state = SIM_EP_OPEN;
    ep->opened = true;
    sink->on_connected(sink->ctx, ep->id, 0);
    schedule_flush(w, ep);
    schedule_deliver(w, ep);
}

/* ------------------------------------------------------------------------------------
 * The env functions of a host
 */

/* The host's drifted duration for a virtual duration d. */
static uint64_t host_drifted(const struct sim_host *h, uint64_t d)
{
    /* Most hosts never drift: their clocks read every event, so skip the division. */
    if (h->drift_ppm == 0) {
        return d;
    }
    return mul_div(d, (uint64_t)((int64_t)SIM_PPM + h->drift_ppm), SIM_PPM);
}

static uint64_t host_mono_at(const struct sim_host *h, uint64_t t)
{
    mr_assert(t >= h->virt_anchor_ns);
    return h->mono_anchor_ns + host_drifted(h, t - h->virt_anchor_ns);
}

/* The first virtual time at which the host's monotonic clock reads at least mono_ns
 * (never before now). */
static uint64_t host_virt_of_mono(const struct sim_host *h, uint64_t mono_ns)
{
    uint64_t now = h->world->now_ns;
    if (mono_ns <= h->mono_anchor_ns) {
        return now > h->virt_anchor_ns ? now : h->virt_anchor_ns;
    }
    uint64_t d = mono_ns - h->mono_anchor_ns;
    uint64_t k = (uint64_t)((int64_t)SIM_PPM + h->drift_ppm);
    /* ceil(d * 1e6 / k), exact: the inverse of host_drifted rounded up. */
    uint64_t q = d / k;
    uint64_t r = d % k;
    uint64_t v = h->virt_anchor_ns + q * SIM_PPM + (r * SIM_PPM + k - 1) / k;
    mr_assert(host_mono_at(h, v) >= mono_ns);
    return v > now ? v : now;
}

static uint64_t env_now_ns(void *ctx)
{
    struct sim_host *h = ctx;
    return host_mono_at(h, h->world->now_ns);
}

static int64_t env_wall_ns(void *ctx)
{
    struct sim_host *h = ctx;
    uint64_t d = h->world->now_ns - h->virt_anchor_ns;
    return SIM_WALL_EPOCH_NS + h->wall_anchor_ns + (int64_t)host_drifted(h, d);
}

static void env_random(void *ctx, uint8_t *out, size_t len)
{
    struct sim_host *h = ctx;
    sim_rng_bytes(&h->rng, out, len);
}

/* Process facts for /varz: fixed, so monitoring output is the same on every run. */
#define SIM_PROCESS_RSS_BYTES (16ULL * 1024 * 1024)
#define SIM_PROCESS_CORES 1u

static void env_process_usage(void *ctx, uint64_t *rss_bytes, uint32_t *cpu_permille,
                              uint32_t *cores)
{
    (void)ctx;
    *rss_bytes = SIM_PROCESS_RSS_BYTES;
    *cpu_permille = 0;
    *cores = SIM_PROCESS_CORES;
}

static const char *level_name(enum mr_log_level level)
{
    switch (level) {
    case MR_LOG_ERROR:
        return "ERR";
    case MR_LOG_WARN:
        return "WRN";
    case MR_LOG_INFO:
        return "INF";
    case MR_LOG_DEBUG:
        return "DBG";
    case MR_LOG_TRACE:
        return "TRC";
    }
    return "???";
}

static void env_log(void *ctx, enum mr_log_level level, const char *module, const char *msg)
{
    struct sim_host *h = ctx;
    struct sim_world *w = h->world;
    mr_assert(module != NULL);
    mr_assert(msg != NULL);
    /* Every call is folded, kept or not, so the hash does not depend on the level. */
    fold_u64(w, h->id);
    fold_u64(w, (uint64_t)level);
    fold_bytes(w, (const uint8_t *)module, strlen(module));
    fold_bytes(w, (const uint8_t *)msg, strlen(msg));
    if (h->log_fn != NULL) {
        h->log_fn(h->log_ctx, level, module, msg);
    }
    if (level > w->opts.log_level) {
        return;
    }
    GString *line = g_string_new(NULL);
    g_string_printf(
        line, "%llu.%09llu %s %s %s: %s\n", (unsigned long long)(w->now_ns / 1000000000ULL),
        (unsigned long long)(w->now_ns % 1000000000ULL), h->name, level_name(level), module, msg);
    if (w->opts.verbose) {
        fputs(line->str, stderr);
    }
    if (h->log->len + line->len <= SIM_HOST_LOG_MAX_BYTES) {
        g_string_append_len(h->log, line->str, (gssize)line->len);
    } else {
        h->log_dropped++;
    }
    g_string_free(line, TRUE);
}

static int env_timer_arm(void *ctx, uint64_t timer_id, uint64_t deadline_ns)
{
    struct sim_host *h = ctx;
    struct sim_world *w = h->world;
    struct sim_event *old = g_hash_table_lookup(h->timers, &timer_id);
    if (old != NULL) {
        g_hash_table_remove(h->timers, &timer_id);
        cancel(w, old);
    }
    /* A deadline in the past fires at once, but still as a later event. The deadline
     * is on the host's clock; the event runs in virtual time. */
    uint64_t t = host_virt_of_mono(h, deadline_ns);
    struct sim_event *ev = schedule(w, SIM_EV_TIMER, h, t);
    ev->id = timer_id;
    ev->local_ns = deadline_ns;
    g_hash_table_insert(h->timers, &ev->id, ev);
    return 0;
}

static void env_timer_cancel(void *ctx, uint64_t timer_id)
{
    struct sim_host *h = ctx;
    struct sim_event *ev = g_hash_table_lookup(h->timers, &timer_id);
    if (ev == NULL) {
        return;
    }
    g_hash_table_remove(h->timers, &timer_id);
    cancel(h->world, ev);
}

static int env_listen(void *ctx, uint64_t listener_id, const char *host, uint16_t port,
                      uint16_t *bound_port)
{
    struct sim_host *h = ctx;
    struct sim_world *w = h->world;
    mr_assert(bound_port != NULL);
    /* The bind address does not matter: a simulated host has one address, its name. */
    (void)host;
    if (port == 0) {
        for (uint32_t tries = 0; tries < 65536 - SIM_LISTEN_PORT_FIRST; tries++) {
            uint16_t p = h->next_listen_port;
            h->next_listen_port = p == 65535 ? SIM_LISTEN_PORT_FIRST : (uint16_t)(p + 1);
            if (listener_find(w, h, p) == NULL) {
                port = p;
                break;
            }
        }
        if (port == 0) {
            return MR_E_ADDR_IN_USE;
        }
    } else if (listener_find(w, h, port) != NULL) {
        return MR_E_ADDR_IN_USE;
    }
    struct sim_listener *l = g_new0(struct sim_listener, 1);
    l->host = h;
    l->listener_id = listener_id;
    l->port = port;
    g_ptr_array_add(w->listeners, l);
    *bound_port = port;
    return 0;
}

static void env_unlisten(void *ctx, uint64_t listener_id)
{
    struct sim_host *h = ctx;
    GPtrArray *ls = h->world->listeners;
    for (guint i = 0; i < ls->len; i++) {
        struct sim_listener *l = g_ptr_array_index(ls, i);
        if (l->host == h && l->listener_id == listener_id) {
            /* Keeps the others in creation order. */
            g_ptr_array_remove_index(ls, i);
            g_free(l);
            return;
        }
    }
}

/* A host name, or a shared name's pick among its live hosts (all, if none is live). */
static struct sim_host *resolve(struct sim_world *w, const char *name)
{
    struct sim_host *h = g_hash_table_lookup(w->host_by_name, name);
    if (h != NULL) {
        return h;
    }
    GPtrArray *hosts = g_hash_table_lookup(w->shared_names, name);
    if (hosts == NULL || hosts->len == 0) {
        return NULL;
    }
    guint live = 0;
    for (guint i = 0; i < hosts->len; i++) {
        live += ((struct sim_host *)g_ptr_array_index(hosts, i))->up ? 1 : 0;
    }
    if (live == 0) {
        return g_ptr_array_index(hosts, sim_rng_below(&w->net_rng, hosts->len));
    }
    uint64_t pick = sim_rng_below(&w->net_rng, live);
    for (guint i = 0; i < hosts->len; i++) {
        struct sim_host *c = g_ptr_array_index(hosts, i);
        if (c->up && pick-- == 0) {
            return c;
        }
    }
    mr_assert(!"a live host was counted");
    return NULL;
}

static int env_connect(void *ctx, const char *host, uint16_t port, uint64_t *conn_id)
{
    struct sim_host *h = ctx;
    struct sim_world *w = h->world;
    mr_assert(host != NULL);
    mr_assert(conn_id != NULL);
    struct sim_conn *conn = g_new0(struct sim_conn, 1);
    conn->link.data = conn;
    g_queue_push_tail_link(&w->conns, &conn->link);
    for (int i = 0; i < 2; i++) {
        conn->end[i].conn = conn;
        conn->end[i].state = SIM_EP_CONNECTING;
        conn->end[i].read_enabled = true;
        conn->end[i].in = (struct seg_queue){0};
    }
    struct sim_endpoint *c = &conn->end[0];
    struct sim_endpoint *s = &conn->end[1];
    c->host = h;
    c->id = w->conn_id_next++;
    c->port = h->next_ephemeral_port;
    h->next_ephemeral_port = c->port == 65535 ? SIM_EPHEMERAL_PORT_FIRST : (uint16_t)(c->port + 1);
    ep_register(c);
    *conn_id = c->id;
    struct sim_host *target = resolve(w, host);
    if (target == NULL) {
        s->state = SIM_EP_DEAD;
        struct sim_event *ev = schedule_ep(w, SIM_EV_CONNECTED, c, w->now_ns);
        ev->status = MR_E_ADDR;
        return 0;
    }
    s->host = target;
    struct sim_event *ev = schedule_ep(w, SIM_EV_ACCEPT, s, link_arrival(w, h, target, 0));
    ev->id = port;
    c->timeout_ev = schedule_ep(w, SIM_EV_CONNECT_TIMEOUT, c,
                                w->now_ns + w->opts.connect_timeout_ns);
    return 0;
}

static void env_stream_want_write(void *ctx, uint64_t conn_id)
{
    struct sim_host *h = ctx;
    struct sim_endpoint *ep = host_endpoint(h, conn_id);
    if (ep == NULL) {
        return;
    }
    ep->want_write = true;
    schedule_flush(h->world, ep);
}

static void env_stream_close(void *ctx, uint64_t conn_id)
{
    struct sim_host *h = ctx;
    struct sim_endpoint *ep = host_endpoint(h, conn_id);
    if (ep == NULL || ep->state == SIM_EP_CLOSING || ep->state == SIM_EP_RESET) {
        return;
    }
    mr_assert(ep->state == SIM_EP_OPEN || ep->state == SIM_EP_CONNECTING);
    ep->state = SIM_EP_CLOSING;
    /* The CLOSE event pulls the final output itself. */
    if (ep->flush_ev != NULL) {
        cancel(h->world, ep->flush_ev);
        ep->flush_ev = NULL;
    }
    (void)schedule_ep(h->world, SIM_EV_CLOSE, ep, h->world->now_ns);
    schedule_deliver(h->world, ep);
}

static void env_stream_read_enable(void *ctx, uint64_t conn_id, int enable)
{
    struct sim_host *h = ctx;
    struct sim_endpoint *ep = host_endpoint(h, conn_id);
    if (ep == NULL) {
        return;
    }
    ep->read_enabled = enable != 0;
    schedule_deliver(h->world, ep);
}

/* The simulator does not encrypt: any TLS configuration is accepted. */
static int env_tls_configure(void *ctx, uint64_t tls_id, const struct mr_tls_opts *opts,
                             char *errmsg, size_t errmsg_len)
{
    mr_assert(opts != NULL);
    if (errmsg != NULL && errmsg_len > 0) {
        errmsg[0] = '\0';
    }
    return 0;
}

/* Bytes stay plaintext; the handshake "completes" in a later event at the same time,
 * queued behind a flush already scheduled, so pending output goes out first. */
static void env_stream_start_tls(void *ctx, uint64_t conn_id, uint64_t tls_id)
{
    struct sim_host *h = ctx;
    struct sim_endpoint *ep = host_endpoint(h, conn_id);
    if (ep == NULL || ep->state != SIM_EP_OPEN) {
        return;
    }
    (void)schedule_ep(h->world, SIM_EV_TLS, ep, h->world->now_ns);
}

static void env_stream_start_tls_client(void *ctx, uint64_t conn_id, uint64_t tls_id,
                                        const char *server_name)
{
    (void)server_name; /* no certificates in the simulation */
    env_stream_start_tls(ctx, conn_id, tls_id);
}

/* Every file request runs against the host's disk at once and completes, later, after
 * disk_latency_ns; equal latencies keep the completions in request order. A down
 * host's disk is not touched (its server is gone): MR_E_IO. */
static struct sim_event *file_done(struct sim_host *h, uint64_t req_id, int64_t result)
{
    struct sim_world *w = h->world;
    struct sim_event *ev = schedule(w, SIM_EV_FILE_DONE, h, w->now_ns + w->opts.disk_latency_ns);
    ev->id = req_id;
    ev->result = result;
    return ev;
}

/* The disk path of an env path: under the host's file root when it has one (a
 * server's store directory, as the real env roots its files). "" and "." name the
 * root itself. Freed by the caller. */
static char *disk_path(const struct sim_host *h, const char *path)
{
    bool root = path[0] == '\0' || strcmp(path, ".") == 0;
    if (h->file_root == NULL) {
        return g_strdup(path);
    }
    return root ? g_strdup(h->file_root) : g_strconcat(h->file_root, "/", path, NULL);
}

static void env_file_open(void *ctx, uint64_t req_id, const char *path, int flags)
{
    struct sim_host *h = ctx;
    char *p = disk_path(h, path);
    (void)file_done(h, req_id, h->up ? sim_disk_open(h->disk, p, flags) : MR_E_IO);
    g_free(p);
}

static void env_file_write(void *ctx, uint64_t req_id, int64_t file, uint64_t offset,
                           const uint8_t *buf, size_t len)
{
    struct sim_host *h = ctx;
    (void)file_done(h, req_id,
                    h->up ? sim_disk_write(h->disk, file, offset, buf, len) : MR_E_IO);
}

static void env_file_read(void *ctx, uint64_t req_id, int64_t file, uint64_t offset, size_t len)
{
    struct sim_host *h = ctx;
    uint8_t *data = NULL;
    int64_t n = h->up ? sim_disk_read(h->disk, file, offset, len, &data) : MR_E_IO;
    struct sim_event *ev = file_done(h, req_id, n);
    ev->data = data;
    ev->data_len = n > 0 ? (size_t)n : 0;
}

static void env_file_sync(void *ctx, uint64_t req_id, int64_t file)
{
    struct sim_host *h = ctx;
    (void)file_done(h, req_id, h->up ? sim_disk_sync(h->disk, file) : MR_E_IO);
}

static void env_file_close(void *ctx, uint64_t req_id, int64_t file)
{
    struct sim_host *h = ctx;
    (void)file_done(h, req_id, h->up ? sim_disk_close(h->disk, file) : MR_E_IO);
}

static void env_file_rename(void *ctx, uint64_t req_id, const char *from, const char *to)
{
    struct sim_host *h = ctx;
    char *f = disk_path(h, from);
    char *t = disk_path(h, to);
    (void)file_done(h, req_id, h->up ? sim_disk_rename(h->disk, f, t) : MR_E_IO);
    g_free(f);
    g_free(t);
}

static void env_file_remove(void *ctx, uint64_t req_id, const char *path)
{
    struct sim_host *h = ctx;
    char *p = disk_path(h, path);
    (void)file_done(h, req_id, h->up ? sim_disk_remove(h->disk, p) : MR_E_IO);
    g_free(p);
}

static void env_file_list(void *ctx, uint64_t req_id, const char *dir)
{
    struct sim_host *h = ctx;
    uint8_t *data = NULL;
    size_t len = 0;
    char *p = disk_path(h, dir);
    int64_t n = h->up ? sim_disk_list(h->disk, p, &data, &len) : MR_E_IO;
    g_free(p);
    struct sim_event *ev = file_done(h, req_id, n);
    ev->data = data;
    ev->data_len = len;
}

/* ------------------------------------------------------------------------------------
 * World
 */

void sim_world_opts_default(struct sim_world_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->seed = 1;
    o->link_delay_ns = SIM_LINK_DELAY_DEFAULT_NS;
    o->window_bytes = SIM_WINDOW_DEFAULT_BYTES;
    o->chunk_bytes = SIM_CHUNK_DEFAULT_BYTES;
    o->log_level = MR_LOG_INFO;
    o->verbose = false;
    o->connect_timeout_ns = SIM_CONNECT_TIMEOUT_DEFAULT_NS;
    o->disk_latency_ns = SIM_DISK_LATENCY_DEFAULT_NS;
}

struct sim_world *sim_world_create(const struct sim_world_opts *opts)
{
    mr_assert(opts->window_bytes > 0);
    mr_assert(opts->chunk_bytes > 0);
    struct sim_world *w = g_new0(struct sim_world, 1);
    mr_heap_init(&w->heap, NULL);
    w->opts = *opts;
    w->seq_next = 1;
    w->conn_id_next = 1;
    w->trace_hash = SIM_FNV_OFFSET;
    fold_u64(w, opts->seed);
    sim_rng_init(&w->rng, opts->seed, SIM_STREAM_WORLD);
    /* STYLE 7.7: jansson's hash seed comes from the run seed, not the OS. Jansson keeps
     * the first seed of the process, so later worlds share it; object key order is
     * insertion order either way, and it must be nonzero or jansson reads /dev/urandom. */
    uint64_t json_seed = opts->seed;
    json_object_seed((size_t)(splitmix64(&json_seed) | 1));
    w->hosts = g_ptr_array_new();
    w->host_by_name = g_hash_table_new(g_str_hash, g_str_equal);
    w->listeners = g_ptr_array_new();
    w->clients = g_ptr_array_new();
    g_queue_init(&w->conns);
    w->scratch = g_malloc(opts->chunk_bytes);
    /* Worlds made from a zeroed opts predate these fields: default them. */
    if (w->opts.connect_timeout_ns == 0) {
        w->opts.connect_timeout_ns = SIM_CONNECT_TIMEOUT_DEFAULT_NS;
    }
    sim_rng_init(&w->net_rng, opts->seed, SIM_STREAM_NET);
    w->regions = g_ptr_array_new_with_free_func(g_free);
    w->region_by_name = g_hash_table_new(g_str_hash, g_str_equal);
    w->links = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, g_free);
    w->cuts = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    w->shared_names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                            (GDestroyNotify)g_ptr_array_unref);
    w->eps_by_id = g_ptr_array_new();
    (void)region_intern(w, SIM_REGION_DEFAULT);
    return w;
}

static void client_free(struct sim_client *c)
{
    g_byte_array_unref(c->received);
    g_byte_array_unref(c->out);
    g_free(c);
}

static void host_free(struct sim_host *h)
{
    g_hash_table_destroy(h->timers);
    g_string_free(h->log, TRUE);
    g_free(h->file_root);
    sim_disk_destroy(h->disk);
    g_free(h->name);
    g_free(h);
}

void sim_world_destroy(struct sim_world *w)
{
    for (size_t i = 0; i < w->heap.len; i++) {
        event_free(event_of(w->heap.items[i]));
    }
    for (guint i = 0; i < w->hosts->len; i++) {
        struct sim_host *h = g_ptr_array_index(w->hosts, i);
        struct sim_event *ev;
        while ((ev = g_queue_pop_head(&h->held)) != NULL) {
            event_free(ev);
        }
    }
    mr_heap_deinit(&w->heap);
    GList *l;
    while ((l = g_queue_pop_head_link(&w->conns)) != NULL) {
        struct sim_conn *conn = l->data;
        seg_queue_clear(&conn->end[0].in);
        seg_queue_clear(&conn->end[1].in);
        g_free(conn);
    }
    for (guint i = 0; i < w->listeners->len; i++) {
        g_free(g_ptr_array_index(w->listeners, i));
    }
    g_ptr_array_free(w->listeners, TRUE);
    for (guint i = 0; i < w->clients->len; i++) {
        client_free(g_ptr_array_index(w->clients, i));
    }
    g_ptr_array_free(w->clients, TRUE);
    g_hash_table_destroy(w->host_by_name);
    for (guint i = 0; i < w->hosts->len; i++) {
        host_free(g_ptr_array_index(w->hosts, i));
    }
    g_ptr_array_free(w->hosts, TRUE);
    g_free(w->scratch);
    g_hash_table_destroy(w->region_by_name);
    g_ptr_array_free(w->regions, TRUE);
    g_hash_table_destroy(w->links);
    g_hash_table_destroy(w->cuts);
    g_hash_table_destroy(w->shared_names);
    g_ptr_array_free(w->eps_by_id, TRUE);
    mr_assert(w->flush_now_len == 0);
    g_free(w->flush_now);
    struct sim_event *ev;
    while ((ev = w->free_events) != NULL) {
        w->free_events = ev->next_free;
        g_free(ev);
    }
    g_free(w);
}

uint64_t sim_world_now_ns(const struct sim_world *w)
{
    return w->now_ns;
}

uint64_t sim_world_seed(const struct sim_world *w)
{
    return w->opts.seed;
}

uint64_t sim_world_trace_hash(const struct sim_world *w)
{
    return w->trace_hash;
}

uint64_t sim_world_events_dispatched(const struct sim_world *w)
{
    return w->events_dispatched;
}

size_t sim_world_events_queued(const struct sim_world *w)
{
    return w->heap.len;
}

struct sim_rng *sim_world_rng(struct sim_world *w)
{
    return &w->rng;
}

static void dispatch(struct sim_world *w, struct sim_event *ev)
{
    const struct mr_env_sink *sink = ev->host->sink;
    switch (ev->kind) {
    case SIM_EV_TIMER:
        g_hash_table_remove(ev->host->timers, &ev->id);
        sink->on_timer(sink->ctx, ev->id);
        break;
    case SIM_EV_FILE_DONE:
        fold_u64(w, (uint64_t)ev->result);
        fold_bytes(w, ev->data, ev->data_len);
        sink->on_file_done(sink->ctx, ev->id, ev->result, ev->data, ev->data_len);
        break;
    case SIM_EV_ACCEPT:
        on_accept_event(w, ev->ep, (uint16_t)ev->id);
        break;
    case SIM_EV_CONNECTED:
        on_connected_event(w, ev->ep, ev->status);
        break;
    case SIM_EV_FLUSH:
        ev->ep->flush_ev = NULL;
        on_flush(w, ev->ep);
        break;
    case SIM_EV_DELIVER:
        ev->ep->deliver_ev = NULL;
        on_deliver(w, ev->ep);
        break;
    case SIM_EV_CLOSE:
        on_close(w, ev->ep);
        break;
    case SIM_EV_RESET:
        on_reset(w, ev->ep);
        break;
    case SIM_EV_TLS:
        on_tls_event(ev->ep);
        break;
    case SIM_EV_CONNECT_TIMEOUT:
        ev->ep->timeout_ev = NULL;
        on_connect_timeout(w, ev->ep);
        break;
    }
}

/* An input for a host without a sink (its server is gone) is dropped; the slots that
 * point at the event are cleared so the endpoint does not wait on it forever. */
static void drop_input(struct sim_event *ev)
{
    ev->host->inputs_dropped++;
    if (ev->kind == SIM_EV_TIMER) {
        g_hash_table_remove(ev->host->timers, &ev->id);
    } else if (ev->kind == SIM_EV_FLUSH) {
        ev->ep->flush_ev = NULL;
    } else if (ev->kind == SIM_EV_DELIVER) {
        ev->ep->deliver_ev = NULL;
    } else if (ev->kind == SIM_EV_CONNECT_TIMEOUT) {
        ev->ep->timeout_ev = NULL;
    }
}

/* Pulls the output the step's host asked to write during the step (schedule_flush), in
 * the order asked. An endpoint closed or killed meanwhile is skipped, as its FLUSH
 * event would have been. */
static void flush_step_writes(struct sim_world *w, struct sim_host *host)
{
    for (size_t i = 0; i < w->flush_now_len; i++) {
        struct sim_endpoint *ep = w->flush_now[i];
        mr_assert(ep->flush_now);
        mr_assert(ep->host == host);
        ep->flush_now = false;
        if (host->sink != NULL && ep->state == SIM_EP_OPEN && ep->flush_ev == NULL) {
            flush_pull(w, ep);
        }
        mr_assert(ep->conn->events > 0);
        ep->conn->events--;
        conn_try_reap(w, ep->conn);
    }
    w->flush_now_len = 0;
}

bool sim_world_step(struct sim_world *w)
{
    if (w->heap.len == 0) {
        return false;
    }
    struct sim_event *ev = event_of(w->heap.items[0]);
    heap_remove(w, ev);
    mr_assert(ev->time_ns >= w->now_ns);
    w->now_ns = ev->time_ns;
    struct sim_host *host = ev->host;
    /* A paused host's inputs wait, in order, for sim_host_resume. */
    if (host->paused) {
        ev->held = true;
        g_queue_push_tail(&host->held, ev);
        return true;
    }
    w->events_dispatched++;
    mr_panic_context(host->id, w->opts.seed);
    fold_u64(w, ev->time_ns);
    fold_u64(w, (uint64_t)ev->kind);
    fold_u64(w, host->id);
    fold_u64(w, ev->ep != NULL ? ev->ep->id : 0);
    fold_u64(w, ev->id);
    fold_u64(w, (uint64_t)(int64_t)ev->status);
    /* An ACCEPT runs without a sink: it answers the connector with a refusal. */
    if (host->sink != NULL || ev->kind == SIM_EV_ACCEPT) {
        w->step_host = host;
        dispatch(w, ev);
        w->step_host = NULL;
    } else {
        drop_input(ev);
    }
    struct sim_conn *conn = ev->ep != NULL ? ev->ep->conn : NULL;
    event_recycle(w, ev);
    if (conn != NULL) {
        mr_assert(conn->events > 0);
        conn->events--;
        conn_try_reap(w, conn);
    }
    flush_step_writes(w, host);
    if (host->sink != NULL && host->check != NULL) {
        host->check(host->check_ctx);
    }
    return true;
}

void sim_world_run_until(struct sim_world *w, uint64_t t_ns)
{
    while (w->heap.len > 0 && event_of(w->heap.items[0])->time_ns <= t_ns) {
        (void)sim_world_step(w);
    }
    if (t_ns > w->now_ns) {
        w->now_ns = t_ns;
    }
}

bool sim_world_run_until_pred(struct sim_world *w, sim_pred_fn pred, void *ctx,
                              uint64_t deadline_ns)
{
    mr_assert(pred != NULL);
    for (;;) {
        if (pred(ctx)) {
            return true;
        }
        if (w->heap.len == 0 || event_of(w->heap.items[0])->time_ns > deadline_ns) {
            break;
        }
        (void)sim_world_step(w);
    }
    if (deadline_ns > w->now_ns) {
        w->now_ns = deadline_ns;
    }
    return pred(ctx);
}

void sim_world_check(const struct sim_world *w)
{
    mr_heap_check(&w->heap);
    mr_assert(w->flush_now_len == 0);
    mr_assert(w->step_host == NULL);
    for (size_t i = 0; i < w->heap.len; i++) {
        const struct sim_event *ev = event_of(w->heap.items[i]);
        mr_assert(ev->time_ns >= w->now_ns);
        mr_assert(ev->seq < w->seq_next);
    }
    for (const GList *l = w->conns.head; l != NULL; l = l->next) {
        const struct sim_conn *conn = l->data;
        for (int i = 0; i < 2; i++) {
            const struct sim_endpoint *ep = &conn->end[i];
            mr_assert(ep->in_bytes <= w->opts.window_bytes);
            if (ep->state == SIM_EP_DEAD) {
                mr_assert(ep->in.length == 0);
            }
            if (ep->timeout_ev != NULL) {
                mr_assert(ep->state == SIM_EP_CONNECTING);
            }
        }
    }
    for (guint i = 0; i < w->hosts->len; i++) {
        const struct sim_host *h = g_ptr_array_index(w->hosts, i);
        if (!h->paused) {
            mr_assert(h->held.length == 0);
        }
        if (!h->up) {
            mr_assert(h->sink == NULL);
        }
        for (const GList *l = h->held.head; l != NULL; l = l->next) {
            const struct sim_event *ev = l->data;
            mr_assert(ev->held);
            mr_assert(ev->host == h);
        }
        sim_disk_check(h->disk);
    }
}

/* ------------------------------------------------------------------------------------
 * Hosts
 */

struct sim_host *sim_host_create(struct sim_world *w, const char *name)
{
    return sim_host_create_in(w, name, SIM_REGION_DEFAULT);
}

struct sim_host *sim_host_create_in(struct sim_world *w, const char *name, const char *region)
{
    mr_assert(name != NULL && name[0] != '\0');
    mr_assert(g_hash_table_lookup(w->host_by_name, name) == NULL);
    mr_assert(g_hash_table_lookup(w->shared_names, name) == NULL);
    struct sim_host *h = g_new0(struct sim_host, 1);
    h->world = w;
    h->id = (uint64_t)w->hosts->len + 1;
    mr_assert(h->id < (1ULL << 32));
    h->name = g_strdup(name);
    h->region = region_intern(w, region);
    h->up = true;
    g_queue_init(&h->held);
    h->disk = sim_disk_create(w->opts.seed, SIM_STREAM_DISK_BASE + h->id);
    sim_rng_init(&h->rng, w->opts.seed, SIM_STREAM_HOST_BASE + h->id);
    h->timers = g_hash_table_new(g_int64_hash, g_int64_equal);
    h->log = g_string_new(NULL);
    h->next_listen_port = SIM_LISTEN_PORT_FIRST;
    h->next_ephemeral_port = SIM_EPHEMERAL_PORT_FIRST;
    h->env = (struct mr_env){
        .ctx = h,
        .now_ns = env_now_ns,
        .wall_ns = env_wall_ns,
        .random = env_random,
        .log = env_log,
        .process_usage = env_process_usage,
        .timer_arm = env_timer_arm,
        .timer_cancel = env_timer_cancel,
        .listen = env_listen,
        .unlisten = env_unlisten,
        .connect = env_connect,
        .stream_want_write = env_stream_want_write,
        .stream_close = env_stream_close,
        .stream_read_enable = env_stream_read_enable,
        .tls_configure = env_tls_configure,
        .stream_start_tls = env_stream_start_tls,
        .stream_start_tls_client = env_stream_start_tls_client,
        .file_open = env_file_open,
        .file_write = env_file_write,
        .file_read = env_file_read,
        .file_sync = env_file_sync,
        .file_close = env_file_close,
        .file_rename = env_file_rename,
        .file_remove = env_file_remove,
        .file_list = env_file_list,
    };
    g_ptr_array_add(w->hosts, h);
    g_hash_table_insert(w->host_by_name, h->name, h);
    return h;
}

struct sim_host *sim_world_host(struct sim_world *w, const char *name)
{
    return g_hash_table_lookup(w->host_by_name, name);
}

const char *sim_host_name(const struct sim_host *h)
{
    return h->name;
}

const struct mr_env *sim_host_env(struct sim_host *h)
{
    return &h->env;
}

/* Timers are cancelled in their heap order, not the hash table's, so the removal
 * sequence (and any later heap layout) is the same in every run. */
static void host_cancel_timers(struct sim_host *h)
{
    struct sim_world *w = h->world;
    size_t i = 0;
    while (i < w->heap.len) {
        struct sim_event *ev = event_of(w->heap.items[i]);
        if (ev->host == h && ev->kind == SIM_EV_TIMER) {
            g_hash_table_remove(h->timers, &ev->id);
            cancel(w, ev);
            i = 0; /* the heap was reshaped; rescan (rare, small) */
        } else {
            i++;
        }
    }
    /* Held timers (a paused host), in their held order. */
    GList *l = h->held.head;
    while (l != NULL) {
        struct sim_event *ev = l->data;
        l = l->next;
        if (ev->kind == SIM_EV_TIMER) {
            g_hash_table_remove(h->timers, &ev->id);
            cancel(w, ev);
        }
    }
    mr_assert(g_hash_table_size(h->timers) == 0);
}

void sim_host_set_sink(struct sim_host *h, const struct mr_env_sink *sink)
{
    if (sink == NULL) {
        host_cancel_timers(h);
    }
    h->sink = sink;
}

void sim_host_set_check(struct sim_host *h, void (*check)(void *ctx), void *ctx)
{
    h->check = check;
    h->check_ctx = ctx;
}

void sim_host_set_log_fn(struct sim_host *h, sim_host_log_fn fn, void *ctx)
{
    h->log_fn = fn;
    h->log_ctx = ctx;
}

void sim_host_set_file_root(struct sim_host *h, const char *root)
{
    g_free(h->file_root);
    h->file_root = NULL;
    if (root == NULL || root[0] == '\0') {
        return;
    }
    /* Paths are compared as plain strings on the disk: no trailing slash. */
    size_t len = strlen(root);
    while (len > 1 && root[len - 1] == '/') {
        len--;
    }
    h->file_root = g_strndup(root, len);
}

const char *sim_host_log(const struct sim_host *h, size_t *len)
{
    if (len != NULL) {
        *len = h->log->len;
    }
    return h->log->str;
}

void sim_host_log_clear(struct sim_host *h)
{
    g_string_truncate(h->log, 0);
}

uint64_t sim_host_inputs_dropped(const struct sim_host *h)
{
    return h->inputs_dropped;
}

/* ------------------------------------------------------------------------------------
 * Regions, links and names
 */

const char *sim_host_region(const struct sim_host *h)
{
    return g_ptr_array_index(h->world->regions, h->region);
}

void sim_world_set_link(struct sim_world *w, const char *region_a, const char *region_b,
                        const struct sim_latency *latency, uint64_t bandwidth_bytes_per_s)
{
    mr_assert(latency != NULL);
    struct sim_link *l = link_get(w, region_intern(w, region_a), region_intern(w, region_b));
    l->latency = *latency;
    l->bandwidth_bytes_per_s = bandwidth_bytes_per_s;
    fold_u64(w, SIM_FAULT_LATENCY);
    fold_u64(w, l->key);
    fold_u64(w, (uint64_t)latency->kind);
    fold_u64(w, latency->base_ns);
    fold_u64(w, latency->spread_ns);
    fold_u64(w, bandwidth_bytes_per_s);
}

void sim_net_set_latency(struct sim_world *w, const char *region_a, const char *region_b,
                         const struct sim_latency *latency)
{
    mr_assert(latency != NULL);
    struct sim_link *l = link_get(w, region_intern(w, region_a), region_intern(w, region_b));
    sim_world_set_link(w, region_a, region_b, latency, l->bandwidth_bytes_per_s);
}

uint64_t sim_world_link_bytes(const struct sim_world *w, const char *region_a,
                              const char *region_b)
{
    gpointer a = g_hash_table_lookup(w->region_by_name, region_a);
    gpointer b = g_hash_table_lookup(w->region_by_name, region_b);
    if (a == NULL || b == NULL) {
        return 0;
    }
    uint64_t key = link_key(GPOINTER_TO_UINT(a) - 1, GPOINTER_TO_UINT(b) - 1);
    const struct sim_link *l = g_hash_table_lookup(w->links, &key);
    return l != NULL ? l->bytes : 0;
}

void sim_world_add_name(struct sim_world *w, const char *name, struct sim_host *h)
{
    mr_assert(name != NULL && name[0] != '\0');
    mr_assert(h != NULL && h->world == w);
    mr_assert(g_hash_table_lookup(w->host_by_name, name) == NULL);
    GPtrArray *hosts = g_hash_table_lookup(w->shared_names, name);
    if (hosts == NULL) {
        hosts = g_ptr_array_new();
        g_hash_table_insert(w->shared_names, g_strdup(name), hosts);
    }
    for (guint i = 0; i < hosts->len; i++) {
        mr_assert(g_ptr_array_index(hosts, i) != h);
    }
    g_ptr_array_add(hosts, h);
}

/* ------------------------------------------------------------------------------------
 * Network faults
 */

static void fold_fault(struct sim_world *w, enum sim_fault_tag tag, uint64_t a, uint64_t b)
{
    fold_u64(w, (uint64_t)tag);
    fold_u64(w, w->now_ns);
    fold_u64(w, a);
    fold_u64(w, b);
}

static void cut_add(struct sim_world *w, const struct sim_host *from, const struct sim_host *to)
{
    mr_assert(from != to);
    uint64_t key = cut_key(from, to);
    if (!g_hash_table_contains(w->cuts, &key)) {
        uint64_t *k = g_new(uint64_t, 1);
        *k = key;
        g_hash_table_add(w->cuts, k);
    }
}

/* After a heal, every held delivery may go; live connections in creation order. */
static void reschedule_deliveries(struct sim_world *w)
{
    for (GList *l = w->conns.head; l != NULL; l = l->next) {
        struct sim_conn *conn = l->data;
        schedule_deliver(w, &conn->end[0]);
        schedule_deliver(w, &conn->end[1]);
    }
}

/* Frees connections whose ends died outside a step (crash, reset). */
static void reap_all(struct sim_world *w)
{
    GList *l = w->conns.head;
    while (l != NULL) {
        struct sim_conn *conn = l->data;
        l = l->next;
        conn_try_reap(w, conn);
    }
}

void sim_net_cut(struct sim_world *w, struct sim_host *a, struct sim_host *b, bool one_way)
{
    mr_assert(a != NULL && b != NULL);
    mr_assert(a != b);
    fold_fault(w, SIM_FAULT_CUT, cut_key(a, b), one_way ? 1 : 2);
    cut_add(w, a, b);
    if (!one_way) {
        cut_add(w, b, a);
    }
}

void sim_net_heal(struct sim_world *w, struct sim_host *a, struct sim_host *b)
{
    mr_assert(a != NULL && b != NULL);
    fold_fault(w, SIM_FAULT_HEAL, cut_key(a, b), 0);
    uint64_t k1 = cut_key(a, b);
    uint64_t k2 = cut_key(b, a);
    bool changed = g_hash_table_remove(w->cuts, &k1);
    changed = g_hash_table_remove(w->cuts, &k2) || changed;
    if (changed) {
        reschedule_deliveries(w);
    }
}

void sim_net_heal_all(struct sim_world *w)
{
    fold_fault(w, SIM_FAULT_HEAL_ALL, 0, 0);
    if (g_hash_table_size(w->cuts) == 0) {
        return;
    }
    g_hash_table_remove_all(w->cuts);
    reschedule_deliveries(w);
}

bool sim_net_is_cut(const struct sim_world *w, const struct sim_host *a,
                    const struct sim_host *b)
{
    return path_blocked(w, a, b);
}

void sim_net_isolate(struct sim_world *w, struct sim_host *h)
{
    for (guint i = 0; i < w->hosts->len; i++) {
        struct sim_host *o = g_ptr_array_index(w->hosts, i);
        if (o != h) {
            sim_net_cut(w, h, o, false);
        }
    }
}

void sim_net_partition(struct sim_world *w, const char *const *const *groups)
{
    mr_assert(groups != NULL);
    for (size_t i = 0; groups[i] != NULL; i++) {
        for (size_t j = i + 1; groups[j] != NULL; j++) {
            for (size_t x = 0; groups[i][x] != NULL; x++) {
                struct sim_host *a = sim_world_host(w, groups[i][x]);
                mr_assert(a != NULL);
                for (size_t y = 0; groups[j][y] != NULL; y++) {
                    struct sim_host *b = sim_world_host(w, groups[j][y]);
                    mr_assert(b != NULL);
                    sim_net_cut(w, a, b, false);
                }
            }
        }
    }
}

/* The peer of an endpoint that is going away learns it by a reset segment (read once
 * its stream is up), unless it is already gone. */
static void notify_peer_reset(struct sim_world *w, struct sim_endpoint *e)
{
    struct sim_endpoint *peer = peer_of(e);
    if (peer->host == NULL || peer->state == SIM_EP_DEAD || peer->state == SIM_EP_RESET) {
        return;
    }
    pipe_append_rst(w, peer);
}

void sim_net_reset(struct sim_world *w, struct sim_host *h)
{
    mr_assert(h != NULL);
    fold_fault(w, SIM_FAULT_RESET, h->id, 0);
    for (GList *l = w->conns.head; l != NULL; l = l->next) {
        struct sim_conn *conn = l->data;
        for (int i = 0; i < 2; i++) {
            struct sim_endpoint *e = &conn->end[i];
            bool live = e->state == SIM_EP_OPEN || (i == 0 && e->state == SIM_EP_CONNECTING);
            if (e->host != h || !live) {
                continue;
            }
            notify_peer_reset(w, e);
            if (e->flush_ev != NULL) {
                cancel(w, e->flush_ev);
                e->flush_ev = NULL;
            }
            if (e->deliver_ev != NULL) {
                cancel(w, e->deliver_ev);
                e->deliver_ev = NULL;
            }
            if (e->timeout_ev != NULL) {
                cancel(w, e->timeout_ev);
                e->timeout_ev = NULL;
            }
            seg_queue_clear(&e->in);
            e->in_bytes = 0;
            e->want_write = false;
            e->state = SIM_EP_RESET;
            (void)schedule_ep(w, SIM_EV_RESET, e, w->now_ns);
        }
    }
}

/* ------------------------------------------------------------------------------------
 * Host faults
 */

/* Drops one event of a crashing host, clearing the slots that point at it. */
static void discard_event(struct sim_world *w, struct sim_event *ev)
{
    if (ev->kind == SIM_EV_TIMER) {
        g_hash_table_remove(ev->host->timers, &ev->id);
    }
    if (ev->ep != NULL) {
        if (ev->ep->flush_ev == ev) {
            ev->ep->flush_ev = NULL;
        }
        if (ev->ep->deliver_ev == ev) {
            ev->ep->deliver_ev = NULL;
        }
        if (ev->ep->timeout_ev == ev) {
            ev->ep->timeout_ev = NULL;
        }
    }
    cancel(w, ev);
}

/* Every queued or held event of h but pending accepts, which answer as a down host. */
static void host_discard_events(struct sim_host *h)
{
    struct sim_world *w = h->world;
    struct sim_event *ev;
    while ((ev = g_queue_pop_head(&h->held)) != NULL) {
        ev->held = false;
        /* A held accept goes back to the heap, now, to be answered as by a down host. */
        ev->time_ns = w->now_ns;
        ev->seq = w->seq_next++;
        heap_push(w, ev);
        if (ev->kind != SIM_EV_ACCEPT) {
            discard_event(w, ev);
        }
    }
    GPtrArray *mine = g_ptr_array_new();
    for (size_t i = 0; i < w->heap.len; i++) {
        struct sim_event *ev = event_of(w->heap.items[i]);
        if (ev->host == h && ev->kind != SIM_EV_ACCEPT) {
            g_ptr_array_add(mine, ev);
        }
    }
    for (guint i = 0; i < mine->len; i++) {
        discard_event(w, g_ptr_array_index(mine, i));
    }
    g_ptr_array_free(mine, TRUE);
    mr_assert(g_hash_table_size(h->timers) == 0);
}

void sim_host_crash(struct sim_host *h, enum sim_crash_kind kind)
{
    mr_assert(kind == SIM_CRASH_PROCESS || kind == SIM_CRASH_POWER);
    struct sim_world *w = h->world;
    if (!h->up) {
        return;
    }
    fold_fault(w, SIM_FAULT_CRASH, h->id, (uint64_t)kind);
    h->up = false;
    h->crash_kind = kind;
    h->paused = false;
    host_discard_events(h);
    for (GList *l = w->conns.head; l != NULL; l = l->next) {
        struct sim_conn *conn = l->data;
        for (int i = 0; i < 2; i++) {
            struct sim_endpoint *e = &conn->end[i];
            if (e->host != h || e->state == SIM_EP_DEAD) {
                continue;
            }
            /* Not accepted yet: the pending ACCEPT answers as a down host. */
            if (i == 1 && e->state == SIM_EP_CONNECTING) {
                continue;
            }
            notify_peer_reset(w, e);
            ep_kill(w, e);
        }
    }
    GPtrArray *ls = w->listeners;
    guint i = 0;
    while (i < ls->len) {
        struct sim_listener *l = g_ptr_array_index(ls, i);
        if (l->host == h) {
            g_ptr_array_remove_index(ls, i);
            g_free(l);
        } else {
            i++;
        }
    }
    h->sink = NULL;
    sim_disk_crash(h->disk, kind);
    reap_all(w);
}

void sim_host_restart(struct sim_host *h)
{
    if (h->up) {
        return;
    }
    fold_fault(h->world, SIM_FAULT_RESTART, h->id, 0);
    h->up = true;
}

bool sim_host_up(const struct sim_host *h)
{
    return h->up;
}

void sim_host_pause(struct sim_host *h)
{
    if (h->paused || !h->up) {
        return;
    }
    fold_fault(h->world, SIM_FAULT_PAUSE, h->id, 0);
    h->paused = true;
}

void sim_host_resume(struct sim_host *h)
{
    if (!h->paused) {
        return;
    }
    struct sim_world *w = h->world;
    fold_fault(w, SIM_FAULT_RESUME, h->id, (uint64_t)h->held.length);
    h->paused = false;
    /* New sequence numbers in held order keep the original order among them. */
    struct sim_event *ev;
    while ((ev = g_queue_pop_head(&h->held)) != NULL) {
        ev->held = false;
        ev->time_ns = w->now_ns;
        ev->seq = w->seq_next++;
        heap_push(w, ev);
    }
}

bool sim_host_paused(const struct sim_host *h)
{
    return h->paused;
}

void sim_host_set_clock(struct sim_host *h, int64_t offset_ns, int32_t drift_ppm)
{
    mr_assert(drift_ppm >= -SIM_DRIFT_PPM_MAX && drift_ppm <= SIM_DRIFT_PPM_MAX);
    struct sim_world *w = h->world;
    uint64_t now = w->now_ns;
    fold_fault(w, SIM_FAULT_CLOCK, h->id, (uint64_t)offset_ns);
    fold_u64(w, (uint64_t)(int64_t)drift_ppm);
    uint64_t mono_now = host_mono_at(h, now);
    int64_t target = (int64_t)now + offset_ns;
    h->virt_anchor_ns = now;
    /* Forward steps move the monotonic clock; backward ones only the wall clock. */
    h->mono_anchor_ns = target > 0 && (uint64_t)target > mono_now ? (uint64_t)target : mono_now;
    h->wall_anchor_ns = target;
    h->drift_ppm = drift_ppm;
    /* Armed timers keep their deadline on the host clock: move them in virtual time. */
    GPtrArray *timers = g_ptr_array_new();
    for (size_t i = 0; i < w->heap.len; i++) {
        struct sim_event *ev = event_of(w->heap.items[i]);
        if (ev->host == h && ev->kind == SIM_EV_TIMER) {
            g_ptr_array_add(timers, ev);
        }
    }
    for (guint i = 0; i < timers->len; i++) {
        struct sim_event *ev = g_ptr_array_index(timers, i);
        heap_remove(w, ev);
        ev->time_ns = host_virt_of_mono(h, ev->local_ns);
        heap_push(w, ev);
    }
    g_ptr_array_free(timers, TRUE);
}

struct sim_disk *sim_host_disk(struct sim_host *h)
{
    return h->disk;
}

/* ------------------------------------------------------------------------------------
 * Scripted clients: a sink on a host of their own.
 */

static void client_on_accept(void *ctx, uint64_t listener_id, uint64_t conn_id,
                             const char *peer_host, uint16_t peer_port)
{
    mr_assert(!"a scripted client does not listen");
}

static void client_on_connected(void *ctx, uint64_t conn_id, int status)
{
    struct sim_client *c = ctx;
    mr_assert(conn_id == c->conn_id);
    c->connect_status = status;
    c->connected = status == 0;
    c->closed = status != 0;
}

static void client_on_bytes(void *ctx, uint64_t conn_id, const uint8_t *buf, size_t len)
{
    struct sim_client *c = ctx;
    mr_assert(conn_id == c->conn_id);
    mr_assert(c->connected);
    g_byte_array_append(c->received, buf, (guint)len);
    c->received_total += len;
}

static void client_on_closed(void *ctx, uint64_t conn_id)
{
    struct sim_client *c = ctx;
    mr_assert(conn_id == c->conn_id);
    mr_assert(!c->closed);
    c->closed = true;
}

static void client_on_timer(void *ctx, uint64_t timer_id)
{
    mr_assert(!"a scripted client arms no timers");
}

static void client_on_file_done(void *ctx, uint64_t req_id, int64_t result, const uint8_t *data,
                                size_t len)
{
    mr_assert(!"a scripted client opens no files");
}

static size_t client_out_peek(void *ctx, uint64_t conn_id, struct mr_iov *iov, size_t iov_max)
{
    struct sim_client *c = ctx;
    mr_assert(conn_id == c->conn_id);
    mr_assert(iov_max > 0);
    if (c->out_off == c->out->len) {
        return 0;
    }
    iov[0].base = c->out->data + c->out_off;
    iov[0].len = c->out->len - c->out_off;
    return 1;
}

static void client_out_consume(void *ctx, uint64_t conn_id, size_t n)
{
    struct sim_client *c = ctx;
    mr_assert(conn_id == c->conn_id);
    mr_assert(n <= c->out->len - c->out_off);
    c->out_off += n;
    if (c->out_off == c->out->len) {
        g_byte_array_set_size(c->out, 0);
        c->out_off = 0;
    }
}

struct sim_client *sim_client_create(struct sim_world *w, const char *name, const char *host,
                                     uint16_t port)
{
    return sim_client_create_in(w, name, SIM_REGION_DEFAULT, host, port);
}

struct sim_client *sim_client_create_in(struct sim_world *w, const char *name,
                                        const char *region, const char *host, uint16_t port)
{
    struct sim_client *c = g_new0(struct sim_client, 1);
    c->world = w;
    c->host = sim_host_create_in(w, name, region);
    c->received = g_byte_array_new();
    c->out = g_byte_array_new();
    c->sink = (struct mr_env_sink){
        .ctx = c,
        .on_accept = client_on_accept,
        .on_connected = client_on_connected,
        .on_bytes = client_on_bytes,
        .on_closed = client_on_closed,
        .on_timer = client_on_timer,
        .on_file_done = client_on_file_done,
        .out_peek = client_out_peek,
        .out_consume = client_out_consume,
    };
    sim_host_set_sink(c->host, &c->sink);
    g_ptr_array_add(w->clients, c);
    int rc = c->host->env.connect(c->host, host, port, &c->conn_id);
    mr_assert(rc == 0);
    return c;
}

struct sim_host *sim_client_host(struct sim_client *c)
{
    return c->host;
}

int sim_client_send(struct sim_client *c, const void *buf, size_t len)
{
    if (c->closed) {
        return MR_E_CLOSED;
    }
    g_byte_array_append(c->out, buf, (guint)len);
    c->host->env.stream_want_write(c->host, c->conn_id);
    return 0;
}

int sim_client_send_str(struct sim_client *c, const char *s)
{
    return sim_client_send(c, s, strlen(s));
}

size_t sim_client_out_pending(const struct sim_client *c)
{
    return c->out->len - c->out_off;
}

const uint8_t *sim_client_received(const struct sim_client *c, size_t *len)
{
    *len = c->received->len;
    return c->received->data;
}

void sim_client_clear(struct sim_client *c)
{
    g_byte_array_set_size(c->received, 0);
}

uint64_t sim_client_received_total(const struct sim_client *c)
{
    return c->received_total;
}

struct wait_for {
    struct sim_client *c;
    const char *needle;
    size_t needle_len;
    size_t searched; /* received bytes already known not to start a match */
};

static bool wait_for_pred(void *ctx)
{
    struct wait_for *wf = ctx;
    GByteArray *r = wf->c->received;
    if (wf->searched > r->len) {
        wf->searched = 0; /* cleared meanwhile */
    }
    if (r->len < wf->needle_len) {
        return false;
    }
    if (memmem(r->data + wf->searched, r->len - wf->searched, wf->needle, wf->needle_len) != NULL) {
        return true;
    }
    wf->searched = r->len - wf->needle_len + 1;
    return false;
}

bool sim_client_wait_for(struct sim_client *c, const char *needle, uint64_t deadline_ns)
{
    mr_assert(needle != NULL && needle[0] != '\0');
    struct wait_for wf = {.c = c, .needle = needle, .needle_len = strlen(needle)};
    return sim_world_run_until_pred(c->world, wait_for_pred, &wf, deadline_ns);
}

static bool closed_pred(void *ctx)
{
    const struct sim_client *c = ctx;
    return c->closed;
}

bool sim_client_wait_closed(struct sim_client *c, uint64_t deadline_ns)
{
    return sim_world_run_until_pred(c->world, closed_pred, c, deadline_ns);
}

void sim_client_read_enable(struct sim_client *c, bool enable)
{
    c->host->env.stream_read_enable(c->host, c->conn_id, enable ? 1 : 0);
}

void sim_client_close(struct sim_client *c)
{
    c->host->env.stream_close(c->host, c->conn_id);
}

bool sim_client_connected(const struct sim_client *c)
{
    return c->connected && !c->closed;
}

int sim_client_connect_status(const struct sim_client *c)
{
    return c->connect_status;
}

bool sim_client_closed(const struct sim_client *c)
{
    return c->closed;
}
