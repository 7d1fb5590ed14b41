import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TestSocket } from '../relay-server/test/ws-client.js';
import { killAllChildren, sign, startRelayServer, tempDir } from './support/processes.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await killAllChildren();
});

const MIB = 1024 * 1024;
/** How long the client stays subscribed without reading. */
const STALLED_MS = 60_000;

/** Resident memory of a process, from /proc, in bytes. */
function residentBytes(pid: number): number {
  const line = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (line?.[1] === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(line[1]) * 1024;
}

/** An event body of exactly `size` bytes. */
function paddedBody(id: string, size: number): string {
  const base = JSON.stringify({ event_id: id, event_type: 'call.answered', pad: '' });
  return base.replace('"pad":""', `"pad":"${'x'.repeat(size - Buffer.byteLength(base))}"`);
}

describe('a relay-client that stops reading', () => {
  it(
    'subscribed with window 1024 to 1 MiB events, costs relay-server less than 96 MB for a minute, and gets no lease twice',
    async () => {
      const dir = tempDir('relay-backpressure-');
      cleanups.push(dir.remove);
      // Leases of one second run out sixty times over the minute; the stall timeout is longer than
      // the minute, so the session stays connected, full and unread, the whole time.
      const server = await startRelayServer({
        dataDir: dir.path,
        args: ['--ack-timeout', '1s', '--send-stall-timeout', '5m', '--heartbeat-interval', '1s', '--rate-limit-channel', '0', '--rate-limit-ip', '0', '--log-level', 'warn'],
      });
      const banner = server.banner;
      if (!banner || server.child.pid === undefined) throw new Error('first start printed no banner');
      const pid = server.child.pid;
      const startRss = residentBytes(pid);

      const socket = new TestSocket(server.url, { token: banner.adminToken });
      cleanups.push(() => socket.close());
      await socket.hello();
      await socket.subscribe({ consumer: 'stuck', window: 1024 });
      const tcp = (socket.ws as unknown as { _socket: Socket })._socket;
      tcp.pause();
      // The client still sends, so the relay hears it alive and keeps the session.
      const pings = setInterval(() => socket.send({ type: 'ping', ts: Date.now() }), 1_000);
      cleanups.push(() => clearInterval(pings));

      let peakRss = startRss;
      const sample = setInterval(() => (peakRss = Math.max(peakRss, residentBytes(pid))), 200);
      cleanups.push(() => clearInterval(sample));
      const stalledUntil = Date.now() + STALLED_MS;
      // 32 MiB: several times what the relay may queue plus what the kernel's socket buffers hold.
      const ids = Array.from({ length: 32 }, (_, i) => `big_${i}`);
      for (const id of ids) {
        const body = paddedBody(id, MIB - 64);
        const res = await fetch(`${server.url}/hooks/myoperator`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-myoperator-signature': sign(body, banner.secret) },
          body,
        });
        expect(res.status).toBe(200);
        await res.arrayBuffer();
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, stalledUntil - Date.now())));
      clearInterval(sample);
      peakRss = Math.max(peakRss, residentBytes(pid));
      expect(peakRss - startRss, `peak RSS ${peakRss} against ${startRss} at start`).toBeLessThan(96 * 1_000_000);

      // The events the relay sent went out once each: no lease that ran out was sent again to
      // the session that had not read the first copy.
      let attempts = 0;
      for (const id of ids) {
        const res = await fetch(`${server.url}/api/events/myoperator/${id}/deliveries`, { headers: { authorization: `Bearer ${banner.adminToken}` } });
        const { attempts: list } = (await res.json()) as { attempts: unknown[] };
        expect(list.length, id).toBeLessThanOrEqual(1);
        attempts += list.length;
      }
      expect(attempts).toBeGreaterThan(0);
      expect(attempts).toBeLessThan(ids.length);
      // And the session is still there: reading again, the client gets its events.
      tcp.resume();
      await expect(socket.next('event', 20_000)).resolves.toMatchObject({ attempt: 1 });
    },
    STALLED_MS + 60_000,
  );
});
