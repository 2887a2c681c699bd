import { UnrecoverableError } from 'bullmq';
import type { GraphApiError } from '@switchboard/meta';

/**
 * How a send attempt that Meta refused ends, as types the registry reads (its backoff strategy, its
 * dead-letter bookkeeping) instead of words or properties stuck on a plain Error. `detail` is the
 * cause in words (GraphApiError.summary): the same in the log, the event's `last_error` and the
 * dead letter's reason; `code` is Meta's error code, kept as data for `last_error_code`.
 */
export interface SendFailure {
  detail: string;
  code: number | null;
}

export function sendFailureOf(err: GraphApiError): SendFailure {
  return { detail: err.summary, code: err.code };
}

/** A send that may go through later: BullMQ retries it after the send backoff, slower when Meta throttled us. */
export class RetryableSendError extends Error {
  override readonly name = 'RetryableSendError';
  readonly code: number | null;
  readonly rateLimited: boolean;
  /** Meta's own estimate of when to try again, when it gave one. */
  readonly retryAfterMs: number | null;

  constructor(failure: SendFailure, opts: { rateLimited: boolean; retryAfterMs: number | null }) {
    super(failure.detail);
    this.code = failure.code;
    this.rateLimited = opts.rateLimited;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/**
 * A send that will not go through as it is (a permanent Graph error, a restricted account, a send
 * that may have been delivered already): dead-lettered at once. An UnrecoverableError, so BullMQ
 * makes no further attempt.
 */
export class PermanentSendError extends UnrecoverableError {
  readonly code: number | null;

  constructor(failure: SendFailure) {
    super(failure.detail);
    this.code = failure.code;
  }
}

/** The Graph error code a job's final error carries, if it is a send's. */
export function sendErrorCode(err: Error): number | null {
  return err instanceof PermanentSendError || err instanceof RetryableSendError ? err.code : null;
}
