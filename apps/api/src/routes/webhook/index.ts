import type { FastifyInstance } from 'fastify';
import type { Config } from '@switchboard/config';
import { createSignatureVerifier } from '@switchboard/meta';
import { safeEqual } from '@switchboard/privacy';
import type { ApiResources } from '../../resources.js';
import { createEventIngestor, MAX_ITEMS_PER_DELIVERY } from './ingest.js';
import { httpsCheck } from './require-https.js';

export const WEBHOOK_PATHS = ['/webhook', '/webhook/messenger', '/webhook/instagram', '/webhook/whatsapp'] as const;

/** How long start-up waits for the producer Redis connection (its connectTimeout is 2 s). */
const REDIS_READY_WAIT_MS = 3000;

/**
 * The webhook scope, encapsulated so its raw-body parser and HTTPS check touch nothing else.
 * Order of refusals (docs/api.md, POST /webhook): HTTPS → body size / content type → signature →
 * payload → event count → storage.
 */
export async function webhookRoutes(
  app: FastifyInstance,
  opts: { config: Config; resources: ApiResources },
): Promise<void> {
  const { config, resources } = opts;
  const verifySignature = createSignatureVerifier(config.meta.appSecret);
  const ingest = createEventIngestor(config, resources);

  // Raw bytes, not parsed JSON: the signature covers the exact bytes Meta sent, which re-serialising
  // would change for non-ASCII text (\u00e4 vs ä) and escaped slashes. Anything not JSON → 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    ['application/json'],
    { parseAs: 'buffer', bodyLimit: config.http.bodyLimit },
    (_req, body, done) => {
      done(null, body);
    },
  );

  // The producer connection has no offline queue, so a command sent before it is ready fails: the
  // first webhooks after a start would get 503. Wait for it before listening — until it is ready,
  // its first attempt fails, or a bound passes: with Redis down at boot the API still starts,
  // answers webhooks 503 and reports `down` on /health.
  app.addHook('onReady', async () => {
    const { redis } = resources;
    if (redis.status === 'ready') return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        redis.off('ready', done);
        redis.off('error', done);
        resolve();
      };
      const timer = setTimeout(done, REDIS_READY_WAIT_MS);
      redis.once('ready', done);
      redis.once('error', done);
    });
  });

  const requireHttps = httpsCheck(config, resources);

  for (const path of WEBHOOK_PATHS) {
    app.get(
      path,
      {
        config: { rateLimit: false, machineFacing: true },
        // The handshake answers anything but a valid one with 403, a malformed query included
        // (a repeated parameter arrives as an array and fails the schema): no 400 here.
        attachValidation: true,
        schema: {
          querystring: {
            type: 'object',
            properties: {
              'hub.mode': { type: 'string' },
              'hub.verify_token': { type: 'string' },
              'hub.challenge': { type: 'string' },
            },
          },
        },
      },
      async (request, reply) => {
        const q = request.query as Record<string, string | undefined>;
        const token = q['hub.verify_token'];
        const challenge = q['hub.challenge'];
        if (
          !request.validationError &&
          q['hub.mode'] === 'subscribe' &&
          token !== undefined &&
          challenge !== undefined &&
          safeEqual(token, config.meta.verifyToken)
        ) {
          request.log.info('webhook verification handshake accepted');
          return reply.code(200).type('text/plain; charset=utf-8').send(challenge);
        }
        request.log.warn('webhook verification handshake refused');
        return reply.code(403).send({ error: 'forbidden' });
      },
    );

    // `quietLog`: the line below replaces the generic per-request line (one log line per webhook).
    app.post(
      path,
      { onRequest: requireHttps, config: { rateLimit: false, quietLog: true, machineFacing: true } },
      async (request, reply) => {
        const raw = request.body;
        // No body parsed means no JSON content type (Fastify skips the parsers for an empty body
        // without one): a 415 like any other content type, before the signature (docs/api.md).
        if (!Buffer.isBuffer(raw)) {
          resources.counters.count('webhooks_rejected', { reason: 'unsupported_media_type' });
          return reply.code(415).send({ error: 'unsupported_media_type' });
        }
        if (!verifySignature(raw, request.headers['x-hub-signature-256'] as string | undefined)) {
          resources.counters.incr('webhook_signature_failures');
          resources.counters.count('webhooks_rejected', { reason: 'invalid_signature' });
          request.log.warn('webhook signature invalid');
          return reply.code(403).send({ error: 'invalid_signature' });
        }
        const outcome = await ingest(raw, request.log);
        if (outcome.kind === 'invalid') {
          resources.counters.count('webhooks_rejected', { reason: 'invalid_payload' });
          return reply.code(400).send({ error: 'invalid_payload' });
        }
        if (outcome.kind === 'too_many') {
          resources.counters.count('webhooks_rejected', { reason: 'too_many_events' });
          request.log.warn({ items: outcome.items, limit: MAX_ITEMS_PER_DELIVERY }, 'webhook refused: too many events');
          return reply.code(413).send({
            error: 'too_many_events',
            message: `at most ${MAX_ITEMS_PER_DELIVERY} events per delivery`,
            limit: MAX_ITEMS_PER_DELIVERY,
          });
        }
        if (outcome.kind === 'unavailable') {
          resources.counters.count('webhooks_rejected', { reason: 'storage_unavailable' });
          return reply
            .code(503)
            .header('retry-after', '5')
            .send({ error: 'unavailable', message: 'events could not be stored; retry later' });
        }
        const { events, enqueued, duplicates, refused, truncated } = outcome;
        request.log.info(
          {
            events,
            enqueued,
            duplicates,
            ...(Object.keys(refused).length > 0 ? { refused } : {}),
            ...(truncated > 0 ? { truncated } : {}),
            status: 200,
          },
          'webhook accepted',
        );
        return reply.code(200).type('text/plain; charset=utf-8').send('EVENT_RECEIVED');
      },
    );
  }
}
