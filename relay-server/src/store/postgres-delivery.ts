import { changed, firstRow, rows, type Queryable } from './postgres-connection.js';
import { FAILING_COUNT } from './postgres-event-query.js';
import type { AttemptRecord, ConsumerInfo, ConsumerSpec, OpenConsumerResult } from './store.js';
import { answerOf, type AnswerRow } from './answer-columns.js';

/**
 * An event-type glob (`*` any run, `?` one character) as a LIKE pattern. LIKE's own wildcards and
 * its escape character (backslash, the default) are escaped first, so they match themselves as
 * they do in the SQLite store's GLOB.
 */
export function globToLike(glob: string): string {
  return glob.replace(/[\\%_*?]/g, (c) => (c === '*' ? '%' : c === '?' ? '_' : `\\${c}`));
}

/** The LIKE patterns of a consumer's filter; empty matches every type (see {@link MATCHES_FILTER}). */
function likePatterns(filter: readonly string[]): string[] {
  return filter.map(globToLike);
}

/** `$n` holds LIKE patterns; an empty array means every type. */
const MATCHES_FILTER = (n: number): string => `(cardinality($${n}::text[]) = 0 OR event_type LIKE ANY ($${n}::text[]))`;

/*
 * Lock order, the same in every transaction that changes delivery state (and in the consumer
 * turns of postgres-functions.ts): the consumer row, then delivery rows, then attempt rows.
 * Claims, acks, nacks and requeues of one consumer therefore queue on the consumer row, across
 * processes, instead of deadlocking; a session release takes only delivery rows (in key order)
 * and attempts.
 */
const SQL = {
  lockConsumer: 'SELECT * FROM consumers WHERE channel = $1 AND name = $2 FOR UPDATE',
  insertConsumer: `INSERT INTO consumers (channel, name, next_seq, filter, max_attempts, created_at, created_by)
    VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7) ON CONFLICT (channel, name) DO NOTHING`,
  createdBy: 'SELECT COUNT(*)::int AS n FROM consumers WHERE channel = $1 AND created_by = $2',
  updateConsumerSettings: 'UPDATE consumers SET filter = $3::jsonb, max_attempts = $4 WHERE channel = $1 AND name = $2',
  lastSeq: 'SELECT last_seq FROM channels WHERE name = $1',
  firstSeqSince: 'SELECT MIN(seq) AS seq FROM events WHERE channel = $1 AND received_at >= $2',
  lockSessionInflight: `SELECT channel, consumer, seq, attempts FROM deliveries WHERE session = $1 AND state = 'inflight'
    ORDER BY channel, consumer, seq FOR UPDATE`,
  abandonSessionAttempts: `UPDATE attempts a SET finished_at = $1, error = $2, outcome = 'abandoned'
    FROM unnest($3::text[], $4::text[], $5::bigint[], $6::int[]) AS p(channel, consumer, seq, attempt)
    WHERE a.channel = p.channel AND a.consumer = p.consumer AND a.seq = p.seq AND a.attempt = p.attempt AND a.outcome IS NULL`,
  releaseSession: `UPDATE deliveries SET state = 'retry', session = NULL, lease_expires_at = NULL, next_attempt_at = $2
    WHERE session = $1 AND state = 'inflight'`,
  nextDue: `SELECT MIN(CASE state WHEN 'retry' THEN next_attempt_at ELSE lease_expires_at END) AS at
    FROM deliveries WHERE channel = $1 AND consumer = $2 AND state IN ('retry', 'inflight')`,
  consumersOf: 'SELECT * FROM consumers WHERE channel = $1 ORDER BY name COLLATE "C"',
  openCount: `SELECT COUNT(*) AS n, MIN(e.received_at) AS oldest, COUNT(*) FILTER (WHERE d.state = 'retry') AS retrying
    FROM deliveries d JOIN events e ON e.channel = d.channel AND e.seq = d.seq
    WHERE d.channel = $1 AND d.consumer = $2 AND d.state IN ('inflight', 'retry')`,
  /** An event queued by a replay ahead of the position is open already, and counted there. */
  unsentCount: `SELECT COUNT(*) AS n, MIN(received_at) AS oldest FROM events e WHERE channel = $1 AND seq >= $2 AND ${MATCHES_FILTER(3)}
    AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.channel = e.channel AND d.consumer = $4 AND d.seq = e.seq)`,
  failedCount: `SELECT COUNT(*) AS n FROM deliveries WHERE channel = $1 AND consumer = $2 AND state = 'failed'`,
  /** Retries after a handler's failure, not after a lost connection or a replay. */
  failingCount: `SELECT COUNT(*) AS n FROM deliveries d
    JOIN attempts a ON a.channel = d.channel AND a.consumer = d.consumer AND a.seq = d.seq AND a.attempt = d.attempts
    WHERE d.channel = $1 AND d.consumer = $2 AND d.state = 'retry' AND a.outcome = 'retry'`,
  lastFailure: `SELECT e.event_id, e.event_type, d.seq, a.attempt, a.finished_at, a.status, a.error, a.response_body
    FROM deliveries d
    JOIN attempts a ON a.channel = d.channel AND a.consumer = d.consumer AND a.seq = d.seq AND a.attempt = d.attempts
    JOIN events e ON e.channel = d.channel AND e.seq = d.seq
    WHERE d.channel = $1 AND d.consumer = $2 AND d.state IN ('retry', 'failed') AND a.outcome = d.state
    ORDER BY a.finished_at DESC, a.id DESC LIMIT 1`,
  deleteConsumer: 'DELETE FROM consumers WHERE channel = $1 AND name = $2',
  deleteConsumerDeliveries: 'DELETE FROM deliveries WHERE channel = $1 AND consumer = $2',
  deleteConsumerAttempts: 'DELETE FROM attempts WHERE channel = $1 AND consumer = $2',
  eventSeq: 'SELECT seq FROM events WHERE channel = $1 AND event_id = $2',
  attemptsOf: 'SELECT * FROM attempts WHERE channel = $1 AND seq = $2 ORDER BY started_at, id',
  existingSeqs: 'SELECT seq FROM events WHERE channel = $1 AND seq = ANY ($2::bigint[])',
  /** A replay of an event in flight ends the attempt: the replay takes its place. */
  abandonForReplay: `UPDATE attempts SET finished_at = $4, error = 'queued again by a replay', outcome = 'abandoned'
    WHERE channel = $1 AND consumer = $2 AND seq = ANY ($3::bigint[]) AND outcome IS NULL`,
  requeue: `INSERT INTO deliveries (channel, consumer, seq, state, attempts, session, lease_expires_at, next_attempt_at, replay)
    SELECT $1, $2, seq, 'retry', 0, NULL, NULL, $4, true FROM unnest($3::bigint[]) AS seq
    ON CONFLICT (channel, consumer, seq) DO UPDATE SET
      state = 'retry', session = NULL, lease_expires_at = NULL, next_attempt_at = excluded.next_attempt_at, replay = true`,
} as const;

