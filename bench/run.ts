/**
 * `npm run bench` — the performance benchmark (docs/performance.md explains the numbers).
 * Starts what it needs (its own PostgreSQL databases and Redis prefixes, the real API and worker
 * as child processes, fake Graph and Gemini servers), measures, prints a table on stdout and the
 * target ratios as the last line. Progress goes to stderr. Not part of `npm test`.
 *
 * Knobs: BENCH_N (messages through the pipeline, default 20000), BENCH_PIPELINE_WARMUP (messages
 * through each pipeline system before the measured ones, default 5000), BENCH_SOAK_S (soak seconds,
 * default 300), BENCH_SOAK_RATE (soak req/s, default half of the measured end-to-end rate), BENCH_DURATION_S (each ingress measurement, default 10), BENCH_WARMUP_S (each
 * ingress server's warm-up, default 8), BENCH_ROUNDS (ingress rounds, median counts, default 3), BENCH_CONNECTIONS
 * (default 10), BENCH_CONCURRENCY (worker concurrency, default the config default), BENCH_NICE (the workers'
 * and the baseline's WORKER_NICE, default the config default),
 * BENCH_ONLY (comma list of ingress,pipeline,soak; `cost` the per-message cost alone (part of `pipeline`, see cost.ts: BENCH_COST_N, BENCH_COST_WARMUP, BENCH_COST_DUPLICATES); `ladder` adds the floor-to-/webhook ladder, see ingress.ts; `steady` adds the per-process cost breakdown,
 * see steady.ts: BENCH_STEADY_N, default 8000, BENCH_STEADY_WARMUP, default 3000, BENCH_STEADY_AI=1
 * for AI on, BENCH_STEADY_RATE: a fixed rate instead of full load; `rate` the rate search, see rate.ts: BENCH_RATE_S,
 * seconds per probe, default 60, BENCH_RATE_P99_MS, default 1000, BENCH_RATE_PROBES, default 7,
 * BENCH_RATE_START, msg/s, default 80 % of the warm-up's), BENCH_CPU_PROF (a directory: child processes write --cpu-prof profiles there).
 */
import { type CostResult, runCost } from './cost.js';
import { calibrationLine, hardwareLine } from './hardware.js';
import { type IngressRow, runIngress, runLadder } from './ingress.js';
import { MESSAGES_PER_BATCH, PayloadSource } from './payload.js';
import { baseline, type PipelineResult, runPipeline } from './pipeline.js';
import { type RateSearchResult, runRateSearch } from './rate.js';
import { printReport } from './report.js';
import { type SoakResult, runSoak } from './soak.js';
import { type SteadyResult, runSteady } from './steady.js';
import { adminRedis, freshDatabase, freshPrefix, progress, Teardown } from './stack.js';
import { testEnv } from '../test/helpers/env.js';
import { deletePrefix } from '../test/helpers/redis.js';
import { bullPrefix, QUEUES } from '@switchboard/queue';

const num = (name: string, fallback: number) => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};
const settings = {
  n: num('BENCH_N', 20_000),
  warmup: process.env.BENCH_PIPELINE_WARMUP === '0' ? 0 : num('BENCH_PIPELINE_WARMUP', 5000),
  soakS: num('BENCH_SOAK_S', 300),
  soakRate: num('BENCH_SOAK_RATE', 0),
  durationS: num('BENCH_DURATION_S', 10),
  warmupS: num('BENCH_WARMUP_S', 8),
  rounds: num('BENCH_ROUNDS', 3),
  connections: num('BENCH_CONNECTIONS', 10),
  concurrency: process.env.BENCH_CONCURRENCY,
  nice: process.env.BENCH_NICE || undefined,
  only: new Set((process.env.BENCH_ONLY ?? 'ingress,pipeline,soak').split(',').map((s) => s.trim())),
  cpuProfDir: process.env.BENCH_CPU_PROF || undefined,
  steady: {
    n: num('BENCH_STEADY_N', 8000),
    warmup: process.env.BENCH_STEADY_WARMUP === '0' ? 0 : num('BENCH_STEADY_WARMUP', 3000),
    ai: process.env.BENCH_STEADY_AI === '1',
    rate: num('BENCH_STEADY_RATE', 0) || undefined,
  },
  cost: {
    n: num('BENCH_COST_N', 2000),
    warmup: process.env.BENCH_COST_WARMUP === '0' ? 0 : num('BENCH_COST_WARMUP', 500),
    duplicates: process.env.BENCH_COST_DUPLICATES === '0' ? 0 : num('BENCH_COST_DUPLICATES', 0.1),
  },
  rate: {
    durationS: num('BENCH_RATE_S', 60),
    p99LimitMs: num('BENCH_RATE_P99_MS', 1000),
    maxProbes: num('BENCH_RATE_PROBES', 7),
    start: num('BENCH_RATE_START', 0),
  },
};

