/** Counting UTF-8 bytes of text without encoding it, for the message-size check. */

/**
 * UTF-8 length of `text` as a WebSocket sends it (an unpaired surrogate becomes the 3-byte
 * U+FFFD). Stops counting once past `limit`, because a size check does not need the exact
 * figure of a message it refuses.
 *
 * @param limit - default: count everything.
 */
export function utf8ByteLength(text: string, limit = Number.POSITIVE_INFINITY): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3;
    if (bytes > limit) return bytes;
  }
  return bytes;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}
