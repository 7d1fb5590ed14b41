import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { CLIENT_CLI, REPO_ROOT, childEnv, runCli, spawnCli, withTimeout, type CliResult, type ExitStatus, type RelayChild, type Runtime } from './processes.js';

/** A port that was free a moment ago, for servers that must come back on the same port. */
export { freePort } from '../../relay-client/test/support/http-target.js';

/** One request as the local handler received it. */
export interface ReceivedRequest {
  method: string;
  url: string;
  /** Header pairs in received order and case. */
  headers: [string, string][];
  body: Buffer;
  /** The status the handler answered with. */
  status: number;
}

/** Chooses the status for the n-th request (0-based); a promise holds the answer until it settles. Default: 200. */
export type HandlerPolicy = (request: ReceivedRequest, index: number) => number | Promise<number>;

/** Event ids of the requests answered with a 2xx. */
export function deliveredIds(requests: readonly ReceivedRequest[]): string[] {
  return requests.filter((r) => r.status >= 200 && r.status < 300).map((r) => LocalHandler.header(r, 'X-Relay-Event-Id') ?? '');
}

/**
 * The developer's local webhook handler: a real HTTP server that records every request and
 * answers with the status its policy picks. It can stop and come back on the same port.
 */
export class LocalHandler {
  readonly requests: ReceivedRequest[] = [];
  private server: Server | undefined;
  private waiters: (() => void)[] = [];
  port = 0;
  /** Runs when a request arrived, before it is answered (e.g. to stop the client at that moment). */
  onRequest: ((request: ReceivedRequest) => void) | undefined;

  constructor(private policy: HandlerPolicy = () => 200) {}

  setPolicy(policy: HandlerPolicy): void {
    this.policy = policy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/webhooks/myoperator?source=relay`;
  }

  async start(port = this.port): Promise<void> {
    const server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const headers: [string, string][] = [];
        for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i] ?? '', req.rawHeaders[i + 1] ?? '']);
        const request: ReceivedRequest = { method: req.method ?? '', url: req.url ?? '', headers, body: Buffer.concat(chunks), status: 0 };
        const index = this.requests.length;
        this.requests.push(request);
        this.onRequest?.(request);
        request.status = await this.policy(request, index);
        res.statusCode = request.status;
        res.end('ok');
        for (const wake of this.waiters.splice(0)) wake();
      });
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  }

  /** Value of a header of a received request, by case-insensitive name. */
  static header(request: ReceivedRequest, name: string): string | undefined {
    return request.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
  }

  /** Resolves once `accept` holds for the requests received so far. */
  async until(accept: (requests: ReceivedRequest[]) => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    const wait = (async () => {
      while (!accept(this.requests)) await new Promise<void>((resolve) => this.waiters.push(resolve));
    })();
    await withTimeout(wait, timeoutMs, what);
  }
}

/** A running `relay-client listen` child. */
export interface ClientProcess {
  child: RelayChild;
  exited: Promise<ExitStatus>;
  stdout(): string;
  stderr(): string;
  /** SIGTERM, bounded wait. */
  stop(): Promise<ExitStatus>;
  kill(signal?: NodeJS.Signals): Promise<ExitStatus>;
  /**
   * Resolves with the first line of `stream` (already printed or still to come) matching
   * `pattern`; rejects if the process exits first or after `timeoutMs` (default 30 s).
   */
  line(pattern: RegExp, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<string>;
}

/**
 * Spawns `relay-client <args>` (RELAY_* variables of this process are not passed on): the
 * repository's CLI, or `script` (with runtime `exec`, an installed `relay-client`).
 */
export function startClient(args: readonly string[], env: Record<string, string> = {}, runtime: Runtime = 'node', script: string = CLIENT_CLI): ClientProcess {
  const { child, exited } = spawnCli(args, childEnv({ NO_COLOR: '1', ...env }), REPO_ROOT, script, runtime);
  let stdout = '';
  let stderr = '';
  const wakers: (() => void)[] = [];
  const wake = (): void => {
    for (const w of wakers.splice(0)) w();
  };
  createInterface({ input: child.stdout }).on('line', (line) => {
    stdout += `${line}\n`;
    wake();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    wake();
  });
  let ended = false;
  void exited.then(
    () => {
      ended = true;
      wake();
    },
    () => undefined,
  );
  const stopWith = async (signal: NodeJS.Signals): Promise<ExitStatus> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return withTimeout(exited, 20_000, `relay-client to exit after ${signal}`);
  };
  const line = async (pattern: RegExp, stream: 'stdout' | 'stderr' = 'stdout', timeoutMs = 30_000): Promise<string> => {
    const find = (): string | undefined => (stream === 'stdout' ? stdout : stderr).split('\n').find((l) => pattern.test(l));
    const wait = (async () => {
      for (;;) {
        const found = find();
        if (found !== undefined) return found;
        if (ended) throw new Error(`relay-client ${args.join(' ')} exited before printing ${String(pattern)} on ${stream}\nstdout: ${stdout}\nstderr: ${stderr}`);
        await new Promise<void>((resolve) => wakers.push(resolve));
      }
    })();
    return withTimeout(wait, timeoutMs, `${String(pattern)} on relay-client's ${stream}`);
  };
  return { child, exited, stdout: () => stdout, stderr: () => stderr, stop: () => stopWith('SIGTERM'), kill: (signal = 'SIGKILL') => stopWith(signal), line };
}

/**
 * Runs `relay-client <args>` to completion and returns its exit status and output. RELAY_*
 * variables of this process are not passed on; `options.env` adds variables (pass
 * XDG_CONFIG_HOME to keep a developer's client.json out of the run).
 */
export function runClient(args: readonly string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  return runCli(args, { ...options, env: { NO_COLOR: '1', ...options.env }, script: CLIENT_CLI });
}

/** Resolves once the relay reports `sessions` connected sessions for the consumer. */
export async function consumerConnected(relayUrl: string, token: string, channel: string, consumer: string, sessions = 1, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${relayUrl}/api/consumers?channel=${encodeURIComponent(channel)}`, { headers: { authorization: `Bearer ${token}` } });
    if (res.ok) {
      const { consumers } = (await res.json()) as { consumers: { name: string; connectedSessions: number }[] };
      if ((consumers.find((c) => c.name === consumer)?.connectedSessions ?? 0) >= sessions) return;
    }
    if (Date.now() > deadline) throw new Error(`consumer ${consumer} did not connect ${sessions} session(s) within ${timeoutMs} ms`);
    // The relay exposes no push for this; a short bounded poll of its API stands in.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
