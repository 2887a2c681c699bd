/**
 * Part 3 (storage): what a message leaves behind. Redis keys under the run's prefix are grouped by
 * shape (ids replaced by `*`), sized with MEMORY USAGE on a sample and extrapolated by count, and
 * their TTL read; PostgreSQL tables are sized with pg_total_relation_size (heap + indexes + TOAST).
 */
import type { Redis } from 'ioredis';
import postgres from 'postgres';

export interface KeyClass {
  pattern: string;
  keys: number;
  avgBytes: number;
  /** Seconds a key lives (from PTTL); null when it has no expiry (BullMQ caps those by count/age). */
  ttlS: number | null;
}

export interface TableSize {
  table: string;
  rows: number;
  bytes: number;
}

export interface StorageResult {
  messages: number;
  redis: KeyClass[];
  tables: TableSize[];
}

const SAMPLE = 200;

function shape(key: string, prefix: string): string {
  return (
    key
      .replace(prefix, '<prefix>')
      // Event ids and hashes; an inbound job id is `<event id>-<delivery nonce>`.
      .replace(/[0-9a-f]{32,}(-[0-9a-z]+)?/g, '*')
      .replace(/:\d+$/g, ':*')
  );
}

export async function measureStorage(
  redis: Redis,
  prefix: string,
  databaseUrl: string,
  messages: number,
): Promise<StorageResult> {
  const groups = new Map<string, string[]>();
  for (const pattern of [`${prefix}:*`, `{${prefix}}:*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const g = shape(key, prefix);
        const list = groups.get(g);
        if (list) list.push(key);
        else groups.set(g, [key]);
      }
    } while (cursor !== '0');
  }
  const classes: KeyClass[] = [];
  for (const [pattern, keys] of groups) {
    const sample = keys.slice(0, SAMPLE);
    const pipeline = redis.pipeline();
    for (const key of sample) pipeline.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
    pipeline.pttl(sample[0] as string);
    const results = (await pipeline.exec()) ?? [];
    const sizes = results.slice(0, sample.length).map(([, v]) => Number(v ?? 0));
    const pttl = Number(results.at(-1)?.[1] ?? -1);
    classes.push({
      pattern,
      keys: keys.length,
      avgBytes: sizes.reduce((a, b) => a + b, 0) / Math.max(1, sizes.length),
      ttlS: pttl > 0 ? Math.round(pttl / 1000) : null,
    });
  }
  classes.sort((a, b) => b.keys * b.avgBytes - a.keys * a.avgBytes);

  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const tables: TableSize[] = [];
    for (const table of ['events', 'users', 'replies']) {
      const [row] = await sql.unsafe(
        `select count(*)::bigint as rows, pg_total_relation_size('${table}')::bigint as bytes from ${table}`,
      );
      tables.push({ table, rows: Number(row?.rows ?? 0), bytes: Number(row?.bytes ?? 0) });
    }
    return { messages, redis: classes, tables };
  } finally {
    await sql.end({ timeout: 5 });
  }
}
