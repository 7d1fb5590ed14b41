import { statSync } from 'node:fs';
import type { Channel } from '../channel.js';
import { RelayError } from '../errors.js';
import type { SqliteDatabase, SqliteDriver, SqliteStatement } from './sqlite-driver.js';
import { ChannelCache } from './channel-cache.js';
import { AppendListeners } from './append-listeners.js';
import { GroupCommit } from './group-commit.js';
import { runPruneSync, type PrunedEvent } from './prune.js';
import { SqliteDeliveries } from './sqlite-delivery.js';
import { migrateSqliteSchema } from './sqlite-schema.js';
import { SqliteEventQueries } from './sqlite-event-query.js';
import { SqliteEvents } from './sqlite-events.js';
import { SqliteTokens } from './sqlite-tokens.js';
import { DEFAULT_MIN_FREE_BYTES, SqliteReadiness } from './sqlite-readiness.js';
import { WalSync, type SyncFile } from './wal-sync.js';
import { actorText, toAuditEntry, type AuditRow } from './audit-rows.js';
import type {
  AppendResult,
  AuditEntry,
  AttemptOutcome,
  AttemptRecord,
  ClaimRequest,
  ConsumerInfo,
  ConsumerSpec,
  Delivery,
  EventDeliveryState,
  NackResult,
  ChannelStats,
  EventPage,
  EventQuery,
  NewEvent,
  OpenConsumerResult,
  RetentionPolicy,
  Store,
  StoredEvent,
  TokenRecord,
} from './store.js';

/** Options of {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  /** Database file, e.g. `<data-dir>/relay.db`. */
  path: string;
  driver: SqliteDriver;
  /** Cap on the database size in bytes; appends beyond it fail with `RELAY_E_STORE_FULL`. Default: none. */
  maxBytes?: number;
  /** Most events committed in one transaction. Default 256. */
  maxBatch?: number;
  /** How the WAL file is flushed to disk after an append commit. Default `node:fs` `fdatasync`. */
  syncWal?: SyncFile;
  /** Free bytes on the database's file system below which {@link SqliteStore.checkWritable} reports the store full. Default 16 MiB. */
  minFreeBytes?: number;
}

/** How long a write waits for another process's write lock (an admin command) before it fails. */
const BUSY_TIMEOUT_MS = 5000;

/**
 * The embedded store: one SQLite file in WAL mode. Appends are group-committed: every event that
 * arrives while the event loop is busy joins the next transaction, and an append resolves only
 * once its commit is on disk ({@link WalSync}: the WAL file is flushed in the thread pool, so one
 * flush covers every batch committed while the previous one ran). Delivery state (claims, acks,
 * nacks, releases) is committed without waiting for the disk: losing such a commit to a power
 * cut can only make an event go out again, never lose one, which at-least-once delivery allows;
 * and the next append's flush takes it along.
 */
export class SqliteStore implements Store {
  readonly engine = 'sqlite';
  private readonly db: SqliteDatabase;
  private readonly driver: SqliteDriver;
  private readonly statements: ReturnType<SqliteStore['prepareStatements']>;
  private readonly deliveries: SqliteDeliveries;
  private readonly events: SqliteEvents;
  private readonly tokens: SqliteTokens;
  private readonly eventQueries: SqliteEventQueries;
  private readonly walSync: WalSync;
  private readonly readiness: SqliteReadiness;
  /** Transaction control, prepared once: `exec` would parse the SQL on every call. */
  private readonly control: Record<'BEGIN' | 'BEGIN IMMEDIATE' | 'COMMIT' | 'ROLLBACK', SqliteStatement>;
  private readonly appends: GroupCommit;
  private settlements: { work: () => unknown; resolve: (value: unknown) => void; reject: (error: unknown) => void }[] = [];
  private closed = false;
  private closing: Promise<void> | undefined;
  /**
   * Set when a flush of the WAL failed. The kernel may then have dropped the unwritten pages and
   * cleared the error, and SQLite's recovery stops at the first frame missing from the WAL, so a
   * later commit could look durable and still be lost. From then on no event is accepted and
   * {@link SqliteStore.checkWritable} fails, until the process restarts and recovery has run.
   */
  private flushFailure: RelayError | undefined;
  private readonly listeners = new AppendListeners();
  private readonly channels: ChannelCache;
  private readonly path: string;

