import ipaddr from 'ipaddr.js';

/**
 * The name one client goes by in the API's limits (connections per client, failed ops logins): an
 * IPv4 address as it is, an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a dual-stack socket
 * reports for IPv4 peers) as that IPv4 address, and any other IPv6 address as its /64 — one
 * subscriber's network, whose 2^64 addresses are all one client's to pick from (RFC 6177).
 * Anything unparseable is kept as given.
 */
export function clientKey(address: string | undefined): string {
  if (!address) return 'unknown';
  // The common case, a plain IPv4 address, needs no parsing.
  if (!address.includes(':')) return address;
  if (!ipaddr.isValid(address)) return address;
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const parts = (parsed as ipaddr.IPv6).parts.slice(0, 4).map((p) => p.toString(16));
  return `${parts.join(':')}::/64`;
}
