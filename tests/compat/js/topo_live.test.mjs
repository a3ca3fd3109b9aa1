// SPDX-License-Identifier: Apache-2.0
//
// meridian-topo's live mode against running servers on 127.0.0.1: it reads /varz,
// /routez, /gatewayz and /leafz of the seed URLs it is given and draws what they report.
// Each layout runs with the server under test (MERIDIAN_SERVER) and with the reference
// nats-server (NATS_SERVER; skipped, saying so, without it):
//   - a supercluster, cluster A (a1, a2) and cluster B (b1): with every server as a seed,
//     two boxed clusters, the route a1 -- a2 and one gateway edge per outbound gateway
//     connection (a1 -> b1, a2 -> b1, b1 -> a1 or a2); with a1 alone as the seed, the
//     peers it reports (a2 by route, b1 by gateway) drawn dashed in their clusters;
//   - a hub and one leaf (account LEAF): with both seeds, the edge leaf1 -> hub labelled
//     LEAF; with the hub alone, an edge from the unobserved leaf's address to the hub;
//   - one server with JetStream and streams ORDERS, COPY (a mirror of ORDERS) and ALL
//     (sourcing ORDERS): stream notes with replicas and leader, the mirror and source as
//     edges (read from /jsz; skipped for a server that does not serve JetStream yet);
//   - an unreachable seed: exit status 1 and a message naming the URL.
// The tool's output is read back as `-T canon` (the graph as built) and `-T svg`.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { after, before, describe } from 'node:test';
import { connect } from 'nats';

import { leafFixture } from '../lib/leaf.mjs';
import { HOST, ROOT, isNatsServer, reservePort, serverBin, startServer } from '../lib/server.mjs';
import { superClusterFixture } from '../lib/supercluster.mjs';

const TOPO = process.env.MERIDIAN_TOPO || path.join(ROOT, 'build', 'tools', 'meridian-topo');
const NATS = process.env.NATS_SERVER || '/usr/sbin/nats-server';
const T = { timeout: 30000 };

const KINDS = [
    { kind: 'server under test', bin: serverBin(), skip: false },
    {
        kind: 'nats-server',
        bin: NATS,
        skip: fs.existsSync(NATS) ? false
            : `nats-server not found at ${NATS} (apt-get install nats-server, or set NATS_SERVER)`,
    },
];

/** Runs meridian-topo; resolves { code, stdout, stderr } (never rejects on exit status). */
function topo(args) {
    return new Promise((resolve, reject) => {
        if (!fs.existsSync(TOPO)) {
            reject(new Error(`${TOPO} not found: build first (meson compile -C build)`));
            return;
        }
        execFile(TOPO, args, { timeout: 20000, maxBuffer: 16 * 1024 * 1024 },
            (err, stdout, stderr) => {
                if (err && typeof err.code !== 'number') {
                    reject(err);
                    return;
                }
                resolve({ code: err ? err.code : 0, stdout, stderr });
            });
    });
}

const unquote = (s) => (s.startsWith('"') ? s.slice(1, -1) : s);

function attrs(text) {
    const out = {};
    for (const m of text.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|[^,\s\]]+)/g)) {
        out[m[1]] = unquote(m[2]);
    }
    return out;
}

/**
 * The structure of canon output: nodes (name -> attributes), edges ({ t, h, class,
 * label }) and boxes (subgraph name -> member node names). The legend is left out.
 */
function parseCanon(text) {
    const nodes = new Map();
    const edges = [];
    const boxes = new Map();
    const name = '("(?:[^"\\\\]|\\\\.)*"|[^\\s"]+)';
    for (const m of text.matchAll(new RegExp(`^\\t+${name} -> ${name}\\t\\[([^\\]]*)\\]`, 'gm'))) {
        const a = attrs(m[3]);
        if (a.class !== 'legend') {
            edges.push({ t: unquote(m[1]), h: unquote(m[2]), class: a.class, label: a.label });
        }
    }
    for (const m of text.matchAll(new RegExp(`^\\t+${name}\\t\\[([^\\]]*)\\]`, 'gm'))) {
        const n = unquote(m[1]);
        if (!n.startsWith('legend_')) {
            nodes.set(n, attrs(m[2]));
        }
    }
    for (const m of text.matchAll(/subgraph (cluster_cluster_\S+) \{([^}]*)\}/g)) {
        const members = [...m[2].matchAll(new RegExp(`^\\t+${name}\\t\\[`, 'gm'))]
            .map((x) => unquote(x[1]));
        boxes.set(m[1].replace('cluster_cluster_', ''), members.sort());
    }
    return { nodes, edges, boxes };
}

