// The reply-sent marker's scripts on a real Redis, through an auto-pipelined worker connection.
import t from 'tap';
import {
  claimPart,
  createWorkerConnection,
  defineSentMarkerScripts,
  markEcho,
  markPart,
  SENDING,
  SENT_DONE_TTL_S,
  SENT_MARKER_TTL_S,
  sentMarkerKey,
} from '@switchboard/queue';
import { REDIS_URL, testRedis } from '../helpers/redis.js';

/** An admin connection, an auto-pipelined worker connection with the scripts, and one marker key. */
async function markerSetup(t: Parameters<typeof testRedis>[0], label: string, event: string) {
  const { redis: admin, prefix } = await testRedis(t, label);
  const conn = createWorkerConnection(REDIS_URL);
  t.teardown(() => conn.disconnect());
  defineSentMarkerScripts(conn);
  return { admin, conn, prefix, key: sentMarkerKey(prefix, event.repeat(32)) };
}

t.test('claim and mark: one script call each, mixed freely with other commands in one pipelined batch', async (t) => {
  const { admin, conn, prefix, key } = await markerSetup(t, 'reply-marker', 'e');

  // A batch is already open (the GET) when the scripts are called in the same tick.
  const [, first, again] = await Promise.all([
    conn.get(`${prefix}:other`),
    claimPart(conn, key, 0),
    claimPart(conn, key, 0),
  ]);
  t.same(first, {}, 'nothing there before: part 0 claimed');
  t.same(again, { 0: SENDING }, 'the second claim sees the first and claims nothing');
  t.ok((await admin.ttl(key)) > SENT_MARKER_TTL_S - 60, 'a claimed marker lives 14 days');
  await Promise.all([markPart(conn, key, 0, 'm_1', true), conn.incr(`${prefix}:n`)]);
  t.same(await admin.hgetall(key), { 0: 'm_1', done: '1' });
  const doneTtl = await admin.ttl(key);
  t.ok(doneTtl > SENT_DONE_TTL_S - 60 && doneTtl <= SENT_DONE_TTL_S, `once done it lives two days (${doneTtl} s)`);
  t.same(await claimPart(conn, key, 1), { 0: 'm_1', done: '1' }, 'once done, nothing more is claimed');
  t.notOk(await admin.hexists(key, '1'));
});

t.test('expiry: unfinished markers live 14 days, done ones two, and an echo lengthens neither', async (t) => {
  const { admin, conn, prefix, key } = await markerSetup(t, 'reply-marker-ttl', 'a');

  await claimPart(conn, key, 0);
  await markPart(conn, key, 0, 'm_0', false);
  await claimPart(conn, key, 1);
  await markEcho(conn, key, 0, 'm_0');
  t.ok((await admin.ttl(key)) > SENT_MARKER_TTL_S - 60, 'part 0 of two sent and echoed: still 14 days');
  await markPart(conn, key, 1, 'm_1', true);
  t.ok((await admin.ttl(key)) <= SENT_DONE_TTL_S, 'the last part cuts it to two days');
  await admin.expire(key, 600);
  await markEcho(conn, key, 1, 'm_1');
  t.same(await admin.hgetall(key), { 0: 'm_0', 1: 'm_1', 'echo:0': 'm_0', 'echo:1': 'm_1', done: '1' });
  t.ok((await admin.ttl(key)) <= 600, 'an echo after done keeps the expiry it found');

  const orphan = sentMarkerKey(prefix, 'b'.repeat(32));
  await markEcho(conn, orphan, 0, 'm_x');
  const orphanTtl = await admin.ttl(orphan);
  t.ok(
    orphanTtl > SENT_DONE_TTL_S - 60 && orphanTtl <= SENT_DONE_TTL_S,
    'an echo that creates the marker gives it two days, never none',
  );
});

t.test('a connection without the scripts is refused with a clear error, not a broken pipeline', async (t) => {
  const conn = createWorkerConnection(REDIS_URL);
  t.teardown(() => conn.disconnect());
  await t.rejects(markEcho(conn, 'sbtest-none', 0, 'y'), /sbMark is not defined on this connection/);
});
