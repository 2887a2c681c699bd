// Fakes Meta's Graph API and Google's Gemini API (loopback HTTP servers): neither is reachable from
// tests; the fake Gemini records each request's contents and can hold its answer, and staff echoes
// arrive as signed webhooks. The API and worker are the real production processes on a real
// PostgreSQL and Redis.
import { createHmac } from 'node:crypto';
import t from 'tap';
import { type Pipeline, startPipeline } from '../helpers/pipeline.js';
import { eventually } from '../helpers/processes.js';
import { scanAll } from '../helpers/redis.js';
import { batch, instagramText, messengerEcho, messengerText } from '../helpers/sign.js';

const PAGE = '100000000000071';
/** The Page Inbox's app id: a person from the business writing from Meta's inbox. */
const INBOX_APP = '263902037430900';
const HANDOFF_REPLY = 'A colleague will write to you here shortly.';

let seq = 0;
/** Every text the test sent or had the model answer: none may be found in clear at the end. */
const secrets: string[] = [];

function secret(label: string): string {
  const text = `${label} zq${++seq}x${Math.random().toString(36).slice(2, 8)}`;
  secrets.push(text);
  return text;
}

function userId(n: number): string {
  return `9000000071${String(n).padStart(5, '0')}`;
}

function ops(p: Pipeline) {
  const auth = `Basic ${Buffer.from(`${p.env.ADMIN_USER}:${p.env.ADMIN_PASS}`).toString('base64')}`;
  return async (method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown) => {
    const res = await fetch(`${p.apiUrl}${path}`, {
      method,
      headers: { authorization: auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return {
      status: res.status,
      body: (text ? JSON.parse(text) : null) as Record<string, unknown> & {
        conversations?: Array<Record<string, unknown>>;
        turns?: Array<Record<string, unknown>>;
      },
    };
  };
}

function hashOf(p: Pipeline, id: string): string {
  return createHmac('sha256', p.env.PSID_HASH_SECRET as string)
    .update(id)
    .digest('hex');
}

/** Sends a user message; resolves with its event id's row once the worker finished it. */
async function say(p: Pipeline, user: string, text: string, timestamp = Date.now()): Promise<{ outcome: string }> {
  const mid = `m_conv_${++seq}_${Date.now()}`;
  const res = await p.post(messengerText({ pageId: PAGE, senderId: user, mid, text, timestamp }));
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
  const midHash = hashOf(p, mid);
  return eventually(
    async () => {
      const [row] = await p.sql<
        Array<{ outcome: string }>
      >`select outcome from events where mid_hash = ${midHash} and status = 'processed'`;
      return row;
    },
    15_000,
    `the event of "${text}"`,
  );
}

/** A person from the business writes to the user from Meta's inbox. */
async function staffWrites(p: Pipeline, user: string, text: string, timestamp = Date.now()): Promise<void> {
  const mid = `m_staff_${++seq}`;
  const res = await p.post(messengerEcho({ pageId: PAGE, recipientId: user, mid, text, appId: INBOX_APP, timestamp }));
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
  const midHash = hashOf(p, mid);
  await eventually(
    async () => (await p.sql`select 1 from events where mid_hash = ${midHash} and outcome = 'echo_human'`).length > 0,
    15_000,
    'the staff echo',
  );
}

function sendsTo(p: Pipeline, user: string): string[] {
  return p.graph.sends.filter((s) => s.recipientId === user).map((s) => s.text);
}

async function conversationOf(p: Pipeline, user: string): Promise<Record<string, unknown>> {
  const list = await ops(p)('GET', `/ops/conversations?user=${hashOf(p, user)}`);
  const only = list.body.conversations?.[0];
  if (list.status !== 200 || !only) throw new Error(`no conversation listed (${list.status})`);
  return only;
}

t.test('conversations: memory, people taking over, asking for a person, operator routes', async (t) => {
  const p = await startPipeline(t, 'conversations', {
    env: {
      AI_HISTORY_TURNS: '3',
      AI_HISTORY_MAX_AGE_S: '60',
      HANDOFF_REPLY,
      HANDOFF_KEYWORDS: 'human, Agent',
      AI_MAX_CALLS_PER_MIN: '1000',
      AI_MAX_CALLS_PER_MIN_PER_PSID: '100',
      LOG_LEVEL: 'debug',
    },
    aof: true,
  });
  const call = ops(p);

  await t.test(
    "the model sees the last turns, oldest first, the bot's as model, ending with the current message",
    async (t) => {
      const user = userId(1);
      const turns: Array<{ role: string; text: string }> = [];
      for (let i = 1; i <= 3; i++) {
        const question = secret(`question ${i}`);
        const answer = secret(`answer ${i}`);
        p.gemini.setReply(answer);
        t.equal((await say(p, user, question)).outcome, 'replied');
        turns.push({ role: 'user', text: question }, { role: 'model', text: answer });
      }
      const current = secret('question 4');
      await say(p, user, current);
      const request = p.gemini.calls.find((c) => c.userText === current);
      t.same(
        request?.contents,
        [...turns.slice(-3), { role: 'user', text: current }],
        'AI_HISTORY_TURNS (3) earlier turns in order, then the current message',
      );
      t.match(await conversationOf(p, user), { status: 'active', messages: 4 }, 'each message counted once');
    },
  );

  await t.test('turns older than AI_HISTORY_MAX_AGE_S are not shown', async (t) => {
    const user = userId(2);
    const old = secret('two minutes ago');
    const answer = secret('answer to the old one');
    p.gemini.setReply(answer);
    await say(p, user, old, Date.now() - 120_000);
    const current = secret('now');
    await say(p, user, current);
    const request = p.gemini.calls.find((c) => c.userText === current);
    t.same(
      request?.contents,
      [
        { role: 'model', text: answer },
        { role: 'user', text: current },
      ],
      'the old user turn is left out; the reply, sent now, is not',
    );
  });

  await t.test('a person from the business writing keeps the bot silent until the pause ends', async (t) => {
    const user = userId(3);
    const botAnswer = secret('bot answer');
    const hello = secret('hello');
    p.gemini.setReply(botAnswer);
    await say(p, user, hello);
    t.equal(sendsTo(p, user).length, 1);
    // The staff wrote 1 797 s ago: the 1 800 s pause has three seconds left.
    const staffText = secret('staff says hi');
    await staffWrites(p, user, staffText, Date.now() - 1_797_000);
    t.match(await conversationOf(p, user), { status: 'paused', pause_reason: 'staff_replied' });
    const calls = p.gemini.calls.length;
    const whilePaused = secret('are you there?');
    t.equal((await say(p, user, whilePaused)).outcome, 'paused', 'recorded as paused');
    t.equal(sendsTo(p, user).length, 1, 'nothing sent while paused');
    t.equal(p.gemini.calls.length, calls, 'no AI call while paused');

    await new Promise((r) => setTimeout(r, 3500));
    t.match(await conversationOf(p, user), { status: 'active', pause_reason: null, paused_until: null });
    const after = secret('after the pause');
    t.equal((await say(p, user, after)).outcome, 'replied');
    t.equal(sendsTo(p, user).length, 2);
    t.match(await conversationOf(p, user), { messages: 4 }, "the user's three messages and the staff's one");
    const request = p.gemini.calls.find((c) => c.userText === `${whilePaused}${after}`);
    // Kept: hello, the bot's answer, the staff's message, the unanswered message; the last three are
    // read, and the staff's message, older than AI_HISTORY_MAX_AGE_S (60 s), is left out like any old turn.
    t.same(
      request?.contents,
      [
        { role: 'model', text: botAnswer },
        { role: 'user', text: `${whilePaused}${after}` },
      ],
      'the unanswered and the current message as one user turn (two parts)',
    );
  });

  await t.test('an echo of our own send is not a person taking over, whatever app id it shows', async (t) => {
    const user = userId(10);
    await say(p, user, secret('first'));
    const mid = `m_own_echo_${++seq}`;
    // As Meta echoes our sends where FACEBOOK_APP_ID is not configured: the metadata we attached says it is ours.
    await p.post(
      messengerEcho({
        pageId: PAGE,
        recipientId: user,
        mid,
        text: secret('our reply'),
        appId: '100000000000999',
        metadata: `sb:${'a'.repeat(32)}:0`,
      }),
    );
    const midHash = hashOf(p, mid);
    await eventually(
      async () => (await p.sql`select 1 from events where mid_hash = ${midHash} and status = 'processed'`).length > 0,
      15_000,
      'the echo',
    );
    t.match(await conversationOf(p, user), { status: 'active', pause_reason: null });
    t.equal((await say(p, user, secret('second'))).outcome, 'replied');
  });

  await t.test("an operator's resume ends a staff pause at once", async (t) => {
    const user = userId(4);
    const staffText = secret('staff first');
    const staffMore = secret('staff adds');
    const pausedOne = secret('paused one');
    await staffWrites(p, user, staffText);
    // A second message extends the staff's pause; it is not a second hand-off (see the metrics).
    await staffWrites(p, user, staffMore);
    t.equal((await say(p, user, pausedOne)).outcome, 'paused');
    const conv = await conversationOf(p, user);
    const resumed = await call('POST', `/ops/conversations/${conv.id as string}/resume`);
    t.equal(resumed.status, 200);
    t.match(resumed.body, { id: conv.id, status: 'active', paused_until: null, pause_reason: null });
    const again = secret('answered again');
    t.equal((await say(p, user, again)).outcome, 'replied');
    t.equal(sendsTo(p, user).length, 1);
    const request = p.gemini.calls.find((c) => c.userText === `${pausedOne}${again}`);
    t.same(
      request?.contents,
      [
        { role: 'model', text: `${staffText}${staffMore}` },
        { role: 'user', text: `${pausedOne}${again}` },
      ],
      "the staff's messages as the model's turn",
    );
  });

  await t.test('a reply decided just before a person writes is not sent', async (t) => {
    const user = userId(5);
    p.gemini.setDelay(1500);
    t.teardown(() => p.gemini.setDelay(0));
    const question = secret('slow question');
    const mid = `m_race_${++seq}`;
    await p.post(messengerText({ pageId: PAGE, senderId: user, mid, text: question }));
    await eventually(async () => p.gemini.calls.some((c) => c.userText === question), 10_000, 'the AI call');
    await staffWrites(p, user, secret('staff jumps in'));
    const midHash = hashOf(p, mid);
    const row = await eventually(
      async () =>
        (
          await p.sql<
            Array<{ outcome: string }>
          >`select outcome from events where mid_hash = ${midHash} and status = 'processed'`
        )[0],
      15_000,
      'the held event',
    );
    t.equal(row.outcome, 'paused');
    t.same(sendsTo(p, user), [], 'the reply the model gave is never sent');
    // Workers add their counts to the shared hash every second.
    const notSent = await eventually(
      async () =>
        ((await call('GET', '/ops/telemetry')).body as unknown as { sends: { paused: number } }).sends.paused || null,
      5000,
      'the count',
    );
    t.equal(notSent, 1, 'counted as a reply not sent');
  });

  await t.test('asking for a person gets HANDOFF_REPLY once and waits for a human', async (t) => {
    const user = userId(6);
    const calls = p.gemini.calls.length;
    t.equal((await say(p, user, '  AGENT ')).outcome, 'replied');
    t.same(sendsTo(p, user), [HANDOFF_REPLY]);
    t.equal(p.gemini.calls.length, calls, 'no AI call');
    t.match(await conversationOf(p, user), { status: 'waiting_for_human', pause_reason: 'user_asked' });
    t.equal((await say(p, user, 'human')).outcome, 'paused', 'asking again gets nothing more');
    t.equal((await say(p, user, secret('hello?'))).outcome, 'paused');
    t.same(sendsTo(p, user), [HANDOFF_REPLY], 'one reply in all');
  });

  await t.test('Instagram: a person writing from the Instagram app pauses the conversation too', async (t) => {
    const user = userId(9);
    const account = '17840000000000071';
    const ts = Date.now();
    const echoMid = `aWdfZWNobw${++seq}`;
    // Echoes of messages a person sent from the Instagram app carry no app id.
    await p.post(
      batch('instagram', [
        {
          id: account,
          time: ts,
          messaging: [
            {
              sender: { id: account },
              recipient: { id: user },
              timestamp: ts,
              message: { mid: echoMid, is_echo: true, text: secret('hi from the shop') },
            },
          ],
        },
      ]),
    );
    const echoHash = hashOf(p, echoMid);
    await eventually(
      async () =>
        (await p.sql`select 1 from events where mid_hash = ${echoHash} and outcome = 'echo_human'`).length > 0,
      15_000,
      'the Instagram echo',
    );
    const mid = `aWdfdGV4dA${++seq}`;
    await p.post(instagramText({ pageId: account, senderId: user, mid, text: secret('thanks!') }));
    const midHash = hashOf(p, mid);
    const row = await eventually(
      async () =>
        (
          await p.sql<
            Array<{ outcome: string }>
          >`select outcome from events where mid_hash = ${midHash} and status = 'processed'`
        )[0],
      15_000,
      'the message',
    );
    t.equal(row.outcome, 'paused');
    t.same(sendsTo(p, user), []);
    t.match(await conversationOf(p, user), {
      channel: 'instagram',
      page_id: account,
      status: 'paused',
      pause_reason: 'staff_replied',
      messages: 2,
    });
  });

  await t.test(
    'while another app owns the thread nothing is answered; control passed back ends the pause',
    async (t) => {
      const user = userId(8);
      const inStandby = secret('written in the inbox thread');
      const standbyMid = `m_standby_${++seq}`;
      const ts = Date.now();
      await p.post(
        batch('page', [
          {
            id: PAGE,
            time: ts,
            standby: [
              {
                sender: { id: user },
                recipient: { id: PAGE },
                timestamp: ts,
                message: { mid: standbyMid, text: inStandby },
              },
            ],
          },
        ]),
      );
      const standbyHash = hashOf(p, standbyMid);
      await eventually(
        async () =>
          (await p.sql`select 1 from events where mid_hash = ${standbyHash} and outcome = 'standby'`).length > 0,
        15_000,
        'the standby event',
      );
      t.match(await conversationOf(p, user), { status: 'paused', pause_reason: 'handover' });
      const meanwhile = secret('meanwhile');
      t.equal((await say(p, user, meanwhile)).outcome, 'paused');

      const passed = Date.now();
      await p.post(
        batch('page', [
          {
            id: PAGE,
            time: passed,
            messaging: [
              {
                sender: { id: user },
                recipient: { id: PAGE },
                timestamp: passed,
                pass_thread_control: { new_owner_app_id: p.env.FACEBOOK_APP_ID, metadata: 'back to the bot' },
              },
            ],
          },
        ]),
      );
      await eventually(async () => (await conversationOf(p, user)).status === 'active', 15_000, 'the pause to end');
      const current = secret('bot, are you back?');
      t.equal((await say(p, user, current)).outcome, 'replied');
      t.equal(sendsTo(p, user).length, 1, 'one reply: to the message after control came back');
      const request = p.gemini.calls.find((c) => c.userText.endsWith(current));
      t.same(
        request?.contents,
        [{ role: 'user', text: `${inStandby}${meanwhile}${current}` }],
        'the unanswered messages were kept for memory',
      );
    },
  );

  await t.test('operator routes: list, read, pause, resume, erase, and their errors', async (t) => {
    const user = userId(7);
    p.gemini.setReply(secret('route answer'));
    const question = secret('route question');
    await say(p, user, question);
    const conv = await conversationOf(p, user);
    t.same(Object.keys(conv).sort(), [
      'channel',
      'id',
      'last_message_at',
      'messages',
      'page_id',
      'pause_reason',
      'paused_until',
      'status',
      'user',
    ]);
    t.match(conv, { channel: 'messenger', page_id: PAGE, user: hashOf(p, user), status: 'active', messages: 1 });
    t.match(conv.id, /^[0-9a-f]{32}$/);
    const id = conv.id as string;

    const read = await call('GET', `/ops/conversations/${id}`);
    t.equal(read.status, 200);
    t.same(
      read.body.turns?.map((x) => [x.from, x.text]),
      [
        ['user', question],
        ['bot', p.graph.sends.filter((s) => s.recipientId === user)[0]?.text],
      ],
    );
    t.ok(read.body.turns?.every((x) => !Number.isNaN(Date.parse(x.at as string))));

    const paused = await call('POST', `/ops/conversations/${id}/pause`, { minutes: 5 });
    t.equal(paused.status, 200);
    t.match(paused.body, { status: 'paused', pause_reason: 'operator' });
    const until = Date.parse(paused.body.paused_until as string) - Date.now();
    t.ok(until > 4 * 60_000 && until <= 5 * 60_000, 'five minutes');
    t.equal((await say(p, user, secret('during operator pause'))).outcome, 'paused');
    const byDefault = await call('POST', `/ops/conversations/${id}/pause`);
    t.equal(byDefault.status, 200, 'no body: HANDOFF_PAUSE_S');
    t.ok(Date.parse(byDefault.body.paused_until as string) - Date.now() > 29 * 60_000);
    t.equal((await call('POST', `/ops/conversations/${id}/resume`)).status, 200);

    const list = await call('GET', '/ops/conversations?limit=2');
    t.equal(list.body.conversations?.length, 2);
    t.type(list.body.next_cursor, 'string');
    const next = await call(
      'GET',
      `/ops/conversations?limit=2&cursor=${encodeURIComponent(list.body.next_cursor as string)}`,
    );
    t.equal(next.status, 200);
    const ids = [...(list.body.conversations ?? []), ...(next.body.conversations ?? [])].map((c) => c.id);
    t.equal(new Set(ids).size, ids.length, 'pages do not overlap');
    const lastSeen = [...(list.body.conversations ?? []), ...(next.body.conversations ?? [])].map((c) =>
      Date.parse(c.last_message_at as string),
    );
    t.same(
      lastSeen,
      [...lastSeen].sort((a, b) => b - a),
      'most recent first',
    );
    const waiting = await call('GET', '/ops/conversations?status=waiting_for_human');
    t.same(
      waiting.body.conversations?.map((c) => c.user),
      [hashOf(p, userId(6))],
    );
    t.same(
      (await call('GET', '/ops/conversations?channel=instagram')).body.conversations?.map((c) => c.channel),
      ['instagram'],
    );

    for (const bad of ['status=sleeping', 'channel=fax', 'limit=0', 'limit=201', 'user=123', 'cursor=bm9wZQ']) {
      const res = await call('GET', `/ops/conversations?${bad}`);
      t.equal(res.status, 400, bad);
    }
    t.equal((await call('GET', '/ops/conversations/not-an-id')).status, 400);
    t.equal((await call('POST', `/ops/conversations/${id}/pause`, { minutes: 0 })).status, 400);
    t.equal((await call('POST', `/ops/conversations/${id}/pause`, { minutes: 'ten' })).status, 400);
    t.equal((await call('POST', `/ops/conversations/${id}/pause`, { seconds: 10 })).status, 400);
    t.equal((await call('POST', `/ops/conversations/${id}/pause`, { minutes: 2.5 })).status, 400);
    t.equal((await call('POST', `/ops/conversations/${id}/pause`, [5])).status, 400);
    const unknown = 'f'.repeat(32);
    for (const [method, path] of [
      ['GET', `/ops/conversations/${unknown}`],
      ['POST', `/ops/conversations/${unknown}/pause`],
      ['POST', `/ops/conversations/${unknown}/resume`],
      ['DELETE', `/ops/conversations/${unknown}`],
    ] as const) {
      t.equal((await call(method, path)).status, 404, `${method} ${path}`);
    }

    const erased = await call('DELETE', `/ops/conversations/${id}`);
    t.equal(erased.status, 204);
    t.same((await call('GET', `/ops/conversations/${id}`)).body.turns, [], 'the kept texts are gone');
    const audit = await p.sql<Array<{ action: string }>>`select action from audit_log where target = ${id} order by id`;
    t.same(
      audit.map((a) => a.action),
      [
        'conversation.read',
        'conversation.pause',
        'conversation.pause',
        'conversation.resume',
        'conversation.erase',
        'conversation.read',
      ],
    );
  });

  await t.test('metrics: hand-offs by reason, paused conversations, history length', async (t) => {
    const auth = `Basic ${Buffer.from(`${p.env.ADMIN_USER}:${p.env.ADMIN_PASS}`).toString('base64')}`;
    // Workers add their counts to the shared hash every second.
    const metrics = await eventually(
      async () => {
        const text = await (await fetch(`${p.apiUrl}/metrics`, { headers: { authorization: auth } })).text();
        return text.includes('switchboard_handoffs_total{reason="user_asked"}') ? text : null;
      },
      5000,
      "the workers' counts",
    );
    t.match(metrics, /switchboard_handoffs_total\{reason="staff_replied"\} 4\n/);
    t.match(metrics, /switchboard_handoffs_total\{reason="user_asked"\} 1\n/);
    t.match(metrics, /switchboard_handoffs_total\{reason="operator"\} 2\n/);
    t.match(metrics, /switchboard_handoffs_total\{reason="handover"\} 1\n/);
    // Users 5 and 9 (staff, 30 min) and 6 (asked for a person) are still paused.
    t.match(metrics, /switchboard_conversations_paused 3\n/);
    const telemetry = (await call('GET', '/ops/telemetry')).body as unknown as {
      conversations: Record<string, unknown>;
    };
    t.match(telemetry.conversations, {
      paused: 3,
      handoffs: { staff_replied: 4, user_asked: 1, operator: 2, handover: 1 },
    });
    t.ok((telemetry.conversations.history_turns_sent as number) > 0);
  });

  await t.test('no kept text in clear in PostgreSQL, Redis, its AOF or the logs', async (t) => {
    const tables = await p.sql<
      Array<{ table_name: string }>
    >`select table_name from information_schema.tables where table_schema = 'public'`;
    let dump = '';
    for (const { table_name } of tables) dump += JSON.stringify(await p.sql`select * from ${p.sql(table_name)}`);
    let redisDump = '';
    for (const key of [...(await scanAll(p.redis, `${p.prefix}*`)), ...(await scanAll(p.redis, `{${p.prefix}}*`))]) {
      const type = await p.redis.type(key);
      const value =
        type === 'string'
          ? await p.redis.get(key)
          : type === 'hash'
            ? await p.redis.hgetall(key)
            : type === 'list'
              ? await p.redis.lrange(key, 0, -1)
              : type === 'set'
                ? await p.redis.smembers(key)
                : type === 'zset'
                  ? await p.redis.zrange(key, 0, -1)
                  : type === 'stream'
                    ? await p.redis.xrange(key, '-', '+')
                    : null;
      redisDump += `${key} ${JSON.stringify(value)}\n`;
    }
    t.ok(redisDump.includes(':turns'), 'turns are kept in Redis');
    const logs = p.logs();
    const aof = p.aof();
    t.ok(aof.includes(':turns'), 'the AOF holds the run');
    for (const text of secrets) {
      t.notOk(aof.includes(text), `the Redis AOF holds no "${text}"`);
      t.notOk(dump.includes(text), `PostgreSQL holds no "${text}"`);
      t.notOk(redisDump.includes(text), `Redis holds no "${text}"`);
      t.notOk(logs.includes(text), `the logs hold no "${text}"`);
    }
    for (let i = 1; i <= 10; i++) {
      t.notOk(
        dump.includes(userId(i)) || redisDump.includes(userId(i)) || logs.includes(userId(i)),
        `no raw user id ${i}`,
      );
    }
  });
});
