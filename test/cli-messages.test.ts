/**
 * What the real CLIs print when something is wrong: one coded line, no stack trace, values shown
 * whole with the fix, JSON with --json, and the exit codes of docs/errors.md; help wrapped
 * between words when piped.
 */
import { createServer } from 'node:net';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CLIENT_CLI, killAllChildren, runCli, startRelayServer, tempDir } from './support/processes.js';

const dir = tempDir('relay-messages-');
afterAll(() => dir.remove());
afterEach(() => killAllChildren());

const client = (args: string[], env: Record<string, string> = {}) => runCli(args, { script: CLIENT_CLI, env: { HOME: dir.path, XDG_CONFIG_HOME: dir.path, ...env } });
const server = (args: string[]) => runCli(args);

/** The output has one `error CODE:` line and nothing that looks like a stack trace. */
function oneCodedLine(stderr: string, code: string): void {
  expect(stderr.match(/^error RELAY_E_[A-Z_]+:/gm), stderr).toEqual([`error ${code}:`]);
  expect(stderr).not.toMatch(/^\s+at /m);
}

describe('help', () => {
  it('wraps between words when piped, at 80 columns, with examples at the top level', async () => {
    for (const [cli, args] of [
      [client, ['--help']],
      [client, ['listen', '--help']],
      [client, ['replay', '--help']],
      [server, ['--help']],
      [server, ['channel', 'add', '--help']],
    ] as const) {
      const help = await cli([...args]);
      expect(help.code).toBe(0);
      for (const line of help.stdout.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
      // Words yargs' ESM build cut: X-Relay-Replay, call.answered, myoperator.
      expect(help.stdout).not.toMatch(/X-Rela\n|\bca\n\s*ll\.|RELA\n/);
      const words = new Set(help.stdout.split(/\s+/));
      if (args[0] === 'replay') expect(words.has('X-Relay-Replay:')).toBe(true);
    }
    expect((await client(['--help'])).stdout).toContain('Examples:');
    expect((await server(['--help'])).stdout).toContain('Examples:');
  });
});

describe('failures', () => {
  it('--config missing, not JSON, or with an unknown key: one coded line naming the file and the key', async () => {
    const bad = join(dir.path, 'bad.json');
    const unknown = join(dir.path, 'unknown.json');
    writeFileSync(bad, '{"relay": ');
    writeFileSync(unknown, JSON.stringify({ relay: 'http://127.0.0.1:9', 'forward-too': 'http://localhost:3000' }));
    const missing = await client(['listen', '--config', join(dir.path, 'nope.json')]);
    expect(missing.code).toBe(2);
    oneCodedLine(missing.stderr, 'RELAY_E_CLIENT_CONFIG_INVALID');
    expect(missing.stderr).toContain('nope.json" (no such file)');
    const notJson = await server(['start', '--config', bad]);
    expect(notJson.code).toBe(2);
    oneCodedLine(notJson.stderr, 'RELAY_E_CONFIG_INVALID');
    expect(notJson.stderr).toContain('is not JSON');
    const typo = await client(['listen', '--config', unknown]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('unknown key "forward-too" (did you mean "forward-to"?)');
  });

  it('a busy port is RELAY_E_PORT_IN_USE, not a stack trace', async () => {
    const busy = createServer();
    busy.listen(0, '127.0.0.1');
    await once(busy, 'listening');
    const port = (busy.address() as { port: number }).port;
    try {
      const result = await server(['start', '--data-dir', join(dir.path, 'busy'), '--host', '127.0.0.1', '--port', String(port)]);
      expect(result.code).toBe(1);
      oneCodedLine(result.stderr, 'RELAY_E_PORT_IN_USE');
      expect(result.stderr).toContain(`127.0.0.1:${port}`);
    } finally {
      busy.close();
    }
  });

  it('shows values whole with the fix', async () => {
    const noScheme = await client(['events', 'list', '--relay', 'localhost:8080', '--token', 'mrt_x']);
    expect(noScheme.code).toBe(2);
    expect(noScheme.stderr).toContain('"localhost:8080" has no scheme; did you mean http://localhost:8080?');
    const webhook = await client(['status', '--relay', 'https://relay.example.com/hooks/sales']);
    expect(webhook.stderr).toContain('did you mean --relay https://relay.example.com --channel sales?');
    const port = await server(['start', '--port', 'abc']);
    expect(port.code).toBe(2);
    expect(port.stderr).toContain('got "abc"');
    expect(port.stderr).not.toContain('NaN');
  });

  it('suggests the closest command and option, and names the command without stray values', async () => {
    const command = await server(['--data-dir', join(dir.path, 'x'), 'chanel', 'list']);
    expect(command.code).toBe(2);
    oneCodedLine(command.stderr, 'RELAY_E_USAGE');
    expect(command.stderr).toContain('Unknown command: chanel (did you mean channel?)');
    const option = await server(['token', 'create', '--name', 'asha', '--channel', 'sales', '--data-dir', join(dir.path, 'x')]);
    expect(option.stderr).toContain('--channel (did you mean --channels?)');
    expect(option.stderr).toContain('See `relay-server token create --help`.');
    const missing = await client(['events', 'show']);
    expect(missing.code).toBe(2);
    // One error, no help dumped.
    expect(missing.stderr.trim().split('\n')).toEqual(['error RELAY_E_USAGE: An argument is missing: relay-client events show <id>', 'See `relay-client events show --help`.']);
  });

  it('with --json, a failure is one JSON object on stderr with the exit code', async () => {
    const result = await client(['events', 'list', '--json', '--relay', 'ftp://x', '--token', 'mrt_x']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const failure = JSON.parse(result.stderr) as { error: { code: string; message: string; exitCode: number } };
    expect(failure.error).toMatchObject({ code: 'RELAY_E_CLIENT_CONFIG_INVALID', exitCode: 2 });
    const serverFailure = JSON.parse((await server(['channel', 'list', '--json', '--data-dir', join(dir.path, 'none')])).stderr) as { error: { code: string } };
    expect(serverFailure.error.code).toBe('RELAY_E_CONFIG_INVALID');
  });
});

describe('exit codes', () => {
  it('status: 1 unreachable, 2 without a token or with a refused one, 0 all well', async () => {
    const unreachable = await client(['status', '--relay', 'http://127.0.0.1:9', '--token', 'mrt_x']);
    expect(unreachable.code).toBe(1);
    const relay = await startRelayServer({ dataDir: join(dir.path, 'status'), args: ['--log-level', 'warn'] });
    const token = relay.banner?.adminToken ?? '';
    expect((await client(['status', '--relay', relay.url])).code).toBe(2);
    expect((await client(['status', '--relay', relay.url, '--token', 'mrt_not_a_real_token_0123456789'])).code).toBe(2);
    const ok = await client(['status', '--relay', relay.url, '--token', token, '--consumer', 'nobody']);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    await relay.stop();
  });
});

describe('admin commands', () => {
  it('init sets up an empty data dir so channels and tokens exist before the first start, and token update keeps the token', async () => {
    const data = join(dir.path, 'init');
    expect((await server(['channel', 'list', '--data-dir', data])).stderr).toContain('relay-server init --data-dir');
    const init = await server(['init', '--data-dir', data, '--json']);
    expect(init.code, init.stderr).toBe(0);
    expect(JSON.parse(init.stdout)).toMatchObject({ created: true, channel: 'myoperator' });
    expect((await server(['channel', 'add', 'sales', '--data-dir', data])).code).toBe(0);
    const created = JSON.parse((await server(['token', 'create', '--name', 'asha', '--channels', 'myoperator', '--data-dir', data, '--json'])).stdout) as { token: string };
    const updated = await server(['token', 'update', 'asha', '--channels', 'myoperator,sales', '--data-dir', data, '--json']);
    expect(JSON.parse(updated.stdout)).toEqual({ name: 'asha', role: 'developer', channels: ['myoperator', 'sales'] });
    const relay = await startRelayServer({ dataDir: data, args: ['--log-level', 'warn'] });
    // The first start created nothing more, and the token reads its new channel.
    expect(relay.banner).toBeUndefined();
    const res = await fetch(`${relay.url}/api/events?channel=sales`, { headers: { authorization: `Bearer ${created.token}` } });
    expect(res.status).toBe(200);
    await relay.stop();
  });

  it('takes a secret shorter than 16 characters only with --allow-short-secret, and warns', async () => {
    const data = join(dir.path, 'short');
    await server(['init', '--data-dir', data]);
    const refused = await server(['channel', 'add', 'legacy', '--secret', 'short-secret', '--data-dir', data]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--allow-short-secret');
    const taken = await server(['channel', 'add', 'legacy', '--secret', 'short-secret', '--allow-short-secret', '--data-dir', data]);
    expect(taken.code, taken.stderr).toBe(0);
    expect(taken.stderr).toMatch(/^warning: --secret of 12 characters accepted/m);
    const key = await server(['channel', 'add', 'crm', '--verify', 'apikey', '--api-key-header', 'x-key', '--api-key', 'k123', '--allow-short-secret', '--data-dir', data]);
    expect(key.code, key.stderr).toBe(0);
  });
});
