// Fakes nothing: the real API app (Fastify inject) with its real security plugin on the real Redis (rate-limit counters) and PostgreSQL.
import t, { type Test } from 'tap';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { messengerText, signedRequest } from '../helpers/sign.js';

type Inject = InjectOptions;

function assertSecurityHeaders(
  t: Test,
  res: { headers: Record<string, unknown>; statusCode: number },
  what: string,
  production = false,
) {
  t.equal(res.headers['x-content-type-options'], 'nosniff', `${what}: nosniff`);
  t.equal(res.headers['x-frame-options'], 'DENY', `${what}: X-Frame-Options DENY`);
  t.equal(res.headers['referrer-policy'], 'no-referrer', `${what}: Referrer-Policy`);
  t.ok(res.headers['content-security-policy'], `${what}: a CSP`);
  t.match(res.headers['x-request-id'], /^[A-Za-z0-9._-]{1,64}$/, `${what}: x-request-id`);
  if (production) t.match(res.headers['strict-transport-security'], /max-age=\d{8,}/, `${what}: HSTS in production`);
  else t.notOk(res.headers['strict-transport-security'], `${what}: no HSTS outside production`);
}

/** An authenticated ops request (each test app has its own credentials). */
function opsStatus(ctx: TestApp): Inject {
  return {
    url: '/ops/ai/status',
    headers: {
      authorization: `Basic ${Buffer.from(`${ctx.env.ADMIN_USER}:${ctx.env.ADMIN_PASS}`).toString('base64')}`,
    },
  };
}

function sampleRequests(ctx: TestApp): Array<[string, Inject]> {
  const secret = ctx.env.FACEBOOK_APP_SECRET as string;
  const signed = signedRequest(
    secret,
    messengerText({
      pageId: '100000000000001',
      senderId: '200000000000001',
      mid: `m_test-edge-${Math.random()}`,
      text: 'hi',
    }),
  );
  const https = { 'x-forwarded-proto': 'https' };
  return [
    ['health', { method: 'GET', url: '/health' }],
    ['404', { method: 'GET', url: '/nope' }],
    [
      'handshake',
      {
        method: 'GET',
        url: `/webhook?hub.mode=subscribe&hub.verify_token=${ctx.env.FACEBOOK_VERIFY_TOKEN}&hub.challenge=7`,
      },
    ],
    ['handshake refused', { method: 'GET', url: '/webhook?hub.mode=subscribe&hub.verify_token=x&hub.challenge=7' }],
    [
      'event accepted',
      { method: 'POST', url: '/webhook', headers: { ...signed.headers, ...https }, payload: signed.body },
    ],
    [
      'https refused',
      { method: 'POST', url: '/webhook', remoteAddress: '198.51.100.7', headers: signed.headers, payload: signed.body },
    ],
    [
      'bad signature',
      {
        method: 'POST',
        url: '/webhook',
        headers: { ...signed.headers, ...https, 'x-hub-signature-256': 'sha256=00' },
        payload: signed.body,
      },
    ],
    ['415', { method: 'POST', url: '/webhook', headers: { ...https, 'content-type': 'text/plain' }, payload: 'x' }],
    [
      '413',
      {
        method: 'POST',
        url: '/webhook',
        headers: { ...https, 'content-type': 'application/json' },
        payload: 'x'.repeat(5 * 1024 * 1024),
      },
    ],
    ['method not allowed', { method: 'DELETE', url: '/webhook' }],
    // Refused by the router itself, before any route or hook runs.
    ['malformed URL', { method: 'GET', url: '/health%' }],
    ['malformed URL under /ops', { method: 'GET', url: '/ops/events/%E0%A4%A' }],
  ];
}

t.test('security headers and a request id on every response (development/test: no HSTS)', async (t) => {
  const ctx = await buildTestApp(t, 'edge', { REQUIRE_HTTPS: 'true' });
  for (const [what, req] of sampleRequests(ctx)) {
    const res = await ctx.app.inject(req);
    t.ok(res.statusCode < 500, `${what}: ${res.statusCode}`);
    assertSecurityHeaders(t, res, what);
  }
  const bad = await ctx.app.inject({ url: '/webhook/%zz' });
  t.equal(bad.statusCode, 400);
  t.same(
    bad.json(),
    { error: 'invalid_request', message: 'the URL is not valid' },
    "the error handler's shape, not Fastify's",
  );
  const long = await ctx.app.inject({ ...opsStatus(ctx), url: `/ops/events/${'a'.repeat(200)}` });
  t.equal(long.statusCode, 414, 'an over-long path parameter');
  assertSecurityHeaders(t, long, '414');
});

