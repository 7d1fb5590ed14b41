import pg from 'pg';
import { RelayError } from '../errors.js';
import { clientConfig, firstRow } from '../store/postgres-connection.js';
import { SCHEMA_VERSION } from '../store/postgres-schema.js';
import type { StoreInspection } from './inspect.js';

const MIGRATIONS_PRESENT = "SELECT to_regclass(quote_ident(current_schema()) || '.schema_migrations') IS NOT NULL AS present";
const EVENTS_PRESENT = "SELECT to_regclass(quote_ident(current_schema()) || '.events') IS NOT NULL AS present";

/** Reads the Postgres schema the URL names over one connection, and the database's clock. Loaded only for Postgres, like the Postgres store. */
export async function inspectPostgres(url: string): Promise<StoreInspection> {
  const client = new pg.Client(clientConfig(url));
  await client.connect();
  try {
    const askedAt = Date.now();
    const now = await firstRow<{ now: Date }>(client, 'SELECT now() AS now');
    const answeredAt = Date.now();
    if (!now) throw new RelayError('RELAY_E_STORE_UNAVAILABLE', '(SELECT now() returned no row)');
    const found = { supportedVersion: SCHEMA_VERSION, clock: { databaseNow: now.now.getTime(), askedAt, answeredAt } };
    if ((await firstRow<{ present: boolean }>(client, MIGRATIONS_PRESENT))?.present !== true) return { ...found, schemaVersion: null, oldestEventAt: null };
    const version = (await firstRow<{ version: number | null }>(client, 'SELECT MAX(version) AS version FROM schema_migrations'))?.version ?? null;
    const events = (await firstRow<{ present: boolean }>(client, EVENTS_PRESENT))?.present === true;
    const oldest = events ? ((await firstRow<{ at: Date | null }>(client, 'SELECT MIN(received_at) AS at FROM events'))?.at ?? null) : null;
    return { ...found, schemaVersion: version, oldestEventAt: oldest };
  } finally {
    await client.end().catch(() => undefined);
  }
}
