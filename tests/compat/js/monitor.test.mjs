// SPDX-License-Identifier: Apache-2.0
//
// The monitoring endpoints side by side: the server under test and the reference
// nats-server each run with a monitoring port (-m), get the same setup (three nats.js
// connections, two named, with plain and queue subscriptions and some messages, one of
// them closed), and every endpoint is fetched from both with node's fetch and compared
// field by field:
//   - the same keys, except the ones we add or leave out on purpose (listed below);
//   - the same values where they must agree (counts, names, subjects, limits, error
//     messages, status codes, content types);
//   - the same JSON types everywhere else (ids, times, durations, versions).
// When the server under test is nats-server itself (scripts/compat.sh --server nats)
// both sides are nats-server and no difference is allowed. Without nats-server on this
// machine the test checks the server under test against key lists recorded from
// nats-server 2.9.10 instead.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test, { after, before, describe } from 'node:test';
import { StringCodec } from 'nats';

import { connectTo, settle } from '../lib/client.mjs';
import { HOST, isNatsServer, reservePort, serverBin, startServer } from '../lib/server.mjs';

const sc = StringCodec();
const T = { timeout: 30000 };

// ---------------------------------------------------------------------------------
// What may differ

// Keys meridian adds to nats-server's, per object.
const ADDED = {
    varz: ['meridian_version'],
};
// Keys nats-server has that meridian leaves out, per object: the system account's
// internal service imports of every account (meridian has no system services yet).
const OMITTED = {
    account_detail: ['imports'],
};
// Values that differ by nature: compared by type only.
const TYPE_ONLY = new Set([
    'server_id', 'server_name', 'version', 'go', 'port', 'http_port', 'start', 'now', 'uptime',
    'idle', 'rtt', 'last_activity', 'stop', 'config_load_time', 'update_time', 'mem', 'cores',
    'gomaxprocs', 'cpu', 'cid', 'http_req_stats',
    // The test harness's readiness probe (a bare TCP connect) counts as a connection.
    'total_connections',
    // nats-server counts its internal system subscriptions; meridian has fewer of them.
    'subscriptions', 'num_subscriptions', 'num_cache', 'num_inserts', 'num_removes',
    'num_matches', 'cache_hit_rate', 'max_fanout', 'avg_fanout', 'total', 'accounts',
]);

// Keys recorded from nats-server 2.9.10 (-a 127.0.0.1 -m PORT, no config), for machines
// without it.
const RECORDED = {
    varz: ['server_id', 'server_name', 'version', 'proto', 'go', 'host', 'port',
        'max_connections', 'ping_interval', 'ping_max', 'http_host', 'http_port',
        'http_base_path', 'https_port', 'auth_timeout', 'max_control_line', 'max_payload',
        'max_pending', 'cluster', 'gateway', 'leaf', 'mqtt', 'websocket', 'jetstream',
        'tls_timeout', 'write_deadline', 'start', 'now', 'uptime', 'mem', 'cores', 'gomaxprocs',
        'cpu', 'connections', 'total_connections', 'routes', 'remotes', 'leafnodes', 'in_msgs',
        'out_msgs', 'in_bytes', 'out_bytes', 'slow_consumers', 'subscriptions', 'http_req_stats',
        'config_load_time', 'system_account'],
    connz: ['server_id', 'now', 'num_connections', 'total', 'offset', 'limit', 'connections'],
    conn: ['cid', 'kind', 'type', 'ip', 'port', 'start', 'last_activity', 'rtt', 'uptime', 'idle',
        'pending_bytes', 'in_msgs', 'out_msgs', 'in_bytes', 'out_bytes', 'subscriptions', 'name',
        'lang', 'version'],
    closed_conn: ['cid', 'kind', 'type', 'ip', 'port', 'start', 'last_activity', 'stop', 'reason',
        'rtt', 'uptime', 'idle', 'pending_bytes', 'in_msgs', 'out_msgs', 'in_bytes', 'out_bytes',
        'subscriptions', 'name', 'lang', 'version'],
    subsz: ['num_subscriptions', 'num_cache', 'num_inserts', 'num_removes', 'num_matches',
        'cache_hit_rate', 'max_fanout', 'avg_fanout'],
    subsz_list: ['server_id', 'now', 'num_subscriptions', 'num_cache', 'num_inserts',
        'num_removes', 'num_matches', 'cache_hit_rate', 'max_fanout', 'avg_fanout', 'total',
        'offset', 'limit', 'subscriptions_list'],
    accountz: ['server_id', 'now', 'system_account', 'accounts'],
    account_detail: ['account_name', 'update_time', 'expired', 'complete', 'jetstream_enabled',
        'leafnode_connections', 'client_connections', 'subscriptions', 'imports', 'sublist_stats'],
};

