import { once } from 'node:events';
import {
  PROTOCOL_NAME,
  decodeServerMessage,
  encodeMessage,
  type ClientMessage,
  type EventMessage,
  type ServerMessage,
} from '@myop-relay/protocol';
import WebSocket from 'ws';

/** A bare protocol client for server tests: it sends what it is told and queues what arrives. */
export class TestSocket {
  readonly ws: WebSocket;
  private readonly inbox: ServerMessage[] = [];
  private waiters: (() => void)[] = [];
  /** Close code and reason once the server closed the connection. */
  closed: Promise<{ code: number; reason: string }>;
  private readonly open: Promise<unknown>;

  constructor(url: string, options: { token?: string; protocols?: string[] } = {}) {
    this.ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, options.protocols ?? [PROTOCOL_NAME], {
      headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
    });
    this.ws.on('message', (data: Buffer) => {
      const decoded = decodeServerMessage(data.toString('utf8'));
      if (!decoded.ok) throw new Error(`server sent an invalid message: ${decoded.error.message}`);
      // Heartbeats are answered here so tests see only what they care about.
      if (decoded.message.type === 'ping') this.send({ type: 'pong', ts: decoded.message.ts });
      else this.inbox.push(decoded.message);
      for (const wake of this.waiters.splice(0)) wake();
    });
    // Refused upgrades and aborted handshakes surface as 'error'; tests look at 'close' instead.
    this.ws.on('error', () => undefined);
    this.open = once(this.ws, 'open');
    // Tests that never wait for the open (refused upgrades) must not see an unhandled rejection.
    this.open.catch(() => undefined);
    this.closed = new Promise((resolve) => this.ws.on('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
    this.closed.then(() => {
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  opened(): Promise<unknown> {
    return this.open;
  }

  send(message: ClientMessage): void {
    this.ws.send(encodeMessage(message));
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** Resolves with the next message of the given type (earlier messages of other types are kept). */
  next<T extends ServerMessage['type']>(type: T, timeoutMs = 10_000): Promise<Extract<ServerMessage, { type: T }>> {
    return this.nextWhere((m): m is Extract<ServerMessage, { type: T }> => m.type === type, type, timeoutMs);
  }

  /** Resolves with the next message matching `accept`, taking it out of the inbox. */
  async nextWhere<M extends ServerMessage>(accept: (m: ServerMessage) => m is M, what: string, timeoutMs = 10_000): Promise<M> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.inbox.findIndex(accept);
      if (index >= 0) return this.inbox.splice(index, 1)[0] as M;
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`connection closed while waiting for ${what}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no ${what} message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Messages of a type received so far, without waiting. */
  drain<T extends ServerMessage['type']>(type: T): Extract<ServerMessage, { type: T }>[] {
    const taken = this.inbox.filter((m) => m.type === type) as Extract<ServerMessage, { type: T }>[];
    for (const m of taken) this.inbox.splice(this.inbox.indexOf(m), 1);
    return taken;
  }

  /** hello (+ token when it was not sent as a header) and wait for welcome. */
  async hello(token?: string): Promise<void> {
    await this.opened();
    this.send({ type: 'hello', protocol: 1, agent: 'test', ...(token ? { token } : {}) });
    await this.next('welcome');
  }

  async subscribe(fields: { channel?: string; consumer: string; events?: string[]; since?: string; window?: number; ordered?: boolean; maxAttempts?: number }): Promise<string> {
    const ref = `r${Math.random().toString(36).slice(2)}`;
    this.send({ type: 'subscribe', ref, channel: fields.channel ?? 'myoperator', ...fields });
    type Reply = Extract<ServerMessage, { type: 'subscribed' | 'error' }>;
    const reply = await this.nextWhere((m): m is Reply => (m.type === 'subscribed' || m.type === 'error') && m.ref === ref, 'subscribe reply');
    if (reply.type === 'error') throw new Error(reply.code);
    return reply.sub;
  }

  ack(event: EventMessage): void {
    this.send({ type: 'ack', sub: event.sub, seq: event.seq, attempt: event.attempt, status: 200, latencyMs: 1 });
  }

  nack(event: EventMessage, status = 500): void {
    this.send({ type: 'nack', sub: event.sub, seq: event.seq, attempt: event.attempt, status, latencyMs: 1 });
  }

  close(): void {
    this.ws.close();
  }
}

/** The event's body as text. */
export function bodyText(event: EventMessage): string {
  return Buffer.from(event.body, 'base64').toString('utf8');
}
