import pg from 'pg';
import { RelayError } from '../errors.js';
import { firstRow, inTransaction, sqlState, toStoreError } from './postgres-connection.js';

/**
 * Every table lock that would hold up an append (its INSERT into events, its row locks and
 * UPDATE on channels) conflicts with ROW EXCLUSIVE, so asking for that with NOWAIT tells at once
 * whether an append would wait, without writing anything. The tables are named with their
 * schema: a dropped schema must be reported as missing, not found further down the search_path.
 */
function lockIngestTables(schema: string): string {
  const s = pg.escapeIdentifier(schema);
  return `LOCK TABLE ${s}.channels, ${s}.events IN ROW EXCLUSIVE MODE NOWAIT`;
}

/** A standby, or a server with default_transaction_read_only: LOCK passes there, the INSERT would not. */
const READ_ONLY = "SELECT current_setting('transaction_read_only') = 'on' AS read_only";

/** lock_not_available: here from NOWAIT, not from a lock_timeout running out. */
const LOCK_NOT_AVAILABLE = '55P03';

/** undefined_table and invalid_schema_name. */
const MISSING = new Set(['42P01', '3F000']);

/**
 * Resolves when an append could be stored now in `schema`; rejects with a RelayError that says
 * why not: Postgres unreachable or every pooled connection busy (within the pool's connect
 * bound), the relay's tables missing, a lock that blocks inserts into events, or a read-only server.
 */
export async function probeWritable(pool: pg.Pool, schema: string): Promise<void> {
  try {
    await inTransaction(
      pool,
      async (db) => {
        if ((await firstRow<{ read_only: boolean }>(db, READ_ONLY))?.read_only === true) {
          throw new RelayError('RELAY_E_STORE_UNAVAILABLE', '(postgres: the server is read-only: a standby, or default_transaction_read_only is on)', { reason: 'read-only' });
        }
        await db.query(lockIngestTables(schema));
      },
      1,
    );
  } catch (error) {
    const state = sqlState(error);
    if (state !== undefined && MISSING.has(state)) {
      throw new RelayError(
        'RELAY_E_STORE_UNAVAILABLE',
        `(postgres ${state}: the relay's tables are missing from schema "${schema}" (${(error as Error).message}); restore them from a backup)`,
        { cause: error, reason: 'schema-missing' },
      );
    }
    if (state === LOCK_NOT_AVAILABLE) {
      throw new RelayError('RELAY_E_STORE_UNAVAILABLE', `(postgres ${state}: ${(error as Error).message}: another session holds a lock that blocks appends; pg_locks names it)`, {
        cause: error,
        reason: 'locked',
      });
    }
    throw toStoreError(error);
  }
}
