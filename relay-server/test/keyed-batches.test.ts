import { describe, expect, it } from 'vitest';
import { KeyedBatches } from '../src/store/keyed-batches.js';

/** A transaction runner over an in-memory log: records each batch's work, commits it or not. */
function recorder(options: { failFirst?: number; retryOnce?: boolean } = {}) {
  const committed: string[][] = [];
  let failures = options.failFirst ?? 0;
  const batches = new KeyedBatches<string[]>(async (work) => {
    const attempts = options.retryOnce ? 2 : 1;
    for (let attempt = 1; ; attempt++) {
      const tx: string[] = [];
      try {
        await work(tx);
        if (options.retryOnce && attempt === 1) throw new Error('serialization failure');
        if (failures > 0) {
          failures -= 1;
          throw new Error('commit failed');
        }
        committed.push(tx);
        return;
      } catch (error) {
        if (attempt >= attempts) throw error;
      }
    }
  });
  const step = (name: string) => async (tx: string[]) => {
    tx.push(name);
    await new Promise((resolve) => setImmediate(resolve));
    return `${name} done`;
  };
  return { committed, batches, step };
}

describe('KeyedBatches', () => {
  it('runs the work of one turn in one transaction, in order, and later work in the next', async () => {
    const { committed, batches, step } = recorder();
    const first = [batches.run('a', step('a1')), batches.run('a', step('a2')), batches.run('b', step('b1'))];
    await new Promise((resolve) => setImmediate(resolve));
    // Asked for while a's first batch runs: waits for the next one.
    const later = batches.run('a', step('a3'));
    expect(await Promise.all([...first, later])).toEqual(['a1 done', 'a2 done', 'b1 done', 'a3 done']);
    // Keys run side by side, so only the order within a key is fixed.
    expect(committed.filter((tx) => tx[0]?.startsWith('a'))).toEqual([['a1', 'a2'], ['a3']]);
    expect(committed.filter((tx) => tx[0]?.startsWith('b'))).toEqual([['b1']]);
  });

  it('fails every piece of work of a batch whose transaction failed, and carries on with the next', async () => {
    const { committed, batches, step } = recorder({ failFirst: 1 });
    const failed = [batches.run('a', step('a1')), batches.run('a', step('a2'))].map((p) => p.catch((error: Error) => error.message));
    expect(await Promise.all(failed)).toEqual(['commit failed', 'commit failed']);
    expect(await batches.run('a', step('a3'))).toBe('a3 done');
    expect(committed).toEqual([['a3']]);
  });

  it('starts the work afresh when the transaction runs it again', async () => {
    const { committed, batches, step } = recorder({ retryOnce: true });
    expect(await Promise.all([batches.run('a', step('a1')), batches.run('a', step('a2'))])).toEqual(['a1 done', 'a2 done']);
    expect(committed).toEqual([['a1', 'a2']]);
  });

  it('is idle only when every batch asked for has finished', async () => {
    const { committed, batches, step } = recorder();
    void batches.run('a', step('a1'));
    void batches.run('b', step('b1'));
    await batches.idle();
    expect(committed).toHaveLength(2);
  });
});
