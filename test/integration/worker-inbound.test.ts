// Fakes Meta's Graph API and Google's Gemini API (loopback HTTP servers): neither is reachable from
// tests. The API and two worker processes are real, on a real PostgreSQL and Redis.
import { createHmac } from 'node:crypto';
import t from 'tap';
import { eventually } from '../helpers/processes.js';
import { startPipeline } from '../helpers/pipeline.js';
import { batch, messengerEcho, messengerText } from '../helpers/sign.js';

const PAGE = '100000000000061';

t.test('inbound: conversation order, staleness, and what is recorded but never answered', async (t) => {
  const p = await startPipeline(t, 'worker_inbound', {
    workers: 2,
    env: {
      AI_MAX_CALLS_PER_MIN: '1000',
      AI_MAX_CALLS_PER_MIN_PER_PSID: '1000',
      WORKER_CONCURRENCY: '8',
      STALE_EVENT_MAX_AGE_S: '3600',
    },
  });

  await t.test('one conversation is answered one message at a time, in timestamp order', async (t) => {
    p.gemini.setDelay(80);
    p.gemini.setReply('ok');
    const user = '900000000000601';
    const base = Date.now();
    // One batch of five messages from one user: with 2 workers × 8 slots they would all run at once.
    const items = Array.from({ length: 5 }, (_, i) => ({
      sender: { id: user },
      recipient: { id: PAGE },
      timestamp: base + i,
      message: { mid: `m_order_${i}`, text: `message ${i}` },
    }));
    t.equal((await p.post(batch('page', [{ id: PAGE, time: base + 10, messaging: items }]))).status, 200);
    await eventually(
      async () => p.graph.sends.filter((s) => s.recipientId === user).length === 5,
      20_000,
      'five replies',
    );
    const asked = p.gemini.calls.filter((c) => c.userText.startsWith('message ')).map((c) => c.userText);
    t.same(
      asked,
      ['message 0', 'message 1', 'message 2', 'message 3', 'message 4'],
      'the AI saw the messages in order',
    );
    const calls = p.gemini.calls.filter((c) => c.userText.startsWith('message '));
    for (let i = 1; i < calls.length; i++)
      t.ok((calls[i]?.at ?? 0) - (calls[i - 1]?.at ?? 0) >= 70, 'never two of one conversation at once');
    p.gemini.setDelay(0);
  });

  await t.test('events older than the staleness cutoff are recorded, not answered', async (t) => {
    const user = '900000000000602';
    await p.post(
      messengerText({
        pageId: PAGE,
        senderId: user,
        mid: 'm_stale_1',
        text: 'old',
        timestamp: Date.now() - 2 * 3600 * 1000,
      }),
    );
    const [event] = await eventually(
      async () => {
        const rows = await p.sql`select status, outcome from events where outcome = 'stale'`;
        return rows.length ? rows : null;
      },
      10_000,
      'stale event recorded',
    );
    t.equal(event?.status, 'processed');
    t.equal(p.graph.sends.filter((s) => s.recipientId === user).length, 0, 'no reply');
  });

  await t.test('echoes, reads, deliveries and reactions are recorded, never answered', async (t) => {
    const user = '900000000000603';
    const ts = Date.now();
    const messaging = [
      { sender: { id: user }, recipient: { id: PAGE }, timestamp: ts, read: { watermark: ts - 10 } },
      {
        sender: { id: user },
        recipient: { id: PAGE },
        timestamp: ts + 1,
        delivery: { mids: ['m_x'], watermark: ts - 5 },
      },
      {
        sender: { id: user },
        recipient: { id: PAGE },
        timestamp: ts + 2,
        reaction: { mid: 'm_x', action: 'react', reaction: 'love', emoji: '❤️' },
      },
    ];
    await p.post(batch('page', [{ id: PAGE, time: ts, messaging }]));
    await p.post(
      messengerEcho({
        pageId: PAGE,
        recipientId: user,
        mid: 'm_echo_ours',
        text: 'our reply',
        appId: p.env.FACEBOOK_APP_ID as string,
      }),
    );
    await p.post(
      messengerEcho({
        pageId: PAGE,
        recipientId: user,
        mid: 'm_echo_human',
        text: 'a human typed this',
        appId: '263902037430900',
      }),
    );
    const rows = await eventually(
      async () => {
        const r =
          await p.sql`select type, outcome from events where type in ('read', 'delivery', 'reaction', 'echo') and status = 'processed' order by type, outcome`;
        return r.length === 5 ? r : null;
      },
      10_000,
      'five recorded events',
    );
    t.same(
      rows.map((r) => `${r.type}:${r.outcome}`),
      ['delivery:recorded', 'echo:echo_human', 'echo:echo_ours', 'reaction:recorded', 'read:recorded'],
    );
    await new Promise((r) => setTimeout(r, 300));
    t.equal(p.graph.sends.filter((s) => s.recipientId === user).length, 0, 'nothing answered');
    const [users] =
      await p.sql`select count(*)::int as n from users where message_count > 0 and last_seen_at > now() - interval '1 minute'`;
    t.ok((users?.n ?? 0) >= 1);
  });

  await t.test("Page feed and comment changes are recorded, never answered, and are no one's message", async (t) => {
    const user = '900000000000604';
    const userHash = createHmac('sha256', p.env.PSID_HASH_SECRET as string)
      .update(user)
      .digest('hex');
    const now = Math.floor(Date.now() / 1000);
    const changes = [
      {
        field: 'feed',
        value: {
          from: { id: user, name: 'Test User' },
          item: 'comment',
          verb: 'add',
          post_id: `${PAGE}_700000000000001`,
          comment_id: '700000000000001_800000000000001',
          message: 'a comment',
          created_time: now,
        },
      },
      {
        field: 'feed',
        value: { item: 'status', verb: 'add', post_id: `${PAGE}_700000000000002`, published: 1, created_time: now },
      },
    ];
    t.equal((await p.post(batch('page', [{ id: PAGE, time: now, changes }]))).status, 200);
    const rows = await eventually(
      async () => {
        const r =
          await p.sql`select sender_hash, mid_hash, status, outcome, event_at from events where type = 'change' order by sender_hash nulls last`;
        return r.length === 2 && r.every((e) => e.status === 'processed') ? r : null;
      },
      10_000,
      'two recorded changes',
    );
    t.same(
      rows.map((r) => [r.sender_hash, r.mid_hash, r.outcome]),
      [
        [userHash, null, 'recorded'],
        [null, null, 'recorded'],
      ],
      'the author hashed; nothing answered',
    );
    t.equal(new Date(rows[0]?.event_at).getTime(), now * 1000, 'created_time (seconds) as the event time');
    await new Promise((r) => setTimeout(r, 300));
    t.equal(p.graph.sends.filter((s) => s.recipientId === user).length, 0, 'no Send API call');
    t.equal(p.gemini.calls.filter((c) => c.userText.includes('a comment')).length, 0, 'no AI call');
    const [counted] = await p.sql`select count(*)::int as n from users where sender_hash = ${userHash}`;
    t.equal(counted?.n, 0, 'a comment is not a message to the business');
  });
});
