/**
 * What both CLIs end with, and the failures every command can meet whatever it does. One table,
 * in docs/errors.md ("Exit codes"); a test keeps the two in step.
 */

/** Process exit codes of relay-server and relay-client. */
export const EXIT_CODES = Object.freeze({
  /** The command did what it was asked. */
  done: 0,
  /** The relay (or the store) refused the request or cannot be reached, or what was checked is failing. */
  failed: 1,
  /** The command line or a setting is wrong, or the relay refused the token: fix the command. */
  usage: 2,
  /** Stopped by Ctrl-C (SIGINT) or SIGTERM. */
  interrupted: 130,
});

/** One of {@link EXIT_CODES}. */
export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/** One entry of {@link CLI_ERRORS}. */
export interface CliErrorSpec {
  readonly exitCode: ExitCode;
  /** What went wrong and what to do. */
  readonly message: string;
}

/** The errors of the command line itself, the same in both CLIs. */
export const CLI_ERRORS = {
  RELAY_E_USAGE: {
    exitCode: 2,
    message: 'The command line names an unknown command or option, or leaves out an argument (the detail says which). See the command\'s --help.',
  },
  RELAY_E_UNEXPECTED: {
    exitCode: 1,
    message: 'The command stopped on an error it does not know (the detail follows). Run it again; if it repeats, report it with the command line and this message.',
  },
} as const satisfies Record<string, CliErrorSpec>;

/** A code of {@link CLI_ERRORS}. */
export type CliErrorCode = keyof typeof CLI_ERRORS;
