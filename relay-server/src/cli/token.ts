import { RelayError } from '../errors.js';
import type { Store } from '../store/store.js';
import { issueToken, setTokenChannels } from '../tokens.js';
import { json, line, table } from '@myop-relay/cli-support';
import type { Auditor } from './audit.js';

/** Operations behind `relay-server token …`. */
export const tokenCommands = {
  async create(
    store: Store,
    out: NodeJS.WritableStream,
    request: { name: string; role: 'admin' | 'developer'; channels: string[] | null },
    asJson: boolean,
    audit: Auditor,
  ): Promise<void> {
    const { token, record } = await issueToken(store, request);
    await audit('token.create', record.name, { role: record.role, channels: record.channels });
    if (asJson) {
      json(out, { name: record.name, role: record.role, channels: record.channels, token });
      return;
    }
    line(out, `token ${record.name} (${record.role}${record.channels ? `, channels ${record.channels.join(', ')}` : ', all channels'})`);
    line(out, `  ${token}`);
    line(out, '  (shown only now; the relay keeps just a hash of it)');
  },

  async list(store: Store, out: NodeJS.WritableStream, asJson: boolean): Promise<void> {
    const tokens = await store.listTokens();
    if (asJson) {
      json(out, tokens.map((t) => ({ name: t.name, role: t.role, channels: t.channels, createdAt: t.createdAt.toISOString() })));
      return;
    }
    table(
      out,
      ['NAME', 'ROLE', 'CHANNELS', 'CREATED'],
      tokens.map((t) => [t.name, t.role, t.channels ? t.channels.join(',') : '(all)', t.createdAt.toISOString()]),
    );
  },

  async update(store: Store, out: NodeJS.WritableStream, name: string, channels: string[] | null, asJson: boolean, audit: Auditor): Promise<void> {
    const record = await setTokenChannels(store, name, channels);
    await audit('token.update', record.name, { channels: record.channels });
    if (asJson) json(out, { name: record.name, role: record.role, channels: record.channels });
    else line(out, `token ${record.name} may now read ${record.channels ? `channels ${record.channels.join(', ')}` : 'every channel'}; the token itself is unchanged`);
  },

  async revoke(store: Store, out: NodeJS.WritableStream, name: string, asJson: boolean, audit: Auditor): Promise<void> {
    if (!(await store.revokeToken(name))) throw new RelayError('RELAY_E_TOKEN_NOT_FOUND', `(token "${name}")`);
    await audit('token.revoke', name);
    if (asJson) json(out, { revoked: name });
    else line(out, `revoked token ${name}; clients using it are refused from now on`);
  },
};
