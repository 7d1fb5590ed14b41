/**
 * The developer-workflow commands of relay-client (trigger, events list/show/tail, replay, status,
 * completion), each run as the real CLI against a real relay-server, with real listen sessions
 * forwarding to a real local handler where delivery matters.
 */
import type { EventDetailView, EventListView, ReplayResult, SampleCatalogue, TriggerResult } from '@myop-relay/protocol';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defaultConsumer } from '../relay-client/src/config.js';
import { LocalHandler, consumerConnected, deliveredIds, freePort, runClient, startClient, type ClientProcess, type ReceivedRequest } from './support/client.js';
import { CLIENT_CLI, killAllChildren, runCli, sign, startRelayServer, tempDir, withTimeout, type CliResult, type RelayServerProcess } from './support/processes.js';

const SERVER_ARGS = ['--rate-limit-channel', '0', '--rate-limit-ip', '0', '--log-level', 'warn', '--retry-initial', '100ms', '--retry-max', '400ms', '--heartbeat-interval', '1s'];

let server: RelayServerProcess;
let token: string;
let secret: string;
/** An empty config home for every child, so a developer's client.json cannot change a run. */
let configHome: ReturnType<typeof tempDir>;
let dataDir: ReturnType<typeof tempDir>;
const cleanups: (() => void | Promise<void>)[] = [];

beforeAll(async () => {
  dataDir = tempDir('relay-workflow-');
  configHome = tempDir('relay-workflow-home-');
  server = await startRelayServer({ dataDir: dataDir.path, args: SERVER_ARGS });
  if (!server.banner) throw new Error('first start printed no banner');
  token = server.banner.adminToken;
  secret = server.banner.secret;
  // A channel that takes legacy v1 form bodies, added while the server runs (it shares the SQLite file).
  const added = await runCli(['channel', 'add', 'legacy', '--verify', 'none', '--accept-legacy-form', '--data-dir', dataDir.path]);
  expect(added.code, added.stderr).toBe(0);
});

afterEach(async () => {
  await killAllChildren([server]);
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await killAllChildren();
  dataDir.remove();
  configHome.remove();
});

/** Runs relay-client with the shared relay and token from RELAY_URL and RELAY_TOKEN. */
function client(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runClient(args, { env: { RELAY_URL: server.url, RELAY_TOKEN: token, XDG_CONFIG_HOME: configHome.path, ...env } });
}

async function clientJson<T>(args: readonly string[]): Promise<T> {
  const result = await client([...args, '--json']);
  expect(result.code, `relay-client ${args.join(' ')}\n${result.stderr}`).toBe(0);
  return JSON.parse(result.stdout) as T;
}

async function handler(): Promise<LocalHandler> {
  const h = new LocalHandler();
  await h.start();
  cleanups.push(() => h.stop());
  return h;
}

/** A running `listen` forwarding to `target`; resolves once the relay counts its session. */
async function listen(target: LocalHandler, consumer?: string, extra: readonly string[] = []): Promise<ClientProcess> {
  const args = ['listen', '--relay', server.url, '--token', token, '--forward-to', target.url, '--json', ...(consumer === undefined ? [] : ['--consumer', consumer]), ...extra];
  const proc = startClient(args, { XDG_CONFIG_HOME: configHome.path });
  await consumerConnected(server.url, token, 'myoperator', consumer ?? defaultConsumer(), 1);
  return proc;
}

function header(request: ReceivedRequest, name: string): string | undefined {
  return LocalHandler.header(request, name);
}

