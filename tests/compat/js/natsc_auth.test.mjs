// SPDX-License-Identifier: Apache-2.0
//
// Runs the nats.c authentication/accounts/TLS program
// (tests/compat/natsc/compat_natsc_auth.c, built by meson) against servers started from
// configuration files (-c) and reports each of its checks as a subtest:
//   auth       users (plain and bcrypt), publish/subscribe permissions, accounts with
//              a stream import (prefix) and a service import
//   token      an authorization token
//   tls        tls { cert_file, key_file }
//   tlsverify  tls { cert_file, key_file, ca_file, verify: true }
// The configurations are those of config_auth.test.mjs and tls.test.mjs (there the
// TLS options are flags; here they are the config file's tls block). Certificates are
// made at test time (lib/certs.mjs). Binary: env NATSC_AUTH_BIN, default
// <root>/build/tests/compat/compat_natsc_auth.
//
// Every test passes against nats-server 2.9.10:
//   MERIDIAN_SERVER=/usr/sbin/nats-server node tests/compat/run.mjs \
//       tests/compat/js/natsc_auth.test.mjs

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test, { after, describe } from 'node:test';

import { makeCerts } from '../lib/certs.mjs';
import { ROOT, serverFixture } from '../lib/server.mjs';

const BIN = process.env.NATSC_AUTH_BIN ||
    path.join(ROOT, 'build', 'tests', 'compat', 'compat_natsc_auth');
const RUN_TIMEOUT_MS = 60000;

// bcrypt of "b0b-pw" (cost 10), as in config_auth.test.mjs; the program logs in as
// bob with "b0b-pw".
const BOB_HASH = '$2a$10$jEd1dHwbSDAG5ICdCwVyRuj1NXgA8wqXc58m1mOg9Nku3daXtdfyi';

const AUTH_CONF = `
authorization {
  users: [
    { user: alice, password: s3cret }
    { user: bob, password: "${BOB_HASH}" }
    { user: admin, password: admin }
    { user: pd, password: pd, permissions: { publish: { deny: ["secret.>"] } } }
    { user: sd, password: sd, permissions: { subscribe: { allow: [">"], deny: ["private.>"] } } }
  ]
}
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

const TOKEN_CONF = 'authorization { token: "tok-3f9a" }\n';

/** A tls {} block for the certificates; with verify, clients need a certificate from the CA. */
function tlsConf(certs, verify) {
    let conf = `tls {\n  cert_file: "${certs.serverCert}"\n  key_file: "${certs.serverKey}"\n`;
    if (verify) {
        conf += `  ca_file: "${certs.ca}"\n  verify: true\n`;
    }
    return `${conf}}\n`;
}

/** Run the program, bounded; kill it by PID when it overruns. */
function runProgram(args) {
    return new Promise((resolve, reject) => {
        const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => {
            stdout += d;
        });
        child.stderr.on('data', (d) => {
            stderr += d;
        });
        const timer = setTimeout(() => {
            try {
                process.kill(child.pid, 'SIGKILL');
            } catch {
                // Already gone.
            }
        }, RUN_TIMEOUT_MS);
        child.once('error', (e) => {
            clearTimeout(timer);
            reject(e);
        });
        child.once('exit', (code, signal) => {
            clearTimeout(timer);
            resolve({ code, signal, stdout, stderr });
        });
    });
}

/**
 * One test that runs the program in `mode` against the fixture's server and reports
 * each check as a subtest. extraArgs(): the files the mode needs after the URL.
 */
function programTest(mode, srv, extraArgs = () => []) {
    test(`compat_natsc_auth ${mode} checks`, { timeout: RUN_TIMEOUT_MS + 10000 }, async (t) => {
        const r = await runProgram([mode, srv.current.url, ...extraArgs()]);
        const diag = r.stdout.split('\n').filter((l) => l.startsWith('# '));
        for (const d of diag) {
            t.diagnostic(d.slice(2));
        }
        for (const line of r.stdout.split('\n')) {
            const m = /^(ok|FAIL) - ([a-z_]+)(?:: (.*))?$/.exec(line);
            if (!m) {
                continue;
            }
            await t.test(m[2], () => {
                assert.equal(m[1], 'ok', m[3]);
            });
        }
        const detail = `\n${r.stdout}\n${r.stderr}\nserver output:\n${srv.current.tail()}`;
        assert.equal(r.signal, null, `compat_natsc_auth killed by ${r.signal}${detail}`);
        assert.match(r.stdout, /^[1-9]\d* passed, 0 failed$/m,
            `summary missing or failures:${detail}`);
        assert.equal(r.code, 0, `exit code ${r.code}${detail}`);
    });
}

describe('nats.c (libnats): auth, permissions and accounts from a config file', () => {
    if (!fs.existsSync(BIN)) {
        test('compat_natsc_auth binary is built', () => {
            assert.fail(`${BIN} not found: build it with meson (tests/compat/meson.build, needs ` +
                'libnats-dev) or set NATSC_AUTH_BIN');
        });
        return;
    }

    describe('users, bcrypt, permissions, accounts', () => {
        const srv = serverFixture([], { config: AUTH_CONF });
        programTest('auth', srv);
    });

    describe('token', () => {
        const srv = serverFixture([], { config: TOKEN_CONF });
        programTest('token', srv);
    });

    describe('TLS (tls { cert_file key_file })', () => {
        const certs = makeCerts();
        after(() => certs.remove());
        const srv = serverFixture([], { config: tlsConf(certs, false) });
        programTest('tls', srv, () => [certs.ca]);
    });

    describe('TLS with client verification (tls { ca_file verify: true })', () => {
        const certs = makeCerts();
        after(() => certs.remove());
        const srv = serverFixture([], { config: tlsConf(certs, true) });
        programTest('tlsverify', srv,
            () => [certs.ca, certs.clientCert, certs.clientKey, certs.rogueCert, certs.rogueKey]);
    });
});