t.test('HSTS in production', async (t) => {
  const ctx = await buildTestApp(t, 'edge', { NODE_ENV: 'production', REQUIRE_HTTPS: undefined });
  t.equal(ctx.config.isProduction, true);
  for (const [what, req] of sampleRequests(ctx)) {
    const res = await ctx.app.inject(req);
    assertSecurityHeaders(t, res, what, true);
  }
  const health = await ctx.app.inject('/health');
  t.equal(health.json().security.https_enforced, true, 'REQUIRE_HTTPS defaults to true in production');
});

t.test("webhook responses carry the compact set for machines; pages for people carry helmet's full set", async (t) => {
  const ctx = await buildTestApp(t, 'edge', { NODE_ENV: 'production', REQUIRE_HTTPS: 'true' });
  const webhook = new Set([
    'handshake',
    'handshake refused',
    'event accepted',
    'https refused',
    'bad signature',
    '415',
    '413',
  ]);
  for (const [what, req] of sampleRequests(ctx)) {
    const res = await ctx.app.inject(req);
    if (webhook.has(what)) {
      t.equal(
        res.headers['content-security-policy'],
        "default-src 'none'; frame-ancestors 'none'",
        `${what}: a CSP that allows nothing`,
      );
      t.notOk(res.headers['cross-origin-opener-policy'], `${what}: no browser-page headers`);
      t.notOk(res.headers['x-dns-prefetch-control'], `${what}: no browser-page headers`);
    } else {
      t.match(res.headers['content-security-policy'], /default-src 'self'/, `${what}: the dashboard's CSP`);
      t.equal(res.headers['cross-origin-opener-policy'], 'same-origin', `${what}: helmet's full set`);
    }
  }
});

t.test('x-request-id: a sane caller id is echoed, anything else replaced', async (t) => {
  const ctx = await buildTestApp(t, 'edge');
  const echoed = await ctx.app.inject({ url: '/health', headers: { 'x-request-id': 'lb-7f3a.9_x-1' } });
  t.equal(echoed.headers['x-request-id'], 'lb-7f3a.9_x-1');
  for (const given of ['has space', 'a'.repeat(65), '<script>', 'ünï', 'a,b', '']) {
    const res = await ctx.app.inject({ url: '/health', headers: { 'x-request-id': given } });
    t.not(res.headers['x-request-id'], given, `replaced: ${JSON.stringify(given.slice(0, 10))}`);
    t.match(res.headers['x-request-id'], /^[0-9a-f-]{36}$/);
  }
  const a = await ctx.app.inject('/health');
  const b = await ctx.app.inject('/health');
  t.not(a.headers['x-request-id'], b.headers['x-request-id'], 'generated ids are unique');
  t.ok(
    ctx.logs.some((l) => JSON.parse(l).reqId === 'lb-7f3a.9_x-1'),
    'the echoed id is the log field',
  );
});

t.test('CORS is closed unless CORS_ORIGINS names origins', async (t) => {
  const closed = await buildTestApp(t, 'edge');
  const preflight = {
    method: 'OPTIONS' as const,
    url: '/health',
    headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
  };
  const res = await closed.app.inject(preflight);
  t.notOk(res.headers['access-control-allow-origin'], 'no preflight grant');
  const simple = await closed.app.inject({ url: '/health', headers: { origin: 'https://evil.example' } });
  t.notOk(simple.headers['access-control-allow-origin'], 'no grant on a simple request');

  const open = await buildTestApp(t, 'edge', { CORS_ORIGINS: 'https://ops.example.test' });
  const allowed = await open.app.inject({
    ...preflight,
    headers: { ...preflight.headers, origin: 'https://ops.example.test' },
  });
  t.equal(allowed.headers['access-control-allow-origin'], 'https://ops.example.test');
  const other = await open.app.inject(preflight);
  t.notOk(other.headers['access-control-allow-origin'], 'an origin not listed gets nothing');
  // PUT /ops/pages/:pageId is part of the ops API an allowed origin may use.
  const put = await open.app.inject({
    method: 'OPTIONS',
    url: '/ops/pages/100000000000001',
    headers: {
      origin: 'https://ops.example.test',
      'access-control-request-method': 'PUT',
      'access-control-request-headers': 'authorization,content-type',
    },
  });
  t.equal(put.headers['access-control-allow-origin'], 'https://ops.example.test');
  t.match(
    String(put.headers['access-control-allow-methods']).split(','),
    ['GET', 'HEAD', 'POST', 'PUT'],
    'PUT is allowed',
  );
});

