/**
 * `npm run security-audit [-- --json]` — the production checklist as a program: the configuration
 * (without exiting on errors: every problem is a finding), then the live services — PostgreSQL,
 * Redis, Meta's Graph API. Prints one line per check (or JSON with --json) and exits 1 on any
 * critical finding, 0 otherwise. Never prints a secret or a token.
 */
import { readEnvironment } from '@switchboard/config';
import { PageTokenStore } from '@switchboard/pages';
import { Sealer } from '@switchboard/privacy';
import { loadAuditConfig } from './audit/audit-config.js';
import { checkEnvironment } from './audit/environment-checks.js';
import { Findings } from './audit/findings.js';
import { checkKillSwitch } from './audit/kill-switch-check.js';
import { checkPageTokens } from './audit/graph-checks.js';
import { checkGraphVersion } from './audit/graph-version-check.js';
import { checkPostgres } from './audit/postgres-checks.js';
import { checkRedis, connectAuditRedis } from './audit/redis-checks.js';
import { formatJson, formatText, redactSecrets } from './audit/report.js';

/** Values that must never appear in the output, whatever a check or a driver says. */
const SECRET_VARIABLES = [
  'FACEBOOK_APP_SECRET',
  'FACEBOOK_VERIFY_TOKEN',
  'FACEBOOK_PAGE_ACCESS_TOKEN',
  'WHATSAPP_ACCESS_TOKEN',
  'ADMIN_PASS',
  'PSID_HASH_SECRET',
  'ENCRYPTION_KEY',
  'ENCRYPTION_KEY_PREVIOUS',
  'GEMINI_API_KEY',
];

function urlPassword(url: string | undefined): string {
  try {
    return url ? decodeURIComponent(new URL(url).password) : '';
  } catch {
    return '';
  }
}

const json = process.argv.includes('--json');
const audit = loadAuditConfig(readEnvironment());
const f = new Findings();

checkEnvironment(audit, f);

const config = audit.config;
if (config) {
  checkGraphVersion(config.meta.graphVersion, f);
  const dbh = await checkPostgres(config.databaseUrl, f);
  const redis = connectAuditRedis(config.redisCluster ?? config.redisUrl);
  const redisUp = await checkRedis(redis, config, f);
  await checkKillSwitch(dbh, redisUp ? redis : undefined, config, f);
  // Opening stored tokens needs the real key: with a refused ENCRYPTION_KEY the pages are skipped.
  const keysUsable = !audit.dropped.has('ENCRYPTION_KEY') && !audit.dropped.has('ENCRYPTION_KEY_PREVIOUS');
  const tokenStore =
    dbh && keysUsable
      ? new PageTokenStore({
          db: dbh.db,
          sealer: new Sealer(config.privacy.encryptionKey, config.privacy.previousEncryptionKeys),
          cacheMs: 0,
        })
      : undefined;
  const graphUsable = !['FACEBOOK_APP_SECRET', 'FACEBOOK_APP_ID'].some((v) => audit.dropped.has(v) || !audit.env[v]);
  if (graphUsable) await checkPageTokens(config, tokenStore, f);
  else
    f.warning(
      'graph.tokens',
      'Page tokens and subscriptions not checked: FACEBOOK_APP_ID and FACEBOOK_APP_SECRET are needed first',
    );
  redis.disconnect();
  void dbh?.close().catch(() => {});
}

for (const problem of audit.problems) {
  const variable = problem.slice(0, problem.indexOf(':')).split('.')[0] ?? '';
  if (!f.judgedCritical(variable))
    f.critical(`config.${variable || 'invalid'}`, `configuration refused: ${problem}`, [variable]);
}
if (!config) f.critical('config.unusable', 'the configuration cannot be loaded at all: services not checked');

const result = f.result();
const secrets = [
  ...SECRET_VARIABLES.flatMap((name) => {
    const value = audit.env[name];
    return value ? [value, ...value.split(',').map((part) => part.trim())] : [];
  }),
  ...['DATABASE_URL', 'REDIS_URL'].map((name) => urlPassword(audit.env[name])),
];
process.stdout.write(redactSecrets(json ? formatJson(result) : formatText(result), secrets));
// Exit at once: a hung driver socket must not keep the command alive after the report.
process.exit(result.summary.critical > 0 ? 1 : 0);
