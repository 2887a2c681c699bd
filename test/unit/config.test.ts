// Fakes nothing: the configuration loader is a function of the environment it is given (and of the
// AI_INSTRUCTIONS_FILE it names, real files in a temporary directory here).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  ConfigError,
  DEFAULT_HANDOFF_REPLY,
  DEFAULT_TEXT_ONLY_REPLY,
  DEFAULT_WORKER_NICE,
  DEVELOPMENT_DEFAULTS,
  editDistance,
  KNOWN_VARIABLES,
  loadConfig,
  MAX_AI_INSTRUCTIONS_CHARS,
} from '@switchboard/config';

const strongProduction = {
  NODE_ENV: 'production',
  FACEBOOK_APP_ID: '100000000000099',
  FACEBOOK_APP_SECRET: 'a-long-random-app-secret-value',
  FACEBOOK_VERIFY_TOKEN: 'a-long-random-verify-token',
  ADMIN_PASS: 'correct-horse-battery-staple',
  PSID_HASH_SECRET: 'a-long-random-psid-hash-secret',
  ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
};

t.test('development defaults apply outside production', async (t) => {
  const c = loadConfig({});
  t.equal(c.env, 'development');
  t.equal(c.port, 3000);
  t.equal(c.meta.appSecret, DEVELOPMENT_DEFAULTS.FACEBOOK_APP_SECRET);
  t.equal(c.meta.graphVersion, 'v25.0');
  t.equal(c.ai.timeoutMs, 3000);
  t.equal(c.ai.maxCallsPerMin, 10);
  t.equal(c.ai.maxCallsPerMinPerPsid, 2);
  t.equal(c.http.requireHttps, false);
  t.equal(c.http.trustProxy, 'loopback');
  t.equal(c.privacy.encryptionKey.length, 32);
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.meta), 'frozen');
});

t.test("TEXT_ONLY_REPLY: a notice by default, the business's own text, or off", async (t) => {
  t.equal(loadConfig({}).ai.textOnlyReply, DEFAULT_TEXT_ONLY_REPLY);
  t.equal(loadConfig({ TEXT_ONLY_REPLY: 'Solo leo texto.' }).ai.textOnlyReply, 'Solo leo texto.');
  t.equal(loadConfig({ TEXT_ONLY_REPLY: 'off' }).ai.textOnlyReply, null, 'off: recorded, not answered');
  t.equal(loadConfig({ TEXT_ONLY_REPLY: '' }).ai.textOnlyReply, DEFAULT_TEXT_ONLY_REPLY, 'empty is unset');
});

t.test('empty strings count as unset; types are coerced', async (t) => {
  const c = loadConfig({
    PORT: '8080',
    AI_ENABLED: 'false',
    GEMINI_API_KEY: '',
    TRUST_PROXY: '10.0.0.0/8, 127.0.0.1',
    CORS_ORIGINS: 'https://a.example, https://b.example',
  });
  t.equal(c.port, 8080);
  t.equal(c.ai.enabled, false);
  t.equal(c.ai.apiKey, undefined);
  t.equal(c.http.trustProxy, '10.0.0.0/8, 127.0.0.1');
  t.equal(loadConfig({ TRUST_PROXY: 'false' }).http.trustProxy, false);
  t.throws(
    () => loadConfig({ TRUST_PROXY: '2' }),
    /TRUST_PROXY: name the proxies .* a hop count trusts no one/,
    'a hop count is refused with a reason',
  );
  t.same(c.http.corsOrigins, ['https://a.example', 'https://b.example']);
});

t.test('WORKER_NICE: the worker yields the CPU by default; 0 turns that off; only 0–19', async (t) => {
  t.equal(DEFAULT_WORKER_NICE, 5);
  t.equal(loadConfig({}).worker.nice, DEFAULT_WORKER_NICE);
  t.equal(loadConfig({ WORKER_NICE: '0' }).worker.nice, 0);
  t.equal(loadConfig({ WORKER_NICE: '19' }).worker.nice, 19);
  t.throws(() => loadConfig({ WORKER_NICE: '20' }), /WORKER_NICE/, 'above the kernel maximum');
  t.throws(
    () => loadConfig({ WORKER_NICE: '-5' }),
    /WORKER_NICE/,
    "a higher priority than normal is not the worker's to take",
  );
  t.throws(() => loadConfig({ WORKER_NICE: 'low' }), /WORKER_NICE: must be a whole number from 0 to 19/);
});

