/**
 * The only module that reads the environment. `loadConfig` validates every variable once, lists
 * every problem in one error (names only, never values) and returns a frozen, typed object that
 * the processes inject everywhere else.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { nearMissWarnings } from './near-miss.js';

export { editDistance, nearMissWarnings } from './near-miss.js';

/** Development defaults: convenient locally, refused in production. */
export const DEVELOPMENT_DEFAULTS = {
  FACEBOOK_APP_SECRET: 'dev-app-secret',
  FACEBOOK_VERIFY_TOKEN: 'dev-verify-token',
  ADMIN_USER: 'admin',
  ADMIN_PASS: 'dev-admin-pass',
  PSID_HASH_SECRET: 'dev-psid-secret',
  ENCRYPTION_KEY: 'c3dpdGNoYm9hcmQtZGV2ZWxvcG1lbnQta2V5LTMyYiE=',
} as const;

/** Passwords nobody should run production with, whatever their length. */
const KNOWN_WEAK_PASSWORDS = new Set([
  'admin',
  'password',
  'changeme',
  'change-me',
  'secret',
  '123456',
  'dev-admin-pass',
]);
const MIN_ADMIN_PASS_LENGTH = 12;
const MIN_SECRET_LENGTH = 16;

/**
 * Jobs in flight per worker process. The work waits on I/O (Redis, PostgreSQL, the Send API and,
 * above all, Gemini, which takes seconds), and the jobs running at once share Redis round trips
 * and PostgreSQL statements: in the bench 64 does ~10–25 % more per CPU than 32, and 128 ~10–20 %
 * more messages per second than 64, since a job holds its slot through the 30 ms write linger and,
 * with AI on, the Gemini call (docs/performance.md, decision `concurrency-128`).
 */
export const DEFAULT_WORKER_CONCURRENCY = 128;

/**
 * The CPU niceness a worker process gives itself at start (WORKER_NICE). Where the API and the
 * workers share a host, the webhook ingress — which must answer Meta within 300 ms — gets the CPU
 * first, and the workers take what it leaves: under a burst the events wait in Redis instead of the
 * acknowledgements waiting for the CPU, and with jobs queued a worker fetches and writes them in
 * larger batches. 5 gives a worker about a third of a normal process's share of a busy CPU. In
 * the bench, with AI off, it cuts Switchboard's CPU per message by ~15 % (as 10 does); with AI on it
 * costs nothing, where 10 costs 4–11 % of the messages per second (docs/performance.md, decision
 * `worker-nice-5`). An idle host's worker runs at full speed whatever its niceness.
 */
export const DEFAULT_WORKER_NICE = 5;

/**
 * The longest business instructions accepted (AI_INSTRUCTIONS, a page's own), in characters
 * (Unicode code points). Room for a detailed page of hours, prices and policies; every AI call
 * sends them as input tokens, so a bound keeps each reply's cost and latency predictable.
 */
export const MAX_AI_INSTRUCTIONS_CHARS = 20_000;

/**
 * How long a client may take to send one whole request, headers and body (HTTP_REQUEST_TIMEOUT_MS).
 * Meta's deliveries are small and sent at once; a body still unfinished after this is a client
 * holding a socket, not a slow network (4 MiB, the largest body accepted, in 10 s is 3.4 Mbit/s).
 */
export const DEFAULT_HTTP_REQUEST_TIMEOUT_MS = 10_000;

/**
 * Open connections to one API process, all clients together (HTTP_MAX_CONNECTIONS): kept well
 * below the file descriptors a process gets, so Redis and PostgreSQL always find one.
 */
export const DEFAULT_HTTP_MAX_CONNECTIONS = 10_000;

/**
 * Open connections from one client (an IPv4 address, an IPv6 /64), HTTP_MAX_CONNECTIONS_PER_CLIENT.
 * Meta delivers from many addresses, each with a handful of keep-alive connections, so this is far
 * above what one of them needs; filling the total takes a hundred clients instead of one.
 */
export const DEFAULT_HTTP_MAX_CONNECTIONS_PER_CLIENT = 100;

export const DEFAULT_FALLBACK_REPLY =
  'Thanks for your message! We have received it and will get back to you as soon as we can.';

