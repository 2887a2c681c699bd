import type { FastifyInstance } from 'fastify';
import { renderDashboard } from '../../views/dashboard.js';
import { checkHealth } from '../health.js';
import { aiStatus } from './ai.js';
import { listDeadLetters } from './dead-letters.js';
import type { OpsDeps } from './ops-deps.js';
import { overview } from './overview.js';
import { pageTokens } from './token-summary.js';

/** Dead letters shown on the page; the rest are in GET /ops/dlq. */
const DASHBOARD_DLQ_ROWS = 50;

/** GET /ops/dashboard: one server-rendered page for whoever is on call (no build step, no assets). */
export async function dashboardRoutes(app: FastifyInstance, deps: OpsDeps): Promise<void> {
  app.get('/dashboard', { schema: { response: { 200: { type: 'string' } } } }, async (_request, reply) => {
    const [health, over, ai, deadLetters, pages] = await Promise.all([
      checkHealth(deps.config, deps.resources),
      overview(deps),
      aiStatus(deps),
      listDeadLetters(deps.resources, DASHBOARD_DLQ_ROWS),
      pageTokens(deps),
    ]);
    const html = renderDashboard({
      generatedAt: new Date().toISOString(),
      health,
      messages: over.message_counts,
      users: over.system_stats.total_users,
      repliesSent: over.system_stats.replies_sent,
      queues: over.queues,
      ai,
      token: over.facebook_token,
      pages,
      deadLetters,
    });
    // The page shows live state: never from a cache.
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
  });
}
