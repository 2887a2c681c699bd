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

/** Every plan node of an EXPLAIN (FORMAT JSON) answer, the root first. */
export function planNodes(node: Record<string, unknown>): Array<Record<string, unknown>> {
  const children = (node.Plans as Array<Record<string, unknown>> | undefined) ?? [];
  return [node, ...children.flatMap(planNodes)];
}

/** The plan nodes of one EXPLAIN (FORMAT JSON) result row. */
export function explainedNodes(row: Record<string, unknown> | undefined): Array<Record<string, unknown>> {
  return planNodes(
    (row?.['QUERY PLAN'] as Array<{ Plan: Record<string, unknown> }>)[0]?.Plan as Record<string, unknown>,
  );
}
