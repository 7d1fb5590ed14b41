import { runWorker } from './worker-run.js';

/**
 * @typedef {object} LoadOptions
 * @property {string} url            where events are POSTed, e.g. http://127.0.0.1:PORT/hooks/myoperator
 * @property {string} secret         HMAC secret of the channel
 * @property {string} runTag         makes this run's event ids unique
 * @property {number} connections    concurrent keep-alive connections, one request in flight on each
 * @property {number} warmupSeconds  load sent before measuring starts
 * @property {number} seconds        length of the measured window
 * @property {number} maxRequests    no more requests than this in total (warm-up included)
 */

/**
 * @typedef {object} LoadResult
 * @property {number} measured          requests started inside the measured window
 * @property {number} measuredErrors    of those, non-2xx answers and failed requests
 * @property {number} elapsedNs         from the window's start until the last measured request finished
 * @property {Float64Array} latenciesNs one entry per measured request
 * @property {number} sent              every request sent, warm-up included
 * @property {number} answered2xx       every 2xx answer, warm-up included
 * @property {Record<string, number>} failures  why requests failed ("HTTP 503", "ECONNRESET", …) and how often
 * @property {number} busy              share of the run the generator's event loop was busy (0..1); near 1 means
 *                                      the generator, not the server, may be what limits the rate
 */

/**
 * Runs the load generator in a worker thread, so it has its own event loop (and, on a 2-core
 * machine, its own core) instead of competing with the server it measures.
 *
 * @param {LoadOptions} options
 * @returns {Promise<LoadResult>}
 */
export function runLoad(options) {
  return runWorker(new URL('./load-worker.js', import.meta.url), options, 'the load generator');
}
