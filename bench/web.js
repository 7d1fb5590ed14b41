// Webhook Logs benchmark: `node bench/web.js` after `npm run build`. See docs/benchmarks.md#webhook-logs.
//
// 1. Durable ingest with and without three open pages (each reading /api/stream and fetching the
//    newest page of events whenever it says so), rows alternating in one run.
// 2. How soon an open page hears of a new event: POST answered → stream message → newest page
//    holding the event.
// 3. The first page of the event listing in a store of 10 events and of 100 000, p50 and p99.
// 4. The page's first-load JavaScript, compressed.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { percentile, verdict } from './delivery-report.js';
import { CHANNEL, SIGNATURE_HEADER, callAnsweredEvent, sign } from './events.js';
import { runLoad } from './load.js';
import { cpuSnapshot, NOISY_CORES, otherProcessesCores } from './machine.js';
import { runBench, secondsFromEnv } from './settings.js';
import { RARE_TEXT, fillStore, startWebRelay } from './web-store.js';

const CONNECTIONS = 32;
const PAGES = 3;
/** Rows of each kind; they alternate, so drift during the run (disk, other processes) hits both alike. */
const ROUNDS = 3;
const MAX_REQUESTS = 1_000_000;
/** Ingest with pages open should keep at least this share of the rate without them. */
const INGEST_TARGET = 0.9;
/** p99 of the first page of a 100 000-event store, in ms. */
const FIRST_PAGE_TARGET_MS = 50;
const FIRST_LOAD_BUDGET_BYTES = 100 * 1024;
const LISTING_REQUESTS = 300;
const ARRIVAL_SAMPLES = 40;

/** Starts the simulated pages in a worker thread; resolves once every stream is open. */
function openPages(url, token) {
  const worker = new Worker(new URL('./web-pages-worker.js', import.meta.url), { workerData: { url, token, pages: PAGES } });
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', () =>
      resolve({
        /** Ends the pages; resolves with what they saw. */
        close: () =>
          new Promise((done) => {
            worker.once('message', (report) => {
              void worker.terminate();
              done(report);
            });
            worker.postMessage('stop');
          }),
      }),
    );
  });
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const ms2 = (n) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');

async function ingestRows(workspace, secret, seconds, warmupSeconds) {
  const relay = await startWebRelay(workspace, secret);
  const rows = [];
  let noisiest = 0;
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const withPages of [false, true]) {
        const label = withPages ? `${PAGES} pages open` : 'no page open';
        process.stderr.write(`bench: ingest, ${label}, round ${round}: ${seconds} s after ${warmupSeconds} s warm-up …\n`);
        const pages = withPages ? await openPages(relay.url, relay.token) : undefined;
        const cpu = cpuSnapshot();
        const result = await runLoad({ url: `${relay.url}/hooks/${CHANNEL}`, secret, runTag: `web${round}${withPages ? 'p' : 'n'}${randomBytes(3).toString('hex')}`, connections: CONNECTIONS, warmupSeconds, seconds, maxRequests: MAX_REQUESTS });
        noisiest = Math.max(noisiest, otherProcessesCores(cpu));
        const seen = pages ? await pages.close() : undefined;
        const sorted = result.latenciesNs.sort();
        rows.push({
          label,
          withPages,
          eventsPerSecond: result.elapsedNs > 0 ? (result.measured * 1e9) / result.elapsedNs : 0,
          p50: percentile(sorted, 0.5) / 1e6,
          p99: percentile(sorted, 0.99) / 1e6,
          errors: result.measuredErrors,
          seen,
        });
      }
    }
    return { rows, noisiest, relay };
  } catch (error) {
    await relay.close();
    throw error;
  }
}

