import { bigint, index, integer, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/**
 * One row per normalised webhook event. `id` is the event id the ingress derived (HMAC of the
 * event identity), so a duplicate that slipped past de-duplication lands on the same row.
 * No raw sender id, no text: `sender_hash` and `mid_hash` are HMACs.
 */
export const events = pgTable(
  'events',
  {
    id: text('id').primaryKey(),
    channel: text('channel').notNull(),
    pageId: text('page_id').notNull(),
    senderHash: text('sender_hash'),
    midHash: text('mid_hash'),
    type: text('type').notNull(),
    /** pending | processing | processed | failed | dead_letter */
    status: text('status').notNull().default('pending'),
    /** What the worker did: replied, ignored, stale, dry_run, held, … */
    outcome: text('outcome'),
    /** A message merged into a later one of its burst: the event whose reply answered it. */
    answeredBy: text('answered_by'),
    attempts: integer('attempts').notNull().default(0),
    eventAt: timestamp('event_at', { withTimezone: true, mode: 'date' }).notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true, mode: 'date' }).notNull(),
    processedAt: timestamp('processed_at', { withTimezone: true, mode: 'date' }),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    lastError: text('last_error'),
    lastErrorCode: integer('last_error_code'),
  },
  (t) => [
    index('events_received_at_idx').on(t.receivedAt, t.id),
    index('events_status_received_idx').on(t.status, t.receivedAt),
    index('events_conversation_idx').on(t.channel, t.pageId, t.senderHash, t.eventAt),
  ],
);

/** Users by hashed id: first and last seen, how many messages. */
export const users = pgTable(
  'users',
  {
    channel: text('channel').notNull(),
    senderHash: text('sender_hash').notNull(),
    pageId: text('page_id').notNull(),
    firstSeenAt: timestamp('first_seen_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    messageCount: bigint('message_count', { mode: 'number' }).notNull().default(0),
  },
  (t) => [uniqueIndex('users_channel_sender_uq').on(t.channel, t.senderHash)],
);
