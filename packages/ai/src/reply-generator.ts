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
  generate(userText: string, signal: AbortSignal, businessInstructions?: string): Promise<GenerateResult>;
}
