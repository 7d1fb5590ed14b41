/** The options of `relay-client listen`: their yargs definitions, the config file, and the conversion to {@link ListenOptions}. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Argv } from 'yargs';
import { LISTEN_DEFAULTS, type ListenOptions } from '../config.js';
import { ClientError } from '../errors.js';
import { readDuration } from '@myop-relay/protocol';
import { formatDuration } from '../units.js';
import { configPathFromArgv, createParser, readConfigFile, typedFlags } from '@myop-relay/cli-support';

function invalid(flag: string, problem: string): never {
  throw new ClientError('RELAY_E_CLIENT_CONFIG_INVALID', `--${flag}: ${problem}`);
}

/**
 * The settings of the `--config` file (or `RELAY_CONFIG`, or the default file when it exists):
 * an object keyed by the long options of `listen`, which are also the relay and token of every
 * other command. Flags that pick what a command acts on are read from the command line only, so
 * a file naming one is refused like any unknown key.
 *
 * @throws ClientError `RELAY_E_CLIENT_CONFIG_INVALID` naming the file and the problem.
 */
export function configFileSettings(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, homeDir: string): Record<string, unknown> {
  const path = configPathFromArgv(argv) ?? (env['RELAY_CONFIG'] || undefined) ?? defaultConfigPath(env, homeDir);
  if (path === undefined) return {};
  const result = readConfigFile(path, configKeys());
  if (!result.ok) invalid('config', result.problem);
  return result.settings;
}

/**
 * The config file read when `--config` is not given: `$XDG_CONFIG_HOME/myop-relay/client.json`,
 * else `~/.config/myop-relay/client.json`, if that file exists.
 */
export function defaultConfigPath(env: Readonly<Record<string, string | undefined>>, homeDir: string): string | undefined {
  const base = env['XDG_CONFIG_HOME'] || join(homeDir, '.config');
  const path = join(base, 'myop-relay', 'client.json');
  return existsSync(path) ? path : undefined;
}

/** Defines `--relay` and `--token`, which every command that talks to the relay takes. */
export function relayOptions<T>(y: Argv<T>) {
  return y
    .option('relay', {
      type: 'string',
      alias: 'url',
      describe: 'relay-server URL, e.g. https://relay.example.com (env RELAY_URL)',
    })
    .option('token', {
      type: 'string',
      describe: 'Relay token (env RELAY_TOKEN); create one with `relay-server token create --name <you>`',
    });
}

/** Defines the options of `listen` on `y`. */
export function listenOptions<T>(y: Argv<T>, consumerDefault: string) {
  return relayOptions(y)
    .option('channel', {
      type: 'string',
      array: true,
      describe: 'Channel to receive; repeat or separate with commas for several',
      default: [...LISTEN_DEFAULTS.channels],
    })
    .option('consumer', { type: 'string', describe: `Durable consumer name; the relay resumes it where it stopped (default ${consumerDefault})` })
    .option('forward-to', { type: 'string', describe: 'Local handler URL each event is POSTed to' })
    .option('events', { type: 'string', array: true, describe: "Only these event types, comma-separated globs, e.g. 'call.*,message.received'" })
    .option('since', { type: 'string', describe: 'Start of a new consumer: now, a duration (15m, 2h), an ISO-8601 time or a sequence number' })
    .option('window', { type: 'string', describe: 'Events forwarded at once per channel, 1-1024 (relay default 8)' })
    .option('ordered', { type: 'boolean', describe: 'One event at a time, in order; a failing event holds back the rest' })
    .option('max-attempts', { type: 'string', describe: 'Give up on an event after this many failed attempts, 1-1000 (default: never)' })
    .option('timeout', { type: 'string', describe: 'Time the local handler gets per event', default: formatDuration(LISTEN_DEFAULTS.timeoutMs) })
    .option('capture-bytes', { type: 'string', describe: "Bytes of each handler answer's body the relay records with its headers, 0-4096 (0: none)", default: String(LISTEN_DEFAULTS.captureBytes) })
    .option('resign-secret', { type: 'string', describe: 'Replace the signature with an HMAC-SHA256 of the body under this secret' })
    .option('signature-header', { type: 'string', describe: 'Header --resign-secret writes', default: LISTEN_DEFAULTS.signatureHeader })
    .option('json', { type: 'boolean', describe: 'Print one JSON object per line', default: false })
    .option('quiet', { type: 'boolean', describe: 'Print only failures, errors and the summary', default: false });
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Keys a config file may hold: the long options of `listen` and their aliases (`url`). */
function configKeys(): Set<string> {
  // getOptions() is yargs' own, left out of its type declarations.
  const parser = listenOptions(createParser([]), '') as unknown as { getOptions(): { key: Record<string, unknown>; alias: Record<string, string[]> } };
  const { key, alias } = parser.getOptions();
  const names = [...Object.keys(key), ...Object.values(alias).flat()].map(kebab);
  return new Set(names.filter((name) => name !== 'help' && name !== 'version'));
}

/**
 * One value of a setting as text; of a repeated flag, the last.
 *
 * @throws ClientError `RELAY_E_CLIENT_CONFIG_INVALID` naming the flag when it is not text or a number.
 */
export function text(value: unknown, flag: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return text(value[value.length - 1], flag);
  if (typeof value !== 'string' && typeof value !== 'number') invalid(flag, 'expected a single value');
  return String(value);
}

/** Repeated flags, comma-separated values and JSON arrays from a config file, flattened. */
export function list(value: unknown, flag: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  const items = Array.isArray(value) ? (value as unknown[]) : [value];
  return items.flatMap((item) => (text(item, flag) ?? '').split(',')).map((s) => s.trim()).filter(Boolean);
}

/**
 * A whole number setting.
 *
 * @throws ClientError `RELAY_E_CLIENT_CONFIG_INVALID` naming the flag.
 */
export function integer(value: unknown, flag: string): number | undefined {
  const raw = text(value, flag);
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw.trim())) invalid(flag, `expected a whole number, got "${raw.slice(0, 50)}"`);
  return Number(raw.trim());
}

