// SPDX-License-Identifier: Apache-2.0
//
// Mixed superclusters: clusters of the server under test (MERIDIAN_SERVER) joined by
// gateways to clusters of the reference nats-server (NATS_SERVER, default
// /usr/sbin/nats-server), all from config files (lib/supercluster.mjs). Two layouts:
//   2+2    cluster U (u1, u2: under test) and cluster N (n1, n2: nats-server);
//   1+1+1  U (under test), N (nats-server), V (under test): the two clusters under test
//          reach each other directly, and nats-server sits between them.
// In each: gateways formed both ways, messages both ways exactly once, queue groups
// spanning the kinds (the publisher's cluster preferred, failover to the other),
// request/reply both ways (also the first request of a fresh connection), and interest
// removal (UNSUB in one cluster stops the other sending there, on /gatewayz counters).
// When MERIDIAN_SERVER is nats-server itself these are plain nats-server superclusters,
// which is how the tests were checked. Skipped, saying so, without nats-server.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import test, { afterEach, beforeEach, describe } from 'node:test';
import { StringCodec, headers } from 'nats';

import { ConnPool, connectTo, settle, waitFor } from '../lib/client.mjs';
import { awaitInterest } from '../lib/cluster.mjs';
import { superClusterFixture } from '../lib/supercluster.mjs';
import { serverBin, sleep, withTimeout } from '../lib/server.mjs';

const sc = StringCodec();
const T = { timeout: 30000 };
const NATS = process.env.NATS_SERVER || '/usr/sbin/nats-server';
const UNDER = serverBin();
const skip = fs.existsSync(NATS) ? false
    : `nats-server not found at ${NATS} (apt-get install nats-server, or set NATS_SERVER)`;
const NOISE_MAX = 40; // $SYS traffic between servers may move the counters a little

function kind(m) {
    return `${m.name}: ${m.bin === NATS ? 'nats-server' : 'under test'}`;
}

/** Connection pools per server name, opened and closed around each test. */
function pools(hold) {
    const h = { p: {} };
    beforeEach(() => {
        h.p = Object.fromEntries(hold.current.members.map((m) =>
            [m.name, new ConnPool({ hostport: m.hostport })]));
    });
    afterEach(async () => {
        await Promise.allSettled(Object.values(h.p).map((p) => p.closeAll()));
        hold.current?.checkAlive();
    });
    h.open = (name) => h.p[name].open();
    return h;
}

/** 100 messages from server `from` to subscribers on each of `to`: in order, once each. */
async function oneWay(h, hold, from, to, subject) {
    const pub = await h.open(from);
    const subs = [];
    for (const n of to) {
        subs.push(await h.open(n));
    }
    const got = subs.map(() => []);
    subs.forEach((nc, k) => nc.subscribe(subject, {
        callback: (_, m) => got[k].push(sc.decode(m.data)),
    }));
    await awaitInterest(pub, subs);
    const want = Array.from({ length: 100 }, (_, i) => `m${i}`);
    for (const w of want) {
        pub.publish(subject, sc.encode(w));
    }
    await settle([pub], subs);
    await waitFor(() => got.every((g) => g.length >= 100), 5000, `100 messages ${from} -> ${to}`);
    await sleep(150);
    await settle([pub], subs);
    const s = hold.current;
    for (const [k, g] of got.entries()) {
        assert.deepEqual(g, want, `${kind(s.server(from))} -> ${kind(s.server(to[k]))}`);
    }
}

/** Headers from `from` to `to`. */
async function withHeaders(h, hold, from, to, subject) {
    const pub = await h.open(from);
    const sub = await h.open(to);
    const got = [];
    sub.subscribe(subject, { callback: (_, m) => got.push(m) });
    await awaitInterest(pub, [sub]);
    const hd = headers();
    hd.set('X-From', from);
    pub.publish(subject, sc.encode('h'), { headers: hd });
    await settle([pub], [sub]);
    await waitFor(() => got.length >= 1, 5000, 'one message with headers');
    const s = hold.current;
    assert.equal(got[0].headers?.get('X-From'), from,
        `${kind(s.server(from))} -> ${kind(s.server(to))} header`);
}

/** Requests from `from` to a responder on `to`; then fresh connections, first request. */
async function requestReply(h, hold, from, to, subject) {
    const s = hold.current;
    const what = `${kind(s.server(from))} -> ${kind(s.server(to))}`;
    const svc = await h.open(to);
    const replies = [];
    svc.subscribe(subject, {
        callback: (_, m) => {
            replies.push(m.reply);
            m.respond(sc.encode(`re:${sc.decode(m.data)}`));
        },
    });
    const client = await h.open(from);
    await awaitInterest(client, [svc]);
    for (let i = 0; i < 20; i++) {
        const r = await client.request(subject, sc.encode(String(i)), { timeout: 3000 });
        assert.equal(sc.decode(r.data), `re:${i}`, what);
    }
    // A fresh connection's first request: its reply interest cannot have crossed yet.
    for (let i = 0; i < 5; i++) {
        const nc = await connectTo(s.server(from));
        try {
            const r = await nc.request(subject, sc.encode(`first${i}`), { timeout: 2000 });
            assert.equal(sc.decode(r.data), `re:first${i}`, `${what}: first request`);
        } finally {
            await withTimeout(nc.close(), 3000, 'close');
        }
    }
    // The responder sees the requester's reply subject, without the _GR_. mapping prefix.
    assert.equal(replies.length, 25);
    for (const r of replies) {
        assert.match(r, /^_INBOX\./, `${what}: reply subject as delivered to the responder`);
    }
}

