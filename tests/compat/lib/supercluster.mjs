// SPDX-License-Identifier: Apache-2.0
//
// Superclusters for the compat tests: K clusters of 1-3 servers each on 127.0.0.1, joined
// by gateways; wait (bounded) until every server has a gateway to every other cluster and
// every cluster's routes form a full mesh; stop and restart one server or a whole cluster;
// stop everything by PID afterwards, also when a test failed.
//
// Gateways are configured only in config files (there are no gateway flags), so every
// server gets one:
//   server_name: "a1"
//   cluster { name: "A", listen: "127.0.0.1:CP", routes: [every other member] }  (size > 1)
//   gateway {
//     name: "A"
//     listen: "127.0.0.1:GP"
//     gateways: [ { name: "A", urls: [...] }, { name: "B", urls: [...] }, ... ]
//   }
// and -a 127.0.0.1 -p P -m HP on the command line. Every cluster's entry lists all of its
// members' gateway URLs, the server's own cluster included (a server ignores the entry
// with its own gateway name). A cluster spec with `gateways: [names]` lists only those
// clusters, so the others are found through gateway gossip (implicit gateways). The
// binary is per server, so a supercluster may mix meridian-server and nats-server
// (spec.bins).
//
// Each server holds four ports from reservePort() (client, cluster, gateway, monitoring)
// until the supercluster is stopped, so a restarted server comes back on the same ports
// and the others' configured URLs find it again.
//
// Connected: waitConnected() polls /gatewayz and /routez on every running server until
//   - outbound_gateways has exactly the names of the other clusters that have a running
//     server, each connected to a running server of that cluster;
//   - for each pair of clusters (X, Y), Y's running servers together have one inbound
//     gateway from each running server of X (one outbound per server per remote cluster);
//   - every cluster's running servers have a route to each other;
// on timeout the error names which server lacks what.
//
// Interest over gateways runs interest-only from the start on nats-server 2.9 (RS+ from
// the accepting side); lib/cluster.mjs's awaitInterest() works across gateways too, as a
// server forwards one connection's subscriptions in order over routes and gateways.

import { after, before } from 'node:test';

import { getJson } from './cluster.mjs';
import { HOST, reservePort, serverBin, sleep, startServer } from './server.mjs';

export const CONNECT_WAIT_MS = 20000;
const POLL_MS = 100;

class ScMember {
    constructor(cluster, index, bin) {
        this.cluster = cluster;
        this.index = index;
        this.bin = bin;
        this.name = `${cluster.name.toLowerCase()}${index + 1}`;
        this.locks = [];
        this.srv = null;          // ServerProcess while running
        this.serverId = null;     // from /varz, refreshed on every start
    }

    async reserve() {
        for (const key of ['clientPort', 'clusterPort', 'gatewayPort', 'httpPort']) {
            const r = await reservePort();
            this.locks.push(r);
            this[key] = r.port;
        }
        this.hostport = `${HOST}:${this.clientPort}`;
        this.url = `nats://${this.hostport}`;
        this.gatewayUrl = `nats://${HOST}:${this.gatewayPort}`;
        this.clusterUrl = `nats://${HOST}:${this.clusterPort}`;
    }

    get running() {
        return this.srv !== null && !this.srv.exited;
    }

    config() {
        const c = this.cluster;
        const sc = c.sc;
        const q = (s) => `"${s}"`;
        const lines = [`server_name: ${q(this.name)}`];
        if (c.members.length > 1) {
            const routes = c.members.filter((m) => m !== this).map((m) => q(m.clusterUrl));
            lines.push('cluster {', `  name: ${q(c.name)}`,
                `  listen: ${q(`${HOST}:${this.clusterPort}`)}`,
                `  routes: [${routes.join(', ')}]`, '}');
        }
        lines.push('gateway {', `  name: ${q(c.name)}`,
            `  listen: ${q(`${HOST}:${this.gatewayPort}`)}`);
        if (sc.opts.gatewayLines) {
            lines.push(...sc.opts.gatewayLines(this));
        }
        lines.push('  gateways: [');
        for (const other of sc.clusters.filter((x) => c.lists(x))) {
            const urls = other.members.map((m) => q(m.gatewayUrl));
            lines.push(`    { name: ${q(other.name)}, urls: [${urls.join(', ')}] }`);
        }
        lines.push('  ]', '}');
        if (sc.opts.extraLines) {
            lines.push(...sc.opts.extraLines(this));
        }
        return lines.join('\n') + '\n';
    }

