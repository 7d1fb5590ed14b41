// Runs a bench sender in a worker thread and resolves with the one result it posts back.
import { Worker } from 'node:worker_threads';

/**
 * Starts the worker at `url` with `data`, and resolves with the message it posts before it
 * exits; rejects when it fails or exits without one.
 *
 * @template T
 * @param {URL} url
 * @param {unknown} data
 * @param {string} what  names the worker in the error, e.g. "the load generator"
 * @returns {Promise<T>}
 */
export function runWorker(url, data, what) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(url, { workerData: data });
    /** @type {{ value: T } | undefined} */
    let result;
    worker.once('message', (message) => {
      result = { value: message };
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (result) resolve(result.value);
      else reject(new Error(`bench: ${what} stopped (exit code ${code}) without reporting`));
    });
  });
}
