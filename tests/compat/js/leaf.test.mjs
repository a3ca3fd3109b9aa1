// SPDX-License-Identifier: Apache-2.0
//
// Leaf nodes with nats.js: a hub and one leaf of the server under test (lib/leaf.mjs),
// the leaf's account LEAF bound to the hub's account LEAF by the remote's credentials.
// Messages both ways in the bound account, once each; account scoping (the hub's $G and
// SYS see none of it, the leaf's $G stays home); request/reply both ways; queue groups
// with members on both sides (each side's own member is preferred) and on the far side
// only (messages cross); wildcard interest; headers; UNSUB removing the interest (the
// hub stops sending, seen on /leafz out_msgs); a client CONNECT on the leafnodes port;
// the hub stopped (the leaf's local traffic keeps flowing) and restarted (cross traffic
// resumes, no duplicates); two leafs on one hub (east-west, no echo).
//
// Every subject is unique to its test. Cross-link delivery waits for the interest to
// cross first (awaitInterest), as a client of a real leaf node would have to.

import assert from 'node:assert/strict';
import test, { afterEach, beforeEach, describe } from 'node:test';
import { headers } from 'nats';

import { awaitInterest } from '../lib/cluster.mjs';
import { RawClient } from '../lib/raw.mjs';
import {
    LeafConns, crossOnce, enc, flushAll, leafFixture, requestReply, str, until,
} from '../lib/leaf.mjs';
import { connectTo } from '../lib/client.mjs';
import { HOST, sleep } from '../lib/server.mjs';

const T = { timeout: 30000 };
const QUIET_MS = 250;     // proof that no (further) message arrives

/** Connections per test, closed after it; servers checked alive after each test. */
function perTest(hold) {
    const h = { c: null };
    beforeEach(() => {
        h.c = new LeafConns();
    });
    afterEach(async () => {
        await h.c.closeAll();
        hold.current?.checkAlive();
    });
    return h;
}

/** Collects payloads of a subscription into an array. */
function gather(nc, subject, opts = {}) {
    const got = [];
    const sub = nc.subscribe(subject, { ...opts, callback: (_, m) => got.push(str(m)) });
    return { got, sub };
}

/** The hub's leaf connection entry in /leafz?subs=1 (the only one), or null. */
async function hubLeafEntry(topo) {
    const lz = await topo.hub.leafz('?subs=1');
    if (lz === null) {
        return null;
    }
    assert.equal(lz.leafs.length, 1, `hub /leafz has ${lz.leafs.length} leafs, want 1`);
    return lz.leafs[0];
}

