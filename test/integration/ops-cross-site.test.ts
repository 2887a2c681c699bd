// Fakes nothing: the real API app (Fastify inject) against real PostgreSQL and Redis; the browser is played by the headers a browser sends (Origin, Sec-Fetch-Site).
import t from 'tap';
import { authFailureKey } from '../../apps/api/src/login-limiter.js';
import { buildTestApp } from '../helpers/app.js';

const STATE_CHANGING: Array<{ method: 'POST' | 'PUT'; url: string; payload?: unknown }> = [
  { method: 'POST', url: '/ops/tokens/check' },
  { method: 'POST', url: '/ops/ai/ping' },
  { method: 'POST', url: '/ops/dlq/outbound:1/retry' },
  { method: 'POST', url: '/ops/ai/toggle', payload: { enabled: false } },
  { method: 'POST', url: '/ops/dlq/retry', payload: { dry_run: true } },
  {
    method: 'PUT',
    url: '/ops/pages/100000000000001',
    payload: { access_token: 'EAAB-cross-site', channel: 'messenger' },
  },
];

t.test(
  'state-changing ops requests from another site are refused; same-origin, allowed origins and non-browser clients pass',
  async (t) => {
    const ctx = await buildTestApp(t, 'ops-xsite', {
      CORS_ORIGINS: 'https://tools.example.com',
      TRUST_PROXY: 'loopback',
    });
    const auth = {
      authorization: `Basic ${Buffer.from(`${ctx.env.ADMIN_USER}:${ctx.env.ADMIN_PASS}`).toString('base64')}`,
    };
    const refused = { error: 'cross_site_request', message: 'state-changing requests from another site are refused' };

    for (const route of STATE_CHANGING) {
      const what = `${route.method} ${route.url}`;
      const base = { method: route.method, url: route.url, ...(route.payload ? { payload: route.payload } : {}) };
      const foreign = await ctx.app.inject({ ...base, headers: { ...auth, origin: 'https://evil.example' } });
      t.equal(foreign.statusCode, 403, `${what}: a foreign Origin → 403`);
      t.same(foreign.json(), refused);
      const crossSite = await ctx.app.inject({ ...base, headers: { ...auth, 'sec-fetch-site': 'cross-site' } });
      t.equal(crossSite.statusCode, 403, `${what}: Sec-Fetch-Site cross-site → 403`);
      const nullOrigin = await ctx.app.inject({ ...base, headers: { ...auth, origin: 'null' } });
      t.equal(nullOrigin.statusCode, 403, `${what}: Origin null (a sandboxed frame) → 403`);
      const otherPort = await ctx.app.inject({ ...base, headers: { ...auth, origin: 'http://localhost:8080' } });
      t.equal(otherPort.statusCode, 403, `${what}: the same host on another port is another origin`);
    }

    const anonymous = await ctx.app.inject({
      method: 'POST',
      url: '/ops/ai/ping',
      headers: { origin: 'https://evil.example' },
    });
    t.equal(anonymous.statusCode, 403, 'refused before the credentials are looked at');
    t.equal(await ctx.resources.redis.get(authFailureKey(ctx.prefix, '127.0.0.1')), null);

    const toggle = (headers: Record<string, string>) =>
      ctx.app.inject({
        method: 'POST',
        url: '/ops/ai/toggle',
        payload: { enabled: true },
        headers: { ...auth, ...headers },
      });
    t.equal((await toggle({})).statusCode, 200, 'no Origin, no Fetch Metadata (curl, scripts) → served');
    t.equal(
      (await toggle({ origin: 'http://localhost', 'sec-fetch-site': 'same-origin' })).statusCode,
      200,
      "the page's own origin (the dashboard) → served",
    );
    t.equal(
      (await toggle({ origin: 'https://tools.example.com', 'sec-fetch-site': 'cross-site' })).statusCode,
      403,
      'Sec-Fetch-Site cross-site wins even for an allowed origin',
    );
    t.equal(
      (await toggle({ origin: 'https://tools.example.com', 'sec-fetch-site': 'same-site' })).statusCode,
      200,
      'an origin of CORS_ORIGINS → served',
    );
    t.equal((await toggle({ 'sec-fetch-site': 'none' })).statusCode, 200, 'a request the user made directly → served');
    t.equal(
      (
        await toggle({
          origin: 'https://ops.example.com',
          'x-forwarded-proto': 'https',
          'x-forwarded-host': 'ops.example.com',
        })
      ).statusCode,
      200,
      'behind a trusted proxy the own origin is the one the proxy forwards',
    );
    t.equal(
      (await toggle({ origin: 'https://ops.example.com', host: 'ops.example.com' })).statusCode,
      403,
      'https page, plain-http request: another origin',
    );

    const read = await ctx.app.inject({
      method: 'GET',
      url: '/ops/ai/status',
      headers: { ...auth, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    });
    t.equal(read.statusCode, 200, 'reads are not refused (a foreign page cannot read the answer without CORS)');
    t.equal(
      (await ctx.resources.killSwitch.isEnabled()) === true,
      true,
      'none of the refused toggles reached the kill switch',
    );
    t.notOk(ctx.logs.join('\n').includes(ctx.env.ADMIN_PASS as string));
  },
);
