import { RelayError } from '../errors.js';
import type { SqliteDatabase, SqliteStatement } from './sqlite-driver.js';
import type { TokenRecord } from './store.js';

interface TokenRow {
  name: string;
  hash: string;
  role: string;
  channels: string | null;
  created_at: string;
}

function toToken(row: TokenRow): TokenRecord {
  return {
    name: row.name,
    hash: row.hash,
    role: row.role === 'admin' ? 'admin' : 'developer',
    channels: row.channels === null ? null : (JSON.parse(row.channels) as string[]),
    createdAt: new Date(row.created_at),
  };
}

/** The embedded store's API and WebSocket tokens, kept by their SHA-256 only. */
export class SqliteTokens {
  readonly #s: Record<'insert' | 'byHash' | 'list' | 'delete' | 'setChannels', SqliteStatement>;

  constructor(db: SqliteDatabase) {
    const p = (sql: string): SqliteStatement => db.prepare(sql);
    this.#s = {
      insert: p('INSERT INTO tokens (name, hash, role, channels, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING'),
      byHash: p('SELECT * FROM tokens WHERE hash = ?'),
      list: p('SELECT * FROM tokens ORDER BY name'),
      delete: p('DELETE FROM tokens WHERE name = ?'),
      setChannels: p('UPDATE tokens SET channels = ? WHERE name = ?'),
    };
  }

  /** @throws RelayError `RELAY_E_TOKEN_EXISTS` when the name is taken. */
  create(token: TokenRecord): void {
    const channels = token.channels === null ? null : JSON.stringify(token.channels);
    const { changes } = this.#s.insert.run(token.name, token.hash, token.role, channels, token.createdAt.toISOString());
    if (Number(changes) === 0) throw new RelayError('RELAY_E_TOKEN_EXISTS', `(token "${token.name}")`);
  }

  byHash(hash: string): TokenRecord | undefined {
    const row = this.#s.byHash.get(hash) as TokenRow | undefined;
    return row ? toToken(row) : undefined;
  }

  list(): TokenRecord[] {
    return (this.#s.list.all() as TokenRow[]).map(toToken);
  }

  /** Whether a token of that name existed. */
  revoke(name: string): boolean {
    return Number(this.#s.delete.run(name).changes) > 0;
  }

  /** Whether a token of that name exists; `null` channels means every channel. */
  setChannels(name: string, channels: readonly string[] | null): boolean {
    return Number(this.#s.setChannels.run(channels === null ? null : JSON.stringify(channels), name).changes) > 0;
  }
}
