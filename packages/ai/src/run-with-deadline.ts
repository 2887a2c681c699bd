import { AiError, AiTimeoutError } from './ai-errors.js';

/**
 * Runs `task` with a signal that aborts after `timeoutMs` or when `outer` aborts, and settles no
 * later than that even if the task ignores its signal: an SDK that keeps waiting on a socket must
 * not hold a worker past AI_TIMEOUT_MS. The abandoned promise is still observed, so its eventual
 * rejection is never reported as unhandled.
 */
export function runWithDeadline<T>(
  task: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
  outer?: AbortSignal,
): Promise<T> {
  const controller = new AbortController();
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined = undefined;
    const settle = (done: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
      done();
    };
    const abortWith = (err: AiError): void => {
      controller.abort(err);
      settle(() => reject(err));
    };
    function onOuterAbort(): void {
      // The caller's own deadline already explains itself; anything else is reported as a timeout
      // because the only reason to cut an AI call short is that its answer came too late.
      const reason: unknown = outer?.reason;
      abortWith(reason instanceof AiError ? reason : new AiTimeoutError('aborted'));
    }

    if (outer?.aborted) {
      onOuterAbort();
      return;
    }
    outer?.addEventListener('abort', onOuterAbort, { once: true });
    timer = setTimeout(() => abortWith(new AiTimeoutError(`timed out after ${timeoutMs} ms`)), timeoutMs);

    let running: Promise<T>;
    try {
      running = task(controller.signal);
    } catch (err) {
      settle(() => reject(err));
      return;
    }
    running.then(
      (value) => settle(() => resolve(value)),
      (err: unknown) => settle(() => reject(err)),
    );
  });
}
