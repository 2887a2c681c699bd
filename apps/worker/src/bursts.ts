import type { Redis } from 'ioredis';
import { burstKey } from '@switchboard/pages';
import type { Sealer } from '@switchboard/privacy';
import { defineRedisScripts, loadRedisScript, runRedisScript } from '@switchboard/queue';

/** A user's message held back until its burst is complete. */
export interface HeldMessage {
  eventId: string;
  at: number;
  text: string;
}

/** Held messages older than this are given up on (their burst was answered or will never be). */
const HELD_TTL_MS = 3_600_000;

const scriptsDir = new URL('../src/scripts/', import.meta.url);
/** Holding a message is one script call (a MULTI of HSET and PEXPIRE is four top-level commands). */
const HOLD = loadRedisScript(scriptsDir, 'burst-hold', 'sbBurstHold');
/** Whether a later message of the burst waits, and if not the held messages, in one call. */
const READ_UNLESS_LATER = loadRedisScript(scriptsDir, 'burst-read', 'sbBurstRead');

/**
 * The messages of a conversation that wait for their burst's one reply (README, "When a person
 * takes over"; REPLY_DEBOUNCE_MS): one Redis hash per conversation, field = event id, so holding a
 * message again after a crash changes nothing. Texts are sealed for their conversation. The inbound
 * job that holds a message runs again when the debounce has passed; the burst's last message
 * decides the reply over every held message up to it, and releases them once it is decided.
 */
export function createBurstBuffer(redis: Redis, opts: { prefix: string; sealer: Sealer }) {
  defineRedisScripts(redis, [HOLD, READ_UNLESS_LATER]);
  const key = (conversationId: string) => burstKey(opts.prefix, conversationId);
  const aad = (conversationId: string) => `conversation-burst:${conversationId}`;

  async function hold(conversationId: string, message: HeldMessage): Promise<void> {
    const sealed = opts.sealer.seal(message.text, aad(conversationId));
    await runRedisScript(redis, HOLD, [key(conversationId)], [message.eventId, `${message.at}:${sealed}`, HELD_TTL_MS]);
  }

  /** The held messages, oldest first. One that no configured key opens is skipped. */
  async function read(conversationId: string): Promise<HeldMessage[]> {
    return open(conversationId, await redis.hgetall(key(conversationId)));
  }

  /**
   * The held messages as `read` gives them, unless a message of the conversation later than `at`,
   * by at most `withinMs`, waits in its pending set (`pendingKey`, the sequencer's): 'later'.
   */
  async function readUnlessLater(
    conversationId: string,
    pendingKey: string,
    at: number,
    withinMs: number,
  ): Promise<HeldMessage[] | 'later'> {
    const reply = await runRedisScript<Array<string | number>>(
      redis,
      READ_UNLESS_LATER,
      [pendingKey, key(conversationId)],
      [at, withinMs],
    );
    if (reply[0] === 1) return 'later';
    const raw: Record<string, string> = {};
    for (let i = 1; i + 1 < reply.length; i += 2) raw[String(reply[i])] = String(reply[i + 1]);
    return open(conversationId, raw);
  }

  function open(conversationId: string, raw: Record<string, string>): HeldMessage[] {
    const held: HeldMessage[] = [];
    for (const [eventId, item] of Object.entries(raw)) {
      const match = /^(\d+):(.+)$/s.exec(item);
      if (!match) continue;
      try {
        held.push({ eventId, at: Number(match[1]), text: opts.sealer.open(match[2] as string, aad(conversationId)) });
      } catch {
        // Sealed with a key no longer configured: nothing to show the model.
      }
    }
    return held.sort((a, b) => a.at - b.at || a.eventId.localeCompare(b.eventId));
  }

  /** The messages are answered: they no longer wait. */
  async function release(conversationId: string, eventIds: readonly string[]): Promise<void> {
    if (eventIds.length > 0) await redis.hdel(key(conversationId), ...eventIds);
  }

  return { hold, read, readUnlessLater, release };
}

export type BurstBuffer = ReturnType<typeof createBurstBuffer>;

/**
 * The part of the held messages that one reply answers, for the message at `at`: every held
 * message up to it; and whether a later held message continues its burst (each within `debounceMs`
 * of the one before), in which case that later one answers them all.
 */
export function burstOf(
  held: readonly HeldMessage[],
  eventId: string,
  at: number,
  debounceMs: number,
): { answered: HeldMessage[]; continued: boolean } {
  const answered = held.filter((m) => m.at < at || (m.at === at && m.eventId <= eventId));
  const next = held.find((m) => !answered.includes(m));
  return { answered, continued: next !== undefined && next.at - at <= debounceMs };
}
