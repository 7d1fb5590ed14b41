/**
 * The messages of the myop-relay.v1 WebSocket protocol and its constants. Every message is a JSON
 * object whose `type` field selects one member of {@link ClientMessage} or {@link ServerMessage}.
 * `docs/protocol.md` is the prose specification of the same protocol.
 */
import type { ErrorCode } from './errors.js';

/** WebSocket subprotocol a client offers in `Sec-WebSocket-Protocol`. */
export const PROTOCOL_NAME = 'myop-relay.v1';

/** Protocol version a client sends in `hello.protocol` and the server repeats in `welcome`. */
export const PROTOCOL_VERSION = 1;

/** Path of the WebSocket endpoint on the relay-server. */
export const WS_PATH = '/ws';

/**
 * Largest message, in UTF-8 bytes, either side sends or accepts unless `welcome.maxMessageBytes`
 * says otherwise: 4 MiB, room for a 1 MiB body (about 1.34 MiB as base64) plus headers.
 */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** Default heartbeat interval in milliseconds (15 s); the server may announce another in `welcome`. */
export const HEARTBEAT_INTERVAL_MS = 15_000;

/**
 * A peer from which nothing (no message of any type) arrived for this many heartbeat intervals
 * is considered dead: 2.
 */
export const HEARTBEAT_TIMEOUT_INTERVALS = 2;

/** Time in milliseconds a client has after the WebSocket opens to send `hello`: 10 s. */
export const HELLO_TIMEOUT_MS = 10_000;

/** `subscribe.window` when the client leaves it out: 8 events in flight. */
export const DEFAULT_WINDOW = 8;

/** Largest allowed `subscribe.window`: 1024. */
export const MAX_WINDOW = 1024;

/** Longest channel name, consumer name, ref, subscription id or event id, in characters: 128. */
export const MAX_NAME_LENGTH = 128;

/** Most header pairs an `event` may carry: 200. */
export const MAX_HEADERS = 200;

/** Most glob patterns in `subscribe.events`: 64. */
export const MAX_EVENT_PATTERNS = 64;

/** Longest `nack.error`, in characters: 1000. */
export const MAX_NACK_ERROR_LENGTH = 1000;

/** Most header pairs of a handler's answer an `ack` or `nack` may report: 50. */
export const MAX_RESPONSE_HEADERS = 50;

/** Most characters, names and values together, of the answer headers an `ack` or `nack` may report: 8 KiB. */
export const MAX_RESPONSE_HEADER_CHARS = 8 * 1024;

/** Most bytes of a handler's answer body an `ack` or `nack` may carry (`--capture-bytes` at most): 4 KiB. */
export const MAX_RESPONSE_BODY_BYTES = 4 * 1024;

/** Default delay before the first redelivery of a nacked event (`--retry-initial`): 1 s. */
export const RETRY_INITIAL_DELAY_MS = 1_000;

/** Default upper bound of the redelivery delay (`--retry-max`): 60 s. */
export const RETRY_MAX_DELAY_MS = 60_000;

/** A relay's redelivery schedule, as `--retry-initial` and `--retry-max` set it and `welcome` tells it. */
export interface RetrySchedule {
  initialMs: number;
  maxMs: number;
}

/** The schedule of a relay started without `--retry-initial` and `--retry-max`. */
export const DEFAULT_RETRY_SCHEDULE: RetrySchedule = Object.freeze({ initialMs: RETRY_INITIAL_DELAY_MS, maxMs: RETRY_MAX_DELAY_MS });

/**
 * How long the server waits after a nack of delivery `attempt` before it sends attempt
 * `attempt + 1`: `initialMs` after the first attempt, doubling each time, capped at `maxMs`.
 * The one definition of the schedule: the server's hub schedules by it, and the client tells the
 * user when the next attempt comes by it, with the schedule the server sent in `welcome`.
 *
 * @param attempt - the attempt that was nacked, 1 or more; values below 1 are treated as 1.
 */
export function retryDelayMs(attempt: number, schedule: RetrySchedule = DEFAULT_RETRY_SCHEDULE): number {
  const exponent = Math.max(0, Math.floor(attempt) - 1);
  // Past 2^30 the cap applies anyway; clamping the exponent keeps huge attempts from overflowing.
  return Math.min(schedule.maxMs, schedule.initialMs * 2 ** Math.min(exponent, 30));
}

// ---------------------------------------------------------------------------------------------
// Client → server

/** First message of every connection: names the protocol version and, optionally, the token. */
export interface HelloMessage {
  type: 'hello';
  /** Protocol version the client speaks; {@link PROTOCOL_VERSION}. */
  protocol: number;
  /**
   * Bearer token, only when it could not be sent as `Authorization: Bearer` at the upgrade
   * (browsers and the standard WebSocket API cannot set headers). Never sent in the URL.
   */
  token?: string;
  /** Software and runtime of the client, e.g. `relay-client/0.1.0 node/20.11.0`; for logs. */
  agent: string;
}

