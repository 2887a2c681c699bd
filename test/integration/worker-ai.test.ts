// Fakes Meta's Graph API and Google's Gemini API (loopback HTTP servers): neither is reachable
// from tests. The API and worker are the real production processes on a real PostgreSQL and Redis.
import t from 'tap';
import { capReplyText, MAX_REPLY_CHARS } from '@switchboard/ai';
import { MAX_REPLY_PARTS, splitMessage } from '@switchboard/meta';
import { eventually } from '../helpers/processes.js';
import { startPipeline } from '../helpers/pipeline.js';
import { instagramText, messengerText } from '../helpers/sign.js';

const PAGE = '100000000000021';
const IG = '178410000000021';
let seq = 0;
const mid = () => `m_worker_ai_${++seq}_${Date.now()}`;

t.test('the AI path, its per-user limit, its timeout and long answers', async (t) => {
  const p = await startPipeline(t, 'worker_ai', {
    env: { AI_TIMEOUT_MS: '600', AI_MAX_CALLS_PER_MIN_PER_PSID: '2', AI_MAX_CALLS_PER_MIN: '100' },
  });

  const replyFor = async (recipientId: string, count = 1) =>
    eventually(
      async () => {
        const sends = p.graph.sends.filter((s) => s.recipientId === recipientId);
        return sends.length >= count ? sends : null;
      },
      15_000,
      `reply to ${recipientId}`,
    );
  const replyRows = (limit: number) =>
    eventually(
      async () => {
        const rows =
          await p.sql`select path, reason, status, parts from replies where status = 'sent' order by created_at`;
        return rows.length >= limit ? rows : null;
      },
      10_000,
      `${limit} sent replies`,
    );

  await t.test('an AI reply arrives', async (t) => {
    p.gemini.setReply('Yes, we are open until 18:00 today.');
    const res = await p.post(
      messengerText({ pageId: PAGE, senderId: '900000000000101', mid: mid(), text: 'Are you open today?' }),
    );
    t.equal(res.status, 200);
    const [send] = await replyFor('900000000000101');
    t.equal(send?.text, 'Yes, we are open until 18:00 today.');
    t.equal(p.gemini.calls.length, 1);
    t.match(p.gemini.calls[0]?.systemInstruction ?? '', /plain text/i, 'the system instruction asks for plain text');
    t.equal(p.gemini.calls[0]?.userText, 'Are you open today?');
    const rows = await replyRows(1);
    t.match(rows[0], { path: 'ai', reason: 'ai', status: 'sent' });
  });

  await t.test('three messages from one user in a minute: AI, AI, fallback', async (t) => {
    p.gemini.setReply('An AI answer.');
    const user = '900000000000102';
    for (let i = 0; i < 3; i++) {
      t.equal(
        (
          await p.post(
            messengerText({
              pageId: PAGE,
              senderId: user,
              mid: mid(),
              text: `question ${i}`,
              timestamp: Date.now() + i,
            }),
          )
        ).status,
        200,
      );
      await replyFor(user, i + 1); // one at a time so the order is the order sent
      await replyRows(2 + i); // and recorded (the row is written after the send), each by its own statement
    }
    const texts = p.graph.sends.filter((s) => s.recipientId === user).map((s) => s.text);
    t.same(texts, [
      'An AI answer.',
      'An AI answer.',
      p.env.FALLBACK_REPLY ??
        'Thanks for your message! We have received it and will get back to you as soon as we can.',
    ]);
    const reasons =
      await p.sql`select path, reason from replies where sender_hash = (select sender_hash from replies order by created_at desc limit 1) order by created_at`;
    t.same(
      reasons.map((r) => `${r.path}/${r.reason}`),
      ['ai/ai', 'ai/ai', 'fallback/rate_limited_user'],
    );
  });

  await t.test('a slow Gemini gives the fallback within the timeout', async (t) => {
    p.gemini.setDelay(3000);
    const user = '900000000000103';
    const started = Date.now();
    await p.post(messengerText({ pageId: PAGE, senderId: user, mid: mid(), text: 'slow please' }));
    const [send] = await replyFor(user);
    const elapsed = (send?.at ?? 0) - started;
    t.match(send?.text, /Thanks for your message/);
    t.ok(elapsed < 2500, `fallback sent ${elapsed} ms after the webhook (timeout 600 ms, Gemini 3000 ms)`);
    await replyRows(5);
    const [row] = await p.sql`select path, reason from replies where status = 'sent' order by created_at desc limit 1`;
    t.match(row, { path: 'fallback', reason: 'timeout' });
    p.gemini.setDelay(0);
  });

  await t.test("long answers are split within each channel's limit, in order", async (t) => {
    const sentence =
      'This is a fairly long sentence about our opening hours and delivery options, with ümlauts and emoji 🙂. ';
    const long = sentence.repeat(36).trim(); // ~3,700 characters: within the 4,000 kept of an answer
    p.gemini.setReply(long);
    await p.post(messengerText({ pageId: PAGE, senderId: '900000000000104', mid: mid(), text: 'tell me everything' }));
    await p.post(instagramText({ pageId: IG, senderId: '800000000000104', mid: mid(), text: 'tell me everything' }));
    const messenger = await eventually(
      async () => {
        const s = p.graph.sends.filter((x) => x.recipientId === '900000000000104');
        return s.length >= 2 ? s : null;
      },
      15_000,
      'messenger parts',
    );
    const instagram = await eventually(
      async () => {
        const s = p.graph.sends.filter((x) => x.recipientId === '800000000000104');
        return s.length >= 4 ? s : null;
      },
      15_000,
      'instagram parts',
    );
    await new Promise((r) => setTimeout(r, 300));
    for (const s of messenger) t.ok(s.text.length < 2000, `messenger part of ${s.text.length} characters`);
    for (const s of instagram)
      t.ok(Buffer.byteLength(s.text) <= 1000, `instagram part of ${Buffer.byteLength(s.text)} bytes`);
    const squash = (x: string) => x.replace(/\s+/g, '');
    t.equal(
      squash(messenger.map((s) => s.text).join(' ')),
      squash(long),
      'messenger parts reassemble the answer in order',
    );
    t.equal(
      squash(instagram.map((s) => s.text).join(' ')),
      squash(long),
      'instagram parts reassemble the answer in order',
    );
    t.equal(
      p.graph.sends.filter((x) => x.recipientId === '800000000000104').length,
      instagram.length,
      'no part sent twice',
    );
    const [row] = await p.sql`select parts from replies where channel = 'instagram'`;
    t.equal(row?.parts, instagram.length);
  });

  await t.test('a runaway answer (200 000 characters) becomes a few messages, not a hundred', async (t) => {
    const sentence = 'Our shop is open every day of the week from nine to five, holidays included. ';
    const answer = sentence.repeat(2600); // ~200 000 characters
    p.gemini.setReply(answer);
    const kept = capReplyText(answer);
    t.ok(kept.length <= MAX_REPLY_CHARS && answer.startsWith(kept));
    const [messengerParts, instagramParts] = [
      splitMessage(kept, 'messenger').length,
      splitMessage(kept, 'instagram').length,
    ];
    await p.post(messengerText({ pageId: PAGE, senderId: '900000000000105', mid: mid(), text: 'tell me everything' }));
    await p.post(instagramText({ pageId: IG, senderId: '800000000000105', mid: mid(), text: 'tell me everything' }));
    const partsSent = (recipientId: string) => p.graph.sends.filter((x) => x.recipientId === recipientId).length;
    t.same(
      [messengerParts, instagramParts],
      [3, 4],
      'the 4 000 characters kept: three Messenger messages, four Instagram ones',
    );
    t.ok(instagramParts <= MAX_REPLY_PARTS);
    await eventually(
      async () => partsSent('900000000000105') >= messengerParts && partsSent('800000000000105') >= instagramParts,
      20_000,
      'both replies sent',
    );
    await new Promise((r) => setTimeout(r, 1000));
    t.equal(partsSent('900000000000105'), messengerParts);
    t.equal(partsSent('800000000000105'), instagramParts);
  });
});
