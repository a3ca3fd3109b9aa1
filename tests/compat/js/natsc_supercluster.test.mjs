// SPDX-License-Identifier: Apache-2.0
//
// Runs the nats.c supercluster program (tests/compat/natsc/compat_natsc_supercluster.c,
// built by meson) against a supercluster of the server under test (lib/supercluster.mjs):
// cluster A (a1, a2), B (b1) and C (c1), joined by gateways. The supercluster is fully
// connected (every gateway and route up) before the program starts; the program gets the
// client URLs of a1, a2, b1, c1 and then their monitoring URLs, and each of its checks is
// reported as a subtest. The program's own "# " lines are passed on as diagnostics.
// Binary: env NATSC_SUPERCLUSTER_BIN, default
// <root>/build/tests/compat/compat_natsc_supercluster.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test, { describe } from 'node:test';

import { HOST, ROOT } from '../lib/server.mjs';
import { superClusterFixture } from '../lib/supercluster.mjs';

const BIN = process.env.NATSC_SUPERCLUSTER_BIN ||
    path.join(ROOT, 'build', 'tests', 'compat', 'compat_natsc_supercluster');
// The program ends itself after 60 s (alarm); this is the outer bound.
const RUN_TIMEOUT_MS = 70000;
const SPECS = [{ name: 'A', size: 2 }, { name: 'B', size: 1 }, { name: 'C', size: 1 }];
const ORDER = ['a1', 'a2', 'b1', 'c1'];

/** The program's --list output, bounded. */
function listChecks() {
    return new Promise((resolve, reject) => {
        const child = spawn(BIN, ['--list'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d) => {
            out += d;
        });
        const timer = setTimeout(() => {
            try {
                process.kill(child.pid, 'SIGKILL');
            } catch {
                // Already gone.
            }
        }, 5000);
        child.once('error', (e) => {
            clearTimeout(timer);
            reject(e);
        });
        child.once('exit', (code) => {
            clearTimeout(timer);
            resolve({ code, names: out.split('\n').filter((l) => l !== '') });
        });
    });
}

/** Run the program, bounded; kill it by PID when it overruns. */
function runProgram(sc) {
    const members = ORDER.map((n) => sc.server(n));
    const args = [...members.map((m) => m.url),
        ...members.map((m) => `http://${HOST}:${m.httpPort}`)];
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

describe('nats.c (libnats) client against a supercluster: A (2 servers), B (1), C (1)', () => {
    if (!fs.existsSync(BIN)) {
        test('compat_natsc_supercluster binary is built', () => {
            assert.fail(`${BIN} not found: build it with meson (tests/compat/meson.build, needs ` +
                'libnats-dev) or set NATSC_SUPERCLUSTER_BIN');
        });
        return;
    }
    const hold = superClusterFixture(SPECS);

    test('compat_natsc_supercluster checks', { timeout: RUN_TIMEOUT_MS + 10000 }, async (t) => {
        const list = await listChecks();
        assert.equal(list.code, 0, `${BIN} --list exited with ${list.code}`);
        const r = await runProgram(hold.current);
        const reported = [];
        for (const line of r.stdout.split('\n')) {
            if (line.startsWith('# ')) {
                t.diagnostic(line.slice(2));
                continue;
            }
            const m = /^(ok|FAIL) - ([a-z_]+)(?:: (.*))?$/.exec(line);
            if (!m) {
                continue;
            }
            reported.push(m[2]);
            await t.test(m[2], () => {
                assert.equal(m[1], 'ok', m[3]);
            });
        }
        // A server that died during the run explains failures better than the checks do.
        hold.current.checkAlive();
        assert.equal(r.signal, null,
            `compat_natsc_supercluster killed by ${r.signal}\n${r.stdout}\n${r.stderr}`);
        assert.deepEqual(reported, list.names,
            `checks reported by the run vs --list\n${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /^\d+ passed, 0 failed$/m,
            `summary missing or failures:\n${r.stdout}\n${r.stderr}`);
        assert.equal(r.code, 0, `exit code ${r.code}\n${r.stdout}\n${r.stderr}`);
    });
});
