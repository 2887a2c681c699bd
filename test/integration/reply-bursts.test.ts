// Fakes Meta's Graph API and Google's Gemini API (loopback HTTP servers): neither is reachable from
// tests; the fake Gemini records each request's contents. The API and worker are the real
// production processes on a real PostgreSQL and Redis; one worker is killed with SIGKILL.
import { createHmac } from 'node:crypto';
import t from 'tap';
import { type Pipeline, startPipeline } from '../helpers/pipeline.js';
import { eventually } from '../helpers/processes.js';
import { batch, messengerText } from '../helpers/sign.js';

const PAGE = '100000000000081';
const HANDOFF_REPLY = 'A colleague will write to you here shortly.';
let seq = 0;

function userId(n: number): string {
  return `9000000081${String(n).padStart(5, '0')}`;
}

function text(label: string): string {
  return `${label} zq${++seq}x${Math.random().toString(36).slice(2, 8)}`;
}

function hashOf(p: Pipeline, id: string): string {
  return createHmac('sha256', p.env.PSID_HASH_SECRET as string)
    .update(id)
    .digest('hex');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Posts a user message sent `ageMs` ago (now by default); answers its mid's hash. */
async function post(p: Pipeline, user: string, body: string, ageMs = 0): Promise<string> {
  const mid = `m_burst_${++seq}_${Date.now()}`;
  const timestamp = Date.now() - ageMs;
  const res = await p.post(messengerText({ pageId: PAGE, senderId: user, mid, text: body, timestamp }));
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
  return hashOf(p, mid);
}

interface Row {
  id: string;
  outcome: string;
  answered_by: string | null;
}

/** The messages' rows, in the order given, once every one of them is processed. */
async function settled(p: Pipeline, midHashes: string[]): Promise<Row[]> {
  return eventually(
    async () => {
      const rows = await p.sql<Array<Row & { mid_hash: string }>>`
        select id, outcome, answered_by, mid_hash from events
        where mid_hash = any(${midHashes}::text[]) and status = 'processed'`;
      if (rows.length < midHashes.length) return undefined;
      return midHashes.map((h) => rows.find((r) => r.mid_hash === h) as Row);
    },
    30_000,
    'the messages processed',
  );
}

function sendsTo(p: Pipeline, user: string): string[] {
  return p.graph.sends.filter((s) => s.recipientId === user).map((s) => s.text);
}

t.test('messages close together get one reply, decided by one AI call that sees them all', async (t) => {
  const p = await startPipeline(t, 'reply_bursts', {
    env: {
      REPLY_DEBOUNCE_MS: '1500',
      AI_MAX_CALLS_PER_MIN: '1000',
      AI_MAX_CALLS_PER_MIN_PER_PSID: '100',
      HANDOFF_REPLY,
    },
  });
  const user = userId(1);
  const texts = [text('hello'), text('I have a question'), text('about my order')];
  const reply = text('one answer to all three');
  p.gemini.setReply(reply);
  const mids: string[] = [];
  for (const [i, body] of texts.entries()) {
    if (i > 0) await sleep(200);
    mids.push(await post(p, user, body));
  }
  const rows = await settled(p, mids);
  await eventually(async () => sendsTo(p, user).length >= 1, 15_000, 'the reply');
  await sleep(500);
  t.same(sendsTo(p, user), [reply], 'one reply');
  const calls = p.gemini.calls.filter((c) => texts.some((x) => c.contents.some((turn) => turn.text.includes(x))));
  t.equal(calls.length, 1, 'one AI call');
  t.same(calls[0]?.contents, [{ role: 'user', text: texts.join('') }], 'all three texts, in order');
  const last = rows[2] as Row;
  t.same(
    rows.map((r) => [r.outcome, r.answered_by]),
    [
      ['merged', last.id],
      ['merged', last.id],
      ['replied', null],
    ],
    'every message recorded; the earlier ones linked to the one whose reply answered them',
  );

  await sleep(5000);
  const fourth = text('and one more thing');
  const second = text('the second answer');
  p.gemini.setReply(second);
  const [row4] = await settled(p, [await post(p, user, fourth)]);
  t.equal(row4?.outcome, 'replied');
  await eventually(async () => sendsTo(p, user).length >= 2, 15_000, 'the second reply');
  t.same(sendsTo(p, user), [reply, second], 'a message 5 s later gets its own reply');
  const call = p.gemini.calls.find((c) => c.userText === fourth);
  t.same(
    call?.contents,
    [
      { role: 'user', text: texts.join('') },
      { role: 'model', text: reply },
      { role: 'user', text: fourth },
    ],
    'its call sees the earlier turns',
  );

  await t.test('a keyword is answered at once and pauses the burst it interrupts', async (t) => {
    const other = userId(4);
    const calls = p.gemini.calls.length;
    const hello = await post(p, other, text('hello there'));
    await sleep(200);
    const keyword = await post(p, other, 'human');
    const rows = await settled(p, [hello, keyword]);
    t.same(
      rows.map((r) => r.outcome),
      ['paused', 'replied'],
      'the held message is not answered once the user asked for a person',
    );
    await eventually(async () => sendsTo(p, other).length >= 1, 15_000, 'the hand-off reply');
    await sleep(500);
    t.same(sendsTo(p, other), [HANDOFF_REPLY], 'only the hand-off reply');
    t.equal(p.gemini.calls.length, calls, 'no AI call');
  });
});

t.test('without memory (AI_HISTORY_TURNS=0) the one call still sees the whole burst', async (t) => {
  const p = await startPipeline(t, 'reply_bursts_nomem', {
    env: { REPLY_DEBOUNCE_MS: '1500', AI_HISTORY_TURNS: '0' },
  });
  const user = userId(2);
  const texts = [text('first'), text('second')];
  p.gemini.setReply('ok');
  const mids = [await post(p, user, texts[0] as string)];
  await sleep(200);
  mids.push(await post(p, user, texts[1] as string));
  const rows = await settled(p, mids);
  t.same(
    rows.map((r) => r.outcome),
    ['merged', 'replied'],
  );
  t.equal(p.gemini.calls.length, 1, 'one AI call');
  t.same(p.gemini.calls[0]?.contents, [{ role: 'user', text: texts.join('') }]);
  await eventually(async () => sendsTo(p, user).length >= 1, 15_000, 'the reply');
  t.same(sendsTo(p, user), ['ok']);
});

t.test(
  'messages waiting for their bursts do not take the working slots: with one, a burst still gets one reply',
  async (t) => {
    // One run works at a time; held messages wait beside it (apps/worker/src/run-slots.ts). Were
    // they to wait in the working slot, the burst's second message would not be held before the
    // first one's debounce ended, and the burst would get two replies.
    const p = await startPipeline(t, 'reply_bursts_slots', {
      env: { REPLY_DEBOUNCE_MS: '1500', WORKER_CONCURRENCY: '1', AI_MAX_CALLS_PER_MIN_PER_PSID: '100' },
    });
    p.gemini.setReply('one for the burst');
    const [a, b] = [userId(3), userId(4)];
    const aTexts = [text('a first'), text('a second')];
    const mids = [await post(p, a, aTexts[0] as string)];
    await sleep(100);
    const bMid = await post(p, b, text('b alone'));
    await sleep(200);
    mids.push(await post(p, a, aTexts[1] as string));
    const rows = await settled(p, [...mids, bMid]);
    t.same(
      rows.map((r) => r.outcome),
      ['merged', 'replied', 'replied'],
      "a's burst answered once, by its last message; b's message on its own",
    );
    await eventually(async () => sendsTo(p, b).length >= 1, 15_000, "b's reply");
    await sleep(300);
    t.same(sendsTo(p, a), ['one for the burst'], 'one reply to the burst');
    t.same(sendsTo(p, b), ['one for the burst'], 'one reply to the other conversation');
    const aCalls = p.gemini.calls.filter((c) => c.contents.some((turn) => aTexts.some((x) => turn.text.includes(x))));
    t.same(aCalls[0]?.contents, [{ role: 'user', text: aTexts.join('') }], "one call over a's burst, in order");
  },
);

t.test('a burst queued while no worker runs gets one reply once a worker starts', async (t) => {
  // The run of a held message waits the debounce from when it starts, so neither the queue in
  // front of a late worker nor a late delivery by Meta cuts the burst.
  const p = await startPipeline(t, 'reply_bursts_backlog', {
    workers: 0,
    // One working run: the messages are taken up one after another, not held all at once.
    env: { REPLY_DEBOUNCE_MS: '1500', WORKER_CONCURRENCY: '1', AI_MAX_CALLS_PER_MIN_PER_PSID: '100' },
  });
  p.gemini.setReply('one for the burst');
  const [fresh, late] = [userId(5), userId(6)];
  const freshTexts = [text('fresh first'), text('fresh second')];
  const lateTexts = [text('late first'), text('late second')];
  const freshMids = [await post(p, fresh, freshTexts[0] as string)];
  const lateMids = [await post(p, late, lateTexts[0] as string, 10_000)];
  await sleep(200);
  freshMids.push(await post(p, fresh, freshTexts[1] as string));
  lateMids.push(await post(p, late, lateTexts[1] as string, 10_000));
  await sleep(2_000);
  p.startWorker();
  for (const [label, mids] of [
    ['received in time', freshMids],
    ['delivered late', lateMids],
  ] as const) {
    const rows = await settled(p, mids);
    t.same(
      rows.map((r) => [r.outcome, r.answered_by]),
      [
        ['merged', rows[1]?.id],
        ['replied', null],
      ],
      `${label}: the burst answered once, by its last message`,
    );
  }
  await eventually(async () => sendsTo(p, fresh).length + sendsTo(p, late).length >= 2, 15_000, 'the replies');
  await sleep(300);
  t.same(sendsTo(p, fresh), ['one for the burst'], 'one reply to the burst received in time');
  t.same(sendsTo(p, late), ['one for the burst'], 'one reply to the burst delivered late');
  const callsOver = (texts: string[]) =>
    p.gemini.calls.filter((c) => c.contents.some((turn) => texts.some((x) => turn.text.includes(x))));
  t.same(callsOver(freshTexts)[0]?.contents, [{ role: 'user', text: freshTexts.join('') }], 'one call, in order');
  t.equal(callsOver(freshTexts).length, 1);
  t.same(callsOver(lateTexts)[0]?.contents, [{ role: 'user', text: lateTexts.join('') }], 'one call, in order');
  t.equal(callsOver(lateTexts).length, 1);
});

// WhatsApp's timestamps have a resolution of one second: three messages 200 ms apart mostly share
// one, and only their arrival orders them (apps/worker/src/sequence-time.ts).
t.test('WhatsApp: a burst of texts gets one reply through the Cloud API', async (t) => {
  const p = await startPipeline(t, 'reply_bursts_whatsapp', {
    env: {
      REPLY_DEBOUNCE_MS: '1500',
      WHATSAPP_ACCESS_TOKEN: 'test-whatsapp-token',
      AI_MAX_CALLS_PER_MIN_PER_PSID: '100',
    },
  });
  const phone = '100000000000082';
  const waId = '15550008101';
  const texts = [text('hola'), text('do you deliver'), text('to the old town?')];
  const reply = text('yes, every day');
  p.gemini.setReply(reply);
  for (const [i, body] of texts.entries()) {
    if (i > 0) await sleep(200);
    const message = {
      from: waId,
      id: `wamid.TESTBURST${++seq}x${Date.now()}`,
      timestamp: String(Math.floor(Date.now() / 1000)),
      type: 'text',
      text: { body },
    };
    const value = {
      messaging_product: 'whatsapp',
      metadata: { display_phone_number: '15550009999', phone_number_id: phone },
      messages: [message],
    };
    const res = await p.post(
      batch('whatsapp_business_account', [{ id: '100000000000089', changes: [{ field: 'messages', value }] }]),
    );
    t.equal(res.status, 200);
  }
  await eventually(async () => sendsTo(p, waId).length >= 1, 20_000, 'the reply');
  await sleep(2500);
  t.same(sendsTo(p, waId), [reply], 'one reply to the three messages');
  const calls = p.gemini.calls.filter((c) => texts.some((x) => c.contents.some((turn) => turn.text.includes(x))));
  t.equal(calls.length, 1, 'one AI call');
  t.same(calls[0]?.contents, [{ role: 'user', text: texts.join('') }], 'all three texts, in order');
  const outcomes = await p.sql<Array<{ outcome: string }>>`
    select outcome from events where channel = 'whatsapp' and type = 'text' order by event_at, id`;
  t.same(outcomes.map((r) => r.outcome).sort(), ['merged', 'merged', 'replied'], 'every message recorded');
});

t.test('REPLY_DEBOUNCE_MS=0 answers each message on its own', async (t) => {
  const p = await startPipeline(t, 'reply_bursts_off', {
    env: { REPLY_DEBOUNCE_MS: '0', AI_MAX_CALLS_PER_MIN_PER_PSID: '100' },
  });
  const user = userId(3);
  p.gemini.setReply('each');
  const mids: string[] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(200);
    mids.push(await post(p, user, text(`message ${i}`)));
  }
  const rows = await settled(p, mids);
  t.same(
    rows.map((r) => [r.outcome, r.answered_by]),
    [
      ['replied', null],
      ['replied', null],
      ['replied', null],
    ],
  );
  t.equal(p.gemini.calls.length, 3, 'one AI call each');
  t.same(sendsTo(p, user), ['each', 'each', 'each']);
});

