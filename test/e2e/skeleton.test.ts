// Fakes Meta's Graph API (a loopback HTTP server): the real one is unreachable from tests.
// Everything else is real: the API and worker run as the production processes (node dist/…),
// against a real PostgreSQL database and a real Redis with this file's own prefix.
import t from 'tap';
import postgres from 'postgres';
import { testDatabase } from '../helpers/db.js';
import { testEnv } from '../helpers/env.js';
import { startFakeGraph } from '../helpers/fake-graph.js';
import { eventually, freePort, startProcess, waitForHttp } from '../helpers/processes.js';
import { deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { messengerText, signedRequest } from '../helpers/sign.js';

const PAGE_ID = '100000000000011';
const USER_ID = '900000000000077';

t.test('a signed Messenger text travels webhook → queue → worker → Send API → PostgreSQL', async (t) => {
  const databaseUrl = await testDatabase(t, 'e2e_skeleton');
  const prefix = uniquePrefix('e2e-skeleton');
  const { redis } = await testRedis(t, 'e2e-skeleton-conn');
  t.teardown(() => deletePrefix(redis, prefix));
  const port = await freePort();
  const env = testEnv({ databaseUrl, prefix, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' });
  const graph = await startFakeGraph({ appSecret: env.FACEBOOK_APP_SECRET as string });
  t.teardown(() => graph.close());
  env.GRAPH_API_BASE_URL = graph.url;
  env.FACEBOOK_PAGE_ACCESS_TOKEN = 'test-page-token-default';
  env.AI_ENABLED = 'false';

  const api = startProcess(t, 'api', env);
  const worker = startProcess(t, 'worker', env);
  await waitForHttp(`http://127.0.0.1:${port}/health`);

  const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { database: string; redis: string };
  t.equal(health.database, 'connected');
  t.equal(health.redis, 'connected');

  const text = 'Grüße aus Köln — habt ihr offen? 🙂';
  const req = signedRequest(
    env.FACEBOOK_APP_SECRET,
    messengerText({ pageId: PAGE_ID, senderId: USER_ID, mid: 'm_e2e_skeleton_1', text }),
  );
  const res = await fetch(`http://127.0.0.1:${port}/webhook`, { method: 'POST', headers: req.headers, body: req.body });
  t.equal(res.status, 200);
  t.equal(await res.text(), 'EVENT_RECEIVED');

  const [send] = await graph.waitForSends(1, 15_000);
  t.ok(send, 'the Send API was called');
  t.equal(send?.pageId, PAGE_ID);
  t.equal(send?.recipientId, USER_ID);
  t.equal(send?.messagingType, 'RESPONSE');
  t.equal(send?.accessToken, 'test-page-token-default');
  t.ok(send?.appsecretProof, 'appsecret_proof sent (the fake verifies it)');
  t.equal(send?.text, 'Thanks for your message! We have received it and will get back to you as soon as we can.');

  const sql = postgres(databaseUrl, { max: 1 });
  t.teardown(() => sql.end());
  const [reply] = await eventually(
    async () => {
      const rows = await sql`select path, reason, status, parts, graph_message_ids from replies`;
      return rows.length === 1 && rows[0]?.status === 'sent' ? rows : null;
    },
    10_000,
    'reply recorded as sent',
  );
  t.equal(reply?.path, 'fallback');
  t.equal(reply?.reason, 'kill_switch');
  t.same(reply?.graph_message_ids, [send?.messageId]);
  const [event] = await sql`select status, outcome, sender_hash from events`;
  t.equal(event?.status, 'processed');
  t.equal(event?.outcome, 'replied');
  t.notMatch(String(event?.sender_hash), USER_ID, 'only the hash of the sender is stored');
  const [user] = await sql`select message_count from users`;
  t.equal(Number(user?.message_count), 1);

  // The same delivery again is acknowledged and not answered twice.
  const again = await fetch(`http://127.0.0.1:${port}/webhook`, {
    method: 'POST',
    headers: req.headers,
    body: req.body,
  });
  t.equal(again.status, 200);
  await new Promise((r) => setTimeout(r, 500));
  t.equal(graph.sends.length, 1, 'a duplicate delivery gets no second reply');

  // Graceful shutdown on SIGTERM: both exit 0.
  const [apiExit, workerExit] = await Promise.all([api.stop('SIGTERM'), worker.stop('SIGTERM')]);
  t.equal(apiExit.code, 0, 'api exits cleanly');
  t.equal(workerExit.code, 0, 'worker exits cleanly');
  const logs = [...api.output, ...worker.output].join('');
  t.notMatch(logs, USER_ID, 'no raw user id in the logs');
  t.notMatch(logs, 'Köln', 'no message text in the logs');
  t.notMatch(logs, 'test-page-token-default', 'no token in the logs');
  t.notMatch(logs, env.FACEBOOK_APP_SECRET, 'no app secret in the logs');
});
