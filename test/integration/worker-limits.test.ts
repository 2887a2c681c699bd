// Fakes Meta's Graph API and Google's Gemini API (loopback HTTP servers): neither is reachable
// from tests. Two real worker processes share one real Redis: the limits and the kill switch
// must hold across both.
import t from 'tap';
import { Redis } from 'ioredis';
import { eventually } from '../helpers/processes.js';
import { startPipeline } from '../helpers/pipeline.js';
import { messengerText } from '../helpers/sign.js';

const PAGE = '100000000000031';
let seq = 0;

t.test('kill switch and global limit hold across two worker processes', async (t) => {
  const p = await startPipeline(t, 'worker_limits', {
    workers: 2,
    env: {
      AI_MAX_CALLS_PER_MIN: '5',
      AI_MAX_CALLS_PER_MIN_PER_PSID: '100',
      WORKER_CONCURRENCY: '4',
      LOG_LEVEL: 'debug',
    },
  });
  p.gemini.setReply('AI says hi.');
  p.gemini.setDelay(100); // long enough that both workers are busy at once
  // Every job holds its slot for the send too, so one worker (4 slots) cannot answer a whole burst
  // before the other gets a job, even when the other is descheduled for a while on a busy machine:
  // the limits and the switch are only tested across processes when both processes decide.
  p.graph.setSendDelay(250);
  const redis = new Redis(p.env.REDIS_URL as string);
  t.teardown(() => redis.disconnect());
  // The operator's toggle, as an operator makes it.
  const toggle = async (enabled: boolean) => {
    const auth = Buffer.from(`${p.env.ADMIN_USER}:${p.env.ADMIN_PASS}`).toString('base64');
    const res = await fetch(`${p.apiUrl}/ops/ai/toggle`, {
      method: 'POST',
      headers: { authorization: `Basic ${auth}`, 'content-type': 'application/json' },
      body: JSON.stringify({ enabled }),
    });
    t.equal(res.status, 200, `toggled ${enabled ? 'on' : 'off'}`);
  };

  const burst = async (n: number, label: string) => {
    const users = Array.from({ length: n }, (_, i) => `9000000${label}${String(i).padStart(6, '0')}`);
    const before = p.graph.sends.length;
    await Promise.all(
      users.map((u) =>
        p.post(messengerText({ pageId: PAGE, senderId: u, mid: `m_limits_${label}_${++seq}`, text: 'hello' })),
      ),
    );
    await eventually(async () => p.graph.sends.length >= before + n, 20_000, `${n} replies`);
    return p.graph.sends.slice(before).filter((s) => users.includes(s.recipientId));
  };
  const decidedBy = (worker: number, reason: string) =>
    (p.workers[worker]?.output.join('') ?? '')
      .split('\n')
      .filter((l) => l.includes('"reply decided"') && l.includes(`"reason":"${reason}"`)).length;

  await t.test('the global limit (5/min) holds across both workers', async (t) => {
    const sends = await burst(16, '11');
    t.equal(sends.length, 16, 'every message answered once');
    const ai = sends.filter((s) => s.text === 'AI says hi.').length;
    t.equal(ai, 5, 'exactly 5 AI replies in the minute, however the work was shared');
    t.equal(p.gemini.calls.length, 5, 'Gemini called 5 times');
    // A reply row is written after its send (batched with others): wait for all 16 before reading.
    await eventually(
      async () => (await p.sql`select count(*)::int as n from replies`)[0]?.n === 16,
      10_000,
      '16 reply rows',
    );
    const rows = await p.sql`select reason, count(*)::int as n from replies group by reason order by reason`;
    t.same(
      rows.map((r) => `${r.reason}:${r.n}`),
      ['ai:5', 'rate_limited_global:11'],
    );
    t.ok(
      decidedBy(0, 'rate_limited_global') + decidedBy(0, 'ai') > 0 &&
        decidedBy(1, 'rate_limited_global') + decidedBy(1, 'ai') > 0,
      'both workers took part',
    );
  });

  await t.test('the kill switch flips every worker to fallback within a second, and back', async (t) => {
    // Clear the limiter's windows so AI would be admitted again.
    for await (const keys of redis.scanStream({ match: `${p.prefix}:ai:rl*` }))
      if ((keys as string[]).length) await redis.del(...(keys as string[]));
    await toggle(false);
    await new Promise((r) => setTimeout(r, 1000));
    const off = await burst(12, '12');
    t.equal(off.filter((s) => s.text === 'AI says hi.').length, 0, 'no AI reply while switched off');
    t.ok(decidedBy(0, 'kill_switch') > 0 && decidedBy(1, 'kill_switch') > 0, 'both workers obeyed the switch');

    await toggle(true);
    await new Promise((r) => setTimeout(r, 1000));
    const on = await burst(4, '13');
    t.equal(on.filter((s) => s.text === 'AI says hi.').length, 4, 'AI replies again once switched back on');
  });
});
