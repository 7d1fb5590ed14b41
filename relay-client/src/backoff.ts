/** Settings of {@link Backoff}. */
export interface BackoffOptions {
  /** Upper bound of the first delay in milliseconds. Default 500. */
  initialMs?: number;
  /** Largest delay in milliseconds. Default 30 000. */
  maxMs?: number;
  /**
   * A connection that stayed up (welcome received) at least this long resets the backoff, so a
   * relay restart after hours of work is retried at once rather than after 30 s. Default 10 000.
   */
  stableMs?: number;
}

/** {@link BackoffOptions} with every default filled in. */
export const BACKOFF_DEFAULTS = Object.freeze({ initialMs: 500, maxMs: 30_000, stableMs: 10_000 } satisfies Required<BackoffOptions>);

/**
 * Exponential backoff with full jitter (a uniformly random delay between 0 and the exponential
 * bound), so many clients dropped by one relay restart do not reconnect in lockstep.
 */
export class Backoff {
  readonly #options: Required<BackoffOptions>;
  readonly #random: () => number;
  #failures = 0;

  /**
   * @param options - see {@link BackoffOptions}.
   * @param random - uniform in [0, 1); default `Math.random`.
   */
  constructor(options: BackoffOptions = {}, random: () => number = Math.random) {
    this.#options = { ...BACKOFF_DEFAULTS, ...options };
    this.#random = random;
  }

  /** Failures since the last reset. */
  get failures(): number {
    return this.#failures;
  }

  /** The delay before the next attempt; counts one more failure. */
  next(): number {
    const { initialMs, maxMs } = this.#options;
    // The exponent is clamped so 2^n stays finite however long the relay stays away.
    const bound = Math.min(maxMs, initialMs * 2 ** Math.min(this.#failures, 30));
    this.#failures++;
    return Math.floor(this.#random() * bound);
  }

  /** Starts over after a connection that stayed up for `upMs` milliseconds, if that was long enough. */
  connectionEnded(upMs: number): void {
    if (upMs >= this.#options.stableMs) this.#failures = 0;
  }
}
