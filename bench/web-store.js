// Stores for bench/web.js: a relay with an admin token, and stores filled with many events.
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { applyChannelSettings, buildServer, issueToken, resolveServerConfig, SqliteStore } from '../relay-server/dist/index.js';
import { betterSqliteDriver } from '../relay-server/dist/store/sqlite-better.js';
import { CHANNEL } from './events.js';

/**
 * @typedef {object} WebTarget
 * @property {string} url        the relay's base URL
 * @property {string} token      an admin token
 * @property {SqliteStore} store
 * @property {() => Promise<void>} close  stops the server and closes the store
 */

/** A log destination that drops everything: log lines are not what is measured. */
function discardingStream() {
  return new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  });
}

/**
 * The real relay-server on SQLite in `dataDir`, with the HMAC channel and an admin token; the
 * Webhook Logs page and its stream included, as `relay-server start` serves them.
 *
 * @param {string} dataDir
 * @param {string} secret
 * @returns {Promise<WebTarget>}
 */
export async function startWebRelay(dataDir, secret) {
  const store = new SqliteStore({ path: join(dataDir, 'relay.db'), driver: betterSqliteDriver });
  if (!(await store.getChannel(CHANNEL))) await store.createChannel(applyChannelSettings(CHANNEL, { verify: 'hmac', secret: [secret] }).channel);
  const { token } = await issueToken(store, { name: `bench-${Date.now()}`, role: 'admin', channels: null });
  const config = resolveServerConfig({ host: '127.0.0.1', port: 0, logLevel: 'warn', rateLimitChannel: 0, rateLimitIp: 0 });
  const app = await buildServer({ config, store, logStream: discardingStream(), retention: false });
  await app.listen({ host: config.host, port: config.port });
  const address = /** @type {import('node:net').AddressInfo} */ (app.server.address());
  return { url: `http://127.0.0.1:${address.port}`, token, store, close: () => app.close() };
}

/** Text that exactly one event of a filled store carries, near its oldest end. */
export const RARE_TEXT = 'needle-4c1e9a';

/**
 * A Webhook v2 call event of about 320 bytes; six events share a session, like one call.
 *
 * @param {number} i
 */
function v2Event(i) {
  const types = ['call.initiated', 'call.dial_begin', 'call.answered', 'call.end', 'call.summary', 'call.disposition'];
  return Buffer.from(
    JSON.stringify({
      event_id: `evt_fill_${i}`,
      company_id: '8995',
      event_type: types[i % types.length],
      event_sequence: (i % types.length) + 1,
      timestamp: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
      channel: 'call',
      direction: 'incoming',
      session_id: `call-${Math.floor(i / types.length)}`,
      system_identifier: '+918045678901',
      customer_identifier: '+919812345678',
      payload: { id: `call_${i}`, status: 'bridged', note: i === 10 ? RARE_TEXT : 'ok' },
    }),
  );
}

/**
 * Appends `count` events through the store's own append path (group-committed, flushed), then
 * gives the channel two consumers: `all`, from the first event (every event pending for it, the
 * listing's costliest case), and `recent`, which has had the newest 500 delivered.
 *
 * @param {SqliteStore} store
 * @param {number} count
 */
export async function fillStore(store, count) {
  const headers = [['Content-Type', 'application/json'], ['User-Agent', 'MyOperator-Webhook/2.0']];
  const chunk = 4096;
  for (let start = 0; start < count; start += chunk) {
    const appends = [];
    for (let i = start; i < Math.min(count, start + chunk); i++) {
      const body = v2Event(i);
      const event = JSON.parse(body.toString());
      appends.push(
        store.appendEvent({
          channel: CHANNEL,
          eventId: event.event_id,
          eventType: event.event_type,
          body,
          headers,
          receivedAt: new Date(Date.now() - (count - i) * 10),
          sourceIp: '103.21.77.10',
          synthetic: false,
          session: event.session_id,
          verification: { by: 'hmac', header: 'X-MyOperator-Signature', allowList: false },
        }),
      );
    }
    await Promise.all(appends);
  }
  const now = new Date();
  await store.openConsumer({ channel: CHANNEL, name: 'all', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, now);
  const recent = Math.max(1, count - 499);
  await store.openConsumer({ channel: CHANNEL, name: 'recent', start: { kind: 'seq', seq: recent }, filter: [], maxAttempts: null }, now);
  const claimed = await store.claimDeliveries({ channel: CHANNEL, consumer: 'recent', session: 'bench', limit: 500, ordered: false, now, leaseMs: 60_000 });
  await Promise.all(
    claimed.map((d) => store.ackDelivery({ channel: CHANNEL, consumer: 'recent', seq: d.event.seq, attempt: d.attempt, session: 'bench', now, latencyMs: 3, status: 200 })),
  );
}