  constructor(options: SqliteStoreOptions) {
    this.driver = options.driver;
    this.path = options.path;
    this.db = this.driver.open(options.path);
    try {
      // WAL lets admin commands read and write while the server runs. NORMAL writes each commit
      // to the WAL without flushing it; appends wait for WalSync's flush instead, off the event loop.
      this.db.exec('PRAGMA journal_mode = WAL');
      this.db.exec('PRAGMA synchronous = NORMAL');
      this.db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      const p = (sql: string): SqliteStatement => this.db.prepare(sql);
      this.control = { BEGIN: p('BEGIN'), 'BEGIN IMMEDIATE': p('BEGIN IMMEDIATE'), COMMIT: p('COMMIT'), ROLLBACK: p('ROLLBACK') };
      migrateSqliteSchema(this.db, (work) => this.transaction(work));
      // The cap applies after the schema exists, so a small cap limits events, not start-up.
      if (options.maxBytes !== undefined) {
        const pageSize = Number((this.db.prepare('PRAGMA page_size').get() as { page_size: number }).page_size);
        const pages = Number((this.db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count);
        this.db.exec(`PRAGMA max_page_count = ${Math.max(pages, Math.floor(options.maxBytes / pageSize))}`);
      }
      this.statements = this.prepareStatements();
      const s = this.statements;
      this.channels = new ChannelCache({
        version: () => (s.channelsVersion.get() as { value: string } | undefined)?.value,
        read: (name) => {
          const row = s.getChannel.get(name) as { config: string } | undefined;
          return row ? (JSON.parse(row.config) as Channel) : undefined;
        },
      });
      this.deliveries = new SqliteDeliveries(this.db);
      this.events = new SqliteEvents(this.db);
      this.tokens = new SqliteTokens(this.db);
      this.eventQueries = new SqliteEventQueries(this.db);
      this.walSync = new WalSync(`${options.path}-wal`, options.syncWal);
      this.appends = new GroupCommit({
        maxBatch: options.maxBatch ?? 256,
        commit: (events) => this.transaction(() => this.events.insertBatch(events)),
        durable: () => this.walSync.afterCommit(),
        toError: (error, stage) => (stage === 'commit' ? this.storeError(error) : this.flushError(error)),
        refusal: () => (this.closed ? new RelayError('RELAY_E_STORE_UNAVAILABLE', '(store is closed)') : this.flushFailure),
        committed: (events, results) => this.listeners.committed(events, results),
        flushed: (events, seconds) => this.listeners.flushed(events, seconds),
      });
      this.readiness = new SqliteReadiness({
        db: this.db,
        driver: this.driver,
        path: options.path,
        busyTimeoutMs: BUSY_TIMEOUT_MS,
        minFreeBytes: options.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES,
      });
    } catch (error) {
      this.db.close();
      throw this.storeError(error);
    }
  }

  private prepareStatements() {
    const p = (sql: string): SqliteStatement => this.db.prepare(sql);
    return {
      getMeta: p('SELECT value FROM meta WHERE key = ?'),
      setMeta: p('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      insertChannel: p('INSERT INTO channels (name, config, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING'),
      updateChannel: p('UPDATE channels SET config = ? WHERE name = ?'),
      getChannel: p('SELECT config FROM channels WHERE name = ?'),
      channelsVersion: p("SELECT value FROM meta WHERE key = 'channels_version'"),
      listChannels: p('SELECT config FROM channels ORDER BY name'),
      channelSeq: p('SELECT last_seq FROM channels WHERE name = ?'),
      channelCounts: p('SELECT COUNT(*) AS n, MAX(received_at) AS last FROM events WHERE channel = ?'),
      deleteChannel: p('DELETE FROM channels WHERE name = ?'),
      deleteChannelEvents: p('DELETE FROM events WHERE channel = ?'),
      pruneAge: p('DELETE FROM events WHERE id IN (SELECT id FROM events WHERE received_at < ? ORDER BY received_at LIMIT ?) RETURNING channel, seq'),
      channelNames: p('SELECT name FROM channels'),
      countChannel: p('SELECT COUNT(*) AS n FROM events WHERE channel = ?'),
      pruneOldest: p('DELETE FROM events WHERE id IN (SELECT id FROM events WHERE channel = ? ORDER BY seq LIMIT ?) RETURNING channel, seq'),
      pruneDeliveries: p('DELETE FROM deliveries WHERE channel = ? AND seq = ?'),
      pruneAttempts: p('DELETE FROM attempts WHERE channel = ? AND seq = ?'),
      deleteChannelConsumers: p('DELETE FROM consumers WHERE channel = ?'),
      deleteChannelDeliveries: p('DELETE FROM deliveries WHERE channel = ?'),
      deleteChannelAttempts: p('DELETE FROM attempts WHERE channel = ?'),
      insertAudit: p('INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)'),
      listAudit: p('SELECT at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT ?'),
    };
  }

  private transaction<T>(work: () => T, begin: 'BEGIN IMMEDIATE' | 'BEGIN' = 'BEGIN IMMEDIATE'): T {
    // IMMEDIATE takes the write lock up front, so a concurrent admin command waits (busy_timeout)
    // instead of failing half-way through.
    this.control[begin].run();
    try {
      const result = work();
      this.control.COMMIT.run();
      return result;
    } catch (error) {
      try {
        this.control.ROLLBACK.run();
      } catch {
        // The engine already rolled back (e.g. after SQLITE_FULL); the original error is what matters.
      }
      throw error;
    }
  }

  /**
   * Runs the delivery work of one event-loop turn (acks, nacks and the claims they make room
   * for) in one transaction, in the order it was asked for. Each keeps its own result; a failure
   * of the transaction fails them all, and none of them took effect.
   */
  private settle<T>(work: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new RelayError('RELAY_E_STORE_UNAVAILABLE', '(store is closed)'));
    return new Promise<T>((resolve, reject) => {
      this.settlements.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (this.settlements.length === 1) setImmediate(() => this.flushSettlements());
    });
  }

  private flushSettlements(): void {
    const batch = this.settlements.splice(0);
    if (batch.length === 0) return;
    let results: unknown[];
    const work = (): unknown[] => {
      this.deliveries.beginBatch();
      const results = batch.map((s) => s.work());
      this.deliveries.endBatch();
      return results;
    };
    try {
      // Claims that find nothing write nothing: read first and take the write lock only when
      // writing. Should an admin command write in between (the lock cannot be taken then), the
      // whole batch runs again, locking from the start.
      try {
        results = this.transaction(work, 'BEGIN');
      } catch (error) {
        if (this.driver.errorKind(error) !== 'busy') throw error;
        results = this.transaction(work);
      }
    } catch (error) {
      const failure = this.storeError(error);
      for (const s of batch) s.reject(failure);
      return;
    }
    batch.forEach((s, i) => s.resolve(results[i]));
  }

  /**
   * A failed flush of the WAL: the commits it covered are not known to be on disk, and from now
   * on nothing is accepted (see {@link SqliteStore.flushFailure}).
   */
  private flushError(error: unknown): RelayError {
    const code = (error as { code?: unknown }).code === 'ENOSPC' ? 'RELAY_E_STORE_FULL' : 'RELAY_E_STORE_UNAVAILABLE';
    this.flushFailure ??= new RelayError(code, `(a flush of the WAL failed earlier: ${String(error)}; restart relay-server)`, { cause: error, reason: 'flush-failed' });
    return new RelayError(code, `(flushing the WAL: ${String(error)})`, { cause: error });
  }

  /** Maps an engine failure to the catalogue; RelayErrors pass through unchanged. */
  private storeError(error: unknown): RelayError {
    if (error instanceof RelayError) return error;
    const kind = this.driver.errorKind(error);
    const detail = error instanceof Error ? `(${this.driver.name}: ${error.message})` : undefined;
    const reason = kind === 'full' ? 'disk-full' : kind === 'busy' ? 'locked' : 'store-error';
    return new RelayError(kind === 'full' ? 'RELAY_E_STORE_FULL' : 'RELAY_E_STORE_UNAVAILABLE', detail, { cause: error, reason });
  }

  private run<T>(work: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new RelayError('RELAY_E_STORE_UNAVAILABLE', '(store is closed)'));
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(this.storeError(error));
    }
  }

