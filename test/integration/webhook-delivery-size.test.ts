// Fakes nothing: the real API app (Fastify inject) on the real PostgreSQL and Redis; the partial-store case runs on a private redis-server whose memory limit the test lowers and raises.
import t from 'tap';
import { MAX_ITEMS_PER_DELIVERY, STORE_CHUNK_EVENTS } from '../../apps/api/src/routes/webhook/ingest.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { startPrivateRedis } from '../helpers/private-redis.js';
import { type Envelope, signedRequest } from '../helpers/sign.js';
import { Redis } from 'ioredis';

const PAGE = '100000000000001';

/** One delivery of `n` Messenger texts, one entry each (how Meta batches), from `n` users. */
function delivery(n: number, run: string): Envelope {
  const ts = Date.now();
  return {
    object: 'page',
    entry: Array.from({ length: n }, (_, i) => ({
      id: PAGE,
      time: ts + 150,
      messaging: [
        {
          sender: { id: String(200000000000000 + i) },
          recipient: { id: PAGE },
          timestamp: ts + i,
          message: { mid: `m_test-${run}-${i}`, text: `message ${i}` },
        },
      ],
    })),
  };
}

const post = (ctx: TestApp, payload: unknown) => {
  const req = signedRequest(ctx.env.FACEBOOK_APP_SECRET as string, payload);
  return ctx.app.inject({ method: 'POST', url: '/webhook', headers: req.headers, payload: req.body });
};

const telemetry = async (ctx: TestApp) => {
  const auth = `Basic ${Buffer.from(`${ctx.env.ADMIN_USER}:${ctx.env.ADMIN_PASS}`).toString('base64')}`;
  return (await ctx.app.inject({ url: '/ops/telemetry', headers: { authorization: auth } })).json().webhooks;
};

/** Every inbound job's event id, whatever its state. */
async function storedEventIds(ctx: TestApp): Promise<string[]> {
  const jobs = await ctx.resources.inboundQueue.getJobs([
    'wait',
    'active',
    'delayed',
    'prioritized',
    'completed',
    'failed',
    'paused',
  ]);
  return jobs.map((j) => (j.data as { eventId: string }).eventId);
}

t.test(
  'more items than the maximum: 413 naming the limit, nothing stored, counted by reason; the maximum itself is stored',
  async (t) => {
    const ctx = await buildTestApp(t, 'wh-max');
    const refused = await post(ctx, delivery(MAX_ITEMS_PER_DELIVERY + 1, 'over'));
    t.equal(refused.statusCode, 413);
    t.same(refused.json(), {
      error: 'too_many_events',
      message: `at most ${MAX_ITEMS_PER_DELIVERY} events per delivery`,
      limit: MAX_ITEMS_PER_DELIVERY,
    });
    t.same(await storedEventIds(ctx), [], 'nothing of a refused delivery is stored');

    // Items Meta's shape does not allow count too: a body cannot pass the limit by being odd.
    const odd = {
      object: 'page',
      entry: [{ id: PAGE, messaging: Array.from({ length: MAX_ITEMS_PER_DELIVERY + 1 }, () => 7) }],
    };
    t.equal((await post(ctx, odd)).statusCode, 413);

    const full = await post(ctx, delivery(MAX_ITEMS_PER_DELIVERY, 'full'));
    t.equal(full.statusCode, 200);
    t.equal(full.body, 'EVENT_RECEIVED');
    t.equal(
      new Set(await storedEventIds(ctx)).size,
      MAX_ITEMS_PER_DELIVERY,
      'every event of the largest allowed delivery is stored',
    );

    const webhooks = await telemetry(ctx);
    t.equal(webhooks.rejected.too_many_events, 2, 'counted with the other refusals');
    t.equal(webhooks.received, 1);
  },
);

t.test('a large delivery is sealed and stored a chunk per turn of the event loop, in order', async (t) => {
  const ctx = await buildTestApp(t, 'wh-chunks');
  // Counts the events sealed between two turns of the event loop (what a /health probe or the
  // handshake would wait behind): a setImmediate ticker sees every turn.
  let sealed = 0;
  const seal = ctx.resources.sealer.sealJson.bind(ctx.resources.sealer);
  ctx.resources.sealer.sealJson = (value, ad) => {
    sealed += 1;
    return seal(value, ad);
  };
  let longest = 0;
  let atLastTurn = 0;
  let done = false;
  const tick = () => {
    longest = Math.max(longest, sealed - atLastTurn);
    atLastTurn = sealed;
    if (!done) setImmediate(tick);
  };
  setImmediate(tick);
  const n = 1000;
  const res = await post(ctx, delivery(n, 'chunks'));
  done = true;
  t.equal(res.statusCode, 200);
  t.equal(sealed, n);
  t.ok(longest <= STORE_CHUNK_EVENTS, `at most ${STORE_CHUNK_EVENTS} events sealed between two turns (${longest})`);
  // The queue is FIFO: the jobs are stored in Meta's timestamp order across the chunks.
  const waiting = await ctx.resources.inboundQueue.getWaiting(0, -1);
  const timestamps = waiting.map((j) => (j.data as { timestamp: number }).timestamp);
  t.equal(timestamps.length, n);
  t.same(
    timestamps,
    [...timestamps].sort((a, b) => a - b),
    'stored in timestamp order',
  );
});

t.test("a delivery stored in part answers 503; Meta's redelivery stores the rest, every event once", async (t) => {
  const redis = await startPrivateRedis(t);
  const admin = new Redis(redis.url);
  t.teardown(() => admin.quit());
  const ctx = await buildTestApp(t, 'wh-partial', { REDIS_URL: redis.url });
  const n = MAX_ITEMS_PER_DELIVERY;
  const body = delivery(n, 'partial');

  // Room for a few hundred jobs only: with `noeviction`, Redis refuses the writes past it (OOM),
  // as it does when it runs out of memory in production.
  t.equal((await post(ctx, delivery(1, 'warm'))).statusCode, 200);
  const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1]);
  await admin.config('SET', 'maxmemory', String(used + 512 * 1024));
  const first = await post(ctx, body);
  t.equal(first.statusCode, 503, 'not everything stored: not acknowledged');
  t.equal(first.json().error, 'unavailable');
  const partial = (await storedEventIds(ctx)).length - 1;
  t.ok(partial > 0 && partial < n, `stored in part (${partial} of ${n})`);

  await admin.config('SET', 'maxmemory', '0');
  const again = await post(ctx, body);
  t.equal(again.statusCode, 200, 'the redelivery is acknowledged');
  const ids = await storedEventIds(ctx);
  t.equal(ids.length, n + 1, 'one job per event');
  t.equal(new Set(ids).size, n + 1, 'no event stored twice');
  const webhooks = await telemetry(ctx);
  t.equal(webhooks.deduplicated, partial, 'the part stored by the first delivery was a no-op the second time');
  t.equal(webhooks.rejected.storage_unavailable, 1);
});
