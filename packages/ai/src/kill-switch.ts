import type { Redis } from 'ioredis';

/**
 * The operator's AI on/off switch, shared by every worker through one Redis key. The key, once
 * written, wins over AI_ENABLED and survives restarts; while it is absent AI_ENABLED applies.
 *
 * Each process re-reads the key at most once per `cacheMs` (default 500 ms): a GET per message
 * would be cheap but pointless, and 500 ms keeps the promise that every worker obeys a toggle
 * within 1 s. Concurrent callers share one in-flight read.
 */
export class KillSwitch {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #initial: boolean;
  readonly #cacheMs: number;
  #cached: { enabled: boolean; readAt: number } | undefined;
  #reading: Promise<boolean> | undefined;

  constructor(redis: Redis, key: string, initial: boolean, cacheMs = 500) {
    this.#redis = redis;
    this.#key = key;
    this.#initial = initial;
    this.#cacheMs = cacheMs;
  }

  async isEnabled(): Promise<boolean> {
    const cached = this.#cached;
    if (cached && Date.now() - cached.readAt < this.#cacheMs) return cached.enabled;
    this.#reading ??= this.#read().finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  async set(enabled: boolean): Promise<void> {
    await this.#redis.set(this.#key, enabled ? '1' : '0');
    this.#cached = { enabled, readAt: Date.now() };
  }

  async #read(): Promise<boolean> {
    const readAt = Date.now();
    const stored = await this.#redis.get(this.#key);
    const enabled = stored === null ? this.#initial : stored === '1';
    // A `set` made while this read was in flight is newer than what the read saw.
    if (!this.#cached || this.#cached.readAt <= readAt) this.#cached = { enabled, readAt };
    return enabled;
  }
}
