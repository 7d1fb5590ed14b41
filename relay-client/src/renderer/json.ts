/**
 * Machine-readable output: one JSON object per line, `{"time": ISO-8601, "type": <what>, ...}`,
 * with `type` one of the {@link Renderer} method names. Fields never include the token.
 */
import type { OutputStream } from './text.js';
import type {
  BacklogInfo,
  ConnectedInfo,
  ConnectingInfo,
  ErrorInfo,
  EventReceivedInfo,
  ForwardedInfo,
  HintInfo,
  ListenSummary,
  ReconnectingInfo,
  Renderer,
  StartingInfo,
  StoppingInfo,
  SubscribedInfo,
} from './renderer.js';

/** Settings of a {@link JsonRenderer}. */
export interface JsonRendererOptions {
  /** Where the lines go, usually stdout. */
  out: OutputStream;
  /** Clock for the `time` field. Default: now. */
  now?: () => Date;
  /** Longest `responseBody` (of failed forwards) included, in characters. Default 1024. */
  maxResponseBody?: number;
}

/** JSON-lines output. */
export class JsonRenderer implements Renderer {
  readonly #out: OutputStream;
  readonly #now: () => Date;
  readonly #maxBody: number;

  /** @param options - see {@link JsonRendererOptions}. */
  constructor(options: JsonRendererOptions) {
    this.#out = options.out;
    this.#now = options.now ?? (() => new Date());
    this.#maxBody = options.maxResponseBody ?? 1024;
  }

  #emit(type: keyof Renderer, fields: object): void {
    this.#out.write(`${JSON.stringify({ time: this.#now().toISOString(), type, ...fields })}\n`);
  }

  starting(info: StartingInfo): void {
    this.#emit('starting', info);
  }

  connecting(info: ConnectingInfo): void {
    this.#emit('connecting', info);
  }

  connected(info: ConnectedInfo): void {
    this.#emit('connected', info);
  }

  subscribed(info: SubscribedInfo): void {
    this.#emit('subscribed', info);
  }

  reconnecting(info: ReconnectingInfo): void {
    this.#emit('reconnecting', info);
  }

  eventReceived(info: EventReceivedInfo): void {
    this.#emit('eventReceived', info);
  }

  forwarded(info: ForwardedInfo): void {
    const { outcome, ...rest } = info;
    // The captured answer is the relay's record (`events show`); the line keeps its short text form.
    const { responseBody, answer, ...result } = outcome;
    // A success's body is of no interest, and a failure's is cut so one line stays small.
    const body = outcome.ok || responseBody === undefined ? {} : { responseBody: responseBody.slice(0, this.#maxBody) };
    // Whole milliseconds: the clock's fractions are noise to a reader and to a script.
    this.#emit('forwarded', { ...rest, ...result, latencyMs: Math.round(result.latencyMs), ...body });
  }

  backlog(info: BacklogInfo): void {
    this.#emit('backlog', info);
  }

  hint(info: HintInfo): void {
    this.#emit('hint', info);
  }

  error(info: ErrorInfo): void {
    this.#emit('error', info);
  }

  stopping(info: StoppingInfo): void {
    this.#emit('stopping', info);
  }

  summary(info: ListenSummary): void {
    this.#emit('summary', info);
  }
}
