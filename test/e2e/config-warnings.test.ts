// Fakes nothing: the real API and worker processes, started with a misspelt variable in their
// environment, against the real PostgreSQL and Redis.
import t from 'tap';
import { testDatabase } from '../helpers/db.js';
import { testEnv } from '../helpers/env.js';
import { eventually, freePort, startProcess } from '../helpers/processes.js';
import { deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

t.test('the API and the worker name a misspelt variable at start, without its value', async (t) => {
  const databaseUrl = await testDatabase(t, 'config_warnings');
  const prefix = uniquePrefix('config-warnings');
  const { redis } = await testRedis(t, 'config-warnings-conn');
  t.teardown(() => deletePrefix(redis, prefix));
  const env = testEnv({
    databaseUrl,
    prefix,
    HOST: '127.0.0.1',
    PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
    ADMIN_PASSWORD: 'value-that-must-not-show',
    GEMINI_API_KY: 'key-that-must-not-show',
  });
  for (const entry of ['api', 'worker'] as const) {
    const proc = startProcess(t, entry, env);
    const text = await eventually(
      async () => {
        const all = proc.output.join('');
        return all.includes('GEMINI_API_KY') && all.includes('ADMIN_PASSWORD') ? all : undefined;
      },
      15_000,
      `${entry}'s warnings`,
    );
    const lines = text
      .split('\n')
      .filter((l) => /ADMIN_PASSWORD|GEMINI_API_KY/.test(l))
      .map((l) => JSON.parse(l) as { level: number; msg: string });
    t.same(
      lines.map((l) => [l.level, l.msg]),
      [
        [40, 'ADMIN_PASSWORD is not a Switchboard variable and is ignored; did you mean ADMIN_PASS?'],
        [40, 'GEMINI_API_KY is not a Switchboard variable and is ignored; did you mean GEMINI_API_KEY?'],
      ],
      `${entry}: one warning per name`,
    );
    t.notMatch(text, /must-not-show/, `${entry}: no value`);
    await proc.stop();
  }
});
