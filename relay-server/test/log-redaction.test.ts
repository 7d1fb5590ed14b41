import { PROTOCOL_NAME } from '@myop-relay/protocol';
import { afterEach, expect, it } from 'vitest';
import { scrubCredentials } from '../src/edge/log.js';
import { issueToken } from '../src/tokens.js';
import { startRelay, type TestRelay } from './harness.js';
import { rawExchange, upgradeRequest } from './raw-http.js';
import { TestSocket } from './ws-client.js';

let relay: TestRelay | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
});

/**
 * Every log line as text, with the buffers pino writes as `{"type":"Buffer","data":[…]}` (Node
 * keeps the raw bytes of a request it could not parse in one) turned back into their bytes.
 */
function readableLog(log: string): string {
  const expand = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(expand);
    if (value === null || typeof value !== 'object') return value;
    const record = value as Record<string, unknown>;
    if (record['type'] === 'Buffer' && Array.isArray(record['data'])) return Buffer.from(record['data'] as number[]).toString('latin1');
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, expand(v)]));
  };
  return log
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.stringify(expand(JSON.parse(line))))
    .join('\n');
}

const BASIC_PASSWORD = 'basic-password-5f1d';
const HEADER_KEY = 'header-api-key-7c2e9a41b0';
const QUERY_KEY = 'query-api-key-3e8d1f6a22';

