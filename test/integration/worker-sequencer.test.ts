// The conversation sequencer against a real Redis and real BullMQ job hashes: the race in which a
// later event of one delivery is taken by a worker before the earlier one has entered.
import t from 'tap';
import { Queue } from 'bullmq';
import { bullPrefix, inboundJobKeyBase, QUEUES } from '@switchboard/queue';
import { ConversationSequencer, type Predecessor } from '../../apps/worker/src/conversation-lock.js';
import { testRedis } from '../helpers/redis.js';

const id = (n: number) => n.toString(16).padStart(32, '0');

t.test('a later event of one delivery waits for an earlier one that has not entered yet', async (t) => {
  const { redis, prefix } = await testRedis(t, 'sequencer');
  const queue = new Queue(QUEUES.inbound, { connection: redis, prefix: bullPrefix(prefix) });
  t.teardown(() => queue.close());
  const seq = new ConversationSequencer(redis, prefix, inboundJobKeyBase(prefix));
  const conv = 'messenger:1:userhash';
  const ts = 1_700_000_000_000;
  const jobs = await Promise.all([0, 1, 2].map((n) => queue.add('text', { n }, { jobId: `${id(n)}-d1` })));
  const prev = (n: number): Predecessor[] =>
    jobs.slice(0, n).map((j, i) => ({ eventId: id(i), jobId: j.id as string, timestamp: ts + i }));

  // Event 2 gets there first: 0 and 1 are still waiting in the queue, so it must wait.
  t.equal(await seq.enter(conv, id(2), ts + 2, prev(2)), null, 'event 2 waits for its predecessors');
  t.same(
    await redis.zrange(`{${prefix}}:conv:${conv}:pending`, 0, -1),
    [id(0), id(1), id(2)],
    'predecessors are pending on their behalf',
  );
  t.equal(await seq.enter(conv, id(1), ts + 1, prev(1)), null, 'event 1 waits for event 0');
  const owner0 = await seq.enter(conv, id(0), ts);
  t.type(owner0, 'string', 'event 0 runs first');
  await seq.finish(conv, id(0), owner0 as string, { named: true });
  t.equal(
    await seq.enter(conv, id(2), ts + 2, prev(2)),
    null,
    'event 2 still waits for event 1; event 0, done, is not put back',
  );
  t.notOk(await redis.zscore(`{${prefix}}:conv:${conv}:pending`, id(0)));
  const owner1 = await seq.enter(conv, id(1), ts + 1, prev(1));
  t.type(owner1, 'string', 'then event 1');
  await seq.finish(conv, id(1), owner1 as string, { named: true });
  const owner2 = await seq.enter(conv, id(2), ts + 2, prev(2));
  t.type(owner2, 'string', 'then event 2');
  await seq.finish(conv, id(2), owner2 as string, { named: false });
});

t.test('predecessors whose jobs are finished or were never created (duplicates) are not waited for', async (t) => {
  const { redis, prefix } = await testRedis(t, 'sequencer2');
  const queue = new Queue(QUEUES.inbound, { connection: redis, prefix: bullPrefix(prefix) });
  t.teardown(() => queue.close());
  const seq = new ConversationSequencer(redis, prefix, inboundJobKeyBase(prefix));
  const conv = 'instagram:2:userhash';
  const ts = 1_700_000_000_000;
  const finished = await queue.add('text', { n: 0 }, { jobId: `${id(10)}-d2` });
  await redis.hset(`${inboundJobKeyBase(prefix)}:${finished.id}`, 'finishedOn', String(Date.now()));
  const prev: Predecessor[] = [
    { eventId: id(10), jobId: finished.id as string, timestamp: ts },
    // A duplicate in this delivery: BullMQ kept the earlier delivery's job, this id was never created.
    { eventId: id(11), jobId: `${id(11)}-d2`, timestamp: ts + 1 },
  ];
  const owner = await seq.enter(conv, id(12), ts + 2, prev);
  t.type(owner, 'string', 'runs at once');
  t.same(await redis.zrange(`{${prefix}}:conv:${conv}:pending`, 0, -1), [id(12)], 'nothing pending on their behalf');
  await seq.finish(conv, id(12), owner as string, { named: true });
  t.same(await redis.zrange(`{${prefix}}:conv:${conv}:pending`, 0, -1), []);
  t.ok((await redis.pttl(`{${prefix}}:conv:${conv}:done`)) > 0, 'the done set expires');
  const single = await seq.enter('instagram:2:other', id(13), ts);
  await seq.finish('instagram:2:other', id(13), single as string, { named: false });
  t.equal(
    await redis.exists(`{${prefix}}:conv:instagram:2:other:done`),
    0,
    'an event nobody names leaves no done set behind',
  );
});

