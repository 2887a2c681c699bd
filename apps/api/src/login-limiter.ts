import type { Redis } from 'ioredis';
import { clientKey } from './client-key.js';

/** Wrong logins from one client (an IPv4 address, an IPv6 /64) within the window before it is locked. */
export const AUTH_FAILURE_LIMIT = 10;
/** Wrong logins from all clients together within the window before every unknown client is locked. */
export const AUTH_GLOBAL_FAILURE_LIMIT = 100;
export const AUTH_FAILURE_WINDOW_S = 15 * 60;
/** How long a client that logged in once stays known (its logins are never refused unheard). */
export const AUTH_KNOWN_CLIENT_S = 30 * 24 * 3600;
/**
 * How long a login waits for Redis before deciding on what this process counted itself. A hung
 * Redis must not hang the ops API; a login is rare enough that the wait is never the bottleneck.
 */
export const LIMITER_REDIS_WAIT_MS = 500;
/** Clients this process remembers on its own (while Redis does not answer). */
const LOCAL_MAX_CLIENTS = 10_000;

// One hash tag for the limiter's keys: a login reads and counts a client's and the global failures
// in one pipeline or transaction, which a Redis Cluster allows only within one slot.
export function authFailureKey(queuePrefix: string, client: string): string {
  return `${queuePrefix}:{auth}:authfail:${client}`;
}
export function authGlobalFailureKey(queuePrefix: string): string {
  return `${queuePrefix}:{auth}:authfail-all`;
}
export function authKnownClientKey(queuePrefix: string, client: string): string {
  return `${queuePrefix}:{auth}:authok:${client}`;
}

/** What the limiter says about one login before its credentials are checked. */
export type LoginVerdict =
  /** Check the credentials. */
  | { kind: 'check'; client: string; known: boolean }
  /** An unknown client while it, or everyone, is past the limit: refused without a check. */
  | { kind: 'locked'; client: string; retryAfterS: number };

interface Window {
  count: number;
  resetAt: number;
}

/**
 * The brute-force limiter of the ops Basic auth.
 *
 * - A client is an IPv4 address or an IPv6 /64 (client-key.ts), as the trusted proxy reports it.
 * - Wrong logins are counted per client and for all clients together, in Redis (shared by every
 *   replica) and in this process, and the larger count decides: while Redis is down or hangs
 *   (each call waits at most LIMITER_REDIS_WAIT_MS), counting goes on in the process.
 * - A *known* client — one that logged in within AUTH_KNOWN_CLIENT_S — is never refused unheard:
 *   its right password is admitted, and its wrong ones are counted and answered 429 while it is
 *   past the limit. So a guesser behind the operators' shared NAT cannot lock them out.
 * - An *unknown* client past AUTH_FAILURE_LIMIT, or any unknown client while the global budget is
 *   spent, is refused without its credentials being checked until the window ends: a guesser on
 *   fresh addresses gets AUTH_FAILURE_LIMIT guesses per client, AUTH_GLOBAL_FAILURE_LIMIT in all.
 */
