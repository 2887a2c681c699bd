import { z } from 'zod';

/**
 * Job payload schemas. Personal fields (sender id, message text, payloads) travel only inside
 * `sealed`, an AES-256-GCM envelope (@switchboard/privacy Sealer) whose associated data is the
 * event id, so a sealed blob cannot be moved to another job. Everything in clear is either an
 * identifier of ours, a hash, or metadata with no personal content.
 */
export const channelSchema = z.enum(['messenger', 'instagram', 'whatsapp']);

export const outboundJobSchema = z.object({
  v: z.literal(1),
  /** The inbound event this answers: the "reply sent" marker is keyed by it. */
  eventId: z.string().regex(/^[0-9a-f]{32}$/),
  channel: channelSchema,
  pageId: z.string().min(1),
  senderHash: z.string(),
  path: z.enum(['ai', 'fallback']),
  reason: z.string(),
  /** How long deciding the text took (the AI call, when taken). */
  decideMs: z.number().int().nonnegative().optional(),
  /** When the webhook was acknowledged (ms): end-to-end latency is measured from here. */
  receivedAt: z.number().int().nonnegative(),
  /** Sealed `OutboundPersonal`. */
  sealed: z.string().min(1),
  /**
   * Set when the inbound job's own first attempt at the send (processors/inbound.ts) failed and
   * handed the send over: what failed, whether Meta may have delivered it anyway (`timeout`: a
   * timeout, or a 2xx without a readable message id), and whether the error was permanent (then
   * this job dead-letters without calling Meta again), with Meta's error code when it gave one.
   */
  prior: z
    .object({
      detail: z.string().max(500),
      code: z.number().int().nullable().optional(),
      timeout: z.boolean(),
      final: z.boolean(),
    })
    .optional(),
});
export type OutboundJob = z.infer<typeof outboundJobSchema>;

export const inboundJobSchema = z.object({
  v: z.literal(1),
  eventId: z.string().regex(/^[0-9a-f]{32}$/),
  channel: channelSchema,
  pageId: z.string().min(1),
  type: z.string().min(1),
  senderHash: z.string().nullable(),
  /**
   * The conversation's user when it is not the sender: on an echo the sender is the Page, and the
   * user is the recipient (hashed like every user id).
   */
  userHash: z.string().optional(),
  midHash: z.string().nullable(),
  timestamp: z.number().int().nonnegative(),
  receivedAt: z.number().int().nonnegative(),
  standby: z.boolean(),
  /** The Graph error code of a WhatsApp `failed` status or account error (not personal). */
  errorCode: z.number().int().optional(),
  /**
   * Earlier events of the same conversation in the same delivery (event id, job id, timestamp):
   * the worker keeps their order even when two workers take the jobs at once. Usually absent.
   */
  prev: z
    .array(z.object({ eventId: z.string(), jobId: z.string(), timestamp: z.number() }))
    .max(50)
    .optional(),
  /** A later event of the same delivery names this one in its `prev`. */
  named: z.boolean().optional(),
  /** Sealed `InboundPersonal`. */
  sealed: z.string().min(1),
  /**
   * The decided reply, written into the job before its first part is sent: a run of this job after
   * a crash sends this reply instead of deciding again (the AI may answer differently).
   */
  reply: outboundJobSchema.optional(),
  /** The message is held for its burst (REPLY_DEBOUNCE_MS): this run decides whether it answers the burst. */
  burst: z.boolean().optional(),
});
export type InboundJob = z.infer<typeof inboundJobSchema>;

export const inboundPersonalSchema = z.object({
  senderId: z.string().nullable(),
  text: z.string().nullable(),
  payload: z.string().nullable(),
  appId: z.string().nullable(),
  /**
   * On echoes: the metadata we attached to the send (`sb:<eventId>:<part>`), and the message id.
   * On WhatsApp events the message id too: a reply marks the user's message read, and a status
   * names the reply it concerns.
   */
  metadata: z.string().nullable().optional(),
  mid: z.string().nullable().optional(),
});
export type InboundPersonal = z.infer<typeof inboundPersonalSchema>;

export const outboundPersonalSchema = z.object({
  recipientId: z.string().min(1),
  text: z.string().min(1),
  /** WhatsApp: the user's message this answers, marked read once the reply is out. */
  replyTo: z.string().min(1).optional(),
});
export type OutboundPersonal = z.infer<typeof outboundPersonalSchema>;

export const maintenanceJobSchema = z.object({
  task: z.enum(['token-check', 'retention']),
  requestedBy: z.string().optional(),
});
export type MaintenanceJob = z.infer<typeof maintenanceJobSchema>;
