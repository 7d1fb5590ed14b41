import type pg from 'pg';
import { bytea, runStatement, type Statement } from './postgres-connection.js';
import type { AppendResult, NewEvent } from './store.js';

/** One group commit as one statement (see relay_append_events in postgres-functions.ts). */
const APPEND: Statement = {
  name: 'relay_append_events',
  text: 'SELECT seq, duplicate FROM relay_append_events($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)',
};

/**
 * Stores one group commit's events, in order, in one statement, which is its own transaction
 * (synchronous commit: it returns once the events are durable). Each channel's row is locked
 * (so seqs are gap-free and dedup exact across processes), retries of stored events are answered
 * with their first seq, and `notify` (when set) is NOTIFYed with each channel that got new events.
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
