/**
 * Part 2: N messages through the real API and two real worker processes to the fake Graph API —
 * AI off, then AI on against a fake Gemini answering in 50 ms — next to a no-op BullMQ worker
 * baseline (same concurrency, same number of processes, same job options, nothing done per job).
 * Part 3's storage accounting runs on the AI-off run's Redis keys and database.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { DEFAULT_WORKER_CONCURRENCY, DEFAULT_WORKER_NICE } from '@switchboard/config';
import { bullPrefix, inboundJobOptions, QUEUES, shardTags } from '@switchboard/queue';
import { startFakeGemini } from '../test/helpers/fake-gemini.js';
import { type FakeGraph, type FakeGraphSend, startFakeGraph } from '../test/helpers/fake-graph.js';
import { freePort } from '../test/helpers/processes.js';
import { deletePrefix } from '../test/helpers/redis.js';
import { load } from './load.js';
import { MESSAGES_PER_BATCH, PayloadSource } from './payload.js';
import { FORWARDED_HTTPS } from './ingress.js';
import { type StorageResult, measureStorage } from './storage.js';
import {
  type Child,
  cpuBetween,
  cpuMsOf,
  freshDatabase,
  machineContextSwitches,
  machineCpu,
  freshPrefix,
  progress,
  rssOf,
  scriptArgs,
  sleep,
  startChild,
  type Teardown,
  tempFile,
  tsEntry,
} from './stack.js';

export type EnvFor = (databaseUrl: string, prefix: string, extra?: Record<string, string>) => Record<string, string>;

export interface PipelineRun {
  /** Measured messages (after the warm-up's). */
  messages: number;
  warmup: number;
  messagesPerS: number;
  p50: number;
  p99: number;
  sends: number;
  distinctRecipients: number;
  duplicates: number;
  missing: number;
  aiReplies: number;
  rssApi: number;
  rssWorkers: number[];
  /** CPU time per message (user + system, ms) from the first request to the last send. */
  cpuApiMs: number;
  cpuWorkersMs: number;
  /** The same for PostgreSQL, Redis and this bench process (load generator, fake Graph and Gemini). */
  cpuPostgresMs: number;
  cpuRedisMs: number;
  cpuBenchMs: number;
  /** Context switches on the whole machine per message, same interval. */
  contextSwitches: number;
  /** Redis commands per message, those run inside scripts included (INFO commandstats), same interval. */
  redisCommands: number;
}

export interface PipelineResult {
  /** CPU per job (ms): the two no-op workers, Redis, and the bench process adding the jobs. */
  baseline: {
    jobsPerS: number;
    concurrency: number;
    contextSwitches: number;
    cpuWorkersMs: number;
    cpuRedisMs: number;
    cpuBenchMs: number;
  };
  aiOff: PipelineRun;
  /** AI on with the conversation memory at its default (AI_HISTORY_TURNS=12). */
  aiOn: PipelineRun;
  /** AI on with memory off (AI_HISTORY_TURNS=0): what memory costs is the difference. */
  aiOnNoMemory: PipelineRun;
  /**
   * The same two again in the reverse order (on, off, off, on): the machine's speed drifts within a
   * run, and the mean of each pair cancels a steady drift that one of each would book to memory.
   */
  aiOnNoMemoryAgain: PipelineRun;
  aiOnAgain: PipelineRun;
  storage: StorageResult;
}

interface Settings {
  n: number;
  /** Messages through each system before the measured N (not counted in rates; counted for exactly once). */
  warmup: number;
  connections: number;
  concurrency?: string | undefined;
  /** WORKER_NICE of the workers and the baseline's (BENCH_NICE); unset: the production default. */
  nice?: string | undefined;
  cpuProfDir?: string | undefined;
}

export interface System {
  api: Child;
  workers: Child[];
  url: string;
  graph: FakeGraph;
  env: Record<string, string>;
  databaseUrl: string;
  prefix: string;
}

