/**
 * The session logic of `relay-client listen`: every event the relay sends is forwarded at once
 * (the relay enforces the window), acked after a 2xx and nacked otherwise; a stop lets running
 * forwards finish and answers them before the socket closes.
 */
import { Buffer } from 'node:buffer';
import {
  DEFAULT_WINDOW,
  retryDelayMs,
  DEFAULT_RETRY_SCHEDULE,
  type RetrySchedule,
  base64ByteLength,
  type AckMessage,
  type BacklogMessage,
  type ErrorMessage,
  type EventMessage,
  type NackMessage,
  type SubscribedMessage,
  type WelcomeMessage,
} from '@myop-relay/protocol';
import { createNodeSocket } from './adapters/node-websocket.js';
import type { BackoffOptions } from './backoff.js';
import type { Clock } from './clock.js';
import { resolveListenConfig, type ListenConfig, type ListenOptions } from './config.js';
import { ClientError } from './errors.js';
import type { ConnectionFailure } from './failure.js';
import { Forwarder, type CapturedAnswer, type ForwardOutcome } from './forwarder.js';
import type { AnswerSent, DeliveryInfo, EventReceivedInfo, ForwardedInfo, ListenSummary, Renderer } from './renderer/renderer.js';
import { silentRenderer } from './renderer/silent.js';
import type { SocketFactory } from './socket.js';
import { Transport, type Session, type SubscriptionRequest, type TransportHandlers } from './transport.js';
import { runUntilStopped } from './run-session.js';
import { RelayApi } from './relay-api.js';
import { relayPending, subscriptionHints } from './relay-facts.js';
import { userAgent } from './version.js';

/** What `listen` gets from its caller besides settings: the runtime's pieces and the stop signal. */
export interface ListenDeps {
  /** Opens WebSockets. Default: the Node `ws` adapter, {@link createNodeSocket}. */
  createSocket?: SocketFactory;
  /** Receives everything to show. Default: shows nothing. */
  renderer?: Renderer;
  /** Aborting it stops `listen` gracefully (what Ctrl-C does in the CLI). */
  signal?: AbortSignal;
  /** Default: the system clock. */
  clock?: Clock;
  /** Uniform in [0, 1) for reconnect jitter. Default `Math.random`. */
  random?: () => number;
  /** Reconnect backoff. Default: 500 ms doubling to 30 s, full jitter. */
  backoff?: BackoffOptions;
  /** Time to reach `welcome` before a connection attempt counts as failed. Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** `hello.agent`. Default `relay-client/<version> node/<version>`. */
  agent?: string;
  /**
   * Authenticate with `hello.token` instead of the `Authorization` header, for WebSocket
   * adapters that cannot send headers. Default false.
   */
  tokenInHello?: boolean;
  /** For the relay's HTTP API (hints after subscribing, the pending count after a stop). Default: the global `fetch`. */
  fetch?: typeof fetch;
}

/** How long each question to the relay's HTTP API may take: the hints and the summary wait for it. */
const FACTS_TIMEOUT_MS = 3_000;

/** Per-connection subscription ids, mapped to their channel. */
type Subscriptions = Map<string, string>;

