import type { FastifyInstance } from 'fastify';
import type { Config } from '@switchboard/config';
import { EXPIRY_THRESHOLD_DAYS, type GraphVersionStatus, graphVersionStatus } from '@switchboard/pages';
import { bullPrefix, QUEUES, shardLayoutKey } from '@switchboard/queue';
import type { ApiResources } from '../resources.js';

/** AI errors above this share of calls make /health `degraded` (docs/api.md)... */
const AI_ERROR_RATE_DEGRADED = 0.1;
/** ...over the last this many minutes: an outage now, not the history since the deployment began. */
export const AI_ERROR_WINDOW_MIN = 15;
/** Below this many calls in the window an error rate says nothing. */
const AI_ERROR_RATE_MIN_CALLS = 10;
const PING_TIMEOUT_MS = 1000;

export interface HealthReport {
  status: 'ok' | 'degraded' | 'down';
  database: 'connected' | 'error';
  redis: 'connected' | 'error';
  queue_depth: number;
  uptime_s: number;
  security: { https_enforced: boolean; signature_verification: 'mandatory'; token_monitoring: 'enabled' };
  ai: { enabled: boolean };
  graph_api_version: string;
  /** The pinned version and its end of life (warning within 90 days of it). */
  graph_api: GraphVersionStatus;
  warnings: string[];
}

async function withTimeout<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms))),
    ]);
  } catch {
    return fallback;
  } finally {
    clearTimeout(timer);
  }
}

export async function checkHealth(config: Config, r: ApiResources): Promise<HealthReport> {
  const [dbOk, redisOk] = await Promise.all([
    r.dbh.ping(PING_TIMEOUT_MS),
    // A command on one of our keys, not PING: a server that answers PING may still refuse every
    // command on our keys (MOVED from a cluster node that does not serve their slot, NOAUTH,
    // CROSSSLOT…), and that Redis is of no use to us.
    withTimeout(
      // One key per shard: on a cluster each shard's slot may live on another primary.
      Promise.all(r.shards.tags.map((tag) => r.redis.exists(`${bullPrefix(tag)}:${QUEUES.inbound}:meta`))).then(
        () => true,
      ),
      PING_TIMEOUT_MS,
      false,
    ),
  ]);
  const warnings: string[] = [];
  let queueDepth = 0;
  // A switch that cannot be read counts as off, as it does for the workers.
  let aiEnabled = false;
  if (redisOk) {
    const [counts, enabled, counters, layout] = await Promise.all([
      withTimeout(r.inboundQueue.getJobCounts('waiting', 'delayed', 'active', 'prioritized'), PING_TIMEOUT_MS, null),
      withTimeout(r.killSwitch.setting(), PING_TIMEOUT_MS, false),
      withTimeout(
        r.counters.recent(['ai_calls', 'ai_errors'], AI_ERROR_WINDOW_MIN),
        PING_TIMEOUT_MS,
        {} as Record<string, number>,
      ),
      // The shard count the workers took over (queue/src/shard-layout.ts); none before a worker ran.
      withTimeout(r.redis.get(shardLayoutKey(config.queuePrefix)), PING_TIMEOUT_MS, null),
    ]);
    if (layout !== null && Number(layout) !== config.queueShards) warnings.push('queue_shards_differ');
    queueDepth = counts ? Object.values(counts).reduce((a, b) => a + b, 0) : 0;
    aiEnabled = enabled;
    const calls = counters.ai_calls ?? 0;
    if (calls >= AI_ERROR_RATE_MIN_CALLS && (counters.ai_errors ?? 0) / calls > AI_ERROR_RATE_DEGRADED)
      warnings.push('ai_error_rate_high');
  }
  if (dbOk) {
    const invalid = await withTimeout(r.pages.invalidCount(), PING_TIMEOUT_MS, 0);
    if (invalid > 0) warnings.push('page_token_invalid');
    const expiring = await withTimeout(
      r.pages.expiringCount(EXPIRY_THRESHOLD_DAYS.warning * 24 * 3600 * 1000),
      PING_TIMEOUT_MS,
      0,
    );
    if (expiring > 0) warnings.push('page_token_near_expiry');
  }
  const graphApi = graphVersionStatus(config.meta.graphVersion);
  if (graphApi.warning) warnings.push('graph_version_near_eol');
  if (!config.meta.appId) warnings.push('facebook_app_id_missing');
  if (config.meta.usingDevelopmentSecret) warnings.push('facebook_app_secret_is_development_default');
  const status = !dbOk || !redisOk ? 'down' : warnings.length > 0 ? 'degraded' : 'ok';
  return {
    status,
    database: dbOk ? 'connected' : 'error',
    redis: redisOk ? 'connected' : 'error',
    queue_depth: queueDepth,
    uptime_s: Math.round(process.uptime() * 10) / 10,
    security: {
      https_enforced: config.http.requireHttps,
      signature_verification: 'mandatory',
      token_monitoring: 'enabled',
    },
    ai: { enabled: aiEnabled },
    graph_api_version: config.meta.graphVersion,
    graph_api: graphApi,
    warnings,
  };
}

export async function healthRoutes(
  app: FastifyInstance,
  opts: { config: Config; resources: ApiResources },
): Promise<void> {
  // Not rate limited: probes and monitors (a load balancer, Kubernetes, uptime checks) may share one
  // address and poll often; a 429 would read as unhealthy and take a healthy replica out.
  app.get('/health', { config: { rateLimit: false } }, async (_request, reply) => {
    const report = await checkHealth(opts.config, opts.resources);
    return reply.code(report.status === 'down' ? 503 : 200).send(report);
  });
}