/** The API and two workers, as production runs them (node apps/…/dist), logging at info to files. */
export async function startSystem(
  td: Teardown,
  redis: Redis,
  envFor: EnvFor,
  label: string,
  extra: Record<string, string>,
  s: Pick<Settings, 'cpuProfDir'>,
): Promise<System> {
  const databaseUrl = await freshDatabase(td, label);
  const prefix = freshPrefix(td, redis, label);
  const port = await freePort();
  const base = envFor(databaseUrl, prefix, { PORT: String(port), HOST: '127.0.0.1', ...extra });
  const graph = await startFakeGraph({ appSecret: base.FACEBOOK_APP_SECRET });
  td.teardown(() => graph.close());
  const env = { ...base, GRAPH_API_BASE_URL: graph.url, FACEBOOK_PAGE_ACCESS_TOKEN: 'bench-page-token' };
  const prof = s.cpuProfDir ? { cpuProfDir: s.cpuProfDir } : {};
  const api = startChild(td, scriptArgs('start:api'), env, { logFile: tempFile(td, `api-${label}.log`), ...prof });
  const workers = [0, 1].map((i) =>
    startChild(td, scriptArgs('start:worker'), env, { logFile: tempFile(td, `worker-${label}-${i}.log`), ...prof }),
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  // Workers register on every shard they consume; the first shard's queue is enough to count them.
  const firstShard = shardTags(prefix, Number(base.QUEUE_SHARDS ?? '1'))[0] as string;
  const inbound = new Queue(QUEUES.inbound, { connection: redis.duplicate(), prefix: bullPrefix(firstShard) });
  try {
    for (;;) {
      const up = await fetch(`${url}/health`).then(
        (r) => r.ok,
        () => false,
      );
      const workerCount = await inbound.getWorkersCount().catch(() => 0);
      if (up && workerCount >= 2) break;
      if (Date.now() > deadline) {
        // Its last lines on stderr (a refused configuration, say) or that it still runs.
        const said = await api.waitFor(/^$/, 1).catch((e: Error) => e.message);
        throw new Error(
          `system ${label} did not start (api up: ${up}, workers: ${workerCount}); the api said: ${said}`,
        );
      }
      await sleep(200);
    }
  } finally {
    await inbound.close();
    await inbound.disconnect();
  }
  return { api, workers, url, graph, env, databaseUrl, prefix };
}

export async function stopSystem(sys: System): Promise<void> {
  await Promise.all([sys.api.stop(), ...sys.workers.map((w) => w.stop())]);
  // Counted by now. The fake Graph itself closes at teardown, and until then its record of every
  // send would stay on the bench process's heap while the later parts measure.
  forgetSends(sys);
}

/** Drops the fake Graph's records of the sends so far (the bench has counted them). */
export function forgetSends(sys: System): void {
  sys.graph.sends.length = 0;
  sys.graph.requests.length = 0;
}

/** CPU used so far by the API and by both workers together (ms). */
async function cpuOf(sys: System): Promise<{ api: number; workers: number }> {
  const workers = await Promise.all(sys.workers.map((w) => cpuMsOf(w.pid)));
  return { api: await cpuMsOf(sys.api.pid), workers: workers.reduce((a, b) => a + b, 0) };
}

export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** Ack → Send API call (ms) of every send whose recipient's message was acknowledged, sorted. */
export function sendLatencies(sends: readonly FakeGraphSend[], acks: ReadonlyMap<string, number>): number[] {
  return sends
    .map((x) => x.at - (acks.get(x.recipientId) ?? Number.NaN))
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
}

/** Adds every send to its recipient's count (every bench message comes from a sender of its own). */
export function countSends(
  sends: readonly FakeGraphSend[],
  perRecipient = new Map<string, number>(),
): Map<string, number> {
  for (const send of sends) perRecipient.set(send.recipientId, (perRecipient.get(send.recipientId) ?? 0) + 1);
  return perRecipient;
}

/** Exactly once: sends beyond the first to a recipient, and acknowledged senders never answered. */
export function deliveryFaults(
  perRecipient: ReadonlyMap<string, number>,
  acked: Iterable<string>,
): { duplicates: number; missing: number } {
  let duplicates = 0;
  for (const count of perRecipient.values()) duplicates += count - 1;
  let missing = 0;
  for (const sender of acked) if (!perRecipient.has(sender)) missing += 1;
  return { duplicates, missing };
}

/**
 * Every command Redis has run, those called from inside Lua scripts included (INFO commandstats
 * counts both). The bench's own admin commands are a handful per run, noise against thousands.
 */
export async function redisCommandCount(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let calls = 0;
  for (const m of info.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)) calls += Number(m[1]);
  return calls;
}

