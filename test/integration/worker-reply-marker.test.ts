// The reply-sent marker's scripts on a real Redis, through an auto-pipelined worker connection.
import t from 'tap';
import { createWorkerConnection, SENDING } from '@switchboard/queue';
import { claimPart, defineReplyMarkerScripts, markSent } from '../../apps/worker/src/reply-marker.js';
import { REDIS_URL, testRedis } from '../helpers/redis.js';

t.test('claim and mark: one script call each, mixed freely with other commands in one pipelined batch', async (t) => {
  const { redis: admin, prefix } = await testRedis(t, 'reply-marker');
  const conn = createWorkerConnection(REDIS_URL);
  t.teardown(() => conn.disconnect());
  defineReplyMarkerScripts(conn);
  const key = `${prefix}:sent:${'e'.repeat(32)}`;

  // A batch is already open (the GET) when the scripts are called in the same tick.
  const [, first, again] = await Promise.all([conn.get(`${prefix}:other`), claimPart(conn, key, 0), claimPart(conn, key, 0)]);
  t.same(first, {}, 'nothing there before: part 0 claimed');
  t.same(again, { 0: SENDING }, 'the second claim sees the first and claims nothing');
  await Promise.all([markSent(conn, key, '0', 'm_1', 'done', '1'), conn.incr(`${prefix}:n`)]);
  t.same(await admin.hgetall(key), { 0: 'm_1', done: '1' });
  t.ok((await admin.ttl(key)) > 13 * 24 * 3600, 'the marker expires (14 days)');
  t.same(await claimPart(conn, key, 1), { 0: 'm_1', done: '1' }, 'once done, nothing more is claimed');
  t.notOk(await admin.hexists(key, '1'));
});

t.test('a connection without the scripts is refused with a clear error, not a broken pipeline', async (t) => {
  const conn = createWorkerConnection(REDIS_URL);
  t.teardown(() => conn.disconnect());
  await t.rejects(markSent(conn, 'sbtest-none', 'x', 'y'), /reply-marker scripts are not defined/);
});
