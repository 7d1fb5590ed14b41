import type { DeliveredEvent } from './store.js';

/**
 * Events this process committed lately, so that a claim made right after hands them out without
 * reading them back from the database. Bounded by bytes; the oldest go first. An entry counts
 * only for the row it was made from: a claim passes the rowid it found, and rowids are never
 * reused (AUTOINCREMENT), so an event removed by retention or with its channel never comes back
 * from here.
 */
export class RecentEvents {
  readonly #entries = new Map<string, { rowid: number; event: DeliveredEvent; bytes: number }>();
  #bytes = 0;

  /** @param maxBytes - bodies and header text kept at most, across channels. */
  constructor(private readonly maxBytes: number) {}

  add(rowid: number, event: DeliveredEvent): void {
    const bytes = event.body.byteLength + event.headersJson.length;
    if (bytes > this.maxBytes) return;
    const k = key(event.channel, event.seq);
    const replaced = this.#entries.get(k);
    if (replaced !== undefined) {
      this.#entries.delete(k);
      this.#bytes -= replaced.bytes;
    }
    this.#entries.set(k, { rowid, event, bytes });
    this.#bytes += bytes;
    for (const [oldest, entry] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= entry.bytes;
    }
  }

  /** The event stored as row `rowid`, if it is still here. */
  get(channel: string, seq: number, rowid: number): DeliveredEvent | undefined {
    const entry = this.#entries.get(key(channel, seq));
    return entry !== undefined && entry.rowid === rowid ? entry.event : undefined;
  }
}

function key(channel: string, seq: number): string {
  return `${channel}\u0000${seq}`;
}
