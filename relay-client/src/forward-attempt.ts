/**
 * One HTTP request of a forward, as undici's dispatcher drives it: {@link Attempt} reads the
 * answer (its status, a bounded start of its body, how many body bytes came) and the pool's
 * connections ({@link openHandlerPool}) tell each attempt whether its connection had carried an
 * answer before, which decides whether a failure may just mean the handler closed it while idle.
 */
import { Buffer } from 'node:buffer';
import { createRequire } from 'node:module';
import type { Client, Dispatcher, Pool } from 'undici';
import { headerValueProblem, isHttpToken, MAX_NACK_ERROR_LENGTH, MAX_RESPONSE_HEADER_CHARS, MAX_RESPONSE_HEADERS, type HeaderPairs } from '@myop-relay/protocol';

/** The body start of an answer without a body. */
const NO_BYTES = new Uint8Array(0);

/** How an attempt ended: `error` is undefined when the whole answer arrived. */
export type AttemptEnd = (attempt: Attempt, error?: Error) => void;

/** One request and its answer; see the module's description. */
export class Attempt implements Dispatcher.DispatchHandlers {
  /** The final status, once the head of a final (not 1xx) answer arrived. */
  status: number | undefined;
  /** Body bytes read so far. */
  bytes = 0;
  /** Whether any byte of an answer (interim ones included) arrived. */
  answerBegun = false;
  /** Whether the connection it went out on had carried an answer before. */
  reused = false;
  readonly #keep: number;
  readonly #end: AttemptEnd;
  readonly #chunks: Buffer[] = [];
  #kept = 0;
  #head: Buffer[] | undefined;
  #connection: HandlerConnection | undefined;
  #abort: ((error?: Error) => void) | undefined;
  #cancelled: Error | undefined;

  /**
   * @param keep - body bytes kept for {@link Attempt.responseBody}; the rest is counted and dropped.
   * @param end - called once, when the answer is complete or the attempt failed.
   */
  constructor(keep: number, end: AttemptEnd) {
    this.#keep = keep;
    this.#end = end;
  }

  /** @internal Called by {@link HandlerConnection} when the pool hands the attempt to it. */
  placed(connection: HandlerConnection, reused: boolean): void {
    this.#connection = connection;
    this.reused = reused;
  }

  /** Abandons the attempt: its connection is closed, and an attempt still queued is never sent. */
  cancel(reason: Error): void {
    this.#cancelled = reason;
    this.#abort?.(reason);
  }

  /** The start of the body as UTF-8 text, when it had any. */
  get responseBody(): string | undefined {
    return this.#kept === 0 ? undefined : Buffer.concat(this.#chunks).toString('utf8');
  }

