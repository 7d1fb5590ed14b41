import type { AddressInfo } from 'node:net';
import { bootstrapStore, type FirstStart } from '../bootstrap.js';
import { resolveServerConfig, type ServerConfig, type ServerConfigInput } from '../config.js';
import { RelayError } from '../errors.js';
import { buildServer } from '../server.js';
import { openConfiguredStore } from '../store/open.js';
import { line } from '@myop-relay/cli-support';
import type { CliRuntime } from './runtime.js';

function derivedPublicUrl(config: ServerConfig, port: number): string {
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host.includes(':') ? `[${config.host}]` : config.host;
  return `${config.tlsCert ? 'https' : 'http'}://${host}:${port}`;
}

function printFirstStart(out: NodeJS.WritableStream, publicUrl: string, first: FirstStart, webUi: boolean): void {
  line(out, '');
  line(out, 'First start: created the channel "myoperator" and an admin token.');
  line(out, 'The secret and the token below are shown only this once; keep them somewhere safe.');
  line(out, '');
  line(out, `  Webhook URL        ${publicUrl}/hooks/${first.channel}`);
  line(out, `  Verification       HMAC-SHA256 of the raw body, header ${first.signatureHeader}`);
  line(out, `  Signing secret     ${first.secret}`);
  line(out, `  Admin token        ${first.adminToken}`);
  if (webUi) line(out, `  Webhook Logs       ${publicUrl}/ (sign in with a token)`);
  line(out, '');
  line(out, 'In MyOperator: add a webhook with the URL above and paste the signing secret.');
  line(out, 'On your laptop, forward events to your local handler:');
  line(out, '');
  line(out, `  relay-client listen --relay ${publicUrl} --token ${first.adminToken} --channel ${first.channel} --forward-to http://localhost:3000/webhooks/myoperator`);
  line(out, '');
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
  const app = await buildServer({ config, store });
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
  await app.listen({ host: config.host, port: config.port });
  const port = (app.server.address() as AddressInfo).port;
  const publicUrl = config.publicUrl ?? derivedPublicUrl(config, port);
  if (first) printFirstStart(runtime.stdout, publicUrl, first, config.webUi);
  const channels = (await store.listChannels()).map((c) => c.name);
  // Printed whatever the log level, so scripts and people always learn the port (e.g. with --port 0).
  line(runtime.stdout, `relay-server ready: ${publicUrl} (port ${port}, store ${description}, channels ${channels.join(', ') || 'none'})`);
  app.log.info({ url: publicUrl, port, store: description, engine: store.engine, channels }, 'relay-server ready');
}
