// Fakes nothing: the kill switch is read and written on the real Redis, from separate connections like separate workers.
import t from 'tap';
import { KillSwitch } from '@switchboard/ai';
import { testRedis } from '../helpers/redis.js';

t.test('with no stored toggle, the initial value (AI_ENABLED) applies', async (t) => {
  const { redis, prefix } = await testRedis(t, 'ai-ks');
  t.equal(await new KillSwitch(redis, `${prefix}:on:ai:enabled`, true).isEnabled(), true);
  t.equal(await new KillSwitch(redis, `${prefix}:off:ai:enabled`, false).isEnabled(), false);
});

t.test('a toggle is seen by another worker on another connection within 1 s', async (t) => {
  const operator = await testRedis(t, 'ai-ks');
  const worker = await testRedis(t, 'ai-ks');
  const key = `${operator.prefix}:ai:enabled`;
  const control = new KillSwitch(operator.redis, key, true);
  const observer = new KillSwitch(worker.redis, key, true);
  t.equal(await observer.isEnabled(), true, 'the observer has read and cached "on"');

  const toggledAt = Date.now();
  await control.set(false);
  t.equal(await control.isEnabled(), false, 'the writer sees its own toggle at once');
  while ((await observer.isEnabled()) && Date.now() - toggledAt < 2000) await new Promise((r) => setTimeout(r, 20));
  const seenAfter = Date.now() - toggledAt;
  t.equal(await observer.isEnabled(), false);
  t.ok(seenAfter < 1000, `seen after ${seenAfter} ms`);

  await control.set(true);
  await new Promise((r) => setTimeout(r, 600));
  t.equal(await observer.isEnabled(), true, 'and back on');
});

t.test('reads are cached for cacheMs, not made per call', async (t) => {
  const { redis, prefix } = await testRedis(t, 'ai-ks');
  const key = `${prefix}:ai:enabled`;
  const ks = new KillSwitch(redis, key, true, 300);
  t.equal(await ks.isEnabled(), true);
  await redis.set(key, '0');
  t.equal(await ks.isEnabled(), true, 'still the cached value right after an outside change');
  await new Promise((r) => setTimeout(r, 350));
  t.equal(await ks.isEnabled(), false, 'read again once the cache is older than cacheMs');
});

t.test('the stored toggle survives a restart and wins over AI_ENABLED', async (t) => {
  const { redis, prefix } = await testRedis(t, 'ai-ks');
  const other = await testRedis(t, 'ai-ks');
  const key = `${prefix}:ai:enabled`;
  await new KillSwitch(redis, key, true).set(false);
  t.equal(await new KillSwitch(other.redis, key, true).isEnabled(), false, 'a fresh instance with AI_ENABLED=true stays off');
  await new KillSwitch(redis, key, false).set(true);
  t.equal(await new KillSwitch(other.redis, key, false).isEnabled(), true, 'a fresh instance with AI_ENABLED=false stays on');
});
