// rtmsg.js — a browser (and Node) client for the rtmsg wire protocol (JSON codec).
//
// A plain ES module: no build step, no dependencies.  In the browser:
//
//   import { Client } from '/rtmsg.js';
//   const client = new Client('wss://example.org/ws');
//   const sub = client.subscribe('chat.lobby', (data, meta) => console.log(meta.offset, meta.from?.id, data));
//   await client.publish('chat.lobby', { text: 'hi' });   // resolves with the offset
//
// Under Node, pass a WebSocket implementation: `new Client(url, { WebSocket: (await import('ws')).default })`.
//
// What the client guarantees: after a dropped connection it reconnects (exponential backoff
// with jitter) and resubscribes every exact topic with `since` = the last offset it delivered
// and that offset's epoch, so the server replays what was missed: handlers see every message
// once and in order.  If the server no longer retains the resume point it says so with a gap
// notice (`ongap`); if the topic's epoch changed (the server restarted) offsets start over
// and the client follows the new epoch.  Wildcard subscriptions are resubscribed but cannot
// be resumed (the server replays only exact topics).  Publishes are at most once: one whose
// acknowledgement is lost with the connection is rejected (code 'ECONNRESET'), for the app to
// retry; publishes made while disconnected wait for the next connection.
//
// Exports: Client (and connect()), EventSourceClient (and sse()) for SSE streams,
// RtmsgError, backoffDelay, topicMatches, DEFAULT_RECONNECT.  TypeScript types: rtmsg.d.ts
// beside this file; as an npm package (package.json here), see README.md here.

/** @typedef {'connecting'|'open'|'reconnecting'|'closed'} State */

/**
 * @typedef {object} ReconnectOptions
 * @property {number} [initialDelay=250] delay before the first retry, in ms
 * @property {number} [maxDelay=10000]   upper bound of any delay, in ms
 * @property {number} [factor=2]         growth per failed attempt
 * @property {number} [jitter=0.5]       0: none; 1: full jitter (a delay d becomes uniform in [d*(1-jitter), d])
 */

/**
 * @typedef {object} MessageMeta
 * @property {string} topic  the concrete topic (also for wildcard subscriptions)
 * @property {number} offset the message's offset in its topic
 * @property {string} epoch  the topic's epoch (a string of digits: it may exceed 2^53)
 * @property {'json'|'text'|'binary'} kind how `data` was published (binary data is a Uint8Array)
 * @property {Sender} [from] who published it, as the server attests (absent from older servers)
 */

/**
 * The publisher of a message, filled in by the server (a client cannot set or forge it, and
 * rtmsg.js never sends it): `{id, info?}` for a message a client connection published, where
 * `id` is the identity the server's authentication gave that connection ('' if anonymous) and
 * `info` any JSON value the server's upgrade hook attached to it; `{server: true}` for a
 * message the server published itself.  Passed on exactly as received.
 * @typedef {{id: string, info?: unknown} | {server: true}} Sender
 */

/** Default reconnection settings. */
export const DEFAULT_RECONNECT = Object.freeze({ initialDelay: 250, maxDelay: 10000, factor: 2, jitter: 0.5 });

/**
 * The delay before reconnection attempt `attempt` (0 for the first retry): `initialDelay *
 * factor^attempt`, capped at `maxDelay`, then reduced by a random fraction of at most `jitter`.
 * The result is always within [0, maxDelay].
 * @param {number} attempt
 * @param {ReconnectOptions} [options]
 * @param {() => number} [random] a source of numbers in [0, 1)
 * @returns {number} milliseconds
 */
export function backoffDelay(attempt, options = {}, random = Math.random) {
  const o = { ...DEFAULT_RECONNECT, ...options };
  const jitter = Math.min(1, Math.max(0, o.jitter));
  const base = Math.min(o.maxDelay, o.initialDelay * Math.pow(o.factor, Math.max(0, attempt)));
  return Math.max(0, Math.min(o.maxDelay, base * (1 - jitter * random())));
}

/**
 * Does `topic` match the subscription `pattern` (`*` = one level, a final `>` = one or more)?
 * @param {string} pattern
 * @param {string} topic
 */
export function topicMatches(pattern, topic) {
  const p = pattern.split('.');
  const t = topic.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return t.length > i;
    if (i >= t.length || (p[i] !== '*' && p[i] !== t[i])) return false;
  }
  return p.length === t.length;
}

