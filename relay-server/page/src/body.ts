/**
 * Readings of a stored body: its exact bytes, pretty JSON, a legacy form decoded, and a raw view
 * that shows every byte (those that are not printable as `\xNN`). No DOM here.
 */

/** The body's bytes from the API's base64. */
export function decodeBase64(base64: string): Uint8Array<ArrayBuffer> {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The exact bytes as text: printable ASCII as itself, CR, LF and tab kept, anything else `\xNN` (UTF-8 text stays readable). */
export function rawView(bytes: Uint8Array, text: string | null): string {
  if (text !== null) return text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/gu, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  let out = '';
  for (const b of bytes) out += b === 0x0a || b === 0x0d || b === 0x09 || (b >= 0x20 && b < 0x7f) ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return out;
}

/** What the body reads as. */
export type BodyReading =
  | { kind: 'json'; pretty: string }
  | { kind: 'form'; fields: [string, string][]; myoperator?: string }
  | { kind: 'text' }
  | { kind: 'binary' };

/**
 * JSON when it parses (re-indented for reading: the stored bytes are unchanged); a form when the
 * content type says so, with MyOperator's legacy `myoperator=<json>` field pretty-printed.
 */
export function readBody(text: string | null, contentType: string | undefined): BodyReading {
  if (text === null) return { kind: 'binary' };
  const media = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (media === 'application/x-www-form-urlencoded') {
    const fields = [...new URLSearchParams(text).entries()];
    const legacy = fields.find(([name]) => name === 'myoperator')?.[1];
    const pretty = legacy === undefined ? undefined : prettyJson(legacy);
    return { kind: 'form', fields, ...(pretty !== undefined ? { myoperator: pretty } : {}) };
  }
  const pretty = prettyJson(text);
  return pretty === undefined ? { kind: 'text' } : { kind: 'json', pretty };
}

function prettyJson(text: string): string | undefined {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return undefined;
  }
}

/** A Webhook v2 body's `event_sequence` and `timestamp`, for ordering a session's events. */
export function sessionOrder(text: string | null): { sequence: number | undefined; timestamp: string | undefined } {
  if (text === null) return { sequence: undefined, timestamp: undefined };
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return { sequence: undefined, timestamp: undefined };
    const record = value as Record<string, unknown>;
    const sequence = Number(record['event_sequence']);
    const timestamp = record['timestamp'];
    return {
      sequence: record['event_sequence'] === undefined || record['event_sequence'] === null || !Number.isFinite(sequence) ? undefined : sequence,
      timestamp: typeof timestamp === 'string' ? timestamp : undefined,
    };
  } catch {
    return { sequence: undefined, timestamp: undefined };
  }
}

/** A file name for the downloaded body: the event id with anything unusual replaced. */
export function bodyFileName(channel: string, id: string): string {
  return `${channel}-${id}`.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120) + '.body';
}
