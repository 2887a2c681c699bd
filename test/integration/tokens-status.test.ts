// Fakes Meta's Graph API (a loopback HTTP server answering debug_token and subscribed_apps): the
// real one is unreachable from tests. The API (Fastify, ops auth, routes), PostgreSQL and Redis are real.
import t from 'tap';
import postgres from 'postgres';
import { deriveTokenStatus, graphVersionStatus } from '@switchboard/pages';
import { buildTestApp } from '../helpers/app.js';
import { startFakeGraph } from '../helpers/fake-graph.js';

const APP_ID = '100000000000099';
const APP_SECRET = 'test-app-secret-tokens-status';
const DAY_S = 24 * 3600;
const nowS = () => Math.floor(Date.now() / 1000);

t.test('status derivation: 40 / 20 / 5 / 2 days → ok / notice / warning / critical', async (t) => {
  const now = new Date('2026-11-23T12:00:00Z');
  const at = (days: number) => new Date(now.getTime() + days * DAY_S * 1000);
  const base = { channel: 'messenger' as const, isValid: true, neverExpires: false, scopes: ['pages_messaging'] };
  t.equal(deriveTokenStatus({ ...base, expiresAt: at(40) }, now).status, 'ok');
  t.equal(deriveTokenStatus({ ...base, expiresAt: at(20) }, now).status, 'notice');
  t.equal(deriveTokenStatus({ ...base, expiresAt: at(5) }, now).status, 'warning');
  t.equal(deriveTokenStatus({ ...base, expiresAt: at(2) }, now).status, 'critical');
  t.equal(deriveTokenStatus({ ...base, expiresAt: at(-1) }, now).status, 'critical', 'expired');
  t.equal(deriveTokenStatus({ ...base, expiresAt: at(20) }, now).daysLeft, 20);
  const never = deriveTokenStatus({ ...base, expiresAt: null, neverExpires: true }, now);
  t.same([never.status, never.daysLeft], ['ok', null], 'never expires: ok, no days left');
  t.equal(
    deriveTokenStatus({ ...base, expiresAt: null, neverExpires: true, isValid: false }, now).status,
    'critical',
    'never-expiring but invalid',
  );
  t.equal(
    deriveTokenStatus({ ...base, expiresAt: at(40), scopes: ['pages_show_list'] }, now).status,
    'critical',
    'pages_messaging missing',
  );
  const ig = { ...base, channel: 'instagram' as const, expiresAt: at(40) };
  t.equal(
    deriveTokenStatus({ ...ig, scopes: ['pages_messaging'] }, now).status,
    'critical',
    'instagram needs an instagram messaging scope',
  );
  t.equal(deriveTokenStatus({ ...ig, scopes: ['instagram_manage_messages'] }, now).status, 'ok');
  t.equal(deriveTokenStatus({ ...ig, scopes: ['instagram_business_manage_messages'] }, now).status, 'ok');
});

t.test('graph version table: end of life and the 90-day warning', async (t) => {
  const now = new Date('2026-11-23T00:00:00Z');
  t.same(graphVersionStatus('v25.0', now), {
    version: 'v25.0',
    end_of_life: '2028-07-01',
    days_left: 586,
    warning: false,
  });
  t.equal(
    graphVersionStatus('v25.0', new Date('2028-05-01T00:00:00Z')).warning,
    true,
    'within 90 days of its end of life',
  );
  t.equal(graphVersionStatus('v24.0', now).end_of_life, '2028-02-01', 'successor release + 2 years');
  t.equal(graphVersionStatus('v21.0', now).warning, true, 'v21.0 ends 2027-01-21, within 90 days');
  t.equal(graphVersionStatus('v26.0', now).end_of_life, null, 'newest version: no end of life yet');
  t.equal(graphVersionStatus('v26.0', now).warning, false);
  t.equal(graphVersionStatus('v12.0', now).warning, true, 'older than the table: long retired');
  t.equal(graphVersionStatus('v18.0', now).days_left, 0, 'already retired');
});

