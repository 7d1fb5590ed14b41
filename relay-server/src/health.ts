import type { FastifyPluginAsync } from 'fastify';
import { RelayError, type StoreUnreadyReason } from './errors.js';
import type { Store } from './store/store.js';

/**
 * `GET /healthz` (the process answers) and `GET /readyz` (the store can take a write now; 503
 * with the reason otherwise, a {@link StoreUnreadyReason}). Requests that arrive while a readiness check runs share it, so a
 * burst of probes costs the store one check.
 */
export const healthPlugin: FastifyPluginAsync<{ store: Store }> = async (app, { store }) => {
  let checking: Promise<void> | undefined;
  const checkWritable = (): Promise<void> =>
    (checking ??= store.checkWritable().finally(() => {
      checking = undefined;
    }));

  app.get('/healthz', async () => ({ status: 'ok' }));
  // The detail (files, schemas, driver text) is for the operator's log, once per change of reason.
  let lastLogged: string | undefined;
  app.get('/readyz', async (request, reply) => {
    try {
      await checkWritable();
    } catch (caught) {
      const error = caught instanceof RelayError ? caught : new RelayError('RELAY_E_STORE_UNAVAILABLE', undefined, { cause: caught });
      const reason = error.reason ?? 'store-error';
      if (lastLogged !== error.message) {
        lastLogged = error.message;
        request.log.warn({ code: error.code, reason, detail: error.detail }, 'store not ready');
      }
      return reply.code(error.status).send({ status: 'unavailable', store: store.engine, reason, ...error.toBody() });
    }
    lastLogged = undefined;
    return { status: 'ready', store: store.engine };
  });
};
