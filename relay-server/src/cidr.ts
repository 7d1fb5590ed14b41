import { isIP } from 'node:net';

/** A parsed CIDR block, matched against source addresses of requests. */
export interface CidrBlock {
  /** The text as configured, for display. */
  text: string;
  family: 4 | 6;
  bits: bigint;
  prefix: number;
}

function ipv4ToBigInt(ip: string): bigint {
  return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function ipv6ToBigInt(ip: string): bigint {
  let text = ip;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const n = ipv4ToBigInt(v4[1]);
    text = text.slice(0, -v4[1].length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(missing).fill('0'), ...tailGroups];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Parses `a.b.c.d/n`, `x::y/n` or a single address. Returns undefined when invalid. */
export function parseCidr(text: string): CidrBlock | undefined {
  const [addr = '', prefixText, extra] = text.trim().split('/');
  if (extra !== undefined) return undefined;
  const family = isIP(addr);
  if (family !== 4 && family !== 6) return undefined;
  const width = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? width : Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText ?? String(width)) || prefix > width) return undefined;
  const value = family === 4 ? ipv4ToBigInt(addr) : ipv6ToBigInt(addr);
  const shift = BigInt(width - prefix);
  return { text: text.trim(), family, bits: (value >> shift) << shift, prefix };
}

/** True when `address` (IPv4, IPv6 or IPv4-mapped IPv6) lies inside one of `blocks`. */
export function addressInBlocks(address: string, blocks: readonly CidrBlock[]): boolean {
  let ip = address;
  let family = isIP(ip);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1]) {
    ip = mapped[1];
    family = 4;
  }
  if (family !== 4 && family !== 6) return false;
  const value = family === 4 ? ipv4ToBigInt(ip) : ipv6ToBigInt(ip);
  return blocks.some((block) => {
    if (block.family !== family) return false;
    const shift = BigInt((family === 4 ? 32 : 128) - block.prefix);
    return (value >> shift) << shift === block.bits;
  });
}
