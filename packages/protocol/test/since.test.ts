import { describe, expect, it } from 'vitest';
import { parseSince, parseTimestamp, retryDelayMs, type SinceResult } from '../src/index.js';

const now = new Date('2024-05-01T12:00:00.000Z');

function at(result: SinceResult): string {
  if (!result.ok || result.since.kind !== 'time') throw new Error(`expected a time, got ${JSON.stringify(result)}`);
  return result.since.at.toISOString();
}

describe('parseSince', () => {
  it('reads now', () => {
    expect(parseSince('now', now)).toEqual({ ok: true, since: { kind: 'now' } });
  });

  it.each([
    ['30s', '2024-05-01T11:59:30.000Z'],
    ['15m', '2024-05-01T11:45:00.000Z'],
    ['2h', '2024-05-01T10:00:00.000Z'],
    ['1d', '2024-04-30T12:00:00.000Z'],
    ['1h30m', '2024-05-01T10:30:00.000Z'],
    ['1d2h3m4s', '2024-04-30T09:56:56.000Z'],
    ['90m', '2024-05-01T10:30:00.000Z'],
    ['0s', '2024-05-01T12:00:00.000Z'],
    ['1.5h', '2024-05-01T10:30:00.000Z'],
    ['1w', '2024-04-24T12:00:00.000Z'],
    ['500ms', '2024-05-01T11:59:59.500Z'],
  ])('reads duration %s back from now', (value, expected) => {
    expect(at(parseSince(value, now))).toBe(expected);
  });

  it.each([
    ['units out of order', '30m1h'],
    ['a repeated unit', '1h1h'],
    ['an upper-case unit', '15M'],
    ['an unknown unit', '2y'],
    ['a unit without a number', 'h'],
    ['a space inside', '15 m'],
    ['a leading space', ' 15m'],
    ['a negative number', '-5'],
    ['a negative duration', '-5m'],
    ['the empty string', ''],
    ['an English phrase', 'yesterday'],
    ['a duration reaching before any date', '200000000d'],
    ['a duration too large to count', '99999999999999999d'],
  ])('rejects %s', (_what, value) => {
    const result = parseSince(value, now);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason.length).toBeGreaterThan(0);
  });

  it('reads plain integers as sequence numbers, not durations', () => {
    expect(parseSince('42', now)).toEqual({ ok: true, since: { kind: 'seq', seq: 42 } });
    expect(parseSince('0', now)).toEqual({ ok: true, since: { kind: 'seq', seq: 0 } });
    expect(parseSince('007', now)).toEqual({ ok: true, since: { kind: 'seq', seq: 7 } });
    expect(parseSince('30', now)).toEqual({ ok: true, since: { kind: 'seq', seq: 30 } });
    expect(parseSince(String(Number.MAX_SAFE_INTEGER), now).ok).toBe(true);
    expect(parseSince('9007199254740993', now).ok).toBe(false);
  });

  it.each([
    ['2024-05-01T10:00:00Z', '2024-05-01T10:00:00.000Z'],
    ['2024-05-01T15:30:00+05:30', '2024-05-01T10:00:00.000Z'],
    ['2024-05-01T05:00:00-05:00', '2024-05-01T10:00:00.000Z'],
    ['2024-05-01T10:00Z', '2024-05-01T10:00:00.000Z'],
    ['2024-05-01T10:00:00.5Z', '2024-05-01T10:00:00.500Z'],
    ['2024-05-01T10:00:00.123456789Z', '2024-05-01T10:00:00.123Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
    ['0050-01-01T00:00:00Z', '0050-01-01T00:00:00.000Z'],
  ])('reads ISO-8601 time %s', (value, expected) => {
    expect(at(parseSince(value, now))).toBe(expected);
  });

  it.each([
    ['a date without time', '2024-05-01'],
    ['a time without zone', '2024-05-01T10:00:00'],
    ['February 30', '2024-02-30T00:00:00Z'],
    ['February 29 of a common year', '2023-02-29T00:00:00Z'],
    ['month 13', '2024-13-01T00:00:00Z'],
    ['hour 24', '2024-05-01T24:00:00Z'],
    ['second 60', '2024-05-01T23:59:60Z'],
    ['an offset of 24 hours', '2024-05-01T10:00:00+24:00'],
    ['an offset without colon', '2024-05-01T10:00:00+0530'],
    ['a lower-case zone', '2024-05-01T10:00:00z'],
    ['a space instead of T', '2024-05-01 10:00:00Z'],
  ])('rejects %s', (_what, value) => {
    expect(parseSince(value, now).ok).toBe(false);
    expect(parseTimestamp(value)).toBeUndefined();
  });
});

describe('parseTimestamp', () => {
  it('reads back what toISOString writes, at every day of leap, common and century years', () => {
    for (const year of [1970, 1999, 2000, 2023, 2024, 2100, 9999]) {
      for (let t = Date.UTC(year, 0, 1); t < Date.UTC(year + 1, 0, 1); t += 86_400_000 + 3_723_045) {
        const text = new Date(t).toISOString();
        expect(parseTimestamp(text)?.getTime(), text).toBe(t);
      }
    }
  });

  it('agrees with the general reading on days that do not exist and fields out of range', () => {
    for (const year of ['2023', '2024', '2100', '2000', '0099', '0100']) {
      for (const month of ['00', '01', '02', '04', '12', '13']) {
        for (const day of ['00', '01', '28', '29', '30', '31', '32']) {
          for (const time of ['00:00:00', '23:59:59', '24:00:00', '10:60:00', '10:00:60']) {
            const canonical = `${year}-${month}-${day}T${time}.250Z`;
            // The same instant with an explicit offset takes the regular-expression path.
            expect(parseTimestamp(canonical)?.getTime(), canonical).toBe(parseTimestamp(`${year}-${month}-${day}T${time}.250+00:00`)?.getTime());
          }
        }
      }
    }
  });

  it.each(['2024-05-01T10:00:00.0a0Z', '2024-05-01T10:00:00,000Z', '2024-05-01T10:00:00.000z', '+24-05-01T10:00:00.000Z', '2024-05-01T10:00:00.000\u0000'])(
    'rejects the 24-character text %s',
    (value) => {
      expect(parseTimestamp(value)).toBeUndefined();
    },
  );
});

describe('retryDelayMs', () => {
  it('starts at 1 s, doubles and stops at 60 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => retryDelayMs(attempt))).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
    expect(retryDelayMs(1e9)).toBe(60000);
    expect(retryDelayMs(0)).toBe(1000);
  });

  it("follows a relay's own schedule", () => {
    const schedule = { initialMs: 250, maxMs: 1_500 };
    expect([1, 2, 3, 4, 5].map((attempt) => retryDelayMs(attempt, schedule))).toEqual([250, 500, 1000, 1500, 1500]);
  });
});
