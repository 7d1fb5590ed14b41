import type pg from 'pg';
import type { Channel } from '../channel.js';
import { RelayError } from '../errors.js';
import { runPrune, type PrunedEvent } from './prune.js';
import { AppendListeners } from './append-listeners.js';
import { GroupCommit } from './group-commit.js';
import { PostgresChannelCache } from './postgres-channel-cache.js';
import { backendPid, blocksEveryWrite, changed, createPool, DEFAULT_TIMEOUTS, describeDatabaseUrl, firstRow, inTransaction, rows, runStatement, toStoreError } from './postgres-connection.js';
import type { PostgresTimeouts, Queryable } from './postgres-connection.js';
import { PostgresDeliveries, toStoredEvent, type StoredEventRow } from './postgres-delivery.js';
import { SUMMARY_COLUMNS, deliveryStates, listEvents } from './postgres-event-query.js';
import { NotificationListener, notifyChannel, SETTINGS_PAYLOAD } from './postgres-listener.js';
import { appendEventBatch, checkFlushAllowed, flushWal } from './postgres-events.js';
import { ConsumerTurns } from './postgres-turns.js';
import { PostgresStatistics } from './postgres-statistics.js';
import { postgresTokens } from './postgres-tokens.js';
import { probeWritable } from './postgres-readiness.js';
import { applyMigrations, lockSchemaWide, type MigrationReport } from './postgres-schema.js';
import { actorText, toAuditEntry, type AuditRow } from './audit-rows.js';
import type {
  AppendResult,
  AuditEntry,
  AttemptOutcome,
  AttemptRecord,
  ChannelStats,
  ClaimRequest,
  ConsumerInfo,
  ConsumerSpec,
  Delivery,
  EventDeliveryState,
  EventPage,
  EventQuery,
  NackResult,
  NewEvent,
  OpenConsumerResult,
  RetentionPolicy,
  Store,
  StoredEvent,
  TokenRecord,
} from './store.js';

export { NOTIFY_PREFIX, notifyChannel } from './postgres-listener.js';

/** Options of {@link openPostgresStore}. */
export interface PostgresStoreOptions {
  /** `postgres://user:password@host:5432/database`; `?options=-c%20search_path%3D<schema>` picks a schema. */
  url: string;
  /** Most pooled connections. Default 10. */
  poolSize?: number;
  /** Bounds on every wait for Postgres; each left out takes its {@link DEFAULT_TIMEOUTS} value. */
  timeouts?: Partial<PostgresTimeouts>;
  /** NOTIFY other processes of stored events and LISTEN for theirs. Default true. */
  notify?: boolean;
  /** Most events committed in one transaction. Default 256. */
  maxBatch?: number;
  /** Most body bytes committed in one transaction (a bigger event goes alone). Default 16 MiB. */
  maxBatchBytes?: number;
  /** Hot statements as named prepared statements; off behind a pooler in transaction mode. Default true. */
  preparedStatements?: boolean;
  /**
   * Delivery state (claims, acks, nacks) committed with `synchronous_commit = off`, as the embedded
   * store commits it: a crash of Postgres may lose its last fraction of a second, and those events
   * go out again; none is lost. Appends always wait for the flush. Default true.
   */
  asyncDeliveryCommit?: boolean;
  /** Hears trouble the store recovers from by itself (a lost idle connection, LISTEN reconnecting). Default: ignored. */
  onWarning?: (message: string, error: Error) => void;
}

