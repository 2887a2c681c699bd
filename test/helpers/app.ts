import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../apps/api/src/app.js';
import { type ApiResources, createApiResources } from '../../apps/api/src/resources.js';
import { type Config, loadConfig } from '@switchboard/config';
import { createLogger, type Logger } from '@switchboard/observability';
import { testDatabase } from './db.js';
import { testEnv } from './env.js';
import { deletePrefix, uniquePrefix } from './redis.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface TestApp {
  app: FastifyInstance;
  config: Config;
  resources: ApiResources;
  env: Record<string, string>;
  databaseUrl: string;
  prefix: string;
  logs: string[];
}

/**
 * The real API application in-process (Fastify inject or a real listener), with its own database
 * and Redis prefix; everything is closed and removed at teardown. Log lines are captured so tests
 * can assert what was (and was not) logged.
 */
export async function buildTestApp(
  t: Teardown,
  label: string,
  extraEnv: Record<string, string | undefined> = {},
  shared?: { databaseUrl: string; prefix: string },
): Promise<TestApp> {
  const databaseUrl = shared?.databaseUrl ?? (await testDatabase(t, label));
  const prefix = shared?.prefix ?? uniquePrefix(label);
  const env = testEnv({ databaseUrl, prefix, LOG_LEVEL: 'info', ...extraEnv });
  const config = loadConfig(env);
  const logs: string[] = [];
  const logger: Logger = createLogger({
    level: config.logLevel,
    service: 'api',
    destination: { write: (line: string) => void logs.push(line) },
  });
  const resources = createApiResources(config);
  const app = await buildApp({ config, logger, resources });
  t.teardown(async () => {
    await app.close();
    // Counters and latency samples flush what they hold when they stop: stop them before the
    // prefix goes, or their last flush writes keys that outlive the test.
    await resources.counters.stop().catch(() => {});
    await resources.latency.stop().catch(() => {});
    // Likewise the queues: each writes its meta key once the connection is ready, which a fast
    // test can outrun — the write would then land after the prefix is gone. A closed queue writes
    // nothing more (and leaves the shared connection open for the deletion).
    await Promise.allSettled([
      resources.inboundQueue.close(),
      resources.outboundQueue.close(),
      resources.maintenanceQueue.close(),
    ]);
    if (!shared) await deletePrefix(resources.redis, prefix).catch(() => {});
    await resources.close();
  });
  return { app, config, resources, env, databaseUrl, prefix, logs };
}
