// SPDX-License-Identifier: Apache-2.0
//
// Raw-socket tests of the client protocol, well-formed and malformed. Each
// table case: the bytes sent after the INFO line, the exact bytes expected
// back (server PINGs filtered out), and whether the server closes the
// connection. Cases that keep the connection open end with PING, so their
// expected output ends with PONG. Byte-exact expectations were taken from
// nats-server 2.9.10 (the reference for the server under test).
//
// Cases marked `split` are also sent cut into 1-byte and 7-byte writes, which
// must give the same result (the server's parser sees split buffers).

import assert from 'node:assert/strict';
import test, { describe } from 'node:test';

import { RawClient, exchange, splitFrames } from '../lib/raw.mjs';
import { serverFixture, sleep } from '../lib/server.mjs';

const T = { timeout: 15000 };
// What real clients send: verbose and pedantic explicitly false. A field left
// out of CONNECT keeps the server's default, which is true for both.
const C = 'CONNECT {"verbose":false,"pedantic":false}\r\n';
const CH = 'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n';
const UNKNOWN_OP = "-ERR 'Unknown Protocol Operation'\r\n";
const INVALID_SUBJECT = "-ERR 'Invalid Subject'\r\n";
const AUTH_VIOLATION = "-ERR 'Authorization Violation'\r\n";

const LONG = 'a'.repeat(5000);      // > default max_control_line 4096
const NEAR = 'b'.repeat(4000);      // < 4096 with the rest of the line
const HDR2 = 'NATS/1.0\r\nA: 1\r\nA: 2\r\n\r\n'; // 24 bytes, a repeated key

// ---------------------------------------------------------------------------------
// Cases on a server with default options.

