import type { EventVerificationView, HeaderPairs } from '@myop-relay/protocol';
import type { DeliveredEvent, EventSummary, StoredEvent } from './store.js';

/**
 * An event row as either engine returns its summary columns (each engine's `SUMMARY_COLUMNS`):
 * SQLite gives times as epoch milliseconds and booleans as 0/1, Postgres as Date and boolean.
 */
export interface EventRow {
  id: number;
  channel: string;
  seq: number;
  event_id: string;
  event_type: string;
  received_at: number | Date;
  source_ip: string;
  size: number;
  synthetic: number | boolean;
  session_id: string | null;
}

/** An {@link EventRow} plus `headers` (JSON text) and `body` as the driver returned it. */
export interface FullEventRow extends EventRow {
  headers: string;
  body: Uint8Array;
}

/** A {@link FullEventRow} with how the event was verified (JSON text; NULL when not recorded). */
export interface StoredEventRow extends FullEventRow {
  verification: string | null;
}

/** The listing view of an event row. */
export function toSummary(row: EventRow): EventSummary {
  return {
    channel: row.channel,
    seq: Number(row.seq),
    id: row.event_id,
    type: row.event_type,
    receivedAt: new Date(row.received_at),
    sourceIp: row.source_ip,
    size: Number(row.size),
    synthetic: Boolean(row.synthetic),
    session: row.session_id ?? null,
  };
}

/** The body's bytes as a plain Uint8Array view (both drivers hand out a fresh buffer per row). */
function bodyOf(row: FullEventRow): Uint8Array {
  return new Uint8Array(row.body.buffer, row.body.byteOffset, row.body.byteLength);
}

/** The whole event a row holds. */
export function toStoredEvent(row: StoredEventRow): StoredEvent {
  return {
    ...toSummary(row),
    headers: JSON.parse(row.headers) as HeaderPairs,
    body: bodyOf(row),
    verification: row.verification === null ? null : (JSON.parse(row.verification) as EventVerificationView),
  };
}

/** The event as a delivery carries it: headers as their stored JSON text. */
export function toDeliveredEvent(row: FullEventRow): DeliveredEvent {
  return { ...toSummary(row), headersJson: row.headers, body: bodyOf(row) };
}
