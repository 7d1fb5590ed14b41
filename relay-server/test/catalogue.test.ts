import { randomBytes, scryptSync } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.js';
import type { ServerConfigInput } from '../src/config.js';
import { SERVER_ERRORS, type ServerErrorCode } from '../src/errors.js';
import { betterSqliteDriver } from '../src/store/sqlite-better.js';
import type { SqliteDriver } from '../src/store/sqlite-driver.js';
import { sqlitePath } from '../src/store/open.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import { issueToken } from '../src/tokens.js';
import { TEST_SECRET, sign, startRelay, tempDir, type TestRelay } from './harness.js';
import { openRaw, parseAnswer, rawExchange, upgradeRequest } from './raw-http.js';

/** What a request (or a CLI run) produced. */
type Observed =
  | { via: 'http'; status: number; reason: string; code: string | undefined; message: string | undefined; allow: string | undefined }
  | { via: 'cli'; exitCode: number; code: string | undefined };

interface TriggerContext {
  /** A relay shared by the triggers that need nothing special. */
  relay: TestRelay;
  /** A relay of its own, closed after the test. */
  fresh(config?: ServerConfigInput, options?: Parameters<typeof startRelay>[1]): Promise<TestRelay>;
  /** A data dir holding a store (closed again), for CLI runs. */
  dataDir(prepare?: (store: SqliteStore) => Promise<void>): Promise<string>;
}

type Trigger = (t: TriggerContext) => Promise<Observed>;

async function viaFetch(url: string, init?: RequestInit): Promise<Observed> {
  const res = await fetch(url, init);
  const text = await res.text();
  let error: { code?: string; message?: string } | undefined;
  try {
    error = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
  } catch {
    error = undefined;
  }
  return { via: 'http', status: res.status, reason: res.statusText, code: error?.code, message: error?.message, allow: res.headers.get('allow') ?? undefined };
}

async function viaRaw(url: string, request: string, options?: { halfClose?: boolean }): Promise<Observed> {
  return observedFrom((await rawExchange(url, request, options)).text);
}

function observedFrom(text: string): Observed {
  const answer = parseAnswer(text);
  let message: string | undefined;
  try {
    message = (JSON.parse(answer.body) as { error?: { message?: string } }).error?.message;
  } catch {
    message = undefined;
  }
  return { via: 'http', status: answer.status, reason: answer.reason, code: answer.code, message, allow: answer.headers['allow'] };
}

/** Runs the real relay-server CLI in this process and reads the code it printed. */
async function viaCli(argv: string[], sqliteDriver: SqliteDriver = betterSqliteDriver): Promise<Observed> {
  let stderr = '';
  const sink = (collect: (text: string) => void): Writable =>
    new Writable({
      write(chunk, _encoding, done) {
        collect(String(chunk));
        done();
      },
    });
  const before = process.exitCode;
  await runCli(argv, { sqliteDriver, stdout: sink(() => undefined), stderr: sink((t) => (stderr += t)), onShutdownSignal: () => undefined });
  const exitCode = Number(process.exitCode ?? 0);
  process.exitCode = before;
  return { via: 'cli', exitCode, code: /^error (RELAY_E_[A-Z_]+):/m.exec(stderr)?.[1] };
}

const post = (relay: TestRelay, channel: string, body: string, headers: Record<string, string> = {}): Promise<Observed> =>
  viaFetch(`${relay.url}/hooks/${channel}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
const signedPost = (relay: TestRelay, body: string): Promise<Observed> => post(relay, 'myoperator', body, { 'x-myoperator-signature': sign(body, TEST_SECRET) });
const api = (relay: TestRelay, path: string, init: RequestInit = {}, token = relay.adminToken): Promise<Observed> =>
  viaFetch(`${relay.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers } });
const trigger = (relay: TestRelay, request: object): Promise<Observed> => api(relay, '/api/channels/myoperator/trigger', { method: 'POST', body: JSON.stringify(request) });

/**
 * How each code of the catalogue is met. The type makes a new code without a row a compile error;
 * the test below makes it a failure too.
 */
