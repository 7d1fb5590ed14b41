// Delivery benchmark: `node bench/delivery.js`. See docs/benchmarks-delivery.md.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHandler } from './delivery-handler.js';
import {
  CONNECTIONS,
  connectClient,
  measureDrain,
  measureDrainFloor,
  measureLatency,
  measureThroughput,
  RATE,
  WINDOW,
  withRelay,
} from './delivery-measure.js';
import { killChildren, peakRssBytes, startIdleNode } from './delivery-processes.js';
import { formatWakeUpCosts, fsyncMs, wakeUpCost } from './machine.js';
import { choicesFromEnv, numberFromEnv, numbersFromEnv, runBench, wordsFromEnv } from './settings.js';
import { count, megabytes, ms, table, verdict } from './delivery-report.js';
import { CHANNEL, EVENT_BYTES } from './events.js';
import { postgresSection } from './delivery-postgres.js';

/** @typedef {import('./delivery-measure.js').Bench} Bench */
/** @typedef {import('./delivery-measure.js').Engine} Engine */
/** @typedef {import('./delivery-measure.js').Latency} Latency */
/** @typedef {import('./delivery-measure.js').Throughput} Throughput */
/** @typedef {import('./delivery-measure.js').Drain} Drain */

const LATENCY_TARGET_MS = 10;
const THROUGHPUT_TARGET_RATIO = 0.5;
const DRAIN_TARGET_PER_SECOND = 5_000;
/** MB here is 10^6 bytes. */
const RSS_TARGET_BYTES = 80e6;

/** Prints a section: its title, table and notes; then forgets the notes. */
function printSection(/** @type {Bench} */ bench, /** @type {string} */ title, /** @type {string} */ body) {
  console.log(`${title}\n\n${body}`);
  if (bench.notes.length > 0) console.log(`\n${bench.notes.join('\n')}`);
  console.log('');
  bench.notes.length = 0;
}

/**
 * The drain's verdict. A partial drain would have taken longer than the timeout, so it misses the
 * target for sure when even finishing right at the timeout would have.
 *
 * @param {Drain} drain
 * @param {number} backlog
 */
function drainVerdict(drain, backlog) {
  const rate = drain.complete ? drain.delivered / drain.seconds : backlog / drain.seconds;
  const text = verdict(rate, '>=', DRAIN_TARGET_PER_SECOND, 'events/s', count(DRAIN_TARGET_PER_SECOND));
  return drain.complete || rate < DRAIN_TARGET_PER_SECOND ? text : `${text.replace(/PASS$/, 'n/a')} (partial)`;
}

/**
 * 1. End-to-end latency at RATE events/s, beside the same events POSTed straight to the handler.
 *
 * @param {Bench} bench
 * @returns {Promise<{ relay: Latency, direct: Latency }>}
 */
async function latencySection(bench) {
  const relay = await withRelay(bench, 'latency', { kind: 'sqlite' }, 0, async (server, { token }) => {
    const client = await connectClient(bench, server, token);
    try {
      return await measureLatency(bench, 'relay latency', `${server.url}/hooks/${CHANNEL}`, { 'relay-server': server.pid, 'relay-client': client.pid });
    } finally {
      await client.stop();
    }
  });
  const direct = await measureLatency(bench, 'direct latency', bench.handler.url, {});
  const row = (/** @type {string} */ path, /** @type {Latency} */ l, /** @type {string} */ target) => [
    path, ms(l.answerP50Ms), ms(l.answerP99Ms), ms(l.p50Ms), ms(l.p99Ms), count(l.measured), count(l.errors), count(l.lost), target,
  ];
  printSection(
    bench,
    `1. End-to-end latency at ${RATE} events/s (open loop, ${bench.warmupSeconds} s warm-up + ${bench.seconds} s), POST until the handler has the body (2xx: until the sender has its answer)`,
    table(
      ['path', '2xx p50 ms', '2xx p99 ms', 'p50 ms', 'p99 ms', 'events', 'errors', 'lost', 'target'],
      [
        row('POST -> handler (floor)', direct, ''),
        row('POST -> relay-server -> relay-client -> handler', relay, `p99 ${verdict(relay.p99Ms, '<=', LATENCY_TARGET_MS, 'ms')}`),
      ],
    ),
  );
  return { relay, direct };
}

