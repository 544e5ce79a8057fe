// Tests of js/rtmsg.js: unit-level under Node (the `ws` package and scripted fake sockets), and
// end to end in Debian's Chromium (playwright-core) against rtmsg-testbed.
//
//   node --test tests/browser/rtmsg_js.test.mjs    (tests/browser/run.sh BUILD_DIR does the setup)
//
// Environment: RTMSG_BUILD_DIR (default build/dev) holds examples/testbed/rtmsg-testbed;
// RTMSG_CHROMIUM (default /usr/bin/chromium).
//
// The testbed serves a temporary directory (--www) with a test page and a copy of rtmsg.js.
// Connection drops are real: the page reaches the testbed through a TCP proxy in this process
// that can reset every proxied socket, refuse new ones for a while, or swallow what a client
// sends; messages published meanwhile go to the testbed directly, and the hub's history is
// what the client resumes from.  Every wait is on a condition, with a deadline.

import { after, before, describe, setDefaultTimeout, test } from '../support/node_test.mjs';

setDefaultTimeout(120_000);
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import WebSocket from 'ws';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const buildDir = path.resolve(root, process.env.RTMSG_BUILD_DIR ?? 'build/dev');
const testbedBin = path.join(buildDir, 'examples/testbed/rtmsg-testbed');
const chromiumBin = process.env.RTMSG_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// ------------------------------------------------------------------ the page and the module

const www = fs.mkdtempSync(path.join(os.tmpdir(), 'rtmsg-browser-'));
fs.copyFileSync(path.join(root, 'js/rtmsg.js'), path.join(www, 'rtmsg.js'));
// Node imports the same file as .mjs (this copy is outside js/package.json's "type": "module").
fs.copyFileSync(path.join(root, 'js/rtmsg.js'), path.join(www, 'rtmsg.mjs'));
fs.writeFileSync(
  path.join(www, 'index.html'),
  `<!doctype html>
<meta charset="utf-8">
<title>rtmsg.js test page</title>
<link rel="icon" href="data:,">
<script type="module">
import * as rtmsg from '/rtmsg.js';
window.rtmsg = rtmsg;
// A Client whose observable behaviour is recorded for the test to read.
window.watch = (url, options = {}) => {
  const rec = { states: [], got: {}, gaps: [], errors: [], resets: [], joins: [] };
  const client = new rtmsg.Client(url, options);
  rec.client = client;
  rec.states.push(client.state);
  client.addEventListener('state', (e) => rec.states.push(e.state));
  client.ongap = (g) => rec.gaps.push(g);
  client.onreset = (r) => rec.resets.push(r);
  client.onerror = (e) => rec.errors.push({ code: e.code, message: String(e.message) });
  rec.sub = (topic, opts = {}) => {
    rec.got[topic] = [];
    const s = client.subscribe(topic, (data, meta) => {
      rec.got[topic].push({ ...meta, data: data instanceof Uint8Array ? Array.from(data) : data });
    }, { ...opts, onJoin: (who) => rec.joins.push(who) });
    return s.ready;
  };
  return rec;
};
window.ready = true;
</script>
`,
);

const rtmsg = await import(pathToFileURL(path.join(www, 'rtmsg.mjs')).href);
const { Client, RtmsgError, backoffDelay, topicMatches } = rtmsg;

// ------------------------------------------------------------------ helpers

/** Polls `cond` until it returns a truthy value; fails after `ms` with `what`. */
async function waitFor(cond, what, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// Whatever happens, nothing this file started outlives it (Playwright kills its Chromium on exit).
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(www, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130));

/** Starts rtmsg-testbed on a free port; resolves with {proc, port}. */
async function startTestbed() {
  if (!fs.existsSync(testbedBin)) throw new Error(`${testbedBin} not found: build rtmsg-testbed`);
  // --deflate: browsers offer permessage-deflate on every connection, so every test below runs
  // with it negotiated (the testbed is built with rtmsg::deflate).
  const proc = spawn(testbedBin, ['--port', '0', '--www', www, '--deflate'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => (err += d));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`testbed did not start within 10 s: ${err}`)), 10000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.on('exit', (code) => reject(new Error(`testbed exited with ${code}: ${err}`)));
  });
  proc.removeAllListeners('exit');
  return { proc, port, stderr: () => err };
}

async function stopProcess(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return children.delete(proc);
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await once(proc, 'exit');
  clearTimeout(timer);
  children.delete(proc);
}

