// Section 5 of bench/delivery.js: relay-server on Postgres beside relay-server on SQLite.
import { connectClient, CONNECTIONS, measureIngest, measureLatency, measureThroughput, RATE, withRelay } from './delivery-measure.js';
import { count, ms, table, verdict } from './delivery-report.js';
import { CHANNEL } from './events.js';
import { startFloor } from './ingest.js';
import { TARGET_RATIO as INGEST_TARGET_RATIO } from './report.js';
import { BENCH_DATABASE_URL, createBenchSchema, describeUrl } from './postgres-schema.js';

/** @typedef {import('./delivery-measure.js').Bench} Bench */
/** @typedef {import('./delivery-measure.js').Engine} Engine */
/** @typedef {import('./delivery-measure.js').Latency} Latency */
/** @typedef {import('./delivery-measure.js').Throughput} Throughput */

/** Postgres over SQLite, in ingest and in delivered events/s, at or above which Postgres keeps up. */
const POSTGRES_RATIO_TARGET = 0.5;
/** End-to-end p99 with two instances on one database (ingest on one, the client on the other). */
const TWO_INSTANCE_P99_TARGET_MS = 15;
/** Section 1's target, for the single-instance rows. */
const LATENCY_TARGET_MS = 10;

/**
 * @typedef {object} PostgresSettings
 * @property {number} rounds  SQLite, Postgres pairs per measurement, alternating
 * @property {number[]} poolSizes  extra closed-loop rows with `--pg-pool-size` set to each, after the pairs
 * @property {string[]} serverArgs  extra relay-server flags of every Postgres row
 * @property {Set<string>} parts  which of a (ingest), b (delivered/s) and c (latency) to run
 */

/** Lowest–highest of some figures, formatted. */
function range(/** @type {number[]} */ values, /** @type {(n: number) => string} */ format) {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return 'n/a';
  const low = Math.min(...finite);
  const high = Math.max(...finite);
  return low === high ? format(low) : `${format(low)}–${format(high)}`;
}

const ratio = (/** @type {number} */ n) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');

/** Runs `measure` for SQLite and for Postgres, alternating, `rounds` times; resolves with each round's pair. */
async function alternate(/** @type {number} */ rounds, /** @type {(engine: Engine, round: number) => Promise<any>} */ measure, /** @type {Engine} */ postgres) {
  const pairs = [];
  for (let round = 1; round <= rounds; round++) {
    const sqlite = await measure({ kind: 'sqlite' }, round);
    pairs.push({ sqlite, postgres: await measure(postgres, round) });
  }
  return pairs;
}

/** a) Ingest with nobody listening, SQLite and Postgres alternating, beside the Fastify floor. */
async function ingestRows(/** @type {Bench} */ bench, /** @type {PostgresSettings} */ settings, /** @type {Engine} */ postgres) {
  const floor = await startFloor(bench.secret);
  const floorIngest = await measureIngest(bench, 'fastify floor', floor.url, {}).finally(() => floor.close());
  const pairs = await alternate(
    settings.rounds,
    (engine, round) =>
      withRelay(bench, `ingest-${engine.kind}-${round}`, engine, 0, (server) =>
        measureIngest(bench, `${engine.kind} ingest ${round}`, `${server.url}/hooks/${CHANNEL}`, { 'relay-server': server.pid }, engine.kind === 'postgres'),
      ),
    postgres,
  );
  const rows = [['fastify floor (in-process, no store)', count(floorIngest.eventsPerSecond), ms(floorIngest.p50Ms), ms(floorIngest.p99Ms), '', '']];
  const ratios = [];
  for (const [i, pair] of pairs.entries()) {
    const r = pair.postgres.eventsPerSecond / pair.sqlite.eventsPerSecond;
    ratios.push(r);
    rows.push([`${i + 1}. relay-server, SQLite`, count(pair.sqlite.eventsPerSecond), ms(pair.sqlite.p50Ms), ms(pair.sqlite.p99Ms), ratio(pair.sqlite.eventsPerSecond / floorIngest.eventsPerSecond), '']);
    rows.push([`${i + 1}. relay-server, Postgres`, count(pair.postgres.eventsPerSecond), ms(pair.postgres.p50Ms), ms(pair.postgres.p99Ms), ratio(pair.postgres.eventsPerSecond / floorIngest.eventsPerSecond), ratio(r)]);
  }
  const text =
    `a) durable ingest, ${CONNECTIONS} keep-alive senders, nobody listening (${bench.warmupSeconds} s warm-up + ${bench.seconds} s)\n\n` +
    table(['store', 'events/s', 'p50 ms', 'p99 ms', '/ floor', 'PG / SQLite'], rows) +
    `\n\nPostgres / SQLite ingest: ${range(ratios, ratio)}  (target ${verdict(Math.min(...ratios), '>=', POSTGRES_RATIO_TARGET, '', POSTGRES_RATIO_TARGET.toFixed(2))}, lowest pair);` +
    ` SQLite / floor: ${range(pairs.map((p) => p.sqlite.eventsPerSecond / floorIngest.eventsPerSecond), ratio)} (ingest target ${INGEST_TARGET_RATIO.toFixed(2)})`;
  return text;
}

