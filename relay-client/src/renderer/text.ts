/**
 * Human-readable output: one line per happening, e.g.
 *
 * ```
 * 10:03:59  --> call.answered  evt_01JABCXYZ123
 * 10:03:59  <-- [200] POST http://localhost:3000/webhooks/myoperator  12 ms
 * ```
 *
 * The plain renderer never colours; the pretty one colours only a terminal that allows it.
 */
import { clean, clock, firstLine } from '../format.js';
import { formatDelay, formatDuration } from '../units.js';
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

/** Where a renderer writes: `process.stdout` or anything with `write`. */
export interface OutputStream {
  write(text: string): unknown;
}

/** Settings of a {@link TextRenderer}. */
export interface TextRendererOptions {
  /** Event lines, progress and the summary. */
  out: OutputStream;
  /** Warnings, connection trouble and errors. Default: `out`. */
  err?: OutputStream;
  /** Use ANSI colours. Default false. */
  color?: boolean;
  /** Clock for the time column (local time). Default: now. */
  now?: () => Date;
}

type Style = 'dim' | 'bold' | 'red' | 'green' | 'yellow' | 'cyan';
const SGR: Readonly<Record<Style, string>> = { dim: '2', bold: '1', red: '31', green: '32', yellow: '33', cyan: '36' };

/** Text output; see {@link createPlainRenderer} and {@link createPrettyRenderer}. */
export class TextRenderer implements Renderer {
  readonly #out: OutputStream;
  readonly #err: OutputStream;
  readonly #color: boolean;
  readonly #now: () => Date;
  /** Channel names are shown only when there is more than one to tell apart. */
  #showChannel = false;
  /** The relay's WebSocket URL, for a summary of a run that never reached it. */
  #relay = '';
  /** Whether the "nothing listens" hint was shown since the handler last answered. */
  #refusedShown = false;

  /** @param options - see {@link TextRendererOptions}. */
  constructor(options: TextRendererOptions) {
    this.#out = options.out;
    this.#err = options.err ?? options.out;
    this.#color = options.color ?? false;
    this.#now = options.now ?? (() => new Date());
  }