  /** The first `limit` body bytes kept (at most the `keep` the attempt was made with). */
  bodyStart(limit: number): Uint8Array {
    if (this.#kept === 0) return NO_BYTES;
    const kept = Buffer.concat(this.#chunks);
    return kept.subarray(0, Math.min(limit, kept.length));
  }

  /**
   * The final answer's headers in received order, as the protocol lets a report carry them: at
   * most {@link MAX_RESPONSE_HEADERS} pairs and {@link MAX_RESPONSE_HEADER_CHARS} characters, the
   * rest dropped. Values are read as Latin-1, byte for byte; a pair that is no valid header
   * (a name that is not a token) is skipped.
   */
  responseHeaders(): HeaderPairs {
    const head = this.#head ?? [];
    const pairs: HeaderPairs = [];
    let chars = 0;
    for (let i = 0; i + 1 < head.length && pairs.length < MAX_RESPONSE_HEADERS; i += 2) {
      const name = head[i]?.toString('latin1') ?? '';
      const value = head[i + 1]?.toString('latin1') ?? '';
      if (!isHttpToken(name) || headerValueProblem(value) !== undefined) continue;
      if (chars + name.length + value.length > MAX_RESPONSE_HEADER_CHARS) break;
      chars += name.length + value.length;
      pairs.push([name, value]);
    }
    return pairs;
  }

  /** The answer's `Content-Length`, when it gave a single valid one. */
  declaredLength(): number | undefined {
    const head = this.#head;
    if (head === undefined) return undefined;
    let length: number | undefined;
    for (let i = 0; i + 1 < head.length; i += 2) {
      const name = head[i];
      if (name?.length !== 14 || name.toString('latin1').toLowerCase() !== 'content-length') continue;
      const value = head[i + 1]?.toString('latin1').trim() ?? '';
      if (length !== undefined || !/^[0-9]+$/.test(value)) return undefined;
      length = Number(value);
    }
    return length;
  }

  /** @internal undici's handler callbacks from here on. */
  onConnect(abort: (error?: Error) => void): void {
    if (this.#cancelled !== undefined) abort(this.#cancelled);
    else this.#abort = abort;
  }

  /** @internal */
  onResponseStarted(): void {
    this.answerBegun = true;
  }

  /** @internal */
  onHeaders(status: number, head: Buffer[]): boolean {
    // Interim answers (103 Early Hints, 102 Processing) come before the final one.
    if (status >= 200) {
      this.status = status;
      this.#head = head;
    }
    return true;
  }

  /** @internal */
  onData(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    if (this.#kept < this.#keep) {
      const part = chunk.subarray(0, this.#keep - this.#kept);
      this.#chunks.push(part);
      this.#kept += part.length;
    }
    return true;
  }

  /** @internal */
  onComplete(): void {
    this.#connection?.carried();
    this.#end(this);
  }

  /** @internal */
  onError(error: Error): void {
    this.#end(this, error);
  }
}

/** A connection of the pool: undici's `Client`, counting the answers its current socket carried. */
interface HandlerConnection extends Client {
  /** An answer on the current socket arrived whole. */
  carried(): void;
}

/** undici's exports, and the pool's connection class built on its `Client`. */
interface Http {
  readonly Pool: typeof Pool;
  readonly HandlerConnection: new (origin: URL, options: Client.Options) => HandlerConnection;
}

let http: Http | undefined;

/**
 * Loads undici on first use rather than at import: it is only needed once `listen` forwards, and
 * by then the CLI has tuned the heap (`heap.ts`), whose young generation loading undici's modules
 * would otherwise have doubled for good (2 × 4 MB instead of 2 × 2 MB, some 20 MB more peak RSS
 * under load). `require`, because a `Forwarder` is built synchronously; undici is CommonJS.
 */
function loadHttp(): Http {
  if (http !== undefined) return http;
  const undici = createRequire(import.meta.url)('undici') as typeof import('undici');
  class Connection extends undici.Client implements HandlerConnection {
    #answers = 0;

    constructor(origin: URL, options: Client.Options) {
      super(origin, options);
      this.on('disconnect', () => {
        this.#answers = 0;
      });
    }

    override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandlers): boolean {
      if (handler instanceof Attempt) handler.placed(this, this.#answers > 0);
      return super.dispatch(options, handler);
    }

    carried(): void {
      this.#answers++;
    }
  }
  http = { Pool: undici.Pool, HandlerConnection: Connection };
  return http;
}

/**
 * undici's pool for `origin`, whose connections tell each {@link Attempt} whether they carried an
 * answer before.
 *
 * @param origin - the handler's origin, e.g. `http://localhost:3000`.
 * @param options - undici's pool options, but `factory`.
 */
export function openHandlerPool(origin: string, options: Omit<Pool.Options, 'factory'>): Pool {
  const { Pool: UndiciPool, HandlerConnection: Connection } = loadHttp();
  return new UndiciPool(origin, { ...options, factory: (at: URL, clientOptions: object) => new Connection(at, clientOptions as Client.Options) });
}

/**
 * What an attempt that went out on a reused connection meets when the handler had closed that
 * connection in the meantime: a reset, a write to a closed socket, or an end before any answer
 * (undici's `UND_ERR_SOCKET`, "other side closed").
 */
const STALE_CONNECTION_ERRORS: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

/** Whether `attempt` failed as one on a connection the handler had closed while it sat idle. */
export function metStaleConnection(attempt: Attempt, error: Error): boolean {
  const { code } = error as { code?: unknown };
  return attempt.reused && !attempt.answerBegun && typeof code === 'string' && STALE_CONNECTION_ERRORS.has(code);
}

/** A nack error is protocol text: no control characters, at most MAX_NACK_ERROR_LENGTH. */
export function nackText(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').slice(0, MAX_NACK_ERROR_LENGTH) || 'request failed';
}

/**
 * An error as a nack reason: a system or TLS code alone (`ECONNREFUSED`,
 * `DEPTH_ZERO_SELF_SIGNED_CERT`), undici's and its parser's codes with their message
 * (`HPE_INVALID_STATUS: Response does not match the HTTP/1.1 protocol (Invalid response status)`),
 * and the message of anything else (Node's own `ERR_*` codes name programming errors).
 */
export function errorText(error: unknown): string {
  const { code, message } = error as { code?: unknown; message?: unknown };
  const said = typeof message === 'string' && message !== '' ? message : String(error);
  if (typeof code !== 'string' || code.startsWith('ERR_')) return said;
  return code.startsWith('UND_ERR_') || code.startsWith('HPE_') ? `${code}: ${said}` : code;
}

/** How much of the body arrived: `3 of 100 bytes`, or `3 bytes` when the answer gave no length. */
export function bodyProgress(attempt: Attempt): string {
  const declared = attempt.declaredLength();
  return declared === undefined ? `${attempt.bytes} bytes` : `${attempt.bytes} of ${declared} bytes`;
}

/**
 * Why an attempt that failed after its answer's head (status known) did not count: a body the
 * parser refused, or one that stopped coming.
 */
export function bodyFailure(attempt: Attempt, error: Error): string {
  const { code } = error as { code?: unknown };
  if (typeof code === 'string' && code.startsWith('HPE_')) return `malformed body (${errorText(error)})`;
  return `body cut short after ${bodyProgress(attempt)} (${errorText(error)})`;
}
