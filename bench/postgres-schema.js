// A throwaway Postgres schema for one bench run, made and dropped the way the tests do it.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The Postgres server the tests use; BENCH_DATABASE_URL points elsewhere. */
export const BENCH_DATABASE_URL = process.env['BENCH_DATABASE_URL'] || 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Runs `work` on one admin connection to `base`.
 *
 * @template T
 * @param {string} base
 * @param {(client: pg.Client) => Promise<T>} work
 * @returns {Promise<T>}
 */
async function withAdmin(base, work) {
  const client = new pg.Client({ connectionString: base, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * @typedef {object} BenchSchema
 * @property {string} name
 * @property {string} url  `base` with its search_path set to the schema, as relay-server takes it
 * @property {() => Promise<void>} drop  `DROP SCHEMA … CASCADE`; safe to call twice
 */

/**
 * Creates an empty schema with a unique name. Rejects when Postgres cannot be reached, which the
 * caller reports as a skipped section.
 *
 * @param {string} [base]
 * @returns {Promise<BenchSchema>}
 */
export async function createBenchSchema(base = BENCH_DATABASE_URL) {
  const name = `relay_bench_${randomBytes(6).toString('hex')}`;
  const quoted = pg.escapeIdentifier(name);
  await withAdmin(base, (client) => client.query(`CREATE SCHEMA ${quoted}`));
  const url = new URL(base);
  url.searchParams.set('options', `-c search_path=${name}`);
  let dropped = false;
  return {
    name,
    url: url.toString().replace(/\+/g, '%20'),
    async drop() {
      if (dropped) return;
      dropped = true;
      await withAdmin(base, (client) => client.query(`DROP SCHEMA IF EXISTS ${quoted} CASCADE`));
    },
  };
}

/** The URL without its password, for printing. */
export function describeUrl(/** @type {string} */ text) {
  const url = new URL(text);
  if (url.password) url.password = '***';
  url.search = '';
  return url.toString();
}