async function runOnce(
  td: Teardown,
  redis: Redis,
  envFor: EnvFor,
  s: Settings,
  label: string,
  extra: Record<string, string>,
  expectAiText?: string,
): Promise<{ run: PipelineRun; sys: System }> {
  progress(`pipeline ${label}: starting api + 2 workers`);
  const sys = await startSystem(td, redis, envFor, label, extra, s);
  const payloads = new PayloadSource(sys.env.FACEBOOK_APP_SECRET as string);
  const acks = new Map<string, number>();
  const post = async (count: number) => {
    const result = await load({
      url: `${sys.url}/webhook`,
      payloads,
      connections: s.connections,
      amount: Math.ceil(count / MESSAGES_PER_BATCH),
      headers: FORWARDED_HTTPS,
      onAck: (senders, at) => {
        for (const sender of senders) acks.set(sender, at);
      },
    });
    if (result.non2xx > 0 || result.errors > 0)
      throw new Error(`pipeline ${label}: ${result.non2xx} non-2xx, ${result.errors} errors while posting`);
  };
  // Warm-up: fresh processes spend their first seconds compiling (TurboFan was ~12 % of a worker's
  // CPU in its first 12 s, ~2 % after 30 s); a deployed gateway runs for days. Its messages are
  // held to the exactly-once check like the measured ones, but not to the rates.
  const warmup = Math.ceil(s.warmup / MESSAGES_PER_BATCH) * MESSAGES_PER_BATCH;
  if (warmup > 0) {
    progress(`pipeline ${label}: warm-up, ${warmup} messages`);
    await post(warmup);
    await sys.graph.waitForSends(warmup, Math.max(120_000, warmup * 20));
    await sleep(1000);
  }
  const requests = Math.ceil(s.n / MESSAGES_PER_BATCH);
  const messages = requests * MESSAGES_PER_BATCH;
  progress(`pipeline ${label}: posting ${messages} messages in ${requests} batches`);
  const sentBefore = sys.graph.sends.length;
  const cpuBefore = await cpuOf(sys);
  const machineBefore = await machineCpu();
  const switchesBefore = await machineContextSwitches();
  const commandsBefore = await redisCommandCount(redis);
  const started = Date.now();
  const ticker = setInterval(
    () => progress(`pipeline ${label}: ${acks.size} acknowledged, ${sys.graph.sends.length} sent`),
    5000,
  );
  try {
    await post(messages);
    await sys.graph.waitForSends(warmup + messages, Math.max(120_000, messages * 20));
  } finally {
    clearInterval(ticker);
  }
  const measured = sys.graph.sends.slice(sentBefore);
  const lastSendAt = Math.max(...measured.map((x) => x.at));
  const cpuAfter = await cpuOf(sys);
  const machine = cpuBetween(machineBefore, await machineCpu());
  const switches = (await machineContextSwitches()) - switchesBefore;
  const commands = (await redisCommandCount(redis)) - commandsBefore;
  // Anything sent twice would arrive shortly after the last first send: give it a moment.
  await sleep(2000);
  // Exactly once over every message posted, the warm-up's included.
  const perRecipient = countSends(sys.graph.sends);
  const { duplicates, missing } = deliveryFaults(perRecipient, acks.keys());
  const latencies = sendLatencies(measured, acks);
  const run: PipelineRun = {
    messages,
    messagesPerS: messages / ((lastSendAt - started) / 1000),
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    sends: sys.graph.sends.length - warmup,
    distinctRecipients: perRecipient.size - warmup,
    warmup,
    duplicates,
    missing,
    aiReplies: expectAiText ? measured.filter((x) => x.text === expectAiText).length : 0,
    rssApi: await rssOf(sys.api.pid).catch(() => 0),
    rssWorkers: await Promise.all(sys.workers.map((w) => rssOf(w.pid).catch(() => 0))),
    cpuApiMs: (cpuAfter.api - cpuBefore.api) / messages,
    cpuWorkersMs: (cpuAfter.workers - cpuBefore.workers) / messages,
    cpuPostgresMs: (machine.postgres ?? 0) / messages,
    cpuRedisMs: (machine.redis ?? 0) / messages,
    cpuBenchMs: (machine.bench ?? 0) / messages,
    contextSwitches: switches / messages,
    redisCommands: commands / messages,
  };
  progress(
    `pipeline ${label}: ${run.messagesPerS.toFixed(0)} msg/s, ack→send p50 ${run.p50} ms p99 ${run.p99} ms, ${run.sends} sends, ${duplicates} duplicates, ${missing} missing`,
  );
  return { run, sys };
}

