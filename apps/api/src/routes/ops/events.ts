import { and, desc, eq, type SQL, sql } from 'drizzle-orm';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { events, replies } from '@switchboard/db';
import { sendAttemptsByEvent } from './dead-letters.js';
import { sanitiseFailureReason } from './failure-reason.js';
import { errorSchema, type OpsDeps } from './ops-deps.js';

export const EVENT_STATUSES = ['pending', 'processing', 'processed', 'failed', 'dead_letter'] as const;
export const CHANNELS = ['messenger', 'instagram', 'whatsapp'] as const;
const EVENT_ID = '^[0-9a-f]{32}$';

/**
 * Keyset pagination on (received_at, id), newest first: stable while new events arrive, and served
 * by the events_received_at_idx index. The cursor is opaque to clients; received_at is stored with
 * millisecond precision (it comes from a JS timestamp), so the ISO string round-trips exactly.
 */
export function encodeEventCursor(receivedAt: Date, id: string): string {
  return Buffer.from(JSON.stringify([receivedAt.toISOString(), id])).toString('base64url');
}

/**
 * What encodeEventCursor writes, and nothing else: `Date#toISOString` in UTC with milliseconds and
 * a four-digit year. Date.parse is no check — it takes "1", RFC 2822 dates, offsets and years like
 * +275760 that PostgreSQL's timestamptz refuses (a 500) or reads differently.
 */
const CURSOR_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function isIssuedTimestamp(at: string): boolean {
  if (!CURSOR_AT.test(at)) return false;
  const ms = Date.parse(at);
  // received_at comes from Date.now(), so never before the epoch; the round trip fails for a field
  // out of range (2024-02-30 comes back as 2024-03-01).
  return ms >= 0 && new Date(ms).toISOString() === at;
}

export function decodeEventCursor(cursor: string): { at: string; id: string } | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!Array.isArray(value) || value.length !== 2) return null;
    const [at, id] = value as unknown[];
    if (typeof at !== 'string' || typeof id !== 'string' || !isIssuedTimestamp(at) || !new RegExp(EVENT_ID).test(id))
      return null;
    return { at, id };
  } catch {
    return null;
  }
}

const nullableString = { type: ['string', 'null'] } as const;
const nullableInteger = { type: ['integer', 'null'] } as const;

const eventSummary = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    channel: { type: 'string' },
    type: { type: 'string' },
    status: { type: 'string' },
    outcome: nullableString,
    attempts: { type: 'integer' },
    received_at: { type: 'string' },
    page_id: { type: 'string' },
    processed_at: nullableString,
  },
} as const;

const eventDetail = {
  type: 'object',
  properties: {
    ...eventSummary.properties,
    event_at: { type: 'string' },
    updated_at: { type: 'string' },
    last_error: nullableString,
    last_error_code: nullableInteger,
    reply: {
      type: ['object', 'null'],
      properties: {
        path: { type: 'string' },
        reason: { type: 'string' },
        status: { type: 'string' },
        parts: { type: 'integer' },
        error_code: nullableInteger,
        decide_latency_ms: { type: 'integer' },
        end_to_end_ms: nullableInteger,
        created_at: { type: 'string' },
        sent_at: nullableString,
      },
    },
  },
} as const;

type EventRow = typeof events.$inferSelect;

/**
 * The statuses of an event whose send may have been handed over to its own job (retrying, or
 * dead-lettered). The row's `attempts` counts runs of the inbound job (apps/worker/src/records.ts);
 * for such an event what counts is the Send API attempts, which only that BullMQ job knows.
 */
const SEND_JOB_STATUSES: ReadonlySet<string> = new Set(['processing', 'dead_letter']);

/**
 * The attempts to show for these events in place of the row's: their send jobs' (as /ops/dlq
 * counts them, so the two agree). Without Redis the rows' own counts are shown rather than no page.
 */
