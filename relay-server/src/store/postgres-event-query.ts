import type { DeliveryState } from '@myop-relay/protocol';
import { decodeCursor, encodeCursor } from './cursor.js';
import { firstRow, rows, type Queryable } from './postgres-connection.js';
import { globToLike, toSummary, type EventRow } from './postgres-delivery.js';
import { DEFAULT_SCAN_LIMIT, type EventDeliveryState, type EventPage, type EventQuery } from './store.js';

/** The summary columns of an event row; `size` is the body's length. */
export const SUMMARY_COLUMNS = 'id, channel, seq, event_id, event_type, received_at, source_ip, octet_length(body) AS size, synthetic, session_id';

/** The outcome of the latest finished attempt of delivery `d` (an attempt in flight has none yet). */
const LAST_OUTCOME = `(SELECT a.outcome FROM attempts a WHERE a.channel = d.channel AND a.consumer = d.consumer AND a.seq = d.seq
  AND a.outcome IS NOT NULL ORDER BY a.attempt DESC, a.id DESC LIMIT 1)`;

/** A consumer's glob as a LIKE pattern, in SQL: the same escaping as {@link globToLike}. */
export const GLOB_AS_LIKE = `replace(replace(replace(replace(replace(g.pattern, '\\', '\\\\'), '%', '\\%'), '_', '\\_'), '*', '%'), '?', '_')`;

/** Consumer `c` takes event `e` by its type: an empty filter takes all. */
const FILTER_TAKES = `(jsonb_array_length(c.filter) = 0 OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(c.filter) AS g(pattern) WHERE e.event_type LIKE ${GLOB_AS_LIKE}))`;

/**
 * Event `e`'s {@link DeliveryState} with consumer `c`, given its delivery row `d` (joined on
 * the left); NULL when the event is not for the consumer. The same rule as the SQLite store's.
 */
const STATE_OF = `CASE
  WHEN d.state = 'acked' THEN 'delivered'
  WHEN d.state = 'failed' THEN 'parked'
  WHEN d.state IS NOT NULL THEN CASE WHEN ${LAST_OUTCOME} = 'retry' THEN 'failing' ELSE 'pending' END
  WHEN e.seq >= c.next_seq AND ${FILTER_TAKES} THEN 'pending'
END`;

/** Open deliveries of consumer ($1, $2) whose last attempt failed. */
export const FAILING_COUNT = `SELECT COUNT(*)::int AS n FROM deliveries d
  WHERE d.channel = $1 AND d.consumer = $2 AND d.state IN ('inflight', 'retry') AND ${LAST_OUTCOME} = 'retry'`;

const STATES_OF_EVENTS = `SELECT seq, consumer, state, attempts, next_at FROM (
    SELECT e.seq AS seq, c.name AS consumer, ${STATE_OF} AS state, COALESCE(d.attempts, 0) AS attempts,
      CASE d.state WHEN 'retry' THEN d.next_attempt_at WHEN 'inflight' THEN d.lease_expires_at END AS next_at
    FROM events e JOIN consumers c ON c.channel = e.channel
    LEFT JOIN deliveries d ON d.channel = c.channel AND d.consumer = c.name AND d.seq = e.seq
    WHERE e.channel = $1 AND e.seq = ANY ($2::bigint[])
  ) s WHERE state IS NOT NULL ORDER BY seq, consumer COLLATE "C"`;

/** Columns the reading filters and the summary need, for the window of candidates. */
const WINDOW_COLUMNS = 'id, channel, seq, event_id, event_type, received_at, source_ip, body, synthetic, session_id';

/** SQL conditions with their values; `$n` placeholders are numbered as they are added. */
class Clauses {
  readonly sql: string[] = [];
  constructor(readonly values: unknown[]) {}

  /** The next placeholder, holding `value`. */
  param(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }

  where(): string {
    return this.sql.length > 0 ? `WHERE ${this.sql.join(' AND ')}` : '';
  }
}

/** The filters that narrow events through indexes: visibility, channel, session, time, cursor. */
function windowClauses(query: EventQuery, values: unknown[]): Clauses {
  const c = new Clauses(values);
  if (query.visibleChannels !== null) c.sql.push(`channel = ANY (${c.param(query.visibleChannels)}::text[])`);
  if (query.channel !== undefined) c.sql.push(`channel = ${c.param(query.channel)}`);
  if (query.type !== undefined) c.sql.push(`event_type = ${c.param(query.type)}`);
  if (query.session !== undefined) c.sql.push(`session_id = ${c.param(query.session)}`);
  if (query.since !== undefined) c.sql.push(`received_at >= ${c.param(query.since)}`);
  if (query.before !== undefined) c.sql.push(`received_at < ${c.param(query.before)}`);
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  if (after !== undefined) c.sql.push(`id < ${c.param(after)}`);
  return c;
}

