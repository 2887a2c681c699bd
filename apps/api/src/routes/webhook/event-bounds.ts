import type { NormalisedEvent } from '@switchboard/meta';

/**
 * What one signed delivery may carry, checked per event before anything is sealed or stored. A
 * signature proves the body came from someone holding the app secret, not that every field is
 * sane: one oversized or far-future item must cost neither PostgreSQL nor the model anything, and
 * must not cost its neighbours their delivery.
 */

/**
 * Page, Instagram account, user and app ids are 64-bit integers (at most 20 digits) and WhatsApp
 * numbers at most 15: a longer id is not Meta's, and the PostgreSQL indexes it keys would refuse it
 * on every retry until the job is dead-lettered.
 */
export const MAX_ID_CHARS = 64;

/** Message ids: Messenger's `m_…` and WhatsApp's `wamid.…` stay near 100 characters, Instagram's base64 ones near 200. */
export const MAX_MID_CHARS = 512;

/**
 * Texts are capped by Meta below this (Messenger under 2,000 characters, Instagram 1,000, WhatsApp
 * 4,096), postback payloads and send metadata at 1,000. A longer one is cut to this length: the
 * event still has a genuine id and is recorded and answered like any other, while the job and the
 * model's prompt stay small.
 */
export const MAX_TEXT_CHARS = 4096;

/**
 * How far an event's timestamp may be ahead of this host's clock. Hosts kept by NTP agree within a
 * second; an hour also covers a badly drifted clock. Further ahead, the event could never become too
 * old to answer, and would sort behind every real event of its conversation for as long.
 */
export const MAX_CLOCK_SKEW_MS = 60 * 60 * 1000;

export type RefusalReason = 'id_too_long' | 'timestamp_in_future';

export interface BoundedEvents {
  /** The events to store: the input array itself when nothing was refused or cut. */
  events: NormalisedEvent[];
  /** Events left out (acknowledged, not stored), by reason. */
  refused: Partial<Record<RefusalReason, number>>;
  /** Stored events whose text, payload or metadata was cut to MAX_TEXT_CHARS. */
  truncated: number;
}

const tooLong = (value: string | null | undefined, max: number) => value != null && value.length > max;

function refusalOf(e: NormalisedEvent, latest: number): RefusalReason | null {
  if (
    tooLong(e.pageId, MAX_ID_CHARS) ||
    tooLong(e.senderId, MAX_ID_CHARS) ||
    tooLong(e.recipientId, MAX_ID_CHARS) ||
    tooLong(e.appId, MAX_ID_CHARS)
  )
    return 'id_too_long';
  if (tooLong(e.mid, MAX_MID_CHARS)) return 'id_too_long';
  if (e.timestamp > latest) return 'timestamp_in_future';
  return null;
}

/** Cut to MAX_TEXT_CHARS UTF-16 units, never through a surrogate pair. */
function cut(value: string): string {
  const end = /[\uD800-\uDBFF]/.test(value.charAt(MAX_TEXT_CHARS - 1)) ? MAX_TEXT_CHARS - 1 : MAX_TEXT_CHARS;
  return value.slice(0, end);
}

function needsCut(e: NormalisedEvent): boolean {
  return tooLong(e.text, MAX_TEXT_CHARS) || tooLong(e.payload, MAX_TEXT_CHARS) || tooLong(e.metadata, MAX_TEXT_CHARS);
}

function withCuts(e: NormalisedEvent): NormalisedEvent {
  const bounded: NormalisedEvent = {
    ...e,
    text: e.text === null ? null : cut(e.text),
    payload: e.payload === null ? null : cut(e.payload),
  };
  if (e.metadata !== undefined) bounded.metadata = cut(e.metadata);
  return bounded;
}

/**
 * Applies the bounds above. The common delivery breaks none of them and costs a few length
 * comparisons: nothing is copied unless something is refused or cut.
 */
export function boundEvents(events: NormalisedEvent[], now: number): BoundedEvents {
  const latest = now + MAX_CLOCK_SKEW_MS;
  const refused: BoundedEvents['refused'] = {};
  let truncated = 0;
  let out: NormalisedEvent[] | null = null;
  events.forEach((e, i) => {
    const reason = refusalOf(e, latest);
    const fix = reason === null && needsCut(e);
    if (reason === null && !fix) {
      out?.push(e);
      return;
    }
    out ??= events.slice(0, i);
    if (reason !== null) refused[reason] = (refused[reason] ?? 0) + 1;
    else {
      truncated += 1;
      out.push(withCuts(e));
    }
  });
  return { events: out ?? events, refused, truncated };
}
