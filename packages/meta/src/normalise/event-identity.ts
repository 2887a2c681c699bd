/**
 * Where an item came from (its entry), the fields every event shares, and the dedup key that
 * identifies an event whichever envelope it arrives in.
 */
import type { Channel } from '../channel.js';
import type { NormalisedEvent } from './normalised-event.js';

export interface EntryContext {
  channel: Channel;
  pageId: string;
  entryTime: number | null;
  standby: boolean;
}

/** A lone UTF-16 surrogate: valid in JSON (`"\ud800"`), but `encodeURIComponent` throws on it. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * The identifying fields are URI-encoded so that no field value can forge a separator. Lone
 * surrogates become U+FFFD first: a signed body may carry one, and it must not fail the delivery.
 */
export function derivedKey(ctx: EntryContext, kind: string, parts: ReadonlyArray<string | number | null>): string {
  const encoded = parts.map((p) => (p === null ? '' : encodeURIComponent(String(p).replace(LONE_SURROGATE, '\uFFFD'))));
  return `${ctx.channel}:${ctx.pageId}:${kind}:${encoded.join(':')}`;
}

export function midKey(ctx: EntryContext, mid: string): string {
  return `${ctx.channel}:${ctx.pageId}:${mid}`;
}

export function baseEvent(ctx: EntryContext, senderId: string | null, recipientId: string | null, timestamp: number) {
  return {
    channel: ctx.channel,
    pageId: ctx.pageId,
    senderId,
    recipientId,
    timestamp,
    standby: ctx.standby,
    mid: null,
    text: null,
    payload: null,
    appId: null,
  } satisfies Partial<NormalisedEvent>;
}

export type Base = ReturnType<typeof baseEvent>;
