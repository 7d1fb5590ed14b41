#!/usr/bin/env node
// @ts-check
/**
 * `npm run version:set -- <version>`: moves every package of this repository to <version>, with
 * their dependencies on each other, in package.json, deno.json and package-lock.json (see
 * versions.js). Run from the repository root (npm run does that). Exit 0 done, 2 bad argument,
 * 1 the files could not be read or written or are still out of step.
 */
import { isVersion, lockstepProblems, setVersion } from './versions.js';

const [version, ...rest] = process.argv.slice(2);
if (version === undefined || rest.length > 0 || !isVersion(version)) {
  process.stderr.write('Usage: npm run version:set -- <version>   (major.minor.patch, e.g. 0.2.0 or 0.2.0-rc.1)\n');
  process.exitCode = 2;
} else {
  try {
    for (const file of setVersion(process.cwd(), version)) process.stdout.write(`${file}: ${version}\n`);
    const problems = lockstepProblems(process.cwd());
    for (const problem of problems) process.stderr.write(`${problem}\n`);
    if (problems.length > 0) process.exitCode = 1;
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