/**
 * A boolean setting; config files may hold `"true"`/`"false"` as text.
 *
 * @throws ClientError `RELAY_E_CLIENT_CONFIG_INVALID` naming the flag.
 */
export function flag(value: unknown, name: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  invalid(name, 'expected true or false');
}

/**
 * Converts parsed arguments (command line, `RELAY_*` environment and config file, merged by
 * yargs) into {@link ListenOptions}; `resolveListenConfig` checks the rest.
 *
 * @throws ClientError `RELAY_E_CLIENT_CONFIG_INVALID` naming the flag.
 */
export function listenOptionsFromArgs(args: Readonly<Record<string, unknown>>): ListenOptions {
  const timeoutText = text(args['timeout'], 'timeout');
  let timeoutMs: number | undefined;
  if (timeoutText !== undefined) {
    const timeout = readDuration(timeoutText);
    if (!timeout.ok) invalid('timeout', timeout.reason);
    timeoutMs = timeout.ms;
  }
  const options: ListenOptions = {
    relay: text(args['relay'], 'relay') ?? '',
    token: text(args['token'], 'token') ?? '',
    forwardTo: text(args['forwardTo'], 'forward-to') ?? '',
  };
  const channels = list(args['channel'], 'channel');
  if (channels !== undefined) options.channels = channels;
  const consumer = text(args['consumer'], 'consumer');
  if (consumer !== undefined) options.consumer = consumer;
  const events = list(args['events'], 'events');
  if (events !== undefined && events.length > 0) options.events = events;
  const since = text(args['since'], 'since');
  if (since !== undefined) options.since = since;
  const window = integer(args['window'], 'window');
  if (window !== undefined) options.window = window;
  const ordered = flag(args['ordered'], 'ordered');
  if (ordered !== undefined) options.ordered = ordered;
  const maxAttempts = integer(args['maxAttempts'], 'max-attempts');
  if (maxAttempts !== undefined) options.maxAttempts = maxAttempts;
  if (timeoutMs !== undefined) options.timeoutMs = timeoutMs;
  const captureBytes = integer(args['captureBytes'], 'capture-bytes');
  if (captureBytes !== undefined) options.captureBytes = captureBytes;
  const resignSecret = text(args['resignSecret'], 'resign-secret');
  if (resignSecret !== undefined) options.resignSecret = resignSecret;
  const signatureHeader = text(args['signatureHeader'], 'signature-header');
  if (signatureHeader !== undefined) options.signatureHeader = signatureHeader;
  return options;
}

/**
 * The long flags typed on the command line (kebab-case, without `--` or `no-`), up to a `--`.
 * Settings that select what a command acts on are read only from here: a `since` kept in the
 * config file or `RELAY_SINCE` for `listen` must not turn `replay` into a replay of everything
 * since then, nor filter `events list` without the user seeing why.
 */
export function typedLongFlags(argv: readonly string[]): Set<string> {
  return new Set(typedFlags(argv).filter((flag) => flag.typed.startsWith('--')).map((flag) => flag.name));
}
