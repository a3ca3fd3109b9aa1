// SPDX-License-Identifier: Apache-2.0
//
// nats.js JetStream consumers against the server under test (-js -sd <fresh dir>):
// consumer create/info/list/names/delete and nats-server's error codes, pull consumers
// (fetch, next, the status replies of raw MSG.NEXT requests: 404, 408, 409), acks
// (ack, ackAck, nak with delay, term, working, ack policy all), redelivery after ack_wait
// with max_deliver, deliver policies, push consumers (durable, queue group,
// headers_only, idle heartbeats), ordered consumers (push and the pull-based
// js.consumers.get(stream)), ephemerals removed when inactive, workqueue and interest
// retention, advisories on $JS.EVENT.ADVISORY.>, and a durable's state across a
// restart.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { after, before, describe } from 'node:test';
import { AckPolicy, consumerOpts, createInbox, DeliverPolicy, JSONCodec, StringCodec } from 'nats';

import { connectTo } from '../lib/client.mjs';
import { sleep, startServer } from '../lib/server.mjs';

const sc = StringCodec();
const jc = JSONCodec();

/** The API error of a rejected promise. */
async function apiError(promise) {
    try {
        await promise;
    } catch (e) {
        return e.api_error ?? { description: e.message, code: e.code };
    }
    assert.fail('expected the request to fail');
}

/** Messages of an async iterator until n arrived or ms passed. */
async function take(iter, n, ms) {
    const out = [];
    const timer = setTimeout(() => iter.stop?.(), ms);
    for await (const m of iter) {
        out.push(m);
        if (out.length >= n) {
            break;
        }
    }
    clearTimeout(timer);
    return out;
}

