import { ClaimBudget, takeWithin } from './claim-budget.js';
import type { SqliteDatabase, SqliteStatement, SqliteValue } from './sqlite-driver.js';
import { SUMMARY_COLUMNS, toDeliveredEvent, type FullEventRow } from './sqlite-event-rows.js';
import { FAILING_COUNT } from './sqlite-event-query.js';
import type {
  AttemptOutcome,
  AttemptRecord,
  ClaimRequest,
  ConsumerFailure,
  ConsumerInfo,
  ConsumerSpec,
  DeliveredEvent,
  Delivery,
  NackResult,
  OpenConsumerResult,
} from './store.js';
import { answerColumns, answerOf, NO_ANSWER, type AnswerColumns, type AnswerRow } from './answer-columns.js';

/** SQL for "event_type matches one of the globs"; SQLite's GLOB has the same `*` and `?`. */
export function globClause(filter: readonly string[]): { sql: string; params: string[] } {
  if (filter.length === 0) return { sql: '1', params: [] };
  // `[` starts a character class in GLOB; patterns mean it literally.
  return { sql: `(${filter.map(() => 'event_type GLOB ?').join(' OR ')})`, params: filter.map((p) => p.replaceAll('[', '[[]')) };
}

/**
 * The bound LIMIT of the claim queries. The SQLite that better-sqlite3 bundles (3.53) reads a
 * plain `LIMIT ?` while planning and so marks the statement to be planned again whenever that
 * parameter is bound: each claim parsed and planned its queries afresh (measured: a 3 µs query
 * took 15 µs). An expression is not read while planning, and these queries gain nothing from
 * knowing the limit.
 */
const LIMIT_PARAMETER = '(? + 0)';

interface ConsumerRow {
  channel: string;
  name: string;
  next_seq: number;
  filter: string;
  max_attempts: number | null;
  created_at: number;
  last_ack_at: number | null;
}

/** An event a claim may hand out: new (no `previous`), or due again. */
interface Candidate {
  seq: number;
  previous: DeliveryRow | undefined;
}

/**
 * The bytes an event counts for in a claim's budget: its body and its stored headers (their
 * length in characters, which for header text is its length in bytes). `length()` of a column
 * reads the record's header only, not the body's pages.
 */
const EVENT_SIZE = 'length(body) + length(headers)';

interface DeliveryRow {
  seq: number;
  state: 'inflight' | 'retry' | 'acked' | 'failed';
  attempts: number;
  session: string | null;
  started_at: number | null;
  /** When an open delivery is due: its lease ends (`inflight`) or its retry may go (`retry`). */
  due_at: number | null;
  replay: number;
}

