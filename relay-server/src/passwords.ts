import { randomBytes, scrypt, scryptSync, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Channel } from './channel.js';
import { RelayError } from './errors.js';
import { sha256Hex } from './secrets.js';

/**
 * How Basic auth passwords are stored: a salted scrypt hash that names its own parameters,
 * `scrypt$<N>$<r>$<p>$<salt>$<key>` (salt and key in base64url), so the cost can be raised later
 * without breaking hashes already stored.
 *
 * Stores written before scrypt kept an unsalted SHA-256 (hex) of the password. The password
 * itself is not known when such a store is opened, so the migration hashes that SHA-256 with
 * scrypt instead, `scrypt-sha256$…`: as slow and salted to guess as the first form, and the fast
 * hash is gone from the store.
 */

/** scrypt cost of new hashes: N = 2^15, r = 8, p = 1, which takes 32 MiB and tens of milliseconds. */
export const SCRYPT_COST = { N: 2 ** 15, r: 8, p: 1 } as const;

const SALT_BYTES = 16;
const KEY_BYTES = 32;
const PLAIN = 'scrypt';
const WRAPPED_SHA256 = 'scrypt-sha256';
const LEGACY_SHA256 = /^[0-9a-f]{64}$/;

interface ScryptCost {
  N: number;
  r: number;
  p: number;
}

/** A stored hash, read. */
interface PasswordHash {
  /** The password goes into scrypt as it is, or as its SHA-256 (hex) for upgraded legacy hashes. */
  input: 'password' | 'sha256';
  cost: ScryptCost;
  salt: Buffer;
  key: Buffer;
}

/** Node refuses scrypt above `maxmem` (32 MiB by default, just under what N = 2^15, r = 8 needs). */
function scryptOptions(cost: ScryptCost): ScryptOptions {
  return { ...cost, maxmem: 256 * cost.N * cost.r };
}

function encode(input: PasswordHash['input'], cost: ScryptCost, salt: Buffer, key: Buffer): string {
  return [input === 'password' ? PLAIN : WRAPPED_SHA256, cost.N, cost.r, cost.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

function costField(text: string | undefined, min: number, max: number): number | undefined {
  const n = text !== undefined && /^\d{1,9}$/.test(text) ? Number(text) : Number.NaN;
  return n >= min && n <= max ? n : undefined;
}

/**
 * Reads a stored hash; undefined when it is not one. The cost is bounded (N 2^10-2^20, a power of
 * two; r 1-32; p 1-16) so a damaged store cannot make one check take gigabytes.
 */
function parse(stored: string): PasswordHash | undefined {
  const [kind, nText, rText, pText, saltText, keyText, ...rest] = stored.split('$');
  if (rest.length > 0 || (kind !== PLAIN && kind !== WRAPPED_SHA256)) return undefined;
  const N = costField(nText, 2 ** 10, 2 ** 20);
  const r = costField(rText, 1, 32);
  const p = costField(pText, 1, 16);
  if (N === undefined || (N & (N - 1)) !== 0 || r === undefined || p === undefined) return undefined;
  const salt = Buffer.from(saltText ?? '', 'base64url');
  const key = Buffer.from(keyText ?? '', 'base64url');
  if (salt.length < 8 || key.length < 16) return undefined;
  return { input: kind === PLAIN ? 'password' : 'sha256', cost: { N, r, p }, salt, key };
}

/** Hashes a new password with a fresh salt and {@link SCRYPT_COST}. Synchronous: admin commands only. */
export function hashPassword(password: string): string {
  const salt = randomBytes(SALT_BYTES);
  return encode('password', SCRYPT_COST, salt, scryptSync(password, salt, KEY_BYTES, scryptOptions(SCRYPT_COST)));
}

/**
 * Checks a password against a stored hash, off the event loop (scrypt runs on libuv's thread
 * pool), comparing in constant time. Rejects when `stored` is not a hash at all.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const hash = parse(stored);
  if (!hash) throw new RelayError('RELAY_E_INTERNAL', "(the channel's stored Basic auth password hash is not in a format this relay-server reads)");
  const input = hash.input === 'password' ? password : sha256Hex(password);
  const key = await new Promise<Buffer>((resolve, reject) => {
    scrypt(input, hash.salt, hash.key.length, scryptOptions(hash.cost), (error, derived) => (error ? reject(error) : resolve(derived)));
  });
  return timingSafeEqual(key, hash.key);
}

/**
 * The channel with its Basic auth password hash moved from the old unsalted SHA-256 to
 * `scrypt-sha256`, or undefined when there is nothing to upgrade. Stores call it once, when they
 * migrate to the schema version that brought scrypt.
 */
export function upgradeLegacyPasswordHash(channel: Channel): Channel | undefined {
  const v = channel.verification;
  if (v.mode !== 'basic' || !LEGACY_SHA256.test(v.passwordHash)) return undefined;
  const salt = randomBytes(SALT_BYTES);
  const key = scryptSync(v.passwordHash, salt, KEY_BYTES, scryptOptions(SCRYPT_COST));
  return { ...channel, verification: { ...v, passwordHash: encode('sha256', SCRYPT_COST, salt, key) } };
}
