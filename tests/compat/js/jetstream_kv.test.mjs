// SPDX-License-Identifier: Apache-2.0
//
// nats.js KV (js.views.kv) against the server under test (-js -sd <fresh dir>): a
// bucket's stream, put/get/create/update with revisions, delete and purge markers,
// history, keys, watch (initial values, then updates), bucket status and destroy, and
// a bucket across a restart.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { after, before, describe } from 'node:test';
import { StringCodec } from 'nats';

import { connectTo } from '../lib/client.mjs';
import { sleep, startServer } from '../lib/server.mjs';

const sc = StringCodec();

async function keysOf(kv, filter) {
    const out = [];
    for await (const k of await kv.keys(filter)) {
        out.push(k);
    }
    return out.sort();
}

describe('JetStream KV', () => {
    let srv;
    let nc;
    let js;
    let dir;
    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meridian-kv-'));
        srv = await startServer(['-js', '-sd', dir]);
        nc = await connectTo(srv);
        js = nc.jetstream();
    }, { timeout: 20000 });
    after(async () => {
        await nc?.close();
        await srv?.stop();
        fs.rmSync(dir, { recursive: true, force: true });
    }, { timeout: 20000 });

    test('put, get, create, update, delete, purge, history, keys', { timeout: 15000 }, async () => {
        const kv = await js.views.kv('cfg', { history: 5 });
        const jsm = await nc.jetstreamManager();
        const si = await jsm.streams.info('KV_cfg');
        assert.deepEqual(si.config.subjects, ['$KV.cfg.>']);
        assert.equal(si.config.max_msgs_per_subject, 5);
        assert.equal(si.config.allow_rollup_hdrs, true);
        assert.equal(await kv.put('a', sc.encode('1')), 1);
        assert.equal(await kv.put('b', sc.encode('x')), 2);
        assert.equal(await kv.put('a', sc.encode('2')), 3);
        const e = await kv.get('a');
        assert.equal(sc.decode(e.value), '2');
        assert.equal(e.revision, 3);
        assert.equal(e.operation, 'PUT');
        await assert.rejects(kv.create('a', sc.encode('no')), /wrong last sequence/);
        assert.equal(await kv.create('c', sc.encode('new')), 4);
        assert.equal(await kv.update('c', sc.encode('newer'), 4), 5);
        await assert.rejects(kv.update('c', sc.encode('stale'), 4), /wrong last sequence/);
        await kv.delete('b');
        assert.equal(await kv.get('b').then((v) => v?.operation), 'DEL');
        assert.deepEqual(await keysOf(kv), ['a', 'c']);
        const hist = [];
        for await (const h of await kv.history({ key: 'a' })) {
            hist.push(sc.decode(h.value));
        }
        assert.deepEqual(hist, ['1', '2']);
        await kv.purge('a');
        const ha = [];
        for await (const h of await kv.history({ key: 'a' })) {
            ha.push(h.operation);
        }
        assert.deepEqual(ha, ['PURGE']);
        assert.deepEqual(await keysOf(kv), ['c']);
        const st = await kv.status();
        assert.equal(st.bucket, 'cfg');
        assert.equal(st.history, 5);
    });

    test('watch: initial values, then updates', { timeout: 15000 }, async () => {
        const kv = await js.views.kv('w');
        await kv.put('k1', sc.encode('v1'));
        await kv.put('k2', sc.encode('v2'));
        const seen = [];
        const iter = await kv.watch();
        const reader = (async () => {
            for await (const e of iter) {
                seen.push(`${e.key}=${sc.decode(e.value)}:${e.operation}`);
                if (seen.length === 4) {
                    break;
                }
            }
        })();
        await sleep(300);
        await kv.put('k1', sc.encode('v3'));
        await kv.delete('k2');
        await Promise.race([reader, sleep(5000)]);
        iter.stop();
        assert.deepEqual(seen, ['k1=v1:PUT', 'k2=v2:PUT', 'k1=v3:PUT', 'k2=:DEL']);
        await js.views.kv('gone');
        const jsm = await nc.jetstreamManager();
        assert.equal(await jsm.streams.delete('KV_gone'), true);
    });
});

describe('JetStream KV across a restart', () => {
    test('a bucket keeps its values', { timeout: 30000 }, async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meridian-kv-'));
        let srv = await startServer(['-js', '-sd', dir]);
        try {
            let nc = await connectTo(srv);
            let kv = await nc.jetstream().views.kv('keep');
            await kv.put('x', sc.encode('1'));
            await kv.put('x', sc.encode('2'));
            await kv.put('y', sc.encode('3'));
            await nc.close();
            await srv.stop();
            srv = await startServer(['-js', '-sd', dir]);
            nc = await connectTo(srv);
            kv = await nc.jetstream().views.kv('keep');
            assert.equal(sc.decode((await kv.get('x')).value), '2');
            assert.deepEqual(await keysOf(kv), ['x', 'y']);
            assert.equal(await kv.put('y', sc.encode('4')), 4);
            await nc.close();
        } finally {
            await srv.stop();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
