import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '@switchboard/config';

/** The methods that change something; the others only read. */
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** `scheme://host[:port]` as browsers write it in Origin (default ports dropped), or undefined. */
function originOf(url: string): string | undefined {
  try {
    const origin = new URL(url).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

/**
 * Refuses state-changing requests that a browser sends on behalf of another site. A browser attaches
 * the Basic credentials it has cached for this host to any request to it, whichever page made it, so
 * without this a foreign page could toggle the AI, replay dead letters or spend on AI pings with an
 * operator's login. A request is refused (403 `cross_site_request`) when its Fetch Metadata says
 * `Sec-Fetch-Site: cross-site`, or its `Origin` is neither the request's own origin nor one of
 * CORS_ORIGINS (`Origin: null`, from sandboxed frames and opaque redirects, is foreign too).
 * Clients that are not browsers send neither header and pass; so does the dashboard, whose
 * fetches are same-origin. Reads are not refused: a foreign page cannot read their answers.
 */
async function crossSiteGuard(app: FastifyInstance, opts: { config: Config }): Promise<void> {
  const allowed = new Set(opts.config.http.corsOrigins.map((o) => originOf(o)).filter((o) => o !== undefined));

  const ownOrigin = (request: FastifyRequest) => originOf(`${request.protocol}://${request.host}`);

  app.addHook('onRequest', async (request, reply) => {
    if (!STATE_CHANGING.has(request.method)) return;
    const site = request.headers['sec-fetch-site'];
    const origin = request.headers.origin;
    let foreign = site === 'cross-site';
    if (!foreign && origin !== undefined) {
      const given = originOf(origin);
      foreign = given === undefined || (given !== ownOrigin(request) && !allowed.has(given));
    }
    if (!foreign) return;
    request.log.warn(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched' },
      'cross-site request refused',
    );
    return reply
      .code(403)
      .send({ error: 'cross_site_request', message: 'state-changing requests from another site are refused' });
  });
}

export const crossSiteGuardPlugin = fp(crossSiteGuard, { name: 'switchboard-cross-site-guard' });
