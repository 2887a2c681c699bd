import { type Job, UnrecoverableError } from 'bullmq';
import { eq } from 'drizzle-orm';
import { type Database, events, replies } from '@switchboard/db';
import { type FirstAttempt, type OutboundJob, type OutboundPersonal, outboundJobSchema, outboundPersonalSchema } from '@switchboard/queue';
import type { WorkerResources } from '../resources.js';
import { createSender, type SendOutcome, SendFailure } from '../sender.js';

/**
 * The outbound queue: a reply's send attempts after the first (which the inbound job makes itself,
 * see ../sender.ts), sends released after a Page's token was replaced, and replays from the
 * dead-letter queue. BullMQ retries a failed attempt with the jittered backoff (slower for rate
 * limits) until SEND_MAX_ATTEMPTS; a permanent error dead-letters at once (UnrecoverableError).
 */
export function createOutboundProcessor(r: WorkerResources) {
  const { sealer } = r;
  const deliver = createSender(r);

  return async function processOutbound(job: Job): Promise<SendOutcome> {
    const parsed = outboundJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError('invalid outbound job payload');
    const { firstAttempt, ...data } = parsed.data;
    if (firstAttempt) {
      // The inbound job made the first attempt and handed over: this run stands for it, so the
      // attempt count, the backoff and the dead-letter decision are those of a send that failed
      // here. Stripped first, so the retries (and a replay from the dead-letter queue) send.
      await job.updateData(data);
      throw asJobError(new SendFailure(firstAttempt.detail, firstAttempt.kind, firstAttempt.rateLimited, firstAttempt.retryAfterMs));
    }
    let personal: OutboundPersonal;
    try {
      personal = outboundPersonalSchema.parse(sealer.openJson(data.sealed, data.eventId));
    } catch {
      throw new UnrecoverableError('outbound payload cannot be opened (wrong ENCRYPTION_KEY?)');
    }
    try {
      return await deliver(data, personal, { attemptsMade: job.attemptsMade, jobId: job.id });
    } catch (err) {
      throw err instanceof SendFailure ? asJobError(err) : err;
    }
  };
}

/** What BullMQ needs to see: UnrecoverableError for a permanent failure, else an error the backoff strategy reads. */
function asJobError(err: SendFailure): Error {
  if (err.kind === 'permanent') return new UnrecoverableError(err.message);
  const retry = new Error(err.message) as Error & { retryAfterMs?: number | null; rateLimited?: boolean };
  retry.retryAfterMs = err.retryAfterMs;
  retry.rateLimited = err.rateLimited;
  return retry;
}

/** The first attempt's failure, as the inbound job hands it over. */
export function firstAttemptOf(err: SendFailure): FirstAttempt {
  return { kind: err.kind, detail: err.message, rateLimited: err.rateLimited, retryAfterMs: err.retryAfterMs };
}

type ReplyUpdate = Partial<Pick<typeof replies.$inferInsert, 'status' | 'parts' | 'graphMessageIds' | 'sentAt' | 'endToEndMs' | 'errorCode'>>;

/**
 * Writes a reply's delivery state, creating the row from the job when the inbound side has not
 * recorded it yet; the inbound insert then leaves it alone.
 */
async function upsertReply(db: Pick<Database, 'insert'>, data: OutboundJob, set: ReplyUpdate): Promise<void> {
  await db
    .insert(replies)
    .values({ eventId: data.eventId, channel: data.channel, pageId: data.pageId, senderHash: data.senderHash, path: data.path, reason: data.reason, decideLatencyMs: data.decideMs ?? 0, ...set })
    .onConflictDoUpdate({ target: replies.eventId, set });
}

/** Marks the event (and, for a send, its reply) dead-lettered: called when a job fails for good. */
export async function recordDeadLetter(r: Pick<WorkerResources, 'dbh'>, jobData: unknown, reason: string): Promise<void> {
  const code = /code=(\d+)/.exec(reason)?.[1];
  const errorCode = code ? Number(code) : null;
  const outbound = outboundJobSchema.safeParse(jobData);
  if (outbound.success) await upsertReply(r.dbh.db, outbound.data, { status: 'dead_letter', errorCode });
  const eventId = (jobData as { eventId?: unknown }).eventId;
  if (typeof eventId !== 'string') return;
  await r.dbh.db
    .update(events)
    .set({ status: 'dead_letter', lastError: reason.slice(0, 500), lastErrorCode: errorCode, updatedAt: new Date() })
    .where(eq(events.id, eventId));
}
