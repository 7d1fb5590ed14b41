import type { ChannelInfo, WhoAmIView } from '@myop-relay/protocol';
import type { RelayApi } from './api.js';
import type { Route } from './router.js';

/** What every view of the signed-in page shares. */
export interface PageContext {
  api: RelayApi;
  who: WhoAmIView;
  /** Channels the token may read, as last fetched. */
  channels: ChannelInfo[];
  /** Moves to `route` (updating the URL fragment). */
  navigate(route: Route): void;
  /** Shows a message in the page's status line; errors stay until the next message. */
  notify(message: string, kind?: 'info' | 'error'): void;
}