const url = (m) => `http://127.0.0.1:${m.httpPort}`;
const edgesOf = (g, cls) => g.edges.filter((e) => e.class === cls);
const pairs = (es) => es.map((e) => `${e.t} -> ${e.h}`).sort();

for (const k of KINDS) {
    describe(`meridian-topo live: supercluster of ${k.kind}`, { skip: k.skip }, () => {
        const hold = superClusterFixture([
            { name: 'A', size: 2, bins: [k.bin, k.bin] },
            { name: 'B', size: 1, bins: [k.bin] },
        ]);

        test('every server seeded: boxed clusters, the route and each outbound gateway', T,
            async () => {
                const sc = hold.current;
                const seeds = sc.members.map(url);
                const r = await topo(['-T', 'canon', ...seeds]);
                assert.equal(r.code, 0, r.stderr);
                const g = parseCanon(r.stdout);
                assert.deepEqual([...g.nodes.keys()].sort(), ['a1', 'a2', 'b1']);
                assert.deepEqual(g.boxes.get('A'), ['a1', 'a2']);
                assert.deepEqual(g.boxes.get('B'), ['b1']);
                assert.deepEqual(pairs(edgesOf(g, 'route')), ['a1 -> a2']);
                const gw = pairs(edgesOf(g, 'gateway'));
                assert.equal(gw.length, 3, gw.join(', '));
                assert.ok(gw.includes('a1 -> b1') && gw.includes('a2 -> b1'), gw.join(', '));
                assert.ok(gw.includes('b1 -> a1') || gw.includes('b1 -> a2'), gw.join(', '));
                for (const n of g.nodes.values()) {
                    assert.match(n.label, k.kind === 'nats-server' ? /nats-server 2\./
                        : /(meridian|nats)-server /);
                    assert.equal(n.class, 'server');
                }
                // The same deployment drawn twice: the same nodes and edges.
                const again = parseCanon((await topo(['-T', 'canon', ...seeds])).stdout);
                assert.deepEqual(pairs(again.edges), pairs(g.edges));
            });

        test('one seed: the peers it reports are drawn dashed in their clusters', T, async () => {
            const sc = hold.current;
            const a1 = sc.server('a1');
            const r = await topo(['-T', 'canon', url(a1)]);
            assert.equal(r.code, 0, r.stderr);
            const g = parseCanon(r.stdout);
            const a2id = sc.server('a2').serverId;
            const b1id = sc.server('b1').serverId;
            assert.ok(a2id && b1id, 'server ids known from /varz');
            assert.deepEqual([...g.nodes.keys()].sort(), ['a1', a2id, b1id].sort());
            assert.equal(g.nodes.get(a2id).class, 'server external');
            assert.deepEqual(g.boxes.get('A'), ['a1', a2id].sort());
            assert.deepEqual(g.boxes.get('B'), [b1id]);
            assert.deepEqual(pairs(edgesOf(g, 'route')), [[a2id, 'a1'].sort().join(' -> ')]);
            const gw = pairs(edgesOf(g, 'gateway'));
            assert.ok(gw.includes(`a1 -> ${b1id}`), gw.join(', '));
        });

        test('svg output renders', T, async () => {
            const seeds = hold.current.members.map(url);
            const r = await topo(['-T', 'svg', ...seeds]);
            assert.equal(r.code, 0, r.stderr);
            assert.match(r.stdout, /^<\?xml/);
            assert.match(r.stdout, /<svg[\s\S]*<\/svg>\s*$/);
            assert.match(r.stdout, /class="edge gateway"/);
        });
    });

    describe(`meridian-topo live: hub and leaf of ${k.kind}`, { skip: k.skip }, () => {
        const hold = leafFixture({ hubBin: k.bin, leafBins: [k.bin] });

        test('both seeded: the leaf edge to the hub carries the account', T, async () => {
            const t = hold.current;
            const r = await topo(['-T', 'canon', url(t.hub), url(t.leafs[0])]);
            assert.equal(r.code, 0, r.stderr);
            const g = parseCanon(r.stdout);
            assert.deepEqual([...g.nodes.keys()].sort(), ['hub', 'leaf1']);
            const leaf = edgesOf(g, 'leaf');
            assert.deepEqual(pairs(leaf), ['leaf1 -> hub']);
            assert.equal(leaf[0].label, 'LEAF');
        });

        test('the hub alone: the leaf it reports is drawn by its address', T, async () => {
            const t = hold.current;
            const r = await topo(['-T', 'canon', url(t.hub)]);
            assert.equal(r.code, 0, r.stderr);
            const g = parseCanon(r.stdout);
            const leaf = edgesOf(g, 'leaf');
            assert.equal(leaf.length, 1, JSON.stringify(g.edges));
            assert.match(leaf[0].t, /^leaf 127\.0\.0\.1:\d+$/);
            assert.equal(leaf[0].h, 'hub');
            assert.equal(leaf[0].label, 'LEAF');
            assert.equal(g.nodes.get(leaf[0].t).class, 'server external');
        });
    });
}

