import { rows, type Queryable } from './postgres-connection.js';
import type { AppendResult, NewEvent } from './store.js';

const EVENT_COLUMNS = ['channel', 'seq', 'event_id', 'event_type', 'received_at', 'source_ip', 'headers', 'body', 'synthetic', 'session_id', 'verification'] as const;

/** One multi-row INSERT per batch; bodies travel as binary parameters, not as hex text. */
function insertEventsSql(count: number): string {
  const width = EVENT_COLUMNS.length;
  const tuples = Array.from({ length: count }, (_, r) => `(${EVENT_COLUMNS.map((_, c) => `$${r * width + c + 1}`).join(', ')})`);
  return `INSERT INTO events (${EVENT_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')}`;
}

const SQL = {
  /**
   * The row lock that makes seqs gap-free and dedup exact across processes: a batch holds its
   * channels' rows until COMMIT. Taken in name order, so two batches never wait on each other in a circle.
   */
  lockChannels: 'SELECT name, last_seq FROM channels WHERE name = ANY ($1::text[]) ORDER BY name FOR UPDATE',
  /** Read after the lock: whatever another process committed for these ids is visible now. */
  existingEvents: `SELECT e.channel, e.event_id, e.seq FROM events e
    JOIN unnest($1::text[], $2::text[]) AS k(channel, event_id) ON e.channel = k.channel AND e.event_id = k.event_id`,
  setLastSeqs: 'UPDATE channels AS c SET last_seq = u.last_seq FROM unnest($1::text[], $2::bigint[]) AS u(name, last_seq) WHERE c.name = u.name',
} as const;

/**
 * Inserts one group commit's events, in order, inside the caller's transaction: each channel's
 * row is locked (so seqs are gap-free and dedup exact across processes), retries of stored events
 * are answered with their first seq, and the rest go in one multi-row INSERT. Returns a result per
 * event and the channels that got new events (to notify).
 */
export async function insertEventBatch(db: Queryable, events: readonly NewEvent[]): Promise<{ results: AppendResult[]; channels: string[] }> {
  const channels = [...new Set(events.map((e) => e.channel))];
  const lastSeq = new Map((await rows<{ name: string; last_seq: number }>(db, SQL.lockChannels, [channels])).map((r) => [r.name, r.last_seq]));
  const known = events.filter((e) => lastSeq.has(e.channel));
  const key = (channel: string, id: string): string => `${channel}\u0000${id}`;
  const stored = new Map(
    (await rows<{ channel: string; event_id: string; seq: number }>(db, SQL.existingEvents, [known.map((e) => e.channel), known.map((e) => e.eventId)])).map(
      (r) => [key(r.channel, r.event_id), r.seq],
    ),
  );

  const results: AppendResult[] = [];
  const values: unknown[] = [];
  for (const event of events) {
    const last = lastSeq.get(event.channel);
    if (last === undefined) {
      results.push({ ok: false, reason: 'unknown-channel' });
      continue;
    }
    const id = key(event.channel, event.eventId);
    const first = stored.get(id);
    if (first !== undefined) {
      results.push({ ok: true, seq: first, duplicate: true });
      continue;
    }
    const seq = last + 1;
    lastSeq.set(event.channel, seq);
    stored.set(id, seq);
    const verification = event.verification === undefined ? null : JSON.stringify(event.verification);
    values.push(event.channel, seq, event.eventId, event.eventType, event.receivedAt, event.sourceIp, JSON.stringify(event.headers), event.body, event.synthetic, event.session ?? null, verification);
    results.push({ ok: true, seq, duplicate: false });
  }
  const inserted = values.length / EVENT_COLUMNS.length;
  if (inserted === 0) return { results, channels: [] };
  await db.query(insertEventsSql(inserted), values);
  const touched = channels.filter((c) => lastSeq.has(c));
  await db.query(SQL.setLastSeqs, [touched, touched.map((c) => lastSeq.get(c))]);
  return { results, channels: touched };
}