/** Closed-loop delivery to one relay-client on `engine`: section 2's load through one store. */
function deliveredOn(/** @type {Bench} */ bench, /** @type {Engine} */ engine, /** @type {string} */ label) {
  return withRelay(bench, label.replace(/\W+/g, '-'), engine, 0, async (server, { token }) => {
    const client = await connectClient(bench, server, token);
    try {
      const children = { 'relay-server': server.pid, 'relay-client': client.pid };
      return await measureThroughput(bench, label, `${server.url}/hooks/${CHANNEL}`, children, bench.sustainedWarmupSeconds, engine.kind === 'postgres');
    } finally {
      await client.stop();
    }
  });
}

/** b) Delivered events/s under section 2's closed loop, SQLite and Postgres alternating; then the pool sizes asked for. */
async function deliveredRows(/** @type {Bench} */ bench, /** @type {PostgresSettings} */ settings, /** @type {Engine} */ postgres) {
  const pairs = await alternate(settings.rounds, (engine, round) => deliveredOn(bench, engine, `${engine.kind} delivered ${round}`), postgres);
  /** @type {string[][]} */
  const rows = [];
  const ratios = [];
  const row = (/** @type {string} */ label, /** @type {Throughput} */ t, /** @type {string} */ r) => [label, count(t.deliveredPerSecond), count(t.acceptedPerSecond), count(t.errors), r];
  for (const [i, pair] of pairs.entries()) {
    const r = pair.postgres.deliveredPerSecond / pair.sqlite.deliveredPerSecond;
    ratios.push(r);
    rows.push(row(`${i + 1}. relay-server, SQLite`, pair.sqlite, ''), row(`${i + 1}. relay-server, Postgres`, pair.postgres, ratio(r)));
  }
  for (const size of settings.poolSizes) {
    const engine = { ...postgres, serverArgs: [...(postgres.serverArgs ?? []), '--pg-pool-size', String(size)] };
    rows.push(row(`Postgres, --pg-pool-size ${size}`, await deliveredOn(bench, engine, `postgres pool ${size}`), ''));
  }
  return (
    `b) closed loop: ${CONNECTIONS} keep-alive senders, one relay-client (section 2's load), ${bench.sustainedWarmupSeconds} s warm-up + ${bench.seconds} s\n\n` +
    table(['store', 'delivered/s', 'accepted/s', 'errors', 'PG / SQLite'], rows) +
    `\n\nPostgres / SQLite delivered/s: ${range(ratios, ratio)}  (target ${verdict(Math.min(...ratios), '>=', POSTGRES_RATIO_TARGET, '', POSTGRES_RATIO_TARGET.toFixed(2))}, lowest pair)`
  );
}

/**
 * End-to-end latency at RATE events/s: POSTed to the first instance, the client on the last
 * (the same one when there is one instance).
 */
