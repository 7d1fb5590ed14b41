import { MAX_MESSAGE_BYTES, encodeMessage } from '@myop-relay/protocol';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Subscription } from './subscription.js';

/** Pings remembered while unanswered; older ones are forgotten (a client that answers none is closed anyway). */
const MAX_UNANSWERED_PINGS = 16;

/** The bound on what waits to be sent on one connection (see docs/protocol.md#backpressure). */
export interface SendLimits {
  /** Bytes that may wait in the send buffer; at the bound the connection gets no more events until half has drained. */
  sendBufferBytes: number;
  /** A connection the hub waits on this long, without it draining or showing it read, is closed. */
  sendStallTimeoutMs: number;
}

/** What an {@link Outbox} asks of its session. */
export interface OutboxEvents {
  /** The hub may claim again for these subscriptions; all of the connection's when left out. */
  wake(subscriptions?: Iterable<Subscription>): void;
  /** The client does not read what it is sent: close the connection (RELAY_E_WS_SLOW_CONSUMER). */
  stalled(detail: string): void;
}

/**
 * The sending side of one connection: writes messages, keeps count of their positions, bounds the
 * bytes waiting in the send buffer, and learns from answers and pongs how far the client has read.
 * The hub asks it how much it may claim ({@link Outbox.budget}) and whether an expired lease may
 * go out again ({@link Outbox.receivedUpTo}); the outbox wakes the hub when either changes, and
 * reports a connection the hub has waited on for too long.
 */
export class Outbox {
  /** Messages written so far; a message's position is the count including it. */
  private written = 0;
  /** The client has shown it read every message up to here: it answered one sent there. */
  private readTo = 0;
  /** Pings sent and not yet answered, by `ts`, with their positions, in the order sent. */
  private readonly pings = new Map<number, number>();
  private lastPingTs = 0;
  /** Messages of this tick wait in the connection's buffer and leave together at its end. */
  private corked = false;
  /** The hub waits for the full send buffer to drain to this many bytes (half the bound). */
  private drainTarget: number | undefined;
  /** The hub waits for the client to show it read an event whose lease ran out. */
  private awaitingReceipt = false;
  /** Runs while the hub waits on this connection; when it fires the connection is closed. */
  private stallTimer: NodeJS.Timeout | undefined;
  /** Room under the bound promised to claims still running. */
  private reserved = 0;
  /** Subscriptions refused room because a claim of another one held it; they claim next. */
  private readonly waitingForRoom = new Set<Subscription>();
  /** Past this only a peer that keeps asking while it does not read can take the buffer. */
  private readonly hardLimit: number;
  private closed = false;
  private readonly afterWrite = (): void => this.wakeIfDrained();

  constructor(
    private readonly socket: WebSocket,
    /** The connection under `socket`, corked while a tick's messages are written. */
    private readonly wire: Duplex,
    private readonly limits: SendLimits,
    private readonly events: OutboxEvents,
  ) {
    this.hardLimit = 2 * limits.sendBufferBytes + MAX_MESSAGE_BYTES;
  }

  /** Whether messages can still go out; nothing should be encoded for a connection that is gone. */
  get open(): boolean {
    return !this.closed && this.socket.readyState === this.socket.OPEN;
  }

  /** Position up to which the client has shown it read everything. */
  get receivedUpTo(): number {
    return this.readTo;
  }

  /** Writes one encoded message and returns its position. Callers check {@link Outbox.open} first. */
  write(text: string): number {
    if (!this.corked) {
      // A pump sends up to a window of events at once: one write to the kernel instead of one each.
      this.corked = true;
      this.wire.cork();
      process.nextTick(() => this.uncork());
    }
    this.socket.send(text, this.afterWrite);
    this.written += 1;
    if (this.socket.bufferedAmount > this.hardLimit) this.events.stalled('the client keeps sending but does not read the answers');
    return this.written;
  }

