// SPDX-License-Identifier: Apache-2.0
//
// nats.js against a 3-server cluster of the server under test (lib/cluster.mjs): routes
// seeded at the first server, full mesh waited for through /routez. Messages published
// on one server reach subscribers on the others exactly once; wildcards, headers,
// request/reply and queue groups work across routes; unsubscribing removes the interest
// on the other servers; clients learn every server through INFO connect_urls and fail
// over with it; /routez has nats-server's fields; the cluster port refuses clients.
// A second cluster is started from config files (every member lists every other), with
// route authorization, and a member with the wrong route password stays out.
//
// Every subject is unique to its test. Cross-server delivery waits for the interest to
// cross the routes first (awaitInterest), as a client of a real cluster would have to.

import assert from 'node:assert/strict';
import test, { afterEach, beforeEach, describe } from 'node:test';
import { Events, StringCodec, headers } from 'nats';

import { ConnPool, collect, settle, waitFor } from '../lib/client.mjs';
import { awaitInterest, clusterFixture, startCluster } from '../lib/cluster.mjs';
import { HOST, sleep, withTimeout } from '../lib/server.mjs';
import { RawClient } from '../lib/raw.mjs';

const sc = StringCodec();
const T = { timeout: 30000 };

// /routez as nats-server 2.9.10 reports it (-m, no query): top-level keys and the keys
// of each route, with their JSON types. ?subs=1 adds subscriptions_list.
const ROUTEZ_KEYS = { server_id: 'string', now: 'string', num_routes: 'number', routes: 'object' };
const ROUTE_KEYS = {
    rid: 'number', remote_id: 'string', did_solicit: 'boolean', is_configured: 'boolean',
    ip: 'string', port: 'number', start: 'string', last_activity: 'string', rtt: 'string',
    uptime: 'string', idle: 'string', pending_size: 'number', in_msgs: 'number',
    out_msgs: 'number', in_bytes: 'number', out_bytes: 'number', subscriptions: 'number',
};
const SERVER_ID = /^N[A-Z0-9]{55}$/;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

function keyTypes(obj) {
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, typeof v]));
}

/** The route on member `from` whose remote is member `to`. */
async function routeTo(from, to, query = '') {
    const rz = await from.routez(query);
    const r = rz.routes.find((x) => x.remote_id === to.serverId);
    assert.ok(r, `${from.name} has no route to ${to.name} (${to.serverId})`);
    return r;
}

