import type { Redis } from 'ioredis';
import { AiRateLimiter } from './ai-rate-limiter.js';
import type { AiSettings } from './ai-settings.js';
import { BudgetGuard } from './budget-guard.js';
import type { BusinessInstructions } from './business-instructions.js';
import type { CounterSink } from './counter-sink.js';
import { GeminiGenerator } from './gemini-generator.js';
import type { KillSwitch } from './kill-switch.js';
import type { ReplyGenerator } from './reply-generator.js';
import { Responder } from './responder.js';

export interface CreateResponderOptions {
  redis: Redis;
  /** The deployment's key prefix (QUEUE_PREFIX); every AI key lives under `${prefix}:ai:`. */
  prefix: string;
  settings: AiSettings;
  /** The operator's switch, shared with whatever else in the process reads or sets it. */
  killSwitch: KillSwitch;
  counters: CounterSink;
  /** AI calls that may run at once in this process (the worker's concurrency); sizes the socket pool. */
  concurrency?: number;
  /** Replaces the Gemini generator (another provider, or a test double); null forces "unconfigured". */
  generator?: ReplyGenerator | null;
  /** Each page's instructions (its own or the default); without it every page gets `settings.instructions`. */
  instructions?: BusinessInstructions;
}

/** Wires the rate limits, budget and Gemini generator from the settings, behind the given kill switch. */
export function createResponder(opts: CreateResponderOptions): Responder {
  const { redis, prefix, settings, killSwitch, counters } = opts;
  const generator =
    opts.generator !== undefined
      ? opts.generator
      : settings.apiKey
        ? new GeminiGenerator({
            apiKey: settings.apiKey,
            model: settings.model,
            timeoutMs: settings.timeoutMs,
            ...(opts.concurrency ? { connections: opts.concurrency } : {}),
            ...(settings.baseUrl ? { baseUrl: settings.baseUrl } : {}),
          })
        : null;
  return new Responder({
    settings,
    counters,
    generator,
    ...(opts.instructions ? { instructions: opts.instructions } : {}),
    killSwitch,
    limiter: new AiRateLimiter(redis, `${prefix}:ai:rl`, {
      perMin: settings.maxCallsPerMin,
      perUserPerMin: settings.maxCallsPerMinPerPsid,
    }),
    budget: new BudgetGuard(redis, `${prefix}:ai:budget`, settings),
  });
}
