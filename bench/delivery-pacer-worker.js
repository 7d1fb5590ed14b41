// Worker-thread entry of the paced sender; started by runPaced() in delivery-pacer.js.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { SIGNATURE_HEADER, signedEvents } from './events.js';

/** A request without an answer after this long counts as failed, so a stuck target cannot stall the bench. */
const REQUEST_TIMEOUT_MS = 10_000;

/** @typedef {import('./delivery-pacer.js').PacedOptions} PacedOptions */
/** @typedef {import('./delivery-pacer.js').PacedResult} PacedResult */

const nowNs = () => Number(process.hrtime.bigint());

/**
 * POSTs one event; resolves with the status, or why no status came.
 *
 * @param {http.Agent} agent
 * @param {URL} target
 * @param {import('./events.js').SignedEvent} event
 * @returns {Promise<number | string>}
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
        headers: { 'content-type': 'application/json', 'content-length': event.body.length, [SIGNATURE_HEADER]: event.signature },
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

/**
 * @param {PacedOptions} options
 * @returns {Promise<PacedResult>}
 */
async function sendPaced(options) {
  // Signed up front: signing is the sender's work and must not push requests off their schedule.
  const nextEvent = signedEvents(options.secret, options.runTag);
  const events = Array.from({ length: options.count }, nextEvent);
  const ids = events.map((event) => /** @type {string} */ (JSON.parse(event.body.toString()).event_id));
  const agent = new http.Agent({ keepAlive: true });
  const target = new URL(options.url);
  const sentNs = new Float64Array(options.count);
  const answeredNs = new Float64Array(options.count);
  const ok = new Uint8Array(options.count);
  /** @type {Record<string, number>} */
  const failures = {};
  const intervalNs = 1e9 / options.rate;
  const startNs = nowNs();
  let maxLagNs = 0;
  /** @type {Promise<void>[]} */
  const answers = [];

  for (let i = 0; i < options.count; i++) {
    const dueNs = startNs + i * intervalNs;
    const waitMs = (dueNs - nowNs()) / 1e6;
    if (waitMs > 0) await sleep(waitMs);
    sentNs[i] = nowNs();
    maxLagNs = Math.max(maxLagNs, sentNs[i] - dueNs);
    answers.push(
      post(agent, target, events[i]).then((outcome) => {
        answeredNs[i] = nowNs();
        if (typeof outcome === 'number' && outcome >= 200 && outcome < 300) ok[i] = 1;
        else {
          const label = typeof outcome === 'number' ? `HTTP ${outcome}` : outcome;
          failures[label] = (failures[label] ?? 0) + 1;
        }
      }),
    );
  }
  await Promise.all(answers);
  agent.destroy();
  return { ids, sentNs, answeredNs, ok, failures, maxLagMs: maxLagNs / 1e6 };
}

const result = await sendPaced(/** @type {PacedOptions} */ (workerData));
parentPort?.postMessage(result, [result.sentNs.buffer, result.answeredNs.buffer, result.ok.buffer]);
