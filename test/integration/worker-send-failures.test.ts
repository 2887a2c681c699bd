// Fakes Meta's Graph API (a loopback HTTP server scripted to fail like Meta does): the real one is
// unreachable and cannot be made to fail on demand. API and worker are the real processes.
import { createHmac } from 'node:crypto';
import t from 'tap';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createDb } from '@switchboard/db';
import { HeldSends, PageTokenStore, releaseHeldSends } from '@switchboard/pages';
import { Sealer } from '@switchboard/privacy';
import { bullPrefix, QUEUES } from '@switchboard/queue';
import { countersKey } from '@switchboard/observability';
import { eventually } from '../helpers/processes.js';
import { startPipeline, TEST_PAGE_TOKEN } from '../helpers/pipeline.js';
import { messengerText } from '../helpers/sign.js';

const PAGE = '100000000000041';
let seq = 0;
const mid = () => `m_send_fail_${++seq}_${Date.now()}`;

t.test('Send API failures: retried, dead-lettered, held — and each reply delivered once', async (t) => {
  const p = await startPipeline(t, 'worker_send_failures', { env: { AI_ENABLED: 'false' } });
  const redis = new Redis(p.env.REDIS_URL as string, { maxRetriesPerRequest: null });
  t.teardown(() => redis.disconnect());
  const outbound = new Queue(QUEUES.outbound, { connection: redis, prefix: bullPrefix(p.prefix) });
  t.teardown(() => outbound.close());
  const sendsTo = (user: string) => p.graph.sends.filter((s) => s.recipientId === user);
  const attemptsTo = () => p.graph.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/messages')).length;

  await t.test('5xx and 613 (throttled) are retried and delivered once', async (t) => {
    p.graph.failNextSends({ status: 500, code: 2, message: 'Service temporarily unavailable' });
    const user = '900000000000201';
    await p.post(messengerText({ pageId: PAGE, senderId: user, mid: mid(), text: 'hi' }));
    await eventually(async () => sendsTo(user).length === 1, 15_000, 'delivery after a 5xx');

    p.graph.failNextSends({ status: 400, code: 613, message: 'Calls to this api have exceeded the rate limit.' });
    const user2 = '900000000000202';
    const before = attemptsTo();
    await p.post(messengerText({ pageId: PAGE, senderId: user2, mid: mid(), text: 'hi' }));
    await eventually(async () => sendsTo(user2).length === 1, 30_000, 'delivery after a 613');
    t.equal(attemptsTo() - before, 2, 'one failed attempt, one delivery');
    await new Promise((r) => setTimeout(r, 500));
    t.equal(sendsTo(user).length, 1, 'delivered once after 5xx');
    t.equal(sendsTo(user2).length, 1, 'delivered once after 613');
    const counters = await redis.hgetall(countersKey(p.prefix));
    t.ok(Number(counters['sends{result="retried"}']) >= 2, 'retries counted');
  });

  await t.test(
    'a retried send keeps its place: the next message of the conversation is answered after it',
    async (t) => {
      // The reply's metadata names its event (sb:<event id>:<part>); an event id is the HMAC of the
      // channel, page and mid under PSID_HASH_SECRET (apps/api ingest).
      const eventIdOf = (m: string) =>
        createHmac('sha256', p.env.PSID_HASH_SECRET).update(`messenger:${PAGE}:${m}`).digest('hex').slice(0, 32);
      const user = '900000000000209';
      const [first, second] = [mid(), mid()];
      const at = Date.now();
      const before = attemptsTo();
      p.graph.failNextSends({ status: 500, code: 2, message: 'Service temporarily unavailable' });
      await p.post(messengerText({ pageId: PAGE, senderId: user, mid: first, text: 'first', timestamp: at }));
      await eventually(async () => attemptsTo() > before, 10_000, "the first reply's failed attempt");
      // The second message arrives while the first reply waits for its retry.
      await p.post(messengerText({ pageId: PAGE, senderId: user, mid: second, text: 'second', timestamp: at + 500 }));
      const sent = await eventually(
        async () => (sendsTo(user).length === 2 ? sendsTo(user) : null),
        30_000,
        'both replies',
      );
      t.same(
        sent.map((s) => s.metadata),
        [`sb:${eventIdOf(first)}:0`, `sb:${eventIdOf(second)}:0`],
        "the first message's reply first, though its send was retried",
      );
    },
  );

  await t.test(
    '10/2018278 (outside the 24 h window) is tried once, dead-lettered, and delivered after replay',
    async (t) => {
      p.graph.failNextSends({
        status: 400,
        code: 10,
        subcode: 2018278,
        message: 'This message is sent outside of allowed window.',
      });
      const user = '900000000000203';
      const before = attemptsTo();
      await p.post(messengerText({ pageId: PAGE, senderId: user, mid: mid(), text: 'late' }));
      const [failed] = await eventually(
        async () => {
          const jobs = await outbound.getFailed();
          return jobs.length === 1 ? jobs : null;
        },
        15_000,
        'a dead-lettered job',
      );
      t.equal(attemptsTo() - before, 1, 'tried exactly once');
      t.match(
        failed?.failedReason,
        /^graph 10\/2018278 \(status 400\): This message is sent outside of allowed window/,
      );
      t.equal(failed?.attemptsMade, 1);
      const [event] = await eventually(
        async () => {
          const rows = await p.sql`select status, last_error_code from events where status = 'dead_letter'`;
          return rows.length === 1 ? rows : null;
        },
        5000,
        'event marked dead_letter',
      );
      t.equal(event?.last_error_code, 10);
      t.equal(sendsTo(user).length, 0);

      await failed?.retry('failed');
      await eventually(async () => sendsTo(user).length === 1, 15_000, 'delivery after replay');
      await new Promise((r) => setTimeout(r, 300));
      t.equal(sendsTo(user).length, 1, 'delivered exactly once after replay');
      const [reply] =
        await p.sql`select status from replies where error_code = 10 or status = 'sent' order by created_at desc limit 1`;
      t.equal(reply?.status, 'sent');
    },
  );

  await t.test("190 marks the token invalid and holds the page's sends until a new token arrives", async (t) => {
    p.graph.failSendsForToken(TEST_PAGE_TOKEN, { status: 400, code: 190 });
    const users = ['900000000000204', '900000000000205'];
    for (const user of users)
      await p.post(messengerText({ pageId: PAGE, senderId: user, mid: mid(), text: 'anyone there?' }));
    await eventually(
      async () => {
        const rows = await p.sql`select count(*)::int as n from replies where status = 'held'`;
        return rows[0]?.n === 2;
      },
      15_000,
      'two held replies',
    );
    const [page] = await p.sql`select token_status from pages where page_id = ${PAGE}`;
    t.equal(page?.token_status, 'invalid');
    const attempts = attemptsTo();
    await new Promise((r) => setTimeout(r, 1500));
    t.equal(attemptsTo(), attempts, 'no retry loop against Meta while held');
    const health = (await (await fetch(`${p.apiUrl}/health`)).json()) as { status: string };
    t.equal(health.status, 'degraded', 'health is degraded while a page token is invalid');

    // What PUT /ops/pages/:pageId does: register the new token, release the held sends.
    const dbh = createDb(p.databaseUrl);
    t.teardown(() => dbh.close());
    const pages = new PageTokenStore({
      db: dbh.db,
      sealer: new Sealer(Buffer.from(p.env.ENCRYPTION_KEY as string, 'base64')),
    });
    const heldSends = new HeldSends({ redis, prefix: p.prefix });
    await pages.register(PAGE, 'messenger', 'test-page-token-new');
    const jobsBefore = new Set((await outbound.getJobs()).map((j) => j.id));
    // Two releases can read the same holds (the API registering the token while a worker's check
    // finds it valid): the second reads them before the first drops them. Played here in turn, the
    // holds put back as they were read, and still one job per send.
    const heldKey = `${p.prefix}:held:${PAGE}`;
    const asRead = await redis.hgetall(heldKey);
    const deps = { pages, heldSends, outbound, maxAttempts: 8 };
    const released = await releaseHeldSends(deps, PAGE);
    t.equal(released, 2);
    await redis.hset(heldKey, asRead);
    t.equal(await releaseHeldSends(deps, PAGE), 2, 'the second release read the same holds');
    const added = (await outbound.getJobs()).filter((j) => !jobsBefore.has(j.id));
    t.equal(added.length, 2, 'one release job per held send, however many releases read it');
    await eventually(async () => users.every((u) => sendsTo(u).length === 1), 15_000, 'held sends delivered');
    await new Promise((r) => setTimeout(r, 300));
    for (const u of users) {
      t.equal(sendsTo(u).length, 1, 'delivered once');
      t.equal(sendsTo(u)[0]?.accessToken, 'test-page-token-new', 'with the new token');
    }
  });

  await t.test('nothing secret or personal reached the logs', async (t) => {
    const logs = p.logs();
    t.ok(logs.length > 1000, 'the processes did log');
    for (const needle of [
      '900000000000201',
      '900000000000204',
      TEST_PAGE_TOKEN,
      'test-page-token-new',
      p.env.FACEBOOK_APP_SECRET as string,
      'anyone there?',
    ])
      t.notOk(logs.includes(needle), `logs do not contain ${needle.slice(0, 6)}…`);
  });
});
