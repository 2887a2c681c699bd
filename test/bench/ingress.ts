/**
 * Part 1: three routes side by side, same payloads, same connections, each server in its own
 * process — (a) bare Fastify, (b) the minimal floor of the real work, (c) Switchboard's /webhook.
 */
import { freePort } from '../helpers/processes.js';
import { type LoadResult, load, loadAtRate } from './load.js';
import type { PayloadSource } from './payload.js';
import { type Child, cpuMsOf, progress, sleep, startChild, type Teardown, tempFile, tsEntry } from './stack.js';

export interface IngressRow {
  route: 'a bare fastify' | 'b floor (hmac+add)' | 'c switchboard /webhook';
  max: LoadResult;
  half?: LoadResult;
  /** Server CPU time per request during the max-throughput run (µs): the noise-free view of cost. */
  cpuUsPerReq?: number;
}

export interface IngressSettings {
  connections: number;
  durationS: number;
  warmupS: number;
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
    const child = startChild(td, ['apps/api/dist/server.js'], childEnv, { logFile, ...prof });
    await waitHttp(`http://127.0.0.1:${port}/health`);
    return { child, url: `http://127.0.0.1:${port}/webhook` };
  }
  const child = startChild(td, tsEntry(which === 'a' ? 'servers/bare-server.ts' : 'servers/floor-server.ts'), childEnv, prof);
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

/**
 * Each route in turn, one server at a time (on a small machine an idle second server is noise):
 * maximum throughput, then latency at a fixed rate of half of (c)'s maximum. (c) goes first
 * because that rate depends on it; rows come back in a, b, c order.
 */
export async function runIngress(td: Teardown, env: Record<string, string>, payloads: PayloadSource, s: IngressSettings): Promise<IngressRow[]> {
  const rows: Partial<Record<'a' | 'b' | 'c', IngressRow>> = {};
  let rate = 0;
  for (const which of ['c', 'a', 'b'] as const) {
    const label = LABELS[which];
    progress(`ingress ${label}: starting server`);
    const server = await startServer(td, which, env, s);
    const base = { url: server.url, payloads, connections: s.connections, headers: which === 'c' ? FORWARDED_HTTPS : {} };
    progress(`ingress ${label}: warm-up ${s.warmupS}s`);
    await load({ ...base, durationS: s.warmupS });
    progress(`ingress ${label}: max throughput, ${s.durationS}s, ${s.connections} connections`);
    const cpuBefore = await cpuMsOf(server.child.pid);
    const max = await load({ ...base, durationS: s.durationS });
    const cpuUsPerReq = max.requests > 0 ? ((await cpuMsOf(server.child.pid)) - cpuBefore) * 1000 / max.requests : Number.NaN;
    check(which, max);
    progress(`ingress ${label}: ${max.rps.toFixed(0)} req/s, p50 ${max.p50} ms, p99 ${max.p99} ms`);
    if (which === 'c') rate = Math.max(1, Math.floor(max.rps / 2));
    await sleep(1000);
    progress(`ingress ${label}: fixed rate ${rate} req/s, ${s.durationS}s`);
    const half = await loadAtRate({ ...base, durationS: s.durationS, overallRate: rate });
    check(which, half);
    progress(`ingress ${label}: at ${rate} req/s p50 ${half.p50} ms, p99 ${half.p99} ms`);
    rows[which] = { route: label, max, half, cpuUsPerReq };
    await server.child.stop();
  }
  return [rows.a, rows.b, rows.c] as IngressRow[];
}

function check(which: string, r: LoadResult): void {
  if (r.non2xx > 0 || r.errors > 0) {
    throw new Error(`route ${which}: ${r.non2xx} non-2xx answers, ${r.errors} errors — the numbers would not be of real work`);
  }
}