describe('cluster of 3 (flags, seeded at the first server)', () => {
    const cl = clusterFixture(3);
    let pools;
    // A pool per server: pools[i].open() connects to member i without reconnects.
    beforeEach(() => {
        pools = cl.current.members.map((m) => new ConnPool({ hostport: m.hostport }));
    });
    afterEach(async () => {
        await Promise.allSettled(pools.map((p) => p.closeAll()));
        cl.current?.checkAlive();
    });

    test('/routez: nats-server 2.9.10 fields and types, who solicited whom', T, async () => {
        const [a, b, c] = cl.current.members;
        for (const m of [a, b, c]) {
            const rz = await m.routez();
            assert.deepEqual(keyTypes(rz), ROUTEZ_KEYS, `${m.name} /routez top-level keys`);
            assert.equal(rz.server_id, m.serverId);
            assert.match(rz.server_id, SERVER_ID);
            assert.match(rz.now, RFC3339);
            assert.equal(rz.num_routes, 2);
            assert.equal(rz.routes.length, 2);
            for (const r of rz.routes) {
                assert.deepEqual(keyTypes(r), ROUTE_KEYS, `${m.name} route keys`);
                assert.match(r.remote_id, SERVER_ID);
                assert.equal(r.ip, HOST);
                assert.match(r.start, RFC3339);
                assert.match(r.last_activity, RFC3339);
                assert.match(r.rtt, /^[0-9.]+(ns|µs|ms|s)$/);
                assert.match(r.uptime, /^(\d+[dhms])+$/);
                assert.ok(Number.isInteger(r.rid) && r.rid > 0);
            }
            const rids = rz.routes.map((r) => r.rid);
            assert.equal(new Set(rids).size, rids.length, 'rids are distinct');
        }
        // a is the seed: it solicited nobody; b and c solicited a through --routes.
        for (const r of (await a.routez()).routes) {
            assert.equal(r.did_solicit, false);
            assert.equal(r.is_configured, false);
        }
        for (const m of [b, c]) {
            const r = await routeTo(m, a);
            assert.equal(r.did_solicit, true, `${m.name} solicited the seed`);
            assert.equal(r.is_configured, true, `${m.name}'s route to the seed is configured`);
            assert.equal(r.port, a.clusterPort);
        }
        // b and c found each other through gossip: one side solicited, neither configured.
        const bc = await routeTo(b, c);
        const cb = await routeTo(c, b);
        assert.equal(bc.is_configured, false);
        assert.equal(cb.is_configured, false);
        assert.equal(bc.did_solicit !== cb.did_solicit, true, 'exactly one side solicited');
        const solicited = bc.did_solicit ? bc : cb;
        assert.equal(solicited.port, (bc.did_solicit ? c : b).clusterPort);
        // ?subs=1 lists the remote subscriptions as strings (omitted when there are none,
        // as nats-server's omitempty does; its routes always carry $SYS interest).
        const detailed = await b.routez('?subs=1');
        for (const r of detailed.routes) {
            if (r.subscriptions === 0) {
                assert.equal(r.subscriptions_list, undefined);
                continue;
            }
            assert.ok(Array.isArray(r.subscriptions_list), 'subscriptions_list with ?subs=1');
            assert.equal(r.subscriptions_list.length, r.subscriptions);
            for (const s of r.subscriptions_list) {
                assert.equal(typeof s, 'string');
            }
        }
    });

    test('client INFO: cluster name and connect_urls of all three servers', T, async () => {
        const members = cl.current.members;
        const want = members.map((m) => m.hostport).sort();
        for (const m of members) {
            const raw = await RawClient.open(m.clientPort);
            try {
                assert.equal(raw.info.cluster, cl.current.name, `${m.name} INFO cluster`);
                assert.deepEqual([...raw.info.connect_urls].sort(), want, `${m.name} connect_urls`);
            } finally {
                raw.destroy();
            }
        }
        const nc = await pools[1].open();
        assert.equal(nc.info.cluster, cl.current.name);
        assert.deepEqual([...nc.info.connect_urls].sort(), want);
    });

    test('publish on A: subscribers on A, B and C get exactly one copy each, in order', T,
        async () => {
            const pub = await pools[0].open();
            const subs = [await pools[0].open(), await pools[1].open(), await pools[2].open(),
                await pools[1].open()];
            const got = subs.map(() => []);
            subs.forEach((nc, k) => nc.subscribe('cl.ps', {
                callback: (_, m) => got[k].push(sc.decode(m.data)),
            }));
            // Two subscriptions on one connection of B: one copy crosses the route, B fans out.
            const twice = [[], []];
            for (const k of [0, 1]) {
                subs[3].subscribe(k === 0 ? 'cl.ps' : 'cl.*', {
                    callback: (_, m) => twice[k].push(sc.decode(m.data)),
                });
            }
            await awaitInterest(pub, subs);
            const want = Array.from({ length: 50 }, (_, i) => `m${i}`);
            for (const w of want) {
                pub.publish('cl.ps', sc.encode(w));
            }
            pub.publish('cl.ps.not', sc.encode('other subject'));
            await settle([pub], subs);
            await waitFor(() => got.every((g) => g.length >= 50), 5000, '50 messages everywhere');
            await sleep(200); // a duplicate would arrive within this
            await settle([pub], subs);
            for (const [k, g] of got.slice(0, 3).entries()) {
                assert.deepEqual(g, want, `subscriber on server ${k}`);
            }
            assert.deepEqual(got[3], want, 'second connection on B');
            assert.deepEqual(twice[0], want, 'cl.ps on the 2-subscription connection');
            assert.deepEqual(twice[1], want, 'cl.* on the 2-subscription connection');
        });

    test('route counters: A sends one copy per message to each server with interest', T,
        async () => {
            const [a, b, c] = cl.current.members;
            const pub = await pools[0].open();
            const onB = await pools[1].open();
            const got = [0];
            // Three subscriptions on B, none on C: B needs one copy of each message.
            for (let k = 0; k < 3; k++) {
                onB.subscribe(k === 2 ? 'cnt.>' : 'cnt.x', { callback: () => got[0]++ });
            }
            await awaitInterest(pub, [onB]);
            const ab0 = await routeTo(a, b);
            const ac0 = await routeTo(a, c);
            const ba0 = await routeTo(b, a);
            for (let i = 0; i < 40; i++) {
                pub.publish('cnt.x', sc.encode('0123456789'));
            }
            await settle([pub], [onB]);
            await waitFor(() => got[0] >= 120, 5000, '120 deliveries on B');
            const ab1 = await routeTo(a, b);
            const ac1 = await routeTo(a, c);
            const ba1 = await routeTo(b, a);
            // One copy per message, not one per subscription (120). A few more may be the
            // last interest probes still in flight, or the servers' own $SYS traffic.
            const out = ab1.out_msgs - ab0.out_msgs;
            const inn = ba1.in_msgs - ba0.in_msgs;
            assert.ok(out >= 40 && out < 60, `A -> B out_msgs grew by ${out}, want 40 (+ noise)`);
            assert.ok(inn >= 40 && inn < 60, `B <- A in_msgs grew by ${inn}, want 40 (+ noise)`);
            assert.ok(ab1.out_bytes - ab0.out_bytes >= 400, 'A -> B out_bytes counts payloads');
            assert.ok(ac1.out_msgs - ac0.out_msgs < 40, 'nothing to C, which has no interest');
            assert.equal(got[0], 120);
        });

    test('wildcards * and > across servers', T, async () => {
        const pub = await pools[0].open();
        const onB = await pools[1].open();
        const onC = await pools[2].open();
        const star = [];
        const gt = [];
        const mid = [];
        onB.subscribe('wcx.*', { callback: (_, m) => star.push(m.subject) });
        onC.subscribe('wcx.>', { callback: (_, m) => gt.push(m.subject) });
        onC.subscribe('wcx.*.z', { callback: (_, m) => mid.push(m.subject) });
        await awaitInterest(pub, [onB, onC]);
        for (const s of ['wcx', 'wcx.a', 'wcx.b', 'wcx.a.z', 'wcx.a.b.z', 'wcxx.a', 'wcx.a.y']) {
            pub.publish(s);
        }
        await settle([pub], [onB, onC]);
        await waitFor(() => gt.length >= 5 && star.length >= 2 && mid.length >= 1, 5000,
            'wildcard deliveries');
        await sleep(150);
        await settle([pub], [onB, onC]);
        assert.deepEqual(star, ['wcx.a', 'wcx.b']);
        assert.deepEqual(gt, ['wcx.a', 'wcx.b', 'wcx.a.z', 'wcx.a.b.z', 'wcx.a.y']);
        assert.deepEqual(mid, ['wcx.a.z']);
    });

    test('headers cross routes (HPUB on A, HMSG on C)', T, async () => {
        const pub = await pools[0].open();
        const onC = await pools[2].open();
        const s = onC.subscribe('hdrx.test');
        await awaitInterest(pub, [onC]);
        const h = headers();
        h.append('X-Multi', 'one');
        h.append('X-Multi', 'two');
        h.set('X-Single', 'value with spaces');
        pub.publish('hdrx.test', sc.encode('body'), { headers: h });
        const h2 = headers();
        h2.set('Only', 'header');
        pub.publish('hdrx.test', undefined, { headers: h2 });
        const [m, m2] = await collect(s, 2, 5000);
        assert.deepEqual(m.headers.values('X-Multi'), ['one', 'two']);
        assert.equal(m.headers.get('X-Single'), 'value with spaces');
        assert.equal(sc.decode(m.data), 'body');
        assert.equal(m2.headers.get('Only'), 'header');
        assert.equal(m2.data.length, 0);
    });

    test('request/reply: requester on A, responder on C; and the other way', T, async () => {
        for (const [ri, si] of [[0, 2], [2, 1]]) {
            const svc = await pools[si].open();
            const client = await pools[ri].open();
            const subject = `rrx.${ri}.${si}`;
            svc.subscribe(subject, {
                callback: (_, m) => {
                    const h = headers();
                    h.set('Served-By', `s${si}`);
                    m.respond(sc.encode(sc.decode(m.data).toUpperCase()), { headers: h });
                },
            });
            await awaitInterest(client, [svc]);
            for (let i = 0; i < 20; i++) {
                const r = await client.request(subject, sc.encode(`hello ${i}`), { timeout: 3000 });
                assert.equal(sc.decode(r.data), `HELLO ${i}`);
                assert.equal(r.headers.get('Served-By'), `s${si}`);
            }
        }
    });

    test('no responders across the cluster: 503 when nobody anywhere subscribes', T, async () => {
        const client = await pools[0].open();
        await assert.rejects(client.request('rrx.nobody', sc.encode('x'), { timeout: 2000 }),
            (e) => e.code === '503');
    });

    test('queue group over 3 servers, publisher on A with no local member: exactly once', T,
        async () => {
            const pub = await pools[0].open();
            const members = [await pools[1].open(), await pools[1].open(), await pools[2].open(),
                await pools[2].open()];
            const seen = new Map();
            const per = members.map(() => 0);
            members.forEach((nc, k) => nc.subscribe('qgx.remote', {
                queue: 'workers',
                callback: (_, m) => {
                    const i = sc.decode(m.data);
                    seen.set(i, (seen.get(i) || 0) + 1);
                    per[k]++;
                },
            }));
            const plainConn = await pools[2].open();
            let plain = 0;
            plainConn.subscribe('qgx.remote', { callback: () => plain++ });
            await awaitInterest(pub, [...members, plainConn]);
            for (let i = 0; i < 300; i++) {
                pub.publish('qgx.remote', sc.encode(String(i)));
            }
            await settle([pub], [...members, plainConn]);
            await waitFor(() => seen.size >= 300 && plain >= 300, 5000, '300 queue deliveries');
            await sleep(200);
            await settle([pub], [...members, plainConn]);
            assert.equal(seen.size, 300);
            for (const [i, n] of seen) {
                assert.equal(n, 1, `message ${i} delivered ${n} times`);
            }
            assert.equal(per.reduce((x, y) => x + y), 300);
            // nats-server picks among the remote servers per message: both B and C serve.
            assert.ok(per[0] + per[1] > 0 && per[2] + per[3] > 0, `B and C both serve: ${per}`);
            assert.equal(plain, 300, 'a plain subscriber on C gets every message');
        });

    // nats-server 2.9.10 does not prefer a queue member on the publisher's server: it picks
    // uniformly among all members of the group in the cluster (a route's queue interest
    // carries the count of members behind it). Measured: 1 member on A and 3 on B, 3000
    // messages published on A: 753/758/753/736.
    test('queue group with a member on every server: uniform over members, no local preference',
        T, async () => {
            const pub = await pools[0].open();
            // Server of each member: one on A (the publisher's), three on B, one on C.
            const layout = [0, 1, 1, 1, 2];
            const members = [];
            for (const i of layout) {
                members.push(await pools[i].open());
            }
            const per = layout.map(() => 0);
            const seen = new Map();
            members.forEach((nc, k) => nc.subscribe('qgx.local', {
                queue: 'workers',
                callback: (_, m) => {
                    const i = sc.decode(m.data);
                    seen.set(i, (seen.get(i) || 0) + 1);
                    per[k]++;
                },
            }));
            await awaitInterest(pub, members);
            const n = 500;
            for (let i = 0; i < n; i++) {
                pub.publish('qgx.local', sc.encode(String(i)));
            }
            await settle([pub], members);
            await waitFor(() => seen.size >= n, 5000, `${n} queue deliveries`);
            await sleep(200);
            await settle([pub], members);
            assert.equal(seen.size, n);
            assert.ok([...seen.values()].every((c) => c === 1), 'each message exactly once');
            assert.equal(per.reduce((x, y) => x + y), n);
            // Each member's share is about n/5 = 100 (binomial sd 9); a local preference would
            // give A all 500, and weighting by server instead of member would give A and C
            // about 167 each and B's members 56.
            for (const [k, c] of per.entries()) {
                assert.ok(c >= 50 && c <= 150, `member ${k} on server ${layout[k]} got ${c} ` +
                    `of ${n}, want about ${n / layout.length} (all: ${per})`);
            }
        });

    test('unsubscribe on B removes the interest on A; C keeps receiving', T, async () => {
        const [a, b] = cl.current.members;
        const pub = await pools[0].open();
        const onB = await pools[1].open();
        const onC = await pools[2].open();
        // A's route to B lists B's subscriptions by subject with ?subs=1.
        const listed = async () => ((await routeTo(a, b, '?subs=1')).subscriptions_list || [])
            .includes('unx.topic');
        let gotB = 0;
        let gotC = 0;
        const subB = onB.subscribe('unx.topic', { callback: () => gotB++ });
        onC.subscribe('unx.topic', { callback: () => gotC++ });
        await awaitInterest(pub, [onB, onC]);
        await waitForValue(listed, true, 'unx.topic in A\'s /routez?subs=1 list for B');
        pub.publish('unx.topic');
        await settle([pub], [onB, onC]);
        await waitFor(() => gotB === 1 && gotC === 1, 5000, 'one message on B and C');
        subB.unsubscribe();
        await onB.flush();
        await waitForValue(listed, false, 'unx.topic gone from A\'s list for B after UNSUB');
        const out0 = (await routeTo(a, b)).out_msgs;
        for (let i = 0; i < 50; i++) {
            pub.publish('unx.topic');
        }
        await settle([pub], [onB, onC]);
        await waitFor(() => gotC === 51, 5000, '50 more on C');
        const out1 = (await routeTo(a, b)).out_msgs;
        assert.ok(out1 - out0 < 50, `A still routes unx.topic to B (${out1 - out0} msgs)`);
        assert.equal(gotB, 1);
    });

    // nats-server tells a client CONNECT (it has "lang") from a route CONNECT without a
    // cluster name; both get an -ERR and are closed.
    for (const [what, connect, err] of [
        ['a client CONNECT (with lang)', '{"verbose":false,"pedantic":false,"lang":"nats.js",' +
            '"version":"2.29.3","protocol":1,"headers":true,"no_responders":true}',
        () => "-ERR 'attempted to connect to route port'\r\n"],
        ['CONNECT {} (no cluster name)', '{}',
            (name) => `-ERR 'Rejecting connection, cluster name "" does not match "${name}"'\r\n`],
    ]) {
        test(`the cluster port refuses ${what} with -ERR and closes`, T, async () => {
            const m = cl.current.members[1];
            const raw = await RawClient.open(m.clusterPort);
            try {
                // The cluster port's INFO is a route INFO: it names the cluster.
                assert.equal(raw.info.cluster, cl.current.name);
                assert.equal(raw.info.port, m.clusterPort);
                await raw.send(`CONNECT ${connect}\r\nPING\r\n`);
                const closed = await raw.waitClose(3000);
                assert.equal(raw.output(), err(cl.current.name));
                assert.equal(closed, true, 'closed after the -ERR');
            } finally {
                raw.destroy();
            }
        });
    }

    // Last: it stops and restarts server A.
    test('a client given only A fails over to B or C (connect_urls) and keeps receiving; ' +
        'A rejoins the mesh on restart', { timeout: 45000 }, async () => {
        const c = cl.current;
        const [a, b, cm] = c.members;
        const nc = await pools[0].open({
            reconnect: true, maxReconnectAttempts: 40, reconnectTimeWait: 250,
        });
        const pub = await pools[2].open();
        const got = [];
        nc.subscribe('fox.data', { callback: (_, m) => got.push(sc.decode(m.data)) });
        await awaitInterest(pub, [nc]);
        pub.publish('fox.data', sc.encode('before'));
        await settle([pub], [nc]);
        await waitFor(() => got.length === 1, 5000, 'message before failover');
        const events = [];
        const reconnected = (async () => {
            for await (const s of nc.status()) {
                events.push(s.type);
                if (s.type === Events.Reconnect) {
                    return s.data;
                }
            }
            return null;
        })();
        await c.stop(0);
        const to = await withTimeout(reconnected, 15000, `reconnect after stopping A (${events})`);
        assert.ok([b.hostport, cm.hostport].includes(to), `reconnected to ${to}`);
        assert.ok(events.includes(Events.Disconnect), 'a disconnect was reported');
        // The subscription was replayed on the new server; it must cross to C again.
        await awaitInterest(pub, [nc]);
        pub.publish('fox.data', sc.encode('after'));
        await settle([pub], [nc]);
        await waitFor(() => got.includes('after'), 5000, 'message after failover');
        assert.deepEqual(got, ['before', 'after']);
        await c.start(0);
        await c.waitMesh();
        assert.equal((await a.routez()).num_routes, 2);
    });
});

