import { QUEUES, type QueueName, type ShardedQueue } from '@switchboard/queue';
import type { ApiResources } from '../../resources.js';

/** The states an operator cares about; `prioritized` is waiting work too (BullMQ ≥ 4). */
export const QUEUE_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed', 'paused'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];
export type QueueCounts = Record<QueueState, number>;

/** Queues whose failed set is the dead-letter queue (maintenance failures are not replies). */
export const DEAD_LETTER_QUEUES = [QUEUES.inbound, QUEUES.outbound] as const;
export type DeadLetterQueue = (typeof DEAD_LETTER_QUEUES)[number];

/** A queue as the ops routes read it: the inbound and outbound queues over every shard, or the maintenance queue. */
export type QueueView = Pick<ShardedQueue, 'getJobCounts' | 'getJobs' | 'getJob' | 'getFailed' | 'getJobState'>;

export function queuesOf(r: ApiResources): Record<QueueName, QueueView> {
  return { inbound: r.inboundQueue, outbound: r.outboundQueue, maintenance: r.maintenanceQueue };
}

export async function queueCounts(queue: QueueView): Promise<QueueCounts> {
  const counts = await queue.getJobCounts(...QUEUE_STATES);
  const out = {} as QueueCounts;
  for (const state of QUEUE_STATES) out[state] = counts[state] ?? 0;
  return out;
}

export async function allQueueCounts(r: ApiResources): Promise<Record<QueueName, QueueCounts>> {
  const entries = await Promise.all(
    Object.entries(queuesOf(r)).map(async ([name, q]) => [name, await queueCounts(q)] as const),
  );
  return Object.fromEntries(entries) as Record<QueueName, QueueCounts>;
}

/** Seconds the oldest waiting job has waited (0 when none is waiting): a stuck queue shows here first. */
export async function oldestWaitingAgeSeconds(queue: QueueView, now = Date.now()): Promise<number> {
  // One job per shard: the oldest of each.
  const heads = await queue.getJobs(['wait'], 0, 0, true);
  const oldest = Math.min(...heads.map((j) => j?.timestamp || now));
  if (!Number.isFinite(oldest)) return 0;
  return Math.max(0, (now - oldest) / 1000);
}
