import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { MAX_MESSAGE_BYTES, PROTOCOL_NAME, WS_PATH } from '@myop-relay/protocol';
import type { FastifyPluginAsync } from 'fastify';
import { WebSocketServer } from 'ws';
import { RelayError } from '../errors.js';
import type { Store, TokenRecord } from '../store/store.js';
import { authenticate } from '../tokens.js';
import type { DeliveryHub } from './hub.js';
import { Session } from './session.js';

/** Dependencies of the WebSocket endpoint. */
export interface SocketPluginOptions {
  store: Store;
  hub: DeliveryHub;
  heartbeatMs: number;
  serverVersion: string;
  /** Where open sessions are kept; passed in so metrics can count them. Default: a set of the plugin's own. */
  sessions?: Set<Session>;
}

/** Answers an upgrade request with a plain HTTP error and closes the socket. */
function refuse(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 404 ? 'Not Found' : 'Bad Request'}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * `GET /ws`: the relay-client WebSocket (protocol in docs/protocol.md). A bad token in the
 * Authorization header is refused before the upgrade, so no event can reach it; without the
 * header the first message must be a hello carrying the token.
 */
export const socketPlugin: FastifyPluginAsync<SocketPluginOptions> = async (app, options) => {
  const { store, hub } = options;
  const sessions = options.sessions ?? new Set<Session>();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    handleProtocols: (protocols) => (protocols.has(PROTOCOL_NAME) ? PROTOCOL_NAME : false),
  });

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    void (async () => {
      const path = (request.url ?? '').split('?')[0];
      if (path !== WS_PATH) return refuse(socket, 404, 'RELAY_E_NOT_FOUND', 'WebSocket connections go to /ws.');
      const offered = (request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
      if (offered.length > 0 && !offered.includes(PROTOCOL_NAME)) {
        return refuse(socket, 400, 'RELAY_E_WS_PROTOCOL_VERSION', `This relay speaks ${PROTOCOL_NAME}; the client offered ${offered.join(', ')}. Upgrade relay-client or relay-server.`);
      }
      let token: TokenRecord | undefined;
      if (request.headers.authorization !== undefined) {
        try {
          token = await authenticate(store, request.headers.authorization);
        } catch (error) {
          const relayError = error instanceof RelayError ? error : new RelayError('RELAY_E_STORE_UNAVAILABLE');
          return refuse(socket, relayError.status, relayError.code === 'RELAY_E_TOKEN_INVALID' ? 'RELAY_E_WS_TOKEN_INVALID' : relayError.code, relayError.message);
        }
      }
      wss.handleUpgrade(request, socket, head, (ws) => {
        const session = new Session(ws, socket, { store, hub, log: app.log, heartbeatMs: options.heartbeatMs, serverVersion: options.serverVersion }, token);
        sessions.add(session);
        ws.on('close', () => sessions.delete(session));
      });
    })().catch((error: unknown) => {
      app.log.error({ err: error }, 'websocket upgrade failed');
      socket.destroy();
    });
  };

  app.server.on('upgrade', onUpgrade);
  app.addHook('preClose', async () => {
    app.server.off('upgrade', onUpgrade);
    hub.close();
    await Promise.all([...sessions].map((session) => session.shutdown()));
    wss.close();
  });
};
