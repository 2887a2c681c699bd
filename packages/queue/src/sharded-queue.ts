import { type Job, type JobType, Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { bullPrefix } from './names.js';
import type { QueueShards } from './shards.js';

type Added = { name: string; data: object; opts?: Parameters<Queue['add']>[2] };

/**
 * One queue (inbound or outbound) over every shard: a BullMQ Queue per shard, each under its
 * shard's hash tag. A job is added to its conversation's shard; reads (counts, a job by id, the
 * dead-lettered) see every shard.
 */
export class ShardedQueue {
  readonly queues: readonly Queue[];

  constructor(
    readonly name: string,
    readonly shards: QueueShards,
    connection: Redis | Cluster,
  ) {
    this.queues = shards.tags.map((tag) => new Queue(name, { connection, prefix: bullPrefix(tag) }));
  }

  /** The queue of shard `index`. */
  of(index: number): Queue {
    const q = this.queues[index];
    if (!q) throw new RangeError(`no shard ${index}`);
    return q;
  }

  /** The queue a job's data routes to (QueueShards.ofData). */
  forJob(data: object): Queue {
    return this.of(this.shards.ofData(data));
  }

  on(event: 'error', listener: (err: Error) => void): this {
    for (const q of this.queues) q.on(event, listener);
    return this;
  }

  add(name: string, data: object, opts?: Added['opts']): Promise<Job> {
    return this.forJob(data).add(name, data, opts);
  }

  /** Adds each job to its shard (one `addBulk` per shard), answering the jobs in the order given. */
  async addBulk(jobs: readonly Added[]): Promise<Job[]> {
    if (this.queues.length === 1) return this.of(0).addBulk(jobs as Added[]);
    const groups = new Map<number, number[]>();
    jobs.forEach((job, i) => {
      const shard = this.shards.ofData(job.data);
      const group = groups.get(shard);
      if (group) group.push(i);
      else groups.set(shard, [i]);
    });
    const out = new Array<Job>(jobs.length);
    await Promise.all(
      [...groups].map(async ([shard, indexes]) => {
        const added = await this.of(shard).addBulk(indexes.map((i) => jobs[i] as Added));
        added.forEach((job, k) => {
          out[indexes[k] as number] = job;
        });
      }),
    );
    return out;
  }

  /** A job by id, from whichever shard holds it (ids are unique across shards: event ids). */
  async getJob(id: string): Promise<Job | undefined> {
    for (const q of this.queues) {
      const job = (await q.getJob(id)) as Job | undefined;
      if (job) return job;
    }
    return undefined;
  }

  /** Counts summed over the shards. */
  async getJobCounts(...types: JobType[]): Promise<Record<string, number>> {
    const all = await Promise.all(this.queues.map((q) => q.getJobCounts(...types)));
    const sum: Record<string, number> = {};
    for (const counts of all) for (const [k, v] of Object.entries(counts)) sum[k] = (sum[k] ?? 0) + v;
    return sum;
  }

  /** Counts per shard, in shard order. */
  shardCounts(...types: JobType[]): Promise<Array<Record<string, number>>> {
    return Promise.all(this.queues.map((q) => q.getJobCounts(...types)));
  }

  /** Jobs of the given states from every shard, `start`..`end` of each (callers sort and cut). */
  async getJobs(types: JobType | JobType[], start = 0, end = -1, asc = false): Promise<Job[]> {
    const all = await Promise.all(this.queues.map((q) => q.getJobs(types, start, end, asc)));
    return all.flat();
  }

  /** Failed (dead-lettered) jobs `start`..`end` of each shard: a page of each, not of the whole. */
  getFailed(start = 0, end = -1): Promise<Job[]> {
    return this.getJobs('failed', start, end, false);
  }

  /** A job's state, from whichever shard holds it (`unknown` when none does). */
  async getJobState(id: string): Promise<string> {
    for (const q of this.queues) {
      const state = await q.getJobState(id);
      if (state !== 'unknown') return state;
    }
    return 'unknown';
  }

  async count(): Promise<number> {
    const all = await Promise.all(this.queues.map((q) => q.count()));
    return all.reduce((a, b) => a + b, 0);
  }

  async getFailedCount(): Promise<number> {
    return (await this.getJobCounts('failed')).failed ?? 0;
  }

  async getCompletedCount(): Promise<number> {
    return (await this.getJobCounts('completed')).completed ?? 0;
  }

  getWaiting(start = 0, end = -1): Promise<Job[]> {
    return this.getJobs('waiting', start, end, true);
  }

  getCompleted(start = 0, end = -1): Promise<Job[]> {
    return this.getJobs('completed', start, end, false);
  }

  async remove(id: string): Promise<number> {
    const all = await Promise.all(this.queues.map((q) => q.remove(id)));
    return all.reduce((a, b) => a + b, 0);
  }

  async obliterate(opts?: { force?: boolean }): Promise<void> {
    await Promise.all(this.queues.map((q) => q.obliterate(opts)));
  }

  async waitUntilReady(): Promise<void> {
    await Promise.all(this.queues.map((q) => q.waitUntilReady()));
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.queues.map((q) => q.close()));
  }
}