/**
 * 2. Delivered events/s under 32 senders, beside the senders POSTing straight to the handler.
 *
 * @param {Bench} bench
 * @returns {Promise<number | undefined>} relay-client's peak RSS
 */
async function throughputSection(bench) {
  /** @type {number | undefined} */
  let clientRss;
  const relay = await withRelay(bench, 'throughput', { kind: 'sqlite' }, 0, async (server, { token }) => {
    const client = await connectClient(bench, server, token);
    try {
      const result = await measureThroughput(bench, 'relay throughput', `${server.url}/hooks/${CHANNEL}`, { 'relay-server': server.pid, 'relay-client': client.pid }, bench.sustainedWarmupSeconds);
      clientRss = peakRssBytes(client.pid);
      return result;
    } finally {
      await client.stop();
    }
  });
  const direct = await measureThroughput(bench, 'direct throughput', bench.handler.url, {}, bench.sustainedWarmupSeconds);
  const ratio = direct.deliveredPerSecond > 0 ? relay.deliveredPerSecond / direct.deliveredPerSecond : 0;
  const start = relay.startPerSecond !== undefined && direct.startPerSecond !== undefined && direct.startPerSecond > 0 ? relay.startPerSecond / direct.startPerSecond : undefined;
  const row = (/** @type {string} */ path, /** @type {Throughput} */ t) => [
    path,
    count(t.deliveredPerSecond),
    count(t.acceptedPerSecond),
    count(t.errors),
    t.startPerSecond === undefined ? '' : count(t.startPerSecond),
  ];
  const startNote =
    start === undefined
      ? ''
      : `\nin seconds 1-${1 + bench.seconds} of the load (processes just started, JIT cold): ${start.toFixed(2)} (informational; the target is for the sustained rate)`;
  const budget = cpuBudget(relay, direct);
  printSection(
    bench,
    `2. Sustained delivery to one relay-client (--window ${WINDOW}), ${CONNECTIONS} keep-alive senders, ${bench.sustainedWarmupSeconds} s warm-up + ${bench.seconds} s`,
    table(['path', 'delivered/s', 'accepted/s', 'errors', `delivered/s, s 1-${1 + bench.seconds}`], [row('POST -> handler (floor)', direct), row('POST -> relay-server -> relay-client -> handler', relay)]) +
      `\n\nrelay / floor (delivered/s): ${ratio.toFixed(2)}  (target ${verdict(ratio, '>=', THROUGHPUT_TARGET_RATIO, '', THROUGHPUT_TARGET_RATIO.toFixed(2))})${startNote}${budget}`,
  );
  return clientRss;
}

/**
 * Section 2's CPU per delivered event in the measured window, and what the target leaves for
 * relay-server and relay-client on this machine: at the target ratio the cores give each event
 * cores / (ratio × floor rate) for all three processes, and the bench process (senders and
 * handler) keeps between what it used per event in the floor run and in the relay run.
 *
 * @param {Throughput} relay
 * @param {Throughput} direct
 */
