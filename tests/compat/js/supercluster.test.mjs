// SPDX-License-Identifier: Apache-2.0
//
// nats.js against a supercluster of the server under test (lib/supercluster.mjs): three
// clusters A (a1-a3), B (b1-b2) and C (c1) joined by gateways configured in config files,
// every server listing every cluster's gateway URLs. Messages published in one cluster
// reach subscribers in the others exactly once; wildcards, headers and request/reply work
// across gateways, also for the first request of a fresh connection (the _GR_ reply
// mapping covers the interest race); queue groups prefer the publisher's cluster and fail
// over to another cluster when the local members leave; a cluster without interest gets
// nothing (interest-only mode); /gatewayz has nats-server's fields and one outbound
// gateway per server per other cluster; clients see only their own cluster in INFO; the
// gateway port refuses clients; a stopped server or cluster is reconnected to on restart.
//
// Every subject is unique to its test. Cross-cluster delivery waits for the interest to
// cross the gateways first (awaitInterest), as a client of a real supercluster would have to.

import assert from 'node:assert/strict';
import test, { afterEach, beforeEach, describe } from 'node:test';
import { StringCodec, headers } from 'nats';

import { ConnPool, connectTo, settle, waitFor } from '../lib/client.mjs';
import { awaitInterest } from '../lib/cluster.mjs';
import { RawClient } from '../lib/raw.mjs';
import { superClusterFixture } from '../lib/supercluster.mjs';
import { HOST, sleep, withTimeout } from '../lib/server.mjs';

const sc = StringCodec();
const T = { timeout: 30000 };
const SPECS = [{ name: 'A', size: 3 }, { name: 'B', size: 2 }, { name: 'C', size: 1 }];

// /gatewayz as nats-server 2.9.10 serves it (no query): top-level keys, the keys of an
// outbound or inbound entry, and of its connection, with their JSON types. Outbound is
// an object keyed by gateway name; inbound an object of arrays keyed by gateway name.
const GATEWAYZ_KEYS = {
    server_id: 'string', now: 'string', name: 'string', host: 'string', port: 'number',
    outbound_gateways: 'object', inbound_gateways: 'object',
};
const GATEWAY_KEYS = { configured: 'boolean', connection: 'object' };
const CONN_KEYS = {
    cid: 'number', kind: 'string', ip: 'string', port: 'number', start: 'string',
    last_activity: 'string', rtt: 'string', uptime: 'string', idle: 'string',
    pending_bytes: 'number', in_msgs: 'number', out_msgs: 'number', in_bytes: 'number',
    out_bytes: 'number', subscriptions: 'number', name: 'string',
};
// The INFO a gateway port sends to whoever connects (2.9.10).
const GATEWAY_INFO_KEYS = [
    'server_id', 'server_name', 'version', 'proto', 'go', 'host', 'port', 'headers',
    'max_payload', 'gateway', 'gateway_urls', 'gateway_url', 'gateway_nrp', 'gateway_iom',
].sort();
const SERVER_ID = /^N[A-Z0-9]{55}$/;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
const DURATION = /^[0-9.]+(ns|µs|ms|s)$/;

// Messages the servers exchange on their own ($SYS account traffic: a few per gateway
// per second) may move the counters a little; a cluster without interest must stay
// well under the number of messages published.
const NOISE_MAX = 40;

function keyTypes(obj) {
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, typeof v]));
}

