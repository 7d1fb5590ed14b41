import type { ArgumentsCamelCase, Argv } from 'yargs';
import type { ChannelSettings } from '../channel-settings.js';
import { SERVER_DEFAULTS, resolveServerConfig } from '../config.js';
import { RelayError } from '../errors.js';
import { openConfiguredStore } from '../store/open.js';
import type { Store } from '../store/store.js';
import { cliAuditor, listAuditCommand, type Auditor } from './audit.js';
import { runBackup } from './backup.js';
import { channelCommands } from './channel.js';
import { channelOptions, configFileSettings, databaseUrlOption, serverOptions, storeOptions } from './options.js';
import { UsageError, createParser, helpWidth, line, runCommandLine } from '@myop-relay/cli-support';
import { serverFailure } from './report.js';
import type { CliRuntime } from './runtime.js';
import { runInit } from './init.js';
import { runDoctorCommand } from './doctor.js';
import { formatDuration } from '../units.js';
import { runStart } from './start.js';
import { tokenCommands } from './token.js';

/**
 * Opens the store the admin command's flags name, runs `work`, and always closes it. The store
 * flags belong to the parent command (`channel`, `token`), so yargs' types do not carry them here.
 */
async function withStore(args: object, runtime: CliRuntime, work: (store: Store, audit: Auditor) => Promise<void>): Promise<void> {
  const { dataDir, maxDbSize, databaseUrl } = args as { dataDir?: unknown; maxDbSize?: unknown; databaseUrl?: unknown };
  const config = resolveServerConfig({ dataDir, maxDbSize, databaseUrl });
  // No webhook waits on an admin command, and removing a big channel may take longer than one
  // may: statements run unbounded, in front of an operator who sees them wait.
  const unbounded = { ...config, pgStatementTimeoutMs: 0, pgLockTimeoutMs: 0 };
  const { store } = await openConfiguredStore(unbounded, runtime.sqliteDriver, { create: false });
  try {
    await work(store, cliAuditor(store, runtime.stderr));
  } finally {
    await store.close();
  }
}

function settingsFrom(args: ArgumentsCamelCase<Record<string, unknown>>): ChannelSettings {
  const s: ChannelSettings = {};
  if (args['verify'] !== undefined) s.verify = args['verify'] as ChannelSettings['verify'];
  if (args['secret'] !== undefined) s.secret = (args['secret'] as unknown[]).map(String);
  if (args['signatureHeader'] !== undefined) s.signatureHeader = String(args['signatureHeader']);
  if (args['basic'] !== undefined) s.basic = String(args['basic']);
  if (args['apiKeyHeader'] !== undefined) s.apiKeyHeader = String(args['apiKeyHeader']);
  if (args['apiKeyQuery'] !== undefined) s.apiKeyQuery = String(args['apiKeyQuery']);
  if (args['apiKey'] !== undefined) s.apiKey = String(args['apiKey']);
  if (args['maxBody'] !== undefined) s.maxBody = String(args['maxBody']);
  if (args['acceptLegacyForm'] !== undefined) s.acceptLegacyForm = Boolean(args['acceptLegacyForm']);
  if (args['allowIp'] !== undefined) s.allowIp = (args['allowIp'] as unknown[]).map(String);
  if (args['allowShortSecret'] === true) s.allowShortSecret = true;
  return s;
}

const jsonOption = { type: 'boolean', describe: 'Print JSON instead of text', default: false } as const;

