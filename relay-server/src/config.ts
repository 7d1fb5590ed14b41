import { RelayError } from './errors.js';
import { addressEntryProblem } from './address-list.js';
import { formatDuration, readDuration } from '@myop-relay/protocol';
import { parseSize } from './units.js';

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
  /** With Postgres, hot statements as named prepared statements; off behind a pooler in transaction mode. Default true. */
  readonly pgPreparedStatements: boolean;
  /** With Postgres, delivery state (claims, acks, nacks) committed without waiting for the WAL flush, as the embedded store does; appends always wait for it. Default true. */
  readonly pgAsyncDeliveryCommit: boolean;
  /** With Postgres, longest one statement may run, lock waits included; beyond it the request gets 503. Default 2 s. */
  readonly pgStatementTimeoutMs: number;
  /** With Postgres, longest one statement waits for a lock; at most {@link pgStatementTimeoutMs}. Default 1 s. */
  readonly pgLockTimeoutMs: number;
  /** With Postgres, longest wait for a connection: opening one, or for a pooled one to be free. Default 2 s. */
  readonly pgConnectTimeoutMs: number;
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
  /**
   * Bytes that may wait to be sent on one WebSocket; at the bound the relay sends that session no
   * more events until half of it has drained. Default 8 MiB.
   */
  readonly maxSendBufferBytes: number;
  /** A session that keeps the hub waiting this long (full send buffer, or no pong after a lease ran out) is closed (4204). Default 60 s. */
  readonly sendStallTimeoutMs: number;
  /** Subscriptions one WebSocket may hold at once. Default 32. */
  readonly maxSubscriptions: number;
  /** Consumers one token may create on one channel. Default 100. */
  readonly maxConsumersPerToken: number;
  /**
   * Address of a second listener that serves only `GET /metrics`, without a token (bind it to
   * loopback or a monitoring network). Default: none; `/metrics` is then on the main port, for
   * admin tokens.
   */
  readonly metricsListen: { readonly host: string; readonly port: number } | undefined;
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
  pgPreparedStatements: true,
  pgAsyncDeliveryCommit: true,
  pgStatementTimeoutMs: 2_000,
  pgLockTimeoutMs: 1_000,
  pgConnectTimeoutMs: 2_000,
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
  maxSendBufferBytes: 8 * 1024 * 1024,
  sendStallTimeoutMs: 60_000,
  maxSubscriptions: 32,
  maxConsumersPerToken: 100,
  metricsListen: undefined,
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
  pgPreparedStatements?: unknown;
  pgAsyncDeliveryCommit?: unknown;
  pgStatementTimeout?: unknown;
  pgLockTimeout?: unknown;
  pgConnectTimeout?: unknown;
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
  maxSendBuffer?: unknown;
  sendStallTimeout?: unknown;
  maxSubscriptions?: unknown;
  maxConsumersPerToken?: unknown;
  metricsListen?: unknown;
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