t.test(
  'the usual case only takes the lock; a later event puts the holder in the pending set, where it keeps its place',
  async (t) => {
    const { redis, prefix } = await testRedis(t, 'sequencer3');
    const seq = new ConversationSequencer(redis, prefix, inboundJobKeyBase(prefix));
    const conv = 'messenger:1:alone';
    const base = `{${prefix}}:conv:${conv}`;
    const ts = 1_700_000_000_000;

    const a = await seq.enter(conv, id(10), ts + 10);
    t.type(a, 'string', 'nobody else in the conversation: it runs');
    t.same(await redis.exists(`${base}:pending`, `${base}:entered`), 0, 'and enters no pending set');
    t.equal(await seq.enter(conv, id(11), ts + 11), null, 'a later event waits while it runs');
    t.same(
      await redis.zrange(`${base}:pending`, 0, -1),
      [id(10), id(11)],
      'the holder is pending on its behalf, first',
    );

    // The holder's process dies: its lock expires before its job runs again.
    await redis.del(`${base}:lock`);
    t.equal(
      await seq.enter(conv, id(11), ts + 11),
      null,
      'the later event still waits: the earlier one keeps its place',
    );
    const again = await seq.enter(conv, id(10), ts + 10);
    t.type(again, 'string', 'the earlier event runs again first');
    await seq.finish(conv, id(10), again as string, { named: false });
    const b = await seq.enter(conv, id(11), ts + 11);
    t.type(b, 'string', 'then the later one');
    await seq.finish(conv, id(11), b as string, { named: false });
    t.equal(await redis.exists(`${base}:pending`, `${base}:entered`, `${base}:lock`), 0, 'nothing left behind');

    // An earlier event arriving while a later one runs (a Meta retry) waits for the lock, then runs.
    const late = await seq.enter(conv, id(21), ts + 21);
    t.equal(await seq.enter(conv, id(20), ts + 20), null, 'it waits for the running one');
    await seq.finish(conv, id(21), late as string, { named: false });
    const early = await seq.enter(conv, id(20), ts + 20);
    t.type(early, 'string', 'and runs when the lock is free');
    await seq.finish(conv, id(20), early as string, { named: false });
  },
);

t.test(
  "a holder keeps the conversation while its work runs, however long; a dead one loses it after the lock's lifetime",
  async (t) => {
    const { redis, prefix } = await testRedis(t, 'sequencer4');
    const lockMs = 400;
    const seq = new ConversationSequencer(redis, prefix, inboundJobKeyBase(prefix), lockMs);
    const ts = 1_700_000_000_000;
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

    const conv = 'messenger:1:slow';
    const owner = (await seq.enter(conv, id(30), ts + 30)) as string;
    t.type(owner, 'string');
    const meanwhile: Array<string | null> = [];
    await seq.hold(conv, owner, async () => {
      // Three lifetimes of the lock: a reply of many parts through a slow Graph.
      for (let i = 0; i < 6; i++) {
        await sleep(lockMs / 2);
        meanwhile.push(await seq.enter(conv, id(31), ts + 31));
      }
    });
    t.same(meanwhile, [null, null, null, null, null, null], 'the next event waits as long as the work runs');
    t.ok((await redis.pttl(`{${prefix}}:conv:${conv}:lock`)) > 0, 'the lock is still held when the work ends');
    await seq.finish(conv, id(30), owner, { named: false });
    const next = await seq.enter(conv, id(31), ts + 31);
    t.type(next, 'string', 'then the next event runs');
    await seq.finish(conv, id(31), next as string, { named: false });

    // A holder that stops renewing — its process died — frees the conversation after the lock's
    // lifetime; the pending set keeps its place, so its job, run again, goes first.
    const dead = 'messenger:1:dead';
    t.type(await seq.enter(dead, id(40), ts + 40), 'string');
    t.equal(await seq.enter(dead, id(41), ts + 41), null, 'a later event waits');
    await sleep(lockMs + 100);
    const again = await seq.enter(dead, id(40), ts + 40);
    t.type(again, 'string', "after the lifetime, the dead holder's event runs again");
    await seq.finish(dead, id(40), again as string, { named: false });
  },
);

t.test(
  'a parked event (its send handed over) keeps its place until forgotten, or until the patience runs out',
  async (t) => {
    const { redis, prefix } = await testRedis(t, 'sequencer5');
    const seq = new ConversationSequencer(redis, prefix, inboundJobKeyBase(prefix), 30_000, 10 * 60_000, 300);
    const ts = 1_700_000_000_000;
    const conv = 'messenger:1:parked';

    const a = (await seq.enter(conv, id(50), ts + 50)) as string;
    await seq.park(conv, id(50), ts + 50, a);
    t.equal(await redis.exists(`{${prefix}}:conv:${conv}:lock`), 0, 'the lock is free');
    t.equal(await seq.enter(conv, id(51), ts + 51), null, 'the next event waits for the parked one');
    await seq.forget(conv, id(50));
    const b = await seq.enter(conv, id(51), ts + 51);
    t.type(b, 'string', 'once its send job forgets it, the next event runs');
    await seq.finish(conv, id(51), b as string, { named: false });

    // A send job that never reports back (its worker died for good) holds nobody for longer than the patience.
    const c = (await seq.enter(conv, id(52), ts + 52)) as string;
    await seq.park(conv, id(52), ts + 52, c);
    t.equal(await seq.enter(conv, id(53), ts + 53), null);
    await new Promise((r) => setTimeout(r, 400));
    t.type(await seq.enter(conv, id(53), ts + 53), 'string', 'after the patience the next event runs');
  },
);