const isWildcard = (pattern) => pattern.split('.').some((l) => l === '*' || l === '>');

function toBase64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** An Error with a `code`: a protocol code (400, 403, 404, 413, 422, 429, 431, 500, 507) or a
    client-side one ('ECONNRESET', 'ECLOSED', 'ETIMEDOUT', 'ECANCELED', 'EPROTO'). */
export class RtmsgError extends Error {
  constructor(message, code, details = {}) {
    super(message);
    this.name = 'RtmsgError';
    this.code = code;
    Object.assign(this, details);
  }
}

/**
 * A connection to an rtmsg server's wire-protocol endpoint, kept alive across drops.
 *
 * Events (`addEventListener(type, fn)`; the event carries the fields listed, and the matching
 * `on<type>` property, if set, is called with the value shown):
 * - `state`: `event.state`; `onstate(state)`
 * - `gap`:   `event.topic, event.from, event.to, event.epoch`; `ongap({topic, from, to, epoch})`
 * - `reset`: the topic's epoch changed (offsets start over): `event.topic, event.epoch, event.previous`; `onreset({...})`
 * - `error`: `event.error`; `onerror(error)` — errors no promise reports (failed resubscriptions,
 *   errors for publishes without ack, throwing handlers, unusable server replies)
 */
export class Client extends EventTarget {
  /**
   * Connects at once (state 'connecting').
   * @param {string} url e.g. 'ws://127.0.0.1:9001/ws'
   * @param {object} [options]
   * @param {string[]} [options.protocols=['rtmsg.json']] subprotocols offered (only the JSON codec is spoken)
   * @param {ReconnectOptions|false} [options.reconnect] false: do not reconnect
   * @param {number} [options.timeout=10000] ms to wait for a reply before rejecting with 'ETIMEDOUT' (0: forever)
   * @param {typeof WebSocket} [options.WebSocket=globalThis.WebSocket] e.g. the `ws` package under Node
   */
  constructor(url, options = {}) {
    super();
    this.url = url;
    this.protocols = options.protocols ?? ['rtmsg.json'];
    this.reconnect = options.reconnect === false ? false : { ...DEFAULT_RECONNECT, ...options.reconnect };
    this.timeout = options.timeout ?? 10000;
    this._WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this._WebSocket !== 'function') throw new TypeError('rtmsg: no WebSocket implementation');
    /** @type {State} */
    this.state = 'connecting';
    /** @type {WebSocket|null} the current socket (for diagnostics; do not use it to send) */
    this.ws = null;
    /** Number of connections made so far (1 after the first open). */
    this.connections = 0;
    this._nextId = 1;
    this._pending = new Map(); // request id -> {resolve, reject, timer, sent, frame}
    this._outbox = []; // frames waiting for an open socket, in order
    this._subs = new Map(); // topic or pattern -> subscription record
    this._positions = new Map(); // concrete topic -> {epoch, offset} of the last message delivered
    this._attempt = 0;
    this._retryTimer = null;
    this._connect();
  }

  /**
   * Subscribes `handler` to a topic or pattern (`chat.*`, `chat.>`).  Several subscribe() calls
   * for one topic share one server subscription; `history` applies only to the first, and
   * `presence` to the topic as soon as one of them asks for it.
   * @param {string} topic
   * @param {(data: any, meta: MessageMeta) => void} handler
   * @param {object} [options]
   * @param {number} [options.history] first deliver the last N retained messages
   * @param {boolean} [options.presence] receive join/leave events
   * @param {(who: string, topic: string) => void} [options.onJoin]
   * @param {(who: string, topic: string) => void} [options.onLeave]
   * @returns {{topic: string, ready: Promise<{offset: number, epoch: string}>, unsubscribe: () => void}}
   *   `ready` resolves on the server's acknowledgement and rejects (with `.code`) if it refuses.
   */
  subscribe(topic, handler, options = {}) {
    if (this.state === 'closed') throw new RtmsgError('rtmsg: client is closed', 'ECLOSED');
    const presence = Boolean(options.presence || options.onJoin || options.onLeave);
    const entry = { handler, onJoin: options.onJoin, onLeave: options.onLeave };
    let sub = this._subs.get(topic);
    if (!sub) {
      sub = { topic, entries: new Set(), presence, history: options.history ?? 0, acked: false, requestId: 0 };
      sub.ready = new Promise((resolve, reject) => Object.assign(sub, { resolve, reject }));
      sub.ready.catch(() => {}); // reported through `ready` or onerror; never unhandled
      this._subs.set(topic, sub);
      sub.entries.add(entry);
      if (this.state === 'open') this._sendSubscribe(sub);
    } else {
      sub.entries.add(entry);
      if (presence && !sub.presence) {
        sub.presence = true;
        // Acknowledged on this connection: upgrade now (else when the pending ack arrives).
        if (this.state === 'open' && sub.requestId === 0) this._resubscribe(sub);
      }
    }
    return {
      topic,
      ready: sub.ready,
      unsubscribe: () => this._unsubscribe(sub, entry),
    };
  }

  /**
   * Publishes `data` to an exact topic.
   * @param {string} topic
   * @param {any} data any JSON value; a string with kind 'text'; a Uint8Array/ArrayBuffer (kind 'binary')
   * @param {object} [options]
   * @param {boolean} [options.ack=true]   wait for the server's acknowledgement (else resolves once queued)
   * @param {boolean} [options.echo=true]  also deliver to this connection's own subscriptions
   * @param {'json'|'text'|'binary'} [options.kind] default: 'binary' for bytes, else 'json'
   * @returns {Promise<number|undefined>} the message's offset (undefined without ack)
   */
  publish(topic, data, { ack = true, echo = true, kind } = {}) {
    if (data instanceof ArrayBuffer) data = new Uint8Array(data);
    kind ??= ArrayBuffer.isView(data) ? 'binary' : 'json';
    const frame = { op: 'pub', topic, data, ack, echo };
    if (kind === 'binary') {
      const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : null;
      if (!bytes) return Promise.reject(new TypeError('rtmsg: binary data must be a Uint8Array or ArrayBuffer'));
      frame.data = toBase64(bytes);
      frame.kind = 'binary';
    } else if (kind === 'text') {
      if (typeof data !== 'string') return Promise.reject(new TypeError('rtmsg: text data must be a string'));
      frame.kind = 'text';
    } else if (data === undefined) {
      return Promise.reject(new TypeError('rtmsg: data is undefined'));
    }
    if (!ack) {
      frame.id = this._nextId++; // an error reply, if any, goes to onerror
      if (this.state === 'closed') return Promise.reject(new RtmsgError('rtmsg: client is closed', 'ECLOSED'));
      this._sendOrQueue(frame);
      return Promise.resolve(undefined);
    }
    return this._request(frame).then((reply) => reply.offset);
  }

  /**
   * Asks who is subscribed to a topic (identities the server's authentication assigned;
   * anonymous connections are not listed).
   * @param {string} topic
   * @returns {Promise<string[]>}
   */
  presence(topic) {
    return this._request({ op: 'presence', topic }).then((reply) => reply.members ?? []);
  }

  /** Closes the connection for good: pending requests reject with 'ECLOSED'. */
  close() {
    if (this.state === 'closed') return;
    clearTimeout(this._retryTimer);
    this._setState('closed');
    if (this.ws) {
      this._detach(this.ws);
      try {
        this.ws.close(1000);
      } catch {
        /* already closing */
      }
      this.ws = null;
    }
    for (const id of [...this._pending.keys()]) this._fail(id, new RtmsgError('rtmsg: client closed', 'ECLOSED'));
    for (const sub of this._subs.values())
      if (!sub.acked) sub.reject(new RtmsgError('rtmsg: client closed', 'ECLOSED'));
    this._subs.clear();
  }

  // ------------------------------------------------------------------ connection

  _connect() {
    let ws;
    try {
      ws = new this._WebSocket(this.url, this.protocols);
    } catch (err) {
      this._emit('error', err);
      this._scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => this._onOpen(ws);
    ws.onmessage = (ev) => this._onMessage(ev.data);
    ws.onclose = () => this._onClose(ws);
    ws.onerror = () => {}; // a close event follows
  }

  _detach(ws) {
    ws.onopen = ws.onmessage = ws.onclose = null;
    ws.onerror = () => {}; // the ws package throws on an 'error' nobody listens to
  }

  _onOpen(ws) {
    if (ws.protocol && ws.protocol !== 'rtmsg.json') {
      this._emit('error', new RtmsgError(`rtmsg: server chose subprotocol ${ws.protocol}; only rtmsg.json is spoken`, 'EPROTO'));
      ws.close(1000);
      return;
    }
    this._attempt = 0;
    this.connections++;
    this._setState('open');
    // Subscriptions first (each resumes where it stopped), then requests made meanwhile.
    for (const sub of this._subs.values()) this._sendSubscribe(sub);
    const queued = this._outbox.splice(0);
    for (const item of queued) this._sendNow(item);
  }

  _onClose(ws) {
    if (ws !== this.ws) return;
    this._detach(ws);
    this.ws = null;
    if (this.state === 'closed') return;
    // Requests already sent are lost with the connection (at most once): reject them.
    for (const [id, p] of [...this._pending]) {
      if (p.sent) this._fail(id, new RtmsgError('rtmsg: connection lost before the reply', 'ECONNRESET'));
    }
    for (const sub of this._subs.values()) sub.requestId = 0;
    this._scheduleReconnect();
  }

  _scheduleReconnect() {
    if (this.state === 'closed') return;
    if (!this.reconnect) return this.close();
    this._setState('reconnecting');
    const delay = backoffDelay(this._attempt++, this.reconnect || {});
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => this._connect(), delay);
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this._emit('state', state, { state });
  }

  /** Dispatches event `type` with `fields`, and calls `on<type>(value)` if set. */
  _emit(type, value, fields = type === 'error' ? { error: value } : value) {
    const ev = new Event(type);
    Object.assign(ev, fields);
    this.dispatchEvent(ev);
    const hook = this['on' + type];
    if (typeof hook === 'function') {
      try {
        hook.call(this, value);
      } catch (err) {
        if (type !== 'error') this._emit('error', err);
      }
    }
  }

  // ------------------------------------------------------------------ requests

  /** Sends `frame` with a fresh id; resolves with the reply (ack, members), rejects on error. */
  _request(frame) {
    if (this.state === 'closed') return Promise.reject(new RtmsgError('rtmsg: client is closed', 'ECLOSED'));
    return new Promise((resolve, reject) => this._start(frame, resolve, reject));
  }

  /** Sends `frame` with a fresh id (queued until open); returns the id.  `resolve(reply)` or
      `reject(error)` runs synchronously when the reply arrives, before the next message is read. */
  _start(frame, resolve, reject, timeout = this.timeout) {
    const id = this._nextId++;
    frame = { ...frame, id };
    const p = { resolve, reject, sent: false, frame, timer: null };
    if (timeout > 0) {
      p.timer = setTimeout(
        () => this._fail(id, new RtmsgError(`rtmsg: no reply to ${frame.op} within ${timeout} ms`, 'ETIMEDOUT')),
        timeout,
      );
    }
    this._pending.set(id, p);
    this._sendOrQueue(frame);
    return id;
  }

  _sendOrQueue(frame) {
    if (this.state === 'open') this._sendNow(frame);
    else this._outbox.push(frame);
  }

  _sendNow(frame) {
    const p = frame.id !== undefined ? this._pending.get(frame.id) : undefined;
    if (p) p.sent = true;
    else if (frame.op !== 'pub' || frame.ack) return; // timed out or failed while queued
    this.ws.send(JSON.stringify(frame));
  }

  _fail(id, err) {
    const p = this._pending.get(id);
    if (!p) return;
    this._pending.delete(id);
    clearTimeout(p.timer);
    p.reject(err);
  }

  _sendSubscribe(sub) {
    const frame = { op: 'sub', topic: sub.topic };
    const pos = this._positions.get(sub.topic);
    if (pos && !isWildcard(sub.topic)) {
      frame.since = pos.offset;
      frame.epoch = pos.epoch;
    } else if (sub.history > 0 && !sub.acked) {
      frame.history = sub.history;
    }
    if (sub.presence) frame.presence = true;
    // The acknowledgement is handled synchronously: the replayed messages right behind it
    // must find the subscription's position already set.  No timeout: a subscription is
    // sent again on every connection until the server answers it.
    const requestId = this._start(
      frame,
      (ack) => {
        if (this._subs.get(sub.topic) !== sub || sub.requestId !== requestId) return;
        sub.requestId = 0;
        this._onSubscribed(sub, ack, frame);
      },
      (err) => {
        if (this._subs.get(sub.topic) !== sub || err.code === 'ECONNRESET' || err.code === 'ECLOSED') return;
        // Refused: the subscription is gone.
        this._subs.delete(sub.topic);
        this._emit('error', Object.assign(err, { topic: sub.topic }));
        sub.reject(err);
      },
      0,
    );
    sub.requestId = requestId;
  }

  _onSubscribed(sub, ack, frame) {
    if (!isWildcard(sub.topic)) {
      const epoch = String(ack.epoch ?? '');
      const pos = this._positions.get(sub.topic);
      if (pos && pos.epoch !== epoch) {
        // A new lifetime of the topic: offsets start over, and the server replays from its start.
        this._positions.set(sub.topic, { epoch, offset: 0 });
        this._emit('reset', { topic: sub.topic, epoch, previous: pos.epoch });
      } else if (!pos) {
        // Nothing seen yet: live messages follow the acknowledged offset, history replays come before.
        this._positions.set(sub.topic, { epoch, offset: frame.history ? 0 : ack.offset });
      }
    }
    if (!sub.acked) {
      sub.acked = true;
      sub.resolve({ offset: ack.offset, epoch: String(ack.epoch ?? '') });
    }
    if (sub.presence && !frame.presence) this._resubscribe(sub); // presence was asked for meanwhile
  }

  /** Replaces the server subscription (to change its options), resuming from the last offset seen. */
  _resubscribe(sub) {
    this._request({ op: 'unsub', topic: sub.topic }).catch(() => {});
    this._sendSubscribe(sub);
  }

  _unsubscribe(sub, entry) {
    if (!sub.entries.delete(entry) || sub.entries.size > 0 || this._subs.get(sub.topic) !== sub) return;
    this._subs.delete(sub.topic);
    if (!sub.acked) sub.reject(new RtmsgError('rtmsg: unsubscribed before the acknowledgement', 'ECANCELED'));
    if (!isWildcard(sub.topic)) this._positions.delete(sub.topic);
    if (this.state === 'open') this._request({ op: 'unsub', topic: sub.topic }).catch(() => {});
  }

  // ------------------------------------------------------------------ incoming

  _onMessage(raw) {
    let m;
    try {
      m = JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw));
    } catch (err) {
      this._emit('error', new RtmsgError('rtmsg: unreadable server message', 'EPROTO', { cause: err }));
      return;
    }
    switch (m.op) {
      case 'msg':
        return this._deliver(m);
      case 'ack':
      case 'members': {
        const p = this._pending.get(m.id);
        if (!p) return;
        this._pending.delete(m.id);
        clearTimeout(p.timer);
        return p.resolve(m);
      }
      case 'error': {
        const err = new RtmsgError(m.message || `error ${m.code}`, m.code, { id: m.id });
        if (this._pending.has(m.id)) return this._fail(m.id, err);
        return this._emit('error', err);
      }
      case 'gap':
        return this._emit('gap', { topic: m.topic, from: m.offset, to: m.to, epoch: String(m.epoch ?? '') });
      case 'join':
      case 'leave':
        for (const sub of this._matching(m.topic))
          for (const e of [...sub.entries]) {
            const fn = m.op === 'join' ? e.onJoin : e.onLeave;
            if (fn) this._call(fn, m.who, m.topic);
          }
        return;
      default:
        return; // newer servers may add operations
    }
  }

  /** Subscriptions (exact and wildcard) that `topic` belongs to. */
  _matching(topic) {
    const out = [];
    for (const sub of this._subs.values()) if (sub.topic === topic || topicMatches(sub.topic, topic)) out.push(sub);
    return out;
  }

  _deliver(m) {
    const epoch = String(m.epoch ?? '');
    const pos = this._positions.get(m.topic);
    if (pos && pos.epoch === epoch && m.offset <= pos.offset) return; // already delivered
    const subs = this._matching(m.topic);
    if (subs.length === 0) return; // unsubscribed meanwhile
    this._positions.set(m.topic, { epoch, offset: m.offset });
    const kind = m.kind ?? 'json';
    const data = kind === 'binary' ? fromBase64(m.data) : m.data;
    const meta = { topic: m.topic, offset: m.offset, epoch, kind };
    if (m.from !== undefined) meta.from = m.from; // the server's attestation, as sent
    for (const sub of subs) for (const e of [...sub.entries]) this._call(e.handler, data, meta);
  }

  _call(fn, ...args) {
    try {
      fn(...args);
    } catch (err) {
      this._emit('error', err);
    }
  }
}

