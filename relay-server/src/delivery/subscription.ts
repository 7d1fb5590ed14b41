import type { Delivery } from '../store/store.js';

/** Whatever can carry server messages to one client: the session behind a subscription. */
export interface SubscriptionOwner {
  /** Session id, also the lease holder in the store. */
  readonly id: string;
  /** Sends the delivery on the subscription's connection. */
  sendEvent(subscription: Subscription, delivery: Delivery): void;
  /** Sends catch-up progress. */
  sendBacklog(subscription: Subscription, delivered: number, total: number): void;
}

/** One `subscribe` of one session: a window onto a (channel, consumer) pair. */
export class Subscription {
  /** Attempts in flight, by event seq: sent and not yet acked or nacked, with their lease end and when the relay received the event (ms). */
  readonly inflight = new Map<number, { attempt: number; leaseUntil: number; receivedAt: number }>();
  private backlogDelivered = 0;

  constructor(
    readonly id: string,
    readonly owner: SubscriptionOwner,
    readonly channel: string,
    readonly consumer: string,
    /** Most events in flight at once; 1 when ordered. */
    readonly window: number,
    readonly ordered: boolean,
    /** Events that were waiting when the subscription started; progress is reported up to it. */
    private readonly backlogTotal: number,
  ) {}

  /** How many more events may be sent now. */
  get free(): number {
    return Math.max(0, (this.ordered ? 1 : this.window) - this.inflight.size);
  }

  /** Forgets attempts whose lease ran out: the store hands those events out again. Returns how many. */
  expire(now: number): number {
    let expired = 0;
    for (const [seq, { leaseUntil }] of this.inflight) {
      if (leaseUntil > now) continue;
      this.inflight.delete(seq);
      expired += 1;
    }
    return expired;
  }

  /** Whether `attempt` of event `seq` is awaiting an answer on this subscription. */
  awaits(seq: number, attempt: number): boolean {
    return this.inflight.get(seq)?.attempt === attempt;
  }

  /** Notes an answered event and reports catch-up progress every 1 % (and at the end). */
  answered(): void {
    if (this.backlogDelivered >= this.backlogTotal) return;
    this.backlogDelivered += 1;
    const step = Math.max(1, Math.floor(this.backlogTotal / 100));
    if (this.backlogDelivered % step === 0 || this.backlogDelivered === this.backlogTotal) {
      this.owner.sendBacklog(this, this.backlogDelivered, this.backlogTotal);
    }
  }
}
