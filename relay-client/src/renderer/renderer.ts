/**
 * What `listen` tells the user, as typed events. Implementations decide the form: plain text,
 * coloured text, JSON lines, or a recording for tests. No implementation ever receives the token.
 */
import type { ConnectionFailure } from '../failure.js';
import type { ForwardOutcome } from '../forwarder.js';

/** `listen` is starting. */
export interface StartingInfo {
  /** The relay's WebSocket URL. */
  relay: string;
  /** The local handler URL, as displayed. */
  forwardTo: string;
  channels: readonly string[];
  consumer: string;
}

/** A connection attempt starts. */
export interface ConnectingInfo {
  url: string;
  /** Consecutive attempt, 1 for the first after a start or a connection that stayed up. */
  attempt: number;
}

/** The relay welcomed the client. */
export interface ConnectedInfo {
  url: string;
  /** The relay's connection id, to match its logs. */
  session: string;
  /** relay-server version. */
  server: string;
}

/** A subscription is active. */
export interface SubscribedInfo {
  channel: string;
  consumer: string;
  /** Whether the relay created the consumer just now (else it resumes where it stopped). */
  created: boolean;
  /** Events waiting for this consumer. */
  pending: number;
}

/** The connection ended and the client will try again. */
export interface ReconnectingInfo {
  failure: ConnectionFailure;
  /** Milliseconds until the next attempt. */
  delayMs: number;
  /** Number of that attempt. */
  attempt: number;
}

/** Identity of one delivery of an event. */
export interface DeliveryInfo {
  channel: string;
  seq: number;
  /** Event id; the same on every attempt. */
  id: string;
  eventType: string;
  attempt: number;
  /** When the relay received the webhook, ISO-8601. */
  receivedAt: string;
  synthetic: boolean;
  replay: boolean;
}

/** An event arrived and is being forwarded. */
export interface EventReceivedInfo extends DeliveryInfo {
  /** Body size in bytes. */
  bytes: number;
}

/** How the relay was told about a forward. */
export type AnswerSent =
  /** `ack` sent: the event is done for this consumer. */
  | 'ack'
  /** `nack` sent: the relay delivers it again after a backoff. */
  | 'nack'
  /** The connection that delivered the event is gone; the relay delivers it again. */
  | 'lost';

/** A forward finished. */
export interface ForwardedInfo extends DeliveryInfo {
  method: 'POST';
  /** The local handler URL, as displayed. */
  url: string;
  outcome: ForwardOutcome;
  answer: AnswerSent;
  /**
   * For a nack: the relay's estimated delay before the next attempt (`retryDelayMs(attempt)`),
   * or `undefined` when `maxAttempts` is reached and the event is parked as failed.
   */
  nextAttemptMs?: number;
}

/** Progress while a subscription works through waiting events. */
export interface BacklogInfo {
  channel: string;
  delivered: number;
  total: number;
}

/** A problem worth telling the user. */
export interface ErrorInfo {
  /** Stable code: a `RELAY_E_CLIENT_*` or `RELAY_E_WS_*` code, or a system error code. */
  code: string;
  message: string;
  /** Whether `listen` stops because of it. */
  fatal: boolean;
}

/** Stopping was requested; in-flight forwards are finishing. */
export interface StoppingInfo {
  /** Forwards still running. */
  inFlight: number;
  /** They finish within this many milliseconds (the forward timeout). */
  timeoutMs: number;
}

/** Something about a subscription the user should act on, found on the relay after subscribing. */
export type HintInfo =
  /**
   * Other sessions are subscribed as the same consumer: the relay splits the consumer's events
   * between them, so this session gets only some.
   */
  | { kind: 'shared-consumer'; channel: string; consumer: string; sessions: number }
  /** The consumer is new and the channel already held events, which a new consumer does not get (without `--since`). */
  | { kind: 'stored-before'; channel: string; consumer: string; stored: number };

/** Counts of a `listen` run. */
export interface ListenSummary {
  /** Whether the run ever reached the relay; when false the counts say nothing about the relay. */
  connected: boolean;
  /** Events the handler answered 2xx and that were acked. */
  delivered: number;
  /** Failed attempts (non-2xx, error or timeout), each nacked or left for redelivery. */
  failed: number;
  /**
   * Events the relay still holds for this consumer on the run's channels: waiting, in flight, or
   * in backoff after a failed attempt. `pendingFrom` says where the figure comes from.
   */
  pending: number;
  /**
   * `relay`: asked from the relay after the stop (its count, every session of the consumer);
   * `client`: the relay could not be asked, so only events this run received and did not finish.
   */
  pendingFrom: 'relay' | 'client';
}

/** Receives everything `listen` reports. Methods must not throw. */
export interface Renderer {
  starting(info: StartingInfo): void;
  connecting(info: ConnectingInfo): void;
  connected(info: ConnectedInfo): void;
  subscribed(info: SubscribedInfo): void;
  reconnecting(info: ReconnectingInfo): void;
  eventReceived(info: EventReceivedInfo): void;
  forwarded(info: ForwardedInfo): void;
  backlog(info: BacklogInfo): void;
  hint(info: HintInfo): void;
  error(info: ErrorInfo): void;
  stopping(info: StoppingInfo): void;
  summary(info: ListenSummary): void;
}
