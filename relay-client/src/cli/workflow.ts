/**
 * The developer-workflow commands on the command line: `trigger`, `events list|show|tail`,
 * `replay` and `status`. Each parses its arguments into the options of a function in
 * `../workflow/` and sets `process.exitCode` from the result; none exits the process.
 */
import type { Argv } from 'yargs';
import { EXIT_CODES, type ExitCode } from '@myop-relay/cli-support';
import { parseSince, validateChannelName, validateConsumerName, validateEventPattern, MAX_EVENT_PATTERNS } from '@myop-relay/protocol';
import { defaultConsumer, LISTEN_DEFAULTS, resolveRelayAccess, resolveRelayUrl, type RelayAccess } from '../config.js';
import { ClientError } from '../errors.js';
import { RelayApi } from '../relay-api.js';
import { runEventsList, runEventsShow } from '../workflow/events.js';
import type { CommandOutput } from '../workflow/output.js';
import { runReplay } from '../workflow/replay.js';
import { runStatus, type StatusReport } from '../workflow/status.js';
import { runTail } from '../workflow/tail.js';
import { parseSetFlags, runTrigger, runTriggerList, SAMPLE_SHAPES, type SampleShape, type TriggerOptions } from '../workflow/trigger.js';
import { integer, list, relayOptions, text, typedLongFlags } from './options.js';
import type { CliRuntime } from './runtime.js';

type Args = Readonly<Record<string, unknown>>;

function invalid(flag: string, problem: string): never {
  throw new ClientError('RELAY_E_CLIENT_CONFIG_INVALID', `--${flag}: ${problem}`);
}

/** The parts of a command line every workflow command needs. */
interface Context {
  runtime: CliRuntime;
  /** The raw command line, to tell typed flags from `RELAY_*` variables and config keys. */
  argv: readonly string[];
}

function output(runtime: CliRuntime): CommandOutput {
  return { out: runtime.stdout, err: runtime.stderr };
}

function relayAccess(args: Args): RelayAccess {
  return resolveRelayAccess({ relay: text(args['relay'], 'relay') ?? '', token: text(args['token'], 'token') ?? '' });
}

function relayApi(runtime: CliRuntime, access: { relay: URL; token?: string }): RelayApi {
  return new RelayApi({ relay: access.relay, ...(access.token === undefined ? {} : { token: access.token }), ...(runtime.fetch === undefined ? {} : { fetch: runtime.fetch }) });
}

/** A setting that selects what the command acts on: only from the typed command line (see {@link typedLongFlags}). */
function typed(ctx: Context, args: Args, name: string, key: string): unknown {
  return typedLongFlags(ctx.argv).has(name) ? args[key] : undefined;
}

function checkedChannel(name: string): string {
  const problem = validateChannelName(name);
  if (problem !== undefined) invalid('channel', `"${name.slice(0, 200)}" ${problem}`);
  return name;
}

/** The one channel of `trigger`, `events show` and `replay`. Default `myoperator`. */
function oneChannel(args: Args, command: string): string {
  const channels = [...new Set(list(args['channel'], 'channel') ?? [])];
  if (channels.length > 1) {
    invalid('channel', `${command} works on one channel, got ${channels.join(', ')} (from the command line, RELAY_CHANNEL or the config file); name one with --channel`);
  }
  return checkedChannel(channels[0] ?? LISTEN_DEFAULTS.channels[0] ?? 'myoperator');
}

function manyChannels(args: Args): string[] | undefined {
  const channels = list(args['channel'], 'channel');
  return channels === undefined || channels.length === 0 ? undefined : [...new Set(channels)].map(checkedChannel);
}

function consumerName(value: string): string {
  const problem = validateConsumerName(value);
  if (problem !== undefined) invalid('consumer', problem);
  return value;
}

/** `--since`/`--before` of `events list` and `replay`: a duration back from now or an ISO time; the relay resolves it with its own clock. */
function timeArg(value: unknown, flag: string): string | undefined {
  const raw = text(value, flag);
  if (raw === undefined || raw === '') return undefined;
  const parsed = parseSince(raw, new Date());
  if (!parsed.ok || parsed.since.kind !== 'time') invalid(flag, `expected a duration such as 30m, 2h or 1d, or an ISO-8601 time with zone such as 2025-08-26T10:00:00Z; got "${raw.slice(0, 60)}"`);
  return raw;
}

