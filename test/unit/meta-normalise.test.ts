// Fakes nothing: normaliseWebhook is pure; inputs are realistic Meta payloads from test/fixtures.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { InvalidPayloadError, normaliseWebhook, type NormalisedEvent } from '@switchboard/meta';
import { batch, instagramText, messengerEcho, messengerPostback, messengerText } from '../helpers/sign.js';

const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../fixtures/${name}.json`, import.meta.url), 'utf8'));

const P1 = '100000000000001';
const P2 = '100000000000002';
const U1 = '200000000000001';
const IG = '17840000000000001';
const IGU = '300000000000001';
const T = 1767225600000;

function only(name: string): NormalisedEvent {
  const result = normaliseWebhook(fixture(name));
  if (result.events.length !== 1) throw new Error(`${name}: expected one event, got ${result.events.length}`);
  return result.events[0] as NormalisedEvent;
}

t.test('each fixture becomes the expected event', async (t) => {
  const table: Array<[string, Partial<NormalisedEvent>]> = [
    [
      'messenger-text',
      {
        channel: 'messenger',
        pageId: P1,
        senderId: U1,
        recipientId: P1,
        type: 'text',
        mid: 'm_test-text-0001',
        text: 'Hello, do you open on Sundays?',
        payload: null,
        timestamp: T,
        standby: false,
        dedupKey: `messenger:${P1}:m_test-text-0001`,
      },
    ],
    [
      'messenger-postback',
      {
        type: 'postback',
        mid: 'm_test-postback-0001',
        text: 'Get Started',
        payload: 'GET_STARTED',
        senderId: U1,
        dedupKey: `messenger:${P1}:m_test-postback-0001`,
      },
    ],
    ['messenger-quick-reply', { type: 'quick_reply', text: 'Opening hours', payload: 'HOURS', mid: 'm_test-qr-0001' }],
    ['messenger-attachment', { type: 'attachment', text: null, mid: 'm_test-att-0001' }],
    [
      'messenger-echo',
      {
        type: 'echo',
        senderId: P1,
        recipientId: U1,
        appId: '900000000000001',
        metadata: 'switchboard:reply',
        text: 'We open at 10:00 on Sundays.',
      },
    ],
    ['messenger-read', { type: 'read', mid: null, senderId: U1, dedupKey: `messenger:${P1}:read:${U1}:${T - 5000}` }],
    ['messenger-delivery', { type: 'delivery', mid: null, dedupKey: `messenger:${P1}:delivery:${U1}:${T - 1000}` }],
    ['messenger-reaction', { type: 'reaction', mid: 'm_test-echo-0001', payload: '❤️', text: null }],
    ['messenger-standby', { type: 'text', standby: true, text: 'Is a human there?' }],
    [
      'instagram-text',
      {
        channel: 'instagram',
        pageId: IG,
        senderId: IGU,
        type: 'text',
        text: 'Do you ship to Austria?',
        dedupKey: `instagram:${IG}:aWdfdGVzdC10ZXh0LTAwMDE`,
      },
    ],
    [
      'instagram-deleted',
      { channel: 'instagram', type: 'deleted', mid: 'aWdfdGVzdC10ZXh0LTAwMDE', text: null, timestamp: T + 60000 },
    ],
    ['instagram-story-reply', { channel: 'instagram', type: 'text', text: 'Love this!' }],
    ['instagram-unsupported', { channel: 'instagram', type: 'unsupported', mid: 'aWdfdGVzdC11bnN1cC0wMDAx' }],
    [
      'whatsapp-text',
      {
        channel: 'whatsapp',
        pageId: '400000000000001',
        senderId: '15550000001',
        recipientId: '400000000000001',
        type: 'text',
        mid: 'wamid.TEST0001',
        text: 'Hi there',
        timestamp: 1767225600000,
        dedupKey: 'whatsapp:400000000000001:wamid.TEST0001',
      },
    ],
    [
      'whatsapp-status',
      {
        channel: 'whatsapp',
        type: 'status',
        mid: 'wamid.TEST0002',
        senderId: '15550000001',
        payload: 'delivered',
        timestamp: 1767225660000,
      },
    ],
    [
      'messenger-pass-thread-control',
      {
        type: 'handover',
        senderId: U1,
        payload: 'pass_thread_control',
        appId: '900000000000001',
        text: null,
        standby: false,
      },
    ],
    [
      'messenger-take-thread-control',
      { type: 'handover', senderId: U1, payload: 'take_thread_control', appId: null, text: null, standby: true },
    ],
    [
      'page-feed-change',
      {
        channel: 'messenger',
        pageId: P1,
        senderId: U1,
        recipientId: null,
        type: 'change',
        mid: null,
        text: null,
        payload: 'feed',
        appId: null,
        timestamp: T,
        standby: false,
      },
    ],
  ];
  for (const [name, expected] of table) {
    const event = only(name);
    t.match(event, expected, name);
    t.match(
      event.dedupKey,
      new RegExp(`^${event.channel}:${event.pageId}:`),
      `${name}: key prefixed by channel and page`,
    );
  }
  t.equal(only('messenger-text').appId, null, 'no app id on user messages');
  t.notOk('metadata' in only('messenger-text'), 'metadata only on echoes that carry it');
});

t.test('result envelope fields', async (t) => {
  const r = normaliseWebhook(fixture('messenger-text'));
  t.equal(r.object, 'page');
  t.equal(r.unknownObject, false);
  t.equal(r.skipped, 0);
  const wa = normaliseWebhook(fixture('whatsapp-text'));
  t.equal(wa.object, 'whatsapp_business_account');
  t.equal(wa.events[0]?.channel, 'whatsapp');
});

t.test('a deletion has the same mid as the message but its own dedup key', async (t) => {
  const text = only('instagram-text');
  const deleted = only('instagram-deleted');
  t.equal(deleted.mid, text.mid);
  t.not(deleted.dedupKey, text.dedupKey);
});

t.test('mixed-Page batch: every item becomes an event with its own entry id', async (t) => {
  const r = normaliseWebhook(fixture('batch-two-pages'));
  t.equal(r.skipped, 0);
  t.same(
    r.events.map((e) => [e.pageId, e.type, e.text]),
    [
      [P1, 'text', 'first'],
      [P1, 'text', 'second'],
      [P1, 'read', null],
      [P2, 'text', 'third'],
      [P2, 'postback', 'Menu'],
    ],
  );
  t.equal(new Set(r.events.map((e) => e.dedupKey)).size, r.events.length, 'all keys distinct');
  const postback = r.events[4] as NormalisedEvent;
  t.equal(postback.mid, null, 'older postbacks have no mid');
  t.match(postback.dedupKey, /^messenger:100000000000002:postback:/);
});

t.test('non-ASCII texts survive normalisation intact', async (t) => {
  const raw = readFileSync(new URL('../fixtures/messenger-non-ascii.json', import.meta.url), 'utf8');
  const texts = normaliseWebhook(JSON.parse(raw)).events.map((e) => e.text);
  t.same(texts, [
    'Grüße aus München! Ist die Größe 42 verfügbar? 😊',
    'مرحبا، هل المتجر مفتوح اليوم؟ 👋🏽',
    'Link: https://example.test/a/b 👨‍👩‍👧 日本語もOK。',
  ]);
});

t.test('dedupKey is stable across envelopes and distinct across events', async (t) => {
  const one = messengerText({ pageId: P1, senderId: U1, mid: 'm_test-1', text: 'hi', timestamp: T });
  const key = (body: unknown, i = 0) => normaliseWebhook(body).events[i]?.dedupKey;
  const k1 = key(one);

  // Same event redelivered: alone, later (entry.time differs), or inside a bigger batch.
  const redelivered = structuredClone(one);
  (redelivered.entry[0] as { time: number }).time += 3_600_000;
  t.equal(key(redelivered), k1, 'a redelivery with a new entry.time');
  const other = messengerText({ pageId: P2, senderId: U1, mid: 'm_test-9', text: 'x', timestamp: T });
  t.equal(key(batch('page', [...other.entry, ...one.entry]), 1), k1, 'inside a batch');

  t.not(key(messengerText({ pageId: P1, senderId: U1, mid: 'm_test-2', text: 'hi', timestamp: T })), k1, 'another mid');
  t.not(
    key(messengerText({ pageId: P2, senderId: U1, mid: 'm_test-1', text: 'hi', timestamp: T })),
    k1,
    'another page',
  );
  t.not(
    key(instagramText({ pageId: P1, senderId: U1, mid: 'm_test-1', text: 'hi', timestamp: T })),
    k1,
    'another channel',
  );

  // Events without a mid get derived keys that follow the same rules.
  const pb = (payload: string, ts = T) =>
    key(messengerPostback({ pageId: P1, senderId: U1, title: 'Menu', payload, timestamp: ts }));
  t.equal(pb('MENU'), pb('MENU'));
  t.not(pb('MENU'), pb('HELP'), 'other payload');
  t.not(pb('MENU'), pb('MENU', T + 1), 'other time');

  const read = (watermark: number) =>
    key(
      batch('page', [
        {
          id: P1,
          time: Date.now(),
          messaging: [{ sender: { id: U1 }, recipient: { id: P1 }, timestamp: T, read: { watermark } }],
        },
      ]),
    );
  t.equal(read(5), read(5));
  t.not(read(5), read(6));

  const reaction = (action: string, emoji: string) =>
    key(
      batch('page', [
        {
          id: P1,
          time: T,
          messaging: [
            { sender: { id: U1 }, recipient: { id: P1 }, timestamp: T, reaction: { mid: 'm_x', action, emoji } },
          ],
        },
      ]),
    );
  t.equal(reaction('react', '😮'), reaction('react', '😮'));
  t.not(reaction('react', '😮'), reaction('unreact', '😮'));
  t.not(reaction('react', '😮'), reaction('react', '😢'));

  const delivery = (mids: string[]) =>
    key(
      batch('page', [
        {
          id: P1,
          time: T,
          messaging: [{ sender: { id: U1 }, recipient: { id: P1 }, timestamp: T, delivery: { mids } }],
        },
      ]),
    );
  t.equal(delivery(['m_a', 'm_b']), delivery(['m_b', 'm_a']), 'mid order does not matter');
  t.not(delivery(['m_a']), delivery(['m_b']));

  // Field values cannot forge separators and collide with another event's key.
  const rawReaction = (mid: string, action: string) =>
    key(
      batch('page', [
        {
          id: P1,
          time: T,
          messaging: [
            { sender: { id: U1 }, recipient: { id: P1 }, timestamp: T, reaction: { mid, action, emoji: '😮' } },
          ],
        },
      ]),
    );
  t.not(rawReaction('m_x:react', 'react'), rawReaction('m_x', 'react:react'));
});

t.test('WhatsApp statuses of one message are distinct events', async (t) => {
  const base = fixture('whatsapp-status') as {
    entry: Array<{ changes: Array<{ value: { statuses: Array<Record<string, unknown>> } }> }>;
  };
  const value = base.entry[0]?.changes[0]?.value;
  if (!value) throw new Error('fixture shape');
  const first = value.statuses[0] as Record<string, unknown>;
  value.statuses.push({ ...first, status: 'read' }, { ...first });
  const events = normaliseWebhook(base).events;
  t.equal(events.length, 3);
  t.not(events[0]?.dedupKey, events[1]?.dedupKey, 'delivered vs read');
  t.equal(events[0]?.dedupKey, events[2]?.dedupKey, 'same status twice is a duplicate');
});

t.test('WhatsApp message kinds', async (t) => {
  const wa = (message: Record<string, unknown>) => ({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '500000000000001',
        changes: [
          {
            field: 'messages',
            value: {
              metadata: { phone_number_id: '400000000000001' },
              messages: [{ from: '15550000001', id: 'wamid.X', timestamp: '1767225600', ...message }],
            },
          },
        ],
      },
    ],
  });
  const ev = (m: Record<string, unknown>) => normaliseWebhook(wa(m)).events[0];
  t.match(
    ev({ type: 'image', image: { id: 'media-1', caption: 'look' } }),
    { type: 'image', payload: null, text: null },
    'media: recorded as their kind, the caption not kept',
  );
  t.match(
    ev({
      type: 'interactive',
      interactive: {
        type: 'list_reply',
        list_reply: { id: 'ROW-2', title: 'Opening hours', description: 'when we are open' },
      },
    }),
    { type: 'quick_reply', text: 'Opening hours', payload: 'ROW-2' },
  );
  t.match(
    ev({ type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'YES', title: 'Yes' } } }),
    { type: 'quick_reply', text: 'Yes', payload: 'YES' },
  );
  t.match(ev({ type: 'button', button: { text: 'Stop', payload: 'STOP' } }), {
    type: 'quick_reply',
    text: 'Stop',
    payload: 'STOP',
  });
  t.match(ev({ type: 'location', location: { latitude: 52.5, longitude: 13.4 } }), {
    type: 'location',
    text: null,
    payload: null,
  });
  t.match(
    ev({ type: 'contacts', contacts: [{ name: { formatted_name: 'Someone' }, phones: [{ phone: '+15550000009' }] }] }),
    { type: 'contacts', text: null, payload: null },
  );
  t.match(ev({ type: 'order', order: { catalog_id: 'c1', product_items: [] } }), { type: 'order' });
  t.match(ev({ type: 'sticker', sticker: { id: 'media-2' } }), { type: 'sticker', text: null });
  t.match(
    ev({ type: 'some_future_kind' }),
    { type: 'unsupported', payload: null },
    'a kind newer than the reader is unsupported, not lost',
  );
  t.match(ev({ type: 'reaction', reaction: { message_id: 'wamid.Y', emoji: '👍' } }), {
    type: 'reaction',
    mid: 'wamid.Y',
    payload: '👍',
  });
  t.match(ev({ type: 'unsupported' }), { type: 'unsupported' });
  t.match(ev({ type: 'system', system: { body: 'changed number', type: 'user_changed_number' } }), {
    type: 'system',
    text: null,
  });
  t.equal(normaliseWebhook(wa({ type: 'text', text: { body: 42 } })).skipped, 1, 'a non-string body is skipped');
});

t.test('WhatsApp echoes, failed statuses and account errors', async (t) => {
  const echo = only('whatsapp-echo');
  t.match(
    echo,
    {
      channel: 'whatsapp',
      type: 'echo',
      pageId: '400000000000001',
      senderId: '400000000000001',
      recipientId: '15550000001',
      appId: null,
      text: 'We will call you back',
      mid: 'wamid.TESTECHO1',
    },
    'read like a Messenger echo a person sent',
  );
  const failed = normaliseWebhook(fixture('whatsapp-status-failed')).events;
  t.match(failed, [{ type: 'status', payload: 'failed', mid: 'wamid.TESTREPLY1', errorCode: 131047 }]);
  const errors = normaliseWebhook(fixture('whatsapp-account-error'));
  t.equal(errors.skipped, 0);
  t.match(errors.events, [
    { type: 'error', pageId: '400000000000001', senderId: null, errorCode: 131031, payload: '131031' },
  ]);
  const mixed = normaliseWebhook(fixture('whatsapp-mixed'));
  t.same(
    mixed.events.map((e) => e.type),
    [
      'text',
      'quick_reply',
      'quick_reply',
      'quick_reply',
      'image',
      'location',
      'reaction',
      'unsupported',
      'status',
      'echo',
      'error',
    ],
  );
  t.equal(mixed.skipped, 1, 'one malformed item is skipped, the rest of the batch is read');
  t.notOk(JSON.stringify(mixed.events).includes('Test User'), 'the profile name is never read');
});

t.test('echoes keep their app id so our own sends can be recognised', async (t) => {
  const ours = normaliseWebhook(
    messengerEcho({ pageId: P1, recipientId: U1, mid: 'm_e', text: 'x', appId: '900000000000001', metadata: 'sb' }),
  ).events[0];
  t.match(ours, { type: 'echo', appId: '900000000000001', metadata: 'sb', senderId: P1, recipientId: U1 });
  const human = structuredClone(messengerEcho({ pageId: P1, recipientId: U1, mid: 'm_h', text: 'x', appId: '1' }));
  const msg = (human.entry[0] as { messaging: Array<{ message: Record<string, unknown> }> }).messaging[0]?.message;
  if (msg) delete msg.app_id;
  t.match(normaliseWebhook(human).events[0], { type: 'echo', appId: null });
});

t.test('envelope errors throw InvalidPayloadError; nothing else does', async (t) => {
  for (const bad of [
    null,
    'x',
    42,
    [],
    {},
    { object: 'page' },
    { entry: [] },
    { object: 1, entry: [] },
    { object: 'page', entry: {} },
  ]) {
    t.throws(() => normaliseWebhook(bad), InvalidPayloadError, JSON.stringify(bad));
  }
  t.same(normaliseWebhook({ object: 'page', entry: [] }), {
    object: 'page',
    events: [],
    unknownObject: false,
    skipped: 0,
  });
});

t.test('unknown objects are acknowledged, not processed', async (t) => {
  const r = normaliseWebhook({ object: 'user', entry: [{ id: '1', changes: [] }, { id: '2' }] });
  t.same(r, { object: 'user', events: [], unknownObject: true, skipped: 2 });
  t.equal(normaliseWebhook({ object: 'toString', entry: [] }).unknownObject, true, 'prototype names are not channels');
});

t.test('defensive: malformed items are skipped, their neighbours survive', async (t) => {
  const good = { sender: { id: U1 }, recipient: { id: P1 }, timestamp: T, message: { mid: 'm_ok', text: 'ok' } };
  const items: unknown[] = [
    null,
    42,
    'x',
    [],
    { sender: { id: { nested: true } }, recipient: { id: P1 }, timestamp: T, message: { mid: 'm_1', text: 'a' } },
    { sender: { id: 1.5 }, recipient: { id: P1 }, message: { mid: 'm_2', text: 'a' } },
    { sender: 'someone', recipient: { id: P1 }, message: { mid: 'm_3', text: 'a' } },
    { recipient: { id: P1 }, message: { mid: 'm_4', text: 'a' } },
    { sender: { id: U1 }, recipient: { id: P1 }, message: { mid: 5, text: 'a' } },
    { sender: { id: U1 }, recipient: { id: P1 }, message: { mid: 'm_6', text: { t: 'a' } } },
    { sender: { id: U1 }, recipient: { id: P1 }, message: { mid: 'm_7' } },
    { sender: { id: U1 }, recipient: { id: P1 }, message: 'hello' },
    { sender: { id: U1 }, recipient: { id: P1 }, message_edit: { mid: 'm_8', text: 'edited' } },
    { sender: { id: U1 }, recipient: { id: P1 }, postback: { title: 7 } },
    { sender: { id: U1 }, recipient: { id: P1 }, message: { mid: 'm_9', text: 'q', quick_reply: { payload: ['x'] } } },
    good,
  ];
  const r = normaliseWebhook({
    object: 'page',
    entry: [
      null,
      'entry',
      { id: P1, time: T, messaging: items },
      { id: P2, time: T, messaging: 'not-an-array' },
      { id: { x: 1 }, time: T, messaging: [good, good] },
      { id: P2, time: T },
      {
        id: P2,
        time: T,
        changes: [{ field: 'feed' }, 'x', { field: 'feed', value: { item: 'status', verb: 'add', post_id: 'p_1' } }],
      },
    ],
  });
  t.same(
    r.events.map((e) => [e.type, e.mid]),
    [
      ['text', 'm_ok'],
      ['change', null],
    ],
    'a well-formed change survives its malformed neighbours',
  );
  // 2 bad entries + 15 bad items + 1 non-array messaging + 2 items under a bad page id + 1 empty entry + 2 malformed changes
  t.equal(r.skipped, 2 + 15 + 1 + 2 + 1 + 2);
});

t.test('numeric ids are stringified; unsafe integers are refused', async (t) => {
  const item = (id: unknown) => ({
    object: 'page',
    entry: [
      {
        id: 100000000000001,
        time: T,
        messaging: [{ sender: { id }, recipient: { id: P1 }, timestamp: T, message: { mid: 'm_n', text: 'n' } }],
      },
    ],
  });
  const r = normaliseWebhook(item(200000000000001));
  t.match(r.events[0], { pageId: P1, senderId: U1 });
  t.equal(normaliseWebhook(item(2 ** 60)).events.length, 0, 'would lose precision');
});

t.test('timestamps: item first, then entry.time, then 0', async (t) => {
  const body = (item: Record<string, unknown>, entry: Record<string, unknown> = { time: T + 9 }) => ({
    object: 'page',
    entry: [
      {
        id: P1,
        ...entry,
        messaging: [{ sender: { id: U1 }, recipient: { id: P1 }, message: { mid: 'm_t', text: 't' }, ...item }],
      },
    ],
  });
  t.equal(normaliseWebhook(body({ timestamp: T })).events[0]?.timestamp, T);
  t.equal(normaliseWebhook(body({})).events[0]?.timestamp, T + 9);
  t.equal(normaliseWebhook(body({}, {})).events[0]?.timestamp, 0);
  // A number no job timestamp can be (the worker's schema wants a whole, non-negative one, a date):
  // the next source fills it, so the event is still stored and recorded.
  for (const odd of [-5, 1e20, Number.MAX_VALUE])
    t.equal(normaliseWebhook(body({ timestamp: odd })).events[0]?.timestamp, T + 9, `${odd}: entry.time instead`);
  t.equal(normaliseWebhook(body({ timestamp: T + 0.6 })).events[0]?.timestamp, T + 1, 'a fraction is rounded');
  t.equal(normaliseWebhook(body({ timestamp: -5 }, { time: -7 })).events[0]?.timestamp, 0);
  const dedupKey = (ts: number) =>
    normaliseWebhook(body({ timestamp: ts, message: undefined, postback: { title: 'Go', payload: 'GO' } })).events[0]
      ?.dedupKey;
  t.not(dedupKey(-5), dedupKey(-6), "the item's own value still identifies an event without a mid");
});

t.test('optin and referral', async (t) => {
  const one = (item: Record<string, unknown>) =>
    normaliseWebhook({
      object: 'page',
      entry: [{ id: P1, time: T, messaging: [{ recipient: { id: P1 }, timestamp: T, ...item }] }],
    });
  t.match(one({ sender: { id: U1 }, optin: { type: 'notification_messages', payload: 'OFFERS' } }).events[0], {
    type: 'optin',
    payload: 'OFFERS',
    senderId: U1,
  });
  t.match(one({ optin: { ref: 'checkout', user_ref: 'test-user-ref-1' } }).events[0], {
    type: 'optin',
    senderId: null,
    payload: 'checkout',
  });
  t.equal(one({ optin: { ref: 'checkout' } }).skipped, 1, 'an opt-in nobody made');
  t.match(
    one({ sender: { id: U1 }, referral: { ref: 'SUMMER', source: 'SHORTLINK', type: 'OPEN_THREAD' } }).events[0],
    { type: 'referral', payload: 'SUMMER' },
  );
});

t.test(
  'changes[]: a feed, comment or mention update is one change event, recorded and never carrying text',
  async (t) => {
    const body = fixture('page-feed-change') as {
      entry: Array<{ time: number; changes: Array<{ field: string; value: Record<string, unknown> }> }>;
    };
    const r = normaliseWebhook(body);
    t.equal(r.skipped, 0);
    t.equal(r.events.length, 1);
    const event = r.events[0] as NormalisedEvent;
    t.match(event, { type: 'change', payload: 'feed', senderId: U1, mid: null, text: null, timestamp: T });
    t.match(
      event.dedupKey,
      new RegExp(`^messenger:${P1}:change:feed:[0-9a-f]{64}$`),
      'a derived key: the field and a digest of the value',
    );
    const serialised = JSON.stringify(event);
    t.notMatch(serialised, /test comment/, 'the comment text is not carried');
    t.notMatch(serialised, /Test User/, "nor the author's name");

    // A redelivery (new entry.time, inside a batch) is the same event; another value is another.
    const key = (b: unknown, i = 0) => normaliseWebhook(b).events[i]?.dedupKey;
    const redelivered = structuredClone(body);
    (redelivered.entry[0] as { time: number }).time += 3600;
    t.equal(key(redelivered), event.dedupKey, 'stable across a redelivery');
    t.equal(
      key(
        batch('page', [
          ...messengerText({ pageId: P2, senderId: U1, mid: 'm_b', text: 'x', timestamp: T }).entry,
          ...body.entry,
        ]),
        1,
      ),
      event.dedupKey,
      'inside a batch',
    );
    const edited = structuredClone(body);
    const value = edited.entry[0]?.changes[0]?.value as Record<string, unknown>;
    value.verb = 'edited';
    t.not(key(edited), event.dedupKey, 'another update of the same comment');
    t.not(key({ ...body, object: 'instagram' }), event.dedupKey, 'another channel');

    // No created_time: the entry's time (seconds here, as Meta sends it for non-messaging fields).
    const change = (
      field: string,
      v: Record<string, unknown>,
      entry: Record<string, unknown> = { time: T / 1000 + 7 },
    ) => normaliseWebhook({ object: 'instagram', entry: [{ id: IG, ...entry, changes: [{ field, value: v }] }] });
    t.match(change('mentions', { media_id: '900000000000001', comment_id: '900000000000002' }).events[0], {
      channel: 'instagram',
      pageId: IG,
      type: 'change',
      payload: 'mentions',
      senderId: null,
      timestamp: T + 7000,
    });
    t.equal(
      change('comments', { id: 'c1' }, { time: T + 5 }).events[0]?.timestamp,
      T + 5,
      'a millisecond entry time is kept',
    );
    t.equal(change('comments', { id: 'c1' }, {}).events[0]?.timestamp, 0);
    for (const bad of [-5, 1e300, 'soon'])
      t.equal(
        change('comments', { id: 'c4', created_time: bad }).events[0]?.timestamp,
        T + 7000,
        `a created_time of ${bad} is no date: the entry's time instead`,
      );
    t.match(change('comments', { from: { id: IGU, username: 'test.user' }, id: 'c2', text: 'nice post' }).events[0], {
      type: 'change',
      payload: 'comments',
      senderId: IGU,
      text: null,
    });
    t.equal(
      change('comments', { from: { id: { nested: true } }, id: 'c3' }).events[0]?.senderId,
      null,
      'a malformed author is left out, the change kept',
    );
    t.equal(
      change('messages', { id: 'not-a-message' }).events[0]?.type,
      'change',
      'a messaging field whose value is no messaging item',
    );
  },
);