/** POST answered → the stream's message → the newest page lists the event; one event at a time. */
async function arrival(relay, secret) {
  const headers = { authorization: `Bearer ${relay.token}` };
  const controller = new AbortController();
  const res = await fetch(`${relay.url}/api/stream`, { headers, signal: controller.signal });
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const nextMessage = async (name) => {
    for (;;) {
      const end = buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (block.startsWith(`event: ${name}`)) return;
        continue;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error('bench: the stream ended');
      buffer += decoder.decode(value, { stream: true });
    }
  };
  await nextMessage('ready');
  const toMessage = [];
  const toListed = [];
  for (let i = 0; i < ARRIVAL_SAMPLES; i++) {
    // Spaced beyond the stream's 200 ms coalescing, as single events from MyOperator are.
    await new Promise((resolve) => setTimeout(resolve, 250));
    const id = `evt_arrival_${i}_${randomBytes(3).toString('hex')}`;
    const body = callAnsweredEvent(id);
    const post = await fetch(`${relay.url}/hooks/${CHANNEL}`, { method: 'POST', headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: sign(body, secret) }, body });
    await post.arrayBuffer();
    const answered = performance.now();
    await nextMessage('events');
    toMessage.push(performance.now() - answered);
    const page = await (await fetch(`${relay.url}/api/events?limit=50`, { headers })).json();
    if (!page.events.some((e) => e.id === id)) throw new Error(`bench: ${id} is not on the newest page after its stream message`);
    toListed.push(performance.now() - answered);
  }
  controller.abort();
  const sorted = (values) => values.sort((a, b) => a - b);
  return { toMessage: sorted(toMessage), toListed: sorted(toListed) };
}

/** p50 and p99 of `GET path`, sequential requests after a warm-up. */
async function timeListing(relay, path) {
  const headers = { authorization: `Bearer ${relay.token}` };
  const times = [];
  let last;
  for (let i = 0; i < LISTING_REQUESTS + 20; i++) {
    const began = performance.now();
    const res = await fetch(`${relay.url}${path}`, { headers });
    last = await res.json();
    if (!res.ok) throw new Error(`bench: ${path} answered ${res.status}: ${JSON.stringify(last)}`);
    if (i >= 20) times.push(performance.now() - began);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 0.5), p99: percentile(times, 0.99), events: last.events.length, scanLimited: last.scanLimited };
}

const LISTINGS = [
  ['first page, every channel (the page opening)', '/api/events?limit=50'],
  ['first page of the channel', `/api/events?channel=${CHANNEL}&limit=50`],
  ['type glob call.*', `/api/events?channel=${CHANNEL}&type=call.*&limit=50`],
  ['state delivered', `/api/events?channel=${CHANNEL}&state=delivered&limit=50`],
  ['one session (call at a glance)', `/api/events?channel=${CHANNEL}&session=call-16666&limit=100`],
  ['body text found in none of the newest 10 000', `/api/events?channel=${CHANNEL}&q=${RARE_TEXT}&limit=50`],
];

async function listingRows(workspace, secret) {
  const rows = [];
  for (const count of [10, 100_000]) {
    const dataDir = mkdtempSync(join(workspace, `listing-${count}-`));
    const relay = await startWebRelay(dataDir, secret);
    try {
      process.stderr.write(`bench: filling a store with ${fmt(count)} events …\n`);
      await fillStore(relay.store, count);
      for (const [label, path] of LISTINGS) {
        process.stderr.write(`bench: ${fmt(count)} events, ${label} …\n`);
        rows.push({ count, label, ...(await timeListing(relay, path)) });
      }
    } finally {
      await relay.close();
    }
  }
  return rows;
}

/** Every script the page loads on first load (main.js imports the rest), compressed as served. */
function firstLoadScripts() {
  const dist = fileURLToPath(new URL('../relay-server/page/dist/', import.meta.url));
  const files = (dir) => readdirSync(dir).flatMap((name) => (statSync(join(dir, name)).isDirectory() ? files(join(dir, name)) : name.endsWith('.js') ? [join(dir, name)] : []));
  let raw = 0;
  let gzip = 0;
  let brotli = 0;
  for (const path of files(dist)) {
    const source = readFileSync(path);
    raw += source.length;
    gzip += gzipSync(source, { level: 9 }).length;
    brotli += brotliCompressSync(source).length;
  }
  return { raw, gzip, brotli };
}

