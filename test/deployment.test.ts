import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, copyFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT, killAllChildren, startRelayServer, tempDir } from './support/processes.js';

const UNITS_DIR = join(REPO_ROOT, 'deploy', 'systemd');
const UNIT_FILES = readdirSync(UNITS_DIR).filter((name) => /\.(service|timer)$/.test(name));
const DEPLOYMENT_DOC = readFileSync(join(REPO_ROOT, 'docs', 'deployment.md'), 'utf8');

/** Every fenced block of the guide, without its fences. */
const fencedBlocks = [...DEPLOYMENT_DOC.matchAll(/^```[a-z]*\n([\s\S]*?)^```$/gm)].map((m) => m[1]);

function systemdAnalyze(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  await killAllChildren();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('deploy/systemd', () => {
  it('ships the units the guide shows, word for word', () => {
    expect(UNIT_FILES.sort()).toEqual(['myop-relay-backup.service', 'myop-relay-backup.timer', 'myop-relay.service']);
    for (const name of [...UNIT_FILES, 'relay.json']) expect(fencedBlocks, name).toContain(readFileSync(join(UNITS_DIR, name), 'utf8'));
  });

  const analyze = systemdAnalyze();
  it.runIf(analyze !== undefined)(`passes systemd-analyze verify${analyze === undefined ? ' (skipped: systemd-analyze is not installed here)' : ''}`, () => {
    const dir = tempDir('relay-units-');
    cleanups.push(dir.remove);
    let node = '/usr/bin/node';
    try {
      accessSync(node, constants.X_OK);
    } catch {
      // verify checks that ExecStart's program exists; where node lives elsewhere, use this one.
      node = process.execPath;
    }
    for (const name of UNIT_FILES) writeFileSync(join(dir.path, name), readFileSync(join(UNITS_DIR, name), 'utf8').replaceAll('/usr/bin/node', node));
    const result = spawnSync(analyze ?? 'systemd-analyze', ['verify', ...UNIT_FILES.map((name) => join(dir.path, name))], { encoding: 'utf8', timeout: 30_000 });
    // Settings systemd cannot parse are warnings it ignores; the units must have none.
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
  });

  it('starts relay-server with the sample relay.json', async () => {
    const dir = tempDir('relay-config-');
    cleanups.push(dir.remove);
    const config = join(dir.path, 'relay.json');
    copyFileSync(join(UNITS_DIR, 'relay.json'), config);
    // Its own data dir and free ports instead of the sample's, everything else as shipped.
    const server = await startRelayServer({ args: ['--config', config, '--data-dir', join(dir.path, 'data'), '--port', '0', '--metrics-listen', '127.0.0.1:0', '--log-level', 'warn'], defaults: false });
    expect(server.banner?.webhookUrl).toBe('https://relay.example.com/hooks/myoperator');
    expect(server.stdout()).toMatch(/^relay-server metrics: http:\/\/127\.0\.0\.1:\d+\/metrics$/m);
    await server.stop();
  });
});
