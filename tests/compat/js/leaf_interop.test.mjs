// SPDX-License-Identifier: Apache-2.0
//
// Leaf nodes between kinds of servers: the server under test (MERIDIAN_SERVER) as the
// leaf of a nats-server hub (NATS_SERVER, default /usr/sbin/nats-server), and a
// nats-server leaf of a hub under test (lib/leaf.mjs; account LEAF bound by the remote's
// credentials). In each layout: messages both ways once each, queue groups (each side's
// own member preferred; far-side members only: messages cross once), request/reply both
// ways, and the hub stopped and restarted (the leaf reconnects and cross traffic resumes
// without duplicates). When MERIDIAN_SERVER is nats-server itself these are plain
// nats-server pairs, which is how the tests were checked. Skipped, saying so, when
// nats-server is not installed.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import test, { afterEach, beforeEach, describe } from 'node:test';

import { awaitInterest } from '../lib/cluster.mjs';
import {
    LeafConns, crossOnce, enc, flushAll, leafFixture, requestReply, str, until,
} from '../lib/leaf.mjs';
import { serverBin, sleep } from '../lib/server.mjs';

const T = { timeout: 30000 };
const QUIET_MS = 250;
const NATS = process.env.NATS_SERVER || '/usr/sbin/nats-server';
const UNDER = serverBin();
const skip = fs.existsSync(NATS) ? false
    : `nats-server not found at ${NATS} (apt-get install nats-server, or set NATS_SERVER)`;

const LAYOUTS = [
    { title: 'leaf under test -> nats-server hub', hubBin: NATS, leafBins: [UNDER] },
    { title: 'nats-server leaf -> hub under test', hubBin: UNDER, leafBins: [NATS] },
];

function gather(nc, subject, opts = {}) {
    const got = [];
    nc.subscribe(subject, { ...opts, callback: (_, m) => got.push(str(m)) });
    return got;
}

