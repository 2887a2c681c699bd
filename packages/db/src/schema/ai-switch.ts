import { boolean, check, pgTable, smallint, timestamp } from 'drizzle-orm/pg-core';
import { sql } from 'drizzle-orm';

/**
 * The operator's AI on/off switch: one row, the switch's durable value. Redis holds a copy every
 * process reads; when Redis loses it, this row restores it. No row yet: AI_ENABLED seeds it.
 */
export const aiSwitch = pgTable(
  'ai_switch',
  {
    /** Always 1: the check keeps the table to a single row. */
    id: smallint('id').primaryKey().default(1),
    enabled: boolean('enabled').notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [check('ai_switch_single_row', sql`${t.id} = 1`)],
);
