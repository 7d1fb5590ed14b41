import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  decodeClientMessage,
  encodeMessage,
  PROTOCOL_NAME,
  type ClientMessage,
  type EventMessage,
  type ServerMessage,
  type SubscribeMessage,
  type WelcomeMessage,
} from '@myop-relay/protocol';

type ClientMessageOf<T extends ClientMessage['type']> = Extract<ClientMessage, { type: T }>;

/** One WebSocket connection the fake relay accepted. */
export interface RelayConnection {
  ws: WebSocket;
  /** Headers of the upgrade request. */
  headers: IncomingHttpHeaders;
  /** Subprotocols the client offered. */
  offered: string[];
  /** Every message the client sent, decoded with the protocol's strict decoder. */
  messages: ClientMessage[];
  /** Messages the strict decoder refused (a client bug). */
  invalid: string[];
  /** Resolves with the first message of `type` matching `matches`, counting those already received. */
  waitFor<T extends ClientMessage['type']>(type: T, matches?: (m: ClientMessageOf<T>) => boolean): Promise<ClientMessageOf<T>>;
  send(message: ServerMessage | string): void;
  /** How the connection closed, from the relay's side. */
  closed: Promise<{ code: number; reason: string }>;
}

/** Settings of {@link startFakeRelay}. */
export interface FakeRelayOptions {
  /** Answer hello with this welcome (merged over a default), or not at all with `false`. */
  welcome?: Partial<WelcomeMessage> | false;
  /** Answer each subscribe: default `subscribed` with sub `s-<channel>` and pending 0. */
  onSubscribe?: (message: SubscribeMessage, connection: RelayConnection) => ServerMessage | undefined;
  /** Refuse the upgrade with this HTTP status. */
  refuseUpgrade?: number;
  /** Select the myop-relay.v1 subprotocol (default true). */
  selectProtocol?: boolean;
}

/**
 * A real WebSocket server on 127.0.0.1 speaking just enough of the relay side of the protocol
 * for client tests; the real relay-server has its own end-to-end tests with the client.
 */
export interface FakeRelay {
  /** `http://127.0.0.1:<port>`, the value of `--relay`. */
  url: string;
  connections: RelayConnection[];
  /** Resolves with the `n`-th connection (1-based), counting those already made. */
  connection(n: number): Promise<RelayConnection>;
  close(): Promise<void>;
}

export function defaultSubscribed(message: SubscribeMessage): ServerMessage {
  return { type: 'subscribed', ref: message.ref, sub: `s-${message.channel}`, channel: message.channel, consumer: message.consumer, created: true, pending: 0 };
}

export async function startFakeRelay(options: FakeRelayOptions = {}): Promise<FakeRelay> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(404).end();
  });
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => (options.selectProtocol === false ? false : protocols.has(PROTOCOL_NAME) ? PROTOCOL_NAME : false),
  });
  const connections: RelayConnection[] = [];
  const connectionWaiters: { n: number; resolve: (c: RelayConnection) => void }[] = [];

  server.on('upgrade', (req, socket, head) => {
    if (options.refuseUpgrade !== undefined) {
      socket.end(`HTTP/1.1 ${options.refuseUpgrade} Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const messages: ClientMessage[] = [];
      const invalid: string[] = [];
      const waiters: { type: string; matches: (m: never) => boolean; resolve: (m: never) => void }[] = [];
      const closed = new Promise<{ code: number; reason: string }>((resolve) =>
        ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })),
      );
      const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
      const connection: RelayConnection = {
        ws,
        headers: req.headers,
        offered,
        messages,
        invalid,
        closed,
        waitFor(type, matches = () => true) {
          const seen = messages.find((m) => m.type === type && matches(m as never));
          if (seen !== undefined) return Promise.resolve(seen as never);
          return new Promise((resolve) => waiters.push({ type, matches: matches as (m: never) => boolean, resolve: resolve as (m: never) => void }));
        },
        send(message) {
          ws.send(typeof message === 'string' ? message : encodeMessage(message));
        },
      };
      ws.on('message', (data: Buffer) => {
        const decoded = decodeClientMessage(new Uint8Array(data));
        if (!decoded.ok) {
          invalid.push(decoded.error.message);
          return;
        }
        const message = decoded.message;
        messages.push(message);
        for (const w of waiters.splice(0)) {
          if (w.type === message.type && w.matches(message as never)) w.resolve(message as never);
          else waiters.push(w);
        }
        if (message.type === 'hello' && options.welcome !== false) {
          connection.send({ type: 'welcome', protocol: 1, session: `ws_${connections.length}`, server: '0.0.0-test', heartbeatMs: 15_000, maxMessageBytes: 4 * 1024 * 1024, ...options.welcome });
        } else if (message.type === 'subscribe') {
          const reply = (options.onSubscribe ?? defaultSubscribed)(message, connection);
          if (reply !== undefined) connection.send(reply);
        } else if (message.type === 'ping') {
          connection.send({ type: 'pong', ts: message.ts });
        }
      });
      connections.push(connection);
      for (const w of connectionWaiters.filter((w) => w.n === connections.length)) w.resolve(connection);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections,
    connection(n) {
      const seen = connections[n - 1];
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve) => connectionWaiters.push({ n, resolve }));
    },
    async close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

let eventCounter = 0;

/** An `event` message for `sub` carrying `body` and `headers`. */
export function eventMessage(fields: Partial<Omit<EventMessage, 'body'>> & { body?: Buffer | string } = {}): EventMessage {
  eventCounter++;
  const { body = `{"id":"evt_${eventCounter}","type":"call.answered"}`, ...rest } = fields;
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return {
    type: 'event',
    sub: 's-myoperator',
    channel: 'myoperator',
    consumer: 'tester',
    seq: eventCounter,
    id: `evt_${eventCounter}`,
    eventType: 'call.answered',
    attempt: 1,
    receivedAt: '2025-08-26T10:03:59.000Z',
    headers: [['Content-Type', 'application/json']],
    synthetic: false,
    replay: false,
    ...rest,
    body: Buffer.from(bytes).toString('base64'),
  };
}
