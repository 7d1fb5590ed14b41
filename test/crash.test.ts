import Database from 'better-sqlite3';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killAllChildren, sign, startRelayServer, tempDir, type RelayServerProcess } from './support/processes.js';

/**
 * The durability promise, end to end: an event that got a 2xx survives the relay being
 * SIGKILLed at any moment, with its exact bytes, and seqs stay unique across restarts.
 */

const CHANNEL = 'myoperator';
const SENDERS = 8;
const KILLS = 5;
const MAX_EVENTS = 3_000;
/** Fresh events sent after the last restart, so ingest is shown to work on the recovered store. */
const FINAL_NEW_EVENTS = 100;

/** Small deterministic PRNG (mulberry32), so a failing run can be replayed with its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface WebhookEvent {
  id: string;
  body: Buffer;
}

/** A v2-style MyOperator call event of about 300 bytes; the layout varies so bytes, not JSON, are compared. */
function makeEvent(runId: string, n: number, random: () => number): WebhookEvent {
  const id = `evt_${runId}_${String(n).padStart(5, '0')}`;
  const payload = {
    event_id: id,
    event_type: n % 3 === 0 ? 'call.missed' : 'call.completed',
    version: 2,
    occurred_at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
    data: {
      call_id: `c${Math.floor(random() * 1e12)}`,
      caller: `+9198${String(Math.floor(random() * 1e8)).padStart(8, '0')}`,
      agent: { id: n % 17, name: n % 2 === 0 ? 'Asha Rao' : 'अमित कुमार' },
      direction: 'inbound',
      duration_sec: Math.floor(random() * 600),
      recording_url: `https://recordings.example.test/${id}.mp3`,
    },
  };
  const text = n % 2 === 0 ? JSON.stringify(payload) : JSON.stringify(payload, null, 1);
  return { id, body: Buffer.from(text, 'utf8') };
}

interface IngestAnswer {
  accepted?: boolean;
  channel?: string;
  id?: string;
  seq?: number;
  duplicate?: boolean;
  error?: { code: string };
}

interface HttpReply {
  status: number;
  body: string;
}

function post(agent: Agent, baseUrl: string, event: WebhookEvent, secret: string): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}/hooks/${CHANNEL}`, {
      method: 'POST',
      agent,
      headers: {
        'content-type': 'application/json',
        'content-length': String(event.body.length),
        'x-myoperator-signature': sign(event.body, secret),
      },
    });
    req.setTimeout(15_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.end(event.body);
  });
}

interface EventSummary {
  id: string;
  seq: number;
  channel: string;
}

async function listAllEvents(baseUrl: string, token: string): Promise<EventSummary[]> {
  const all: EventSummary[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const query = new URLSearchParams({ channel: CHANNEL, limit: '1000', ...(cursor ? { cursor } : {}) });
    const res = await fetch(`${baseUrl}/api/events?${query.toString()}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { events: EventSummary[]; nextCursor: string | null };
    all.push(...body.events);
    cursor = body.nextCursor;
    if (!cursor) return all;
  }
  throw new Error('more than 100 pages of events; the listing does not terminate');
}

