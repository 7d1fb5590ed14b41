import { DELIVERY_STATES, MAX_EVENT_PATTERNS, validateConsumerName, validateEventPattern, type DeliveryState } from '@myop-relay/protocol';
import { RelayError } from '../errors.js';
import type { EventQuery } from '../store/store.js';

/** Longest body text a search may look for, in characters: 256. */
export const MAX_SEARCH_LENGTH = 256;
/** Longest session id a filter may name, in characters: 256 (ingest keeps no longer ones). */
const MAX_SESSION_LENGTH = 256;

function invalid(detail: string): RelayError {
  return new RelayError('RELAY_E_INVALID_QUERY', `(${detail})`);
}

/** One value of a query parameter: a repeated parameter is refused rather than half-read. */
function single(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(`${name}: give it once`);
  return value;
}

/**
 * The filters of `GET /api/events` beyond channel, time and cursor: `type` (comma-separated
 * event-type globs, as `listen --events`), `state` (a delivery state), `consumer`, `session`
 * (a Webhook v2 `session_id`) and `q` (text the body contains). Empty values mean no filter.
 * Throws `RELAY_E_INVALID_QUERY` naming the parameter.
 */
export function eventFilters(query: Record<string, unknown>): Pick<EventQuery, 'types' | 'state' | 'consumer' | 'session' | 'text'> {
  const filters: Pick<EventQuery, 'types' | 'state' | 'consumer' | 'session' | 'text'> = {};

  const type = single(query, 'type');
  if (type !== undefined && type.trim() !== '') {
    const patterns = type.split(',').map((p) => p.trim()).filter(Boolean);
    if (patterns.length > MAX_EVENT_PATTERNS) throw invalid(`type: at most ${MAX_EVENT_PATTERNS} patterns`);
    for (const pattern of patterns) {
      const problem = validateEventPattern(pattern);
      if (problem !== undefined) throw invalid(`type: pattern "${pattern}" ${problem}`);
    }
    filters.types = patterns;
  }

  const state = single(query, 'state');
  if (state !== undefined && state !== '') {
    if (!(DELIVERY_STATES as readonly string[]).includes(state)) throw invalid(`state: expected one of ${DELIVERY_STATES.join(', ')}, got "${state}"`);
    filters.state = state as DeliveryState;
  }

  const consumer = single(query, 'consumer');
  if (consumer !== undefined && consumer !== '') {
    const problem = validateConsumerName(consumer);
    if (problem !== undefined) throw invalid(`consumer: ${problem}`);
    filters.consumer = consumer;
  }

  const session = single(query, 'session');
  if (session !== undefined && session !== '') {
    if (session.length > MAX_SESSION_LENGTH) throw invalid(`session: at most ${MAX_SESSION_LENGTH} characters`);
    filters.session = session;
  }

  const text = single(query, 'q');
  if (text !== undefined && text !== '') {
    if (text.length > MAX_SEARCH_LENGTH) throw invalid(`q: at most ${MAX_SEARCH_LENGTH} characters`);
    filters.text = text;
  }
  return filters;
}
