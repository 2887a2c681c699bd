import { loadConfigOrExit } from '@switchboard/config';
import { runMigrations } from '@switchboard/db';

/** `npm run migrate`: creates the database when missing, applies pending migrations, exits. */
const config = loadConfigOrExit();
try {
  const { created } = await runMigrations(config.databaseUrl);
  const name = new URL(config.databaseUrl).pathname.slice(1);
  process.stdout.write(`${created ? `created database ${name}; ` : ''}migrations applied to ${name}\n`);
} catch (err) {
  process.stderr.write(`migration failed: ${(err as Error).message}\n`);
  process.exit(1);
}
