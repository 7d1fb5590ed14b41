/**
 * `relay-client events tail`: a live view of a channel's new events, forwarded nowhere. It is a
 * listen session under a throw-away consumer (`tail-<random>`) that acks every event on arrival,
 * so it never holds anything back, and that is deleted on exit, so it leaves no state on the
 * relay and never takes events from the developer's own consumer.
 */
import { randomBytes } from 'node:crypto';
import type { BacklogMessage, ErrorMessage, EventMessage, SubscribedMessage, WelcomeMessage } from '@myop-relay/protocol';
import { createNodeSocket } from '../adapters/node-websocket.js';
import type { RelayAccess } from '../config.js';
import { ClientError } from '../errors.js';
import type { ConnectionFailure } from '../failure.js';
import { clean, clock, headerValue, viewBody } from '../format.js';
import { RelayApiError, type RelayApi } from '../relay-api.js';
import type { SocketFactory } from '../socket.js';
import { relayWebSocketUrl, Transport, type Session, type SubscriptionRequest, type TransportHandlers } from '../transport.js';
import { formatDelay } from '../units.js';
import { runUntilStopped } from '../run-session.js';
import { userAgent } from '../version.js';
import { parsedBody, type EventShowView } from './events.js';
import { writeLines, type CommandOutput } from './output.js';

/** What to tail. */
export interface TailOptions {
  /** Relay and token. */
  access: RelayAccess;
  /** Channels to watch. */
  channels: readonly string[];
  /** Event-type globs, e.g. `['call.*']`. Default: every type. */
  events?: readonly string[];
  /** Consumer name. Default `tail-<8 random hex digits>`; it is deleted on exit either way. */
  consumer?: string;
}

/** What `tail` needs besides its settings. */
export interface TailDeps {
  /** For deleting the throw-away consumer on exit. */
  api: RelayApi;
  output: CommandOutput;
  /** JSON lines with headers and body instead of one text line per event. */
  json: boolean;
  /** Aborting it ends the tail (Ctrl-C). */
  signal?: AbortSignal;
  /** Opens WebSockets. Default: the Node `ws` adapter. */
  createSocket?: SocketFactory;
}

/** How a tail ended. */
export interface TailSummary {
  consumer: string;
  /** Events shown. */
  shown: number;
  /** Channels whose throw-away consumer could not be deleted (the relay was unreachable at exit). */
  leftBehind: string[];
}

/** A throw-away consumer name: `tail-` and 8 random hex digits. */
export function tailConsumerName(): string {
  return `tail-${randomBytes(4).toString('hex')}`;
}

/**
 * One event as `tail --json` prints it: the delivery's facts, headers and the exact body, under
 * the field names `events show --json` uses for the same facts ({@link EventShowView}).
 */
export interface TailedEvent {
  channel: string;
  seq: number;
  id: string;
  type: string;
  receivedAt: string;
  synthetic: boolean;
  replay: boolean;
  /** Body size in bytes. */
  size: number;
  headers: [string, string][];
  /** The exact body, base64. */
  bodyBase64: string;
  /** The body as UTF-8 text, or null. */
  bodyText: string | null;
  /** The body parsed as JSON (legacy form bodies: their fields), or null. */
  json: unknown;
}

function tailedEvent(event: EventMessage): TailedEvent {
  const view = viewBody(Buffer.from(event.body, 'base64'), headerValue(event.headers, 'content-type'));
  return {
    channel: event.channel,
    seq: event.seq,
    id: event.id,
    type: event.eventType,
    receivedAt: event.receivedAt,
    synthetic: event.synthetic,
    replay: event.replay,
    size: view.bytes,
    headers: event.headers,
    bodyBase64: event.body,
    bodyText: view.text,
    json: parsedBody(event.body, event.headers),
  };
}

