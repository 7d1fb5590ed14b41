/**
 * Replays one event to the local handler: a POST of the exact body bytes with the original
 * headers (see {@link buildForwardHeaders}), to the `--forward-to` URL only, over a small pool of
 * keep-alive connections.
 *
 * The request goes out through the purpose-built HTTP/1.1 client in `http1/` rather than
 * `fetch` (which adds and reorders headers) or `node:http`: that writes the header bytes exactly
 * as listed too, but its request and response objects, streams and agent bookkeeping made up
 * much of the client's work per event; see `http1/connection.ts`.
 */
import { Buffer } from 'node:buffer';
import { isBase64, MAX_NACK_ERROR_LENGTH, type EventMessage } from '@myop-relay/protocol';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { buildForwardHeaders, type Resign } from './forward-headers.js';
import type { Connection, Exchange, Origin } from './http1/connection.js';
import { ConnectionPool } from './http1/pool.js';
import { encodeRequest, invalidHeader } from './http1/request.js';

/** A parsed `--forward-to` URL. */
export interface ForwardTarget {
  /** The URL as parsed (normalised by WHATWG rules). */
  readonly url: URL;
  /** Request target sent on the wire: the path and query exactly as given, `/` when empty. */
  readonly path: string;
  /** `Host` header value: host, plus the port when it is not the scheme's default. */
  readonly host: string;
  /** Origin plus {@link ForwardTarget.path}, for display. */
  readonly display: string;
}

/** {@link parseForwardTarget}'s answer. */
export type ForwardTargetResult = { ok: true; target: ForwardTarget } | { ok: false; reason: string };

const AUTHORITY = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#\\]*/;

/**
 * Parses a local handler URL: `http:` or `https:`, no `user:password@`. The path and query are
 * kept as typed (no dot-segment removal or re-encoding) unless they hold characters a request
 * line cannot carry, in which case the URL's percent-encoded form is used. A `#fragment` is
 * dropped, as browsers do.
 */
export function parseForwardTarget(text: string): ForwardTargetResult {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, reason: `"${text.slice(0, 200)}" is not a URL; use e.g. http://localhost:3000/webhooks/myoperator` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, reason: `must be an http:// or https:// URL, got ${url.protocol}` };
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'must not contain user:password@' };
  const authority = AUTHORITY.exec(text);
  let raw = authority === null ? '' : text.slice(authority[0].length);
  const hash = raw.indexOf('#');
  if (hash !== -1) raw = raw.slice(0, hash);
  if (raw === '' || raw.startsWith('?')) raw = `/${raw}`;
  const path = authority !== null && raw.startsWith('/') && /^[\x21-\x5b\x5d-\x7e]*$/.test(raw) ? raw : `${url.pathname}${url.search}`;
  return { ok: true, target: Object.freeze({ url, path, host: url.host, display: `${url.origin}${path}` }) };
}

/** How a forward ended. */
export interface ForwardOutcome {
  /** Whether the handler answered 2xx: the event gets an `ack`, otherwise a `nack`. */
  ok: boolean;
  /** The handler's HTTP status, when it answered at all. */
  status?: number;
  /**
   * Why there was no usable answer: the error code (`ECONNREFUSED`), `timeout after N ms`, or
   * `redirect not followed` for a 3xx.
   */
  error?: string;
  /** Milliseconds from sending the request to the end of the answer, or to the failure. */
  latencyMs: number;
  /** The start of the response body as text (at most {@link ForwarderOptions.keepResponseBytes} bytes), for display. */
  responseBody?: string;
}

/** Settings of a {@link Forwarder}. */
export interface ForwarderOptions {
  /** Where events go; see {@link parseForwardTarget}. */
  target: ForwardTarget;
  /** A handler that has not answered (headers and body) after this long fails the attempt. Default 10 000 ms. */
  timeoutMs?: number;
  /** Re-sign bodies for a handler that checks with its own secret. Default: keep the original signature. */
  resign?: Resign;
  /** Response body bytes kept for display; the rest is read and discarded. Default 65 536. */
  keepResponseBytes?: number;
  /**
   * Idle connections kept open for later forwards: as many as forwards can run at once (channels
   * × window). More forwards than this at once still each get a connection. Default 8, the
   * relay's default window.
   */
  connections?: number;
  /**
   * An idle connection is closed after this long. Default 1 000 ms: shorter than the keep-alive
   * timeout of common servers (Node's 5 s, gunicorn's 2 s), so a connection the handler is about
   * to close is rarely picked; one that is gets the retry described at {@link Forwarder.forward}.
   */
  idleConnectionMs?: number;
  /** Default {@link systemClock}. */
  clock?: Clock;
}

