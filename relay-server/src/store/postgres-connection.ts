import { Buffer } from 'node:buffer';
import pg from 'pg';
import { SERVER_DEFAULTS } from '../config.js';
import { RelayError, type StoreUnreadyReason } from '../errors.js';

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

/**
 * How long the store waits for Postgres. A webhook is held open while its event commits, and
 * MyOperator gives up after a few seconds and retries into the same wall, so no wait may be
 * longer than a fraction of that: past the bound the caller gets `RELAY_E_STORE_UNAVAILABLE`
 * (503) and the sender retries.
 */
export interface PostgresTimeouts {
  /** Longest one statement may run, lock waits included (`statement_timeout`); 0 sets none. */
  statementMs: number;
  /** Longest one statement waits for a lock (`lock_timeout`); 0 sets none. */
  lockMs: number;
  /** Longest to get a connection: opening one, or waiting for a pooled one to be free. */
  connectMs: number;
}

/** The defaults of `relay-server start` (2 s, 1 s, 2 s): well under the few seconds MyOperator waits for an answer. */
export const DEFAULT_TIMEOUTS: Readonly<PostgresTimeouts> = Object.freeze({
  statementMs: SERVER_DEFAULTS.pgStatementTimeoutMs,
  lockMs: SERVER_DEFAULTS.pgLockTimeoutMs,
  connectMs: SERVER_DEFAULTS.pgConnectTimeoutMs,
});

/**
 * How much longer than `statement_timeout` the driver waits for an answer before it gives up on
 * the connection itself: Postgres cancels a slow statement and says so, but a host that stopped
 * answering (a cut network that sends no reset) would otherwise hold the statement until TCP
 * keepalive notices, minutes later.
 */
const SILENT_SERVER_SLACK_MS = 1_000;

/** The pid Postgres gave a connection; pg keeps it on the client without declaring it in its types. */
export function backendPid(client: pg.PoolClient): number | undefined {
  const pid: unknown = Reflect.get(client, 'processID');
  return typeof pid === 'number' ? pid : undefined;
}

