import type { Channel } from '../channel.js';

/** How long a channel's settings are served from memory while no LISTEN connection hears of changes. */
export const UNHEARD_CHANNEL_TTL_MS = 1_000;

/**
 * How long they are served while LISTEN is up: changes are heard at once, but a process started
 * with notifications off announces none, and neither does one that died between its change and
 * its NOTIFY; past this bound they are read again anyway.
 */
export const HEARD_CHANNEL_TTL_MS = 60_000;

/**
 * Channel settings of the Postgres store, looked up on every webhook, served from memory. While
 * the store LISTENs, every process that changes a channel NOTIFYs it and the cache is emptied
 * (see {@link forget}), so entries stay until then; otherwise, and for what was read before LISTEN
 * was up, they live {@link UNHEARD_CHANNEL_TTL_MS}, and never longer than
 * {@link HEARD_CHANNEL_TTL_MS}. Lookups of one channel made while it is being
 * read share that read.
 */
export class PostgresChannelCache {
  readonly #entries = new Map<string, { channel: Channel; readAt: number; heard: boolean }>();
  readonly #reads = new Map<string, Promise<Channel | undefined>>();
  /** Changes with every {@link forget}: a read that started before one is not kept. */
  #generation = 0;

  constructor(
    private readonly read: (name: string) => Promise<Channel | undefined>,
    /** Whether changes are heard now: the LISTEN connection is up. */
    private readonly listening: () => boolean,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get(name: string): Promise<Channel | undefined> {
    const entry = this.#entries.get(name);
    if (entry !== undefined) {
      const age = this.now() - entry.readAt;
      if (age < UNHEARD_CHANNEL_TTL_MS || (entry.heard && this.listening() && age < HEARD_CHANNEL_TTL_MS)) return Promise.resolve(entry.channel);
    }
    const shared = this.#reads.get(name);
    if (shared !== undefined) return shared;
    const generation = this.#generation;
    const heard = this.listening();
    const readAt = this.now();
    const reading = this.read(name).then(
      (channel) => {
        if (this.#generation === generation) {
          // A missing channel is not kept: one created a moment ago in another process must be found.
          if (channel !== undefined) this.#entries.set(name, { channel, readAt, heard });
          this.#reads.delete(name);
        }
        return channel;
      },
      (error: unknown) => {
        if (this.#generation === generation) this.#reads.delete(name);
        throw error;
      },
    );
    this.#reads.set(name, reading);
    return reading;
  }

  /**
   * A channel changed (here or in another process), or changes may have gone unheard (the
   * LISTEN connection dropped or came back): everything is read afresh.
   */
  forget(): void {
    this.#generation += 1;
    this.#entries.clear();
    this.#reads.clear();
  }
}