  getMeta(key: string): Promise<string | undefined> {
    return this.run(() => (this.statements.getMeta.get(key) as { value: string } | undefined)?.value);
  }

  setMeta(key: string, value: string): Promise<void> {
    return this.run(() => {
      this.statements.setMeta.run(key, value);
    });
  }

  createChannel(channel: Channel): Promise<void> {
    return this.run(() => {
      this.channels.forget();
      const { changes } = this.statements.insertChannel.run(channel.name, JSON.stringify(channel), channel.createdAt);
      if (Number(changes) === 0) throw new RelayError('RELAY_E_CHANNEL_EXISTS', `(channel "${channel.name}")`);
    });
  }

  updateChannel(channel: Channel): Promise<void> {
    return this.run(() => {
      this.channels.forget();
      const { changes } = this.statements.updateChannel.run(JSON.stringify(channel), channel.name);
      if (Number(changes) === 0) throw new RelayError('RELAY_E_UNKNOWN_CHANNEL', `(channel "${channel.name}")`);
    });
  }

  /** Looked up on every webhook, so served from {@link ChannelCache}. */
  getChannel(name: string): Promise<Channel | undefined> {
    return this.run(() => this.channels.get(name));
  }

  listChannels(): Promise<Channel[]> {
    return this.run(() => (this.statements.listChannels.all() as { config: string }[]).map((r) => JSON.parse(r.config) as Channel));
  }

