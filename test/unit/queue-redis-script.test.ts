// Every Lua script lives in its own file with a KEYS/ARGV header, and the loader reads the key
// count from that header (a Redis Cluster client routes a script call by its keys).
import { readdirSync } from 'node:fs';
import t from 'tap';
import { loadRedisScript } from '@switchboard/queue';

const root = new URL('../../', import.meta.url);
const dirs = [
  'apps/worker/src/scripts/',
  'packages/queue/src/scripts/',
  'packages/ai/src/scripts/',
  'packages/pages/src/scripts/',
];

t.test('each script file has a header the loader accepts', async (t) => {
  let n = 0;
  for (const dir of dirs) {
    const url = new URL(dir, root);
    for (const file of readdirSync(url).filter((f) => f.endsWith('.lua'))) {
      const script = loadRedisScript(url, file.slice(0, -4), 'x');
      t.ok(script.numberOfKeys >= 1, `${dir}${file}: ${script.numberOfKeys} keys${script.variadic ? ' and more' : ''}`);
      n += 1;
    }
  }
  t.ok(n >= 8, `${n} scripts found`);
});

t.test('the key count comes from the header; KEYS[n...] marks a script that takes more', async (t) => {
  const worker = new URL('apps/worker/src/scripts/', root);
  t.match(loadRedisScript(worker, 'conversation-enter', 'x'), { numberOfKeys: 4, variadic: true });
  t.match(loadRedisScript(worker, 'conversation-leave', 'x'), { numberOfKeys: 4, variadic: false });
  t.match(loadRedisScript(worker, 'conversation-extend', 'x'), { numberOfKeys: 1, variadic: false });
  const ai = new URL('packages/ai/src/scripts/', root);
  t.match(loadRedisScript(ai, 'ai-rate-limit', 'x'), { numberOfKeys: 2, variadic: false });
});