/** A TCP proxy to 127.0.0.1:target that can drop every connection on demand. */
async function startProxy(target) {
  const pairs = new Set();
  const proxy = { refusing: false, refused: 0, accepted: 0, held: 0 };
  const server = net.createServer((client) => {
    if (proxy.refusing) {
      proxy.refused++;
      if (proxy.refusing !== 'http503') return client.resetAndDestroy();
      client.once('data', () => client.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
      client.on('error', () => {});
      return;
    }
    proxy.accepted++;
    const upstream = net.connect(target, '127.0.0.1');
    const pair = { client, upstream };
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  proxy.port = server.address().port;
  proxy.open = () => pairs.size;
  /** Resets every proxied connection (both sides); with refuse, new ones are reset too (or,
      with refuse: 'http503', answered 503). */
  proxy.sever = ({ refuse = false } = {}) => {
    proxy.refusing = refuse;
    for (const { client, upstream } of [...pairs]) {
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    }
  };
  proxy.accept = () => (proxy.refusing = false);
  /** Stops forwarding what clients send (counted in `held`): requests vanish unanswered. */
  proxy.hold = () => {
    for (const { client, upstream } of pairs) {
      client.unpipe(upstream);
      client.on('data', (d) => (proxy.held += d.length));
      client.resume();
    }
  };
  proxy.close = async () => {
    proxy.sever({ refuse: true });
    server.close();
    await once(server, 'close');
  };
  return proxy;
}

/** A raw wire-protocol client (ws package) straight to the testbed, for publishing. */
async function rawClient(port) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, ['rtmsg.json']);
  await once(ws, 'open');
  let nextId = 0;
  const waiting = new Map();
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (m.id && waiting.has(m.id)) {
      waiting.get(m.id)(m);
      waiting.delete(m.id);
    }
  });
  const request = (frame) => {
    const id = ++nextId;
    ws.send(JSON.stringify({ ...frame, id }));
    return new Promise((resolve) => waiting.set(id, resolve));
  };
  return {
    request,
    async publish(topic, data) {
      const r = await request({ op: 'pub', topic, data, ack: true });
      assert.equal(r.op, 'ack', `publish to ${topic}: ${JSON.stringify(r)}`);
      return r.offset;
    },
    close: () => ws.close(),
  };
}

async function httpPublish(port, body) {
  const res = await fetch(`http://127.0.0.1:${port}/publish`, { method: 'POST', body });
  assert.equal(res.status, 204, `POST /publish answered ${res.status}`);
}

/** A scripted stand-in for WebSocket: the test opens, feeds and drops it. */
function fakeSocketClass() {
  class FakeSocket {
    static instances = [];
    constructor(url, protocols) {
      Object.assign(this, { url, protocols, sent: [], readyState: 0, protocol: '' });
      FakeSocket.instances.push(this);
      FakeSocket.created?.(this);
    }
    send(text) {
      this.sent.push(JSON.parse(text));
    }
    close() {
      if (this.readyState === 3) return;
      this.readyState = 3;
      queueMicrotask(() => this.onclose?.({ code: 1000 }));
    }
    open() {
      this.readyState = 1;
      this.protocol = 'rtmsg.json';
      this.onopen?.({});
    }
    receive(obj) {
      this.onmessage?.({ data: JSON.stringify(obj) });
    }
    drop() {
      this.readyState = 3;
      this.onclose?.({ code: 1006 });
    }
    static last() {
      return FakeSocket.instances[FakeSocket.instances.length - 1];
    }
  }
  return FakeSocket;
}

// ------------------------------------------------------------------ shared fixtures

let testbed;
before(async () => {
  testbed = await startTestbed();
});
after(async () => {
  if (testbed) await stopProcess(testbed.proc);
  fs.rmSync(www, { recursive: true, force: true });
});

// ================================================================== Node: unit level

