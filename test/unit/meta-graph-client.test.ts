// Fakes Meta's Graph API with a loopback HTTP server (test/helpers/fake-graph.ts): the real one is unreachable from tests.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { appSecretProof, GraphApiError, GraphClient } from '@switchboard/meta';
import { startFakeGraph } from '../helpers/fake-graph.js';

const APP_SECRET = 'test-app-secret-1';
const APP_ID = '900000000000001';
const PAGE = '100000000000001';
const TOKEN = 'test-page-token-1';
const USER = '200000000000001';

async function setup(t: { teardown(fn: () => unknown): void }, timeoutMs = 2000) {
  const graph = await startFakeGraph({ appSecret: APP_SECRET, appId: APP_ID });
  const client = new GraphClient({
    baseUrl: graph.url,
    version: 'v25.0',
    appSecret: APP_SECRET,
    appId: APP_ID,
    timeoutMs,
  });
  t.teardown(async () => {
    await client.close();
    await graph.close();
  });
  return { graph, client };
}

async function rejection(p: Promise<unknown>): Promise<GraphApiError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof GraphApiError) return err;
    throw err;
  }
  throw new Error('expected a GraphApiError');
}

t.test('sendText posts a RESPONSE with the token as Bearer and a valid appsecret_proof', async (t) => {
  const { graph, client } = await setup(t);
  const result = await client.sendText({
    pageId: PAGE,
    accessToken: TOKEN,
    recipientId: USER,
    text: 'Grüße 😊',
    metadata: 'sb:1',
  });
  t.same(result, { messageId: 'm_1', recipientId: USER });
  t.equal(graph.sends.length, 1);
  t.match(graph.sends[0], {
    pageId: PAGE,
    accessToken: TOKEN,
    appsecretProof: appSecretProof(APP_SECRET, TOKEN),
    recipientId: USER,
    text: 'Grüße 😊',
    messagingType: 'RESPONSE',
    metadata: 'sb:1',
  });
  t.same(graph.requests, [{ method: 'POST', path: `/v25.0/${PAGE}/messages` }]);

  const second = await client.sendText({ pageId: PAGE, accessToken: TOKEN, recipientId: USER, text: 'again' });
  t.equal(second.messageId, 'm_2');
  t.equal(graph.sends[1]?.metadata, null);
});

t.test('a wrong app secret is refused by Meta with code 100 (permanent)', async (t) => {
  const { graph } = await setup(t);
  const wrong = new GraphClient({
    baseUrl: graph.url,
    version: 'v25.0',
    appSecret: 'test-app-secret-2',
    timeoutMs: 2000,
  });
  t.teardown(() => wrong.close());
  const err = await rejection(wrong.sendText({ pageId: PAGE, accessToken: TOKEN, recipientId: USER, text: 'x' }));
  t.match(err, { kind: 'permanent', status: 400, code: 100 });
  t.equal(graph.sends.length, 0);
});

t.test('Graph errors are classified through HTTP', async (t) => {
  const { graph, client } = await setup(t);
  const send = () => rejection(client.sendText({ pageId: PAGE, accessToken: TOKEN, recipientId: USER, text: 'hi' }));
  graph.failNextSends(
    { status: 400, code: 613 },
    { status: 400, code: 10, subcode: 2018278 },
    { status: 500, code: 2 },
    { status: 503 },
    { status: 400, code: 368 },
    { status: 400, code: 190, subcode: 460 },
    {
      status: 400,
      code: 80006,
      headers: {
        'x-business-use-case-usage': JSON.stringify({
          '1': [
            {
              type: 'messenger',
              call_count: 97,
              total_cputime: 12,
              total_time: 40,
              estimated_time_to_regain_access: 3,
            },
          ],
        }),
      },
    },
    { status: 429, headers: { 'retry-after': '7' } },
  );
  t.match(await send(), { kind: 'rate_limited', code: 613, status: 400, fbtraceId: /^AfakeTrace/ });
  t.match(await send(), { kind: 'permanent', code: 10, subcode: 2018278 });
  t.match(await send(), { kind: 'transient', code: 2, status: 500 });
  t.match(await send(), { kind: 'transient', code: null, status: 503 });
  t.match(await send(), { kind: 'page_restricted', code: 368 });
  t.match(await send(), { kind: 'token_invalid', code: 190, subcode: 460 });
  t.match(await send(), { kind: 'rate_limited', code: 80006, retryAfterMs: 3 * 60_000 });
  t.equal(client.lastBusinessUseCaseUsage, 97);
  t.match(await send(), { kind: 'rate_limited', status: 429, retryAfterMs: 7000 });
  t.equal(graph.sends.length, 0);

  const ok = await client.sendText({ pageId: PAGE, accessToken: TOKEN, recipientId: USER, text: 'hi' });
  t.equal(ok.messageId, 'm_1', 'the scripted queue is used up, sends succeed again');
});

