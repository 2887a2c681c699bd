import { loadConfigOrExit } from '@switchboard/config';
import { createLogger, outageTracker, reasonOf, watchOutage } from '@switchboard/observability';
import { PLAIN_CLIENT_ON_CLUSTER, redisTargetLabel, watchForClusterNode } from '@switchboard/queue';
import { buildApp } from './app.js';
import { createApiResources } from './resources.js';

/**
 * The API process: config → logger → resources → app → listen. On SIGTERM/SIGINT it stops
 * accepting, lets in-flight requests finish, then closes producers, PostgreSQL and Redis — all
 * within SHUTDOWN_TIMEOUT_MS (below the orchestrator's grace period), then exits.
 */
/** How often the API checks that PostgreSQL answers. */
const DATABASE_WATCH_INTERVAL_MS = 5000;

const config = loadConfigOrExit();
const logger = createLogger({ level: config.logLevel, service: 'api' });
for (const warning of config.warnings) logger.warn(warning);
const resources = createApiResources(config);
// Redis and PostgreSQL outages: one line when one starts, one when it ends, naming host:port.
const redisTarget = config.redisCluster ?? config.redisUrl;
const redisOutage = outageTracker(logger, 'redis', redisTargetLabel(redisTarget));
resources.redis.on('error', (err) => redisOutage.down(reasonOf(err)));
resources.redis.on('ready', () => redisOutage.up());
await watchForClusterNode(resources.redis, redisTarget, () => {
  logger.fatal(PLAIN_CLIENT_ON_CLUSTER);
  process.exit(1);
});
const databaseOutage = outageTracker(logger, 'postgresql', config.databaseUrl);

// PostgreSQL is checked before listening, and an unreachable one is said so, with host:port and the
// driver's reason. The API starts anyway: webhooks need only Redis, so Meta's deliveries are still
// acknowledged and queued durably while the database is down (Meta gives up on an endpoint that
// keeps failing, and keeps no copy); /health reports `database: error` and the operator routes fail
// until it is back, which the watch below logs.
const databaseProblem = await resources.dbh.probe();
if (databaseProblem !== undefined) {
  databaseOutage.down(databaseProblem);
  logger.warn(
    'starting without PostgreSQL: webhooks are still accepted and queued; /health reports database "error" and the /ops routes fail until it answers',
  );
}
const stopDatabaseWatch = watchOutage(() => resources.dbh.probe(), databaseOutage, DATABASE_WATCH_INTERVAL_MS);
const app = await buildApp({ config, logger, resources });

let closing = false;
async function shutdown(signal: string): Promise<void> {
  if (closing) return;
  closing = true;
  logger.info({ signal }, 'shutting down');
  const deadline = setTimeout(() => {
    logger.error('shutdown deadline passed; exiting');
    process.exit(1);
  }, config.worker.shutdownTimeoutMs);
  deadline.unref();
  stopDatabaseWatch();
  try {
    await app.close();
    await resources.close();
    logger.info('shut down cleanly');
    process.exit(0);
  } catch (err) {
    logger.error({ err }, 'shutdown failed');
    process.exit(1);
  }
}
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));

try {
  const address = await app.listen({ host: config.host, port: config.port });
  logger.info({ address, env: config.env, https_required: config.http.requireHttps }, 'api listening');
} catch (err) {
  logger.fatal({ err }, 'api failed to start');
  await resources.close();
  process.exit(1);
}
