/**
 * The bytes of one forwarded request: `POST <path> HTTP/1.1`, the headers exactly as listed
 * (order, spelling, duplicates; each character one Latin-1 byte, as `node:http` writes them),
 * then the body, in one buffer so the request leaves in one write.
 */

/** Whether the connection is to carry further requests; sent as the last header. */
export type ConnectionMode = 'keep-alive' | 'close';

// The checks node:http makes, so a header it refused is refused here with the same words.
const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * Why a header cannot be sent, or undefined when all can: a name that is not an HTTP token, or a
 * value with a control character (CR or LF would let a value smuggle in headers or a request).
 *
 * @param headers - flat `[name, value, name, value, ...]`.
 */
export function invalidHeader(headers: readonly string[]): string | undefined {
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i] ?? '';
    if (!TOKEN.test(name)) return `Header name must be a valid HTTP token ["${name}"]`;
    if (INVALID_VALUE.test(headers[i + 1] ?? '')) return `Invalid character in header content ["${name}"]`;
  }
  return undefined;
}

/**
 * The request's bytes. Check the headers with {@link invalidHeader} first.
 *
 * @param path - the request target, e.g. `/webhooks/myoperator?x=1`.
 * @param headers - flat `[name, value, ...]`, written as given.
 * @param connection - the value of the `Connection` header added last.
 * @param body - the exact body bytes; `headers` carries their `Content-Length`.
 */
export function encodeRequest(path: string, headers: readonly string[], connection: ConnectionMode, body: Uint8Array): Buffer {
  let head = `POST ${path} HTTP/1.1\r\n`;
  for (let i = 0; i + 1 < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  head += `Connection: ${connection}\r\n\r\n`;
  const bytes = Buffer.allocUnsafe(head.length + body.byteLength);
  bytes.write(head, 0, 'latin1');
  bytes.set(body, head.length);
  return bytes;
}
