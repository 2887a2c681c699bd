import { AiBlockedError, AiTimeoutError } from './ai-errors.js';
import type { AiRateLimiter } from './ai-rate-limiter.js';
import type { AiSettings } from './ai-settings.js';
import type { BudgetGuard } from './budget-guard.js';
import type { BusinessInstructions } from './business-instructions.js';
import type { CounterSink } from './counter-sink.js';
import type { KillSwitch } from './kill-switch.js';
import type { ReplyDecision, ReplyReason } from './reply-decision.js';
import type { GenerateResult, HistoryTurn, ReplyGenerator } from './reply-generator.js';
import { runWithDeadline } from './run-with-deadline.js';
import { sanitiseAiError } from './sanitise-ai-error.js';

export interface ResponderDeps {
  settings: AiSettings;
  killSwitch: KillSwitch;
  limiter: AiRateLimiter;
  budget: BudgetGuard;
  /** Null when no API key is configured: every reply then takes the fallback path. */
  generator: ReplyGenerator | null;
  counters: CounterSink;
  /**
   * The business's instructions per page. Without it (the API's responder, which only pings) every
   * page gets the default from the settings.
   */
  instructions?: BusinessInstructions;
}

export type PingResult = { ok: true; latency_ms: number } | { ok: false; error: string };

/** The text sent for `ping`: the smallest prompt that still exercises the whole call. */
const PING_TEXT = 'ping';

/**
 * Decides the text of one reply: the model's answer when every gate admits the call and the call
 * succeeds in time, otherwise the fallback reply, with the reason either way.
 *
 * The gates run cheapest and least surprising first: the operator's kill switch, then whether AI
 * is configured at all, then the budget, then the rate limits last, because they consume a slot.
 * The business's instructions are read just before the rate limits: only a reply that may take the
 * AI path pays for the read, and a failed read spends no slot. Redis or PostgreSQL failures there
 * are not AI failures and propagate, so the job is retried rather than answered with a fallback
 * while the infrastructure is down.
 */
export class Responder {
  readonly #deps: ResponderDeps;

  constructor(deps: ResponderDeps) {
    this.#deps = deps;
  }

  /** `pageId` names the Page, Instagram account or WhatsApp number the message was sent to. */
  /**
   * `history` reads the conversation's earlier turns; it is called only for a reply that takes the
   * AI path (after every gate admitted the call), so a fallback reads nothing.
   */
  async decide(input: {
    userHash: string;
    text: string;
    pageId?: string;
    history?: () => Promise<readonly HistoryTurn[]>;
  }): Promise<ReplyDecision> {
    const { settings, killSwitch, limiter, budget, generator, counters } = this.#deps;
    const started = performance.now();
    const fallback = (reason: Exclude<ReplyReason, 'ai'>, error?: string): ReplyDecision => {
      counters.incr('fallbacks');
      return {
        text: settings.fallbackReply,
        path: 'fallback',
        reason,
        latencyMs: elapsed(started),
        ...(error === undefined ? {} : { error }),
      };
    };

    if (!(await killSwitch.isEnabled())) return fallback('kill_switch');
    if (generator === null || !settings.apiKey) return fallback('ai_unconfigured');
    if (await budget.isExhausted()) {
      counters.incr('ai_budget_blocked');
      return fallback('budget');
    }
    const business = await this.#instructionsFor(input.pageId);
    const verdict = await limiter.tryAcquire(input.userHash);
    if (verdict === 'rate_limited_user') {
      counters.incr('ai_calls_blocked_per_psid');
      return fallback('rate_limited_user');
    }
    if (verdict === 'rate_limited_global') {
      counters.incr('ai_calls_blocked_global');
      return fallback('rate_limited_global');
    }

    const history = input.history ? await input.history() : [];
    counters.incr('ai_calls');
    if (history.length > 0) counters.incr('ai_history_turns', history.length);
    let result: GenerateResult;
    try {
      result = await this.#generate(generator, input.text, business, history);
    } catch (err) {
      counters.incr('ai_errors');
      const error = sanitiseAiError(err, [
        settings.apiKey,
        input.text,
        ...(business ? [business] : []),
        ...history.map((h) => h.text),
      ]);
      if (err instanceof AiTimeoutError) {
        counters.incr('ai_timeouts');
        return fallback('timeout', error);
      }
      if (err instanceof AiBlockedError) {
        counters.incr('ai_blocked');
        return fallback('blocked', error);
      }
      return fallback('error', error);
    }

    if (result.usage) await this.#recordSpend(result);
    return {
      text: result.text,
      path: 'ai',
      reason: 'ai',
      latencyMs: elapsed(started),
      ...(result.usage ? { usage: result.usage } : {}),
    };
  }

  /** One minimal call for the operator, past the kill switch, budget and rate limits but within the timeout. */
  async ping(): Promise<PingResult> {
    const { settings, generator } = this.#deps;
    if (generator === null || !settings.apiKey) return { ok: false, error: 'ai_unconfigured' };
    const started = performance.now();
    try {
      const result = await this.#generate(generator, PING_TEXT);
      const latency_ms = elapsed(started);
      await this.#recordSpend(result);
      return { ok: true, latency_ms };
    } catch (err) {
      return { ok: false, error: sanitiseAiError(err, [settings.apiKey]) };
    }
  }

  #instructionsFor(pageId: string | undefined): Promise<string | undefined> {
    const { instructions, settings } = this.#deps;
    if (instructions && pageId !== undefined) return instructions.forPage(pageId);
    return Promise.resolve(settings.instructions);
  }

  /** The hard limit lives here as well as in the generator, so any generator is cut at timeoutMs. */
  #generate(
    generator: ReplyGenerator,
    text: string,
    businessInstructions?: string,
    history?: readonly HistoryTurn[],
  ): Promise<GenerateResult> {
    return runWithDeadline(
      (signal) => generator.generate(text, signal, businessInstructions, history),
      this.#deps.settings.timeoutMs,
    );
  }

  /**
   * The reply already exists and is paid for; failing to count it must not turn it into a
   * fallback, so a Redis error here is swallowed (the next budget check reads Redis again anyway).
   */
  async #recordSpend(result: GenerateResult): Promise<void> {
    if (!result.usage) return;
    try {
      await this.#deps.budget.record(result.usage);
    } catch {
      // See above: never lose a paid-for answer over bookkeeping.
    }
  }
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}
