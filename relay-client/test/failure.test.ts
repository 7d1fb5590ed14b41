import { describe, expect, it } from 'vitest';
import { ProtocolError } from '@myop-relay/protocol';
import { Backoff } from '../src/backoff.js';
import { CLIENT_ERRORS } from '../src/errors.js';
import { classifyFailure, failureError, type ConnectionFacts } from '../src/failure.js';

const url = 'wss://relay.example.com/ws';
const facts = (more: Partial<ConnectionFacts>): ConnectionFacts => ({ url, everConnected: false, ...more });

describe('classifyFailure', () => {
  const cases: [string, Partial<ConnectionFacts>, string, boolean][] = [
    ['HTTP 401 at the upgrade', { socket: { kind: 'http-status', status: 401 }, closeCode: 1006 }, 'token-rejected', true],
    ['HTTP 403 at the upgrade', { socket: { kind: 'http-status', status: 403 } }, 'token-rejected', true],
    ['close 4101', { closeCode: 4101 }, 'token-rejected', true],
    ['a fatal error message whose close frame was lost', { serverError: 'RELAY_E_WS_TOKEN_INVALID', closeCode: 1006 }, 'token-rejected', true],
    ['close 4006', { closeCode: 4006 }, 'protocol-version', true],
    ['no subprotocol selected', { socket: { kind: 'subprotocol', message: 'Server sent no subprotocol' } }, 'protocol-version', true],
    ['a welcome of another version', { local: { kind: 'protocol', error: new ProtocolError('RELAY_E_WS_PROTOCOL_VERSION', 'v2') } }, 'protocol-version', true],
    ['close 4001 (this client sent something invalid)', { closeCode: 4001 }, 'protocol-error', true],
    ['HTTP 404 at the upgrade', { socket: { kind: 'http-status', status: 404 } }, 'relay-refused', true],
    ['HTTP 502 from a proxy', { socket: { kind: 'http-status', status: 502 } }, 'unavailable', false],
    ['ECONNREFUSED', { socket: { kind: 'network', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }, closeCode: 1006 }, 'unreachable', false],
    ['ENOTFOUND', { socket: { kind: 'network', code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND' } }, 'unreachable', false],
    ['a connect timeout', { local: { kind: 'connect-timeout', ms: 10_000 } }, 'unreachable', false],
    ['an expired certificate', { socket: { kind: 'network', code: 'CERT_HAS_EXPIRED', message: 'certificate has expired' } }, 'tls', true],
    ['close 4202', { closeCode: 4202 }, 'server-shutdown', false],
    ['close 1001', { closeCode: 1001 }, 'server-shutdown', false],
    ['close 4203', { closeCode: 4203 }, 'server-error', false],
    ['close 4204 (this client read too slowly)', { closeCode: 4204 }, 'server-error', false],
    ['close 4201 from the relay', { closeCode: 4201 }, 'heartbeat-timeout', false],
    ['our heartbeat timeout', { local: { kind: 'heartbeat-timeout', ms: 30_000 } }, 'heartbeat-timeout', false],
    ['close 1006 without more', { closeCode: 1006 }, 'closed', false],
  ];
  for (const [what, given, kind, fatal] of cases) {
    it(`classifies ${what} as ${kind}${fatal ? ' (fatal)' : ''}`, () => {
      expect(classifyFailure(facts(given))).toMatchObject({ kind, fatal });
    });
  }

  it('retries a TLS failure once a connection has succeeded before', () => {
    const failure = classifyFailure(facts({ everConnected: true, socket: { kind: 'network', code: 'CERT_HAS_EXPIRED', message: 'certificate has expired' } }));
    expect(failure).toMatchObject({ kind: 'tls', fatal: false, code: 'CERT_HAS_EXPIRED' });
    expect(failure.message).toBe(`TLS failure connecting to ${url}: CERT_HAS_EXPIRED`);
  });

  it('names the URL and the cause of an unreachable relay', () => {
    const failure = classifyFailure(facts({ socket: { kind: 'network', code: 'ECONNREFUSED', message: 'x' } }));
    expect(failure.message).toContain(url);
    expect(failure.message).toContain('ECONNREFUSED');
  });

  it('gives different causes different messages', () => {
    const messages = cases.map(([, given]) => classifyFailure(facts(given)).message);
    const kinds = cases.map(([, given]) => classifyFailure(facts(given)).kind);
    // Messages may repeat only within one kind (e.g. close 4202 and 1001 both mean a restart).
    const byMessage = new Map<string, Set<string>>();
    messages.forEach((m, i) => byMessage.set(m, (byMessage.get(m) ?? new Set()).add(kinds[i] ?? '')));
    for (const set of byMessage.values()) expect(set.size).toBe(1);
  });

  it('maps fatal failures to client errors with exit codes', () => {
    expect(failureError(classifyFailure(facts({ closeCode: 4101 }))).exitCode).toBe(2);
    expect(failureError(classifyFailure(facts({ closeCode: 4006 }))).code).toBe('RELAY_E_CLIENT_PROTOCOL_VERSION');
    expect(failureError(classifyFailure(facts({ closeCode: 4006 }))).exitCode).toBe(1);
  });
});

describe('client error catalogue', () => {
  it('gives every cause its own message', () => {
    const messages = Object.values(CLIENT_ERRORS).map((e) => e.message);
    expect(new Set(messages).size).toBe(messages.length);
  });
});

describe('Backoff', () => {
  it('draws full-jitter delays under a bound that doubles from 500 ms up to 30 s', () => {
    const top = new Backoff({}, () => 0.999_999);
    const bounds = Array.from({ length: 9 }, () => top.next() + 1);
    expect(bounds).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    const bottom = new Backoff({}, () => 0);
    expect(bottom.next()).toBe(0);
  });

  it('starts over only after a connection that stayed up', () => {
    const backoff = new Backoff({ stableMs: 10_000 }, () => 0.999_999);
    backoff.next();
    backoff.next();
    backoff.connectionEnded(2_000);
    expect(backoff.failures).toBe(2);
    backoff.connectionEnded(10_000);
    expect(backoff.failures).toBe(0);
    expect(backoff.next()).toBe(499);
  });
});
