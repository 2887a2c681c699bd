/**
 * Part 3 (memory): the whole system at a steady half load for BENCH_SOAK_S seconds; RSS of the API
 * and both workers sampled every second. Growth compares the mean of the last third with the
 * mean of the first third (the first seconds, JIT warm-up and pool fills, are in neither average's
 * favour: they are part of the first third).
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { loadAtRate } from './load.js';
import { PayloadSource } from './payload.js';
import { FORWARDED_HTTPS } from './ingress.js';
import { type EnvFor, startSystem, stopSystem } from './pipeline.js';
import { progress, rssOf, type Teardown } from './stack.js';
import { deletePrefix } from '../test/helpers/redis.js';

export interface RssSeries {
  process: string;
  firstThird: number;
  lastThird: number;
  max: number;
  growth: number;
}

export interface SoakResult {
  seconds: number;
  ratePerS: number;
  requests: number;
  p99: number;
  backlogAtEnd: number;
  series: RssSeries[];
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

export async function runSoak(
  td: Teardown,
  redis: Redis,
  envFor: EnvFor,
  s: { soakS: number; ratePerS: number; connections: number; cpuProfDir?: string | undefined },
): Promise<SoakResult> {
  progress(`soak: ${s.soakS}s at ${s.ratePerS} req/s`);
  const sys = await startSystem(td, redis, envFor, 'soak', {}, s);
  const pids = [
    { process: 'api', pid: sys.api.pid },
    ...sys.workers.map((w, i) => ({ process: `worker ${i + 1}`, pid: w.pid })),
  ];
  const samples = new Map<string, number[]>(pids.map((p) => [p.process, []]));
  const sampler = setInterval(() => {
    for (const p of pids)
      void rssOf(p.pid).then(
        (b) => samples.get(p.process)?.push(b),
        () => {},
      );
  }, 1000);
  const ticker = setInterval(() => {
    const line = pids
      .map((p) => `${p.process} ${((samples.get(p.process)?.at(-1) ?? 0) / 2 ** 20).toFixed(0)} MiB`)
      .join(', ');
    progress(`soak: ${sys.graph.sends.length} sent; rss ${line}`);
  }, 15_000);
  let result: Awaited<ReturnType<typeof loadAtRate>>;
  try {
    result = await loadAtRate({
      url: `${sys.url}/webhook`,
      payloads: new PayloadSource(sys.env.FACEBOOK_APP_SECRET as string),
      connections: s.connections,
      durationS: s.soakS,
      overallRate: s.ratePerS,
      headers: FORWARDED_HTTPS,
    });
  } finally {
    clearInterval(sampler);
    clearInterval(ticker);
  }
  const inbound = new Queue('inbound', { connection: redis.duplicate(), prefix: `{${sys.prefix}}` });
  const counts = await inbound.getJobCounts('wait', 'active', 'delayed');
  await inbound.close();
  await inbound.disconnect();
  const series = pids.map((p) => {
    const xs = samples.get(p.process) ?? [];
    const third = Math.max(1, Math.floor(xs.length / 3));
    const firstThird = mean(xs.slice(0, third));
    const lastThird = mean(xs.slice(-third));
    return {
      process: p.process,
      firstThird,
      lastThird,
      max: Math.max(...xs),
      growth: (lastThird - firstThird) / firstThird,
    };
  });
  await stopSystem(sys);
  await deletePrefix(redis, sys.prefix);
  const backlogAtEnd = Object.values(counts).reduce((a, b) => a + b, 0);
  progress(
    `soak: done; ${series.map((x) => `${x.process} ${(x.growth * 100).toFixed(1)} %`).join(', ')}; backlog ${backlogAtEnd}`,
  );
  return { seconds: s.soakS, ratePerS: s.ratePerS, requests: result.requests, p99: result.p99, backlogAtEnd, series };
}
