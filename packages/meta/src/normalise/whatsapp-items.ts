/**
 * WhatsApp Cloud API items: each of `entry[].changes[].value.messages[]`, `.statuses[]`,
 * `.message_echoes[]` and `.errors[]` is one event
 * (https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components).
 *
 * The conversation is the phone number (`metadata.phone_number_id`, the event's page) and the
 * user's `wa_id`. A `wa_id` is a phone number: it goes on only as the event's sender or recipient,
 * which the ingress hashes and seals like every user id. `contacts[].profile.name` is never read.
 */
import { createHash } from 'node:crypto';
import { baseEvent, derivedKey, type EntryContext, midKey } from './event-identity.js';
import { asTimestamp, INVALID, isObj, type Obj, readId, readNum, readSafely, readStr } from './fields.js';
import { type EventType, type NormalisedEvent, WHATSAPP_TEXT_ONLY_TYPES } from './normalised-event.js';

/** Kinds without text to answer (media, a place, contact cards, a cart, a system notice), each recorded under its own type. */
const WHATSAPP_OWN_TYPES: ReadonlySet<string> = new Set<EventType>([
  ...WHATSAPP_TEXT_ONLY_TYPES.filter((k) => k !== 'unsupported'),
  'system',
]);

/** WhatsApp timestamps are unix seconds, usually as strings. */
function whatsappTs(v: unknown): number | null {
  const s = readNum(v);
  return s === null ? null : asTimestamp(s * 1000);
}

/** Identity of an item that has no id of its own (an account error): its content. */
function digest(item: unknown): string {
  return createHash('sha256').update(JSON.stringify(item)).digest('hex');
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
  // A reply button of a template: its text is what the user chose.
  if (kind === 'button' && isObj(sub)) {
    const text = readStr(sub.text);
    const payload = readStr(sub.payload);
    if (text === INVALID || payload === INVALID) return null;
    return { ...base, type: 'quick_reply', mid: id, text, payload, dedupKey };
  }
  if (kind === 'interactive' && isObj(sub)) {
    const reply = isObj(sub.button_reply) ? sub.button_reply : isObj(sub.list_reply) ? sub.list_reply : null;
    if (reply !== null) {
      const title = readStr(reply.title);
      const replyId = readStr(reply.id);
      if (title === INVALID || replyId === INVALID) return null;
      return { ...base, type: 'quick_reply', mid: id, text: title, payload: replyId, dedupKey };
    }
  }
  if (kind === 'reaction') {
    const target = isObj(sub) ? readStr(sub.message_id) : null;
    const emoji = isObj(sub) ? readStr(sub.emoji) : null;
    return {
      ...base,
      type: 'reaction',
      mid: target === INVALID ? null : target,
      payload: emoji === INVALID ? null : emoji,
      dedupKey,
    };
  }
  // Neither captions nor contents are kept: the assistant reads text messages only, and what it
  // does not read it does not keep.
  if (WHATSAPP_OWN_TYPES.has(kind)) return { ...base, type: kind as EventType, mid: id, dedupKey };
  // `unsupported`, `unknown`, an interactive reply of another shape, or a kind newer than this reader.
  return { ...base, type: 'unsupported', mid: id, dedupKey };
}

/**
 * A message a person sent from the WhatsApp Business app on a number that also uses the Cloud API
 * (coexistence). Read like a Messenger echo that another app sent: the page is the sender, the user
 * the recipient, and no app id, so it is a person from the business writing.
 */
function whatsappEcho(ctx: EntryContext, m: unknown): NormalisedEvent | null {
  if (!isObj(m)) return null;
  const to = readId(m.to);
  const id = readStr(m.id);
  if (to === INVALID || to === null || id === INVALID || id === null) return null;
  const body = isObj(m.text) ? readStr(m.text.body) : null;
  return {
    ...baseEvent(ctx, ctx.pageId, to, whatsappTs(m.timestamp) ?? 0),
    type: 'echo',
    mid: id,
    text: body === INVALID ? null : body,
    dedupKey: midKey(ctx, id),
  };
}

function firstErrorCode(errors: unknown): number | undefined {
  if (!Array.isArray(errors)) return undefined;
  const first: unknown = errors[0];
  const code = isObj(first) ? readNum(first.code) : null;
  return code !== null && Number.isSafeInteger(code) ? code : undefined;
}

function whatsappStatus(ctx: EntryContext, s: unknown): NormalisedEvent | null {
  if (!isObj(s)) return null;
  const id = readStr(s.id);
  const status = readStr(s.status);
  const user = readId(s.recipient_id);
  if (id === INVALID || id === null || status === INVALID || status === null || user === INVALID) return null;
  const errorCode = status === 'failed' ? firstErrorCode(s.errors) : undefined;
  return {
    ...baseEvent(ctx, user, ctx.pageId, whatsappTs(s.timestamp) ?? 0),
    type: 'status',
    mid: id,
    payload: status,
    ...(errorCode !== undefined ? { errorCode } : {}),
    // One sent message gets several statuses (sent, delivered, read): the status is part of the identity.
    dedupKey: derivedKey(ctx, 'status', [id, status]),
  };
}

/** An account-level error (`value.errors[]`): about the number, not a user. Its title is Meta's, not personal, but it is not needed either. */
function whatsappError(ctx: EntryContext, e: unknown): NormalisedEvent | null {
  if (!isObj(e)) return null;
  const code = readNum(e.code);
  if (code === null || !Number.isSafeInteger(code)) return null;
  return {
    ...baseEvent(ctx, null, null, asTimestamp(ctx.entryTime) ?? 0),
    type: 'error',
    payload: String(code),
    errorCode: code,
    dedupKey: derivedKey(ctx, 'error', [code, digest(e)]),
  };
}

function countItems(v: unknown): number {
  return Array.isArray(v) ? v.length : 0;
}

const READERS = [
  ['messages', whatsappMessage],
  ['statuses', whatsappStatus],
  ['message_echoes', whatsappEcho],
  ['errors', whatsappError],
] as const;

export function whatsappEntry(entry: Obj, out: NormalisedEvent[]): number {
  if (!Array.isArray(entry.changes)) return 1;
  const account = readId(entry.id);
  let skipped = 0;
  for (const change of entry.changes) {
    const value = isObj(change) ? change.value : undefined;
    if (!isObj(value)) {
      skipped++;
      continue;
    }
    const items = READERS.reduce((n, [field]) => n + countItems(value[field]), 0);
    const phone = isObj(value.metadata) ? readId(value.metadata.phone_number_id) : null;
    // An account error may come without a number: it is then about the business account (entry.id).
    const pageId =
      phone !== INVALID && phone !== null
        ? phone
        : countItems(value.errors) === items && account !== INVALID
          ? account
          : null;
    if (pageId === null || items === 0) {
      // Template, quality and account updates arrive here too: not conversation events.
      skipped += Math.max(items, 1);
      continue;
    }
    const ctx: EntryContext = { channel: 'whatsapp', pageId, entryTime: null, standby: false };
    for (const [field, read] of READERS) {
      const list = value[field];
      if (!Array.isArray(list)) continue;
      for (const item of list) {
        const event = readSafely(read, ctx, item);
        if (event && pageId === phone && account !== INVALID && account !== null) event.businessAccountId = account;
        if (event) out.push(event);
        else skipped++;
      }
    }
  }
  return skipped;
}
