/**
 * The idle connections to one origin, kept for later requests. The most recently used is taken
 * first (it is the least likely to have been closed by the handler); at most `max` are kept, each
 * for `idleMs`. There is no cap on connections in use: a request never waits for one.
 */
import { setTimeout as startTimer } from 'node:timers';
import { Connection, dial, type Origin } from './connection.js';

type Timeout = ReturnType<typeof startTimer>;

/** See the module's description. */
export class ConnectionPool {
  readonly #origin: Origin;
  readonly #max: number;
  readonly #idleMs: number;
  /** Oldest first: connections are parked at the end and taken from there. */
  readonly #idle: Connection[] = [];
  readonly #lost = (connection: Connection): void => {
    const at = this.#idle.indexOf(connection);
    if (at !== -1) this.#idle.splice(at, 1);
  };
  #sweep: Timeout | undefined;

  /**
   * @param origin - where connections go.
   * @param max - idle connections kept at most.
   * @param idleMs - an idle connection is closed after this long.
   */
  constructor(origin: Origin, max: number, idleMs: number) {
    this.#origin = origin;
    this.#max = max;
    this.#idleMs = idleMs;
  }

  /** The most recently parked idle connection, or a new one. */
  acquire(): Connection {
    const idle = this.#idle.pop();
    if (idle === undefined) return this.open();
    idle.unpark();
    return idle;
  }

  /** A new connection that is not handed out again unless {@link ConnectionPool.release}d. */
  open(): Connection {
    return new Connection(dial(this.#origin), this.#lost);
  }

  /** Gives a connection back after its answer: kept idle when it can carry another request and there is room, closed otherwise. */
  release(connection: Connection): void {
    if (!connection.reusable || this.#idle.length >= this.#max) {
      connection.destroy();
      return;
    }
    connection.park(performance.now());
    this.#idle.push(connection);
    this.#sweep ??= this.#schedule(this.#idleMs);
  }

  /** Closes the idle connections. The pool stays usable: later requests open new ones. */
  close(): void {
    for (const connection of this.#idle.splice(0)) connection.destroy();
    if (this.#sweep !== undefined) clearTimeout(this.#sweep);
    this.#sweep = undefined;
  }

  // One timer for the whole pool rather than one per connection and request.
  #schedule(ms: number): Timeout {
    const timer = startTimer(() => this.#closeExpired(), ms);
    timer.unref();
    return timer;
  }

  #closeExpired(): void {
    this.#sweep = undefined;
    const now = performance.now();
    let expired = 0;
    // Timers may fire up to a millisecond early (libuv counts from a cached loop time).
    while (expired < this.#idle.length && now - (this.#idle[expired]?.idleSince ?? now) >= this.#idleMs - 1) expired++;
    for (const connection of this.#idle.splice(0, expired)) connection.destroy();
    const oldest = this.#idle[0];
    if (oldest !== undefined) this.#sweep = this.#schedule(Math.max(1, this.#idleMs - (now - oldest.idleSince)));
  }
}
