// SPDX-License-Identifier: Apache-2.0
//
// WebSocket clients with websocket {} options beyond the plain listener, spoken raw
// (lib/wsclient.mjs), checked against nats-server 2.9.10 first:
//  - tls {}: wss://, the upgrade inside TLS, pub/sub with a TCP client; plain HTTP on
//    the port gets no 101;
//  - authorization { user, password } and { token } on a server without auth: they
//    override for WebSocket clients only (INFO auth_required, -ERR 'Authorization
//    Violation' for missing or wrong credentials), TCP clients still need none;
//  - no_auth_user: a WebSocket client without credentials binds as that user (its
//    account), one with credentials as those, TCP clients still must authenticate;
//  - compression: true: a client that does not offer permessage-deflate gets no
//    extension and plain frames; one that offers it gets it without context takeover,
//    compressed frames from the server (those over 64 bytes) and its own are read.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import test, { describe } from 'node:test';
import { StringCodec } from 'nats';

import { makeCerts } from '../lib/certs.mjs';
import { collect, connectTo } from '../lib/client.mjs';
import { HOST, reservePort, serverFixture, sleep, withTimeout } from '../lib/server.mjs';
import { WsClient } from '../lib/wsclient.mjs';

const T = { timeout: 15000 };
const sc = StringCodec();
const certs = makeCerts();
process.on('exit', () => certs.remove());

async function wsPortFor() {
    const p = await reservePort();
    process.on('exit', () => p.release());
    return p.port;
}

/** Open a WebSocket client, read INFO, send CONNECT (fields) and PING; resolve to the
 * upgrade answer's head, the client, the INFO and whether the server answered PONG
 * (else its -ERR text). */
async function wsConnect(port, fields = {}, opts = {}) {
    const { head, client } = await WsClient.open(port, {}, opts);
    assert.match(head, /^HTTP\/1\.1 101 /);
    await client.waitText('INFO {');
    const info = JSON.parse(client.text().split('\r\n')[0].slice(5));
    client.send(2, `CONNECT ${JSON.stringify({ verbose: false, pedantic: false, protocol: 1,
        ...fields })}\r\nPING\r\n`);
    const deadline = Date.now() + 3000;
    while (!/PONG\r\n|-ERR [^\r]*\r\n/.test(client.text())) {
        if (Date.now() > deadline) {
            client.close();
            throw new Error(`no PONG or -ERR within 3 s: ${JSON.stringify(client.text())}`);
        }
        await sleep(20);
    }
    const err = client.text().match(/-ERR ([^\r]*)\r\n/);
    return { head, client, info, ok: err === null, err: err ? err[1] : null };
}

/** A subscription over WebSocket receives what a nats.js client publishes. */
async function wsReceives(ws, nc, subject) {
    const pongs = () => ws.text().split('PONG\r\n').length - 1;
    const before = pongs();
    ws.send(2, `SUB ${subject} 9\r\nPING\r\n`);
    const deadline = Date.now() + 3000;
    while (pongs() <= before) {
        if (Date.now() > deadline) {
            throw new Error('no PONG after SUB');
        }
        await sleep(20);
    }
    nc.publish(subject, sc.encode('to-ws'));
    await nc.flush();
    await ws.waitText(`MSG ${subject} 9 5\r\nto-ws\r\n`);
}

