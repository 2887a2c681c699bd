// Fakes nothing: the real API app (Fastify inject, client addresses set per request) against real PostgreSQL and Redis; the Redis outage is a private redis-server that is paused, then killed.
import { Redis } from 'ioredis';
import t from 'tap';
import {
  AUTH_FAILURE_LIMIT,
  AUTH_GLOBAL_FAILURE_LIMIT,
  authFailureKey,
  authKnownClientKey,
} from '../../apps/api/src/login-limiter.js';
import { buildTestApp } from '../helpers/app.js';
import { startPrivateRedis } from '../helpers/private-redis.js';

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
    const anonymous = await app.inject({
      method: route.method,
      url: route.url,
      ...(route.body ? { payload: route.body } : {}),
    });
    t.equal(anonymous.statusCode, 401, `${route.method} ${route.url} without credentials → 401`);
    t.match(
      anonymous.headers['www-authenticate'],
      /^Basic realm="Switchboard ops"/,
      `${route.url} challenges with Basic`,
    );
    t.same(anonymous.json(), { error: 'unauthorized', message: 'authentication required' });
  }
  t.equal(
    await resources.redis.get(authFailureKey(prefix, '127.0.0.1')),
    null,
    'a request without credentials is a challenge, not a failure',
  );

  const ok = await app.inject({ method: 'GET', url: '/ops/ai/status', headers: { authorization: basic(user, pass) } });
  t.equal(ok.statusCode, 200, 'right credentials pass');

  const wrongUser = await app.inject({ method: 'GET', url: '/ops', headers: { authorization: basic('root', pass) } });
  t.equal(wrongUser.statusCode, 401, 'wrong user → 401');
  const garbage = await app.inject({ method: 'GET', url: '/ops', headers: { authorization: 'Basic !!!' } });
  t.equal(garbage.statusCode, 401, 'malformed header → 401');
  t.ok(garbage.headers['www-authenticate']);

  // 127.0.0.1 has logged in: a known client. A guesser behind the same address (a shared NAT)
  // gets 429 for wrong passwords past the limit, and the operator still gets in.
  for (let i = 2; i < AUTH_FAILURE_LIMIT; i++) {
    const res = await app.inject({ method: 'GET', url: '/ops', headers: { authorization: basic(user, `wrong-${i}`) } });
    t.equal(res.statusCode, 401);
  }
  const overLimit = await app.inject({
    method: 'GET',
    url: '/ops',
    headers: { authorization: basic(user, 'wrong-again') },
  });
  t.equal(overLimit.statusCode, 429, `past ${AUTH_FAILURE_LIMIT} failures a wrong password gets 429`);
  const retryAfter = Number(overLimit.headers['retry-after']);
  t.ok(retryAfter > 0 && retryAfter <= 900, `Retry-After ${retryAfter}s within the 15-minute window`);
  const admitted = await app.inject({
    method: 'GET',
    url: '/ops/ai/status',
    headers: { authorization: basic(user, pass) },
  });
  t.equal(admitted.statusCode, 200, 'the right password of a client that logged in before is still admitted');
  t.equal(
    Number(await resources.redis.get(authFailureKey(prefix, '127.0.0.1'))),
    AUTH_FAILURE_LIMIT + 1,
    'and the wrong ones were all counted',
  );
  const ttl = await resources.redis.ttl(authFailureKey(prefix, '127.0.0.1'));
  t.ok(ttl > 0 && ttl <= 900, 'failure counter expires');
  t.ok(
    (await resources.redis.ttl(authKnownClientKey(prefix, '127.0.0.1'))) > 0,
    'a known client is remembered for a limited time',
  );

  // A client that never logged in is refused unheard once past the limit: its guesses stop there.
  const stranger = '198.51.100.20';
  for (let i = 0; i < AUTH_FAILURE_LIMIT; i++) {
    const res = await app.inject({
      method: 'GET',
      url: '/ops',
      remoteAddress: stranger,
      headers: { authorization: basic(user, `guess-${i}`) },
    });
    t.equal(res.statusCode, 401);
  }
  const locked = await app.inject({
    method: 'GET',
    url: '/ops',
    remoteAddress: stranger,
    headers: { authorization: basic(user, pass) },
  });
  t.equal(
    locked.statusCode,
    429,
    'an unknown client past the limit: 429, even for the right password (it is not checked)',
  );
  t.ok(Number(locked.headers['retry-after']) > 0);
  const metricsLocked = await app.inject({
    method: 'GET',
    url: '/metrics',
    remoteAddress: stranger,
    headers: { authorization: basic(user, pass) },
  });
  t.equal(metricsLocked.statusCode, 429, '/metrics shares the limit');
  const mapped = await app.inject({
    method: 'GET',
    url: '/ops',
    remoteAddress: `::ffff:${stranger}`,
    headers: { authorization: basic(user, pass) },
  });
  t.equal(mapped.statusCode, 429, 'the same address written as IPv4-mapped IPv6 is the same client');

  const otherClient = await app.inject({
    method: 'GET',
    url: '/ops/ai/status',
    remoteAddress: '10.1.2.3',
    headers: { authorization: basic(user, pass) },
  });
  t.equal(otherClient.statusCode, 200, 'another client address is not blocked');

  const everything = logs.join('\n');
  t.notOk(everything.includes(pass), 'the password is never logged');
  t.notOk(
    everything.includes(Buffer.from(`${user}:${pass}`).toString('base64')),
    'the Authorization header is never logged',
  );
  t.notOk(everything.includes('wrong-3'), 'wrong passwords are never logged either');
});

