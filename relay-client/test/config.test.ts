import { describe, expect, it } from 'vitest';
import { listenOptionsFromArgs } from '../src/cli/options.js';
import { defaultConsumer, resolveListenConfig, type ListenOptions } from '../src/config.js';
import { ClientError } from '../src/errors.js';
import { relayWebSocketUrl } from '../src/transport.js';

const TOKEN = 'mrt_secret_token_value_0123456789';
const base: ListenOptions = { relay: 'https://relay.example.com', token: TOKEN, forwardTo: 'http://localhost:3000/hook' };

function configError(options: Partial<ListenOptions>): ClientError {
  try {
    resolveListenConfig({ ...base, ...options });
  } catch (error) {
    if (error instanceof ClientError) return error;
    throw error;
  }
  throw new Error('expected a ClientError');
}

describe('resolveListenConfig', () => {
  it('fills defaults and freezes the result', () => {
    const config = resolveListenConfig(base);
    expect(config).toMatchObject({
      webSocketUrl: 'wss://relay.example.com/ws',
      channels: ['myoperator'],
      consumer: defaultConsumer(),
      timeoutMs: 10_000,
      ordered: false,
      events: undefined,
      since: undefined,
      window: undefined,
      maxAttempts: undefined,
      resign: undefined,
    });
    expect(config.target.display).toBe('http://localhost:3000/hook');
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('keeps what was given', () => {
    const config = resolveListenConfig({
      ...base,
      channels: ['a', 'b', 'a'],
      consumer: 'asha-laptop',
      events: ['call.*'],
      since: '2024-05-01T10:00:00+05:30',
      window: 16,
      ordered: true,
      maxAttempts: 3,
      timeoutMs: 2500,
      resignSecret: 'dev',
      signatureHeader: 'x-myop-signature',
    });
    expect(config).toMatchObject({ channels: ['a', 'b'], consumer: 'asha-laptop', events: ['call.*'], window: 16, ordered: true, maxAttempts: 3, timeoutMs: 2500 });
    expect(config.resign).toEqual({ secret: 'dev', header: 'x-myop-signature' });
  });

  const invalid: [Partial<ListenOptions>, string][] = [
    [{ relay: '' }, '--relay is required'],
    [{ relay: 'relay.example.com' }, '--relay'],
    [{ relay: 'ftp://relay.example.com' }, '--relay'],
    [{ relay: `https://relay.example.com/?token=${TOKEN}` }, '--relay'],
    [{ relay: 'https://me:pw@relay.example.com' }, '--relay'],
    [{ forwardTo: '' }, '--forward-to is required'],
    [{ forwardTo: 'localhost:3000' }, '--forward-to'],
    [{ channels: ['bad channel'] }, '--channel'],
    [{ channels: ['a@b'] }, '--channel'],
    [{ channels: [] }, '--channel'],
    [{ consumer: 'tab\there' }, '--consumer'],
    [{ events: ['ok', 'x'.repeat(200)] }, '--events'],
    [{ since: 'yesterday' }, '--since'],
    [{ window: 0 }, '--window'],
    [{ window: 2000 }, '--window'],
    [{ maxAttempts: 1001 }, '--max-attempts'],
    [{ timeoutMs: 0 }, '--timeout'],
    [{ signatureHeader: 'Bad Header' }, '--signature-header'],
    [{ resignSecret: '' }, '--resign-secret'],
  ];
  for (const [options, flag] of invalid) {
    it(`names ${flag} when it is invalid (${JSON.stringify(options).slice(0, 60)})`, () => {
      const error = configError(options);
      expect(error.code).toBe('RELAY_E_CLIENT_CONFIG_INVALID');
      expect(error.exitCode).toBe(2);
      expect(error.message).toContain(flag);
      expect(error.message).not.toContain(TOKEN);
    });
  }

  it('says how to create a token when there is none, and never echoes a bad one', () => {
    expect(configError({ token: '' }).message).toContain('relay-server token create --name <you>');
    const bad = 'not a token with spaces';
    expect(configError({ token: bad }).message).toContain('--token');
    expect(configError({ token: bad }).message).not.toContain(bad);
  });
});

describe('listenOptionsFromArgs', () => {
  it('splits comma lists, parses durations and numbers', () => {
    const options = listenOptionsFromArgs({
      relay: 'https://r.example',
      token: TOKEN,
      forwardTo: 'http://localhost:3000/x',
      channel: ['a,b', 'c'],
      events: ['call.*,message.received'],
      timeout: '2s',
      window: '4',
      maxAttempts: 7,
      ordered: 'true',
    });
    expect(options).toMatchObject({ channels: ['a', 'b', 'c'], events: ['call.*', 'message.received'], timeoutMs: 2000, window: 4, maxAttempts: 7, ordered: true });
  });

  it('names the flag of a value that does not parse', () => {
    expect(() => listenOptionsFromArgs({ timeout: 'soon' })).toThrow(/--timeout/);
    expect(() => listenOptionsFromArgs({ window: 'eight' })).toThrow(/--window/);
    expect(() => listenOptionsFromArgs({ ordered: 'maybe' })).toThrow(/--ordered/);
  });
});

describe('defaults and URLs', () => {
  it('names the default consumer after the user and the machine', () => {
    expect(defaultConsumer()).toMatch(/^[^@]+@.+$/);
  });

  it('maps the relay URL to its WebSocket endpoint', () => {
    expect(relayWebSocketUrl(new URL('http://localhost:8080'))).toBe('ws://localhost:8080/ws');
    expect(relayWebSocketUrl(new URL('https://relay.example.com/'))).toBe('wss://relay.example.com/ws');
    expect(relayWebSocketUrl(new URL('https://example.com/relay/'))).toBe('wss://example.com/relay/ws');
    expect(relayWebSocketUrl(new URL('wss://relay.example.com'))).toBe('wss://relay.example.com/ws');
  });
});
