/**
 * What one bench run owns — a migrated PostgreSQL database, a Redis prefix, child processes — and
 * its teardown, run in reverse order at the end or on Ctrl-C, so a run leaves nothing behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { scriptArgs as npmScriptArgs } from '../apps/tools/src/npm-scripts.js';
import { testDatabase } from '../test/helpers/db.js';
import { ROOT } from '../test/helpers/processes.js';
import { deletePrefix, REDIS_URL, uniquePrefix } from '../test/helpers/redis.js';

export class Teardown {
  private readonly fns: Array<() => unknown> = [];

  teardown(fn: () => unknown): void {
    this.fns.push(fn);
  }

  async run(): Promise<void> {
    while (this.fns.length > 0) {
      const fn = this.fns.pop() as () => unknown;
      try {
        await fn();
      } catch (err) {
        progress(`teardown step failed: ${(err as Error).message}`);
      }
    }
  }
}

/** Progress goes to stderr so stdout holds only the results. */
export function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

export async function freshDatabase(td: Teardown, label: string): Promise<string> {
  return testDatabase(td, `bench_${label}`);
}

/** A private Redis prefix (application keys and BullMQ's `{prefix}` keys), deleted at teardown. */
export function freshPrefix(td: Teardown, redis: Redis, label: string): string {
  const prefix = uniquePrefix(`bench-${label}`);
  // A cluster is the part's own and goes at its teardown, keys and all.
  if (!(redis as { isCluster?: boolean }).isCluster) td.teardown(() => deletePrefix(redis, prefix));
  return prefix;
}

export function adminRedis(td: Teardown): Redis {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
  td.teardown(() => redis.disconnect());
  return redis;
}

export interface Child {
  child: ChildProcess;
  pid: number;
  /** Resolves on the first stdout line matching `pattern` (servers print one when ready). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts a child process. `logFile` receives its stdout (the API's pino lines, at `info`):
 * a real file, so logging costs what it costs in production, deleted at teardown.
 */
export function startChild(
  td: Teardown,
  args: string[],
  env: Record<string, string>,
  opts: { logFile?: string; cpuProfDir?: string } = {},
): Child {
  const nodeArgs = opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`, ...args] : args;
  const out = opts.logFile ? openSync(opts.logFile, 'a') : 'pipe';
  const child = spawn(process.execPath, nodeArgs, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', out, 'pipe'],
  });
  if (typeof out === 'number') closeSync(out);
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const onData = (d: string) => {
    lines.push(...d.split('\n').filter(Boolean));
    if (lines.length > 200) lines.splice(0, lines.length - 200);
    for (const w of waiters) w();
  };
  child.stdout?.setEncoding('utf8').on('data', onData);
  child.stderr?.setEncoding('utf8').on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
      await exited;
      clearTimeout(timer);
    }
  };
  td.teardown(stop);
  return {
    child,
    pid: child.pid as number,
    stop,
    waitFor: (pattern, timeoutMs = 20_000) =>
      new Promise<string>((resolve, reject) => {
        const check = () => {
          const hit = lines.find((l) => pattern.test(l));
          if (hit) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(hit);
          } else if (child.exitCode !== null) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`${args.join(' ')} exited (${child.exitCode}): ${lines.slice(-5).join(' | ')}`));
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${args.join(' ')} not ready in ${timeoutMs} ms: ${lines.slice(-5).join(' | ')}`));
        }, timeoutMs);
        waiters.add(check);
        child.once('exit', check);
        check();
      }),
  };
}

/**
 * The bench runs the API and the workers exactly as `npm run start:api` / `start:worker` (and
 * compose, and Kubernetes) do, flags included.
 */
export function scriptArgs(name: 'start:api' | 'start:worker'): string[] {
  return npmScriptArgs(ROOT, name);
}

/** A bench-owned temp file, removed at teardown. */
export function tempFile(td: Teardown, name: string): string {
  const path = join(tmpdir(), `switchboard-bench-${process.pid}-${name}`);
  td.teardown(() => rmSync(path, { force: true }));
  return path;
}

/** Child entry for a bench server written in TypeScript (run through tsx, like the bench itself). */
export function tsEntry(file: string): string[] {
  return ['--import=tsx', '--conditions=@switchboard/source', join(ROOT, 'bench', file)];
}

/** Resident set size of a process in bytes (Linux /proc; the bench runs on the CI/dev Linux box). */
export async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : 0;
}

/** CPU time (user + system) a process has used so far, in ms (Linux /proc, 100 Hz clock ticks). */
export async function cpuMsOf(pid: number | string): Promise<number> {
  return (await procStat(pid)).cpuMs;
}

/** CPU ms (user + system) and start time of a process, from /proc/<pid>/stat. */
export async function procStat(pid: number | string): Promise<{ cpuMs: number; startTime: string }> {
  const { readFile } = await import('node:fs/promises');
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { cpuMs: (Number(fields[11]) + Number(fields[12])) * 10, startTime: fields[19] ?? '' };
}

/**
 * CPU time (ms) of every process on the machine, by group: PostgreSQL's and Redis's servers (found
 * by their command lines, so only a local PostgreSQL and Redis are seen), this bench process (the
 * load generator and the fake Graph and Gemini servers), and the rest. Keyed by pid and start time,
 * so a process born between two snapshots counts from zero and a reused pid is not confused.
 */
export async function machineCpu(): Promise<Map<string, { group: string; ms: number }>> {
  const { readdir, readFile } = await import('node:fs/promises');
  const out = new Map<string, { group: string; ms: number }>();
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const { cpuMs: ms, startTime } = await procStat(pid);
      const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      const group = Number(pid) === process.pid ? 'bench' : (serverGroupOf(cmd) ?? 'other');
      out.set(`${pid}:${startTime}`, { group, ms });
    } catch {
      // The process ended meanwhile.
    }
  }
  return out;
}

/** A local PostgreSQL or Redis server process, by its command line (null: neither). */
export function serverGroupOf(cmd: string): 'postgres' | 'redis' | null {
  return /postgres/.test(cmd) ? 'postgres' : /redis-server/.test(cmd) ? 'redis' : null;
}

/**
 * Context switches on the whole machine since boot (/proc/stat `ctxt`). Each one is a process
 * woken or preempted — on this 2-vCPU VM what a cross-process exchange costs when it is not
 * batched, and the figure that separates the pipeline from the no-op baseline
 * (docs/performance.md, "What bounds throughput").
 */
export async function machineContextSwitches(): Promise<number> {
  return Number((await procStatLine('ctxt'))?.slice(5) ?? Number.NaN);
}

/** Busy and total CPU time of the whole machine since boot (/proc/stat `cpu`, clock ticks). */
export async function machineTicks(): Promise<{ busy: number; total: number }> {
  // user nice system idle iowait irq softirq steal; guest time is already counted in user and nice.
  const ticks = ((await procStatLine('cpu')) ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  const total = ticks.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** The line of /proc/stat that starts with `name` and a space. */
async function procStatLine(name: string): Promise<string | undefined> {
  const { readFile } = await import('node:fs/promises');
  return (await readFile('/proc/stat', 'utf8')).split('\n').find((l) => l.startsWith(`${name} `));
}

/** CPU ms per group used between two `machineCpu` snapshots. */
export function cpuBetween(
  before: Map<string, { group: string; ms: number }>,
  after: Map<string, { group: string; ms: number }>,
): Record<string, number> {
  const used: Record<string, number> = {};
  for (const [key, { group, ms }] of after) used[group] = (used[group] ?? 0) + ms - (before.get(key)?.ms ?? 0);
  return used;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
