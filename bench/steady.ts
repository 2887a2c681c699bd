/**
 * Optional part (`BENCH_ONLY=steady`): where one message's cost goes, for A/B comparisons of a few
 * per cent. The real API and two workers (AI off, or AI on against the fake Gemini with
 * BENCH_STEADY_AI=1) take BENCH_STEADY_N messages at full load after BENCH_STEADY_WARMUP — or,
 * with BENCH_STEADY_RATE, at that fixed rate, below capacity, where nothing queues and every job
 * arrives alone (what a message costs without a backlog to batch from); per process group it
 * reports CPU time, voluntary and involuntary context switches and read/write system calls per
 * message, with PostgreSQL's own counters (commits, rows, WAL records and
 * flushes per message).
 *
 * msg/s on this shared 2-core machine swings by a third within the hour; the bench process's own
 * CPU per message does not change with Switchboard's code (it sends one webhook and answers one
 * Send API call per message), so it measures how fast the machine is that minute. Switchboard's
 * CPU per message divided by it ("normalised") is the figure to compare between two builds run
 * alternately (docs/performance.md, "Reading the numbers").
 */
import { readdir, readFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import postgres from 'postgres';
import { deletePrefix } from '../test/helpers/redis.js';
import { FORWARDED_HTTPS } from './ingress.js';
import { type LoadResult, load, loadAtRate } from './load.js';
import { MESSAGES_PER_BATCH, PayloadSource } from './payload.js';
import { type EnvFor, startBenchGemini, startSystem, stopSystem } from './pipeline.js';
import { procStat, progress, serverGroupOf, sleep, type Teardown } from './stack.js';

export const STEADY_GROUPS = ['api', 'workers', 'postgres', 'redis', 'bench'] as const;
type Group = (typeof STEADY_GROUPS)[number];

export interface ProcessCounters {
  cpuMs: number;
  voluntary: number;
  involuntary: number;
  /** null where /proc/<pid>/io cannot be read (another user's process without the privilege). */
  reads: number | null;
  writes: number | null;
}

export interface SteadyResult {
  ai: boolean;
  messages: number;
  warmup: number;
  messagesPerS: number;
  /** The fixed rate the messages were posted at (req/s), or null: as fast as the API took them. */
  rate: number | null;
  /** Per message, by group. */
  perMessage: Record<Group, ProcessCounters>;
  /** PostgreSQL's counters per message (the run's database; WAL is the server's). */
  postgres: { commits: number; inserted: number; updated: number; walRecords: number; walFlushes: number };
  /** Switchboard's CPU per message (API, workers, PostgreSQL, Redis) ÷ the bench process's. */
  normalised: number;
}

/** Every process's counters, keyed by pid and start time (a reused pid is not confused). */
async function snapshot(
  groupOf: (pid: number, cmd: string) => Group | null,
): Promise<Map<string, { group: Group; c: ProcessCounters }>> {
  const out = new Map<string, { group: Group; c: ProcessCounters }>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      const group = groupOf(Number(entry), cmd);
      if (!group) continue;
      const { cpuMs, startTime } = await procStat(entry);
      const c: ProcessCounters = { cpuMs, voluntary: 0, involuntary: 0, reads: null, writes: null };
      // A node process has several threads: their switches are counted per thread.
      for (const task of await readdir(`/proc/${entry}/task`).catch(() => [] as string[])) {
        const status = await readFile(`/proc/${entry}/task/${task}/status`, 'utf8').catch(() => '');
        c.voluntary += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
        c.involuntary += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      }
      const io = await readFile(`/proc/${entry}/io`, 'utf8').catch(() => null);
      if (io) {
        c.reads = Number(/^syscr:\s+(\d+)/m.exec(io)?.[1] ?? 0);
        c.writes = Number(/^syscw:\s+(\d+)/m.exec(io)?.[1] ?? 0);
      }
      out.set(`${entry}:${startTime}`, { group, c });
    } catch {
      // The process ended meanwhile.
    }
  }
  return out;
}

/** Per group, what changed between two snapshots, divided by `n`. */
export function perMessage(
  before: Map<string, { group: Group; c: ProcessCounters }>,
  after: Map<string, { group: Group; c: ProcessCounters }>,
  n: number,
): Record<Group, ProcessCounters> {
  const sums = Object.fromEntries(
    STEADY_GROUPS.map((g) => [g, { cpuMs: 0, voluntary: 0, involuntary: 0, reads: 0, writes: 0 } as ProcessCounters]),
  ) as Record<Group, ProcessCounters>;
  for (const [key, { group, c }] of after) {
    const b = before.get(key)?.c;
    const sum = sums[group];
    sum.cpuMs += c.cpuMs - (b?.cpuMs ?? 0);
    sum.voluntary += c.voluntary - (b?.voluntary ?? 0);
    sum.involuntary += c.involuntary - (b?.involuntary ?? 0);
    sum.reads = sum.reads === null || c.reads === null ? null : sum.reads + c.reads - (b?.reads ?? 0);
    sum.writes = sum.writes === null || c.writes === null ? null : sum.writes + c.writes - (b?.writes ?? 0);
  }
  for (const sum of Object.values(sums)) {
    sum.cpuMs /= n;
    sum.voluntary /= n;
    sum.involuntary /= n;
    if (sum.reads !== null) sum.reads /= n;
    if (sum.writes !== null) sum.writes /= n;
  }
  return sums;
}