/** A duration setting (grammar in packages/protocol `readDuration`), at least `floorMs`. */
function duration(value: unknown, setting: string, fallback: number, floorMs = 0): number {
  if (value === undefined || value === null || value === '') return fallback;
  if (typeof value !== 'string' && typeof value !== 'number') invalid(setting, 'expected a duration such as 30s, 15m, 7d');
  const result = readDuration(value);
  if (!result.ok) invalid(setting, result.reason);
  if (result.ms < floorMs) invalid(setting, `must be at least ${formatDuration(floorMs)}, got "${String(value)}"`);
  return result.ms;
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

/** `HOST:PORT`, with IPv6 hosts in brackets (`[::1]:9464`). */
function listenAddress(value: unknown, setting: string): { host: string; port: number } | undefined {
  const address = text(value, setting);
  if (address === undefined) return undefined;
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(address);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (host === undefined || port > 65_535) invalid(setting, `expected HOST:PORT such as 127.0.0.1:9464 or [::1]:9464, got "${address}"`);
  return Object.freeze({ host, port });
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
    const problem = addressEntryProblem(entry);
    if (problem !== undefined) invalid('trust-proxy', `"${entry}" ${problem}`);
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
  let maxSendBufferBytes: number = SERVER_DEFAULTS.maxSendBufferBytes;
  if (input.maxSendBuffer !== undefined && input.maxSendBuffer !== null && input.maxSendBuffer !== '') {
    const size = typeof input.maxSendBuffer === 'string' || typeof input.maxSendBuffer === 'number' ? parseSize(input.maxSendBuffer) : undefined;
    if (size === undefined || size < 65_536 || size > 1024 ** 3) invalid('max-send-buffer', 'expected a size from 64KiB to 1GiB, such as 8MiB');
    maxSendBufferBytes = size;
  }
  const database = databaseUrl(input.databaseUrl);
  // Postgres has its own limits (disk, quotas); a cap here would only pretend to enforce one.
  if (database !== undefined && maxDbBytes !== undefined) invalid('max-db-size', 'applies to the embedded SQLite store only; limit a Postgres store with Postgres itself');

  // Node reads 0 as "no timeout", which would let a silent sender hold a connection for ever.
  const headersTimeoutMs = duration(input.headersTimeout, 'headers-timeout', SERVER_DEFAULTS.headersTimeoutMs, 100);
  const requestTimeoutMs = duration(input.requestTimeout, 'request-timeout', SERVER_DEFAULTS.requestTimeoutMs);
  // Node refuses a request timeout shorter than the headers timeout.
  if (requestTimeoutMs < headersTimeoutMs) invalid('request-timeout', 'must not be shorter than --headers-timeout');

  const retryInitialMs = duration(input.retryInitial, 'retry-initial', SERVER_DEFAULTS.retryInitialMs, 10);
  const retryMaxMs = duration(input.retryMax, 'retry-max', SERVER_DEFAULTS.retryMaxMs);
  if (retryMaxMs < retryInitialMs) invalid('retry-max', 'must not be shorter than --retry-initial');
  const heartbeatMs = duration(input.heartbeatInterval, 'heartbeat-interval', SERVER_DEFAULTS.heartbeatMs, 100);
  const ackTimeoutMs = duration(input.ackTimeout, 'ack-timeout', SERVER_DEFAULTS.ackTimeoutMs, 1000);
  const pollIntervalMs = duration(input.pollInterval, 'poll-interval', SERVER_DEFAULTS.pollIntervalMs, 50);
  const sendStallTimeoutMs = duration(input.sendStallTimeout, 'send-stall-timeout', SERVER_DEFAULTS.sendStallTimeoutMs, 100);
  // Bounded, always: an unbounded wait is what holds webhooks open past MyOperator's timeout.
  const pgStatementTimeoutMs = duration(input.pgStatementTimeout, 'pg-statement-timeout', SERVER_DEFAULTS.pgStatementTimeoutMs, 10);
  const pgLockTimeoutMs = duration(input.pgLockTimeout, 'pg-lock-timeout', SERVER_DEFAULTS.pgLockTimeoutMs, 10);
  // A statement's lock waits count towards its statement timeout, so a longer lock bound would never apply.
  if (pgLockTimeoutMs > pgStatementTimeoutMs) invalid('pg-lock-timeout', 'must not be longer than --pg-statement-timeout');
  const pgConnectTimeoutMs = duration(input.pgConnectTimeout, 'pg-connect-timeout', SERVER_DEFAULTS.pgConnectTimeoutMs, 10);

  return Object.freeze({
    host: text(input.host, 'host') ?? SERVER_DEFAULTS.host,
    port: integer(input.port, 'port', SERVER_DEFAULTS.port, 0, 65_535),
    dataDir: text(input.dataDir, 'data-dir') ?? SERVER_DEFAULTS.dataDir,
    databaseUrl: database,
    pgNotify: flag(input.pgNotify, 'pg-notify', SERVER_DEFAULTS.pgNotify),
    pgPoolSize: integer(input.pgPoolSize, 'pg-pool-size', SERVER_DEFAULTS.pgPoolSize, 1, 1000),
    pgPreparedStatements: flag(input.pgPreparedStatements, 'pg-prepared-statements', SERVER_DEFAULTS.pgPreparedStatements),
    pgAsyncDeliveryCommit: flag(input.pgAsyncDeliveryCommit, 'pg-async-delivery-commit', SERVER_DEFAULTS.pgAsyncDeliveryCommit),
    pgStatementTimeoutMs,
    pgLockTimeoutMs,
    pgConnectTimeoutMs,
    publicUrl: publicUrl?.replace(/\/+$/, ''),
    trustProxy: Object.freeze(trustProxy),
    tlsCert,
    tlsKey,
    logLevel: logLevel as ServerConfig['logLevel'],
    rateLimitChannel: integer(input.rateLimitChannel, 'rate-limit-channel', SERVER_DEFAULTS.rateLimitChannel, 0, 1_000_000),
    rateLimitIp: integer(input.rateLimitIp, 'rate-limit-ip', SERVER_DEFAULTS.rateLimitIp, 0, 1_000_000),
    // A zero age would prune every event the moment it is stored.
    retentionMaxAgeMs: duration(input.retentionMaxAge, 'retention-max-age', SERVER_DEFAULTS.retentionMaxAgeMs, 60_000),
    retentionMaxEvents: integer(input.retentionMaxEvents, 'retention-max-events', SERVER_DEFAULTS.retentionMaxEvents, 1, 1_000_000_000),
    retentionIntervalMs: duration(input.retentionInterval, 'retention-interval', SERVER_DEFAULTS.retentionIntervalMs, 1000),
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
    maxSendBufferBytes,
    sendStallTimeoutMs,
    maxSubscriptions: integer(input.maxSubscriptions, 'max-subscriptions', SERVER_DEFAULTS.maxSubscriptions, 1, 10_000),
    maxConsumersPerToken: integer(input.maxConsumersPerToken, 'max-consumers-per-token', SERVER_DEFAULTS.maxConsumersPerToken, 1, 1_000_000),
    metricsListen: listenAddress(input.metricsListen, 'metrics-listen'),
    webUi: flag(input.webUi, 'web-ui', SERVER_DEFAULTS.webUi),
  });
}