export const DEFAULT_HANDOFF_REPLY = 'Thanks! A person from our team will answer you here as soon as possible.';

/**
 * What a WhatsApp user gets by default (TEXT_ONLY_REPLY) for a picture, a voice note, a place, a
 * contact card, an order or a message kind the Cloud API does not pass on: the assistant reads text
 * only, and says so rather than stay silent.
 */
export const DEFAULT_TEXT_ONLY_REPLY =
  'Sorry, I can only read text messages. Please type your question and I will answer it.';

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
/** One message per number, naming the range, whatever is wrong with it (not a number, a fraction, out of range). */
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => {
  const error =
    max === Number.MAX_SAFE_INTEGER
      ? `must be a whole number, at least ${min}`
      : `must be a whole number from ${min} to ${max}`;
  return z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};
const num = (min: number) => {
  const error = `must be a number, at least ${min}`;
  return z.coerce.number({ error }).min(min, { error });
};
const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    `must be a ${protocols.join(' or ')} URL`,
  );

const schema = z.object({
  NODE_ENV: z.enum(['production', 'development', 'test']).default('development'),
  HOST: z.string().default('0.0.0.0'),
  PORT: int(0, 65535).default(3000),
  DATABASE_URL: url(['postgres:', 'postgresql:']).default('postgres://postgres@127.0.0.1:5432/switchboard'),
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  REDIS_CLUSTER_NODES: z
    .string()
    .regex(
      /^[A-Za-z0-9_.\-[\]:]+:\d{1,5}(\s*,\s*[A-Za-z0-9_.\-[\]:]+:\d{1,5})*$/,
      'must be host:port seeds, separated by commas',
    )
    .optional(),
  REDIS_CLUSTER_USERNAME: z.string().optional(),
  REDIS_CLUSTER_PASSWORD: z.string().optional(),
  REDIS_CLUSTER_TLS: bool.default(false),
  REDIS_CLUSTER_NAT_MAP: z
    .string()
    .regex(
      /^[^=,\s]+:\d{1,5}=[^=,\s]+:\d{1,5}(\s*,\s*[^=,\s]+:\d{1,5}=[^=,\s]+:\d{1,5})*$/,
      'must be address:port=address:port pairs, separated by commas',
    )
    .optional(),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.:{}-]+$/, 'may hold letters, digits and _ . : { } - only')
    .default('switchboard'),
  QUEUE_SHARDS: int(1, 256).default(1),
  WORKER_SHARDS: z
    .string()
    .regex(/^\s*\d+(\s*-\s*\d+)?(\s*,\s*\d+(\s*-\s*\d+)?)*\s*$/, 'must be shard indexes or ranges, e.g. 0-3,7')
    .optional(),
  FACEBOOK_APP_ID: z.string().regex(/^\d+$/, 'must be the numeric app id').optional(),
  FACEBOOK_APP_SECRET: z.string().optional(),
  FACEBOOK_VERIFY_TOKEN: z.string().optional(),
  FACEBOOK_PAGE_ACCESS_TOKEN: z.string().optional(),
  WHATSAPP_ACCESS_TOKEN: z.string().optional(),
  // `off`: such messages are recorded and get no answer (an empty value means unset, as everywhere).
  TEXT_ONLY_REPLY: z.string().max(1900).default(DEFAULT_TEXT_ONLY_REPLY),
  GRAPH_API_BASE_URL: url(['https:', 'http:']).default('https://graph.facebook.com'),
  GRAPH_API_VERSION: z
    .string()
    .regex(/^v\d+\.\d+$/, 'must look like v25.0')
    .default('v25.0'),
  GRAPH_TIMEOUT_MS: int(100, 60_000).default(10_000),
  AI_ENABLED: bool.default(true),
  AI_PROVIDER: z.enum(['gemini']).default('gemini'),
  GEMINI_API_KEY: z.string().optional(),
  GEMINI_MODEL: z.string().min(1).default('gemini-3.5-flash-lite'),
  GEMINI_BASE_URL: url(['https:', 'http:']).optional(),
  AI_TIMEOUT_MS: int(100, 60_000).default(3000),
  AI_MAX_CALLS_PER_MIN: int(0).default(10),
  AI_MAX_CALLS_PER_MIN_PER_PSID: int(0).default(2),
  AI_DAILY_BUDGET_USD: num(0).optional(),
  AI_MONTHLY_BUDGET_USD: num(0).optional(),
  AI_PRICE_INPUT_PER_MTOK_USD: num(0).default(0.1),
  AI_PRICE_OUTPUT_PER_MTOK_USD: num(0).default(0.4),
  FALLBACK_REPLY: z.string().min(1).max(1900).default(DEFAULT_FALLBACK_REPLY),
  AI_INSTRUCTIONS: z.string().optional(),
  AI_INSTRUCTIONS_FILE: z.string().optional(),
  AI_HISTORY_TURNS: int(0, 100).default(12),
  AI_HISTORY_MAX_AGE_S: int(60, 30 * 86_400).default(86_400),
  HANDOFF_PAUSE_S: int(1, 30 * 86_400).default(1800),
  REPLY_DEBOUNCE_MS: int(0, 60_000).default(1500),
  HANDOFF_KEYWORDS: z.string().default('human,agent,person'),
  HANDOFF_REPLY: z.string().min(1).max(1900).default(DEFAULT_HANDOFF_REPLY),
  ADMIN_USER: z.string().min(1).optional(),
  ADMIN_PASS: z.string().min(1).optional(),
  PSID_HASH_SECRET: z.string().optional(),
  ENCRYPTION_KEY: z.string().optional(),
  ENCRYPTION_KEY_PREVIOUS: z.string().optional(),
  REQUIRE_HTTPS: bool.optional(),
  // A bare hop count is refused: Fastify 5 trusts no peer for one (it cannot check the immediate
  // peer), so every webhook behind the proxy would be refused as plain HTTP.
  TRUST_PROXY: z
    .string()
    .regex(
      /^(?!\d+$)/,
      'name the proxies (addresses, CIDRs, loopback, uniquelocal…) or true; a hop count trusts no one in Fastify 5',
    )
    .default('loopback'),
  CORS_ORIGINS: z.string().default(''),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  WEBHOOK_BODY_LIMIT_BYTES: int(1024, 64 * 1024 * 1024).default(4 * 1024 * 1024),
  HTTP_REQUEST_TIMEOUT_MS: int(1000, 120_000).default(DEFAULT_HTTP_REQUEST_TIMEOUT_MS),
  HTTP_MAX_CONNECTIONS: int(0).default(DEFAULT_HTTP_MAX_CONNECTIONS),
  HTTP_MAX_CONNECTIONS_PER_CLIENT: int(0).default(DEFAULT_HTTP_MAX_CONNECTIONS_PER_CLIENT),
  WORKER_CONCURRENCY: int(1, 1000).default(DEFAULT_WORKER_CONCURRENCY),
  WORKER_NICE: int(0, 19).default(DEFAULT_WORKER_NICE),
  STALE_EVENT_MAX_AGE_S: int(60).default(24 * 3600),
  SEND_MAX_ATTEMPTS: int(1, 50).default(8),
  SEND_ECHO_WAIT_MS: int(0, 300_000).default(15_000),
  SHUTDOWN_TIMEOUT_MS: int(1000, 120_000).default(10_000),
  WORKER_HEARTBEAT_FILE: z.string().optional(),
  WORKER_LOCK_DURATION_MS: int(1000, 600_000).default(30_000),
  RETENTION_DAYS: int(1, 3650).default(90),
});

