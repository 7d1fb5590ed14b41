/**
 * Where the relay says that a channel has new events, for listeners other than the delivery hub
 * (the live streams of the Webhook Logs page). Listeners are called synchronously and must
 * only take note: a slow one would delay every commit.
 */
export class ChannelActivity {
  private readonly listeners = new Set<(channel: string) => void>();

  /** New events were committed on `channel` (here, or in another process sharing the store). */
  notify(channel: string): void {
    for (const listener of this.listeners) listener(channel);
  }

  /** Calls `listener` with every channel that has new events; returns a function that stops it. */
  listen(listener: (channel: string) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Listeners currently registered. */
  get size(): number {
    return this.listeners.size;
  }
}
