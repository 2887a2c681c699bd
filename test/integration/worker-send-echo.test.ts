// Fakes Meta's Graph API (a loopback HTTP server): the real one is unreachable from tests. The API
// and worker are the real processes. A send interrupted by a crash leaves its part marked
// "sending"; these tests set that state up directly and check how the retried job settles it.
import t from 'tap';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Sealer } from '@switchboard/privacy';
import {
  bullPrefix,
  type OutboundJob,
  outboundJobOptions,
  QUEUES,
  sentMarkerKey,
  SENT_DONE_TTL_S,
  SENT_MARKER_TTL_S,
} from '@switchboard/queue';
import { eventually } from '../helpers/processes.js';
import { startPipeline } from '../helpers/pipeline.js';
import { messengerEcho, messengerText } from '../helpers/sign.js';

const PAGE = '100000000000081';

t.test('a part left "sending" by a crash: its echo settles it, otherwise it is sent again', async (t) => {
  const p = await startPipeline(t, 'worker_send_echo', { env: { AI_ENABLED: 'false', SEND_ECHO_WAIT_MS: '1500' } });
  const redis = new Redis(p.env.REDIS_URL, { maxRetriesPerRequest: null });
  t.teardown(() => redis.disconnect());
  const outbound = new Queue(QUEUES.outbound, { connection: redis, prefix: bullPrefix(p.prefix) });
  t.teardown(() => outbound.close());
  const sealer = new Sealer(Buffer.from(p.env.ENCRYPTION_KEY, 'base64'));
  const marker = (eventId: string) => sentMarkerKey(p.prefix, eventId);
  const job = async (eventId: string, recipientId: string) => {
    const data: OutboundJob = {
      v: 1,
      eventId,
      channel: 'messenger',
      pageId: PAGE,
      senderHash: 'f'.repeat(64),
      path: 'fallback',
      reason: 'kill_switch',
      decideMs: 1,
      receivedAt: Date.now(),
      sealed: sealer.sealJson({ recipientId, text: 'Thanks!' }, eventId),
    };
    await outbound.add('send', data, { ...outboundJobOptions(3), jobId: eventId });
  };
  const sendsTo = (u: string) => p.graph.sends.filter((s) => s.recipientId === u);
  const replyRow = async (eventId: string) =>
    (await p.sql`select status, graph_message_ids from replies where event_id = ${eventId}`)[0];
  /** The event's reply row, once it says sent. */
  const sentReply = (eventId: string) =>
    eventually(
      async () => {
        const r = await replyRow(eventId);
        return r?.status === 'sent' ? r : null;
      },
      10_000,
      'reply recorded',
    );

  await t.test(
    'a reply a dead run sent but never recorded: recorded and logged with its path and reason, not sent again',
    async (t) => {
      const eventId = 'e5'.repeat(16);
      await redis.hset(marker(eventId), '0', 'm_sent_before_the_crash', 'done', '1');
      await job(eventId, '900000000000805');
      const row = await sentReply(eventId);
      t.same(row?.graph_message_ids, ['m_sent_before_the_crash']);
      t.equal(sendsTo('900000000000805').length, 0, 'nothing sent again');
      const line = await eventually(
        async () =>
          p
            .logs()
            .split('\n')
            .find((l) => l.includes(eventId) && l.includes('not sent again')),
        5000,
        'its log line',
      );
      t.match(JSON.parse(line), { path: 'fallback', reason: 'kill_switch', parts: 1, eventId });
    },
  );

  await t.test('echo already in: not sent again', async (t) => {
    const eventId = 'a1'.repeat(16);
    await redis.hset(marker(eventId), '0', 'sending', 'echo:0', 'm_from_echo');
    await job(eventId, '900000000000801');
    const row = await sentReply(eventId);
    t.same(row?.graph_message_ids, ['m_from_echo'], 'the echoed message id is the record');
    t.equal(sendsTo('900000000000801').length, 0, 'nothing sent again');
  });

  await t.test('echo arrives while the retry waits (a real signed echo webhook): not sent again', async (t) => {
    const eventId = 'b2'.repeat(16);
    await redis.hset(marker(eventId), '0', 'sending');
    await job(eventId, '900000000000802');
    await new Promise((r) => setTimeout(r, 400));
    const echo = messengerEcho({
      pageId: PAGE,
      recipientId: '900000000000802',
      mid: 'm_echo_late',
      text: 'Thanks!',
      appId: p.env.FACEBOOK_APP_ID,
      metadata: `sb:${eventId}:0`,
    });
    t.equal((await p.post(echo)).status, 200);
    const row = await sentReply(eventId);
    t.same(row?.graph_message_ids, ['m_echo_late']);
    t.equal(sendsTo('900000000000802').length, 0, 'nothing sent again');
    const ttl = await redis.ttl(marker(eventId));
    t.ok(ttl > 0 && ttl <= SENT_DONE_TTL_S, `the done marker is kept two days, not 14 (${ttl} s)`);
  });

  await t.test('no echo within SEND_ECHO_WAIT_MS: sent again, once', async (t) => {
    const eventId = 'c3'.repeat(16);
    await redis.hset(marker(eventId), '0', 'sending');
    const started = Date.now();
    await job(eventId, '900000000000803');
    await eventually(async () => sendsTo('900000000000803').length === 1, 10_000, 'the resend');
    t.ok((sendsTo('900000000000803')[0]?.at ?? 0) - started >= 1400, 'only after waiting for the echo');
    await new Promise((r) => setTimeout(r, 300));
    t.equal(sendsTo('900000000000803').length, 1);
  });

  await t.test(
    'a send dead-lettered after its reply went out keeps its marker as long as the dead letter',
    async (t) => {
      const eventId = 'd4'.repeat(16);
      await redis.hset(marker(eventId), '0', 'm_sent_before', 'done', '1');
      await redis.expire(marker(eventId), 60);
      const data = {
        v: 1,
        eventId,
        channel: 'messenger',
        pageId: PAGE,
        senderHash: 'f'.repeat(64),
        path: 'fallback',
        reason: 'kill_switch',
        decideMs: 1,
        receivedAt: Date.now(),
        sealed: 'not-a-sealed-payload',
      };
      await outbound.add('send', data, { ...outboundJobOptions(3), jobId: eventId });
      await eventually(async () => (await outbound.getJobState(eventId)) === 'failed', 10_000, 'the dead letter');
      await eventually(
        async () => (await redis.ttl(marker(eventId))) > SENT_MARKER_TTL_S - 60,
        5000,
        'the marker renewed to 14 days',
      );
      t.same(
        await redis.hgetall(marker(eventId)),
        { 0: 'm_sent_before', done: '1' },
        'a replay will find the reply sent',
      );
    },
  );
});

