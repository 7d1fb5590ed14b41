import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { apiPlugin } from './api/plugin.js';
import type { ServerConfig } from './config.js';
import { type ClientErrorCause, ResponsesInFlight, createClientErrorHandler } from './edge/client-error.js';
import { MAX_PATH_SEGMENT_LENGTH } from './edge/limits.js';
import { loggerOptions } from './edge/log.js';
import { answerExpectation, answerFrameworkError, edgeOnRequest } from './edge/requests.js';
import { RelayError } from './errors.js';
import { healthPlugin } from './health.js';
import { IngestCounters } from './ingest/counters.js';
import { ingestPlugin } from './ingest/plugin.js';
import { RateLimiter } from './ingest/rate-limit.js';
import { DeliveryHub } from './delivery/hub.js';
import { socketPlugin } from './delivery/socket-plugin.js';
import type { Session } from './delivery/session.js';
import { metricsPlugin } from './metrics/plugin.js';
import { RelayMetrics } from './metrics/relay-metrics.js';
import { RetentionPruner } from './retention.js';
import { SERVER_VERSION } from './version.js';
import type { Store } from './store/store.js';
import { ChannelActivity } from './web/activity.js';
import { webPlugin } from './web/plugin.js';

/** What {@link buildServer} needs. */
export interface BuildServerOptions {
  config: ServerConfig;
  store: Store;
  /** Where log lines go (pino JSON). Default: standard output. */
  logStream?: NodeJS.WritableStream;
  /** Run the retention pruner on its interval. Default true. */
  retention?: boolean;
  /** How often an open event stream (`/api/stream`) checks its token. Default 20 s; tests shorten it. */
  streamTokenCheckMs?: number;
}

/** Parts of a built server that tests and the CLI reach for. */
export interface RelayServerParts {
  counters: IngestCounters;
  retention: RetentionPruner;
  hub: DeliveryHub;
  metrics: RelayMetrics;
  /** `http://host:port/metrics` of the `--metrics-listen` listener once it listens; undefined without one. */
  metricsUrl: string | undefined;
  /** Which channels have new events, for listeners beside the hub. */
  activity: ChannelActivity;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Parts of the relay that live beside the HTTP routes. */
    relay: RelayServerParts;
  }
}

/**
 * Builds the relay-server: a Fastify instance with the ingest, API and health plugins, not yet
 * listening. Call `listen()` (port 0 in tests) or `inject()`. `close()` stops accepting, lets
 * in-flight requests finish, stops retention and closes the store.
 */
