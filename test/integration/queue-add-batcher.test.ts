import { Queue } from 'bullmq';
import t from 'tap';
import { AddBatcher, bullPrefix, createProducerConnection, dedupOptions, type JobSpec } from '@switchboard/queue';
import { REDIS_URL, testRedis } from '../helpers/redis.js';

const { redis, prefix } = await testRedis(t, 'add-batcher');
const producer = createProducerConnection(REDIS_URL);
t.teardown(() => producer.disconnect());
const queue = new Queue('batched', { connection: producer, prefix: bullPrefix(prefix) });
t.teardown(() => queue.close());
await queue.waitUntilReady();

const spec = (n: number, extra: Partial<JobSpec['opts']> = {}): JobSpec<{ n: number }> => ({ name: 'event', data: { n }, opts: { jobId: `job-${n}`, ...extra } });

t.test('the adds of one event-loop turn share one pipeline; each caller gets its own jobs, in order', async (t) => {
  const batcher = new AddBatcher<{ n: number }>(queue);
  const results = await Promise.all([batcher.addAll([spec(1)]), batcher.addAll([spec(2), spec(3)]), batcher.addAll([spec(4)])]);
  t.equal(batcher.flushes, 1, 'one round trip for three callers');
  t.same(
    results.map((jobs) => jobs.map((j) => j.id)),
    [['job-1'], ['job-2', 'job-3'], ['job-4']],
  );
  for (const n of [1, 2, 3, 4]) t.same((await queue.getJob(`job-${n}`))?.data, { n }, `job ${n} is stored with its data`);
  t.same(await queue.getWaiting().then((jobs) => jobs.map((j) => j.id).sort()), ['job-1', 'job-2', 'job-3', 'job-4']);
});

t.test('adds in different turns are sent separately, and one caller alone goes through add', async (t) => {
  const batcher = new AddBatcher<{ n: number }>(queue);
  const [first] = await batcher.addAll([spec(5)]);
  const [second] = await batcher.addAll([spec(6)]);
  t.equal(batcher.flushes, 2);
  t.equal(first?.id, 'job-5');
  t.equal(second?.id, 'job-6');
  t.same(await batcher.addAll([]), [], 'nothing to add is answered at once');
  t.equal(batcher.flushes, 2, 'and costs no round trip');
});

t.test("BullMQ's de-duplication holds inside one batch: the second caller gets the first caller's job", async (t) => {
  const batcher = new AddBatcher<{ n: number }>(queue);
  const [a, b] = await Promise.all([
    batcher.addAll([spec(7, dedupOptions('event-7'))]),
    batcher.addAll([{ ...spec(70, dedupOptions('event-7')), opts: { jobId: 'job-70', ...dedupOptions('event-7') } }]),
  ]);
  t.equal(batcher.flushes, 1);
  t.equal(a?.[0]?.id, 'job-7');
  t.equal(b?.[0]?.id, 'job-7', 'the duplicate is answered with the stored job');
  t.equal(await queue.getJob('job-70'), undefined, 'and not stored again');
});

t.test("one caller's bad job fails that caller only", async (t) => {
  const batcher = new AddBatcher<{ n: number }>(queue);
  // BullMQ refuses a fractional priority when it builds the job.
  const [good, bad, alsoGood] = await Promise.allSettled([batcher.addAll([spec(8)]), batcher.addAll([spec(9, { priority: 1.5 })]), batcher.addAll([spec(10)])]);
  t.equal(good.status === 'fulfilled' && good.value[0]?.id, 'job-8');
  t.equal(alsoGood.status === 'fulfilled' && alsoGood.value[0]?.id, 'job-10');
  t.equal(bad.status, 'rejected');
  t.match(bad.status === 'rejected' ? String(bad.reason) : '', /priority/i);
  t.equal(await queue.getJob('job-9'), undefined);
});

t.test('Redis unreachable: every caller is refused, at once, nothing hangs', async (t) => {
  const dead = createProducerConnection('redis://127.0.0.1:1', { retryStrategy: () => null });
  dead.on('error', () => {});
  t.teardown(() => dead.disconnect());
  const deadQueue = new Queue('batched', { connection: dead, prefix: bullPrefix(prefix) });
  deadQueue.on('error', () => {});
  t.teardown(() => deadQueue.close().catch(() => {}));
  const batcher = new AddBatcher<{ n: number }>(deadQueue);
  const started = Date.now();
  const results = await Promise.allSettled([batcher.addAll([spec(11)]), batcher.addAll([spec(12)])]);
  t.same(
    results.map((r) => r.status),
    ['rejected', 'rejected'],
  );
  t.ok(Date.now() - started < 5000, 'refused within the connect timeout');
  t.equal(await redis.exists(`${bullPrefix(prefix)}:batched:job-11`), 0);
});
