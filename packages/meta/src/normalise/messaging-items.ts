/**
 * Messenger and Instagram `entry[].messaging[]` and `entry[].standby[]` items: messages, echoes,
 * postbacks, reads, deliveries, reactions, opt-ins and referrals
 * (https://developers.facebook.com/docs/messenger-platform/webhooks,
 * https://developers.facebook.com/docs/instagram-platform/webhooks).
 */
import { type Base, baseEvent, derivedKey, type EntryContext, midKey } from './event-identity.js';
import { asTimestamp, INVALID, isObj, type Obj, readId, readMids, readNum, readStr } from './fields.js';
import type { EventType, NormalisedEvent } from './normalised-event.js';

export function messagingEvent(ctx: EntryContext, item: unknown): NormalisedEvent | null {
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
  if (isObj(item.pass_thread_control))
    return handoverEvent(ctx, base, senderId, 'pass_thread_control', item.pass_thread_control, ownTs);
  if (isObj(item.take_thread_control))
    return handoverEvent(ctx, base, senderId, 'take_thread_control', item.take_thread_control, ownTs);
  return null;
}

function messageEvent(
  ctx: EntryContext,
  base: Base,
  senderId: string,
  m: Obj,
  ownTs: number | null,
): NormalisedEvent | null {
  const mid = readStr(m.mid);
  const text = readStr(m.text);
  if (mid === INVALID || text === INVALID) return null;
  const keyOr = (type: EventType) => (mid !== null ? midKey(ctx, mid) : derivedKey(ctx, type, [senderId, ownTs]));

  if (m.is_echo === true) {
    const appId = readId(m.app_id);
    const event: NormalisedEvent = {
      ...base,
      type: 'echo',
      mid,
      text,
      appId: appId === INVALID ? null : appId,
      dedupKey: keyOr('echo'),
    };
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

function postbackEvent(
  ctx: EntryContext,
  base: Base,
  senderId: string,
  p: Obj,
  ownTs: number | null,
): NormalisedEvent | null {
  const mid = readStr(p.mid);
  const title = readStr(p.title);
  const payload = readStr(p.payload);
  if (mid === INVALID || title === INVALID || payload === INVALID) return null;
  const dedupKey = mid !== null ? midKey(ctx, mid) : derivedKey(ctx, 'postback', [senderId, ownTs, payload]);
  return { ...base, type: 'postback', mid, text: title, payload, dedupKey };
}

function readEvent(
  ctx: EntryContext,
  base: Base,
  senderId: string,
  r: Obj,
  ownTs: number | null,
): NormalisedEvent | null {
  const watermark = readNum(r.watermark);
  const mid = readStr(r.mid); // Instagram reads name the message instead of a watermark
  if (mid === INVALID) return null;
  const mark = watermark ?? mid ?? ownTs;
  return { ...base, type: 'read', mid, dedupKey: derivedKey(ctx, 'read', [senderId, mark]) };
}

function deliveryEvent(
  ctx: EntryContext,
  base: Base,
  senderId: string,
  d: Obj,
  ownTs: number | null,
): NormalisedEvent | null {
  const watermark = readNum(d.watermark);
  const mids = readMids(d.mids).sort();
  const mark = watermark ?? (mids.length > 0 ? mids.join(',') : ownTs);
  return { ...base, type: 'delivery', dedupKey: derivedKey(ctx, 'delivery', [senderId, mark]) };
}

function reactionEvent(
  ctx: EntryContext,
  base: Base,
  senderId: string,
  r: Obj,
  ownTs: number | null,
): NormalisedEvent | null {
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

function referralEvent(
  ctx: EntryContext,
  base: Base,
  senderId: string,
  r: Obj,
  ownTs: number | null,
): NormalisedEvent | null {
  const ref = readStr(r.ref);
  const source = readStr(r.source);
  const adId = readId(r.ad_id);
  if (ref === INVALID || source === INVALID || adId === INVALID) return null;
  return {
    ...base,
    type: 'referral',
    payload: ref,
    dedupKey: derivedKey(ctx, 'referral', [senderId, source, ref, adId, ownTs]),
  };
}

/**
 * Thread control changed hands (Messenger's handover protocol): `appId` is the new owner when Meta
 * names it. The worker decides whether that is us (docs/meta-platform.md, "People from the business").
 */
function handoverEvent(
  ctx: EntryContext,
  base: Base,
  senderId: string,
  kind: string,
  h: Obj,
  ownTs: number | null,
): NormalisedEvent | null {
  const newOwner = readId(h.new_owner_app_id);
  const previousOwner = readId(h.previous_owner_app_id);
  if (newOwner === INVALID || previousOwner === INVALID) return null;
  return {
    ...base,
    type: 'handover',
    payload: kind,
    appId: newOwner,
    dedupKey: derivedKey(ctx, 'handover', [senderId, kind, newOwner, previousOwner, ownTs]),
  };
}
