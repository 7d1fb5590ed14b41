import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { applyChannelSettings, type ChannelSettings } from '../src/channel-settings.js';
import { afterEach, expect } from 'vitest';
import { resolveServerConfig, type ServerConfigInput } from '../src/config.js';
import { RelayError } from '../src/errors.js';
import { buildServer } from '../src/server.js';
import { betterSqliteDriver } from '../src/store/sqlite-better.js';
import { SqliteStore, type SqliteStoreOptions } from '../src/store/sqlite-store.js';
import { issueToken } from '../src/tokens.js';
import { TestSocket } from './ws-client.js';

/**
 * Asserts that `resolveServerConfig(input)` refuses the settings with `RELAY_E_CONFIG_INVALID`,
 * naming `setting`; returns the error for further checks.
 */
export function expectConfigInvalid(input: ServerConfigInput, setting: string): RelayError {
  let caught: unknown;
  try {
    resolveServerConfig(input);
  } catch (error) {
    caught = error;
  }
  expect(caught, setting).toBeInstanceOf(RelayError);
  const error = caught as RelayError;
  expect(error.code, setting).toBe('RELAY_E_CONFIG_INVALID');
  expect(error.message).toContain(setting);
  return error;
}

/** A fresh temporary directory, removed by the returned function. */
export function tempDir(prefix = 'relay-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Opens a real SQLite store in a temporary directory. */
export function tempSqliteStore(options: Pick<SqliteStoreOptions, 'maxBytes' | 'syncWal'> = {}): { store: SqliteStore; path: string; dir: string; remove: () => void } {
  const dir = tempDir();
  const path = join(dir.path, 'relay.db');
  try {
    const store = new SqliteStore({ path, driver: betterSqliteDriver, ...options });
    return { store, path, dir: dir.path, remove: dir.remove };
  } catch (error) {
    dir.remove();
    throw error;
  }
}

/** Lowercase hex HMAC-SHA256, as MyOperator signs. */
export function sign(body: string | Uint8Array, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/** What ingest answers: an acceptance or an error body. */
export interface IngestReply {
  accepted?: boolean;
  channel?: string;
  id?: string;
  seq?: number;
  duplicate?: boolean;
  error?: { code: string; message: string };
}

/** A running relay-server on 127.0.0.1 port 0 with a real SQLite file. */
export interface TestRelay {
  app: FastifyInstance;
  store: SqliteStore;
  dbPath: string;
  url: string;
  /** Admin token string. */
  adminToken: string;
  /** Everything the server logged. */
  logs: () => string;
  addChannel(name: string, settings: ChannelSettings): Promise<void>;
  /** POSTs to /hooks/<channel>. */
  post(channel: string, body: string | Uint8Array, headers?: Record<string, string>, query?: string): Promise<{ status: number; json: IngestReply }>;
  close(): Promise<void>;
}

/** The HMAC secret of the `myoperator` channel every {@link startRelay} creates. */
export const TEST_SECRET = 'whsec_test_secret_0123456789abcdef';

/** Starts a relay with a `myoperator` HMAC channel signed with {@link TEST_SECRET}. */
export async function startRelay(
  config: ServerConfigInput = {},
  options: { retention?: boolean; streamTokenCheckMs?: number } & Pick<SqliteStoreOptions, 'maxBytes' | 'syncWal'> = {},
): Promise<TestRelay> {
  const { store, path, remove } = tempSqliteStore({
    ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {}),
    ...(options.syncWal !== undefined ? { syncWal: options.syncWal } : {}),
  });
  let logText = '';
  const logStream = new Writable({
    write(chunk, _enc, done) {
      logText += String(chunk);
      done();
    },
  });
  const app = await buildServer({
    config: resolveServerConfig({ host: '127.0.0.1', port: 0, logLevel: 'info', rateLimitChannel: 0, rateLimitIp: 0, ...config }),
    store,
    logStream,
    retention: options.retention ?? false,
    ...(options.streamTokenCheckMs !== undefined ? { streamTokenCheckMs: options.streamTokenCheckMs } : {}),
  });
  const addChannel = async (name: string, settings: ChannelSettings): Promise<void> => {
    await store.createChannel(applyChannelSettings(name, settings).channel);
  };
  await addChannel('myoperator', { verify: 'hmac', secret: [TEST_SECRET] });
  const { token } = await issueToken(store, { name: 'admin', role: 'admin', channels: null });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return {
    app,
    store,
    dbPath: path,
    url,
    adminToken: token,
    logs: () => logText,
    addChannel,
    async post(channel, body, headers = {}, query = '') {
      const res = await fetch(`${url}/hooks/${channel}${query}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : new Uint8Array(body),
      });
      const text = await res.text();
      return { status: res.status, json: (text ? JSON.parse(text) : {}) as IngestReply };
    },
    async close() {
      await app.close();
      remove();
    },
  };
}

/** What {@link relaysPerTest} gives a test file. */
export interface RelaysPerTest {
  /** Starts a relay ({@link startRelay}) with the file's defaults under `config`. */
  start(config?: ServerConfigInput, options?: Parameters<typeof startRelay>[1]): Promise<TestRelay>;
  /** Opens a WebSocket to `r`, by default with its admin token. */
  connect(r: TestRelay, options?: { token?: string; protocols?: string[] }): TestSocket;
}

/**
 * The relays and WebSockets of one test file's tests: each test's sockets, then its relays, are
 * closed after it (registered with `afterEach` when called).
 */
export function relaysPerTest(defaults: ServerConfigInput = {}): RelaysPerTest {
  const relays: TestRelay[] = [];
  const sockets: TestSocket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.close();
    for (const relay of relays.splice(0)) await relay.close();
  });
  return {
    async start(config = {}, options = {}) {
      const relay = await startRelay({ ...defaults, ...config }, options);
      relays.push(relay);
      return relay;
    },
    connect(r, options = { token: r.adminToken }) {
      const socket = new TestSocket(r.url, options);
      sockets.push(socket);
      return socket;
    },
  };
}

/**
 * Signs and POSTs `count` events to the `myoperator` channel, expecting 200 for each, and resolves
 * with their ids (`<prefix>_<i>`). Bodies are `{"event_id","event_type","payload":{"n":i}}`, with
 * a `pad` of `padBytes` characters when asked for.
 */
export async function postEvents(r: TestRelay, count: number, options: { type?: string; prefix?: string; padBytes?: number } = {}): Promise<string[]> {
  const { type = 'call.answered', prefix = 'evt', padBytes = 0 } = options;
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = `${prefix}_${i}`;
    const body = JSON.stringify({ event_id: id, event_type: type, payload: { n: i }, ...(padBytes > 0 ? { pad: 'x'.repeat(padBytes) } : {}) });
    const res = await r.post('myoperator', body, { 'X-MyOperator-Signature': sign(body, TEST_SECRET) });
    expect(res.status).toBe(200);
    ids.push(id);
  }
  return ids;
}
