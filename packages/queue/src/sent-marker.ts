import type { Redis } from 'ioredis';
import { bullPrefix } from './names.js';
import { defineRedisScripts, loadRedisScript, runRedisScript } from './redis-script.js';

/**
 * The "reply sent" marker: a Redis hash per inbound event, one field per message part. This module
 * is its only reader and writer (the worker's sender, the worker's and the API's echo handling,
 * the dead-letter bookkeeping).
 *
 * - `<part>` = `sending` while the Send API call is in flight, then Meta's message id;
 * - `echo:<part>` = the message id of Meta's echo of that part (the webhook Meta sends for every
 *   message the Page sends, carrying the `metadata` we attached: `sb:<eventId>:<part>`);
 * - `done` once every part went out.
 *
 * A part left `sending` by a process that died is the one ambiguous case: Meta may or may not have
 * delivered it. Its echo settles it; without an echo within SEND_ECHO_WAIT_MS it is sent again.
 *
 * Its writes are scripts: each is one round trip, and none is a MULTI — on a connection carrying
 * BullMQ's ~50 scripts ioredis copies every one of them onto each MULTI.
 */
/**
 * How long a marker lives while its reply is unfinished (claimed, partly sent, held, or
 * dead-lettered): as long as a dead letter stays replayable (the failed jobs' 14 days).
 */
export const SENT_MARKER_TTL_S = 14 * 24 * 3600;
/**
 * How long a marker lives once every part went out (`done`). Only the same send job can still read
 * it: a retry after its PostgreSQL write failed, or a stalled run — within the send's retries,
 * at most SEND_MAX_ATTEMPTS waits of up to 12 minutes (about 10 hours at the largest setting).
 * Past that the event's row says `replied`. A job that is
 * dead-lettered after `done` renews its marker to SENT_MARKER_TTL_S, so a replay finds it. Most
 * markers end here, so this, not the 14 days, is what a day of traffic keeps in Redis.
 */
export const SENT_DONE_TTL_S = 2 * 24 * 3600;
export const SENDING = 'sending';

/** A marker as read: field → value. */
export type SentMarker = Record<string, string>;

const scriptsDir = new URL('../src/scripts/', import.meta.url);
const CLAIM = loadRedisScript(scriptsDir, 'sent-marker-claim', 'sbMarkClaim');
const MARK = loadRedisScript(scriptsDir, 'sent-marker-mark', 'sbMark');

/**
 * In the queues' hash tag (bullPrefix): the marker is read in one command with the event's send
 * job (`EXISTS`), which a Redis Cluster allows only for keys of one slot.
 */
export function sentMarkerKey(prefix: string, eventId: string): string {
  return `${bullPrefix(prefix)}:sent:${eventId}`;
}

export function echoField(part: number): string {
  return `echo:${part}`;
}

/** The `metadata` a Messenger or Instagram send carries, so its echo names the event and part. */
export function sendMetadata(eventId: string, part: number): string {
  return `sb:${eventId}:${part}`;
}

export function parseSendMetadata(metadata: string | null | undefined): { eventId: string; part: number } | null {
  const m = /^sb:([0-9a-f]{32}):(\d{1,3})$/.exec(metadata ?? '');
  return m ? { eventId: m[1] as string, part: Number(m[2]) } : null;
}

/** Defines the marker's scripts on a connection; call it when the connection is created (defineRedisScripts). */
export function defineSentMarkerScripts(redis: Redis): void {
  defineRedisScripts(redis, [CLAIM, MARK]);
}

/**
 * What the marker said before this call; when the part was neither there nor the whole reply
 * done, the part is now claimed (`sending`).
 */
export async function claimPart(redis: Redis, key: string, part: number): Promise<SentMarker> {
  const flat = await runRedisScript<string[]>(redis, CLAIM, [key], [String(part), SENT_MARKER_TTL_S, SENDING]);
  const out: SentMarker = {};
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
  if (last) await runRedisScript(redis, MARK, [key], [SENT_DONE_TTL_S, 'set', String(part), messageId, 'done', '1']);
  else await runRedisScript(redis, MARK, [key], [SENT_MARKER_TTL_S, 'keep', String(part), messageId]);
}

/**
 * Records Meta's echo of a part. An echo usually comes after `done`, so it must not lengthen the
 * marker's life; a marker it creates (its own has expired) lives SENT_DONE_TTL_S.
 */
export async function markEcho(redis: Redis, key: string, part: number, messageId: string): Promise<void> {
  await runRedisScript(redis, MARK, [key], [SENT_DONE_TTL_S, 'keep', echoField(part), messageId]);
}

export async function readSentMarker(redis: Redis, key: string): Promise<SentMarker> {
  return redis.hgetall(key);
}

/** Meta's echo of one part, if it came. */
export async function readEcho(redis: Redis, key: string, part: number): Promise<string | null> {
  return redis.hget(key, echoField(part));
}

/** The echo of one part, in a marker already read. */
export function echoIn(marker: SentMarker, part: number): string | undefined {
  return marker[echoField(part)];
}

/** The message ids of the parts that went out, in order. */
export function sentMessageIds(marker: SentMarker): string[] {
  return Object.entries(marker)
    .filter(([k]) => /^\d+$/.test(k))
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([, v]) => v);
}

/**
 * A dead letter stays replayable for 14 days; its marker (if any part of the reply was tried) must
 * outlive it even when every part went out (a `done` marker is otherwise kept two days).
 */
export async function keepSentMarkerForReplay(redis: Redis, key: string): Promise<void> {
  await redis.expire(key, SENT_MARKER_TTL_S);
}
