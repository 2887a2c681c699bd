// Fakes nothing: `npm run simulate`'s program (node apps/tools/dist/simulate.js) against the real
// API process, which stores into the real Redis; a bad command line is refused before anything is sent.
import { spawn } from 'node:child_process';
import t from 'tap';
import { testDatabase } from '../helpers/db.js';
import { testEnv } from '../helpers/env.js';
import { freePort, ROOT, startProcess, waitForHttp } from '../helpers/processes.js';
import { deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const SIMULATE = 'apps/tools/dist/simulate.js';

function simulate(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SIMULATE, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('simulate sends signed samples the API accepts; the duplicate is acknowledged, not stored twice', async (t) => {
  const databaseUrl = await testDatabase(t, 'simulate');
  const prefix = uniquePrefix('simulate');
  const { redis } = await testRedis(t, 'simulate-conn');
  t.teardown(() => deletePrefix(redis, prefix));
  const port = await freePort();
  const env = testEnv({ databaseUrl, prefix, PORT: String(port), HOST: '127.0.0.1' });
  startProcess(t, 'api', env);
  await waitForHttp(`http://127.0.0.1:${port}/health`);

  const run = await simulate(['--count', '2', '--url', `http://127.0.0.1:${port}/webhook`], env);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /^8 of 8 accepted \(8 × 200\)/m);
  t.match(run.stdout, /watch the worker's log/);
  t.equal(run.stdout.match(/← 200 EVENT_RECEIVED/g)?.length, 8);
  // Per round: a Messenger text, a postback, an Instagram text, and the text again.
  const jobs = await redis.keys(`{${prefix}}:inbound:[0-9a-f]*-*`);
  t.equal(jobs.length, 6, "six events stored: each round's duplicate is not");

  // One channel's samples: WhatsApp's text and button reply, and the text again.
  const wa = await simulate(['--channel', 'whatsapp', '--url', `http://127.0.0.1:${port}/webhook`], env);
  t.equal(wa.code, 0, wa.stderr);
  t.match(wa.stdout, /^3 of 3 accepted \(3 × 200\)/m);
  t.match(wa.stdout, /whatsapp text[^]+whatsapp button reply[^]+duplicate of the whatsapp text/);
  t.equal(
    (await redis.keys(`{${prefix}}:inbound:[0-9a-f]*-*`)).length,
    8,
    'two WhatsApp events stored, the duplicate not',
  );

  // The same secret signs: with another app secret the API refuses every sample.
  const wrongSecret = await simulate(['--url', `http://127.0.0.1:${port}/webhook`], {
    ...env,
    FACEBOOK_APP_SECRET: 'another-secret',
  });
  t.equal(wrongSecret.code, 1, 'a refused sample fails the run');
  t.match(wrongSecret.stdout, /← 403/);
  t.match(wrongSecret.stdout, /^0 of 4 accepted \(4 × 403 invalid_signature\)/m, 'what came back, per kind');
  t.match(wrongSecret.stdout, /^ {2}403 invalid_signature: .*FACEBOOK_APP_SECRET/m, 'and what to look at');
  t.notMatch(wrongSecret.stdout, /worker's log/, 'no pointer to a worker that received nothing');

  // Nothing listening on that port: said so, with where to look.
  const nobody = await simulate(['--url', `http://127.0.0.1:${await freePort()}/webhook`], env);
  t.equal(nobody.code, 1);
  t.match(nobody.stdout, /^0 of 4 accepted \(4 × connection refused\)/m);
  t.match(nobody.stdout, /connection refused: .*is the API running/);
});

t.test(
  'an API that requires HTTPS, reached over plain HTTP: the summary names REQUIRE_HTTPS and TRUST_PROXY',
  async (t) => {
    const databaseUrl = await testDatabase(t, 'simulate_https');
    const { prefix } = await testRedis(t, 'simulate-https');
    const port = await freePort();
    const env = testEnv({
      databaseUrl,
      prefix,
      PORT: String(port),
      HOST: '127.0.0.1',
      REQUIRE_HTTPS: 'true',
      TRUST_PROXY: 'false',
    });
    startProcess(t, 'api', env);
    await waitForHttp(`http://127.0.0.1:${port}/health`);
    const run = await simulate(['--url', `http://127.0.0.1:${port}/webhook`], env);
    t.equal(run.code, 1);
    t.match(run.stdout, /^0 of 4 accepted \(4 × 403 https_required\)/m);
    t.match(run.stdout, /403 https_required: .*REQUIRE_HTTPS.*TRUST_PROXY/);
    t.notMatch(run.stdout, /worker's log/);
  },
);

t.test('a bad command line: what was wrong and the usage, exit 2, nothing sent', async (t) => {
  const env = testEnv({ databaseUrl: 'postgres://postgres@127.0.0.1:5432/unused', prefix: 'unused' });
  for (const args of [
    ['--bogus'],
    ['5'],
    ['--count'],
    ['--count', '-3'],
    ['--count', '0'],
    ['--count', '1.5'],
    ['--count', 'abc'],
    ['--count', '10001'],
    ['--url'],
    ['--url', 'not-a-url'],
    ['--url', 'ftp://127.0.0.1/webhook'],
    ['--channel', 'telegram'],
    ['--channel'],
  ]) {
    const run = await simulate(args, env);
    t.equal(run.code, 2, `${args.join(' ')}: exit 2`);
    t.match(
      run.stderr,
      /^simulate: [^]+\nusage: npm run simulate -- /,
      `${args.join(' ')}: says what was wrong, then the usage`,
    );
    t.notMatch(run.stderr, /\n\s+at /, `${args.join(' ')}: no stack trace`);
    t.equal(run.stdout, '', `${args.join(' ')}: nothing sent`);
  }
  const help = await simulate(['--help'], env);
  t.equal(help.code, 0);
  t.match(help.stdout, /^usage: npm run simulate -- \[--count N\] \[--url /);
});
