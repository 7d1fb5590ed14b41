/**
 * Base64 as the protocol carries bytes (RFC 4648, standard alphabet, padded): `event.body` and an
 * answer's `responseBody`. Strict, so every byte string has exactly one accepted encoding.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DECODE_TABLE = (() => {
  const table = new Int8Array(128).fill(-1);
  for (let i = 0; i < ALPHABET.length; i++) table[ALPHABET.charCodeAt(i)] = i;
  return table;
})();
const PAD = 0x3d; // '='

// The alphabet, then at most two `=`; with the length a multiple of 4 that places padding right.
const BASE64_SHAPE = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Whether `value` is strict base64, the form of `event.body`: the standard alphabet, the length a
 * multiple of 4, padding only at the end, no whitespace, and the unused bits before the padding
 * zero, so every byte string has exactly one accepted encoding. Runtimes decode bodies with their
 * own decoder (`Buffer`, `Uint8Array.fromBase64`) once this holds.
 */
export function isBase64(value: string): boolean {
  const n = value.length;
  if (n % 4 !== 0 || !BASE64_SHAPE.test(value)) return false;
  // A regular expression runs through long bodies faster than a loop; the unused bits are checked here.
  if (value.charCodeAt(n - 1) !== PAD) return true;
  return value.charCodeAt(n - 2) === PAD ? (sextet(value, n - 3) & 0x0f) === 0 : (sextet(value, n - 2) & 0x03) === 0;
}

/** Bytes that the strict base64 `value` (see {@link isBase64}) decodes to. */
export function base64ByteLength(value: string): number {
  const n = value.length;
  const padding = n === 0 ? 0 : value.charCodeAt(n - 1) !== PAD ? 0 : value.charCodeAt(n - 2) === PAD ? 2 : 1;
  return (n / 4) * 3 - padding;
}

function sextet(s: string, i: number): number {
  const code = s.charCodeAt(i);
  return code < 128 ? DECODE_TABLE[code]! : -1;
}
