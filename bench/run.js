// Ingest benchmark: `npm run bench`. See docs/benchmarks.md.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { EVENT_BYTES } from './events.js';
import { startFloor, startRelay } from './ingest.js';
import { runLoad } from './load.js';
import { runBench, secondsFromEnv } from './settings.js';
import { cpuSnapshot, formatWakeUpCosts, fsyncMs, NOISY_CORES, otherProcessesCores, wakeUpCost } from './machine.js';
import { formatBusy, formatRatio, formatScrapeRatio, formatTable, toRow } from './report.js';
import { startScraper } from './scrape.js';

/** @typedef {import('./ingest.js').RunningTarget} RunningTarget */
/** @typedef {import('./load.js').LoadResult} LoadResult */

/** How often row (c) scrapes /metrics, as a Prometheus with a 1 s scrape_interval would. */
const SCRAPE_EVERY_MS = 1_000;

/** Concurrent keep-alive connections, each with one request in flight. */
const CONNECTIONS = 32;
/** Hard stop per target, warm-up included, whatever the duration. */
const MAX_REQUESTS = 1_000_000;

/**
 * Starts a target, drives it with the load generator, and stops it again. A target with a
 * `metricsUrl` is scraped every {@link SCRAPE_EVERY_MS} meanwhile, from a worker thread.
 *
 * @param {string} name  for progress lines
 * @param {() => Promise<RunningTarget & { metricsUrl?: string }>} start
 * @param {Omit<import('./load.js').LoadOptions, 'url'>} load
 * @returns {Promise<{ result: LoadResult, stored: number | undefined, serverBusy: number, otherCores: number, scrape?: import('./scrape.js').ScrapeResult }>}
 */
async function measure(name, start, load) {
  process.stderr.write(`bench: ${name} ingest ${load.seconds} s (after ${load.warmupSeconds} s warm-up) …\n`);
  const target = await start();
  try {
    const startUtilization = performance.eventLoopUtilization();
    const startCpu = cpuSnapshot();
    const scraper = target.metricsUrl === undefined ? undefined : startScraper(target.metricsUrl, SCRAPE_EVERY_MS);
    const result = await runLoad({ ...load, url: target.url });
    const scrape = await scraper?.stop();
    const serverBusy = performance.eventLoopUtilization(startUtilization).utilization;
    const otherCores = otherProcessesCores(startCpu);
    const stored = target.storedEvents ? await target.storedEvents() : undefined;
    for (const [reason, count] of Object.entries(result.failures)) {
      process.stderr.write(`bench: ${name}: ${count.toLocaleString('en-US')} × ${reason}\n`);
    }
    return { result, stored, serverBusy, otherCores, ...(scrape ? { scrape } : {}) };
  } finally {
    await target.close();
  }
}

/** The store check: a 200 that left nothing in the store, or a stored event that got an error, is a bug. */
function storeCheck(/** @type {LoadResult} */ result, /** @type {number} */ stored) {
  const fmt = (/** @type {number} */ n) => n.toLocaleString('en-US');
  const verdict = stored === result.answered2xx ? 'OK' : 'MISMATCH';
  return { ok: verdict === 'OK', text: `relay-server store check: ${fmt(stored)} events stored, ${fmt(result.answered2xx)} answered 2xx (warm-up included)  ${verdict}` };
}

async function main() {
  const seconds = secondsFromEnv('BENCH_SECONDS', 5);
  const warmupSeconds = secondsFromEnv('BENCH_WARMUP_SECONDS', 1, { allowZero: true });
  const secret = `whsec_bench_${randomBytes(16).toString('hex')}`;
  const load = { secret, connections: CONNECTIONS, warmupSeconds, seconds, maxRequests: MAX_REQUESTS };
  const workspace = mkdtempSync(join(tmpdir(), 'myop-relay-bench-'));
  const removeWorkspace = () => rmSync(workspace, { recursive: true, force: true });
  // Ctrl-C must not leave a database behind: clean up, then die of the signal as usual.
  const onInterrupt = () => {
    removeWorkspace();
    process.kill(process.pid, 'SIGINT');
  };
  process.once('SIGINT', onInterrupt);

  try {
    const fsyncBefore = fsyncMs(workspace);
    const wakeUpBefore = await wakeUpCost();
    const floor = await measure('fastify floor', () => startFloor(secret), { ...load, runTag: 'floor' });
    const relay = await measure('relay-server', () => startRelay(secret, workspace), { ...load, runTag: 'relay' });
    // (c) between (b) and (b'), the same server before and after it, so drift shows and averages out.
    const fresh = (/** @type {string} */ name) => {
      const dir = join(workspace, name);
      mkdirSync(dir);
      return dir;
    };
    const scraped = await measure('relay-server, /metrics scraped every 1 s,', () => startRelay(secret, fresh('scraped'), { metricsListen: true }), { ...load, runTag: 'scraped' });
    const again = await measure('relay-server again', () => startRelay(secret, fresh('again')), { ...load, runTag: 'again' });
    const rows = [toRow('(a) fastify floor', floor), toRow('(b) relay-server', relay), toRow('(c) (b) + /metrics 1 s', scraped), toRow("(b') relay-server", again)];
    const checks = [relay, scraped, again].map((m) => storeCheck(m.result, m.stored ?? 0));
    const check = { ok: checks.every((c) => c.ok), text: checks.map((c, i) => `${['(b)', '(c)', "(b')"][i]} ${c.text}`).join('\n') };

    console.log(
      `node ${process.version}, ${availableParallelism()} cores; ${CONNECTIONS} keep-alive connections, ` +
        `${EVENT_BYTES}-byte signed events, ${warmupSeconds} s warm-up + ${seconds} s per target\n`,
    );
    console.log(formatTable(rows));
    console.log('');
    console.log(formatBusy(rows));
    console.log('');
    console.log(formatRatio(rows[1], rows[0]));
    console.log(formatScrapeRatio(rows[2], [rows[1], rows[3]], scraped.scrape));
    console.log(check.text);
    // Every durable commit waits for a flush like this one: the figure that moves (b) most between runs.
    console.log(`disk: 4 KiB append + fdatasync in ${tmpdir()}, median of 50: ${fsyncBefore.toFixed(2)} ms before the run, ${fsyncMs(workspace).toFixed(2)} ms after`);
    console.log(formatWakeUpCosts(wakeUpBefore, await wakeUpCost()));
    const noisiest = Math.max(floor.otherCores, relay.otherCores, scraped.otherCores, again.otherCores);
    if (noisiest > NOISY_CORES) {
      console.log(`warning: other processes kept up to ${noisiest.toFixed(2)} cores busy during the run; these figures are not comparable, run again on a quiet machine`);
    }
    // Not a timing assertion: a mismatch means the figures above count something other than stored events.
    if (!check.ok) process.exitCode = 1;
  } finally {
    process.off('SIGINT', onInterrupt);
    removeWorkspace();
  }
}

await runBench(main);