t.test('token check over HTTP: statuses, log rows, actions, default token, no token leaks', async (t) => {
  const graph = await startFakeGraph({ appSecret: APP_SECRET, appId: APP_ID });
  t.teardown(() => graph.close());
  const { app, env, databaseUrl } = await buildTestApp(t, 'tokens_status', {
    FACEBOOK_APP_ID: APP_ID,
    FACEBOOK_APP_SECRET: APP_SECRET,
    GRAPH_API_BASE_URL: graph.url,
    FACEBOOK_PAGE_ACCESS_TOKEN: 'test-default-token-status',
  });
  const auth = { authorization: `Basic ${Buffer.from(`${env.ADMIN_USER}:${env.ADMIN_PASS}`).toString('base64')}` };
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 5 }));

  const pages: Array<[string, string, number | null, string[], string]> = [
    ['1001', 'test-token-p40', 40, ['pages_messaging'], 'ok'],
    ['1002', 'test-token-p20', 20, ['pages_messaging'], 'notice'],
    ['1003', 'test-token-p05', 5, ['pages_messaging'], 'warning'],
    ['1004', 'test-token-p02', 2, ['pages_messaging'], 'critical'],
    ['1005', 'test-token-never', null, ['pages_messaging', 'pages_show_list'], 'ok'],
    ['1006', 'test-token-noscope', null, ['pages_show_list'], 'critical'],
  ];
  for (const [pageId, token, days, scopes] of pages) {
    graph.setTokenInfo(token, { is_valid: true, expires_at: days === null ? 0 : nowS() + days * DAY_S + 3600, scopes });
    graph.setSubscribedApps(pageId, [
      { id: APP_ID, subscribed_fields: ['messages', 'messaging_postbacks', 'message_echoes'] },
    ]);
    const res = await app.inject({
      method: 'PUT',
      url: `/ops/pages/${pageId}`,
      headers: auth,
      payload: { access_token: token, channel: 'messenger' },
    });
    t.equal(res.statusCode, 201, `page ${pageId} registered`);
    t.notMatch(res.body, token, 'the answer never carries the token');
    t.equal(res.json().page_id, pageId);
  }
  graph.setTokenInfo('test-token-ig', {
    is_valid: true,
    expires_at: 0,
    scopes: ['instagram_business_manage_messages'],
  });
  graph.setSubscribedApps('2001', [{ id: APP_ID, subscribed_fields: ['messages'] }]);
  t.equal(
    (
      await app.inject({
        method: 'PUT',
        url: '/ops/pages/2001',
        headers: auth,
        payload: { access_token: 'test-token-ig', channel: 'instagram' },
      })
    ).statusCode,
    201,
  );
  graph.setTokenInfo('test-default-token-status', { is_valid: true, expires_at: 0, scopes: ['pages_messaging'] });

  const before = await app.inject({ method: 'GET', url: '/ops/token-refresh-status', headers: auth });
  t.equal(before.statusCode, 200);
  t.ok(
    before.json().refresh_monitoring.actions_needed.some((a: { action: string }) => a.action === 'run_token_check'),
    'unchecked tokens ask for a check',
  );

  const res = await app.inject({ method: 'POST', url: '/ops/tokens/check', headers: auth });
  t.equal(res.statusCode, 200);
  const body = res.json();
  const monitoring = body.refresh_monitoring;
  const byId = new Map<string, Record<string, unknown>>(
    monitoring.pages.map((p: { page_id: string }) => [p.page_id, p]),
  );
  for (const [pageId, , days, , expected] of pages) {
    t.equal(byId.get(pageId)?.monitoring_status, expected, `page ${pageId} (${days ?? 'never'} days) is ${expected}`);
    t.equal(byId.get(pageId)?.token_status, 'valid');
  }
  t.equal(byId.get('1002')?.days_left, 20);
  t.equal(byId.get('1005')?.days_left, null, 'never expires: days_left null');
  t.equal(byId.get('1005')?.expires_at, null);
  t.equal(byId.get('1006')?.scopes_ok, false);
  t.equal(byId.get('2001')?.monitoring_status, 'ok', 'instagram token with instagram_business_manage_messages');
  t.equal(byId.get('default')?.monitoring_status, 'ok', 'the default token is checked as the pseudo page "default"');
  t.equal(monitoring.status, 'critical', 'overall status is the worst page');
  t.same(body.check, { checked: 8, valid: 8, invalid: 0, failed: 0, released: 0, refreshed: 0, resubscribed: 0 });
  t.same(monitoring.graph_api.version, 'v25.0');

  const actions = monitoring.actions_needed as Array<{
    priority: string;
    action: string;
    message: string;
    instructions: string[];
  }>;
  t.equal(actions[0]?.priority, 'critical', 'most urgent first');
  const renew = actions.find((a) => a.action === 'renew_token' && a.message.includes('1004'));
  t.equal(renew?.priority, 'critical');
  t.match(renew?.instructions.join('\n'), /Access Token Debugger/);
  t.match(renew?.instructions.join('\n'), /Graph API Explorer/);
  t.match(renew?.instructions.join('\n'), /PUT \/ops\/pages\/1004/);
  t.match(renew?.instructions.join('\n'), /POST \/ops\/tokens\/check/);
  t.equal(actions.find((a) => a.action === 'renew_token' && a.message.includes('1003'))?.priority, 'high');
  t.equal(actions.find((a) => a.action === 'renew_token' && a.message.includes('1002'))?.priority, 'medium');
  t.equal(actions.find((a) => a.action === 'grant_permissions')?.priority, 'critical');
  t.notOk(
    actions.some((a) => a.message.includes('1001')),
    'nothing to do for a healthy page',
  );

  const logRows =
    await sql`select page_id, is_valid, expires_at, scopes, status, ok from token_refresh_log where action = 'check' order by page_id`;
  t.equal(logRows.length, 8, 'one check row per token');
  const p20 = logRows.find((r) => r.page_id === '1002');
  t.equal(p20?.status, 'notice');
  t.ok(p20?.expires_at instanceof Date);
  t.same(p20?.scopes, ['pages_messaging']);
  const [pageRow] =
    await sql`select token_status, monitoring_status, expires_at, scopes, last_checked_at from pages where page_id = '1003'`;
  t.equal(pageRow?.token_status, 'valid');
  t.equal(pageRow?.monitoring_status, 'warning');
  t.ok(pageRow?.last_checked_at);

  // Same shape from GET, and GET /ops/pages lists pages without tokens.
  const status = await app.inject({ method: 'GET', url: '/ops/token-refresh-status', headers: auth });
  t.equal(status.json().refresh_monitoring.status, 'critical');
  const list = await app.inject({ method: 'GET', url: '/ops/pages', headers: auth });
  t.equal(list.statusCode, 200);
  t.equal(list.json().pages.length, 7);
  const everything = [res.body, status.body, list.body].join('\n');
  for (const [, token] of pages) t.notMatch(everything, token, 'no token in any answer');
  t.notMatch(everything, 'test-default-token-status');
  const stored = await sql`select token_sealed from pages`;
  for (const row of stored) t.notMatch(String(row.token_sealed), 'test-token', 'tokens are stored sealed');

  // A replaced token: 200, and the row starts over as unknown.
  graph.setTokenInfo('test-token-p02-new', {
    is_valid: true,
    expires_at: nowS() + 60 * DAY_S,
    scopes: ['pages_messaging'],
  });
  const replaced = await app.inject({
    method: 'PUT',
    url: '/ops/pages/1004',
    headers: auth,
    payload: { access_token: 'test-token-p02-new', channel: 'messenger' },
  });
  t.equal(replaced.statusCode, 200);
  t.equal(replaced.json().token_status, 'unknown');
  const audit =
    await sql`select actor, action, target, details::text as details from audit_log where action = 'page.token_set' order by id`;
  t.equal(audit.length, 8, 'every registration is audit-logged');
  t.equal(audit.at(-1)?.target, '1004');
  t.equal(audit.at(-1)?.actor, env.ADMIN_USER);
  t.notMatch(audit.map((a) => a.details).join(' '), 'test-token', 'no token in the audit log');
  t.equal((await sql`select count(*)::int as n from audit_log where action = 'tokens.check'`)[0]?.n, 1);

  // /health shows the pinned version.
  const health = await app.inject({ method: 'GET', url: '/health' });
  t.same(health.json().graph_api, graphVersionStatus('v25.0'));
  t.notOk(health.json().warnings.includes('graph_version_near_eol'));
});

