import { randomBytes } from 'node:crypto';
import { UnrecoverableError, Worker } from 'bullmq';
import { bullPrefix, createWorkerConnection, QUEUES } from '@switchboard/queue';
import type { ApiResources } from '../../apps/api/src/resources.js';
import { eventually } from './processes.js';

export interface DeadLetterSpec {
  queue?: 'inbound' | 'outbound';
  pageId?: string;
  reason?: string;
}

/**
 * Puts real jobs into BullMQ's failed set (the dead-letter queue) the way a worker does: adds them,
 * then lets a real Worker throw UnrecoverableError with the given reason. The worker is closed
 * before returning, so a replayed job stays waiting where the test can see it.
 */
export async function makeDeadLetters(
  resources: ApiResources,
  redisUrl: string,
  prefix: string,
  specs: DeadLetterSpec[],
): Promise<Array<{ id: string; eventId: string }>> {
  const out: Array<{ id: string; eventId: string }> = [];
  const reasons = new Map<string, string>();
  for (const spec of specs) {
    const queueName = spec.queue ?? 'outbound';
    const queue = queueName === 'inbound' ? resources.inboundQueue : resources.outboundQueue;
    const eventId = randomBytes(16).toString('hex');
    const job = await queue.add(
      'send',
      { v: 1, eventId, channel: 'messenger', pageId: spec.pageId ?? '1000000001', sealed: 'v1.x.y.z.w' },
      { attempts: 3, removeOnFail: false },
    );
    reasons.set(`${queueName}:${job.id}`, spec.reason ?? 'graph permanent code=10 subcode=2018278 status=400');
    out.push({ id: `${queueName}:${job.id}`, eventId });
  }
  for (const name of [QUEUES.inbound, QUEUES.outbound]) {
    if (!specs.some((s) => (s.queue ?? 'outbound') === name)) continue;
    const connection = createWorkerConnection(redisUrl);
    const worker = new Worker(
      name,
      async (job) => {
        throw new UnrecoverableError(reasons.get(`${name}:${job.id}`) ?? 'failed');
      },
      { connection, prefix: bullPrefix(prefix), concurrency: 5 },
    );
    const queue = name === 'inbound' ? resources.inboundQueue : resources.outboundQueue;
    const mine = out.filter((j) => j.id.startsWith(`${name}:`)).map((j) => j.id.slice(name.length + 1));
    await eventually(
      async () => (await Promise.all(mine.map(async (id) => (await queue.getJob(id))?.isFailed()))).every(Boolean),
      10_000,
      `${name} jobs dead-lettered`,
    );
    await worker.close();
    connection.disconnect();
  }
  return out;
}
