/**
 * Reads one HTTP/1.x response to a POST as its bytes arrive, in any split: skips interim 1xx
 * answers, frames the body (chunked, `Content-Length`, or until the connection closes), and
 * says whether the connection may carry another request. It keeps nothing of the answer but its
 * status and a few framing headers, so reading a small answer costs one string for the head.
 *
 * Errors carry the codes Node's own parser (llhttp) uses, so an outcome reads as it did when
 * forwarding went through `node:http`.
 */

/** Default {@link ResponseParser} limit on a head (status line and headers), in bytes: Node's `--max-http-header-size`. */
export const MAX_HEAD_BYTES = 16 * 1024;

/** A response that breaks HTTP/1.1 framing or the parser's limits. */
export class ResponseError extends Error {
  /** An llhttp code, e.g. `HPE_INVALID_STATUS`. */
  readonly code: string;

  /**
   * @param code - see {@link ResponseError.code}.
   * @param message - what was wrong.
   */
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ResponseError';
    this.code = code;
  }
}

/** Where a {@link ResponseParser} delivers what it read. */
export interface ResponseSink {
  /** The final status line and headers arrived (interim 1xx ones are skipped, 101 is final). */
  onHead(status: number): void;
  /** Body bytes, dechunked; a view into the chunk given to {@link ResponseParser.feed}. */
  onBody(bytes: Buffer): void;
}

// States of the parser.
const HEAD = 0;
const BODY_LENGTH = 1;
const BODY_UNTIL_CLOSE = 2;
const CHUNK_SIZE = 3;
const CHUNK_DATA = 4;
const CHUNK_DATA_END = 5;
const TRAILERS = 6;
const DONE = 7;

const LF = 0x0a;
const CR = 0x0d;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const DIGITS = /^[0-9]+$/;
const HEX = /^[0-9A-Fa-f]{1,12}$/;

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

/** Whether a comma-separated header value lists `token` (case-insensitive). */
function listsToken(value: string, token: string): boolean {
  for (const item of value.split(',')) if (item.trim().toLowerCase() === token) return true;
  return false;
}

/**
 * Where the head in `buf[from, to)` ends: the index after the empty line that closes it, or -1.
 * Lines end in LF with an optional CR before it.
 */
function headEnd(buf: Buffer, from: number, to: number): number {
  let lf = buf.indexOf(LF, from);
  while (lf !== -1 && lf < to) {
    if (lf + 1 < to && buf[lf + 1] === LF) return lf + 2;
    if (lf + 2 < to && buf[lf + 1] === CR && buf[lf + 2] === LF) return lf + 3;
    lf = buf.indexOf(LF, lf + 1);
  }
  return -1;
}

/**
 * One response at a time: {@link ResponseParser.start} before each request, then
 * {@link ResponseParser.feed} every chunk read, and {@link ResponseParser.end} when the
 * connection ends. `feed` throws a {@link ResponseError} on a malformed answer.
 */
export class ResponseParser {
  /** Whether the whole response has been read. */
  done = false;
  /** Whether bytes arrived beyond the response: the connection's framing can no longer be trusted. */
  overrun = false;
  /** Whether the server lets the connection carry another request, known once the head is read. */
  keepAlive = false;
  readonly #sink: ResponseSink;
  readonly #maxHeadBytes: number;
  #state = HEAD;
  /** A head split across chunks, gathered until its end arrives. */
  #pending: Buffer | undefined;
  #pendingLength = 0;
  /** Body bytes still due: of the `Content-Length`, or of the current chunk. */
  #remaining = 0;
  /** A chunk-size or trailer line split across chunks. */
  #line = '';
  #trailerBytes = 0;
  /** Where {@link ResponseParser.feed} is in its chunk. */
  #at = 0;

  /**
   * @param sink - receives the status and body.
   * @param maxHeadBytes - a longer head (or chunk-size line, or trailer section) is an error. Default {@link MAX_HEAD_BYTES}.
   */
  constructor(sink: ResponseSink, maxHeadBytes = MAX_HEAD_BYTES) {
    this.#sink = sink;
    this.#maxHeadBytes = maxHeadBytes;
  }

  /** Expects a new response. */
  start(): void {
    this.done = false;
    this.overrun = false;
    this.keepAlive = false;
    this.#state = HEAD;
    this.#pending = undefined;
    this.#pendingLength = 0;
    this.#line = '';
    this.#trailerBytes = 0;
  }

