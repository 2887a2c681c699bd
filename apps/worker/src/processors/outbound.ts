import { type Job, UnrecoverableError } from 'bullmq';
import { eq } from 'drizzle-orm';
import { type Database, events, replies } from '@switchboard/db';
import { type OutboundJob, type OutboundPersonal, outboundJobSchema, outboundPersonalSchema } from '@switchboard/queue';
import type { WorkerResources } from '../resources.js';
import { createSender, type SendOutcome, SendFailure } from '../sender.js';

/**
 * The outbound queue: one job per reply (the inbound job enqueues it), so a send is retried,
 * dead-lettered, held or replayed without running the AI again. BullMQ retries a failed attempt
 * with the jittered backoff (slower for rate limits) until SEND_MAX_ATTEMPTS; a permanent error
 * dead-letters at once (UnrecoverableError). The send itself is ../sender.ts.
 */
export function createOutboundProcessor(r: WorkerResources) {
  const { sealer } = r;
  const deliver = createSender(r);

  return async function processOutbound(job: Job): Promise<SendOutcome> {
    const parsed = outboundJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError('invalid outbound job payload');
    const data = parsed.data;
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

type ReplyUpdate = Partial<Pick<typeof replies.$inferInsert, 'status' | 'parts' | 'graphMessageIds' | 'sentAt' | 'endToEndMs' | 'errorCode'>>;

/**
 * Writes a reply's delivery state, creating the row from the job when the inbound side has not
 * recorded it yet (the send can finish first); the inbound insert then leaves it alone.
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