  /** Writes what this tick's messages left in the connection's buffer. */
  uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.wire.uncork();
  }

  /**
   * Bytes that may be queued now for a claim of `subscription`, reserved until
   * {@link Outbox.budgetSpent} so that claims running at once never promise the same room twice.
   * 0 when another claim holds the room (the subscription is woken when it ends) or the buffer
   * is at its bound (the hub is woken once half of it has drained).
   */
  budget(subscription: Subscription): number {
    if (!this.open) return 0;
    const free = this.limits.sendBufferBytes - this.socket.bufferedAmount;
    if (free <= 0) {
      this.drainTarget = this.limits.sendBufferBytes / 2;
      this.updateStallTimer();
      return 0;
    }
    const room = free - this.reserved;
    if (room <= 0) {
      this.waitingForRoom.add(subscription);
      return 0;
    }
    this.reserved += room;
    return room;
  }

  /** Ends a reservation of {@link Outbox.budget}, once the claim's events are in the buffer. */
  budgetSpent(bytes: number): void {
    this.reserved -= bytes;
    // Those refused room meanwhile claim next, rather than the one that just had it.
    if (this.waitingForRoom.size > 0) {
      const waiting = [...this.waitingForRoom];
      this.waitingForRoom.clear();
      this.events.wake(waiting);
    }
    this.wakeIfDrained();
  }

  /**
   * The hub holds back an event, sent at `position`, whose lease ran out before the client showed
   * it had read it. A ping sent after it tells: its pong (or an answer to a later event) wakes the hub.
   */
  awaitReceipt(position: number): void {
    if (!this.open) return;
    this.awaitingReceipt = true;
    this.updateStallTimer();
    const asked = [...this.pings.values()].some((at) => at >= position);
    if (!asked) this.ping();
  }

  /** Sends a ping whose `ts` (the clock, made unique) lets its pong tell how far the client has read. */
  ping(): void {
    if (!this.open) return;
    const ts = Math.max(Date.now(), this.lastPingTs + 1);
    this.lastPingTs = ts;
    this.pings.set(ts, this.write(encodeMessage({ type: 'ping', ts })));
    if (this.pings.size > MAX_UNANSWERED_PINGS) this.pings.delete(this.pings.keys().next().value ?? ts);
  }

  /** A pong answers its ping and every earlier one: messages arrive in order. */
  pong(ts: number): void {
    const position = this.pings.get(ts);
    if (position === undefined) return;
    for (const sent of this.pings.keys()) {
      if (sent > ts) break;
      this.pings.delete(sent);
    }
    this.read(position);
  }

  /** The client has shown it read every message up to `position` (it answered the one there). */
  read(position: number): void {
    if (position <= this.readTo) return;
    this.readTo = position;
    if (!this.awaitingReceipt) return;
    this.awaitingReceipt = false;
    this.updateStallTimer();
    this.events.wake();
  }

  /** Stops the timers; nothing is sent any more. */
  close(): void {
    this.closed = true;
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }

  /** After each write and claim: once the buffer is down to what the hub waits for, it may claim again. */
  private wakeIfDrained(): void {
    if (this.drainTarget === undefined || this.socket.bufferedAmount > this.drainTarget) return;
    this.drainTarget = undefined;
    this.updateStallTimer();
    this.events.wake();
  }

  /** Runs the stall timer exactly while the hub waits on this connection. */
  private updateStallTimer(): void {
    const waiting = this.drainTarget !== undefined || this.awaitingReceipt;
    if (!waiting || this.closed) {
      clearTimeout(this.stallTimer);
      this.stallTimer = undefined;
      return;
    }
    if (this.stallTimer !== undefined) return;
    const { sendStallTimeoutMs, sendBufferBytes } = this.limits;
    this.stallTimer = setTimeout(() => {
      this.events.stalled(
        this.drainTarget !== undefined
          ? `${this.socket.bufferedAmount} bytes still waiting after ${sendStallTimeoutMs} ms; the bound is ${sendBufferBytes}`
          : `no ping or event answered within ${sendStallTimeoutMs} ms after a lease ran out`,
      );
    }, sendStallTimeoutMs);
    this.stallTimer.unref();
  }
}