  /** Reads the next bytes from the connection. */
  feed(chunk: Buffer): void {
    this.#at = 0;
    while (this.#at < chunk.length) {
      switch (this.#state) {
        case HEAD:
          this.#readHead(chunk);
          break;
        case BODY_LENGTH:
          if (this.#readCounted(chunk)) this.#finish();
          break;
        case BODY_UNTIL_CLOSE:
          this.#sink.onBody(this.#at === 0 ? chunk : chunk.subarray(this.#at));
          this.#at = chunk.length;
          break;
        case CHUNK_DATA:
          if (this.#readCounted(chunk)) this.#state = CHUNK_DATA_END;
          break;
        case CHUNK_SIZE:
        case CHUNK_DATA_END:
        case TRAILERS: {
          const line = this.#readLine(chunk);
          if (line !== undefined) this.#chunkLine(line);
          break;
        }
        default:
          this.overrun = true;
          return;
      }
    }
  }

  /** The connection ended: completes a body read until close. Answers whether the response is complete; if not, it was cut short. */
  end(): boolean {
    if (this.#state === BODY_UNTIL_CLOSE) this.#finish();
    return this.done;
  }

  /** Passes on body bytes still due (of the `Content-Length` or the chunk); answers whether they are all read. */
  #readCounted(chunk: Buffer): boolean {
    const take = Math.min(this.#remaining, chunk.length - this.#at);
    this.#sink.onBody(chunk.subarray(this.#at, this.#at + take));
    this.#at += take;
    this.#remaining -= take;
    return this.#remaining === 0;
  }

  #finish(): void {
    this.#state = DONE;
    this.done = true;
  }

  #readHead(chunk: Buffer): void {
    const from = this.#at;
    if (this.#pending === undefined) {
      const end = headEnd(chunk, from, chunk.length);
      if (end !== -1 && end - from <= this.#maxHeadBytes) {
        this.#at = end;
        this.#head(chunk.toString('latin1', from, end));
        return;
      }
      if (end !== -1) throw new ResponseError('HPE_HEADER_OVERFLOW', `the response head is longer than ${this.#maxHeadBytes} bytes`);
    }
    // A head split across chunks: gather it, looking for its end only in what is new (and the
    // two bytes before, where a terminator may have begun).
    const scanFrom = Math.max(0, this.#pendingLength - 2);
    const room = this.#maxHeadBytes + 1 - this.#pendingLength;
    const take = Math.min(room, chunk.length - from);
    if (this.#pending === undefined || this.#pending.length - this.#pendingLength < take) {
      const grown = Buffer.allocUnsafe(Math.min(this.#maxHeadBytes + 1, Math.max(1024, 2 * (this.#pendingLength + take))));
      this.#pending?.copy(grown, 0, 0, this.#pendingLength);
      this.#pending = grown;
    }
    chunk.copy(this.#pending, this.#pendingLength, from, from + take);
    const before = this.#pendingLength;
    this.#pendingLength += take;
    const end = headEnd(this.#pending, scanFrom, this.#pendingLength);
    if (end === -1 || end > this.#maxHeadBytes) {
      if (this.#pendingLength > this.#maxHeadBytes) throw new ResponseError('HPE_HEADER_OVERFLOW', `the response head is longer than ${this.#maxHeadBytes} bytes`);
      this.#at = from + take;
      return;
    }
    const text = this.#pending.toString('latin1', 0, end);
    this.#pending = undefined;
    this.#pendingLength = 0;
    this.#at = from + (end - before);
    this.#head(text);
  }

  /** Parses a complete head (it ends in its empty line) and picks the body's framing. */
  #head(text: string): void {
    // Status line: HTTP/1.x NNN[ reason]
    let eol = text.indexOf('\n');
    const lineEnd = text.charCodeAt(eol - 1) === CR ? eol - 1 : eol;
    if (!text.startsWith('HTTP/1.') || !isDigit(text.charCodeAt(7)) || text.charCodeAt(8) !== 0x20) {
      throw new ResponseError('HPE_INVALID_CONSTANT', 'the answer does not start with an HTTP/1.x status line');
    }
    if (!isDigit(text.charCodeAt(9)) || !isDigit(text.charCodeAt(10)) || !isDigit(text.charCodeAt(11)) || (lineEnd > 12 && text.charCodeAt(12) !== 0x20) || lineEnd < 12) {
      throw new ResponseError('HPE_INVALID_STATUS', 'the status line has no valid three-digit status');
    }
    const status = Number(text.slice(9, 12));
    if (status < 100) throw new ResponseError('HPE_INVALID_STATUS', 'the status line has no valid three-digit status');
    const http10 = text.charCodeAt(7) === 0x30;

    let connection: string | undefined;
    let transferEncoding: string | undefined;
    let contentLength: string | undefined;
    // The framing header the previous line set, so an obs-fold continuation line extends it.
    let last: 'connection' | 'transfer-encoding' | 'content-length' | undefined;
    for (let at = eol + 1; ; at = eol + 1) {
      eol = text.indexOf('\n', at);
      const end = text.charCodeAt(eol - 1) === CR ? eol - 1 : eol;
      if (end === at) break;
      const first = text.charCodeAt(at);
      let value: string;
      if (first === 0x20 || first === 0x09) {
        value = text.slice(at, end).trim();
        if (last === 'connection') connection = `${connection} ${value}`;
        else if (last === 'transfer-encoding') transferEncoding = `${transferEncoding} ${value}`;
        else if (last === 'content-length') throw new ResponseError('HPE_INVALID_CONTENT_LENGTH', 'Content-Length continues on a folded line');
        continue;
      }
      const colon = text.indexOf(':', at);
      if (colon === -1 || colon > end) throw new ResponseError('HPE_INVALID_HEADER_TOKEN', 'a header line has no colon');
      const name = text.slice(at, colon);
      if (!TOKEN.test(name)) throw new ResponseError('HPE_INVALID_HEADER_TOKEN', 'a header name is not an HTTP token');
      last = undefined;
      const length = colon - at;
      if (length !== 10 && length !== 14 && length !== 17) continue;
      const lower = name.toLowerCase();
      if (lower === 'connection') {
        value = text.slice(colon + 1, end).trim();
        connection = connection === undefined ? value : `${connection}, ${value}`;
        last = lower;
      } else if (lower === 'transfer-encoding') {
        value = text.slice(colon + 1, end).trim();
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
        last = lower;
      } else if (lower === 'content-length') {
        contentLength = this.#contentLength(text.slice(colon + 1, end), contentLength);
        last = lower;
      }
    }

    if (status < 200 && status !== 101) return; // interim: the final answer follows
    this.keepAlive = connection === undefined ? !http10 : !listsToken(connection, 'close') && (!http10 || listsToken(connection, 'keep-alive'));
    this.#sink.onHead(status);
    if (status < 200 || status === 204 || status === 304) {
      if (status === 101) this.keepAlive = false;
      this.#finish();
    } else if (transferEncoding !== undefined) {
      // A message with both is how request smuggling starts: Transfer-Encoding wins, and the
      // connection is not trusted with another request.
      if (contentLength !== undefined) this.keepAlive = false;
      const codings = transferEncoding.split(',');
      if ((codings[codings.length - 1] ?? '').trim().toLowerCase() === 'chunked') {
        this.#state = CHUNK_SIZE;
      } else {
        this.keepAlive = false;
        this.#state = BODY_UNTIL_CLOSE;
      }
    } else if (contentLength !== undefined) {
      this.#remaining = Number(contentLength);
      if (this.#remaining === 0) this.#finish();
      else this.#state = BODY_LENGTH;
    } else {
      this.keepAlive = false;
      this.#state = BODY_UNTIL_CLOSE;
    }
  }

  /** Checks one `Content-Length` field (perhaps a list) against the ones before it. */
  #contentLength(field: string, before: string | undefined): string {
    let length = before;
    for (const item of field.split(',')) {
      const value = item.trim();
      if (!DIGITS.test(value) || !Number.isSafeInteger(Number(value))) throw new ResponseError('HPE_INVALID_CONTENT_LENGTH', 'Content-Length is not a number');
      if (length !== undefined && Number(length) !== Number(value)) throw new ResponseError('HPE_UNEXPECTED_CONTENT_LENGTH', 'the response has conflicting Content-Length values');
      length = value;
    }
    if (length === undefined) throw new ResponseError('HPE_INVALID_CONTENT_LENGTH', 'Content-Length is empty');
    return length;
  }

  /** The next line of a chunked body without its CR LF, or undefined when it has not all arrived. */
  #readLine(chunk: Buffer): string | undefined {
    const lf = chunk.indexOf(LF, this.#at);
    const end = lf === -1 ? chunk.length : lf;
    const part = chunk.toString('latin1', this.#at, end);
    this.#at = lf === -1 ? chunk.length : lf + 1;
    const line = this.#line === '' ? part : this.#line + part;
    if (line.length > this.#maxHeadBytes) throw new ResponseError('HPE_HEADER_OVERFLOW', `a line of the chunked body is longer than ${this.#maxHeadBytes} bytes`);
    if (lf === -1) {
      this.#line = line;
      return undefined;
    }
    this.#line = '';
    return line.endsWith('\r') ? line.slice(0, -1) : line;
  }

  #chunkLine(line: string): void {
    if (this.#state === CHUNK_DATA_END) {
      if (line !== '') throw new ResponseError('HPE_STRICT', 'chunk data is longer than its size');
      this.#state = CHUNK_SIZE;
    } else if (this.#state === CHUNK_SIZE) {
      // size [; extension...]: extensions carry nothing a forward needs.
      const semicolon = line.indexOf(';');
      const size = (semicolon === -1 ? line : line.slice(0, semicolon)).trimEnd();
      if (!HEX.test(size)) throw new ResponseError('HPE_INVALID_CHUNK_SIZE', 'a chunk size is not a hexadecimal number');
      this.#remaining = parseInt(size, 16);
      this.#state = this.#remaining === 0 ? TRAILERS : CHUNK_DATA;
    } else if (line === '') {
      this.#finish();
    } else {
      this.#trailerBytes += line.length + 2;
      if (this.#trailerBytes > this.#maxHeadBytes) throw new ResponseError('HPE_HEADER_OVERFLOW', `the trailers are longer than ${this.#maxHeadBytes} bytes`);
    }
  }
}