type Env = z.infer<typeof schema>;

/**
 * Every name a Switchboard process or its compose file reads: the processes' variables, and those
 * docker compose itself reads from the same .env.
 */
export const KNOWN_VARIABLES: ReadonlySet<string> = new Set([
  ...Object.keys(schema.shape),
  'DOMAIN',
  'EDGE_SUBNET',
  'POSTGRES_PASSWORD',
]);

export interface Config {
  /** What is odd but not wrong (a variable that nearly matches a known one): the entry points log it. */
  readonly warnings: readonly string[];
  readonly env: 'production' | 'development' | 'test';
  readonly isProduction: boolean;
  readonly host: string;
  readonly port: number;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  /** Set when REDIS_CLUSTER_NODES is: every connection is then a Redis Cluster client and redisUrl is unused. */
  readonly redisCluster: RedisClusterSettings | undefined;
  readonly queuePrefix: string;
  /** Queue shards, each with its own hash tag (QUEUE_SHARDS; fixed while jobs are queued). */
  readonly queueShards: number;
  readonly logLevel: Env['LOG_LEVEL'];
  readonly retentionDays: number;
  readonly meta: {
    readonly appId: string | undefined;
    readonly appSecret: string;
    readonly verifyToken: string;
    readonly defaultPageToken: string | undefined;
    /** The token for WhatsApp phone numbers without one of their own (a system-user token). */
    readonly defaultWhatsAppToken: string | undefined;
    readonly graphBaseUrl: string;
    readonly graphVersion: string;
    readonly graphTimeoutMs: number;
    /** true when the app secret is the development default (health reports `degraded`). */
    readonly usingDevelopmentSecret: boolean;
  };
  readonly ai: {
    readonly enabled: boolean;
    readonly provider: 'gemini';
    readonly apiKey: string | undefined;
    readonly model: string;
    readonly baseUrl: string | undefined;
    readonly timeoutMs: number;
    readonly maxCallsPerMin: number;
    readonly maxCallsPerMinPerPsid: number;
    readonly fallbackReply: string;
    /** The notice for a WhatsApp message without text; null: recorded, not answered. */
    readonly textOnlyReply: string | null;
    readonly dailyBudgetUsd: number | undefined;
    readonly monthlyBudgetUsd: number | undefined;
    readonly priceInputPerMTokUsd: number;
    readonly priceOutputPerMTokUsd: number;
    /**
     * The business's own words for the model (AI_INSTRUCTIONS, or the text of AI_INSTRUCTIONS_FILE)
     * for every page without instructions of its own; undefined when neither is set.
     */
    readonly instructions: string | undefined;
    /** Earlier turns of the conversation the model sees (0: no memory, nothing kept). */
    readonly historyTurns: number;
    /** Older turns are neither shown to the model nor kept. */
    readonly historyMaxAgeMs: number;
    /** A conversation's messages this close together get one reply (0: each its own). */
    readonly replyDebounceMs: number;
  };
  readonly handoff: {
    /** How long the bot stays silent after a person from the business writes, from their latest message. */
    readonly pauseMs: number;
    /** Lower-cased, trimmed words; a user message equal to one asks for a person. */
    readonly keywords: readonly string[];
    /** What the bot says, once, when a user asks for a person. */
    readonly reply: string;
  };
  readonly admin: { readonly user: string; readonly pass: string };
  readonly privacy: {
    readonly psidHashSecret: string;
    readonly encryptionKey: Buffer;
    readonly previousEncryptionKeys: readonly Buffer[];
  };
  readonly http: {
    readonly requireHttps: boolean;
    readonly trustProxy: boolean | string;
    readonly corsOrigins: readonly string[];
    readonly bodyLimit: number;
    /** Headers and body of one request must arrive within this (ms). */
    readonly requestTimeoutMs: number;
    /** Open connections to this process, all clients together (0: no cap). */
    readonly maxConnections: number;
    /** Open connections from one client, an IPv4 address or IPv6 /64 (0: no cap). */
    readonly maxConnectionsPerClient: number;
  };
  readonly worker: {
    readonly concurrency: number;
    /** WORKER_SHARDS as given (`0-3,7`), or undefined: every shard. */
    readonly shards: string | undefined;
    /** CPU niceness the worker process sets for itself (0: none); see DEFAULT_WORKER_NICE. */
    readonly nice: number;
    readonly staleAfterMs: number;
    readonly sendMaxAttempts: number;
    /** How long a retried send waits for Meta's echo of a part whose outcome a crash left unknown. */
    readonly sendEchoWaitMs: number;
    readonly shutdownTimeoutMs: number;
    /** Touched every few seconds while the worker is healthy (container liveness check). */
    readonly heartbeatFile: string | undefined;
    /** A job's lock: a crashed worker's jobs are taken over by others after at most this long. */
    readonly lockDurationMs: number;
  };
}

