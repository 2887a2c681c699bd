// Fakes nothing: the switch is stored in a real migrated PostgreSQL database and copied into the real Redis, read from separate connections like separate workers.
import t from 'tap';
import { KillSwitch, killSwitchKey } from '@switchboard/ai';
import { aiSwitchStore, createDb } from '@switchboard/db';
import { testDatabase } from '../helpers/db.js';
import { eventually } from '../helpers/processes.js';
import { testRedis } from '../helpers/redis.js';

const dbh = createDb(await testDatabase(t, 'ai_kill_switch'), { max: 2 });
t.teardown(() => dbh.close());
const store = aiSwitchStore(dbh.db);

// The table holds one row per deployment: each test starts from a deployment that never stored it.
t.beforeEach(async () => {
  await dbh.sql`delete from ai_switch`;
});

t.test('with nothing stored, AI_ENABLED becomes the stored value, and the first writer wins', async (t) => {
  const { redis, prefix } = await testRedis(t, 'ai-ks');
  const key = killSwitchKey(prefix);
  t.equal(await new KillSwitch(redis, key, store, false).setting(), false);
  t.equal(await store.read(), false, 'stored in PostgreSQL');
  t.equal(await redis.get(key), '0', 'and copied into Redis');
  const other = await testRedis(t, 'ai-ks');
  t.equal(
    await new KillSwitch(other.redis, killSwitchKey(other.prefix), store, true).setting(),
    false,
    'another process with AI_ENABLED=true finds the stored value',
  );
});

t.test('a toggle is stored in PostgreSQL and seen by another worker on another connection within 1 s', async (t) => {
  const operator = await testRedis(t, 'ai-ks');
  const worker = await testRedis(t, 'ai-ks');
  const key = killSwitchKey(operator.prefix);
  const control = new KillSwitch(operator.redis, key, store, true);
  const observer = new KillSwitch(worker.redis, key, store, true);
  await control.restore();
  t.equal(await observer.isEnabled(), true, 'the observer has read and cached "on"');

  const toggledAt = Date.now();
  await control.set(false);
  t.equal(await store.read(), false, 'PostgreSQL holds the toggle');
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
  const key = killSwitchKey(prefix);
  const ks = new KillSwitch(redis, key, store, true, 300);
  await ks.restore();
  t.equal(await ks.isEnabled(), true);
  await redis.set(key, '0');
  t.equal(await ks.isEnabled(), true, 'still the cached value right after an outside change');
  await new Promise((r) => setTimeout(r, 350));
  t.equal(await ks.isEnabled(), false, 'read again once the cache is older than cacheMs');
});

t.test('the stored toggle survives a restart and wins over AI_ENABLED', async (t) => {
  const { redis, prefix } = await testRedis(t, 'ai-ks');
  const other = await testRedis(t, 'ai-ks');
  const key = killSwitchKey(prefix);
  await new KillSwitch(redis, key, store, true).set(false);
  t.equal(
    await new KillSwitch(other.redis, key, store, true).isEnabled(),
    false,
    'a fresh instance with AI_ENABLED=true stays off',
  );
  await new KillSwitch(redis, key, store, false).set(true);
  t.equal(
    await new KillSwitch(other.redis, key, store, false).isEnabled(),
    true,
    'a fresh instance with AI_ENABLED=false stays on',
  );
});

t.test('when Redis loses the copy, the switch reads off until PostgreSQL has restored it', async (t) => {
  const { redis, prefix } = await testRedis(t, 'ai-ks');
  const key = killSwitchKey(prefix);
  const operator = new KillSwitch(redis, key, store, true);
  const worker = new KillSwitch(redis, key, store, true, 0);

  await operator.set(false);
  await redis.del(key);
  t.equal(await worker.isEnabled(), false, 'switched off, copy lost, AI_ENABLED=true: still off');
  t.equal(
    await eventually(async () => redis.get(key), 2000, 'the copy restored'),
    '0',
    'restored from PostgreSQL, not from AI_ENABLED',
  );
  t.equal(await worker.isEnabled(), false);
  t.equal(await worker.setting(), false);

  await operator.set(true);
  await redis.del(key);
  t.equal(await worker.isEnabled(), false, 'switched on, copy lost: off for that call (fails closed)');
  t.equal(await eventually(async () => redis.get(key), 2000, 'the copy restored'), '1');
  t.equal(await worker.isEnabled(), true, 'on again once restored');

  await redis.del(key);
  t.equal(await worker.setting(), true, 'setting() waits for PostgreSQL instead of failing closed');
  t.equal(await redis.get(key), '1', 'and restores the copy on the way');
});

t.test('a restore does not overwrite a toggle written meanwhile', async (t) => {
  const { redis, prefix } = await testRedis(t, 'ai-ks');
  const key = killSwitchKey(prefix);
  await store.write(true, async () => {});
  // A restore that read PostgreSQL ("on") just before an operator switched off.
  const racedStore = {
    ...store,
    async readOrInit(initial: boolean) {
      const value = await store.readOrInit(initial);
      await new KillSwitch(redis, key, store, true).set(false);
      return value;
    },
  };
  t.equal(await new KillSwitch(redis, key, racedStore, true, 0).restore(), false, 'the toggle wins');
  t.equal(await redis.get(key), '0');
  t.equal(await store.read(), false);
});
