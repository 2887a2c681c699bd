// Fakes Meta's Graph API only in the last test (a loopback server scripted to fail sends, as the real one
// cannot be made to); dead letters are otherwise made by a real BullMQ Worker failing real jobs in real
// Redis. PostgreSQL, Redis, BullMQ, Fastify and the worker process are real.
import t from 'tap';
import { auditLog } from '@switchboard/db';
import { buildTestApp } from '../helpers/app.js';
import { makeDeadLetters } from '../helpers/dead-letter.js';
import { startPipeline } from '../helpers/pipeline.js';
import { eventually } from '../helpers/processes.js';
import { messengerText } from '../helpers/sign.js';

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

t.test('dead-letter queue', async (t) => {
  const { app, env, resources, prefix } = await buildTestApp(t, 'ops-dlq');
  const headers = { authorization: basic(env.ADMIN_USER as string, env.ADMIN_PASS as string) };
  const get = (url: string) => app.inject({ method: 'GET', url, headers });
  const post = (url: string, payload?: Record<string, unknown>) =>
    app.inject({ method: 'POST', url, headers, ...(payload === undefined ? {} : { payload }) });

  const made = await makeDeadLetters(resources, env.REDIS_URL as string, prefix, [
    { queue: 'outbound', pageId: '111', reason: 'graph permanent code=10 subcode=2018278 status=400' },
    { queue: 'outbound', pageId: '222', reason: 'graph permanent code=551 subcode=1545041 status=400' },
    {
      queue: 'outbound',
      pageId: '111',
      reason: 'graph permanent code=100 subcode=none status=400 to 1234567890123456',
    },
    { queue: 'inbound', pageId: '111', reason: 'inbound payload cannot be opened (wrong ENCRYPTION_KEY?)' },
  ]);

  t.test('GET /ops/dlq', async (t) => {
    const res = await get('/ops/dlq');
    t.equal(res.statusCode, 200);
    const { jobs } = res.json();
    t.equal(jobs.length, 4);
    t.same(jobs.map((j: { id: string }) => j.id).sort(), made.map((m) => m.id).sort());
    const first = jobs.find((j: { id: string }) => j.id === made[0]!.id);
    t.match(first, {
      queue: 'outbound',
      reason: 'graph permanent code=10 subcode=2018278 status=400',
      error_code: 10,
      attempts: 1,
      page_id: '111',
      event_id: made[0]!.eventId,
    });
    t.ok(!Number.isNaN(Date.parse(first.failed_at)));
    const third = jobs.find((j: { id: string }) => j.id === made[2]!.id);
    t.notOk(third.reason.includes('1234567890123456'), 'reasons are sanitised');
    t.notOk(res.body.includes('v1.x.y.z.w'), 'the sealed payload is never shown');
    t.equal((await get('/ops/dlq?limit=2')).json().jobs.length, 2);
    t.equal((await get('/ops/dlq?limit=0')).statusCode, 400);
  });

  t.test('POST /ops/dlq/:id/retry', async (t) => {
    const target = made[1]!;
    const listed = (await get('/ops/dlq')).json().jobs.find((j: { id: string }) => j.id === target.id);
    t.equal(listed?.reason, 'graph permanent code=551 subcode=1545041 status=400');
    const res = await post(`/ops/dlq/${encodeURIComponent(target.id)}/retry`);
    t.equal(res.statusCode, 202);
    t.same(res.json(), { retried: true, id: target.id, queue: 'outbound' });
    const jobId = target.id.split(':')[1] as string;
    const job = await resources.outboundQueue.getJob(jobId);
    t.equal(await job?.getState(), 'waiting', 'back in the queue');
    t.equal(job?.attemptsMade, 0, 'with its attempts reset');

    t.equal(
      (await post(`/ops/dlq/${encodeURIComponent(target.id)}/retry`)).statusCode,
      404,
      'no longer dead-lettered → 404',
    );
    t.equal((await post('/ops/dlq/outbound:999999/retry')).statusCode, 404, 'unknown → 404');
    t.equal((await post('/ops/dlq/maintenance:1/retry')).statusCode, 404, 'not a dead-letter queue → 404');
    t.equal((await post('/ops/dlq/bad%20id/retry')).statusCode, 400, 'malformed id → 400');

    const bare = made[3]!.id.split(':')[1] as string;
    t.equal(bare, made[0]!.id.split(':')[1], 'job ids are per queue: inbound and outbound both have this one');
    const ambiguous = await post(`/ops/dlq/${bare}/retry`);
    t.equal(ambiguous.statusCode, 409, 'a bare id held by both queues is refused, not guessed');
    const viaBare = await post(`/ops/dlq/inbound:${bare}/retry`);
    t.equal(viaBare.statusCode, 202);
    t.equal(viaBare.json().queue, 'inbound');
    const unique = made[2]!.id.split(':')[1] as string;
    t.equal((await resources.inboundQueue.getJob(unique)) ?? null, null);
    const viaUnique = await post(`/ops/dlq/${unique}/retry`);
    t.equal(viaUnique.statusCode, 202, 'a bare job id held by one queue is found there');
    t.equal(viaUnique.json().id, made[2]!.id);

    const audit = await resources.dbh.db.select().from(auditLog).orderBy(auditLog.id);
    t.same(
      audit.map((a) => [a.action, a.target]),
      [
        ['dlq.retry', target.id],
        ['dlq.retry', `inbound:${bare}`],
        ['dlq.retry', made[2]!.id],
      ],
    );
    t.equal(audit[0]?.actor, env.ADMIN_USER);
    t.match(audit[0]?.details, { queue: 'outbound', page_id: '222', event_id: target.eventId });
    // BullMQ's Job.retry clears failedReason: the audit row keeps the reason the listing showed.
    t.equal(
      (audit[0]?.details as { reason?: unknown } | null)?.reason,
      listed?.reason,
      'the audit row carries the failure reason',
    );
    t.equal(
      (audit[2]?.details as { reason?: unknown } | null)?.reason,
      'graph permanent code=100 subcode=none status=400 to [id]',
      'sanitised as the listing shows it',
    );
  });

  t.test('POST /ops/dlq/retry (bulk replay)', async (t) => {
    const before = (await resources.dbh.db.select().from(auditLog)).length;
    const dry = await post('/ops/dlq/retry', { page_id: '111', dry_run: true });
    t.equal(dry.statusCode, 200);
    t.same(dry.json(), { dry_run: true, matched: 1, retried: 0, jobs: [made[0]!.id] });
    t.equal((await resources.dbh.db.select().from(auditLog)).length, before, 'a dry run is not audited');
    t.equal(await resources.outboundQueue.getFailedCount(), 1, 'a dry run moves nothing');
    const all = await post('/ops/dlq/retry', { dry_run: true });
    t.equal(all.json().matched, 1, 'no filter matches every dead letter');

    for (const bad of [
      { error_code: 'ten' },
      { from: 'yesterday' },
      { dry_run: 'yes' },
      { queue: 'maintenance' },
      { from: '2030-01-02T00:00:00Z', to: '2030-01-01T00:00:00Z' },
    ]) {
      t.equal((await post('/ops/dlq/retry', bad)).statusCode, 400, `${JSON.stringify(bad)} → 400`);
    }
    const future = await post('/ops/dlq/retry', { from: new Date(Date.now() + 3600_000).toISOString(), dry_run: true });
    t.equal(future.json().matched, 0, 'time window filters');

    t.equal((await post('/ops/dlq/retry', { error_code: 551, dry_run: true })).json().matched, 0, 'error_code filters');
    const real = await post('/ops/dlq/retry', { error_code: 10 });
    t.same(real.json(), { dry_run: false, matched: 1, retried: 1, jobs: [made[0]!.id] });
    t.equal(await resources.outboundQueue.getFailedCount(), 0);
    const [entry] = await resources.dbh.db.select().from(auditLog).orderBy(auditLog.id).offset(before);
    t.match(entry, {
      action: 'dlq.replay',
      actor: env.ADMIN_USER,
      details: { filter: { error_code: 10 }, matched: 1, retried: 1 },
    });
    t.same((await get('/ops/dlq')).json().jobs, []);
  });
});

