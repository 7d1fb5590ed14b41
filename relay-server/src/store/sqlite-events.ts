import type { SqliteDatabase, SqliteStatement } from './sqlite-driver.js';
import { SUMMARY_COLUMNS, toStoredEvent, type StoredEventRow } from './sqlite-event-rows.js';
import type { AppendResult, NewEvent, StoredEvent } from './store.js';

/**
 * The embedded store's event rows: inserting a committed batch and reading one event (pages of
 * the listing are {@link SqliteEventQueries}'s, in `sqlite-event-query.ts`).
 * Callers hold the transaction; these methods only run statements.
 */
export class SqliteEvents {
  readonly #db: SqliteDatabase;
  readonly #statements: Record<'channelSeq' | 'insertEvent' | 'existingSeq' | 'setLastSeq' | 'getEvent', SqliteStatement>;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    const p = (sql: string): SqliteStatement => db.prepare(sql);
    this.#statements = {
      channelSeq: p('SELECT last_seq FROM channels WHERE name = ?'),
    // A retry of a stored event inserts nothing; a clash on seq would be a bug and fails loudly.
    insertEvent: p(
      `INSERT INTO events (channel, seq, event_id, event_type, received_at, source_ip, headers, body, synthetic, session_id, verification)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel, event_id) DO NOTHING`,
    ),
      existingSeq: p('SELECT seq FROM events WHERE channel = ? AND event_id = ?'),
      setLastSeq: p('UPDATE channels SET last_seq = ? WHERE name = ?'),
      getEvent: p(`SELECT ${SUMMARY_COLUMNS}, headers, body, verification FROM events WHERE channel = ? AND event_id = ?`),
    };
  }

  /** Inserts events in order; each channel's `last_seq` is read once and written once per batch. */
  insertBatch(events: NewEvent[]): AppendResult[] {
    const s = this.#statements;
    const lastSeqs = new Map<string, { read: number; last: number }>();
    const results = events.map((event): AppendResult => {
      let seqs = lastSeqs.get(event.channel);
      if (seqs === undefined) {
        const row = s.channelSeq.get(event.channel) as { last_seq: number } | undefined;
        if (!row) return { ok: false, reason: 'unknown-channel' };
        seqs = { read: Number(row.last_seq), last: Number(row.last_seq) };
        lastSeqs.set(event.channel, seqs);
      }
      const seq = seqs.last + 1;
      const { changes } = s.insertEvent.run(
        event.channel,
        seq,
        event.eventId,
        event.eventType,
        event.receivedAt.getTime(),
        event.sourceIp,
        JSON.stringify(event.headers),
        event.body,
        event.synthetic ? 1 : 0,
        event.session ?? null,
        event.verification === undefined ? null : JSON.stringify(event.verification),
      );
      if (Number(changes) === 0) {
        const existing = s.existingSeq.get(event.channel, event.eventId) as { seq: number };
        return { ok: true, seq: Number(existing.seq), duplicate: true };
      }
      seqs.last = seq;
      return { ok: true, seq, duplicate: false };
    });
    for (const [channel, { read, last }] of lastSeqs) if (last !== read) s.setLastSeq.run(last, channel);
    return results;
  }

  /** One event with its headers and body. */
  get(channel: string, id: string): StoredEvent | undefined {
    const row = this.#statements.getEvent.get(channel, id) as StoredEventRow | undefined;
    return row ? toStoredEvent(row) : undefined;
  }
}