t.test('changes[]: a messaging item under field "messages" is read exactly like messaging[]', async (t) => {
  const viaMessaging = fixture('instagram-text') as {
    object: string;
    entry: Array<{ id: string; time: number; messaging: unknown[] }>;
  };
  const entry = viaMessaging.entry[0] as { id: string; time: number; messaging: unknown[] };
  const viaChanges = {
    object: 'instagram',
    entry: [{ id: entry.id, time: entry.time, changes: [{ field: 'messages', value: entry.messaging[0] }] }],
  };
  const a = normaliseWebhook(viaMessaging);
  const b = normaliseWebhook(viaChanges);
  t.equal(b.skipped, 0);
  t.same(b.events, a.events, 'the same event, the same dedup key');
  t.match(b.events[0], { type: 'text', text: 'Do you ship to Austria?', senderId: IGU });
  const both = normaliseWebhook(batch('instagram', [...viaMessaging.entry, ...viaChanges.entry]));
  t.equal(both.events.length, 2);
  t.equal(both.events[0]?.dedupKey, both.events[1]?.dedupKey, 'arriving both ways is one event to the ingress');

  // The App Dashboard's test event: seconds as a string.
  const test = normaliseWebhook({
    object: 'instagram',
    entry: [
      {
        id: IG,
        time: T / 1000,
        changes: [
          {
            field: 'messages',
            value: {
              sender: { id: IGU },
              recipient: { id: IG },
              timestamp: String(T / 1000),
              message: { mid: 'm_test-ig-change', text: 'random_text' },
            },
          },
        ],
      },
    ],
  });
  t.match(test.events[0], {
    type: 'text',
    mid: 'm_test-ig-change',
    timestamp: T,
    dedupKey: `instagram:${IG}:m_test-ig-change`,
  });
  const postback = normaliseWebhook({
    object: 'instagram',
    entry: [
      {
        id: IG,
        time: T,
        changes: [
          {
            field: 'messaging_postbacks',
            value: {
              sender: { id: IGU },
              recipient: { id: IG },
              timestamp: T,
              postback: { mid: 'm_test-ig-pb', title: 'Menu', payload: 'MENU' },
            },
          },
        ],
      },
    ],
  });
  t.match(postback.events[0], { type: 'postback', payload: 'MENU', mid: 'm_test-ig-pb' });
});

