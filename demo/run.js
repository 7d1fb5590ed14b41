// @ts-check
/**
 * `npm run demo`: the whole path of a MyOperator webhook on one machine, in one command.
 *
 * Starts relay-server with a throw-away store, the sample handler (demo/handler.js) and
 * `relay-client listen` forwarding to it; triggers a sample call (six signed events); waits until
 * the handler has verified every signature and the client has acked every delivery; narrates
 * what happened; cleans up. Exits 0 on success and 1 (saying why) on any failure, within
 * DEMO_TIMEOUT_MS (default 60 s). Needs only the built repository: no network, no other tools.
 *
 * Every wait below is on a line a process prints (the relay's readiness line, the handler's
 * verdict, the client's ack), never on a timer; the one timer is the overall deadline.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SERVER_CLI = join(ROOT, 'relay-server', 'dist', 'cli.js');
const CLIENT_CLI = join(ROOT, 'relay-client', 'dist', 'cli.js');
const HANDLER = join(ROOT, 'demo', 'handler.js');
const DEADLINE_MS = Number(process.env['DEMO_TIMEOUT_MS'] ?? 60_000);
/** How long a child gets to exit after SIGTERM before it is killed. */
const STOP_GRACE_MS = 5_000;

/** A failure with a message for the user; anything else is a bug and gets its stack printed. */
class DemoError extends Error {}

/** @param {string} text */
function say(text) {
  process.stdout.write(`${text}\n`);
}

/** What the demo is doing, for the deadline's message. */
let step = 'starting';

/** @type {(() => void | Promise<void>)[]} */
const cleanups = [];

/** @typedef {{ code: number | null, signal: NodeJS.Signals | null }} ExitStatus */

/** A child process whose stdout is read line by line. */
class Child {
  /**
   * @param {string} name - how the narration names it.
   * @param {string} script - the Node script to run.
   * @param {string[]} args
   * @param {NodeJS.ProcessEnv} env
   */
  constructor(name, script, args, env) {
    this.name = name;
    /** @type {string[]} */
    this.lines = [];
    this.stderr = '';
    /** @type {((line: string) => void)[]} */
    this.listeners = [];
    this.process = spawn(process.execPath, [script, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    /** @type {Promise<ExitStatus>} */
    this.exited = new Promise((resolve) => {
      this.process.once('exit', (code, signal) => resolve({ code, signal }));
      this.process.once('error', (error) => {
        this.stderr += String(error);
        resolve({ code: null, signal: null });
      });
    });
    createInterface({ input: this.process.stdout, crlfDelay: Infinity }).on('line', (line) => {
      this.lines.push(line);
      for (const listener of [...this.listeners]) listener(line);
    });
    this.process.stderr.setEncoding('utf8').on('data', (chunk) => (this.stderr += chunk));
    cleanups.push(() => this.stop());
  }

  /** Calls `listener` for every stdout line, those already printed first. @param {(line: string) => void} listener */
  each(listener) {
    for (const line of this.lines) listener(line);
    this.listeners.push(listener);
  }

  /**
   * The first stdout line (already printed or still to come) that `match` maps to a value.
   *
   * @template T
   * @param {(line: string) => T | undefined} match
   * @param {string} what - named in the error if the process exits first.
   * @returns {Promise<T>}
   */
  first(match, what) {
    return new Promise((resolve, reject) => {
      let done = false;
      this.each((line) => {
        const value = done ? undefined : match(line);
        if (value !== undefined) {
          done = true;
          resolve(value);
        }
      });
      void this.exited.then((status) => {
        if (!done) reject(new DemoError(`${this.name} ${describeExit(status)} before ${what}${this.errorTail()}`));
      });
    });
  }

  /** The end of stderr, to show with a failure. */
  errorTail() {
    const text = this.stderr.trim();
    return text === '' ? '' : `\n  ${this.name} said: ${text.split('\n').slice(-8).join('\n  ')}`;
  }

  /** SIGTERM, then SIGKILL if it has not exited within {@link STOP_GRACE_MS}. */
  async stop() {
    const p = this.process;
    if (p.exitCode !== null || p.signalCode !== null || p.pid === undefined) return;
    p.kill('SIGTERM');
    /** @type {NodeJS.Timeout | undefined} */
    let timer;
    const grace = new Promise((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS)));
    await Promise.race([this.exited, grace]);
    clearTimeout(timer);
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGKILL');
      await this.exited;
    }
  }
}