const TRIGGERS: { [C in ServerErrorCode]: Trigger } = {
  RELAY_E_UNKNOWN_CHANNEL: ({ relay }) => post(relay, 'nowhere', '{}'),
  RELAY_E_CREDENTIALS_MISSING: ({ relay }) => post(relay, 'myoperator', '{}'),
  RELAY_E_SIGNATURE_MALFORMED: ({ relay }) => post(relay, 'myoperator', '{}', { 'x-myoperator-signature': 'not-hex' }),
  RELAY_E_SIGNATURE_MISMATCH: ({ relay }) => post(relay, 'myoperator', '{}', { 'x-myoperator-signature': sign('{"other":1}', TEST_SECRET) }),
  RELAY_E_BASIC_AUTH_INVALID: ({ relay }) => post(relay, 'basic', '{}', { authorization: `Basic ${Buffer.from('hooks:wrong-password').toString('base64')}` }),
  RELAY_E_API_KEY_INVALID: ({ relay }) => post(relay, 'keyed', '{}', { 'x-webhook-key': 'a-wrong-key-of-some-length' }),
  RELAY_E_IP_NOT_ALLOWED: ({ relay }) => post(relay, 'private', '{}'),
  RELAY_E_BASIC_AUTH_BUSY: async ({ fresh }) => {
    const relay = await fresh({ rateLimitIp: 0, rateLimitChannel: 0 });
    await relay.addChannel('basic', { verify: 'basic', basic: 'hooks:right-password' });
    // A cheaper scrypt cost (still one the store accepts), so the checks that do run end soon.
    const channel = await relay.store.getChannel('basic');
    if (channel?.verification.mode !== 'basic') throw new Error('no basic channel');
    const salt = randomBytes(16);
    const key = scryptSync('right-password', salt, 32, { N: 2 ** 13, r: 8, p: 1 });
    const passwordHash = ['scrypt', 2 ** 13, 8, 1, salt.toString('base64url'), key.toString('base64url')].join('$');
    await relay.store.updateChannel({ ...channel, verification: { ...channel.verification, passwordHash } });
    // Credentials not checked before each need a scrypt turn; past the queue's bound (256) the rest are refused for now.
    const answers = await Promise.all(
      Array.from({ length: 400 }, (_, i) => post(relay, 'basic', '{}', { authorization: `Basic ${Buffer.from(`hooks:guess-${i}`).toString('base64')}` })),
    );
    const busy = answers.find((a) => a.via === 'http' && a.code === 'RELAY_E_BASIC_AUTH_BUSY');
    if (!busy) throw new Error('no check was refused as busy');
    return busy;
  },
  RELAY_E_UNSUPPORTED_CONTENT_TYPE: ({ relay }) => post(relay, 'open', 'plain', { 'content-type': 'text/plain' }),
  RELAY_E_INVALID_JSON: ({ relay }) => post(relay, 'open', '{"unterminated":'),
  RELAY_E_INVALID_LEGACY_FORM: ({ relay }) => post(relay, 'legacy', 'note=no-payload', { 'content-type': 'application/x-www-form-urlencoded' }),
  RELAY_E_BODY_TOO_LARGE: ({ relay }) => post(relay, 'small', JSON.stringify({ pad: 'x'.repeat(2048) })),
  RELAY_E_TOO_MANY_HEADERS: ({ relay }) =>
    viaRaw(relay.url, `POST /hooks/open HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n${Array.from({ length: 201 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n{}`),
  RELAY_E_BODY_INCOMPLETE: ({ relay }) => viaRaw(relay.url, 'POST /hooks/open HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"short":', { halfClose: true }),
  RELAY_E_RATE_LIMITED_CHANNEL: async ({ fresh }) => {
    const relay = await fresh({ rateLimitChannel: 1 });
    let last: Observed | undefined;
    // A burst of two passes; the third within the same second does not.
    for (let i = 0; i < 3; i++) last = await signedPost(relay, JSON.stringify({ event_id: `burst-${i}` }));
    return last as Observed;
  },
  RELAY_E_RATE_LIMITED_IP: async ({ fresh }) => {
    const relay = await fresh({ rateLimitIp: 1 });
    let last: Observed | undefined;
    for (let i = 0; i < 3; i++) last = await post(relay, 'nowhere', '{}');
    return last as Observed;
  },
  RELAY_E_STORE_UNAVAILABLE: async ({ fresh }) => {
    const relay = await fresh();
    await relay.store.close();
    return signedPost(relay, '{"event_id":"lost"}');
  },
  RELAY_E_STORE_FULL: async ({ fresh }) => {
    const relay = await fresh({}, { maxBytes: 256 * 1024 });
    for (let i = 0; i < 200; i++) {
      const answer = await signedPost(relay, JSON.stringify({ event_id: `fill-${i}`, pad: 'y'.repeat(8000) }));
      if (answer.via === 'http' && answer.status !== 200) return answer;
    }
    throw new Error('the store never filled');
  },
  RELAY_E_INVALID_BODY: ({ relay }) => trigger(relay, { type: 5 }),
  RELAY_E_API_CONTENT_TYPE: ({ relay }) => api(relay, '/api/channels/myoperator/trigger', { method: 'POST', body: 'type=call.answered', headers: { 'content-type': 'text/plain' } }),
  RELAY_E_API_BODY_TOO_LARGE: ({ relay }) => trigger(relay, { type: 'call.answered', pad: 'z'.repeat(1024 * 1024) }),
  RELAY_E_PORT_IN_USE: async ({ relay, dataDir }) =>
    viaCli(['start', '--host', '127.0.0.1', '--port', new URL(relay.url).port, '--data-dir', await dataDir(), '--log-level', 'silent']),
  // 192.0.2.1 (TEST-NET-1) is an address no machine of ours has.
  RELAY_E_LISTEN_FAILED: async ({ dataDir }) => viaCli(['start', '--host', '192.0.2.1', '--port', '0', '--data-dir', await dataDir(), '--log-level', 'silent']),
  RELAY_E_ADMIN_REQUIRED: async ({ relay }) => {
    const { token } = await issueToken(relay.store, { name: 'dev-not-admin', role: 'developer', channels: null });
    return api(relay, '/api/audit', {}, token);
  },
  RELAY_E_BACKUP_INVALID: async ({ dataDir }) => {
    const dir = await dataDir();
    const bogus = join(dir, 'not-a-backup.db');
    writeFileSync(bogus, 'these bytes are no SQLite database at all, let alone a relay store');
    return viaCli(['backup', '--verify', bogus]);
  },
  // A binding without SQLite's online backup API, as some runtimes' are.
  RELAY_E_BACKUP_UNSUPPORTED: async ({ dataDir }) =>
    viaCli(['backup', '--data-dir', await dataDir(), '--to', join(await dataDir(), 'copy.db')], { ...betterSqliteDriver, backup: undefined }),
  RELAY_E_STORE_VERSION: async ({ dataDir }) => viaCli(['channel', 'list', '--data-dir', await dataDir((store) => store.setMeta('schema_version', '99'))]),
  RELAY_E_SHUTTING_DOWN: async ({ fresh }) => {
    const relay = await fresh();
    // A request that has begun keeps its connection through the close; it ends after the close began.
    const socket = await openRaw(relay.url);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = new Promise((resolve) => socket.once('close', resolve));
    socket.write('GET /healthz HTTP/1.1\r\nHost: relay\r\n');
    const closed = relay.app.close();
    await expect.poll(() => relay.app.server.listening).toBe(false);
    socket.write('\r\n');
    await ended;
    await closed;
    return observedFrom(Buffer.concat(chunks).toString('latin1'));
  },
  RELAY_E_AUTH_REQUIRED: ({ relay }) => viaFetch(`${relay.url}/api/channels`),
  RELAY_E_TOKEN_INVALID: ({ relay }) => api(relay, '/api/channels', {}, 'mrt_unknown'),
  RELAY_E_CHANNEL_FORBIDDEN: async ({ relay }) => {
    const { token } = await issueToken(relay.store, { name: 'open-only', role: 'developer', channels: ['open'] });
    return api(relay, '/api/events?channel=myoperator', {}, token);
  },
  RELAY_E_EVENT_NOT_FOUND: ({ relay }) => api(relay, '/api/events/myoperator/never-stored'),
  RELAY_E_CONSUMER_NOT_FOUND: ({ relay }) => api(relay, '/api/consumers/myoperator/nobody', { method: 'DELETE' }),
  RELAY_E_INVALID_QUERY: ({ relay }) => api(relay, '/api/events?limit=0'),
  RELAY_E_NOT_FOUND: ({ relay }) => viaFetch(`${relay.url}/nothing-here`),
  RELAY_E_METHOD_NOT_ALLOWED: ({ relay }) => viaFetch(`${relay.url}/hooks/myoperator`),
  RELAY_E_REQUEST_TIMEOUT: async ({ fresh }) => viaRaw((await fresh({ headersTimeout: '300ms', requestTimeout: '600ms' })).url, 'POST /hooks/open HTTP/1.1\r\nHost: relay\r\n'),
  RELAY_E_MALFORMED_REQUEST: ({ relay }) => viaRaw(relay.url, 'POST /hooks/open HTTP/1.1\r\nHost: relay\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'),
  RELAY_E_HEADERS_TOO_LARGE: ({ relay }) => viaRaw(relay.url, `GET /healthz HTTP/1.1\r\nHost: relay\r\nX-Padding: ${'p'.repeat(17 * 1024)}\r\n\r\n`),
  RELAY_E_URL_TOO_LONG: ({ relay }) => viaFetch(`${relay.url}/hooks/open?${'q'.repeat(9000)}`, { method: 'POST', body: '{}' }),
  RELAY_E_PATH_SEGMENT_TOO_LONG: ({ relay }) => viaFetch(`${relay.url}/api/events/myoperator/${'e'.repeat(2400)}`),
  RELAY_E_BAD_URL: ({ relay }) => viaRaw(relay.url, 'GET /api/events/myoperator/%E0%A4 HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n'),
  RELAY_E_HOST_REQUIRED: ({ relay }) => viaRaw(relay.url, 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n'),
  RELAY_E_EXPECTATION_FAILED: ({ relay }) => viaRaw(relay.url, 'GET /healthz HTTP/1.1\r\nHost: relay\r\nExpect: 200-ok\r\nConnection: close\r\n\r\n'),
  RELAY_E_UPGRADE_UNSUPPORTED: ({ relay }) => viaRaw(relay.url, upgradeRequest('/healthz', { upgrade: 'h2c' })),
  RELAY_E_UPGRADE_INVALID: ({ relay }) => viaRaw(relay.url, upgradeRequest('/ws', { 'sec-websocket-key': 'short' })),
  RELAY_E_UNKNOWN_EVENT_TYPE: ({ relay }) => trigger(relay, { type: 'no.such.type' }),
  RELAY_E_INVALID_SAMPLE_FIELD: async ({ relay }) => {
    const catalogue = (await (await fetch(`${relay.url}/api/samples`, { headers: { authorization: `Bearer ${relay.adminToken}` } })).json()) as { shapes: Record<string, string[]> };
    return trigger(relay, { type: catalogue.shapes['v2']?.[0], shape: 'v2', set: { 'a..b': 'x' } });
  },
  RELAY_E_LEGACY_FORM_REFUSED: async ({ relay }) => {
    const catalogue = (await (await fetch(`${relay.url}/api/samples`, { headers: { authorization: `Bearer ${relay.adminToken}` } })).json()) as { shapes: Record<string, string[]> };
    return trigger(relay, { type: catalogue.shapes['v1']?.[0], shape: 'v1' });
  },
  RELAY_E_CONFIG_INVALID: ({ dataDir }) => dataDir().then((dir) => viaCli(['token', 'list', '--data-dir', join(dir, 'not-a-store')])),
  RELAY_E_CHANNEL_INVALID: async ({ dataDir }) => viaCli(['channel', 'add', 'lab', '--verify', 'basic', '--data-dir', await dataDir()]),
  RELAY_E_CHANNEL_EXISTS: async ({ dataDir }) => {
    const dir = await dataDir();
    await viaCli(['channel', 'add', 'twice', '--verify', 'none', '--data-dir', dir]);
    return viaCli(['channel', 'add', 'twice', '--verify', 'none', '--data-dir', dir]);
  },
  RELAY_E_TOKEN_NOT_FOUND: async ({ dataDir }) => viaCli(['token', 'revoke', 'nobody', '--data-dir', await dataDir()]),
  RELAY_E_TOKEN_EXISTS: async ({ dataDir }) => {
    const dir = await dataDir();
    await viaCli(['token', 'create', '--name', 'asha', '--data-dir', dir]);
    return viaCli(['token', 'create', '--name', 'asha', '--data-dir', dir]);
  },
  RELAY_E_INTERNAL: async ({ fresh }) => {
    const relay = await fresh();
    // A fault no request can cause on its own: the store fails in a way it never reports.
    relay.store.getChannel = () => Promise.reject(new TypeError('an unforeseen fault at /var/lib/relay'));
    return signedPost(relay, '{"event_id":"unforeseen"}');
  },
};

/** Codes that only operators meet, from the command line; every other code is an HTTP answer. */
const CLI_CODES = new Set<ServerErrorCode>([
  'RELAY_E_STORE_VERSION',
  'RELAY_E_CONFIG_INVALID',
  'RELAY_E_CHANNEL_INVALID',
  'RELAY_E_CHANNEL_EXISTS',
  'RELAY_E_TOKEN_NOT_FOUND',
  'RELAY_E_TOKEN_EXISTS',
  'RELAY_E_PORT_IN_USE',
  'RELAY_E_LISTEN_FAILED',
  'RELAY_E_BACKUP_INVALID',
  'RELAY_E_BACKUP_UNSUPPORTED',
]);

/** Of those, the codes that mean the command line or a setting must change: exit 2 (docs/errors.md, exit codes). */
const USAGE_EXIT = new Set<ServerErrorCode>(['RELAY_E_CONFIG_INVALID', 'RELAY_E_CHANNEL_INVALID']);

describe('every code in the catalogue comes from a real request or command', () => {
  let shared: TestRelay;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeAll(async () => {
    shared = await startRelay();
    await shared.addChannel('open', { verify: 'none' });
    await shared.addChannel('basic', { verify: 'basic', basic: 'hooks:right-password' });
    await shared.addChannel('keyed', { verify: 'apikey', apiKeyHeader: 'x-webhook-key', apiKey: 'the-right-key-0123456789' });
    await shared.addChannel('private', { verify: 'none', allowIp: ['10.0.0.0/8'] });
    await shared.addChannel('legacy', { verify: 'none', acceptLegacyForm: true });
    await shared.addChannel('small', { verify: 'none', maxBody: '1KiB' });
  });
  afterAll(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await shared.close();
  });

  const context = (): TriggerContext => ({
    relay: shared,
    async fresh(config = {}, options = {}) {
      const relay = await startRelay(config, options);
      cleanups.push(() => relay.close());
      return relay;
    },
    async dataDir(prepare) {
      const dir = tempDir();
      cleanups.push(dir.remove);
      const store = new SqliteStore({ path: sqlitePath(dir.path), driver: betterSqliteDriver });
      await prepare?.(store);
      await store.close();
      return dir.path;
    },
  });

  it('has a trigger for each code and no other', () => {
    expect(Object.keys(TRIGGERS).sort()).toEqual(Object.keys(SERVER_ERRORS).sort());
  });

  for (const code of Object.keys(SERVER_ERRORS) as ServerErrorCode[]) {
    it(code, async () => {
      const observed = await TRIGGERS[code](context());
      const { status, message } = SERVER_ERRORS[code];
      if (CLI_CODES.has(code)) {
        expect(observed).toEqual({ via: 'cli', exitCode: USAGE_EXIT.has(code) ? 2 : 1, code });
        return;
      }
      expect(observed.via).toBe('http');
      if (observed.via !== 'http') return;
      expect({ status: observed.status, reason: observed.reason, code: observed.code }).toEqual({ status, reason: STATUS_CODES[status], code });
      expect(observed.message?.startsWith(message)).toBe(true);
      // Whatever failed inside stays in the log.
      if (status >= 500) expect(observed.message).toBe(message);
      if (status === 405) expect(observed.allow).toBeTruthy();
    });
  }
});