t.test('PUT /ops/pages/:pageId validates its body and needs auth', async (t) => {
  const { app, env } = await buildTestApp(t, 'tokens_put');
  const auth = { authorization: `Basic ${Buffer.from(`${env.ADMIN_USER}:${env.ADMIN_PASS}`).toString('base64')}` };
  const put = (payload: unknown, url = '/ops/pages/3001', headers: Record<string, string> = auth) =>
    app.inject({ method: 'PUT', url, headers, payload: payload as object });
  t.equal(
    (await put({ access_token: 'x', channel: 'messenger' }, '/ops/pages/3001', {})).statusCode,
    401,
    'no credentials',
  );
  t.equal((await put({ channel: 'messenger' })).statusCode, 400, 'token missing');
  t.equal((await put({ access_token: '', channel: 'messenger' })).statusCode, 400, 'empty token');
  t.equal((await put({ access_token: '   ', channel: 'messenger' })).statusCode, 400, 'blank token');
  t.equal(
    (await put({ access_token: 'a'.repeat(1025), channel: 'messenger' })).statusCode,
    400,
    'token over 1024 characters',
  );
  t.equal((await put({ access_token: 42, channel: 'messenger' })).statusCode, 400, 'token not a string');
  const badChannel = await put({ access_token: 'tok', channel: 'telegram' });
  t.equal(badChannel.statusCode, 400, 'channel outside the enum');
  t.same(
    badChannel.json(),
    { error: 'invalid_request', message: 'body/channel must be one of: messenger, instagram, whatsapp' },
    'the answer names the allowed channels',
  );
  t.equal(
    (await put({ access_token: 'tok', channel: 'messenger', token_kind: 'user' })).statusCode,
    400,
    'unknown token kind',
  );
  t.equal(
    (await put({ access_token: 'tok', channel: 'messenger' }, '/ops/pages/default')).statusCode,
    400,
    'the pseudo page cannot be registered',
  );
  const ok = await put({ access_token: 'a'.repeat(1024), channel: 'instagram', token_kind: 'instagram_login' });
  t.equal(ok.statusCode, 201, '1024 characters are accepted');
  t.equal(ok.json().token_kind, 'instagram_login');
  t.equal(ok.json().channel, 'instagram');
  const number = await put({ access_token: 'test-wa-token', channel: 'whatsapp' }, '/ops/pages/400000000000001');
  t.equal(number.statusCode, 201, 'a WhatsApp phone number id is registered like a Page');
  t.equal(number.json().channel, 'whatsapp');
  const listed = (await app.inject({ method: 'GET', url: '/ops/pages', headers: auth })).json().pages;
  t.ok(
    listed.some(
      (p: { page_id: string; channel: string }) => p.page_id === '400000000000001' && p.channel === 'whatsapp',
    ),
    'GET /ops/pages lists the number',
  );
});

