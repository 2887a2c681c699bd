import type { Redis } from 'ioredis';
import { type HistogramFields, histogramFields, LATENCY_BUCKETS_S, type Labels, series } from './series.js';

/**
 * Cluster-wide counters: every API and worker process adds to one Redis hash, so /ops/telemetry
 * and /metrics report the same sums whichever process answers.
 *
 * Increments are buffered in memory and flushed once a second in one pipelined HINCRBY batch:
 * the webhook path must not pay a Redis round trip per counter. A process killed with SIGKILL
 * can lose at most its last second of counts — counters are telemetry, not the record of truth
 * (PostgreSQL is).
 */
export class Counters {
  private pending = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly redis: Redis,
    readonly key: string,
    private readonly flushEveryMs = 1000,
  ) {}

  start(): this {
    if (!this.timer) {
      this.timer = setInterval(() => void this.flush(), this.flushEveryMs);
      this.timer.unref();
    }
    return this;
  }

  incr(name: string, by = 1): void {
    this.pending.set(name, (this.pending.get(name) ?? 0) + by);
  }

  /** Increments `name{labels}`. */
  count(name: string, labels?: Labels, by = 1): void {
    this.incr(series(name, labels), by);
  }

  /** Field names per histogram series, built once: observe() runs on the webhook path. */
  private readonly histograms = new Map<string, HistogramFields>();

  /** One observation of a cluster-wide histogram (seconds). */
  observe(name: string, seconds: number, labels?: Labels): void {
    const id = series(name, labels);
    let f = this.histograms.get(id);
    if (!f) {
      f = histogramFields(name, labels);
      this.histograms.set(id, f);
    }
    for (let i = LATENCY_BUCKETS_S.length - 1; i >= 0 && seconds <= (LATENCY_BUCKETS_S[i] as number); i--)
      this.incr(f.buckets[i] as string);
    this.incr(f.inf);
    this.incr(f.sum, seconds);
    this.incr(f.count);
  }

  async flush(): Promise<void> {
    if (this.flushing) await this.flushing;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const pipeline = this.redis.pipeline();
    // Which counter each command adds to, to put back what Redis did not take (null: a per-minute
    // copy, which is not put back — its total is, and the copy only feeds a recent rate).
    const owners: Array<string | null> = [];
    const minute = recentKey(this.key, Math.floor(Date.now() / 60_000));
    for (const [name, by] of batch) {
      if (Number.isInteger(by)) pipeline.hincrby(this.key, name, by);
      else pipeline.hincrbyfloat(this.key, name, by);
      owners.push(name);
      if (RECENT_COUNTERS.has(name)) {
        pipeline.hincrby(minute, name, by).expire(minute, RECENT_KEEP_S);
        owners.push(null, null);
      }
    }
    this.flushing = pipeline
      .exec()
      .then((results) => {
        // Put back what Redis did not take, so a short outage delays counts instead of losing them.
        results?.forEach(([err], i) => {
          const name = owners[i];
          if (err && name) this.incr(name, batch.get(name) ?? 0);
        });
      })
      .catch(() => {
        for (const [name, by] of batch) this.incr(name, by);
      })
      .finally(() => {
        this.flushing = undefined;
      });
    await this.flushing;
  }

  /** The sums of RECENT_COUNTERS `names` over the last `minutes` whole minutes and the current one. */
  async recent(names: readonly string[], minutes: number): Promise<Record<string, number>> {
    const now = Math.floor(Date.now() / 60_000);
    const pipeline = this.redis.pipeline();
    for (let m = now - minutes; m <= now; m++) pipeline.hmget(recentKey(this.key, m), ...names);
    const results = (await pipeline.exec()) ?? [];
    const sums: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
    for (const [err, values] of results) {
      if (err) throw err;
      (values as Array<string | null>).forEach((v, i) => {
        const name = names[i] as string;
        sums[name] = (sums[name] ?? 0) + Number(v ?? 0);
      });
    }
    return sums;
  }

  async read(): Promise<Record<string, number>> {
    const raw = await this.redis.hgetall(this.key);
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(raw)) out[k] = Number(v);
    return out;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}

/**
 * Counters also kept per minute, for rates over a recent window rather than since the deployment
 * began (/health's AI error rate: ten thousand good calls last week must not hide an outage now).
 */
export const RECENT_COUNTERS: ReadonlySet<string> = new Set(['ai_calls', 'ai_errors']);
/** How long a minute's copy is kept (the longest window asked for, with room). */
const RECENT_KEEP_S = 2 * 3600;

export function recentKey(countersKey: string, minute: number): string {
  return `${countersKey}:m:${minute}`;
}

/**
 * The totals and their per-minute copies (recentKey) share this key's hash tag: one flush writes
 * them in one pipeline, which a Redis Cluster client sends to one node only when they share a slot.
 */
export function countersKey(prefix: string): string {
  return `${prefix}:{counters}`;
}
