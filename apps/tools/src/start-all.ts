import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadConfigOrExit, readEnvironment } from '@switchboard/config';
import { runMigrations } from '@switchboard/db';
import { scriptArgs } from './npm-scripts.js';

/**
 * `npm start` (development convenience): applies pending migrations, then runs the API and one
 * worker as two child processes — the same entry points compose and Kubernetes run. SIGINT/SIGTERM
 * are passed on; it exits when both children have.
 */
const config = loadConfigOrExit();
await runMigrations(config.databaseUrl).catch((err: Error) => {
  process.stderr.write(`migration failed: ${err.message}\n`);
  process.exit(1);
});

const root = fileURLToPath(new URL('../../..', import.meta.url));
// The children run in the repository root, so they are handed the environment read here (the
// working directory's .env included) rather than left to read the root's.
const environment = readEnvironment();
const children: ChildProcess[] = [scriptArgs(root, 'start:api'), scriptArgs(root, 'start:worker')].map((args) =>
  spawn(process.execPath, args, { cwd: root, stdio: 'inherit', env: environment }),
);

let stopping = false;
const stop = (signal: NodeJS.Signals) => {
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill(signal);
};
process.on('SIGINT', () => stop('SIGTERM'));
process.on('SIGTERM', () => stop('SIGTERM'));

const codes = await Promise.all(
  children.map(
    (child) =>
      new Promise<number>((resolve) =>
        child.once('exit', (code) => {
          // One process dying on its own takes the other down: a half-running gateway is worse than none.
          if (!stopping) stop('SIGTERM');
          resolve(code ?? 1);
        }),
      ),
  ),
);
process.exit(stopping && codes.every((c) => c === 0) ? 0 : Math.max(...codes));
