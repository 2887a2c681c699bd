import type { TokenUsage } from './reply-decision.js';

export interface GenerateResult {
  text: string;
  usage?: TokenUsage;
}

/** Turns one user message into one reply text. Implementations must stop work when `signal` aborts. */
export interface ReplyGenerator {
  generate(userText: string, signal: AbortSignal): Promise<GenerateResult>;
}
