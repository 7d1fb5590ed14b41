import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  PROTOCOL_ERRORS,
  ProtocolError,
  createErrorMessage,
  decodeClientMessage,
  decodeServerMessage,
  encodeMessage,
  errorCodeForCloseCode,
  errorSpec,
  isErrorCode,
  type ErrorCode,
} from '../src/index.js';

const codes = Object.keys(PROTOCOL_ERRORS) as ErrorCode[];

/** Rows of the error table in docs/protocol.md: code → close code (null for "—"). */
function documentedErrors(): Map<string, number | null> {
  const markdown = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');
  const rows = new Map<string, number | null>();
  for (const line of markdown.split('\n')) {
    const match = /^\|\s*`(RELAY_E_[A-Z0-9_]+)`\s*\|\s*([^|]*?)\s*\|/.exec(line);
    if (match === null) continue;
    const [, code, close] = match as unknown as [string, string, string];
    expect(rows.has(code), `${code} is listed twice`).toBe(false);
    rows.set(code, close === '—' ? null : Number(close));
  }
  return rows;
}

describe('error catalogue', () => {
  it('matches the table in docs/protocol.md, close codes included', () => {
    const documented = documentedErrors();
    expect([...documented.keys()].sort()).toEqual([...codes].sort());
    for (const code of codes) expect(documented.get(code), code).toBe(errorSpec(code).closeCode);
  });

  it('gives every closing cause its own close code in the private range', () => {
    const closeCodes = codes.map((c) => errorSpec(c).closeCode).filter((c): c is number => c !== null);
    expect(new Set(closeCodes).size).toBe(closeCodes.length);
    for (const c of closeCodes) {
      expect(Number.isInteger(c)).toBe(true);
      expect(c).toBeGreaterThanOrEqual(4000);
      expect(c).toBeLessThanOrEqual(4999);
    }
  });

  it('never gives two causes the same message', () => {
    const messages = codes.map((c) => errorSpec(c).message);
    expect(new Set(messages).size).toBe(messages.length);
  });

  it('asks for reconnects only on errors that close the connection', () => {
    for (const code of codes) {
      if (errorSpec(code).closeCode === null) expect(errorSpec(code).reconnect, code).toBe(false);
    }
    expect(errorSpec('RELAY_E_WS_SERVER_SHUTDOWN').reconnect).toBe(true);
    expect(errorSpec('RELAY_E_WS_TOKEN_INVALID').reconnect).toBe(false);
  });

  it('maps close codes back to error codes', () => {
    for (const code of codes) {
      const close = errorSpec(code).closeCode;
      if (close !== null) expect(errorCodeForCloseCode(close)).toBe(code);
    }
    expect(errorCodeForCloseCode(1006)).toBeUndefined();
    expect(errorCodeForCloseCode(4999)).toBeUndefined();
  });

  it('recognises its own codes only', () => {
    expect(isErrorCode('RELAY_E_WS_INTERNAL')).toBe(true);
    expect(isErrorCode('RELAY_E_WS_NOPE')).toBe(false);
    expect(isErrorCode('toString')).toBe(false);
  });
});

describe('ProtocolError', () => {
  it('carries code, close code and detail', () => {
    const error = new ProtocolError('RELAY_E_WS_INVALID_MESSAGE', 'subscribe.window must be an integer from 1 to 1024');
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('RELAY_E_WS_INVALID_MESSAGE');
    expect(error.closeCode).toBe(4001);
    expect(error.fatal).toBe(true);
    expect(error.message).toContain(PROTOCOL_ERRORS.RELAY_E_WS_INVALID_MESSAGE.message);
    expect(error.message).toContain('subscribe.window');
    expect(new ProtocolError('RELAY_E_WS_BAD_SINCE').fatal).toBe(false);
  });
});

describe('createErrorMessage', () => {
  it('builds a non-fatal refusal that decodes on the client', () => {
    const message = createErrorMessage('RELAY_E_WS_UNKNOWN_CHANNEL', { ref: 'r1' });
    expect(message).toEqual({
      type: 'error',
      code: 'RELAY_E_WS_UNKNOWN_CHANNEL',
      message: PROTOCOL_ERRORS.RELAY_E_WS_UNKNOWN_CHANNEL.message,
      ref: 'r1',
      fatal: false,
    });
    expect(decodeServerMessage(encodeMessage(message))).toEqual({ ok: true, message });
  });

  it('marks closing errors fatal', () => {
    expect(createErrorMessage('RELAY_E_WS_TOKEN_INVALID').fatal).toBe(true);
  });

  it('passes on a decoder error with its detail', () => {
    const result = decodeClientMessage('{"type":"subscribe","ref":"r","channel":"a/b","consumer":"c"}');
    if (result.ok) throw new Error('expected a decode error');
    const message = createErrorMessage(result.error, { sub: 's1' });
    expect(message.code).toBe('RELAY_E_WS_INVALID_MESSAGE');
    expect(message.message).toContain('subscribe.channel');
    expect(message.sub).toBe('s1');
    expect(message.fatal).toBe(true);
    expect(decodeServerMessage(encodeMessage(message)).ok).toBe(true);
  });

  it('produces messages every catalogue entry can send', () => {
    for (const code of codes) {
      const wire = encodeMessage(createErrorMessage(code, { detail: 'x'.repeat(200) }));
      expect(decodeServerMessage(wire).ok, code).toBe(true);
    }
  });
});
