// SPDX-License-Identifier: Apache-2.0
//
// Entry point of the compat suites (used by meson and scripts/compat.sh):
//   node tests/compat/run.mjs [node --test options] [test files]
// With no files it runs every tests/compat/js/*.test.mjs. It checks that the
// npm dependencies are installed first (scripts/setup.sh runs `npm ci`), then
// runs `node --test` in its own process group and kills that group if the
// whole run overruns COMPAT_TOTAL_TIMEOUT_S (default 280 s), so nothing can
// hang and no server outlives the run.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');

function fail(msg) {
    process.stderr.write(`compat: ${msg}\n`);
    // A plain closing line for runners that read it.
    process.stdout.write('0 passed, 1 failed\n');
    process.exit(1);
}

function checkNodeModules() {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    for (const [name, want] of Object.entries(pkg.dependencies || {})) {
        const file = path.join(ROOT, 'node_modules', name, 'package.json');
        if (!fs.existsSync(file)) {
            fail(`npm package '${name}' is not installed (${path.join(ROOT, 'node_modules')} missing ` +
                'or incomplete): run scripts/setup.sh (it runs `npm ci`) from the project root');
        }
        const have = JSON.parse(fs.readFileSync(file, 'utf8')).version;
        if (have !== want) {
            fail(`npm package '${name}' is ${have}, package.json pins ${want}: run scripts/setup.sh`);
        }
    }
}

function main() {
    checkNodeModules();
    const opts = [];
    const files = [];
    for (const a of process.argv.slice(2)) {
        (a.startsWith('-') ? opts : files).push(a);
    }
    if (files.length === 0) {
        const dir = path.join(HERE, 'js');
        for (const f of fs.readdirSync(dir).sort()) {
            if (f.endsWith('.test.mjs')) {
                files.push(path.join(dir, f));
            }
        }
    }
    const totalS = Number.parseInt(process.env.COMPAT_TOTAL_TIMEOUT_S || '280', 10);
    const args = ['--test', '--test-force-exit', '--test-timeout=180000', ...opts, ...files];
    const child = spawn(process.execPath, args, { stdio: 'inherit', detached: true, cwd: ROOT });
    let killed = false;
    const killGroup = (sig) => {
        try {
            process.kill(-child.pid, sig); // the process group of the run we started
        } catch {
            // Already gone.
        }
    };
    const timer = setTimeout(() => {
        killed = true;
        process.stderr.write(`compat: run exceeded ${totalS} s, killing it\n`);
        killGroup('SIGTERM');
        setTimeout(() => killGroup('SIGKILL'), 3000).unref();
    }, totalS * 1000);
    for (const sig of ['SIGINT', 'SIGTERM']) {
        process.on(sig, () => {
            killGroup('SIGTERM');
            setTimeout(() => {
                killGroup('SIGKILL');
                process.exit(1);
            }, 2000).unref();
        });
    }
    child.on('exit', (code, signal) => {
        clearTimeout(timer);
        // Reap anything left in the group (servers of a file process that died).
        killGroup('SIGKILL');
        if (killed || signal) {
            process.exit(1);
        }
        process.exit(code ?? 1);
    });
}

main();
