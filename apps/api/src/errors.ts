import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Counters } from '@switchboard/observability';

/**
 * One error handler: Fastify's own codes mapped to the contract's answers; 5xx bodies never carry
 * internals (the log has them, with the request id).
 */
const BY_CODE: Record<string, { status: number; error: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, error: 'payload_too_large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, error: 'unsupported_media_type' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, error: 'invalid_request' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, error: 'invalid_request' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, error: 'invalid_request' },
};

export function createErrorHandler(counters: Counters) {
  return function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
    const known = error.code ? BY_CODE[error.code] : undefined;
    if (known) {
      if (request.url.startsWith('/webhook')) counters.count('webhooks_rejected', { reason: known.error });
      return reply.code(known.status).send({ error: known.error });
    }
    return handleOther(error, request, reply);
  };
}

function handleOther(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (error.validation) return reply.code(400).send({ error: 'invalid_request', message: error.message });
  const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
  if (status === 429) return reply.code(429).send({ error: 'rate_limited', message: error.message });
  if (status < 500) return reply.code(status).send({ error: 'request_error', message: error.message });
  request.log.error({ err: error }, 'request failed');
  return reply.code(status).send({ error: 'internal_error' });
}