/** Starts receiving one channel's events as one consumer. */
export interface SubscribeMessage {
  type: 'subscribe';
  /** Client-chosen id, echoed in the `subscribed` reply or in the `error` that refuses it. */
  ref: string;
  /** Channel name: 1-128 characters of `A-Z a-z 0-9 . _ @ : -`. */
  channel: string;
  /**
   * Durable consumer name: 1-128 characters, no control characters. The relay keeps one position
   * and one set of acknowledgements per channel and consumer.
   */
  consumer: string;
  /** Glob patterns over event types, e.g. `call.*`; only matching events are sent. Default: all. */
  events?: string[];
  /**
   * Where to start: `now`, a duration back from now (`30s`, `15m`, `2h`, `1d`, `1h30m`), an
   * ISO-8601 time with zone, or a sequence number (decimal string). Default: resume the
   * consumer where it stopped, or `now` for a new consumer.
   */
  since?: string;
  /** Most events in flight (sent, not yet acked or nacked), 1-1024. Default {@link DEFAULT_WINDOW}. */
  window?: number;
  /** Deliver strictly in sequence order, one at a time (window 1). Default false. */
  ordered?: boolean;
  /** Park an event as failed for this consumer after this many failed attempts, 1-1000. Default: no limit. */
  maxAttempts?: number;
}

/** The local handler answered an event with a 2xx; the event is done for this consumer. */
export interface AckMessage {
  type: 'ack';
  /** Subscription id from `subscribed`. */
  sub: string;
  /** Sequence number of the event within its channel. */
  seq: number;
  /** The attempt being answered, from `event.attempt`. */
  attempt: number;
  /** HTTP status the local handler answered with, 200-299. */
  status: number;
  /** Milliseconds from sending the local request to its answer. */
  latencyMs: number;
  /**
   * The local handler's answer headers in received order, bounded by {@link MAX_RESPONSE_HEADERS}
   * pairs and {@link MAX_RESPONSE_HEADER_CHARS} characters. Absent when the client captures nothing.
   */
  responseHeaders?: [name: string, value: string][];
  /** The first bytes of the answer body, padded base64 of at most {@link MAX_RESPONSE_BODY_BYTES} bytes. */
  responseBody?: string;
  /** Body bytes the handler sent in all, captured or not. */
  responseBytes?: number;
  /** Whether `responseBody` holds less than the whole body. */
  responseBodyTruncated?: boolean;
}

/** The local handler failed the event; the server delivers it again after a backoff. */
export interface NackMessage {
  type: 'nack';
  /** Subscription id from `subscribed`. */
  sub: string;
  /** Sequence number of the event within its channel. */
  seq: number;
  /** The attempt being answered, from `event.attempt`. */
  attempt: number;
  /** HTTP status, 100-599, when the local handler answered at all. */
  status?: number;
  /**
   * Why the delivery failed when there was no usable answer, e.g. `ECONNREFUSED`,
   * `timeout after 10000 ms`, `redirect not followed`. At most 1000 characters.
   * At least one of `status` and `error` is present.
   */
  error?: string;
  /** Milliseconds from sending the local request to its answer or failure. */
  latencyMs: number;
  /**
   * The local handler's answer headers in received order, bounded by {@link MAX_RESPONSE_HEADERS}
   * pairs and {@link MAX_RESPONSE_HEADER_CHARS} characters. Absent when the client captures nothing.
   */
  responseHeaders?: [name: string, value: string][];
  /** The first bytes of the answer body, padded base64 of at most {@link MAX_RESPONSE_BODY_BYTES} bytes. */
  responseBody?: string;
  /** Body bytes the handler sent in all, captured or not. */
  responseBytes?: number;
  /** Whether `responseBody` holds less than the whole body. */
  responseBodyTruncated?: boolean;
}

/** Ends a subscription; the consumer's position and acks are kept. */
export interface UnsubscribeMessage {
  type: 'unsubscribe';
  /** Subscription id from `subscribed`. */
  sub: string;
}

/** Heartbeat; the receiver answers with a {@link PongMessage} carrying the same `ts`. */
export interface PingMessage {
  type: 'ping';
  /** Sender's clock reading in milliseconds, echoed in the pong to measure round-trip time. */
  ts: number;
}

/** Answer to a {@link PingMessage}. */
export interface PongMessage {
  type: 'pong';
  /** The `ts` of the ping being answered. */
  ts: number;
}

/** Any message a relay-client sends to the relay-server. */
export type ClientMessage =
  | HelloMessage
  | SubscribeMessage
  | AckMessage
  | NackMessage
  | UnsubscribeMessage
  | PingMessage
  | PongMessage;

// ---------------------------------------------------------------------------------------------
// Server → client

