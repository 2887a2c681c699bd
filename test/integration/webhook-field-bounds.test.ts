// Fakes nothing: the real API app (Fastify inject) on the real PostgreSQL and Redis; the jobs it stores are read back from Redis and opened with the app's own key.
import t from 'tap';
import type { InboundJob, InboundPersonal } from '@switchboard/queue';
import {
  MAX_CLOCK_SKEW_MS,
  MAX_ID_CHARS,
  MAX_MID_CHARS,
  MAX_TEXT_CHARS,
} from '../../apps/api/src/routes/webhook/event-bounds.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { signedRequest } from '../helpers/sign.js';

const PAGE = '100000000000001';
const USER = '200000000000001';

const post = (ctx: TestApp, payload: unknown) => {
  const req = signedRequest(ctx.env.FACEBOOK_APP_SECRET as string, payload);
  return ctx.app.inject({ method: 'POST', url: '/webhook', headers: req.headers, payload: req.body });
};

async function storedJobs(ctx: TestApp): Promise<Array<{ data: InboundJob; personal: InboundPersonal }>> {
  const jobs = await ctx.resources.inboundQueue.getWaiting(0, -1);
  return jobs.map((j) => {
    const data = j.data as InboundJob;
    return { data, personal: ctx.resources.sealer.openJson<InboundPersonal>(data.sealed, data.eventId) };
  });
}

/** One messaging item in its own entry, as Meta batches them. */
function entry(item: {
  page?: string;
  sender?: string;
  mid: string;
  text?: string;
  timestamp?: number;
  postback?: Record<string, unknown>;
}) {
  const page = item.page ?? PAGE;
  const ts = item.timestamp ?? Date.now();
  const body = item.postback
    ? { postback: { mid: item.mid, ...item.postback } }
    : { message: { mid: item.mid, text: item.text ?? 'hello' } };
  return {
    id: page,
    time: Date.now(),
    messaging: [{ sender: { id: item.sender ?? USER }, recipient: { id: page }, timestamp: ts, ...body }],
  };
}

t.test(
  'oversized ids, far-future timestamps and long texts in one signed delivery: each item bounded, the rest stored, 200',
  async (t) => {
    const ctx = await buildTestApp(t, 'wh-bounds');
    const now = Date.now();
    const longText = `${'a'.repeat(MAX_TEXT_CHARS - 1)}😀 and far more text after the cut`;
    const res = await post(ctx, {
      object: 'page',
      entry: [
        entry({ mid: 'm_test-ok' }),
        entry({ page: '9'.repeat(100_000), mid: 'm_test-long-page' }),
        entry({ sender: '8'.repeat(MAX_ID_CHARS + 1), mid: 'm_test-long-user' }),
        entry({ mid: `m_${'x'.repeat(MAX_MID_CHARS)}` }),
        entry({ mid: 'm_test-next-year', timestamp: now + 365 * 24 * 3600 * 1000 }),
        entry({ mid: 'm_test-skewed', timestamp: now + MAX_CLOCK_SKEW_MS / 2 }),
        entry({ mid: 'm_test-long-text', text: longText }),
        entry({ mid: 'm_test-long-payload', postback: { title: 'Go', payload: 'p'.repeat(100_000) } }),
      ],
    });
    t.equal(res.statusCode, 200, 'the delivery is acknowledged: no bad item fails the others');

    const jobs = await storedJobs(ctx);
    t.same(
      jobs.map((j) => j.data.pageId),
      [PAGE, PAGE, PAGE, PAGE],
      'only events with sane ids and timestamps are stored',
    );
    const texts = jobs.map((j) => j.personal.text);
    t.ok(texts.includes('hello'), 'the ordinary message is stored');
    const cut = texts.find((x) => x?.startsWith('aaa'));
    t.equal(cut, 'a'.repeat(MAX_TEXT_CHARS - 1), 'a long text is cut to the bound, never through a surrogate pair');
    t.ok(
      jobs.some((j) => j.personal.payload === 'p'.repeat(MAX_TEXT_CHARS)),
      'a long payload is cut to the bound',
    );
    t.ok(
      jobs.some((j) => j.data.timestamp === now + MAX_CLOCK_SKEW_MS / 2),
      'a timestamp within the clock-skew allowance is stored as sent',
    );

    await ctx.resources.counters.flush();
    const auth = `Basic ${Buffer.from(`${ctx.env.ADMIN_USER}:${ctx.env.ADMIN_PASS}`).toString('base64')}`;
    const webhooks = (await ctx.app.inject({ url: '/ops/telemetry', headers: { authorization: auth } })).json()
      .webhooks;
    t.same(
      webhooks.items_refused,
      { id_too_long: 3, timestamp_in_future: 1 },
      'each refused item is counted by reason',
    );
    t.equal(webhooks.texts_truncated, 2);
    t.same(webhooks.rejected, {}, 'the delivery itself is not refused');

    const accepted = ctx.logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'webhook accepted');
    t.match(
      accepted,
      { events: 4, refused: { id_too_long: 3, timestamp_in_future: 1 }, truncated: 2 },
      "the outcome is in the request's log line",
    );
    t.ok(
      ctx.logs.every((l) => l.length < 2000),
      'no log line carries an oversized field',
    );
  },
);
