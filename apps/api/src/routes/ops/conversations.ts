import { and, desc, eq, gt, lt, or, type SQL, sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { conversations } from '@switchboard/db';
import { writePauseGate } from '@switchboard/pages';
import { auditContext, writeAudit } from '../../audit.js';
import { CHANNELS } from './events.js';
import { errorSchema, type OpsDeps } from './ops-deps.js';

const STATUSES = ['active', 'paused', 'waiting_for_human'] as const;
const CONVERSATION_ID = '^[0-9a-f]{32}$';
/** The longest pause an operator may set: 30 days. */
const MAX_PAUSE_MINUTES = 30 * 24 * 60;

const nullableString = { type: ['string', 'null'] } as const;
const conversationSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    channel: { type: 'string' },
    page_id: { type: 'string' },
    user: { type: 'string' },
    status: { type: 'string' },
    paused_until: nullableString,
    pause_reason: nullableString,
    last_message_at: { type: 'string' },
    messages: { type: 'integer' },
  },
} as const;
const params = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: CONVERSATION_ID } },
} as const;

type Row = typeof conversations.$inferSelect;

/** A row as operators see it: a pause that has run out reads as active, with no reason. */
export function present(row: Row, now = Date.now()) {
  const paused = row.pausedUntil !== null && row.pausedUntil.getTime() > now;
  return {
    id: row.id,
    channel: row.channel,
    page_id: row.pageId,
    user: row.userHash,
    status: paused ? row.status : 'active',
    paused_until: paused ? (row.pausedUntil as Date).toISOString() : null,
    pause_reason: paused ? row.pauseReason : null,
    last_message_at: row.lastMessageAt.toISOString(),
    messages: row.messageCount,
  };
}

/** The status as stored rows mean it now (see `present`), for filtering in SQL. */
export const effectiveStatus = sql`case when ${conversations.pausedUntil} > now() then ${conversations.status} else 'active' end`;

/** Keyset pagination on (last_message_at, id), most recent first; the cursor is opaque to clients. */
function encodeCursor(row: Row): string {
  return Buffer.from(JSON.stringify([row.lastMessageAt.toISOString(), row.id])).toString('base64url');
}

function decodeCursor(cursor: string): { at: Date; id: string } | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!Array.isArray(value) || value.length !== 2) return null;
    const [at, id] = value as unknown[];
    if (typeof at !== 'string' || typeof id !== 'string' || !new RegExp(CONVERSATION_ID).test(id)) return null;
    const date = new Date(at);
    if (Number.isNaN(date.getTime()) || date.toISOString() !== at) return null;
    return { at: date, id };
  } catch {
    return null;
  }
}

/**
 * The conversations: who is talking with which page, whether the bot is silent there and why, and
 * (for one conversation) the texts kept for the model's memory, opened at read time. Every call
 * but the listing is written to the audit log; no text is ever logged.
 */
