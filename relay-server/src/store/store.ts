import type { Channel } from '../channel.js';
import type { HeaderPairs } from '../ingest/headers.js';

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
}

/** A stored event, whole. */
export interface StoredEvent extends EventSummary {
  headers: HeaderPairs;
  body: Uint8Array;
}

/** Filters for {@link Store.listEvents}; results come newest first. */
export interface EventQuery {
  /** Channels the caller may see; `null` means all. */
  visibleChannels: readonly string[] | null;
  channel?: string;
  type?: string;
  since?: Date;
  before?: Date;
  /** 1..1000. */
  limit: number;
  /** Opaque position returned as `nextCursor` by the previous page. */
  cursor?: string;
}

/** One page of {@link Store.listEvents}. */
export interface EventPage {
  events: EventSummary[];
  /** Pass back as `cursor` for the next (older) page; absent on the last page. */
  nextCursor?: string;
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
export interface Store {
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

  /**
   * Stores an event durably and resolves only once it is on disk. A second event with the same
   * (channel, eventId) is not stored again: it resolves with the first one's seq and
   * `duplicate: true`. Sequence numbers grow per channel and are never reused.
   */
  appendEvent(event: NewEvent): Promise<AppendResult>;
  getEvent(channel: string, id: string): Promise<StoredEvent | undefined>;
  listEvents(query: EventQuery): Promise<EventPage>;

  /** Removes at most `batchSize` events that the policy no longer keeps; resolves with how many. */
  prune(policy: RetentionPolicy, now: Date, batchSize: number): Promise<number>;

  /** Resolves when the store can serve requests, rejects otherwise. */
  ping(): Promise<void>;
  /** Finishes pending writes and releases the engine. */
  close(): Promise<void>;
}
