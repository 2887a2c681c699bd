import type { Redis } from 'ioredis';
import { instructionsVersionKey, type PageInstructionsStore } from './instructions-store.js';

/**
 * How long an entry may serve without a version change. The version bump after each change is what
 * makes the next reply see it; this bound only heals a bump that never happened (Redis failed
 * between the database write and the bump).
 */
const MAX_AGE_MS = 60_000;

interface Entry {
  own: string | null;
  version: string | null;
  at: number;
}

/**
 * Each page's instructions as a worker reads them per AI reply: one Redis GET of the version
 * number, and a PostgreSQL read (and an AES-GCM open) only for a page first seen since the last
 * change. An entry counts only under the version it was read under, so a read that raced a change
 * cannot be kept as current.
 */
export class InstructionsCache {
  readonly #entries = new Map<string, Entry>();
  readonly #store: PageInstructionsStore;
  readonly #redis: Redis;
  readonly #versionKey: string;

  constructor(deps: { store: PageInstructionsStore; redis: Redis; prefix: string }) {
    this.#store = deps.store;
    this.#redis = deps.redis;
    this.#versionKey = instructionsVersionKey(deps.prefix);
  }

  /** The page's own instructions, else the default; undefined when there are neither. */
  async forPage(pageId: string): Promise<string | undefined> {
    const version = await this.#redis.get(this.#versionKey);
    let entry = this.#entries.get(pageId);
    if (!entry || entry.version !== version || Date.now() - entry.at > MAX_AGE_MS) {
      entry = { own: await this.#store.own(pageId), version, at: Date.now() };
      this.#entries.set(pageId, entry);
    }
    return this.#store.withDefault(entry.own).instructions || undefined;
  }
}
