import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { decodeBody, encodeBody, isBase64 } from '../src/index.js';

describe('encodeBody / decodeBody', () => {
  it('round-trips all 256 byte values and matches Node’s encoder', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const b64 = encodeBody(all);
    expect(b64).toBe(Buffer.from(all).toString('base64'));
    expect(decodeBody(b64)).toEqual(all);
  });

  it('round-trips every byte value at every position within a 3-byte group', () => {
    for (let shift = 0; shift < 3; shift++) {
      const bytes = Uint8Array.from({ length: 256 + shift }, (_, i) => (i < shift ? 0x41 : i - shift));
      expect(decodeBody(encodeBody(bytes))).toEqual(bytes);
    }
  });

  it('encodes empty input as the empty string and back', () => {
    expect(encodeBody(new Uint8Array(0))).toBe('');
    expect(decodeBody('')).toEqual(new Uint8Array(0));
    expect(isBase64('')).toBe(true);
  });

  it.each([1, 2, 3, 4, 5, 6, 7])('pads a %i-byte input like RFC 4648', (n) => {
    const bytes = Uint8Array.from({ length: n }, (_, i) => 0xff - i * 13);
    const b64 = encodeBody(bytes);
    expect(b64).toBe(Buffer.from(bytes).toString('base64'));
    expect(decodeBody(b64)).toEqual(bytes);
  });

  it('encodes a subarray, not its whole buffer', () => {
    const whole = new TextEncoder().encode('xxhello');
    expect(encodeBody(whole.subarray(2))).toBe('aGVsbG8=');
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
    expect(() => decodeBody(text)).toThrow(RangeError);
  });

  it('accepts exactly what decodeBody decodes, over every 4-character text of a telling alphabet', () => {
    // Letters whose low bits are zero or not, the last two alphabet characters, padding, and outsiders.
    const letters = ['A', 'B', 'Q', 'R', 'g', 'w', '/', '+', '=', '-', ' '];
    for (const a of letters) for (const b of letters) for (const c of letters) for (const d of letters) {
      for (const text of [`${a}${b}${c}${d}`, `QUJD${a}${b}${c}${d}`]) {
        let decodes = true;
        try {
          decodeBody(text);
        } catch {
          decodes = false;
        }
        expect(isBase64(text), text).toBe(decodes);
      }
    }
  });
});
