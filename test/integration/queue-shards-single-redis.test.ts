// Fakes Meta's Graph API and Google's Gemini API (loopback HTTP servers): neither is reachable from
// tests. Real API and worker processes, PostgreSQL and one Redis: with QUEUE_SHARDS=4 the shards
// share the one node, and the same code path answers every message, each worker consuming its
// WORKER_SHARDS only.
import { createHmac } from 'node:crypto';
import t from 'tap';
import { QueueShards } from '@switchboard/queue';
import { eventually, freePort, startProcess, waitForHttp } from '../helpers/processes.js';
import { type Pipeline, startPipeline } from '../helpers/pipeline.js';
import { messengerText } from '../helpers/sign.js';

const PAGE = '100000000000075';
const SHARDS = 4;

function shardOfUser(p: Pipeline, user: string): number {
  const hash = createHmac('sha256', p.env.PSID_HASH_SECRET as string)
    .update(user)
    .digest('hex');
  return new QueueShards(p.prefix, SHARDS).ofJob({ channel: 'messenger', pageId: PAGE, eventId: '', senderHash: hash });
}

t.test('four shards on one Redis, two workers on two shards each', async (t) => {
  const p = await startPipeline(t, 'shards_single', {
    workers: 0,
    env: { QUEUE_SHARDS: String(SHARDS), AI_ENABLED: 'false', LOG_LEVEL: 'info' },
  });
  const sendsTo = (u: string) => p.graph.sends.filter((s) => s.recipientId === u).length;
  const users = Array.from({ length: 24 }, (_, i) => `9000000075${String(i).padStart(5, '0')}`);
  const low = users.filter((u) => shardOfUser(p, u) < 2);
  const high = users.filter((u) => shardOfUser(p, u) >= 2);
  t.ok(low.length > 0 && high.length > 0, 'users in both halves');

  p.startWorker({ WORKER_SHARDS: '0-1' });
  await eventually(async () => /worker started/.test(p.logs()), 20_000, 'the first worker');
  for (const [i, u] of users.entries())
    t.equal(
      (await p.post(messengerText({ pageId: PAGE, senderId: u, mid: `m_shards1_${i}`, text: 'hi' }))).status,
      200,
    );
  await eventually(async () => low.every((u) => sendsTo(u) === 1), 20_000, 'the users of shards 0-1 answered');
  await new Promise((r) => setTimeout(r, 1000));
  t.same(
    high.filter((u) => sendsTo(u) > 0),
    [],
    'shards 2-3 wait for a worker that consumes them',
  );
  const auth = `Basic ${Buffer.from(`${p.env.ADMIN_USER}:${p.env.ADMIN_PASS}`).toString('base64')}`;
  const overview = (await (await fetch(`${p.apiUrl}/ops`, { headers: { authorization: auth } })).json()) as {
    queues: { inbound: { waiting: number } };
  };
  t.equal(overview.queues.inbound.waiting, high.length, '/ops counts the waiting jobs of every shard');
  const health = (await (await fetch(`${p.apiUrl}/health`)).json()) as { queue_depth: number };
  t.equal(health.queue_depth, high.length, '/health too');

  // An API left on another count: its jobs would go where no worker looks, and /health says so.
  const port = await freePort();
  startProcess(t, 'api', { ...p.env, QUEUE_SHARDS: '1', PORT: String(port) });
  await waitForHttp(`http://127.0.0.1:${port}/health`);
  const other = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { warnings: string[] };
  t.ok(other.warnings.includes('queue_shards_differ'), 'an API on another QUEUE_SHARDS warns');
  const ours = (await (await fetch(`${p.apiUrl}/health`)).json()) as { warnings: string[] };
  t.notOk(ours.warnings.includes('queue_shards_differ'), 'one on the recorded count does not');

  p.startWorker({ WORKER_SHARDS: '2-3' });
  await eventually(async () => users.every((u) => sendsTo(u) === 1), 20_000, 'every user answered');
  await new Promise((r) => setTimeout(r, 500));
  t.same(
    users.filter((u) => sendsTo(u) !== 1),
    [],
    'each once',
  );
});
