import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { recordAdminAction, type AdminAction } from '../audit.js';
import { RelayError } from '../errors.js';
import type { Store } from '../store/store.js';
import { limitParam, single, type RawQuery } from './params.js';
import { requestToken } from './token.js';

/** Records an admin action done through the API, with the request's token as its author. */
export function recordApiAction(store: Store, request: FastifyRequest, action: Omit<AdminAction, 'actor'>): Promise<void> {
  return recordAdminAction(store, request.log, { ...action, actor: { kind: 'token', name: requestToken(request).name } });
}

/** `GET /api/audit?limit=50`: the newest admin actions, for admin tokens. */
export const auditRoutes: FastifyPluginAsync<{ store: Store }> = async (app, { store }) => {
  app.get<{ Querystring: RawQuery }>('/api/audit', async (request) => {
    const token = requestToken(request);
    if (token.role !== 'admin') throw new RelayError('RELAY_E_ADMIN_REQUIRED', `(token "${token.name}" is a developer token)`);
    const limit = limitParam(single(request.query, 'limit'));
    const entries = await store.listAudit(limit);
    return { entries: entries.map((e) => ({ at: e.at.toISOString(), actor: e.actor, action: e.action, target: e.target, detail: e.detail })) };
  });
};
