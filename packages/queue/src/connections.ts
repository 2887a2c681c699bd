import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';

/** A Redis Cluster to connect to; the shape of the configuration's `redisCluster`. */
export interface RedisClusterTarget {
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly tls: boolean;
  readonly natMap: Readonly<Record<string, { readonly host: string; readonly port: number }>>;
}

/** A single Redis (its URL) or a Redis Cluster. */
export type RedisTarget = string | RedisClusterTarget;

/**
 * Scripts whose keys ioredis cannot find before sending them: they are defined without a fixed
 * `numberOfKeys` (the key count varies per call), so auto-pipelining, which picks a batch's node by
 * a command's first argument, would route them by their key count. Sent on their own instead, they
 * are routed by the keys EVALSHA names.
 */
export const VARIABLE_KEY_SCRIPTS: readonly string[] = ['sbConvEnter'];

/** `host:port` of the target, for log lines: never a password. */
export function redisTargetLabel(target: RedisTarget): string {
  if (typeof target !== 'string') return target.nodes.map((n) => `${n.host}:${n.port}`).join(',');
  const u = new URL(target);
  return `${u.hostname || 'localhost'}:${u.port || '6379'}`;
}

function clusterOptions(
  target: RedisClusterTarget,
  redisOptions: RedisOptions,
  options: ClusterOptions,
): ClusterOptions {
  return {
    ...options,
    natMap: { ...target.natMap },
    redisOptions: {
      username: target.username,
      password: target.password,
      // Managed clusters (e.g. ElastiCache) present certificates for the configuration endpoint's
      // name; looking the nodes' names up again would check them against the wrong name.
      ...(target.tls ? { tls: {} } : {}),
      ...redisOptions,
    },
    ...(target.tls
      ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) }
      : {}),
  };
}

/**
 * A Cluster client, typed as the single-node client every module takes: it answers the same
 * commands (keys are routed to their slot's node), and BullMQ accepts either.
 */
function cluster(target: RedisClusterTarget, redisOptions: RedisOptions, options: ClusterOptions): Redis {
  return new Cluster([...target.nodes], clusterOptions(target, redisOptions, options)) as unknown as Redis;
}

/**
 * The two connection presets BullMQ asks for
 * (https://docs.bullmq.io/patterns/failing-fast-when-redis-is-down):
 *
 * - producer (the API): no offline queue and one attempt per command, so a dead Redis turns into a
 *   fast error → `503` (Meta retries later) instead of a request that hangs while commands pile up;
 * - worker: `maxRetriesPerRequest: null` and the offline queue on, so workers ride out a Redis
 *   outage and resume by themselves.
 *
 * Both take a single Redis URL or a Redis Cluster; BullMQ's workers duplicate the connection for
 * their blocking commands either way, so those keep connections of their own.
 */
export function createProducerConnection(
  target: RedisTarget,
  extra: RedisOptions = {},
  clusterExtra: ClusterOptions = {},
): Redis {
  const perNode: RedisOptions = {
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 1000,
  };
  if (typeof target !== 'string')
    return cluster(
      target,
      { ...perNode, ...extra },
      {
        enableOfflineQueue: false,
        // No auto-pipelining, as below; a slot served by no node is an error now, not a wait.
        enableAutoPipelining: false,
        retryDelayOnClusterDown: 100,
        maxRedirections: 4,
        clusterRetryStrategy: (times) => Math.min(times * 100, 1000),
        ...clusterExtra,
      },
    );
  return new Redis(target, {
    enableOfflineQueue: false,
    // No auto-pipelining here: an auto-pipelined command bypasses the "no offline queue" rule and
    // waits for a connection that may never come — a webhook would hang instead of getting 503.
    ...perNode,
    // Keep reconnecting in the background, quickly at first: the next webhook after Redis returns succeeds.
    retryStrategy: (times) => Math.min(times * 100, 1000),
    ...extra,
  });
}

export function createWorkerConnection(target: RedisTarget, extra: RedisOptions = {}): Redis {
  if (typeof target !== 'string')
    return cluster(
      target,
      { maxRetriesPerRequest: null },
      {
        enableOfflineQueue: true,
        enableReadyCheck: true,
        enableAutoPipelining: true,
        autoPipeliningIgnoredCommands: [...VARIABLE_KEY_SCRIPTS],
        clusterRetryStrategy: (times) => Math.min(times * 200, 2000),
      },
    );
  return new Redis(target, {
    maxRetriesPerRequest: null,
    // Commands of concurrently running jobs issued in the same tick share one socket write.
    enableAutoPipelining: true,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    ...extra,
  });
}

/**
 * Whether the server a single-node client reached runs in cluster mode (`INFO cluster`). Such a
 * client sees only the slots of that one node: commands on other slots fail with MOVED, so a
 * process must refuse to run with it instead of dead-lettering every event.
 */
export async function isClusterNode(redis: Redis): Promise<boolean> {
  const info = await redis.info('cluster');
  return /^cluster_enabled:1\s*$/m.test(info);
}

export const PLAIN_CLIENT_ON_CLUSTER =
  'REDIS_URL points at a Redis Cluster node; a single-node client cannot use a cluster. Set REDIS_CLUSTER_NODES to the cluster nodes (host:port,host:port) instead';

/**
 * Calls `refuse` when a single-node client (`target` a URL) finds itself connected to a cluster
 * node — on the first connection and on every reconnection, since a server can be replaced by a
 * cluster node behind the same address. Resolves once the first connection was checked, or after
 * `waitMs` when Redis does not answer yet (the process starts; the check runs when it connects).
 */
export function watchForClusterNode(
  redis: Redis,
  target: RedisTarget,
  refuse: () => void,
  waitMs = 3000,
): Promise<void> {
  if (typeof target !== 'string') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, waitMs);
    timer.unref();
    const check = () => {
      isClusterNode(redis)
        .then(
          (clustered) => {
            if (clustered) refuse();
          },
          () => {},
        )
        .finally(() => {
          clearTimeout(timer);
          resolve();
        });
    };
    redis.on('ready', check);
    if (redis.status === 'ready') check();
  });
}

/**
 * The nodes that hold keys: every master of a Redis Cluster, or the one server. SCAN walks one
 * node's keys, so a scan for a pattern must visit each of these.
 */
export function keyHolders(redis: Redis): Redis[] {
  const maybeCluster = redis as unknown as { isCluster?: boolean; nodes?(role: 'master'): Redis[] };
  return maybeCluster.isCluster && maybeCluster.nodes ? maybeCluster.nodes('master') : [redis];
}