function cpuBudget(relay, direct) {
  if (relay.deliveredPerSecond <= 0 || direct.deliveredPerSecond <= 0) return '';
  const micros = (/** @type {number} */ cores, /** @type {number} */ rate) => (cores / rate) * 1e6;
  const relayParts = relay.cpu.map(({ label, cores }) => ({ label, us: micros(cores, relay.deliveredPerSecond) }));
  const bench = relayParts.find((p) => p.label.startsWith('bench process'));
  const floorBench = direct.cpu.find((p) => p.label.startsWith('bench process'));
  if (!bench || !floorBench || relayParts.some((p) => !Number.isFinite(p.us))) return '';
  const relayUs = relayParts.filter((p) => p !== bench).reduce((sum, p) => sum + p.us, 0);
  const floorBenchUs = micros(floorBench.cores, direct.deliveredPerSecond);
  const targetRate = THROUGHPUT_TARGET_RATIO * direct.deliveredPerSecond;
  const allUs = micros(availableParallelism(), targetRate);
  const us = (/** @type {number} */ value) => Math.round(Math.max(0, value));
  // The bench process's cost per event lies between the two runs': it falls as the rate rises.
  const [benchLow, benchHigh] = [floorBenchUs, bench.us].sort((a, b) => a - b);
  return (
    `\nCPU per delivered event in the measured window: ${relayParts.map((p) => `${p.label} ${us(p.us)} µs`).join(', ')}; floor: bench process ${us(floorBenchUs)} µs` +
    `\nat ${THROUGHPUT_TARGET_RATIO.toFixed(2)} of this floor (${count(targetRate)} events/s) ${availableParallelism()} cores give ${us(allUs)} µs per event to all three processes;` +
    ` after the bench process's ${us(benchLow)}-${us(benchHigh)} µs, relay-server and relay-client would have ${us(allUs - benchHigh)}-${us(allUs - benchLow)} µs together (they used ${us(relayUs)} µs)`
  );
}

/**
 * 3. Draining a stored backlog, beside the same number of events POSTed straight to the handler.
 *
 * @param {Bench} bench
 * @param {number} backlog
 * @param {number} timeoutSeconds
 * @returns {Promise<number | undefined>} relay-client's peak RSS
 */
async function drainSection(bench, backlog, timeoutSeconds) {
  const drain = await measureDrain(bench, backlog, timeoutSeconds);
  const floor = await measureDrainFloor(bench, backlog, timeoutSeconds);
  const row = (/** @type {string} */ path, /** @type {{ delivered: number, complete: boolean, seconds: number }} */ d, /** @type {string} */ target) => [
    path,
    `${count(d.delivered)}${d.complete ? '' : ' (PARTIAL)'}`,
    d.seconds.toFixed(2),
    count(d.delivered / d.seconds),
    target,
  ];
  printSection(
    bench,
    `3. Draining a backlog of ${count(backlog)} events (stored through the store's appendEvent in ${drain.appendSeconds.toFixed(1)} s, no client connected)`,
    table(
      ['path', 'delivered', 'seconds', 'events/s', 'target'],
      [row(`POST -> handler, ${WINDOW} at a time (floor)`, floor, ''), row('relay-server -> relay-client -> handler', drain, drainVerdict(drain, backlog))],
    ) +
      `\n\nTimed from starting relay-client (process start, connect, subscribe included); its first event arrived after ${ms(drain.firstMs)} ms.` +
      `\nDelivery rate in the first ${drain.phaseSeconds.toFixed(1)} s: ${count(drain.earlyPerSecond)} events/s; in the last ${drain.phaseSeconds.toFixed(1)} s: ${count(drain.latePerSecond)} events/s.`,
  );
  return drain.clientPeakRss;
}

/**
 * 4. relay-client's peak RSS in sections 2 and 3, beside a bare node process that only waits.
 *
 * @param {Bench} bench
 * @param {{ throughput: number | undefined, drain: number | undefined }} clientRss
 */
async function memorySection(bench, clientRss) {
  const idle = await startIdleNode();
  const idleRss = peakRssBytes(idle.pid);
  await idle.stop();
  printSection(
    bench,
    '4. relay-client peak RSS (VmHWM of its process; MB = 10^6 bytes)',
    table(
      ['process', 'peak RSS MB', 'target'],
      [
        ['idle node process (floor)', megabytes(idleRss), ''],
        ...(clientRss.throughput === undefined ? [] : [['relay-client during 2 (throughput)', megabytes(clientRss.throughput), verdict(clientRss.throughput, '<=', RSS_TARGET_BYTES, 'MB', '80')]]),
        ...(clientRss.drain === undefined ? [] : [['relay-client during 3 (drain)', megabytes(clientRss.drain), verdict(clientRss.drain, '<=', RSS_TARGET_BYTES, 'MB', '80')]]),
      ],
    ),
  );
}