interface FailureRow {
  event_id: string;
  event_type: string;
  seq: number;
  attempt: number;
  finished_at: Date;
  status: number | null;
  error: string | null;
  response_body: Uint8Array | null;
}

interface ConsumerRow {
  channel: string;
  name: string;
  next_seq: number;
  filter: string[];
  max_attempts: number | null;
  created_at: Date;
  last_ack_at: Date | null;
}

export { toDeliveredEvent, toStoredEvent, toSummary, type EventRow, type FullEventRow, type StoredEventRow } from './event-rows.js';

/**
 * The delivery half of the Postgres store: consumers, leases and attempts, with the same
 * behaviour as the SQLite store's, made safe for several relay-server processes by row locks.
 * Methods that change state run inside a transaction opened by the caller (`db` is its connection).
 */
export class PostgresDeliveries {
  async openConsumer(db: Queryable, spec: ConsumerSpec, now: Date): Promise<OpenConsumerResult> {
    const filter = JSON.stringify(spec.filter);
    if (await changed(db, SQL.updateConsumerSettings, [spec.channel, spec.name, filter, spec.maxAttempts])) return { created: false };
    if (spec.createdBy !== undefined && spec.maxCreatedBy !== undefined) {
      const made = (await firstRow<{ n: number }>(db, SQL.createdBy, [spec.channel, spec.createdBy]))?.n ?? 0;
      if (made >= spec.maxCreatedBy) return { refused: 'consumer-limit' };
    }
    const last = (await firstRow<{ last_seq: number }>(db, SQL.lastSeq, [spec.channel]))?.last_seq ?? 0;
    let nextSeq = last + 1;
    if (spec.start.kind === 'seq') nextSeq = Math.max(1, spec.start.seq);
    if (spec.start.kind === 'time') nextSeq = (await firstRow<{ seq: number | null }>(db, SQL.firstSeqSince, [spec.channel, spec.start.at]))?.seq ?? last + 1;
    if (await changed(db, SQL.insertConsumer, [spec.channel, spec.name, nextSeq, filter, spec.maxAttempts, now, spec.createdBy ?? null])) return { created: true };
    // Another process created it between the two statements: it exists now, so update it as above.
    await db.query(SQL.updateConsumerSettings, [spec.channel, spec.name, filter, spec.maxAttempts]);
    return { created: false };
  }

