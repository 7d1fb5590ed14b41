// @ts-check
/**
 * A sample MyOperator webhook handler, the kind `relay-client listen --forward-to` points at.
 *
 * It checks `X-MyOperator-Signature` exactly as MyOperator's documentation shows for Node.js
 * (HMAC-SHA256 of the raw request body with the webhook's signing secret, compared in constant
 * time), answers 200 when the signature is valid and 401 otherwise, and prints one line per
 * request. relay-client forwards the exact bytes and headers MyOperator sent, so the signature
 * verifies on your laptop just as it would on your server.
 *
 *   MYOPERATOR_SECRET=whsec_... node demo/handler.js          # listens on 127.0.0.1:3000
 *   MYOPERATOR_SECRET=whsec_... PORT=0 node demo/handler.js   # any free port (printed)
 *
 * Plain node:http, no dependencies, so it can be copied into any project.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const secret = process.env['MYOPERATOR_SECRET'] ?? '';
const port = Number(process.env['PORT'] ?? 3000);
const host = process.env['HOST'] ?? '127.0.0.1';
const path = '/webhooks/myoperator';

if (secret === '') {
  console.error('Set MYOPERATOR_SECRET to the webhook signing secret (relay-server prints it on its first start).');
  process.exit(2);
}

/**
 * MyOperator's Node.js `verify`, on node:http instead of Express. `timingSafeEqual` throws when
 * the two buffers differ in length, so a missing or malformed header is refused before it.
 *
 * @param {string | string[] | undefined} signature - the X-MyOperator-Signature header.
 * @param {Buffer} rawBody - the request body exactly as received; never a re-serialized object.
 * @returns {boolean}
 */
function verify(signature, rawBody) {
  if (typeof signature !== 'string' || !/^[0-9a-f]{64}$/i.test(signature)) return false;
  const digest = createHmac('sha256', secret).update(rawBody).digest('hex');
  return timingSafeEqual(Buffer.from(signature, 'hex'), Buffer.from(digest, 'hex'));
}

/**
 * The event's type and id, from whichever payload shape arrived: Webhook v2 (`event_type`,
 * `event_id`), the docs article's (`type`, `id`) or a legacy v1 form (`myoperator=<json>`).
 *
 * @param {Buffer} rawBody
 * @returns {{ type: string, id: string }}
 */
function describe(rawBody) {
  const text = rawBody.toString('utf8');
  try {
    const json = JSON.parse(text);
    return { type: String(json.event_type ?? json.type ?? 'unknown'), id: String(json.event_id ?? json.id ?? '?') };
  } catch {
    const legacy = new URLSearchParams(text).get('myoperator');
    if (legacy === null) return { type: 'unknown', id: '?' };
    try {
      const json = JSON.parse(legacy);
      return { type: 'legacy v1', id: String(json._ai ?? json.uid ?? '?') };
    } catch {
      return { type: 'legacy v1', id: '?' };
    }
  }
}

const server = createServer((req, res) => {
  /** @type {Buffer[]} */
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== path) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`POST ${path}\n`);
      return;
    }
    const rawBody = Buffer.concat(chunks);
    const { type, id } = describe(rawBody);
    // Set by relay-client, not by MyOperator: a test event (relay-client trigger) or a replay.
    const notes = [req.headers['x-relay-synthetic'] === '1' ? 'synthetic' : '', req.headers['x-relay-replay'] === '1' ? 'replay' : ''].filter(Boolean);
    const suffix = notes.length > 0 ? `  (${notes.join(', ')})` : '';
    if (!verify(req.headers['x-myoperator-signature'], rawBody)) {
      console.log(`401 signature REJECTED  ${type}  ${id}  ${rawBody.length} bytes${suffix}`);
      res.writeHead(401, { 'content-type': 'text/plain' }).end('invalid signature\n');
      return;
    }
    console.log(`200 signature verified  ${type}  ${id}  ${rawBody.length} bytes${suffix}`);
    // Answer fast (MyOperator allows a few seconds); do slow work after this.
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
  });
});

server.listen(port, host, () => {
  const address = server.address();
  const actual = typeof address === 'object' && address !== null ? address.port : port;
  console.log(`handler listening on http://${host}:${actual}${path}`);
});

const stop = () => {
  server.close(() => process.exit(0));
  // relay-client keeps its connection open between events; close() alone would wait for it.
  server.closeAllConnections();
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