t.test("attempts of a dead-lettered send count every Send API call, the inbound job's inline one too", async (t) => {
  // SEND_MAX_ATTEMPTS counts the first attempt, which the inbound job makes itself (README, "Workers").
  const p = await startPipeline(t, 'ops_dlq_attempts', { env: { AI_ENABLED: 'false', SEND_MAX_ATTEMPTS: '2' } });
  const { app, env } = await buildTestApp(t, 'ops-dlq-attempts', {}, { databaseUrl: p.databaseUrl, prefix: p.prefix });
  const headers = { authorization: basic(env.ADMIN_USER as string, env.ADMIN_PASS as string) };
  const get = async (url: string) => (await app.inject({ method: 'GET', url, headers })).json();
  const sendCalls = () => p.graph.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/messages')).length;
  const page = '100000000000061';
  type Listed = { event_id: string; attempts: number; reason: string };
  const deadLetterOf = (eventId: string) =>
    eventually(
      async () => ((await get('/ops/dlq')).jobs as Listed[]).find((j) => j.event_id === eventId),
      30_000,
      'the send dead-lettered',
    );
  const seen: string[] = [];
  const newDeadEvent = async () => {
    const id = await eventually(
      async () => {
        const rows = await p.sql<Array<{ id: string }>>`select id from events where status = 'dead_letter'`;
        return rows.map((r) => r.id).find((id) => !seen.includes(id));
      },
      30_000,
      'an event dead-lettered',
    );
    seen.push(id);
    return id;
  };

  await t.test("transient errors: the inline attempt and the send job's one", async (t) => {
    const transient = { status: 500, code: 2, message: 'Service temporarily unavailable' };
    p.graph.failNextSends(transient, transient);
    const before = sendCalls();
    await p.post(
      messengerText({ pageId: page, senderId: '900000000000301', mid: `m_ops_attempts_1_${Date.now()}`, text: 'hi' }),
    );
    const eventId = await newDeadEvent();
    const listed = await deadLetterOf(eventId);
    t.equal(sendCalls() - before, 2, 'the fake Graph saw two send attempts');
    t.equal(listed.reason, 'graph 2 (status 500): Service temporarily unavailable');
    t.equal(listed.attempts, 2, '/ops/dlq counts both');
    t.equal((await get(`/ops/events/${eventId}`)).attempts, 2, '/ops/events/:id agrees');
    const summary = (
      (await get('/ops/events?status=dead_letter')).events as Array<{ id: string; attempts: number }>
    ).find((e) => e.id === eventId);
    t.equal(summary?.attempts, 2, '/ops/events agrees');
  });

  await t.test('a permanent error: one call, dead-lettered without calling Meta again', async (t) => {
    p.graph.failNextSends({
      status: 400,
      code: 10,
      subcode: 2018278,
      message: 'This message is sent outside of allowed window.',
    });
    const before = sendCalls();
    await p.post(
      messengerText({ pageId: page, senderId: '900000000000302', mid: `m_ops_attempts_2_${Date.now()}`, text: 'hi' }),
    );
    const eventId = await newDeadEvent();
    const listed = await deadLetterOf(eventId);
    t.equal(sendCalls() - before, 1, 'the fake Graph saw one send attempt');
    t.equal(listed.attempts, 1);
    t.equal((await get(`/ops/events/${eventId}`)).attempts, 1);
  });
});