// Go's time.RFC3339Nano in UTC and Go's time.Duration.String().
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;
const GO_DURATION = /^(0s|\d+(\.\d+)?(ns|µs|ms)|(\d+h)?(\d+m)?\d+(\.\d+)?s)$/;
const UPTIME = /^(\d+y)?(\d+d)?(\d+h)?(\d+m)?\d+s$/;

// ---------------------------------------------------------------------------------
// Servers

// COMPAT_MONITOR_REFERENCE names the reference binary; "none" forces the recorded key
// lists (to test that path on a machine that has nats-server).
function findNatsServer() {
    const forced = process.env.COMPAT_MONITOR_REFERENCE;
    if (forced === 'none') {
        return null;
    }
    if (forced) {
        return forced;
    }
    const dirs = (process.env.PATH || '').split(path.delimiter).concat(['/usr/sbin', '/usr/local/sbin']);
    for (const d of dirs) {
        const cand = path.join(d || '.', 'nats-server');
        if (fs.existsSync(cand)) {
            return cand;
        }
    }
    return null;
}

/** A server with a monitoring port: { srv, base (http URL), meridian, stop() }. */
async function startMonitored(bin) {
    const mon = await reservePort();
    let srv;
    try {
        srv = await startServer(['-m', String(mon.port)], { bin });
    } catch (e) {
        mon.release();
        throw e;
    }
    const base = `http://${HOST}:${mon.port}`;
    // The client port accepts first; wait (bounded) for the monitoring port too.
    await waitForHttp(`${base}/healthz`, 5000);
    return {
        srv,
        base,
        meridian: !isNatsServer(bin),
        async stop() {
            await srv.stop();
            mon.release();
        },
    };
}

async function waitForHttp(url, ms) {
    const deadline = Date.now() + ms;
    for (;;) {
        try {
            const r = await fetch(url);
            await r.text();
            return;
        } catch (e) {
            if (Date.now() > deadline) {
                throw new Error(`monitoring port ${url} not answering after ${ms} ms: ${e.message}`);
            }
            await new Promise((r) => setTimeout(r, 25));
        }
    }
}

async function fetchPage(side, pathAndQuery) {
    const r = await fetch(side.base + pathAndQuery);
    const text = await r.text();
    const ctype = r.headers.get('content-type');
    let json = null;
    if (ctype === 'application/json') {
        json = JSON.parse(text);
    }
    return { status: r.status, ctype, text, json };
}

// The same workload on a server: alpha subscribes (plain and queue), beta publishes,
// gamma subscribes once and is closed at the end.
async function populate(side) {
    const alpha = await connectTo(side.srv, { name: 'mon-alpha' });
    const beta = await connectTo(side.srv, { name: 'mon-beta' });
    const gamma = await connectTo(side.srv, { name: 'mon-gamma' });
    alpha.subscribe('mon.foo');
    alpha.subscribe('mon.q.*', { queue: 'workers' });
    gamma.subscribe('mon.gone');
    await settle([], [alpha, gamma]);
    for (let i = 0; i < 5; i++) {
        beta.publish('mon.foo', sc.encode(`hello ${i}`));
    }
    for (let i = 0; i < 3; i++) {
        beta.publish('mon.q.x', sc.encode('work'));
    }
    await settle([beta], [alpha]);
    return { alpha, beta, gamma };
}

// ---------------------------------------------------------------------------------
// Comparison

function typeOf(v) {
    if (v === null) {
        return 'null';
    }
    return Array.isArray(v) ? 'array' : typeof v;
}

/** Keys a side should have, given the reference's keys and who the side is. */
function expectedKeys(refKeys, what, meridian) {
    if (!meridian) {
        return refKeys;
    }
    const omitted = new Set(OMITTED[what] || []);
    return refKeys.filter((k) => !omitted.has(k)).concat(ADDED[what] || []);
}