function channelCommand(y: Argv, runtime: CliRuntime): Argv {
  const out = runtime.stdout;
  return y
    .command(
      'add <name>',
      'Create a channel (one MyOperator webhook)',
      (c) =>
        channelOptions(c.positional('name', { type: 'string', demandOption: true }).option('json', jsonOption))
          .example('$0 channel add sales', 'HMAC channel with a generated secret')
          .example('$0 channel add sup --verify basic --basic u:pw', 'Basic auth')
          .epilogue(
            'More examples:\n' +
              '  relay-server channel add crm --verify apikey --api-key-header x-webhook-token --api-key <key>\n' +
              '  relay-server channel add lab --verify none --allow-ip 103.21.77.0/24',
          ),
      (a) => withStore(a, runtime, (s, audit) => channelCommands.add(s, out, runtime.stderr, a.name, settingsFrom(a), a.json, audit)),
    )
    .command(
      'update <name>',
      'Change a channel; options not given keep their value',
      (c) =>
        channelOptions(c.positional('name', { type: 'string', demandOption: true }).option('json', jsonOption))
          .example('$0 channel update myoperator --max-body 2MiB', 'Raise the body limit')
          .example('$0 channel update x --secret <s1> --secret <s2>', 'Replace the HMAC secrets'),
      (a) => withStore(a, runtime, (s, audit) => channelCommands.update(s, out, runtime.stderr, a.name, settingsFrom(a), a.json, audit)),
    )
    .command(
      'rotate-secret <name>',
      'Add a new HMAC secret (old ones stay valid) or, with --retire-old, keep only the newest',
      (c) =>
        c
          .positional('name', { type: 'string', demandOption: true })
          .option('retire-old', { type: 'boolean', default: false, describe: 'Deactivate every secret but the newest' })
          .option('json', jsonOption)
          .example('$0 channel rotate-secret myoperator', 'Step 1: new secret; paste it into MyOperator')
          .example('$0 channel rotate-secret myoperator --retire-old', 'Step 2: stop accepting the old one'),
      (a) => withStore(a, runtime, (s, audit) => channelCommands.rotateSecret(s, out, a.name, a.retireOld, a.json, audit)),
    )
    .command(
      'list',
      'List channels',
      (c) => c.option('json', jsonOption).example('$0 channel list --json', 'Machine-readable'),
      (a) => withStore(a, runtime, (s) => channelCommands.list(s, out, a.json)),
    )
    .command(
      'show <name>',
      'Show a channel\'s settings (never its secrets)',
      (c) => c.positional('name', { type: 'string', demandOption: true }).option('json', jsonOption).example('$0 channel show myoperator', ''),
      (a) => withStore(a, runtime, (s) => channelCommands.show(s, out, a.name, a.json)),
    )
    .command(
      'remove <name>',
      'Delete a channel and all its stored events',
      (c) => c.positional('name', { type: 'string', demandOption: true }).option('json', jsonOption).example('$0 channel remove lab', ''),
      (a) => withStore(a, runtime, (s, audit) => channelCommands.remove(s, out, a.name, a.json, audit)),
    )
    .demandCommand(1, 'Name a channel command: add, list, show, update, remove or rotate-secret.');
}

/** `--channels a, b` as names. */
function channelList(text: string): string[] {
  return text.split(',').map((c) => c.trim()).filter(Boolean);
}

