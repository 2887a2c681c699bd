// Fakes nothing: the real API app (Fastify inject) against real PostgreSQL and Redis.
import t from 'tap';
import { AUTH_FAILURE_LIMIT, authFailureKey } from '../../apps/api/src/plugins/ops-auth.js';
import { buildTestApp } from '../helpers/app.js';

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

/** Every route of the ops scope, each must refuse an anonymous caller. */
const ROUTES: Array<{ method: 'GET' | 'POST'; url: string; body?: unknown }> = [
  { method: 'GET', url: '/ops' },
  { method: 'GET', url: '/ops/ai/status' },
  { method: 'POST', url: '/ops/ai/toggle', body: { enabled: false } },
  { method: 'POST', url: '/ops/ai/ping' },
  { method: 'GET', url: '/ops/telemetry' },
  { method: 'GET', url: '/ops/events' },
  { method: 'GET', url: '/ops/events/0123456789abcdef0123456789abcdef' },
  { method: 'GET', url: '/ops/dlq' },
  { method: 'POST', url: '/ops/dlq/outbound:1/retry' },
  { method: 'POST', url: '/ops/dlq/retry', body: { dry_run: true } },
  { method: 'GET', url: '/ops/audit' },
  { method: 'GET', url: '/ops/dashboard' },
  { method: 'GET', url: '/metrics' },
];

t.test('ops auth', async (t) => {
  const { app, env, resources, prefix, logs } = await buildTestApp(t, 'ops-auth');
  const user = env.ADMIN_USER as string;
  const pass = env.ADMIN_PASS as string;

  for (const route of ROUTES) {
    const anonymous = await app.inject({ method: route.method, url: route.url, ...(route.body ? { payload: route.body } : {}) });
    t.equal(anonymous.statusCode, 401, `${route.method} ${route.url} without credentials → 401`);
    t.match(anonymous.headers['www-authenticate'], /^Basic realm="Switchboard ops"/, `${route.url} challenges with Basic`);
    t.same(anonymous.json(), { error: 'unauthorized', message: 'authentication required' });
  }
  t.equal(await resources.redis.get(authFailureKey(prefix, '127.0.0.1')), null, 'a request without credentials is a challenge, not a failure');

  const ok = await app.inject({ method: 'GET', url: '/ops/ai/status', headers: { authorization: basic(user, pass) } });
  t.equal(ok.statusCode, 200, 'right credentials pass');

  const wrongUser = await app.inject({ method: 'GET', url: '/ops', headers: { authorization: basic('root', pass) } });
  t.equal(wrongUser.statusCode, 401, 'wrong user → 401');
  const garbage = await app.inject({ method: 'GET', url: '/ops', headers: { authorization: 'Basic !!!' } });
  t.equal(garbage.statusCode, 401, 'malformed header → 401');
  t.ok(garbage.headers['www-authenticate']);

  // Another client is not affected by this one's failures.
  for (let i = 2; i < AUTH_FAILURE_LIMIT; i++) {
    const res = await app.inject({ method: 'GET', url: '/ops', headers: { authorization: basic(user, `wrong-${i}`) } });
    t.equal(res.statusCode, 401);
  }
  const blocked = await app.inject({ method: 'GET', url: '/ops', headers: { authorization: basic(user, pass) } });
  t.equal(blocked.statusCode, 429, `after ${AUTH_FAILURE_LIMIT} failures even the right password is refused`);
  const retryAfter = Number(blocked.headers['retry-after']);
  t.ok(retryAfter > 0 && retryAfter <= 900, `Retry-After ${retryAfter}s within the 15-minute window`);
  const ttl = await resources.redis.ttl(authFailureKey(prefix, '127.0.0.1'));
  t.ok(ttl > 0 && ttl <= 900, 'failure counter expires');
  const metricsBlocked = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: basic(user, pass) } });
  t.equal(metricsBlocked.statusCode, 429, '/metrics shares the limit');

  const otherClient = await app.inject({ method: 'GET', url: '/ops/ai/status', remoteAddress: '10.1.2.3', headers: { authorization: basic(user, pass) } });
  t.equal(otherClient.statusCode, 200, 'another client address is not blocked');

  const everything = logs.join('\n');
  t.notOk(everything.includes(pass), 'the password is never logged');
  t.notOk(everything.includes(Buffer.from(`${user}:${pass}`).toString('base64')), 'the Authorization header is never logged');
  t.notOk(everything.includes('wrong-3'), 'wrong passwords are never logged either');
});
