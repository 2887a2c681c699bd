import type { InboundJob } from '@switchboard/queue';

/** WhatsApp stamps its events to the second; Messenger and Instagram to the millisecond. */
const SECOND_MS = 1000;

/**
 * The time that orders a conversation's events: the sequencer's score, a burst's member times and
 * the debounce's due time. Messenger and Instagram stamps are milliseconds and are used as they are.
 * A WhatsApp stamp is a whole second, so messages typed within one second would tie and fall back
 * to event-id order, which is random; inside its second, such an event is placed by when the API
 * received it. That keeps the order people typed in (the API receives a conversation's messages in
 * that order when they come one delivery each) and never moves an event past the next second, so
 * events of different seconds keep Meta's order.
 */
export function sequenceAt(channel: InboundJob['channel'], timestamp: number, receivedAt: number): number {
  if (channel !== 'whatsapp' || timestamp % SECOND_MS !== 0) return timestamp;
  return timestamp + Math.min(SECOND_MS - 1, Math.max(0, receivedAt - timestamp));
}
