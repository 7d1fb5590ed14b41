/**
 * The settings of `listen`, validated once into a frozen {@link ListenConfig}. Errors name the
 * command-line flag, since that is where most settings come from.
 */
import { hostname, userInfo } from 'node:os';
import {
  MAX_EVENT_PATTERNS,
  MAX_NAME_LENGTH,
  MAX_RESPONSE_BODY_BYTES,
  MAX_WINDOW,
  parseSince,
  isHttpToken,
  validateChannelName,
  validateConsumerName,
  validateEventPattern,
} from '@myop-relay/protocol';
import { ClientError } from './errors.js';
import { DEFAULT_SIGNATURE_HEADER, type Resign } from './forward-headers.js';
import { FORWARDER_DEFAULTS, parseForwardTarget, type ForwardTarget } from './forwarder.js';
import { relayWebSocketUrl } from './transport.js';

/** Settings of {@link listen}; only `relay`, `token` and `forwardTo` are required. */
export interface ListenOptions {
  /** The relay-server's URL, `https://relay.example.com` (or `http://`, `ws://`, `wss://`); the client connects to `<relay>/ws`. */
  relay: string;
  /** Relay token (`relay-server token create`). Sent only in the upgrade's `Authorization` header; never printed. */
  token: string;
  /** Local handler URL every event is POSTed to. */
  forwardTo: string;
  /** Channels to receive. Default `['myoperator']`. */
  channels?: readonly string[];
  /** Durable consumer name: the relay keeps this client's position under it. Default `<user>@<hostname>`. */
  consumer?: string;
  /** Event-type globs, e.g. `['call.*', 'message.received']`. Default: every type. */
  events?: readonly string[];
  /** Start of a new consumer: `now`, `15m`, an ISO-8601 time or a sequence number. Default: the relay's (resume, or `now`). */
  since?: string;
  /** Events in flight per channel, 1-1024. Default: the relay's (8). */
  window?: number;
  /** One event at a time, in sequence order. Default false. */
  ordered?: boolean;
  /** Park an event as failed after this many failed attempts, 1-1000. Default: retry without limit. */
  maxAttempts?: number;
  /**
   * Time the local handler gets per event, in milliseconds. Default 10 000. Keep it under the
   * relay's ack timeout (30 s by default), after which the relay delivers the event again anyway.
   */
  timeoutMs?: number;
  /**
   * Bytes of each handler answer's body reported to the relay with its status and headers
   * (`--capture-bytes`), 0-4096; 0 reports nothing of the answer but its status. Default 4096.
   */
  captureBytes?: number;
  /** Re-sign each body with this HMAC-SHA256 secret. Default: keep the original signature. */
  resignSecret?: string;
  /** Header `resignSecret` writes. Default `X-MyOperator-Signature`. */
  signatureHeader?: string;
}

/** Validated, frozen settings. */
export interface ListenConfig {
  readonly relay: URL;
  /** `<relay>/ws` with a `ws:`/`wss:` scheme. */
  readonly webSocketUrl: string;
  readonly token: string;
  readonly channels: readonly string[];
  readonly consumer: string;
  readonly target: ForwardTarget;
  readonly events: readonly string[] | undefined;
  readonly since: string | undefined;
  readonly window: number | undefined;
  readonly ordered: boolean;
  readonly maxAttempts: number | undefined;
  readonly timeoutMs: number;
  readonly captureBytes: number;
  readonly resign: Resign | undefined;
}

/** Defaults of {@link ListenOptions}; the consumer default depends on the machine, see {@link defaultConsumer}. */
export const LISTEN_DEFAULTS = Object.freeze({
  channels: Object.freeze(['myoperator']) as readonly string[],
  ordered: false,
  timeoutMs: FORWARDER_DEFAULTS.timeoutMs,
  captureBytes: FORWARDER_DEFAULTS.captureBytes,
  signatureHeader: DEFAULT_SIGNATURE_HEADER,
});

/** Longest accepted `--timeout`: 10 minutes. */
export const MAX_TIMEOUT_MS = 600_000;

const TOKEN = /^[\x21-\x7e]{1,4096}$/;

function invalid(flag: string, problem: string): never {
  throw new ClientError('RELAY_E_CLIENT_CONFIG_INVALID', `--${flag}: ${problem}`);
}