  channelStats(name: string): Promise<ChannelStats> {
    return this.run(() => {
      const seq = this.statements.channelSeq.get(name) as { last_seq: number } | undefined;
      const counts = this.statements.channelCounts.get(name) as { n: number; last: number | null };
      return {
        events: Number(counts.n),
        lastSeq: seq ? Number(seq.last_seq) : 0,
        lastReceivedAt: counts.last === null ? null : new Date(Number(counts.last)),
      };
    });
  }

  removeChannel(name: string): Promise<boolean> {
    return this.run(() =>
      this.transaction(() => {
        this.channels.forget();
        this.statements.deleteChannelEvents.run(name);
        this.statements.deleteChannelConsumers.run(name);
        this.statements.deleteChannelDeliveries.run(name);
        this.statements.deleteChannelAttempts.run(name);
        return Number(this.statements.deleteChannel.run(name).changes) > 0;
      }),
    );
  }

  createToken(token: TokenRecord): Promise<void> {
    return this.run(() => this.tokens.create(token));
  }

  findTokenByHash(hash: string): Promise<TokenRecord | undefined> {
    return this.run(() => this.tokens.byHash(hash));
  }

  listTokens(): Promise<TokenRecord[]> {
    return this.run(() => this.tokens.list());
  }

  revokeToken(name: string): Promise<boolean> {
    return this.run(() => this.tokens.revoke(name));
  }

  updateTokenChannels(name: string, channels: readonly string[] | null): Promise<boolean> {
    return this.run(() => this.tokens.setChannels(name, channels));
  }

  appendEvent(event: NewEvent): Promise<AppendResult> {
    return this.appends.append(event);
  }

  onAppendFlushed(listener: (events: number, seconds: number) => void): () => void {
    return this.listeners.onFlushed(listener);
  }

  onCommitted(listener: (channel: string) => void): () => void {
    return this.listeners.onCommitted(listener);
  }

  getEvent(channel: string, id: string): Promise<StoredEvent | undefined> {
    return this.run(() => this.events.get(channel, id));
  }

  listEvents(query: EventQuery): Promise<EventPage> {
    return this.run(() => this.eventQueries.list(query));
  }

  deliveryStates(channel: string, seqs: readonly number[]): Promise<EventDeliveryState[]> {
    return this.run(() => this.eventQueries.deliveryStates(channel, seqs));
  }

