/**
 * What one answered message costs Redis and PostgreSQL, counted rather than timed, so the figures
 * do not depend on the machine: the real API and two workers run against a redis-server of the
 * part's own (nothing else's commands are counted) and reach PostgreSQL through a loopback proxy
 * that counts the statements they send.
 *
 * - Redis commands, those run inside scripts included: INFO commandstats before and after, per
 *   command name, so the reader sees where they go.
 * - Redis top-level commands (those a client sent, not those a script issued): MONITOR, which
 *   names a script's commands' source `lua` and a client's by its address.
 * - PostgreSQL statements: the proxy counts the frontend protocol's Query and Execute messages.
 * - On a 3-primary Redis Cluster of the part's own (six queue shards), each primary's share of
 *   the commands: what the busiest one carries bounds what the cluster carries.
 *
 * Knobs: BENCH_COST_N (messages, default 2000), BENCH_COST_WARMUP (default 500),
 * BENCH_COST_DUPLICATES (share of deliveries posted twice, as Meta sometimes does, default 0.1).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createServer, type Server, type Socket, connect } from 'node:net';
import { Redis } from 'ioredis';
import { startPrivateRedis } from '../test/helpers/private-redis.js';
import { clusterClient, clusterToolsMissing, startRedisCluster } from '../test/helpers/redis-cluster.js';
import { freePort } from '../test/helpers/processes.js';
import { load } from './load.js';
import { type SignedBody, PayloadSource } from './payload.js';
import { FORWARDED_HTTPS } from './ingress.js';
import { countSends, deliveryFaults, type EnvFor, startBenchGemini, startSystem, stopSystem } from './pipeline.js';
import { progress, sleep, type Teardown } from './stack.js';
import { ROOT } from '../test/helpers/processes.js';

export interface CostRun {
  label: string;
  /** Messages posted in the measured window (duplicates not counted) and those answered. */
  messages: number;
  duplicatesPosted: number;
  answered: number;
  duplicates: number;
  missing: number;
  /** Per answered message. */
  redisCommands: number;
  redisTopLevel: number;
  pgStatements: number;
  /** Redis commands per answered message by command name (scripts' inner commands included), largest first. */
  byCommand: Array<[string, number]>;
  /** Top-level commands per answered message by command name (a script call by the script's), largest first. */
  topLevelByCommand: Array<[string, number]>;
  /** Commands run inside each script per answered message, by `evalsha <script>`. */
  innerByScript: Map<string, number>;
  /** On a cluster: each primary's share of the commands (scripts' inner commands included), by port. */
  nodeShares?: Array<[number, number]>;
  /**
   * Redis main-thread CPU per answered message, all nodes together (ms). Timed, so it depends on
   * the machine and on what else runs: a sizing figure, never a target.
   */
  redisCpuMs: number;
}

export interface CostResult {
  runs: CostRun[];
}

interface Settings {
  n: number;
  warmup: number;
  duplicates: number;
  connections: number;
  cpuProfDir?: string | undefined;
}

/** Redis's per-command call counts (scripts' inner calls included). */
async function commandStats(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info('commandstats');
  const out = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1] as string, Number(m[2]));
  return out;
}

const total = (stats: Map<string, number>): number => [...stats.values()].reduce((a, b) => a + b, 0);

/** CPU seconds a node's main thread has used (INFO cpu): what saturates first on a Redis primary. */
async function mainThreadCpuS(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  const main = field('used_cpu_sys_main_thread') + field('used_cpu_user_main_thread');
  // Before Redis 6.2 there is no main-thread figure; the process's is the nearest.
  return Number.isFinite(main) ? main : field('used_cpu_sys') + field('used_cpu_user');
}

function sumStats(all: readonly Map<string, number>[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const stats of all) for (const [name, n] of stats) out.set(name, (out.get(name) ?? 0) + n);
  return out;
}

/**
 * The Redis a run measures, of its own: one redis-server, or a 3-primary cluster (every primary
 * counted on its own connection: INFO and MONITOR are per node).
 */
interface MeasuredRedis {
  /** What the processes are given to reach it. */
  env: Record<string, string>;
  /** A client for the bench's own reads (a cluster client on a cluster). */
  admin: Redis;
  /** One connection per node, by port, for INFO and MONITOR. */
  nodes: Array<{ port: number; url: string; client: Redis }>;
}