describe('hub and one leaf (account LEAF bound)', () => {
    const hold = leafFixture({ leafs: 1 });
    const h = perTest(hold);
    const hub = () => hold.current.hub;
    const leaf = () => hold.current.leafs[0];

    test('leaf -> hub: every message once, in order', T, async () => {
        const { got, want } = await crossOnce(h.c, leaf(), hub(), 'lf.up');
        assert.deepEqual(got, want);
    });

    test('hub -> leaf: every message once, in order', T, async () => {
        const { got, want } = await crossOnce(h.c, hub(), leaf(), 'lf.down');
        assert.deepEqual(got, want);
    });

    test('a local subscriber and one across the link each get a message once', T, async () => {
        const pub = await h.c.open(leaf());
        const near = gather(await h.c.open(leaf()), 'lf.both');
        const farNc = await h.c.open(hub());
        const far = gather(farNc, 'lf.both');
        await awaitInterest(pub, [farNc]);
        for (let i = 0; i < 20; i++) {
            pub.publish('lf.both', enc(String(i)));
        }
        await until(() => near.got.length >= 20 && far.got.length >= 20, 5000,
            () => `20 messages each (leaf ${near.got.length}, hub ${far.got.length})`);
        await sleep(QUIET_MS);
        assert.equal(near.got.length, 20, 'leaf subscriber: no duplicates');
        assert.equal(far.got.length, 20, 'hub subscriber: no duplicates');
    });

    test('account scoping: the hub\'s $G and SYS do not see LEAF traffic', T, async () => {
        const pub = await h.c.open(leaf());
        const inLeafNc = await h.c.open(hub());
        const inLeaf = gather(inLeafNc, 'lf.scope');
        const inG = gather(await h.c.open(hub(), '$G'), 'lf.scope');
        const inSys = gather(await h.c.open(hub(), 'SYS'), 'lf.scope');
        await awaitInterest(pub, [inLeafNc]);
        for (let i = 0; i < 10; i++) {
            pub.publish('lf.scope', enc(String(i)));
        }
        await until(() => inLeaf.got.length >= 10, 5000, 'LEAF subscriber on the hub');
        await sleep(QUIET_MS);
        assert.equal(inLeaf.got.length, 10);
        assert.deepEqual(inG.got, [], 'hub $G subscriber got LEAF messages');
        assert.deepEqual(inSys.got, [], 'hub SYS subscriber got LEAF messages');
    });

    test('account scoping: the leaf\'s $G and the hub\'s $G stay on their side', T, async () => {
        // Subscribers in every account on both sides; each side's $G publishes, then a
        // LEAF marker that crosses proves the link carried what it would carry.
        const leafG = await h.c.open(leaf(), '$G');
        const hubG = await h.c.open(hub(), '$G');
        const leafLeaf = await h.c.open(leaf());
        const hubLeaf = await h.c.open(hub());
        const subs = {
            leafG: gather(leafG, 'lf.g.>'),
            hubG: gather(hubG, 'lf.g.>'),
            leafLeaf: gather(leafLeaf, 'lf.g.>'),
            hubLeaf: gather(hubLeaf, 'lf.g.>'),
        };
        await awaitInterest(leafLeaf, [hubLeaf]);
        await awaitInterest(hubLeaf, [leafLeaf]);
        for (let i = 0; i < 5; i++) {
            leafG.publish('lf.g.fromleaf', enc(`leafG${i}`));
            hubG.publish('lf.g.fromhub', enc(`hubG${i}`));
        }
        await flushAll([leafG, hubG], []);
        leafLeaf.publish('lf.g.marker', enc('m1'));
        hubLeaf.publish('lf.g.marker', enc('m2'));
        await until(() => subs.leafLeaf.got.length >= 2 && subs.hubLeaf.got.length >= 2, 5000,
            'LEAF markers on both sides');
        await sleep(QUIET_MS);
        assert.deepEqual(subs.leafG.got, ['leafG0', 'leafG1', 'leafG2', 'leafG3', 'leafG4'],
            'leaf $G gets its own $G messages only');
        assert.deepEqual(subs.hubG.got, ['hubG0', 'hubG1', 'hubG2', 'hubG3', 'hubG4'],
            'hub $G gets its own $G messages only');
        assert.deepEqual(subs.leafLeaf.got.sort(), ['m1', 'm2'], 'leaf LEAF: markers only');
        assert.deepEqual(subs.hubLeaf.got.sort(), ['m1', 'm2'], 'hub LEAF: markers only');
    });

    test('request/reply: leaf -> responder on the hub', T, async () => {
        const { answers, served } = await requestReply(h.c, leaf(), hub(), 'lf.svc.up');
        assert.deepEqual(answers, Array.from({ length: 10 }, (_, i) => `re:${i}:hub`));
        assert.equal(served, 10);
    });

    test('request/reply: hub -> responder on the leaf', T, async () => {
        const { answers, served } = await requestReply(h.c, hub(), leaf(), 'lf.svc.down');
        assert.deepEqual(answers, Array.from({ length: 10 }, (_, i) => `re:${i}:leaf1`));
        assert.equal(served, 10);
    });

    test('request/reply: the first request of fresh connections crosses', T, async () => {
        const svc = await h.c.open(hub());
        svc.subscribe('lf.svc.fresh', { callback: (_, m) => m.respond(enc(`re:${str(m)}`)) });
        const probe = await h.c.open(leaf());
        await awaitInterest(probe, [svc]);
        for (let i = 0; i < 3; i++) {
            const client = await h.c.open(leaf());
            const r = await client.request('lf.svc.fresh', enc(`f${i}`), { timeout: 3000 });
            assert.equal(str(r), `re:f${i}`);
        }
    });

    test('queue group with a member on each side: each side\'s publishes stay on it', T,
        async () => {
            const qHubNc = await h.c.open(hub());
            const qLeafNc = await h.c.open(leaf());
            const qHub = gather(qHubNc, 'lf.q.both', { queue: 'workers' });
            const qLeaf = gather(qLeafNc, 'lf.q.both', { queue: 'workers' });
            const pubHub = await h.c.open(hub());
            const pubLeaf = await h.c.open(leaf());
            await awaitInterest(pubHub, [qLeafNc]);
            await awaitInterest(pubLeaf, [qHubNc]);
            for (let i = 0; i < 100; i++) {
                pubHub.publish('lf.q.both', enc(`h${i}`));
                pubLeaf.publish('lf.q.both', enc(`l${i}`));
            }
            await flushAll([pubHub, pubLeaf], [qHubNc, qLeafNc]);
            await until(() => qHub.got.length + qLeaf.got.length >= 200, 5000,
                () => `200 queue messages (hub ${qHub.got.length}, leaf ${qLeaf.got.length})`);
            await sleep(QUIET_MS);
            const all = [...qHub.got, ...qLeaf.got].sort();
            assert.equal(all.length, 200, 'each message exactly once');
            assert.equal(new Set(all).size, 200, 'no duplicates');
            // nats-server 2.9.10: a member that is not behind a leaf connection is preferred,
            // on both sides.
            const from = (got, c) => got.filter((p) => p[0] === c).length;
            assert.deepEqual([from(qHub.got, 'h'), from(qLeaf.got, 'l')], [100, 100],
                `hub member got ${qHub.got.length} (from the leaf ${from(qHub.got, 'l')}), ` +
                `leaf member got ${qLeaf.got.length} (from the hub ${from(qLeaf.got, 'h')})`);
        });

    test('queue group: when the local member leaves, messages go to the far member', T,
        async () => {
            const qHubNc = await h.c.open(hub());
            const qLeafNc = await h.c.open(leaf());
            const qHubSub = qHubNc.subscribe('lf.q.fo', { queue: 'fo' });
            const qLeaf = gather(qLeafNc, 'lf.q.fo', { queue: 'fo' });
            const qHub = [];
            (async () => {
                for await (const m of qHubSub) {
                    qHub.push(str(m));
                }
            })();
            const pub = await h.c.open(hub());
            await awaitInterest(pub, [qLeafNc]);
            for (let i = 0; i < 50; i++) {
                pub.publish('lf.q.fo', enc(`a${i}`));
            }
            await flushAll([pub], [qHubNc, qLeafNc]);
            await until(() => qHub.length + qLeaf.got.length >= 50, 5000,
                () => `50 queue messages (hub ${qHub.length}, leaf ${qLeaf.got.length})`);
            qHubSub.unsubscribe();
            await flushAll([qHubNc], []);
            for (let i = 0; i < 50; i++) {
                pub.publish('lf.q.fo', enc(`b${i}`));
            }
            await flushAll([pub], [qLeafNc]);
            await until(() => qLeaf.got.filter((p) => p[0] === 'b').length >= 50, 5000,
                () => `50 messages at the leaf member after the hub member left ` +
                    `(got ${qLeaf.got.filter((p) => p[0] === 'b').length})`);
            await sleep(QUIET_MS);
            assert.deepEqual([qHub.length, qLeaf.got.filter((p) => p[0] === 'a').length], [50, 0],
                'with both members: all to the hub\'s own member');
            assert.deepEqual(qLeaf.got.filter((p) => p[0] === 'b'),
                Array.from({ length: 50 }, (_, i) => `b${i}`),
                'after the hub member left: all to the leaf member, once, in order');
        });

    test('queue group with members only on the other side: messages cross, once each', T,
        async () => {
            const q1Nc = await h.c.open(leaf());
            const q2Nc = await h.c.open(leaf());
            const q1 = gather(q1Nc, 'lf.q.far', { queue: 'far' });
            const q2 = gather(q2Nc, 'lf.q.far', { queue: 'far' });
            const plainNc = await h.c.open(leaf());
            const plain = gather(plainNc, 'lf.q.far');
            const hq1Nc = await h.c.open(hub());
            const hq1 = gather(hq1Nc, 'lf.q.near', { queue: 'near' });
            const pubHub = await h.c.open(hub());
            const pubLeaf = await h.c.open(leaf());
            await awaitInterest(pubHub, [q1Nc, q2Nc, plainNc]);
            await awaitInterest(pubLeaf, [hq1Nc]);
            for (let i = 0; i < 100; i++) {
                pubHub.publish('lf.q.far', enc(`d${i}`));
                pubLeaf.publish('lf.q.near', enc(`u${i}`));
            }
            await flushAll([pubHub, pubLeaf], [q1Nc, q2Nc, plainNc, hq1Nc]);
            await until(() => q1.got.length + q2.got.length >= 100 && plain.got.length >= 100 &&
                hq1.got.length >= 100, 5000, () => `queue messages (leaf members ` +
                `${q1.got.length}+${q2.got.length}, plain ${plain.got.length}, ` +
                `hub ${hq1.got.length})`);
            await sleep(QUIET_MS);
            const down = [...q1.got, ...q2.got];
            assert.equal(down.length, 100, 'hub -> leaf queue: each message once');
            assert.equal(new Set(down).size, 100, 'hub -> leaf queue: no duplicates');
            assert.equal(plain.got.length, 100, 'plain subscriber next to the queue gets all');
            assert.equal(hq1.got.length, 100, 'leaf -> hub queue: each message once');
            assert.equal(new Set(hq1.got).size, 100);
        });

    test('wildcard interest crosses both ways', T, async () => {
        const leafSubNc = await h.c.open(leaf());
        const star = gather(leafSubNc, 'lf.wc.*.x');
        const gt = gather(leafSubNc, 'lf.wc.>');
        const hubSubNc = await h.c.open(hub());
        const up = gather(hubSubNc, 'lf.wu.*');
        const pubHub = await h.c.open(hub());
        const pubLeaf = await h.c.open(leaf());
        await awaitInterest(pubHub, [leafSubNc]);
        await awaitInterest(pubLeaf, [hubSubNc]);
        for (const s of ['lf.wc.a.x', 'lf.wc.b.y', 'lf.wc.c.x.d', 'lf.wcx.a.x']) {
            pubHub.publish(s, enc(s));
        }
        for (const s of ['lf.wu.a', 'lf.wu.a.b', 'lf.wu']) {
            pubLeaf.publish(s, enc(s));
        }
        await flushAll([pubHub, pubLeaf], [leafSubNc, hubSubNc]);
        await until(() => star.got.length >= 1 && gt.got.length >= 3 && up.got.length >= 1, 5000,
            () => `wildcard deliveries (* ${star.got.length}, > ${gt.got.length}, ` +
                `up ${up.got.length})`);
        await sleep(QUIET_MS);
        assert.deepEqual(star.got, ['lf.wc.a.x']);
        assert.deepEqual(gt.got, ['lf.wc.a.x', 'lf.wc.b.y', 'lf.wc.c.x.d']);
        assert.deepEqual(up.got, ['lf.wu.a']);
    });

    test('headers cross both ways intact', T, async () => {
        for (const [from, to, subject] of [[leaf(), hub(), 'lf.hdr.up'],
            [hub(), leaf(), 'lf.hdr.down']]) {
            const pub = await h.c.open(from);
            const subNc = await h.c.open(to);
            const got = [];
            subNc.subscribe(subject, { callback: (_, m) => got.push(m) });
            await awaitInterest(pub, [subNc]);
            const hd = headers();
            hd.set('X-Leaf', `from ${from.name}`);
            hd.append('X-Multi', 'a');
            hd.append('X-Multi', 'b');
            pub.publish(subject, enc('with headers'), { headers: hd });
            await flushAll([pub], [subNc]);
            await until(() => got.length >= 1, 5000, `headers ${from.name} -> ${to.name}`);
            await sleep(QUIET_MS);
            assert.equal(got.length, 1);
            const m = got[0];
            assert.equal(str(m), 'with headers');
            assert.ok(m.headers, `${from.name} -> ${to.name}: message has no headers`);
            assert.equal(m.headers.get('X-Leaf'), `from ${from.name}`);
            assert.deepEqual(m.headers.values('X-Multi'), ['a', 'b']);
        }
    });

    test('UNSUB on the leaf removes the interest: the hub stops sending', T, async () => {
        const topo = hold.current;
        const pub = await h.c.open(hub());
        const subNc = await h.c.open(leaf());
        const got = [];
        const sub = subNc.subscribe('lf.unsub', { callback: (_, m) => got.push(str(m)) });
        const markNc = await h.c.open(leaf());
        const mark = gather(markNc, 'lf.unsub.mark');
        await awaitInterest(pub, [subNc, markNc]);
        pub.publish('lf.unsub', enc('before'));
        await until(() => got.length >= 1, 5000, 'message before UNSUB');
        const entry = await hubLeafEntry(topo);
        if (entry) {
            assert.ok(entry.subscriptions_list.includes('lf.unsub'),
                `hub /leafz lacks lf.unsub: ${entry.subscriptions_list}`);
        }
        sub.unsubscribe();
        await flushAll([subNc], []);
        // A probe subscribed after the UNSUB on the same connection crosses after its LS-.
        await awaitInterest(pub, [subNc]);
        const before = await hubLeafEntry(topo);
        if (before) {
            assert.ok(!before.subscriptions_list.includes('lf.unsub'),
                `hub /leafz still lists lf.unsub after UNSUB: ${before.subscriptions_list}`);
        }
        for (let i = 0; i < 50; i++) {
            pub.publish('lf.unsub', enc(`after${i}`));
        }
        pub.publish('lf.unsub.mark', enc('mark'));
        await flushAll([pub], [markNc]);
        await until(() => mark.got.length >= 1, 5000, 'marker after UNSUB');
        await sleep(QUIET_MS);
        assert.deepEqual(got, ['before'], 'nothing after UNSUB');
        const afterE = await hubLeafEntry(topo);
        if (before && afterE) {
            // Only the marker crossed (the servers' own $LDS/$SYS traffic is not in LEAF's
            // data path here, but allow a little).
            const sent = afterE.out_msgs - before.out_msgs;
            assert.ok(sent >= 1 && sent <= 3,
                `hub sent ${sent} messages over the leaf connection after UNSUB, want the ` +
                'marker only (50 published without interest)');
        }
    });

    // nats-server 2.9.10 answers a client CONNECT (one with `lang`) on the leafnodes
    // port with this -ERR and closes the connection.
    test('a client CONNECT on the leafnodes port gets -ERR and is closed', T, async () => {
        const raw = await RawClient.open(hold.current.hub.leafPort);
        try {
            assert.ok(Array.isArray(raw.info.leafnode_urls) || raw.info.server_id,
                `leafnodes port INFO: ${raw.infoLine}`);
            await raw.send('CONNECT {"verbose":false,"pedantic":false,"lang":"node",' +
                '"version":"1"}\r\nPING\r\n');
            const closed = await raw.waitClose(3000);
            assert.equal(raw.output(), "-ERR 'attempted to connect to leaf node port'\r\n");
            assert.equal(closed, true, 'closed after the -ERR');
        } finally {
            raw.destroy();
        }
    });

    test('nats.js cannot connect to the leafnodes port', T, async () => {
        await assert.rejects(connectTo({ hostport: `${HOST}:${hold.current.hub.leafPort}` },
            { user: 'leaf', pass: 'leaf' }),
        (e) => /attempted to connect to leaf node port|EPIPE|ECONNRESET/.test(e.message),
        'connect to the leafnodes port');
    });
});

