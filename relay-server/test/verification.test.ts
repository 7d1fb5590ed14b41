import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TEST_SECRET, sign, startRelay, type TestRelay } from './harness.js';

const BODY = '{"event_id":"evt_v1","event_type":"call.answered","payload":{}}';
let relay: TestRelay;

beforeEach(async () => {
  relay = await startRelay();
});
afterEach(async () => {
  await relay.close();
});

async function storedCount(channel: string): Promise<number> {
  return (await relay.store.channelStats(channel)).events;
}

describe('hmac', () => {
  it('accepts a correct signature and stores the event', async () => {
    const res = await relay.post('myoperator', BODY, { 'X-MyOperator-Signature': sign(BODY, TEST_SECRET) });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ accepted: true, channel: 'myoperator', id: 'evt_v1', seq: 1, duplicate: false });
  });

  it('accepts an uppercase hex signature', async () => {
    const res = await relay.post('myoperator', BODY, { 'X-MyOperator-Signature': sign(BODY, TEST_SECRET).toUpperCase() });
    expect(res.status).toBe(200);
  });

  it('refuses a missing signature with CREDENTIALS_MISSING and stores nothing', async () => {
    const res = await relay.post('myoperator', BODY);
    expect(res.status).toBe(401);
    expect(res.json.error?.code).toBe('RELAY_E_CREDENTIALS_MISSING');
    expect(await storedCount('myoperator')).toBe(0);
  });

  it('refuses a signature signed with another secret as MISMATCH', async () => {
    const res = await relay.post('myoperator', BODY, { 'X-MyOperator-Signature': sign(BODY, 'whsec_some_other_secret_value_xx') });
    expect(res.status).toBe(401);
    expect(res.json.error?.code).toBe('RELAY_E_SIGNATURE_MISMATCH');
    expect(await storedCount('myoperator')).toBe(0);
  });

  it('refuses a signature over different bytes (body re-serialized) as MISMATCH', async () => {
    const reserialized = JSON.stringify(JSON.parse(BODY), null, 1);
    const res = await relay.post('myoperator', reserialized, { 'X-MyOperator-Signature': sign(BODY, TEST_SECRET) });
    expect(res.json.error?.code).toBe('RELAY_E_SIGNATURE_MISMATCH');
  });

  it('refuses truncated and non-hex signatures as MALFORMED', async () => {
    const good = sign(BODY, TEST_SECRET);
    for (const bad of [good.slice(0, 63), good.slice(0, 10), `${good.slice(0, 63)}g`, 'sha256=' + good, '']) {
      const res = await relay.post('myoperator', BODY, { 'X-MyOperator-Signature': bad });
      expect(res.status, bad).toBe(401);
      expect(res.json.error?.code, bad).toBe('RELAY_E_SIGNATURE_MALFORMED');
    }
    expect(await storedCount('myoperator')).toBe(0);
  });

  it('ignores the signature in a header of another name', async () => {
    const res = await relay.post('myoperator', BODY, { 'X-Myop-Signature': sign(BODY, TEST_SECRET) });
    expect(res.json.error?.code).toBe('RELAY_E_CREDENTIALS_MISSING');
  });

  it('uses a configured signature header name', async () => {
    await relay.addChannel('legacy-sig', { verify: 'hmac', secret: [TEST_SECRET], signatureHeader: 'x-myop-signature' });
    const ok = await relay.post('legacy-sig', BODY, { 'x-myop-signature': sign(BODY, TEST_SECRET) });
    expect(ok.status).toBe(200);
    const wrongHeader = await relay.post('legacy-sig', BODY, { 'X-MyOperator-Signature': sign(BODY, TEST_SECRET) });
    expect(wrongHeader.json.error?.code).toBe('RELAY_E_CREDENTIALS_MISSING');
  });

  it('accepts any of several active secrets during a rotation', async () => {
    const oldSecret = 'whsec_old_secret_0123456789abcdef';
    const newSecret = 'whsec_new_secret_0123456789abcdef';
    await relay.addChannel('rotating', { verify: 'hmac', secret: [newSecret, oldSecret] });
    const a = '{"id":"a"}';
    const b = '{"id":"b"}';
    expect((await relay.post('rotating', a, { 'X-MyOperator-Signature': sign(a, oldSecret) })).status).toBe(200);
    expect((await relay.post('rotating', b, { 'X-MyOperator-Signature': sign(b, newSecret) })).status).toBe(200);
    const c = '{"id":"c"}';
    expect((await relay.post('rotating', c, { 'X-MyOperator-Signature': sign(c, TEST_SECRET) })).json.error?.code).toBe('RELAY_E_SIGNATURE_MISMATCH');
  });
});

