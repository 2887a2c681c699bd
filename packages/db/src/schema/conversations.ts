import { boolean, index, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * One row per conversation: one user with one Page, Instagram account or WhatsApp number. `id` is
 * derived from the channel, page and user hash (@switchboard/pages conversationId), so the worker
 * upserts it without a lookup. `user_hash` is the HMAC of the user id stored everywhere else; no
 * text lives here (the turns kept for the model's memory are sealed in Redis).
 */
export const conversations = pgTable(
  'conversations',
  {
    id: text('id').primaryKey(),
    channel: text('channel').notNull(),
    pageId: text('page_id').notNull(),
    userHash: text('user_hash').notNull(),
    /** active | paused | waiting_for_human; a pause whose `paused_until` has passed reads as active. */
    status: text('status').notNull().default('active'),
    pausedUntil: timestamp('paused_until', { withTimezone: true, mode: 'date' }),
    /** staff_replied | user_asked | operator | handover */
    pauseReason: text('pause_reason'),
    /** Set by an operator's pause or resume: only the next staff message changes the state then. */
    operatorHold: boolean('operator_hold').notNull().default(false),
    staffAt: timestamp('staff_at', { withTimezone: true, mode: 'date' }),
    lastMessageAt: timestamp('last_message_at', { withTimezone: true, mode: 'date' }).notNull(),
    /** Messages of the user and of the staff (the bot's replies are in `replies`). */
    messageCount: integer('message_count').notNull().default(0),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [index('conversations_recent_idx').on(t.lastMessageAt, t.id), index('conversations_user_idx').on(t.userHash)],
);
