import pg from 'pg';
import { RelayError } from '../errors.js';

/** Anything that runs a query: the pool, or one connection inside a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** Runs `sql` and returns its rows. */
export async function rows<R extends pg.QueryResultRow>(db: Queryable, sql: string, values: unknown[] = []): Promise<R[]> {
  return (await db.query<R>(sql, values)).rows;
}

/** Runs `sql` and returns its first row, if any. */
export async function firstRow<R extends pg.QueryResultRow>(db: Queryable, sql: string, values: unknown[] = []): Promise<R | undefined> {
  return (await db.query<R>(sql, values)).rows[0];
}

/** Runs `sql` and returns how many rows it changed. */
export async function changed(db: Queryable, sql: string, values: unknown[] = []): Promise<number> {
  return (await db.query(sql, values)).rowCount ?? 0;
}

/** Settings of {@link createPool}. */
export interface PoolSettings {
  /** `postgres://` URL; a schema is chosen with `?options=-c%20search_path%3D<schema>`. */
  url: string;
  /** Most connections the pool opens. */
  size: number;
  /** Hears errors of idle connections (Postgres restarted, network cut); the pool replaces them by itself. */
  onIdleError: (error: Error) => void;
}

/**
 * bigint columns (seq, ids, counts) as numbers: they stay far below 2^53, and strings would leak
 * into every caller.
 */
const types: pg.CustomTypesConfig = {
  getTypeParser: (oid, format) => (oid === pg.types.builtins.INT8 ? Number : pg.types.getTypeParser(oid, format)),
};

/** Client settings shared by the pool and the LISTEN connection. */
export function clientConfig(url: string): pg.ClientConfig {
  return {
    connectionString: url,
    types,
    // A host that does not answer must not hold a webhook for minutes: fail fast, the sender retries on 503.
    connectionTimeoutMillis: 5_000,
    // Notices a dead peer (a cut network) on idle connections, the LISTEN one above all, within
    // minutes rather than the system's default two hours.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
}

/** Opens a connection pool; nothing connects until the first query. */
export function createPool(settings: PoolSettings): pg.Pool {
  const pool = new pg.Pool({ ...clientConfig(settings.url), max: settings.size, idleTimeoutMillis: 30_000 });
  // An idle connection that dies emits 'error' on the pool; unheard, that event would crash the process.
  pool.on('error', (error) => settings.onIdleError(error));
  return pool;
}

/** SQLSTATE of a server error; undefined for network and client errors. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** disk_full: the only state that more disk space fixes. Out of memory (53200) passes, so it counts as unavailable. */
const FULL = '53100';

/** Deadlock and serialization failure: the transaction was rolled back whole and may simply run again. */
const RETRYABLE = new Set(['40P01', '40001']);

/** A readable reason; Node's happy-eyeballs connect reports an AggregateError with an empty message. */
function reason(error: unknown): string {
  if (error instanceof AggregateError && error.message === '') return error.errors.map(reason).join('; ');
  if (error instanceof Error) return error.message || String((error as { code?: unknown }).code ?? error.name);
  return String(error);
}

/** Maps an engine failure to the catalogue; RelayErrors pass through unchanged. Never includes the URL. */
export function toStoreError(error: unknown): RelayError {
  if (error instanceof RelayError) return error;
  const state = sqlState(error);
  const detail = `(postgres${state ? ` ${state}` : ''}: ${reason(error)})`;
  return new RelayError(state === FULL ? 'RELAY_E_STORE_FULL' : 'RELAY_E_STORE_UNAVAILABLE', detail, { cause: error });
}

/**
 * Runs `work` in one READ COMMITTED transaction (named, not left to the server's default: the
 * locking in this store relies on each statement seeing what committed before it). A deadlock or
 * serialization failure rolls everything back, so the whole transaction runs again, up to
 * `attempts` times. Resolves only after COMMIT returned.
 */
export async function inTransaction<T>(pool: pg.Pool, work: (db: pg.PoolClient) => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        // The connection is gone or unusable; the pool must not hand it out again.
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      }
      const state = sqlState(error);
      if (attempt < attempts && state !== undefined && RETRYABLE.has(state)) continue;
      throw error;
    } finally {
      client.release(broken);
    }
  }
}

/** The URL as logs and banners show it: user, host, port and database, never the password or the query. */
export function describeDatabaseUrl(url: string): string {
  const parsed = new URL(url);
  const user = parsed.username ? `${parsed.username}@` : '';
  return `${parsed.protocol}//${user}${parsed.host}${parsed.pathname}`;
}
