// Fakes Meta's Graph API (a loopback HTTP server answering debug_token and subscribed_apps): the
// real one is unreachable from tests. The API (Fastify, ops auth, routes), PostgreSQL and Redis are real.
import t from 'tap';
import { pageTokens } from '../../apps/api/src/routes/ops/token-summary.js';
import { buildTestApp } from '../helpers/app.js';
import { startFakeGraph } from '../helpers/fake-graph.js';

const APP_ID = '100000000000099';
const DAY_S = 24 * 3600;
const nowS = () => Math.floor(Date.now() / 1000);

interface Rated {
  page_id: string;
  token_status: string;
  monitoring_status: string;
  days_left?: number | null;
  reasons?: string[];
}

t.test(
  'one token status: /ops, /ops/pages, /ops/token-refresh-status and the dashboard agree on every page',
  async (t) => {
    const graph = await startFakeGraph({ appId: APP_ID });
    t.teardown(() => graph.close());
    const { app, config, resources, env } = await buildTestApp(t, 'tokens_agree', {
      FACEBOOK_APP_ID: APP_ID,
      GRAPH_API_BASE_URL: graph.url,
      FACEBOOK_PAGE_ACCESS_TOKEN: '',
    });
    const auth = { authorization: `Basic ${Buffer.from(`${env.ADMIN_USER}:${env.ADMIN_PASS}`).toString('base64')}` };
    const get = async (url: string) => (await app.inject({ method: 'GET', url, headers: auth })).json();
    const register = async (
      pageId: string,
      token: string,
      info: { is_valid: boolean; expires_at: number; scopes: string[] },
    ) => {
      graph.setTokenInfo(token, info);
      graph.setSubscribedApps(pageId, [
        { id: APP_ID, subscribed_fields: ['messages', 'messaging_postbacks', 'message_echoes'] },
      ]);
      const res = await app.inject({
        method: 'PUT',
        url: `/ops/pages/${pageId}`,
        headers: auth,
        payload: { access_token: token, channel: 'messenger' },
      });
      t.ok(res.statusCode === 201 || res.statusCode === 200, `page ${pageId} registered`);
    };
    const check = async () =>
      t.equal((await app.inject({ method: 'POST', url: '/ops/tokens/check', headers: auth })).statusCode, 200);
    const valid = { is_valid: true, expires_at: 0, scopes: ['pages_messaging'] };

    /** Each route's rating of each page, checked against `expected` and against each other. */
    const agree = async (expected: Record<string, [string, string]>) => {
      const monitored = (await get('/ops/token-refresh-status')).refresh_monitoring.pages as Rated[];
      const listed = (await get('/ops/pages')).pages as Rated[];
      const dashboard = await pageTokens({ config, resources });
      for (const [pageId, [tokenStatus, status]] of Object.entries(expected)) {
        for (const [route, rows] of [
          ['/ops/token-refresh-status', monitored],
          ['/ops/pages', listed],
          ['dashboard', dashboard],
        ] as const) {
          const row = rows.find((r) => r.page_id === pageId);
          t.same(
            [row?.token_status, row?.monitoring_status],
            [tokenStatus, status],
            `${route}: page ${pageId} is ${tokenStatus}, ${status}`,
          );
        }
        const days = monitored.find((r) => r.page_id === pageId)?.days_left;
        t.equal(dashboard.find((r) => r.page_id === pageId)?.days_left, days, `page ${pageId}: the same days left`);
      }
      t.equal(monitored.length, Object.keys(expected).length, 'no other token rated');
      return monitored;
    };

    await t.test('a page not checked yet is a notice everywhere, and /ops does not call it OK', async (t) => {
      await register('3001', 'test-token-agree-valid', valid);
      await check();
      await register('3004', 'test-token-agree-unchecked', valid);
      const monitored = await agree({ '3001': ['valid', 'ok'], '3004': ['unknown', 'notice'] });
      t.same(monitored.find((p) => p.page_id === '3004')?.reasons, ['not checked yet: run POST /ops/tokens/check']);
      const token = (await get('/ops')).facebook_token;
      t.match(token, {
        token_configured: true,
        needs_refresh: false,
        status_message: '1 Page token(s) not checked yet: run POST /ops/tokens/check.',
        pages: 2,
        invalid: 0,
        expiring_soon: 0,
      });
      t.equal((await get('/ops/token-refresh-status')).refresh_monitoring.status, 'notice');
    });

    await t.test(
      'valid, invalid, expiring soon and not checked: each rated once, the same by every route',
      async (t) => {
        await register('3002', 'test-token-agree-invalid', { is_valid: false, expires_at: 0, scopes: [] });
        await register('3003', 'test-token-agree-expiring', {
          is_valid: true,
          expires_at: nowS() + 5 * DAY_S + 3600,
          scopes: ['pages_messaging'],
        });
        await check();
        // A new token for 3004 makes it unchecked again.
        await register('3004', 'test-token-agree-unchecked-2', valid);
        const monitored = await agree({
          '3001': ['valid', 'ok'],
          '3002': ['invalid', 'critical'],
          '3003': ['valid', 'warning'],
          '3004': ['unknown', 'notice'],
        });
        t.equal(monitored.find((p) => p.page_id === '3003')?.days_left, 5);
        const token = (await get('/ops')).facebook_token;
        t.match(token, { token_configured: true, needs_refresh: true, pages: 4, invalid: 1, expiring_soon: 1 });
        t.match(token.status_message, /^1 Page token\(s\) invalid/);
        t.equal((await get('/ops/token-refresh-status')).refresh_monitoring.status, 'critical');
      },
    );
  },
);

t.test(
  'without FACEBOOK_APP_ID an unchecked page is a warning everywhere: it cannot be checked, but nothing says it is broken',
  async (t) => {
    const { app, config, resources, env } = await buildTestApp(t, 'tokens_agree_noappid', {
      FACEBOOK_APP_ID: '',
      FACEBOOK_PAGE_ACCESS_TOKEN: '',
    });
    const auth = { authorization: `Basic ${Buffer.from(`${env.ADMIN_USER}:${env.ADMIN_PASS}`).toString('base64')}` };
    const get = async (url: string) => (await app.inject({ method: 'GET', url, headers: auth })).json();
    t.equal(
      (
        await app.inject({
          method: 'PUT',
          url: '/ops/pages/3005',
          headers: auth,
          payload: { access_token: 'test-token-agree-noappid', channel: 'messenger' },
        })
      ).statusCode,
      201,
    );
    const monitored = (await get('/ops/token-refresh-status')).refresh_monitoring;
    const [page] = monitored.pages as Rated[];
    t.same(
      [page?.token_status, page?.monitoring_status, page?.reasons],
      ['unknown', 'warning', ['cannot be checked: FACEBOOK_APP_ID is not set, so debug_token cannot be called']],
    );
    t.equal(((await get('/ops/pages')).pages as Rated[])[0]?.monitoring_status, 'warning', '/ops/pages agrees');
    t.equal((await pageTokens({ config, resources }))[0]?.monitoring_status, 'warning', 'the dashboard agrees');
    t.equal(monitored.status, 'critical', 'the missing app id itself is the critical action');
    t.ok(
      monitored.actions_needed.some(
        (a: { action: string; priority: string }) => a.action === 'set_facebook_app_id' && a.priority === 'critical',
      ),
    );
    t.match((await get('/ops')).facebook_token, {
      needs_refresh: true,
      status_message: '1 Page token(s) need attention: see GET /ops/token-refresh-status.',
    });
  },
);
