import type { Redis } from 'ioredis';
import { SENDING, SENT_MARKER_TTL_S } from '@switchboard/queue';

/**
 * The reply-sent marker's Redis operations (the format: @switchboard/queue sent-marker), as
 * scripts: each is one round trip, and none is a MULTI — on a connection carrying BullMQ's ~50
 * scripts ioredis copies every one of them onto each MULTI.
 */

/** `HGETALL` of the marker, and when the part is not there yet and nothing is done, claim it. */
const CLAIM = `
local state = redis.call('HGETALL', KEYS[1])
if redis.call('HEXISTS', KEYS[1], 'done') == 0 and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return state`;

/** Sets fields of the marker and renews its expiry, atomically. */
const MARK = `
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1`;

type Scripted = Redis & {
  sbMarkClaim(key: string, part: string, ttl: number, sending: string): Promise<string[]>;
  sbMark(key: string, ttl: number, ...fields: string[]): Promise<number>;
};

/**
 * Defines the scripts on a connection. Call it once, when the connection is created: ioredis copies
 * a connection's scripts onto each auto-pipelined batch as the batch is created, so a script first
 * defined while a batch is open is missing from that batch — and ioredis then fails the whole batch.
 */
export function defineReplyMarkerScripts(redis: Redis): void {
  if ('sbMarkClaim' in redis) return;
  redis.defineCommand('sbMarkClaim', { numberOfKeys: 1, lua: CLAIM });
  redis.defineCommand('sbMark', { numberOfKeys: 1, lua: MARK });
}

function scripted(redis: Redis): Scripted {
  if (!('sbMarkClaim' in redis)) throw new Error('reply-marker scripts are not defined on this connection (defineReplyMarkerScripts)');
  return redis as Scripted;
}

/**
 * What the marker said before this call, as field → value; when the part was neither there nor
 * the whole reply done, the part is now claimed (`sending`).
 */
export async function claimPart(redis: Redis, key: string, part: number): Promise<Record<string, string>> {
  const flat = await scripted(redis).sbMarkClaim(key, String(part), SENT_MARKER_TTL_S, SENDING);
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i] as string] = flat[i + 1] as string;
  return out;
}

/** Sets fields of a reply-sent marker and renews its expiry. */
export async function markSent(redis: Redis, key: string, ...fields: string[]): Promise<void> {
  await scripted(redis).sbMark(key, SENT_MARKER_TTL_S, ...fields);
}
