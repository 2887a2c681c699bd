// Fakes nothing: the instructions store and a worker's cache of it on a real PostgreSQL database
// and a real Redis (its own key prefix).
import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { createDb } from '@switchboard/db';
import { InstructionsCache, instructionsVersionKey, PageInstructionsStore } from '@switchboard/pages';
import { Sealer } from '@switchboard/privacy';
import { testDatabase } from '../helpers/db.js';
import { deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

/** A database, a Redis prefix and a sealer of the test's own, removed at its end. */
async function setUp(t: Test, label: string) {
  const databaseUrl = await testDatabase(t, label);
  const { redis } = await testRedis(t, 'instructions-cache');
  const prefix = uniquePrefix('instructions');
  t.teardown(() => deletePrefix(redis, prefix));
  const dbh = createDb(databaseUrl, { max: 1 });
  t.teardown(() => dbh.close());
  return { redis, prefix, dbh, sealer: new Sealer(randomBytes(32)) };
}

t.test("a worker's cache: read once per version, the default for pages without their own", async (t) => {
  const { redis, prefix, dbh, sealer } = await setUp(t, 'instructions_cache');
  const api = new PageInstructionsStore({ db: dbh.db, redis, prefix, sealer, defaultInstructions: 'the default' });

  // The worker's store counts its database reads.
  let reads = 0;
  const workerStore = new PageInstructionsStore({
    db: dbh.db,
    redis,
    prefix,
    sealer,
    defaultInstructions: 'the default',
  });
  const own = workerStore.own.bind(workerStore);
  workerStore.own = (pageId) => {
    reads++;
    return own(pageId);
  };
  const unreadable: string[] = [];
  const cache = new InstructionsCache({
    store: workerStore,
    redis,
    prefix,
    onUnreadable: (pageId) => unreadable.push(pageId),
  });

  t.equal(await cache.forPage('1'), 'the default');
  t.equal(await cache.forPage('1'), 'the default');
  t.equal(reads, 1, 'one database read for two replies');

  await api.set('1', 'page one');
  t.equal(await cache.forPage('1'), 'page one', 'the next reply after a change sees it');
  t.equal(await cache.forPage('2'), 'the default');
  t.equal(await cache.forPage('1'), 'page one');
  t.equal(reads, 3);

  await api.set('1', '');
  t.equal(await cache.forPage('1'), 'the default', 'removed: the default again');

  // A blob no configured key opens (the key was changed without ENCRYPTION_KEY_PREVIOUS).
  await new PageInstructionsStore({ db: dbh.db, redis, prefix, sealer: new Sealer(randomBytes(32)) }).set(
    '3',
    'sealed with another key',
  );
  t.equal(await cache.forPage('3'), 'the default', 'that page gets the default rather than failing every reply');
  t.same(unreadable, ['3'], 'and the worker is told, to log it');

  const none = new InstructionsCache({
    store: new PageInstructionsStore({ db: dbh.db, redis, prefix, sealer }),
    redis,
    prefix,
  });
  t.equal(await none.forPage('2'), undefined, 'no default, no own text: nothing');
});

t.test('replies asking together share one read of the version; a reply after a change sees it', async (t) => {
  const { redis, prefix, dbh, sealer } = await setUp(t, 'instructions_cache_shared');
  const store = new PageInstructionsStore({ db: dbh.db, redis, prefix, sealer, defaultInstructions: 'the default' });
  const reader = redis.duplicate();
  t.teardown(() => reader.disconnect());
  const cache = new InstructionsCache({ store, redis: reader, prefix });
  await cache.forPage('1');

  const watcher = redis.duplicate();
  const monitor = await watcher.monitor();
  t.teardown(() => {
    monitor.disconnect();
    watcher.disconnect();
  });
  let reads = 0;
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (String(args[0]).toLowerCase() === 'get' && args[1] === instructionsVersionKey(prefix)) reads++;
  });
  const texts = await Promise.all(Array.from({ length: 10 }, () => cache.forPage('1')));
  await store.set('1', 'page one');
  t.equal(await cache.forPage('1'), 'page one', 'the reply after the change sees it');
  await new Promise((r) => setTimeout(r, 100));
  t.same(new Set(texts), new Set(['the default']));
  t.equal(reads, 2, 'one read for the ten replies asking together, one for the reply after the change');
});
