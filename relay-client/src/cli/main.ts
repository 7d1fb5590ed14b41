/**
 * `relay-client` command line: parses, then calls {@link listen} or one of the workflow commands
 * (`trigger`, `events`, `replay`, `status`). Sets `process.exitCode`, never exits.
 */
import yargs, { type Argv } from 'yargs';
import { line, UsageError, withUsageChecks } from '@myop-relay/cli-support';
import { defaultConsumer, resolveListenConfig } from '../config.js';
import { ClientError } from '../errors.js';
import { clean } from '../format.js';
import { RelayApiError, RelayUnreachableError } from '../relay-api.js';
import { listen } from '../listener.js';
import { JsonRenderer } from '../renderer/json.js';
import { quietRenderer } from '../renderer/quiet.js';
import type { Renderer } from '../renderer/renderer.js';
import { createPrettyRenderer } from '../renderer/text.js';
import { CLIENT_VERSION } from '../version.js';
import { defaultConfigPath, listenOptions, listenOptionsFromArgs, readConfigFile } from './options.js';
import type { CliRuntime } from './runtime.js';
import { workflowCommands } from './workflow.js';

/** The flag the completion script calls relay-client with (yargs' name for it). */

/** Name of yargs' built-in script command, hidden; users run `completion`. */
const HIDDEN_COMPLETION_COMMAND = 'completion-script';

function createRenderer(args: { json?: unknown; quiet?: unknown }, runtime: CliRuntime): Renderer {
  const base: Renderer = args.json === true ? new JsonRenderer({ out: runtime.stdout }) : createPrettyRenderer({ out: runtime.stdout, err: runtime.stderr, env: runtime.env });
  return args.quiet === true ? quietRenderer(base) : base;
}

async function runListen(args: Record<string, unknown>, runtime: CliRuntime): Promise<void> {
  const options = listenOptionsFromArgs(args);
  // Validated here so a bad setting is reported as usage before anything is shown or connected.
  resolveListenConfig(options);
  const controller = new AbortController();
  runtime.onShutdownSignal(() => controller.abort());
  try {
    await listen(options, { renderer: createRenderer(args, runtime), createSocket: runtime.createSocket, signal: controller.signal });
  } catch (error) {
    // listen has already rendered the error and the summary.
    if (error instanceof ClientError) {
      process.exitCode = error.exitCode;
      return;
    }
    throw error;
  }
}

/** What to add after a relay error code, on the CLI's error line: the next step to take. */
const RELAY_ERROR_HINTS: Readonly<Record<string, string>> = {
  RELAY_E_UNKNOWN_EVENT_TYPE: 'See `relay-client trigger --list` for every type and flow.',
  RELAY_E_INVALID_SAMPLE_FIELD: 'Use --set <dotted.path>=<value>, e.g. --set payload.status=missed; `relay-client events show <id>` shows a sample\'s fields.',
  RELAY_E_EVENT_NOT_FOUND: '`relay-client events list` shows the stored ids; name the channel with --channel.',
  RELAY_E_CONSUMER_NOT_FOUND: '`relay-client listen` creates its consumer (default <user>@<hostname>); `relay-client status` shows yours, --consumer names another.',
  RELAY_E_CHANNEL_FORBIDDEN: '`relay-client status` lists the channels this token may read.',
  RELAY_E_UNKNOWN_CHANNEL: '`relay-client status` lists the channels this token may read.',
};

/** The command words of `argv`, e.g. `events show`, for "see --help" hints. */
function commandPath(argv: readonly string[]): string {
  const words = argv.filter((a) => !a.startsWith('-'));
  // Flag values may come before the command (`--relay URL events list`), so it is looked up by name.
  const at = words.findIndex((w) => COMMANDS.has(w));
  if (at < 0) return '';
  const command = words[at] ?? '';
  const sub = words[at + 1];
  return command === 'events' && sub !== undefined && EVENTS_COMMANDS.has(sub) ? `${command} ${sub}` : command;
}

const COMMANDS: ReadonlySet<string> = new Set(['listen', 'trigger', 'events', 'replay', 'status', 'completion']);
const EVENTS_COMMANDS: ReadonlySet<string> = new Set(['list', 'show', 'tail']);

