import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import type { Database } from '@switchboard/db';
import { errorSchema, type OpsDeps } from './ops-deps.js';
import { MESSAGE_TYPES } from './overview.js';

export const STATS_RANGES = ['24h', '7d'] as const;
export type StatsRange = (typeof STATS_RANGES)[number];

export interface MessageBucket {
  /** Start of the bucket (UTC hour for 24h, UTC day for 7d), ISO 8601. */
  start: string;
  ai: number;
  fallback: number;
  paused: number;
  failed: number;
  /** Of ai + fallback: replies recorded but not sent because no Page token is configured. */
  dry_run: number;
}

export interface MessageStats {
  range: StatsRange;
  bucket: 'hour' | 'day';
  buckets: MessageBucket[];
}

const SHAPE: Readonly<Record<StatsRange, { bucket: 'hour' | 'day'; count: number }>> = {
  '24h': { bucket: 'hour', count: 24 },
  '7d': { bucket: 'day', count: 7 },
};

/**
 * Messages people wrote, per bucket, each counted once by what became of it: failed (the event or
 * its reply dead-lettered or failed), paused (the bot was told to stay quiet in that conversation),
 * else by the reply's path (AI or fallback). Messages with none of these (not answered, still
 * pending) are not counted. Buckets are whole UTC hours or days, the current one included, so the
 * last bar grows during its hour; empty buckets are zeros, not gaps.
 */
export async function messageStats(db: Database, range: StatsRange, now: Date = new Date()): Promise<MessageStats> {
  const { bucket, count } = SHAPE[range];
  const step = sql.raw(`interval '1 ${bucket}'`);
  const unit = sql.raw(`'${bucket}'`);
  const types = sql.join(
    MESSAGE_TYPES.map((t) => sql`${t}`),
    sql`, `,
  );
  const nowText = now.toISOString();
  const rows = await db.execute<{
    start: Date | string;
    ai: number;
    fallback: number;
    paused: number;
    failed: number;
    dry_run: number;
  }>(sql`
    with buckets as (
      select generate_series(
        date_trunc(${unit}, ${nowText}::timestamptz at time zone 'utc') - ${step} * ${count - 1},
        date_trunc(${unit}, ${nowText}::timestamptz at time zone 'utc'),
        ${step}
      ) at time zone 'utc' as start
    ),
    classified as (
      select e.received_at,
        case
          when e.status in ('failed', 'dead_letter') or r.status = 'dead_letter' then 'failed'
          when e.outcome = 'paused' then 'paused'
          when r.path = 'ai' then 'ai'
          when r.path = 'fallback' then 'fallback'
        end as kind,
        r.status = 'dry_run' as dry_run
      from events e
      left join replies r on r.event_id = e.id
      where e.type in (${types})
        and e.received_at >= date_trunc(${unit}, ${nowText}::timestamptz at time zone 'utc') at time zone 'utc' - ${step} * ${count - 1}
        and e.received_at <= ${nowText}::timestamptz
    )
    select b.start,
      count(c.kind) filter (where c.kind = 'ai')::int as ai,
      count(c.kind) filter (where c.kind = 'fallback')::int as fallback,
      count(c.kind) filter (where c.kind = 'paused')::int as paused,
      count(c.kind) filter (where c.kind = 'failed')::int as failed,
      count(c.kind) filter (where c.kind in ('ai', 'fallback') and c.dry_run)::int as dry_run
    from buckets b
    left join classified c on c.received_at >= b.start and c.received_at < b.start + ${step}
    group by b.start
    order by b.start
  `);
  return {
    range,
    bucket,
    buckets: [...rows].map((r) => ({
      start: new Date(r.start).toISOString(),
      ai: r.ai,
      fallback: r.fallback,
      paused: r.paused,
      failed: r.failed,
      dry_run: r.dry_run,
    })),
  };
}

const count = { type: 'integer' } as const;
const statsSchema = {
  type: 'object',
  required: ['range', 'bucket', 'buckets'],
  properties: {
    range: { type: 'string' },
    bucket: { type: 'string' },
    buckets: {
      type: 'array',
      items: {
        type: 'object',
        required: ['start', 'ai', 'fallback', 'paused', 'failed', 'dry_run'],
        properties: {
          start: { type: 'string' },
          ai: count,
          fallback: count,
          paused: count,
          failed: count,
          dry_run: count,
        },
      },
    },
  },
} as const;

/** GET /ops/stats/messages?range=24h|7d: what the dashboard's charts draw. */
export async function messageStatsRoutes(app: FastifyInstance, deps: OpsDeps): Promise<void> {
  app.get(
    '/stats/messages',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { range: { type: 'string', enum: [...STATS_RANGES], default: '24h' } },
        },
        response: { 200: statsSchema, 400: errorSchema },
      },
    },
    async (request) => {
      const { range } = request.query as { range: StatsRange };
      return messageStats(deps.resources.dbh.db, range);
    },
  );
}
