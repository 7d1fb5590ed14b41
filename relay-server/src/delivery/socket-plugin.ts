import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { MAX_MESSAGE_BYTES, PROTOCOL_NAME, ProtocolError, WS_PATH } from '@myop-relay/protocol';
import type { FastifyPluginAsync } from 'fastify';
import { WebSocketServer } from 'ws';
import { answerOnSocket, type SocketAnswer } from '../edge/socket-answer.js';
import { RelayError } from '../errors.js';
import type { Store, TokenRecord } from '../store/store.js';
import { authenticate } from '../tokens.js';
import type { DeliveryHub } from './hub.js';
import { Session, type SessionLimits } from './session.js';

/** Dependencies of the WebSocket endpoint. */
export interface SocketPluginOptions {
  store: Store;
  hub: DeliveryHub;
  heartbeatMs: number;
  serverVersion: string;
  limits: SessionLimits;
  /** Where open sessions are kept; passed in so metrics can count them. Default: a set of the plugin's own. */
  sessions?: Set<Session>;
}

/** What an upgrade request is let through with, or what it is refused with. */
type Admission = { token: TokenRecord | undefined } | { refusal: SocketAnswer };

function refusal(error: RelayError, headers?: Record<string, string>): { refusal: SocketAnswer } {
  return { refusal: { status: error.status, body: error.toBody(), ...(headers ? { headers } : {}) } };
}

/** Refusals the WebSocket protocol's catalogue names, answered over HTTP before any upgrade. */
function protocolRefusal(status: number, error: ProtocolError): { refusal: SocketAnswer } {
  return { refusal: { status, body: { error: { code: error.code, message: error.message } } } };
}

/** Whether the request asks for WebSocket (the header may list several protocols). */
function wantsWebSocket(request: IncomingMessage): boolean {
  return (request.headers.upgrade ?? '').split(',').some((p) => p.trim().toLowerCase() === 'websocket');
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

  let closing = false;

  /** Decides an upgrade request before ws sees it; only the token lookup waits. */
  async function admit(request: IncomingMessage): Promise<Admission> {
    if (closing) return refusal(new RelayError('RELAY_E_SHUTTING_DOWN'));
    const path = (request.url ?? '').split('?')[0];
    if (path !== WS_PATH || !wantsWebSocket(request)) return refusal(new RelayError('RELAY_E_UPGRADE_UNSUPPORTED'));
    if (request.method !== 'GET') return refusal(new RelayError('RELAY_E_METHOD_NOT_ALLOWED', '(/ws takes GET)'), { allow: 'GET' });
    const offered = (request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
    if (offered.length > 0 && !offered.includes(PROTOCOL_NAME)) {
      const named = JSON.stringify(offered.join(', ').slice(0, 64));
      return protocolRefusal(400, new ProtocolError('RELAY_E_WS_PROTOCOL_VERSION', `this relay speaks ${PROTOCOL_NAME}; the client offered ${named}`));
    }
    if (request.headers.authorization === undefined) return { token: undefined };
    try {
      return { token: await authenticate(store, request.headers.authorization) };
    } catch (error) {
      if (error instanceof RelayError && error.code === 'RELAY_E_TOKEN_INVALID') return protocolRefusal(error.status, new ProtocolError('RELAY_E_WS_TOKEN_INVALID'));
      if (error instanceof RelayError) return refusal(error);
      app.log.error({ err: error }, 'websocket token lookup failed');
      return refusal(new RelayError('RELAY_E_STORE_UNAVAILABLE', undefined, { cause: error }));
    }
  }

  // Node hands the socket over without its own error handling; until ws takes it, a reset
  // (before, during or after the token lookup) must land here rather than crash the process.
  const onSocketError = (error: Error): void => {
    app.log.debug({ code: (error as NodeJS.ErrnoException).code }, 'websocket upgrade socket error');
  };

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', onSocketError);
    void admit(request).then((admission) => {
      if ('refusal' in admission) return answerOnSocket(socket, admission.refusal, request);
      if (socket.destroyed) return;
      if (closing) return answerOnSocket(socket, refusal(new RelayError('RELAY_E_SHUTTING_DOWN')).refusal, request);
      socket.off('error', onSocketError);
      wss.handleUpgrade(request, socket, head, (ws) => {
        const session = new Session(
          ws,
          socket,
          { store, hub, log: app.log, heartbeatMs: options.heartbeatMs, serverVersion: options.serverVersion, limits: options.limits },
          admission.token,
        );
        sessions.add(session);
        ws.on('close', () => sessions.delete(session));
      });
    }).catch((error: unknown) => {
      app.log.error({ err: error }, 'websocket upgrade failed');
      socket.destroy();
    });
  };

  // The handshake checks ws makes itself (key, version, extensions) are answered from the catalogue too.
  wss.on('wsClientError', (error: Error, socket: Duplex, request: IncomingMessage) => {
    answerOnSocket(socket, { ...refusal(new RelayError('RELAY_E_UPGRADE_INVALID', `(${error.message})`)).refusal, headers: { 'sec-websocket-version': '13' } }, request);
  });

  app.server.on('upgrade', onUpgrade);
  app.addHook('preClose', async () => {
    closing = true;
    app.server.off('upgrade', onUpgrade);
    hub.close();
    await Promise.all([...sessions].map((session) => session.shutdown()));
    wss.close();
  });
};