  /** Returns the session's unanswered events at once; resolves with the channels they belong to. */
  async release(db: Queryable, session: string, now: Date, reason: string): Promise<{ released: number; channels: string[] }> {
    const held = await rows<{ channel: string; consumer: string; seq: number; attempts: number }>(db, SQL.lockSessionInflight, [session]);
    if (held.length === 0) return { released: 0, channels: [] };
    await db.query(SQL.abandonSessionAttempts, [
      now,
      reason,
      held.map((d) => d.channel),
      held.map((d) => d.consumer),
      held.map((d) => d.seq),
      held.map((d) => d.attempts),
    ]);
    await db.query(SQL.releaseSession, [session, now]);
    return { released: held.length, channels: [...new Set(held.map((d) => d.channel))] };
  }

  async nextDueAt(db: Queryable, channel: string, consumer: string): Promise<Date | null> {
    return (await firstRow<{ at: Date | null }>(db, SQL.nextDue, [channel, consumer]))?.at ?? null;
  }

  async listConsumers(db: Queryable, channel: string): Promise<ConsumerInfo[]> {
    const consumers = await rows<ConsumerRow>(db, SQL.consumersOf, [channel]);
    return Promise.all(
      consumers.map(async (row) => {
        const open = await firstRow<{ n: number; oldest: Date | null; retrying: number }>(db, SQL.openCount, [channel, row.name]);
        const unsent = await firstRow<{ n: number; oldest: Date | null }>(db, SQL.unsentCount, [channel, row.next_seq, likePatterns(row.filter), row.name]);
        const failed = await firstRow<{ n: number }>(db, SQL.failedCount, [channel, row.name]);
        const failing = await firstRow<{ n: number }>(db, FAILING_COUNT, [channel, row.name]);
        const last = await firstRow<FailureRow>(db, SQL.lastFailure, [channel, row.name]);
        const oldest = [open?.oldest, unsent?.oldest].filter((d): d is Date => d instanceof Date).map((d) => d.getTime());
        return {
          channel,
          name: row.name,
          createdAt: row.created_at,
          filter: row.filter,
          maxAttempts: row.max_attempts,
          pending: (open?.n ?? 0) + (unsent?.n ?? 0),
          oldestPendingAt: oldest.length > 0 ? new Date(Math.min(...oldest)) : null,
          lastAckAt: row.last_ack_at,
          failing: failing?.n ?? 0,
          failed: failed?.n ?? 0,
          retrying: open?.retrying ?? 0,
          lastFailure:
            last === undefined
              ? null
              : {
                  eventId: last.event_id,
                  eventType: last.event_type,
                  seq: last.seq,
                  attempt: last.attempt,
                  at: last.finished_at,
                  status: last.status,
                  error: last.error,
                  responseBody: last.response_body === null ? null : new Uint8Array(last.response_body),
                },
        };
      }),
    );
  }

  async deleteConsumer(db: Queryable, channel: string, name: string): Promise<boolean> {
    // The consumer row first, as everywhere: a claim running now finishes before its state goes.
    const existed = (await changed(db, SQL.deleteConsumer, [channel, name])) > 0;
    await db.query(SQL.deleteConsumerDeliveries, [channel, name]);
    await db.query(SQL.deleteConsumerAttempts, [channel, name]);
    return existed;
  }

  /** Resolves with how many were queued, or undefined when the consumer does not exist. */
  async requeue(db: Queryable, channel: string, consumer: string, seqs: readonly number[], now: Date): Promise<number | undefined> {
    if (!(await firstRow<ConsumerRow>(db, SQL.lockConsumer, [channel, consumer]))) return undefined;
    const existing = (await rows<{ seq: number }>(db, SQL.existingSeqs, [channel, [...new Set(seqs)]])).map((r) => r.seq);
    if (existing.length > 0) {
      await db.query(SQL.abandonForReplay, [channel, consumer, existing, now]);
      await db.query(SQL.requeue, [channel, consumer, existing, now]);
    }
    return existing.length;
  }

  async listAttempts(db: Queryable, channel: string, eventId: string): Promise<AttemptRecord[] | undefined> {
    const event = await firstRow<{ seq: number }>(db, SQL.eventSeq, [channel, eventId]);
    if (!event) return undefined;
    type Row = AnswerRow & {
      consumer: string;
      attempt: number;
      session: string;
      started_at: Date;
      finished_at: Date | null;
      status: number | null;
      latency_ms: number | null;
      error: string | null;
      outcome: AttemptRecord['outcome'];
    };
    return (await rows<Row>(db, SQL.attemptsOf, [channel, event.seq])).map((r) => ({
      consumer: r.consumer,
      attempt: r.attempt,
      session: r.session,
      startedAt: r.started_at,
      finishedAt: r.finished_at,
      status: r.status,
      latencyMs: r.latency_ms,
      error: r.error,
      outcome: r.outcome,
      answer: answerOf(r),
    }));
  }
}