describe('relay-client trigger', () => {
  it('stores one event of a type, which listen forwards signed and marked X-Relay-Synthetic: 1', async () => {
    const target = await handler();
    await listen(target, 'trigger-one');
    const result = await client(['trigger', 'call.answered']);
    expect(result.code, result.stderr).toBe(0);
    const row = result.stdout.split('\n').find((l) => l.startsWith('call.answered'));
    const [, id, seq] = row?.split(/\s+/) ?? [];
    expect(id).toMatch(/^evt_/);
    expect(Number(seq)).toBeGreaterThan(0);
    await target.until((r) => r.length >= 1, 'the triggered event at the handler');
    const [request] = target.requests;
    if (!request) throw new Error('no request');
    expect(header(request, 'X-Relay-Event-Id')).toBe(id);
    expect(header(request, 'X-Relay-Synthetic')).toBe('1');
    expect(header(request, 'X-Relay-Replay')).toBeUndefined();
    // Signed with the channel's secret exactly as MyOperator signs, over the bytes the handler got.
    expect(header(request, 'X-MyOperator-Signature')).toBe(sign(request.body, secret));
    expect(JSON.parse(request.body.toString('utf8'))).toMatchObject({ event_id: id, event_type: 'call.answered' });
  });

  it('--flow call stores the six call events in order', async () => {
    const result = await clientJson<TriggerResult>(['trigger', '--flow', 'call']);
    expect(result.channel).toBe('myoperator');
    expect(result.events.map((e) => e.type)).toEqual(['call.initiated', 'call.dial_begin', 'call.answered', 'call.end', 'call.summary', 'call.disposition']);
    const seqs = result.events.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(result.events.every((e) => !e.duplicate)).toBe(true);
  });

  it('--shape seed with --set overrides fields of the stored body', async () => {
    // A --set before the type takes one value, leaving the type to the positional.
    const made = await clientJson<TriggerResult>(['trigger', '--set', 'data.duration_sec=7', 'call.ended', '--shape', 'seed', '--set', 'data.queue=Support desk']);
    const id = made.events[0]?.id ?? '';
    const event = await clientJson<EventDetailView>(['events', 'show', id]);
    expect(JSON.parse(event.bodyText ?? '')).toMatchObject({ id, type: 'call.ended', data: { duration_sec: 7, queue: 'Support desk' } });
  });

  it('--list prints the catalogue of types per shape and the flows', async () => {
    const text = await client(['trigger', '--list']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('call.disposition');
    expect(text.stdout).toMatch(/whatsapp\s+v2: message\.received -> /);
    const catalogue = await clientJson<SampleCatalogue>(['trigger', '--list']);
    expect(catalogue.shapes['seed']).toEqual(['call.started', 'call.answered', 'call.ended']);
    expect(Object.keys(catalogue.flows)).toEqual(['call', 'whatsapp']);
  });

  it('an unknown type exits 1 with the relay\'s code and the valid types', async () => {
    const result = await client(['trigger', 'call.teleported']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('RELAY_E_UNKNOWN_EVENT_TYPE');
    expect(result.stderr).toContain('call.dial_begin');
    expect(result.stderr).toContain('relay-client trigger --list');
  });

  it('refuses bad command lines with exit 2: unknown flag, no type, type and --flow, --set without =', async () => {
    for (const args of [['trigger', '--flwo', 'call'], ['trigger'], ['trigger', 'call.end', '--flow', 'call'], ['trigger', 'call.end', '--set', 'payload.status']]) {
      const result = await client(args);
      expect(result.code, args.join(' ')).toBe(2);
    }
    expect((await client(['trigger', '--flwo', 'call'])).stderr).toContain('Unknown option: --flwo');
  });
});

describe('relay-client events', () => {
  it('list shows stored events newest first, filtered by type, --since and --limit', async () => {
    await clientJson<TriggerResult>(['trigger', '--flow', 'whatsapp']);
    const all = await clientJson<EventListView>(['events', 'list', '--since', '1h', '--limit', '1000']);
    const seqs = all.events.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    const read = await clientJson<EventListView>(['events', 'list', '--type', 'message.read']);
    expect(read.events.length).toBeGreaterThan(0);
    expect(read.events.every((e) => e.type === 'message.read' && e.synthetic)).toBe(true);

    const table = await client(['events', 'list', '--limit', '2']);
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^TIME\s+CHANNEL\s+SEQ\s+TYPE\s+ID\s+SIZE\s+SOURCE$/);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toContain('conversation.close');
    expect(lines[1]).toContain('synthetic');
    expect(table.stderr).toContain('older events exist');

    const future = await clientJson<EventListView>(['events', 'list', '--since', '2099-01-01T00:00:00Z']);
    expect(future.events).toEqual([]);
    expect((await client(['events', 'list', '--since', 'yesterday'])).code).toBe(2);
  });

  it('show prints metadata, headers, the body as pretty JSON and every delivery attempt', async () => {
    const target = await handler();
    await listen(target, 'show-me');
    const made = await clientJson<TriggerResult>(['trigger', 'call.summary']);
    const id = made.events[0]?.id ?? '';
    await target.until((r) => deliveredIds(r).includes(id), 'the event at the handler');
    // The ack travels from the client to the relay after the handler answered; nothing announces
    // its arrival, so the attempts are polled (bounded) until the relay has recorded it.
    const deadline = Date.now() + 10_000;
    let shown: EventDetailView & { attempts: { consumer: string; outcome: string | null; status: number | null }[] };
    do {
      shown = await clientJson(['events', 'show', id]);
    } while (!shown.attempts.some((a) => a.consumer === 'show-me' && a.outcome === 'acked') && Date.now() < deadline);
    expect(shown.attempts).toContainEqual(expect.objectContaining({ consumer: 'show-me', attempt: 1, status: 200, outcome: 'acked' }));
    expect(Buffer.from(shown.bodyBase64, 'base64')).toEqual(target.requests.find((r) => header(r, 'X-Relay-Event-Id') === id)?.body);

    const text = await client(['events', 'show', id]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`event ${id}`);
    expect(text.stdout).toMatch(/X-MyOperator-Signature: [0-9a-f]{64}/);
    expect(text.stdout).toContain('"event_type": "call.summary"');
    expect(text.stdout).toMatch(/show-me\s+1\s+.+\s+200\s+\d+ ms\s+acked/);

    const missing = await client(['events', 'show', 'evt_never_stored']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('RELAY_E_EVENT_NOT_FOUND');
  });

  it('show decodes a legacy v1 form body', async () => {
    const made = await clientJson<TriggerResult>(['trigger', 'legacy.call', '--channel', 'legacy']);
    const text = await client(['events', 'show', made.events[0]?.id ?? '', '--channel', 'legacy']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('myoperator=%7B');
    expect(text.stdout).toContain('legacy form decoded');
    expect(text.stdout).toMatch(/"_ai": "/);
  });

  it('tail prints new events without forwarding, acks them, and deletes its consumer on exit', async () => {
    const tail = startClient(['events', 'tail', '--relay', server.url, '--token', token, '--events', 'message.*', '--json'], { XDG_CONFIG_HOME: configHome.path });
    const plain = startClient(['events', 'tail', '--relay', server.url, '--token', token], { XDG_CONFIG_HOME: configHome.path });
    const ready = await tail.line(/tailing myoperator as throw-away consumer tail-[0-9a-f]{8}/, 'stderr');
    await plain.line(/tailing myoperator/, 'stderr');
    const consumer = /(tail-[0-9a-f]{8})/.exec(ready)?.[1] ?? '';

    const made = await clientJson<TriggerResult>(['trigger', '--flow', 'whatsapp']);
    const messages = made.events.filter((e) => e.type.startsWith('message.'));
    await tail.line(new RegExp(`"id":"${messages[messages.length - 1]?.id ?? ''}"`));
    await plain.line(new RegExp(`conversation\\.close\\s+${made.events[made.events.length - 1]?.id ?? ''}\\s+\\(synthetic\\)`));
    const shown = tail.stdout().trim().split('\n').map((l) => JSON.parse(l) as { id: string; type: string; synthetic: boolean; json: { event_id: string }; bodyBase64: string });
    expect(shown.map((e) => e.id)).toEqual(messages.map((e) => e.id));
    expect(shown.every((e) => e.synthetic && e.json.event_id === e.id)).toBe(true);
    expect(plain.stdout()).toMatch(/^\d\d:\d\d:\d\d {2}message\.received\s+evt_\S+ {2}\(synthetic\)$/m);

    const during = await clientJson<{ channels: { name: string; consumers: { consumer?: { connectedSessions: number } }[] }[] }>(['status', '--channel', 'myoperator', '--consumer', consumer]);
    expect(during.channels[0]?.consumers[0]?.consumer?.connectedSessions).toBe(1);
    tail.child.kill('SIGINT');
    plain.child.kill('SIGTERM');
    expect((await tail.exited).code).toBe(130);
    expect((await plain.exited).code).toBe(130);
    expect(tail.stderr()).toContain(`consumer ${consumer} deleted`);
    const res = await fetch(`${server.url}/api/consumers?channel=myoperator`, { headers: { authorization: `Bearer ${token}` } });
    const { consumers } = (await res.json()) as { consumers: { name: string }[] };
    expect(consumers.filter((c) => c.name.startsWith('tail-'))).toEqual([]);
  });
});

describe('relay-client replay', () => {
  it('queues events again by id and by --since for the listen default consumer, which receives them with X-Relay-Replay: 1', async () => {
    const target = await handler();
    // No --consumer on either side: listen and replay share the <user>@<hostname> default.
    await listen(target);
    const made = await clientJson<TriggerResult>(['trigger', '--flow', 'call']);
    const ids = made.events.map((e) => e.id);
    await target.until((r) => ids.every((id) => deliveredIds(r).includes(id)), 'the flow at the handler');
    const before = target.requests.length;

    const answered = made.events.find((e) => e.type === 'call.answered')?.id ?? '';
    const byId = await client(['replay', answered, 'evt_not_stored']);
    expect(byId.code).toBe(1);
    expect(byId.stdout).toContain(`queued 1 event again for consumer ${defaultConsumer()}`);
    expect(byId.stdout).toContain('evt_not_stored');
    await target.until((r) => r.length > before, 'the replayed event');
    const replayed = target.requests[before];
    if (!replayed) throw new Error('no replay');
    expect(header(replayed, 'X-Relay-Event-Id')).toBe(answered);
    expect(header(replayed, 'X-Relay-Replay')).toBe('1');
    expect(header(replayed, 'X-Relay-Attempt')).toBe('2');
    expect(header(replayed, 'X-MyOperator-Signature')).toBe(sign(replayed.body, secret));

    const endings = await clientJson<EventListView>(['events', 'list', '--type', 'call.end', '--since', '1h', '--limit', '1000']);
    const count = target.requests.length;
    const bySince = await clientJson<ReplayResult>(['replay', '--since', '1h', '--type', 'call.end']);
    expect(bySince).toEqual({ channel: 'myoperator', consumer: defaultConsumer(), queued: endings.events.length, missing: [] });
    await target.until((r) => r.length >= count + endings.events.length, 'the replayed call.end events');
    const again = target.requests.slice(count);
    expect(again.every((r) => header(r, 'X-Relay-Replay') === '1' && JSON.parse(r.body.toString('utf8')).event_type === 'call.end')).toBe(true);
    expect(again.map((r) => header(r, 'X-Relay-Event-Id'))).toContain(made.events.find((e) => e.type === 'call.end')?.id);
  });

  it('says how to create the consumer when it does not exist, and refuses ids with --since', async () => {
    const result = await client(['replay', 'evt_x', '--consumer', 'nobody-here']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('RELAY_E_CONSUMER_NOT_FOUND');
    expect(result.stderr).toContain('relay-client listen');
    expect((await client(['replay', 'evt_x', '--since', '1h'])).code).toBe(2);
    expect((await client(['replay'])).code).toBe(2);
    // A since meant for listen, from the environment, does not turn a bare replay into a replay of everything.
    expect((await client(['replay'], { RELAY_SINCE: '1h' })).code).toBe(2);
  });
});

describe('relay-client status', () => {
  it('exits 0 and reports the relay, the token and my consumer with its counts', async () => {
    const target = await handler();
    await listen(target, 'status-me');
    const report = await clientJson<{
      ok: boolean;
      healthz: { ok: boolean };
      readyz: { ok: boolean };
      token: { ok: boolean; channelsVisible: number };
      channels: { name: string; consumers: { name: string; exists: boolean; consumer?: { connectedSessions: number; pending: number; failed: number } }[] }[];
    }>(['status', '--consumer', 'status-me', '--consumer', 'not-yet']);
    expect(report).toMatchObject({ ok: true, healthz: { ok: true }, readyz: { ok: true }, token: { ok: true, channelsVisible: 2 } });
    const channel = report.channels.find((c) => c.name === 'myoperator');
    expect(channel?.consumers).toEqual([
      { name: 'status-me', exists: true, consumer: expect.objectContaining({ connectedSessions: 1, failed: 0 }) },
      { name: 'not-yet', exists: false },
    ]);
    const text = await client(['status', '--channel', 'myoperator', '--consumer', 'status-me']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/consumer status-me: connected \(1 session\), pending \d+/);
    expect(text.stdout).toContain('status: ok');
  });

  it('exits 2 and says how to create a token when the token is refused or missing', async () => {
    const refused = await client(['status'], { RELAY_TOKEN: 'mrt_not_a_real_token' });
    expect(refused.code).toBe(2);
    expect(refused.stdout).toContain('RELAY_E_CLIENT_TOKEN_REJECTED');
    expect(refused.stdout).toContain('relay-server token create --name <you>');
    expect(refused.stdout + refused.stderr).not.toContain('mrt_not_a_real_token');
    const missing = await client(['status'], { RELAY_TOKEN: '' });
    expect(missing.code).toBe(2);
    expect(missing.stdout).toContain('relay-server token create --name <you>');
    // Other commands refuse to start without one, saying the same.
    const trigger = await client(['trigger', 'call.end'], { RELAY_TOKEN: '' });
    expect(trigger.code).toBe(2);
    expect(trigger.stderr).toContain('relay-server token create --name <you>');
    const events = await client(['events', 'list'], { RELAY_TOKEN: 'mrt_not_a_real_token' });
    expect(events.code).toBe(2);
    expect(events.stderr).toContain('RELAY_E_CLIENT_TOKEN_REJECTED');
  });

  it('exits 1 naming the URL it tried when the relay is unreachable', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const status = await client(['status'], { RELAY_URL: url });
    expect(status.code).toBe(1);
    expect(status.stdout).toContain(`${url}/healthz`);
    expect(status.stdout).toContain('ECONNREFUSED');
    for (const args of [['events', 'list'], ['trigger', 'call.end'], ['replay', 'evt_x']]) {
      const result = await client(args, { RELAY_URL: url });
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr).toContain('error RELAY_E_CLIENT_UNREACHABLE:');
      expect(result.stderr).toContain(`relay unreachable at ${url}/api/`);
      expect(result.stderr).toContain('ECONNREFUSED');
    }
  });
});

describe('relay-client completion', () => {
  it('lists a command\'s flags for --get-yargs-completions, and nothing on stderr', async () => {
    const listen = await runClient(['--get-yargs-completions', 'relay-client', 'listen', '--']);
    expect(listen.code).toBe(0);
    expect(listen.stdout.split('\n')).toEqual(expect.arrayContaining(['--forward-to', '--relay', '--token', '--events']));
    expect(listen.stderr).toBe('');
    const tail = await runClient(['--get-yargs-completions', 'relay-client', 'events', 'tail', '--']);
    expect(tail.stdout.split('\n')).toEqual(expect.arrayContaining(['--events', '--channel', '--json']));
    const commands = await runClient(['--get-yargs-completions', 'relay-client', '']);
    expect(commands.stdout.split('\n')).toEqual(expect.arrayContaining(['listen', 'trigger', 'events', 'replay', 'status', 'completion']));
  });

  it('completes in bash once the printed script is sourced', async () => {
    const bin = tempDir('relay-completion-');
    cleanups.push(bin.remove);
    // The script calls `relay-client` by name, as an installed binary would be.
    const wrapper = join(bin.path, 'relay-client');
    writeFileSync(wrapper, `#!/bin/sh\nexec "${process.execPath}" "${CLIENT_CLI}" "$@"\n`);
    chmodSync(wrapper, 0o755);
    const script = [
      'source <(relay-client completion)',
      'COMP_WORDS=(relay-client listen --forw); COMP_CWORD=2; _relay-client_yargs_completions; echo "flags: ${COMPREPLY[*]}"',
      'COMP_WORDS=(relay-client ev); COMP_CWORD=1; _relay-client_yargs_completions; echo "commands: ${COMPREPLY[*]}"',
      'COMP_WORDS=(relay-client trigger --shape ""); COMP_CWORD=3; _relay-client_yargs_completions; echo "shapes: ${COMPREPLY[*]}"',
    ].join('\n');
    const bash = spawn('bash', ['-c', script], { env: { ...process.env, PATH: `${bin.path}:${process.env['PATH'] ?? ''}`, XDG_CONFIG_HOME: configHome.path }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    bash.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    bash.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const [code] = (await withTimeout(once(bash, 'close'), 20_000, 'bash to finish')) as [number | null];
    expect(code, err).toBe(0);
    expect(err).toBe('');
    expect(out).toContain('flags: --forward-to');
    expect(out).toContain('commands: events');
    expect(out).toContain('shapes: v2 seed v1');
  });
});
