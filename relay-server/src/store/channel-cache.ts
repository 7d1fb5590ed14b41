import type { Channel } from '../channel.js';

/** How a {@link ChannelCache} reads what it caches. */
export interface ChannelSource {
  /** A value that changes whenever any channel's settings change, in any process. */
  version(): string | undefined;
  /** One channel's settings, or undefined when there is none of that name. */
  read(name: string): Channel | undefined;
}

/**
 * Channel settings, looked up on every webhook, served from memory. Whether they changed (here or
 * in an admin command's process) is asked once per event-loop turn, not once per request; any
 * change empties the cache.
 */
export class ChannelCache {
  readonly #source: ChannelSource;
  readonly #channels = new Map<string, Channel>();
  #version: string | undefined;
  #checked = false;

  constructor(source: ChannelSource) {
    this.#source = source;
  }

  /** The channel's settings, from memory when they are known to be current. */
  get(name: string): Channel | undefined {
    if (!this.#checked) {
      this.#checked = true;
      setImmediate(() => (this.#checked = false));
      const version = this.#source.version();
      if (version !== this.#version) {
        this.#channels.clear();
        this.#version = version;
      }
    }
    const cached = this.#channels.get(name);
    if (cached) return cached;
    const channel = this.#source.read(name);
    if (channel) this.#channels.set(name, channel);
    return channel;
  }

  /** This process changed a channel: the next lookup reads settings afresh. */
  forget(): void {
    this.#channels.clear();
    this.#checked = false;
  }
}
