// SPDX-License-Identifier: Apache-2.0
//
// Runs the nats.c compatibility program (tests/compat/natsc/compat_natsc.c,
// built by meson) against a fresh server and reports each of its checks as a
// subtest. Binary: env NATSC_COMPAT_BIN, default <root>/build/tests/compat/compat_natsc.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test, { describe } from 'node:test';

import { ROOT, serverFixture } from '../lib/server.mjs';

const BIN = process.env.NATSC_COMPAT_BIN || path.join(ROOT, 'build', 'tests', 'compat', 'compat_natsc');
const RUN_TIMEOUT_MS = 150000;

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

describe('nats.c (libnats) client', () => {
    if (!fs.existsSync(BIN)) {
        test('compat_natsc binary is built', () => {
            assert.fail(`${BIN} not found: build it with meson (tests/compat/meson.build, needs ` +
                'libnats-dev) or set NATSC_COMPAT_BIN');
        });
        return;
    }
    const srv = serverFixture();

    test('compat_natsc checks', { timeout: RUN_TIMEOUT_MS + 10000 }, async (t) => {
        const r = await runProgram([srv.current.url]);
        const lines = r.stdout.split('\n').filter((l) => l.length > 0);
        for (const line of lines) {
            const m = /^(ok|FAIL) - ([a-z_]+)(?:: (.*))?$/.exec(line);
            if (!m) {
                continue;
            }
            await t.test(m[2], () => {
                assert.equal(m[1], 'ok', m[3]);
            });
        }
        assert.equal(r.signal, null, `compat_natsc killed by ${r.signal}\n${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /^\d+ passed, 0 failed$/m, `summary missing or failures:\n${r.stdout}\n${r.stderr}`);
        assert.equal(r.code, 0, `exit code ${r.code}\n${r.stdout}\n${r.stderr}`);
    });
});
