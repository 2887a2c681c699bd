import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { keyHolders } from '@switchboard/queue';

export interface HeldSend {
  eventId: string;
  /** The outbound job payload as JSON (its personal part is sealed). */
  data: string;
  /**
   * Names this hold of the send: the job that releases it is named after it, so two releases that
   * read the same hold (a new token registered while a check found the old one valid again) add one
   * job, not two. A send held again later is a new hold with a new name. Absent on an entry stored
   * as a bare payload, which is released under a fresh job id.
   */
  holdId?: string;
}

/** A stored entry: `<hold id>:<payload JSON>`; a payload alone (it starts with `{`) is an unnamed hold. */
const NAMED = /^([0-9a-z]+):(\{[\s\S]*)$/;

/**
 * The sends waiting for a page's new token (its token was found invalid), in Redis: one hash per
 * page keyed by event id, so holding the same send twice (a retried job) keeps one entry, and
 * releasing is idempotent (the reply-sent marker stops doubles).
 */
export class HeldSends {
  constructor(private readonly deps: { redis: Redis; prefix: string }) {}

  private key(pageId: string): string {
    return `${this.deps.prefix}:held:${pageId}`;
  }

  /** Holds a send; holding it again before its release (a retried job) replaces the entry. */
  async hold(pageId: string, send: Pick<HeldSend, 'eventId' | 'data'>): Promise<void> {
    const holdId = `${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
    await this.deps.redis.hset(this.key(pageId), send.eventId, `${holdId}:${send.data}`);
  }

  async held(pageId: string): Promise<HeldSend[]> {
    const all = await this.deps.redis.hgetall(this.key(pageId));
    return Object.entries(all).map(([eventId, value]) => {
      const named = NAMED.exec(value);
      return named ? { eventId, data: named[2] as string, holdId: named[1] as string } : { eventId, data: value };
    });
  }

  /** How many sends each page holds, by page id (pages holding none are absent). */
  async counts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    const match = `${this.deps.prefix}:held:*`;
    for (const node of keyHolders(this.deps.redis)) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 200);
        cursor = next;
        for (const key of keys) out[key.slice(match.length - 1)] = await this.deps.redis.hlen(key);
      } while (cursor !== '0');
    }
    return out;
  }

  /**
   * Hands a page's held sends to `enqueue`, which must have stored them durably before it
   * resolves; only then are they dropped from the hold.
   */
  async release(pageId: string, enqueue: (sends: HeldSend[]) => Promise<void>): Promise<number> {
    const sends = await this.held(pageId);
    if (sends.length === 0) return 0;
    await enqueue(sends);
    await this.deps.redis.hdel(this.key(pageId), ...sends.map((s) => s.eventId));
    return sends.length;
  }
}
