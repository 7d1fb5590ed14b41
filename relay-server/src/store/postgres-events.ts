import type pg from 'pg';
import { RelayError } from '../errors.js';
import { bytea, runStatement, sqlState, type Statement } from './postgres-connection.js';
import type { AppendResult, NewEvent } from './store.js';

/**
 * One group commit as one statement (see relay_append_events in postgres-functions.ts), its own
 * transaction, committed without waiting for the WAL flush: `set_config(..., true)` holds until
 * that commit. The events are visible, and NOTIFYed to the other instances, at once; no append is
 * answered before {@link flushWal} has made them durable.
 */
const APPEND: Statement = {
  name: 'relay_append_events_unflushed',
  text: "SELECT a.seq, a.duplicate FROM set_config('synchronous_commit', 'off', true) AS unflushed, relay_append_events($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) AS a",
};

/**
 * A transaction that writes WAL (a transactional logical-decoding message, which tables never
 * see) and commits with the connection's `synchronous_commit`, on by default: Postgres answers it
 * once the WAL up to its commit is flushed (and on a synchronous standby, where one is set), which
 * covers every commit made before it. Logical decoding consumers see it as a message with the
 * prefix `myop-relay`.
 */
const FLUSH: Statement = {
  name: 'relay_flush_wal',
  text: "SELECT pg_logical_emit_message(true, 'myop-relay', 'appended') IS NOT NULL AS flushed",
};

/** Resolves once every append committed before the call is durable; rejects when Postgres did not confirm it. */
export async function flushWal(pool: pg.Pool, prepared: boolean): Promise<void> {
  await runStatement(pool, FLUSH, [], prepared);
}

/** insufficient_privilege. */
const INSUFFICIENT_PRIVILEGE = '42501';

/**
 * Runs {@link flushWal} once when the store opens: a role that may not call
 * pg_logical_emit_message (granted to everyone unless an administrator revoked it) could store
 * events but never answer one, so it is refused at start with what to grant.
 */
export async function checkFlushAllowed(pool: pg.Pool): Promise<void> {
  try {
    await flushWal(pool, false);
  } catch (error) {
    if (sqlState(error) !== INSUFFICIENT_PRIVILEGE) throw error;
    throw new RelayError(
      'RELAY_E_CONFIG_INVALID',
      `--database-url: this role may not call pg_logical_emit_message, whose synchronous commit every webhook's answer waits for (${(error as Error).message}). As a superuser, run GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) TO <role> (on Postgres 17 and later it takes a fourth argument, boolean).`,
      { cause: error },
    );
  }
}

/**
 * Commits one group commit's events, in order, in one statement, without waiting for the disk
 * (see {@link APPEND}). Each channel's row is locked (so seqs are gap-free and dedup exact across
 * processes), retries of stored events are answered with their first seq, and `notify` (when
 * set) is NOTIFYed with each channel that got new events.
 */
export async function appendEventBatch(pool: pg.Pool, events: readonly NewEvent[], notify: string | undefined, prepared: boolean): Promise<AppendResult[]> {
  const rows = await runStatement<{ seq: number | null; duplicate: boolean }>(
    pool,
    APPEND,
    [
      events.map((e) => e.channel),
      events.map((e) => e.eventId),
      events.map((e) => e.eventType),
      events.map((e) => e.receivedAt),
      events.map((e) => e.sourceIp),
      events.map((e) => JSON.stringify(e.headers)),
      events.map((e) => bytea(e.body)),
      events.map((e) => e.synthetic),
      events.map((e) => e.session ?? null),
      events.map((e) => (e.verification === undefined ? null : JSON.stringify(e.verification))),
      notify ?? null,
    ],
    prepared,
  );
  return events.map((_, i) => {
    const row = rows[i];
    return row === undefined || row.seq === null ? { ok: false, reason: 'unknown-channel' } : { ok: true, seq: row.seq, duplicate: row.duplicate };
  });
}
