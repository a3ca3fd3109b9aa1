// SPDX-License-Identifier: Apache-2.0
//
// nats.js (and a raw socket) against a server started from a configuration file
// (-c): authorization from the file (user/password, token, bcrypt hashes, no_auth_user),
// per-user permissions (publish deny, subscribe deny, allow_responses), accounts
// (isolation, a stream export/import with a prefix, a service export/import) and
// max_payload. The files are written to a temp dir by lib/server.mjs; the command line
// also has -a/-p, which override the file as in nats-server.
//
// Every test passes against nats-server 2.9.10:
//   MERIDIAN_SERVER=/usr/sbin/nats-server node tests/compat/run.mjs \
//       tests/compat/js/config_auth.test.mjs

import assert from 'node:assert/strict';
import test, { describe } from 'node:test';
import { ErrorCode, StringCodec } from 'nats';

import { ConnPool, collect, settle, waitFor } from '../lib/client.mjs';
import { RawClient } from '../lib/raw.mjs';
import { serverFixture, sleep, withTimeout } from '../lib/server.mjs';

const sc = StringCodec();
const T = { timeout: 20000 };

// bcrypt of "b0b-pw" (cost 10), made with libxcrypt and written as $2a$, the form
// nats-server's documentation uses (tools: `nats server passwd`, htpasswd -B).
const BOB_HASH = '$2a$10$jEd1dHwbSDAG5ICdCwVyRuj1NXgA8wqXc58m1mOg9Nku3daXtdfyi';

async function roundTrip(nc, subject) {
    const s = nc.subscribe(subject);
    nc.publish(subject, sc.encode('hello'));
    const [m] = await collect(s, 1, 5000, `a message on ${subject}`);
    assert.equal(sc.decode(m.data), 'hello');
    s.unsubscribe();
}

async function expectAuthFailure(pool, opts) {
    await assert.rejects(withTimeout(pool.open(opts), 10000, 'connect to fail'), (err) => {
        assert.equal(err.code, ErrorCode.AuthorizationViolation, `got ${err.code}: ${err.message}`);
        return true;
    });
}

/** Collects a connection's status events (errors such as permission violations). */
function watchStatus(nc) {
    const events = [];
    (async () => {
        for await (const s of nc.status()) {
            events.push(s);
        }
    })().catch(() => {});
    return events;
}

function permissionEvent(events, operation, subject) {
    return events.find((e) => e.type === 'error' && e.data === ErrorCode.PermissionsViolation &&
        e.permissionContext?.operation === operation && e.permissionContext?.subject === subject);
}

describe('user/password from a config file', () => {
    const srv = serverFixture([], { config: 'authorization {\n  user: alice\n  password: s3cret\n}\n' });

    test('right credentials connect and work', T, async () => {
        const pool = new ConnPool(srv.current);
        try {
            const nc = await pool.open({ user: 'alice', pass: 's3cret' });
            assert.equal(nc.info.auth_required, true);
            await roundTrip(nc, 'cfg.user');
        } finally {
            await pool.closeAll();
        }
    });

    test('wrong password is an authorization violation', T, async () => {
        const pool = new ConnPool(srv.current);
        try {
            await expectAuthFailure(pool, { user: 'alice', pass: 'wrong' });
            await expectAuthFailure(pool, {});
        } finally {
            await pool.closeAll();
        }
    });
});

describe('token from a config file', () => {
    const srv = serverFixture([], { config: 'authorization { token: "tok-3f9a" }\n' });

    test('right token connects, wrong token is refused', T, async () => {
        const pool = new ConnPool(srv.current);
        try {
            const nc = await pool.open({ token: 'tok-3f9a' });
            await roundTrip(nc, 'cfg.token');
            await expectAuthFailure(pool, { token: 'tok-xxxx' });
        } finally {
            await pool.closeAll();
        }
    });
});

describe('bcrypt password in a users list', () => {
    const srv = serverFixture([], {
        config: `authorization {\n  users: [\n    { user: bob, password: "${BOB_HASH}" }\n` +
            '    { user: carol, password: plain-pw }\n  ]\n}\n',
    });

    test('the plain password matches the hash', T, async () => {
        const pool = new ConnPool(srv.current);
        try {
            const nc = await pool.open({ user: 'bob', pass: 'b0b-pw' });
            await roundTrip(nc, 'cfg.bcrypt');
            const nc2 = await pool.open({ user: 'carol', pass: 'plain-pw' });
            await roundTrip(nc2, 'cfg.plain');
        } finally {
            await pool.closeAll();
        }
    });

    test('a wrong password, or the hash itself, is refused', T, async () => {
        const pool = new ConnPool(srv.current);
        try {
            await expectAuthFailure(pool, { user: 'bob', pass: 'b0b-pwx' });
            await expectAuthFailure(pool, { user: 'bob', pass: BOB_HASH });
        } finally {
            await pool.closeAll();
        }
    });
});

