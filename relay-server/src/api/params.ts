import { parseSince } from '@myop-relay/protocol';
import { RelayError } from '../errors.js';

/**
 * Reads `since`/`before`: an ISO-8601 time with zone, or a duration meaning that long ago, by the
 * protocol's `since` rules. A sequence number or `now` is not a time, so both are refused here, as
 * is a time without a zone (it would be read in the server's time zone).
 */
export function timeParam(name: string, value: string | undefined, now: Date): Date | undefined {
  if (value === undefined || value === '') return undefined;
  const since = parseSince(value, now);
  if (since.ok && since.since.kind === 'time') return since.since.at;
  const problem = since.ok ? `"${value.slice(0, 64)}" is not a time` : since.reason;
  throw new RelayError('RELAY_E_INVALID_QUERY', `(${name}: ${problem}; expected an ISO time with zone such as 2024-05-01T10:00:00Z or a duration such as 2h)`);
}
