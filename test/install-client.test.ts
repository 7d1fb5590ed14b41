/**
 * The packages as npm delivers them, and relay-client as a laptop gets it: packed, installed
 * from the tarballs into a fresh prefix offline (test/support/install.ts), and run as the
 * installed command against a relay-server started from the repository.
 * (relay-server's install: test/install-server.test.ts.)
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LocalHandler, consumerConnected, startClient } from './support/client.js';
import { installPacked, installedPackages, nativeOrScripted, packPackages, pathWithInstalled, postSignedWebhook, webhookBody, type PackedPackage } from './support/install.js';
import { childEnv, killAllChildren, sign, startRelayServer, tempDir } from './support/processes.js';

const run = promisify(execFile);

const scratch = tempDir('relay-install-client-');
let packed: Map<string, PackedPackage>;

beforeAll(async () => {
  mkdirSync(join(scratch.path, 'tarballs'));
  const all = await packPackages(['packages/protocol', 'packages/cli-support', 'relay-client', 'relay-server'], join(scratch.path, 'tarballs'));
  packed = new Map(all.map((p) => [p.name, p]));
}, 180_000);
afterAll(() => scratch.remove());

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  await killAllChildren();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('npm pack', () => {
  it('ships the built dist/ and bin/ of every package, and neither sources nor tests', () => {
    expect([...packed.keys()].sort()).toEqual(['@myop-relay/cli-support', '@myop-relay/client', '@myop-relay/protocol', '@myop-relay/server']);
    for (const p of packed.values()) {
      expect(p.files, p.name).toContain('package.json');
      expect(p.files, p.name).toContain('dist/index.js');
      expect(p.files, p.name).toContain('dist/index.d.ts');
      expect(p.files.filter((f) => f !== 'package.json' && f !== 'README.md' && !f.startsWith('dist/') && !f.startsWith('bin/')), p.name).toEqual([]);
      expect(p.files, p.name).toContain('README.md');
      expect(p.files.filter((f) => f.endsWith('.map') || (f.endsWith('.ts') && !f.endsWith('.d.ts'))), p.name).toEqual([]);
      for (const target of Object.values(p.manifest.bin ?? {})) expect(p.files, `${p.name} bin`).toContain(target.replace(/^\.\//, ''));
    }
    expect(packed.get('@myop-relay/client')?.files).toContain('dist/cli.js');
    expect(packed.get('@myop-relay/server')?.files).toContain('dist/cli.js');
  });
});

describe('relay-client installed from its tarballs', () => {
  const prefix = join(scratch.path, 'prefix');
  const bin = join(prefix, 'node_modules', '.bin', 'relay-client');
  const env = (): NodeJS.ProcessEnv => childEnv({ PATH: pathWithInstalled(prefix) });

  beforeAll(async () => {
    mkdirSync(prefix);
    const names = ['@myop-relay/protocol', '@myop-relay/cli-support', '@myop-relay/client'];
    // With nothing allowed, --strict-allow-scripts fails the install if any dependency has an install script.
    await installPacked(prefix, names.map((name) => packed.get(name) as PackedPackage), { strictAllowScripts: true, timeoutMs: 120_000 });
  }, 150_000);

  it('has no native module and runs nothing at install time', async () => {
    const names = installedPackages(join(prefix, 'node_modules')).map((p) => p.manifest.name);
    expect(names).toEqual(expect.arrayContaining(['@myop-relay/client', '@myop-relay/protocol', '@myop-relay/cli-support', 'ws', 'yargs']));
    expect(names).not.toContain('better-sqlite3');
    expect(nativeOrScripted(join(prefix, 'node_modules'))).toEqual([]);
    // npm finds the installed tree complete and valid (it exits non-zero otherwise).
    await run('npm', ['ls', '--all', '--prefix', prefix], { env: childEnv() });
  });

  it('prints its version', async () => {
    const { stdout } = await run(bin, ['--version'], { env: env() });
    expect(stdout.trim()).toBe(packed.get('@myop-relay/client')?.version);
  });

  it('completes commands in bash through the installed relay-client', async () => {
    // The script `relay-client completion` prints asks `relay-client` on PATH for the words.
    const script = 'source <(relay-client completion); COMP_WORDS=(relay-client lis); COMP_CWORD=1; _relay-client_yargs_completions; printf "%s\\n" "${COMPREPLY[@]}"';
    const { stdout } = await run('bash', ['-c', script], { env: env() });
    expect(stdout.trim().split('\n')).toEqual(['listen']);
  });

  it('listen replays a webhook, byte for byte, to the local handler and acks it', async () => {
    const data = tempDir('relay-install-data-');
    cleanups.push(data.remove);
    const server = await startRelayServer({ dataDir: data.path, args: ['--log-level', 'warn'] });
    if (!server.banner) throw new Error('first start printed no banner');
    const { secret, adminToken } = server.banner;
    const handler = new LocalHandler();
    await handler.start();
    cleanups.push(() => handler.stop());

    const args = ['listen', '--relay', server.url, '--token', adminToken, '--channel', 'myoperator', '--consumer', 'installed', '--forward-to', handler.url, '--json'];
    const client = startClient(args, { PATH: pathWithInstalled(prefix), XDG_CONFIG_HOME: data.path }, 'exec', bin);
    await consumerConnected(server.url, adminToken, 'myoperator', 'installed');
    const body = webhookBody('evt_installed_client');
    expect((await postSignedWebhook(server.url, secret, body)).status).toBe(200);

    await handler.until((requests) => requests.length >= 1, 'the webhook at the handler');
    const [request] = handler.requests;
    if (!request) throw new Error('no request');
    expect(request.body.toString()).toBe(body);
    expect(LocalHandler.header(request, 'X-MyOperator-Signature')).toBe(sign(body, secret));
    await expect
      .poll(async () => {
        const res = await fetch(`${server.url}/api/events/myoperator/evt_installed_client/deliveries`, { headers: { authorization: `Bearer ${adminToken}` } });
        return ((await res.json()) as { attempts: { consumer: string; outcome: string | null }[] }).attempts.map((a) => [a.consumer, a.outcome]);
      })
      .toEqual([['installed', 'acked']]);
    // stop() sends SIGTERM: 130, interrupted (docs/errors.md, exit codes).
    expect((await client.stop()).code).toBe(130);
  });
});
