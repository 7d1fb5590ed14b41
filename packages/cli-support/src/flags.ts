/** The option names a yargs instance knows, as `getOptions()` reports them. */
export interface KnownOptions {
  key: Record<string, unknown>;
  alias: Record<string, string[]>;
}

import { closest } from './suggest.js';

/** A command line that names something the command does not know, or leaves out what it needs. */
export class UsageError extends Error {
  /**
   * @param message - what is wrong, naming the flag or word as typed.
   * @param command - the command it concerns, e.g. `relay-client events show`, for the hint to
   *   see its `--help`. Default: found from the typed command line by the CLI.
   */
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** One flag as typed on a command line. */
export interface TypedFlag {
  /** The flag as the user typed it, without any `=value`: `--no-color`, `-v`. */
  typed: string;
  /**
   * The option it sets, in kebab-case: `color` for `--no-color` and `--color`, `dry-run` for
   * `--dryRun`, `v` for `-v`.
   */
  name: string;
}

/**
 * The flags typed on a command line, up to a `--`, in order. A group of short flags (`-abc`)
 * yields one flag per letter.
 */
export function typedFlags(argv: readonly string[]): TypedFlag[] {
  const flags: TypedFlag[] = [];
  for (const arg of argv) {
    if (arg === '--') break;
    const long = /^--([^=]+)/.exec(arg);
    if (long?.[1] !== undefined) {
      flags.push({ typed: `--${long[1]}`, name: kebab(long[1]).replace(/^no-/, '') });
      continue;
    }
    const short = /^-([A-Za-z]+)$/.exec(arg);
    if (short?.[1] !== undefined) for (const letter of short[1]) flags.push({ typed: `-${letter}`, name: letter });
  }
  return flags;
}

/**
 * Flags on the command line that the command does not define, named as typed (`--no-bogus`, not
 * `--bogus`). Only the typed command line is checked: settings from `RELAY_*` variables and config
 * files may hold keys for other commands (one file for `start` and the admin commands), so those
 * are not errors.
 */
export function unknownFlags(argv: readonly string[], known: KnownOptions): string[] {
  const names = new Set<string>();
  for (const key of Object.keys(known.key)) names.add(kebab(key));
  for (const [key, aliases] of Object.entries(known.alias)) {
    names.add(kebab(key));
    for (const alias of aliases) names.add(kebab(alias));
  }
  // An option whose own name starts with `no-` is known under its full name too.
  const isKnown = (flag: TypedFlag): boolean => names.has(flag.name) || names.has(kebab(flag.typed.replace(/^--?/, '')));
  return typedFlags(argv).filter((flag) => !isKnown(flag)).map((flag) => flag.typed);
}

/** The long option names `known` defines, as typed: `--data-dir`, `--json`. */
function longFlags(known: KnownOptions): string[] {
  const names = [...Object.keys(known.key), ...Object.values(known.alias).flat()].map(kebab);
  return [...new Set(names)].filter((name) => name.length > 1).map((name) => `--${name}`);
}

/**
 * Throws a {@link UsageError} naming the unknown flags, if any, each with the known one it is
 * closest to: `Unknown option: --chanel (did you mean --channel?)`.
 */
export function assertKnownFlags(argv: readonly string[], known: KnownOptions): void {
  const unknown = unknownFlags(argv, known);
  if (unknown.length === 0) return;
  const candidates = longFlags(known);
  const named = unknown.map((flag) => {
    const suggestion = flag.startsWith('--') ? closest(flag.replace(/^--(no-)?/, '--'), candidates) : undefined;
    return suggestion === undefined ? flag : `${flag} (did you mean ${flag.startsWith('--no-') ? suggestion.replace(/^--/, '--no-') : suggestion}?)`;
  });
  throw new UsageError(`Unknown option${unknown.length > 1 ? 's' : ''}: ${named.join(', ')}`);
}
