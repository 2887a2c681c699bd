import type { Redis } from 'ioredis';
import type { Sealer } from '@switchboard/privacy';
import { bullPrefix, defineRedisScripts, loadRedisScript, type QueueShards, runRedisScript } from '@switchboard/queue';

/** Who wrote a turn: the user, the bot, or a person from the business. */
export type TurnFrom = 'user' | 'bot' | 'staff';

export interface Turn {
  at: Date;
  from: TurnFrom;
  text: string;
  /** A bot turn decided in dry run (no token for the page): kept, never sent. */
  dryRun?: boolean;
}

const FROM_CODE: Record<TurnFrom, string> = { user: 'u', bot: 'b', staff: 's' };
/** A dry-run bot turn has its own code, so the flag costs no byte of the sealed text and needs no second format. */
const DRY_RUN_CODE = 'd';
const CODE_FROM: Record<string, TurnFrom> = { u: 'user', b: 'bot', s: 'staff', [DRY_RUN_CODE]: 'bot' };
const codeOf = (t: Turn) => (t.from === 'bot' && t.dryRun ? DRY_RUN_CODE : FROM_CODE[t.from]);

/**
 * A conversation's keys live in its queue shard's hash tag (`prefix` here: QueueShards.tagOfConversation),
 * beside its sequencing keys, so any of them may be touched together (erasing a conversation deletes its turns and its burst at
 * once), which a Redis Cluster allows only within one slot.
 */
export const conversationKeyBase = (prefix: string, conversationId: string) =>
  `${bullPrefix(prefix)}:conv:${conversationId}`;

/** One Redis list per conversation, oldest turn first. */
export const turnsKey = (prefix: string, conversationId: string) =>
  `${conversationKeyBase(prefix, conversationId)}:turns`;

/**
 * One Redis hash per conversation: the user's messages held for their burst's one reply
 * (apps/worker/src/bursts.ts), until it is decided.
 */
export const burstKey = (prefix: string, conversationId: string) =>
  `${conversationKeyBase(prefix, conversationId)}:burst`;

/** A turn's text is sealed for its conversation: a blob copied into another list does not open. */
const turnAad = (conversationId: string) => `conversation-turn:${conversationId}`;

/**
 * Appends turns, keeps the newest `max`, drops those at the head older than the cutoff, and lets
 * the whole list expire once its newest turn ages out: one round trip per append, and nothing
 * outlives AI_HISTORY_MAX_AGE_S by more than the time to the conversation's next turn.
 */
const APPEND_TURNS = loadRedisScript(new URL('../src/scripts/', import.meta.url), 'append-turns', 'appendTurns');

/**
 * The texts a conversation keeps so the model can follow it (AI_HISTORY_TURNS turns at most, none
 * older than AI_HISTORY_MAX_AGE_S), sealed with AES-256-GCM. They live in Redis, not PostgreSQL:
 * both take one round trip to keep a turn and one to read the history, but a PostgreSQL row with its
 * index took twice the bytes, about 1.6 KB of WAL per turn and a sweep for aged rows, on the
 * statements the worker's hot path already spends most of its time in; Redis trims and expires the
 * list itself (bench/memory-storage.ts; README, "When a person takes over").
 */
export class ConversationMemory {
  readonly #redis: Redis;

  constructor(
    redis: Redis,
    private readonly opts: {
      /** QUEUE_PREFIX: the keys' hash tag when there are no shards. */
      prefix: string;
      /** The queue shards: a conversation's keys carry its shard's hash tag. */
      shards?: QueueShards;
      sealer: Sealer;
      maxTurns: number;
      maxAgeMs: number;
    },
  ) {
    defineRedisScripts(redis, [APPEND_TURNS]);
    this.#redis = redis;
  }

  /** Memory is off (AI_HISTORY_TURNS=0): nothing is read or kept. */
  get enabled(): boolean {
    return this.opts.maxTurns > 0;
  }

  async append(conversationId: string, turns: readonly Turn[], now = Date.now()): Promise<void> {
    if (!this.enabled || turns.length === 0) return;
    const { sealer, maxTurns, maxAgeMs } = this.opts;
    const prefix = this.#tag(conversationId);
    const items = turns.map((t) => `${t.at.getTime()}:${codeOf(t)}:${sealer.seal(t.text, turnAad(conversationId))}`);
    await runRedisScript(
      this.#redis,
      APPEND_TURNS,
      [turnsKey(prefix, conversationId)],
      [maxTurns, now - maxAgeMs, maxAgeMs, ...items],
    );
  }

  /**
   * The kept turns within the age limit, oldest first (by when they were written, whatever order
   * they were stored in). A turn that no configured key opens is skipped.
   */
  async read(conversationId: string, now = Date.now()): Promise<Turn[]> {
    if (!this.enabled) return [];
    const { maxTurns, maxAgeMs } = this.opts;
    const prefix = this.#tag(conversationId);
    const raw = await this.#redis.lrange(turnsKey(prefix, conversationId), -maxTurns, -1);
    return this.#open(conversationId, raw, now - maxAgeMs);
  }

  /** Erases a conversation's kept texts, the messages held for a burst's reply too. */
  async erase(conversationId: string): Promise<void> {
    const prefix = this.#tag(conversationId);
    await this.#redis.del(turnsKey(prefix, conversationId), burstKey(prefix, conversationId));
  }

  #tag(conversationId: string): string {
    return this.opts.shards ? this.opts.shards.tagOfConversation(conversationId) : this.opts.prefix;
  }

  #open(conversationId: string, raw: readonly string[], cutoff: number): Turn[] {
    const turns: Turn[] = [];
    for (const item of raw) {
      const match = /^(\d+):([ubsd]):(.+)$/s.exec(item);
      if (!match) continue;
      const at = Number(match[1]);
      const from = CODE_FROM[match[2] as string];
      if (at < cutoff || !from) continue;
      try {
        const text = this.opts.sealer.open(match[3] as string, turnAad(conversationId));
        turns.push(
          match[2] === DRY_RUN_CODE ? { at: new Date(at), from, text, dryRun: true } : { at: new Date(at), from, text },
        );
      } catch {
        // Sealed with a key no longer configured: the model simply does not see it.
      }
    }
    return turns.sort((a, b) => a.at.getTime() - b.at.getTime());
  }
}
