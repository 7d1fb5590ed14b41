// relay-server and relay-client as real child processes, and what /proc says about them.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { wordsFromEnv } from './settings.js';

const SERVER_CLI = fileURLToPath(new URL('../relay-server/dist/cli.js', import.meta.url));
export const CLIENT_BIN = fileURLToPath(new URL('../relay-client/bin/relay-client.js', import.meta.url));

/** Time a child gets to stop after SIGTERM before it is killed. */
const STOP_GRACE_MS = 5_000;
/** Lines of a child's output kept to explain a failure. */
const TAIL_LINES = 20;
/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks. */
const CLOCK_TICKS_PER_SECOND = 100;

/** Children still running, so an interrupted run can kill them all. */
const running = new Set();

/**
 * @typedef {object} ChildHandle
 * @property {number} pid
 * @property {() => string} output   the child's last lines of stdout and stderr
 * @property {() => Promise<void>} stop  SIGTERM, then SIGKILL after a grace period; resolves once it has exited
 */

/**
 * Extra flags for every child `node`, from BENCH_NODE_FLAGS, e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/profiles` to profile relay-server and relay-client.
 */
const CHILD_NODE_FLAGS = wordsFromEnv('BENCH_NODE_FLAGS');

/**
 * Starts `node <script> ...args` with its output read line by line (and so never blocking it).
 *
 * @param {string} script
 * @param {string[]} args
 * @param {NodeJS.ProcessEnv} env
 * @param {(line: string) => void} [onLine]
 */
function startNode(script, args, env, onLine) {
  const child = spawn(process.execPath, [...CHILD_NODE_FLAGS, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  running.add(child);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  void exited.then(() => running.delete(child));
  /** @type {string[]} */
  const tail = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      onLine?.(line);
    });
  }
  /** @type {ChildHandle} */
  const handle = {
    pid: /** @type {number} */ (child.pid),
    output: () => tail.join('\n'),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
  return { child, exited, handle };
}

/** Kills every child still running, at once: for an interrupted run. */
export function killChildren() {
  for (const child of running) child.kill('SIGKILL');
}

const READY = /relay-server ready: .*\(port (\d+),/;

/**
 * Starts `relay-server start` on 127.0.0.1 with a port picked by the system, rate limits off,
 * log level warn and retention that keeps every event, and resolves once it prints its ready line.
 *
 * @param {string[]} storeArgs  `--data-dir <dir>` or `--database-url <url>`
 * @param {number} timeoutMs    how long it may take to get ready
 * @returns {Promise<ChildHandle & { url: string }>}
 */
export async function startRelayServer(storeArgs, timeoutMs) {
  const args = ['start', '--host', '127.0.0.1', '--port', '0', ...storeArgs, '--rate-limit-channel', '0', '--rate-limit-ip', '0'];
  args.push('--log-level', 'warn', '--retention-max-events', '1000000000', '--shutdown-timeout', '2s');
  /** @type {(port: number) => void} */
  let onReady = () => {};
  const ready = new Promise((resolve) => {
    onReady = resolve;
  });
  const { exited, handle } = startNode(SERVER_CLI, args, process.env, (line) => {
    const match = READY.exec(line);
    if (match) onReady(Number(match[1]));
  });
  let timer;
  const port = await Promise.race([
    ready,
    exited.then((code) => Promise.reject(new Error(`bench: relay-server exited (code ${code}) before it was ready:\n${handle.output()}`))),
    new Promise((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`bench: relay-server not ready within ${timeoutMs} ms:\n${handle.output()}`)), timeoutMs);
    }),
  ]).catch(async (error) => {
    await handle.stop();
    throw error;
  });
  clearTimeout(timer);
  return { ...handle, url: `http://127.0.0.1:${port}` };
}

/**
 * @typedef {object} ClientOptions
 * @property {string} relay      relay-server base URL
 * @property {string} token      relay token
 * @property {string} consumer   durable consumer name
 * @property {string} forwardTo  local handler URL
 * @property {number} window     events forwarded at once
 * @property {string} home       HOME for the client, so no ~/.config/myop-relay/client.json of the user's applies
 */

/**
 * Starts `relay-client listen --quiet` through its executable, `relay-client/bin/relay-client.js`.
 *
 * @param {ClientOptions} options
 * @returns {ChildHandle}
 */
export function startRelayClient(options) {
  const args = ['listen', '--relay', options.relay, '--token', options.token, '--consumer', options.consumer];
  args.push('--forward-to', options.forwardTo, '--window', String(options.window), '--quiet');
  /** @type {NodeJS.ProcessEnv} */
  const env = { ...process.env, HOME: options.home };
  for (const name of Object.keys(env)) if (name.startsWith('RELAY_')) delete env[name];
  return startNode(CLIENT_BIN, args, env).handle;
}

/**
 * Starts a bare `node` that only waits, for the RSS floor, and resolves once it runs user code.
 *
 * @returns {Promise<ChildHandle>}
 */
export async function startIdleNode() {
  /** @type {() => void} */
  let onReady = () => {};
  const ready = new Promise((resolve) => {
    onReady = () => resolve(undefined);
  });
  const script = "process.stdout.write('ready\\n'); setInterval(() => {}, 1000);";
  const { handle } = startNode('-e', [script], process.env, (line) => {
    if (line === 'ready') onReady();
  });
  await ready;
  return handle;
}

/** CPU seconds (user + system) the process has used so far; undefined where /proc is missing. */
export function cpuSeconds(/** @type {number} */ pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may itself hold spaces: utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** The process's peak resident set so far (VmHWM) in bytes; undefined where /proc is missing. */
export function peakRssBytes(/** @type {number} */ pid) {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds so far of every process called `name` (e.g. `postgres`: the server and one backend
 * per connection), by pid; empty where /proc is missing.
 *
 * @param {string} name
 * @returns {Map<number, number>}
 */
export function cpuSecondsByName(name) {
  /** @type {Map<number, number>} */
  const seconds = new Map();
  let entries;
  try {
    entries = readdirSync('/proc');
  } catch {
    return seconds;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== name) continue;
    } catch {
      continue; // exited meanwhile
    }
    const used = cpuSeconds(Number(entry));
    if (used !== undefined) seconds.set(Number(entry), used);
  }
  return seconds;
}
