import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, parseSince, readDuration } from '../src/index.js';

describe('readDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['1.5h', 5_400_000],
    ['1h30m', 5_400_000],
    ['7d', 604_800_000],
    ['2w', 1_209_600_000],
    ['1m30s250ms', 90_250],
    ['0', 0],
    [' 15m ', 900_000],
  ])('reads %s', (text, ms) => {
    expect(readDuration(text)).toEqual({ ok: true, ms });
  });

  it('never reads a bare number as milliseconds, and says what to write instead', () => {
    const result = readDuration('30');
    expect(result).toEqual({ ok: false, reason: expect.stringContaining('30s') });
    expect(!result.ok && result.reason).toContain('30ms');
    expect(readDuration(30).ok).toBe(false);
    expect(parseDuration('250')).toBeUndefined();
  });

  it.each([['7 days'], [''], ['30m1h'], ['1h1h'], ['15M'], ['h'], ['-5m'], ['1e3s'], ['9'.repeat(400) + 'w']])('refuses %j', (text) => {
    expect(readDuration(text).ok).toBe(false);
  });

  it('is the grammar of since values too, where a bare number is a sequence number', () => {
    const now = new Date('2024-05-01T12:00:00.000Z');
    for (const text of ['1.5h', '2w', '500ms', '1h30m']) {
      const since = parseSince(text, now);
      expect(since.ok && since.since.kind === 'time' && now.getTime() - since.since.at.getTime()).toBe(parseDuration(text));
    }
    expect(parseSince('30', now)).toEqual({ ok: true, since: { kind: 'seq', seq: 30 } });
  });

  it('formats what it reads back', () => {
    for (const ms of [0, 1, 500, 1_500, 60_000, 5_400_000, 604_800_000, 90_061_001]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
    expect(formatDuration(604_800_000)).toBe('7d');
    expect(formatDuration(5_400_000)).toBe('1h30m');
  });
});