function tokenCommand(y: Argv, runtime: CliRuntime): Argv {
  const out = runtime.stdout;
  return y
    .command(
      'create',
      'Create an API/WebSocket token; it is printed once',
      (c) =>
        c
          .option('name', { type: 'string', demandOption: true, describe: 'Unique name, e.g. the developer' })
          .option('role', { choices: ['admin', 'developer'] as const, default: 'developer' as const, describe: 'admin sees every channel' })
          .option('channels', { type: 'string', describe: 'Comma-separated channels a developer token may read (default: all)' })
          .option('json', jsonOption)
          .example('$0 token create --name asha --channels myoperator', 'Token for one channel')
          .example('$0 token create --name ops --role admin --json', ''),
      (a) =>
        withStore(a, runtime, (s, audit) =>
          tokenCommands.create(
            s,
            out,
            {
              name: a.name,
              role: a.role,
              channels: a.channels === undefined ? null : channelList(a.channels),
            },
            a.json,
            audit,
          ),
        ),
    )
    .command(
      'list',
      'List tokens (names and scopes, never the tokens)',
      (c) => c.option('json', jsonOption).example('$0 token list', ''),
      (a) => withStore(a, runtime, (s) => tokenCommands.list(s, out, a.json)),
    )
    .command(
      'update <name>',
      'Change the channels a developer token may read; the token stays valid',
      (c) =>
        c
          .positional('name', { type: 'string', demandOption: true })
          .option('channels', { type: 'string', describe: 'Comma-separated channels the token may read from now on' })
          .option('all-channels', { type: 'boolean', describe: 'Let the token read every channel' })
          .option('json', jsonOption)
          .example('$0 token update asha --channels myoperator,sales', 'Add a channel to asha\'s token')
          .example('$0 token update asha --all-channels', 'Every channel'),
      (a) =>
        withStore(a, runtime, (s, audit) => {
          if ((a.channels === undefined) === (a.allChannels !== true)) {
            throw new UsageError('Give either --channels <list> or --all-channels', 'relay-server token update');
          }
          return tokenCommands.update(s, out, a.name, a.allChannels === true ? null : channelList(a.channels ?? ''), a.json, audit);
        }),
    )
    .command(
      'revoke <name>',
      'Revoke a token',
      (c) => c.positional('name', { type: 'string', demandOption: true }).option('json', jsonOption).example('$0 token revoke asha', ''),
      (a) => withStore(a, runtime, (s, audit) => tokenCommands.revoke(s, out, a.name, a.json, audit)),
    )
    .demandCommand(1, 'Name a token command: create, list, update or revoke.');
}

/** `relay-server migrate`: applies pending Postgres migrations and says which. */
async function runMigrate(args: { databaseUrl?: unknown; json: boolean }, runtime: CliRuntime): Promise<void> {
  const { databaseUrl } = resolveServerConfig({ databaseUrl: args.databaseUrl });
  if (databaseUrl === undefined) {
    throw new RelayError('RELAY_E_CONFIG_INVALID', '--database-url: migrate applies Postgres migrations and needs the URL (the embedded SQLite store migrates itself on every open).');
  }
  const { migratePostgres } = await import('../store/postgres-store.js');
  const report = await migratePostgres(databaseUrl);
  if (args.json) {
    line(runtime.stdout, JSON.stringify({ engine: 'postgres', ...report }));
    return;
  }
  for (const m of report.applied) line(runtime.stdout, `applied ${m.version}: ${m.name}`);
  line(runtime.stdout, `${report.applied.length === 0 ? 'nothing to apply; ' : ''}schema "${report.schema}" is at version ${report.version}`);
}

/** Parses `argv` (without the node and script entries) and runs the command. Sets `process.exitCode` on failure. */
export async function runCli(argv: string[], runtime: CliRuntime): Promise<void> {
  await runCommandLine({
    name: 'relay-server',
    argv,
    parser: () => buildParser(argv, runtime, configFileSettings(argv, process.env)),
    stdout: runtime.stdout,
    stderr: runtime.stderr,
    parseOnly: runtime.parseOnly,
    failure: serverFailure,
  });
}