async function sendAttemptsOf(
  deps: OpsDeps,
  rows: readonly EventRow[],
  log: FastifyBaseLogger,
): Promise<Map<string, number>> {
  const ids = rows.filter((e) => SEND_JOB_STATUSES.has(e.status)).map((e) => e.id);
  if (ids.length === 0) return new Map();
  try {
    return await sendAttemptsByEvent(deps.resources, ids);
  } catch (err) {
    log.warn({ err: { message: (err as Error).message } }, "send jobs unreadable; showing the events' own attempts");
    return new Map();
  }
}

function summarise(e: EventRow, sendAttempts: ReadonlyMap<string, number>) {
  return {
    id: e.id,
    channel: e.channel,
    type: e.type,
    status: e.status,
    outcome: e.outcome,
    attempts: sendAttempts.get(e.id) ?? e.attempts,
    received_at: e.receivedAt.toISOString(),
    page_id: e.pageId,
    processed_at: e.processedAt?.toISOString() ?? null,
  };
}

/** GET /ops/events and GET /ops/events/:id: never a sender id (not even hashed) or a text. */
export async function eventRoutes(app: FastifyInstance, deps: OpsDeps): Promise<void> {
  const { db } = deps.resources.dbh;

  app.get(
    '/events',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: [...EVENT_STATUSES] },
            channel: { type: 'string', enum: [...CHANNELS] },
            limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
            cursor: { type: 'string', minLength: 1, maxLength: 200 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['events', 'next_cursor'],
            properties: { events: { type: 'array', items: eventSummary }, next_cursor: nullableString },
          },
          400: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const q = request.query as { status?: string; channel?: string; limit: number; cursor?: string };
      const conditions: SQL[] = [];
      if (q.status) conditions.push(eq(events.status, q.status));
      if (q.channel) conditions.push(eq(events.channel, q.channel));
      if (q.cursor !== undefined) {
        const cursor = decodeEventCursor(q.cursor);
        if (!cursor)
          return reply.code(400).send({ error: 'invalid_request', message: 'cursor is not one this API returned' });
        conditions.push(sql`(${events.receivedAt}, ${events.id}) < (${cursor.at}::timestamptz, ${cursor.id})`);
      }
      const rows = await db
        .select()
        .from(events)
        .where(conditions.length > 0 ? and(...conditions) : undefined)
        .orderBy(desc(events.receivedAt), desc(events.id))
        .limit(q.limit + 1);
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      const sendAttempts = await sendAttemptsOf(deps, page, request.log);
      return {
        events: page.map((e) => summarise(e, sendAttempts)),
        next_cursor: rows.length > q.limit && last ? encodeEventCursor(last.receivedAt, last.id) : null,
      };
    },
  );

  app.get(
    '/events/:id',
    {
      schema: {
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: EVENT_ID } } },
        response: { 200: eventDetail, 400: errorSchema, 404: errorSchema },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const [event] = await db.select().from(events).where(eq(events.id, id));
      if (!event) return reply.code(404).send({ error: 'not_found', message: 'no such event' });
      const [[r], sendAttempts] = await Promise.all([
        db.select().from(replies).where(eq(replies.eventId, id)),
        sendAttemptsOf(deps, [event], request.log),
      ]);
      return {
        ...summarise(event, sendAttempts),
        event_at: event.eventAt.toISOString(),
        updated_at: event.updatedAt.toISOString(),
        last_error: event.lastError ? sanitiseFailureReason(event.lastError) : null,
        last_error_code: event.lastErrorCode,
        reply: r
          ? {
              path: r.path,
              reason: r.reason,
              status: r.status,
              parts: r.parts,
              error_code: r.errorCode,
              decide_latency_ms: r.decideLatencyMs,
              end_to_end_ms: r.endToEndMs,
              created_at: r.createdAt.toISOString(),
              sent_at: r.sentAt?.toISOString() ?? null,
            }
          : null,
      };
    },
  );
}
