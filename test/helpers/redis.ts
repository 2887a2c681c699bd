import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** A unique key prefix for one test file, so files run in parallel on one Redis. */
export function uniquePrefix(label: string): string {
  return `sbtest-${label}-${randomBytes(4).toString('hex')}`;
}

/** Every key matching `pattern`: SCAN to the end (one call with COUNT can miss keys on a busy Redis). */
export async function scanAll(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return [...new Set(keys)];
}

/** Deletes every key under `prefix` and BullMQ's `{prefix}` (SCAN, never KEYS). */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  // The prefix's own keys, the queues' tag, and each queue shard's tag (`{<prefix>.<shard>.<k>}`).
  for (const pattern of [`${prefix}*`, `{${prefix}}*`, `{${prefix}.*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  }
}

/** A real Redis connection and a private prefix; everything under the prefix is removed at teardown. */
export async function testRedis(t: Teardown, label = 'redis'): Promise<{ redis: Redis; prefix: string }> {
  const prefix = uniquePrefix(label);
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
  t.teardown(async () => {
    await deletePrefix(redis, prefix);
    redis.disconnect();
  });
  return { redis, prefix };
}
