import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TestSocket } from '../relay-server/test/ws-client.js';
import { killAllChildren, runCli, runCliJson, sign, startRelayServer, tempDir } from './support/processes.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  await killAllChildren();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface AuditView {
  at: string;
  actor: { kind: 'cli' } | { kind: 'token'; name: string };
  action: string;
  target: string;
  detail: Record<string, unknown>;
}

describe('the audit log', () => {
  it('records who did each admin action, from the command line and the API, without a secret', async () => {
    const dir = tempDir('relay-audit-');
    cleanups.push(dir.remove);
    const dataDir = join(dir.path, 'data');
    const server = await startRelayServer({ dataDir, args: ['--log-level', 'info'] });
    const banner = server.banner;
    if (!banner) throw new Error('no first-start banner');
    const store = ['--data-dir', dataDir];
    const admin = { authorization: `Bearer ${banner.adminToken}` };

    // Command line: a channel's life, and a developer's token.
    const secret = 'whsec_audit_secret_0123456789abcdef';
    await runCliJson(['channel', 'add', 'sales', '--secret', secret, '--json', ...store]);
    await runCliJson(['channel', 'update', 'sales', '--max-body', '2MiB', '--json', ...store]);
    const rotated = (await runCliJson(['channel', 'rotate-secret', 'sales', '--json', ...store])) as { secret: string };
    const asha = (await runCliJson(['token', 'create', '--name', 'asha', '--channels', 'sales', '--json', ...store])) as { token: string };

    // API: a consumer that gets one event replayed, then is deleted.
    const socket = new TestSocket(server.url, { token: banner.adminToken });
    cleanups.push(() => socket.close());
    await socket.hello();
    await socket.subscribe({ consumer: 'laptop' });
    const body = JSON.stringify({ event_id: 'evt_audit', event_type: 'call.answered' });
    const posted = await fetch(`${server.url}/hooks/myoperator`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-myoperator-signature': sign(body, banner.secret) }, body });
    expect(posted.status).toBe(200);
    socket.ack(await socket.next('event'));
    const replay = await fetch(`${server.url}/api/consumers/myoperator/laptop/replay`, { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ ids: ['evt_audit', 'evt_missing'] }) });
    expect(replay.status).toBe(200);
    socket.close();
    await socket.closed;
    expect((await fetch(`${server.url}/api/consumers/myoperator/laptop`, { method: 'DELETE', headers: admin })).status).toBe(204);

    // Developers may not read the log.
    const forbidden = await fetch(`${server.url}/api/audit`, { headers: { authorization: `Bearer ${asha.token}` } });
    expect(forbidden.status).toBe(403);
    expect(((await forbidden.json()) as { error: { code: string } }).error.code).toBe('RELAY_E_ADMIN_REQUIRED');

    await runCliJson(['token', 'revoke', 'asha', '--json', ...store]);
    await runCliJson(['channel', 'remove', 'sales', '--json', ...store]);

    const listed = (await runCliJson(['audit', '--json', ...store])) as AuditView[];
    const cli = { kind: 'cli' };
    const token = { kind: 'token', name: 'admin' };
    expect(listed.map((e) => [e.action, e.target, e.actor])).toEqual([
      ['channel.remove', 'sales', cli],
      ['token.revoke', 'asha', cli],
      ['consumer.delete', 'myoperator/laptop', token],
      ['consumer.replay', 'myoperator/laptop', token],
      ['token.create', 'asha', cli],
      ['channel.rotate-secret', 'sales', cli],
      ['channel.update', 'sales', cli],
      ['channel.add', 'sales', cli],
      ['token.create', 'admin', cli],
      ['channel.add', 'myoperator', cli],
    ]);
    expect(listed[3]?.detail).toEqual({ queued: 1, missing: 1 });
    expect(listed[4]?.detail).toEqual({ role: 'developer', channels: ['sales'] });
    expect(listed[6]?.detail).toEqual({ verify: 'hmac', settings: ['maxBody'] });
    expect(listed[7]?.detail).toEqual({ verify: 'hmac', settings: ['secret'] });
    // Newest first, by the time each was recorded.
    const times = listed.map((e) => Date.parse(e.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);

    const api = await fetch(`${server.url}/api/audit?limit=3`, { headers: admin });
    expect(((await api.json()) as { entries: AuditView[] }).entries).toEqual(listed.slice(0, 3));
    const text = await runCli(['audit', '--limit', '2', ...store]);
    expect(text.stdout).toMatch(/^\S+\s+cli\s+channel\.remove\s+sales\s+eventsDeleted=0$/m);
    expect(text.stdout).toMatch(/^\S+\s+cli\s+token\.revoke\s+asha\s*$/m);

    // The server logged the API's actions at info, with their author. (Its log is the JSON
    // lines; the rest of its output is the first-start banner, which shows the credentials once.)
    const logLines = server.stdout().split('\n').filter((l) => l.startsWith('{'));
    const logged = logLines
      .filter((l) => l.includes('"admin action"'))
      .map((l) => JSON.parse(l) as { level: number; audit: { actor: string; action: string } });
    expect(logged.map((l) => [l.level, l.audit.actor, l.audit.action])).toEqual([
      [30, 'token admin', 'consumer.replay'],
      [30, 'token admin', 'consumer.delete'],
    ]);

    const everything = `${JSON.stringify(listed)}\n${text.stdout}\n${logLines.join('\n')}`;
    for (const secretValue of [secret, rotated.secret, asha.token, banner.adminToken, banner.secret]) expect(everything).not.toContain(secretValue);
    await server.stop();
  });
});
