import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { recordAdminAction, type AdminAction } from '../audit.js';
import { RelayError } from '../errors.js';
import type { Store } from '../store/store.js';
import { requestToken } from './token.js';

/** Records an admin action done through the API, with the request's token as its author. */
export function recordApiAction(store: Store, request: FastifyRequest, action: Omit<AdminAction, 'actor'>): Promise<void> {
  return recordAdminAction(store, request.log, { ...action, actor: { kind: 'token', name: requestToken(request).name } });
}

/** `GET /api/audit?limit=50`: the newest admin actions, for admin tokens. */
export const auditRoutes: FastifyPluginAsync<{ store: Store }> = async (app, { store }) => {
  app.get<{ Querystring: { limit?: string } }>('/api/audit', async (request) => {
    const token = requestToken(request);
    if (token.role !== 'admin') throw new RelayError('RELAY_E_ADMIN_REQUIRED', `(token "${token.name}" is a developer token)`);
    const text = request.query.limit;
    const limit = text === undefined ? 50 : Number(text);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new RelayError('RELAY_E_INVALID_QUERY', `(limit: expected 1-1000, got "${text}")`);
    const entries = await store.listAudit(limit);
    return { entries: entries.map((e) => ({ at: e.at.toISOString(), actor: e.actor, action: e.action, target: e.target, detail: e.detail })) };
  });
};