/** {@link ForwarderOptions} defaults. */
export const FORWARDER_DEFAULTS = Object.freeze({ timeoutMs: 10_000, keepResponseBytes: 64 * 1024, connections: 8, idleConnectionMs: 1_000 });

/**
 * What a request that went out on a reused connection meets when the handler had closed that
 * connection in the meantime: a reset, a write to a closed socket, or an end before any answer
 * (Node's "socket hang up", code ECONNRESET).
 */
const STALE_CONNECTION_ERRORS: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE']);

function isStaleConnectionError(error: unknown): boolean {
  const { code } = error as { code?: unknown };
  return typeof code === 'string' && STALE_CONNECTION_ERRORS.has(code);
}

// Node's own ERR_* codes name programming errors (an invalid header value, say); their message says more.
function describeError(error: unknown): string {
  const { code, message } = error as { code?: unknown; message?: unknown };
  const text = typeof code === 'string' && !code.startsWith('ERR_') ? code : typeof message === 'string' && message !== '' ? message : String(error);
  // A nack error is protocol text: no control characters, at most MAX_NACK_ERROR_LENGTH.
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').slice(0, MAX_NACK_ERROR_LENGTH) || 'request failed';
}

/** What every forward of one {@link Forwarder} shares. */
interface ForwardSettings {
  readonly path: string;
  readonly pool: ConnectionPool;
  readonly clock: Clock;
  readonly timeoutMs: number;
  readonly keepBytes: number;
}

/** One forward in flight: its attempts, the answer as it arrives, and its timeout. */
class PendingForward implements Exchange {
  readonly #settings: ForwardSettings;
  readonly #started: number;
  readonly #headers: string[];
  readonly #body: Uint8Array;
  readonly #resolve: (outcome: ForwardOutcome) => void;
  readonly #timer: TimerHandle;
  #connection: Connection | undefined;
  #pooled = true;
  #settled = false;
  #status: number | undefined;
  readonly #chunks: Buffer[] = [];
  #kept = 0;

  constructor(settings: ForwardSettings, started: number, headers: string[], body: Uint8Array, resolve: (outcome: ForwardOutcome) => void) {
    this.#settings = settings;
    this.#started = started;
    this.#headers = headers;
    this.#body = body;
    this.#resolve = resolve;
    this.#timer = settings.clock.setTimeout(() => this.#timedOut(), settings.timeoutMs);
    this.#send(settings.pool.acquire());
  }

  onHead(status: number): void {
    this.#status = status;
  }