function missing(flag: string, what: string): never {
  throw new ClientError('RELAY_E_CLIENT_CONFIG_INVALID', `--${flag} is required: ${what}`);
}

/**
 * `<user>@<hostname>`, so each developer's laptop gets its own position on the relay. Falls back
 * to `$USER` when the account has no passwd entry (containers), and is cut to 128 characters.
 */
export function defaultConsumer(env: Readonly<Record<string, string | undefined>> = process.env): string {
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    user = env['USER'] ?? env['USERNAME'];
  }
  const name = `${user || 'user'}@${hostname() || 'localhost'}`.replace(/[\u0000-\u001f\u007f-\u009f]/g, '');
  return Array.from(name).slice(0, MAX_NAME_LENGTH).join('');
}

/** Host names a relay on this machine or a private network is usually reached at over plain HTTP. */
const LOCAL_HOST = /^(?:localhost|127\.\d+\.\d+\.\d+|\[::1\]|0\.0\.0\.0|10\.\d+\.\d+\.\d+|192\.168\.\d+\.\d+|[^.:/]+)(?::\d+)?(?:\/|$)/i;

/** `localhost:8080` → `http://localhost:8080`; `relay.example.com` → `https://relay.example.com`. */
function withScheme(text: string): string {
  return `${LOCAL_HOST.test(text) ? 'http' : 'https'}://${text}`;
}

/**
 * The relay's base URL from `--relay`. Given whole in every message, with the fix when one can be
 * guessed. `new URL('localhost:8080')` reads `localhost:` as a scheme, so a value without `//`
 * is refused with the URL it most likely stands for. The WebSocket endpoint (`…/ws`) is read as
 * the relay it belongs to; a channel's webhook URL (`…/hooks/<channel>`, printed for MyOperator)
 * is refused with the relay's URL, since the channel comes from `--channel`.
 */
