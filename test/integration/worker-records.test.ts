// The worker's batched hot-path writes against a real PostgreSQL database.
import t from 'tap';
import { createDb } from '@switchboard/db';
import {
  type ArrivalRow,
  createHotWrites,
  READ_EVENTS_SQL,
  recordArrivals,
  recordSendsFinished,
  SENDS_FINISHED_SQL,
  sendsFinishedInput,
} from '../../apps/worker/src/records.js';
import { explainedNodes, testDatabase } from '../helpers/db.js';

const id = (n: number) => n.toString(16).padStart(32, '0');
const arrival = (n: number, over: Partial<ArrivalRow> = {}): ArrivalRow => ({
  eventId: id(n),
  channel: 'messenger',
  pageId: '1',
  senderHash: `user-${n}`,
  midHash: `mid-${n}`,
  type: 'text',
  settled: null,
  eventAt: new Date('2026-11-20T10:00:00Z'),
  receivedAt: new Date('2026-11-20T10:00:01Z'),
  countsAsMessage: true,
  ...over,
});

t.test(
  'arrivals: one statement for many events; users counted once per message; retries only bump attempts',
  async (t) => {
    const dbh = createDb(await testDatabase(t, 'records'), { max: 2 });
    t.teardown(() => dbh.close());
    const first = await recordArrivals(dbh, [
      arrival(1, { senderHash: 'alice' }),
      arrival(2, { senderHash: 'alice' }),
      arrival(3, { senderHash: 'bob', type: 'read', settled: 'recorded', countsAsMessage: false }),
      arrival(4, { senderHash: null, countsAsMessage: false }),
    ]);
    t.same(first, [
      { inserted: true, status: 'processing', outcome: null },
      { inserted: true, status: 'processing', outcome: null },
      { inserted: true, status: 'processed', outcome: 'recorded' },
      { inserted: true, status: 'processing', outcome: null },
    ]);
    const users = await dbh.sql`select sender_hash, message_count from users order by sender_hash`;
    t.same(
      users.map((u) => [u.sender_hash, Number(u.message_count)]),
      [['alice', 2]],
      'two messages of one user in one batch: counted twice, one row; reads do not count',
    );

    const again = await recordArrivals(dbh, [arrival(2, { senderHash: 'alice' }), arrival(5, { senderHash: 'alice' })]);
    t.same(
      again.map((a) => a.inserted),
      [false, true],
    );
    const [alice] = await dbh.sql`select message_count from users where sender_hash = 'alice'`;
    t.equal(Number(alice?.message_count), 3, 'a retried event is not counted again');
    const [ev] = await dbh.sql`select attempts, event_at from events where id = ${id(2)}`;
    t.equal(ev?.attempts, 2);
    t.equal(new Date(ev?.event_at).toISOString(), '2026-11-20T10:00:00.000Z', 'timestamps survive the JSON round trip');

    // A run after a crash may be the first to write the row (the first run answered and recorded
    // nothing before it died): the row starts at that run's number; a later run still counts on.
    await recordArrivals(dbh, [arrival(6, { senderHash: 'dave', attempt: 3 })]);
    await recordArrivals(dbh, [
      arrival(6, { senderHash: 'dave', attempt: 4 }),
      arrival(5, { senderHash: 'alice', attempt: 2 }),
    ]);
    const attempts = await dbh.sql`select id, attempts from events where id in (${id(5)}, ${id(6)}) order by id`;
    t.same(
      attempts.map((e) => e.attempts),
      [2, 4],
      'attempts follow the runs',
    );
  },
);

t.test(
  'sends finished: replies written, events processed with outcome replied, message ids kept in order',
  async (t) => {
    const dbh = createDb(await testDatabase(t, 'records_send'), { max: 2 });
    t.teardown(() => dbh.close());
    await recordArrivals(dbh, [arrival(1), arrival(2)]);
    await dbh.sql`update events set status = 'dead_letter', last_error = 'graph permanent code=10' where id = ${id(2)}`;
    const base = {
      channel: 'messenger',
      pageId: '1',
      path: 'fallback',
      reason: 'kill_switch',
      decideMs: 3,
      endToEndMs: 40,
    };
    await recordSendsFinished(dbh, [
      { ...base, eventId: id(1), senderHash: 'user-1', status: 'sent', parts: 2, messageIds: ['m_a', 'm_b'] },
      { ...base, eventId: id(2), senderHash: 'user-2', status: 'dry_run', parts: 1, messageIds: [] },
    ]);
    const replies = await dbh.sql`select event_id, status, parts, graph_message_ids from replies order by event_id`;
    t.same(
      replies.map((r) => [r.event_id, r.status, r.parts, r.graph_message_ids]),
      [
        [id(1), 'sent', 2, ['m_a', 'm_b']],
        [id(2), 'dry_run', 1, []],
      ],
    );
    const events = await dbh.sql`select status, outcome, last_error from events order by id`;
    t.same(
      events.map((e) => [e.status, e.outcome, e.last_error]),
      [
        ['processed', 'replied', null],
        ['processed', 'replied', null],
      ],
      'a replayed dead letter that was delivered is no longer dead',
    );
  },
);

