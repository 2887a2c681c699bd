// Fakes Meta's Graph API (fake-graph.ts, a real loopback server answering debug_token and
// subscribed_apps) because the audit checks Page tokens against Meta. PostgreSQL is a real migrated
// test database; Redis is a private redis-server of this file's own, started with what production
// needs (noeviction, AOF), because the audit reads and judges the server's configuration.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import t from 'tap';
import { aiSwitchStore, createDb } from '@switchboard/db';
import { PageTokenStore } from '@switchboard/pages';
import { Sealer } from '@switchboard/privacy';
import { testDatabase } from '../helpers/db.js';
import { startFakeGraph } from '../helpers/fake-graph.js';
import { startPrivateRedis } from '../helpers/private-redis.js';
import { ROOT } from '../helpers/processes.js';

interface AuditOutput {
  code: number | null;
  stdout: string;
  stderr: string;
  report: {
    findings: Array<{ id: string; severity: string; ok: boolean; message: string }>;
    summary: Record<string, number>;
  };
}

const cwd = mkdtempSync(join(tmpdir(), 'sb-audit-'));
t.teardown(() => rmSync(cwd, { recursive: true, force: true }));

/** The compiled command, as `npm run security-audit -- --json` runs it; cwd has no .env. */
function runAudit(env: Record<string, string>): Promise<AuditOutput> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(ROOT, 'apps/tools/dist/security-audit.js'), '--json'],
      { cwd, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err);
        try {
          resolve({ code: err ? (err.code as number) : 0, stdout, stderr, report: JSON.parse(stdout) });
        } catch {
          reject(new Error(`security-audit printed no JSON (stderr: ${stderr})`));
        }
      },
    );
  });
}

const appId = '100000000000077';
const appSecret = randomBytes(16).toString('hex');
const pageToken = `EAAtestpagetoken${randomBytes(12).toString('hex')}`;
const registeredToken = `EAAtestregistered${randomBytes(12).toString('hex')}`;
const pageId = '200000000000011';

const databaseUrl = await testDatabase(t, 'security_audit');
const redisServer = await startPrivateRedis(t, { appendonly: true });
const graph = await startFakeGraph({ appSecret, appId });
t.teardown(() => graph.close());

const env: Record<string, string> = {
  NODE_ENV: 'production',
  DATABASE_URL: databaseUrl,
  REDIS_URL: redisServer.url,
  QUEUE_PREFIX: `sbtest-audit-${randomBytes(4).toString('hex')}`,
  GRAPH_API_BASE_URL: graph.url,
  FACEBOOK_APP_ID: appId,
  FACEBOOK_APP_SECRET: appSecret,
  FACEBOOK_VERIFY_TOKEN: randomBytes(16).toString('hex'),
  FACEBOOK_PAGE_ACCESS_TOKEN: pageToken,
  ADMIN_USER: 'operator',
  ADMIN_PASS: randomBytes(12).toString('base64url'),
  PSID_HASH_SECRET: randomBytes(24).toString('hex'),
  ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  REQUIRE_HTTPS: 'true',
  CORS_ORIGINS: 'https://ops.example.com',
  GEMINI_API_KEY: `AIzaTest${randomBytes(12).toString('hex')}`,
  AI_DAILY_BUDGET_USD: '5',
  AI_TIMEOUT_MS: '3000',
};
const secretValues = [
  appSecret,
  pageToken,
  registeredToken,
  env.FACEBOOK_VERIFY_TOKEN,
  env.ADMIN_PASS,
  env.PSID_HASH_SECRET,
  env.ENCRYPTION_KEY,
  env.GEMINI_API_KEY,
] as string[];

// A registered page with its own sealed token, beside the default token.
const dbh = createDb(databaseUrl, { max: 1 });
t.teardown(() => dbh.close());
const redis = new Redis(redisServer.url);
t.teardown(() => redis.disconnect());
const registry = new PageTokenStore({
  db: dbh.db,
  sealer: new Sealer(Buffer.from(env.ENCRYPTION_KEY as string, 'base64')),
});
await registry.register(pageId, 'messenger', registeredToken);

const validFor = { is_valid: true, expires_at: 0, scopes: ['pages_messaging', 'pages_manage_metadata'] };
graph.setTokenInfo(pageToken, validFor);
graph.setTokenInfo(registeredToken, validFor);
const allFields = ['messages', 'messaging_postbacks', 'message_echoes'];
graph.setSubscribedApps('me', [{ id: appId, subscribed_fields: allFields }]);
graph.setSubscribedApps(pageId, [{ id: appId, subscribed_fields: allFields }]);

const byId = (out: AuditOutput, id: string) => out.report.findings.find((f) => f.id === id);
const criticalIds = (out: AuditOutput) => out.report.findings.filter((f) => f.severity === 'critical').map((f) => f.id);

