import type { AddressInfo } from 'node:net';
import { bootstrapStore, type FirstStart } from '../bootstrap.js';
import { resolveServerConfig, SERVER_DEFAULTS, type ServerConfig, type ServerConfigInput } from '../config.js';
import { RelayError } from '../errors.js';
import { buildServer } from '../server.js';
import { openConfiguredStore } from '../store/open.js';
import { line } from '@myop-relay/cli-support';
import { resolveLogFormat, textLogStream } from './log-format.js';
import type { CliRuntime } from './runtime.js';

function derivedPublicUrl(config: ServerConfig, port: number): string {
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host.includes(':') ? `[${config.host}]` : config.host;
  return `${config.tlsCert ? 'https' : 'http'}://${host}:${port}`;
}

/** The flags that point an admin command at the store `config` names, for printed commands. */
export function storeFlags(config: ServerConfig): string {
  if (config.databaseUrl !== undefined) return ' --database-url "$RELAY_DATABASE_URL"';
  return config.dataDir === SERVER_DEFAULTS.dataDir ? '' : ` --data-dir ${config.dataDir}`;
}

/**
 * What the first start (or `relay-server init`) created, shown once. A laptop gets a developer
 * token of its own, created on the relay host, rather than the admin token: a developer token can
 * be revoked alone and reads only its channels.
 */
export function printFirstStart(out: NodeJS.WritableStream, webhookUrl: string, relayUrl: string | undefined, first: FirstStart, store: string, webUi = false): void {
  line(out, '');
  line(out, `First start: created the channel "${first.channel}" and an admin token.`);
  line(out, 'The secret and the token below are shown only this once; keep them somewhere safe.');
  line(out, '');
  line(out, `  Webhook URL        ${webhookUrl}`);
  line(out, `  Verification       HMAC-SHA256 of the raw body, header ${first.signatureHeader}`);
  line(out, `  Signing secret     ${first.secret}`);
  line(out, `  Admin token        ${first.adminToken}`);
  if (webUi && relayUrl !== undefined) line(out, `  Webhook Logs       ${relayUrl}/ (sign in with a token)`);
  line(out, '');
  line(out, 'In MyOperator: add a webhook with the URL above and paste the signing secret.');
  line(out, 'For each developer, create a token of their own on this host (keep the admin token for administration):');
  line(out, '');
  line(out, `  relay-server token create --name <developer> --channels ${first.channel}${store}`);
  line(out, '');
  line(out, 'On their laptop, they forward events to their local handler with it:');
  line(out, '');
  line(out, `  relay-client listen --relay ${relayUrl ?? '<relay URL>'} --token <token> --channel ${first.channel} --forward-to http://localhost:3000/webhooks/myoperator`);
  line(out, '');
}

/** Why the server could not listen, as the catalogue code for its cause. */
function listenError(error: unknown, config: ServerConfig): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  const where = `${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
  if (code === 'EADDRINUSE') return new RelayError('RELAY_E_PORT_IN_USE', `(${where})`);
  if (code === 'EACCES') return new RelayError('RELAY_E_LISTEN_FAILED', `(${where}: EACCES, ports below 1024 need privileges; use e.g. --port 8080 behind a reverse proxy)`);
  if (code === 'EADDRNOTAVAIL') return new RelayError('RELAY_E_LISTEN_FAILED', `(${where}: EADDRNOTAVAIL, --host ${config.host} is not an address of this machine)`);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new RelayError('RELAY_E_LISTEN_FAILED', `(${where}: ${code}, --host ${config.host} does not resolve)`);
  return error;
}

/** `relay-server start`: opens the store, prints first-start instructions, serves until a signal. */
export async function runStart(input: ServerConfigInput, runtime: CliRuntime): Promise<void> {
  const config = resolveServerConfig(input);
  // The store hears connection trouble before the server (and its logger) exists.
  let warn = (message: string, error: Error): void => line(runtime.stderr, `warning: ${message} (${error.message})`);
  const { store, description } = await openConfiguredStore(config, runtime.sqliteDriver, { onWarning: (message, error) => warn(message, error) });
  let first: FirstStart | undefined;
  try {
    first = await bootstrapStore(store).catch((error: unknown) => {
      // Instances sharing a fresh Postgres store start together: the one that lost the race to
      // create the first channel finds the store bootstrapped on its second look.
      if (error instanceof RelayError && (error.code === 'RELAY_E_CHANNEL_EXISTS' || error.code === 'RELAY_E_TOKEN_EXISTS')) return bootstrapStore(store);
      throw error;
    });
  } catch (error) {
    await store.close();
    throw error;
  }
  const toTerminal = (runtime.stdout as { isTTY?: boolean }).isTTY === true;
  const logFormat = resolveLogFormat((input as { logFormat?: unknown }).logFormat, toTerminal);
  const app = await buildServer({ config, store, ...(logFormat === 'text' ? { logStream: textLogStream(runtime.stdout) } : {}) });
  warn = (message, error) => app.log.warn({ err: error }, message);
  // Handle signals before listening: a stop that comes while starting still closes the store cleanly.
  let stopping = false;
  runtime.onShutdownSignal((signal) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down: no new requests, finishing those in flight');
    // Requests still running when the grace period ends are cut; their events were not acknowledged.
    const force = setTimeout(() => app.server.closeAllConnections(), config.shutdownTimeoutMs);
    force.unref();
    app.close().then(
      () => {
        clearTimeout(force);
        app.log.info('stopped; store closed');
      },
      (error: unknown) => {
        app.log.error({ err: error }, 'shutdown failed');
        process.exitCode = 1;
      },
    );
  });
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await app.close();
    throw listenError(error, config);
  }
  const port = (app.server.address() as AddressInfo).port;
  const publicUrl = config.publicUrl ?? derivedPublicUrl(config, port);
  if (first) printFirstStart(runtime.stdout, `${publicUrl}/hooks/${first.channel}`, publicUrl, first, storeFlags(config), config.webUi);
  const channels = (await store.listChannels()).map((c) => c.name);
  // Before the ready line, so whoever waits for that one has this too.
  if (app.relay.metricsUrl !== undefined) line(runtime.stdout, `relay-server metrics: ${app.relay.metricsUrl}`);
  // Printed whatever the log level, so scripts and people always learn the port (e.g. with --port 0).
  line(runtime.stdout, `relay-server ready: ${publicUrl} (port ${port}, store ${description}, channels ${channels.join(', ') || 'none'})`);
  app.log.info({ url: publicUrl, port, store: description, engine: store.engine, channels }, 'relay-server ready');
}
