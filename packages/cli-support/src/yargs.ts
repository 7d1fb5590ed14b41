/**
 * The yargs both CLIs parse with, loaded as its CommonJS build. yargs' ESM build lays help out
 * with a cliui that measures text by code points and cuts lines at the column, splitting words
 * (`X-Rela` / `y-Replay`); the CommonJS build's cliui wraps between words (wrap-ansi,
 * string-width). Same package, same version, no extra dependency; the resident set is ~1 MB
 * smaller, not larger (docs/benchmarks.md, section 4).
 */
import { createRequire } from 'node:module';
import type { Argv } from 'yargs';

type YargsFactory = (processArgs?: readonly string[], cwd?: string) => Argv;

const require = createRequire(import.meta.url);

/** A fresh yargs instance for `argv` (without the node and script entries). */
export function createParser(argv: readonly string[]): Argv {
  const factory = require('yargs/yargs') as YargsFactory;
  return factory(argv);
}

/**
 * The column the help text is wrapped at: the terminal's width, capped at 120 so long lines stay
 * readable; 80 when the output is not a terminal (piped to `less`, a file, a test).
 */
export function helpWidth(stream: { columns?: number; isTTY?: boolean }): number {
  const columns = stream.isTTY === true ? stream.columns : undefined;
  return Math.min(120, columns ?? 80);
}
