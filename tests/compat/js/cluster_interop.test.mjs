// SPDX-License-Identifier: Apache-2.0
//
// Mixed clusters: the server under test (MERIDIAN_SERVER) routed to the reference
// nats-server (NATS_SERVER, default /usr/sbin/nats-server). Two layouts:
//   2+2  [under test, nats, under test, nats], seeded at the first (under test), so the
//        nats-servers solicit routes to it and the gossip makes routes both ways;
//   1+1  [nats, under test], seeded at the nats-server, with the cluster block in
//        config files.
// In each: messages both ways, queue groups with members on both kinds, request/reply
// both ways, and interest removal (UNSUB on one kind stops the routing on the other).
// When MERIDIAN_SERVER is nats-server itself these are plain nats-server clusters, which
// is how the tests were checked. Skipped, saying so, when nats-server is not installed.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import test, { afterEach, beforeEach, describe } from 'node:test';
import { StringCodec } from 'nats';

import { ConnPool, settle, waitFor } from '../lib/client.mjs';
import { awaitInterest, clusterFixture } from '../lib/cluster.mjs';
import { serverBin, sleep } from '../lib/server.mjs';

const sc = StringCodec();
const T = { timeout: 30000 };
const NATS = process.env.NATS_SERVER || '/usr/sbin/nats-server';
const UNDER = serverBin();
const skip = fs.existsSync(NATS) ? false
    : `nats-server not found at ${NATS} (apt-get install nats-server, or set NATS_SERVER)`;

/** Connection pools per member, opened and closed around each test. */
function pools(cl) {
    const h = { p: [] };
    beforeEach(() => {
        h.p = cl.current.members.map((m) => new ConnPool({ hostport: m.hostport }));
    });
    afterEach(async () => {
        await Promise.allSettled(h.p.map((p) => p.closeAll()));
        cl.current?.checkAlive();
    });
    return h;
}

function kind(m) {
    return m.bin === NATS ? 'nats' : 'under test';
}

/** Messages from member `from` to member `to`: all arrive once, in order. */
async function oneWay(h, cl, from, to, subject) {
    const pub = await h.p[from].open();
    const sub = await h.p[to].open();
    const got = [];
    sub.subscribe(subject, { callback: (_, m) => got.push(sc.decode(m.data)) });
    await awaitInterest(pub, [sub]);
    const want = Array.from({ length: 100 }, (_, i) => `m${i}`);
    for (const w of want) {
        pub.publish(subject, sc.encode(w));
    }
    await settle([pub], [sub]);
    await waitFor(() => got.length >= 100, 5000, `100 messages ${from} -> ${to}`);
    await sleep(100);
    await settle([pub], [sub]);
    const [a, b] = [cl.current.members[from], cl.current.members[to]];
    assert.deepEqual(got, want, `${a.name} (${kind(a)}) -> ${b.name} (${kind(b)})`);
}

async function requestReply(h, from, to, subject) {
    const svc = await h.p[to].open();
    const client = await h.p[from].open();
    svc.subscribe(subject, { callback: (_, m) => m.respond(sc.encode(`re:${sc.decode(m.data)}`)) });
    await awaitInterest(client, [svc]);
    for (let i = 0; i < 20; i++) {
        const r = await client.request(subject, sc.encode(String(i)), { timeout: 3000 });
        assert.equal(sc.decode(r.data), `re:${i}`);
    }
}

/** A queue group with a member on every server; publishers on every server. */
async function queueEverywhere(h, cl, subject) {
    const n = cl.current.members.length;
    const members = [];
    for (let i = 0; i < n; i++) {
        members.push(await h.p[i].open());
    }
    const seen = new Map();
    const per = members.map(() => 0);
    members.forEach((nc, k) => nc.subscribe(subject, {
        queue: 'mixed',
        callback: (_, m) => {
            const i = sc.decode(m.data);
            seen.set(i, (seen.get(i) || 0) + 1);
            per[k]++;
        },
    }));
    const pubs = [];
    for (let i = 0; i < n; i++) {
        pubs.push(await h.p[i].open());
        await awaitInterest(pubs[i], members);
    }
    const each = 200;
    pubs.forEach((pub, p) => {
        for (let i = 0; i < each; i++) {
            pub.publish(subject, sc.encode(`${p}.${i}`));
        }
    });
    const total = each * n;
    await settle(pubs, members);
    await waitFor(() => seen.size >= total, 5000, `${total} queue deliveries`);
    await sleep(200);
    await settle(pubs, members);
    assert.equal(seen.size, total);
    for (const [i, c] of seen) {
        assert.equal(c, 1, `message ${i} delivered ${c} times`);
    }
    // Every member, of either kind, serves a share (nats-server spreads over all members).
    for (const [k, c] of per.entries()) {
        const m = cl.current.members[k];
        assert.ok(c > 0, `member on ${m.name} (${kind(m)}) got none: ${per}`);
    }
}