t.test('IPv6: every address of one /64 is one client', async (t) => {
  const { app, env } = await buildTestApp(t, 'ops-auth');
  const user = env.ADMIN_USER as string;
  for (let i = 1; i <= AUTH_FAILURE_LIMIT; i++) {
    const res = await app.inject({
      method: 'GET',
      url: '/ops',
      remoteAddress: `2001:db8:1:2::${i.toString(16)}`,
      headers: { authorization: basic(user, `guess-${i}`) },
    });
    t.equal(res.statusCode, 401, `address ${i} of the /64`);
  }
  const next = await app.inject({
    method: 'GET',
    url: '/ops',
    remoteAddress: '2001:db8:1:2:ffff:ffff:ffff:fff0',
    headers: { authorization: basic(user, env.ADMIN_PASS as string) },
  });
  t.equal(next.statusCode, 429, 'one more address of the same /64 is locked with the others');
  const neighbour = await app.inject({
    method: 'GET',
    url: '/ops/ai/status',
    remoteAddress: '2001:db8:1:3::1',
    headers: { authorization: basic(user, env.ADMIN_PASS as string) },
  });
  t.equal(neighbour.statusCode, 200, 'the next /64 is another client');
});

t.test('a global failure budget: many clients guessing lock every unknown client, never a known one', async (t) => {
  const { app, env } = await buildTestApp(t, 'ops-auth');
  const user = env.ADMIN_USER as string;
  const pass = env.ADMIN_PASS as string;
  const operator = '192.0.2.200';
  t.equal(
    (
      await app.inject({
        url: '/ops/ai/status',
        remoteAddress: operator,
        headers: { authorization: basic(user, pass) },
      })
    ).statusCode,
    200,
  );
  for (let i = 0; i < AUTH_GLOBAL_FAILURE_LIMIT; i++) {
    const address = `198.18.${Math.floor(i / 200)}.${i % 200}`;
    const res = await app.inject({
      url: '/ops',
      remoteAddress: address,
      headers: { authorization: basic(user, `guess-${i}`) },
    });
    if (res.statusCode !== 401) t.fail(`guess ${i}: ${res.statusCode}`);
  }
  const fresh = await app.inject({
    url: '/ops',
    remoteAddress: '203.0.113.9',
    headers: { authorization: basic(user, pass) },
  });
  t.equal(
    fresh.statusCode,
    429,
    `past ${AUTH_GLOBAL_FAILURE_LIMIT} failures in all, a client with no failure of its own is refused unheard`,
  );
  const known = await app.inject({
    url: '/ops/ai/status',
    remoteAddress: operator,
    headers: { authorization: basic(user, pass) },
  });
  t.equal(known.statusCode, 200, 'an operator who logged in before still gets in');
});

t.test('Redis hanging or down: the limiter answers within its bound and keeps counting in the process', async (t) => {
  const redis = await startPrivateRedis(t);
  const { app, env } = await buildTestApp(t, 'ops-auth', { REDIS_URL: redis.url });
  const user = env.ADMIN_USER as string;
  const pass = env.ADMIN_PASS as string;
  await app.ready();
  t.equal(
    (await app.inject({ url: '/ops/audit', headers: { authorization: basic(user, pass) } })).statusCode,
    200,
    'the operator logs in while Redis is up',
  );

  const admin = new Redis(redis.url);
  t.teardown(() => admin.disconnect());
  // Every client's commands now wait, as on a Redis that hangs.
  await admin.call('CLIENT', 'PAUSE', '30000', 'ALL');
  const guess = async (address: string, i: number) => {
    const started = performance.now();
    const res = await app.inject({
      url: '/ops',
      remoteAddress: address,
      headers: { authorization: basic(user, `guess-${i}`) },
    });
    return { status: res.statusCode, ms: performance.now() - started };
  };
  for (let i = 0; i < AUTH_FAILURE_LIMIT; i++) {
    const { status, ms } = await guess('198.51.100.50', i);
    t.equal(status, 401, `guess ${i} while Redis hangs: 401`);
    t.ok(ms < 5000, `answered in ${Math.round(ms)} ms, not held by Redis`);
  }
  const locked = await app.inject({
    url: '/ops',
    remoteAddress: '198.51.100.50',
    headers: { authorization: basic(user, pass) },
  });
  t.equal(locked.statusCode, 429, 'counted in the process while Redis hangs: locked');
  const operator = await app.inject({ url: '/ops/audit', headers: { authorization: basic(user, pass) } });
  t.equal(operator.statusCode, 200, 'the operator (known to this process) still gets in');

  await redis.stop();
  for (let i = 0; i < AUTH_FAILURE_LIMIT; i++) t.equal((await guess('198.51.100.51', i)).status, 401);
  t.equal(
    (await app.inject({ url: '/ops', remoteAddress: '198.51.100.51', headers: { authorization: basic(user, pass) } }))
      .statusCode,
    429,
    'and while Redis is down',
  );
  // Up again for the teardown, which removes the test's keys.
  await redis.start();
});
