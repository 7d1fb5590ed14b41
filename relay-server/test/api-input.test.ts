import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiPlugin } from '../src/api/plugin.js';
import { SERVER_ERRORS, type ServerErrorCode } from '../src/errors.js';
import { issueToken } from '../src/tokens.js';
import { startRelay, type TestRelay } from './harness.js';

/**
 * Every API route against a table of bad inputs, over a real server on port 0: each must be
 * refused with a 4xx and a catalogue code, never answered with a 5xx or a 2xx.
 */

interface BadRequest {
  what: string;
  path: string;
  /** The code the refusal must carry. */
  code: ServerErrorCode;
  /** `null` sends no Authorization header, `dev` a developer token for `sales` only; default the admin token. */
  token?: string | null;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

const JSON_TYPE = { 'content-type': 'application/json' };
const LONG = 'x'.repeat(2000);
const NOT_A_CHANNEL = ['bad%20name', encodeURIComponent('a/b'), 'a'.repeat(65), '%00', '-leading-dash'];
const BAD_TIMES = ['yesterday', '10', '2024-02-30T00:00:00Z', '2024-05-01T10:00:00', 'now', '99999999999999d', LONG];

let relay: TestRelay;
let devToken: string;

beforeAll(async () => {
  relay = await startRelay();
  await relay.addChannel('sales', { verify: 'none' });
  await relay.post('sales', JSON.stringify({ id: 's1', type: 'message.received' }));
  await relay.store.openConsumer({ channel: 'sales', name: 'laptop', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date());
  devToken = (await issueToken(relay.store, { name: 'dev', role: 'developer', channels: ['sales'] })).token;
});
afterAll(async () => {
  await relay.close();
});

/** Requests every route must refuse whatever else it takes: missing or unusable credentials. */
function authCases(path: string): BadRequest[] {
  return [
    { what: 'no Authorization header', path, code: 'RELAY_E_AUTH_REQUIRED', token: null },
    { what: 'Basic instead of Bearer', path, code: 'RELAY_E_AUTH_REQUIRED', token: null, headers: { authorization: 'Basic dXNlcjpwYXNz' } },
    { what: 'an empty bearer token', path, code: 'RELAY_E_AUTH_REQUIRED', token: null, headers: { authorization: 'Bearer ' } },
    { what: 'an unknown bearer token', path, code: 'RELAY_E_TOKEN_INVALID', token: 'mrt_not-a-real-token' },
    { what: 'an over-long bearer token', path, code: 'RELAY_E_TOKEN_INVALID', token: `mrt_${LONG}` },
  ];
}

function channelPathCases(template: (channel: string) => string, body?: string): BadRequest[] {
  return NOT_A_CHANNEL.map((channel) => ({
    what: `channel "${channel}" in the path`,
    path: template(channel),
    code: 'RELAY_E_INVALID_QUERY',
    ...(body !== undefined ? { headers: JSON_TYPE, body } : {}),
  }));
}

function repeated(name: string, a: string, b: string): BadRequest {
  return { what: `repeated ${name}`, path: `/api/events?${name}=${a}&${name}=${b}`, code: 'RELAY_E_INVALID_QUERY' };
}

/**
 * Bodies no JSON route may take: they do not parse, are not JSON, are not an object, or are a
 * good body with one field too many. `good` is a body the route takes.
 */
function jsonBodyCases(path: string, good: Record<string, unknown>): BadRequest[] {
  const json = (what: string, code: ServerErrorCode, body: string | Uint8Array): BadRequest => ({ what, path, code, headers: JSON_TYPE, body });
  return [
    json('a body that does not parse', 'RELAY_E_INVALID_JSON', JSON.stringify(good).slice(0, -1)),
    json('a body that is not UTF-8', 'RELAY_E_INVALID_JSON', Buffer.concat([Buffer.from(JSON.stringify(good).slice(0, -1)), Buffer.from(',"x":"\xff"}', 'latin1')])),
    json('a JSON array', 'RELAY_E_INVALID_BODY', JSON.stringify([good])),
    json('a JSON string', 'RELAY_E_INVALID_BODY', JSON.stringify(JSON.stringify(good))),
    json('JSON null', 'RELAY_E_INVALID_BODY', 'null'),
    json('a JSON number', 'RELAY_E_INVALID_BODY', '5'),
    json('an unknown field', 'RELAY_E_INVALID_BODY', JSON.stringify({ ...good, types: ['call.answered'] })),
    json('a body over the API limit', 'RELAY_E_API_BODY_TOO_LARGE', JSON.stringify({ ...good, padding: 'x'.repeat(2 * 1024 * 1024) })),
    { what: 'a text/plain body', path, code: 'RELAY_E_API_CONTENT_TYPE', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(good) },
    { what: 'a form body', path, code: 'RELAY_E_API_CONTENT_TYPE', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'type=call.answered' },
  ];
}

const TRIGGER = '/api/channels/sales/trigger';
const REPLAY = '/api/consumers/sales/laptop/replay';

function triggerBody(code: ServerErrorCode, body: string): BadRequest {
  return { what: `body ${body}`, path: TRIGGER, code, headers: JSON_TYPE, body };
}

function replayBody(code: ServerErrorCode, body: string): BadRequest {
  return { what: `body ${body.slice(0, 60)}`, path: REPLAY, code, headers: JSON_TYPE, body };
}

const TABLE: Record<string, BadRequest[]> = {
  'GET /api/channels': authCases('/api/channels'),
  'GET /api/samples': authCases('/api/samples'),
  'GET /api/audit': [
    ...authCases('/api/audit'),
    { what: 'a developer token', path: '/api/audit', code: 'RELAY_E_ADMIN_REQUIRED', token: 'dev' },
    { what: 'a limit of 0', path: '/api/audit?limit=0', code: 'RELAY_E_INVALID_QUERY' },
    { what: 'a limit that is not a number', path: '/api/audit?limit=ten', code: 'RELAY_E_INVALID_QUERY' },
    { what: 'repeated limit', path: '/api/audit?limit=5&limit=6', code: 'RELAY_E_INVALID_QUERY' },
  ],
  'GET /api/events': [
    ...authCases('/api/events'),
    repeated('type', 'call.answered', 'call.end'),
    repeated('channel', 'sales', 'myoperator'),
    repeated('limit', '5', '6'),
    repeated('since', '1h', '2h'),
    repeated('before', '1h', '2h'),
    repeated('cursor', 'a', 'b'),
    ...['0', '1001', 'abc', '1.5', '1e2', '-1', ' 5', ''].map((limit): BadRequest => ({ what: `limit "${limit}"`, path: `/api/events?limit=${encodeURIComponent(limit)}`, code: 'RELAY_E_INVALID_QUERY' })),
    ...NOT_A_CHANNEL.map((channel): BadRequest => ({ what: `channel "${channel}"`, path: `/api/events?channel=${channel}`, code: 'RELAY_E_INVALID_QUERY' })),
    { what: 'an empty channel', path: '/api/events?channel=', code: 'RELAY_E_INVALID_QUERY' },
    { what: 'an over-long type', path: `/api/events?type=${'t'.repeat(129)}`, code: 'RELAY_E_INVALID_QUERY' },
    { what: 'a type with a control character', path: '/api/events?type=call%01answered', code: 'RELAY_E_INVALID_QUERY' },
    ...BAD_TIMES.map((since): BadRequest => ({ what: `since "${since.slice(0, 20)}"`, path: `/api/events?since=${encodeURIComponent(since)}`, code: 'RELAY_E_INVALID_QUERY' })),
    ...BAD_TIMES.map((before): BadRequest => ({ what: `before "${before.slice(0, 20)}"`, path: `/api/events?before=${encodeURIComponent(before)}`, code: 'RELAY_E_INVALID_QUERY' })),
    { what: 'a cursor that was never issued', path: '/api/events?cursor=garbage', code: 'RELAY_E_INVALID_QUERY' },
    { what: 'an over-long cursor', path: `/api/events?cursor=${LONG}`, code: 'RELAY_E_INVALID_QUERY' },
    { what: 'a channel the developer may not read', path: '/api/events?channel=myoperator', code: 'RELAY_E_CHANNEL_FORBIDDEN', token: 'dev' },
  ],
  'GET /api/events/:channel/:id': [
    ...authCases('/api/events/sales/s1'),
    ...channelPathCases((c) => `/api/events/${c}/s1`),
    { what: 'an unknown id', path: '/api/events/sales/nope', code: 'RELAY_E_EVENT_NOT_FOUND' },
    { what: 'an unknown channel', path: '/api/events/ghost/s1', code: 'RELAY_E_EVENT_NOT_FOUND' },
    { what: 'a channel the developer may not read', path: '/api/events/myoperator/s1', code: 'RELAY_E_CHANNEL_FORBIDDEN', token: 'dev' },
  ],
  'GET /api/events/:channel/:id/deliveries': [
    ...authCases('/api/events/sales/s1/deliveries'),
    ...channelPathCases((c) => `/api/events/${c}/s1/deliveries`),
    { what: 'an unknown id', path: '/api/events/sales/nope/deliveries', code: 'RELAY_E_EVENT_NOT_FOUND' },
    { what: 'a channel the developer may not read', path: '/api/events/myoperator/s1/deliveries', code: 'RELAY_E_CHANNEL_FORBIDDEN', token: 'dev' },
  ],
  'GET /api/consumers': [
    ...authCases('/api/consumers?channel=sales'),
    { what: 'no channel', path: '/api/consumers', code: 'RELAY_E_INVALID_QUERY' },
    { what: 'an empty channel', path: '/api/consumers?channel=', code: 'RELAY_E_INVALID_QUERY' },
    { what: 'repeated channel', path: '/api/consumers?channel=sales&channel=myoperator', code: 'RELAY_E_INVALID_QUERY' },
    ...NOT_A_CHANNEL.map((channel): BadRequest => ({ what: `channel "${channel}"`, path: `/api/consumers?channel=${channel}`, code: 'RELAY_E_INVALID_QUERY' })),
    { what: 'an unknown channel', path: '/api/consumers?channel=ghost', code: 'RELAY_E_UNKNOWN_CHANNEL' },
    { what: 'a channel the developer may not read', path: '/api/consumers?channel=myoperator', code: 'RELAY_E_CHANNEL_FORBIDDEN', token: 'dev' },
  ],
  'DELETE /api/consumers/:channel/:name': [
    ...authCases('/api/consumers/sales/nobody'),
    ...channelPathCases((c) => `/api/consumers/${c}/laptop`),
    { what: 'an unknown consumer', path: '/api/consumers/sales/nobody', code: 'RELAY_E_CONSUMER_NOT_FOUND' },
    { what: 'a consumer name with a control character', path: '/api/consumers/sales/lap%01top', code: 'RELAY_E_INVALID_QUERY' },
    { what: 'a body that does not parse', path: '/api/consumers/sales/laptop', code: 'RELAY_E_INVALID_JSON', headers: JSON_TYPE, body: '{' },
    { what: 'a text/plain body', path: '/api/consumers/sales/laptop', code: 'RELAY_E_API_CONTENT_TYPE', headers: { 'content-type': 'text/plain' }, body: 'laptop' },
    { what: 'a channel the developer may not read', path: '/api/consumers/myoperator/laptop', code: 'RELAY_E_CHANNEL_FORBIDDEN', token: 'dev' },
  ],
  'POST /api/channels/:channel/trigger': [
    ...authCases(TRIGGER),
    ...channelPathCases((c) => `/api/channels/${c}/trigger`, '{"type": "call.answered"}'),
    { what: 'an unknown channel', path: '/api/channels/ghost/trigger', code: 'RELAY_E_UNKNOWN_CHANNEL', headers: JSON_TYPE, body: '{"type": "call.answered"}' },
    { what: 'a channel the developer may not read', path: '/api/channels/myoperator/trigger', code: 'RELAY_E_CHANNEL_FORBIDDEN', token: 'dev', headers: JSON_TYPE, body: '{"type": "call.answered"}' },
    { what: 'no body at all (no type or flow)', path: TRIGGER, code: 'RELAY_E_UNKNOWN_EVENT_TYPE' },
    { what: 'an empty JSON body (no type or flow)', path: TRIGGER, code: 'RELAY_E_UNKNOWN_EVENT_TYPE', headers: JSON_TYPE, body: '' },
    // fetch sends bytes without a Content-Type of its own.
    { what: 'a body without a Content-Type', path: TRIGGER, code: 'RELAY_E_API_CONTENT_TYPE', body: Buffer.from('{"type": "call.answered"}') },
    ...jsonBodyCases(TRIGGER, { type: 'call.answered' }),
    triggerBody('RELAY_E_INVALID_BODY', '{"type": 5}'),
    triggerBody('RELAY_E_INVALID_BODY', '{"type": ""}'),
    triggerBody('RELAY_E_INVALID_BODY', '{"type": ["call.answered"]}'),
    triggerBody('RELAY_E_INVALID_BODY', `{"type": "${'t'.repeat(129)}"}`),
    triggerBody('RELAY_E_UNKNOWN_EVENT_TYPE', '{"type": "no.such.type"}'),
    triggerBody('RELAY_E_INVALID_BODY', '{"flow": ["call"]}'),
    triggerBody('RELAY_E_UNKNOWN_EVENT_TYPE', '{"flow": "no-such-flow"}'),
    triggerBody('RELAY_E_INVALID_BODY', '{"type": "call.answered", "flow": "call"}'),
    triggerBody('RELAY_E_INVALID_BODY', '{"type": "call.answered", "shape": "v3"}'),
    triggerBody('RELAY_E_INVALID_BODY', '{"type": "call.answered", "shape": 2}'),
    triggerBody('RELAY_E_UNKNOWN_EVENT_TYPE', '{"type": "call.answered", "shape": "v1"}'),
    triggerBody('RELAY_E_INVALID_BODY', '{"type": "call.answered", "set": "payload.status=missed"}'),
    triggerBody('RELAY_E_INVALID_BODY', '{"type": "call.answered", "set": null}'),
    triggerBody('RELAY_E_INVALID_BODY', '{"type": "call.answered", "set": ["payload.status"]}'),
    triggerBody('RELAY_E_INVALID_BODY', '{"type": "call.answered", "set": {"payload.status": {"nested": true}}}'),
    triggerBody('RELAY_E_INVALID_BODY', '{"type": "call.answered", "set": {"payload.status": null}}'),
    triggerBody('RELAY_E_INVALID_BODY', '{"type": "call.answered", "set": {"payload.status": 5}}'),
    triggerBody('RELAY_E_INVALID_SAMPLE_FIELD', '{"type": "call.answered", "set": {"__proto__.polluted": "yes"}}'),
    triggerBody('RELAY_E_INVALID_SAMPLE_FIELD', '{"type": "call.answered", "set": {"": "x"}}'),
    triggerBody('RELAY_E_INVALID_SAMPLE_FIELD', '{"type": "call.answered", "set": {"event_type.inner": "x"}}'),
  ],
  'POST /api/consumers/:channel/:name/replay': [
    ...authCases(REPLAY),
    ...channelPathCases((c) => `/api/consumers/${c}/laptop/replay`, '{"ids": ["s1"]}'),
    { what: 'an unknown channel', path: '/api/consumers/ghost/laptop/replay', code: 'RELAY_E_UNKNOWN_CHANNEL', headers: JSON_TYPE, body: '{"ids": ["s1"]}' },
    { what: 'an unknown consumer', path: '/api/consumers/sales/nobody/replay', code: 'RELAY_E_CONSUMER_NOT_FOUND', headers: JSON_TYPE, body: '{"ids": ["s1"]}' },
    { what: 'a consumer name with a control character', path: '/api/consumers/sales/lap%01top/replay', code: 'RELAY_E_INVALID_QUERY', headers: JSON_TYPE, body: '{"ids": ["s1"]}' },
    { what: 'a channel the developer may not read', path: '/api/consumers/myoperator/laptop/replay', code: 'RELAY_E_CHANNEL_FORBIDDEN', token: 'dev', headers: JSON_TYPE, body: '{"since": "1h"}' },
    { what: 'no body at all', path: REPLAY, code: 'RELAY_E_INVALID_BODY' },
    { what: 'an empty JSON body', path: REPLAY, code: 'RELAY_E_INVALID_BODY', headers: JSON_TYPE, body: '' },
    ...jsonBodyCases(REPLAY, { ids: ['s1'] }),
    replayBody('RELAY_E_INVALID_BODY', '{}'),
    replayBody('RELAY_E_INVALID_BODY', '{"ids": []}'),
    replayBody('RELAY_E_INVALID_BODY', '{"ids": "s1"}'),
    replayBody('RELAY_E_INVALID_BODY', '{"ids": [1]}'),
    replayBody('RELAY_E_INVALID_BODY', '{"ids": [null]}'),
    replayBody('RELAY_E_INVALID_BODY', '{"ids": [""]}'),
    replayBody('RELAY_E_INVALID_BODY', `{"ids": ["${'i'.repeat(257)}"]}`),
    replayBody('RELAY_E_INVALID_BODY', JSON.stringify({ ids: Array.from({ length: 1001 }, (_, i) => `e${i}`) })),
    replayBody('RELAY_E_INVALID_BODY', '{"ids": ["s1"], "since": "1h"}'),
    replayBody('RELAY_E_INVALID_BODY', '{"since": 3600}'),
    replayBody('RELAY_E_INVALID_BODY', '{"since": ""}'),
    ...BAD_TIMES.map((since) => replayBody('RELAY_E_INVALID_BODY', JSON.stringify({ since }))),
    ...BAD_TIMES.map((before) => replayBody('RELAY_E_INVALID_BODY', JSON.stringify({ since: '1h', before }))),
    replayBody('RELAY_E_INVALID_BODY', '{"before": "1h"}'),
    replayBody('RELAY_E_INVALID_BODY', '{"since": "1h", "type": 5}'),
    replayBody('RELAY_E_INVALID_BODY', `{"since": "1h", "type": "${'t'.repeat(129)}"}`),
  ],
};

async function send(route: string, request: BadRequest): Promise<{ status: number; text: string }> {
  const method = route.split(' ')[0] ?? 'GET';
  const token = request.token === undefined ? relay.adminToken : request.token === 'dev' ? devToken : request.token;
  const res = await fetch(`${relay.url}${request.path}`, {
    method,
    headers: { ...(token !== null ? { authorization: `Bearer ${token}` } : {}), ...request.headers },
    ...(request.body !== undefined ? { body: typeof request.body === 'string' ? request.body : new Uint8Array(request.body) } : {}),
  });
  return { status: res.status, text: await res.text() };
}

it('covers every API route', async () => {
  const routes: string[] = [];
  const probe = Fastify();
  probe.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push(`${method} ${route.url}`);
  });
  await probe.register(apiPlugin, { store: relay.store, counters: relay.app.relay.counters, hub: relay.app.relay.hub });
  await probe.ready();
  await probe.close();
  expect(Object.keys(TABLE).sort()).toEqual(routes.sort());
});

