import type { JobsOptions } from 'bullmq';

/**
 * Default job options, per queue.
 *
 * Removal ages: a finished job's hash holds its (sealed) payload, so keeping jobs is memory and a
 * privacy cost. A completed inbound job is removed at once: its event's row in PostgreSQL is the
 * record of what was done, de-duplication has its own small keys, and keeping the job would cost
 * every finish a few commands more (adding it to the completed set, trimming that set by age and
 * count; docs/performance.md, "What a message costs"). Completed send jobs, rare (a send handed
 * over after its inline attempt), go after 1 hour. Failed jobs are the dead-letter queue: they stay
 * 14 days so an operator can inspect and replay them from /ops/dlq, and are capped in number so a
 * flood of permanent failures cannot exhaust Redis (BullMQ docs: "Auto-removal of jobs").
 */
const COMPLETED = { age: 3600, count: 10_000 };
const FAILED = { age: 14 * 24 * 3600, count: 50_000 };

/** Backoff: exponential from 1 s, capped at 5 min, with full jitter (see backoffDelay). */
export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_CAP_MS = 5 * 60_000;

/**
 * "Exponential backoff with full jitter" (AWS Architecture Blog, 2015): a random delay in
 * [0, min(cap, base·2^n)] spreads retries of many jobs that failed together (a Graph outage)
 * instead of sending them back in lock-step. Registered as the worker's custom backoff strategy.
 */
export function backoffDelay(attemptsMade: number, random = Math.random): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attemptsMade - 1));
  return Math.max(BACKOFF_BASE_MS / 2, Math.round(ceiling * random()));
}

export const JITTER_BACKOFF = 'jittered-exponential';

/**
 * Send retries ride out an ordinary Graph outage instead of dead-lettering every reply after about
 * a minute: the wait before the n-th retry is 1 s × 4^(n-1), capped at 12 minutes, so a blip costs
 * a second and a long outage is tried every 12 minutes. With SEND_MAX_ATTEMPTS at its default (8
 * attempts, 7 waits) the waits add up to about 30 minutes (1 + 4 + 16 + 64 + 256 + 720 + 720 s),
 * far inside Meta's 24-hour reply window. Jitter takes up to a fifth off each wait, so sends that
 * failed together (the outage) come back spread out, and the window never shrinks below 80 %.
 */
export const SEND_BACKOFF = 'send-window';
export const SEND_BACKOFF_BASE_MS = 1000;
export const SEND_BACKOFF_FACTOR = 4;
export const SEND_BACKOFF_CAP_MS = 12 * 60_000;
const SEND_JITTER = 0.2;

/** The wait before a send's `retry`-th retry (1 = after its first failed attempt). */
export function sendBackoffDelay(retry: number, random = Math.random): number {
  const ceiling = Math.min(SEND_BACKOFF_CAP_MS, SEND_BACKOFF_BASE_MS * SEND_BACKOFF_FACTOR ** Math.max(0, retry - 1));
  return Math.round(ceiling * (1 - SEND_JITTER * random()));
}

/** A rate-limited send waits at least this long, longer when Meta says how long. */
export const RATE_LIMIT_MIN_DELAY_MS = 10_000;

/**
 * The wait before a failed send's next attempt: sendBackoffDelay, and slower when Meta throttled us
 * (four times as long, within the cap; Meta's own estimate when it gives a longer one).
 */
export function sendRetryDelay(
  retry: number,
  rateLimited: boolean,
  retryAfterMs: number | null | undefined,
  random = Math.random,
): number {
  const base = sendBackoffDelay(retry, random);
  return rateLimited
    ? Math.max(Math.min(SEND_BACKOFF_CAP_MS, base * 4), retryAfterMs ?? 0, RATE_LIMIT_MIN_DELAY_MS)
    : base;
}

export function inboundJobOptions(): JobsOptions {
  return {
    attempts: 5,
    backoff: { type: JITTER_BACKOFF },
    removeOnComplete: true,
    removeOnFail: FAILED,
  };
}

export function outboundJobOptions(maxAttempts: number): JobsOptions {
  return {
    attempts: maxAttempts,
    backoff: { type: SEND_BACKOFF },
    removeOnComplete: COMPLETED,
    removeOnFail: FAILED,
  };
}

export function maintenanceJobOptions(): JobsOptions {
  return {
    attempts: 3,
    backoff: { type: JITTER_BACKOFF },
    removeOnComplete: { age: 7 * 24 * 3600, count: 200 },
    removeOnFail: { age: 30 * 24 * 3600 },
  };
}