const tlsPort = await wsPortFor();
describe('websocket { tls {} }: clients over wss://', () => {
    const srv = serverFixture([], {
        config: `websocket {\n  listen: "${HOST}:${tlsPort}"\n  tls { cert_file: ` +
            `"${certs.serverCert}", key_file: "${certs.serverKey}" }\n}\n`,
    });
    const tlsOpts = { tls: { ca: fs.readFileSync(certs.ca), servername: 'localhost' } };

    test('the upgrade inside TLS, then pub/sub with a TCP client both ways', T, async () => {
        const { client: ws, ok } = await wsConnect(tlsPort, {}, tlsOpts);
        const nc = await connectTo(srv.current);
        try {
            assert.ok(ok);
            await wsReceives(ws, nc, 'wss.down');
            const sub = nc.subscribe('wss.up');
            await nc.flush();
            ws.send(2, 'PUB wss.up 5\r\nto-nc\r\n');
            const got = await collect(sub, 1, 3000, 'the wss client\'s message');
            assert.equal(sc.decode(got[0].data), 'to-nc');
        } finally {
            ws.close();
            await nc.close();
        }
    });

    test('a plain HTTP upgrade on the TLS port gets no 101', T, async () => {
        let head = '';
        try {
            const r = await WsClient.open(tlsPort);
            head = r.head;
            r.client.close();
        } catch (e) {
            head = `(no answer: ${e.message})`;
        }
        assert.doesNotMatch(head, /^HTTP\/1\.1 101 /);
    });
});

const userPort = await wsPortFor();
describe('websocket { authorization { user, password } } on a server without auth', () => {
    const srv = serverFixture([], {
        config: `websocket {\n  listen: "${HOST}:${userPort}"\n  no_tls: true\n` +
            '  authorization { user: "wsu", password: "wsp" }\n}\n',
    });

    test('INFO asks WebSocket clients for credentials, TCP clients not', T, async () => {
        const { client, info } = await wsConnect(userPort, { user: 'wsu', pass: 'wsp' });
        client.close();
        assert.equal(info.auth_required, true);
        const nc = await connectTo(srv.current);
        try {
            assert.ok(!nc.info.auth_required, 'TCP INFO has no auth_required');
        } finally {
            await nc.close();
        }
    });

    test('missing or wrong credentials: -ERR \'Authorization Violation\'', T, async () => {
        for (const fields of [{}, { user: 'wsu', pass: 'nope' }, { user: 'x', pass: 'wsp' }]) {
            const { client, ok, err } = await wsConnect(userPort, fields);
            client.close();
            assert.equal(ok, false, JSON.stringify(fields));
            assert.equal(err, '\'Authorization Violation\'');
        }
    });

    test('the right ones: PONG, and messages from a TCP client of $G', T, async () => {
        const { client: ws, ok } = await wsConnect(userPort, { user: 'wsu', pass: 'wsp' });
        const nc = await connectTo(srv.current);
        try {
            assert.ok(ok);
            await wsReceives(ws, nc, 'wsauth.x');
        } finally {
            ws.close();
            await nc.close();
        }
    });
});

const tokenPort = await wsPortFor();
describe('websocket { authorization { token } }', () => {
    serverFixture([], {
        config: `websocket {\n  listen: "${HOST}:${tokenPort}"\n  no_tls: true\n` +
            '  authorization { token: "wstok" }\n}\n',
    });

    test('the token is required and checked', T, async () => {
        const good = await wsConnect(tokenPort, { auth_token: 'wstok' });
        good.client.close();
        assert.equal(good.info.auth_required, true);
        assert.ok(good.ok, `right token: ${good.err}`);
        for (const fields of [{}, { auth_token: 'other' }, { user: 'wsu', pass: 'wstok' }]) {
            const bad = await wsConnect(tokenPort, fields);
            bad.client.close();
            assert.equal(bad.err, '\'Authorization Violation\'', JSON.stringify(fields));
        }
    });
});

