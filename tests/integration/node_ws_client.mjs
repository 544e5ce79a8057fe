#!/usr/bin/env node
// A real peer: Node's `ws` package (and `eventsource` for /sse) against a server that follows
// shared/testbed.md.
//
//   node tests/integration/node_ws_client.mjs --url ws://127.0.0.1:PORT [--max-message N]
//   node tests/integration/node_ws_client.mjs --url wss://127.0.0.1:PORT --ca cert.pem
//
// `--url` may name the echo path; without one, /echo is used and /broadcast, /sse and /publish
// are found next to it. `--max-message` is the server's limit (testbed default 16 MiB).
// `-k TEXT` runs only checks whose name contains TEXT. The /sse checks print SKIP while the
// server answers /sse with 404. Prints PASS/FAIL/SKIP lines and ends with
// `N passed, M failed` (`, K skipped` when some were skipped); exits non-zero on failure.
// Needs `npm ci` in the repository root (package.json pins ws and eventsource).

import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import process from 'node:process';

const MiB = 1024 * 1024;
const TIMEOUT_MS = 30000;

function parseArgs(argv) {
  const out = { url: null, ca: null, maxMessage: 16 * MiB, patterns: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--url') out.url = argv[++i];
    else if (a === '--ca') out.ca = argv[++i];
    else if (a === '--max-message') out.maxMessage = Number(argv[++i]);
    else if (a === '-k') out.patterns.push(argv[++i]);
    else if (a === '-h' || a === '--help') {
      console.log('usage: node_ws_client.mjs --url ws://HOST:PORT[/echo] [--ca CERT] [--max-message N] [-k TEXT]');
      process.exit(0);
    } else {
      console.error(`unknown argument ${a}`);
      process.exit(2);
    }
  }
  if (!out.url) {
    console.error('--url is required');
    process.exit(2);
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));

// fetch() (used by eventsource) takes its trust store from NODE_EXTRA_CA_CERTS, which Node
// reads only at start-up: run again with it set so that wss and https both trust --ca.
if (args.ca && process.env.NODE_EXTRA_CA_CERTS !== args.ca) {
  const r = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: args.ca },
  });
  process.exit(r.status ?? 1);
}

