import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest, Agent } from 'node:http';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  killAllChildren,
  runCli,
  runCliJson,
  sha256Hex,
  sign,
  startRelayServer,
  tempDir,
  type RelayServerProcess,
} from './support/processes.js';

/** The coded error body every refusal carries. */
interface ErrorBody {
  error?: { code?: string; message?: string };
}

interface Reply {
  status: number;
  json: Record<string, unknown> & ErrorBody;
}

async function readReply(res: Response): Promise<Reply> {
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : {}) as Reply['json'] };
}

/** POSTs `body` to /hooks/<channel>, signed with `secret` in X-MyOperator-Signature. */
async function postSigned(baseUrl: string, channel: string, body: string, secret: string): Promise<Reply> {
  const res = await fetch(`${baseUrl}/hooks/${channel}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-myoperator-signature': sign(body, secret) },
    body,
  });
  return readReply(res);
}

async function getEvents(baseUrl: string, token: string, channel: string): Promise<Reply> {
  const res = await fetch(`${baseUrl}/api/events?channel=${encodeURIComponent(channel)}`, { headers: { authorization: `Bearer ${token}` } });
  return readReply(res);
}

let eventCounter = 0;
/** A small v2-style event with a unique id. */
function eventBody(extra: Record<string, unknown> = {}): string {
  eventCounter += 1;
  return JSON.stringify({ event_id: `cli-${process.pid}-${eventCounter}`, event_type: 'call.completed', data: { call_id: `c${eventCounter}` }, ...extra });
}

/** An event body padded to exactly `size` bytes. */
function eventBodyOfSize(size: number): string {
  const base = eventBody({ pad: '' });
  const body = base.replace('"pad":""', `"pad":"${'x'.repeat(size - Buffer.byteLength(base))}"`);
  expect(Buffer.byteLength(body)).toBe(size);
  return body;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads `key` of a JSON object printed by the CLI, failing the test when it is not a string. */
function stringField(value: unknown, key: string): string {
  const field = isRecord(value) ? value[key] : undefined;
  if (typeof field !== 'string') throw new Error(`expected a string "${key}" in ${JSON.stringify(value)}`);
  return field;
}

/** A temporary directory made before a describe block's tests and removed after them. */
function useTempDir(prefix: string): { readonly path: string } {
  let dir: { path: string; remove: () => void } | undefined;
  beforeAll(() => {
    dir = tempDir(prefix);
  });
  afterAll(() => dir?.remove());
  return {
    get path(): string {
      if (!dir) throw new Error('the temporary directory exists only while the block runs');
      return dir.path;
    },
  };
}

describe('relay-server start on an empty data dir, with admin commands against the running server', () => {
  const dir = useTempDir('relay-cli-');
  const dataDir = (): string => join(dir.path, 'data');
  let server: RelayServerProcess | undefined;
  let secret = '';
  let adminToken = '';
  let devToken = '';
  /** Every secret the CLI printed, to prove none is ever printed again. */
  const printedSecrets: string[] = [];
  const admin = (args: string[]): string[] => [...args, '--data-dir', dataDir()];

  /** The shared server; a test that finds it gone fails instead of hanging. */
  const running = (): RelayServerProcess => {
    if (!server || server.child.exitCode !== null || server.child.signalCode !== null) throw new Error('the shared relay-server is not running');
    return server;
  };

  beforeAll(async () => {
    server = await startRelayServer({ dataDir: dataDir() });
    secret = server.banner?.secret ?? '';
    adminToken = server.banner?.adminToken ?? '';
    printedSecrets.push(secret);
  });
  afterEach(async () => {
    await killAllChildren([server]);
  });
  afterAll(async () => {
    await server?.stop().catch(() => undefined);
    await killAllChildren();
  });

  it('prints the webhook URL, the verification header, a secret, an admin token, how to make a developer token and a relay-client line', () => {
    const banner = running().banner;
    expect(banner, `first-start banner in:\n${running().stdout()}`).toBeDefined();
    if (!banner) return;
    expect(banner.webhookUrl).toBe(`${running().url}/hooks/myoperator`);
    expect(banner.verification).toContain('X-MyOperator-Signature');
    expect(banner.secret.length).toBeGreaterThanOrEqual(32);
    expect(banner.adminToken.length).toBeGreaterThanOrEqual(32);
    expect(banner.adminToken).not.toBe(banner.secret);
    const words = banner.listenCommand.split(/\s+/);
    const flag = (name: string): string | undefined => words[words.indexOf(name) + 1];
    expect(words.slice(0, 2)).toEqual(['relay-client', 'listen']);
    expect(flag('--relay')).toBe(running().url);
    // A laptop gets a developer token of its own, never the admin token.
    expect(flag('--token')).toBe('<token>');
    expect(running().stdout()).toMatch(/^\s*relay-server token create --name <developer> --channels myoperator --data-dir \S+\s*$/m);
    expect(flag('--channel')).toBe('myoperator');
    expect(flag('--forward-to')).toMatch(/^https?:\/\//);
  });

  it('accepts a POST signed with the printed secret and refuses one signed with another', async () => {
    const body = eventBody();
    const eventId = stringField(JSON.parse(body) as unknown, 'event_id');
    const ok = await postSigned(running().url, 'myoperator', body, secret);
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ accepted: true, channel: 'myoperator', id: eventId, duplicate: false });
    expect(typeof ok.json['seq']).toBe('number');

    const wrong = await postSigned(running().url, 'myoperator', eventBody(), `${secret}x`);
    expect(wrong.status).toBe(401);
    expect(wrong.json.error?.code).toBe('RELAY_E_SIGNATURE_MISMATCH');
  });

  it('channel add and update take effect in the running server without a restart', async () => {
    const added = await runCliJson(admin(['channel', 'add', 'sales', '--json']));
    const salesSecret = stringField(added, 'secret');
    printedSecrets.push(salesSecret);
    expect(salesSecret).not.toBe(secret);

    const accepted = await postSigned(running().url, 'sales', eventBody(), salesSecret);
    expect(accepted.status).toBe(200);
    expect(accepted.json).toMatchObject({ accepted: true, channel: 'sales', seq: 1 });
    const crossSigned = await postSigned(running().url, 'sales', eventBody(), secret);
    expect(crossSigned.json.error?.code).toBe('RELAY_E_SIGNATURE_MISMATCH');

    const updated = await runCliJson(admin(['channel', 'update', 'sales', '--max-body', '100', '--json']));
    expect(isRecord(updated) && isRecord(updated['channel']) ? updated['channel']['maxBodyBytes'] : undefined).toBe(100);
    expect(isRecord(updated) ? updated['secret'] : undefined, 'update without --secret generates no secret').toBeUndefined();

    const tooLarge = await postSigned(running().url, 'sales', eventBodyOfSize(200), salesSecret);
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.json.error?.code).toBe('RELAY_E_BODY_TOO_LARGE');
    const fits = await postSigned(running().url, 'sales', eventBodyOfSize(100), salesSecret);
    expect(fits.status).toBe(200);

    const removed = await runCli(admin(['channel', 'remove', 'sales']));
    expect(removed.code, removed.stderr).toBe(0);
    const gone = await postSigned(running().url, 'sales', eventBody(), salesSecret);
    expect(gone.status).toBe(404);
    expect(gone.json.error?.code).toBe('RELAY_E_UNKNOWN_CHANNEL');
  });

  it('rotate-secret keeps the old secret valid until --retire-old', async () => {
    const rotated = await runCliJson(admin(['channel', 'rotate-secret', 'myoperator', '--json']));
    const newSecret = stringField(rotated, 'secret');
    printedSecrets.push(newSecret);
    expect(newSecret).not.toBe(secret);

    expect((await postSigned(running().url, 'myoperator', eventBody(), secret)).status).toBe(200);
    expect((await postSigned(running().url, 'myoperator', eventBody(), newSecret)).status).toBe(200);

    const retired = await runCli(admin(['channel', 'rotate-secret', 'myoperator', '--retire-old', '--json']));
    expect(retired.code, retired.stderr).toBe(0);

    const old = await postSigned(running().url, 'myoperator', eventBody(), secret);
    expect(old.status).toBe(401);
    expect(old.json.error?.code).toBe('RELAY_E_SIGNATURE_MISMATCH');
    expect((await postSigned(running().url, 'myoperator', eventBody(), newSecret)).status).toBe(200);
    secret = newSecret;
  });

  it('channel list and channel show never print a secret', async () => {
    // Make sure there is more than one channel with secrets to leak.
    const added = await runCliJson(admin(['channel', 'add', 'billing', '--json']));
    printedSecrets.push(stringField(added, 'secret'));

    const outputs = await Promise.all([
      runCli(admin(['channel', 'list', '--json'])),
      runCli(admin(['channel', 'list'])),
      runCli(admin(['channel', 'show', 'myoperator', '--json'])),
      runCli(admin(['channel', 'show', 'myoperator'])),
      runCli(admin(['channel', 'show', 'billing', '--json'])),
    ]);
    for (const output of outputs) {
      expect(output.code, output.stderr).toBe(0);
      for (const s of printedSecrets) {
        expect(output.stdout).not.toContain(s);
        expect(output.stderr).not.toContain(s);
      }
    }
    const list = JSON.parse(outputs[0]?.stdout ?? '') as unknown;
    expect(Array.isArray(list) ? list.map((c: unknown) => (isRecord(c) ? c['name'] : undefined)) : list).toEqual(expect.arrayContaining(['billing', 'myoperator']));
    const shown = JSON.parse(outputs[2]?.stdout ?? '') as unknown;
    expect(shown).toMatchObject({ name: 'myoperator', verification: { mode: 'hmac', activeSecrets: expect.any(Number) } });
  });

  it('token create scopes a developer token to its channels, and token revoke shuts it out', async () => {
    const created = await runCliJson(admin(['token', 'create', '--name', 'dev', '--channels', 'myoperator', '--json']));
    devToken = stringField(created, 'token');
    expect(created).toMatchObject({ name: 'dev', role: 'developer', channels: ['myoperator'] });

    expect((await postSigned(running().url, 'myoperator', eventBody(), secret)).status).toBe(200);
    const own = await getEvents(running().url, devToken, 'myoperator');
    expect(own.status).toBe(200);
    expect(Array.isArray(own.json['events']) ? own.json['events'].length : -1).toBeGreaterThan(0);

    // billing exists (added above), so the refusal is about scope, not a missing channel.
    const other = await getEvents(running().url, devToken, 'billing');
    expect(other.status).toBe(403);
    expect(other.json.error?.code).toBe('RELAY_E_CHANNEL_FORBIDDEN');
    expect((await getEvents(running().url, adminToken, 'billing')).status).toBe(200);

    const listed = await runCli(admin(['token', 'list', '--json']));
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).not.toContain(devToken);
    expect(listed.stdout).not.toContain(adminToken);

    const revoked = await runCli(admin(['token', 'revoke', 'dev']));
    expect(revoked.code, revoked.stderr).toBe(0);
    const after = await getEvents(running().url, devToken, 'myoperator');
    expect(after.status).toBe(401);
    expect(after.json.error?.code).toBe('RELAY_E_TOKEN_INVALID');
  });

  it('never writes a token string into relay.db or its WAL', async () => {
    if (!devToken) {
      const created = await runCliJson(admin(['token', 'create', '--name', 'dev2', '--json']));
      devToken = stringField(created, 'token');
    }
    const files = ['relay.db', 'relay.db-wal'].map((name) => join(dataDir(), name)).filter((path) => existsSync(path));
    expect(files).toContain(join(dataDir(), 'relay.db'));
    const bytes = Buffer.concat(files.map((path) => readFileSync(path)));
    for (const token of [adminToken, devToken]) {
      expect(token.length).toBeGreaterThan(0);
      expect(bytes.includes(Buffer.from(token, 'utf8')), `token ${token.slice(0, 8)}… is in the database files`).toBe(false);
    }
    // The store keeps the admin token's SHA-256, so this search does see the token table's bytes.
    expect(bytes.includes(Buffer.from(sha256Hex(adminToken), 'utf8'))).toBe(true);
  });
});

describe('relay-server start on a data dir that already has a store', () => {
  const dir = useTempDir('relay-cli-restart-');
  afterEach(() => killAllChildren());

  it('prints no secret or token on the second start, and the first secret still works', async () => {
    const first = await startRelayServer({ dataDir: dir.path });
    const banner = first.banner;
    expect(banner).toBeDefined();
    if (!banner) return;
    expect(await first.stop()).toEqual({ code: 0, signal: null });

    const second = await startRelayServer({ dataDir: dir.path });
    expect(second.banner).toBeUndefined();
    const output = second.stdout() + second.stderr();
    expect(output).not.toContain(banner.secret);
    expect(output).not.toContain(banner.adminToken);
    expect(output).not.toMatch(/Signing secret|Admin token/);

    const body = eventBody();
    expect((await postSigned(second.url, 'myoperator', body, banner.secret)).status).toBe(200);
    expect(await second.stop()).toEqual({ code: 0, signal: null });
  });
});

describe('relay-server --help', () => {
  const commands = [
    ['start'],
    ['migrate'],
    ['channel', 'add'],
    ['channel', 'update'],
    ['channel', 'rotate-secret'],
    ['channel', 'list'],
    ['channel', 'show'],
    ['channel', 'remove'],
    ['token', 'create'],
    ['token', 'list'],
    ['token', 'revoke'],
  ];

  it.each(commands.map((c) => [c.join(' '), c] as const))('%s --help exits 0 with examples', async (_name, command) => {
    const result = await runCli([...command, '--help']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`relay-server ${command.join(' ')}`);
    const examples = result.stdout.split(/^Examples:$/m)[1];
    expect(examples, `an Examples: section in\n${result.stdout}`).toBeDefined();
    expect(examples).toContain(`relay-server ${command.join(' ')}`);
  });

  it('the top-level --help lists the commands', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    for (const command of ['start', 'channel', 'token']) expect(result.stdout).toContain(`relay-server ${command}`);
  });
});

describe('relay-server command-line errors', () => {
  const dir = useTempDir('relay-cli-errors-');
  const dataDir = (): string => join(dir.path, 'data');
  beforeAll(async () => {
    const server = await startRelayServer({ dataDir: dataDir() });
    expect(await server.stop()).toEqual({ code: 0, signal: null });
  });
  afterEach(() => killAllChildren());

  it('an unknown command exits 2 with one RELAY_E_USAGE line naming it', async () => {
    const result = await runCli(['frobnicate']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('error RELAY_E_USAGE: Unknown command: frobnicate');
    expect(result.stderr).toContain('See `relay-server --help`.');
  });

  it('channel show of a missing channel exits 1 with RELAY_E_UNKNOWN_CHANNEL', async () => {
    const result = await runCli(['channel', 'show', 'nope', '--data-dir', dataDir()]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('RELAY_E_UNKNOWN_CHANNEL');
    expect(result.stderr).toContain('nope');
  });

  it('an admin command on a data dir without a store exits 2 with RELAY_E_CONFIG_INVALID and creates nothing', async () => {
    const missing = join(dir.path, 'typo');
    const result = await runCli(['channel', 'list', '--data-dir', missing]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('RELAY_E_CONFIG_INVALID');
    expect(result.stderr).toContain('--data-dir');
    expect(existsSync(missing)).toBe(false);
  });

  it('start --port 99999 exits non-zero naming --port', async () => {
    const result = await runCli(['start', '--port', '99999', '--data-dir', join(dir.path, 'never')]);
    expect(result.code).not.toBe(0);
    expect(result.code).not.toBeNull();
    expect(result.stderr).toContain('--port');
    expect(result.stderr).toContain('RELAY_E_CONFIG_INVALID');
    expect(existsSync(join(dir.path, 'never'))).toBe(false);
  });
});

/** One invalid value per `start` setting, and the setting the error must name. */
const INVALID_START_SETTINGS: ReadonlyArray<{ key: string; value: string; names: string }> = [
  { key: 'port', value: '99999', names: '--port' },
  { key: 'log-level', value: 'loud', names: '--log-level' },
  { key: 'public-url', value: 'ftp://relay.example.test', names: '--public-url' },
  { key: 'trust-proxy', value: 'not-an-address', names: '--trust-proxy' },
  { key: 'tls-cert', value: '/nonexistent/cert.pem', names: '--tls-key' },
  { key: 'tls-key', value: '/nonexistent/key.pem', names: '--tls-cert' },
  { key: 'max-db-size', value: '1KiB', names: '--max-db-size' },
  { key: 'rate-limit-channel', value: 'lots', names: '--rate-limit-channel' },
  { key: 'rate-limit-ip', value: 'lots', names: '--rate-limit-ip' },
  { key: 'retention-max-age', value: 'forever', names: '--retention-max-age' },
  { key: 'retention-max-events', value: '0', names: '--retention-max-events' },
  { key: 'retention-interval', value: 'soon', names: '--retention-interval' },
  { key: 'headers-timeout', value: 'soon', names: '--headers-timeout' },
  { key: 'request-timeout', value: 'soon', names: '--request-timeout' },
  { key: 'keep-alive-timeout', value: 'soon', names: '--keep-alive-timeout' },
  { key: 'shutdown-timeout', value: 'soon', names: '--shutdown-timeout' },
  { key: 'metrics-listen', value: 'port-9464', names: '--metrics-listen' },
];

// Every setting of `start` is proved to be read from each source by giving it an invalid value
// there: the refusal names the setting. These runs never start a server, so they run concurrently.
describe('relay-server start reads every setting from RELAY_* variables and --config files', () => {
  const dir = useTempDir('relay-cli-settings-');
  const envName = (key: string): string => `RELAY_${key.toUpperCase().replaceAll('-', '_')}`;

  it.concurrent.for(INVALID_START_SETTINGS)('$key', async ({ key, value, names }, { expect }) => {
    const dataDir = join(dir.path, `never-${key}`);
    const configFile = join(dir.path, `${key}.json`);
    writeFileSync(configFile, JSON.stringify({ [key]: value }));
    const [fromEnv, fromConfig] = await Promise.all([
      runCli(['start', '--data-dir', dataDir], { env: { [envName(key)]: value } }),
      runCli(['start', '--data-dir', dataDir, '--config', configFile]),
    ]);
    for (const [source, result] of [['env', fromEnv], ['config', fromConfig]] as const) {
      expect(result?.code, `${source}: ${result?.stderr}`).toBe(2);
      expect(result?.stderr, source).toContain('RELAY_E_CONFIG_INVALID');
      expect(result?.stderr, source).toContain(names);
    }
    expect(existsSync(dataDir), 'invalid settings are refused before the data dir is created').toBe(false);
  });
});

describe('relay-server runs from RELAY_* variables and --config files alone', () => {
  const dir = useTempDir('relay-cli-config-');
  afterEach(() => killAllChildren());

  it('start takes data-dir, port, host and public-url from RELAY_* variables; admin commands take RELAY_DATA_DIR', async () => {
    const dataDir = join(dir.path, 'from-env');
    const server = await startRelayServer({
      defaults: false,
      env: { RELAY_DATA_DIR: dataDir, RELAY_PORT: '0', RELAY_HOST: '127.0.0.1', RELAY_PUBLIC_URL: 'https://relay.env.example.test' },
    });
    expect(server.port).not.toBe(8080);
    expect(server.banner?.webhookUrl).toBe('https://relay.env.example.test/hooks/myoperator');
    expect(existsSync(join(dataDir, 'relay.db'))).toBe(true);
    const secret = server.banner?.secret ?? '';
    expect((await postSigned(server.url, 'myoperator', eventBody(), secret)).status).toBe(200);

    const list = await runCliJson(['channel', 'list'], { env: { RELAY_DATA_DIR: dataDir, RELAY_JSON: 'true' } });
    expect(list).toMatchObject([{ name: 'myoperator', events: 1 }]);
    const updated = await runCliJson(['channel', 'update', 'myoperator', '--json'], { env: { RELAY_DATA_DIR: dataDir, RELAY_MAX_BODY: '2KiB' } });
    expect(updated).toMatchObject({ channel: { maxBodyBytes: 2048 } });
    expect(await server.stop()).toEqual({ code: 0, signal: null });
  });

  it('start and admin commands take their settings from a --config JSON file', async () => {
    const dataDir = join(dir.path, 'from-config');
    const startConfig = join(dir.path, 'start.json');
    writeFileSync(startConfig, JSON.stringify({ 'data-dir': dataDir, port: 0, host: '127.0.0.1', 'public-url': 'https://relay.config.example.test/' }));
    const server = await startRelayServer({ defaults: false, args: ['--config', startConfig] });
    expect(server.port).not.toBe(8080);
    expect(server.banner?.webhookUrl).toBe('https://relay.config.example.test/hooks/myoperator');
    expect(existsSync(join(dataDir, 'relay.db'))).toBe(true);

    const adminConfig = join(dir.path, 'admin.json');
    writeFileSync(adminConfig, JSON.stringify({ 'data-dir': dataDir, json: true, 'max-body': '4KiB' }));
    const updated = await runCliJson(['channel', 'update', 'myoperator', '--config', adminConfig]);
    expect(updated).toMatchObject({ channel: { name: 'myoperator', maxBodyBytes: 4096 } });
    // Each file carries only options of its command: the CLI is strict about unknown keys.
    const showConfig = join(dir.path, 'show.json');
    writeFileSync(showConfig, JSON.stringify({ 'data-dir': dataDir, json: true }));
    const shown = await runCliJson(['channel', 'show', 'myoperator', '--config', showConfig]);
    expect(shown).toMatchObject({ name: 'myoperator', maxBodyBytes: 4096 });
    expect(await server.stop()).toEqual({ code: 0, signal: null });
  });
});

describe('relay-server shutdown', () => {
  const dir = useTempDir('relay-cli-stop-');
  afterEach(() => killAllChildren());

  it('SIGTERM makes a running server exit 0 within a few seconds, even with a keep-alive connection open', async () => {
    const server = await startRelayServer({ dataDir: dir.path });
    const secret = server.banner?.secret ?? '';
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const body = eventBody();
        const req = httpRequest(`${server.url}/hooks/myoperator`, {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'x-myoperator-signature': sign(body, secret) },
        });
        req.on('error', reject);
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.end(body);
      });
      expect(status).toBe(200);
      const started = Date.now();
      expect(await server.stop(5_000)).toEqual({ code: 0, signal: null });
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      agent.destroy();
    }
  });
});
