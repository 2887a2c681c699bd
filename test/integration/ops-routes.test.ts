// Fakes Google's Gemini API with a loopback HTTP server (for /ops/ai/ping; the real one costs money and is unreachable from tests). PostgreSQL, Redis, BullMQ and Fastify are real.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { aiSwitch, auditLog, events, replies, users } from '@switchboard/db';
import { buildTestApp } from '../helpers/app.js';
import { startFakeGemini } from '../helpers/fake-gemini.js';

const GEMINI_KEY = `test-gemini-${randomBytes(6).toString('hex')}`;
const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const hex = () => randomBytes(16).toString('hex');

t.test('ops routes', async (t) => {
  const fake = await startFakeGemini();
  t.teardown(() => fake.close());
  const { app, env, resources, config } = await buildTestApp(t, 'ops-routes', {
    geminiUrl: fake.url,
    GEMINI_API_KEY: GEMINI_KEY,
    AI_DAILY_BUDGET_USD: '5',
  });
  const { db } = resources.dbh;
  const headers = { authorization: basic(env.ADMIN_USER as string, env.ADMIN_PASS as string) };
  const get = (url: string) => app.inject({ method: 'GET', url, headers });
  const post = (url: string, payload?: Record<string, unknown>) =>
    app.inject({ method: 'POST', url, headers, ...(payload === undefined ? {} : { payload }) });

  // Seed: 5 messages (one 2 hours ago, one 2 days ago), one delivery receipt (not a message), users, one reply.
  const now = Date.now();
  const senderHash = 'a'.repeat(64);
  const rows = [
    { type: 'text', at: now - 1000, status: 'processed', channel: 'messenger' },
    { type: 'postback', at: now - 2000, status: 'processed', channel: 'messenger' },
    { type: 'text', at: now - 3000, status: 'dead_letter', channel: 'instagram' },
    { type: 'text', at: now - 2 * 3600_000, status: 'processed', channel: 'instagram' },
    { type: 'text', at: now - 2 * 86_400_000, status: 'processed', channel: 'messenger' },
    { type: 'delivery', at: now - 500, status: 'processed', channel: 'messenger' },
  ].map((r) => ({
    id: hex(),
    channel: r.channel,
    pageId: '1000000001',
    senderHash,
    midHash: hex(),
    type: r.type,
    status: r.status,
    outcome: r.status === 'processed' ? 'replied' : null,
    attempts: 1,
    eventAt: new Date(r.at),
    receivedAt: new Date(r.at),
    processedAt: r.status === 'processed' ? new Date(r.at + 10) : null,
    lastError:
      r.status === 'dead_letter'
        ? 'graph permanent code=10 subcode=2018278 status=400 recipient 1234567890123456 token=EAAB123456789012345'
        : null,
    lastErrorCode: r.status === 'dead_letter' ? 10 : null,
  }));
  await db.insert(events).values(rows);
  await db.insert(users).values([
    { channel: 'messenger', senderHash, pageId: '1000000001', messageCount: 3 },
    { channel: 'instagram', senderHash: 'b'.repeat(64), pageId: '1000000001', messageCount: 2 },
  ]);
  const dead = rows[2]!;
  await db.insert(replies).values({
    eventId: dead.id,
    channel: 'instagram',
    pageId: '1000000001',
    senderHash,
    path: 'fallback',
    reason: 'kill_switch',
    decideLatencyMs: 3,
    parts: 2,
    status: 'dead_letter',
    errorCode: 10,
  });

  t.test('GET /ops', async (t) => {
    const res = await get('/ops');
    t.equal(res.statusCode, 200);
    const body = res.json();
    const todayStart = new Date(now).setUTCHours(0, 0, 0, 0);
    const expectedToday = rows.filter((r) => r.type !== 'delivery' && r.receivedAt.getTime() >= todayStart).length;
    t.same(body.message_counts, { today: expectedToday, total: 5, last_hour: 3 });
    t.equal(body.system_stats.total_users, 2);
    t.equal(body.system_stats.total_events, 6);
    t.equal(body.facebook_token.token_configured, false);
    t.equal(body.facebook_token.needs_refresh, false);
    t.type(body.facebook_token.status_message, 'string');
    t.equal(body.facebook_token.pages, 0);
    for (const q of ['inbound', 'outbound', 'maintenance']) t.equal(body.queues[q].waiting, 0, `${q} queue counts`);
  });

  t.test('GET /ops/ai/status and POST /ops/ai/toggle', async (t) => {
    resources.counters.incr('ai_calls', 7);
    resources.counters.incr('ai_calls_blocked_global', 2);
    const status = await get('/ops/ai/status');
    t.equal(status.statusCode, 200);
    const s = status.json();
    t.equal(s.enabled, true);
    t.equal(s.provider, 'gemini');
    t.equal(s.model, config.ai.model);
    t.same(s.limits, { per_psid_per_min: config.ai.maxCallsPerMinPerPsid, global_per_min: config.ai.maxCallsPerMin });
    t.equal(s.counters.ai_calls, 7, 'counts buffered in this process are flushed first');
    t.equal(s.counters.ai_calls_blocked_global, 2);
    t.equal(s.counters.ai_errors, 0);
    t.equal(s.budget.daily_budget_usd, 5);
    t.equal(s.budget.daily_spend_usd, 0);
    t.equal(s.budget.monthly_budget_usd, null);

    for (const bad of [
      {},
      { enabled: 'false' },
      { enabled: 0 },
      { enabled: 'yes' },
      { enabled: null },
      { enabled: [true] },
    ]) {
      const res = await post('/ops/ai/toggle', bad);
      t.equal(res.statusCode, 400, `toggle ${JSON.stringify(bad)} → 400`);
    }
    const notJson = await app.inject({
      method: 'POST',
      url: '/ops/ai/toggle',
      headers: { ...headers, 'content-type': 'application/json' },
      payload: '{nope',
    });
    t.equal(notJson.statusCode, 400, 'invalid JSON → 400');
    t.equal(await resources.redis.get(`${config.queuePrefix}:ai:enabled`), '1', 'no bad body changed the switch');

    const off = await post('/ops/ai/toggle', { enabled: false });
    t.equal(off.statusCode, 200);
    t.same(off.json(), { enabled: false });
    t.same(await db.select({ enabled: aiSwitch.enabled }).from(aiSwitch), [{ enabled: false }], 'stored in PostgreSQL');
    t.equal(
      await resources.redis.get(`${config.queuePrefix}:ai:enabled`),
      '0',
      'and copied into Redis for every worker',
    );
    t.equal((await get('/ops/ai/status')).json().enabled, false);
    const on = await post('/ops/ai/toggle', { enabled: true });
    t.same(on.json(), { enabled: true });

    const audit = await db.select().from(auditLog).orderBy(auditLog.id);
    const toggles = audit.filter((a) => a.action === 'ai.toggle');
    t.equal(toggles.length, 2, 'each toggle audited, bad bodies not');
    t.equal(toggles[0]?.actor, env.ADMIN_USER);
    t.equal(toggles[0]?.ip, '127.0.0.1');
    t.ok(toggles[0]?.requestId);
    t.same(toggles[0]?.details, { enabled: false, previous: true });
  });

  t.test('POST /ops/ai/ping', async (t) => {
    const ok = await post('/ops/ai/ping');
    t.equal(ok.statusCode, 200);
    t.equal(ok.json().ok, true);
    t.type(ok.json().latency_ms, 'number');
    t.equal(fake.calls.length, 1, 'one real call reached the (fake) provider');
    fake.failNext(500, 1, `internal error for key ${GEMINI_KEY}`);
    const failed = await post('/ops/ai/ping');
    t.equal(failed.statusCode, 200);
    t.equal(failed.json().ok, false);
    t.type(failed.json().error, 'string');
    t.notOk(failed.body.includes(GEMINI_KEY), 'the API key never comes back');
  });

  t.test('GET /ops/telemetry', async (t) => {
    resources.counters.incr('webhooks_received', 4);
    resources.counters.count('webhooks_rejected', { reason: 'invalid_signature' }, 2);
    resources.counters.incr('webhook_signature_failures', 2);
    resources.counters.count('sends', { result: 'ok' }, 3);
    resources.counters.count('dead_lettered', { queue: 'outbound' });
    resources.latency.record('ack', 12);
    await resources.latency.flush();
    const res = await get('/ops/telemetry');
    t.equal(res.statusCode, 200);
    const body = res.json();
    t.equal(body.webhooks.received, 4);
    t.same(body.webhooks.rejected, { invalid_signature: 2 });
    t.equal(body.webhook_signature_failures, 2);
    t.equal(body.ai.ai_calls, 7);
    t.equal(body.sends.ok, 3);
    t.same(body.sends.dead_lettered, { outbound: 1 });
    t.equal(body.queues.outbound.waiting, 0);
    t.equal(body.latency_ms.ack.count, 1);
    t.equal(body.latency_ms.ack.p50, 12);
    t.equal(body.counters.webhooks_received, 4, 'the raw hash is included');
  });

  t.test('GET /ops/events', async (t) => {
    const all = await get('/ops/events');
    t.equal(all.statusCode, 200);
    const list = all.json();
    t.equal(list.events.length, 6);
    t.equal(list.next_cursor, null);
    t.same(
      list.events.map((e: { id: string }) => e.id),
      [...rows].sort((a, b) => b.receivedAt.getTime() - a.receivedAt.getTime()).map((r) => r.id),
      'newest first',
    );
    t.same(Object.keys(list.events[0]).sort(), [
      'attempts',
      'channel',
      'id',
      'outcome',
      'page_id',
      'processed_at',
      'received_at',
      'status',
      'type',
    ]);
    t.notOk(all.body.includes(senderHash), 'no sender hash');

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await get(`/ops/events?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      t.equal(res.statusCode, 200);
      const page = res.json();
      t.ok(page.events.length <= 2);
      seen.push(...page.events.map((e: { id: string }) => e.id));
      cursor = page.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    t.equal(pages, 3, 'six events in pages of two');
    t.same(
      seen,
      list.events.map((e: { id: string }) => e.id),
      'cursor pages cover everything once, in order',
    );

    const deadOnly = (await get('/ops/events?status=dead_letter')).json();
    t.same(
      deadOnly.events.map((e: { id: string }) => e.id),
      [dead.id],
    );
    const ig = (await get('/ops/events?channel=instagram')).json();
    t.equal(ig.events.length, 2);

    for (const bad of ['limit=0', 'limit=201', 'limit=abc', 'status=lost', 'channel=telegram', 'cursor=not-a-cursor']) {
      const res = await get(`/ops/events?${bad}`);
      t.equal(res.statusCode, 400, `${bad} → 400`);
    }

    // Cursors shaped like ours but not issued by the API: JavaScript's Date.parse takes each of these
    // timestamps, PostgreSQL's timestamptz does not (or takes a different instant). A 400, never a 500.
    const forged = (at: unknown, id: unknown = hex()) => Buffer.from(JSON.stringify([at, id])).toString('base64url');
    for (const at of [
      '1',
      '2024',
      '+275760-09-13T00:00:00.000Z',
      '-000001-01-01T00:00:00.000Z',
      '0000-01-01T00:00:00.000Z',
      '1969-12-31T23:59:59.999Z',
      '2024-02-30T00:00:00.000Z',
      '2024-01-01T00:00:00Z',
      '2024-01-01T00:00:00.000+01:00',
      '2024-01-01 00:00:00.000Z',
      'Mon, 01 Jan 2024 00:00:00 GMT',
      12,
    ]) {
      const res = await get(`/ops/events?cursor=${forged(at)}`);
      t.equal(res.statusCode, 400, `cursor at ${JSON.stringify(at)} → 400`);
      t.same(res.json(), { error: 'invalid_request', message: 'cursor is not one this API returned' });
    }
    t.equal(
      (await get(`/ops/events?cursor=${forged(new Date(now).toISOString(), 'F'.repeat(32))}`)).statusCode,
      400,
      'upper-case id → 400',
    );
    const issued = await get(`/ops/events?cursor=${forged(new Date(now + 60_000).toISOString(), 'f'.repeat(32))}`);
    t.equal(issued.statusCode, 200, 'a well-formed cursor is still accepted');
    t.equal(issued.json().events.length, 6);
  });

  t.test('an unknown query parameter or body field is refused by name, not ignored', async (t) => {
    const misspelt = await get('/ops/events?staus=dead_letter');
    t.equal(misspelt.statusCode, 400, 'a misspelt filter would otherwise list every event');
    t.same(misspelt.json(), { error: 'invalid_request', message: 'unknown query parameter "staus"' });
    const extra = await post('/ops/ai/toggle', { enabled: true, enable: false });
    t.equal(extra.statusCode, 400);
    t.same(extra.json(), { error: 'invalid_request', message: 'unknown body field "enable"' });
    t.equal((await get('/ops/events?status=dead_letter&limit=5')).statusCode, 200, 'known parameters still pass');
  });

  t.test('GET /ops/events/:id', async (t) => {
    const res = await get(`/ops/events/${dead.id}`);
    t.equal(res.statusCode, 200);
    const e = res.json();
    t.equal(e.id, dead.id);
    t.equal(e.status, 'dead_letter');
    t.equal(e.attempts, 1);
    t.equal(e.last_error_code, 10);
    t.match(e.last_error, /graph permanent code=10/);
    t.notOk(e.last_error.includes('1234567890123456'), 'a user-id-like number is blanked');
    t.notOk(e.last_error.includes('EAAB123456789012345'), 'a token-like value is blanked');
    t.same(e.reply, {
      path: 'fallback',
      reason: 'kill_switch',
      status: 'dead_letter',
      parts: 2,
      error_code: 10,
      decide_latency_ms: 3,
      end_to_end_ms: null,
      created_at: e.reply.created_at,
      sent_at: null,
    });
    t.notOk(res.body.includes(senderHash), 'no sender hash');
    t.equal((await get(`/ops/events/${hex()}`)).statusCode, 404, 'unknown → 404');
    t.equal((await get('/ops/events/not-an-id')).statusCode, 400, 'malformed id → 400');
  });

  t.test('GET /ops/audit', async (t) => {
    for (let i = 0; i < 3; i++) await post('/ops/ai/toggle', { enabled: i % 2 === 0 });
    const first = await get('/ops/audit?limit=2');
    t.equal(first.statusCode, 200);
    const page1 = first.json();
    t.equal(page1.entries.length, 2);
    t.ok(page1.entries[0].id > page1.entries[1].id, 'newest first');
    t.equal(page1.entries[0].action, 'ai.toggle');
    t.equal(page1.entries[0].actor, env.ADMIN_USER);
    t.ok(page1.next_cursor);
    const page2 = (await get(`/ops/audit?limit=2&cursor=${page1.next_cursor}`)).json();
    t.ok(page2.entries.every((e: { id: number }) => e.id < page1.entries[1].id));
    const total = (await db.select().from(auditLog)).length;
    t.equal(total, 5);
    for (const bad of [
      'limit=0',
      'limit=500',
      'cursor=abc',
      'cursor=-1',
      'cursor=0',
      'cursor=1.5',
      'cursor=2147483648',
      'cursor=9999999999',
      'cursor=99999999999',
    ]) {
      const res = await get(`/ops/audit?${bad}`);
      t.equal(res.statusCode, 400, `${bad} → 400`);
      t.equal(res.json().error, 'invalid_request', `${bad}: a clear error, not a database one`);
    }
    // audit_log.id is a PostgreSQL integer (serial): its largest value is still a cursor.
    const largest = await get('/ops/audit?cursor=2147483647');
    t.equal(largest.statusCode, 200);
    t.equal(largest.json().entries.length, 5);
  });
});
