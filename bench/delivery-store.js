// Prepares a relay store before its relay-server starts: channel, token, consumer, backlog.
import { applyChannelSettings, issueToken, openConfiguredStore } from '../relay-server/dist/index.js';
import { betterSqliteDriver } from '../relay-server/dist/store/sqlite-better.js';
import { CHANNEL, SIGNATURE_HEADER, signedEvents } from './events.js';

/** The durable consumer relay-client listens as. */
export const CONSUMER = 'bench';

/** Appends in flight at once: enough to fill the SQLite store's group commits (256 events each). */
const APPEND_CONCURRENCY = 1024;

/**
 * @typedef {object} PreparedStore
 * @property {string} token     an admin token for relay-client
 * @property {number} appendMs  how long appending the backlog took (0 without one)
 */

/**
 * Opens the store relay-server will use (`{ dataDir }` for SQLite, `{ databaseUrl }` for Postgres)
 * and creates the `myoperator` HMAC channel with `secret`, an admin token and the consumer
 * {@link CONSUMER}, starting at the channel's end. Then appends `backlog` events for that
 * consumer through the store's `appendEvent`, the call ingest makes once a request is verified,
 * and closes the store so relay-server can open it.
 *
 * @param {import('../relay-server/dist/index.js').StoreConfig} config
 * @param {{ secret: string, backlog?: number, onProgress?: (appended: number) => void }} options
 * @returns {Promise<PreparedStore>}
 */
export async function prepareStore(config, { secret, backlog = 0, onProgress }) {
  const { store } = await openConfiguredStore(config, betterSqliteDriver);
  try {
    await store.createChannel(applyChannelSettings(CHANNEL, { verify: 'hmac', secret: [secret] }).channel);
    const { token } = await issueToken(store, { name: 'bench', role: 'admin', channels: null });
    await store.openConsumer({ channel: CHANNEL, name: CONSUMER, start: { kind: 'now' }, filter: [], maxAttempts: null }, new Date());
    const began = performance.now();
    const nextEvent = signedEvents(secret, 'backlog');
    for (let appended = 0; appended < backlog; ) {
      const chunk = Math.min(APPEND_CONCURRENCY, backlog - appended);
      await Promise.all(Array.from({ length: chunk }, () => store.appendEvent(storedEvent(nextEvent()))));
      appended += chunk;
      onProgress?.(appended);
    }
    return { token, appendMs: backlog > 0 ? performance.now() - began : 0 };
  } finally {
    await store.close();
  }
}

/**
 * The event as ingest would store it after a POST from the load generator: same body, same
 * headers (hop-by-hop ones dropped).
 *
 * @param {import('./events.js').SignedEvent} event
 * @returns {import('../relay-server/dist/index.js').NewEvent}
 */
export function storedEvent({ body, signature }) {
  const { event_id: eventId, event_type: eventType } = JSON.parse(body.toString());
  return {
    channel: CHANNEL,
    eventId,
    eventType,
    body,
    headers: [
      ['content-type', 'application/json'],
      ['content-length', String(body.length)],
      [SIGNATURE_HEADER, signature],
      ['Host', '127.0.0.1'],
    ],
    receivedAt: new Date(),
    sourceIp: '127.0.0.1',
    synthetic: false,
  };
}