/**
 * Queue group 'mixed' with members on `local` (the publisher's cluster) and `remote`
 * servers; publisher on `pubOn`. All go to the local members; after they leave, all go
 * to the remote ones; each message exactly once.
 */
async function queueLocality(h, hold, pubOn, local, remote, subject) {
    const s = hold.current;
    const seen = new Map();
    const counts = { local: 0, remote: 0 };
    const member = async (name, side) => {
        const nc = await h.open(name);
        nc.subscribe(subject, {
            queue: 'mixed',
            callback: (_, m) => {
                const i = sc.decode(m.data);
                seen.set(i, (seen.get(i) || 0) + 1);
                counts[side]++;
            },
        });
        return nc;
    };
    const loc = [];
    for (const n of local) {
        loc.push(await member(n, 'local'));
    }
    const rem = [];
    for (const n of remote) {
        rem.push(await member(n, 'remote'));
    }
    const pub = await h.open(pubOn);
    await awaitInterest(pub, [...loc, ...rem]);
    const where = `published on ${kind(s.server(pubOn))}, members on ${local} and ${remote}`;
    for (let i = 0; i < 200; i++) {
        pub.publish(subject, sc.encode(`a${i}`));
    }
    await settle([pub], [...loc, ...rem]);
    await waitFor(() => seen.size >= 200, 5000, `200 queue deliveries (${where})`);
    await sleep(200);
    await settle([pub], [...loc, ...rem]);
    assert.deepEqual(counts, { local: 200, remote: 0 }, `${where}: all to the local cluster`);

    await Promise.all(loc.map((nc) => withTimeout(nc.close(), 3000, 'close')));
    const deadline = Date.now() + 10000;
    let k = 0;
    while (counts.remote === 0) {
        assert.ok(Date.now() < deadline, `${where}: nothing reached ${remote} within 10 s ` +
            'after the local members left');
        pub.publish(subject, sc.encode(`probe${k++}`));
        await sleep(20);
    }
    await settle([pub], rem);
    const before = counts.remote;
    for (let i = 0; i < 200; i++) {
        pub.publish(subject, sc.encode(`b${i}`));
    }
    await settle([pub], rem);
    await waitFor(() => counts.remote >= before + 200, 5000,
        `200 deliveries after failover (${where})`);
    await sleep(200);
    await settle([pub], rem);
    assert.equal(counts.remote, before + 200, `${where}: failover, all to ${remote}`);
    assert.equal(counts.local, 200);
    for (const [i, c] of seen) {
        assert.equal(c, 1, `${where}: message ${i} delivered ${c} times`);
    }
}

/**
 * UNSUB in the cluster of `to` stops `from` sending the subject over its outbound gateway
 * there (out_msgs of that outbound in `from`'s /gatewayz).
 */
async function interestRemoval(h, hold, from, to, subject) {
    const s = hold.current;
    const a = s.server(from);
    const b = s.server(to);
    const what = `${kind(a)} -> ${kind(b)}`;
    const outMsgs = async () => {
        const g = (await a.gatewayz()).outbound_gateways[b.cluster.name];
        assert.ok(g, `${a.name} has no outbound gateway to ${b.cluster.name}`);
        return g.connection.out_msgs;
    };
    const pub = await h.open(from);
    const nc = await h.open(to);
    let got = 0;
    const sub = nc.subscribe(subject, { callback: () => got++ });
    await awaitInterest(pub, [nc]);
    const burst = async () => {
        const o0 = await outMsgs();
        for (let i = 0; i < 100; i++) {
            pub.publish(subject);
        }
        await settle([pub], [nc]);
        await sleep(100);
        return (await outMsgs()) - o0;
    };
    const sent = await burst();
    await waitFor(() => got === 100, 5000, `100 messages ${what} before UNSUB`);
    assert.ok(sent >= 100, `${what}: outbound out_msgs grew by ${sent} with a subscriber`);
    sub.unsubscribe();
    await nc.flush();
    const deadline = Date.now() + 10000;
    for (;;) {
        const n = await burst();
        if (n < NOISE_MAX) {
            break;
        }
        assert.ok(Date.now() < deadline, `${what}: still sent ${n} of 100 10 s after UNSUB`);
    }
    assert.equal(got, 100, `${what}: delivered after UNSUB`);
}

