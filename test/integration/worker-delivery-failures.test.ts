// Fakes nothing: a real PostgreSQL database of the test's own, migrated as in production.
import t from 'tap';
import { createDb } from '@switchboard/db';
import { DELIVERY_FAILURE_SQL, recordDeliveryFailure } from '../../apps/worker/src/delivery-failures.js';
import { explainedNodes, testDatabase } from '../helpers/db.js';

const NUMBER = '109000000000001';
const id = (n: number) => n.toString(16).padStart(32, '0');

t.test('a failed status finds its reply through the message-id index, among many recent replies', async (t) => {
  const dbh = createDb(await testDatabase(t, 'delivery_failures'), { max: 2 });
  t.teardown(() => dbh.close());
  // A day of a busy number's replies: without the index, each failed status would read them all.
  await dbh.sql`
    insert into events (id, channel, page_id, sender_hash, type, status, outcome, event_at, received_at)
    select lpad(to_hex(i), 32, '0'), 'whatsapp', ${NUMBER}, 'user-' || i, 'text', 'processed', 'replied', now(), now()
    from generate_series(1, 20000) i`;
  await dbh.sql`
    insert into replies (event_id, channel, page_id, sender_hash, path, reason, decide_latency_ms, status, graph_message_ids)
    select lpad(to_hex(i), 32, '0'), 'whatsapp', ${NUMBER}, 'user-' || i, 'ai', 'ai', 5, 'sent', array['kept-' || i]
    from generate_series(1, 20000) i`;
  await dbh.sql`analyze replies`;

  const [explained] = await dbh.sql.unsafe(`explain (format json) ${DELIVERY_FAILURE_SQL}`, [
    8,
    131026,
    NUMBER,
    'kept-777',
    'WhatsApp delivery failed',
  ]);
  const scans = explainedNodes(explained).filter(
    (n) => n['Relation Name'] === 'replies' || n['Index Name'] === 'replies_whatsapp_message_ids_idx',
  );
  t.notOk(
    scans.some((n) => n['Node Type'] === 'Seq Scan'),
    `replies are not read one by one: ${scans.map((n) => n['Node Type']).join(', ')}`,
  );
  t.ok(
    scans.some((n) => n['Index Name'] === 'replies_whatsapp_message_ids_idx'),
    'the WhatsApp message-id index finds the reply',
  );

  const failure = {
    pageId: NUMBER,
    errorCode: 131026,
    reason: 'WhatsApp delivery failed: undeliverable (code=131026)',
  };
  t.equal(await recordDeliveryFailure(dbh, { ...failure, keptMessageId: 'kept-777' }), id(777));
  const [reply] = await dbh.sql`select status, error_code from replies where event_id = ${id(777)}`;
  t.same({ ...reply }, { status: 'failed', error_code: 131026 }, 'the reply is failed, with the code');
  const [event] = await dbh.sql`select outcome, last_error, last_error_code from events where id = ${id(777)}`;
  t.same(
    { ...event },
    { outcome: 'delivery_failed', last_error: failure.reason, last_error_code: 131026 },
    'its event says why the user never got it',
  );
  t.equal(
    await recordDeliveryFailure(dbh, { ...failure, keptMessageId: 'kept-none' }),
    null,
    'a message id no reply has: nothing changes',
  );
  const [{ failed }] =
    (await dbh.sql`select count(*)::int as failed from replies where status = 'failed'`) as unknown as [
      { failed: number },
    ];
  t.equal(failed, 1, 'only that reply');
});