export async function runSteady(
  td: Teardown,
  redis: Redis,
  envFor: EnvFor,
  s: {
    n: number;
    warmup: number;
    ai: boolean;
    rate?: number | undefined;
    connections: number;
    cpuProfDir?: string | undefined;
  },
): Promise<SteadyResult> {
  const extra = s.ai ? (await startBenchGemini(td)).env : {};
  progress(`steady: starting api + 2 workers (AI ${s.ai ? 'on' : 'off'})`);
  const sys = await startSystem(td, redis, envFor, 'steady', extra, { cpuProfDir: s.cpuProfDir });
  const sql = postgres(sys.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const payloads = new PayloadSource(sys.env.FACEBOOK_APP_SECRET as string);
    const accepted = (r: LoadResult) => {
      if (r.non2xx > 0 || r.errors > 0)
        throw new Error(`steady: ${r.non2xx} non-2xx, ${r.errors} errors while posting`);
      return r.requests * MESSAGES_PER_BATCH;
    };
    const post = async (count: number) =>
      accepted(
        await load({
          url: `${sys.url}/webhook`,
          payloads,
          connections: s.connections,
          amount: Math.ceil(count / MESSAGES_PER_BATCH),
          headers: FORWARDED_HTTPS,
        }),
      );
    /** At the fixed rate for as long as `count` messages take; returns how many were posted. */
    const postAtRate = async (rate: number, count: number) =>
      accepted(
        await loadAtRate({
          url: `${sys.url}/webhook`,
          payloads,
          connections: 1,
          overallRate: rate,
          durationS: Math.max(1, Math.round(count / MESSAGES_PER_BATCH / rate)),
          headers: FORWARDED_HTTPS,
        }),
      );
    const warmup = Math.ceil(s.warmup / MESSAGES_PER_BATCH) * MESSAGES_PER_BATCH;
    let messages = Math.ceil(s.n / MESSAGES_PER_BATCH) * MESSAGES_PER_BATCH;
    if (warmup > 0) {
      progress(`steady: warm-up, ${warmup} messages`);
      await post(warmup);
      await sys.graph.waitForSends(warmup, Math.max(120_000, warmup * 20));
      await sleep(1000);
    }
    const pids = new Map<number, Group>([
      [sys.api.pid, 'api'],
      ...sys.workers.map((w) => [w.pid, 'workers'] as [number, Group]),
      [process.pid, 'bench'],
    ]);
    const groupOf = (pid: number, cmd: string): Group | null => pids.get(pid) ?? serverGroupOf(cmd);
    const pgCounters = async () =>
      (
        await sql`select xact_commit::float8 as commits, tup_inserted::float8 as inserted, tup_updated::float8 as updated,
                  (select wal_records::float8 from pg_stat_wal) as wal_records, (select wal_sync::float8 from pg_stat_wal) as wal_flushes
                 from pg_stat_database where datname = current_database()`
      )[0] as Record<string, number>;
    progress(`steady: ${messages} messages ${s.rate ? `at ${s.rate}/s` : 'at full load'}`);
    const [before, pgBefore] = [await snapshot(groupOf), await pgCounters()];
    const started = Date.now();
    if (s.rate) messages = await postAtRate(s.rate, messages);
    else await post(messages);
    await sys.graph.waitForSends(warmup + messages, Math.max(120_000, messages * 20));
    const lastSendAt = Math.max(...sys.graph.sends.slice(warmup).map((x) => x.at));
    const [after, pgAfter] = [await snapshot(groupOf), await pgCounters()];
    const per = perMessage(before, after, messages);
    const pg = (k: string) => ((pgAfter[k] ?? 0) - (pgBefore[k] ?? 0)) / messages;
    const own = per.api.cpuMs + per.workers.cpuMs + per.postgres.cpuMs + per.redis.cpuMs;
    const result: SteadyResult = {
      ai: s.ai,
      messages,
      warmup,
      messagesPerS: messages / ((lastSendAt - started) / 1000),
      rate: s.rate ?? null,
      perMessage: per,
      postgres: {
        commits: pg('commits'),
        inserted: pg('inserted'),
        updated: pg('updated'),
        walRecords: pg('wal_records'),
        walFlushes: pg('wal_flushes'),
      },
      normalised: own / per.bench.cpuMs,
    };
    progress(`steady: ${result.messagesPerS.toFixed(0)} msg/s, normalised ${result.normalised.toFixed(2)}`);
    return result;
  } finally {
    await sql.end({ timeout: 5 });
    await stopSystem(sys);
    await deletePrefix(redis, sys.prefix);
  }
}
