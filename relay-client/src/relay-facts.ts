/**
 * What `listen` asks the relay's HTTP API besides the WebSocket: whether a subscription shares
 * its consumer with other sessions or starts after events it will not get, and, after a stop,
 * how many events the relay still holds for the consumer. Each answer is a bonus: when the API
 * cannot be asked (the token may not, the relay is gone) `listen` goes on without it.
 */
import type { HintInfo } from './renderer/renderer.js';
import type { RelayApi } from './relay-api.js';

/** What {@link subscriptionHints} needs to know about one subscription. */
export interface SubscriptionFacts {
  channel: string;
  consumer: string;
  /** The relay created the consumer at this subscribe. */
  created: boolean;
  /** The subscribe named a start position (`--since`), so older events were asked for or passed over on purpose. */
  since: boolean;
}

/** The hints for a subscription just confirmed; none when the API does not answer. */
export async function subscriptionHints(api: RelayApi, facts: SubscriptionFacts): Promise<HintInfo[]> {
  const hints: HintInfo[] = [];
  try {
    const consumer = (await api.consumers(facts.channel)).consumers.find((c) => c.name === facts.consumer);
    if (consumer !== undefined && consumer.connectedSessions > 1) {
      hints.push({ kind: 'shared-consumer', channel: facts.channel, consumer: facts.consumer, sessions: consumer.connectedSessions });
    }
    if (facts.created && !facts.since) {
      const stored = (await api.channels()).channels.find((c) => c.name === facts.channel)?.events ?? 0;
      // Events stored after the consumer was created are delivered, and counted as pending.
      const waiting = consumer?.pending ?? 0;
      if (stored - waiting > 0) hints.push({ kind: 'stored-before', channel: facts.channel, consumer: facts.consumer, stored: stored - waiting });
    }
  } catch {
    // Hints are extras; listen works without them.
  }
  return hints;
}

/** Events the relay holds for `consumer` on `channels` (waiting, in flight, in backoff); undefined when it cannot be asked. */
export async function relayPending(api: RelayApi, channels: readonly string[], consumer: string): Promise<number | undefined> {
  try {
    let pending = 0;
    for (const channel of channels) pending += (await api.consumers(channel)).consumers.find((c) => c.name === consumer)?.pending ?? 0;
    return pending;
  } catch {
    return undefined;
  }
}
