/**
 * Part 1: three routes side by side, same payloads, same connections, each server in its own
 * process — (a) bare Fastify, (b) the minimal floor of the real work, (c) Switchboard's /webhook —
 * measured in rotating rounds, medians reported. The optional ladder measures the same way the
 * steps from (b) to (c).
 */
import { createHmac } from 'node:crypto';
import { metaJson } from '@switchboard/meta';
import { freePort } from '../test/helpers/processes.js';
import { type LoadResult, load, loadAtRate } from './load.js';
import type { PayloadSource } from './payload.js';
import {
  type Child,
  cpuBetween,
  cpuMsOf,
  machineCpu,
  progress,
  scriptArgs,
  sleep,
  startChild,
  type Teardown,
  tempFile,
  tsEntry,
} from './stack.js';

export interface IngressRow {
  route: (typeof LABELS)[Which];
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
  /** (c) only: acknowledging one delivery of `items` events against one of a single event, same server, same minute (medians, ms). */
  largeDelivery?: { items: number; ms: number; baselineMs: number };
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

async function startServer(
  td: Teardown,
  which: Which,
  env: Record<string, string>,
  s: IngressSettings,
): Promise<{ child: Child; url: string }> {
  const port = await freePort();
  const childEnv = { ...env, PORT: String(port), HOST: '127.0.0.1' };
  const prof = s.cpuProfDir ? { cpuProfDir: s.cpuProfDir } : {};
  const url = `http://127.0.0.1:${port}/webhook`;
  if (which === 'c') {
    const logFile = tempFile(td, `api-ingress-${port}.log`);
    const child = startChild(td, scriptArgs('start:api'), childEnv, { logFile, ...prof });
    await waitHttp(`http://127.0.0.1:${port}/health`);
    return { child, url };
  }
  // With the real API's node flags (its package.json script), so the servers differ only in the work.
  const flags = scriptArgs('start:api').filter((a) => a.startsWith('--'));
  if (which === 'i' || which === 'l') {
    // The ladder's rungs log (or not) to a real file like the API; a GET of the POST-only route answers 404 once it listens.
    const logFile = tempFile(td, `ladder-${which}-${port}.log`);
    const child = startChild(
      td,
      [...flags, ...tsEntry('servers/ladder-server.ts')],
      { ...childEnv, LADDER_RUNG: which === 'i' ? 'ingest' : 'log' },
      { logFile, ...prof },
    );
    await waitHttp(url);
    return { child, url };
  }
  const child = startChild(
    td,
    [...flags, ...tsEntry(which === 'a' ? 'servers/bare-server.ts' : 'servers/floor-server.ts')],
    childEnv,
    prof,
  );
  await child.waitFor(/^listening /);
  return { child, url };
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

const LABELS = {
  a: 'a bare fastify',
  b: 'b floor (hmac+add)',
  i: 'b + the real ingest',
  l: 'b + ingest + logging',
  c: 'c switchboard /webhook',
} as const;
type Which = keyof typeof LABELS;

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;

type Servers = Partial<Record<Which, { child: Child; url: string }>>;

/**
 * The given servers run side by side (an idle one costs next to nothing), each warmed up for
 * `warmupS` so the JIT and the heap have settled. Then `rounds` rounds of maximum throughput, one
 * route at a time, in an order that rotates every round, so that drift on a shared machine (a
 * neighbour, a noisy minute) falls on every route alike; each route reports its median round and
 * the range.
 */
async function measureMax(
  td: Teardown,
  env: Record<string, string>,
  payloads: PayloadSource,
  s: IngressSettings,
  order: Which[],
): Promise<{
  servers: Servers;
  rows: Partial<Record<Which, IngressRow>>;
  base: (which: Which) => Parameters<typeof load>[0] & { durationS: number };
  answered: Record<Which, number>;
}> {
  const servers: Servers = {};
  for (const which of order) {
    progress(`ingress ${LABELS[which]}: starting server`);
    servers[which] = await startServer(td, which, env, s);
  }
  const base = (which: Which) => ({
    url: (servers[which] as { url: string }).url,
    payloads,
    connections: s.connections,
    durationS: s.durationS,
    headers: which === 'c' ? FORWARDED_HTTPS : {},
  });
  // Requests answered (all 200: `check`) per route, warm-ups included.
  const answered = Object.fromEntries(order.map((w) => [w, 0])) as Record<Which, number>;
  for (const which of order) {
    progress(`ingress ${LABELS[which]}: warm-up ${s.warmupS}s`);
    const warm = await load({ ...base(which), durationS: s.warmupS });
    check(which, warm);
    answered[which] += warm.requests;
  }
  type Run = { max: LoadResult; cpuUsPerReq: number; redisUsPerReq: number; benchUsPerReq: number };
  const runs = Object.fromEntries(order.map((w) => [w, [] as Run[]])) as Record<Which, Run[]>;
  for (let round = 0; round < s.rounds; round++) {
    for (let k = 0; k < order.length; k++) {
      const which = order[(k + round) % order.length] as Which;
      const label = LABELS[which];
      await sleep(1000);
      progress(
        `ingress ${label}: round ${round + 1}/${s.rounds}, max throughput, ${s.durationS}s, ${s.connections} connections`,
      );
      const { pid } = (servers[which] as { child: Child }).child;
      const [serverBefore, before] = [await cpuMsOf(pid), await machineCpu()];
      const max = await load(base(which));
      const [serverAfter, used] = [await cpuMsOf(pid), cpuBetween(before, await machineCpu())];
      const perReq = (ms: number | undefined) => (max.requests > 0 ? ((ms ?? 0) * 1000) / max.requests : Number.NaN);
      const run = {
        max,
        cpuUsPerReq: perReq(serverAfter - serverBefore),
        redisUsPerReq: perReq(used.redis),
        benchUsPerReq: perReq(used.bench),
      };
      check(which, max);
      answered[which] += max.requests;
      progress(
        `ingress ${label}: ${max.rps.toFixed(0)} req/s, p50 ${max.p50} ms, p99 ${max.p99} ms, CPU µs/req server ${run.cpuUsPerReq.toFixed(0)} redis ${run.redisUsPerReq.toFixed(0)} bench ${run.benchUsPerReq.toFixed(0)}`,
      );
      runs[which].push(run);
    }
  }
  const rows: Partial<Record<Which, IngressRow>> = {};
  for (const which of order) {
    const mid = median(runs[which].map((r) => r.max.rps));
    const chosen = runs[which].find((r) => r.max.rps === mid) as Run;
    const all = runs[which].map((r) => r.max.rps);
    const med = (k: 'cpuUsPerReq' | 'redisUsPerReq' | 'benchUsPerReq') => median(runs[which].map((r) => r[k]));
    rows[which] = {
      route: LABELS[which],
      max: chosen.max,
      rpsRange: [Math.min(...all), Math.max(...all)],
      cpuUsPerReq: med('cpuUsPerReq'),
      redisUsPerReq: med('redisUsPerReq'),
      benchUsPerReq: med('benchUsPerReq'),
    };
  }
  return { servers, rows, base, answered };
}

/** Part 1: (a), (b) and (c) at maximum throughput, then latency at a fixed rate of half of (c)'s median maximum. */
export async function runIngress(
  td: Teardown,
  env: Record<string, string>,
  payloads: PayloadSource,
  s: IngressSettings,
): Promise<IngressRow[]> {
  const order: Which[] = ['c', 'a', 'b'];
  const { servers, rows, base } = await measureMax(td, env, payloads, s, order);
  const [a, b, c] = [rows.a, rows.b, rows.c] as [IngressRow, IngressRow, IngressRow];
  const rate = Math.max(1, Math.floor(c.max.rps / 2));
  for (const which of order) {
    const label = LABELS[which];
    await sleep(1000);
    progress(`ingress ${label}: fixed rate ${rate} req/s, ${s.durationS}s`);
    const half = await loadAtRate({ ...base(which), overallRate: rate });
    check(which, half);
    progress(`ingress ${label}: at ${rate} req/s p50 ${half.p50} ms, p99 ${half.p99} ms`);
    (rows[which] as IngressRow).half = half;
  }
  c.largeDelivery = await measureLargeDelivery((servers.c as { url: string }).url, env.FACEBOOK_APP_SECRET as string);
  for (const which of order) await servers[which]?.child.stop();
  return [a, b, c];
}

/**
 * One request at a time, alternating: a delivery of 1,000 events (Meta's largest batch) and one of a
 * single event, fresh ids each, `rounds` of each. The ratio of their median acknowledgement times
 * says what a full batch costs the ingress in units of the ordinary delivery, whatever the machine.
 */
async function measureLargeDelivery(
  url: string,
  appSecret: string,
  items = 1000,
  rounds = 15,
): Promise<NonNullable<IngressRow['largeDelivery']>> {
  const run = Date.now().toString(36);
  let n = 0;
  const body = (count: number) => {
    const ts = Date.now();
    const entry = Array.from({ length: count }, () => {
      n += 1;
      const messaging = [
        {
          sender: { id: String(300000000000000 + n) },
          recipient: { id: '100000000000042' },
          timestamp: ts,
          message: { mid: `m_large-${run}-${n}`, text: `Hallo, habt ihr am Samstag geöffnet? (${n})` },
        },
      ];
      return { id: '100000000000042', time: ts, messaging };
    });
    return metaJson({ object: 'page', entry });
  };
  const ack = async (payload: string) => {
    const headers = {
      ...FORWARDED_HTTPS,
      'content-type': 'application/json',
      'x-hub-signature-256': `sha256=${createHmac('sha256', appSecret).update(payload).digest('hex')}`,
    };
    const started = performance.now();
    const res = await fetch(url, { method: 'POST', headers, body: payload });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`large delivery: status ${res.status}`);
    return performance.now() - started;
  };
  progress(`ingress c switchboard /webhook: ${rounds} deliveries of ${items} events and of 1, alternating`);
  const large: number[] = [];
  const single: number[] = [];
  for (let i = 0; i < rounds; i++) {
    large.push(await ack(body(items)));
    single.push(await ack(body(1)));
  }
  const result = { items, ms: median(large), baselineMs: median(single) };
  progress(
    `ingress c switchboard /webhook: ${items} events acknowledged in ${result.ms.toFixed(0)} ms, 1 in ${result.baselineMs.toFixed(1)} ms (medians)`,
  );
  return result;
}

/**
 * The ladder (optional, `BENCH_ONLY=ladder`): from the floor (b) to (c) a piece of the real work
 * at a time — the real ingest, then logging (servers/ladder-server.ts) — measured like part 1, so
 * each step's cost on the machine's bill per request shows. The rungs above the floor enqueue into
 * the real inbound queue, where no worker takes jobs: every webhook they answered must be there
 * (`queuedJobs`), or the rung did not do the work it is named for.
 */
export async function runLadder(
  td: Teardown,
  env: Record<string, string>,
  payloads: PayloadSource,
  s: IngressSettings,
  queuedJobs: () => Promise<number>,
): Promise<IngressRow[]> {
  const order: Which[] = ['b', 'i', 'l', 'c'];
  const { servers, rows, answered } = await measureMax(td, env, payloads, s, order);
  for (const which of order) await servers[which]?.child.stop();
  const expected = answered.i + answered.l + answered.c;
  const queued = await queuedJobs();
  // More is possible (a request in flight when a measurement ends is stored but not counted); fewer is a lost webhook.
  if (queued < expected)
    throw new Error(`ladder: the rungs answered ${expected} webhooks with 200 but only ${queued} jobs are queued`);
  progress(`ladder: ${queued} jobs queued for ${expected} webhooks answered by the enqueuing rungs`);
  return order.map((which) => rows[which] as IngressRow);
}

function check(which: string, r: LoadResult): void {
  if (r.non2xx > 0 || r.errors > 0) {
    throw new Error(
      `route ${which}: ${r.non2xx} non-2xx answers, ${r.errors} errors — the numbers would not be of real work`,
    );
  }
}
