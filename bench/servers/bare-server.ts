/**
 * Route (a): bare Fastify answering 200 to the same POST — the framework's ceiling on this machine.
 * The body is read as bytes (no JSON parse) so nothing but HTTP handling is measured.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser(['application/json'], { parseAs: 'buffer', bodyLimit: 4 * 1024 * 1024 }, (_req, body, done) =>
  done(null, body),
);
app.post('/webhook', async (_request, reply) =>
  reply.code(200).type('text/plain; charset=utf-8').send('EVENT_RECEIVED'),
);
const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.stdout.write(`listening ${address}\n`);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
