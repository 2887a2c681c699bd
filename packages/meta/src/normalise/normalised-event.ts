/** What the normaliser produces: one event per webhook item, the result of one body, and its one error. */
import type { Channel } from '../channel.js';

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
  /** WhatsApp message kinds that carry no text to answer: media, a shared place, contact cards, a cart. */
  | 'image'
  | 'audio'
  | 'video'
  | 'document'
  | 'sticker'
  | 'location'
  | 'contacts'
  | 'order'
  /** A WhatsApp system notice (the user changed number, …): recorded, never answered. */
  | 'system'
  /** A WhatsApp account-level error (`value.errors[]`): recorded and alerted, never answered. */
  | 'error'
  /** A Page or Instagram `changes[]` update that is not a message (feed, comments, mentions, …): recorded, never answered. */
  | 'change'
  | 'unknown';

/**
 * A WhatsApp user's messages that carry no text to read, each recorded under its own type, and
 * `unsupported` (a kind the Cloud API does not pass on, or one newer than this reader).
 */
export const WHATSAPP_TEXT_ONLY_TYPES = [
  'image',
  'audio',
  'video',
  'document',
  'sticker',
  'location',
  'contacts',
  'order',
  'unsupported',
] as const satisfies readonly EventType[];

export interface NormalisedEvent {
  channel: Channel;
  /** `entry[].id` (Page / IG professional account); WhatsApp: `metadata.phone_number_id`. */
  pageId: string;
  /** WhatsApp: the Business Account the number belongs to (`entry[].id`). */
  businessAccountId?: string;
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
  /**
   * The Graph error code a WhatsApp `failed` status or account error carries: not personal, so it
   * travels in clear and lands on the event it concerns.
   */
  errorCode?: number;
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
