/**
 * A curl command that sends a stored event again exactly as it arrived: method, the channel's
 * ingest URL, the stored headers in their order and spelling (the signature included), and the
 * body's exact bytes. Runs in a POSIX shell (sh, bash, zsh). No DOM here, so it is tested on Node.
 */

/** What {@link curlCommand} reproduces. */
export interface CurlRequest {
  /** Full URL, e.g. `https://relay.example.com/hooks/myoperator`. */
  url: string;
  /** Stored header pairs. */
  headers: readonly (readonly [string, string])[];
  body: Uint8Array;
  /**
   * When set, the body is read from this file (`--data-binary @file`) instead of being written
   * into the command: for bodies too large for a command line. The page names the downloaded body.
   */
  bodyFile?: string;
}

/** Headers curl writes itself from the URL and the body: the stored values would be wrong or duplicated. */
const WRITTEN_BY_CURL = new Set(['host', 'content-length']);

/** Quotes `text` for a POSIX shell: single quotes, each `'` as `'\''`. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** Length of the UTF-8 sequence that starts with `lead`, or 0 when `lead` cannot start one. */
function sequenceLength(lead: number): number {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The character a valid, printable UTF-8 sequence at `bytes[i]` spells, or undefined. */
function printableSequence(bytes: Uint8Array, i: number): string | undefined {
  const length = sequenceLength(bytes[i] ?? 0);
  if (length === 0 || i + length > bytes.length) return undefined;
  let text: string;
  try {
    text = strictUtf8.decode(bytes.subarray(i, i + length));
  } catch {
    return undefined;
  }
  // C1 controls, the byte-order mark, line and paragraph separators and bidi controls are
  // written as escapes: shown raw they would hide or reorder what the command does.
  return /^[\u0080-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]$/u.test(text) ? undefined : text;
}

/**
 * The body as a `printf` format in single quotes: printable ASCII and UTF-8 as they are, `%` as
 * `%%`, backslash as `\\`, and every other byte as a three-digit octal escape (`\047` for `'`),
 * which POSIX printf turns back into that byte, NUL included.
 */
export function printfFormat(body: Uint8Array): string {
  let out = '';
  for (let i = 0; i < body.length; ) {
    const b = body[i] ?? 0;
    if (b === 0x25) out += '%%';
    else if (b === 0x5c) out += '\\\\';
    else if (b === 0x0a) out += '\\n';
    else if (b === 0x09) out += '\\t';
    // A leading '-' would be read as an option by some shells' printf.
    else if (b >= 0x20 && b < 0x7f && b !== 0x27 && !(i === 0 && b === 0x2d)) out += String.fromCharCode(b);
    else if (b >= 0x80) {
      const char = printableSequence(body, i);
      if (char !== undefined) {
        out += char;
        i += sequenceLength(b);
        continue;
      }
      out += `\\${b.toString(8).padStart(3, '0')}`;
    } else out += `\\${b.toString(8).padStart(3, '0')}`;
    i += 1;
  }
  return `'${out}'`;
}

/** The command; see {@link CurlRequest}. */
export function curlCommand(request: CurlRequest): string {
  const parts: string[] = [];
  const names = new Set(request.headers.map(([name]) => name.toLowerCase()));
  const inline = request.bodyFile === undefined;
  if (inline) parts.push(`printf ${printfFormat(request.body)} |`);
  parts.push('curl', '-sS', '-X', 'POST', shellQuote(request.url));
  for (const [name, value] of request.headers) {
    if (WRITTEN_BY_CURL.has(name.toLowerCase())) continue;
    parts.push('-H', shellQuote(`${name}: ${value}`));
  }
  // curl adds these unless told not to; the original request did not carry them.
  for (const name of ['User-Agent', 'Accept', 'Content-Type', 'Expect']) {
    if (!names.has(name.toLowerCase())) parts.push('-H', shellQuote(`${name}:`));
  }
  parts.push('--data-binary', inline ? '@-' : shellQuote(`@${request.bodyFile ?? ''}`));
  return parts.join(' ');
}
