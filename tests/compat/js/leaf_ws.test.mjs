// SPDX-License-Identifier: Apache-2.0
//
// Leaf links over WebSocket and TLS (lib/leaf.mjs topologies; account LEAF bound by the
// remote's credentials), each in three layouts: the server under test on both ends, a
// leaf under test on a nats-server hub, and a nats-server leaf on a hub under test
// (NATS_SERVER, default /usr/sbin/nats-server; those two are skipped without it).
// Transports:
//   ws   the hub's websocket { no_tls: true }, the remote's URL ws://leaf:leaf@...
//        (the spoke upgrades on "/leafnode" and masks its frames);
//   ws-no-masking  the same, the remote asking ws_no_masking (the hub grants it);
//   ws-compression  the hub's websocket { compression: true } and the remote's
//        ws_compression: true (permessage-deflate both ways);
//   wss  the hub's websocket { tls {} }, the remote's URL wss:// with tls { ca_file };
//   tls  the hub's leafnodes { tls {} }, the remote's URL nats:// with tls { ca_file }.
// In each: messages both ways once each and in order, a queue group with members only
// on the far side (each message crosses once), one with a member on each side (each
// side's own member preferred), request/reply both ways. Then: a hub with one leaf
// over ws:// and one over nats:// (east-west once), and leafnodes authorization users
// applied to a leaf that came over WebSocket. When MERIDIAN_SERVER is nats-server these
// are plain nats-server pairs, which is how the tests were checked.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import test, { afterEach, beforeEach, describe } from 'node:test';

import { awaitInterest } from '../lib/cluster.mjs';
import { makeCerts } from '../lib/certs.mjs';
import {
    LeafConns, crossOnce, enc, flushAll, leafFixture, requestReply, str, until,
} from '../lib/leaf.mjs';
import { HOST, serverBin, sleep } from '../lib/server.mjs';

const T = { timeout: 30000 };
const QUIET_MS = 250;
const NATS = process.env.NATS_SERVER || '/usr/sbin/nats-server';
const UNDER = serverBin();
const noNats = fs.existsSync(NATS) ? false
    : `nats-server not found at ${NATS} (apt-get install nats-server, or set NATS_SERVER)`;

const certs = makeCerts();
process.on('exit', () => certs.remove());

const LAYOUTS = [
    { title: 'under test on both ends', hubBin: UNDER, leafBins: [UNDER], skip: false },
    { title: 'leaf under test -> nats-server hub', hubBin: NATS, leafBins: [UNDER], skip: noNats },
    { title: 'nats-server leaf -> hub under test', hubBin: UNDER, leafBins: [NATS], skip: noNats },
];

const CRED = 'leaf:leaf';
const serverTls = `tls { cert_file: "${certs.serverCert}", key_file: "${certs.serverKey}" }`;
const remoteTls = `      tls { ca_file: "${certs.ca}" }`;
const wsBlock = (hub, extra) => `websocket {\n  listen: "${HOST}:${hub.wsPort}"\n  ${extra}\n}`;

/** Topology options per transport (see the file comment). */
const TRANSPORTS = {
    ws: {
        hubPorts: ['wsPort'],
        extraLines: (m) => (m.role === 'hub' ? [wsBlock(m, 'no_tls: true')] : []),
        remoteUrl: (leaf, hub) => `ws://${CRED}@${HOST}:${hub.wsPort}`,
    },
    'ws-no-masking': {
        hubPorts: ['wsPort'],
        extraLines: (m) => (m.role === 'hub' ? [wsBlock(m, 'no_tls: true')] : []),
        remoteUrl: (leaf, hub) => `ws://${CRED}@${HOST}:${hub.wsPort}`,
        remoteLines: () => ['      ws_no_masking: true'],
    },
    'ws-compression': {
        hubPorts: ['wsPort'],
        extraLines: (m) => (m.role === 'hub' ? [wsBlock(m, 'no_tls: true\n  compression: true')]
            : []),
        remoteUrl: (leaf, hub) => `ws://${CRED}@${HOST}:${hub.wsPort}`,
        remoteLines: () => ['      ws_compression: true'],
    },
    wss: {
        hubPorts: ['wsPort'],
        extraLines: (m) => (m.role === 'hub' ? [wsBlock(m, serverTls)] : []),
        remoteUrl: (leaf, hub) => `wss://${CRED}@${HOST}:${hub.wsPort}`,
        remoteLines: () => [remoteTls],
    },
    tls: {
        hubLeafLines: () => [`  ${serverTls}`],
        remoteLines: () => [remoteTls],
    },
};

