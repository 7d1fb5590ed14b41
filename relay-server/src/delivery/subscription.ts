import type { Delivery } from '../store/store.js';

/** Whatever can carry server messages to one client: the session behind a subscription. */
export interface SubscriptionOwner {
  /** Session id, also the lease holder in the store. */
  readonly id: string;
  /** Whether the connection is still open; a claim that finishes after it closed is handed back. */
  readonly connected: boolean;
  /**
   * The client has shown that it read every message up to this position (see
   * {@link SubscriptionOwner.sendEvent}): it answered an event or a ping sent there.
   */
  readonly receivedUpTo: number;
  /**
   * Bytes that may be queued on this connection now for `subscription`, reserved for its claim
   * until {@link budgetSpent}, so that claims running at once for different consumers never
   * promise the same room twice. 0 when another claim holds the room (the subscription is woken
   * when it ends) or the send buffer is at its bound (the owner waits for half of it to drain,
   * then wakes the hub for its subscriptions).
   */
  sendBudget(subscription: Subscription): number;
  /** Ends the reservation of {@link sendBudget} once the claim's events are in the send buffer. */
  budgetSpent(bytes: number): void;
  /**
   * A subscription of this owner holds an attempt, sent at `position`, whose lease ran out before
   * the client showed it had read it. The owner asks the client (a ping) and wakes the hub for
   * its subscriptions once the client has shown more.
   */
  awaitReceipt(position: number): void;
  /**
   * Sends the delivery on the subscription's connection and returns its position, the number
   * of messages written to the connection up to and including it.
   */
  sendEvent(subscription: Subscription, delivery: Delivery): number;
  /** Sends catch-up progress. */
  sendBacklog(subscription: Subscription, delivered: number, total: number): void;
}

/** One attempt sent on a subscription and not answered yet. */
interface InFlight {
  attempt: number;
  /** When the store's lease of the attempt ends. */
  leaseUntil: number;
  /** Where its message is in the connection's stream (see {@link SubscriptionOwner.sendEvent}). */
  position: number;
  /** When the relay received the event (ms), for the receive-to-ack metric. */
  receivedAt: number;
}

/** One `subscribe` of one session: a window onto a (channel, consumer) pair. */
export class Subscription {
  /** Attempts in flight, by event seq: sent and not yet acked or nacked. */
  readonly inflight = new Map<number, InFlight>();
  /** Unsubscribed: no more events go out on it; answers for those in flight are still taken. */
  ended = false;
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
    /**
     * The channel's last seq when the subscription started: the waiting events are at or below
     * it, so events stored later (delivered live while catching up) do not count as backlog.
     */
    private readonly backlogLastSeq: number = Number.MAX_SAFE_INTEGER,
  ) {}

  /** How many more events may be sent now. */
  get free(): number {
    return Math.max(0, (this.ordered ? 1 : this.window) - this.inflight.size);
  }

  /** Notes an attempt just sent; it counts against the window until answered or expired. */
  sent(seq: number, attempt: number, leaseUntil: number, position: number, receivedAt: number): void {
    this.inflight.set(seq, { attempt, leaseUntil, position, receivedAt });
  }

  /**
   * Forgets attempts whose lease ran out, so the store hands those events out again, but only
   * those the client has shown it read (`receivedUpTo`): an event still in a buffer on its way
   * is not sent to the same connection a second time, to queue behind the first copy.
   * @returns `unread`: the latest position of an expired attempt the client has not shown it
   *   read, which holds this subscription back (undefined when there is none); `expired`: how
   *   many attempts were forgotten.
   */
  expire(now: number, receivedUpTo: number): { unread: number | undefined; expired: number } {
    let unread: number | undefined;
    let expired = 0;
    for (const [seq, { leaseUntil, position }] of this.inflight) {
      if (leaseUntil > now) continue;
      if (position <= receivedUpTo) {
        this.inflight.delete(seq);
        expired += 1;
      } else {
        unread = Math.max(unread ?? 0, position);
      }
    }
    return { unread, expired };
  }

  /** Where `attempt` of event `seq` was sent, if it is awaiting an answer on this subscription. */
  awaiting(seq: number, attempt: number): number | undefined {
    const entry = this.inflight.get(seq);
    return entry?.attempt === attempt ? entry.position : undefined;
  }

  /** Notes an answered (acked or parked) event and reports catch-up progress every 1 % (and at the end). */
  answered(seq: number): void {
    if (this.ended || this.backlogDelivered >= this.backlogTotal || seq > this.backlogLastSeq) return;
    this.backlogDelivered += 1;
    const step = Math.max(1, Math.floor(this.backlogTotal / 100));
    if (this.backlogDelivered % step === 0 || this.backlogDelivered === this.backlogTotal) {
      this.owner.sendBacklog(this, this.backlogDelivered, this.backlogTotal);
    }
  }
}
