/**
 * Turns one webhook body into a flat list of events, one per `messaging[]`/`standby[]`/`changes[]`
 * item (Messenger, Instagram) or per `changes[].value.messages[]`/`statuses[]`/`message_echoes[]`/
 * `errors[]` item (WhatsApp).
 *
 * Pure and defensive: only a body that is not `{object: string, entry: []}` throws; any item of an
 * unexpected shape is counted in `skipped` and left out, so one odd item in a batch of up to 1000
 * never costs the others (https://developers.facebook.com/docs/graph-api/webhooks/getting-started/).
 */
import { type Channel, channelForObject } from '../channel.js';
import { changeEvent } from './change-items.js';
import type { EntryContext } from './event-identity.js';
import { INVALID, isObj, type Obj, readId, readNum, readSafely } from './fields.js';
import { messagingEvent } from './messaging-items.js';
import { InvalidPayloadError, type NormalisedEvent, type NormaliseResult } from './normalised-event.js';
import { whatsappEntry } from './whatsapp-items.js';

export {
  InvalidPayloadError,
  type EventType,
  type NormalisedEvent,
  type NormaliseResult,
  WHATSAPP_TEXT_ONLY_TYPES,
} from './normalised-event.js';

function messagingEntry(channel: Channel, entry: Obj, out: NormalisedEvent[]): number {
  const pageId = readId(entry.id);
  const entryTime = readNum(entry.time);
  let skipped = 0;
  let seen = false;
  for (const [field, standby, read] of [
    ['messaging', false, messagingEvent],
    ['standby', true, messagingEvent],
    ['changes', false, changeEvent],
  ] as const) {
    const list = entry[field];
    if (list === undefined) continue;
    seen = true;
    if (!Array.isArray(list)) {
      skipped++;
      continue;
    }
    if (pageId === INVALID || pageId === null) {
      skipped += list.length;
      continue;
    }
    const ctx: EntryContext = { channel, pageId, entryTime, standby };
    for (const item of list) {
      const event = readSafely(read, ctx, item);
      if (event) out.push(event);
      else skipped++;
    }
  }
  return seen ? skipped : skipped + 1;
}

export function normaliseWebhook(body: unknown): NormaliseResult {
  if (!isObj(body) || typeof body.object !== 'string' || !Array.isArray(body.entry)) {
    throw new InvalidPayloadError('webhook body must be an object with a string "object" and an array "entry"');
  }
  const { object, entry } = body;
  const channel = channelForObject(object);
  if (channel === null) return { object, events: [], unknownObject: true, skipped: entry.length };

  const events: NormalisedEvent[] = [];
  let skipped = 0;
  for (const e of entry) {
    if (!isObj(e)) {
      skipped++;
      continue;
    }
    skipped += channel === 'whatsapp' ? whatsappEntry(e, events) : messagingEntry(channel, e, events);
  }
  return { object, events, unknownObject: false, skipped };
}