const noAuthPort = await wsPortFor();
describe('websocket { no_auth_user }', () => {
    const srv = serverFixture([], {
        config: [
            'accounts {',
            '  A: { users: [ { user: "a", password: "a" } ] }',
            '  B: { users: [ { user: "b", password: "b" } ] }',
            '}',
            `websocket {\n  listen: "${HOST}:${noAuthPort}"\n  no_tls: true\n` +
            '  no_auth_user: "b"\n}',
        ].join('\n') + '\n',
    });

    test('without credentials a WebSocket client is user b (account B)', T, async () => {
        const { client: ws, ok } = await wsConnect(noAuthPort);
        const ncA = await connectTo(srv.current, { user: 'a', pass: 'a' });
        const ncB = await connectTo(srv.current, { user: 'b', pass: 'b' });
        try {
            assert.ok(ok);
            // Account A's message goes first: had it crossed, it would precede B's.
            ncA.publish('nau.x', sc.encode('from-a'));
            await ncA.flush();
            await wsReceives(ws, ncB, 'nau.x');
            assert.doesNotMatch(ws.text(), /from-a/);
        } finally {
            ws.close();
            await Promise.all([ncA.close(), ncB.close()]);
        }
    });

    test('with credentials it is that user; TCP clients still need them', T, async () => {
        const { client: ws, ok } = await wsConnect(noAuthPort, { user: 'a', pass: 'a' });
        const ncA = await connectTo(srv.current, { user: 'a', pass: 'a' });
        try {
            assert.ok(ok);
            await wsReceives(ws, ncA, 'nau.y');
        } finally {
            ws.close();
            await ncA.close();
        }
        await assert.rejects(withTimeout(connectTo(srv.current), 5000, 'connect'),
            /Authorization Violation|AUTHORIZATION_VIOLATION/i);
    });
});

const compPort = await wsPortFor();
describe('websocket { compression: true }', () => {
    const srv = serverFixture([], {
        config: `websocket {\n  listen: "${HOST}:${compPort}"\n  no_tls: true\n` +
            '  compression: true\n}\n',
    });
    const offer = { 'Sec-WebSocket-Extensions': 'permessage-deflate; ' +
        'client_no_context_takeover; server_no_context_takeover' };

    test('a client that offers no extension gets none, and plain frames', T, async () => {
        const { head, client: ws, ok } = await wsConnect(compPort);
        const nc = await connectTo(srv.current);
        try {
            assert.doesNotMatch(head, /sec-websocket-extensions/i);
            assert.ok(ok);
            await wsReceives(ws, nc, 'comp.x');
            const big = 'y'.repeat(4096);
            const sub = nc.subscribe('comp.big');
            await nc.flush();
            ws.send(2, `PUB comp.big ${big.length}\r\n${big}\r\n`);
            const got = await collect(sub, 1, 3000, 'the large message');
            assert.equal(sc.decode(got[0].data), big);
            assert.ok(!ws.sawCompressed());
        } finally {
            ws.close();
            await nc.close();
        }
    });

    test('an offer is agreed without context takeover; compressed frames both ways', T,
        async () => {
            const { head, client: ws } = await WsClient.open(compPort, offer);
            const nc = await connectTo(srv.current);
            try {
                assert.match(head, /^HTTP\/1\.1 101 /);
                assert.match(head, new RegExp('sec-websocket-extensions: permessage-deflate; ' +
                    'server_no_context_takeover; client_no_context_takeover\r\n', 'i'));
                await ws.waitText('INFO {');
                assert.ok(ws.sawCompressed(), 'the INFO (over 64 bytes) comes compressed');
                const big = 'z'.repeat(20000);
                ws.sendDeflated(`CONNECT {"verbose":false,"pedantic":false}\r\n` +
                    'SUB comp.down 1\r\nPING\r\n');
                await ws.waitText('PONG\r\n');
                nc.publish('comp.down', sc.encode(big));
                await nc.flush();
                await ws.waitText(`MSG comp.down 1 ${big.length}\r\n${big}\r\n`);
                const sub = nc.subscribe('comp.up');
                await nc.flush();
                ws.sendDeflated(`PUB comp.up ${big.length}\r\n${big}\r\n`);
                const got = await collect(sub, 1, 3000, 'the compressed PUB');
                assert.equal(sc.decode(got[0].data), big);
            } finally {
                ws.close();
                await nc.close();
            }
        });
});
