import type { FastifyRequest } from 'fastify';
import { RelayError } from '../errors.js';
import type { TokenRecord } from '../store/store.js';

const tokens = new WeakMap<FastifyRequest, TokenRecord>();

/** Remembers the token that authenticated `request`. */
export function setRequestToken(request: FastifyRequest, token: TokenRecord): void {
  tokens.set(request, token);
}

/** The token that authenticated this API request (set by the plugin's onRequest hook). */
export function requestToken(request: FastifyRequest): TokenRecord {
  const token = tokens.get(request);
  if (!token) throw new RelayError('RELAY_E_AUTH_REQUIRED');
  return token;
}

