// Fakes nothing: a private, real redis-server (spawned here, killed and restarted on the same port) behind the real API app, with the real PostgreSQL.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { eventually, freePort } from '../helpers/processes.js';
import { messengerText, signedRequest } from '../helpers/sign.js';

function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      if (d.includes('Ready to accept connections')) resolve(child);
    });
  });
}

function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

t.test('Redis down: fast 503 and /health down; back: 200, and the refused event is stored on retry', async (t) => {
  const port = await freePort();
  let redis = await startRedis(port);
  t.teardown(() => stopRedis(redis));
  const ctx = await buildTestApp(t, 'wh-outage', { REDIS_URL: `redis://127.0.0.1:${port}` });
  const secret = ctx.env.FACEBOOK_APP_SECRET as string;
  const post = (payload: unknown) => {
    const req = signedRequest(secret, payload);
    return ctx.app.inject({ method: 'POST', url: '/webhook', headers: req.headers, payload: req.body });
  };
  const first = messengerText({
    pageId: '100000000000001',
    senderId: '200000000000001',
    mid: 'm_test-outage-1',
    text: 'before',
  });
  const during = messengerText({
    pageId: '100000000000001',
    senderId: '200000000000001',
    mid: 'm_test-outage-2',
    text: 'during',
  });
  // changes[] only (a Page feed update): it becomes a job like any event, so it cannot be acknowledged unstored either.
  const feedChange: unknown = JSON.parse(
    readFileSync(new URL('../fixtures/page-feed-change.json', import.meta.url), 'utf8'),
  );

  t.equal((await post(first)).statusCode, 200);
  const healthy = await ctx.app.inject('/health');
  t.equal(healthy.json().redis, 'connected');

  await stopRedis(redis);
  const started = performance.now();
  const refused = await post(during);
  const ms = performance.now() - started;
  t.equal(refused.statusCode, 503, 'never 200 for an event that was not stored, never 500');
  t.ok(ms < 1000, `answered in ${Math.round(ms)} ms`);
  t.equal(refused.json().error, 'unavailable');
  t.ok(refused.headers['retry-after'], 'with Retry-After');

  // Some time later (the connection is reconnecting now, not freshly closed): still fast.
  await new Promise((r) => setTimeout(r, 300));
  const later = performance.now();
  t.equal((await post(during)).statusCode, 503);
  t.ok(performance.now() - later < 1000, 'while reconnecting, too');
  t.equal((await post(feedChange)).statusCode, 503, 'a body of changes[] only: not stored, so not 200');

  const health = await ctx.app.inject('/health');
  t.equal(health.statusCode, 503);
  t.equal(health.json().status, 'down');
  t.equal(health.json().redis, 'error');
  t.equal(health.json().database, 'connected');

  redis = await startRedis(port);
  await eventually(async () => (await post(first)).statusCode === 200, 10_000, 'the ingress to accept again');
  t.equal((await ctx.app.inject('/health')).statusCode, 200, '/health is up again');
  const retried = await post(during);
  t.equal(retried.statusCode, 200);
  t.equal((await post(feedChange)).statusCode, 200);
  const midHash = (mid: string) =>
    createHmac('sha256', ctx.env.PSID_HASH_SECRET as string)
      .update(mid)
      .digest('hex');
  const jobs = await ctx.resources.inboundQueue.getJobs(['waiting']);
  t.equal(
    jobs.filter((j) => j.data.midHash === midHash('m_test-outage-2')).length,
    1,
    "the event refused during the outage is enqueued on Meta's retry",
  );
  t.equal(jobs.filter((j) => j.data.midHash === midHash('m_test-outage-1')).length, 1);
  t.equal(jobs.filter((j) => j.data.type === 'change').length, 1, 'so is the change');
  t.equal(jobs.length, 3);
});
