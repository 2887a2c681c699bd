import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { testDatabase } from './db.js';
import { type TestEnv, testEnv } from './env.js';
import { type FakeGemini, startFakeGemini } from './fake-gemini.js';
import { type FakeGraph, startFakeGraph } from './fake-graph.js';
import { startPrivateRedis } from './private-redis.js';
import { freePort, type RunningProcess, startProcess, waitForHttp } from './processes.js';
import { deletePrefix, testRedis, uniquePrefix } from './redis.js';
import { clusterClient, type TestRedisCluster } from './redis-cluster.js';
import { type Envelope, signedRequest } from './sign.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export const TEST_PAGE_TOKEN = 'test-page-token-default';

export interface Pipeline {
  env: TestEnv;
  apiUrl: string;
  /** Every API process's base URL, in start order. */
  apiUrls: string[];
  databaseUrl: string;
  prefix: string;
  graph: FakeGraph;
  gemini: FakeGemini;
  redis: Awaited<ReturnType<typeof testRedis>>['redis'];
  sql: postgres.Sql;
  apis: RunningProcess[];
  workers: RunningProcess[];
  startWorker(extraEnv?: Record<string, string>): RunningProcess;
  startApi(): Promise<{ process: RunningProcess; url: string }>;
  post(payload: Envelope | string, url?: string): Promise<Response>;
  /** Everything the processes printed so far. */
  logs(): string;
  /**
   * Every command Redis wrote to its append-only file so far, keys deleted since included: only
   * with `aof: true`, which gives the pipeline a redis-server of its own.
   */
  aof(): string;
}

/**
 * The whole system as production runs it: API and worker processes (compiled entry points), a
 * migrated database and a Redis prefix of their own, the fake Graph and Gemini servers. AI is on
 * with a (fake) key unless the caller's env says otherwise.
 */
export async function startPipeline(
  t: Teardown,
  label: string,
  opts: {
    workers?: number;
    apis?: number;
    env?: Record<string, string>;
    /** Run every process on this Redis Cluster (REDIS_CLUSTER_NODES); `redis` is then a cluster client. */
    cluster?: TestRedisCluster;
    /** A redis-server of the pipeline's own with its append-only file on, for aof(). */
    aof?: boolean;
  } = {},
): Promise<Pipeline> {
  const databaseUrl = await testDatabase(t, label);
  const prefix = uniquePrefix(label);
  const own = opts.aof ? await startPrivateRedis(t, { appendonly: true }) : undefined;
  let redis: Pipeline['redis'];
  if (opts.cluster) {
    // The cluster is the test's own and goes at its teardown, keys and all.
    redis = clusterClient(t, opts.cluster);
  } else if (own) {
    const mine = new Redis(own.url, { maxRetriesPerRequest: 2 });
    t.teardown(() => mine.disconnect());
    redis = mine;
  } else {
    const single = await testRedis(t, `${label}-conn`);
    redis = single.redis;
    t.teardown(() => deletePrefix(single.redis, prefix));
  }
  const graph = await startFakeGraph();
  const gemini = await startFakeGemini();
  t.teardown(() => graph.close());
  t.teardown(() => gemini.close());
  const env = testEnv({
    databaseUrl,
    prefix,
    graphUrl: graph.url,
    geminiUrl: gemini.url,
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    GEMINI_API_KEY: 'test-gemini-key-not-real',
    FACEBOOK_PAGE_ACCESS_TOKEN: TEST_PAGE_TOKEN,
    AI_ENABLED: 'true',
    ...(own ? { REDIS_URL: own.url } : {}),
    ...(opts.cluster ? { REDIS_CLUSTER_NODES: opts.cluster.seeds } : {}),
    ...opts.env,
  });
  const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 5 }));

  const apis: RunningProcess[] = [];
  const apiUrls: string[] = [];
  const workers: RunningProcess[] = [];
  const startApi = async () => {
    const port = await freePort();
    const process = startProcess(t, 'api', { ...env, PORT: String(port) });
    apis.push(process);
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp(`${url}/health`);
    apiUrls.push(url);
    return { process, url };
  };
  const startWorker = (extraEnv: Record<string, string> = {}) => {
    const w = startProcess(t, 'worker', { ...env, ...extraEnv });
    workers.push(w);
    return w;
  };
  const first = await startApi();
  for (let i = 1; i < (opts.apis ?? 1); i++) await startApi();
  for (let i = 0; i < (opts.workers ?? 1); i++) startWorker();

  return {
    env,
    apiUrl: first.url,
    apiUrls,
    databaseUrl,
    prefix,
    graph,
    gemini,
    redis,
    sql,
    apis,
    workers,
    startWorker,
    startApi,
    async post(payload, url = first.url) {
      const req = signedRequest(env.FACEBOOK_APP_SECRET as string, payload);
      return fetch(`${url}/webhook`, { method: 'POST', headers: req.headers, body: req.body });
    },
    logs: () => [...apis, ...workers].flatMap((p) => p.output).join(''),
    aof() {
      if (!own) throw new Error('startPipeline: pass { aof: true } to read the AOF');
      const dir = join(own.dir, 'appendonlydir');
      return readdirSync(dir)
        .map((f) => readFileSync(join(dir, f), 'latin1'))
        .join('');
    },
  };
}
