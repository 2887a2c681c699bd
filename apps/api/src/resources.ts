import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { KillSwitch, killSwitchKey } from '@switchboard/ai';
import type { Config } from '@switchboard/config';
import { aiSwitchStore, createDb, type DbHandle } from '@switchboard/db';
import { Counters, countersKey, LatencySamples } from '@switchboard/observability';
import { ConversationMemory, HeldSends, PageInstructionsStore, PageTokenStore } from '@switchboard/pages';
import { Sealer } from '@switchboard/privacy';
import {
  bullPrefix,
  createProducerConnection,
  defineSentMarkerScripts,
  QueueShards,
  QUEUES,
  ShardedQueue,
} from '@switchboard/queue';

/**
 * Everything the API process connects to, created in one place and closed in reverse order.
 * Tests build the same thing against their own database and Redis prefix.
 */
export interface ApiResources {
  redis: Redis;
  dbh: DbHandle;
  /** The queue shards (QUEUE_SHARDS): which hash tag each conversation's keys and jobs carry. */
  shards: QueueShards;
  /** Inbound and send jobs, each added to its conversation's shard; reads see every shard. */
  inboundQueue: ShardedQueue;
  outboundQueue: ShardedQueue;
  maintenanceQueue: Queue;
  sealer: Sealer;
  counters: Counters;
  latency: LatencySamples;
  killSwitch: KillSwitch;
  pages: PageTokenStore;
  heldSends: HeldSends;
  /** Each page's instructions for the assistant (the ops API sets and reads them). */
  instructions: PageInstructionsStore;
  /** The texts conversations keep for the model (the ops API opens and erases them). */
  memory: ConversationMemory;
  close(): Promise<void>;
}

export function createApiResources(config: Config): ApiResources {
  const redis = createProducerConnection(config.redisCluster ?? config.redisUrl);
  // An error event without a listener would crash the process; reconnection is automatic.
  redis.on('error', () => {});
  // Ingest notes Meta's echoes of our sends on their sent markers.
  defineSentMarkerScripts(redis);
  const dbh = createDb(config.databaseUrl, { applicationName: 'switchboard-api' });
  const prefix = bullPrefix(config.queuePrefix);
  const shards = new QueueShards(config.queuePrefix, config.queueShards);
  const inboundQueue = new ShardedQueue(QUEUES.inbound, shards, redis);
  const outboundQueue = new ShardedQueue(QUEUES.outbound, shards, redis);
  const maintenanceQueue = new Queue(QUEUES.maintenance, { connection: redis, prefix });
  for (const q of [inboundQueue, outboundQueue, maintenanceQueue]) q.on('error', () => {});
  const sealer = new Sealer(config.privacy.encryptionKey, config.privacy.previousEncryptionKeys);
  const counters = new Counters(redis, countersKey(config.queuePrefix)).start();
  const latency = new LatencySamples(redis, config.queuePrefix).start();
  return {
    redis,
    dbh,
    shards,
    inboundQueue,
    outboundQueue,
    maintenanceQueue,
    sealer,
    counters,
    latency,
    killSwitch: new KillSwitch(redis, killSwitchKey(config.queuePrefix), aiSwitchStore(dbh.db), config.ai.enabled),
    pages: new PageTokenStore({
      db: dbh.db,
      sealer,
      defaultToken: config.meta.defaultPageToken,
      defaultWhatsAppToken: config.meta.defaultWhatsAppToken,
    }),
    heldSends: new HeldSends({ redis, prefix: config.queuePrefix }),
    instructions: new PageInstructionsStore({
      db: dbh.db,
      redis,
      prefix: config.queuePrefix,
      sealer,
      defaultInstructions: config.ai.instructions,
    }),
    memory: new ConversationMemory(redis, {
      prefix: config.queuePrefix,
      shards,
      sealer,
      maxTurns: config.ai.historyTurns,
      maxAgeMs: config.ai.historyMaxAgeMs,
    }),
    async close() {
      // At shutdown each resource is closed whatever became of the one before; a failure changes no
      // state of the pipeline (the last counter flush at worst, which is what counters.stop tries).
      await counters.stop().catch(() => {});
      await latency.stop().catch(() => {});
      await Promise.allSettled([inboundQueue.close(), outboundQueue.close(), maintenanceQueue.close()]);
      await dbh.close().catch(() => {});
      redis.disconnect();
    },
  };
}
