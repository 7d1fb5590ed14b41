// Worker-thread entry of the load generator; started by runLoad() in load.js.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { signedEvents } from './events.js';
import { postEvent } from './post-event.js';

/** @typedef {import('./load.js').LoadOptions} LoadOptions */
/** @typedef {import('./load.js').LoadResult} LoadResult */
/** @typedef {import('./events.js').SignedEvent} SignedEvent */

/** @typedef {import('./post-event.js').Outcome} Outcome */

const now = () => process.hrtime.bigint();

function isSuccess(/** @type {Outcome} */ outcome) {
  return typeof outcome === 'number' && outcome >= 200 && outcome < 300;
}

function failureLabel(/** @type {Outcome} */ outcome) {
  return typeof outcome === 'number' ? `HTTP ${outcome}` : outcome;
}

/**
 * Sends events from `connections` loops, each waiting for its answer before the next request,
 * until the measured window ends or `maxRequests` have been sent; then waits for the last answers.
 *
 * @param {LoadOptions} options
 * @returns {Promise<LoadResult>}
 */
async function generateLoad(options) {
  const startUtilization = performance.eventLoopUtilization();
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
  const target = new URL(options.url);
  const nextEvent = signedEvents(options.secret, options.runTag);
  const windowStart = now() + BigInt(Math.round(options.warmupSeconds * 1e9));
  const deadline = windowStart + BigInt(Math.round(options.seconds * 1e9));
  const latenciesNs = new Float64Array(options.maxRequests);
  /** @type {Map<string, number>} */
  const failures = new Map();
  let sent = 0;
  let answered2xx = 0;
  let measured = 0;
  let measuredErrors = 0;
  let lastEnd = windowStart;

  function countFailure(/** @type {string} */ label) {
    failures.set(label, (failures.get(label) ?? 0) + 1);
  }

  function record(/** @type {Outcome} */ outcome, /** @type {bigint} */ begin, /** @type {bigint} */ end) {
    const ok = isSuccess(outcome);
    if (ok) answered2xx += 1;
    else countFailure(failureLabel(outcome));
    if (begin < windowStart) return;
    latenciesNs[measured] = Number(end - begin);
    measured += 1;
    if (!ok) measuredErrors += 1;
    if (end > lastEnd) lastEnd = end;
  }

  async function connectionLoop() {
    while (sent < options.maxRequests) {
      // Signing is the sender's work, not the server's: it stays out of the measured latency.
      const event = nextEvent();
      const begin = now();
      if (begin >= deadline) return;
      sent += 1;
      const outcome = await postEvent(agent, target, event);
      record(outcome, begin, now());
    }
  }

  await Promise.all(Array.from({ length: options.connections }, connectionLoop));
  agent.destroy();
  return {
    measured,
    measuredErrors,
    elapsedNs: Number(lastEnd - windowStart),
    latenciesNs: latenciesNs.slice(0, measured),
    sent,
    answered2xx,
    failures: Object.fromEntries(failures),
    busy: performance.eventLoopUtilization(startUtilization).utilization,
  };
}

const result = await generateLoad(/** @type {LoadOptions} */ (workerData));
parentPort?.postMessage(result, [result.latenciesNs.buffer]);
