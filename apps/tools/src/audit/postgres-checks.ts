import { createDb, type DbHandle, pendingMigrations } from '@switchboard/db';
import { describeFailure, NETWORK_TIMEOUT_MS, withDeadline } from './deadline.js';
import type { Findings } from './findings.js';

/** PostgreSQL reachable and its schema current. Returns the handle when reachable (caller closes it). */
export async function checkPostgres(databaseUrl: string, f: Findings): Promise<DbHandle | undefined> {
  const dbh = createDb(databaseUrl, { max: 2, applicationName: 'switchboard-security-audit' });
  try {
    await withDeadline(dbh.sql`select 1`, 'PostgreSQL');
    f.ok('postgres.reachable', 'PostgreSQL answers', ['DATABASE_URL']);
  } catch (err) {
    f.critical('postgres.reachable', `PostgreSQL is unreachable (${describeFailure(err)}): the API answers 503`, [
      'DATABASE_URL',
    ]);
    void dbh.close().catch(() => {});
    return undefined;
  }
  try {
    const pending = await withDeadline(pendingMigrations(databaseUrl), 'migration check', NETWORK_TIMEOUT_MS);
    if (pending > 0)
      f.critical(
        'postgres.migrations',
        `${pending} migration(s) pending: run npm run migrate (or the migrate Job) before the new version`,
      );
    else if (pending < 0)
      f.warning(
        'postgres.migrations',
        'the database has migrations this build does not know: is an older version deployed?',
      );
    else f.ok('postgres.migrations', 'database migrations are current');
  } catch (err) {
    f.critical('postgres.migrations', `cannot read the migration state (${describeFailure(err)})`);
  }
  return dbh;
}
