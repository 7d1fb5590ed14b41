import { createHmac, randomBytes } from 'node:crypto';
import { RelayError } from '../errors.js';
import { verifyPassword } from '../passwords.js';
import { constantTimeEqual } from '../secrets.js';

/** The stored side of a Basic auth check. */
export interface BasicCredentials {
  user: string;
  /** A hash from `passwords.ts`. */
  passwordHash: string;
}

/** Options of {@link BasicAuthVerifier}. */
export interface BasicAuthVerifierOptions {
  /** Credentials remembered as checked. Default 1024. */
  maxRemembered?: number;
  /** scrypt checks run at once. Default 2, which leaves libuv's other threads to file writes. */
  concurrency?: number;
  /** Checks that may wait for a turn before new ones are refused. Default 256. */
  maxWaiting?: number;
}

/**
 * Checks Basic auth credentials against a channel's scrypt hash, and remembers the ones that
 * matched, so a sender posting many events pays for scrypt once instead of on every webhook.
 *
 * What is remembered is an HMAC of the presented user and password together with the stored user
 * and hash, under a key drawn at random for this process and never written anywhere: no password
 * is kept, and a changed password (a new hash, with a new salt) matches nothing remembered. Only
 * matches are remembered, so wrong guesses cannot push out the real sender's entry, and each
 * wrong guess costs a full scrypt check. Those checks run a few at a time on the thread pool, with
 * a bounded queue, so a flood of guesses delays only other unremembered checks, never the
 * event loop or a sender whose credentials are already remembered.
 */
export class BasicAuthVerifier {
  private readonly key = randomBytes(32);
  private readonly remembered = new Map<string, true>();
  private readonly maxRemembered: number;
  private readonly concurrency: number;
  private readonly maxWaiting: number;
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(options: BasicAuthVerifierOptions = {}) {
    this.maxRemembered = options.maxRemembered ?? 1024;
    this.concurrency = options.concurrency ?? 2;
    this.maxWaiting = options.maxWaiting ?? 256;
  }

  /** Resolves true when `user` and `password` match `stored`. Rejects with RELAY_E_BASIC_AUTH_BUSY when too many checks wait. */
  async verify(stored: BasicCredentials, user: string, password: string): Promise<boolean> {
    const fingerprint = createHmac('sha256', this.key).update(JSON.stringify([stored.user, stored.passwordHash, user, password])).digest('base64url');
    if (this.remembered.has(fingerprint)) {
      // Most recently used last, so the oldest entry is the one dropped when the map is full.
      this.remembered.delete(fingerprint);
      this.remembered.set(fingerprint, true);
      return true;
    }
    // Both comparisons always run, so the time taken does not tell which half was wrong.
    const userOk = constantTimeEqual(user, stored.user);
    const passwordOk = await this.inTurn(() => verifyPassword(password, stored.passwordHash));
    if (!(userOk && passwordOk)) return false;
    this.remembered.set(fingerprint, true);
    if (this.remembered.size > this.maxRemembered) this.remembered.delete(this.remembered.keys().next().value as string);
    return true;
  }

  private async inTurn<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxWaiting) throw new RelayError('RELAY_E_BASIC_AUTH_BUSY');
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await work();
    } finally {
      // The turn passes straight to the next waiter, so `running` counts it without a gap.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
