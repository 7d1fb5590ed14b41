/** The `relay-client` command line as yargs parses it: every command, option, example and help text. */
import type { Argv } from 'yargs';
import { createParser, helpWidth } from '@myop-relay/cli-support';
import { defaultConsumer } from '../config.js';
import { CLIENT_VERSION } from '../version.js';
import { listenOptions } from './options.js';
import type { CliRuntime } from './runtime.js';
import { workflowCommands } from './workflow.js';

/** Name of yargs' built-in script command, hidden; users run `completion`. */
const HIDDEN_COMPLETION_COMMAND = 'completion-script';

/** What the parser runs for `listen`; the workflow commands bring their own handlers. */
export interface ParserHandlers {
  listen(args: Record<string, unknown>): Promise<void>;
}

/**
 * The parser for `argv`, with `settings` from the config file below the `RELAY_*` variables and
 * the flags. Nothing runs until it is parsed.
 */
export function buildParser(argv: readonly string[], runtime: CliRuntime, settings: Record<string, unknown>, handlers: ParserHandlers): Argv {
  const parser = createParser(argv)
    .scriptName('relay-client')
    .usage('$0 <command> [options]')
    .epilogue(
      'Receives MyOperator events from relay-server and replays them, byte for byte, to a local handler; triggers sample events, ' +
        'shows what the relay stored and delivered, and replays events.\n' +
        'Every option can also be set as RELAY_<OPTION> (RELAY_URL for --relay, RELAY_TOKEN for --token) or as a key in the --config JSON file, ' +
        'except the flags that pick what trigger, events and replay act on (see each command\'s --help).\n' +
        'Exit codes: 0 done, 1 the relay refused or cannot be reached (status: something is failing), 2 invalid command line or settings, or the token was refused, 130 stopped with Ctrl-C.',
    )
    .env('RELAY')
    .option('config', { type: 'string', describe: 'JSON file with any of the long options of listen as keys (default ~/.config/myop-relay/client.json when it exists; env RELAY_CONFIG)' })
    .config(settings)
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
              'Exit codes: 130 stopped with Ctrl-C, 1 fatal error (protocol, TLS, refused subscription), 2 invalid options or token refused.',
          ),
      (a) => handlers.listen(a),
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
    .example('$0 replay --since 1h --type \'call.*\'', 'Send those again to your listen')
    .example('$0 status', 'Is everything working?')
    .example('$0 listen --help', 'All listen options, with examples')
    .demandCommand(1, 'Name a command: listen, trigger, events, replay, status or completion.')
    .help()
    .alias('help', 'h')
    .version(CLIENT_VERSION)
    .wrap(helpWidth(runtime.stdout));
  return parser;
}
