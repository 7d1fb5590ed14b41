import type { DeliveryState } from '@myop-relay/protocol';
import { decodeCursor, encodeCursor } from './cursor.js';
import type { SqliteDatabase, SqliteStatement, SqliteValue } from './sqlite-driver.js';
import { SUMMARY_COLUMNS, toSummary, type EventRow } from './sqlite-event-rows.js';
import { DEFAULT_SCAN_LIMIT, type EventDeliveryState, type EventPage, type EventQuery } from './store.js';

/**
 * The outcome of the latest finished attempt of delivery `d` (attempts are written when they end,
 * so every row here is finished).
 */
const LAST_OUTCOME = `(SELECT a.outcome FROM attempts a WHERE a.channel = d.channel AND a.seq = d.seq AND a.consumer = d.consumer
  ORDER BY a.attempt DESC, a.id DESC LIMIT 1)`;

/** Consumer `c` takes event `e` by its type: an empty filter takes all; `[` means itself, as in the claims' GLOB. */
const FILTER_TAKES = `(c.filter = '[]' OR EXISTS (SELECT 1 FROM json_each(c.filter) g WHERE e.event_type GLOB replace(g.value, '[', '[[]')))`;

/**
 * Event `e`'s {@link DeliveryState} with consumer `c`, given its delivery row `d` (joined on
 * the left); NULL when the event is not for the consumer (filtered out, or before its start). An
 * event without a delivery row is pending when it lies at or after the consumer's position.
 */
export const STATE_OF = `CASE
  WHEN d.state = 'acked' THEN 'delivered'
  WHEN d.state = 'failed' THEN 'parked'
  WHEN d.state IS NOT NULL THEN CASE WHEN ${LAST_OUTCOME} = 'retry' THEN 'failing' ELSE 'pending' END
  WHEN e.seq >= c.next_seq AND ${FILTER_TAKES} THEN 'pending'
END`;

/** Open deliveries of consumer `?` (channel, name) whose last attempt failed: the failing ones. */
export const FAILING_COUNT = `SELECT COUNT(*) AS n FROM deliveries d INDEXED BY deliveries_due
  WHERE d.channel = ? AND d.consumer = ? AND d.state IN ('inflight', 'retry') AND ${LAST_OUTCOME} = 'retry'`;

const STATES_OF_EVENTS = `SELECT seq, consumer, state, attempts, next_at FROM (
    SELECT e.seq AS seq, c.name AS consumer, ${STATE_OF} AS state, COALESCE(d.attempts, 0) AS attempts,
      CASE WHEN d.state IN ('inflight', 'retry') THEN d.due_at END AS next_at
    FROM events e JOIN consumers c ON c.channel = e.channel
    LEFT JOIN deliveries d ON d.channel = c.channel AND d.consumer = c.name AND d.seq = e.seq
    WHERE e.channel = ? AND e.seq IN (SELECT value FROM json_each(?))
  ) WHERE state IS NOT NULL ORDER BY seq, consumer`;

/** Columns the reading filters and the summary need, for the window of candidates. */
const WINDOW_COLUMNS = 'id, channel, seq, event_id, event_type, received_at, source_ip, body, synthetic, session_id';

interface Clauses {
  sql: string[];
  params: SqliteValue[];
}

/** The filters that narrow events through indexes: visibility, channel, session, time, cursor. */
function windowClauses(query: EventQuery): Clauses {
  const c: Clauses = { sql: [], params: [] };
  if (query.visibleChannels !== null) {
    c.sql.push(`channel IN (${query.visibleChannels.map(() => '?').join(', ')})`);
    c.params.push(...query.visibleChannels);
  }
  if (query.channel !== undefined) {
    c.sql.push('channel = ?');
    c.params.push(query.channel);
  }
  if (query.type !== undefined) {
    c.sql.push('event_type = ?');
    c.params.push(query.type);
  }
  if (query.session !== undefined) {
    c.sql.push('session_id = ?');
    c.params.push(query.session);
  }
  if (query.since !== undefined) {
    c.sql.push('received_at >= ?');
    c.params.push(query.since.getTime());
  }
  if (query.before !== undefined) {
    c.sql.push('received_at < ?');
    c.params.push(query.before.getTime());
  }
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  if (after !== undefined) {
    c.sql.push('id < ?');
    c.params.push(after);
  }
  return c;
}