t.test('every problem is listed at once, by name, never with its value', async (t) => {
  const secretValue = 'sUpEr-SeCrEt-VaLuE';
  try {
    loadConfig({
      PORT: 'eighty',
      NODE_ENV: 'staging',
      AI_TIMEOUT_MS: '-5',
      ENCRYPTION_KEY: secretValue,
      REDIS_URL: 'http://x',
    });
    t.fail('should throw');
  } catch (err) {
    t.ok(err instanceof ConfigError);
    const message = (err as Error).message;
    for (const name of ['PORT', 'NODE_ENV', 'AI_TIMEOUT_MS', 'REDIS_URL']) t.match(message, name);
    t.match(message, /ENCRYPTION_KEY: must be exactly 32 bytes/, 'the checks after the schema run too');
    t.notMatch(message, secretValue);
    t.equal((err as ConfigError).problems.length, 5);
  }
  // A production start with a typo is told about every missing secret too, not on the next try.
  const production = t.throws(() => loadConfig({ NODE_ENV: 'production', PORT: 'abc' })) as ConfigError;
  t.same(production.problems, [
    'PORT: must be a whole number from 0 to 65535',
    'FACEBOOK_APP_SECRET: required in production',
    'FACEBOOK_VERIFY_TOKEN: required in production',
    'ADMIN_PASS: required in production',
    'PSID_HASH_SECRET: required in production',
    'ENCRYPTION_KEY: required in production',
  ]);
});

t.test('a number out of range is told its range', async (t) => {
  const err = t.throws(() =>
    loadConfig({
      PORT: '70000',
      AI_TIMEOUT_MS: '1.5',
      WORKER_CONCURRENCY: '0',
      AI_MAX_CALLS_PER_MIN: '-1',
      AI_DAILY_BUDGET_USD: '-3',
    }),
  ) as ConfigError;
  t.same(err.problems, [
    'PORT: must be a whole number from 0 to 65535',
    'AI_TIMEOUT_MS: must be a whole number from 100 to 60000',
    'AI_MAX_CALLS_PER_MIN: must be a whole number, at least 0',
    'AI_DAILY_BUDGET_USD: must be a number, at least 0',
    'WORKER_CONCURRENCY: must be a whole number from 1 to 1000',
  ]);
  t.equal(loadConfig({ PORT: '65535', AI_TIMEOUT_MS: '100' }).port, 65535, 'the bounds themselves are allowed');
});

t.test('production refuses development defaults and weak secrets', async (t) => {
  t.throws(() => loadConfig({ NODE_ENV: 'production' }), /FACEBOOK_APP_SECRET: required in production/);
  const withDefaults = { ...strongProduction, FACEBOOK_APP_SECRET: 'dev-app-secret', ADMIN_PASS: 'dev-admin-pass' };
  try {
    loadConfig(withDefaults);
    t.fail('should throw');
  } catch (err) {
    const message = (err as Error).message;
    t.match(message, /FACEBOOK_APP_SECRET: the development default is refused/);
    t.match(message, /ADMIN_PASS/);
  }
  t.throws(() => loadConfig({ ...strongProduction, ADMIN_PASS: 'short' }), /ADMIN_PASS: too weak/);
  t.throws(() => loadConfig({ ...strongProduction, ADMIN_PASS: 'Password' }), /ADMIN_PASS: too weak/);
  t.throws(() => loadConfig({ ...strongProduction, PSID_HASH_SECRET: 'short' }), /PSID_HASH_SECRET/);
  t.throws(() => loadConfig({ ...strongProduction, CORS_ORIGINS: '*' }), /CORS_ORIGINS/);
  t.throws(
    () => loadConfig({ ...strongProduction, ENCRYPTION_KEY: Buffer.alloc(16).toString('base64') }),
    /ENCRYPTION_KEY: must be exactly 32 bytes/,
  );
  t.throws(
    () => loadConfig({ ...strongProduction, GRAPH_API_BASE_URL: 'http://graph.example.com' }),
    /GRAPH_API_BASE_URL/,
  );
  // Only this machine may be spoken to over plain http: a DNS name that starts with "127." is not it.
  for (const host of ['127.attacker.example', '127.0.0.1.nip.io', '127.0.0.1.example', 'localhost.example']) {
    t.throws(
      () => loadConfig({ ...strongProduction, GRAPH_API_BASE_URL: `http://${host}` }),
      /GRAPH_API_BASE_URL: must be https/,
      host,
    );
    t.throws(
      () => loadConfig({ ...strongProduction, GEMINI_BASE_URL: `http://${host}:8080` }),
      /GEMINI_BASE_URL: must be https/,
      host,
    );
  }
  for (const host of ['127.0.0.1:9999', '127.1', '127.10.20.30', 'localhost:8080', '[::1]:8080']) {
    t.equal(
      loadConfig({ ...strongProduction, GRAPH_API_BASE_URL: `http://${host}`, GEMINI_BASE_URL: `http://${host}` }).env,
      'production',
      `${host} is a loopback stand-in`,
    );
  }
  const ok = loadConfig({ ...strongProduction, GRAPH_API_BASE_URL: 'http://127.0.0.1:9999' });
  t.equal(ok.http.requireHttps, true, 'HTTPS required by default in production');
  t.equal(ok.admin.user, 'admin');
});