/** A Redis Cluster to connect to (REDIS_CLUSTER_* variables). */
export interface RedisClusterSettings {
  /** Seeds: any reachable nodes; the client learns the others from them. */
  readonly nodes: readonly HostPort[];
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** TLS to every node (managed cluster-mode services usually require it). */
  readonly tls: boolean;
  /**
   * The address a node announces → the address this process reaches it at, for clusters behind
   * NAT or port forwarding (`host:port` → host and port).
   */
  readonly natMap: Readonly<Record<string, HostPort>>;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** `host:port` (an IPv6 host in brackets) → host and port. */
function hostPort(text: string): HostPort {
  const i = text.lastIndexOf(':');
  return { host: text.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(text.slice(i + 1)) };
}

function redisClusterSettings(e: Env): RedisClusterSettings | undefined {
  if (e.REDIS_CLUSTER_NODES === undefined) return undefined;
  const list = (text: string) =>
    text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const natMap: Record<string, HostPort> = {};
  for (const pair of list(e.REDIS_CLUSTER_NAT_MAP ?? '')) {
    const [from, to] = pair.split('=') as [string, string];
    natMap[from] = hostPort(to);
  }
  return {
    nodes: list(e.REDIS_CLUSTER_NODES).map(hostPort),
    username: e.REDIS_CLUSTER_USERNAME,
    password: e.REDIS_CLUSTER_PASSWORD,
    tls: e.REDIS_CLUSTER_TLS,
    natMap,
  };
}

/** Empty strings count as unset, as in most deployment tools' `.env` templates. */
function withoutEmpty(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v.trim() !== '') out[k] = v.trim();
  return out;
}

