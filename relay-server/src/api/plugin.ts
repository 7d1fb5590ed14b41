import { Buffer } from 'node:buffer';
import type {
  ChannelInfo,
  ChannelList,
  DeliveryAttemptView,
  DeliveryListView,
  EventDetailView,
  EventListView,
} from '@myop-relay/protocol';
import type { FastifyPluginAsync } from 'fastify';
import { viewChannel } from '../channel.js';
import { RelayError } from '../errors.js';
import type { DeliveryHub } from '../delivery/hub.js';
import type { IngestCounters } from '../ingest/counters.js';
import type { HandlerAnswer, Store } from '../store/store.js';
import { authenticate, mayReadChannel, visibleChannels } from '../tokens.js';
import { acceptJsonBodies } from './json-body.js';
import { channelParam, cursorParam, limitParam, optional, single, timeParam, type RawQuery } from './params.js';
import { assertReadable } from './access.js';
import { auditRoutes } from './audit.js';
import { consumerRoutes } from './consumers.js';
import { eventFilters } from './event-filters.js';
import { deliveryView, summaryView, summaryViews } from './event-views.js';
import { sampleRoutes } from './samples.js';
import { requestToken, setRequestToken } from './token.js';

/** Dependencies of the read API. */
export interface ApiPluginOptions {
  store: Store;
  counters: IngestCounters;
  hub: DeliveryHub;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The HTTP API behind a bearer token: channels, events, one event with its delivery attempts,
 * and consumers. Developer tokens see only their channels.
 */
export const apiPlugin: FastifyPluginAsync<ApiPluginOptions> = async (app, { store, counters, hub }) => {
  acceptJsonBodies(app);
  app.addHook('onRequest', async (request) => {
    setRequestToken(request, await authenticate(store, request.headers.authorization));
  });

  await app.register(sampleRoutes, { accept: { store, counters }, store });
  await app.register(consumerRoutes, { store, hub });
  await app.register(auditRoutes, { store });

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

  app.get<{ Querystring: RawQuery }>('/api/events', async (request): Promise<EventListView> => {
    const token = requestToken(request);
    const q = request.query;
    const limit = limitParam(single(q, 'limit'));
    const channel = optional(q, 'channel', channelParam);
    const cursor = optional(q, 'cursor', cursorParam);
    const now = new Date();
    const since = optional(q, 'since', (name, value) => timeParam(name, value, now));
    const before = optional(q, 'before', (name, value) => timeParam(name, value, now));
    if (channel !== undefined) assertReadable(token, channel);
    const page = await store.listEvents({
      visibleChannels: visibleChannels(token),
      ...(channel !== undefined ? { channel } : {}),
      ...eventFilters(q),
      ...(since !== undefined ? { since } : {}),
      ...(before !== undefined ? { before } : {}),
      ...(cursor !== undefined ? { cursor } : {}),
      limit,
    });
    return { events: await summaryViews(store, page.events), nextCursor: page.nextCursor ?? null, scanLimited: page.scanLimited ?? false };
  });

  app.get<{ Params: { channel: string; id: string } }>('/api/events/:channel/:id', async (request): Promise<EventDetailView> => {
    const { id } = request.params;
    const channel = channelParam('channel', request.params.channel);
    assertReadable(requestToken(request), channel);
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

  app.get<{ Params: { channel: string; id: string } }>('/api/events/:channel/:id/deliveries', async (request): Promise<DeliveryListView> => {
    const { id } = request.params;
    const channel = channelParam('channel', request.params.channel);
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
        ...answerView(a.answer),
      })),
    };
  });
};

/** The recorded answer's fields of a {@link DeliveryAttemptView}; none when nothing was recorded. */
function answerView(answer: HandlerAnswer | null): Pick<DeliveryAttemptView, 'responseHeaders' | 'responseBody' | 'responseBodyTruncated' | 'responseBytes'> {
  if (answer === null) return {};
  return {
    responseHeaders: answer.headers,
    ...(answer.body === null ? {} : { responseBody: Buffer.from(answer.body).toString('base64'), responseBodyTruncated: answer.truncated }),
    ...(answer.bytes === null ? {} : { responseBytes: answer.bytes }),
  };
}
