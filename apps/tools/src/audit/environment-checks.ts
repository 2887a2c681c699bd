import { DEVELOPMENT_DEFAULTS } from '@switchboard/config';
import type { AuditConfig } from './audit-config.js';
import type { Findings } from './findings.js';

/**
 * Passwords nobody should run production with, whatever their length. packages/config keeps the
 * same idea for production start-up; the audit judges every NODE_ENV, so it holds its own list.
 */
const KNOWN_WEAK_PASSWORDS = new Set([
  DEVELOPMENT_DEFAULTS.ADMIN_PASS,
  'admin',
  'administrator',
  'password',
  'password123',
  'changeme',
  'change-me',
  'secret',
  'letmein',
  'qwertyuiop',
  '123456',
  '123456789012',
  'switchboard',
]);
const MIN_ADMIN_PASS_LENGTH = 12;
/** An HMAC key shorter than its 32-byte output gives away strength for nothing. */
const MIN_PSID_SECRET_LENGTH = 32;
/** packages/config's production floor: below it the service refuses to start. */
const CONFIG_MIN_SECRET_LENGTH = 16;
const MIN_VERIFY_TOKEN_LENGTH = 16;
/** An AI call longer than this holds a worker slot and the user's reply for too long. */
const MAX_SANE_AI_TIMEOUT_MS = 10_000;

const isDefault = (name: keyof typeof DEVELOPMENT_DEFAULTS, value: string | undefined) =>
  value === DEVELOPMENT_DEFAULTS[name];

function decodesTo32Bytes(value: string): boolean {
  const key = Buffer.from(value, 'base64');
  return key.length === 32 && key.toString('base64').replace(/=+$/, '') === value.replace(/=+$/, '');
}

