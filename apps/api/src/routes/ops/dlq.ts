import type { FastifyInstance } from 'fastify';
import { auditContext, writeAudit } from '../../audit.js';
import { sanitiseFailureReason } from './failure-reason.js';
import {
  type DeadLetterJob,
  findDeadLetter,
  listDeadLetters,
  replayDeadLetter,
  scanDeadLetters,
} from './dead-letters.js';
import { errorSchema, type OpsDeps } from './ops-deps.js';
import { DEAD_LETTER_QUEUES } from './queue-stats.js';

/** One bulk replay touches at most this many jobs; a larger backlog is replayed in several calls. */
export const BULK_REPLAY_MAX = 1000;

const nullableString = { type: ['string', 'null'] } as const;
const deadLetterSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    queue: { type: 'string' },
    job_id: { type: 'string' },
    name: { type: 'string' },
    reason: { type: 'string' },
    error_code: { type: ['integer', 'null'] },
    failed_at: nullableString,
    attempts: { type: 'integer' },
    page_id: nullableString,
    event_id: nullableString,
    channel: nullableString,
  },
} as const;

interface ReplayFilter {
  reason?: string;
  error_code?: number;
  page_id?: string;
  queue?: string;
  from?: string;
  to?: string;
  dry_run?: boolean;
}

export function matchesFilter(job: DeadLetterJob, f: ReplayFilter): boolean {
  if (f.reason !== undefined && !job.reason.toLowerCase().includes(f.reason.toLowerCase())) return false;
  if (f.error_code !== undefined && job.error_code !== f.error_code) return false;
  if (f.page_id !== undefined && job.page_id !== f.page_id) return false;
  if (f.queue !== undefined && job.queue !== f.queue) return false;
  const failedAt = job.failed_at ? Date.parse(job.failed_at) : Number.NaN;
  if (f.from !== undefined && !(failedAt >= Date.parse(f.from))) return false;
  if (f.to !== undefined && !(failedAt <= Date.parse(f.to))) return false;
  return true;
}

/** GET /ops/dlq, POST /ops/dlq/:id/retry, POST /ops/dlq/retry (bulk replay). */
export async function dlqRoutes(app: FastifyInstance, deps: OpsDeps): Promise<void> {
  const { resources } = deps;

  app.get(
    '/dlq',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 } },
        },
        response: {
          200: { type: 'object', required: ['jobs'], properties: { jobs: { type: 'array', items: deadLetterSchema } } },
          400: errorSchema,
        },
      },
    },
    async (request) => {
      const { limit } = request.query as { limit: number };
      return { jobs: await listDeadLetters(resources, limit) };
    },
  );

  app.post(
    '/dlq/:id/retry',
    {
      schema: {
        params: {
          type: 'object',
          required: ['id'],
          // `<queue>:<job id>` as GET /ops/dlq lists it, or a bare job id (both queues are searched).
          properties: { id: { type: 'string', minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9:_.-]+$' } },
        },
        response: {
          202: {
            type: 'object',
            properties: { retried: { type: 'boolean' }, id: { type: 'string' }, queue: { type: 'string' } },
          },
          400: errorSchema,
          404: errorSchema,
          409: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const found = await findDeadLetter(resources, id);
      if (!found) return reply.code(404).send({ error: 'not_found', message: 'no dead-lettered job with that id' });
      if (found === 'ambiguous')
        return reply
          .code(409)
          .send({ error: 'ambiguous', message: 'both queues hold a dead-lettered job with that id; use <queue>:<id>' });
      const described = `${found.name}:${found.job.id}`;
      const data = (found.job.data ?? {}) as { eventId?: unknown; pageId?: unknown };
      // Read before the replay: BullMQ's Job.retry clears failedReason (on the job object too).
      const reason = sanitiseFailureReason(found.job.failedReason);
      await replayDeadLetter(found.job);
      await writeAudit(resources.dbh.db, {
        ...auditContext(request),
        action: 'dlq.retry',
        target: described,
        details: {
          queue: found.name,
          reason,
          event_id: typeof data.eventId === 'string' ? data.eventId : null,
          page_id: typeof data.pageId === 'string' ? data.pageId : null,
        },
      });
      request.log.info({ job: described, actor: request.opsUser }, 'dead-lettered job replayed');
      return reply.code(202).send({ retried: true, id: described, queue: found.name });
    },
  );

  app.post(
    '/dlq/retry',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            reason: { type: 'string', minLength: 1, maxLength: 200 },
            error_code: { type: 'integer', minimum: 0 },
            page_id: { type: 'string', minLength: 1, maxLength: 64 },
            queue: { type: 'string', enum: [...DEAD_LETTER_QUEUES] },
            from: { type: 'string', format: 'date-time' },
            to: { type: 'string', format: 'date-time' },
            // No `type`: Ajv would coerce "false" to false and "no" to… a 400 only by luck. See ai.ts.
            dry_run: { enum: [true, false] },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['dry_run', 'matched', 'retried', 'jobs'],
            properties: {
              dry_run: { type: 'boolean' },
              matched: { type: 'integer' },
              retried: { type: 'integer' },
              jobs: { type: 'array', items: { type: 'string' } },
            },
          },
          400: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const filter = (request.body ?? {}) as ReplayFilter;
      if (filter.from && filter.to && Date.parse(filter.from) > Date.parse(filter.to)) {
        return reply.code(400).send({ error: 'invalid_request', message: '`from` is after `to`' });
      }
      const dryRun = filter.dry_run === true;
      const matched = (await scanDeadLetters(resources, 50_000))
        .filter((job) => matchesFilter(job, filter))
        .slice(0, BULK_REPLAY_MAX);
      const retried: string[] = [];
      if (!dryRun) {
        for (const job of matched) {
          // Looked up again: a job replayed or removed since the scan is skipped, not replayed twice.
          const found = await findDeadLetter(resources, job.id);
          if (!found || found === 'ambiguous') continue;
          await replayDeadLetter(found.job);
          retried.push(job.id);
        }
        const { dry_run: _omit, ...criteria } = filter;
        await writeAudit(resources.dbh.db, {
          ...auditContext(request),
          action: 'dlq.replay',
          target: 'dlq',
          details: { filter: criteria, matched: matched.length, retried: retried.length, jobs: retried.slice(0, 100) },
        });
        request.log.info(
          { matched: matched.length, retried: retried.length, actor: request.opsUser },
          'dead-letter bulk replay',
        );
      }
      return {
        dry_run: dryRun,
        matched: matched.length,
        retried: retried.length,
        jobs: dryRun ? matched.map((j) => j.id) : retried,
      };
    },
  );
}