  onBody(bytes: Buffer): void {
    const keep = this.#settings.keepBytes;
    if (this.#kept < keep) {
      const part = bytes.subarray(0, keep - this.#kept);
      this.#chunks.push(part);
      this.#kept += part.length;
    }
  }

  onEnd(): void {
    const connection = this.#connection;
    this.#connection = undefined;
    if (connection !== undefined) {
      if (this.#pooled) this.#settings.pool.release(connection);
      else connection.destroy();
    }
    this.#finish(this.#answered());
  }

  onError(error: Error, answerBegun: boolean): void {
    if (this.#settled) return;
    if (this.#pooled && this.#connection?.reused === true && !answerBegun && isStaleConnectionError(error)) {
      // A new connection outside the pool, so the second attempt cannot meet another stale one.
      this.#pooled = false;
      this.#send(this.#settings.pool.open());
      return;
    }
    this.#connection = undefined;
    this.#finish(this.#status === undefined ? { ok: false, error: describeError(error), latencyMs: this.#elapsed() } : this.#answered());
  }

  #send(connection: Connection): void {
    this.#connection = connection;
    connection.send(encodeRequest(this.#settings.path, this.#headers, this.#pooled ? 'keep-alive' : 'close', this.#body), this);
  }

  #timedOut(): void {
    const { timeoutMs } = this.#settings;
    this.#finish(this.#status === undefined ? { ok: false, error: `timeout after ${timeoutMs} ms`, latencyMs: this.#elapsed() } : this.#answered());
    this.#connection?.destroy();
    this.#connection = undefined;
  }

  #elapsed(): number {
    return Math.max(0, this.#settings.clock.now() - this.#started);
  }

  #answered(): ForwardOutcome {
    const code = this.#status ?? 0;
    const latencyMs = this.#elapsed();
    if (code >= 200 && code < 300) return { ok: true, status: code, latencyMs };
    if (code >= 300 && code < 400) return { ok: false, status: code, error: 'redirect not followed', latencyMs };
    return { ok: false, status: code, latencyMs };
  }

  #finish(outcome: ForwardOutcome): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#settings.clock.clearTimeout(this.#timer);
    if (this.#kept > 0) outcome.responseBody = Buffer.concat(this.#chunks).toString('utf8');
    this.#resolve(outcome);
  }
}

/** Sends events to one local handler. */
export class Forwarder {
  /** Where events go. */
  readonly target: ForwardTarget;
  readonly #resign: Resign | undefined;
  readonly #settings: ForwardSettings;

  /** @param options - see {@link ForwarderOptions}. */
  constructor(options: ForwarderOptions) {
    this.target = options.target;
    this.#resign = options.resign;
    const { url } = this.target;
    const secure = url.protocol === 'https:';
    const origin: Origin = {
      secure,
      // URL keeps IPv6 literals in brackets; the socket layer wants the bare address.
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
    };
    this.#settings = {
      path: this.target.path,
      // No cap on open connections: a forward never queues behind another, which would eat into
      // its timeout; the relay's window is what bounds them.
      pool: new ConnectionPool(origin, Math.max(1, options.connections ?? FORWARDER_DEFAULTS.connections), options.idleConnectionMs ?? FORWARDER_DEFAULTS.idleConnectionMs),
      clock: options.clock ?? systemClock,
      timeoutMs: options.timeoutMs ?? FORWARDER_DEFAULTS.timeoutMs,
      keepBytes: options.keepResponseBytes ?? FORWARDER_DEFAULTS.keepResponseBytes,
    };
  }

  /**
   * POSTs `event` to the target and reports the outcome. Never rejects: every failure becomes an
   * outcome with `ok: false`. Redirects are not followed (only the target's origin is ever
   * contacted). A header that is not safe to send (a name that is not an HTTP token, a value with
   * a control character such as CR or LF) fails the forward before anything is sent.
   *
   * Connections are kept open and reused. A request that fails on a reused connection before
   * any byte of an answer (the handler closed it while it sat idle) is sent once more on a new
   * connection; the handler may then see the event twice, which at-least-once delivery allows.
   * A failure on a new connection is the outcome. The timeout covers both attempts.
   */
  forward(event: EventMessage): Promise<ForwardOutcome> {
    const { clock } = this.#settings;
    const started = clock.now();
    let body: Uint8Array;
    let headers: string[];
    try {
      // Node's decoder is native, and lenient: the strict check comes first.
      if (!isBase64(event.body)) throw new RangeError('event body is not valid padded base64');
      body = Buffer.from(event.body, 'base64');
      headers = buildForwardHeaders(event, body, this.target.host, this.#resign);
    } catch (error) {
      return Promise.resolve({ ok: false, error: describeError(error), latencyMs: Math.max(0, clock.now() - started) });
    }
    const refused = invalidHeader(headers);
    if (refused !== undefined) return Promise.resolve({ ok: false, error: describeError(new Error(refused)), latencyMs: Math.max(0, clock.now() - started) });
    return new Promise<ForwardOutcome>((resolve) => {
      new PendingForward(this.#settings, started, headers, body, resolve);
    });
  }

  /**
   * Closes the connections kept for later forwards, so nothing holds the process open. Call it
   * once no forward is running; a later forward opens new connections.
   */
  close(): void {
    this.#settings.pool.close();
  }
}
