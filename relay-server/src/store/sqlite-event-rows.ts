/** The embedded store's summary columns of an event (rows map through `event-rows.ts`); `size` is the body's length. */
export const SUMMARY_COLUMNS = 'id, channel, seq, event_id, event_type, received_at, source_ip, length(body) AS size, synthetic, session_id';

export { toDeliveredEvent, toStoredEvent, toSummary, type EventRow, type FullEventRow, type StoredEventRow } from './event-rows.js';
