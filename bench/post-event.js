// One signed event POSTed the way MyOperator sends it, shared by the bench's senders.
import http from 'node:http';
import { SIGNATURE_HEADER } from './events.js';

/** A request without an answer after this long counts as failed, so a stuck target cannot stall the bench. */
export const REQUEST_TIMEOUT_MS = 10_000;

/** @typedef {number | string} Outcome  an HTTP status, or why the request failed before one arrived */

/**
 * POSTs one event and resolves once the whole answer has been read: with its status, or why no
 * status came.
 *
 * @param {http.Agent} agent
 * @param {URL} target
 * @param {import('./events.js').SignedEvent} event
 * @returns {Promise<Outcome>}
 */
export function postEvent(agent, target, event) {
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
