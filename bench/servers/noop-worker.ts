/**
 * The pipeline's baseline: a BullMQ Worker with the real worker's connection preset, concurrency
 * and CPU niceness whose processor does nothing — what Redis and BullMQ alone cost per job here.
 */
import { setPriority } from 'node:os';
import { Worker } from 'bullmq';
import { createWorkerConnection } from '@switchboard/queue';

const env = process.env;
const nice = Number(env.WORKER_NICE ?? 0);
if (nice > 0) setPriority(nice);
const redis = createWorkerConnection(env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const worker = new Worker(env.BENCH_QUEUE ?? 'noop', async () => undefined, {
  connection: redis,
  prefix: `{${env.QUEUE_PREFIX}}`,
  concurrency: Number(env.WORKER_CONCURRENCY ?? 32),
});
await worker.waitUntilReady();
process.stdout.write('ready\n');
process.once(
  'SIGTERM',
  () =>
    void worker.close().then(() => {
      redis.disconnect();
      process.exit(0);
    }),
);
