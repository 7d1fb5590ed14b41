// Formatting for bench/delivery.js: aligned tables, percentiles and target verdicts.

/** Nearest-rank percentile of values sorted ascending; NaN when there are none. */
export function percentile(/** @type {ArrayLike<number>} */ sorted, /** @type {number} */ fraction) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.max(1, Math.ceil(fraction * sorted.length)) - 1];
}

/** An integer with thousands separators. */
export const count = (/** @type {number} */ n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
/** Milliseconds with two decimals. */
export const ms = (/** @type {number} */ n) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');
/** Bytes as MB (10^6), one decimal. */
export const megabytes = (/** @type {number | undefined} */ n) => (n === undefined ? 'n/a' : (n / 1e6).toFixed(1));

/**
 * `value` against a target, e.g. "<= 10 ms  PASS". A benchmark informs: a miss is printed, never
 * turned into an exit code.
 *
 * @param {number | undefined} value
 * @param {'<=' | '>='} direction
 * @param {number} target
 * @param {string} [unit]  printed after the target
 * @param {string} [format]  how the target is written, when not plainly
 */
export function verdict(value, direction, target, unit = '', format = String(target)) {
  const text = `${direction} ${format}${unit ? ` ${unit}` : ''}`;
  if (value === undefined || !Number.isFinite(value)) return `${text}  n/a`;
  const met = direction === '<=' ? value <= target : value >= target;
  return `${text}  ${met ? 'PASS' : 'BELOW TARGET'}`;
}

/**
 * An aligned table: the first column left-aligned, the others right-aligned, except a last column
 * titled "target", which reads better left-aligned.
 *
 * @param {string[]} titles
 * @param {string[][]} rows
 * @returns {string}
 */
export function table(titles, rows) {
  const widths = titles.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const leftAligned = (/** @type {number} */ i) => i === 0 || titles[i] === 'target';
  const line = (/** @type {string[]} */ cells) =>
    cells
      .map((cell, i) => (leftAligned(i) ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  const rule = '-'.repeat(widths.reduce((sum, width) => sum + width, 2 * (widths.length - 1)));
  return [line(titles), rule, ...rows.map(line)].join('\n');
}