const PERMS_CONF = `
authorization {
  users: [
    { user: admin, password: admin }
    { user: pd, password: pd, permissions: { publish: { deny: ["secret.>"] } } }
    { user: sd, password: sd, permissions: { subscribe: { allow: [">"], deny: ["private.>"] } } }
    { user: resp, password: resp, permissions: { subscribe: "svc.>", allow_responses: true } }
  ]
}
`;

describe('per-user permissions from a config file', () => {
    const srv = serverFixture([], { config: PERMS_CONF });

    test('publish deny: the client gets a permissions error, nothing is delivered', T, async () => {
        const pool = new ConnPool(srv.current);
        try {
            const admin = await pool.open({ user: 'admin', pass: 'admin' });
            const pd = await pool.open({ user: 'pd', pass: 'pd' });
            const events = watchStatus(pd);
            const got = [];
            admin.subscribe('secret.>', { callback: (err, m) => { if (!err) got.push(m.subject); } });
            admin.subscribe('open.>', { callback: (err, m) => { if (!err) got.push(m.subject); } });
            await admin.flush();
            pd.publish('secret.plans', sc.encode('x'));
            pd.publish('open.news', sc.encode('y'));
            await waitFor(() => permissionEvent(events, 'publish', 'secret.plans'), 5000,
                'a publish permissions violation');
            await settle([pd], [admin]);
            await waitFor(() => got.length >= 1, 5000, 'the allowed message');
            await sleep(100);
            assert.deepEqual(got, ['open.news']);
            assert.equal(pd.isClosed(), false, 'a permissions violation does not close');
        } finally {
            await pool.closeAll();
        }
    });

    test('subscribe deny: the subscription gets a permissions error', T, async () => {
        const pool = new ConnPool(srv.current);
        try {
            const sd = await pool.open({ user: 'sd', pass: 'sd' });
            const errs = [];
            sd.subscribe('private.x', { callback: (err) => { if (err) errs.push(err); } });
            await waitFor(() => errs.length > 0, 5000, 'a subscribe permissions violation');
            assert.equal(errs[0].code, ErrorCode.PermissionsViolation);
            assert.match(errs[0].message, /Subscription to "private\.x"/);
            // Allowed subscriptions on the same connection keep working.
            await roundTrip(sd, 'public.x');
        } finally {
            await pool.closeAll();
        }
    });

    test('allow_responses lets a responder reply, and only reply', T, async () => {
        const pool = new ConnPool(srv.current);
        try {
            const admin = await pool.open({ user: 'admin', pass: 'admin' });
            const resp = await pool.open({ user: 'resp', pass: 'resp' });
            const events = watchStatus(resp);
            resp.subscribe('svc.echo', { callback: (err, m) => { if (!err) m.respond(m.data); } });
            await resp.flush();
            const r = await admin.request('svc.echo', sc.encode('ping'), { timeout: 5000 });
            assert.equal(sc.decode(r.data), 'ping');
            // Outside a response, publishing is not allowed (nats-server: allow_responses
            // without a publish allow list allows nothing else).
            resp.publish('other.subject', sc.encode('x'));
            await waitFor(() => permissionEvent(events, 'publish', 'other.subject'), 5000,
                'a publish permissions violation outside a response');
        } finally {
            await pool.closeAll();
        }
    });
});

const ACCOUNTS_CONF = `
accounts {
  A: {
    users: [ { user: a, password: a } ]
    exports: [
      { stream: "news.>" }
      { service: "calc.>" }
    ]
  }
  B: {
    users: [ { user: b, password: b } ]
    imports: [
      { stream: { account: A, subject: "news.>" }, prefix: froma }
      { service: { account: A, subject: "calc.add" }, to: "add" }
    ]
  }
}
`;

