// TypeScript types for rtmsg.js, the client of the rtmsg wire protocol (JSON codec).
//
// They describe what rtmsg.js does; its JSDoc is the longer manual.  They use the global
// EventTarget and Event, which TypeScript's "DOM" lib declares (and @types/node, for Node);
// the WebSocket and EventSource implementations are described by the few members rtmsg.js
// uses, so that the browser's and the `ws` and `eventsource` packages' all fit.

/** A connection's state: 'closed' only after close() (or when reconnecting is off). */
export type State = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** How a message's data was published: JSON, a text string, or bytes (a Uint8Array). */
export type Kind = 'json' | 'text' | 'binary';

/** Reconnection backoff; every field is optional and defaults to DEFAULT_RECONNECT's. */
export interface ReconnectOptions {
  /** Delay before the first retry, in ms (250). */
  initialDelay?: number;
  /** Upper bound of any delay, in ms (10000). */
  maxDelay?: number;
  /** Growth per failed attempt (2). */
  factor?: number;
  /** 0: none; 1: full jitter (a delay d becomes uniform in [d*(1-jitter), d]) (0.5). */
  jitter?: number;
}

/**
 * The publisher of a message, filled in by the server: a client cannot set or forge it, and
 * rtmsg.js never sends it.
 * - `{id, info?}`: a client connection published it; `id` is the identity the server's
 *   authentication gave that connection ('' if anonymous), `info` any JSON value the server's
 *   upgrade hook attached to it (absent if none).
 * - `{server: true}`: the server published it itself.
 */
export type Sender = { id: string; info?: unknown } | { server: true };

/** What a subscription handler learns about a message besides its data. */
export interface MessageMeta {
  /** The concrete topic (also for wildcard subscriptions). */
  topic: string;
  /** The message's offset in its topic. */
  offset: number;
  /** The topic's epoch: a string of digits (it may exceed 2^53). */
  epoch: string;
  /** How the data was published ('binary' data is a Uint8Array, 'text' a string). */
  kind: Kind;
  /** Who published it, as the server attests, exactly as received; absent from older servers. */
  from?: Sender;
}

/** Client-side error codes (server errors carry the protocol's numeric code). */
export type ClientErrorCode = 'ECONNRESET' | 'ECLOSED' | 'ETIMEDOUT' | 'ECANCELED' | 'EPROTO';

/**
 * An Error with a `code`: a protocol code (400, 403, 404, 413, 422, 429, 431, 500, 507) or a
 * client-side one: 'ECONNRESET' (connection lost before the reply), 'ECLOSED' (client closed),
 * 'ETIMEDOUT' (no reply in time), 'ECANCELED' (unsubscribed before the acknowledgement),
 * 'EPROTO' (unusable server reply or subprotocol).
 */
export class RtmsgError extends Error {
  /** @param details extra fields copied onto the error (`id`, `topic`, `cause`, ...) */
  constructor(message: string, code: number | ClientErrorCode, details?: object);
  name: 'RtmsgError';
  code: number | ClientErrorCode;
  /** The request id the server's error answers (server errors only). */
  id?: number;
  /** The topic of a refused subscription. */
  topic?: string;
}

/** Default reconnection settings: 250 ms initial delay, 10 s at most, factor 2, jitter 0.5. */
export const DEFAULT_RECONNECT: Readonly<Required<ReconnectOptions>>;

/**
 * The delay before reconnection attempt `attempt` (0 for the first retry): `initialDelay *
 * factor^attempt`, capped at `maxDelay`, then reduced by a random fraction of at most
 * `jitter`.  Always within [0, maxDelay].
 * @param random a source of numbers in [0, 1) (default Math.random)
 * @returns milliseconds
 */
export function backoffDelay(attempt: number, options?: ReconnectOptions, random?: () => number): number;

/** Does `topic` match the subscription `pattern` (`*` = one level, a final `>` = one or more)? */
export function topicMatches(pattern: string, topic: string): boolean;

// ------------------------------------------------------------------ Client

/** The members of a WebSocket that rtmsg.js uses (the browser's, or the `ws` package's). */
export interface WebSocketLike {
  readonly protocol: string;
  send(data: string): void;
  close(code?: number): void;
}

/** A WebSocket class: `new (url, protocols)`. */
export type WebSocketConstructorLike = new (url: string, protocols: string[]) => WebSocketLike;

