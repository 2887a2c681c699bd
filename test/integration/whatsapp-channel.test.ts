// Fakes Meta's Graph API (a loopback HTTP server answering the WhatsApp Cloud API's messages
// endpoint, its errors, debug_token and a Business Account's subscribed_apps): the real one is unreachable and cannot be made to fail on
// demand. The API and worker are the real processes; PostgreSQL, Redis and BullMQ are real.
import { createHmac } from 'node:crypto';
import t from 'tap';
import { Redis } from 'ioredis';
import { DEFAULT_FALLBACK_REPLY, DEFAULT_TEXT_ONLY_REPLY } from '@switchboard/config';
import { dedupKey } from '@switchboard/queue';
import { countersKey } from '@switchboard/observability';
import { eventually } from '../helpers/processes.js';
import { startPipeline } from '../helpers/pipeline.js';
import { signedRequest } from '../helpers/sign.js';

const PHONE = '400000000000071';
const HELD_PHONE = '400000000000072';
const RESTRICTED_PHONE = '400000000000073';
/** The WhatsApp Business Account every test webhook names (`entry[].id`). */
const WABA = '500000000000071';
const DEFAULT_TOKEN = 'test-wa-token-default';
const PROFILE_NAME = 'Zelinda Quarterhouse';
const DAY_MS = 24 * 3600 * 1000;
let seq = 0;

type Value = Record<string, unknown>;

/** A Cloud API webhook body: one change of the `messages` field for the phone number. */
function whatsapp(value: Value, phoneNumberId = PHONE) {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: WABA,
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550009999', phone_number_id: phoneNumberId },
              ...value,
            },
          },
        ],
      },
    ],
  };
}

function userMessage(from: string, message: Value, phoneNumberId = PHONE) {
  const id = `wamid.TESTWA${++seq}x${Date.now()}`;
  const body = whatsapp(
    {
      contacts: [{ profile: { name: PROFILE_NAME }, wa_id: from }],
      messages: [{ from, id, timestamp: String(Math.floor(Date.now() / 1000)), ...message }],
    },
    phoneNumberId,
  );
  return { id, body };
}

