import { WHATSAPP_TEXT_ONLY_TYPES } from '@switchboard/meta';
import { type InboundJob, type InboundPersonal, parseSendMetadata } from '@switchboard/queue';
import {
  type ConversationEventKind,
  conversationId,
  isPaused,
  readPauseGate,
  type Turn,
  writePauseGate,
} from '@switchboard/pages';
import type { WorkerResources } from './resources.js';

/** Events that are a user's message in their conversation (a WhatsApp picture or place too). */
const USER_MESSAGES: ReadonlySet<string> = new Set([
  'text',
  'postback',
  'quick_reply',
  'attachment',
  ...WHATSAPP_TEXT_ONLY_TYPES,
]);
/** The reason of the reply a user gets for asking for a person (replies.reason). */
export const HANDOFF_REASON = 'handoff';

/** What the inbound job needs to know of the conversation an event belongs to. */
export interface ConversationNote {
  id: string;
  kind: ConversationEventKind;
  /** The bot is silent in the conversation now. */
  paused: boolean;
  /** This message asked for a person and started the pause: it gets HANDOFF_REPLY, once. */
  asksForPerson: boolean;
  /**
   * The event's own row records it in the conversation (last message, count), in the statement
   * that writes the event (../records.ts): a plain user message, which changes no pause.
   */
  recordedWithEvent: boolean;
}

/**
 * Keeps each conversation's record and pause as its events come in (README, "When a person takes
 * over"). A plain user message changes no pause: the Redis pause gate says whether the bot is
 * silent, and the message is counted in its conversation by the statement that records its event,
 * so it costs no statement of its own. An event that may change the pause — a staff message, a
 * request for a person, a hand-over — is one batched upsert, whose answer is the state the job
 * decides by, mirrored into the gate the sender checks right before every Send API call. Staff
 * messages become turns of the model's memory here.
 */
export function createConversationKeeper(r: WorkerResources) {
  const { config, counters, memory } = r;

  /** What the event means for its conversation, or null when it belongs to none. */
  function classify(
    data: InboundJob,
    personal: InboundPersonal,
    settled: string | null,
  ): { kind: ConversationEventKind; userHash: string; counts: boolean } | null {
    if (data.type === 'echo') {
      // Our own sends come back as echoes too; they are recorded as the bot's turns when sent. One
      // that carries our send's metadata is ours even where FACEBOOK_APP_ID is not configured.
      if (settled !== 'echo_human' || !data.userHash || parseSendMetadata(personal.metadata)) return null;
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
    return {
      kind: settled === null && isHandoffKeyword(personal.text) ? 'keyword' : 'user',
      userHash: data.senderHash,
      counts: true,
    };
  }

  function isHandoffKeyword(text: string | null): boolean {
    return text !== null && config.handoff.keywords.includes(text.trim().toLowerCase());
  }

  /** Records the event in its conversation (or leaves that to the event's row) and answers where the conversation stands. */
  async function note(
    data: InboundJob,
    personal: InboundPersonal,
    settled: string | null,
  ): Promise<ConversationNote | null> {
    const what = classify(data, personal, settled);
    if (!what) return null;
    const id = conversationId(data.channel, data.pageId, what.userHash);
    if (what.kind === 'user') {
      const paused = settled === null && (await readPauseGate(r.redis, config.queuePrefix, id)) !== null;
      return { id, kind: what.kind, paused, asksForPerson: false, recordedWithEvent: true };
    }
    const at = new Date(data.timestamp);
    const state = await r.writes.conversation({
      channel: data.channel,
      pageId: data.pageId,
      userHash: what.userHash,
      kind: what.kind,
      at,
      counts: what.counts,
      pauseMs: config.handoff.pauseMs,
    });
    await writePauseGate(r.redis, config.queuePrefix, state);
    if (state.pauseStarted && state.pauseReason) counters.count('handoffs', { reason: state.pauseReason });
    if (what.kind === 'staff' && personal.text) await memory.append(id, [{ at, from: 'staff', text: personal.text }]);
    const asksForPerson = what.kind === 'keyword' && state.pauseStarted && state.pauseReason === 'user_asked';
    return { id, kind: what.kind, paused: isPaused(state), asksForPerson, recordedWithEvent: false };
  }

  /** Keeps a user's message that got no reply of its own (paused, another app's thread) for memory. */
  async function keepUnanswered(
    note: ConversationNote | null,
    data: InboundJob,
    personal: InboundPersonal,
  ): Promise<void> {
    const text = personal.text ?? personal.payload;
    if (!note || note.kind === 'staff' || note.kind === 'handover_back' || !text) return;
    await memory.append(note.id, [{ at: new Date(data.timestamp), from: 'user', text }]);
  }

  /**
   * The note of a user's plain message (kind `user`) as far as the event alone tells, without
   * reading the pause gate (`paused: false`): for a message that only starts waiting for its burst,
   * whose pause is read when the burst is decided. Null for any other kind.
   */
  function userMessageNote(data: InboundJob, personal: InboundPersonal): ConversationNote | null {
    const what = classify(data, personal, null);
    if (what?.kind !== 'user') return null;
    const id = conversationId(data.channel, data.pageId, what.userHash);
    return { id, kind: 'user', paused: false, asksForPerson: false, recordedWithEvent: true };
  }

  return { note, keepUnanswered, userMessageNote };
}

/**
 * The bot's reply as a turn of its conversation (sent, or decided in dry run), after the user's
 * turns it answers when they are kept together (one script call instead of two).
 */
export async function keepBotTurn(
  r: Pick<WorkerResources, 'memory'>,
  reply: { channel: string; pageId: string; senderHash: string },
  text: string,
  dryRun = false,
  userTurns: readonly Turn[] = [],
): Promise<void> {
  const turn: Turn = dryRun ? { at: new Date(), from: 'bot', text, dryRun } : { at: new Date(), from: 'bot', text };
  await r.memory.append(conversationId(reply.channel, reply.pageId, reply.senderHash), [...userTurns, turn]);
}
