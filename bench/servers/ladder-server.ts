/**
 * The ladder's middle rungs (BENCH_ONLY=ladder): the floor (b) with the real API's work added a
 * piece at a time, to show where (c)'s extra cost per request goes.
 *
 * - `LADDER_RUNG=ingest`: the floor's raw body and HMAC verify, then the real ingest of
 *   apps/api (parse, normalise, event-id HMAC, de-duplication, sender and `mid` HMACs, sealing,
 *   counters, the ack latency sample, one BullMQ `add` of the real job) — no logger;
 * - `LADDER_RUNG=log`: the same with the real logger (pino at `info`, redaction, asynchronous
 *   writes to stdout, a request id and a child logger per request) and the API's one line per
 *   accepted webhook.
 *
 * What (c) adds above the top rung is the rest of the real app: the HTTPS check behind a trusted
 * proxy, the security headers and request id header, the onResponse hook, the rate-limit plugin
 * (webhooks opt out), the error handler.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { loadConfigOrExit } from '@switchboard/config';
import { createSignatureVerifier } from '@switchboard/meta';
import { createLogger } from '@switchboard/observability';
import { createApiResources } from '../../apps/api/src/resources.js';
import { createEventIngestor } from '../../apps/api/src/routes/webhook/ingest.js';

const rung = process.env.LADDER_RUNG;
if (rung !== 'ingest' && rung !== 'log') throw new Error('LADDER_RUNG must be ingest or log');
const config = loadConfigOrExit();
const resources = createApiResources(config);
await resources.inboundQueue.waitUntilReady();
const verify = createSignatureVerifier(config.meta.appSecret);
const ingest = createEventIngestor(config, resources);
const logger = createLogger({ level: rung === 'log' ? 'info' : 'silent', service: 'api' }) as FastifyBaseLogger;

const app =
  rung === 'log'
    ? Fastify({
        loggerInstance: logger,
        genReqId: () => randomUUID(),
        requestIdLogLabel: 'reqId',
        disableRequestLogging: true,
      })
    : Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser(
  ['application/json'],
  { parseAs: 'buffer', bodyLimit: config.http.bodyLimit },
  (_req, body, done) => done(null, body),
);
app.post('/webhook', async (request, reply) => {
  const raw = request.body as Buffer;
  if (!verify(raw, request.headers['x-hub-signature-256'] as string | undefined))
    return reply.code(403).send({ error: 'invalid_signature' });
  const log = rung === 'log' ? request.log : logger;
  const outcome = await ingest(raw, log);
  if (outcome.kind !== 'accepted')
    return reply.code(outcome.kind === 'invalid' ? 400 : 503).send({ error: outcome.kind });
  if (rung === 'log')
    log.info(
      { events: outcome.events, enqueued: outcome.enqueued, duplicates: outcome.duplicates, status: 200 },
      'webhook accepted',
    );
  return reply.code(200).type('text/plain; charset=utf-8').send('EVENT_RECEIVED');
});
const address = await app.listen({ host: '127.0.0.1', port: config.port });
process.stdout.write(`listening ${address}\n`);
process.once(
  'SIGTERM',
  () =>
    void app.close().then(async () => {
      await resources.close();
      process.exit(0);
    }),
);