/** The `listen` state between start and summary. */
class Listener implements TransportHandlers {
  #stopping = false;
  #connected = false;
  #delivered = 0;
  #failed = 0;
  /** Events, by channel and seq, whose latest delivery here did not end in an ack. */
  readonly #outstanding = new Set<string>();
  /** Forwards running now; {@link Listener.drain} waits for it to be 0. */
  #inFlight = 0;
  readonly #idle: (() => void)[] = [];
  /** Questions to the relay's API about new subscriptions, awaited before the summary. */
  readonly #facts = new Set<Promise<void>>();
  /** Channels whose hints were looked for: once per run, not at every reconnect. */
  readonly #hinted = new Set<string>();
  #session: Session | undefined;
  /** The connected relay's redelivery schedule, from its welcome. */
  #retrySchedule: RetrySchedule = DEFAULT_RETRY_SCHEDULE;
  #subscriptions: Subscriptions = new Map();
  #refuse!: (error: ClientError) => void;
  /** Resolves when the relay refuses a subscription, which ends the run. */
  readonly refused = new Promise<ClientError>((resolve) => (this.#refuse = resolve));

  constructor(
    private readonly config: ListenConfig,
    private readonly forwarder: Forwarder,
    private readonly renderer: Renderer,
    private readonly api: RelayApi,
  ) {}

  /** The run's counts; `pending` as this client knows it, which {@link listen} replaces with the relay's when it can ask. */
  summary(): ListenSummary {
    return { connected: this.#connected, delivered: this.#delivered, failed: this.#failed, pending: this.#outstanding.size, pendingFrom: 'client' };
  }

  /** Stops taking events and tells the relay, so it sends no more; answers for running forwards still go out. */
  beginStop(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    if (this.#inFlight > 0) this.renderer.stopping({ inFlight: this.#inFlight, timeoutMs: this.config.timeoutMs });
    const session = this.#session;
    if (session !== undefined) for (const sub of this.#subscriptions.keys()) session.send({ type: 'unsubscribe', sub });
  }

  /** Resolves when every running forward has finished and been answered. */
  async drain(): Promise<void> {
    while (this.#inFlight > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
    await Promise.allSettled([...this.#facts]);
  }

  // --- TransportHandlers

  connecting(info: { url: string; attempt: number }): void {
    this.renderer.connecting(info);
  }

  connected(session: Session, welcome: WelcomeMessage): void {
    this.#session = session;
    this.#connected = true;
    this.#retrySchedule = {
      initialMs: welcome.retryInitialMs ?? DEFAULT_RETRY_SCHEDULE.initialMs,
      maxMs: welcome.retryMaxMs ?? DEFAULT_RETRY_SCHEDULE.maxMs,
    };
    this.#subscriptions = new Map();
    this.renderer.connected({ url: this.config.webSocketUrl, session: welcome.session, server: welcome.server });
  }

  subscribed(request: SubscriptionRequest, reply: SubscribedMessage, session: Session): void {
    if (session !== this.#session) return;
    this.#subscriptions.set(reply.sub, request.channel);
    if (this.#stopping) {
      // The stop came while this subscribe was on its way.
      session.send({ type: 'unsubscribe', sub: reply.sub });
      return;
    }
    this.renderer.subscribed({ channel: reply.channel, consumer: reply.consumer, created: reply.created, pending: reply.pending });
    if (this.#hinted.has(reply.channel)) return;
    this.#hinted.add(reply.channel);
    const facts = { channel: reply.channel, consumer: reply.consumer, created: reply.created, since: request.since !== undefined };
    const looking = subscriptionHints(this.api, facts).then((hints) => {
      if (!this.#stopping) for (const hint of hints) this.renderer.hint(hint);
    });
    this.#facts.add(looking);
    void looking.finally(() => this.#facts.delete(looking));
  }

  subscribeRefused(request: SubscriptionRequest, error: ErrorMessage): void {
    this.#refuse(new ClientError('RELAY_E_CLIENT_SUBSCRIBE_REFUSED', `channel "${request.channel}": ${error.code}: ${error.message}`));
  }

  message(message: EventMessage | BacklogMessage | ErrorMessage, session: Session): void {
    switch (message.type) {
      case 'event':
        this.#received(message, session);
        return;
      case 'backlog':
        if (!this.#stopping) {
          const channel = this.#subscriptions.get(message.sub) ?? message.sub;
          this.renderer.backlog({ channel, delivered: message.delivered, total: message.total });
        }
        return;
      case 'error':
        this.renderer.error({ code: message.code, message: message.message, fatal: false });
        return;
    }
  }

  invalidMessage(error: { code: string; message: string }): void {
    this.renderer.error({ code: error.code, message: `ignored a message from the relay: ${error.message}`, fatal: false });
  }

  disconnected(failure: ConnectionFailure, retry: { delayMs: number; attempt: number } | undefined): void {
    // Fatal failures end the run; listen() reports them once, with the summary.
    if (retry !== undefined) this.renderer.reconnecting({ failure, delayMs: retry.delayMs, attempt: retry.attempt });
  }

  // --- Deliveries

  #received(event: EventMessage, session: Session): void {
    const key = `${event.channel}\n${event.seq}`;
    if (this.#stopping) {
      // Not forwarded: the relay gets it back when the connection closes and delivers it again.
      this.#outstanding.add(key);
      return;
    }
    const delivery = receivedInfo(event);
    this.renderer.eventReceived(delivery);
    // The event itself is not kept while its handler answers: only what the answer needs is.
    // Dozens of forwards can be waiting, and their bodies would otherwise outlive many young
    // generation collections, each copying them again (section 4 in docs/benchmarks.md).
    const { sub } = event;
    this.#inFlight++;
    void this.forwarder.forward(event).then((outcome) => {
      try {
        this.#answer(outcome, sub, delivery, key, session);
      } finally {
        if (--this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
      }
    });
  }

  #answer(outcome: ForwardOutcome, sub: string, delivery: DeliveryInfo, key: string, session: Session): void {
    const { seq, attempt } = delivery;
    const latencyMs = outcome.latencyMs;
    let answer: AnswerSent;
    let nextAttemptMs: number | undefined;
    if (outcome.ok && outcome.status !== undefined) {
      answer = session.send(withAnswer({ type: 'ack', sub, seq, attempt, status: outcome.status, latencyMs }, outcome.answer)) ? 'ack' : 'lost';
      if (answer === 'ack') {
        this.#delivered++;
        this.#outstanding.delete(key);
      } else {
        this.#outstanding.add(key);
      }
    } else {
      this.#failed++;
      const nack = withAnswer<NackMessage>({ type: 'nack', sub, seq, attempt, latencyMs }, outcome.answer);
      // The protocol takes statuses 100-599; anything else a handler manages to send is described instead.
      if (outcome.status !== undefined && outcome.status >= 100 && outcome.status <= 599) nack.status = outcome.status;
      const error = outcome.error ?? (nack.status === undefined ? `invalid HTTP status ${String(outcome.status)}` : undefined);
      if (error !== undefined) nack.error = error;
      answer = session.send(nack) ? 'nack' : 'lost';
      const parked = this.config.maxAttempts !== undefined && attempt >= this.config.maxAttempts;
      if (answer === 'nack' && parked) this.#outstanding.delete(key);
      else this.#outstanding.add(key);
      if (answer === 'nack' && !parked) nextAttemptMs = retryDelayMs(attempt, this.#retrySchedule);
    }
    this.renderer.forwarded(forwardedInfo(delivery, this.forwarder.target.display, outcome, answer, nextAttemptMs));
  }
}

// The renderer's records are built field by field, never by spreading: they are made for every
// event, and a literal of known shape is one allocation where a spread copies property by property.

/** The event as the renderer is told of it; it also stands for the delivery until the forward ends. */
function receivedInfo(event: EventMessage): EventReceivedInfo {
  const { channel, seq, id, eventType, attempt, receivedAt, synthetic, replay } = event;
  return { channel, seq, id, eventType, attempt, receivedAt, synthetic, replay, bytes: base64ByteLength(event.body) };
}

function forwardedInfo(d: DeliveryInfo, url: string, outcome: ForwardOutcome, answer: AnswerSent, nextAttemptMs: number | undefined): ForwardedInfo {
  const { channel, seq, id, eventType, attempt, receivedAt, synthetic, replay } = d;
  const info: ForwardedInfo = { channel, seq, id, eventType, attempt, receivedAt, synthetic, replay, method: 'POST', url, outcome, answer };
  if (nextAttemptMs !== undefined) info.nextAttemptMs = nextAttemptMs;
  return info;
}

/** `message` with the fields that report the handler's answer, when one was captured. */
function withAnswer<M extends AckMessage | NackMessage>(message: M, answer: CapturedAnswer | undefined): M {
  if (answer === undefined) return message;
  message.responseHeaders = answer.headers;
  message.responseBody = answer.body.byteLength === 0 ? '' : Buffer.from(answer.body.buffer, answer.body.byteOffset, answer.body.byteLength).toString('base64');
  message.responseBytes = answer.bytes;
  message.responseBodyTruncated = answer.truncated;
  return message;
}

/**
 * Receives the events of `options.channels` from the relay and replays each one to
 * `options.forwardTo`, until `deps.signal` is aborted or a failure that reconnecting cannot fix.
 *
 * Connection trouble that can pass (relay restarting, network down) is reported through the
 * renderer and retried with backoff; it never ends the run. On stop, no new events are taken,
 * forwards already running finish (bounded by the forward timeout) and are answered, the socket
 * is closed with code 1000, and the summary is rendered. Events left unanswered stay with the
 * relay, which delivers them again.
 *
 * @param options - see {@link ListenOptions}; validated before anything connects.
 * @param deps - see {@link ListenDeps}.
 * @returns the run's counts, once stopped through `deps.signal`.
 * @throws ClientError `RELAY_E_CLIENT_CONFIG_INVALID` for bad options (nothing rendered), or the
 *   error that ended the run (token refused, protocol mismatch, subscription refused, ...),
 *   after rendering it and the summary.
 */
export async function listen(options: ListenOptions, deps: ListenDeps = {}): Promise<ListenSummary> {
  const config = resolveListenConfig(options);
  const renderer = deps.renderer ?? silentRenderer;
  const forwarder = new Forwarder({
    target: config.target,
    timeoutMs: config.timeoutMs,
    captureBytes: config.captureBytes,
    // Every subscription can have a window of forwards running at once.
    connections: config.channels.length * (config.window ?? DEFAULT_WINDOW),
    ...(config.resign === undefined ? {} : { resign: config.resign }),
    ...(deps.clock === undefined ? {} : { clock: deps.clock }),
  });
  const api = new RelayApi({ relay: config.relay, token: config.token, timeoutMs: FACTS_TIMEOUT_MS, ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }) });
  const listener = new Listener(config, forwarder, renderer, api);
  renderer.starting({ relay: config.webSocketUrl, forwardTo: config.target.display, channels: config.channels, consumer: config.consumer });

  const subscriptions: SubscriptionRequest[] = config.channels.map((channel) => {
    const request: SubscriptionRequest = { channel, consumer: config.consumer };
    if (config.events !== undefined) request.events = [...config.events];
    if (config.since !== undefined) request.since = config.since;
    if (config.window !== undefined) request.window = config.window;
    if (config.ordered) request.ordered = true;
    if (config.maxAttempts !== undefined) request.maxAttempts = config.maxAttempts;
    return request;
  });
  const transport = new Transport(
    {
      url: config.webSocketUrl,
      token: config.token,
      agent: deps.agent ?? userAgent(),
      createSocket: deps.createSocket ?? createNodeSocket,
      subscriptions,
      ...(deps.clock === undefined ? {} : { clock: deps.clock }),
      ...(deps.random === undefined ? {} : { random: deps.random }),
      ...(deps.backoff === undefined ? {} : { backoff: deps.backoff }),
      ...(deps.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: deps.connectTimeoutMs }),
      ...(deps.tokenInHello === undefined ? {} : { tokenInHello: deps.tokenInHello }),
    },
    listener,
  );

  const error = await runUntilStopped(transport, listener.refused, deps.signal);
  if (error !== undefined) renderer.error({ code: error.code, message: error.message, fatal: true });
  listener.beginStop();
  await listener.drain();
  await forwarder.close();
  await transport.stop();
  let summary = listener.summary();
  // The relay's count includes what this run never saw: events beyond the window, in backoff, held by other sessions.
  const pending = summary.connected ? await relayPending(api, config.channels, config.consumer) : undefined;
  if (pending !== undefined) summary = { ...summary, pending, pendingFrom: 'relay' };
  renderer.summary(summary);
  if (error !== undefined) throw error;
  return summary;
}
