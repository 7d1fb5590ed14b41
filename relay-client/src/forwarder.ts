/**
 * Replays one event to the local handler: a POST of the exact body bytes with the original
 * headers (see {@link buildForwardHeaders}), to the `--forward-to` URL only, through undici's
 * connection pool (at most {@link ForwarderOptions.connections} keep-alive connections).
 *
 * undici writes the headers as listed (order, spelling, duplicates) after its own `host` and
 * `connection`, then `content-length` and the body, and parses the answer with llhttp. `fetch`
 * is not used: it lowercases, merges and sorts headers.
 */
import { Buffer } from 'node:buffer';
import type { Dispatcher, Pool } from 'undici';
import { base64ByteLength, MAX_RESPONSE_BODY_BYTES, type EventMessage, type HeaderPairs } from '@myop-relay/protocol';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { Attempt, bodyFailure, bodyProgress, errorText, metStaleConnection, nackText, openHandlerPool } from './forward-attempt.js';
import { buildForwardHeaders, unsendableHeader, type Resign } from './forward-headers.js';

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
  /** Whether the handler answered 2xx with its whole body: the event gets an `ack`, otherwise a `nack`. */
  ok: boolean;
  /** The handler's HTTP status, when the head of its answer arrived. */
  status?: number;
  /**
   * Why there was no usable answer: the error code (`ECONNREFUSED`), `timeout after N ms`,
   * `body cut short after 3 of 100 bytes (...)`, a parser's complaint (`HPE_INVALID_STATUS: ...`),
   * or `redirect not followed` for a 3xx.
   */
  error?: string;
  /** Milliseconds from sending the request to the end of the answer, or to the failure. */
  latencyMs: number;
  /** The start of the response body as text (at most {@link ForwarderOptions.keepResponseBytes} bytes), for display. */
  responseBody?: string;
  /** The answer as the relay records it, when the handler answered and capture is on ({@link ForwarderOptions.captureBytes}). */
  answer?: CapturedAnswer;
}

/** What an ack or nack reports of the handler's answer. */
export interface CapturedAnswer {
  /** Headers, bounded as the protocol requires (`MAX_RESPONSE_HEADERS`, `MAX_RESPONSE_HEADER_CHARS`). */
  headers: HeaderPairs;
  /** The first {@link ForwarderOptions.captureBytes} bytes of the body. */
  body: Uint8Array;
  /** Body bytes that arrived in all. */
  bytes: number;
  /** Whether `body` holds less than the whole body that arrived. */
  truncated: boolean;
}

/** Settings of a {@link Forwarder}. */
export interface ForwarderOptions {
  /** Where events go; see {@link parseForwardTarget}. */
  target: ForwardTarget;
  /**
   * A forward whose answer (head and whole body) has not arrived after this long fails, however
   * far it got: waiting for a connection, connecting, or reading. Default 10 000 ms.
   */
  timeoutMs?: number;
  /** Re-sign bodies for a handler that checks with its own secret. Default: keep the original signature. */
  resign?: Resign;
  /** Response body bytes kept for display; the rest is read, counted and discarded. Default 65 536. */
  keepResponseBytes?: number;
  /**
   * Body bytes of each answer reported to the relay with its headers (`--capture-bytes`), 0 to
   * report nothing, at most `MAX_RESPONSE_BODY_BYTES` (4096) and `keepResponseBytes`. Default 4096.
   */
  captureBytes?: number;
  /**
   * Most connections open to the handler at once: as many as forwards can run at once (channels
   * × window). A forward beyond that waits for a free connection, within its timeout. Default 8,
   * the relay's default window.
   */
  connections?: number;
  /**
   * An idle connection is closed after this long (sooner when the handler's `Keep-Alive: timeout`
   * asks for it). Default 1 000 ms: shorter than the keep-alive timeout of common servers (Node's
   * 5 s, gunicorn's 2 s), so a connection the handler is about to close is rarely picked; one that
   * is gets the retry described at {@link Forwarder.forward}.
   */
  idleConnectionMs?: number;
  /**
   * Certificates to trust for an `https:` target instead of Node's roots (which
   * `NODE_EXTRA_CA_CERTS` extends). Default: Node's roots.
   */
  ca?: string | Buffer | (string | Buffer)[];
  /** Default {@link systemClock}. */
  clock?: Clock;
}

