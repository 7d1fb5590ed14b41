import type { FastifyPluginAsync } from 'fastify';
import type { Store } from '../store/store.js';
import type { ChannelActivity } from './activity.js';
import { pagePlugin } from './page.js';
import { streamRoutes } from './stream-routes.js';

/** Dependencies of {@link webPlugin}. */
export interface WebPluginOptions {
  store: Store;
  activity: ChannelActivity;
  /** Serve the Webhook Logs page at `/`. */
  page: boolean;
  /** How often an open event stream checks its token (tests shorten it). Default 20 s. */
  tokenCheckMs?: number;
}

/** The Webhook Logs page and the API routes only it needs: the live event stream and `whoami`. */
export const webPlugin: FastifyPluginAsync<WebPluginOptions> = async (app, options) => {
  await app.register(streamRoutes, {
    store: options.store,
    activity: options.activity,
    ...(options.tokenCheckMs !== undefined ? { tokenCheckMs: options.tokenCheckMs } : {}),
  });
  if (options.page) await app.register(pagePlugin);
};
