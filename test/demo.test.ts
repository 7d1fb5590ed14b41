/**
 * `npm run demo`, as a newcomer runs it: it must succeed on its own, say that all six events of
 * the sample call were verified, and leave nothing running or on disk; and it must fail, within
 * its deadline and saying why, when it cannot finish.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT, childEnv, withTimeout } from './support/processes.js';

interface DemoRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

const running: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

async function runDemo(command: string, args: readonly string[], env: Record<string, string> = {}, timeoutMs = 90_000): Promise<DemoRun> {
  const child = spawn(command, args, { cwd: REPO_ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const [code] = (await withTimeout(once(child, 'close'), timeoutMs, `${command} ${args.join(' ')} to finish`)) as [number | null];
  return { code, stdout, stderr };
}

/** Whether anything still accepts connections at `url`. */
async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(5_000) });
    return true;
  } catch {
    return false;
  }
}

describe('npm run demo', () => {
  it('delivers a sample call to the sample handler, which verifies all 6 signatures, then cleans up and exits 0', async () => {
    const run = await runDemo('npm', ['run', '--silent', 'demo']);
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain('All 6 events were delivered and their signatures verified');
    for (const type of ['call.initiated', 'call.dial_begin', 'call.answered', 'call.end', 'call.summary', 'call.disposition']) {
      expect(run.stdout).toMatch(new RegExp(`- ${type.replace('.', '\\.')}\\s+seq \\d+\\s+handler verified the signature \\(200\\), relay-client acked the delivery`));
    }
    // Nothing left behind: the throw-away store is gone and neither the relay nor the handler answers.
    const store = /throw-away store in (\S+?)\.?$/m.exec(run.stdout)?.[1];
    const relay = /relay-server started at (http:\/\/\S+?),/.exec(run.stdout)?.[1];
    const handler = /listens at (http:\/\/\S+?)\.?$/m.exec(run.stdout)?.[1];
    expect(store && relay && handler, run.stdout).toBeTruthy();
    expect(existsSync(store ?? '')).toBe(false);
    expect(await answers(`${relay ?? ''}/healthz`)).toBe(false);
    expect(await answers(handler ?? '')).toBe(false);
  });

  it('exits 1 saying why when it cannot finish before its deadline', async () => {
    const run = await runDemo(process.execPath, ['demo/run.js'], { DEMO_TIMEOUT_MS: '200' }, 30_000);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^demo failed: gave up after 0\.2 s /m);
  });
});
