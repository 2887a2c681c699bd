import type { Job, JobsOptions, Queue } from 'bullmq';

export interface JobSpec<T = unknown> {
  name: string;
  data: T;
  opts: JobsOptions;
}

interface Pending<T> {
  jobs: JobSpec<T>[];
  resolve: (jobs: Job[]) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit for a producer: the jobs that callers add during one turn of the event loop go to
 * Redis together, as one pipeline — one socket write and one read for all of them — when the turn
 * ends (`setImmediate`). Each caller still gets its own jobs back, in order, only after Redis has
 * answered for them: nothing is acknowledged before it is stored.
 *
 * Why: on the webhook path the socket write of each `add` was the largest single cost, for the API
 * and for Redis alike (docs/performance.md). Under load many webhooks arrive in the same turn;
 * at low load a turn holds one request, which goes through `queue.add` as before (no pipeline,
 * and no added wait: the flush runs before the loop next polls for I/O).
 *
 * A failed batch of several callers is retried caller by caller, so one caller's bad job cannot
 * fail the others; an add that landed before the failure is then answered by BullMQ's
 * de-duplication or job id with the same job.
 */
export class AddBatcher<T = unknown> {
  private pending: Pending<T>[] = [];
  private scheduled = false;
  /** Pipelines and single adds sent so far (for tests and the bench). */
  flushes = 0;

  constructor(private readonly queue: Queue) {}

  /** Adds `jobs` (in order) with the other callers of this turn; resolves with BullMQ's jobs. */
  addAll(jobs: JobSpec<T>[]): Promise<Job[]> {
    if (jobs.length === 0) return Promise.resolve([]);
    return new Promise<Job[]>((resolve, reject) => {
      this.pending.push({ jobs, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    const batch = this.pending;
    this.pending = [];
    this.scheduled = false;
    if (batch.length === 1) {
      void this.send(batch[0] as Pending<T>);
      return;
    }
    this.flushes += 1;
    const all = batch.flatMap((p) => p.jobs);
    this.queue.addBulk(all).then(
      (added) => {
        let at = 0;
        for (const p of batch) {
          p.resolve(added.slice(at, at + p.jobs.length));
          at += p.jobs.length;
        }
      },
      () => {
        for (const p of batch) void this.send(p);
      },
    );
  };

  private async send(p: Pending<T>): Promise<void> {
    this.flushes += 1;
    try {
      const only = p.jobs.length === 1 ? (p.jobs[0] as JobSpec<T>) : undefined;
      // `add` for one job: `addBulk` builds an ioredis pipeline, which copies every one of BullMQ's
      // ~50 script commands onto itself — worth it for a batch, not for one job.
      p.resolve(only ? [await this.queue.add(only.name, only.data, only.opts)] : await this.queue.addBulk(p.jobs));
    } catch (err) {
      p.reject(err);
    }
  }
}
