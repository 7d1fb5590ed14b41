// The measurements of bench/delivery.js: each starts what it needs, measures, and stops it again.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { nowNs } from './delivery-handler.js';
import { runPaced } from './delivery-pacer.js';
import { cpuSeconds, cpuSecondsByName, peakRssBytes, startRelayClient, startRelayServer } from './delivery-processes.js';
import { count, ms, percentile } from './delivery-report.js';
import { CONSUMER, prepareStore } from './delivery-store.js';
import { CHANNEL, SIGNATURE_HEADER, signedEvents } from './events.js';
import { runLoad } from './load.js';
import { cpuSnapshot, NOISY_CORES } from './machine.js';
import { toRow } from './report.js';
import { createBenchSchema } from './postgres-schema.js';

/** Events per second of the latency rows, sent open-loop. */
export const RATE = 200;
/** Concurrent keep-alive senders of the throughput and ingest rows, as in the ingest benchmark. */
export const CONNECTIONS = 32;
/** relay-client's --window: events forwarded at once. */
export const WINDOW = 64;
/** Hard stop per load run, warm-up included, whatever the duration. */
const MAX_REQUESTS = 1_000_000;

/** Time relay-server gets to print its ready line. */
const READY_TIMEOUT_MS = 30_000;
/** Time a freshly started relay-client gets to connect, subscribe and forward its first event. */
const PROBE_TIMEOUT_MS = 15_000;
/** After the paced sender is done, time its last events get to reach the handler. */
const ARRIVAL_TIMEOUT_MS = 10_000;

/** Length of the drain's early and late phases, whose rates are compared. */
const DRAIN_PHASE_SECONDS = 10;

/** Progress goes to standard error; results to standard output. */
export const progress = (/** @type {string} */ text) => process.stderr.write(`bench: ${text}\n`);

/**
 * @typedef {object} Bench
 * @property {string} secret         the channel's HMAC secret
 * @property {string} workspace      temporary directory for the data dirs
 * @property {string} home           relay-client's HOME, an empty directory
 * @property {import('./delivery-handler.js').Handler} handler
 * @property {number} seconds        measured window of the latency and load rows
 * @property {number} warmupSeconds
 * @property {number} sustainedWarmupSeconds  section 2's warm-up
 * @property {Set<() => Promise<void>>} schemas  drops of the Postgres schemas still in place
 * @property {string[]} notes        CPU lines and warnings printed under the tables
 */

/**
 * The store relay-server runs on. With Postgres, `instances` relay-servers (default 1) share one
 * schema, each started with `serverArgs` (e.g. `--pg-pool-size 4`).
 *
 * @typedef {{ kind: 'sqlite' } | { kind: 'postgres', instances?: number, serverArgs?: string[] }} Engine
 */

/** @typedef {Awaited<ReturnType<typeof startRelayServer>>} Relay */

/**
 * Prepares a fresh store (see prepareStore), starts relay-server on it as a child process (with
 * Postgres, as many as the engine asks for, one after another), runs `work` with the first and
 * all of them, then stops them and removes the store.
 *
 * @template T
 * @param {Bench} bench
 * @param {string} name  names the data dir
 * @param {Engine} engine
 * @param {number} backlog  events stored for the consumer before relay-server starts
 * @param {(relay: Relay, prepared: import('./delivery-store.js').PreparedStore, relays: Relay[]) => Promise<T>} work
 * @returns {Promise<T>}
 */
