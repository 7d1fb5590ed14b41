/**
 * The relay-server's HTTP API as relay-client uses it: typed requests, answers checked before
 * use, and failures told apart by cause (relay unreachable, token refused, the relay's own error
 * codes, or a URL that is not a relay-server).
 */
import type {
  ChannelList,
  ConsumerListView,
  DeliveryListView,
  EventDetailView,
  EventListView,
  ReplayRequest,
  ReplayResult,
  SampleCatalogue,
  TriggerRequest,
  TriggerResult,
} from '@myop-relay/protocol';
import { ClientError } from './errors.js';
import { describeNetworkError, isTlsFailure } from './failure.js';
import { formatDuration } from './units.js';

/** Time a request to the relay's API gets before it counts as unreachable: 15 s. */
export const API_TIMEOUT_MS = 15_000;

/**
 * The relay answered with one of its error codes (`{"error":{"code","message"}}`), e.g.
 * `RELAY_E_UNKNOWN_EVENT_TYPE`, whose message lists the valid types. The codes are relay-server's
 * (docs/errors.md); the CLI ends with exit code 1.
 */
export class RelayApiError extends Error {
  /** The relay's stable code. */
  readonly code: string;
  /** HTTP status of the answer. */
  readonly status: number;
  /** `GET`, `POST` or `DELETE`. */
  readonly method: string;
  /** The URL requested. */
  readonly url: string;

  /**
   * @param code - relay-server error code.
   * @param message - the relay's message, which says what to do.
   * @param status - HTTP status.
   * @param method - request method.
   * @param url - request URL.
   */
  constructor(code: string, message: string, status: number, method: string, url: string) {
    super(message);
    this.name = 'RelayApiError';
    this.code = code;
    this.status = status;
    this.method = method;
    this.url = url;
  }

  /** Exit code the CLI ends with. */
  get exitCode(): 1 {
    return 1;
  }
}

/** The relay could not be reached (DNS, TCP, timeout); the message names the URL tried. */
export class RelayUnreachableError extends Error {
  /** System error code when known: `ECONNREFUSED`, `ENOTFOUND`, `ETIMEDOUT`. */
  readonly code: string | undefined;
  /** The URL tried. */
  readonly url: string;

  /**
   * @param url - the URL tried.
   * @param code - system error code, when known.
   * @param reason - what happened, e.g. `ECONNREFUSED, connection refused: is the relay running?`.
   */
  constructor(url: string, code: string | undefined, reason: string) {
    super(`relay unreachable at ${url} (${reason})`);
    this.name = 'RelayUnreachableError';
    this.code = code;
    this.url = url;
  }

  /** Exit code the CLI ends with. */
  get exitCode(): 1 {
    return 1;
  }
}