/** Same keys (order too, where practical: we check order), same types, same values
 * except TYPE_ONLY ones. what names the object kind for ADDED/OMITTED. */
function compareObject(ours, ref, what, meridian, where) {
    assert.equal(typeOf(ours), 'object', `${where}: not an object`);
    const want = expectedKeys(Object.keys(ref), what, meridian);
    assert.deepEqual(Object.keys(ours), want, `${where}: keys`);
    for (const k of Object.keys(ours)) {
        if (!(k in ref)) {
            continue;
        }
        assert.equal(typeOf(ours[k]), typeOf(ref[k]), `${where}.${k}: type`);
        if (!TYPE_ONLY.has(k) && typeOf(ref[k]) !== 'object' && typeOf(ref[k]) !== 'array') {
            assert.deepEqual(ours[k], ref[k], `${where}.${k}: value`);
        }
    }
}

function checkKeysRecorded(ours, what, meridian, where) {
    assert.deepEqual(Object.keys(ours), expectedKeys(RECORDED[what], what, meridian), `${where}: keys`);
}

function checkFormats(conn, where) {
    for (const k of ['start', 'last_activity', 'stop']) {
        if (k in conn) {
            assert.match(conn[k], RFC3339, `${where}.${k}`);
        }
    }
    assert.match(conn.rtt, GO_DURATION, `${where}.rtt`);
    assert.match(conn.uptime, UPTIME, `${where}.uptime`);
    assert.match(conn.idle, UPTIME, `${where}.idle`);
}

const byName = (a, b) => (a.name || '').localeCompare(b.name || '') || a.cid - b.cid;
const bySid = (a, b) => a.sid.localeCompare(b.sid);

// ---------------------------------------------------------------------------------
// The tests

