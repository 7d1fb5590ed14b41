import type { AppendResult, NewEvent } from './store.js';

/**
 * Who hears of a store's appends: channels with new events as soon as they are committed (so
 * consumers are sent them while the flush that their senders wait for still runs), and each
 * flush with how many appends it answered (for metrics). Both engines commit first and flush
 * after (see {@link GroupCommit}), and share this.
 */
export class AppendListeners {
  readonly #committed = new Set<(channel: string) => void>();
  readonly #flushed = new Set<(events: number, seconds: number) => void>();

  onCommitted(listener: (channel: string) => void): () => void {
    this.#committed.add(listener);
    return () => this.#committed.delete(listener);
  }

  onFlushed(listener: (events: number, seconds: number) => void): () => void {
    this.#flushed.add(listener);
    return () => this.#flushed.delete(listener);
  }

  /** Tells the listeners which channels have new (not duplicate) events in the commits just made. */
  committed(events: readonly NewEvent[], results: readonly AppendResult[]): void {
    if (this.#committed.size === 0) return;
    const channels = new Set<string>();
    events.forEach((event, i) => {
      const result = results[i];
      if (result?.ok && !result.duplicate) channels.add(event.channel);
    });
    for (const channel of channels) for (const listener of this.#committed) listener(channel);
  }

  flushed(events: number, seconds: number): void {
    for (const listener of this.#flushed) listener(events, seconds);
  }
}
