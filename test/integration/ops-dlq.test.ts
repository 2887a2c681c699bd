// Fakes nothing: dead letters are made by a real BullMQ Worker failing real jobs in real Redis; PostgreSQL and Fastify are real.
import t from 'tap';
import { auditLog } from '@switchboard/db';
import { buildTestApp } from '../helpers/app.js';
import { makeDeadLetters } from '../helpers/dead-letter.js';

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

t.test('dead-letter queue', async (t) => {
  const { app, env, resources, prefix } = await buildTestApp(t, 'ops-dlq');
  const headers = { authorization: basic(env.ADMIN_USER as string, env.ADMIN_PASS as string) };
  const get = (url: string) => app.inject({ method: 'GET', url, headers });
  const post = (url: string, payload?: Record<string, unknown>) => app.inject({ method: 'POST', url, headers, ...(payload === undefined ? {} : { payload }) });

  const made = await makeDeadLetters(resources, env.REDIS_URL as string, prefix, [
    { queue: 'outbound', pageId: '111', reason: 'graph permanent code=10 subcode=2018278 status=400' },
    { queue: 'outbound', pageId: '222', reason: 'graph permanent code=551 subcode=1545041 status=400' },
    { queue: 'outbound', pageId: '111', reason: 'graph permanent code=100 subcode=none status=400 to 1234567890123456' },
    { queue: 'inbound', pageId: '111', reason: 'inbound payload cannot be opened (wrong ENCRYPTION_KEY?)' },
  ]);

  t.test('GET /ops/dlq', async (t) => {
    const res = await get('/ops/dlq');
    t.equal(res.statusCode, 200);
    const { jobs } = res.json();
    t.equal(jobs.length, 4);
    t.same(jobs.map((j: { id: string }) => j.id).sort(), made.map((m) => m.id).sort());
    const first = jobs.find((j: { id: string }) => j.id === made[0]!.id);
    t.match(first, { queue: 'outbound', reason: 'graph permanent code=10 subcode=2018278 status=400', error_code: 10, attempts: 1, page_id: '111', event_id: made[0]!.eventId });
    t.ok(!Number.isNaN(Date.parse(first.failed_at)));
    const third = jobs.find((j: { id: string }) => j.id === made[2]!.id);
    t.notOk(third.reason.includes('1234567890123456'), 'reasons are sanitised');
    t.notOk(res.body.includes('v1.x.y.z.w'), 'the sealed payload is never shown');
    t.equal((await get('/ops/dlq?limit=2')).json().jobs.length, 2);
    t.equal((await get('/ops/dlq?limit=0')).statusCode, 400);
  });

  t.test('POST /ops/dlq/:id/retry', async (t) => {
    const target = made[1]!;
    const res = await post(`/ops/dlq/${encodeURIComponent(target.id)}/retry`);
    t.equal(res.statusCode, 202);
    t.same(res.json(), { retried: true, id: target.id, queue: 'outbound' });
    const jobId = target.id.split(':')[1] as string;
    const job = await resources.outboundQueue.getJob(jobId);
    t.equal(await job?.getState(), 'waiting', 'back in the queue');
    t.equal(job?.attemptsMade, 0, 'with its attempts reset');

    t.equal((await post(`/ops/dlq/${encodeURIComponent(target.id)}/retry`)).statusCode, 404, 'no longer dead-lettered → 404');
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

    for (const bad of [{ error_code: 'ten' }, { from: 'yesterday' }, { dry_run: 'yes' }, { queue: 'maintenance' }, { from: '2030-01-02T00:00:00Z', to: '2030-01-01T00:00:00Z' }]) {
      t.equal((await post('/ops/dlq/retry', bad)).statusCode, 400, `${JSON.stringify(bad)} → 400`);
    }
    const future = await post('/ops/dlq/retry', { from: new Date(Date.now() + 3600_000).toISOString(), dry_run: true });
    t.equal(future.json().matched, 0, 'time window filters');

    t.equal((await post('/ops/dlq/retry', { error_code: 551, dry_run: true })).json().matched, 0, 'error_code filters');
    const real = await post('/ops/dlq/retry', { error_code: 10 });
    t.same(real.json(), { dry_run: false, matched: 1, retried: 1, jobs: [made[0]!.id] });
    t.equal(await resources.outboundQueue.getFailedCount(), 0);
    const [entry] = await resources.dbh.db.select().from(auditLog).orderBy(auditLog.id).offset(before);
    t.match(entry, { action: 'dlq.replay', actor: env.ADMIN_USER, details: { filter: { error_code: 10 }, matched: 1, retried: 1 } });
    t.same((await get('/ops/dlq')).json().jobs, []);
  });
});
