/**
 * The packages as a user gets them: packed by `npm pack`, installed from those tarballs into a
 * fresh prefix by `npm ci --offline`, with nothing of the repository on the way.
 *
 * The fresh prefix gets a package-lock.json holding the tarballs and, for every dependency they
 * declare, the version this repository's package-lock.json pins (the one every other test ran
 * with), laid out as in the repository. So the install resolves nothing from the registry: npm
 * takes each dependency from the cache `npm ci` filled, and refuses to go on (`npm ci` checks the
 * lockfile against each tarball's package.json) if a tarball declares a dependency the
 * repository's lockfile does not satisfy.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, sign } from './processes.js';

const run = promisify(execFile);

/** The fields of a package.json (or a package's lockfile entry) that an install reads. */
export interface PackageManifest {
  name?: string;
  version?: string;
  license?: string;
  bin?: Record<string, string> | string;
  engines?: Record<string, string>;
  scripts?: Record<string, string>;
  gypfile?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/** A lockfile entry: a manifest plus where the package comes from. */
interface LockEntry extends PackageManifest {
  resolved?: string;
  integrity?: string;
  link?: boolean;
  dev?: boolean;
  devOptional?: boolean;
  optional?: boolean;
  peer?: boolean;
}

/** A package as `npm pack` made it. */
export interface PackedPackage {
  name: string;
  version: string;
  /** Absolute path of the .tgz. */
  tarball: string;
  /** The tarball's sha512, as npm records it in a lockfile. */
  integrity: string;
  /** Paths inside the package, e.g. `dist/cli.js`. */
  files: string[];
  /** The package.json inside the tarball. */
  manifest: PackageManifest;
}

/** The environment for an npm child: no RELAY_* options and none of the npm-run variables of the `npm test` that may be running this (`npm_config_*` settings stay). */
function npmEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('RELAY_') || key === 'INIT_CWD' || (key.startsWith('npm_') && !key.startsWith('npm_config_'))) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/**
 * `npm pack` of the packages in `dirs` (paths under the repository root) into `destination`;
 * runs each one's prepack build.
 */
export async function packPackages(dirs: readonly string[], destination: string): Promise<PackedPackage[]> {
  const args = ['pack', ...dirs.flatMap((dir) => ['--workspace', dir]), '--pack-destination', destination, '--json'];
  const { stdout } = await run('npm', args, { cwd: REPO_ROOT, env: npmEnv({}), maxBuffer: 16 << 20, timeout: 180_000 });
  const report = JSON.parse(stdout) as { name: string; version: string; filename: string; integrity: string; files: { path: string }[] }[];
  return Promise.all(
    report.map(async (entry) => {
      const tarball = join(destination, entry.filename);
      // npm pack writes the package under package/ in the tarball.
      const { stdout: manifest } = await run('tar', ['-xzOf', tarball, 'package/package.json'], { maxBuffer: 1 << 20 });
      return { name: entry.name, version: entry.version, tarball, integrity: entry.integrity, files: entry.files.map((f) => f.path), manifest: JSON.parse(manifest) as PackageManifest };
    }),
  );
}

/** The repository lockfile's `packages`: lockfile path (`node_modules/ws`, `relay-server/node_modules/x`) to entry. */
function repositoryLock(): Record<string, LockEntry> {
  return (JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }).packages;
}

