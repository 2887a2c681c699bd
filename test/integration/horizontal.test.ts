// Fakes Meta's Graph API and Google's Gemini API (loopback HTTP servers): neither is reachable from
// tests. Two real API processes and three real worker processes share one PostgreSQL and one Redis:
// de-duplication, the AI limits and the kill switch must hold across all of them.
import t from 'tap';
import { eventually } from '../helpers/processes.js';
import { startPipeline } from '../helpers/pipeline.js';
import { messengerText } from '../helpers/sign.js';

const PAGE = '100000000000071';
let seq = 0;

t.test('two APIs and three workers behave as one system', async (t) => {
  const p = await startPipeline(t, 'horizontal', {
    apis: 2,
    workers: 3,
    env: {
      AI_MAX_CALLS_PER_MIN: '4',
      AI_MAX_CALLS_PER_MIN_PER_PSID: '100',
      WORKER_CONCURRENCY: '2',
      LOG_LEVEL: 'debug',
    },
  });
  const [api1, api2] = p.apiUrls as [string, string];
  p.gemini.setReply('AI answer');
  p.gemini.setDelay(60);
  const auth = `Basic ${Buffer.from(`${p.env.ADMIN_USER}:${p.env.ADMIN_PASS}`).toString('base64')}`;
  const sendsTo = (u: string) => p.graph.sends.filter((s) => s.recipientId === u);
  const decided = (w: number, reason: string) =>
    (p.workers[w]?.output.join('') ?? '')
      .split('\n')
      .filter((l) => l.includes('"reply decided"') && l.includes(`"reason":"${reason}"`)).length;

  await t.test('a delivery seen by one API is a duplicate at the other', async (t) => {
    const user = '900000000000701';
    const payload = messengerText({ pageId: PAGE, senderId: user, mid: 'm_horizontal_dup', text: 'hello' });
    t.equal((await p.post(payload, api1)).status, 200);
    t.equal((await p.post(payload, api2)).status, 200);
    // The same mid in a new envelope, through the second API again.
    t.equal(
      (
        await p.post(
          messengerText({
            pageId: PAGE,
            senderId: user,
            mid: 'm_horizontal_dup',
            text: 'hello',
            timestamp: Date.now() + 5,
          }),
          api2,
        )
      ).status,
      200,
    );
    await eventually(async () => sendsTo(user).length >= 1, 15_000, 'a reply');
    await new Promise((r) => setTimeout(r, 800));
    t.equal(sendsTo(user).length, 1, 'answered once');
    const [row] = await p.sql`select count(*)::int as n from events`;
    t.equal(row?.n, 1, 'one event recorded');
  });

  await t.test('the global AI limit holds across three workers fed by two APIs', async (t) => {
    const users = Array.from({ length: 12 }, (_, i) => `9000000007${String(i + 10).padStart(5, '0')}`);
    await Promise.all(
      users.map((u, i) =>
        p.post(
          messengerText({ pageId: PAGE, senderId: u, mid: `m_horizontal_${++seq}`, text: 'hi' }),
          i % 2 ? api2 : api1,
        ),
      ),
    );
    await eventually(async () => users.every((u) => sendsTo(u).length === 1), 20_000, 'twelve replies');
    const ai = users.filter((u) => sendsTo(u)[0]?.text === 'AI answer').length;
    // The first test's message took one AI call of this minute's four.
    t.equal(ai, 3, 'only the calls left in the minute went to the AI');
    t.equal(p.gemini.calls.length, 4, 'Gemini called exactly AI_MAX_CALLS_PER_MIN times');
  });

  await t.test('the kill switch, flipped through one API, reaches all three workers within a second', async (t) => {
    const res = await fetch(`${api2}/ops/ai/toggle`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ enabled: false }),
    });
    t.equal(res.status, 200);
    t.same(await res.json(), { enabled: false });
    const status = (await (await fetch(`${api1}/ops/ai/status`, { headers: { authorization: auth } })).json()) as {
      enabled: boolean;
    };
    t.equal(status.enabled, false, 'the other API sees it at once');
    await new Promise((r) => setTimeout(r, 1000));
    const users = Array.from({ length: 18 }, (_, i) => `9000000007${String(i + 40).padStart(5, '0')}`);
    await Promise.all(
      users.map((u, i) =>
        p.post(
          messengerText({ pageId: PAGE, senderId: u, mid: `m_horizontal_${++seq}`, text: 'hi' }),
          i % 2 ? api2 : api1,
        ),
      ),
    );
    await eventually(async () => users.every((u) => sendsTo(u).length === 1), 20_000, 'eighteen replies');
    for (let w = 0; w < 3; w++)
      t.ok(decided(w, 'kill_switch') > 0, `worker ${w + 1} answered with the kill switch off`);
    t.equal(p.gemini.calls.length, 4, 'no AI call while switched off');
  });
});
