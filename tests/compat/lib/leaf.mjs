// SPDX-License-Identifier: Apache-2.0
//
// Leaf node topologies for the compat tests: one hub and one or more leafs (spokes) on
// 127.0.0.1, each leaf soliciting one leaf connection to the hub's leafnodes port and
// binding its account LEAF to the hub's account LEAF; wait (bounded) until every link is
// up; stop and restart the hub or a leaf by PID; stop everything in after(), also when a
// test failed. The binary is per server, so hub and leafs may be of different kinds
// (opts.hubBin, opts.leafBins).
//
// Every server gets a config file with the accounts of the mission's accounts.conf
// (shared/examples/leafnode/) plus a user for the global account:
//   accounts { SYS { users [sys/sys] }, LEAF { users [leaf/leaf] } }, system_account: SYS
//   authorization { users [g/g] }                      (account $G)
// and -a 127.0.0.1 -p P -m HP on the command line. The hub adds
//   server_name: "hub", leafnodes { listen: "127.0.0.1:LP" }
// and leaf i adds
//   server_name: "leafI"
//   leafnodes { remotes: [ { urls: ["nats://leaf:leaf@127.0.0.1:LP"], account: "LEAF" } ] }
// so the hub binds the link by the CONNECT's credentials (user leaf of account LEAF).
// Each server holds its ports (client, monitoring, and the hub's leafnodes port) from
// reservePort() until the topology stops, so a restarted hub comes back where the leafs
// look for it.
//
// Linked: waitLinked() first polls the hub's /leafz where it is served (nats-server 2.9:
// `leafnodes` count and `leafs` list) until it shows one connection per running leaf,
// then, on every server kind, probes each link in both directions in account LEAF: a
// subscriber on one side, a publisher on the other publishing on the probe subject until
// it arrives (lib/cluster.mjs awaitInterest), bounded. On timeout the error names the
// link and direction and shows the servers' log tails.
//
// A server forwards one connection's subscriptions over a leaf connection in order (LS+),
// so awaitInterest() also waits for a test's own subscriptions to reach the other side.

import { after, before } from 'node:test';

import { getJson, awaitInterest } from './cluster.mjs';
import { connectTo } from './client.mjs';
import { HOST, reservePort, serverBin, sleep, startServer, withTimeout } from './server.mjs';

export const LINK_WAIT_MS = 15000;
const POLL_MS = 100;

/** Users of the config files, by account name ($G: the global account). */
export const USERS = {
    LEAF: { user: 'leaf', pass: 'leaf' },
    SYS: { user: 'sys', pass: 'sys' },
    $G: { user: 'g', pass: 'g' },
};

/** Config text shared by hub and leafs: accounts.conf of the mission plus a $G user. */
export function accountsConfig() {
    return [
        'accounts: {',
        '  SYS: { users: [ { user: "sys", password: "sys" } ] }',
        '  LEAF: { users: [ { user: "leaf", password: "leaf" } ] }',
        '}',
        'system_account: SYS',
        'authorization { users: [ { user: "g", password: "g" } ] }',
    ].join('\n');
}

class LeafMember {
    constructor(topo, role, index, bin) {
        this.topo = topo;
        this.role = role;             // 'hub' | 'leaf'
        this.index = index;           // leafs: 0..n-1
        this.bin = bin;
        this.name = role === 'hub' ? 'hub' : `leaf${index + 1}`;
        this.locks = [];
        this.srv = null;              // ServerProcess while running
        this.serverId = null;         // from /varz, refreshed on every start
    }

    async reserve() {
        const keys = ['clientPort', 'httpPort'];
        if (this.role === 'hub') {
            keys.push('leafPort', ...(this.topo.opts.hubPorts || []));
        }
        for (const key of keys) {
            const r = await reservePort();
            this.locks.push(r);
            this[key] = r.port;
        }
        this.hostport = `${HOST}:${this.clientPort}`;
        this.url = `nats://${this.hostport}`;
    }

    get running() {
        return this.srv !== null && !this.srv.exited;
    }

    get kind() {
        return this.bin.split('/').pop();
    }

