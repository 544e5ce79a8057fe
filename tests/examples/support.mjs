// Shared by the example tests: start an example server, launch Chromium, wait on conditions.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const buildDir = path.resolve(root, process.env.RTMSG_BUILD_DIR ?? 'build/dev');
export const screenshots = path.join(root, 'docs/screenshots');
const chromiumBin = process.env.RTMSG_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// Nothing this process started outlives it.
const children = new Set();
const profiles = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  for (const p of profiles) fs.rmSync(p, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130));

/** Polls `cond` until it returns a truthy value; fails after `ms` with `what`. */
export async function waitFor(cond, what, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Starts an example binary (relative to the build dir) on a free port; resolves with
    {proc, url, stop()} once it printed "open http://...". */
export async function startExample(relative, args = []) {
  const bin = path.join(buildDir, relative);
  if (!fs.existsSync(bin)) throw new Error(`${bin} not found: build it first`);
  const proc = spawn(bin, ['--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => (err += d));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${relative} did not start within 10 s: ${err}`)), 10000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /open (https?:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on('exit', (code) => reject(new Error(`${relative} exited with ${code}: ${err}`)));
  });
  proc.removeAllListeners('exit');
  /** Ctrl-C; resolves with the exit code (fails if it does not exit within 5 s). */
  const stop = async () => {
    if (proc.exitCode !== null) return proc.exitCode;
    const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal)));
    proc.kill('SIGINT');
    const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error(`${relative} ignored SIGINT`)), 5000));
    const code = await Promise.race([exited, timeout]);
    children.delete(proc);
    return code;
  };
  return { proc, url, stop, stdout: () => out, stderr: () => err };
}

/** A free TCP port on 127.0.0.1 (free when asked: a caller that loses a race retries). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A throwaway redis-server (Debian's redis-server) on a free loopback port, without
    persistence; resolves with {port, address: '127.0.0.1:PORT', stop()} once it accepts
    connections. */
export async function startRedis() {
  const bin = process.env.RTMSG_REDIS_SERVER ?? 'redis-server';
  let lastError = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const proc = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(proc);
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (out += d));
    const ready = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve(false), 10000);
      proc.once('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`cannot run ${bin} (apt-get install redis-server): ${e.message}`));
      });
      proc.once('exit', () => {
        clearTimeout(timer);
        resolve(false);
      });
      proc.stdout.on('data', () => {
        if (/Ready to accept connections/.test(out)) {
          clearTimeout(timer);
          resolve(true);
        }
      });
    });
    if (ready) {
      proc.removeAllListeners('exit');
      const stop = async () => {
        if (proc.exitCode !== null) return proc.exitCode;
        const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal)));
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        const code = await exited;
        clearTimeout(timer);
        children.delete(proc);
        return code;
      };
      return { port, address: `127.0.0.1:${port}`, stop, output: () => out };
    }
    proc.kill('SIGKILL');
    children.delete(proc);
    lastError = out;
  }
  throw new Error(`redis-server did not start: ${lastError}`);
}

/** Debian's Chromium, headless, with a fresh profile (--user-data-dir) that is removed on exit. */
export async function launchBrowser(options = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'rtmsg-examples-profile-'));
  profiles.add(profile);
  return chromium.launchPersistentContext(profile, {
    executablePath: chromiumBin,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: { width: 960, height: 600 },
    ...options,
  });
}

/** Records uncaught exceptions of a page, for a final check.  (Not console errors: Chromium
    logs every refused WebSocket reconnection attempt, which the tests provoke on purpose.) */
export function watchPage(page, name) {
  const problems = [];
  page.on('pageerror', (e) => problems.push(`${name}: ${e.message}`));
  return problems;
}
