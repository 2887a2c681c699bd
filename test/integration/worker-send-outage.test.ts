// Fakes Meta's Graph API (a loopback HTTP server that fails every send for a while, as an outage
// would): the real one cannot be made to fail on demand. API and worker are the real processes.
import t from 'tap';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { bullPrefix, QUEUES } from '@switchboard/queue';
import { eventually } from '../helpers/processes.js';
import { startPipeline } from '../helpers/pipeline.js';
import { messengerText } from '../helpers/sign.js';

const PAGE = '100000000000091';
const OUTAGE_MS = 10_000;

t.test('a Graph outage longer than the first few retries: the reply goes out once Graph recovers, once', async (t) => {
  // Four attempts: the waits between them (about 1 s, 4 s, 16 s) outlast a 10 s outage; the
  // first three attempts fall inside it.
  const p = await startPipeline(t, 'worker_send_outage', { env: { AI_ENABLED: 'false', SEND_MAX_ATTEMPTS: '4' } });
  const redis = new Redis(p.env.REDIS_URL, { maxRetriesPerRequest: null });
  t.teardown(() => redis.disconnect());
  const outbound = new Queue(QUEUES.outbound, { connection: redis, prefix: bullPrefix(p.prefix) });
  t.teardown(() => outbound.close());
  const user = '900000000000901';
  const attempts = () =>
    p.graph.requests.filter((r) => r.method === 'POST' && r.path === `/v25.0/${PAGE}/messages`).length;

  p.graph.failSendsFor(PAGE, { status: 503, code: 2 });
  t.equal(
    (await p.post(messengerText({ pageId: PAGE, senderId: user, mid: 'm_outage_1', text: 'anyone there?' }))).status,
    200,
  );
  await eventually(async () => attempts() >= 1, 15_000, 'the first attempt');
  await new Promise((r) => setTimeout(r, OUTAGE_MS));
  p.graph.failSendsFor(PAGE, null);
  const failedDuringOutage = attempts();

  const row = await eventually(
    async () => {
      const r = (await p.sql`select r.status, e.outcome from replies r join events e on e.id = r.event_id`)[0];
      return r?.status === 'sent' ? r : null;
    },
    30_000,
    'the reply recorded as sent',
  );
  await new Promise((r) => setTimeout(r, 500));
  t.equal(p.graph.sends.filter((s) => s.recipientId === user).length, 1, 'delivered once');
  t.equal(row?.outcome, 'replied');
  t.equal(failedDuringOutage, 3, 'three attempts failed during the outage');
  t.equal(attempts(), 4, 'the fourth went through');
  t.equal((await outbound.getJobs(['failed'])).length, 0, 'nothing dead-lettered');
});