it('logs no credential at trace level, whatever the request and however it fails', async () => {
  const r = (relay = await startRelay({ logLevel: 'trace', headersTimeout: '300ms', requestTimeout: '600ms' }));
  await r.addChannel('basic', { verify: 'basic', basic: `hooks:${BASIC_PASSWORD}` });
  await r.addChannel('keyed', { verify: 'apikey', apiKeyHeader: 'x-webhook-key', apiKey: HEADER_KEY });
  await r.addChannel('query', { verify: 'apikey', apiKeyQuery: 'api_key', apiKey: QUERY_KEY });
  const { token: developerToken } = await issueToken(r.store, { name: 'dev', role: 'developer', channels: ['basic'] });
  const wrongToken = 'mrt_wrong-bearer-token-91ab';
  const basic = (password: string): string => `Basic ${Buffer.from(`hooks:${password}`).toString('base64')}`;
  const secrets = [r.adminToken, developerToken, wrongToken, BASIC_PASSWORD, 'wrong-basic-pw-2211', HEADER_KEY, 'wrong-header-key-4410', QUERY_KEY, 'wrong-query-key-8831'];
  const encoded = [basic(BASIC_PASSWORD), basic('wrong-basic-pw-2211')].map((value) => value.slice('Basic '.length));

  const json = { 'content-type': 'application/json' };
  const requests: [string, RequestInit][] = [
    ['/api/channels', { headers: { authorization: `Bearer ${r.adminToken}` } }],
    ['/api/events?channel=basic', { headers: { authorization: `Bearer ${developerToken}` } }],
    ['/api/events?channel=myoperator', { headers: { authorization: `Bearer ${developerToken}` } }],
    ['/api/channels', { headers: { authorization: `Bearer ${wrongToken}` } }],
    ['/hooks/basic', { method: 'POST', headers: { ...json, authorization: basic(BASIC_PASSWORD) }, body: '{"event_id":"basic-1"}' }],
    ['/hooks/basic', { method: 'POST', headers: { ...json, authorization: basic('wrong-basic-pw-2211') }, body: '{}' }],
    ['/hooks/keyed', { method: 'POST', headers: { ...json, 'x-webhook-key': HEADER_KEY }, body: '{"event_id":"keyed-1"}' }],
    ['/hooks/keyed', { method: 'POST', headers: { ...json, 'x-webhook-key': 'wrong-header-key-4410' }, body: '{}' }],
    [`/hooks/query?api_key=${QUERY_KEY}`, { method: 'POST', headers: json, body: '{"event_id":"query-1"}' }],
    ['/hooks/query?api_key=wrong-query-key-8831', { method: 'POST', headers: json, body: '{}' }],
    [`/hooks/query?api_key=${QUERY_KEY}`, { method: 'POST', headers: json, body: '{"unterminated":' }],
    [`/hooks/query?api_key=${QUERY_KEY}`, { method: 'GET' }],
    [`/nowhere?api_key=${QUERY_KEY}`, { headers: { authorization: `Bearer ${r.adminToken}` } }],
  ];
  for (const [path, init] of requests) await (await fetch(`${r.url}${path}`, init)).arrayBuffer();

  const credentialHeaders = `Authorization: Bearer ${r.adminToken}\r\nX-Webhook-Key: ${HEADER_KEY}\r\n`;
  const malformed: [string, { halfClose?: boolean }?][] = [
    [`BREW /hooks/query?api_key=${QUERY_KEY} HTTP/1.1\r\nHost: relay\r\n${credentialHeaders}\r\n`],
    [`GET /healthz?api_key=${QUERY_KEY} HTTP/1.1\r\nHost: relay\r\n${credentialHeaders}X-Padding: ${'p'.repeat(17 * 1024)}\r\n\r\n`],
    [`POST /hooks/keyed HTTP/1.1\r\nHost: relay\r\n${credentialHeaders}Transfer-Encoding: chunked\r\n\r\nnot-a-chunk\r\n`],
    [`POST /hooks/keyed HTTP/1.1\r\nHost: relay\r\n${credentialHeaders}Content-Type: application/json\r\nContent-Length: 50\r\n\r\n{"short":`, { halfClose: true }],
    [`POST /hooks/query?api_key=${QUERY_KEY} HTTP/1.1\r\nHost: relay\r\nAuthorization: ${basic(BASIC_PASSWORD)}\r\n`],
    [`POST /hooks/query?api_key=${QUERY_KEY}&${'q'.repeat(9000)} HTTP/1.1\r\nHost: relay\r\n${credentialHeaders}Content-Length: 0\r\nConnection: close\r\n\r\n`],
    [`GET /hooks/%zz?api_key=${QUERY_KEY} HTTP/1.1\r\nHost: relay\r\n${credentialHeaders}Connection: close\r\n\r\n`],
    [`GET /healthz?api_key=${QUERY_KEY} HTTP/1.1\r\nHost: relay\r\n${credentialHeaders}\r\nGARBAGE /x?api_key=${QUERY_KEY}\r\n${credentialHeaders}\r\n`],
    [upgradeRequest(`/hooks/query?api_key=${QUERY_KEY}`, { authorization: `Bearer ${r.adminToken}` })],
    [upgradeRequest('/ws', { authorization: `Bearer ${wrongToken}` })],
    [upgradeRequest('/ws', { authorization: basic(BASIC_PASSWORD) })],
    [upgradeRequest(`/ws?api_key=${QUERY_KEY}`, { authorization: `Bearer ${r.adminToken}`, 'sec-websocket-key': 'short' })],
  ];
  for (const [request, options] of malformed) await rawExchange(r.url, request, options);

  // Bearer tokens on /ws, in the header and in hello, right and wrong.
  const withHeader = new TestSocket(r.url, { token: r.adminToken, protocols: [PROTOCOL_NAME] });
  await withHeader.hello();
  withHeader.close();
  await withHeader.closed;
  const withHello = new TestSocket(r.url, { protocols: [PROTOCOL_NAME] });
  await withHello.hello(developerToken);
  withHello.close();
  await withHello.closed;
  const refused = new TestSocket(r.url, { protocols: [PROTOCOL_NAME] });
  await refused.opened();
  refused.send({ type: 'hello', protocol: 1, agent: 'test', token: wrongToken });
  expect((await refused.closed).code).toBe(4101);

  const log = readableLog(r.logs());
  for (const secret of [...secrets, ...encoded]) {
    expect(log, secret).not.toContain(secret);
    expect(log, secret).not.toContain(encodeURIComponent(secret));
  }
  // And the log is not empty: the requests above were logged, client errors included.
  expect(log).toContain('client error');
  expect(log).toContain('webhook rejected');
});

it('scrubs credentials from free text: query strings, Authorization values and prefixed secrets', () => {
  const text = 'Reply was already sent in "/hooks/query?api_key=k-1&x=2" (POST); Authorization: Bearer abc.def, Basic aG9va3M6cHc=; token mrt_xyz and whsec_abc';
  const scrubbed = scrubCredentials(text);
  for (const secret of ['k-1', 'abc.def', 'aG9va3M6cHc=', 'mrt_xyz', 'whsec_abc']) expect(scrubbed).not.toContain(secret);
  expect(scrubbed).toContain('/hooks/query?[redacted]');
});
