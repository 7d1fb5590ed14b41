import type { Channel } from '../channel.js';
import { RelayError } from '../errors.js';
import type { SqliteDatabase, SqliteDriver, SqliteStatement } from './sqlite-driver.js';
import { SqliteDeliveries } from './sqlite-delivery.js';
import { SqliteEventQueries } from './sqlite-event-query.js';
import { SUMMARY_COLUMNS, toStoredEvent, type StoredEventRow } from './sqlite-event-rows.js';
import { WalSync, type SyncFile } from './wal-sync.js';
import type {
  AppendResult,
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
}

const SCHEMA_VERSION = 3;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS channels (
  name TEXT PRIMARY KEY,
  config TEXT NOT NULL,
  last_seq INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
  name TEXT PRIMARY KEY,
  hash TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL,
  channels TEXT,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  channel TEXT NOT NULL,
  seq INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  source_ip TEXT NOT NULL,
  headers TEXT NOT NULL,
  body BLOB NOT NULL,
  synthetic INTEGER NOT NULL DEFAULT 0,
  UNIQUE (channel, event_id),
  UNIQUE (channel, seq)
);
-- Every change to a channel's settings, from any process, bumps channels_version, so a running
-- server can cache settings and still see admin commands at once.
INSERT OR IGNORE INTO meta (key, value) VALUES ('channels_version', '0');
CREATE TRIGGER IF NOT EXISTS channels_inserted AFTER INSERT ON channels BEGIN
  UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'channels_version';
END;
CREATE TRIGGER IF NOT EXISTS channels_updated AFTER UPDATE OF config ON channels BEGIN
  UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'channels_version';
END;
CREATE TRIGGER IF NOT EXISTS channels_deleted AFTER DELETE ON channels BEGIN
  UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'channels_version';