const DEFAULT_CASES = [
    // Framing and verbs.
    { name: 'unknown verb', send: 'FOO bar\r\n', expect: UNKNOWN_OP, close: true },
    { name: 'unknown verb after CONNECT', send: `${C}FOO\r\n`, expect: UNKNOWN_OP, close: true },
    { name: 'PUBX is not PUB', send: `${C}PUBX foo 1\r\nx\r\n`, expect: UNKNOWN_OP, close: true },
    { name: 'SUBSCRIBE is not SUB', send: `${C}SUBSCRIBE foo 1\r\n`, expect: UNKNOWN_OP, close: true },
    {
        name: 'lowercase verbs work',
        send: 'connect {"verbose":false}\r\nsub foo 1\r\npub foo 2\r\nhi\r\nping\r\n',
        expect: 'MSG foo 1 2\r\nhi\r\nPONG\r\n', close: false, split: true,
    },
    {
        name: 'mixed-case verbs work',
        send: 'Connect {"verbose":false}\r\nSub foo 1\r\npUb foo 2\r\nhi\r\nUnSuB 1\r\npUb foo 1\r\nx\r\nPiNg\r\n',
        expect: 'MSG foo 1 2\r\nhi\r\nPONG\r\n', close: false,
    },
    {
        name: 'tabs and runs of spaces separate fields',
        send: `${C}SUB\tts.foo  \t 1  \r\nPUB   ts.foo\t\t2 \r\nhi\r\nPING\r\n`,
        expect: 'MSG ts.foo 1 2\r\nhi\r\nPONG\r\n', close: false, split: true,
    },
    {
        name: 'control lines may end in a bare LF',
        send: `${C}SUB foo 1\nPUB foo 1\nx\r\nPING\n`,
        expect: 'MSG foo 1 1\r\nx\r\nPONG\r\n', close: false,
    },
    {
        name: 'PUB with reply, empty payload, CRLF inside payload',
        send: `${C}SUB foo 1\r\nPUB foo 0\r\n\r\nPUB foo rep 4\r\na\r\nb\r\nPING\r\n`,
        expect: 'MSG foo 1 0\r\n\r\nMSG foo 1 rep 4\r\na\r\nb\r\nPONG\r\n', close: false, split: true,
    },
    {
        name: 'queue subs on one connection: one delivery per group',
        send: `${C}SUB q.x grp 1\r\nSUB q.x grp 2\r\nPUB q.x 1\r\nz\r\nUNSUB 1\r\nUNSUB 2\r\nPING\r\n`,
        expectOneOf: ['MSG q.x 1 1\r\nz\r\nPONG\r\n', 'MSG q.x 2 1\r\nz\r\nPONG\r\n'], close: false,
    },
    {
        name: 'SUB with an sid already in use is ignored',
        send: `${C}SUB foo 1\r\nSUB bar 1\r\nPUB bar 1\r\nx\r\nPUB foo 1\r\ny\r\nPING\r\n`,
        expect: 'MSG foo 1 1\r\ny\r\nPONG\r\n', close: false,
    },
    { name: 'PING -> PONG', send: 'PING\r\n', expect: 'PONG\r\n', close: false },
    { name: 'PING after CONNECT -> PONG', send: `${C}PING\r\n`, expect: 'PONG\r\n', close: false },
    { name: 'PONG and PING arguments are ignored', send: `${C}PONG\r\nPING xyz\r\n`, expect: 'PONG\r\n', close: false },

    // Size errors.
    { name: 'PUB missing size', send: `${C}PUB foo\r\n`, expect: '', close: true },
    { name: 'PUB with no arguments', send: `${C}PUB\r\n`, expect: UNKNOWN_OP, close: true },
    { name: 'PUB negative size', send: `${C}PUB foo -1\r\n`, expect: '', close: true },
    { name: 'PUB non-numeric size', send: `${C}PUB foo abc\r\n`, expect: '', close: true },
    { name: 'PUB size overflowing 64 bits', send: `${C}PUB foo 99999999999999999999\r\n`, expect: '', close: true },
    { name: 'PUB too many arguments', send: `${C}PUB foo 1 2 3\r\n`, expect: '', close: true },
    {
        name: 'payload not followed by CRLF',
        send: `${C}SUB foo 1\r\nPUB foo 2\r\nhiXX\r\n`, expect: UNKNOWN_OP, close: true,
    },
    {
        name: 'payload followed by a bare LF',
        send: `${C}SUB foo 1\r\nPUB foo 2\r\nhi\nPING\r\n`, expect: UNKNOWN_OP, close: true,
    },
    {
        name: 'over-long control line (> 4096 bytes)',
        send: `${C}SUB ${LONG} 1\r\n`, expect: "-ERR 'maximum control line exceeded'\r\n", close: true,
    },
    {
        name: 'over-long control line without a line end yet',
        send: `${C}PUB foo ${LONG}`, expect: "-ERR 'maximum control line exceeded'\r\n", close: true,
    },
    {
        name: 'long control line under the limit is fine',
        send: `${C}SUB ${NEAR} 1\r\nPUB ${NEAR} 1\r\nx\r\nPING\r\n`,
        expect: `MSG ${NEAR} 1 1\r\nx\r\nPONG\r\n`, close: false,
    },
    { name: '-ERR from a client closes silently', send: `${C}-ERR 'boom'\r\nPING\r\n`, expect: '', close: true },
    { name: '+OK from a client is ignored', send: `${C}+OK\r\nPING\r\n`, expect: 'PONG\r\n', close: false },
    { name: 'INFO with JSON from a client is ignored', send: `${C}INFO {}\r\nPING\r\n`, expect: 'PONG\r\n', close: false },
    { name: 'INFO with bad JSON from a client closes', send: `${C}INFO xx\r\nPING\r\n`, expect: '', close: true },
    { name: 'CONNECT without JSON closes silently', send: 'CONNECT\r\nPING\r\n', expect: '', close: true },
    {
        name: 'payload over 1 MiB (size announced)',
        send: `${C}PUB foo 1048577\r\n`, expect: "-ERR 'Maximum Payload Violation'\r\n", close: true,
    },
    {
        name: 'payload of 2 MiB (size announced)',
        send: `${C}PUB foo 2097152\r\n`, expect: "-ERR 'Maximum Payload Violation'\r\n", close: true,
    },
    {
        name: 'HPUB total over 1 MiB',
        send: `${CH}HPUB foo 12 1048577\r\n`, expect: "-ERR 'Maximum Payload Violation'\r\n", close: true,
    },

    // SUB / UNSUB.
    {
        name: 'SUB with invalid subjects -> Invalid Subject, stays open',
        send: `${C}SUB foo..bar 1\r\nSUB foo.>.bar 2\r\nSUB .foo 3\r\nSUB foo. 4\r\nPING\r\n`,
        expect: `${INVALID_SUBJECT}${INVALID_SUBJECT}${INVALID_SUBJECT}${INVALID_SUBJECT}PONG\r\n`,
        close: false,
    },
    {
        name: 'invalid SUB does not subscribe, valid SUB after it works',
        send: `${C}SUB foo..bar 1\r\nSUB foo.bar 2\r\nPUB foo..bar 1\r\nx\r\nPUB foo.bar 1\r\ny\r\nPING\r\n`,
        expect: `${INVALID_SUBJECT}MSG foo.bar 2 1\r\ny\r\nPONG\r\n`, close: false,
    },
    { name: 'SUB with too few arguments', send: `${C}SUB foo\r\n`, expect: '', close: true },
    { name: 'SUB with too many arguments', send: `${C}SUB foo q 1 extra\r\n`, expect: '', close: true },
    { name: 'SUB with no arguments', send: `${C}SUB\r\n`, expect: UNKNOWN_OP, close: true },
    { name: 'UNSUB with an unknown sid is ignored', send: `${C}UNSUB 99\r\nPING\r\n`, expect: 'PONG\r\n', close: false },
    { name: 'UNSUB with no arguments', send: `${C}UNSUB\r\n`, expect: UNKNOWN_OP, close: true },
    {
        name: 'UNSUB with max: server auto-unsubscribes',
        send: `${C}SUB foo 1\r\nUNSUB 1 2\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nPUB foo 1\r\nc\r\nPING\r\n`,
        expect: 'MSG foo 1 1\r\na\r\nMSG foo 1 1\r\nb\r\nPONG\r\n', close: false, split: true,
    },
    {
        name: 'UNSUB stops delivery',
        send: `${C}SUB foo 1\r\nPUB foo 1\r\na\r\nUNSUB 1\r\nPUB foo 1\r\nb\r\nPING\r\n`,
        expect: 'MSG foo 1 1\r\na\r\nPONG\r\n', close: false,
    },

    // Verbose and pedantic.
    {
        name: 'verbose mode: +OK after each op',
        send: 'CONNECT {"verbose":true}\r\nSUB foo 1\r\nPUB foo 1\r\nx\r\nUNSUB 1\r\nUNSUB 99\r\nPING\r\n',
        expect: '+OK\r\n+OK\r\n+OK\r\nMSG foo 1 1\r\nx\r\n+OK\r\n+OK\r\nPONG\r\n', close: false,
    },
    {
        name: 'without CONNECT the connection is verbose',
        send: 'SUB foo 1\r\nPUB foo 1\r\nx\r\nPING\r\n',
        expect: '+OK\r\n+OK\r\nMSG foo 1 1\r\nx\r\nPONG\r\n', close: false,
    },
    {
        name: 'verbose and an invalid subject',
        send: 'CONNECT {"verbose":true}\r\nSUB a..b 1\r\nPING\r\n',
        expect: `+OK\r\n${INVALID_SUBJECT}PONG\r\n`, close: false,
    },
    {
        name: 'pedantic publish to a wildcard subject: -ERR, message still routed',
        send: 'CONNECT {"verbose":false,"pedantic":true}\r\nSUB foo.* 1\r\nPUB foo.* 1\r\nx\r\nPING\r\n',
        expect: "-ERR 'Invalid Publish Subject'\r\nMSG foo.* 1 1\r\nx\r\nPONG\r\n", close: false,
    },
    {
        name: 'pedantic defaults to true when CONNECT leaves it out',
        send: 'CONNECT {"verbose":false}\r\nSUB foo.> 1\r\nPUB foo.> 1\r\nx\r\nPING\r\n',
        expect: "-ERR 'Invalid Publish Subject'\r\nMSG foo.> 1 1\r\nx\r\nPONG\r\n", close: false,
    },
    {
        name: 'pedantic publish to an invalid subject: -ERR, stays open',
        send: 'CONNECT {"verbose":false,"pedantic":true}\r\nPUB foo..bar 1\r\nx\r\nPING\r\n',
        expect: "-ERR 'Invalid Publish Subject'\r\nPONG\r\n", close: false,
    },
    {
        name: 'non-pedantic publish to a wildcard subject is routed silently',
        send: `${C}SUB foo.> 1\r\nPUB foo.> 1\r\nx\r\nPING\r\n`,
        expect: 'MSG foo.> 1 1\r\nx\r\nPONG\r\n', close: false,
    },

    // CONNECT.
    { name: 'CONNECT with bad JSON', send: 'CONNECT {bad json\r\nPING\r\n', expect: '', close: true },
    {
        name: 'CONNECT with protocol 2',
        send: 'CONNECT {"verbose":false,"protocol":2}\r\nPING\r\n',
        expect: "-ERR 'invalid client protocol'\r\n", close: true,
    },
    {
        name: 'CONNECT with protocol 1 is fine',
        send: 'CONNECT {"verbose":false,"protocol":1}\r\nPING\r\n', expect: 'PONG\r\n', close: false,
    },
    {
        name: 'no_responders without headers',
        send: 'CONNECT {"verbose":false,"no_responders":true}\r\nPING\r\n',
        expect: "-ERR 'no responders requires headers support'\r\n", close: true,
    },
    {
        name: 'no_responders with headers:false',
        send: 'CONNECT {"verbose":false,"headers":false,"no_responders":true}\r\nPING\r\n',
        expect: "-ERR 'no responders requires headers support'\r\n", close: true,
    },
    {
        name: 'request without no_responders gets nothing back',
        send: `${CH}SUB _INBOX.x 1\r\nPUB nobody _INBOX.x 2\r\nhi\r\nPING\r\n`,
        expect: 'PONG\r\n', close: false,
    },

    // Headers.
    {
        name: 'HPUB -> HMSG with a repeated header key',
        send: `${CH}SUB foo 1\r\nHPUB foo 24 26\r\n${HDR2}hi\r\nPING\r\n`,
        expect: `HMSG foo 1 24 26\r\n${HDR2}hi\r\nPONG\r\n`, close: false, split: true,
    },
    {
        name: 'HPUB with reply and header-only message',
        send: `${CH}SUB foo 1\r\nHPUB foo rep 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n`,
        expect: 'HMSG foo 1 rep 12 12\r\nNATS/1.0\r\n\r\n\r\nPONG\r\n', close: false,
    },
    { name: 'HPUB with hdr > total', send: `${CH}HPUB foo 20 10\r\n0123456789\r\n`, expect: '', close: true },
    { name: 'HPUB with a non-numeric size', send: `${CH}HPUB foo 24 x\r\n`, expect: '', close: true },
    { name: 'HPUB with one size only', send: `${CH}HPUB foo 12\r\n`, expect: '', close: true },
    {
        name: 'HPUB when headers were not negotiated',
        send: `${C}HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n`, expect: '', close: true,
    },
    {
        name: 'HPUB without CONNECT',
        send: 'HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n', expect: '', close: true,
    },
];

