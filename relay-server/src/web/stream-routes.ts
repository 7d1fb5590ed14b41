import { STREAM_COALESCE_MS, STREAM_TOKEN_CHECK_MS, type WhoAmIView } from '@myop-relay/protocol';
import type { FastifyPluginAsync } from 'fastify';
import { requestToken, setRequestToken } from '../api/token.js';
import type { Store } from '../store/store.js';
import { authenticate, mayReadChannel, visibleChannels } from '../tokens.js';
import type { ChannelActivity } from './activity.js';
import { LiveStream } from './live-stream.js';

/** Dependencies of {@link streamRoutes}. */
export interface StreamRoutesOptions {
  store: Store;
  activity: ChannelActivity;
  /** How often an open stream checks that its token still exists. Default {@link STREAM_TOKEN_CHECK_MS}. */
  tokenCheckMs?: number;
  /** Keep-alive comment interval. Default 15 s. */
  keepAliveMs?: number;
}

/**
 * `GET /api/stream` (Server-Sent Events: which channels have new events) and `GET /api/whoami`,
 * behind the same bearer token as the rest of the API. The token travels in the Authorization
 * header, so the page reads the stream with `fetch`, never with a token in the URL.
 */
export const streamRoutes: FastifyPluginAsync<StreamRoutesOptions> = async (app, options) => {
  const { store, activity } = options;
  const streams = new Set<LiveStream>();
  const stopListening = activity.listen((channel) => {
    for (const stream of streams) stream.channelChanged(channel);
  });
  app.addHook('preClose', async () => {
    stopListening();
    for (const stream of [...streams]) stream.end();
  });

  app.addHook('onRequest', async (request) => {
    setRequestToken(request, await authenticate(store, request.headers.authorization));
  });

  app.get('/api/whoami', async (request): Promise<WhoAmIView> => {
    const token = requestToken(request);
    const channels = visibleChannels(token);
    return { name: token.name, role: token.role, channels: channels === null ? null : [...channels] };
  });

  app.get('/api/stream', async (request, reply) => {
    const token = requestToken(request);
    reply.hijack();
    const response = reply.raw;
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // nginx would otherwise hold the messages back until its buffer fills.
      'x-accel-buffering': 'no',
    });
    const stream = new LiveStream({
      response,
      mayRead: (channel) => mayReadChannel(token, channel),
      tokenValid: async () => (await store.findTokenByHash(token.hash)) !== undefined,
      coalesceMs: STREAM_COALESCE_MS,
      tokenCheckMs: options.tokenCheckMs ?? STREAM_TOKEN_CHECK_MS,
      keepAliveMs: options.keepAliveMs ?? 15_000,
      onClose: () => streams.delete(stream),
    });
    streams.add(stream);
    stream.send('ready', { token: token.name });
  });
};
