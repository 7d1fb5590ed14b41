import type { SqliteDatabase, SqliteStatement } from './sqlite-driver.js';
import type { AppendResult, NewEvent } from './store.js';

/** An event as it crosses to the writer thread (structured-clone friendly). */
export interface AppendRow {
  channel: string;
  eventId: string;
  eventType: string;
  body: Uint8Array;
  /** JSON of the header pairs. */
  headers: string;
  receivedAtMs: number;
  sourceIp: string;
  synthetic: boolean;
}

/** Flattens an event for {@link appendBatch}. */
export function toAppendRow(event: NewEvent): AppendRow {
  return {
    channel: event.channel,
    eventId: event.eventId,
    eventType: event.eventType,
    body: event.body,
    headers: JSON.stringify(event.headers),
    receivedAtMs: event.receivedAt.getTime(),
    sourceIp: event.sourceIp,
    synthetic: event.synthetic,
  };
}

/** The statements one append needs, prepared once per connection. */
export function prepareAppend(db: SqliteDatabase) {
  return {
    existingSeq: db.prepare('SELECT seq FROM events WHERE channel = ? AND event_id = ?'),
    nextSeq: db.prepare('UPDATE channels SET last_seq = last_seq + 1 WHERE name = ? RETURNING last_seq'),
    insertEvent: db.prepare(
      `INSERT INTO events (channel, seq, event_id, event_type, received_at, source_ip, headers, body, synthetic)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
  } satisfies Record<string, SqliteStatement>;
}

/**
 * Appends a batch in one transaction (the caller opens and commits it): a known (channel, id)
 * answers with its first seq, a new one takes the channel's next seq.
 */
export function appendBatch(statements: ReturnType<typeof prepareAppend>, rows: readonly AppendRow[]): AppendResult[] {
  return rows.map((row) => {
    const existing = statements.existingSeq.get(row.channel, row.eventId) as { seq: number } | undefined;
    if (existing) return { ok: true, seq: Number(existing.seq), duplicate: true };
    const next = statements.nextSeq.get(row.channel) as { last_seq: number } | undefined;
    if (!next) return { ok: false, reason: 'unknown-channel' };
    const seq = Number(next.last_seq);
    statements.insertEvent.run(row.channel, seq, row.eventId, row.eventType, row.receivedAtMs, row.sourceIp, row.headers, row.body, row.synthetic ? 1 : 0);
    return { ok: true, seq, duplicate: false };
  });
}
