/**
 * Replays one event to the local handler: a POST of the exact body bytes with the original
 * headers (see {@link buildForwardHeaders}), to the `--forward-to` URL only, over a small pool of
 * keep-alive connections. `node:http` is used rather than `fetch`, which would add and reorder
 * headers.
 */
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { decodeBody, MAX_NACK_ERROR_LENGTH, type EventMessage } from '@myop-relay/protocol';
import { systemClock, type Clock } from './clock.js';
import { buildForwardHeaders, type Resign } from './forward-headers.js';

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

/** Sends events to one local handler. */
export class Forwarder {
  /** Where events go. */
  readonly target: ForwardTarget;
  readonly #timeoutMs: number;
  readonly #resign: Resign | undefined;
  readonly #keepBytes: number;
  readonly #clock: Clock;
  readonly #agent: HttpAgent;
  readonly #request: typeof httpRequest;

  /** @param options - see {@link ForwarderOptions}. */
  constructor(options: ForwarderOptions) {
    this.target = options.target;
    this.#timeoutMs = options.timeoutMs ?? FORWARDER_DEFAULTS.timeoutMs;
    this.#resign = options.resign;
    this.#keepBytes = options.keepResponseBytes ?? FORWARDER_DEFAULTS.keepResponseBytes;
    this.#clock = options.clock ?? systemClock;
    const https = this.target.url.protocol === 'https:';
    this.#request = https ? httpsRequest : httpRequest;
    // No cap on open connections: a forward never queues behind another, which would eat into
    // its timeout; the relay's window is what bounds them. Deno 2's node:http pools by the agent
    // too (and itself resends a request that met a stale connection).
    const pool = {
      keepAlive: true,
      maxFreeSockets: Math.max(1, options.connections ?? FORWARDER_DEFAULTS.connections),
      timeout: options.idleConnectionMs ?? FORWARDER_DEFAULTS.idleConnectionMs,
      scheduling: 'lifo' as const,
    };
    this.#agent = https ? new HttpsAgent(pool) : new HttpAgent(pool);
  }

  /**
   * POSTs `event` to the target and reports the outcome. Never rejects: every failure becomes an
   * outcome with `ok: false`. Redirects are not followed (only the target's origin is ever
   * contacted).
   *
   * Connections are kept open and reused. A request that fails on a reused connection before
   * any byte of an answer (the handler closed it while it sat idle) is sent once more on a new
   * connection; the handler may then see the event twice, which at-least-once delivery allows.
   * A failure on a new connection is the outcome. The timeout covers both attempts.
   */
  forward(event: EventMessage): Promise<ForwardOutcome> {
    const started = this.#clock.now();
    const elapsed = (): number => Math.max(0, this.#clock.now() - started);
    const { url, path, host } = this.target;
    return new Promise<ForwardOutcome>((resolve) => {
      let settled = false;
      let status: number | undefined;
      let timer: unknown;
      let current: ClientRequest | undefined;
      const chunks: Buffer[] = [];
      let kept = 0;
      const finish = (outcome: ForwardOutcome): void => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) this.#clock.clearTimeout(timer);
        if (kept > 0) outcome.responseBody = Buffer.concat(chunks).toString('utf8');
        resolve(outcome);
      };
      const answered = (code: number): ForwardOutcome => {
        const latencyMs = elapsed();
        if (code >= 200 && code < 300) return { ok: true, status: code, latencyMs };
        if (code >= 300 && code < 400) return { ok: false, status: code, error: 'redirect not followed', latencyMs };
        return { ok: false, status: code, latencyMs };
      };

      let body: Uint8Array;
      let headers: string[];
      try {
        body = decodeBody(event.body);
        headers = buildForwardHeaders(event, body, host, this.#resign);
      } catch (error) {
        finish({ ok: false, error: describeError(error), latencyMs: elapsed() });
        return;
      }
      const send = (agent: HttpAgent | false): void => {
        let req: ClientRequest;
        try {
          req = this.#request({
            method: 'POST',
            protocol: url.protocol,
            // URL keeps IPv6 literals in brackets; the socket layer wants the bare address.
            hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
            port: url.port === '' ? undefined : Number(url.port),
            path,
            headers,
            setHost: false,
            agent,
          });
        } catch (error) {
          // Thrown synchronously by http.request, e.g. for a header value Node refuses.
          finish({ ok: false, error: describeError(error), latencyMs: elapsed() });
          return;
        }
        current = req;
        // What the connection had read before this request; more at an error means an answer had begun.
        let readBefore: number | undefined;
        req.on('socket', (socket: Socket) => {
          readBefore = socket.bytesRead;
        });
        req.on('response', (res: IncomingMessage) => {
          status = res.statusCode ?? 0;
          res.on('data', (chunk: Buffer) => {
            if (kept < this.#keepBytes) {
              const part = chunk.subarray(0, this.#keepBytes - kept);
              chunks.push(part);
              kept += part.length;
            }
          });
          res.on('end', () => finish(answered(status ?? 0)));
          // The status line arrived, so the handler did answer, even if its body was cut short.
          res.on('error', () => finish(answered(status ?? 0)));
          res.on('close', () => finish(answered(status ?? 0)));
        });
        req.on('error', (error) => {
          if (settled) return;
          if (agent !== false && req.reusedSocket && status === undefined && req.socket?.bytesRead === readBefore && isStaleConnectionError(error)) {
            // A new connection outside the pool, so the second attempt cannot meet another stale one.
            send(false);
            return;
          }
          finish(status === undefined ? { ok: false, error: describeError(error), latencyMs: elapsed() } : answered(status));
        });
        req.end(body);
      };
      timer = this.#clock.setTimeout(() => {
        finish(status === undefined ? { ok: false, error: `timeout after ${this.#timeoutMs} ms`, latencyMs: elapsed() } : answered(status));
        current?.destroy();
      }, this.#timeoutMs);
      send(this.#agent);
    });
  }

  /**
   * Closes the connections kept for later forwards, so nothing holds the process open. Call it
   * once no forward is running; a later forward opens new connections.
   */
  close(): void {
    this.#agent.destroy();
  }
}