t.test("a send that times out is retried, and Meta's echo settles it: delivered once", async (t) => {
  const p = await startPipeline(t, 'worker_send_timeout', {
    env: { AI_ENABLED: 'false', GRAPH_TIMEOUT_MS: '300', SEND_ECHO_WAIT_MS: '5000' },
  });
  const redis = new Redis(p.env.REDIS_URL, { maxRetriesPerRequest: null });
  t.teardown(() => redis.disconnect());
  const outbound = new Queue(QUEUES.outbound, { connection: redis, prefix: bullPrefix(p.prefix) });
  t.teardown(() => outbound.close());
  p.graph.echoTo({ url: `${p.apiUrl}/webhook`, appSecret: p.env.FACEBOOK_APP_SECRET, appId: p.env.FACEBOOK_APP_ID });
  // Meta takes longer than GRAPH_TIMEOUT_MS to answer, but delivers (and echoes) the message.
  p.graph.setSendDelay(700);
  const user = '900000000000804';
  t.equal(
    (await p.post(messengerText({ pageId: PAGE, senderId: user, mid: 'm_timeout_1', text: 'hello?' }))).status,
    200,
  );
  const handed = await eventually(
    async () => {
      const jobs = await outbound.getJobs(['delayed']);
      return jobs.length === 1 ? jobs[0] : null;
    },
    10_000,
    'the timed-out send waiting for its retry',
  );
  p.graph.setSendDelay(0);
  const row = await eventually(
    async () => {
      const r = (
        await p.sql`select r.status, r.graph_message_ids, e.outcome from replies r join events e on e.id = r.event_id`
      )[0];
      return r?.status === 'sent' ? r : null;
    },
    20_000,
    'reply recorded as sent',
  );
  await new Promise((r) => setTimeout(r, 500));
  const sends = p.graph.sends.filter((s) => s.recipientId === user);
  t.equal(sends.length, 1, 'Meta got the message once: the retry found its echo and did not send again');
  t.same(row?.graph_message_ids, [sends[0]?.messageId], "the record carries the echoed message's id");
  t.equal(row?.outcome, 'replied');
  const done = await outbound.getJob(handed?.id ?? '');
  t.equal(await done?.getState(), 'completed');
  t.equal(handed?.data.prior?.timeout, true, "the inbound job's own attempt timed out and handed the send over");
  t.equal(done?.attemptsMade, 1, 'one attempt of the send job, which found the echo');
  // The echo was written by the API at once and again by the worker when its job ran: neither
  // lengthens the done marker's life.
  await eventually(
    async () => (await p.sql`select 1 from events where outcome = 'echo_ours'`).length === 1,
    10_000,
    'the echo processed by the worker',
  );
  const [markerKey] = await redis.keys(`{${p.prefix}}:sent:*`);
  const ttl = await redis.ttl(markerKey ?? '');
  t.ok(ttl > 0 && ttl <= SENT_DONE_TTL_S, `the done marker is kept two days after both echo writes (${ttl} s)`);
});

