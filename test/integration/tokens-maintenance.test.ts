// Fakes Meta's Graph API (a loopback HTTP server answering debug_token and subscribed_apps): the
// real one is unreachable from tests. Two real WorkerRegistry instances share one Redis prefix and
// one PostgreSQL database, as two worker processes would; BullMQ is real.
import t from 'tap';
import postgres from 'postgres';
import { loadConfig } from '@switchboard/config';
import { createLogger } from '@switchboard/observability';
import { PageTokenStore } from '@switchboard/pages';
import { createDb } from '@switchboard/db';
import { Sealer } from '@switchboard/privacy';
import type { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import {
  RETENTION_SCHEDULER_ID,
  runRetention,
  scheduleMaintenance,
  START_WINDOW_MS,
  startCheckJobId,
  TOKEN_CHECK_SCHEDULER_ID,
} from '../../apps/worker/src/processors/maintenance.js';
import { WorkerRegistry } from '../../apps/worker/src/registry.js';
import { createWorkerResources } from '../../apps/worker/src/resources.js';
import { testDatabase } from '../helpers/db.js';
import { testEnv } from '../helpers/env.js';
import { startFakeGraph } from '../helpers/fake-graph.js';
import { eventually } from '../helpers/processes.js';
import { deletePrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';

const APP_ID = '100000000000099';
const APP_SECRET = 'test-app-secret-tokens-maint';
const PAGE = '7001';

/**
 * The job once it has completed, read after completion: a Job object fetched while the job was
 * still active keeps `returnvalue` null even when `isCompleted()` later turns true.
 */
async function completedJob(queue: Queue, id: string): Promise<Job | null> {
  if ((await queue.getJobState(id)) !== 'completed') return null;
  return (await queue.getJob(id)) ?? null;
}

t.test('two workers starting together: one scheduler entry per task, one start-up token check', async (t) => {
  const graph = await startFakeGraph({ appSecret: APP_SECRET, appId: APP_ID });
  t.teardown(() => graph.close());
  const databaseUrl = await testDatabase(t, 'tokens_maint');
  const prefix = uniquePrefix('tokens-maint');
  const config = loadConfig(
    testEnv({ databaseUrl, prefix, graphUrl: graph.url, FACEBOOK_APP_ID: APP_ID, FACEBOOK_APP_SECRET: APP_SECRET }),
  );
  const cleanup = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
  t.teardown(async () => {
    await deletePrefix(cleanup, prefix);
    cleanup.disconnect();
  });
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 5 }));

  graph.setTokenInfo('test-token-maint', { is_valid: true, expires_at: 0, scopes: ['pages_messaging'] });
  graph.setSubscribedApps(PAGE, [
    { id: APP_ID, subscribed_fields: ['messages', 'messaging_postbacks', 'message_echoes'] },
  ]);
  const dbh = createDb(databaseUrl, { max: 1 });
  t.teardown(() => dbh.close());
  const pages = new PageTokenStore({ db: dbh.db, sealer: new Sealer(config.privacy.encryptionKey) });
  await pages.register(PAGE, 'messenger', 'test-token-maint');

  const logger = createLogger({ level: 'silent', service: 'worker' });
  const workers = [createWorkerResources(config, logger), createWorkerResources(config, logger)];
  const registries = workers.map((r) => new WorkerRegistry(r).start());
  t.teardown(async () => {
    await Promise.all(registries.map((r) => r.closeAll(5000)));
    await Promise.all(workers.map((w) => w.close()));
  });

  // Both start in the same window, as two processes of one deployment would: at its start, so the
  // restart a second later below falls in it too, whatever the clock reads.
  const now = Math.floor(Date.now() / START_WINDOW_MS) * START_WINDOW_MS;
  await Promise.all(workers.map((w) => scheduleMaintenance(w.maintenanceQueue, now)));
  const queue = workers[0]!.maintenanceQueue;
  const job = await eventually(
    () => completedJob(queue, startCheckJobId(now)),
    20_000,
    'start-up token check completed',
  );
  t.match(job.returnvalue, { checked: 1, valid: 1 });

  // A third start in the same window (a restart) adds nothing either.
  await scheduleMaintenance(workers[1]!.maintenanceQueue, now + 1000);
  await new Promise((r) => setTimeout(r, 1000));
  const checks = await sql`select page_id from token_refresh_log where action = 'check'`;
  t.equal(checks.length, 1, 'exactly one token check ran for the start window');

  const schedulers = await queue.getJobSchedulers();
  t.same(
    schedulers.map((s) => s.key).sort(),
    [RETENTION_SCHEDULER_ID, TOKEN_CHECK_SCHEDULER_ID].sort(),
    'one entry per scheduler id',
  );
  const daily = schedulers.find((s) => s.key === TOKEN_CHECK_SCHEDULER_ID);
  t.equal(daily?.pattern, '0 2 * * *');
  t.equal(daily?.tz, 'UTC');
  const next = new Date(daily?.next ?? 0);
  t.same([next.getUTCHours(), next.getUTCMinutes()], [2, 0], 'next run at 02:00 UTC');
  t.equal(await queue.getJobSchedulersCount(), 2);

  // The retention task, through the queue like the scheduler runs it.
  await sql`insert into events (id, channel, page_id, type, status, event_at, received_at) values
    ('old-1', 'messenger', ${PAGE}, 'text', 'processed', now() - interval '200 days', now() - interval '200 days'),
    ('old-2', 'messenger', ${PAGE}, 'text', 'processed', now() - interval '91 days', now() - interval '91 days'),
    ('new-1', 'messenger', ${PAGE}, 'text', 'processed', now() - interval '89 days', now() - interval '89 days')`;
  await sql`insert into replies (event_id, channel, page_id, sender_hash, path, reason, decide_latency_ms, status, created_at) values
    ('old-1', 'messenger', ${PAGE}, 'h', 'fallback', 'kill_switch', 1, 'sent', now() - interval '200 days'),
    ('new-1', 'messenger', ${PAGE}, 'h', 'fallback', 'kill_switch', 1, 'sent', now() - interval '1 day')`;
  await sql`insert into conversations (id, channel, page_id, user_hash, last_message_at) values
    ('c-old', 'messenger', ${PAGE}, 'h1', now() - interval '91 days'),
    ('c-new', 'messenger', ${PAGE}, 'h2', now() - interval '89 days')`;
  const retention = await queue.add('retention', { task: 'retention', requestedBy: 'test' });
  const done = await eventually(() => completedJob(queue, retention.id ?? ''), 15_000, 'retention job completed');
  t.same(done.returnvalue, { events: 2, replies: 1, conversations: 1 });
  t.same(
    (await sql`select id from events order by id`).map((r) => r.id),
    ['new-1'],
    'only events inside RETENTION_DAYS remain',
  );
  t.same(
    (await sql`select event_id from replies`).map((r) => r.event_id),
    ['new-1'],
  );
  t.same(
    (await sql`select id from conversations`).map((r) => r.id),
    ['c-new'],
    'conversations whose last message is inside RETENTION_DAYS remain',
  );
});

t.test('retention deletes in batches until nothing old is left', async (t) => {
  const databaseUrl = await testDatabase(t, 'tokens_retention');
  const dbh = createDb(databaseUrl, { max: 1 });
  t.teardown(() => dbh.close());
  await dbh.sql`insert into events (id, channel, page_id, type, event_at, received_at)
    select 'e' || g, 'messenger', '1', 'text', now() - interval '100 days', now() - interval '100 days' from generate_series(1, 7) g`;
  const result = await runRetention(dbh.db, 90, new Date(), 3);
  t.same(result, { events: 7, replies: 0, conversations: 0 }, 'three batches of at most 3');
  t.equal((await dbh.sql`select count(*)::int as n from events`)[0]?.n, 0);
});