/** The filters that read each candidate (alias `e`): type globs, delivery state, consumer, body text. */
function readingClauses(query: EventQuery): Clauses {
  const c: Clauses = { sql: [], params: [] };
  if (query.types !== undefined && query.types.length > 0) {
    c.sql.push(`(${query.types.map(() => 'e.event_type GLOB ?').join(' OR ')})`);
    c.params.push(...query.types.map((t) => t.replaceAll('[', '[[]')));
  }
  if (query.state !== undefined || query.consumer !== undefined) {
    const conditions = ['c.channel = e.channel'];
    if (query.consumer !== undefined) {
      conditions.push('c.name = ?');
      c.params.push(query.consumer);
    }
    if (query.state !== undefined) {
      conditions.push(`${STATE_OF} = ?`);
      c.params.push(query.state);
    } else {
      conditions.push(`${STATE_OF} IS NOT NULL`);
    }
    c.sql.push(`EXISTS (SELECT 1 FROM consumers c LEFT JOIN deliveries d ON d.channel = c.channel AND d.consumer = c.name AND d.seq = e.seq
      WHERE ${conditions.join(' AND ')})`);
  }
  if (query.text !== undefined && query.text !== '') {
    // Both sides BLOBs: instr compares bytes, so a body that is not UTF-8 is searched as stored.
    c.sql.push('instr(e.body, ?) > 0');
    c.params.push(Buffer.from(query.text, 'utf8'));
  }
  return c;
}

function where(clauses: readonly string[]): string {
  return clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : '';
}

/**
 * The event listing of the SQLite store. Window filters use the indexes (`events_channel_id`,
 * `events_session`, the rowid); reading filters run over at most `scanLimit` candidates, newest
 * first, and the listing says when that bound cut the search short.
 */
export class SqliteEventQueries {
  private readonly statements = new Map<string, SqliteStatement>();

  constructor(private readonly db: SqliteDatabase) {}

  /** Prepared once per shape of query; the shapes are few (which filters are set), the bound guards against more. */
  private prepare(sql: string): SqliteStatement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      if (this.statements.size >= 128) this.statements.clear();
      this.statements.set(sql, statement);
    }
    return statement;
  }

  list(query: EventQuery): EventPage {
    if (query.visibleChannels !== null && query.visibleChannels.length === 0) return { events: [] };
    const window = windowClauses(query);
    const reading = readingClauses(query);
    if (reading.sql.length === 0) {
      const rows = this.prepare(`SELECT ${SUMMARY_COLUMNS} FROM events ${where(window.sql)} ORDER BY id DESC LIMIT ?`).all(...window.params, query.limit + 1) as EventRow[];
      return page(rows, query.limit);
    }
    const scanLimit = query.scanLimit ?? DEFAULT_SCAN_LIMIT;
    const candidates = `SELECT ${WINDOW_COLUMNS} FROM events ${where(window.sql)} ORDER BY id DESC LIMIT ?`;
    const rows = this.prepare(`SELECT ${SUMMARY_COLUMNS} FROM (${candidates}) e ${where(reading.sql)} ORDER BY id DESC LIMIT ?`).all(
      ...window.params,
      scanLimit,
      ...reading.params,
      query.limit + 1,
    ) as EventRow[];
    if (rows.length > query.limit) return page(rows, query.limit);
    const scanned = this.prepare(`SELECT COUNT(*) AS n, MIN(id) AS oldest FROM (SELECT id FROM events ${where(window.sql)} ORDER BY id DESC LIMIT ?)`).get(
      ...window.params,
      scanLimit,
    ) as { n: number; oldest: number | null };
    // Every candidate was read and more may lie beyond them: the next call goes on from the oldest.
    if (Number(scanned.n) < scanLimit || scanned.oldest === null) return page(rows, query.limit);
    return { events: rows.map(toSummary), nextCursor: encodeCursor(Number(scanned.oldest)), scanLimited: true };
  }

  deliveryStates(channel: string, seqs: readonly number[]): EventDeliveryState[] {
    if (seqs.length === 0) return [];
    type Row = { seq: number; consumer: string; state: DeliveryState; attempts: number; next_at: number | null };
    return (this.prepare(STATES_OF_EVENTS).all(channel, JSON.stringify(seqs)) as Row[]).map((r) => ({
      seq: Number(r.seq),
      consumer: r.consumer,
      state: r.state,
      attempts: Number(r.attempts),
      nextAttemptAt: r.next_at === null ? null : new Date(Number(r.next_at)),
    }));
  }
}

/** The first `limit` rows, with a cursor when there were more. */
function page(rows: readonly EventRow[], limit: number): EventPage {
  const events = rows.slice(0, limit);
  const last = events[events.length - 1];
  return { events: events.map(toSummary), ...(rows.length > limit && last ? { nextCursor: encodeCursor(Number(last.id)) } : {}) };
}
