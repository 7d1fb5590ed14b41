import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { eventMessage, startFakeRelay, type FakeRelay } from './support/fake-relay.js';
import { startHttpTarget, type HttpTarget } from './support/http-target.js';

/** The built CLI (`npx tsc -b` produces it). */
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const TOKEN = 'mrt_cli_token_never_printed_0123456789';

const home = mkdtempSync(join(tmpdir(), 'relay-client-cli-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

type Child = ChildProcessByStdio<null, Readable, Readable>;

interface Running {
  child: Child;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout has a line matching `pattern`. */
  line(pattern: RegExp): Promise<string>;
  exited: Promise<number | null>;
}

const children: Child[] = [];
let relays: FakeRelay[] = [];
let targets: HttpTarget[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.all([...relays.map((r) => r.close()), ...targets.map((t) => t.close())]);
  relays = [];
  targets = [];
});

/** This process's environment without RELAY_* (a developer's own settings would change the run), HOME pointing at an empty dir. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('RELAY_') && key !== 'XDG_CONFIG_HOME') clean[key] = value;
  return { ...clean, HOME: home, NO_COLOR: '1', ...extra };
}

function spawnCli(args: readonly string[], extraEnv: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [CLI, ...args], { env: env(extraEnv), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    for (const w of waiters.splice(0)) {
      const found = out.split('\n').find((l) => w.pattern.test(l));
      if (found !== undefined) w.resolve(found);
      else waiters.push(w);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const closed = once(child, 'close').then(([code]) => code as number | null);
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    line(pattern) {
      const found = out.split('\n').find((l) => pattern.test(l));
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ pattern, resolve }));
    },
    exited: closed,
  };
}

async function run(args: readonly string[], extraEnv: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const running = spawnCli(args, extraEnv);
  const code = await running.exited;
  return { code, stdout: running.stdout(), stderr: running.stderr() };
}

describe('relay-client CLI', () => {
  it('--help exits 0 and shows examples, for the program and for listen', async () => {
    const top = await run(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('Examples:');
    const listen = await run(['listen', '--help']);
    expect(listen.code).toBe(0);
    expect(listen.stdout).toContain('Examples:');
    expect(listen.stdout).toContain('--forward-to');
  });

  it('--help exits 0 with examples for every command', async () => {
    for (const command of [['trigger'], ['events'], ['events', 'list'], ['events', 'show'], ['events', 'tail'], ['replay'], ['status'], ['completion']]) {
      const help = await run([...command, '--help']);
      expect(help.code, command.join(' ')).toBe(0);
      expect(help.stdout, command.join(' ')).toContain('Examples:');
    }
  });

  it('exits 2 on an unknown flag of a workflow command, naming it', async () => {
    const result = await run(['events', 'list', '--chanel', 'sales'], { RELAY_URL: 'http://127.0.0.1:9', RELAY_TOKEN: TOKEN });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Unknown option: --chanel');
    expect(result.stderr).toContain('relay-client events list --help');
  });

  it('exits 2 naming --forward-to when it is missing, without printing the token', async () => {
    const result = await run(['listen', '--relay', 'http://127.0.0.1:9'], { RELAY_TOKEN: TOKEN });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--forward-to is required');
    expect(result.stdout + result.stderr).not.toContain(TOKEN);
  });

  it('exits 2 and says how to create a token when there is none', async () => {
    const result = await run(['listen', '--relay', 'http://127.0.0.1:9', '--forward-to', 'http://localhost:3000/x']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('relay-server token create --name <you>');
  });

  it('exits 2 on an unknown flag', async () => {
    const result = await run(['listen', '--forward', 'http://localhost:3000/x']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Unknown option: --forward');
  });

  it('exits 2 when the relay refuses the token, without printing it', async () => {
    const relay = await startFakeRelay({ refuseUpgrade: 401 });
    relays.push(relay);
    const result = await run(['listen', '--forward-to', 'http://127.0.0.1:9/x'], { RELAY_URL: relay.url, RELAY_TOKEN: TOKEN });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('RELAY_E_CLIENT_TOKEN_REJECTED');
    expect(result.stderr).toContain('relay-server token create');
    expect(result.stdout + result.stderr).not.toContain(TOKEN);
  });

  it('merges flags over RELAY_* variables over the config file, forwards, and exits 130 with a summary on SIGTERM', async () => {
    const relay = await startFakeRelay();
    relays.push(relay);
    const target = await startHttpTarget();
    targets.push(target);
    const configFile = join(home, 'listen.json');
    writeFileSync(
      configFile,
      JSON.stringify({ relay: 'http://127.0.0.1:9', 'forward-to': `${target.origin}/from-config`, channel: ['from-config'], consumer: 'config-consumer', window: 3 }),
    );
    const client = spawnCli(['listen', '--config', configFile, '--channel', 'from-flag', '--json'], {
      RELAY_URL: relay.url,
      RELAY_TOKEN: TOKEN,
      RELAY_SINCE: '15m',
      RELAY_CHANNEL: 'from-env',
    });
    const conn = await relay.connection(1);
    expect(conn.headers.authorization).toBe(`Bearer ${TOKEN}`);
    const subscribe = await conn.waitFor('subscribe');
    expect(subscribe).toMatchObject({ channel: 'from-flag', consumer: 'config-consumer', since: '15m', window: 3 });
    await client.line(/"type":"subscribed"/);
    conn.send(eventMessage({ sub: 's-from-flag', channel: 'from-flag', seq: 5 }));
    await conn.waitFor('ack');
    // The flag replaced the variable's and the file's channel lists rather than adding to them.
    expect(conn.messages.filter((m) => m.type === 'subscribe')).toHaveLength(1);
    expect((await target.request(1)).url).toBe('/from-config');
    await client.line(/"type":"forwarded"/);
    client.child.kill('SIGTERM');
    expect(await client.exited).toBe(130);
    expect((await conn.closed).code).toBe(1000);
    const lines = client.stdout().trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    expect(lines.at(-1)).toEqual(expect.objectContaining({ type: 'summary', delivered: 1, failed: 0, pending: 0 }));
    expect(client.stdout() + client.stderr()).not.toContain(TOKEN);
  });

  it('reads $XDG_CONFIG_HOME/myop-relay/client.json when --config is not given', async () => {
    const relay = await startFakeRelay();
    relays.push(relay);
    const xdg = join(home, 'xdg');
    mkdirSync(join(xdg, 'myop-relay'), { recursive: true });
    writeFileSync(join(xdg, 'myop-relay', 'client.json'), JSON.stringify({ relay: relay.url, token: TOKEN, 'forward-to': 'http://127.0.0.1:9/x', consumer: 'xdg' }));
    const client = spawnCli(['listen', '--quiet'], { XDG_CONFIG_HOME: xdg });
    const conn = await relay.connection(1);
    expect(await conn.waitFor('subscribe')).toMatchObject({ channel: 'myoperator', consumer: 'xdg' });
    client.child.kill('SIGINT');
    expect(await client.exited).toBe(130);
    // --quiet: only the summary; the fake relay has no HTTP API, so the count is the client's own.
    expect(client.stdout().trim()).toBe('summary: 0 delivered, 0 failed attempts, 0 received and not done (the relay could not be asked for its count)');
  });
});