t.test(
  'an answered event is processing until its send finishes; then one reply row holds the decision and the delivery',
  async (t) => {
    const dbh = createDb(await testDatabase(t, 'records_reply'), { max: 2 });
    t.teardown(() => dbh.close());
    await recordArrivals(dbh, [arrival(1)]);
    const before =
      await dbh.sql`select e.status, e.outcome, (select count(*)::int from replies) as replies from events e`;
    t.same(
      before.map((r) => [r.status, r.outcome, r.replies]),
      [['processing', null, 0]],
      'no reply row before the send',
    );
    // A hold wrote the row first (outbound.ts upsertReply); the finished send completes it, once.
    await dbh.sql`insert into replies (event_id, channel, page_id, sender_hash, path, reason, decide_latency_ms, status) values (${id(1)}, 'messenger', '1', 'user-1', 'ai', 'ai', 120, 'held')`;
    await recordSendsFinished(dbh, [
      {
        channel: 'messenger',
        pageId: '1',
        path: 'ai',
        reason: 'ai',
        decideMs: 120,
        eventId: id(1),
        senderHash: 'user-1',
        status: 'sent',
        parts: 1,
        messageIds: ['m_1'],
        endToEndMs: 30,
      },
    ]);
    const rows =
      await dbh.sql`select e.status, e.outcome, r.status as reply, r.path, r.reason, r.decide_latency_ms, r.graph_message_ids from events e join replies r on r.event_id = e.id`;
    t.same(
      rows.map((r) => [r.status, r.outcome, r.reply, r.path, r.reason, r.decide_latency_ms, r.graph_message_ids]),
      [['processed', 'replied', 'sent', 'ai', 'ai', 120, ['m_1']]],
    );
    const [count] = await dbh.sql`select count(*)::int as n from replies`;
    t.equal(count?.n, 1);
  },
);

t.test(
  'sends finished with the arrival: the event is inserted processed and its user counted, in the same statement',
  async (t) => {
    const dbh = createDb(await testDatabase(t, 'records_fresh'), { max: 2 });
    t.teardown(() => dbh.close());
    // Event 2 is on record already (a run that handed over, or a replay): it is set processed, its
    // user not counted again. Event 3 has no arrival in the row: the update path, as before.
    await recordArrivals(dbh, [arrival(2, { senderHash: 'bob' }), arrival(3, { senderHash: 'carol' })]);
    const base = {
      channel: 'messenger',
      pageId: '1',
      path: 'fallback',
      reason: 'ai_disabled',
      decideMs: 2,
      status: 'sent' as const,
      parts: 1,
      endToEndMs: 25,
    };
    const deferred = (n: number) => {
      const a = arrival(n);
      return { midHash: a.midHash, type: a.type, eventAt: a.eventAt, receivedAt: a.receivedAt, countsAsMessage: true };
    };
    await recordSendsFinished(dbh, [
      { ...base, eventId: id(1), senderHash: 'alice', messageIds: ['m_1'], arrival: deferred(1) },
      { ...base, eventId: id(2), senderHash: 'bob', messageIds: ['m_2'], arrival: deferred(2) },
      { ...base, eventId: id(3), senderHash: 'carol', messageIds: ['m_3'] },
    ]);
    const events =
      await dbh.sql`select id, status, outcome, attempts, mid_hash, type, event_at, processed_at is not null as processed from events order by id`;
    t.same(
      events.map((e) => [
        e.id,
        e.status,
        e.outcome,
        e.attempts,
        e.mid_hash,
        e.type,
        new Date(e.event_at).toISOString(),
        e.processed,
      ]),
      [1, 2, 3].map((n) => [id(n), 'processed', 'replied', 1, `mid-${n}`, 'text', '2026-11-20T10:00:00.000Z', true]),
    );
    const users = await dbh.sql`select sender_hash, message_count from users order by sender_hash`;
    t.same(
      users.map((u) => [u.sender_hash, Number(u.message_count)]),
      [
        ['alice', 1],
        ['bob', 1],
        ['carol', 1],
      ],
      'each user counted once',
    );
    const [n] = await dbh.sql`select count(*)::int as n from replies where status = 'sent'`;
    t.equal(n?.n, 3);
  },
);

t.test('hot writes through the batcher: concurrent jobs share statements, each gets its own row back', async (t) => {
  const dbh = createDb(await testDatabase(t, 'records_hot'), { max: 2 });
  t.teardown(() => dbh.close());
  const writes = createHotWrites(dbh, 1);
  const states = await Promise.all(Array.from({ length: 40 }, (_, i) => writes.arrival(arrival(i + 1))));
  t.equal(states.length, 40);
  t.ok(states.every((s) => s.inserted));
  const [n] = await dbh.sql`select count(*)::int as n from events`;
  t.equal(n?.n, 40);
  // The same event twice at once cannot share a statement (PostgreSQL refuses to upsert a row twice).
  const twice = await Promise.all([writes.arrival(arrival(100)), writes.arrival(arrival(100))]);
  t.same(twice.map((s) => s.inserted).sort(), [false, true]);
});

