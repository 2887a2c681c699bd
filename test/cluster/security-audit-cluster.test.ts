// Fakes nothing: a real three-master Redis Cluster (test/helpers/redis-cluster.ts) and a real
// migrated test database; the compiled security audit, as `npm run security-audit -- --json` runs it.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { testDatabase } from '../helpers/db.js';
import { ROOT } from '../helpers/processes.js';
import { clusterToolsMissing, startRedisCluster } from '../helpers/redis-cluster.js';

type Finding = { id: string; severity: string; message: string };

const missing = await clusterToolsMissing();

t.test('the audit checks the cluster REDIS_CLUSTER_NODES names, every master of it', { skip: missing }, async (t) => {
  const cluster = await startRedisCluster(t);
  const databaseUrl = await testDatabase(t, 'security_audit_cluster');
  const cwd = mkdtempSync(join(tmpdir(), 'sb-audit-'));
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }));
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      [join(ROOT, 'apps/tools/dist/security-audit.js'), '--json'],
      {
        cwd,
        timeout: 30_000,
        env: {
          PATH: process.env.PATH ?? '',
          DATABASE_URL: databaseUrl,
          // Unused once REDIS_CLUSTER_NODES is set: nothing listens here.
          REDIS_URL: 'redis://127.0.0.1:9',
          REDIS_CLUSTER_NODES: cluster.seeds,
          QUEUE_PREFIX: 'sbtest-audit-cluster',
        },
      },
      (err, out) => (err && typeof err.code !== 'number' ? reject(err) : resolve(out)),
    ),
  );
  const findings = (JSON.parse(stdout) as { findings: Finding[] }).findings;
  const of = (id: string) => findings.filter((f) => f.id === id);
  t.same(
    of('redis.reachable').map((f) => f.severity),
    ['ok'],
    'the cluster answers',
  );
  // The test's nodes persist nothing: each master is named.
  const persistence = of('redis.persistence');
  t.same(
    persistence.map((f) => f.severity),
    ['critical', 'critical', 'critical'],
    'persistence judged on each master',
  );
  for (const node of cluster.nodes)
    t.ok(
      persistence.some((f) => f.message.startsWith(`127.0.0.1:${node.port}: `)),
      `the finding names 127.0.0.1:${node.port}`,
    );
  t.same(
    of('redis.maxmemory_policy').map((f) => f.severity),
    ['ok', 'ok', 'ok'],
    'noeviction on each master',
  );
});
