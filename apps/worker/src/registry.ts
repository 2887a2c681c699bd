import { type Job, type Processor, UnrecoverableError, Worker } from 'bullmq';
import { isConnectionError, reasonOf } from '@switchboard/observability';
import {
  backoffDelay,
  bullPrefix,
  JITTER_BACKOFF,
  QUEUES,
  type QueueName,
  SEND_BACKOFF,
  sendRetryDelay,
} from '@switchboard/queue';
import { createJobEndings } from './dead-letters.js';
import { createInboundProcessor } from './processors/inbound.js';
import { createMaintenanceProcessor } from './processors/maintenance.js';
import { createOutboundProcessor } from './processors/outbound.js';
import type { WorkerResources } from './resources.js';
import { RetryableSendError } from './send-errors.js';
import { RunSlots, WAITS_PER_SLOT } from './run-slots.js';

/** What a queue's jobs mean when they end, for the listeners to call (./dead-letters.ts). */
export interface JobEndHooks {
  /** The job failed for good: it is dead-lettered. */
  failedForGood?: (job: Job, err: Error) => Promise<void>;
  completed?: (job: Job) => Promise<void>;
  /** The queue's BullMQ prefix, its shard's (the maintenance queue's, {QUEUE_PREFIX}, when absent). */
  prefix?: string;
}

/**
 * The one place a BullMQ Worker is created: concurrency, the jittered backoff strategy, listeners
 * (failed / error / stalled) with child loggers, and `closeAll()` with a deadline, which BullMQ's
 * own `close()` does not have.
 */
export class WorkerRegistry {
  private readonly workers: Worker[] = [];

  constructor(private readonly r: WorkerResources) {}

  /**
   * Consumes the inbound and outbound queues of every shard in `shards` (WORKER_SHARDS; all by
   * default), sharing WORKER_CONCURRENCY among them, and the maintenance queue.
   */
  start(shards: readonly number[] = this.r.shards.all()): this {
    const { config } = this.r;
    const concurrency = Math.max(1, Math.ceil(config.worker.concurrency / Math.max(1, shards.length)));
    for (const index of shards) {
      const shard = { index, tag: this.r.shards.tags[index] as string };
      const prefix = bullPrefix(shard.tag);
      const endings = createJobEndings(this.r, shard);
      // Messages held for their bursts wait in their runs, beside the runs that work.
      const slots = new RunSlots(concurrency, config.ai.replyDebounceMs > 0 ? concurrency * WAITS_PER_SLOT : 0);
      this.add(QUEUES.inbound, createInboundProcessor(this.r, shard, slots), slots.capacity, {
        failedForGood: endings.failedForGood,
        prefix,
      });
      // A send job finished (sent, held or recorded): the event it parked no longer holds the
      // conversation's next event back (processors/inbound.ts).
      this.add(QUEUES.outbound, createOutboundProcessor(this.r, shard), concurrency, {
        failedForGood: endings.failedForGood,
        completed: endings.sendFinished,
        prefix,
      });
    }
    this.add(QUEUES.maintenance, createMaintenanceProcessor(this.r), 1);
    return this;
  }

  add(queue: QueueName, processor: Processor, concurrency: number, hooks: JobEndHooks = {}): Worker {
    const { logger, redis } = this.r;
    const worker = new Worker(queue, processor, {
      connection: redis,
      prefix: hooks.prefix ?? this.r.bullPrefix,
      concurrency,
      // Jobs of a process that died are picked up again by the survivors once the lock expires
      // (BullMQ renews it every lockDuration/2 while the job runs; the stalled check runs as often).
      lockDuration: this.r.config.worker.lockDurationMs,
      stalledInterval: Math.max(1000, Math.floor(this.r.config.worker.lockDurationMs / 2)),
      maxStalledCount: 2,
      settings: {
        backoffStrategy: (attemptsMade: number, type?: string, err?: Error, job?: { data?: unknown }) => {
          if (type === SEND_BACKOFF) {
            const e = err instanceof RetryableSendError ? err : undefined;
            // A send handed over by the inbound job (`prior`) failed once before this job's attempts.
            const prior = (job?.data as { prior?: unknown } | undefined)?.prior ? 1 : 0;
            return sendRetryDelay(attemptsMade + prior, e?.rateLimited === true, e?.retryAfterMs);
          }
          return type === JITTER_BACKOFF ? backoffDelay(attemptsMade) : 0;
        },
      },
    });
    const log = logger.child(this.r.shards.count > 1 && hooks.prefix ? { queue, shard: hooks.prefix } : { queue });
    /** A hook logs and counts its own failures; one that still throws is a bug, logged here. */
    const settle = (work: Promise<void>, event: string) =>
      void work.catch((e: unknown) => log.error({ err: { message: (e as Error).message }, event }, 'job hook failed'));
    // A lost connection is an outage, logged once by the tracker, not once per reconnection attempt.
    worker.on('error', (err) =>
      isConnectionError(err)
        ? this.r.redisOutage.down(reasonOf(err))
        : log.error({ err: { message: err.message } }, 'worker error'),
    );
    worker.on('stalled', (jobId) => log.warn({ job: jobId }, 'job stalled; it will be retried'));
    worker.on('failed', (job: Job | undefined, err: Error) => {
      if (!job) return;
      const final =
        err instanceof UnrecoverableError ||
        err.name === 'UnrecoverableError' ||
        job.attemptsMade >= (job.opts.attempts ?? 1);
      log[final ? 'error' : 'warn'](
        { job: job.id, attempt: job.attemptsMade, reason: err.message.slice(0, 200) },
        final ? 'job dead-lettered' : 'job failed; will retry',
      );
      if (final) {
        this.r.counters.count('dead_lettered', { queue });
        if (hooks.failedForGood) settle(hooks.failedForGood(job, err), 'failed');
      }
    });
    if (hooks.completed) {
      const completed = hooks.completed;
      worker.on('completed', (job: Job) => settle(completed(job), 'completed'));
    }
    this.workers.push(worker);
    return worker;
  }

  /**
   * Stops taking jobs and waits for active ones up to `deadlineMs`, then answers whether they all
   * finished. Past the deadline it stops waiting, and the caller exits: the unfinished jobs' locks
   * expire and another worker takes them over (the crash path: their reply-sent markers keep any
   * reply from going out twice), so nothing is lost. BullMQ cannot cut short a close already under
   * way — `close(true)` on a closing worker only waits for that same close — so waiting longer
   * would let the orchestrator's SIGKILL land instead, at a moment nobody chose.
   */
  async closeAll(deadlineMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const graceful = Promise.all(this.workers.map((w) => w.close())).then(() => true);
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), deadlineMs);
    });
    const clean = await Promise.race([graceful, timedOut]);
    clearTimeout(timer);
    // Past the deadline nobody waits for the close: the process exits, and a later failure of it has nowhere to go.
    if (!clean) graceful.catch(() => {});
    return clean;
  }
}
