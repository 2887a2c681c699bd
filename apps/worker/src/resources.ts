import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { createResponder, KillSwitch, killSwitchKey, type Responder } from '@switchboard/ai';
import type { Config } from '@switchboard/config';
import { aiSwitchStore, createDb, type DbHandle } from '@switchboard/db';
import { type GraphClient, graphClientFor } from '@switchboard/meta';
import {
  Counters,
  countersKey,
  LatencySamples,
  type Logger,
  type OutageTracker,
  outageTracker,
  reasonOf,
} from '@switchboard/observability';
import {
  ConversationMemory,
  HeldSends,
  InstructionsCache,
  PageInstructionsStore,
  PageTokenStore,
} from '@switchboard/pages';
import { Sealer } from '@switchboard/privacy';
import {
  bullPrefix,
  createWorkerConnection,
  defineSentMarkerScripts,
  QueueShards,
  QUEUES,
  redisTargetLabel,
  ShardedQueue,
} from '@switchboard/queue';
import { createHotWrites, type HotWrites } from './records.js';

/** One queue shard a processor serves: its index and hash tag (QueueShards). */
export interface ShardScope {
  index: number;
  tag: string;
}

/** Everything a worker process connects to; closed in reverse order by `close()`. */
export interface WorkerResources {
  config: Config;
  logger: Logger;
  redis: Redis;
  dbh: DbHandle;
  /** Batched hot-path writes (../records.ts). */
  writes: HotWrites;
  sealer: Sealer;
  counters: Counters;
  latency: LatencySamples;
  pages: PageTokenStore;
  heldSends: HeldSends;
  graph: GraphClient;
  /** The operator's AI switch; the responder obeys it. */
  killSwitch: KillSwitch;
  responder: Responder;
  /** The turns each conversation keeps for the model (sealed, in Redis). */
  memory: ConversationMemory;
  /** The queue shards (QUEUE_SHARDS): which hash tag each conversation's keys and jobs carry. */
  shards: QueueShards;
  /** Send jobs, each added to its conversation's shard. */
  outboundQueue: ShardedQueue;
  maintenanceQueue: Queue;
  /** Redis outages: one line when one starts, one when it ends (the queue workers report to it too). */
  redisOutage: OutageTracker;
  /** BullMQ key prefix of the maintenance queue ({QUEUE_PREFIX}: a Redis Cluster hash tag). */
  bullPrefix: string;
  close(): Promise<void>;
}

export function createWorkerResources(config: Config, logger: Logger): WorkerResources {
  const redis = createWorkerConnection(config.redisCluster ?? config.redisUrl);
  defineSentMarkerScripts(redis);
  const redisOutage = outageTracker(logger, 'redis', redisTargetLabel(config.redisCluster ?? config.redisUrl));
  redis.on('error', (err) => redisOutage.down(reasonOf(err)));
  redis.on('ready', () => redisOutage.up());
  const dbh = createDb(config.databaseUrl, {
    applicationName: 'switchboard-worker',
    max: Math.min(10, config.worker.concurrency),
  });
  const sealer = new Sealer(config.privacy.encryptionKey, config.privacy.previousEncryptionKeys);
  const counters = new Counters(redis, countersKey(config.queuePrefix)).start();
  const latency = new LatencySamples(redis, config.queuePrefix).start();
  const prefix = bullPrefix(config.queuePrefix);
  const shards = new QueueShards(config.queuePrefix, config.queueShards);
  const outboundQueue = new ShardedQueue(QUEUES.outbound, shards, redis);
  const maintenanceQueue = new Queue(QUEUES.maintenance, { connection: redis, prefix });
  // A pooled client: one socket per concurrently running send at most.
  const graph = graphClientFor(config.meta, { connections: Math.max(8, config.worker.concurrency) });
  // Read per AI reply; a change made through the ops API applies to the next one (instructions-cache.ts).
  const instructions = new InstructionsCache({
    store: new PageInstructionsStore({
      db: dbh.db,
      redis,
      prefix: config.queuePrefix,
      sealer,
      defaultInstructions: config.ai.instructions,
    }),
    redis,
    prefix: config.queuePrefix,
    onUnreadable: (pageId) =>
      logger.warn(
        { pageId },
        'page instructions cannot be opened with ENCRYPTION_KEY or ENCRYPTION_KEY_PREVIOUS; the default applies',
      ),
  });
  // One socket per job that may be waiting on the model: an AI call is I/O, not work.
  const killSwitch = new KillSwitch(redis, killSwitchKey(config.queuePrefix), aiSwitchStore(dbh.db), config.ai.enabled);
  const responder = createResponder({
    redis,
    prefix: config.queuePrefix,
    settings: config.ai,
    killSwitch,
    counters,
    instructions,
    concurrency: Math.max(8, config.worker.concurrency),
  });
  return {
    config,
    logger,
    redis,
    dbh,
    writes: createHotWrites(dbh),
    sealer,
    counters,
    latency,
    pages: new PageTokenStore({
      db: dbh.db,
      sealer,
      defaultToken: config.meta.defaultPageToken,
      defaultWhatsAppToken: config.meta.defaultWhatsAppToken,
    }),
    heldSends: new HeldSends({ redis, prefix: config.queuePrefix }),
    graph,
    killSwitch,
    responder,
    memory: new ConversationMemory(redis, {
      prefix: config.queuePrefix,
      shards,
      sealer,
      maxTurns: config.ai.historyTurns,
      maxAgeMs: config.ai.historyMaxAgeMs,
    }),
    shards,
    outboundQueue,
    maintenanceQueue,
    redisOutage,
    bullPrefix: prefix,
    async close() {
      // At shutdown each resource is closed whatever became of the one before; a failure changes no
      // state of the pipeline (the last counter flush at worst, which is what counters.stop tries).
      await counters.stop().catch(() => {});
      await latency.stop().catch(() => {});
      await Promise.allSettled([outboundQueue.close(), maintenanceQueue.close()]);
      await graph.close().catch(() => {});
      await dbh.close().catch(() => {});
      redis.disconnect();
    },
  };
}
