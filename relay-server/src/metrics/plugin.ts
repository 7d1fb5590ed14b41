import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify';
import { RelayError } from '../errors.js';
import type { Store } from '../store/store.js';
import { authenticate } from '../tokens.js';
import type { RelayMetrics } from './relay-metrics.js';

/** Where `--metrics-listen` serves the metrics. */
export interface MetricsAddress {
  host: string;
  port: number;
}

/** Dependencies of {@link metricsPlugin}. */
export interface MetricsPluginOptions {
  metrics: RelayMetrics;
  store: Store;
  /** Serve `/metrics` on this address only, without a token; the main port then has no `/metrics`. Default: the main port, admin tokens only. */
  listen: MetricsAddress | undefined;
  /** Told the address the metrics listener bound (its port when 0 was asked for). */
  onListening?: (url: string) => void;
}

const INGEST_ROUTE = '/hooks/:channel';

async function scrape(metrics: RelayMetrics, reply: FastifyReply): Promise<string> {
  const { contentType, text } = await metrics.render();
  reply.type(contentType);
  return text;
}

/**
 * `GET /metrics` in the Prometheus text format, and the timing of webhook answers. Registered
 * without encapsulation (like fastify-plugin does) so that its answer hook sees the ingest
 * routes, which are registered after it.
 */
const plugin: FastifyPluginAsync<MetricsPluginOptions> = async (app, options) => {
  const { metrics, store } = options;
  app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.method === 'POST' && request.routeOptions.url === INGEST_ROUTE) metrics.ingestAnswered(reply.statusCode, reply.elapsedTime / 1000);
  });

  if (options.listen === undefined) {
    app.get('/metrics', async (request, reply) => {
      const token = await authenticate(store, request.headers.authorization);
      if (token.role !== 'admin') throw new RelayError('RELAY_E_ADMIN_REQUIRED', `(token "${token.name}" is a developer token)`);
      return scrape(metrics, reply);
    });
    return;
  }

  const listener = metricsListener(metrics);
  const address = options.listen;
  // onReady: a metrics address that cannot be bound fails the start instead of going unnoticed.
  app.addHook('onReady', async () => {
    let url: string;
    try {
      url = await listener.listen({ host: address.host, port: address.port });
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new RelayError('RELAY_E_CONFIG_INVALID', `--metrics-listen: cannot listen on ${address.host}:${address.port} (${reason}).`, { cause: error });
    }
    options.onListening?.(`${url}/metrics`);
  });
  app.addHook('preClose', async () => {
    await listener.close();
  });
};
(plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;

/** See {@link plugin}. */
export const metricsPlugin = plugin;

/** A second HTTP server that answers `GET /metrics` to anyone who can reach it, and nothing else. */
function metricsListener(metrics: RelayMetrics): FastifyInstance {
  const listener = Fastify({ logger: false });
  listener.get('/metrics', async (_request, reply) => scrape(metrics, reply));
  listener.setNotFoundHandler((_request, reply) => {
    const error = new RelayError('RELAY_E_NOT_FOUND', '(this address serves only GET /metrics)');
    return reply.code(error.status).send(error.toBody());
  });
  listener.setErrorHandler((error: unknown, _request, reply) => {
    const relayError = error instanceof RelayError ? error : new RelayError('RELAY_E_INTERNAL', undefined, { cause: error });
    return reply.code(relayError.status).send(relayError.toBody());
  });
  return listener;
}
