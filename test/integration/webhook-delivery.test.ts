// Fakes nothing: the real API app (Fastify inject) on the real PostgreSQL and Redis; Meta is played by signed requests built the way Meta serialises them.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { signPayload } from '@switchboard/meta';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { batch, messengerText, metaJson, signedRequest } from '../helpers/sign.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

async function inboundTotal(ctx: TestApp): Promise<number> {
  const counts = await ctx.resources.inboundQueue.getJobCounts();
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

async function counter(ctx: TestApp, field: string): Promise<number> {
  await ctx.resources.counters.flush();
  return (await ctx.resources.counters.read())[field] ?? 0;
}

let seq = 0;
const text = (over: Partial<{ pageId: string; senderId: string; mid: string; text: string }> = {}) =>
  messengerText({
    pageId: '100000000000001',
    senderId: '200000000000001',
    mid: `m_test-delivery-${++seq}`,
    text: 'hello',
    ...over,
  });

t.test('POST refusals, in the contract order; none enqueues anything', async (t) => {
  const ctx = await buildTestApp(t, 'wh-deliv', {
    REQUIRE_HTTPS: 'true',
    TRUST_PROXY: 'loopback',
    WEBHOOK_BODY_LIMIT_BYTES: '65536',
  });
  const secret = ctx.env.FACEBOOK_APP_SECRET as string;
  const good = signedRequest(secret, text());
  const https = { 'x-forwarded-proto': 'https' };

  t.test('1. HTTPS: X-Forwarded-Proto is believed only from a trusted proxy', async (t) => {
    const plain = await ctx.app.inject({ method: 'POST', url: '/webhook', headers: good.headers, payload: good.body });
    t.equal(plain.statusCode, 403);
    t.same(plain.json(), { error: 'https_required', message: 'HTTPS required' });

    const untrusted = await ctx.app.inject({
      method: 'POST',
      url: '/webhook',
      remoteAddress: '203.0.113.9',
      headers: { ...good.headers, ...https },
      payload: good.body,
    });
    t.equal(untrusted.statusCode, 403, 'a forged X-Forwarded-Proto from the internet is ignored');
    t.equal(untrusted.json().error, 'https_required');

    // HTTPS refusal comes before everything else: even an oversized, wrongly typed, unsigned body gets 403 https_required.
    const first = await ctx.app.inject({
      method: 'POST',
      url: '/webhook',
      headers: { 'content-type': 'text/plain' },
      payload: 'x'.repeat(70_000),
    });
    t.equal(first.statusCode, 403);
    t.equal(first.json().error, 'https_required');
    t.equal(await inboundTotal(ctx), 0);

    const trusted = await ctx.app.inject({
      method: 'POST',
      url: '/webhook',
      remoteAddress: '127.0.0.1',
      headers: { ...good.headers, ...https },
      payload: good.body,
    });
    t.equal(trusted.statusCode, 200, 'the loopback proxy is trusted (TRUST_PROXY=loopback)');
    t.equal(trusted.body, 'EVENT_RECEIVED');
    const upper = await ctx.app.inject({
      method: 'POST',
      url: '/webhook',
      headers: { ...good.headers, 'x-forwarded-proto': 'HTTPS' },
      payload: signedRequest(secret, text()).body,
    });
    t.not(upper.json?.().error, 'https_required', 'the scheme is case-insensitive (RFC 3986 §3.1)');
    t.equal(await inboundTotal(ctx), 1, 'only the accepted request enqueued');
    await ctx.resources.inboundQueue.obliterate({ force: true });
  });

  t.test('2. body over the limit → 413; content type other than JSON → 415', async (t) => {
    const big = signedRequest(secret, {
      object: 'page',
      entry: [{ id: '1', time: 1, messaging: [], pad: 'x'.repeat(70_000) }],
    });
    const tooLarge = await ctx.app.inject({
      method: 'POST',
      url: '/webhook',
      headers: { ...big.headers, ...https },
      payload: big.body,
    });
    t.equal(tooLarge.statusCode, 413);
    const chunked = await ctx.app.inject({
      method: 'POST',
      url: '/webhook',
      headers: {
        ...https,
        'content-type': 'application/json',
        'transfer-encoding': 'chunked',
        'x-hub-signature-256': big.headers['x-hub-signature-256'],
      },
      payload: big.body,
    });
    t.equal(chunked.statusCode, 413, 'also without a Content-Length');
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json-patch+json',
      'application/jsonx',
      'text/json',
    ]) {
      const res = await ctx.app.inject({
        method: 'POST',
        url: '/webhook',
        headers: { ...good.headers, ...https, 'content-type': type },
        payload: good.body,
      });
      t.equal(res.statusCode, 415, type);
    }
    const noType = await ctx.app.inject({
      method: 'POST',
      url: '/webhook',
      headers: { ...https, 'x-hub-signature-256': good.headers['x-hub-signature-256'] },
      payload: good.body,
    });
    t.equal(noType.statusCode, 415, 'no content type at all');
    for (const type of ['application/json; charset=utf-8', 'Application/JSON', 'application/json;charset=UTF-8']) {
      const req = signedRequest(secret, text());
      const res = await ctx.app.inject({
        method: 'POST',
        url: '/webhook',
        headers: { ...req.headers, ...https, 'content-type': type },
        payload: req.body,
      });
      t.equal(res.statusCode, 200, `${type} is JSON`);
    }
    t.equal(await counter(ctx, 'webhooks_rejected{reason="payload_too_large"}'), 2);
    t.equal(await counter(ctx, 'webhooks_rejected{reason="unsupported_media_type"}'), 7);
    t.equal(await inboundTotal(ctx), 3, 'only the three JSON requests enqueued');
    await ctx.resources.inboundQueue.obliterate({ force: true });
  });

  t.test('3. signature: missing, malformed or wrong → 403 invalid_signature, counted, never 500', async (t) => {
    const before = await counter(ctx, 'webhook_signature_failures');
    const sig = good.headers['x-hub-signature-256'];
    const hex = sig.slice('sha256='.length);
    const bad: Array<[string, string | string[] | undefined]> = [
      ['missing', undefined],
      ['empty', ''],
      ['prefix only', 'sha256='],
      ['SHA-1 form', `sha1=${hex.slice(0, 40)}`],
      ['upper-case prefix', `SHA256=${hex}`],
      ['no prefix', hex],
      ['short', sig.slice(0, -2)],
      ['long', `${sig}00`],
      ['non-hex', `sha256=${'z'.repeat(64)}`],
      ['whitespace', ` ${sig}`],
      ['trailing space', `${sig} `],
      ['two values', `${sig}, ${sig}`],
      ['repeated header', [sig, sig]],
      ['unicode', `sha256=${'é'.repeat(64)}`],
      ['other secret', signPayload('not-the-secret', good.body)],
      ['other body', signPayload(secret, `${good.body} `)],
      ['one digit off', `sha256=${hex.slice(0, -1)}${hex.endsWith('0') ? '1' : '0'}`],
    ];
    for (const [what, value] of bad) {
      const headers: Record<string, string | string[]> = { 'content-type': 'application/json', ...https };
      if (value !== undefined) headers['x-hub-signature-256'] = value;
      const res = await ctx.app.inject({ method: 'POST', url: '/webhook', headers, payload: good.body });
      t.equal(res.statusCode, 403, what);
      t.same(res.json(), { error: 'invalid_signature' }, what);
    }
    const tampered = await ctx.app.inject({
      method: 'POST',
      url: '/webhook',
      headers: { ...good.headers, ...https },
      payload: good.body.replace('hello', 'hellO'),
    });
    t.equal(tampered.statusCode, 403, 'a body changed after signing');
    t.equal(await counter(ctx, 'webhook_signature_failures'), before + bad.length + 1);
    t.equal(await inboundTotal(ctx), 0);
  });

  t.test('3b. the signature covers the raw bytes Meta sends (non-ASCII as \\uXXXX, / as \\/)', async (t) => {
    const body = fixture('messenger-non-ascii.json');
    t.equal(Buffer.byteLength(body), body.length, "the fixture is pure ASCII, like Meta's bodies");
    const ok = await ctx.app.inject({
      method: 'POST',
      url: '/webhook/messenger',
      headers: { ...signedRequest(secret, body).headers, ...https },
      payload: body,
    });
    t.equal(ok.statusCode, 200);
    t.equal(await inboundTotal(ctx), 3, 'three non-ASCII messages enqueued');

    // What a verifier over re-serialised JSON would check: other bytes, so it must fail.
    const reserialised = JSON.stringify(JSON.parse(body));
    t.not(reserialised, body);
    const wrong = await ctx.app.inject({
      method: 'POST',
      url: '/webhook',
      headers: {
        'content-type': 'application/json',
        ...https,
        'x-hub-signature-256': signPayload(secret, reserialised),
      },
      payload: body,
    });
    t.equal(wrong.statusCode, 403, "a signature over re-serialised JSON does not verify Meta's bytes");

    // Raw UTF-8 bodies are verified over their bytes as well.
    const utf8 = JSON.stringify(text({ text: 'Grüße 😊 مرحبا' }));
    const res = await ctx.app.inject({
      method: 'POST',
      url: '/webhook',
      headers: { ...signedRequest(secret, utf8).headers, ...https },
      payload: utf8,
    });
    t.equal(res.statusCode, 200);
    const escaped = metaJson(text({ text: 'Grüße 😊 مرحبا' }));
    const mixed = await ctx.app.inject({
      method: 'POST',
      url: '/webhook',
      headers: { 'content-type': 'application/json', ...https, 'x-hub-signature-256': signPayload(secret, escaped) },
      payload: utf8,
    });
    t.equal(mixed.statusCode, 403, 'the \\u-escaped and the raw UTF-8 forms are different bytes');
    await ctx.resources.inboundQueue.obliterate({ force: true });
  });

  t.test('4. signed but invalid → 400 invalid_payload', async (t) => {
    for (const body of [
      '',
      'not json',
      '{"object":"page"',
      '[]',
      'null',
      '42',
      '"page"',
      '{}',
      '{"object":"page"}',
      '{"entry":[]}',
      '{"object":1,"entry":[]}',
      '{"object":"page","entry":{}}',
      '\ufeff{"object":"page","entry":[]}',
    ]) {
      const req = signedRequest(secret, body);
      const res = await ctx.app.inject({
        method: 'POST',
        url: '/webhook',
        headers: { ...req.headers, ...https },
        payload: body,
      });
      t.equal(res.statusCode, 400, JSON.stringify(body));
      t.same(res.json(), { error: 'invalid_payload' });
    }
    t.equal(await inboundTotal(ctx), 0);
  });
});

