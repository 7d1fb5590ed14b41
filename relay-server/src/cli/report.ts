/** How `relay-server` commands end: one coded line (JSON with `--json`) and an exit code from docs/errors.md. */
import { CLI_ERRORS, EXIT_CODES, UsageError, type CliFailure } from '@myop-relay/cli-support';
import { RelayError, type ServerErrorCode } from '../errors.js';

/** Codes that mean the command line or a setting must change: exit 2, like a usage error. */
const USAGE_CODES: ReadonlySet<ServerErrorCode> = new Set(['RELAY_E_CONFIG_INVALID', 'RELAY_E_CHANNEL_INVALID']);

/** What `relay-server` prints and exits with for `error`, thrown by `command` (`relay-server token create`). */
export function serverFailure(error: unknown, command: string): CliFailure {
  if (error instanceof UsageError) return { code: 'RELAY_E_USAGE', message: error.message, hint: `See \`${error.command ?? command} --help\`.`, exitCode: EXIT_CODES.usage };
  if (error instanceof RelayError) {
    const usage = USAGE_CODES.has(error.code);
    return { code: error.code, message: error.message, ...(usage ? { hint: `See \`${command} --help\`.` } : {}), exitCode: usage ? EXIT_CODES.usage : EXIT_CODES.failed };
  }
  const detail = error instanceof Error ? error.message : String(error);
  return { code: 'RELAY_E_UNEXPECTED', message: `${CLI_ERRORS.RELAY_E_UNEXPECTED.message} (${detail.slice(0, 1000)})`, exitCode: CLI_ERRORS.RELAY_E_UNEXPECTED.exitCode };
}
