import basicAuth from '@fastify/basic-auth';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '@switchboard/config';
import { safeEqual } from '@switchboard/privacy';
import type { ApiResources } from '../resources.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The Basic-auth user of an ops request (what the audit log records as the actor). */
    opsUser?: string;
  }
}

/** Wrong credentials from one client within the window before it is refused outright. */
export const AUTH_FAILURE_LIMIT = 10;
export const AUTH_FAILURE_WINDOW_S = 15 * 60;

export function authFailureKey(queuePrefix: string, ip: string): string {
  return `${queuePrefix}:authfail:${ip}`;
}

/**
 * HTTP Basic auth (RFC 7617) as one onRequest hook over the scope it is registered in (the ops API
 * and /metrics). Credentials are compared in constant time; wrong ones are counted per client IP in
 * Redis (shared by all replicas), and a client past AUTH_FAILURE_LIMIT within the window gets 429
 * before its password is even looked at. A request without credentials is a challenge, not a
 * failure: browsers send one before they answer the 401 with the password.
 * Nothing here logs a header or a credential.
 */
async function opsAuth(app: FastifyInstance, opts: { config: Config; resources: ApiResources }): Promise<void> {
  const { config, resources } = opts;
  const { user, pass } = config.admin;

  await app.register(basicAuth, {
    authenticate: { realm: 'Switchboard ops' },
    validate: async (givenUser: string, givenPass: string, request: FastifyRequest) => {
      // Both compared, always: no early exit that tells a right user name from a wrong one.
      const userOk = safeEqual(givenUser, user);
      const passOk = safeEqual(givenPass, pass);
      if (!(userOk && passOk)) throw new Error('invalid credentials');
      request.opsUser = givenUser;
    },
  });

  const checkCredentials = (request: FastifyRequest, reply: FastifyReply) =>
    new Promise<Error | undefined>((resolve) => {
      app.basicAuth(request, reply, (err?: Error) => resolve(err ?? undefined));
    });

  app.addHook('onRequest', async (request, reply) => {
    const key = authFailureKey(config.queuePrefix, request.ip);
    const failures = Number(await resources.redis.get(key).catch(() => null)) || 0;
    if (failures >= AUTH_FAILURE_LIMIT) {
      const ttl = await resources.redis.ttl(key).catch(() => -1);
      return reply
        .code(429)
        .header('retry-after', String(ttl > 0 ? ttl : AUTH_FAILURE_WINDOW_S))
        .send({ error: 'rate_limited', message: 'too many failed logins; try again later' });
    }
    const err = await checkCredentials(request, reply);
    if (!err) return;
    if (request.headers.authorization !== undefined) {
      // The window starts at the first failure and is not extended by later ones (EXPIRE NX, Redis ≥ 7).
      await resources.redis.multi().incr(key).expire(key, AUTH_FAILURE_WINDOW_S, 'NX').exec().catch(() => undefined);
      request.log.warn({ ip: request.ip }, 'ops login failed');
    }
    // basic-auth has already set WWW-Authenticate on the reply.
    return reply.code(401).send({ error: 'unauthorized', message: 'authentication required' });
  });
}

export const opsAuthPlugin = fp(opsAuth, { name: 'switchboard-ops-auth' });
