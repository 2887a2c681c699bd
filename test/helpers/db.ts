import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { runMigrations } from '@switchboard/db';

export const PG_ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export function databaseUrl(name: string): string {
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * A fresh PostgreSQL database for one test file, migrated by the real migrator (which also creates
 * it), dropped at teardown. Files run in parallel without seeing each other's rows.
 */
export async function testDatabase(t: Teardown, label = 'db'): Promise<string> {
  const name = `sbtest_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const url = databaseUrl(name);
  await runMigrations(url);
  t.teardown(async () => {
    const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`drop database if exists "${name}" with (force)`);
    } finally {
      await admin.end({ timeout: 5 });
    }
  });
  return url;
}
