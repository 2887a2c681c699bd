/**
 * Part 1: three routes side by side, same payloads, same connections, each server in its own
 * process — (a) bare Fastify, (b) the minimal floor of the real work, (c) Switchboard's /webhook —
 * measured in rotating rounds, medians reported.
 */
import { freePort } from '../helpers/processes.js';
import { type LoadResult, load, loadAtRate } from './load.js';
import type { PayloadSource } from './payload.js';
import { type Child, cpuBetween, cpuMsOf, machineCpu, progress, scriptArgs, sleep, startChild, type Teardown, tempFile, tsEntry } from './stack.js';

export interface IngressRow {
  route: 'a bare fastify' | 'b floor (hmac+add)' | 'c switchboard /webhook';
  /** The median of the rounds' maximum-throughput runs. */
  max: LoadResult;
  /** Lowest and highest req/s of the rounds. */
  rpsRange?: [number, number];
  half?: LoadResult;
  /** Server CPU time per request during the max-throughput runs (µs, median): the steadier view of cost. */
  cpuUsPerReq?: number;
  /** Redis's and the load generator's (this process's) CPU per request in the same runs (µs, median). */
  redisUsPerReq?: number;
  benchUsPerReq?: number;
}

export interface IngressSettings {
  connections: number;
  durationS: number;
  warmupS: number;
  /** Maximum-throughput rounds per route (the median counts). */
  rounds: number;
  cpuProfDir?: string;
}

/** The real API sits behind a TLS proxy in production: the proxy's header, from loopback, passes the HTTPS check. */
export const FORWARDED_HTTPS = { 'x-forwarded-proto': 'https' };

async function startServer(td: Teardown, which: 'a' | 'b' | 'c', env: Record<string, string>, s: IngressSettings): Promise<{ child: Child; url: string }> {
  const port = await freePort();
  const childEnv = { ...env, PORT: String(port), HOST: '127.0.0.1' };
  const prof = s.cpuProfDir ? { cpuProfDir: s.cpuProfDir } : {};
  if (which === 'c') {
    const logFile = tempFile(td, `api-ingress-${port}.log`);
    const child = startChild(td, scriptArgs('start:api'), childEnv, { logFile, ...prof });
    await waitHttp(`http://127.0.0.1:${port}/health`);
    return { child, url: `http://127.0.0.1:${port}/webhook` };
  }
  // With the real API's node flags (its package.json script), so the three differ only in the work.
  const flags = scriptArgs('start:api').filter((a) => a.startsWith('--'));
  const child = startChild(td, [...flags, ...tsEntry(which === 'a' ? 'servers/bare-server.ts' : 'servers/floor-server.ts')], childEnv, prof);
  await child.waitFor(/^listening /);
  return { child, url: `http://127.0.0.1:${port}/webhook` };
}

async function waitHttp(url: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status < 500) return;
    } catch {}
    await sleep(100);
  }
  throw new Error(`${url} did not come up`);
}

const LABELS = { a: 'a bare fastify', b: 'b floor (hmac+add)', c: 'c switchboard /webhook' } as const;
type Which = keyof typeof LABELS;

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;

/**
 * All three servers run side by side (an idle one costs next to nothing), each warmed up for
 * `warmupS` so the JIT and the heap have settled. Then `rounds` rounds of maximum throughput, one
 * route at a time, in an order that rotates every round, so that drift on a shared machine (a
 * neighbour, a noisy minute) falls on every route alike; each route reports its median round and
 * the range. Last, latency at a fixed rate of half of (c)'s median maximum.
 */
export async function runIngress(td: Teardown, env: Record<string, string>, payloads: PayloadSource, s: IngressSettings): Promise<IngressRow[]> {
  const order: Which[] = ['c', 'a', 'b'];
  const servers = {} as Record<Which, { child: Child; url: string }>;
  for (const which of order) {
    progress(`ingress ${LABELS[which]}: starting server`);
    servers[which] = await startServer(td, which, env, s);
  }
  const base = (which: Which) => ({ url: servers[which].url, payloads, connections: s.connections, headers: which === 'c' ? FORWARDED_HTTPS : {} });
  for (const which of order) {
    progress(`ingress ${LABELS[which]}: warm-up ${s.warmupS}s`);
    await load({ ...base(which), durationS: s.warmupS });
  }
  type Run = { max: LoadResult; cpuUsPerReq: number; redisUsPerReq: number; benchUsPerReq: number };
  const runs: Record<Which, Run[]> = { a: [], b: [], c: [] };
  for (let round = 0; round < s.rounds; round++) {
    for (let k = 0; k < order.length; k++) {
      const which = order[(k + round) % order.length] as Which;
      const label = LABELS[which];
      await sleep(1000);
      progress(`ingress ${label}: round ${round + 1}/${s.rounds}, max throughput, ${s.durationS}s, ${s.connections} connections`);
      const { pid } = servers[which].child;
      const [serverBefore, before] = [await cpuMsOf(pid), await machineCpu()];
      const max = await load({ ...base(which), durationS: s.durationS });
      const [serverAfter, used] = [await cpuMsOf(pid), cpuBetween(before, await machineCpu())];
      const perReq = (ms: number | undefined) => (max.requests > 0 ? ((ms ?? 0) * 1000) / max.requests : Number.NaN);
      const run = { max, cpuUsPerReq: perReq(serverAfter - serverBefore), redisUsPerReq: perReq(used.redis), benchUsPerReq: perReq(used.bench) };
      check(which, max);
      progress(`ingress ${label}: ${max.rps.toFixed(0)} req/s, p50 ${max.p50} ms, p99 ${max.p99} ms, CPU µs/req server ${run.cpuUsPerReq.toFixed(0)} redis ${run.redisUsPerReq.toFixed(0)} bench ${run.benchUsPerReq.toFixed(0)}`);
      runs[which].push(run);
    }
  }
  const rows = {} as Record<Which, IngressRow>;
  for (const which of order) {
    const mid = median(runs[which].map((r) => r.max.rps));
    const chosen = runs[which].find((r) => r.max.rps === mid) as Run;
    const all = runs[which].map((r) => r.max.rps);
    const med = (k: 'cpuUsPerReq' | 'redisUsPerReq' | 'benchUsPerReq') => median(runs[which].map((r) => r[k]));
    rows[which] = { route: LABELS[which], max: chosen.max, rpsRange: [Math.min(...all), Math.max(...all)], cpuUsPerReq: med('cpuUsPerReq'), redisUsPerReq: med('redisUsPerReq'), benchUsPerReq: med('benchUsPerReq') };
  }
  const rate = Math.max(1, Math.floor(rows.c.max.rps / 2));
  for (const which of order) {
    const label = LABELS[which];
    await sleep(1000);
    progress(`ingress ${label}: fixed rate ${rate} req/s, ${s.durationS}s`);
    const half = await loadAtRate({ ...base(which), durationS: s.durationS, overallRate: rate });
    check(which, half);
    progress(`ingress ${label}: at ${rate} req/s p50 ${half.p50} ms, p99 ${half.p99} ms`);
    rows[which].half = half;
  }
  for (const which of order) await servers[which].child.stop();
  return [rows.a, rows.b, rows.c];
}

function check(which: string, r: LoadResult): void {
  if (r.non2xx > 0 || r.errors > 0) {
    throw new Error(`route ${which}: ${r.non2xx} non-2xx answers, ${r.errors} errors — the numbers would not be of real work`);
  }
}
