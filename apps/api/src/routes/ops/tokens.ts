import type { FastifyInstance } from 'fastify';
import type { Config } from '@switchboard/config';
import { graphClientFor } from '@switchboard/meta';
import { releaseHeldSends, runTokenCheck, storedTokenStatus } from '@switchboard/pages';
import { auditContext, writeAudit } from '../../audit.js';
import type { ApiResources } from '../../resources.js';
import { tokenRefreshStatus } from './token-summary.js';

/** Meta's tokens are a few hundred characters; anything far longer is not one. */
const MAX_TOKEN_LENGTH = 1024;

const nullableString = { type: ['string', 'null'] } as const;
const nullableInteger = { type: ['integer', 'null'] } as const;

/** The token-state fields a page has in both answers (GET /ops/pages and the refresh status). */
const tokenStateProperties = {
  page_id: { type: 'string' },
  channel: { type: 'string' },
  token_kind: { type: 'string' },
  token_status: { type: 'string' },
  monitoring_status: { type: 'string' },
  expires_at: nullableString,
  data_access_expires_at: nullableString,
  last_checked_at: nullableString,
} as const;

const pageSchema = {
  type: 'object',
  properties: {
    ...tokenStateProperties,
    never_expires: { type: 'boolean' },
    scopes: { type: ['array', 'null'], items: { type: 'string' } },
    invalidated_at: nullableString,
    invalid_reason: nullableString,
    restricted_at: nullableString,
    restricted_reason: nullableString,
    waba_id: nullableString,
    token_issued_at: nullableString,
    updated_at: nullableString,
    held_sends: { type: 'integer' },
  },
} as const;

const refreshStatusSchema = {
  type: 'object',
  properties: {
    refresh_monitoring: {
      type: 'object',
      properties: {
        status: { type: 'string' },
        graph_api: {
          type: 'object',
          properties: {
            version: { type: 'string' },
            end_of_life: nullableString,
            days_left: nullableInteger,
            warning: { type: 'boolean' },
          },
        },
        pages: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              ...tokenStateProperties,
              days_left: nullableInteger,
              scopes_ok: { type: ['boolean', 'null'] },
              reasons: { type: 'array', items: { type: 'string' } },
              restricted_reason: nullableString,
            },
          },
        },
        actions_needed: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              priority: { type: 'string', enum: ['critical', 'high', 'medium', 'low'] },
              action: { type: 'string' },
              message: { type: 'string' },
              instructions: { type: 'array', items: { type: 'string' } },
            },
          },
        },
      },
    },
    check: {
      type: 'object',
      properties: {
        checked: { type: 'integer' },
        valid: { type: 'integer' },
        invalid: { type: 'integer' },
        failed: { type: 'integer' },
        released: { type: 'integer' },
        refreshed: { type: 'integer' },
        resubscribed: { type: 'integer' },
      },
    },
  },
} as const;

/** The channels a token can be registered for: a Page, an Instagram account or a WhatsApp phone number. */
const TOKEN_CHANNELS = ['messenger', 'instagram', 'whatsapp'] as const;

