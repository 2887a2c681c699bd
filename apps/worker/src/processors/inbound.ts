import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import type { HistoryTurn, ReplyDecision } from '@switchboard/ai';
import type { Turn } from '@switchboard/pages';
import { graphErrorReason, WHATSAPP_TEXT_ONLY_TYPES } from '@switchboard/meta';
import {
  DEDUP_WINDOW_MS,
  type InboundJob,
  type InboundPersonal,
  inboundJobKeyBase,
  inboundJobSchema,
  inboundPersonalSchema,
  markEcho,
  type OutboundJob,
  type OutboundPersonal,
  outboundJobOptions,
  parseSendMetadata,
  sentMarkerKey,
} from '@switchboard/queue';
import { burstOf, createBurstBuffer, type HeldMessage } from '../bursts.js';
import { ConversationSequencer, conversationOf } from '../conversation-lock.js';
import { type ConversationNote, createConversationKeeper, HANDOFF_REASON } from '../conversations.js';
import { keptMessageId, recordDeliveryFailure } from '../delivery-failures.js';
import {
  type EventFacts,
  nextStep,
  type ReplySource,
  replySource,
  type Unanswered,
  unansweredByNature,
} from '../next-step.js';
import type { DeferredArrival } from '../records.js';
import type { ShardScope, WorkerResources } from '../resources.js';
import { createSender, type Handover, openReply, type SendOutcome } from '../sender.js';
import { sequenceAt } from '../sequence-time.js';
import { RunSlots } from '../run-slots.js';

/**
 * Event types that get an answer; everything else — echoes, reads, reactions, attachments, Page and
 * Instagram changes (feed, comments, mentions), … — is recorded only (docs/meta-platform.md).
 */
const ANSWERED = new Set(['text', 'postback', 'quick_reply']);
/**
 * WhatsApp messages without text to read (media, a place, contact cards, an order, a kind the Cloud
 * API does not pass on): the user gets TEXT_ONLY_REPLY (when set), so a picture sent to a business is not met
 * with silence. Reactions and system notices get nothing (README, "Connect WhatsApp").
 */
const WHATSAPP_TEXT_ONLY: ReadonlySet<string> = new Set(WHATSAPP_TEXT_ONLY_TYPES);
/** Event types that count as a user's message in `users.message_count`. */
const USER_MESSAGES = new Set(['text', 'postback', 'quick_reply', 'attachment', ...WHATSAPP_TEXT_ONLY_TYPES]);
/** When a conversation is busy, try again shortly (with jitter so waiting jobs do not collide). */
const BUSY_RETRY_MS = 200;

type Outcome =
  | 'replied'
  | 'reply_queued'
  | 'echo_ours'
  | 'echo_human'
  | 'recorded'
  | 'standby'
  | 'stale'
  | 'not_answered'
  | 'delivery_failed'
  | 'duplicate'
  | 'paused'
  | 'merged';
/** A run that ends with its job waiting (a message held for its burst), not with an outcome. */
type Waiting = 'held' | 'wait';

/**
 * Decides what (if anything) to answer for one inbound event, idempotently:
 * the event row is keyed by the event id, the user counter moves only on first insert, the reply
 * row is keyed by the event id, and the outbound job id is the event id (BullMQ ignores a second
 * add of an existing id) — so a retried job never produces a second reply.
 */
