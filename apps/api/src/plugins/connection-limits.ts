import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '@switchboard/config';
import type { Counters } from '@switchboard/observability';
import { clientKey } from '../client-key.js';

interface ConnectionLimitOptions {
  config: Config;
  counters: Counters;
  /** Whether a peer is one of TRUST_PROXY's proxies (the app's compiled trust check). */
  isTrustedProxy: (address: string) => boolean;
}

/**
 * Caps on open connections, so that sockets held open on purpose cannot use up the process's file
 * descriptors (the request timeout in app.ts closes each such socket within seconds; these caps
 * bound how many can be open meanwhile).
 *
 * - All clients together: Node's own `maxConnections`, which closes a connection past it as it is
 *   accepted.
 * - Per client, keyed by the socket's peer (an IPv4 address, an IPv6 /64: client-key.ts). A
 *   connection is counted before any byte of HTTP is read, so the peer is all there is to go by:
 *   X-Forwarded-For is not known yet, and a proxy's keep-alive connection carries many clients'
 *   requests in turn. Peers that TRUST_PROXY names are therefore not counted — one cap for the
 *   proxy would be one cap for everyone behind it, Meta included — and the proxy keeps its own
 *   per-client limits.
 *
 * Each costs a counter change per connection, nothing per request.
 */
async function connectionLimits(app: FastifyInstance, opts: ConnectionLimitOptions): Promise<void> {
  const { config, counters, isTrustedProxy } = opts;
  const { maxConnections, maxConnectionsPerClient } = config.http;
  const server = app.server;

  if (maxConnections > 0) {
    server.maxConnections = maxConnections;
    server.on('drop', () => counters.count('connections_refused', { reason: 'total' }));
  }
  if (maxConnectionsPerClient === 0) return;

  const open = new Map<string, number>();
  // Ahead of Node's own listener, so a refused socket never gets an HTTP parser.
  server.prependListener('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    if (address === undefined || isTrustedProxy(address)) return;
    const key = clientKey(address);
    const count = open.get(key) ?? 0;
    if (count >= maxConnectionsPerClient) {
      counters.count('connections_refused', { reason: 'per_client' });
      socket.destroy();
      return;
    }
    open.set(key, count + 1);
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left > 0) open.set(key, left);
      else open.delete(key);
    });
  });
}

export const connectionLimitsPlugin = fp(connectionLimits, { name: 'switchboard-connection-limits' });