t.test('the default business instructions: AI_INSTRUCTIONS or AI_INSTRUCTIONS_FILE', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'business.txt');
  writeFileSync(file, '\n  Café Añejo: open 9–17.\nPrices in EUR.  \n', 'utf8');

  t.equal(loadConfig({}).ai.instructions, undefined, 'none by default');
  t.equal(loadConfig({ AI_INSTRUCTIONS: '  ' }).ai.instructions, undefined, 'blank counts as unset');
  t.equal(loadConfig({ AI_INSTRUCTIONS: 'We sell bikes.' }).ai.instructions, 'We sell bikes.');
  t.equal(
    loadConfig({ AI_INSTRUCTIONS_FILE: file }).ai.instructions,
    'Café Añejo: open 9–17.\nPrices in EUR.',
    'the file, as UTF-8, trimmed',
  );
  t.equal(
    loadConfig({ AI_INSTRUCTIONS: 'x'.repeat(MAX_AI_INSTRUCTIONS_CHARS) }).ai.instructions?.length,
    MAX_AI_INSTRUCTIONS_CHARS,
    'the limit itself is accepted',
  );
  t.equal(
    loadConfig({ AI_INSTRUCTIONS: '🙂'.repeat(MAX_AI_INSTRUCTIONS_CHARS) }).ai.instructions?.length,
    2 * MAX_AI_INSTRUCTIONS_CHARS,
    'counted in characters, not UTF-16 units',
  );

  const both = t.throws(() =>
    loadConfig({ AI_INSTRUCTIONS: 'We sell bikes.', AI_INSTRUCTIONS_FILE: file }),
  ) as ConfigError;
  t.same(
    both.problems,
    ['AI_INSTRUCTIONS_FILE: set either it or AI_INSTRUCTIONS, not both'],
    'both set is refused, not silently resolved',
  );

  const missing = join(dir, 'nowhere.txt');
  const unreadable = t.throws(() => loadConfig({ AI_INSTRUCTIONS_FILE: missing, PORT: 'eighty' })) as ConfigError;
  t.same(
    unreadable.problems,
    ['PORT: must be a whole number from 0 to 65535', `AI_INSTRUCTIONS_FILE: cannot read ${missing} (ENOENT)`],
    'listed with the other problems',
  );
  t.match(
    (t.throws(() => loadConfig({ AI_INSTRUCTIONS_FILE: dir })) as ConfigError).problems,
    [/AI_INSTRUCTIONS_FILE: cannot read .* \(EISDIR\)/],
    'a directory is not a file',
  );

  const long = join(dir, 'long.txt');
  writeFileSync(long, 'y'.repeat(MAX_AI_INSTRUCTIONS_CHARS + 1), 'utf8');
  t.same((t.throws(() => loadConfig({ AI_INSTRUCTIONS_FILE: long })) as ConfigError).problems, [
    'AI_INSTRUCTIONS_FILE: 20001 characters, at most 20000 allowed',
  ]);
  const secretText = 'z'.repeat(MAX_AI_INSTRUCTIONS_CHARS + 5);
  const tooLong = t.throws(() => loadConfig({ AI_INSTRUCTIONS: secretText })) as ConfigError;
  t.same(
    tooLong.problems,
    ['AI_INSTRUCTIONS: 20005 characters, at most 20000 allowed'],
    'named and measured, never quoted',
  );
});