/** Settings of {@link createPool}. */
export interface PoolSettings {
  /** `postgres://` URL; a schema is chosen with `?options=-c%20search_path%3D<schema>`. */
  url: string;
  /** Most connections the pool opens. */
  size: number;
  timeouts: PostgresTimeouts;
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

/**
 * Client settings shared by the pool and the LISTEN connection. The LISTEN connection holds no
 * webhook and reconnects by itself, so it keeps a longer connect wait than the pool's default.
 */
export function clientConfig(url: string, connectMs = 5_000): pg.ClientConfig {
  return {
    connectionString: url,
    types,
    // A host that does not answer must not hold a webhook: fail fast, the sender retries on 503.
    connectionTimeoutMillis: connectMs,
    // Notices a dead peer (a cut network) on idle connections, the LISTEN one above all, within
    // minutes rather than the system's default two hours.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
}

/**
 * Set once per connection, before the pool hands it out. A SET rather than startup parameters:
 * poolers in session mode (PgBouncer) refuse unknown startup parameters, and the usual way round
 * that, ignoring them, would drop the bounds without a word. The flags win over any
 * `-c statement_timeout` in the URL.
 *
 * JIT compilation is off too: the relay's statements are short lookups by key, and a plan whose
 * cost estimate crosses `jit_above_cost` (a table without statistics yet) would wait tens to
 * hundreds of milliseconds for LLVM before running for one (docs/benchmarks.md, section 5).
 */
const SET_SESSION = "SELECT set_config('statement_timeout', $1, false), set_config('lock_timeout', $2, false), set_config('jit', 'off', false)";

/**
 * Opens a connection pool; nothing connects until the first query. Every connection carries the
 * statement and lock bounds, and JIT off; waiting for a free connection is bounded by `connectMs`
 * like opening one.
 */
export function createPool(settings: PoolSettings): pg.Pool {
  const { statementMs, lockMs, connectMs } = settings.timeouts;
  const pool = new pg.Pool({
    ...clientConfig(settings.url, connectMs),
    ...(statementMs > 0 ? { query_timeout: statementMs + SILENT_SERVER_SLACK_MS } : {}),
    max: settings.size,
    idleTimeoutMillis: 30_000,
    // A rejection here ends the connection and fails the query that wanted it: none runs unbounded.
    onConnect: async (client) => {
      await client.query(SET_SESSION, [String(statementMs), String(lockMs)]);
    },
  });
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

/** What the bounds of {@link PostgresTimeouts} report, said so the operator knows which one ran out. */
const BOUND_HINTS: Record<string, string> = {
  '55P03': 'another session holds a lock this write needs, for longer than --pg-lock-timeout; pg_locks names it',
  '57014': 'the statement ran longer than --pg-statement-timeout',
};

/**
 * Failures that any write made now would meet as well, whatever it writes: a bound ran out, the
 * connection failed or was refused, the server is read-only or shutting down. Errors without an
 * SQLSTATE come from the driver or the pool (refused, cut, timed out).
 */
export function blocksEveryWrite(error: unknown): boolean {
  if (error instanceof RelayError) return false;
  const state = sqlState(error);
  if (state === undefined) return true;
  return state.startsWith('08') || state.startsWith('57') || ['55P03', '53300', '25006'].includes(state);
}

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
  const hint = state === undefined ? undefined : BOUND_HINTS[state];
  const detail = `(postgres${state ? ` ${state}` : ''}: ${reason(error)}${hint ? `: ${hint}` : ''})`;
  return new RelayError(state === FULL ? 'RELAY_E_STORE_FULL' : 'RELAY_E_STORE_UNAVAILABLE', detail, { cause: error, reason: unreadyReason(state) });
}

/** The `/readyz` category of a failure with this SQLSTATE (undefined: the driver's or the pool's own). */
function unreadyReason(state: string | undefined): StoreUnreadyReason {
  if (state === undefined || state.startsWith('08') || state === '57P01' || state === '53300') return 'unreachable';
  if (state === FULL) return 'disk-full';
  if (state === '57014') return 'timeout';
  if (state === '55P03') return 'locked';
  if (state === '25006') return 'read-only';
  if (state === '42P01' || state === '3F000') return 'schema-missing';
  return 'store-error';
}

/** Bytes as the driver writes bytea, alone or inside an array: a Buffer (other typed arrays it would not). */
export function bytea(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A hot statement: with prepared statements on, Postgres parses and plans it once per connection under `name`. */
export interface Statement {
  name: string;
  text: string;
}

/**
 * Runs a hot statement and returns its rows; named (prepared) when `prepared`, plain otherwise
 * (behind a pooler in transaction mode, where a prepared statement may meet another connection).
 * Run on the pool, the statement is its own transaction: a deadlock or serialization failure
 * rolled it back whole, so it runs again, up to `attempts` times.
 */
export async function runStatement<R extends pg.QueryResultRow>(
  db: pg.Pool | pg.PoolClient,
  statement: Statement,
  values: unknown[],
  prepared: boolean,
  attempts = 3,
): Promise<R[]> {
  const config: pg.QueryConfig = prepared ? { name: statement.name, text: statement.text, values } : { text: statement.text, values };
  for (let attempt = 1; ; attempt++) {
    try {
      return (await db.query<R>(config)).rows;
    } catch (error) {
      const state = sqlState(error);
      if (db instanceof pg.Pool && attempt < attempts && state !== undefined && RETRYABLE.has(state)) continue;
      throw error;
    }
  }
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
      if (error instanceof RelayError || sqlState(error) !== undefined) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          // The connection is gone or unusable; the pool must not hand it out again.
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        }
      } else {
        // The driver failed (connection cut, or the server stopped answering), or our own code
        // did: a ROLLBACK could wait as long again. Closing the connection rolls back on the server.
        broken = error instanceof Error ? error : new Error(String(error));
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
