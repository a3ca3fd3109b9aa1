/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Live mode of meridian-topo: the topology of a running deployment, read from the
 * monitoring endpoints (/varz, /routez, /gatewayz, /leafz) of one or more seed servers.
 *
 * What can be followed: /routez and /gatewayz name each peer by server id and give the
 * address of its route or gateway connection, /leafz gives only the address; none of
 * them, in nats-server 2.9 or Meridian, gives a peer's monitoring port. So live mode
 * reads every seed URL it is given, draws the peers those seeds report (a peer that no
 * seed describes is drawn dashed, named by a short server id), and, with follow_port,
 * also reads http://PEER-IP:follow_port for every peer address it learns (deployments
 * where every host serves monitoring on the same port).
 *
 * Routes are drawn once per pair of servers, gateways per outbound connection (from the
 * server that opened it), leaf connections from the leaf to its hub labelled with the
 * hub-side account; the RTT each side measured labels the edge.
 *
 * Errors: a seed that cannot be read is an error ("http://127.0.0.1:8222/varz:
 * connect: Connection refused"); a followed peer that cannot be read is a note on the
 * graph. Every request is bounded by timeout_ms, and the number of servers read by
 * TOPO_LIVE_SERVERS_MAX.
 */
#ifndef TOPO_LIVE_H
#define TOPO_LIVE_H

#include <glib.h>
#include <stddef.h>

#include "tools/topo/topo_graph.h"

#define TOPO_LIVE_SERVERS_MAX 128
#define TOPO_HTTP_BODY_MAX (16 * 1024 * 1024)
#define TOPO_HTTP_TIMEOUT_MS_DEFAULT 3000

struct topo_live_opts {
    const char *const *seeds; /* http://host:port (monitoring listeners) */
    size_t seeds_count;
    int follow_port; /* 0 = read the seeds only */
    int timeout_ms;  /* per request; 0 = TOPO_HTTP_TIMEOUT_MS_DEFAULT */
};

/* Whether arg looks like a live seed (http:// or https://). */
bool topo_is_url(const char *arg);

/*
 * GET base + path over plain HTTP/1.0 (base is http://host:port). Returns 0 with the
 * status and the body appended to body, or -1 with err naming the URL and what failed.
 */
int topo_http_get(const char *base, const char *path, int timeout_ms, int *status, GString *body,
                  char *err, size_t err_len);

/* Reads the deployment and adds it to g. Returns 0 or -1 with err. */
int topo_from_live(struct topo_graph *g, const struct topo_live_opts *o, char *err,
                   size_t err_len);

#endif