function relayUrl(text: string): URL {
  if (text === '') missing('relay', 'the relay-server\'s URL, e.g. --relay https://relay.example.com (or RELAY_URL)');
  const value = text.trim();
  const shown = `"${value.slice(0, 300)}"`;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    const guess = withScheme(value.replace(/^[a-z][a-z0-9+.-]*:\/*(?=[^\d/])/i, ''));
    invalid('relay', `${shown} has no scheme; did you mean ${guess}?`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    invalid('relay', `${shown} is not a URL; use e.g. https://relay.example.com`);
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) {
    invalid('relay', `${shown} has the scheme ${url.protocol}; use https:// (or http://, wss://, ws://), e.g. https://relay.example.com`);
  }
  // Credentials in a URL end up in logs and shell history; the token has its own flag. The value is not shown: it holds them.
  if (url.username !== '' || url.password !== '') invalid('relay', 'must not contain user:password@; pass the token with --token or RELAY_TOKEN');
  // Not shown either: a query string is where a token pasted into the URL would be.
  if (url.search !== '') invalid('relay', `must not have a query string; give ${url.origin}${url.pathname} alone and pass the token with --token or RELAY_TOKEN`);
  const hook = /^(.*?)\/hooks\/([^/]+)\/?$/.exec(url.pathname);
  if (hook !== null) {
    const base = `${url.origin}${hook[1] ?? ''}`;
    invalid('relay', `${shown} is the webhook URL of channel "${decodeURIComponent(hook[2] ?? '')}", where MyOperator posts; --relay takes the relay's own URL: did you mean --relay ${base} --channel ${decodeURIComponent(hook[2] ?? '')}?`);
  }
  // The client adds /ws itself; the endpoint's own URL names the same relay.
  if (/\/ws\/?$/.test(url.pathname)) url.pathname = url.pathname.replace(/\/ws\/?$/, '/');
  return url;
}

function integer(value: number | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < min || value > max) invalid(flag, `must be a whole number from ${min} to ${max}, got ${String(value)}`);
  return value;
}

/** The relay and the token for it, validated: what every command that talks to the relay needs. */
export interface RelayAccess {
  /** The relay's base URL as given (`http`, `https`, `ws` or `wss`). */
  readonly relay: URL;
  /** Bearer token; never printed. */
  readonly token: string;
}

/**
 * Validates `--relay` and `--token`.
 *
 * @throws ClientError `RELAY_E_CLIENT_CONFIG_INVALID` naming the flag; a missing token says how
 *   to create one. Messages never contain the token.
 */
export function resolveRelayAccess(options: { relay: string; token: string }): RelayAccess {
  const relay = relayUrl(options.relay);
  if (options.token === '') missing('token', 'create one on the relay host with `relay-server token create --name <you>` and pass it with --token or RELAY_TOKEN');
  if (!TOKEN.test(options.token)) invalid('token', 'must be 1-4096 visible ASCII characters (no spaces); check that it was copied whole');
  return Object.freeze({ relay, token: options.token });
}

/**
 * Validates only `--relay`, for checks that need no token (`relay-client status` reports a
 * missing token as a finding instead of refusing to run).
 *
 * @throws ClientError `RELAY_E_CLIENT_CONFIG_INVALID` naming `--relay`.
 */
export function resolveRelayUrl(relay: string): URL {
  return relayUrl(relay);
}

/**
 * Validates `options` and fills defaults.
 *
 * @param now - clock for checking `since` durations. Default: now.
 * @throws ClientError `RELAY_E_CLIENT_CONFIG_INVALID` naming the flag of the first bad setting.
 *   Messages never contain the token.
 */
export function resolveListenConfig(options: ListenOptions, now: Date = new Date()): ListenConfig {
  const { relay } = resolveRelayAccess(options);

  if (options.forwardTo === '') missing('forward-to', 'the local handler URL each event is POSTed to, e.g. --forward-to http://localhost:3000/webhooks/myoperator');
  const parsedTarget = parseForwardTarget(options.forwardTo);
  if (!parsedTarget.ok) invalid('forward-to', parsedTarget.reason);

  const channels = [...new Set(options.channels ?? LISTEN_DEFAULTS.channels)];
  if (channels.length === 0) invalid('channel', 'name at least one channel');
  for (const channel of channels) {
    const problem = validateChannelName(channel);
    if (problem !== undefined) invalid('channel', `"${channel.slice(0, 200)}" ${problem}`);
  }

  const consumer = options.consumer ?? defaultConsumer();
  const consumerProblem = validateConsumerName(consumer);
  if (consumerProblem !== undefined) invalid('consumer', consumerProblem);

  let events: string[] | undefined;
  if (options.events !== undefined && options.events.length > 0) {
    events = [...new Set(options.events)];
    if (events.length > MAX_EVENT_PATTERNS) invalid('events', `at most ${MAX_EVENT_PATTERNS} patterns`);
    for (const pattern of events) {
      const problem = validateEventPattern(pattern);
      if (problem !== undefined) invalid('events', `"${pattern.slice(0, 200)}" ${problem}`);
    }
  }

  if (options.since !== undefined) {
    const since = parseSince(options.since, now);
    if (!since.ok) invalid('since', since.reason);
  }

  const timeoutMs = options.timeoutMs ?? LISTEN_DEFAULTS.timeoutMs;
  if (!Number.isFinite(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) invalid('timeout', `must be from 1ms to 10m, got ${String(timeoutMs)} ms`);

  let resign: Resign | undefined;
  const signatureHeader = options.signatureHeader ?? LISTEN_DEFAULTS.signatureHeader;
  if (!isHttpToken(signatureHeader)) invalid('signature-header', `"${signatureHeader.slice(0, 200)}" is not an HTTP header name`);
  if (options.resignSecret !== undefined) {
    if (options.resignSecret === '') invalid('resign-secret', 'must not be empty');
    resign = Object.freeze({ secret: options.resignSecret, header: signatureHeader });
  }

  return Object.freeze({
    relay,
    webSocketUrl: relayWebSocketUrl(relay),
    token: options.token,
    channels: Object.freeze(channels),
    consumer,
    target: parsedTarget.target,
    events: events === undefined ? undefined : Object.freeze(events),
    since: options.since,
    window: integer(options.window, 'window', 1, MAX_WINDOW),
    ordered: options.ordered ?? LISTEN_DEFAULTS.ordered,
    maxAttempts: integer(options.maxAttempts, 'max-attempts', 1, 1000),
    timeoutMs,
    captureBytes: integer(options.captureBytes, 'capture-bytes', 0, MAX_RESPONSE_BODY_BYTES) ?? LISTEN_DEFAULTS.captureBytes,
    resign,
  });
}
