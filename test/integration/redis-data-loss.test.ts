// Fakes Meta's Graph API and Google's Gemini API (loopback HTTP servers): neither is reachable from
// tests. Redis is a private redis-server without persistence, so restarting it (or FLUSHALL) loses
// its data as a production Redis without AOF would; PostgreSQL and the API and worker processes are real.
import t from 'tap';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { bullPrefix, QUEUES } from '@switchboard/queue';
import { RETENTION_SCHEDULER_ID, TOKEN_CHECK_SCHEDULER_ID } from '../../apps/worker/src/processors/maintenance.js';
import { eventually } from '../helpers/processes.js';
import { type Pipeline, startPipeline } from '../helpers/pipeline.js';
import { startPrivateRedis } from '../helpers/private-redis.js';
import { messengerText } from '../helpers/sign.js';

const PAGE = '100000000000061';
const AI_REPLY = 'An answer from the model.';
let seq = 0;

const redisServer = await startPrivateRedis(t);
const p = await startPipeline(t, 'redis_loss', {
  env: { REDIS_URL: redisServer.url, AI_MAX_CALLS_PER_MIN: '1000', AI_MAX_CALLS_PER_MIN_PER_PSID: '100' },
});
p.gemini.setReply(AI_REPLY);
const redis = new Redis(redisServer.url);
redis.on('error', () => {});
t.teardown(() => redis.disconnect());
const maintenance = new Queue(QUEUES.maintenance, { connection: redis, prefix: bullPrefix(p.prefix) });
maintenance.on('error', () => {});
t.teardown(() => maintenance.close());

const auth = `Basic ${Buffer.from(`${p.env.ADMIN_USER}:${p.env.ADMIN_PASS}`).toString('base64')}`;
async function ops(path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${p.apiUrl}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}

/** Every worker obeys a toggle within 1 s (each re-reads the switch at most every 500 ms). */
const obeyed = () => new Promise((resolve) => setTimeout(resolve, 1000));

/** One new message, answered: the text of its reply. */
async function replyTo(pipeline: Pipeline): Promise<string> {
  const sender = `9000000061${String(++seq).padStart(5, '0')}`;
  const res = await pipeline.post(
    messengerText({ pageId: PAGE, senderId: sender, mid: `m_redis_loss_${seq}`, text: 'hello' }),
  );
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
  const send = await eventually(
    async () => pipeline.graph.sends.find((s) => s.recipientId === sender),
    20_000,
    'the reply',
  );
  return send.text;
}

/** Loses every key: a restart of a Redis that persists nothing, or FLUSHALL (the connections stay up). */
const losses = {
  async restart() {
    await redisServer.stop();
    await redisServer.start();
  },
  async flushall() {
    await redis.flushall();
  },
};
const SENTINEL = `${p.prefix}:sentinel`;
/** Loses Redis's data, and checks it was lost (what the processes put back meanwhile is theirs to say). */
async function loseData(how: keyof typeof losses): Promise<void> {
  await redis.set(SENTINEL, '1');
  await losses[how]();
  if ((await redis.exists(SENTINEL)) !== 0) throw new Error('Redis kept its data');
}

const schedulersPresent = async () =>
  Boolean(
    (await maintenance.getJobScheduler(TOKEN_CHECK_SCHEDULER_ID)) &&
    (await maintenance.getJobScheduler(RETENTION_SCHEDULER_ID)),
  );
const workerPid = p.workers[0]?.child.pid;

t.test('the worker declares the daily schedulers at start', async (t) => {
  await eventually(schedulersPresent, 15_000, 'the schedulers');
  t.equal(await replyTo(p), AI_REPLY, 'the AI answers while switched on');
});

for (const name of Object.keys(losses) as Array<keyof typeof losses>) {
  t.test(`AI switched off, then Redis loses its data (${name}): it stays off`, async (t) => {
    t.same(await ops('/ops/ai/toggle', { enabled: false }), { enabled: false });
    await obeyed();
    await loseData(name);
    await eventually(async () => (await fetch(`${p.apiUrl}/health`)).status === 200, 15_000, 'the API back on Redis');
    const callsBefore = p.gemini.calls.length;

    t.not(await replyTo(p), AI_REPLY, 'a new message gets the fallback reply');
    t.equal(p.gemini.calls.length, callsBefore, 'Gemini is not called');
    t.equal((await ops('/ops/ai/status')).enabled, false, '/ops/ai/status says off');
    const health = (await (await fetch(`${p.apiUrl}/health`)).json()) as { ai: { enabled: boolean } };
    t.equal(health.ai.enabled, false, '/health says off');
    t.equal(await redis.get(`${p.prefix}:ai:enabled`), '0', 'the Redis copy is restored from PostgreSQL');

    t.same(await ops('/ops/ai/toggle', { enabled: true }), { enabled: true });
    await obeyed();
    t.equal(await replyTo(p), AI_REPLY, 'switched back on, the AI answers again');
  });

  t.test(`the daily schedulers come back after a loss (${name}) without restarting the worker`, async (t) => {
    await eventually(schedulersPresent, 15_000, 'the schedulers');
    const redeclared = () =>
      p.logs().split('maintenance schedulers were missing from Redis; declared again').length - 1;
    const before = redeclared();
    await loseData(name);
    await eventually(schedulersPresent, 30_000, 'the schedulers declared again');
    t.equal(p.workers[0]?.child.exitCode, null, 'the worker still runs');
    t.equal(p.workers[0]?.child.pid, workerPid, 'the same worker process');
    // The log line is written asynchronously, a moment after the schedulers are back.
    const said = await eventually(async () => redeclared() > before, 5_000, 'the log line').catch(() => false);
    t.ok(said, 'the worker says so');
  });
}
