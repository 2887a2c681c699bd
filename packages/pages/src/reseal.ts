import { and, eq } from 'drizzle-orm';
import { type Database, pageInstructions, pages } from '@switchboard/db';
import { Sealer } from '@switchboard/privacy';
import { pageInstructionsAad } from './instructions-store.js';
import { pageTokenAad } from './token-aad.js';

export interface ResealResult {
  total: number;
  /** Re-sealed with the current key. */
  resealed: number;
  /** Already sealed with the current key. */
  current: number;
  /** Could not be opened with any configured key (left as they were). */
  failed: number;
}

interface SealedRow {
  pageId: string;
  sealed: string;
  keyId: string | null;
}

/**
 * Key rotation: every row sealed with an older key is opened (ENCRYPTION_KEY_PREVIOUS) and sealed
 * again with the current ENCRYPTION_KEY. The key id is read from the blob itself, not only the
 * row's key-id column, so a row whose column disagrees is still rotated. `write` guards each update
 * by the blob it replaces, so a value set meanwhile is never overwritten.
 */
async function resealRows(
  rows: SealedRow[],
  sealer: Sealer,
  aad: (pageId: string) => string,
  write: (row: SealedRow, sealed: string) => Promise<void>,
): Promise<ResealResult> {
  const result: ResealResult = { total: rows.length, resealed: 0, current: 0, failed: 0 };
  for (const row of rows) {
    if (Sealer.keyIdOf(row.sealed) === sealer.currentKeyId && row.keyId === sealer.currentKeyId) {
      result.current++;
      continue;
    }
    let plain: string;
    try {
      plain = sealer.open(row.sealed, aad(row.pageId));
    } catch {
      result.failed++;
      continue;
    }
    await write(row, sealer.seal(plain, aad(row.pageId)));
    result.resealed++;
  }
  return result;
}

/** Every stored Page token, re-sealed with the current key. */
export async function resealPageTokens(db: Database, sealer: Sealer): Promise<ResealResult> {
  const rows = await db
    .select({ pageId: pages.pageId, sealed: pages.tokenSealed, keyId: pages.tokenKeyId })
    .from(pages);
  return resealRows(rows, sealer, pageTokenAad, async (row, sealed) => {
    await db
      .update(pages)
      .set({ tokenSealed: sealed, tokenKeyId: sealer.currentKeyId, updatedAt: new Date() })
      .where(and(eq(pages.pageId, row.pageId), eq(pages.tokenSealed, row.sealed)));
  });
}

/** Every page's stored instructions, re-sealed with the current key. */
export async function resealPageInstructions(db: Database, sealer: Sealer): Promise<ResealResult> {
  const rows = await db
    .select({
      pageId: pageInstructions.pageId,
      sealed: pageInstructions.instructionsSealed,
      keyId: pageInstructions.keyId,
    })
    .from(pageInstructions);
  return resealRows(rows, sealer, pageInstructionsAad, async (row, sealed) => {
    await db
      .update(pageInstructions)
      .set({ instructionsSealed: sealed, keyId: sealer.currentKeyId })
      .where(and(eq(pageInstructions.pageId, row.pageId), eq(pageInstructions.instructionsSealed, row.sealed)));
  });
}
