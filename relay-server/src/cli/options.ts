import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { RelayError } from '../errors.js';
import { SERVER_DEFAULTS } from '../config.js';
import { formatDuration } from '../units.js';

/** Reads the `--config` JSON file; its keys are the long option names (kebab- or camelCase). */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new RelayError('RELAY_E_CONFIG_INVALID', `--config: cannot read "${path}" (${(error as NodeJS.ErrnoException).code ?? String(error)}).`);
  }
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    return value as Record<string, unknown>;
  } catch (error) {
    throw new RelayError('RELAY_E_CONFIG_INVALID', `--config: "${path}" is not a JSON object (${(error as Error).message}).`);
  }
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
    .option('port', { type: 'number', describe: 'TCP port (0 picks a free one)', default: d.port })
    .option('public-url', { type: 'string', describe: 'URL MyOperator and developers use to reach this relay (for printed instructions)' })
    .option('trust-proxy', { type: 'string', describe: 'Comma-separated addresses/CIDRs of reverse proxies whose X-Forwarded-For is trusted' })
    .option('tls-cert', { type: 'string', describe: 'PEM certificate file: serve HTTPS directly' })
    .option('tls-key', { type: 'string', describe: 'PEM private key file for --tls-cert' })
    .option('log-level', { type: 'string', describe: 'fatal, error, warn, info, debug, trace or silent', default: d.logLevel })
    .option('rate-limit-channel', { type: 'number', describe: 'Events per second per channel (0 = off)', default: d.rateLimitChannel })
    .option('rate-limit-ip', { type: 'number', describe: 'Requests per second per source address (0 = off)', default: d.rateLimitIp })
    .option('retention-max-age', { type: 'string', describe: 'Prune events older than this', default: formatDuration(d.retentionMaxAgeMs) })
    .option('retention-max-events', { type: 'number', describe: 'Keep at most this many events per channel', default: d.retentionMaxEvents })
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
    .option('pg-notify', { type: 'boolean', describe: 'With --database-url: wake consumers on other instances at once via LISTEN/NOTIFY (false: the poll finds events)', default: d.pgNotify })
    .option('pg-pool-size', { type: 'number', describe: 'With --database-url: most Postgres connections of this instance (plus one for LISTEN)', default: d.pgPoolSize })
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
    .option('allow-ip', { type: 'string', array: true, describe: 'Only accept from these CIDRs (repeatable; "" clears)' });
}
