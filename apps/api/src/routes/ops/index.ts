import type { FastifyInstance } from 'fastify';
import { BudgetGuard, createResponder } from '@switchboard/ai';
import type { Config } from '@switchboard/config';
import { MetricsExporter } from '@switchboard/observability';
import { crossSiteGuardPlugin } from '../../plugins/cross-site-guard.js';
import { opsAuthPlugin } from '../../plugins/ops-auth.js';
import type { ApiResources } from '../../resources.js';
import { aiRoutes } from './ai.js';
import { auditLogRoutes } from './audit-log.js';
import { conversationRoutes } from './conversations.js';
import { dashboardRoutes } from './dashboard.js';
import { dlqRoutes } from './dlq.js';
import { eventRoutes } from './events.js';
import { instructionsRoutes } from './instructions.js';
import { messageStatsRoutes } from './message-stats.js';
import { metricsRoutes } from './metrics.js';
import type { OpsDeps } from './ops-deps.js';
import { overviewRoutes } from './overview.js';
import { telemetryRoutes } from './telemetry.js';
import { tokenRoutes } from './tokens.js';

/**
 * The operator plane: `/ops*` and `/metrics`, in one encapsulated scope whose onRequest hooks are
 * the cross-site refusal (plugins/cross-site-guard.ts) and then the Basic auth
 * (plugins/ops-auth.ts), so no route here can be reached without them. A browser's cross-site
 * request is refused before its cached credentials are even looked at.
 */
export async function opsRoutes(
  app: FastifyInstance,
  opts: { config: Config; resources: ApiResources },
): Promise<void> {
  const { config, resources } = opts;
  await app.register(crossSiteGuardPlugin, { config });
  await app.register(opsAuthPlugin, { config, resources });

  const deps: OpsDeps = {
    config,
    resources,
    // Built like the workers' (same keys, same counters hash), used here only for ping.
    responder: createResponder({
      redis: resources.redis,
      prefix: config.queuePrefix,
      settings: config.ai,
      killSwitch: resources.killSwitch,
      counters: resources.counters,
    }),
    // The key prefix createResponder gives its BudgetGuard: both must read the same spend.
    budget: new BudgetGuard(resources.redis, `${config.queuePrefix}:ai:budget`, config.ai),
    metrics: new MetricsExporter(),
  };

  await app.register(
    async (ops) => {
      await ops.register(overviewRoutes, deps);
      await ops.register(aiRoutes, deps);
      await ops.register(telemetryRoutes, deps);
      await ops.register(eventRoutes, deps);
      await ops.register(conversationRoutes, deps);
      await ops.register(dlqRoutes, deps);
      await ops.register(auditLogRoutes, deps);
      await ops.register(messageStatsRoutes, deps);
      await ops.register(dashboardRoutes, deps);
    },
    { prefix: '/ops' },
  );
  // Their routes carry their full `/ops/...` paths.
  await app.register(tokenRoutes, { config, resources });
  await app.register(instructionsRoutes, { resources });
  await app.register(metricsRoutes, deps);
}
