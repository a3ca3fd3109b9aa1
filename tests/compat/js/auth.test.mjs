// SPDX-License-Identifier: Apache-2.0
//
// nats.js against the server under test: user/password (--user/--pass) and
// token (--auth) authentication, with right and wrong credentials.

import assert from 'node:assert/strict';
import test, { describe } from 'node:test';
import { ErrorCode, StringCodec } from 'nats';

import { collect, connectTo } from '../lib/client.mjs';
import { serverFixture, withTimeout } from '../lib/server.mjs';

const sc = StringCodec();
const T = { timeout: 20000 };

async function roundTrip(nc, subject) {
    const s = nc.subscribe(subject);
    nc.publish(subject, sc.encode('authed'));
    const [m] = await collect(s, 1, 5000);
    assert.equal(sc.decode(m.data), 'authed');
}

async function expectAuthFailure(srv, opts) {
    await assert.rejects(
        withTimeout(connectTo(srv, opts), 10000, 'connect to fail'),
        (err) => {
            assert.equal(err.code, ErrorCode.AuthorizationViolation, `got ${err.code}: ${err.message}`);
            return true;
        },
    );
}

describe('user/password auth (--user/--pass)', () => {
    const srv = serverFixture(['--user', 'alice', '--pass', 's3cret']);

    test('INFO says auth_required', T, async () => {
        const nc = await connectTo(srv.current, { user: 'alice', pass: 's3cret' });
        try {
            assert.equal(nc.info.auth_required, true);
        } finally {
            await nc.close();
        }
    });

    test('right credentials connect and work', T, async () => {
        const nc = await connectTo(srv.current, { user: 'alice', pass: 's3cret' });
        try {
            await roundTrip(nc, 'auth.user');
        } finally {
            await nc.close();
        }
    });

    test('wrong password is an authorization violation', T, async () => {
        await expectAuthFailure(srv.current, { user: 'alice', pass: 'wrong' });
    });

    test('wrong user is an authorization violation', T, async () => {
        await expectAuthFailure(srv.current, { user: 'bob', pass: 's3cret' });
    });

    test('no credentials is an authorization violation', T, async () => {
        await expectAuthFailure(srv.current, {});
    });

    test('a token instead of user/password is an authorization violation', T, async () => {
        await expectAuthFailure(srv.current, { token: 's3cret' });
    });
});

describe('token auth (--auth)', () => {
    const srv = serverFixture(['--auth', 'tok-3f9a']);

    test('right token connects and works', T, async () => {
        const nc = await connectTo(srv.current, { token: 'tok-3f9a' });
        try {
            assert.equal(nc.info.auth_required, true);
            await roundTrip(nc, 'auth.token');
        } finally {
            await nc.close();
        }
    });

    test('wrong token is an authorization violation', T, async () => {
        await expectAuthFailure(srv.current, { token: 'tok-xxxx' });
    });

    test('no token is an authorization violation', T, async () => {
        await expectAuthFailure(srv.current, {});
    });
});