/**
 * Connects and returns the Client (same as `new Client(url, options)`).
 * @param {string} url
 * @param {object} [options] see Client
 */
export function connect(url, options) {
  return new Client(url, options);
}

/**
 * A small helper around the browser's `EventSource` for an rtmsg SSE stream: it remembers the
 * last event id, exposes `state`, and reconnects by itself when the EventSource gives up (an
 * HTTP error ends an EventSource for good), passing `?lastEventId=` so that the stream
 * resumes after the last event seen.  (On its own reconnects the EventSource already sends
 * Last-Event-ID.)  Events: `state` (`event.state`, `onstate(state)`).
 */
export class EventSourceClient extends EventTarget {
  /**
   * @param {string} url e.g. '/sse'
   * @param {object} [options]
   * @param {(data: string, meta: {id: string, type: string}) => void} [options.onmessage]
   * @param {(state: State) => void} [options.onstate]
   * @param {string} [options.lastEventId] resume after this id
   * @param {string[]} [options.events=['message']] event types to listen for
   * @param {ReconnectOptions|false} [options.reconnect] backoff of the helper's own reconnects
   * @param {typeof EventSource} [options.EventSource=globalThis.EventSource]
   */
  constructor(url, options = {}) {
    super();
    this.url = url;
    this.onmessage = options.onmessage ?? null;
    this.onstate = options.onstate ?? null;
    this.lastEventId = options.lastEventId ?? '';
    this.events = options.events ?? ['message'];
    this.reconnectOptions = options.reconnect === false ? false : { ...DEFAULT_RECONNECT, ...options.reconnect };
    this._EventSource = options.EventSource ?? globalThis.EventSource;
    /** @type {State} */
    this.state = 'connecting';
    this.source = null;
    this._attempt = 0;
    this._timer = null;
    this._open();
  }

