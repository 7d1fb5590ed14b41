/**
 * The frame both CLIs run in: parse, run the command, and turn whatever ended it into one coded
 * line and an exit code. Sets `process.exitCode` (through {@link reportFailure}), never exits.
 */
import type { Argv } from 'yargs';
import { CommandAccepted, withUsageChecks } from './parser.js';
import { reportFailure, wantsJson, type CliFailure } from './report.js';

/** What {@link runCommandLine} needs of a CLI. */
export interface CommandLine {
  /** The program's name, which starts the command's name in hints (`relay-client events show`). */
  name: string;
  /** The command line, without the node and script entries. */
  argv: readonly string[];
  /** Builds the parser; called within the run, so a failure to build it (a bad config file) is reported like any other. */
  parser: () => Argv;
  /** Where yargs' own output (help, version, completions) goes. */
  stdout: NodeJS.WritableStream;
  /** Where the failure line goes. */
  stderr: NodeJS.WritableStream;
  /** Parse-only mode: called with the command words instead of running the command (see {@link CommandAccepted}). */
  parseOnly?: ((command: readonly string[]) => void) | undefined;
  /**
   * The failure to report for `error`, thrown while `command` (e.g. `relay-client events show`)
   * parsed or ran; undefined when the command has reported it itself.
   */
  failure: (error: unknown, command: string) => CliFailure | undefined;
}

/** Parses `cli.argv`, runs the command it names, and reports a failure in one line (JSON with `--json`). */
export async function runCommandLine(cli: CommandLine): Promise<void> {
  let command: readonly string[] = [];
  try {
    const parser = withUsageChecks(cli.parser(), cli.argv, { parseOnly: cli.parseOnly !== undefined, onCommand: (words) => (command = words) });
    // With a callback, yargs hands over what it would print (help, version, completions) instead of using console.log.
    await parser.parseAsync([...cli.argv], {}, (_error, _args, output) => {
      if (output !== '') cli.stdout.write(`${output}\n`);
    });
  } catch (error) {
    if (error instanceof CommandAccepted) {
      cli.parseOnly?.(error.command);
      return;
    }
    const failure = cli.failure(error, [cli.name, ...command].join(' '));
    if (failure !== undefined) reportFailure(cli.stderr, failure, wantsJson(cli.argv));
  }
}