describe('hub stopped and restarted under a leaf', () => {
    const hold = leafFixture({ leafs: 1 });
    const h = perTest(hold);

    test('local traffic on the leaf keeps flowing; cross traffic resumes, no duplicates',
        { timeout: 45000 }, async (t) => {
            const topo = hold.current;
            const leaf = topo.leafs[0];
            const pub = await h.c.open(leaf);
            const localNc = await h.c.open(leaf);
            const local = gather(localNc, 'lf.rs.>');
            const localGNc = await h.c.open(leaf, '$G');
            const localG = gather(localGNc, 'lf.rs.g');
            const pubG = await h.c.open(leaf, '$G');
            const hubNc = await h.c.open(topo.hub);
            const hubSub = gather(hubNc, 'lf.rs.>');
            await awaitInterest(pub, [hubNc]);
            pub.publish('lf.rs.up', enc('before'));
            await until(() => hubSub.got.length >= 1 && local.got.length >= 1, 5000,
                'message before the hub stops');

            await topo.stopHub();
            // Hub down: the leaf still delivers its own traffic, in LEAF and in $G.
            for (let i = 0; i < 20; i++) {
                pub.publish('lf.rs.down', enc(`down${i}`));
                pubG.publish('lf.rs.g', enc(`g${i}`));
                await sleep(25);
            }
            await flushAll([pub, pubG], [localNc, localGNc]);
            await until(() => local.got.length >= 21 && localG.got.length >= 20, 5000,
                () => `local delivery with the hub down (LEAF ${local.got.length - 1}/20, ` +
                    `$G ${localG.got.length}/20)`);

            const t0 = Date.now();
            await topo.startHub();
            const hubNc2 = await h.c.open(topo.hub);
            const hubSub2 = gather(hubNc2, 'lf.rs.up2');
            const leafSubNc = await h.c.open(leaf);
            const leafSub = gather(leafSubNc, 'lf.rs.back');
            const hubPub = await h.c.open(topo.hub);
            // The leaf reconnects on its own (leafnodes reconnect interval, 1 s by default).
            await awaitInterest(pub, [hubNc2], 10000);
            await awaitInterest(hubPub, [leafSubNc], 10000);
            const relinkMs = Date.now() - t0;
            for (let i = 0; i < 30; i++) {
                pub.publish('lf.rs.up2', enc(`up${i}`));
                hubPub.publish('lf.rs.back', enc(`back${i}`));
            }
            await flushAll([pub, hubPub], [hubNc2, leafSubNc, localNc]);
            await until(() => hubSub2.got.length >= 30 && leafSub.got.length >= 30, 5000,
                () => `cross traffic after the restart (hub ${hubSub2.got.length}/30, ` +
                    `leaf ${leafSub.got.length}/30)`);
            await sleep(QUIET_MS);
            t.diagnostic(`hub restart to cross traffic both ways: ${relinkMs} ms`);
            assert.ok(relinkMs < 10000, `relinked after ${relinkMs} ms`);
            assert.deepEqual(hubSub2.got, Array.from({ length: 30 }, (_, i) => `up${i}`),
                'hub after restart: each once, in order, nothing replayed from the outage');
            assert.deepEqual(leafSub.got, Array.from({ length: 30 }, (_, i) => `back${i}`),
                'leaf after restart: each once, in order');
            const downs = local.got.filter((p) => p.startsWith('down'));
            assert.equal(downs.length, 20, 'local LEAF messages during the outage: once each');
            assert.equal(localG.got.length, 20, 'local $G messages during the outage: once each');
            const ups = local.got.filter((p) => p.startsWith('up'));
            assert.equal(ups.length, 30, 'local subscriber after the restart: once each');
            assert.deepEqual(hubSub.got, ['before'], 'old hub connection saw only "before"');
        });
});

