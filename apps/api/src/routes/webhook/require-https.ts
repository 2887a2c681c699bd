import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '@switchboard/config';
import type { ApiResources } from '../../resources.js';

/** At most one explanation per this interval: refused requests from anyone cannot flood the log. */
export const HTTPS_REFUSAL_LOG_INTERVAL_MS = 60_000;

/**
 * The webhook's HTTPS check, an onRequest hook: it runs before the body is read, so a plain-HTTP
 * call is refused before anything else. `request.protocol` believes X-Forwarded-Proto only from a
 * TRUST_PROXY address; schemes are case-insensitive (RFC 3986 §3.1), so a proxy sending "HTTPS" is
 * not refused.
 *
 * The answer never says why (its shape is fixed, and the caller may be anyone); the log does, once
 * a minute at most, naming the settings that decide it, so an operator behind a proxy finds
 * TRUST_PROXY instead of guessing.
 */
export function httpsCheck(config: Config, resources: Pick<ApiResources, 'counters'>) {
  let lastLoggedAt = Number.NEGATIVE_INFINITY;
  let refusedSinceLog = 0;
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (!config.http.requireHttps || request.protocol?.toLowerCase() === 'https') return;
    resources.counters.count('webhooks_rejected', { reason: 'https_required' });
    refusedSinceLog++;
    const now = Date.now();
    if (now - lastLoggedAt >= HTTPS_REFUSAL_LOG_INTERVAL_MS) {
      lastLoggedAt = now;
      request.log.warn({ refused: refusedSinceLog, ...explain(config, request) }, 'webhook refused: HTTPS required');
      refusedSinceLog = 0;
    }
    return reply.code(403).send({ error: 'https_required', message: 'HTTPS required' });
  };
}

/** Which settings decided the refusal and what to change; settings names only, no addresses. */
function explain(config: Config, request: FastifyRequest) {
  const header = request.headers['x-forwarded-proto'];
  const forwarded = (Array.isArray(header) ? header.join(',') : header)?.split(',').pop()?.trim().toLowerCase();
  const base = {
    require_https: true,
    trust_proxy: config.http.trustProxy,
    x_forwarded_proto: forwarded === undefined ? 'absent' : forwarded,
  };
  // Fastify takes the header's last value when the peer is trusted; a different protocol means it did not.
  if (forwarded !== undefined && forwarded !== request.protocol?.toLowerCase())
    return {
      ...base,
      from_trusted_proxy: false,
      hint: "X-Forwarded-Proto came from an address TRUST_PROXY does not name: set TRUST_PROXY to the proxy's address or network",
    };
  if (forwarded === undefined)
    return {
      ...base,
      hint: 'a plain HTTP request without X-Forwarded-Proto: put a TLS-terminating proxy in front (it sets the header), or set REQUIRE_HTTPS=false for a local trial',
    };
  return {
    ...base,
    from_trusted_proxy: true,
    hint: 'the trusted proxy forwarded a plain HTTP request: Meta must call the https:// URL',
  };
}