/** A raw pull request: every reply (messages and status) within ms. */
async function rawNext(nc, stream, consumer, body, ms) {
    const inbox = createInbox();
    const sub = nc.subscribe(inbox);
    const got = [];
    const done = (async () => {
        for await (const m of sub) {
            got.push(m);
        }
    })();
    nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`,
        typeof body === 'string' ? sc.encode(body) : jc.encode(body), { reply: inbox });
    await sleep(ms);
    sub.unsubscribe();
    await done;
    return got;
}

function statusOf(m) {
    return m.headers ? `${m.headers.code} ${m.headers.description}`.trim() : null;
}

async function publishN(js, subject, n, prefix = 'm') {
    for (let i = 0; i < n; i++) {
        await js.publish(subject, sc.encode(`${prefix}${i}`));
    }
}

describe('JetStream consumers', () => {
    let srv;
    let nc;
    let jsm;
    let js;
    let dir;
    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meridian-jsc-'));
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

    test('create echoes defaults; info, names, list, delete', { timeout: 10000 }, async () => {
        await jsm.streams.add({ name: 'C1', subjects: ['c1.>'], storage: 'memory' });
        await publishN(js, 'c1.a', 3);
        const ci = await jsm.consumers.add('C1', { durable_name: 'd1', ack_policy: AckPolicy.Explicit });
        assert.equal(ci.stream_name, 'C1');
        assert.equal(ci.name, 'd1');
        assert.equal(ci.config.durable_name, 'd1');
        assert.equal(ci.config.deliver_policy, 'all');
        assert.equal(ci.config.ack_policy, 'explicit');
        assert.equal(ci.config.ack_wait, 30_000_000_000);
        assert.equal(ci.config.max_deliver, -1);
        assert.equal(ci.config.max_waiting, 512);
        assert.equal(ci.config.max_ack_pending, 1000);
        assert.equal(ci.config.replay_policy, 'instant');
        assert.equal(ci.num_pending, 3);
        assert.equal(ci.delivered.consumer_seq, 0);
        assert.equal(ci.ack_floor.stream_seq, 0);
        // The same configuration again is fine.
        const again = await jsm.consumers.add('C1', { durable_name: 'd1', ack_policy: AckPolicy.Explicit });
        assert.equal(again.name, 'd1');
        const eph = await jsm.consumers.add('C1', { ack_policy: AckPolicy.None });
        assert.equal(eph.config.inactive_threshold, 5_000_000_000);
        assert.equal(eph.config.durable_name, undefined);
        const names = await jsm.consumers.list('C1').next();
        assert.deepEqual(names.map((c) => c.name).sort(), [eph.name, 'd1'].sort());
        const si = await jsm.streams.info('C1');
        assert.equal(si.state.consumer_count ?? 2, 2);
        assert.equal(await jsm.consumers.delete('C1', eph.name), true);
        const info = await jsm.consumers.info('C1', 'd1');
        assert.equal(info.num_pending, 3);
        const ai = await jsm.getAccountInfo();
        assert.ok(ai.consumers >= 1);
    });

    test('errors carry nats-server codes', { timeout: 10000 }, async () => {
        await jsm.streams.add({ name: 'C2', subjects: ['c2.*'], storage: 'memory' });
        assert.equal((await apiError(jsm.consumers.info('C2', 'nope'))).err_code, 10014);
        assert.equal((await apiError(jsm.consumers.info('NOSTREAM', 'x'))).err_code, 10059);
        assert.equal((await apiError(jsm.consumers.add('C2', {
            durable_name: 'f', ack_policy: AckPolicy.Explicit, filter_subject: 'other.x',
        }))).err_code, 10093);
        const pol = await apiError(jsm.consumers.add('C2', {
            durable_name: 'p', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.StartSequence,
        }));
        assert.equal(pol.err_code, 10094);
        assert.equal(pol.description,
            'consumer delivery policy is deliver by start sequence, but optional start sequence is not set');
        assert.equal((await apiError(jsm.consumers.add('C2', {
            durable_name: 'fc', ack_policy: AckPolicy.None, deliver_subject: 'fc.in', flow_control: true,
        }))).err_code, 10108);
        assert.equal((await apiError(jsm.consumers.add('C2', {
            durable_name: 'hb', ack_policy: AckPolicy.None, deliver_subject: 'hb.in', idle_heartbeat: 10_000_000,
        }))).err_code, 10083);
        assert.equal((await apiError(jsm.consumers.add('C2', {
            durable_name: 'cy', ack_policy: AckPolicy.None, deliver_subject: 'c2.x',
        }))).err_code, 10081);
        assert.equal((await apiError(jsm.consumers.add('C2', {
            durable_name: 'bo', ack_policy: AckPolicy.Explicit, backoff: [1_000_000_000, 2_000_000_000],
            max_deliver: 2,
        }))).err_code, 10116);
        // Changing what may not change.
        await jsm.consumers.add('C2', { durable_name: 'u', ack_policy: AckPolicy.Explicit });
        const upd = await apiError(jsm.consumers.add('C2', { durable_name: 'u', ack_policy: AckPolicy.All }));
        assert.equal(upd.err_code, 10012);
        assert.equal(upd.description, 'ack policy can not be updated');
        // A raw create with bad JSON, and a stream name that does not match.
        const bad = jc.decode((await nc.request('$JS.API.CONSUMER.CREATE.C2', sc.encode('{x'))).data);
        assert.equal(bad.error.err_code, 10025);
        const mm = jc.decode((await nc.request('$JS.API.CONSUMER.CREATE.C2',
            jc.encode({ stream_name: 'C1', config: {} }))).data);
        assert.equal(mm.error.err_code, 10056);
        const dn = jc.decode((await nc.request('$JS.API.CONSUMER.CREATE.C2',
            jc.encode({ stream_name: 'C2', config: { durable_name: 'x' } }))).data);
        assert.equal(dn.error.err_code, 10020);
        // JSON null is an empty request: the stream name is what fails.
        const nul = jc.decode((await nc.request('$JS.API.CONSUMER.CREATE.C2', sc.encode('null'))).data);
        assert.equal(nul.error.err_code, 10056);
        // A page past the end answers with the end.
        const page = jc.decode((await nc.request('$JS.API.CONSUMER.NAMES.C2', jc.encode({ offset: 50 }))).data);
        assert.equal(page.offset, page.total);
        assert.deepEqual(page.consumers, []);
        const nost = jc.decode((await nc.request('$JS.API.CONSUMER.NAMES.NOSTREAM', sc.encode(''))).data);
        assert.equal(nost.error.err_code, 10059);
        assert.deepEqual(nost.consumers, []);
    });

    test('pull: fetch, next, acks move the floor', { timeout: 10000 }, async () => {
        await jsm.streams.add({ name: 'P1', subjects: ['p1.*'], storage: 'memory' });
        await publishN(js, 'p1.x', 5);
        await jsm.consumers.add('P1', { durable_name: 'w', ack_policy: AckPolicy.Explicit });
        const c = await js.consumers.get('P1', 'w');
        const batch = await take(await c.fetch({ max_messages: 3, expires: 2000 }), 3, 3000);
        assert.deepEqual(batch.map((m) => m.seq), [1, 2, 3]);
        assert.equal(batch[0].subject, 'p1.x');
        assert.equal(sc.decode(batch[0].data), 'm0');
        assert.equal(batch[0].info.pending, 4);
        assert.equal(batch[2].info.pending, 2);
        assert.equal(batch[0].info.deliveryCount, 1);
        let info = await c.info();
        assert.equal(info.num_ack_pending, 3);
        assert.equal(info.delivered.stream_seq, 3);
        batch[0].ack();
        assert.equal(await batch[1].ackAck(), true);
        info = await c.info();
        assert.equal(info.ack_floor.stream_seq, 2);
        assert.equal(info.num_ack_pending, 1);
        const m = await c.next({ expires: 2000 });
        assert.equal(m.seq, 4);
        m.ack();
        batch[2].ack();
        await nc.flush();
        info = await c.info();
        assert.equal(info.ack_floor.stream_seq, 4);
        assert.equal(info.num_pending, 1);
    });

    test('raw MSG.NEXT status replies', { timeout: 15000 }, async () => {
        await jsm.streams.add({ name: 'P2', subjects: ['p2'], storage: 'memory' });
        await jsm.consumers.add('P2', { durable_name: 'r', ack_policy: AckPolicy.Explicit });
        let got = await rawNext(nc, 'P2', 'r', { batch: 1, no_wait: true }, 300);
        assert.deepEqual(got.map(statusOf), ['404 No Messages']);
        got = await rawNext(nc, 'P2', 'r', { batch: 2, expires: 300_000_000 }, 800);
        assert.deepEqual(got.map(statusOf), ['408 Request Timeout']);
        assert.equal(got[0].headers.get('Nats-Pending-Messages'), '2');
        assert.equal(got[0].headers.get('Nats-Pending-Bytes'), '0');
        await js.publish('p2', sc.encode('x'.repeat(100)));
        got = await rawNext(nc, 'P2', 'r', { batch: 5, max_bytes: 50, expires: 1_000_000_000 }, 300);
        assert.deepEqual(got.map(statusOf), ['409 Message Size Exceeds MaxBytes']);
        got = await rawNext(nc, 'P2', 'r', { batch: 3, no_wait: true }, 300);
        assert.equal(got.length, 2);
        assert.equal(statusOf(got[0]), null);
        assert.equal(got[0].subject, 'p2');
        assert.match(got[0].reply, /^\$JS\.ACK\.P2\.r\.1\.1\.1\.\d+\.0$/);
        assert.equal(statusOf(got[1]), '408 Request Timeout');
        assert.equal(got[1].headers.get('Nats-Pending-Messages'), '2');
        got = await rawNext(nc, 'P2', 'r', '{"batch":', 300);
        assert.equal(got.length, 1);
        assert.match(statusOf(got[0]), /^400 Bad Request/);
        await jsm.consumers.add('P2', { durable_name: 'push', ack_policy: AckPolicy.None, deliver_subject: 'p2.push.in' });
        got = await rawNext(nc, 'P2', 'push', '', 300);
        assert.deepEqual(got.map(statusOf), ['409 Consumer is push based']);
    });

    test('redelivery after ack_wait stops at max_deliver; nak, term, working', { timeout: 15000 }, async () => {
        await jsm.streams.add({ name: 'R1', subjects: ['r1'], storage: 'memory' });
        await jsm.consumers.add('R1', {
            durable_name: 'rd', ack_policy: AckPolicy.Explicit, ack_wait: 500_000_000, max_deliver: 2,
        });
        await js.publish('r1', sc.encode('once'));
        const c = await js.consumers.get('R1', 'rd');
        const seen = [];
        const iter = await c.consume({ max_messages: 10, expires: 3000 });
        const reader = (async () => {
            for await (const m of iter) {
                seen.push(m.info.deliveryCount);
            }
        })();
        await sleep(2200);
        iter.stop();
        await reader;
        assert.deepEqual(seen, [1, 2]);
        // -NAK redelivers at once; +TERM stops redelivery; +WPI extends the ack wait.
        await js.publish('r1', sc.encode('nak'));
        let m = await c.next({ expires: 2000 });
        assert.equal(sc.decode(m.data), 'nak');
        m.nak();
        m = await c.next({ expires: 2000 });
        assert.equal(m.info.deliveryCount, 2);
        assert.equal(m.info.redelivered, true);
        m.term();
        await js.publish('r1', sc.encode('slow'));
        m = await c.next({ expires: 2000 });
        // A pull waits while +WPI keeps the message from being redelivered past ack_wait.
        const waiter = c.next({ expires: 1500 });
        for (let i = 0; i < 3; i++) {
            await sleep(300);
            m.working();
        }
        await m.ackAck();
        assert.equal(await waiter, null);
        const info = await c.info();
        assert.equal(info.num_ack_pending, 0);
        // The message dropped at max_deliver still counts as redelivered.
        assert.equal(info.num_redelivered, 1);
    });

    test('nak with delay and ack policy all', { timeout: 10000 }, async () => {
        await jsm.streams.add({ name: 'R2', subjects: ['r2'], storage: 'memory' });
        await jsm.consumers.add('R2', { durable_name: 'nd', ack_policy: AckPolicy.Explicit });
        await js.publish('r2', sc.encode('later'));
        const c = await js.consumers.get('R2', 'nd');
        let m = await c.next({ expires: 2000 });
        const t0 = Date.now();
        m.nak(800);
        m = await c.next({ expires: 3000 });
        assert.ok(Date.now() - t0 >= 700, `redelivered after ${Date.now() - t0} ms`);
        assert.equal(m.info.deliveryCount, 2);
        m.ack();
        await jsm.consumers.add('R2', { durable_name: 'all', ack_policy: AckPolicy.All });
        await publishN(js, 'r2', 3);
        const ca = await js.consumers.get('R2', 'all');
        const ms = await take(await ca.fetch({ max_messages: 4, expires: 1000 }), 4, 2000);
        assert.equal(ms.length, 4);
        ms[2].ack();
        await nc.flush();
        const info = await ca.info();
        assert.equal(info.ack_floor.stream_seq, 3);
        assert.equal(info.num_ack_pending, 1);
    });

    test('deliver policies', { timeout: 10000 }, async () => {
        await jsm.streams.add({ name: 'D1', subjects: ['d1.*'], storage: 'memory' });
        await js.publish('d1.a', sc.encode('a1'));
        await js.publish('d1.b', sc.encode('b1'));
        await js.publish('d1.a', sc.encode('a2'));
        await sleep(50);
        const mid = new Date().toISOString();
        await sleep(50);
        await js.publish('d1.b', sc.encode('b2'));
        // n: the messages expected, so the fetch ends as soon as they are in.
        const first = async (cfg, n) => {
            const ci = await jsm.consumers.add('D1', { ack_policy: AckPolicy.None, ...cfg });
            const c = await js.consumers.get('D1', ci.name);
            const ms = await take(await c.fetch({ max_messages: Math.max(n, 1), expires: 1000 }),
                n, 2000);
            await jsm.consumers.delete('D1', ci.name);
            return ms.map((m) => sc.decode(m.data));
        };
        assert.deepEqual(await first({ deliver_policy: DeliverPolicy.Last }, 1), ['b2']);
        assert.deepEqual(await first({ deliver_policy: DeliverPolicy.New }, 0), []);
        assert.deepEqual(await first({ deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 3 }, 2),
            ['a2', 'b2']);
        assert.deepEqual(await first({ deliver_policy: DeliverPolicy.StartTime, opt_start_time: mid }, 1),
            ['b2']);
        assert.deepEqual(await first({ deliver_policy: DeliverPolicy.LastPerSubject, filter_subject: 'd1.*' }, 2),
            ['a2', 'b2']);
        assert.deepEqual(await first({ filter_subject: 'd1.a' }, 2), ['a1', 'a2']);
    });

    test('push: durable subscribe, queue group, headers_only, heartbeats', { timeout: 15000 }, async () => {
        await jsm.streams.add({ name: 'PU', subjects: ['pu.*'], storage: 'memory' });
        await publishN(js, 'pu.a', 4);
        const opts = consumerOpts().durable('pd').deliverTo(createInbox()).ackExplicit().deliverAll();
        const sub = await js.subscribe('pu.a', opts);
        const got = await take(sub, 4, 3000);
        assert.deepEqual(got.map((m) => sc.decode(m.data)), ['m0', 'm1', 'm2', 'm3']);
        got.forEach((m) => m.ack());
        await nc.flush();
        assert.equal((await jsm.consumers.info('PU', 'pd')).num_ack_pending, 0);
        sub.unsubscribe();
        // A queue group: every message once across the members.
        const qopts = () => consumerOpts().durable('pq').queue('workers').deliverTo('pu.q.deliver')
            .ackExplicit().deliverNew();
        const q1 = await js.subscribe('pu.b', qopts());
        const q2 = await js.subscribe('pu.b', qopts());
        const counts = [0, 0];
        const run = (s, i) => (async () => {
            for await (const m of s) {
                counts[i]++;
                m.ack();
            }
        })();
        const r1 = run(q1, 0);
        const r2 = run(q2, 1);
        await publishN(js, 'pu.b', 20);
        await sleep(500);
        q1.unsubscribe();
        q2.unsubscribe();
        await Promise.all([r1, r2]);
        assert.equal(counts[0] + counts[1], 20);
        // headers_only: the size instead of the body; idle heartbeats on a quiet consumer.
        const inbox = createInbox();
        const raw = nc.subscribe(inbox);
        await jsm.consumers.add('PU', {
            durable_name: 'ho', deliver_subject: inbox, ack_policy: AckPolicy.None,
            headers_only: true, idle_heartbeat: 200_000_000, filter_subject: 'pu.a',
        });
        const hm = await take(raw, 6, 1500);
        raw.unsubscribe();
        const data = hm.filter((m) => !m.headers?.code);
        const beats = hm.filter((m) => m.headers?.code === 100);
        assert.equal(data.length, 4);
        assert.equal(data[0].data.length, 0);
        assert.equal(data[0].headers.get('Nats-Msg-Size'), '2');
        assert.ok(beats.length >= 1, 'an idle heartbeat');
        assert.equal(beats[0].headers.description, 'Idle Heartbeat');
        assert.equal(beats[0].headers.get('Nats-Last-Consumer'), '4');
        assert.equal(beats[0].headers.get('Nats-Last-Stream'), '24');
    });

    test('push: rate_limit_bps spreads deliveries', { timeout: 10000 }, async () => {
        await jsm.streams.add({ name: 'RL', subjects: ['rl'], storage: 'memory', max_msg_size: 1000 });
        for (let i = 0; i < 15; i++) {
            await js.publish('rl', new Uint8Array(900));
        }
        const inbox = createInbox();
        const sub = nc.subscribe(inbox);
        const t0 = Date.now();
        // 80 kbit/s = 10 kB/s: 15 messages of ~1 kB take more than a second.
        await jsm.consumers.add('RL', {
            durable_name: 'r', deliver_subject: inbox, ack_policy: AckPolicy.None, rate_limit_bps: 80_000,
        });
        const got = await take(sub, 15, 5000);
        assert.equal(got.length, 15);
        assert.ok(Date.now() - t0 >= 1000, `all in ${Date.now() - t0} ms`);
        sub.unsubscribe();
    });

    test('push: replay_policy original keeps the stored spacing', { timeout: 10000 }, async () => {
        await jsm.streams.add({ name: 'RO', subjects: ['ro'], storage: 'memory' });
        for (let i = 0; i < 3; i++) {
            await js.publish('ro', sc.encode(`r${i}`));
            await sleep(300);
        }
        const inbox = createInbox();
        const sub = nc.subscribe(inbox);
        const t0 = Date.now();
        await jsm.consumers.add('RO', {
            durable_name: 'o', deliver_subject: inbox, ack_policy: AckPolicy.None, replay_policy: 'original',
        });
        const got = await take(sub, 3, 3000);
        assert.equal(got.length, 3);
        assert.ok(Date.now() - t0 >= 500, `all in ${Date.now() - t0} ms`);
        sub.unsubscribe();
    });

    test('ordered consumers: push subscribe and js.consumers.get(stream)', { timeout: 15000 }, async () => {
        await jsm.streams.add({ name: 'OR', subjects: ['or.*'], storage: 'memory' });
        await publishN(js, 'or.a', 50);
        const opts = consumerOpts().orderedConsumer();
        const sub = await js.subscribe('or.a', opts);
        const got = await take(sub, 50, 5000);
        sub.unsubscribe();
        assert.equal(got.length, 50);
        assert.deepEqual(got.map((m) => m.seq), Array.from({ length: 50 }, (_, i) => i + 1));
        const oc = await js.consumers.get('OR');
        const iter = await oc.consume({ max_messages: 20 });
        const seqs = [];
        for await (const m of iter) {
            seqs.push(m.seq);
            if (seqs.length === 50) {
                break;
            }
        }
        assert.deepEqual(seqs, Array.from({ length: 50 }, (_, i) => i + 1));
    });

    test('an ephemeral goes after its inactive threshold', { timeout: 10000 }, async () => {
        await jsm.streams.add({ name: 'EP', subjects: ['ep'], storage: 'memory' });
        const ci = await jsm.consumers.add('EP', { ack_policy: AckPolicy.Explicit, inactive_threshold: 500_000_000 });
        assert.equal((await jsm.consumers.info('EP', ci.name)).name, ci.name);
        await sleep(2500);
        assert.equal((await apiError(jsm.consumers.info('EP', ci.name))).err_code, 10014);
    });

    test('workqueue and interest retention', { timeout: 10000 }, async () => {
        await jsm.streams.add({ name: 'WQ', subjects: ['wq.*'], storage: 'memory', retention: 'workqueue' });
        await jsm.consumers.add('WQ', { durable_name: 'w1', ack_policy: AckPolicy.Explicit, filter_subject: 'wq.a' });
        assert.equal((await apiError(jsm.consumers.add('WQ', {
            durable_name: 'w2', ack_policy: AckPolicy.Explicit,
        }))).err_code, 10099);
        assert.equal((await apiError(jsm.consumers.add('WQ', {
            durable_name: 'w3', ack_policy: AckPolicy.Explicit, filter_subject: 'wq.*',
        }))).err_code, 10100);
        assert.equal((await apiError(jsm.consumers.add('WQ', {
            durable_name: 'w4', ack_policy: AckPolicy.All, filter_subject: 'wq.b',
        }))).err_code, 10098);
        await publishN(js, 'wq.a', 3);
        const c = await js.consumers.get('WQ', 'w1');
        const ms = await take(await c.fetch({ max_messages: 3, expires: 1000 }), 3, 2000);
        await ms[0].ackAck();
        await ms[1].ackAck();
        let si = await jsm.streams.info('WQ');
        assert.equal(si.state.messages, 1);
        assert.equal(si.state.first_seq, 3);
        await jsm.streams.add({ name: 'IN', subjects: ['in.*'], storage: 'memory', retention: 'interest' });
        await js.publish('in.x', sc.encode('nobody'));
        si = await jsm.streams.info('IN');
        assert.equal(si.state.messages, 0);
        await jsm.consumers.add('IN', { durable_name: 'i1', ack_policy: AckPolicy.Explicit });
        await jsm.consumers.add('IN', { durable_name: 'i2', ack_policy: AckPolicy.Explicit });
        await js.publish('in.x', sc.encode('both'));
        const m1 = await (await js.consumers.get('IN', 'i1')).next({ expires: 1000 });
        await m1.ackAck();
        assert.equal((await jsm.streams.info('IN')).state.messages, 1);
        const m2 = await (await js.consumers.get('IN', 'i2')).next({ expires: 1000 });
        await m2.ackAck();
        assert.equal((await jsm.streams.info('IN')).state.messages, 0);
    });
    test('advisories: stream and consumer actions, nak, term, max deliveries, api audit',
        { timeout: 10000 }, async () => {
            const events = [];
            const sub = nc.subscribe('$JS.EVENT.ADVISORY.>', {
                callback: (_, m) => events.push({ ...jc.decode(m.data), on: m.subject }),
            });
            await nc.flush();
            await jsm.streams.add({ name: 'AD', subjects: ['ad'], storage: 'memory' });
            await jsm.consumers.add('AD', {
                durable_name: 'ac', ack_policy: AckPolicy.Explicit, ack_wait: 300_000_000, max_deliver: 2,
            });
            await js.publish('ad', sc.encode('x'));
            await js.publish('ad', sc.encode('y'));
            const c = await js.consumers.get('AD', 'ac');
            // Acks with a reply are confirmed once processed (nats-server works acks off
            // a queue of their own: a pull right behind a bare -NAK may overtake it).
            const m1 = await c.next({ expires: 1000 });
            await nc.request(m1.reply, sc.encode('-NAK'), { timeout: 1000 });
            const m1b = await c.next({ expires: 1000 });
            assert.equal(m1b.seq, 1);
            await nc.request(m1b.reply, sc.encode('+TERM'), { timeout: 1000 });
            const m2 = await c.next({ expires: 1000 });
            assert.equal(m2.seq, 2);
            const m2b = await c.next({ expires: 1000 });
            assert.equal(m2b.info.deliveryCount, 2);
            assert.equal(await c.next({ expires: 1000 }), null); // gives up: MAX_DELIVERIES
            await jsm.consumers.delete('AD', 'ac');
            await jsm.streams.delete('AD');
            await nc.flush();
            await sleep(100);
            sub.unsubscribe();
            const find = (subject) => events.find((e) => e.on === subject);
            const created = find('$JS.EVENT.ADVISORY.STREAM.CREATED.AD');
            assert.equal(created.type, 'io.nats.jetstream.advisory.v1.stream_action');
            assert.equal(created.action, 'create');
            assert.equal(typeof created.id, 'string');
            assert.equal(typeof created.timestamp, 'string');
            const cc = find('$JS.EVENT.ADVISORY.CONSUMER.CREATED.AD.ac');
            assert.equal(cc.type, 'io.nats.jetstream.advisory.v1.consumer_action');
            assert.equal(cc.consumer, 'ac');
            const nak = find('$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.AD.ac');
            assert.equal(nak.type, 'io.nats.jetstream.advisory.v1.nak');
            assert.equal(nak.stream_seq, 1);
            assert.equal(nak.consumer_seq, 1);
            assert.equal(nak.deliveries, 1);
            const term = find('$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.AD.ac');
            assert.equal(term.type, 'io.nats.jetstream.advisory.v1.terminated');
            assert.equal(term.stream_seq, 1);
            assert.equal(term.deliveries, 2);
            const max = find('$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.AD.ac');
            assert.equal(max.type, 'io.nats.jetstream.advisory.v1.max_deliver');
            assert.equal(max.stream_seq, 2);
            assert.equal(max.deliveries, 2);
            assert.equal(find('$JS.EVENT.ADVISORY.CONSUMER.DELETED.AD.ac').action, 'delete');
            assert.equal(find('$JS.EVENT.ADVISORY.STREAM.DELETED.AD').action, 'delete');
            const audit = events.filter((e) => e.on === '$JS.EVENT.ADVISORY.API');
            const a = audit.find((e) => e.request && JSON.parse(e.request).config?.durable_name === 'ac');
            assert.equal(a.type, 'io.nats.jetstream.advisory.v1.api_audit');
            assert.equal(JSON.parse(a.response).type, 'io.nats.jetstream.api.v1.consumer_create_response');
            assert.equal(a.subject, '$JS.API.CONSUMER.CREATE.AD.ac');
            assert.equal(typeof a.client, 'object');
        });

    test('sample_freq: ack metrics', { timeout: 10000 }, async () => {
        await jsm.streams.add({ name: 'SM', subjects: ['sm'], storage: 'memory' });
        await jsm.consumers.add('SM', { durable_name: 's', ack_policy: AckPolicy.Explicit, sample_freq: '100%' });
        const metrics = [];
        const sub = nc.subscribe('$JS.EVENT.METRIC.CONSUMER.ACK.SM.s', {
            callback: (_, m) => metrics.push(jc.decode(m.data)),
        });
        await nc.flush();
        await js.publish('sm', sc.encode('x'));
        const m = await (await js.consumers.get('SM', 's')).next({ expires: 1000 });
        await sleep(20);
        await m.ackAck();
        await nc.flush();
        await sleep(100);
        sub.unsubscribe();
        assert.equal(metrics.length, 1);
        assert.equal(metrics[0].type, 'io.nats.jetstream.metric.v1.consumer_ack');
        assert.equal(metrics[0].stream, 'SM');
        assert.equal(metrics[0].consumer, 's');
        assert.equal(metrics[0].stream_seq, 1);
        assert.equal(metrics[0].consumer_seq, 1);
        assert.equal(metrics[0].deliveries, 1);
        assert.ok(metrics[0].ack_time >= 10_000_000, `ack_time ${metrics[0].ack_time}`);
    });
});

describe('JetStream consumers across a restart', () => {
    test('a durable keeps its config and ack state', { timeout: 30000 }, async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meridian-jsc-'));
        let srv = await startServer(['-js', '-sd', dir]);
        try {
            let nc = await connectTo(srv);
            let jsm = await nc.jetstreamManager();
            let js = nc.jetstream();
            await jsm.streams.add({ name: 'KEEP', subjects: ['keep.>'] });
            await publishN(js, 'keep.a', 6);
            await jsm.consumers.add('KEEP', {
                durable_name: 'dur', ack_policy: AckPolicy.Explicit, description: 'stays',
            });
            const c = await js.consumers.get('KEEP', 'dur');
            const ms = await take(await c.fetch({ max_messages: 4, expires: 1000 }), 4, 2000);
            await ms[0].ackAck();
            await ms[1].ackAck();
            await ms[3].ackAck();
            await sleep(300); // the state is written behind the acks
            await nc.close();
            await srv.stop();
            srv = await startServer(['-js', '-sd', dir]);
            nc = await connectTo(srv);
            jsm = await nc.jetstreamManager();
            js = nc.jetstream();
            const ci = await jsm.consumers.info('KEEP', 'dur');
            assert.equal(ci.config.description, 'stays');
            assert.equal(ci.delivered.stream_seq, 4);
            assert.equal(ci.ack_floor.stream_seq, 2);
            assert.equal(ci.num_ack_pending, 1);
            assert.equal(ci.num_pending, 2);
            const c2 = await js.consumers.get('KEEP', 'dur');
            const next = await c2.next({ expires: 1000 });
            assert.equal(next.seq, 5);
            await nc.close();
        } finally {
            await srv.stop();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
