import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import {
  DEFAULT_WINDOW,
  HEARTBEAT_TIMEOUT_INTERVALS,
  HELLO_TIMEOUT_MS,
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  ProtocolError,
  createErrorMessage,
  decodeClientMessage,
  encodeEventMessage,
  encodeMessage,
  parseSince,
  validateEventPattern,
  type AckMessage,
  type ClientMessage,
  type ErrorCode,
  type NackMessage,
  type ServerMessage,
  type SubscribeMessage,
} from '@myop-relay/protocol';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import type { WebSocket } from 'ws';
import { sha256Hex } from '../secrets.js';
import type { ConsumerStart, Delivery, HandlerAnswer, Store, TokenRecord } from '../store/store.js';
import { mayReadChannel } from '../tokens.js';
import type { DeliveryHub } from './hub.js';
import { Outbox, type SendLimits } from './outbox.js';
import { Subscription, type SubscriptionOwner } from './subscription.js';

/** How much a connection may hold of the relay's memory and store (see docs/protocol.md#limits). */
export interface SessionLimits extends SendLimits {
  /** Subscriptions the connection may hold, unsubscribed ones included until their events are answered. */
  subscriptions: number;
  /** Consumers the connection's token may create on one channel. */
  consumersPerToken: number;
}

/** What a session needs from the server around it. */
export interface SessionContext {
  store: Store;
  hub: DeliveryHub;
  log: FastifyBaseLogger;
  heartbeatMs: number;
  serverVersion: string;
  limits: SessionLimits;
}

/**
 * One relay-client connection: the hello handshake, its subscriptions, acks and heartbeats.
 * Anything the client sends that breaks the protocol closes this connection only.
 */
export class Session implements SubscriptionOwner {
  readonly id = randomUUID();
  private token: TokenRecord | undefined;
  /** Active subscriptions, and unsubscribed ones until their events in flight are answered. */
  private readonly subscriptions = new Map<string, Subscription>();
  private lastHeard = Date.now();
  private readonly helloTimer: NodeJS.Timeout;
  private heartbeat: NodeJS.Timeout | undefined;
  private closed = false;
  private nextSub = 1;
  /** Messages are handled one at a time, in arrival order. */
  private queue: Promise<void> = Promise.resolve();

  /** A closing error is on its way; nothing else is checked or sent after it. */
  private closing = false;
  /** The sending side: positions, the send buffer's bound, what the client has shown it read. */
  private readonly outbox: Outbox;

