import type { FastifyBaseLogger } from 'fastify';
import type { RetentionPolicy, Store } from './store/store.js';

/** Options of {@link RetentionPruner}. */
export interface RetentionOptions {
  store: Store;
  policy: RetentionPolicy;
  /** Time between runs. */
  intervalMs: number;
  /** Events deleted per transaction; small batches keep ingest flowing between them. Default 500. */
  batchSize?: number;
  log: FastifyBaseLogger;
  now?: () => Date;
  /** Hears how many events each deleting transaction removed (metrics). Default: nobody. */
  onRemoved?: (events: number) => void;
}

/**
 * Deletes events that the retention policy no longer keeps, in the background. Each run deletes
 * in small transactions and yields to the event loop between them, so ingest never waits long.
 */
export class RetentionPruner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private stopped = false;

  constructor(private readonly options: RetentionOptions) {}

  /** Runs now and then every `intervalMs` until {@link stop}. */
  start(): void {
    const tick = (): void => {
      void this.runOnce().finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.options.intervalMs).unref();
      });
    };
    tick();
  }

  /** One full pass; resolves with the number of events removed. Concurrent calls share the pass. */
  runOnce(): Promise<number> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<number> {
    const { store, policy, log } = this.options;
    const batchSize = this.options.batchSize ?? 500;
    const now = (this.options.now ?? (() => new Date()))();
    let total = 0;
    try {
      for (;;) {
        if (this.stopped) break;
        const removed = await store.prune(policy, now, batchSize);
        total += removed;
        if (removed > 0) this.options.onRemoved?.(removed);
        if (removed < batchSize) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (error) {
      log.warn({ err: error }, 'retention pass failed; will retry at the next interval');
    }
    if (total > 0) log.info({ removed: total }, 'retention removed old events');
    return total;
  }

  /** Stops scheduling and waits for a pass in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