/** `--type` of `events list` and `replay`: one event-type glob, as `listen --events` takes them (`call.*`). */
function typePattern(value: unknown): string | undefined {
  const pattern = text(value, 'type');
  if (pattern === undefined || pattern === '') return undefined;
  const problem = validateEventPattern(pattern);
  if (problem !== undefined) invalid('type', `"${pattern.slice(0, 200)}" ${problem}`);
  return pattern;
}

function eventPatterns(value: unknown): string[] | undefined {
  const patterns = list(value, 'events');
  if (patterns === undefined || patterns.length === 0) return undefined;
  const unique = [...new Set(patterns)];
  if (unique.length > MAX_EVENT_PATTERNS) invalid('events', `at most ${MAX_EVENT_PATTERNS} patterns`);
  for (const pattern of unique) {
    const problem = validateEventPattern(pattern);
    if (problem !== undefined) invalid('events', `"${pattern.slice(0, 200)}" ${problem}`);
  }
  return unique;
}

const jsonOption = { type: 'boolean', describe: 'Print JSON instead of text', default: false } as const;

// --- trigger

function triggerOptionsFrom(ctx: Context, args: Args): { list: true } | { list: false; options: TriggerOptions } {
  const type = text(args['eventType'], 'event-type');
  const flow = text(typed(ctx, args, 'flow', 'flow'), 'flow');
  const shapeText = text(typed(ctx, args, 'shape', 'shape'), 'shape');
  const set = typed(ctx, args, 'set', 'set');
  const listing = typed(ctx, args, 'list', 'list') === true;
  const chosen = [type === undefined ? '' : 'an event type', flow === undefined ? '' : '--flow', listing ? '--list' : ''].filter(Boolean);
  if (chosen.length === 0) invalid('flow', 'name an event type (relay-client trigger call.answered), a flow (--flow call) or --list');
  if (chosen.length > 1) invalid(listing ? 'list' : 'flow', `give one of an event type, --flow or --list, not ${chosen.join(' and ')}`);
  if (listing) return { list: true };
  let shape: SampleShape | undefined;
  if (shapeText !== undefined) {
    shape = SAMPLE_SHAPES.find((s) => s === shapeText);
    if (shape === undefined) invalid('shape', `expected ${SAMPLE_SHAPES.join(', ')}, got "${shapeText.slice(0, 40)}"`);
  }
  const options: TriggerOptions = { channel: oneChannel(args, 'trigger') };
  if (type !== undefined) options.type = type;
  if (flow !== undefined) options.flow = flow;
  if (shape !== undefined) options.shape = shape;
  if (set !== undefined) options.set = parseSetFlags(setValues(set));
  return { list: false, options };
}

/** `--set` values as typed: unlike other list flags, commas are part of a value (`--set 'payload.tags=["a","b"]'`). */
function setValues(value: unknown): string[] {
  const items = Array.isArray(value) ? (value as unknown[]) : [value];
  return items.map((item) => (typeof item === 'string' || typeof item === 'number' ? String(item) : invalid('set', 'expected path=value')));
}

async function trigger(ctx: Context, args: Args): Promise<void> {
  const parsed = triggerOptionsFrom(ctx, args);
  const json = args['json'] === true;
  const api = relayApi(ctx.runtime, relayAccess(args));
  if (parsed.list) await runTriggerList(api, output(ctx.runtime), json);
  else await runTrigger(api, parsed.options, output(ctx.runtime), json);
}

// --- events