export interface ClientOptions {
  /** Subprotocols offered (default ['rtmsg.json']; only the JSON codec is spoken). */
  protocols?: string[];
  /** Backoff between reconnection attempts; false: do not reconnect (a drop closes the client). */
  reconnect?: ReconnectOptions | false;
  /** Ms to wait for a reply before rejecting with 'ETIMEDOUT' (default 10000; 0: forever). */
  timeout?: number;
  /** The WebSocket implementation (default globalThis.WebSocket; under Node, the `ws` package). */
  WebSocket?: WebSocketConstructorLike;
}

export interface SubscribeOptions {
  /** First deliver the last N retained messages (only the first subscribe() of a topic). */
  history?: number;
  /** Receive join/leave events (implied by onJoin or onLeave). */
  presence?: boolean;
  /** An identity joined the topic. */
  onJoin?: (who: string, topic: string) => void;
  /** An identity left the topic. */
  onLeave?: (who: string, topic: string) => void;
}

/** The position a subscription was acknowledged at. */
export interface SubscribeAck {
  offset: number;
  epoch: string;
}

/** What subscribe() returns. */
export interface Subscription {
  readonly topic: string;
  /** Resolves on the server's acknowledgement; rejects with an RtmsgError if it refuses
      (or 'ECLOSED', 'ECANCELED'). */
  readonly ready: Promise<SubscribeAck>;
  /** Removes this handler; the last one of a topic ends the server subscription. */
  unsubscribe(): void;
}

export interface PublishOptions<K extends Kind = Kind> {
  /** Wait for the server's acknowledgement (default true); else resolve once queued. */
  ack?: boolean;
  /** Also deliver to this connection's own subscriptions (default true). */
  echo?: boolean;
  /** Default: 'binary' for a Uint8Array, ArrayBuffer or other ArrayBufferView, else 'json'. */
  kind?: K;
}

/** What publish() accepts for each kind: a string for 'text', bytes for 'binary', any JSON
    value (anything but undefined) for 'json'. */
export type PublishData<K extends Kind> = [K] extends ['text']
  ? string
  : [K] extends ['binary']
    ? ArrayBuffer | ArrayBufferView
    : {} | null;

/** A gap: the server no longer retains offsets `from` to `to` (both included) of the topic. */
export interface GapInfo {
  topic: string;
  /** The first missing offset. */
  from: number;
  /** The last missing offset. */
  to: number;
  epoch: string;
}

/** The topic's epoch changed (the server restarted it): offsets start over. */
export interface ResetInfo {
  topic: string;
  epoch: string;
  previous: string;
}

export interface StateEvent extends Event {
  readonly state: State;
}
export interface GapEvent extends Event, GapInfo {}
export interface ResetEvent extends Event, ResetInfo {}
/** `error` is usually an RtmsgError, but a throwing handler's exception is passed on as is. */
export interface ClientErrorEvent extends Event {
  readonly error: unknown;
}

export interface ClientEventMap {
  state: StateEvent;
  gap: GapEvent;
  reset: ResetEvent;
  error: ClientErrorEvent;
}

/**
 * A connection to an rtmsg server's wire-protocol endpoint, kept alive across drops: it
 * reconnects with backoff and resumes every exact topic where it stopped, so handlers see
 * every message once and in order (or are told of a gap or a reset).  Publishes are at most
 * once.  Events: 'state', 'gap', 'reset', 'error' (also as the on<type> properties).
 */
export class Client extends EventTarget {
  /** Connects at once (state 'connecting').  Throws a TypeError without a WebSocket class. */
  constructor(url: string, options?: ClientOptions);

  url: string;
  protocols: string[];
  reconnect: Required<ReconnectOptions> | false;
  timeout: number;
  readonly state: State;
  /** The current socket, for diagnostics: do not use it to send. */
  readonly ws: WebSocketLike | null;
  /** Number of connections made so far (1 after the first open). */
  readonly connections: number;

  onstate?: ((this: Client, state: State) => void) | null;
  ongap?: ((this: Client, gap: GapInfo) => void) | null;
  onreset?: ((this: Client, reset: ResetInfo) => void) | null;
  /** Errors no promise reports: failed resubscriptions, errors for publishes without ack,
      throwing handlers (their exception as is), unusable server replies. */
  onerror?: ((this: Client, error: unknown) => void) | null;

  /**
   * Subscribes `handler` to a topic or pattern (`chat.*`, `chat.>`).  Several subscribe()
   * calls for one topic share one server subscription.  `T` is the data's type as the app
   * knows it (rtmsg.js does not check it); binary data arrives as a Uint8Array.
   * Throws an RtmsgError ('ECLOSED') once the client is closed.
   */
  subscribe<T = unknown>(
    topic: string,
    handler: (data: T, meta: MessageMeta) => void,
    options?: SubscribeOptions,
  ): Subscription;

