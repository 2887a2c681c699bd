import type { InboundJob, InboundPersonal } from '@switchboard/queue';
import { type ConversationEventKind, type ConversationState, conversationId, type Turn, writePauseGate } from '@switchboard/pages';
import type { WorkerResources } from './resources.js';

/** Events that are a user's message in their conversation. */
const USER_MESSAGES = new Set(['text', 'postback', 'quick_reply', 'attachment']);
/** The reason of the reply a user gets for asking for a person (replies.reason). */
export const HANDOFF_REASON = 'handoff';

/** What the inbound job needs to know of the conversation an event belongs to. */
export interface ConversationNote {
  id: string;
  kind: ConversationEventKind;
  state: ConversationState;
}

/**
 * Keeps each conversation's record and pause as its events come in (README, "When a person takes
 * over"): one batched upsert per event that belongs to a conversation, whose answer is the state the
 * inbound job decides by; a pause that starts or ends is mirrored into the Redis gate the send path
 * checks right before every Send API call. Staff messages become turns of the model's memory here.
 */
export function createConversationKeeper(r: WorkerResources) {
  const { config, counters, memory } = r;

  /** What the event means for its conversation, or null when it belongs to none. */
  function classify(data: InboundJob, personal: InboundPersonal, settled: string | null): { kind: ConversationEventKind; userHash: string; counts: boolean } | null {
    if (data.type === 'echo') {
      // Our own sends come back as echoes too; they are recorded as the bot's turns when sent.
      if (settled !== 'echo_human' || !data.userHash) return null;
      return { kind: 'staff', userHash: data.userHash, counts: true };
    }
    if (!data.senderHash) return null;
    if (data.type === 'handover') {
      // Meta names the new owner on a pass; a take without one is the primary app (us) taking it back.
      const ours = personal.appId !== null && personal.appId === config.meta.appId;
      const back = ours || (personal.payload === 'take_thread_control' && personal.appId === null);
      return { kind: back ? 'handover_back' : 'handover_away', userHash: data.senderHash, counts: false };
    }
    if (!USER_MESSAGES.has(data.type)) return null;
    if (data.standby) return { kind: 'handover_away', userHash: data.senderHash, counts: true };
    // Only a message that would be answered can ask for a person: the request is answered by HANDOFF_REPLY.
    return { kind: settled === null && isHandoffKeyword(personal.text) ? 'keyword' : 'user', userHash: data.senderHash, counts: true };
  }

  function isHandoffKeyword(text: string | null): boolean {
    return text !== null && config.handoff.keywords.includes(text.trim().toLowerCase());
  }

  /** Records the event in its conversation and answers the conversation's state after it. */
  async function note(data: InboundJob, personal: InboundPersonal, settled: string | null): Promise<ConversationNote | null> {
    const what = classify(data, personal, settled);
    if (!what) return null;
    const at = new Date(data.timestamp);
    const state = await r.writes.conversation({ channel: data.channel, pageId: data.pageId, userHash: what.userHash, kind: what.kind, at, counts: what.counts, pauseMs: config.handoff.pauseMs });
    if (what.kind !== 'user') await writePauseGate(r.redis, config.queuePrefix, state);
    if (state.pauseStarted && state.pauseReason) counters.count('handoffs', { reason: state.pauseReason });
    if (what.kind === 'staff' && personal.text) await memory.append(state.id, [{ at, from: 'staff', text: personal.text }]);
    return { id: state.id, kind: what.kind, state };
  }

  /** Keeps a user's message that got no reply of its own (paused, another app's thread) for memory. */
  async function keepUnanswered(note: ConversationNote | null, data: InboundJob, personal: InboundPersonal): Promise<void> {
    const text = personal.text ?? personal.payload;
    if (!note || note.kind === 'staff' || note.kind === 'handover_back' || !text) return;
    await memory.append(note.id, [{ at: new Date(data.timestamp), from: 'user', text }]);
  }

  return { note, keepUnanswered };
}

/** The bot's reply as a turn of its conversation (sent, or decided in dry run). */
export async function keepBotTurn(r: Pick<WorkerResources, 'memory'>, reply: { channel: string; pageId: string; senderHash: string }, text: string): Promise<void> {
  const turn: Turn = { at: new Date(), from: 'bot', text };
  await r.memory.append(conversationId(reply.channel, reply.pageId, reply.senderHash), [turn]);
}
