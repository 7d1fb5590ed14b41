import type { Channel } from '../channel.js';
import { RelayError } from '../errors.js';
import { upgradeLegacyPasswordHash } from '../passwords.js';
import type { SqliteDatabase } from './sqlite-driver.js';

/**
 * The embedded store's schema and its migrations. A file is migrated on every open, in one
 * transaction: a file of a newer version is refused, older ones are brought up to
 * {@link SCHEMA_VERSION}.
 */

/** Version of the schema this relay-server writes. */
export const SCHEMA_VERSION = 6;

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
-- The admin actions' log. A table no older relay-server reads, so it needs no schema version of its own.
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS consumers (
  channel TEXT NOT NULL,
  name TEXT NOT NULL,
  next_seq INTEGER NOT NULL,
  filter TEXT NOT NULL,
  max_attempts INTEGER,
  created_at INTEGER NOT NULL,
  last_ack_at INTEGER,
  -- Name of the token whose subscribe created the consumer; null for consumers from before version 4.
  created_by TEXT,
  PRIMARY KEY (channel, name)
);
`;

/**
 * To schema version 5, for the event listing: each event's Webhook v2 session and how it was
 * verified, an index per channel in arrival order (listing a channel no longer sorts all its
 * events), and one per session. Events stored before keep no verification; their session is read
 * from the body, by the rule ingest applies (a v2 envelope: `event_id` and a scalar `session_id`).
 */
const MIGRATE_TO_5 = `ALTER TABLE events ADD COLUMN session_id TEXT;
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

/** To schema version 4: consumers record the token that created them (`--max-consumers-per-token`). */
const MIGRATE_TO_4 = 'ALTER TABLE consumers ADD COLUMN created_by TEXT;';

/** To schema version 6: attempts keep the handler's answer (status line aside: headers and body start). */
const MIGRATE_TO_6 = `
ALTER TABLE attempts ADD COLUMN response_headers TEXT;
ALTER TABLE attempts ADD COLUMN response_body BLOB;
ALTER TABLE attempts ADD COLUMN response_bytes INTEGER;
ALTER TABLE attempts ADD COLUMN response_truncated INTEGER;
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
  outcome TEXT,
  -- The handler's answer as relay-client reported it (schema version 5); null when it reported none.
  response_headers TEXT,
  response_body BLOB,
  response_bytes INTEGER,
  response_truncated INTEGER
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
 * Creates the schema of an empty file, or migrates an older one to {@link SCHEMA_VERSION}, inside
 * `transaction` (the store's own, which takes the write lock first).
 *
 * @throws RelayError `RELAY_E_STORE_VERSION` for a file written by a newer relay-server.
 */
export function migrateSqliteSchema(db: SqliteDatabase, transaction: (work: () => void) => void): void {
  transaction(() => {
    db.exec(SCHEMA);
    const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
    const version = row ? Number(row.value) : 0;
    if (version > SCHEMA_VERSION) {
      throw new RelayError('RELAY_E_STORE_VERSION', `(schema version ${version}; this relay-server supports up to ${SCHEMA_VERSION})`);
    }
    db.exec(version === 1 ? MIGRATE_1_TO_2 : DELIVERY_SCHEMA);
    // Version 3 keeps Basic auth passwords under scrypt; older files hold their SHA-256.
    if (version < 3) {
      const update = db.prepare('UPDATE channels SET config = ? WHERE name = ?');
      for (const row of db.prepare('SELECT config FROM channels').all() as { config: string }[]) {
        const upgraded = upgradeLegacyPasswordHash(JSON.parse(row.config) as Channel);
        if (upgraded) update.run(JSON.stringify(upgraded), upgraded.name);
      }
    }
    // Checked by column, not by version: CREATE TABLE above already has it on a new file.
    const consumerColumns = db.prepare('PRAGMA table_info(consumers)').all() as { name: string }[];
    if (!consumerColumns.some((c) => c.name === 'created_by')) db.exec(MIGRATE_TO_4);
    const eventColumns = db.prepare('PRAGMA table_info(events)').all() as { name: string }[];
    if (!eventColumns.some((c) => c.name === 'session_id')) db.exec(MIGRATE_TO_5);
    const attemptColumns = db.prepare('PRAGMA table_info(attempts)').all() as { name: string }[];
    if (!attemptColumns.some((c) => c.name === 'response_headers')) db.exec(MIGRATE_TO_6);
    db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
  });
}
