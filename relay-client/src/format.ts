/**
 * Turning relay data into text for a terminal: times, sizes, tables, and event bodies shown the
 * way a developer reads them (pretty JSON, legacy form fields decoded). Everything that came over
 * the network passes through {@link clean} before it is printed.
 */

/** Terminal control characters from the network (a header, a response body, an OS error text) must not reach the terminal. */
export function clean(text: string, max = 200): string {
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** Local wall-clock time, `10:03:59`. */
export function clock(date: Date): string {
  return [date.getHours(), date.getMinutes(), date.getSeconds()].map(pad2).join(':');
}

/** An ISO time from the relay as local `2025-08-26 10:03:59`; text that is not a time is shown cleaned. */
export function localTime(iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return '-';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return clean(iso, 40);
  return `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())} ${clock(date)}`;
}

/** A byte count for people: `812 B`, `1.2 KiB`, `3.4 MiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** The first line of `text` that is not blank; empty when there is none. */
export function firstLine(text: string): string {
  return text.split(/\r\n|\r|\n/).find((line) => line.trim() !== '') ?? '';
}

/** An age for people: `0.4s`, `12s`, `5m`, `3h`, `2d`. */
export function formatAge(ms: number): string {
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 120_000) return `${Math.round(ms / 1000)}s`;
  if (ms < 2 * 3_600_000) return `${Math.round(ms / 60_000)}m`;
  if (ms < 2 * 86_400_000) return `${Math.round(ms / 3_600_000)}h`;
  return `${Math.round(ms / 86_400_000)}d`;
}

/** Rows as aligned columns under a header row; cells are cleaned. */
export function tableLines(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const cleaned = rows.map((row) => row.map((cell) => clean(cell, 120)));
  const widths = header.map((h, i) => Math.max(h.length, ...cleaned.map((r) => (r[i] ?? '').length)));
  const format = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [format(header), ...cleaned.map(format)];
}

/** Words joined by `separator` into lines of at most `width` characters, each after `indent`. */
export function wrapList(words: readonly string[], width: number, indent: string, separator = ', '): string[] {
  const lines: string[] = [];
  let current = '';
  for (const [index, word] of words.entries()) {
    const piece = index < words.length - 1 ? `${word}${separator.trimEnd()}` : word;
    if (current !== '' && indent.length + current.length + 1 + piece.length > width) {
      lines.push(`${indent}${current}`);
      current = piece;
    } else {
      current = current === '' ? piece : `${current} ${piece}`;
    }
  }
  if (current !== '') lines.push(`${indent}${current}`);
  return lines;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A body as readable sections; the stored bytes themselves are never changed. */
export interface BodyView {
  /** Size in bytes. */
  bytes: number;
  /** The body as UTF-8 text, or null when it is not UTF-8. */
  text: string | null;
  /** The body parsed as JSON, when it is JSON. */
  json?: unknown;
  /** Fields of a form body (MyOperator's legacy v1 `myoperator=<json>`), each value parsed as JSON where it is JSON. */
  form?: [string, unknown][];
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/**
 * Reads a stored body for display: JSON is parsed; a form body (by its `Content-Type`, or by its
 * look when the header is missing) is split into fields whose JSON values are parsed too.
 *
 * @param body - the exact body bytes.
 * @param contentType - the event's `Content-Type` header, if any.
 */
export function viewBody(body: Uint8Array, contentType: string | undefined): BodyView {
  let text: string | null;
  try {
    text = strictUtf8.decode(body);
  } catch {
    text = null;
  }
  const view: BodyView = { bytes: body.byteLength, text };
  if (text === null) return view;
  const json = parseJson(text);
  if (json.ok) {
    view.json = json.value;
    return view;
  }
  const looksLikeForm = /^[\w.%-]+=/.test(text) && !/\s/.test(text.trim());
  if ((contentType ?? '').toLowerCase().includes('application/x-www-form-urlencoded') || looksLikeForm) {
    view.form = [...new URLSearchParams(text)].map(([key, value]) => {
      const parsed = parseJson(value);
      return [key, parsed.ok ? parsed.value : value];
    });
  }
  return view;
}

/** The value of a header, by case-insensitive name; the first when repeated. */
export function headerValue(headers: readonly (readonly [string, string])[], name: string): string | undefined {
  const lower = name.toLowerCase();
  return headers.find(([n]) => n.toLowerCase() === lower)?.[1];
}

/**
 * JSON pretty-printed for reading, every line after `indent`. Strings keep their escapes, so no
 * control character from the body reaches the terminal raw.
 */
export function prettyJson(value: unknown, indent = '  '): string[] {
  return (JSON.stringify(value, null, 2) ?? 'null').split('\n').map((l) => `${indent}${l}`);
}