    async start() {
        if (this.running) {
            throw new Error(`${this.name} is already running (pid ${this.srv.pid})`);
        }
        this.srv = await startServer(['-m', String(this.httpPort)],
            { bin: this.bin, port: this.clientPort, config: this.config() });
        this.serverId = null;
        const deadline = Date.now() + 5000;
        for (;;) {
            try {
                this.serverId = (await getJson(this.httpPort, '/varz')).server_id;
                return;
            } catch (e) {
                if (Date.now() > deadline || !this.running) {
                    throw new Error(`${this.describe()} pid ${this.srv.pid}: monitoring port ` +
                        `does not answer /varz: ${e.message}\n${this.srv.tail()}`);
                }
                await sleep(POLL_MS);
            }
        }
    }

    async stop() {
        if (this.srv) {
            await this.srv.stop();
            this.srv = null;
        }
    }

    release() {
        for (const l of this.locks.splice(0)) {
            l.release();
        }
    }

    gatewayz(query = '') {
        return getJson(this.httpPort, `/gatewayz${query}`);
    }

    routez(query = '') {
        return getJson(this.httpPort, `/routez${query}`);
    }

    varz() {
        return getJson(this.httpPort, '/varz');
    }

    describe() {
        return `${this.name} (cluster ${this.cluster.name}, client ${this.clientPort}, ` +
            `gateway ${this.gatewayPort}, http ${this.httpPort}, ${this.bin.split('/').pop()})`;
    }
}

class ScCluster {
    constructor(sc, spec) {
        this.sc = sc;
        this.name = spec.name;
        this.spec = spec;
        const bins = spec.bins || [];
        this.members = Array.from({ length: spec.size }, (_, i) =>
            new ScMember(this, i, bins[i] || serverBin()));
    }

    get running() {
        return this.members.filter((m) => m.running);
    }

    /** Whether this cluster's config lists cluster `other` in its gateways. */
    lists(other) {
        const names = this.spec.gateways;
        return other === this || !names || names.includes(other.name);
    }
}

export class SuperCluster {
    /**
     * specs: [{ name: 'A', size: 3, bins: [...], gateways: ['A', 'B'] }, ...]; names are
     * gateway and cluster names; gateways (default: every cluster) names the clusters this
     * cluster's config lists, the others it has to learn through gossip. opts:
     * gatewayLines (member => extra lines in the gateway block), extraLines (member =>
     * extra top-level lines).
     */
    constructor(specs, opts = {}) {
        this.opts = opts;
        this.clusters = specs.map((s) => new ScCluster(this, s));
        this.byName = Object.fromEntries(this.clusters.map((c) => [c.name, c]));
    }

    /** Every member of every cluster, in cluster order. */
    get members() {
        return this.clusters.flatMap((c) => c.members);
    }

    /** Member by server name ('a1') */
    server(name) {
        const m = this.members.find((x) => x.name === name);
        if (!m) {
            throw new Error(`no server ${name} in the supercluster`);
        }
        return m;
    }

    async startServer(name) {
        await this.server(name).start();
    }

    /** Stop one server by its PID; its ports stay reserved for startServer(name). */
    async stopServer(name) {
        await this.server(name).stop();
    }

    async startCluster(cname) {
        for (const m of this.byName[cname].members) {
            if (!m.running) {
                await m.start();
            }
        }
    }

    async stopCluster(cname) {
        await Promise.allSettled(this.byName[cname].members.map((m) => m.stop()));
    }

    /** Stop every server and release every port. Safe to call twice. */
    async stopAll() {
        await Promise.allSettled(this.members.map((m) => m.stop()));
        for (const m of this.members) {
            m.release();
        }
    }

    /** Throw naming every server that exited without stop(), with its log tail. */
    checkAlive() {
        const dead = this.members.filter((m) => m.srv && m.srv.exited);
        if (dead.length > 0) {
            throw new Error(dead.map((m) => `${m.describe()} pid ${m.srv.pid} exited ` +
                `(code ${m.srv.exited.code}, signal ${m.srv.exited.signal})\n${m.srv.tail(10)}`)
                .join('\n'));
        }
    }

