import { UnrecoverableError } from 'bullmq';
import { type Database, events, replies } from '@switchboard/db';
import { eq } from 'drizzle-orm';
import { GraphApiError, splitMessage } from '@switchboard/meta';
import { conversationId, readPauseGate, releaseHeldSends, type ResolvedToken } from '@switchboard/pages';
import {
  claimPart,
  echoIn,
  markPart,
  type OutboundJob,
  type OutboundPersonal,
  outboundPersonalSchema,
  readEcho,
  readSentMarker,
  SENDING,
  type SentMarker,
  sendMetadata,
  sendRetryDelay,
  sentMarkerKey,
  sentMessageIds,
} from '@switchboard/queue';
import type { Turn } from '@switchboard/pages';
import { HANDOFF_REASON, keepBotTurn } from './conversations.js';
import { keptMessageId } from './delivery-failures.js';
import { type DeferredArrival, recordSendFailure } from './records.js';
import { mayReplyWhilePaused } from './next-step.js';
import type { ShardScope, WorkerResources } from './resources.js';
import { PermanentSendError, RetryableSendError, type SendFailure, sendFailureOf } from './send-errors.js';

export type SendOutcome = 'sent' | 'already_sent' | 'dry_run' | 'held' | 'paused';

/**
 * What a first attempt made by the inbound job (inline) returns instead of throwing, holding or
 * waiting for an echo: the send goes to its own outbound job, after `delayMs`, with `prior` saying
 * how the inline attempt ended.
 */
export interface Handover {
  delayMs: number;
  prior?: NonNullable<OutboundJob['prior']>;
  /** The inline attempt's Graph failure, for the event's `last_error` once its row is written. */
  failure?: SendFailure;
}

export interface Attempt {
  /** Earlier attempts at this send (an inline attempt counts as one). */
  attemptsMade: number;
  /** The inbound job's first attempt: hand over to an outbound job rather than retry, hold or wait. */
  inline: boolean;
  log: WorkerResources['logger'];
  /** The inbound job answered at its first run has written no arrival: the send's record does. */
  arrival?: DeferredArrival;
  /**
   * The user's turns this reply answers, kept in the conversation's memory with the bot's turn in
   * one append once the reply is sent (or recorded in dry run). A reply that is not sent here
   * leaves them to the caller.
   */
  userTurns?: readonly Turn[];
}

/** Opens a send's sealed recipient and text (UnrecoverableError when it cannot be opened). */
export function openReply(sealer: WorkerResources['sealer'], data: OutboundJob): OutboundPersonal {
  try {
    return outboundPersonalSchema.parse(sealer.openJson(data.sealed, data.eventId));
  } catch {
    throw new UnrecoverableError('outbound payload cannot be opened (wrong ENCRYPTION_KEY?)');
  }
}

/** Whether a page's sends wait for an operator: its token is invalid, or Meta restricted it. */
function isHeld(resolved: ResolvedToken | null): boolean {
  return resolved !== null && (resolved.status === 'invalid' || resolved.restrictedReason !== null);
}

/**
 * Sends one reply through the Graph Send API, exactly once in effect: a per-event marker
 * (@switchboard/queue sent-marker) says, per part, "sending" before the call and Meta's message id after it,
 * so a job retried after a crash, a timeout or a stalled lock skips what already went out; a part
 * left "sending" (the process died mid-call, or the call timed out) is settled by Meta's echo of
 * it, and sent again only if no echo comes within SEND_ECHO_WAIT_MS (README, "Delivery
 * guarantees"). Claiming a part and reading what went before is one script call; recording its
 * message id another.
 *
 * The first attempt is made by the inbound job right after deciding (inline: no second job in the
 * common case); when it cannot finish it returns a Handover and the outbound job does the rest.
 *
 * Errors follow one table (@switchboard/meta classifyGraphError):
 * transient/rate-limited → rethrow (backoff with jitter, slower for rate limits);
 * permanent/page-restricted → UnrecoverableError (dead-letter at once);
 * token invalid → mark the Page's token invalid and hold the send until a new token is registered;
 * a restricted WhatsApp number → mark it restricted and hold its sends likewise.
 */