async function main() {
  const seconds = numberFromEnv('BENCH_SECONDS', 5);
  const warmupSeconds = numberFromEnv('BENCH_WARMUP_SECONDS', 1, { allowZero: true });
  // Sustained means after start-up: relay-server, relay-client and the senders all start cold.
  const sustainedWarmupSeconds = numberFromEnv('BENCH_SUSTAINED_WARMUP_SECONDS', 10, { allowZero: true });
  const backlog = numberFromEnv('BENCH_BACKLOG', 100_000, { integer: true });
  const drainTimeoutSeconds = numberFromEnv('BENCH_DRAIN_TIMEOUT_SECONDS', 120);
  // Section 4 reports on 2 and 3.
  const sections = new Set([...choicesFromEnv('BENCH_SECTIONS', ['1', '2', '3', '4', '5'], 'section numbers 1-5')].map(Number));
  const postgres = {
    rounds: numberFromEnv('BENCH_PG_ROUNDS', 2, { integer: true }),
    poolSizes: numbersFromEnv('BENCH_PG_POOL_SIZES'),
    serverArgs: wordsFromEnv('BENCH_PG_SERVER_ARGS'),
    parts: choicesFromEnv('BENCH_PG_PARTS', ['a', 'b', 'c'], 'parts a (ingest), b (delivered/s) and c (latency) of section 5'),
  };
  const workspace = mkdtempSync(join(tmpdir(), 'myop-relay-delivery-'));
  const home = join(workspace, 'home');
  mkdirSync(home);
  const handler = await startHandler();
  /** @type {Bench} */
  const bench = {
    secret: `whsec_bench_${randomBytes(16).toString('hex')}`,
    workspace,
    home,
    handler,
    seconds,
    warmupSeconds,
    sustainedWarmupSeconds,
    schemas: new Set(),
    notes: [],
  };
  const cleanUp = async () => {
    killChildren();
    rmSync(workspace, { recursive: true, force: true });
    await Promise.allSettled([...bench.schemas].map((drop) => drop()));
  };
  // Ctrl-C must leave no process, directory or schema behind: clean up, then die of the signal as usual.
  const onInterrupt = () => {
    void cleanUp().finally(() => process.kill(process.pid, 'SIGINT'));
  };
  process.once('SIGINT', onInterrupt);
  console.log(
    `node ${process.version}, ${availableParallelism()} cores; everything on 127.0.0.1; ${EVENT_BYTES}-byte signed events; ` +
      `relay-server and relay-client are child processes, the handler and the senders live in this process (senders in worker threads)\n`,
  );
  try {
    const fsyncBefore = fsyncMs(workspace);
    const wakeUpBefore = await wakeUpCost();
    if (sections.has(1)) await latencySection(bench);
    const throughputRss = sections.has(2) ? await throughputSection(bench) : undefined;
    const drainRss = sections.has(3) ? await drainSection(bench, backlog, drainTimeoutSeconds) : undefined;
    if (sections.has(4) && (throughputRss !== undefined || drainRss !== undefined)) await memorySection(bench, { throughput: throughputRss, drain: drainRss });
    if (sections.has(5)) await postgresSection(bench, postgres, printSection);
    console.log(`disk: 4 KiB append + fdatasync in ${tmpdir()}, median of 50: ${ms(fsyncBefore)} ms before the run, ${ms(fsyncMs(workspace))} ms after`);
    console.log(formatWakeUpCosts(wakeUpBefore, await wakeUpCost()));
  } finally {
    process.off('SIGINT', onInterrupt);
    await handler.close();
    await cleanUp();
  }
}

await runBench(main);
