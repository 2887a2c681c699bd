import { desc, lt } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { auditLog } from '@switchboard/db';
import { errorSchema, type OpsDeps } from './ops-deps.js';

/** audit_log.id is a PostgreSQL `serial` (integer): a larger cursor is none this API returned. */
const MAX_AUDIT_ID = 2_147_483_647;

/** GET /ops/audit: the audit log, newest first; the cursor is the last id seen (ids only grow). */
export async function auditLogRoutes(app: FastifyInstance, deps: OpsDeps): Promise<void> {
  const { db } = deps.resources.dbh;
  app.get(
    '/audit',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
            cursor: { type: 'string', pattern: '^[1-9][0-9]{0,9}$' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['entries', 'next_cursor'],
            properties: {
              entries: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    id: { type: 'integer' },
                    at: { type: 'string' },
                    actor: { type: 'string' },
                    action: { type: 'string' },
                    target: { type: ['string', 'null'] },
                    ip: { type: ['string', 'null'] },
                    request_id: { type: ['string', 'null'] },
                    details: { type: ['object', 'null'], additionalProperties: true },
                  },
                },
              },
              next_cursor: { type: ['string', 'null'] },
            },
          },
          400: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const q = request.query as { limit: number; cursor?: string };
      if (q.cursor !== undefined && Number(q.cursor) > MAX_AUDIT_ID) {
        return reply.code(400).send({ error: 'invalid_request', message: 'cursor is not one this API returned' });
      }
      const rows = await db
        .select()
        .from(auditLog)
        .where(q.cursor ? lt(auditLog.id, Number(q.cursor)) : undefined)
        .orderBy(desc(auditLog.id))
        .limit(q.limit + 1);
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      return {
        entries: page.map((r) => ({
          id: r.id,
          at: r.at.toISOString(),
          actor: r.actor,
          action: r.action,
          target: r.target,
          ip: r.ip,
          request_id: r.requestId,
          details: (r.details ?? null) as Record<string, unknown> | null,
        })),
        next_cursor: rows.length > q.limit && last ? String(last.id) : null,
      };
    },
  );
}
