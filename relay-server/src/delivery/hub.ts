import { retryDelayMs, type RetrySchedule } from '@myop-relay/protocol';
import type { FastifyBaseLogger } from 'fastify';
import type { AttemptOutcome, NackResult, Store } from '../store/store.js';
import type { AttemptResult, DeliveryObserver } from './observer.js';
import type { Subscription } from './subscription.js';

/** Settings of the {@link DeliveryHub}. */
export interface HubOptions {
  store: Store;
  log: FastifyBaseLogger;
  /** Lease of a sent event; unanswered past it, the event goes out again. */
  ackTimeoutMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  /** Safety net: every group is pumped this often even without a wake-up. */
  pollIntervalMs: number;
  now?: () => Date;
  /** Hears how attempts end (metrics). Default: nobody. */
  observer?: DeliveryObserver;
}

/** All subscriptions of one (channel, consumer), across this process's sessions. */
interface ConsumerGroup {
  channel: string;
  consumer: string;
  subscriptions: Set<Subscription>;
  /** A pump is running; `again` asks it to go round once more instead of starting a second one. */
  pumping: boolean;
  again: boolean;
  /** A pump is due at the end of this event-loop turn. */
  scheduled: boolean;
  timer: NodeJS.Timeout | undefined;
  timerAt: number;
}

function groupKey(channel: string, consumer: string): string {
  return `${channel}\u0000${consumer}`;
}

/**
 * Moves stored events to subscribed sessions. The store decides which events a consumer gets
 * (leases make that safe across sessions and processes); the hub decides when to ask: after an
 * event is stored, an answer frees a window slot, a retry falls due, a session leaves, and on a
 * slow poll for anything it was not told about.
 */