export async function conversationRoutes(app: FastifyInstance, deps: OpsDeps): Promise<void> {
  const { config, resources } = deps;
  const { db } = resources.dbh;

  const find = async (id: string) =>
    (await db.select().from(conversations).where(eq(conversations.id, id)).limit(1))[0];

  app.get<{ Querystring: { status?: string; channel?: string; user?: string; limit?: number; cursor?: string } }>(
    '/conversations',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: [...STATUSES] },
            channel: { type: 'string', enum: [...CHANNELS] },
            user: { type: 'string', pattern: '^[0-9a-f]{64}$' },
            limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
            cursor: { type: 'string', maxLength: 200 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: { conversations: { type: 'array', items: conversationSchema }, next_cursor: nullableString },
          },
          400: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const { status, channel, user, cursor } = request.query;
      const limit = request.query.limit ?? 50;
      const where: SQL[] = [];
      if (status) where.push(sql`${effectiveStatus} = ${status}`);
      if (channel) where.push(eq(conversations.channel, channel));
      if (user) where.push(eq(conversations.userHash, user));
      if (cursor !== undefined) {
        const after = decodeCursor(cursor);
        if (!after)
          return reply.code(400).send({ error: 'invalid_cursor', message: 'cursor is not one this API issued' });
        where.push(
          or(
            lt(conversations.lastMessageAt, after.at),
            and(eq(conversations.lastMessageAt, after.at), lt(conversations.id, after.id)),
          ) as SQL,
        );
      }
      const rows = await db
        .select()
        .from(conversations)
        .where(where.length > 0 ? and(...where) : undefined)
        .orderBy(desc(conversations.lastMessageAt), desc(conversations.id))
        .limit(limit + 1);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        conversations: page.map((r) => present(r)),
        next_cursor: rows.length > limit && last ? encodeCursor(last) : null,
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/conversations/:id',
    {
      schema: {
        params,
        response: {
          200: {
            type: 'object',
            properties: {
              ...conversationSchema.properties,
              turns: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    at: { type: 'string' },
                    from: { type: 'string' },
                    text: { type: 'string' },
                    dry_run: { type: 'boolean' },
                  },
                },
              },
            },
          },
          400: errorSchema,
          404: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const row = await find(request.params.id);
      if (!row) return reply.code(404).send({ error: 'not_found', message: 'no such conversation' });
      const turns = await resources.memory.read(row.id);
      await writeAudit(db, {
        ...auditContext(request),
        action: 'conversation.read',
        target: row.id,
        details: { turns: turns.length },
      });
      return {
        ...present(row),
        turns: turns.map((t) => ({
          at: t.at.toISOString(),
          from: t.from,
          text: t.text,
          ...(t.dryRun ? { dry_run: true } : {}),
        })),
      };
    },
  );

  app.post<{ Params: { id: string }; Body: { minutes?: number } | undefined }>(
    '/conversations/:id/pause',
    {
      schema: {
        params,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { minutes: { type: 'integer', minimum: 1, maximum: MAX_PAUSE_MINUTES } },
        },
        response: { 200: conversationSchema, 400: errorSchema, 404: errorSchema },
      },
      // The validator drops unknown fields and coerces "10" to 10: a misspelt field or a length that is
      // not a whole number would silently pause for the default instead of what the operator meant.
      preValidation: async (request, reply) => {
        const body = request.body as unknown;
        if (body === undefined || body === null) return;
        const fields = typeof body === 'object' && !Array.isArray(body) ? Object.entries(body) : null;
        if (!fields || fields.some(([k, v]) => k !== 'minutes' || typeof v !== 'number' || !Number.isInteger(v))) {
          return reply.code(400).send({
            error: 'invalid_request',
            message: 'the body is {"minutes": <whole number from 1 to 43200>} or empty',
          });
        }
      },
    },
    async (request, reply) => {
      const minutes = request.body?.minutes;
      const pauseMs = minutes === undefined ? config.handoff.pauseMs : minutes * 60_000;
      const [row] = await db
        .update(conversations)
        .set({
          status: 'paused',
          pausedUntil: new Date(Date.now() + pauseMs),
          pauseReason: 'operator',
          operatorHold: true,
          updatedAt: new Date(),
        })
        .where(eq(conversations.id, request.params.id))
        .returning();
      if (!row) return reply.code(404).send({ error: 'not_found', message: 'no such conversation' });
      await writePauseGate(resources.redis, config.queuePrefix, row);
      resources.counters.count('handoffs', { reason: 'operator' });
      await writeAudit(db, {
        ...auditContext(request),
        action: 'conversation.pause',
        target: row.id,
        details: { minutes: Math.round(pauseMs / 60_000) },
      });
      return present(row);
    },
  );

  app.post<{ Params: { id: string } }>(
    '/conversations/:id/resume',
    { schema: { params, response: { 200: conversationSchema, 400: errorSchema, 404: errorSchema } } },
    async (request, reply) => {
      const [row] = await db
        .update(conversations)
        .set({ status: 'active', pausedUntil: null, pauseReason: null, operatorHold: true, updatedAt: new Date() })
        .where(eq(conversations.id, request.params.id))
        .returning();
      if (!row) return reply.code(404).send({ error: 'not_found', message: 'no such conversation' });
      await writePauseGate(resources.redis, config.queuePrefix, row);
      await writeAudit(db, { ...auditContext(request), action: 'conversation.resume', target: row.id });
      return present(row);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/conversations/:id',
    { schema: { params, response: { 400: errorSchema, 404: errorSchema } } },
    async (request, reply) => {
      const row = await find(request.params.id);
      if (!row) return reply.code(404).send({ error: 'not_found', message: 'no such conversation' });
      await resources.memory.erase(row.id);
      await writeAudit(db, { ...auditContext(request), action: 'conversation.erase', target: row.id });
      return reply.code(204).send();
    },
  );
}

/** Conversations paused right now (a gauge for /metrics and /ops/telemetry). */
export async function pausedConversations(deps: OpsDeps): Promise<number> {
  const [row] = await deps.resources.dbh.db
    .select({ n: sql<number>`count(*)::int` })
    .from(conversations)
    .where(gt(conversations.pausedUntil, sql`now()`));
  return row?.n ?? 0;
}
