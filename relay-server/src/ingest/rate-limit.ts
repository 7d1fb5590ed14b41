/** Token-bucket settings: `ratePerSecond` refill, bursts up to `burst`. A rate of 0 disables the limit. */
export interface RateLimit {
  ratePerSecond: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * Token buckets keyed by a string (a channel or a source address). Memory stays bounded:
 * when `maxKeys` is reached, buckets that have refilled completely are dropped, since a full
 * bucket is what a new key would get anyway.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = () => performance.now(),
    private readonly maxKeys = 100_000,
  ) {}

  /** Takes one token for `key`; false when the key is over its limit. */
  take(key: string): boolean {
    if (this.limit.ratePerSecond <= 0) return true;
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (bucket) {
      bucket.tokens = Math.min(this.limit.burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.limit.ratePerSecond);
      bucket.updatedAt = now;
    } else {
      if (this.buckets.size >= this.maxKeys) this.evictFull(now);
      bucket = { tokens: this.limit.burst, updatedAt: now };
      this.buckets.set(key, bucket);
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  private evictFull(now: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.limit.ratePerSecond >= this.limit.burst) this.buckets.delete(key);
    }
    // Every bucket is busy: drop the oldest rather than grow without bound.
    if (this.buckets.size >= this.maxKeys) {
      const oldest = this.buckets.keys().next();
      if (!oldest.done) this.buckets.delete(oldest.value);
    }
  }
}