function prepareStatements(db: SqliteDatabase) {
  const p = (sql: string): SqliteStatement => db.prepare(sql);
  return {
    consumer: p('SELECT * FROM consumers WHERE channel = ? AND name = ?'),
    insertConsumer: p('INSERT INTO consumers (channel, name, next_seq, filter, max_attempts, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    createdBy: p('SELECT COUNT(*) AS n FROM consumers WHERE channel = ? AND created_by = ?'),
    updateConsumerSettings: p('UPDATE consumers SET filter = ?, max_attempts = ? WHERE channel = ? AND name = ?'),
    lastSeq: p('SELECT last_seq FROM channels WHERE name = ?'),
    firstSeqSince: p('SELECT MIN(seq) AS seq FROM events WHERE channel = ? AND received_at >= ?'),
    setNextSeq: p('UPDATE consumers SET next_seq = ? WHERE channel = ? AND name = ?'),
    // The index holds due times, so only the due deliveries are read, not every one in flight.
    // `size` is null when retention removed the event.
    due: p(
      `SELECT d.*, (SELECT ${EVENT_SIZE} FROM events e WHERE e.channel = d.channel AND e.seq = d.seq) AS size
       FROM deliveries AS d INDEXED BY deliveries_due WHERE d.channel = ? AND d.consumer = ? AND d.state IN ('inflight', 'retry') AND d.due_at <= ?
       ORDER BY d.seq LIMIT ${LIMIT_PARAMETER}`,
    ),
    firstOpen: p(`SELECT * FROM deliveries INDEXED BY deliveries_due WHERE channel = ? AND consumer = ? AND state IN ('inflight', 'retry') ORDER BY seq LIMIT 1`),
    delivery: p('SELECT * FROM deliveries WHERE channel = ? AND consumer = ? AND seq = ?'),
    // A later attempt still in flight (a late ack of an earlier one) keeps its session and start until it ends.
    settleAcked: p(`UPDATE deliveries SET state = 'acked', due_at = NULL,
         session = CASE WHEN attempts = ? THEN NULL ELSE session END, started_at = CASE WHEN attempts = ? THEN NULL ELSE started_at END
       WHERE channel = ? AND consumer = ? AND seq = ? AND state != 'acked'`),
    // That attempt has ended after its event was delivered.
    endStraggler: p(`UPDATE deliveries SET session = NULL, started_at = NULL WHERE channel = ? AND consumer = ? AND seq = ? AND attempts = ? AND state = 'acked'`),
    insertInflight: p(
      `INSERT INTO deliveries (channel, consumer, seq, state, attempts, session, started_at, due_at, replay)
       VALUES (?, ?, ?, 'inflight', 1, ?, ?, ?, 0)`,
    ),
    leaseAgain: p(
      `UPDATE deliveries SET state = 'inflight', attempts = attempts + 1, session = ?, started_at = ?, due_at = ?
       WHERE channel = ? AND consumer = ? AND seq = ? RETURNING attempts, replay`,
    ),
    deleteDelivery: p('DELETE FROM deliveries WHERE channel = ? AND consumer = ? AND seq = ?'),
    // An attempt is written once, when it ends; until then the delivery row holds it (`started_at` is
    // set exactly while an attempt is in flight).
    finishAttempt: p(
      `INSERT INTO attempts (channel, consumer, seq, attempt, session, started_at, finished_at, status, latency_ms, error, outcome,
         response_headers, response_body, response_bytes, response_truncated)
       SELECT channel, consumer, seq, attempts, session, started_at, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM deliveries
       WHERE channel = ? AND consumer = ? AND seq = ? AND attempts = ? AND started_at IS NOT NULL`,
    ),
    settle: p(`UPDATE deliveries SET state = ?, session = NULL, started_at = NULL, due_at = ? WHERE channel = ? AND consumer = ? AND seq = ?`),
    touchAck: p('UPDATE consumers SET last_ack_at = ? WHERE channel = ? AND name = ?'),
    // Open deliveries are few (windows and retries), so this walks the due index whole.
    sessionInflight: p(`SELECT channel, consumer, seq, attempts FROM deliveries INDEXED BY deliveries_due WHERE state IN ('inflight', 'retry') AND state = 'inflight' AND session = ?`),
    nextDue: p(`SELECT MIN(due_at) AS at FROM deliveries INDEXED BY deliveries_due WHERE channel = ? AND consumer = ? AND state IN ('inflight', 'retry')`),
    consumersOf: p('SELECT * FROM consumers WHERE channel = ? ORDER BY name'),
    openCount: p(
      `SELECT COUNT(*) AS n, MIN(e.received_at) AS oldest, COALESCE(SUM(d.state = 'retry'), 0) AS retrying
       FROM deliveries d JOIN events e ON e.channel = d.channel AND e.seq = d.seq
       WHERE d.channel = ? AND d.consumer = ? AND d.state IN ('inflight', 'retry')`,
    ),
    failedCount: p(`SELECT COUNT(*) AS n FROM deliveries INDEXED BY deliveries_failed WHERE channel = ? AND consumer = ? AND state = 'failed'`),
    failingCount: p(FAILING_COUNT),
    // Each half walks its partial index: settled history, the bulk of the table, is never read. A
    // retry counts when its last attempt failed, a parked event until a replay queues it again.
    lastFailure: p(
      `SELECT e.event_id, e.event_type, d.seq, a.attempt, a.finished_at, a.status, a.error, a.response_body
       FROM (SELECT channel, consumer, seq, attempts, state FROM deliveries INDEXED BY deliveries_due WHERE channel = ? AND consumer = ? AND state IN ('inflight', 'retry') AND state = 'retry'
             UNION ALL
             SELECT channel, consumer, seq, attempts, state FROM deliveries INDEXED BY deliveries_failed WHERE channel = ? AND consumer = ? AND state = 'failed') d
       JOIN attempts a ON a.channel = d.channel AND a.seq = d.seq AND a.consumer = d.consumer AND a.attempt = d.attempts
       JOIN events e ON e.channel = d.channel AND e.seq = d.seq
       WHERE a.outcome = d.state ORDER BY a.finished_at DESC, a.id DESC LIMIT 1`,
    ),
    deleteConsumer: p('DELETE FROM consumers WHERE channel = ? AND name = ?'),
    deleteConsumerDeliveries: p('DELETE FROM deliveries WHERE channel = ? AND consumer = ?'),
    deleteConsumerAttempts: p('DELETE FROM attempts WHERE channel = ? AND consumer = ?'),
    eventSeq: p('SELECT seq FROM events WHERE channel = ? AND event_id = ?'),
    // Finished attempts, and those in flight, which only their delivery row records.
    attemptsOf: p(
      `SELECT consumer, attempt, session, started_at, finished_at, status, latency_ms, error, outcome,
         response_headers, response_body, response_bytes, response_truncated FROM attempts WHERE channel = ? AND seq = ?
       UNION ALL
       SELECT consumer, attempts, session, started_at, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM deliveries WHERE channel = ? AND seq = ? AND started_at IS NOT NULL
       ORDER BY started_at, consumer, attempt`,
    ),
    eventExists: p('SELECT 1 AS found FROM events WHERE channel = ? AND seq = ?'),
    // Events due again, in one statement: the seqs come as a JSON array.
    eventsBySeq: p(`SELECT ${SUMMARY_COLUMNS}, headers, body FROM events WHERE channel = ? AND seq IN (SELECT value FROM json_each(?))`),
    requeue: p(
      `INSERT INTO deliveries (channel, consumer, seq, state, attempts, session, started_at, due_at, replay)
       VALUES (?, ?, ?, 'retry', 0, NULL, NULL, ?, 1)
       ON CONFLICT (channel, consumer, seq) DO UPDATE SET
         state = 'retry', session = NULL, started_at = NULL, due_at = excluded.due_at, replay = 1`,
    ),
  };
}

/**
 * The delivery half of the SQLite store: consumers, leases and attempts. Every method runs inside
 * a transaction opened by the caller, so a claim can never hand one event to two sessions.
 */
export class SqliteDeliveries {
  private readonly s: ReturnType<typeof prepareStatements>;
  private readonly newEvents = new Map<string, SqliteStatement>();
  /** Latest ack time per consumer in the open transaction, written once by {@link SqliteDeliveries.endBatch}. */
  private readonly ackTimes = new Map<string, { channel: string; consumer: string; at: number }>();

  constructor(private readonly db: SqliteDatabase) {
    this.s = prepareStatements(db);
  }

  openConsumer(spec: ConsumerSpec, now: Date): OpenConsumerResult {
    const filter = JSON.stringify(spec.filter);
    if (this.s.consumer.get(spec.channel, spec.name)) {
      this.s.updateConsumerSettings.run(filter, spec.maxAttempts, spec.channel, spec.name);
      return { created: false };
    }
    if (spec.createdBy !== undefined && spec.maxCreatedBy !== undefined) {
      const made = Number((this.s.createdBy.get(spec.channel, spec.createdBy) as { n: number }).n);
      if (made >= spec.maxCreatedBy) return { refused: 'consumer-limit' };
    }
    const last = Number((this.s.lastSeq.get(spec.channel) as { last_seq: number } | undefined)?.last_seq ?? 0);
    let nextSeq = last + 1;
    if (spec.start.kind === 'seq') nextSeq = Math.max(1, spec.start.seq);
    if (spec.start.kind === 'time') {
      const first = (this.s.firstSeqSince.get(spec.channel, spec.start.at.getTime()) as { seq: number | null }).seq;
      nextSeq = first === null ? last + 1 : Number(first);
    }
    this.s.insertConsumer.run(spec.channel, spec.name, nextSeq, filter, spec.maxAttempts, now.getTime(), spec.createdBy ?? null);
    return { created: true };
  }

  claim(request: ClaimRequest): Delivery[] {
    const { channel, consumer, now, limit } = request;
    const row = this.s.consumer.get(channel, consumer) as ConsumerRow | undefined;
    if (!row || limit <= 0) return [];
    const t = now.getTime();
    const budget = new ClaimBudget(request.maxBytes);
    const candidates: Candidate[] = [];
    if (request.ordered) {
      const open = this.s.firstOpen.get(channel, consumer) as DeliveryRow | undefined;
      if (open) {
        if ((open.due_at ?? 0) <= t) candidates.push({ seq: Number(open.seq), previous: open });
      } else {
        candidates.push(...this.takeNew(row, 1, budget));
      }
    } else {
      const due = (this.s.due.all(channel, consumer, t, limit) as (DeliveryRow & { size: number | null })[]).flatMap((d) => {
        if (d.size !== null) return [{ seq: Number(d.seq), previous: d, size: Number(d.size) }];
        // Retention removed the event; its delivery state goes with it.
        this.s.deleteDelivery.run(channel, consumer, d.seq);
        return [];
      });
      candidates.push(...takeWithin(due, budget));
      if (candidates.length < limit && !budget.exhausted) candidates.push(...this.takeNew(row, limit - candidates.length, budget));
    }
    if (candidates.length === 0) return [];

    // Bodies are read once the budget has chosen, so events that did not fit are never loaded.
    const deliveries: Delivery[] = [];
    const events = new Map<number, DeliveredEvent>();
    for (const r of this.s.eventsBySeq.all(channel, JSON.stringify(candidates.map((c) => c.seq))) as FullEventRow[]) events.set(Number(r.seq), toDeliveredEvent(r));
    for (const { seq, previous } of candidates) {
      const event = events.get(seq);
      if (!event) {
        // Retention removed the event; its delivery state goes with it.
        this.s.deleteDelivery.run(channel, consumer, seq);
        continue;
      }
      if (previous === undefined) {
        this.s.insertInflight.run(channel, consumer, seq, request.session, t, t + request.leaseMs);
        deliveries.push({ event, attempt: 1, replay: false });
        continue;
      }
      if (previous.state === 'inflight') {
        this.s.finishAttempt.run(t, null, null, 'no ack before the lease ended', 'abandoned', ...sqliteAnswer(NO_ANSWER), channel, consumer, seq, previous.attempts);
      }
      const claimed = this.s.leaseAgain.get(request.session, t, t + request.leaseMs, channel, consumer, seq) as { attempts: number; replay: number };
      deliveries.push({ event, attempt: Number(claimed.attempts), replay: claimed.replay === 1 });
    }
    return deliveries;
  }

  /**
   * Takes the next events after the consumer's position that match its filter and fit in the
   * budget, and moves the position past them.
   */
  private takeNew(row: ConsumerRow, limit: number, budget: ClaimBudget): Candidate[] {
    const glob = globClause(JSON.parse(row.filter) as string[]);
    const params: SqliteValue[] = [row.channel, row.next_seq, ...glob.params, row.name, limit];
    const found = (this.newEventsStatement(glob.sql).all(...params) as { seq: number; size: number }[]).map((r) => ({ seq: Number(r.seq), size: Number(r.size) }));
    const taken = takeWithin(found, budget);
    const lastTaken = taken[taken.length - 1]?.seq;
    let nextSeq: number;
    if (taken.length < found.length) {
      // The budget stopped the claim: the position moves only past what was taken.
      nextSeq = lastTaken === undefined ? Number(row.next_seq) : lastTaken + 1;
    } else if (found.length === limit) {
      nextSeq = (lastTaken ?? 0) + 1;
    } else {
      // Fewer matches than asked for means every event up to the channel's last seq was looked at.
      const last = Number((this.s.lastSeq.get(row.channel) as { last_seq: number } | undefined)?.last_seq ?? 0);
      nextSeq = Math.max(Number(row.next_seq), last + 1);
    }
    if (nextSeq !== Number(row.next_seq)) this.s.setNextSeq.run(nextSeq, row.channel, row.name);
    return taken.map((c) => ({ seq: c.seq, previous: undefined }));
  }

  /** The query for {@link takeNew}, prepared once per filter shape. */
  private newEventsStatement(globSql: string): SqliteStatement {
    let statement = this.newEvents.get(globSql);
    if (statement === undefined) {
      // Events already queued for this consumer (a replay ahead of its position) are not taken twice.
      statement = this.db.prepare(
        `SELECT seq, ${EVENT_SIZE} AS size FROM events e WHERE channel = ? AND seq >= ? AND ${globSql}
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.channel = e.channel AND d.consumer = ? AND d.seq = e.seq)
         ORDER BY seq LIMIT ${LIMIT_PARAMETER}`,
      );
      // Filters are few (one per consumer at most); the bound only guards against a flood of them.
      if (this.newEvents.size >= 64) this.newEvents.clear();
      this.newEvents.set(globSql, statement);
    }
    return statement;
  }

  ack(o: AttemptOutcome): boolean {
    const t = o.now.getTime();
    const recorded = Number(this.s.finishAttempt.run(t, o.status ?? null, o.latencyMs, null, 'acked', ...sqliteAnswer(answerColumns(o.answer)), o.channel, o.consumer, o.seq, o.attempt).changes) > 0;
    // The handler answered 2xx: the event is delivered, even if this ack is late for its lease.
    if (Number(this.s.settleAcked.run(o.attempt, o.attempt, o.channel, o.consumer, o.seq).changes) === 0) {
      if (recorded) this.s.endStraggler.run(o.channel, o.consumer, o.seq, o.attempt);
      return false;
    }
    const key = `${o.channel}\u0000${o.consumer}`;
    const last = this.ackTimes.get(key);
    if (last === undefined) this.ackTimes.set(key, { channel: o.channel, consumer: o.consumer, at: t });
    else last.at = Math.max(last.at, t);
    return true;
  }

  /** Starts a transaction's delivery work; a run that rolled back leaves nothing behind. */
  beginBatch(): void {
    this.ackTimes.clear();
  }

  /** Ends a transaction's delivery work: writes each consumer's last ack time once, not once per ack. */
  endBatch(): void {
    for (const { channel, consumer, at } of this.ackTimes.values()) this.s.touchAck.run(at, channel, consumer);
    this.ackTimes.clear();
  }

  nack(o: AttemptOutcome, retryAt: Date, maxAttempts: number | null): NackResult {
    const t = o.now.getTime();
    const d = this.s.delivery.get(o.channel, o.consumer, o.seq) as DeliveryRow | undefined;
    const current = d !== undefined && d.state === 'inflight' && Number(d.attempts) === o.attempt;
    const failed = current && maxAttempts !== null && o.attempt >= maxAttempts;
    const recorded = Number(this.s.finishAttempt.run(t, o.status ?? null, o.latencyMs, o.error ?? null, failed ? 'failed' : 'retry', ...sqliteAnswer(answerColumns(o.answer)), o.channel, o.consumer, o.seq, o.attempt).changes) > 0;
    if (!current) {
      // An attempt that outlived its event's delivery is recorded; nothing else changes.
      if (recorded) this.s.endStraggler.run(o.channel, o.consumer, o.seq, o.attempt);
      return { state: 'ignored' };
    }
    if (failed) {
      this.s.settle.run('failed', null, o.channel, o.consumer, o.seq);
      return { state: 'failed' };
    }
    this.s.settle.run('retry', retryAt.getTime(), o.channel, o.consumer, o.seq);
    return { state: 'retry', nextAttemptAt: retryAt };
  }

  maxAttempts(channel: string, consumer: string): number | null {
    const row = this.s.consumer.get(channel, consumer) as ConsumerRow | undefined;
    return row?.max_attempts ?? null;
  }

  release(session: string, now: Date, reason: string): number {
    const t = now.getTime();
    const held = this.s.sessionInflight.all(session) as { channel: string; consumer: string; seq: number; attempts: number }[];
    for (const d of held) {
      this.s.finishAttempt.run(t, null, null, reason, 'abandoned', ...sqliteAnswer(NO_ANSWER), d.channel, d.consumer, d.seq, d.attempts);
      this.s.settle.run('retry', t, d.channel, d.consumer, d.seq);
    }
    return held.length;
  }

  nextDueAt(channel: string, consumer: string): Date | null {
    const at = (this.s.nextDue.get(channel, consumer) as { at: number | null }).at;
    return at === null ? null : new Date(Number(at));
  }

  listConsumers(channel: string): ConsumerInfo[] {
    return (this.s.consumersOf.all(channel) as ConsumerRow[]).map((row) => {
      const filter = JSON.parse(row.filter) as string[];
      const open = this.s.openCount.get(channel, row.name) as { n: number; oldest: number | null; retrying: number };
      const glob = globClause(filter);
      const unsent = this.db
        // An event queued by a replay ahead of the position is open already, and counted there.
        .prepare(
          `SELECT COUNT(*) AS n, MIN(received_at) AS oldest FROM events e WHERE channel = ? AND seq >= ? AND ${glob.sql}
             AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.channel = e.channel AND d.consumer = ? AND d.seq = e.seq)`,
        )
        .get(channel, row.next_seq, ...glob.params, row.name) as { n: number; oldest: number | null };
      const oldest = [open.oldest, unsent.oldest].filter((v): v is number => v !== null).map(Number);
      return {
        channel,
        name: row.name,
        createdAt: new Date(Number(row.created_at)),
        filter,
        maxAttempts: row.max_attempts === null ? null : Number(row.max_attempts),
        pending: Number(open.n) + Number(unsent.n),
        oldestPendingAt: oldest.length ? new Date(Math.min(...oldest)) : null,
        lastAckAt: row.last_ack_at === null ? null : new Date(Number(row.last_ack_at)),
        failing: Number((this.s.failingCount.get(channel, row.name) as { n: number }).n),
        failed: Number((this.s.failedCount.get(channel, row.name) as { n: number }).n),
        retrying: Number(open.retrying),
        lastFailure: failureOf(this.s.lastFailure.get(channel, row.name, channel, row.name) as FailureRow | undefined),
      };
    });
  }

  /** Returns undefined when the consumer does not exist. */
  requeue(channel: string, consumer: string, seqs: readonly number[], now: Date): number | undefined {
    if (!this.s.consumer.get(channel, consumer)) return undefined;
    let queued = 0;
    const t = now.getTime();
    for (const seq of new Set(seqs)) {
      if (!this.s.eventExists.get(channel, seq)) continue;
      // The attempt in flight is recorded as abandoned; the replay takes its place.
      const open = this.s.delivery.get(channel, consumer, seq) as DeliveryRow | undefined;
      if (open?.started_at != null) this.s.finishAttempt.run(t, null, null, 'queued again by a replay', 'abandoned', ...sqliteAnswer(NO_ANSWER), channel, consumer, seq, open.attempts);
      this.s.requeue.run(channel, consumer, seq, t);
      queued += 1;
    }
    return queued;
  }

  deleteConsumer(channel: string, name: string): boolean {
    this.s.deleteConsumerDeliveries.run(channel, name);
    this.s.deleteConsumerAttempts.run(channel, name);
    return Number(this.s.deleteConsumer.run(channel, name).changes) > 0;
  }

  listAttempts(channel: string, eventId: string): AttemptRecord[] | undefined {
    const event = this.s.eventSeq.get(channel, eventId) as { seq: number } | undefined;
    if (!event) return undefined;
    type Row = AnswerRow & { consumer: string; attempt: number; session: string; started_at: number; finished_at: number | null; status: number | null; latency_ms: number | null; error: string | null; outcome: AttemptRecord['outcome'] };
    return (this.s.attemptsOf.all(channel, event.seq, channel, event.seq) as Row[]).map((r) => ({
      consumer: r.consumer,
      attempt: Number(r.attempt),
      session: r.session,
      startedAt: new Date(Number(r.started_at)),
      finishedAt: r.finished_at === null ? null : new Date(Number(r.finished_at)),
      status: r.status === null ? null : Number(r.status),
      latencyMs: r.latency_ms === null ? null : Number(r.latency_ms),
      error: r.error,
      outcome: r.outcome,
      answer: answerOf(r),
    }));
  }
}

/** SQLite has no boolean: the truncated flag is kept as 0 or 1. */
function sqliteAnswer([headers, body, bytes, truncated]: AnswerColumns): [string | null, Uint8Array | null, number | null, number | null] {
  return [headers, body, bytes, truncated === null ? null : truncated ? 1 : 0];
}

type FailureRow = { event_id: string; event_type: string; seq: number; attempt: number; finished_at: number; status: number | null; error: string | null; response_body: Uint8Array | null };

function failureOf(row: FailureRow | undefined): ConsumerFailure | null {
  if (row === undefined) return null;
  return {
    eventId: row.event_id,
    eventType: row.event_type,
    seq: Number(row.seq),
    attempt: Number(row.attempt),
    at: new Date(Number(row.finished_at)),
    status: row.status === null ? null : Number(row.status),
    error: row.error,
    responseBody: row.response_body === null ? null : new Uint8Array(row.response_body),
  };
}