t.test(
  'without FACEBOOK_APP_ID the check records "app id missing", rates the page a warning and holds nothing',
  async (t) => {
    const graph = await startFakeGraph({ appId: APP_ID });
    t.teardown(() => graph.close());
    const { app, env, databaseUrl } = await buildTestApp(t, 'tokens_noappid', {
      FACEBOOK_APP_ID: '',
      GRAPH_API_BASE_URL: graph.url,
      GRAPH_API_VERSION: 'v21.0',
    });
    const auth = { authorization: `Basic ${Buffer.from(`${env.ADMIN_USER}:${env.ADMIN_PASS}`).toString('base64')}` };
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    t.teardown(() => sql.end({ timeout: 5 }));
    await app.inject({
      method: 'PUT',
      url: '/ops/pages/4001',
      headers: auth,
      payload: { access_token: 'test-token-4001', channel: 'messenger' },
    });
    const res = await app.inject({ method: 'POST', url: '/ops/tokens/check', headers: auth });
    t.equal(res.statusCode, 200);
    const monitoring = res.json().refresh_monitoring;
    t.equal(monitoring.status, 'critical');
    t.equal(monitoring.pages[0].monitoring_status, 'warning', 'not checked, and not known to be broken');
    t.match(monitoring.pages[0].reasons.join(' '), /FACEBOOK_APP_ID is not set/);
    t.equal(monitoring.pages[0].token_status, 'unknown', 'not marked invalid: its sends are not held');
    const action = monitoring.actions_needed.find((a: { action: string }) => a.action === 'set_facebook_app_id');
    t.equal(action?.priority, 'critical');
    t.match(action?.instructions.join(' '), /FACEBOOK_APP_ID/);
    t.equal(graph.requests.filter((r) => r.path.endsWith('/debug_token')).length, 0, 'debug_token was not called');
    const [row] = await sql`select status, ok, error from token_refresh_log where action = 'check'`;
    t.same({ ...row }, { status: 'critical', ok: false, error: 'app id missing' });

    // v21.0 is within 90 days of its end of life: health and the status say so.
    t.equal(monitoring.graph_api.warning, true);
    t.ok(monitoring.actions_needed.some((a: { action: string }) => a.action === 'upgrade_graph_api_version'));
    const health = (await app.inject({ method: 'GET', url: '/health' })).json();
    t.equal(health.status, 'degraded');
    t.ok(health.warnings.includes('graph_version_near_eol'));
    t.equal(health.graph_api.end_of_life, '2027-01-21');
  },
);

