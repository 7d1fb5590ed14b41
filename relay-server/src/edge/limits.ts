import { MAX_EVENT_ID_LENGTH } from '../ingest/identity.js';

/** Longest URL (path and query) the relay reads; longer ones are answered 414. */
export const MAX_URL_LENGTH = 8192;

/**
 * Longest path segment the router matches; longer ones are answered 414. An event id is at most
 * {@link MAX_EVENT_ID_LENGTH} UTF-16 units, and each unit takes at most 9 characters
 * percent-encoded (three UTF-8 bytes as `%XX`), so every stored event stays addressable.
 */
export const MAX_PATH_SEGMENT_LENGTH = MAX_EVENT_ID_LENGTH * 9;
