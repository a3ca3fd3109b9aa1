// SPDX-License-Identifier: Apache-2.0
//
// Runs the nats.c cluster program (tests/compat/natsc/compat_natsc_cluster.c, built by
// meson) against a 3-server cluster of the server under test and reports each of its
// checks as a subtest. The program asks for servers to be stopped and restarted with
// "CTL STOP i" / "CTL START i" lines on its stdout; this file does it (by PID, through
// lib/cluster.mjs), waits for the full mesh after a restart, and answers "OK" (or
// "ERR why") on the program's stdin.
// Binary: env NATSC_CLUSTER_BIN, default <root>/build/tests/compat/compat_natsc_cluster.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test, { describe } from 'node:test';

import { clusterFixture } from '../lib/cluster.mjs';
import { ROOT } from '../lib/server.mjs';

const BIN = process.env.NATSC_CLUSTER_BIN ||
    path.join(ROOT, 'build', 'tests', 'compat', 'compat_natsc_cluster');
const RUN_TIMEOUT_MS = 110000;

/** Run the program, bounded, serving its CTL requests; kill it by PID when it overruns. */
function runProgram(cluster) {
    const args = cluster.members.map((m) => m.url);
    return new Promise((resolve, reject) => {
        const child = spawn(BIN, args, { stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        let pending = '';
        let ctl = Promise.resolve();
        child.stdout.on('data', (d) => {
            stdout += d;
            pending += d;
            let nl;
            while ((nl = pending.indexOf('\n')) >= 0) {
                const line = pending.slice(0, nl);
                pending = pending.slice(nl + 1);
                const m = /^CTL (STOP|START) (\d+)$/.exec(line);
                if (m) {
                    // One request at a time, in order.
                    ctl = ctl.then(() => serve(cluster, m[1], Number(m[2])))
                        .then((answer) => {
                            if (!child.stdin.destroyed) {
                                child.stdin.write(`${answer}\n`);
                            }
                        });
                }
            }
        });
        child.stderr.on('data', (d) => {
            stderr += d;
        });
        child.stdin.on('error', () => {
            // The program exited before reading the answer; its exit is reported below.
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

async function serve(cluster, verb, i) {
    try {
        if (!cluster.members[i]) {
            return `ERR no server ${i}`;
        }
        if (verb === 'STOP') {
            await cluster.stop(i);
        } else {
            await cluster.start(i);
            await cluster.waitMesh();
        }
        return 'OK';
    } catch (e) {
        return `ERR ${e.message.split('\n')[0]}`;
    }
}

describe('nats.c (libnats) client against a 3-server cluster', () => {
    if (!fs.existsSync(BIN)) {
        test('compat_natsc_cluster binary is built', () => {
            assert.fail(`${BIN} not found: build it with meson (tests/compat/meson.build, needs ` +
                'libnats-dev) or set NATSC_CLUSTER_BIN');
        });
        return;
    }
    const cl = clusterFixture(3);

    test('compat_natsc_cluster checks', { timeout: RUN_TIMEOUT_MS + 10000 }, async (t) => {
        const r = await runProgram(cl.current);
        for (const line of r.stdout.split('\n')) {
            const m = /^(ok|FAIL) - ([a-z_]+)(?:: (.*))?$/.exec(line);
            if (!m) {
                continue;
            }
            await t.test(m[2], () => {
                assert.equal(m[1], 'ok', m[3]);
            });
        }
        assert.equal(r.signal, null, `compat_natsc_cluster killed by ${r.signal}\n${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /^\d+ passed, 0 failed$/m, `summary missing or failures:\n${r.stdout}\n${r.stderr}`);
        assert.equal(r.code, 0, `exit code ${r.code}\n${r.stdout}\n${r.stderr}`);
    });
});