function decodeKey(name: string, value: string, problems: string[]): Buffer {
  const key = Buffer.from(value, 'base64');
  if (key.length !== 32 || key.toString('base64').replace(/=+$/, '') !== value.replace(/=+$/, '')) {
    problems.push(`${name}: must be exactly 32 bytes, base64-encoded`);
  }
  return key;
}

function parseTrustProxy(value: string): boolean | string {
  if (value === 'true') return true;
  if (value === 'false') return false;
  return value;
}

/**
 * Whether `value` names this machine: `localhost`, `[::1]` or an IPv4 address in 127.0.0.0/8. The
 * URL parser has already normalised the host (`127.1` reads `127.0.0.1`), so a name that merely
 * starts with "127." (`127.example.com`) is a name on the network, not a loopback address.
 */
function isLoopbackUrl(value: string): boolean {
  const host = new URL(value).hostname;
  return host === 'localhost' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** A plain-http URL to anything but this machine (an unparseable one is the schema's problem). */
function isPlainHttpElsewhere(value: string | undefined): boolean {
  if (value === undefined || !URL.canParse(value)) return false;
  return new URL(value).protocol === 'http:' && !isLoopbackUrl(value);
}

/** Characters as a person counts them (code points), the same measure the ops API's schema uses. */
export function countChars(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/**
 * The default business instructions: AI_INSTRUCTIONS, or the UTF-8 text of AI_INSTRUCTIONS_FILE.
 * Both set is refused rather than one silently winning: an operator who set both cannot tell which
 * text the model gets. The problems name the variable and the path, never the text.
 */
function readDefaultInstructions(
  raw: Record<string, string>,
  readText: (path: string) => string,
  problems: string[],
): string | undefined {
  const inline = raw.AI_INSTRUCTIONS;
  const file = raw.AI_INSTRUCTIONS_FILE;
  if (inline !== undefined && file !== undefined) {
    problems.push('AI_INSTRUCTIONS_FILE: set either it or AI_INSTRUCTIONS, not both');
    return undefined;
  }
  let text = inline;
  let name = 'AI_INSTRUCTIONS';
  if (file !== undefined) {
    name = 'AI_INSTRUCTIONS_FILE';
    try {
      text = readText(file).trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problems.push(`AI_INSTRUCTIONS_FILE: cannot read ${file}${code ? ` (${code})` : ''}`);
      return undefined;
    }
  }
  if (text === undefined || text === '') return undefined;
  const chars = countChars(text);
  if (chars > MAX_AI_INSTRUCTIONS_CHARS) {
    problems.push(`${name}: ${chars} characters, at most ${MAX_AI_INSTRUCTIONS_CHARS} allowed`);
    return undefined;
  }
  return text;
}

const readUtf8 = (path: string): string => readFileSync(path, 'utf8');

/**
 * Validates `env` and returns the frozen configuration, or throws one ConfigError naming every
 * problem. It reads nothing but its argument and, through `readText`, the file AI_INSTRUCTIONS_FILE
 * names (read once, here, so a missing file stops the process at start-up, not at the first reply).
 */
export function loadConfig(
  rawEnv: Record<string, string | undefined>,
  readText: (path: string) => string = readUtf8,
): Config {
  const raw = withoutEmpty(rawEnv);
  const parsed = schema.safeParse(raw);
  const problems: string[] = parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  const instructions = readDefaultInstructions(raw, readText, problems);
  // The checks below read the raw strings (the secrets are plain strings in the schema too), so
  // they run even when the schema found problems: one message lists every problem.
  const production = raw.NODE_ENV === 'production';

  const secret = (name: Exclude<keyof typeof DEVELOPMENT_DEFAULTS, 'ADMIN_USER'>): string => {
    const value = raw[name];
    if (!production) return value ?? DEVELOPMENT_DEFAULTS[name];
    if (value === undefined) problems.push(`${name}: required in production`);
    else if (value === DEVELOPMENT_DEFAULTS[name])
      problems.push(`${name}: the development default is refused in production`);
    return value ?? '';
  };

  const appSecret = secret('FACEBOOK_APP_SECRET');
  const verifyToken = secret('FACEBOOK_VERIFY_TOKEN');
  // A user name is not a secret: `admin` stays acceptable in production; the password is what counts.
  const adminUser = raw.ADMIN_USER ?? DEVELOPMENT_DEFAULTS.ADMIN_USER;
  const adminPass = secret('ADMIN_PASS');
  const psidHashSecret = secret('PSID_HASH_SECRET');
  const encryptionKeyText = secret('ENCRYPTION_KEY');
  const encryptionKey = decodeKey('ENCRYPTION_KEY', encryptionKeyText || DEVELOPMENT_DEFAULTS.ENCRYPTION_KEY, problems);
  const previousEncryptionKeys = (raw.ENCRYPTION_KEY_PREVIOUS ?? '')
    .split(',')
    .filter(Boolean)
    .map((k) => decodeKey('ENCRYPTION_KEY_PREVIOUS', k.trim(), problems));

  const corsOrigins = (raw.CORS_ORIGINS ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);

  if (production) {
    if (adminPass && (adminPass.length < MIN_ADMIN_PASS_LENGTH || KNOWN_WEAK_PASSWORDS.has(adminPass.toLowerCase())))
      problems.push(
        `ADMIN_PASS: too weak for production (at least ${MIN_ADMIN_PASS_LENGTH} characters, not a known default)`,
      );
    if (psidHashSecret && psidHashSecret.length < MIN_SECRET_LENGTH)
      problems.push(`PSID_HASH_SECRET: must be at least ${MIN_SECRET_LENGTH} characters in production`);
    if (corsOrigins.includes('*')) problems.push('CORS_ORIGINS: * is refused in production');
    if (isPlainHttpElsewhere(raw.GRAPH_API_BASE_URL))
      problems.push('GRAPH_API_BASE_URL: must be https (a loopback stand-in excepted)');
    if (isPlainHttpElsewhere(raw.GEMINI_BASE_URL))
      problems.push('GEMINI_BASE_URL: must be https (a loopback stand-in excepted)');
  }
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;

  const config: Config = {
    warnings: nearMissWarnings(raw, KNOWN_VARIABLES),
    env: e.NODE_ENV,
    isProduction: production,
    host: e.HOST,
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    redisCluster: redisClusterSettings(e),
    queuePrefix: e.QUEUE_PREFIX,
    queueShards: e.QUEUE_SHARDS,
    logLevel: e.LOG_LEVEL,
    retentionDays: e.RETENTION_DAYS,
    meta: {
      appId: e.FACEBOOK_APP_ID,
      appSecret,
      verifyToken,
      defaultPageToken: e.FACEBOOK_PAGE_ACCESS_TOKEN,
      defaultWhatsAppToken: e.WHATSAPP_ACCESS_TOKEN,
      graphBaseUrl: e.GRAPH_API_BASE_URL.replace(/\/+$/, ''),
      graphVersion: e.GRAPH_API_VERSION,
      graphTimeoutMs: e.GRAPH_TIMEOUT_MS,
      usingDevelopmentSecret: appSecret === DEVELOPMENT_DEFAULTS.FACEBOOK_APP_SECRET,
    },
    ai: {
      enabled: e.AI_ENABLED,
      provider: e.AI_PROVIDER,
      apiKey: e.GEMINI_API_KEY,
      model: e.GEMINI_MODEL,
      baseUrl: e.GEMINI_BASE_URL?.replace(/\/+$/, ''),
      timeoutMs: e.AI_TIMEOUT_MS,
      maxCallsPerMin: e.AI_MAX_CALLS_PER_MIN,
      maxCallsPerMinPerPsid: e.AI_MAX_CALLS_PER_MIN_PER_PSID,
      fallbackReply: e.FALLBACK_REPLY,
      textOnlyReply: e.TEXT_ONLY_REPLY.trim().toLowerCase() === 'off' ? null : e.TEXT_ONLY_REPLY,
      dailyBudgetUsd: e.AI_DAILY_BUDGET_USD,
      monthlyBudgetUsd: e.AI_MONTHLY_BUDGET_USD,
      priceInputPerMTokUsd: e.AI_PRICE_INPUT_PER_MTOK_USD,
      priceOutputPerMTokUsd: e.AI_PRICE_OUTPUT_PER_MTOK_USD,
      instructions,
      historyTurns: e.AI_HISTORY_TURNS,
      historyMaxAgeMs: e.AI_HISTORY_MAX_AGE_S * 1000,
      replyDebounceMs: e.REPLY_DEBOUNCE_MS,
    },
    handoff: {
      pauseMs: e.HANDOFF_PAUSE_S * 1000,
      keywords: e.HANDOFF_KEYWORDS.split(',')
        .map((k) => k.trim().toLowerCase())
        .filter((k) => k.length > 0),
      reply: e.HANDOFF_REPLY,
    },
    admin: { user: adminUser, pass: adminPass },
    privacy: { psidHashSecret, encryptionKey, previousEncryptionKeys },
    http: {
      requireHttps: e.REQUIRE_HTTPS ?? production,
      trustProxy: parseTrustProxy(e.TRUST_PROXY),
      corsOrigins,
      bodyLimit: e.WEBHOOK_BODY_LIMIT_BYTES,
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
      maxConnections: e.HTTP_MAX_CONNECTIONS,
      maxConnectionsPerClient: e.HTTP_MAX_CONNECTIONS_PER_CLIENT,
    },
    worker: {
      concurrency: e.WORKER_CONCURRENCY,
      shards: e.WORKER_SHARDS,
      nice: e.WORKER_NICE,
      staleAfterMs: e.STALE_EVENT_MAX_AGE_S * 1000,
      sendMaxAttempts: e.SEND_MAX_ATTEMPTS,
      sendEchoWaitMs: e.SEND_ECHO_WAIT_MS,
      shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
      heartbeatFile: e.WORKER_HEARTBEAT_FILE,
      lockDurationMs: e.WORKER_LOCK_DURATION_MS,
    },
  };
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Buffer.isBuffer(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * The process environment merged over `.env` in the working directory (when present): real
 * environment variables win, as with docker compose and most twelve-factor tools.
 */
export function readEnvironment(cwd = process.cwd()): Record<string, string | undefined> {
  const file = resolve(cwd, '.env');
  const fromFile = existsSync(file) ? parseEnv(readFileSync(file, 'utf8')) : {};
  return { ...fromFile, ...process.env };
}

/** Entry points call this: the environment, validated, or a clean exit listing every problem. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig(readEnvironment());
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
}