/** The `relay-server` parser for `argv`, with `settings` from the config file; nothing runs until it is parsed. */
function buildParser(argv: readonly string[], runtime: CliRuntime, settings: Record<string, unknown>): Argv {
  return createParser(argv)
    .scriptName('relay-server')
    .usage('$0 <command> [options]')
    .epilogue('Receives MyOperator webhooks, verifies them, stores the exact bytes and serves them to relay-client.\nDocs: docs/configuration.md, docs/deployment.md, docs/errors.md')
    .env('RELAY')
    .option('config', { type: 'string', describe: 'JSON file with any of the long options of start as keys (env RELAY_CONFIG)' })
    .config(settings)
    .command(
      'start',
      'Run the relay (embedded SQLite store in --data-dir, or a shared Postgres store with --database-url)',
      (y) =>
        serverOptions(y)
          .example('$0 start', 'Listen on :8080 with the store in ./.relay')
          .example('$0 start --public-url https://relay.example.com', 'Behind a reverse proxy')
          .example('RELAY_PORT=9000 $0 start --config relay.json', 'Settings from the environment and a file'),
      (a) => runStart(a, runtime),
    )
    .command(
      'init',
      'Create the store with the myoperator channel and an admin token, without serving (set up channels and tokens before the first start)',
      (y) =>
        storeOptions(y)
          .option('public-url', { type: 'string', describe: 'URL MyOperator and developers will use to reach this relay (for printed instructions)' })
          .option('json', jsonOption)
          .example('$0 init --data-dir /var/lib/relay', 'Then: channel add, token create, and start')
          .example('$0 init --json', 'The secret and the admin token as JSON'),
      (a) => runInit(a, runtime),
    )
    .command(
      'migrate',
      'Apply pending Postgres schema migrations (start applies them too)',
      (y) =>
        databaseUrlOption(y)
          .option('json', jsonOption)
          .example('$0 migrate --database-url postgres://db/relay', 'Before rolling out a new version')
          .example('RELAY_DATABASE_URL=postgres://relay@db/relay $0 migrate --json', ''),
      (a) => runMigrate(a, runtime),
    )
    .command(
      'backup',
      'Copy the embedded store while the relay runs (--to), or check a copy (--verify)',
      (y) =>
        storeOptions(y)
          .option('to', { type: 'string', describe: 'New file to write the backup to; restore by copying it as relay.db into an empty data dir' })
          .option('verify', { type: 'string', describe: 'Backup file to check: integrity, schema version, contents' })
          .option('json', jsonOption)
          .example('$0 backup --data-dir /var/lib/myop-relay --to /backups/relay-2024-05-01.db', 'Progress on stderr')
          .example('$0 backup --verify /backups/relay-2024-05-01.db', 'Before relying on it'),
      (a) => runBackup(a, runtime),
    )
    .command(
      'doctor',
      'Check the relay on this host: store reachable and writable, schema, size and free disk, oldest event, failing consumers, clock',
      (y) =>
        storeOptions(y)
          .option('retention-max-age', { type: 'string', describe: 'As given to start: the oldest event should not be much older', default: formatDuration(SERVER_DEFAULTS.retentionMaxAgeMs) })
          .option('retention-interval', { type: 'string', describe: 'As given to start', default: formatDuration(SERVER_DEFAULTS.retentionIntervalMs) })
          .option('json', jsonOption)
          .example('$0 doctor --data-dir /var/lib/myop-relay', 'Exit status 1 when a check failed')
          .example('$0 doctor --data-dir /var/lib/myop-relay --json', 'The store a systemd install keeps; give doctor the store flags start uses'),
      (a) => runDoctorCommand(a, runtime),
    )
    .command(
      'audit',
      'List the newest admin actions: who changed a channel, created or revoked a token, deleted or replayed to a consumer',
      (y) =>
        storeOptions(y)
          .option('limit', { type: 'number', describe: 'How many, newest first (1-1000)', default: 50 })
          .option('json', jsonOption)
          .example('$0 audit --limit 20', '')
          .example('$0 audit --json', 'Machine-readable'),
      (a) => withStore(a, runtime, (s) => listAuditCommand(s, runtime.stdout, a.limit, a.json)),
    )
    .command('channel', 'Manage channels (MyOperator webhooks)', (y) => storeOptions(channelCommand(y, runtime)))
    .command('token', 'Manage API and WebSocket tokens', (y) => storeOptions(tokenCommand(y, runtime)))
    .example('$0 start --public-url https://relay.example.com', 'Run the relay; the first start prints the webhook URL and secret')
    .example('$0 token create --name asha --channels myoperator', 'A token for a developer\'s relay-client')
    .example('$0 channel add sales', 'Another MyOperator webhook, with its own secret')
    .example('$0 backup --to relay-backup.db', 'A consistent copy of the embedded store while it runs')
    .example('$0 start --help', 'Every start option')
    .demandCommand(1, 'Name a command: start, init, migrate, backup, doctor, audit, channel or token.')
    .help()
    .alias('help', 'h')
    .version(false)
    .wrap(helpWidth(runtime.stdout as { columns?: number; isTTY?: boolean }));
}