async function eventsList(ctx: Context, args: Args): Promise<void> {
  const channel = text(typed(ctx, args, 'channel', 'channel'), 'channel');
  const type = typePattern(typed(ctx, args, 'type', 'type'));
  const since = timeArg(typed(ctx, args, 'since', 'since'), 'since');
  const before = timeArg(typed(ctx, args, 'before', 'before'), 'before');
  const limit = integer(typed(ctx, args, 'limit', 'limit'), 'limit') ?? 50;
  if (limit < 1 || limit > 1000) invalid('limit', `must be from 1 to 1000, got ${limit}`);
  const api = relayApi(ctx.runtime, relayAccess(args));
  await runEventsList(
    api,
    {
      ...(channel === undefined ? {} : { channel: checkedChannel(channel) }),
      ...(type === undefined ? {} : { type }),
      ...(since === undefined ? {} : { since }),
      ...(before === undefined ? {} : { before }),
      limit,
    },
    output(ctx.runtime),
    args['json'] === true,
  );
}

async function eventsShow(ctx: Context, args: Args): Promise<void> {
  const id = text(args['id'], 'id') ?? '';
  // The channel picks where to look, so only a typed --channel narrows it; else every channel the token may read.
  const channel = text(typed(ctx, args, 'channel', 'channel'), 'channel');
  await runEventsShow(relayApi(ctx.runtime, relayAccess(args)), channel === undefined ? undefined : checkedChannel(channel), id, output(ctx.runtime), args['json'] === true);
}

async function eventsTail(ctx: Context, args: Args): Promise<void> {
  const access = relayAccess(args);
  const channels = manyChannels(args) ?? [...LISTEN_DEFAULTS.channels];
  const events = eventPatterns(typed(ctx, args, 'events', 'events'));
  const controller = new AbortController();
  ctx.runtime.onShutdownSignal(() => controller.abort());
  await runTail(
    { access, channels, ...(events === undefined ? {} : { events }) },
    { api: relayApi(ctx.runtime, access), output: output(ctx.runtime), json: args['json'] === true, signal: controller.signal, createSocket: ctx.runtime.createSocket },
  );
  // runTail returns only when the user stopped it.
  process.exitCode = EXIT_CODES.interrupted;
}

// --- replay

async function replay(ctx: Context, args: Args): Promise<void> {
  const ids = (list(args['ids'], 'ids') ?? []).filter((id) => id !== '');
  const since = timeArg(typed(ctx, args, 'since', 'since'), 'since');
  const before = timeArg(typed(ctx, args, 'before', 'before'), 'before');
  const type = typePattern(typed(ctx, args, 'type', 'type'));
  if (ids.length > 0 && (since !== undefined || before !== undefined || type !== undefined)) {
    invalid('since', 'give event ids or a time range (--since, --before, --type), not both');
  }
  if (ids.length === 0 && since === undefined) invalid('since', 'name event ids (relay-client replay evt_1 evt_2) or a time range (relay-client replay --since 2h)');
  const channel = oneChannel(args, 'replay');
  const consumer = consumerName(text(args['consumer'], 'consumer') ?? defaultConsumer(ctx.runtime.env));
  const api = relayApi(ctx.runtime, relayAccess(args));
  const result = await runReplay(
    api,
    { channel, consumer, ...(ids.length > 0 ? { ids } : { since, ...(before === undefined ? {} : { before }), ...(type === undefined ? {} : { type }) }) },
    output(ctx.runtime),
    args['json'] === true,
  );
  // Like `rm a b`: the ones found were queued, but the run did not do all it was asked.
  if (result.missing.length > 0) process.exitCode = EXIT_CODES.failed;
}

// --- status

/** 0 all well; 2 when the token is missing or refused (the command needs fixing); 1 for any other problem. */
function statusExitCode(report: StatusReport): ExitCode {
  if (report.ok) return EXIT_CODES.done;
  const tokenCode = report.token.code;
  return tokenCode === 'RELAY_E_CLIENT_TOKEN_REJECTED' || tokenCode === 'RELAY_E_CLIENT_CONFIG_INVALID' ? EXIT_CODES.usage : EXIT_CODES.failed;
}

