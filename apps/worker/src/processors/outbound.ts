import { type Job, UnrecoverableError } from 'bullmq';
import { type OutboundJob, outboundJobSchema } from '@switchboard/queue';
import type { ShardScope, WorkerResources } from '../resources.js';
import { PermanentSendError } from '../send-errors.js';
import { createSender, openReply, type SendOutcome } from '../sender.js';

/**
 * The outbound queue's processor: one send job, retried by BullMQ with backoff, dead-lettered on
 * permanent errors, held while the Page's token is invalid (../sender.ts).
 */
export function createOutboundProcessor(r: WorkerResources, shard: ShardScope) {
  const sender = createSender(r, shard);
  return async function processOutbound(job: Job): Promise<SendOutcome> {
    const parsed = outboundJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError('invalid outbound job payload');
    const data: OutboundJob = parsed.data;
    const personal = openReply(r.sealer, data);
    const log = r.logger.child({
      queue: 'outbound',
      job: job.id,
      attempt: job.attemptsMade + 1,
      eventId: data.eventId,
      pageId: data.pageId,
    });
    if (data.prior?.final) {
      // The inline attempt met a permanent error: dead-letter without calling Meta again. A replay
      // of the dead letter runs without `prior`, and sends.
      const { prior, ...rest } = data;
      await job.updateData(rest);
      throw new PermanentSendError({ detail: prior.detail, code: prior.code ?? null });
    }
    const outcome = await sender.deliver(data, personal, {
      attemptsMade: job.attemptsMade + (data.prior ? 1 : 0),
      inline: false,
      log,
    });
    return outcome as SendOutcome;
  };
}
