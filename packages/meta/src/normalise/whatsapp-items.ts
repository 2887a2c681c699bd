/**
 * WhatsApp Cloud API items, `entry[].changes[].value.messages[]` and `.statuses[]`, read just enough
 * to record them (https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components).
 */
import { baseEvent, derivedKey, type EntryContext, midKey } from './event-identity.js';
import { asTimestamp, INVALID, isObj, type Obj, readId, readNum, readSafely, readStr } from './fields.js';
import type { NormalisedEvent } from './normalised-event.js';

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

export function whatsappEntry(entry: Obj, out: NormalisedEvent[]): number {
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
