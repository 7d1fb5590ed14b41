/** @typedef {import('./load.js').LoadResult} LoadResult */

/**
 * @typedef {object} Row
 * @property {string} label
 * @property {number} eventsPerSecond  measured requests per second of the window
 * @property {number} p50Ms
 * @property {number} p99Ms
 * @property {number} errors  non-2xx answers and failed requests in the window
 * @property {number} serverBusy  share of the run the server's event loop was busy (0..1)
 * @property {number} loadBusy    the same for the load generator's
 * @property {number} otherCores  cores other processes kept busy meanwhile, on average
 */

/** The relay's throughput over the floor's at or above which the relay is where it should be. */
export const TARGET_RATIO = 0.7;

/** Throughput while /metrics is scraped every second, over throughput without, at or above which metrics cost what they should. */
export const SCRAPE_TARGET_RATIO = 0.95;

/** Nearest-rank percentile of sorted values. */
function percentile(sorted, fraction) {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(fraction * sorted.length));
  return sorted[rank - 1];
}

/**
 * Turns one target's measurement into a table row.
 *
 * @param {string} label
 * @param {{ result: LoadResult, serverBusy: number, otherCores: number }} measurement
 * @returns {Row}
 */
export function toRow(label, { result, serverBusy, otherCores }) {
  const sorted = result.latenciesNs.sort();
  return {
    label,
    eventsPerSecond: result.elapsedNs > 0 ? (result.measured * 1e9) / result.elapsedNs : 0,
    p50Ms: percentile(sorted, 0.5) / 1e6,
    p99Ms: percentile(sorted, 0.99) / 1e6,
    errors: result.measuredErrors,
    serverBusy,
    loadBusy: result.busy,
    otherCores,
  };
}

const COLUMNS = [
  { title: 'target', width: 22, cell: (/** @type {Row} */ row) => row.label },
  { title: 'events/s', width: 10, cell: (/** @type {Row} */ row) => Math.round(row.eventsPerSecond).toLocaleString('en-US') },
  { title: 'p50 ms', width: 8, cell: (/** @type {Row} */ row) => row.p50Ms.toFixed(2) },
  { title: 'p99 ms', width: 8, cell: (/** @type {Row} */ row) => row.p99Ms.toFixed(2) },
  { title: 'errors', width: 8, cell: (/** @type {Row} */ row) => row.errors.toLocaleString('en-US') },
];

function line(/** @type {string[]} */ cells) {
  return cells.map((text, i) => (i === 0 ? text.padEnd(COLUMNS[i].width) : text.padStart(COLUMNS[i].width))).join('  ');
}

/**
 * The results table, one row per target.
 *
 * @param {Row[]} rows
 * @returns {string}
 */
export function formatTable(rows) {
  const header = line(COLUMNS.map((column) => column.title));
  const rule = '-'.repeat(header.length);
  return [header, rule, ...rows.map((row) => line(COLUMNS.map((column) => column.cell(row))))].join('\n');
}

const percent = (/** @type {number} */ share) => `${Math.round(share * 100)}%`;

/**
 * How busy each side's event loop was: a server near 100% is the limit; a load generator near
 * 100% means the row shows the generator's ceiling rather than the server's. Other processes'
 * CPU use tells whether the run had the machine to itself.
 *
 * @param {Row[]} rows
 * @returns {string}
 */
export function formatBusy(rows) {
  return rows
    .map(
      (row) =>
        `${row.label}: server event loop ${percent(row.serverBusy)} busy, load generator ${percent(row.loadBusy)} busy, ` +
        `other processes ${row.otherCores.toFixed(2)} cores`,
    )
    .join('\n');
}

/**
 * The b/a line: the relay's events/s over the floor's, against {@link TARGET_RATIO}. Informative
 * only: a benchmark never fails a build.
 *
 * @param {Row} relay
 * @param {Row} floor
 * @returns {string}
 */
export function formatRatio(relay, floor) {
  const ratio = floor.eventsPerSecond > 0 ? relay.eventsPerSecond / floor.eventsPerSecond : 0;
  const verdict = ratio >= TARGET_RATIO ? 'PASS' : 'BELOW TARGET';
  return `relay-server / floor (b/a events/s): ${ratio.toFixed(2)}  (target >= ${TARGET_RATIO.toFixed(2)})  ${verdict}`;
}

/**
 * The c/b line: events/s while /metrics was scraped every second, over the mean of the same
 * server without scrapes before and after, against {@link SCRAPE_TARGET_RATIO}; with what the
 * scrapes were. Informative only, like {@link formatRatio}.
 *
 * @param {Row} scraped
 * @param {Row[]} unscraped
 * @param {import('./scrape.js').ScrapeResult | undefined} scrape
 * @returns {string}
 */
export function formatScrapeRatio(scraped, unscraped, scrape) {
  const mean = unscraped.reduce((sum, row) => sum + row.eventsPerSecond, 0) / unscraped.length;
  const ratio = mean > 0 ? scraped.eventsPerSecond / mean : 0;
  const verdict = ratio >= SCRAPE_TARGET_RATIO ? 'PASS' : 'BELOW TARGET';
  const scrapes = scrape
    ? `${scrape.scrapes} scrapes, ${scrape.failures} failed, ${scrape.meanMs.toFixed(1)} ms and ${(scrape.bytes / 1024).toFixed(1)} KiB each`
    : 'no scrapes';
  return (
    `relay-server with /metrics scraped / without (c / mean of b, b' events/s): ${ratio.toFixed(2)}  (target >= ${SCRAPE_TARGET_RATIO.toFixed(2)})  ${verdict}\n` +
    `  (c): ${scrapes}`
  );
}
