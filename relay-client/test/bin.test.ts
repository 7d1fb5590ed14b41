/** The `relay-client` executable as a shell starts it: through its own `#!` line. */
import { execFile } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLIENT_VERSION } from '../src/version.js';

const BIN = fileURLToPath(new URL('../bin/relay-client.js', import.meta.url));
const run = promisify(execFile);

describe('bin/relay-client.js', () => {
  it('runs by itself', async () => {
    // The node running this test comes first on PATH, so `env` finds it.
    const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
    const { stdout } = await run(BIN, ['--version'], { env });
    expect(stdout.trim()).toBe(CLIENT_VERSION);
  });
});