class Tail implements TransportHandlers {
  shown = 0;
  /** Channels whose subscription the relay confirmed at least once: their consumer exists. */
  readonly confirmed = new Set<string>();
  #refuse!: (error: ClientError) => void;
  /** Resolves when the relay refuses a subscription, which ends the tail. */
  readonly refused = new Promise<ClientError>((resolve) => (this.#refuse = resolve));
  readonly #showChannel: boolean;

  constructor(
    private readonly consumer: string,
    channels: readonly string[],
    private readonly output: CommandOutput,
    private readonly json: boolean,
  ) {
    this.#showChannel = channels.length > 1;
  }

  #note(text: string): void {
    writeLines(this.output.err, [text]);
  }

  connecting(info: { url: string; attempt: number }): void {
    if (info.attempt === 1) this.#note(`connecting to ${info.url}`);
  }

  connected(_session: Session, _welcome: WelcomeMessage): void {}

  subscribed(request: SubscriptionRequest, _reply: SubscribedMessage): void {
    this.confirmed.add(request.channel);
    this.#note(`tailing ${request.channel} as throw-away consumer ${this.consumer} (deleted on exit); nothing is forwarded. Ctrl-C to stop.`);
  }

  subscribeRefused(request: SubscriptionRequest, error: ErrorMessage): void {
    this.#refuse(new ClientError('RELAY_E_CLIENT_SUBSCRIBE_REFUSED', `channel "${request.channel}": ${error.code}: ${error.message}`));
  }

  message(message: EventMessage | BacklogMessage | ErrorMessage, session: Session): void {
    if (message.type === 'error') {
      this.#note(`warning ${message.code}: ${clean(message.message, 1000)}`);
      return;
    }
    if (message.type !== 'event') return;
    // Acked before it is shown: the tail must never be the reason the relay holds an event.
    session.send({ type: 'ack', sub: message.sub, seq: message.seq, attempt: message.attempt, status: 200, latencyMs: 0 });
    this.shown++;
    if (this.json) {
      this.output.out.write(`${JSON.stringify({ time: new Date().toISOString(), ...tailedEvent(message) })}\n`);
      return;
    }
    const notes = [message.synthetic ? 'synthetic' : '', message.replay ? 'replay' : ''].filter(Boolean);
    const received = new Date(message.receivedAt);
    const time = Number.isNaN(received.getTime()) ? clock(new Date()) : clock(received);
    const channel = this.#showChannel ? `[${clean(message.channel)}] ` : '';
    writeLines(this.output.out, [`${time}  ${channel}${clean(message.eventType).padEnd(20)}  ${clean(message.id)}${notes.length > 0 ? `  (${notes.join(', ')})` : ''}`]);
  }

  invalidMessage(error: { code: string; message: string }): void {
    this.#note(`warning ${error.code}: ignored a message from the relay: ${clean(error.message, 1000)}`);
  }

  disconnected(failure: ConnectionFailure, retry: { delayMs: number; attempt: number } | undefined): void {
    if (retry !== undefined) this.#note(`${clean(failure.message, 400)}; retrying in ${formatDelay(retry.delayMs)} (attempt ${retry.attempt})`);
  }
}

/**
 * Shows new events of `options.channels` until `deps.signal` is aborted, then deletes the
 * throw-away consumer. Connection trouble is retried like `listen` does.
 *
 * @throws ClientError when the token is refused, a subscription is refused or the protocol does
 *   not match; the consumer is deleted first when the relay can still be reached.
 */
export async function runTail(options: TailOptions, deps: TailDeps): Promise<TailSummary> {
  const consumer = options.consumer ?? tailConsumerName();
  const tail = new Tail(consumer, options.channels, deps.output, deps.json);
  const subscriptions: SubscriptionRequest[] = options.channels.map((channel) => ({
    channel,
    consumer,
    // A fresh consumer starts at "now" anyway; said explicitly so the tail never replays history.
    since: 'now',
    ...(options.events === undefined || options.events.length === 0 ? {} : { events: [...options.events] }),
  }));
  const transport = new Transport(
    {
      url: relayWebSocketUrl(options.access.relay),
      token: options.access.token,
      agent: userAgent(),
      createSocket: deps.createSocket ?? createNodeSocket,
      subscriptions,
    },
    tail,
  );
  const error = await runUntilStopped(transport, tail.refused, deps.signal);
  // Closed first, so the relay is not delivering to the consumer while it is deleted.
  await transport.stop();
  const leftBehind: string[] = [];
  if (error?.code !== 'RELAY_E_CLIENT_TOKEN_REJECTED') {
    for (const channel of options.channels) {
      try {
        await deps.api.deleteConsumer(channel, consumer);
      } catch (deleteError) {
        // Never created (refused, or the relay was never reached): nothing was left behind.
        if (deleteError instanceof RelayApiError && deleteError.code === 'RELAY_E_CONSUMER_NOT_FOUND') continue;
        if (!tail.confirmed.has(channel)) continue;
        leftBehind.push(channel);
        const why = deleteError instanceof Error ? deleteError.message : String(deleteError);
        writeLines(deps.output.err, [
          `warning: could not delete the throw-away consumer ${consumer} on ${channel} (${clean(why, 400)});`,
          `  delete it later with: curl -X DELETE -H "Authorization: Bearer $RELAY_TOKEN" ${deps.api.url(`/api/consumers/${encodeURIComponent(channel)}/${consumer}`)}`,
        ]);
      }
    }
  }
  if (error !== undefined) throw error;
  writeLines(deps.output.err, [`stopped: ${tail.shown} event${tail.shown === 1 ? '' : 's'} shown${leftBehind.length === 0 ? `; consumer ${consumer} deleted` : ''}`]);
  return { consumer, shown: tail.shown, leftBehind };
}
