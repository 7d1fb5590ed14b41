/**
 * Event-type patterns, as `listen --events`, `subscribe.events` and the API's `type` filter take
 * them: `*` matches any run of characters, dots included (`call.*` matches `call.answered` and
 * `call.ivr.input`); `?` matches exactly one character; every other character matches itself,
 * case-sensitively. The stores match them in SQL (SQLite's GLOB, Postgres' LIKE, each with the
 * other characters escaped); the delivery conformance suite holds both to these rules. The client
 * validates the user's patterns with the same rules before it sends them.
 */
import { MAX_NAME_LENGTH, validateText } from './messages.js';

/** Longest event-type glob pattern, in characters: 128. */
export const MAX_EVENT_PATTERN_LENGTH = MAX_NAME_LENGTH;

/**
 * Why `pattern` is not a valid event-type glob, or `undefined` when it is: 1-128 characters, no
 * control characters. Every other character is allowed; only `*` and `?` are special.
 */
export function validateEventPattern(pattern: string): string | undefined {
  return validateText(pattern, MAX_EVENT_PATTERN_LENGTH);
}
