import type { Redis } from 'ioredis';
import { SealError } from '@switchboard/privacy';
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
 * number — shared by the replies that ask while it is in flight, which would all read the same —
 * and a PostgreSQL read (and an AES-GCM open) only for a page first seen since the last change. An
 * entry counts only under the version it was read under, so a read that raced a change cannot be
 * kept as current.
 */
export class InstructionsCache {
  readonly #entries = new Map<string, Entry>();
  readonly #store: PageInstructionsStore;
  readonly #redis: Redis;
  readonly #versionKey: string;
  readonly #onUnreadable: (pageId: string) => void;
  #versionRead: Promise<string | null> | undefined;

  /**
   * `onUnreadable` hears of a page whose instructions no configured key opens (ENCRYPTION_KEY
   * changed without ENCRYPTION_KEY_PREVIOUS): that page is answered with the default meanwhile,
   * rather than every message of it failing until an operator fixes the key.
   */
  constructor(deps: {
    store: PageInstructionsStore;
    redis: Redis;
    prefix: string;
    onUnreadable?: (pageId: string) => void;
  }) {
    this.#store = deps.store;
    this.#redis = deps.redis;
    this.#versionKey = instructionsVersionKey(deps.prefix);
    this.#onUnreadable = deps.onUnreadable ?? (() => {});
  }

  /** The page's own instructions, else the default; undefined when there are neither. */
  async forPage(pageId: string): Promise<string | undefined> {
    const version = await this.#version();
    let entry = this.#entries.get(pageId);
    if (!entry || entry.version !== version || Date.now() - entry.at > MAX_AGE_MS) {
      entry = { own: await this.#readOwn(pageId), version, at: Date.now() };
      this.#entries.set(pageId, entry);
    }
    return this.#store.withDefault(entry.own).instructions || undefined;
  }

  #version(): Promise<string | null> {
    this.#versionRead ??= this.#redis.get(this.#versionKey).finally(() => {
      this.#versionRead = undefined;
    });
    return this.#versionRead;
  }

  async #readOwn(pageId: string): Promise<string | null> {
    try {
      return await this.#store.own(pageId);
    } catch (err) {
      if (!(err instanceof SealError)) throw err;
      this.#onUnreadable(pageId);
      return null;
    }
  }
}
