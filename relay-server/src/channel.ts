import { isHttpToken, validateChannelName } from '@myop-relay/protocol';
import { RelayError } from './errors.js';

/** How a channel checks that a webhook really comes from MyOperator. */
export type Verification =
  | {
      mode: 'hmac';
      /** Header carrying the lowercase hex HMAC-SHA256 of the raw body. Default `X-MyOperator-Signature`. */
      header: string;
      /** Active secrets; several during a rotation. Any one matching is enough. */
      secrets: string[];
    }
  | {
      mode: 'basic';
      user: string;
      /**
       * Salted scrypt hash of the password, `scrypt$N$r$p$salt$key` (see `passwords.ts`); the
       * password itself is never stored.
       */
      passwordHash: string;
    }
  | {
      mode: 'apikey';
      /** Where the key travels. */
      location: 'header' | 'query';
      /** Header or query parameter name. */
      name: string;
      /** SHA-256 (hex) of the key; the key itself is never stored. */
      keyHash: string;
    }
  | { mode: 'none' };

/** One MyOperator webhook: where it posts, how it is verified and what it may send. */
export interface Channel {
  /** URL-safe name; the ingest URL is `/hooks/<name>`. */
  name: string;
  verification: Verification;
  /** Largest accepted body in bytes. Default {@link DEFAULT_MAX_BODY_BYTES}. */
  maxBodyBytes: number;
  /** Accept legacy v1 `application/x-www-form-urlencoded` bodies (`myoperator=<json>`). Default false. */
  acceptLegacyForm: boolean;
  /** CIDRs allowed to post; empty means any address. Applies in every mode. */
  allowIps: string[];
  createdAt: string;
}

/** Default body limit: 1 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/**
 * Largest body a channel may accept: 2 MiB. Every stored event must fit one WebSocket message to
 * relay-client (4 MiB, with the body in base64 and the headers beside it).
 */
export const MAX_BODY_LIMIT_BYTES = 2 * 1024 * 1024;
/** Default HMAC signature header, as MyOperator's docs name it. */
export const DEFAULT_SIGNATURE_HEADER = 'X-MyOperator-Signature';


/** True when `name` can be a channel name (the protocol's rule, `validateChannelName`). */
export function isChannelName(name: string): boolean {
  return validateChannelName(name) === undefined;
}

/** Throws `RELAY_E_CHANNEL_INVALID` unless `name` can be a channel name. */
export function assertChannelName(name: string): void {
  const problem = validateChannelName(name);
  if (problem !== undefined) throw new RelayError('RELAY_E_CHANNEL_INVALID', `Channel name "${name.slice(0, 100)}" ${problem}.`);
}

/** Throws `RELAY_E_CHANNEL_INVALID` unless `name` is a valid HTTP header name. */
export function assertHeaderName(option: string, name: string): void {
  if (!isHttpToken(name)) {
    throw new RelayError('RELAY_E_CHANNEL_INVALID', `${option} "${name}" is not a valid HTTP header name.`);
  }
}

/** Throws `RELAY_E_CHANNEL_INVALID` unless `secret` is strong enough to sign webhooks. */
export function assertSecret(secret: string, allowShort = false): void {
  if (secret.length === 0) throw new RelayError('RELAY_E_CHANNEL_INVALID', '--secret must not be empty.');
  if (secret.length < MIN_SECRET_LENGTH && !allowShort) {
    throw new RelayError(
      'RELAY_E_CHANNEL_INVALID',
      `--secret must be at least ${MIN_SECRET_LENGTH} characters (got ${secret.length}); to keep a shorter secret MyOperator already uses, add --allow-short-secret.`,
    );
  }
}

/** Shortest HMAC secret or API key accepted without `--allow-short-secret`: 16 characters. */
export const MIN_SECRET_LENGTH = 16;

/** What an API may show of a channel: everything except secrets and hashes. */
export interface ChannelView {
  name: string;
  ingestPath: string;
  verification:
    | { mode: 'hmac'; header: string; activeSecrets: number }
    | { mode: 'basic'; user: string }
    | { mode: 'apikey'; location: 'header' | 'query'; name: string }
    | { mode: 'none' };
  maxBodyBytes: number;
  acceptLegacyForm: boolean;
  allowIps: string[];
  createdAt: string;
}

/** Strips secrets from a channel for display. */
export function viewChannel(channel: Channel): ChannelView {
  const v = channel.verification;
  let verification: ChannelView['verification'];
  switch (v.mode) {
    case 'hmac':
      verification = { mode: 'hmac', header: v.header, activeSecrets: v.secrets.length };
      break;
    case 'basic':
      verification = { mode: 'basic', user: v.user };
      break;
    case 'apikey':
      verification = { mode: 'apikey', location: v.location, name: v.name };
      break;
    case 'none':
      verification = { mode: 'none' };
      break;
  }
  return {
    name: channel.name,
    ingestPath: `/hooks/${channel.name}`,
    verification,
    maxBodyBytes: channel.maxBodyBytes,
    acceptLegacyForm: channel.acceptLegacyForm,
    allowIps: [...channel.allowIps],
    createdAt: channel.createdAt,
  };
}
