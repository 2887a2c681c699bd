// Fakes nothing: the real API app (Fastify inject) with a private redis-server that is really stopped, and a PostgreSQL URL on a closed loopback port (unreachable); the other store is the real one.
import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { freePort } from '../helpers/processes.js';
import { startPrivateRedis } from '../helpers/private-redis.js';

const basic = (env: Record<string, string>) => ({
  authorization: `Basic ${Buffer.from(`${env.ADMIN_USER}:${env.ADMIN_PASS}`).toString('base64')}`,
});

/** The ops routes, reads and writes, that need Redis, PostgreSQL or both. */
const ROUTES: Array<{ method: 'GET' | 'POST' | 'PUT'; url: string; payload?: unknown }> = [
  { method: 'GET', url: '/ops' },
  { method: 'GET', url: '/ops/ai/status' },
  { method: 'POST', url: '/ops/ai/toggle', payload: { enabled: false } },
  { method: 'GET', url: '/ops/telemetry' },
  { method: 'GET', url: '/ops/events' },
  { method: 'GET', url: '/ops/events/0123456789abcdef0123456789abcdef' },
  { method: 'GET', url: '/ops/dlq' },
  { method: 'POST', url: '/ops/dlq/outbound:1/retry' },
  { method: 'POST', url: '/ops/dlq/retry', payload: { dry_run: true } },
  { method: 'GET', url: '/ops/audit' },
  { method: 'GET', url: '/ops/pages' },
  {
    method: 'PUT',
    url: '/ops/pages/100000000000001',
    payload: { access_token: 'EAAB-outage-token', channel: 'messenger' },
  },
  { method: 'GET', url: '/ops/token-refresh-status' },
  { method: 'POST', url: '/ops/tokens/check' },
  { method: 'POST', url: '/ops/ai/ping' },
  { method: 'GET', url: '/ops/dashboard' },
  { method: 'GET', url: '/ops/stats/messages?range=7d' },
  { method: 'GET', url: '/metrics' },
];

t.test('Redis down: the ops API answers 503 redis_unavailable, never 500', async (t) => {
  const redis = await startPrivateRedis(t);
  const ctx = await buildTestApp(t, 'ops-outage', { REDIS_URL: redis.url });
  await ctx.app.ready();
  t.equal(
    (await ctx.app.inject({ url: '/ops/ai/status', headers: basic(ctx.env) })).statusCode,
    200,
    'served while Redis is up',
  );

  await redis.stop();
  for (const route of ROUTES) {
    const res = await ctx.app.inject({
      method: route.method,
      url: route.url,
      headers: basic(ctx.env),
      ...(route.payload ? { payload: route.payload } : {}),
    });
    const what = `${route.method} ${route.url}`;
    t.not(res.statusCode, 500, `${what}: not 500`);
    if (res.statusCode >= 500) {
      t.equal(res.statusCode, 503, `${what}: 503`);
      t.same(
        res.json(),
        { error: 'redis_unavailable', message: 'Redis is unreachable; try again later' },
        `${what}: says which store`,
      );
      t.ok(res.headers['retry-after'], `${what}: with Retry-After`);
    }
  }
  const status = await ctx.app.inject({ url: '/ops/ai/status', headers: basic(ctx.env) });
  t.equal(status.statusCode, 503, 'a route that reads Redis: 503');
  t.equal((await ctx.app.inject('/health')).statusCode, 503, '/health agrees');
  t.notOk(ctx.logs.join('\n').includes(ctx.env.ADMIN_PASS as string));

  await redis.start();
});

t.test('PostgreSQL unreachable: the ops API answers 503 database_unavailable, never 500', async (t) => {
  const port = await freePort();
  const ctx = await buildTestApp(t, 'ops-outage', { DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/nothing` });
  for (const route of ROUTES) {
    const res = await ctx.app.inject({
      method: route.method,
      url: route.url,
      headers: basic(ctx.env),
      ...(route.payload ? { payload: route.payload } : {}),
    });
    const what = `${route.method} ${route.url}`;
    t.not(res.statusCode, 500, `${what}: not 500`);
    if (res.statusCode >= 500) {
      t.equal(res.statusCode, 503, `${what}: 503`);
      t.same(
        res.json(),
        { error: 'database_unavailable', message: 'PostgreSQL is unreachable; try again later' },
        `${what}: says which store`,
      );
      t.notOk(res.body.includes(String(port)), `${what}: no connection details`);
    }
  }
  const events = await ctx.app.inject({ url: '/ops/events', headers: basic(ctx.env) });
  t.equal(events.statusCode, 503, 'a route that reads PostgreSQL: 503');
});