t.test(
  'an answered message costs two statements, each shared: the read of its row before it is answered, the write after',
  async (t) => {
    // postgres.js's debug hook sees every statement this client sends.
    const statements: string[] = [];
    const dbh = createDb(await testDatabase(t, 'records_count'), {
      max: 2,
      debug: (_conn, query) => statements.push(query),
    });
    t.teardown(() => dbh.close());
    const writes = createHotWrites(dbh, 1);
    await writes.arrival(arrival(1000, { settled: 'recorded' }));
    statements.length = 0;

    const messages = Array.from({ length: 20 }, (_, i) => arrival(i + 1));
    const seen = await Promise.all(messages.map((a) => writes.recorded(a.eventId)));
    t.same(
      seen,
      messages.map(() => null),
      'none on record yet',
    );
    t.same(await writes.recorded(id(1000)), { status: 'processed', outcome: 'recorded' }, 'a recorded event is found');
    const readStatements = statements.length - 1;
    await Promise.all(
      messages.map((a) =>
        writes.sendFinished({
          eventId: a.eventId,
          channel: 'messenger',
          pageId: '1',
          senderHash: a.senderHash as string,
          path: 'fallback',
          reason: 'kill_switch',
          decideMs: 0,
          status: 'sent',
          parts: 1,
          messageIds: ['m'],
          endToEndMs: 1,
          arrival: a,
        }),
      ),
    );
    const writeStatements = statements.length - 1 - readStatements;
    t.equal(readStatements, 1, 'the 20 messages checked PostgreSQL in one read');
    t.equal(writeStatements, 1, 'and were recorded in one write');
    t.same(statements.slice(0, readStatements), [READ_EVENTS_SQL], 'the read is a read');
    t.same(await writes.recorded(id(1)), { status: 'processed', outcome: 'replied' });
  },
);

t.test('sends finished: events are found through their index, not by reading the whole table', async (t) => {
  const dbh = createDb(await testDatabase(t, 'records_plan'), { max: 2 });
  t.teardown(() => dbh.close());
  // A table of some size, as after a few hours of traffic: the planner's choice depends on it.
  await dbh.sql`
    insert into events (id, channel, page_id, sender_hash, type, status, event_at, received_at)
    select lpad(to_hex(i), 32, '0'), 'messenger', '1', 'user-' || i, 'text', 'processing', now(), now() from generate_series(1, 20000) i`;
  const rows = [1, 2, 3].map((n) => ({
    eventId: id(n),
    channel: 'messenger',
    pageId: '1',
    senderHash: `user-${n}`,
    path: 'fallback',
    reason: 'ai_disabled',
    decideMs: 0,
    status: 'sent' as const,
    parts: 1,
    messageIds: [`m-${n}`],
    endToEndMs: 5,
  }));
  // One event answered at its first run (inserted through the primary key) beside the updates.
  const a4 = arrival(20_001);
  rows.push({
    ...rows[0],
    eventId: a4.eventId,
    senderHash: 'user-new',
    arrival: {
      midHash: a4.midHash,
      type: a4.type,
      eventAt: a4.eventAt,
      receivedAt: a4.receivedAt,
      countsAsMessage: true,
    },
  } as (typeof rows)[number]);
  const input = sendsFinishedInput(rows);
  for (const analyzed of [false, true]) {
    if (analyzed) await dbh.sql`analyze events`;
    const [explained] = await dbh.sql.unsafe(`explain (format json) ${SENDS_FINISHED_SQL}`, [input]);
    const scans = explainedNodes(explained)
      .filter((n) => n['Relation Name'] === 'events')
      .map((n) => n['Node Type']);
    t.ok(scans.length > 0, 'the plan touches events');
    t.notOk(
      scans.includes('Seq Scan'),
      `no sequential scan of events (${analyzed ? 'after' : 'before'} ANALYZE): ${scans.join(', ')}`,
    );
  }
  const [readPlan] = await dbh.sql.unsafe(`explain (format json) ${READ_EVENTS_SQL}`, [
    JSON.stringify(rows.map((r) => r.eventId)),
  ]);
  const readScans = explainedNodes(readPlan).filter((n) => n['Relation Name'] === 'events');
  t.same(
    readScans.map((n) => n['Node Type']).filter((type) => type === 'Seq Scan'),
    [],
    'the read before an answer uses the primary key too',
  );
  await recordSendsFinished(dbh, rows);
  const done = await dbh.sql`select id, status, outcome from events where status = 'processed' order by id`;
  t.same(
    done.map((e) => [e.id, e.outcome]),
    [
      [id(1), 'replied'],
      [id(2), 'replied'],
      [id(3), 'replied'],
      [id(20_001), 'replied'],
    ],
    'exactly the four events, no others',
  );
});