function latencyOn(/** @type {Bench} */ bench, /** @type {Engine} */ engine, /** @type {string} */ label) {
  return withRelay(bench, label.replace(/\W+/g, '-'), engine, 0, async (ingest, { token }, relays) => {
    const delivering = relays[relays.length - 1] ?? ingest;
    const client = await connectClient(bench, delivering, token);
    try {
      const children = relays.length === 1 ? { 'relay-server': ingest.pid } : { 'relay-server A (ingest)': ingest.pid, 'relay-server B (client)': delivering.pid };
      return await measureLatency(bench, label, `${ingest.url}/hooks/${CHANNEL}`, { ...children, 'relay-client': client.pid }, engine.kind === 'postgres');
    } finally {
      await client.stop();
    }
  });
}

/** c) End-to-end latency: SQLite, Postgres with one instance, Postgres with two, in turn. */
async function latencyRows(/** @type {Bench} */ bench, /** @type {PostgresSettings} */ settings, /** @type {Engine} */ postgres) {
  /** @type {{ label: string, engine: Engine, target: number }[]} */
  const kinds = [
    { label: 'SQLite', engine: { kind: 'sqlite' }, target: LATENCY_TARGET_MS },
    { label: 'Postgres, one instance', engine: postgres, target: LATENCY_TARGET_MS },
    { label: 'Postgres, two instances: POST to A, client on B', engine: { ...postgres, instances: 2 }, target: TWO_INSTANCE_P99_TARGET_MS },
  ];
  /** @type {string[][]} */
  const rows = [];
  /** @type {Map<string, number[]>} */
  const p99s = new Map(kinds.map((k) => [k.label, []]));
  for (let round = 1; round <= settings.rounds; round++) {
    for (const kind of kinds) {
      const l = await latencyOn(bench, kind.engine, `${kind.label} latency ${round}`);
      p99s.get(kind.label)?.push(l.p99Ms);
      rows.push([`${round}. ${kind.label}`, ms(l.answerP50Ms), ms(l.answerP99Ms), ms(l.p50Ms), ms(l.p99Ms), count(l.errors), count(l.lost), `p99 ${verdict(l.p99Ms, '<=', kind.target, 'ms')}`]);
    }
  }
  const summary = kinds.map((k) => `${k.label} ${range(p99s.get(k.label) ?? [], ms)}`).join('; ');
  return (
    `c) end-to-end at ${RATE} events/s (open loop, ${bench.warmupSeconds} s warm-up + ${bench.seconds} s), POST until the handler has the body\n\n` +
    table(['store', '2xx p50 ms', '2xx p99 ms', 'p50 ms', 'p99 ms', 'errors', 'lost', 'target'], rows) +
    `\n\np99 ms: ${summary}`
  );
}

/**
 * 5. relay-server on Postgres beside relay-server on SQLite, the two alternating in each
 * measurement; skipped when Postgres cannot be reached.
 *
 * @param {Bench} bench
 * @param {PostgresSettings} settings
 * @param {(bench: Bench, title: string, body: string) => void} print
 */
export async function postgresSection(bench, settings, print) {
  const title = `5. Postgres (${describeUrl(BENCH_DATABASE_URL)}, a schema of its own) beside SQLite, relay-server as a child process, ${settings.rounds} alternating pairs`;
  try {
    const schema = await createBenchSchema();
    await schema.drop();
  } catch (error) {
    const reason = /** @type {Error} */ (error).message;
    print(bench, title, `skipped: Postgres at ${describeUrl(BENCH_DATABASE_URL)} is not reachable (${reason}); set BENCH_DATABASE_URL to use another server`);
    return;
  }
  /** @type {Engine} */
  const postgres = { kind: 'postgres', serverArgs: settings.serverArgs };
  const parts = [];
  if (settings.parts.has('a')) parts.push(await ingestRows(bench, settings, postgres));
  if (settings.parts.has('b')) parts.push(await deliveredRows(bench, settings, postgres));
  if (settings.parts.has('c')) parts.push(await latencyRows(bench, settings, postgres));
  print(bench, title, parts.join('\n\n'));
}