export async function withRelay(bench, name, engine, backlog, work) {
  const dataDir = join(bench.workspace, name);
  /** @type {import('../relay-server/dist/index.js').StoreConfig} */
  let config = { dataDir };
  let storeArgs = ['--data-dir', dataDir];
  let release = async () => rmSync(dataDir, { recursive: true, force: true });
  if (engine.kind === 'postgres') {
    const schema = await createBenchSchema();
    bench.schemas.add(schema.drop);
    config = { dataDir, databaseUrl: schema.url };
    storeArgs = ['--database-url', schema.url, ...(engine.serverArgs ?? [])];
    release = async () => {
      await schema.drop();
      bench.schemas.delete(schema.drop);
    };
  }
  try {
    if (backlog > 0) progress(`${name}: storing ${count(backlog)} events through appendEvent …`);
    const prepared = await prepareStore(config, { secret: bench.secret, backlog });
    const instances = engine.kind === 'postgres' ? (engine.instances ?? 1) : 1;
    /** @type {Relay[]} */
    const relays = [];
    try {
      for (let i = 0; i < instances; i++) relays.push(await startRelayServer(storeArgs, READY_TIMEOUT_MS));
      return await work(/** @type {Relay} */ (relays[0]), prepared, relays);
    } finally {
      await Promise.all(relays.map((relay) => relay.stop()));
    }
  } finally {
    await release();
  }
}

/**
 * Starts relay-client for the bench consumer, and resolves once a probe event POSTed to the relay
 * has reached the handler: the client is then connected, subscribed and forwarding. The consumer
 * already exists, so the probe waits in the store however long the client takes to subscribe.
 *
 * @param {Bench} bench
 * @param {{ url: string }} relay
 * @param {string} token
 */