t.test(
  'fan-out: one job per messaging[]/standby[] item; unknown objects and kinds acknowledged, counted, not processed',
  async (t) => {
    const ctx = await buildTestApp(t, 'wh-fanout');
    const secret = ctx.env.FACEBOOK_APP_SECRET as string;
    const post = async (payload: unknown, url = '/webhook') => {
      const req = signedRequest(secret, payload);
      return ctx.app.inject({ method: 'POST', url, headers: req.headers, payload: req.body });
    };

    const two = JSON.parse(fixture('batch-two-pages.json'));
    const expected = two.entry.reduce((n: number, e: { messaging?: unknown[] }) => n + (e.messaging?.length ?? 0), 0);
    const res = await post(two);
    t.equal(res.statusCode, 200);
    t.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
    t.equal(res.body, 'EVENT_RECEIVED');
    const jobs = await ctx.resources.inboundQueue.getJobs(['waiting']);
    t.equal(jobs.length, expected, 'every item of every entry is a job');
    t.same(new Set(jobs.map((j) => j.data.pageId)), new Set(two.entry.map((e: { id: string }) => e.id)), 'both Pages');

    const standby = await post(JSON.parse(fixture('messenger-standby.json')), '/webhook/messenger');
    t.equal(standby.statusCode, 200);
    const all = await ctx.resources.inboundQueue.getJobs(['waiting']);
    t.equal(all.length, expected + 1);
    t.ok(
      all.some((j) => j.data.standby === true),
      'standby items become jobs marked standby',
    );

    const ig = await post(JSON.parse(fixture('instagram-text.json')), '/webhook/instagram');
    t.equal(ig.statusCode, 200);
    t.equal(await inboundTotal(ctx), expected + 2);

    const unknown = await post({
      object: 'user',
      entry: [{ id: '1', time: 1, changes: [{ field: 'feed', value: {} }] }],
    });
    t.equal(unknown.statusCode, 200, 'an unknown object is acknowledged');
    t.equal(unknown.body, 'EVENT_RECEIVED');
    const oddKinds = await post({
      object: 'page',
      entry: [
        {
          id: '100000000000001',
          time: 1,
          messaging: [
            { sender: { id: '2' }, recipient: { id: '1' }, timestamp: 1, brand_new_kind: {} },
            'nonsense',
            42,
          ],
        },
        'not an entry',
      ],
    });
    t.equal(oddKinds.statusCode, 200, 'unknown event kinds are acknowledged');
    t.equal(await inboundTotal(ctx), expected + 2, 'neither is processed');
    t.equal(await counter(ctx, 'webhooks_unknown_object'), 1);
    t.ok((await counter(ctx, 'webhook_items_skipped')) >= 4, 'the unknown items are counted');

    const big = batch(
      'page',
      Array.from({ length: 20 }, (_, e) => ({
        id: `1000000000001${String(e).padStart(2, '0')}`,
        time: 5,
        messaging: Array.from({ length: 50 }, (_, i) => ({
          sender: { id: `3${i}` },
          recipient: { id: '1' },
          timestamp: 5,
          message: { mid: `m_test-fan-${e}-${i}`, text: 'x' },
        })),
      })),
    );
    t.equal((await post(big)).statusCode, 200);
    t.equal(await inboundTotal(ctx), expected + 2 + 1000, 'a batch of 1000 items is 1000 jobs');
  },
);