t.test('persistent failures per page and per token', async (t) => {
  const { graph, client } = await setup(t);
  graph.failSendsFor(PAGE, { status: 400, code: 190 });
  const send = (pageId: string, accessToken = TOKEN) =>
    client.sendText({ pageId, accessToken, recipientId: USER, text: 'hi' });
  t.match(await rejection(send(PAGE)), { kind: 'token_invalid' });
  t.match(await rejection(send(PAGE)), { kind: 'token_invalid' });
  await send('100000000000002');
  graph.failSendsFor(PAGE, null);
  await send(PAGE);

  graph.failSendsForToken('test-page-token-revoked', { status: 400, code: 190, subcode: 458 });
  t.match(await rejection(send(PAGE, 'test-page-token-revoked')), { kind: 'token_invalid', subcode: 458 });
  await send(PAGE, 'test-page-token-2');
  t.same(
    graph.sends.map((s) => s.accessToken),
    [TOKEN, TOKEN, 'test-page-token-2'],
  );
});

t.test('a slow Graph times out as a transient GraphApiError', async (t) => {
  const { graph, client } = await setup(t, 100);
  graph.setSendDelay(1500);
  const started = Date.now();
  const err = await rejection(client.sendText({ pageId: PAGE, accessToken: TOKEN, recipientId: USER, text: 'hi' }));
  t.match(err, {
    kind: 'transient',
    timeout: true,
    network: false,
    status: null,
    summary: 'timeout: no answer from graph within 100 ms',
  });
  t.ok(Date.now() - started < 1000, 'cut at the timeout (100 ms), not when Graph answers (1500 ms)');
  // Like Meta, the fake still delivers it: a timeout is ambiguous.
  await graph.waitForSends(1, 5000);
  graph.setSendDelay(0);
  t.equal((await client.sendText({ pageId: PAGE, accessToken: TOKEN, recipientId: USER, text: 'x' })).messageId, 'm_2');
});

t.test('a refused connection is a transient network error', async (t) => {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((r) => probe.close(() => r()));
  const client = new GraphClient({
    baseUrl: `http://127.0.0.1:${port}`,
    version: 'v25.0',
    appSecret: APP_SECRET,
    timeoutMs: 1000,
  });
  t.teardown(() => client.close());
  const err = await rejection(client.sendText({ pageId: PAGE, accessToken: TOKEN, recipientId: USER, text: 'hi' }));
  t.match(err, {
    kind: 'transient',
    network: true,
    timeout: false,
    networkCode: 'ECONNREFUSED',
    summary: 'network: ECONNREFUSED connecting to graph',
  });
});

t.test('the token, proof, recipient and text never appear in an error', async (t) => {
  const { graph, client } = await setup(t);
  const token = 'EAAGtestpagetoken9999999999abcdefABCDEF';
  const text = 'Meine Telefonnummer ist geheim';
  graph.failNextSends({
    status: 400,
    code: 100,
    message: `(#100) Param recipient[id] ${USER} invalid for access_token ${token} appsecret_proof ${appSecretProof(APP_SECRET, token)} text "${text}"`,
  });
  const err = await rejection(client.sendText({ pageId: PAGE, accessToken: token, recipientId: USER, text }));
  const everything = `${err.message} ${err.stack ?? ''} ${JSON.stringify(err)} ${String(err.cause ?? '')}`;
  for (const secret of [token, appSecretProof(APP_SECRET, token), USER, text, 'geheim']) t.notMatch(everything, secret);
  t.match(err.message, /code=100/);

  graph.setSendDelay(300);
  const fast = new GraphClient({ baseUrl: graph.url, version: 'v25.0', appSecret: APP_SECRET, timeoutMs: 50 });
  t.teardown(() => fast.close());
  const timeout = await rejection(fast.sendText({ pageId: PAGE, accessToken: token, recipientId: USER, text }));
  t.notMatch(`${timeout.message} ${timeout.stack}`, token);
});

