import type { DeliveryState, EventVerificationView } from '@myop-relay/protocol';
import type { Channel } from '../channel.js';
import type { HeaderPairs } from '@myop-relay/protocol';

/** An event as ingest hands it to the store. */
export interface NewEvent {
  channel: string;
  /** Dedup key within the channel. */
  eventId: string;
  eventType: string;
  /** The exact received bytes. */
  body: Uint8Array;
  headers: HeaderPairs;
  receivedAt: Date;
  sourceIp: string;
  /** Made by the relay itself (a sample event), not by MyOperator. */
  synthetic: boolean;
  /** Webhook v2 `session_id` (the call or chat); absent for other shapes. */
  session?: string;
  /** How ingest verified the sender; absent when not known. */
  verification?: EventVerificationView;
}

/** What appending an event did. */
export type AppendResult =
  | { ok: true; seq: number; duplicate: boolean }
  | { ok: false; reason: 'unknown-channel' };

/** A stored event without its body and headers, for listings. */
export interface EventSummary {
  channel: string;
  seq: number;
  id: string;
  type: string;
  receivedAt: Date;
  sourceIp: string;
  size: number;
  synthetic: boolean;
  session: string | null;
}

/** A stored event, whole. */
export interface StoredEvent extends EventSummary {
  headers: HeaderPairs;
  body: Uint8Array;
  verification: EventVerificationView | null;
}

/**
 * A stored event as a delivery carries it. The headers stay the JSON text they are stored as
 * (`[[name, value], ...]`): a delivery only passes them on, so parsing them would be wasted work.
 */
export interface DeliveredEvent extends EventSummary {
  headersJson: string;
  body: Uint8Array;
}

/**
 * Filters for {@link Store.listEvents}; results come newest first. Channel, session, time and
 * cursor narrow the events through indexes. The others (`types`, `state`, `consumer`, `text`)
 * read each candidate, so one call examines at most {@link EventQuery.scanLimit} candidates.
 */
export interface EventQuery {
  /** Channels the caller may see; `null` means all. */
  visibleChannels: readonly string[] | null;
  channel?: string;
  /** Exact event type. */
  type?: string;
  /** Event-type globs (`*`, `?`, as consumers' filters); any one matching is enough. */
  types?: readonly string[];
  since?: Date;
  before?: Date;
  /** Webhook v2 `session_id`. */
  session?: string;
  /** Only events in this state with some consumer (with {@link consumer}: with that one). */
  state?: DeliveryState;
  /** Only events for this consumer (delivered, or still to be). */
  consumer?: string;
  /** Only events whose stored body contains these bytes (UTF-8), case-sensitively. */
  text?: string;
  /** Most candidates the reading filters examine in one call. Default {@link DEFAULT_SCAN_LIMIT}. */
  scanLimit?: number;
  /** 1..1000. */
  limit: number;
  /** Opaque position returned as `nextCursor` by the previous page. */
  cursor?: string;
}

/** Candidates the reading filters of {@link EventQuery} examine per call by default: 10 000. */
export const DEFAULT_SCAN_LIMIT = 10_000;

/** One page of {@link Store.listEvents}. */
export interface EventPage {
  events: EventSummary[];
  /** Pass back as `cursor` for the next (older) page; absent on the last page. */
  nextCursor?: string;
  /** The reading filters examined {@link EventQuery.scanLimit} candidates before the page was full. */
  scanLimited?: boolean;
}

/** One consumer's state for one event (see {@link Store.deliveryStates}). */
export interface EventDeliveryState {
  seq: number;
  consumer: string;
  state: DeliveryState;
  attempts: number;
  /** A retry's time, or the end of the lease of the attempt in flight; null when nothing is due. */
  nextAttemptAt: Date | null;
}

/** Per-channel counts for the channel listing. */
export interface ChannelStats {
  events: number;
  lastSeq: number;
  lastReceivedAt: Date | null;
}

/** Who may use the API and the WebSocket. Only a hash of the token is kept. */
export interface TokenRecord {
  name: string;
  /** SHA-256 (hex) of the token string. */
  hash: string;
  role: 'admin' | 'developer';
  /** Channels a developer token may read; `null` means every channel (admins always see all). */
  channels: string[] | null;
  createdAt: Date;
}

