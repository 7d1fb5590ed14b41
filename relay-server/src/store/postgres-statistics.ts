import type pg from 'pg';
import { inTransaction, rows } from './postgres-connection.js';

/** The tables whose statistics the hot paths' plans depend on. */
const HOT_TABLES = ['events', 'deliveries', 'attempts'];

/** Appended events between two looks at the tables' statistics. */
export const STATISTICS_CHECK_EVERY = 500;

/**
 * Rows changed since the last ANALYZE past which a table is analyzed: autovacuum's rule
 * (threshold + scale × rows) with ten times its default threshold, so that where autovacuum runs
 * it is always first and this never fires.
 */
const THRESHOLD = 500;
const SCALE = 0.1;

const SQL = {
  /** One instance at a time; the others skip this round rather than wait. */
  tryLock: 'SELECT pg_try_advisory_xact_lock(hashtext($1)) AS locked',
  stale: `SELECT s.relname AS name FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
    WHERE s.schemaname = $1 AND s.relname = ANY ($2::text[]) AND s.n_mod_since_analyze > $3 + $4 * GREATEST(c.reltuples, 0)`,
  /** ANALYZE reads a sample of each table: longer than a webhook's bounds allow, and no webhook waits on it. */
  unbounded: "SELECT set_config('statement_timeout', '0', true), set_config('lock_timeout', '0', true)",
} as const;

/**
 * Keeps statistics on the relay's hot tables where autovacuum does not (it is off, or has not
 * come round yet on a young schema). The SQL functions' plans are kept per connection and are
 * good only with statistics: without them, a plan made while `events` was nearly empty looks an
 * event up through the wrong index and walks the channel for it. ANALYZE also makes Postgres
 * plan those statements afresh. Every {@link STATISTICS_CHECK_EVERY} appended events, one look at
 * `pg_stat_user_tables`; in the background, never on a webhook's path.
 */
export class PostgresStatistics {
  #appended = 0;
  #running: Promise<void> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    /** Hears a failed look or ANALYZE; the next check tries again. */
    private readonly onError: (error: Error) => void,
  ) {}

  /** Counts appended events and starts a look when it is due. */
  appended(events: number): void {
    const before = this.#appended;
    this.#appended += events;
    if (Math.floor(before / STATISTICS_CHECK_EVERY) === Math.floor(this.#appended / STATISTICS_CHECK_EVERY) || this.#running) return;
    this.#running = this.refresh()
      .then(() => undefined)
      .catch((error: unknown) => this.onError(error instanceof Error ? error : new Error(String(error))))
      .finally(() => (this.#running = undefined));
  }

  /** Analyzes the hot tables that changed enough since their last ANALYZE; resolves with their names. */
  refresh(): Promise<string[]> {
    return inTransaction(this.pool, async (db) => {
      const locked = (await rows<{ locked: boolean }>(db, SQL.tryLock, [`myop-relay:analyze:${this.schema}`]))[0]?.locked === true;
      if (!locked) return [];
      const stale = (await rows<{ name: string }>(db, SQL.stale, [this.schema, HOT_TABLES, THRESHOLD, SCALE])).map((r) => r.name);
      if (stale.length === 0) return [];
      await db.query(SQL.unbounded);
      // Names from HOT_TABLES only; the schema is the connection's own (search_path).
      await db.query(`ANALYZE ${stale.join(', ')}`);
      return stale;
    });
  }

  /** Resolves once a look in progress has ended. */
  async idle(): Promise<void> {
    await this.#running;
  }
}