const td = new Teardown();
let interrupted = false;
process.once('SIGINT', () => {
  interrupted = true;
  progress('interrupted: cleaning up');
  void td.run().then(() => process.exit(130));
});

async function main(): Promise<void> {
  const machine = hardwareLine();
  progress(machine);
  const calibration = await calibrationLine();
  progress(calibration);
  const hardware = `${machine}\n${calibration}`;
  const redis = adminRedis(td);

  /** The environment of every real API / worker process: production mode, `info` logs to a file. */
  const envFor = (databaseUrl: string, prefix: string, extra: Record<string, string> = {}) =>
    testEnv({
      databaseUrl,
      prefix,
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      REQUIRE_HTTPS: 'true',
      TRUST_PROXY: 'loopback',
      AI_ENABLED: 'false',
      ...(settings.concurrency ? { WORKER_CONCURRENCY: settings.concurrency } : {}),
      // The production default unless BENCH_NICE says otherwise (testEnv sets 0 for the tests).
      WORKER_NICE: settings.nice,
      ...extra,
    });

  /** The ingress servers' own database and Redis prefix; the jobs they queued are deleted afterwards. */
  const withIngressServers = async <T>(
    label: string,
    part: (env: Record<string, string>, payloads: PayloadSource, prefix: string) => Promise<T>,
  ): Promise<T> => {
    const prefix = freshPrefix(td, redis, label);
    const env = envFor(await freshDatabase(td, label), prefix);
    const result = await part(env, new PayloadSource(env.FACEBOOK_APP_SECRET as string), prefix);
    progress(`${label}: deleting its queued jobs`);
    await deletePrefix(redis, prefix);
    return result;
  };

  let ingress: IngressRow[] | undefined;
  if (settings.only.has('ingress'))
    ingress = await withIngressServers('ingress', (env, payloads) => runIngress(td, env, payloads, settings));

  let ladder: IngressRow[] | undefined;
  if (settings.only.has('ladder')) {
    ladder = await withIngressServers('ladder', (env, payloads, prefix) =>
      runLadder(td, env, payloads, settings, () => redis.llen(`${bullPrefix(prefix)}:${QUEUES.inbound}:wait`)),
    );
  }

  let pipeline: PipelineResult | undefined;
  if (settings.only.has('pipeline')) pipeline = await runPipeline(td, redis, envFor, settings);

  // What a message costs, counted: part of the pipeline part, or alone with BENCH_ONLY=cost.
  let cost: CostResult | undefined;
  if (settings.only.has('pipeline') || settings.only.has('cost'))
    cost = await runCost(td, envFor, {
      ...settings.cost,
      connections: settings.connections,
      cpuProfDir: settings.cpuProfDir,
    });

  let soak: SoakResult | undefined;
  if (settings.only.has('soak'))
    soak = await runSoak(td, redis, envFor, { ...settings, ratePerS: soakRate(ingress, pipeline) });

  let steady: SteadyResult | undefined;
  if (settings.only.has('steady'))
    steady = await runSteady(td, redis, envFor, {
      ...settings.steady,
      connections: settings.connections,
      cpuProfDir: settings.cpuProfDir,
    });

  let rate: (RateSearchResult & { noopJobsPerS: number }) | undefined;
  if (settings.only.has('rate')) {
    // The no-op baseline of this run, measured again when the pipeline part did not run.
    const noopJobsPerS = pipeline?.baseline.jobsPerS ?? (await baseline(td, redis, settings)).jobsPerS;
    const search = await runRateSearch(td, redis, envFor, {
      ...settings.rate,
      warmup: settings.warmup,
      connections: settings.connections,
    });
    rate = { ...search, noopJobsPerS };
  }

  printReport({ hardware, settings, ingress, pipeline, cost, soak, steady, rate, ladder });
}

/**
 * The soak runs at half of what the whole system sustains: half of the end-to-end rate when the
 * pipeline was measured (a higher rate would only grow a backlog, which is not a leak), else half
 * of (c)'s maximum.
 */
function soakRate(ingress: IngressRow[] | undefined, pipeline: PipelineResult | undefined): number {
  if (settings.soakRate) return settings.soakRate;
  const perRequest = MESSAGES_PER_BATCH;
  if (pipeline) return Math.max(1, Math.floor(pipeline.aiOff.messagesPerS / 2 / perRequest));
  const c = ingress?.[2];
  return c ? Math.max(1, Math.floor(c.max.rps / 2)) : 50;
}

try {
  await main();
} catch (err) {
  process.exitCode = 1;
  progress(`failed: ${(err as Error).stack ?? err}`);
} finally {
  if (!interrupted) {
    progress('cleaning up');
    await td.run();
  }
}
// Child processes and sockets are closed by now; nothing should keep the loop alive.
process.exit(process.exitCode ?? 0);
