import {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_SIGNATURE_HEADER,
  MAX_BODY_LIMIT_BYTES,
  assertChannelName,
  assertHeaderName,
  assertSecret,
  MIN_SECRET_LENGTH,
  type Channel,
  type Verification,
} from './channel.js';
import { addressEntryProblem } from './address-list.js';
import { hashPassword } from './passwords.js';
import { RelayError } from './errors.js';
import { SECRET_PREFIX, generateSecret, sha256Hex } from './secrets.js';
import { parseSize } from './units.js';

/** Channel options as the CLI takes them; anything left out keeps its current (or default) value. */
export interface ChannelSettings {
  verify?: 'hmac' | 'basic' | 'apikey' | 'none';
  /** HMAC secrets; given ones replace the active set. */
  secret?: string[];
  signatureHeader?: string;
  /** `user:password`. */
  basic?: string;
  apiKeyHeader?: string;
  apiKeyQuery?: string;
  apiKey?: string;
  /** Bytes, or a size like `1MiB`. */
  maxBody?: string | number;
  acceptLegacyForm?: boolean;
  /** CIDRs; given ones replace the list. An empty string clears it. */
  allowIp?: string[];
  /**
   * Accept a `secret` or `apiKey` shorter than {@link MIN_SECRET_LENGTH}, with a warning: one a
   * MyOperator account already uses elsewhere. Default false.
   */
  allowShortSecret?: boolean;
}

/** The result of applying settings: the channel, plus a secret the relay generated (shown once). */
export interface ChannelChange {
  channel: Channel;
  generatedSecret?: string;
  /** What the operator should know about the settings accepted (a short secret). */
  warnings?: string[];
}

function fail(problem: string): never {
  throw new RelayError('RELAY_E_CHANNEL_INVALID', problem);
}

function verification(settings: ChannelSettings, current: Verification | undefined): { verification: Verification; generatedSecret?: string } {
  const mode = settings.verify ?? current?.mode ?? 'hmac';
  const same = current?.mode === mode ? current : undefined;
  if (mode !== 'hmac' && (settings.secret?.length || settings.signatureHeader)) fail('--secret and --signature-header need --verify hmac.');
  if (mode !== 'basic' && settings.basic !== undefined) fail('--basic needs --verify basic.');
  if (mode !== 'apikey' && (settings.apiKey !== undefined || settings.apiKeyHeader !== undefined || settings.apiKeyQuery !== undefined)) {
    fail('--api-key, --api-key-header and --api-key-query need --verify apikey.');
  }
  switch (mode) {
    case 'hmac': {
      const header = settings.signatureHeader ?? (same?.mode === 'hmac' ? same.header : DEFAULT_SIGNATURE_HEADER);
      assertHeaderName('--signature-header', header);
      if (settings.secret?.length) {
        for (const secret of settings.secret) assertSecret(secret, settings.allowShortSecret === true);
        return { verification: { mode, header, secrets: [...new Set(settings.secret)] } };
      }
      if (same?.mode === 'hmac') return { verification: { mode, header, secrets: same.secrets } };
      const generatedSecret = generateSecret(SECRET_PREFIX);
      return { verification: { mode, header, secrets: [generatedSecret] }, generatedSecret };
    }
    case 'basic': {
      if (settings.basic === undefined) {
        if (same?.mode === 'basic') return { verification: same };
        fail('--verify basic needs --basic user:password.');
      }
      const colon = settings.basic.indexOf(':');
      if (colon <= 0 || colon === settings.basic.length - 1) fail('--basic must look like user:password.');
      const password = settings.basic.slice(colon + 1);
      if (password.length < 8) fail('--basic: the password must be at least 8 characters.');
      return { verification: { mode, user: settings.basic.slice(0, colon), passwordHash: hashPassword(password) } };
    }
    case 'apikey': {
      if (settings.apiKeyHeader !== undefined && settings.apiKeyQuery !== undefined) fail('give --api-key-header or --api-key-query, not both.');
      const previous = same?.mode === 'apikey' ? same : undefined;
      const location = settings.apiKeyHeader !== undefined ? 'header' : settings.apiKeyQuery !== undefined ? 'query' : previous?.location;
      const name = settings.apiKeyHeader ?? settings.apiKeyQuery ?? previous?.name;
      if (location === undefined || name === undefined) fail('--verify apikey needs --api-key-header NAME or --api-key-query NAME.');
      if (location === 'header') assertHeaderName('--api-key-header', name);
      else if (!/^[A-Za-z0-9._~-]{1,64}$/.test(name)) fail(`--api-key-query "${name}" must be 1-64 URL-safe characters.`);
      if (settings.apiKey === undefined) {
        if (previous) return { verification: { mode, location, name, keyHash: previous.keyHash } };
        fail('--verify apikey needs --api-key VALUE.');
      }
      if (settings.apiKey.length === 0) fail('--api-key must not be empty.');
      if (settings.apiKey.length < MIN_SECRET_LENGTH && settings.allowShortSecret !== true) {
        fail(`--api-key must be at least ${MIN_SECRET_LENGTH} characters (got ${settings.apiKey.length}); to keep a shorter key MyOperator already uses, add --allow-short-secret.`);
      }
      return { verification: { mode, location, name, keyHash: sha256Hex(settings.apiKey) } };
    }
    case 'none':
      return { verification: { mode } };
    default:
      return fail(`--verify must be one of hmac, basic, apikey, none (got "${String(mode)}").`);
  }
}

