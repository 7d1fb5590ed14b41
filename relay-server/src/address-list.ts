import proxyaddr from '@fastify/proxy-addr';

/**
 * Address lists (`--allow-ip`, `--trust-proxy`) read by the same library Fastify uses for
 * `trustProxy`, so both settings accept the same notation and match addresses the same way:
 * single addresses, CIDR blocks (`10.0.0.0/8`, `2001:db8::/32`), IPv4 netmask notation
 * (`10.0.0.0/255.0.0.0`), the names `loopback`, `linklocal` and `uniquelocal`, and IPv4-mapped
 * IPv6 sources (`::ffff:10.1.2.3`) matched against IPv4 entries.
 */

/** Tells whether a source address lies inside an address list. */
export type AddressMatcher = (address: string) => boolean;

/** Why `entry` is not a valid address-list entry, or `undefined` when it is. */
export function addressEntryProblem(entry: string): string | undefined {
  try {
    proxyaddr.compile(entry);
    return undefined;
  } catch {
    return 'is not an IP address, a CIDR block, an address/netmask or one of loopback, linklocal, uniquelocal';
  }
}

/**
 * Compiles `entries` into a matcher. Entries that do not parse match nothing (settings are
 * validated with {@link addressEntryProblem} before they are stored).
 */
export function compileAddressList(entries: readonly string[]): AddressMatcher {
  const valid = entries.filter((entry) => addressEntryProblem(entry) === undefined);
  if (valid.length === 0) return () => false;
  const trust = proxyaddr.compile(valid);
  return (address) => trust(address, 0);
}
