import type { Argv } from 'yargs';
import { configPathFromArgv, createParser, readConfigFile } from '@myop-relay/cli-support';
import { RelayError } from '../errors.js';
import { SERVER_DEFAULTS } from '../config.js';
import { formatDuration } from '../units.js';

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Keys a config file may hold: the options of `start` (the store's included) and of the channel commands, and `json`. */
function configKeys(): Set<string> {
  // getOptions() is yargs' own, left out of its type declarations.
  const all = channelOptions(serverOptions(createParser([]))).option('json', { type: 'boolean' });
  const parser = all as unknown as { getOptions(): { key: Record<string, unknown>; alias: Record<string, string[]> } };
  const { key, alias } = parser.getOptions();
  const names = [...Object.keys(key), ...Object.values(alias).flat()].map(kebab);
  return new Set(names.filter((name) => name !== 'help' && name !== 'version'));
}

/**
 * The settings of the `--config` JSON file (or `RELAY_CONFIG`); its keys are the long options of
 * `start` and the channel commands (kebab- or camelCase), and a key none of them names is refused.
 *
 * @throws RelayError `RELAY_E_CONFIG_INVALID` naming the file and the problem.
 */
export function configFileSettings(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Record<string, unknown> {
  const path = configPathFromArgv(argv) ?? (env['RELAY_CONFIG'] || undefined);
  if (path === undefined) return {};
  const result = readConfigFile(path, configKeys());
  if (!result.ok) throw new RelayError('RELAY_E_CONFIG_INVALID', `--config: ${result.problem}.`);
  return result.settings;
}

/** The shared Postgres store's URL, for every command that opens the store and for `migrate`. */
export function databaseUrlOption<T>(y: Argv<T>) {
  return y.option('database-url', {
    type: 'string',
    describe: 'postgres:// URL of a shared Postgres store (instead of --data-dir); ?options=-c%20search_path%3D<schema> picks a schema',
  });
}

/** Options every command takes: where the store is. */
export function storeOptions<T>(y: Argv<T>) {
  return databaseUrlOption(y)
    .option('data-dir', { type: 'string', describe: 'Directory of the embedded store (relay.db)', default: SERVER_DEFAULTS.dataDir })
    .option('max-db-size', { type: 'string', describe: 'Cap on the database size, e.g. 10GiB; ingest answers 503 beyond it' });
}

/** Options of `relay-server start`. */
export function serverOptions<T>(y: Argv<T>) {
  const d = SERVER_DEFAULTS;
  return storeOptions(y)
    .option('host', { type: 'string', describe: 'Interface to listen on', default: d.host })
    .option('port', { type: 'string', describe: 'TCP port (0 picks a free one)', default: String(d.port) })
    .option('public-url', { type: 'string', describe: 'URL MyOperator and developers use to reach this relay (for printed instructions)' })
    .option('trust-proxy', { type: 'string', describe: 'Comma-separated addresses/CIDRs of reverse proxies whose X-Forwarded-For is trusted' })
    .option('tls-cert', { type: 'string', describe: 'PEM certificate file: serve HTTPS directly' })
    .option('tls-key', { type: 'string', describe: 'PEM private key file for --tls-cert' })
    .option('log-format', { type: 'string', choices: ['text', 'json'], describe: 'Log lines as text for people or JSON for collectors (default: text on a terminal, JSON otherwise)' })
    .option('log-level', { type: 'string', describe: 'fatal, error, warn, info, debug, trace or silent', default: d.logLevel })
    .option('rate-limit-channel', { type: 'string', describe: 'Events per second per channel (0 = off)', default: String(d.rateLimitChannel) })
    .option('rate-limit-ip', { type: 'string', describe: 'Requests per second per source address (0 = off)', default: String(d.rateLimitIp) })
    .option('retention-max-age', { type: 'string', describe: 'Prune events older than this', default: formatDuration(d.retentionMaxAgeMs) })
    .option('retention-max-events', { type: 'string', describe: 'Keep at most this many events per channel', default: String(d.retentionMaxEvents) })
    .option('retention-interval', { type: 'string', describe: 'How often retention runs', default: formatDuration(d.retentionIntervalMs) })
    .option('headers-timeout', { type: 'string', describe: 'Time a sender has to send request headers', default: formatDuration(d.headersTimeoutMs) })
    .option('request-timeout', { type: 'string', describe: 'Time a sender has to send a whole request', default: formatDuration(d.requestTimeoutMs) })
    .option('keep-alive-timeout', { type: 'string', describe: 'Idle keep-alive connections close after this', default: formatDuration(d.keepAliveTimeoutMs) })
    .option('shutdown-timeout', { type: 'string', describe: 'On SIGINT/SIGTERM, time in-flight requests get to finish', default: formatDuration(d.shutdownTimeoutMs) })
    .option('ack-timeout', { type: 'string', describe: 'Send an event again when its client has not answered in this long', default: formatDuration(d.ackTimeoutMs) })
    .option('retry-initial', { type: 'string', describe: 'Delay before retrying a failed delivery; doubles per attempt', default: formatDuration(d.retryInitialMs) })
    .option('retry-max', { type: 'string', describe: 'Longest delay between delivery attempts', default: formatDuration(d.retryMaxMs) })
    .option('heartbeat-interval', { type: 'string', describe: 'WebSocket heartbeat; silent clients are dropped after two', default: formatDuration(d.heartbeatMs) })
    .option('poll-interval', { type: 'string', describe: 'How often idle consumers look for missed work', default: formatDuration(d.pollIntervalMs) })
    .option('max-send-buffer', { type: 'string', describe: 'Bytes that may wait to be sent on one WebSocket before its session gets no more events', default: '8MiB' })
    .option('send-stall-timeout', { type: 'string', describe: 'Close a session that keeps the relay waiting this long (full send buffer, or no pong after a lease ran out)', default: formatDuration(d.sendStallTimeoutMs) })
    .option('max-subscriptions', { type: 'number', describe: 'Subscriptions one WebSocket may hold', default: d.maxSubscriptions })
    .option('max-consumers-per-token', { type: 'number', describe: 'Consumers one token may create on one channel', default: d.maxConsumersPerToken })
    .option('pg-notify', { type: 'boolean', describe: 'With --database-url: wake consumers on other instances at once via LISTEN/NOTIFY (false: the poll finds events)', default: d.pgNotify })
    .option('pg-pool-size', { type: 'string', describe: 'With --database-url: most Postgres connections of this instance (plus one for LISTEN)', default: String(d.pgPoolSize) })
    .option('pg-prepared-statements', { type: 'boolean', describe: 'With --database-url: prepare hot statements once per connection (false behind PgBouncer in transaction mode)', default: d.pgPreparedStatements })
    .option('pg-async-delivery-commit', { type: 'boolean', describe: 'With --database-url: commit delivery state without waiting for the WAL flush, as the embedded store does (a Postgres crash may re-send events, never lose one); false waits for it', default: d.pgAsyncDeliveryCommit })
    .option('pg-statement-timeout', { type: 'string', describe: 'With --database-url: longest a statement may run, lock waits included; then 503', default: formatDuration(d.pgStatementTimeoutMs) })
    .option('pg-lock-timeout', { type: 'string', describe: 'With --database-url: longest a statement waits for a lock; then 503', default: formatDuration(d.pgLockTimeoutMs) })
    .option('pg-connect-timeout', { type: 'string', describe: 'With --database-url: longest wait to open a connection or get a free pooled one; then 503', default: formatDuration(d.pgConnectTimeoutMs) })
    .option('metrics-listen', { type: 'string', describe: 'HOST:PORT of a second listener serving only GET /metrics without a token (default: /metrics on the main port, admin tokens only)' })
    .option('web-ui', { type: 'boolean', describe: 'Serve the Webhook Logs page at / (--no-web-ui: API and webhooks only)', default: d.webUi });
}

/** Options that shape a channel, shared by `channel add` and `channel update`. */
export function channelOptions<T>(y: Argv<T>) {
  return y
    .option('verify', { choices: ['hmac', 'basic', 'apikey', 'none'] as const, describe: 'How webhooks are verified (add: default hmac)' })
    .option('secret', { type: 'string', array: true, describe: 'HMAC signing secret; repeat for several active secrets (add: generated when omitted)' })
    .option('signature-header', { type: 'string', describe: 'Header carrying the HMAC (default X-MyOperator-Signature)' })
    .option('basic', { type: 'string', describe: 'Basic auth credentials as user:password' })
    .option('api-key-header', { type: 'string', describe: 'Header that carries the API key' })
    .option('api-key-query', { type: 'string', describe: 'Query parameter that carries the API key' })
    .option('api-key', { type: 'string', describe: 'The API key value' })
    .option('max-body', { type: 'string', describe: 'Largest accepted body, e.g. 1MiB (default 1MiB)' })
    .option('accept-legacy-form', { type: 'boolean', describe: 'Also accept legacy v1 form bodies (myoperator=<json>)' })
    .option('allow-ip', { type: 'string', array: true, describe: 'Only accept from these CIDRs (repeatable; "" clears)' })
    .option('allow-short-secret', { type: 'boolean', describe: 'Accept a --secret or --api-key shorter than 16 characters (one MyOperator already uses), with a warning' });
}
