import type { Redis } from 'ioredis';

/**
 * One list per series, all under one hash tag: a flush writes every series in one pipeline, which
 * a Redis Cluster client sends to one node only when its keys share a slot.
 */
export function latencyKey(prefix: string, series: string): string {
  return `${prefix}:{latency}:${series}`;
}

/**
 * Cluster-wide latency samples for percentiles in /ops/telemetry: a capped Redis list per series
 * (the newest 1000 samples), fed in batches like the counters.
 */
export class LatencySamples {
  private pending = new Map<string, number[]>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly keep = 1000,
  ) {}

  start(): this {
    this.timer ??= setInterval(() => void this.flush(), 1000);
    this.timer.unref();
    return this;
  }

  record(series: string, ms: number): void {
    const list = this.pending.get(series);
    if (list) list.push(Math.round(ms));
    else this.pending.set(series, [Math.round(ms)]);
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const pipeline = this.redis.pipeline();
    for (const [series, values] of batch) {
      const key = latencyKey(this.prefix, series);
      pipeline.lpush(key, ...values);
      pipeline.ltrim(key, 0, this.keep - 1);
    }
    await pipeline.exec().catch(() => undefined);
  }

  async percentiles(
    series: string,
  ): Promise<{ count: number; p50: number | null; p90: number | null; p99: number | null }> {
    const values = (await this.redis.lrange(latencyKey(this.prefix, series), 0, -1)).map(Number).sort((a, b) => a - b);
    const at = (q: number) =>
      values.length ? (values[Math.min(values.length - 1, Math.floor(q * values.length))] ?? null) : null;
    return { count: values.length, p50: at(0.5), p90: at(0.9), p99: at(0.99) };
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
