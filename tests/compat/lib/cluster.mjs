// SPDX-License-Identifier: Apache-2.0
//
// Clusters for the compat tests: start N servers joined by routes on 127.0.0.1, wait
// (bounded) until the full mesh has formed, stop and restart single members, and stop
// them all by PID afterwards, also when a test failed.
//
// Each member gets three ports from reservePort() (client, cluster, monitoring), held
// until the cluster is stopped, so a restarted member comes back on the same ports and
// the other members' routes find it again. The binary is per member, so a cluster may
// mix meridian-server and nats-server (opts.bins).
//
// Routes are seeded one of two ways (opts.seed):
//   'first'  every member but the first lists the first member's cluster URL; the
//            others are found through the route INFO gossip (nats-server's usual setup);
//   'all'    every member lists every other member's cluster URL.
// Flags (the default) or a config file (opts.config = true):
//   flags:  -n NAME --cluster nats://127.0.0.1:CP --cluster_name C --routes U1,U2 -m HP
//   config: server_name, cluster { name, listen, routes [...], authorization {...} },
//           and -m HP on the command line.
//
// Mesh: waitMesh() polls /routez on every running member until num_routes is N-1 and
// the remote_ids are exactly the other running members' server_ids; on timeout the
// error names which server lacks a route to which.
//
// Interest: a subscription made on server B reaches server A some time after B has
// answered the subscriber's PING. awaitInterest() waits for it by probing: each
// subscriber connection subscribes to a probe subject after its real subscriptions,
// and the publisher publishes on the probe subjects until every subscriber has one.
// A server forwards one connection's subscriptions over a route in order, so once the
// probe arrives through the route the earlier subscriptions have arrived too.

import { after, before } from 'node:test';
import { createInbox } from 'nats';

import { HOST, reservePort, serverBin, sleep, startServer, withTimeout } from './server.mjs';

export const MESH_WAIT_MS = 15000;
const HTTP_TIMEOUT_MS = 2000;
const POLL_MS = 50;
const PROBE_INTERVAL_MS = 20;

