import type { Job } from 'bullmq';
import { QUEUES } from '@switchboard/queue';
import type { ApiResources } from '../../resources.js';
import { errorCodeOf, sanitiseFailureReason } from './failure-reason.js';
import { DEAD_LETTER_QUEUES, type DeadLetterQueue, type QueueView, queuesOf } from './queue-stats.js';

/** One dead-lettered job as the ops API shows it: ids and metadata only, never the (sealed) payload. */
export interface DeadLetterJob {
  /** `<queue>:<job id>`, what POST /ops/dlq/:id/retry takes. */
  id: string;
  queue: DeadLetterQueue;
  job_id: string;
  name: string;
  reason: string;
  error_code: number | null;
  failed_at: string | null;
  attempts: number;
  page_id: string | null;
  event_id: string | null;
  channel: string | null;
}

/** Failed sets are read in pages of this size; BullMQ keeps at most 50 000 per queue (job-options.ts). */
const PAGE = 500;

/**
 * The Send API attempts a send job stands for, counted as the worker counts them against
 * SEND_MAX_ATTEMPTS (apps/worker/src/processors/outbound.ts, `attemptsMade + (prior ? 1 : 0)`): the
 * inbound job makes the first attempt inline, and hands what it could not finish to this job with
 * `prior` in its data — so BullMQ's attemptsMade alone is one short. When the inline attempt met a
 * permanent error the send job dead-letters without calling Meta and drops `prior`: its one
 * attempt stands for the inline call. Counts since the last replay (which resets attemptsMade).
 */
export function sendAttempts(job: Job): number {
  const data = (job.data ?? {}) as { prior?: unknown };
  return job.attemptsMade + (data.prior ? 1 : 0);
}

export function describeDeadLetter(queue: DeadLetterQueue, job: Job): DeadLetterJob {
  const data = (job.data ?? {}) as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  return {
    id: `${queue}:${job.id}`,
    queue,
    job_id: String(job.id),
    name: job.name,
    reason: sanitiseFailureReason(job.failedReason),
    error_code: errorCodeOf(job.failedReason),
    failed_at: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
    attempts: queue === QUEUES.outbound ? sendAttempts(job) : job.attemptsMade,
    page_id: text(data.pageId),
    event_id: text(data.eventId),
    channel: text(data.channel),
  };
}

/** The newest `limit` dead-lettered jobs of the inbound and outbound queues together, newest first. */
export async function listDeadLetters(r: ApiResources, limit: number): Promise<DeadLetterJob[]> {
  const queues = queuesOf(r);
  const perQueue = await Promise.all(
    DEAD_LETTER_QUEUES.map(async (name) =>
      ((await queues[name].getFailed(0, limit - 1)) as Job[])
        .filter(Boolean)
        .map((job) => describeDeadLetter(name, job)),
    ),
  );
  return perQueue
    .flat()
    .sort((a, b) => (b.failed_at ?? '').localeCompare(a.failed_at ?? ''))
    .slice(0, limit);
}

/** Every dead-lettered job (both queues), for bulk replay; stops at `max`. */
export async function scanDeadLetters(r: ApiResources, max: number): Promise<DeadLetterJob[]> {
  const queues = queuesOf(r);
  const out: DeadLetterJob[] = [];
  for (const name of DEAD_LETTER_QUEUES) {
    for (let start = 0; out.length < max; start += PAGE) {
      const jobs = ((await queues[name].getFailed(start, start + PAGE - 1)) as Job[]).filter(Boolean);
      out.push(...jobs.map((job) => describeDeadLetter(name, job)).slice(0, max - out.length));
      if (jobs.length < PAGE) break;
    }
  }
  return out;
}

/**
 * Finds a dead-lettered job by `<queue>:<job id>` or by a bare job id (searched in both queues;
 * `ambiguous` when both hold a dead-lettered job with that id).
 * Only a job that is in the failed set counts: replaying a waiting or finished job would send twice.
 */
export async function findDeadLetter(
  r: ApiResources,
  id: string,
): Promise<{ queue: QueueView; name: DeadLetterQueue; job: Job } | 'ambiguous' | null> {
  const queues = queuesOf(r);
  const colon = id.indexOf(':');
  const named = colon > 0 ? (id.slice(0, colon) as DeadLetterQueue) : undefined;
  const candidates: DeadLetterQueue[] =
    named && DEAD_LETTER_QUEUES.includes(named) ? [named] : colon > 0 ? [] : [...DEAD_LETTER_QUEUES];
  const jobId = named ? id.slice(colon + 1) : id;
  const found: Array<{ queue: QueueView; name: DeadLetterQueue; job: Job }> = [];
  for (const name of candidates) {
    const queue = queues[name];
    const job = (await queue.getJob(jobId)) as Job | undefined;
    if (job && (await job.isFailed())) found.push({ queue, name, job });
  }
  // Job ids are per queue (an event's inbound and outbound jobs may share one): never guess.
  if (found.length > 1) return 'ambiguous';
  return found[0] ?? null;
}

/**
 * Moves a dead-lettered job back to waiting with its attempts reset, so the replay gets the full
 * retry budget again (BullMQ Job.retry). The worker's "reply sent" marker still prevents a second
 * delivery of parts that already went out.
 */
export async function replayDeadLetter(job: Job): Promise<void> {
  await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
}

/**
 * The Send API attempts of these events' send jobs (job id = event id, processors/inbound.ts), for
 * those BullMQ still holds: 14 days for a dead letter, an hour after a completed send. An event
 * answered inline has none; a send released after a hold runs under another job id (release.ts).
 */
export async function sendAttemptsByEvent(r: ApiResources, eventIds: readonly string[]): Promise<Map<string, number>> {
  const jobs = await Promise.all(
    eventIds.map(async (id) => [id, (await r.outboundQueue.getJob(id)) as Job | undefined] as const),
  );
  return new Map(jobs.flatMap(([id, job]) => (job ? [[id, sendAttempts(job)] as const] : [])));
}