/** {@link ForwarderOptions} defaults. */
export const FORWARDER_DEFAULTS = Object.freeze({ timeoutMs: 10_000, keepResponseBytes: 64 * 1024, captureBytes: MAX_RESPONSE_BODY_BYTES, connections: 8, idleConnectionMs: 1_000 });

/** What every forward of one {@link Forwarder} shares. */
interface ForwardSettings {
  readonly pool: Pool;
  readonly path: string;
  readonly clock: Clock;
  readonly timeoutMs: number;
  readonly keepBytes: number;
  readonly captureBytes: number;
}

/** One forward in flight: its attempts (a second one after a stale connection), and its timeout. */
class PendingForward {
  readonly #settings: ForwardSettings;
  readonly #started: number;
  readonly #headers: string[];
  readonly #request: Dispatcher.DispatchOptions;
  readonly #resolve: (outcome: ForwardOutcome) => void;
  readonly #timer: TimerHandle;
  readonly #end = (attempt: Attempt, error?: Error): void => this.#ended(attempt, error);
  #attempt: Attempt;
  #retried = false;
  #settled = false;

  constructor(settings: ForwardSettings, started: number, headers: string[], body: Buffer, resolve: (outcome: ForwardOutcome) => void) {
    this.#settings = settings;
    this.#started = started;
    this.#resolve = resolve;
    this.#headers = headers;
    this.#request = { method: 'POST', path: settings.path, headers, body };
    this.#timer = settings.clock.setTimeout(() => this.#timedOut(), settings.timeoutMs);
    this.#attempt = new Attempt(settings.keepBytes, this.#end);
    this.#send();
  }

  // The attempt is current before it is dispatched: undici reports some failures (a closed
  // pool, say) from within dispatch().
  #send(): void {
    this.#settings.pool.dispatch(this.#request, this.#attempt);
  }

  #ended(attempt: Attempt, error: Error | undefined): void {
    if (this.#settled || attempt !== this.#attempt) return;
    if (error === undefined) {
      this.#finish(answered(attempt.status ?? 0, this.#elapsed()), attempt);
    } else if (!this.#retried && metStaleConnection(attempt, error)) {
      this.#retried = true;
      this.#attempt = new Attempt(this.#settings.keepBytes, this.#end);
      this.#send();
    } else if (attempt.status === undefined) {
      this.#finish({ ok: false, error: nackText(this.#refusal(error) ?? errorText(error)), latencyMs: this.#elapsed() }, attempt);
    } else {
      this.#finish({ ok: false, status: attempt.status, error: nackText(bodyFailure(attempt, error)), latencyMs: this.#elapsed() }, attempt);
    }
  }

  /**
   * Which header undici refused to send, when it refused the request (before sending anything):
   * its own message does not always name the header.
   */
  #refusal(error: Error): string | undefined {
    const { code } = error as { code?: unknown };
    return code === 'UND_ERR_INVALID_ARG' ? unsendableHeader(this.#headers) : undefined;
  }

  #timedOut(): void {
    const attempt = this.#attempt;
    const error = `timeout after ${this.#settings.timeoutMs} ms`;
    const latencyMs = this.#elapsed();
    // The handler hung: its connection is closed, or a forward still waiting for one never goes out.
    this.#finish(
      attempt.status === undefined ? { ok: false, error, latencyMs } : { ok: false, status: attempt.status, error: `${error} with the body incomplete (${bodyProgress(attempt)})`, latencyMs },
      attempt,
    );
    attempt.cancel(new Error(error));
  }

  #elapsed(): number {
    return Math.max(0, this.#settings.clock.now() - this.#started);
  }

  #finish(outcome: ForwardOutcome, attempt: Attempt): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#settings.clock.clearTimeout(this.#timer);
    const responseBody = attempt.responseBody;
    if (responseBody !== undefined) outcome.responseBody = responseBody;
    const { captureBytes } = this.#settings;
    if (captureBytes > 0 && attempt.status !== undefined) {
      const body = attempt.bodyStart(captureBytes);
      outcome.answer = { headers: attempt.responseHeaders(), body, bytes: attempt.bytes, truncated: attempt.bytes > body.length };
    }
    this.#resolve(outcome);
  }
}

