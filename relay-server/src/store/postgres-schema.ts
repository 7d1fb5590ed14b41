import type pg from 'pg';
import type { Channel } from '../channel.js';
import { RelayError } from '../errors.js';
import { upgradeLegacyPasswordHash } from '../passwords.js';
import { firstRow, inTransaction, rows, type Queryable } from './postgres-connection.js';
import { APPEND_PLANNED_ONCE, DELIVERY_FUNCTIONS } from './postgres-functions.js';

/** One step of the Postgres schema, applied once, in version order. */
export interface Migration {
  version: number;
  name: string;
  /** Statements of the step. */
  sql?: string;
  /** Work SQL cannot do, run after `sql` inside the migration's transaction. */
  run?: (db: Queryable) => Promise<void>;
}

/**
 * The same tables as the SQLite store, in Postgres types: times are timestamptz, bodies bytea,
 * settings jsonb. Headers stay JSON text: kept exactly as ingest wrote them (jsonb would refuse
 * `\u0000`). Listings sort with COLLATE "C", so names come in byte order as in SQLite.
 */
const INITIAL_SCHEMA = `
CREATE TABLE meta (
  key text PRIMARY KEY,
  value text NOT NULL
);
CREATE TABLE channels (
  name text PRIMARY KEY,
  config jsonb NOT NULL,
  last_seq bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL
);
CREATE TABLE tokens (
  name text PRIMARY KEY,
  hash text NOT NULL UNIQUE,
  role text NOT NULL,
  channels jsonb,
  created_at timestamptz NOT NULL
);
CREATE TABLE events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  channel text NOT NULL,
  seq bigint NOT NULL,
  event_id text NOT NULL,
  event_type text NOT NULL,
  received_at timestamptz NOT NULL,
  source_ip text NOT NULL,
  headers text NOT NULL,
  body bytea NOT NULL,
  synthetic boolean NOT NULL DEFAULT false,
  UNIQUE (channel, event_id),
  UNIQUE (channel, seq)
);
CREATE INDEX events_received_at ON events (received_at);
CREATE INDEX events_channel_type ON events (channel, event_type, id);
CREATE TABLE consumers (
  channel text NOT NULL,
  name text NOT NULL,
  next_seq bigint NOT NULL,
  filter jsonb NOT NULL,
  max_attempts integer,
  created_at timestamptz NOT NULL,
  last_ack_at timestamptz,
  PRIMARY KEY (channel, name)
);
CREATE TABLE deliveries (
  channel text NOT NULL,
  consumer text NOT NULL,
  seq bigint NOT NULL,
  state text NOT NULL CHECK (state IN ('inflight', 'retry', 'acked', 'failed')),
  attempts integer NOT NULL,
  session text,
  lease_expires_at timestamptz,
  next_attempt_at timestamptz,
  replay boolean NOT NULL DEFAULT false,
  PRIMARY KEY (channel, consumer, seq)
);
CREATE INDEX deliveries_session ON deliveries (session) WHERE session IS NOT NULL;
CREATE INDEX deliveries_open ON deliveries (channel, consumer, state, seq);
CREATE TABLE attempts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  channel text NOT NULL,
  consumer text NOT NULL,
  seq bigint NOT NULL,
  attempt integer NOT NULL,
  session text NOT NULL,
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  status integer,
  latency_ms double precision,
  error text,
  outcome text
);
CREATE INDEX attempts_delivery ON attempts (channel, consumer, seq, attempt);
CREATE INDEX attempts_event ON attempts (channel, seq);
`;

/**
 * Basic auth passwords move from their SHA-256 to scrypt (see `passwords.ts`). The rows are locked
 * while they are rewritten, so a concurrent `channel update` is neither lost nor overwritten.
 */
async function upgradePasswordHashes(db: Queryable): Promise<void> {
  const basic = await rows<{ config: Channel }>(db, "SELECT config FROM channels WHERE config->'verification'->>'mode' = 'basic' ORDER BY name FOR UPDATE");
  for (const { config } of basic) {
    const upgraded = upgradeLegacyPasswordHash(config);
    if (upgraded) await db.query('UPDATE channels SET config = $2::jsonb WHERE name = $1', [upgraded.name, JSON.stringify(upgraded)]);
  }
}

/**
 * For the event listing: each event's Webhook v2 session and how it was verified, an index per
 * channel in arrival order and one per session. Events stored before keep no verification; their
 * session is read from the body by the rule ingest applies (a v2 envelope: \`event_id\` and a
 * scalar \`session_id\`). A body that is not UTF-8 JSON is skipped, not an error.
 */
const EVENT_LISTING = `
ALTER TABLE events ADD COLUMN session_id text;
ALTER TABLE events ADD COLUMN verification text;
DROP INDEX IF EXISTS events_channel_type;
CREATE INDEX events_channel_id ON events (channel, id);
CREATE INDEX events_session ON events (session_id, id) WHERE session_id IS NOT NULL;
DO $$
DECLARE
  r record;
  doc jsonb;
BEGIN
  FOR r IN SELECT id, body FROM events WHERE position('"session_id"'::bytea IN body) > 0 LOOP
    BEGIN
      doc := convert_from(r.body, 'UTF8')::jsonb;
    EXCEPTION WHEN OTHERS THEN
      CONTINUE;
    END;
    IF jsonb_typeof(doc) = 'object'
      AND jsonb_typeof(doc -> 'event_id') IN ('string', 'number')
      AND jsonb_typeof(doc -> 'session_id') IN ('string', 'number')
      AND length(doc ->> 'session_id') BETWEEN 1 AND 256 THEN
      UPDATE events SET session_id = doc ->> 'session_id' WHERE id = r.id;
    END IF;
  END LOOP;
END
$$;
`;

