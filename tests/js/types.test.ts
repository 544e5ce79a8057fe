// Type test of js/rtmsg.d.ts: the API used as an application would, compiled (never run) with
// `tsc -p tests/js/tsconfig.json` (strict, exactOptionalPropertyTypes, DOM lib).  Each
// `@ts-expect-error` marks a misuse the types must reject: if they become too loose, tsc
// reports the directive as unused and the test fails.
import {
  Client,
  connect,
  DEFAULT_RECONNECT,
  EventSourceClient,
  RtmsgError,
  backoffDelay,
  sse,
  topicMatches,
  type ClientOptions,
  type GapInfo,
  type Kind,
  type MessageMeta,
  type ResetInfo,
  type Sender,
  type SseMeta,
  type State,
  type SubscribeAck,
  type Subscription,
  type WebSocketConstructorLike,
} from '../../js/rtmsg.js';

/** Compiles only if A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(): T | void {}

// ------------------------------------------------------------------ the attested sender

expectType<Equal<MessageMeta['from'], Sender | undefined>>();
expectType<Equal<Sender, { id: string; info?: unknown } | { server: true }>>();

/** What a chat page shows as the author: the server's word, never the payload's. */
function author(meta: MessageMeta): string {
  const from = meta.from;
  if (from === undefined) return '(unknown: older server)';
  if ('server' in from) {
    expectType<Equal<typeof from.server, true>>();
    return 'server';
  }
  // @ts-expect-error info is unknown: narrow it before use
  from.info.name;
  const info = from.info;
  if (typeof info === 'object' && info !== null && 'name' in info) return String(info.name);
  return from.id === '' ? 'anonymous' : from.id;
}

const sender: Sender = { id: 'alice', info: { role: 'admin' } };
const server: Sender = { server: true };
// @ts-expect-error `server` is always true
const notServer: Sender = { server: false };
// @ts-expect-error an attested client sender has an id
const noId: Sender = { info: 1 };
void [sender, server, notServer, noId];

// ------------------------------------------------------------------ Client

interface Chat {
  text: string;
}

async function usage(): Promise<void> {
  const client = new Client('wss://example.org/ws', { reconnect: { initialDelay: 100 }, timeout: 5000 });
  const state: State = client.state;
  void state;
  // @ts-expect-error state changes only through the connection
  client.state = 'open';

  // The handler's data is unknown unless the app names its type.
  const sub: Subscription = client.subscribe('chat.lobby', (data, meta) => {
    expectType<Equal<typeof data, unknown>>();
    expectType<Equal<typeof meta, MessageMeta>>();
    const offset: number = meta.offset;
    const epoch: string = meta.epoch;
    const kind: Kind = meta.kind;
    void [offset, epoch, kind, author(meta)];
    // @ts-expect-error data is unknown until narrowed or typed
    data.text;
  });
  const ack: SubscribeAck = await sub.ready;
  void ack.offset.toFixed(), ack.epoch.padStart(20, '0');
  sub.unsubscribe();
  // @ts-expect-error the subscription's topic is fixed
  sub.topic = 'other';

  client.subscribe<Chat>('chat.*', (msg, meta) => console.log(meta.topic, msg.text.toUpperCase()), {
    history: 50,
    presence: true,
    onJoin: (who, topic) => console.log(who.length, topic.length),
    onLeave: (who) => console.log(who.length),
  });
  client.subscribe('chat.>', (msg: Chat) => msg.text.length);
  // @ts-expect-error history is a number of messages
  client.subscribe('t', () => {}, { history: true });
  // @ts-expect-error a handler is required
  client.subscribe('t');

  // publish: the offset with ack (the default), undefined without.
  const offset: number = await client.publish('chat.lobby', { text: 'hi' });
  const acked: number = await client.publish('chat.lobby', 'hi', { kind: 'text', echo: false });
  const queued: undefined = await client.publish('chat.lobby', { text: 'hi' }, { ack: false });
  const bytes: number = await client.publish('files', new Uint8Array([1, 2, 3]));
  await client.publish('files', new ArrayBuffer(8), { kind: 'binary' });
  await client.publish('nothing', null);
  const flag = Math.random() > 0.5;
  const maybe: number | undefined = await client.publish('t', 1, { ack: flag });
  void [offset, acked, queued, bytes, maybe];
  // @ts-expect-error without ack there is no offset
  const noOffset: number = await client.publish('t', 1, { ack: false });
  // @ts-expect-error text data must be a string
  await client.publish('t', { text: 'hi' }, { kind: 'text' });
  // @ts-expect-error binary data must be bytes
  await client.publish('t', 'hi', { kind: 'binary' });
  // @ts-expect-error undefined is not JSON: publish rejects it
  await client.publish('t', undefined);
  // @ts-expect-error no such kind
  await client.publish('t', 1, { kind: 'xml' });
  // @ts-expect-error the sender is the server's to say: clients cannot send `from`
  await client.publish('t', 1, { from: { id: 'bob' } });
  void noOffset;

  const members: string[] = await client.presence('chat.lobby');
  void members;

  // Events: properties and listeners.
  client.onstate = (s) => console.log(s === 'reconnecting');
  client.ongap = (gap: GapInfo) => console.log(gap.topic, gap.from, gap.to, gap.epoch);
  client.onreset = (r: ResetInfo) => console.log(r.topic, r.epoch, r.previous);
  client.onerror = (error) => {
    if (error instanceof RtmsgError) console.log(error.code === 'ETIMEDOUT' || error.code === 429, error.topic);
    // @ts-expect-error errors may come from a throwing handler: narrow first
    error.code;
  };
  client.addEventListener('state', (e) => console.log(e.state));
  client.addEventListener('gap', (e) => console.log(e.from + e.to, e.topic));
  client.addEventListener('reset', (e) => console.log(e.previous));
  client.addEventListener('error', (e) => console.log(e.error));
  client.addEventListener('custom', (e: Event) => console.log(e.type));
  // @ts-expect-error a state event has no gap fields
  client.addEventListener('state', (e) => e.from);
  // @ts-expect-error onstate takes a State
  client.onstate = (s: number) => s;

  const ws: { readonly protocol: string } | null = client.ws;
  const count: number = client.connections;
  void [ws, count];
  client.close();

  // connect() and the options.
  const options: ClientOptions = { protocols: ['rtmsg.json'], reconnect: false, WebSocket };
  const c2: Client = connect('ws://127.0.0.1:9001/ws', options);
  // @ts-expect-error the subprotocols are a list
  connect('ws://x/ws', { protocols: 'rtmsg.json' });
  // @ts-expect-error a WebSocket implementation is a class
  connect('ws://x/ws', { WebSocket: {} });
  c2.close();
}

