import { HOP_BY_HOP_HEADERS, type HeaderPairs } from '@myop-relay/protocol';

/**
 * Turns Node's flat `rawHeaders` list into ordered pairs, dropping hop-by-hop headers, those
 * the `Connection` header names, and any names in `drop` (lowercase; the channel's credentials).
 */
export function storedHeaders(rawHeaders: readonly string[], drop: ReadonlySet<string>): HeaderPairs {
  const connectionNamed = new Set<string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]?.toLowerCase() === 'connection') {
      for (const token of (rawHeaders[i + 1] ?? '').split(',')) connectionNamed.add(token.trim().toLowerCase());
    }
  }
  const pairs: HeaderPairs = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] ?? '';
    const lower = name.toLowerCase();
    if (HOP_BY_HOP_HEADERS.has(lower) || connectionNamed.has(lower) || drop.has(lower)) continue;
    pairs.push([name, rawHeaders[i + 1] ?? '']);
  }
  return pairs;
}
