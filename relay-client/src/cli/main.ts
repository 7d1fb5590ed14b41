/** `relay-client` command line: parses, then calls {@link listen}. Sets `process.exitCode`, never exits. */
import yargs, { type Argv, type MiddlewareFunction } from 'yargs';
import { assertKnownFlags, line, UsageError, type KnownOptions } from '@myop-relay/cli-support';
import { defaultConsumer, resolveListenConfig } from '../config.js';
import { ClientError } from '../errors.js';
import { listen } from '../listener.js';
import { JsonRenderer } from '../renderer/json.js';
import { quietRenderer } from '../renderer/quiet.js';
import type { Renderer } from '../renderer/renderer.js';
import { createPrettyRenderer } from '../renderer/text.js';
import { CLIENT_VERSION } from '../version.js';
import { defaultConfigPath, listenOptions, listenOptionsFromArgs, readConfigFile } from './options.js';
import type { CliRuntime } from './runtime.js';

/**
 * Middleware refusing unknown flags of the command being run. yargs passes the command's own
 * instance as the second argument, which its type declarations leave out.
 */
function checkFlags(argv: readonly string[]): MiddlewareFunction {
  const check = (_args: unknown, y: { getOptions(): unknown }): void => assertKnownFlags(argv, y.getOptions() as KnownOptions);
  return check as unknown as MiddlewareFunction;
}

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

/** Parses `argv` (without the node and script entries) and runs the command. */
export async function runCli(argv: string[], runtime: CliRuntime): Promise<void> {
  const configPath = defaultConfigPath(runtime.env, runtime.homeDir);
  const parser = yargs(argv)
    .scriptName('relay-client')
    .usage('$0 <command> [options]')
    .epilogue(
      'Receives MyOperator events from relay-server and replays them, byte for byte, to a local handler.\n' +
        'Every option can also be set as RELAY_<OPTION> (RELAY_URL for --relay, RELAY_TOKEN for --token) or as a key in the --config JSON file.',
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
    )
    .example('$0 listen --forward-to http://localhost:3000/hooks', 'Forward events (RELAY_URL, RELAY_TOKEN set)')
    .example('$0 listen --help', 'All listen options, with examples')
    .demandCommand(1, 'Name a command: listen.')
    // yargs' own strict mode would also refuse RELAY_* variables and config keys meant for other
    // commands (or for relay-server); only the typed command line is checked.
    .strictCommands()
    .middleware(checkFlags(argv), true)
    .help()
    .alias('help', 'h')
    .version(CLIENT_VERSION)
    .wrap(Math.min(120, runtime.stdout.columns ?? 120))
    .exitProcess(false)
    .fail((message: string | undefined, error: Error | undefined, y: Argv) => {
      if (error && !(error instanceof UsageError)) throw error;
      y.showHelp((text: string) => line(runtime.stderr, text));
      line(runtime.stderr, '');
      line(runtime.stderr, error?.message ?? message ?? 'invalid command line');
      process.exitCode = 2;
    });
  if (configPath !== undefined) parser.default('config', configPath);
  try {
    await parser.parseAsync();
  } catch (error) {
    if (error instanceof ClientError) {
      line(runtime.stderr, `error ${error.code}: ${error.message}`);
      line(runtime.stderr, 'See `relay-client listen --help`.');
      process.exitCode = error.exitCode;
      return;
    }
    if (error instanceof UsageError) {
      line(runtime.stderr, `${error.message}. See \`relay-client ${argv.filter((a) => !a.startsWith('-')).slice(0, 1).join(' ')} --help\`.`);
      process.exitCode = 2;
      return;
    }
    throw error;
  }
}
