// Fakes nothing: the real API app (Fastify inject) pings the real PostgreSQL and Redis; "unreachable" is a closed loopback port.
import t, { type Test } from 'tap';
import { countersKey, recentKey } from '@switchboard/observability';
import { AI_ERROR_WINDOW_MIN } from '../../apps/api/src/routes/health.js';
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
  for (const name of [
    'FACEBOOK_APP_SECRET',
    'FACEBOOK_VERIFY_TOKEN',
    'ADMIN_PASS',
    'PSID_HASH_SECRET',
    'ENCRYPTION_KEY',
  ]) {
    t.notOk(res.body.includes(ctx.env[name] as string), `no ${name} in /health`);
  }

  const req = signedRequest(
    ctx.env.FACEBOOK_APP_SECRET as string,
    messengerText({ pageId: '100000000000001', senderId: '200000000000001', mid: 'm_test-health-1', text: 'x' }),
  );
  await ctx.app.inject({
    method: 'POST',
    url: '/webhook',
    headers: { ...req.headers, 'x-forwarded-proto': 'https' },
    payload: req.body,
  });
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
  await ai.app.ready();
  const { counters } = ai.resources;
  const status = async () => (await ai.app.inject('/health')).json().status as string;
  // The counts as the workers write them: buffered, then flushed.
  counters.incr('ai_calls', 100);
  counters.incr('ai_errors', 10);
  await counters.flush();
  t.equal(await status(), 'ok', '10 % errors is not above 10 %');
  counters.incr('ai_errors', 1);
  await counters.flush();
  t.equal(await status(), 'degraded', '11 % is');
});

t.test('degraded on AI errors in the last minutes, whatever the history', async (t) => {
  const ai = await buildTestApp(t, 'health');
  const key = countersKey(ai.prefix);
  await ai.app.ready();
  const { counters, redis } = ai.resources;
  const status = async () => (await ai.app.inject('/health')).json() as { status: string; warnings: string[] };
  const minute = Math.floor(Date.now() / 60_000);
  // A long good history in the totals, and a bad hour long past.
  await redis.hset(key, 'ai_calls', 100_000, 'ai_errors', 0);
  await redis.hset(recentKey(key, minute - AI_ERROR_WINDOW_MIN - 5), 'ai_calls', 500, 'ai_errors', 500);
  t.equal((await status()).status, 'ok', 'errors outside the window do not count');

  // Now every call fails: an outage the totals (100 000 good calls) would hide.
  counters.incr('ai_calls', 9);
  counters.incr('ai_errors', 9);
  await counters.flush();
  t.equal((await status()).status, 'ok', 'nine calls say nothing yet');
  counters.incr('ai_calls', 1);
  counters.incr('ai_errors', 1);
  await counters.flush();
  const outage = await status();
  t.equal(outage.status, 'degraded', 'ten failed calls in the window are an outage');
  t.ok(outage.warnings.includes('ai_error_rate_high'));
  t.equal(Number(await redis.hget(key, 'ai_calls')), 100_010, 'the totals still count every call');
  const past = recentKey(key, minute - AI_ERROR_WINDOW_MIN - 5);
  const copies = (await redis.keys(`${key}:m:*`)).filter((k) => k !== past);
  t.ok(copies.length > 0, "the workers' counts are also kept per minute");
  for (const copy of copies) t.ok((await redis.ttl(copy)) > 0, `${copy} expires`);
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
  t.equal(res.json().ai.enabled, false, 'a switch that cannot be read counts as off (AI_ENABLED is true)');
  t.ok(ms < 2500, `answered in ${Math.round(ms)} ms`);
  const req = signedRequest(
    ctx.env.FACEBOOK_APP_SECRET as string,
    messengerText({ pageId: '1', senderId: '2', mid: 'm_test-health-r', text: 'x' }),
  );
  const post = await ctx.app.inject({ method: 'POST', url: '/webhook', headers: req.headers, payload: req.body });
  t.equal(post.statusCode, 503, 'and webhooks are refused with 503, not 200 or 500');
});
