/**
 * Turns one webhook body into a flat list of events, one per `messaging[]`/`standby[]`/`changes[]`
 * item (Messenger, Instagram) or per `changes[].value.messages[]`/`statuses[]` item (WhatsApp).
 *
 * Pure and defensive: only a body that is not `{object: string, entry: []}` throws; any item of an
 * unexpected shape is counted in `skipped` and left out, so one odd item in a batch of up to 1000
 * never costs the others (https://developers.facebook.com/docs/graph-api/webhooks/getting-started/).
 */
import { createHash } from 'node:crypto';
import { type Channel, channelForObject } from './channel.js';

export type EventType =
  | 'text'
  | 'postback'
  | 'quick_reply'
  | 'attachment'
  | 'echo'
  | 'handover'
  | 'read'
  | 'delivery'
  | 'reaction'
  | 'deleted'
  | 'unsupported'
  | 'optin'
  | 'referral'
  | 'status'
  /** A Page or Instagram `changes[]` update that is not a message (feed, comments, mentions, …): recorded, never answered. */
  | 'change'
  | 'unknown';

export interface NormalisedEvent {
  channel: Channel;
  /** `entry[].id` (Page / IG professional account); WhatsApp: `metadata.phone_number_id`. */
  pageId: string;
  /**
   * The user (PSID / IGSID / WhatsApp number). On echoes Meta puts the Page here; on WhatsApp
   * statuses, the user the message went to; on changes, `value.from.id` (the author, when named).
   */
  senderId: string | null;
  recipientId: string | null;
  type: EventType;
  /**
   * The message the event is about: its own id for messages and postbacks; the referenced message
   * for deletions, reactions, Instagram reads and WhatsApp statuses.
   */
  mid: string | null;
  /** Milliseconds since the epoch (seconds — WhatsApp's, changes' — are converted); falls back to `entry[].time`, then 0. */
  timestamp: number;
  /** Message text (text, quick_reply, echo, WhatsApp media caption) or the postback title. */
  text: string | null;
  /**
   * Postback or quick-reply payload; for reactions the emoji, for WhatsApp statuses the status, for
   * optin/referral the ref, for changes the webhook field (`feed`, `comments`, `mentions`, …).
   */
  payload: string | null;
  /**
   * `message.app_id` on echoes: ours means our own send came back; another or none means a human
   * replied. On handover events (`pass_thread_control` / `take_thread_control`) the app that owns
   * the thread now, when Meta names it (`new_owner_app_id`); `payload` says which of the two it was.
   */
  appId: string | null;
  /** `message.metadata` on echoes: the string we attached when sending. */
  metadata?: string;
  /** Came from `entry[].standby[]`: another app owns the thread, so we must not answer. */
  standby: boolean;
  /**
   * Deterministic identity of the event, independent of the envelope it arrived in. It may contain
   * raw ids: callers hash it before storing it.
   */
  dedupKey: string;
}

export interface NormaliseResult {
  object: string;
  events: NormalisedEvent[];
  /** `object` is not page / instagram / whatsapp_business_account: acknowledge and count, do not process. */
  unknownObject: boolean;
  /** Items of a shape we do not understand (counted, not processed). */
  skipped: number;
}

export class InvalidPayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidPayloadError';
  }
}

type Obj = Record<string, unknown>;
const INVALID = Symbol('invalid');
type Invalid = typeof INVALID;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Ids are strings; a safe integer is accepted and stringified, anything else is malformed. */
function readId(v: unknown): string | null | Invalid {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v.length > 0 ? v : INVALID;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  return INVALID;
}

function readStr(v: unknown): string | null | Invalid {
  if (v === undefined || v === null) return null;
  return typeof v === 'string' ? v : INVALID;
}

function readNum(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return null;
}

/** The latest time a JavaScript Date can hold (ECMA-262, "Time Values and Time Range"). */
const MAX_DATE_MS = 8.64e15;

