/**
 * Heap tuning of the relay-client process: a tool that runs for hours on a developer's laptop
 * should not hold far more memory than it uses.
 *
 * Between full collections V8 lets the old generation grow to up to four times what survived the
 * last one. Under a steady stream of forwards most of that growth is short-lived objects that
 * happened to be in flight at two scavenges, so the resident set climbs by tens of megabytes for
 * nothing. A growth factor of 1.3 collects them sooner at no measurable CPU cost per event
 * (figures in "relay-client memory", docs/benchmarks.md). The young generation's cap is set where
 * V8 allows it, at launch: see `bin/relay-client.js`.
 */
import { setFlagsFromString } from 'node:v8';

/** Old-generation growth between full collections, in percent of what survived the last one. */
export const HEAP_GROWING_PERCENT = 30;

/**
 * Applies the tuning to this process. V8 reads the growth factor at every full collection, so
 * setting it after start-up takes effect from the next one. Runtimes without the flag ignore it.
 */
export function tuneHeap(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
