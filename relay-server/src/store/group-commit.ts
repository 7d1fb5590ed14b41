import type { AppendResult, NewEvent } from './store.js';

/** How a {@link GroupCommit} commits, for one engine. */
export interface GroupCommitEngine {
  /** Most events in one transaction. */
  maxBatch: number;
  /** Most body bytes in one transaction (a batch holds at least one event). Default: no bound. */
  maxBatchBytes?: number;
  /** Commits `events` in one transaction, one result per event; throws when it rolled back or was not confirmed. */
  commit(events: NewEvent[]): AppendResult[] | Promise<AppendResult[]>;
  /**
   * Settles once every commit of the round is on disk: both engines commit first and make durable
   * after (the embedded store flushes its WAL file off the event loop, Postgres commits one
   * synchronous transaction after the appends). Called once per round, after its last commit.
   */
  durable(): Promise<void>;
  /** The error appends get for a commit that failed (rolled back) or whose durability failed. */
  toError(error: unknown, stage: 'commit' | 'durable'): unknown;
  /**
   * Whether every write would now fail the same way (a lock or an outage), so that appends
   * queued behind the failed batch are refused with it instead of waiting out the same bound.
   * Default: no.
   */
  refusesQueue?(error: unknown): boolean;
  /** Why appends are refused before they queue (a closed store, an earlier failed flush), if they are. */
  refusal?(): unknown;
  /** Committed batches' events and results, as soon as committed (before they are durable). */
  committed?(events: readonly NewEvent[], results: readonly AppendResult[]): void;
  /**
   * Appends just answered once durable: how many, and the seconds from the start of their commit
   * to the disk's answer (for metrics).
   */
  flushed?(events: number, seconds: number): void;
}

interface Pending {
  event: NewEvent;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

/**
 * The append queue both engines share. Appends that arrive while a round of commits runs wait
 * for it and then commit together: they could not be answered sooner anyway, and one transaction
 * costs less than many. A round commits everything queued when it starts, in batches of at most
 * `maxBatch` events, and answers each append once its commit is durable, never before: a failed
 * commit or flush rejects every append of it, so none of them gets a 2xx.
 */
export class GroupCommit {
  readonly #engine: GroupCommitEngine;
  #queue: Pending[] = [];
  #round: Promise<void> | undefined;

  constructor(engine: GroupCommitEngine) {
    this.#engine = engine;
  }

  /** Queues one append; resolves once it is committed and durable. */
  append(event: NewEvent): Promise<AppendResult> {
    const refusal = this.#engine.refusal?.();
    if (refusal !== undefined) return Promise.reject(refusal);
    return new Promise((resolve, reject) => {
      this.#queue.push({ event, resolve, reject });
      this.#schedule();
    });
  }

  /** Settles once the round in progress, and any it leads to, has ended. */
  async drain(): Promise<void> {
    while (this.#round) await this.#round;
  }

  #schedule(): void {
    if (this.#round || this.#queue.length === 0) return;
    this.#round = (async () => {
      // setImmediate runs after pending I/O callbacks, so requests already read join this round.
      await new Promise((resolve) => setImmediate(resolve));
      await this.#commitRound();
    })().finally(() => {
      this.#round = undefined;
      this.#schedule();
    });
  }

  async #commitRound(): Promise<void> {
    const refusal = this.#engine.refusal?.();
    if (refusal !== undefined) {
      for (const pending of this.#queue.splice(0)) pending.reject(refusal);
      return;
    }
    const awaitingDisk: { batch: Pending[]; results: AppendResult[] }[] = [];
    const roundStarted = performance.now();
    // Only what was queued when the round began: later arrivals wait for this round's flush.
    let left = this.#queue.length;
    while (left > 0) {
      const batch = this.#take(left);
      left -= batch.length;
      let results: AppendResult[];
      try {
        results = await this.#engine.commit(batch.map((p) => p.event));
      } catch (error) {
        const failure = this.#engine.toError(error, 'commit');
        const waiting = this.#engine.refusesQueue?.(error) ? this.#queue.splice(0) : [];
        for (const pending of [...batch, ...waiting]) pending.reject(failure);
        left = Math.min(left, this.#queue.length);
        continue;
      }
      awaitingDisk.push({ batch, results });
    }
    if (awaitingDisk.length === 0) return;
    const durable = this.#engine.durable();
    // After the flush has started, so that claims the listeners make do not delay it.
    for (const { batch, results } of awaitingDisk) this.#engine.committed?.(batch.map((p) => p.event), results);
    try {
      await durable;
      let events = 0;
      for (const { batch, results } of awaitingDisk) {
        batch.forEach((pending, i) => pending.resolve(results[i] as AppendResult));
        events += batch.length;
      }
      this.#engine.flushed?.(events, (performance.now() - roundStarted) / 1000);
    } catch (error) {
      // Committed, but not known to be on disk: no 2xx. A retry finds the event stored if its
      // frames did reach the disk, and stores it otherwise.
      const failure = this.#engine.toError(error, 'durable');
      for (const { batch } of awaitingDisk) for (const pending of batch) pending.reject(failure);
    }
  }

  /** The next batch: up to `maxBatch` events and `maxBatchBytes` of bodies, from the first `limit`. */
  #take(limit: number): Pending[] {
    const maxBytes = this.#engine.maxBatchBytes ?? Number.POSITIVE_INFINITY;
    let count = 0;
    let bytes = 0;
    for (const pending of this.#queue) {
      if (count >= limit || count >= this.#engine.maxBatch || (count > 0 && bytes + pending.event.body.byteLength > maxBytes)) break;
      count += 1;
      bytes += pending.event.body.byteLength;
    }
    return this.#queue.splice(0, count);
  }
}
