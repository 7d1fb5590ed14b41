import { createHmac, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { applyChannelSettings, buildServer, resolveServerConfig, SqliteStore } from '../relay-server/dist/index.js';
import { betterSqliteDriver } from '../relay-server/dist/store/sqlite-better.js';
import { CHANNEL, SIGNATURE_HEADER } from './events.js';

/**
 * @typedef {object} RunningTarget
 * @property {string} url  where events are POSTed
 * @property {() => Promise<number>} [storedEvents]  events the target's store holds, when it has one
 * @property {() => Promise<void>} close  stops the server and releases its store
 */

const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** Timing-safe check of a lowercase hex HMAC-SHA256 over the raw body. */
function signatureMatches(body, signature, secret) {
  if (typeof signature !== 'string' || !HEX_SHA256.test(signature)) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(signature, 'hex'));
}

/** The base URL of a Fastify instance listening on 127.0.0.1. */
function baseUrl(app) {
  const address = /** @type {import('node:net').AddressInfo} */ (app.server.address());
  return `http://127.0.0.1:${address.port}`;
}

/**
 * (a) The floor: bare Fastify with one POST route that reads the raw body, checks its HMAC and
 * answers 200. No store, no logging; what any Fastify ingest pays before doing real work.
 *
 * @param {string} secret
 * @returns {Promise<RunningTarget>}
 */
export async function startFloor(secret) {
  const app = Fastify({ logger: false });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  const header = SIGNATURE_HEADER.toLowerCase();
  app.post('/hooks/:channel', async (request, reply) => {
    if (!signatureMatches(request.body, request.headers[header], secret)) return reply.code(401).send({ accepted: false });
    return { accepted: true };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { url: `${baseUrl(app)}/hooks/${CHANNEL}`, close: () => app.close() };
}

/** A log destination that drops everything: per-event log lines are not what is measured. */
function discardingStream() {
  return new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  });
}

/**
 * (b) The real relay-server: ingest plugin, HMAC channel, SQLite in WAL mode with group commit
 * and a WAL flush after each commit, answering 200 only once each event is on disk. A consumer
 * that never connects is registered, so that a metrics scrape has a backlog to count, as it
 * would for a developer whose laptop is closed.
 *
 * @param {string} secret
 * @param {string} dataDir  an empty directory for the database; the caller removes it
 * @param {{ metricsListen?: boolean }} [options]  serve /metrics on a second port (`metricsUrl`)
 * @returns {Promise<RunningTarget & { metricsUrl?: string }>}
 */
export async function startRelay(secret, dataDir, options = {}) {
  const store = new SqliteStore({ path: join(dataDir, 'relay.db'), driver: betterSqliteDriver });
  await store.createChannel(applyChannelSettings(CHANNEL, { verify: 'hmac', secret: [secret] }).channel);
  await store.openConsumer({ channel: CHANNEL, name: 'offline-laptop', start: { kind: 'now' }, filter: [], maxAttempts: null }, new Date());
  const config = resolveServerConfig({
    host: '127.0.0.1',
    port: 0,
    logLevel: 'warn',
    rateLimitChannel: 0,
    rateLimitIp: 0,
    ...(options.metricsListen ? { metricsListen: '127.0.0.1:0' } : {}),
  });
  const app = await buildServer({ config, store, logStream: discardingStream(), retention: false });
  await app.listen({ host: config.host, port: config.port });
  return {
    url: `${baseUrl(app)}/hooks/${CHANNEL}`,
    ...(app.relay.metricsUrl !== undefined ? { metricsUrl: app.relay.metricsUrl } : {}),
    storedEvents: async () => (await store.channelStats(CHANNEL)).events,
    // Closing the server also closes the store (the relay's onClose hook).
    close: () => app.close(),
  };
}