export class LoginLimiter {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #failures = new Map<string, Window>();
  #globalFailures: Window = { count: 0, resetAt: 0 };
  readonly #known = new Map<string, number>();

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  async before(address: string): Promise<LoginVerdict> {
    const client = clientKey(address);
    const now = Date.now();
    const failKey = authFailureKey(this.#prefix, client);
    const globalKey = authGlobalFailureKey(this.#prefix);
    const shared = await this.#bounded(
      this.#redis
        .pipeline()
        .get(failKey)
        .get(globalKey)
        .exists(authKnownClientKey(this.#prefix, client))
        .ttl(failKey)
        .ttl(globalKey)
        .exec(),
    );
    const value = (i: number) => {
      const [err, v] = shared?.[i] ?? [null, null];
      return err ? 0 : Number(v) || 0;
    };
    const local = this.#failures.get(client);
    const clientFailures = Math.max(value(0), local && local.resetAt > now ? local.count : 0);
    const globalFailures = Math.max(value(1), this.#globalFailures.resetAt > now ? this.#globalFailures.count : 0);
    const known = value(2) > 0 || (this.#known.get(client) ?? 0) > now;
    if (known) return { kind: 'check', client, known };

    const remaining = (redisTtl: number, window: Window | undefined) =>
      redisTtl > 0
        ? redisTtl
        : window && window.resetAt > now
          ? Math.ceil((window.resetAt - now) / 1000)
          : AUTH_FAILURE_WINDOW_S;
    if (clientFailures >= AUTH_FAILURE_LIMIT)
      return { kind: 'locked', client, retryAfterS: remaining(value(3), local) };
    if (globalFailures >= AUTH_GLOBAL_FAILURE_LIMIT)
      return { kind: 'locked', client, retryAfterS: remaining(value(4), this.#globalFailures) };
    return { kind: 'check', client, known };
  }

  /** Counts a wrong login; answers whether the client is now past the limit (429 rather than 401). */
  async failed(client: string): Promise<{ overLimit: boolean; retryAfterS: number }> {
    const now = Date.now();
    const local = this.#count(client, now);
    const failKey = authFailureKey(this.#prefix, client);
    const globalKey = authGlobalFailureKey(this.#prefix);
    // Each window starts at its first failure and is not extended by later ones (EXPIRE NX, Redis ≥ 7).
    const shared = await this.#bounded(
      this.#redis
        .multi()
        .incr(failKey)
        .expire(failKey, AUTH_FAILURE_WINDOW_S, 'NX')
        .incr(globalKey)
        .expire(globalKey, AUTH_FAILURE_WINDOW_S, 'NX')
        .ttl(failKey)
        .exec(),
    );
    const [, count] = shared?.[0] ?? [null, 0];
    const [, ttl] = shared?.[4] ?? [null, -1];
    const failures = Math.max(Number(count) || 0, local.count);
    const retryAfterS = Number(ttl) > 0 ? Number(ttl) : Math.ceil((local.resetAt - now) / 1000);
    return { overLimit: failures > AUTH_FAILURE_LIMIT, retryAfterS };
  }

  /** Remembers a client that logged in, so that a lock never refuses it unheard. */
  async succeeded(client: string, alreadyKnown: boolean): Promise<void> {
    const now = Date.now();
    if ((this.#known.get(client) ?? 0) <= now) {
      if (this.#known.size >= LOCAL_MAX_CLIENTS) this.#prune(this.#known, now, (v) => v);
      this.#known.set(client, now + AUTH_KNOWN_CLIENT_S * 1000);
    }
    if (!alreadyKnown)
      await this.#bounded(this.#redis.set(authKnownClientKey(this.#prefix, client), '1', 'EX', AUTH_KNOWN_CLIENT_S));
  }

  #count(client: string, now: number): Window {
    if (this.#globalFailures.resetAt <= now)
      this.#globalFailures = { count: 0, resetAt: now + AUTH_FAILURE_WINDOW_S * 1000 };
    this.#globalFailures.count++;
    let window = this.#failures.get(client);
    if (!window || window.resetAt <= now) {
      // A flood of fresh clients must not grow the map without bound: past the cap they are
      // counted in the global budget only, which locks every unknown client anyway.
      if (this.#failures.size >= LOCAL_MAX_CLIENTS) this.#prune(this.#failures, now, (w) => w.resetAt);
      window = { count: 0, resetAt: now + AUTH_FAILURE_WINDOW_S * 1000 };
      if (this.#failures.size < LOCAL_MAX_CLIENTS) this.#failures.set(client, window);
    }
    window.count++;
    return window;
  }

  #prune<V>(map: Map<string, V>, now: number, expiry: (v: V) => number): void {
    for (const [key, v] of map) if (expiry(v) <= now) map.delete(key);
  }

  /** The promise's value, or undefined when it fails or Redis takes longer than LIMITER_REDIS_WAIT_MS. */
  async #bounded<T>(promise: Promise<T>): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), LIMITER_REDIS_WAIT_MS);
    });
    try {
      return await Promise.race([promise.catch(() => undefined), late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
