// rtmsg.js's `meta.from`, the server-attested publisher, against a scripted rtmsg.json server
// (the `ws` package's WebSocketServer): what the server sends in a msg's `from` reaches the
// handler exactly as sent, absent stays absent (older servers), and the client never sends
// `from` itself, whatever the app passes.
//
//   node --test tests/js/client.test.mjs       (tests/js/run.sh runs it)
import { after, before, describe, test } from '../support/node_test.mjs';
import assert from 'node:assert/strict';
import { once } from 'node:events';

import WebSocket, { WebSocketServer } from 'ws';

import { Client } from '../../js/rtmsg.js';

/** Polls `cond` until it returns a truthy value; fails after `ms` with `what`. */
async function waitFor(cond, what, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A one-connection-at-a-time rtmsg.json server that acknowledges sub/pub and records what
    the client sent; `send(frame)` writes to the current connection. */
async function startServer() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (p) => (p.has('rtmsg.json') ? 'rtmsg.json' : false) });
  await once(wss, 'listening');
  const server = { received: [], socket: null, offset: 0, onPub: null };
  wss.on('connection', (ws) => {
    server.socket = ws;
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString());
      server.received.push(m);
      if (m.op === 'sub') ws.send(JSON.stringify({ op: 'ack', id: m.id, topic: m.topic, offset: server.offset, epoch: '7' }));
      if (m.op === 'pub') {
        const offset = ++server.offset;
        if (m.ack) ws.send(JSON.stringify({ op: 'ack', id: m.id, topic: m.topic, offset, epoch: '7' }));
        server.onPub?.(m, offset);
      }
    });
  });
  server.url = `ws://127.0.0.1:${wss.address().port}/ws`;
  server.send = (frame) => server.socket.send(JSON.stringify(frame));
  server.close = async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    await once(wss, 'close');
  };
  return server;
}

describe('rtmsg.js: the server-attested sender (meta.from)', () => {
  let server;
  let client;
  const errors = [];

  before(async () => {
    server = await startServer();
    client = new Client(server.url, { WebSocket, reconnect: false });
    client.onerror = (e) => errors.push(e);
    await waitFor(() => client.state === 'open', 'the client to connect');
  });

  after(async () => {
    client?.close();
    await server?.close();
    assert.deepEqual(errors, [], 'no client errors');
  });

  test('each msg\'s `from` reaches the handler exactly as the server sent it; absent stays absent', async () => {
    const got = [];
    const sub = client.subscribe('chat.*', (data, meta) => got.push({ data, meta }));
    await sub.ready;
    const senders = [
      { id: 'alice' },
      { id: 'alice', info: { name: 'Alice', roles: ['admin'] } },
      { id: '' }, // an anonymous connection
      { id: 'bob', info: null },
      { id: 'bob', info: 'a string' },
      { server: true },
      { id: 'carol', info: [1, 2], later: 'a key a newer server may add' },
      undefined, // an older server: no `from` at all
    ];
    senders.forEach((from, i) => {
      const frame = { op: 'msg', topic: 'chat.lobby', data: { text: `m${i}` }, offset: i + 1, epoch: '7' };
      if (from !== undefined) frame.from = from;
      server.send(frame);
    });
    await waitFor(() => got.length === senders.length, `${senders.length} messages`);
    got.forEach(({ data, meta }, i) => {
      assert.deepEqual(data, { text: `m${i}` });
      assert.equal(meta.topic, 'chat.lobby');
      assert.equal(meta.offset, i + 1);
      assert.deepEqual(meta.from, senders[i], `message ${i}`);
    });
    const last = got[got.length - 1].meta;
    assert.equal(last.from, undefined);
    assert.ok(!('from' in last), 'no `from` key when the server sent none');
    sub.unsubscribe();
  });

  test('binary and text messages carry `from` too', async () => {
    const got = [];
    const sub = client.subscribe('files', (data, meta) => got.push({ data, meta }));
    await sub.ready;
    server.send({ op: 'msg', topic: 'files', data: 'AQID', kind: 'binary', offset: 1, epoch: '7', from: { id: 'dave' } });
    server.send({ op: 'msg', topic: 'files', data: 'plain', kind: 'text', offset: 2, epoch: '7', from: { server: true } });
    await waitFor(() => got.length === 2, 'two messages');
    assert.deepEqual(Array.from(got[0].data), [1, 2, 3]);
    assert.deepEqual(got[0].meta.from, { id: 'dave' });
    assert.equal(got[1].data, 'plain');
    assert.deepEqual(got[1].meta.from, { server: true });
    sub.unsubscribe();
  });

  test('a publish never carries `from`: a forged one in the payload stays payload, the attested sender wins', async () => {
    const got = [];
    const sub = client.subscribe('chat.room', (data, meta) => got.push({ data, meta }));
    await sub.ready;
    // The server attests the connection's identity on the echo, as the real one does.
    server.onPub = (m, offset) =>
      server.send({ op: 'msg', topic: m.topic, data: m.data, offset, epoch: '7', from: { id: 'alice' } });
    // An app (or devtools) trying every way to claim to be bob.
    const offset = await client.publish('chat.room', { from: 'bob', text: 'I am totally bob' }, { from: { id: 'bob' } });
    await client.publish('chat.room', 'hi', { kind: 'text', from: { server: true }, ack: false });
    await waitFor(() => got.length === 2, 'both echoes');
    server.onPub = null;

    const pubs = server.received.filter((m) => m.op === 'pub');
    assert.equal(pubs.length, 2);
    for (const p of pubs) {
      assert.ok(!('from' in p), `pub frame without \`from\`: ${JSON.stringify(p)}`);
      for (const key of Object.keys(p)) assert.ok(['op', 'id', 'topic', 'data', 'ack', 'echo', 'kind'].includes(key), `unexpected key ${key}`);
    }
    assert.deepEqual(pubs[0].data, { from: 'bob', text: 'I am totally bob' }, 'the payload is sent as given');
    assert.equal(got[0].meta.offset, offset);
    assert.deepEqual(got[0].meta.from, { id: 'alice' }, 'the handler sees the attested sender');
    assert.equal(got[0].data.from, 'bob', 'and the payload untouched');
    assert.deepEqual(got[1].meta.from, { id: 'alice' });
    sub.unsubscribe();
  });
});
