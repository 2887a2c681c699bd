import type { Redis } from 'ioredis';

/** Where the switch's value is kept for good: PostgreSQL (`aiSwitchStore` of @switchboard/db). */
export interface DurableSwitch {
  /** The stored value; when there is none yet, `initial` is stored and returned. */
  readOrInit(initial: boolean): Promise<boolean>;
  /** Stores `enabled` and runs `publish` before the change commits. */
  write(enabled: boolean, publish: () => Promise<unknown>): Promise<void>;
}

/** The Redis key of the switch's copy, beside the deployment's other AI keys. */
export function killSwitchKey(prefix: string): string {
  return `${prefix}:ai:enabled`;
}

/**
 * The operator's AI on/off switch. Its value lives in PostgreSQL; every process reads a copy kept in
 * one Redis key. A toggle writes PostgreSQL's row, then the copy, then commits. AI_ENABLED is only
 * the value stored when PostgreSQL has none yet.
 *
 * Redis can lose the copy (FLUSHALL, a restart without persistence). `isEnabled` then answers "off"
 * — an AI switched off must not come back on because Redis forgot, and the message path does not
 * wait on PostgreSQL — and restores the copy from PostgreSQL in the background, so the next reads
 * see the operator's value again. `setting` waits for PostgreSQL instead: what status pages show.
 *
 * Each process re-reads the key at most once per `cacheMs` (default 500 ms): a GET per message
 * would be cheap but pointless, and 500 ms keeps the promise that every worker obeys a toggle
 * within 1 s. Concurrent callers share one in-flight read, and one in-flight restore.
 */
export class KillSwitch {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #store: DurableSwitch;
  readonly #initial: boolean;
  readonly #cacheMs: number;
  /** The key's value as last read or written; null: the key was missing. */
  #cached: { value: boolean | null; readAt: number } | undefined;
  #reading: Promise<boolean | null> | undefined;
  #restoring: Promise<boolean> | undefined;

  constructor(redis: Redis, key: string, store: DurableSwitch, initial: boolean, cacheMs = 500) {
    this.#redis = redis;
    this.#key = key;
    this.#store = store;
    this.#initial = initial;
    this.#cacheMs = cacheMs;
  }

  /** May the AI be called now? Off while the Redis copy is missing (and restored meanwhile). */
  async isEnabled(): Promise<boolean> {
    const value = await this.#copy();
    if (value !== null) return value;
    // The caller gets "off" now; a failed restore is tried again by the next read.
    this.restore().catch(() => {});
    return false;
  }

  /** The operator's setting: the Redis copy, or PostgreSQL's value (restored into Redis) when the copy is missing. */
  async setting(): Promise<boolean> {
    return (await this.#copy()) ?? this.restore();
  }

  async set(enabled: boolean): Promise<void> {
    await this.#store.write(enabled, () => this.#redis.set(this.#key, enabled ? '1' : '0'));
    this.#cached = { value: enabled, readAt: Date.now() };
  }

  /**
   * Copies PostgreSQL's value into Redis unless the key exists: a key written meanwhile comes from
   * a toggle, newer than what PostgreSQL answered a moment before. Answers the key's value.
   */
  restore(): Promise<boolean> {
    this.#restoring ??= this.#restore().finally(() => {
      this.#restoring = undefined;
    });
    return this.#restoring;
  }

  async #restore(): Promise<boolean> {
    const stored = await this.#store.readOrInit(this.#initial);
    const written = await this.#redis.set(this.#key, stored ? '1' : '0', 'NX');
    if (written === 'OK') {
      // Reads that began before this write saw the key missing: this value is newer.
      this.#remember(stored, Date.now());
      return stored;
    }
    const current = await this.#read();
    // The key vanished again between the two commands: what PostgreSQL said still holds.
    return current ?? stored;
  }

  #copy(): Promise<boolean | null> {
    const cached = this.#cached;
    if (cached && Date.now() - cached.readAt < this.#cacheMs) return Promise.resolve(cached.value);
    this.#reading ??= this.#read().finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  async #read(): Promise<boolean | null> {
    const readAt = Date.now();
    const stored = await this.#redis.get(this.#key);
    const value = stored === null ? null : stored === '1';
    this.#remember(value, readAt);
    return value;
  }

  /** A `set` or read made while this one was in flight is newer than what this one saw. */
  #remember(value: boolean | null, readAt: number): void {
    if (!this.#cached || this.#cached.readAt <= readAt) this.#cached = { value, readAt };
  }
}
