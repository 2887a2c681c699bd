import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

export type RateLimitVerdict = 'ok' | 'rate_limited_user' | 'rate_limited_global';

export interface AiRateLimits {
  /** AI calls per rolling minute across all workers; 0 admits none (AI off in effect). */
  perMin: number;
  /** AI calls per rolling minute for one user across all workers; 0 admits none. */
  perUserPerMin: number;
}

const WINDOW_MS = 60_000;
const COMMAND = 'switchboardAiRateLimit';

/**
 * Sliding-window log rather than a token bucket: the limits are stated as "N calls per rolling
 * 60 s" and a log enforces exactly that (a bucket allows a burst of N right after a full minute of
 * N, i.e. 2N in a window). The log's cost is one sorted-set member per admitted call, and with N in
 * the tens the sets stay tiny.
 *
 * Both limits are checked and consumed in one script, so they hold across any number of worker
 * processes and a call refused by one limit consumes nothing from the other. The user limit is
 * checked first so an operator sees who is flooding even while the global limit is also full.
 *
 * KEYS[1] global log, KEYS[2] the user's log
 * ARGV[1] now in ms, or '' to use the Redis server clock (one clock for every worker)
 * ARGV[2] global limit, ARGV[3] per-user limit, ARGV[4] window in ms, ARGV[5] unique member
 * Returns 0 ok, 1 user limit reached, 2 global limit reached.
 */
const SCRIPT = `
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local globalLimit = tonumber(ARGV[2])
local userLimit = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local horizon = now - window

redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', horizon)
if redis.call('ZCARD', KEYS[2]) >= userLimit then
  return 1
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', horizon)
if redis.call('ZCARD', KEYS[1]) >= globalLimit then
  return 2
end

redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('ZADD', KEYS[2], now, ARGV[5])
redis.call('PEXPIRE', KEYS[1], window)
redis.call('PEXPIRE', KEYS[2], window)
return 0
`;

type LimiterRedis = Redis & {
  [COMMAND](
    globalKey: string,
    userKey: string,
    now: string,
    globalLimit: number,
    userLimit: number,
    windowMs: number,
    member: string,
  ): Promise<number>;
};

/** Redis-backed limits on AI calls, global and per user, shared by all workers. */
export class AiRateLimiter {
  readonly #redis: LimiterRedis;
  readonly #limits: AiRateLimits;
  readonly #globalKey: string;
  readonly #userKeyPrefix: string;

  constructor(redis: Redis, keyPrefix: string, limits: AiRateLimits) {
    // defineCommand sends EVALSHA and falls back to EVAL once per connection; defining it again on
    // a shared connection is harmless.
    redis.defineCommand(COMMAND, { numberOfKeys: 2, lua: SCRIPT });
    this.#redis = redis as LimiterRedis;
    this.#limits = limits;
    // One hash tag for every key, so the global and the user log live in one slot and the script
    // may touch both on Redis Cluster. Keys still start with the prefix, for cleanup by prefix.
    this.#globalKey = `${keyPrefix}:{ai-rl}:global`;
    this.#userKeyPrefix = `${keyPrefix}:{ai-rl}:user:`;
  }

  /**
   * Admits one AI call for `userHash` (the hashed PSID, never the raw one) or says which limit
   * refused it. `now` (ms) exists for tests; in production the Redis clock is used.
   */
  async tryAcquire(userHash: string, now?: number): Promise<RateLimitVerdict> {
    const verdict = await this.#redis[COMMAND](
      this.#globalKey,
      this.#userKeyPrefix + userHash,
      now === undefined ? '' : String(Math.floor(now)),
      this.#limits.perMin,
      this.#limits.perUserPerMin,
      WINDOW_MS,
      randomUUID(),
    );
    if (verdict === 1) return 'rate_limited_user';
    if (verdict === 2) return 'rate_limited_global';
    return 'ok';
  }
}
