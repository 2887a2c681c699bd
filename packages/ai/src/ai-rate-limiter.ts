import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { defineRedisScripts, loadRedisScript, runRedisScript } from '@switchboard/queue';

export type RateLimitVerdict = 'ok' | 'rate_limited_user' | 'rate_limited_global';

export interface AiRateLimits {
  /** AI calls per rolling minute across all workers; 0 admits none (AI off in effect). */
  perMin: number;
  /** AI calls per rolling minute for one user across all workers; 0 admits none. */
  perUserPerMin: number;
}

const WINDOW_MS = 60_000;
/**
 * Sliding-window log rather than a token bucket: the limits are stated as "N calls per rolling
 * 60 s" and a log enforces exactly that (a bucket allows a burst of N right after a full minute of
 * N, i.e. 2N in a window). The log's cost is one sorted-set member per admitted call, and with N in
 * the tens the sets stay tiny.
 *
 * Both limits are checked and consumed in one script, so they hold across any number of worker
 * processes and a call refused by one limit consumes nothing from the other. The user limit is
 * checked first so an operator sees who is flooding even while the global limit is also full.
 */
const SCRIPT = loadRedisScript(new URL('../src/scripts/', import.meta.url), 'ai-rate-limit', 'switchboardAiRateLimit');

/** Redis-backed limits on AI calls, global and per user, shared by all workers. */
export class AiRateLimiter {
  readonly #redis: Redis;
  readonly #limits: AiRateLimits;
  readonly #globalKey: string;
  readonly #userKeyPrefix: string;

  constructor(redis: Redis, keyPrefix: string, limits: AiRateLimits) {
    defineRedisScripts(redis, [SCRIPT]);
    this.#redis = redis;
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
    const verdict = await runRedisScript<number>(
      this.#redis,
      SCRIPT,
      [this.#globalKey, this.#userKeyPrefix + userHash],
      [
        now === undefined ? '' : String(Math.floor(now)),
        this.#limits.perMin,
        this.#limits.perUserPerMin,
        WINDOW_MS,
        randomUUID(),
      ],
    );
    if (verdict === 1) return 'rate_limited_user';
    if (verdict === 2) return 'rate_limited_global';
    return 'ok';
  }
}
