import { and, eq } from 'drizzle-orm';
import { type Database, pages } from '@switchboard/db';
import { Sealer } from '@switchboard/privacy';
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

/**
 * Key rotation: every page token sealed with an older key is opened (ENCRYPTION_KEY_PREVIOUS) and
 * sealed again with the current ENCRYPTION_KEY. The key id is read from the blob itself, not only
 * the row's `token_key_id` column, so a row whose column disagrees is still rotated. Each write is
 * guarded by the blob it replaced, so a token registered meanwhile is never overwritten.
 */
export async function resealPageTokens(db: Database, sealer: Sealer): Promise<ResealResult> {
  const rows = await db.select({ pageId: pages.pageId, sealed: pages.tokenSealed, keyId: pages.tokenKeyId }).from(pages);
  const result: ResealResult = { total: rows.length, resealed: 0, current: 0, failed: 0 };
  for (const row of rows) {
    if (Sealer.keyIdOf(row.sealed) === sealer.currentKeyId && row.keyId === sealer.currentKeyId) {
      result.current++;
      continue;
    }
    let token: string;
    try {
      token = sealer.open(row.sealed, pageTokenAad(row.pageId));
    } catch {
      result.failed++;
      continue;
    }
    await db
      .update(pages)
      .set({ tokenSealed: sealer.seal(token, pageTokenAad(row.pageId)), tokenKeyId: sealer.currentKeyId, updatedAt: new Date() })
      .where(and(eq(pages.pageId, row.pageId), eq(pages.tokenSealed, row.sealed)));
    result.resealed++;
  }
  return result;
}
