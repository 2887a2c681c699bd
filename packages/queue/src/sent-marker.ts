import { bullPrefix } from './names.js';

/**
 * The "reply sent" marker: a Redis hash per inbound event, one field per message part.
 *
 * - `<part>` = `sending` while the Send API call is in flight, then Meta's message id;
 * - `echo:<part>` = the message id of Meta's echo of that part (the webhook Meta sends for every
 *   message the Page sends, carrying the `metadata` we attached: `sb:<eventId>:<part>`);
 * - `done` once every part went out.
 *
 * A part left `sending` by a process that died is the one ambiguous case: Meta may or may not have
 * delivered it. Its echo settles it; without an echo within SEND_ECHO_WAIT_MS it is sent again.
 */
/**
 * How long a marker lives while its reply is unfinished (claimed, partly sent, held, or
 * dead-lettered): as long as a dead letter stays replayable (the failed jobs' 14 days).
 */
export const SENT_MARKER_TTL_S = 14 * 24 * 3600;
/**
 * How long a marker lives once every part went out (`done`). Only the same send job can still read
 * it: a retry after its PostgreSQL write failed, or a stalled run — within the send's retries,
 * at most SEND_MAX_ATTEMPTS waits of up to 12 minutes (about 10 hours at the largest setting).
 * Past that the event's row says `replied`. A job that is
 * dead-lettered after `done` renews its marker to SENT_MARKER_TTL_S, so a replay finds it. Most
 * markers end here, so this, not the 14 days, is what a day of traffic keeps in Redis.
 */
export const SENT_DONE_TTL_S = 2 * 24 * 3600;
export const SENDING = 'sending';

/**
 * In the queues' hash tag (bullPrefix): the marker is read in one command with the event's send
 * job (`EXISTS`), which a Redis Cluster allows only for keys of one slot.
 */
export function sentMarkerKey(prefix: string, eventId: string): string {
  return `${bullPrefix(prefix)}:sent:${eventId}`;
}

export function echoField(part: number): string {
  return `echo:${part}`;
}

export function sendMetadata(eventId: string, part: number): string {
  return `sb:${eventId}:${part}`;
}

export function parseSendMetadata(metadata: string | null | undefined): { eventId: string; part: number } | null {
  const m = /^sb:([0-9a-f]{32}):(\d{1,3})$/.exec(metadata ?? '');
  return m ? { eventId: m[1] as string, part: Number(m[2]) } : null;
}
