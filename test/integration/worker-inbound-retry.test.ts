// Fakes Google's Gemini API and Meta's Graph API (loopback HTTP servers): the real ones are
// unreachable from tests. The API (in-process), the inbound processor, BullMQ, PostgreSQL and
// Redis are real.
import t from 'tap';
import postgres from 'postgres';
import type { Job } from 'bullmq';
import { createDb } from '@switchboard/db';
import { createLogger } from '@switchboard/observability';
import { inboundJobSchema, sentMarkerKey } from '@switchboard/queue';
import { createInboundProcessor } from '../../apps/worker/src/processors/inbound.js';
import { createJobEndings } from '../../apps/worker/src/dead-letters.js';
import { PermanentSendError, RetryableSendError } from '../../apps/worker/src/send-errors.js';
import { createWorkerResources } from '../../apps/worker/src/resources.js';
import { buildTestApp } from '../helpers/app.js';
import { startFakeGemini } from '../helpers/fake-gemini.js';
import { startFakeGraph } from '../helpers/fake-graph.js';
import { eventually } from '../helpers/processes.js';
import { messengerText, signedRequest } from '../helpers/sign.js';

const PAGE = '100000000000071';
const AI_TEXT = 'Ja, samstags von 10 bis 18 Uhr.';

t.test('the inbound job sends its reply itself, and a retried job never decides twice', async (t) => {
  const gemini = await startFakeGemini();
  t.teardown(() => gemini.close());
  gemini.setReply(AI_TEXT);
  const graph = await startFakeGraph();
  t.teardown(() => graph.close());
  const { app, config, env, databaseUrl, resources } = await buildTestApp(t, 'inbound_retry', {
    AI_ENABLED: 'true',
    GEMINI_API_KEY: 'test-gemini-key',
    GEMINI_BASE_URL: gemini.url,
    GRAPH_API_BASE_URL: graph.url,
    FACEBOOK_PAGE_ACCESS_TOKEN: 'test-page-token-retry',
  });
  const worker = createWorkerResources(config, createLogger({ level: 'silent', service: 'worker' }));
  t.teardown(() => worker.close());
  // What a worker process does once its Redis connection is ready (redis-state-recovery.ts): the
  // switch's copy, missing in a new deployment's Redis, would otherwise read as off.
  await worker.killSwitch.restore();
  const shard = { index: 0, tag: worker.shards.tags[0] as string };
  const processInbound = createInboundProcessor(worker, shard);
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 5 }));

  let n = 0;
  /** Posts one message through the real webhook and returns its queued inbound job. */
  const arrive = async (user: string): Promise<Job> => {
    const req = signedRequest(
      env.FACEBOOK_APP_SECRET as string,
      messengerText({ pageId: PAGE, senderId: user, mid: `m_retry_${++n}`, text: 'Habt ihr samstags offen?' }),
    );
    t.equal(
      (await app.inject({ method: 'POST', url: '/webhook', headers: req.headers, payload: req.body })).statusCode,
      200,
    );
    const job = (await resources.inboundQueue.getWaiting()).find(
      (j) => !j.data.reply && j.data.senderHash && !seen.has(j.id as string),
    );
    if (!job) throw new Error('the webhook enqueued no job');
    seen.add(job.id as string);
    return job;
  };
  const seen = new Set<string>();
  /** The job as BullMQ hands it to the next run: read back from Redis. */
  const reread = async (job: Job) => (await resources.inboundQueue.getJob(job.id as string)) as Job;
  const sendsTo = (user: string) => graph.sends.filter((s) => s.recipientId === user);

  await t.test('the common case: decided, sent and recorded by the one job', async (t) => {
    const user = '900000000000071';
    const job = await arrive(user);
    const eventId = job.data.eventId as string;
    t.equal(await processInbound(job), 'replied');
    t.equal(gemini.calls.length, 1);
    t.same(
      sendsTo(user).map((s) => s.text),
      [AI_TEXT],
      'sent once, the AI text',
    );
    t.equal(await worker.outboundQueue.count(), 0, 'no second job');
    const stored = inboundJobSchema.parse((await reread(job)).data);
    t.ok(stored.reply?.sealed, 'the decision is kept in the job, sealed');
    t.notOk(JSON.stringify(stored).includes(AI_TEXT), 'not in clear');
    t.notOk(JSON.stringify(stored).includes(user), 'nor the recipient');
    const [event] = await eventually(
      async () => {
        const rows = await sql`select status, outcome from events where id = ${eventId}`;
        return rows[0]?.status === 'processed' ? rows : null;
      },
      5000,
      'the event recorded as processed',
    );
    t.equal(event?.outcome, 'replied');
    const [reply] = await sql`select status, path from replies where event_id = ${eventId}`;
    t.same([reply?.status, reply?.path], ['sent', 'ai']);
    // Answered at its first run: the event, its reply and its user come from one statement (one
    // transaction, one now()), not from an arrival write and a later update.
    const [one] =
      await sql`select u.first_seen_at = r.sent_at and e.processed_at = r.sent_at as same_statement, e.attempts, u.message_count
      from events e join replies r on r.event_id = e.id join users u on u.sender_hash = e.sender_hash where e.id = ${eventId}`;
    t.same(
      [one?.same_statement, one?.attempts, Number(one?.message_count)],
      [true, 1, 1],
      'event, reply and user written together, the user counted once',
    );

    // BullMQ runs it again (a stalled lock): nothing is decided or sent twice.
    t.equal(await processInbound(await reread(job)), 'duplicate');
    t.equal(gemini.calls.length, 1, 'the AI was not asked again');
    t.equal(sendsTo(user).length, 1, 'not sent again');
  });

  await t.test('a Graph error hands the send to its own job, with the decision', async (t) => {
    const user = '900000000000072';
    graph.failNextSends({ status: 500, code: 2, message: 'Service temporarily unavailable' });
    const job = await arrive(user);
    const eventId = job.data.eventId as string;
    const calls = gemini.calls.length;
    t.equal(await processInbound(job), 'reply_queued');
    t.equal(gemini.calls.length, calls + 1);
    t.equal(sendsTo(user).length, 0, 'the first attempt failed');
    const handed = await worker.outboundQueue.getJob(eventId);
    t.ok(handed, 'the send is its own job now');
    t.match(
      handed?.data.prior,
      { detail: 'graph 2 (status 500): Service temporarily unavailable', timeout: false, final: false },
      'saying how the first attempt ended',
    );
    t.ok((handed?.opts.delay ?? 0) > 0, 'after a backoff');
    t.equal(handed?.opts.attempts, config.worker.sendMaxAttempts - 1, 'the inline attempt counts as the first');
    const [event] = await sql`select status, outcome from events where id = ${eventId}`;
    t.same([event?.status, event?.outcome], ['processing', null], 'processing until the send finishes');

    // The process died after the hand-over (BullMQ runs the job again): no second decision.
    t.equal(await processInbound(await reread(job)), 'duplicate');
    t.equal(gemini.calls.length, calls + 1, 'the AI was not asked again');
    t.equal(await worker.outboundQueue.count(), 1, 'still one send');
    const [again] = await sql`select attempts from events where id = ${eventId}`;
    t.equal(again?.attempts, 2, 'the retry is recorded');
  });

  await t.test('a run after a crash between decision and hand-over sends the decided reply', async (t) => {
    const user = '900000000000073';
    graph.failNextSends({ status: 500, code: 2 });
    const job = await arrive(user);
    const eventId = job.data.eventId as string;
    t.equal(await processInbound(job), 'reply_queued');
    // As if the process had died before the hand-over: the decision is in the job, no send job.
    await worker.outboundQueue.remove(eventId);
    gemini.setReply('A different answer the second time.');
    const calls = gemini.calls.length;
    t.equal(await processInbound(await reread(job)), 'replied');
    t.equal(gemini.calls.length, calls, 'not decided again');
    t.same(
      sendsTo(user).map((s) => s.text),
      [AI_TEXT],
      'the reply decided first, once',
    );
    gemini.setReply(AI_TEXT);
  });

  await t.test('an inbound job dead-lettered after deciding records its reply as dead-lettered', async (t) => {
    graph.failNextSends({ status: 500, code: 2 });
    const job = await arrive('900000000000075');
    const eventId = job.data.eventId as string;
    t.equal(await processInbound(job), 'reply_queued');
    await worker.outboundQueue.remove(eventId);
    // What the registry's hook does when the job fails for good (its attempts used up): Meta's code
    // comes with the error, as data.
    await createJobEndings(worker, shard).failedForGood(
      await reread(job),
      new RetryableSendError(
        { detail: 'graph 2 (status 500): temporary Graph API error', code: 2 },
        { rateLimited: false, retryAfterMs: null },
      ),
    );
    const [reply] = await sql`select status, error_code, path from replies where event_id = ${eventId}`;
    t.same(
      [reply?.status, reply?.error_code, reply?.path],
      ['dead_letter', 2, 'ai'],
      'the decided reply, dead-lettered',
    );
    const [event] = await sql`select status, last_error_code from events where id = ${eventId}`;
    t.same([event?.status, event?.last_error_code], ['dead_letter', 2]);
  });

  await t.test(
    'a dead letter PostgreSQL cannot record still keeps its sent marker for replay, and the failure is counted',
    async (t) => {
      graph.failNextSends({ status: 500, code: 2 });
      const job = await arrive('900000000000076');
      const eventId = job.data.eventId as string;
      t.equal(await processInbound(job), 'reply_queued');
      await worker.outboundQueue.remove(eventId);
      const marker = sentMarkerKey(config.queuePrefix, eventId);
      await worker.redis.hset(marker, '0', 'sending');
      await worker.redis.expire(marker, 60);
      // A real PostgreSQL client, closed: every statement on it fails.
      const closed = createDb(databaseUrl, { applicationName: 'switchboard-test-closed' });
      await closed.close();
      await createJobEndings({ ...worker, dbh: closed }, shard).failedForGood(
        await reread(job),
        new PermanentSendError({ detail: 'graph 10 (status 400): not allowed', code: 10 }),
      );
      t.ok((await worker.redis.ttl(marker)) > 13 * 24 * 3600, 'the marker lives as long as the dead letter');
      await worker.counters.flush();
      const counted = Object.entries(await worker.counters.read()).find(
        ([k]) => k.startsWith('state_write_failures') && k.includes('dead_letter_record'),
      );
      t.equal(counted?.[1], 1, 'the failed record is counted, not dropped in silence');
      const [event] = await sql`select status from events where id = ${eventId}`;
      t.not(event?.status, 'dead_letter', 'nothing was recorded');
    },
  );

  await t.test(
    'a job from before this version (no decision kept) whose reply went out is not answered again',
    async (t) => {
      const user = '900000000000074';
      const job = await arrive(user);
      const eventId = job.data.eventId as string;
      await worker.redis.hset(sentMarkerKey(config.queuePrefix, eventId), '0', 'm_earlier');
      // Its first run recorded the event (what recordArrival writes) and sent the reply.
      const d = inboundJobSchema.parse(job.data);
      const row = {
        eventId,
        channel: d.channel,
        pageId: d.pageId,
        senderHash: d.senderHash,
        midHash: d.midHash,
        type: d.type,
        settled: null,
        eventAt: new Date(d.timestamp),
        receivedAt: new Date(d.receivedAt),
        countsAsMessage: true,
      };
      t.equal((await worker.writes.arrival(row)).inserted, true);
      job.attemptsStarted = 2; // this is its second run
      const calls = gemini.calls.length;
      t.equal(await processInbound(job), 'duplicate');
      t.equal(gemini.calls.length, calls, 'no decision');
      t.equal(sendsTo(user).length, 0, 'nothing sent');
    },
  );
});
