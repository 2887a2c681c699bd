import type { ConversationEventKind, PauseReason } from '@switchboard/pages';

/**
 * What happens next for one inbound event in its conversation, decided in one place, as pure
 * functions over what is known of the event and the conversation (README, "When a person takes
 * over"; REPLY_DEBOUNCE_MS). The inbound job gathers the facts (its payload, the conversation's
 * record and pause) and carries the decision out; the sender asks `mayReplyWhilePaused` right
 * before each Send API call. The AI switch, limits and budget are the responder's to decide: they
 * choose how a reply is made, not whether the event gets one.
 */

/** Why an event gets no reply of its own. */
export type Unanswered = 'echo_ours' | 'echo_human' | 'recorded' | 'standby' | 'stale' | 'not_answered' | 'paused';

/** What the event is, as far as answering it goes. */
export interface EventFacts {
  type: string;
  /** An echo of a message sent by this app (its app id is ours). */
  ours: boolean;
  /** A type that gets an answer (text, postback, quick reply). */
  answerable: boolean;
  /** A WhatsApp message without text to read (media, a place, …): answered by TEXT_ONLY_REPLY. */
  textOnly: boolean;
  /** Delivered on the standby channel: another app owns the thread. */
  standby: boolean;
  /** The user who wrote it is known. */
  hasSender: boolean;
  /** It has a text or a payload to read. */
  hasText: boolean;
  /** Time since Meta's timestamp. */
  ageMs: number;
  /** A reply was decided for it already (a run after a crash): it is sent however late. */
  replyKept: boolean;
  /** Held already for its burst's one reply (a later run of a message of a burst). */
  held: boolean;
}

/** Where the conversation stands after this event was noted in it (null: the event belongs to none). */
export interface ConversationFacts {
  kind: ConversationEventKind;
  /** The bot is silent in the conversation now. */
  paused: boolean;
  /** This message asked for a person and started the pause: it gets HANDOFF_REPLY, once. */
  asksForPerson: boolean;
}

export interface Settings {
  staleAfterMs: number;
  /** REPLY_DEBOUNCE_MS: 0 answers each message on its own. */
  debounceMs: number;
}

/** How the reply is made. */
export type ReplySource = 'kept' | 'handoff' | 'text_only' | 'responder';

export type NextStep =
  /** No reply: the event is recorded with this outcome (and, `keep`, its text kept for the model's memory). */
  | { step: 'settle'; outcome: Unanswered; keep: boolean }
  /** Held for its burst, and no longer to be answered: the burst lets it go, and it is recorded so. */
  | { step: 'let_go'; outcome: Unanswered; keep: boolean }
  /** A message of a burst: held, or answered with the rest of its burst (../processors/inbound.ts). */
  | { step: 'burst' }
  | { step: 'answer'; source: ReplySource };

/**
 * Why the event gets no reply by its nature, before its conversation is looked at, or null when
 * it is to be answered. Its conversation is noted with this answer (a keyword counts only in a
 * message that would be answered).
 */
export function unansweredByNature(event: EventFacts, settings: Settings): Unanswered | null {
  if (event.type === 'echo') return event.ours ? 'echo_ours' : 'echo_human';
  if (!event.answerable && !event.textOnly) return 'recorded';
  if (event.standby) return 'standby';
  if (!event.hasSender || !(event.textOnly || event.hasText)) return 'not_answered';
  if (!event.replyKept && event.ageMs > settings.staleAfterMs) return 'stale';
  return null;
}

/** What happens next for the event, once its conversation has been noted. */
export function nextStep(
  event: EventFacts,
  byNature: Unanswered | null,
  conversation: ConversationFacts | null,
  settings: Settings,
): NextStep {
  // While paused nothing is sent; the one exception is the pause this very message started by
  // asking for a person: it gets HANDOFF_REPLY.
  const outcome: Unanswered | null =
    byNature ?? (conversation?.paused && !conversation.asksForPerson ? 'paused' : null);
  if (outcome !== null) {
    // A message that got no reply only because of who holds the conversation is kept for memory.
    const keep = outcome === 'paused' || outcome === 'standby';
    return event.held && conversation ? { step: 'let_go', outcome, keep } : { step: 'settle', outcome, keep };
  }
  if (conversation && inBurst(event, conversation, settings)) return { step: 'burst' };
  return { step: 'answer', source: replySource(event, conversation) };
}

/**
 * A plain user message with text, while REPLY_DEBOUNCE_MS is on, is part of a burst: a keyword
 * (answered at once by HANDOFF_REPLY) or a message without text is not. A message held already
 * stays in its burst, whatever the setting says now.
 */
function inBurst(event: EventFacts, conversation: ConversationFacts, settings: Settings): boolean {
  if (event.held) return true;
  return settings.debounceMs > 0 && conversation.kind === 'user' && !event.textOnly && event.hasText;
}

/** How an answered event's reply is made: the one kept from an earlier run, or decided now. */
export function replySource(event: EventFacts, conversation: ConversationFacts | null): ReplySource {
  if (event.replyKept) return 'kept';
  if (conversation?.asksForPerson) return 'handoff';
  if (event.textOnly) return 'text_only';
  return 'responder';
}

/**
 * Whether a decided reply may go out now, checked right before every Send API call: not while the
 * conversation is paused — except the reply that answers the user's own request for a person.
 */
export function mayReplyWhilePaused(pause: PauseReason | null, answersRequestForPerson: boolean): boolean {
  return pause === null || (pause === 'user_asked' && answersRequestForPerson);
}
