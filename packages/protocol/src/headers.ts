/**
 * Hop-by-hop headers (RFC 9110 §7.6.1), lowercase: they describe one connection, not the event,
 * so the relay neither stores them nor forwards them.
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