t.test('a delivery with several events of one conversation links each to its predecessors', async (t) => {
  const ctx = await buildTestApp(t, 'wh-prev');
  const secret = ctx.env.FACEBOOK_APP_SECRET as string;
  const page = '100000000000077';
  // Out of timestamp order on purpose, with a second user in between.
  const messaging = [
    { sender: { id: '41' }, recipient: { id: page }, timestamp: 30, message: { mid: 'm_prev_c', text: 'c' } },
    { sender: { id: '41' }, recipient: { id: page }, timestamp: 10, message: { mid: 'm_prev_a', text: 'a' } },
    { sender: { id: '42' }, recipient: { id: page }, timestamp: 15, message: { mid: 'm_prev_x', text: 'x' } },
    { sender: { id: '41' }, recipient: { id: page }, timestamp: 20, message: { mid: 'm_prev_b', text: 'b' } },
  ];
  const req = signedRequest(secret, batch('page', [{ id: page, time: 40, messaging }]));
  t.equal(
    (await ctx.app.inject({ method: 'POST', url: '/webhook', headers: req.headers, payload: req.body })).statusCode,
    200,
  );
  const jobs = (await ctx.resources.inboundQueue.getJobs(['waiting'])).sort(
    (x, y) => x.data.timestamp - y.data.timestamp,
  );
  t.same(
    jobs.map((j) => j.data.timestamp),
    [10, 15, 20, 30],
  );
  const [a, x, b, c] = jobs;
  t.same([a?.data.prev, x?.data.prev], [undefined, undefined], 'the first of each conversation names nobody');
  t.same(b?.data.prev, [{ eventId: a?.data.eventId, jobId: a?.id, timestamp: 10 }]);
  t.same(
    c?.data.prev?.map((p: { jobId: string }) => p.jobId),
    [a?.id, b?.id],
    'each names every earlier one of its conversation',
  );
  t.same(
    jobs.map((j) => j.data.named === true),
    [true, false, true, false],
    'named ones are marked',
  );
});
