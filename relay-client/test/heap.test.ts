/**
 * relay-client's heap tuning (src/heap.ts), in a node process of its own: under a workload that
 * keeps objects alive across scavenges, as forwards in flight do, the young generation must not
 * grow once the tuning is applied.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const HEAP_MODULE = new URL('../dist/heap.js', import.meta.url).href;
const run = promisify(execFile);

/** The young generation's size in bytes after the workload, with or without the tuning. */
async function newSpaceAfterLoad(tuned: boolean): Promise<number> {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    if (process.argv[1] === 'tuned') (await import(${JSON.stringify(HEAP_MODULE)})).tuneHeap();
    const inFlight = new Array(4000);
    for (let i = 0; i < 2_000_000; i++) inFlight[i % inFlight.length] = { i, text: String(i).repeat(4), parts: [i, i + 1] };
    const young = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
    process.stdout.write(String(young.space_size));
  `;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script, tuned ? 'tuned' : 'default']);
  return Number(stdout);
}

describe('tuneHeap', () => {
  it('keeps the young generation at its size while V8 would otherwise grow it', async () => {
    const [untuned, tuned] = await Promise.all([newSpaceAfterLoad(false), newSpaceAfterLoad(true)]);
    // Without the tuning the workload makes V8 grow the young generation well past its start.
    expect(untuned).toBeGreaterThanOrEqual(8 * 1024 * 1024);
    expect(tuned).toBeLessThanOrEqual(4 * 1024 * 1024);
  });
});