  constructor(
    private readonly socket: WebSocket,
    /** The connection under `socket`, corked while a tick's messages are written. */
    wire: Duplex,
    private readonly context: SessionContext,
    /** Token from the upgrade's Authorization header, already checked; undefined when hello must carry it. */
    private readonly headerToken: TokenRecord | undefined,
  ) {
    this.outbox = new Outbox(socket, wire, context.limits, {
      wake: (subscriptions = this.subscriptions.values()) => {
        for (const subscription of subscriptions) if (!subscription.ended) context.hub.wake(subscription);
      },
      stalled: (detail) => this.fail('RELAY_E_WS_SLOW_CONSUMER', { detail }),
    });
    this.helloTimer = setTimeout(() => this.fail('RELAY_E_WS_HELLO_TIMEOUT'), HELLO_TIMEOUT_MS);
    this.helloTimer.unref();
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      this.lastHeard = Date.now();
      const input = isBinary ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : data.toString('utf8');
      this.queue = this.queue.then(() => this.receive(input)).catch((error: unknown) => {
        this.context.log.error({ err: error, session: this.id }, 'websocket message failed');
        this.fail('RELAY_E_WS_INTERNAL');
      });
    });
    // After the messages that came before the close: their answers are recorded before the
    // session's unanswered events are handed back.
    socket.on('close', () => {
      this.queue = this.queue.then(() => this.cleanup('connection closed before the ack'));
    });
    socket.on('error', (error) => this.context.log.info({ err: error, session: this.id }, 'websocket error'));
  }

  private log(): FastifyBaseLogger {
    return this.context.log.child({ session: this.id, token: this.token?.name });
  }

  /** Nothing is encoded for a connection that is gone. */
  private send(message: ServerMessage): void {
    if (!this.closed && this.outbox.open) this.outbox.write(encodeMessage(message));
  }

  /** Whether the connection is still open (a claim finishing after the close hands its events back). */
  get connected(): boolean {
    return !this.closed;
  }

  get receivedUpTo(): number {
    return this.outbox.receivedUpTo;
  }

  sendBudget(subscription: Subscription): number {
    return this.closed ? 0 : this.outbox.budget(subscription);
  }

  budgetSpent(bytes: number): void {
    this.outbox.budgetSpent(bytes);
  }

  awaitReceipt(position: number): void {
    if (!this.closed) this.outbox.awaitReceipt(position);
  }

  /** Sends the error and, when the code closes connections, closes this one with its close code. */
  private fail(cause: ErrorCode | ProtocolError, options: { ref?: string; sub?: string; detail?: string } = {}): void {
    const message = createErrorMessage(cause, options);
    const error = cause instanceof ProtocolError ? cause : new ProtocolError(cause);
    if (error.closeCode !== null) {
      if (this.closing) return;
      this.closing = true;
    }
    this.send(message);
    // The error must leave before the close frame, and before a terminate that may follow.
    this.outbox.uncork();
    if (error.closeCode !== null && !this.closed) {
      this.log().info({ code: error.code }, 'closing websocket');
      this.socket.close(error.closeCode, error.code);
      void this.cleanup(`connection closed: ${error.code}`);
    }
  }

  private async receive(input: string | Uint8Array): Promise<void> {
    if (this.closed) return;
    const decoded = decodeClientMessage(input, { maxBytes: MAX_MESSAGE_BYTES });
    if (!decoded.ok) {
      this.fail(decoded.error);
      return;
    }
    const message = decoded.message;
    if (this.token === undefined && message.type !== 'hello') {
      this.fail('RELAY_E_WS_HELLO_REQUIRED');
      return;
    }
    await this.handle(message);
  }

  private async handle(message: ClientMessage): Promise<void> {
    switch (message.type) {
      case 'hello':
        return this.hello(message.protocol, message.token, message.agent);
      case 'subscribe':
        return this.subscribe(message);
      case 'ack':
      case 'nack':
        // Answers are independent of each other: recording one must not hold up reading the next,
        // so that all answers that arrive together are committed together.
        this.answer(message).catch((error: unknown) => {
          this.context.log.error({ err: error, session: this.id }, 'recording an answer failed');
          this.fail('RELAY_E_WS_INTERNAL');
        });
        return;
      case 'unsubscribe': {
        const subscription = this.subscriptions.get(message.sub);
        if (!subscription || subscription.ended) return this.fail('RELAY_E_WS_UNKNOWN_SUBSCRIPTION', { sub: message.sub });
        // No more events on it; what is in flight stays leased here, so its answers still count
        // (docs/protocol.md), and the session's other subscriptions are not touched at all.
        subscription.ended = true;
        this.context.hub.leave(subscription);
        this.forgetIfAnswered(subscription);
        this.log().info({ channel: subscription.channel, consumer: subscription.consumer, inFlight: subscription.inflight.size }, 'unsubscribed');
        return;
      }
      case 'ping':
        return this.send({ type: 'pong', ts: message.ts });
      case 'pong':
        return this.outbox.pong(message.ts);
    }
  }

  private async hello(protocol: number, token: string | undefined, agent: string): Promise<void> {
    if (this.token !== undefined) return this.fail('RELAY_E_WS_UNEXPECTED_HELLO');
    if (protocol !== PROTOCOL_VERSION) return this.fail('RELAY_E_WS_PROTOCOL_VERSION', { detail: `client speaks ${protocol}, server ${PROTOCOL_VERSION}` });
    let record = this.headerToken;
    // Two tokens on one connection could disagree; the protocol allows exactly one.
    if (record !== undefined && token !== undefined) return this.fail('RELAY_E_WS_INVALID_MESSAGE', { detail: 'hello.token must be left out when the Authorization header carried a token' });
    if (record === undefined) {
      if (token === undefined) return this.fail('RELAY_E_WS_AUTH_REQUIRED');
      record = await this.context.store.findTokenByHash(sha256Hex(token));
      if (!record) return this.fail('RELAY_E_WS_TOKEN_INVALID');
    }
    clearTimeout(this.helloTimer);
    this.token = record;
    this.send({
      type: 'welcome',
      protocol: PROTOCOL_VERSION,
      session: this.id,
      server: this.context.serverVersion,
      heartbeatMs: this.context.heartbeatMs,
      maxMessageBytes: MAX_MESSAGE_BYTES,
      retryInitialMs: this.context.hub.retrySchedule.initialMs,
      retryMaxMs: this.context.hub.retrySchedule.maxMs,
    });
    this.startHeartbeat();
    this.log().info({ agent }, 'relay-client connected');
  }

  private startHeartbeat(): void {
    const interval = this.context.heartbeatMs;
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastHeard > interval * HEARTBEAT_TIMEOUT_INTERVALS) {
        this.fail('RELAY_E_WS_HEARTBEAT_TIMEOUT');
        this.socket.terminate();
        return;
      }
      void this.checkToken();
      this.outbox.ping();
    }, interval);
    this.heartbeat.unref();
  }

  /** A revoked token ends its sessions at the next heartbeat. */
  private async checkToken(): Promise<void> {
    if (!this.token) return;
    const current = await this.context.store.findTokenByHash(this.token.hash).catch(() => this.token);
    if (!current) this.fail('RELAY_E_WS_TOKEN_INVALID', { detail: 'the token was revoked' });
  }

  private async subscribe(message: SubscribeMessage): Promise<void> {
    const { store, hub, limits } = this.context;
    const token = this.token;
    if (!token) return;
    if (this.subscriptions.size >= limits.subscriptions) {
      return this.fail('RELAY_E_WS_TOO_MANY_SUBSCRIPTIONS', { ref: message.ref, detail: `this connection holds ${this.subscriptions.size}; the relay allows ${limits.subscriptions}` });
    }
    const channel = await store.getChannel(message.channel);
    if (!mayReadChannel(token, message.channel)) return this.fail('RELAY_E_WS_CHANNEL_FORBIDDEN', { ref: message.ref });
    if (!channel) return this.fail('RELAY_E_WS_UNKNOWN_CHANNEL', { ref: message.ref });
    for (const pattern of message.events ?? []) {
      const problem = validateEventPattern(pattern);
      if (problem) return this.fail('RELAY_E_WS_INVALID_MESSAGE', { ref: message.ref, detail: problem });
    }
    let start: ConsumerStart = { kind: 'now' };
    if (message.since !== undefined) {
      const parsed = parseSince(message.since, new Date());
      if (!parsed.ok) return this.fail('RELAY_E_WS_BAD_SINCE', { ref: message.ref, detail: parsed.reason });
      start = parsed.since.kind === 'time' ? { kind: 'time', at: parsed.since.at } : parsed.since.kind === 'seq' ? { kind: 'seq', seq: parsed.since.seq } : { kind: 'now' };
    }
    const opened = await store.openConsumer(
      {
        channel: message.channel,
        name: message.consumer,
        start,
        filter: message.events ?? [],
        maxAttempts: message.maxAttempts ?? null,
        createdBy: token.name,
        maxCreatedBy: limits.consumersPerToken,
      },
      new Date(),
    );
    if ('refused' in opened) {
      return this.fail('RELAY_E_WS_CONSUMER_LIMIT', { ref: message.ref, detail: `token "${token.name}" has created ${limits.consumersPerToken} on channel "${message.channel}"` });
    }
    const { created } = opened;
    // The connection may have closed while the store was asked; a subscription now would outlive it.
    if (this.closed) return;
    const pending = (await store.listConsumers(message.channel)).find((c) => c.name === message.consumer)?.pending ?? 0;
    // Read after the count: an event stored in between is counted at most once more, never left out.
    const { lastSeq } = await store.channelStats(message.channel);
    const sub = `s${this.nextSub++}`;
    const subscription = new Subscription(sub, this, message.channel, message.consumer, message.window ?? DEFAULT_WINDOW, message.ordered ?? false, pending, lastSeq);
    this.subscriptions.set(sub, subscription);
    this.send({ type: 'subscribed', ref: message.ref, sub, channel: message.channel, consumer: message.consumer, created, pending });
    this.log().info({ channel: message.channel, consumer: message.consumer, created, pending }, 'subscribed');
    hub.join(subscription);
  }

  private async answer(message: AckMessage | NackMessage): Promise<void> {
    const subscription = this.subscriptions.get(message.sub);
    if (!subscription) return this.fail('RELAY_E_WS_UNKNOWN_SUBSCRIPTION', { sub: message.sub });
    const position = subscription.awaiting(message.seq, message.attempt);
    if (position === undefined) return this.fail('RELAY_E_WS_NOT_IN_FLIGHT', { sub: message.sub, detail: `seq ${message.seq} attempt ${message.attempt}` });
    // An answer shows the client read the event, and so everything sent before it.
    this.outbox.read(position);
    const outcome = {
      channel: subscription.channel,
      consumer: subscription.consumer,
      seq: message.seq,
      attempt: message.attempt,
      session: this.id,
      now: new Date(),
      latencyMs: message.latencyMs,
      ...(message.status !== undefined ? { status: message.status } : {}),
      ...(message.type === 'nack' && message.error !== undefined ? { error: message.error } : {}),
      ...answerOf(message),
    };
    // The hub takes the attempt out of the subscription's window as soon as it is asked.
    if (message.type === 'ack') {
      const recorded = this.context.hub.ack(subscription, outcome);
      this.forgetIfAnswered(subscription);
      await recorded;
      return;
    }
    const recorded = this.context.hub.nack(subscription, outcome);
    this.forgetIfAnswered(subscription);
    const result = await recorded;
    if (result.state === 'failed') this.log().warn({ channel: subscription.channel, consumer: subscription.consumer, seq: message.seq }, 'event parked as failed after max attempts');
  }

  /** An unsubscribed subscription is dropped once nothing sent on it awaits an answer. */
  private forgetIfAnswered(subscription: Subscription): void {
    if (subscription.ended && subscription.inflight.size === 0) this.subscriptions.delete(subscription.id);
  }

  sendEvent(subscription: Subscription, delivery: Delivery): number {
    if (this.closed || !this.outbox.open) return this.outbox.receivedUpTo;
    const e = delivery.event;
    const message = {
      type: 'event',
      sub: subscription.id,
      channel: e.channel,
      consumer: subscription.consumer,
      seq: e.seq,
      id: e.id,
      eventType: e.type,
      attempt: delivery.attempt,
      receivedAt: e.receivedAt.toISOString(),
      body: Buffer.from(e.body.buffer, e.body.byteOffset, e.body.byteLength).toString('base64'),
      synthetic: e.synthetic,
      replay: delivery.replay,
    } as const;
    return this.outbox.write(encodeEventMessage(message, e.headersJson));
  }

  sendBacklog(subscription: Subscription, delivered: number, total: number): void {
    this.send({ type: 'backlog', sub: subscription.id, delivered, total });
  }

  /** Closes the connection because the server stops; unanswered events stay for redelivery. */
  async shutdown(): Promise<void> {
    this.fail('RELAY_E_WS_SERVER_SHUTDOWN');
    await this.cleanup('relay-server stopped before the ack');
  }

  private cleanupDone: Promise<void> | undefined;

  private cleanup(reason: string): Promise<void> {
    this.cleanupDone ??= (async () => {
      this.closed = true;
      clearTimeout(this.helloTimer);
      this.outbox.close();
      if (this.heartbeat) clearInterval(this.heartbeat);
      const subscriptions = [...this.subscriptions.values()];
      this.subscriptions.clear();
      for (const subscription of subscriptions) this.context.hub.leave(subscription);
      try {
        await this.context.hub.releaseSession(this.id, reason, subscriptions);
      } catch (error) {
        // The leases run out by themselves; the events are delivered again after the ack timeout.
        this.context.log.warn({ err: error, session: this.id }, 'could not release the session\'s events at once');
      }
    })();
    return this.cleanupDone;
  }
}

/**
 * The handler's answer an ack or nack reports, as a store keeps it. The codec has bounded every
 * field already (`MAX_RESPONSE_HEADERS`, `MAX_RESPONSE_BODY_BYTES`), so nothing here can grow a row.
 */
function answerOf(message: AckMessage | NackMessage): { answer?: HandlerAnswer } {
  const { responseHeaders, responseBody, responseBytes, responseBodyTruncated } = message;
  if (responseHeaders === undefined && responseBody === undefined && responseBytes === undefined) return {};
  return {
    answer: {
      headers: responseHeaders ?? [],
      body: responseBody === undefined ? null : Buffer.from(responseBody, 'base64'),
      bytes: responseBytes ?? null,
      truncated: responseBodyTruncated ?? false,
    },
  };
}