/** Who did an admin action: the API token's name, or the command line on the relay's host. */
export type AuditActor = { kind: 'token'; name: string } | { kind: 'cli' };

/** One admin action as the audit log keeps it. Never holds a secret, a token or an API key. */
export interface AuditEntry {
  at: Date;
  actor: AuditActor;
  /** e.g. `channel.add`, `token.revoke`, `consumer.replay`; see AUDIT_ACTIONS. */
  action: string;
  /** What it was done to: a channel, a token name, or `channel/consumer`. */
  target: string;
  /** Facts about the action that are not secret (changed setting names, a role, counts). */
  detail: Record<string, unknown>;
}

/** When old events are removed. */
export interface RetentionPolicy {
  /** Events received longer ago than this are removed. */
  maxAgeMs: number;
  /** Per channel, only the newest this many events are kept. */
  maxEventsPerChannel: number;
}

/**
 * Durable state of the relay. One implementation per database engine; all of them pass the
 * same conformance suite. Every method may reject with a `RelayError` coded
 * `RELAY_E_STORE_UNAVAILABLE` or `RELAY_E_STORE_FULL` when the engine fails.
 */
export interface Store extends DeliveryStore {
  /** Engine name for logs and `/readyz`. */
  readonly engine: string;

  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;

  /** Rejects with `RELAY_E_CHANNEL_EXISTS` when the name is taken. */
  createChannel(channel: Channel): Promise<void>;
  /** Replaces the channel's settings; rejects with `RELAY_E_UNKNOWN_CHANNEL` when absent. */
  updateChannel(channel: Channel): Promise<void>;
  getChannel(name: string): Promise<Channel | undefined>;
  listChannels(): Promise<Channel[]>;
  channelStats(name: string): Promise<ChannelStats>;
  /** Removes the channel and all its events. False when it did not exist. */
  removeChannel(name: string): Promise<boolean>;

  /** Rejects with `RELAY_E_TOKEN_EXISTS` when the name is taken. */
  createToken(token: TokenRecord): Promise<void>;
  findTokenByHash(hash: string): Promise<TokenRecord | undefined>;
  listTokens(): Promise<TokenRecord[]>;
  /** Deletes the token. False when it did not exist. */
  revokeToken(name: string): Promise<boolean>;
  /** Sets the channels a token may read (`null`: all); the token string stays valid. False when it did not exist. */
  updateTokenChannels(name: string, channels: readonly string[] | null): Promise<boolean>;

  /**
   * Stores an event durably and resolves only once it is on disk. A second event with the same
   * (channel, eventId) is not stored again: it resolves with the first one's seq and
   * `duplicate: true`. Sequence numbers grow per channel and are never reused.
   */
  appendEvent(event: NewEvent): Promise<AppendResult>;
  getEvent(channel: string, id: string): Promise<StoredEvent | undefined>;
  listEvents(query: EventQuery): Promise<EventPage>;
  /**
   * Each consumer's state for the given events of one channel, in seq then consumer order.
   * Consumers an event is not for (filtered out, or started after it) have no entry.
   */
  deliveryStates(channel: string, seqs: readonly number[]): Promise<EventDeliveryState[]>;

  /** Removes at most `batchSize` events that the policy no longer keeps; resolves with how many. */
  prune(policy: RetentionPolicy, now: Date, batchSize: number): Promise<number>;

  /**
   * Engines shared by several relay-server processes call `listener` when another process stored
   * an event, so its consumers here wake at once. Returns a function that stops the calls.
   * Single-process engines (SQLite) leave it out; the hub's poll is the safety net either way.
   */
  onRemoteEvent?(listener: (channel: string) => void): () => void;

  /**
   * Calls `listener` as soon as new events of a channel are committed: both engines' commits are
   * visible before they are on disk (SQLite flushes its WAL after the commit; Postgres commits the
   * append asynchronously, then one synchronous transaction), so consumers can be sent them while
   * the flush runs; {@link appendEvent} still resolves only after it. Returns a function that
   * stops the calls.
   */
  onCommitted(listener: (channel: string) => void): () => void;

