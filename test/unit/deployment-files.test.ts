// Fakes nothing: there is no Docker engine here, so the compose file and Dockerfile are checked
// by parsing them and holding them against what the processes need.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { parse } from 'yaml';
import { scriptCommand } from '../../apps/tools/src/npm-scripts.js';
import { ROOT } from '../helpers/processes.js';

const read = (path: string) => readFileSync(`${ROOT}/${path}`, 'utf8');
type Service = {
  image?: string;
  build?: unknown;
  command?: string[];
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
  stop_grace_period?: string;
  container_name?: string;
  environment?: Record<string, string>;
  restart?: string;
  volumes?: string[];
  cpu_shares?: number;
};

t.test('docker-compose.yml runs the whole system', async (t) => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
  const s = compose.services;
  t.same(Object.keys(s).sort(), ['api', 'migrate', 'postgres', 'redis', 'worker']);

  t.match(s.postgres?.healthcheck?.test?.join(' '), /pg_isready/);
  t.ok(s.postgres?.volumes?.some((v) => v.startsWith('pgdata:')), 'postgres data on a volume');
  const redisCmd = s.redis?.command?.join(' ') ?? '';
  t.match(redisCmd, /--appendonly yes/, 'Redis AOF on');
  t.match(redisCmd, /--maxmemory-policy noeviction/, 'Redis never evicts jobs');
  t.match(s.redis?.healthcheck?.test?.join(' '), /redis-cli ping/);
  t.ok(s.redis?.volumes?.some((v) => v.startsWith('redisdata:')), 'redis data on a volume');

  t.same(s.migrate?.command, ['node', 'apps/tools/dist/migrate.js']);
  t.equal(s.migrate?.restart, 'no', 'migrate is one-shot');
  for (const name of ['api', 'worker']) {
    const svc = s[name] as Service;
    t.equal(svc.depends_on?.migrate?.condition, 'service_completed_successfully', `${name} waits for the migration`);
    t.equal(svc.depends_on?.postgres?.condition, 'service_healthy');
    t.equal(svc.depends_on?.redis?.condition, 'service_healthy');
    t.ok(svc.healthcheck?.test?.length, `${name} has a health check`);
    t.notOk(svc.container_name, `${name} has no fixed container name (scalable)`);
    const grace = Number(/^(\d+)s$/.exec(svc.stop_grace_period ?? '')?.[1]);
    t.ok(grace > 10, `${name} stop grace period (${grace}s) exceeds the 10 s shutdown deadline`);
    t.match(svc.environment?.DATABASE_URL, /@postgres:5432\//);
    t.equal(svc.environment?.REDIS_URL, 'redis://redis:6379');
  }
  t.same(s.api?.command, ['node', 'apps/api/dist/server.js']);
  t.match(s.api?.healthcheck?.test?.join(' '), /\/health/);
  // The worker's node flags are the same wherever it starts (docs/performance.md, decisions
  // `young-generation-64` and `single-threaded-gc`).
  t.same(s.worker?.command, ['node', '--single-threaded-gc', '--min-semi-space-size=64', '--max-semi-space-size=64', 'apps/worker/dist/main.js']);
  // The webhook ingress gets the CPU first: containers are weighed by cpu_shares (default 1024),
  // not by the worker's own WORKER_NICE, which acts only inside its container.
  t.ok((s.worker?.cpu_shares ?? 1024) < (s.api?.cpu_shares ?? 1024), 'the worker weighs less than the API on a shared host');
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
  t.same(scriptCommand(ROOT, 'start:api'), s.api?.command, 'compose and npm run the same entry point');
  t.same(scriptCommand(ROOT, 'start:worker'), s.worker?.command);
  t.same(scriptCommand(ROOT, 'migrate'), s.migrate?.command);
  // npm runs scripts through sh; `exec` makes node npm's child, so npm's SIGTERM reaches it.
  for (const name of ['start', 'start:api', 'start:worker']) t.match(pkg.scripts[name], /^exec node /, `${name} execs node`);
});

t.test('Dockerfile: multi-stage, Node 24 LTS, non-root, health check, production dependencies only', async (t) => {
  const dockerfile = read('Dockerfile');
  const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)];
  t.ok(froms.length >= 2, 'multi-stage');
  for (const f of froms) t.match(f[1], /^node:24[.-]/, 'Node 24 LTS');
  t.match(dockerfile, /npm prune --omit=dev/);
  t.match(dockerfile, /^USER 1000:1000$/m, 'non-root, numeric');
  t.match(dockerfile, /^HEALTHCHECK /m);
  t.match(dockerfile, /^CMD \["node", "apps\/api\/dist\/server.js"\]$/m);
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('FROM '));
  t.notMatch(runtime, /npm (ci|install)/, 'the runtime stage installs nothing');
});

t.test('.env.example names every variable the README documents', async (t) => {
  const example = read('.env.example');
  const readme = read('README.md');
  const documented = [...readme.matchAll(/^\| `([A-Z0-9_]+)`/gm)].map((m) => m[1] as string);
  t.ok(documented.length > 30);
  for (const name of documented) t.match(example, new RegExp(`^${name}=`, 'm'), `${name} in .env.example`);
});
