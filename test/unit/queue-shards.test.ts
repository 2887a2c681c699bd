// Queue shards: each shard's hash tag lands in its own part of the slot space, and a conversation's
// jobs and keys route to one shard whoever computes it.
import t from 'tap';
import { CLUSTER_SLOTS, conversationId, parseShardSet, QueueShards, shardTags, slotOf } from '@switchboard/queue';

t.test('one shard keeps the layout that existed before shards: {QUEUE_PREFIX}', async (t) => {
  t.same(shardTags('switchboard', 1), ['switchboard']);
  const shards = new QueueShards('switchboard', 1);
  t.equal(shards.ofJob({ channel: 'messenger', pageId: 'p', eventId: 'ab'.repeat(16), senderHash: 'u' }), 0);
  t.equal(shards.tagOfConversation(conversationId('messenger', 'p', 'u')), 'switchboard');
});

t.test("shard i's tag falls in the i-th equal part of the slot space", async (t) => {
  for (const count of [2, 3, 6, 8, 16, 64, 256]) {
    const tags = shardTags('switchboard', count);
    t.equal(new Set(tags).size, count, `${count}: distinct tags`);
    tags.forEach((tag, i) => {
      const slot = slotOf(tag);
      const from = Math.floor((i * CLUSTER_SLOTS) / count);
      const to = Math.floor(((i + 1) * CLUSTER_SLOTS) / count);
      if (slot < from || slot >= to) t.fail(`${count}: shard ${i} (${tag}) is in slot ${slot}, not ${from}..${to - 1}`);
    });
    // Three primaries with the slots split as `redis-cli --cluster create` splits them: equal shares.
    if (count % 3 === 0) {
      const perPrimary = [0, 0, 0];
      for (const tag of tags) perPrimary[Math.min(2, Math.floor(slotOf(tag) / (CLUSTER_SLOTS / 3)))]! += 1;
      t.same(perPrimary, [count / 3, count / 3, count / 3], `${count}: as many shards on each of three primaries`);
    }
  }
  t.same(shardTags('switchboard', 6), shardTags('switchboard', 6), 'the same tags every time');
  t.throws(() => shardTags('switchboard', 0));
  t.throws(() => shardTags('switchboard', 257));
});

t.test("a conversation's inbound, echo and outbound jobs route to one shard, its keys' shard", async (t) => {
  const shards = new QueueShards('sb', 6);
  const user = 'f'.repeat(64);
  const conv = conversationId('instagram', '1789', user);
  const inbound = { channel: 'instagram', pageId: '1789', eventId: '0'.repeat(32), senderHash: user };
  const echo = {
    channel: 'instagram',
    pageId: '1789',
    eventId: '1'.repeat(32),
    senderHash: 'page-hash',
    userHash: user,
  };
  const outbound = { v: 1, channel: 'instagram', pageId: '1789', eventId: '2'.repeat(32), senderHash: user };
  const shard = shards.ofConversation(conv);
  t.equal(shards.ofJob(inbound), shard);
  t.equal(shards.ofJob(echo), shard, 'an echo routes by its recipient, the user');
  t.equal(shards.ofData(JSON.parse(JSON.stringify(outbound))), shard, "a held send's stored data routes alike");
  t.equal(shards.tagOfConversation(conv), shards.tags[shard]);
});

t.test('conversations spread evenly; events without a user route by event id', async (t) => {
  const shards = new QueueShards('sb', 6);
  const seen = [0, 0, 0, 0, 0, 0];
  for (let i = 0; i < 6000; i += 1)
    seen[shards.ofJob({ channel: 'whatsapp', pageId: 'n', eventId: '', senderHash: `u${i}` })]! += 1;
  for (const n of seen) t.ok(n > 850 && n < 1150, `${n} of 6000 in one shard`);
  const a = 'a'.repeat(32);
  t.equal(
    shards.ofJob({ channel: 'messenger', pageId: 'p', eventId: a, senderHash: null }),
    parseInt('aaaaaaaa', 16) % 6,
  );
  t.equal(shards.ofData({}), 0, 'data without an event id goes to shard 0');
});

t.test('WORKER_SHARDS: indexes and ranges; every shard when empty', async (t) => {
  t.same(parseShardSet(undefined, 4), [0, 1, 2, 3]);
  t.same(parseShardSet('', 4), [0, 1, 2, 3]);
  t.same(parseShardSet('0-3,7', 8), [0, 1, 2, 3, 7]);
  t.same(parseShardSet(' 5 , 1-2 ,2', 8), [1, 2, 5]);
  t.throws(() => parseShardSet('8', 8), /does not exist/);
  t.throws(() => parseShardSet('3-1', 8), /backwards/);
  t.throws(() => parseShardSet('x', 8), /not a shard/);
});