describe('rtmsg.js under Node', () => {
  test('backoffDelay stays within [base*(1-jitter), base] <= maxDelay and applies jitter', () => {
    const o = { initialDelay: 250, maxDelay: 10000, factor: 2, jitter: 0.5 };
    for (let attempt = 0; attempt <= 60; attempt++) {
      const base = Math.min(o.maxDelay, o.initialDelay * 2 ** attempt);
      for (const r of [0, 0.25, 0.5, 0.999999]) {
        const d = backoffDelay(attempt, o, () => r);
        assert.ok(d >= base * (1 - o.jitter) - 1e-9 && d <= base, `attempt ${attempt}, random ${r}: ${d} vs base ${base}`);
        assert.ok(d <= o.maxDelay);
      }
    }
    assert.equal(backoffDelay(0, o, () => 0), 250);
    assert.equal(backoffDelay(3, o, () => 0), 2000);
    assert.equal(backoffDelay(3, o, () => 0.5), 1500);
    assert.equal(backoffDelay(1000, o, () => 0), 10000); // factor^1000 overflows to Infinity: still capped
    assert.equal(backoffDelay(2, { ...o, jitter: 0 }, () => 0.9), 1000);
    assert.equal(backoffDelay(2, { ...o, jitter: 1 }, () => 0.75), 250); // full jitter: [0, base]
    assert.equal(backoffDelay(2, { ...o, jitter: 7 }, () => 0.75), 250); // jitter clamped to 1
    const samples = Array.from({ length: 500 }, () => backoffDelay(10, o));
    assert.ok(samples.every((d) => d >= 5000 && d <= 10000), 'random jitter within bounds');
    assert.ok(Math.max(...samples) - Math.min(...samples) > 2000, 'jitter spreads the delays');
    assert.ok(new Set(samples).size > 400, 'jitter is random');
  });

  test('topicMatches follows the hub: * is one level, a final > one or more', () => {
    assert.ok(topicMatches('prices.*', 'prices.AAPL'));
    assert.ok(!topicMatches('prices.*', 'prices.us.AAPL'));
    assert.ok(topicMatches('prices.>', 'prices.us.AAPL'));
    assert.ok(!topicMatches('prices.>', 'prices'));
    assert.ok(topicMatches('a.b', 'a.b') && !topicMatches('a.b', 'a.b.c') && !topicMatches('a.*', 'a'));
  });

  test('reconnection attempts are spaced by the bounded, jittered backoff', async () => {
    const Fake = fakeSocketClass();
    const times = [];
    Fake.created = (s) => {
      times.push(performance.now());
      queueMicrotask(() => s.drop()); // every attempt fails at once
    };
    const reconnect = { initialDelay: 40, maxDelay: 160, factor: 2, jitter: 0.5 };
    const c = new Client('ws://fake/ws', { WebSocket: Fake, reconnect });
    const states = [c.state];
    c.onstate = (s) => states.push(s);
    await waitFor(() => times.length >= 7, '7 connection attempts');
    c.close();
    const count = Fake.instances.length;
    for (let i = 1; i < 7; i++) {
      const base = Math.min(160, 40 * 2 ** (i - 1));
      const gap = times[i] - times[i - 1];
      assert.ok(gap >= base / 2 - 2, `attempt ${i}: waited ${gap.toFixed(1)} ms, at least ${base / 2} expected`);
      assert.ok(gap <= base + 150, `attempt ${i}: waited ${gap.toFixed(1)} ms, at most ${base} expected`);
    }
    assert.deepEqual(states, ['connecting', 'reconnecting', 'closed']);
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(Fake.instances.length, count, 'no attempt after close()');
  });

  test('duplicates and stale offsets are dropped, resume sends since+epoch, an epoch change resets', async () => {
    const Fake = fakeSocketClass();
    const c = new Client('ws://fake/ws', { WebSocket: Fake, reconnect: { initialDelay: 1, maxDelay: 5 } });
    const got = [];
    const gaps = [];
    const resets = [];
    c.ongap = (g) => gaps.push(g);
    c.onreset = (r) => resets.push(r);
    const sub = c.subscribe('t.a', (data, meta) => got.push([data, meta.offset, meta.epoch]));
    let ws = Fake.last();
    ws.open();
    const subFrame = ws.sent.find((f) => f.op === 'sub');
    assert.deepEqual({ ...subFrame, id: 0 }, { op: 'sub', id: 0, topic: 't.a' });
    ws.receive({ op: 'ack', id: subFrame.id, topic: 't.a', offset: 7, epoch: '18446744073709551615' });
    assert.deepEqual(await sub.ready, { offset: 7, epoch: '18446744073709551615' });
    const msg = (offset, epoch = '18446744073709551615') => ({ op: 'msg', topic: 't.a', data: { n: offset }, offset, epoch });
    for (const o of [6, 7, 8, 9, 9, 8, 10]) ws.receive(msg(o));
    assert.deepEqual(got.map((g) => g[1]), [8, 9, 10]);
    assert.equal(got[0][2], '18446744073709551615', 'the epoch stays an exact string');

    ws.drop();
    await waitFor(() => Fake.instances.length === 2, 'a reconnection attempt');
    ws = Fake.last();
    ws.open();
    const resume = ws.sent.find((f) => f.op === 'sub');
    assert.equal(resume.since, 10);
    assert.equal(resume.epoch, '18446744073709551615');
    ws.receive({ op: 'ack', id: resume.id, topic: 't.a', offset: 20, epoch: '18446744073709551615' });
    ws.receive({ op: 'gap', topic: 't.a', epoch: '18446744073709551615', offset: 11, to: 14 });
    for (const o of [15, 10, 16]) ws.receive(msg(o));
    assert.deepEqual(gaps, [{ topic: 't.a', from: 11, to: 14, epoch: '18446744073709551615' }]);
    assert.deepEqual(got.map((g) => g[1]), [8, 9, 10, 15, 16]);

    ws.drop();
    await waitFor(() => Fake.instances.length === 3, 'a second reconnection');
    ws = Fake.last();
    ws.open();
    const again = ws.sent.find((f) => f.op === 'sub');
    assert.equal(again.since, 16);
    // The server restarted: new epoch, offsets start over and are delivered.
    ws.receive({ op: 'ack', id: again.id, topic: 't.a', offset: 2, epoch: '5' });
    ws.receive(msg(1, '5'));
    ws.receive(msg(2, '5'));
    ws.receive(msg(2, '5'));
    assert.deepEqual(resets, [{ topic: 't.a', epoch: '5', previous: '18446744073709551615' }]);
    assert.deepEqual(got.slice(5).map((g) => [g[1], g[2]]), [[1, '5'], [2, '5']]);
    c.close();
  });

  test('handlers share one server subscription; presence upgrades it without a gap; last unsubscribe ends it', () => {
    const Fake = fakeSocketClass();
    const c = new Client('ws://fake/ws', { WebSocket: Fake, reconnect: false });
    const ws = Fake.last();
    ws.open();
    const one = [];
    const two = [];
    const joins = [];
    const s1 = c.subscribe('room.a', (d) => one.push(d));
    const first = ws.sent.at(-1);
    ws.receive({ op: 'ack', id: first.id, topic: 'room.a', offset: 4, epoch: '9' });
    ws.receive({ op: 'msg', topic: 'room.a', data: 5, offset: 5, epoch: '9' });
    const s2 = c.subscribe('room.a', (d) => two.push(d), { onJoin: (who) => joins.push(who) });
    const [unsub, sub] = ws.sent.slice(-2);
    assert.deepEqual([unsub.op, unsub.topic], ['unsub', 'room.a']);
    assert.deepEqual({ ...sub, id: 0 }, { op: 'sub', id: 0, topic: 'room.a', since: 5, epoch: '9', presence: true });
    ws.receive({ op: 'ack', id: unsub.id, topic: 'room.a', offset: 0 });
    ws.receive({ op: 'ack', id: sub.id, topic: 'room.a', offset: 6, epoch: '9' });
    ws.receive({ op: 'msg', topic: 'room.a', data: 6, offset: 6, epoch: '9' });
    ws.receive({ op: 'join', topic: 'room.a', who: 'alice' });
    assert.deepEqual([one, two, joins], [[5, 6], [6], ['alice']]);
    s1.unsubscribe();
    assert.equal(ws.sent.length, 3, 'a handler remains: no unsub');
    ws.receive({ op: 'msg', topic: 'room.a', data: 7, offset: 7, epoch: '9' });
    s2.unsubscribe();
    assert.deepEqual([ws.sent.at(-1).op, ws.sent.at(-1).topic], ['unsub', 'room.a']);
    ws.receive({ op: 'msg', topic: 'room.a', data: 8, offset: 8, epoch: '9' }); // in flight: dropped
    assert.deepEqual([one, two], [[5, 6], [6, 7]]);
    ws.drop(); // reconnect: false
    assert.equal(c.state, 'closed');
  });

  test('a publish whose ack is lost with the connection rejects (ECONNRESET); one made while down waits', async () => {
    const Fake = fakeSocketClass();
    const c = new Client('ws://fake/ws', { WebSocket: Fake, reconnect: { initialDelay: 1, maxDelay: 5 } });
    let ws = Fake.last();
    ws.open();
    const lost = c.publish('t.b', { x: 1 });
    assert.equal(ws.sent.at(-1).op, 'pub');
    ws.drop();
    await assert.rejects(lost, (e) => e instanceof RtmsgError && e.code === 'ECONNRESET');
    assert.equal(c.state, 'reconnecting');
    const later = c.publish('t.b', 'text', { kind: 'text', echo: false });
    await waitFor(() => Fake.instances.length === 2, 'a reconnection attempt');
    ws = Fake.last();
    assert.equal(ws.sent.length, 0, 'nothing is sent before open');
    ws.open();
    const frame = ws.sent.find((f) => f.op === 'pub');
    assert.deepEqual({ ...frame, id: 0 }, { op: 'pub', id: 0, topic: 't.b', data: 'text', kind: 'text', ack: true, echo: false });
    ws.receive({ op: 'ack', id: frame.id, topic: 't.b', offset: 3 });
    assert.equal(await later, 3);
    const refused = c.publish('t.b', 1);
    ws.receive({ op: 'error', id: ws.sent.at(-1).id, code: 429, message: 'rate limit exceeded; slow down' });
    await assert.rejects(refused, (e) => e.code === 429 && /rate limit/.test(e.message));
    const closed = c.presence('t.b');
    c.close();
    await assert.rejects(closed, (e) => e.code === 'ECLOSED');
    assert.equal(c.state, 'closed');
  });

  test('with ws against the testbed: round trip, errors, and resume across a proxy drop', async () => {
    const proxy = await startProxy(testbed.port);
    const direct = await rawClient(testbed.port);
    const c = new Client(`ws://127.0.0.1:${proxy.port}/ws`, {
      WebSocket,
      reconnect: { initialDelay: 20, maxDelay: 200 },
    });
    const states = [c.state];
    c.addEventListener('state', (e) => states.push(e.state));
    try {
      const got = [];
      const bytes = [];
      await c.subscribe('node.resume', (data, meta) => got.push([data.n, meta.offset])).ready;
      await c.subscribe('node.bytes', (data, meta) => bytes.push([Array.from(data), meta.kind])).ready;
      for (let n = 1; n <= 5; n++) assert.equal(await c.publish('node.resume', { n }), n);
      await c.publish('node.bytes', new Uint8Array([0, 1, 254, 255]));
      await assert.rejects(c.publish('a..b', 1), (e) => e.code === 422);
      await waitFor(() => got.length === 5 && bytes.length === 1, '5 messages and 1 binary message');
      assert.deepEqual(bytes, [[[0, 1, 254, 255], 'binary']]);

      proxy.sever({ refuse: true });
      await waitFor(() => c.state === 'reconnecting', "state 'reconnecting'");
      for (let n = 6; n <= 15; n++) await direct.publish('node.resume', { n });
      await waitFor(() => proxy.refused >= 1, 'a refused reconnection attempt');
      proxy.accept();
      await waitFor(() => c.state === 'open' && got.length >= 15, 'reconnection and replay');
      for (let n = 16; n <= 20; n++) await direct.publish('node.resume', { n });
      await waitFor(() => got.length >= 20, '20 messages');
      assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => [i + 1, i + 1]));
      assert.deepEqual(states, ['connecting', 'open', 'reconnecting', 'open']);
    } finally {
      c.close();
      direct.close();
      await proxy.close();
    }
  });
});

