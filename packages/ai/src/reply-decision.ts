/** Which text the user receives: the model's answer, or the configured fallback reply. */
export type ReplyPath = 'ai' | 'fallback';

/** Why that path was taken; logged with every reply and counted. */
export type ReplyReason =
  | 'ai'
  | 'kill_switch'
  | 'ai_unconfigured'
  | 'rate_limited_user'
  | 'rate_limited_global'
  | 'timeout'
  | 'error'
  | 'blocked'
  | 'budget';

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

export interface ReplyDecision {
  text: string;
  path: ReplyPath;
  reason: ReplyReason;
  latencyMs: number;
  /** Sanitised (see `sanitiseAiError`): never the key, the prompt or the user's text. */
  error?: string;
  usage?: TokenUsage;
}