/** Parses `argv` (without the node and script entries) and runs the command. */
export async function runCli(argv: string[], runtime: CliRuntime): Promise<void> {
  const configPath = defaultConfigPath(runtime.env, runtime.homeDir);
  const parser = yargs(argv)
    .scriptName('relay-client')
    .usage('$0 <command> [options]')
    .epilogue(
      'Receives MyOperator events from relay-server and replays them, byte for byte, to a local handler; triggers sample events, ' +
        'shows what the relay stored and delivered, and replays events.\n' +
        'Every option can also be set as RELAY_<OPTION> (RELAY_URL for --relay, RELAY_TOKEN for --token) or as a key in the --config JSON file, ' +
        'except the flags that pick what trigger, events and replay act on (see each command\'s --help).',
    )
    .env('RELAY')
    .config('config', 'JSON file with any of the long options as keys (default ~/.config/myop-relay/client.json when it exists)', readConfigFile)
    .command(
      'listen',
      'Forward a channel\'s events to a local URL until Ctrl-C',
      (y: Argv) =>
        listenOptions(y, defaultConsumer(runtime.env))
          .example('$0 listen --forward-to http://localhost:3000/hooks', 'Relay and token from RELAY_URL, RELAY_TOKEN')
          .example("$0 listen --events 'call.*' --since 15m ...", 'Call events only, from 15 minutes back')
          .example('$0 listen --channel sales --channel support ...', 'Two channels')
          .example('$0 listen --resign-secret devsecret --json ...', 'Re-sign for a local secret; JSON lines')
          .epilogue(
            'Full example:\n' +
              '  relay-client listen --relay https://relay.example.com --token mrt_... \\\n' +
              '    --forward-to http://localhost:3000/webhooks/myoperator\n\n' +
              'Events are acknowledged only after the local handler answers 2xx; anything else is retried by the relay.\n' +
              'Ctrl-C stops after in-flight forwards finish (at most --timeout); press it again to quit at once.\n' +
              'Exit codes: 0 stopped, 1 fatal error (protocol, TLS, refused subscription), 2 invalid options or token refused.',
          ),
      (a) => runListen(a, runtime),
    );
  workflowCommands(parser, runtime, argv)
    .command(
      'completion',
      'Print a shell completion script (bash; zsh when $SHELL is zsh)',
      (y: Argv) =>
        y
          .example('source <(relay-client completion)', 'Tab completion in this bash session')
          .example('relay-client completion >> ~/.bashrc', 'In every bash session')
          .example('SHELL=zsh relay-client completion >> ~/.zshrc', 'zsh')
          .epilogue('The script runs relay-client to find completions, so relay-client must be on PATH (npm install -g, or npm link in this repository).'),
      () => {
        // @types/yargs declares showCompletionScript without its ($0, cmd) parameters; cmd names this command in the script's install note.
        (parser as unknown as { showCompletionScript($0: string, cmd: string): unknown }).showCompletionScript('relay-client', 'completion');
      },
    )
    // Makes yargs answer the script's --get-yargs-completions calls. Its own script command is
    // registered hidden under another name, since `completion` above (with help and examples)
    // prints the same script.
    .completion(HIDDEN_COMPLETION_COMMAND, false)
    .example('$0 listen --forward-to http://localhost:3000/hooks', 'Forward events (RELAY_URL, RELAY_TOKEN set)')
    .example('$0 trigger --flow call', 'Send yourself a whole sample call')
    .example('$0 events list --since 1h', 'What the relay stored in the last hour')
    .example('$0 replay --since 1h --type call.answered', 'Send those again to your listen')
    .example('$0 status', 'Is everything working?')
    .example('$0 listen --help', 'All listen options, with examples')
    .demandCommand(1, 'Name a command: listen, trigger, events, replay, status or completion.')
    .help()
    .alias('help', 'h')
    .version(CLIENT_VERSION)
    .wrap(Math.min(120, runtime.stdout.columns ?? 120));
  withUsageChecks(parser, argv, runtime.stderr);
  if (configPath !== undefined) parser.default('config', configPath);
  try {
    await parser.parseAsync();
  } catch (error) {
    const path = commandPath(argv);
    const command = path === '' ? 'relay-client' : `relay-client ${path}`;
    if (error instanceof ClientError) {
      line(runtime.stderr, `error ${error.code}: ${error.message}`);
      line(runtime.stderr, `See \`${command} --help\`.`);
      process.exitCode = error.exitCode;
      return;
    }
    if (error instanceof RelayApiError) {
      line(runtime.stderr, `error ${error.code}: ${clean(error.message, 4000)}`);
      const hint = RELAY_ERROR_HINTS[error.code];
      if (hint !== undefined) line(runtime.stderr, hint);
      process.exitCode = error.exitCode;
      return;
    }
    if (error instanceof RelayUnreachableError) {
      line(runtime.stderr, `error${error.code === undefined ? '' : ` ${error.code}`}: ${clean(error.message, 1000)}`);
      line(runtime.stderr, 'Check --relay (or RELAY_URL) and that relay-server is running; `relay-client status` checks the relay and the token.');
      process.exitCode = error.exitCode;
      return;
    }
    if (error instanceof UsageError) {
      line(runtime.stderr, `${error.message}. See \`${command} --help\`.`);
      process.exitCode = 2;
      return;
    }
    throw error;
  }
}
