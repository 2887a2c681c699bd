// Fakes nothing: the real API app (Fastify inject) answers Meta's verification handshake (https://developers.facebook.com/docs/graph-api/webhooks/getting-started/#verification-requests).
import t from 'tap';
import { WEBHOOK_PATHS } from '../../apps/api/src/routes/webhook/index.js';
import { buildTestApp } from '../helpers/app.js';

t.test('verification handshake on every webhook path', async (t) => {
  const ctx = await buildTestApp(t, 'wh-hs', { REQUIRE_HTTPS: 'true' });
  const token = ctx.env.FACEBOOK_VERIFY_TOKEN as string;
  const q = (params: Record<string, string | string[]>) => {
    const sp = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) for (const one of [v].flat()) sp.append(k, one);
    return sp.toString();
  };

  t.same([...WEBHOOK_PATHS], ['/webhook', '/webhook/messenger', '/webhook/instagram', '/webhook/whatsapp']);
  for (const path of WEBHOOK_PATHS) {
    for (const challenge of ['1158201444', '0123', '1e3', '-1', 'abc DEF', 'ünï©ødé', '']) {
      const res = await ctx.app.inject({
        method: 'GET',
        url: `${path}?${q({ 'hub.mode': 'subscribe', 'hub.verify_token': token, 'hub.challenge': challenge })}`,
      });
      t.equal(res.statusCode, 200, `${path} ${JSON.stringify(challenge)}`);
      t.equal(res.body, challenge, 'the challenge exactly: not JSON, not a number, no newline');
      t.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
    }
  }

  const refused: Array<[string, Record<string, string | string[]>]> = [
    ['wrong token', { 'hub.mode': 'subscribe', 'hub.verify_token': `${token}x`, 'hub.challenge': '1' }],
    ['token prefix', { 'hub.mode': 'subscribe', 'hub.verify_token': token.slice(0, -1), 'hub.challenge': '1' }],
    ['empty token', { 'hub.mode': 'subscribe', 'hub.verify_token': '', 'hub.challenge': '1' }],
    ['no token', { 'hub.mode': 'subscribe', 'hub.challenge': '1' }],
    ['wrong mode', { 'hub.mode': 'unsubscribe', 'hub.verify_token': token, 'hub.challenge': '1' }],
    ['no mode', { 'hub.verify_token': token, 'hub.challenge': '1' }],
    ['no challenge', { 'hub.mode': 'subscribe', 'hub.verify_token': token }],
    ['repeated token', { 'hub.mode': 'subscribe', 'hub.verify_token': [token, token], 'hub.challenge': '1' }],
    ['repeated challenge', { 'hub.mode': 'subscribe', 'hub.verify_token': token, 'hub.challenge': ['1', '2'] }],
    ['repeated mode', { 'hub.mode': ['subscribe', 'subscribe'], 'hub.verify_token': token, 'hub.challenge': '1' }],
    ['nothing', {}],
  ];
  for (const [what, params] of refused) {
    const res = await ctx.app.inject({ method: 'GET', url: `/webhook?${q(params)}` });
    t.equal(res.statusCode, 403, what);
    t.notOk(res.body.includes(token), 'the token is never echoed');
  }

  // The handshake is a GET over whatever scheme the proxy used; HTTPS enforcement concerns event delivery.
  const joined = ctx.logs.join('\n');
  t.notOk(joined.includes(token), 'the verify token appears in no log line');
  t.ok(
    ctx.logs.some((l) => l.includes('handshake accepted')),
    'accepted handshakes are logged',
  );
  t.ok(
    ctx.logs.some((l) => l.includes('handshake refused')),
    'refused handshakes are logged',
  );
});
