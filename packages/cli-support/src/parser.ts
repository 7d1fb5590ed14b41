import type { Argv, MiddlewareFunction } from 'yargs';
import { UsageError, assertKnownFlags, type KnownOptions } from './flags.js';
import { line } from './output.js';

/** The flag a shell passes when it asks yargs for completions. */
const COMPLETIONS_FLAG = '--get-yargs-completions';

/**
 * Middleware refusing unknown flags of the command being run. yargs passes the command's own
 * instance as the second argument, which its type declarations leave out. A shell asking for
 * completions passes a partial command line, which must not print errors at every Tab.
 */
function checkFlags(argv: readonly string[]): MiddlewareFunction {
  const completing = argv.includes(COMPLETIONS_FLAG);
  const check = (_args: unknown, y: { getOptions(): unknown }): void => {
    if (!completing) assertKnownFlags(argv, y.getOptions() as KnownOptions);
  };
  return check as unknown as MiddlewareFunction;
}

/**
 * The command-line checks both CLIs share: unknown commands and unknown typed flags are usage
 * errors (exit 2, with the help), while `RELAY_*` variables and config-file keys meant for other
 * commands are not (yargs' own strict mode would refuse them too). Library code never exits:
 * this sets `process.exitCode`.
 */
export function withUsageChecks<T>(parser: Argv<T>, argv: readonly string[], stderr: NodeJS.WritableStream): Argv<T> {
  return parser
    .strictCommands()
    .middleware(checkFlags(argv), true)
    .exitProcess(false)
    .fail((message: string | undefined, error: Error | undefined, y: Argv<T>) => {
      if (error && !(error instanceof UsageError)) throw error;
      y.showHelp((text: string) => line(stderr, text));
      line(stderr, '');
      line(stderr, error?.message ?? message ?? 'invalid command line');
      process.exitCode = 2;
    });
}