async function singleRedis(td: Teardown): Promise<MeasuredRedis> {
  const server = await startPrivateRedis(td);
  const client = new Redis(server.url, { maxRetriesPerRequest: 2 });
  td.teardown(() => client.disconnect());
  return {
    env: { REDIS_URL: server.url },
    admin: client,
    nodes: [{ port: Number(new URL(server.url).port), url: server.url, client }],
  };
}

async function clusterRedis(td: Teardown): Promise<MeasuredRedis> {
  const cluster = await startRedisCluster(td);
  const nodes = cluster.nodes.map((n) => {
    const url = `redis://127.0.0.1:${n.port}`;
    const client = new Redis(url, { maxRetriesPerRequest: 2 });
    td.teardown(() => client.disconnect());
    return { port: n.port, url, client };
  });
  return { env: { REDIS_CLUSTER_NODES: cluster.seeds }, admin: clusterClient(td, cluster), nodes };
}

/**
 * The name of every script the processes may run, by SHA1 (what EVALSHA names): BullMQ's and ours
 * (the `.lua` files under packages/ and apps/).
 */
async function scriptNames(): Promise<Map<string, string>> {
  const sha = (lua: string) => createHash('sha1').update(lua).digest('hex');
  const names = new Map<string, string>();
  const bullDir = join(dirname(createRequire(join(ROOT, 'apps/worker/package.json')).resolve('bullmq')), 'scripts');
  for (const file of readdirSync(bullDir).filter((f) => /^[\w-]+\.js$/.test(f) && f !== 'index.js')) {
    const mod = (await import(pathToFileURL(join(bullDir, file)).href)) as Record<
      string,
      { name?: string; content?: string }
    >;
    for (const x of Object.values(mod)) if (x?.content && x.name) names.set(sha(x.content), `bullmq:${x.name}`);
  }
  for (const top of ['packages', 'apps'])
    for (const pkg of readdirSync(join(ROOT, top))) {
      const dir = join(ROOT, top, pkg, 'src', 'scripts');
      let files: string[] = [];
      try {
        files = readdirSync(dir).filter((f) => f.endsWith('.lua'));
      } catch {
        continue;
      }
      for (const f of files) names.set(sha(readFileSync(join(dir, f), 'utf8')), f.replace(/\.lua$/, ''));
    }
  return names;
}

/**
 * Counts the top-level commands Redis runs while on: a MONITOR connection per node, by command
 * name, and a script call (EVALSHA) by the script's name.
 */
async function topLevelCounter(
  urls: readonly string[],
): Promise<{ counts: Map<string, number>; inner: Map<string, number>; stop(): void }> {
  const names = await scriptNames();
  const counts = new Map<string, number>();
  const inner = new Map<string, number>();
  const clients = await Promise.all(
    urls.map(async (url) => {
      const client = new Redis(url);
      const monitor = await client.monitor();
      // MONITOR shows a script's call before the commands it runs, and a script runs alone on its node.
      let script = '';
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        if (source === 'lua') {
          inner.set(script, (inner.get(script) ?? 0) + 1);
          return;
        }
        let name = String(args[0]).toLowerCase();
        if (name === 'evalsha') name = script = `evalsha ${names.get(String(args[1])) ?? String(args[1]).slice(0, 8)}`;
        counts.set(name, (counts.get(name) ?? 0) + 1);
      });
      return { client, monitor };
    }),
  );
  return {
    counts,
    inner,
    stop: () => {
      for (const { client, monitor } of clients) {
        monitor.disconnect();
        client.disconnect();
      }
    },
  };
}

/**
 * A loopback TCP proxy to PostgreSQL that counts the statements clients send: simple-protocol
 * Query ('Q') and extended-protocol Execute ('E') messages. The first message of a connection
 * (startup, or an SSL/GSS request followed by the startup) has no type byte.
 */