let WebSocket;
let EventSource;
try {
  WebSocket = (await import('ws')).default;
  EventSource = (await import('eventsource')).EventSource;
} catch (e) {
  console.log(`FAIL import ws/eventsource: ${e.message} (run 'npm ci' in the repository root)`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const url = new URL(args.url);
const base = `${url.protocol}//${url.host}`;
const echoUrl = base + (url.pathname && url.pathname !== '/' ? url.pathname : '/echo');
const broadcastUrl = `${base}/broadcast`;
const httpBase = `${url.protocol === 'wss:' ? 'https:' : 'http:'}//${url.host}`;
const ca = args.ca ? fs.readFileSync(args.ca) : undefined;

let passed = 0;
let failed = 0;
let skipped = 0;

class Check extends Error {}

function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Check(`timed out after ${ms / 1000} s waiting for ${what}`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

async function run(name, fn) {
  if (args.patterns.length && !args.patterns.some((p) => name.includes(p))) return;
  const started = Date.now();
  try {
    await withTimeout(fn(), TIMEOUT_MS, 'the check to finish');
    passed++;
    console.log(`PASS ${name} (${((Date.now() - started) / 1000).toFixed(2)} s)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e instanceof Check ? e.message : `${e.name}: ${e.message}`}`);
  }
}

function skip(name, why) {
  if (args.patterns.length && !args.patterns.some((p) => name.includes(p))) return;
  skipped++;
  console.log(`SKIP ${name}: ${why}`);
}

// ---------------------------------------------------------------- a ws client with an event queue

class Peer {
  static open(target = echoUrl, options = {}) {
    const ws = new WebSocket(target, { ca, maxPayload: args.maxMessage + MiB, ...options });
    const peer = new Peer(ws);
    return withTimeout(
      new Promise((resolve, reject) => {
        ws.once('open', () => resolve(peer));
        ws.once('unexpected-response', (_req, res) => reject(new Check(`handshake answered ${res.statusCode}`)));
        ws.once('error', (e) => reject(new Check(`cannot connect: ${e.message}`)));
      }),
      10000,
      `the WebSocket handshake with ${target}`,
    );
  }

  constructor(ws) {
    this.ws = ws;
    this.events = [];
    this.wake = null;
    const push = (e) => {
      this.events.push(e);
      if (this.wake) {
        this.wake();
        this.wake = null;
      }
    };
    ws.on('message', (data, isBinary) => push({ type: 'message', data, isBinary }));
    ws.on('pong', (data) => push({ type: 'pong', data }));
    ws.on('close', (code, reason) => push({ type: 'close', code, reason: reason.toString() }));
    ws.on('error', (err) => push({ type: 'error', err }));
  }

  async next(what = 'an event', ms = 20000) {
    const deadline = Date.now() + ms;
    while (this.events.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Check(`timed out waiting for ${what}`);
      await withTimeout(new Promise((resolve) => { this.wake = resolve; }), left, what);
    }
    return this.events.shift();
  }

  async expectMessage(payload, isBinary, what) {
    const e = await this.next(what ?? `the echo of ${payload.length} bytes`);
    if (e.type !== 'message') throw new Check(`expected a message, got ${describe(e)}`);
    const want = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
    if (e.isBinary !== isBinary) throw new Check(`got a ${e.isBinary ? 'binary' : 'text'} message, expected ${isBinary ? 'binary' : 'text'}`);
    const why = differs(e.data, want);
    if (why) throw new Check(`message differs: ${why}`);
  }

  async expectClose(codes, what, skipData = false) {
    for (;;) {
      const e = await this.next(what ?? `a close with ${codes}`);
      if (e.type === 'error') continue; // e.g. EPIPE while the server refuses a large write
      if (skipData && (e.type === 'message' || e.type === 'pong')) continue; // sent before our close
      if (e.type !== 'close') throw new Check(`expected a close, got ${describe(e)}`);
      if (!codes.includes(e.code)) throw new Check(`close code ${e.code}, expected ${codes.join(' or ')}`);
      return e;
    }
  }

  async close(code = 1000, reason = 'bye') {
    this.ws.close(code, reason);
    return this.expectClose([code], `the close echo for ${code}`, true);
  }
}

function describe(e) {
  if (e.type === 'message') return `${e.isBinary ? 'binary' : 'text'} message of ${e.data.length} bytes`;
  if (e.type === 'pong') return `pong ${JSON.stringify(e.data.toString('latin1'))}`;
  if (e.type === 'close') return `close ${e.code}${e.reason ? ` (${e.reason})` : ''}`;
  if (e.type === 'error') return `error ${e.err.message}`;
  return JSON.stringify(e);
}

function differs(got, want) {
  if (got.length !== want.length) return `got ${got.length} bytes, expected ${want.length}`;
  if (!got.equals(want)) {
    for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) return `same length, first difference at offset ${i}`;
  }
  return null;
}

// A string whose UTF-8 encoding is exactly n bytes, mixing 1- to 4-byte characters.
function textOf(n) {
  return 'a\u00e9\u20ac\u{1f600}'.repeat(Math.floor(n / 10)) + 'x'.repeat(n % 10);
}

// ---------------------------------------------------------------- checks

const big = 16 * MiB - 64;
const sizes = [0, 1, 125, 126, 65535, 65536, MiB, big].filter((n) => n <= args.maxMessage);

await run('handshake, one echo and a clean close', async () => {
  const p = await Peer.open();
  console.log(`# connected to ${echoUrl}; extensions negotiated: ${p.ws.extensions || 'none'}`);
  p.ws.send('hello');
  await p.expectMessage('hello', false);
  await p.close();
});

for (const n of sizes) {
  await run(`echo text ${n} bytes`, async () => {
    const p = await Peer.open();
    const s = textOf(n);
    p.ws.send(s);
    await p.expectMessage(s, false);
    await p.close();
  });
}
for (const n of sizes) {
  await run(`echo binary ${n} bytes`, async () => {
    const p = await Peer.open();
    const b = crypto.randomBytes(n);
    p.ws.send(b);
    await p.expectMessage(b, true);
    await p.close();
  });
}

await run('1000 messages sent before reading are echoed in order', async () => {
  const p = await Peer.open();
  const msgs = Array.from({ length: 1000 }, (_, i) => (i % 2 ? crypto.randomBytes(i % 300) : `message ${i}`));
  for (const m of msgs) p.ws.send(m);
  for (const m of msgs) await p.expectMessage(m, Buffer.isBuffer(m));
  await p.close();
});

await run('fragmented text message (fin:false ... fin:true) is echoed whole', async () => {
  const p = await Peer.open();
  const parts = ['fragment one, ', '\u03ba\u1f79\u03c3\u03bc\u03b5, ', '', '\u{1f600} end'];
  parts.forEach((part, i) => p.ws.send(part, { binary: false, fin: i === parts.length - 1 }));
  await p.expectMessage(parts.join(''), false);
  await p.close();
});

await run('fragmented binary message (64 KiB fragments) is echoed whole', async () => {
  const p = await Peer.open();
  const b = crypto.randomBytes(Math.min(MiB, args.maxMessage));
  for (let off = 0; off < b.length; off += 65536) {
    p.ws.send(b.subarray(off, off + 65536), { binary: true, fin: off + 65536 >= b.length });
  }
  await p.expectMessage(b, true);
  await p.close();
});

await run('fragmented message interleaved with a ping: pong, then the message', async () => {
  const p = await Peer.open();
  p.ws.send('first half, ', { fin: false });
  p.ws.ping('in the middle');
  const e = await p.next('the pong');
  if (e.type !== 'pong' || e.data.toString() !== 'in the middle') throw new Check(`expected the pong, got ${describe(e)}`);
  p.ws.send('second half', { fin: true });
  await p.expectMessage('first half, second half', false);
  await p.close();
});

for (const [label, data] of [['empty', Buffer.alloc(0)], ['16-byte', Buffer.from('ping from node!!')], ['125-byte', crypto.randomBytes(125)]]) {
  await run(`ping with ${label} payload gets its pong`, async () => {
    const p = await Peer.open();
    p.ws.ping(data);
    const e = await p.next('the pong');
    if (e.type !== 'pong' || !e.data.equals(data)) throw new Check(`expected a pong with the ping's payload, got ${describe(e)}`);
    await p.close();
  });
}

await run('10 pings in a row get their pongs in order', async () => {
  const p = await Peer.open();
  const pings = Array.from({ length: 10 }, (_, i) => `ping ${i}`);
  for (const d of pings) p.ws.ping(d);
  p.ws.send('after pings');
  let idx = 0;
  for (;;) {
    const e = await p.next('pongs');
    if (e.type === 'pong') {
      const j = pings.indexOf(e.data.toString(), idx);
      if (j < 0) throw new Check(`unexpected or out-of-order pong ${describe(e)}`);
      idx = j + 1;
    } else if (e.type === 'message' && e.data.toString() === 'after pings') {
      // RFC 6455 §5.5.3 allows answering only the latest pending ping, not skipping it.
      if (idx !== pings.length) throw new Check('the echo arrived before the pong for the last ping');
      break;
    } else throw new Check(`expected pongs, got ${describe(e)}`);
  }
  await p.close();
});

for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999]) {
  await run(`close ${code} is echoed`, async () => {
    const p = await Peer.open();
    p.ws.send(`before close ${code}`);
    await p.expectMessage(`before close ${code}`, false);
    await p.close(code, `closing with ${code}`);
  });
}

