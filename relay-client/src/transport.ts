/**
 * The connection to the relay: connect, hello/welcome, heartbeats, reconnect with backoff, and
 * the subscriptions, which are sent again on every new connection (the relay resumes a consumer
 * where it stopped). Knows nothing about forwarding or output; it reports to its handlers.
 */
import {
  decodeServerMessage,
  encodeMessage,
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_TIMEOUT_INTERVALS,
  MAX_MESSAGE_BYTES,
  PROTOCOL_NAME,
  PROTOCOL_VERSION,
  ProtocolError,
  WS_PATH,
  type BacklogMessage,
  type ClientMessage,
  type ErrorMessage,
  type EventMessage,
  type SubscribedMessage,
  type SubscribeMessage,
  type WelcomeMessage,
  type WireData,
} from '@myop-relay/protocol';
import { Backoff, type BackoffOptions } from './backoff.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { classifyFailure, type ConnectionFacts, type ConnectionFailure, type LocalReason } from './failure.js';
import type { SocketFactory, WebSocketLike } from './socket.js';

/** A subscription as the transport keeps it: a `subscribe` without its per-connection `ref`. */
export type SubscriptionRequest = Omit<SubscribeMessage, 'type' | 'ref'>;

/** One established connection (after `welcome`), as the transport's handlers see it. */
export interface Session {
  /** 1 for the first connection of this transport, 2 for the next, ... */
  readonly number: number;
  /** The relay's id of this connection (`welcome.session`), for matching its logs. */
  readonly id: string;
  /** Whether this connection is still the live one; answers for a closed one cannot be sent. */
  readonly open: boolean;
  /**
   * Sends a message on this connection. Returns false, sending nothing, when the connection has
   * ended: events of a lost connection are delivered again by the relay, so an answer for one
   * must not go out on a later connection.
   */
  send(message: ClientMessage): boolean;
}

/** What a transport reports. Handlers must not throw. */
export interface TransportHandlers {
  /** A connection attempt starts; `attempt` counts consecutive attempts, 1 after a success. */
  connecting(info: { url: string; attempt: number }): void;
  /** `welcome` arrived; the subscriptions are sent right after this returns. */
  connected(session: Session, welcome: WelcomeMessage): void;
  /** The relay accepted a subscription on this connection. */
  subscribed(request: SubscriptionRequest, reply: SubscribedMessage, session: Session): void;
  /** The relay refused a subscription (`error` with its `ref`); the connection stays open. */
  subscribeRefused(request: SubscriptionRequest, error: ErrorMessage, session: Session): void;
  /** An event, backlog progress, or an `error` that neither closes the connection nor refuses a subscribe. */
  message(message: EventMessage | BacklogMessage | ErrorMessage, session: Session): void;
  /** A message from the relay failed to decode or came at the wrong time; it was dropped. */
  invalidMessage(error: ProtocolError): void;
  /**
   * The connection ended. With `retry`, the transport reconnects after `retry.delayMs`; without,
   * the failure is fatal and {@link Transport.run} resolves with it.
   */
  disconnected(failure: ConnectionFailure, retry: { delayMs: number; attempt: number } | undefined): void;
}

/** Settings of a {@link Transport}. */
export interface TransportOptions {
  /** The relay's WebSocket URL (see {@link relayWebSocketUrl}). */
  url: string;
  /** Bearer token; never put in the URL. */
  token: string;
  /**
   * Send the token in `hello.token` instead of an `Authorization: Bearer` header on the upgrade,
   * for runtimes whose WebSocket cannot set headers (browsers, Deno's `WebSocket`). Default false.
   */
  tokenInHello?: boolean;
  /** `hello.agent`. */
  agent: string;
  /** Opens the WebSocket; the runtime adapter. */
  createSocket: SocketFactory;
  /** Subscriptions, sent in this order on every connection. */
  subscriptions: readonly SubscriptionRequest[];
  /** Default {@link systemClock}. */
  clock?: Clock;
  /** Uniform in [0, 1), for backoff jitter. Default `Math.random`. */
  random?: () => number;
  /** Reconnect backoff; defaults in {@link BACKOFF_DEFAULTS}. */
  backoff?: BackoffOptions;
  /** Time from starting a connection to receiving `welcome` before the attempt counts as failed. Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** On stop, time the relay gets to answer the close frame before the socket is dropped. Default 2000 ms. */
  closeTimeoutMs?: number;
}