/** The outcome of a whole answer with `status`. */
function answered(status: number, latencyMs: number): ForwardOutcome {
  if (status >= 200 && status < 300) return { ok: true, status, latencyMs };
  if (status >= 300 && status < 400) return { ok: false, status, error: 'redirect not followed', latencyMs };
  return { ok: false, status, latencyMs };
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
    const idleMs = options.idleConnectionMs ?? FORWARDER_DEFAULTS.idleConnectionMs;
    const pool = openHandlerPool(this.target.url.origin, {
      connections: Math.max(1, options.connections ?? FORWARDER_DEFAULTS.connections),
      keepAliveTimeout: idleMs,
      keepAliveMaxTimeout: idleMs,
      // The forward's own timeout bounds the whole exchange; undici's per-phase timers would only
      // race it with another message.
      headersTimeout: 0,
      bodyTimeout: 0,
      ...(options.ca === undefined ? {} : { connect: { ca: options.ca } }),
    });
    const keepBytes = options.keepResponseBytes ?? FORWARDER_DEFAULTS.keepResponseBytes;
    this.#settings = {
      pool,
      path: this.target.path,
      clock: options.clock ?? systemClock,
      timeoutMs: options.timeoutMs ?? FORWARDER_DEFAULTS.timeoutMs,
      keepBytes,
      // Never more than the protocol carries, nor than the attempt keeps.
      captureBytes: Math.max(0, Math.min(options.captureBytes ?? FORWARDER_DEFAULTS.captureBytes, MAX_RESPONSE_BODY_BYTES, keepBytes)),
    };
  }

  /**
   * POSTs `event` to the target and reports the outcome. Never rejects: every failure becomes an
   * outcome with `ok: false`. A forward succeeds only when the handler answered 2xx and the whole
   * body arrived (as its `Content-Length` or chunked framing says, or until the connection
   * closed) within the timeout; a body cut short, a hang after the head, a reset or an answer the
   * parser refuses fails it. Redirects are not followed (only the target's origin is ever
   * contacted). A header that is not safe to send (a name that is not an HTTP token, a value with
   * a control character such as CR or LF) fails the forward before anything is sent.
   *
   * Connections are kept open and reused. A request that fails on a reused connection before
   * any byte of an answer (the handler closed it while it sat idle) is sent once more; the
   * handler may then see the event twice, which at-least-once delivery allows. A failure of
   * that second request, or of a first one on a new connection, is the outcome. The timeout
   * covers both.
   */
  forward(event: EventMessage): Promise<ForwardOutcome> {
    const { clock } = this.#settings;
    const started = clock.now();
    let body: Buffer;
    let headers: string[];
    try {
      // The protocol's decoder let only strict base64 through. Node's own decoder is lenient: it
      // skips what is not base64, so a body that came some other way decodes short and is refused.
      body = Buffer.from(event.body, 'base64');
      if (body.length !== base64ByteLength(event.body)) throw new RangeError('event body is not valid padded base64');
      headers = buildForwardHeaders(event, body, this.#resign);
    } catch (error) {
      return Promise.resolve({ ok: false, error: nackText(errorText(error)), latencyMs: Math.max(0, clock.now() - started) });
    }
    return new Promise<ForwardOutcome>((resolve) => {
      new PendingForward(this.#settings, started, headers, body, resolve);
    });
  }

  /**
   * Closes the connections, so nothing holds the process open. Call it once no forward is
   * running; the forwarder sends nothing after.
   */
  async close(): Promise<void> {
    await this.#settings.pool.destroy();
  }
}
