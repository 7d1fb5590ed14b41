// Worker-thread entry of the metrics scraper; started by startScraper() in scrape.js.
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

const { url, intervalMs } = /** @type {{ url: string, intervalMs: number }} */ (workerData);
const agent = new http.Agent({ keepAlive: true });

/** One GET; resolves with the status (0 on a connection error) and the body's size. */
function scrape() {
  return new Promise((resolve) => {
    const request = http.get(url, { agent }, (response) => {
      let bytes = 0;
      response.on('data', (chunk) => (bytes += chunk.length));
      response.once('end', () => resolve({ status: response.statusCode ?? 0, bytes }));
      response.once('error', () => resolve({ status: 0, bytes }));
    });
    request.setTimeout(10_000, () => request.destroy(new Error('no answer')));
    request.once('error', () => resolve({ status: 0, bytes: 0 }));
  });
}

let stopped = false;
let scrapes = 0;
let failures = 0;
let totalMs = 0;
let lastBytes = 0;
parentPort?.once('message', () => (stopped = true));

while (!stopped) {
  const started = performance.now();
  const { status, bytes } = await scrape();
  const took = performance.now() - started;
  if (status === 200) {
    scrapes += 1;
    totalMs += took;
    lastBytes = bytes;
  } else failures += 1;
  // Every interval from the previous start, as Prometheus' scrape_interval is.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, intervalMs - took)));
}
agent.destroy();
parentPort?.postMessage({ scrapes, failures, meanMs: scrapes > 0 ? totalMs / scrapes : 0, bytes: lastBytes });