await run('message of --max-message + 1 bytes gets close 1009', async () => {
  const p = await Peer.open();
  p.ws.send(crypto.randomBytes(args.maxMessage + 1), () => {});
  await p.expectClose([1009]);
});

await run('fragmented message over --max-message gets close 1009', async () => {
  const p = await Peer.open();
  const n = args.maxMessage + 1;
  const chunk = crypto.randomBytes(65536);
  for (let off = 0; off < n; off += 65536) {
    const len = Math.min(65536, n - off);
    p.ws.send(chunk.subarray(0, len), { binary: true, fin: off + len >= n }, () => {});
  }
  await p.expectClose([1009]);
});

await run('a new connection still works after the 1009 closes', async () => {
  const p = await Peer.open();
  p.ws.send('still serving');
  await p.expectMessage('still serving', false);
  await p.close();
});

await run('8 concurrent clients x 50 echoes', async () => {
  await Promise.all(Array.from({ length: 8 }, async (_, i) => {
    const p = await Peer.open();
    for (let j = 0; j < 50; j++) {
      p.ws.send(`client ${i} message ${j}`);
      await p.expectMessage(`client ${i} message ${j}`, false);
    }
    await p.close();
  }));
});

// ---------------------------------------------------------------- /broadcast

const SYNC = 'sync:';

