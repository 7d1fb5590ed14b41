/**
 * What became of one delivery attempt, as the hub saw it:
 * - `acked`: the local handler answered 2xx and the ack was recorded;
 * - `retry`: the attempt failed and the event will be sent again after the backoff;
 * - `parked`: the attempt failed and was the consumer's last (`maxAttempts`);
 * - `ignored`: the answer came for an attempt that was already settled (a late answer);
 * - `expired`: the client did not answer within the ack timeout, so the event goes out again.
 */
export type AttemptResult = 'acked' | 'retry' | 'parked' | 'ignored' | 'expired';

/** Hears how delivery attempts end, without a say in them. The metrics implement it. */
export interface DeliveryObserver {
  /** `count` attempts of the consumer ended with `result` (several at once only when leases expired together). */
  attemptsEnded(channel: string, consumer: string, result: AttemptResult, count: number): void;
  /** An ack was recorded for an event the relay had received `receiveToAckMs` before. */
  delivered(channel: string, consumer: string, receiveToAckMs: number): void;
}
