import { describe, expect, it } from 'vitest';
import { KeyedBatches } from '../src/store/keyed-batches.js';

/** A batch runner over an in-memory log: records each batch's items, commits it or not. */
function recorder(options: { failFirst?: number } = {}) {
  const committed: string[][] = [];
  let failures = options.failFirst ?? 0;
  const batches = new KeyedBatches<string, string>(async (_key, items) => {
    await new Promise((resolve) => setImmediate(resolve));
    if (failures > 0) {
      failures -= 1;
      throw new Error('commit failed');
    }
    committed.push(items);
    return items.map((item) => `${item} done`);
  });
  return { committed, batches };
}

describe('KeyedBatches', () => {
  it('runs the work of one turn in one batch, in order, and later work in the next', async () => {
    const { committed, batches } = recorder();
    const first = [batches.run('a', 'a1'), batches.run('a', 'a2'), batches.run('b', 'b1')];
    await new Promise((resolve) => setImmediate(resolve));
    // Asked for while a's first batch runs: waits for the next one.
    const later = batches.run('a', 'a3');
    expect(batches.has('a')).toBe(true);
    expect(await Promise.all([...first, later])).toEqual(['a1 done', 'a2 done', 'b1 done', 'a3 done']);
    // Keys run side by side, so only the order within a key is fixed.
    expect(committed.filter((items) => items[0]?.startsWith('a'))).toEqual([['a1', 'a2'], ['a3']]);
    expect(committed.filter((items) => items[0]?.startsWith('b'))).toEqual([['b1']]);
    expect(batches.has('a')).toBe(false);
  });

  it('fails every item of a batch that failed, and carries on with the next', async () => {
    const { committed, batches } = recorder({ failFirst: 1 });
    const failed = [batches.run('a', 'a1'), batches.run('a', 'a2')].map((p) => p.catch((error: Error) => error.message));
    expect(await Promise.all(failed)).toEqual(['commit failed', 'commit failed']);
    expect(await batches.run('a', 'a3')).toBe('a3 done');
    expect(committed).toEqual([['a3']]);
  });

  it('is idle only when every batch asked for has finished', async () => {
    const { committed, batches } = recorder();
    void batches.run('a', 'a1');
    void batches.run('b', 'b1');
    await batches.idle();
    expect(committed).toHaveLength(2);
  });
});