  /**
   * Resolves when the store can take a write now: an event appended now would be stored without
   * waiting on a lock. Rejects otherwise with a RelayError whose detail says why (the engine is
   * unreachable or locked, its tables are missing, a flush failed, the disk is full). Writes
   * nothing and does not wait on locks, so `/readyz` can ask it every time.
   */
  checkWritable(): Promise<void>;

  /**
   * Calls `listener` after each group commit of appended events is durable, with how many events
   * it held and how long it took from the start of the commit to the disk's answer (SQLite: the
   * transactions and the flush of the WAL; Postgres: the append transactions and the synchronous
   * commit after them). Returns a function that stops the calls. For metrics.
   */
  onAppendFlushed(listener: (events: number, seconds: number) => void): () => void;

  /** Records an admin action in the audit log. */
  appendAudit(entry: AuditEntry): Promise<void>;
  /** The newest `limit` (1..1000) audit entries, newest first. */
  listAudit(limit: number): Promise<AuditEntry[]>;

  /** Bytes the store takes on disk: the database and WAL files (SQLite), or the schema's tables with their indexes and TOAST (Postgres). */
  storageBytes(): Promise<number>;

  /** Finishes pending writes and releases the engine. */
  close(): Promise<void>;
}

/** Where a new consumer starts reading its channel. */
export type ConsumerStart = { kind: 'now' } | { kind: 'time'; at: Date } | { kind: 'seq'; seq: number };

/** What a session asks for when it subscribes. */
export interface ConsumerSpec {
  channel: string;
  name: string;
  /** Used only when the consumer is new; an existing consumer resumes where it was. */
  start: ConsumerStart;
  /** Event-type globs (`*` any run of characters, `?` one); empty means every type. */
  filter: readonly string[];
  /** After this many failed attempts an event is parked as failed; `null` means never. */
  maxAttempts: number | null;
  /** Name of the token that subscribes; recorded on a consumer this call creates. Default: none. */
  createdBy?: string;
  /**
   * A new consumer is refused when `createdBy` has already created this many on the channel.
   * Engines shared by several processes check it without a lock, so racing subscribes of one
   * token may end a few over. Default: no limit.
   */
  maxCreatedBy?: number;
}

/** What opening a consumer did: created it, found it, or refused to create it past {@link ConsumerSpec.maxCreatedBy}. */
export type OpenConsumerResult = { created: boolean } | { refused: 'consumer-limit' };

/** An event handed to a session, with the number of this attempt (1 for the first). */
export interface Delivery {
  event: DeliveredEvent;
  attempt: number;
  /** Queued again on request (replay), not by a failure. */
  replay: boolean;
}

/** A session's request for events to send. */
export interface ClaimRequest {
  channel: string;
  consumer: string;
  /** Session id; holds the claimed events until acked, nacked, released or the lease ends. */
  session: string;
  /** Most events to claim. */
  limit: number;
  /** Only one event of this consumer may be unacknowledged at a time, in sequence order. */
  ordered: boolean;
  now: Date;
  /** How long the session holds an event without answering before it goes to another. */
  leaseMs: number;
  /**
   * Most bytes of events (body plus stored headers) to claim. Events are claimed in order while
   * they fit; the first is claimed whatever its size, so a larger one still goes out. Bodies
   * of events that do not fit are never read. Default: no byte limit.
   */
  maxBytes?: number;
}

/** The local handler's answer to one attempt, as the client reported it. */
export interface AttemptOutcome {
  channel: string;
  consumer: string;
  seq: number;
  attempt: number;
  session: string;
  now: Date;
  latencyMs: number;
  /** HTTP status from the local handler, when it answered. */
  status?: number;
  /** Why the attempt failed without a status (refused, timeout, redirect…). */
  error?: string;
  /** The handler's answer as relay-client reported it, when it reported one. */
  answer?: HandlerAnswer;
}

/**
 * A local handler's answer to one attempt, as relay-client reports it: bounded by the protocol
 * (`MAX_RESPONSE_HEADERS`, `MAX_RESPONSE_BODY_BYTES`) before it reaches a store.
 */
export interface HandlerAnswer {
  /** Answer headers in received order; empty when none were reported. */
  headers: [name: string, value: string][];
  /** The first bytes of the body, or null when none were reported. */
  body: Uint8Array | null;
  /** Body bytes the handler sent in all; null when not reported. */
  bytes: number | null;
  /** Whether `body` holds less than the whole body. */
  truncated: boolean;
}

