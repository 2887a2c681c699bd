/**
 * The failures a reply generator reports. Their messages are written to be safe to show an
 * operator: they never carry the key, the prompt or the user's text.
 */
export class AiError extends Error {
  override name = 'AiError';
}

/** The provider refused the prompt or stopped its answer for safety, blocklist or PII reasons. */
export class AiBlockedError extends AiError {
  override name = 'AiBlockedError';
}

/** The call did not finish within its time limit and was abandoned. */
export class AiTimeoutError extends AiError {
  override name = 'AiTimeoutError';
}
