/**
 * The `relay-client` executable as a shell starts it: through its own `#!` line, which carries
 * the node flags of the process's heap tuning (see src/heap.ts).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { CLIENT_VERSION } from '../src/version.js';

const BIN = fileURLToPath(new URL('../bin/relay-client.js', import.meta.url));
const run = promisify(execFile);

let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('bin/relay-client.js', () => {
  it('runs by itself and starts node with a capped young generation', async () => {
    dir = mkdtempSync(join(tmpdir(), 'relay-client-bin-'));
    // Loaded by that node before the CLI: reports the flags the #! line gave it.
    const probe = join(dir, 'probe.mjs');
    writeFileSync(probe, 'process.stderr.write(`execArgv ${JSON.stringify(process.execArgv)}\\n`);\n');
    // The node running this test comes first on PATH, so `env` finds it.
    const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, NODE_OPTIONS: `--import=${probe}` };
    const { stdout, stderr } = await run(BIN, ['--version'], { env });
    expect(stdout.trim()).toBe(CLIENT_VERSION);
    expect(stderr).toContain('execArgv ["--max-semi-space-size=2"]');
  });
});
