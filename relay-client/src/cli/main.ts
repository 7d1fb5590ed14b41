/**
 * `relay-client` command line: parses, then calls {@link listen} or one of the workflow commands
 * (`trigger`, `events`, `replay`, `status`). Every failure ends as one coded line (JSON with
 * `--json`) and an exit code from the table in docs/errors.md. Sets `process.exitCode`, never exits.
 */
import { CLI_ERRORS, EXIT_CODES, UsageError, runCommandLine, type CliFailure } from '@myop-relay/cli-support';
import { resolveListenConfig } from '../config.js';
import { ClientError } from '../errors.js';
import { clean } from '../format.js';
import { RelayApiError, RelayUnreachableError } from '../relay-api.js';
import { listen } from '../listener.js';
import { JsonRenderer } from '../renderer/json.js';
import { quietRenderer } from '../renderer/quiet.js';
import type { Renderer } from '../renderer/renderer.js';
import { createPrettyRenderer } from '../renderer/text.js';
import { configFileSettings, listenOptionsFromArgs } from './options.js';
import { buildParser } from './parser.js';
import type { CliRuntime } from './runtime.js';

function createRenderer(args: { json?: unknown; quiet?: unknown }, runtime: CliRuntime): Renderer {
  const base: Renderer = args.json === true ? new JsonRenderer({ out: runtime.stdout }) : createPrettyRenderer({ out: runtime.stdout, err: runtime.stderr, env: runtime.env });
  return args.quiet === true ? quietRenderer(base) : base;
}

/** An error `listen` has already rendered (with the summary); the CLI only sets the exit code. */
class RenderedError extends Error {
  constructor(readonly error: ClientError) {
    super(error.message);
  }
}

async function runListen(args: Record<string, unknown>, runtime: CliRuntime): Promise<void> {
  const options = listenOptionsFromArgs(args);
  // Validated here so a bad setting is reported as usage before anything is shown or connected.
  resolveListenConfig(options);
  const controller = new AbortController();
  runtime.onShutdownSignal(() => controller.abort());
  try {
    await listen(options, { renderer: createRenderer(args, runtime), createSocket: runtime.createSocket, signal: controller.signal, ...(runtime.fetch === undefined ? {} : { fetch: runtime.fetch }) });
  } catch (error) {
    if (error instanceof ClientError) throw new RenderedError(error);
    throw error;
  }
  // listen returns only when the user stopped it.
  process.exitCode = EXIT_CODES.interrupted;
}

/** What to add after a relay error code, on the CLI's error line: the next step to take. */
const RELAY_ERROR_HINTS: Readonly<Record<string, string>> = {
  RELAY_E_UNKNOWN_EVENT_TYPE: 'See `relay-client trigger --list` for every type and flow.',
  RELAY_E_INVALID_SAMPLE_FIELD: 'Use --set <dotted.path>=<value>, e.g. --set payload.status=missed; `relay-client events show <id>` shows a sample\'s fields.',
  RELAY_E_EVENT_NOT_FOUND: '`relay-client events list` shows the stored ids and their channels.',
  RELAY_E_CONSUMER_NOT_FOUND: '`relay-client listen` creates its consumer (default <user>@<hostname>); `relay-client status` shows yours, --consumer names another.',
  RELAY_E_CHANNEL_FORBIDDEN: '`relay-client status` lists the channels this token may read.',
  RELAY_E_UNKNOWN_CHANNEL: '`relay-client status` lists the channels this token may read.',
};

/** The coded line (and exit code) for whatever ended the command. */
function failureOf(error: unknown, command: string): CliFailure {
  const help = `See \`${command} --help\`.`;
  if (error instanceof UsageError) return { code: 'RELAY_E_USAGE', message: error.message, hint: `See \`${error.command ?? command} --help\`.`, exitCode: EXIT_CODES.usage };
  if (error instanceof ClientError) {
    return { code: error.code, message: error.message, ...(error.code === 'RELAY_E_CLIENT_CONFIG_INVALID' ? { hint: help } : {}), exitCode: error.exitCode };
  }
  if (error instanceof RelayApiError) {
    const hint = RELAY_ERROR_HINTS[error.code];
    return { code: error.code, message: clean(error.message, 4000), ...(hint === undefined ? {} : { hint }), exitCode: error.exitCode };
  }
  if (error instanceof RelayUnreachableError) {
    const failure = new ClientError('RELAY_E_CLIENT_UNREACHABLE', clean(error.message, 1000));
    return { code: failure.code, message: failure.message, exitCode: failure.exitCode };
  }
  const detail = error instanceof Error ? error.message : String(error);
  return { code: 'RELAY_E_UNEXPECTED', message: `${CLI_ERRORS.RELAY_E_UNEXPECTED.message} (${clean(detail, 1000)})`, exitCode: CLI_ERRORS.RELAY_E_UNEXPECTED.exitCode };
}

/** Parses `argv` (without the node and script entries) and runs the command. */
export async function runCli(argv: string[], runtime: CliRuntime): Promise<void> {
  await runCommandLine({
    name: 'relay-client',
    argv,
    parser: () => buildParser(argv, runtime, configFileSettings(argv, runtime.env, runtime.homeDir), { listen: (a) => runListen(a, runtime) }),
    stdout: runtime.stdout,
    stderr: runtime.stderr,
    parseOnly: runtime.parseOnly,
    failure: (error, command) => {
      if (!(error instanceof RenderedError)) return failureOf(error, command);
      process.exitCode = error.error.exitCode;
      return undefined;
    },
  });
}
