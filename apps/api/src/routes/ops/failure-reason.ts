import { graphErrorCodeIn } from '@switchboard/meta';

/**
 * What an operator may see of a job's failure: BullMQ keeps the thrower's message verbatim
 * (`failedReason`), and a message from a library can quote what it was given. Ours carry Graph
 * codes (`graph 10/2018278 (status 400): …`), but a stray one might carry a
 * token or a user id, so anything shaped like those is blanked before it leaves the API.
 */
const MAX_LENGTH = 300;

const REDACTIONS: Array<[RegExp, string]> = [
  // Meta access tokens (EAA…), Google API keys (AIza…), bearer values, key=value secrets.
  [/\bEAA[A-Za-z0-9]{10,}/g, '[token]'],
  [/\bAIza[0-9A-Za-z_-]{20,}/g, '[key]'],
  [/\b(bearer)\s+\S+/gi, '$1 [redacted]'],
  [/\b(access_token|appsecret_proof|token|key|secret|password|pass)=("[^"]*"|\S+)/gi, '$1=[redacted]'],
  // PSIDs/IGSIDs are long decimal numbers; error codes and statuses are short.
  [/\b\d{10,}\b/g, '[id]'],
];

export function sanitiseFailureReason(reason: string | null | undefined): string {
  if (!reason) return '';
  // Control characters (newlines of a stack trace, terminal escapes) become spaces.
  let out = [...reason].map((c) => (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f ? ' ' : c)).join('');
  for (const [pattern, replacement] of REDACTIONS) out = out.replace(pattern, replacement);
  out = out.replace(/\s+/g, ' ').trim();
  return out.length > MAX_LENGTH ? `${out.slice(0, MAX_LENGTH)}…` : out;
}

/** The Graph error code a dead-letter reason names (`graph 190 …`), if any. */
export const errorCodeOf = graphErrorCodeIn;
