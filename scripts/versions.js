// @ts-check
/**
 * The packages of this repository are released together: one version for all of them, and each
 * depends on the others at exactly that version, so an installed relay-client always runs with
 * the protocol it was tested with. This module checks that rule and moves every version at once.
 *
 * Files involved, under the repository root: package.json (its `workspaces` list the packages),
 * each package's package.json and deno.json, and package-lock.json (which records each package's
 * version and dependencies too, and `npm ci` refuses a lockfile out of step with them).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The dependency lists of a package.json in which a package of this repository may appear. */
const DEPENDENCY_FIELDS = /** @type {const} */ (['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies']);

/** What `npm version` accepts as a version: major.minor.patch, optionally -prerelease and +build. */
const VERSION = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

/**
 * Whether `text` is a version `npm version` accepts: major.minor.patch, optionally with
 * -prerelease and +build.
 *
 * @param {string} text
 */
export function isVersion(text) {
  return VERSION.test(text);
}

/** @typedef {{ name?: string, version?: string, private?: boolean, workspaces?: string[] } & Partial<Record<typeof DEPENDENCY_FIELDS[number], Record<string, string>>>} Manifest */

/** @param {string} path @returns {any} */
function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** @param {string} path @param {unknown} value */
function writeJson(path, value) {
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * The packages of the repository at `root`: folder (relative to root) and package name.
 *
 * @param {string} root
 * @returns {{ dir: string, name: string }[]}
 */
export function workspacePackages(root) {
  /** @type {Manifest} */
  const manifest = readJson(join(root, 'package.json'));
  return (manifest.workspaces ?? []).map((dir) => {
    /** @type {Manifest} */
    const pkg = readJson(join(root, dir, 'package.json'));
    if (pkg.name === undefined) throw new Error(`${dir}/package.json has no name`);
    return { dir, name: pkg.name };
  });
}

/**
 * Every way the repository at `root` breaks the one-version rule, one sentence each; empty when
 * it keeps it. The version every package must have is the first package's.
 *
 * @param {string} root
 * @returns {string[]}
 */
export function lockstepProblems(root) {
  const packages = workspacePackages(root);
  const names = new Set(packages.map((p) => p.name));
  const first = packages[0];
  if (first === undefined) return ['package.json lists no workspaces'];
  /** @type {Manifest} */
  const firstManifest = readJson(join(root, first.dir, 'package.json'));
  const expected = firstManifest.version;
  /** @type {string[]} */
  const problems = [];

  /**
   * @param {string} file
   * @param {Manifest} entry - a package.json, or a package's entry in package-lock.json.
   */
  const check = (file, entry) => {
    if (entry.version !== expected) problems.push(`${file}: version ${entry.version}, but ${first.dir} has ${expected}`);
    for (const field of DEPENDENCY_FIELDS) {
      for (const [name, spec] of Object.entries(entry[field] ?? {})) {
        if (names.has(name) && spec !== expected) problems.push(`${file}: ${field} ${name} is "${spec}", not exactly ${expected}`);
      }
    }
  };

  const lock = readJson(join(root, 'package-lock.json'));
  for (const { dir, name } of packages) {
    check(`${dir}/package.json`, readJson(join(root, dir, 'package.json')));
    const denoFile = join(root, dir, 'deno.json');
    if (existsSync(denoFile)) {
      const deno = readJson(denoFile);
      if (deno.name !== name) problems.push(`${dir}/deno.json: name ${deno.name}, but package.json has ${name}`);
      if (deno.version !== expected) problems.push(`${dir}/deno.json: version ${deno.version}, but ${first.dir} has ${expected}`);
    }
    const locked = lock.packages?.[dir];
    if (locked === undefined) problems.push(`package-lock.json has no entry for ${dir}; run npm install`);
    else check(`package-lock.json (${dir})`, locked);
  }
  return problems;
}

/**
 * Sets every package of the repository at `root` to `version` and every dependency of one on
 * another to exactly that version, in package.json, deno.json and package-lock.json.
 *
 * @param {string} root
 * @param {string} version
 * @returns {string[]} the files written, relative to `root`.
 */
export function setVersion(root, version) {
  if (!isVersion(version)) throw new Error(`"${version}" is not a version like 1.2.3 or 1.2.3-rc.1`);
  const packages = workspacePackages(root);
  const names = new Set(packages.map((p) => p.name));
  /** @param {Manifest} entry */
  const update = (entry) => {
    entry.version = version;
    for (const field of DEPENDENCY_FIELDS) {
      const deps = entry[field];
      if (deps === undefined) continue;
      for (const name of Object.keys(deps)) if (names.has(name)) deps[name] = version;
    }
  };

  /** @type {string[]} */
  const written = [];
  const lockFile = join(root, 'package-lock.json');
  const lock = readJson(lockFile);
  for (const { dir } of packages) {
    const manifestFile = join(dir, 'package.json');
    const manifest = readJson(join(root, manifestFile));
    update(manifest);
    writeJson(join(root, manifestFile), manifest);
    written.push(manifestFile);
    const denoFile = join(dir, 'deno.json');
    if (existsSync(join(root, denoFile))) {
      const deno = readJson(join(root, denoFile));
      deno.version = version;
      writeJson(join(root, denoFile), deno);
      written.push(denoFile);
    }
    const locked = lock.packages?.[dir];
    if (locked === undefined) throw new Error(`package-lock.json has no entry for ${dir}; run npm install first`);
    update(locked);
  }
  writeJson(lockFile, lock);
  written.push('package-lock.json');
  return written;
}
