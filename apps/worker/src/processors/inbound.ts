import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import {
  type InboundJob,
  type InboundPersonal,
  inboundJobKeyBase,
  inboundJobSchema,
  inboundPersonalSchema,
  type OutboundJob,
  type OutboundPersonal,
  outboundJobOptions,
  parseSendMetadata,
  sentMarkerKey,
} from '@switchboard/queue';
import { ConversationSequencer, conversationOf } from '../conversation-lock.js';
import type { WorkerResources } from '../resources.js';
import { markEcho } from '../reply-marker.js';

/** Event types that get an answer; everything else is recorded only (CONTRACT §4). */
const ANSWERED = new Set(['text', 'postback', 'quick_reply']);
/** Event types that count as a user's message in `users.message_count`. */
const USER_MESSAGES = new Set(['text', 'postback', 'quick_reply', 'attachment']);
/** Channels we can send to. WhatsApp events are recorded, not answered. */
const SENDABLE = new Set(['messenger', 'instagram']);
/** When a conversation is busy, try again shortly (with jitter so waiting jobs do not collide). */
const BUSY_RETRY_MS = 200;

type Outcome = 'reply_queued' | 'echo_ours' | 'echo_human' | 'recorded' | 'standby' | 'stale' | 'not_answered' | 'unsupported_channel' | 'duplicate';

/**
 * Decides what (if anything) to answer for one inbound event, idempotently:
 * the event row is keyed by the event id, the user counter moves only on first insert, the reply
 * row is keyed by the event id, and the outbound job id is the event id (BullMQ ignores a second
 * add of an existing id) — so a retried job never produces a second reply.
 */
