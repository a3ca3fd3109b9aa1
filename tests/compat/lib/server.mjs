// SPDX-License-Identifier: Apache-2.0
//
// Shared helper for the compat tests: start a NATS-compatible server binary on
// 127.0.0.1 and a free port, wait (bounded) until it accepts connections, and
// kill it by PID when the test is done, also when the test failed or the test
// process exits early.
//
// Environment:
//   MERIDIAN_SERVER      server binary under test
//                        (default <root>/build/tools/meridian-server);
//                        /usr/bin/nats-server runs the same tests against nats-server.
//   COMPAT_PORT_BASE     first port tests may use (default 16000)
//   COMPAT_PORT_COUNT    how many ports from the base (default 200, so 16000-16199)
//   COMPAT_SERVER_DEBUG  when set, the server's output is copied to stderr
//
// Ports: a port is reserved through a lock file in $TMPDIR/meridian-compat-ports
// (created with O_EXCL, holding the owner's PID; stale locks of dead owners are
// taken over), then probed by binding it. So concurrent test files and
// concurrent runs on one machine do not hand out the same port.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const HOST = '127.0.0.1';

export const PORT_BASE = intEnv('COMPAT_PORT_BASE', 16000);
export const PORT_COUNT = intEnv('COMPAT_PORT_COUNT', 200);

const START_WAIT_MS = 5000;     // the server must accept connections within this
const STOP_WAIT_MS = 3000;      // after SIGTERM, wait this long before SIGKILL
const OUTPUT_KEEP_BYTES = 64 * 1024;
const LOCK_DIR = path.join(os.tmpdir(), 'meridian-compat-ports');

function intEnv(name, dflt) {
    const v = process.env[name];
    if (v === undefined || v === '') {
        return dflt;
    }
    const n = Number.parseInt(v, 10);
    if (!Number.isInteger(n) || n <= 0 || n > 65535) {
        throw new Error(`${name}=${v} is not a valid port number/count`);
    }
    return n;
}

/**
 * Path of the server binary under test. Debian installs nats-server in /usr/sbin;
 * a MERIDIAN_SERVER naming a missing .../nats-server is looked up in PATH and
 * /usr/sbin instead, so MERIDIAN_SERVER=/usr/bin/nats-server works too.
 */
export function serverBin() {
    const bin = process.env.MERIDIAN_SERVER || path.join(ROOT, 'build', 'tools', 'meridian-server');
    if (fs.existsSync(bin) || path.basename(bin) !== 'nats-server') {
        return bin;
    }
    const dirs = (process.env.PATH || '').split(path.delimiter).concat(['/usr/sbin', '/usr/local/sbin']);
    for (const d of dirs) {
        const cand = path.join(d || '.', 'nats-server');
        if (fs.existsSync(cand)) {
            return cand;
        }
    }
    return bin;
}

/** True when the binary under test is the reference nats-server. */
export function isNatsServer(bin = serverBin()) {
    return path.basename(bin).startsWith('nats-server');
}

/** Skip reason for tests that need a config file (-c): only nats-server has it so far. */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reject after `ms` with a message naming what we waited for. */
export function withTimeout(promise, ms, what) {
    let timer;
    const t = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    });
    return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------
// Port reservation

const heldLocks = new Set();

function pidAlive(pid) {
    if (!Number.isInteger(pid) || pid <= 0) {
        return false;
    }
    try {
        process.kill(pid, 0);
        return true;
    } catch (e) {
        return e.code === 'EPERM';
    }
}

function tryLock(port) {
    const file = path.join(LOCK_DIR, String(port));
    for (let attempt = 0; attempt < 2; attempt++) {
        try {
            const fd = fs.openSync(file, 'wx');
            fs.writeSync(fd, String(process.pid));
            fs.closeSync(fd);
            heldLocks.add(file);
            return file;
        } catch (e) {
            if (e.code !== 'EEXIST') {
                throw e;
            }
            let owner = NaN;
            try {
                owner = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
            } catch {
                // The owner released it in between: try again.
            }
            if (owner === process.pid || pidAlive(owner)) {
                return null;
            }
            try {
                fs.unlinkSync(file); // stale lock of a dead process
            } catch {
                // Someone else took it over first; the retry decides.
            }
        }
    }
    return null;
}