// ---------------------------------------------------------------------------------
// Cases on a server with --user/--pass.

const AUTH_ARGS = ['--user', 'ruser', '--pass', 'rpass'];
const AUTH_CASES = [
    { name: 'auth: PING before CONNECT', send: 'PING\r\n', expect: AUTH_VIOLATION, close: true },
    { name: 'auth: SUB before CONNECT', send: 'SUB foo 1\r\n', expect: AUTH_VIOLATION, close: true },
    { name: 'auth: PUB before CONNECT', send: 'PUB foo 1\r\nx\r\n', expect: AUTH_VIOLATION, close: true },
    {
        name: 'auth: wrong password',
        send: 'CONNECT {"verbose":false,"user":"ruser","pass":"nope"}\r\nPING\r\n',
        expect: AUTH_VIOLATION, close: true,
    },
    { name: 'auth: CONNECT without credentials', send: `${C}PING\r\n`, expect: AUTH_VIOLATION, close: true },
    {
        name: 'auth: right credentials',
        send: 'CONNECT {"verbose":false,"user":"ruser","pass":"rpass"}\r\nSUB a 1\r\nPUB a 1\r\nx\r\nPING\r\n',
        expect: 'MSG a 1 1\r\nx\r\nPONG\r\n', close: false,
    },
    {
        name: 'auth: right credentials, verbose',
        send: 'CONNECT {"verbose":true,"user":"ruser","pass":"rpass"}\r\nPING\r\n',
        expect: '+OK\r\nPONG\r\n', close: false,
    },
];

