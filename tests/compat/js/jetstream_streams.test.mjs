// SPDX-License-Identifier: Apache-2.0
//
// nats.js JetStream manager and publish API against the server under test, started
// with -js -sd <fresh dir>: account info, stream create/info/update/list/names/delete
// and their errors (nats-server's err_codes), PubAcks, Nats-Msg-Id duplicates, the
// expect headers, limits (max_msgs, max_bytes, max_msgs_per_subject, max_msg_size,
// max_age, discard new), purge (filter, keep, seq), message get/delete, deny_delete/
// deny_purge, rollups, direct get, raw requests with bad JSON, and a file stream that
// survives a restart on the same store directory.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { after, before, describe } from 'node:test';
import { headers, JSONCodec, StringCodec } from 'nats';

import { connectTo } from '../lib/client.mjs';
import { HOST, reservePort, sleep, startServer } from '../lib/server.mjs';

const sc = StringCodec();
const jc = JSONCodec();

/** The API error's err_code of a rejected promise. */
async function apiError(promise) {
    try {
        await promise;
    } catch (e) {
        return e.api_error ?? { description: e.message, code: e.code };
    }
    assert.fail('expected the request to fail');
}

/** A raw API request: the parsed JSON answer. */
async function raw(nc, subject, body) {
    const m = await nc.request(subject, body === undefined ? new Uint8Array() : sc.encode(body),
        { timeout: 3000 });
    return jc.decode(m.data);
}

