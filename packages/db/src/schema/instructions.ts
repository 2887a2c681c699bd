import { pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * A page's own instructions for the assistant (who the business is, facts, prices, hours, tone),
 * set through the ops API; a page without a row gets AI_INSTRUCTIONS. Kept apart from `pages`
 * because a page needs no registered token to have instructions (a dry-run page can have them).
 * `instructions_sealed` is AES-256-GCM (@switchboard/privacy Sealer), bound to the page id, and
 * names its key id so ENCRYPTION_KEY can be rotated.
 */
export const pageInstructions = pgTable('page_instructions', {
  pageId: text('page_id').primaryKey(),
  instructionsSealed: text('instructions_sealed').notNull(),
  keyId: text('key_id').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});