const TOKEN_ARGS = ['--auth', 'rtok'];
const TOKEN_CASES = [
    {
        name: 'token: right token',
        send: 'CONNECT {"verbose":false,"auth_token":"rtok"}\r\nPING\r\n', expect: 'PONG\r\n', close: false,
    },
    {
        name: 'token: wrong token',
        send: 'CONNECT {"verbose":false,"auth_token":"xtok"}\r\nPING\r\n', expect: AUTH_VIOLATION, close: true,
    },
    { name: 'token: PING before CONNECT', send: 'PING\r\n', expect: AUTH_VIOLATION, close: true },
];

function show(s) {
    return JSON.stringify(s.length > 300 ? `${s.slice(0, 150)}...${s.slice(-150)}` : s);
}

async function runCase(port, c, chunk = 0) {
    const want = c.expect ?? c.expectOneOf[0];
    const r = await exchange(port, c.send, { close: c.close, expectLen: want.length, chunk });
    if (c.expectOneOf) {
        assert.ok(c.expectOneOf.includes(r.out), `got ${show(r.out)}, want one of ${show(c.expectOneOf.join(' | '))}`);
    } else {
        assert.equal(r.out, c.expect, `output: got ${show(r.out)}, want ${show(c.expect)}`);
    }
    assert.equal(r.closed, c.close, c.close ? 'server should close the connection'
        : 'server should keep the connection open');
}