/** Every migration this relay-server knows, oldest first. Append new ones; never edit an applied one. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'initial schema', sql: INITIAL_SCHEMA },
  { version: 2, name: 'Basic auth passwords under scrypt', run: upgradePasswordHashes },
  // Consumers from before it count for no token's limit (--max-consumers-per-token).
  { version: 3, name: 'consumer creator', sql: 'ALTER TABLE consumers ADD COLUMN created_by text;' },
  {
    version: 4,
    name: 'audit log',
    sql: `
CREATE TABLE audit (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  target text NOT NULL,
  detail jsonb NOT NULL
);
`,
  },
  { version: 5, name: 'event listing: sessions, verification, channel order', sql: EVENT_LISTING },
  // Null for attempts from before it, and for those whose client reported no answer.
  {
    version: 6,
    name: 'handler answers',
    sql: `ALTER TABLE attempts ADD COLUMN IF NOT EXISTS response_headers text, ADD COLUMN IF NOT EXISTS response_body bytea,
      ADD COLUMN IF NOT EXISTS response_bytes bigint, ADD COLUMN IF NOT EXISTS response_truncated boolean;`,
  },
  { version: 7, name: 'appends and consumer turns in one statement each; open deliveries indexed', sql: DELIVERY_FUNCTIONS },
  { version: 8, name: 'appends planned once per connection', sql: APPEND_PLANNED_ONCE },
];

/** The newest schema version this relay-server reads and writes. */
export const SCHEMA_VERSION = MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0);

const CURRENT_SCHEMA = 'SELECT current_schema() AS schema';
/** Looked up in the current schema only: another schema later on the search_path may hold its own relay. */
const MIGRATIONS_TABLE_EXISTS = "SELECT to_regclass(quote_ident(current_schema()) || '.schema_migrations') IS NOT NULL AS present";
const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;
const APPLIED_VERSION = 'SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations';
const RECORD_MIGRATION = 'INSERT INTO schema_migrations (version, name) VALUES ($1, $2)';
/** Transaction-scoped, so a crashed migrator cannot leave it held. */
const LOCK = 'SELECT pg_advisory_xact_lock(hashtext($1))';

/**
 * Serializes work of one kind on one schema across every relay-server process, until the
 * transaction ends. Keyed by schema, so relays in other schemas of the database do not wait.
 */
export async function lockSchemaWide(db: Queryable, schema: string, purpose: 'migrate' | 'prune'): Promise<void> {
  await db.query(LOCK, [`myop-relay:${purpose}:${schema}`]);
}

/** The schema tables are created in: the first existing one on the search_path. */
export async function currentSchema(db: Queryable): Promise<string> {
  const schema = (await firstRow<{ schema: string | null }>(db, CURRENT_SCHEMA))?.schema ?? null;
  if (schema === null) {
    throw new RelayError(
      'RELAY_E_CONFIG_INVALID',
      '--database-url: its search_path names no existing schema. Create the schema first (CREATE SCHEMA <name>), or drop the search_path option to use "public".',
    );
  }
  return schema;
}

/** What {@link applyMigrations} found and did. */
export interface MigrationReport {
  /** The schema the relay's tables live in. */
  schema: string;
  /** Schema version after the run. */
  version: number;
  /** Migrations this run applied, oldest first; empty when the schema was current. */
  applied: { version: number; name: string }[];
}

/**
 * Brings the schema to {@link SCHEMA_VERSION} in one transaction. Processes starting together
 * queue on an advisory lock, so exactly one applies each migration and the others find nothing to
 * do. Refuses a schema newer than this relay-server with `RELAY_E_STORE_VERSION`, and, unless
 * `create` is true, a schema that holds no relay store yet (a mistyped URL must not create one).
 */
export async function applyMigrations(pool: pg.Pool, create: boolean): Promise<MigrationReport> {
  return inTransaction(pool, async (db) => {
    const schema = await currentSchema(db);
    await lockSchemaWide(db, schema, 'migrate');
    const present = (await firstRow<{ present: boolean }>(db, MIGRATIONS_TABLE_EXISTS))?.present === true;
    if (!present && !create) {
      throw new RelayError(
        'RELAY_E_CONFIG_INVALID',
        `--database-url: no relay store in schema "${schema}" of this database. Check the URL, or create the store with \`relay-server migrate\` (or \`relay-server start\`).`,
      );
    }
    await db.query(CREATE_MIGRATIONS_TABLE);
    const current = (await rows<{ version: number }>(db, APPLIED_VERSION))[0]?.version ?? 0;
    if (current > SCHEMA_VERSION) {
      throw new RelayError('RELAY_E_STORE_VERSION', `(schema "${schema}" is at version ${current}; this relay-server supports up to ${SCHEMA_VERSION})`);
    }
    const applied: MigrationReport['applied'] = [];
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      if (migration.sql !== undefined) await db.query(migration.sql);
      await migration.run?.(db);
      await db.query(RECORD_MIGRATION, [migration.version, migration.name]);
      applied.push({ version: migration.version, name: migration.name });
    }
    return { schema, version: Math.max(current, SCHEMA_VERSION), applied };
  });
}
