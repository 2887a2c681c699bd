import { randomBytes } from 'node:crypto';

/** Test-only secrets: random per run, never real, never committed as values. */
export function testSecrets() {
  return {
    FACEBOOK_APP_ID: '100000000000099',
    FACEBOOK_APP_SECRET: `test-app-secret-${randomBytes(8).toString('hex')}`,
    FACEBOOK_VERIFY_TOKEN: `test-verify-${randomBytes(6).toString('hex')}`,
    ADMIN_USER: 'operator',
    ADMIN_PASS: `test-admin-${randomBytes(8).toString('hex')}`,
    PSID_HASH_SECRET: `test-psid-${randomBytes(12).toString('hex')}`,
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  };
}

/** The environment a test process or in-process app runs with. */
export type TestEnv = Record<string, string> &
  ReturnType<typeof testSecrets> & { DATABASE_URL: string; REDIS_URL: string; QUEUE_PREFIX: string };

export function testEnv(
  over: { databaseUrl: string; prefix: string; graphUrl?: string; geminiUrl?: string } & Record<
    string,
    string | undefined
  >,
): TestEnv {
  const { databaseUrl, prefix, graphUrl, geminiUrl, ...rest } = over;
  const env: Record<string, string | undefined> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: databaseUrl,
    REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    QUEUE_PREFIX: prefix,
    REQUIRE_HTTPS: 'false',
    GRAPH_API_BASE_URL: graphUrl ?? 'http://127.0.0.1:9',
    GEMINI_BASE_URL: geminiUrl,
    // Test files run in parallel at normal priority: a worker process that yielded to them (the
    // production default) would only make the tests slower. worker-priority.test.ts checks the default.
    WORKER_NICE: '0',
    // Each message answered on its own, as most tests expect; the burst tests turn debouncing on.
    REPLY_DEBOUNCE_MS: '0',
    ...testSecrets(),
    ...rest,
  };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out as TestEnv;
}
