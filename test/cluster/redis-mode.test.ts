// Fakes nothing: a real three-master Redis Cluster (test/helpers/redis-cluster.ts), real PostgreSQL,
// and the real API and worker processes, started with REDIS_URL pointing at one cluster node.
import { Redis } from 'ioredis';
import t from 'tap';
import { bullPrefix, QUEUES } from '@switchboard/queue';
import { buildTestApp } from '../helpers/app.js';
import { testDatabase } from '../helpers/db.js';
import { testEnv } from '../helpers/env.js';
import { freePort, startProcess } from '../helpers/processes.js';
import { clusterToolsMissing, startRedisCluster } from '../helpers/redis-cluster.js';
import { uniquePrefix } from '../helpers/redis.js';

const missing = await clusterToolsMissing();

t.test('a single-node client pointed at a cluster node', { skip: missing }, async (t) => {
  const cluster = await startRedisCluster(t);
  const node = cluster.nodes[0]!;
  const databaseUrl = await testDatabase(t, 'cluster_mode');
  const prefix = uniquePrefix('cluster_mode');
  const env = testEnv({ databaseUrl, prefix, LOG_LEVEL: 'info', REDIS_URL: `redis://127.0.0.1:${node.port}` });

  for (const entry of ['api', 'worker'] as const) {
    await t.test(`the ${entry} refuses to start and says to set REDIS_CLUSTER_NODES`, async (t) => {
      const proc = startProcess(t, entry, { ...env, PORT: String(await freePort()), HOST: '127.0.0.1' });
      const exit = await Promise.race([
        proc.exited,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000)),
      ]);
      t.equal(exit?.code, 1, 'exits with 1');
      t.match(proc.output.join(''), /REDIS_URL points at a Redis Cluster node.*REDIS_CLUSTER_NODES/);
    });
  }

  await t.test('/health: a Redis that refuses our commands (MOVED) is an error, not "connected"', async (t) => {
    // The node that does not serve the queues' slot answers PING, and MOVED for our keys.
    const key = `${bullPrefix(prefix)}:${QUEUES.inbound}:meta`;
    let elsewhere: number | undefined;
    for (const n of cluster.nodes) {
      const probe = new Redis({ host: '127.0.0.1', port: n.port });
      const moved = await probe.exists(key).then(
        () => false,
        (err: Error) => err.message.startsWith('MOVED'),
      );
      probe.disconnect();
      if (moved) elsewhere = n.port;
    }
    t.ok(elsewhere, 'a node that does not serve the slot');
    const { app } = await buildTestApp(
      t,
      'cluster_mode_health',
      { REDIS_URL: `redis://127.0.0.1:${elsewhere}` },
      {
        databaseUrl,
        prefix,
      },
    );
    const res = await app.inject({ method: 'GET', url: '/health' });
    t.equal(res.json().redis, 'error');
    t.equal(res.json().status, 'down');
  });
});