const SQL = {
  getMeta: 'SELECT value FROM meta WHERE key = $1',
  setMeta: 'INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  insertChannel: 'INSERT INTO channels (name, config, created_at) VALUES ($1, $2::jsonb, $3) ON CONFLICT (name) DO NOTHING',
  updateChannel: 'UPDATE channels SET config = $2::jsonb WHERE name = $1',
  notifyOne: 'SELECT pg_notify($1, $2)',
  getChannel: { name: 'relay_get_channel', text: 'SELECT config FROM channels WHERE name = $1' },
  listChannels: 'SELECT config FROM channels ORDER BY name COLLATE "C"',
  channelStats: `SELECT (SELECT last_seq FROM channels WHERE name = $1) AS last_seq, COUNT(*) AS n, MAX(received_at) AS last
    FROM events WHERE channel = $1`,
  /** The channel row goes first: appends to it wait for the removal and then find no channel. */
  deleteChannel: 'DELETE FROM channels WHERE name = $1',
  deleteChannelEvents: 'DELETE FROM events WHERE channel = $1',
  deleteChannelConsumers: 'DELETE FROM consumers WHERE channel = $1',
  deleteChannelDeliveries: 'DELETE FROM deliveries WHERE channel = $1',
  deleteChannelAttempts: 'DELETE FROM attempts WHERE channel = $1',
  /** Inside the transaction: Postgres delivers it only after COMMIT, so no process wakes for an event it cannot read yet. */
  notify: 'SELECT pg_notify($1, name) FROM unnest($2::text[]) AS name',
  getEvent: `SELECT ${SUMMARY_COLUMNS}, headers, body, verification FROM events WHERE channel = $1 AND event_id = $2`,
  pruneByAge: `DELETE FROM events WHERE id IN (SELECT id FROM events WHERE received_at < $1 ORDER BY received_at LIMIT $2)
    RETURNING channel, seq`,
  channelNames: 'SELECT name FROM channels ORDER BY name COLLATE "C"',
  countChannel: 'SELECT COUNT(*) AS n FROM events WHERE channel = $1',
  pruneOldest: 'DELETE FROM events WHERE id IN (SELECT id FROM events WHERE channel = $1 ORDER BY seq LIMIT $2) RETURNING channel, seq',
  pruneDeliveries: `DELETE FROM deliveries d USING unnest($1::text[], $2::bigint[]) AS g(channel, seq)
    WHERE d.channel = g.channel AND d.seq = g.seq`,
  pruneAttempts: `DELETE FROM attempts a USING unnest($1::text[], $2::bigint[]) AS g(channel, seq)
    WHERE a.channel = g.channel AND a.seq = g.seq`,
  insertAudit: 'INSERT INTO audit (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)',
  listAudit: 'SELECT at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT $1',
  // Ordinary tables only: pg_total_relation_size counts their indexes and TOAST with them.
  storageBytes: `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint AS bytes
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
} as const;

function closedError(): RelayError {
  return new RelayError('RELAY_E_STORE_UNAVAILABLE', '(store is closed)');
}

/**
 * The shared store: every relay-server process that points at the same database and schema
 * sees the same channels, events and delivery state, with the SQLite store's behaviour, appends
 * included: group-committed, sent to consumers once committed, and resolved only once durable.
 * Open it with {@link openPostgresStore}.
 */
export class PostgresStore implements Store {
  readonly engine = 'postgres';
  /** Where the store lives, for banners and logs: the URL without password or query, and the schema. */
  readonly description: string;
  private readonly deliveries = new PostgresDeliveries();
  /** This schema's NOTIFY channel; undefined when notifications are off. */
  private readonly wakeChannel: string | undefined;
  private readonly prepared: boolean;
  private readonly channels: PostgresChannelCache;
  private readonly remoteListeners = new Set<(channel: string) => void>();
  private readonly appendListeners = new AppendListeners();
  private listener: NotificationListener | undefined;
  private readonly appends: GroupCommit;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly turns: ConsumerTurns;
  private readonly statistics: PostgresStatistics;

  private constructor(
    private readonly pool: pg.Pool,
    /** Connections of this process; their notifications are not remote. */
    private readonly ownPids: Set<number>,
    private readonly options: PostgresStoreOptions,
    /** The schema the tables live in. */
    readonly schema: string,
  ) {
    this.prepared = options.preparedStatements ?? true;
    this.turns = new ConsumerTurns(pool, { prepared: this.prepared, asyncCommit: options.asyncDeliveryCommit ?? true });
    this.wakeChannel = (options.notify ?? true) ? notifyChannel(schema) : undefined;
    this.channels = new PostgresChannelCache(
      async (name) => (await runStatement<{ config: Channel }>(this.pool, SQL.getChannel, [name], this.prepared))[0]?.config,
      () => this.listener?.listening ?? false,
    );
    this.statistics = new PostgresStatistics(pool, schema, (error) => options.onWarning?.('postgres ANALYZE of the relay tables failed; trying again later', error));
    this.appends = new GroupCommit({
      maxBatch: options.maxBatch ?? 256,
      maxBatchBytes: options.maxBatchBytes ?? 16 * 1024 * 1024,
      // Each batch is one statement, committed without waiting for the disk: the events go to
      // consumers at once, here and on other instances, while one synchronous commit per round
      // makes them durable before any of them is answered, as the embedded store does.
      commit: async (events) => {
        const results = await appendEventBatch(this.pool, events, this.wakeChannel, this.prepared);
        this.statistics.appended(events.length);
        return results;
      },
      durable: () => flushWal(this.pool, this.prepared),
      committed: (events, results) => this.appendListeners.committed(events, results),
      // Rolled back, or COMMIT was not confirmed: none of these events may get a 2xx. The sender
      // retries, and dedup answers a retry of an event that did commit after all.
      toError: (error) => toStoreError(error),
      // Appends queued meanwhile would meet the same lock or outage and wait out the bound once
      // more: they are refused with this one, so a webhook waits for its own commit only.
      refusesQueue: (error) => blocksEveryWrite(error),
      refusal: () => (this.closed ? closedError() : undefined),
      flushed: (events, seconds) => this.appendListeners.flushed(events, seconds),
    });
    this.description = `${describeDatabaseUrl(options.url)} schema ${schema}`;
  }

  /**
   * Connects, applies pending migrations (see {@link applyMigrations}) and returns the store with
   * what the migration did. Rejects with a RelayError; nothing stays open then.
   */
  static async open(options: PostgresStoreOptions, create = true): Promise<{ store: PostgresStore; migration: MigrationReport }> {
    const warn = options.onWarning ?? (() => undefined);
    const onIdleError = (error: Error): void => warn('postgres connection lost; the pool opens a new one', error);
    const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    const pool = createPool({ url: options.url, size: options.poolSize ?? 10, timeouts, onIdleError });
    const ownPids = new Set<number>();
    pool.on('connect', (client) => {
      const pid = backendPid(client);
      if (pid !== undefined) ownPids.add(pid);
    });
    pool.on('remove', (client) => {
      const pid = backendPid(client);
      if (pid !== undefined) ownPids.delete(pid);
    });
    try {
      // On a connection of its own without statement bounds: a migration may rewrite a big table
      // or wait for another process's migration, and no webhook waits on it.
      const migrator = createPool({ url: options.url, size: 1, timeouts: { ...timeouts, statementMs: 0, lockMs: 0 }, onIdleError });
      const migration = await applyMigrations(migrator, create).finally(() => migrator.end());
      await checkFlushAllowed(pool);
      return { store: new PostgresStore(pool, ownPids, options, migration.schema), migration };
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw toStoreError(error);
    }
  }

  private async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) throw closedError();
    try {
      return await work();
    } catch (error) {
      throw toStoreError(error);
    }
  }

  private transaction<T>(work: (db: Queryable) => Promise<T>): Promise<T> {
    return this.run(() => inTransaction(this.pool, work));
  }

  /** Sends the channels' wake-up inside the caller's transaction, when notifications are on. */
  private async notifyChannels(db: Queryable, channels: readonly string[]): Promise<void> {
    if (this.wakeChannel !== undefined && channels.length > 0) await db.query(SQL.notify, [this.wakeChannel, channels]);
  }

  /** A channel changed: read afresh here, NOTIFYed to the others (held until COMMIT inside a transaction). */
  private async settingsChanged(db: Queryable): Promise<void> {
    this.channels.forget();
    if (this.wakeChannel !== undefined) await db.query(SQL.notifyOne, [this.wakeChannel, SETTINGS_PAYLOAD]);
  }

  getMeta(key: string): Promise<string | undefined> {
    return this.run(async () => (await firstRow<{ value: string }>(this.pool, SQL.getMeta, [key]))?.value);
  }

  setMeta(key: string, value: string): Promise<void> {
    return this.run(async () => {
      await this.pool.query(SQL.setMeta, [key, value]);
    });
  }

  createChannel(channel: Channel): Promise<void> {
    return this.run(async () => {
      if ((await changed(this.pool, SQL.insertChannel, [channel.name, JSON.stringify(channel), channel.createdAt])) === 0) {
        throw new RelayError('RELAY_E_CHANNEL_EXISTS', `(channel "${channel.name}")`);
      }
      await this.settingsChanged(this.pool);
    });
  }

  updateChannel(channel: Channel): Promise<void> {
    return this.run(async () => {
      if ((await changed(this.pool, SQL.updateChannel, [channel.name, JSON.stringify(channel)])) === 0) {
        throw new RelayError('RELAY_E_UNKNOWN_CHANNEL', `(channel "${channel.name}")`);
      }
      await this.settingsChanged(this.pool);
    });
  }

  /** From memory while the settings are known to be current (see {@link PostgresChannelCache}). */
  getChannel(name: string): Promise<Channel | undefined> {
    return this.run(() => this.channels.get(name));
  }

  listChannels(): Promise<Channel[]> {
    return this.run(async () => (await rows<{ config: Channel }>(this.pool, SQL.listChannels)).map((r) => r.config));
  }

  channelStats(name: string): Promise<ChannelStats> {
    return this.run(async () => {
      const row = await firstRow<{ last_seq: number | null; n: number; last: Date | null }>(this.pool, SQL.channelStats, [name]);
      return { events: row?.n ?? 0, lastSeq: row?.last_seq ?? 0, lastReceivedAt: row?.last ?? null };
    });
  }

  removeChannel(name: string): Promise<boolean> {
    return this.transaction(async (db) => {
      const existed = (await changed(db, SQL.deleteChannel, [name])) > 0;
      for (const sql of [SQL.deleteChannelEvents, SQL.deleteChannelConsumers, SQL.deleteChannelDeliveries, SQL.deleteChannelAttempts]) await db.query(sql, [name]);
      if (existed) await this.settingsChanged(db);
      return existed;
    });
  }

  createToken(token: TokenRecord): Promise<void> {
    return this.run(() => postgresTokens.create(this.pool, token));
  }

  findTokenByHash(hash: string): Promise<TokenRecord | undefined> {
    return this.run(() => postgresTokens.byHash(this.pool, hash));
  }

  listTokens(): Promise<TokenRecord[]> {
    return this.run(() => postgresTokens.list(this.pool));
  }

  revokeToken(name: string): Promise<boolean> {
    return this.run(() => postgresTokens.revoke(this.pool, name));
  }

  updateTokenChannels(name: string, channels: readonly string[] | null): Promise<boolean> {
    return this.run(() => postgresTokens.setChannels(this.pool, name, channels));
  }

  appendEvent(event: NewEvent): Promise<AppendResult> {
    return this.appends.append(event);
  }

  onAppendFlushed(listener: (events: number, seconds: number) => void): () => void {
    return this.appendListeners.onFlushed(listener);
  }

  onCommitted(listener: (channel: string) => void): () => void {
    return this.appendListeners.onCommitted(listener);
  }

  getEvent(channel: string, id: string): Promise<StoredEvent | undefined> {
    return this.run(async () => {
      const row = await firstRow<StoredEventRow>(this.pool, SQL.getEvent, [channel, id]);
      return row ? toStoredEvent(row) : undefined;
    });
  }

  listEvents(query: EventQuery): Promise<EventPage> {
    return this.run(() => listEvents(this.pool, query));
  }

  deliveryStates(channel: string, seqs: readonly number[]): Promise<EventDeliveryState[]> {
    return this.run(() => deliveryStates(this.pool, channel, seqs));
  }

  prune(policy: RetentionPolicy, now: Date, batchSize: number): Promise<number> {
    return this.transaction(async (db) => {
      // One pruner at a time across processes: two counting the same channel would both remove its excess.
      await lockSchemaWide(db, this.schema, 'prune');
      return runPrune(policy, now, batchSize, async (request) => {
        switch (request.kind) {
          case 'remove-older-than':
            return rows<PrunedEvent>(db, SQL.pruneByAge, [request.cutoff, request.limit]);
          case 'channel-names':
            return (await rows<{ name: string }>(db, SQL.channelNames)).map((row) => row.name);
          case 'count-events':
            return (await firstRow<{ n: number }>(db, SQL.countChannel, [request.channel]))?.n ?? 0;
          case 'remove-oldest':
            return rows<PrunedEvent>(db, SQL.pruneOldest, [request.channel, request.limit]);
          case 'remove-delivery-state': {
            const pairs = [request.events.map((g) => g.channel), request.events.map((g) => g.seq)];
            await db.query(SQL.pruneDeliveries, pairs);
            await db.query(SQL.pruneAttempts, pairs);
            return undefined;
          }
        }
      });
    });
  }

  openConsumer(spec: ConsumerSpec, now: Date): Promise<OpenConsumerResult> {
    return this.transaction((db) => this.deliveries.openConsumer(db, spec, now));
  }

  /**
   * Claims, acks and nacks of one consumer run through {@link turns}: what an event-loop turn
   * asks for goes to Postgres as one statement, one batch after another, in order.
   */
  private consumerTurn<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(closedError());
    return work().catch((error: unknown) => {
      throw toStoreError(error);
    });
  }

  claimDeliveries(request: ClaimRequest): Promise<Delivery[]> {
    return this.consumerTurn(() => this.turns.claim(request));
  }

  ackDelivery(outcome: AttemptOutcome): Promise<boolean> {
    return this.consumerTurn(() => this.turns.ack(outcome));
  }

  nackDelivery(outcome: AttemptOutcome, retryAt: Date): Promise<NackResult> {
    return this.consumerTurn(() => this.turns.nack(outcome, retryAt));
  }

  releaseSession(session: string, now: Date, reason: string): Promise<number> {
    return this.transaction(async (db) => {
      const { released, channels } = await this.deliveries.release(db, session, now, reason);
      // The consumer's other sessions may be connected to other processes: wake them too.
      await this.notifyChannels(db, channels);
      return released;
    });
  }

  /** Known without a query right after the consumer's turn, which computed it. */
  nextDueAt(channel: string, consumer: string): Promise<Date | null> {
    const known = this.turns.takeNextDue(channel, consumer);
    if (known !== undefined && !this.closed) return Promise.resolve(known);
    return this.run(() => this.deliveries.nextDueAt(this.pool, channel, consumer));
  }

  listConsumers(channel: string): Promise<ConsumerInfo[]> {
    return this.run(() => this.deliveries.listConsumers(this.pool, channel));
  }

  deleteConsumer(channel: string, name: string): Promise<boolean> {
    return this.transaction((db) => this.deliveries.deleteConsumer(db, channel, name));
  }

  requeueDeliveries(channel: string, consumer: string, seqs: readonly number[], now: Date): Promise<number> {
    return this.transaction(async (db) => {
      const queued = await this.deliveries.requeue(db, channel, consumer, seqs, now);
      if (queued === undefined) throw new RelayError('RELAY_E_CONSUMER_NOT_FOUND', `(channel "${channel}", consumer "${consumer}")`);
      await this.notifyChannels(db, queued > 0 ? [channel] : []);
      return queued;
    });
  }

  listAttempts(channel: string, eventId: string): Promise<AttemptRecord[] | undefined> {
    return this.run(() => this.deliveries.listAttempts(this.pool, channel, eventId));
  }

  /**
   * Calls `listener` with the channel of every event another process stores (and of events a
   * session there released), over a dedicated LISTEN connection opened on the first call. With
   * notifications off it never calls: the hub's poll finds the events.
   */
  onRemoteEvent(listener: (channel: string) => void): () => void {
    if (this.wakeChannel === undefined || this.closed) return () => undefined;
    this.remoteListeners.add(listener);
    this.listener ??= new NotificationListener({
      url: this.options.url,
      channel: this.wakeChannel,
      onNotification: (payload, senderPid) => {
        if (this.ownPids.has(senderPid)) return;
        if (payload === SETTINGS_PAYLOAD) this.channels.forget();
        else for (const wake of this.remoteListeners) wake(payload);
      },
      // Changes announced while nobody listened went unheard.
      onListening: () => this.channels.forget(),
      onError: (error) => this.options.onWarning?.('postgres LISTEN connection lost; reconnecting (the poll covers events meanwhile)', error),
    });
    this.listener.start();
    return () => {
      this.remoteListeners.delete(listener);
    };
  }

  /** Resolves once the LISTEN connection is up; rejects when nothing listens (notifications off, or no {@link onRemoteEvent} yet). */
  whenListening(): Promise<void> {
    return this.listener?.whenListening() ?? Promise.reject(new Error('this store does not LISTEN: notifications are off or onRemoteEvent was not called'));
  }

  appendAudit(entry: AuditEntry): Promise<void> {
    return this.run(async () => {
      await this.pool.query(SQL.insertAudit, [entry.at, actorText(entry.actor), entry.action, entry.target, JSON.stringify(entry.detail)]);
    });
  }

  listAudit(limit: number): Promise<AuditEntry[]> {
    return this.run(async () => (await rows<AuditRow>(this.pool, SQL.listAudit, [limit])).map(toAuditEntry));
  }

  storageBytes(): Promise<number> {
    return this.run(async () => (await firstRow<{ bytes: number }>(this.pool, SQL.storageBytes, [this.schema]))?.bytes ?? 0);
  }

  checkWritable(): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    return probeWritable(this.pool, this.schema);
  }

  /** Commits the appends already queued, then closes the LISTEN connection and the pool. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // Appends already queued are committed first; from then on appends are refused.
      await this.appends.drain();
      this.closed = true;
      await this.turns.idle();
      await this.statistics.idle();
      await this.listener?.stop();
      await this.pool.end();
    })();
    return this.closing;
  }
}

/**
 * Opens the Postgres store at `options.url`, applying pending migrations first. With `create`
 * false (admin commands) a schema without a relay store is refused instead of created.
 */
export async function openPostgresStore(options: PostgresStoreOptions, create = true): Promise<PostgresStore> {
  return (await PostgresStore.open(options, create)).store;
}

/** `relay-server migrate`: applies pending migrations and reports them; opens no LISTEN connection. */
export async function migratePostgres(url: string): Promise<MigrationReport> {
  const { store, migration } = await PostgresStore.open({ url, poolSize: 1, notify: false });
  await store.close();
  return migration;
}
