import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './schema/index.js';

export type Database = PostgresJsDatabase<typeof schema>;

export interface DbHandle {
  db: Database;
  sql: postgres.Sql;
  /** `select 1` with a deadline: health checks must answer quickly even when PostgreSQL hangs. */
  ping(timeoutMs?: number): Promise<boolean>;
  /** `select 1` with a deadline: undefined when PostgreSQL answers, else the driver's reason (no URL, no password). */
  probe(timeoutMs?: number): Promise<string | undefined>;
  close(): Promise<void>;
}

export function createDb(
  url: string,
  opts: { max?: number; applicationName?: string; debug?: postgres.Options<Record<string, never>>['debug'] } = {},
): DbHandle {
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
    async probe(timeoutMs = 5000) {
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([
          sql`select 1`.then(() => undefined),
          new Promise<string>((resolve) => {
            timer = setTimeout(() => resolve(`no answer within ${timeoutMs} ms`), timeoutMs);
          }),
        ]);
      } catch (err) {
        const e = err as { code?: unknown; message?: unknown };
        const message = typeof e.message === 'string' ? e.message.split('\n')[0]?.slice(0, 200) : 'unknown error';
        return typeof e.code === 'string' && !message?.includes(e.code) ? `${e.code}: ${message}` : message;
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => sql.end({ timeout: 5 }),
  };
}
