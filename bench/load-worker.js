// Worker-thread entry of the load generator; started by runLoad() in load.js.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { SIGNATURE_HEADER, signedEvents } from './events.js';

/** A request without an answer after this long counts as failed, so a stuck server cannot stall the bench. */
const REQUEST_TIMEOUT_MS = 10_000;

/** @typedef {import('./load.js').LoadOptions} LoadOptions */
/** @typedef {import('./load.js').LoadResult} LoadResult */
/** @typedef {import('./events.js').SignedEvent} SignedEvent */

/** @typedef {number | string} Outcome  an HTTP status, or why the request failed before one arrived */

const now = () => process.hrtime.bigint();

/**
 * POSTs one event and resolves once the whole answer has been read.
 *
 * @param {http.Agent} agent
 * @param {URL} target
 * @param {SignedEvent} event
 * @returns {Promise<Outcome>}
 */
function post(agent, target, event) {
  return new Promise((resolve) => {
    const fail = (/** @type {NodeJS.ErrnoException} */ error) => resolve(error.code ?? error.message);
    const request = http.request(
      {
        agent,
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': event.body.length,
          [SIGNATURE_HEADER]: event.signature,
        },
      },
      (response) => {
        response.once('error', fail);
        response.once('end', () => resolve(response.statusCode ?? 0));
        response.resume();
      },
    );
    request.setTimeout(REQUEST_TIMEOUT_MS, () => request.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    request.once('error', fail);
    request.end(event.body);
  });
}

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
      const outcome = await post(agent, target, event);
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