export function createInboundProcessor(r: WorkerResources) {
  const { config, sealer, counters, responder, outboundQueue, logger } = r;
  const sequencer = new ConversationSequencer(r.redis, config.queuePrefix, inboundJobKeyBase(config.queuePrefix));
  const outboundOptions = outboundJobOptions(config.worker.sendMaxAttempts);

  return async function processInbound(job: Job, token?: string): Promise<Outcome> {
    const parsed = inboundJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError('invalid inbound job payload');
    const data: InboundJob = parsed.data;
    let personal: InboundPersonal;
    try {
      personal = inboundPersonalSchema.parse(sealer.openJson(data.sealed, data.eventId));
    } catch {
      throw new UnrecoverableError('inbound payload cannot be opened (wrong ENCRYPTION_KEY?)');
    }

    const conversation = conversationOf(data);
    const owner = await sequencer.enter(conversation, data.eventId, data.timestamp, data.prev);
    if (!owner) {
      // An earlier event of this conversation is pending or running: never two at once, always in
      // timestamp order. Waiting is not an attempt.
      await job.moveToDelayed(Date.now() + BUSY_RETRY_MS + Math.floor(Math.random() * BUSY_RETRY_MS), token);
      throw new DelayedError();
    }
    let done = false;
    try {
      const outcome = await handle(job, data, personal);
      done = true;
      return outcome;
    } finally {
      await sequencer.leave(conversation, data.eventId, owner, done, data.named === true).catch(() => {});
    }
  };

  /**
   * One PostgreSQL write per event here (../records.ts, batched); an answered message's reply row is
   * written once, by its send (outbound.ts), which carries everything the row needs.
   */
  async function handle(job: Job, data: InboundJob, personal: InboundPersonal): Promise<Outcome> {
    const settled = outcomeWithoutReply(data, personal);
    const first = await recordArrival(data, settled);
    if (first === 'already_processed') return 'duplicate';
    // A retried job (a crash or a stalled lock after the hand-over): the reply was decided and its
    // send handed over already — deciding again would call the AI a second time for nothing.
    if (first === 'again' && !settled && (await replyHandedOver(data.eventId))) return 'duplicate';
    if (settled === 'echo_ours') await noteEcho(personal);
    if (settled) {
      counters.count('events_processed', { channel: data.channel, outcome: settled });
      return settled;
    }
    const outcome = await answer(job, data, personal);
    counters.count('events_processed', { channel: data.channel, outcome });
    return outcome;
  }

  /**
   * Meta echoed one of our sends: the part is delivered, whatever became of the process that sent
   * it. The API records this already when the echo arrives (ingest.ts); this is the backstop.
   */
  async function noteEcho(personal: InboundPersonal): Promise<void> {
    const sent = parseSendMetadata(personal.metadata);
    if (!sent) return;
    const key = sentMarkerKey(config.queuePrefix, sent.eventId);
    await markEcho(r.redis, key, sent.part, personal.mid ?? 'echo');
  }

  /** The outcome of an event that gets no reply, or null when it is to be answered. */
  function outcomeWithoutReply(data: InboundJob, personal: InboundPersonal): Outcome | null {
    if (data.type === 'echo') return personal.appId && personal.appId === config.meta.appId ? 'echo_ours' : 'echo_human';
    if (!ANSWERED.has(data.type)) return 'recorded';
    if (data.standby) return 'standby';
    if (!SENDABLE.has(data.channel)) return 'unsupported_channel';
    if (!personal.senderId || !data.senderHash || !(personal.text ?? personal.payload)) return 'not_answered';
    if (Date.now() - data.timestamp > config.worker.staleAfterMs) {
      logger.info({ eventId: data.eventId, channel: data.channel }, 'event too old to answer; recorded only');
      return 'stale';
    }
    return null;
  }

  /** Whether the event's send job exists (in any state) or a part of its reply already went out. */
  async function replyHandedOver(eventId: string): Promise<boolean> {
    return (await r.redis.exists(outboundQueue.toKey(eventId), sentMarkerKey(config.queuePrefix, eventId))) > 0;
  }

  async function recordArrival(data: InboundJob, settled: Outcome | null): Promise<'first' | 'again' | 'already_processed'> {
    const row = await r.writes.arrival({
      eventId: data.eventId,
      channel: data.channel,
      pageId: data.pageId,
      senderHash: data.senderHash,
      midHash: data.midHash,
      type: data.type,
      settled,
      eventAt: new Date(data.timestamp),
      receivedAt: new Date(data.receivedAt),
      countsAsMessage: USER_MESSAGES.has(data.type),
    });
    if (row.inserted) return 'first';
    return row.status === 'processed' && row.outcome !== null ? 'already_processed' : 'again';
  }

  /**
   * Decides the text and hands the send to its own outbound job (job id = event id), so a send is
   * retried, dead-lettered or replayed without running the AI again. The job carries the decision
   * (path, reason, latency), and the send records the reply row and the event's outcome in one
   * statement when it finishes — or is held or dead-lettered; until then the event is
   * `processing`. If the process dies before the hand-over, the retried job decides again; after
   * it, `replyHandedOver` stops the retry, and the reply-sent marker covers the rest.
   */
  async function answer(job: Job, data: InboundJob, personal: InboundPersonal): Promise<Outcome> {
    const senderHash = data.senderHash as string;
    const decision = await responder.decide({ userHash: senderHash, text: (personal.text ?? personal.payload) as string });
    const decideMs = Math.round(decision.latencyMs);
    // One info line per reply is "reply sent" (outbound); this one is for debugging, unless the AI failed.
    logger[decision.error ? 'info' : 'debug'](
      { eventId: data.eventId, job: job.id, channel: data.channel, pageId: data.pageId, user: senderHash.slice(0, 12), path: decision.path, reason: decision.reason, ms: decideMs, ...(decision.error ? { error: decision.error } : {}) },
      'reply decided',
    );
    const outboundPersonal: OutboundPersonal = { recipientId: personal.senderId as string, text: decision.text };
    const outbound: OutboundJob = {
      v: 1,
      eventId: data.eventId,
      channel: data.channel as OutboundJob['channel'],
      pageId: data.pageId,
      senderHash,
      path: decision.path,
      reason: decision.reason,
      decideMs,
      receivedAt: data.receivedAt,
      sealed: sealer.sealJson(outboundPersonal, data.eventId),
    };
    await outboundQueue.add('send', outbound, { ...outboundOptions, jobId: data.eventId });
    return 'reply_queued';
  }
}