describe('JetStream streams', () => {
    let srv;
    let nc;
    let jsm;
    let js;
    let dir;
    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meridian-js-'));
        srv = await startServer(['-js', '-sd', dir]);
        nc = await connectTo(srv);
        jsm = await nc.jetstreamManager();
        js = nc.jetstream();
    }, { timeout: 20000 });
    after(async () => {
        await nc?.close();
        await srv?.stop();
        fs.rmSync(dir, { recursive: true, force: true });
    }, { timeout: 20000 });

    test('INFO announces JetStream; account info counts streams', { timeout: 10000 }, async () => {
        assert.equal(nc.info.jetstream, true);
        const before = await jsm.getAccountInfo();
        assert.equal(before.consumers, 0);
        assert.equal(before.limits.max_streams, -1);
        assert.equal(typeof before.api.total, 'number');
        await jsm.streams.add({ name: 'AI', subjects: ['ai.>'], storage: 'memory' });
        const info = await jsm.getAccountInfo();
        assert.equal(info.streams, before.streams + 1);
        await jsm.streams.delete('AI');
    });

    test('create echoes nats-server defaults; same config again is fine; errors by code',
        { timeout: 10000 }, async () => {
            const si = await jsm.streams.add({ name: 'ORDERS', subjects: ['orders.*'], storage: 'memory' });
            assert.deepEqual(si.config.subjects, ['orders.*']);
            assert.equal(si.config.retention, 'limits');
            assert.equal(si.config.max_msgs, -1);
            assert.equal(si.config.max_bytes, -1);
            assert.equal(si.config.max_age, 0);
            assert.equal(si.config.max_msgs_per_subject, -1);
            assert.equal(si.config.max_msg_size, -1);
            assert.equal(si.config.discard, 'old');
            assert.equal(si.config.num_replicas, 1);
            assert.equal(si.config.duplicate_window, 120 * 1e9);
            assert.equal(si.state.messages, 0);
            assert.equal(si.state.first_seq, 0);
            const again = await jsm.streams.add({ name: 'ORDERS', subjects: ['orders.*'], storage: 'memory' });
            assert.equal(again.config.name, 'ORDERS');
            // A stream without subjects listens on its name.
            const named = await jsm.streams.add({ name: 'NAMED', storage: 'memory' });
            assert.deepEqual(named.config.subjects, ['NAMED']);

            let e = await apiError(jsm.streams.add({ name: 'ORDERS', subjects: ['orders.>'], storage: 'memory' }));
            assert.equal(e.err_code, 10058);
            e = await apiError(jsm.streams.add({ name: 'OTHER', subjects: ['orders.x'], storage: 'memory' }));
            assert.equal(e.err_code, 10065);
            e = await apiError(jsm.streams.add({ name: 'R3', subjects: ['r3'], num_replicas: 3 }));
            assert.equal(e.err_code, 10074);
            e = await apiError(jsm.streams.add({ name: 'W', subjects: ['w.*', 'w.>'], storage: 'memory' }));
            assert.equal(e.err_code, 10052);
            assert.match(e.description, /overlaps/);
            e = await apiError(jsm.streams.add({ name: 'AGE', subjects: ['age'], max_age: 5e9,
                duplicate_window: 6e9, storage: 'memory' }));
            assert.equal(e.description, 'duplicates window can not be larger then max age');
            e = await apiError(jsm.streams.info('NOPE'));
            assert.equal(e.err_code, 10059);
            await jsm.streams.delete('NAMED');
        });

    test('raw requests: bad JSON, name mismatch, unknown stream', { timeout: 10000 }, async () => {
        let r = await raw(nc, '$JS.API.STREAM.CREATE.BAD', '{not json');
        assert.equal(r.type, 'io.nats.jetstream.api.v1.stream_create_response');
        assert.deepEqual(r.error, { code: 400, err_code: 10025, description: 'invalid JSON' });
        r = await raw(nc, '$JS.API.STREAM.CREATE.BAD', JSON.stringify({ name: 'OTHER' }));
        assert.equal(r.error.err_code, 10056);
        r = await raw(nc, '$JS.API.STREAM.CREATE.BAD', JSON.stringify({ name: 'BAD', max_msgs: 'x' }));
        assert.equal(r.error.err_code, 10025);
        r = await raw(nc, '$JS.API.STREAM.INFO.NOPE');
        assert.equal(r.error.err_code, 10059);
        assert.equal(r.total, 0);
        r = await raw(nc, '$JS.API.STREAM.PURGE.NOPE');
        assert.equal(r.error.err_code, 10059);
        assert.equal(r.purged, 0);
        r = await raw(nc, '$JS.API.STREAM.NAMES', '[1,2');
        assert.equal(r.error.err_code, 10025);
        r = await raw(nc, '$JS.API.STREAM.MSG.GET.ORDERS', '{}');
        assert.equal(r.error.err_code, 10003);
        r = await raw(nc, '$JS.API.STREAM.MSG.DELETE.ORDERS', '');
        assert.equal(r.error.err_code, 10003);
    });

    test('publish: PubAck, duplicates by Nats-Msg-Id, expect headers', { timeout: 10000 }, async () => {
        await jsm.streams.add({ name: 'PUB', subjects: ['pub.>'], storage: 'memory' });
        let pa = await js.publish('pub.a', sc.encode('one'));
        assert.equal(pa.stream, 'PUB');
        assert.equal(pa.seq, 1);
        assert.equal(pa.duplicate, false);
        pa = await js.publish('pub.b', sc.encode('two'), { msgID: 'id-2' });
        assert.equal(pa.seq, 2);
        pa = await js.publish('pub.b', sc.encode('two again'), { msgID: 'id-2' });
        assert.equal(pa.seq, 2);
        assert.equal(pa.duplicate, true);
        pa = await js.publish('pub.c', sc.encode('x'), { expect: { lastSequence: 2, streamName: 'PUB' } });
        assert.equal(pa.seq, 3);
        let e = await apiError(js.publish('pub.c', sc.encode('x'), { expect: { lastSequence: 1 } }));
        assert.equal(e.err_code, 10071);
        assert.equal(e.description, 'wrong last sequence: 3');
        e = await apiError(js.publish('pub.c', sc.encode('x'), { expect: { streamName: 'NOT' } }));
        assert.equal(e.err_code, 10060);
        // The last stored message (seq 3) had no id: the description names "".
        e = await apiError(js.publish('pub.c', sc.encode('x'), { expect: { lastMsgID: 'zz' } }));
        assert.equal(e.err_code, 10070);
        assert.equal(e.description, 'wrong last msg ID: ');
        pa = await js.publish('pub.c', sc.encode('y'), { expect: { lastSubjectSequence: 3 } });
        assert.equal(pa.seq, 4);
        e = await apiError(js.publish('pub.c', sc.encode('z'), { expect: { lastSubjectSequence: 3 } }));
        assert.equal(e.description, 'wrong last sequence: 4');
        // Without a reply subject there is no ack, but the message is stored.
        nc.publish('pub.noreply', sc.encode('quiet'));
        await nc.flush();
        await sleep(100);
        const si = await jsm.streams.info('PUB');
        assert.equal(si.state.messages, 5);
        assert.equal(si.state.last_seq, 5);
        const sub = await jsm.streams.info('PUB', { subjects_filter: '>' });
        assert.deepEqual(sub.state.subjects, { 'pub.a': 1, 'pub.b': 1, 'pub.c': 2, 'pub.noreply': 1 });
        await jsm.streams.delete('PUB');
    });

    test('limits: max_msgs old/new, max_msgs_per_subject, max_msg_size, max_bytes',
        { timeout: 10000 }, async () => {
            await jsm.streams.add({ name: 'LIM', subjects: ['lim'], max_msgs: 3, storage: 'memory' });
            for (let i = 1; i <= 5; i++) {
                await js.publish('lim', sc.encode(`m${i}`));
            }
            let si = await jsm.streams.info('LIM');
            assert.equal(si.state.messages, 3);
            assert.equal(si.state.first_seq, 3);
            await jsm.streams.add({ name: 'NEW', subjects: ['new'], max_msgs: 1, discard: 'new', storage: 'memory' });
            await js.publish('new', sc.encode('a'));
            const e = await apiError(js.publish('new', sc.encode('b')));
            assert.equal(e.err_code, 10077);
            assert.equal(e.description, 'maximum messages exceeded');
            await jsm.streams.add({ name: 'PER', subjects: ['per.*'], max_msgs_per_subject: 2, storage: 'memory' });
            for (const s of ['per.a', 'per.a', 'per.a', 'per.b']) {
                await js.publish(s, sc.encode(s));
            }
            si = await jsm.streams.info('PER', { subjects_filter: 'per.*' });
            assert.deepEqual(si.state.subjects, { 'per.a': 2, 'per.b': 1 });
            await jsm.streams.add({ name: 'SIZE', subjects: ['size'], max_msg_size: 4, storage: 'memory' });
            const big = await apiError(js.publish('size', sc.encode('12345')));
            assert.equal(big.err_code, 10054);
            await jsm.streams.add({ name: 'BYTES', subjects: ['bytes'], max_bytes: 100, storage: 'memory' });
            for (let i = 0; i < 10; i++) {
                await js.publish('bytes', new Uint8Array(20));
            }
            si = await jsm.streams.info('BYTES');
            assert.ok(si.state.bytes <= 100, `bytes ${si.state.bytes}`);
            assert.ok(si.state.messages >= 1 && si.state.messages < 10);
            for (const n of ['LIM', 'NEW', 'PER', 'SIZE', 'BYTES']) {
                await jsm.streams.delete(n);
            }
        });

    test('max_age removes old messages without new publishes', { timeout: 10000 }, async () => {
        await jsm.streams.add({ name: 'AGE', subjects: ['age'], max_age: 300 * 1e6, storage: 'memory' });
        await js.publish('age', sc.encode('old'));
        let si = await jsm.streams.info('AGE');
        assert.equal(si.config.duplicate_window, 300 * 1e6);
        assert.equal(si.state.messages, 1);
        await sleep(1200);
        si = await jsm.streams.info('AGE');
        assert.equal(si.state.messages, 0);
        assert.equal(si.state.last_seq, 1);
        await jsm.streams.delete('AGE');
    });

    test('update, list, names; update rules', { timeout: 10000 }, async () => {
        await jsm.streams.add({ name: 'UPD', subjects: ['upd.a'], storage: 'memory' });
        const si = await jsm.streams.update('UPD', { subjects: ['upd.a', 'upd.b'], max_msgs: 10 });
        assert.deepEqual(si.config.subjects, ['upd.a', 'upd.b']);
        assert.equal(si.config.max_msgs, 10);
        const pa = await js.publish('upd.b', sc.encode('b'));
        assert.equal(pa.stream, 'UPD');
        const e = await apiError(jsm.streams.update('UPD', { storage: 'file' }));
        assert.equal(e.err_code, 10052);
        assert.equal(e.description, 'stream configuration update can not change storage type');
        const names = await jsm.streams.names().next();
        assert.ok(names.includes('UPD') && names.includes('ORDERS'));
        const list = await jsm.streams.list().next();
        const upd = list.find((s) => s.config.name === 'UPD');
        assert.equal(upd.state.messages, 1);
        const filtered = await raw(nc, '$JS.API.STREAM.NAMES', JSON.stringify({ subject: 'upd.b' }));
        assert.deepEqual(filtered.streams, ['UPD']);
        assert.equal(filtered.total, 1);
        assert.equal(await jsm.streams.delete('UPD'), true);
        const gone = await apiError(jsm.streams.delete('UPD'));
        assert.equal(gone.err_code, 10059);
    });

    test('purge (all, filter, keep, seq), get and delete messages', { timeout: 10000 }, async () => {
        await jsm.streams.add({ name: 'PG', subjects: ['pg.*'], storage: 'memory' });
        for (const s of ['pg.a', 'pg.b', 'pg.a', 'pg.b', 'pg.a', 'pg.c']) {
            await js.publish(s, sc.encode(s));
        }
        const h = headers();
        h.set('X-Trace', 't1');
        await js.publish('pg.h', sc.encode('with headers'), { headers: h });
        const m = await jsm.streams.getMessage('PG', { seq: 7 });
        assert.equal(m.subject, 'pg.h');
        assert.equal(sc.decode(m.data), 'with headers');
        assert.equal(m.header.get('X-Trace'), 't1');
        const last = await jsm.streams.getMessage('PG', { last_by_subj: 'pg.a' });
        assert.equal(last.seq, 5);
        const next = await jsm.streams.getMessage('PG', { next_by_subj: 'pg.b', seq: 3 });
        assert.equal(next.seq, 4);
        assert.equal(await jsm.streams.deleteMessage('PG', 2), true);
        let e = await apiError(jsm.streams.getMessage('PG', { seq: 2 }));
        assert.equal(e.err_code, 10037);
        e = await apiError(jsm.streams.deleteMessage('PG', 2));
        assert.equal(e.err_code, 10043);
        let r = await jsm.streams.purge('PG', { filter: 'pg.a', keep: 1 });
        assert.equal(r.purged, 2);
        // Left: 4 pg.b, 5 pg.a, 6 pg.c, 7 pg.h. seq purges below it.
        r = await jsm.streams.purge('PG', { seq: 6 });
        assert.equal(r.purged, 2);
        r = await jsm.streams.purge('PG');
        assert.equal(r.purged, 2);
        const si = await jsm.streams.info('PG');
        assert.equal(si.state.messages, 0);
        assert.equal(si.state.first_seq, 8);
        await jsm.streams.delete('PG');
    });

    test('deny_delete, deny_purge, rollups', { timeout: 10000 }, async () => {
        await jsm.streams.add({ name: 'DENY', subjects: ['deny'], deny_delete: true, deny_purge: true,
            storage: 'memory' });
        await js.publish('deny', sc.encode('x'));
        let e = await apiError(jsm.streams.deleteMessage('DENY', 1));
        assert.equal(e.err_code, 10057);
        e = await apiError(jsm.streams.purge('DENY'));
        assert.equal(e.err_code, 10110);
        const h = headers();
        h.set('Nats-Rollup', 'sub');
        e = await apiError(js.publish('deny', sc.encode('r'), { headers: h }));
        assert.equal(e.err_code, 10111);
        await jsm.streams.add({ name: 'ROLL', subjects: ['roll.*'], allow_rollup_hdrs: true, storage: 'memory' });
        for (const s of ['roll.a', 'roll.a', 'roll.b']) {
            await js.publish(s, sc.encode(s));
        }
        await js.publish('roll.a', sc.encode('sum'), { headers: h });
        let si = await jsm.streams.info('ROLL', { subjects_filter: '>' });
        assert.deepEqual(si.state.subjects, { 'roll.a': 1, 'roll.b': 1 });
        const all = headers();
        all.set('Nats-Rollup', 'all');
        await js.publish('roll.b', sc.encode('everything'), { headers: all });
        si = await jsm.streams.info('ROLL');
        assert.equal(si.state.messages, 1);
        assert.equal(si.state.last_seq, 5);
        await jsm.streams.delete('DENY');
        await jsm.streams.delete('ROLL');
    });

    test('direct get with allow_direct', { timeout: 10000 }, async () => {
        await jsm.streams.add({ name: 'DG', subjects: ['dg.>'], allow_direct: true, storage: 'memory' });
        const h = headers();
        h.set('X-A', 'b');
        await js.publish('dg.1', sc.encode('one'), { headers: h });
        await js.publish('dg.2', sc.encode('two'));
        const m = await jsm.direct.getMessage('DG', { seq: 1 });
        assert.equal(m.subject, 'dg.1');
        assert.equal(m.seq, 1);
        assert.equal(sc.decode(m.data), 'one');
        assert.equal(m.header.get('X-A'), 'b');
        assert.equal(m.header.get('Nats-Stream'), 'DG');
        const l = await jsm.direct.getMessage('DG', { last_by_subj: 'dg.2' });
        assert.equal(l.seq, 2);
        const miss = await nc.request('$JS.API.DIRECT.GET.DG', sc.encode(JSON.stringify({ seq: 9 })),
            { timeout: 3000 });
        assert.equal(miss.headers.code, 404);
        const bySubject = await nc.request('$JS.API.DIRECT.GET.DG.dg.1', new Uint8Array(), { timeout: 3000 });
        assert.equal(sc.decode(bySubject.data), 'one');
        assert.equal(bySubject.headers.get('Nats-Sequence'), '1');
        await jsm.streams.delete('DG');
    });
});

