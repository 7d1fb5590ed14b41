/** Header pairs in their received order and spelling, as events store and carry them. */
export type HeaderPairs = [name: string, value: string][];

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1), lowercase: they describe one connection, not the event,
 * so the relay neither stores them nor forwards them.
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

// RFC 9110 §5.6.2: tchar.
const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Lone surrogates are refused because the store and the local HTTP request need encodable text.
const BAD_HEADER_VALUE = /[\r\n\0]|[\uD800-\uDFFF]/u;

/** Whether `name` is an HTTP token (RFC 9110 §5.6.2), the form of a header name. */
export function isHttpToken(name: string): boolean {
  return HTTP_TOKEN.test(name);
}

/**
 * Why `value` cannot be a header value the relay stores and forwards, or `undefined` when it can:
 * no CR, LF or NUL (they would split or end the header), no unpaired surrogates.
 */
export function headerValueProblem(value: string): string | undefined {
  return BAD_HEADER_VALUE.test(value) ? 'must not contain CR, LF, NUL or unpaired surrogates' : undefined;
}
