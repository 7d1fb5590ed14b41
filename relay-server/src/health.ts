import type { FastifyPluginAsync } from 'fastify';
import { RelayError } from './errors.js';
import type { Store } from './store/store.js';

/**
 * `GET /healthz` (the process answers) and `GET /readyz` (the store can take a write now; 503
 * with the reason otherwise). Requests that arrive while a readiness check runs share it, so a
 * burst of probes costs the store one check.
 */
export const healthPlugin: FastifyPluginAsync<{ store: Store }> = async (app, { store }) => {
  let checking: Promise<void> | undefined;
  const checkWritable = (): Promise<void> =>
    (checking ??= store.checkWritable().finally(() => {
      checking = undefined;
    }));

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => {
    try {
      await checkWritable();
    } catch (error) {
      throw error instanceof RelayError ? error : new RelayError('RELAY_E_STORE_UNAVAILABLE', undefined, { cause: error });
    }
    return { status: 'ready', store: store.engine };
  });
};
