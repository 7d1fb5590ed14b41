// relay-client alone: a stand-in relay in this process feeds a real `relay-client listen` child
// as fast as its window allows, so the client's own CPU per event and RSS can be read without
// relay-server's store in the way.
//
//   npx tsc -b && node bench/client.js
//   BENCH_CLIENT_EVENTS=50000 BENCH_CLIENT_WINDOW=64 node bench/client.js
//   BENCH_CLIENT_NODE_FLAGS=--trace-gc node bench/client.js   # Node flags for the client only; its output passes through
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { decodeClientMessage, encodeMessage, PROTOCOL_NAME } from '../packages/protocol/dist/index.js';
import { startHandler } from './delivery-handler.js';
import { CLIENT_BIN, cpuSeconds, peakRssBytes } from './delivery-processes.js';
import { callAnsweredEvent, CHANNEL, sign, SIGNATURE_HEADER } from './events.js';
import { table, verdict } from './delivery-report.js';
import { numberFromEnv, runBench, secondsFromEnv, wordsFromEnv } from './settings.js';

/** This run's settings, from BENCH_CLIENT_*. */
function settingsFromEnv() {
  return {
    events: numberFromEnv('BENCH_CLIENT_EVENTS', 50_000, { integer: true }),
    window: numberFromEnv('BENCH_CLIENT_WINDOW', 64, { integer: true }),
    timeoutMs: secondsFromEnv('BENCH_CLIENT_TIMEOUT_SECONDS', 120) * 1000,
    nodeFlags: wordsFromEnv('BENCH_CLIENT_NODE_FLAGS'),
  };
}
const SECRET = 'bench-client-secret';

/**
 * relay-client with its hand-written HTTP/1.1 client, before it forwarded through undici, on this
 * bench's defaults (docs/benchmarks.md): the figures the undici client is held to. CPU is
 * compared within 10% on the same machine, so the bound printed is a reminder, not a verdict;
 * the peak RSS limit is absolute.
 */
const HAND_WRITTEN_CPU_MS = '0.062–0.065';
const HAND_WRITTEN_PEAK_MB = 72;
const PEAK_RSS_LIMIT_BYTES = 90e6;

/** The process's resident set now (VmRSS) in bytes. */
function rssBytes(/** @type {number} */ pid) {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : undefined;
}

const mb = (/** @type {number | undefined} */ bytes) => (bytes === undefined ? '–' : (bytes / 1e6).toFixed(1));

/**
 * A WebSocket endpoint that answers hello and subscribe like relay-server, then keeps `window`
 * events of `total` outstanding: each ack releases the next one.
 */
