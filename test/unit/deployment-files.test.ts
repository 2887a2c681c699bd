// Fakes nothing: there is no Docker engine here, so the compose file and Dockerfile are checked
// by parsing them and holding them against what the processes need; the Caddyfile is checked by the
// real `caddy adapt` when caddy is installed (.ci/run installs it).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import t from 'tap';
import { parse } from 'yaml';
import { trustFunction } from '../../apps/api/src/app.js';
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
  ports?: string[];
  networks?: string[];
};
type Compose = {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
  networks?: Record<string, { ipam?: { config?: Array<{ subnet?: string }> } } | null>;
};

/** Compose's `${VAR:-default}` with nothing set: what a fresh clone without a .env runs with. */
const withDefaults = (value: string | undefined) => value?.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');

t.test('docker-compose.yml runs the whole system', async (t) => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose;
  const s = compose.services;
  t.same(Object.keys(s).sort(), ['api', 'migrate', 'postgres', 'proxy', 'redis', 'worker']);

  t.match(s.postgres?.healthcheck?.test?.join(' '), /pg_isready/);
  t.ok(
    s.postgres?.volumes?.some((v) => v.startsWith('pgdata:')),
    'postgres data on a volume',
  );
  const redisCmd = s.redis?.command?.join(' ') ?? '';
  t.match(redisCmd, /--appendonly yes/, 'Redis AOF on');
  t.match(redisCmd, /--maxmemory-policy noeviction/, 'Redis never evicts jobs');
  t.match(s.redis?.healthcheck?.test?.join(' '), /redis-cli ping/);
  t.ok(
    s.redis?.volumes?.some((v) => v.startsWith('redisdata:')),
    'redis data on a volume',
  );

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
  t.ok(
    (s.worker?.cpu_shares ?? 1024) < (s.api?.cpu_shares ?? 1024),
    'the worker weighs less than the API on a shared host',
  );
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
  t.same(scriptCommand(ROOT, 'start:api'), s.api?.command, 'compose and npm run the same entry point');
  // The worker's node flags (docs/performance.md) are said once, in npm run start:worker: compose runs exactly that.
  t.same(
    scriptCommand(ROOT, 'start:worker'),
    s.worker?.command,
    'compose runs the worker as npm run start:worker does',
  );
  t.same(scriptCommand(ROOT, 'migrate'), s.migrate?.command);
  // npm runs scripts through sh; `exec` makes node npm's child, so npm's SIGTERM reaches it.
  for (const name of ['start', 'start:api', 'start:worker'])
    t.match(pkg.scripts[name], /^exec node /, `${name} execs node`);
});

