/** The option names a yargs instance knows, as `getOptions()` reports them. */
export interface KnownOptions {
  key: Record<string, unknown>;
  alias: Record<string, string[]>;
}

/** A command line that names something the command does not know. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * Flags on the command line that the command does not define. Only the typed command line is
 * checked: settings from `RELAY_*` variables and config files may hold keys for other commands
 * (one file for `start` and the admin commands), so those are not errors.
 */
export function unknownFlags(argv: readonly string[], known: KnownOptions): string[] {
  const names = new Set<string>();
  for (const key of Object.keys(known.key)) names.add(kebab(key));
  for (const [key, aliases] of Object.entries(known.alias)) {
    names.add(kebab(key));
    for (const alias of aliases) names.add(kebab(alias));
  }
  const unknown: string[] = [];
  for (const arg of argv) {
    if (arg === '--') break;
    const long = /^--(?:no-)?([^=]+)/.exec(arg);
    if (long?.[1] !== undefined) {
      const name = kebab(long[1]);
      if (!names.has(name) && !names.has(name.replace(/^no-/, ''))) unknown.push(`--${long[1]}`);
      continue;
    }
    const short = /^-([A-Za-z]+)$/.exec(arg);
    if (short?.[1] !== undefined) for (const letter of short[1]) if (!names.has(letter)) unknown.push(`-${letter}`);
  }
  return unknown;
}

/** Throws a {@link UsageError} naming the unknown flags, if any. */
export function assertKnownFlags(argv: readonly string[], known: KnownOptions): void {
  const unknown = unknownFlags(argv, known);
  if (unknown.length > 0) throw new UsageError(`Unknown option${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
}