// The `ws` package's class has this shape (new WebSocket(address, protocols?, options?)).
declare class NodeWs {
  constructor(address: string | URL, protocols?: string | string[], options?: object);
  readonly protocol: string;
  send(data: string | ArrayBufferLike, cb?: (err?: Error) => void): void;
  close(code?: number, data?: string): void;
}
const nodeWs: WebSocketConstructorLike = NodeWs;
const browserWs: WebSocketConstructorLike = WebSocket;
void [nodeWs, browserWs];

// ------------------------------------------------------------------ SSE

function sseUsage(): void {
  const stream = new EventSourceClient('/sse?topic=prices.*', {
    lastEventId: '0',
    events: ['message'],
    onmessage: (data, meta: SseMeta) => {
      const m = JSON.parse(data) as { topic: string; from?: Sender };
      console.log(meta.id, meta.type, m.topic, m.from);
    },
    onstate: (s) => console.log(s),
    reconnect: { maxDelay: 30000 },
    EventSource,
  });
  stream.addEventListener('message', (e) => console.log(e.data.length, e.id, e.eventType));
  stream.addEventListener('state', (e) => console.log(e.state));
  const last: string = stream.lastEventId;
  void last;
  stream.reconnect();
  stream.close();
  // @ts-expect-error SSE data is text
  sse('/sse', { onmessage: (data: object) => data });
  // @ts-expect-error a last event id is a string
  sse('/sse', { lastEventId: 0 });
  const s2: EventSourceClient = sse('/sse');
  s2.close();
}

// ------------------------------------------------------------------ helpers

const delay: number = backoffDelay(3, { jitter: 0 }, () => 0.5);
const matches: boolean = topicMatches('prices.*', 'prices.AAPL');
const initial: number = DEFAULT_RECONNECT.initialDelay;
// @ts-expect-error the defaults are frozen
DEFAULT_RECONNECT.maxDelay = 1;
// @ts-expect-error an attempt is a number
backoffDelay('3');
const err = new RtmsgError('refused', 403, { topic: 'a' });
const code: number | string = err.code;
// @ts-expect-error codes are numbers or the client-side E* strings
new RtmsgError('x', 'EWHATEVER');
void [delay, matches, initial, code, usage, sseUsage];
