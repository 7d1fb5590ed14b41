/**
 * The byte limit of one claim ({@link ClaimRequest.maxBytes}), shared by the engines: events are
 * taken in order while their sizes fit, the first whatever its size. Engines ask it before they
 * read any body, so a claim never holds more than the limit plus one event in memory.
 */
export class ClaimBudget {
  private used = 0;
  private taken = 0;
  private full = false;

  /** @param maxBytes - the claim's limit; undefined for none. */
  constructor(private readonly maxBytes: number | undefined) {}

  /** Takes an event of `size` bytes if it fits. Once one does not, none after it does either: claims keep sequence order. */
  take(size: number): boolean {
    if (this.full) return false;
    if (this.taken > 0 && this.maxBytes !== undefined && this.used + size > this.maxBytes) {
      this.full = true;
      return false;
    }
    this.used += size;
    this.taken += 1;
    return true;
  }

  /** Whether an event was refused, so the claim must stop looking for more. */
  get exhausted(): boolean {
    return this.full;
  }
}

/** The events of `candidates` (in order) that fit in `budget`. */
export function takeWithin<T extends { size: number }>(candidates: readonly T[], budget: ClaimBudget): T[] {
  const kept: T[] = [];
  for (const candidate of candidates) {
    if (!budget.take(candidate.size)) break;
    kept.push(candidate);
  }
  return kept;
}
