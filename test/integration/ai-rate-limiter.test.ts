// Fakes nothing: the Lua limiter runs on the real Redis, over two separate connections where it matters.
import t from 'tap';
import { AiRateLimiter } from '@switchboard/ai';
import { scanAll, testRedis } from '../helpers/redis.js';

const T0 = 1_700_000_000_000;

t.test('per-user limit: 2 per minute, then rate_limited_user', async (t) => {
  const { redis, prefix } = await testRedis(t, 'ai-rl');
  const limiter = new AiRateLimiter(redis, `${prefix}:ai:rl`, { perMin: 100, perUserPerMin: 2 });
  t.equal(await limiter.tryAcquire('user-a', T0), 'ok');
  t.equal(await limiter.tryAcquire('user-a', T0 + 10), 'ok');
  t.equal(await limiter.tryAcquire('user-a', T0 + 20), 'rate_limited_user');
  t.equal(await limiter.tryAcquire('user-b', T0 + 30), 'ok', 'another user has their own allowance');
});

t.test('the window slides: a call leaves the log exactly 60 s after it was admitted', async (t) => {
  const { redis, prefix } = await testRedis(t, 'ai-rl');
  const limiter = new AiRateLimiter(redis, `${prefix}:ai:rl`, { perMin: 100, perUserPerMin: 2 });
  t.equal(await limiter.tryAcquire('u', T0), 'ok');
  t.equal(await limiter.tryAcquire('u', T0 + 1000), 'ok');
  t.equal(await limiter.tryAcquire('u', T0 + 59_999), 'rate_limited_user');
  t.equal(await limiter.tryAcquire('u', T0 + 60_000), 'ok', 'the T0 call has left the window');
  t.equal(await limiter.tryAcquire('u', T0 + 60_001), 'rate_limited_user', 'T0+1000 and T0+60000 still count');
  t.equal(await limiter.tryAcquire('u', T0 + 61_000), 'ok');
});

t.test('global limit across many users', async (t) => {
  const { redis, prefix } = await testRedis(t, 'ai-rl');
  const limiter = new AiRateLimiter(redis, `${prefix}:ai:rl`, { perMin: 3, perUserPerMin: 2 });
  const verdicts = [];
  for (let i = 0; i < 6; i++) verdicts.push(await limiter.tryAcquire(`user-${i}`, T0 + i));
  t.same(verdicts, ['ok', 'ok', 'ok', 'rate_limited_global', 'rate_limited_global', 'rate_limited_global']);
  t.equal(await limiter.tryAcquire('user-9', T0 + 60_000), 'ok', 'the global window slides too');
});

t.test('the user check comes first, even when the global limit is full as well', async (t) => {
  const { redis, prefix } = await testRedis(t, 'ai-rl');
  const limiter = new AiRateLimiter(redis, `${prefix}:ai:rl`, { perMin: 1, perUserPerMin: 1 });
  t.equal(await limiter.tryAcquire('a', T0), 'ok');
  t.equal(await limiter.tryAcquire('a', T0 + 1), 'rate_limited_user');
  t.equal(await limiter.tryAcquire('b', T0 + 2), 'rate_limited_global');
});

t.test('a call refused by one limit consumes nothing from the other', async (t) => {
  const { redis, prefix } = await testRedis(t, 'ai-rl');
  const keyPrefix = `${prefix}:ai:rl`;
  // Limits belong to the instance and the logs to Redis, so a second instance with other limits
  // reads what the first one left behind.
  const tightGlobal = new AiRateLimiter(redis, keyPrefix, { perMin: 1, perUserPerMin: 5 });
  t.equal(await tightGlobal.tryAcquire('first', T0), 'ok');
  for (let i = 1; i <= 3; i++) t.equal(await tightGlobal.tryAcquire('victim', T0 + i), 'rate_limited_global');
  const tightUser = new AiRateLimiter(redis, keyPrefix, { perMin: 100, perUserPerMin: 2 });
  t.equal(await tightUser.tryAcquire('victim', T0 + 10), 'ok', 'global refusals did not use the user allowance');
  t.equal(await tightUser.tryAcquire('victim', T0 + 11), 'ok');
  t.equal(await tightUser.tryAcquire('victim', T0 + 12), 'rate_limited_user');
  for (let i = 0; i < 5; i++) await tightUser.tryAcquire('victim', T0 + 20 + i);
  // Global log: first + victim×2 = 3; five user refusals must not have been added.
  const countGlobal = new AiRateLimiter(redis, keyPrefix, { perMin: 4, perUserPerMin: 5 });
  t.equal(await countGlobal.tryAcquire('other', T0 + 30), 'ok', 'global had 3 of 4');
  t.equal(await countGlobal.tryAcquire('other2', T0 + 31), 'rate_limited_global', 'global now has 4 of 4');
});