t.test('a variable that nearly matches a known one is named in a warning, never with its value', async (t) => {
  const base = { NODE_ENV: 'development' };
  const warned = (extra: Record<string, string>) => loadConfig({ ...base, ...extra }).warnings;
  t.same(warned({}), []);
  t.same(warned({ ADMIN_PASSWORD: 'hunter2-value' }), [
    'ADMIN_PASSWORD is not a Switchboard variable and is ignored; did you mean ADMIN_PASS?',
  ]);
  t.same(warned({ GEMINI_API_KY: 'k-value' }), [
    'GEMINI_API_KY is not a Switchboard variable and is ignored; did you mean GEMINI_API_KEY?',
  ]);
  t.same(
    warned({ FACEBOOK_APP_SECERT: 'x' }),
    ['FACEBOOK_APP_SECERT is not a Switchboard variable and is ignored; did you mean FACEBOOK_APP_SECRET?'],
    'two letters swapped',
  );
  t.same(warned({ DATABASE_URI: 'postgres://u:p@h/db' }), [
    'DATABASE_URI is not a Switchboard variable and is ignored; did you mean DATABASE_URL?',
  ]);
  t.same(warned({ REDIS_URL: 'redis://127.0.0.1:6379', ADMIN_PASS: 'x' }), [], 'known names are not warned about');
  t.same(warned({ ADMIN_PASSWORD: '' }), [], 'an empty variable sets nothing either way');
  for (const w of warned({ ADMIN_PASSWORD: 'hunter2-value', DATABASE_URI: 'postgres://u:p@h/db' }))
    t.notMatch(w, /hunter2|postgres:|u:p/, 'names only');

  // A machine's ordinary environment (shells, containers, CI, Kubernetes service links, proxies) and
  // this very process's environment give no warning.
  const ordinary = [
    'PATH',
    'HOME',
    'HOSTNAME',
    'USER',
    'SHELL',
    'TERM',
    'LANG',
    'LANGUAGE',
    'PWD',
    'OLDPWD',
    'SHLVL',
    'LOGNAME',
    'MAIL',
    'TZ',
    'TMPDIR',
    'EDITOR',
    'NODE_OPTIONS',
    'NODE_PATH',
    'NODE_EXTRA_CA_CERTS',
    'NODE_VERSION',
    'YARN_VERSION',
    'INIT_CWD',
    'COLORTERM',
    'DISPLAY',
    'SSH_AUTH_SOCK',
    'HTTP_PROXY',
    'HTTPS_PROXY',
    'NO_PROXY',
    'DOCKER_HOST',
    'CI',
    'GITHUB_ACTIONS',
    'RUNNER_OS',
    'KUBERNETES_SERVICE_HOST',
    'KUBERNETES_PORT',
    'REDIS_PORT',
    'REDIS_PORT_6379_TCP',
    'REDIS_SERVICE_HOST',
    'POSTGRES_PORT',
    'POSTGRES_USER',
    'POSTGRES_DB',
    'PGHOST',
    'PGPORT',
    'PGUSER',
    'HOSTTYPE',
  ];
  t.same(warned(Object.fromEntries(ordinary.map((n) => [n, 'x']))), []);
  t.same(
    warned(
      Object.fromEntries(
        Object.keys(process.env)
          .filter((n) => !KNOWN_VARIABLES.has(n))
          .map((n) => [n, 'x']),
      ),
    ),
    [],
    'this machine',
  );
  // Every name .env.example offers is known: a copied template never warns.
  const template = [
    ...readFileSync(new URL('../../.env.example', import.meta.url), 'utf8').matchAll(/^([A-Z0-9_]+)=/gm),
  ].map((m) => m[1] as string);
  t.ok(template.length > 30);
  t.same(
    template.filter((n) => !KNOWN_VARIABLES.has(n)),
    [],
    '.env.example names known variables only',
  );
});

t.test('editDistance counts insertions, deletions, substitutions and swapped neighbours', async (t) => {
  t.equal(editDistance('ADMIN_PASS', 'ADMIN_PASS'), 0);
  t.equal(editDistance('GEMINI_API_KY', 'GEMINI_API_KEY'), 1);
  t.equal(editDistance('PORT', 'PROT'), 1, 'a swap is one edit');
  t.equal(editDistance('HOME', 'HOST'), 2);
  t.equal(editDistance('', 'ABC'), 3);
  t.equal(editDistance('ADMIN_PASSWORD', 'ADMIN_PASS'), 4);
});