async function status(ctx: Context, args: Args): Promise<void> {
  const relay = resolveRelayUrl(text(args['relay'], 'relay') ?? '');
  const tokenText = text(args['token'], 'token') ?? '';
  // A token that is given must be well-formed; a missing one is a finding of the report.
  const token = tokenText === '' ? undefined : resolveRelayAccess({ relay: relay.href, token: tokenText }).token;
  const channels = manyChannels(args);
  const consumers = [...new Set(list(args['consumer'], 'consumer') ?? [defaultConsumer(ctx.runtime.env)])].map(consumerName);
  const report = await runStatus(
    relayApi(ctx.runtime, { relay, ...(token === undefined ? {} : { token }) }),
    { consumers, hasToken: token !== undefined, ...(channels === undefined ? {} : { channels }) },
    output(ctx.runtime),
    args['json'] === true,
  );
  process.exitCode = statusExitCode(report);
}

// --- definitions

/** Adds `trigger`, `events`, `replay` and `status` to `parser`. */
export function workflowCommands(parser: Argv, runtime: CliRuntime, argv: readonly string[]): Argv {
  const ctx: Context = { runtime, argv };
  const consumerDefault = defaultConsumer(runtime.env);
  return parser
    .command(
      'trigger [event-type]',
      'Store sample MyOperator events (signed, marked synthetic) as if MyOperator had sent them',
      (y: Argv) =>
        relayOptions(y)
          .positional('event-type', { type: 'string', describe: 'Event type, e.g. call.answered (see --list)' })
          .option('channel', { type: 'string', describe: 'Channel to store them on', default: 'myoperator' })
          .option('flow', { type: 'string', describe: 'A whole call or chat in order: call or whatsapp' })
          .option('shape', { type: 'string', choices: [...SAMPLE_SHAPES], describe: 'Payload shape: v2 (Webhook v2, default), seed (the docs article) or v1 (legacy form)' })
          .option('set', { type: 'string', array: true, nargs: 1, describe: 'Override a field by dotted path, path=value (JSON values are JSON); repeat for more' })
          .option('list', { type: 'boolean', describe: 'List the event types and flows the relay can generate' })
          .option('json', jsonOption)
          .example('$0 trigger call.answered', 'One event, Webhook v2 shape')
          .example('$0 trigger --flow call', 'A whole call: initiated, dial_begin, answered, end, summary, disposition')
          .example('$0 trigger call.ended --shape seed', 'The docs article\'s shape')
          .example('$0 trigger call.end --set payload.status=missed', 'A field changed by dotted path')
          .example('$0 trigger --list', 'What can be generated')
          .epilogue(
            'The events go through the relay\'s real ingest path: they are stored, signed with the channel\'s secret when it uses HMAC, ' +
              'and delivered to every consumer; relay-client listen forwards them with X-Relay-Synthetic: 1.\n' +
              '--flow, --shape, --set and --list are read from the command line only.\n' +
              'Exit codes: 0 stored, 1 refused by the relay (unknown type: the message lists the valid ones) or relay unreachable, 2 invalid options or token refused.',
          ),
      (a) => trigger(ctx, a),
    )
    .command(
      'events',
      'Stored events: list, show one with its deliveries, or tail new ones',
      (y: Argv) =>
        y
          .command(
            'list',
            'Stored events, newest first',
            (c: Argv) =>
              relayOptions(c)
                .option('channel', { type: 'string', describe: 'Only this channel (default: every channel the token may read)' })
                .option('type', { type: 'string', describe: "Only these event types: a glob as listen --events takes, e.g. call.answered or 'call.*'" })
                .option('since', { type: 'string', describe: 'Received at or after: a duration back from now (30m, 2h, 1d) or an ISO-8601 time' })
                .option('before', { type: 'string', describe: 'Received before: same forms as --since' })
                .option('limit', { type: 'string', describe: 'At most this many events, 1-1000', default: '50' })
                .option('json', jsonOption)
                .example('$0 events list', 'The 50 newest events')
                .example("$0 events list --type 'call.*' --since 2h", 'Call events of the last two hours')
                .example('$0 events list --channel sales --limit 200 --json', 'Machine-readable')
                .epilogue('--channel, --type, --since, --before and --limit are read from the command line only.'),
            (a) => eventsList(ctx, a),
          )
          .command(
            'show <id>',
            'One event: headers, body (pretty JSON; legacy form decoded) and every delivery attempt',
            (c: Argv) =>
              relayOptions(c)
                .positional('id', { type: 'string', describe: 'Event id (events list shows them)' })
                .option('channel', { type: 'string', describe: 'Channel of the event (default: looked for in every channel the token may read)' })
                .option('json', jsonOption)
                .example('$0 events show evt_01JABCXYZ123', 'The event, whichever channel holds it')
                .example('$0 events show evt_01JABCXYZ123 --channel sales --json', 'Exact body as base64, headers, attempts')
                .epilogue('--channel is read from the command line only.'),
            (a) => eventsShow(ctx, a),
          )
          .command(
            'tail',
            'Print new events as they arrive, forwarding nothing (a throw-away consumer, deleted on exit)',
            (c: Argv) =>
              relayOptions(c)
                .option('channel', { type: 'string', array: true, describe: 'Channel to watch; repeat or separate with commas for several', default: [...LISTEN_DEFAULTS.channels] })
                .option('events', { type: 'string', array: true, describe: "Only these event types, comma-separated globs, e.g. 'call.*'" })
                .option('json', { type: 'boolean', describe: 'One JSON object per event, with headers and body', default: false })
                .example('$0 events tail', 'Watch channel myoperator')
                .example("$0 events tail --events 'call.*' --json", 'Call events with their bodies, as JSON lines')
                .epilogue(
                  'tail subscribes as tail-<random>, acks every event as it arrives and deletes that consumer on Ctrl-C, so it never ' +
                    'takes events from your listen consumer and leaves nothing on the relay.\n--events is read from the command line only.\n' +
                    'Exit codes: 130 stopped with Ctrl-C, 1 a subscription was refused or the connection failed for good, 2 invalid options or token refused.',
                ),
            (a) => eventsTail(ctx, a),
          )
          .example('$0 events list --since 2h', 'Stored in the last two hours')
          .example('$0 events show <id>', 'Headers, body and delivery attempts of one event')
          .example('$0 events tail', 'New events as they arrive')
          .demandCommand(1, 'Name an events command: list, show or tail.'),
    )
    .command(
      'replay [ids..]',
      'Queue stored events again for a consumer (a running listen gets them with X-Relay-Replay: 1)',
      (y: Argv) =>
        relayOptions(y)
          .positional('ids', { type: 'string', array: true, describe: 'Event ids to replay' })
          .option('channel', { type: 'string', describe: 'Channel of the events', default: 'myoperator' })
          .option('consumer', { type: 'string', describe: `Consumer to replay to (default ${consumerDefault}, as listen)` })
          .option('since', { type: 'string', describe: 'Instead of ids: events received since a duration back (2h) or an ISO-8601 time' })
          .option('before', { type: 'string', describe: 'With --since: received before this' })
          .option('type', { type: 'string', describe: "With --since: only these event types, a glob such as 'call.*'" })
          .option('json', jsonOption)
          .example('$0 replay evt_01JABCXYZ123', 'One event to your listen consumer')
          .example("$0 replay --since 2h --type 'call.*'", 'Every call event of the last two hours')
          .example('$0 replay evt_1 evt_2 --consumer ci', 'To another consumer')
          .epilogue(
            '--since, --before and --type are read from the command line only.\n' +
              'Exit codes: 0 queued, 1 some ids are not stored (the others were queued), the relay refused or is unreachable, 2 invalid options or token refused.',
          ),
      (a) => replay(ctx, a),
    )
    .command(
      'status',
      'Check the relay, the token and your consumers; exit 0 when all is well',
      (y: Argv) =>
        relayOptions(y)
          .option('channel', { type: 'string', array: true, describe: 'Only these channels (default: every channel the token may read)' })
          .option('consumer', { type: 'string', array: true, describe: `Consumers to report (default ${consumerDefault}, as listen)` })
          .option('json', jsonOption)
          .example('$0 status', 'Relay, token and your consumer on every channel')
          .example('$0 status --channel sales --consumer ci --json', 'One channel, another consumer, as JSON')
          .epilogue(
            'Problems (exit 1): relay unreachable or not ready, a channel not visible, events failed for good; token missing or refused: exit 2.\n' +
              'Warnings (exit 0): no consumer yet, events waiting while no listen is connected, several sessions sharing a consumer.',
          ),
      (a) => status(ctx, a),
    );
}