export function createSender(r: WorkerResources, shard: ShardScope) {
  const { config, dbh, counters, latency, pages, heldSends, graph, redis } = r;
  const releaseDeps = { pages, heldSends, outbound: r.outboundQueue, maxAttempts: config.worker.sendMaxAttempts };

  async function deliver(
    data: OutboundJob,
    personal: OutboundPersonal,
    attempt: Attempt,
  ): Promise<SendOutcome | Handover> {
    const { log } = attempt;
    const parts = splitMessage(personal.text, data.channel);
    const marker = sentMarkerKey(shard.tag, data.eventId);
    const cached = await pages.resolve(data.pageId, data.channel);
    // Holding is decided on the stored state, past this process's cache: a token registered a
    // moment ago releases this very send, and holding it again would release it a second time.
    const resolved = isHeld(cached) ? await pages.resolveFresh(data.pageId, data.channel) : cached;
    const holding = isHeld(resolved);
    if (!resolved || holding) {
      // Nothing is sent on these paths: only a reply that already went out changes that.
      const before = await readSentMarker(redis, marker);
      if (before.done) return alreadySent(data, before, attempt);
    }
    if (!resolved) {
      if (await pausedNow(data)) return paused(data, attempt);
      // No token known for this page: dry run, as FACEBOOK_PAGE_ACCESS_TOKEN promises (docs/configuration.md).
      // Which event, how and how long, never what: the text is read in the conversation's transcript.
      log.info(
        {
          answered: data.eventId,
          path: data.path,
          reason: data.reason,
          parts: parts.length,
          chars: [...personal.text].length,
        },
        'dry run: no page token known; reply recorded, not sent',
      );
      await finish(data, 'dry_run', parts.length, [], attempt.arrival);
      await keepBotTurn(r, data, personal.text, true, attempt.userTurns);
      counters.count('sends', { result: 'dry_run' });
      return 'dry_run';
    }
    if (holding) return attempt.inline ? { delayMs: 0 } : hold(data, log);

    const messageIds: string[] = [];
    for (const [index, text] of parts.entries()) {
      const before = await claimPart(redis, marker, index);
      // Sent before a crash or stall: make sure the record says so, send nothing.
      if (before.done) return alreadySent(data, before, attempt);
      const state = before[String(index)];
      if (state && state !== SENDING) {
        messageIds.push(state);
        continue;
      }
      if (state === SENDING) {
        // A previous attempt died mid-call: Meta may have delivered this part. Its echo says so,
        // and waiting for it is the send job's work.
        if (attempt.inline) return { delayMs: 0 };
        // WhatsApp sends no echo of an API send: waiting for one would only delay the resend.
        const echoed = echoIn(before, index) ?? (data.channel === 'whatsapp' ? null : await waitForEcho(marker, index));
        if (echoed) {
          log.info({ part: index }, "part confirmed by Meta's echo; not sent again");
          messageIds.push(echoed);
          await markPart(redis, marker, index, echoed, index === parts.length - 1);
          continue;
        }
        log.warn({ part: index }, 'no echo for a part whose send was interrupted; sending it again');
      }
      // A person from the business may have taken over while this reply was decided or retried.
      if (await pausedNow(data)) return paused(data, attempt);
      try {
        const result =
          data.channel === 'whatsapp'
            ? await graph.sendWhatsAppText({
                phoneNumberId: data.pageId,
                accessToken: resolved.token,
                to: personal.recipientId,
                text,
              })
            : await graph.sendText({
                pageId: data.pageId,
                accessToken: resolved.token,
                recipientId: personal.recipientId,
                text,
                metadata: sendMetadata(data.eventId, index),
              });
        const kept = keptMessageId(data.channel, result.messageId, config.privacy.psidHashSecret);
        messageIds.push(kept);
        await markPart(redis, marker, index, kept, index === parts.length - 1);
      } catch (err) {
        if (!(err instanceof GraphApiError)) throw err;
        return failed(err, data, attempt, marker, index);
      }
    }
    await finish(data, 'sent', parts.length, messageIds, attempt.arrival);
    await keepBotTurn(r, data, personal.text, false, attempt.userTurns);
    const e2e = Date.now() - data.receivedAt;
    latency.record('reply_e2e', e2e);
    counters.count('sends', { result: 'ok' });
    counters.count('replies_sent', { channel: data.channel, path: data.path, reason: data.reason });
    counters.observe('reply_latency_seconds', e2e / 1000, { channel: data.channel });
    log.info({ parts: parts.length, path: data.path, reason: data.reason, e2e_ms: e2e }, 'reply sent');
    if (personal.replyTo) await markRead(data, resolved.token, personal.replyTo, log);
    return 'sent';
  }

  /**
   * WhatsApp: the user's message shows as read once the reply is out. Best effort: the reply is
   * sent and recorded already, so a failure here is logged and counted, never retried.
   */
  async function markRead(data: OutboundJob, token: string, messageId: string, log: Attempt['log']): Promise<void> {
    try {
      await graph.markWhatsAppRead(data.pageId, token, messageId);
    } catch (err) {
      counters.count('whatsapp_mark_read_failures', {
        code: err instanceof GraphApiError ? String(err.code ?? err.status ?? 'network') : 'error',
      });
      log.info(
        { code: err instanceof GraphApiError ? err.code : null },
        'could not mark the message read; the reply went out',
      );
    }
  }

  /**
   * Whether the conversation is paused (README, "When a person takes over"). The reply that answers
   * a user's request for a person goes out although that request started the pause.
   */
  async function pausedNow(data: OutboundJob): Promise<boolean> {
    const reason = await readPauseGate(
      redis,
      config.queuePrefix,
      conversationId(data.channel, data.pageId, data.senderHash),
    );
    return !mayReplyWhilePaused(reason, data.reason === HANDOFF_REASON);
  }

  /** The reply is not sent: its event is recorded as answered by nobody, `paused`. */
  async function paused(data: OutboundJob, attempt: Attempt): Promise<SendOutcome> {
    if (attempt.arrival) {
      await r.writes.arrival({
        ...attempt.arrival,
        eventId: data.eventId,
        channel: data.channel,
        pageId: data.pageId,
        senderHash: data.senderHash,
        settled: 'paused',
      });
    } else {
      await dbh.db
        .update(events)
        .set({ status: 'processed', outcome: 'paused', processedAt: new Date(), updatedAt: new Date() })
        .where(eq(events.id, data.eventId));
    }
    counters.count('sends', { result: 'paused' });
    attempt.log.info({ path: data.path, reason: data.reason }, 'conversation paused: reply not sent');
    return 'paused';
  }

  /** Meta answered a part with an error: the table above, or the hand-over of an inline attempt. */
  async function failed(
    err: GraphApiError,
    data: OutboundJob,
    attempt: Attempt,
    marker: string,
    index: number,
  ): Promise<SendOutcome | Handover> {
    const { log } = attempt;
    // Meta answered with an error: this part was not delivered, nothing to wait for on retry. A
    // part whose delivery is unknown stays `sending`, so the retry waits for its echo first.
    if (err.status !== null && !err.deliveryUnknown) await redis.hdel(marker, String(index));
    counters.count('send_errors', {
      code: err.code ?? (err.status ? `http_${err.status}` : 'network'),
      kind: err.kind,
    });
    // The cause in words, the same in the log, the event's last_error and the dead-letter reason.
    const failure = sendFailureOf(err);
    const { detail } = failure;
    const facts = {
      error: detail,
      code: err.code,
      subcode: err.subcode,
      status: err.status,
      kind: err.kind,
      fbtrace_id: err.fbtraceId,
    };
    // An inline attempt's event row may not be written yet: the inbound job records its failure.
    if (!attempt.inline) await noteFailure(data.eventId, failure, log);
    if (err.kind === 'token_invalid') {
      await pages.markInvalid(data.pageId, data.channel, `graph error ${err.code ?? ''}`.trim());
      log.error(facts, "page token rejected by Meta; holding this page's sends");
      return attempt.inline ? { delayMs: 0, failure } : hold(data, log);
    }
    if (err.kind === 'page_restricted') {
      // The account itself may not send (restricted, locked, flagged for spam): every reply from it
      // fails alike until a person acts in Meta's Business Manager, so this alerts at error level.
      counters.count('send_alerts', { channel: data.channel, code: String(err.code ?? 'none') });
      if (data.channel === 'whatsapp') {
        // A WhatsApp number's replies wait for the operator instead of each failing on its own:
        // the number's later sends are held without calling Graph.
        await pages.markRestricted(data.pageId, data.channel, `${err.why} (graph error ${err.code ?? ''})`);
        log.error(
          { ...facts, reason: err.why },
          'Meta restricted this WhatsApp number; holding its sends until an operator registers its token again',
        );
        return attempt.inline ? { delayMs: 0, failure } : hold(data, log);
      }
      log.error(
        { ...facts, reason: err.why },
        'the sending account is restricted by Meta; replies from it fail until that is resolved',
      );
    }
    if (err.kind === 'permanent' || err.kind === 'page_restricted') {
      log.warn(facts, 'permanent send error; dead-lettered');
      if (attempt.inline)
        return { delayMs: 0, prior: { detail, code: failure.code, timeout: false, final: true }, failure };
      throw new PermanentSendError(failure);
    }
    // A send that timed out or was accepted unreadably may have been delivered: retry it at most
    // once (docs/meta-platform.md, Errors).
    if (err.deliveryUnknown && attempt.attemptsMade >= 1)
      throw new PermanentSendError({ ...failure, detail: `${detail}; not sent again, it may have been delivered` });
    counters.count('sends', { result: 'retried' });
    log.warn(facts, 'transient send error; will retry');
    const rateLimited = err.kind === 'rate_limited';
    if (attempt.inline)
      return {
        delayMs: sendRetryDelay(1, rateLimited, err.retryAfterMs),
        prior: { detail, code: failure.code, timeout: err.deliveryUnknown, final: false },
        failure,
      };
    throw new RetryableSendError(failure, { rateLimited, retryAfterMs: err.retryAfterMs });
  }

  /**
   * The reply went out in a run that died before recording it: record it now, and log it with its
   * path and reason like any reply (every reply is logged with both), since the run that sent it
   * never got to.
   */
  async function alreadySent(data: OutboundJob, marker: SentMarker, attempt: Attempt): Promise<SendOutcome> {
    const ids = sentMessageIds(marker);
    await finish(data, 'sent', ids.length, ids, attempt.arrival);
    counters.count('sends', { result: 'already_sent' });
    attempt.log.info(
      { parts: ids.length, path: data.path, reason: data.reason },
      'reply sent by an interrupted run; recorded, not sent again',
    );
    return 'already_sent';
  }

  /**
   * Writes the attempt's failure on the event. A PostgreSQL failure here is logged, not thrown:
   * the Graph error decides what happens to the send.
   */
  async function noteFailure(eventId: string, failure: SendFailure, log: Attempt['log']): Promise<void> {
    await recordSendFailure(dbh, eventId, failure).catch((e: unknown) => {
      counters.count('state_write_failures', { what: 'send_failure' });
      log.warn({ err: { message: (e as Error).message } }, 'send failure not recorded on the event');
    });
  }

  /** Polls for Meta's echo of one part, up to SEND_ECHO_WAIT_MS. */
  async function waitForEcho(marker: string, index: number): Promise<string | null> {
    const deadline = Date.now() + config.worker.sendEchoWaitMs;
    for (;;) {
      const echoed = await readEcho(redis, marker, index);
      if (echoed || Date.now() >= deadline) return echoed;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  async function finish(
    data: OutboundJob,
    status: 'sent' | 'dry_run',
    parts: number,
    messageIds: string[],
    arrival: DeferredArrival | undefined,
  ) {
    await r.writes.sendFinished({
      eventId: data.eventId,
      channel: data.channel,
      pageId: data.pageId,
      senderHash: data.senderHash,
      path: data.path,
      reason: data.reason,
      decideMs: data.decideMs ?? 0,
      status,
      parts,
      messageIds,
      endToEndMs: Date.now() - data.receivedAt,
      ...(arrival ? { arrival } : {}),
    });
  }

  /**
   * Holds the send (not retried in a loop, not lost) until a new token is registered. If the token
   * was replaced while we were holding, release at once so nothing waits for a PUT that already came.
   */
  async function hold(data: OutboundJob, log: Attempt['log']): Promise<SendOutcome> {
    await heldSends.hold(data.pageId, { eventId: data.eventId, data: JSON.stringify(data) });
    await upsertReply(dbh.db, data, { status: 'held' });
    counters.count('sends', { result: 'held' });
    log.warn('send held until the page token is registered again');
    await releaseHeldSends(releaseDeps, data.pageId);
    return 'held';
  }

  return { deliver, noteFailure };
}

export type ReplyUpdate = Partial<
  Pick<typeof replies.$inferInsert, 'status' | 'parts' | 'graphMessageIds' | 'sentAt' | 'endToEndMs' | 'errorCode'>
>;

/**
 * Writes a reply's delivery state, creating the row from the job when the inbound side has not
 * recorded it yet (the send can finish first); the inbound insert then leaves it alone.
 */
export async function upsertReply(db: Pick<Database, 'insert'>, data: OutboundJob, set: ReplyUpdate): Promise<void> {
  await db
    .insert(replies)
    .values({
      eventId: data.eventId,
      channel: data.channel,
      pageId: data.pageId,
      senderHash: data.senderHash,
      path: data.path,
      reason: data.reason,
      decideLatencyMs: data.decideMs ?? 0,
      ...set,
    })
    .onConflictDoUpdate({ target: replies.eventId, set });
}