t.test('a correct production deployment passes: exit 0, no critical finding, no secret printed', async (t) => {
  const out = await runAudit(env);
  t.same(criticalIds(out), [], 'no critical finding');
  t.equal(out.code, 0);
  t.equal(out.report.summary.critical, 0);
  t.equal(out.report.summary.ok, out.report.findings.filter((f) => f.ok).length, 'summary counts the findings');
  for (const id of [
    'env.node_env',
    'secret.facebook_app_secret',
    'secret.admin_pass',
    'secret.encryption_key',
    'http.require_https',
    'http.cors',
    'ai.budget',
    'ai.kill_switch',
    'postgres.reachable',
    'postgres.migrations',
    'redis.reachable',
    'redis.maxmemory_policy',
    'redis.persistence',
    'redis.version',
    `graph.token.${pageId}`,
    `graph.subscription.${pageId}`,
    'graph.token.default',
    'graph.subscription.default',
    'graph.version',
  ]) {
    t.equal(byId(out, id)?.severity, 'ok', `${id} ok: ${byId(out, id)?.message}`);
  }
  for (const secret of secretValues)
    t.notOk(out.stdout.includes(secret) || out.stderr.includes(secret), 'no secret value in the output');
});

t.test('the kill switch state is read from PostgreSQL, and a Redis copy that disagrees is named', async (t) => {
  const key = `${env.QUEUE_PREFIX}:ai:enabled`;
  t.teardown(async () => {
    await dbh.sql`delete from ai_switch`;
    await redis.del(key);
  });
  t.match(byId(await runAudit(env), 'ai.kill_switch'), { severity: 'ok', message: /not stored yet; AI_ENABLED=true/ });

  await aiSwitchStore(dbh.db).write(false, () => redis.set(key, '0'));
  const off = await runAudit(env);
  t.match(byId(off, 'ai.kill_switch'), { severity: 'ok', message: /AI off/ });
  t.equal(off.code, 0, 'AI off is a state, not a failure');

  await redis.del(key);
  t.match(
    byId(await runAudit(env), 'ai.kill_switch'),
    { severity: 'ok', message: /AI off/ },
    'a lost Redis copy does not change what PostgreSQL holds',
  );

  await redis.set(key, '1');
  t.match(byId(await runAudit(env), 'ai.kill_switch'), {
    severity: 'warning',
    message: /PostgreSQL says AI off but the Redis copy .* says on/,
  });
});

t.test(
  'a subscription without message_echoes is a warning that says why; without messages it is critical',
  async (t) => {
    t.teardown(() => graph.setSubscribedApps(pageId, [{ id: appId, subscribed_fields: allFields }]));
    graph.setSubscribedApps(pageId, [{ id: appId, subscribed_fields: ['messages', 'messaging_postbacks'] }]);
    const noEchoes = await runAudit(env);
    t.match(byId(noEchoes, `graph.subscription.${pageId}`), {
      severity: 'warning',
      message: /lacks message_echoes \(.*sent again: the user may get it twice\)/,
    });
    t.equal(byId(noEchoes, 'graph.subscription.default')?.severity, 'ok', 'the other Page is unaffected');
    t.equal(noEchoes.code, 0, 'every message is still answered: not a reason to block a deployment');

    graph.setSubscribedApps(pageId, [{ id: appId, subscribed_fields: ['message_echoes'] }]);
    const noMessages = await runAudit(env);
    const finding = byId(noMessages, `graph.subscription.${pageId}`);
    t.match(finding, {
      severity: 'critical',
      message: /lacks messages \(no message reaches Switchboard.*\); messaging_postbacks/,
    });
    t.match(
      finding?.message,
      /subscribed_fields=messages,messaging_postbacks,message_echoes/,
      'names the fields to subscribe',
    );
    t.equal(noMessages.code, 1);
  },
);

t.test('an invalid Page token, a dropped subscription and a missing budget are named', async (t) => {
  graph.setTokenInfo(registeredToken, { is_valid: false });
  graph.setSubscribedApps('me', []);
  t.teardown(() => {
    graph.setTokenInfo(registeredToken, validFor);
    graph.setSubscribedApps('me', [{ id: appId, subscribed_fields: allFields }]);
  });
  const out = await runAudit({ ...env, AI_DAILY_BUDGET_USD: '', AI_TIMEOUT_MS: '20000' });
  t.equal(out.code, 1);
  t.match(byId(out, `graph.token.${pageId}`), { severity: 'critical', message: /invalid/ });
  t.match(byId(out, 'graph.subscription.default'), { severity: 'critical', message: /NOT subscribed/ });
  t.equal(byId(out, 'graph.token.default')?.severity, 'ok');
  t.equal(byId(out, 'ai.budget')?.severity, 'warning');
  t.equal(byId(out, 'ai.timeout')?.severity, 'warning');
  for (const secret of secretValues) t.notOk(out.stdout.includes(secret), 'no secret value in the output');
});

t.test('Redis that may evict or persists nothing is critical', async (t) => {
  await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
  await redis.config('SET', 'appendonly', 'no');
  t.teardown(async () => {
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    await redis.config('SET', 'appendonly', 'yes');
  });
  const out = await runAudit(env);
  t.equal(out.code, 1);
  t.match(byId(out, 'redis.maxmemory_policy'), { severity: 'critical', message: /allkeys-lru/ });
  t.equal(byId(out, 'redis.persistence')?.severity, 'critical');

  await redis.config('SET', 'save', '3600 1');
  t.teardown(() => redis.config('SET', 'save', ''));
  const withRdb = await runAudit(env);
  t.equal(byId(withRdb, 'redis.persistence')?.severity, 'ok', 'RDB snapshots count as persistence');
});
