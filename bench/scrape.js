import { Worker } from 'node:worker_threads';

/**
 * @typedef {object} ScrapeResult
 * @property {number} scrapes    answered 200
 * @property {number} failures   anything else
 * @property {number} meanMs     mean time of one scrape, from request to the end of the answer
 * @property {number} bytes      size of the last exposition
 */

/**
 * Scrapes `url` every `intervalMs` from a worker thread, as Prometheus would from its own
 * process, so that reading the answer costs the relay's event loop nothing. Call `stop()` for
 * the figures.
 *
 * @param {string} url
 * @param {number} intervalMs
 * @returns {{ stop: () => Promise<ScrapeResult> }}
 */
export function startScraper(url, intervalMs) {
  const worker = new Worker(new URL('./scrape-worker.js', import.meta.url), { workerData: { url, intervalMs } });
  /** @type {Promise<ScrapeResult>} */
  const result = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`bench: the scraper stopped (exit code ${code}) without reporting`)));
  });
  return {
    stop() {
      worker.postMessage('stop');
      return result;
    },
  };
}
