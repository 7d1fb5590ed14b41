/**
 * Heap tuning of the relay-client process: a tool that runs for hours on a developer's laptop
 * should not hold far more memory than it uses.
 *
 * Under a steady stream of forwards, V8 by default grows the young generation from 2 × 1 MB to
 * 2 × 16 MB, and lets the old generation grow to up to four times what survived the last full
 * collection, mostly with short-lived objects that happened to be in flight at two scavenges. The
 * resident set then climbs by 40–60 MB for nothing. Keeping the young generation at the size it
 * reached while the CLI loaded (2 × 2 MB) and letting the old generation grow by 30% collects
 * that garbage sooner, for a few percent more CPU per event (section 4 in docs/benchmarks.md,
 * "What limits each figure").
 *
 * V8 reads both settings whenever it decides to grow a space, so setting them once the process
 * runs works, however relay-client was started (its executable, `node dist/cli.js`, Deno).
 *
 * The forwarder's HTTP parser (llhttp, inside undici) is WebAssembly. Optimizing its one large
 * parse function in the background takes some 20 MB of compiler memory, which the C allocator then
 * keeps; V8's baseline WebAssembly code (Liftoff) parses a local handler's short answers about as
 * fast for this use. V8 reads that setting when it compiles a module, and undici compiles llhttp
 * when the forwarder first loads it, after this tuning.
 */
import { setFlagsFromString } from 'node:v8';

/** Old-generation growth between full collections, in percent of what survived the last one. */
export const HEAP_GROWING_PERCENT = 30;

/** Applies the tuning to this process: to the heap from the next garbage collection on, to WebAssembly compiled from now on. */
export function tuneHeap(): void {
  // A growth factor of 1 keeps the young generation at the size it has now.
  setFlagsFromString('--semi-space-growth-factor=1');
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  setFlagsFromString('--liftoff-only');
}
