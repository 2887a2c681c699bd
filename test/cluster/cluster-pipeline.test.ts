// Fakes Meta's Graph API and Google's Gemini API (loopback HTTP servers): neither is reachable from
// tests. A real three-master Redis Cluster (test/helpers/redis-cluster.ts), real PostgreSQL, and the
// real API and worker processes started with REDIS_CLUSTER_NODES.
import { Redis } from 'ioredis';
import t from 'tap';
import { countersKey, latencyKey, recentKey } from '@switchboard/observability';
import { authGlobalFailureKey } from '../../apps/api/src/login-limiter.js';
import { burstThenHandOff } from '../helpers/burst-handoff.js';
import { eventually } from '../helpers/processes.js';
import { type Pipeline, startPipeline } from '../helpers/pipeline.js';
import { clusterToolsMissing, startRedisCluster } from '../helpers/redis-cluster.js';
import { messengerText } from '../helpers/sign.js';

/** Commands a node has processed since it started (INFO stats). */
async function commandsProcessed(port: number): Promise<number> {
  const node = new Redis({ host: '127.0.0.1', port });
  try {
    return Number(/total_commands_processed:(\d+)/.exec(await node.info('stats'))?.[1] ?? 0);
  } finally {
    node.disconnect();
  }
}

const PAGE = '100000000000061';
const missing = await clusterToolsMissing();
let seq = 0;

t.test(
  'ingress on a Redis Cluster: answered, healthy, and 503 while the cluster is down',
  { skip: missing },
  async (t) => {
    const cluster = await startRedisCluster(t);
    const p = await startPipeline(t, 'cluster_ingress', {
      cluster,
      env: { AI_MAX_CALLS_PER_MIN: '1000', AI_MAX_CALLS_PER_MIN_PER_PSID: '100' },
    });
    p.gemini.setReply('AI on the cluster.');
    const auth = `Basic ${Buffer.from(`${p.env.ADMIN_USER}:${p.env.ADMIN_PASS}`).toString('base64')}`;

    const users = Array.from({ length: 20 }, (_, i) => `9000000061${String(i).padStart(5, '0')}`);
    for (const u of users) {
      const res = await p.post(messengerText({ pageId: PAGE, senderId: u, mid: `m_cluster_${++seq}`, text: 'hello' }));
      t.equal(res.status, 200);
    }
    await eventually(async () => users.every((u) => p.graph.sends.some((s) => s.recipientId === u)), 30_000, 'replies');
    t.equal(p.graph.sends.length, users.length, 'one reply each');
    t.same([...new Set(p.graph.sends.map((s) => s.text))], ['AI on the cluster.'], 'every reply from the AI');

    const health = (await (await fetch(`${p.apiUrl}/health`)).json()) as { redis: string };
    t.equal(health.redis, 'connected');
    for (const path of ['/ops/telemetry', '/ops/ai/status', '/ops/dlq', '/metrics']) {
      const res = await fetch(`${p.apiUrl}${path}`, { headers: { authorization: auth } });
      t.equal(res.status, 200, `${path} answers`);
    }
    t.notMatch(p.logs(), /CROSSSLOT|MOVED/, 'no command refused by the cluster');

    // What the processes write in one pipeline or transaction reaches the cluster: the counters with
    // their per-minute copies, the latency samples, a wrong login's counts.
    await eventually(
      async () => Number((await p.redis.hgetall(countersKey(p.prefix))).ai_calls ?? 0) >= users.length,
      10_000,
      'the counters flushed',
    );
    const minute = recentKey(countersKey(p.prefix), Math.floor(Date.now() / 60_000));
    t.ok(Number(await p.redis.hget(minute, 'ai_calls')) > 0, 'with their per-minute copy');
    await eventually(async () => (await p.redis.llen(latencyKey(p.prefix, 'ack'))) > 0, 10_000, 'latency samples');
    const wrong = `Basic ${Buffer.from(`${p.env.ADMIN_USER}:not-the-password`).toString('base64')}`;
    t.equal((await fetch(`${p.apiUrl}/ops/dlq`, { headers: { authorization: wrong } })).status, 401);
    await eventually(
      async () => (await p.redis.get(authGlobalFailureKey(p.prefix))) === '1',
      5000,
      'the wrong login counted in Redis',
    );
    await cluster.stop();
    const down = await p.post(
      messengerText({ pageId: PAGE, senderId: users[0] as string, mid: `m_cluster_${++seq}`, text: 'hi' }),
    );
    t.equal(down.status, 503, 'a webhook while the cluster is down: 503, so Meta retries');
    const downHealth = (await (await fetch(`${p.apiUrl}/health`)).json()) as { redis: string };
    t.equal(downHealth.redis, 'error', '/health says so');

    await cluster.start();
    await eventually(
      async () =>
        (
          await p.post(
            messengerText({ pageId: PAGE, senderId: 'x9000000061999', mid: `m_cluster_${++seq}`, text: 'back' }),
          )
        ).status === 200,
      20_000,
      'webhooks accepted again',
    );
  },
);