describe('relay-server survives SIGKILL without losing acknowledged events', () => {
  const dirs: Array<() => void> = [];
  afterEach(async () => {
    await killAllChildren();
    for (const remove of dirs.splice(0)) remove();
  });

  it('keeps every acknowledged event, byte for byte, across 5 kill/restart cycles', { timeout: 120_000 }, async () => {
    const seed = Number(process.env['CRASH_TEST_SEED'] ?? Date.now() % 1_000_000);
    const random = prng(seed);
    const runId = seed.toString(36);
    const dir = tempDir('relay-crash-');
    dirs.push(dir.remove);
    const serverArgs = ['--rate-limit-channel', '0', '--rate-limit-ip', '0', '--log-level', 'warn'];

    const sent = new Map<string, WebhookEvent>();
    /** Every 2xx answer per event id (a retry of a committed event is acknowledged again, as a duplicate). */
    const acks = new Map<string, IngestAnswer[]>();
    const unexpected: string[] = [];
    const retries: WebhookEvent[] = [];
    let created = 0;
    let networkFailures = 0;
    let kills = 0;
    let secret = '';
    let adminToken = '';

    const takeEvent = (allowNew: boolean): { event: WebhookEvent; fresh: boolean } | undefined => {
      const retry = retries.shift();
      if (retry) return { event: retry, fresh: false };
      if (!allowNew || created >= MAX_EVENTS) return undefined;
      const event = makeEvent(runId, created++, random);
      sent.set(event.id, event);
      return { event, fresh: true };
    };

    /**
     * One life of the server: senders run until `killAfterAcks` acks arrive (then the child is
     * SIGKILLed) or, when `newEventBudget` is set, until the retries and that many new events are done.
     */
    const runPhase = async (server: RelayServerProcess, killAfterAcks: number | undefined, newEventBudget: number): Promise<void> => {
      const agent = new Agent({ keepAlive: true, maxSockets: SENDERS });
      let phaseAcks = 0;
      let newSent = 0;
      /** Set once the server is gone (our SIGKILL, or a failure the test then reports). */
      let killed = false;
      const sender = async (): Promise<void> => {
        while (!killed) {
          const next = takeEvent(newSent < newEventBudget);
          if (!next) return;
          const { event } = next;
          if (next.fresh) newSent++;
          let reply: HttpReply;
          try {
            reply = await post(agent, server.url, event, secret);
          } catch (error) {
            // Not acknowledged, so MyOperator would retry it after the restart.
            retries.push(event);
            if (killed) {
              networkFailures++;
            } else {
              unexpected.push(`${event.id}: request failed while the server was meant to be up: ${String(error)}`);
              killed = true;
            }
            continue;
          }
          if (reply.status < 200 || reply.status > 299) {
            unexpected.push(`${event.id}: HTTP ${reply.status} ${reply.body}`);
            killed = true;
            continue;
          }
          const answer = JSON.parse(reply.body) as IngestAnswer;
          acks.set(event.id, [...(acks.get(event.id) ?? []), answer]);
          phaseAcks++;
          if (killAfterAcks !== undefined && phaseAcks >= killAfterAcks && !killed) {
            killed = true;
            server.child.kill('SIGKILL');
            kills++;
          }
        }
      };
      await Promise.all(Array.from({ length: SENDERS }, () => sender()));
      agent.destroy();
    };

    let server = await startRelayServer({ dataDir: dir.path, args: serverArgs });
    expect(server.banner, 'first start prints the signing secret and admin token').toBeDefined();
    secret = server.banner?.secret ?? '';
    adminToken = server.banner?.adminToken ?? '';

    for (let cycle = 0; cycle < KILLS; cycle++) {
      const killAfterAcks = 100 + Math.floor(random() * 301);
      await runPhase(server, killAfterAcks, MAX_EVENTS);
      const status = await server.kill();
      expect(status.signal, `cycle ${cycle}: the server was SIGKILLed (seed ${seed})`).toBe('SIGKILL');
      server = await startRelayServer({ dataDir: dir.path, args: serverArgs });
      expect(server.banner, 'a restart is not a first start').toBeUndefined();
    }
    expect(unexpected, `nothing but the SIGKILLs disturbed ingest (seed ${seed})`).toEqual([]);
    expect(kills, `every cycle ended in a SIGKILL (seed ${seed})`).toBe(KILLS);

    // After the last restart: the retries MyOperator would make, plus fresh events.
    await runPhase(server, undefined, FINAL_NEW_EVENTS);
    expect(unexpected, `no non-2xx answers (seed ${seed})`).toEqual([]);
    expect(retries).toEqual([]);

    const ackedIds = [...acks.keys()];
    expect(ackedIds.length, 'every event sent was eventually acknowledged').toBe(sent.size);
    for (const [id, answers] of acks) {
      for (const answer of answers) {
        expect(answer).toMatchObject({ accepted: true, channel: CHANNEL, id });
        expect(answer.seq, `all acks of ${id} report one seq`).toBe(answers[0]?.seq);
      }
    }

    const listed = await listAllEvents(server.url, adminToken);
    const listedSeq = new Map(listed.map((e) => [e.id, e.seq]));
    expect(new Set(listed.map((e) => e.seq)).size, 'seqs are unique').toBe(listed.length);
    expect(listedSeq.size, 'event ids are unique').toBe(listed.length);
    for (const [id, answers] of acks) {
      expect(listedSeq.get(id), `acknowledged event ${id} is listed with the seq it was acknowledged with (seed ${seed})`).toBe(answers[0]?.seq);
    }
    for (const event of listed) expect(sent.has(event.id), `${event.id} was sent by this test`).toBe(true);

    const stopped = await server.stop();
    expect(stopped).toEqual({ code: 0, signal: null });

    const db = new Database(join(dir.path, 'relay.db'), { fileMustExist: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const select = db.prepare<[string, string], { body: Buffer }>('SELECT body FROM events WHERE channel = ? AND event_id = ?');
      for (const id of ackedIds) {
        const row = select.get(CHANNEL, id);
        expect(row, `row for acknowledged event ${id}`).toBeDefined();
        expect(Buffer.compare(row?.body ?? Buffer.alloc(0), sent.get(id)?.body ?? Buffer.alloc(1)), `bytes of ${id}`).toBe(0);
      }
      const count = db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM events WHERE channel = ?').get(CHANNEL);
      expect(count?.n).toBe(listed.length);
    } finally {
      db.close();
    }

    const duplicates = [...acks.values()].filter((answers) => answers.some((a) => a.duplicate === true)).length;
    console.info(
      `crash test seed ${seed}: ${sent.size} events, ${KILLS} SIGKILLs, ${networkFailures} requests cut by a kill, ` +
        `${duplicates} retries answered as duplicates, ${listed.length} events stored`,
    );
  });
});
