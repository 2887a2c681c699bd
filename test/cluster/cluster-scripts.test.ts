// Fakes nothing: a real three-master Redis Cluster (test/helpers/redis-cluster.ts) and the worker's
// own connection preset and conversation scripts.
import t from 'tap';
import { createWorkerConnection, inboundJobKeyBase } from '@switchboard/queue';
import { ConversationSequencer } from '../../apps/worker/src/conversation-lock.js';
import { clusterToolsMissing, startRedisCluster } from '../helpers/redis-cluster.js';
import { uniquePrefix } from '../helpers/redis.js';

const missing = await clusterToolsMissing();

t.test(
  "the conversation scripts, whose key count varies, reach their keys' node amid auto-pipelined commands",
  { skip: missing },
  async (t) => {
    const cluster = await startRedisCluster(t);
    const redis = createWorkerConnection({
      nodes: cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
      username: undefined,
      password: undefined,
      tls: false,
      natMap: {},
    });
    redis.on('error', () => {});
    t.teardown(() => redis.disconnect());
    // Several prefixes: their hash tags fall on different nodes, so some are not on the node that
    // serves the slot of the script's first argument (its key count).
    const sequencers = Array.from({ length: 6 }, () => {
      const prefix = uniquePrefix('cluster_scripts');
      return new ConversationSequencer(redis, prefix, inboundJobKeyBase(prefix));
    });
    // Each round issues, in one tick, the scripts and plain commands on keys of every node: the
    // auto-pipeline groups commands by node, so a script grouped by anything but its keys lands in
    // a batch bound for another node.
    const failures: string[] = [];
    for (let round = 0; round < 20; round++) {
      const work = Array.from({ length: 30 }, async (_, i) => {
        const sequencer = sequencers[i % sequencers.length] as ConversationSequencer;
        const conversation = `messenger:1:user-${round}-${i}`;
        const eventId = `${round}`.padStart(16, '0') + `${i}`.padStart(16, '0');
        const [owner] = await Promise.all([
          sequencer.enter(conversation, eventId, Date.now()),
          redis.get(`cluster-scripts-other-${round}-${i}`),
        ]);
        if (!owner) return;
        await Promise.all([
          sequencer.finish(conversation, eventId, owner, { named: false }),
          redis.set(`cluster-scripts-other-${round}-${i}`, '1'),
        ]);
      });
      for (const r of await Promise.allSettled(work))
        if (r.status === 'rejected') failures.push((r.reason as Error).message.slice(0, 120));
    }
    t.same([...new Set(failures)], [], 'no command refused');
  },
);
