// Fakes nothing: there is no Docker engine here, so the compose file and Dockerfile are checked
// by parsing them and holding them against what the processes need.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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
  // The webhook ingress gets the CPU first: containers are weighed by cpu_shares (default 1024),
  // not by the worker's own WORKER_NICE, which acts only inside its container.
  t.ok((s.worker?.cpu_shares ?? 1024) < (s.api?.cpu_shares ?? 1024), 'the worker weighs less than the API on a shared host');
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
  t.same(scriptCommand(ROOT, 'start:api'), s.api?.command, 'compose and npm run the same entry point');
  // The worker's node flags (docs/performance.md) are said once, in npm run start:worker: compose runs exactly that.
  t.same(scriptCommand(ROOT, 'start:worker'), s.worker?.command, 'compose runs the worker as npm run start:worker does');
  t.same(scriptCommand(ROOT, 'migrate'), s.migrate?.command);
  // npm runs scripts through sh; `exec` makes node npm's child, so npm's SIGTERM reaches it.
  for (const name of ['start', 'start:api', 'start:worker']) t.match(pkg.scripts[name], /^exec node /, `${name} execs node`);
});

t.test('npm run start:worker: node accepts its flags, and its entry is the compiled worker main', async (t) => {
  const [node, ...args] = scriptCommand(ROOT, 'start:worker');
  t.equal(node, 'node');
  const entry = args.at(-1) ?? '';
  const flags = args.slice(0, -1);
  t.ok(flags.every((f) => f.startsWith('--')), `only node options before the entry: ${flags.join(' ')}`);
  t.ok(existsSync(`${ROOT}/${entry.replace('/dist/', '/src/').replace(/\.js$/, '.ts')}`), `${entry} is compiled from a source file`);
  t.match(entry, /^apps\/worker\//, 'the entry is the worker');
  // An option this node does not know makes it exit 9 before running anything.
  const run = spawnSync(process.execPath, [...flags, '-e', 'process.stdout.write("started")'], { encoding: 'utf8' });
  t.equal(run.stderr, '', 'no complaint about an option');
  t.equal(run.status, 0);
  t.equal(run.stdout, 'started', 'node runs code with these options');
});

t.test('Dockerfile: multi-stage, Node 24 LTS, non-root, health check, production dependencies only', async (t) => {
  const dockerfile = read('Dockerfile');
  const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)];
  t.ok(froms.length >= 2, 'multi-stage');
  for (const f of froms) t.match(f[1], /^node:24[.-]/, 'Node 24 LTS');
  t.match(dockerfile, /npm prune --omit=dev/);
  t.match(dockerfile, /^USER 1000:1000$/m, 'non-root, numeric');
  t.match(dockerfile, /^HEALTHCHECK /m);
  const cmd = /^CMD (\[.*\])$/m.exec(dockerfile)?.[1];
  t.same(JSON.parse(cmd ?? 'null'), scriptCommand(ROOT, 'start:api'), 'the image runs, unless told otherwise, what npm run start:api runs');
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