// Send markers from `sender` until every receiver has seen one: their subscriptions are live.
async function syncBroadcast(sender, receivers) {
  const token = SYNC + crypto.randomBytes(6).toString('hex');
  const pending = new Set(receivers);
  for (let i = 0; i < 50 && pending.size; i++) {
    sender.ws.send(token);
    for (const r of [...pending]) {
      try {
        for (;;) {
          const e = await r.next('a sync marker', 100);
          if (e.type === 'message' && e.data.toString() === token) {
            pending.delete(r);
            break;
          }
        }
      } catch (e) {
        if (!(e instanceof Check)) throw e;
      }
    }
  }
  if (pending.size) throw new Check(`broadcast markers never reached ${pending.size} client(s)`);
}

async function nextNonSync(p, what) {
  for (;;) {
    const e = await p.next(what, 5000);
    if (e.type === 'message' && !e.isBinary && e.data.toString().startsWith(SYNC)) continue;
    return e;
  }
}

await run('/broadcast: a message from one client reaches both, same opcode', async () => {
  const a = await Peer.open(broadcastUrl);
  const b = await Peer.open(broadcastUrl);
  await syncBroadcast(a, [a, b]);
  for (const payload of ['hello from node', crypto.randomBytes(300)]) {
    a.ws.send(payload);
    for (const [who, p] of [['sender', a], ['other client', b]]) {
      const e = await nextNonSync(p, `the broadcast at the ${who}`);
      const isBinary = Buffer.isBuffer(payload);
      if (e.type !== 'message' || e.isBinary !== isBinary || differs(e.data, Buffer.from(payload))) {
        throw new Check(`${who} got ${describe(e)}, expected the ${isBinary ? 'binary' : 'text'} message`);
      }
    }
  }
  await a.close();
  await b.close();
});

// ---------------------------------------------------------------- /sse and /publish

async function probeSse() {
  const ac = new AbortController();
  try {
    const res = await withTimeout(fetch(`${httpBase}/sse`, { headers: { Accept: 'text/event-stream' }, signal: ac.signal }), 5000, 'GET /sse');
    return { status: res.status, type: res.headers.get('content-type') || '' };
  } finally {
    ac.abort();
  }
}

async function publish(body) {
  const res = await fetch(`${httpBase}/publish`, { method: 'POST', body, headers: { 'Content-Type': 'text/plain' } });
  await res.arrayBuffer();
  if (res.status !== 204) throw new Check(`POST /publish answered ${res.status}, expected 204`);
}

class Stream {
  constructor(lastEventId) {
    const init = lastEventId === undefined ? {} : {
      fetch: (input, options) => fetch(input, { ...options, headers: { ...options.headers, 'Last-Event-ID': lastEventId } }),
    };
    this.es = new EventSource(`${httpBase}/sse`, init);
    this.events = [];
    this.wake = null;
    this.es.addEventListener('message', (e) => {
      this.events.push({ data: e.data, id: e.lastEventId });
      if (this.wake) { this.wake(); this.wake = null; }
    });
    this.opened = withTimeout(new Promise((resolve, reject) => {
      this.es.addEventListener('open', resolve, { once: true });
      this.es.addEventListener('error', (e) => reject(new Check(`EventSource error: ${e.message ?? 'connection failed'}`)), { once: true });
    }), 5000, 'the /sse stream to open');
  }