t.test('a limit of 0 means no AI calls', async (t) => {
  const { redis, prefix } = await testRedis(t, 'ai-rl');
  t.equal(
    await new AiRateLimiter(redis, `${prefix}:a`, { perMin: 10, perUserPerMin: 0 }).tryAcquire('u', T0),
    'rate_limited_user',
  );
  t.equal(
    await new AiRateLimiter(redis, `${prefix}:b`, { perMin: 0, perUserPerMin: 10 }).tryAcquire('u', T0),
    'rate_limited_global',
  );
});

t.test('50 parallel acquisitions over two connections: exactly the global limit is admitted', async (t) => {
  const one = await testRedis(t, 'ai-rl');
  const two = await testRedis(t, 'ai-rl');
  const keyPrefix = `${one.prefix}:ai:rl`;
  const limits = { perMin: 10, perUserPerMin: 2 };
  const workers = [new AiRateLimiter(one.redis, keyPrefix, limits), new AiRateLimiter(two.redis, keyPrefix, limits)];
  const verdicts = await Promise.all(
    Array.from({ length: 50 }, (_, i) => workers[i % 2]!.tryAcquire(`user-${i % 25}`)),
  );
  t.equal(verdicts.filter((v) => v === 'ok').length, 10);
  t.equal(
    verdicts.filter((v) => v === 'rate_limited_global').length +
      verdicts.filter((v) => v === 'rate_limited_user').length,
    40,
  );
});

t.test('parallel calls of one user over two connections never exceed the per-user limit', async (t) => {
  const one = await testRedis(t, 'ai-rl');
  const two = await testRedis(t, 'ai-rl');
  const keyPrefix = `${one.prefix}:ai:rl`;
  const limits = { perMin: 100, perUserPerMin: 2 };
  const workers = [new AiRateLimiter(one.redis, keyPrefix, limits), new AiRateLimiter(two.redis, keyPrefix, limits)];
  const verdicts = await Promise.all(Array.from({ length: 20 }, (_, i) => workers[i % 2]!.tryAcquire('same-user')));
  t.equal(verdicts.filter((v) => v === 'ok').length, 2);
  t.equal(verdicts.filter((v) => v === 'rate_limited_user').length, 18);
});

t.test('Redis clock by default; every key it writes expires within the 60 s window', async (t) => {
  const { redis, prefix } = await testRedis(t, 'ai-rl');
  const limiter = new AiRateLimiter(redis, `${prefix}:ai:rl`, { perMin: 10, perUserPerMin: 2 });
  t.equal(await limiter.tryAcquire('u'), 'ok');
  t.equal(await limiter.tryAcquire('u'), 'ok');
  t.equal(await limiter.tryAcquire('u'), 'rate_limited_user');
  const keys = await scanAll(redis, `${prefix}:ai:rl*`);
  t.equal(keys.length, 2, 'one global and one user log');
  for (const key of keys) {
    const ttl = await redis.pttl(key);
    t.ok(ttl > 0 && ttl <= 60_000, `${key} expires within 60 s`);
    t.notMatch(key, /^\{/, 'keys start with the prefix');
    t.match(key, /\{ai-rl\}/, 'hash-tagged for Redis Cluster');
  }
});