t.test('debugToken reports validity, expiry and scopes', async (t) => {
  const { graph, client } = await setup(t);
  graph.setTokenInfo(TOKEN, {
    is_valid: true,
    expires_at: 0,
    data_access_expires_at: 1775000000,
    scopes: ['pages_messaging', 'pages_manage_metadata'],
  });
  t.same(await client.debugToken(TOKEN), {
    isValid: true,
    type: 'PAGE',
    appId: APP_ID,
    expiresAt: 0,
    dataAccessExpiresAt: 1775000000,
    scopes: ['pages_messaging', 'pages_manage_metadata'],
    error: null,
  });
  const unknown = await client.debugToken('test-page-token-unknown');
  t.match(unknown, { isValid: false, scopes: [], error: /Invalid OAuth access token/ });
  t.same(
    graph.requests.map((r) => r.path),
    ['/v25.0/debug_token', '/v25.0/debug_token'],
  );

  const noAppId = new GraphClient({ baseUrl: graph.url, version: 'v25.0', appSecret: APP_SECRET, timeoutMs: 1000 });
  t.teardown(() => noAppId.close());
  await t.rejects(noAppId.debugToken(TOKEN), TypeError);

  const wrongSecret = new GraphClient({
    baseUrl: graph.url,
    version: 'v25.0',
    appSecret: 'test-app-secret-2',
    appId: APP_ID,
    timeoutMs: 1000,
  });
  t.teardown(() => wrongSecret.close());
  t.match(await rejection(wrongSecret.debugToken(TOKEN)), { kind: 'token_invalid', code: 190 });
});

t.test('subscribed apps: read, and restore a dropped subscription', async (t) => {
  const { graph, client } = await setup(t);
  t.same(await client.getSubscribedApps(PAGE, TOKEN), [], 'dropped silently');
  graph.setSubscribedApps(PAGE, [{ id: '900000000000002', subscribed_fields: ['feed'] }]);
  t.equal(await client.subscribeApp(PAGE, TOKEN, ['messages', 'messaging_postbacks', 'message_echoes']), true);
  t.same(await client.getSubscribedApps(PAGE, TOKEN), [
    { id: '900000000000002', subscribedFields: ['feed'] },
    { id: APP_ID, subscribedFields: ['messages', 'messaging_postbacks', 'message_echoes'] },
  ]);
  t.same(
    graph.requests.map((r) => `${r.method} ${r.path}`),
    [`GET /v25.0/${PAGE}/subscribed_apps`, `POST /v25.0/${PAGE}/subscribed_apps`, `GET /v25.0/${PAGE}/subscribed_apps`],
  );
  graph.failSendsForToken('test-page-token-revoked', { status: 400, code: 190 });
  t.match(await rejection(client.getSubscribedApps(PAGE, 'test-page-token-revoked')), { kind: 'token_invalid' });
});

t.test('refreshInstagramToken extends an Instagram token', async (t) => {
  const { graph, client } = await setup(t);
  const r = await client.refreshInstagramToken('test-ig-token-1');
  t.same(r, { accessToken: 'test-ig-token-refreshed-1', expiresInS: 60 * 24 * 3600 });
  t.same(graph.requests, [{ method: 'GET', path: '/refresh_access_token' }]);
  graph.failSendsForToken('test-ig-token-2', { status: 400, code: 190 });
  t.match(await rejection(client.refreshInstagramToken('test-ig-token-2', graph.url)), { kind: 'token_invalid' });
});

t.test('the fake answers over-long texts like Meta, and waitForSends times out', async (t) => {
  const { graph, client } = await setup(t);
  const err = await rejection(
    client.sendText({ pageId: PAGE, accessToken: TOKEN, recipientId: USER, text: 'x'.repeat(2000) }),
  );
  t.match(err, { kind: 'permanent', code: 100 });
  await t.rejects(graph.waitForSends(1, 50), /0 of 1/);
});

t.test('a 2xx whose body is not JSON, or has no message id, is ambiguous like a timeout, not permanent', async (t) => {
  const { graph, client } = await setup(t);
  graph.failNextSends(
    { status: 200, deliveredBody: '<html>upstream proxy says hi</html>' },
    { status: 200, deliveredBody: '{"recipient_id":"x"}' },
  );
  for (const what of ['an HTML page', 'JSON without message_id']) {
    const err = await rejection(client.sendText({ pageId: PAGE, accessToken: TOKEN, recipientId: USER, text: 'hi' }));
    t.match(err, { kind: 'transient', status: 200, deliveryUnknown: true, timeout: false }, what);
    t.match(err.message, /accepted without a readable message id/);
  }
  t.equal(graph.sends.length, 2, 'both went out');
  const timeout = new GraphApiError({ timeout: true });
  t.equal(timeout.deliveryUnknown, true, 'a timeout is the other ambiguous case');
  t.equal(new GraphApiError({ status: 500, code: 2 }).deliveryUnknown, false, 'an error answer means not delivered');
});