describe('accounts from a config file', () => {
    const srv = serverFixture([], { config: ACCOUNTS_CONF });

    test('a message in account A is invisible in account B', T, async () => {
        const pool = new ConnPool(srv.current);
        try {
            const a1 = await pool.open({ user: 'a', pass: 'a' });
            const a2 = await pool.open({ user: 'a', pass: 'a' });
            const b = await pool.open({ user: 'b', pass: 'b' });
            const inA = [];
            const inB = [];
            a2.subscribe('iso.>', { callback: (err, m) => { if (!err) inA.push(m.subject); } });
            b.subscribe('iso.>', { callback: (err, m) => { if (!err) inB.push(m.subject); } });
            await settle([a2, b], []);
            a1.publish('iso.one', sc.encode('from a'));
            await settle([a1], [a2, b]);
            await waitFor(() => inA.length === 1, 5000, 'the message inside account A');
            b.publish('iso.two', sc.encode('from b'));
            await settle([b], [a2, b]);
            await waitFor(() => inB.length === 1, 5000, 'the message inside account B');
            await sleep(100);
            assert.deepEqual(inA, ['iso.one']);
            assert.deepEqual(inB, ['iso.two']);
        } finally {
            await pool.closeAll();
        }
    });

    test('a stream export/import crosses accounts with its prefix', T, async () => {
        const pool = new ConnPool(srv.current);
        try {
            const a = await pool.open({ user: 'a', pass: 'a' });
            const b = await pool.open({ user: 'b', pass: 'b' });
            const sub = b.subscribe('froma.news.>');
            const plain = [];
            b.subscribe('news.>', { callback: (err, m) => { if (!err) plain.push(m.subject); } });
            await b.flush();
            a.publish('news.today', sc.encode('headline'));
            const [m] = await collect(sub, 1, 5000, 'the imported message');
            assert.equal(m.subject, 'froma.news.today');
            assert.equal(sc.decode(m.data), 'headline');
            await settle([a], [b]);
            assert.deepEqual(plain, [], 'the import only delivers under the prefix');
        } finally {
            await pool.closeAll();
        }
    });

    test('a service export/import answers requests across accounts', T, async () => {
        const pool = new ConnPool(srv.current);
        try {
            const a = await pool.open({ user: 'a', pass: 'a' });
            const b = await pool.open({ user: 'b', pass: 'b' });
            a.subscribe('calc.add', {
                callback: (err, m) => {
                    if (!err) {
                        const [x, y] = sc.decode(m.data).split('+').map(Number);
                        m.respond(sc.encode(String(x + y)));
                    }
                },
            });
            await a.flush();
            const r = await b.request('add', sc.encode('2+3'), { timeout: 5000 });
            assert.equal(sc.decode(r.data), '5');
        } finally {
            await pool.closeAll();
        }
    });
});

describe('no_auth_user from a config file', () => {
    const srv = serverFixture([], {
        config: 'authorization {\n  users: [\n    { user: guest, password: guest, permissions: ' +
            '{ publish: "guest.>", subscribe: "guest.>" } }\n    { user: admin, password: admin }\n' +
            '  ]\n}\nno_auth_user: guest\n',
    });

    test('a client without credentials is the no_auth_user, with its permissions', T, async () => {
        const pool = new ConnPool(srv.current);
        try {
            const nc = await pool.open({});
            await roundTrip(nc, 'guest.hello');
            const events = watchStatus(nc);
            nc.publish('admin.only', sc.encode('x'));
            await waitFor(() => permissionEvent(events, 'publish', 'admin.only'), 5000,
                'the guest permissions to apply');
            const admin = await pool.open({ user: 'admin', pass: 'admin' });
            await roundTrip(admin, 'admin.only');
            await expectAuthFailure(pool, { user: 'admin', pass: 'wrong' });
        } finally {
            await pool.closeAll();
        }
    });
});

describe('max_payload from a config file', () => {
    const srv = serverFixture([], { config: 'max_payload: 512\n' });

    test('INFO advertises it and nats.js refuses a bigger publish', T, async () => {
        const pool = new ConnPool(srv.current);
        try {
            const nc = await pool.open({});
            assert.equal(nc.info.max_payload, 512);
            assert.throws(() => nc.publish('mp.big', new Uint8Array(513)),
                (err) => err.code === ErrorCode.MaxPayloadExceeded);
            nc.publish('mp.ok', new Uint8Array(512));
            await nc.flush();
        } finally {
            await pool.closeAll();
        }
    });

    test('the server refuses an over-limit PUB on a raw socket and closes', T, async () => {
        const c = await RawClient.open(srv.current.port);
        try {
            assert.equal(c.info.max_payload, 512);
            await c.send('CONNECT {"verbose":false,"pedantic":false}\r\nPUB mp.raw 600\r\n' +
                `${'x'.repeat(600)}\r\n`);
            assert.equal(await c.waitClose(5000), true, 'the server closes the connection');
            assert.match(c.output(), /-ERR 'Maximum Payload Violation'\r\n/);
        } finally {
            c.destroy();
        }
    });
});
