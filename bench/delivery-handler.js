// The local handler events are delivered to: a real node:http server in the bench process.
import http from 'node:http';

/** Monotonic nanoseconds, the same clock in every thread of the process (unlike performance.now()). */
export const nowNs = () => Number(process.hrtime.bigint());

const ID_FIELD = '"event_id":"';

/** The `event_id` of a body made by events.js, which starts with that field; '' when absent. */
function eventIdOf(/** @type {Buffer} */ body) {
  const start = body.indexOf(ID_FIELD);
  if (start < 0) return '';
  const from = start + ID_FIELD.length;
  const end = body.indexOf('"', from);
  return end < 0 ? '' : body.toString('latin1', from, end);
}

/**
 * @typedef {object} Handler
 * @property {string} url                     where events are POSTed
 * @property {Map<string, number>} arrivals   event id → when its body had been read ({@link nowNs}), first arrival only
 * @property {() => number} duplicates        arrivals of an id seen before (redeliveries)
 * @property {(fromNs: number, toNs: number) => number} countBetween  distinct events that arrived in [fromNs, toNs)
 * @property {(done: () => boolean, timeoutMs: number) => Promise<boolean>} until
 *   resolves true as soon as `done()` holds after an arrival (or already holds), false after `timeoutMs`
 * @property {() => void} reset               forgets every arrival
 * @property {() => Promise<void>} close
 */

/**
 * Starts a handler on 127.0.0.1 that reads each request's whole body, notes when it arrived and
 * answers 200 with an empty body: the least a local webhook handler can do.
 *
 * @returns {Promise<Handler>}
 */
export async function startHandler() {
  /** @type {Map<string, number>} */
  const arrivals = new Map();
  let duplicates = 0;
  /** @type {Set<() => void>} */
  const watchers = new Set();

  const server = http.createServer((request, response) => {
    /** @type {Buffer[]} */
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const at = nowNs();
      const id = eventIdOf(Buffer.concat(chunks));
      if (arrivals.has(id)) duplicates += 1;
      else arrivals.set(id, at);
      response.writeHead(200, { 'content-length': '0' }).end();
      for (const watcher of watchers) watcher();
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve, reject) => server.once('listening', resolve).once('error', reject));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());

  return {
    url: `http://127.0.0.1:${port}/hook`,
    arrivals,
    duplicates: () => duplicates,
    countBetween(fromNs, toNs) {
      let count = 0;
      for (const at of arrivals.values()) if (at >= fromNs && at < toNs) count += 1;
      return count;
    },
    until(done, timeoutMs) {
      if (done()) return Promise.resolve(true);
      return new Promise((resolve) => {
        const finish = (/** @type {boolean} */ reached) => {
          clearTimeout(timer);
          watchers.delete(watcher);
          resolve(reached);
        };
        const watcher = () => {
          if (done()) finish(true);
        };
        const timer = setTimeout(() => finish(false), timeoutMs);
        watchers.add(watcher);
      });
    },
    reset() {
      arrivals.clear();
      duplicates = 0;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve(undefined));
      }),
  };
}
