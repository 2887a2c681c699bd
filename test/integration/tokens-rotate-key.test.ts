// Fakes nothing: the real `npm run rotate-key` entry point (node apps/tools/dist/rotate-key.js, so
// run `npx tsc -b` first) against a real PostgreSQL database; tokens and instructions are sealed by
// the real token store and instructions store.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { createDb, pageInstructions, pages } from '@switchboard/db';
import { PageInstructionsStore, pageInstructionsAad, PageTokenStore, pageTokenAad } from '@switchboard/pages';
import { Sealer } from '@switchboard/privacy';
import { testDatabase } from '../helpers/db.js';
import { testEnv } from '../helpers/env.js';
import { startProcess } from '../helpers/processes.js';
import { deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const TOKENS: Record<string, string> = {
  '8001': 'test-rotate-token-a',
  '8002': 'test-rotate-token-b',
  '8003': 'test-rotate-token-c',
};
/** Instructions are kept for pages with and without a token. */
const INSTRUCTIONS: Record<string, string> = {
  '8001': 'Open 9–17, espresso 2 EUR.',
  '8009': 'A dry-run page: bikes for rent.',
};

async function rotate(t: { teardown(fn: () => unknown): void }, env: Record<string, string>) {
  const run = startProcess(t, 'apps/tools/dist/rotate-key.js', env);
  const exit = await run.exited;
  return { code: exit.code, output: run.output.join('') };
}

t.test('rotate-key re-seals every token; afterwards the new key alone opens them', async (t) => {
  const databaseUrl = await testDatabase(t, 'tokens_rotate');
  const dbh = createDb(databaseUrl, { max: 1 });
  t.teardown(() => dbh.close());
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  const { redis } = await testRedis(t, 'tokens-rotate');
  const oldStore = new PageTokenStore({ db: dbh.db, sealer: new Sealer(oldKey) });
  for (const [pageId, token] of Object.entries(TOKENS)) await oldStore.register(pageId, 'messenger', token);
  // Setting instructions bumps a version number under the prefix: removed at the end.
  const instructionsPrefix = uniquePrefix('rotate');
  t.teardown(() => deletePrefix(redis, instructionsPrefix));
  const oldInstructions = new PageInstructionsStore({
    db: dbh.db,
    redis,
    prefix: instructionsPrefix,
    sealer: new Sealer(oldKey),
  });
  for (const [pageId, text] of Object.entries(INSTRUCTIONS)) await oldInstructions.set(pageId, text);

  const env = testEnv({
    databaseUrl,
    prefix: uniquePrefix('rotate'),
    ENCRYPTION_KEY: newKey.toString('base64'),
    ENCRYPTION_KEY_PREVIOUS: oldKey.toString('base64'),
  });
  const first = await rotate(t, env);
  t.equal(first.code, 0, 'exits 0');
  t.match(first.output, /page tokens: 3 stored, 3 re-sealed/);
  t.match(first.output, /page instructions: 2 stored, 2 re-sealed/);
  for (const token of Object.values(TOKENS)) t.notMatch(first.output, token, 'never prints a token');
  for (const text of Object.values(INSTRUCTIONS)) t.notMatch(first.output, text, 'never prints instructions');

  const onlyNew = new Sealer(newKey);
  const rows = await dbh.db.select().from(pages);
  t.equal(rows.length, 3);
  for (const row of rows) {
    t.equal(
      onlyNew.open(row.tokenSealed, pageTokenAad(row.pageId)),
      TOKENS[row.pageId],
      `page ${row.pageId} opens with the new key alone`,
    );
    t.equal(row.tokenKeyId, onlyNew.currentKeyId);
    t.equal(Sealer.keyIdOf(row.tokenSealed), onlyNew.currentKeyId);
  }
  const kept = await dbh.db.select().from(pageInstructions);
  t.equal(kept.length, 2);
  for (const row of kept) {
    t.equal(
      onlyNew.open(row.instructionsSealed, pageInstructionsAad(row.pageId)),
      INSTRUCTIONS[row.pageId],
      `page ${row.pageId}'s instructions open with the new key alone`,
    );
    t.equal(row.keyId, onlyNew.currentKeyId);
  }
  const newStore = new PageTokenStore({ db: dbh.db, sealer: onlyNew });
  t.equal((await newStore.resolve('8002'))?.token, TOKENS['8002'], 'the registry reads it with the new key only');

  // Without the previous key now: nothing left to re-seal.
  const second = await rotate(t, { ...env, ENCRYPTION_KEY_PREVIOUS: '' });
  t.equal(second.code, 0);
  t.match(second.output, /page tokens: 3 stored, 0 re-sealed .* 3 already on it, 0 unreadable/);
  t.match(second.output, /page instructions: 2 stored, 0 re-sealed .* 2 already on it, 0 unreadable/);

  // A key that sealed nothing here: every token is unreadable, the command says so and fails.
  const third = await rotate(t, {
    ...env,
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    ENCRYPTION_KEY_PREVIOUS: '',
  });
  t.equal(third.code, 1);
  t.match(third.output, /3 unreadable/);
  t.match(third.output, /page instructions: 2 stored, 0 re-sealed .* 2 unreadable/);
  t.equal(
    onlyNew.open((await dbh.db.select().from(pages))[0]!.tokenSealed, pageTokenAad('8001')),
    TOKENS['8001'],
    'unreadable tokens are left as they were',
  );
});
