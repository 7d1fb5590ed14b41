import type { Argv, MiddlewareFunction } from 'yargs';
import { UsageError, assertKnownFlags, type KnownOptions } from './flags.js';
import { closest } from './suggest.js';

/** The flag a shell passes when it asks yargs for completions. */
const COMPLETIONS_FLAG = '--get-yargs-completions';

/**
 * A command line the parser accepted, when the CLI runs in parse-only mode: thrown instead of
 * running the command's handler.
 */
export class CommandAccepted extends Error {
  /** @param command - the command words, e.g. `['events', 'show']`. */
  constructor(readonly command: readonly string[]) {
    super(`accepted: ${command.join(' ')}`);
    this.name = 'CommandAccepted';
  }
}

/** Hooks of {@link withUsageChecks}. */
export interface UsageCheckOptions {
  /**
   * Check the command line only: once it parses, {@link CommandAccepted} is thrown instead of
   * running the command. For tests that every command quoted in a message or help text parses.
   */
  parseOnly?: boolean;
  /** Called with the command words (`['token', 'create']`) once yargs has found the command. */
  onCommand?: (command: readonly string[]) => void;
}

/**
 * The parts of yargs' usage object the failure handler reads. yargs passes it as the third
 * argument of `fail()` (its type declarations call it the yargs instance); each is checked
 * before use.
 */
interface UsageView {
  help?: () => string;
  getCommands?: () => unknown[];
}

/** The command a usage line names: `relay-client events show <id>` → `relay-client events show`. */
function commandOfUsage(usage: UsageView): string | undefined {
  const help = typeof usage.help === 'function' ? usage.help() : '';
  const first = help.split('\n')[0]?.trim() ?? '';
  const words = first.split(/\s+/).filter((w) => w !== '' && !/^[<[]/.test(w));
  return words.length === 0 ? undefined : words.join(' ');
}

function usageLine(usage: UsageView): string | undefined {
  const help = typeof usage.help === 'function' ? usage.help() : '';
  return help.split('\n')[0]?.trim() || undefined;
}

/** The names of the commands at the level that failed: `show` of `show <id>`. */
function commandNames(usage: UsageView): string[] {
  const commands = typeof usage.getCommands === 'function' ? usage.getCommands() : [];
  return commands.map((entry) => (Array.isArray(entry) && typeof entry[0] === 'string' ? (entry[0].split(/\s+/)[0] ?? '') : '')).filter(Boolean);
}

/** yargs' failure message, reworded where it does not say what to do. */
function usageMessage(message: string, usage: UsageView): string {
  const unknown = /^Unknown commands?: (.+)$/.exec(message);
  if (unknown?.[1] !== undefined) {
    const word = unknown[1].split(',')[0]?.trim() ?? unknown[1];
    const suggestion = closest(word, commandNames(usage).filter((name) => !name.startsWith('$0')));
    return `Unknown command: ${word}${suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`}`;
  }
  if (/^Not enough non-option arguments/.test(message)) {
    const usageText = usageLine(usage);
    return usageText === undefined ? 'An argument is missing' : `An argument is missing: ${usageText}`;
  }
  // One line: yargs lays some messages out over several.
  return message.replace(/\s*\n\s*/g, ' ');
}

/**
 * Middleware finding unknown flags of the command being run, before yargs validates the rest.
 * yargs passes the command's own instance as the second argument, which its type declarations
 * leave out. A shell asking for completions passes a partial command line, which must not print
 * errors at every Tab.
 */
function checkFlags(argv: readonly string[], options: UsageCheckOptions, found: (error: UsageError | undefined) => void): MiddlewareFunction {
  const completing = argv.includes(COMPLETIONS_FLAG);
  const check = (args: { _?: unknown[] }, y: { getOptions(): unknown }): void => {
    options.onCommand?.(commandWords(args));
    if (completing) return;
    try {
      assertKnownFlags(argv, y.getOptions() as KnownOptions);
      found(undefined);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      found(error);
    }
  };
  return check as unknown as MiddlewareFunction;
}

function commandWords(args: { _?: unknown[] }): string[] {
  return (args._ ?? []).filter((word): word is string => typeof word === 'string');
}

/**
 * The command-line checks both CLIs share: unknown commands and unknown typed flags are usage
 * errors, while `RELAY_*` variables and config-file keys meant for other commands are not (yargs'
 * own strict mode would refuse them too). Every failure is thrown as one {@link UsageError} (the
 * first yargs finds), never printed here and never followed by the command's handler: the CLI
 * reports it in one line. Library code never exits.
 */
export function withUsageChecks<T>(parser: Argv<T>, argv: readonly string[], options: UsageCheckOptions = {}): Argv<T> {
  // An unknown flag is reported before a missing argument (`--nme` explains "name is required"),
  // but after an unknown command, whose flags are unknown because the command is.
  let unknownFlag: UsageError | undefined;
  const accepted = (args: { _?: unknown[]; help?: unknown }): void => {
    // --help prints the help and runs nothing, in parse-only mode too.
    if (args.help === true) return;
    if (unknownFlag !== undefined) throw unknownFlag;
    const command = commandWords(args);
    options.onCommand?.(command);
    if (options.parseOnly === true) throw new CommandAccepted(command);
  };
  return parser
    .strictCommands()
    .middleware(checkFlags(argv, options, (error) => (unknownFlag = error)), true)
    .middleware(accepted as unknown as MiddlewareFunction)
    .exitProcess(false)
    .fail((message: string | undefined, error: Error | undefined, usage: unknown) => {
      if (error instanceof UsageError) throw error;
      if (error !== undefined && message === undefined) throw error;
      const view = (typeof usage === 'object' && usage !== null ? usage : {}) as UsageView;
      const text = message ?? error?.message ?? 'invalid command line';
      if (unknownFlag !== undefined && !/^Unknown commands?:/.test(text)) throw unknownFlag;
      throw new UsageError(usageMessage(text, view), commandOfUsage(view));
    });
}
