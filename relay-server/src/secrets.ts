import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Lowercase hex SHA-256 of a string or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Compares two strings in time that depends only on their lengths' digests, not on where they
 * differ: both sides are hashed first so unequal lengths leak nothing either.
 */
export function constantTimeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/** A fresh random secret of 32 bytes, base64url (43 characters). */
export function generateSecret(prefix = ''): string {
  return prefix + randomBytes(32).toString('base64url');
}

/** Prefix of API tokens, so they are recognisable in a secret scanner. */
export const TOKEN_PREFIX = 'mrt_';
/** Prefix of generated signing secrets. */
export const SECRET_PREFIX = 'whsec_';