t.test("the dashboard's CSP upgrades its requests to https only in production", async (t) => {
  // Over plain http on a LAN or staging address, an upgrade sends the dashboard's fetches to an
  // https port nobody listens on: its kill switch and replay buttons stopped working.
  const development = await buildTestApp(t, 'edge');
  t.notMatch((await development.app.inject('/health')).headers['content-security-policy'], /upgrade-insecure-requests/);
  const production = await buildTestApp(t, 'edge', { NODE_ENV: 'production' });
  t.match((await production.app.inject('/health')).headers['content-security-policy'], /upgrade-insecure-requests/);
});

t.test('rate limit: Redis-backed, everything but the webhook and health', async (t) => {
  const ctx = await buildTestApp(t, 'edge');
  const secret = ctx.env.FACEBOOK_APP_SECRET as string;
  const statuses = new Map<number, number>();
  for (let i = 0; i < 400; i++) {
    const req = signedRequest(
      secret,
      messengerText({ pageId: '100000000000001', senderId: '200000000000001', mid: `m_test-rl-${i}`, text: 'x' }),
    );
    const res = await ctx.app.inject({
      method: 'POST',
      url: i % 2 ? '/webhook/messenger' : '/webhook',
      headers: req.headers,
      payload: req.body,
    });
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
  }
  for (let i = 0; i < 50; i++) {
    const res = await ctx.app.inject({
      url: `/webhook?hub.mode=subscribe&hub.verify_token=${ctx.env.FACEBOOK_VERIFY_TOKEN}&hub.challenge=${i}`,
    });
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
  }
  t.same(Object.fromEntries(statuses), { 200: 450 }, '450 rapid webhook calls: never 429');

  // Health is for probes and monitors, which may share one address: never 429.
  const health = new Map<number, number>();
  for (let i = 0; i < 320; i++) {
    const res = await ctx.app.inject('/health');
    health.set(res.statusCode, (health.get(res.statusCode) ?? 0) + 1);
  }
  t.same(Object.fromEntries(health), { 200: 320 }, '320 rapid health checks: never 429');

  const ops = opsStatus(ctx);
  let limited: LightMyRequestResponse | undefined;
  let served = 0;
  for (let i = 0; i < 320 && !limited; i++) {
    const res = await ctx.app.inject(ops);
    if (res.statusCode === 429) limited = res;
    else served++;
  }
  t.equal(served, 300, 'the ops API is served 300 times a minute');
  t.equal(limited?.statusCode, 429, 'then 429');
  t.ok(limited?.headers['retry-after'], 'with Retry-After');
  t.equal(limited?.json().error, 'rate_limited');
  if (limited) assertSecurityHeaders(t, limited, '429');

  // An IPv6 client is its /64: a fresh address per request does not buy a fresh budget.
  const v6 = (n: number) => ({ ...ops, remoteAddress: `2001:db8:7:1::${n.toString(16)}` });
  const fromSubnet: number[] = [];
  for (let i = 1; i <= 301; i++) fromSubnet.push((await ctx.app.inject(v6(i))).statusCode);
  t.equal(fromSubnet.filter((s) => s === 200).length, 300, 'one /64 is served 300 times a minute');
  t.equal(fromSubnet.at(-1), 429, 'then 429, whichever of its addresses asks');
  t.equal(
    (await ctx.app.inject({ ...ops, remoteAddress: '2001:db8:7:2::1' })).statusCode,
    200,
    'a neighbouring /64 has its own budget',
  );

  // The count lives in Redis, so another replica sharing the prefix sees the same budget.
  const replica = await buildTestApp(
    t,
    'edge',
    { FACEBOOK_APP_SECRET: secret },
    { databaseUrl: ctx.databaseUrl, prefix: ctx.prefix },
  );
  const fromReplica = await replica.app.inject(opsStatus(replica));
  t.equal(
    fromReplica.statusCode,
    429,
    `another replica enforces the same limit (${fromReplica.statusCode} ${fromReplica.body.slice(0, 80)})`,
  );
});
