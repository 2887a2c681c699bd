import { eq, sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { events, replies, users } from '@switchboard/db';
import { QUEUES } from '@switchboard/queue';
import type { OpsDeps } from './ops-deps.js';
import { allQueueCounts, QUEUE_STATES } from './queue-stats.js';
import { summariseTokens } from './token-summary.js';

/**
 * Event types that are a person writing to the business. Echoes, reads, deliveries, reactions,
 * deletions, opt-ins, referrals and Page/Instagram changes (feed, comments, mentions) are recorded
 * too but are not messages.
 */
export const MESSAGE_TYPES = ['text', 'attachment', 'quick_reply', 'postback', 'unsupported'] as const;

const count = { type: 'integer' } as const;
const queueCountsSchema = { type: 'object', properties: Object.fromEntries(QUEUE_STATES.map((s) => [s, count])) };

export const tokenSummarySchema = {
  type: 'object',
  required: ['token_configured', 'needs_refresh', 'status_message'],
  properties: {
    token_configured: { type: 'boolean' },
    needs_refresh: { type: 'boolean' },
    status_message: { type: 'string' },
    default_token_configured: { type: 'boolean' },
    pages: count,
    invalid: count,
    expiring_soon: count,
  },
} as const;

const overviewSchema = {
  type: 'object',
  required: ['message_counts', 'system_stats', 'facebook_token', 'queues'],
  properties: {
    message_counts: { type: 'object', properties: { today: count, total: count, last_hour: count } },
    system_stats: {
      type: 'object',
      properties: {
        total_users: count,
        total_events: count,
        replies_sent: count,
        dead_letter_events: count,
        uptime_s: { type: 'number' },
      },
    },
    facebook_token: tokenSummarySchema,
    queues: {
      type: 'object',
      properties: Object.fromEntries(Object.values(QUEUES).map((q) => [q, queueCountsSchema])),
    },
  },
} as const;

export async function overview(deps: OpsDeps) {
  const { db } = deps.resources.dbh;
  const messageTypes = sql.join(
    MESSAGE_TYPES.map((t) => sql`${t}`),
    sql`, `,
  );
  const isMessage = sql`${events.type} in (${messageTypes})`;
  // "Today" is the UTC day, like the AI budget's day.
  const [messages] = await db
    .select({
      today: sql<number>`count(*) filter (where ${isMessage} and ${events.receivedAt} >= date_trunc('day', now() at time zone 'utc') at time zone 'utc')::int`,
      last_hour: sql<number>`count(*) filter (where ${isMessage} and ${events.receivedAt} >= now() - interval '1 hour')::int`,
      total: sql<number>`count(*) filter (where ${isMessage})::int`,
      all_events: sql<number>`count(*)::int`,
      dead_letter: sql<number>`count(*) filter (where ${events.status} = 'dead_letter')::int`,
    })
    .from(events);
  const [stats] = await db.select({ total_users: sql<number>`count(*)::int` }).from(users);
  const [sent] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(replies)
    .where(eq(replies.status, 'sent'));
  const [facebookToken, queues] = await Promise.all([summariseTokens(deps), allQueueCounts(deps.resources)]);
  return {
    message_counts: { today: messages?.today ?? 0, total: messages?.total ?? 0, last_hour: messages?.last_hour ?? 0 },
    system_stats: {
      total_users: stats?.total_users ?? 0,
      total_events: messages?.all_events ?? 0,
      replies_sent: sent?.n ?? 0,
      dead_letter_events: messages?.dead_letter ?? 0,
      uptime_s: Math.round(process.uptime() * 10) / 10,
    },
    facebook_token: facebookToken,
    queues,
  };
}

/** GET /ops: the one-glance overview (its shape: docs/api.md). */
export async function overviewRoutes(app: FastifyInstance, deps: OpsDeps): Promise<void> {
  app.get('/', { schema: { response: { 200: overviewSchema } } }, async () => overview(deps));
}