  /**
   * Publishes `data` to an exact topic.  Resolves with the message's offset (with ack, the
   * default), or with undefined once queued (`ack: false`); rejects with an RtmsgError (or a
   * TypeError for data the kind cannot carry).
   */
  publish<K extends Kind = 'json'>(
    topic: string,
    data: PublishData<K>,
    options?: PublishOptions<K> & { ack?: true },
  ): Promise<number>;
  publish<K extends Kind = 'json'>(
    topic: string,
    data: PublishData<K>,
    options: PublishOptions<K> & { ack: false },
  ): Promise<undefined>;
  publish<K extends Kind = 'json'>(
    topic: string,
    data: PublishData<K>,
    options?: PublishOptions<K>,
  ): Promise<number | undefined>;

  /** Who is subscribed to a topic (identities from the server's authentication). */
  presence(topic: string): Promise<string[]>;

  /** Closes the connection for good: pending requests reject with 'ECLOSED'. */
  close(): void;

  addEventListener<K extends keyof ClientEventMap>(
    type: K,
    listener: (this: Client, event: ClientEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends keyof ClientEventMap>(
    type: K,
    listener: (this: Client, event: ClientEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
}

/** Connects and returns the Client (same as `new Client(url, options)`). */
export function connect(url: string, options?: ClientOptions): Client;

// ------------------------------------------------------------------ EventSourceClient

/** The members of an EventSource that rtmsg.js uses (the browser's, or the `eventsource` package's). */
export interface EventSourceLike {
  readonly readyState: number;
  close(): void;
  addEventListener(type: string, listener: (event: any) => void): void;
}

/** An EventSource class: `new (url)`. */
export type EventSourceConstructorLike = new (url: string) => EventSourceLike;

/** The SSE event's id (its `id:` field, or the last one seen) and type. */
export interface SseMeta {
  id: string;
  type: string;
}

export interface EventSourceClientOptions {
  onmessage?: ((this: EventSourceClient, data: string, meta: SseMeta) => void) | null;
  onstate?: ((this: EventSourceClient, state: State) => void) | null;
  /** Resume after this id. */
  lastEventId?: string;
  /** Event types to listen for (default ['message']). */
  events?: string[];
  /** Backoff of the helper's own reconnects; false: stay closed when the EventSource gives up. */
  reconnect?: ReconnectOptions | false;
  /** The EventSource implementation (default globalThis.EventSource). */
  EventSource?: EventSourceConstructorLike;
}

/** A 'message' event of an EventSourceClient (`type` is always 'message'; the SSE event's
    type is `eventType`). */
export interface SseMessageEvent extends Event {
  readonly data: string;
  readonly id: string;
  readonly eventType: string;
}

export interface EventSourceClientEventMap {
  state: StateEvent;
  message: SseMessageEvent;
}

/**
 * A small helper around EventSource for an rtmsg SSE stream: remembers the last event id,
 * exposes `state`, and reconnects by itself when the EventSource gives up, passing
 * `?lastEventId=` so that the stream resumes after the last event seen.  The data is the
 * event's text as sent (for a pattern stream, the rtmsg.json `msg` envelope: JSON.parse it).
 */
export class EventSourceClient extends EventTarget {
  constructor(url: string, options?: EventSourceClientOptions);

  url: string;
  onmessage: ((this: EventSourceClient, data: string, meta: SseMeta) => void) | null;
  onstate: ((this: EventSourceClient, state: State) => void) | null;
  /** The last event id seen ('' before any). */
  lastEventId: string;
  events: string[];
  reconnectOptions: Required<ReconnectOptions> | false;
  readonly state: State;
  /** The current EventSource (null while none is open). */
  readonly source: EventSourceLike | null;

  /** Closes the current EventSource and opens a new one that resumes after `lastEventId`. */
  reconnect(): void;
  /** Stops for good. */
  close(): void;

  addEventListener<K extends keyof EventSourceClientEventMap>(
    type: K,
    listener: (this: EventSourceClient, event: EventSourceClientEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends keyof EventSourceClientEventMap>(
    type: K,
    listener: (this: EventSourceClient, event: EventSourceClientEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
}

/** Opens an SSE stream (same as `new EventSourceClient(url, options)`). */
export function sse(url: string, options?: EventSourceClientOptions): EventSourceClient;
