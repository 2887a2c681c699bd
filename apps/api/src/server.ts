import { loadConfigOrExit } from '@switchboard/config';
import { createLogger } from '@switchboard/observability';
import { buildApp } from './app.js';
import { createApiResources } from './resources.js';

/**
 * The API process: config → logger → resources → app → listen. On SIGTERM/SIGINT it stops
 * accepting, lets in-flight requests finish, then closes producers, PostgreSQL and Redis — all
 * within SHUTDOWN_TIMEOUT_MS (below the orchestrator's grace period), then exits.
 */
const config = loadConfigOrExit();
const logger = createLogger({ level: config.logLevel, service: 'api' });
for (const warning of config.warnings) logger.warn(warning);
const resources = createApiResources(config);
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
