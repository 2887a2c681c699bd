import type { Job } from 'bullmq';
import { eq } from 'drizzle-orm';
import { events } from '@switchboard/db';
import {
  inboundJobKeyBase,
  inboundJobSchema,
  keepSentMarkerForReplay,
  outboundJobSchema,
  sentMarkerKey,
} from '@switchboard/queue';
import { ConversationSequencer, conversationOf } from './conversation-lock.js';
import type { ShardScope, WorkerResources } from './resources.js';
import { sendErrorCode } from './send-errors.js';
import { upsertReply } from './sender.js';

type ConversationData = { eventId?: string; channel?: string; pageId?: string; senderHash?: string | null };

/**
 * What the end of an inbound or send job means for its event and conversation, for the registry's
 * listeners to call (they do no domain work themselves):
 *
 * - a job that failed for good: its event (and its reply, if one was decided) is marked
 *   dead-lettered with the cause and Meta's code as the error carried them; its reply-sent marker
 *   is kept as long as the dead letter stays replayable; the event leaves its conversation's
 *   pending set, so the next event is not held up;
 * - a send job that finished (sent, held or recorded): the event it parked (processors/inbound.ts)
 *   no longer holds the conversation's next event back.
 *
 * Each step is tried whatever became of the one before, and a step that fails is logged and
 * counted: the job has ended, nothing retries it.
 */
export function createJobEndings(r: WorkerResources, shard: ShardScope) {
  const { counters } = r;
  const sequencer = new ConversationSequencer(r.redis, shard.tag, inboundJobKeyBase(shard.tag));

  async function failedForGood(job: Job, err: Error): Promise<void> {
    const log = r.logger.child({ job: job.id, queue: job.queueName });
    const data = job.data as ConversationData;
    await step('dead_letter_record', log, () => recordDeadLetter(job.data, err));
    // Apart from recordDeadLetter: a send dead-lettered after `done` failed on PostgreSQL, which may
    // still be down, and the marker must outlive the dead letter all the same.
    if (data.eventId)
      await step('dead_letter_marker', log, () =>
        keepSentMarkerForReplay(r.redis, sentMarkerKey(shard.tag, data.eventId as string)),
      );
    await step('conversation_forget', log, () => forget(data));
  }

  async function sendFinished(job: Job): Promise<void> {
    const log = r.logger.child({ job: job.id, queue: job.queueName });
    await step('conversation_forget', log, () => forget(job.data as ConversationData));
  }

  async function step(what: string, log: WorkerResources['logger'], write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (e) {
      counters.count('state_write_failures', { what });
      log.error({ err: { message: (e as Error).message }, what }, 'could not record the end of a job');
    }
  }

  /** Marks the event (and, for a send, its reply) dead-lettered. */
  async function recordDeadLetter(jobData: unknown, err: Error): Promise<void> {
    const errorCode = sendErrorCode(err);
    // A send job, or an inbound job that had decided its reply (and may have tried to send it).
    const reply = outboundJobSchema.safeParse(jobData).data ?? inboundJobSchema.safeParse(jobData).data?.reply;
    if (reply) await upsertReply(r.dbh.db, reply, { status: 'dead_letter', errorCode });
    const eventId = (jobData as { eventId?: unknown }).eventId;
    if (typeof eventId !== 'string') return;
    await r.dbh.db
      .update(events)
      .set({
        status: 'dead_letter',
        lastError: err.message.slice(0, 500),
        lastErrorCode: errorCode,
        updatedAt: new Date(),
      })
      .where(eq(events.id, eventId));
  }

  /** The event leaves its conversation's pending set. */
  async function forget(data: ConversationData): Promise<void> {
    if (!data.eventId || !data.channel || !data.pageId) return;
    await sequencer.forget(
      conversationOf({
        eventId: data.eventId,
        channel: data.channel,
        pageId: data.pageId,
        senderHash: data.senderHash ?? null,
      }),
      data.eventId,
    );
  }

  return { failedForGood, sendFinished };
}

export type JobEndings = ReturnType<typeof createJobEndings>;