t.test('WhatsApp: answered by the Cloud API, errors handled, nothing personal kept in clear', async (t) => {
  const p = await startPipeline(t, 'whatsapp_channel', {
    env: { AI_ENABLED: 'false', WHATSAPP_ACCESS_TOKEN: DEFAULT_TOKEN },
    aof: true,
  });
  const redis = new Redis(p.env.REDIS_URL as string, { maxRetriesPerRequest: null });
  t.teardown(() => redis.disconnect());
  const auth = { authorization: `Basic ${Buffer.from(`${p.env.ADMIN_USER}:${p.env.ADMIN_PASS}`).toString('base64')}` };
  const ops = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${p.apiUrl}${path}`, {
      ...init,
      headers: { ...auth, 'content-type': 'application/json', ...(init.headers ?? {}) },
    });
    // The answers' shapes are the routes' own; the test reads the fields it asserts on.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const eventIdOf = (phone: string, key: string) =>
    createHmac('sha256', p.env.PSID_HASH_SECRET).update(`whatsapp:${phone}:${key}`).digest('hex').slice(0, 32);
  const sendsTo = (user: string) => p.graph.sends.filter((s) => s.recipientId === user);
  const eventRow = async (id: string) =>
    (await p.sql`select status, outcome, type, last_error, last_error_code from events where id = ${id}`)[0];
  const users: string[] = [];
  const texts: string[] = [];
  const user = () => {
    const u = `1555000${String(1000 + users.length)}`;
    users.push(u);
    return u;
  };
  const post = async (body: unknown, path = '/webhook/whatsapp') => {
    const req = signedRequest(p.env.FACEBOOK_APP_SECRET as string, body as never);
    const res = await fetch(`${p.apiUrl}${path}`, { method: 'POST', headers: req.headers, body: req.body });
    t.equal(res.status, 200, 'webhook acknowledged');
    await res.arrayBuffer();
  };

  const first = user();
  let answered: { eventId: string; wamid: string } | undefined;

  await t.test('a text gets one reply, with the exact Cloud API body, and is marked read', async (t) => {
    const text = 'Do you open on Sundays? My number is in my profile.';
    texts.push(text);
    const { id, body } = userMessage(first, { type: 'text', text: { body: text } });
    await post(body);
    const [send] = await p.graph.waitForSends(1, 15_000);
    t.same(send?.body, {
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: first,
      type: 'text',
      text: { body: DEFAULT_FALLBACK_REPLY, preview_url: false },
    });
    t.equal(send?.pageId, PHONE, 'sent from the phone number the message reached');
    t.equal(send?.accessToken, DEFAULT_TOKEN, 'WHATSAPP_ACCESS_TOKEN is the token of a number without its own');
    t.equal(
      send?.appsecretProof,
      createHmac('sha256', p.env.FACEBOOK_APP_SECRET).update(DEFAULT_TOKEN).digest('hex'),
      'appsecret_proof goes with it',
    );
    await eventually(async () => p.graph.reads.length === 1, 10_000, 'mark read');
    t.same(
      p.graph.reads[0],
      { phoneNumberId: PHONE, messageId: id, accessToken: DEFAULT_TOKEN },
      "the user's message is marked read",
    );
    const eventId = eventIdOf(PHONE, id);
    await eventually(async () => (await eventRow(eventId))?.outcome === 'replied', 10_000, 'event recorded as replied');
    const [reply] = await p.sql`select status, graph_message_ids from replies where event_id = ${eventId}`;
    // A wamid carries the recipient's phone number: the reply keeps its HMAC, not the id itself.
    const kept = createHmac('sha256', p.env.PSID_HASH_SECRET)
      .update(send?.messageId ?? '')
      .digest('hex');
    t.same(
      [reply?.status, reply?.graph_message_ids],
      ['sent', [kept]],
      "the reply keeps the HMAC of Meta's message id",
    );
    answered = { eventId, wamid: send?.messageId as string };

    // The same delivery again: a duplicate, remembered for WhatsApp's 7 days of retries.
    const ttl = await redis.pttl(dedupKey(p.prefix, eventId));
    t.ok(ttl > 7 * DAY_MS, `the de-duplication key lives more than 7 days (${Math.round(ttl / DAY_MS)} days)`);
    t.ok(ttl - 3 * DAY_MS > 0, 'so a redelivery 3 days later is still a duplicate');
    await post(body);
    await new Promise((r) => setTimeout(r, 700));
    t.equal(sendsTo(first).length, 1, 'a redelivery is not answered again');
  });

  await t.test(
    'button and list replies are read as their titles; media get the text-only notice; statuses, echoes, reactions and system notices get nothing',
    async (t) => {
      const u = user();
      const before = p.graph.sends.length;
      const button = userMessage(u, {
        type: 'interactive',
        interactive: { type: 'button_reply', button_reply: { id: 'YES', title: 'Yes please' } },
      });
      await post(button.body);
      await eventually(async () => sendsTo(u).length === 1, 15_000, 'the button reply is answered');
      const image = userMessage(u, {
        type: 'image',
        image: { id: '1000000000000071', mime_type: 'image/jpeg', caption: 'my receipt' },
      });
      await post(image.body);
      await eventually(async () => sendsTo(u).length === 2, 15_000, 'the image gets the notice');
      t.equal(sendsTo(u)[1]?.text, DEFAULT_TEXT_ONLY_REPLY, 'media get the text-only notice');
      await eventually(
        async () => (await eventRow(eventIdOf(PHONE, image.id)))?.type === 'image',
        10_000,
        'image recorded',
      );

      const quiet = [
        userMessage(u, { type: 'reaction', reaction: { message_id: button.id, emoji: '👍' } }),
        userMessage(u, { type: 'system', system: { body: 'User changed number', type: 'user_changed_number' } }),
      ];
      for (const m of quiet) await post(m.body);
      const status = whatsapp({
        statuses: [
          {
            id: answered?.wamid,
            status: 'delivered',
            timestamp: String(Math.floor(Date.now() / 1000)),
            recipient_id: first,
          },
        ],
      });
      const echoId = `wamid.TESTECHO${Date.now()}`;
      const staffText = 'A person from the shop writes here';
      texts.push(staffText);
      const echo = {
        object: 'whatsapp_business_account',
        entry: [
          {
            id: WABA,
            changes: [
              {
                field: 'smb_message_echoes',
                value: {
                  messaging_product: 'whatsapp',
                  metadata: { display_phone_number: '15550009999', phone_number_id: PHONE },
                  message_echoes: [
                    {
                      from: '15550009999',
                      to: u,
                      id: echoId,
                      timestamp: String(Math.floor(Date.now() / 1000)),
                      type: 'text',
                      text: { body: staffText },
                    },
                  ],
                },
              },
            ],
          },
        ],
      };
      await post(status);
      await post(echo);
      const echoEvent = eventIdOf(PHONE, echoId);
      await eventually(
        async () => (await eventRow(echoEvent))?.outcome === 'echo_human',
        10_000,
        'echo recorded as a person writing',
      );
      await eventually(
        async () => (await eventRow(eventIdOf(PHONE, quiet[1]?.id as string)))?.outcome === 'recorded',
        10_000,
        'system notice recorded',
      );
      await eventually(
        async () => (await eventRow(eventIdOf(PHONE, quiet[0]?.id as string)))?.outcome === 'recorded',
        10_000,
        'the reaction recorded',
      );
      t.equal((await eventRow(eventIdOf(PHONE, quiet[1]?.id as string)))?.type, 'system');
      await new Promise((r) => setTimeout(r, 500));
      t.equal(p.graph.sends.length - before, 2, 'only the button reply and the image were answered');

      // The echo was a person from the business writing: the conversation is theirs for now.
      const after = userMessage(u, { type: 'text', text: { body: 'thanks, waiting' } });
      texts.push('thanks, waiting');
      await post(after.body);
      await eventually(
        async () => (await eventRow(eventIdOf(PHONE, after.id)))?.outcome === 'paused',
        10_000,
        'recorded while paused',
      );
      t.equal(sendsTo(u).length, 2, 'no reply while a person has taken over');
      const listed = await ops('/ops/conversations?channel=whatsapp&status=paused');
      const userHash = createHmac('sha256', p.env.PSID_HASH_SECRET).update(u).digest('hex');
      t.match(
        listed.body.conversations,
        [{ channel: 'whatsapp', page_id: PHONE, user: userHash, status: 'paused', pause_reason: 'staff_replied' }],
        'the conversation is the number and the hashed wa_id',
      );
    },
  );

  await t.test('131047 is dead-lettered with its reason; 130429 is retried and delivered once', async (t) => {
    const late = user();
    p.graph.failNextSends({ status: 400, code: 131047, message: 'Re-engagement message' });
    const m = userMessage(late, { type: 'text', text: { body: 'hello after a long time' } });
    texts.push('hello after a long time');
    await post(m.body);
    const eventId = eventIdOf(PHONE, m.id);
    const row = await eventually(
      async () => {
        const r = await eventRow(eventId);
        return r?.status === 'dead_letter' ? r : null;
      },
      20_000,
      'dead-lettered',
    );
    t.equal(row.last_error_code, 131047);
    t.match(row.last_error, /24-hour customer service window closed/);
    const detail = await ops(`/ops/events/${eventId}`);
    t.equal(detail.body.last_error_code, 131047, '/ops/events/:id shows the code');
    t.match(detail.body.last_error, /24-hour customer service window closed/, 'and the reason');
    t.equal(sendsTo(late).length, 0);

    const busy = user();
    p.graph.failNextSends({ status: 400, code: 130429, message: 'Rate limit hit' });
    const attempts = () =>
      p.graph.requests.filter(
        (r) => r.method === 'POST' && r.path === `/${p.env.GRAPH_API_VERSION ?? 'v25.0'}/${PHONE}/messages`,
      ).length;
    const before = attempts();
    texts.push('are you there');
    await post(userMessage(busy, { type: 'text', text: { body: 'are you there' } }).body);
    await eventually(async () => sendsTo(busy).length === 1, 40_000, 'delivered after the rate limit');
    await new Promise((r) => setTimeout(r, 700));
    t.equal(sendsTo(busy).length, 1, 'delivered once');
    // One refused send, one delivered send, one mark-read.
    t.equal(attempts() - before, 3, 'retried once');
  });

  await t.test("131048 holds the number's sends until an operator registers its token again", async (t) => {
    const reg = await ops(`/ops/pages/${RESTRICTED_PHONE}`, {
      method: 'PUT',
      body: JSON.stringify({ access_token: 'test-wa-token-restricted', channel: 'whatsapp' }),
    });
    t.equal(reg.status, 201);
    const sendAttempts = () =>
      p.graph.requests.filter(
        (r) => r.method === 'POST' && r.path === `/${p.env.GRAPH_API_VERSION ?? 'v25.0'}/${RESTRICTED_PHONE}/messages`,
      ).length - p.graph.reads.filter((r) => r.phoneNumberId === RESTRICTED_PHONE).length;
    const replyStatus = async (id: string) =>
      (await p.sql`select status from replies where event_id = ${eventIdOf(RESTRICTED_PHONE, id)}`)[0]?.status;

    const flagged = user();
    p.graph.failNextSends({ status: 400, code: 131048, message: 'Spam rate limit hit' });
    const spam = userMessage(flagged, { type: 'text', text: { body: 'hello again' } }, RESTRICTED_PHONE);
    texts.push('hello again');
    await post(spam.body);
    await eventually(async () => (await replyStatus(spam.id)) === 'held', 20_000, 'the first reply held');
    t.equal(sendAttempts(), 1, 'Graph refused one send');
    const alert = p
      .logs()
      .split('\n')
      .filter((l) => l.includes('Meta restricted this WhatsApp number'))
      .map((l) => JSON.parse(l) as { level: number | string; code: number });
    t.match(alert, [{ code: 131048 }], 'one alert line');
    t.ok(alert[0] && (alert[0].level === 50 || alert[0].level === 'error'), 'at error level');
    // Counters reach Redis in the worker's next flush.
    await eventually(
      async () => (await redis.hget(countersKey(p.prefix), 'send_alerts{channel="whatsapp",code="131048"}')) === '1',
      10_000,
      'the alert counted',
    );

    const second = user();
    const later = userMessage(second, { type: 'text', text: { body: 'is anyone there' } }, RESTRICTED_PHONE);
    texts.push('is anyone there');
    await post(later.body);
    await eventually(async () => (await replyStatus(later.id)) === 'held', 20_000, 'the second reply held');
    t.equal(sendAttempts(), 1, 'the second reply is held without calling Graph');

    const listed = (await ops('/ops/pages')).body.pages.find(
      (x: { page_id: string }) => x.page_id === RESTRICTED_PHONE,
    );
    t.match(
      listed,
      { token_status: 'unknown', monitoring_status: 'critical', restricted_reason: /spam rate limit/, held_sends: 2 },
      '/ops/pages shows the number restricted, and why',
    );
    const refresh = (await ops('/ops/token-refresh-status')).body.refresh_monitoring;
    t.match(
      refresh.pages.find((x: { page_id: string }) => x.page_id === RESTRICTED_PHONE),
      { monitoring_status: 'critical', restricted_reason: /spam rate limit/ },
      'so does the refresh status',
    );
    const action = refresh.actions_needed.find(
      (a: { action: string; message: string }) =>
        a.action === 'lift_restriction' && a.message.includes(RESTRICTED_PHONE),
    );
    t.match(action, { priority: 'critical' }, 'with a critical action');
    t.match(action?.instructions?.[0], /^Meta restricted this number: check WhatsApp Manager's account quality page/);
    t.match(action?.instructions?.[1], new RegExp(`PUT /ops/pages/${RESTRICTED_PHONE}`));

    // The daily check finds the token valid: that is no reason to send from a restricted number.
    p.graph.setTokenInfo('test-wa-token-restricted', {
      is_valid: true,
      expires_at: 0,
      scopes: ['whatsapp_business_messaging'],
      type: 'SYSTEM_USER',
    });
    const check = await ops('/ops/tokens/check', { method: 'POST', body: '{}' });
    t.equal(check.status, 200);
    t.equal(sendAttempts(), 1, 'the token check releases nothing');

    const put = await ops(`/ops/pages/${RESTRICTED_PHONE}`, {
      method: 'PUT',
      body: JSON.stringify({ access_token: 'test-wa-token-restricted', channel: 'whatsapp' }),
    });
    t.equal(put.status, 200);
    await eventually(
      async () => sendsTo(flagged).length === 1 && sendsTo(second).length === 1,
      30_000,
      'both released',
    );
    await eventually(
      async () => (await replyStatus(spam.id)) === 'sent' && (await replyStatus(later.id)) === 'sent',
      10_000,
      'recorded as sent',
    );
    await new Promise((r) => setTimeout(r, 500));
    t.equal(sendAttempts(), 3, 'each went out once');
    const after = (await ops('/ops/pages')).body.pages.find((x: { page_id: string }) => x.page_id === RESTRICTED_PHONE);
    t.match(after, { restricted_reason: null, held_sends: 0 }, 'the restriction is lifted');
  });

  await t.test("the token check restores a WhatsApp Business Account's dropped subscription", async (t) => {
    // The number's webhooks above named its Business Account; the API recorded it for the number.
    await eventually(
      async () => (await p.sql`select waba_id from pages where page_id = ${RESTRICTED_PHONE}`)[0]?.waba_id === WABA,
      10_000,
      'the business account recorded',
    );
    const listed = (await ops('/ops/pages')).body.pages.find(
      (x: { page_id: string }) => x.page_id === RESTRICTED_PHONE,
    );
    t.equal(listed?.waba_id, WABA, '/ops/pages shows it');
    const subscribes = () =>
      p.graph.requests.filter(
        (r) => r.method === 'POST' && r.path === `/${p.env.GRAPH_API_VERSION ?? 'v25.0'}/${WABA}/subscribed_apps`,
      ).length;

    const before = subscribes();
    p.graph.setBusinessAccountApps(WABA, ['100000000000555']);
    const dropped = await ops('/ops/tokens/check', { method: 'POST', body: '{}' });
    t.equal(dropped.status, 200);
    t.equal(dropped.body.check.resubscribed, 1, 'counted as a resubscription');
    t.equal(subscribes() - before, 1, 'subscribed_apps posted once');
    t.equal(p.graph.businessAccountApps(WABA).length, 2, "our app subscribed, the other app's left alone");
    const restored = dropped.body.refresh_monitoring.actions_needed.find(
      (a: { action: string; message: string }) =>
        a.action === 'webhook_subscription_restored' && a.message.includes(RESTRICTED_PHONE),
    );
    t.ok(restored, 'the refresh status says the subscription was restored');

    p.graph.setBusinessAccountApps(WABA, [p.env.FACEBOOK_APP_ID as string]);
    const intact = await ops('/ops/tokens/check', { method: 'POST', body: '{}' });
    t.equal(intact.body.check.resubscribed, 0, 'an intact subscription is left alone');
    t.equal(subscribes() - before, 1, 'and not posted again');
  });

  await t.test("190 holds the number's sends; a new token registered for it releases them once", async (t) => {
    const held = user();
    const reg = await ops(`/ops/pages/${HELD_PHONE}`, {
      method: 'PUT',
      body: JSON.stringify({ access_token: 'test-wa-token-old', channel: 'whatsapp' }),
    });
    t.equal(reg.status, 201);
    p.graph.failSendsForToken('test-wa-token-old', { status: 401, code: 190, subcode: 463 });
    const m = userMessage(held, { type: 'text', text: { body: 'anyone?' } }, HELD_PHONE);
    await post(m.body);
    const replyStatus = async () =>
      (await p.sql`select status from replies where event_id = ${eventIdOf(HELD_PHONE, m.id)}`)[0]?.status;
    await eventually(async () => (await replyStatus()) === 'held', 20_000, 'held');
    const listed = (await ops('/ops/pages')).body.pages.find((x: { page_id: string }) => x.page_id === HELD_PHONE);
    t.match(
      listed,
      { channel: 'whatsapp', token_status: 'invalid', held_sends: 1 },
      '/ops/pages shows the number held',
    );
    const refresh = (await ops('/ops/token-refresh-status')).body.refresh_monitoring;
    t.ok(
      refresh.pages.some(
        (x: { page_id: string; channel: string }) => x.page_id === HELD_PHONE && x.channel === 'whatsapp',
      ),
      'the refresh status lists the number',
    );
    t.equal(sendsTo(held).length, 0);

    p.graph.setTokenInfo('test-wa-token-new', {
      is_valid: true,
      expires_at: 0,
      scopes: ['whatsapp_business_messaging'],
      type: 'SYSTEM_USER',
    });
    const put = await ops(`/ops/pages/${HELD_PHONE}`, {
      method: 'PUT',
      body: JSON.stringify({ access_token: 'test-wa-token-new', channel: 'whatsapp' }),
    });
    t.equal(put.status, 200);
    await eventually(async () => sendsTo(held).length === 1, 30_000, 'released');
    t.equal(sendsTo(held)[0]?.accessToken, 'test-wa-token-new');
    await eventually(async () => (await replyStatus()) === 'sent', 10_000, 'recorded as sent');

    // WHATSAPP_ACCESS_TOKEN lacks the messaging permission: the check says so, by the variable's name.
    p.graph.setTokenInfo(DEFAULT_TOKEN, {
      is_valid: true,
      expires_at: 0,
      scopes: ['whatsapp_business_management'],
      type: 'SYSTEM_USER',
    });
    const check = await ops('/ops/tokens/check', { method: 'POST', body: '{}' });
    const mine = check.body.refresh_monitoring.pages.find((x: { page_id: string }) => x.page_id === HELD_PHONE);
    t.match(
      mine,
      { channel: 'whatsapp', token_status: 'valid', scopes_ok: true },
      'the token check wants whatsapp_business_messaging',
    );
    const fallback = check.body.refresh_monitoring.pages.find(
      (x: { page_id: string }) => x.page_id === 'default-whatsapp',
    );
    t.match(
      fallback,
      { channel: 'whatsapp', token_status: 'valid', scopes_ok: false },
      'the default WhatsApp token is checked too',
    );
    t.ok(
      check.body.refresh_monitoring.actions_needed.some(
        (a: { action: string; message: string }) =>
          a.action === 'grant_permissions' &&
          a.message.includes('WHATSAPP_ACCESS_TOKEN') &&
          a.message.includes('whatsapp_business_messaging'),
      ),
      'and the missing permission is an action needed',
    );
    t.notOk(
      p.graph.requests.some((r) => r.path.endsWith(`${HELD_PHONE}/subscribed_apps`)),
      "a phone number's id is not asked for subscriptions",
    );
    await new Promise((r) => setTimeout(r, 500));
    t.equal(sendsTo(held).length, 1, 'sent once');
  });

  await t.test('a later failed status is recorded on the reply it concerns', async (t) => {
    if (!answered) throw new Error('first test did not answer');
    const failed = whatsapp({
      statuses: [
        {
          id: answered.wamid,
          status: 'failed',
          timestamp: String(Math.floor(Date.now() / 1000)),
          recipient_id: first,
          errors: [
            {
              code: 131026,
              title: 'Message undeliverable',
              message: 'Message undeliverable',
              error_data: { details: 'Message Undeliverable.' },
            },
          ],
        },
      ],
    });
    await post(failed);
    const row = await eventually(
      async () => {
        const r = await eventRow(answered?.eventId as string);
        return r?.outcome === 'delivery_failed' ? r : null;
      },
      15_000,
      'failure on the event',
    );
    t.equal(row.last_error_code, 131026);
    const detail = await ops(`/ops/events/${answered.eventId}`);
    t.match(detail.body, {
      outcome: 'delivery_failed',
      last_error_code: 131026,
      last_error: /undeliverable/,
      reply: { status: 'failed', error_code: 131026 },
    });
    await eventually(
      async () =>
        (await fetch(`${p.apiUrl}/metrics`, { headers: auth }).then((r) => r.text())).includes(
          'switchboard_whatsapp_delivery_failures_total{code="131026"} 1',
        ),
      10_000,
      'counted in the metrics',
    );
  });

  await t.test(
    'no phone number, profile name or text in clear in PostgreSQL, Redis, its AOF or the logs',
    async (t) => {
      const tables = (await p.sql`select table_name from information_schema.tables where table_schema = 'public'`).map(
        (r) => r.table_name as string,
      );
      let pg = '';
      for (const table of tables) pg += JSON.stringify(await p.sql.unsafe(`select * from "${table}"`));
      t.ok(pg.length > 1000, `${tables.length} tables read`);
      const keys: string[] = [];
      for (const pattern of [`${p.prefix}*`, `{${p.prefix}}*`]) keys.push(...(await redis.keys(pattern)));
      let rd = '';
      for (const key of keys) {
        const type = await redis.type(key);
        rd += key;
        if (type === 'string') rd += await redis.get(key);
        else if (type === 'hash') rd += JSON.stringify(await redis.hgetall(key));
        else if (type === 'list') rd += JSON.stringify(await redis.lrange(key, 0, -1));
        else if (type === 'set') rd += JSON.stringify(await redis.smembers(key));
        else if (type === 'zset') rd += JSON.stringify(await redis.zrange(key, 0, -1));
        else if (type === 'stream') rd += JSON.stringify(await redis.xrange(key, '-', '+'));
      }
      t.ok(keys.length > 10, `${keys.length} Redis keys read`);
      const logs = p.logs();
      for (const [where, content] of [
        ['PostgreSQL', pg],
        ['Redis', rd],
        ['the Redis AOF', p.aof()],
        ['the logs', logs],
      ] as const) {
        // Message ids too: a real wamid is base64 that carries the phone number.
        const wamids = p.graph.sends.map((x) => x.messageId).filter((id) => id.startsWith('wamid.'));
        for (const secret of [...users, PROFILE_NAME, ...texts, 'my receipt', ...wamids])
          t.notOk(content.includes(secret), `${where} holds no ${JSON.stringify(secret.slice(0, 16))} in clear`);
      }
      t.match(logs, /WhatsApp could not deliver a reply/, 'the failed status is logged (without the number)');
    },
  );
});
