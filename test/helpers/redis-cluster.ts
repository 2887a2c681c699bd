import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { freePort } from './processes.js';

const run = promisify(execFile);

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface RedisClusterNode {
  port: number;
  dir: string;
}

export interface TestRedisCluster {
  /** `127.0.0.1:port,…`: what REDIS_CLUSTER_NODES takes. */
  seeds: string;
  nodes: readonly RedisClusterNode[];
  /** Kills every node (SIGKILL): the cluster is unreachable until `start`. */
  stop(): Promise<void>;
  /** Starts every node again from its own directory (its nodes.conf) and waits for `cluster_state:ok`. */
  start(): Promise<void>;
}

const MASTERS = 3;

/** Whether this machine can run a cluster (redis-server and redis-cli on the PATH). */
export async function clusterToolsMissing(): Promise<string | undefined> {
  for (const tool of ['redis-server', 'redis-cli']) {
    try {
      await run(tool, ['--version']);
    } catch {
      return `${tool} is not installed`;
    }
  }
  return undefined;
}

async function clusterInfo(port: number): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'cluster', 'info']);
  return stdout;
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`redis cluster: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A Redis Cluster of the test's own: three masters (no replicas), each a real
 * `redis-server --cluster-enabled yes` on free loopback ports with its own directory, joined by
 * `redis-cli --cluster create`. Every node reports `cluster_state:ok` before it is returned;
 * the nodes and their directories are removed at teardown.
 */
export async function startRedisCluster(t: Teardown): Promise<TestRedisCluster> {
  const root = mkdtempSync(join(tmpdir(), 'sb-cluster-'));
  const nodes: Array<RedisClusterNode & { busPort: number }> = [];
  // Every port is chosen before any node starts, so two of them cannot draw the same free port.
  // The bus port is named (cluster-port), not data port + 10000, which may be past 65535.
  const ports = new Set<number>();
  while (ports.size < MASTERS * 2) ports.add(await freePort());
  const [...all] = ports;
  for (let i = 0; i < MASTERS; i++) {
    const dir = join(root, `node-${i}`);
    mkdirSync(dir);
    nodes.push({ port: all[i * 2] as number, busPort: all[i * 2 + 1] as number, dir });
  }
  const children: ChildProcess[] = [];

  const startNodes = async () => {
    for (const node of nodes) {
      const child = spawn(
        'redis-server',
        [
          '--port',
          String(node.port),
          '--cluster-port',
          String(node.busPort),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-node-timeout',
          '2000',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          node.dir,
          '--maxmemory-policy',
          'noeviction',
        ],
        { stdio: 'ignore' },
      );
      child.on('error', () => {});
      children.push(child);
    }
    for (const node of nodes) {
      const probe = new Redis({ port: node.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
      probe.on('error', () => {});
      await waitFor(`node ${node.port} to answer`, 10_000, async () => {
        if (probe.status !== 'ready') await probe.connect();
        return (await probe.ping()) === 'PONG';
      }).finally(() => probe.disconnect());
    }
  };

  const waitForOk = () =>
    waitFor('cluster_state:ok on every node', 20_000, async () => {
      for (const node of nodes) {
        const info = await clusterInfo(node.port);
        if (!info.includes('cluster_state:ok') || !info.includes('cluster_slots_assigned:16384')) return false;
        if (!info.includes(`cluster_known_nodes:${MASTERS}`)) return false;
      }
      return true;
    });

  const stop = async () => {
    const running = children.splice(0);
    await Promise.all(
      running.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGKILL');
          }),
      ),
    );
  };

  t.teardown(async () => {
    await stop();
    rmSync(root, { recursive: true, force: true });
  });

  await startNodes();
  await run('redis-cli', [
    '--cluster',
    'create',
    ...nodes.map((n) => `127.0.0.1:${n.port}`),
    '--cluster-replicas',
    '0',
    '--cluster-yes',
  ]);
  await waitForOk();

  return {
    seeds: nodes.map((n) => `127.0.0.1:${n.port}`).join(','),
    nodes: nodes.map(({ port, dir }) => ({ port, dir })),
    stop,
    start: async () => {
      await startNodes();
      await waitForOk();
    },
  };
}

/**
 * A client of the cluster for the test's own reads and writes, typed as the single-node client the
 * helpers pass around (it answers the same commands); closed at teardown.
 */
export function clusterClient(t: Teardown, cluster: TestRedisCluster): Redis {
  const client = new Cluster(
    cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    { redisOptions: { maxRetriesPerRequest: 2 } },
  );
  client.on('error', () => {});
  t.teardown(() => client.disconnect());
  return client as unknown as Redis;
}
