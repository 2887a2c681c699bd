// Fakes nothing: the operator's own commands (`npm start`, `npm run start:api`, `npm run
// start:worker`) run through npm as an operator runs them, against the real PostgreSQL and Redis.
// They exit cleanly on SIGTERM/SIGINT — sent to npm, the process the operator started.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { testDatabase } from '../helpers/db.js';
import { testEnv } from '../helpers/env.js';
import { eventually, freePort, ROOT, waitForHttp } from '../helpers/processes.js';
import { deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** Every process whose environment holds `entry` (Linux: /proc/<pid>/environ), with its command line. */
function processesWithEnv(entry: string): Array<{ pid: number; cmd: string }> {
  const found: Array<{ pid: number; cmd: string }> = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(entry))
        found.push({
          pid: Number(pid),
          cmd: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim(),
        });
    } catch {
      // The process ended meanwhile, or is not ours to read.
    }
  }
  return found;
}

function runNpm(
  t: { teardown(fn: () => unknown): void },
  script: string,
  env: Record<string, string>,
): { child: ChildProcess; exited: Promise<number | null>; output: string[] } {
  const child = spawn(npm, ['run', '-s', script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout?.setEncoding('utf8').on('data', (d: string) => output.push(d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => output.push(d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { child, exited, output };
}

async function portClosed(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/health`);
    return false;
  } catch {
    return true;
  }
}

for (const [script, signal] of [
  ['start:api', 'SIGTERM'],
  ['start', 'SIGTERM'],
  ['start', 'SIGINT'],
] as const) {
  t.test(
    `npm ${script === 'start' ? 'start' : `run ${script}`}: ${signal} to npm stops everything it started`,
    async (t) => {
      const databaseUrl = await testDatabase(t, 'npm_scripts');
      const prefix = uniquePrefix('npm-scripts');
      const { redis } = await testRedis(t, 'npm-scripts-conn');
      t.teardown(() => deletePrefix(redis, prefix));
      const port = await freePort();
      const env = testEnv({
        databaseUrl,
        prefix,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        AI_ENABLED: 'false',
      });
      const run = runNpm(t, script, env);
      await waitForHttp(`http://127.0.0.1:${port}/health`, 60_000);
      // Every process npm started carries the test's prefix in its environment, whatever its parent.
      const mine = `QUEUE_PREFIX=${prefix}`;
      t.teardown(() => {
        for (const { pid } of processesWithEnv(mine)) process.kill(pid, 'SIGKILL');
      });
      const expected = script === 'start' ? ['start-all.js', 'server.js', 'main.js'] : ['server.js'];
      await eventually(
        async () => expected.every((name) => processesWithEnv(mine).some((p) => p.cmd.includes(name))),
        20_000,
        `${expected.join(', ')} running`,
      );

      run.child.kill(signal);
      const code = await run.exited;
      t.equal(code, 0, `npm exits 0 (${run.output.join('').slice(-300)})`);
      await eventually(() => portClosed(port), 15_000, 'the API port to close');
      t.ok(await portClosed(port), 'nothing answers on the API port');
      // No orphan keeps running.
      await eventually(async () => processesWithEnv(mine).length === 0, 15_000, 'no process of this test left');
      t.same(
        processesWithEnv(mine).map((p) => p.cmd),
        [],
        'every process npm started has exited',
      );
    },
  );
}
