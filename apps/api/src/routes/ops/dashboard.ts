import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { DASHBOARD_SECTIONS } from '../../dashboard/sections.js';
import { escapeHtml } from '../../views/escape-html.js';
import { renderDashboard } from '../../views/dashboard.js';
import type { OpsDeps } from './ops-deps.js';

/** The page's script, read once: the same file from src/ (tests) and dist/ (deployments). */
const SCRIPT = readFileSync(new URL('../../../public/dashboard.js', import.meta.url));
/** Part of the script's URL, so a browser may keep it for good and still fetch a new release's. */
const SCRIPT_VERSION = createHash('sha256').update(SCRIPT).digest('hex').slice(0, 12);

/**
 * GET /ops/dashboard: one server-rendered page for the people who run the bot. Each section loads
 * on its own: one that cannot (PostgreSQL out of reach, say) says so, and the others still show.
 */
export async function dashboardRoutes(app: FastifyInstance, deps: OpsDeps): Promise<void> {
  app.get('/dashboard', { schema: { response: { 200: { type: 'string' } } } }, async (request, reply) => {
    const rendered = await Promise.all(
      DASHBOARD_SECTIONS.map(async (s) => {
        try {
          const data = await s.load(deps);
          return { id: s.id, heading: s.heading ? s.heading(data) : escapeHtml(s.title), body: s.render(data) };
        } catch (err) {
          request.log.warn({ err, section: s.id }, 'dashboard section could not be loaded');
          return {
            id: s.id,
            heading: escapeHtml(s.title),
            body: '<p class="bad">This part of the page could not be loaded just now; it is tried again at the next refresh.</p>',
          };
        }
      }),
    );
    // The page shows live state: never from a cache.
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(renderDashboard(new Date().toISOString(), `/ops/dashboard.js?v=${SCRIPT_VERSION}`, rendered));
  });
  app.get('/dashboard.js', async (_request, reply) =>
    reply
      .type('text/javascript; charset=utf-8')
      .header('cache-control', 'private, max-age=31536000, immutable')
      .send(SCRIPT),
  );
}
