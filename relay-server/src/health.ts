import type { FastifyPluginAsync } from 'fastify';
import { RelayError } from './errors.js';
import type { Store } from './store/store.js';

/** `GET /healthz` (the process answers) and `GET /readyz` (the store answers too). */
export const healthPlugin: FastifyPluginAsync<{ store: Store }> = async (app, { store }) => {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => {
    try {
      await store.ping();
    } catch (error) {
      throw error instanceof RelayError ? error : new RelayError('RELAY_E_STORE_UNAVAILABLE', undefined, { cause: error });
    }
    return { status: 'ready', store: store.engine };
  });
};
