/**
 * The `since` start position of a subscription. The client checks the user's `--since` with the
 * same parser the server uses, so both agree on what is valid; the server resolves durations
 * against its own clock.
 */
import { readDuration } from './units.js';

/**
 * Where a subscription starts: `now` (only events received after the subscribe), `time` (events
 * received at or after `at`) or `seq` (events with sequence number `seq` or higher).
 */
export type Since = { kind: 'now' } | { kind: 'time'; at: Date } | { kind: 'seq'; seq: number };

/** Result of {@link parseSince}: the position, or why the text is not one. */
export type SinceResult = { ok: true; since: Since } | { ok: false; reason: string };

const DURATION_START = /^\d/;
const DIGITS = /^\d+$/;
// RFC 3339 profile of ISO-8601: full date, time to minutes at least, and a mandatory zone.
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|([+-])(\d{2}):(\d{2}))$/;

/**
 * Parses an ISO-8601 date-time with zone (`2024-05-01T10:00:00Z`, `2024-05-01T15:30+05:30`,
 * fractions of a second allowed). Returns `undefined` for anything else, including impossible
 * dates like February 30 and times without a zone, which would be read in whichever time zone
 * the parsing machine happens to have.
 */
export function parseTimestamp(value: string): Date | undefined {
  return value.length === 24 ? (parseIsoString(value) ?? parseAnyTimestamp(value)) : parseAnyTimestamp(value);
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * The form `Date.prototype.toISOString` writes (`2024-05-01T10:00:00.000Z`), which every event
 * the relay sends carries, read without a regular expression; undefined for anything else,
 * including years before 100, which {@link parseAnyTimestamp} handles.
 */
function parseIsoString(v: string): Date | undefined {
  if (v[4] !== '-' || v[7] !== '-' || v[10] !== 'T' || v[13] !== ':' || v[16] !== ':' || v[19] !== '.' || v[23] !== 'Z') return undefined;
  const year = digitsAt(v, 0, 4);
  const month = digitsAt(v, 5, 2);
  const day = digitsAt(v, 8, 2);
  const hour = digitsAt(v, 11, 2);
  const minute = digitsAt(v, 14, 2);
  const second = digitsAt(v, 17, 2);
  const millis = digitsAt(v, 20, 3);
  if ((year | month | day | hour | minute | second | millis) < 0) return undefined;
  if (year < 100 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (month === 2 && !leap ? 28 : (DAYS_IN_MONTH[month - 1] ?? 0))) return undefined;
  return new Date(Date.UTC(year, month - 1, day, hour, minute, second, millis));
}

/** The decimal number written at `v[at, at + width)`, or -1 when those are not all digits. */
function digitsAt(v: string, at: number, width: number): number {
  let n = 0;
  for (let i = at; i < at + width; i++) {
    const digit = v.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    n = n * 10 + digit;
  }
  return n;
}

function parseAnyTimestamp(value: string): Date | undefined {
  const m = TIMESTAMP.exec(value);
  if (m === null) return undefined;
  const [year, month, day, hour, minute] = [m[1], m[2], m[3], m[4], m[5]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const second = m[6] === undefined ? 0 : Number(m[6]);
  // Date keeps milliseconds only; extra digits are truncated, not rounded, so a value never moves later.
  const millis = m[7] === undefined ? 0 : Number(m[7].padEnd(3, '0').slice(0, 3));
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined;
  // setUTCFullYear, unlike Date.UTC, does not read years 0-99 as 1900-1999.
  const local = new Date(Date.UTC(2000, 0, 1, hour, minute, second, millis));
  local.setUTCFullYear(year, month - 1, day);
  // Dates roll February 30 over into March; a changed day means the date does not exist.
  if (local.getUTCDate() !== day) return undefined;
  let offsetMinutes = 0;
  if (m[8] !== 'Z') {
    const offsetHours = Number(m[10]);
    const offsetMins = Number(m[11]);
    if (offsetHours > 23 || offsetMins > 59) return undefined;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMins);
  }
  const date = new Date(local.getTime() - offsetMinutes * 60_000);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * Parses a `since` value. Never throws.
 *
 * - `now` → `{ kind: 'now' }`
 * - a duration as every setting writes it (`30s`, `15m`, `1.5h`, `1d`, `1h30m`; see
 *   {@link readDuration}) → `{ kind: 'time', at: now - duration }`
 * - decimal digits only (`42`) → `{ kind: 'seq', seq: 42 }`; note `30` is a sequence number and
 *   `30s` a duration
 * - an ISO-8601 date-time with zone (see {@link parseTimestamp}) → `{ kind: 'time' }`
 *
 * @param value - the text as the user gave it; surrounding spaces are not allowed.
 * @param now - the clock reading durations count back from.
 */
export function parseSince(value: string, now: Date): SinceResult {
  if (value === 'now') return { ok: true, since: { kind: 'now' } };
  if (DIGITS.test(value)) {
    const seq = Number(value);
    if (!Number.isSafeInteger(seq)) return { ok: false, reason: `sequence number ${value} is too large` };
    return { ok: true, since: { kind: 'seq', seq } };
  }
  if (/^\d{4}-/.test(value)) {
    const at = parseTimestamp(value);
    if (at === undefined) {
      return {
        ok: false,
        reason: `${JSON.stringify(value)} is not a valid ISO-8601 time with zone, e.g. 2024-05-01T10:00:00Z or 2024-05-01T15:30:00+05:30`,
      };
    }
    return { ok: true, since: { kind: 'time', at } };
  }
  if (DURATION_START.test(value)) return durationAgo(value, now);
  return {
    ok: false,
    reason: `${JSON.stringify(value.slice(0, 64))} is not "now", a duration like 15m or 1h30m, a sequence number or an ISO-8601 time with zone`,
  };
}

function durationAgo(value: string, now: Date): SinceResult {
  const duration = value === value.trim() ? readDuration(value) : ({ ok: false, reason: `${JSON.stringify(value)} has spaces around it` } as const);
  if (!duration.ok) return { ok: false, reason: duration.reason };
  const at = new Date(now.getTime() - duration.ms);
  if (Number.isNaN(at.getTime())) return { ok: false, reason: `duration ${value} reaches back further than a date can represent` };
  return { ok: true, since: { kind: 'time', at } };
}
