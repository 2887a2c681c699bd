import { createHash } from 'node:crypto';
import calculateSlot from 'cluster-key-slot';

/** Slots of a Redis Cluster (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/). */
export const CLUSTER_SLOTS = 16384;
/** QUEUE_SHARDS at most: each shard is two BullMQ workers' blocking connections per worker process. */
export const MAX_QUEUE_SHARDS = 256;

/**
 * A conversation's id: one user with one Page or number on one channel. The user is the HMAC'd id
 * the worker keeps (for an echo, the recipient). It names the conversation's row and Redis keys,
 * and picks its queue shard (shardOfConversation), so one hash decides both.
 */
export function conversationId(channel: string, pageId: string, userHash: string): string {
  return createHash('sha256').update(`${channel}\n${pageId}\n${userHash}`).digest('hex').slice(0, 32);
}

/** The Redis Cluster slot of a key (its hash tag's, when it has one). */
export function slotOf(key: string): number {
  return calculateSlot(key);
}

/** A hex id's shard: its first 32 bits, modulo the count (ids are hashes, so evenly spread). */
function shardOfHex(hex: string, count: number): number {
  if (count === 1) return 0;
  const n = Number.parseInt(hex.slice(0, 8), 16);
  return Number.isNaN(n) ? 0 : n % count;
}

/**
 * The hash tags of `count` shards. One shard's tag is `QUEUE_PREFIX` itself, the plain layout of a
 * single Redis. With more, shard i takes the first candidate `<prefix>.<i>.<k>` whose
 * slot lies in the i-th of `count` equal parts of the slot space: a cluster created with its
 * slots split evenly among its primaries then gives each primary the same number of shards when
 * the count is a multiple of the primaries.
 */
export function shardTags(queuePrefix: string, count: number): string[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_QUEUE_SHARDS)
    throw new RangeError(`shard count must be 1..${MAX_QUEUE_SHARDS}`);
  if (count === 1) return [queuePrefix];
  return Array.from({ length: count }, (_, i) => {
    const from = Math.floor((i * CLUSTER_SLOTS) / count);
    const to = Math.floor(((i + 1) * CLUSTER_SLOTS) / count);
    for (let k = 0; ; k += 1) {
      const tag = `${queuePrefix}.${i}.${k}`;
      const slot = calculateSlot(tag);
      if (slot >= from && slot < to) return tag;
    }
  });
}

/** What routes a job: its channel, Page, user (the recipient of an echo or a reply) and event. */
export interface RoutedJob {
  channel: string;
  pageId: string;
  eventId: string;
  senderHash: string | null;
  userHash?: string | undefined;
}

/**
 * The queue shards of one deployment (QUEUE_SHARDS): every key a conversation's jobs touch together
 * (its inbound and outbound jobs, their de-duplication keys, its sequencing keys, burst, turns and
 * reply-sent markers) carries its shard's hash tag, so each multi-key script stays in one slot.
 */
export class QueueShards {
  readonly tags: readonly string[];

  constructor(
    readonly queuePrefix: string,
    readonly count: number,
  ) {
    this.tags = shardTags(queuePrefix, count);
  }

  /** The shard of a conversation, by its id (conversationId). */
  ofConversation(id: string): number {
    return shardOfHex(id, this.count);
  }

  /** The hash tag (without braces) of a conversation's keys. */
  tagOfConversation(id: string): string {
    return this.tags[this.ofConversation(id)] as string;
  }

  /**
   * The shard of an inbound or outbound job: its conversation's, or, for an event without a user
   * (a Page change, an account notice), its event id's.
   */
  ofJob(job: RoutedJob): number {
    if (this.count === 1) return 0;
    const user = job.userHash ?? job.senderHash;
    return user
      ? this.ofConversation(conversationId(job.channel, job.pageId, user))
      : shardOfHex(job.eventId, this.count);
  }

  /** The shard of a job's data as stored (JSON): routed as ofJob, or shard 0 without an event id. */
  ofData(data: unknown): number {
    if (this.count === 1) return 0;
    const d = (data ?? {}) as Partial<Record<keyof RoutedJob, unknown>>;
    const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
    const eventId = text(d.eventId);
    const channel = text(d.channel);
    const pageId = text(d.pageId);
    const user = text(d.userHash) ?? text(d.senderHash);
    if (channel && pageId && user) return this.ofConversation(conversationId(channel, pageId, user));
    return eventId ? shardOfHex(eventId, this.count) : 0;
  }

  /** Every shard's index, in order. */
  all(): number[] {
    return this.tags.map((_, i) => i);
  }
}

/**
 * Parses WORKER_SHARDS (`0-3,7`): the shards a worker consumes, sorted; every shard when empty.
 * Refuses an index outside 0..count-1, so a worker is never started on shards nobody routes to.
 */
export function parseShardSet(spec: string | undefined, count: number): number[] {
  if (!spec || spec.trim() === '') return Array.from({ length: count }, (_, i) => i);
  const chosen = new Set<number>();
  for (const part of spec.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new RangeError(`"${part.trim()}" is not a shard index or range (e.g. 0-3,7)`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw new RangeError(`"${part.trim()}" runs backwards`);
    if (to >= count) throw new RangeError(`shard ${to} does not exist: QUEUE_SHARDS is ${count} (0..${count - 1})`);
    for (let i = from; i <= to; i += 1) chosen.add(i);
  }
  return [...chosen].sort((a, b) => a - b);
}
