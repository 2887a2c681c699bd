// Fakes nothing: the audit runs against a development configuration (no Meta, no Gemini calls are
// made without an app id and secret) and against services that are not there.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DEVELOPMENT_DEFAULTS } from '@switchboard/config';
import { testDatabase } from '../helpers/db.js';
import { freePort, ROOT } from '../helpers/processes.js';
import { REDIS_URL } from '../helpers/redis.js';

interface AuditOutput {
  code: number | null;
  stdout: string;
  ms: number;
}

const cwd = mkdtempSync(join(tmpdir(), 'sb-audit-'));
t.teardown(() => rmSync(cwd, { recursive: true, force: true }));

/** The compiled command with only PATH and `env`; cwd has no .env, so nothing else leaks in. */
function runAudit(env: Record<string, string>, args: string[] = ['--json']): Promise<AuditOutput> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(ROOT, 'apps/tools/dist/security-audit.js'), ...args],
      { cwd, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 },
      (err, stdout) => {
        if (err && typeof err.code !== 'number') return reject(err);
        resolve({ code: err ? (err.code as number) : 0, stdout, ms: Date.now() - started });
      },
    );
  });
}

type Report = {
  findings: Array<{ id: string; severity: string; ok: boolean; message: string }>;
  summary: Record<string, number>;
};
const critical = (out: AuditOutput) =>
  (JSON.parse(out.stdout) as Report).findings.filter((f) => f.severity === 'critical').map((f) => f.id);

const databaseUrl = await testDatabase(t, 'security_audit_dev');

t.test('a development configuration fails, naming each critical finding', async (t) => {
  const out = await runAudit({
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    QUEUE_PREFIX: 'sbtest-audit-dev',
    CORS_ORIGINS: '*',
  });
  t.equal(out.code, 1, 'exit 1 on critical findings');
  const report = JSON.parse(out.stdout) as Report;
  t.equal(report.summary.critical, critical(out).length);
  const ids = critical(out);
  for (const id of [
    'env.node_env',
    'meta.app_id',
    'secret.facebook_app_secret',
    'secret.facebook_verify_token',
    'secret.admin_pass',
    'secret.psid_hash_secret',
    'secret.encryption_key',
    'http.require_https',
    'http.cors',
  ]) {
    t.ok(ids.includes(id), `${id} is critical`);
  }
  t.notOk(ids.includes('postgres.reachable'), 'the services were still checked');
  t.notOk(ids.includes('postgres.migrations'), 'the test database is migrated');
});

t.test('development defaults in production: config problems become findings, services are still audited', async (t) => {
  const out = await runAudit({
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    QUEUE_PREFIX: 'sbtest-audit-dev',
    FACEBOOK_APP_ID: '100000000000088',
    ...DEVELOPMENT_DEFAULTS,
    PORT: 'not-a-port',
    GRAPH_API_VERSION: 'v17.0',
  });
  t.equal(out.code, 1);
  const report = JSON.parse(out.stdout) as Report;
  const ids = critical(out);
  for (const id of [
    'secret.facebook_app_secret',
    'secret.admin_pass',
    'secret.psid_hash_secret',
    'secret.encryption_key',
    'secret.facebook_verify_token',
  ])
    t.match(
      report.findings.find((f) => f.id === id),
      { severity: 'critical', message: /development default/ },
      `${id} names the default`,
    );
  t.ok(ids.includes('graph.version'), 'a retired Graph API version is critical');
  t.ok(ids.includes('config.PORT'), 'a malformed variable is reported from loadConfig');
  t.equal(ids.filter((id) => id === 'config.ADMIN_PASS').length, 0, 'a variable already judged is not reported twice');
  t.ok(
    report.findings.some((f) => f.id === 'redis.reachable' && f.ok),
    'Redis was checked despite the refused configuration',
  );
  t.ok(
    report.findings.some((f) => f.id === 'postgres.migrations' && f.ok),
    'PostgreSQL was checked too',
  );
  for (const value of Object.values(DEVELOPMENT_DEFAULTS).filter((v) => v.length > 8))
    t.notOk(out.stdout.includes(value), 'no secret value in the output');
});

t.test('services that are down are critical findings, reported within seconds, not a crash', async (t) => {
  const [pgPort, redisPort] = [await freePort(), await freePort()];
  const out = await runAudit({
    DATABASE_URL: `postgres://switchboard:hunter2-db-pass@127.0.0.1:${pgPort}/switchboard`,
    REDIS_URL: `redis://:hunter2-redis-pass@127.0.0.1:${redisPort}`,
  });
  t.equal(out.code, 1);
  const ids = critical(out);
  t.ok(ids.includes('postgres.reachable'));
  t.ok(ids.includes('redis.reachable'));
  t.ok(out.ms < 15_000, `finished in ${out.ms} ms`);
  t.notOk(out.stdout.includes('hunter2'), 'connection passwords are not printed');
});

t.test('the text report: one line per check and a summary', async (t) => {
  const out = await runAudit({ DATABASE_URL: databaseUrl, REDIS_URL, QUEUE_PREFIX: 'sbtest-audit-dev' }, []);
  t.equal(out.code, 1);
  t.match(out.stdout, /^CRITICAL\s+env\.node_env\s+NODE_ENV/m);
  t.match(out.stdout, /^ok\s+redis\.reachable\s+/m);
  t.match(out.stdout, /security audit: \d+ critical, \d+ warning, \d+ ok/);
});