/** GET http://127.0.0.1:PORT/PATH as JSON, bounded. */
export async function getJson(port, pathAndQuery) {
    const res = await fetch(`http://${HOST}:${port}${pathAndQuery}`,
        { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
    if (!res.ok) {
        throw new Error(`GET ${pathAndQuery} on monitoring port ${port}: HTTP ${res.status}`);
    }
    return res.json();
}

class ClusterMember {
    constructor(cluster, index, bin) {
        this.cluster = cluster;
        this.index = index;
        this.bin = bin;
        this.name = `${cluster.name}-s${index + 1}`;
        this.locks = [];
        this.srv = null;          // ServerProcess while running
        this.serverId = null;     // from /varz, refreshed on every start
    }

    async reserve() {
        for (const key of ['clientPort', 'clusterPort', 'httpPort']) {
            const r = await reservePort();
            this.locks.push(r);
            this[key] = r.port;
        }
        this.hostport = `${HOST}:${this.clientPort}`;
        this.url = `nats://${this.hostport}`;
        this.clusterUrl = `nats://${HOST}:${this.clusterPort}`;
    }

    get running() {
        return this.srv !== null && !this.srv.exited;
    }

    /** Cluster URL as another member's route lists it (with credentials if any). */
    routeUrl() {
        const a = this.cluster.opts.auth;
        const cred = a ? `${encodeURIComponent(a.user)}:${encodeURIComponent(a.pass)}@` : '';
        return `nats://${cred}${HOST}:${this.clusterPort}`;
    }

    seeds() {
        const all = this.cluster.members;
        if (this.cluster.opts.seed === 'all') {
            return all.filter((m) => m !== this).map((m) => m.routeUrl());
        }
        return this.index === 0 ? [] : [all[0].routeUrl()];
    }

    flagsAndConfig() {
        const o = this.cluster.opts;
        const extra = o.extraArgs ? (o.extraArgs[this.index] || []) : [];
        const args = ['-m', String(this.httpPort)];
        if (!o.config) {
            args.push('-n', this.name, '--cluster', `nats://${HOST}:${this.clusterPort}`,
                '--cluster_name', this.cluster.name);
            const seeds = this.seeds();
            if (seeds.length > 0) {
                args.push('--routes', seeds.join(','));
            }
            return { args: [...args, ...extra], config: undefined };
        }
        const lines = [
            `server_name: "${this.name}"`,
            'cluster {',
            `  name: "${this.cluster.name}"`,
            `  listen: "${HOST}:${this.clusterPort}"`,
        ];
        if (o.auth) {
            lines.push('  authorization {', `    user: "${o.auth.user}"`,
                `    password: "${o.auth.pass}"`, '  }');
        }
        if (o.clusterLines) {
            lines.push(...o.clusterLines(this));
        }
        const seeds = o.routesOverride ? o.routesOverride(this) : this.seeds();
        lines.push(`  routes: [${seeds.map((u) => `"${u}"`).join(', ')}]`, '}');
        return { args: [...args, ...extra], config: lines.join('\n') + '\n' };
    }

    async start() {
        if (this.running) {
            throw new Error(`${this.name} is already running (pid ${this.srv.pid})`);
        }
        const { args, config } = this.flagsAndConfig();
        this.srv = await startServer(args, { bin: this.bin, port: this.clientPort, config });
        this.serverId = null;
        const deadline = Date.now() + 5000;
        for (;;) {
            try {
                this.serverId = (await getJson(this.httpPort, '/varz')).server_id;
                return;
            } catch (e) {
                if (Date.now() > deadline || !this.running) {
                    throw new Error(`${this.name} (${this.bin}, pid ${this.srv.pid}): monitoring ` +
                        `port ${this.httpPort} does not answer /varz: ${e.message}\n${this.srv.tail()}`);
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

    routez(query = '') {
        return getJson(this.httpPort, `/routez${query}`);
    }

    describe() {
        return `${this.name} (client ${this.clientPort}, cluster ${this.clusterPort}, ` +
            `http ${this.httpPort}, ${this.bin.split('/').pop()})`;
    }
}

export class Cluster {
    constructor(n, opts) {
        this.opts = { seed: 'first', config: false, ...opts };
        this.name = opts.name || `mc${process.pid % 10000}x${Math.floor(Math.random() * 1e4)}`;
        const bins = opts.bins || [];
        this.members = Array.from({ length: n }, (_, i) =>
            new ClusterMember(this, i, bins[i] || serverBin()));
    }

    get servers() {
        return this.members;
    }

    /** Start member i (again); it keeps its ports. */
    async start(i) {
        await this.members[i].start();
    }

    /** Stop member i by its PID; its ports stay reserved for restart(i). */
    async stop(i) {
        await this.members[i].stop();
    }

    async restart(i) {
        await this.stop(i);
        await this.start(i);
    }

    /** Stop every member and release every port. Safe to call twice. */
    async stopAll() {
        await Promise.allSettled(this.members.map((m) => m.stop()));
        for (const m of this.members) {
            m.release();
        }
    }

    /**
     * Throw naming every member that exited without stop() (crashed, or killed by someone
     * else), with its exit status and log tail; the tests call it after each test so that
     * a dead server is reported as such and not as refused connections.
     */
    checkAlive() {
        const dead = this.members.filter((m) => m.srv && m.srv.exited);
        if (dead.length > 0) {
            throw new Error(dead.map((m) => `${m.describe()} pid ${m.srv.pid} exited unexpectedly ` +
                `(code ${m.srv.exited.code}, signal ${m.srv.exited.signal})\n${m.srv.tail(10)}`)
                .join('\n'));
        }
    }

    /**
     * Wait (bounded) until every running member has exactly one route to every other
     * running member. Throws naming the servers whose routes are missing.
     */
    async waitMesh(ms = MESH_WAIT_MS) {
        const deadline = Date.now() + ms;
        let why = '';
        for (;;) {
            why = await this.meshProblem();
            if (why === '') {
                return;
            }
            if (Date.now() > deadline) {
                const logs = this.members.filter((m) => m.srv)
                    .map((m) => `--- ${m.name} log tail:\n${m.srv.tail(8)}`).join('\n');
                throw new Error(`cluster ${this.name}: full mesh not formed within ${ms} ms: ` +
                    `${why}\n${logs}`);
            }
            await sleep(POLL_MS);
        }
    }

    /** '' when the mesh is complete, else what is missing. */
    async meshProblem() {
        const up = this.members.filter((m) => m.running);
        const problems = [];
        for (const m of up) {
            let rz;
            try {
                rz = await m.routez();
            } catch (e) {
                problems.push(`${m.describe()}: /routez failed: ${e.message}`);
                continue;
            }
            const have = new Set((rz.routes || []).map((r) => r.remote_id));
            const lacks = up.filter((o) => o !== m && !have.has(o.serverId)).map((o) => o.name);
            if (lacks.length > 0 || rz.num_routes !== up.length - 1) {
                problems.push(`${m.describe()} has num_routes ${rz.num_routes} (want ` +
                    `${up.length - 1})${lacks.length ? `, lacks routes to ${lacks.join(', ')}` : ''}`);
            }
        }
        return problems.join('; ');
    }
}

/**
 * Start an n-member cluster and wait for the full mesh. opts: bins (binary per member),
 * seed ('first' | 'all'), config (true: cluster block in a config file), auth ({ user,
 * pass } for the cluster's authorization, config mode), clusterLines (member => extra
 * lines inside the cluster block, config mode), extraArgs (array per member),
 * name (cluster name), meshWaitMs, noWait (do not wait for the mesh).
 */
export async function startCluster(n, opts = {}) {
    const c = new Cluster(n, opts);
    try {
        for (const m of c.members) {
            await m.reserve();
        }
        for (let i = 0; i < n; i++) {
            await c.start(i);
        }
        if (!opts.noWait) {
            await c.waitMesh(opts.meshWaitMs);
        }
    } catch (e) {
        await c.stopAll();
        throw e;
    }
    return c;
}

/**
 * Register a cluster for the enclosing describe(): started (mesh formed) in before(),
 * stopped by PID in after(). Returns a holder whose .current is the Cluster.
 */
export function clusterFixture(n, opts = {}) {
    const holder = { current: null };
    before(async () => {
        holder.current = await startCluster(n, opts);
    }, { timeout: 40000 });
    after(async () => {
        if (holder.current) {
            await holder.current.stopAll();
            holder.current = null;
        }
    });
    return holder;
}

/**
 * Wait (bounded) until the subscriptions already made on each connection in `subs` are
 * known on the server `pub` is connected to (see the file comment). Subscriptions made
 * before this call, on those connections, are then routed to.
 */
export async function awaitInterest(pub, subs, ms = 10000) {
    const base = createInbox();
    const got = subs.map(() => false);
    const probes = subs.map((nc, k) => nc.subscribe(`${base}.${k}`, {
        callback: () => {
            got[k] = true;
        },
    }));
    try {
        await Promise.all(subs.map((nc) => withTimeout(nc.flush(), 5000, 'probe subscribe flush')));
        const deadline = Date.now() + ms;
        while (got.includes(false)) {
            if (Date.now() > deadline) {
                const missing = got.map((g, k) => (g ? null : k)).filter((k) => k !== null);
                throw new Error(`interest of subscriber connections ${missing.join(', ')} did not ` +
                    `reach the publisher's server within ${ms} ms`);
            }
            got.forEach((g, k) => {
                if (!g) {
                    pub.publish(`${base}.${k}`);
                }
            });
            await sleep(PROBE_INTERVAL_MS);
        }
    } finally {
        for (const p of probes) {
            p.unsubscribe();
        }
    }
}