describe('supercluster of 3 clusters: A (3 servers), B (2), C (1)', () => {
    const hold = superClusterFixture(SPECS);
    // pools.a1.open() connects to server a1 without reconnects; closed after each test.
    let pools;
    const scNow = () => hold.current;
    beforeEach(() => {
        pools = Object.fromEntries(scNow().members.map((m) =>
            [m.name, new ConnPool({ hostport: m.hostport })]));
    });
    afterEach(async () => {
        await Promise.allSettled(Object.values(pools).map((p) => p.closeAll()));
        scNow()?.checkAlive();
    });
    const open = (name) => pools[name].open();

    /** Sum over `names` of each server's inbound in_msgs from gateway `from`. */
    async function inboundMsgs(names, from) {
        let n = 0;
        for (const name of names) {
            const gz = await scNow().server(name).gatewayz();
            for (const g of gz.inbound_gateways[from] || []) {
                n += g.connection.in_msgs;
            }
        }
        return n;
    }

    async function outboundMsgs(name, to) {
        const g = (await scNow().server(name).gatewayz()).outbound_gateways[to];
        assert.ok(g, `${name} has no outbound gateway to ${to}`);
        return g.connection.out_msgs;
    }

    test('one outbound gateway per server per other cluster (12 in all), inbound the same', T,
        async () => {
            const s = scNow();
            const ids = new Map(s.members.map((m) => [m.serverId, m]));
            let outTotal = 0;
            let inTotal = 0;
            const pairs = new Set(); // "outbound server id>remote server id"
            for (const m of s.members) {
                const gz = await m.gatewayz();
                const others = SPECS.map((x) => x.name).filter((n) => n !== m.cluster.name);
                assert.deepEqual(Object.keys(gz.outbound_gateways).sort(), others,
                    `${m.name} outbound gateways`);
                for (const [name, g] of Object.entries(gz.outbound_gateways)) {
                    const remote = ids.get(g.connection.name);
                    assert.ok(remote, `${m.name}'s outbound to ${name}: unknown server`);
                    assert.equal(remote.cluster.name, name, `${m.name}'s outbound to ${name}`);
                    assert.equal(g.connection.port, remote.gatewayPort, 'to the gateway port');
                    pairs.add(`${m.serverId}>${remote.serverId}`);
                    outTotal++;
                }
                for (const [name, list] of Object.entries(gz.inbound_gateways)) {
                    assert.notEqual(name, m.cluster.name, `${m.name}: inbound from own cluster`);
                    for (const g of list) {
                        const remote = ids.get(g.connection.name);
                        assert.ok(remote, `${m.name}'s inbound from ${name}: unknown server`);
                        assert.equal(remote.cluster.name, name);
                        inTotal++;
                    }
                }
            }
            assert.equal(outTotal, 3 * 2 + 2 * 2 + 1 * 2);
            assert.equal(inTotal, outTotal);
            // Every remote's outbound to m arrives as one inbound on m: check the pairing.
            for (const m of s.members) {
                const gz = await m.gatewayz();
                const inIds = Object.values(gz.inbound_gateways).flat()
                    .map((g) => g.connection.name);
                const want = [...pairs].filter((p) => p.endsWith(`>${m.serverId}`))
                    .map((p) => p.split('>')[0]);
                assert.deepEqual(inIds.sort(), want.sort(), `${m.name}: inbound = outbounds to it`);
            }
        });

    test('/gatewayz configured: true on outbound gateways from the config, false on inbound', T,
        async () => {
            for (const m of scNow().members) {
                const gz = await m.gatewayz();
                for (const [name, g] of Object.entries(gz.outbound_gateways)) {
                    assert.equal(g.configured, true, `${m.name} outbound to ${name}`);
                }
                for (const [name, list] of Object.entries(gz.inbound_gateways)) {
                    for (const g of list) {
                        assert.equal(g.configured, false, `${m.name} inbound from ${name}`);
                    }
                }
            }
        });

    test('/gatewayz: nats-server 2.9.10 fields and types', T, async () => {
        for (const m of scNow().members) {
            const gz = await m.gatewayz();
            assert.deepEqual(keyTypes(gz), GATEWAYZ_KEYS, `${m.name} /gatewayz top-level keys`);
            assert.equal(gz.server_id, m.serverId);
            assert.match(gz.server_id, SERVER_ID);
            assert.match(gz.now, RFC3339);
            assert.equal(gz.name, m.cluster.name);
            assert.equal(gz.host, HOST);
            assert.equal(gz.port, m.gatewayPort);
            const entries = [...Object.values(gz.outbound_gateways),
                ...Object.values(gz.inbound_gateways).flat()];
            assert.ok(Object.values(gz.inbound_gateways).every(Array.isArray), 'inbound arrays');
            for (const g of entries) {
                assert.deepEqual(keyTypes(g), GATEWAY_KEYS, `${m.name} gateway entry keys`);
                const c = g.connection;
                assert.deepEqual(keyTypes(c), CONN_KEYS, `${m.name} gateway connection keys`);
                assert.equal(c.kind, 'Gateway');
                assert.equal(c.ip, HOST);
                assert.match(c.name, SERVER_ID);
                assert.match(c.start, RFC3339);
                assert.match(c.last_activity, RFC3339);
                assert.match(c.rtt, DURATION);
                assert.match(c.idle, /^(\d+[dhms])+$|^0s$/);
                assert.match(c.uptime, /^(\d+[dhms])+$/);
                assert.ok(Number.isInteger(c.cid) && c.cid > 0);
            }
            const cids = entries.map((g) => g.connection.cid);
            assert.equal(new Set(cids).size, cids.length, 'cids are distinct');
        }
        // ?accs=1 adds per-account interest modes; interest-only from the start (2.9).
        const gz = await scNow().server('a1').gatewayz('?accs=1');
        for (const [name, g] of Object.entries(gz.outbound_gateways)) {
            const acc = (g.accounts || []).find((a) => a.name === '$G');
            assert.ok(acc, `a1 /gatewayz?accs=1 outbound ${name} lists account $G`);
            assert.equal(acc.interest_mode, 'Interest-Only');
            assert.equal(acc.interest_only_threshold, 1000);
        }
    });

    test('/varz gateway block: name, host, port and the configured gateways', T, async () => {
        const s = scNow();
        for (const m of [s.server('a1'), s.server('c1')]) {
            const gw = (await m.varz()).gateway;
            assert.equal(gw.name, m.cluster.name);
            assert.equal(gw.host, HOST);
            assert.equal(gw.port, m.gatewayPort);
            const listed = Object.fromEntries(gw.gateways.map((g) => [g.name, [...g.urls].sort()]));
            for (const c of s.clusters) {
                const urls = c.members.map((x) => `${HOST}:${x.gatewayPort}`).sort();
                assert.deepEqual(listed[c.name], urls,
                    `${m.name} /varz gateway.gateways ${c.name}`);
            }
        }
    });

    test('publish in A: subscribers in A, B and C get exactly one copy each, in order', T,
        async () => {
            const pub = await open('a1');
            const names = ['a2', 'b1', 'b2', 'c1'];
            const subs = [];
            for (const n of names) {
                subs.push(await open(n));
            }
            const got = subs.map(() => []);
            subs.forEach((nc, k) => nc.subscribe('sc.ps', {
                callback: (_, m) => got[k].push(sc.decode(m.data)),
            }));
            // Two subscriptions on one connection in C: one copy crosses, C fans out.
            const twice = [[], []];
            const c2 = await open('c1');
            c2.subscribe('sc.ps', { callback: (_, m) => twice[0].push(sc.decode(m.data)) });
            c2.subscribe('sc.>', { callback: (_, m) => twice[1].push(sc.decode(m.data)) });
            subs.push(c2);
            await awaitInterest(pub, subs);
            const c0 = await outboundMsgs('a1', 'C');
            const want = Array.from({ length: 50 }, (_, i) => `m${i}`);
            for (const w of want) {
                pub.publish('sc.ps', sc.encode(w));
            }
            await settle([pub], subs);
            await waitFor(() => got.every((g) => g.length >= 50) && twice[1].length >= 50, 5000,
                '50 messages everywhere');
            await sleep(200); // a duplicate would arrive within this
            await settle([pub], subs);
            for (const [k, g] of got.entries()) {
                assert.deepEqual(g, want, `subscriber on ${names[k]}`);
            }
            assert.deepEqual(twice[0], want, 'sc.ps on the 2-subscription connection in C');
            assert.deepEqual(twice[1], want, 'sc.> on the 2-subscription connection in C');
            // a1 sends one copy per message to C, not one per subscription there.
            const sent = (await outboundMsgs('a1', 'C')) - c0;
            assert.ok(sent >= 50 && sent < 50 + NOISE_MAX,
                `a1 -> C out_msgs grew by ${sent}, want 50`);
        });

    test('publish in C and in B: subscribers in the other clusters get one copy each', T,
        async () => {
            for (const from of ['c1', 'b2']) {
                const pub = await open(from);
                const names = ['a1', 'a3', 'b1', 'c1'].filter((n) => n !== from);
                const subs = [];
                for (const n of names) {
                    subs.push(await open(n));
                }
                const subject = `sc.from.${from}`;
                const got = subs.map(() => 0);
                subs.forEach((nc, k) => nc.subscribe(subject, { callback: () => got[k]++ }));
                await awaitInterest(pub, subs);
                for (let i = 0; i < 30; i++) {
                    pub.publish(subject);
                }
                await settle([pub], subs);
                await waitFor(() => got.every((g) => g >= 30), 5000, `30 from ${from} everywhere`);
                await sleep(150);
                await settle([pub], subs);
                assert.deepEqual(got, names.map(() => 30), `published on ${from} to ${names}`);
            }
        });

    test('wildcard subscriptions across clusters', T, async () => {
        const pub = await open('a2');
        const onB = await open('b1');
        const onC = await open('c1');
        const onA = await open('a3');
        const got = { star: [], gt: [], exact: [], a: [] };
        onB.subscribe('wc.*.x', { callback: (_, m) => got.star.push(m.subject) });
        onC.subscribe('wc.>', { callback: (_, m) => got.gt.push(m.subject) });
        onC.subscribe('wc.k.x', { callback: (_, m) => got.exact.push(m.subject) });
        onA.subscribe('wc.*.*', { callback: (_, m) => got.a.push(m.subject) });
        await awaitInterest(pub, [onB, onC, onA]);
        const subjects = ['wc.k.x', 'wc.j.x', 'wc.k.y', 'wc.k.x.z', 'wc', 'wc.z'];
        for (const s of subjects) {
            pub.publish(s);
        }
        await settle([pub], [onB, onC, onA]);
        await waitFor(() => got.gt.length >= 5, 5000, 'wc.> deliveries');
        await sleep(150);
        await settle([pub], [onB, onC, onA]);
        assert.deepEqual(got.star, ['wc.k.x', 'wc.j.x'], 'wc.*.x in B');
        assert.deepEqual(got.gt, ['wc.k.x', 'wc.j.x', 'wc.k.y', 'wc.k.x.z', 'wc.z'], 'wc.> in C');
        assert.deepEqual(got.exact, ['wc.k.x'], 'wc.k.x in C');
        assert.deepEqual(got.a, ['wc.k.x', 'wc.j.x', 'wc.k.y'], 'wc.*.* in A');
    });

    test('headers cross gateways intact, both ways', T, async () => {
        for (const [from, to] of [['a1', 'c1'], ['b2', 'a3']]) {
            const pub = await open(from);
            const sub = await open(to);
            const got = [];
            sub.subscribe(`hdr.${from}`, { callback: (_, m) => got.push(m) });
            await awaitInterest(pub, [sub]);
            const h = headers();
            h.set('X-Trace', `from-${from}`);
            h.append('X-Multi', 'one');
            h.append('X-Multi', 'two');
            pub.publish(`hdr.${from}`, sc.encode('with headers'), { headers: h });
            pub.publish(`hdr.${from}`, sc.encode('without'));
            await settle([pub], [sub]);
            await waitFor(() => got.length >= 2, 5000, 'two messages');
            assert.equal(sc.decode(got[0].data), 'with headers');
            assert.equal(got[0].headers.get('X-Trace'), `from-${from}`);
            assert.deepEqual(got[0].headers.values('X-Multi'), ['one', 'two']);
            assert.equal(sc.decode(got[1].data), 'without');
            assert.equal(got[1].headers, undefined, `${from} -> ${to}: no headers on the second`);
        }
    });

    test('request/reply across clusters: requester in A and B, responder in C', T, async () => {
        const svc = await open('c1');
        const replies = [];
        svc.subscribe('rr.svc', {
            callback: (_, m) => {
                replies.push(m.reply);
                m.respond(sc.encode(`re:${sc.decode(m.data)}`));
            },
        });
        for (const from of ['a2', 'b1']) {
            const client = await open(from);
            await awaitInterest(client, [svc]);
            for (let i = 0; i < 20; i++) {
                const r = await client.request('rr.svc', sc.encode(`${from}.${i}`),
                    { timeout: 3000 });
                assert.equal(sc.decode(r.data), `re:${from}.${i}`);
            }
        }
        // The responder sees the requester's own reply subject, never a _GR_. prefix.
        for (const r of replies) {
            assert.match(r, /^_INBOX\./, 'reply subject as delivered to the responder');
        }
    });

    test('the first request of a fresh connection gets its reply (interest race)', T,
        async () => {
            const svc = await open('c1');
            svc.subscribe('rr.first', {
                callback: (_, m) => m.respond(sc.encode(`re:${m.reply}`)),
            });
            const probe = await open('a1');
            await awaitInterest(probe, [svc]);
            // Each requester connects and sends its request at once: its reply subscription
            // cannot have reached C yet, so the reply travels on the _GR_ reply mapping.
            for (const from of ['a1', 'a2', 'a3', 'b1', 'b2', 'a1', 'a2', 'a3', 'b1', 'b2']) {
                const client = await connectTo(scNow().server(from));
                try {
                    const r = await client.request('rr.first', sc.encode('x'), { timeout: 2000 });
                    assert.match(sc.decode(r.data), /^re:_INBOX\./, `first request from ${from}`);
                    // A plain subscription and publish with reply, also at once.
                    const inbox = `_INBOX.first.${from}.${Date.now()}`;
                    const got = [];
                    client.subscribe(inbox, { callback: (_, m) => got.push(sc.decode(m.data)) });
                    client.publish('rr.first', sc.encode('y'), { reply: inbox });
                    await waitFor(() => got.length === 1, 2000, `reply to ${inbox} from ${from}`);
                    assert.equal(got[0], `re:${inbox}`);
                } finally {
                    await withTimeout(client.close(), 3000, 'close');
                }
            }
        });

    test('no responders anywhere: a request from A fails with 503 at once', T, async () => {
        const client = await open('a2');
        const t0 = Date.now();
        await assert.rejects(client.request('rr.nobody', sc.encode('x'), { timeout: 3000 }),
            (e) => e.code === '503', 'request to a subject nobody serves');
        assert.ok(Date.now() - t0 < 2000, 'no responders is reported before the timeout');
    });

    test('queue group: the publisher\'s cluster is preferred, B takes over when A\'s ' +
        'members leave; each message exactly once', T, async () => {
        const seen = new Map();
        const byCluster = { A: 0, B: 0 };
        const member = async (name) => {
            const nc = await open(name);
            nc.subscribe('qg.work', {
                queue: 'workers',
                callback: (_, m) => {
                    const i = sc.decode(m.data);
                    seen.set(i, (seen.get(i) || 0) + 1);
                    byCluster[name[0].toUpperCase()]++;
                },
            });
            return nc;
        };
        // A's members are on the other servers of A, none on the publisher's: the
        // preference is for the cluster, not the server.
        const inA = [await member('a2'), await member('a3')];
        const inB = [await member('b1'), await member('b2')];
        // A plain subscriber in B gets every message regardless of the queue group.
        const plain = await open('b1');
        let plainGot = 0;
        plain.subscribe('qg.work', { callback: () => plainGot++ });
        const pub = await open('a1');
        await awaitInterest(pub, [...inA, ...inB, plain]);
        for (let i = 0; i < 200; i++) {
            pub.publish('qg.work', sc.encode(`p1.${i}`));
        }
        await settle([pub], [...inA, ...inB, plain]);
        await waitFor(() => seen.size >= 200 && plainGot >= 200, 5000, '200 queue deliveries');
        await sleep(200);
        await settle([pub], [...inA, ...inB, plain]);
        assert.deepEqual(byCluster, { A: 200, B: 0 }, 'published in A: all to A\'s members');
        assert.equal(plainGot, 200, 'plain subscriber in B');

        // Published in B, the same group goes to B's members only.
        const pubB = await open('b2');
        await awaitInterest(pubB, [...inA, ...inB]);
        for (let i = 0; i < 100; i++) {
            pubB.publish('qg.work', sc.encode(`p2.${i}`));
        }
        await settle([pubB], [...inA, ...inB]);
        await waitFor(() => seen.size >= 300, 5000, '100 more queue deliveries');
        await sleep(200);
        await settle([pubB], [...inA, ...inB]);
        assert.deepEqual(byCluster, { A: 200, B: 100 }, 'published in B: all to B\'s members');

        // A's members leave: a1 fails over to B once the removal has crossed A's routes.
        await Promise.all(inA.map((nc) => withTimeout(nc.close(), 3000, 'close')));
        const deadline = Date.now() + 10000;
        let k = 0;
        while (byCluster.B === 100) {
            assert.ok(Date.now() < deadline,
                'no message reached B within 10 s after A\'s members left');
            pub.publish('qg.work', sc.encode(`probe.${k++}`));
            await sleep(20);
        }
        await settle([pub], inB);
        const before = seen.size;
        const probesSeen = [...seen.keys()].filter((x) => x.startsWith('probe.')).length;
        for (let i = 0; i < 200; i++) {
            pub.publish('qg.work', sc.encode(`p3.${i}`));
        }
        await settle([pub], inB);
        await waitFor(() => seen.size >= before + 200, 5000, '200 deliveries after failover');
        await sleep(200);
        await settle([pub], inB);
        for (let i = 0; i < 200; i++) {
            assert.equal(seen.get(`p3.${i}`), 1, `p3.${i} after failover`);
        }
        assert.equal(byCluster.A, 200, 'nothing to A after its members left');
        assert.equal(byCluster.B, 100 + probesSeen + 200, 'failover: all to B\'s members');
        for (const [i, c] of seen) {
            assert.equal(c, 1, `message ${i} delivered ${c} times`);
        }
    });

    test('queue group only in other clusters: each message exactly once', T, async () => {
        const seen = new Map();
        const members = [];
        for (const n of ['b1', 'b2', 'c1']) {
            const nc = await open(n);
            nc.subscribe('qg.remote', {
                queue: 'far',
                callback: (_, m) => {
                    const i = sc.decode(m.data);
                    seen.set(i, (seen.get(i) || 0) + 1);
                },
            });
            members.push(nc);
        }
        const pub = await open('a3');
        await awaitInterest(pub, members);
        for (let i = 0; i < 200; i++) {
            pub.publish('qg.remote', sc.encode(String(i)));
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

    test('interest-only: a cluster without subscribers gets nothing; UNSUB stops it again', T,
        async () => {
            const pub = await open('a1');
            const onC = await open('c1');
            let gotC = 0;
            onC.subscribe('io.x', { callback: () => gotC++ });
            await awaitInterest(pub, [onC]);
            const N = 300;
            const counters = async () => ({
                toB: await outboundMsgs('a1', 'B'),
                toC: await outboundMsgs('a1', 'C'),
                bFromA: await inboundMsgs(['b1', 'b2'], 'A'),
                bVarz: (await scNow().server('b1').varz()).in_msgs +
                    (await scNow().server('b2').varz()).in_msgs,
                cVarz: (await scNow().server('c1').varz()).in_msgs,
            });
            const publishN = async (subject) => {
                const c0 = await counters();
                for (let i = 0; i < N; i++) {
                    pub.publish(subject, sc.encode('payload'));
                }
                await settle([pub], [onC]);
                await sleep(100);
                const c1 = await counters();
                return Object.fromEntries(Object.keys(c0).map((k) => [k, c1[k] - c0[k]]));
            };
            const d = await publishN('io.x');
            await waitFor(() => gotC >= N, 5000, `${N} messages in C`);
            assert.ok(d.toC >= N, `a1 -> C out_msgs grew by ${d.toC}, want >= ${N}`);
            assert.ok(d.cVarz >= N, `c1 /varz in_msgs grew by ${d.cVarz}, want >= ${N}`);
            assert.ok(d.toB < NOISE_MAX, `a1 -> B out_msgs grew by ${d.toB}: B has no interest`);
            assert.ok(d.bFromA < NOISE_MAX, `B's inbound from A in_msgs grew by ${d.bFromA}`);
            assert.ok(d.bVarz < NOISE_MAX, `B's /varz in_msgs grew by ${d.bVarz}`);

            // Interest appears in B: B gets the messages; it goes away: B stops getting them.
            const onB = await open('b2');
            let gotB = 0;
            const sub = onB.subscribe('io.x', { callback: () => gotB++ });
            await awaitInterest(pub, [onB]);
            gotB = 0;
            const d2 = await publishN('io.x');
            await settle([pub], [onB]);
            await waitFor(() => gotB >= N, 5000, `${N} messages in B`);
            assert.ok(d2.bFromA >= N, `B's inbound from A grew by ${d2.bFromA} with a subscriber`);
            sub.unsubscribe();
            await onB.flush();
            // The RS- crosses asynchronously: publish until a1's counter stops moving.
            const deadline = Date.now() + 10000;
            for (;;) {
                const d3 = await publishN('io.x');
                if (d3.toB < NOISE_MAX && d3.bFromA < NOISE_MAX) {
                    break;
                }
                assert.ok(Date.now() < deadline, `a1 still sends io.x to B 10 s after UNSUB ` +
                    `(${d3.toB} of ${N})`);
                await sleep(100);
            }
            assert.equal(gotB, N, 'nothing delivered in B after UNSUB');
        });

    test('client INFO: own cluster name, connect_urls of the own cluster only', T, async () => {
        const s = scNow();
        for (const m of s.members) {
            const raw = await RawClient.open(m.clientPort);
            try {
                assert.equal(raw.info.cluster, m.cluster.name, `${m.name} INFO cluster`);
                if (m.cluster.members.length > 1) {
                    assert.deepEqual([...raw.info.connect_urls].sort(),
                        m.cluster.members.map((x) => x.hostport).sort(), `${m.name} connect_urls`);
                } else {
                    assert.equal(raw.info.connect_urls, undefined,
                        `${m.name}: a one-server cluster sends no connect_urls`);
                }
                for (const k of Object.keys(raw.info)) {
                    assert.ok(!k.startsWith('gateway'), `${m.name} client INFO has ${k}`);
                }
            } finally {
                raw.destroy();
            }
        }
        const nc = await open('b1');
        assert.deepEqual([...nc.info.connect_urls].sort(),
            s.byName.B.members.map((x) => x.hostport).sort());
    });

    test('gateway port: gateway INFO to whoever connects', T, async () => {
        const s = scNow();
        for (const m of [s.server('a2'), s.server('c1')]) {
            const raw = await RawClient.open(m.gatewayPort);
            try {
                assert.match(raw.infoLine, /^INFO \{.*\}\r\n$/);
                // meridian adds its own version to every INFO (core/server/server.h).
                const keys = Object.keys(raw.info).filter((k) => k !== 'meridian_version');
                assert.deepEqual(keys.sort(), GATEWAY_INFO_KEYS, `${m.name} gateway INFO keys`);
                assert.equal(raw.info.server_id, m.serverId);
                assert.equal(raw.info.server_name, m.name);
                assert.equal(raw.info.gateway, m.cluster.name);
                assert.equal(raw.info.gateway_url, `${HOST}:${m.gatewayPort}`);
                assert.deepEqual([...raw.info.gateway_urls].sort(),
                    m.cluster.members.map((x) => `${HOST}:${x.gatewayPort}`).sort(),
                    `${m.name} gateway_urls: the gateway URLs of its own cluster`);
                assert.equal(raw.info.host, HOST);
                assert.equal(raw.info.port, m.gatewayPort);
                assert.equal(raw.info.headers, true);
                assert.equal(raw.info.gateway_nrp, true);
                assert.equal(raw.info.gateway_iom, true);
            } finally {
                raw.destroy();
            }
        }
    });

    // Client CONNECTs (with or without lang) on the gateway port get -ERR and are closed;
    // a client that sends anything else first is an authorization violation there.
    const REFUSED = [
        ['a client CONNECT',
            'CONNECT {"verbose":false,"pedantic":false,"lang":"node","version":"1"}\r\nPING\r\n',
            "-ERR 'attempted to connect to gateway port'\r\n"],
        ['CONNECT {}', 'CONNECT {}\r\nPING\r\n', "-ERR 'attempted to connect to gateway port'\r\n"],
        ['PING before CONNECT', 'PING\r\n', "-ERR 'Authorization Violation'\r\n"],
    ];
    for (const [what, bytes, err] of REFUSED) {
        test(`gateway port refuses ${what} with -ERR and closes`, T, async () => {
            const raw = await RawClient.open(scNow().server('b1').gatewayPort);
            try {
                await raw.send(bytes);
                const closed = await raw.waitClose(3000);
                assert.equal(raw.output(), err);
                assert.equal(closed, true, 'closed after the -ERR');
            } finally {
                raw.destroy();
            }
        });
    }

    // nats.js sends CONNECT and PING in one go and more after; the server closes right
    // after its -ERR, so nats.js reports either that -ERR or the reset of its next write
    // (out of 200 tries on 2.9.10: 69 the -ERR, 111 EPIPE, 20 ECONNRESET).
    test('nats.js cannot connect to the gateway port', T, async () => {
        const m = scNow().server('a3');
        await assert.rejects(connectTo({ hostport: `${HOST}:${m.gatewayPort}` }),
            (e) => /attempted to connect to gateway port|EPIPE|ECONNRESET/.test(e.message),
            'connect to gateway port');
    });

    test('one server of B stops: A and C reconnect to the other; restarted, it rejoins', T,
        async () => {
            const s = scNow();
            await s.stopServer('b1');
            await s.waitConnected();
            for (const m of [...s.byName.A.members, ...s.byName.C.members]) {
                const g = (await m.gatewayz()).outbound_gateways.B;
                assert.equal(g.connection.name, s.server('b2').serverId, `${m.name} -> B: b2`);
            }
            await oneWay(s, 'a1', 'b2', 'rs.one');
            await s.startServer('b1');
            await s.waitConnected();
            await oneWay(s, 'c1', 'b1', 'rs.two');
        });

    test('cluster B stops: the others drop it; restarted, the supercluster reconnects', T,
        async () => {
            const s = scNow();
            await s.stopCluster('B');
            await s.waitConnected();
            for (const m of [...s.byName.A.members, ...s.byName.C.members]) {
                const gz = await m.gatewayz();
                assert.equal(gz.outbound_gateways.B, undefined, `${m.name}: outbound to B`);
                assert.equal(gz.inbound_gateways.B, undefined, `${m.name}: inbound from B`);
            }
            await oneWay(s, 'a2', 'c1', 'rc.one');
            await s.startCluster('B');
            await s.waitConnected();
            await oneWay(s, 'b2', 'a3', 'rc.two');
            await oneWay(s, 'a1', 'b1', 'rc.three');
        });

    /** 20 messages from server `from` to a subscriber on `to`, in order, once each. */
    async function oneWay(s, from, to, subject) {
        const pub = await open(from);
        const sub = await open(to);
        const got = [];
        sub.subscribe(subject, { callback: (_, m) => got.push(sc.decode(m.data)) });
        await awaitInterest(pub, [sub]);
        const want = Array.from({ length: 20 }, (_, i) => `m${i}`);
        for (const w of want) {
            pub.publish(subject, sc.encode(w));
        }
        await settle([pub], [sub]);
        await waitFor(() => got.length >= 20, 5000, `20 messages ${from} -> ${to}`);
        await sleep(100);
        await settle([pub], [sub]);
        assert.deepEqual(got, want, `${from} -> ${to}`);
    }
});

// C lists only A (and itself); A and B do not list C. A gossips B to C over the inbound
// connection from C, so C connects to B as well, and A and B connect back to C: all of
// them implicit gateways, `configured: false` in /gatewayz.
describe('implicit gateways: a cluster that knows only one other is found through gossip', () => {
    const hold = superClusterFixture([
        { name: 'A', size: 1, gateways: ['A', 'B'] },
        { name: 'B', size: 2, gateways: ['A', 'B'] },
        { name: 'C', size: 1, gateways: ['A', 'C'] },
    ]);
    const conns = [];
    afterEach(async () => {
        await Promise.allSettled(conns.splice(0)
            .map((nc) => withTimeout(nc.close(), 3000, 'close')));
        hold.current?.checkAlive();
    });

    test('every server has an outbound gateway to each other cluster; learned ones are ' +
        'not configured', T, async () => {
        const s = hold.current;
        const want = {
            a1: { B: true, C: false },
            b1: { A: true, C: false },
            b2: { A: true, C: false },
            c1: { A: true, B: false },
        };
        for (const m of s.members) {
            const gz = await m.gatewayz();
            const got = Object.fromEntries(Object.entries(gz.outbound_gateways)
                .map(([name, g]) => [name, g.configured]));
            assert.deepEqual(got, want[m.name], `${m.name} outbound gateways: configured`);
        }
    });

    test('messages between C and B, which do not list each other', T, async () => {
        const s = hold.current;
        for (const [from, to] of [['b2', 'c1'], ['c1', 'b1']]) {
            const pub = await connectTo(s.server(from));
            const sub = await connectTo(s.server(to));
            conns.push(pub, sub);
            const got = [];
            sub.subscribe(`gossip.${from}`, { callback: (_, m) => got.push(sc.decode(m.data)) });
            await awaitInterest(pub, [sub]);
            const want = Array.from({ length: 20 }, (_, i) => `m${i}`);
            for (const w of want) {
                pub.publish(`gossip.${from}`, sc.encode(w));
            }
            await settle([pub], [sub]);
            await waitFor(() => got.length >= 20, 5000, `20 messages ${from} -> ${to}`);
            await sleep(100);
            await settle([pub], [sub]);
            assert.deepEqual(got, want, `${from} -> ${to}`);
        }
    });
});
