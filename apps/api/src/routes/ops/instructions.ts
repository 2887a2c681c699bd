import type { FastifyInstance } from 'fastify';
import { countChars, MAX_AI_INSTRUCTIONS_CHARS } from '@switchboard/config';
import { SealError } from '@switchboard/privacy';
import { auditContext, writeAudit } from '../../audit.js';
import type { ApiResources } from '../../resources.js';
import { errorSchema } from './ops-deps.js';

const params = {
  type: 'object',
  required: ['pageId'],
  // Page, Instagram account and WhatsApp phone number ids are all numeric.
  properties: { pageId: { type: 'string', pattern: '^[0-9]{1,64}$' } },
} as const;

interface PutInstructionsBody {
  instructions: string;
}

/**
 * What the assistant knows and how it speaks, per Page, Instagram account or WhatsApp number:
 * PUT and GET /ops/pages/:pageId/instructions (full paths; registered inside the ops Basic-auth
 * scope). A page needs no registered token to have instructions. The text is sealed at rest and
 * never logged or written to the audit log; only its length is.
 */
export async function instructionsRoutes(app: FastifyInstance, opts: { resources: ApiResources }): Promise<void> {
  const { resources } = opts;

  app.put<{ Params: { pageId: string }; Body: PutInstructionsBody }>(
    '/ops/pages/:pageId/instructions',
    {
      schema: {
        params,
        body: {
          type: 'object',
          required: ['instructions'],
          additionalProperties: false,
          // Ajv counts code points, as countChars does.
          properties: { instructions: { type: 'string', maxLength: MAX_AI_INSTRUCTIONS_CHARS } },
        },
        response: {
          200: {
            type: 'object',
            required: ['page_id', 'instructions_chars', 'updated_at'],
            properties: {
              page_id: { type: 'string' },
              instructions_chars: { type: 'integer' },
              updated_at: { type: 'string' },
            },
          },
          400: errorSchema,
        },
      },
      // Fastify's validator coerces scalars (42 → "42"); instructions that were not a string are a client error.
      preValidation: async (request, reply) => {
        const body = request.body as unknown as Record<string, unknown> | null;
        if (body && typeof body === 'object' && 'instructions' in body && typeof body.instructions !== 'string') {
          return reply.code(400).send({ error: 'invalid_request', message: 'body/instructions must be a string' });
        }
      },
    },
    async (request) => {
      const { pageId } = request.params;
      // Surrounding whitespace means nothing to the model; text of whitespace alone removes, like "".
      const text = request.body.instructions.trim();
      const chars = countChars(text);
      const { updatedAt, removed, replaced, announced } = await resources.instructions.set(pageId, text);
      await writeAudit(resources.dbh.db, {
        ...auditContext(request),
        action: removed ? 'page.instructions_removed' : 'page.instructions_set',
        target: pageId,
        details: { instructions_chars: chars, replaced },
      });
      request.log.info(
        { pageId, chars, removed, actor: request.opsUser },
        removed ? 'page instructions removed' : 'page instructions set',
      );
      if (!announced)
        request.log.warn(
          { pageId },
          'instructions stored, but the workers were not told (Redis): they apply within a minute',
        );
      return { page_id: pageId, instructions_chars: chars, updated_at: updatedAt.toISOString() };
    },
  );

  app.get<{ Params: { pageId: string } }>(
    '/ops/pages/:pageId/instructions',
    {
      schema: {
        params,
        response: {
          200: {
            type: 'object',
            required: ['page_id', 'instructions', 'source'],
            properties: {
              page_id: { type: 'string' },
              instructions: { type: 'string' },
              source: { type: 'string', enum: ['page', 'default', 'none'] },
            },
          },
          400: errorSchema,
          409: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const { pageId } = request.params;
      try {
        const { instructions, source } = await resources.instructions.resolve(pageId);
        return { page_id: pageId, instructions, source };
      } catch (err) {
        if (!(err instanceof SealError)) throw err;
        // The workers give the model the default meanwhile (instructions-cache.ts); the operator
        // learns why and what to do, not a 500.
        request.log.warn({ pageId }, 'page instructions cannot be opened with the configured keys');
        return reply.code(409).send({
          error: 'instructions_unreadable',
          message:
            'these instructions were sealed with a key ENCRYPTION_KEY no longer holds; the assistant uses the default meanwhile: set them again with PUT',
        });
      }
    },
  );
}
