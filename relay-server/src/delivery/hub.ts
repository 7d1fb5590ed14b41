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

  /** Delay before the attempt after `attempt`: initial, doubling, capped. */
  retryDelayMs(attempt: number): number {
    const exponent = Math.min(30, Math.max(0, attempt - 1));
    return Math.min(this.options.retryMaxMs, this.options.retryInitialMs * 2 ** exponent);
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

  /** Removes a subscription; its events in flight stay leased until {@link releaseSession}. */
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
    subscription.answered();
  }

  /** Records a failed attempt; the event comes back after the backoff, or is parked. */
  async nack(subscription: Subscription, outcome: AttemptOutcome): Promise<NackResult> {
    subscription.inflight.delete(outcome.seq);
    const retryAt = new Date(outcome.now.getTime() + this.retryDelayMs(outcome.attempt));
    const recorded = this.options.store.nackDelivery(outcome, retryAt);
    this.wake(subscription);
    const result = await recorded;
    this.observeAnswer(outcome, result.state === 'failed' ? 'parked' : result.state);
    if (result.state === 'failed') subscription.answered();
    return result;
  }

  private observeAnswer(outcome: AttemptOutcome, result: AttemptResult, receivedAt?: number): void {
    const observer = this.options.observer;
    if (!observer) return;
    observer.attemptsEnded(outcome.channel, outcome.consumer, result, 1);
    if (result === 'acked' && receivedAt !== undefined) observer.delivered(outcome.channel, outcome.consumer, outcome.now.getTime() - receivedAt);
  }

  /** Returns a closed session's unanswered events, then lets the consumer's other sessions take them. */
  async releaseSession(session: string, reason: string, channels: Iterable<Subscription>): Promise<void> {
    const released = await this.options.store.releaseSession(session, this.now(), reason);
    if (released === 0) return;
    for (const subscription of channels) this.wake(subscription);
  }

  private wake(subscription: Subscription): void {
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
    const { store, ackTimeoutMs } = this.options;
    do {
      group.again = false;
      for (const subscription of [...group.subscriptions]) {
        const now = this.now();
        const expired = subscription.expire(now.getTime());
        if (expired > 0) this.options.observer?.attemptsEnded(group.channel, group.consumer, 'expired', expired);
        const limit = subscription.free;
        if (limit === 0) continue;
        const deliveries = await store.claimDeliveries({
          channel: group.channel,
          consumer: group.consumer,
          session: subscription.owner.id,
          limit,
          ordered: subscription.ordered,
          now,
          leaseMs: ackTimeoutMs,
        });
        if (!group.subscriptions.has(subscription)) {
          // The session left while the claim ran; hand the events straight back.
          await store.releaseSession(subscription.owner.id, this.now(), 'session closed before the event was sent');
          group.again = true;
          continue;
        }
        for (const delivery of deliveries) {
          // A lease that ran out may have been held by a sibling; it no longer counts there.
          for (const sibling of group.subscriptions) {
            if (sibling.inflight.delete(delivery.event.seq)) this.options.observer?.attemptsEnded(group.channel, group.consumer, 'expired', 1);
          }
          subscription.inflight.set(delivery.event.seq, { attempt: delivery.attempt, leaseUntil: now.getTime() + ackTimeoutMs, receivedAt: delivery.event.receivedAt.getTime() });
          subscription.owner.sendEvent(subscription, delivery);
        }
        if (deliveries.length === limit) group.again = true;
      }
    } while (group.again && !this.closed);
    await this.schedule(group);
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