/** Answer to a successful hello. */
export interface WelcomeMessage {
  type: 'welcome';
  /** Protocol version the server speaks on this connection. */
  protocol: number;
  /** Id of this connection, for correlating client and server logs. */
  session: string;
  /** relay-server version string, e.g. `0.1.0`. */
  server: string;
  /** Heartbeat interval in milliseconds both sides use from now on. */
  heartbeatMs: number;
  /** Largest message, in bytes, the server accepts and sends on this connection. */
  maxMessageBytes: number;
  /**
   * The server's redelivery schedule ({@link retryDelayMs}): delay after a first failed attempt,
   * and its cap. Absent from servers older than this field; assume {@link DEFAULT_RETRY_SCHEDULE}.
   */
  retryInitialMs?: number;
  retryMaxMs?: number;
}

/** Answer to a successful subscribe. */
export interface SubscribedMessage {
  type: 'subscribed';
  /** The `ref` of the subscribe being answered. */
  ref: string;
  /** Subscription id to use in ack, nack and unsubscribe. */
  sub: string;
  channel: string;
  consumer: string;
  /** Whether the consumer did not exist before this subscribe. */
  created: boolean;
  /** Events waiting for this consumer at the time of subscribing. */
  pending: number;
}

/** One stored webhook, delivered to one subscription. */
export interface EventMessage {
  type: 'event';
  /** Subscription the event is delivered on. */
  sub: string;
  channel: string;
  consumer: string;
  /** Sequence number of the event within its channel; increases with arrival order. */
  seq: number;
  /** Event id; the same on every redelivery. */
  id: string;
  /** Event type, e.g. `call.answered`. */
  eventType: string;
  /** Delivery attempt to this consumer, 1 for the first. */
  attempt: number;
  /** When the relay received the webhook, ISO-8601. */
  receivedAt: string;
  /** Original request headers in order, names as received. */
  headers: [string, string][];
  /** Base64 of the exact stored body bytes; see `decodeBody`. */
  body: string;
  /** Whether the relay made the event itself (e.g. a test event) instead of MyOperator. */
  synthetic: boolean;
  /** Whether the event was queued again on request (a replay), not because an attempt failed. */
  replay: boolean;
}

/** Progress while a subscription catches up with events that were waiting. */
export interface BacklogMessage {
  type: 'backlog';
  sub: string;
  /** Waiting events delivered so far. */
  delivered: number;
  /** Events that were waiting when the subscription started. */
  total: number;
}

/** A refused request (connection stays open) or the reason the connection is about to close. */
export interface ErrorMessage {
  type: 'error';
  code: ErrorCode;
  /** What went wrong and what to do, for the user. */
  message: string;
  /** The `ref` of the subscribe this error refuses. */
  ref?: string;
  /** The subscription this error concerns. */
  sub?: string;
  /** Whether the server closes the connection right after this message. */
  fatal: boolean;
}

/** Any message the relay-server sends to a relay-client. */
export type ServerMessage =
  | WelcomeMessage
  | SubscribedMessage
  | EventMessage
  | BacklogMessage
  | ErrorMessage
  | PingMessage
  | PongMessage;

/** The `type` of a {@link ClientMessage}. */
export type ClientMessageType = ClientMessage['type'];

/** The `type` of a {@link ServerMessage}. */
export type ServerMessageType = ServerMessage['type'];

// ---------------------------------------------------------------------------------------------
// Names shared with configuration and the CLI

// A channel name is a path segment of the webhook URL (`/hooks/<channel>`), so it keeps to
// characters that need no percent-encoding.
const CHANNEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
// DEL (0x7f) and the C1 range are control characters too; they garble terminal output.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// With the u flag a surrogate range matches only unpaired surrogates, which UTF-8 cannot carry.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Number of Unicode code points in `value`; names are limited in characters, not UTF-16 units. */
export function codePointLength(value: string): number {
  let n = 0;
  for (const _ of value) n++;
  return n;
}

/**
 * Why `value` is not a valid name-like string (ref, subscription id, event id, consumer, ...),
 * or `undefined` when it is: 1 to `max` characters, well-formed Unicode, no control characters.
 */
export function validateText(value: string, max: number): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (codePointLength(value) > max) return `must be at most ${max} characters`;
  if (CONTROL.test(value)) return 'must not contain control characters';
  if (LONE_SURROGATE.test(value)) return 'must be well-formed Unicode';
  return undefined;
}

/** Longest channel name, in characters: 64. */
export const MAX_CHANNEL_NAME_LENGTH = 64;

/**
 * Why `name` is not a valid channel name, or `undefined` when it is: 1-64 characters of letters,
 * digits, `.`, `_` or `-`, starting with a letter or digit. The one rule for the server's
 * channels, the client's flags and the protocol's messages.
 */
export function validateChannelName(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > MAX_CHANNEL_NAME_LENGTH) return `must be at most ${MAX_CHANNEL_NAME_LENGTH} characters`;
  if (!CHANNEL_NAME.test(name)) return "must be letters, digits, '.', '_' or '-', starting with a letter or digit";
  return undefined;
}

/**
 * Why `name` is not a valid consumer name, or `undefined` when it is: 1-128 characters,
 * no control characters.
 */
export function validateConsumerName(name: string): string | undefined {
  return validateText(name, MAX_NAME_LENGTH);
}