    config() {
        const o = this.topo.opts;
        const lines = [`server_name: "${this.name}"`, accountsConfig()];
        if (this.role === 'hub') {
            lines.push('leafnodes {', `  listen: "${HOST}:${this.leafPort}"`);
            if (o.hubLeafLines) {
                lines.push(...o.hubLeafLines(this));
            }
            lines.push('}');
        } else {
            const hub = this.topo.hub;
            const a = USERS.LEAF;
            lines.push('leafnodes {');
            if (o.leafLeafLines) {
                lines.push(...o.leafLeafLines(this));
            }
            const url = o.remoteUrl ? o.remoteUrl(this, hub)
                : `nats://${a.user}:${a.pass}@${HOST}:${hub.leafPort}`;
            lines.push('  remotes: [', `    { urls: ["${url}"], account: "LEAF"`,
                ...(o.remoteLines ? o.remoteLines(this) : []), '    }', '  ]', '}');
        }
        if (o.extraLines) {
            lines.push(...o.extraLines(this));
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

    varz() {
        return getJson(this.httpPort, '/varz');
    }

    /** /leafz as JSON, or null when the server does not serve it (HTTP 404). */
    async leafz(query = '') {
        const res = await fetch(`http://${HOST}:${this.httpPort}/leafz${query}`,
            { signal: AbortSignal.timeout(2000) });
        if (res.status === 404) {
            return null;
        }
        if (!res.ok) {
            throw new Error(`GET /leafz on ${this.describe()}: HTTP ${res.status}`);
        }
        return res.json();
    }

    /** nats.js connection as a user of `account` ('LEAF', 'SYS', '$G'); no reconnects. */
    connect(account = 'LEAF', opts = {}) {
        const u = USERS[account];
        if (!u) {
            throw new Error(`no user for account ${account}`);
        }
        return connectTo(this, { user: u.user, pass: u.pass, ...opts });
    }

    describe() {
        const leaf = this.leafPort ? `, leafnodes ${this.leafPort}` : '';
        return `${this.name} (client ${this.clientPort}${leaf}, http ${this.httpPort}, ` +
            `${this.kind})`;
    }
}

export class LeafTopology {
    /**
     * opts: hubBin, leafBins (binary per leaf), leafs (count, default leafBins.length or
     * 1), hubLeafLines (hub => extra lines in its leafnodes block), leafLeafLines (leaf =>
     * extra lines in its leafnodes block), extraLines (member => extra top-level lines),
     * hubPorts (names of extra ports the hub reserves, e.g. 'wsPort'), remoteUrl ((leaf,
     * hub) => the remote's URL), remoteLines (leaf => extra lines in its remote).
     */
    constructor(opts = {}) {
        this.opts = opts;
        const bins = opts.leafBins || [];
        const n = opts.leafs || Math.max(bins.length, 1);
        this.hub = new LeafMember(this, 'hub', 0, opts.hubBin || serverBin());
        this.leafs = Array.from({ length: n }, (_, i) =>
            new LeafMember(this, 'leaf', i, bins[i] || serverBin()));
    }

    get members() {
        return [this.hub, ...this.leafs];
    }

    async stopHub() {
        await this.hub.stop();
    }

    async startHub() {
        await this.hub.start();
    }

    async stopLeaf(i) {
        await this.leafs[i].stop();
    }

    async startLeaf(i) {
        await this.leafs[i].start();
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

    logs(lines = 8) {
        return this.members.filter((m) => m.srv)
            .map((m) => `--- ${m.name} log tail:\n${m.srv.tail(lines)}`).join('\n');
    }

    /**
     * Wait (bounded) until the hub has a leaf connection from every running leaf and each
     * link carries messages both ways in account LEAF (see the file comment).
     */
    async waitLinked(ms = LINK_WAIT_MS) {
        const deadline = Date.now() + ms;
        const up = this.leafs.filter((l) => l.running);
        if (!this.hub.running || up.length === 0) {
            return;
        }
        let why = '';
        for (;;) {
            why = await this.leafzProblem(up.length);
            if (why === '') {
                break;
            }
            if (Date.now() > deadline) {
                throw new Error(`leaf links not up within ${ms} ms: ${why}\n${this.logs()}`);
            }
            await sleep(POLL_MS);
        }
        for (const leaf of up) {
            await this.probe(this.hub, leaf, deadline);
            await this.probe(leaf, this.hub, deadline);
        }
    }

    /** '' when the hub's /leafz shows `want` leaf connections or is not served. */
    async leafzProblem(want) {
        let lz;
        try {
            lz = await this.hub.leafz();
        } catch (e) {
            return `${this.hub.describe()}: ${e.message}`;
        }
        if (lz === null) {
            return ''; // not served (meridian so far): the probes decide
        }
        if (lz.leafnodes !== want) {
            return `hub /leafz has leafnodes ${lz.leafnodes} (want ${want})`;
        }
        return '';
    }

    /** A message published on `from` reaches a subscriber on `to` in account LEAF. */
    async probe(from, to, deadline) {
        const pub = await from.connect('LEAF');
        const sub = await to.connect('LEAF');
        try {
            const left = Math.max(deadline - Date.now(), 1000);
            await awaitInterest(pub, [sub], left);
        } catch (e) {
            throw new Error(`leaf link ${from.name} -> ${to.name} carries no messages: ` +
                `${e.message}\n${this.logs()}`);
        } finally {
            await Promise.allSettled([pub, sub].map((nc) =>
                withTimeout(nc.close(), 3000, 'close')));
        }
    }
}

/** Start a hub and its leafs and wait until every link is up. opts as LeafTopology. */
export async function startLeafTopology(opts = {}) {
    const t = new LeafTopology(opts);
    try {
        for (const m of t.members) {
            await m.reserve();
        }
        for (const m of t.members) {
            await m.start();
        }
        if (!opts.noWait) {
            await t.waitLinked(opts.linkWaitMs);
        }
    } catch (e) {
        await t.stopAll();
        throw e;
    }
    return t;
}

/**
 * Register a leaf topology for the enclosing describe(): started (linked) in before(),
 * stopped by PID in after(). Returns a holder whose .current is the LeafTopology.
 */
export function leafFixture(opts = {}) {
    const holder = { current: null };
    before(async () => {
        holder.current = await startLeafTopology(opts);
    }, { timeout: 40000 });
    after(async () => {
        if (holder.current) {
            await holder.current.stopAll();
            holder.current = null;
        }
    }, { timeout: 20000 });
    return holder;
}

// ---------------------------------------------------------------------------------
// Scenario helpers shared by the leaf suites (nats.js)

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();
export const enc = (s) => textEncoder.encode(s);
export const str = (m) => textDecoder.decode(m.data);

/** Connections a test opened, by server and account; all closed by closeAll(). */
export class LeafConns {
    constructor() {
        this.conns = [];
    }

    async open(member, account = 'LEAF', opts = {}) {
        const nc = await member.connect(account, opts);
        this.conns.push(nc);
        return nc;
    }

    async closeAll() {
        const all = this.conns.splice(0);
        await Promise.allSettled(all.map((nc) =>
            (nc.isClosed() ? Promise.resolve() : withTimeout(nc.close(), 3000, 'close'))));
    }
}

/** PING/PONG on every publisher, then on every subscriber (see lib/client.mjs settle). */
export async function flushAll(publishers, subscribers) {
    for (const nc of [...publishers, ...subscribers]) {
        await withTimeout(nc.flush(), 5000, 'flush');
    }
}

/** Wait (bounded) until pred() holds; the error says what was awaited and pred's state. */
export async function until(pred, ms, what) {
    const deadline = Date.now() + ms;
    while (!pred()) {
        if (Date.now() > deadline) {
            const w = typeof what === 'function' ? what() : what;
            throw new Error(`timed out after ${ms} ms waiting for ${w}`);
        }
        await sleep(10);
    }
}

/**
 * n messages published on `from` (account LEAF) reach one subscriber on `to` once each,
 * in order, and nothing more within quietMs. Returns the received payloads.
 */
export async function crossOnce(conns, from, to, subject, { n = 50, quietMs = 200 } = {}) {
    const pub = await conns.open(from);
    const subNc = await conns.open(to);
    const got = [];
    subNc.subscribe(subject, { callback: (_, m) => got.push(str(m)) });
    await awaitInterest(pub, [subNc]);
    const want = Array.from({ length: n }, (_, i) => `${subject}:${i}`);
    for (const w of want) {
        pub.publish(subject, enc(w));
    }
    await flushAll([pub], [subNc]);
    await until(() => got.length >= n, 5000, () => `${n} messages ${from.name} -> ${to.name} ` +
        `on ${subject} (got ${got.length})`);
    await sleep(quietMs);
    await flushAll([pub], [subNc]);
    return { got, want };
}

/** n requests from `from` answered by a responder on `to` (account LEAF). */
export async function requestReply(conns, from, to, subject, n = 10) {
    const svc = await conns.open(to);
    const client = await conns.open(from);
    let served = 0;
    svc.subscribe(subject, { callback: (_, m) => {
        served++;
        m.respond(enc(`re:${str(m)}:${to.name}`));
    } });
    await awaitInterest(client, [svc]);
    const answers = [];
    for (let i = 0; i < n; i++) {
        const r = await client.request(subject, enc(String(i)), { timeout: 3000 });
        answers.push(str(r));
    }
    return { answers, served };
}
