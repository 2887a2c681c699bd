import basicAuth from '@fastify/basic-auth';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '@switchboard/config';
import { safeEqual } from '@switchboard/privacy';
import { LoginLimiter } from '../login-limiter.js';
import type { ApiResources } from '../resources.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The Basic-auth user of an ops request (what the audit log records as the actor). */
    opsUser?: string;
  }
}

/**
 * HTTP Basic auth (RFC 7617) as one onRequest hook over the scope it is registered in (the ops API
 * and /metrics). Credentials are compared in constant time; wrong ones go to the brute-force
 * limiter (login-limiter.ts), which may refuse a client with 429 before its password is looked at.
 * The client is `request.ip`: the address TRUST_PROXY's proxies report, not the proxy's own. A
 * request without credentials is a challenge, not a failure: browsers send one before they answer
 * the 401 with the password. Nothing here logs a header or a credential.
 */
async function opsAuth(app: FastifyInstance, opts: { config: Config; resources: ApiResources }): Promise<void> {
  const { config, resources } = opts;
  const { user, pass } = config.admin;
  const limiter = new LoginLimiter(resources.redis, config.queuePrefix);

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
  const tooMany = (reply: FastifyReply, retryAfterS: number) =>
    reply
      .code(429)
      .header('retry-after', String(retryAfterS))
      .send({ error: 'rate_limited', message: 'too many failed logins; try again later' });

  app.addHook('onRequest', async (request, reply) => {
    if (request.headers.authorization === undefined) {
      await checkCredentials(request, reply);
      // basic-auth has already set WWW-Authenticate on the reply.
      return reply.code(401).send({ error: 'unauthorized', message: 'authentication required' });
    }
    const verdict = await limiter.before(request.ip);
    if (verdict.kind === 'locked') return tooMany(reply, verdict.retryAfterS);
    const err = await checkCredentials(request, reply);
    if (!err) return limiter.succeeded(verdict.client, verdict.known);
    const { overLimit, retryAfterS } = await limiter.failed(verdict.client);
    request.log.warn({ client: verdict.client }, 'ops login failed');
    if (overLimit) return tooMany(reply, retryAfterS);
    return reply.code(401).send({ error: 'unauthorized', message: 'authentication required' });
  });
}

export const opsAuthPlugin = fp(opsAuth, { name: 'switchboard-ops-auth' });