function unlock(file) {
    if (file && heldLocks.delete(file)) {
        try {
            fs.unlinkSync(file);
        } catch {
            // Already gone.
        }
    }
}

function probeBind(port) {
    return new Promise((resolve) => {
        const srv = net.createServer();
        srv.once('error', () => resolve(false));
        srv.listen({ host: HOST, port, exclusive: true }, () => srv.close(() => resolve(true)));
    });
}

/**
 * Reserve a free port in [PORT_BASE, PORT_BASE + PORT_COUNT). Returns
 * { port, release() }. Throws when none is free.
 */
export async function reservePort() {
    fs.mkdirSync(LOCK_DIR, { recursive: true });
    const start = Math.floor(Math.random() * PORT_COUNT);
    for (let i = 0; i < PORT_COUNT; i++) {
        const port = PORT_BASE + ((start + i) % PORT_COUNT);
        const lock = tryLock(port);
        if (!lock) {
            continue;
        }
        if (await probeBind(port)) {
            return { port, release: () => unlock(lock) };
        }
        unlock(lock);
    }
    throw new Error(`no free port in ${PORT_BASE}-${PORT_BASE + PORT_COUNT - 1}`);
}

// ---------------------------------------------------------------------------------
// Server processes

const liveServers = new Set();

function killAllSync() {
    for (const s of liveServers) {
        try {
            process.kill(s.pid, 'SIGKILL');
        } catch {
            // Already gone.
        }
    }
    for (const file of [...heldLocks]) {
        unlock(file);
    }
}
process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
        killAllSync();
        process.exit(128 + (os.constants.signals[sig] || 1));
    });
}

function canConnect(port) {
    return new Promise((resolve) => {
        const s = net.connect({ host: HOST, port });
        const done = (ok) => {
            s.destroy();
            resolve(ok);
        };
        s.setTimeout(500, () => done(false));
        s.once('connect', () => done(true));
        s.once('error', () => done(false));
    });
}

class ServerProcess {
    constructor(child, port, args, release, tmpdir) {
        this.child = child;
        this.pid = child.pid;
        this.port = port;
        this.args = args;
        this.url = `nats://${HOST}:${port}`;
        this.hostport = `${HOST}:${port}`;
        this.exited = null; // { code, signal } once the process is gone
        this.output = '';
        this.release = release;
        this.tmpdir = tmpdir;
        this.exitPromise = new Promise((resolve) => {
            child.once('exit', (code, signal) => {
                this.exited = { code, signal };
                liveServers.delete(this);
                resolve(this.exited);
            });
        });
        const keep = (chunk) => {
            if (process.env.COMPAT_SERVER_DEBUG) {
                process.stderr.write(chunk);
            }
            this.output += chunk.toString('utf8');
            if (this.output.length > OUTPUT_KEEP_BYTES) {
                this.output = this.output.slice(-OUTPUT_KEEP_BYTES);
            }
        };
        child.stdout.on('data', keep);
        child.stderr.on('data', keep);
    }

    /** Stop the server by its PID: SIGTERM, then SIGKILL after a bounded wait. */
    async stop() {
        if (!this.exited) {
            try {
                process.kill(this.pid, 'SIGTERM');
            } catch {
                // Already gone.
            }
            const r = await Promise.race([this.exitPromise, sleep(STOP_WAIT_MS)]);
            if (!r) {
                try {
                    process.kill(this.pid, 'SIGKILL');
                } catch {
                    // Already gone.
                }
                await Promise.race([this.exitPromise, sleep(STOP_WAIT_MS)]);
            }
        }
        liveServers.delete(this);
        this.release();
        if (this.tmpdir) {
            fs.rmSync(this.tmpdir, { recursive: true, force: true });
            this.tmpdir = null;
        }
        // A sanitizer build reports leaks and undefined behaviour on its way out: that
        // is a failure of the test that ran the server, not noise.
        const report = /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/.exec(this.output);
        if (report && !this.reported) {
            this.reported = true;
            const from = this.output.lastIndexOf('\n', report.index);
            throw new Error(`${this.bin} (pid ${this.pid}) reported a sanitizer error:\n` +
                this.output.slice(from + 1, from + 1 + 4000));
        }
    }

