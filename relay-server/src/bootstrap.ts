import { applyChannelSettings } from './channel-settings.js';
import type { Store } from './store/store.js';
import { issueToken } from './tokens.js';

/** Name of the channel created on first start. */
export const FIRST_CHANNEL = 'myoperator';

/** What the first start created; the secret and token are shown once and stored nowhere in clear but the secret. */
export interface FirstStart {
  channel: string;
  signatureHeader: string;
  secret: string;
  adminToken: string;
}

/**
 * On the first start of an empty store, creates the `myoperator` channel (HMAC, generated secret)
 * and an admin token. Returns undefined on later starts.
 */
export async function bootstrapStore(store: Store): Promise<FirstStart | undefined> {
  if ((await store.getMeta('bootstrapped_at')) !== undefined) return undefined;
  if ((await store.listChannels()).length > 0 || (await store.listTokens()).length > 0) {
    await store.setMeta('bootstrapped_at', new Date().toISOString());
    return undefined;
  }
  const { channel, generatedSecret } = applyChannelSettings(FIRST_CHANNEL, { verify: 'hmac' });
  await store.createChannel(channel);
  const { token } = await issueToken(store, { name: 'admin', role: 'admin', channels: null });
  await store.setMeta('bootstrapped_at', new Date().toISOString());
  // Made by `relay-server start` on the host, so their author is the command line.
  const first = { actor: { kind: 'cli' }, at: new Date(), detail: { firstStart: true } } as const;
  await store.appendAudit({ ...first, action: 'channel.add', target: channel.name, detail: { ...first.detail, verify: 'hmac' } });
  await store.appendAudit({ ...first, action: 'token.create', target: 'admin', detail: { ...first.detail, role: 'admin', channels: null } });
  if (channel.verification.mode !== 'hmac' || generatedSecret === undefined) throw new Error('first channel must be hmac');
  return { channel: channel.name, signatureHeader: channel.verification.header, secret: generatedSecret, adminToken: token };
}