/** Checks of the configuration alone: no network. Every message names variables, never values. */
export function checkEnvironment(audit: AuditConfig, f: Findings): void {
  const { env } = audit;

  if (env.NODE_ENV === 'production') f.ok('env.node_env', 'NODE_ENV=production', ['NODE_ENV']);
  else
    f.critical(
      'env.node_env',
      `NODE_ENV is ${env.NODE_ENV ?? 'unset (development)'}: set NODE_ENV=production so development defaults are refused`,
      ['NODE_ENV'],
    );

  const appId = env.FACEBOOK_APP_ID;
  if (!appId)
    f.critical('meta.app_id', 'FACEBOOK_APP_ID is not set (needed for debug_token and subscription checks)', [
      'FACEBOOK_APP_ID',
    ]);
  else if (!/^\d+$/.test(appId))
    f.critical('meta.app_id', 'FACEBOOK_APP_ID must be the numeric app id', ['FACEBOOK_APP_ID']);
  else f.ok('meta.app_id', 'FACEBOOK_APP_ID is set', ['FACEBOOK_APP_ID']);

  checkSecret(f, 'secret.facebook_app_secret', 'FACEBOOK_APP_SECRET', env.FACEBOOK_APP_SECRET, (v) => {
    // Meta's app secrets are 32 lowercase hex characters; anything else is probably a copy error.
    if (!/^[0-9a-f]{32,}$/i.test(v))
      return [
        'warning',
        'FACEBOOK_APP_SECRET does not look like a Meta app secret (32+ hex characters): check it was copied whole',
      ];
    return ['ok', 'FACEBOOK_APP_SECRET is set and looks like a Meta app secret'];
  });
  checkSecret(f, 'secret.facebook_verify_token', 'FACEBOOK_VERIFY_TOKEN', env.FACEBOOK_VERIFY_TOKEN, (v) =>
    v.length < MIN_VERIFY_TOKEN_LENGTH
      ? [
          'warning',
          `FACEBOOK_VERIFY_TOKEN is shorter than ${MIN_VERIFY_TOKEN_LENGTH} characters: use a long random string`,
        ]
      : ['ok', 'FACEBOOK_VERIFY_TOKEN is set'],
  );
  checkSecret(f, 'secret.admin_pass', 'ADMIN_PASS', env.ADMIN_PASS, (v) => {
    if (KNOWN_WEAK_PASSWORDS.has(v.toLowerCase()))
      return ['critical', 'ADMIN_PASS is a well-known password: set a long random one'];
    if (v.length < MIN_ADMIN_PASS_LENGTH)
      return ['critical', `ADMIN_PASS is shorter than ${MIN_ADMIN_PASS_LENGTH} characters`];
    if (env.ADMIN_USER && v.toLowerCase().includes(env.ADMIN_USER.toLowerCase()))
      return ['warning', 'ADMIN_PASS contains ADMIN_USER: choose an unrelated random password'];
    return ['ok', `ADMIN_PASS is set (${MIN_ADMIN_PASS_LENGTH}+ characters, not a known default)`];
  });
  checkSecret(f, 'secret.psid_hash_secret', 'PSID_HASH_SECRET', env.PSID_HASH_SECRET, (v) => {
    if (v.length < CONFIG_MIN_SECRET_LENGTH)
      return ['critical', `PSID_HASH_SECRET is shorter than ${CONFIG_MIN_SECRET_LENGTH} characters`];
    if (v.length < MIN_PSID_SECRET_LENGTH)
      return [
        'warning',
        `PSID_HASH_SECRET is shorter than ${MIN_PSID_SECRET_LENGTH} characters (it keys the HMAC of every user id; changing it later re-keys all hashes, see docs/runbook.md)`,
      ];
    return ['ok', `PSID_HASH_SECRET is set (${MIN_PSID_SECRET_LENGTH}+ characters)`];
  });
  checkSecret(f, 'secret.encryption_key', 'ENCRYPTION_KEY', env.ENCRYPTION_KEY, (v) =>
    decodesTo32Bytes(v)
      ? ['ok', 'ENCRYPTION_KEY is 32 bytes, base64']
      : ['critical', 'ENCRYPTION_KEY must be exactly 32 bytes, base64-encoded (openssl rand -base64 32)'],
  );
  if (env.ENCRYPTION_KEY_PREVIOUS) {
    const all = env.ENCRYPTION_KEY_PREVIOUS.split(',')
      .map((k) => k.trim())
      .filter(Boolean);
    if (!all.every(decodesTo32Bytes))
      f.critical('secret.encryption_key_previous', 'ENCRYPTION_KEY_PREVIOUS holds a key that is not 32 bytes, base64', [
        'ENCRYPTION_KEY_PREVIOUS',
      ]);
    else
      f.warning(
        'secret.encryption_key_previous',
        `ENCRYPTION_KEY_PREVIOUS holds ${all.length} old key(s): finish the rotation (npm run rotate-key), then remove it`,
        ['ENCRYPTION_KEY_PREVIOUS'],
      );
  }
  // Distinct secrets, so one leak does not open everything.
  const secretValues = [
    'FACEBOOK_APP_SECRET',
    'FACEBOOK_VERIFY_TOKEN',
    'ADMIN_PASS',
    'PSID_HASH_SECRET',
    'ENCRYPTION_KEY',
  ]
    .map((name) => [name, env[name]] as const)
    .filter((e): e is readonly [string, string] => e[1] !== undefined);
  const reused = secretValues.filter(([, v], i) => secretValues.findIndex(([, w]) => w === v) !== i).map(([n]) => n);
  if (reused.length > 0)
    f.critical(
      'secret.distinct',
      `${reused.join(', ')} repeat(s) another secret's value: every secret must be its own random value`,
      reused,
    );

  checkHttp(audit, f);
  checkAiSettings(audit, f);

  if (env.GRAPH_API_BASE_URL && !env.GRAPH_API_BASE_URL.startsWith('https://'))
    f.warning(
      'meta.graph_base_url',
      'GRAPH_API_BASE_URL is not https: only a loopback stand-in (tests, staging) should be used',
      ['GRAPH_API_BASE_URL'],
    );
}

type Verdict = ['critical' | 'warning' | 'ok', string];

/** Required in production, never the development default, then the secret's own strength rule. */
function checkSecret(
  f: Findings,
  id: string,
  name: Exclude<keyof typeof DEVELOPMENT_DEFAULTS, 'ADMIN_USER'>,
  value: string | undefined,
  strength: (value: string) => Verdict,
): void {
  if (value === undefined) f.critical(id, `${name} is not set (required in production)`, [name]);
  else if (isDefault(name, value)) f.critical(id, `${name} is the development default: set a production value`, [name]);
  else {
    const [severity, message] = strength(value);
    f[severity](id, message, [name]);
  }
}