/**
 * Applies CLI settings to a channel (or to a new one when `current` is undefined) and validates
 * the result. A new HMAC channel without `--secret` gets a generated secret.
 */
export function applyChannelSettings(name: string, settings: ChannelSettings, current?: Channel): ChannelChange {
  assertChannelName(name);
  const { verification: v, generatedSecret } = verification(settings, current?.verification);
  let maxBodyBytes = current?.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (settings.maxBody !== undefined) {
    const size = parseSize(settings.maxBody);
    if (size === undefined || size < 1 || size > MAX_BODY_LIMIT_BYTES) fail(`--max-body "${settings.maxBody}": expected a size from 1 byte to 2MiB, such as 1MiB.`);
    maxBodyBytes = size;
  }
  let allowIps = current?.allowIps ?? [];
  if (settings.allowIp !== undefined) {
    allowIps = settings.allowIp.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
    for (const entry of allowIps) {
      const problem = addressEntryProblem(entry);
      if (problem !== undefined) fail(`--allow-ip "${entry}" ${problem}.`);
    }
  }
  const channel: Channel = {
    name,
    verification: v,
    maxBodyBytes,
    acceptLegacyForm: settings.acceptLegacyForm ?? current?.acceptLegacyForm ?? false,
    allowIps,
    createdAt: current?.createdAt ?? new Date().toISOString(),
  };
  const warnings = shortSecretWarnings(name, settings);
  return { channel, ...(generatedSecret === undefined ? {} : { generatedSecret }), ...(warnings.length === 0 ? {} : { warnings }) };
}

/** The warnings for short secrets accepted with `--allow-short-secret`. */
function shortSecretWarnings(name: string, settings: ChannelSettings): string[] {
  const short = [
    ...(settings.secret ?? []).filter((s) => s.length < MIN_SECRET_LENGTH).map((s) => `--secret of ${s.length} characters`),
    ...(settings.apiKey !== undefined && settings.apiKey.length < MIN_SECRET_LENGTH ? [`--api-key of ${settings.apiKey.length} characters`] : []),
  ];
  return short.map(
    (what) => `${what} accepted (--allow-short-secret): a short secret is easier to guess; replace it in MyOperator when you can, e.g. with \`relay-server channel rotate-secret ${name}\`.`,
  );
}

/**
 * Adds a fresh HMAC secret to the channel's active set (newest first) so MyOperator can be
 * switched over without losing events; with `retireOld`, only the newest secret stays active.
 */
export function rotateSecret(channel: Channel, retireOld: boolean): ChannelChange {
  if (channel.verification.mode !== 'hmac') fail(`channel "${channel.name}" uses --verify ${channel.verification.mode}; only hmac channels have secrets to rotate.`);
  if (retireOld) {
    const newest = channel.verification.secrets[0];
    return { channel: { ...channel, verification: { ...channel.verification, secrets: newest ? [newest] : [] } } };
  }
  const generatedSecret = generateSecret(SECRET_PREFIX);
  const secrets = [generatedSecret, ...channel.verification.secrets];
  return { channel: { ...channel, verification: { ...channel.verification, secrets } }, generatedSecret };
}
