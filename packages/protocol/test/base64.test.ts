import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { base64ByteLength, isBase64 } from '../src/index.js';

/** Strict base64 is exactly the text Node's encoder writes for the bytes Node's decoder reads from it. */
function canonical(text: string): boolean {
  return Buffer.from(Buffer.from(text, 'base64').toString('base64')).toString() === text;
}

describe('isBase64', () => {
  it('accepts what Node encodes, for every length of a 3-byte group and all 256 byte values', () => {
    expect(isBase64('')).toBe(true);
    for (let n = 1; n <= 258; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 31 + n) & 255);
      expect(isBase64(Buffer.from(bytes).toString('base64')), String(n)).toBe(true);
    }
  });

  it.each([
    ['a length that is not a multiple of 4', 'YWJ'],
    ['padding in the middle', 'YQ==YQ=='],
    ['a padding character inside a group', 'Y=Jj'],
    ['only padding', '===='],
    ['three padding characters', 'Y==='],
    ['whitespace', 'YW Jj'],
    ['a line break', 'YWJj\nYWJj'],
    ['the URL-safe alphabet', 'ab-_'],
    ['a non-ASCII character', 'YWJé'],
    ['non-zero bits after the last byte (YR== would also mean "a")', 'YR=='],
    ['non-zero bits after the last two bytes', 'YWJ='],
  ])('rejects %s', (_what, text) => {
    expect(isBase64(text)).toBe(false);
  });

  it('accepts exactly the canonical texts, over every 4-character text of a telling alphabet', () => {
    // Letters whose low bits are zero or not, the last two alphabet characters, padding, and outsiders.
    const letters = ['A', 'B', 'Q', 'R', 'g', 'w', '/', '+', '=', '-', ' '];
    for (const a of letters) for (const b of letters) for (const c of letters) for (const d of letters) {
      for (const text of [`${a}${b}${c}${d}`, `QUJD${a}${b}${c}${d}`]) {
        expect(isBase64(text), text).toBe(canonical(text));
      }
    }
  });
});

describe('base64ByteLength', () => {
  it('is the length of the bytes Node decodes, for every padding', () => {
    for (let n = 0; n < 12; n++) {
      const text = Buffer.alloc(n, 0xa5).toString('base64');
      expect(base64ByteLength(text)).toBe(n);
    }
  });
});