/** Settings of a {@link RelayApi}. */
export interface RelayApiOptions {
  /** The relay's base URL; `ws:`/`wss:` are read as `http:`/`https:`, and a path prefix is kept. */
  relay: URL;
  /** Bearer token for `/api/...`. Default none: only the health checks work without one. */
  token?: string;
  /** The `fetch` to use. Default: the runtime's global `fetch`. */
  fetch?: typeof fetch;
  /** Per-request time limit in milliseconds. Default {@link API_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/** Filters of `GET /api/events`. */
export interface EventQuery {
  channel?: string;
  type?: string;
  /** ISO time or a duration back from now (`2h`), resolved by the relay's clock. */
  since?: string;
  before?: string;
  /** 1-1000; the relay's default is 50. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/** Answer of an unauthenticated health check (`/healthz`, `/readyz`). */
export interface ProbeResult {
  /** HTTP status. */
  status: number;
  /** Parsed JSON body, or undefined when it was not JSON. */
  body: unknown;
}

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isArrayOf(value: unknown, item: (v: unknown) => boolean): boolean {
  return Array.isArray(value) && value.every(item);
}

const isString = (v: unknown): boolean => typeof v === 'string';
const isNumber = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);

/** Shape checks of every answer used; what is printed is also cleaned of control characters where printed. */
const CHECKS = {
  channels: (b: Json) => isArrayOf(b['channels'], (c) => isRecord(c) && isString(c['name'])),
  samples: (b: Json) =>
    isRecord(b['shapes']) &&
    Object.values(b['shapes']).every((t) => isArrayOf(t, isString)) &&
    isRecord(b['flows']) &&
    Object.values(b['flows']).every((f) => isRecord(f) && Object.values(f).every((t) => isArrayOf(t, isString))),
  trigger: (b: Json) => isString(b['channel']) && isArrayOf(b['events'], (e) => isRecord(e) && isString(e['type']) && isString(e['id']) && isNumber(e['seq'])),
  events: (b: Json) =>
    isArrayOf(b['events'], (e) => isRecord(e) && isString(e['channel']) && isNumber(e['seq']) && isString(e['id']) && isString(e['type']) && isString(e['receivedAt'])) &&
    (b['nextCursor'] === null || isString(b['nextCursor'])),
  event: (b: Json) =>
    isString(b['id']) &&
    isString(b['channel']) &&
    isNumber(b['seq']) &&
    isString(b['bodyBase64']) &&
    isArrayOf(b['headers'], (h) => isArrayOf(h, isString) && (h as unknown[]).length === 2),
  deliveries: (b: Json) => isArrayOf(b['attempts'], (a) => isRecord(a) && isString(a['consumer']) && isNumber(a['attempt'])),
  consumers: (b: Json) => isArrayOf(b['consumers'], (c) => isRecord(c) && isString(c['name']) && isNumber(c['pending']) && isNumber(c['failed'])),
  replay: (b: Json) => isNumber(b['queued']) && isArrayOf(b['missing'], isString),
} as const satisfies Record<string, (body: Json) => boolean>;

/** The system error code inside a failed `fetch` (Node puts it on `cause`, or on `cause.errors[]` for several addresses). */
function systemCode(error: unknown): { code: string | undefined; message: string } {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return { code, message: current.message };
    const inner: unknown = current instanceof AggregateError && current.errors.length > 0 ? current.errors[0] : current.cause;
    if (!(inner instanceof Error)) break;
    current = inner;
  }
  const message = current instanceof Error ? current.message : String(current);
  // Deno's fetch reports the OS error only in its text.
  if (/connection refused/i.test(message)) return { code: 'ECONNREFUSED', message };
  if (/dns error|failed to lookup address/i.test(message)) return { code: 'ENOTFOUND', message };
  return { code: undefined, message };
}

/** Client of relay-server's `/api` routes and health checks. Never puts the token in a URL or a message. */
export class RelayApi {
  /** The relay's base URL with an `http:`/`https:` scheme. */
  readonly base: URL;
  readonly #token: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;

  /** @param options - see {@link RelayApiOptions}. */
  constructor(options: RelayApiOptions) {
    const base = new URL(options.relay.href);
    if (base.protocol === 'ws:') base.protocol = 'http:';
    else if (base.protocol === 'wss:') base.protocol = 'https:';
    base.search = '';
    base.hash = '';
    this.base = base;
    this.#token = options.token;
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = options.timeoutMs ?? API_TIMEOUT_MS;
  }

  /** The absolute URL of `path` (which starts with `/`) under the relay's base URL. */
  url(path: string): string {
    return `${this.base.origin}${this.base.pathname.replace(/\/+$/, '')}${path}`;
  }

