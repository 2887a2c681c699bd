// Fakes nothing: the real worker and API processes against a private redis-server that the test
// stops and starts, and against a PostgreSQL database that does not exist yet; their log lines are
// counted.
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { Redis } from 'ioredis';
import t from 'tap';
import { databaseUrl, PG_ADMIN_URL, testDatabase } from '../helpers/db.js';
import { testEnv } from '../helpers/env.js';
import { startPrivateRedis } from '../helpers/private-redis.js';
import { deletePrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import { eventually, freePort, startProcess, waitForHttp } from '../helpers/processes.js';

type Line = { level: number; msg: string; dependency?: string; target?: string; reason?: string };
const linesOf = (output: string[]): Line[] =>
  output
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);

t.test(
  'a Redis outage: one line when it starts and one when it ends, naming host:port, from the worker and the API',
  async (t) => {
    const redis = await startPrivateRedis(t);
    const databaseUrl = await testDatabase(t, 'outage_redis');
    const port = await freePort();
    const env = testEnv({
      databaseUrl,
      prefix: 'outage',
      REDIS_URL: redis.url,
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: String(port),
    });
    const worker = startProcess(t, 'worker', env);
    const api = startProcess(t, 'api', env);
    await eventually(async () => linesOf(worker.output).some((l) => l.msg === 'worker started'), 15_000, 'the worker');
    await waitForHttp(`http://127.0.0.1:${port}/health`);
    // Let start-up settle (the maintenance scheduling), then count from here.
    await new Promise((r) => setTimeout(r, 1000));
    const before = { worker: linesOf(worker.output).length, api: linesOf(api.output).length };

    await redis.stop();
    await new Promise((r) => setTimeout(r, 10_000));
    await redis.start();
    const back = (p: { output: string[] }) => linesOf(p.output).some((l) => l.msg.startsWith('redis reachable again'));
    await eventually(async () => back(worker) && back(api), 15_000, 'both to see Redis again');
    await new Promise((r) => setTimeout(r, 500));

    const target = `127.0.0.1:${redis.port}`;
    for (const [name, proc] of [
      ['worker', worker],
      ['api', api],
    ] as const) {
      const during = linesOf(proc.output).slice(before[name]);
      // The restarted redis-server kept nothing, so the worker may also say once that it declared the
      // lost schedulers again (redis-data-loss.test.ts covers that line); every other line is the outage's.
      const outage = during.filter(
        (l) => !(name === 'worker' && l.msg.startsWith('maintenance schedulers were missing')),
      );
      t.ok(during.length - outage.length <= 1, `${name}: at most one line about the lost state`);
      t.same(
        outage.map((l) => [l.level, l.msg, l.dependency, l.target]),
        [
          [50, `redis unreachable at ${target}; retrying quietly until it is back`, 'redis', target],
          [30, `redis reachable again at ${target}`, 'redis', target],
        ],
        `${name}: ten seconds of outage, two lines`,
      );
      t.match(outage[0]?.reason, /ECONNREFUSED|ECONNRESET|closed/, `${name}: the driver's reason`);
    }
  },
);

t.test(
  'the API and the worker started against a database that is missing say so (the API starts degraded), and say when it is back',
  async (t) => {
    const name = `sbtest_missing_${randomBytes(4).toString('hex')}`;
    const url = new URL(databaseUrl(name));
    url.password = 'password-must-not-show';
    const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
    t.teardown(async () => {
      await admin.unsafe(`drop database if exists "${name}" with (force)`);
      await admin.end({ timeout: 5 });
    });
    const port = await freePort();
    const prefix = uniquePrefix('outage-missing');
    const env = testEnv({
      databaseUrl: url.toString(),
      prefix,
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: String(port),
    });
    const api = startProcess(t, 'api', env);
    const worker = startProcess(t, 'worker', env);
    // The processes wrote their queues under the prefix: removed once both have stopped.
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
    t.teardown(async () => {
      await Promise.all([api.stop('SIGKILL'), worker.stop('SIGKILL')]);
      await deletePrefix(redis, prefix);
      redis.disconnect();
    });
    await waitForHttp(`http://127.0.0.1:${port}/health`, 15_000, () => true);

    const target = `${url.hostname}:${url.port || '5432'}`;
    const down = linesOf(api.output).filter((l) => l.dependency === 'postgresql');
    t.equal(down.length, 1, 'one line');
    t.match(down[0], {
      level: 50,
      target,
      msg: `postgresql unreachable at ${target}; retrying quietly until it is back`,
      reason: new RegExp(`${name}.*does not exist|3D000`),
    });
    t.ok(
      linesOf(api.output).some((l) => l.level === 40 && /starting without PostgreSQL/.test(l.msg)),
      'says it starts degraded',
    );
    const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { database: string };
    t.equal(health.database, 'error');

    // The worker notices within its watch interval.
    await eventually(
      async () => linesOf(worker.output).some((l) => l.dependency === 'postgresql'),
      15_000,
      'the worker to notice',
    );
    await new Promise((r) => setTimeout(r, 6000));

    await admin.unsafe(`create database "${name}"`);
    for (const [who, proc] of [
      ['api', api],
      ['worker', worker],
    ] as const) {
      await eventually(
        async () => linesOf(proc.output).some((l) => l.msg === `postgresql reachable again at ${target}`),
        15_000,
        `${who} to see the database again`,
      );
      t.same(
        linesOf(proc.output)
          .filter((l) => l.dependency === 'postgresql')
          .map((l) => [l.level, l.msg]),
        [
          [50, `postgresql unreachable at ${target}; retrying quietly until it is back`],
          [30, `postgresql reachable again at ${target}`],
        ],
        `${who}: one line when it starts, one when it ends`,
      );
      t.notMatch(proc.output.join(''), /password-must-not-show/, `${who}: no password`);
    }
  },
);
