import type { FastifyInstance } from 'fastify';

/** A switchboard's plug, in the dashboard's blue; small enough to send on every tab's first load. */
const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1a73e8"/><circle cx="11" cy="12" r="3" fill="#fff"/><circle cx="21" cy="12" r="3" fill="#fff"/><path d="M9 21h14" stroke="#fff" stroke-width="3" stroke-linecap="round"/></svg>`;

/**
 * The bare address a person types: `/` takes them to the dashboard (which asks for the ops login),
 * and a browser's automatic `/favicon.ico` gets an icon rather than a 404 in the console.
 */
export async function rootRoutes(app: FastifyInstance): Promise<void> {
  app.get('/', async (_request, reply) => reply.redirect('/ops/dashboard', 302));
  app.get('/favicon.ico', async (_request, reply) =>
    reply.type('image/svg+xml').header('cache-control', 'public, max-age=86400').send(ICON),
  );
}
