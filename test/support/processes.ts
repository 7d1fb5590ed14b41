import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/** The monorepo root. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The built relay-server CLI (`npx tsc -b` from the repo root produces it). */
export const SERVER_CLI = join(REPO_ROOT, 'relay-server', 'dist', 'cli.js');

/** The built relay-client CLI. */
export const CLIENT_CLI = join(REPO_ROOT, 'relay-client', 'dist', 'cli.js');

/** relay-server's Deno entry (embedded store on node:sqlite). */
export const SERVER_DENO_CLI = join(REPO_ROOT, 'relay-server', 'dist', 'cli-deno.js');

/** The Deno binary from the `deno` devDependency. */
export const DENO = join(REPO_ROOT, 'node_modules', 'deno', 'deno');

/**
 * Which runtime runs a CLI child: `node <script>`, `deno run <script>`, or `exec`, which runs
 * `script` itself as a command (an installed `relay-server` or `relay-client`, through its `#!`).
 */
export type Runtime = 'node' | 'deno' | 'exec';

/** How a child process ended. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A CLI child process with piped output. */
export type RelayChild = ChildProcessByStdio<null, Readable, Readable>;

/** Every child spawned here that may still run; {@link killAllChildren} ends them. */
const liveChildren = new Map<RelayChild, Promise<ExitStatus>>();

/**
 * The environment for a child: this process's, minus every `RELAY_*` variable (the CLI reads
 * those as options, so a stray one in the developer's shell would change what a test runs),
 * plus `extra`.
 */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('RELAY_')) env[key] = value;
  }
  return { ...env, ...extra };
}

/**
 * Spawns `node <script> …args` (or `deno run --allow-all <script> …args`, with relay-server's Deno
 * entry; or `<script> …args`), tracked so {@link killAllChildren} can end it.
 */