for (const k of KINDS) {
    const noJs = !k.skip && !isNatsServer(k.bin)
        ? 'JetStream is not served by this server yet (no /jsz)' : false;
    describe(`meridian-topo live: JetStream streams on ${k.kind}`, { skip: k.skip || noJs }, () => {
        const hold = { srv: null, http: null, dir: null };
        before(async () => {
            hold.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topo-js-'));
            hold.http = await reservePort();
            hold.srv = await startServer(['-m', String(hold.http.port)], {
                bin: k.bin,
                config: `server_name: js1\njetstream { store_dir: "${hold.dir}" }\n`,
            });
            const nc = await connect({ servers: hold.srv.url, timeout: 3000 });
            try {
                const jsm = await nc.jetstreamManager();
                await jsm.streams.add({ name: 'ORDERS', subjects: ['orders.>'] });
                await jsm.streams.add({ name: 'COPY', mirror: { name: 'ORDERS' } });
                await jsm.streams.add({ name: 'ALL', sources: [{ name: 'ORDERS' }] });
            } finally {
                await nc.close();
            }
        }, { timeout: 20000 });
        after(async () => {
            if (hold.srv) {
                await hold.srv.stop();
            }
            if (hold.http) {
                hold.http.release();
            }
            if (hold.dir) {
                fs.rmSync(hold.dir, { recursive: true, force: true });
            }
        }, { timeout: 20000 });

        test('streams, their leader, the mirror and the source are drawn', T, async () => {
            const r = await topo(['-T', 'canon', `http://${HOST}:${hold.http.port}`]);
            assert.equal(r.code, 0, r.stderr);
            const g = parseCanon(r.stdout);
            const streams = [...g.nodes.keys()].filter((n) => n.startsWith('stream:')).sort();
            assert.deepEqual(streams, ['stream:$G/ALL', 'stream:$G/COPY', 'stream:$G/ORDERS']);
            assert.match(g.nodes.get('stream:$G/ORDERS').label, /R1, leader js1/);
            assert.deepEqual(pairs(edgesOf(g, 'stream-leader')),
                ['stream:$G/ALL -> js1', 'stream:$G/COPY -> js1', 'stream:$G/ORDERS -> js1']);
            assert.deepEqual(pairs(edgesOf(g, 'mirror')), ['stream:$G/ORDERS -> stream:$G/COPY']);
            assert.deepEqual(pairs(edgesOf(g, 'source')), ['stream:$G/ORDERS -> stream:$G/ALL']);
            assert.match(g.nodes.get('js1').label, /JetStream/);
        });
    });
}

test('an unreachable seed is a clear error', T, async () => {
    const r0 = await reservePort(); // held, never listened on
    try {
        const seed = `http://127.0.0.1:${r0.port}`;
        const r = await topo(['-T', 'svg', seed]);
        assert.equal(r.code, 1);
        assert.equal(r.stdout, '');
        assert.match(r.stderr, new RegExp(`^meridian-topo: ${seed}/varz: connect: `));
    } finally {
        r0.release();
    }
});
