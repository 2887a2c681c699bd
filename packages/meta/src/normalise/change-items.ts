/**
 * Messenger and Instagram `entry[].changes[]` items.
 *
 * Page and Instagram subscriptions other than messaging (feed, comments, mentions, …) arrive as
 * `{field, value}` items (https://developers.facebook.com/docs/graph-api/webhooks/reference/page/,
 * https://developers.facebook.com/docs/instagram-platform/webhooks). Messaging fields can arrive
 * here too, their value shaped like a `messaging[]` item: the App Dashboard's test events and
 * Instagram-login subscriptions send `{field: "messages", value: {sender, recipient, message}}`.
 */
import { createHash } from 'node:crypto';
import { baseEvent, derivedKey, type EntryContext } from './event-identity.js';
import { asTimestamp, INVALID, isObj, readId, readNum } from './fields.js';
import { messagingEvent } from './messaging-items.js';
import type { NormalisedEvent } from './normalised-event.js';

/** Meta's messaging webhook fields: messages, message_echoes, messaging_postbacks, messaging_seen, … */
const MESSAGING_FIELD = /^(messages|message_[a-z_]+|messaging_[a-z_]+)$/;

/**
 * Below this a timestamp is unix seconds, not milliseconds (1e11 ms is March 1973, 1e11 s the year
 * 5138). Messaging timestamps are milliseconds; the `time` of a non-messaging entry, `created_time`
 * and the Dashboard's test events are seconds.
 */
const SECONDS_BELOW = 1e11;

/** Milliseconds, or null for a number no date can be made of (the job schema wants a whole, non-negative one). */
function toMs(v: number | null): number | null {
  return v === null ? null : asTimestamp(v < SECONDS_BELOW ? v * 1000 : v);
}

export function changeEvent(ctx: EntryContext, item: unknown): NormalisedEvent | null {
  if (!isObj(item) || typeof item.field !== 'string' || item.field.length === 0 || !isObj(item.value)) return null;
  const { field, value } = item;
  // Read exactly like a messaging[] item, so the same mid arriving both ways is one event.
  if (MESSAGING_FIELD.test(field) && (Object.hasOwn(value, 'sender') || Object.hasOwn(value, 'recipient'))) {
    const ts = readNum(value.timestamp);
    return messagingEvent(
      { ...ctx, entryTime: toMs(ctx.entryTime) },
      ts === null ? value : { ...value, timestamp: toMs(ts) },
    );
  }
  // Recorded, never answered. The author is a user id (hashed downstream like any sender); the
  // post or comment text is not carried: nothing processes it, so nothing may keep it. A
  // redelivery carries the same value, so its digest identifies the change (entry.time does not).
  const from = isObj(value.from) ? readId(value.from.id) : null;
  const digest = createHash('sha256').update(JSON.stringify(value)).digest('hex');
  return {
    ...baseEvent(
      ctx,
      from === INVALID ? null : from,
      null,
      toMs(readNum(value.created_time)) ?? toMs(ctx.entryTime) ?? 0,
    ),
    type: 'change',
    payload: field,
    dedupKey: derivedKey(ctx, 'change', [field, digest]),
  };
}