END;
CREATE INDEX IF NOT EXISTS events_received_at ON events (received_at);
CREATE TABLE IF NOT EXISTS consumers (
  channel TEXT NOT NULL,
  name TEXT NOT NULL,
  next_seq INTEGER NOT NULL,
  filter TEXT NOT NULL,
  max_attempts INTEGER,
  created_at INTEGER NOT NULL,
  last_ack_at INTEGER,
  PRIMARY KEY (channel, name)
);
`;

/**
 * Delivery state, schema version 2. Each delivered event costs a few rows, so the tables are kept
 * lean: deliveries is clustered on its key (no separate rowid tree), an open delivery has one due
 * time (its lease's end or its retry's time) that an index keeps in order, and an attempt is
 * written once, when it ends; the attempt in flight lives in its delivery row (`started_at`,
 * `session`).
 */
const DELIVERY_SCHEMA = `
CREATE TABLE IF NOT EXISTS deliveries (
  channel TEXT NOT NULL,
  consumer TEXT NOT NULL,
  seq INTEGER NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  session TEXT,
  started_at INTEGER,
  -- Open deliveries only: when the lease ends (inflight) or the retry may go (retry).
  due_at INTEGER,
  replay INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (channel, consumer, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_failed ON deliveries (channel, consumer) WHERE state = 'failed';
-- Settled deliveries stay for history and outnumber open ones; claims must not walk past them,
-- nor read the deliveries in flight that are not due yet.
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (channel, consumer, due_at) WHERE state IN ('inflight', 'retry');
CREATE TABLE IF NOT EXISTS attempts (
  id INTEGER PRIMARY KEY,
  channel TEXT NOT NULL,
  consumer TEXT NOT NULL,
  seq INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  session TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  status INTEGER,
  latency_ms REAL,
  error TEXT,
  outcome TEXT
);
-- Attempts are found by event: a handful of rows per (channel, seq), whatever the consumer.
CREATE INDEX IF NOT EXISTS attempts_event ON attempts (channel, seq);
`;

/**
 * From schema version 1, whose deliveries had a rowid, a session index and separate lease and
 * retry times, and whose attempts were inserted when they started and updated when they ended.
 * Attempts still open move into their delivery rows: the one in flight, or one that outlived its
 * event's delivery (a late ack of an earlier attempt settled the event).
 */
const MIGRATE_1_TO_2 = `
DROP INDEX IF EXISTS deliveries_session;
DROP INDEX IF EXISTS deliveries_failed;
DROP INDEX IF EXISTS deliveries_pending;
DROP INDEX IF EXISTS attempts_event;
ALTER TABLE deliveries RENAME TO deliveries_v1;
ALTER TABLE attempts RENAME TO attempts_v1;
${DELIVERY_SCHEMA}
INSERT INTO deliveries (channel, consumer, seq, state, attempts, session, started_at, due_at, replay)
  SELECT channel, consumer, seq, state, attempts,
    CASE state WHEN 'inflight' THEN session WHEN 'acked' THEN open_session END,
    CASE state WHEN 'inflight' THEN COALESCE(open_started_at, lease_expires_at) WHEN 'acked' THEN open_started_at END,
    CASE state WHEN 'inflight' THEN lease_expires_at WHEN 'retry' THEN next_attempt_at END,
    replay
  FROM (
    SELECT d.*,
      (SELECT a.started_at FROM attempts_v1 a WHERE a.channel = d.channel AND a.consumer = d.consumer AND a.seq = d.seq AND a.attempt = d.attempts
         AND a.outcome IS NULL ORDER BY a.id DESC LIMIT 1) AS open_started_at,
      (SELECT a.session FROM attempts_v1 a WHERE a.channel = d.channel AND a.consumer = d.consumer AND a.seq = d.seq AND a.attempt = d.attempts
         AND a.outcome IS NULL ORDER BY a.id DESC LIMIT 1) AS open_session
    FROM deliveries_v1 d
  );
INSERT INTO attempts (id, channel, consumer, seq, attempt, session, started_at, finished_at, status, latency_ms, error, outcome)
  SELECT id, channel, consumer, seq, attempt, session, started_at, finished_at, status, latency_ms, error, outcome
  FROM attempts_v1 WHERE outcome IS NOT NULL;
DROP TABLE deliveries_v1;
DROP TABLE attempts_v1;
`;

/**
 * Schema version 3, for the event listing: each event's Webhook v2 session and how it was
 * verified, an index per channel in arrival order (listing a channel no longer sorts all its
 * events), and one per session. Events stored before keep no verification; their session is
 * read from the body, by the rule ingest applies (a v2 envelope: \`event_id\` and a scalar
 * \`session_id\`).
 */
const MIGRATE_TO_3 = `
ALTER TABLE events ADD COLUMN session_id TEXT;
ALTER TABLE events ADD COLUMN verification TEXT;
DROP INDEX IF EXISTS events_channel_type;
CREATE INDEX events_channel_id ON events (channel, id);
CREATE INDEX events_session ON events (session_id, id) WHERE session_id IS NOT NULL;
UPDATE events SET session_id = CAST(json_extract(CAST(body AS TEXT), '$.session_id') AS TEXT)
  WHERE json_valid(CAST(body AS TEXT))
    AND json_type(CAST(body AS TEXT), '$.event_id') IN ('text', 'integer', 'real')
    AND json_type(CAST(body AS TEXT), '$.session_id') IN ('text', 'integer', 'real')
    AND length(json_extract(CAST(body AS TEXT), '$.session_id')) BETWEEN 1 AND 256;
`;

interface Pending {
  event: NewEvent;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

interface TokenRow {
  name: string;
  hash: string;
  role: string;
  channels: string | null;
  created_at: string;
}

function toToken(row: TokenRow): TokenRecord {
  return {
    name: row.name,
    hash: row.hash,
    role: row.role === 'admin' ? 'admin' : 'developer',
    channels: row.channels === null ? null : (JSON.parse(row.channels) as string[]),
    createdAt: new Date(row.created_at),
  };
}

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
  private readonly maxBatch: number;
  private readonly statements: ReturnType<SqliteStore['prepareStatements']>;
  private readonly deliveries: SqliteDeliveries;
  private readonly eventQueries: SqliteEventQueries;
  private readonly walSync: WalSync;
  /** Transaction control, prepared once: `exec` would parse the SQL on every call. */
  private readonly control: Record<'BEGIN' | 'BEGIN IMMEDIATE' | 'COMMIT' | 'ROLLBACK', SqliteStatement>;
  private queue: Pending[] = [];
  private flushScheduled = false;
  private walFlushing = false;
  private settlements: { work: () => unknown; resolve: (value: unknown) => void; reject: (error: unknown) => void }[] = [];
  private closed = false;
  /**
   * Set when a flush of the WAL failed. The kernel may then have dropped the unwritten pages and
   * cleared the error, and SQLite's recovery stops at the first frame missing from the WAL, so a
   * later commit could look durable and still be lost. From then on no event is accepted and
   * {@link SqliteStore.ping} fails, until the process restarts and recovery has run.
   */
  private flushFailure: RelayError | undefined;
  private readonly committedListeners = new Set<(channel: string) => void>();
  private readonly channelCache = new Map<string, Channel>();
  private channelsVersion: string | undefined;
  private channelsChecked = false;

  constructor(options: SqliteStoreOptions) {
    this.driver = options.driver;
    this.maxBatch = options.maxBatch ?? 256;
    this.db = this.driver.open(options.path);
    try {
      // WAL lets admin commands read and write while the server runs. NORMAL writes each commit
      // to the WAL without flushing it; appends wait for WalSync's flush instead, off the event loop.
      this.db.exec('PRAGMA journal_mode = WAL');
      this.db.exec('PRAGMA synchronous = NORMAL');
      this.db.exec('PRAGMA busy_timeout = 5000');
      const p = (sql: string): SqliteStatement => this.db.prepare(sql);
      this.control = { BEGIN: p('BEGIN'), 'BEGIN IMMEDIATE': p('BEGIN IMMEDIATE'), COMMIT: p('COMMIT'), ROLLBACK: p('ROLLBACK') };
      this.migrate();
      // The cap applies after the schema exists, so a small cap limits events, not start-up.
      if (options.maxBytes !== undefined) {
        const pageSize = Number((this.db.prepare('PRAGMA page_size').get() as { page_size: number }).page_size);
        const pages = Number((this.db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count);
        this.db.exec(`PRAGMA max_page_count = ${Math.max(pages, Math.floor(options.maxBytes / pageSize))}`);
      }
      this.statements = this.prepareStatements();
      this.deliveries = new SqliteDeliveries(this.db);
      this.eventQueries = new SqliteEventQueries(this.db);
      this.walSync = new WalSync(`${options.path}-wal`, options.syncWal);
    } catch (error) {
      this.db.close();
      throw this.storeError(error);
    }
  }

  private migrate(): void {
    this.transaction(() => {
      this.db.exec(SCHEMA);
      const row = this.db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
      const version = row ? Number(row.value) : 0;
      if (version > SCHEMA_VERSION) {
        throw new RelayError('RELAY_E_STORE_VERSION', `(schema version ${version}; this relay-server supports up to ${SCHEMA_VERSION})`);
      }
      if (version < 2) this.db.exec(version === 1 ? MIGRATE_1_TO_2 : DELIVERY_SCHEMA);
      if (version < 3) this.db.exec(MIGRATE_TO_3);
      this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
    });
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
      insertToken: p('INSERT INTO tokens (name, hash, role, channels, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING'),
      tokenByHash: p('SELECT * FROM tokens WHERE hash = ?'),
      listTokens: p('SELECT * FROM tokens ORDER BY name'),
      deleteToken: p('DELETE FROM tokens WHERE name = ?'),
      existingSeq: p('SELECT seq FROM events WHERE channel = ? AND event_id = ?'),
      setLastSeq: p('UPDATE channels SET last_seq = ? WHERE name = ?'),
      // A retry of a stored event inserts nothing; a clash on seq would be a bug and fails loudly.
      insertEvent: p(
        `INSERT INTO events (channel, seq, event_id, event_type, received_at, source_ip, headers, body, synthetic, session_id, verification)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel, event_id) DO NOTHING`,
      ),
      getEvent: p(`SELECT ${SUMMARY_COLUMNS}, headers, body, verification FROM events WHERE channel = ? AND event_id = ?`),
      pruneAge: p('DELETE FROM events WHERE id IN (SELECT id FROM events WHERE received_at < ? ORDER BY received_at LIMIT ?) RETURNING channel, seq'),
      channelNames: p('SELECT name FROM channels'),
      countChannel: p('SELECT COUNT(*) AS n FROM events WHERE channel = ?'),
      pruneOldest: p('DELETE FROM events WHERE id IN (SELECT id FROM events WHERE channel = ? ORDER BY seq LIMIT ?) RETURNING channel, seq'),
      pruneDeliveries: p('DELETE FROM deliveries WHERE channel = ? AND seq = ?'),
      pruneAttempts: p('DELETE FROM attempts WHERE channel = ? AND seq = ?'),
      deleteChannelConsumers: p('DELETE FROM consumers WHERE channel = ?'),
      deleteChannelDeliveries: p('DELETE FROM deliveries WHERE channel = ?'),
      deleteChannelAttempts: p('DELETE FROM attempts WHERE channel = ?'),
      ping: p('SELECT 1'),
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

  /** Maps an engine failure to the catalogue; RelayErrors pass through unchanged. */
  private storeError(error: unknown): RelayError {
    if (error instanceof RelayError) return error;
    const kind = this.driver.errorKind(error);
    const detail = error instanceof Error ? `(${this.driver.name}: ${error.message})` : undefined;
    return new RelayError(kind === 'full' ? 'RELAY_E_STORE_FULL' : 'RELAY_E_STORE_UNAVAILABLE', detail, { cause: error });
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
      this.forgetChannels();
      const { changes } = this.statements.insertChannel.run(channel.name, JSON.stringify(channel), channel.createdAt);
      if (Number(changes) === 0) throw new RelayError('RELAY_E_CHANNEL_EXISTS', `(channel "${channel.name}")`);
    });
  }

  updateChannel(channel: Channel): Promise<void> {
    return this.run(() => {
      this.forgetChannels();
      const { changes } = this.statements.updateChannel.run(JSON.stringify(channel), channel.name);
      if (Number(changes) === 0) throw new RelayError('RELAY_E_UNKNOWN_CHANNEL', `(channel "${channel.name}")`);
    });
  }

  /**
   * Looked up on every webhook: served from a cache that any settings change empties. Whether
   * the settings changed (here or in an admin command's process) is asked once per event-loop
   * turn, not once per request.
   */
  getChannel(name: string): Promise<Channel | undefined> {
    return this.run(() => {
      if (!this.channelsChecked) {
        this.channelsChecked = true;
        setImmediate(() => (this.channelsChecked = false));
        const version = (this.statements.channelsVersion.get() as { value: string } | undefined)?.value;
        if (version !== this.channelsVersion) {
          this.channelCache.clear();
          this.channelsVersion = version;
        }
      }
      const cached = this.channelCache.get(name);
      if (cached) return cached;
      const row = this.statements.getChannel.get(name) as { config: string } | undefined;
      if (!row) return undefined;
      const channel = JSON.parse(row.config) as Channel;
      this.channelCache.set(name, channel);
      return channel;
    });
  }

  /** This process changed a channel: the next lookup reads settings afresh. */
  private forgetChannels(): void {
    this.channelCache.clear();
    this.channelsChecked = false;
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
        this.forgetChannels();
        this.statements.deleteChannelEvents.run(name);
        this.statements.deleteChannelConsumers.run(name);
        this.statements.deleteChannelDeliveries.run(name);
        this.statements.deleteChannelAttempts.run(name);
        return Number(this.statements.deleteChannel.run(name).changes) > 0;
      }),
    );
  }

  createToken(token: TokenRecord): Promise<void> {
    return this.run(() => {
      const { changes } = this.statements.insertToken.run(
        token.name,
        token.hash,
        token.role,
        token.channels === null ? null : JSON.stringify(token.channels),
        token.createdAt.toISOString(),
      );
      if (Number(changes) === 0) throw new RelayError('RELAY_E_TOKEN_EXISTS', `(token "${token.name}")`);
    });
  }

  findTokenByHash(hash: string): Promise<TokenRecord | undefined> {
    return this.run(() => {
      const row = this.statements.tokenByHash.get(hash) as TokenRow | undefined;
      return row ? toToken(row) : undefined;
    });
  }

  listTokens(): Promise<TokenRecord[]> {
    return this.run(() => (this.statements.listTokens.all() as TokenRow[]).map(toToken));
  }

  revokeToken(name: string): Promise<boolean> {
    return this.run(() => Number(this.statements.deleteToken.run(name).changes) > 0);
  }

  appendEvent(event: NewEvent): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new RelayError('RELAY_E_STORE_UNAVAILABLE', '(store is closed)'));
    if (this.flushFailure) return Promise.reject(this.flushFailure);
    return new Promise((resolve, reject) => {
      this.queue.push({ event, resolve, reject });
      this.scheduleFlush();
    });
  }

  /**
   * Events that arrive while the WAL is being flushed wait for that flush to end and then commit
   * together: they could not be answered sooner anyway, and one transaction costs less than many.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.walFlushing || this.queue.length === 0) return;
    this.flushScheduled = true;
    // setImmediate runs after pending I/O callbacks, so requests already read join this batch.
    setImmediate(() => this.flush());
  }

  /** Commits every queued event, at most `maxBatch` per transaction, then answers them once the WAL is on disk. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.flushFailure) {
      for (const pending of this.queue.splice(0)) pending.reject(this.flushFailure);
      return;
    }
    const committed: { pending: Pending; result: AppendResult }[] = [];
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const results = this.transaction(() => this.insertBatch(batch.map((pending) => pending.event)));
        batch.forEach((pending, i) => committed.push({ pending, result: results[i] as AppendResult }));
      } catch (error) {
        // The whole transaction rolled back: none of these events is stored, so none may get a 2xx.
        const failure = this.storeError(error);
        for (const pending of batch) pending.reject(failure);
      }
    }
    if (committed.length === 0) return;
    this.walFlushing = true;
    this.walSync
      .afterCommit()
      .then(
        () => {
          for (const { pending, result } of committed) pending.resolve(result);
        },
        (error: unknown) => {
          // Committed, but not known to be on disk: no 2xx. A retry after the restart finds the
          // event stored if its frames did reach the disk, and stores it otherwise.
          const code = (error as { code?: unknown }).code === 'ENOSPC' ? 'RELAY_E_STORE_FULL' : 'RELAY_E_STORE_UNAVAILABLE';
          const failure = new RelayError(code, `(flushing the WAL: ${String(error)})`, { cause: error });
          this.flushFailure ??= new RelayError(code, `(a flush of the WAL failed earlier: ${String(error)}; restart relay-server)`, { cause: error });
          for (const { pending } of committed) pending.reject(failure);
        },
      )
      .finally(() => {
        this.walFlushing = false;
        this.scheduleFlush();
      });
    // After the flush has started, so that claims the listeners make do not delay it.
    this.announceCommitted(committed);
  }

  onCommitted(listener: (channel: string) => void): () => void {
    this.committedListeners.add(listener);
    return () => this.committedListeners.delete(listener);
  }

  /** Tells the listeners which channels have new (not duplicate) events in the commits just made. */
  private announceCommitted(committed: readonly { pending: Pending; result: AppendResult }[]): void {
    if (this.committedListeners.size === 0) return;
    const channels = new Set<string>();
    for (const { pending, result } of committed) if (result.ok && !result.duplicate) channels.add(pending.event.channel);
    for (const channel of channels) for (const listener of this.committedListeners) listener(channel);
  }

  /** Inserts events in order; each channel's `last_seq` is read once and written once per batch. */
  private insertBatch(events: NewEvent[]): AppendResult[] {
    const s = this.statements;
    const lastSeqs = new Map<string, { read: number; last: number }>();
    const results = events.map((event): AppendResult => {
      let seqs = lastSeqs.get(event.channel);
      if (seqs === undefined) {
        const row = s.channelSeq.get(event.channel) as { last_seq: number } | undefined;
        if (!row) return { ok: false, reason: 'unknown-channel' };
        seqs = { read: Number(row.last_seq), last: Number(row.last_seq) };
        lastSeqs.set(event.channel, seqs);
      }
      const seq = seqs.last + 1;
      const { changes } = s.insertEvent.run(
        event.channel,
        seq,
        event.eventId,
        event.eventType,
        event.receivedAt.getTime(),
        event.sourceIp,
        JSON.stringify(event.headers),
        event.body,
        event.synthetic ? 1 : 0,
        event.session ?? null,
        event.verification === undefined ? null : JSON.stringify(event.verification),
      );
      if (Number(changes) === 0) {
        const existing = s.existingSeq.get(event.channel, event.eventId) as { seq: number };
        return { ok: true, seq: Number(existing.seq), duplicate: true };
      }
      seqs.last = seq;
      return { ok: true, seq, duplicate: false };
    });
    for (const [channel, { read, last }] of lastSeqs) if (last !== read) s.setLastSeq.run(last, channel);
    return results;
  }

  getEvent(channel: string, id: string): Promise<StoredEvent | undefined> {
    return this.run(() => {
      const row = this.statements.getEvent.get(channel, id) as StoredEventRow | undefined;
      return row ? toStoredEvent(row) : undefined;
    });
  }

  listEvents(query: EventQuery): Promise<EventPage> {
    return this.run(() => this.eventQueries.list(query));
  }

  deliveryStates(channel: string, seqs: readonly number[]): Promise<EventDeliveryState[]> {
    return this.run(() => this.eventQueries.deliveryStates(channel, seqs));
  }

  prune(policy: RetentionPolicy, now: Date, batchSize: number): Promise<number> {
    return this.run(() =>
      this.transaction(() => {
        const s = this.statements;
        const gone = s.pruneAge.all(now.getTime() - policy.maxAgeMs, batchSize) as { channel: string; seq: number }[];
        for (const { name } of s.channelNames.all() as { name: string }[]) {
          if (gone.length >= batchSize) break;
          const excess = Number((s.countChannel.get(name) as { n: number }).n) - policy.maxEventsPerChannel;
          if (excess > 0) gone.push(...(s.pruneOldest.all(name, Math.min(excess, batchSize - gone.length)) as { channel: string; seq: number }[]));
        }
        // Delivery state of a removed event goes with it.
        for (const { channel, seq } of gone) {
          s.pruneDeliveries.run(channel, seq);
          s.pruneAttempts.run(channel, seq);
        }
        return gone.length;
      }),
    );
  }

  openConsumer(spec: ConsumerSpec, now: Date): Promise<{ created: boolean }> {
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

  ping(): Promise<void> {
    return this.run(() => {
      if (this.flushFailure) throw this.flushFailure;
      this.statements.ping.get();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.flushSettlements();
    this.closed = true;
    await this.walSync.close();
    this.db.close();
  }
}

/** Opens (creating if needed) the SQLite store at `options.path`. */
export function openSqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(options);
}