describe.each(Object.entries(TABLE))('%s', (route, requests) => {
  it.each(requests.map((r) => [r.what, r] as const))('refuses %s with a 4xx and its catalogue code', async (_what, request) => {
    const { status, text } = await send(route, request);
    expect(status, text).toBeGreaterThanOrEqual(400);
    expect(status, text).toBeLessThan(500);
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    expect(body.error?.code, text).toBe(request.code);
    expect(status, text).toBe(SERVER_ERRORS[request.code].status);
    expect(typeof body.error?.message).toBe('string');
  });
});

it('still serves the good requests next to the bad ones', async () => {
  const auth = { authorization: `Bearer ${relay.adminToken}` };
  expect((await fetch(`${relay.url}/api/events?channel=sales&type=message.received&since=1h&limit=10`, { headers: auth })).status).toBe(200);
  const trigger = await fetch(`${relay.url}/api/channels/sales/trigger`, { method: 'POST', headers: { ...auth, ...JSON_TYPE }, body: '{"type": "call.answered", "set": {"payload.status": "missed"}}' });
  expect(trigger.status).toBe(200);
  const replay = await fetch(`${relay.url}/api/consumers/sales/laptop/replay`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json; charset=utf-8' }, body: '{"ids": ["s1"]}' });
  expect(await replay.json()).toEqual({ channel: 'sales', consumer: 'laptop', queued: 1, missing: [] });
});