/** @param {ExitStatus} status */
function describeExit(status) {
  return status.signal !== null ? `was killed by ${status.signal}` : `exited with code ${String(status.code)}`;
}

/** @param {string} line @returns {Record<string, unknown> | undefined} */
function jsonLine(line) {
  try {
    const value = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The environment for the children: no RELAY_* settings or client config file of the user's, which would change what runs. @param {string} dir */
function childEnv(dir) {
  /** @type {NodeJS.ProcessEnv} */
  const env = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('RELAY_')) env[key] = value;
  return { ...env, XDG_CONFIG_HOME: dir, NO_COLOR: '1' };
}

/** @type {(reason: Error) => void} */
let expire = () => {};
/** Rejects when the overall deadline passes. */
const deadline = new Promise((_resolve, reject) => (expire = reject));
deadline.catch(() => {});

/**
 * `promise`, unless the deadline passes first.
 *
 * @template T
 * @param {Promise<T>} promise
 * @returns {Promise<T>}
 */
function within(promise) {
  return Promise.race([promise, /** @type {Promise<never>} */ (deadline)]);
}

/** Wakes {@link until} callers whenever a watched process prints something. */
/** @type {(() => void)[]} */
let wakers = [];
function wake() {
  for (const waker of wakers.splice(0)) waker();
}

/**
 * Resolves once `condition` holds, checking after every watched line.
 *
 * @param {() => boolean} condition
 * @param {(() => Error | undefined)} failed - an error to stop with instead.
 */
async function until(condition, failed) {
  for (;;) {
    const error = failed();
    if (error !== undefined) throw error;
    if (condition()) return;
    await within(new Promise((resolve) => wakers.push(() => resolve(undefined))));
  }
}

/** @param {string[]} lines @param {string} label */
function bannerField(lines, label) {
  const pattern = new RegExp(`^\\s*${label}\\s+(\\S+)\\s*$`);
  for (const line of lines) {
    const m = pattern.exec(line);
    if (m?.[1] !== undefined) return m[1];
  }
  return undefined;
}

async function main() {
  step = 'checking the build';
  for (const file of [SERVER_CLI, CLIENT_CLI]) {
    if (!existsSync(file)) throw new DemoError(`${relative(ROOT, file)} is missing: run \`npm run build\` first (npm install and npm ci run it too).`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'myop-relay-demo-'));
  cleanups.unshift(() => rmSync(dir, { recursive: true, force: true }));
  const env = childEnv(dir);

  say('myop-relay demo: a sample MyOperator call goes relay-server -> relay-client listen -> a local handler that checks its signature.');
  say('');

  step = 'waiting for relay-server to start';
  const server = new Child('relay-server', SERVER_CLI, ['start', '--port', '0', '--host', '127.0.0.1', '--data-dir', dir, '--log-level', 'warn'], env);
  const port = await within(server.first((line) => /^relay-server ready: \S+ \(port (\d+),/.exec(line)?.[1], 'it printed "relay-server ready"'));
  const secret = bannerField(server.lines, 'Signing secret');
  const token = bannerField(server.lines, 'Admin token');
  if (secret === undefined || token === undefined) throw new DemoError('relay-server printed no first-start banner with the signing secret and the admin token.');
  const relay = `http://127.0.0.1:${port}`;
  say(`1. relay-server started at ${relay}, with a throw-away store in ${dir}.`);
  say('   Its first start created the channel "myoperator" (the URL MyOperator posts to is /hooks/myoperator),');
  say('   a signing secret for it, and an admin token.');

  step = 'waiting for the sample handler to start';
  const handler = new Child('handler', HANDLER, [], { ...env, MYOPERATOR_SECRET: secret, PORT: '0' });
  const handlerUrl = await within(handler.first((line) => /^handler listening on (\S+)$/.exec(line)?.[1], 'it printed "handler listening"'));
  say(`2. The sample handler (demo/handler.js) listens at ${handlerUrl}.`);
  say('   It verifies X-MyOperator-Signature (HMAC-SHA256 of the raw body) with the channel\'s secret, as MyOperator\'s docs show.');

  step = 'waiting for relay-client listen to subscribe';
  const listenArgs = ['listen', '--relay', relay, '--token', token, '--channel', 'myoperator', '--consumer', 'demo', '--forward-to', handlerUrl, '--json'];
  const listen = new Child('relay-client listen', CLIENT_CLI, listenArgs, env);
  await within(listen.first((line) => (jsonLine(line)?.['type'] === 'subscribed' ? true : undefined), 'it subscribed to the channel'));
  say('3. relay-client listen connected as consumer "demo" and forwards channel myoperator to the handler.');

  step = 'running relay-client trigger --flow call';
  const trigger = new Child('relay-client trigger', CLIENT_CLI, ['trigger', '--flow', 'call', '--relay', relay, '--token', token, '--json'], env);
  const triggered = await within(trigger.exited);
  if (triggered.code !== 0) throw new DemoError(`relay-client trigger --flow call ${describeExit(triggered)}${trigger.errorTail()}`);
  const answer = jsonLine(trigger.lines.join('\n'));
  const events = Array.isArray(answer?.['events']) ? /** @type {{ type: string, id: string, seq: number }[]} */ (answer['events']) : [];
  if (events.length === 0) throw new DemoError(`relay-client trigger printed no events: ${trigger.lines.join('\n')}`);
  say(`4. relay-client trigger --flow call stored ${events.length} events of one call, signed with the channel's secret like MyOperator signs:`);

  step = `waiting for the handler to verify all ${events.length} events`;
  /** @type {Map<string, string>} */
  const verdicts = new Map();
  /** @type {Set<string>} */
  const acked = new Set();
  handler.each((line) => {
    const m = /^(\d{3}) signature (verified|REJECTED)\s+\S+\s+(\S+)/.exec(line);
    if (m?.[3] !== undefined && m[2] !== undefined) verdicts.set(m[3], m[2]);
    wake();
  });
  listen.each((line) => {
    const record = jsonLine(line);
    if (record?.['type'] === 'forwarded' && record['answer'] === 'ack' && typeof record['id'] === 'string') acked.add(record['id']);
    wake();
  });
  void handler.exited.then(wake);
  void listen.exited.then(wake);
  for (const event of events) {
    await until(
      () => verdicts.get(event.id) === 'verified' && acked.has(event.id),
      () => {
        if (verdicts.get(event.id) === 'REJECTED') return new DemoError(`the handler rejected the signature of ${event.type} (${event.id}); the bytes or headers were changed on the way.`);
        if (handler.process.exitCode !== null) return new DemoError(`the handler stopped unexpectedly${handler.errorTail()}`);
        if (listen.process.exitCode !== null) return new DemoError(`relay-client listen stopped unexpectedly${listen.errorTail()}`);
        return undefined;
      },
    );
    say(`   - ${event.type.padEnd(17)} seq ${String(event.seq).padEnd(2)} handler verified the signature (200), relay-client acked the delivery`);
  }

  say(`5. All ${events.length} events were delivered and their signatures verified; every delivery was acked to the relay.`);
  say('');
  say('Try it with your own handler:');
  say('  npm start                                                    # relay-server on :8080; note the secret and token it prints');
  say('  MYOPERATOR_SECRET=<secret> node demo/handler.js               # or your app on :3000');
  say('  npx relay-client listen --relay http://localhost:8080 --token <token> --forward-to http://127.0.0.1:3000/webhooks/myoperator');
  say('  npx relay-client trigger --flow call                          # then: events list, events show <id>, replay <id>, status');
  say('  (RELAY_URL and RELAY_TOKEN spare you --relay and --token.)');
}

/** Runs every cleanup once, newest first. */
async function cleanUp() {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (error) {
      process.stderr.write(`demo: cleanup failed: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
}

const timer = setTimeout(() => expire(new DemoError(`gave up after ${DEADLINE_MS / 1000} s ${step}.`)), DEADLINE_MS);
let interrupted = false;
process.once('SIGINT', () => {
  interrupted = true;
  expire(new DemoError('interrupted.'));
});

try {
  await main();
  process.exitCode = 0;
} catch (error) {
  process.stdout.write('\n');
  if (error instanceof DemoError) process.stderr.write(`demo failed: ${error.message}\n`);
  else process.stderr.write(`demo failed (a bug in the demo): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = interrupted ? 130 : 1;
} finally {
  clearTimeout(timer);
  await cleanUp();
}
