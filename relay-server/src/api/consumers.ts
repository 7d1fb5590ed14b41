import { Buffer } from 'node:buffer';
import type { ConsumerFailureView, ConsumerListView, ReplayResult } from '@myop-relay/protocol';
import type { FastifyPluginAsync } from 'fastify';
import type { DeliveryHub } from '../delivery/hub.js';
import { RelayError } from '../errors.js';
import type { ConsumerFailure, EventQuery, Store } from '../store/store.js';
import { assertReadable, readableChannel } from './access.js';
import { recordApiAction } from './audit.js';
import { replayRequest } from './bodies.js';
import { channelParam, consumerParam, optional, type RawQuery } from './params.js';
import { requestToken } from './token.js';

/** Dependencies of the consumer routes. */
export interface ConsumerRoutesOptions {
  store: Store;
  hub: DeliveryHub;
}

/** A channel's consumers: their state, deleting one, and replaying stored events to one. */
export const consumerRoutes: FastifyPluginAsync<ConsumerRoutesOptions> = async (app, { store, hub }) => {
  app.get<{ Querystring: RawQuery }>('/api/consumers', async (request): Promise<ConsumerListView> => {
    const token = requestToken(request);
    const channel = optional(request.query, 'channel', channelParam);
    if (channel === undefined) throw new RelayError('RELAY_E_INVALID_QUERY', '(channel: required)');
    assertReadable(token, channel);
    if (!(await store.getChannel(channel))) throw new RelayError('RELAY_E_UNKNOWN_CHANNEL', `(channel "${channel}")`);
    const now = Date.now();
    return {
      consumers: (await store.listConsumers(channel)).map((c) => ({
        channel: c.channel,
        name: c.name,
        createdAt: c.createdAt.toISOString(),
        filter: c.filter,
        maxAttempts: c.maxAttempts,
        connectedSessions: hub.connected(c.channel, c.name),
        pending: c.pending,
        oldestPendingAgeMs: c.oldestPendingAt ? Math.max(0, now - c.oldestPendingAt.getTime()) : null,
        lastAckAt: c.lastAckAt?.toISOString() ?? null,
        failing: c.failing,
        failed: c.failed,
        lastFailure: failureView(c.lastFailure),
      })),
    };
  });

  app.delete<{ Params: { channel: string; name: string } }>('/api/consumers/:channel/:name', async (request, reply) => {
    const channel = channelParam('channel', request.params.channel);
    const name = consumerParam('consumer', request.params.name);
    assertReadable(requestToken(request), channel);
    if (!(await store.deleteConsumer(channel, name))) throw new RelayError('RELAY_E_CONSUMER_NOT_FOUND', `(channel "${channel}", consumer "${name}")`);
    await recordApiAction(store, request, { action: 'consumer.delete', target: `${channel}/${name}` });
    return reply.code(204).send();
  });

  app.post<{ Params: { channel: string; name: string }; Body: unknown }>('/api/consumers/:channel/:name/replay', async (request): Promise<ReplayResult> => {
    const channel = (await readableChannel(store, requestToken(request), request.params.channel)).name;
    const name = consumerParam('consumer', request.params.name);
    const selection = replayRequest(request.body, new Date());
    const seqs: number[] = [];
    const missing: string[] = [];
    if ('ids' in selection) {
      for (const id of selection.ids) {
        const event = await store.getEvent(channel, id);
        if (event) seqs.push(event.seq);
        else missing.push(id);
      }
    } else {
      const filter: Omit<EventQuery, 'visibleChannels' | 'limit'> =
        'state' in selection
          ? { channel, consumer: name, state: 'parked' }
          : { channel, since: selection.since, ...(selection.before ? { before: selection.before } : {}), ...(selection.type !== undefined ? { types: [selection.type] } : {}) };
      let cursor: string | undefined;
      do {
        const page = await store.listEvents({ visibleChannels: [channel], ...filter, ...(cursor ? { cursor } : {}), limit: 1000 });
        seqs.push(...page.events.map((e) => e.seq));
        cursor = page.nextCursor;
      } while (cursor && seqs.length < 100_000);
    }
    const queued = await store.requeueDeliveries(channel, name, seqs.sort((a, b) => a - b), new Date());
    hub.notify(channel);
    await recordApiAction(store, request, { action: 'consumer.replay', target: `${channel}/${name}`, detail: { queued, missing: missing.length } });
    return { channel, consumer: name, queued, missing };
  });
};

function failureView(failure: ConsumerFailure | null): ConsumerFailureView | null {
  if (failure === null) return null;
  return {
    id: failure.eventId,
    type: failure.eventType,
    seq: failure.seq,
    attempt: failure.attempt,
    at: failure.at.toISOString(),
    status: failure.status,
    error: failure.error,
    ...(failure.responseBody === null ? {} : { responseBody: Buffer.from(failure.responseBody).toString('base64') }),
  };
}
