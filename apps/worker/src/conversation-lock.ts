import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { defineRedisScripts, loadRedisScript, runRedisScript } from '@switchboard/queue';

/**
 * One conversation (page + user) is handled by one job at a time, across every worker process,
 * and in the order of Meta's event `timestamp`: Meta does not deliver events in order, and retries
 * arrive late (docs/meta-platform.md, Delivery semantics).
 *
 * Each job first enters the conversation's pending set (a sorted set scored by timestamp), then
 * may run only when it is the earliest pending event and holds the conversation's lock. Both
 * happen in one Lua script, one round trip. In the usual case — nobody pending, nobody holding the
 * lock — the job only takes the lock; a later job that finds it held puts the holder into the
 * pending set on its behalf (the lock's value names it), so from then on it is as if it had
 * entered: its place in the order survives its failure or its process's death. A job that is not
 * next waits (moved to delayed) and tries again shortly. The lock has an owner token and an expiry, so a crashed holder frees it by
 * itself; an earlier event that waited past the patience with nobody running is given up on, so
 * an event that vanished cannot block a conversation for long. Events that arrive after a later
 * one was already answered (a Meta retry hours later) cannot be reordered, only recorded in order
 * of arrival.
 *
 * Several events of one conversation in one delivery are enqueued together, and two workers may
 * take two of them at once: the later one could enter before the earlier one has. So each job
 * names its predecessors in the delivery (job data `prev`), and entering puts a predecessor whose
 * job is still unfinished into the pending set on its behalf; a `done` set remembers the named
 * predecessors that already left (job data `named`), so a finished one is never put back.
 */
const scriptsDir = new URL('../src/scripts/', import.meta.url);
const ENTER = loadRedisScript(scriptsDir, 'conversation-enter', 'sbConvEnter');
const LEAVE = loadRedisScript(scriptsDir, 'conversation-leave', 'sbConvLeave');
const EXTEND = loadRedisScript(scriptsDir, 'conversation-extend', 'sbConvExtend');

export class ConversationSequencer {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** BullMQ's key prefix and the inbound queue's name: where predecessors' job hashes live. */
    private readonly jobKeyBase: string,
    /**
     * How long a holder that stopped renewing (its process died) keeps the conversation: the
     * worker passes its job lock's duration (WORKER_LOCK_DURATION_MS), so a crashed worker's job
     * is taken over by another and may run as soon as BullMQ hands it out, not later.
     */
    private readonly lockTtlMs = 30_000,
    private readonly pendingTtlMs = 10 * 60_000,
    private readonly patienceMs = 60_000,
  ) {
    defineRedisScripts(redis, [ENTER, LEAVE, EXTEND]);
  }

  private keys(conversation: string): [string, string, string, string] {
    // `{prefix}`: a Redis Cluster hash tag, so the keys of one script (BullMQ's job hashes
    // included, see bullPrefix) share a slot.
    const base = `{${this.prefix}}:conv:${conversation}`;
    return [`${base}:pending`, `${base}:lock`, `${base}:entered`, `${base}:done`];
  }

  /**
   * Enters the pending set; returns an owner token when this event may run now, else null.
   * `predecessors`: earlier events of the same conversation in the same delivery, with their job ids.
   */
  async enter(
    conversation: string,
    eventId: string,
    timestamp: number,
    predecessors: readonly Predecessor[] = [],
  ): Promise<string | null> {
    // The event and its timestamp ride in the token: the ENTER script reads them from the lock.
    const owner = `${randomUUID()}|${eventId}|${timestamp}`;
    const jobKeys = predecessors.map((p) => `${this.jobKeyBase}:${p.jobId}`);
    const pairs = predecessors.flatMap((p) => [p.eventId, p.timestamp]);
    const ok = await runRedisScript<number>(
      this.redis,
      ENTER,
      [...this.keys(conversation), ...jobKeys],
      [eventId, timestamp, owner, this.lockTtlMs, this.pendingTtlMs, Date.now(), this.patienceMs, ...pairs],
    );
    return ok === 1 ? owner : null;
  }

  /**
   * Runs `work` holding the conversation: the lock is renewed every half of its lifetime while the
   * work runs, as BullMQ renews a job's lock, so a reply that takes longer than the lock's lifetime
   * (a slow Graph, many parts) is not overtaken by the conversation's next event.
   */
  async hold<T>(conversation: string, owner: string, work: () => Promise<T>): Promise<T> {
    const lock = this.keys(conversation)[1];
    // Best effort: a renewal that fails is tried again at the next tick, and while Redis stays away
    // the lock expires by itself, as a crashed holder's does; the work's own commands fail on their own.
    const renew = setInterval(
      () => void runRedisScript(this.redis, EXTEND, [lock], [owner, this.lockTtlMs]).catch(() => {}),
      Math.max(100, Math.floor(this.lockTtlMs / 2)),
    );
    renew.unref();
    try {
      return await work();
    } finally {
      clearInterval(renew);
    }
  }

  /**
   * The event is done here (it will not run again): it leaves the pending set and frees the lock.
   * `named`: a later event of its delivery names this one as a predecessor, so it is remembered as
   * done and never put back.
   */
  async finish(conversation: string, eventId: string, owner: string, opts: { named: boolean }): Promise<void> {
    await runRedisScript(this.redis, LEAVE, this.keys(conversation), [
      eventId,
      'done',
      owner,
      this.pendingTtlMs,
      opts.named ? '1' : '0',
    ]);
  }

  /** Frees the lock of an event that will run again (it failed, or waits): it keeps whatever place it has. */
  async release(conversation: string, eventId: string, owner: string): Promise<void> {
    await runRedisScript(this.redis, LEAVE, this.keys(conversation), [eventId, 'again', owner, this.pendingTtlMs, '0']);
  }

  /**
   * Frees the lock but keeps the event's place: its reply is still to go out, by its own send job,
   * and a later event of the conversation must not be answered first (events are ordered by their
   * timestamp, docs/meta-platform.md). The send job forgets it when it finishes; at worst the
   * patience ends it.
   */
  async park(conversation: string, eventId: string, timestamp: number, owner: string): Promise<void> {
    await runRedisScript(this.redis, LEAVE, this.keys(conversation), [
      eventId,
      'park',
      owner,
      this.pendingTtlMs,
      '0',
      timestamp,
      Date.now(),
    ]);
  }

  /**
   * The conversation's pending set (event ids scored by their time): an event later than another,
   * by at most a burst's debounce, that is in it waits to run — a message of the same burst that
   * has not been held yet (../bursts.ts reads it in the same call as the held messages).
   */
  pendingKey(conversation: string): string {
    return this.keys(conversation)[0];
  }

  /** A dead-lettered event, or a handed-over send that finished, must not hold up the rest of its conversation. */
  async forget(conversation: string, eventId: string): Promise<void> {
    await runRedisScript(this.redis, LEAVE, this.keys(conversation), [eventId, 'done', '', this.pendingTtlMs, '1']);
  }
}

export interface Predecessor {
  eventId: string;
  jobId: string;
  timestamp: number;
}

export function conversationOf(job: {
  channel: string;
  pageId: string;
  senderHash: string | null;
  eventId: string;
}): string {
  return `${job.channel}:${job.pageId}:${job.senderHash ?? job.eventId}`;
}