/** How {@link Transport.run} ended. */
export type TransportEnd = { kind: 'stopped' } | { kind: 'fatal'; failure: ConnectionFailure };

/**
 * The relay's WebSocket URL for a relay base URL: `http` becomes `ws`, `https` becomes `wss`,
 * and {@link WS_PATH} is appended to the path (so a relay behind a path prefix works).
 */
export function relayWebSocketUrl(relay: URL): string {
  const url = new URL(relay.href);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${WS_PATH}`;
  url.search = '';
  url.hash = '';
  return url.href;
}

type ConnectionState = 'connecting' | 'handshake' | 'open' | 'ended';

/** One socket's lifetime; a reconnect makes a new one. */
class Connection implements Session {
  state: ConnectionState = 'connecting';
  id = '';
  heartbeatMs = HEARTBEAT_INTERVAL_MS;
  maxBytes = MAX_MESSAGE_BYTES;
  lastSent: number;
  lastReceived: number;
  welcomeAt: number | undefined;
  connectTimer: TimerHandle | undefined;
  heartbeatTimer: TimerHandle | undefined;
  closeTimer: TimerHandle | undefined;
  readonly facts: Omit<ConnectionFacts, 'url' | 'everConnected'> = {};
  /** The subscription each `ref` sent on this connection stands for. */
  readonly refs = new Map<string, SubscriptionRequest>();
  socket: WebSocketLike | undefined;

  constructor(
    readonly number: number,
    private readonly clock: Clock,
  ) {
    this.lastSent = clock.now();
    this.lastReceived = this.lastSent;
  }

  get open(): boolean {
    return this.state === 'open';
  }

  send(message: ClientMessage): boolean {
    return this.state === 'open' && this.write(message);
  }

  write(message: ClientMessage): boolean {
    if (this.socket === undefined) return false;
    try {
      this.socket.send(encodeMessage(message));
    } catch {
      // The socket closed under us; its close handler reports why.
      return false;
    }
    this.lastSent = this.clock.now();
    return true;
  }

  clearTimers(): void {
    for (const timer of [this.connectTimer, this.heartbeatTimer, this.closeTimer]) {
      if (timer !== undefined) this.clock.clearTimeout(timer);
    }
    this.connectTimer = this.heartbeatTimer = this.closeTimer = undefined;
  }
}

/**
 * Keeps one WebSocket to the relay alive until stopped or until a failure that reconnecting
 * cannot fix (token refused, protocol mismatch, ...).
 */
export class Transport {
  readonly #options: TransportOptions;
  readonly #handlers: TransportHandlers;
  readonly #clock: Clock;
  readonly #backoff: Backoff;
  readonly #connectTimeoutMs: number;
  readonly #closeTimeoutMs: number;
  #connections = 0;
  #current: Connection | undefined;
  #retryTimer: TimerHandle | undefined;
  #everConnected = false;
  #stopping = false;
  #started = false;
  #finish!: (end: TransportEnd) => void;
  readonly #done: Promise<TransportEnd>;

  /**
   * @param options - see {@link TransportOptions}.
   * @param handlers - receive everything the transport learns.
   */
  constructor(options: TransportOptions, handlers: TransportHandlers) {
    this.#options = options;
    this.#handlers = handlers;
    this.#clock = options.clock ?? systemClock;
    this.#backoff = new Backoff(options.backoff, options.random);
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 2_000;
    this.#done = new Promise((resolve) => (this.#finish = resolve));
  }

  /** Connects and keeps reconnecting; resolves after {@link Transport.stop} or on a fatal failure. */
  run(): Promise<TransportEnd> {
    if (!this.#started) {
      this.#started = true;
      if (this.#stopping) this.#finish({ kind: 'stopped' });
      else this.#connect();
    }
    return this.#done;
  }

  /**
   * Closes the connection with code 1000 and stops reconnecting. Resolves once the socket is
   * closed, or dropped after the close timeout.
   */
  async stop(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      if (this.#retryTimer !== undefined) this.#clock.clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
      const conn = this.#current;
      if (conn === undefined) {
        this.#finish({ kind: 'stopped' });
      } else if (conn.state === 'connecting') {
        conn.socket?.terminate();
        this.#ended(conn);
      } else {
        conn.clearTimers();
        conn.socket?.close(1000, 'client stopping');
        conn.closeTimer = this.#clock.setTimeout(() => {
          conn.socket?.terminate();
          this.#ended(conn);
        }, this.#closeTimeoutMs);
      }
    }
    if (this.#started) await this.#done;
  }

  #connect(): void {
    const { url, token, createSocket } = this.#options;
    const conn = new Connection(++this.#connections, this.#clock);
    this.#current = conn;
    this.#handlers.connecting({ url, attempt: this.#backoff.failures + 1 });
    try {
      const headers: Record<string, string> = this.#options.tokenInHello === true ? {} : { Authorization: `Bearer ${token}` };
      conn.socket = createSocket(url, { protocols: [PROTOCOL_NAME], headers });
    } catch (error) {
      conn.facts.socket = { kind: 'network', code: undefined, message: error instanceof Error ? error.message : String(error) };
      this.#ended(conn);
      return;
    }
    conn.socket.listen({
      open: () => this.#opened(conn),
      message: (data) => this.#received(conn, data),
      error: (failure) => {
        conn.facts.socket ??= failure;
      },
      close: (code) => {
        conn.facts.closeCode ??= code;
        this.#ended(conn);
      },
    });
    conn.connectTimer = this.#clock.setTimeout(() => this.#abort(conn, { kind: 'connect-timeout', ms: this.#connectTimeoutMs }), this.#connectTimeoutMs);
  }

  #opened(conn: Connection): void {
    if (conn.state !== 'connecting') return;
    conn.state = 'handshake';
    const selected = conn.socket?.protocol ?? '';
    if (selected !== PROTOCOL_NAME) {
      // Reached only with adapters that do not check the subprotocol themselves (ws does).
      this.#abort(conn, { kind: 'protocol', error: new ProtocolError('RELAY_E_WS_PROTOCOL_VERSION', `the relay selected subprotocol "${selected}"`) });
      return;
    }
    const { agent, token, tokenInHello } = this.#options;
    // The protocol refuses a hello token on a connection that also had the header.
    conn.write(tokenInHello === true ? { type: 'hello', protocol: PROTOCOL_VERSION, token, agent } : { type: 'hello', protocol: PROTOCOL_VERSION, agent });
  }

  #received(conn: Connection, data: WireData): void {
    if (conn.state === 'ended' || conn.state === 'connecting') return;
    conn.lastReceived = this.#clock.now();
    const decoded = decodeServerMessage(data, { maxBytes: conn.maxBytes });
    if (!decoded.ok) {
      // Before welcome nothing has been agreed, so garbage means the URL is not a relay-server.
      if (conn.state === 'handshake') this.#abort(conn, { kind: 'protocol', error: decoded.error });
      else this.#handlers.invalidMessage(decoded.error);
      return;
    }
    const message = decoded.message;
    switch (message.type) {
      case 'ping':
        conn.write({ type: 'pong', ts: message.ts });
        return;
      case 'pong':
        return;
      case 'welcome':
        this.#welcomed(conn, message);
        return;
      case 'error':
        this.#errorMessage(conn, message);
        return;
      case 'subscribed': {
        const request = conn.state === 'open' ? conn.refs.get(message.ref) : undefined;
        if (request === undefined) this.#handlers.invalidMessage(new ProtocolError('RELAY_E_WS_INVALID_MESSAGE', `subscribed.ref "${message.ref}" answers no subscribe of this connection`));
        else this.#handlers.subscribed(request, message, conn);
        return;
      }
      case 'event':
      case 'backlog':
        if (conn.state !== 'open') this.#handlers.invalidMessage(new ProtocolError('RELAY_E_WS_INVALID_MESSAGE', `${message.type} before welcome`));
        else this.#handlers.message(message, conn);
        return;
    }
  }

  #welcomed(conn: Connection, welcome: WelcomeMessage): void {
    if (conn.state !== 'handshake') {
      this.#handlers.invalidMessage(new ProtocolError('RELAY_E_WS_INVALID_MESSAGE', 'a second welcome on one connection'));
      return;
    }
    if (conn.connectTimer !== undefined) this.#clock.clearTimeout(conn.connectTimer);
    conn.connectTimer = undefined;
    conn.state = 'open';
    conn.id = welcome.session;
    conn.heartbeatMs = welcome.heartbeatMs;
    conn.maxBytes = welcome.maxMessageBytes;
    conn.welcomeAt = this.#clock.now();
    this.#everConnected = true;
    this.#handlers.connected(conn, welcome);
    // A handler may have stopped the transport.
    if (!conn.open) return;
    this.#options.subscriptions.forEach((request, index) => {
      const ref = String(index + 1);
      conn.refs.set(ref, request);
      conn.write({ type: 'subscribe', ref, ...request });
    });
    this.#scheduleHeartbeat(conn);
  }

  #errorMessage(conn: Connection, error: ErrorMessage): void {
    if (error.fatal) {
      // The close frame follows and carries the same cause; keep the code in case it is lost.
      conn.facts.serverError = error.code;
      return;
    }
    const request = error.ref === undefined ? undefined : conn.refs.get(error.ref);
    if (request !== undefined) this.#handlers.subscribeRefused(request, error, conn);
    else this.#handlers.message(error, conn);
  }

  /**
   * One timer per connection, due when a ping must go out (nothing sent for an interval) or when
   * the relay counts as dead (nothing received for two), whichever comes first.
   */
  #scheduleHeartbeat(conn: Connection): void {
    const now = this.#clock.now();
    const interval = conn.heartbeatMs;
    const deadline = Math.min(conn.lastSent + interval, conn.lastReceived + HEARTBEAT_TIMEOUT_INTERVALS * interval);
    conn.heartbeatTimer = this.#clock.setTimeout(() => this.#heartbeat(conn), Math.max(0, deadline - now));
  }

  #heartbeat(conn: Connection): void {
    conn.heartbeatTimer = undefined;
    if (conn.state !== 'open') return;
    const now = this.#clock.now();
    const silence = HEARTBEAT_TIMEOUT_INTERVALS * conn.heartbeatMs;
    if (now - conn.lastReceived >= silence) {
      this.#abort(conn, { kind: 'heartbeat-timeout', ms: silence });
      return;
    }
    if (now - conn.lastSent >= conn.heartbeatMs) conn.write({ type: 'ping', ts: Date.now() });
    this.#scheduleHeartbeat(conn);
  }

  /** Ends a connection for a reason found on this side, telling the relay why with the matching close code. */
  #abort(conn: Connection, reason: LocalReason): void {
    if (conn.state === 'ended') return;
    conn.facts.local = reason;
    const socket = conn.socket;
    if (reason.kind === 'protocol') {
      // The relay is alive, so the close frame (with the code naming the problem) can go out properly.
      socket?.close(reason.error.closeCode ?? 1002, reason.error.code);
    } else if (reason.kind === 'heartbeat-timeout') {
      // The close frame tells a relay that is merely slow why; a dead one gets dropped shortly.
      // The reconnect does not wait for either.
      socket?.close(4201, 'RELAY_E_WS_HEARTBEAT_TIMEOUT');
      this.#clock.setTimeout(() => socket?.terminate(), this.#closeTimeoutMs);
    } else {
      socket?.terminate();
    }
    this.#ended(conn);
  }

  #ended(conn: Connection): void {
    if (conn.state === 'ended') return;
    conn.state = 'ended';
    conn.clearTimers();
    if (this.#current === conn) this.#current = undefined;
    if (conn.welcomeAt !== undefined) this.#backoff.connectionEnded(this.#clock.now() - conn.welcomeAt);
    if (this.#stopping) {
      this.#finish({ kind: 'stopped' });
      return;
    }
    const failure = classifyFailure({ url: this.#options.url, everConnected: this.#everConnected, ...conn.facts });
    if (failure.fatal) {
      this.#handlers.disconnected(failure, undefined);
      this.#finish({ kind: 'fatal', failure });
      return;
    }
    const delayMs = this.#backoff.next();
    this.#handlers.disconnected(failure, { delayMs, attempt: this.#backoff.failures + 1 });
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      if (!this.#stopping) this.#connect();
    }, delayMs);
  }
}
