import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './schema/index.js';

export type Database = PostgresJsDatabase<typeof schema>;

export interface DbHandle {
  db: Database;
  sql: postgres.Sql;
  /** `select 1` with a deadline: health checks must answer quickly even when PostgreSQL hangs. */
  ping(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

export function createDb(url: string, opts: { max?: number; applicationName?: string; debug?: postgres.Options<Record<string, never>>['debug'] } = {}): DbHandle {
  const sql = postgres(url, {
    ...(opts.debug ? { debug: opts.debug } : {}),
    max: opts.max ?? 10,
    idle_timeout: 30,
    connect_timeout: 5,
    onnotice: () => {},
    connection: { application_name: opts.applicationName ?? 'switchboard' },
  });
  const db = drizzle(sql, { schema });
  return {
    db,
    sql,
    async ping(timeoutMs = 1000) {
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([
          sql`select 1`.then(() => true),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(false), timeoutMs);
          }),
        ]);
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => sql.end({ timeout: 5 }),
  };
}