function registerCases(holder, cases) {
    for (const c of cases) {
        test(c.name, T, async () => {
            await runCase(holder.current.port, c);
        });
        if (c.split) {
            for (const chunk of [1, 7]) {
                test(`${c.name} (split into ${chunk}-byte writes)`, T, async () => {
                    await runCase(holder.current.port, c, chunk);
                });
            }
        }
    }
}

// ---------------------------------------------------------------------------------

describe('raw protocol: default server', () => {
    const srv = serverFixture();
    registerCases(srv, DEFAULT_CASES);

    test('INFO fields a client relies on', T, async () => {
        const c = await RawClient.open(srv.current.port);
        try {
            const info = c.info;
            assert.match(c.infoLine, /^INFO \{.*\} ?\r\n$/s, 'INFO line shape');
            assert.equal(typeof info.server_id, 'string');
            assert.equal(info.server_id.length, 56);
            assert.match(info.server_id, /^N[A-Z2-7]{55}$/, 'server_id is a public server nkey');
            const v = /^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/.exec(info.version);
            assert.ok(v, `version ${info.version} is semver`);
            const [maj, min] = [Number(v[1]), Number(v[2])];
            assert.ok(maj > 2 || (maj === 2 && min >= 9), `version ${info.version} >= 2.9.0`);
            assert.equal(info.proto, 1);
            assert.equal(info.headers, true);
            assert.equal(info.max_payload, 1048576);
            assert.equal(typeof info.client_id, 'number');
            assert.ok(Number.isInteger(info.client_id) && info.client_id > 0, 'client_id is a positive integer');
            assert.equal(info.client_ip, '127.0.0.1');
            assert.equal(info.port, srv.current.port);
            assert.equal(typeof info.host, 'string');
            assert.equal(info.auth_required, undefined, 'auth_required omitted when false');
            assert.equal(info.tls_required, undefined, 'tls_required omitted when false');
        } finally {
            c.destroy();
        }
    });

    test('client_id differs per connection; server_id is the same', T, async () => {
        const a = await RawClient.open(srv.current.port);
        const b = await RawClient.open(srv.current.port);
        try {
            assert.notEqual(a.info.client_id, b.info.client_id);
            assert.equal(a.info.server_id, b.info.server_id);
        } finally {
            a.destroy();
            b.destroy();
        }
    });

    test('no responders: 503 status to the requester', T, async () => {
        const c = await RawClient.open(srv.current.port);
        try {
            await c.send('CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\n' +
                'SUB _INBOX.nr 7\r\nPUB nobody.here _INBOX.nr 2\r\nhi\r\nPING\r\n');
            assert.ok(await c.waitForText('PONG\r\n', 3000), `got ${show(c.output())}`);
            const frames = splitFrames(c.buf).map((f) => f.toString('latin1')).filter((f) => f !== 'PING\r\n');
            assert.equal(frames.length, 2, `frames: ${show(frames.join(''))}`);
            const m = /^HMSG _INBOX\.nr 7 (\d+) (\d+)\r\n/.exec(frames[0]);
            assert.ok(m, `HMSG to the reply subject: ${show(frames[0])}`);
            assert.equal(m[1], m[2], 'no body, header only');
            const hdr = frames[0].slice(frames[0].indexOf('\n') + 1, -2);
            assert.equal(hdr.length, Number(m[1]));
            assert.match(hdr, /^NATS\/1\.0 503\r\n/);
            assert.ok(hdr.endsWith('\r\n\r\n'));
            assert.equal(frames[1], 'PONG\r\n');
            assert.equal(c.closed, false);
        } finally {
            c.destroy();
        }
    });

    test('headers are stripped for a subscriber that did not negotiate them', T, async () => {
        const sub = await RawClient.open(srv.current.port);
        const pub = await RawClient.open(srv.current.port);
        try {
            await sub.send(`${C}SUB strip.me 1\r\nPING\r\n`);
            assert.ok(await sub.waitForText('PONG\r\n', 3000));
            sub.buf = Buffer.alloc(0);
            await pub.send(`${CH}HPUB strip.me 24 26\r\n${HDR2}hi\r\nPING\r\n`);
            assert.ok(await pub.waitForText('PONG\r\n', 3000));
            await sub.send('PING\r\n');
            assert.ok(await sub.waitForText('PONG\r\n', 3000));
            assert.equal(sub.output(), 'MSG strip.me 1 2\r\nhi\r\nPONG\r\n');
        } finally {
            sub.destroy();
            pub.destroy();
        }
    });

    test('one bad client does not disturb another', { timeout: 20000 }, async () => {
        const good = await RawClient.open(srv.current.port);
        const pub = await RawClient.open(srv.current.port);
        try {
            await good.send(`${C}SUB calm.> 1\r\nPING\r\n`);
            assert.ok(await good.waitForText('PONG\r\n', 3000));
            await pub.send(`${C}PUB calm.a 5\r\nfirst\r\nPING\r\n`);
            assert.ok(await pub.waitForText('PONG\r\n', 3000));
            // Several misbehaving clients, one after the other and at the same time.
            const bad = [
                'FOO\r\n', `${C}PUB calm.a -1\r\n`, `${C}PUB calm.a 1048577\r\n`,
                `${C}SUB ${LONG} 1\r\n`, 'CONNECT {bad\r\n', `${C}PUB calm.a 2\r\nxyz\r\n`,
                `${C}SUB calm.a\r\n`,
            ];
            await Promise.all(bad.map((b) => exchange(srv.current.port, b, { close: true })));
            // A client that connects and vanishes mid-message.
            const gone = await RawClient.open(srv.current.port);
            await gone.send(`${C}PUB calm.a 100\r\nonly part of it`);
            gone.destroy();
            await sleep(50);
            await pub.send('PUB calm.b 6\r\nsecond\r\nPING\r\n');
            assert.ok(await pub.waitForText('PONG\r\nPONG\r\n', 3000), `publisher: ${show(pub.output())}`);
            await good.send('PING\r\n');
            assert.ok(await good.waitForText('PONG\r\nMSG calm.a 1 5\r\nfirst\r\nMSG calm.b 1 6\r\nsecond\r\nPONG\r\n', 3000),
                `good client got ${show(good.output())}`);
            assert.equal(good.output(), 'PONG\r\nMSG calm.a 1 5\r\nfirst\r\nMSG calm.b 1 6\r\nsecond\r\nPONG\r\n');
            assert.equal(good.closed, false);
            assert.equal(pub.closed, false);
        } finally {
            good.destroy();
            pub.destroy();
        }
    });

    test('a payload arriving byte by byte with pauses is delivered once complete', T, async () => {
        const c = await RawClient.open(srv.current.port);
        try {
            await c.send(`${C}SUB slow 1\r\nPUB slow 10\r\n01234`);
            await sleep(100);
            assert.equal(c.output(), '', 'nothing delivered before the payload is complete');
            await c.send('56789\r\nPING\r\n', { chunk: 1, pauseMs: 5 });
            assert.ok(await c.waitForText('PONG\r\n', 3000));
            assert.equal(c.output(), 'MSG slow 1 10\r\n0123456789\r\nPONG\r\n');
        } finally {
            c.destroy();
        }
    });
});