    /** Wait (bounded) until the supercluster is fully connected (see the file comment). */
    async waitConnected(ms = CONNECT_WAIT_MS) {
        const deadline = Date.now() + ms;
        for (;;) {
            const why = await this.connectProblem();
            if (why === '') {
                return;
            }
            if (Date.now() > deadline) {
                const logs = this.members.filter((m) => m.srv)
                    .map((m) => `--- ${m.name} log tail:\n${m.srv.tail(8)}`).join('\n');
                throw new Error(`supercluster not connected within ${ms} ms: ${why}\n${logs}`);
            }
            await sleep(POLL_MS);
        }
    }

    /** '' when fully connected, else what is missing. */
    async connectProblem() {
        const up = this.clusters.filter((c) => c.running.length > 0);
        const problems = [];
        const inbound = new Map(); // "X>Y" -> inbound connections from X on Y's servers
        for (const c of up) {
            for (const m of c.running) {
                let gz;
                let rz = null;
                try {
                    gz = await m.gatewayz();
                    if (c.members.length > 1) {
                        rz = await m.routez();
                    }
                } catch (e) {
                    problems.push(`${m.describe()}: ${e.message}`);
                    continue;
                }
                const out = gz.outbound_gateways || {};
                for (const o of up.filter((x) => x !== c)) {
                    const g = out[o.name];
                    const ids = o.running.map((x) => x.serverId);
                    if (!g) {
                        problems.push(`${m.name} has no outbound gateway to ${o.name}`);
                    } else if (!ids.includes(g.connection?.name)) {
                        problems.push(`${m.name}'s outbound gateway to ${o.name} is connected to ` +
                            `${g.connection?.name}, not to a running server of ${o.name}`);
                    }
                }
                const extra = Object.keys(out)
                    .filter((n) => !up.some((x) => x.name === n && x !== c));
                if (extra.length > 0) {
                    problems.push(`${m.name} has outbound gateways to ${extra.join(', ')} as well`);
                }
                for (const [n, list] of Object.entries(gz.inbound_gateways || {})) {
                    const k = `${n}>${c.name}`;
                    inbound.set(k, (inbound.get(k) || 0) + list.length);
                }
                if (rz) {
                    const have = new Set((rz.routes || []).map((r) => r.remote_id));
                    const lacks = c.running.filter((o) => o !== m && !have.has(o.serverId))
                        .map((o) => o.name);
                    if (lacks.length > 0 || rz.num_routes !== c.running.length - 1) {
                        const lacking = lacks.length ? `, lacks ${lacks.join(', ')}` : '';
                        problems.push(`${m.name} has num_routes ${rz.num_routes} (want ` +
                            `${c.running.length - 1})${lacking}`);
                    }
                }
            }
        }
        for (const x of up) {
            for (const y of up.filter((c) => c !== x)) {
                const n = inbound.get(`${x.name}>${y.name}`) || 0;
                if (n !== x.running.length) {
                    problems.push(`cluster ${y.name} has ${n} inbound gateways from ${x.name} ` +
                        `(want ${x.running.length})`);
                }
            }
        }
        return problems.join('; ');
    }
}

/**
 * Start a supercluster (see SuperCluster) and wait until it is fully connected.
 * opts.noWait: do not wait; opts.connectWaitMs bounds the wait.
 */
export async function startSuperCluster(specs, opts = {}) {
    const sc = new SuperCluster(specs, opts);
    try {
        for (const m of sc.members) {
            await m.reserve();
        }
        for (const m of sc.members) {
            await m.start();
        }
        if (!opts.noWait) {
            await sc.waitConnected(opts.connectWaitMs);
        }
    } catch (e) {
        await sc.stopAll();
        throw e;
    }
    return sc;
}

/**
 * Register a supercluster for the enclosing describe(): started (connected) in before(),
 * stopped by PID in after(). Returns a holder whose .current is the SuperCluster.
 */
export function superClusterFixture(specs, opts = {}) {
    const holder = { current: null };
    before(async () => {
        holder.current = await startSuperCluster(specs, opts);
    }, { timeout: 45000 });
    after(async () => {
        if (holder.current) {
            await holder.current.stopAll();
            holder.current = null;
        }
    }, { timeout: 20000 });
    return holder;
}
