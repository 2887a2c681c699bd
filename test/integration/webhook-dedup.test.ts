// Fakes nothing: several real API apps (Fastify inject) share one real PostgreSQL database and Redis prefix, as replicas of one deployment do.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { batch, messengerText, signedRequest } from '../helpers/sign.js';
import { type Job, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { bullPrefix, dedupKey, type InboundJob, type InboundPersonal, QUEUES } from '@switchboard/queue';

const PAGE = '100000000000001';
const SENDER = '200000000000001';

async function inboundTotal(ctx: TestApp): Promise<number> {
  const counts = await ctx.resources.inboundQueue.getJobCounts();
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

async function post(ctx: TestApp, payload: unknown) {
  const req = signedRequest(ctx.env.FACEBOOK_APP_SECRET as string, payload);
  return ctx.app.inject({ method: 'POST', url: '/webhook', headers: req.headers, payload: req.body });
}

async function dedupKeys(ctx: TestApp): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await ctx.resources.redis.scan(cursor, 'MATCH', dedupKey(ctx.prefix, '*'), 'COUNT', 500);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out;
}

t.test('replicas and restarts share one de-duplication record', async (t) => {
  const a = await buildTestApp(t, 'wh-dedup');
  const shared = { databaseUrl: a.databaseUrl, prefix: a.prefix };
  // Replicas of one deployment share its secrets.
  const same = {
    FACEBOOK_APP_SECRET: a.env.FACEBOOK_APP_SECRET,
    PSID_HASH_SECRET: a.env.PSID_HASH_SECRET,
    ENCRYPTION_KEY: a.env.ENCRYPTION_KEY,
  };
  const b = await buildTestApp(t, 'wh-dedup', same, shared);

  const msg = messengerText({
    pageId: PAGE,
    senderId: SENDER,
    mid: 'm_test-dedup-1',
    text: 'hello',
    timestamp: 1767225600000,
  });
  t.equal((await post(a, msg)).statusCode, 200);
  t.equal(await inboundTotal(a), 1);
  t.equal((await post(b, msg)).statusCode, 200, 'the other replica acknowledges the duplicate');
  t.equal(await inboundTotal(a), 1, 'and does not enqueue it again');

  // The same mid in a new envelope: Meta's redelivery carries another entry.time and other batch mates.
  const again = batch('page', [
    { id: PAGE, time: 1767229999999, messaging: (msg.entry[0] as { messaging: unknown[] }).messaging },
    {
      id: PAGE,
      time: 1767229999999,
      messaging: [
        {
          sender: { id: SENDER },
          recipient: { id: PAGE },
          timestamp: 1767225600100,
          message: { mid: 'm_test-dedup-2', text: 'new' },
        },
      ],
    },
  ]);
  t.equal((await post(b, again)).statusCode, 200);
  t.equal(await inboundTotal(a), 2, 'only the new message of the new batch is enqueued');

  await b.app.close();
  await b.resources.close();
  const rebuilt = await buildTestApp(t, 'wh-dedup', same, shared);
  t.equal((await post(rebuilt, msg)).statusCode, 200);
  t.equal((await post(rebuilt, again)).statusCode, 200);
  t.equal(await inboundTotal(a), 2, 'a restarted replica still knows both events');

  const concurrent = messengerText({
    pageId: PAGE,
    senderId: SENDER,
    mid: 'm_test-dedup-3',
    text: 'race',
    timestamp: 1767225600200,
  });
  const results = await Promise.all([
    post(a, concurrent),
    post(rebuilt, concurrent),
    post(a, concurrent),
    post(rebuilt, concurrent),
  ]);
  t.same(
    results.map((r) => r.statusCode),
    [200, 200, 200, 200],
  );
  t.equal(await inboundTotal(a), 3, 'four simultaneous deliveries to two replicas: one job');

  await a.resources.counters.flush();
  await rebuilt.resources.counters.flush();
  t.ok(((await a.resources.counters.read()).webhooks_deduplicated ?? 0) >= 5, 'duplicates are counted');
});

t.test('the record is small, keyed by hashes, and kept ≥ 36 h (Meta retries for up to 36 h)', async (t) => {
  const ctx = await buildTestApp(t, 'wh-dedup');
  const raw = messengerText({
    pageId: PAGE,
    senderId: SENDER,
    mid: 'm_test-dedup-ttl',
    text: 'a private text',
    timestamp: 1767225600000,
  });
  const req = signedRequest(ctx.env.FACEBOOK_APP_SECRET as string, raw);
  const send = () => ctx.app.inject({ method: 'POST', url: '/webhook', headers: req.headers, payload: req.body });
  t.equal((await send()).statusCode, 200);
  t.equal((await send()).statusCode, 200, 'a replay of the same bytes');
  t.equal(await inboundTotal(ctx), 1);

  const keys = await dedupKeys(ctx);
  t.equal(keys.length, 1);
  const key = keys[0] as string;
  for (const secret of [PAGE, SENDER, 'm_test-dedup-ttl'])
    t.notOk(key.includes(secret), `the key holds no raw id (${secret})`);
  const expectedId = createHmac('sha256', ctx.env.PSID_HASH_SECRET as string)
    .update(`messenger:${PAGE}:m_test-dedup-ttl`)
    .digest('hex')
    .slice(0, 32);
  t.equal(key, dedupKey(ctx.prefix, expectedId), 'named by the keyed hash of channel, page and mid');
  const ttl = await ctx.resources.redis.pttl(key);
  t.ok(ttl >= 36 * 3600 * 1000, `TTL ${Math.round(ttl / 3600_000)} h ≥ 36 h`);
  t.ok(ttl <= 72 * 3600 * 1000, 'and bounded');
  const value = await ctx.resources.redis.get(key);
  t.ok(
    value !== null && value.length <= 48 && value.startsWith(expectedId),
    `the value is tiny (the job id ${JSON.stringify(value)}), no payload`,
  );
  t.equal(await ctx.resources.redis.type(key), 'string');
});

t.test(
  'the record outlives the job: a replay after the job was processed and removed is still a duplicate',
  async (t) => {
    const ctx = await buildTestApp(t, 'wh-dedup');
    const raw = messengerText({
      pageId: PAGE,
      senderId: SENDER,
      mid: 'm_test-dedup-removed',
      text: 'once',
      timestamp: 1767225600000,
    });
    t.equal((await post(ctx, raw)).statusCode, 200);
    const connection = new Redis(ctx.config.redisUrl, { maxRetriesPerRequest: null });
    const worker = new Worker(QUEUES.inbound, async () => 'done', { connection, prefix: bullPrefix(ctx.prefix) });
    t.teardown(async () => {
      await worker.close();
      connection.disconnect();
    });
    const processed = new Promise<Job>((resolve) => worker.once('completed', resolve));
    const done = await processed;
    t.ok(done, 'a worker processed the job');
    // A processed inbound job is removed with its keys at once (removeOnComplete: true).
    t.equal(await ctx.resources.redis.exists(`${bullPrefix(ctx.prefix)}:${QUEUES.inbound}:${done.id}`), 0);
    t.equal(await inboundTotal(ctx), 0, 'the job is gone');
    t.equal((await post(ctx, raw)).statusCode, 200);
    t.equal(await inboundTotal(ctx), 0, 'the replay was not enqueued again');
    t.equal((await dedupKeys(ctx)).length, 1, 'the de-duplication record is still there');
  },
);

t.test(
  'changes[] become jobs too: a Page feed change is one job, its redelivery none (CONTRACT §3 step 6)',
  async (t) => {
    const ctx = await buildTestApp(t, 'wh-dedup');
    const hmac = (v: string) =>
      createHmac('sha256', ctx.env.PSID_HASH_SECRET as string)
        .update(v)
        .digest('hex');
    const feed = JSON.parse(readFileSync(new URL('../fixtures/page-feed-change.json', import.meta.url), 'utf8')) as {
      entry: Array<{ time: number }>;
    };
    const res = await post(ctx, feed);
    t.equal(res.statusCode, 200);
    t.equal(res.body, 'EVENT_RECEIVED');
    const jobs = await ctx.resources.inboundQueue.getJobs(['waiting']);
    t.equal(jobs.length, 1, 'one job for the one change');
    const data = jobs[0]?.data as InboundJob;
    t.match(data, {
      type: 'change',
      channel: 'messenger',
      pageId: PAGE,
      senderHash: hmac(SENDER),
      midHash: null,
      standby: false,
    });
    t.same(
      ctx.resources.sealer.openJson<InboundPersonal>(data.sealed, data.eventId),
      { senderId: SENDER, text: null, payload: 'feed', appId: null, metadata: null, mid: null },
      'the author sealed; no comment text at all',
    );
    const stored = JSON.stringify(data);
    for (const raw of [SENDER, 'test comment', 'Test User'])
      t.notOk(stored.includes(raw), `nothing in clear in the job (${raw})`);

    const again = structuredClone(feed);
    (again.entry[0] as { time: number }).time += 60;
    t.equal((await post(ctx, again)).statusCode, 200, 'a redelivery (another entry.time) is acknowledged');
    t.equal(await inboundTotal(ctx), 1, 'and not enqueued again');
    t.equal((await dedupKeys(ctx)).length, 1);

    // Instagram's `field: "messages"` change is a message like its messaging[] twin: one job for both.
    const IG = '17840000000000001';
    const item = {
      sender: { id: '300000000000001' },
      recipient: { id: IG },
      timestamp: 1767225600000,
      message: { mid: 'm_test-dedup-ig-change', text: 'hi' },
    };
    const both = batch('instagram', [
      { id: IG, time: 1767225600100, changes: [{ field: 'messages', value: item }] },
      { id: IG, time: 1767225600100, messaging: [item] },
    ]);
    t.equal((await post(ctx, both)).statusCode, 200);
    const ig = (await ctx.resources.inboundQueue.getJobs(['waiting'])).filter((j) => j.data.channel === 'instagram');
    t.equal(ig.length, 1, 'the same mid via changes[] and messaging[] is one job');
    t.match(ig[0]?.data, { type: 'text', midHash: hmac('m_test-dedup-ig-change') });
  },
);