async function startStandInRelay(/** @type {number} */ total, /** @type {number} */ window) {
  const server = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server, handleProtocols: (offered) => (offered.has(PROTOCOL_NAME) ? PROTOCOL_NAME : false) });
  let sent = 0;
  let acked = 0;
  let nacked = 0;
  /** @type {() => void} */
  let onSubscribed = () => {};
  /** @type {() => void} */
  let onDone = () => {};
  const subscribed = new Promise((resolve) => (onSubscribed = () => resolve(undefined)));
  const done = new Promise((resolve) => (onDone = () => resolve(undefined)));
  /** @type {import('ws').WebSocket | undefined} */
  let client;
  let sub = '';

  const sendNext = () => {
    if (client === undefined || sent >= total) return;
    sent += 1;
    const body = callAnsweredEvent(`evt_client_${sent}`);
    const event = {
      type: 'event',
      sub,
      channel: CHANNEL,
      consumer: 'bench',
      seq: sent,
      id: `evt_client_${sent}`,
      eventType: 'call.answered',
      attempt: 1,
      receivedAt: new Date().toISOString(),
      headers: [
        ['Host', 'relay.example.com'],
        ['User-Agent', 'MyOperator-Webhook/2.0'],
        ['Content-Type', 'application/json'],
        ['Content-Length', String(body.length)],
        [SIGNATURE_HEADER, sign(body, SECRET)],
      ],
      synthetic: false,
      replay: false,
      body: Buffer.from(body).toString('base64'),
    };
    client.send(encodeMessage(/** @type {never} */ (event)));
  };

  wss.on('connection', (ws) => {
    client = ws;
    ws.on('message', (data) => {
      const decoded = decodeClientMessage(new Uint8Array(/** @type {Buffer} */ (data)));
      if (!decoded.ok) throw new Error(`bench: the client sent an invalid message: ${decoded.error.message}`);
      const message = decoded.message;
      switch (message.type) {
        case 'hello':
          ws.send(encodeMessage({ type: 'welcome', protocol: 1, session: 'ws_bench', server: 'bench', heartbeatMs: 15_000, maxMessageBytes: 4 * 1024 * 1024 }));
          return;
        case 'subscribe':
          sub = `s-${message.channel}`;
          ws.send(encodeMessage({ type: 'subscribed', ref: message.ref, sub, channel: message.channel, consumer: message.consumer, created: true, pending: 0 }));
          onSubscribed();
          return;
        case 'ping':
          ws.send(encodeMessage({ type: 'pong', ts: message.ts }));
          return;
        case 'ack':
        case 'nack':
          if (message.type === 'ack') acked += 1;
          else nacked += 1;
          if (acked + nacked >= total) onDone();
          else sendNext();
          return;
        default:
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${port}`,
    subscribed,
    done,
    /** Sends the first window of events. */
    start() {
      for (let i = 0; i < window; i++) sendNext();
    },
    counts: () => ({ acked, nacked }),
    close() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      server.closeAllConnections();
      server.close();
    },
  };
}

/** `relay-client listen --quiet` through its executable, with BENCH_CLIENT_NODE_FLAGS; its output passes through. */
function startClient(/** @type {ReturnType<typeof settingsFromEnv>} */ settings, /** @type {string} */ relay, /** @type {string} */ forwardTo, /** @type {string} */ home) {
  const args = [...settings.nodeFlags, CLIENT_BIN, 'listen', '--relay', relay, '--token', 'mrt_bench', '--consumer', 'bench', '--forward-to', forwardTo];
  args.push('--window', String(settings.window), '--quiet');
  /** @type {NodeJS.ProcessEnv} */
  const env = { ...process.env, HOME: home };
  for (const name of Object.keys(env)) if (name.startsWith('RELAY_')) delete env[name];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'], env });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    pid: /** @type {number} */ (child.pid),
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function main() {
  const settings = settingsFromEnv();
  const { events, timeoutMs } = settings;
  const handler = await startHandler();
  const relay = await startStandInRelay(events, settings.window);
  const home = mkdtempSync(join(tmpdir(), 'bench-client-home-'));
  const client = startClient(settings, relay.url, handler.url, home);
  try {
    let timer;
    const timedOut = new Promise((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`bench: not done within ${timeoutMs} ms`)), timeoutMs);
      client.exited.then((code) => reject(new Error(`bench: relay-client exited early (code ${code})`)));
    });
    await Promise.race([relay.subscribed, timedOut]);
    const startupRss = rssBytes(client.pid);
    const startupPeak = peakRssBytes(client.pid);
    const cpuBefore = cpuSeconds(client.pid) ?? 0;
    const started = process.hrtime.bigint();
    relay.start();
    await Promise.race([relay.done, timedOut]);
    clearTimeout(timer);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = (cpuSeconds(client.pid) ?? 0) - cpuBefore;
    const peak = peakRssBytes(client.pid);
    const { acked, nacked } = relay.counts();
    process.stdout.write(
      `relay-client alone: ${events.toLocaleString('en-US')} events of ${callAnsweredEvent('evt_client_1').length} bytes, --window ${settings.window}, ` +
        `stand-in relay and handler in this process (node ${process.version})\n\n` +
        table(
          ['figure', 'value', 'before undici', 'target'],
          [
            ['events/s (acked + nacked per second)', Math.round((acked + nacked) / seconds).toLocaleString('en-US'), '', ''],
            ['nacked', String(nacked), '', ''],
            ['relay-client cores used', (cpu / seconds).toFixed(2), '', ''],
            ['relay-client CPU per event, ms', ((cpu * 1000) / (acked + nacked)).toFixed(3), HAND_WRITTEN_CPU_MS, '≤ 1.1 × before, on one machine'],
            ['relay-client RSS after subscribing, MB', mb(startupRss), '', ''],
            ['relay-client peak RSS at start-up (VmHWM), MB', mb(startupPeak), '', ''],
            ['relay-client peak RSS after the run (VmHWM), MB', mb(peak), String(HAND_WRITTEN_PEAK_MB), verdict(peak === undefined ? undefined : peak / 1e6, '<=', PEAK_RSS_LIMIT_BYTES / 1e6, 'MB')],
          ],
        ) +
        '\n',
    );
  } finally {
    await client.stop();
    relay.close();
    await handler.close();
    rmSync(home, { recursive: true, force: true });
  }
}

await runBench(main);
