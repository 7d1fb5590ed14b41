import type { RetentionPolicy } from './store.js';

/** An event as retention names it. */
export interface PrunedEvent {
  channel: string;
  seq: number;
}

/**
 * What the prune algorithm asks of its engine, in order. Each engine answers in its own SQL, the
 * embedded store synchronously inside one transaction and Postgres with awaited queries inside
 * one, so the algorithm is written once, as the generator {@link pruneSteps}.
 */
export type PruneRequest =
  /** Remove up to `limit` events received before `cutoff`, oldest first; answer with them. */
  | { kind: 'remove-older-than'; cutoff: Date; limit: number }
  /** Answer with the names of every channel. */
  | { kind: 'channel-names' }
  /** Answer with the number of events the channel holds. */
  | { kind: 'count-events'; channel: string }
  /** Remove the channel's `limit` oldest events (lowest seq); answer with them. */
  | { kind: 'remove-oldest'; channel: string; limit: number }
  /** Remove the deliveries and attempts of these events; no answer. */
  | { kind: 'remove-delivery-state'; events: PrunedEvent[] };

/** An engine's answer to each {@link PruneRequest} kind. */
export interface PruneAnswers {
  'remove-older-than': PrunedEvent[];
  'channel-names': string[];
  'count-events': number;
  'remove-oldest': PrunedEvent[];
  'remove-delivery-state': void;
}

/**
 * One round of retention: events past `policy.maxAgeMs` first, then each channel's events beyond
 * `policy.maxEventsPerChannel`, oldest first, at most `batchSize` events in all; the delivery
 * state of every removed event goes with it. Returns how many events were removed; a round that
 * removes `batchSize` may have left more for the next.
 */
export function* pruneSteps(policy: RetentionPolicy, now: Date, batchSize: number): Generator<PruneRequest, number, unknown> {
  const gone = (yield { kind: 'remove-older-than', cutoff: new Date(now.getTime() - policy.maxAgeMs), limit: batchSize }) as PrunedEvent[];
  for (const channel of (yield { kind: 'channel-names' }) as string[]) {
    if (gone.length >= batchSize) break;
    const excess = ((yield { kind: 'count-events', channel }) as number) - policy.maxEventsPerChannel;
    if (excess > 0) gone.push(...((yield { kind: 'remove-oldest', channel, limit: Math.min(excess, batchSize - gone.length) }) as PrunedEvent[]));
  }
  if (gone.length > 0) yield { kind: 'remove-delivery-state', events: gone };
  return gone.length;
}

/** Answers one request with the value {@link PruneAnswers} names for its kind. */
type Answer<T> = (request: PruneRequest) => T;

/** Runs {@link pruneSteps} against synchronous answers (the embedded store, inside its transaction). */
export function runPruneSync(policy: RetentionPolicy, now: Date, batchSize: number, answer: Answer<PruneAnswers[PruneRequest['kind']]>): number {
  const steps = pruneSteps(policy, now, batchSize);
  for (let step = steps.next(); ; step = steps.next(answer(step.value))) if (step.done) return step.value;
}

/** Runs {@link pruneSteps} against awaited answers (Postgres, inside its transaction). */
export async function runPrune(policy: RetentionPolicy, now: Date, batchSize: number, answer: Answer<Promise<PruneAnswers[PruneRequest['kind']]>>): Promise<number> {
  const steps = pruneSteps(policy, now, batchSize);
  for (let step = steps.next(); ; step = steps.next(await answer(step.value))) if (step.done) return step.value;
}
