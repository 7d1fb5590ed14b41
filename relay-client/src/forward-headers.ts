/**
 * The request headers of a forwarded event: the original ones in order and spelling, minus what
 * describes the relay's connection rather than the event or may not be forwarded, plus the
 * `X-Relay-*` headers.
 */
import { createHmac } from 'node:crypto';
import { HOP_BY_HOP_HEADERS, type EventMessage } from '@myop-relay/protocol';

export { HOP_BY_HOP_HEADERS };

/** Header naming the relay's event id; the same on every redelivery, so handlers can deduplicate. */
export const EVENT_ID_HEADER = 'X-Relay-Event-Id';

/** The headers relay-client adds. Originals of the same names are dropped so a handler can trust them. */
const RELAY_HEADERS: ReadonlySet<string> = new Set(
  [EVENT_ID_HEADER, 'X-Relay-Channel', 'X-Relay-Seq', 'X-Relay-Attempt', 'X-Relay-Received-At', 'X-Relay-Synthetic', 'X-Relay-Replay'].map((h) =>
    h.toLowerCase(),
  ),
);

/** Default header of `--resign-secret`: MyOperator's signature header. */
export const DEFAULT_SIGNATURE_HEADER = 'X-MyOperator-Signature';

/** Replacing the signature (`--resign-secret`) for handlers that verify with their own secret. */
export interface Resign {
  /** HMAC-SHA256 key. */
  secret: string;
  /** Header to replace or add, matched case-insensitively. Default {@link DEFAULT_SIGNATURE_HEADER}. */
  header?: string;
}

/** Lowercase hex HMAC-SHA256 of `body` under `secret`: MyOperator's signature format. */
export function signBody(body: Uint8Array, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/**
 * The HTTP client writes header strings as Latin-1, one byte per character, which is exactly how
 * the relay read them; only text above U+00FF (which no header can carry) can have come from UTF-8, so
 * it goes back out as its UTF-8 bytes.
 */
function wireValue(value: string): string {
  return /[^\u0000-\u00ff]/.test(value) ? Buffer.from(value, 'utf8').toString('latin1') : value;
}

/** Event ids may be any Unicode; a header gets visible ASCII, percent-encoded (UTF-8) otherwise. */
function asciiValue(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

/**
 * What the HTTP client writes itself, from the target and the body: `Host` (the `--forward-to`
 * authority) and `Content-Length` (the body's length). Originals of these names are not copied.
 */
const WRITTEN_BY_CLIENT: ReadonlySet<string> = new Set(['host', 'content-length']);

/**
 * Headers a forwarded request may not carry besides the hop-by-hop ones: `Expect` asks the
 * handler for a `100 Continue` the relay-client never waits for (the body is sent at once).
 */
const NOT_FORWARDED: ReadonlySet<string> = new Set(['expect']);

/**
 * The headers to send besides `Host` and `Content-Length`, as a flat `[name, value, name, value,
 * ...]` list (Node's `rawHeaders` form), which keeps order, spelling and duplicates.
 *
 * - Hop-by-hop headers ({@link HOP_BY_HOP_HEADERS}: `Connection`, `Keep-Alive`,
 *   `Transfer-Encoding`, `Upgrade`, `TE`, `Trailer`, `Proxy-*`), those the original `Connection`
 *   header names, and `Expect` are dropped: they describe the sender's connection to the relay,
 *   not the event.
 * - `Host` and `Content-Length` are dropped too: the HTTP client writes them for the
 *   `--forward-to` authority and the body.
 * - With `resign`, the signature header gets the body's HMAC under the new secret, in place, or is
 *   added after the originals.
 * - `X-Relay-Event-Id`, `-Channel`, `-Seq`, `-Attempt`, `-Received-At`, and `-Synthetic: 1` /
 *   `-Replay: 1` when set, come last; originals of these names are dropped.
 *
 * @param event - the delivered event.
 * @param body - its decoded body bytes.
 * @param resign - see {@link Resign}; default: the original signature is kept.
 */
export function buildForwardHeaders(event: EventMessage, body: Uint8Array, resign?: Resign): string[] {
  let connectionNamed: Set<string> | undefined;
  for (const [name, value] of event.headers) {
    if (name.length !== 10 || name.toLowerCase() !== 'connection') continue;
    connectionNamed ??= new Set();
    for (const token of value.split(',')) connectionNamed.add(token.trim().toLowerCase());
  }
  const signatureHeader = resign === undefined ? undefined : (resign.header ?? DEFAULT_SIGNATURE_HEADER);
  const signatureLower = signatureHeader?.toLowerCase();
  const signature = resign === undefined ? undefined : signBody(body, resign.secret);

  const out: string[] = [];
  let hasSignature = false;
  for (const [name, value] of event.headers) {
    const lower = name.toLowerCase();
    if (HOP_BY_HOP_HEADERS.has(lower) || connectionNamed?.has(lower) === true || NOT_FORWARDED.has(lower) || WRITTEN_BY_CLIENT.has(lower) || RELAY_HEADERS.has(lower)) continue;
    if (signature !== undefined && lower === signatureLower) {
      if (!hasSignature) out.push(name, signature);
      hasSignature = true;
    } else {
      out.push(name, wireValue(value));
    }
  }
  if (signature !== undefined && signatureHeader !== undefined && !hasSignature) out.push(signatureHeader, signature);
  out.push(
    EVENT_ID_HEADER,
    asciiValue(event.id),
    'X-Relay-Channel',
    event.channel,
    'X-Relay-Seq',
    String(event.seq),
    'X-Relay-Attempt',
    String(event.attempt),
    'X-Relay-Received-At',
    event.receivedAt,
  );
  if (event.synthetic) out.push('X-Relay-Synthetic', '1');
  if (event.replay) out.push('X-Relay-Replay', '1');
  return out;
}

// The checks the HTTP client makes (RFC 9110 tokens and field values), made again once it
// refused a request, so the failure names the header.
const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * Why a header cannot be sent, or undefined when all can: a name that is not an HTTP token, or a
 * value with a control character (CR or LF would let a value smuggle in headers or a request).
 *
 * @param headers - flat `[name, value, name, value, ...]`, as {@link buildForwardHeaders} returns.
 */
export function unsendableHeader(headers: readonly string[]): string | undefined {
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i] ?? '';
    if (!TOKEN.test(name)) return `Header name must be a valid HTTP token ["${name}"]`;
    if (INVALID_VALUE.test(headers[i + 1] ?? '')) return `Invalid character in header content ["${name}"]`;
  }
  return undefined;
}
