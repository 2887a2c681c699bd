// Fakes nothing: fast-check throws generated requests at the real API app (Fastify inject) on the real Redis and PostgreSQL; runs are bounded (200 per property) to stay fast.
import fc from 'fast-check';
import t from 'tap';
import { signPayload } from '@switchboard/meta';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { metaJson, signedRequest } from '../helpers/sign.js';

const RUNS = 200;

async function inboundTotal(ctx: TestApp): Promise<number> {
  const counts = await ctx.resources.inboundQueue.getJobCounts();
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

t.test(
  'generated bad input: a clear 4xx (or 200 for a valid envelope), never 5xx, nothing enqueued on refusal',
  async (t) => {
    const ctx = await buildTestApp(t, 'wh-fuzz', { WEBHOOK_BODY_LIMIT_BYTES: String(256 * 1024) });
    const secret = ctx.env.FACEBOOK_APP_SECRET as string;
    const send = (body: string | Buffer, headers: Record<string, string>) =>
      ctx.app.inject({ method: 'POST', url: '/webhook', headers, payload: body });
    const signedSend = (body: string | Buffer) =>
      send(body, { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(secret, body) });

    /** Sends, asserts the status is allowed and, for a refusal, that the queue did not grow. */
    const check = async (what: string, allowed: number[], go: () => ReturnType<typeof send>) => {
      const before = await inboundTotal(ctx);
      const res = await go();
      if (!allowed.includes(res.statusCode))
        throw new Error(`${what}: status ${res.statusCode} not in ${allowed} (${res.body.slice(0, 200)})`);
      if (res.statusCode !== 200 && (await inboundTotal(ctx)) !== before)
        throw new Error(`${what}: a refusal (${res.statusCode}) enqueued something`);
      return res;
    };

    await t.test('validly signed arbitrary bytes and JSON values → 200 or 400', async (t) => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a)),
            fc.string({ unit: 'binary', maxLength: 256 }),
            fc.json({ maxDepth: 6 }),
          ),
          async (body) => {
            await check('signed junk', [200, 400], () => signedSend(body));
          },
        ),
        { numRuns: RUNS },
      );
      t.pass('no 5xx');
    });

    await t.test('validly signed envelopes of any item shape → 200 (odd items are skipped and counted)', async (t) => {
      const object = fc.constantFrom(
        'page',
        'instagram',
        'whatsapp_business_account',
        'user',
        'permissions',
        '',
        'ünïcode',
      );
      const weirdItem = fc.oneof(
        fc.jsonValue({ maxDepth: 4 }),
        fc.record(
          {
            sender: fc.oneof(
              fc.record({ id: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.double()) }),
              fc.jsonValue({ maxDepth: 2 }),
            ),
            recipient: fc.record({ id: fc.string() }),
            timestamp: fc.oneof(fc.integer(), fc.string(), fc.double(), fc.constant(null)),
            message: fc.oneof(
              fc.record(
                {
                  mid: fc.oneof(fc.string(), fc.integer()),
                  text: fc.oneof(
                    fc.string({ unit: 'grapheme', maxLength: 200 }),
                    fc.integer(),
                    fc.jsonValue({ maxDepth: 2 }),
                  ),
                },
                { requiredKeys: [] },
              ),
              fc.jsonValue({ maxDepth: 3 }),
            ),
          },
          { requiredKeys: [] },
        ),
      );
      const entry = fc.record(
        {
          id: fc.oneof(fc.stringMatching(/^\d{1,20}$/), fc.integer(), fc.jsonValue({ maxDepth: 1 })),
          time: fc.oneof(fc.integer(), fc.string()),
          messaging: fc.oneof(fc.array(weirdItem, { maxLength: 6 }), fc.jsonValue({ maxDepth: 2 })),
          standby: fc.array(weirdItem, { maxLength: 3 }),
          changes: fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 3 }),
        },
        { requiredKeys: [] },
      );
      await fc.assert(
        fc.asyncProperty(
          object,
          fc.array(fc.oneof(entry, fc.jsonValue({ maxDepth: 2 })), { maxLength: 5 }),
          async (obj, entries) => {
            await check('weird envelope', [200], () => signedSend(metaJson({ object: obj, entry: entries })));
          },
        ),
        { numRuns: RUNS },
      );
      t.pass('all acknowledged');
    });

    await t.test("unicode-heavy valid messages are verified over Meta's escaped bytes and stored", async (t) => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.string({ unit: 'grapheme', minLength: 1, maxLength: 300 }),
          fc.constantFrom('page', 'instagram'),
          async (text, object) => {
            const before = await inboundTotal(ctx);
            const mid = `m_test-fuzz-${++n}`;
            const body = {
              object,
              entry: [
                {
                  id: '100000000000001',
                  time: 1,
                  messaging: [
                    {
                      sender: { id: '200000000000001' },
                      recipient: { id: '100000000000001' },
                      timestamp: n,
                      message: { mid, text },
                    },
                  ],
                },
              ],
            };
            const req = signedRequest(secret, body);
            const res = await send(req.body, req.headers);
            if (res.statusCode !== 200) throw new Error(`unicode text refused: ${res.statusCode}`);
            if ((await inboundTotal(ctx)) !== before + 1) throw new Error('unicode message not enqueued');
          },
        ),
        { numRuns: RUNS },
      );
      t.pass('all stored');
    });

    await t.test('tampered, unsigned or wrongly signed → 403, nothing enqueued', async (t) => {
      const valid = metaJson({
        object: 'page',
        entry: [
          {
            id: '100000000000001',
            time: 1,
            messaging: [
              {
                sender: { id: '2' },
                recipient: { id: '1' },
                timestamp: 1,
                message: { mid: 'm_test-tamper', text: 'Grüße 😊' },
              },
            ],
          },
        ],
      });
      const signature = signPayload(secret, valid);
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            // one byte of the body changed
            fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => ({
              body: Buffer.from(Buffer.from(valid).map((b, j) => (j === i ? b ^ x : b))),
              header: signature,
            })),
            // one character of the header changed
            fc
              .tuple(
                fc.nat({ max: signature.length - 1 }),
                fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }),
              )
              .filter(([i, c]) => signature[i] !== c && !(i >= 7 && signature[i]?.toLowerCase() === c.toLowerCase()))
              .map(([i, c]) => ({
                body: Buffer.from(valid),
                header: signature.slice(0, i) + c + signature.slice(i + 1),
              })),
            // any header at all
            fc.string({ unit: 'grapheme-ascii', maxLength: 90 }).map((h) => ({ body: Buffer.from(valid), header: h })),
            fc.stringMatching(/^sha256=[0-9a-fA-F]{0,70}$/).map((h) => ({ body: Buffer.from(valid), header: h })),
          ),
          async ({ body, header }) => {
            const headers: Record<string, string> = { 'content-type': 'application/json' };
            if (header !== '') headers['x-hub-signature-256'] = header;
            await check(`tampered (${header})`, [403], () => send(body, headers));
          },
        ),
        { numRuns: RUNS },
      );
      t.pass('all refused');
    });

    await t.test('wrong content types → 415; oversized → 413', async (t) => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(
            'text/plain',
            'text/html',
            'application/xml',
            'application/octet-stream',
            'application/x-www-form-urlencoded',
            'application/jsonp',
            'application/json5',
            'json',
            'image/png',
          ),
          async (type) => {
            const req = signedRequest(secret, { object: 'page', entry: [] });
            await check(type, [415], () => send(req.body, { ...req.headers, 'content-type': type }));
          },
        ),
        { numRuns: 30 },
      );
      const big = signedRequest(secret, { object: 'page', entry: [{ id: '1', pad: 'ü'.repeat(200 * 1024) }] });
      await check('oversized', [413], () => send(big.body, big.headers));
      t.pass();
    });

    await t.test('deep nesting and truncation', async (t) => {
      const deepArray = '['.repeat(100_000) + ']'.repeat(100_000);
      await check('deep array', [400], () => signedSend(deepArray));
      const deepUnclosed = '{"a":'.repeat(50_000);
      await check('deep unclosed object', [400], () => signedSend(deepUnclosed));
      // Built as text: JSON.stringify itself would overflow the stack at this depth.
      const nested = `${'{"n":'.repeat(15_000)}"bottom"${'}'.repeat(15_000)}`;
      const deepItem = `{"object":"page","entry":[{"id":"1","time":1,"messaging":[${nested},{"sender":{"id":"2"},"message":${nested}}]}]}`;
      await check('deeply nested item in a valid envelope', [200], () => signedSend(deepItem));
      const whole = metaJson({
        object: 'page',
        entry: [
          {
            id: '100000000000001',
            time: 1,
            messaging: [
              {
                sender: { id: '2' },
                recipient: { id: '1' },
                timestamp: 1,
                message: { mid: 'm_test-trunc', text: 'x' },
              },
            ],
          },
        ],
      });
      for (let cut = 1; cut < whole.length; cut += 7)
        await check(`truncated at ${cut}`, [400], () => signedSend(whole.slice(0, cut)));
      // Signed over the whole body, sent truncated: the signature fails first.
      await check('truncated after signing', [403], () =>
        send(whole.slice(0, 40), {
          'content-type': 'application/json',
          'x-hub-signature-256': signPayload(secret, whole),
        }),
      );
      t.pass();
    });

    await t.test('lone surrogates in fields that name an event are stored, and cost no neighbour', async (t) => {
      // Valid JSON ("\ud800" escapes), signed: it once failed the whole batch with 500 while the
      // event's de-duplication key was built, so Meta would have retried it for 36 hours in vain.
      const item = (extra: Record<string, unknown>) => ({
        sender: { id: '200000000000001' },
        recipient: { id: '100000000000001' },
        timestamp: 1_700_000_000_000,
        ...extra,
      });
      const messaging = [
        item({ message: { mid: 'm_test-surrogate-a', text: 'a' } }),
        item({ postback: { title: 'Go', payload: 'GO\ud800' } }),
        item({ referral: { ref: 'promo\udc00', source: 'SHORTLINK', type: 'OPEN_THREAD' } }),
        item({ reaction: { mid: 'm_test-surrogate-a', action: 'react', emoji: '\ud83d' } }),
        item({ message: { mid: 'm_test-surrogate-b', text: 'b' } }),
      ];
      const body = metaJson({ object: 'page', entry: [{ id: '100000000000001', time: 1, messaging }] });
      t.match(body, /\\ud800/, 'the lone surrogate travels escaped, as JSON allows');
      const before = await inboundTotal(ctx);
      const res = await signedSend(body);
      t.equal(res.statusCode, 200);
      t.equal((await inboundTotal(ctx)) - before, 5, 'all five events are stored');
      t.equal((await signedSend(body)).statusCode, 200, 'the redelivery too');
      t.equal((await inboundTotal(ctx)) - before, 5, 'and is recognised as a duplicate: the keys are stable');
    });

    await t.test(
      'no content type and an empty body → 415 (content type before signature), not a signature failure',
      async (t) => {
        const signatureFailures = () => ctx.logs.filter((l) => l.includes('webhook signature invalid')).length;
        const before = signatureFailures();
        const res = await check('empty, no content type', [415], () =>
          send('', { 'x-hub-signature-256': signPayload(secret, '') }),
        );
        t.same(res.json(), { error: 'unsupported_media_type' });
        t.equal(signatureFailures(), before, 'not treated as a signature failure');
      },
    );

    const health = await ctx.app.inject('/health');
    t.equal(health.statusCode, 200, 'the process is still healthy');
    t.not(health.json().status, 'down');
    t.notOk(
      ctx.logs.some((l) => JSON.parse(l).level >= 50),
      'no error was logged',
    );
  },
);