  #paint(style: Style, text: string): string {
    return this.#color ? `\u001b[${SGR[style]}m${text}\u001b[0m` : text;
  }

  #line(text: string, stream: OutputStream = this.#out): void {
    stream.write(`${text}\n`);
  }

  #timed(text: string, stream?: OutputStream): void {
    this.#line(`${this.#paint('dim', clock(this.#now()))}  ${text}`, stream);
  }

  #channel(channel: string): string {
    return this.#showChannel ? `[${channel}] ` : '';
  }

  starting(info: StartingInfo): void {
    this.#showChannel = info.channels.length > 1;
    this.#relay = info.relay;
    this.#line(`forwarding ${info.channels.join(', ')} -> ${info.forwardTo}  (consumer ${info.consumer})`);
  }

  connecting(info: ConnectingInfo): void {
    // Later attempts follow a "retrying in" line that already says so.
    if (info.attempt === 1) this.#line(`connecting to ${info.url}`);
  }

  connected(info: ConnectedInfo): void {
    this.#line(`connected to ${info.url}  (session ${info.session}, relay-server ${info.server})`);
  }

  subscribed(info: SubscribedInfo): void {
    const waiting = info.pending === 0 ? 'no events waiting' : `${info.pending} event${info.pending === 1 ? '' : 's'} waiting`;
    this.#line(`${this.#paint('green', 'ready')}: channel ${info.channel} as ${info.consumer}${info.created ? ' (new consumer)' : ''}, ${waiting}`);
  }

  reconnecting(info: ReconnectingInfo): void {
    const when = info.delayMs < 100 ? 'retrying now' : `retrying in ${formatDelay(info.delayMs)}`;
    this.#timed(`${this.#paint('yellow', clean(info.failure.message, 400))}; ${when} (attempt ${info.attempt})`, this.#err);
  }

  eventReceived(info: EventReceivedInfo): void {
    const notes = [info.attempt > 1 ? `attempt ${info.attempt}` : '', info.replay ? 'replay' : '', info.synthetic ? 'test event' : ''].filter(Boolean);
    this.#timed(`${this.#paint('cyan', '-->')} ${this.#channel(info.channel)}${info.eventType}  ${info.id}${notes.length > 0 ? `  (${notes.join(', ')})` : ''}`);
  }

  forwarded(info: ForwardedInfo): void {
    const { outcome } = info;
    const label = [outcome.status === undefined ? '' : String(outcome.status), outcome.error ?? ''].filter(Boolean).join(' ');
    const latency = `${Math.round(outcome.latencyMs)} ms`;
    const head = `<-- ${this.#paint(outcome.ok ? 'green' : 'red', `[${clean(label)}]`)} ${info.eventType}  ${info.id}  ${latency}`;
    let tail = '';
    if (info.answer === 'lost') tail = '  connection lost before the answer; the relay delivers it again';
    else if (!outcome.ok) tail = info.nextAttemptMs === undefined ? '  no more attempts (--max-attempts reached)' : `  next attempt in ${formatDelay(info.nextAttemptMs)}`;
    this.#timed(`${this.#channel(info.channel)}${head}${tail}`);
    // The first line of an error page or stack trace usually says what went wrong; the rest is in `events show`.
    const body = outcome.ok || outcome.responseBody === undefined ? '' : clean(firstLine(outcome.responseBody));
    if (body !== '') this.#line(`          ${this.#paint('dim', body)}`);
    if (outcome.error === 'ECONNREFUSED') {
      // Once until the handler answers again: the same line under every retry would bury the events.
      if (!this.#refusedShown) this.#line(`          ${this.#paint('yellow', `nothing listens on ${hostOf(info.url)}: is your handler running? The relay keeps the event and delivers it again.`)}`, this.#err);
      this.#refusedShown = true;
    } else if (outcome.status !== undefined) {
      this.#refusedShown = false;
    }
  }

  hint(info: HintInfo): void {
    const label = this.#paint('yellow', 'note');
    if (info.kind === 'shared-consumer') {
      this.#line(
        `${label}: ${info.sessions} sessions are subscribed to ${info.channel} as ${info.consumer}; the relay splits its events between them, so this one gets only some. ` +
          'To get a copy of every event here, start this listen with a --consumer name of its own.',
        this.#err,
      );
      return;
    }
    this.#line(
      `${label}: ${info.consumer} is a new consumer, so the ${info.stored} event${info.stored === 1 ? '' : 's'} ${info.channel} already stored ${info.stored === 1 ? 'is' : 'are'} not delivered. ` +
        `To get them, queue them with \`relay-client replay --since 1h --consumer ${info.consumer} --channel ${info.channel}\` (any duration), ` +
        'or start a new consumer from back then with --consumer <new name> --since 1h.',
      this.#err,
    );
  }

  backlog(info: BacklogInfo): void {
    const text = info.delivered >= info.total ? `caught up (${info.total} event${info.total === 1 ? '' : 's'})` : `catching up ${info.delivered}/${info.total}`;
    this.#timed(`${this.#channel(info.channel)}${text}`);
  }

  error(info: ErrorInfo): void {
    const label = info.fatal ? this.#paint('red', 'error') : this.#paint('yellow', 'warning');
    this.#line(`${label} ${info.code}: ${clean(info.message, 2000)}`, this.#err);
  }

  stopping(info: StoppingInfo): void {
    this.#line(`stopping: waiting for ${info.inFlight} forward${info.inFlight === 1 ? '' : 's'} in flight (at most ${formatDuration(info.timeoutMs)})`);
  }

  summary(info: ListenSummary): void {
    if (!info.connected) {
      this.#line(this.#paint('bold', `summary: never connected to the relay at ${this.#relay}; nothing was received or delivered`));
      return;
    }
    const pending = info.pendingFrom === 'relay' ? `${info.pending} pending at the relay` : `${info.pending} received and not done (the relay could not be asked for its count)`;
    this.#line(this.#paint('bold', `summary: ${info.delivered} delivered, ${info.failed} failed attempt${info.failed === 1 ? '' : 's'}, ${pending}`));
  }
}

/** `localhost:3000` of a displayed URL. */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** A text renderer that never colours. */
export function createPlainRenderer(options: Omit<TextRendererOptions, 'color'>): TextRenderer {
  return new TextRenderer({ ...options, color: false });
}

/** Whether to colour: only a terminal, and only when `NO_COLOR` is unset or empty (no-color.org). */
export function shouldColor(stream: { isTTY?: boolean }, env: Readonly<Record<string, string | undefined>>): boolean {
  return stream.isTTY === true && (env['NO_COLOR'] ?? '') === '';
}

/** A text renderer that colours when `out` is a terminal and `NO_COLOR` is not set. */
export function createPrettyRenderer(
  options: Omit<TextRendererOptions, 'color' | 'out'> & { out: OutputStream & { isTTY?: boolean }; env?: Readonly<Record<string, string | undefined>> },
): TextRenderer {
  const { env = process.env, ...rest } = options;
  return new TextRenderer({ ...rest, color: shouldColor(options.out, env) });
}
