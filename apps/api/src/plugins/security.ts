import type { IncomingMessage, ServerResponse } from 'node:http';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import helmet, { type HelmetOptions } from 'helmet';
import type { Config } from '@switchboard/config';
import type { ApiResources } from '../resources.js';
import { clientKey } from '../client-key.js';

/**
 * Helmet's headers for our configuration, computed once. They do not depend on the request, and
 * @fastify/helmet rebuilds helmet's middleware chain on every request — a measurable share of the
 * webhook path (docs/performance.md, decision `ingress-helmet-once`). Helmet stays the source of
 * truth: we run it once against a recording response.
 */
export function securityHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  let failure: unknown;
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (err?: unknown) => {
    failure = err;
  });
  if (failure) throw failure;
  return headers;
}

/**
 * The headers of responses only machines read (Meta's webhook deliveries): from the full set, the
 * contract's — nosniff, X-Frame-Options, Referrer-Policy, HSTS in production — and a CSP that
 * allows nothing, as OWASP's REST Security Cheat Sheet advises for API responses. Helmet's other
 * headers (the dashboard's CSP, cross-origin isolation, DNS prefetch, the IE download and XSS-filter
 * switches) steer browsers rendering a page; on a webhook's 200 they would be two thirds of the
 * response's bytes and of the headers each delivery's client parses (docs/performance.md, decision
 * `ingress-compact-headers`).
 */
export function machineHeaders(full: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = { 'content-security-policy': "default-src 'none'; frame-ancestors 'none'" };
  for (const name of ['referrer-policy', 'strict-transport-security', 'x-content-type-options', 'x-frame-options']) {
    const value = full[name];
    if (value !== undefined) headers[name] = value;
  }
  return headers;
}

/** The security headers of every response: the full set for people, the compact one for machines. */
export interface ResponseHeaders {
  forPeople: Record<string, string>;
  forMachines: Record<string, string>;
}

export function responseHeaders(config: Config): ResponseHeaders {
  const forPeople = securityHeaders({
    // The dashboard is server-rendered with inline styles; its script is a same-origin file, so no
    // inline script runs.
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        frameAncestors: ["'none'"],
        // Helmet's default: a browser rewrites the page's own requests to https. Right behind TLS
        // (production, like HSTS); over plain http on a LAN or staging address it broke the
        // dashboard's buttons, whose fetches then went to an https port nobody listens on.
        upgradeInsecureRequests: config.isProduction ? [] : null,
      },
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: config.isProduction ? { maxAge: 31_536_000, includeSubDomains: true } : false,
  });
  return { forPeople, forMachines: machineHeaders(forPeople) };
}

/** The ops API's methods a browser on an allowed origin may use (the dashboard's and tools'). */
const CORS_METHODS = ['GET', 'HEAD', 'POST', 'PUT'];

/**
 * Edge hygiene for every route: security headers, CORS only for the origins CORS_ORIGINS names,
 * the request id echoed back, and a Redis-backed rate limit shared by all replicas. Webhook routes
 * opt out of the limit (`config.rateLimit: false`): Meta's traffic must never be throttled by us.
 */
async function security(
  app: FastifyInstance,
  opts: { config: Config; resources: ApiResources; headers: ResponseHeaders },
): Promise<void> {
  const { config, resources } = opts;
  const { forPeople, forMachines } = opts.headers;
  // Set before anything can answer, so refusals (403, 413, 415, 404) carry them too.
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(request.routeOptions.config.machineFacing ? forMachines : forPeople);
    reply.header('x-request-id', request.id);
    done();
  });

  // Without configured origins no CORS headers are sent at all: browsers then refuse cross-origin
  // reads, which is the closed default.
  if (config.http.corsOrigins.length > 0) {
    await app.register(cors, { origin: [...config.http.corsOrigins], credentials: true, methods: CORS_METHODS });
  }
  await app.register(rateLimit, {
    global: true,
    max: 300,
    timeWindow: '1 minute',
    redis: resources.redis,
    nameSpace: `${config.queuePrefix}:rl:`,
    // Per client as the other limits count them: an IPv6 /64 is one subscriber's, who could
    // otherwise take a fresh address for every request.
    keyGenerator: (request) => clientKey(request.ip),
    // Redis down: serve (health must still say "down"), do not fail closed on every route.
    skipOnError: true,
  });
}

export const securityPlugin = fp(security, { name: 'switchboard-security' });
