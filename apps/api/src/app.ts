import { randomUUID } from 'node:crypto';
import { compile as compileTrust } from '@fastify/proxy-addr';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Config } from '@switchboard/config';
import type { Logger } from '@switchboard/observability';
import { createErrorHandler } from './errors.js';
import { connectionLimitsPlugin } from './plugins/connection-limits.js';
import { type ResponseHeaders, responseHeaders, securityPlugin } from './plugins/security.js';
import type { ApiResources } from './resources.js';
import { healthRoutes } from './routes/health.js';
import { rootRoutes } from './routes/root.js';
import { opsRoutes } from './routes/ops/index.js';
import { webhookRoutes } from './routes/webhook/index.js';

export interface AppDeps {
  config: Config;
  logger: Logger;
  resources: ApiResources;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * How often Node looks for requests past their deadline (its default, 30 s, would let a 10 s
 * deadline run to 40 s). The check walks a list in C++ without touching healthy requests.
 */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;

/** Distinct peer addresses remembered by the trust check (a deployment has few proxies). */
const TRUST_CACHE_SIZE = 1024;

/**
 * TRUST_PROXY as Fastify's `trustProxy`, with the answer per peer address remembered: the compiled
 * check parses the address on every call, on every webhook — for the handful of proxy addresses
 * a deployment sees, once is enough. `true`/`false` are passed through.
 */
export function trustFunction(value: boolean | string): boolean | ((address: string, hop: number) => boolean) {
  if (typeof value === 'boolean') return value;
  const trust = compileTrust(value.split(',').map((v) => v.trim()));
  const known = new Map<string, boolean>();
  return (address, hop) => {
    let trusted = known.get(address);
    if (trusted === undefined) {
      trusted = trust(address, hop);
      if (known.size >= TRUST_CACHE_SIZE) known.clear();
      known.set(address, trusted);
    }
    return trusted;
  };
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route logs its own line on success; skip the generic "request completed" line. */
    quietLog?: boolean;
    /** Only machines read the route's responses (webhooks): the compact security header set. */
    machineFacing?: boolean;
  }
}

/**
 * What the router refuses before any route or hook runs (a malformed percent-encoding, an over-long
 * path parameter): answered like every other refusal, with the security headers and the request id,
 * and in the error handler's shape rather than Fastify's own.
 */
function routerErrorHandler(headers: ResponseHeaders) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    void reply.headers(headers.forPeople).header('x-request-id', request.id);
    if (error.code === 'FST_ERR_BAD_URL')
      return reply.code(400).send({ error: 'invalid_request', message: 'the URL is not valid' });
    if (error.code === 'FST_ERR_MAX_PARAM_LENGTH')
      return reply.code(414).send({ error: 'invalid_request', message: 'a path parameter is too long' });
    request.log.error({ err: { message: error.message, code: error.code } }, 'request failed');
    return reply.code(500).send({ error: 'internal_error' });
  };
}

/**
 * Builds the HTTP application. Pure wiring: it connects to nothing and never listens (the entry
 * point and the tests do that), so tests construct exactly what production runs.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, logger, resources } = deps;
  const headers = responseHeaders(config);
  const trustProxy = trustFunction(config.http.trustProxy);
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    trustProxy,
    // A request's headers and body must arrive within HTTP_REQUEST_TIMEOUT_MS, or the client gets
    // 408 and its socket is closed, so a body that never finishes cannot hold a socket. Keep-alive
    // stays Fastify's 72 s between requests (longer than common load balancers' idle timeouts).
    requestTimeout: config.http.requestTimeoutMs,
    http: { headersTimeout: config.http.requestTimeoutMs, connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS },
    // A caller's (or load balancer's) request id is kept when it is sane, otherwise a new one.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // One log line per request (the onResponse hook below) instead of Fastify's two, with no query
    // string (the verification handshake carries its token there).
    logController: new LogController({ requestIdLogLabel: 'reqId', disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // A field or query parameter a schema does not know is refused (400, named), not silently
    // dropped: a misspelt filter would otherwise answer as if it were not there.
    ajv: { customOptions: { removeAdditional: false } },
    routerOptions: { ignoreTrailingSlash: true },
    frameworkErrors: routerErrorHandler(headers),
  });
  app.setErrorHandler(createErrorHandler(resources));
  app.addHook('onResponse', async (request, reply) => {
    if (request.routeOptions.config.quietLog && reply.statusCode < 400) return;
    request.log.info(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request completed',
    );
  });

  const isTrustedProxy =
    typeof trustProxy === 'function' ? (address: string) => trustProxy(address, 0) : () => trustProxy;
  await app.register(connectionLimitsPlugin, { config, counters: resources.counters, isTrustedProxy });
  await app.register(securityPlugin, { config, resources, headers });
  await app.register(healthRoutes, { config, resources });
  await app.register(rootRoutes);
  await app.register(webhookRoutes, { config, resources });
  await app.register(opsRoutes, { config, resources });
  return app;
}