/** UNSUB on member `to` stops member `from` routing the subject there. */
async function interestRemoval(h, cl, from, to, subject) {
    const [a, b] = [cl.current.members[from], cl.current.members[to]];
    const routeTo = async () => {
        const r = (await a.routez()).routes.find((x) => x.remote_id === b.serverId);
        assert.ok(r, `${a.name} has no route to ${b.name}`);
        return r;
    };
    // Whether a's route to b lists the subject among b's subscriptions (/routez?subs=1).
    const listed = async () => {
        const rz = await a.routez('?subs=1');
        const r = rz.routes.find((x) => x.remote_id === b.serverId);
        assert.ok(r, `${a.name} has no route to ${b.name}`);
        return (r.subscriptions_list || []).includes(subject);
    };
    const waitListed = async (want, what) => {
        const deadline = Date.now() + 5000;
        while ((await listed()) !== want) {
            assert.ok(Date.now() < deadline, `${a.name} (${kind(a)}) /routez?subs=1: ${what}`);
            await sleep(50);
        }
    };
    const pub = await h.p[from].open();
    const nc = await h.p[to].open();
    let got = 0;
    const sub = nc.subscribe(subject, { callback: () => got++ });
    await awaitInterest(pub, [nc]);
    await waitListed(true, `${subject} not listed for ${b.name} (${kind(b)}) after SUB`);
    pub.publish(subject);
    await settle([pub], [nc]);
    await waitFor(() => got === 1, 5000, 'one message before UNSUB');
    sub.unsubscribe();
    await nc.flush();
    await waitListed(false, `${subject} still listed for ${b.name} (${kind(b)}) after UNSUB`);
    const now = await routeTo();
    const out0 = now.out_msgs;
    for (let i = 0; i < 50; i++) {
        pub.publish(subject);
    }
    await settle([pub], [nc]);
    await sleep(100);
    const out1 = (await routeTo()).out_msgs;
    assert.ok(out1 - out0 < 50, `${a.name} (${kind(a)}) still routes ${subject} to ${b.name} ` +
        `(${kind(b)}): ${out1 - out0} messages`);
    assert.equal(got, 1);
}

describe(`mixed cluster 2+2: ${UNDER} and ${NATS}`, { skip }, () => {
    const cl = clusterFixture(4, { bins: [UNDER, NATS, UNDER, NATS] });
    const h = pools(cl);

    test('full mesh: every server has a route to each of the other three', T, async () => {
        for (const m of cl.current.members) {
            const rz = await m.routez();
            assert.equal(rz.num_routes, 3, `${m.name} (${kind(m)})`);
        }
    });

    test('client INFO connect_urls lists all four servers on both kinds', T, async () => {
        const want = cl.current.members.map((m) => m.hostport).sort();
        for (const i of [0, 1]) {
            const nc = await h.p[i].open();
            const urls = [...(nc.info.connect_urls || [])].sort();
            assert.deepEqual(urls, want, `connect_urls from ${kind(cl.current.members[i])}`);
        }
    });

    test('messages both ways between the kinds', T, async () => {
        await oneWay(h, cl, 0, 1, 'mx.ab');
        await oneWay(h, cl, 1, 0, 'mx.ba');
        await oneWay(h, cl, 1, 2, 'mx.bc');
        await oneWay(h, cl, 2, 3, 'mx.cd');
        await oneWay(h, cl, 0, 2, 'mx.ac');
    });

    test('one publish reaches subscribers on all four servers exactly once', T, async () => {
        for (const from of [0, 1]) {
            const pub = await h.p[from].open();
            const subs = [];
            for (let i = 0; i < 4; i++) {
                subs.push(await h.p[i].open());
            }
            const got = subs.map(() => 0);
            subs.forEach((nc, k) => nc.subscribe(`mx.all.${from}`, { callback: () => got[k]++ }));
            await awaitInterest(pub, subs);
            for (let i = 0; i < 30; i++) {
                pub.publish(`mx.all.${from}`);
            }
            await settle([pub], subs);
            await waitFor(() => got.every((g) => g >= 30), 5000, '30 on every server');
            await sleep(150);
            await settle([pub], subs);
            assert.deepEqual(got, [30, 30, 30, 30], `published on ${kind(cl.current.members[from])}`);
        }
    });

    test('queue group spanning both kinds: each message exactly once', T, async () => {
        await queueEverywhere(h, cl, 'mx.q');
    });

    test('request/reply both ways', T, async () => {
        await requestReply(h, 0, 1, 'mx.rr1');
        await requestReply(h, 1, 0, 'mx.rr2');
        await requestReply(h, 3, 2, 'mx.rr3');
    });

    test('interest removal both ways', T, async () => {
        await interestRemoval(h, cl, 0, 1, 'mx.un1');
        await interestRemoval(h, cl, 1, 0, 'mx.un2');
    });
});

describe(`mixed cluster 1+1 from config files, seeded at nats-server: ${NATS} and ${UNDER}`,
    { skip }, () => {
        const cl = clusterFixture(2, { bins: [NATS, UNDER], config: true });
        const h = pools(cl);

        test('route formed: the server under test solicited the nats-server', T, async () => {
            const [n, u] = cl.current.members;
            const ru = (await u.routez()).routes;
            assert.equal(ru.length, 1);
            assert.equal(ru[0].remote_id, n.serverId);
            assert.equal(ru[0].did_solicit, true);
            assert.equal(ru[0].is_configured, true);
            const rn = (await n.routez()).routes;
            assert.equal(rn.length, 1);
            assert.equal(rn[0].remote_id, u.serverId);
            assert.equal(rn[0].did_solicit, false);
        });

        test('messages both ways', T, async () => {
            await oneWay(h, cl, 0, 1, 'm11.ab');
            await oneWay(h, cl, 1, 0, 'm11.ba');
        });

        test('queue group on both: each message exactly once', T, async () => {
            await queueEverywhere(h, cl, 'm11.q');
        });

        test('request/reply both ways', T, async () => {
            await requestReply(h, 0, 1, 'm11.rr1');
            await requestReply(h, 1, 0, 'm11.rr2');
        });

        test('interest removal both ways', T, async () => {
            await interestRemoval(h, cl, 0, 1, 'm11.un1');
            await interestRemoval(h, cl, 1, 0, 'm11.un2');
        });
    });