t.test('a worker killed by SIGKILL mid-burst: still exactly one reply per burst', async (t) => {
  const p = await startPipeline(t, 'reply_bursts_crash', {
    workers: 2,
    env: { REPLY_DEBOUNCE_MS: '1500', WORKER_LOCK_DURATION_MS: '2000', AI_MAX_CALLS_PER_MIN_PER_PSID: '100' },
  });
  p.gemini.setReply('one per burst');
  const users = [userId(10), userId(11), userId(12), userId(13)];
  const mids = new Map<string, string[]>(users.map((u) => [u, []]));
  const postAll = async (i: number) => {
    for (const u of users) mids.get(u)?.push(await post(p, u, text(`burst message ${i}`)));
  };
  await postAll(0);
  await sleep(200);
  await postAll(1);
  // The bursts' first messages are held, their second ones in flight: a worker dies now.
  p.workers[0]?.child.kill('SIGKILL');
  await sleep(200);
  await postAll(2);
  const exit = await p.workers[0]?.exited;
  t.equal(exit?.signal, 'SIGKILL', 'worker 0 was killed');
  for (const u of users) {
    const rows = await settled(p, mids.get(u) as string[]);
    t.same(
      rows.map((r) => r.outcome),
      ['merged', 'merged', 'replied'],
      'the burst answered once, by its last message',
    );
  }
  await sleep(1000);
  for (const u of users) t.same(sendsTo(p, u), ['one per burst'], 'one reply per burst');
  t.equal(p.gemini.calls.length, users.length, 'one AI call per burst');
});