interface PutPageBody {
  access_token: string;
  channel: (typeof TOKEN_CHANNELS)[number];
  token_kind?: 'page' | 'instagram_login';
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/**
 * Token registry and monitoring routes, registered by the ops plane inside its Basic-auth scope
 * (without a prefix: the routes carry their full paths): GET /ops/token-refresh-status,
 * POST /ops/tokens/check, PUT /ops/pages/:pageId, GET /ops/pages.
 *
 * POST /ops/tokens/check runs the check in this process with its own GraphClient rather than
 * enqueueing a maintenance job and waiting for a worker: an operator replacing tokens during an
 * incident gets an answer even when no worker is running (or all are busy or restarting), and
 * there is no second Redis connection for QueueEvents. The check is idempotent, so one that
 * overlaps the daily run costs only duplicate Graph calls.
 */
export async function tokenRoutes(
  app: FastifyInstance,
  opts: { config: Config; resources: ApiResources },
): Promise<void> {
  const { config, resources } = opts;
  const graph = graphClientFor(config.meta);
  app.addHook('onClose', async () => {
    await graph.close();
  });

  const releaseDeps = {
    pages: resources.pages,
    heldSends: resources.heldSends,
    outbound: resources.outboundQueue,
    maxAttempts: config.worker.sendMaxAttempts,
  };
  const release = (pageId: string) => releaseHeldSends(releaseDeps, pageId);
  const status = () => tokenRefreshStatus({ config, resources });
  const appIdMissing = !config.meta.appId;

  async function describePage(pageId: string) {
    const [rows, held] = await Promise.all([resources.pages.list(), resources.heldSends.counts()]);
    const row = rows.find((p) => p.pageId === pageId);
    return row ? pageView(row, held[row.pageId] ?? 0, appIdMissing) : null;
  }

  app.get('/ops/token-refresh-status', { schema: { response: { 200: refreshStatusSchema } } }, async () => status());

  app.post('/ops/tokens/check', { schema: { response: { 200: refreshStatusSchema } } }, async (request) => {
    const check = await runTokenCheck({
      db: resources.dbh.db,
      pages: resources.pages,
      graph,
      appId: config.meta.appId,
      defaultToken: config.meta.defaultPageToken,
      defaultWhatsAppToken: config.meta.defaultWhatsAppToken,
      releaseHeld: release,
      instagramBaseUrl:
        config.meta.graphBaseUrl === 'https://graph.facebook.com' ? 'https://graph.instagram.com' : undefined,
      logger: request.log,
    });
    await writeAudit(resources.dbh.db, { ...auditContext(request), action: 'tokens.check', details: { ...check } });
    return { ...(await status()), check };
  });

  app.put<{ Params: { pageId: string }; Body: PutPageBody }>(
    '/ops/pages/:pageId',
    {
      schema: {
        params: {
          type: 'object',
          required: ['pageId'],
          // Page, Instagram account and WhatsApp phone number ids are numeric; this also keeps "default" (the pseudo page) out.
          properties: { pageId: { type: 'string', pattern: '^[0-9]{1,64}$' } },
        },
        body: {
          type: 'object',
          required: ['access_token', 'channel'],
          additionalProperties: false,
          properties: {
            access_token: { type: 'string', minLength: 1, maxLength: MAX_TOKEN_LENGTH, pattern: '\\S' },
            channel: { type: 'string', enum: [...TOKEN_CHANNELS] },
            token_kind: { type: 'string', enum: ['page', 'instagram_login'] },
          },
        },
        response: { 200: pageSchema, 201: pageSchema },
      },
      // Fastify's validator coerces scalars (42 → "42"); a token that was not a string is a client error, not a token.
      preValidation: async (request, reply) => {
        const body = request.body as unknown as Record<string, unknown> | null;
        if (body && typeof body === 'object' && 'access_token' in body && typeof body.access_token !== 'string') {
          return reply.code(400).send({ error: 'invalid_request', message: 'body/access_token must be string' });
        }
        // Fastify's own message for an enum does not name the values; an operator needs them.
        if (
          body &&
          typeof body === 'object' &&
          'channel' in body &&
          !TOKEN_CHANNELS.includes(body.channel as PutPageBody['channel'])
        ) {
          return reply
            .code(400)
            .send({ error: 'invalid_request', message: `body/channel must be one of: ${TOKEN_CHANNELS.join(', ')}` });
        }
      },
    },
    async (request, reply) => {
      const { pageId } = request.params;
      const { access_token: token, channel, token_kind: kind = 'page' } = request.body;
      const { replaced, wasInvalid } = await resources.pages.register(pageId, channel, token.trim(), kind);
      // Sends held for the old token go out now; the reply-sent marker stops doubles if a worker releases too.
      const released = await release(pageId);
      await writeAudit(resources.dbh.db, {
        ...auditContext(request),
        action: 'page.token_set',
        target: pageId,
        details: { channel, token_kind: kind, replaced, replaced_invalid: wasInvalid, released_sends: released },
      });
      request.log.info({ pageId, channel, kind, replaced, released, actor: request.opsUser }, 'page token registered');
      const page = await describePage(pageId);
      return reply.code(replaced ? 200 : 201).send(page);
    },
  );

  app.get(
    '/ops/pages',
    {
      schema: { response: { 200: { type: 'object', properties: { pages: { type: 'array', items: pageSchema } } } } },
    },
    async () => {
      const [rows, held] = await Promise.all([resources.pages.list(), resources.heldSends.counts()]);
      return { pages: rows.map((row) => pageView(row, held[row.pageId] ?? 0, appIdMissing)) };
    },
  );
}

type PageRow = Awaited<ReturnType<ApiResources['pages']['list']>>[number];

/** A registered page as GET /ops/pages shows it; its monitoring_status is the one every ops route gives it. */
function pageView(row: PageRow, held: number, appIdMissing: boolean) {
  return {
    page_id: row.pageId,
    channel: row.channel,
    token_kind: row.tokenKind,
    token_status: row.tokenStatus,
    monitoring_status: storedTokenStatus(row, { appIdMissing }).status,
    expires_at: iso(row.expiresAt),
    data_access_expires_at: iso(row.dataAccessExpiresAt),
    never_expires: row.neverExpires,
    scopes: row.scopes,
    last_checked_at: iso(row.lastCheckedAt),
    invalidated_at: iso(row.invalidatedAt),
    invalid_reason: row.invalidReason,
    restricted_at: iso(row.restrictedAt),
    restricted_reason: row.restrictedReason,
    waba_id: row.wabaId,
    token_issued_at: iso(row.tokenIssuedAt),
    updated_at: iso(row.updatedAt),
    held_sends: held,
  };
}
