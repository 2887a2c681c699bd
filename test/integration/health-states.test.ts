// Fakes nothing: the real API app (Fastify inject) pings the real PostgreSQL and Redis; "unreachable" is a closed loopback port.
import t, { type Test } from 'tap';
import { countersKey } from '@switchboard/observability';
import { buildTestApp } from '../helpers/app.js';
import { freePort } from '../helpers/processes.js';
import { messengerText, signedRequest } from '../helpers/sign.js';

function assertShape(t: Test, body: Record<string, unknown>) {
  t.match(body, {
    status: /^(ok|degraded|down)$/,
    database: /^(connected|error)$/,
    redis: /^(connected|error)$/,
    queue_depth: Number,
    uptime_s: Number,
    security: { https_enforced: Boolean, signature_verification: 'mandatory', token_monitoring: 'enabled' },
    ai: { enabled: Boolean },
  });
  t.ok(Number.isInteger(body.queue_depth) && (body.queue_depth as number) >= 0, 'queue_depth is a count');
}

t.test('ok: everything configured and reachable; queue depth counts waiting events', async (t) => {
  const ctx = await buildTestApp(t, 'health', { REQUIRE_HTTPS: 'true' });
  const res = await ctx.app.inject('/health');
  t.equal(res.statusCode, 200);
  const body = res.json();
  assertShape(t, body);
  t.equal(body.status, 'ok');
  t.equal(body.database, 'connected');
  t.equal(body.redis, 'connected');
  t.equal(body.queue_depth, 0);
  t.equal(body.security.https_enforced, true);
  t.equal(body.ai.enabled, true);
  for (const name of ['FACEBOOK_APP_SECRET', 'FACEBOOK_VERIFY_TOKEN', 'ADMIN_PASS', 'PSID_HASH_SECRET', 'ENCRYPTION_KEY']) {
    t.notOk(res.body.includes(ctx.env[name] as string), `no ${name} in /health`);
  }

  const req = signedRequest(ctx.env.FACEBOOK_APP_SECRET as string, messengerText({ pageId: '100000000000001', senderId: '200000000000001', mid: 'm_test-health-1', text: 'x' }));
  await ctx.app.inject({ method: 'POST', url: '/webhook', headers: { ...req.headers, 'x-forwarded-proto': 'https' }, payload: req.body });
  t.equal((await ctx.app.inject('/health')).json().queue_depth, 1);
  await ctx.resources.killSwitch.set(false);
  t.equal((await ctx.app.inject('/health')).json().ai.enabled, false, 'the runtime kill switch, not AI_ENABLED');
});

t.test('degraded (200): no app id; a Page token marked invalid; AI errors above 10 %', async (t) => {
  const noAppId = await buildTestApp(t, 'health', { FACEBOOK_APP_ID: undefined });
  const res = await noAppId.app.inject('/health');
  t.equal(res.statusCode, 200);
  t.equal(res.json().status, 'degraded');

  const ctx = await buildTestApp(t, 'health');
  t.equal((await ctx.app.inject('/health')).json().status, 'ok');
  await ctx.resources.pages.register('100000000000001', 'messenger', 'EAAB-test-token');
  t.equal((await ctx.app.inject('/health')).json().status, 'ok', 'a valid token');
  await ctx.resources.pages.markInvalid('100000000000001', 'messenger', 'graph code 190');
  const invalid = await ctx.app.inject('/health');
  t.equal(invalid.statusCode, 200);
  t.equal(invalid.json().status, 'degraded', 'the Page token is invalid');
  t.notOk(invalid.body.includes('EAAB-test-token'));

  const ai = await buildTestApp(t, 'health');
  const key = countersKey(ai.prefix);
  await ai.app.ready();
  await ai.resources.redis.hset(key, 'ai_calls', 100, 'ai_errors', 10);
  t.equal((await ai.app.inject('/health')).json().status, 'ok', '10 % errors is not above 10 %');
  await ai.resources.redis.hset(key, 'ai_errors', 11);
  t.equal((await ai.app.inject('/health')).json().status, 'degraded', '11 % is');
});

t.test('down (503): PostgreSQL unreachable', async (t) => {
  const port = await freePort();
  const ctx = await buildTestApp(t, 'health', { DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/nothing` });
  const started = performance.now();
  const res = await ctx.app.inject('/health');
  const ms = performance.now() - started;
  t.equal(res.statusCode, 503);
  assertShape(t, res.json());
  t.equal(res.json().status, 'down');
  t.equal(res.json().database, 'error');
  t.equal(res.json().redis, 'connected');
  t.ok(ms < 2500, `answered in ${Math.round(ms)} ms (short ping timeouts)`);
  t.notOk(res.body.includes(String(port)), 'no connection details');
});

t.test('down (503): Redis unreachable', async (t) => {
  const port = await freePort();
  const ctx = await buildTestApp(t, 'health', { REDIS_URL: `redis://127.0.0.1:${port}` });
  const started = performance.now();
  const res = await ctx.app.inject('/health');
  const ms = performance.now() - started;
  t.equal(res.statusCode, 503);
  assertShape(t, res.json());
  t.equal(res.json().status, 'down');
  t.equal(res.json().redis, 'error');
  t.equal(res.json().database, 'connected');
  t.ok(ms < 2500, `answered in ${Math.round(ms)} ms`);
  const req = signedRequest(ctx.env.FACEBOOK_APP_SECRET as string, messengerText({ pageId: '1', senderId: '2', mid: 'm_test-health-r', text: 'x' }));
  const post = await ctx.app.inject({ method: 'POST', url: '/webhook', headers: req.headers, payload: req.body });
  t.equal(post.statusCode, 503, 'and webhooks are refused with 503, not 200 or 500');
});