export function spawnCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  script: string = SERVER_CLI,
  runtime: Runtime = 'node',
): { child: RelayChild; exited: Promise<ExitStatus> } {
  const child =
    runtime === 'deno'
      ? spawn(DENO, ['run', '--allow-all', script === SERVER_CLI ? SERVER_DENO_CLI : script, ...args], { cwd, env: { ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] })
      : runtime === 'exec'
        ? spawn(script, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
        : spawn(process.execPath, [script, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<ExitStatus>((resolve, reject) => {
    child.once('exit', (code, signal) => {
      liveChildren.delete(child);
      resolve({ code, signal });
    });
    child.once('error', (error) => {
      liveChildren.delete(child);
      reject(error);
    });
  });
  liveChildren.set(child, exited);
  return { child, exited };
}

/** Resolves with `promise`, or rejects after `ms` with a message naming `what`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * SIGKILLs every child still running, except those in `keep` (a server shared by a describe
 * block), and waits for each to exit. For afterEach/afterAll.
 */
export async function killAllChildren(keep: ReadonlyArray<{ child: RelayChild } | undefined> = []): Promise<void> {
  const kept = new Set(keep.map((k) => k?.child));
  const pending = [...liveChildren.entries()].filter(([child]) => !kept.has(child));
  for (const [child] of pending) child.kill('SIGKILL');
  await Promise.allSettled(pending.map(([, exited]) => exited));
}

/** The outcome of a CLI run that ran to completion. */
export interface CliResult extends ExitStatus {
  stdout: string;
  stderr: string;
}

/** Options of {@link runCli}. */
export interface RunCliOptions {
  /** Extra environment variables (on top of {@link childEnv}). */
  env?: Record<string, string>;
  /** Working directory. Default: the repo root. */
  cwd?: string;
  /** The run is killed and the promise rejected after this long. Default 20 s. */
  timeoutMs?: number;
  /** Which CLI runs. Default relay-server's. */
  script?: string;
}

/** Runs `relay-server <args>` (or `options.script`) to completion and returns its exit status and output. */
export async function runCli(args: readonly string[], options: RunCliOptions = {}): Promise<CliResult> {
  const script = options.script ?? SERVER_CLI;
  const { child, exited } = spawnCli(args, childEnv(options.env), options.cwd ?? REPO_ROOT, script);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // 'close' comes after both pipes are drained, so the output is complete.
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  try {
    const status = await withTimeout(exited, options.timeoutMs ?? 20_000, `${script === SERVER_CLI ? 'relay-server' : 'relay-client'} ${args.join(' ')} to exit`);
    await closed;
    return { ...status, stdout, stderr };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

/** Runs a CLI command that prints JSON (`--json`) and must succeed; returns the parsed output. */
export async function runCliJson(args: readonly string[], options: RunCliOptions = {}): Promise<unknown> {
  const result = await runCli(args, options);
  if (result.code !== 0) {
    throw new Error(`relay-server ${args.join(' ')} exited ${String(result.code ?? result.signal)}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
  return JSON.parse(result.stdout) as unknown;
}

/** What a first start prints once: where webhooks go and the credentials. */
export interface FirstStartBanner {
  webhookUrl: string;
  verification: string;
  secret: string;
  adminToken: string;
  /** The whole `relay-client listen …` line. */
  listenCommand: string;
}

/** Reads the first-start banner out of `relay-server start` output; undefined when there is none. */
export function parseFirstStartBanner(stdout: string): FirstStartBanner | undefined {
  const field = (label: string): string | undefined => new RegExp(`^\\s*${label}\\s+(.+?)\\s*$`, 'm').exec(stdout)?.[1];
  const webhookUrl = field('Webhook URL');
  const verification = field('Verification');
  const secret = field('Signing secret');
  const adminToken = field('Admin token');
  const listenCommand = /^\s*(relay-client listen .+?)\s*$/m.exec(stdout)?.[1];
  if (!webhookUrl || !verification || !secret || !adminToken || !listenCommand) return undefined;
  return { webhookUrl, verification, secret, adminToken, listenCommand };
}

/** A `relay-server start` child that has logged its readiness line. */
export interface RelayServerProcess {
  child: RelayChild;
  /** The port it listens on (from the readiness line). */
  port: number;
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** The first-start banner, when this start created the store. */
  banner: FirstStartBanner | undefined;
  /** Resolves when the process exits. */
  exited: Promise<ExitStatus>;
  /** Sends SIGTERM and waits (bounded) for the exit. */
  stop(timeoutMs?: number): Promise<ExitStatus>;
  /** Sends SIGKILL and waits for the exit. */
  kill(): Promise<ExitStatus>;
}

/** Options of {@link startRelayServer}. */
export interface StartRelayOptions {
  /** `--data-dir`; leave out when the data dir comes from `env` or `--config` in `args`. */
  dataDir?: string;
  /** More arguments after `start`. `--port 0` and `--host 127.0.0.1` are added unless `defaults` is false. */
  args?: readonly string[];
  /** Add `--port 0 --host 127.0.0.1`. Default true. */
  defaults?: boolean;
  env?: Record<string, string>;
  /** Readiness must come within this long. Default 20 s. */
  readyTimeoutMs?: number;
  /** Default node. */
  runtime?: Runtime;
  /** What runs: default the repository's relay-server CLI; with runtime `exec`, an installed `relay-server`. */
  script?: string;
}

/**
 * Spawns `relay-server start` and resolves once it prints its `relay-server ready: … (port N, …)`
 * line, taking the port from it. Rejects (and kills the child) if it exits first or the line
 * does not come in time.
 */
export async function startRelayServer(options: StartRelayOptions): Promise<RelayServerProcess> {
  const args = ['start'];
  if (options.dataDir !== undefined) args.push('--data-dir', options.dataDir);
  if (options.defaults ?? true) args.push('--port', '0', '--host', '127.0.0.1');
  args.push(...(options.args ?? []));
  const { child, exited } = spawnCli(args, childEnv(options.env), REPO_ROOT, options.script ?? SERVER_CLI, options.runtime);

  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
  const ready = new Promise<number>((resolve, reject) => {
    lines.on('line', (text) => {
      stdout += `${text}\n`;
      const ready = /^relay-server ready: \S+ \(port (\d+),/.exec(text);
      if (ready?.[1] !== undefined) resolve(Number(ready[1]));
    });
    exited.then(
      (status) => reject(new Error(`relay-server start exited (${String(status.code ?? status.signal)}) before it was ready\nstdout: ${stdout}\nstderr: ${stderr}`)),
      reject,
    );
  });

  let port: number;
  try {
    port = await withTimeout(ready, options.readyTimeoutMs ?? 20_000, 'the "relay-server ready" line');
  } catch (error) {
    child.kill('SIGKILL');
    await exited.catch(() => undefined);
    throw error;
  }

  const stopWith = async (signal: NodeJS.Signals, timeoutMs: number): Promise<ExitStatus> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return withTimeout(exited, timeoutMs, `relay-server to exit after ${signal}`);
  };
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    stdout: () => stdout,
    stderr: () => stderr,
    banner: parseFirstStartBanner(stdout),
    exited,
    stop: (timeoutMs = 10_000) => stopWith('SIGTERM', timeoutMs),
    kill: () => stopWith('SIGKILL', 10_000),
  };
}

/** A fresh temporary directory, removed by the returned function. */
export function tempDir(prefix = 'relay-e2e-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Lowercase hex HMAC-SHA256 of the raw body, as MyOperator signs. */
export function sign(body: string | Uint8Array, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/** Lowercase hex SHA-256. */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