/** N no-op jobs (same options and a payload of the same size) through two processes of BullMQ Workers. */
export async function baseline(
  td: Teardown,
  redis: Redis,
  s: Pick<Settings, 'n' | 'warmup' | 'concurrency' | 'nice'>,
): Promise<PipelineResult['baseline']> {
  const prefix = freshPrefix(td, redis, 'noop');
  const concurrency = Number(s.concurrency ?? DEFAULT_WORKER_CONCURRENCY);
  const nice = s.nice ?? String(DEFAULT_WORKER_NICE);
  progress(`baseline: ${s.n} no-op jobs, 2 processes × concurrency ${concurrency}, nice ${nice}`);
  const env = {
    REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: prefix,
    BENCH_QUEUE: 'noop',
    WORKER_CONCURRENCY: String(concurrency),
    WORKER_NICE: nice,
  };
  // With the real worker's node flags (its package.json script) and niceness, so the two differ only in the work.
  const flags = scriptArgs('start:worker').filter((a) => a.startsWith('--'));
  const workers = [0, 1].map(() => startChild(td, [...flags, ...tsEntry('servers/noop-worker.ts')], env));
  await Promise.all(workers.map((w) => w.waitFor(/^ready$/)));
  const queue = new Queue('noop', { connection: redis.duplicate(), prefix: `{${prefix}}` });
  const data = { sealed: 'x'.repeat(700), eventId: '0'.repeat(32) };
  const drain = async (count: number) => {
    for (let i = 0; i < count; i += 500) {
      const size = Math.min(500, count - i);
      await queue.addBulk(Array.from({ length: size }, () => ({ name: 'text', data, opts: inboundJobOptions() })));
    }
    for (;;) {
      const counts = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children');
      if (Object.values(counts).every((c) => c === 0)) break;
      await sleep(20);
    }
  };
  // Warmed up like the real system (runOnce).
  if (s.warmup > 0) await drain(s.warmup);
  const switchesBefore = await machineContextSwitches();
  const workersBefore = await Promise.all(workers.map((w) => cpuMsOf(w.pid)));
  const machineBefore = await machineCpu();
  const started = Date.now();
  await drain(s.n);
  const jobsPerS = s.n / ((Date.now() - started) / 1000);
  const contextSwitches = ((await machineContextSwitches()) - switchesBefore) / s.n;
  const machine = cpuBetween(machineBefore, await machineCpu());
  const workersAfter = await Promise.all(workers.map((w) => cpuMsOf(w.pid)));
  const cpuWorkersMs = workersAfter.reduce((a, b, i) => a + b - (workersBefore[i] ?? 0), 0) / s.n;
  await queue.close();
  await queue.disconnect();
  await Promise.all(workers.map((w) => w.stop()));
  await deletePrefix(redis, prefix);
  progress(`baseline: ${jobsPerS.toFixed(0)} no-op jobs/s, ${contextSwitches.toFixed(1)} context switches per job`);
  return {
    jobsPerS,
    concurrency,
    contextSwitches,
    cpuWorkersMs,
    cpuRedisMs: (machine.redis ?? 0) / s.n,
    cpuBenchMs: (machine.bench ?? 0) / s.n,
  };
}

/**
 * The fake Gemini of the AI-on runs (answering in 50 ms) and the environment that turns AI on
 * against it with the limits lifted.
 */
export async function startBenchGemini(td: Teardown): Promise<{ env: Record<string, string>; text: string }> {
  const gemini = await startFakeGemini({ recordCalls: false });
  td.teardown(() => gemini.close());
  gemini.setDelay(50);
  const text = 'Thanks! Yes, we are open on Saturday from 10 to 18.';
  gemini.setReply(text);
  return {
    env: {
      AI_ENABLED: 'true',
      GEMINI_API_KEY: 'bench-gemini-key',
      GEMINI_BASE_URL: gemini.url,
      AI_MAX_CALLS_PER_MIN: '1000000000',
      AI_MAX_CALLS_PER_MIN_PER_PSID: '1000000000',
    },
    text,
  };
}

export async function runPipeline(td: Teardown, redis: Redis, envFor: EnvFor, s: Settings): Promise<PipelineResult> {
  const base = await baseline(td, redis, s);

  const off = await runOnce(td, redis, envFor, s, 'ai-off', { AI_ENABLED: 'false' });
  progress('storage: measuring Redis keys and PostgreSQL tables of the ai-off run');
  const storage = await measureStorage(redis, off.sys.prefix, off.sys.databaseUrl, off.run.warmup + off.run.messages);
  await stopSystem(off.sys);
  await deletePrefix(redis, off.sys.prefix);

  const ai = await startBenchGemini(td);
  const memoryRun = async (label: string, turns: string): Promise<PipelineRun> => {
    const r = await runOnce(td, redis, envFor, s, label, { ...ai.env, AI_HISTORY_TURNS: turns }, ai.text);
    await stopSystem(r.sys);
    await deletePrefix(redis, r.sys.prefix);
    return r.run;
  };
  const aiOn = await memoryRun('ai-on', '12');
  const aiOnNoMemory = await memoryRun('ai-on-no-memory', '0');
  const aiOnNoMemoryAgain = await memoryRun('ai-on-no-memory-again', '0');
  const aiOnAgain = await memoryRun('ai-on-again', '12');
  return { baseline: base, aiOff: off.run, aiOn, aiOnNoMemory, aiOnNoMemoryAgain, aiOnAgain, storage };
}
