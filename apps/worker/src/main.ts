import { writeFile } from 'node:fs/promises';
import { setPriority } from 'node:os';
import { loadConfigOrExit } from '@switchboard/config';
import { createLogger, outageTracker, watchOutage } from '@switchboard/observability';
import { checkShardLayout, PLAIN_CLIENT_ON_CLUSTER, parseShardSet, watchForClusterNode } from '@switchboard/queue';
import { scheduleMaintenance } from './processors/maintenance.js';
import { startRedisStateRecovery } from './redis-state-recovery.js';
import { WorkerRegistry } from './registry.js';
import { createWorkerResources } from './resources.js';

/**
 * A worker process: config → logger → resources → registry.start(), and the recovery of what Redis
 * may lose besides jobs (redis-state-recovery.ts). On SIGTERM/SIGINT it stops
 * taking jobs, finishes the active ones — or, at SHUTDOWN_TIMEOUT_MS, leaves them to other workers,
 * which take them over when their locks expire — closes PostgreSQL and Redis, and exits.
 */
/** How often the worker checks that PostgreSQL answers. */
const DATABASE_WATCH_INTERVAL_MS = 5000;

const config = loadConfigOrExit();
const logger = createLogger({ level: config.logLevel, service: 'worker' });
for (const warning of config.warnings) logger.warn(warning);
// Yield the CPU to the webhook ingress on a shared host (WORKER_NICE, DEFAULT_WORKER_NICE). Only
// the calling thread's priority changes on Linux — the main thread, where the jobs' JavaScript runs,
// and the threads it starts later; raising one's own niceness needs no privilege.
if (config.worker.nice > 0) {
  try {
    setPriority(config.worker.nice);
  } catch (err) {
    logger.warn(
      { err: { message: (err as Error).message }, nice: config.worker.nice },
      'could not lower the worker CPU priority; running at normal priority',
    );
  }
}
const resources = createWorkerResources(config, logger);
await watchForClusterNode(resources.redis, config.redisCluster ?? config.redisUrl, () => {
  logger.fatal(PLAIN_CLIENT_ON_CLUSTER);
  process.exit(1);
});
let consumed: number[];
try {
  consumed = parseShardSet(config.worker.shards, config.queueShards);
} catch (err) {
  logger.fatal(`WORKER_SHARDS: ${(err as Error).message}`);
  process.exit(1);
}
// Jobs queued under another QUEUE_SHARDS would wait where no worker looks (shard-layout.ts).
const layout = await checkShardLayout(resources.redis, config.queuePrefix, config.queueShards, (recorded, n) =>
  logger.warn(
    { recorded, deadLetters: n },
    `the queues' previous layout (QUEUE_SHARDS=${recorded}) still holds dead letters, which /ops/dlq no longer shows`,
  ),
);
if (!layout.ok) {
  logger.fatal(
    { recorded: layout.recorded, configured: config.queueShards, pending: layout.pending },
    `QUEUE_SHARDS is ${config.queueShards} but ${layout.pending} jobs wait in the queues laid out for ` +
      `QUEUE_SHARDS=${layout.recorded}: drain them with workers on QUEUE_SHARDS=${layout.recorded} first`,
  );
  process.exit(1);
}
const registry = new WorkerRegistry(resources).start(consumed);
// PostgreSQL reports a failure only to the query that meets it: a probe every few seconds turns an
// outage into one line when it starts and one when it ends.
const stopDatabaseWatch = watchOutage(
  () => resources.dbh.probe(),
  outageTracker(logger, 'postgresql', config.databaseUrl),
  DATABASE_WATCH_INTERVAL_MS,
);
logger.info(
  {
    concurrency: config.worker.concurrency,
    nice: config.worker.nice,
    env: config.env,
    shards: consumed.length === config.queueShards ? `all ${config.queueShards}` : consumed.join(','),
  },
  'worker started',
);
scheduleMaintenance(resources.maintenanceQueue).catch((err: Error) =>
  logger.warn({ err: { message: err.message } }, 'scheduling maintenance failed; the recovery check retries'),
);
const recovery = startRedisStateRecovery(resources);

// Liveness for containers (no HTTP port here): touched while the event loop runs. Not tied to
// Redis: during a Redis outage the worker waits and resumes by itself, and restarting it would not help.
const heartbeatFile = config.worker.heartbeatFile;
const heartbeat = heartbeatFile
  ? setInterval(() => {
      // A beat that cannot be written leaves the file stale, which is what the health check reads.
      writeFile(heartbeatFile, String(Date.now())).catch(() => {});
    }, 5000)
  : undefined;

let closing = false;
async function shutdown(signal: string): Promise<void> {
  if (closing) return;
  closing = true;
  logger.info({ signal }, 'worker shutting down');
  clearInterval(heartbeat);
  recovery.stop();
  stopDatabaseWatch();
  // Leave a little of the deadline for closing connections.
  const closeWindowMs = 1000;
  const clean = await registry.closeAll(Math.max(500, config.worker.shutdownTimeoutMs - closeWindowMs));
  // Past the deadline, jobs still running hold connections: closing them must not wait for those.
  const closed = resources.close();
  if (clean) await closed;
  // Past the deadline the process exits whatever the close says.
  else await Promise.race([closed.catch(() => {}), new Promise((resolve) => setTimeout(resolve, closeWindowMs))]);
  logger.info(
    { clean },
    clean
      ? 'worker shut down'
      : 'worker shut down at the deadline; its unfinished jobs go to other workers when their locks expire',
  );
  process.exit(0);
}
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));
