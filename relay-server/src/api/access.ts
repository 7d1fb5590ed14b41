import type { Channel } from '../channel.js';
import { RelayError } from '../errors.js';
import type { Store, TokenRecord } from '../store/store.js';
import { mayReadChannel } from '../tokens.js';
import { channelParam } from './params.js';

/** Throws `RELAY_E_CHANNEL_FORBIDDEN` unless the token may read the channel. */
export function assertReadable(token: TokenRecord, channel: string): void {
  if (!mayReadChannel(token, channel)) throw new RelayError('RELAY_E_CHANNEL_FORBIDDEN', `(channel "${channel}")`);
}

/** The channel named in a route, once its name is valid, the token may read it and it exists. */
export async function readableChannel(store: Store, token: TokenRecord, name: string): Promise<Channel> {
  channelParam('channel', name);
  assertReadable(token, name);
  const channel = await store.getChannel(name);
  if (!channel) throw new RelayError('RELAY_E_UNKNOWN_CHANNEL', `(channel "${name}")`);
  return channel;
}