export class DeliveryHub {
  private readonly groups = new Map<string, ConsumerGroup>();
  private readonly poll: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: HubOptions) {
    this.poll = setInterval(() => {
      for (const group of this.groups.values()) this.pump(group);
    }, options.pollIntervalMs);
    this.poll.unref();
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  /** This relay's redelivery schedule (`--retry-initial`, `--retry-max`), told to clients in `welcome`. */
  get retrySchedule(): RetrySchedule {
    return { initialMs: this.options.retryInitialMs, maxMs: this.options.retryMaxMs };
  }

  /** Delay before the attempt after `attempt`, by the protocol's schedule with this relay's settings. */
  retryDelayMs(attempt: number): number {
    return retryDelayMs(attempt, this.retrySchedule);
  }

  /** Adds a subscription and starts delivering to it. */
  join(subscription: Subscription): void {
    const key = groupKey(subscription.channel, subscription.consumer);
    let group = this.groups.get(key);
    if (!group) {
      group = {
        channel: subscription.channel,
        consumer: subscription.consumer,
        subscriptions: new Set(),
        pumping: false,
        again: false,
        scheduled: false,
        timer: undefined,
        timerAt: 0,
      };
      this.groups.set(key, group);
    }
    group.subscriptions.add(subscription);
    this.pump(group);
  }

  /**
   * Removes a subscription (unsubscribed, or its connection closed). Its events in flight stay
   * leased to the session, so answers for them still count, until {@link releaseSession} or
   * their lease runs out.
   */
  leave(subscription: Subscription): void {
    const key = groupKey(subscription.channel, subscription.consumer);
    const group = this.groups.get(key);
    if (!group) return;
    group.subscriptions.delete(subscription);
    if (group.subscriptions.size === 0) {
      if (group.timer) clearTimeout(group.timer);
      this.groups.delete(key);
    }
  }

  /** Number of this process's subscriptions for the consumer. */
  connected(channel: string, consumer: string): number {
    return this.groups.get(groupKey(channel, consumer))?.subscriptions.size ?? 0;
  }

  /** A new event was stored on `channel`: wake its consumers. */
  notify(channel: string): void {
    for (const group of this.groups.values()) if (group.channel === channel) this.pump(group);
  }

  /**
   * Records the local handler's 2xx and sends the next events. The pump is asked for at once: the
   * store runs delivery work in the order it is asked for, so the claim comes after the answer,
   * and a store that batches a turn's work records both in one transaction.
   */
  async ack(subscription: Subscription, outcome: AttemptOutcome): Promise<void> {
    const sent = subscription.inflight.get(outcome.seq);
    subscription.inflight.delete(outcome.seq);
    const recorded = this.options.store.ackDelivery(outcome);
    this.wake(subscription);
    const acked = await recorded;
    this.observeAnswer(outcome, acked ? 'acked' : 'ignored', sent?.receivedAt);
    subscription.answered(outcome.seq);
  }

  /** Records a failed attempt; the event comes back after the backoff, or is parked. */
  async nack(subscription: Subscription, outcome: AttemptOutcome): Promise<NackResult> {
    subscription.inflight.delete(outcome.seq);
    const retryAt = new Date(outcome.now.getTime() + this.retryDelayMs(outcome.attempt));
    const recorded = this.options.store.nackDelivery(outcome, retryAt);
    this.wake(subscription);
    const result = await recorded;
    this.observeAnswer(outcome, result.state === 'failed' ? 'parked' : result.state);
    if (result.state === 'failed') subscription.answered(outcome.seq);
    return result;
  }

  private observeAnswer(outcome: AttemptOutcome, result: AttemptResult, receivedAt?: number): void {
    const observer = this.options.observer;
    if (!observer) return;
    observer.attemptsEnded(outcome.channel, outcome.consumer, result, 1);
    if (result === 'acked' && receivedAt !== undefined) observer.delivered(outcome.channel, outcome.consumer, outcome.now.getTime() - receivedAt);
  }

  /** Returns a closed session's unanswered events, then lets the consumer's other subscriptions take them. */
  async releaseSession(session: string, reason: string, channels: Iterable<Subscription>): Promise<void> {
    const released = await this.options.store.releaseSession(session, this.now(), reason);
    if (released === 0) return;
    for (const subscription of channels) this.wake(subscription);
  }

  /** Asks for a pump of the subscription's consumer, e.g. once its connection has drained. */
  wake(subscription: Subscription): void {
    const group = this.groups.get(groupKey(subscription.channel, subscription.consumer));
    if (group) this.pump(group);
  }

  /**
   * Fills every subscription's free window from the store; one pump per group at a time. The
   * pump runs at the end of the current event-loop turn, so that every answer and stored event
   * of the turn is served by one claim rather than one claim each.
   */
  private pump(group: ConsumerGroup): void {
    if (this.closed || group.scheduled) return;
    group.scheduled = true;
    setImmediate(() => {
      group.scheduled = false;
      this.pumpNow(group);
    });
  }

  private pumpNow(group: ConsumerGroup): void {
    if (this.closed) return;
    if (group.pumping) {
      group.again = true;
      return;
    }
    group.pumping = true;
    void this.fill(group)
      .catch((error: unknown) => this.options.log.error({ err: error, channel: group.channel, consumer: group.consumer }, 'delivery pump failed; retrying on the next poll'))
      .finally(() => {
        group.pumping = false;
        if (group.again) this.pumpNow(group);
      });
  }

  private async fill(group: ConsumerGroup): Promise<void> {
    do {
      group.again = false;
      for (const subscription of [...group.subscriptions]) {
        if (await this.fillOne(group, subscription)) group.again = true;
      }
    } while (group.again && !this.closed);
    await this.schedule(group);
  }

  /**
   * Claims for one subscription what its window and its connection's send buffer have room for,
   * and sends it. Resolves with whether there is probably more to take at once.
   */
  private async fillOne(group: ConsumerGroup, subscription: Subscription): Promise<boolean> {
    const { store, ackTimeoutMs } = this.options;
    const now = this.now();
    const { owner } = subscription;
    const { unread, expired } = subscription.expire(now.getTime(), owner.receivedUpTo);
    if (expired > 0) this.options.observer?.attemptsEnded(group.channel, group.consumer, 'expired', expired);
    if (unread !== undefined) {
      owner.awaitReceipt(unread);
      return false;
    }
    const limit = subscription.free;
    if (limit === 0) return false;
    const room = owner.sendBudget(subscription);
    if (room === 0) return false;
    try {
      // The budget counts stored bytes; base64 makes a body a third longer on the wire.
      const maxBytes = Math.max(1, Math.floor((room * 3) / 4));
      const deliveries = await store.claimDeliveries({
        channel: group.channel,
        consumer: group.consumer,
        session: owner.id,
        limit,
        ordered: subscription.ordered,
        now,
        leaseMs: ackTimeoutMs,
        maxBytes,
      });
      if (!group.subscriptions.has(subscription)) {
        // The connection closed while the claim ran, after its release: hand the events straight
        // back. A subscription that was only unsubscribed keeps them leased; they return when the
        // connection closes or the lease runs out, and no other subscription's events are touched.
        if (!owner.connected) await store.releaseSession(owner.id, this.now(), 'session closed before the event was sent');
        return true;
      }
      let claimedBytes = 0;
      for (const delivery of deliveries) {
        // A lease that ran out may have been held by a sibling; it no longer counts there.
        for (const sibling of group.subscriptions) {
          if (sibling.inflight.delete(delivery.event.seq)) this.options.observer?.attemptsEnded(group.channel, group.consumer, 'expired', 1);
        }
        const position = owner.sendEvent(subscription, delivery);
        subscription.sent(delivery.event.seq, delivery.attempt, now.getTime() + ackTimeoutMs, position, delivery.event.receivedAt.getTime());
        claimedBytes += delivery.event.body.byteLength + delivery.event.headersJson.length;
      }
      // A full claim, or one the byte budget probably cut, leaves more to take. A claim cut with
      // less than half its budget used goes on at the next answer, which it is sure to get.
      return deliveries.length === limit || claimedBytes >= maxBytes / 2;
    } finally {
      owner.budgetSpent(room);
    }
  }

  /** Arms the group's timer for its next retry or lease expiry. */
  private async schedule(group: ConsumerGroup): Promise<void> {
    const due = await this.options.store.nextDueAt(group.channel, group.consumer);
    if (!due || this.closed || !this.groups.has(groupKey(group.channel, group.consumer))) return;
    const at = due.getTime();
    if (group.timer && group.timerAt <= at) return;
    if (group.timer) clearTimeout(group.timer);
    group.timerAt = at;
    group.timer = setTimeout(() => {
      group.timer = undefined;
      this.pump(group);
    }, Math.max(0, at - this.now().getTime()) + 5);
    group.timer.unref();
  }

  /** Stops all timers; sessions are closed by their owner. */
  close(): void {
    this.closed = true;
    clearInterval(this.poll);
    for (const group of this.groups.values()) if (group.timer) clearTimeout(group.timer);
  }
}