  prune(policy: RetentionPolicy, now: Date, batchSize: number): Promise<number> {
    const s = this.statements;
    return this.run(() =>
      this.transaction(() =>
        runPruneSync(policy, now, batchSize, (request) => {
          switch (request.kind) {
            case 'remove-older-than':
              return s.pruneAge.all(request.cutoff.getTime(), request.limit) as PrunedEvent[];
            case 'channel-names':
              return (s.channelNames.all() as { name: string }[]).map((row) => row.name);
            case 'count-events':
              return Number((s.countChannel.get(request.channel) as { n: number }).n);
            case 'remove-oldest':
              return s.pruneOldest.all(request.channel, request.limit) as PrunedEvent[];
            case 'remove-delivery-state':
              for (const { channel, seq } of request.events) {
                s.pruneDeliveries.run(channel, seq);
                s.pruneAttempts.run(channel, seq);
              }
              return undefined;
          }
        }),
      ),
    );
  }

  openConsumer(spec: ConsumerSpec, now: Date): Promise<OpenConsumerResult> {
    return this.run(() => this.transaction(() => this.deliveries.openConsumer(spec, now)));
  }

  /** Joins the turn's delivery transaction, after the answers that came before it (see {@link settle}). */
  claimDeliveries(request: ClaimRequest): Promise<Delivery[]> {
    return this.settle(() => this.deliveries.claim(request));
  }

  ackDelivery(outcome: AttemptOutcome): Promise<boolean> {
    return this.settle(() => this.deliveries.ack(outcome));
  }

  nackDelivery(outcome: AttemptOutcome, retryAt: Date): Promise<NackResult> {
    return this.settle(() => this.deliveries.nack(outcome, retryAt, this.deliveries.maxAttempts(outcome.channel, outcome.consumer)));
  }

  releaseSession(session: string, now: Date, reason: string): Promise<number> {
    return this.run(() => this.transaction(() => this.deliveries.release(session, now, reason)));
  }

  nextDueAt(channel: string, consumer: string): Promise<Date | null> {
    return this.run(() => this.deliveries.nextDueAt(channel, consumer));
  }

  listConsumers(channel: string): Promise<ConsumerInfo[]> {
    return this.run(() => this.deliveries.listConsumers(channel));
  }

  deleteConsumer(channel: string, name: string): Promise<boolean> {
    return this.run(() => this.transaction(() => this.deliveries.deleteConsumer(channel, name)));
  }

  requeueDeliveries(channel: string, consumer: string, seqs: readonly number[], now: Date): Promise<number> {
    return this.run(() =>
      this.transaction(() => {
        const queued = this.deliveries.requeue(channel, consumer, seqs, now);
        if (queued === undefined) throw new RelayError('RELAY_E_CONSUMER_NOT_FOUND', `(channel "${channel}", consumer "${consumer}")`);
        return queued;
      }),
    );
  }

  listAttempts(channel: string, eventId: string): Promise<AttemptRecord[] | undefined> {
    return this.run(() => this.deliveries.listAttempts(channel, eventId));
  }

  appendAudit(entry: AuditEntry): Promise<void> {
    return this.run(() => {
      this.statements.insertAudit.run(entry.at.getTime(), actorText(entry.actor), entry.action, entry.target, JSON.stringify(entry.detail));
    });
  }

  listAudit(limit: number): Promise<AuditEntry[]> {
    return this.run(() => (this.statements.listAudit.all(limit) as AuditRow[]).map(toAuditEntry));
  }

  storageBytes(): Promise<number> {
    return this.run(() => {
      // The WAL holds commits not yet copied into the database file; both take disk space.
      const size = (path: string): number => statSync(path, { throwIfNoEntry: false })?.size ?? 0;
      return size(this.path) + size(`${this.path}-wal`);
    });
  }

  checkWritable(): Promise<void> {
    return this.run(() => {
      if (this.flushFailure) throw this.flushFailure;
      this.readiness.check();
    });
  }

  /** Commits the appends already queued and waits for their flush, then closes the file. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.appends.drain();
      this.flushSettlements();
      this.closed = true;
      await this.walSync.close();
      this.db.close();
    })();
    return this.closing;
  }
}

/** Opens (creating if needed) the SQLite store at `options.path`. */
export function openSqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(options);
}