describe('JetStream per account', () => {
    test('only accounts with jetstream: enabled have it', { timeout: 30000 }, async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meridian-js-'));
        const config = `jetstream { store_dir: "${dir}" }
accounts {
  JS: { jetstream: enabled, users: [{user: j, password: pj}] }
  PLAIN: { users: [{user: p, password: pp}] }
}
`;
        const srv = await startServer([], { config });
        try {
            const nj = await connectTo(srv, { user: 'j', pass: 'pj' });
            const np = await connectTo(srv, { user: 'p', pass: 'pp' });
            assert.equal(np.info.jetstream, true);
            const jsm = await nj.jetstreamManager();
            await jsm.streams.add({ name: 'ACC', subjects: ['acc'], storage: 'memory' });
            let r = await raw(np, '$JS.API.INFO');
            assert.deepEqual(r.error, { code: 503, err_code: 10039,
                description: 'JetStream not enabled for account' });
            r = await raw(np, '$JS.API.STREAM.CREATE.X', JSON.stringify({ name: 'X' }));
            assert.equal(r.type, 'io.nats.jetstream.api.v1.stream_create_response');
            assert.equal(r.error.err_code, 10039);
            // The other account's messages on the same subject are not stored.
            np.publish('acc', sc.encode('x'));
            await np.flush();
            await sleep(100);
            assert.equal((await jsm.streams.info('ACC')).state.messages, 0);
            await nj.close();
            await np.close();
        } finally {
            await srv.stop();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe('JetStream domain', () => {
    test('the API answers on $JS.<domain>.API too', { timeout: 30000 }, async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meridian-js-'));
        const config = `jetstream { store_dir: "${dir}", domain: hub }\n`;
        const srv = await startServer([], { config });
        try {
            const nc = await connectTo(srv);
            const jsm = await nc.jetstreamManager({ domain: 'hub' });
            const ai = await jsm.getAccountInfo();
            assert.equal(ai.domain, 'hub');
            await jsm.streams.add({ name: 'DOM', subjects: ['dom.>'], storage: 'memory' });
            const js = nc.jetstream({ domain: 'hub' });
            const pa = await js.publish('dom.a', sc.encode('x'));
            assert.equal(pa.domain, 'hub');
            assert.equal(pa.seq, 1);
            const si = await (await nc.jetstreamManager()).streams.info('DOM');
            assert.equal(si.state.messages, 1);
            // Another domain's prefix is nobody's here.
            await assert.rejects(nc.request('$JS.leaf.API.INFO', new Uint8Array(), { timeout: 500 }));
            await nc.close();
        } finally {
            await srv.stop();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe('JetStream file streams across a restart', () => {
    test('a file stream keeps its config and messages', { timeout: 30000 }, async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meridian-js-'));
        let srv = await startServer(['-js', '-sd', dir]);
        try {
            let nc = await connectTo(srv);
            let jsm = await nc.jetstreamManager();
            const js = nc.jetstream();
            await jsm.streams.add({ name: 'KEEP', subjects: ['keep.>'], max_msgs_per_subject: 5 });
            for (let i = 0; i < 20; i++) {
                await js.publish(`keep.${i % 4}`, sc.encode(`v${i}`), { msgID: `k${i}` });
            }
            await nc.close();
            await srv.stop();
            srv = await startServer(['-js', '-sd', dir]);
            nc = await connectTo(srv);
            jsm = await nc.jetstreamManager();
            const si = await jsm.streams.info('KEEP');
            assert.equal(si.config.storage, 'file');
            assert.equal(si.config.max_msgs_per_subject, 5);
            assert.equal(si.state.messages, 20);
            assert.equal(si.state.last_seq, 20);
            const m = await jsm.streams.getMessage('KEEP', { seq: 17 });
            assert.equal(sc.decode(m.data), 'v16');
            // Message ids inside the duplicate window are remembered across the restart.
            const dup = await nc.jetstream().publish('keep.3', sc.encode('v19'), { msgID: 'k19' });
            assert.equal(dup.duplicate, true);
            assert.equal(dup.seq, 20);
            const pa = await nc.jetstream().publish('keep.1', sc.encode('after'));
            assert.equal(pa.seq, 21);
            await nc.close();
        } finally {
            await srv.stop();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe('JetStream resource limits', () => {
    let srv;
    let mon;
    let dir;
    const conns = {};
    const config = (storeDir) => `
jetstream { store_dir: "${storeDir}", max_memory_store: 10000 }
accounts {
  L { jetstream { max_memory: 1000, max_streams: 2, max_consumers: 1 }, users [{ user: l, password: l }] }
  P { jetstream { max_memory: 100 }, users [{ user: p, password: p }] }
  S { jetstream: enabled, users [{ user: s, password: s }] }
}
`;
    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meridian-js-'));
        mon = await reservePort();
        srv = await startServer(['-m', String(mon.port)], { config: config(dir) });
        for (const u of ['l', 'p', 's']) {
            conns[u] = await connectTo(srv, { user: u, pass: u });
        }
    }, { timeout: 20000 });
    after(async () => {
        for (const nc of Object.values(conns)) {
            await nc.close();
        }
        await srv?.stop();
        mon?.release();
        fs.rmSync(dir, { recursive: true, force: true });
    }, { timeout: 20000 });

    const create = (nc, cfg, op = 'CREATE') =>
        raw(nc, `$JS.API.STREAM.${op}.${cfg.name}`, JSON.stringify({ storage: 'memory', ...cfg }));

    test('max_bytes is reserved against the account; max_streams and max_consumers',
        { timeout: 15000 }, async () => {
            const nc = conns.l;
            assert.equal((await create(nc, { name: 'A', max_bytes: 600 })).did_create, true);
            assert.deepEqual((await create(nc, { name: 'B', max_bytes: 500 })).error,
                { code: 500, err_code: 10028, description: 'insufficient memory resources available' });
            assert.equal((await create(nc, { name: 'B', max_bytes: 400 })).did_create, true);
            // An update reserves only what it adds.
            assert.equal((await create(nc, { name: 'B', max_bytes: 401 }, 'UPDATE')).error?.err_code,
                10028);
            const up = await create(nc, { name: 'B', max_bytes: 300 }, 'UPDATE');
            assert.equal(up.config.max_bytes, 300);
            assert.deepEqual((await create(nc, { name: 'C' })).error,
                { code: 400, err_code: 10027, description: 'maximum number of streams reached' });
            // At the limit, the same configuration again is refused too.
            assert.equal((await create(nc, { name: 'A', max_bytes: 600 })).error?.err_code, 10027);
            const info = await raw(nc, '$JS.API.INFO');
            assert.equal(info.limits.max_memory, 1000);
            assert.equal(info.limits.max_consumers, 1);
            const eph = JSON.stringify({ stream_name: 'A', config: {} });
            assert.equal(typeof (await raw(nc, '$JS.API.CONSUMER.CREATE.A', eph)).name, 'string');
            assert.deepEqual((await raw(nc, '$JS.API.CONSUMER.CREATE.A', eph)).error,
                { code: 400, err_code: 10026, description: 'maximum consumers limit reached' });
            const jsz = await (await fetch(`http://${HOST}:${mon.port}/jsz?accounts=true`)).json();
            assert.equal(jsz.reserved_memory, 900);
            const acc = jsz.account_details.find((a) => a.name === 'L');
            assert.equal(acc.reserved_memory, 1000);
        });

    test('a publish over the account limit is refused and its sequence stays used',
        { timeout: 15000 }, async () => {
            const nc = conns.p;
            assert.equal((await create(nc, { name: 'P' })).did_create, true);
            const fifty = 'x'.repeat(50); // 1 + 50 + 16 = 67 bytes in memory
            const ack = async (body) =>
                jc.decode((await nc.request('P', sc.encode(body), { timeout: 3000 })).data);
            assert.deepEqual(await ack(fifty), { stream: 'P', seq: 1 });
            assert.deepEqual(await ack(fifty), {
                error: { code: 400, err_code: 10002, description: 'resource limits exceeded for account' },
                stream: 'P', seq: 0,
            });
            assert.deepEqual(await ack('small'), { stream: 'P', seq: 3 });
            const si = await raw(nc, '$JS.API.STREAM.INFO.P');
            assert.equal(si.state.messages, 2);
            assert.equal(si.state.last_seq, 3);
            assert.equal((await raw(nc, '$JS.API.INFO')).memory, 89);
        });

    test('the server limit: a stream larger than it, publishes once it is used up',
        { timeout: 15000 }, async () => {
            const nc = conns.s;
            assert.deepEqual((await create(nc, { name: 'BIG', max_bytes: 10001 })).error,
                { code: 500, err_code: 10028, description: 'insufficient memory resources available' });
            assert.equal((await create(nc, { name: 'S' })).did_create, true);
            const h = headers();
            h.set('Nats-Msg-Id', 'm1');
            const first = () => nc.request('S', sc.encode('first'), { headers: h, timeout: 3000 });
            assert.deepEqual(jc.decode((await first()).data), { stream: 'S', seq: 1 });
            const body = sc.encode('y'.repeat(1100));
            let answer;
            for (let i = 0; i < 12; i++) {
                answer = jc.decode((await nc.request('S', body, { timeout: 3000 })).data);
                if (answer.error !== undefined) {
                    break;
                }
            }
            assert.deepEqual(answer, {
                error: { code: 503, err_code: 10023, description: 'insufficient resources' },
                stream: 'S', seq: 0,
            });
            // 51 bytes, then the 9th message of 1117 took the server over its 10000.
            const si = await raw(nc, '$JS.API.STREAM.INFO.S');
            assert.equal(si.state.messages, 10);
            // Duplicates are answered before the resources are looked at.
            assert.deepEqual(jc.decode((await first()).data), { stream: 'S', seq: 1, duplicate: true });
        });
});