function checkHttp(audit: AuditConfig, f: Findings): void {
  const { env } = audit;
  const production = env.NODE_ENV === 'production';
  const require = env.REQUIRE_HTTPS?.toLowerCase();
  if (require === undefined) {
    if (production)
      f.ok('http.require_https', 'HTTPS enforced for webhooks (REQUIRE_HTTPS defaults to true in production)', [
        'REQUIRE_HTTPS',
      ]);
    else
      f.critical(
        'http.require_https',
        'HTTPS is not enforced: set REQUIRE_HTTPS=true (the default only in production)',
        ['REQUIRE_HTTPS'],
      );
  } else if (['true', '1', 'yes'].includes(require)) {
    f.ok('http.require_https', 'HTTPS enforced for webhooks (REQUIRE_HTTPS=true)', ['REQUIRE_HTTPS']);
  } else {
    f.critical(
      'http.require_https',
      'REQUIRE_HTTPS is off: webhooks over plain HTTP are accepted; set REQUIRE_HTTPS=true behind a TLS proxy',
      ['REQUIRE_HTTPS'],
    );
  }
  if (require !== 'false' && env.TRUST_PROXY === 'false')
    f.warning(
      'http.trust_proxy',
      'TRUST_PROXY=false with HTTPS enforced: behind a TLS-terminating proxy every webhook would be refused',
      ['TRUST_PROXY'],
    );

  const origins = (env.CORS_ORIGINS ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  if (origins.includes('*'))
    f.critical('http.cors', 'CORS_ORIGINS is *: list the exact origins that may call the ops API', ['CORS_ORIGINS']);
  else if (origins.some((o) => o.startsWith('http://')))
    f.warning('http.cors', 'CORS_ORIGINS allows a plain http origin', ['CORS_ORIGINS']);
  else
    f.ok(
      'http.cors',
      origins.length === 0 ? 'CORS: no cross-origin access' : `CORS limited to ${origins.length} origin(s)`,
      ['CORS_ORIGINS'],
    );
}

function checkAiSettings(audit: AuditConfig, f: Findings): void {
  const ai = audit.config?.ai;
  if (!ai) return;
  const about = ['AI_TIMEOUT_MS'];
  if (audit.dropped.has('AI_TIMEOUT_MS')) return; // already reported as a config problem
  if (ai.timeoutMs > MAX_SANE_AI_TIMEOUT_MS)
    f.warning(
      'ai.timeout',
      `AI_TIMEOUT_MS is ${ai.timeoutMs} ms: keep it at or below ${MAX_SANE_AI_TIMEOUT_MS} ms so a slow model falls back instead of holding replies`,
      about,
    );
  else f.ok('ai.timeout', `AI calls are cut at ${ai.timeoutMs} ms`, about);

  const limits = ['AI_MAX_CALLS_PER_MIN', 'AI_MAX_CALLS_PER_MIN_PER_PSID'];
  if (ai.enabled && (ai.maxCallsPerMin === 0 || ai.maxCallsPerMinPerPsid === 0))
    f.warning(
      'ai.limits',
      'AI is enabled but AI_MAX_CALLS_PER_MIN or AI_MAX_CALLS_PER_MIN_PER_PSID is 0: every reply takes the fallback path',
      limits,
    );
  else if (ai.maxCallsPerMinPerPsid > ai.maxCallsPerMin)
    f.warning(
      'ai.limits',
      'AI_MAX_CALLS_PER_MIN_PER_PSID exceeds AI_MAX_CALLS_PER_MIN: the per-user limit never applies',
      limits,
    );
  else
    f.ok('ai.limits', `AI limits: ${ai.maxCallsPerMin}/min globally, ${ai.maxCallsPerMinPerPsid}/min per user`, limits);

  const budget = ['AI_DAILY_BUDGET_USD', 'AI_MONTHLY_BUDGET_USD'];
  const parts = [
    ai.dailyBudgetUsd !== undefined ? `daily $${ai.dailyBudgetUsd}` : '',
    ai.monthlyBudgetUsd !== undefined ? `monthly $${ai.monthlyBudgetUsd}` : '',
  ].filter(Boolean);
  if (parts.length > 0) f.ok('ai.budget', `AI budget: ${parts.join(', ')}`, budget);
  else if (ai.enabled && ai.apiKey)
    f.warning(
      'ai.budget',
      'AI is on with an API key but no budget: set AI_DAILY_BUDGET_USD and/or AI_MONTHLY_BUDGET_USD to cap spend',
      budget,
    );
  else f.ok('ai.budget', 'no AI budget set (AI is off or has no key, so nothing is spent)', budget);
}