function gather(nc, subject, opts = {}) {
    const got = [];
    nc.subscribe(subject, { ...opts, callback: (_, m) => got.push(str(m)) });
    return got;
}

for (const [name, transport] of Object.entries(TRANSPORTS)) {
    for (const layout of LAYOUTS) {
        describe(`${name}: ${layout.title}`, { skip: layout.skip }, () => {
            const hold = leafFixture({ hubBin: layout.hubBin, leafBins: layout.leafBins,
                ...transport });
            const h = { c: null };
            beforeEach(() => {
                h.c = new LeafConns();
            });
            afterEach(async () => {
                await h.c.closeAll();
                hold.current?.checkAlive();
            });
            const hub = () => hold.current.hub;
            const leaf = () => hold.current.leafs[0];

            test('leaf -> hub and hub -> leaf: every message once, in order', T, async () => {
                for (const [from, to, subject] of [[leaf(), hub(), 'lw.up'],
                    [hub(), leaf(), 'lw.down']]) {
                    const { got, want } = await crossOnce(h.c, from, to, subject, { n: 100 });
                    assert.deepEqual(got, want, `${from.describe()} -> ${to.describe()}`);
                }
            });

            test('a large message crosses intact', T, async () => {
                // Several WebSocket frames' worth, so masking and framing cover a long
                // payload in both directions.
                const big = 'x'.repeat(200 * 1024);
                for (const [from, to, subject] of [[leaf(), hub(), 'lw.big.up'],
                    [hub(), leaf(), 'lw.big.down']]) {
                    const pub = await h.c.open(from);
                    const sub = await h.c.open(to);
                    const got = gather(sub, subject);
                    await awaitInterest(pub, [sub]);
                    pub.publish(subject, enc(big));
                    await flushAll([pub], [sub]);
                    await until(() => got.includes(big), 5000,
                        () => `the 200 KiB message ${from.name} -> ${to.name}`);
                }
            });

            test('queue group with members only on the far side: messages cross once', T,
                async () => {
                    const farLeaf = [await h.c.open(leaf()), await h.c.open(leaf())];
                    const farHub = [await h.c.open(hub()), await h.c.open(hub())];
                    const down = farLeaf.map((nc) => gather(nc, 'lw.q.down', { queue: 'd' }));
                    const up = farHub.map((nc) => gather(nc, 'lw.q.up', { queue: 'u' }));
                    const pubHub = await h.c.open(hub());
                    const pubLeaf = await h.c.open(leaf());
                    await awaitInterest(pubHub, farLeaf);
                    await awaitInterest(pubLeaf, farHub);
                    for (let i = 0; i < 100; i++) {
                        pubHub.publish('lw.q.down', enc(`d${i}`));
                        pubLeaf.publish('lw.q.up', enc(`u${i}`));
                    }
                    await flushAll([pubHub, pubLeaf], [...farLeaf, ...farHub]);
                    const n = (a) => a[0].length + a[1].length;
                    await until(() => n(down) >= 100 && n(up) >= 100, 5000,
                        () => `100 each way (down ${n(down)}, up ${n(up)})`);
                    await sleep(QUIET_MS);
                    assert.equal(n(down), 100, 'hub -> leaf members: once each');
                    assert.equal(new Set([...down[0], ...down[1]]).size, 100);
                    assert.equal(n(up), 100, 'leaf -> hub members: once each');
                    assert.equal(new Set([...up[0], ...up[1]]).size, 100);
                });

            test('queue group with a member on each side: each side\'s publishes stay on it',
                T, async () => {
                    const qHubNc = await h.c.open(hub());
                    const qLeafNc = await h.c.open(leaf());
                    const qHub = gather(qHubNc, 'lw.q.both', { queue: 'w' });
                    const qLeaf = gather(qLeafNc, 'lw.q.both', { queue: 'w' });
                    const pubHub = await h.c.open(hub());
                    const pubLeaf = await h.c.open(leaf());
                    await awaitInterest(pubHub, [qLeafNc]);
                    await awaitInterest(pubLeaf, [qHubNc]);
                    for (let i = 0; i < 50; i++) {
                        pubHub.publish('lw.q.both', enc(`h${i}`));
                        pubLeaf.publish('lw.q.both', enc(`l${i}`));
                    }
                    await flushAll([pubHub, pubLeaf], [qHubNc, qLeafNc]);
                    await until(() => qHub.length + qLeaf.length >= 100, 5000,
                        () => `100 queue messages (hub ${qHub.length}, leaf ${qLeaf.length})`);
                    await sleep(QUIET_MS);
                    assert.equal(qHub.length + qLeaf.length, 100, 'each message exactly once');
                    assert.deepEqual([qHub.filter((p) => p[0] === 'h').length,
                        qLeaf.filter((p) => p[0] === 'l').length], [50, 50]);
                });

            test('request/reply both ways', T, async () => {
                const up = await requestReply(h.c, leaf(), hub(), 'lw.svc.up');
                assert.deepEqual(up.answers, Array.from({ length: 10 }, (_, i) => `re:${i}:hub`));
                const down = await requestReply(h.c, hub(), leaf(), 'lw.svc.down');
                assert.deepEqual(down.answers,
                    Array.from({ length: 10 }, (_, i) => `re:${i}:leaf1`));
            });
        });
    }
}