  async next(what) {
    const deadline = Date.now() + 5000;
    while (!this.events.length) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Check(`timed out waiting for ${what}`);
      await withTimeout(new Promise((resolve) => { this.wake = resolve; }), left, what);
    }
    return this.events.shift();
  }

  async nextWith(data, what) {
    for (;;) {
      const e = await this.next(what);
      if (e.data === data) return e;
    }
  }

  close() { this.es.close(); }
}

let sse = null;
try {
  sse = await probeSse();
} catch (e) {
  await run('/sse probe', async () => { throw new Check(`GET /sse failed: ${e.message}`); });
}
const sseChecks = [
  '/sse: the stream is text/event-stream',
  '/sse: POST /publish answers 204 and the event reaches an open stream with an id',
  '/sse: a multi-line body arrives as one event with its newlines',
  '/sse: a /publish reaches /broadcast WebSockets as a text message',
  '/sse: a text message on /broadcast reaches /sse streams',
  '/sse: Last-Event-ID replays the retained events after that id, in order',
];
if (sse && sse.status === 404) {
  for (const name of sseChecks) skip(name, 'GET /sse answers 404 (the endpoint is not implemented yet)');
} else if (sse) {
  await run(sseChecks[0], async () => {
    if (sse.status !== 200) throw new Check(`GET /sse answered ${sse.status}`);
    if (!sse.type.startsWith('text/event-stream')) throw new Check(`Content-Type is ${JSON.stringify(sse.type)}`);
  });

  await run(sseChecks[1], async () => {
    const s = new Stream();
    try {
      await s.opened;
      const body = `sse-${crypto.randomBytes(6).toString('hex')}`;
      await publish(body);
      const e = await s.nextWith(body, 'the published event');
      if (!e.id) throw new Check('the event has no id');
    } finally { s.close(); }
  });

  await run(sseChecks[2], async () => {
    const s = new Stream();
    try {
      await s.opened;
      const body = `line one ${crypto.randomBytes(4).toString('hex')}\nline two\nline three`;
      await publish(body);
      await s.nextWith(body, 'the multi-line event');
    } finally { s.close(); }
  });

  await run(sseChecks[3], async () => {
    const p = await Peer.open(broadcastUrl);
    await syncBroadcast(p, [p]);
    const body = `published ${crypto.randomBytes(6).toString('hex')}`;
    await publish(body);
    const e = await nextNonSync(p, 'the published message');
    if (e.type !== 'message' || e.isBinary || e.data.toString() !== body) throw new Check(`got ${describe(e)}, expected text ${JSON.stringify(body)}`);
    await p.close();
  });

  await run(sseChecks[4], async () => {
    const s = new Stream();
    const p = await Peer.open(broadcastUrl);
    try {
      await s.opened;
      const body = `from ws ${crypto.randomBytes(6).toString('hex')}`;
      p.ws.send(body);
      await s.nextWith(body, 'the WebSocket message on /sse');
      await p.close();
    } finally { s.close(); }
  });

  await run(sseChecks[5], async () => {
    const s = new Stream();
    let bodies;
    let ids;
    try {
      await s.opened;
      const tag = crypto.randomBytes(4).toString('hex');
      bodies = [1, 2, 3].map((i) => `retained ${tag} ${i}`);
      for (const b of bodies) await publish(b);
      ids = [];
      for (const b of bodies) ids.push((await s.nextWith(b, `event ${b}`)).id);
    } finally { s.close(); }
    const r = new Stream(ids[0]);
    try {
      await r.opened;
      for (let i = 1; i < 3; i++) {
        const e = await r.next(`replayed event ${i + 1}`);
        if (e.data !== bodies[i] || e.id !== ids[i]) {
          throw new Check(`replay ${i}: got ${JSON.stringify(e)}, expected ${JSON.stringify({ data: bodies[i], id: ids[i] })}`);
        }
      }
    } finally { r.close(); }
  });
}

console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
