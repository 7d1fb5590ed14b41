import { RelayError } from './errors.js';
import { parseCidr } from './cidr.js';
import { parseDuration, parseSize } from './units.js';

/** Validated settings of a running relay-server. Built once by {@link resolveServerConfig}, then frozen. */
export interface ServerConfig {
  /** Interface to listen on. Default `0.0.0.0`. */
  readonly host: string;
  /** TCP port. Default 8080; 0 picks a free one. */
  readonly port: number;
  /** Directory of the embedded store (`relay.db`). Default `./.relay`. Unused when {@link databaseUrl} is set. */
  readonly dataDir: string;
  /**
   * `postgres://` or `postgresql://` URL of a shared Postgres store; several relay-server processes
   * may use one. A schema is chosen with `?options=-c%20search_path%3D<schema>`. Default: none, the
   * embedded SQLite store in {@link dataDir}.
   */
  readonly databaseUrl: string | undefined;
  /** With Postgres, wake other processes' consumers at once through LISTEN/NOTIFY; off, they rely on the poll. Default true. */
  readonly pgNotify: boolean;
  /** Most Postgres connections this process opens (plus one for LISTEN). Default 10. */
  readonly pgPoolSize: number;
  /** The URL MyOperator and developers reach this relay at, for printed instructions. Default: derived from host and port. */
  readonly publicUrl: string | undefined;
  /** Addresses/CIDRs of reverse proxies whose X-Forwarded-For is believed. Default: none. */
  readonly trustProxy: readonly string[];
  /** PEM certificate and key files for HTTPS without a proxy. Default: plain HTTP. */
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  /** pino level. Default `info`. */
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Accepted events per second per channel (burst twice that); 0 disables. Default 500. */
  readonly rateLimitChannel: number;
  /** Requests per second per source address (burst twice that); 0 disables. Default 200. */
  readonly rateLimitIp: number;
  /** Events older than this are pruned. Default 7 days. */
  readonly retentionMaxAgeMs: number;
  /** Per channel, only the newest this many events are kept. Default 100 000. */
  readonly retentionMaxEvents: number;
  /** How often the pruner runs. Default 60 s. */
  readonly retentionIntervalMs: number;
  /** Cap on the database size in bytes; beyond it ingest answers 503 RELAY_E_STORE_FULL. Default: none. */
  readonly maxDbBytes: number | undefined;
  /** Time allowed to send all request headers. Default 10 s. */
  readonly headersTimeoutMs: number;
  /** Time allowed to send a whole request. Default 30 s. */
  readonly requestTimeoutMs: number;
  /** Idle keep-alive connections are closed after this. Default 5 s. */
  readonly keepAliveTimeoutMs: number;
  /** On SIGINT/SIGTERM, in-flight requests get this long to finish. Default 10 s. */
  readonly shutdownTimeoutMs: number;
  /** An event sent to a client and not answered within this long goes out again. Default 30 s. */
  readonly ackTimeoutMs: number;
  /** Delay before the second attempt of a failed event; doubles per attempt. Default 1 s. */
  readonly retryInitialMs: number;
  /** Longest delay between attempts. Default 60 s. */
  readonly retryMaxMs: number;
  /** WebSocket heartbeat interval; a silent peer is dropped after two. Default 15 s. */
  readonly heartbeatMs: number;
  /** How often waiting consumers look for work they were not woken for. Default 5 s. */
  readonly pollIntervalMs: number;
  /** Serve the Webhook Logs page at `/`. Default true. */
  readonly webUi: boolean;
}

/** Every default in one place; documented in docs/configuration.md. */
export const SERVER_DEFAULTS = Object.freeze({
  host: '0.0.0.0',
  port: 8080,
  dataDir: './.relay',
  databaseUrl: undefined,
  pgNotify: true,
  pgPoolSize: 10,
  publicUrl: undefined,
  trustProxy: [] as readonly string[],
  tlsCert: undefined,
  tlsKey: undefined,
  logLevel: 'info',
  rateLimitChannel: 500,
  rateLimitIp: 200,
  retentionMaxAgeMs: 7 * 86_400_000,
  retentionMaxEvents: 100_000,
  retentionIntervalMs: 60_000,
  maxDbBytes: undefined,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  shutdownTimeoutMs: 10_000,
  ackTimeoutMs: 30_000,
  retryInitialMs: 1_000,
  retryMaxMs: 60_000,
  heartbeatMs: 15_000,
  pollIntervalMs: 5_000,
  webUi: true,
} satisfies ServerConfig);