async function main() {
  const seconds = secondsFromEnv('BENCH_SECONDS', 3);
  const warmupSeconds = secondsFromEnv('BENCH_WARMUP_SECONDS', 1);
  const secret = `whsec_bench_${randomBytes(16).toString('hex')}`;
  const workspace = mkdtempSync(join(tmpdir(), 'myop-relay-bench-web-'));
  const onInterrupt = () => {
    rmSync(workspace, { recursive: true, force: true });
    process.kill(process.pid, 'SIGINT');
  };
  process.once('SIGINT', onInterrupt);
  try {
    const ingest = await ingestRows(mkdtempSync(join(workspace, 'ingest-')), secret, seconds, warmupSeconds);
    let delays;
    try {
      process.stderr.write(`bench: ${ARRIVAL_SAMPLES} single events, POST → stream → newest page …\n`);
      delays = await arrival(ingest.relay, secret);
    } finally {
      await ingest.relay.close();
    }
    const listings = await listingRows(workspace, secret);
    const scripts = firstLoadScripts();

    console.log(`node ${process.version}, ${availableParallelism()} cores; ${CONNECTIONS} keep-alive connections, 300-byte signed events, ${warmupSeconds} s warm-up + ${seconds} s per row\n`);
    console.log('1. Durable ingest with Webhook Logs pages open (rows alternate)\n');
    console.log(`${'row'.padEnd(16)}  ${'events/s'.padStart(9)}  ${'p50 ms'.padStart(7)}  ${'p99 ms'.padStart(7)}  ${'errors'.padStart(6)}  stream messages / page fetches`);
    for (const row of ingest.rows) {
      const seen = row.seen ? `${fmt(row.seen.messages)} / ${fmt(row.seen.fetches)}${row.seen.failures ? ` (${row.seen.failures} failed)` : ''}` : '';
      console.log(`${row.label.padEnd(16)}  ${fmt(row.eventsPerSecond).padStart(9)}  ${ms2(row.p50).padStart(7)}  ${ms2(row.p99).padStart(7)}  ${String(row.errors).padStart(6)}  ${seen}`);
    }
    const mean = (withPages) => {
      const rows = ingest.rows.filter((r) => r.withPages === withPages);
      return rows.reduce((sum, r) => sum + r.eventsPerSecond, 0) / rows.length;
    };
    const ratio = mean(true) / mean(false);
    console.log(`\nmean: ${fmt(mean(false))} events/s without pages, ${fmt(mean(true))} with ${PAGES}; ratio ${ratio.toFixed(3)}  ${verdict(ratio, '>=', INGEST_TARGET)}`);

    console.log(`\n2. A new event reaching an open page (${ARRIVAL_SAMPLES} single events)\n`);
    console.log(`POST answered → stream message: p50 ${ms2(percentile(delays.toMessage, 0.5))} ms, p99 ${ms2(percentile(delays.toMessage, 0.99))} ms`);
    console.log(`POST answered → listed on the newest page: p50 ${ms2(percentile(delays.toListed, 0.5))} ms, p99 ${ms2(percentile(delays.toListed, 0.99))} ms  ${verdict(percentile(delays.toListed, 0.99), '<=', 1000, 'ms')}`);

    console.log(`\n3. The event listing, ${LISTING_REQUESTS} sequential requests per row\n`);
    console.log(`${'store'.padEnd(8)}  ${'query'.padEnd(46)}  ${'p50 ms'.padStart(7)}  ${'p99 ms'.padStart(7)}  events`);
    for (const row of listings) {
      const note = row.scanLimited ? ' (scan limit reached)' : '';
      console.log(`${fmt(row.count).padEnd(8)}  ${row.label.padEnd(46)}  ${ms2(row.p50).padStart(7)}  ${ms2(row.p99).padStart(7)}  ${row.events}${note}`);
    }
    const big = listings.find((r) => r.count === 100_000 && r.label === LISTINGS[0][0]);
    console.log(`\nfirst page of 100 000 events, p99: ${ms2(big?.p99)} ms  ${verdict(big?.p99, '<=', FIRST_PAGE_TARGET_MS, 'ms')}`);

    console.log('\n4. First-load JavaScript of the page\n');
    console.log(`${fmt(scripts.raw)} bytes; ${fmt(scripts.gzip)} with gzip, ${fmt(scripts.brotli)} with brotli  ${verdict(scripts.gzip, '<=', FIRST_LOAD_BUDGET_BYTES, 'bytes gzip', '102,400')}`);
    if (ingest.noisiest > NOISY_CORES) {
      console.log(`\nwarning: other processes kept up to ${ingest.noisiest.toFixed(2)} cores busy during the ingest rows; run again on a quiet machine`);
    }
  } finally {
    process.off('SIGINT', onInterrupt);
    rmSync(workspace, { recursive: true, force: true });
  }
}

await runBench(main);