export async function buildServer(options: BuildServerOptions): Promise<FastifyInstance> {
  const { config, store } = options;
  const tls = config.tlsCert && config.tlsKey ? { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) } : undefined;
  const timeouts = {
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    // Node checks the two timeouts above only this often; the default (30 s) would let slow senders linger.
    connectionsCheckingInterval: Math.max(250, Math.min(5_000, Math.floor(config.headersTimeoutMs / 4))),
  };

  const serverOptions = { ...timeouts, requireHostHeader: false };
  const inFlight = new ResponsesInFlight();
  let answerClientError = (_error: ClientErrorCause, socket: Socket): void => void socket.destroy();

  const app = Fastify({
    serverFactory: (handler) => {
      const server = tls ? https.createServer({ ...tls, ...serverOptions }, handler) : http.createServer(serverOptions, handler);
      return server.on('checkExpectation', answerExpectation);
    },
    routerOptions: { maxParamLength: MAX_PATH_SEGMENT_LENGTH },
    clientErrorHandler: (error, socket) => answerClientError(error, socket),
    frameworkErrors: answerFrameworkError,
    trustProxy: config.trustProxy.length > 0 ? [...config.trustProxy] : false,
    return503OnClosing: false,
    // Ingest logs one line per event itself; Fastify's two lines per request would double the noise.
    logController: new LogController({ disableRequestLogging: true }),
    logger: loggerOptions(config.logLevel, options.logStream),
  });

  answerClientError = createClientErrorHandler(app.log, inFlight);
  app.addHook('onRequest', edgeOnRequest(inFlight));

  const sessions = new Set<Session>();
  // Gauges read the hub only when scraped, after it exists.
  const metrics = new RelayMetrics({ store, sessions, version: SERVER_VERSION, connected: (channel, consumer): number => hub.connected(channel, consumer) });
  const stopFlushMetrics = store.onAppendFlushed(metrics.flushed);
  const counters = new IngestCounters(metrics.ingested);
  const retention = new RetentionPruner({
    store,
    policy: { maxAgeMs: config.retentionMaxAgeMs, maxEventsPerChannel: config.retentionMaxEvents },
    intervalMs: config.retentionIntervalMs,
    log: app.log,
    onRemoved: metrics.retentionRemoved,
  });
  const hub = new DeliveryHub({
    store,
    log: app.log,
    ackTimeoutMs: config.ackTimeoutMs,
    retryInitialMs: config.retryInitialMs,
    retryMaxMs: config.retryMaxMs,
    pollIntervalMs: config.pollIntervalMs,
    observer: metrics,
  });
  const activity = new ChannelActivity();
  const parts: RelayServerParts = { counters, retention, hub, metrics, metricsUrl: undefined, activity };
  app.decorate('relay', parts);
  const wake = (channel: string): void => {
    hub.notify(channel);
    activity.notify(channel);
  };
  const stopRemoteEvents = store.onRemoteEvent?.(wake);
  // Consumers are sent an event as soon as it is committed, while the sender's answer still
  // waits for the disk.
  const stopCommitted = store.onCommitted(wake);
  app.addHook('preClose', async () => {
    stopRemoteEvents?.();
    stopCommitted();
    stopFlushMetrics();
  });

  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (_request, reply) => {
    if (closing) {
      reply.header('connection', 'close');
      throw new RelayError('RELAY_E_SHUTTING_DOWN');
    }
  });
  app.addHook('onClose', async () => {
    await retention.stop();
    await store.close();
  });

  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const relayError = toRelayError(error);
    if (relayError.status >= 500) request.log.error({ err: error, code: relayError.code }, 'request failed');
    return reply.code(relayError.status).send(relayError.toBody());
  });
  app.setNotFoundHandler((_request, reply) => {
    const error = new RelayError('RELAY_E_NOT_FOUND');
    return reply.code(error.status).send(error.toBody());
  });

  await app.register(healthPlugin, { store });
  // Before ingest: its answer hook must see the ingest routes.
  await app.register(metricsPlugin, { metrics, store, listen: config.metricsListen, onListening: (url) => (parts.metricsUrl = url) });
  await app.register(ingestPlugin, {
    store,
    counters,
    channelLimiter: new RateLimiter({ ratePerSecond: config.rateLimitChannel, burst: config.rateLimitChannel * 2 }),
    ipLimiter: new RateLimiter({ ratePerSecond: config.rateLimitIp, burst: config.rateLimitIp * 2 }),
  });
  await app.register(apiPlugin, { store, counters, hub });
  await app.register(socketPlugin, {
    store,
    hub,
    heartbeatMs: config.heartbeatMs,
    serverVersion: SERVER_VERSION,
    sessions,
    limits: {
      sendBufferBytes: config.maxSendBufferBytes,
      sendStallTimeoutMs: config.sendStallTimeoutMs,
      subscriptions: config.maxSubscriptions,
      consumersPerToken: config.maxConsumersPerToken,
    },
  });
  await app.register(webPlugin, { store, activity, page: config.webUi, ...(options.streamTokenCheckMs !== undefined ? { tokenCheckMs: options.streamTokenCheckMs } : {}) });

  if (options.retention ?? true) app.addHook('onReady', async () => retention.start());
  return app;
}

function toRelayError(error: unknown): RelayError {
  if (error instanceof RelayError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new RelayError('RELAY_E_BODY_TOO_LARGE');
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new RelayError('RELAY_E_UNSUPPORTED_CONTENT_TYPE');
  // A body cut short, by its sender or by a client error the edge answered in its place.
  if (code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH' || code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE') return new RelayError('RELAY_E_BODY_INCOMPLETE');
  // Fastify's JSON parser reports syntax errors and forbidden keys (__proto__) with status 400.
  if (code === 'FST_ERR_CTP_INVALID_JSON_BODY' || code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || (error instanceof SyntaxError && (error as { statusCode?: unknown }).statusCode === 400)) {
    return new RelayError('RELAY_E_INVALID_JSON');
  }
  return new RelayError('RELAY_E_INTERNAL', undefined, { cause: error });
}
