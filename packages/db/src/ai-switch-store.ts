import { eq, sql } from 'drizzle-orm';
import type { Database } from './client.js';
import { aiSwitch } from './schema/ai-switch.js';

const ROW = 1;

/** The AI switch's durable value in PostgreSQL (one row of `ai_switch`). */
export interface AiSwitchStore {
  /** The stored value, or null when nothing was stored yet. */
  read(): Promise<boolean | null>;
  /** The stored value; when there is none yet, `initial` is stored and returned (first writer wins). */
  readOrInit(initial: boolean): Promise<boolean>;
  /**
   * Stores `enabled`, then runs `publish` (the copy into Redis) before the change commits: the row
   * stays locked meanwhile, so two toggles at once reach Redis in the order they reach PostgreSQL,
   * and a failed publish leaves PostgreSQL unchanged.
   */
  write(enabled: boolean, publish: () => Promise<unknown>): Promise<void>;
}

export function aiSwitchStore(db: Database): AiSwitchStore {
  const read = async () => {
    const rows = await db.select({ enabled: aiSwitch.enabled }).from(aiSwitch).where(eq(aiSwitch.id, ROW));
    return rows[0]?.enabled ?? null;
  };
  return {
    read,
    async readOrInit(initial) {
      await db.insert(aiSwitch).values({ id: ROW, enabled: initial }).onConflictDoNothing();
      return (await read()) ?? initial;
    },
    async write(enabled, publish) {
      await db.transaction(async (tx) => {
        await tx
          .insert(aiSwitch)
          .values({ id: ROW, enabled })
          .onConflictDoUpdate({ target: aiSwitch.id, set: { enabled, updatedAt: sql`now()` } });
        await publish();
      });
    },
  };
}
