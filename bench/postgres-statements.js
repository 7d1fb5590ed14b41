// Postgres CPU per hot statement: `node bench/postgres-statements.js`. See docs/benchmarks.md.
//
// The relay's Postgres store in this process, on a schema of its own, does one thing at a time:
// appends one event after another (the append and the synchronous commit its 2xx waits for),
// then claims each of them alone and acks it (two consumer turns). Each row reports the wall time
// per operation and the CPU the local Postgres processes and this process spent on it: the cost
// an event pays when it arrives alone, which is what a quiet relay pays for every event.
import { tmpdir } from 'node:os';
import { openConfiguredStore } from '../relay-server/dist/index.js';
import { betterSqliteDriver } from '../relay-server/dist/store/sqlite-better.js';
import { cpuSecondsByName } from './delivery-processes.js';
import { numberFromEnv, SettingError } from './settings.js';
import { count, ms, table } from './delivery-report.js';
import { CONSUMER, prepareStore, storedEvent } from './delivery-store.js';
import { CHANNEL, signedEvents } from './events.js';
import { BENCH_DATABASE_URL, createBenchSchema, describeUrl } from './postgres-schema.js';

/** Seconds of CPU all local `postgres` processes have used, by pid. */
function postgresCpu() {
  return cpuSecondsByName('postgres');
}

/** Runs `operation` `times` times in a row; resolves with wall and CPU milliseconds per operation. */
async function measure(/** @type {number} */ times, /** @type {(i: number) => Promise<void>} */ operation) {
  const postgresBefore = postgresCpu();
  const ownBefore = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < times; i++) await operation(i);
  const wallMs = performance.now() - started;
  const own = process.cpuUsage(ownBefore);
  let postgresSeconds = 0;
  // Backends opened meanwhile count from zero.
  for (const [pid, seconds] of postgresCpu()) postgresSeconds += seconds - (postgresBefore.get(pid) ?? 0);
  return { wallMs: wallMs / times, postgresMs: (postgresSeconds * 1000) / times, ownMs: (own.user + own.system) / 1000 / times };
}

async function main() {
  const operations = numberFromEnv('BENCH_PG_STATEMENTS', 2_000, { integer: true });
  const secret = `whsec_bench_${Date.now().toString(36)}_statements`;
  let schema;
  try {
    schema = await createBenchSchema();
  } catch (error) {
    console.log(`Postgres statements: skipped, ${describeUrl(BENCH_DATABASE_URL)} is not reachable (${/** @type {Error} */ (error).message}); set BENCH_DATABASE_URL to use another server`);
    return;
  }
  try {
    // The data directory is not used with a database URL.
    const config = { dataDir: tmpdir(), databaseUrl: schema.url };
    await prepareStore(config, { secret });
    const { store } = await openConfiguredStore(config, betterSqliteDriver);
    try {
      const nextEvent = signedEvents(secret, 'statements');
      // Warm-up: each connection plans its statements on first use.
      for (let i = 0; i < 200; i++) await store.appendEvent(storedEvent(nextEvent()));
      const claim = () => store.claimDeliveries({ channel: CHANNEL, consumer: CONSUMER, session: 'bench-statements', limit: 1, ordered: false, now: new Date(), leaseMs: 60_000 });
      /** @type {(delivery: import('../relay-server/dist/store/store.js').Delivery) => Promise<boolean>} */
      const ack = (delivery) =>
        store.ackDelivery({ channel: CHANNEL, consumer: CONSUMER, seq: delivery.event.seq, attempt: delivery.attempt, session: 'bench-statements', now: new Date(), latencyMs: 1, status: 200 });
      for (let claimed = await claim(); claimed.length > 0; claimed = await claim()) for (const delivery of claimed) await ack(delivery);

      const append = await measure(operations, async () => {
        await store.appendEvent(storedEvent(nextEvent()));
      });
      let acked = 0;
      const turns = await measure(operations, async () => {
        for (const delivery of await claim()) if (await ack(delivery)) acked += 1;
      });
      if (acked !== operations) throw new Error(`claimed and acked ${acked} of ${operations} events`);
      const row = (/** @type {string} */ label, /** @type {{ wallMs: number, postgresMs: number, ownMs: number }} */ m) => [label, count(operations), ms(m.wallMs), ms(m.postgresMs), ms(m.ownMs)];
      console.log(
        `Postgres statements (${describeUrl(BENCH_DATABASE_URL)}, a schema of its own), one operation at a time after 200 of warm-up\n\n` +
          table(
            ['operation', 'count', 'wall ms', 'Postgres CPU ms', 'this process CPU ms'],
            [row('append one event (append + the commit its 2xx waits for)', append), row('claim one event, then ack it (two turns)', turns)],
          ) +
          '\n\nPostgres CPU counts every local postgres process, so other work on the server shows in it; compare rows of one run.',
      );
    } finally {
      await store.close();
    }
  } finally {
    await schema.drop();
  }
}

main().catch((error) => {
  // Postgres unreachable or refusing is said in one line too.
  console.error(error instanceof SettingError ? error.message : `bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