describe('basic', () => {
  beforeEach(async () => {
    await relay.addChannel('basic', { verify: 'basic', basic: 'myop:correct-horse' });
  });
  const auth = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

  it('accepts the right user and password, and does not store the Authorization header', async () => {
    const res = await relay.post('basic', BODY, { Authorization: auth('myop', 'correct-horse') });
    expect(res.status).toBe(200);
    const stored = await relay.store.getEvent('basic', 'evt_v1');
    expect(stored?.headers.map(([name]) => name.toLowerCase())).not.toContain('authorization');
  });

  it('refuses a wrong password and a wrong user with BASIC_AUTH_INVALID', async () => {
    for (const header of [auth('myop', 'wrong-horse'), auth('other', 'correct-horse'), auth('myop', '')]) {
      const res = await relay.post('basic', BODY, { Authorization: header });
      expect(res.status).toBe(401);
      expect(res.json.error?.code).toBe('RELAY_E_BASIC_AUTH_INVALID');
    }
    expect(await storedCount('basic')).toBe(0);
  });

  it('refuses a missing or non-Basic Authorization with CREDENTIALS_MISSING', async () => {
    expect((await relay.post('basic', BODY)).json.error?.code).toBe('RELAY_E_CREDENTIALS_MISSING');
    expect((await relay.post('basic', BODY, { Authorization: 'Bearer abc' })).json.error?.code).toBe('RELAY_E_CREDENTIALS_MISSING');
  });
});

describe('apikey', () => {
  const KEY = 'key_0123456789abcdefXYZ';

  it('accepts the key in the configured header and does not store that header', async () => {
    await relay.addChannel('hdr', { verify: 'apikey', apiKeyHeader: 'x-webhook-token', apiKey: KEY });
    expect((await relay.post('hdr', BODY, { 'X-Webhook-Token': KEY })).status).toBe(200);
    const stored = await relay.store.getEvent('hdr', 'evt_v1');
    expect(stored?.headers.map(([name]) => name.toLowerCase())).not.toContain('x-webhook-token');
    expect(JSON.stringify(stored?.headers)).not.toContain(KEY);
  });

  it('refuses a wrong key, and a key sent in the query when the header is configured', async () => {
    await relay.addChannel('hdr', { verify: 'apikey', apiKeyHeader: 'x-webhook-token', apiKey: KEY });
    expect((await relay.post('hdr', BODY, { 'x-webhook-token': `${KEY}x` })).json.error?.code).toBe('RELAY_E_API_KEY_INVALID');
    expect((await relay.post('hdr', BODY, {}, `?x-webhook-token=${KEY}`)).json.error?.code).toBe('RELAY_E_CREDENTIALS_MISSING');
  });

  it('accepts the key in the configured query parameter and never logs it', async () => {
    await relay.addChannel('qry', { verify: 'apikey', apiKeyQuery: 'token', apiKey: KEY });
    expect((await relay.post('qry', BODY, {}, `?token=${KEY}`)).status).toBe(200);
    expect((await relay.post('qry', '{"id":"2"}', {}, `?token=wrong-key-value-123`)).json.error?.code).toBe('RELAY_E_API_KEY_INVALID');
    expect((await relay.post('qry', '{"id":"3"}', { token: KEY })).json.error?.code).toBe('RELAY_E_CREDENTIALS_MISSING');
    expect(relay.logs()).not.toContain(KEY);
  });
});

describe('none', () => {
  it('accepts unverified events only on a channel explicitly set to none', async () => {
    await relay.addChannel('open', { verify: 'none' });
    expect((await relay.post('open', BODY)).status).toBe(200);
  });

  it('enforces an IP allow-list', async () => {
    await relay.addChannel('allow', { verify: 'none', allowIp: ['127.0.0.0/8'] });
    await relay.addChannel('deny', { verify: 'none', allowIp: ['103.21.77.0/24', '::1/128'] });
    expect((await relay.post('allow', BODY)).status).toBe(200);
    const denied = await relay.post('deny', BODY);
    expect(denied.status).toBe(403);
    expect(denied.json.error?.code).toBe('RELAY_E_IP_NOT_ALLOWED');
  });
});

it('never writes secrets or credentials to the log', async () => {
  await relay.addChannel('basic', { verify: 'basic', basic: 'myop:correct-horse' });
  await relay.post('myoperator', BODY, { 'X-MyOperator-Signature': sign(BODY, TEST_SECRET) });
  await relay.post('myoperator', BODY, { 'X-MyOperator-Signature': sign(BODY, 'whsec_wrong_secret_012345678') });
  await relay.post('basic', BODY, { Authorization: `Basic ${Buffer.from('myop:correct-horse').toString('base64')}` });
  await fetch(`${relay.url}/api/events`, { headers: { authorization: `Bearer ${relay.adminToken}` } });
  const logs = relay.logs();
  expect(logs).toContain('event stored');
  for (const secret of [TEST_SECRET, 'correct-horse', Buffer.from('myop:correct-horse').toString('base64'), relay.adminToken]) {
    expect(logs).not.toContain(secret);
  }
});
