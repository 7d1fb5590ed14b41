/**
 * Replays one event to the local handler: a POST of the exact body bytes with the original
 * headers (see {@link buildForwardHeaders}), to the `--forward-to` URL only. `node:http` is used
 * rather than `fetch`, which would add and reorder headers.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
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
  /** Default {@link systemClock}. */
  clock?: Clock;
}

/** {@link ForwarderOptions} defaults. */
export const FORWARDER_DEFAULTS = Object.freeze({ timeoutMs: 10_000, keepResponseBytes: 64 * 1024 });

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

  /** @param options - see {@link ForwarderOptions}. */
  constructor(options: ForwarderOptions) {
    this.target = options.target;
    this.#timeoutMs = options.timeoutMs ?? FORWARDER_DEFAULTS.timeoutMs;
    this.#resign = options.resign;
    this.#keepBytes = options.keepResponseBytes ?? FORWARDER_DEFAULTS.keepResponseBytes;
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * POSTs `event` to the target and reports the outcome. Never rejects: every failure becomes an
   * outcome with `ok: false`. Redirects are not followed (only the target's origin is ever
   * contacted); each event gets its own connection, so no idle keep-alive socket can be reset
   * under a later delivery.
   */
  forward(event: EventMessage): Promise<ForwardOutcome> {
    const started = this.#clock.now();
    const elapsed = (): number => Math.max(0, this.#clock.now() - started);
    const { url, path, host } = this.target;
    return new Promise<ForwardOutcome>((resolve) => {
      let settled = false;
      let status: number | undefined;
      let timer: unknown;
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

      let req: ClientRequest;
      try {
        const body = decodeBody(event.body);
        const options: RequestOptions = {
          method: 'POST',
          protocol: url.protocol,
          // URL keeps IPv6 literals in brackets; the socket layer wants the bare address.
          hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
          port: url.port === '' ? undefined : Number(url.port),
          path,
          headers: buildForwardHeaders(event, body, host, this.#resign),
          setHost: false,
          agent: false,
        };
        req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(options);
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
        req.on('error', (error) => finish(status === undefined ? { ok: false, error: describeError(error), latencyMs: elapsed() } : answered(status)));
        timer = this.#clock.setTimeout(() => {
          const outcome: ForwardOutcome = status === undefined ? { ok: false, error: `timeout after ${this.#timeoutMs} ms`, latencyMs: elapsed() } : answered(status);
          finish(outcome);
          req.destroy();
        }, this.#timeoutMs);
        req.end(body);
      } catch (error) {
        // Thrown synchronously by http.request, e.g. for a header value Node refuses.
        finish({ ok: false, error: describeError(error), latencyMs: elapsed() });
      }
    });
  }
}
