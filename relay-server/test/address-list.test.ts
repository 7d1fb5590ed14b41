import { describe, expect, it } from 'vitest';
import { addressEntryProblem, compileAddressList } from '../src/address-list.js';
import { applyChannelSettings } from '../src/channel-settings.js';
import { resolveServerConfig } from '../src/config.js';

describe('address lists (--allow-ip and --trust-proxy)', () => {
  it('matches an IPv4-mapped IPv6 source against IPv4 entries, and an IPv4 source against a mapped entry', () => {
    const v4 = compileAddressList(['203.0.113.0/24']);
    expect(v4('203.0.113.9')).toBe(true);
    expect(v4('::ffff:203.0.113.9')).toBe(true);
    expect(v4('::ffff:198.51.100.1')).toBe(false);
    const mapped = compileAddressList(['::ffff:203.0.113.0/120']);
    expect(mapped('203.0.113.9')).toBe(true);
    expect(mapped('198.51.100.1')).toBe(false);
  });

  it('reads netmask notation as the CIDR block it names', () => {
    const list = compileAddressList(['10.0.0.0/255.0.0.0']);
    expect(list('10.200.1.1')).toBe(true);
    expect(list('11.0.0.1')).toBe(false);
    expect(addressEntryProblem('10.0.0.0/255.0.0.0')).toBeUndefined();
  });

  it('knows the names Fastify knows, and keeps IPv6 blocks apart from IPv4 sources', () => {
    const list = compileAddressList(['loopback']);
    expect(list('127.0.0.1')).toBe(true);
    expect(list('::1')).toBe(true);
    expect(list('192.0.2.1')).toBe(false);
    expect(compileAddressList(['2001:db8::/32'])('2001:db8::1')).toBe(true);
    expect(compileAddressList(['::/1'])('1.2.3.4')).toBe(false);
  });

  it('refuses what is not an address, a block or a name, and an empty list matches nothing', () => {
    for (const bad of ['10.0.0.0/33', '300.1.1.1', 'example.com', '1.2.3.4/8/8', '10.0.0.0/255.0.255.0', '']) {
      expect(addressEntryProblem(bad), bad).toBeDefined();
    }
    expect(compileAddressList([])('127.0.0.1')).toBe(false);
  });

  it('gives --allow-ip and --trust-proxy the same notation', () => {
    for (const entry of ['10.0.0.0/255.0.0.0', '::ffff:10.0.0.1', 'loopback']) {
      expect(() => resolveServerConfig({ trustProxy: entry })).not.toThrow();
      expect(applyChannelSettings('c', { verify: 'none', allowIp: [entry] }).channel.allowIps).toEqual([entry]);
    }
    expect(() => resolveServerConfig({ trustProxy: '10.0.0.0/33' })).toThrow(/trust-proxy/);
    expect(() => applyChannelSettings('c', { verify: 'none', allowIp: ['10.0.0.0/33'] })).toThrow(/allow-ip/);
  });
});
