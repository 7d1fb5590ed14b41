import { STATUS_CODES } from 'node:http';
import { PROTOCOL_NAME } from '@myop-relay/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import type { SqliteStore } from '../src/store/sqlite-store.js';
import { startRelay, type TestRelay } from './harness.js';
import { firstBytes, healthz, openConnections, openRaw, rawExchange, upgradeRequest } from './raw-http.js';

let relay: TestRelay | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
});

/**
 * Holds the store's token lookups until released, so a test can act while one is pending. The
 * lookup itself is the store's own.
 */
function holdTokenLookups(store: SqliteStore): { started: Promise<void>; release: () => void } {
  const lookup = store.findTokenByHash.bind(store);
  let onStart = (): void => undefined;
  const started = new Promise<void>((resolve) => (onStart = resolve));
  let release = (): void => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  store.findTokenByHash = async (hash) => {
    onStart();
    await released;
    return lookup(hash);
  };
  return {
    started,
    release: () => {
      store.findTokenByHash = lookup;
      release();
    },
  };
}

describe('refused upgrades', () => {
  const refusals: [string, () => string, number, string][] = [
    ['a WebSocket upgrade to another path', () => upgradeRequest('/hooks/myoperator'), 400, 'RELAY_E_UPGRADE_UNSUPPORTED'],
    ['an h2c upgrade', () => upgradeRequest('/healthz', { upgrade: 'h2c', connection: 'Upgrade, HTTP2-Settings', 'http2-settings': 'AAMAAABkAARAAAAAAAIAAAAA' }), 400, 'RELAY_E_UPGRADE_UNSUPPORTED'],
    ['an h2c upgrade to /ws', () => upgradeRequest('/ws', { upgrade: 'h2c' }), 400, 'RELAY_E_UPGRADE_UNSUPPORTED'],
    ['a POST upgrade to /ws', () => upgradeRequest('/ws', {}, 'POST'), 405, 'RELAY_E_METHOD_NOT_ALLOWED'],
    ['a handshake without a key', () => upgradeRequest('/ws', { 'sec-websocket-key': '' }), 400, 'RELAY_E_UPGRADE_INVALID'],
    ['a handshake of another WebSocket version', () => upgradeRequest('/ws', { 'sec-websocket-version': '12' }), 400, 'RELAY_E_UPGRADE_INVALID'],
    ['another subprotocol', () => upgradeRequest('/ws', { 'sec-websocket-protocol': 'myop-relay.v0' }), 400, 'RELAY_E_WS_PROTOCOL_VERSION'],
    ['an unknown bearer token', () => upgradeRequest('/ws', { authorization: 'Bearer mrt_unknown' }), 401, 'RELAY_E_WS_TOKEN_INVALID'],
    ['Basic credentials', () => upgradeRequest('/ws', { authorization: 'Basic dXNlcjpwdw==' }), 401, 'RELAY_E_AUTH_REQUIRED'],
  ];

  for (const [name, request, status, code] of refusals) {
    it(`answers ${name} with ${status} ${code}, Node's reason phrase, and closes`, async () => {
      relay = await startRelay();
      const answer = await rawExchange(relay.url, request());
      expect({ status: answer.status, reason: answer.reason, code: answer.code }).toEqual({ status, reason: STATUS_CODES[status], code });
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
      expect(answer.headers['connection']).toBe('close');
      if (status === 405) expect(answer.headers['allow']).toBe('GET');
    });
  }

  it('answers 503 Service Unavailable, without the engine\'s words, when the token cannot be looked up', async () => {
    relay = await startRelay();
    await relay.store.close();
    const answer = await rawExchange(relay.url, upgradeRequest('/ws', { authorization: `Bearer ${relay.adminToken}`, 'sec-websocket-protocol': PROTOCOL_NAME }));
    expect({ status: answer.status, reason: answer.reason, code: answer.code }).toEqual({ status: 503, reason: 'Service Unavailable', code: 'RELAY_E_STORE_UNAVAILABLE' });
    expect(answer.body).not.toMatch(/closed|sqlite/i);
  });
});

describe('upgrade requests reset by the peer', () => {
  const requests: [string, (token: string) => string][] = [
    ['to another path', () => upgradeRequest('/api/channels')],
    ['h2c', () => upgradeRequest('/healthz', { upgrade: 'h2c' })],
    ['to /ws without a token', () => upgradeRequest('/ws', { 'sec-websocket-protocol': PROTOCOL_NAME })],
    ['to /ws with an unknown token', () => upgradeRequest('/ws', { authorization: 'Bearer mrt_unknown' })],
    ['to /ws with a valid token', (token) => upgradeRequest('/ws', { authorization: `Bearer ${token}`, 'sec-websocket-protocol': PROTOCOL_NAME })],
    ['to /ws without a key', () => upgradeRequest('/ws', { 'sec-websocket-key': '' })],
  ];

  it('never take the server down and leave no connection behind, whenever the reset comes', async () => {
    const r = (relay = await startRelay());
    for (const [name, build] of requests) {
      const request = build(r.adminToken);
      // Mid-headers: before Node has an upgrade request to hand over.
      const early = await openRaw(r.url);
      early.write(request.slice(0, request.length >> 1));
      early.resetAndDestroy();
      // Right after the request: while the answer is being decided or written.
      const prompt = await openRaw(r.url);
      prompt.write(request);
      prompt.resetAndDestroy();
      // After the first byte of the answer (a refusal or the 101).
      const late = await openRaw(r.url);
      const arrived = firstBytes(late);
      late.write(request);
      await arrived;
      late.resetAndDestroy();
      expect(await healthz(r.url), name).toBe(200);
    }
    await expect.poll(() => openConnections(r.app.server), { timeout: 10_000 }).toBe(0);
  });

  for (const [name, tokenOf] of [
    ['an unknown token', () => 'mrt_unknown'],
    ['a valid token', (r: TestRelay) => r.adminToken],
  ] as const) {
    it(`survive a reset while the lookup of ${name} is pending`, async () => {
      const r = (relay = await startRelay());
      const hold = holdTokenLookups(r.store);
      const socket = await openRaw(r.url);
      socket.write(upgradeRequest('/ws', { authorization: `Bearer ${tokenOf(r)}`, 'sec-websocket-protocol': PROTOCOL_NAME }));
      await hold.started;
      socket.resetAndDestroy();
      await new Promise((resolve) => socket.once('close', resolve));
      hold.release();
      expect(await healthz(r.url)).toBe(200);
      await expect.poll(() => openConnections(r.app.server), { timeout: 10_000 }).toBe(0);
    });
  }
});