t.test('npm run start:worker: node accepts its flags, and its entry is the compiled worker main', async (t) => {
  const [node, ...args] = scriptCommand(ROOT, 'start:worker');
  t.equal(node, 'node');
  const entry = args.at(-1) ?? '';
  const flags = args.slice(0, -1);
  t.ok(
    flags.every((f) => f.startsWith('--')),
    `only node options before the entry: ${flags.join(' ')}`,
  );
  t.ok(
    existsSync(`${ROOT}/${entry.replace('/dist/', '/src/').replace(/\.js$/, '.ts')}`),
    `${entry} is compiled from a source file`,
  );
  t.match(entry, /^apps\/worker\//, 'the entry is the worker');
  // An option this node does not know makes it exit 9 before running anything.
  const run = spawnSync(process.execPath, [...flags, '-e', 'process.stdout.write("started")'], { encoding: 'utf8' });
  t.equal(run.stderr, '', 'no complaint about an option');
  t.equal(run.status, 0);
  t.equal(run.stdout, 'started', 'node runs code with these options');
});

t.test(
  'docker-compose.yml: only the HTTPS proxy is reachable from outside, and the API believes only it',
  async (t) => {
    const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose;
    const s = compose.services;
    const published = Object.entries(s).flatMap(([name, svc]) =>
      (svc.ports ?? []).map((p) => `${name} ${p.replace(/\/udp$/, '')}`),
    );
    t.same(
      [...new Set(published)].sort(),
      ['proxy 443:443', 'proxy 80:80'],
      'the API, PostgreSQL and Redis publish nothing',
    );

    // The proxy reaches the API and nothing else; the API is on both networks (the proxy's and the storage's).
    const proxyNets = s.proxy?.networks ?? ['default'];
    const apiNets = s.api?.networks ?? ['default'];
    const shared = proxyNets.filter((n) => apiNets.includes(n));
    t.equal(shared.length, 1, 'proxy and API share one network');
    t.notOk(proxyNets.includes('default'), 'the proxy cannot reach PostgreSQL or Redis');
    t.ok(apiNets.includes('default'), 'the API still reaches PostgreSQL and Redis');
    for (const name of ['postgres', 'redis', 'worker', 'migrate'])
      t.notOk(
        (s[name]?.networks ?? ['default']).some((n) => shared.includes(n)),
        `${name} is not on the proxy's network`,
      );

    // TRUST_PROXY trusts the proxy's network and nobody else: a container on the default network
    // (Docker's usual 172.17-172.29 ranges) cannot set X-Forwarded-Proto.
    const subnet = withDefaults(compose.networks?.[shared[0] as string]?.ipam?.config?.[0]?.subnet);
    t.ok(subnet, 'the shared network has a fixed subnet');
    const trustProxy = withDefaults(s.api?.environment?.TRUST_PROXY);
    t.equal(trustProxy, subnet, 'TRUST_PROXY names the proxy network');
    const trust = trustFunction(trustProxy as string) as (address: string, hop: number) => boolean;
    const inside = (subnet as string).replace(/\.0\/\d+$/, '.7');
    t.equal(trust(inside, 0), true, `${inside}, on the proxy network, is believed`);
    for (const other of ['172.17.0.2', '172.18.0.5', '192.168.1.10', '203.0.113.9'])
      t.equal(trust(other, 0), false, `${other} is not`);

    // The proxy runs the repository's Caddyfile, for the DOMAIN of the deployment, keeping its certificates.
    const volumes = s.proxy?.volumes ?? [];
    t.ok(
      volumes.some((v) => v.startsWith('./deploy/caddy/Caddyfile:/etc/caddy/Caddyfile')),
      'the Caddyfile is mounted',
    );
    t.ok(
      volumes.some((v) => /^\w+:\/data$/.test(v)),
      'certificates on a volume',
    );
    t.equal(withDefaults(s.proxy?.environment?.DOMAIN), 'localhost', "without DOMAIN: localhost (Caddy's local CA)");
    t.equal(s.proxy?.depends_on?.api?.condition, 'service_healthy');
    t.equal(s.api?.environment?.PORT, '3000');
  },
);

let caddy = '';
try {
  caddy = execFileSync('caddy', ['version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
} catch {
  caddy = '';
}
const noCaddy = 'caddy is not installed (apt-get install caddy; .ci/run does it): the Caddyfile is not checked';
if (!caddy && process.env.CI) t.fail(`${noCaddy}: CI must check the Caddyfile`);

t.test(
  'deploy/caddy/Caddyfile: HTTPS for DOMAIN in front of the API, bounded bodies and times',
  { skip: caddy ? false : noCaddy },
  async (t) => {
    t.comment(`caddy ${caddy}`);
    const adapt = (env: Record<string, string>) =>
      JSON.parse(
        execFileSync('caddy', ['adapt', '--config', `${ROOT}/deploy/caddy/Caddyfile`, '--adapter', 'caddyfile'], {
          env: { PATH: process.env.PATH ?? '', HOME: '/tmp', ...env },
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        }),
      ) as CaddyConfig;
    const config = adapt({ DOMAIN: 'bot.example.com' });
    const http = config.apps.http;
    t.equal(http.https_port, 443);
    t.equal(http.http_port, 80);
    const servers = Object.values(http.servers);
    t.equal(servers.length, 1);
    const server = servers[0] as CaddyServer;
    t.same(server.listen, [':443'], 'HTTPS only (Caddy redirects port 80 by itself)');
    t.notOk(server.automatic_https?.disable, 'automatic certificates');
    const route = server.routes[0] as CaddyRoute;
    t.same(route.match?.[0]?.host, ['bot.example.com'], 'the certificate and the route are for DOMAIN');
    const handlers = route.handle[0]?.routes?.flatMap((r) => r.handle) ?? [];
    const body = handlers.find((h) => h.handler === 'request_body');
    const proxy = handlers.find((h) => h.handler === 'reverse_proxy');
    t.ok(proxy, 'reverse proxy');
    t.ok(
      handlers.indexOf(body as CaddyHandler) < handlers.indexOf(proxy as CaddyHandler),
      'the body cap applies before proxying',
    );
    // Above the API's own cap (4 MiB by default), so the API's JSON 413 answers an oversized webhook.
    t.ok(
      (body?.max_size ?? 0) >= 4 * 1024 * 1024 && (body?.max_size ?? Infinity) <= 16 * 1024 * 1024,
      `body capped at ${body?.max_size} bytes`,
    );
    t.same(proxy?.upstreams, [{ dial: 'api:3000' }], 'forwards to the compose service `api` on its port');
    // Caddy sets X-Forwarded-Proto itself; nothing may remove or overwrite it.
    t.notMatch(JSON.stringify(proxy?.headers ?? {}), /forwarded-proto/i);
    for (const key of ['read_header_timeout', 'read_timeout', 'idle_timeout'] as const)
      t.ok((server[key] ?? 0) > 0 && (server[key] ?? 0) <= 300e9, `${key} bounded`);
    t.ok((proxy?.transport?.response_header_timeout ?? 0) > 0, 'a hung API does not hold connections forever');
    t.notOk(server.logs, 'no access log: the verification handshake carries its token in the query');

    // Without DOMAIN: localhost, which Caddy serves from its local CA, without touching the system's trust store.
    const local = adapt({});
    t.same((Object.values(local.apps.http.servers)[0] as CaddyServer).routes[0]?.match?.[0]?.host, ['localhost']);
    t.equal(local.apps.pki?.certificate_authorities?.local?.install_trust, false);
    execFileSync('caddy', ['validate', '--config', `${ROOT}/deploy/caddy/Caddyfile`, '--adapter', 'caddyfile'], {
      env: { PATH: process.env.PATH ?? '', HOME: '/tmp', DOMAIN: 'bot.example.com' },
      stdio: 'ignore',
    });
    t.pass('caddy validate accepts it');
  },
);

type CaddyHandler = {
  handler: string;
  max_size?: number;
  upstreams?: Array<{ dial: string }>;
  headers?: unknown;
  transport?: { response_header_timeout?: number };
  routes?: Array<{ handle: CaddyHandler[] }>;
};
type CaddyRoute = { match?: Array<{ host?: string[] }>; handle: CaddyHandler[] };
type CaddyServer = {
  listen: string[];
  routes: CaddyRoute[];
  automatic_https?: { disable?: boolean };
  read_header_timeout?: number;
  read_timeout?: number;
  idle_timeout?: number;
  logs?: unknown;
};
type CaddyConfig = {
  apps: {
    http: { http_port?: number; https_port?: number; servers: Record<string, CaddyServer> };
    pki?: { certificate_authorities?: { local?: { install_trust?: boolean } } };
  };
};

t.test('Dockerfile: multi-stage, Node 24 LTS, non-root, health check, production dependencies only', async (t) => {
  const dockerfile = read('Dockerfile');
  const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)];
  t.ok(froms.length >= 2, 'multi-stage');
  for (const f of froms) t.match(f[1], /^node:24[.-]/, 'Node 24 LTS');
  t.match(dockerfile, /npm prune --omit=dev/);
  t.match(dockerfile, /^USER 1000:1000$/m, 'non-root, numeric');
  t.match(dockerfile, /^HEALTHCHECK /m);
  const cmd = /^CMD (\[.*\])$/m.exec(dockerfile)?.[1];
  t.same(
    JSON.parse(cmd ?? 'null'),
    scriptCommand(ROOT, 'start:api'),
    'the image runs, unless told otherwise, what npm run start:api runs',
  );
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