describe('leaf stopped and restarted', () => {
    const hold = leafFixture({ leafs: 1 });
    const h = perTest(hold);

    test('the hub drops the leaf\'s interest; the restarted leaf relinks', { timeout: 45000 },
        async () => {
            const topo = hold.current;
            const leaf = topo.leafs[0];
            const pub = await h.c.open(topo.hub);
            const subNc = await h.c.open(leaf);
            const before = gather(subNc, 'lf.ls');
            await awaitInterest(pub, [subNc]);
            pub.publish('lf.ls', enc('before'));
            await until(() => before.got.length >= 1, 5000, 'message before the leaf stops');

            await topo.stopLeaf(0);
            const deadline = Date.now() + 5000;
            for (;;) {
                const lz = await topo.hub.leafz();
                if (lz === null || lz.leafnodes === 0) {
                    break;
                }
                assert.ok(Date.now() < deadline,
                    `hub /leafz still has ${lz.leafnodes} leafnodes 5 s after the leaf stopped`);
                await sleep(50);
            }
            // No leaf: the hub's LEAF clients still talk to each other.
            const localNc = await h.c.open(topo.hub);
            const local = gather(localNc, 'lf.ls');
            await flushAll([localNc], []);
            pub.publish('lf.ls', enc('alone'));
            await flushAll([pub], [localNc]);
            await until(() => local.got.length >= 1, 5000, 'local delivery on the hub');

            await topo.startLeaf(0);
            await topo.waitLinked();
            const subNc2 = await h.c.open(leaf);
            const after = gather(subNc2, 'lf.ls');
            await awaitInterest(pub, [subNc2]);
            for (let i = 0; i < 20; i++) {
                pub.publish('lf.ls', enc(`after${i}`));
            }
            await flushAll([pub], [subNc2]);
            await until(() => after.got.length >= 20, 5000,
                () => `20 messages on the restarted leaf (got ${after.got.length})`);
            await sleep(QUIET_MS);
            assert.deepEqual(after.got, Array.from({ length: 20 }, (_, i) => `after${i}`),
                'restarted leaf: once each, nothing from before');
            assert.equal(local.got.length, 21, 'hub-local subscriber: every message once');
        });
});

