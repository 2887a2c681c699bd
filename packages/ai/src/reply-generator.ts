import type { TokenUsage } from './reply-decision.js';

export interface GenerateResult {
  text: string;
  usage?: TokenUsage;
}

/**
 * Turns one user message into one reply text, following the built-in rules and then
 * `businessInstructions` (the business's own words, when it has any). Implementations must stop
 * work when `signal` aborts.
 */
export interface ReplyGenerator {
  /** `history`: the conversation's earlier turns, oldest first, without the current message. */
  generate(
    userText: string,
    signal: AbortSignal,
    businessInstructions?: string,
    history?: readonly HistoryTurn[],
  ): Promise<GenerateResult>;
}

/** One earlier message of the conversation as the model sees it: the user's, or the business's (bot or staff). */
export interface HistoryTurn {
  role: 'user' | 'model';
  text: string;
}