t.test('conversation memory and hand-off: defaults, parsing, limits', async (t) => {
  const c = loadConfig({});
  t.equal(c.ai.historyTurns, 12);
  t.equal(c.ai.historyMaxAgeMs, 86_400_000);
  t.equal(c.handoff.pauseMs, 1_800_000);
  t.same(c.handoff.keywords, ['human', 'agent', 'person']);
  t.equal(c.handoff.reply, DEFAULT_HANDOFF_REPLY);

  const set = loadConfig({
    AI_HISTORY_TURNS: '0',
    AI_HISTORY_MAX_AGE_S: '3600',
    HANDOFF_PAUSE_S: '600',
    HANDOFF_KEYWORDS: ' Mensch, ,OPERATOR ',
    HANDOFF_REPLY: 'Gleich meldet sich jemand.',
  });
  t.equal(set.ai.historyTurns, 0, '0 turns memory off');
  t.equal(set.ai.historyMaxAgeMs, 3_600_000);
  t.equal(set.handoff.pauseMs, 600_000);
  t.same(set.handoff.keywords, ['mensch', 'operator'], 'trimmed, lower-cased, empty ones dropped');
  t.equal(set.handoff.reply, 'Gleich meldet sich jemand.');

  const err = t.throws(() =>
    loadConfig({
      AI_HISTORY_TURNS: '-1',
      AI_HISTORY_MAX_AGE_S: 'a day',
      HANDOFF_PAUSE_S: '0',
      HANDOFF_REPLY: 'x'.repeat(1901),
    }),
  ) as ConfigError;
  t.same(
    err.problems.map((p) => p.split(':')[0]),
    ['AI_HISTORY_TURNS', 'AI_HISTORY_MAX_AGE_S', 'HANDOFF_PAUSE_S', 'HANDOFF_REPLY'],
  );
});

t.test('REPLY_DEBOUNCE_MS: 1500 by default, 0 turns bursts off, at most a minute', async (t) => {
  t.equal(loadConfig({}).ai.replyDebounceMs, 1500);
  t.equal(loadConfig({ REPLY_DEBOUNCE_MS: '0' }).ai.replyDebounceMs, 0);
  t.equal(loadConfig({ REPLY_DEBOUNCE_MS: '2500' }).ai.replyDebounceMs, 2500);
  for (const bad of ['-1', '60001', 'soon', '1.5']) {
    const err = t.throws(() => loadConfig({ REPLY_DEBOUNCE_MS: bad })) as ConfigError;
    t.same(
      err.problems.map((p) => p.split(':')[0]),
      ['REPLY_DEBOUNCE_MS'],
      `${bad} is refused`,
    );
  }
});

t.test('REDIS_CLUSTER_NODES and its companions: seeds, credentials, TLS, NAT map', async (t) => {
  t.equal(loadConfig({}).redisCluster, undefined, 'unset: a single Redis at REDIS_URL');
  const c = loadConfig({
    REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis-2.internal:7001,[::1]:7002',
    REDIS_CLUSTER_USERNAME: 'switchboard',
    REDIS_CLUSTER_PASSWORD: 'cluster-password-not-real',
    REDIS_CLUSTER_TLS: 'true',
    REDIS_CLUSTER_NAT_MAP: '10.0.0.1:7000=203.0.113.5:17000,10.0.0.2:7000=203.0.113.5:17001',
  });
  t.same(c.redisCluster, {
    nodes: [
      { host: '10.0.0.1', port: 7000 },
      { host: 'redis-2.internal', port: 7001 },
      { host: '::1', port: 7002 },
    ],
    username: 'switchboard',
    password: 'cluster-password-not-real',
    tls: true,
    natMap: {
      '10.0.0.1:7000': { host: '203.0.113.5', port: 17000 },
      '10.0.0.2:7000': { host: '203.0.113.5', port: 17001 },
    },
  });
  const err = t.throws(() =>
    loadConfig({ REDIS_CLUSTER_NODES: 'redis://10.0.0.1:7000', REDIS_CLUSTER_NAT_MAP: '10.0.0.1=1.2.3.4' }),
  ) as Error;
  t.match(err.message, /REDIS_CLUSTER_NODES: must be host:port seeds/);
  t.match(err.message, /REDIS_CLUSTER_NAT_MAP: must be address:port=address:port pairs/);
});
