import { describe, expect, it } from 'vitest';
import { compileEventFilter, validateEventPattern } from '../src/index.js';

describe('compileEventFilter', () => {
  it('matches everything without patterns', () => {
    for (const filter of [compileEventFilter(undefined), compileEventFilter([])]) {
      expect(filter('call.answered')).toBe(true);
      expect(filter('')).toBe(true);
    }
  });

  it('lets * cross dots', () => {
    const filter = compileEventFilter(['call.*']);
    expect(filter('call.answered')).toBe(true);
    expect(filter('call.ivr.input')).toBe(true);
    expect(filter('call.')).toBe(true);
    expect(filter('call')).toBe(false);
    expect(filter('sms.call.answered')).toBe(false);
    expect(filter('Call.answered')).toBe(false);
  });

  it('matches * anywhere in the pattern', () => {
    const filter = compileEventFilter(['*.missed']);
    expect(filter('call.missed')).toBe(true);
    expect(filter('a.b.missed')).toBe(true);
    expect(filter('call.missed.late')).toBe(false);
    expect(compileEventFilter(['*'])('anything.at.all')).toBe(true);
    expect(compileEventFilter(['*'])('')).toBe(true);
  });

  it('matches ? to exactly one character, counting code points', () => {
    const filter = compileEventFilter(['sms.?']);
    expect(filter('sms.a')).toBe(true);
    expect(filter('sms.🚀')).toBe(true);
    expect(filter('sms.')).toBe(false);
    expect(filter('sms.ab')).toBe(false);
  });

  it('backtracks to the last star', () => {
    expect(compileEventFilter(['*ab'])('aab')).toBe(true);
    expect(compileEventFilter(['a*ab'])('aab')).toBe(true);
    expect(compileEventFilter(['a*b*c'])('aXbYbZc')).toBe(true);
    expect(compileEventFilter(['*a*b'])('ba')).toBe(false);
    expect(compileEventFilter(['a*?'])('a')).toBe(false);
    expect(compileEventFilter(['a*?'])('ab')).toBe(true);
  });

  it('treats regular-expression characters literally', () => {
    expect(compileEventFilter(['a[b]+(c)'])('a[b]+(c)')).toBe(true);
    expect(compileEventFilter(['a[b]'])('ab')).toBe(false);
    expect(compileEventFilter(['a.b'])('axb')).toBe(false);
    expect(compileEventFilter(['^call$'])('^call$')).toBe(true);
  });

  it('matches when any pattern matches', () => {
    const filter = compileEventFilter(['call.answered', 'sms.*']);
    expect(filter('call.answered')).toBe(true);
    expect(filter('sms.received')).toBe(true);
    expect(filter('call.missed')).toBe(false);
  });

  it('stays fast on patterns that make regular expressions backtrack', () => {
    const filter = compileEventFilter(['*a'.repeat(40) + 'b']);
    expect(filter('a'.repeat(128))).toBe(false);
    expect(filter('a'.repeat(127) + 'b')).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['129 characters', 'x'.repeat(129)],
    ['a tab', 'call.\t*'],
    ['a NUL', 'call\u0000'],
  ])('rejects a pattern with %s', (_what, pattern) => {
    expect(validateEventPattern(pattern)).toEqual(expect.any(String));
    expect(() => compileEventFilter(['ok', pattern])).toThrow(RangeError);
  });

  it('accepts a pattern of 128 characters', () => {
    expect(validateEventPattern('x'.repeat(128))).toBeUndefined();
  });
});