/** What a negative acknowledgement did. */
export type NackResult =
  | { state: 'retry'; nextAttemptAt: Date }
  | { state: 'failed' }
  /** The delivery was already settled, or the nack was for an older attempt. */
  | { state: 'ignored' };

/** One consumer as `GET /api/consumers` shows it. */
export interface ConsumerInfo {
  channel: string;
  name: string;
  createdAt: Date;
  filter: string[];
  maxAttempts: number | null;
  /** Events waiting for this consumer: in flight, waiting to be retried, or not yet sent. */
  pending: number;
  oldestPendingAt: Date | null;
  lastAckAt: Date | null;
  /** Events whose last attempt failed and that will be tried again (part of `pending`). */
  failing: number;
  /** Events parked after `maxAttempts`. */
  failed: number;
  /** Of the pending events, those whose last attempt failed and that wait for their retry. */
  retrying: number;
  /** The latest failed attempt of an event still failing or parked; null when there is none. */
  lastFailure: ConsumerFailure | null;
}

/** A consumer's latest failed attempt, as {@link ConsumerInfo.lastFailure} reports it. */
export interface ConsumerFailure {
  eventId: string;
  eventType: string;
  seq: number;
  attempt: number;
  at: Date;
  /** The handler's status, when it answered. */
  status: number | null;
  error: string | null;
  /** The start of the handler's answer body, when relay-client reported it. */
  responseBody: Uint8Array | null;
}

/** One attempt to deliver an event to a consumer. */
export interface AttemptRecord {
  consumer: string;
  attempt: number;
  session: string;
  startedAt: Date;
  finishedAt: Date | null;
  status: number | null;
  latencyMs: number | null;
  error: string | null;
  /** `null` while the attempt is in flight. */
  outcome: 'acked' | 'retry' | 'failed' | 'abandoned' | null;
  /** The handler's answer, when relay-client reported one. */
  answer: HandlerAnswer | null;
}

/** Delivery state kept per consumer: durable subscriptions, leases and the attempt log. */
export interface DeliveryStore {
  /** Creates the consumer or updates its filter and max attempts. */
  openConsumer(spec: ConsumerSpec, now: Date): Promise<OpenConsumerResult>;
  /**
   * Hands out up to `limit` events for the session: first deliveries due again (retry time
   * reached, or lease expired), then events after the consumer's position that match its filter.
   * Each claimed event starts a new attempt, leased to the session.
   *
   * Claims, acks and nacks of a consumer take effect in the order they are called, whether or
   * not the earlier ones have resolved: a claim sees every answer asked for before it.
   */
  claimDeliveries(request: ClaimRequest): Promise<Delivery[]>;
  /** Records a 2xx from the local handler; the event is done for this consumer. False when it already was. */
  ackDelivery(outcome: AttemptOutcome): Promise<boolean>;
  /** Records a failed attempt; the event is retried at `retryAt` or parked after max attempts. */
  nackDelivery(outcome: AttemptOutcome, retryAt: Date): Promise<NackResult>;
  /** Returns the session's unanswered events to their consumers at once (session closed). */
  releaseSession(session: string, now: Date, reason: string): Promise<number>;
  /** Earliest time a retry or a lease expiry of this consumer falls due; null when none. */
  nextDueAt(channel: string, consumer: string): Promise<Date | null>;
  /** Consumers of a channel with their counts. */
  listConsumers(channel: string): Promise<ConsumerInfo[]>;
  /** Deletes the consumer with its delivery state. False when it did not exist. */
  deleteConsumer(channel: string, name: string): Promise<boolean>;
  /**
   * Queues stored events (by seq) again for an existing consumer, whatever their state, marked as
   * a replay; each goes out with the next attempt number. Resolves with how many were queued
   * (seqs of events that no longer exist are skipped); rejects with RELAY_E_CONSUMER_NOT_FOUND
   * when the consumer does not exist.
   */
  requeueDeliveries(channel: string, consumer: string, seqs: readonly number[], now: Date): Promise<number>;
  /** Every attempt to deliver the event, oldest first; undefined when the event does not exist. */
  listAttempts(channel: string, eventId: string): Promise<AttemptRecord[] | undefined>;
}
