import type { ExitCode } from './exit.js';
import { line } from './output.js';

/** A failure as a CLI reports it: one coded line, and at most one line on what to do next. */
export interface CliFailure {
  /** Stable code, `RELAY_E_…`. */
  code: string;
  /** What went wrong and what to do. */
  message: string;
  /** The next step, e.g. "See `relay-client events show --help`." */
  hint?: string;
  exitCode: ExitCode;
}

/**
 * Writes `failure` to `stream` (standard error) and sets `process.exitCode`. With `json`, one
 * JSON object in the shape of the relay's HTTP errors, `{"error":{"code","message","hint"}}`, so
 * a script that asked for JSON reads failures the same way; else `error <CODE>: <message>` and
 * the hint on its own line.
 */
export function reportFailure(stream: NodeJS.WritableStream, failure: CliFailure, json: boolean): void {
  if (json) {
    line(stream, JSON.stringify({ error: { code: failure.code, message: failure.message, ...(failure.hint === undefined ? {} : { hint: failure.hint }), exitCode: failure.exitCode } }));
  } else {
    line(stream, `error ${failure.code}: ${failure.message}`);
    if (failure.hint !== undefined) line(stream, failure.hint);
  }
  process.exitCode = failure.exitCode;
}

/**
 * Whether the typed command line asks for JSON: its last `--json`/`--no-json` (or `--json=…`),
 * up to a `--`. Read from the command line, so even a failure to parse the rest can be reported
 * as JSON.
 */
export function wantsJson(argv: readonly string[]): boolean {
  let json = false;
  for (const arg of argv) {
    if (arg === '--') break;
    if (arg === '--json' || arg === '--json=true') json = true;
    else if (arg === '--no-json' || arg === '--json=false') json = false;
  }
  return json;
}