/** Where Node finds `name` from the package at lockfile path `from`: its own node_modules, then each one above. */
function resolveInLock(lock: Record<string, LockEntry>, from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`;
    if (lock[candidate] !== undefined) return candidate;
    if (base === '') return undefined;
    const parent = base.lastIndexOf('/node_modules/');
    base = parent < 0 ? '' : base.slice(0, parent);
  }
}

/**
 * The package-lock.json of a project depending on `packed` (as `file:` tarballs), with their
 * dependencies at the versions and places the repository's lockfile has. A package's own
 * node_modules in the repository (`relay-server/node_modules/x`) becomes the installed package's
 * (`node_modules/@myop-relay/server/node_modules/x`), so every require finds what it finds in the
 * repository.
 */
export function lockfileFor(packed: readonly PackedPackage[]): { lockfileVersion: 3; requires: true; packages: Record<string, LockEntry> } {
  const lock = repositoryLock();
  const workspaceDir = new Map<string, string>();
  for (const [path, entry] of Object.entries(lock)) {
    if (path !== '' && !path.startsWith('node_modules/') && entry.name !== undefined) workspaceDir.set(entry.name, path);
  }
  const ours = new Set(packed.map((p) => p.name));
  const installedPath = (repoPath: string): string => {
    for (const [name, dir] of workspaceDir) if (repoPath.startsWith(`${dir}/`)) return `node_modules/${name}/${repoPath.slice(dir.length + 1)}`;
    return repoPath;
  };

  const dependencies: Record<string, string> = {};
  const packages: Record<string, LockEntry> = {};
  const queue: { from: string; manifest: PackageManifest }[] = [];
  for (const p of packed) {
    const dir = workspaceDir.get(p.name);
    if (dir === undefined) throw new Error(`${p.name} is not a package of this repository`);
    dependencies[p.name] = `file:${p.tarball}`;
    const { license, dependencies: deps, optionalDependencies, peerDependencies, peerDependenciesMeta, bin, engines } = p.manifest;
    packages[`node_modules/${p.name}`] = { version: p.version, resolved: `file:${p.tarball}`, integrity: p.integrity, license, dependencies: deps, optionalDependencies, peerDependencies, peerDependenciesMeta, bin, engines };
    queue.push({ from: dir, manifest: p.manifest });
  }
  const placed = new Set<string>();
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const { dependencies: required = {}, optionalDependencies: optional = {}, peerDependencies: peers = {}, peerDependenciesMeta: peerMeta = {} } = next.manifest;
    // npm installs the peers a package needs, and leaves out the optional ones.
    const neededPeers = Object.keys(peers).filter((name) => peerMeta[name]?.optional !== true);
    for (const name of [...new Set([...Object.keys(required), ...Object.keys(optional), ...neededPeers])]) {
      if (ours.has(name)) continue;
      const at = resolveInLock(lock, next.from, name);
      if (at === undefined) {
        // An optional dependency for another platform is left out of the repository's install too.
        if (name in optional) continue;
        throw new Error(`${name}, a dependency of ${next.from}, is not in package-lock.json: run npm install`);
      }
      if (placed.has(at)) continue;
      placed.add(at);
      const { dev: _dev, devOptional: _devOptional, optional: _optional, peer: _peer, ...entry } = lock[at] as LockEntry;
      packages[installedPath(at)] = entry;
      queue.push({ from: at, manifest: entry });
    }
  }
  return { lockfileVersion: 3, requires: true, packages: { '': { dependencies }, ...packages } };
}

/** Options of {@link installPacked}. */
export interface InstallOptions {
  /** Packages whose install scripts may run (the project's `allowScripts`). Default none. */
  allowScripts?: readonly string[];
  /** Fail the install if any dependency has an install script not in `allowScripts`. */
  strictAllowScripts?: boolean;
  /** The install is killed after this long. Default 60 s. */
  timeoutMs?: number;
}

/**
 * Writes a project depending on `packed` into the empty directory `prefix` (package.json and
 * {@link lockfileFor}'s lockfile) and runs `npm ci --offline` in it. The commands land in
 * `prefix/node_modules/.bin`. Native dependencies build from source: prebuild-install is told
 * not to download (no network beyond loopback in tests).
 */
export async function installPacked(prefix: string, packed: readonly PackedPackage[], options: InstallOptions = {}): Promise<{ stdout: string; stderr: string }> {
  const lockfile = lockfileFor(packed);
  const allowScripts = Object.fromEntries((options.allowScripts ?? []).map((name) => [name, true]));
  writeFileSync(join(prefix, 'package.json'), `${JSON.stringify({ private: true, dependencies: lockfile.packages['']?.dependencies, allowScripts }, null, 2)}\n`);
  writeFileSync(join(prefix, 'package-lock.json'), `${JSON.stringify(lockfile, null, 2)}\n`);
  const args = ['ci', '--offline', '--no-audit', '--no-fund', '--prefix', prefix];
  if (options.strictAllowScripts === true) args.push('--strict-allow-scripts');
  try {
    return await run('npm', args, { cwd: prefix, env: npmEnv({ npm_config_build_from_source: 'true' }), maxBuffer: 64 << 20, timeout: options.timeoutMs ?? 60_000 });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    // npm ci fills the cache with what an offline install reads; npm install alone leaves some of it out.
    const hint = stderr?.includes('ENOTCACHED') === true ? '\nThe npm cache lacks a dependency: run npm ci in the repository first.' : '';
    throw new Error(`npm ${args.join(' ')} failed: ${String(error)}${hint}\nstdout: ${stdout ?? ''}\nstderr: ${stderr ?? ''}`);
  }
}

/** Every installed package under `nodeModules`, as its lockfile-style path and manifest, scoped and nested ones included. */
export function installedPackages(nodeModules: string): { path: string; dir: string; manifest: PackageManifest }[] {
  const found: { path: string; dir: string; manifest: PackageManifest }[] = [];
  const visit = (dir: string, path: string): void => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      if (entry.name.startsWith('@')) {
        visit(join(dir, entry.name), `${path}${entry.name}/`);
        continue;
      }
      const packageDir = join(dir, entry.name);
      const manifestFile = join(packageDir, 'package.json');
      if (!existsSync(manifestFile)) continue;
      found.push({ path: `${path}${entry.name}`, dir: packageDir, manifest: JSON.parse(readFileSync(manifestFile, 'utf8')) as PackageManifest });
      visit(join(packageDir, 'node_modules'), '');
    }
  };
  visit(nodeModules, '');
  return found;
}

/** Whether the directory tree at `dir` holds a compiled addon (`*.node`) or a node-gyp build file. */
function hasNativeFiles(dir: string): boolean {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      // A nested node_modules holds other packages, checked on their own.
      if (entry.name !== 'node_modules' && hasNativeFiles(join(dir, entry.name))) return true;
    } else if (entry.name.endsWith('.node') || entry.name === 'binding.gyp') {
      return true;
    }
  }
  return false;
}

/**
 * The installed packages under `nodeModules` that are native or run code at install time: an
 * install script, a `gypfile`, a binding.gyp or a compiled `.node` addon. Names, sorted.
 */
export function nativeOrScripted(nodeModules: string): string[] {
  const names = installedPackages(nodeModules)
    .filter(({ dir, manifest }) => {
      const scripts = manifest.scripts ?? {};
      return manifest.gypfile === true || 'preinstall' in scripts || 'install' in scripts || 'postinstall' in scripts || hasNativeFiles(dir);
    })
    .map(({ manifest, path }) => manifest.name ?? path);
  return [...new Set(names)].sort();
}

/** PATH with the commands installed in `prefix` first, then the node running the tests (for their `#!/usr/bin/env node`). */
export function pathWithInstalled(prefix: string): string {
  return [join(prefix, 'node_modules', '.bin'), dirname(process.execPath), process.env['PATH'] ?? ''].join(':');
}

/** A webhook body with bytes a re-serializing relay would change. */
export function webhookBody(id: string): string {
  return `{"event_id":"${id}", "event_type":"call.answered","payload":{"note":"caf\\u00e9 \\/ नमस्ते","n":1.50}}`;
}

/** POSTs `body` to the relay's `myoperator` channel, signed with `secret` as MyOperator signs; the status and the parsed answer. */
export async function postSignedWebhook(relayUrl: string, secret: string, body: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${relayUrl}/hooks/myoperator`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-MyOperator-Signature': sign(body, secret) },
    body,
  });
  return { status: res.status, json: await res.json() };
}
