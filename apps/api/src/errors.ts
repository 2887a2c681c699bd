import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiResources } from './resources.js';

/**
 * One error handler: Fastify's own codes mapped to the documented answers (docs/api.md); 5xx bodies never carry
 * internals (the log has them, with the request id).
 */
const BY_CODE: Record<string, { status: number; error: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, error: 'payload_too_large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, error: 'unsupported_media_type' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, error: 'invalid_request' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, error: 'invalid_request' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, error: 'invalid_request' },
};

/**
 * What node-postgres-compatible drivers (postgres.js here) report when the server cannot be
 * reached or is going away: socket errors, postgres.js's own connection codes, and the SQLSTATEs
 * of connection exceptions (class 08), shutdown and start-up (57P01–57P03) and a full server (53300).
 */
const DATABASE_CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);

/** ioredis's words for a command it could not get answered (no connection, lost, or too slow). */
const REDIS_CONNECTION_MESSAGE =
  /enableOfflineQueue|Connection is closed|Command timed out|MaxRetriesPerRequest|Reached the max retries/;

/** The error and its causes (drizzle wraps the driver's error in its own). */
function* causes(error: unknown): Generator<{ code?: unknown; message?: unknown }> {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++)
    yield e;
}

/** Which store an error says is out of reach, if any: those outages are 503s (retry later), not bugs. */
export function unavailableStore(error: unknown, redisReady: boolean): 'redis' | 'database' | undefined {
  for (const e of causes(error)) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (DATABASE_CONNECTION_CODES.has(code) || code.startsWith('08')) return 'database';
    if (typeof e.message === 'string' && REDIS_CONNECTION_MESSAGE.test(e.message)) return 'redis';
  }
  // Whatever BullMQ or a helper made of a failed Redis call, Redis being down explains it.
  return redisReady ? undefined : 'redis';
}

const UNAVAILABLE = {
  redis: { error: 'redis_unavailable', message: 'Redis is unreachable; try again later' },
  database: { error: 'database_unavailable', message: 'PostgreSQL is unreachable; try again later' },
} as const;

export function createErrorHandler(resources: Pick<ApiResources, 'counters' | 'redis'>) {
  const { counters, redis } = resources;
  return function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
    const known = error.code ? BY_CODE[error.code] : undefined;
    if (known) {
      if (request.url.startsWith('/webhook')) counters.count('webhooks_rejected', { reason: known.error });
      return reply.code(known.status).send({ error: known.error });
    }
    return handleOther(error, request, reply, () => redis.status === 'ready');
  };
}

/**
 * A schema's refusal in words: an unknown field or query parameter is named (a misspelt `limt`
 * is told, not ignored); anything else keeps Fastify's message (`body/minutes must be >= 1`).
 */
function validationMessage(error: FastifyError): string {
  const first = error.validation?.[0];
  const unknown = first?.keyword === 'additionalProperties' ? first.params.additionalProperty : undefined;
  if (typeof unknown !== 'string') return error.message;
  const where = error.validationContext === 'querystring' ? 'query parameter' : `${error.validationContext} field`;
  return `unknown ${where} ${JSON.stringify(unknown.slice(0, 64))}`;
}

function handleOther(error: FastifyError, request: FastifyRequest, reply: FastifyReply, redisReady: () => boolean) {
  if (error.validation) return reply.code(400).send({ error: 'invalid_request', message: validationMessage(error) });
  const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
  if (status === 429) return reply.code(429).send({ error: 'rate_limited', message: error.message });
  if (status < 500) return reply.code(status).send({ error: 'request_error', message: error.message });
  const store = unavailableStore(error, redisReady());
  if (store) {
    // One line naming the store; the driver's message may carry the query or the address.
    request.log.warn({ store }, 'request failed: store unavailable');
    return reply.code(503).header('retry-after', '5').send(UNAVAILABLE[store]);
  }
  request.log.error({ err: error }, 'request failed');
  return reply.code(status).send({ error: 'internal_error' });
}