describe('monitoring endpoints, side by side with nats-server', () => {
    const natsBin = findNatsServer();
    const oursBin = serverBin();
    const pair = { ours: null, ref: null, clients: [] };

    before(async () => {
        pair.ours = await startMonitored(oursBin);
        if (natsBin !== null) {
            pair.ref = await startMonitored(natsBin);
        }
        for (const side of [pair.ours, pair.ref].filter(Boolean)) {
            side.conns = await populate(side);
        }
    }, { timeout: 30000 });

    after(async () => {
        for (const side of [pair.ours, pair.ref].filter(Boolean)) {
            for (const nc of Object.values(side.conns || {})) {
                if (!nc.isClosed()) {
                    await nc.close();
                }
            }
            await side.stop();
        }
    }, { timeout: 15000 });

    /** Fetches a page from both (the reference may be absent). */
    async function both(p) {
        const ours = await fetchPage(pair.ours, p);
        const ref = pair.ref ? await fetchPage(pair.ref, p) : null;
        return { ours, ref };
    }

    test('/varz', T, async () => {
        const { ours, ref } = await both('/varz');
        assert.equal(ours.status, 200);
        assert.equal(ours.ctype, 'application/json');
        const v = ours.json;
        if (ref) {
            compareObject(v, ref.json, 'varz', pair.ours.meridian, 'varz');
            for (const section of ['cluster', 'gateway', 'leaf', 'mqtt', 'websocket', 'jetstream']) {
                assert.deepEqual(v[section], ref.json[section], `varz.${section}`);
            }
        } else {
            checkKeysRecorded(v, 'varz', pair.ours.meridian, 'varz');
        }
        assert.equal(v.connections, 3);
        assert.ok(v.total_connections >= 3, 'total_connections');
        assert.equal(v.in_msgs, 8);
        assert.equal(v.out_msgs, 8);
        assert.equal(v.host, HOST);
        assert.match(v.start, RFC3339);
        assert.match(v.now, RFC3339);
        assert.match(v.uptime, UPTIME);
        assert.ok(v.mem > 0, 'mem is the resident set size');
        assert.ok(v.cores >= 1);
        assert.equal(v.http_req_stats['/varz'] >= 1, true);
        if (pair.ours.meridian) {
            assert.equal(v.go, 'meridian');
            assert.match(v.meridian_version, /^\d+\.\d+\.\d+/);
        }
    });

    test('/connz, with subscription lists', T, async () => {
        for (const q of ['', '?subs=1', '?subs=detail', '?auth=1']) {
            const { ours, ref } = await both(`/connz${q}`);
            assert.equal(ours.status, 200, `connz${q}`);
            const c = ours.json;
            assert.equal(c.num_connections, 3);
            assert.equal(c.total, 3);
            const mine = [...c.connections].sort(byName);
            if (ref) {
                compareObject(c, ref.json, 'connz', pair.ours.meridian, `connz${q}`);
                const theirs = [...ref.json.connections].sort(byName);
                for (let i = 0; i < 3; i++) {
                    const where = `connz${q}[${mine[i].name}]`;
                    compareObject(mine[i], theirs[i], 'conn', pair.ours.meridian, where);
                    if (q === '?subs=1') {
                        assert.deepEqual([...(mine[i].subscriptions_list || [])].sort(),
                            [...(theirs[i].subscriptions_list || [])].sort(), where);
                    }
                    if (q === '?subs=detail') {
                        const strip = (l) => (l || []).map(({ cid, ...rest }) => rest).sort(bySid);
                        assert.deepEqual(strip(mine[i].subscriptions_list_detail),
                            strip(theirs[i].subscriptions_list_detail), where);
                    }
                }
            } else if (q === '') {
                checkKeysRecorded(c, 'connz', pair.ours.meridian, 'connz');
                checkKeysRecorded(mine[0], 'conn', pair.ours.meridian, 'connz[alpha]');
            }
            for (const conn of mine) {
                checkFormats(conn, `connz${q}[${conn.cid}]`);
            }
            const alpha = mine.find((x) => x.name === 'mon-alpha');
            assert.equal(alpha.subscriptions, 2);
            assert.equal(alpha.out_msgs, 8);
            assert.equal(alpha.lang, 'nats.js');
            const beta = mine.find((x) => x.name === 'mon-beta');
            assert.equal(beta.in_msgs, 8);
        }
    });

    test('/connz sorting, paging and cid', T, async () => {
        const sorts = { subs: [2, 1, 0], msgs_from: [8, 0, 0] };
        for (const [sort, counts] of Object.entries(sorts)) {
            const { ours, ref } = await both(`/connz?sort=${sort}`);
            const key = sort === 'subs' ? 'subscriptions' : 'in_msgs';
            assert.deepEqual(ours.json.connections.map((c) => c[key]), counts, `sort=${sort}`);
            if (ref) {
                assert.deepEqual(ref.json.connections.map((c) => c[key]), counts, `ref sort=${sort}`);
            }
        }
        const { ours } = await both('/connz?offset=1&limit=1');
        assert.equal(ours.json.num_connections, 1);
        assert.equal(ours.json.offset, 1);
        assert.equal(ours.json.limit, 1);
        const first = (await fetchPage(pair.ours, '/connz')).json.connections[0];
        const one = (await fetchPage(pair.ours, `/connz?cid=${first.cid}`)).json;
        assert.equal(one.num_connections, 1);
        assert.equal(one.connections[0].cid, first.cid);
    });

    test('bad query values: same status and message', T, async () => {
        const cases = ['/connz?sort=bogus', '/connz?limit=abc', '/connz?cid=abc', '/connz?state=bogus',
            '/connz?subs=maybe', '/connz?sort=stop', '/subsz?subs=foo', '/subsz?test=mon.*',
            '/accountz?acc=NOPE'];
        for (const p of cases) {
            const { ours, ref } = await both(p);
            assert.equal(ours.status, 400, p);
            assert.equal(ours.ctype, 'text/plain; charset=utf-8', p);
            if (ref) {
                assert.equal(ours.status, ref.status, p);
                assert.equal(ours.text, ref.text, p);
            }
        }
    });

    test('/subsz', T, async () => {
        const { ours, ref } = await both('/subsz');
        if (ref) {
            compareObject(ours.json, ref.json, 'subsz', pair.ours.meridian, 'subsz');
        } else {
            checkKeysRecorded(ours.json, 'subsz', pair.ours.meridian, 'subsz');
        }
        const list = await both('/subsz?subs=1&test=mon.foo');
        const strip = (j) => j.subscriptions_list.map(({ cid, ...rest }) => rest);
        assert.deepEqual(strip(list.ours.json), [{ account: '$G', subject: 'mon.foo', sid: '1', msgs: 5 }]);
        if (list.ref) {
            compareObject(list.ours.json, list.ref.json, 'subsz_list', pair.ours.meridian, 'subsz?subs=1');
            assert.deepEqual(strip(list.ours.json), strip(list.ref.json));
        } else {
            checkKeysRecorded(list.ours.json, 'subsz_list', pair.ours.meridian, 'subsz?subs=1');
        }
    });

    test('/accountz', T, async () => {
        const { ours, ref } = await both('/accountz');
        assert.ok(ours.json.accounts.includes('$G'));
        assert.ok(ours.json.accounts.includes('$SYS'));
        assert.equal(ours.json.system_account, '$SYS');
        const detail = await both('/accountz?acc=%24G');
        const d = detail.ours.json.account_detail;
        assert.equal(d.account_name, '$G');
        assert.equal(d.client_connections, 3);
        if (ref) {
            compareObject(ours.json, ref.json, 'accountz', pair.ours.meridian, 'accountz');
            compareObject(detail.ours.json, detail.ref.json, 'accountz_detail', pair.ours.meridian,
                'accountz?acc=$G');
            compareObject(d, detail.ref.json.account_detail, 'account_detail', pair.ours.meridian,
                'account_detail');
            compareObject(d.sublist_stats, detail.ref.json.account_detail.sublist_stats, 'subsz',
                pair.ours.meridian, 'account_detail.sublist_stats');
        } else {
            checkKeysRecorded(ours.json, 'accountz', pair.ours.meridian, 'accountz');
            checkKeysRecorded(d, 'account_detail', pair.ours.meridian, 'account_detail');
        }
    });

    test('/healthz, / and unknown paths', T, async () => {
        const h = await both('/healthz');
        assert.equal(h.ours.status, 200);
        assert.equal(h.ours.text, '{"status":"ok"}');
        assert.equal(h.ours.ctype, 'application/json');
        const root = await both('/');
        assert.equal(root.ours.status, 200);
        assert.match(root.ours.ctype, /^text\/html/);
        for (const p of ['varz', 'connz', 'subsz', 'accountz', 'healthz']) {
            assert.ok(root.ours.text.includes(`./${p}`), `index links ${p}`);
        }
        const nf = await both('/nope');
        assert.equal(nf.ours.status, 404);
        assert.equal(nf.ours.text, '404 page not found\n');
        if (h.ref) {
            assert.equal(h.ours.text, h.ref.text);
            assert.equal(root.ref.status, 200);
            assert.equal(nf.ours.status, nf.ref.status);
            assert.equal(nf.ours.text, nf.ref.text);
            assert.equal(nf.ours.ctype, nf.ref.ctype);
        }
    });

    test('closed connections (state=closed)', T, async () => {
        for (const side of [pair.ours, pair.ref].filter(Boolean)) {
            await side.conns.gamma.close();
        }
        // The server notices the close asynchronously: poll (bounded). The harness's
        // readiness probe may be listed too, so look for gamma by name.
        const closedOf = async (side) => {
            const deadline = Date.now() + 5000;
            for (;;) {
                const page = await fetchPage(side, '/connz?state=closed&subs=1');
                const c = page.json.connections.find((x) => x.name === 'mon-gamma');
                if (c !== undefined || Date.now() > deadline) {
                    return { page, c };
                }
                await new Promise((r) => setTimeout(r, 25));
            }
        };
        const ours = await closedOf(pair.ours);
        assert.ok(ours.c !== undefined, 'gamma is listed as closed');
        assert.equal(ours.c.reason, 'Client Closed');
        assert.deepEqual(ours.c.subscriptions_list, ['mon.gone']);
        checkFormats(ours.c, 'closed');
        const open = (await fetchPage(pair.ours, '/connz')).json;
        assert.equal(open.num_connections, 2);
        const all = (await fetchPage(pair.ours, '/connz?state=all')).json;
        assert.equal(all.num_connections, 2 + ours.page.json.num_connections);
        if (pair.ref) {
            const ref = await closedOf(pair.ref);
            assert.deepEqual(Object.keys(ours.page.json), Object.keys(ref.page.json), 'keys');
            compareObject(ours.c, ref.c, 'closed_conn', pair.ours.meridian, 'closed');
        } else {
            const want = RECORDED.closed_conn.concat(['subscriptions_list']);
            assert.deepEqual(Object.keys(ours.c), want, 'closed: keys');
        }
    });
});
