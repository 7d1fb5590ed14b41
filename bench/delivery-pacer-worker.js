// Worker-thread entry of the paced sender; started by runPaced() in delivery-pacer.js.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { signedEvents } from './events.js';
import { postEvent } from './post-event.js';

/** @typedef {import('./delivery-pacer.js').PacedOptions} PacedOptions */
/** @typedef {import('./delivery-pacer.js').PacedResult} PacedResult */

const nowNs = () => Number(process.hrtime.bigint());

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
      postEvent(agent, target, events[i]).then((outcome) => {
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
