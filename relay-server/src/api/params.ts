import { parseSince, validateConsumerName, validateEventPattern } from '@myop-relay/protocol';
import { isChannelName } from '../channel.js';
import { RelayError } from '../errors.js';
import { decodeCursor } from '../store/cursor.js';

/** A parsed query string as Fastify hands it over: a parameter given twice arrives as an array. */
export type RawQuery = Record<string, string | string[] | undefined>;

function invalid(name: string, problem: string): never {
  throw new RelayError('RELAY_E_INVALID_QUERY', `(${name}: ${problem})`);
}

/** Quotes a value for an error message, cut short so a long one does not flood the answer. */
export function quoted(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

/**
 * One query parameter's text, or undefined when absent. Refuses it given twice (`?type=a&type=b`),
 * which the API never reads as a list, and given empty, which names nothing.
 */
export function single(query: RawQuery, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) invalid(name, 'give it once');
  if (value === '') invalid(name, 'must not be empty');
  return value;
}

/** Reads a parameter given at most once with `read`, which names the parameter in its refusals. */
export function optional<T>(query: RawQuery, name: string, read: (name: string, value: string) => T): T | undefined {
  const value = single(query, name);
  return value === undefined ? undefined : read(name, value);
}

/** Throws RELAY_E_INVALID_QUERY unless `value` can be a channel name; `name` is the parameter. */
export function channelParam(name: string, value: string): string {
  if (!isChannelName(value)) invalid(name, `${quoted(value)} is not a channel name (1-64 letters, digits, '.', '_' or '-')`);
  return value;
}

/** Throws RELAY_E_INVALID_QUERY unless `value` can be a consumer name (the protocol's rule). */
export function consumerParam(name: string, value: string): string {
  const problem = validateConsumerName(value);
  if (problem !== undefined) invalid(name, `${quoted(value)} ${problem}`);
  return value;
}

/**
 * Throws RELAY_E_INVALID_QUERY unless `value` can be an event type: the protocol's rule for
 * event-type patterns (1-128 characters, no control characters), which every stored type meets.
 */
export function typeParam(name: string, value: string): string {
  const problem = validateEventPattern(value);
  if (problem !== undefined) invalid(name, `${quoted(value)} ${problem}`);
  return value;
}

/**
 * Reads a time bound the way relay-client checks it before sending: a duration back from the
 * relay's clock (`2h`, `1h30m`) or an ISO-8601 time with zone. Returns the reason otherwise.
 */
export function parseTimeBound(value: string, now: Date): Date | { problem: string } {
  const parsed = parseSince(value, now);
  if (parsed.ok && parsed.since.kind === 'time') return parsed.since.at;
  return { problem: `expected a duration such as 2h or an ISO-8601 time with zone such as 2024-05-01T10:00:00Z, got ${quoted(value)}` };
}

/** `since`/`before` of a query string (see {@link parseTimeBound}). */
export function timeParam(name: string, value: string, now: Date): Date {
  const at = parseTimeBound(value, now);
  if (!(at instanceof Date)) invalid(name, at.problem);
  return at;
}

/** Throws RELAY_E_INVALID_QUERY unless `value` is a `nextCursor` the listing handed out. */
export function cursorParam(name: string, value: string): string {
  if (decodeCursor(value) === undefined) invalid(name, 'pass back a nextCursor value unchanged');
  return value;
}

/** `limit` of a listing: whole number 1-1000, default 50. */
export function limitParam(value: string | undefined): number {
  if (value === undefined) return 50;
  const limit = /^\d{1,4}$/.test(value) ? Number(value) : Number.NaN;
  if (!(limit >= 1 && limit <= 1000)) invalid('limit', `expected 1-1000, got ${quoted(value)}`);
  return limit;
}
