/**
 * Reply generation for Switchboard: decides, per inbound message, whether the AI answers or the
 * fallback reply is sent, and why. Standalone on purpose: it knows Redis and Gemini, nothing of
 * Fastify, BullMQ or the other packages; the worker passes in what it needs.
 */
export type { ReplyDecision, ReplyPath, ReplyReason, TokenUsage } from './reply-decision.js';
export type { CounterSink } from './counter-sink.js';
export type { AiSettings } from './ai-settings.js';
export type { GenerateResult, HistoryTurn, ReplyGenerator } from './reply-generator.js';
export type { BusinessInstructions } from './business-instructions.js';
export { SYSTEM_INSTRUCTION, systemInstructionFor } from './system-instruction.js';
export { AiError, AiBlockedError, AiTimeoutError } from './ai-errors.js';
export { sanitiseAiError } from './sanitise-ai-error.js';
export { stripMarkdown } from './strip-markdown.js';
export { capReplyText, MAX_REPLY_CHARS } from './cap-reply.js';
export { KillSwitch, killSwitchKey, type DurableSwitch } from './kill-switch.js';
export { AiRateLimiter, type AiRateLimits, type RateLimitVerdict } from './ai-rate-limiter.js';
export { BudgetGuard, type BudgetSettings, type BudgetStatus } from './budget-guard.js';
export { conversationContents, GeminiGenerator, type GeminiGeneratorOptions } from './gemini-generator.js';
export { Responder, type ResponderDeps, type PingResult } from './responder.js';
export { createResponder, type CreateResponderOptions } from './create-responder.js';
export { aiAgent, pooledFetch } from './pooled-fetch.js';
