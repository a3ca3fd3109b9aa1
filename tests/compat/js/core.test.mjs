// SPDX-License-Identifier: Apache-2.0
//
// nats.js against the server under test: core messaging. One server for the
// file; each test opens its own connections on its own subjects and closes them.

import assert from 'node:assert/strict';
import test, { afterEach, beforeEach, describe } from 'node:test';
import { Empty, ErrorCode, StringCodec, headers } from 'nats';

import { ConnPool, collect, settle, waitFor } from '../lib/client.mjs';
import { serverFixture, sleep, withTimeout } from '../lib/server.mjs';

const sc = StringCodec();
const T = { timeout: 20000 };

describe('nats.js core messaging', () => {
    const srv = serverFixture();
    let pool;
    beforeEach(() => {
        pool = new ConnPool(srv.current);
    });
    afterEach(async () => {
        await pool.closeAll();
    });

    test('INFO seen by the client', T, async () => {
        const nc = await pool.open();
        assert.equal(nc.info.proto, 1);
        assert.equal(nc.info.headers, true);
        assert.equal(nc.info.max_payload, 1048576);
        assert.match(nc.info.server_id, /^N[A-Z0-9]{55}$/);
    });

    test('pub/sub across connections', T, async () => {
        const sub = await pool.open();
        const pub = await pool.open();
        const got = [];
        sub.subscribe('ps.hello', { callback: (err, m) => got.push(err ?? sc.decode(m.data)) });
        await sub.flush();
        for (let i = 0; i < 10; i++) {
            pub.publish('ps.hello', sc.encode(`m${i}`));
        }
        pub.publish('ps.other', sc.encode('not for us'));
        await settle([pub], [sub]);
        assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => `m${i}`));
    });

    test('empty payload and the message subject', T, async () => {
        const nc = await pool.open();
        const s = nc.subscribe('ps.empty');
        nc.publish('ps.empty', Empty);
        const [m] = await collect(s, 1, 5000);
        assert.equal(m.subject, 'ps.empty');
        assert.equal(m.data.length, 0);
        assert.equal(m.reply, '');
    });

    test('wildcards * and >', T, async () => {
        const sub = await pool.open();
        const pub = await pool.open();
        const star = [];
        const gt = [];
        const mid = [];
        sub.subscribe('wc.*', { callback: (_, m) => star.push(m.subject) });
        sub.subscribe('wc.>', { callback: (_, m) => gt.push(m.subject) });
        sub.subscribe('wc.*.z', { callback: (_, m) => mid.push(m.subject) });
        await sub.flush();
        for (const s of ['wc', 'wc.a', 'wc.b', 'wc.a.z', 'wc.a.b.z', 'wcx.a', 'wc.a.y']) {
            pub.publish(s, Empty);
        }
        await settle([pub], [sub]);
        assert.deepEqual(star, ['wc.a', 'wc.b']);
        assert.deepEqual(gt, ['wc.a', 'wc.b', 'wc.a.z', 'wc.a.b.z', 'wc.a.y']);
        assert.deepEqual(mid, ['wc.a.z']);
    });

    test('queue group: 3 members, 300 messages, each delivered exactly once', T, async () => {
        const members = [await pool.open(), await pool.open(), await pool.open()];
        const plain = await pool.open();
        const pub = await pool.open();
        const seen = new Map(); // index -> count
        const perMember = [0, 0, 0];
        members.forEach((nc, k) => {
            nc.subscribe('qg.work', {
                queue: 'workers',
                callback: (_, m) => {
                    const i = Number(sc.decode(m.data));
                    seen.set(i, (seen.get(i) || 0) + 1);
                    perMember[k]++;
                },
            });
        });
        // A plain subscriber on the same subject gets every message.
        let plainCount = 0;
        plain.subscribe('qg.work', { callback: () => plainCount++ });
        await settle(members, []);
        await plain.flush();
        for (let i = 0; i < 300; i++) {
            pub.publish('qg.work', sc.encode(String(i)));
        }
        await settle([pub], [...members, plain]);
        await waitFor(() => perMember.reduce((a, b) => a + b) >= 300 && plainCount >= 300, 5000,
            'all 300 queue deliveries');
        assert.equal(seen.size, 300, 'every message delivered to the group');
        for (const [i, c] of seen) {
            assert.equal(c, 1, `message ${i} delivered ${c} times`);
        }
        assert.equal(perMember.reduce((a, b) => a + b), 300);
        for (const [k, c] of perMember.entries()) {
            assert.ok(c > 0, `member ${k} got no messages (${perMember})`);
        }
        assert.equal(plainCount, 300);
    });

    test('headers: HPUB/HMSG round trip with multi-value headers', T, async () => {
        const sub = await pool.open();
        const pub = await pool.open();
        const s = sub.subscribe('hdr.test');
        await sub.flush();
        const h = headers();
        h.append('X-Multi', 'one');
        h.append('X-Multi', 'two');
        h.append('X-Multi', 'three');
        h.set('X-Single', 'value with spaces');
        h.set('Content-Type', 'text/plain');
        pub.publish('hdr.test', sc.encode('body'), { headers: h });
        // Headers without a body, too.
        const h2 = headers();
        h2.set('Only', 'header');
        pub.publish('hdr.test', Empty, { headers: h2 });
        const [m, m2] = await collect(s, 2, 5000);
        assert.ok(m.headers, 'message has headers');
        assert.deepEqual(m.headers.values('X-Multi'), ['one', 'two', 'three']);
        assert.equal(m.headers.get('X-Single'), 'value with spaces');
        assert.equal(m.headers.get('Content-Type'), 'text/plain');
        assert.equal(m.headers.hasError, false);
        assert.equal(sc.decode(m.data), 'body');
        assert.equal(m2.headers.get('Only'), 'header');
        assert.equal(m2.data.length, 0);
    });

    test('request/reply', T, async () => {
        const svc = await pool.open();
        const client = await pool.open();
        svc.subscribe('rr.upper', {
            callback: (_, m) => {
                const h = headers();
                h.set('Served-By', 'svc');
                m.respond(sc.encode(sc.decode(m.data).toUpperCase()), { headers: h });
            },
        });
        await svc.flush();
        for (const word of ['alpha', 'beta', 'gamma']) {
            const r = await client.request('rr.upper', sc.encode(word), { timeout: 3000 });
            assert.equal(sc.decode(r.data), word.toUpperCase());
            assert.equal(r.headers.get('Served-By'), 'svc');
        }
        // Old-style request with its own inbox (noMux).
        const r = await client.request('rr.upper', sc.encode('delta'), { timeout: 3000, noMux: true });
        assert.equal(sc.decode(r.data), 'DELTA');
    });

    test('no responders: request with no subscriber rejects with 503', T, async () => {
        const nc = await pool.open();
        await assert.rejects(
            nc.request('nr.nobody.home', Empty, { timeout: 3000 }),
            (err) => {
                assert.equal(err.code, ErrorCode.NoResponders);
                assert.equal(err.code, '503');
                return true;
            },
        );
        await assert.rejects(
            nc.request('nr.nobody.home', Empty, { timeout: 3000, noMux: true }),
            (err) => err.code === '503',
        );
        // The connection is still fine.
        await nc.flush();
        assert.equal(nc.isClosed(), false);
    });

    test('auto-unsubscribe: sub with max 5 gets exactly 5', T, async () => {
        const sub = await pool.open();
        const pub = await pool.open();
        const s = sub.subscribe('au.five', { max: 5 });
        await sub.flush();
        for (let i = 0; i < 12; i++) {
            pub.publish('au.five', sc.encode(String(i)));
        }
        await settle([pub], [sub]);
        const got = [];
        await withTimeout((async () => {
            for await (const m of s) {
                got.push(sc.decode(m.data));
            }
        })(), 5000, 'auto-unsubscribed subscription to end');
        assert.deepEqual(got, ['0', '1', '2', '3', '4']);
        assert.equal(s.isClosed(), true);
        assert.equal(s.getReceived(), 5);

        // unsubscribe(max) after subscribing: the server stops after max too.
        const s2 = sub.subscribe('au.three');
        s2.unsubscribe(3);
        await sub.flush();
        for (let i = 0; i < 6; i++) {
            pub.publish('au.three', Empty);
        }
        await settle([pub], [sub]);
        const got2 = await collect(s2, 3, 5000);
        assert.equal(got2.length, 3);
        await s2.closed;
    });

    test('drain: in-flight messages are processed, then the connection closes', T, async () => {
        const sub = await pool.open();
        const pub = await pool.open();
        let count = 0;
        sub.subscribe('dr.test', {
            callback: () => {
                count++;
            },
        });
        await sub.flush();
        for (let i = 0; i < 200; i++) {
            pub.publish('dr.test', sc.encode(String(i)));
        }
        await pub.flush();
        await withTimeout(sub.drain(), 5000, 'connection drain');
        assert.equal(count, 200);
        assert.equal(sub.isClosed(), true);
        await withTimeout(sub.closed(), 2000, 'closed()');

        // Subscription drain keeps the connection open.
        const nc = await pool.open();
        let n2 = 0;
        const s = nc.subscribe('dr.sub', { callback: () => n2++ });
        await nc.flush();
        for (let i = 0; i < 50; i++) {
            pub.publish('dr.sub', Empty);
        }
        await pub.flush();
        await withTimeout(s.drain(), 5000, 'subscription drain');
        assert.equal(s.isClosed(), true);
        pub.publish('dr.sub', Empty);
        await settle([pub], [nc]);
        assert.equal(n2, 50);
        assert.equal(nc.isClosed(), false);
    });

    test('flush and PING round trip', T, async () => {
        const nc = await pool.open();
        await withTimeout(nc.flush(), 3000, 'flush');
        const rtt = await withTimeout(nc.rtt(), 3000, 'rtt');
        assert.ok(rtt >= 0 && rtt < 3000, `rtt ${rtt}`);
        // Several outstanding flushes all complete, in order.
        const order = [];
        await Promise.all([0, 1, 2, 3, 4].map((i) => nc.flush().then(() => order.push(i))));
        assert.deepEqual(order, [0, 1, 2, 3, 4]);
    });

    test('echo:false (noEcho) does not deliver own publishes', T, async () => {
        const quiet = await pool.open({ noEcho: true });
        const loud = await pool.open();
        const qGot = [];
        const lGot = [];
        quiet.subscribe('echo.t', { callback: (_, m) => qGot.push(sc.decode(m.data)) });
        loud.subscribe('echo.t', { callback: (_, m) => lGot.push(sc.decode(m.data)) });
        await settle([quiet, loud], []);
        quiet.publish('echo.t', sc.encode('from-quiet'));
        loud.publish('echo.t', sc.encode('from-loud'));
        await settle([quiet, loud], [quiet, loud]);
        await sleep(50);
        await settle([], [quiet, loud]);
        assert.deepEqual(qGot, ['from-loud']);
        assert.deepEqual(lGot.sort(), ['from-loud', 'from-quiet']);
    });

    test('publish after close is refused by the client', T, async () => {
        const nc = await pool.open();
        await nc.close();
        assert.throws(() => nc.publish('closed.t', Empty), (err) => err.code === ErrorCode.ConnectionClosed);
    });
});
