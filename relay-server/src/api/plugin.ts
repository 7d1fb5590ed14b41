import type {
  ChannelInfo,
  ChannelList,
  ConsumerListView,
  DeliveryListView,
  EventDetailView,
  EventListView,
} from '@myop-relay/protocol';
import type { FastifyPluginAsync } from 'fastify';
import { viewChannel } from '../channel.js';
import { RelayError } from '../errors.js';
import type { DeliveryHub } from '../delivery/hub.js';
import type { IngestCounters } from '../ingest/counters.js';
import { decodeCursor } from '../store/cursor.js';
import type { Store, TokenRecord } from '../store/store.js';
import { authenticate, mayReadChannel, visibleChannels } from '../tokens.js';
import { eventFilters } from './event-filters.js';
import { deliveryView, summaryView, summaryViews } from './event-views.js';
import { timeParam } from './params.js';
import { workflowRoutes } from './samples.js';
import { requestToken, setRequestToken } from './token.js';

/** Dependencies of the read API. */
export interface ApiPluginOptions {
  store: Store;
  counters: IngestCounters;
  hub: DeliveryHub;
  /** Called after a sample event is stored (see the ingest plugin's option of the same name). */
  onStored: (channel: string) => void;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The HTTP API behind a bearer token: channels, events, one event with its delivery attempts,
 * and consumers. Developer tokens see only their channels.
 */
export const apiPlugin: FastifyPluginAsync<ApiPluginOptions> = async (app, { store, counters, hub, onStored }) => {
  app.addHook('onRequest', async (request) => {
    setRequestToken(request, await authenticate(store, request.headers.authorization));
  });
  await app.register(workflowRoutes, { accept: { store, counters, onStored }, store, hub });

  app.get('/api/channels', async (request): Promise<ChannelList> => {
    const token = requestToken(request);
    const channels: ChannelInfo[] = [];
    for (const channel of await store.listChannels()) {
      if (!mayReadChannel(token, channel.name)) continue;
      const stats = await store.channelStats(channel.name);
      channels.push({
        ...viewChannel(channel),
        events: stats.events,
        lastSeq: stats.lastSeq,
        lastReceivedAt: stats.lastReceivedAt?.toISOString() ?? null,
        ingest: counters.get(channel.name),
      });
    }
    return { channels };
  });

  app.get<{ Querystring: Record<string, string | undefined> }>('/api/events', async (request): Promise<EventListView> => {
    const token = requestToken(request);
    const q = request.query;
    const limit = q['limit'] === undefined ? 50 : Number(q['limit']);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new RelayError('RELAY_E_INVALID_QUERY', `(limit: expected 1-1000, got "${q['limit']}")`);
    }
    if (q['channel'] !== undefined && !mayReadChannel(token, q['channel'])) {
      throw new RelayError('RELAY_E_CHANNEL_FORBIDDEN', `(channel "${q['channel']}")`);
    }
    if (q['cursor'] !== undefined && decodeCursor(q['cursor']) === undefined) {
      throw new RelayError('RELAY_E_INVALID_QUERY', '(cursor: pass back a nextCursor value unchanged)');
    }
    const now = new Date();
    const page = await store.listEvents({
      visibleChannels: visibleChannels(token),
      ...(q['channel'] !== undefined ? { channel: q['channel'] } : {}),
      ...eventFilters(q),
      ...(q['since'] !== undefined ? { since: timeParam('since', q['since'], now) } : {}),
      ...(q['before'] !== undefined ? { before: timeParam('before', q['before'], now) } : {}),
      ...(q['cursor'] !== undefined ? { cursor: q['cursor'] } : {}),
      limit,
    });
    return { events: await summaryViews(store, page.events), nextCursor: page.nextCursor ?? null, scanLimited: page.scanLimited ?? false };
  });

  app.get<{ Params: { channel: string; id: string } }>('/api/events/:channel/:id', async (request): Promise<EventDetailView> => {
    const token = requestToken(request);
    const { channel, id } = request.params;
    if (!mayReadChannel(token, channel)) throw new RelayError('RELAY_E_CHANNEL_FORBIDDEN', `(channel "${channel}")`);
    const event = await store.getEvent(channel, id);
    if (!event) throw new RelayError('RELAY_E_EVENT_NOT_FOUND', `(channel "${channel}", id "${id}")`);
    let bodyText: string | null;
    try {
      bodyText = strictUtf8.decode(event.body);
    } catch {
      bodyText = null;
    }
    return {
      ...summaryView(event, (await store.deliveryStates(channel, [event.seq])).map(deliveryView)),
      headers: event.headers,
      bodyBase64: Buffer.from(event.body).toString('base64'),
      bodyText,
      verification: event.verification,
    };
  });

  /** Throws unless the token may read the channel. */
  function assertReadable(token: TokenRecord, channel: string): void {
    if (!mayReadChannel(token, channel)) throw new RelayError('RELAY_E_CHANNEL_FORBIDDEN', `(channel "${channel}")`);
  }

  app.get<{ Params: { channel: string; id: string } }>('/api/events/:channel/:id/deliveries', async (request): Promise<DeliveryListView> => {
    const { channel, id } = request.params;
    assertReadable(requestToken(request), channel);
    const attempts = await store.listAttempts(channel, id);
    const event = attempts && (await store.getEvent(channel, id));
    if (!attempts || !event) throw new RelayError('RELAY_E_EVENT_NOT_FOUND', `(channel "${channel}", id "${id}")`);
    return {
      channel,
      id,
      consumers: (await store.deliveryStates(channel, [event.seq])).map(deliveryView),
      attempts: attempts.map((a) => ({
        consumer: a.consumer,
        attempt: a.attempt,
        session: a.session,
        startedAt: a.startedAt.toISOString(),
        finishedAt: a.finishedAt?.toISOString() ?? null,
        status: a.status,
        latencyMs: a.latencyMs,
        error: a.error,
        outcome: a.outcome,
      })),
    };
  });

  app.get<{ Querystring: { channel?: string } }>('/api/consumers', async (request): Promise<ConsumerListView> => {
    const token = requestToken(request);
    const channel = request.query.channel;
    if (channel === undefined || channel === '') throw new RelayError('RELAY_E_INVALID_QUERY', '(channel: required)');
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
      })),
    };
  });

  app.delete<{ Params: { channel: string; name: string } }>('/api/consumers/:channel/:name', async (request, reply) => {
    const { channel, name } = request.params;
    assertReadable(requestToken(request), channel);
    if (!(await store.deleteConsumer(channel, name))) throw new RelayError('RELAY_E_CONSUMER_NOT_FOUND', `(channel "${channel}", consumer "${name}")`);
    return reply.code(204).send();
  });
};
