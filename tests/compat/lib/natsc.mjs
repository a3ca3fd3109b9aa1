// SPDX-License-Identifier: Apache-2.0
//
// Shared helper for the drivers of the nats.c compat programs (tests/compat/natsc/*.c):
// run a program bounded in time (killed by PID when it overruns) and turn its
// "ok - name" / "FAIL - name: why" lines into node:test subtests.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

/** Run bin with args; resolves to { code, signal, stdout, stderr }. */
export function runNatscProgram(bin, args, timeoutMs) {
    return new Promise((resolve, reject) => {
        const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
        }, timeoutMs);
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
 * Report each check line of a finished run as a subtest of t, then assert the run as a
 * whole passed: not killed, a "N passed, 0 failed" summary, exit code 0.
 */
export async function reportNatscChecks(t, name, r) {
    for (const line of r.stdout.split('\n')) {
        const m = /^(ok|FAIL) - ([a-z_]+)(?:: (.*))?$/.exec(line);
        if (m) {
            await t.test(m[2], () => {
                assert.equal(m[1], 'ok', m[3]);
            });
        }
    }
    const all = `${r.stdout}\n${r.stderr}`;
    assert.equal(r.signal, null, `${name} killed by ${r.signal}\n${all}`);
    assert.match(r.stdout, /^\d+ passed, 0 failed$/m, `summary missing or failures:\n${all}`);
    assert.equal(r.code, 0, `${name} exit code ${r.code}\n${all}`);
}
