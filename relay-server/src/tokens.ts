import { RelayError } from './errors.js';
import { TOKEN_PREFIX, generateSecret, sha256Hex } from './secrets.js';
import type { Store, TokenRecord } from './store/store.js';

/** What {@link issueToken} needs. */
export interface TokenRequest {
  name: string;
  role: 'admin' | 'developer';
  /** For developers: the channels it may read; `null` = all. Ignored for admins. */
  channels: string[] | null;
}

const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/**
 * Creates a token and returns its string. The string is shown to the caller once; the store
 * keeps only its SHA-256, so a stolen database file grants no access.
 */
export async function issueToken(store: Store, request: TokenRequest): Promise<{ token: string; record: TokenRecord }> {
  if (!TOKEN_NAME.test(request.name)) {
    throw new RelayError('RELAY_E_CONFIG_INVALID', `--name "${request.name}": use 1-64 letters, digits, '.', '_', '@' or '-'.`);
  }
  if (request.role === 'developer' && request.channels !== null) {
    for (const name of request.channels) {
      if (!(await store.getChannel(name))) throw new RelayError('RELAY_E_UNKNOWN_CHANNEL', `(--channels names "${name}")`);
    }
  }
  const token = generateSecret(TOKEN_PREFIX);
  const record: TokenRecord = {
    name: request.name,
    hash: sha256Hex(token),
    role: request.role,
    channels: request.role === 'admin' ? null : request.channels,
    createdAt: new Date(),
  };
  await store.createToken(record);
  return { token, record };
}

/**
 * Sets the channels a developer token may read (`null`: every channel), keeping the token string,
 * so a developer's running listen and config keep working. Clients already connected keep the
 * channels they subscribed to until they reconnect; API requests see the change at once.
 *
 * @throws RelayError `RELAY_E_TOKEN_NOT_FOUND`, `RELAY_E_UNKNOWN_CHANNEL` for a channel that does
 *   not exist, `RELAY_E_CONFIG_INVALID` for an admin token (admins read every channel).
 */
export async function setTokenChannels(store: Store, name: string, channels: string[] | null): Promise<TokenRecord> {
  const record = (await store.listTokens()).find((t) => t.name === name);
  if (!record) throw new RelayError('RELAY_E_TOKEN_NOT_FOUND', `(token "${name}")`);
  if (record.role === 'admin') throw new RelayError('RELAY_E_CONFIG_INVALID', `--channels: "${name}" is an admin token, which reads every channel; create a developer token for fewer.`);
  for (const channel of channels ?? []) {
    if (!(await store.getChannel(channel))) throw new RelayError('RELAY_E_UNKNOWN_CHANNEL', `(--channels names "${channel}")`);
  }
  if (!(await store.updateTokenChannels(name, channels))) throw new RelayError('RELAY_E_TOKEN_NOT_FOUND', `(token "${name}")`);
  return { ...record, channels };
}

/** Finds the token record for an `Authorization` header value; throws the matching coded error. */
export async function authenticate(store: Store, authorization: string | undefined): Promise<TokenRecord> {
  const match = authorization === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!match?.[1]) throw new RelayError('RELAY_E_AUTH_REQUIRED');
  const record = await store.findTokenByHash(sha256Hex(match[1]));
  if (!record) throw new RelayError('RELAY_E_TOKEN_INVALID');
  return record;
}

/** True when the token may read `channel`. */
export function mayReadChannel(token: TokenRecord, channel: string): boolean {
  return token.role === 'admin' || token.channels === null || token.channels.includes(channel);
}

/** The channels a token may read; `null` means every channel. */
export function visibleChannels(token: TokenRecord): readonly string[] | null {
  return token.role === 'admin' ? null : token.channels;
}