async function pgStatementProxy(
  target: { host: string; port: number },
  td: Teardown,
): Promise<{ port: number; statements: () => number }> {
  let statements = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    sockets.add(client).add(upstream);
    let buffer = Buffer.alloc(0);
    let untyped = true;
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (untyped) {
          if (buffer.length < 8) break;
          const length = buffer.readInt32BE(0);
          if (buffer.length < length) break;
          const code = buffer.readInt32BE(4);
          // SSLRequest / GSSENCRequest: the startup message follows, also untyped.
          untyped = code === 80877103 || code === 80877104;
          buffer = buffer.subarray(length);
          continue;
        }
        if (buffer.length < 5) break;
        const length = buffer.readInt32BE(1);
        if (buffer.length < length + 1) break;
        const type = String.fromCharCode(buffer[0] as number);
        if (type === 'Q' || type === 'E') statements += 1;
        buffer = buffer.subarray(length + 1);
      }
    });
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  td.teardown(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port, statements: () => statements };
}

/** Posts some deliveries twice in a row (Meta's redelivery), a `share` of them. */
class DuplicatingSource {
  private last: SignedBody | undefined;
  private taken = 0;
  duplicated = 0;
  constructor(
    private readonly source: PayloadSource,
    private readonly share: number,
  ) {}
  take(): SignedBody {
    this.taken += 1;
    if (this.last && this.share > 0 && this.taken % Math.round(1 / this.share) === 0) {
      this.duplicated += 1;
      const again = this.last;
      this.last = undefined;
      return again;
    }
    this.last = this.source.take();
    return this.last;
  }
}

const perMessage = (counts: Map<string, number>, before: Map<string, number>, n: number): Array<[string, number]> =>
  [...counts]
    .map(([name, calls]): [string, number] => [name, (calls - (before.get(name) ?? 0)) / n])
    .filter(([, x]) => x > 0)
    .sort((a, b) => b[1] - a[1]);

async function costOnce(
  td: Teardown,
  envFor: EnvFor,
  s: Settings,
  label: string,
  extra: Record<string, string>,
  duplicates: number,
  measured: MeasuredRedis,
): Promise<CostRun> {
  const pg = await pgStatementProxy({ host: '127.0.0.1', port: 5432 }, td);
  const viaProxy = (url: string) => {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(pg.port);
    return u.toString();
  };
  const costEnv: EnvFor = (databaseUrl, prefix, more = {}) => ({
    ...envFor(databaseUrl, prefix, more),
    ...measured.env,
    DATABASE_URL: viaProxy(databaseUrl),
  });
  const where = measured.nodes.length > 1 ? `a ${measured.nodes.length}-primary cluster` : 'a redis-server';
  progress(`cost ${label}: starting api + 2 workers on ${where} of their own`);
  const sys = await startSystem(td, measured.admin, costEnv, `cost-${label}`, extra, s);
  const nodeStats = () => Promise.all(measured.nodes.map((n) => commandStats(n.client)));
  const cpuS = async () =>
    (await Promise.all(measured.nodes.map((n) => mainThreadCpuS(n.client)))).reduce((a, b) => a + b, 0);
  const source = new DuplicatingSource(new PayloadSource(sys.env.FACEBOOK_APP_SECRET as string), duplicates);
  const acked = new Set<string>();
  const post = async (count: number) => {
    const result = await load({
      url: `${sys.url}/webhook`,
      payloads: source,
      connections: s.connections,
      amount: count,
      headers: FORWARDED_HTTPS,
      onAck: (senders) => {
        for (const sender of senders) acked.add(sender);
      },
    });
    if (result.non2xx > 0 || result.errors > 0)
      throw new Error(`cost ${label}: ${result.non2xx} non-2xx, ${result.errors} errors while posting`);
  };
  if (s.warmup > 0) {
    progress(`cost ${label}: warm-up, ${s.warmup} deliveries`);
    await post(s.warmup);
    await sys.graph.waitForSends(acked.size, Math.max(120_000, s.warmup * 20));
    await sleep(1500);
  }
  const sentBefore = sys.graph.sends.length;
  const ackedBefore = acked.size;
  const duplicatedBefore = source.duplicated;
  const nodesBefore = await nodeStats();
  const topLevel = await topLevelCounter(measured.nodes.map((n) => n.url));
  const pgBefore = pg.statements();
  progress(`cost ${label}: posting ${s.n} deliveries`);
  await post(s.n);
  await sys.graph.waitForSends(acked.size, Math.max(120_000, s.n * 20));
  // Whatever a reply leaves behind (releases, records, counters) lands within the debounce and a flush.
  await sleep(2500);
  const nodesAfter = await nodeStats();
  const pgStatements = pg.statements() - pgBefore;
  topLevel.stop();
  const answered = sys.graph.sends.length - sentBefore;
  const messages = acked.size - ackedBefore;
  const duplicatesPosted = source.duplicated - duplicatedBefore;
  // Redis's CPU in a second window without MONITOR, which costs Redis a write per command it shows.
  progress(`cost ${label}: posting ${s.n} more deliveries for Redis's CPU, unwatched`);
  const cpuBefore = await cpuS();
  const sentBeforeCpu = sys.graph.sends.length;
  await post(s.n);
  await sys.graph.waitForSends(acked.size, Math.max(120_000, s.n * 20));
  await sleep(2500);
  const redisCpuMs = (((await cpuS()) - cpuBefore) * 1000) / (sys.graph.sends.length - sentBeforeCpu);
  const { duplicates: dup, missing } = deliveryFaults(countSends(sys.graph.sends), acked);
  const byCommand = perMessage(sumStats(nodesAfter), sumStats(nodesBefore), answered);
  const nodeCommands = measured.nodes.map((n, i): [number, number] => [
    n.port,
    total(nodesAfter[i] as Map<string, number>) - total(nodesBefore[i] as Map<string, number>),
  ]);
  const allCommands = nodeCommands.reduce((a, [, n]) => a + n, 0);
  const topLevelByCommand = perMessage(topLevel.counts, new Map([['info', 0]]), answered);
  const run: CostRun = {
    label,
    messages,
    duplicatesPosted,
    answered,
    duplicates: dup,
    missing,
    // The bench's own INFO, MONITOR and the like are a handful against thousands.
    redisCommands: byCommand.reduce((a, [, x]) => a + x, 0),
    redisTopLevel: topLevelByCommand.reduce((a, [, x]) => a + x, 0),
    pgStatements: pgStatements / answered,
    redisCpuMs,
    byCommand,
    topLevelByCommand,
    innerByScript: new Map(perMessage(topLevel.inner, new Map(), answered)),
    ...(measured.nodes.length > 1
      ? { nodeShares: nodeCommands.map(([port, n]): [number, number] => [port, n / allCommands]) }
      : {}),
  };
  progress(
    `cost ${label}: ${run.redisCommands.toFixed(1)} commands, ${run.redisTopLevel.toFixed(1)} top-level, ${run.pgStatements.toFixed(2)} PG statements, ${redisCpuMs.toFixed(2)} ms of Redis CPU per answered message; ${dup} duplicates, ${missing} missing`,
  );
  await stopSystem(sys);
  return run;
}

