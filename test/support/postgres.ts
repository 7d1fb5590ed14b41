import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { CleanupStep } from './cleanup.js';

/**
 * The Postgres server tests run against: 127.0.0.1:5432, user postgres, database test, trust
 * auth (running on developer machines and in CI). `TEST_DATABASE_URL` points elsewhere.
 */
export const TEST_DATABASE_URL = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** `base` with its search_path set to `schema`, the way an operator gives relay-server a schema. */
export function urlWithSchema(schema: string, base = TEST_DATABASE_URL): string {
  const url = new URL(base);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString().replace(/\+/g, '%20');
}

/** A schema made for one test (or one file) and the URL that uses it. */
export interface TestSchema {
  name: string;
  /** {@link TEST_DATABASE_URL} with the search_path set to this schema. */
  url: string;
  /** Runs one statement as the admin, outside any relay store (for looking at or breaking the tables). */
  query<R extends pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<R[]>;
  /** `DROP SCHEMA … CASCADE`; safe to call twice. */
  drop(): Promise<void>;
}

async function withAdmin<T>(work: (client: pg.Client) => Promise<T>, url = TEST_DATABASE_URL): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Runs `sql` (several statements allowed) on a connection of its own to `url`, the test server by default. */
export async function adminQuery(sql: string, url = TEST_DATABASE_URL): Promise<void> {
  await withAdmin((client) => client.query(sql), url);
}

/** Creates an empty schema with a unique name; the caller drops it when done. */
export async function createTestSchema(prefix = 'relay_test'): Promise<TestSchema> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const quoted = pg.escapeIdentifier(name);
  await withAdmin((client) => client.query(`CREATE SCHEMA ${quoted}`));
  let dropped = false;
  return {
    name,
    url: urlWithSchema(name),
    query: (sql, values) =>
      withAdmin(async (client) => {
        await client.query(`SET search_path TO ${quoted}`);
        return (await client.query(sql, values)).rows;
      }),
    async drop() {
      if (dropped) return;
      dropped = true;
      await withAdmin((client) => client.query(`DROP SCHEMA IF EXISTS ${quoted} CASCADE`));
    },
  };
}

/** A schema for one test, dropped by the file's cleanup after it (see cleanup.ts). */
export async function freshSchema(cleanup: CleanupStep[]): Promise<TestSchema> {
  const schema = await createTestSchema();
  cleanup.push(() => schema.drop());
  return schema;
}
