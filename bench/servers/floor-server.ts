/**
 * Route (b): the floor of the real work, written minimally — raw body, HMAC verify (the same
 * verifier the API uses), one BullMQ `add` of the body, 200. No normalising, de-duplication,
 * sealing, counters or logging: what any correct implementation must at least pay.
 */
import { Queue } from 'bullmq';
import Fastify from 'fastify';
import { createSignatureVerifier } from '@switchboard/meta';
import { createProducerConnection } from '@switchboard/queue';

const env = process.env;
const verify = createSignatureVerifier(env.FACEBOOK_APP_SECRET ?? '');
const redis = createProducerConnection(env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const queue = new Queue('floor', { connection: redis, prefix: `{${env.QUEUE_PREFIX}}` });
await queue.waitUntilReady();

const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser(['application/json'], { parseAs: 'buffer', bodyLimit: 4 * 1024 * 1024 }, (_req, body, done) =>
  done(null, body),
);
app.post('/webhook', async (request, reply) => {
  const raw = request.body as Buffer;
  if (!verify(raw, request.headers['x-hub-signature-256'] as string | undefined))
    return reply.code(403).send({ error: 'invalid_signature' });
  await queue.add('event', { body: raw.toString('utf8') });
  return reply.code(200).type('text/plain; charset=utf-8').send('EVENT_RECEIVED');
});
const address = await app.listen({ host: '127.0.0.1', port: Number(env.PORT ?? 0) });
process.stdout.write(`listening ${address}\n`);
process.once(
  'SIGTERM',
  () =>
    void app.close().then(async () => {
      await queue.close();
      redis.disconnect();
      process.exit(0);
    }),
);