describe('raw protocol: user/password server', () => {
    const srv = serverFixture(AUTH_ARGS);
    registerCases(srv, AUTH_CASES);

    test('INFO says auth_required', T, async () => {
        const c = await RawClient.open(srv.current.port);
        try {
            assert.equal(c.info.auth_required, true);
        } finally {
            c.destroy();
        }
    });

    test('auth timeout: silent client gets Authentication Timeout after ~2 s, then close', T, async () => {
        const t0 = Date.now();
        const c = await RawClient.open(srv.current.port);
        try {
            const closed = await c.waitClose(6000);
            const dt = Date.now() - t0;
            assert.ok(closed, 'server closes the silent connection');
            assert.equal(c.output(), "-ERR 'Authentication Timeout'\r\n");
            assert.ok(dt >= 1500 && dt <= 4000, `closed after ${dt} ms, want about 2000`);
        } finally {
            c.destroy();
        }
    });

    test('auth timeout does not hit a client that authenticated', T, async () => {
        const c = await RawClient.open(srv.current.port);
        try {
            await c.send('CONNECT {"verbose":false,"user":"ruser","pass":"rpass"}\r\nPING\r\n');
            assert.ok(await c.waitForText('PONG\r\n', 3000));
            await sleep(2800);
            await c.send('PING\r\n');
            assert.ok(await c.waitForText('PONG\r\nPONG\r\n', 3000), `got ${show(c.output())}`);
            assert.equal(c.closed, false);
        } finally {
            c.destroy();
        }
    });
});

describe('raw protocol: token server', () => {
    const srv = serverFixture(TOKEN_ARGS);
    registerCases(srv, TOKEN_CASES);
});