  /** Closes the current EventSource and opens a new one that resumes after `lastEventId`. */
  reconnect() {
    if (this.state === 'closed') return;
    clearTimeout(this._timer);
    this._drop();
    this._setState('reconnecting');
    this._open();
  }

  /** Stops for good. */
  close() {
    clearTimeout(this._timer);
    this._drop();
    this._setState('closed');
  }

  _open() {
    let url = this.url;
    if (this.lastEventId !== '') {
      const u = new URL(url, globalThis.location?.href ?? 'http://localhost/');
      u.searchParams.set('lastEventId', this.lastEventId);
      url = /^[a-z][a-z0-9+.-]*:/i.test(this.url) ? u.href : u.pathname + u.search;
    }
    const es = new this._EventSource(url);
    this.source = es;
    es.onopen = () => {
      this._attempt = 0;
      this._setState('open');
    };
    es.onerror = () => {
      if (es !== this.source) return;
      if (es.readyState === 2 /* CLOSED: the EventSource gave up */) {
        this._drop();
        if (!this.reconnectOptions) return this._setState('closed');
        this._setState('reconnecting');
        this._timer = setTimeout(() => this._open(), backoffDelay(this._attempt++, this.reconnectOptions));
      } else {
        this._setState('reconnecting'); // the EventSource retries with Last-Event-ID
      }
    };
    const onEvent = (ev) => {
      if (ev.lastEventId) this.lastEventId = ev.lastEventId;
      const meta = { id: ev.lastEventId, type: ev.type };
      const out = new Event('message');
      Object.assign(out, { data: ev.data, id: meta.id, eventType: meta.type }); // (`type` is read-only)
      this.dispatchEvent(out);
      if (this.onmessage) this.onmessage(ev.data, meta);
    };
    for (const type of this.events) es.addEventListener(type, onEvent);
  }

  _drop() {
    if (!this.source) return;
    this.source.onopen = this.source.onerror = null;
    this.source.close();
    this.source = null;
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    const ev = new Event('state');
    ev.state = state;
    this.dispatchEvent(ev);
    if (typeof this.onstate === 'function') this.onstate(state);
  }
}

/**
 * Opens an SSE stream (same as `new EventSourceClient(url, options)`).
 * @param {string} url
 * @param {object} [options] see EventSourceClient
 */
export function sse(url, options) {
  return new EventSourceClient(url, options);
}