describe('a hub with one leaf over ws:// and one over nats://', () => {
    const hold = leafFixture({
        leafs: 2,
        hubPorts: ['wsPort'],
        extraLines: (m) => (m.role === 'hub' ? [wsBlock(m, 'no_tls: true')] : []),
        remoteUrl: (leaf, hub) => (leaf.index === 0 ? `ws://${CRED}@${HOST}:${hub.wsPort}`
            : `nats://${CRED}@${HOST}:${hub.leafPort}`),
    });
    const h = { c: null };
    beforeEach(() => {
        h.c = new LeafConns();
    });
    afterEach(async () => {
        await h.c.closeAll();
        hold.current?.checkAlive();
    });

    test('east-west both ways, once each', T, async () => {
        const [ws, tcp] = hold.current.leafs;
        for (const [from, to, subject] of [[ws, tcp, 'lw.ew.a'], [tcp, ws, 'lw.ew.b']]) {
            const { got, want } = await crossOnce(h.c, from, to, subject, { n: 50 });
            assert.deepEqual(got, want, `${from.name} -> ${to.name}`);
        }
    });
});

for (const layout of LAYOUTS) {
    describe(`leafnodes authorization users over ws: ${layout.title}`, { skip: layout.skip },
        () => {
            // The hub binds the link by leafnodes { authorization { users } }, not by the
            // server's users (user lw exists only there).
            const hold = leafFixture({
                hubBin: layout.hubBin,
                leafBins: layout.leafBins,
                hubPorts: ['wsPort'],
                hubLeafLines: () => ['  authorization { users: [ ' +
                    '{ user: "lw", password: "lwpass", account: "LEAF" } ] }'],
                extraLines: (m) => (m.role === 'hub' ? [wsBlock(m, 'no_tls: true')] : []),
                remoteUrl: (leaf, hub) => `ws://lw:lwpass@${HOST}:${hub.wsPort}`,
            });
            const h = { c: null };
            beforeEach(() => {
                h.c = new LeafConns();
            });
            afterEach(async () => {
                await h.c.closeAll();
                hold.current?.checkAlive();
            });

            test('the link binds account LEAF: messages both ways', T, async () => {
                const { hub, leafs: [leaf] } = hold.current;
                for (const [from, to, subject] of [[leaf, hub, 'lw.auth.up'],
                    [hub, leaf, 'lw.auth.down']]) {
                    const { got, want } = await crossOnce(h.c, from, to, subject, { n: 20 });
                    assert.deepEqual(got, want, `${from.name} -> ${to.name}`);
                }
            });
        });
}