export function createInboundProcessor(
  r: WorkerResources,
  shard: ShardScope,
  slots = new RunSlots(r.config.worker.concurrency, 0),
) {
  const { config, sealer, counters, responder, logger } = r;
  const outboundQueue = r.outboundQueue.of(shard.index);
  const sequencer = new ConversationSequencer(
    r.redis,
    shard.tag,
    inboundJobKeyBase(shard.tag),
    config.worker.lockDurationMs,
  );
  // The send job takes over after the inline attempt, which counts as the first.
  const outboundOptions = outboundJobOptions(Math.max(1, config.worker.sendMaxAttempts - 1));
  const sender = createSender(r, shard);
  const conversations = createConversationKeeper(r);
  const bursts = createBurstBuffer(r.redis, { prefix: shard.tag, sealer });
  const debounceMs = config.ai.replyDebounceMs;
  const settings = { staleAfterMs: config.worker.staleAfterMs, debounceMs };

  return function processInbound(job: Job, token?: string): Promise<Outcome> {
    return slots.run((wait) => runInbound(job, token, wait));
  };

  async function runInbound(
    job: Job,
    token: string | undefined,
    wait: (ms: number) => Promise<boolean>,
  ): Promise<Outcome> {
    const parsed = inboundJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError('invalid inbound job payload');
    let data: InboundJob = parsed.data;
    let personal: InboundPersonal;
    try {
      personal = inboundPersonalSchema.parse(sealer.openJson(data.sealed, data.eventId));
    } catch {
      throw new UnrecoverableError('inbound payload cannot be opened (wrong ENCRYPTION_KEY?)');
    }

    const conversation = conversationOf(data);
    const at = sequenceAt(data.channel, data.timestamp, data.receivedAt);
    const first = await holdFirst(job, data, personal, at);
    if (first === 'duplicate') return 'duplicate';
    if (first === 'held') {
      // Held for its burst: the run waits the debounce from now (../run-slots.ts), then decides as
      // the burst's later run. Counted from now, not from the message's time: a later message of
      // the burst was sent within the debounce, and the delays this one met on its way here (Meta's
      // delivery, the queue in front of the worker) meet it too, so by then it is held. With no
      // place to wait in, the job waits delayed instead and comes back behind the queue.
      data = { ...data, burst: true };
      if (!(await wait(debounceMs))) return delay(job, token, data, at + debounceMs);
    }
    // Predecessors came in the same delivery: the same arrival time places them within their second.
    const prev = data.prev?.map((p) => ({ ...p, timestamp: sequenceAt(data.channel, p.timestamp, data.receivedAt) }));
    for (;;) {
      const owner = await sequencer.enter(conversation, data.eventId, at, prev);
      // An earlier event of this conversation is pending or running: never two at once, always in
      // timestamp order.
      if (!owner)
        return delay(job, token, data, Date.now() + BUSY_RETRY_MS + Math.floor(Math.random() * BUSY_RETRY_MS));
      let outcome: Outcome | Waiting | undefined;
      try {
        outcome = await sequencer.hold(conversation, owner, () => handle(job, data, personal));
      } finally {
        await giveBack(conversation, data, owner, outcome, at);
      }
      if (outcome === 'wait') {
        // A later message of the burst is about to be held: it goes first, then this one reads again.
        const retryMs = BUSY_RETRY_MS + Math.floor(Math.random() * BUSY_RETRY_MS);
        if (await wait(retryMs)) continue;
        return delay(job, token, data, Date.now() + retryMs);
      }
      if (outcome !== 'held') return outcome;
      // Held by the burst's own check (a message its first run did not hold): it gives up its place,
      // so the burst's later messages can be held too, and runs again when the debounce has passed.
      return delay(job, token, data, at + debounceMs);
    }
  }

  /**
   * The job waits in BullMQ's delayed set until `due`, which is not an attempt. A held message's
   * mark goes with it, so its next run decides instead of holding it and waiting again.
   */
  async function delay(job: Job, token: string | undefined, data: InboundJob, due: number): Promise<never> {
    if (data.burst && !(job.data as InboundJob).burst) await job.updateData(data);
    await job.moveToDelayed(Math.max(due, Date.now()), token);
    throw new DelayedError();
  }

  /**
   * A user's plain message that starts waiting for its burst is held without taking its
   * conversation's turn: holding writes only its own row and its own field of the burst, and what
   * the conversation does meanwhile (a pause, an earlier message's reply) is read by the run that
   * decides the burst, in turn — a message that arrived paused is let go then, as one paused while
   * it waited is (and answered with its burst if the pause ended meanwhile). That spares the
   * sequencer's enter and leave and a pause-gate read per message (docs/performance.md,
   * `held-without-turn`). Returns 'duplicate' for an event already settled, 'held' once the
   * message is held (its run then waits out the debounce), 'not_held' when this is not such a message.
   */
  async function holdFirst(
    job: Job,
    data: InboundJob,
    personal: InboundPersonal,
    at: number,
  ): Promise<'duplicate' | 'held' | 'not_held'> {
    if (debounceMs <= 0 || data.burst || data.reply) return 'not_held';
    const event = factsOf(data, personal);
    const byNature = unansweredByNature(event, settings);
    if (byNature !== null) return 'not_held';
    const conversation = conversations.userMessageNote(data, personal);
    if (!conversation || nextStep(event, byNature, conversation, settings).step !== 'burst') return 'not_held';
    const first = await recordArrival(job, data, conversation, null);
    if (first === 'already_processed') return 'duplicate';
    if (first === 'again' && (await replyHandedOver(data))) return 'duplicate';
    await bursts.hold(conversation.id, { eventId: data.eventId, at, text: messageText(personal) as string });
    return 'held';
  }

  /**
   * Gives the conversation back once the run ends. A send handed over to its own job keeps the
   * event's place until that job finishes, so the next event's reply cannot overtake this one's
   * retry (../dead-letters.ts forgets it then); a run that failed keeps whatever place it has, to
   * run again; any other run is done here (a message held for its burst too: it gives up its place
   * so the burst's later messages can be held). Not thrown when Redis fails here: the run's own
   * result (or error) stands, and the lock expires by itself within WORKER_LOCK_DURATION_MS and a
   * place within the sequencer's patience, as after a crash; logged and counted.
   */
  async function giveBack(
    conversation: string,
    data: InboundJob,
    owner: string,
    outcome: Outcome | Waiting | undefined,
    at: number,
  ): Promise<void> {
    try {
      if (outcome === 'reply_queued') await sequencer.park(conversation, data.eventId, at, owner);
      else if (outcome === undefined) await sequencer.release(conversation, data.eventId, owner);
      else await sequencer.finish(conversation, data.eventId, owner, { named: data.named === true });
    } catch (err) {
      lost('conversation_give_back', data, err);
    }
  }

  /** A best-effort write that failed: logged with its event and counted, never thrown over the run's own result. */
  function lost(what: string, data: InboundJob, err: unknown): void {
    counters.count('state_write_failures', { what });
    logger.warn({ eventId: data.eventId, what, err: { message: (err as Error).message } }, 'state not written');
  }

  /**
   * One PostgreSQL write per event (../records.ts, batched). An event that gets no reply is
   * recorded at once with its outcome. An event answered at its job's first run is recorded with
   * its reply, by the send's write (outbound.ts): one write and one version of the event's row
   * per answered message instead of two — PostgreSQL's cost is mostly per written statement and
   * row version (docs/performance.md, decision `pg-one-write-per-message`) — after a read that finds no row for it yet
   * (onRecord). Every other run records the arrival first, and the arrival's answer says whether
   * an earlier run got further.
   */
  async function handle(job: Job, data: InboundJob, personal: InboundPersonal): Promise<Outcome | Waiting> {
    const event = factsOf(data, personal);
    const byNature = unansweredByNature(event, settings);
    if (byNature === 'stale')
      logger.info({ eventId: data.eventId, channel: data.channel }, 'event too old to answer; recorded only');
    const conversation = await conversations.note(data, personal, byNature);
    const next = nextStep(event, byNature, conversation, settings);
    if ((next.step === 'settle' || next.step === 'let_go') && next.keep)
      await conversations.keepUnanswered(conversation, data, personal);
    switch (next.step) {
      case 'burst':
        return handleBurst(job, data, personal, conversation as ConversationNote);
      case 'let_go':
        // Held, and no longer to be answered (paused meanwhile, or too old): its row says so, and the
        // burst no longer waits for it (a paused message is kept in the memory instead).
        await bursts.release((conversation as ConversationNote).id, [data.eventId]);
        await settleHeld(data, next.outcome);
        return next.outcome;
      case 'settle':
        return settle(job, data, personal, conversation, next.outcome);
      case 'answer':
        return answerEvent(job, data, personal, conversation, next.source);
    }
  }

  /** What the event is, as the decision reads it (../next-step.ts). */
  function factsOf(data: InboundJob, personal: InboundPersonal): EventFacts {
    return {
      type: data.type,
      ours: !!personal.appId && personal.appId === config.meta.appId,
      answerable: ANSWERED.has(data.type),
      // With TEXT_ONLY_REPLY off, a message without text is only recorded.
      textOnly: textOnly(data) && config.ai.textOnlyReply !== null,
      standby: data.standby,
      hasSender: !!personal.senderId && !!data.senderHash,
      hasText: !!messageText(personal),
      ageMs: Date.now() - data.timestamp,
      replyKept: data.reply !== undefined,
      held: data.burst === true,
    };
  }

  /** An event that gets no reply: recorded with its outcome. */
  async function settle(
    job: Job,
    data: InboundJob,
    personal: InboundPersonal,
    conversation: ConversationNote | null,
    outcome: Unanswered,
  ): Promise<Outcome> {
    // Before the arrival, which settles the event: a run that fails here is retried and notes it then.
    if (data.channel === 'whatsapp') await noteWhatsAppProblem(data, personal);
    const first = await recordArrival(job, data, conversation, outcome);
    if (first === 'already_processed') return 'duplicate';
    if (outcome === 'echo_ours') await noteEcho(personal);
    counters.count('events_processed', { channel: data.channel, outcome });
    return outcome;
  }

  /** An event answered on its own (not as part of a burst). */
  async function answerEvent(
    job: Job,
    data: InboundJob,
    personal: InboundPersonal,
    conversation: ConversationNote | null,
    source: ReplySource,
  ): Promise<Outcome> {
    if (firstRun(job, data) && !(await onRecord(data))) {
      let outcome: Outcome;
      try {
        outcome = await answer(job, data, personal, conversation, source, arrivalOf(data, conversation));
      } catch (err) {
        // The job fails (and may be retried or dead-lettered): its event must be on record. The
        // job's own error is what fails it; a retry records the arrival again.
        await recordArrival(job, data, conversation, null).catch((e: unknown) => lost('event_arrival', data, e));
        throw err;
      }
      counters.count('events_processed', { channel: data.channel, outcome });
      return outcome;
    }
    const first = await recordArrival(job, data, conversation, null);
    if (first === 'already_processed') return 'duplicate';
    // A retried job (a crash or a stalled lock after the hand-over): the reply was decided and its
    // send handed over already — deciding again would call the AI a second time for nothing. A
    // reply decided but not handed over (`data.reply`) is sent below, not decided again.
    if (first === 'again' && (await replyHandedOver(data))) return 'duplicate';
    const outcome = await answer(job, data, personal, conversation, source);
    counters.count('events_processed', { channel: data.channel, outcome });
    return outcome;
  }

  function messageText(personal: InboundPersonal): string | null {
    return personal.text ?? personal.payload ?? null;
  }

  /**
   * A message of a burst. Its first run records it, holds it (../bursts.ts) and waits until the
   * debounce has passed. Its second run either finds a later message of the same burst, which
   * answers it (outcome `merged`: no reply, no AI call), or is the burst's last message and decides
   * one reply over every held message, in order, then links the others to itself and lets them go.
   */
  async function handleBurst(
    job: Job,
    data: InboundJob,
    personal: InboundPersonal,
    conversation: ConversationNote,
  ): Promise<Outcome | Waiting> {
    const at = sequenceAt(data.channel, data.timestamp, data.receivedAt);
    const first = await recordArrival(job, data, conversation, null);
    if (first === 'already_processed') return 'duplicate';
    // A held message without a decided reply has handed nothing over: a reply is written into the
    // job before any of it is sent or handed over (decide), so only a run after that has to look.
    const undecided = data.burst === true && !data.reply;
    if (first === 'again' && !undecided && (await replyHandedOver(data))) return 'duplicate';
    if (!data.burst) {
      await bursts.hold(conversation.id, {
        eventId: data.eventId,
        at,
        text: messageText(personal) as string,
      });
      await job.updateData({ ...data, burst: true });
      return 'held';
    }
    let answered: HeldMessage[];
    if (data.reply) {
      answered = burstOf(await bursts.read(conversation.id), data.eventId, at, debounceMs).answered;
    } else {
      // A later message of this burst that waits to run is held first, then answers this one.
      const held = await bursts.readUnlessLater(
        conversation.id,
        sequencer.pendingKey(conversationOf(data)),
        at,
        debounceMs,
      );
      if (held === 'later') return 'wait';
      const burst = burstOf(held, data.eventId, at, debounceMs);
      // No longer held: a later message of its burst, whose run came first, answered it already.
      if (burst.continued || !held.some((m) => m.eventId === data.eventId)) {
        await settleHeld(data, 'merged');
        return 'merged';
      }
      answered = burst.answered;
    }
    const earlier = answered.filter((m) => m.eventId !== data.eventId);
    const source = replySource(factsOf(data, personal), conversation);
    const others = earlier.map((m) => m.eventId);
    // Linked before the answer records this event processed, so a processed burst is a linked one.
    if (others.length > 0)
      await r.dbh.sql`update events set answered_by = ${data.eventId} where id = any(${others}::text[])`;
    const outcome = await answer(job, data, personal, conversation, source, undefined, earlier);
    await bursts.release(conversation.id, [...others, data.eventId]);
    counters.count('events_processed', { channel: data.channel, outcome });
    return outcome;
  }

  /** Records the outcome of a held message that gets no reply of its own (its row is on record, processing). */
  async function settleHeld(data: InboundJob, outcome: Outcome): Promise<void> {
    await r.dbh.sql`update events set status = 'processed', outcome = ${outcome},
      processed_at = coalesce(processed_at, now()), updated_at = now() where id = ${data.eventId}`;
    counters.count('events_processed', { channel: data.channel, outcome });
  }

  /**
   * The job's first run, with nothing decided yet: no earlier run can have recorded, decided or
   * sent anything for this event. Nor can an earlier job: the API enqueues an event once in the
   * de-duplication window, and an event delivered again after it is older than the window, which
   * the stale check refuses first — so this holds only while STALE_EVENT_MAX_AGE_S is shorter than
   * the window (otherwise every run records the arrival first, and its answer decides).
   */
  function firstRun(job: Job, data: InboundJob): boolean {
    return (
      job.attemptsStarted <= 1 && job.attemptsMade === 0 && !data.reply && config.worker.staleAfterMs < DEDUP_WINDOW_MS
    );
  }

  /**
   * Whether PostgreSQL already has the event, although its job looks like a first run. Redis
   * alone says an event is new — its de-duplication key, its job, its reply-sent marker — and a
   * Redis that lost data (a failover to a replica that lagged, a restart without its AOF) would let
   * Meta's redelivery through to be answered again. PostgreSQL's row settles it: present, the run
   * takes the path of a retried job, whose recorded arrival says whether the event was answered.
   * One primary-key read, shared by the jobs that reach it together (../records.ts).
   */
  async function onRecord(data: InboundJob): Promise<boolean> {
    const row = await r.writes.recorded(data.eventId);
    if (row)
      logger.warn(
        { eventId: data.eventId, channel: data.channel, status: row.status, outcome: row.outcome },
        'event already on record although Redis had no trace of it',
      );
    return row !== null;
  }

  /** What an event's row holds beyond the ids a reply row carries too. */
  function arrivalOf(data: InboundJob, conversation: ConversationNote | null): DeferredArrival {
    return {
      midHash: data.midHash,
      type: data.type,
      eventAt: new Date(data.timestamp),
      receivedAt: new Date(data.receivedAt),
      countsAsMessage: USER_MESSAGES.has(data.type),
      ...(conversation?.recordedWithEvent ? { conversationId: conversation.id } : {}),
    };
  }

  /**
   * Meta echoed one of our sends: the part is delivered, whatever became of the process that sent
   * it. The API records this already when the echo arrives (ingest.ts); this is the backstop.
   */
  async function noteEcho(personal: InboundPersonal): Promise<void> {
    const sent = parseSendMetadata(personal.metadata);
    if (!sent) return;
    const key = sentMarkerKey(shard.tag, sent.eventId);
    await markEcho(r.redis, key, sent.part, personal.mid ?? 'echo');
  }

  /**
   * A WhatsApp `failed` status is recorded against the reply it concerns (found by the message id
   * Meta gave that reply), so the event shows why the user never got it; an account error is an
   * alert. Both are counted.
   */
  async function noteWhatsAppProblem(data: InboundJob, personal: InboundPersonal): Promise<void> {
    if (data.type === 'error') {
      counters.count('whatsapp_account_errors', { code: String(data.errorCode ?? 'none') });
      logger.error(
        {
          eventId: data.eventId,
          pageId: data.pageId,
          code: data.errorCode,
          reason: graphErrorReason(data.errorCode ?? 0),
        },
        'WhatsApp reported an account error',
      );
      return;
    }
    if (data.type !== 'status' || personal.payload !== 'failed' || !personal.mid) return;
    const code = data.errorCode ?? null;
    const reason = code === null ? 'no error code given' : graphErrorReason(code);
    const found = await recordDeliveryFailure(r.dbh, {
      pageId: data.pageId,
      keptMessageId: keptMessageId('whatsapp', personal.mid, config.privacy.psidHashSecret),
      errorCode: code,
      reason: `WhatsApp delivery failed: ${reason} (code=${code ?? 'none'})`,
    });
    counters.count('whatsapp_delivery_failures', { code: String(code ?? 'none') });
    logger.warn(
      { eventId: data.eventId, pageId: data.pageId, code, reason, replyEventId: found },
      'WhatsApp could not deliver a reply',
    );
  }

  /** Whether the event is a WhatsApp message without text, answered by TEXT_ONLY_REPLY if at all. */
  function textOnly(data: InboundJob): boolean {
    return data.channel === 'whatsapp' && WHATSAPP_TEXT_ONLY.has(data.type);
  }

  /**
   * Whether the event's send job exists (in any state) — or, for a job that has no decided reply in
   * its data yet may have sent (a job queued without that field), whether a part of its reply went out.
   */
  async function replyHandedOver(data: InboundJob): Promise<boolean> {
    const keys = data.reply
      ? [outboundQueue.toKey(data.eventId)]
      : [outboundQueue.toKey(data.eventId), sentMarkerKey(shard.tag, data.eventId)];
    return (await r.redis.exists(...keys)) > 0;
  }

  async function recordArrival(
    job: Job,
    data: InboundJob,
    conversation: ConversationNote | null,
    settled: Outcome | null,
  ): Promise<'first' | 'again' | 'already_processed'> {
    const row = await r.writes.arrival({
      ...arrivalOf(data, conversation),
      eventId: data.eventId,
      channel: data.channel,
      pageId: data.pageId,
      senderHash: data.senderHash,
      settled,
      attempt: job.attemptsStarted,
    });
    if (row.inserted) return 'first';
    return row.status === 'processed' && row.outcome !== null ? 'already_processed' : 'again';
  }

  /**
   * Decides the text, keeps the decision in the job (so a run after a crash sends the same reply
   * and does not ask the AI again), and makes the send's first attempt right here: in the common
   * case the reply goes out with no second job. Whatever that attempt cannot finish — a Graph
   * error, a held Page, a part left "sending" by a crash — goes to its own outbound job (job id =
   * event id) with the decision, so the send is retried, held, dead-lettered or replayed without
   * running the AI again. The send records the reply row and the event's outcome in one statement
   * when it finishes; until then the event is `processing` — or, answered at the job's first run
   * (`arrival`), not on record yet: that statement inserts it, unless the send is handed over.
   */
  async function answer(
    job: Job,
    data: InboundJob,
    personal: InboundPersonal,
    conversation: ConversationNote | null,
    source: ReplySource,
    arrival?: DeferredArrival,
    earlier: readonly HeldMessage[] = [],
  ): Promise<Outcome> {
    const decided =
      source === 'kept' && data.reply
        ? { outbound: data.reply, reply: openReply(sealer, data.reply) }
        : await decide(job, data, personal, conversation, source, earlier);
    // The user's messages join the memory once their reply is decided (so the model saw them only
    // as the current ones), with the bot's turn in the same append when the reply goes out here.
    const text = decided.outbound.reason === 'text_only' ? null : messageText(personal);
    const userTurns =
      conversation && text !== null
        ? [
            ...earlier.map((m): Turn => ({ at: new Date(m.at), from: 'user', text: m.text })),
            { at: new Date(data.timestamp), from: 'user', text } satisfies Turn,
          ]
        : [];
    const log = logger.child({
      queue: 'inbound',
      job: job.id,
      attempt: job.attemptsMade + 1,
      eventId: data.eventId,
      pageId: data.pageId,
    });
    const result: SendOutcome | Handover = await sender.deliver(decided.outbound, decided.reply, {
      attemptsMade: 0,
      inline: true,
      log,
      ...(arrival ? { arrival } : {}),
      userTurns,
    });
    // Sent or recorded in dry run: kept with the bot's turn. Sent by an earlier run: kept by it.
    if (conversation && result !== 'sent' && result !== 'dry_run' && result !== 'already_sent')
      await r.memory.append(conversation.id, userTurns);
    if (result === 'paused') return 'paused';
    if (typeof result === 'string') return 'replied';
    // The send job records the reply when it finishes; the event is on record, processing, until then.
    if (arrival) await recordArrival(job, data, conversation, null);
    if (result.failure) await sender.noteFailure(data.eventId, result.failure, log);
    const outbound: OutboundJob = result.prior ? { ...decided.outbound, prior: result.prior } : decided.outbound;
    await outboundQueue.add('send', outbound, {
      ...outboundOptions,
      jobId: data.eventId,
      ...(result.delayMs > 0 ? { delay: result.delayMs } : {}),
    });
    return 'reply_queued';
  }

  /** Asks the responder (AI or fallback) and writes the decision into the job before anything is sent. */
  async function decide(
    job: Job,
    data: InboundJob,
    personal: InboundPersonal,
    conversation: ConversationNote | null,
    source: ReplySource,
    earlier: readonly HeldMessage[],
  ): Promise<{ outbound: OutboundJob; reply: OutboundPersonal }> {
    const senderHash = data.senderHash as string;
    // A message without text (a picture, a place, …) has nothing for the model or the memory to read.
    const text = source === 'text_only' ? null : (messageText(personal) as string);
    const decision: Pick<ReplyDecision, 'text' | 'path' | 'latencyMs' | 'error'> & { reason: string } =
      source === 'handoff'
        ? { text: config.handoff.reply, path: 'fallback', reason: HANDOFF_REASON, latencyMs: 0 }
        : text === null
          ? { text: config.ai.textOnlyReply as string, path: 'fallback', reason: 'text_only', latencyMs: 0 }
          : await responder.decide({
              userHash: senderHash,
              text,
              pageId: data.pageId,
              ...(conversation && (r.memory.enabled || earlier.length > 0)
                ? { history: () => historyOf(conversation.id, earlier) }
                : {}),
            });
    const decideMs = Math.round(decision.latencyMs);
    // One info line per reply is "reply sent"; this one is for debugging, unless the AI failed.
    logger[decision.error ? 'info' : 'debug'](
      {
        eventId: data.eventId,
        job: job.id,
        channel: data.channel,
        pageId: data.pageId,
        user: senderHash.slice(0, 12),
        path: decision.path,
        reason: decision.reason,
        ms: decideMs,
        ...(decision.error ? { error: decision.error } : {}),
      },
      'reply decided',
    );
    const reply: OutboundPersonal = { recipientId: personal.senderId as string, text: decision.text };
    if (data.channel === 'whatsapp' && personal.mid) reply.replyTo = personal.mid;
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
      sealed: sealer.sealJson(reply, data.eventId),
    };
    await job.updateData({ ...data, reply: outbound });
    return { outbound, reply };
  }

  /**
   * The conversation's kept turns as the model reads them: the user's as `user`, the bot's and the
   * staff's as `model`; then the earlier messages of the burst being answered, in order.
   */
  async function historyOf(id: string, earlier: readonly HeldMessage[]): Promise<HistoryTurn[]> {
    const turns = await r.memory.read(id);
    return [
      ...turns.map((t): HistoryTurn => ({ role: t.from === 'user' ? 'user' : 'model', text: t.text })),
      ...earlier.map((m): HistoryTurn => ({ role: 'user', text: m.text })),
    ];
  }
}
