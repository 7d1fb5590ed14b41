import { runWorker } from './worker-run.js';

/**
 * @typedef {object} PacedOptions
 * @property {string} url      where events are POSTed
 * @property {string} secret   HMAC secret of the channel
 * @property {string} runTag   makes this run's event ids unique
 * @property {number} rate     events per second, sent on schedule whatever the answers (open loop)
 * @property {number} count    events in all, warm-up included
 */

/**
 * @typedef {object} PacedResult
 * @property {string[]} ids            event ids in sending order
 * @property {Float64Array} sentNs     when each request was handed to node:http (process.hrtime, ns)
 * @property {Float64Array} answeredNs when its whole answer had been read (0 when none came)
 * @property {Uint8Array} ok           1 where the answer was 2xx
 * @property {Record<string, number>} failures  why requests failed and how often
 * @property {number} maxLagMs         the furthest a request went out behind its schedule
 */

/**
 * Sends `count` signed events at a fixed rate from a worker thread, so the sender's event loop is
 * neither the relay's nor the handler's. Each request goes out at its scheduled time even when
 * earlier ones are unanswered, so a slow relay cannot slow the sender down and hide its own delay.
 *
 * @param {PacedOptions} options
 * @returns {Promise<PacedResult>}
 */
export function runPaced(options) {
  return runWorker(new URL('./delivery-pacer-worker.js', import.meta.url), options, 'the paced sender');
}
