// Fakes Meta's Graph API (a loopback HTTP server: debug_token, subscribed_apps and the Instagram
// token refresh): the real one is unreachable from tests. The API, PostgreSQL and Redis are real.
import t from 'tap';
import postgres from 'postgres';
import { GraphClient } from '@switchboard/meta';
import { buildTestApp } from '../helpers/app.js';
import { startFakeGraph } from '../helpers/fake-graph.js';

const APP_ID = '100000000000099';
const OTHER_APP = '100000000000555';
const APP_SECRET = 'test-app-secret-tokens-subs';
const DAY_S = 24 * 3600;
const nowS = () => Math.floor(Date.now() / 1000);

t.test('the watchdog restores dropped subscriptions; Instagram-Login tokens are refreshed near expiry', async (t) => {
  const graph = await startFakeGraph({ appSecret: APP_SECRET, appId: APP_ID });
  t.teardown(() => graph.close());
  const { app, env, databaseUrl, resources } = await buildTestApp(t, 'tokens_subs', {
    FACEBOOK_APP_ID: APP_ID,
    FACEBOOK_APP_SECRET: APP_SECRET,
    GRAPH_API_BASE_URL: graph.url,
  });
  const auth = { authorization: `Basic ${Buffer.from(`${env.ADMIN_USER}:${env.ADMIN_PASS}`).toString('base64')}` };
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 5 }));
  const reader = new GraphClient({ baseUrl: graph.url, version: 'v25.0', appSecret: APP_SECRET, timeoutMs: 2000 });
  t.teardown(() => reader.close());
  const put = (pageId: string, body: Record<string, string>) =>
    app.inject({ method: 'PUT', url: `/ops/pages/${pageId}`, headers: auth, payload: body });
  const valid = { is_valid: true, expires_at: 0, scopes: ['pages_messaging'] };

  // Dropped entirely; partly dropped (another app's subscription must be left alone); intact.
  graph.setTokenInfo('test-token-dropped', valid);
  graph.setSubscribedApps('5001', []);
  graph.setTokenInfo('test-token-partial', valid);
  graph.setSubscribedApps('5002', [
    { id: OTHER_APP, subscribed_fields: ['feed'] },
    { id: APP_ID, subscribed_fields: ['messages', 'message_reads'] },
  ]);
  graph.setTokenInfo('test-token-intact', valid);
  graph.setSubscribedApps('5003', [
    { id: APP_ID, subscribed_fields: ['messages', 'messaging_postbacks', 'message_echoes'] },
  ]);
  await put('5001', { access_token: 'test-token-dropped', channel: 'messenger' });
  await put('5002', { access_token: 'test-token-partial', channel: 'messenger' });
  await put('5003', { access_token: 'test-token-intact', channel: 'messenger' });

  // Instagram-Login tokens: one old and 5 days from expiry (refreshed), one issued an hour ago (not
  // yet refreshable), one whose refresh Meta refuses.
  const ig = (scopes = ['instagram_business_manage_messages']) => ({
    is_valid: true,
    expires_at: nowS() + 5 * DAY_S,
    scopes,
  });
  graph.setTokenInfo('test-ig-old', ig());
  graph.setTokenInfo('test-ig-young', ig());
  graph.setTokenInfo('test-ig-refused', ig());
  graph.failSendsForToken('test-ig-refused', { status: 400, code: 190, subcode: 463 });
  for (const id of ['6001', '6002', '6003'])
    graph.setSubscribedApps(id, [{ id: APP_ID, subscribed_fields: ['messages'] }]);
  await put('6001', { access_token: 'test-ig-old', channel: 'instagram', token_kind: 'instagram_login' });
  await put('6002', { access_token: 'test-ig-young', channel: 'instagram', token_kind: 'instagram_login' });
  await put('6003', { access_token: 'test-ig-refused', channel: 'instagram', token_kind: 'instagram_login' });
  await sql`update pages set token_issued_at = now() - interval '2 days' where page_id in ('6001', '6003')`;

  const res = await app.inject({ method: 'POST', url: '/ops/tokens/check', headers: auth });
  t.equal(res.statusCode, 200);
  const body = res.json();
  t.equal(body.check.resubscribed, 2, 'two pages re-subscribed');
  t.equal(body.check.refreshed, 1, 'one Instagram token refreshed');

  const dropped = await reader.getSubscribedApps('5001', 'test-token-dropped');
  t.same(
    dropped,
    [{ id: APP_ID, subscribedFields: ['messages', 'messaging_postbacks', 'message_echoes'] }],
    'dropped subscription restored',
  );
  const partial = await reader.getSubscribedApps('5002', 'test-token-partial');
  t.same(
    partial.find((a) => a.id === APP_ID)?.subscribedFields.sort(),
    ['message_echoes', 'message_reads', 'messages', 'messaging_postbacks'],
    'missing fields added, existing kept',
  );
  t.same(partial.find((a) => a.id === OTHER_APP)?.subscribedFields, ['feed'], "another app's subscription untouched");
  const resub =
    await sql`select page_id, ok, details from token_refresh_log where action = 'resubscribe' and ok order by page_id`;
  t.same(
    resub.map((r) => r.page_id),
    ['5001', '5002'],
    'each re-subscription recorded; the intact page needed none',
  );
  t.match(resub[0]?.details, {
    app_was_subscribed: false,
    missing_fields: ['messages', 'messaging_postbacks', 'message_echoes'],
  });
  t.match(resub[1]?.details, { app_was_subscribed: true, missing_fields: ['messaging_postbacks', 'message_echoes'] });
  t.equal(graph.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/5003/subscribed_apps')).length, 0);
  const restored = body.refresh_monitoring.actions_needed.find(
    (a: { action: string; message: string }) =>
      a.action === 'webhook_subscription_restored' && a.message.includes('5001'),
  );
  t.equal(restored?.priority, 'low', 'the operator is told a subscription had been dropped');

  // The refreshed token is stored sealed and used from now on; the young one was left alone.
  const fresh = await resources.pages.resolveFresh('6001');
  t.match(fresh?.token, /^test-ig-token-refreshed-/);
  const [row6001] = await sql`select expires_at, token_issued_at, token_sealed from pages where page_id = '6001'`;
  t.ok(new Date(row6001?.expires_at ?? 0).getTime() > Date.now() + 59 * DAY_S * 1000, 'new expiry about 60 days out');
  t.notMatch(String(row6001?.token_sealed), 'test-ig-token', 'stored sealed');
  t.equal(
    (await resources.pages.resolveFresh('6002'))?.token,
    'test-ig-young',
    'a token younger than 24 h is not refreshed',
  );
  const refreshes =
    await sql`select page_id, ok, error from token_refresh_log where action = 'refresh' order by page_id`;
  t.same(
    refreshes.map((r) => [r.page_id, r.ok]),
    [
      ['6001', true],
      ['6003', false],
    ],
  );
  t.match(refreshes[1]?.error, /code=190/);
  t.notMatch(refreshes[1]?.error, 'test-ig-refused', 'the error is sanitised');
  t.equal(
    (await resources.pages.resolveFresh('6003'))?.token,
    'test-ig-refused',
    'a failed refresh keeps the old token',
  );
  const failed = body.refresh_monitoring.actions_needed.find(
    (a: { action: string }) => a.action === 'instagram_token_refresh_failed',
  );
  t.equal(failed?.priority, 'high');
  t.match(failed?.message, /6003/);
  t.notMatch(res.body, /test-ig-|test-token-/, 'no token in the answer');
});
