import { sql } from 'drizzle-orm';
import { index, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * One row per reply decided (one per inbound message at most: `event_id` is unique). The text
 * itself is not kept; `parts` says into how many messages it was split.
 */
export const replies = pgTable(
  'replies',
  {
    eventId: text('event_id').primaryKey(),
    channel: text('channel').notNull(),
    pageId: text('page_id').notNull(),
    senderHash: text('sender_hash').notNull(),
    /** ai | fallback */
    path: text('path').notNull(),
    /** ai, kill_switch, ai_unconfigured, rate_limited_user, rate_limited_global, timeout, error, blocked, budget */
    reason: text('reason').notNull(),
    /** Time to decide the text (the AI call, when taken). */
    decideLatencyMs: integer('decide_latency_ms').notNull(),
    /** Webhook acknowledged → Send API accepted the last part. */
    endToEndMs: integer('end_to_end_ms'),
    parts: integer('parts').notNull().default(1),
    /** pending | sent | dry_run | held | dead_letter */
    status: text('status').notNull().default('pending'),
    graphMessageIds: text('graph_message_ids').array(),
    errorCode: integer('error_code'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    sentAt: timestamp('sent_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    index('replies_created_at_idx').on(t.createdAt),
    // A WhatsApp `failed` status names one message id: found through this, not by reading days of replies.
    index('replies_whatsapp_message_ids_idx')
      .using('gin', t.graphMessageIds)
      .where(sql`${t.channel} = 'whatsapp'`),
  ],
);
