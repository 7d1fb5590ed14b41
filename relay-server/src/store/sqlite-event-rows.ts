import type { EventVerificationView, HeaderPairs } from '@myop-relay/protocol';
import type { DeliveredEvent, EventSummary, StoredEvent } from './store.js';

/** The columns of an event's summary; `size` is the body's length. */
export const SUMMARY_COLUMNS = 'id, channel, seq, event_id, event_type, received_at, source_ip, length(body) AS size, synthetic, session_id';

/** A row of {@link SUMMARY_COLUMNS}. */
export interface EventRow {
  id: number;
  channel: string;
  seq: number;
  event_id: string;
  event_type: string;
  received_at: number;
  source_ip: string;
  size: number;
  synthetic: number;
  session_id: string | null;
}

/** A row of {@link SUMMARY_COLUMNS} plus `headers` (JSON text) and `body`. */
export interface FullEventRow extends EventRow {
  headers: string;
  body: Uint8Array;
}

/** A {@link FullEventRow} with how the event was verified (JSON text; NULL when not recorded). */
export interface StoredEventRow extends FullEventRow {
  verification: string | null;
}

export function toSummary(row: EventRow): EventSummary {
  return {
    channel: row.channel,
    seq: row.seq,
    id: row.event_id,
    type: row.event_type,
    receivedAt: new Date(row.received_at),
    sourceIp: row.source_ip,
    size: row.size,
    synthetic: row.synthetic === 1,
    session: row.session_id ?? null,
  };
}

/** The whole event, its body copied out of the driver's buffer. */
export function toStoredEvent(row: StoredEventRow): StoredEvent {
  return {
    ...toSummary(row),
    headers: JSON.parse(row.headers) as HeaderPairs,
    body: new Uint8Array(row.body),
    verification: row.verification === null ? null : (JSON.parse(row.verification) as EventVerificationView),
  };
}

/** The event as a delivery carries it: headers as stored, body as the driver returned it. */
export function toDeliveredEvent(row: FullEventRow): DeliveredEvent {
  return { ...toSummary(row), headersJson: row.headers, body: row.body };
}
