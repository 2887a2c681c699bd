// Fakes Meta's Graph API (a loopback HTTP server: Send API answering 190 for a dead token,
// debug_token): the real one is unreachable from tests. The API and the worker (WorkerRegistry,
// in-process), BullMQ, PostgreSQL and Redis are real.
import t from 'tap';
import postgres from 'postgres';
import { createLogger } from '@switchboard/observability';
import { WorkerRegistry } from '../../apps/worker/src/registry.js';
import { createWorkerResources } from '../../apps/worker/src/resources.js';
import { buildTestApp } from '../helpers/app.js';
import { startFakeGraph } from '../helpers/fake-graph.js';
import { eventually } from '../helpers/processes.js';
import { messengerText, signedRequest } from '../helpers/sign.js';

const APP_ID = '100000000000099';
const APP_SECRET = 'test-app-secret-tokens-held';
const PAGE = '100000000000021';
const OTHER_PAGE = '100000000000022';
const USER = '900000000000031';

t.test('a dead token holds sends; a new token (PUT) or a token found valid again releases them, once', async (t) => {
  const graph = await startFakeGraph({ appSecret: APP_SECRET, appId: APP_ID });
  t.teardown(() => graph.close());
  const { app, config, env, databaseUrl } = await buildTestApp(t, 'tokens_held', {
    FACEBOOK_APP_ID: APP_ID,
    FACEBOOK_APP_SECRET: APP_SECRET,
    GRAPH_API_BASE_URL: graph.url,
    AI_ENABLED: 'false',
  });
  const auth = { authorization: `Basic ${Buffer.from(`${env.ADMIN_USER}:${env.ADMIN_PASS}`).toString('base64')}` };
  const workerResources = createWorkerResources(config, createLogger({ level: 'silent', service: 'worker' }));
  const registry = new WorkerRegistry(workerResources).start();
  t.teardown(async () => {
    await registry.closeAll(5000);
    await workerResources.close();
  });
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 5 }));
  const webhook = async (pageId: string, mid: string) => {
    const req = signedRequest(APP_SECRET, messengerText({ pageId, senderId: USER, mid, text: 'Hallo, seid ihr da?' }));
    const res = await app.inject({ method: 'POST', url: '/webhook', headers: req.headers, payload: req.body });
    t.equal(res.statusCode, 200, 'webhook acknowledged');
  };
  const replyStatus = async (pageId: string) =>
    (await sql`select status from replies where page_id = ${pageId}`)[0]?.status as string | undefined;

  // 1. Send API answers 190 for the old token: the send is held, nothing goes out.
  graph.failSendsForToken('test-token-old', { status: 400, code: 190, subcode: 460 });
  t.equal(
    (
      await app.inject({
        method: 'PUT',
        url: `/ops/pages/${PAGE}`,
        headers: auth,
        payload: { access_token: 'test-token-old', channel: 'messenger' },
      })
    ).statusCode,
    201,
  );
  await webhook(PAGE, 'm_tokens_held_1');
  await eventually(async () => (await replyStatus(PAGE)) === 'held', 15_000, 'reply held');
  t.equal(graph.sends.length, 0, 'no message went out with the dead token');
  const pagesAfter = (await app.inject({ method: 'GET', url: '/ops/pages', headers: auth })).json().pages;
  t.equal(pagesAfter[0].token_status, 'invalid');
  t.equal(pagesAfter[0].held_sends, 1);
  const health = (await app.inject({ method: 'GET', url: '/health' })).json();
  t.equal(health.status, 'degraded');
  t.ok(health.warnings.includes('page_token_invalid'));
  const status = (await app.inject({ method: 'GET', url: '/ops/token-refresh-status', headers: auth })).json()
    .refresh_monitoring;
  t.equal(status.status, 'critical');
  t.equal(status.actions_needed[0].action, 'replace_invalid_token');

  // 2. A new token is registered: the held reply goes out exactly once, with the new token.
  graph.setTokenInfo('test-token-new', { is_valid: true, expires_at: 0, scopes: ['pages_messaging'] });
  const put = await app.inject({
    method: 'PUT',
    url: `/ops/pages/${PAGE}`,
    headers: auth,
    payload: { access_token: 'test-token-new', channel: 'messenger' },
  });
  t.equal(put.statusCode, 200, 'replaced');
  const [send] = await graph.waitForSends(1, 15_000);
  t.equal(send?.accessToken, 'test-token-new');
  t.equal(send?.recipientId, USER);
  await eventually(async () => (await replyStatus(PAGE)) === 'sent', 10_000, 'reply recorded as sent');
  const emptied = (await app.inject({ method: 'GET', url: '/ops/pages', headers: auth })).json().pages[0];
  t.same([emptied.token_status, emptied.held_sends], ['unknown', 0], 'the hold is emptied');
  // A second release (the maintenance check) must not send it again.
  const check = await app.inject({ method: 'POST', url: '/ops/tokens/check', headers: auth });
  t.equal(check.json().check.released, 0);
  await new Promise((r) => setTimeout(r, 500));
  t.equal(graph.sends.length, 1, 'the held reply arrived exactly once');
  const [audit] =
    await sql`select details from audit_log where action = 'page.token_set' and target = ${PAGE} order by id desc limit 1`;
  t.match(audit?.details, { replaced_invalid: true, released_sends: 1 });

  // 3. debug_token says a token is invalid: it is marked, and its sends are held without a send attempt.
  graph.setTokenInfo('test-token-other', { is_valid: false });
  await app.inject({
    method: 'PUT',
    url: `/ops/pages/${OTHER_PAGE}`,
    headers: auth,
    payload: { access_token: 'test-token-other', channel: 'messenger' },
  });
  const found = (await app.inject({ method: 'POST', url: '/ops/tokens/check', headers: auth })).json();
  t.equal(found.check.invalid, 1);
  t.equal(
    found.refresh_monitoring.pages.find((p: { page_id: string }) => p.page_id === OTHER_PAGE)?.token_status,
    'invalid',
  );
  const [invalidated] =
    await sql`select error from token_refresh_log where page_id = ${OTHER_PAGE} and action = 'invalidated'`;
  t.match(invalidated?.error, /debug_token/);
  await webhook(OTHER_PAGE, 'm_tokens_held_2');
  await eventually(async () => (await replyStatus(OTHER_PAGE)) === 'held', 15_000, 'second page reply held');
  t.equal(
    graph.sends.filter((s) => s.pageId === OTHER_PAGE).length,
    0,
    'nothing sent with a token known to be invalid',
  );

  // 4. The token turns out valid again (Meta restored it): the next check releases the held send.
  graph.setTokenInfo('test-token-other', { is_valid: true, expires_at: 0, scopes: ['pages_messaging'] });
  const again = (await app.inject({ method: 'POST', url: '/ops/tokens/check', headers: auth })).json();
  t.equal(again.check.released, 1, 'the check released the held send');
  const sends = await graph.waitForSends(2, 15_000);
  t.equal(sends[1]?.pageId, OTHER_PAGE);
  t.equal(sends[1]?.accessToken, 'test-token-other');
  await eventually(async () => (await replyStatus(OTHER_PAGE)) === 'sent', 10_000, 'second reply sent');
  await new Promise((r) => setTimeout(r, 300));
  t.equal(graph.sends.length, 2, 'each held reply went out once');
  t.equal(
    (await app.inject({ method: 'GET', url: '/health' })).json().warnings.includes('page_token_invalid'),
    false,
    'health recovers',
  );
});