/** Queue shards on the cluster: two per primary, the layout deploy/kubernetes/README.md recommends. */
const CLUSTER_SHARDS = 6;

/**
 * The cost of a message with the conversation memory and burst debouncing on (AI on against the
 * fake Gemini, AI_HISTORY_TURNS=12, REPLY_DEBOUNCE_MS=500), one-message conversations as the bench
 * sends them with a share of redeliveries; the same on a 3-primary Redis Cluster with six queue
 * shards, for the spread over its primaries; and, for reference, with memory and debounce off and
 * no redeliveries.
 */
export async function runCost(td: Teardown, envFor: EnvFor, s: Settings): Promise<CostResult> {
  const ai = await startBenchGemini(td);
  const features = { ...ai.env, AI_HISTORY_TURNS: '12', REPLY_DEBOUNCE_MS: '500' };
  const on = await costOnce(td, envFor, s, 'memory_debounce', features, s.duplicates, await singleRedis(td));
  const runs = [on];
  const missing = await clusterToolsMissing();
  if (missing) progress(`cost cluster: skipped, ${missing}`);
  else
    runs.push(
      await costOnce(
        td,
        envFor,
        s,
        'cluster',
        { ...features, QUEUE_SHARDS: String(CLUSTER_SHARDS) },
        s.duplicates,
        await clusterRedis(td),
      ),
    );
  const plain = { ...ai.env, AI_HISTORY_TURNS: '0', REPLY_DEBOUNCE_MS: '0' };
  runs.push(await costOnce(td, envFor, s, 'plain', plain, 0, await singleRedis(td)));
  return { runs };
}
