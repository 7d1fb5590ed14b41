import { createTestSchema } from '../../test/support/postgres.js';
import { openPostgresStore, type PostgresStoreOptions } from '../src/store/postgres-store.js';
import type { Store } from '../src/store/store.js';

/** A Postgres store on a schema of its own for the conformance suites, dropped with the store. */
export async function openConformanceStore(options: Partial<PostgresStoreOptions> = {}): Promise<{ store: Store; cleanup: () => Promise<void> }> {
  const schema = await createTestSchema();
  try {
    const store = await openPostgresStore({ url: schema.url, poolSize: 4, ...options });
    return {
      store,
      cleanup: async () => {
        await store.close();
        await schema.drop();
      },
    };
  } catch (error) {
    await schema.drop();
    throw error;
  }
}
