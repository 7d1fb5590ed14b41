interface Pending<Item, Result> {
  item: Item;
  resolve: (value: Result) => void;
  reject: (error: unknown) => void;
}

interface Key<Item, Result> {
  pending: Pending<Item, Result>[];
  /** A batch is running or about to: new work waits for the next one. */
  busy: boolean;
}

/**
 * Runs work in batches per key: the items asked for in one event-loop turn, and all that come
 * while a batch of the same key runs, go into the key's next batch. Batches of one key run one
 * after another, each given its items in the order they were asked for, so later work sees the
 * effect of earlier work. Keys run side by side.
 */
export class KeyedBatches<Item, Result> {
  readonly #keys = new Map<string, Key<Item, Result>>();
  readonly #running = new Set<Promise<void>>();

  /**
   * @param runBatch - does one batch's items (e.g. in one transaction) and resolves with a result
   *   per item, in order; a rejection fails every item of the batch.
   */
  constructor(private readonly runBatch: (key: string, items: Item[]) => Promise<Result[]>) {}

  /** Resolves with the item's result once its batch has run; rejects when the batch failed. */
  run(key: string, item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      let entry = this.#keys.get(key);
      if (entry === undefined) {
        entry = { pending: [], busy: false };
        this.#keys.set(key, entry);
      }
      entry.pending.push({ item, resolve, reject });
      this.#schedule(key, entry);
    });
  }

  #schedule(key: string, entry: Key<Item, Result>): void {
    if (entry.busy || entry.pending.length === 0) return;
    entry.busy = true;
    // setImmediate runs after the turn's I/O callbacks, so their work joins this batch.
    setImmediate(() => {
      const running = this.#runBatch(key, entry);
      this.#running.add(running);
      void running.finally(() => this.#running.delete(running));
    });
  }

  async #runBatch(key: string, entry: Key<Item, Result>): Promise<void> {
    const batch = entry.pending.splice(0);
    try {
      const results = await this.runBatch(key, batch.map((p) => p.item));
      batch.forEach((pending, i) => pending.resolve(results[i] as Result));
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    } finally {
      entry.busy = false;
      if (entry.pending.length > 0) this.#schedule(key, entry);
      else this.#keys.delete(key);
    }
  }

  /** Whether work of `key` is queued or running. */
  has(key: string): boolean {
    return this.#keys.has(key);
  }

  /** Resolves once no batch is running or waiting to run. */
  async idle(): Promise<void> {
    while (this.#running.size > 0 || [...this.#keys.values()].some((entry) => entry.busy)) {
      await Promise.all(this.#running);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