    /** Last lines of the server's output, for failure messages. */
    tail(lines = 30) {
        return this.output.split('\n').slice(-lines).join('\n');
    }
}

async function startOnce(bin, extraArgs, config, reserved) {
    // A caller that reserved the client port itself (lib/cluster.mjs: a restarted
    // cluster member keeps its port) keeps the lock: stop() does not release it.
    const { port, release } = reserved ? { port: reserved, release: () => {} } : await reservePort();
    let tmpdir = null;
    const args = ['-a', HOST, '-p', String(port)];
    if (config !== undefined) {
        tmpdir = fs.mkdtempSync(path.join(os.tmpdir(), 'meridian-compat-'));
        const conf = path.join(tmpdir, 'server.conf');
        fs.writeFileSync(conf, config);
        args.push('-c', conf);
    }
    args.push(...extraArgs);
    let child;
    try {
        child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
        release();
        throw e;
    }
    const spawnError = new Promise((resolve) => child.once('error', resolve));
    if (child.pid === undefined) {
        release();
        const e = await spawnError;
        throw new Error(`cannot start ${bin}: ${e.message}`);
    }
    const srv = new ServerProcess(child, port, args, release, tmpdir);
    liveServers.add(srv);
    const deadline = Date.now() + START_WAIT_MS;
    while (Date.now() < deadline) {
        if (srv.exited) {
            break;
        }
        if (await canConnect(port)) {
            // The port accepts: make sure it is our process that owns it.
            await sleep(20);
            if (!srv.exited) {
                return srv;
            }
            break;
        }
        await sleep(25);
    }
    const why = srv.exited
        ? `exited (code ${srv.exited.code}, signal ${srv.exited.signal})`
        : `did not accept connections within ${START_WAIT_MS} ms`;
    await srv.stop();
    const err = new Error(`${bin} ${args.join(' ')} ${why}\n${srv.tail()}`);
    err.retryable = !!srv.exited;
    throw err;
}

/**
 * Start the server under test with extra flags (e.g. ['--user', 'a', '--pass', 'b']).
 * opts.config: text of a config file passed with -c. opts.bin overrides the binary.
 * opts.port: a client port the caller has reserved (reservePort) and keeps; without
 * it a port is reserved here and released by stop().
 * Resolves to a ServerProcess with .port, .url, .hostport, .pid and stop().
 */
export async function startServer(extraArgs = [], opts = {}) {
    const bin = opts.bin || serverBin();
    if (!fs.existsSync(bin)) {
        throw new Error(`server binary ${bin} not found (build it, or set MERIDIAN_SERVER)`);
    }
    let lastErr;
    for (let attempt = 0; attempt < 3; attempt++) {
        try {
            return await startOnce(bin, extraArgs, opts.config, opts.port);
        } catch (e) {
            lastErr = e;
            if (!e.retryable) {
                throw e;
            }
        }
    }
    throw lastErr;
}

/**
 * Register a server for the enclosing node:test suite (call it inside describe()):
 * starts it in before(), stops it in after(), also when tests failed. Returns a
 * holder: `srv.current` is the ServerProcess.
 */
export function serverFixture(extraArgs = [], opts = {}) {
    const holder = { current: null };
    before(async () => {
        holder.current = await startServer(extraArgs, opts);
    }, { timeout: START_WAIT_MS * 4 });
    after(async () => {
        if (holder.current) {
            await holder.current.stop();
        }
    }, { timeout: STOP_WAIT_MS * 3 });
    return holder;
}