// ================================================================== Chromium: end to end

describe('rtmsg.js in Chromium', () => {
  let browser;
  let context;
  let proxy;
  const pageErrors = [];
  let origin; // the page is served through the proxy: WebSocket and EventSource are same-origin

  before(async () => {
    if (!fs.existsSync(chromiumBin)) throw new Error(`${chromiumBin} not found: apt-get install -y chromium`);
    proxy = await startProxy(testbed.port);
    origin = `http://127.0.0.1:${proxy.port}`;
    browser = await chromium.launch({ executablePath: chromiumBin, args: CHROMIUM_ARGS, headless: true });
    context = await browser.newContext();
    context.setDefaultTimeout(10000); // waitForFunction and friends
  });
  after(async () => {
    await browser?.close();
    await proxy?.close();
  });

  async function openPage() {
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => window.ready === true);
    return page;
  }
  const wsDirect = () => `ws://127.0.0.1:${testbed.port}/ws`;
  const wsProxied = () => `ws://127.0.0.1:${proxy.port}/ws`;

  test('two pages: subscribe, publish with ack, delivery with offset/epoch/kind, echo:false', async () => {
    const a = await openPage();
    const b = await openPage();
    const ack = await a.evaluate(async (url) => {
      window.A = watch(url);
      return A.sub('chat.lobby');
    }, wsDirect());
    assert.match(ack.epoch, /^\d+$/);
    const offsets = await b.evaluate(async (url) => {
      window.B = watch(url);
      await B.sub('chat.lobby');
      return [
        await B.client.publish('chat.lobby', { text: 'héllo ✓', n: [1, 2.5, null] }),
        await B.client.publish('chat.lobby', 'two\nlines', { kind: 'text' }),
        await B.client.publish('chat.lobby', new Uint8Array([0, 1, 128, 255])),
        await B.client.publish('chat.lobby', { quiet: true }, { echo: false }),
        await B.client.publish('chat.lobby', { last: true }),
      ];
    }, wsDirect());
    assert.deepEqual(offsets, [ack.offset + 1, ack.offset + 2, ack.offset + 3, ack.offset + 4, ack.offset + 5]);
    await a.waitForFunction(() => A.got['chat.lobby'].length === 5);
    await b.waitForFunction(() => B.got['chat.lobby'].length === 4);
    const gotA = await a.evaluate(() => A.got['chat.lobby']);
    assert.deepEqual(gotA.map((m) => [m.topic, m.offset, m.epoch, m.kind]), offsets.map((o, i) => [
      'chat.lobby', o, ack.epoch, ['json', 'text', 'binary', 'json', 'json'][i],
    ]));
    assert.deepEqual(gotA.map((m) => m.data), [
      { text: 'héllo ✓', n: [1, 2.5, null] }, 'two\nlines', [0, 1, 128, 255], { quiet: true }, { last: true },
    ]);
    const gotB = await b.evaluate(() => B.got['chat.lobby']);
    assert.deepEqual(gotB.map((m) => m.offset), [offsets[0], offsets[1], offsets[2], offsets[4]], 'echo:false skips the publisher');
    for (const p of [a, b]) {
      const rec = await p.evaluate(() => {
        const r = window.A ?? window.B;
        r.client.close();
        return { errors: r.errors, gaps: r.gaps, state: r.client.state };
      });
      assert.deepEqual(rec, { errors: [], gaps: [], state: 'closed' });
      await p.close();
    }
  });

  test('permessage-deflate is in use (ws.extensions) and large compressible messages round-trip', async () => {
    const page = await openPage();
    const r = await page.evaluate(async (url) => {
      window.Z = watch(url);
      await Z.sub('chat.big');
      const text = JSON.stringify(Array.from({ length: 400 }, (_, i) => ({ i, sym: `S${i % 7}`, px: 100 + (i % 13) })));
      await Z.client.publish('chat.big', text, { kind: 'text' });
      const extensions = Z.client.ws.extensions;
      return { extensions, size: text.length, text };
    }, wsDirect());
    assert.match(r.extensions, /^permessage-deflate/);
    // The hub compresses each message once for every subscriber: it agrees on no server context takeover.
    assert.match(r.extensions, /server_no_context_takeover/);
    assert.ok(r.size > 10000);
    await page.waitForFunction(() => Z.got['chat.big'].length === 1);
    const got = await page.evaluate(() => Z.got['chat.big'][0].data);
    assert.equal(got, r.text);
    await page.evaluate(() => Z.client.close());
    await page.close();
  });

  test('presence: the member list comes back (the testbed authenticates nobody, so it is empty)', async () => {
    const page = await openPage();
    const r = await page.evaluate(async (url) => {
      window.P = watch(url);
      await P.sub('room.1', { presence: true });
      const members = await P.client.presence('room.1');
      const other = watch(url);
      await other.sub('room.1', { presence: true });
      const after = await other.client.presence('room.1');
      let invalid;
      try {
        await P.client.presence('a..b');
      } catch (e) {
        invalid = e.code;
      }
      other.client.close();
      P.client.close();
      return { members, after, invalid, joins: P.joins };
    }, wsDirect());
    assert.ok(Array.isArray(r.members) && Array.isArray(r.after));
    assert.deepEqual(r, { members: [], after: [], invalid: 422, joins: [] });
    await page.close();
  });

  test('error replies reject the promise with the code; refused subscriptions reach onerror', async () => {
    const page = await openPage();
    const r = await page.evaluate(async (url) => {
      window.E = watch(url);
      const outcome = (p) => p.then((v) => ({ ok: v }), (e) => ({ name: e.name, code: e.code, message: e.message }));
      const res = {
        badTopic: await outcome(E.client.publish('a..b', { x: 1 })),
        wildcard: await outcome(E.client.publish('chat.*', { x: 1 })),
        tooLarge: await outcome(E.client.publish('big.one', 'x'.repeat(1100000), { kind: 'text' })),
        badSub: await outcome(E.sub('a..b')),
        stillWorks: await outcome(E.client.publish('chat.ok', 1)),
      };
      res.errors = E.errors;
      res.state = E.client.state;
      E.client.close();
      return res;
    }, wsDirect());
    assert.deepEqual(r.badTopic, { name: 'RtmsgError', code: 422, message: 'invalid topic name or pattern' });
    assert.equal(r.wildcard.code, 422);
    assert.equal(r.tooLarge.code, 413);
    assert.equal(r.badSub.code, 422);
    assert.equal(r.stillWorks.ok, 1);
    assert.deepEqual(r.errors, [{ code: 422, message: 'invalid topic name or pattern' }]);
    assert.equal(r.state, 'open');
    await page.close();
  });

  test('reconnect after a real drop: missed messages exactly once, in order, no gap; states open → reconnecting → open', async () => {
    const page = await openPage();
    const direct = await rawClient(testbed.port);
    try {
      await page.evaluate(async (url) => {
        window.R = watch(url, { reconnect: { initialDelay: 50, maxDelay: 400, factor: 2, jitter: 0.5 } });
        await R.sub('resume.a');
        await R.sub('broadcast');
      }, wsProxied());
      for (let n = 1; n <= 5; n++) await direct.publish('resume.a', { n });
      for (let n = 1; n <= 3; n++) await httpPublish(testbed.port, `b${n}`);
      await page.waitForFunction(() => R.got['resume.a'].length === 5 && R.got.broadcast.length === 3);

      proxy.sever({ refuse: true });
      await page.waitForFunction(() => R.client.state === 'reconnecting');
      // Published while the page is cut off; and one from the page itself, queued until it is back.
      await page.evaluate(() => {
        window.queued = R.client.publish('resume.a', { n: 'page' });
      });
      for (let n = 6; n <= 15; n++) await direct.publish('resume.a', { n });
      for (let n = 4; n <= 6; n++) await httpPublish(testbed.port, `b${n}`);
      const refusedBefore = proxy.refused;
      await waitFor(() => proxy.refused >= refusedBefore + 2, 'two refused reconnection attempts');
      proxy.accept();
      await page.waitForFunction(() => R.client.state === 'open' && R.got['resume.a'].length >= 16, null, { timeout: 10000 });
      const pageOffset = await page.evaluate(() => window.queued);
      for (let n = 16; n <= 20; n++) await direct.publish('resume.a', { n });
      await page.waitForFunction(() => R.got['resume.a'].length >= 21 && R.got.broadcast.length >= 6);
      const r = await page.evaluate(() => ({
        resume: R.got['resume.a'].map((m) => [m.offset, m.data.n]),
        broadcast: R.got.broadcast.map((m) => [m.offset, m.kind, m.data]),
        states: R.states,
        gaps: R.gaps,
        errors: R.errors,
        resets: R.resets,
        connections: R.client.connections,
      }));
      const expected = [];
      for (let n = 1; n <= 15; n++) expected.push(n);
      expected.push('page');
      for (let n = 16; n <= 20; n++) expected.push(n);
      assert.deepEqual(r.resume, expected.map((n, i) => [i + 1, n]), 'every message once, in order');
      assert.equal(pageOffset, 16, 'the publish queued while disconnected was acknowledged');
      assert.deepEqual(r.broadcast, [1, 2, 3, 4, 5, 6].map((n) => [r.broadcast[0][0] + n - 1, 'text', `b${n}`]));
      assert.deepEqual(r.states, ['connecting', 'open', 'reconnecting', 'open']);
      assert.deepEqual({ gaps: r.gaps, errors: r.errors, resets: r.resets, connections: r.connections },
        { gaps: [], errors: [], resets: [], connections: 2 });
      // Stays exactly-once afterwards.
      await direct.publish('resume.a', { n: 21 });
      await page.waitForFunction(() => R.got['resume.a'].length >= 22);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(await page.evaluate(() => R.got['resume.a'].length), 22);
    } finally {
      proxy.accept();
      await page.evaluate(() => window.R?.client.close()).catch(() => {});
      direct.close();
      await page.close();
    }
  });

  test('a publish whose ack is lost with the connection rejects with ECONNRESET', async () => {
    const page = await openPage();
    try {
      await page.evaluate(async (url) => {
        window.L = watch(url, { reconnect: { initialDelay: 50, maxDelay: 400 } });
        await L.sub('lost.a');
      }, wsProxied());
      proxy.hold();
      const held = proxy.held;
      await page.evaluate(() => {
        window.outcome = L.client.publish('lost.a', { n: 1 }).then((v) => ({ ok: v }), (e) => ({ code: e.code }));
      });
      await waitFor(() => proxy.held > held, 'the publish to reach the proxy');
      proxy.sever();
      assert.deepEqual(await page.evaluate(() => window.outcome), { code: 'ECONNRESET' });
      await page.waitForFunction(() => L.client.state === 'open' && L.client.connections === 2);
      const retried = await page.evaluate(() => L.client.publish('lost.a', { n: 1 }));
      assert.equal(retried, 1, 'the lost publish never reached the server; the retry is offset 1');
      await page.waitForFunction(() => L.got['lost.a'].length === 1);
    } finally {
      await page.evaluate(() => window.L?.client.close()).catch(() => {});
      await page.close();
    }
  });

  test('native EventSource on /sse: POST /publish events arrive, multi-line payloads reassembled exactly', async () => {
    const page = await openPage();
    try {
      await page.evaluate(() => {
        window.sseGot = [];
        window.es = new EventSource('/sse');
        es.onmessage = (e) => sseGot.push({ data: e.data, id: e.lastEventId });
      });
      await page.waitForFunction(() => es.readyState === EventSource.OPEN);
      const payloads = [
        'plain',
        'line one\nline two\n\n   indented\n\tand a tab',
        'ends with a newline\n',
        '\nstarts with a newline',
        'data: not a field\n\nid: 999\nevent: evil\nretry: 1',
        'unicode: héllo ✓ 日本',
        '',
        'x'.repeat(70000),
      ];
      for (const p of payloads) await httpPublish(testbed.port, p);
      await httpPublish(testbed.port, 'crlf\r\nand\rcr');
      await page.waitForFunction((n) => sseGot.length >= n, payloads.length + 1);
      const got = await page.evaluate(() => sseGot);
      assert.deepEqual(got.slice(0, payloads.length).map((e) => e.data), payloads);
      assert.equal(got[payloads.length].data, 'crlf\nand\ncr', 'CR and CRLF become LF (SSE line endings)');
      const ids = got.map((e) => Number(e.id));
      assert.ok(ids.every((id, i) => Number.isInteger(id) && (i === 0 || id === ids[i - 1] + 1)), `ids ${ids}`);
      assert.equal(got.length, payloads.length + 1);
    } finally {
      await page.evaluate(() => window.es?.close()).catch(() => {});
      await page.close();
    }
  });

  test('native EventSource resumes after a proxy drop with Last-Event-ID: no loss, no duplicate', async () => {
    const page = await openPage();
    try {
      await page.evaluate(() => {
        window.sseGot = [];
        window.sseStates = [];
        window.es = new EventSource('/sse');
        es.onopen = () => sseStates.push('open');
        es.onerror = () => sseStates.push(es.readyState === EventSource.CONNECTING ? 'connecting' : 'closed');
        es.onmessage = (e) => sseGot.push({ data: e.data, id: e.lastEventId });
      });
      await page.waitForFunction(() => es.readyState === EventSource.OPEN);
      for (let n = 1; n <= 3; n++) await httpPublish(testbed.port, `e${n}\nsecond line ${n}`);
      await page.waitForFunction(() => sseGot.length === 3);
      proxy.sever({ refuse: true });
      await page.waitForFunction(() => es.readyState === EventSource.CONNECTING);
      for (let n = 4; n <= 6; n++) await httpPublish(testbed.port, `e${n}\nsecond line ${n}`);
      proxy.accept(); // before the EventSource's own retry (3 s in Chromium)
      await page.waitForFunction(() => es.readyState === EventSource.OPEN && sseGot.length >= 6, null, { timeout: 15000 });
      await httpPublish(testbed.port, 'e7\nsecond line 7');
      await page.waitForFunction(() => sseGot.length >= 7);
      const r = await page.evaluate(() => ({ got: sseGot, states: sseStates }));
      assert.deepEqual(r.got.map((e) => e.data), [1, 2, 3, 4, 5, 6, 7].map((n) => `e${n}\nsecond line ${n}`));
      const first = Number(r.got[0].id);
      assert.deepEqual(r.got.map((e) => Number(e.id)), [0, 1, 2, 3, 4, 5, 6].map((i) => first + i));
      assert.deepEqual(r.states, ['open', 'connecting', 'open']);
    } finally {
      proxy.accept();
      await page.evaluate(() => window.es?.close()).catch(() => {});
      await page.close();
    }
  });

  test('EventSourceClient: tracks the last id, resumes with ?lastEventId= on start and on reconnect()', async () => {
    const page = await openPage();
    try {
      for (let n = 1; n <= 3; n++) await httpPublish(testbed.port, `h${n}`);
      // h3's id, from a plain EventSource resumed from 0 (the hub replays everything it retains).
      const lastId = await page.evaluate(() => new Promise((resolve) => {
        const es = new EventSource('/sse?lastEventId=0');
        es.onmessage = (e) => {
          if (e.data === 'h3') {
            es.close();
            resolve(Number(e.lastEventId));
          }
        };
      }));
      await page.evaluate((from) => {
        window.hGot = [];
        window.hStates = [];
        window.h = rtmsg.sse('/sse', {
          lastEventId: String(from),
          onmessage: (data, meta) => hGot.push([data, meta.id, meta.type]),
          onstate: (s) => hStates.push(s),
        });
      }, lastId - 2);
      await page.waitForFunction(() => hGot.length >= 2 && h.state === 'open');
      await httpPublish(testbed.port, 'h4');
      await page.waitForFunction(() => hGot.length >= 3);
      await page.evaluate(() => h.reconnect());
      await page.waitForFunction(() => h.state === 'open' && h.source.readyState === EventSource.OPEN);
      await httpPublish(testbed.port, 'h5\nline 2');
      await page.waitForFunction(() => hGot.length >= 4);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const r = await page.evaluate(() => {
        h.close();
        return { got: hGot, states: hStates, last: h.lastEventId, state: h.state, url: h.url };
      });
      assert.deepEqual(r.got, [
        ['h2', String(lastId - 1), 'message'],
        ['h3', String(lastId), 'message'],
        ['h4', String(lastId + 1), 'message'],
        ['h5\nline 2', String(lastId + 2), 'message'],
      ]);
      assert.equal(r.last, String(lastId + 2));
      assert.equal(r.state, 'closed');
      assert.deepEqual(r.states, ['open', 'reconnecting', 'open', 'closed']);
    } finally {
      await page.evaluate(() => window.h?.close()).catch(() => {});
      await page.close();
    }
  });

  test('EventSourceClient: when the EventSource gives up (HTTP 503), reconnects by itself with ?lastEventId=', async () => {
    const page = await openPage();
    try {
      await page.evaluate(() => {
        window.gGot = [];
        window.gStates = [];
        window.g = rtmsg.sse('/sse', {
          onmessage: (data) => gGot.push(data),
          onstate: (s) => gStates.push(s),
          reconnect: { initialDelay: 50, maxDelay: 200 },
        });
      });
      await page.waitForFunction(() => g.state === 'open');
      await httpPublish(testbed.port, 'g1');
      await page.waitForFunction(() => gGot.length === 1);
      const refused = proxy.refused;
      proxy.sever({ refuse: 'http503' });
      await page.waitForFunction(() => g.state === 'reconnecting');
      await httpPublish(testbed.port, 'g2');
      await httpPublish(testbed.port, 'g3\nline 2');
      // The EventSource retries on its own (3 s in Chromium), gets 503 and closes; then the helper retries.
      await waitFor(() => proxy.refused >= refused + 2, 'the EventSource and the helper to be refused', 15000);
      proxy.accept();
      await page.waitForFunction(() => g.state === 'open' && gGot.length >= 3);
      await httpPublish(testbed.port, 'g4');
      await page.waitForFunction(() => gGot.length >= 4);
      const r = await page.evaluate(() => {
        g.close();
        return { got: gGot, states: gStates, url: g.source?.url };
      });
      assert.deepEqual(r.got, ['g1', 'g2', 'g3\nline 2', 'g4']);
      assert.deepEqual(r.states, ['open', 'reconnecting', 'open', 'closed']);
    } finally {
      proxy.accept();
      await page.evaluate(() => window.g?.close()).catch(() => {});
      await page.close();
    }
  });

  test('no uncaught errors in the pages', () => {
    assert.deepEqual(pageErrors, []);
  });
});