t.test(
  "a send Meta accepts with an unreadable answer is not dead-lettered: Meta's echo settles it, delivered once",
  async (t) => {
    const p = await startPipeline(t, 'worker_send_unconfirmed', {
      env: { AI_ENABLED: 'false', SEND_ECHO_WAIT_MS: '5000' },
    });
    const redis = new Redis(p.env.REDIS_URL, { maxRetriesPerRequest: null });
    t.teardown(() => redis.disconnect());
    const outbound = new Queue(QUEUES.outbound, { connection: redis, prefix: bullPrefix(p.prefix) });
    t.teardown(() => outbound.close());
    p.graph.echoTo({ url: `${p.apiUrl}/webhook`, appSecret: p.env.FACEBOOK_APP_SECRET, appId: p.env.FACEBOOK_APP_ID });
    // Delivered and echoed, but the 200's body is a proxy's HTML page rather than Meta's JSON.
    p.graph.failNextSends({ status: 200, deliveredBody: '<html><body>OK</body></html>' });
    const user = '900000000000806';
    t.equal(
      (await p.post(messengerText({ pageId: PAGE, senderId: user, mid: 'm_unconfirmed_1', text: 'hello?' }))).status,
      200,
    );
    const row = await eventually(
      async () => {
        const r = (
          await p.sql`select r.status, r.graph_message_ids, e.outcome from replies r join events e on e.id = r.event_id`
        )[0];
        return r?.status === 'sent' ? r : null;
      },
      20_000,
      'reply recorded as sent',
    );
    await new Promise((r) => setTimeout(r, 500));
    const sends = p.graph.sends.filter((s) => s.recipientId === user);
    t.equal(sends.length, 1, 'Meta got the message once: the retry found its echo and did not send again');
    t.same(row?.graph_message_ids, [sends[0]?.messageId], "the record carries the echoed message's id");
    t.equal(row?.outcome, 'replied');
    const [job] = await outbound.getJobs(['completed']);
    t.equal(job?.data.prior?.timeout, true, 'handed over as possibly delivered');
    t.equal((await outbound.getJobs(['failed'])).length, 0, 'nothing dead-lettered');
  },
);
