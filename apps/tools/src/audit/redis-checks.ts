import type { Config } from '@switchboard/config';
import { createProducerConnection, keyHolders, type RedisTarget } from '@switchboard/queue';
import { describeFailure, NETWORK_TIMEOUT_MS, withDeadline } from './deadline.js';
import type { Findings } from './findings.js';

export type AuditRedis = ReturnType<typeof createProducerConnection>;

/** One connection attempt, no reconnection loop: the audit reports a dead Redis, it does not wait for it. */
export function connectAuditRedis(target: RedisTarget): AuditRedis {
  const redis = createProducerConnection(
    target,
    {
      lazyConnect: true,
      enableOfflineQueue: true,
      maxRetriesPerRequest: 0,
      connectTimeout: NETWORK_TIMEOUT_MS,
      commandTimeout: NETWORK_TIMEOUT_MS,
      retryStrategy: () => null,
    },
    { lazyConnect: true, enableOfflineQueue: true, clusterRetryStrategy: () => null },
  );
  redis.on('error', () => {});
  return redis;
}

/** Parses `INFO` output into field → value. */
function parseInfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return out;
}

/** CONFIG GET name → value, or undefined when CONFIG is disabled or renamed (managed Redis). */
async function configGet(redis: AuditRedis, name: string): Promise<string | undefined> {
  try {
    const reply = (await withDeadline(redis.config('GET', name), `CONFIG GET ${name}`)) as string[];
    return reply[1];
  } catch {
    return undefined;
  }
}

/**
 * Redis holds every acknowledged-but-unprocessed event as a BullMQ job, so it must never evict
 * keys and must survive a restart (https://docs.bullmq.io/guide/going-to-production): policy
 * `noeviction`, and AOF or RDB snapshots on. Returns false when Redis is unreachable.
 */
export async function checkRedis(redis: AuditRedis, config: Config, f: Findings): Promise<boolean> {
  const variable = config.redisCluster ? 'REDIS_CLUSTER_NODES' : 'REDIS_URL';
  try {
    await withDeadline(redis.connect(), 'Redis connect');
    await withDeadline(redis.ping(), 'Redis PING');
    f.ok('redis.reachable', 'Redis answers', [variable]);
  } catch (err) {
    f.critical(
      'redis.reachable',
      `Redis is unreachable (${describeFailure(err)}): the API answers 503 and workers stop`,
      [variable],
    );
    return false;
  }
  // On a cluster every master holds jobs: each must be set up as a single Redis would be.
  const nodes = keyHolders(redis);
  for (const node of nodes)
    await checkRedisNode(node, labelled(f, nodes.length > 1 ? `${node.options.host}:${node.options.port}: ` : ''));
  return true;
}

/** Version, eviction policy and persistence of one server. */
async function checkRedisNode(redis: AuditRedis, f: FindingSink): Promise<void> {
  const info = await withDeadline(redis.info(), 'INFO')
    .then(parseInfo)
    .catch(() => new Map<string, string>());

  const version = info.get('redis_version');
  const [major = 0] = (version ?? '').split('.').map(Number);
  if (version === undefined)
    f.warning('redis.version', 'cannot read the Redis version (INFO disabled?): Switchboard needs Redis 7.0 or later');
  else if (major >= 7) f.ok('redis.version', `Redis ${version}`);
  else
    f.warning(
      'redis.version',
      `Redis ${version} is older than 7.0: the API's immediate record of Meta's echoes (EXPIRE NX) fails, so an interrupted send waits for the worker's copy; upgrade Redis`,
    );

  const policy = (await configGet(redis, 'maxmemory-policy')) ?? info.get('maxmemory_policy');
  if (policy === undefined)
    f.warning(
      'redis.maxmemory_policy',
      'cannot read maxmemory-policy (CONFIG and INFO disabled?): make sure the provider sets noeviction',
    );
  else if (policy === 'noeviction') f.ok('redis.maxmemory_policy', 'maxmemory-policy is noeviction');
  else
    f.critical(
      'redis.maxmemory_policy',
      `maxmemory-policy is ${policy}: Redis may evict queued jobs (lost messages); set maxmemory-policy noeviction`,
    );

  const appendonly =
    (await configGet(redis, 'appendonly')) ??
    (info.get('aof_enabled') === undefined ? undefined : info.get('aof_enabled') === '1' ? 'yes' : 'no');
  const save = await configGet(redis, 'save');
  if (appendonly === 'yes') f.ok('redis.persistence', 'persistence: AOF (appendonly yes)');
  else if (save !== undefined && save.trim() !== '')
    f.ok('redis.persistence', `persistence: RDB snapshots (save ${save}); AOF would lose less on a crash`);
  else if (appendonly === undefined || save === undefined)
    f.warning(
      'redis.persistence',
      appendonly === 'no'
        ? 'AOF is off and CONFIG is disabled, so RDB snapshots cannot be verified: make sure the provider persists data'
        : 'cannot read the persistence settings (CONFIG disabled?): make sure AOF or snapshots are on',
    );
  else
    f.critical(
      'redis.persistence',
      'Redis persists nothing (appendonly no, no save points): a restart loses every queued job; set appendonly yes',
    );
}

/** Findings whose messages start with `label` (the node a cluster's finding is about). */
type FindingSink = Pick<Findings, 'ok' | 'warning' | 'critical'>;

function labelled(f: Findings, label: string): FindingSink {
  if (!label) return f;
  return {
    ok: (id: string, message: string, about?: readonly string[]) => f.ok(id, label + message, about),
    warning: (id: string, message: string, about?: readonly string[]) => f.warning(id, label + message, about),
    critical: (id: string, message: string, about?: readonly string[]) => f.critical(id, label + message, about),
  };
}