/** Raw settings as they come from flags, environment or a config file (strings or numbers). */
export interface ServerConfigInput {
  host?: unknown;
  port?: unknown;
  dataDir?: unknown;
  databaseUrl?: unknown;
  pgNotify?: unknown;
  pgPoolSize?: unknown;
  publicUrl?: unknown;
  trustProxy?: unknown;
  tlsCert?: unknown;
  tlsKey?: unknown;
  logLevel?: unknown;
  rateLimitChannel?: unknown;
  rateLimitIp?: unknown;
  retentionMaxAge?: unknown;
  retentionMaxEvents?: unknown;
  retentionInterval?: unknown;
  maxDbSize?: unknown;
  headersTimeout?: unknown;
  requestTimeout?: unknown;
  keepAliveTimeout?: unknown;
  shutdownTimeout?: unknown;
  ackTimeout?: unknown;
  retryInitial?: unknown;
  retryMax?: unknown;
  heartbeatInterval?: unknown;
  pollInterval?: unknown;
  webUi?: unknown;
}

function invalid(setting: string, problem: string): never {
  throw new RelayError('RELAY_E_CONFIG_INVALID', `--${setting}: ${problem}`);
}

function text(value: unknown, setting: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' && typeof value !== 'number') invalid(setting, 'expected a string');
  return String(value);
}

function integer(value: unknown, setting: string, fallback: number, min: number, max: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  const n = typeof value === 'number' ? value : Number(String(value).trim());
  if (!Number.isInteger(n) || n < min || n > max) invalid(setting, `expected a whole number from ${min} to ${max}, got "${String(value)}"`);
  return n;
}

function duration(value: unknown, setting: string, fallback: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  const ms = typeof value === 'string' || typeof value === 'number' ? parseDuration(value) : undefined;
  if (ms === undefined) invalid(setting, `expected a duration such as 30s, 15m, 7d, got "${String(value)}"`);
  return ms;
}

function flag(value: unknown, setting: string, fallback: boolean): boolean {
  if (value === undefined || value === null || value === '') return fallback;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  invalid(setting, `expected true or false, got "${String(value)}"`);
}

/** Checks the scheme and shape; the message never repeats the URL, which may hold a password. */
function databaseUrl(value: unknown): string | undefined {
  const url = text(value, 'database-url');
  if (url === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    invalid('database-url', 'not a URL; expected postgres://user:password@host:5432/database');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    invalid('database-url', `expected a postgres:// or postgresql:// URL, got the scheme "${parsed.protocol}"`);
  }
  return url;
}

