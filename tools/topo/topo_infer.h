/* SPDX-License-Identifier: Apache-2.0 */
/*
 * From server configurations to a topology (topo_graph.h): servers, cluster and region
 * boxes, routes, gateways and leaf connections, inferred from what the configs say.
 *
 * Configs are parsed with the project's own parser (core/conf/conf.c) and loaded with
 * core/conf/conf_server.c; scenario files with sim/sim_scenario.c. The examples use
 * names that only resolve on their own network (`region1-gateway`, `0.0.0.0`), so the
 * inference goes by names first and by URLs second:
 *  - a server is named by server_name, else by its file's stem (config mode) or by its
 *    scenario name; servers of one cluster name share a cluster box (a server with a
 *    gateway but no cluster {} sits in a box named after its gateway);
 *  - the servers of a cluster are joined by routes in a full mesh, as NATS meshes them;
 *  - a gateway entry naming another cluster joins the two boxes; one naming a cluster
 *    that is not among the inputs draws that cluster as an external box;
 *  - a leaf remote's URL host is resolved as a server name, then a scenario name {},
 *    then (wildcard, loopback or unknown hosts) by the port: the one other server whose
 *    leafnodes listener uses it. The edge goes from the leaf to its hub, labelled with
 *    the bound local account. An unresolved remote is drawn as an external node.
 *
 * A config file run on several hosts (the mission's region configs) describes one server
 * of N: config mode draws one server per file unless topo_conf_opts.servers says how
 * many; then the servers take the names of the cluster's route URL hosts when there are
 * exactly that many distinct ones, else "<name>-<i>".
 *
 * Errors are written to err as "file:line:col: reason" (the parser's and loader's
 * messages) and the functions return -1; the graph may then hold part of the input.
 */
#ifndef TOPO_INFER_H
#define TOPO_INFER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/conf/conf.h"
#include "sim/sim_scenario.h"
#include "tools/topo/topo_graph.h"

/* Bound on --servers (a scenario holds at most SIM_SC_SERVERS_MAX servers too). */
#define TOPO_SERVERS_PER_CONFIG_MAX 64

struct topo_conf_opts {
    int servers; /* servers per clustered config; 0 = what the file says (one) */
};

/* An io for config files: reads files (relative to the working directory, includes
 * relative to the including file) and the process environment for $VARS. */
const struct mr_conf_io *topo_conf_file_io(void);

/* Whether path parses as a scenario file (it has a servers {} or regions {} block at the
 * top) rather than a server config. Returns 1, 0, or -1 with err (unreadable, bad
 * syntax). */
int topo_file_is_scenario(const char *path, char *err, size_t err_len);

/* Adds the servers and connections described by count config files. */
int topo_from_configs(struct topo_graph *g, const char *const *paths, size_t count,
                      const struct topo_conf_opts *opts, char *err, size_t err_len);

/* Adds a loaded scenario: every server in its region box, WAN links with their
 * latencies, and the connections inferred from the servers' configs. */
void topo_from_scenario(struct topo_graph *g, const struct sim_scenario *sc);

#endif
