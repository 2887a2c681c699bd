// A change of QUEUE_SHARDS while jobs wait: a worker refuses to start, and says what to do.
// Real Redis, PostgreSQL and worker processes; nothing is faked here.
import { Queue } from 'bullmq';
import t from 'tap';
import { bullPrefix, checkShardLayout, QUEUES, shardLayoutKey, shardTags } from '@switchboard/queue';
import { testDatabase } from '../helpers/db.js';
import { testEnv } from '../helpers/env.js';
import { eventually, startProcess } from '../helpers/processes.js';
import { testRedis } from '../helpers/redis.js';

t.test('the shard count in force is recorded; another is taken only once its jobs are drained', async (t) => {
  const { redis, prefix } = await testRedis(t, 'shard-layout');
  t.same(await checkShardLayout(redis, prefix, 1), { ok: true, recorded: 1 }, 'a deployment without a record had one');
  t.equal(await redis.get(shardLayoutKey(prefix)), '1', 'recorded');

  const inbound = new Queue(QUEUES.inbound, { connection: redis, prefix: bullPrefix(prefix) });
  t.teardown(() => inbound.close());
  await inbound.add('text', { eventId: 'a'.repeat(32) }, { jobId: 'waiting-job' });
  t.same(
    await checkShardLayout(redis, prefix, 4),
    { ok: false, recorded: 1, pending: 1 },
    'a job waits in the one-shard layout: four shards are refused',
  );
  t.equal(await redis.get(shardLayoutKey(prefix)), '1', 'the record is unchanged');

  await inbound.remove('waiting-job');
  const deadLetters: number[] = [];
  t.same(await checkShardLayout(redis, prefix, 4, (_, n) => deadLetters.push(n)), { ok: true, recorded: 1 });
  t.equal(await redis.get(shardLayoutKey(prefix)), '4', 'drained: four shards recorded');
  t.same(deadLetters, [], 'no dead letter left behind');

  // Back to one shard while a job waits in one of the four.
  const [tag] = shardTags(prefix, 4) as [string];
  const sharded = new Queue(QUEUES.outbound, { connection: redis, prefix: bullPrefix(tag) });
  t.teardown(() => sharded.close());
  await sharded.add('send', { eventId: 'b'.repeat(32) }, { jobId: 'send-job', delay: 60_000 });
  t.match(await checkShardLayout(redis, prefix, 1), { ok: false, recorded: 4, pending: 1 }, 'a delayed send counts');
});

t.test('a worker started with another QUEUE_SHARDS while jobs wait exits and names the way out', async (t) => {
  const databaseUrl = await testDatabase(t, 'shard_layout_worker');
  const { redis, prefix } = await testRedis(t, 'shard-layout-worker');
  const inbound = new Queue(QUEUES.inbound, { connection: redis, prefix: bullPrefix(prefix) });
  t.teardown(() => inbound.close());
  await inbound.add('text', { eventId: 'c'.repeat(32) }, { jobId: 'waiting-job', delay: 60_000 });
  const env = testEnv({ databaseUrl, prefix, LOG_LEVEL: 'info', QUEUE_SHARDS: '6' });

  const worker = startProcess(t, 'worker', env);
  const { code } = await worker.exited;
  t.equal(code, 1, 'the worker exits');
  const said = worker.output.join('');
  t.match(said, /QUEUE_SHARDS is 6 but 1 jobs wait in the queues laid out for QUEUE_SHARDS=1/);
  t.match(said, /drain them with workers on QUEUE_SHARDS=1 first/);

  const bad = startProcess(t, 'worker', { ...env, QUEUE_SHARDS: '1', WORKER_SHARDS: '0-1' });
  t.equal((await bad.exited).code, 1, 'a worker told to consume a shard that does not exist exits');
  t.match(bad.output.join(''), /WORKER_SHARDS: shard 1 does not exist: QUEUE_SHARDS is 1/);

  const same = startProcess(t, 'worker', { ...env, QUEUE_SHARDS: '1' });
  await eventually(async () => /worker started/.test(same.output.join('')), 20_000, 'the worker on the recorded count');
  await same.stop();
});
