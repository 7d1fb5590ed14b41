import { createHmac } from 'node:crypto';

/** Size of every generated event body in bytes, close to a real MyOperator call event. */
export const EVENT_BYTES = 300;

/** The channel both targets serve; the relay's signature header, as MyOperator sends it. */
export const CHANNEL = 'myoperator';
export const SIGNATURE_HEADER = 'X-MyOperator-Signature';

/**
 * @typedef {object} SignedEvent
 * @property {Buffer} body      the exact bytes sent
 * @property {string} signature lowercase hex HMAC-SHA256 of `body`
 */

/** Lowercase hex HMAC-SHA256, as MyOperator signs. */
export function sign(body, secret) {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/**
 * A v2-style `call.answered` event with a unique `event_id`, its `note` padded so the body is
 * exactly {@link EVENT_BYTES} long whatever the id's length.
 *
 * @param {string} eventId
 * @returns {Buffer}
 */
export function callAnsweredEvent(eventId) {
  const event = {
    event_id: eventId,
    event_type: 'call.answered',
    created_at: '2025-01-15T10:21:07.412Z',
    company_id: 'cmp_5f1a2b',
    data: {
      call_id: `call_${eventId}`,
      caller: '+919876543210',
      agent: { id: 'agt_0042', name: 'Priya Sharma' },
      department: 'Support',
      note: '',
    },
  };
  const unpadded = Buffer.byteLength(JSON.stringify(event));
  event.data.note = 'x'.repeat(Math.max(0, EVENT_BYTES - unpadded));
  return Buffer.from(JSON.stringify(event));
}

/**
 * Endless signed events whose ids never repeat within one run, so the relay stores every one
 * instead of acknowledging retries.
 *
 * @param {string} secret  HMAC secret of the channel
 * @param {string} runTag  distinguishes this run's ids from any other run's
 * @returns {() => SignedEvent}
 */
export function signedEvents(secret, runTag) {
  let sequence = 0;
  return () => {
    sequence += 1;
    const body = callAnsweredEvent(`evt_${runTag}_${sequence}`);
    return { body, signature: sign(body, secret) };
  };
}
