import { bullPrefix, QUEUES } from './names.js';

/**
 * Webhook de-duplication, shared by every API replica and surviving restarts (it lives in Redis).
 *
 * Meta retries failed deliveries for about 36 hours and sometimes delivers twice anyway
 * (https://developers.facebook.com/docs/messenger-platform/faq), so an event id is remembered
 * 48 hours; WhatsApp retries for up to 7 days, so its events are remembered 8.
 *
 * It is BullMQ's own de-duplication (https://docs.bullmq.io/guide/jobs/deduplication, "throttle
 * mode": an id with a TTL): the job and its de-duplication key are written by one Lua script,
 * atomically, in the same round trip as the enqueue. So there is no moment in which an event is
 * marked seen but not stored (which would turn Meta's retry into a lost message), nor stored but
 * not marked. The key holds only the job id and outlives the job: BullMQ's age/count-based removal
 * of finished jobs leaves it in place.
 */
export const DEDUP_WINDOW_MS = 48 * 3600 * 1000;

/** WhatsApp's window: its 7 days of retries, and a day to spare for a clock or a queue that lags. */
export const WHATSAPP_DEDUP_WINDOW_MS = 8 * 24 * 3600 * 1000;

/** How long a channel's event ids are remembered; DEDUP_WINDOW_MS is the shortest of them. */
export function dedupWindowMs(channel: string): number {
  return channel === 'whatsapp' ? WHATSAPP_DEDUP_WINDOW_MS : DEDUP_WINDOW_MS;
}

/** Job options that make `eventId` enqueue at most once in its channel's window. */
export function dedupOptions(eventId: string, channel: string): { deduplication: { id: string; ttl: number } } {
  return { deduplication: { id: eventId, ttl: dedupWindowMs(channel) } };
}

/**
 * Each delivery proposes its own job id (`<eventId>-<delivery nonce>`, the nonce unique per delivery): when BullMQ answers with a
 * different id, the event was already enqueued by an earlier delivery — that is how a duplicate is
 * recognised without a second round trip.
 */
export function inboundJobId(eventId: string, deliveryNonce: string): string {
  return `${eventId}-${deliveryNonce}`;
}

/** The Redis key BullMQ keeps for an event's de-duplication id (for tests and operators). */
export function dedupKey(queuePrefix: string, eventId: string): string {
  return `${bullPrefix(queuePrefix)}:${QUEUES.inbound}:de:${eventId}`;
}