export async function connectClient(bench, relay, token) {
  const client = startRelayClient({ relay: relay.url, token, consumer: CONSUMER, forwardTo: bench.handler.url, window: WINDOW, home: bench.home });
  const probe = signedEvents(bench.secret, `probe_${randomBytes(4).toString('hex')}`)();
  const probeId = JSON.parse(probe.body.toString()).event_id;
  const answer = await fetch(`${relay.url}/hooks/${CHANNEL}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: probe.signature },
    body: new Uint8Array(probe.body),
  });
  await answer.arrayBuffer();
  const arrived = answer.ok && (await bench.handler.until(() => bench.handler.arrivals.has(probeId), PROBE_TIMEOUT_MS));
  if (!arrived) {
    await client.stop();
    throw new Error(`bench: a probe event (relay answered ${answer.status}) did not reach the handler within ${PROBE_TIMEOUT_MS} ms; relay-client said:\n${client.output()}`);
  }
  return client;
}

/**
 * Measures CPU use from now until the returned function is called, in cores: each child's, this
 * process's (handler and senders), with `postgres` the local Postgres server's, and everybody
 * else's.
 *
 * @param {Record<string, number>} children  label → pid
 * @param {boolean} [postgres]  whether the measurement uses Postgres, whose processes are then not "others"
 * @returns {() => CpuReading}
 */
function startCpuMeter(children, postgres = false) {
  const before = cpuSnapshot();
  const childBefore = Object.entries(children).map(([label, pid]) => ({ label, pid, seconds: cpuSeconds(pid) ?? Number.NaN }));
  const postgresBefore = postgres ? cpuSecondsByName('postgres') : new Map();
  return () => {
    const after = cpuSnapshot();
    const wallSeconds = (after.wallMs - before.wallMs) / 1000;
    const parts = childBefore.map(({ label, pid, seconds }) => ({ label, cores: ((cpuSeconds(pid) ?? Number.NaN) - seconds) / wallSeconds }));
    if (postgres) {
      // Backends opened during the measurement count from zero; those that closed meanwhile are missed.
      let used = 0;
      for (const [pid, seconds] of cpuSecondsByName('postgres')) used += seconds - (postgresBefore.get(pid) ?? 0);
      parts.push({ label: 'local postgres processes', cores: used / wallSeconds });
    }
    parts.push({ label: 'bench process (handler, senders)', cores: (after.ownMs - before.ownMs) / 1000 / wallSeconds });
    const machine = (after.machineBusyMs - before.machineBusyMs) / 1000 / wallSeconds;
    const others = Math.max(0, machine - parts.reduce((sum, part) => sum + (Number.isFinite(part.cores) ? part.cores : 0), 0));
    parts.push({ label: 'other processes', cores: others });
    return { text: parts.map(({ label, cores }) => `${label} ${Number.isFinite(cores) ? cores.toFixed(2) : 'n/a'}`).join(', '), others, parts };
  };
}

/**
 * @typedef {object} CpuReading
 * @property {string} text    "label cores, …" for the notes
 * @property {number} others  cores used by processes outside the measurement
 * @property {{ label: string, cores: number }[]} parts  per measured process (children, then this one), then the others
 */

/**
 * Measures CPU use between two points of `nowNs()` time that lie ahead, such as a load's measured
 * window; resolves at the second one.
 *
 * @param {Record<string, number>} children
 * @param {number} fromNs
 * @param {number} toNs
 * @param {boolean} [postgres]  whether the measurement uses Postgres (see startCpuMeter)
 * @returns {Promise<CpuReading>}
 */
function meterWindow(children, fromNs, toNs, postgres = false) {
  return new Promise((resolve) => {
    setTimeout(() => {
      const read = startCpuMeter(children, postgres);
      setTimeout(() => resolve(read()), Math.max(0, (toNs - nowNs()) / 1e6));
    }, Math.max(0, (fromNs - nowNs()) / 1e6));
  });
}

/** Records a measurement's CPU line, and a warning when other processes were busy. */
function noteCpu(/** @type {Bench} */ bench, /** @type {string} */ label, /** @type {CpuReading} */ cpu, what = 'cores used') {
  bench.notes.push(`  ${label}: ${what}: ${cpu.text}`);
  if (cpu.others > NOISY_CORES) bench.notes.push(`  warning: other processes kept ${cpu.others.toFixed(2)} cores busy during "${label}"; its figures are suspect`);
}

function logFailures(/** @type {string} */ label, /** @type {Record<string, number>} */ failures) {
  for (const [reason, times] of Object.entries(failures)) progress(`${label}: ${count(times)} × ${reason}`);
}

/**
 * @typedef {object} Latency
 * @property {number} p50Ms       POST until the handler had the body
 * @property {number} p99Ms
 * @property {number} answerP50Ms POST until the sender had its 2xx (for the relay: the event is stored)
 * @property {number} answerP99Ms
 * @property {number} measured    events sent in the measured window
 * @property {number} errors      of those, not answered 2xx
 * @property {number} lost        answered 2xx but not at the handler within ARRIVAL_TIMEOUT_MS
 */

/**
 * Sends RATE events/s to `url` for the warm-up plus the window and takes, per event of the window,
 * the time from handing the POST to node:http until the handler had read its body.
 *
 * @param {Bench} bench
 * @param {string} label
 * @param {string} url
 * @param {Record<string, number>} children  processes whose CPU use is reported
 * @param {boolean} [postgres]  whether relay-server runs on Postgres
 * @returns {Promise<Latency>}
 */
export async function measureLatency(bench, label, url, children, postgres = false) {
  progress(`${label}: ${RATE} events/s for ${bench.seconds} s after ${bench.warmupSeconds} s warm-up …`);
  const { handler } = bench;
  handler.reset();
  const warmup = Math.round(RATE * bench.warmupSeconds);
  const total = warmup + Math.round(RATE * bench.seconds);
  const cpu = startCpuMeter(children, postgres);
  const sent = await runPaced({ url, secret: bench.secret, runTag: `lat_${randomBytes(4).toString('hex')}`, rate: RATE, count: total });
  noteCpu(bench, label, cpu());
  logFailures(label, sent.failures);
  // Latency is taken from the actual send, so a late sender does not hide delay; it only bunches events up.
  if (sent.maxLagMs > 2) bench.notes.push(`  ${label}: the sender fell up to ${ms(sent.maxLagMs)} ms behind its schedule`);
  /** @type {number[]} */
  const accepted = [];
  for (let i = warmup; i < total; i++) if (sent.ok[i]) accepted.push(i);
  await handler.until(() => accepted.every((i) => handler.arrivals.has(sent.ids[i])), ARRIVAL_TIMEOUT_MS);
  const latencies = [];
  for (const i of accepted) {
    const at = handler.arrivals.get(sent.ids[i]);
    if (at !== undefined) latencies.push((at - sent.sentNs[i]) / 1e6);
  }
  const sorted = Float64Array.from(latencies).sort();
  const answers = Float64Array.from(accepted, (i) => (sent.answeredNs[i] - sent.sentNs[i]) / 1e6).sort();
  return {
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    answerP50Ms: percentile(answers, 0.5),
    answerP99Ms: percentile(answers, 0.99),
    measured: total - warmup,
    errors: total - warmup - accepted.length,
    lost: accepted.length - latencies.length,
  };
}

/**
 * @typedef {object} Throughput
 * @property {{ label: string, cores: number }[]} cpu  cores each measured process used in the window
 * @property {number} deliveredPerSecond  distinct events that reached the handler, per second of the window
 * @property {number | undefined} startPerSecond  the same in the first seconds of the load (1 s after its start, as long as the window), when the warm-up is that long
 * @property {number} acceptedPerSecond   2xx answers the senders got, per second of their window
 * @property {number} errors              non-2xx answers and failed requests in the window
 */

/**
 * 32 closed-loop senders POST to `url` for the warm-up plus the window; counts what reaches the
 * handler during the window.
 *
 * @param {Bench} bench
 * @param {string} label
 * @param {string} url
 * @param {Record<string, number>} children
 * @param {number} [warmupSeconds]  load before the window; default the bench's
 * @param {boolean} [postgres]  whether relay-server runs on Postgres
 * @returns {Promise<Throughput>}
 */
export async function measureThroughput(bench, label, url, children, warmupSeconds = bench.warmupSeconds, postgres = false) {
  progress(`${label}: ${CONNECTIONS} senders for ${bench.seconds} s after ${warmupSeconds} s warm-up …`);
  const { handler } = bench;
  handler.reset();
  // The senders' own window starts a little later (worker start-up), so this one lies inside their load.
  const startNs = nowNs();
  const fromNs = startNs + warmupSeconds * 1e9;
  const toNs = fromNs + bench.seconds * 1e9;
  const early = warmupSeconds >= 1 + bench.seconds ? { fromNs: startNs + 1e9, toNs: startNs + (1 + bench.seconds) * 1e9 } : undefined;
  const cpu = meterWindow(children, fromNs, toNs, postgres);
  const result = await runLoad({
    url,
    secret: bench.secret,
    runTag: `tp_${randomBytes(4).toString('hex')}`,
    connections: CONNECTIONS,
    warmupSeconds,
    seconds: bench.seconds,
    maxRequests: MAX_REQUESTS,
  });
  // The load runs past the window's end, so this resolves before or right after the load.
  const windowCpu = await cpu;
  noteCpu(bench, label, windowCpu, 'cores used in the measured window');
  logFailures(label, result.failures);
  return {
    cpu: windowCpu.parts.slice(0, -1),
    deliveredPerSecond: handler.countBetween(fromNs, toNs) / bench.seconds,
    startPerSecond: early === undefined ? undefined : handler.countBetween(early.fromNs, early.toNs) / bench.seconds,
    acceptedPerSecond: result.elapsedNs > 0 ? ((result.measured - result.measuredErrors) * 1e9) / result.elapsedNs : 0,
    errors: result.measuredErrors,
  };
}

/**
 * @typedef {object} Drain
 * @property {number} delivered      distinct backlog events at the handler
 * @property {boolean} complete      whether all of them arrived before the timeout
 * @property {number} seconds        from starting the client until the last arrival (or the timeout)
 * @property {number} firstMs        from starting the client until the first arrival
 * @property {number} phaseSeconds   DRAIN_PHASE_SECONDS, or half the delivery time when that is shorter
 * @property {number} earlyPerSecond events/s in the first phase after the first arrival
 * @property {number} latePerSecond  events/s in the last phase before the end
 * @property {number} appendSeconds  storing the backlog
 * @property {number | undefined} clientPeakRss
 */

/**
 * Stores `backlog` events for the consumer while no client is connected, starts relay-server and
 * then relay-client, and times until the handler has every one.
 *
 * @param {Bench} bench
 * @param {number} backlog
 * @param {number} timeoutSeconds
 * @returns {Promise<Drain>}
 */
export async function measureDrain(bench, backlog, timeoutSeconds) {
  return withRelay(bench, 'drain', { kind: 'sqlite' }, backlog, async (relay, prepared) => {
    const { handler } = bench;
    handler.reset();
    progress(`drain: ${count(backlog)} events stored in ${(prepared.appendMs / 1000).toFixed(1)} s; starting relay-client (at most ${timeoutSeconds} s) …`);
    const startNs = nowNs();
    const client = startRelayClient({ relay: relay.url, token: prepared.token, consumer: CONSUMER, forwardTo: handler.url, window: WINDOW, home: bench.home });
    try {
      const cpu = startCpuMeter({ 'relay-server': relay.pid, 'relay-client': client.pid });
      const complete = await handler.until(() => handler.arrivals.size >= backlog, timeoutSeconds * 1000);
      const endNs = nowNs();
      noteCpu(bench, 'drain', cpu());
      if (!complete) progress(`drain: stopped after ${timeoutSeconds} s with ${count(handler.arrivals.size)} of ${count(backlog)} events delivered`);
      const arrivals = [...handler.arrivals.values()];
      const firstNs = Math.min(...arrivals);
      const lastNs = complete ? Math.max(...arrivals) : endNs;
      // Whether the rate holds as the consumer's delivered history grows.
      const phaseNs = Math.min(DRAIN_PHASE_SECONDS * 1e9, (lastNs - firstNs) / 2);
      const ratePer = (/** @type {number} */ fromNs) => (handler.countBetween(fromNs, fromNs + phaseNs + 1) * 1e9) / phaseNs;
      return {
        delivered: arrivals.length,
        complete,
        seconds: (lastNs - startNs) / 1e9,
        firstMs: arrivals.length > 0 ? (firstNs - startNs) / 1e6 : Number.NaN,
        phaseSeconds: phaseNs / 1e9,
        earlyPerSecond: phaseNs > 0 ? ratePer(firstNs) : Number.NaN,
        latePerSecond: phaseNs > 0 ? ratePer(lastNs - phaseNs) : Number.NaN,
        appendSeconds: prepared.appendMs / 1000,
        clientPeakRss: peakRssBytes(client.pid),
      };
    } finally {
      await client.stop();
    }
  });
}

/** The drain floor: the same number of events POSTed straight to the handler, WINDOW at a time. */
export async function measureDrainFloor(/** @type {Bench} */ bench, /** @type {number} */ backlog, /** @type {number} */ timeoutSeconds) {
  progress(`drain floor: ${count(backlog)} events straight to the handler, ${WINDOW} at a time …`);
  bench.handler.reset();
  const cpu = startCpuMeter({});
  const result = await runLoad({
    url: bench.handler.url,
    secret: bench.secret,
    runTag: `drainfloor_${randomBytes(4).toString('hex')}`,
    connections: WINDOW,
    warmupSeconds: 0,
    seconds: timeoutSeconds,
    maxRequests: backlog,
  });
  noteCpu(bench, 'drain floor', cpu());
  logFailures('drain floor', result.failures);
  const delivered = bench.handler.arrivals.size;
  return { delivered, complete: delivered >= backlog, seconds: result.elapsedNs / 1e9 };
}

/** 32 senders against an ingest target with nobody listening: the ingest benchmark's workload. */
export async function measureIngest(/** @type {Bench} */ bench, /** @type {string} */ label, /** @type {string} */ url, /** @type {Record<string, number>} */ children, postgres = false) {
  progress(`${label}: ingest, ${CONNECTIONS} senders for ${bench.seconds} s after ${bench.warmupSeconds} s warm-up …`);
  const cpu = startCpuMeter(children, postgres);
  const result = await runLoad({
    url,
    secret: bench.secret,
    runTag: `ingest_${randomBytes(4).toString('hex')}`,
    connections: CONNECTIONS,
    warmupSeconds: bench.warmupSeconds,
    seconds: bench.seconds,
    maxRequests: MAX_REQUESTS,
  });
  const used = cpu();
  noteCpu(bench, label, used);
  logFailures(label, result.failures);
  return toRow(label, { result, serverBusy: Number.NaN, otherCores: used.others });
}
