import { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { bullPrefix, QUEUES } from './names.js';
import { shardTags } from './shards.js';

/** Where the shard count the queues are laid out for is recorded (one key, read alone). */
export const shardLayoutKey = (queuePrefix: string) => `${queuePrefix}:queue-shards`;

/** Job states that are work still to do: a job in one of them must be consumed under its own layout. */
const PENDING = ['waiting', 'prioritized', 'active', 'delayed', 'paused', 'waiting-children'] as const;

export type ShardLayoutCheck =
  | { ok: true; recorded: number }
  /** `pending` jobs wait in the `recorded` layout, which QUEUE_SHARDS no longer names. */
  | { ok: false; recorded: number; pending: number };

/** Pending and dead-lettered jobs of the inbound and outbound queues in a layout of `count` shards. */
async function jobsIn(redis: Redis | Cluster, queuePrefix: string, count: number) {
  let pending = 0;
  let failed = 0;
  for (const tag of shardTags(queuePrefix, count)) {
    for (const name of [QUEUES.inbound, QUEUES.outbound]) {
      const queue = new Queue(name, { connection: redis, prefix: bullPrefix(tag) });
      try {
        const counts = await queue.getJobCounts(...PENDING, 'failed');
        for (const state of PENDING) pending += counts[state] ?? 0;
        failed += counts.failed ?? 0;
      } finally {
        await queue.close();
      }
    }
  }
  return { pending, failed };
}

/**
 * Whether the queues may run with `count` shards. A job lives in its shard's keys: after a change of
 * QUEUE_SHARDS, jobs of the old layout would wait where no worker looks, and a conversation's new
 * events would overtake them. So the count in force is recorded (none recorded reads as one), and a different count is taken only once the old layout holds no pending job; its
 * dead letters are reported (`deadLetters`), since /ops/dlq no longer sees them.
 */
export async function checkShardLayout(
  redis: Redis | Cluster,
  queuePrefix: string,
  count: number,
  onDeadLetters: (recorded: number, deadLetters: number) => void = () => {},
): Promise<ShardLayoutCheck> {
  const key = shardLayoutKey(queuePrefix);
  const stored = await redis.get(key);
  const recorded = stored === null ? 1 : Number(stored);
  if (recorded === count) {
    if (stored === null) await redis.set(key, String(count));
    return { ok: true, recorded };
  }
  const { pending, failed } = await jobsIn(redis, queuePrefix, recorded);
  if (pending > 0) return { ok: false, recorded, pending };
  if (failed > 0) onDeadLetters(recorded, failed);
  await redis.set(key, String(count));
  return { ok: true, recorded };
}
