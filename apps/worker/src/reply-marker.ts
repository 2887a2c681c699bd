import type { Redis } from 'ioredis';
import { echoField, SENDING, SENT_DONE_TTL_S, SENT_MARKER_TTL_S } from '@switchboard/queue';

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

/**
 * Sets fields of the marker, atomically with its expiry: ARGV[2] = 'set' sets it to ARGV[1]
 * seconds; 'keep' leaves an existing expiry alone and gives ARGV[1] only to a marker that had none
 * (one this call created).
 */
const MARK = `
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
if ARGV[2] == 'set' or redis.call('TTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return 1`;

type Scripted = Redis & {
  sbMarkClaim(key: string, part: string, ttl: number, sending: string): Promise<string[]>;
  sbMark(key: string, ttl: number, expiry: 'set' | 'keep', ...fields: string[]): Promise<number>;
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
  if (!('sbMarkClaim' in redis))
    throw new Error('reply-marker scripts are not defined on this connection (defineReplyMarkerScripts)');
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

/**
 * Records Meta's message id for a delivered part. The last part also says `done`, and cuts the
 * marker's life to SENT_DONE_TTL_S; an earlier part keeps the expiry its claim set.
 */
export async function markPart(
  redis: Redis,
  key: string,
  part: number,
  messageId: string,
  last: boolean,
): Promise<void> {
  if (last) await scripted(redis).sbMark(key, SENT_DONE_TTL_S, 'set', String(part), messageId, 'done', '1');
  else await scripted(redis).sbMark(key, SENT_MARKER_TTL_S, 'keep', String(part), messageId);
}

/**
 * Records Meta's echo of a part. An echo usually comes after `done`, so it must not lengthen the
 * marker's life; a marker it creates (its own has expired) lives SENT_DONE_TTL_S.
 */
export async function markEcho(redis: Redis, key: string, part: number, messageId: string): Promise<void> {
  await scripted(redis).sbMark(key, SENT_DONE_TTL_S, 'keep', echoField(part), messageId);
}
