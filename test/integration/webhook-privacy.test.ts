// Fakes nothing: the real API app (Fastify inject) writes real BullMQ jobs to the real Redis; the test reads the raw keys and the captured log lines.
import t from 'tap';
import { type InboundPersonal, inboundJobSchema } from '@switchboard/queue';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { messengerText, signedRequest } from '../helpers/sign.js';

const SENDER = '200000000000777';
const MID = 'm_test-privacy-mid-7';
const TEXT = 'my card number is 4111 1111 1111 1111, Grüße';

/** Every key under the deployment's prefixes with its whole content, as Redis holds it. */
async function dumpRedis(ctx: TestApp): Promise<Array<{ key: string; content: string }>> {
  const { redis } = ctx.resources;
  const out: Array<{ key: string; content: string }> = [];
  for (const pattern of [`${ctx.prefix}*`, `{${ctx.prefix}}*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        let content: unknown;
        if (type === 'string') content = await redis.get(key);
        else if (type === 'hash') content = await redis.hgetall(key);
        else if (type === 'list') content = await redis.lrange(key, 0, -1);
        else if (type === 'set') content = await redis.smembers(key);
        else if (type === 'zset') content = await redis.zrange(key, 0, -1, 'WITHSCORES');
        else if (type === 'stream') content = await redis.xrange(key, '-', '+');
        out.push({ key, content: JSON.stringify(content) });
      }
    } while (cursor !== '0');
  }
  return out;
}

t.test('personal data is sealed in the job; ids and keys are hashes', async (t) => {
  const ctx = await buildTestApp(t, 'wh-priv');
  const req = signedRequest(
    ctx.env.FACEBOOK_APP_SECRET as string,
    messengerText({ pageId: '100000000000001', senderId: SENDER, mid: MID, text: TEXT }),
  );
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/webhook',
    headers: { ...req.headers, 'x-request-id': 'req-privacy-1' },
    payload: req.body,
  });
  t.equal(res.statusCode, 200);
  await ctx.resources.counters.flush();
  await ctx.resources.latency.flush();

  const [job] = await ctx.resources.inboundQueue.getJobs(['waiting']);
  t.ok(job?.id);
  const id = job?.id as string;
  t.match(id, /^[0-9a-f]{32}-[0-9a-z]+$/, 'the job id is a hash (plus a delivery nonce)');
  const raw = await ctx.resources.redis.hgetall(ctx.resources.inboundQueue.forJob(job?.data as object).toKey(id));
  t.ok(raw.data, 'the raw job hash was read');
  const rawText = JSON.stringify(raw);
  for (const secret of [SENDER, MID, TEXT, 'Grüße', 'Gr\\u00fc\\u00dfe', '4111'])
    t.notOk(rawText.includes(secret), `the job hash does not hold ${JSON.stringify(secret)}`);

  const data = inboundJobSchema.parse(JSON.parse(raw.data as string));
  const personal = ctx.resources.sealer.openJson<InboundPersonal>(data.sealed, data.eventId);
  t.equal(personal.senderId, SENDER, 'the sealed envelope opens to the sender (AES-256-GCM, bound to the event id)');
  t.equal(personal.text, TEXT);
  t.throws(
    () => ctx.resources.sealer.openJson(data.sealed, 'f'.repeat(32)),
    'and to nothing when moved to another job',
  );

  const everything = await dumpRedis(ctx);
  t.ok(everything.length >= 3, `${everything.length} keys inspected`);
  for (const { key, content } of everything) {
    for (const secret of [SENDER, MID, 'my card number']) {
      t.notOk(key.includes(secret), `key ${key} holds no raw id or text`);
      t.notOk(content.includes(secret), `value of ${key} holds no raw id or text`);
    }
  }
});

t.test('logs carry the request id and hashed ids only, and redact secrets', async (t) => {
  const ctx = await buildTestApp(t, 'wh-priv');
  const token = ctx.env.FACEBOOK_VERIFY_TOKEN as string;
  const req = signedRequest(
    ctx.env.FACEBOOK_APP_SECRET as string,
    messengerText({ pageId: '100000000000001', senderId: SENDER, mid: MID, text: TEXT }),
  );
  const signature = req.headers['x-hub-signature-256'];
  const posted = await ctx.app.inject({
    method: 'POST',
    url: '/webhook',
    headers: { ...req.headers, 'x-request-id': 'req-privacy-2', authorization: 'Bearer should-not-appear' },
    payload: req.body,
  });
  t.equal(posted.statusCode, 200);
  const tampered = await ctx.app.inject({
    method: 'POST',
    url: '/webhook',
    headers: { ...req.headers, 'x-request-id': 'req-privacy-3' },
    payload: req.body.replace('card', 'cord'),
  });
  t.equal(tampered.statusCode, 403);
  const hs = await ctx.app.inject({
    method: 'GET',
    url: `/webhook?hub.mode=subscribe&hub.verify_token=${token}&hub.challenge=42`,
    headers: { 'x-request-id': 'req-privacy-4' },
  });
  t.equal(hs.body, '42');
  const bad = await ctx.app.inject({
    method: 'GET',
    url: `/webhook?hub.mode=subscribe&hub.verify_token=${token}-guess&hub.challenge=42`,
    headers: { 'x-request-id': 'req-privacy-5' },
  });
  t.equal(bad.statusCode, 403);

  const all = ctx.logs.join('\n');
  t.ok(ctx.logs.length >= 5, `${ctx.logs.length} log lines captured`);
  for (const secret of [
    SENDER,
    MID,
    TEXT,
    'my card',
    'cord number',
    signature,
    signature.slice(7),
    token,
    'should-not-appear',
    ctx.env.FACEBOOK_APP_SECRET as string,
  ]) {
    t.notOk(all.includes(secret), `no log line holds ${secret.slice(0, 24)}…`);
  }
  for (const id of ['req-privacy-2', 'req-privacy-3', 'req-privacy-4', 'req-privacy-5']) {
    const lines = ctx.logs.filter((l) => l.includes(id));
    t.ok(lines.length >= 1, `${id}: the request's log line carries its id`);
    for (const line of lines) t.equal(JSON.parse(line).reqId, id, 'reqId is a field of every line of that request');
  }
  t.ok(ctx.logs.some((l) => JSON.parse(l).reqId === 'req-privacy-2' && l.includes('webhook accepted')));
  for (const line of ctx.logs) {
    const entry = JSON.parse(line);
    if (entry.msg === 'request completed') t.ok(entry.reqId, 'every completed request is logged with its id');
  }
});
