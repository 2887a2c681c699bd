import { eq } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import { type Database, pageInstructions } from '@switchboard/db';
import { Sealer } from '@switchboard/privacy';

/** Sealed instructions are bound to their page: a row's blob cannot be copied onto another page. */
export const pageInstructionsAad = (pageId: string) => `page-instructions:${pageId}`;

/** Bumped on every change, so each worker's cache (instructions-cache.ts) knows to read again. */
export const instructionsVersionKey = (prefix: string) => `${prefix}:ai:instructions:version`;

export type InstructionsSource = 'page' | 'default' | 'none';

/**
 * Each page's own instructions for the assistant, sealed at rest (AES-256-GCM, like page tokens):
 * a business's instructions are not personal data, but every kept text is sealed, so a database
 * dump or backup shows none in clear whoever wrote it.
 */
export class PageInstructionsStore {
  constructor(
    private readonly deps: {
      db: Database;
      redis: Redis;
      prefix: string;
      sealer: Sealer;
      /** AI_INSTRUCTIONS: what a page without its own gets. */
      defaultInstructions?: string | undefined;
    },
  ) {}

  /**
   * Sets a page's instructions; an empty text removes them, so the default applies again. Every
   * worker sees the change at its next reply: the version bump makes their caches read again.
   */
  async set(
    pageId: string,
    instructions: string,
  ): Promise<{ updatedAt: Date; removed: boolean; replaced: boolean; announced: boolean }> {
    const { db, sealer } = this.deps;
    const updatedAt = new Date();
    let replaced: boolean;
    if (instructions === '') {
      const gone = await db
        .delete(pageInstructions)
        .where(eq(pageInstructions.pageId, pageId))
        .returning({ pageId: pageInstructions.pageId });
      replaced = gone.length > 0;
    } else {
      const before = await db
        .select({ pageId: pageInstructions.pageId })
        .from(pageInstructions)
        .where(eq(pageInstructions.pageId, pageId));
      replaced = before.length > 0;
      const row = {
        instructionsSealed: sealer.seal(instructions, pageInstructionsAad(pageId)),
        keyId: sealer.currentKeyId,
        updatedAt,
      };
      await db
        .insert(pageInstructions)
        .values({ pageId, ...row })
        .onConflictDoUpdate({ target: pageInstructions.pageId, set: row });
    }
    // The change is stored either way; without the bump the workers' caches expire it within a minute.
    const announced = await this.deps.redis.incr(instructionsVersionKey(this.deps.prefix)).then(
      () => true,
      () => false,
    );
    return { updatedAt, removed: instructions === '', replaced, announced };
  }

  /** The page's own instructions, or null when it has none. */
  async own(pageId: string): Promise<string | null> {
    const [row] = await this.deps.db
      .select({ sealed: pageInstructions.instructionsSealed })
      .from(pageInstructions)
      .where(eq(pageInstructions.pageId, pageId));
    return row ? this.deps.sealer.open(row.sealed, pageInstructionsAad(pageId)) : null;
  }

  /** What the model gets for this page, and where it comes from. */
  async resolve(pageId: string): Promise<{ instructions: string; source: InstructionsSource }> {
    return this.withDefault(await this.own(pageId));
  }

  withDefault(own: string | null): { instructions: string; source: InstructionsSource } {
    if (own !== null) return { instructions: own, source: 'page' };
    const fallback = this.deps.defaultInstructions;
    return fallback ? { instructions: fallback, source: 'default' } : { instructions: '', source: 'none' };
  }
}