describe(`mixed supercluster 2+2: U = ${UNDER}, N = ${NATS}`, { skip }, () => {
    const hold = superClusterFixture([
        { name: 'U', size: 2, bins: [UNDER, UNDER] },
        { name: 'N', size: 2, bins: [NATS, NATS] },
    ]);
    const h = pools(hold);

    test('gateways both ways: one outbound per server to the other cluster', T, async () => {
        const s = hold.current;
        const inbound = { U: 0, N: 0 };
        for (const m of s.members) {
            const gz = await m.gatewayz();
            const other = m.cluster.name === 'U' ? 'N' : 'U';
            assert.deepEqual(Object.keys(gz.outbound_gateways), [other], `${kind(m)} outbound`);
            const ids = s.byName[other].members.map((x) => x.serverId);
            assert.ok(ids.includes(gz.outbound_gateways[other].connection.name),
                `${kind(m)} outbound goes to a server of ${other}`);
            // Which server of the other cluster a server connects to is its choice: a server
            // may have no inbound gateway at all, but the cluster has one per remote server.
            for (const name of Object.keys(gz.inbound_gateways)) {
                assert.equal(name, other, `${kind(m)} has an inbound gateway from ${name}`);
            }
            inbound[m.cluster.name] += (gz.inbound_gateways[other] || []).length;
        }
        assert.deepEqual(inbound, { U: 2, N: 2 }, 'inbound gateways per cluster');
    });

    test('messages both ways, one copy per subscriber', T, async () => {
        await oneWay(h, hold, 'u1', ['n1', 'n2', 'u2'], 'mx.un');
        await oneWay(h, hold, 'n2', ['u1', 'u2', 'n1'], 'mx.nu');
    });

    test('headers both ways', T, async () => {
        await withHeaders(h, hold, 'u2', 'n1', 'mx.hun');
        await withHeaders(h, hold, 'n1', 'u1', 'mx.hnu');
    });

    test('request/reply both ways, also the first request of a fresh connection', T,
        async () => {
            await requestReply(h, hold, 'u1', 'n2', 'mx.rr1');
            await requestReply(h, hold, 'n1', 'u2', 'mx.rr2');
        });

    test('queue group: publisher in U prefers U, fails over to N', T, async () => {
        await queueLocality(h, hold, 'u1', ['u2'], ['n1', 'n2'], 'mx.q1');
    });

    test('queue group: publisher in N prefers N, fails over to U', T, async () => {
        await queueLocality(h, hold, 'n1', ['n1', 'n2'], ['u1', 'u2'], 'mx.q2');
    });

    test('interest removal both ways', T, async () => {
        await interestRemoval(h, hold, 'u1', 'n1', 'mx.ir1');
        await interestRemoval(h, hold, 'n2', 'u2', 'mx.ir2');
    });
});

describe(`mixed supercluster 1+1+1: U and V = ${UNDER}, N = ${NATS}`, { skip }, () => {
    const hold = superClusterFixture([
        { name: 'U', size: 1, bins: [UNDER] },
        { name: 'N', size: 1, bins: [NATS] },
        { name: 'V', size: 1, bins: [UNDER] },
    ]);
    const h = pools(hold);

    test('every server has an outbound and an inbound gateway to each other cluster', T,
        async () => {
            for (const m of hold.current.members) {
                const gz = await m.gatewayz();
                const others = ['N', 'U', 'V'].filter((n) => n !== m.cluster.name);
                assert.deepEqual(Object.keys(gz.outbound_gateways).sort(), others,
                    `${kind(m)} outbound`);
                assert.deepEqual(Object.keys(gz.inbound_gateways).sort(), others,
                    `${kind(m)} inbound`);
            }
        });

    test('messages from each cluster reach the other two exactly once', T, async () => {
        await oneWay(h, hold, 'u1', ['n1', 'v1'], 'm3.u');
        await oneWay(h, hold, 'n1', ['u1', 'v1'], 'm3.n');
        await oneWay(h, hold, 'v1', ['u1', 'n1'], 'm3.v');
    });

    test('request/reply between the two clusters under test and nats-server', T, async () => {
        await requestReply(h, hold, 'u1', 'v1', 'm3.rr1');
        await requestReply(h, hold, 'v1', 'n1', 'm3.rr2');
    });

    test('queue group in U and V, publisher in N: each message exactly once', T, async () => {
        const seen = new Map();
        const members = [];
        for (const n of ['u1', 'v1']) {
            const nc = await h.open(n);
            nc.subscribe('m3.q', {
                queue: 'far',
                callback: (_, m) => {
                    const i = sc.decode(m.data);
                    seen.set(i, (seen.get(i) || 0) + 1);
                },
            });
            members.push(nc);
        }
        const pub = await h.open('n1');
        await awaitInterest(pub, members);
        for (let i = 0; i < 200; i++) {
            pub.publish('m3.q', sc.encode(String(i)));
        }
        await settle([pub], members);
        await waitFor(() => seen.size >= 200, 5000, '200 deliveries');
        await sleep(200);
        await settle([pub], members);
        assert.equal(seen.size, 200);
        for (const [i, c] of seen) {
            assert.equal(c, 1, `message ${i} delivered ${c} times`);
        }
    });

    test('queue group: publisher in U prefers U, fails over to V or N', T, async () => {
        await queueLocality(h, hold, 'u1', ['u1'], ['v1', 'n1'], 'm3.q2');
    });
});