/** The fields of the operator's answers these tests read. */
interface OpsBody {
  jobs?: Array<{ id: string }>;
  pages?: Array<{ page_id: string; held_sends: number }>;
  check?: { released: number };
  conversations?: Array<{ status: string }>;
}

/** The operator's routes, as an operator calls them. */
function opsClient(p: Pipeline) {
  const authorization = `Basic ${Buffer.from(`${p.env.ADMIN_USER}:${p.env.ADMIN_PASS}`).toString('base64')}`;
  return async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${p.apiUrl}${path}`, {
      method,
      headers: { authorization, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json().catch(() => ({}))) as OpsBody };
  };
}

const sendsTo = (p: Pipeline, user: string) => p.graph.sends.filter((s) => s.recipientId === user).map((s) => s.text);

t.test(
  'a worker killed with SIGKILL on the cluster: every message answered exactly once',
  { skip: missing },
  async (t) => {
    const cluster = await startRedisCluster(t);
    const n = 80;
    const p = await startPipeline(t, 'cluster_crash', {
      cluster,
      workers: 2,
      env: {
        AI_MAX_CALLS_PER_MIN: '100000',
        AI_MAX_CALLS_PER_MIN_PER_PSID: '100',
        WORKER_CONCURRENCY: '16',
        WORKER_LOCK_DURATION_MS: '2000',
      },
    });
    p.gemini.setReply('AI after the crash.');
    p.gemini.setDelay(40);
    p.graph.echoTo({ url: `${p.apiUrl}/webhook`, appSecret: p.env.FACEBOOK_APP_SECRET, appId: p.env.FACEBOOK_APP_ID });
    p.graph.setSendDelay(15);
    const users = Array.from({ length: n }, (_, i) => `9000000062${String(i).padStart(5, '0')}`);
    const posting = (async () => {
      for (let i = 0; i < n; i += 10)
        await Promise.all(
          users
            .slice(i, i + 10)
            .map((u, j) =>
              p.post(messengerText({ pageId: PAGE, senderId: u, mid: `m_cluster_crash_${i + j}`, text: 'q' })),
            ),
        );
    })();
    await eventually(async () => p.graph.sends.length >= 15, 30_000, 'the first replies');
    p.workers[0]?.child.kill('SIGKILL');
    await posting;
    await eventually(
      async () => users.every((u) => p.graph.sends.some((s) => s.recipientId === u)),
      90_000,
      'a reply to every user',
    );
    await eventually(
      async () => (await p.sql`select count(*)::int as n from replies where status = 'sent'`)[0]?.n === n,
      40_000,
      'every reply recorded as sent',
    ).catch(() => {});
    await new Promise((r) => setTimeout(r, 1500));
    t.same(
      users.filter((u) => sendsTo(p, u).length !== 1),
      [],
      'every user got exactly one reply',
    );
    t.equal(
      (await p.sql`select count(*)::int as n from replies where status = 'sent'`)[0]?.n,
      n,
      'all recorded as sent',
    );
    t.equal(
      (await p.sql`select count(*)::int as n from events where status = 'dead_letter'`)[0]?.n,
      0,
      'none dead-lettered',
    );
    t.notMatch(p.logs(), /CROSSSLOT|MOVED/, 'no command refused by the cluster');
    // One queue shard (the default): one master carries nearly everything. cluster-shards.test.ts
    // asserts the spread with six.
    const calls = await Promise.all(cluster.nodes.map((node) => commandsProcessed(node.port)));
    const total = calls.reduce((a, b) => a + b, 0);
    t.comment(`commands per master: ${calls.map((c) => `${Math.round((100 * c) / total)} %`).join(', ')}`);
  },
);

t.test('kill switch and the global AI limit hold across two workers on the cluster', { skip: missing }, async (t) => {
  const cluster = await startRedisCluster(t);
  const p = await startPipeline(t, 'cluster_limits', {
    cluster,
    workers: 2,
    env: { AI_MAX_CALLS_PER_MIN: '5', AI_MAX_CALLS_PER_MIN_PER_PSID: '100', WORKER_CONCURRENCY: '4' },
  });
  p.gemini.setReply('AI says hi.');
  p.gemini.setDelay(100);
  p.graph.setSendDelay(250);
  const ops = opsClient(p);
  const burst = async (count: number, label: string) => {
    const users = Array.from({ length: count }, (_, i) => `90000${label}${String(i).padStart(6, '0')}`);
    const before = p.graph.sends.length;
    await Promise.all(
      users.map((u) =>
        p.post(messengerText({ pageId: PAGE, senderId: u, mid: `m_cluster_limits_${++seq}`, text: 'hi' })),
      ),
    );
    await eventually(async () => p.graph.sends.length >= before + count, 30_000, `${count} replies`);
    return p.graph.sends.slice(before).filter((s) => users.includes(s.recipientId));
  };

  const limited = await burst(16, '0631');
  t.equal(limited.length, 16, 'every message answered once');
  t.equal(limited.filter((s) => s.text === 'AI says hi.').length, 5, 'exactly 5 AI replies in the minute');
  t.equal(p.gemini.calls.length, 5, 'Gemini called 5 times');

  t.equal((await ops('POST', '/ops/ai/toggle', { enabled: false })).status, 200, 'switched off');
  t.equal((await ops('GET', '/ops/ai/status')).status, 200);
  await new Promise((r) => setTimeout(r, 1000));
  const calls = p.gemini.calls.length;
  const off = await burst(8, '0632');
  t.equal(off.length, 8);
  t.equal(p.gemini.calls.length, calls, 'no AI call while switched off');
  await eventually(
    async () => (await p.sql`select count(*)::int as n from replies where reason = 'kill_switch'`)[0]?.n === 8,
    10_000,
    'the switch recorded as the reason of all eight',
  );
});

t.test('dead letters and replay on the cluster', { skip: missing }, async (t) => {
  const cluster = await startRedisCluster(t);
  const p = await startPipeline(t, 'cluster_dlq', { cluster, env: { AI_ENABLED: 'false' } });
  const ops = opsClient(p);
  // A permanent error: dead-lettered at once, without calling Meta again.
  p.graph.failNextSends({
    status: 400,
    code: 10,
    subcode: 2018278,
    message: 'This message is sent outside of allowed window.',
  });
  const user = '900000006400001';
  t.equal(
    (await p.post(messengerText({ pageId: PAGE, senderId: user, mid: 'm_cluster_dlq_1', text: 'hi' }))).status,
    200,
  );
  const listed = await eventually(
    async () => ((await ops('GET', '/ops/dlq')).body.jobs as Array<{ id: string }> | undefined)?.[0],
    30_000,
    'the send dead-lettered',
  );
  t.equal(sendsTo(p, user).length, 0, 'nothing went out');
  const replay = await ops('POST', `/ops/dlq/${encodeURIComponent(listed.id)}/retry`);
  t.equal(replay.status, 202, 'replayed');
  await eventually(async () => sendsTo(p, user).length === 1, 30_000, 'the replayed reply');
  await eventually(
    async () => (await p.sql`select 1 from replies where status = 'sent'`).length === 1,
    15_000,
    'recorded as sent',
  );
  await new Promise((r) => setTimeout(r, 500));
  t.equal(sendsTo(p, user).length, 1, 'sent once');
  t.same((await ops('GET', '/ops/dlq')).body.jobs, [], 'the dead-letter queue is empty');
});

t.test(
  'a page token Meta answers 190 for: sends held on the cluster, released once by a new token',
  { skip: missing },
  async (t) => {
    const cluster = await startRedisCluster(t);
    const p = await startPipeline(t, 'cluster_held', { cluster, env: { AI_ENABLED: 'false' } });
    const ops = opsClient(p);
    const page = '100000000000065';
    const user = '900000006500001';
    p.graph.failSendsForToken('test-token-old', { status: 400, code: 190, subcode: 460 });
    t.equal(
      (await ops('PUT', `/ops/pages/${page}`, { access_token: 'test-token-old', channel: 'messenger' })).status,
      201,
    );
    await p.post(messengerText({ pageId: page, senderId: user, mid: 'm_cluster_held_1', text: 'hi' }));
    await eventually(
      async () => (await p.sql`select status from replies where page_id = ${page}`)[0]?.status === 'held',
      20_000,
      'reply held',
    );
    const pages = (await ops('GET', '/ops/pages')).body.pages as Array<{ page_id: string; held_sends: number }>;
    t.equal(pages.find((x) => x.page_id === page)?.held_sends, 1, '/ops/pages counts the held send');
    t.equal(sendsTo(p, user).length, 0, 'nothing sent with the dead token');

    p.graph.setTokenInfo('test-token-new', { is_valid: true, expires_at: 0, scopes: ['pages_messaging'] });
    t.equal(
      (await ops('PUT', `/ops/pages/${page}`, { access_token: 'test-token-new', channel: 'messenger' })).status,
      200,
    );
    await eventually(async () => sendsTo(p, user).length === 1, 20_000, 'the held reply');
    t.equal((await ops('POST', '/ops/tokens/check')).body.check?.released, 0, 'a second release sends nothing');
    await new Promise((r) => setTimeout(r, 500));
    t.equal(sendsTo(p, user).length, 1, 'released once');
  },
);

t.test('bursts and hand-off on the cluster', { skip: missing }, async (t) => {
  const cluster = await startRedisCluster(t);
  const p = await startPipeline(t, 'cluster_bursts', {
    cluster,
    env: { REPLY_DEBOUNCE_MS: '1500', AI_MAX_CALLS_PER_MIN: '1000', AI_MAX_CALLS_PER_MIN_PER_PSID: '100' },
  });
  const ops = opsClient(p);
  const user = '900000006600001';
  await burstThenHandOff(t, p, PAGE, user, 'cluster');
  const listed = (await ops('GET', '/ops/conversations')).body.conversations as Array<{ status: string }>;
  t.match(listed?.[0], { status: 'paused' }, 'the conversation shows paused');
  t.notMatch(p.logs(), /CROSSSLOT|MOVED/, 'no command refused by the cluster');
});
