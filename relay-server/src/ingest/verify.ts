import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Channel } from '../channel.js';
import { compileAddressList, type AddressMatcher } from '../address-list.js';
import { RelayError } from '../errors.js';
import type { BasicAuthVerifier } from './basic-auth.js';
import { constantTimeEqual, sha256Hex } from '../secrets.js';

/** The parts of a request that verification looks at. */
export interface VerifiableRequest {
  /** Lowercase header names, as Node presents them. */
  headers: Record<string, string | string[] | undefined>;
  query: URLSearchParams;
  sourceIp: string;
}

const HEX_SHA256 = /^[0-9a-f]{64}$/;

function singleHeader(request: VerifiableRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

// Channel records are immutable and cached, so each allow-list is compiled once.
const matcherCache = new WeakMap<readonly string[], AddressMatcher>();

function allowListMatcher(allowIps: readonly string[]): AddressMatcher {
  let matcher = matcherCache.get(allowIps);
  if (!matcher) {
    matcher = compileAddressList(allowIps);
    matcherCache.set(allowIps, matcher);
  }
  return matcher;
}

/**
 * Checks what can be checked before the body is read: the IP allow-list, Basic auth and API
 * keys. Rejects with a coded RelayError when the request must be refused.
 */
export async function verifyBeforeBody(channel: Channel, request: VerifiableRequest, basicAuth: BasicAuthVerifier): Promise<void> {
  if (channel.allowIps.length > 0 && !allowListMatcher(channel.allowIps)(request.sourceIp)) {
    throw new RelayError('RELAY_E_IP_NOT_ALLOWED', `(source ${request.sourceIp})`);
  }
  const v = channel.verification;
  switch (v.mode) {
    case 'basic': {
      const auth = singleHeader(request, 'authorization');
      const match = auth === undefined ? null : /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(auth);
      if (!match?.[1]) throw new RelayError('RELAY_E_CREDENTIALS_MISSING', '(expected an Authorization: Basic header)');
      const decoded = Buffer.from(match[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const user = colon < 0 ? decoded : decoded.slice(0, colon);
      const password = colon < 0 ? '' : decoded.slice(colon + 1);
      if (!(await basicAuth.verify(v, user, password))) throw new RelayError('RELAY_E_BASIC_AUTH_INVALID');
      return;
    }
    case 'apikey': {
      const presented = v.location === 'header' ? singleHeader(request, v.name) : (request.query.get(v.name) ?? undefined);
      if (presented === undefined || presented === '') {
        throw new RelayError(
          'RELAY_E_CREDENTIALS_MISSING',
          v.location === 'header' ? `(expected the API key in header ${v.name})` : `(expected the API key in query parameter ${v.name})`,
        );
      }
      if (!constantTimeEqual(sha256Hex(presented), v.keyHash)) throw new RelayError('RELAY_E_API_KEY_INVALID');
      return;
    }
    case 'hmac':
      if (singleHeader(request, v.header) === undefined) {
        throw new RelayError('RELAY_E_CREDENTIALS_MISSING', `(expected the signature in header ${v.header})`);
      }
      return;
    case 'none':
      return;
  }
}

/** Checks the HMAC signature over the exact received bytes against every active secret. */
export function verifyBody(channel: Channel, request: VerifiableRequest, body: Uint8Array): void {
  const v = channel.verification;
  if (v.mode !== 'hmac') return;
  // Hex case carries no meaning; MyOperator sends lowercase, other tools may not.
  const signature = (singleHeader(request, v.header) ?? '').trim().toLowerCase();
  if (!HEX_SHA256.test(signature)) throw new RelayError('RELAY_E_SIGNATURE_MALFORMED', `(header ${v.header})`);
  // 32 bytes, like every digest: timingSafeEqual compares them without a length to leak.
  const presented = Buffer.from(signature, 'hex');
  let matched = false;
  // Every secret is tried even after a match, so the time taken does not tell which one matched.
  for (const secret of v.secrets) {
    if (timingSafeEqual(createHmac('sha256', secret).update(body).digest(), presented)) matched = true;
  }
  if (!matched) throw new RelayError('RELAY_E_SIGNATURE_MISMATCH');
}

/** Lowercase names of request headers that carry this channel's credentials; never stored. */
export function credentialHeaders(channel: Channel): ReadonlySet<string> {
  const v = channel.verification;
  if (v.mode === 'basic') return new Set(['authorization']);
  if (v.mode === 'apikey' && v.location === 'header') return new Set([v.name.toLowerCase()]);
  return new Set();
}