for (const layout of LAYOUTS) {
    describe(layout.title, { skip }, () => {
        const hold = leafFixture({ hubBin: layout.hubBin, leafBins: layout.leafBins });
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
            for (const [from, to, subject] of [[leaf(), hub(), 'li.up'],
                [hub(), leaf(), 'li.down']]) {
                const { got, want } = await crossOnce(h.c, from, to, subject, { n: 100 });
                assert.deepEqual(got, want, `${from.describe()} -> ${to.describe()}`);
            }
        });

        test('request/reply both ways', T, async () => {
            const up = await requestReply(h.c, leaf(), hub(), 'li.svc.up');
            assert.deepEqual(up.answers, Array.from({ length: 10 }, (_, i) => `re:${i}:hub`));
            const down = await requestReply(h.c, hub(), leaf(), 'li.svc.down');
            assert.deepEqual(down.answers,
                Array.from({ length: 10 }, (_, i) => `re:${i}:leaf1`));
        });

        test('queue group with a member on each side: each side\'s publishes stay on it', T,
            async () => {
                const qHubNc = await h.c.open(hub());
                const qLeafNc = await h.c.open(leaf());
                const qHub = gather(qHubNc, 'li.q.both', { queue: 'w' });
                const qLeaf = gather(qLeafNc, 'li.q.both', { queue: 'w' });
                const pubHub = await h.c.open(hub());
                const pubLeaf = await h.c.open(leaf());
                await awaitInterest(pubHub, [qLeafNc]);
                await awaitInterest(pubLeaf, [qHubNc]);
                for (let i = 0; i < 100; i++) {
                    pubHub.publish('li.q.both', enc(`h${i}`));
                    pubLeaf.publish('li.q.both', enc(`l${i}`));
                }
                await flushAll([pubHub, pubLeaf], [qHubNc, qLeafNc]);
                await until(() => qHub.length + qLeaf.length >= 200, 5000,
                    () => `200 queue messages (hub ${qHub.length}, leaf ${qLeaf.length})`);
                await sleep(QUIET_MS);
                const all = [...qHub, ...qLeaf];
                assert.equal(all.length, 200, 'each message exactly once');
                assert.equal(new Set(all).size, 200, 'no duplicates');
                assert.deepEqual([qHub.filter((p) => p[0] === 'h').length,
                    qLeaf.filter((p) => p[0] === 'l').length], [100, 100],
                `hub member got ${qHub.length}, leaf member got ${qLeaf.length}; ` +
                    'each side\'s own member should get all of its side\'s messages');
            });

        test('queue group with members only on the other side: messages cross once', T,
            async () => {
                const farLeaf = [await h.c.open(leaf()), await h.c.open(leaf())];
                const farHub = [await h.c.open(hub()), await h.c.open(hub())];
                const down = farLeaf.map((nc) => gather(nc, 'li.q.down', { queue: 'd' }));
                const up = farHub.map((nc) => gather(nc, 'li.q.up', { queue: 'u' }));
                const pubHub = await h.c.open(hub());
                const pubLeaf = await h.c.open(leaf());
                await awaitInterest(pubHub, farLeaf);
                await awaitInterest(pubLeaf, farHub);
                for (let i = 0; i < 100; i++) {
                    pubHub.publish('li.q.down', enc(`d${i}`));
                    pubLeaf.publish('li.q.up', enc(`u${i}`));
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

        test('UNSUB on either side stops the sending across', T, async () => {
            for (const [subSide, pubSide, subject] of [[leaf(), hub(), 'li.un.down'],
                [hub(), leaf(), 'li.un.up']]) {
                const pub = await h.c.open(pubSide);
                const subNc = await h.c.open(subSide);
                const got = [];
                const sub = subNc.subscribe(subject, { callback: (_, m) => got.push(str(m)) });
                const markNc = await h.c.open(subSide);
                const mark = gather(markNc, `${subject}.mark`);
                await awaitInterest(pub, [subNc, markNc]);
                pub.publish(subject, enc('before'));
                await until(() => got.length >= 1, 5000, `${subject}: message before UNSUB`);
                sub.unsubscribe();
                await flushAll([subNc], []);
                await awaitInterest(pub, [subNc]);
                const lz0 = await hub().leafz();
                for (let i = 0; i < 50; i++) {
                    pub.publish(subject, enc(`after${i}`));
                }
                pub.publish(`${subject}.mark`, enc('mark'));
                await flushAll([pub], [markNc]);
                await until(() => mark.length >= 1, 5000, `${subject}: marker after UNSUB`);
                await sleep(QUIET_MS);
                assert.deepEqual(got, ['before'], `${subject}: nothing after UNSUB`);
                const lz1 = await hub().leafz();
                if (lz0 && lz1) {
                    // Hub -> leaf: the hub's out_msgs; leaf -> hub: its in_msgs.
                    const key = subSide === leaf() ? 'out_msgs' : 'in_msgs';
                    const moved = lz1.leafs[0][key] - lz0.leafs[0][key];
                    assert.ok(moved >= 1 && moved <= 3, `${subject}: ${moved} messages ` +
                        `crossed the leaf connection (${key} on the hub) after UNSUB, want ` +
                        'the marker only');
                }
            }
        });

        test('hub stopped and restarted: the leaf reconnects, traffic resumes, no duplicates',
            { timeout: 45000 }, async (t) => {
                const topo = hold.current;
                const pub = await h.c.open(leaf());
                const localNc = await h.c.open(leaf());
                const local = gather(localNc, 'li.rs.local');
                await topo.stopHub();
                for (let i = 0; i < 20; i++) {
                    pub.publish('li.rs.local', enc(`l${i}`));
                }
                await flushAll([pub], [localNc]);
                await until(() => local.length >= 20, 5000,
                    () => `local delivery on the leaf with the hub down (${local.length}/20)`);
                const t0 = Date.now();
                await topo.startHub();
                const hubSubNc = await h.c.open(topo.hub);
                const atHub = gather(hubSubNc, 'li.rs.up');
                const leafSubNc = await h.c.open(leaf());
                const atLeaf = gather(leafSubNc, 'li.rs.down');
                const hubPub = await h.c.open(topo.hub);
                await awaitInterest(pub, [hubSubNc], 10000);
                await awaitInterest(hubPub, [leafSubNc], 10000);
                const relinkMs = Date.now() - t0;
                t.diagnostic(`hub restart to cross traffic both ways: ${relinkMs} ms`);
                for (let i = 0; i < 50; i++) {
                    pub.publish('li.rs.up', enc(`u${i}`));
                    hubPub.publish('li.rs.down', enc(`d${i}`));
                }
                await flushAll([pub, hubPub], [hubSubNc, leafSubNc]);
                await until(() => atHub.length >= 50 && atLeaf.length >= 50, 5000,
                    () => `traffic after the restart (hub ${atHub.length}, leaf ${atLeaf.length})`);
                await sleep(QUIET_MS);
                assert.deepEqual(atHub, Array.from({ length: 50 }, (_, i) => `u${i}`));
                assert.deepEqual(atLeaf, Array.from({ length: 50 }, (_, i) => `d${i}`));
                assert.equal(local.length, 20, 'local messages: once each');
            });
    });
}