/**
 * A number as an event's `timestamp` (milliseconds): whole, not before 1970, not past the last date
 * JavaScript can hold — or null, so the next source fills it. The job schema refuses anything else,
 * and a job the worker refuses is an acknowledged event never recorded.
 */
function asTimestamp(v: number | null): number | null {
  if (v === null) return null;
  const ms = Math.round(v);
  return ms >= 0 && ms <= MAX_DATE_MS ? ms : null;
}

function readMids(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((m): m is string => typeof m === 'string' && m.length > 0) : [];
}

interface EntryContext {
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
function derivedKey(ctx: EntryContext, kind: string, parts: ReadonlyArray<string | number | null>): string {
  const encoded = parts.map((p) => (p === null ? '' : encodeURIComponent(String(p).replace(LONE_SURROGATE, '\uFFFD'))));
  return `${ctx.channel}:${ctx.pageId}:${kind}:${encoded.join(':')}`;
}

function midKey(ctx: EntryContext, mid: string): string {
  return `${ctx.channel}:${ctx.pageId}:${mid}`;
}

function baseEvent(ctx: EntryContext, senderId: string | null, recipientId: string | null, timestamp: number) {
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

// --- Messenger and Instagram: entry[].messaging[] / entry[].standby[] ---------------------------
// Shapes: https://developers.facebook.com/docs/messenger-platform/webhooks and
// https://developers.facebook.com/docs/instagram-platform/webhooks

function messagingEvent(ctx: EntryContext, item: unknown): NormalisedEvent | null {
  if (!isObj(item)) return null;
  const senderId = isObj(item.sender) ? readId(item.sender.id) : item.sender == null ? null : INVALID;
  const recipientId = isObj(item.recipient) ? readId(item.recipient.id) : item.recipient == null ? null : INVALID;
  if (senderId === INVALID || recipientId === INVALID) return null;
  // The item's own timestamp identifies the event; entry.time differs between redeliveries, so it
  // only fills `timestamp` and never enters a dedup key.
  const ownTs = readNum(item.timestamp);
  const base = baseEvent(ctx, senderId, recipientId, asTimestamp(ownTs) ?? asTimestamp(ctx.entryTime) ?? 0);

  if (isObj(item.optin)) return optinEvent(ctx, base, item.optin, ownTs);
  // Every other event is about a user; without one there is nobody to record or answer.
  if (senderId === null) return null;
  if (isObj(item.message)) return messageEvent(ctx, base, senderId, item.message, ownTs);
  if (isObj(item.postback)) return postbackEvent(ctx, base, senderId, item.postback, ownTs);
  if (isObj(item.read)) return readEvent(ctx, base, senderId, item.read, ownTs);
  if (isObj(item.delivery)) return deliveryEvent(ctx, base, senderId, item.delivery, ownTs);
  if (isObj(item.reaction)) return reactionEvent(ctx, base, senderId, item.reaction, ownTs);
  if (isObj(item.referral)) return referralEvent(ctx, base, senderId, item.referral, ownTs);
  if (isObj(item.pass_thread_control)) return handoverEvent(ctx, base, senderId, 'pass_thread_control', item.pass_thread_control, ownTs);
  if (isObj(item.take_thread_control)) return handoverEvent(ctx, base, senderId, 'take_thread_control', item.take_thread_control, ownTs);
  return null;
}

type Base = ReturnType<typeof baseEvent>;

function messageEvent(ctx: EntryContext, base: Base, senderId: string, m: Obj, ownTs: number | null): NormalisedEvent | null {
  const mid = readStr(m.mid);
  const text = readStr(m.text);
  if (mid === INVALID || text === INVALID) return null;
  const keyOr = (type: EventType) => (mid !== null ? midKey(ctx, mid) : derivedKey(ctx, type, [senderId, ownTs]));

  if (m.is_echo === true) {
    const appId = readId(m.app_id);
    const event: NormalisedEvent = { ...base, type: 'echo', mid, text, appId: appId === INVALID ? null : appId, dedupKey: keyOr('echo') };
    if (typeof m.metadata === 'string') event.metadata = m.metadata;
    return event;
  }
  // A deletion carries the deleted message's mid: its key must differ from that message's own key.
  if (m.is_deleted === true) {
    const dedupKey = mid !== null ? derivedKey(ctx, 'deleted', [mid]) : derivedKey(ctx, 'deleted', [senderId, ownTs]);
    return { ...base, type: 'deleted', mid, dedupKey };
  }
  if (m.is_unsupported === true) return { ...base, type: 'unsupported', mid, dedupKey: keyOr('unsupported') };
  if (isObj(m.quick_reply)) {
    const payload = readStr(m.quick_reply.payload);
    if (payload === INVALID) return null;
    return { ...base, type: 'quick_reply', mid, text, payload, dedupKey: keyOr('quick_reply') };
  }
  if (text !== null) return { ...base, type: 'text', mid, text, dedupKey: keyOr('text') };
  if (Array.isArray(m.attachments) && m.attachments.length > 0) {
    return { ...base, type: 'attachment', mid, dedupKey: keyOr('attachment') };
  }
  return null;
}

function postbackEvent(ctx: EntryContext, base: Base, senderId: string, p: Obj, ownTs: number | null): NormalisedEvent | null {
  const mid = readStr(p.mid);
  const title = readStr(p.title);
  const payload = readStr(p.payload);
  if (mid === INVALID || title === INVALID || payload === INVALID) return null;
  const dedupKey = mid !== null ? midKey(ctx, mid) : derivedKey(ctx, 'postback', [senderId, ownTs, payload]);
  return { ...base, type: 'postback', mid, text: title, payload, dedupKey };
}

function readEvent(ctx: EntryContext, base: Base, senderId: string, r: Obj, ownTs: number | null): NormalisedEvent | null {
  const watermark = readNum(r.watermark);
  const mid = readStr(r.mid); // Instagram reads name the message instead of a watermark
  if (mid === INVALID) return null;
  const mark = watermark ?? mid ?? ownTs;
  return { ...base, type: 'read', mid, dedupKey: derivedKey(ctx, 'read', [senderId, mark]) };
}

function deliveryEvent(ctx: EntryContext, base: Base, senderId: string, d: Obj, ownTs: number | null): NormalisedEvent | null {
  const watermark = readNum(d.watermark);
  const mids = readMids(d.mids).sort();
  const mark = watermark ?? (mids.length > 0 ? mids.join(',') : ownTs);
  return { ...base, type: 'delivery', dedupKey: derivedKey(ctx, 'delivery', [senderId, mark]) };
}

function reactionEvent(ctx: EntryContext, base: Base, senderId: string, r: Obj, ownTs: number | null): NormalisedEvent | null {
  const mid = readStr(r.mid);
  const action = readStr(r.action);
  const emoji = readStr(r.emoji);
  const name = readStr(r.reaction);
  if (mid === INVALID || action === INVALID || emoji === INVALID || name === INVALID) return null;
  const payload = emoji ?? name;
  return {
    ...base,
    type: 'reaction',
    mid,
    payload,
    dedupKey: derivedKey(ctx, 'reaction', [senderId, mid, action, payload, ownTs]),
  };
}

function optinEvent(ctx: EntryContext, base: Base, o: Obj, ownTs: number | null): NormalisedEvent | null {
  const ref = readStr(o.ref);
  const payload = readStr(o.payload);
  const optinType = readStr(o.type);
  const userRef = readStr(o.user_ref); // checkbox plugin opt-ins have no sender yet
  if (ref === INVALID || payload === INVALID || optinType === INVALID || userRef === INVALID) return null;
  const who = base.senderId ?? userRef;
  if (who === null) return null;
  const value = payload ?? ref;
  return { ...base, type: 'optin', payload: value, dedupKey: derivedKey(ctx, 'optin', [who, optinType, value, ownTs]) };
}

function referralEvent(ctx: EntryContext, base: Base, senderId: string, r: Obj, ownTs: number | null): NormalisedEvent | null {
  const ref = readStr(r.ref);
  const source = readStr(r.source);
  const adId = readId(r.ad_id);
  if (ref === INVALID || source === INVALID || adId === INVALID) return null;
  return { ...base, type: 'referral', payload: ref, dedupKey: derivedKey(ctx, 'referral', [senderId, source, ref, adId, ownTs]) };
}

/**
 * Thread control changed hands (Messenger's handover protocol): `appId` is the new owner when Meta
 * names it. The worker decides whether that is us (docs/meta-platform.md, "People from the business").
 */
function handoverEvent(ctx: EntryContext, base: Base, senderId: string, kind: string, h: Obj, ownTs: number | null): NormalisedEvent | null {
  const newOwner = readId(h.new_owner_app_id);
  const previousOwner = readId(h.previous_owner_app_id);
  if (newOwner === INVALID || previousOwner === INVALID) return null;
  return { ...base, type: 'handover', payload: kind, appId: newOwner, dedupKey: derivedKey(ctx, 'handover', [senderId, kind, newOwner, previousOwner, ownTs]) };
}

// --- Messenger and Instagram: entry[].changes[] ------------------------------------------------
// Page and Instagram subscriptions other than messaging (feed, comments, mentions, …) arrive as
// `{field, value}` items (https://developers.facebook.com/docs/graph-api/webhooks/reference/page/,
// https://developers.facebook.com/docs/instagram-platform/webhooks). Messaging fields can arrive
// here too, their value shaped like a `messaging[]` item: the App Dashboard's test events and
// Instagram-login subscriptions send `{field: "messages", value: {sender, recipient, message}}`.

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

function changeEvent(ctx: EntryContext, item: unknown): NormalisedEvent | null {
  if (!isObj(item) || typeof item.field !== 'string' || item.field.length === 0 || !isObj(item.value)) return null;
  const { field, value } = item;
  // Read exactly like a messaging[] item, so the same mid arriving both ways is one event.
  if (MESSAGING_FIELD.test(field) && (Object.hasOwn(value, 'sender') || Object.hasOwn(value, 'recipient'))) {
    const ts = readNum(value.timestamp);
    return messagingEvent({ ...ctx, entryTime: toMs(ctx.entryTime) }, ts === null ? value : { ...value, timestamp: toMs(ts) });
  }
  // Recorded, never answered. The author is a user id (hashed downstream like any sender); the
  // post or comment text is not carried: nothing processes it, so nothing may keep it. A
  // redelivery carries the same value, so its digest identifies the change (entry.time does not).
  const from = isObj(value.from) ? readId(value.from.id) : null;
  const digest = createHash('sha256').update(JSON.stringify(value)).digest('hex');
  return {
    ...baseEvent(ctx, from === INVALID ? null : from, null, toMs(readNum(value.created_time)) ?? toMs(ctx.entryTime) ?? 0),
    type: 'change',
    payload: field,
    dedupKey: derivedKey(ctx, 'change', [field, digest]),
  };
}

// --- WhatsApp Cloud API: entry[].changes[].value.{messages,statuses}[] --------------------------
// https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components

const WHATSAPP_MEDIA = new Set(['image', 'audio', 'video', 'document', 'sticker', 'location', 'contacts']);

/** WhatsApp timestamps are unix seconds, usually as strings. */
function whatsappTs(v: unknown): number | null {
  const s = readNum(v);
  return s === null ? null : asTimestamp(s * 1000);
}

function whatsappMessage(ctx: EntryContext, m: unknown): NormalisedEvent | null {
  if (!isObj(m)) return null;
  const from = readId(m.from);
  const id = readStr(m.id);
  if (from === INVALID || from === null || id === INVALID || id === null || typeof m.type !== 'string') return null;
  const base = baseEvent(ctx, from, ctx.pageId, whatsappTs(m.timestamp) ?? 0);
  const dedupKey = midKey(ctx, id);
  const kind = m.type;
  const sub = m[kind];

  if (kind === 'text') {
    const body = isObj(sub) ? readStr(sub.body) : INVALID;
    if (body === INVALID || body === null) return null;
    return { ...base, type: 'text', mid: id, text: body, dedupKey };
  }
  if (WHATSAPP_MEDIA.has(kind)) {
    const caption = isObj(sub) ? readStr(sub.caption) : null;
    return { ...base, type: 'attachment', mid: id, text: caption === INVALID ? null : caption, dedupKey };
  }
  if (kind === 'button' && isObj(sub)) {
    const text = readStr(sub.text);
    const payload = readStr(sub.payload);
    if (text === INVALID || payload === INVALID) return null;
    return { ...base, type: 'quick_reply', mid: id, text, payload, dedupKey };
  }
  if (kind === 'interactive' && isObj(sub)) {
    const reply = isObj(sub.button_reply) ? sub.button_reply : isObj(sub.list_reply) ? sub.list_reply : null;
    if (reply === null) return null;
    const title = readStr(reply.title);
    const replyId = readStr(reply.id);
    if (title === INVALID || replyId === INVALID) return null;
    return { ...base, type: 'quick_reply', mid: id, text: title, payload: replyId, dedupKey };
  }
  if (kind === 'reaction' && isObj(sub)) {
    const target = readStr(sub.message_id);
    const emoji = readStr(sub.emoji);
    if (target === INVALID || emoji === INVALID) return null;
    return { ...base, type: 'reaction', mid: target, payload: emoji, dedupKey };
  }
  if (kind === 'unsupported' || kind === 'unknown') return { ...base, type: 'unsupported', mid: id, dedupKey };
  return null;
}

function whatsappStatus(ctx: EntryContext, s: unknown): NormalisedEvent | null {
  if (!isObj(s)) return null;
  const id = readStr(s.id);
  const status = readStr(s.status);
  const user = readId(s.recipient_id);
  if (id === INVALID || id === null || status === INVALID || status === null || user === INVALID) return null;
  return {
    ...baseEvent(ctx, user, ctx.pageId, whatsappTs(s.timestamp) ?? 0),
    type: 'status',
    mid: id,
    payload: status,
    // One sent message gets several statuses (sent, delivered, read): the status is part of the identity.
    dedupKey: derivedKey(ctx, 'status', [id, status]),
  };
}

function countItems(v: unknown): number {
  return Array.isArray(v) ? v.length : 0;
}

/**
 * One item, read so that nothing in it can fail the delivery: a reader that throws on a shape
 * nobody foresaw skips that item, like any other odd one, instead of answering the batch with 500.
 */
function readSafely(read: (ctx: EntryContext, item: unknown) => NormalisedEvent | null, ctx: EntryContext, item: unknown): NormalisedEvent | null {
  try {
    return read(ctx, item);
  } catch {
    return null;
  }
}

function whatsappEntry(entry: Obj, out: NormalisedEvent[]): number {
  if (!Array.isArray(entry.changes)) return 1;
  let skipped = 0;
  for (const change of entry.changes) {
    const value = isObj(change) ? change.value : undefined;
    if (!isObj(value)) {
      skipped++;
      continue;
    }
    const { messages, statuses } = value;
    const items = countItems(messages) + countItems(statuses);
    const phone = isObj(value.metadata) ? readId(value.metadata.phone_number_id) : INVALID;
    if (phone === INVALID || phone === null || items === 0) {
      // Template, quality and account updates arrive here too: not conversation events.
      skipped += Math.max(items, 1);
      continue;
    }
    const ctx: EntryContext = { channel: 'whatsapp', pageId: phone, entryTime: null, standby: false };
    for (const [list, read] of [
      [messages, whatsappMessage],
      [statuses, whatsappStatus],
    ] as const) {
      if (!Array.isArray(list)) continue;
      for (const item of list) {
        const event = readSafely(read, ctx, item);
        if (event) out.push(event);
        else skipped++;
      }
    }
  }
  return skipped;
}

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
