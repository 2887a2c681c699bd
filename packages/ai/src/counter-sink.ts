/**
 * Where the responder counts what it did. The owner of the process implements it (over Redis
 * HINCRBY), so this package stays free of any metrics library. Names used: ai_calls,
 * ai_calls_blocked_per_psid, ai_calls_blocked_global, ai_errors, ai_timeouts, ai_blocked,
 * fallbacks, ai_budget_blocked, ai_history_turns (earlier turns sent to the model, summed).
 */
export interface CounterSink {
  incr(name: string, by?: number): void;
}
