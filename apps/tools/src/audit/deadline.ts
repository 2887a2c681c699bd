/**
 * Every network check of the audit is cut at this: an operator running the checklist against a
 * half-dead system wants a report in seconds, with the hanging service named, not a hung command.
 */
export const NETWORK_TIMEOUT_MS = 3000;

export class DeadlineError extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer within ${ms} ms`);
    this.name = 'DeadlineError';
  }
}

/** Settles with `promise` or rejects after `ms`; the abandoned promise's rejection is swallowed. */
export function withDeadline<T>(promise: Promise<T>, what: string, ms = NETWORK_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  promise.catch(() => {});
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DeadlineError(what, ms)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * A short reason for a failed check. URLs are cut out (a connection string may carry a password)
 * and the text is capped; drivers' messages ("connect ECONNREFUSED 10.0.0.5:6379", "password
 * authentication failed for user …") are otherwise what an operator needs to see.
 */
export function describeFailure(err: unknown): string {
  if (!(err instanceof Error)) return 'unknown error';
  const text = (err.message || err.name)
    .replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, '<url>')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}