t.test('the overall status is at least as severe as the worst action needed, not only the worst page', async (t) => {
  // No page token at all: no page to be the worst, but replies go nowhere (high → warning).
  const noToken = await buildTestApp(t, 'tokens_notoken');
  const auth = {
    authorization: `Basic ${Buffer.from(`${noToken.env.ADMIN_USER}:${noToken.env.ADMIN_PASS}`).toString('base64')}`,
  };
  for (const [method, url] of [
    ['GET', '/ops/token-refresh-status'],
    ['POST', '/ops/tokens/check'],
  ] as const) {
    const monitoring = (await noToken.app.inject({ method, url, headers: auth })).json().refresh_monitoring;
    t.same(monitoring.pages, [], `${method} ${url}: no pages`);
    t.same(
      monitoring.actions_needed.map((a: { priority: string; action: string }) => [a.priority, a.action]),
      [['high', 'register_page_token']],
    );
    t.equal(monitoring.status, 'warning', `${method} ${url}: a high-priority action is a warning`);
  }

  // Nor FACEBOOK_APP_ID: a critical action (critical → critical).
  const noAppId = await buildTestApp(t, 'tokens_noappid_nopage', { FACEBOOK_APP_ID: '' });
  const auth2 = {
    authorization: `Basic ${Buffer.from(`${noAppId.env.ADMIN_USER}:${noAppId.env.ADMIN_PASS}`).toString('base64')}`,
  };
  for (const [method, url] of [
    ['GET', '/ops/token-refresh-status'],
    ['POST', '/ops/tokens/check'],
  ] as const) {
    const monitoring = (await noAppId.app.inject({ method, url, headers: auth2 })).json().refresh_monitoring;
    t.equal(monitoring.actions_needed[0]?.action, 'set_facebook_app_id');
    t.equal(monitoring.actions_needed[0]?.priority, 'critical');
    t.equal(monitoring.status, 'critical', `${method} ${url}: a critical action is critical`);
  }
  // /health's verdict is its own (warnings), unchanged: a missing app id degrades it, no page token does not.
  t.equal((await noAppId.app.inject({ method: 'GET', url: '/health' })).json().status, 'degraded');
  t.equal((await noToken.app.inject({ method: 'GET', url: '/health' })).json().status, 'ok');
});
