import { Cluster } from 'ioredis';
import t from 'tap';
import { clusterToolsMissing, startRedisCluster } from '../helpers/redis-cluster.js';

const missing = await clusterToolsMissing();

t.test(
  'the helper starts a three-master cluster that serves every slot, and stops it',
  { skip: missing },
  async (t) => {
    const cluster = await startRedisCluster(t);
    t.equal(cluster.nodes.length, 3);
    const client = new Cluster(
      cluster.seeds.split(',').map((s) => ({ host: '127.0.0.1', port: Number(s.split(':')[1]) })),
    );
    t.teardown(() => client.disconnect());
    const keys = Array.from({ length: 30 }, (_, i) => `helper-check-${i}`);
    for (const k of keys) await client.set(k, k);
    const owners = new Set<string>();
    for (const node of client.nodes('master')) {
      const [, found] = await node.scan('0', 'MATCH', 'helper-check-*', 'COUNT', 1000);
      if (found.length > 0) owners.add(`${node.options.port}`);
    }
    t.equal(owners.size, 3, 'keys are spread over the three masters');

    await cluster.stop();
    await t.rejects(
      new Promise((resolve, reject) => {
        const probe = new Cluster([{ host: '127.0.0.1', port: cluster.nodes[0]!.port }], {
          clusterRetryStrategy: () => null,
        });
        probe.on('error', () => {});
        probe
          .get('x')
          .then(resolve, reject)
          .finally(() => probe.disconnect());
      }),
      'nothing answers once it is stopped',
    );
    await cluster.start();
    t.equal(await client.get('helper-check-0'), null, 'started again: an empty cluster (no persistence), serving');
  },
);
