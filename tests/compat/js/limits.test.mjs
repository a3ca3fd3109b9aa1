// SPDX-License-Identifier: Apache-2.0
//
// nats.js against the server under test: payload limits and many subscribers,
// with the server's default limits (max_payload 1 MiB), and a non-default
// max_payload from a config file.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import test, { afterEach, beforeEach, describe } from 'node:test';
import { Empty, ErrorCode, StringCodec, headers } from 'nats';

import { ConnPool, collect, settle, waitFor } from '../lib/client.mjs';
import { serverFixture, startServer } from '../lib/server.mjs';

const sc = StringCodec();
const MAX_PAYLOAD = 1024 * 1024;

describe('nats.js limits', () => {
    const srv = serverFixture();
    let pool;
    beforeEach(() => {
        pool = new ConnPool(srv.current);
    });
    afterEach(async () => {
        await pool.closeAll();
    });

    test('max payload: publishing 2 MiB is rejected by nats.js, connection stays usable',
        { timeout: 20000 }, async () => {
            const nc = await pool.open();
            assert.equal(nc.info.max_payload, MAX_PAYLOAD);
            // nats.js checks the size against INFO max_payload before sending:
            // publish() throws MAX_PAYLOAD_EXCEEDED synchronously and nothing
            // reaches the server (the raw protocol tests cover the server side).
            assert.throws(() => nc.publish('mp.big', new Uint8Array(2 * MAX_PAYLOAD)),
                (err) => err.code === ErrorCode.MaxPayloadExceeded);
            // One byte over, counting headers, is also refused.
            const h = headers();
            h.set('K', 'v');
            assert.throws(() => nc.publish('mp.big', new Uint8Array(MAX_PAYLOAD), { headers: h }),
                (err) => err.code === ErrorCode.MaxPayloadExceeded);
            // A request that is too large rejects.
            await assert.rejects(
                nc.request('mp.big', new Uint8Array(MAX_PAYLOAD + 1), { timeout: 2000 }),
                (err) => err.code === ErrorCode.MaxPayloadExceeded);
            const s = nc.subscribe('mp.small');
            nc.publish('mp.small', sc.encode('ok'));
            const [m] = await collect(s, 1, 5000);
            assert.equal(sc.decode(m.data), 'ok');
            assert.equal(nc.isClosed(), false);
        });

    test('a message near max payload (1 MiB - 100 bytes) arrives intact', { timeout: 30000 }, async () => {
        const sub = await pool.open();
        const pub = await pool.open();
        const s = sub.subscribe('mp.large');
        await sub.flush();
        const body = crypto.randomBytes(MAX_PAYLOAD - 100);
        pub.publish('mp.large', body);
        // With headers: header block + body = exactly max_payload is allowed.
        const h = headers();
        h.set('Digest', crypto.createHash('sha256').update(body).digest('hex'));
        const hlen = h.encode().length;
        const body2 = crypto.randomBytes(MAX_PAYLOAD - hlen);
        pub.publish('mp.large', body2, { headers: h });
        await pub.flush();
        const [m1, m2] = await collect(s, 2, 20000);
        assert.equal(m1.data.length, body.length);
        assert.ok(Buffer.from(m1.data).equals(body), 'payload bytes differ');
        assert.equal(m2.data.length, body2.length);
        assert.ok(Buffer.from(m2.data).equals(body2), 'payload bytes differ (with headers)');
        assert.equal(m2.headers.get('Digest'), h.get('Digest'));
    });

    test('500 subscriptions on one connection each receive', { timeout: 30000 }, async () => {
        const sub = await pool.open();
        const pub = await pool.open();
        const N = 500;
        const counts = new Array(N).fill(0);
        let wild = 0;
        for (let i = 0; i < N; i++) {
            sub.subscribe(`many.${i}`, { callback: () => counts[i]++ });
        }
        sub.subscribe('many.*', { callback: () => wild++ });
        await sub.flush();
        for (let i = 0; i < N; i++) {
            pub.publish(`many.${i}`, sc.encode(String(i)));
        }
        await settle([pub], [sub]);
        await waitFor(() => wild >= N, 5000, 'wildcard deliveries');
        counts.forEach((c, i) => assert.equal(c, 1, `sub many.${i} got ${c}`));
        assert.equal(wild, N);
    });

    test('50 connections each receive (fan-out and per-connection subjects)', { timeout: 30000 }, async () => {
        const C = 50;
        const conns = [];
        for (let i = 0; i < C; i++) {
            conns.push(await pool.open({ name: `fan-${i}` }));
        }
        const pub = await pool.open();
        const fan = new Array(C).fill(0);
        const own = new Array(C).fill(0);
        conns.forEach((nc, i) => {
            nc.subscribe('fan.all', { callback: () => fan[i]++ });
            nc.subscribe(`fan.one.${i}`, { callback: () => own[i]++ });
        });
        await settle(conns, []);
        for (let k = 0; k < 10; k++) {
            pub.publish('fan.all', Empty);
        }
        for (let i = 0; i < C; i++) {
            pub.publish(`fan.one.${i}`, Empty);
        }
        await settle([pub], conns);
        fan.forEach((c, i) => assert.equal(c, 10, `connection ${i} got ${c} fan-out messages`));
        own.forEach((c, i) => assert.equal(c, 1, `connection ${i} got ${c} own messages`));
    });
});

describe('nats.js limits from a config file', () => {
    test('max_payload from config is advertised and enforced', { timeout: 20000 }, async () => {
        const srv = await startServer([], { config: 'max_payload: 1024\n' });
        const pool = new ConnPool(srv);
        try {
            const nc = await pool.open();
            assert.equal(nc.info.max_payload, 1024);
            assert.throws(() => nc.publish('cfg.big', new Uint8Array(1025)),
                (err) => err.code === ErrorCode.MaxPayloadExceeded);
            const s = nc.subscribe('cfg.ok');
            nc.publish('cfg.ok', new Uint8Array(1024));
            const [m] = await collect(s, 1, 5000);
            assert.equal(m.data.length, 1024);
        } finally {
            await pool.closeAll();
            await srv.stop();
        }
    });
});
