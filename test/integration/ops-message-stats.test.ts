// Fakes nothing: the stats route's SQL runs against a real PostgreSQL database seeded with events
// and replies shaped like the worker's; the API is the real app (Fastify inject).
import t from 'tap';
import { messageStats } from '../../apps/api/src/routes/ops/message-stats.js';
import { buildTestApp } from '../helpers/app.js';
import { seedMessages } from '../helpers/seed-messages.js';

const basic = (env: Record<string, string>) => ({
  authorization: `Basic ${Buffer.from(`${env.ADMIN_USER}:${env.ADMIN_PASS}`).toString('base64')}`,
});

t.test('messages per hour and per day, each counted once by what became of it', async (t) => {
  const { app, env, resources } = await buildTestApp(t, 'ops-message-stats');
  const { db } = resources.dbh;
  const now = new Date('2026-03-10T14:20:00Z');
  const at = (iso: string) => new Date(iso);
  await seedMessages(db, [
    // The current hour (14:00–14:20).
    { at: at('2026-03-10T14:05:00Z'), fate: 'ai' },
    { at: at('2026-03-10T14:10:00Z'), fate: 'ai_dry_run' },
    { at: at('2026-03-10T14:19:59Z'), fate: 'paused' },
    // 13:00–14:00, on its edges.
    { at: at('2026-03-10T13:00:00Z'), fate: 'fallback' },
    { at: at('2026-03-10T13:59:59Z'), fate: 'fallback_dry_run' },
    { at: at('2026-03-10T13:30:00Z'), fate: 'failed_event' },
    { at: at('2026-03-10T13:31:00Z'), fate: 'failed_reply' },
    { at: at('2026-03-10T13:32:00Z'), fate: 'unanswered' },
    { at: at('2026-03-10T13:33:00Z'), fate: 'not_a_message' },
    // The oldest hour of the 24 (15:00 yesterday) and the one before it.
    { at: at('2026-03-09T15:00:00Z'), fate: 'ai' },
    { at: at('2026-03-09T14:59:59Z'), fate: 'ai' },
    // Earlier days of the week, and one day too old.
    { at: at('2026-03-04T00:00:00Z'), fate: 'fallback' },
    { at: at('2026-03-03T23:59:59Z'), fate: 'fallback' },
    // After `now`: not counted yet.
    { at: at('2026-03-10T14:25:00Z'), fate: 'ai' },
  ]);

  const day = await messageStats(db, '24h', now);
  t.equal(day.bucket, 'hour');
  t.equal(day.buckets.length, 24, '24 hourly buckets');
  t.equal(day.buckets[0]!.start, '2026-03-09T15:00:00.000Z', 'the oldest starts 23 hours before the current one');
  t.equal(day.buckets[23]!.start, '2026-03-10T14:00:00.000Z', 'the newest is the current hour');
  t.same(day.buckets[23], { start: '2026-03-10T14:00:00.000Z', ai: 2, fallback: 0, paused: 1, failed: 0, dry_run: 1 });
  t.same(day.buckets[22], { start: '2026-03-10T13:00:00.000Z', ai: 0, fallback: 2, paused: 0, failed: 2, dry_run: 1 });
  t.same(day.buckets[0], { start: '2026-03-09T15:00:00.000Z', ai: 1, fallback: 0, paused: 0, failed: 0, dry_run: 0 });
  t.same(
    day.buckets.slice(1, 22).map((b) => b.ai + b.fallback + b.paused + b.failed),
    Array(21).fill(0),
    'the hours between are zeros, not gaps',
  );

  const week = await messageStats(db, '7d', now);
  t.equal(week.bucket, 'day');
  t.same(
    week.buckets.map((b) => b.start.slice(0, 10)),
    ['2026-03-04', '2026-03-05', '2026-03-06', '2026-03-07', '2026-03-08', '2026-03-09', '2026-03-10'],
    'seven UTC days, today last',
  );
  t.same(week.buckets[0], { start: '2026-03-04T00:00:00.000Z', ai: 0, fallback: 1, paused: 0, failed: 0, dry_run: 0 });
  t.same(week.buckets[5], { start: '2026-03-09T00:00:00.000Z', ai: 2, fallback: 0, paused: 0, failed: 0, dry_run: 0 });
  t.same(week.buckets[6], { start: '2026-03-10T00:00:00.000Z', ai: 2, fallback: 2, paused: 1, failed: 2, dry_run: 2 });

  // The route: the same numbers, behind the ops login, and a clear 400 for a range it does not know.
  const ok = await app.inject({ url: '/ops/stats/messages?range=7d', headers: basic(env) });
  t.equal(ok.statusCode, 200);
  t.equal(ok.json().buckets.length, 7);
  t.equal(
    (await app.inject({ url: '/ops/stats/messages', headers: basic(env) })).json().range,
    '24h',
    '24h unless asked',
  );
  for (const bad of ['30d', '', '24h%27--', '1']) {
    const res = await app.inject({ url: `/ops/stats/messages?range=${bad}`, headers: basic(env) });
    t.equal(res.statusCode, 400, `range=${bad}: 400`);
    t.equal(res.json().error, 'invalid_request', `range=${bad}: says why`);
  }
  t.equal((await app.inject({ url: '/ops/stats/messages' })).statusCode, 401, 'behind the ops login');
});
