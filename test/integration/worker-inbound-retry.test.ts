// Fakes Google's Gemini API (a loopback HTTP server): the real one is unreachable from tests. The
// API (in-process), the inbound processor, BullMQ, PostgreSQL and Redis are real.
import t from 'tap';
import postgres from 'postgres';
import { createLogger } from '@switchboard/observability';
import { createInboundProcessor } from '../../apps/worker/src/processors/inbound.js';
import { createWorkerResources } from '../../apps/worker/src/resources.js';
import { buildTestApp } from '../helpers/app.js';
import { startFakeGemini } from '../helpers/fake-gemini.js';
import { messengerText, signedRequest } from '../helpers/sign.js';

const PAGE = '100000000000071';

t.test('a retried inbound job decides again only when its reply was not handed over yet', async (t) => {
  const gemini = await startFakeGemini();
  t.teardown(() => gemini.close());
  gemini.setReply('Ja, samstags von 10 bis 18 Uhr.');
  const { app, config, env, databaseUrl, resources } = await buildTestApp(t, 'inbound_retry', {
    AI_ENABLED: 'true',
    GEMINI_API_KEY: 'test-gemini-key',
    GEMINI_BASE_URL: gemini.url,
  });
  const worker = createWorkerResources(config, createLogger({ level: 'silent', service: 'worker' }));
  t.teardown(() => worker.close());
  const processInbound = createInboundProcessor(worker);
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 5 }));

  const req = signedRequest(env.FACEBOOK_APP_SECRET as string, messengerText({ pageId: PAGE, senderId: '900000000000071', mid: 'm_retry_1', text: 'Habt ihr samstags offen?' }));
  t.equal((await app.inject({ method: 'POST', url: '/webhook', headers: req.headers, payload: req.body })).statusCode, 200);
  const [job] = await resources.inboundQueue.getWaiting();
  if (!job) throw new Error('the webhook enqueued no job');
  const eventId = job.data.eventId as string;

  t.equal(await processInbound(job), 'reply_queued', 'first attempt: decided and handed over');
  t.equal(gemini.calls.length, 1);
  t.ok(await worker.outboundQueue.getJob(eventId), 'the send is its own job');
  const [event] = await sql`select status, outcome, attempts from events where id = ${eventId}`;
  t.same([event?.status, event?.outcome], ['processing', null], 'processing until the send finishes');

  // The process died after the hand-over (BullMQ runs the job again): no second decision.
  t.equal(await processInbound(job), 'duplicate');
  t.equal(gemini.calls.length, 1, 'the AI was not asked again');
  t.equal(await worker.outboundQueue.count(), 1, 'still one send');
  const [again] = await sql`select attempts from events where id = ${eventId}`;
  t.equal(again?.attempts, 2, 'the retry is recorded');

  // Had it died before the hand-over, the retry decides (there is nothing to send otherwise).
  await worker.outboundQueue.remove(eventId);
  t.equal(await processInbound(job), 'reply_queued');
  t.equal(gemini.calls.length, 2);
  t.ok(await worker.outboundQueue.getJob(eventId), 'handed over now');
});
