import { describe, expect, it } from 'vitest';
import { SERVER_DEFAULTS, resolveServerConfig } from '../src/config.js';
import { expectConfigInvalid } from './harness.js';
import { formatDuration, parseDuration, parseSize } from '../src/units.js';

describe('resolveServerConfig', () => {
  it('fills every default and freezes the result', () => {
    const config = resolveServerConfig({});
    expect(config).toMatchObject({ ...SERVER_DEFAULTS, trustProxy: [] });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads strings from flags, environment and files', () => {
    const config = resolveServerConfig({ port: '9000', retentionMaxAge: '2d', maxDbSize: '1GiB', trustProxy: '127.0.0.1, 10.0.0.0/8', publicUrl: 'https://relay.example.com/' });
    expect(config.port).toBe(9000);
    expect(config.retentionMaxAgeMs).toBe(2 * 86_400_000);
    expect(config.maxDbBytes).toBe(1024 ** 3);
    expect(config.trustProxy).toEqual(['127.0.0.1', '10.0.0.0/8']);
    expect(config.publicUrl).toBe('https://relay.example.com');
  });

  it('reads the WebSocket limits', () => {
    const config = resolveServerConfig({ maxSendBuffer: '1MiB', sendStallTimeout: '5s', maxSubscriptions: '4', maxConsumersPerToken: 10 });
    expect(config).toMatchObject({ maxSendBufferBytes: 1024 ** 2, sendStallTimeoutMs: 5_000, maxSubscriptions: 4, maxConsumersPerToken: 10 });
  });

  const invalid: [Record<string, unknown>, string][] = [
    [{ port: '99999' }, '--port'],
    [{ port: 'eighty' }, '--port'],
    [{ logLevel: 'loud' }, '--log-level'],
    [{ publicUrl: 'relay.example.com' }, '--public-url'],
    [{ publicUrl: 'ftp://relay.example.com' }, '--public-url'],
    [{ trustProxy: 'my-proxy' }, '--trust-proxy'],
    [{ tlsCert: 'cert.pem' }, '--tls-key'],
    [{ retentionMaxAge: 'a week' }, '--retention-max-age'],
    [{ retentionMaxEvents: 0 }, '--retention-max-events'],
    [{ maxDbSize: '12' }, '--max-db-size'],
    [{ headersTimeout: '20s', requestTimeout: '10s' }, '--request-timeout'],
    [{ rateLimitIp: -1 }, '--rate-limit-ip'],
    [{ retentionInterval: '0' }, '--retention-interval'],
    [{ retentionMaxAge: '0' }, '--retention-max-age'],
    [{ retryInitial: '0' }, '--retry-initial'],
    [{ headersTimeout: '0' }, '--headers-timeout'],
    [{ ackTimeout: '30' }, '--ack-timeout'],
    [{ ackTimeout: 30_000 }, '--ack-timeout'],
    [{ maxSendBuffer: '1KiB' }, '--max-send-buffer'],
    [{ maxSendBuffer: 'lots' }, '--max-send-buffer'],
    [{ sendStallTimeout: '10ms' }, '--send-stall-timeout'],
    [{ maxSubscriptions: 0 }, '--max-subscriptions'],
    [{ maxConsumersPerToken: 'many' }, '--max-consumers-per-token'],
  ];
  for (const [input, setting] of invalid) {
    it(`names ${setting} when it is invalid (${JSON.stringify(input)})`, () => {
      expectConfigInvalid(input, setting);
    });
  }
});

describe('units', () => {
  it('parses durations', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('250')).toBeUndefined();
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('7 days')).toBeUndefined();
    expect(parseDuration('')).toBeUndefined();
    expect(formatDuration(604_800_000)).toBe('7d');
    expect(formatDuration(60_000)).toBe('1m');
  });

  it('parses sizes', () => {
    expect(parseSize('1MiB')).toBe(1_048_576);
    expect(parseSize('1mb')).toBe(1_000_000);
    expect(parseSize('512k')).toBe(524_288);
    expect(parseSize('2048')).toBe(2048);
    expect(parseSize('big')).toBeUndefined();
  });
});
