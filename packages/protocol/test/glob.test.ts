import { describe, expect, it } from 'vitest';
import { validateEventPattern } from '../src/index.js';

describe('validateEventPattern', () => {
  it.each([
    ['empty', ''],
    ['129 characters', 'x'.repeat(129)],
    ['a tab', 'call.\t*'],
    ['a NUL', 'call\u0000'],
  ])('rejects a pattern with %s', (_what, pattern) => {
    expect(validateEventPattern(pattern)).toEqual(expect.any(String));
  });

  it.each([['call.*'], ['*'], ['sms.?'], ['a[b]+(c)'], ['x'.repeat(128)]])('accepts %s', (pattern) => {
    expect(validateEventPattern(pattern)).toBeUndefined();
  });
});
