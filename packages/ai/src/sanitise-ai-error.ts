import { AiError } from './ai-errors.js';

const MAX_LENGTH = 200;
/** Work on a bounded string: provider error bodies can be large, and only the start is shown. */
const MAX_RAW_LENGTH = 4000;
/**
 * Secrets shorter than this are not redacted: a one-word user text such as "ok" or "hi" would
 * otherwise mangle every error message while revealing nothing by its presence.
 */
const MIN_SECRET_LENGTH = 4;

/**
 * A short description of an AI failure that is safe to log, store and show an operator: no API
 * key (neither the given one nor anything shaped like one, `key=` query parameters included), no
 * prompt or user text (pass them in `secrets`), at most 200 characters.
 */
export function sanitiseAiError(err: unknown, secrets: string[]): string {
  let text = describe(err).slice(0, MAX_RAW_LENGTH);
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET_LENGTH) continue;
    // A JSON error body carries the secret escaped, so redact that spelling as well.
    for (const spelling of new Set([secret, JSON.stringify(secret).slice(1, -1)])) {
      text = text.split(spelling).join('[redacted]');
    }
  }
  text = text
    .replace(/([?&](?:key|api_key|access_token)=)[^&\s"'#]*/gi, '$1[redacted]')
    .replace(/AIza[0-9A-Za-z_-]{20,}/g, '[redacted]')
    .replace(/\b(bearer)\s+[^\s"',]+/gi, '$1 [redacted]')
    .replace(/\b(x-goog-api-key|authorization|api[_-]?key)(["']?\s*[:=]\s*["']?)[^\s"',}]+/gi, '$1$2[redacted]')
    .replace(/\s+/g, ' ')
    .trim();
  if (text.length === 0) text = 'unknown error';
  return text.length <= MAX_LENGTH ? text : `${text.slice(0, MAX_LENGTH - 3)}...`;
}

function describe(err: unknown): string {
  if (err instanceof AiError) return err.message;
  if (!(err instanceof Error)) return 'unknown error';
  if (err.name === 'AbortError') return 'aborted';
  const status = (err as { status?: unknown }).status;
  if (typeof status === 'number') return `gemini http ${status}${describeApiBody(err.message)}`;
  const code = causeCode(err);
  return `${err.name}: ${err.message}${code ? ` (${code})` : ''}`;
}

/** The SDK's ApiError message is the JSON error body: keep Google's status and message only. */
function describeApiBody(message: string): string {
  try {
    const body = JSON.parse(message) as { error?: { status?: unknown; message?: unknown } };
    const parts = [body.error?.status, body.error?.message].filter((p): p is string => typeof p === 'string');
    return parts.length > 0 ? ` ${parts.join(': ')}` : '';
  } catch {
    return ` ${message}`;
  }
}

/** `fetch failed` says nothing on its own; the cause's code (ECONNREFUSED, ...) is the useful bit. */
function causeCode(err: Error): string | undefined {
  const cause = (err as { cause?: unknown }).cause;
  if (typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string') {
    return cause.code;
  }
  return undefined;
}