/** The filters that read each candidate (alias `e`): type globs, delivery state, consumer, body text. */
function readingClauses(query: EventQuery, values: unknown[]): Clauses {
  const c = new Clauses(values);
  if (query.types !== undefined && query.types.length > 0) c.sql.push(`e.event_type LIKE ANY (${c.param(query.types.map(globToLike))}::text[])`);
  if (query.state !== undefined || query.consumer !== undefined) {
    const conditions = ['c.channel = e.channel'];
    if (query.consumer !== undefined) conditions.push(`c.name = ${c.param(query.consumer)}`);
    conditions.push(query.state !== undefined ? `${STATE_OF} = ${c.param(query.state)}` : `${STATE_OF} IS NOT NULL`);
    c.sql.push(`EXISTS (SELECT 1 FROM consumers c LEFT JOIN deliveries d ON d.channel = c.channel AND d.consumer = c.name AND d.seq = e.seq
      WHERE ${conditions.join(' AND ')})`);
  }
  if (query.text !== undefined && query.text !== '') c.sql.push(`position(${c.param(Buffer.from(query.text, 'utf8'))}::bytea IN e.body) > 0`);
  return c;
}

/** The first `limit` rows, with a cursor when there were more. */
function page(found: readonly EventRow[], limit: number): EventPage {
  const events = found.slice(0, limit);
  const last = events[events.length - 1];
  return { events: events.map(toSummary), ...(found.length > limit && last ? { nextCursor: encodeCursor(last.id) } : {}) };
}

/**
 * The event listing of the Postgres store, with the SQLite store's rules: window filters use the
 * indexes (`events_channel_id`, `events_session`, the primary key); reading filters run over at
 * most `scanLimit` candidates, newest first.
 */
export async function listEvents(db: Queryable, query: EventQuery): Promise<EventPage> {
  if (query.visibleChannels !== null && query.visibleChannels.length === 0) return { events: [] };
  const values: unknown[] = [];
  const window = windowClauses(query, values);
  const reading = readingClauses(query, values);
  if (reading.sql.length === 0) {
    const limit = window.param(query.limit + 1);
    return page(await rows<EventRow>(db, `SELECT ${SUMMARY_COLUMNS} FROM events ${window.where()} ORDER BY id DESC LIMIT ${limit}`, values), query.limit);
  }
  const scanLimit = query.scanLimit ?? DEFAULT_SCAN_LIMIT;
  const scanParam = reading.param(scanLimit);
  const limitParam = reading.param(query.limit + 1);
  const candidates = `SELECT ${WINDOW_COLUMNS} FROM events ${window.where()} ORDER BY id DESC LIMIT ${scanParam}`;
  const found = await rows<EventRow>(db, `SELECT ${SUMMARY_COLUMNS} FROM (${candidates}) e ${reading.where()} ORDER BY id DESC LIMIT ${limitParam}`, values);
  if (found.length > query.limit) return page(found, query.limit);
  // The window alone, numbered afresh: its values come first in `values`.
  const countValues: unknown[] = [];
  const countWindow = windowClauses(query, countValues);
  const scanned = await firstRow<{ n: number; oldest: number | null }>(
    db,
    `SELECT COUNT(*)::int AS n, MIN(id) AS oldest FROM (SELECT id FROM events ${countWindow.where()} ORDER BY id DESC LIMIT ${countWindow.param(scanLimit)}) w`,
    countValues,
  );
  if (!scanned || scanned.n < scanLimit || scanned.oldest === null) return page(found, query.limit);
  return { events: found.map(toSummary), nextCursor: encodeCursor(scanned.oldest), scanLimited: true };
}

/** Each consumer's state for the given events of one channel (see `Store.deliveryStates`). */
export async function deliveryStates(db: Queryable, channel: string, seqs: readonly number[]): Promise<EventDeliveryState[]> {
  if (seqs.length === 0) return [];
  type Row = { seq: number; consumer: string; state: DeliveryState; attempts: number; next_at: Date | null };
  return (await rows<Row>(db, STATES_OF_EVENTS, [channel, seqs])).map((r) => ({
    seq: r.seq,
    consumer: r.consumer,
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: r.next_at,
  }));
}
