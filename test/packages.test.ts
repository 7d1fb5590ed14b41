/**
 * The packages as npm publishes them: every one publishable, all at one version, each depending
 * on the others at exactly that version. (test/install.test.ts packs and installs them.)
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { CLIENT_VERSION } from '../relay-client/src/version.js';
import { SERVER_VERSION } from '../relay-server/src/version.js';
import { lockstepProblems, workspacePackages } from '../scripts/versions.js';
import { REPO_ROOT, tempDir } from './support/processes.js';

const run = promisify(execFile);

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  license?: string;
  files?: string[];
  bin?: Record<string, string>;
  scripts?: Record<string, string>;
  publishConfig?: { access?: string };
  dependencies?: Record<string, string>;
}

function manifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(REPO_ROOT, dir, 'package.json'), 'utf8')) as Manifest;
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** A copy of the files versions.js reads and writes, to change without touching the repository. */
function copyOfVersionFiles(): string {
  const dir = tempDir('relay-versions-');
  cleanups.push(dir.remove);
  for (const file of ['package.json', 'package-lock.json']) cpSync(join(REPO_ROOT, file), join(dir.path, file));
  for (const { dir: pkg } of workspacePackages(REPO_ROOT)) {
    mkdirSync(join(dir.path, pkg), { recursive: true });
    for (const file of ['package.json', 'deno.json']) cpSync(join(REPO_ROOT, pkg, file), join(dir.path, pkg, file));
  }
  return dir.path;
}

describe('packages', () => {
  const packages = workspacePackages(REPO_ROOT);

  it('are the four of the layout', () => {
    expect(packages.map((p) => p.name).sort()).toEqual(['@myop-relay/cli-support', '@myop-relay/client', '@myop-relay/protocol', '@myop-relay/server']);
  });

  it('can each be published: public, licensed, shipping dist/ built on pack', () => {
    expect(manifest('.').private).toBe(true);
    for (const { dir } of packages) {
      const pkg = manifest(dir);
      expect(pkg.private, dir).toBeUndefined();
      expect(pkg.license, dir).toBe('MIT');
      expect(pkg.publishConfig?.access, dir).toBe('public');
      expect(pkg.files, dir).toContain('dist');
      expect(pkg.scripts?.['prepack'], dir).toBe('tsc -b');
      for (const target of Object.values(pkg.bin ?? {})) {
        expect(pkg.files, dir).toContain('bin');
        // The form npm publishes: it rewrites `./bin/x.js` to `bin/x.js`, with a warning.
        expect(target, dir).toMatch(/^bin\/[\w-]+\.js$/);
      }
    }
  });

  it('pin every dependency to one exact version', () => {
    for (const { dir } of packages) {
      for (const [name, spec] of Object.entries(manifest(dir).dependencies ?? {})) expect(spec, `${dir}: ${name}`).toMatch(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/);
    }
  });

  it('move in lockstep: one version everywhere, and the CLIs report it', () => {
    expect(lockstepProblems(REPO_ROOT)).toEqual([]);
    const version = manifest('relay-client').version;
    expect(CLIENT_VERSION).toBe(version);
    expect(SERVER_VERSION).toBe(version);
  });

  it('name what is out of step', () => {
    const root = copyOfVersionFiles();
    const client = join(root, 'relay-client', 'package.json');
    const pkg = JSON.parse(readFileSync(client, 'utf8')) as Manifest;
    pkg.dependencies = { ...pkg.dependencies, '@myop-relay/protocol': '^0.1.0' };
    writeFileSync(client, JSON.stringify(pkg));
    expect(lockstepProblems(root)).toEqual([`relay-client/package.json: dependencies @myop-relay/protocol is "^0.1.0", not exactly ${pkg.version}`]);
  });

  it('npm run version:set moves every version and internal dependency at once', async () => {
    const root = copyOfVersionFiles();
    const { stdout } = await run(process.execPath, [join(REPO_ROOT, 'scripts', 'set-version.js'), '9.8.7-rc.1'], { cwd: root });
    expect(stdout).toContain('package-lock.json: 9.8.7-rc.1');
    expect(lockstepProblems(root)).toEqual([]);
    const client = JSON.parse(readFileSync(join(root, 'relay-client', 'package.json'), 'utf8')) as Manifest;
    expect(client.version).toBe('9.8.7-rc.1');
    expect(client.dependencies?.['@myop-relay/protocol']).toBe('9.8.7-rc.1');
    expect(client.dependencies?.['ws']).toBe(manifest('relay-client').dependencies?.['ws']);
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, Manifest> };
    expect(lock.packages['relay-server']?.dependencies?.['@myop-relay/cli-support']).toBe('9.8.7-rc.1');
    expect((JSON.parse(readFileSync(join(root, 'packages', 'protocol', 'deno.json'), 'utf8')) as Manifest).version).toBe('9.8.7-rc.1');
  });

  it('npm run version:set refuses what is not a version, changing nothing', async () => {
    const root = copyOfVersionFiles();
    const before = readFileSync(join(root, 'relay-client', 'package.json'), 'utf8');
    const failed = await run(process.execPath, [join(REPO_ROOT, 'scripts', 'set-version.js'), 'v1'], { cwd: root }).catch((error: { code: number; stderr: string }) => error);
    expect(failed).toMatchObject({ code: 2, stderr: expect.stringContaining('Usage: npm run version:set') as unknown });
    expect(readFileSync(join(root, 'relay-client', 'package.json'), 'utf8')).toBe(before);
  });
});