/** Poll fn() (async) until it returns want, bounded; fail with the last value. */
async function waitForValue(fn, want, what, ms = 5000) {
    const deadline = Date.now() + ms;
    let last;
    for (;;) {
        last = await fn();
        if (last === want) {
            return;
        }
        if (Date.now() > deadline) {
            assert.fail(`timed out after ${ms} ms waiting for ${what}: last value ${last}`);
        }
        await sleep(50);
    }
}

describe('cluster from config files with route authorization', () => {
    const auth = { user: 'ruser', pass: 'r0ute-pw' };
    const cl = clusterFixture(3, { config: true, seed: 'all', auth });

    test('every member lists every other: full mesh, messages cross', T, async () => {
        const [a, b, c] = cl.current.members;
        for (const m of [a, b, c]) {
            const rz = await m.routez();
            assert.equal(rz.num_routes, 2);
        }
        const pool = [new ConnPool({ hostport: a.hostport }), new ConnPool({ hostport: c.hostport })];
        try {
            const pub = await pool[0].open();
            const sub = await pool[1].open();
            const s = sub.subscribe('cfgx.hello');
            await awaitInterest(pub, [sub]);
            pub.publish('cfgx.hello', sc.encode('hi'));
            const [m] = await collect(s, 1, 5000);
            assert.equal(sc.decode(m.data), 'hi');
        } finally {
            await Promise.allSettled(pool.map((p) => p.closeAll()));
        }
    });

    test('a server with the wrong route password does not join', T, async (t) => {
        const seed = cl.current.members[0];
        const rogue = await startCluster(1, {
            name: cl.current.name,
            config: true,
            auth: { user: auth.user, pass: 'wrong' },
            noWait: true,
        });
        t.after(() => rogue.stopAll());
        // Point the rogue's routes at the authorized cluster: restart it with that config.
        rogue.opts.routesOverride = () => [
            `nats://${auth.user}:wrong@${HOST}:${seed.clusterPort}`,
        ];
        await rogue.restart(0);
        const r = rogue.members[0];
        // nats-server retries the configured route every second; it must never get in.
        for (let i = 0; i < 6; i++) {
            await sleep(300);
            assert.equal((await r.routez()).num_routes, 0, 'rogue has no route');
            const ids = (await seed.routez()).routes.map((x) => x.remote_id);
            assert.ok(!ids.includes(r.serverId), 'the seed has no route to the rogue');
        }
    });
});