function list(value: unknown): string[] {
  if (value === undefined || value === null || value === '') return [];
  const items = Array.isArray(value) ? value : [value];
  return items.flatMap((item) => String(item).split(',')).map((s) => s.trim()).filter(Boolean);
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Validates raw settings over {@link SERVER_DEFAULTS}; throws RELAY_E_CONFIG_INVALID naming the bad setting. */
export function resolveServerConfig(input: ServerConfigInput): ServerConfig {
  const logLevel = text(input.logLevel, 'log-level') ?? SERVER_DEFAULTS.logLevel;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) invalid('log-level', `expected one of ${LOG_LEVELS.join(', ')}`);

  const publicUrl = text(input.publicUrl, 'public-url');
  if (publicUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(publicUrl);
    } catch {
      invalid('public-url', `"${publicUrl}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') invalid('public-url', 'expected an http:// or https:// URL');
  }

  const trustProxy = list(input.trustProxy);
  for (const entry of trustProxy) {
    if (!['loopback', 'linklocal', 'uniquelocal'].includes(entry) && !parseCidr(entry)) {
      invalid('trust-proxy', `"${entry}" is not an address, a CIDR or one of loopback, linklocal, uniquelocal`);
    }
  }

  const tlsCert = text(input.tlsCert, 'tls-cert');
  const tlsKey = text(input.tlsKey, 'tls-key');
  if ((tlsCert === undefined) !== (tlsKey === undefined)) invalid(tlsCert ? 'tls-key' : 'tls-cert', 'TLS needs both --tls-cert and --tls-key');

  let maxDbBytes: number | undefined;
  if (input.maxDbSize !== undefined && input.maxDbSize !== null && input.maxDbSize !== '') {
    const size = typeof input.maxDbSize === 'string' || typeof input.maxDbSize === 'number' ? parseSize(input.maxDbSize) : undefined;
    if (size === undefined || size < 1_048_576) invalid('max-db-size', 'expected a size of at least 1MiB, such as 512MiB or 10GiB');
    maxDbBytes = size;
  }
  const database = databaseUrl(input.databaseUrl);
  // Postgres has its own limits (disk, quotas); a cap here would only pretend to enforce one.
  if (database !== undefined && maxDbBytes !== undefined) invalid('max-db-size', 'applies to the embedded SQLite store only; limit a Postgres store with Postgres itself');

  const headersTimeoutMs = duration(input.headersTimeout, 'headers-timeout', SERVER_DEFAULTS.headersTimeoutMs);
  const requestTimeoutMs = duration(input.requestTimeout, 'request-timeout', SERVER_DEFAULTS.requestTimeoutMs);
  // Node refuses a request timeout shorter than the headers timeout.
  if (requestTimeoutMs < headersTimeoutMs) invalid('request-timeout', 'must not be shorter than --headers-timeout');

  const retryInitialMs = duration(input.retryInitial, 'retry-initial', SERVER_DEFAULTS.retryInitialMs);
  const retryMaxMs = duration(input.retryMax, 'retry-max', SERVER_DEFAULTS.retryMaxMs);
  if (retryMaxMs < retryInitialMs) invalid('retry-max', 'must not be shorter than --retry-initial');
  const heartbeatMs = duration(input.heartbeatInterval, 'heartbeat-interval', SERVER_DEFAULTS.heartbeatMs);
  if (heartbeatMs < 100) invalid('heartbeat-interval', 'must be at least 100ms');
  const ackTimeoutMs = duration(input.ackTimeout, 'ack-timeout', SERVER_DEFAULTS.ackTimeoutMs);
  if (ackTimeoutMs < 1000) invalid('ack-timeout', 'must be at least 1s');
  const pollIntervalMs = duration(input.pollInterval, 'poll-interval', SERVER_DEFAULTS.pollIntervalMs);
  if (pollIntervalMs < 50) invalid('poll-interval', 'must be at least 50ms');

  return Object.freeze({
    host: text(input.host, 'host') ?? SERVER_DEFAULTS.host,
    port: integer(input.port, 'port', SERVER_DEFAULTS.port, 0, 65_535),
    dataDir: text(input.dataDir, 'data-dir') ?? SERVER_DEFAULTS.dataDir,
    databaseUrl: database,
    pgNotify: flag(input.pgNotify, 'pg-notify', SERVER_DEFAULTS.pgNotify),
    pgPoolSize: integer(input.pgPoolSize, 'pg-pool-size', SERVER_DEFAULTS.pgPoolSize, 1, 1000),
    publicUrl: publicUrl?.replace(/\/+$/, ''),
    trustProxy: Object.freeze(trustProxy),
    tlsCert,
    tlsKey,
    logLevel: logLevel as ServerConfig['logLevel'],
    rateLimitChannel: integer(input.rateLimitChannel, 'rate-limit-channel', SERVER_DEFAULTS.rateLimitChannel, 0, 1_000_000),
    rateLimitIp: integer(input.rateLimitIp, 'rate-limit-ip', SERVER_DEFAULTS.rateLimitIp, 0, 1_000_000),
    retentionMaxAgeMs: duration(input.retentionMaxAge, 'retention-max-age', SERVER_DEFAULTS.retentionMaxAgeMs),
    retentionMaxEvents: integer(input.retentionMaxEvents, 'retention-max-events', SERVER_DEFAULTS.retentionMaxEvents, 1, 1_000_000_000),
    retentionIntervalMs: duration(input.retentionInterval, 'retention-interval', SERVER_DEFAULTS.retentionIntervalMs),
    maxDbBytes,
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: duration(input.keepAliveTimeout, 'keep-alive-timeout', SERVER_DEFAULTS.keepAliveTimeoutMs),
    shutdownTimeoutMs: duration(input.shutdownTimeout, 'shutdown-timeout', SERVER_DEFAULTS.shutdownTimeoutMs),
    ackTimeoutMs,
    retryInitialMs,
    retryMaxMs,
    heartbeatMs,
    pollIntervalMs,
    webUi: flag(input.webUi, 'web-ui', SERVER_DEFAULTS.webUi),
  });
}