  async #send(method: string, path: string, options: { body?: unknown; auth: boolean }): Promise<{ res: Response; text: string; url: string }> {
    const url = this.url(path);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.auth && this.#token !== undefined) headers['authorization'] = `Bearer ${this.#token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    try {
      const res = await this.#fetch(url, {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      return { res, text: await res.text(), url };
    } catch (error) {
      if (error instanceof Error && error.name === 'TimeoutError') {
        throw new RelayUnreachableError(url, 'ETIMEDOUT', `ETIMEDOUT, no answer within ${formatDuration(this.#timeoutMs)}`);
      }
      const { code, message } = systemCode(error);
      if (isTlsFailure(code, message)) throw new ClientError('RELAY_E_CLIENT_TLS', `${url}: ${code ?? message}`);
      throw new RelayUnreachableError(url, code, describeNetworkError(code, message));
    }
  }

  /**
   * One API call: the parsed answer once `check` accepts it. A 2xx without a body (DELETE's 204)
   * yields an empty object.
   */
  async #call<T>(method: string, path: string, check: (body: Json) => boolean, body?: unknown): Promise<T> {
    const { res, text, url } = await this.#send(method, path, { body, auth: true });
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const error = isRecord(parsed) && isRecord(parsed['error']) ? parsed['error'] : undefined;
      const code = error !== undefined && typeof error['code'] === 'string' ? error['code'] : undefined;
      const message = error !== undefined && typeof error['message'] === 'string' ? error['message'] : '';
      if (code === undefined) {
        throw new ClientError('RELAY_E_CLIENT_PROTOCOL_ERROR', `${method} ${url} answered HTTP ${res.status} without a relay error; is --relay the relay-server's URL?`);
      }
      if (code === 'RELAY_E_TOKEN_INVALID' || code === 'RELAY_E_AUTH_REQUIRED') {
        throw new ClientError('RELAY_E_CLIENT_TOKEN_REJECTED', `${method} ${url} answered ${res.status} ${code}`);
      }
      throw new RelayApiError(code, message, res.status, method, url);
    }
    if (!isRecord(parsed) || !check(parsed)) {
      throw new ClientError('RELAY_E_CLIENT_PROTOCOL_ERROR', `${method} ${url} answered HTTP ${res.status} with something that is not the relay API`);
    }
    return parsed as T;
  }

  /** `GET /healthz` or `GET /readyz`, without the token; a non-2xx status is returned, not thrown. */
  async probe(path: '/healthz' | '/readyz'): Promise<ProbeResult> {
    const { res, text } = await this.#send('GET', path, { auth: false });
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: res.status, body };
  }

  /** `GET /api/channels`: the channels the token may read. */
  channels(): Promise<ChannelList> {
    return this.#call('GET', '/api/channels', CHECKS.channels);
  }

  /** `GET /api/samples`: what `trigger` can generate. */
  samples(): Promise<SampleCatalogue> {
    return this.#call('GET', '/api/samples', CHECKS.samples);
  }

  /** `POST /api/channels/<channel>/trigger`: stores sample events as if MyOperator had sent them. */
  trigger(channel: string, request: TriggerRequest): Promise<TriggerResult> {
    return this.#call('POST', `/api/channels/${encodeURIComponent(channel)}/trigger`, CHECKS.trigger, request);
  }

  /** `GET /api/events`: newest first. */
  events(query: EventQuery = {}): Promise<EventListView> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
    const search = params.toString();
    return this.#call('GET', `/api/events${search === '' ? '' : `?${search}`}`, CHECKS.events);
  }

  /** `GET /api/events/<channel>/<id>`: one event with headers and body. */
  event(channel: string, id: string): Promise<EventDetailView> {
    return this.#call('GET', `/api/events/${encodeURIComponent(channel)}/${encodeURIComponent(id)}`, CHECKS.event);
  }

  /** `GET /api/events/<channel>/<id>/deliveries`: every delivery attempt of the event. */
  deliveries(channel: string, id: string): Promise<DeliveryListView> {
    return this.#call('GET', `/api/events/${encodeURIComponent(channel)}/${encodeURIComponent(id)}/deliveries`, CHECKS.deliveries);
  }

  /** `GET /api/consumers?channel=`: the channel's consumers and their backlog. */
  consumers(channel: string): Promise<ConsumerListView> {
    return this.#call('GET', `/api/consumers?channel=${encodeURIComponent(channel)}`, CHECKS.consumers);
  }

  /** `DELETE /api/consumers/<channel>/<name>`: removes the consumer with its deliveries and attempts. */
  async deleteConsumer(channel: string, name: string): Promise<void> {
    await this.#call('DELETE', `/api/consumers/${encodeURIComponent(channel)}/${encodeURIComponent(name)}`, () => true);
  }

  /** `POST /api/consumers/<channel>/<name>/replay`: queues stored events again for the consumer. */
  replay(channel: string, consumer: string, request: ReplayRequest): Promise<ReplayResult> {
    return this.#call('POST', `/api/consumers/${encodeURIComponent(channel)}/${encodeURIComponent(consumer)}/replay`, CHECKS.replay, request);
  }
}
