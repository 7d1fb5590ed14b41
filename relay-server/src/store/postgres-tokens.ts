import { RelayError } from '../errors.js';
import { changed, firstRow, rows, type Queryable } from './postgres-connection.js';
import type { TokenRecord } from './store.js';

const SQL = {
  insert: 'INSERT INTO tokens (name, hash, role, channels, created_at) VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT DO NOTHING',
  byHash: 'SELECT * FROM tokens WHERE hash = $1',
  list: 'SELECT * FROM tokens ORDER BY name COLLATE "C"',
  delete: 'DELETE FROM tokens WHERE name = $1',
  setChannels: 'UPDATE tokens SET channels = $2::jsonb WHERE name = $1',
} as const;

interface TokenRow {
  name: string;
  hash: string;
  role: string;
  channels: string[] | null;
  created_at: Date;
}

function toToken(row: TokenRow): TokenRecord {
  return { name: row.name, hash: row.hash, role: row.role === 'admin' ? 'admin' : 'developer', channels: row.channels, createdAt: row.created_at };
}

/** The Postgres store's API and WebSocket tokens, kept by their SHA-256 only. */
export const postgresTokens = {
  /** @throws RelayError `RELAY_E_TOKEN_EXISTS` when the name is taken. */
  async create(db: Queryable, token: TokenRecord): Promise<void> {
    const channels = token.channels === null ? null : JSON.stringify(token.channels);
    if ((await changed(db, SQL.insert, [token.name, token.hash, token.role, channels, token.createdAt])) === 0) {
      throw new RelayError('RELAY_E_TOKEN_EXISTS', `(token "${token.name}")`);
    }
  },

  async byHash(db: Queryable, hash: string): Promise<TokenRecord | undefined> {
    const row = await firstRow<TokenRow>(db, SQL.byHash, [hash]);
    return row ? toToken(row) : undefined;
  },

  async list(db: Queryable): Promise<TokenRecord[]> {
    return (await rows<TokenRow>(db, SQL.list)).map(toToken);
  },

  /** Whether a token of that name existed. */
  async revoke(db: Queryable, name: string): Promise<boolean> {
    return (await changed(db, SQL.delete, [name])) > 0;
  },

  /** Whether a token of that name exists; `null` channels means every channel. */
  async setChannels(db: Queryable, name: string, channels: readonly string[] | null): Promise<boolean> {
    return (await changed(db, SQL.setChannels, [name, channels === null ? null : JSON.stringify(channels)])) > 0;
  },
};