t.test('changes[]: malformed items are skipped and counted, their neighbours survive', async (t) => {
  const good = {
    field: 'feed',
    value: { item: 'reaction', verb: 'add', post_id: 'p_1', reaction_type: 'like', from: { id: U1 } },
  };
  const items: unknown[] = [
    null,
    42,
    'feed',
    [],
    {},
    { field: 'feed' },
    { value: { item: 'status' } },
    { field: 7, value: {} },
    { field: '', value: {} },
    { field: 'feed', value: 'x' },
    { field: 'feed', value: [] },
    { field: 'feed', value: null },
    {
      field: 'messages',
      value: { sender: { id: { nested: true } }, recipient: { id: IG }, message: { mid: 'm_bad', text: 'a' } },
    },
    { field: 'messages', value: { sender: { id: IGU }, recipient: { id: IG }, message: { mid: 5, text: 'a' } } },
    good,
  ];
  const r = normaliseWebhook({
    object: 'page',
    entry: [
      { id: P1, time: T, changes: items },
      { id: P1, time: T, changes: 'not-an-array' },
      { id: { x: 1 }, time: T, changes: [good, good] },
    ],
  });
  t.same(
    r.events.map((e) => [e.type, e.payload, e.senderId]),
    [['change', 'feed', U1]],
  );
  // 14 bad items + 1 non-array changes + 2 changes under a bad page id
  t.equal(r.skipped, 14 + 1 + 2);
});
