interface Item<Tx> {
  work: (tx: Tx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

interface Key<Tx> {
  pending: Item<Tx>[];
  /** A batch is running or about to: new work waits for the next one. */
  busy: boolean;
}

/**
 * Runs work in batches per key, each batch in one transaction: the work asked for in one
 * event-loop turn, and all that comes while a batch of the same key runs, goes into the key's
 * next batch. Batches of one key run one after another, and work runs in the order it was asked
 * for, so later work sees the effect of earlier work.
 */
export class KeyedBatches<Tx> {
  readonly #keys = new Map<string, Key<Tx>>();
  readonly #running = new Set<Promise<void>>();

  /**
   * @param transaction - runs `work` in one transaction and commits it; it may run `work` again
   *   after a retryable failure, so `work` starts afresh each time.
   */
  constructor(private readonly transaction: (work: (tx: Tx) => Promise<void>) => Promise<void>) {}

  /** Resolves with `work`'s result once its batch has committed; rejects when the batch failed. */
  run<T>(key: string, work: (tx: Tx) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let entry = this.#keys.get(key);
      if (entry === undefined) {
        entry = { pending: [], busy: false };
        this.#keys.set(key, entry);
      }
      entry.pending.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule(key, entry);
    });
  }

  #schedule(key: string, entry: Key<Tx>): void {
    if (entry.busy || entry.pending.length === 0) return;
    entry.busy = true;
    // setImmediate runs after the turn's I/O callbacks, so their work joins this batch.
    setImmediate(() => {
      const running = this.#runBatch(key, entry);
      this.#running.add(running);
      void running.finally(() => this.#running.delete(running));
    });
  }

  async #runBatch(key: string, entry: Key<Tx>): Promise<void> {
    const batch = entry.pending.splice(0);
    let results: unknown[] = [];
    try {
      await this.transaction(async (tx) => {
        results = [];
        for (const item of batch) results.push(await item.work(tx));
      });
      batch.forEach((item, i) => item.resolve(results[i]));
    } catch (error) {
      for (const item of batch) item.reject(error);
    } finally {
      entry.busy = false;
      if (entry.pending.length > 0) this.#schedule(key, entry);
      else this.#keys.delete(key);
    }
  }

  /** Resolves once no batch is running or waiting to run. */
  async idle(): Promise<void> {
    while (this.#running.size > 0 || [...this.#keys.values()].some((entry) => entry.busy)) {
      await Promise.all(this.#running);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