describe('two leafs on one hub', () => {
    const hold = leafFixture({ leafs: 2 });
    const h = perTest(hold);

    test('leaf1 -> leaf2 (east-west): once each, never echoed back to leaf1', T, async () => {
        const [l1, l2] = hold.current.leafs;
        const pub = await h.c.open(l1);
        const ownNc = await h.c.open(l1);
        const own = gather(ownNc, 'lf.ew');
        const farNc = await h.c.open(l2);
        const far = gather(farNc, 'lf.ew');
        const hubNc = await h.c.open(hold.current.hub);
        const atHub = gather(hubNc, 'lf.ew');
        await awaitInterest(pub, [farNc, hubNc]);
        // A subscriber on leaf2 also makes leaf1's interest known on the hub; wait for it,
        // so an echo back to leaf1 would have a path.
        await awaitInterest(farNc, [ownNc]);
        for (let i = 0; i < 50; i++) {
            pub.publish('lf.ew', enc(`e${i}`));
        }
        await flushAll([pub], [ownNc, farNc, hubNc]);
        await until(() => own.got.length >= 50 && far.got.length >= 50 && atHub.got.length >= 50,
            5000, () => `50 each (leaf1 ${own.got.length}, leaf2 ${far.got.length}, hub ` +
                `${atHub.got.length})`);
        await sleep(QUIET_MS);
        await flushAll([pub], [ownNc, farNc, hubNc]);
        const want = Array.from({ length: 50 }, (_, i) => `e${i}`);
        assert.deepEqual(far.got, want, 'leaf2: once each, in order');
        assert.deepEqual(atHub.got, want, 'hub: once each, in order');
        assert.deepEqual(own.got, want, 'leaf1: once each (no echo through the hub)');
    });

    test('leaf2 -> leaf1 request/reply through the hub', T, async () => {
        const [l1, l2] = hold.current.leafs;
        const { answers } = await requestReply(h.c, l2, l1, 'lf.ew.svc', 5);
        assert.deepEqual(answers, Array.from({ length: 5 }, (_, i) => `re:${i}:leaf1`));
    });

    test('queue members on both leafs only: a hub publish goes to one of them once', T,
        async () => {
            const [l1, l2] = hold.current.leafs;
            const aNc = await h.c.open(l1);
            const bNc = await h.c.open(l2);
            const a = gather(aNc, 'lf.ew.q', { queue: 'q' });
            const b = gather(bNc, 'lf.ew.q', { queue: 'q' });
            const pub = await h.c.open(hold.current.hub);
            await awaitInterest(pub, [aNc, bNc]);
            for (let i = 0; i < 100; i++) {
                pub.publish('lf.ew.q', enc(String(i)));
            }
            await flushAll([pub], [aNc, bNc]);
            await until(() => a.got.length + b.got.length >= 100, 5000,
                () => `100 queue messages (leaf1 ${a.got.length}, leaf2 ${b.got.length})`);
            await sleep(QUIET_MS);
            const all = [...a.got, ...b.got];
            assert.equal(all.length, 100,
                `each once (leaf1 ${a.got.length}, leaf2 ${b.got.length})`);
            assert.equal(new Set(all).size, 100);
        });
});
